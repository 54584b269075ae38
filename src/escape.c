/* SPDX-License-Identifier: MIT */
/* User-supplied strings in messages: escaped and bounded (escape.h). */
#include <stdio.h>
#include <string.h>

#include "src/escape.h"

const char *ioli_escape(const char *s, size_t max, char *buf, size_t len)
{
	size_t o = 0, i = 0;

	if (len == 0)
		return buf;
	if (!s)
		s = "(null)";
	for (; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c < 0x20 || c >= 0x7f || c == '\\' ? 4 : 1;

		if (o + need + 3 >= len) /* room for this, "..." and the NUL */
			break;
		if (need == 4)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (s[i] && o + 3 < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}
