/* SPDX-License-Identifier: MIT */
/*
 * Operations: their slab and ids, which thread runs them, the hand-off
 * through a thread's inbox, delivery of callbacks and cancellation.
 *
 * Each thread has its own slab of struct ioli_op in chunks that are never
 * freed while the pool lives, so an id (generation, thread, slot) can be
 * checked from any thread by reading one atomic generation.  The owner
 * allocates and frees from a private free list without locks; other threads
 * allocate from a shared list under a mutex, which the owner refills.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "uring/pool_internal.h"

__thread struct ioli_thread *ioli_self;

/* Generations are 24 bits: odd while the operation is live, even while it
 * is free, so an id (always odd) never names a free slot. */
#define GEN_MASK 0xffffffu

static void gen_step(struct ioli_op *op)
{
	uint32_t g = atomic_load_explicit(&op->gen, memory_order_relaxed);

	atomic_store_explicit(&op->gen, (g + 1) & GEN_MASK, memory_order_release);
}

uint64_t ioli_op_id(const struct ioli_op *op)
{
	uint32_t gen = atomic_load_explicit(&op->gen, memory_order_relaxed);

	return ((uint64_t)gen << 40) | ((uint64_t)op->thread->index << 32) | op->slot;
}

/* ------------------------------------------------------------------ */
/* Slab                                                                */
/* ------------------------------------------------------------------ */

void ioli_slab_init(struct ioli_slab *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void ioli_slab_fini(struct ioli_slab *s)
{
	unsigned n = atomic_load(&s->nchunks);

	for (unsigned i = 0; i < n; i++)
		free(atomic_load(&s->chunks[i]));
	pthread_mutex_destroy(&s->lock);
}

/* Add a chunk of fresh operations to *list (slab lock held). */
static int slab_grow(struct ioli_thread *t, struct ioli_op **list, unsigned *count)
{
	struct ioli_slab *s = &t->slab;
	unsigned n = atomic_load_explicit(&s->nchunks, memory_order_relaxed);
	struct ioli_op *chunk;

	if (n >= IOLI_MAX_CHUNKS)
		return -ENOMEM;
	chunk = aligned_alloc(64, IOLI_CHUNK_OPS * sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	memset(chunk, 0, IOLI_CHUNK_OPS * sizeof(*chunk));
	for (unsigned i = IOLI_CHUNK_OPS; i-- > 0;) {
		struct ioli_op *op = &chunk[i];

		op->thread = t;
		op->slot = (n << IOLI_CHUNK_SHIFT) | i;
		atomic_init(&op->gen, 0);
		op->rnext = *list;
		*list = op;
	}
	*count += IOLI_CHUNK_OPS;
	atomic_store_explicit(&s->chunks[n], chunk, memory_order_release);
	atomic_store_explicit(&s->nchunks, n + 1, memory_order_release);
	return 0;
}

struct ioli_op *ioli_op_alloc(struct ioli_thread *t)
{
	struct ioli_slab *s = &t->slab;
	struct ioli_op *op;

	if (ioli_self == t) {
		if (!s->local) {
			pthread_mutex_lock(&s->lock);
			if (s->shared) {
				s->local = s->shared;
				s->nlocal = atomic_load(&s->nshared);
				s->shared = NULL;
				atomic_store(&s->nshared, 0);
			} else {
				slab_grow(t, &s->local, &s->nlocal);
			}
			pthread_mutex_unlock(&s->lock);
			if (!s->local)
				return NULL;
		}
		op = s->local;
		s->local = op->rnext;
		s->nlocal--;
	} else {
		pthread_mutex_lock(&s->lock);
		if (!s->shared) {
			unsigned n = atomic_load(&s->nshared);

			slab_grow(t, &s->shared, &n);
			atomic_store(&s->nshared, n);
		}
		op = s->shared;
		if (op) {
			s->shared = op->rnext;
			atomic_fetch_sub(&s->nshared, 1);
		}
		pthread_mutex_unlock(&s->lock);
		if (!op)
			return NULL;
	}
	op->rnext = NULL;
	gen_step(op); /* live: odd */
	return op;
}

void ioli_op_free(struct ioli_thread *t, struct ioli_op *op)
{
	struct ioli_slab *s = &t->slab;

	gen_step(op); /* free: even */
	op->where = IOLI_W_FREE;
	if (ioli_self == t) {
		op->rnext = s->local;
		s->local = op;
		s->nlocal++;
	} else {
		pthread_mutex_lock(&s->lock);
		op->rnext = s->shared;
		s->shared = op;
		atomic_fetch_add(&s->nshared, 1);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Owner: keep some free operations where foreign submitters find them, so
 * that their allocations do not grow the slab for ever. */
void ioli_slab_rebalance(struct ioli_slab *s)
{
	if (s->nlocal <= 64 || atomic_load_explicit(&s->nshared, memory_order_relaxed) >= 16)
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < 32 && s->local; i++) {
		struct ioli_op *op = s->local;

		s->local = op->rnext;
		s->nlocal--;
		op->rnext = s->shared;
		s->shared = op;
		atomic_fetch_add(&s->nshared, 1);
	}
	pthread_mutex_unlock(&s->lock);
}

struct ioli_op *ioli_op_lookup(struct ioli_thread *t, uint32_t slot, uint32_t gen)
{
	unsigned c = slot >> IOLI_CHUNK_SHIFT;
	struct ioli_op *chunk;
	struct ioli_op *op;

	if (c >= atomic_load_explicit(&t->slab.nchunks, memory_order_acquire))
		return NULL;
	chunk = atomic_load_explicit(&t->slab.chunks[c], memory_order_acquire);
	if (!chunk)
		return NULL;
	op = &chunk[slot & (IOLI_CHUNK_OPS - 1)];
	if (atomic_load_explicit(&op->gen, memory_order_acquire) != gen)
		return NULL;
	return op;
}

/* ------------------------------------------------------------------ */
/* Submission                                                          */
/* ------------------------------------------------------------------ */

static struct ioli_thread *choose_thread(iol_pool *pool, int fd)
{
	if (fd >= 0)
		return &pool->threads[(unsigned)fd % pool->nthreads];
	if (ioli_self && ioli_self->pool == pool)
		return ioli_self;
	return &pool->threads[atomic_fetch_add_explicit(&pool->rr, 1, memory_order_relaxed) %
			      pool->nthreads];
}

int ioli_op_begin(iol_pool *pool, int kind, int fd, iol_cb cb, void *arg,
		  const struct iol_op_opts *opts, struct ioli_op **out)
{
	struct ioli_thread *t;
	struct ioli_op *op;
	int64_t deadline = 0;

	if (!pool || !cb)
		return -EINVAL;
	if (ioli_pool_forked(pool))
		return -EBADF;
	if (opts) {
		if (opts->flags & ~IOL_OP_ON_THREAD)
			return -EINVAL;
		if (opts->deadline_ns < 0)
			return -EINVAL;
		if ((opts->flags & IOL_OP_ON_THREAD) && opts->thread >= pool->nthreads)
			return -EINVAL;
		if (opts->deadline_ns > 0)
			deadline = ioli_ns_add_sat(ioli_now_ns(), opts->deadline_ns);
	}
	if (atomic_load_explicit(&pool->stopping, memory_order_acquire))
		return -ESHUTDOWN;
	if (opts && (opts->flags & IOL_OP_ON_THREAD))
		t = &pool->threads[opts->thread];
	else
		t = choose_thread(pool, fd);
	op = ioli_op_alloc(t);
	if (!op)
		return -ENOMEM;
	op->cb = cb;
	op->arg = arg;
	op->kind = (uint8_t)kind;
	op->flags = 0;
	op->res = 0;
	op->done = 0;
	op->dflags = 0;
	op->cancel_res = 0;
	op->deadline = deadline;
	if (deadline)
		op->flags |= IOLI_F_DEADLINE;
	memset(&op->u, 0, sizeof(op->u));
	memset(&op->b, 0, sizeof(op->b));
	*out = op;
	return 0;
}

static void op_release(struct ioli_op *op)
{
	switch (op->kind) {
	case IOLI_OP_OPENAT:
	case IOLI_OP_STATX:
		free(op->u.path.path);
		op->u.path.path = NULL;
		break;
	case IOLI_OP_CONNECT:
		free(op->u.conn.addr);
		op->u.conn.addr = NULL;
		break;
	case IOLI_OP_FUTEX:
		if (op->u.futex.v != &op->u.futex.one)
			free(op->u.futex.v);
		op->u.futex.v = NULL;
		break;
	default:
		break;
	}
}

void ioli_op_abort(struct ioli_op *op)
{
	op_release(op);
	ioli_op_free(op->thread, op);
}

void ioli_thread_wake(struct ioli_thread *t)
{
	uint64_t one = 1;
	ssize_t r;

	do
		r = write(t->wake_fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}

int ioli_thread_post(struct ioli_thread *t, struct ioli_msg *m)
{
	int r = ioli_mpsc_push(&t->inbox, m);

	if (r < 0)
		return -ESHUTDOWN;
	if (r == 1) /* the inbox was empty: the loop may be asleep */
		ioli_thread_wake(t);
	return 0;
}

int ioli_op_submit(struct ioli_op *op, uint64_t *id)
{
	struct ioli_thread *t = op->thread;
	int r;

	/* The id is stored before the operation can start, so that its own
	 * callback may read it. */
	if (id)
		*id = ioli_op_id(op);
	if (ioli_self == t) {
		t->live++;
		t->pool->be->start(t, op);
		return 0;
	}
	op->where = IOLI_W_QUEUED;
	op->msg.type = IOLI_MSG_SUBMIT;
	r = ioli_thread_post(t, &op->msg);
	if (r < 0)
		ioli_op_abort(op);
	return r;
}

/* ------------------------------------------------------------------ */
/* Completion                                                          */
/* ------------------------------------------------------------------ */

void ioli_op_deliver(struct ioli_thread *t, struct ioli_op *op, int res, unsigned flags)
{
	iol_cb cb;
	void *arg;

	if (flags & IOL_CQE_MORE) {
		op->cb(op->arg, res, flags);
		return;
	}
	cb = op->cb;
	arg = op->arg;
	if (t->pool->be == &ioli_epoll_backend && op->b.ep.heap_idx)
		ioli_heap_remove(t, op);
	if (t->pool->be == &ioli_uring_backend && op->b.ur.vec) {
		free(op->b.ur.vec);
		op->b.ur.vec = NULL;
	}
	op_release(op);
	t->live--;
	ioli_op_free(t, op);
	/* The id is dead before the callback: it may cancel it (-ENOENT) or
	 * reuse the slot for its next operation. */
	cb(arg, res, flags);
}

void ioli_op_finish(struct ioli_thread *t, struct ioli_op *op, int res, unsigned flags)
{
	op->res = res;
	op->dflags = flags;
	op->where = IOLI_W_READY;
	op->rnext = NULL;
	if (t->ready_tail)
		t->ready_tail->rnext = op;
	else
		t->ready_head = op;
	t->ready_tail = op;
}

unsigned ioli_thread_run_ready(struct ioli_thread *t)
{
	struct ioli_op *op = t->ready_head;
	unsigned n = 0;

	t->ready_head = t->ready_tail = NULL;
	while (op) {
		struct ioli_op *next = op->rnext;

		ioli_op_deliver(t, op, op->res, op->dflags);
		op = next;
		n++;
	}
	return n;
}

void ioli_op_post_done(struct ioli_op *op)
{
	struct ioli_thread *t = op->thread;

	op->msg.type = IOLI_MSG_DONE;
	/* The inbox closes only when nothing is live, and op is live: this
	 * cannot fail. */
	(void)ioli_thread_post(t, &op->msg);
}

/* ------------------------------------------------------------------ */
/* Cancellation                                                        */
/* ------------------------------------------------------------------ */

int ioli_op_cancel_local(struct ioli_thread *t, struct ioli_op *op, int why)
{
	if (op->where == IOLI_W_FREE)
		return -ENOENT;
	if ((op->flags & IOLI_F_CANCELED) || op->where == IOLI_W_READY)
		return 0;
	op->flags |= IOLI_F_CANCELED;
	op->cancel_res = why;
	if (op->where != IOLI_W_QUEUED)
		t->pool->be->cancel(t, op);
	return 0;
}

int iol_pool_cancel(iol_pool *pool, uint64_t id)
{
	uint32_t gen = (uint32_t)(id >> 40), slot = (uint32_t)id;
	unsigned ti = (unsigned)(id >> 32) & 0xff;
	struct ioli_cancel_msg *m;
	struct ioli_thread *t;
	struct ioli_op *op;
	int r;

	if (!pool || id == 0)
		return -EINVAL;
	if (ioli_pool_forked(pool))
		return -EBADF;
	if (!(gen & 1))
		return -ENOENT; /* never a live operation's */
	if (ti >= pool->nthreads)
		return -ENOENT;
	if (atomic_load_explicit(&pool->stopping, memory_order_acquire))
		return -ESHUTDOWN;
	t = &pool->threads[ti];
	op = ioli_op_lookup(t, slot, gen);
	if (!op)
		return -ENOENT;
	if (ioli_self == t)
		return ioli_op_cancel_local(t, op, -ECANCELED);
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->msg.type = IOLI_MSG_CANCEL;
	m->slot = slot;
	m->gen = gen;
	r = ioli_thread_post(t, &m->msg);
	if (r < 0)
		free(m);
	return r;
}

void ioli_thread_loop_begin(struct ioli_thread *t)
{
	if (!t->stopping && atomic_load_explicit(&t->pool->stopping, memory_order_acquire))
		t->stopping = true;
	ioli_thread_drain_inbox(t);
	if (t->stopping && !t->cancelled_all)
		ioli_thread_cancel_all(t);
	ioli_thread_run_ready(t);
}

void ioli_thread_cancel_all(struct ioli_thread *t)
{
	unsigned n = atomic_load(&t->slab.nchunks);

	for (unsigned c = 0; c < n; c++) {
		struct ioli_op *chunk = atomic_load(&t->slab.chunks[c]);

		for (unsigned i = 0; i < IOLI_CHUNK_OPS; i++) {
			struct ioli_op *op = &chunk[i];

			if (op->where != IOLI_W_FREE && op->where != IOLI_W_QUEUED &&
			    op->where != IOLI_W_READY)
				ioli_op_cancel_local(t, op, -ECANCELED);
		}
	}
	t->cancelled_all = true;
}

/* ------------------------------------------------------------------ */
/* Inbox                                                               */
/* ------------------------------------------------------------------ */

static void handle_msg(struct ioli_thread *t, struct ioli_msg *m, bool closing)
{
	struct ioli_op *op = (struct ioli_op *)m; /* msg is op's first member */

	switch (m->type) {
	case IOLI_MSG_SUBMIT:
		t->live++;
		if (op->flags & IOLI_F_CANCELED)
			ioli_op_finish(t, op, op->cancel_res, 0);
		else if (t->stopping || closing)
			ioli_op_finish(t, op, -ECANCELED, 0);
		else
			t->pool->be->start(t, op);
		break;
	case IOLI_MSG_DONE:
		if (op->kind == IOLI_OP_FUTEX)
			ioli_futex_done(t, op); /* may wait again */
		else
			ioli_op_deliver(t, op, op->res, op->dflags);
		break;
	case IOLI_MSG_CANCEL: {
		struct ioli_cancel_msg *c = (struct ioli_cancel_msg *)m;
		struct ioli_op *target = ioli_op_lookup(t, c->slot, c->gen);

		if (target)
			ioli_op_cancel_local(t, target, -ECANCELED);
		free(c);
		break;
	}
	case IOLI_MSG_BUFRET:
		ioli_tbufs_return_msg(t, m);
		break;
	default:
		break;
	}
}

unsigned ioli_thread_drain_inbox(struct ioli_thread *t)
{
	struct ioli_msg *m = ioli_mpsc_take(&t->inbox);
	unsigned n = 0;

	while (m) {
		struct ioli_msg *next = m->next;

		handle_msg(t, m, false);
		m = next;
		n++;
	}
	ioli_slab_rebalance(&t->slab);
	return n;
}

bool ioli_thread_try_close(struct ioli_thread *t)
{
	struct ioli_msg *m;

	if (t->live || t->ready_head)
		return false;
	m = ioli_mpsc_close(&t->inbox);
	while (m) {
		struct ioli_msg *next = m->next;

		handle_msg(t, m, true);
		m = next;
	}
	ioli_thread_run_ready(t);
	return true;
}
