/* SPDX-License-Identifier: MIT */
/*
 * iolayer: the command-line tool.  One dispatcher over a table of
 * subcommands; a new subcommand is one line in `commands` and a handler.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/cli/cli.h"
#include "src/escape.h"

/* A new subcommand is one line here. */
static const struct cli_cmd commands[] = {
    {"probe", ioli_cli_probe, "what this kernel offers iolayer, and the verdict"},
    {"ls", ioli_cli_ls, "the objects of a table and the processes attached"},
    {"rm", ioli_cli_rm, "remove a table"},
    {"fsck", ioli_cli_fsck, "check a table's invariants, and repair them"},
    {"demo", ioli_cli_demo, "a one-minute tour across real processes"},
    {"bench", ioli_cli_bench, "every benchmark against its baselines, in one table"},
    {"version", ioli_cli_version, "library, liburing and kernel versions"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: iolayer COMMAND [ARGS...]\n"
		     "       iolayer help COMMAND\n"
		     "\n"
		     "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Each command takes --help.  Exit status: 0 success, 1 failure, 2 usage.\n"
		"Environment: IOLAYER_DISABLE=feature[,feature...] masks kernel features;\n"
		"IOLAYER_BACKEND=uring|epoll forces the IO backend; NO_COLOR turns colour off.\n");
}

static const struct cli_cmd *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

bool ioli_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int ioli_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "iolayer %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'iolayer %s --help'.\n", cmd);
	return CLI_USAGE;
}

static const char *escaped(const char *s, size_t max)
{
	static char bufs[8][IOLI_ESC_BUFLEN(IOLI_ESC_PATH)];
	static unsigned next;

	char *b = bufs[next++ % 8];
	return ioli_escape(s, max, b, sizeof(bufs[0]));
}

const char *ioli_cli_name(const char *s)
{
	return escaped(s, IOLI_ESC_NAME);
}

const char *ioli_cli_path(const char *s)
{
	return escaped(s, IOLI_ESC_PATH);
}

int ioli_cli_finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("iolayer: writing the output");
		return CLI_FAIL;
	}
	return rc;
}

bool ioli_cli_colour(void)
{
	const char *nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(nc && *nc);
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    (!strcmp(argv[1], "help") && argc == 2)) {
		usage(stdout);
		return ioli_cli_finish(CLI_OK);
	}
	if (!strcmp(argv[1], "--version"))
		return ioli_cli_version(1, (char *[]){"version", NULL});
	if (!strcmp(argv[1], "help")) {
		if (argc > 3) {
			fprintf(stderr, "usage: iolayer help COMMAND\n");
			return CLI_USAGE;
		}
		c = find(argv[2]);
		if (!c) {
			fprintf(stderr,
				"iolayer: unknown command '%s'\nRun 'iolayer --help' for "
				"the commands.\n",
				ioli_cli_name(argv[2]));
			return CLI_USAGE;
		}
		return c->run(2, (char *[]){(char *)c->name, "--help", NULL});
	}
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr,
			"iolayer: unknown command '%s'\nRun 'iolayer --help' for the "
			"commands.\n",
			ioli_cli_name(argv[1]));
		return CLI_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
