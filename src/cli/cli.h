/* SPDX-License-Identifier: MIT */
/*
 * The iolayer command: one dispatcher (main.c) over a table of
 * subcommands.  A subcommand is a handler taking its own argv (argv[0] is
 * its name) that handles --help itself and returns an exit code.
 */
#ifndef IOLAYER_CLI_H
#define IOLAYER_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

enum {
	CLI_OK = 0,    /* success (a probe that finds features missing is a success) */
	CLI_FAIL = 1,  /* the command ran and failed */
	CLI_USAGE = 2, /* bad command line */
};

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary; /* one line for `iolayer --help` */
};

/* Subcommands. */
int ioli_cli_probe(int argc, char **argv);
int ioli_cli_version(int argc, char **argv);
int ioli_cli_ls(int argc, char **argv);
int ioli_cli_rm(int argc, char **argv);
int ioli_cli_fsck(int argc, char **argv);
int ioli_cli_demo(int argc, char **argv);
int ioli_cli_bench(int argc, char **argv);

/* Shared by subcommands. */

/* True when argv[1..] asks for help (-h or --help anywhere). */
bool ioli_cli_wants_help(int argc, char **argv);
/* "iolayer CMD: msg" on stderr, then "Try 'iolayer CMD --help'."; returns
 * CLI_USAGE. */
int ioli_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Flushes stdout; on a write error says so on stderr and returns CLI_FAIL. */
int ioli_cli_finish(int rc);
/* Whether to colour stdout: a terminal, and NO_COLOR unset or empty. */
bool ioli_cli_colour(void);

/* JSON output: s as a JSON string literal (quoted and escaped), or null. */
void ioli_cli_json_str(FILE *out, const char *s);

/*
 * A user-supplied name (argument, table name) or path for a message:
 * control and non-ASCII bytes as \xNN, at most 64 bytes of a name and 256
 * of a path, then "..." (src/escape.h).  The result lives in one of 8
 * static buffers used in turn: enough for one message (the command is
 * single-threaded where it prints).
 */
const char *ioli_cli_name(const char *s);
const char *ioli_cli_path(const char *s);

/*
 * Creating files without following a name another user planted
 * (src/cli/newfile.c).  ioli_cli_create_new: open(path, flags | O_CREAT |
 * O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode): an fd, or -EEXIST (whatever is
 * there, link or file), or another -errno.  ioli_cli_create_beside: a new
 * file "<path>.tmp.<pid>.<random>" (mode 0666 less the umask), its name in
 * tmp, to be renamed over path.  ioli_cli_replace: path replaced by a new,
 * empty file open for writing (created beside it and renamed over it), or
 * NULL with errno set.
 */
int ioli_cli_create_new(const char *path, int flags, mode_t mode);
int ioli_cli_create_beside(const char *path, char *tmp, size_t len);
FILE *ioli_cli_replace(const char *path);

#endif /* IOLAYER_CLI_H */
