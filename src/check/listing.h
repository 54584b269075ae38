/* SPDX-License-Identifier: MIT */
/* Listing a table (src/check/listing.c) and JSON strings (src/check/json.c). */
#ifndef IOLAYER_SRC_LISTING_H
#define IOLAYER_SRC_LISTING_H

#include <stdio.h>

#include "src/table/table.h"

/* The objects of t and the processes attached to it; path is only
 * printed.  t is typically a view from ioli_table_inspect(). */
void ioli_list_text(iol_table *t, const char *path, FILE *out);
void ioli_list_json(iol_table *t, const char *path, FILE *out);

/* s as a JSON string literal (quoted and escaped), or null. */
void ioli_json_str(FILE *out, const char *s);

#endif
