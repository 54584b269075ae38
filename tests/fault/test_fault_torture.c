/* SPDX-License-Identifier: MIT */
/*
 * A short torture run (tests/torture/torture.c) in the fault-injection
 * build: 300 kills, by SIGKILL and by IOLAYER_FAULT=any:<n>, with every
 * invariant checked every 100 kills.  `make torture` runs the long one.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char torture[PATH_MAX + 16];

static void test_short_torture(void **state)
{
	int st;
	pid_t pid;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(torture, torture, "--kills", "300", "--check-every", "100", "--quiet",
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return 1;
	self[n] = '\0';
	/* BUILD/tests/test_fault_torture -> BUILD/torture */
	for (int i = 0; i < 2 && (slash = strrchr(self, '/')); i++)
		*slash = '\0';
	snprintf(torture, sizeof(torture), "%s/torture", self);
	if (access(torture, X_OK) != 0) {
		fprintf(stderr, "test_fault_torture: %s: %s\n", torture, strerror(errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
