/* SPDX-License-Identifier: MIT */
/*
 * Running the iolayer command from tests: find it next to the test
 * (tests live in BUILD/tests/, the command is BUILD/iolayer), run it with
 * its output captured, and check JSON syntax.
 */
#ifndef IOLAYER_TESTS_CLI_RUN_H
#define IOLAYER_TESTS_CLI_RUN_H

#include <limits.h>
#include <stdbool.h>

extern char cli[PATH_MAX + 16];

struct run {
	int status; /* exit status, or 128 + signal */
	char *out;
	char *err;
};

/* Sets `cli` from /proc/self/exe; 0, or -1 with a message on stderr. */
int cli_locate(const char *test_name);
char *slurp(int fd);
/*
 * Runs the command with args (NULL-terminated), env assignments ("K=V",
 * or "K" to unset) and stdout on a pipe, or on a pseudo-terminal when tty
 * is set.  stderr goes to a file so the two cannot block each other.
 */
struct run run_cli(const char *const *args, const char *const *env, bool tty);
void run_free(struct run *r);
/* Fails the test unless s is one syntactically valid JSON value. */
void assert_json(const char *s);

#endif
