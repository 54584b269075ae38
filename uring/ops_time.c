/* SPDX-License-Identifier: MIT */
/*
 * io_uring: timers.
 *
 * A timer is an IORING_OP_TIMEOUT at an absolute CLOCK_MONOTONIC time.  A
 * repeating timer is issued again from its completion for the next period
 * (first expiry + k * interval), which needs no multishot-timeout support
 * from the kernel and keeps the period free of callback latency.
 *
 * Deadlines of other operations are linked timeouts (ring.c).
 */
#include <errno.h>

#include "uring/ring.h"

int ioli_uring_issue_timer(struct ioli_thread *t, struct ioli_op *op)
{
	struct io_uring_sqe *sqe = ioli_ring_op_sqe(t, op);

	ioli_ns_to_ts(op->u.timer.next, &op->b.ur.ts);
	io_uring_prep_timeout(sqe, &op->b.ur.ts, 0, IORING_TIMEOUT_ABS);
	ioli_ring_op_commit(t, op, sqe, IOLI_TAG_MAIN);
	return 0;
}

void ioli_uring_cqe_timer(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags)
{
	int r;

	if (res != -ETIME) {
		ioli_ring_decide(op, res, 0);
		return;
	}
	if (op->u.timer.interval <= 0) {
		ioli_ring_decide(op, 0, 0);
		return;
	}
	ioli_op_deliver(t, op, 0, IOL_CQE_MORE);
	if (op->flags & IOLI_F_CANCELED) {
		ioli_ring_decide(op, op->cancel_res, 0);
		return;
	}
	op->u.timer.next = ioli_ns_add_sat(op->u.timer.next, op->u.timer.interval);
	r = ioli_uring_issue_timer(t, op);
	if (r < 0)
		ioli_ring_decide(op, r, 0);
}
