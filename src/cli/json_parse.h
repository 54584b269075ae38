/* SPDX-License-Identifier: MIT */
/* A small JSON reader for the CLI (json_parse.c). */
#ifndef IOLAYER_CLI_JSON_PARSE_H
#define IOLAYER_CLI_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum ioli_cli_json_kind {
	IOLI_CLI_JSON_NULL,
	IOLI_CLI_JSON_BOOL,
	IOLI_CLI_JSON_NUMBER,
	IOLI_CLI_JSON_STRING,
	IOLI_CLI_JSON_ARRAY,
	IOLI_CLI_JSON_OBJECT,
};

struct ioli_cli_json {
	enum ioli_cli_json_kind kind;
	bool boolean;
	double num;
	char *str;		     /* STRING */
	size_t n;		     /* ARRAY, OBJECT: number of items */
	char **keys;		     /* OBJECT: n keys */
	struct ioli_cli_json *items; /* ARRAY, OBJECT: n values */
};

/* Parses text[0..len) as one JSON value (surrounding white space allowed).
 * Returns 0, or -EINVAL (syntax error, nesting deeper than 32, out of
 * memory); *out is then empty.  Free with ioli_cli_json_free(). */
int ioli_cli_json_parse(const char *text, size_t len, struct ioli_cli_json *out);
void ioli_cli_json_free(struct ioli_cli_json *v);

/* The member `key` of an object, or NULL (also when obj is not one). */
const struct ioli_cli_json *ioli_cli_json_member(const struct ioli_cli_json *obj, const char *key);
/* The string member `key`, or NULL when missing or not a string. */
const char *ioli_cli_json_member_str(const struct ioli_cli_json *obj, const char *key);
/* The number member `key` into *out; false when missing or not a number. */
bool ioli_cli_json_member_num(const struct ioli_cli_json *obj, const char *key, double *out);

#endif /* IOLAYER_CLI_JSON_PARSE_H */
