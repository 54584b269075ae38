/* SPDX-License-Identifier: MIT */
/*
 * An echo server on the iolayer IO pool.
 *
 *   echo_server --backend uring|epoll --threads N --port P
 *
 * One multishot accept; per connection one multishot recv into a provided
 * buffer group; every chunk received is sent back from the same buffer,
 * which goes back to the group when its send completes.  Sends on one
 * connection are kept in order (one in flight, the rest queued), as with
 * any asynchronous API.  All of a connection's callbacks run on the same
 * pool thread (fd affinity), so a connection needs no lock.
 */
#include <pthread.h>

#include "examples/server_opts.h"

#define NBUFS	  4096 /* per pool thread */
#define BUFSIZE	  2048
#define QUEUE_MAX 64

struct conn {
	iol_pool *pool;
	int fd;
	bool recv_armed, closing, sending, waiting;
	struct conn *next_waiting; /* waiting for buffers (ENOBUFS) */
	unsigned qh, qt;	   /* queued chunks: buffer flags and length */
	unsigned qflags[QUEUE_MAX];
	int qlen[QUEUE_MAX];
};

static unsigned group;
/* Per pool thread: connections whose recv ran out of buffers.  Buffers
 * are only ever held by queued sends of this thread's connections, so the
 * next send completion brings one back. */
static __thread struct conn *waiting;

static void on_recv(void *arg, int res, unsigned flags);

static void arm_recv(struct conn *c)
{
	int r = iol_pool_recv_multishot(c->pool, c->fd, group, 0, on_recv, c, NULL, NULL);

	c->recv_armed = r == 0;
	if (r < 0)
		c->closing = true;
}

static void maybe_free(struct conn *c)
{
	if (c->closing && !c->sending && !c->recv_armed && !c->waiting && c->qh == c->qt) {
		close(c->fd);
		free(c);
	}
}

static void on_sent(void *arg, int res, unsigned flags);

static void pump(struct conn *c)
{
	unsigned i;

	if (c->sending || c->qh == c->qt)
		return;
	i = c->qh % QUEUE_MAX;
	if (iol_pool_send(c->pool, c->fd, iol_pool_buffer(c->pool, c->qflags[i]),
			  (size_t)c->qlen[i], MSG_WAITALL, on_sent, c, NULL, NULL) == 0)
		c->sending = true;
	else
		c->closing = true;
}

static void on_sent(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;
	struct conn *w;

	iol_pool_buffer_return(c->pool, c->qflags[c->qh++ % QUEUE_MAX]);
	c->sending = false;
	if (res < 0)
		c->closing = true;
	/* A buffer came back: recvs that ran out may go on. */
	while ((w = waiting) != NULL) {
		waiting = w->next_waiting;
		w->waiting = false;
		if (!w->closing)
			arm_recv(w);
		maybe_free(w);
	}
	if (c->closing) {
		while (c->qh != c->qt) /* drop what was not sent */
			iol_pool_buffer_return(c->pool, c->qflags[c->qh++ % QUEUE_MAX]);
	} else {
		pump(c);
	}
	maybe_free(c);
}

static void on_recv(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	if (flags & IOL_CQE_BUFFER) {
		if (res > 0 && !c->closing && c->qt - c->qh < QUEUE_MAX) {
			c->qflags[c->qt % QUEUE_MAX] = flags;
			c->qlen[c->qt++ % QUEUE_MAX] = res;
			pump(c);
		} else {
			iol_pool_buffer_return(c->pool, flags);
		}
	}
	if (flags & IOL_CQE_MORE)
		return;
	c->recv_armed = false;
	if (res == -ENOBUFS && !c->closing) {
		c->waiting = true;
		c->next_waiting = waiting;
		waiting = c;
		return;
	}
	c->closing = true; /* end of stream or an error */
	maybe_free(c);
}

static void on_accept(void *arg, int res, unsigned flags)
{
	iol_pool *pool = arg;
	struct conn *c;
	int one = 1;

	if (res < 0) {
		if (!(flags & IOL_CQE_MORE) && res != -ECANCELED)
			fprintf(stderr, "accept: %s\n", strerror(-res));
		return;
	}
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

	if (server_parse(argc, argv, &o, "an echo server") < 0)
		return 2;
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
		fprintf(stderr, "echo_server: %s\n", strerror(-r));
		return 1;
	}
	printf("echo_server: port %d, backend %s, %u threads\n", o.port, iol_pool_backend(pool),
	       iol_pool_threads(pool));
	fflush(stdout);
	server_wait_signal(&sigs);
	iol_pool_destroy(pool); /* cancels everything; connections are freed as they end */
	close(lfd);
	return 0;
}
