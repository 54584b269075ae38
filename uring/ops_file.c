/* SPDX-License-Identifier: MIT */
/*
 * io_uring: read, write, readv, writev, fsync, openat, close, statx.
 *
 * A read or write that the kernel answers with -EAGAIN (an O_NONBLOCK pipe
 * or socket on kernels that do not poll for it) waits for readiness with a
 * poll request and is issued again, so both backends wait for pollable
 * descriptors whatever their O_NONBLOCK flag.
 */
#include <errno.h>
#include <poll.h>

#include "uring/ring.h"

int ioli_uring_issue_file(struct ioli_thread *t, struct ioli_op *op)
{
	struct io_uring_sqe *sqe = ioli_ring_op_sqe(t, op);

	switch (op->kind) {
	case IOLI_OP_READ:
		io_uring_prep_read(sqe, op->u.io.fd, op->u.io.buf, (unsigned)op->u.io.len,
				   (uint64_t)op->u.io.off);
		break;
	case IOLI_OP_WRITE:
		io_uring_prep_write(sqe, op->u.io.fd, op->u.io.buf, (unsigned)op->u.io.len,
				    (uint64_t)op->u.io.off);
		break;
	case IOLI_OP_READV:
		io_uring_prep_readv(sqe, op->u.vec.fd, op->u.vec.iov, op->u.vec.cnt,
				    (uint64_t)op->u.vec.off);
		break;
	case IOLI_OP_WRITEV:
		io_uring_prep_writev(sqe, op->u.vec.fd, op->u.vec.iov, op->u.vec.cnt,
				     (uint64_t)op->u.vec.off);
		break;
	case IOLI_OP_FSYNC:
		io_uring_prep_fsync(sqe, op->u.fsync.fd,
				    (op->u.fsync.flags & IOL_FSYNC_DATASYNC) ? IORING_FSYNC_DATASYNC
									     : 0);
		break;
	case IOLI_OP_OPENAT:
		io_uring_prep_openat(sqe, op->u.path.dirfd, op->u.path.path, op->u.path.flags,
				     op->u.path.mode);
		break;
	case IOLI_OP_CLOSE:
		io_uring_prep_close(sqe, op->u.io.fd);
		break;
	case IOLI_OP_STATX:
		io_uring_prep_statx(sqe, op->u.path.dirfd, op->u.path.path, op->u.path.flags,
				    op->u.path.mask, op->u.path.stx);
		break;
	default:
		return -EINVAL;
	}
	ioli_ring_op_commit(t, op, sqe, IOLI_TAG_MAIN);
	return 0;
}

void ioli_uring_cqe_file(struct ioli_thread *t, struct ioli_op *op, int res, unsigned cflags)
{
	if (res == -EAGAIN) {
		switch (op->kind) {
		case IOLI_OP_READ:
			ioli_ring_poll_retry(t, op, op->u.io.fd, POLLIN);
			return;
		case IOLI_OP_WRITE:
			ioli_ring_poll_retry(t, op, op->u.io.fd, POLLOUT);
			return;
		case IOLI_OP_READV:
			ioli_ring_poll_retry(t, op, op->u.vec.fd, POLLIN);
			return;
		case IOLI_OP_WRITEV:
			ioli_ring_poll_retry(t, op, op->u.vec.fd, POLLOUT);
			return;
		default:
			break;
		}
	}
	ioli_ring_decide(op, res, 0);
}
