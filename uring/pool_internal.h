/* SPDX-License-Identifier: MIT */
/*
 * The IO pool's internals, shared by its files:
 *
 *   pool.c           lifecycle: create, threads, backend choice, destroy
 *   op.c             operations: slab, ids, routing to threads, delivery,
 *                    cancellation, the per-thread inbox
 *   api.c            the public iol_pool_*() operations (argument checks)
 *   ring.c           io_uring backend: ring setup, SQEs, the CQE loop
 *   ops_file.c       io_uring: read/write/readv/writev/fsync/openat/close/statx
 *   ops_net.c        io_uring: accept/connect/recv/send/shutdown
 *   ops_time.c       io_uring: timers and linked-timeout deadlines
 *   ops_futex.c      io_uring: FUTEX_WAIT/FUTEX_WAITV operations
 *   epoll_backend.c  epoll backend: the loop, fd records, registration
 *   epoll_ops.c      epoll backend: each operation tried on readiness
 *   file_workers.c   blocking worker threads for regular-file IO (epoll)
 *   futex_wait.c     the futex-wait fallback (helper threads in futex_waitv)
 *   bufring.c        provided-buffer groups (kernel rings, or user space)
 *   timer_heap.c     a min-heap of operations by expiry (epoll timers)
 *
 * Threading: every struct ioli_op belongs to one pool thread (its owner),
 * and only the owner touches it once it is started, except for its atomic
 * generation (read by iol_pool_cancel from any thread) and the hand-off to
 * file workers and futex helpers (which return it through the inbox).
 */
#ifndef IOLI_POOL_INTERNAL_H
#define IOLI_POOL_INTERNAL_H

#include <linux/time_types.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iolayer/pool.h"
#include "uring/mpsc.h"
#include "uring/pool_futex.h"

struct ioli_thread;
struct ioli_fdrec;
struct io_uring_buf_ring;

enum ioli_op_kind {
	/* the file operations first, through STATX: ioli_op_is_file() */
	IOLI_OP_READ,
	IOLI_OP_WRITE,
	IOLI_OP_READV,
	IOLI_OP_WRITEV,
	IOLI_OP_FSYNC,
	IOLI_OP_OPENAT,
	IOLI_OP_CLOSE,
	IOLI_OP_STATX,
	IOLI_OP_ACCEPT,
	IOLI_OP_CONNECT,
	IOLI_OP_RECV,
	IOLI_OP_RECV_MULTI,
	IOLI_OP_SEND,
	IOLI_OP_SHUTDOWN,
	IOLI_OP_TIMER,
	IOLI_OP_FUTEX,
	IOLI_OP__COUNT
};

/* The file operations come first in the enum: read through statx. */
static inline bool ioli_op_is_file(enum ioli_op_kind k)
{
	return k <= IOLI_OP_STATX;
}

/* Where an operation is, for cancellation. */
enum ioli_where {
	IOLI_W_FREE = 0, /* in the slab */
	IOLI_W_QUEUED,	 /* in its thread's inbox, not yet started */
	IOLI_W_KERNEL,	 /* io_uring: SQEs in flight */
	IOLI_W_FDWAIT,	 /* epoll: waiting on its fd record */
	IOLI_W_TIMER,	 /* epoll: a timer in the heap */
	IOLI_W_WORKER,	 /* epoll: queued to or running on a file worker */
	IOLI_W_FUTEX,	 /* parked with a futex helper thread */
	IOLI_W_READY,	 /* result decided; callback pending in the ready list */
};

/* op->flags */
#define IOLI_F_MULTI	 0x0001 /* calls back with IOL_CQE_MORE */
#define IOLI_F_CANCELED	 0x0002 /* cancel requested; cancel_res says why */
#define IOLI_F_ZC	 0x0004 /* io_uring zero-copy send */
#define IOLI_F_TIMED_OUT 0x0008 /* io_uring: a linked timeout fired */
#define IOLI_F_WAITALL	 0x0010 /* MSG_WAITALL: keep going until len */
#define IOLI_F_EMULATED	 0x0020 /* multishot emulated by re-arming one-shots */
#define IOLI_F_STARTED	 0x0040 /* epoll connect: connect(2) issued */
#define IOLI_F_DEADLINE	 0x0080 /* deadline set (op->deadline) */
#define IOLI_F_POLLED	 0x0100 /* io_uring: waiting in a readiness poll */
#define IOLI_F_DECIDED	 0x0200 /* io_uring: final result known (op->res) */

struct ioli_op {
	struct ioli_msg msg; /* inbox link (submit, or done from a helper) */
	iol_cb cb;
	void *arg;
	struct ioli_thread *thread;
	_Atomic uint32_t gen; /* bumped when freed: stale ids miss */
	uint32_t slot;
	uint8_t kind;
	uint8_t where;
	uint16_t flags;
	int res;	       /* result decided so far */
	int cancel_res;	       /* -ECANCELED or -ETIMEDOUT */
	unsigned dflags;       /* IOL_CQE_* flags for the final callback */
	int64_t deadline;      /* absolute CLOCK_MONOTONIC ns, with IOLI_F_DEADLINE */
	struct ioli_op *rnext; /* ready list / free list / worker queue */
	size_t done;	       /* bytes transferred so far (WAITALL) */
	union {
		struct {
			int fd;
			int msg_flags;
			void *buf;
			size_t len;
			int64_t off;
		} io; /* read write recv send */
		struct {
			int fd;
			unsigned cnt;
			const struct iovec *iov;
			int64_t off;
		} vec;
		struct {
			int fd;
			unsigned flags;
		} fsync;
		struct {
			int dirfd;
			int flags;
			char *path; /* owned copy */
			mode_t mode;
			unsigned mask;
			struct statx *stx;
		} path; /* openat statx */
		struct {
			int fd;
			unsigned flags;
		} accept;
		struct {
			int fd;
			socklen_t len;
			struct sockaddr *addr; /* owned copy */
		} conn;
		struct {
			int fd;
			int msg_flags;
			unsigned group;
		} rmulti;
		struct {
			int fd;
			int how;
		} shut;
		struct {
			int fd; /* unused, -1 */
			int64_t next;
			int64_t interval;
		} timer;
		struct {
			unsigned n;
			bool shared;
			struct ioli_futex_word *v; /* n words; &one when n == 1 */
			struct ioli_futex_word one;
			void *helper;		  /* futex_wait.c: the helper holding it */
			ioli_futex_try_fn try_fn; /* NULL: plain futex wait */
		} futex;
	} u;
	union {
		struct {
			uint64_t cur_ud;	     /* user_data of the SQE to cancel */
			unsigned pending;	     /* CQEs still expected */
			struct __kernel_timespec ts; /* deadline / timer expiry */
			void *vec;		     /* FUTEX_WAITV array (owned) */
			int bid;		     /* emulated multishot recv: buffer in use */
		} ur;
		struct {
			struct ioli_op *wnext, *wprev; /* fd record queue */
			struct ioli_fdrec *rec;
			unsigned heap_idx; /* timer heap slot + 1; 0: none */
		} ep;
	} b;
};

/* ------------------------------------------------------------------ */
/* Per-thread operation slab                                           */
/* ------------------------------------------------------------------ */

#define IOLI_CHUNK_SHIFT 8
#define IOLI_CHUNK_OPS	 (1u << IOLI_CHUNK_SHIFT)
#define IOLI_MAX_CHUNKS	 4096u /* one million operations per thread */

struct ioli_slab {
	_Atomic(struct ioli_op *) chunks[IOLI_MAX_CHUNKS];
	_Atomic unsigned nchunks;
	struct ioli_op *local; /* owner's free list (lock-free) */
	unsigned nlocal;
	pthread_mutex_t lock; /* shared free list and chunk growth */
	struct ioli_op *shared;
	_Atomic unsigned nshared;
};

/* ------------------------------------------------------------------ */
/* Threads and the pool                                                */
/* ------------------------------------------------------------------ */

/* Counters, written by the owner thread only, read by tests. */
struct ioli_stats {
	_Atomic uint64_t sq_full;	 /* io_uring: SQ was full and was flushed */
	_Atomic uint64_t cq_overflow;	 /* io_uring: CQ overflow seen and flushed */
	_Atomic uint64_t submit_busy;	 /* io_uring: submit said -EBUSY/-EAGAIN */
	_Atomic uint64_t epoll_ctl;	 /* epoll: epoll_ctl calls */
	_Atomic uint64_t worker_ops;	 /* epoll: operations run on file workers */
	_Atomic uint64_t futex_fallback; /* futex waits parked with helper threads */
	_Atomic uint64_t zc_sends;	 /* io_uring: zero-copy sends issued */
};

#define IOLI_STAT_INC(t, field)                                                                    \
	atomic_store_explicit(&(t)->stats.field,                                                   \
			      atomic_load_explicit(&(t)->stats.field, memory_order_relaxed) + 1,   \
			      memory_order_relaxed)

/* A plain snapshot of the counters. */
struct ioli_stats_snapshot {
	uint64_t sq_full, cq_overflow, submit_busy, epoll_ctl, worker_ops, futex_fallback, zc_sends;
};

struct ioli_tbufs; /* bufring.c */

struct ioli_thread {
	struct iol_pool *pool;
	unsigned index;
	pthread_t tid;
	int wake_fd; /* eventfd */
	struct ioli_mpsc inbox;
	struct ioli_slab slab;
	unsigned live;				 /* operations started and not yet freed */
	struct ioli_op *ready_head, *ready_tail; /* decided, callbacks pending */
	bool stopping;
	bool cancelled_all;
	int init_err;
	void *be; /* backend state */
	_Atomic(struct ioli_tbufs *) bufs[IOL_POOL_MAX_GROUPS];
	struct ioli_op **heap; /* timer_heap.c (epoll) */
	unsigned heap_len, heap_cap;
	struct ioli_stats stats;
};

struct ioli_backend {
	const char *name;
	int (*thread_init)(struct ioli_thread *t); /* on the thread itself */
	void (*thread_run)(struct ioli_thread *t); /* until stopped and drained */
	void (*thread_fini)(struct ioli_thread *t);
	/* On the owner thread: start op (its fields are filled in). */
	void (*start)(struct ioli_thread *t, struct ioli_op *op);
	/* On the owner thread: op->flags has IOLI_F_CANCELED and cancel_res. */
	void (*cancel)(struct ioli_thread *t, struct ioli_op *op);
};

extern const struct ioli_backend ioli_uring_backend;
extern const struct ioli_backend ioli_epoll_backend;

struct ioli_group {
	unsigned count, size; /* 0 count: unused */
};

struct ioli_workers;
struct ioli_futex_helpers;

struct iol_pool {
	const struct ioli_backend *be;
	unsigned nthreads;
	struct ioli_thread *threads;
	struct iol_pool_opts opts;
	_Atomic bool stopping;
	_Atomic unsigned rr;  /* round-robin cursor */
	pthread_mutex_t lock; /* groups, lazily created helpers, startup */
	pthread_cond_t cond;
	unsigned started; /* threads that finished init */
	int start_go;	  /* 0: wait, 1: run, -1: give up (startup failed) */
	struct ioli_group groups[IOL_POOL_MAX_GROUPS];
	_Atomic unsigned ngroups;
	struct ioli_workers *workers;		    /* epoll file workers */
	_Atomic(struct ioli_futex_helpers *) fhelp; /* futex fallback, lazily */
	bool native_futex_wait;			    /* io_uring FUTEX_WAIT usable */
	bool native_futex_waitv;		    /* io_uring FUTEX_WAITV usable */
	unsigned fork_gen;			    /* ioli_fork_gen at creation */
};

/* Bumped in every child of fork() (pthread_atfork, pool.c): a pool whose
 * fork_gen differs was made by an ancestor, whose threads the child lacks. */
extern _Atomic unsigned ioli_fork_gen;

/* True in a child of fork() for a pool the parent (or an ancestor) made:
 * every entry point refuses it with -EBADF.  One relaxed load, no system
 * call. */
static inline bool ioli_pool_forked(const struct iol_pool *pool)
{
	return pool->fork_gen != atomic_load_explicit(&ioli_fork_gen, memory_order_relaxed);
}

/* The pool thread running the calling code, or NULL. */
extern __thread struct ioli_thread *ioli_self;

/* ------------------------------------------------------------------ */
/* op.c                                                                */
/* ------------------------------------------------------------------ */

/* Allocate an operation for thread t (any thread may call). */
struct ioli_op *ioli_op_alloc(struct ioli_thread *t);
/* Return an operation to its slab (owner thread only; others: lock). */
void ioli_op_free(struct ioli_thread *t, struct ioli_op *op);
/* The live operation an id names, or NULL (owner thread for certainty). */
struct ioli_op *ioli_op_lookup(struct ioli_thread *t, uint32_t slot, uint32_t gen);
void ioli_slab_init(struct ioli_slab *s);
void ioli_slab_fini(struct ioli_slab *s);
void ioli_slab_rebalance(struct ioli_slab *s);

/* Common preamble of every submission: checks, thread choice, allocation.
 * fd < 0 means the operation has no descriptor. */
int ioli_op_begin(iol_pool *pool, int kind, int fd, iol_cb cb, void *arg,
		  const struct iol_op_opts *opts, struct ioli_op **out);
/* Hand the filled operation to its thread; sets *id. */
int ioli_op_submit(struct ioli_op *op, uint64_t *id);
/* Undo ioli_op_begin() when the caller fails before submitting. */
void ioli_op_abort(struct ioli_op *op);

/* Run the callback now: a MORE callback, or the final one (frees op). */
void ioli_op_deliver(struct ioli_thread *t, struct ioli_op *op, int res, unsigned flags);
/* Decide the final result; the callback runs from the thread's loop. */
void ioli_op_finish(struct ioli_thread *t, struct ioli_op *op, int res, unsigned flags);
/* Run the callbacks of decided operations.  Returns how many ran. */
unsigned ioli_thread_run_ready(struct ioli_thread *t);
/* Process inbox messages (submissions, completions, cancels). */
unsigned ioli_thread_drain_inbox(struct ioli_thread *t);
/* Request cancellation on the owner thread. Returns 0 or -ENOENT. */
int ioli_op_cancel_local(struct ioli_thread *t, struct ioli_op *op, int why);
/* From a helper/worker: op's result is in op->res; deliver on the owner. */
void ioli_op_post_done(struct ioli_op *op);
/* Wake t's loop (eventfd). */
void ioli_thread_wake(struct ioli_thread *t);
/* Queue m on t's inbox and wake its loop if needed; -ESHUTDOWN once closed. */
int ioli_thread_post(struct ioli_thread *t, struct ioli_msg *m);
/* Stopping: cancel every started operation of t (owner thread). */
void ioli_thread_cancel_all(struct ioli_thread *t);
/* Stopping: close the inbox when nothing is live; true once closed. */
bool ioli_thread_try_close(struct ioli_thread *t);
/* The start of every turn of a backend's loop: notice the pool stopping,
 * take the inbox, cancel everything once when stopping, run what is ready. */
void ioli_thread_loop_begin(struct ioli_thread *t);

int64_t ioli_now_ns(void); /* futex/futex.c */

/* t + ns (ns >= 0) saturated at INT64_MAX: a deadline or expiry past the
 * end of time is "never", as with iol_wait's huge timeouts, not an
 * overflow that would make it lie in the past. */
static inline int64_t ioli_ns_add_sat(int64_t t, int64_t ns)
{
	int64_t r;

	return __builtin_add_overflow(t, ns, &r) ? INT64_MAX : r;
}
uint64_t ioli_op_id(const struct ioli_op *op);

/* ------------------------------------------------------------------ */
/* bufring.c                                                           */
/* ------------------------------------------------------------------ */

struct ioli_tbufs {
	unsigned count, size, group;
	char *mem;
	_Atomic uint8_t *borrowed;
	bool kernel; /* a registered io_uring buffer ring */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint16_t *free; /* user-space free stack */
	unsigned nfree;
};

/* The thread's buffers of group, set up on first use (owner thread). */
int ioli_tbufs_get(struct ioli_thread *t, unsigned group, struct ioli_tbufs **out);
/* Take a free buffer (user-space mode); -1 when none. */
int ioli_tbufs_take(struct ioli_tbufs *b);
/* Put a buffer back on its free list or kernel ring (owner thread). */
void ioli_tbufs_put(struct ioli_thread *t, struct ioli_tbufs *b, unsigned bid);
/* Mark a buffer borrowed and make the flags that identify it. */
unsigned ioli_tbufs_lend(struct ioli_thread *t, struct ioli_tbufs *b, unsigned bid);
void ioli_tbufs_free_all(struct ioli_thread *t);
/* Owner side of a queued return. */
void ioli_tbufs_return_msg(struct ioli_thread *t, struct ioli_msg *m);

/* ------------------------------------------------------------------ */
/* timer_heap.c                                                        */
/* ------------------------------------------------------------------ */

/* Keyed by op->deadline (timers keep their next expiry there). */
int ioli_heap_push(struct ioli_thread *t, struct ioli_op *op);
void ioli_heap_remove(struct ioli_thread *t, struct ioli_op *op);
struct ioli_op *ioli_heap_top(struct ioli_thread *t);
void ioli_heap_free(struct ioli_thread *t);

/* ------------------------------------------------------------------ */
/* file_workers.c (epoll backend)                                     */
/* ------------------------------------------------------------------ */

int ioli_workers_start(iol_pool *pool, unsigned n);
void ioli_workers_stop(iol_pool *pool);
void ioli_workers_queue(iol_pool *pool, struct ioli_op *op);
/* Remove op if it has not started running; true when removed. */
bool ioli_workers_cancel(iol_pool *pool, struct ioli_op *op);
/* The blocking system call of op; returns its result or -errno. */
int ioli_exec_blocking(struct ioli_op *op);

/* ------------------------------------------------------------------ */
/* futex_wait.c (fallback for futex waits)                            */
/* ------------------------------------------------------------------ */

int ioli_futex_helpers_add(iol_pool *pool, struct ioli_op *op);
/* Remove op if no helper has fired it yet; true when removed. */
bool ioli_futex_helpers_cancel(iol_pool *pool, struct ioli_op *op);
void ioli_futex_helpers_stop(iol_pool *pool);

/* Index of the first word that differs from its expected value, or -1. */
int ioli_futex_first_changed(const struct ioli_op *op);
/* Word i fired: the result to deliver, or -EAGAIN when op should wait again
 * (its try hook lost the race and no cancel is pending). */
int ioli_futex_fired(struct ioli_op *op, int i);
/* A futex op came back from a helper (IOLI_MSG_DONE): deliver or re-arm. */
void ioli_futex_done(struct ioli_thread *t, struct ioli_op *op);

/* ------------------------------------------------------------------ */
/* Inbox message types                                                 */
/* ------------------------------------------------------------------ */

enum ioli_msg_type {
	IOLI_MSG_SUBMIT = 1,
	IOLI_MSG_DONE,	 /* op->res from a worker or futex helper */
	IOLI_MSG_CANCEL, /* struct ioli_cancel_msg */
	IOLI_MSG_BUFRET, /* struct ioli_bufret_msg */
};

struct ioli_cancel_msg {
	struct ioli_msg msg;
	uint32_t slot, gen;
};

struct ioli_bufret_msg {
	struct ioli_msg msg;
	unsigned group, bid;
};

/* Buffer identity in callback flags: bits 4-7 group, 8-15 thread, 16-31 bid. */
#define IOLI_BUF_FLAGS(group, thread, bid)                                                         \
	(IOL_CQE_BUFFER | ((unsigned)(group) << 4) | ((unsigned)(thread) << 8) |                   \
	 ((unsigned)(bid) << 16))
#define IOLI_BUF_GROUP(f)  (((f) >> 4) & 0xfu)
#define IOLI_BUF_THREAD(f) (((f) >> 8) & 0xffu)
#define IOLI_BUF_BID(f)	   ((f) >> 16)

/* The io_uring setup flags of the pool's rings (0 on epoll; tests). */
unsigned ioli_pool_ring_flags(iol_pool *pool);

/* Sum of every thread's counters (tests read them). */
void ioli_pool_stats(iol_pool *pool, struct ioli_stats_snapshot *out);

#endif /* IOLI_POOL_INTERNAL_H */
