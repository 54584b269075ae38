/* SPDX-License-Identifier: MIT */
/*
 * The iolayer command's arguments: what it echoes of them in messages is
 * escaped and bounded (a name with an escape sequence or of 5000 bytes),
 * and `--` ends the options, so a table whose name starts with '-' can be
 * named.
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
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/cli_run.h"

static void has(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("expected to find\n  %s\nin\n%s", needle, haystack);
}

/* No byte of s is a control byte other than '\n', and none is >= 0x80. */
static void printable(const char *what, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p >= 0x7f)
			fail_msg("%s: raw byte 0x%02x at offset %td in\n%s", what, *p,
				 (const char *)p - s, s);
}

/* ---- escaped, bounded echoes ---------------------------------------- */

#define ESC_NAME "evil\x1b[2J\x1b]0;pwned\x07\r\x7f\xc2\x9b"

static char long_name[5001];

/* Every place a command echoes an argument, with both bad names. */
static const char *const *const echo_cases[] = {
    (const char *[]){"ls", "@", NULL},
    (const char *[]){"ls", "-@", NULL},
    (const char *[]){"rm", "@", NULL},
    (const char *[]){"rm", "-@", NULL},
    (const char *[]){"fsck", "@", NULL},
    (const char *[]){"fsck", "-@", NULL},
    (const char *[]){"@", NULL},
    (const char *[]){"help", "@", NULL},
    (const char *[]){"probe", "@", NULL},
    (const char *[]){"version", "@", NULL},
    (const char *[]){"demo", "@", NULL},
    (const char *[]){"bench", "@", NULL},
    (const char *[]){"bench", "--only", "@", NULL},
};

static void run_echo(const char *const *tmpl, const char *bad, bool is_long)
{
	const char *args[8];
	char what[128];
	size_t n = 0;

	for (; tmpl[n]; n++) {
		if (!strcmp(tmpl[n], "@"))
			args[n] = bad;
		else if (!strcmp(tmpl[n], "-@"))
			args[n] = is_long ? "-" : "-" ESC_NAME; /* an option */
		else
			args[n] = tmpl[n];
	}
	args[n] = NULL;
	if (!strcmp(tmpl[n - 1], "-@") && is_long) {
		static char opt[5002];

		opt[0] = '-';
		memcpy(opt + 1, long_name, sizeof(long_name));
		args[n - 1] = opt;
	}
	snprintf(what, sizeof(what), "iolayer %s %s (%s name)", tmpl[0], tmpl[1] ? tmpl[1] : "",
		 is_long ? "long" : "escape");
	struct run r = run_cli(args, NULL, false);
	if (r.status != 2)
		fail_msg("%s: exit %d, want 2; stderr:\n%s", what, r.status, r.err);
	printable(what, r.err);
	printable(what, r.out);
	if (is_long) {
		/* 64 bytes of the name, "...", and the rest of the message */
		if (strlen(r.err) > 400)
			fail_msg("%s: %zu bytes of message:\n%s", what, strlen(r.err), r.err);
		has(r.err, "xxxxxxxx...");
	} else {
		has(r.err, "evil\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x7f\\xc2\\x9b");
	}
	run_free(&r);
}

static void test_echoed_arguments_are_escaped_and_bounded(void **state)
{
	(void)state;
	memset(long_name, 'x', sizeof(long_name) - 1);
	for (size_t i = 0; i < sizeof(echo_cases) / sizeof(echo_cases[0]); i++) {
		run_echo(echo_cases[i], ESC_NAME, false);
		run_echo(echo_cases[i], long_name, true);
	}
}

/* The table directory comes from the environment: printed escaped too. */
static void test_paths_are_escaped(void **state)
{
	char dir[512], env[600];
	const char *cmds[][3] = {
	    {"ls", "nosuch", NULL}, {"fsck", "nosuch", NULL}, {"rm", "nosuch", NULL}};

	(void)state;
	snprintf(dir, sizeof(dir), "%s/dir\x1b[31m", getenv("IOLAYER_SHM_DIR"));
	snprintf(env, sizeof(env), "IOLAYER_SHM_DIR=%s", dir);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run r = run_cli(cmds[i], (const char *[]){env, NULL}, false);

		assert_true(r.status != 0);
		printable(cmds[i][0], r.err);
		has(r.err, "dir\\x1b[31m/iolayer-");
		run_free(&r);
	}
}

/* A library message: an unknown IOLAYER_DISABLE feature is named, escaped. */
static void test_library_messages_are_escaped(void **state)
{
	static char env[5100];
	struct run r;

	(void)state;
	r = run_cli((const char *[]){"version", NULL},
		    (const char *[]){"IOLAYER_DISABLE=bad\x1b[31mfeature", NULL}, false);
	assert_int_equal(r.status, 0);
	printable("IOLAYER_DISABLE", r.err);
	has(r.err, "bad\\x1b[31mfeature");
	run_free(&r);

	memset(long_name, 'x', sizeof(long_name) - 1);
	snprintf(env, sizeof(env), "IOLAYER_BACKEND=%s", long_name);
	r = run_cli((const char *[]){"version", NULL}, (const char *[]){env, NULL}, false);
	assert_int_equal(r.status, 0);
	has(r.err, "xxxxxxxx...");
	if (strlen(r.err) > 400)
		fail_msg("IOLAYER_BACKEND: %zu bytes of message:\n%s", strlen(r.err), r.err);
	run_free(&r);

	r = run_cli((const char *[]){"probe", NULL},
		    (const char *[]){"IOLAYER_DISABLE=bad\x1b[31mfeature", NULL}, false);
	printable("probe IOLAYER_DISABLE", r.out);
	printable("probe IOLAYER_DISABLE", r.err);
	run_free(&r);
}

/* ---- `--`: a table whose name starts with '-' ------------------------ */

static bool table_exists(const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/iolayer-%u-%s", getenv("IOLAYER_SHM_DIR"),
		 (unsigned)geteuid(), name);
	return lstat(path, &st) == 0;
}

static void make_table(const char *name)
{
	iol_table *t;

	assert_int_equal(iol_table_open(name, NULL, &t), 0);
	assert_int_equal(iol_table_close(t), 0);
	assert_true(table_exists(name));
}

static void test_double_dash_ends_options(void **state)
{
	struct run r;

	(void)state;
	make_table("-dash");

	/* Without `--` the name is an option, and nothing happens to it. */
	r = run_cli((const char *[]){"ls", "-dash", NULL}, NULL, false);
	assert_int_equal(r.status, 2);
	has(r.err, "unknown option '-dash'");
	run_free(&r);
	r = run_cli((const char *[]){"rm", "-dash", NULL}, NULL, false);
	assert_int_equal(r.status, 2);
	run_free(&r);
	assert_true(table_exists("-dash"));

	/* ls, fsck: options before `--` (and after a name) still count. */
	r = run_cli((const char *[]){"ls", "--", "-dash", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	has(r.out, "table -dash (");
	run_free(&r);
	r = run_cli((const char *[]){"ls", "--json", "--", "-dash", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	assert_json(r.out);
	has(r.out, "\"table\":\"-dash\"");
	run_free(&r);
	r = run_cli((const char *[]){"fsck", "--", "-dash", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	has(r.out, "--dash: clean");
	run_free(&r);
	r = run_cli((const char *[]){"fsck", "--json", "--", "-dash", "--repair", NULL}, NULL,
		    false);
	assert_int_equal(r.status, 2); /* after `--`, a second table */
	run_free(&r);
	r = run_cli((const char *[]){"fsck", "--repair", "--json", "--", "-dash", NULL}, NULL,
		    false);
	assert_int_equal(r.status, 0);
	assert_json(r.out);
	run_free(&r);
	/* After `--`, --help is a table name, not a request for help. */
	r = run_cli((const char *[]){"ls", "--", "--help", NULL}, NULL, false);
	assert_int_equal(r.status, 1);
	has(r.err, "---help: No such file");
	run_free(&r);

	/* rm: several names, `--` among them. */
	make_table("-two");
	make_table("plain");
	r = run_cli((const char *[]){"rm", "plain", "--", "-dash", "-two", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	run_free(&r);
	assert_false(table_exists("-dash"));
	assert_false(table_exists("-two"));
	assert_false(table_exists("plain"));
	r = run_cli((const char *[]){"rm", "--", NULL}, NULL, false);
	assert_int_equal(r.status, 2);
	run_free(&r);
	/* `--` after `--` is a name. */
	make_table("--");
	r = run_cli((const char *[]){"rm", "--", "--", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_false(table_exists("--"));

	/* The help of each says so. */
	for (int i = 0; i < 3; i++) {
		const char *cmd = i == 0 ? "ls" : i == 1 ? "rm" : "fsck";

		r = run_cli((const char *[]){cmd, "--help", NULL}, NULL, false);
		assert_int_equal(r.status, 0);
		has(r.out, "[--]");
		has(r.out, "may start with '-'");
		run_free(&r);
	}
}

int main(void)
{
	if (cli_locate("test_cli_args"))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echoed_arguments_are_escaped_and_bounded),
	    cmocka_unit_test(test_paths_are_escaped),
	    cmocka_unit_test(test_library_messages_are_escaped),
	    cmocka_unit_test(test_double_dash_ends_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
