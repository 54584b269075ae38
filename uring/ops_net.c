/* SPDX-License-Identifier: MIT */
/*
 * io_uring: accept, connect, recv (one-shot and multishot), send (copying
 * or zero-copy), shutdown.
 *
 * Multishot accept and recv use the kernel's multishot requests where the
 * probe found them; otherwise they are emulated by issuing one-shot requests
 * again after each completion, with buffers picked from the group's
 * user-space free stack.  A multishot request the kernel ends while still
 * delivering data (CQ overflow) is re-armed here, so a multishot operation
 * ends only by cancellation, end of stream or an error.
 *
 * Zero-copy sends produce a result CQE flagged MORE and later a
 * notification; the operation's CQE count covers both, so the callback runs
 * once, after the notification, when the buffer is the caller's again.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "iolayer/probe.h"
#include "uring/ring.h"

#define ACCEPT_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)

static int issue_recv_multi(struct ioli_thread *t, struct ioli_op *op, struct io_uring_sqe **psqe)
{
	struct ioli_tbufs *b;
	struct io_uring_sqe *sqe;
	int r = ioli_tbufs_get(t, op->u.rmulti.group, &b);
	int bid;

	if (r < 0)
		return r;
	if (b->kernel) {
		sqe = ioli_ring_op_sqe(t, op);
		io_uring_prep_recv_multishot(sqe, op->u.rmulti.fd, NULL, 0, op->u.rmulti.msg_flags);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = (uint16_t)op->u.rmulti.group;
		*psqe = sqe;
		return 0;
	}
	op->flags |= IOLI_F_EMULATED;
	bid = ioli_tbufs_take(b);
	if (bid < 0) {
		/* No buffer: -ENOBUFS only once data is there, as the kernel's
		 * multishot recv does. */
		if (op->flags & IOLI_F_STARTED) {
			op->flags &= ~IOLI_F_STARTED;
			return -ENOBUFS;
		}
		op->flags |= IOLI_F_STARTED;
		ioli_ring_poll_retry(t, op, op->u.rmulti.fd, POLLIN);
		*psqe = NULL;
		return 0;
	}
	op->flags &= ~IOLI_F_STARTED;
	op->b.ur.bid = bid;
	sqe = ioli_ring_op_sqe(t, op);
	io_uring_prep_recv(sqe, op->u.rmulti.fd, b->mem + (size_t)bid * b->size, b->size,
			   op->u.rmulti.msg_flags);
	*psqe = sqe;
	return 0;
}

int ioli_uring_issue_net(struct ioli_thread *t, struct ioli_op *op)
{
	struct io_uring_sqe *sqe = NULL;
	size_t rem;
	int r;

	switch (op->kind) {
	case IOLI_OP_ACCEPT:
		sqe = ioli_ring_op_sqe(t, op);
		if ((op->flags & IOLI_F_MULTI) && !(op->flags & IOLI_F_EMULATED))
			io_uring_prep_multishot_accept(sqe, op->u.accept.fd, NULL, NULL,
						       ACCEPT_FLAGS);
		else
			io_uring_prep_accept(sqe, op->u.accept.fd, NULL, NULL, ACCEPT_FLAGS);
		break;
	case IOLI_OP_CONNECT:
		sqe = ioli_ring_op_sqe(t, op);
		io_uring_prep_connect(sqe, op->u.conn.fd, op->u.conn.addr, op->u.conn.len);
		break;
	case IOLI_OP_RECV:
		sqe = ioli_ring_op_sqe(t, op);
		io_uring_prep_recv(sqe, op->u.io.fd, (char *)op->u.io.buf + op->done,
				   op->u.io.len - op->done, op->u.io.msg_flags);
		break;
	case IOLI_OP_RECV_MULTI:
		r = issue_recv_multi(t, op, &sqe);
		if (r < 0 || !sqe)
			return r;
		break;
	case IOLI_OP_SEND:
		rem = op->u.io.len - op->done;
		sqe = ioli_ring_op_sqe(t, op);
		if (t->pool->opts.zc_threshold && rem >= t->pool->opts.zc_threshold &&
		    iol_has(IOL_FEAT_URING_OP_SEND_ZC)) {
			io_uring_prep_send_zc(sqe, op->u.io.fd, (char *)op->u.io.buf + op->done,
					      rem, op->u.io.msg_flags | MSG_NOSIGNAL, 0);
			op->flags |= IOLI_F_ZC;
			IOLI_STAT_INC(t, zc_sends);
		} else {
			io_uring_prep_send(sqe, op->u.io.fd, (char *)op->u.io.buf + op->done, rem,
					   op->u.io.msg_flags | MSG_NOSIGNAL);
		}
		break;
	case IOLI_OP_SHUTDOWN:
		sqe = ioli_ring_op_sqe(t, op);
		io_uring_prep_shutdown(sqe, op->u.shut.fd, op->u.shut.how);
		break;
	default:
		return -EINVAL;
	}
	ioli_ring_op_commit(t, op, sqe, IOLI_TAG_MAIN);
	return 0;
}

/* After a MORE callback: go on, unless the callback cancelled. */
static void carry_on(struct ioli_thread *t, struct ioli_op *op)
{
	int r;

	if (op->flags & IOLI_F_CANCELED) {
		ioli_ring_decide(op, op->cancel_res, 0);
		return;
	}
	r = ioli_uring_issue(t, op);
	if (r < 0)
		ioli_ring_decide(op, r, 0);
}

static void cqe_accept(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags)
{
	if (!(op->flags & IOLI_F_MULTI)) {
		if (res == -EAGAIN)
			ioli_ring_poll_retry(t, op, op->u.accept.fd, POLLIN);
		else
			ioli_ring_decide(op, res, 0);
		return;
	}
	if (cflags & IORING_CQE_F_MORE) {
		ioli_op_deliver(t, op, res, IOL_CQE_MORE);
		return;
	}
	if (res >= 0) {
		ioli_op_deliver(t, op, res, IOL_CQE_MORE);
		carry_on(t, op);
	} else if (res == -EAGAIN) {
		ioli_ring_poll_retry(t, op, op->u.accept.fd, POLLIN);
	} else {
		ioli_ring_decide(op, res, 0);
	}
}

static void cqe_recv_multi(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags)
{
	struct ioli_tbufs *b =
	    atomic_load_explicit(&t->bufs[op->u.rmulti.group], memory_order_relaxed);
	unsigned bflags = 0;

	if (op->flags & IOLI_F_EMULATED) {
		unsigned bid = (unsigned)op->b.ur.bid;

		if (res > 0) {
			ioli_op_deliver(t, op, res, IOL_CQE_MORE | ioli_tbufs_lend(t, b, bid));
			carry_on(t, op);
			return;
		}
		ioli_tbufs_put(t, b, bid);
		if (res == -EAGAIN)
			ioli_ring_poll_retry(t, op, op->u.rmulti.fd, POLLIN);
		else
			ioli_ring_decide(op, res, 0);
		return;
	}
	if (cflags & IORING_CQE_F_BUFFER)
		bflags = ioli_tbufs_lend(t, b, cflags >> IORING_CQE_BUFFER_SHIFT);
	if (cflags & IORING_CQE_F_MORE) {
		ioli_op_deliver(t, op, res, IOL_CQE_MORE | bflags);
		return;
	}
	if (res > 0) {
		/* The kernel ended the multishot (CQ overflow) with data. */
		ioli_op_deliver(t, op, res, IOL_CQE_MORE | bflags);
		carry_on(t, op);
		return;
	}
	ioli_ring_decide(op, res, bflags);
}

/* A transfer with MSG_WAITALL goes on until len; others end here. */
static void cqe_transfer(struct ioli_thread *t, struct ioli_op *op, int res, unsigned pollmask)
{
	if (res == -EAGAIN && !(op->u.io.msg_flags & MSG_DONTWAIT)) {
		ioli_ring_poll_retry(t, op, op->u.io.fd, pollmask);
		return;
	}
	if (res > 0 && (op->flags & IOLI_F_WAITALL) && op->done + (size_t)res < op->u.io.len) {
		op->done += (size_t)res;
		if (op->flags & IOLI_F_CANCELED)
			ioli_ring_decide(op, (int)op->done, 0);
		else
			carry_on(t, op);
		return;
	}
	ioli_ring_decide(op, res >= 0 ? (int)(op->done + (size_t)res) : res, 0);
}

void ioli_uring_cqe_net(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags)
{
	switch (op->kind) {
	case IOLI_OP_ACCEPT:
		cqe_accept(t, op, res, cflags);
		break;
	case IOLI_OP_RECV_MULTI:
		cqe_recv_multi(t, op, res, cflags);
		break;
	case IOLI_OP_RECV:
		cqe_transfer(t, op, res, POLLIN);
		break;
	case IOLI_OP_SEND:
		if (cflags & IORING_CQE_F_NOTIF)
			break; /* the buffer is free: counted, nothing to decide */
		cqe_transfer(t, op, res, POLLOUT);
		break;
	default: /* connect, shutdown */
		ioli_ring_decide(op, res, 0);
		break;
	}
}
