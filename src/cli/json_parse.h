/* SPDX-License-Identifier: MIT */
/* A small JSON reader for the CLI (json_parse.c). */
#ifndef IOLAYER_CLI_JSON_PARSE_H
#define IOLAYER_CLI_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum ioli_json_kind {
	IOLI_JSON_NULL,
	IOLI_JSON_BOOL,
	IOLI_JSON_NUMBER,
	IOLI_JSON_STRING,
	IOLI_JSON_ARRAY,
	IOLI_JSON_OBJECT,
};

struct ioli_json {
	enum ioli_json_kind kind;
	bool boolean;
	double num;
	char *str;		 /* STRING */
	size_t n;		 /* ARRAY, OBJECT: number of items */
	char **keys;		 /* OBJECT: n keys */
	struct ioli_json *items; /* ARRAY, OBJECT: n values */
};

/* Parses text[0..len) as one JSON value (surrounding white space allowed).
 * Returns 0, or -EINVAL (syntax error, nesting deeper than 32, out of
 * memory); *out is then empty.  Free with ioli_json_free(). */
int ioli_json_parse(const char *text, size_t len, struct ioli_json *out);
void ioli_json_free(struct ioli_json *v);

/* The member `key` of an object, or NULL (also when obj is not one). */
const struct ioli_json *ioli_json_get(const struct ioli_json *obj, const char *key);
/* The string member `key`, or NULL when missing or not a string. */
const char *ioli_json_str(const struct ioli_json *obj, const char *key);
/* The number member `key` into *out; false when missing or not a number. */
bool ioli_json_num(const struct ioli_json *obj, const char *key, double *out);

#endif /* IOLAYER_CLI_JSON_PARSE_H */
