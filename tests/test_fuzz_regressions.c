/* SPDX-License-Identifier: MIT */
/*
 * Every input that ever made the table fuzzer (tests/fuzz/) crash, hang
 * or trip a sanitizer, replayed through the same code: open, ls, fsck
 * check and repair (tests/fuzz/fuzz_input.c).  Each must return, within
 * a time limit; under make SAN=asan test also without a sanitizer report.
 * The inputs are the files in tests/fuzz/regressions/, named after
 * what they broke.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/fuzz/fuzz_input.h"

static char dir[PATH_MAX];

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void test_replay(void **state)
{
	struct dirent **ents;
	int n, replayed = 0;

	(void)state;
	n = scandir(dir, &ents, NULL, by_name);
	if (n < 0)
		fail_msg("%s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 256];
		struct stat st;
		uint8_t *buf;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(ents[i]);
			continue;
		}
		buf = malloc((size_t)st.st_size + 1);
		assert_non_null(buf);
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
		fclose(f);
		printf("  %s (%lld bytes)\n", ents[i]->d_name, (long long)st.st_size);
		fflush(stdout);
		alarm(30); /* a hang is a failure */
		assert_int_equal(fuzz_table_input(buf, (size_t)st.st_size), 0);
		alarm(0);
		replayed++;
		free(buf);
		free(ents[i]);
	}
	free(ents);
	/* The directory is never empty: a replay of nothing proves nothing. */
	assert_true(replayed > 0);
}

int main(void)
{
	const char *src = getenv("IOLAYER_SRCDIR");

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions", src && *src ? src : ".");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
