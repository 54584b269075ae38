/* SPDX-License-Identifier: MIT */
/*
 * Blocking worker threads for the epoll backend's file IO.
 *
 * Regular files are always "ready" to epoll, so reads that miss the page
 * cache, writes that must allocate, fsync, openat and statx block; they run
 * here, and their results return through the owning thread's inbox.  (A
 * read or write is first tried inline with RWF_NOWAIT: a cached read never
 * comes here.)  One queue per pool; an operation still queued can be
 * cancelled, one already in its system call completes with its result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uring/pool_internal.h"

struct ioli_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ioli_op *head, *tail;
	bool stop;
	unsigned n;
	pthread_t tids[];
};

int ioli_exec_blocking(struct ioli_op *op)
{
	ssize_t r;

	do {
		switch (op->kind) {
		case IOLI_OP_READ:
			r = op->u.io.off < 0
				? read(op->u.io.fd, op->u.io.buf, op->u.io.len)
				: pread(op->u.io.fd, op->u.io.buf, op->u.io.len, op->u.io.off);
			break;
		case IOLI_OP_WRITE:
			r = op->u.io.off < 0
				? write(op->u.io.fd, op->u.io.buf, op->u.io.len)
				: pwrite(op->u.io.fd, op->u.io.buf, op->u.io.len, op->u.io.off);
			break;
		case IOLI_OP_READV:
			r = preadv2(op->u.vec.fd, op->u.vec.iov, (int)op->u.vec.cnt, op->u.vec.off,
				    0);
			break;
		case IOLI_OP_WRITEV:
			r = pwritev2(op->u.vec.fd, op->u.vec.iov, (int)op->u.vec.cnt, op->u.vec.off,
				     0);
			break;
		case IOLI_OP_FSYNC:
			r = (op->u.fsync.flags & IOL_FSYNC_DATASYNC) ? fdatasync(op->u.fsync.fd)
								     : fsync(op->u.fsync.fd);
			break;
		case IOLI_OP_OPENAT:
			r = openat(op->u.path.dirfd, op->u.path.path, op->u.path.flags,
				   op->u.path.mode);
			break;
		case IOLI_OP_STATX:
			r = statx(op->u.path.dirfd, op->u.path.path, op->u.path.flags,
				  op->u.path.mask, op->u.path.stx);
			break;
		default:
			errno = EINVAL;
			r = -1;
			break;
		}
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : (int)r;
}

static void *worker_main(void *p)
{
	struct ioli_workers *w = p;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct ioli_op *op;

		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		op = w->head;
		if (!op)
			break;
		w->head = op->rnext;
		if (!w->head)
			w->tail = NULL;
		op->rnext = NULL;
		pthread_mutex_unlock(&w->lock);
		op->res = ioli_exec_blocking(op);
		op->dflags = 0;
		ioli_op_post_done(op);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int ioli_workers_start(iol_pool *pool, unsigned n)
{
	struct ioli_workers *w = calloc(1, sizeof(*w) + n * sizeof(pthread_t));

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (; w->n < n; w->n++) {
		int r = pthread_create(&w->tids[w->n], NULL, worker_main, w);

		if (r) {
			pool->workers = w;
			ioli_workers_stop(pool);
			return -r;
		}
	}
	pool->workers = w;
	return 0;
}

void ioli_workers_stop(iol_pool *pool)
{
	struct ioli_workers *w = pool->workers;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->tids[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	pool->workers = NULL;
}

void ioli_workers_queue(iol_pool *pool, struct ioli_op *op)
{
	struct ioli_workers *w = pool->workers;

	op->where = IOLI_W_WORKER;
	op->rnext = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->rnext = op;
	else
		w->head = op;
	w->tail = op;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

bool ioli_workers_cancel(iol_pool *pool, struct ioli_op *op)
{
	struct ioli_workers *w = pool->workers;
	struct ioli_op *prev = NULL;
	bool found = false;

	pthread_mutex_lock(&w->lock);
	for (struct ioli_op *o = w->head; o; prev = o, o = o->rnext) {
		if (o != op)
			continue;
		if (prev)
			prev->rnext = o->rnext;
		else
			w->head = o->rnext;
		if (w->tail == o)
			w->tail = prev;
		found = true;
		break;
	}
	pthread_mutex_unlock(&w->lock);
	return found;
}
