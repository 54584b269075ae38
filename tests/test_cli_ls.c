/* SPDX-License-Identifier: MIT */
/*
 * `iolayer ls` on a table with known objects (text and JSON), and
 * `iolayer rm`.  The command runs as a separate process that maps the
 * table read-only, so these tests also show that what one process does is
 * what another sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/cli_run.h"

#define TABLE "cli-ls"

static void has(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("expected to find\n  %s\nin\n%s", needle, haystack);
}

static void test_ls_known_objects(void **state)
{
	iol_table *t;
	char want[512], path[256];
	int tid = (int)syscall(SYS_gettid);

	(void)state;
	assert_int_equal(iol_table_open(TABLE, NULL, &t), 0);
	int m = iol_mutex_open(t, "m1", IOL_CREATE, true);
	assert_true(m > 0);
	assert_int_equal(iol_wait(m, 0), 0); /* recursion 2 */
	int m2 = iol_dup(m);		     /* 2 references */
	assert_true(m2 > 0);
	int e = iol_event_open(t, "ev manual", IOL_CREATE, true, true);
	int a = iol_event_open(t, "ev-auto", IOL_CREATE, false, false);
	int s = iol_semaphore_open(t, "sem", IOL_CREATE, 3, 7);
	int anon = iol_semaphore_open(t, NULL, 0, 0, 1);
	assert_true(e > 0 && a > 0 && s > 0 && anon > 0);
	char *argv[] = {"sh", "-c", "exit 5", NULL};
	int p = iol_process_spawn(t, "/bin/sh", argv, NULL);
	assert_true(p > 0);
	assert_int_equal(iol_wait(p, 10 * 1000000000LL), 0);
	snprintf(path, sizeof(path), "%s/ls-file", getenv("IOLAYER_SHM_DIR"));
	int f = iol_file_open(t, path, O_RDWR | O_CREAT, 0600, IOL_SHARE_READ);
	assert_true(f > 0);

	struct run r = run_cli((const char *[]){"ls", TABLE, "--json", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_json(r.out);
	has(r.out, "\"table\":\"" TABLE "\"");
	snprintf(want, sizeof(want),
		 "\"type\":\"mutex\",\"name\":\"m1\",\"refs\":2,\"owner_tid\":%d,\"recursion\":2,"
		 "\"abandoned\":false",
		 tid);
	has(r.out, want);
	has(r.out, "\"type\":\"event\",\"name\":\"ev manual\",\"refs\":1,\"manual_reset\":true,"
		   "\"signaled\":true");
	has(r.out, "\"type\":\"event\",\"name\":\"ev-auto\",\"refs\":1,\"manual_reset\":false,"
		   "\"signaled\":false");
	has(r.out, "\"type\":\"semaphore\",\"name\":\"sem\",\"refs\":1,\"count\":3,\"max\":7");
	has(r.out, "\"type\":\"semaphore\",\"name\":\"\",\"refs\":1,\"count\":0,\"max\":1");
	has(r.out, "\"ended\":true,\"exited\":true,\"code\":5");
	has(r.out, "\"type\":\"file\",\"name\":\"\",\"refs\":1,\"access\":\"rw\",\"share\":\"r\"");
	has(r.out, "\"type\":\"file-share\"");
	has(r.out, "\"opens\":1,\"readers\":1,\"writers\":1,\"deleters\":0,\"share_read\":1,"
		   "\"share_write\":0,\"share_delete\":0");
	snprintf(want, sizeof(want), "\"pid\":%d,\"alive\":true,\"handles\":8}", (int)getpid());
	has(r.out, want);
	run_free(&r);

	r = run_cli((const char *[]){"ls", TABLE, NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	has(r.out, "SLOT  TYPE");
	snprintf(want, sizeof(want),
		 "mutex       m1                           2  owned by tid %d "
		 "(recursion 2)",
		 tid);
	has(r.out, want);
	has(r.out, "event       ev manual                    1  manual, signaled");
	has(r.out, "semaphore   sem                          1  count 3/7");
	has(r.out, "exited 5");
	snprintf(want, sizeof(want), "%d  alive", (int)getpid());
	has(r.out, want);
	run_free(&r);

	/* The state changes are seen by the next listing. */
	assert_int_equal(iol_mutex_release(m), 2);
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(iol_event_reset(e), 1);
	r = run_cli((const char *[]){"ls", TABLE, "--json", NULL}, NULL, false);
	has(r.out,
	    "\"name\":\"m1\",\"refs\":2,\"owner_tid\":0,\"recursion\":0,\"abandoned\":false");
	has(r.out, "\"name\":\"ev manual\",\"refs\":1,\"manual_reset\":true,\"signaled\":false");
	run_free(&r);

	assert_int_equal(iol_table_close(t), 0);
	unlink(path);
	assert_int_equal(iol_table_unlink(TABLE), 0);
}

static void test_ls_escapes_names(void **state)
{
	iol_table *t;

	(void)state;
	assert_int_equal(iol_table_open(TABLE, NULL, &t), 0);
	assert_true(iol_event_open(t, "tab\there \"q\" \xff", IOL_CREATE, true, false) > 0);
	struct run r = run_cli((const char *[]){"ls", TABLE, "--json", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	assert_json(r.out);
	has(r.out, "\"name\":\"tab\\u0009here \\\"q\\\" \\u00ff\"");
	run_free(&r);
	r = run_cli((const char *[]){"ls", TABLE, NULL}, NULL, false);
	has(r.out, "tab\\x09here \"q\" \\xff");
	run_free(&r);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(TABLE), 0);
}

static void test_ls_errors_and_rm(void **state)
{
	iol_table *t;
	char path[512];
	struct stat st;

	(void)state;
	struct run r = run_cli((const char *[]){"ls", "no-such-table", NULL}, NULL, false);
	assert_int_equal(r.status, 1);
	has(r.err, "No such file or directory");
	run_free(&r);
	r = run_cli((const char *[]){"ls", "bad/name", NULL}, NULL, false);
	assert_int_equal(r.status, 2);
	run_free(&r);
	r = run_cli((const char *[]){"ls", "--frob", NULL}, NULL, false);
	assert_int_equal(r.status, 2);
	run_free(&r);
	r = run_cli((const char *[]){"ls", "--help", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	has(r.out, "usage: iolayer ls");
	run_free(&r);

	/* A file that is not a table. */
	snprintf(path, sizeof(path), "%s/iolayer-%u-junk", getenv("IOLAYER_SHM_DIR"),
		 (unsigned)geteuid());
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not a table\n", fp);
	fclose(fp);
	r = run_cli((const char *[]){"ls", "junk", NULL}, NULL, false);
	assert_int_equal(r.status, 1);
	has(r.err, "not an iolayer table");
	run_free(&r);
	unlink(path);

	/* rm: the file goes, an attached process keeps working. */
	assert_int_equal(iol_table_open(TABLE, NULL, &t), 0);
	int e = iol_event_open(t, "still-here", IOL_CREATE, true, false);
	assert_true(e > 0);
	r = run_cli((const char *[]){"rm", TABLE, NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	run_free(&r);
	snprintf(path, sizeof(path), "%s/iolayer-%u-%s", getenv("IOLAYER_SHM_DIR"),
		 (unsigned)geteuid(), TABLE);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(iol_wait(e, 0), 0);
	r = run_cli((const char *[]){"rm", TABLE, NULL}, NULL, false);
	assert_int_equal(r.status, 1);
	run_free(&r);
	r = run_cli((const char *[]){"rm", NULL}, NULL, false);
	assert_int_equal(r.status, 2);
	run_free(&r);
	assert_int_equal(iol_table_close(t), 0);
}

int main(void)
{
	if (cli_locate("test_cli_ls"))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ls_known_objects),
	    cmocka_unit_test(test_ls_escapes_names),
	    cmocka_unit_test(test_ls_errors_and_rm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
