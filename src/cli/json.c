/* SPDX-License-Identifier: MIT */
/* JSON string output for the CLI's --json modes (the library's writer). */
#include <stdio.h>

#include "src/cli/cli.h"
#include "src/check/listing.h"

void ioli_cli_json_str(FILE *out, const char *s)
{
	ioli_json_str(out, s);
}
