/* SPDX-License-Identifier: MIT */
/* iolayer version: the library, the liburing it was built against, and
 * the running kernel. */
#include <stdio.h>

#include "iolayer.h"
#include "iolayer/probe.h"
#include "src/cli/cli.h"

static const char help[] = "usage: iolayer version\n"
			   "\n"
			   "Print the iolayer library version, the liburing version it was built\n"
			   "against, and the running kernel's release.\n";

int ioli_cli_version(int argc, char **argv)
{
	const struct iol_features *f;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	if (argc > 1)
		return ioli_cli_usage_error("version", "unexpected argument '%s'",
					    ioli_cli_name(argv[1]));
	f = iol_features();
	printf("iolayer %s\n", IOL_VERSION_STRING);
	if (f->liburing_major >= 0)
		printf("liburing %d.%d (built against)\n", f->liburing_major, f->liburing_minor);
	else
		printf("liburing unknown (built against)\n");
	printf("kernel %s\n", f->kernel_release);
	return ioli_cli_finish(CLI_OK);
}
