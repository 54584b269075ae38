/* SPDX-License-Identifier: MIT */
/*
 * `iolayer demo` creates its files in the shared table directory without
 * following a name another user planted there: symbolic links at the
 * names an earlier demo used (iolayer-demo-<pid>.counter and .dat, the
 * pid being known before the demo starts) are left alone, and so are
 * their targets.  The demo still runs to the end and leaves nothing
 * behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/cli_run.h"
#include "tests/helpers.h"

static const char precious[] = "precious data of another user\n";

static void write_victim(const char *path)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, precious, sizeof(precious) - 1), (ssize_t)sizeof(precious) - 1);
	close(fd);
}

static void victim_intact(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *s;

	assert_true(fd >= 0);
	s = slurp(fd);
	close(fd);
	if (strcmp(s, precious) != 0)
		fail_msg("%s was written through a planted link: now %zu bytes", path, strlen(s));
	free(s);
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_demo_does_not_follow_planted_links(void **state)
{
	const char *dir = getenv("IOLAYER_SHM_DIR");
	char victim1[512], victim2[512], link1[512], link2[512];
	int go[2], out, st;
	pid_t pid;

	(void)state;
	assert_non_null(dir);
	snprintf(victim1, sizeof(victim1), "%s/victim-counter", dir);
	snprintf(victim2, sizeof(victim2), "%s/victim-data", dir);
	write_victim(victim1);
	write_victim(victim2);
	assert_int_equal(pipe(go), 0);
	out = memfd_create("demo-out", 0);
	assert_true(out >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(126);
		dup2(out, 1);
		dup2(out, 2);
		execv(cli, (char *[]){cli, "demo", "--quick", NULL});
		_exit(127);
	}
	close(go[0]);
	/* The links are there before the demo (this pid) starts. */
	snprintf(link1, sizeof(link1), "%s/iolayer-demo-%d.counter", dir, (int)pid);
	snprintf(link2, sizeof(link2), "%s/iolayer-demo-%d.dat", dir, (int)pid);
	assert_int_equal(symlink(victim1, link1), 0);
	assert_int_equal(symlink(victim2, link2), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);

	victim_intact(victim1);
	victim_intact(victim2);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		lseek(out, 0, SEEK_SET);
		fail_msg("the demo failed (status 0x%x):\n%s", st, slurp(out));
	}
	close(out);
	/* Only what this test made is left: the demo removed its own files. */
	assert_int_equal(entries(dir), 4);
	unlink(link1);
	unlink(link2);
	unlink(victim1);
	unlink(victim2);
}

int main(void)
{
	th_init();
	if (cli_locate("test_cli_demo"))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_demo_does_not_follow_planted_links),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
