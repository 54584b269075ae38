/* SPDX-License-Identifier: MIT */
/*
 * The IO pool: file and socket IO on io_uring, with an epoll backend.
 *
 * A pool is a set of threads; each owns an io_uring (or, on the epoll
 * backend, an epoll instance) and runs the callbacks of the operations it
 * owns.  Every operation is submitted with a callback and completes by
 * calling it; nothing blocks the caller.
 *
 * Conventions
 *   - Functions return 0 (or a documented non-negative value) or a negative
 *     errno.  Errors found at submission (bad arguments, a pool shutting
 *     down, out of memory) are returned and the callback never runs.  Once a
 *     submission has returned 0, its callback runs: exactly once for a
 *     one-shot operation; for a multishot operation once per completion with
 *     IOL_CQE_MORE set, then once more, finally, without it.
 *   - res is what the system call would have returned (bytes, a new fd, 0),
 *     or a negative errno.  -ECANCELED after iol_pool_cancel() or pool
 *     destruction, -ETIMEDOUT when the operation's deadline passed first.
 *
 * Which thread runs an operation (and so its callback)
 *   - struct iol_op_opts with IOL_OP_ON_THREAD: the thread asked for.
 *   - Otherwise an operation on a file descriptor runs on thread
 *     (fd % threads), so every operation on one socket shares a thread and
 *     its callbacks never race each other; operations without one (openat,
 *     statx, timers) run on the calling pool thread, or round-robin when
 *     submitted from outside the pool.
 *   - A callback submitting to its own thread (the usual case: the next
 *     recv on the same socket) takes no lock and makes no system call; the
 *     operation goes to the kernel with the thread's next batch.  Any other
 *     thread, in the pool or not, may submit too: the operation is queued to
 *     its thread (a lock-free queue and an eventfd wakeup).
 *
 * What a callback may do
 *   - Submit and cancel operations, borrow and return provided buffers.
 *     Callbacks never run inside an iol_pool_*() call, so they need not be
 *     re-entrant with the code that submitted them.
 *   - Not call iol_pool_destroy() (it returns -EDEADLK there), and not block
 *     for long: its thread's IO waits meanwhile.
 *
 * Ownership while an operation is in flight (from submission until its
 * final callback has started)
 *   - Memory the pool reads or writes is the caller's and must stay valid
 *     and untouched: read/recv buffers, write/send buffers (a zero-copy send
 *     calls back only after the kernel released the buffer, so the rule is
 *     the same), iovec arrays and the memory they point to, struct statx.
 *     Paths and socket addresses are copied at submission.
 *   - The file descriptor must stay open.  Cancel operations on a descriptor
 *     (and wait for their callbacks) before closing it; a descriptor closed
 *     under an operation leaves that operation to the kernel's rules (it may
 *     never complete).
 *   - Provided buffers (multishot recv) belong to the callback that received
 *     them until it, or anyone after it, returns them with
 *     iol_pool_buffer_return().
 *
 * Everything here is thread-safe.  A pool must outlive every call made on
 * it; after iol_pool_destroy() has returned it is gone.
 *
 * fork(): a pool belongs to the process that created it.  A child of
 * fork() has none of its threads, so there every call on a pool made before
 * the fork is refused: the int-returning calls return -EBADF (no callback
 * runs), iol_pool_buffer() and iol_pool_backend() return NULL,
 * iol_pool_threads() 0.  iol_pool_destroy() in the child also returns
 * -EBADF at once: it joins no thread, takes no lock and frees nothing (the
 * child's copy of the pool's memory goes with the process; its descriptors
 * are close-on-exec).  The parent's pool is unaffected.  Pools the child
 * creates itself work as usual.  (The check is a counter bumped by a
 * pthread_atfork() child handler, so it covers fork(), not a raw clone().)
 */
#ifndef IOLAYER_POOL_H
#define IOLAYER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct statx;

typedef struct iol_pool iol_pool;

enum iol_backend {
	IOL_BACKEND_AUTO = 0, /* io_uring if the probe finds it, else epoll;
			       * IOLAYER_BACKEND=uring|epoll overrides */
	IOL_BACKEND_URING = 1,
	IOL_BACKEND_EPOLL = 2,
};

#define IOL_POOL_MAX_THREADS 256

struct iol_pool_opts {
	unsigned threads;      /* 0: one per CPU online, at most IOL_POOL_MAX_THREADS */
	unsigned ring_entries; /* io_uring SQ entries per thread (the CQ gets 4x);
				* epoll: events per epoll_wait; 0: 256 */
	int backend;	       /* enum iol_backend */
	bool pin_cpus;	       /* pin thread i to the i-th CPU this process may use */
	bool sqpoll;	       /* io_uring: a kernel SQ polling thread per ring, where the
				* kernel allows it; ignored otherwise */
	unsigned zc_threshold; /* send zero-copy at or above this many bytes where the
				* kernel has IORING_OP_SEND_ZC; 0: never */
	unsigned file_workers; /* epoll backend: threads for blocking file IO; 0: 4 */
};

/*
 * Create a pool.  opts NULL means all defaults.  With IOL_BACKEND_AUTO, if
 * io_uring_setup() is refused although the probe found io_uring (a seccomp
 * filter installed later, a memlock limit), the pool uses epoll and says so
 * once per process on stderr.
 *
 * Returns 0 and sets *out, or:
 *   -EINVAL   out NULL; threads above IOL_POOL_MAX_THREADS; unknown backend;
 *             ring_entries above 32768
 *   -ENOSYS, -EPERM, ...  IOL_BACKEND_URING and io_uring_setup() failed
 *             (the errno it gave)
 *   -ENOMEM, -EMFILE, -EAGAIN  from the allocations and system calls beneath
 */
int iol_pool_create(const struct iol_pool_opts *opts, iol_pool **out);

/*
 * Cancel every operation in flight, run their callbacks (with -ECANCELED, or
 * their result if they completed first), stop and join the threads, free
 * everything.  Submissions racing with it fail with -ESHUTDOWN.  A blocking
 * file operation already running on an epoll file worker is not interrupted;
 * destroy waits for it.
 * Returns 0, -EINVAL (pool NULL), -EDEADLK (called from a pool thread) or
 * -EBADF (in a child of fork(), for a pool made before it: nothing is done,
 * see above).
 */
int iol_pool_destroy(iol_pool *pool);

/* "io_uring" or "epoll": the backend the pool runs on.  NULL for NULL (and
 * in a child of fork() for a pool made before it). */
const char *iol_pool_backend(const iol_pool *pool);

/* Number of threads in the pool (0 for NULL, and after fork() as above). */
unsigned iol_pool_threads(const iol_pool *pool);

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

/* Callback flags */
#define IOL_CQE_MORE   0x1u /* multishot: more callbacks follow for this operation */
#define IOL_CQE_BUFFER 0x2u /* a provided buffer is attached: iol_pool_buffer() */

typedef void (*iol_cb)(void *arg, int res, unsigned flags);

#define IOL_OP_ON_THREAD 0x1u /* run on opts->thread */

struct iol_op_opts {
	int64_t deadline_ns; /* > 0: cancel with -ETIMEDOUT this long (CLOCK_MONOTONIC)
			      * after submission if not complete; 0: none.  Values
			      * up to INT64_MAX are valid: past the end of the
			      * clock they saturate (i.e. never expire) */
	unsigned flags;	     /* IOL_OP_ON_THREAD */
	unsigned thread;     /* with IOL_OP_ON_THREAD: 0 .. threads-1 */
};

/*
 * Every operation takes (cb, arg, opts, id) last: cb is required; opts may
 * be NULL; id, if not NULL, receives the operation's id for
 * iol_pool_cancel() (never 0), stored before the operation can start, so
 * the operation's own callback may read it.
 *
 * Errors every submission can return:
 *   -EINVAL     pool or cb NULL; IOL_OP_ON_THREAD with a thread out of range;
 *               unknown flags; a negative deadline; a deadline on a multishot
 *               operation or a timer (they end only by cancellation)
 *   -ESHUTDOWN  iol_pool_destroy() has begun
 *   -ENOMEM     no memory for the operation
 *   -EBADF      in a child of fork(), on a pool made before the fork
 */

/*
 * read(2)/write(2) at offset off, or at the file position when off is -1.
 * len up to INT32_MAX (-EINVAL above).  A read or write on a pipe, socket or
 * other pollable descriptor waits for readiness on both backends, whether
 * or not the descriptor is O_NONBLOCK.
 */
int iol_pool_read(iol_pool *pool, int fd, void *buf, size_t len, int64_t off, iol_cb cb, void *arg,
		  const struct iol_op_opts *opts, uint64_t *id);
int iol_pool_write(iol_pool *pool, int fd, const void *buf, size_t len, int64_t off, iol_cb cb,
		   void *arg, const struct iol_op_opts *opts, uint64_t *id);

/* readv(2)/writev(2); iovcnt 1 to IOV_MAX (-EINVAL otherwise).  The iovec
 * array and its buffers stay the caller's to keep valid until the callback. */
int iol_pool_readv(iol_pool *pool, int fd, const struct iovec *iov, unsigned iovcnt, int64_t off,
		   iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id);
int iol_pool_writev(iol_pool *pool, int fd, const struct iovec *iov, unsigned iovcnt, int64_t off,
		    iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id);

#define IOL_FSYNC_DATASYNC 0x1u /* fdatasync(2) instead of fsync(2) */
int iol_pool_fsync(iol_pool *pool, int fd, unsigned flags, iol_cb cb, void *arg,
		   const struct iol_op_opts *opts, uint64_t *id);

/* openat(2): res is the new descriptor.  path is copied (-ENAMETOOLONG past
 * PATH_MAX, -EINVAL for NULL). */
int iol_pool_openat(iol_pool *pool, int dirfd, const char *path, int flags, mode_t mode, iol_cb cb,
		    void *arg, const struct iol_op_opts *opts, uint64_t *id);

/* close(2). */
int iol_pool_close(iol_pool *pool, int fd, iol_cb cb, void *arg, const struct iol_op_opts *opts,
		   uint64_t *id);

/* statx(2) into *out (which must stay valid until the callback); path is
 * copied; "" with AT_EMPTY_PATH describes dirfd itself. */
int iol_pool_statx(iol_pool *pool, int dirfd, const char *path, int flags, unsigned mask,
		   struct statx *out, iol_cb cb, void *arg, const struct iol_op_opts *opts,
		   uint64_t *id);

/*
 * accept4(2) on a listening socket; res is the new socket, created
 * SOCK_NONBLOCK | SOCK_CLOEXEC on both backends (pool operations do not care
 * whether a socket blocks).  With IOL_ACCEPT_MULTISHOT the callback runs
 * once per connection (IOL_CQE_MORE) until cancelled or an error.  The epoll
 * backend sets O_NONBLOCK on the listening socket.
 */
#define IOL_ACCEPT_MULTISHOT 0x1u
int iol_pool_accept(iol_pool *pool, int fd, unsigned flags, iol_cb cb, void *arg,
		    const struct iol_op_opts *opts, uint64_t *id);

/* connect(2); addr is copied (addrlen up to sizeof(struct sockaddr_storage),
 * -EINVAL beyond).  The epoll backend sets O_NONBLOCK on the socket. */
int iol_pool_connect(iol_pool *pool, int fd, const struct sockaddr *addr, socklen_t addrlen,
		     iol_cb cb, void *arg, const struct iol_op_opts *opts, uint64_t *id);

/*
 * recv(2) into buf.  flags are MSG_* flags: with MSG_WAITALL the pool keeps
 * receiving until len bytes, end of stream or an error (res is then the
 * bytes so far if any, else the error).  MSG_DONTWAIT gives -EAGAIN instead
 * of waiting.
 */
int iol_pool_recv(iol_pool *pool, int fd, void *buf, size_t len, int flags, iol_cb cb, void *arg,
		  const struct iol_op_opts *opts, uint64_t *id);

/*
 * Multishot recv into buffers of a group made by iol_pool_buffers_create().
 * Each chunk of data calls back with res bytes and flags IOL_CQE_BUFFER |
 * IOL_CQE_MORE; iol_pool_buffer(pool, flags) is the data.  The operation
 * ends (a final callback without IOL_CQE_MORE) at end of stream (res 0),
 * on an error, on cancellation, or with -ENOBUFS when data arrived and every
 * buffer of the group on that thread was borrowed: return buffers, then
 * submit it again (the data waits in the socket).  A final callback may carry
 * a buffer too (IOL_CQE_BUFFER).  flags are MSG_* flags for recv(2)
 * (MSG_WAITALL and MSG_DONTWAIT are refused with -EINVAL).
 */
int iol_pool_recv_multishot(iol_pool *pool, int fd, unsigned group, int flags, iol_cb cb, void *arg,
			    const struct iol_op_opts *opts, uint64_t *id);

/*
 * send(2); MSG_NOSIGNAL is always added.  Short sends happen as with send(2)
 * unless flags has MSG_WAITALL: then the pool resubmits the rest until all
 * is sent or an error (res is the bytes sent if any, else the error).
 * At or above opts.zc_threshold bytes, on io_uring with IORING_OP_SEND_ZC,
 * the send is zero-copy; its callback still runs once, after the kernel's
 * notification that it no longer uses the buffer.
 */
int iol_pool_send(iol_pool *pool, int fd, const void *buf, size_t len, int flags, iol_cb cb,
		  void *arg, const struct iol_op_opts *opts, uint64_t *id);

/* shutdown(2), how = SHUT_RD, SHUT_WR or SHUT_RDWR. */
int iol_pool_shutdown(iol_pool *pool, int fd, int how, iol_cb cb, void *arg,
		      const struct iol_op_opts *opts, uint64_t *id);

/*
 * A timer on CLOCK_MONOTONIC: calls back with res 0 after after_ns (>= 0).
 * With interval_ns > 0 it repeats every interval_ns after that (IOL_CQE_MORE
 * each time, period kept from the first expiry, not from callback times)
 * until cancelled, which ends it with a final -ECANCELED.  Any after_ns or
 * interval_ns up to INT64_MAX is valid: an expiry past the end of the clock
 * saturates and never comes (the timer then ends only by cancellation).
 */
int iol_pool_timer(iol_pool *pool, int64_t after_ns, int64_t interval_ns, iol_cb cb, void *arg,
		   const struct iol_op_opts *opts, uint64_t *id);

/*
 * Ask for an operation to end.  Returns 0 when the request was delivered to
 * the operation's thread: its callback then runs with -ECANCELED (final,
 * for multishot operations), unless it completed first, in which case it
 * runs with its result.  Returns -ENOENT when no operation with that id is in
 * flight (already completed, or never existed), -EINVAL for id 0 or a pool
 * NULL, -ESHUTDOWN during destruction (everything is cancelled then anyway),
 * -EBADF in a child of fork() (the operations are the parent's).
 * An operation already running in a blocking system call on an epoll file
 * worker completes with its result.
 */
int iol_pool_cancel(iol_pool *pool, uint64_t id);

/*
 * Wait for a handle of the table (an event, a semaphore, a process or a
 * thread) and acquire it as iol_wait(h) would: an auto-reset event is
 * reset, a semaphore loses one count; a process or thread is signaled when
 * it ended.  res is 0 once acquired, -ETIMEDOUT after opts->deadline_ns,
 * -ECANCELED after iol_pool_cancel() (a cancel racing with the acquisition
 * may still see 0: the object was then taken, and is the caller's).  The
 * operation holds its own reference on the object: closing h meanwhile
 * does not end it.  Waits on objects other processes signal work as well.
 *
 * On io_uring it is IORING_OP_FUTEX_WAIT on the object's futex word where
 * the kernel has it (6.7), and a pool helper thread blocked in futex_waitv
 * elsewhere (and on the epoll backend).  Errors at submission, besides
 * those every operation has: -EBADF (h is not an open handle), -EINVAL (a
 * mutex: ownership belongs to a thread, and pool threads are not the
 * caller; or a file handle).
 */
int iol_pool_wait_handle(iol_pool *pool, int h, iol_cb cb, void *arg,
			 const struct iol_op_opts *opts, uint64_t *id);

/* ------------------------------------------------------------------ */
/* Provided buffers (multishot recv)                                  */
/* ------------------------------------------------------------------ */

#define IOL_POOL_MAX_GROUPS 16

/*
 * Create a buffer group: count buffers of size bytes on each pool thread
 * (a provided-buffer ring belongs to one io_uring, so every thread gets its
 * own, set up when it first needs it).  count is a power of two from 1 to
 * 32768, size 1 to 1 GiB with count * size at most 4 GiB.  Groups live until
 * the pool is destroyed.  Sets *group.
 * Returns 0, -EINVAL, -ENOSPC (IOL_POOL_MAX_GROUPS groups exist),
 * -ESHUTDOWN (destruction has begun) or -EBADF (after fork(), as above).  Memory is taken per
 * thread on first use: a thread that cannot get it ends its multishot recv with -ENOMEM.
 */
int iol_pool_buffers_create(iol_pool *pool, unsigned count, unsigned size, unsigned *group);

/*
 * The buffer attached to a callback whose flags have IOL_CQE_BUFFER: the
 * data (res bytes of it).  flags identify the buffer; keep them to return
 * it.  Any thread may read it while borrowed.  NULL if flags carry no buffer
 * (or in a child of fork(), for a pool made before it).
 */
void *iol_pool_buffer(iol_pool *pool, unsigned flags);

/*
 * Give a borrowed buffer back to its group.  Callable from any thread: on
 * the buffer's own pool thread it is immediate, from others it is queued to
 * that thread.  Returns 0, or -EINVAL when flags carry no buffer of this
 * pool, -EALREADY when that buffer is not borrowed, -EBADF after fork().
 */
int iol_pool_buffer_return(iol_pool *pool, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* IOLAYER_POOL_H */
