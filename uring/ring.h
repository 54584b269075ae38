/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend's shared pieces: one ring per pool thread, SQE
 * acquisition that never fails for lack of room, and the user_data
 * encoding.
 *
 * user_data = generation (24 bits) | slot (32 bits) | tag (8 bits).  It
 * names an operation without its address, so a CQE or a cancel request
 * that outlives an operation can never touch the slot's next occupant.
 */
#ifndef IOLI_RING_H
#define IOLI_RING_H

#include <liburing.h>

#include "uring/pool_internal.h"

enum ioli_tag {
	IOLI_TAG_MAIN = 1, /* the operation's own SQE */
	IOLI_TAG_LINK,	   /* its linked timeout (deadline) */
	IOLI_TAG_POLL,	   /* readiness poll before retrying after -EAGAIN */
	IOLI_TAG_WAKE,	   /* the thread's eventfd read */
	IOLI_TAG_IGNORE,   /* cancel requests: result not needed */
};

struct ioli_cqe {
	uint64_t ud;
	int32_t res;
	uint32_t flags;
};

#define IOLI_CQE_BATCH 128

struct ioli_uring {
	struct io_uring ring;
	unsigned setup_flags;
	uint64_t wake_buf;
	struct ioli_cqe batch[IOLI_CQE_BATCH];
	struct ioli_cqe *backlog; /* CQEs moved out of a full CQ, not yet handled */
	unsigned nbacklog, capbacklog;
};

static inline struct ioli_uring *ioli_uring(struct ioli_thread *t)
{
	return (struct ioli_uring *)t->be;
}

static inline uint64_t ioli_ud(const struct ioli_op *op, unsigned tag)
{
	return ((uint64_t)atomic_load_explicit(&op->gen, memory_order_relaxed) << 40) |
	       ((uint64_t)op->slot << 8) | tag;
}

/*
 * An SQE for op's next request (plus room for its linked timeout when op
 * has a deadline).  A full SQ is submitted and retried; never NULL.
 */
struct io_uring_sqe *ioli_ring_op_sqe(struct ioli_thread *t, struct ioli_op *op);
/* After preparing sqe: tag it, count the CQE, add the linked timeout. */
void ioli_ring_op_commit(struct ioli_thread *t, struct ioli_op *op, struct io_uring_sqe *sqe,
			 unsigned tag);
/* An SQE for an internal request (cancel, wake); never NULL. */
struct io_uring_sqe *ioli_ring_sqe(struct ioli_thread *t);

/* Wait for readiness (POLLIN/POLLOUT) on fd, then issue op again. */
void ioli_ring_poll_retry(struct ioli_thread *t, struct ioli_op *op, int fd, unsigned mask);
/* The result is decided; the callback runs once no CQE is outstanding. */
void ioli_ring_decide(struct ioli_op *op, int res, unsigned flags);

/* Provided-buffer rings (bufring.c calls these). */
int ioli_ring_register_bufs(struct ioli_thread *t, struct ioli_tbufs *b);
void ioli_ring_put_buf(struct ioli_thread *t, struct ioli_tbufs *b, unsigned bid);

/* Per-family issue and completion, on the owner thread. */
int ioli_uring_issue_file(struct ioli_thread *t, struct ioli_op *op);
void ioli_uring_cqe_file(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags);
int ioli_uring_issue_net(struct ioli_thread *t, struct ioli_op *op);
void ioli_uring_cqe_net(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags);
int ioli_uring_issue_timer(struct ioli_thread *t, struct ioli_op *op);
void ioli_uring_cqe_timer(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags);
int ioli_uring_issue_futex(struct ioli_thread *t, struct ioli_op *op);
void ioli_uring_cqe_futex(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags);

/* (Re)issue op by kind; returns 0 or a negative errno (nothing issued). */
int ioli_uring_issue(struct ioli_thread *t, struct ioli_op *op);

/* Nanoseconds to a kernel timespec. */
static inline void ioli_ns_to_ts(int64_t ns, struct __kernel_timespec *ts)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

#endif /* IOLI_RING_H */
