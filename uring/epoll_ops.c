/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend's operations, each tried without blocking when its
 * descriptor may be ready: recv/send with MSG_DONTWAIT, read/write with
 * RWF_NOWAIT (which also serves cached regular-file reads inline), accept4,
 * connect.  IOLI_EP_AGAIN means "would block": the record waits for an
 * edge.  Everything that ends an operation takes it off its queue first.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "uring/epoll.h"

bool ioli_ep_is_reader(const struct ioli_op *op)
{
	switch (op->kind) {
	case IOLI_OP_READ:
	case IOLI_OP_READV:
	case IOLI_OP_RECV:
	case IOLI_OP_RECV_MULTI:
	case IOLI_OP_ACCEPT:
		return true;
	default:
		return false;
	}
}

/* read/write/readv/writev: RWF_NOWAIT first; regular files that would
 * block (EAGAIN here, EPERM from epoll_ctl later) and files without
 * RWF_NOWAIT support go to the workers. */
static enum ioli_ep_try try_rw(struct ioli_thread *t, struct ioli_op *op)
{
	struct iovec one;
	const struct iovec *iov = &one;
	int cnt = 1, fd;
	int64_t off;
	ssize_t n;
	bool wr = op->kind == IOLI_OP_WRITE || op->kind == IOLI_OP_WRITEV;

	if (op->kind == IOLI_OP_READ || op->kind == IOLI_OP_WRITE) {
		one.iov_base = op->u.io.buf;
		one.iov_len = op->u.io.len;
		fd = op->u.io.fd;
		off = op->u.io.off;
	} else {
		iov = op->u.vec.iov;
		cnt = (int)op->u.vec.cnt;
		fd = op->u.vec.fd;
		off = op->u.vec.off;
	}
	do
		n = wr ? pwritev2(fd, iov, cnt, off, RWF_NOWAIT)
		       : preadv2(fd, iov, cnt, off, RWF_NOWAIT);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		ioli_ep_done(t, op, (int)n, 0);
		return IOLI_EP_GONE;
	}
	if (errno == EAGAIN)
		return IOLI_EP_AGAIN;
	if (errno == EOPNOTSUPP) {
		ioli_ep_to_worker(t, op);
		return IOLI_EP_GONE;
	}
	ioli_ep_done(t, op, -errno, 0);
	return IOLI_EP_GONE;
}

/* recv/send, with MSG_WAITALL kept up across edges. */
static enum ioli_ep_try try_transfer(struct ioli_thread *t, struct ioli_op *op)
{
	bool snd = op->kind == IOLI_OP_SEND;
	int flags = (op->u.io.msg_flags & ~MSG_WAITALL) | MSG_DONTWAIT | (snd ? MSG_NOSIGNAL : 0);

	for (;;) {
		char *p = (char *)op->u.io.buf + op->done;
		size_t rem = op->u.io.len - op->done;
		ssize_t n =
		    snd ? send(op->u.io.fd, p, rem, flags) : recv(op->u.io.fd, p, rem, flags);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !(op->u.io.msg_flags & MSG_DONTWAIT))
			return IOLI_EP_AGAIN;
		if (n < 0) {
			ioli_ep_done(t, op, op->done ? (int)op->done : -errno, 0);
			return IOLI_EP_GONE;
		}
		op->done += (size_t)n;
		if (n > 0 && (op->flags & IOLI_F_WAITALL) && op->done < op->u.io.len)
			continue;
		ioli_ep_done(t, op, (int)op->done, 0);
		return IOLI_EP_GONE;
	}
}

static enum ioli_ep_try try_accept(struct ioli_thread *t, struct ioli_op *op, unsigned *budget)
{
	for (;;) {
		int fd = accept4(op->u.accept.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int e = errno;

			if (e == EAGAIN)
				return IOLI_EP_AGAIN;
			if (e == EINTR || e == ECONNABORTED)
				continue;
			ioli_ep_done(t, op, -e, 0);
			return IOLI_EP_GONE;
		}
		if (!(op->flags & IOLI_F_MULTI)) {
			ioli_ep_done(t, op, fd, 0);
			return IOLI_EP_GONE;
		}
		ioli_op_deliver(t, op, fd, IOL_CQE_MORE);
		if (op->where != IOLI_W_FDWAIT)
			return IOLI_EP_GONE; /* cancelled by its callback */
		if (--*budget == 0)
			return IOLI_EP_YIELD;
	}
}

/* A second connect(2) tells how an asynchronous one ended. */
static enum ioli_ep_try try_connect(struct ioli_thread *t, struct ioli_op *op)
{
	int r, e;

	do
		r = connect(op->u.conn.fd, op->u.conn.addr, op->u.conn.len);
	while (r < 0 && errno == EINTR);
	e = r < 0 ? errno : 0;
	if (e == EINPROGRESS || e == EALREADY || (e == EAGAIN && !(op->flags & IOLI_F_STARTED))) {
		op->flags |= IOLI_F_STARTED;
		return IOLI_EP_AGAIN;
	}
	if (e == EISCONN && (op->flags & IOLI_F_STARTED))
		e = 0;
	ioli_ep_done(t, op, -e, 0);
	return IOLI_EP_GONE;
}

static enum ioli_ep_try try_recv_multi(struct ioli_thread *t, struct ioli_fdrec *rec,
				       struct ioli_op *op, unsigned *budget)
{
	int fd = op->u.rmulti.fd, flags = op->u.rmulti.msg_flags | MSG_DONTWAIT;
	struct ioli_tbufs *b;
	int r = ioli_tbufs_get(t, op->u.rmulti.group, &b);

	if (r < 0) {
		ioli_ep_done(t, op, r, 0);
		return IOLI_EP_GONE;
	}
	if (rec->stream < 0) {
		int type = 0;
		socklen_t len = sizeof(type);

		rec->stream =
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
	}
	for (;;) {
		int bid = ioli_tbufs_take(b);
		ssize_t n;

		if (bid < 0) {
			/* As the kernel's: -ENOBUFS only when data is there. */
			char c;

			n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n < 0 && errno == EAGAIN)
				return IOLI_EP_AGAIN;
			ioli_ep_done(t, op, n > 0 ? -ENOBUFS : n == 0 ? 0 : -errno, 0);
			return IOLI_EP_GONE;
		}
		do
			n = recv(fd, b->mem + (size_t)bid * b->size, b->size, flags);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			int e = n < 0 ? errno : 0;

			ioli_tbufs_put(t, b, (unsigned)bid);
			if (e == EAGAIN)
				return IOLI_EP_AGAIN;
			ioli_ep_done(t, op, -e, 0); /* 0: end of stream */
			return IOLI_EP_GONE;
		}
		ioli_op_deliver(t, op, (int)n, IOL_CQE_MORE | ioli_tbufs_lend(t, b, (unsigned)bid));
		if (op->where != IOLI_W_FDWAIT)
			return IOLI_EP_GONE; /* cancelled by its callback */
		/* A stream socket that gave less than asked for is drained:
		 * new data will raise a new edge (as Tokio relies on). */
		if (rec->stream && (size_t)n < b->size)
			return IOLI_EP_AGAIN;
		if (--*budget == 0)
			return IOLI_EP_YIELD;
	}
}

enum ioli_ep_try ioli_ep_try(struct ioli_thread *t, struct ioli_fdrec *rec, struct ioli_op *op,
			     unsigned *budget)
{
	switch (op->kind) {
	case IOLI_OP_READ:
	case IOLI_OP_WRITE:
	case IOLI_OP_READV:
	case IOLI_OP_WRITEV:
		return try_rw(t, op);
	case IOLI_OP_RECV:
	case IOLI_OP_SEND:
		return try_transfer(t, op);
	case IOLI_OP_ACCEPT:
		return try_accept(t, op, budget);
	case IOLI_OP_CONNECT:
		return try_connect(t, op);
	case IOLI_OP_RECV_MULTI:
		return try_recv_multi(t, rec, op, budget);
	default:
		ioli_ep_done(t, op, -EINVAL, 0);
		return IOLI_EP_GONE;
	}
}
