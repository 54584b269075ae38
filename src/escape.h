/* SPDX-License-Identifier: MIT */
/* User-supplied strings in messages (src/escape.c). */
#ifndef IOLAYER_SRC_ESCAPE_H
#define IOLAYER_SRC_ESCAPE_H

#include <stddef.h>

/* Bounds on how much of a string a message shows, in input bytes. */
#define IOLI_ESC_NAME 64  /* names, arguments, environment values */
#define IOLI_ESC_PATH 256 /* paths */
/* A buffer that holds any escape of up to `max` input bytes. */
#define IOLI_ESC_BUFLEN(max) ((max)*4 + 4)

/*
 * s made safe to print: bytes outside printable ASCII, and '\', as \xNN
 * (so a name cannot send terminal escape sequences), and only its first
 * `max` bytes, then "..." when there were more.  Written to buf (len
 * bytes; at least IOLI_ESC_BUFLEN(max) to never cut an escape short);
 * returns buf.  s NULL gives "(null)".
 */
const char *ioli_escape(const char *s, size_t max, char *buf, size_t len);

#endif
