/* SPDX-License-Identifier: MIT */
/*
 * A minimal HTTP/1.1 server on the iolayer IO pool: keep-alive, pipelining,
 * one fixed small response to every request.  Enough for wrk.
 *
 *   httpd --backend uring|epoll --threads N --port P
 *
 * Requests are counted by their terminating blank line (a request body is
 * not expected); the received buffer goes back to its group at once.  The
 * responses owed to a connection are sent from one static buffer, one send
 * in flight per connection, several pipelined responses per send.
 */
#include <pthread.h>

#include "examples/server_opts.h"

#define NBUFS	  1024 /* per pool thread */
#define BUFSIZE	  4096
#define MAX_BATCH 32 /* responses per send */

static const char response[] = "HTTP/1.1 200 OK\r\n"
			       "Server: iolayer\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: 13\r\n"
			       "\r\n"
			       "Hello, world\n";
#define RESPONSE_LEN (sizeof(response) - 1)

static char responses[MAX_BATCH * RESPONSE_LEN];
static unsigned group;

struct conn {
	iol_pool *pool;
	int fd;
	bool recv_armed, closing, sending;
	unsigned owed;	/* responses not yet sent */
	unsigned batch; /* responses in the send in flight */
	unsigned match; /* bytes of "\r\n\r\n" matched so far */
};

static void on_recv(void *arg, int res, unsigned flags);
static void on_sent(void *arg, int res, unsigned flags);

static void maybe_free(struct conn *c)
{
	if (c->closing && !c->sending && !c->recv_armed) {
		close(c->fd);
		free(c);
	}
}

static void arm_recv(struct conn *c)
{
	c->recv_armed =
	    iol_pool_recv_multishot(c->pool, c->fd, group, 0, on_recv, c, NULL, NULL) == 0;
	if (!c->recv_armed)
		c->closing = true;
}

static void pump(struct conn *c)
{
	if (c->sending || !c->owed || c->closing)
		return;
	c->batch = c->owed < MAX_BATCH ? c->owed : MAX_BATCH;
	if (iol_pool_send(c->pool, c->fd, responses, c->batch * RESPONSE_LEN, MSG_WAITALL, on_sent,
			  c, NULL, NULL) == 0)
		c->sending = true;
	else
		c->closing = true;
}

static void on_sent(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	c->sending = false;
	c->owed -= c->batch;
	if (res < 0)
		c->closing = true;
	pump(c);
	maybe_free(c);
}

/* Count request ends ("\r\n\r\n"), across buffer boundaries. */
static unsigned count_requests(struct conn *c, const char *p, int n)
{
	static const char end[4] = {'\r', '\n', '\r', '\n'};
	unsigned found = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] == end[c->match])
			c->match++;
		else
			c->match = p[i] == '\r' ? 1 : 0;
		if (c->match == 4) {
			found++;
			c->match = 0;
		}
	}
	return found;
}

static void on_recv(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	if (flags & IOL_CQE_BUFFER) {
		if (res > 0)
			c->owed += count_requests(c, iol_pool_buffer(c->pool, flags), res);
		iol_pool_buffer_return(c->pool, flags);
		pump(c);
	}
	if (flags & IOL_CQE_MORE)
		return;
	c->recv_armed = false;
	if (res == -ENOBUFS && !c->closing) {
		arm_recv(c); /* buffers are returned at once: there are free ones */
		return;
	}
	c->closing = true;
	maybe_free(c);
}

static void on_accept(void *arg, int res, unsigned flags)
{
	iol_pool *pool = arg;
	struct conn *c;
	int one = 1;

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
	arm_recv(c);
	maybe_free(c);
}

int main(int argc, char **argv)
{
	struct server_opts o;
	iol_pool *pool;
	sigset_t sigs;
	int lfd, r;

	if (server_parse(argc, argv, &o, "an HTTP/1.1 server with one fixed response") < 0)
		return 2;
	for (int i = 0; i < MAX_BATCH; i++)
		memcpy(responses + i * RESPONSE_LEN, response, RESPONSE_LEN);
	server_block_signals(&sigs);
	lfd = server_listen(o.port);
	if (lfd < 0)
		return 1;
	r = iol_pool_create(&o.pool, &pool);
	if (r < 0) {
		fprintf(stderr, "iol_pool_create: %s\n", strerror(-r));
		return 1;
	}
	r = iol_pool_buffers_create(pool, NBUFS, BUFSIZE, &group);
	if (r == 0)
		r = iol_pool_accept(pool, lfd, IOL_ACCEPT_MULTISHOT, on_accept, pool, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "httpd: %s\n", strerror(-r));
		return 1;
	}
	printf("httpd: port %d, backend %s, %u threads\n", o.port, iol_pool_backend(pool),
	       iol_pool_threads(pool));
	fflush(stdout);
	server_wait_signal(&sigs);
	iol_pool_destroy(pool);
	close(lfd);
	return 0;
}
