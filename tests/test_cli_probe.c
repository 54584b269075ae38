/* SPDX-License-Identifier: MIT */
/*
 * The iolayer command: `probe --json` is valid JSON of the documented
 * shape and agrees with the library; the table is aligned and coloured
 * only on a terminal; usage errors exit 2 with a message on stderr.
 *
 * The binary is found relative to this test: tests live in BUILD/tests/,
 * the command is BUILD/iolayer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "iolayer/probe.h"
#include "tests/cli_run.h"

/* ---- tests ----------------------------------------------------------- */

static void test_json_shape(void **state)
{
	const char *args[] = {"probe", "--json", NULL};
	const char *env[] = {"IOLAYER_DISABLE", "IOLAYER_BACKEND", NULL};
	struct run r = run_cli(args, env, false);
	char key[160];

	(void)state;
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_json(r.out);
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		/* Each feature once, with the library's verdict. */
		snprintf(key, sizeof(key), "{\"name\": \"%s\", \"available\": %s,",
			 iol_feature_name(i), iol_has(i) ? "true" : "false");
		const char *at = strstr(r.out, key);

		if (!at)
			fail_msg("feature entry missing or disagreeing: %s", key);
		snprintf(key, sizeof(key), "\"name\": \"%s\",", iol_feature_name(i));
		assert_null(strstr(strstr(r.out, key) + 1, key));
	}
	const char *keys[] = {
	    "\"kernel_release\": ",   "\"liburing_version\": ", "\"io_uring_disabled\": ",
	    "\"io_uring_group\": ",   "\"memlock_cur\": ",	"\"memlock_max\": ",
	    "\"disabled\": null",     "\"backend_reason\": ",	"\"verdict\": {",
	    "\"line\": \"io_uring: ", "\"features\": ["};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strstr(r.out, keys[i]))
			fail_msg("JSON lacks %s", keys[i]);
	snprintf(key, sizeof(key), "\"io_uring\": %s,",
		 iol_has(IOL_FEAT_IO_URING) ? "true" : "false");
	assert_non_null(strstr(r.out, key));
	snprintf(key, sizeof(key), "\"futex_waitv\": %s,",
		 iol_has(IOL_FEAT_FUTEX_WAITV) ? "true" : "false");
	assert_non_null(strstr(r.out, key));
	snprintf(key, sizeof(key), "\"backend\": \"%s\"", iol_features()->backend);
	assert_non_null(strstr(r.out, key));
	snprintf(key, sizeof(key), "\"kernel_release\": \"%s\"", iol_features()->kernel_release);
	assert_non_null(strstr(r.out, key));
	run_free(&r);
}

/* Strings with quotes, backslashes and control characters stay valid. */
static void test_json_escaping(void **state)
{
	const char *args[] = {"probe", "--json", NULL};
	const char *env[] = {"IOLAYER_DISABLE=pidfs,we\"i\\rd\ttab", NULL};
	struct run r = run_cli(args, env, false);

	(void)state;
	assert_int_equal(r.status, 0);
	assert_json(r.out);
	assert_non_null(strstr(r.out, "\"disabled\": \"pidfs,we\\\"i\\\\rd\\ttab\""));
	assert_non_null(strstr(r.out, "{\"name\": \"pidfs\", \"available\": false,"));
	assert_non_null(strstr(r.err, "unknown feature")); /* the bad name, once */
	run_free(&r);
}

static int col_of(const char *line, const char *word)
{
	const char *p = strstr(line, word);

	assert_non_null(p);
	return (int)(p - line);
}

static void test_table_alignment(void **state)
{
	const char *args[] = {"probe", NULL};
	const char *env[] = {"IOLAYER_DISABLE=futex2,pidfs", "IOLAYER_BACKEND", NULL};
	struct run r = run_cli(args, env, false);
	char *save = NULL, *line;
	int c_avail, c_since, c_reason, rows = 0, missing = 0;

	(void)state;
	assert_int_equal(r.status, 0);
	assert_null(strchr(r.out, '\033')); /* no colour on a pipe */
	line = strtok_r(r.out, "\n", &save);
	assert_non_null(line);
	assert_int_equal(col_of(line, "FEATURE"), 0);
	c_avail = col_of(line, "AVAILABLE");
	c_since = col_of(line, "SINCE");
	c_reason = col_of(line, "REASON");
	assert_true(c_avail < c_since && c_since < c_reason);
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		const struct iol_feature_info *fi = &iol_features()->feat[i];
		bool avail = fi->available && i != IOL_FEAT_FUTEX2 && i != IOL_FEAT_PIDFS;
		const char *word = avail ? "yes" : "no";
		int len;

		line = strtok_r(NULL, "\n", &save);
		assert_non_null(line);
		len = (int)strlen(line);
		assert_true(line[len - 1] != ' '); /* no trailing blanks */
		assert_memory_equal(line, fi->name, strlen(fi->name));
		assert_true(line[c_avail - 1] == ' ' && line[c_avail - 2] == ' ');
		assert_memory_equal(line + c_avail, word, strlen(word));
		assert_true(line[c_since - 1] == ' ' && line[c_since - 2] == ' ');
		assert_memory_equal(line + c_since, fi->since, strlen(fi->since));
		if (!avail) {
			assert_true(len > c_reason);
			assert_true(line[c_reason - 1] == ' ' && line[c_reason] != ' ');
			missing++;
		} else {
			assert_int_equal(len, c_since + (int)strlen(fi->since));
		}
		rows++;
	}
	assert_int_equal(rows, IOL_FEAT__COUNT);
	assert_true(missing >= 2);
	/* The verdict is the last line. */
	char *last = NULL;
	while ((line = strtok_r(NULL, "\n", &save)))
		last = line;
	assert_non_null(last);
	assert_memory_equal(last, "io_uring: ", 10);
	assert_non_null(strstr(last, "futex_waitv: "));
	assert_non_null(strstr(last, ", IO backend: "));
	run_free(&r);
}

static void test_colour_only_on_terminal(void **state)
{
	const char *args[] = {"probe", NULL};
	const char *no_colour[] = {"NO_COLOR=1", NULL};
	struct run r;

	(void)state;
	r = run_cli(args, NULL, true);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\033[")); /* a terminal gets colour */
	run_free(&r);
	r = run_cli(args, no_colour, true);
	assert_int_equal(r.status, 0);
	assert_null(strchr(r.out, '\033'));
	run_free(&r);
}

static void test_missing_features_exit_zero(void **state)
{
	const char *args[] = {"probe", NULL};
	const char *env[] = {"IOLAYER_DISABLE=io_uring,futex_waitv", NULL};
	struct run r = run_cli(args, env, false);

	(void)state;
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "io_uring: no ("));
	assert_non_null(strstr(r.out, "futex_waitv: no ("));
	assert_non_null(strstr(r.out, "IO backend: epoll"));
	run_free(&r);
}

static void expect(const char *const *args, int status, const char *out_has, const char *err_has)
{
	struct run r = run_cli(args, NULL, false);

	if (r.status != status)
		fail_msg("%s %s: exit %d, expected %d; stderr: %s", args[0] ? args[0] : "",
			 args[0] && args[1] ? args[1] : "", r.status, status, r.err);
	if (out_has)
		assert_non_null(strstr(r.out, out_has));
	if (err_has)
		assert_non_null(strstr(r.err, err_has));
	if (status == 2)
		assert_string_equal(r.out, ""); /* usage errors go to stderr only */
	run_free(&r);
}

static void test_usage_and_help(void **state)
{
	(void)state;
	expect((const char *[]){NULL}, 2, NULL, "usage: iolayer");
	expect((const char *[]){"--help", NULL}, 0, "probe", NULL);
	expect((const char *[]){"--help", NULL}, 0, "version", NULL);
	expect((const char *[]){"help", NULL}, 0, "usage: iolayer", NULL);
	expect((const char *[]){"help", "probe", NULL}, 0, "--json", NULL);
	expect((const char *[]){"probe", "--help", NULL}, 0, "usage: iolayer probe", NULL);
	expect((const char *[]){"version", "--help", NULL}, 0, "usage: iolayer version", NULL);
	expect((const char *[]){"help", "nosuch", NULL}, 2, NULL, "unknown command 'nosuch'");
	expect((const char *[]){"nosuch", NULL}, 2, NULL, "unknown command 'nosuch'");
	expect((const char *[]){"probe", "--bogus", NULL}, 2, NULL, "'--bogus'");
	expect((const char *[]){"version", "extra", NULL}, 2, NULL, "'extra'");
}

static void test_version(void **state)
{
	struct utsname u;
	char want[160];

	(void)state;
	assert_int_equal(uname(&u), 0);
	snprintf(want, sizeof(want), "iolayer %s\n", IOL_VERSION_STRING);
	expect((const char *[]){"version", NULL}, 0, want, NULL);
	snprintf(want, sizeof(want), "kernel %s\n", u.release);
	expect((const char *[]){"version", NULL}, 0, want, NULL);
	expect((const char *[]){"version", NULL}, 0, "liburing 2.", NULL);
	expect((const char *[]){"--version", NULL}, 0, want, NULL);
}

int main(void)
{
	if (cli_locate("test_cli_probe"))
		return 1;

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_shape),
	    cmocka_unit_test(test_json_escaping),
	    cmocka_unit_test(test_table_alignment),
	    cmocka_unit_test(test_colour_only_on_terminal),
	    cmocka_unit_test(test_missing_features_exit_zero),
	    cmocka_unit_test(test_usage_and_help),
	    cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
