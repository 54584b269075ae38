/* SPDX-License-Identifier: MIT */
/*
 * Kernel feature detection.
 *
 * iolayer asks the running kernel, once, what it offers (never by parsing
 * version numbers), picks its paths from the answers and reports them.
 * Every feature has a name, the first kernel release that has it, and, when
 * missing, the errno the kernel answered with and a sentence saying why.
 *
 * IOLAYER_DISABLE=feature[,feature...] masks features as if the kernel
 * lacked them (error ENOSYS, reason "disabled by IOLAYER_DISABLE"); names
 * are those of iol_feature_name(), matched without regard to case; masking
 * "io_uring" masks every io_uring feature with it.  An unknown name is
 * reported on stderr once.  IOLAYER_BACKEND=uring|epoll (or auto) forces
 * the IO backend the pool picks for IOL_BACKEND_AUTO; "uring" is honoured
 * even when io_uring is missing, and backend_reason then says so.
 *
 * A seccomp filter that answers a probed call with ENOSYS, EPERM or EINVAL
 * makes that feature missing with that errno.  A probe that fails for lack
 * of descriptors (EMFILE, ENFILE) is not remembered: the
 * feature reads as missing with that error, and the next iol_has() or
 * iol_features() call (or library call needing it) probes it again.
 * Settled answers never change.  (A filter that kills the
 * process on a forbidden call cannot be survived by any in-process probe.)
 * docs/kernel-features.md lists every feature, its first kernel, how it
 * is detected and what the library does without it.
 */
#ifndef IOLAYER_PROBE_H
#define IOLAYER_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum iol_feature {
	/* io_uring itself and its setup flags */
	IOL_FEAT_IO_URING = 0,	      /* io_uring_setup() works */
	IOL_FEAT_URING_SINGLE_ISSUER, /* IORING_SETUP_SINGLE_ISSUER */
	IOL_FEAT_URING_DEFER_TASKRUN, /* IORING_SETUP_DEFER_TASKRUN */
	IOL_FEAT_URING_COOP_TASKRUN,  /* IORING_SETUP_COOP_TASKRUN */
	IOL_FEAT_URING_SQPOLL,	   /* IORING_SETUP_SQPOLL (as this user; unprivileged since 5.13) */
	IOL_FEAT_URING_NO_SQARRAY, /* IORING_SETUP_NO_SQARRAY */
	/* io_uring_params.features bits */
	IOL_FEAT_URING_FEAT_NODROP,
	IOL_FEAT_URING_FEAT_FAST_POLL,
	IOL_FEAT_URING_FEAT_EXT_ARG,
	IOL_FEAT_URING_FEAT_SUBMIT_STABLE,
	IOL_FEAT_URING_FEAT_CQE_SKIP,
	IOL_FEAT_URING_FEAT_LINKED_FILE,
	IOL_FEAT_URING_FEAT_REG_REG_RING,
	/* opcodes the library uses */
	IOL_FEAT_URING_OP_READ,
	IOL_FEAT_URING_OP_WRITE,
	IOL_FEAT_URING_OP_READV,
	IOL_FEAT_URING_OP_WRITEV,
	IOL_FEAT_URING_OP_FSYNC,
	IOL_FEAT_URING_OP_OPENAT,
	IOL_FEAT_URING_OP_CLOSE,
	IOL_FEAT_URING_OP_STATX,
	IOL_FEAT_URING_OP_ACCEPT,
	IOL_FEAT_URING_OP_CONNECT,
	IOL_FEAT_URING_OP_RECV,
	IOL_FEAT_URING_OP_SEND,
	IOL_FEAT_URING_OP_SHUTDOWN,
	IOL_FEAT_URING_OP_TIMEOUT,
	IOL_FEAT_URING_OP_LINK_TIMEOUT,
	IOL_FEAT_URING_OP_ASYNC_CANCEL,
	IOL_FEAT_URING_OP_POLL_ADD,
	IOL_FEAT_URING_OP_MSG_RING,
	IOL_FEAT_URING_OP_SEND_ZC,
	IOL_FEAT_URING_OP_FUTEX_WAIT,
	IOL_FEAT_URING_OP_FUTEX_WAKE,
	IOL_FEAT_URING_OP_FUTEX_WAITV,
	IOL_FEAT_URING_OP_WAITID,
	/* io_uring capabilities found by trying them */
	IOL_FEAT_URING_MULTISHOT_ACCEPT,
	IOL_FEAT_URING_MULTISHOT_RECV,
	IOL_FEAT_URING_PBUF_RING, /* IORING_REGISTER_PBUF_RING */
	IOL_FEAT_URING_REGISTER_RING_FD,
	/* futex */
	IOL_FEAT_FUTEX_WAITV, /* futex_waitv(2), the core's minimum (5.16) */
	IOL_FEAT_FUTEX2,      /* futex_wake(2)/futex_wait(2) */
	/* processes */
	IOL_FEAT_PIDFD_OPEN,
	IOL_FEAT_CLONE3_PIDFD,
	IOL_FEAT_WAITID_PIDFD,
	IOL_FEAT_PIDFD_SEND_SIGNAL,
	IOL_FEAT_PIDFD_GET_INFO, /* PIDFD_GET_INFO with exit information (6.15; the ioctl is 6.13)
				  */
	IOL_FEAT_PIDFS,		 /* pidfds have a unique inode per process */
	IOL_FEAT__COUNT
};

struct iol_feature_info {
	const char *name;  /* stable short name, e.g. "futex_waitv" */
	const char *since; /* first kernel release that has it, e.g. "5.16" */
	bool available;
	int error;	  /* when missing: the positive errno the kernel gave */
	char reason[128]; /* when missing: why, in one sentence */
};

struct iol_features {
	struct iol_feature_info feat[IOL_FEAT__COUNT];
	char kernel_release[65]; /* uname -r */
	int io_uring_disabled; /* kernel.io_uring_disabled, -1 if unknown (no sysctl before 6.6) */
	long io_uring_group;   /* kernel.io_uring_group, -1 if unset (the default) or unknown */
	uint64_t memlock_cur;  /* RLIMIT_MEMLOCK soft limit (RLIM_INFINITY = UINT64_MAX) */
	uint64_t memlock_max;  /* RLIMIT_MEMLOCK hard limit */
	int liburing_major;    /* liburing version built against, -1 if unknown */
	int liburing_minor;
	const char *backend; /* IO backend AUTO picks: "io_uring" or "epoll" */
	const char
	    *backend_reason;  /* why (e.g. "io_uring unavailable: io_uring_setup: EPERM ...") */
	const char *disabled; /* IOLAYER_DISABLE as read, or NULL */
};

/* The probe's results: probed on first call, thread-safe, cheap after.
 * The result is read-only; a later call may return a newer one (when a
 * feature left for a retry got its answer), and older ones stay valid. */
const struct iol_features *iol_features(void);

/* Whether a feature is available (and not masked by IOLAYER_DISABLE). */
bool iol_has(enum iol_feature f);

/* The feature's short name, or NULL for an out-of-range value. */
const char *iol_feature_name(enum iol_feature f);

/* The feature whose short name is name, or -EINVAL. */
int iol_feature_by_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* IOLAYER_PROBE_H */
