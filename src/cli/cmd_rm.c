/* SPDX-License-Identifier: MIT */
/* iolayer rm TABLE: unlink a table's file (attached processes keep it). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "iolayer.h"
#include "src/cli/cli.h"
#include "src/table/table.h"

static const char help[] =
    "usage: iolayer rm TABLE...\n"
    "\n"
    "Remove the file of each table TABLE of the calling user.  Processes still\n"
    "attached keep working on the same memory, which is freed when the last of\n"
    "them detaches; the next open of the name creates a new, empty table.\n"
    "\n"
    "Exit status: 0, 1 if a table could not be removed, 2 on a usage error.\n";

int ioli_cli_rm(int argc, char **argv)
{
	char path[PATH_MAX];
	int rc = CLI_OK;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	if (argc < 2)
		return ioli_cli_usage_error("rm", "which table?");
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			return ioli_cli_usage_error("rm", "unknown option '%s'", argv[i]);
		if (ioli_table_path(argv[i], path, sizeof(path)))
			return ioli_cli_usage_error("rm", "'%s' is not a table name", argv[i]);
	}
	for (int i = 1; i < argc; i++) {
		int err = iol_table_unlink(argv[i]);

		ioli_table_path(argv[i], path, sizeof(path));
		if (err) {
			fprintf(stderr, "iolayer rm: %s: %s\n", path, strerror(-err));
			rc = CLI_FAIL;
		}
	}
	return ioli_cli_finish(rc);
}
