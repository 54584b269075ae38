/* SPDX-License-Identifier: MIT */
/*
 * iolayer fsck [--repair] [--json] [--] TABLE: check every invariant of a
 * table, print what is wrong, and with --repair fix it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "src/cli/cli.h"
#include "src/check/fsck.h"

static const char help[] =
    "usage: iolayer fsck [--repair] [--json] [--] TABLE\n"
    "\n"
    "Check the table TABLE of the calling user: locks not held by the dead,\n"
    "reference counts equal to what live processes hold, free list and name\n"
    "index in agreement with the slots, every attached process, mutex owner\n"
    "and thread record alive, no object held only by the dead, file-share\n"
    "counts equal to the opens.  Without --repair nothing is changed (the\n"
    "table is mapped read-only); with --repair dead processes are reclaimed\n"
    "and every other fault is fixed, each in its own short critical section;\n"
    "a lock held by a stopped process is reported and left (exit 4).\n"
    "\n"
    "  --repair  fix what is wrong\n"
    "  --json    print one JSON object instead (for scripts)\n"
    "  --        the end of the options: a TABLE after it may start with '-'\n"
    "\n"
    "Exit status: 0 clean; 1 damage found and all of it repaired; 4 damage\n"
    "found and (some) left as it was; 8 the table could not be checked; 2 usage.\n";

enum { FSCK_CLEAN = 0, FSCK_REPAIRED = 1, FSCK_DAMAGED = 4, FSCK_ERROR = 8 };

struct out {
	bool json;
	bool first;
};

static void print_finding(void *arg, const struct ioli_fsck_finding *f)
{
	struct out *o = arg;

	if (o->json) {
		printf("%s{\"check\":\"%s\",\"index\":%u,\"repaired\":%s,\"message\":",
		       o->first ? "" : ",", f->check, f->index, f->repaired ? "true" : "false");
		ioli_cli_json_str(stdout, f->message);
		putchar('}');
	} else {
		printf("  %-20s %s%s\n", f->check, f->message, f->repaired ? "  [repaired]" : "");
	}
	o->first = false;
}

int ioli_cli_fsck(int argc, char **argv)
{
	const char *name = NULL;
	bool repair = false, json = false, options = true;
	char path[PATH_MAX];
	struct ioli_fsck_result res;
	struct out o = {.first = true};
	iol_table *t;
	int err, rc;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	for (int i = 1; i < argc; i++) {
		if (options && !strcmp(argv[i], "--"))
			options = false;
		else if (options && !strcmp(argv[i], "--repair"))
			repair = true;
		else if (options && !strcmp(argv[i], "--json"))
			json = true;
		else if (options && argv[i][0] == '-')
			return ioli_cli_usage_error("fsck", "unknown option '%s'",
						    ioli_cli_name(argv[i]));
		else if (!name)
			name = argv[i];
		else
			return ioli_cli_usage_error("fsck", "one table at a time");
	}
	if (!name)
		return ioli_cli_usage_error("fsck", "which table?");
	if (ioli_table_path(name, path, sizeof(path)))
		return ioli_cli_usage_error("fsck", "'%s' is not a table name",
					    ioli_cli_name(name));
	err = ioli_table_inspect(name, repair, &t);
	if (err) {
		fprintf(stderr, "iolayer fsck: %s: %s\n", ioli_cli_path(path),
			err == -EPROTO ? "not an iolayer table of this version" : strerror(-err));
		return FSCK_ERROR;
	}
	o.json = json;
	if (json) {
		fputs("{\"table\":", stdout);
		ioli_cli_json_str(stdout, name);
		fputs(",\"path\":", stdout);
		ioli_cli_json_str(stdout, path);
		fputs(",\"findings\":[", stdout);
	}
	err = ioli_fsck(t, repair, print_finding, &o, &res);
	ioli_table_inspect_close(t);
	if (err) {
		if (json)
			puts("]}");
		fprintf(stderr, "iolayer fsck: %s: %s\n", ioli_cli_path(path), strerror(-err));
		return FSCK_ERROR;
	}
	rc = res.found == 0 ? FSCK_CLEAN : res.unrepaired ? FSCK_DAMAGED : FSCK_REPAIRED;
	if (json) {
		printf("],\"clean\":%s,\"found\":%d,\"repaired\":%d}\n",
		       res.found ? "false" : "true", res.found, res.found - res.unrepaired);
	} else if (res.found == 0) {
		printf("%s: clean\n", ioli_cli_path(path));
	} else {
		printf("%s: %d problem%s found, %d repaired%s\n", ioli_cli_path(path), res.found,
		       res.found == 1 ? "" : "s", res.found - res.unrepaired,
		       res.unrepaired && !repair ? " (run with --repair to fix)" : "");
	}
	return ioli_cli_finish(rc);
}
