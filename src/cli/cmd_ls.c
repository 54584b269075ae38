/* SPDX-License-Identifier: MIT */
/*
 * iolayer ls [--json] [--] [TABLE]: the objects of a table and the processes
 * attached to it, read without attaching (the table is mapped read-only
 * and nothing in it changes).  The listing itself is src/check/listing.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "src/cli/cli.h"
#include "src/check/listing.h"

static const char help[] =
    "usage: iolayer ls [--json] [--] [TABLE]\n"
    "\n"
    "List the objects in the table TABLE of the calling user (default:\n"
    "\"default\"): slot, type, name, references and state (a mutex's owner and\n"
    "recursion, whether an event is signaled, a semaphore's count and max, a\n"
    "process's pid and exit status, a file open's access and sharing), then the\n"
    "processes attached to it.  The table is only read.\n"
    "\n"
    "  --json   print one JSON object instead (for scripts)\n"
    "  --       the end of the options: a TABLE after it may start with '-'\n"
    "\n"
    "Exit status: 0, 1 if the table cannot be opened, 2 on a usage error.\n";

int ioli_cli_ls(int argc, char **argv)
{
	const char *name = NULL;
	bool json = false, options = true;
	char path[PATH_MAX];
	iol_table *t;
	int err;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	for (int i = 1; i < argc; i++) {
		if (options && !strcmp(argv[i], "--"))
			options = false;
		else if (options && !strcmp(argv[i], "--json"))
			json = true;
		else if (options && argv[i][0] == '-')
			return ioli_cli_usage_error("ls", "unknown option '%s'",
						    ioli_cli_name(argv[i]));
		else if (!name)
			name = argv[i];
		else
			return ioli_cli_usage_error("ls", "one table at a time");
	}
	if (!name)
		name = "default";
	err = ioli_table_path(name, path, sizeof(path));
	if (err)
		return ioli_cli_usage_error("ls",
					    "'%s' is not a table name (1 to 64 of "
					    "[A-Za-z0-9._-])",
					    ioli_cli_name(name));
	err = ioli_table_inspect(name, false, &t);
	if (err) {
		fprintf(stderr, "iolayer ls: %s: %s\n", ioli_cli_path(path),
			err == -EPROTO ? "not an iolayer table of this version" : strerror(-err));
		return CLI_FAIL;
	}
	if (json)
		ioli_list_json(t, path, stdout);
	else
		ioli_list_text(t, ioli_cli_path(path), stdout);
	ioli_table_inspect_close(t);
	return ioli_cli_finish(CLI_OK);
}
