/* SPDX-License-Identifier: MIT */
/*
 * Command line and listening socket shared by the example servers:
 *   --backend uring|epoll|auto  --threads N  --port P  [--pin]
 */
#ifndef EXAMPLES_SERVER_OPTS_H
#define EXAMPLES_SERVER_OPTS_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iolayer/pool.h"

struct server_opts {
	struct iol_pool_opts pool;
	int port;
};

static inline int server_parse(int argc, char **argv, struct server_opts *o, const char *what)
{
	memset(o, 0, sizeof(*o));
	o->port = 8080;
	o->pool.threads = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--backend") && v) {
			i++;
			if (!strcmp(v, "uring") || !strcmp(v, "io_uring"))
				o->pool.backend = IOL_BACKEND_URING;
			else if (!strcmp(v, "epoll"))
				o->pool.backend = IOL_BACKEND_EPOLL;
			else if (!strcmp(v, "auto"))
				o->pool.backend = IOL_BACKEND_AUTO;
			else
				goto usage;
		} else if (!strcmp(a, "--threads") && v) {
			o->pool.threads = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(a, "--port") && v) {
			o->port = atoi(argv[++i]);
		} else if (!strcmp(a, "--pin")) {
			o->pool.pin_cpus = true;
		} else {
			goto usage;
		}
	}
	return 0;
usage:
	fprintf(stderr,
		"usage: %s [--backend uring|epoll|auto] [--threads N] [--port P] [--pin]\n"
		"  %s on the iolayer IO pool; stops on SIGINT or SIGTERM.\n",
		argv[0], what);
	return -1;
}

/* A listening TCP socket on all addresses. */
static inline int server_listen(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons((uint16_t)port);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		perror("listen");
		return -1;
	}
	return fd;
}

/* Block SIGINT/SIGTERM (before the pool starts its threads) ... */
static inline void server_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ... and wait for one of them. */
static inline void server_wait_signal(const sigset_t *set)
{
	int sig;

	sigwait(set, &sig);
}

#endif
