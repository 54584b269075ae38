/* SPDX-License-Identifier: MIT */
/*
 * io_uring: futex waits as ring operations.
 *
 * One word is IORING_OP_FUTEX_WAIT, several are IORING_OP_FUTEX_WAITV, when
 * the probe found them (Linux 6.7); liburing 2.3 has no helpers for them,
 * so the SQEs are prepared by hand (addr: the word or the futex_waitv
 * array, addr2: the expected value, addr3: the wake mask, fd: futex2
 * flags).  Without them the operation is parked with the pool's futex
 * helper threads (futex_wait.c).  The kernel answers -EAGAIN when a word
 * already differs: that completes the wait with the index of the word that
 * differs, or, when none differs any more, waits again.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>

#include "src/compat.h"
#include "uring/ring.h"

#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#endif

static unsigned futex2_flags(const struct ioli_op *op)
{
	return FUTEX2_SIZE_U32 | (op->u.futex.shared ? 0 : FUTEX2_PRIVATE);
}

int ioli_uring_issue_futex(struct ioli_thread *t, struct ioli_op *op)
{
	struct iol_pool *pool = t->pool;
	unsigned n = op->u.futex.n;
	struct io_uring_sqe *sqe;

	if (n == 1 && pool->native_futex_wait) {
		sqe = ioli_ring_op_sqe(t, op);
		io_uring_prep_rw(IORING_OP_FUTEX_WAIT, sqe, (int)futex2_flags(op),
				 op->u.futex.v[0].word, 0, op->u.futex.v[0].expected);
		sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
		sqe->rw_flags = 0; /* futex_flags: reserved */
	} else if (n > 1 && pool->native_futex_waitv) {
		struct futex_waitv *fv = op->b.ur.vec;

		if (!fv) {
			fv = calloc(n, sizeof(*fv));
			if (!fv)
				return -ENOMEM;
			op->b.ur.vec = fv;
		}
		for (unsigned i = 0; i < n; i++) {
			fv[i].val = op->u.futex.v[i].expected;
			fv[i].uaddr = (uint64_t)(uintptr_t)op->u.futex.v[i].word;
			fv[i].flags = futex2_flags(op);
		}
		sqe = ioli_ring_op_sqe(t, op);
		io_uring_prep_rw(IORING_OP_FUTEX_WAITV, sqe, 0, fv, n, 0);
		sqe->rw_flags = 0;
	} else {
		IOLI_STAT_INC(t, futex_fallback);
		return ioli_futex_helpers_add(pool, op);
	}
	ioli_ring_op_commit(t, op, sqe, IOLI_TAG_MAIN);
	return 0;
}

/* Word i fired: deliver, or wait again if the try hook lost the race. */
static void fired(struct ioli_thread *t, struct ioli_op *op, int i)
{
	int r = ioli_futex_fired(op, i);

	if (r == -EAGAIN) {
		r = ioli_uring_issue_futex(t, op);
		if (r == 0)
			return;
	}
	ioli_ring_decide(op, r, 0);
}

void ioli_uring_cqe_futex(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags)
{
	int i, r;

	if (res >= 0) {
		fired(t, op, res);
		return;
	}
	if (res != -EAGAIN) {
		ioli_ring_decide(op, res, 0);
		return;
	}
	i = ioli_futex_first_changed(op);
	if (i >= 0) {
		fired(t, op, i);
		return;
	}
	if (op->flags & IOLI_F_CANCELED) {
		ioli_ring_decide(op, op->cancel_res, 0);
		return;
	}
	r = ioli_uring_issue_futex(t, op);
	if (r < 0)
		ioli_ring_decide(op, r, 0);
}
