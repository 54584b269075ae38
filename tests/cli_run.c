/* SPDX-License-Identifier: MIT */
/* Running the iolayer command from tests (see cli_run.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/cli_run.h"

char cli[PATH_MAX + 16];

char *slurp(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	assert_non_null(buf);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EIO) /* a pty whose other side closed */
			break;
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * Runs the command with args (NULL-terminated), env assignments ("K=V",
 * or "K" to unset) and stdout on a pipe, or on a pseudo-terminal when tty
 * is set.  stderr goes to a file so the two cannot block each other.
 */
struct run run_cli(const char *const *args, const char *const *env, bool tty)
{
	struct run r;
	int out[2], efd, master = -1, slave = -1, st;
	char *argv[16];
	int argc = 0;
	pid_t pid;

	argv[argc++] = cli;
	for (; args && *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	efd = memfd_create("stderr", 0);
	assert_true(efd >= 0);
	if (tty) {
		assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	} else {
		assert_int_equal(pipe(out), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsetenv("NO_COLOR");
		for (; env && *env; env++) {
			if (strchr(*env, '='))
				putenv((char *)*env);
			else
				unsetenv(*env);
		}
		dup2(tty ? slave : out[1], 1);
		dup2(efd, 2);
		execv(cli, argv);
		_exit(127);
	}
	if (tty) {
		close(slave);
		r.out = slurp(master);
		close(master);
	} else {
		close(out[1]);
		r.out = slurp(out[0]);
		close(out[0]);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	lseek(efd, 0, SEEK_SET);
	r.err = slurp(efd);
	close(efd);
	return r;
}

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* ---- a minimal JSON checker (RFC 8259 syntax, no semantics) ---------- */

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *json_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	s = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s || (*s == '0' && p - s > 1))
		return NULL;
	if (*p == '.') { /* a fraction: at least one digit */
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		s = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

static const char *json_value(const char *p, int depth)
{
	if (depth > 16)
		return NULL;
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';

		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				p = json_string(ws(p));
				if (!p || *(p = ws(p)) != ':')
					return NULL;
				p++;
			}
			p = json_value(p, depth + 1);
			if (!p)
				return NULL;
			p = ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (!strncmp(p, "null", 4))
		return p + 4;
	return json_number(p);
}

void assert_json(const char *s)
{
	const char *end = json_value(s, 0);

	if (!end || *ws(end) != '\0')
		fail_msg("not valid JSON near offset %td:\n%s", end ? end - s : (ptrdiff_t)-1, s);
}

int cli_locate(const char *test_name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	/* BUILD/tests/test_x -> BUILD/iolayer */
	for (int i = 0; i < 2; i++) {
		slash = strrchr(self, '/');
		if (!slash)
			return -1;
		*slash = '\0';
	}
	snprintf(cli, sizeof(cli), "%s/iolayer", self);
	if (access(cli, X_OK) != 0) {
		fprintf(stderr, "%s: %s: %s (build it with make cli)\n", test_name, cli,
			strerror(errno));
		return -1;
	}
	return 0;
}
