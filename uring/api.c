/* SPDX-License-Identifier: MIT */
/*
 * The public operations: argument checks, copies of what the caller need
 * not keep (paths, socket addresses, futex word lists), then submission.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "iolayer/probe.h"
#include "uring/pool_internal.h"

#define BEGIN(kind, fd)                                                                            \
	struct ioli_op *op;                                                                        \
	int r_ = ioli_op_begin(pool, (kind), (fd), cb, arg, opts, &op);                            \
	if (r_ < 0)                                                                                \
	return r_

static bool has_deadline(const struct iol_op_opts *opts)
{
	return opts && opts->deadline_ns != 0;
}

static int rw(iol_pool *pool, int kind, int fd, void *buf, size_t len, int64_t off, iol_cb cb,
	      void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || (!buf && len) || len > INT32_MAX || off < -1)
		return -EINVAL;
	BEGIN(kind, fd);
	op->u.io.fd = fd;
	op->u.io.buf = buf;
	op->u.io.len = len;
	op->u.io.off = off;
	return ioli_op_submit(op, id);
}

int iol_pool_read(iol_pool *pool, int fd, void *buf, size_t len, int64_t off, iol_cb cb, void *arg,
		  const struct iol_op_opts *opts, uint64_t *id)
{
	return rw(pool, IOLI_OP_READ, fd, buf, len, off, cb, arg, opts, id);
}

int iol_pool_write(iol_pool *pool, int fd, const void *buf, size_t len, int64_t off, iol_cb cb,
		   void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	return rw(pool, IOLI_OP_WRITE, fd, (void *)buf, len, off, cb, arg, opts, id);
}

static int rwv(iol_pool *pool, int kind, int fd, const struct iovec *iov, unsigned iovcnt,
	       int64_t off, iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || !iov || iovcnt == 0 || iovcnt > IOV_MAX || off < -1)
		return -EINVAL;
	BEGIN(kind, fd);
	op->u.vec.fd = fd;
	op->u.vec.iov = iov;
	op->u.vec.cnt = iovcnt;
	op->u.vec.off = off;
	return ioli_op_submit(op, id);
}

int iol_pool_readv(iol_pool *pool, int fd, const struct iovec *iov, unsigned iovcnt, int64_t off,
		   iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	return rwv(pool, IOLI_OP_READV, fd, iov, iovcnt, off, cb, arg, opts, id);
}

int iol_pool_writev(iol_pool *pool, int fd, const struct iovec *iov, unsigned iovcnt, int64_t off,
		    iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	return rwv(pool, IOLI_OP_WRITEV, fd, iov, iovcnt, off, cb, arg, opts, id);
}

int iol_pool_fsync(iol_pool *pool, int fd, unsigned flags, iol_cb cb, void *arg,
		   const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || (flags & ~IOL_FSYNC_DATASYNC))
		return -EINVAL;
	BEGIN(IOLI_OP_FSYNC, fd);
	op->u.fsync.fd = fd;
	op->u.fsync.flags = flags;
	return ioli_op_submit(op, id);
}

static int path_op(iol_pool *pool, int kind, int dirfd, const char *path, iol_cb cb, void *arg,
		   const struct iol_op_opts *opts, struct ioli_op **out)
{
	size_t len;

	if (!path)
		return -EINVAL;
	len = strnlen(path, PATH_MAX);
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	BEGIN(kind, -1);
	op->u.path.path = malloc(len + 1);
	if (!op->u.path.path) {
		ioli_op_abort(op);
		return -ENOMEM;
	}
	memcpy(op->u.path.path, path, len + 1);
	op->u.path.dirfd = dirfd;
	*out = op;
	return 0;
}

int iol_pool_openat(iol_pool *pool, int dirfd, const char *path, int flags, mode_t mode, iol_cb cb,
		    void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	struct ioli_op *op;
	int r = path_op(pool, IOLI_OP_OPENAT, dirfd, path, cb, arg, opts, &op);

	if (r < 0)
		return r;
	op->u.path.flags = flags;
	op->u.path.mode = mode;
	return ioli_op_submit(op, id);
}

int iol_pool_statx(iol_pool *pool, int dirfd, const char *path, int flags, unsigned mask,
		   struct statx *out, iol_cb cb, void *arg, const struct iol_op_opts *opts,
		   uint64_t *id)
{
	struct ioli_op *op;
	int r;

	if (!out)
		return -EINVAL;
	r = path_op(pool, IOLI_OP_STATX, dirfd, path, cb, arg, opts, &op);
	if (r < 0)
		return r;
	op->u.path.flags = flags;
	op->u.path.mask = mask;
	op->u.path.stx = out;
	return ioli_op_submit(op, id);
}

int iol_pool_close(iol_pool *pool, int fd, iol_cb cb, void *arg, const struct iol_op_opts *opts,
		   uint64_t *id)
{
	if (fd < 0)
		return -EINVAL;
	BEGIN(IOLI_OP_CLOSE, fd);
	op->u.io.fd = fd;
	return ioli_op_submit(op, id);
}

int iol_pool_accept(iol_pool *pool, int fd, unsigned flags, iol_cb cb, void *arg,
		    const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || (flags & ~IOL_ACCEPT_MULTISHOT))
		return -EINVAL;
	if ((flags & IOL_ACCEPT_MULTISHOT) && has_deadline(opts))
		return -EINVAL;
	BEGIN(IOLI_OP_ACCEPT, fd);
	op->u.accept.fd = fd;
	op->u.accept.flags = flags;
	if (flags & IOL_ACCEPT_MULTISHOT) {
		op->flags |= IOLI_F_MULTI;
		if (!iol_has(IOL_FEAT_URING_MULTISHOT_ACCEPT))
			op->flags |= IOLI_F_EMULATED;
	}
	return ioli_op_submit(op, id);
}

int iol_pool_connect(iol_pool *pool, int fd, const struct sockaddr *addr, socklen_t addrlen,
		     iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || !addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	BEGIN(IOLI_OP_CONNECT, fd);
	op->u.conn.addr = malloc(addrlen);
	if (!op->u.conn.addr) {
		ioli_op_abort(op);
		return -ENOMEM;
	}
	memcpy(op->u.conn.addr, addr, addrlen);
	op->u.conn.fd = fd;
	op->u.conn.len = addrlen;
	return ioli_op_submit(op, id);
}

static int transfer(iol_pool *pool, int kind, int fd, void *buf, size_t len, int flags, iol_cb cb,
		    void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || (!buf && len) || len > INT32_MAX)
		return -EINVAL;
	BEGIN(kind, fd);
	op->u.io.fd = fd;
	op->u.io.buf = buf;
	op->u.io.len = len;
	op->u.io.msg_flags = flags;
	if (flags & MSG_WAITALL)
		op->flags |= IOLI_F_WAITALL;
	return ioli_op_submit(op, id);
}

int iol_pool_recv(iol_pool *pool, int fd, void *buf, size_t len, int flags, iol_cb cb, void *arg,
		  const struct iol_op_opts *opts, uint64_t *id)
{
	return transfer(pool, IOLI_OP_RECV, fd, buf, len, flags, cb, arg, opts, id);
}

int iol_pool_send(iol_pool *pool, int fd, const void *buf, size_t len, int flags, iol_cb cb,
		  void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	return transfer(pool, IOLI_OP_SEND, fd, (void *)buf, len, flags, cb, arg, opts, id);
}

int iol_pool_recv_multishot(iol_pool *pool, int fd, unsigned group, int flags, iol_cb cb, void *arg,
			    const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || (flags & (MSG_WAITALL | MSG_DONTWAIT)) || has_deadline(opts))
		return -EINVAL;
	if (!pool)
		return -EINVAL;
	if (ioli_pool_forked(pool))
		return -EBADF;
	if (group >= atomic_load_explicit(&pool->ngroups, memory_order_acquire))
		return -EINVAL;
	BEGIN(IOLI_OP_RECV_MULTI, fd);
	op->flags |= IOLI_F_MULTI;
	op->u.rmulti.fd = fd;
	op->u.rmulti.group = group;
	op->u.rmulti.msg_flags = flags;
	return ioli_op_submit(op, id);
}

int iol_pool_shutdown(iol_pool *pool, int fd, int how, iol_cb cb, void *arg,
		      const struct iol_op_opts *opts, uint64_t *id)
{
	if (fd < 0 || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
		return -EINVAL;
	BEGIN(IOLI_OP_SHUTDOWN, fd);
	op->u.shut.fd = fd;
	op->u.shut.how = how;
	return ioli_op_submit(op, id);
}

int iol_pool_timer(iol_pool *pool, int64_t after_ns, int64_t interval_ns, iol_cb cb, void *arg,
		   const struct iol_op_opts *opts, uint64_t *id)
{
	if (after_ns < 0 || interval_ns < 0 || has_deadline(opts))
		return -EINVAL;
	BEGIN(IOLI_OP_TIMER, -1);
	op->u.timer.fd = -1;
	op->u.timer.next = ioli_ns_add_sat(ioli_now_ns(), after_ns);
	op->u.timer.interval = interval_ns;
	if (interval_ns > 0)
		op->flags |= IOLI_F_MULTI;
	return ioli_op_submit(op, id);
}

int ioli_pool_futex_waitv(iol_pool *pool, const struct ioli_futex_word *words, unsigned n,
			  bool shared, iol_cb cb, void *arg, const struct iol_op_opts *opts,
			  uint64_t *id)
{
	return ioli_pool_futex_waitv_try(pool, words, n, shared, NULL, cb, arg, opts, id);
}

int ioli_pool_futex_waitv_try(iol_pool *pool, const struct ioli_futex_word *words, unsigned n,
			      bool shared, ioli_futex_try_fn try, iol_cb cb, void *arg,
			      const struct iol_op_opts *opts, uint64_t *id)
{
	if (!words || n == 0 || n > IOLI_FUTEX_MAX_WORDS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!words[i].word || ((uintptr_t)words[i].word & 3))
			return -EINVAL;
	BEGIN(IOLI_OP_FUTEX, -1);
	op->u.futex.n = n;
	op->u.futex.shared = shared;
	op->u.futex.try_fn = try;
	if (n == 1) {
		op->u.futex.one = words[0];
		op->u.futex.v = &op->u.futex.one;
	} else {
		op->u.futex.v = malloc(n * sizeof(*words));
		if (!op->u.futex.v) {
			ioli_op_abort(op);
			return -ENOMEM;
		}
		memcpy(op->u.futex.v, words, n * sizeof(*words));
	}
	return ioli_op_submit(op, id);
}

int ioli_pool_futex_wait(iol_pool *pool, uint32_t *word, uint32_t expected, bool shared, iol_cb cb,
			 void *arg, const struct iol_op_opts *opts, uint64_t *id)
{
	struct ioli_futex_word w = {word, expected};

	return ioli_pool_futex_waitv(pool, &w, 1, shared, cb, arg, opts, id);
}
