/* SPDX-License-Identifier: MIT */
/*
 * Step 5 of iolayer demo: the same echo server on the IO pool, once per
 * backend, against a client process with 64 connections sending 64-byte
 * messages, each waiting for its echo before sending the next.  The server
 * runs on CPU 0 and the client on CPU 1 where there are two.  This is a
 * glimpse; `make bench` measures the goals properly.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "src/cli/demo.h"

#define CONNS 64
#define MSG   64

struct conn {
	iol_pool *pool;
	int fd;
	char buf[MSG];
};

static void on_recv(void *arg, int res, unsigned flags);

static void on_sent(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	(void)flags;
	if (res < 0 || iol_pool_recv(c->pool, c->fd, c->buf, MSG, 0, on_recv, c, NULL, NULL) < 0) {
		close(c->fd);
		free(c);
	}
}

static void on_recv(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	(void)flags;
	if (res <= 0 || iol_pool_send(c->pool, c->fd, c->buf, (size_t)res, MSG_WAITALL, on_sent, c,
				      NULL, NULL) < 0) {
		close(c->fd);
		free(c);
	}
}

static void on_accept(void *arg, int res, unsigned flags)
{
	iol_pool *pool = arg;
	struct conn *c;
	int one = 1;

	(void)flags;
	if (res < 0)
		return;
	setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(res);
		return;
	}
	c->pool = pool;
	c->fd = res;
	if (iol_pool_recv(pool, res, c->buf, MSG, 0, on_recv, c, NULL, NULL) < 0) {
		close(res);
		free(c);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The client: CONNS connections in lock-step echo for `secs`; writes the
 * number of round trips to `out`. */
static void client(int port, double secs, int out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct epoll_event ev, evs[CONNS];
	char msg[MSG], buf[MSG];
	int fds[CONNS], got[CONNS], ep, one = 1;
	uint64_t n = 0;
	double end;

	pin(1);
	memset(msg, 'x', sizeof(msg));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep = epoll_create1(0);
	for (int i = 0; i < CONNS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0)
			_exit(1);
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		got[i] = 0;
		if (send(fds[i], msg, MSG, 0) != MSG)
			_exit(1);
	}
	end = now_s() + secs;
	while (now_s() < end) {
		int k = epoll_wait(ep, evs, CONNS, 100);

		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32;
			ssize_t r = recv(fds[i], buf, (size_t)(MSG - got[i]), MSG_DONTWAIT);

			if (r <= 0)
				continue;
			got[i] += (int)r;
			if (got[i] == MSG) {
				got[i] = 0;
				n++;
				if (send(fds[i], msg, MSG, 0) != MSG)
					_exit(1);
			}
		}
	}
	if (write(out, &n, sizeof(n)) != sizeof(n))
		_exit(1);
	_exit(0);
}

/* Requests per second through the pool on `backend`, or a negative errno. */
static double run(int backend, double secs, const char **name)
{
	struct iol_pool_opts o = {.threads = 1, .backend = backend};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	iol_pool *pool;
	uint64_t n = 0;
	int lfd, p[2], r, st;
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 256) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0 || pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = iol_pool_create(&o, &pool);
	if (r < 0) {
		close(lfd);
		return r;
	}
	*name = iol_pool_backend(pool);
	/* the pool's thread follows this thread's affinity: pin it first */
	r = iol_pool_accept(pool, lfd, IOL_ACCEPT_MULTISHOT, on_accept, pool, NULL, NULL);
	pid = fork();
	if (pid == 0)
		client(ntohs(a.sin_port), secs, p[1]);
	close(p[1]);
	if (pid < 0 || r < 0 || read(p[0], &n, sizeof(n)) != sizeof(n))
		n = 0;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	iol_pool_destroy(pool);
	close(lfd);
	return n / secs;
}

void ioli_demo_echo(bool quick, int *failures)
{
	double secs = quick ? 0.5 : 2.5, u = 0, e;
	const char *un = "io_uring", *en = "epoll";
	cpu_set_t old;

	printf("[5/5] the IO pool: one echo server, %d connections x %d-byte messages, %.1f s on "
	       "each backend\n",
	       CONNS, MSG, secs);
	fflush(stdout);
	sched_getaffinity(0, sizeof(old), &old);
	pin(0); /* the pool thread inherits this */
	if (iol_has(IOL_FEAT_IO_URING))
		u = run(IOL_BACKEND_URING, secs, &un);
	e = run(IOL_BACKEND_EPOLL, secs, &en);
	sched_setaffinity(0, sizeof(old), &old);
	if (!iol_has(IOL_FEAT_IO_URING)) {
		printf("      io_uring is not available here (%s); epoll: %.0f req/s  %s\n",
		       iol_features()->feat[IOL_FEAT_IO_URING].reason, e,
		       e > 0 ? "[ok]" : "[FAILED]");
		*failures += !(e > 0);
		return;
	}
	printf("      %s: %.0f req/s, %s: %.0f req/s, ratio %.2f  %s\n", un, u, en, e,
	       e > 0 ? u / e : 0.0, u > 0 && e > 0 ? "[ok]" : "[FAILED]");
	if (u > 0 && e > 0)
		printf("      (loopback TCP dominates both: docs/performance.md explains, and make "
		       "bench measures the goals)\n");
	*failures += !(u > 0 && e > 0);
}
