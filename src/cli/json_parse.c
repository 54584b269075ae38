/* SPDX-License-Identifier: MIT */
/*
 * A small JSON reader (RFC 8259) for what the CLI reads back: the
 * benchmarks' "@result" lines.  It builds a tree of ioli_cli_json values;
 * strings are unescaped (\uXXXX to UTF-8, surrogate pairs included).
 * Depth is bounded so hostile input cannot exhaust the stack.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/json_parse.h"

#define MAX_DEPTH 32

struct parser {
	const char *p, *end;
	int depth;
};

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int parse_value(struct parser *ps, struct ioli_cli_json *v);

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote; the unescaped string is malloc'ed into *out. */
static int parse_string(struct parser *ps, char **out)
{
	const char *s = ++ps->p;
	size_t cap = 0;
	char *d;

	/* The unescaped text is never longer than the escaped one. */
	while (s < ps->end && *s != '"') {
		if (*s == '\\')
			s++;
		s++;
	}
	if (s >= ps->end)
		return -1;
	cap = (size_t)(s - ps->p) + 1;
	d = malloc(cap);
	if (!d)
		return -1;
	*out = d;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;

		if (c < 0x20)
			return -1;
		if (c != '\\') {
			*d++ = (char)c;
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			*d++ = (char)c;
			break;
		case 'b':
			*d++ = '\b';
			break;
		case 'f':
			*d++ = '\f';
			break;
		case 'n':
			*d++ = '\n';
			break;
		case 'r':
			*d++ = '\r';
			break;
		case 't':
			*d++ = '\t';
			break;
		case 'u': {
			unsigned cp, lo;

			if (ps->end - ps->p < 4 || hex4(ps->p, &cp) != 0)
				return -1;
			ps->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
				    hex4(ps->p + 2, &lo) != 0 || lo < 0xdc00 || lo >= 0xe000)
					return -1;
				ps->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return -1;
			}
			d += put_utf8(d, cp);
			break;
		}
		default:
			return -1;
		}
	}
	*d = '\0';
	ps->p++;
	return 0;
}

static int parse_number(struct parser *ps, double *out)
{
	const char *s = ps->p;
	char buf[64], *e;
	size_t n;

	if (s < ps->end && *s == '-')
		s++;
	if (s >= ps->end || *s < '0' || *s > '9')
		return -1;
	if (*s == '0' && s + 1 < ps->end && s[1] >= '0' && s[1] <= '9')
		return -1; /* no leading zeros */
	while (s < ps->end && ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' ||
			       *s == '+' || *s == '-'))
		s++;
	n = (size_t)(s - ps->p);
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, ps->p, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtod(buf, &e);
	if (*e != '\0' || !isfinite(*out))
		return -1;
	ps->p = s;
	return 0;
}

static int grow(struct ioli_cli_json *v, size_t *cap)
{
	if (v->n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 8;
	void *items = realloc(v->items, *cap * sizeof(*v->items));

	if (!items)
		return -1;
	v->items = items;
	if (v->kind == IOLI_CLI_JSON_OBJECT) {
		void *keys = realloc(v->keys, *cap * sizeof(*v->keys));

		if (!keys)
			return -1;
		v->keys = keys;
	}
	return 0;
}

static int parse_container(struct parser *ps, struct ioli_cli_json *v, char close)
{
	size_t cap = 0;

	v->kind = close == '}' ? IOLI_CLI_JSON_OBJECT : IOLI_CLI_JSON_ARRAY;
	if (++ps->depth > MAX_DEPTH)
		return -1;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		if (grow(v, &cap) != 0)
			return -1;
		if (v->kind == IOLI_CLI_JSON_OBJECT) {
			v->keys[v->n] = NULL;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"' ||
			    parse_string(ps, &v->keys[v->n]) != 0) {
				v->n++; /* so that the key is freed */
				v->items[v->n - 1] = (struct ioli_cli_json){0};
				return -1;
			}
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p++ != ':') {
				v->items[v->n++] = (struct ioli_cli_json){0};
				return -1;
			}
		}
		v->items[v->n] = (struct ioli_cli_json){0};
		v->n++;
		if (parse_value(ps, &v->items[v->n - 1]) != 0)
			return -1;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return -1;
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ != close)
			return -1;
		ps->depth--;
		return 0;
	}
}

static int literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return -1;
	ps->p += n;
	return 0;
}

static int parse_value(struct parser *ps, struct ioli_cli_json *v)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return -1;
	switch (*ps->p) {
	case '{':
		return parse_container(ps, v, '}');
	case '[':
		return parse_container(ps, v, ']');
	case '"':
		v->kind = IOLI_CLI_JSON_STRING;
		return parse_string(ps, &v->str);
	case 't':
		v->kind = IOLI_CLI_JSON_BOOL;
		v->boolean = true;
		return literal(ps, "true");
	case 'f':
		v->kind = IOLI_CLI_JSON_BOOL;
		return literal(ps, "false");
	case 'n':
		v->kind = IOLI_CLI_JSON_NULL;
		return literal(ps, "null");
	default:
		v->kind = IOLI_CLI_JSON_NUMBER;
		return parse_number(ps, &v->num);
	}
}

int ioli_cli_json_parse(const char *text, size_t len, struct ioli_cli_json *out)
{
	struct parser ps = {text, text + len, 0};

	*out = (struct ioli_cli_json){0};
	if (parse_value(&ps, out) == 0) {
		skip_ws(&ps);
		if (ps.p == ps.end)
			return 0;
	}
	ioli_cli_json_free(out);
	return -EINVAL;
}

void ioli_cli_json_free(struct ioli_cli_json *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		if (v->keys)
			free(v->keys[i]);
		ioli_cli_json_free(&v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->str);
	*v = (struct ioli_cli_json){0};
}

const struct ioli_cli_json *ioli_cli_json_member(const struct ioli_cli_json *obj, const char *key)
{
	if (!obj || obj->kind != IOLI_CLI_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (obj->keys[i] && strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

const char *ioli_cli_json_member_str(const struct ioli_cli_json *obj, const char *key)
{
	const struct ioli_cli_json *v = ioli_cli_json_member(obj, key);

	return v && v->kind == IOLI_CLI_JSON_STRING ? v->str : NULL;
}

bool ioli_cli_json_member_num(const struct ioli_cli_json *obj, const char *key, double *out)
{
	const struct ioli_cli_json *v = ioli_cli_json_member(obj, key);

	if (!v || v->kind != IOLI_CLI_JSON_NUMBER)
		return false;
	*out = v->num;
	return true;
}
