/* SPDX-License-Identifier: MIT */
/*
 * The examples: every program in examples/ is built by make and run here,
 * and every C block of docs/guide.md and README.md is checked to be the
 * example file it claims to be, byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"

static char dir[PATH_MAX]; /* BUILD/examples */

static int locate(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/'); /* BUILD/tests/test_examples */
	if (!slash)
		return -1;
	*slash = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	snprintf(dir, sizeof(dir), "%.*s/examples", (int)(sizeof(dir) - 16), self);
	return 0;
}

/* Run BUILD/examples/name with args (NULL-terminated) and an optional
 * environment assignment; returns its exit status, or -1. */
static int run(const char *name, const char *env)
{
	char path[PATH_MAX + 64];
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	pid = fork();
	if (pid == 0) {
		if (env)
			putenv((char *)env);
		alarm(60); /* a bound, not synchronization */
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_guide_programs(void **state)
{
	(void)state;
	assert_int_equal(run("hello", NULL), 0);
	iol_table_unlink("example"); /* the README example leaves its table */
	assert_int_equal(run("guide_1_table", NULL), 0);
	assert_int_equal(run("guide_2_share", NULL), 0);
	assert_int_equal(run("guide_3_wait", NULL), 0);
	assert_int_equal(run("guide_4_server", NULL), 0);
	assert_int_equal(run("guide_4_server", "IOLAYER_BACKEND=epoll"), 0);
}

/* ---- the servers: start, talk to, stop -------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int connect_retry(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timespec ts = {0, 10 * 1000 * 1000};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The server announces nothing when it listens: retry a refused
	 * connect for a bounded time. */
	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void server(const char *name, const char *backend, const char *req, const char *want)
{
	char path[PATH_MAX + 64], port[16], buf[512] = {0};
	size_t got = 0;
	pid_t pid;
	int fd, st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(port, sizeof(port), "%d", free_port());
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		alarm(60);
		execl(path, path, "--backend", backend, "--threads", "1", "--port", port,
		      (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	fd = connect_retry(atoi(port));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got < strlen(want)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, want, strlen(want));
	close(fd);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_echo_server(void **state)
{
	(void)state;
	server("echo_server", "epoll", "ping", "ping");
	if (iol_has(IOL_FEAT_IO_URING))
		server("echo_server", "uring", "ping", "ping");
}

static void test_httpd(void **state)
{
	const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

	(void)state;
	server("httpd", "epoll", req, "HTTP/1.1 200");
	if (iol_has(IOL_FEAT_IO_URING))
		server("httpd", "uring", req, "HTTP/1.1 200");
}

/* ---- the documents show the programs as they are ----------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static const char *srcdir(void)
{
	const char *s = getenv("IOLAYER_SRCDIR");

	return s && *s ? s : ".";
}

/* Each ```c block of doc must equal the examples file named just before
 * it ("`examples/NAME.c`:"), or `only` when given.  Returns the number of
 * blocks checked. */
static int check_blocks(const char *doc, const char *only)
{
	char path[PATH_MAX];
	char *text, *p;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", srcdir(), doc);
	text = slurp(path);
	assert_non_null(text);
	for (p = text; (p = strstr(p, "\n```c\n")) != NULL;) {
		char *body = p + 6, *end = strstr(body, "\n```\n"), *file, *code;
		char name[128] = {0};

		assert_non_null(end);
		if (only) {
			snprintf(name, sizeof(name), "%s", only);
		} else {
			/* the last non-empty line before the block:
			 * `examples/NAME.c`: */
			char *line = p;

			while (line > text && line[-1] == '\n')
				line--;
			while (line > text && line[-1] != '\n')
				line--;
			assert_int_equal(sscanf(line, "`examples/%127[^`]`:", name), 1);
		}
		snprintf(path, sizeof(path), "%s/examples/%s", srcdir(), name);
		file = slurp(path);
		if (!file)
			fail_msg("%s shows examples/%s, which does not exist", doc, name);
		code = strndup(body, (size_t)(end - body) + 1);
		if (strcmp(code, file) != 0)
			fail_msg("%s: the block for examples/%s differs from the file", doc, name);
		free(code);
		free(file);
		n++;
		p = end;
	}
	free(text);
	return n;
}

static void test_docs_show_the_programs(void **state)
{
	(void)state;
	assert_int_equal(check_blocks("docs/guide.md", NULL), 4);
	assert_int_equal(check_blocks("README.md", "hello.c"), 1);
}

int main(void)
{
	if (locate())
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guide_programs),
	    cmocka_unit_test(test_echo_server),
	    cmocka_unit_test(test_httpd),
	    cmocka_unit_test(test_docs_show_the_programs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
