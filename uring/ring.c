/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend: ring setup, SQE acquisition, the completion loop.
 *
 * Each pool thread owns one ring, set up on that thread with the best flags
 * the probe found: SINGLE_ISSUER|DEFER_TASKRUN (completions are posted only
 * when this thread asks, no IPIs), else COOP_TASKRUN, else none; SQPOLL only
 * when asked.  Callbacks on this thread prepare SQEs without locks or system
 * calls; the loop submits them in one io_uring_enter() that also waits.
 *
 * Never an error for lack of room: a full SQ is submitted and retried; CQEs
 * are copied out of the CQ in batches before any callback runs; with the
 * kernel's NODROP overflow list the loop flushes it (io_uring_get_events)
 * whenever the ring says it overflowed, and a submit refused with -EBUSY
 * moves CQEs to a user-space backlog first.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iolayer/probe.h"
#include "src/compat.h"
#include "uring/ring.h"

/* ------------------------------------------------------------------ */
/* SQEs                                                                */
/* ------------------------------------------------------------------ */

/* Move every CQE out of the CQ (and the kernel's overflow list) into the
 * backlog, so that the kernel can post more. */
static void stash_cqes(struct ioli_thread *t)
{
	struct ioli_uring *u = ioli_uring(t);

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			if (u->nbacklog == u->capbacklog) {
				unsigned cap = u->capbacklog ? 2 * u->capbacklog : 256;
				struct ioli_cqe *nb = realloc(u->backlog, cap * sizeof(*nb));

				if (!nb)
					break; /* leave the rest in the CQ */
				u->backlog = nb;
				u->capbacklog = cap;
			}
			u->backlog[u->nbacklog++] =
			    (struct ioli_cqe){cqe->user_data, cqe->res, cqe->flags};
			n++;
		}
		io_uring_cq_advance(&u->ring, n);
		if (!io_uring_cq_has_overflow(&u->ring) || n == 0)
			break;
		io_uring_get_events(&u->ring);
	}
}

/* Submit what is queued to make room in the SQ. */
static void flush_sq(struct ioli_thread *t)
{
	struct ioli_uring *u = ioli_uring(t);
	int r;

	IOLI_STAT_INC(t, sq_full);
	r = io_uring_submit(&u->ring);
	if (r == -EBUSY || r == -EAGAIN) {
		IOLI_STAT_INC(t, submit_busy);
		stash_cqes(t);
		if (io_uring_get_events(&u->ring) < 0)
			sched_yield();
	} else if (r >= 0 && (u->setup_flags & IORING_SETUP_SQPOLL)) {
		io_uring_sqring_wait(&u->ring);
	}
}

static void reserve(struct ioli_thread *t, unsigned n)
{
	struct ioli_uring *u = ioli_uring(t);

	while (io_uring_sq_space_left(&u->ring) < n)
		flush_sq(t);
}

struct io_uring_sqe *ioli_ring_sqe(struct ioli_thread *t)
{
	reserve(t, 1);
	return io_uring_get_sqe(&ioli_uring(t)->ring);
}

struct io_uring_sqe *ioli_ring_op_sqe(struct ioli_thread *t, struct ioli_op *op)
{
	reserve(t, (op->flags & IOLI_F_DEADLINE) ? 2 : 1);
	return io_uring_get_sqe(&ioli_uring(t)->ring);
}

void ioli_ring_op_commit(struct ioli_thread *t, struct ioli_op *op, struct io_uring_sqe *sqe,
			 unsigned tag)
{
	uint64_t ud = ioli_ud(op, tag);

	io_uring_sqe_set_data64(sqe, ud);
	op->b.ur.cur_ud = ud;
	op->b.ur.pending++;
	op->where = IOLI_W_KERNEL;
	if (op->flags & IOLI_F_DEADLINE) {
		/* Room was reserved with the SQE, so this one is adjacent. */
		struct io_uring_sqe *lsqe = io_uring_get_sqe(&ioli_uring(t)->ring);

		sqe->flags |= IOSQE_IO_LINK;
		ioli_ns_to_ts(op->deadline, &op->b.ur.ts);
		io_uring_prep_link_timeout(lsqe, &op->b.ur.ts, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(lsqe, ioli_ud(op, IOLI_TAG_LINK));
		op->b.ur.pending++;
	}
}

void ioli_ring_decide(struct ioli_op *op, int res, unsigned flags)
{
	op->flags |= IOLI_F_DECIDED;
	op->res = res;
	op->dflags = flags;
}

void ioli_ring_poll_retry(struct ioli_thread *t, struct ioli_op *op, int fd, unsigned mask)
{
	struct io_uring_sqe *sqe;

	if (op->flags & IOLI_F_CANCELED) {
		ioli_ring_decide(op, op->cancel_res, 0);
		return;
	}
	sqe = ioli_ring_op_sqe(t, op);
	io_uring_prep_poll_add(sqe, fd, mask);
	op->flags |= IOLI_F_POLLED;
	ioli_ring_op_commit(t, op, sqe, IOLI_TAG_POLL);
}

/* ------------------------------------------------------------------ */
/* Provided-buffer rings                                               */
/* ------------------------------------------------------------------ */

int ioli_ring_register_bufs(struct ioli_thread *t, struct ioli_tbufs *b)
{
	struct ioli_uring *u = ioli_uring(t);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = (b->count * sizeof(struct io_uring_buf) + page - 1) & ~(page - 1);
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	int mask = io_uring_buf_ring_mask(b->count);
	int r;

	br = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED)
		return -ENOMEM;
	io_uring_buf_ring_init(br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br;
	reg.ring_entries = b->count;
	reg.bgid = (uint16_t)b->group;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0) {
		munmap(br, bytes);
		return r;
	}
	for (unsigned i = 0; i < b->count; i++)
		io_uring_buf_ring_add(br, b->mem + (size_t)i * b->size, b->size, (unsigned short)i,
				      mask, (int)i);
	io_uring_buf_ring_advance(br, (int)b->count);
	b->br = br;
	b->br_bytes = bytes;
	return 0;
}

void ioli_ring_put_buf(struct ioli_thread *t, struct ioli_tbufs *b, unsigned bid)
{
	io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * b->size, b->size, (unsigned short)bid,
			      io_uring_buf_ring_mask(b->count), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

/* ------------------------------------------------------------------ */
/* Issue and completion                                                */
/* ------------------------------------------------------------------ */

int ioli_uring_issue(struct ioli_thread *t, struct ioli_op *op)
{
	if (ioli_op_is_file(op->kind))
		return ioli_uring_issue_file(t, op);
	switch (op->kind) {
	case IOLI_OP_TIMER:
		return ioli_uring_issue_timer(t, op);
	case IOLI_OP_FUTEX:
		return ioli_uring_issue_futex(t, op);
	default:
		return ioli_uring_issue_net(t, op);
	}
}

static void arm_wake(struct ioli_thread *t)
{
	struct ioli_uring *u = ioli_uring(t);
	struct io_uring_sqe *sqe = ioli_ring_sqe(t);

	io_uring_prep_read(sqe, t->wake_fd, &u->wake_buf, sizeof(u->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, IOLI_TAG_WAKE);
}

static int final_res(const struct ioli_op *op)
{
	int res = op->res;

	if (res == -ECANCELED && (op->flags & IOLI_F_TIMED_OUT))
		res = -ETIMEDOUT;
	if (res < 0 && op->done > 0)
		res = (int)op->done;
	return res;
}

static void final(struct ioli_thread *t, struct ioli_op *op)
{
	ioli_op_deliver(t, op, final_res(op), op->dflags);
}

static void on_cqe(struct ioli_thread *t, uint64_t ud, int res, unsigned cflags)
{
	unsigned tag = ud & 0xff;
	struct ioli_op *op;

	if (tag == IOLI_TAG_WAKE) {
		arm_wake(t);
		return;
	}
	if (tag != IOLI_TAG_MAIN && tag != IOLI_TAG_LINK && tag != IOLI_TAG_POLL)
		return;
	op = ioli_op_lookup(t, (uint32_t)(ud >> 8), (uint32_t)(ud >> 40));
	if (!op || op->where != IOLI_W_KERNEL)
		return;
	switch (tag) {
	case IOLI_TAG_LINK:
		/* -ECANCELED: the operation finished first.  Anything else
		 * means the timeout fired: -ETIME, or what the cancellation
		 * returned (futex cancel gives a count, 1). */
		op->b.ur.pending--;
		if (res != -ECANCELED)
			op->flags |= IOLI_F_TIMED_OUT;
		break;
	case IOLI_TAG_POLL:
		op->b.ur.pending--;
		op->flags &= ~IOLI_F_POLLED;
		if (op->flags & IOLI_F_DECIDED)
			break;
		if (op->flags & IOLI_F_CANCELED) {
			ioli_ring_decide(op, op->cancel_res, 0);
		} else if (res < 0) {
			ioli_ring_decide(op, res, 0);
		} else {
			int r = ioli_uring_issue(t, op);

			if (r < 0)
				ioli_ring_decide(op, r, 0);
		}
		break;
	default:
		if (!(cflags & IORING_CQE_F_MORE))
			op->b.ur.pending--;
		if (ioli_op_is_file(op->kind)) {
			ioli_uring_cqe_file(t, op, res, cflags);
			break;
		}
		switch (op->kind) {
		case IOLI_OP_TIMER:
			ioli_uring_cqe_timer(t, op, res, cflags);
			break;
		case IOLI_OP_FUTEX:
			ioli_uring_cqe_futex(t, op, res, cflags);
			break;
		default:
			ioli_uring_cqe_net(t, op, res, cflags);
			break;
		}
		break;
	}
	if ((op->flags & IOLI_F_DECIDED) && op->b.ur.pending == 0)
		final(t, op);
}

/* Handle every CQE available now, backlog first.  Returns how many. */
static unsigned reap(struct ioli_thread *t)
{
	struct ioli_uring *u = ioli_uring(t);
	unsigned total = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		while (u->nbacklog) {
			/* Take the backlog as a whole: callbacks may add to it. */
			struct ioli_cqe *bl = u->backlog;
			unsigned nb = u->nbacklog;

			u->backlog = NULL;
			u->nbacklog = u->capbacklog = 0;
			for (unsigned i = 0; i < nb; i++)
				on_cqe(t, bl[i].ud, bl[i].res, bl[i].flags);
			free(bl);
			total += nb;
		}
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			u->batch[n++] = (struct ioli_cqe){cqe->user_data, cqe->res, cqe->flags};
			if (n == IOLI_CQE_BATCH)
				break;
		}
		io_uring_cq_advance(&u->ring, n);
		for (unsigned i = 0; i < n; i++)
			on_cqe(t, u->batch[i].ud, u->batch[i].res, u->batch[i].flags);
		total += n;
		if (io_uring_cq_has_overflow(&u->ring)) {
			IOLI_STAT_INC(t, cq_overflow);
			io_uring_get_events(&u->ring);
			continue;
		}
		if (n < IOLI_CQE_BATCH && !u->nbacklog)
			return total;
	}
}

/* ------------------------------------------------------------------ */
/* The backend                                                         */
/* ------------------------------------------------------------------ */

static int setup(struct ioli_uring *u, const struct iol_pool_opts *o, unsigned flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	p.cq_entries = o->ring_entries * 4;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 50; /* ms */
	u->setup_flags = p.flags;
	return io_uring_queue_init_params(o->ring_entries, &u->ring, &p);
}

static int uring_thread_init(struct ioli_thread *t)
{
	const struct iol_pool_opts *o = &t->pool->opts;
	struct ioli_uring *u = calloc(1, sizeof(*u));
	unsigned flags = 0;
	int r;

	if (!u)
		return -ENOMEM;
	if (o->sqpoll && iol_has(IOL_FEAT_URING_SQPOLL)) {
		flags = IORING_SETUP_SQPOLL;
		if (iol_has(IOL_FEAT_URING_SINGLE_ISSUER))
			flags |= IORING_SETUP_SINGLE_ISSUER;
	} else if (iol_has(IOL_FEAT_URING_SINGLE_ISSUER) && iol_has(IOL_FEAT_URING_DEFER_TASKRUN)) {
		flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	} else if (iol_has(IOL_FEAT_URING_COOP_TASKRUN)) {
		flags = IORING_SETUP_COOP_TASKRUN;
	}
	r = setup(u, o, flags);
	if (r == -EINVAL && flags)
		r = setup(u, o, 0); /* the probe's answer no longer holds */
	if (r < 0) {
		free(u);
		return r;
	}
	if (iol_has(IOL_FEAT_URING_REGISTER_RING_FD))
		io_uring_register_ring_fd(&u->ring); /* an optimisation only */
	t->be = u;
	return 0;
}

static void uring_thread_fini(struct ioli_thread *t)
{
	struct ioli_uring *u = ioli_uring(t);

	io_uring_queue_exit(&u->ring);
	free(u->backlog);
	free(u);
	t->be = NULL;
}

static void uring_thread_run(struct ioli_thread *t)
{
	struct ioli_uring *u = ioli_uring(t);

	arm_wake(t);
	for (;;) {
		int r;

		ioli_thread_loop_begin(t);
		reap(t);
		if (t->ready_head || !ioli_mpsc_empty(&t->inbox)) {
			io_uring_submit(&u->ring);
			continue;
		}
		if (t->stopping && ioli_thread_try_close(t))
			break;
		r = io_uring_submit_and_wait(&u->ring, 1);
		if (r == -EBUSY || r == -EAGAIN) {
			IOLI_STAT_INC(t, submit_busy);
			stash_cqes(t);
		}
	}
}

static void uring_start(struct ioli_thread *t, struct ioli_op *op)
{
	int r = ioli_uring_issue(t, op);

	if (r < 0)
		ioli_op_finish(t, op, r, 0);
	else if ((op->flags & IOLI_F_DECIDED) && op->b.ur.pending == 0)
		ioli_op_finish(t, op, final_res(op), op->dflags); /* decided without a CQE */
}

static void uring_cancel(struct ioli_thread *t, struct ioli_op *op)
{
	if (op->where == IOLI_W_KERNEL) {
		struct io_uring_sqe *sqe = ioli_ring_sqe(t);

		io_uring_prep_cancel64(sqe, op->b.ur.cur_ud, 0);
		io_uring_sqe_set_data64(sqe, IOLI_TAG_IGNORE);
	} else if (op->where == IOLI_W_FUTEX) {
		if (ioli_futex_helpers_cancel(t->pool, op))
			ioli_op_finish(t, op, op->cancel_res, 0);
	}
}

unsigned ioli_pool_ring_flags(iol_pool *pool)
{
	/* Written by each thread before iol_pool_create() returned. */
	if (!pool || pool->be != &ioli_uring_backend)
		return 0;
	return ioli_uring(&pool->threads[0])->setup_flags;
}

const struct ioli_backend ioli_uring_backend = {
    .name = "io_uring",
    .thread_init = uring_thread_init,
    .thread_run = uring_thread_run,
    .thread_fini = uring_thread_fini,
    .start = uring_start,
    .cancel = uring_cancel,
};
