/* SPDX-License-Identifier: MIT */
/* iolayer rm [--] TABLE...: unlink tables' files (attached processes keep them). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "iolayer.h"
#include "src/cli/cli.h"
#include "src/table/table.h"

static const char help[] =
    "usage: iolayer rm [--] TABLE...\n"
    "\n"
    "Remove the file of each table TABLE of the calling user.  Processes still\n"
    "attached keep working on the same memory, which is freed when the last of\n"
    "them detaches; the next open of the name creates a new, empty table.\n"
    "\n"
    "  --   the end of the options: a TABLE after it may start with '-'\n"
    "\n"
    "Exit status: 0, 1 if a table could not be removed, 2 on a usage error.\n";

/* Is argv[i] a table name: not the first `--`, and after it if it starts
 * with '-' (rm takes no other option). */
static bool is_name(int i, int dd, char **argv)
{
	return i != dd && (i > dd || argv[i][0] != '-');
}

int ioli_cli_rm(int argc, char **argv)
{
	char path[PATH_MAX];
	int rc = CLI_OK, dd = argc, names = 0;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	for (int i = 1; i < argc && dd == argc; i++)
		if (!strcmp(argv[i], "--"))
			dd = i;
	for (int i = 1; i < argc; i++) {
		if (i == dd)
			continue;
		if (!is_name(i, dd, argv))
			return ioli_cli_usage_error("rm", "unknown option '%s'",
						    ioli_cli_name(argv[i]));
		if (ioli_table_path(argv[i], path, sizeof(path)))
			return ioli_cli_usage_error("rm", "'%s' is not a table name",
						    ioli_cli_name(argv[i]));
		names++;
	}
	if (names == 0)
		return ioli_cli_usage_error("rm", "which table?");
	for (int i = 1; i < argc; i++) {
		int err;

		if (!is_name(i, dd, argv))
			continue;
		err = iol_table_unlink(argv[i]);
		ioli_table_path(argv[i], path, sizeof(path));
		if (err) {
			fprintf(stderr, "iolayer rm: %s: %s\n", ioli_cli_path(path),
				strerror(-err));
			rc = CLI_FAIL;
		}
	}
	return ioli_cli_finish(rc);
}
