/* SPDX-License-Identifier: MIT */
/*
 * The probe's front: names and first releases of the features, the
 * once-only probe, and the IOLAYER_DISABLE / IOLAYER_BACKEND overrides.
 *
 * The result is computed once (pthread_once) into a snapshot that never
 * changes afterwards, so readers need no lock.  A feature whose probe ran
 * out of resources (EMFILE, ENFILE, ENOMEM, EAGAIN: a full descriptor
 * table, say) is not a missing feature: it is marked for a retry, and the
 * next call that asks for it probes its family again.  When that settles a
 * feature, a new snapshot (a copy with the new answers) is published; old
 * ones stay allocated, since callers may hold pointers into them.  Answers
 * only ever go from "retry" to settled, so there are at most
 * IOL_FEAT__COUNT + 1 snapshots.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/escape.h"
#include "src/probe/probe_internal.h"

struct feature_meta {
	const char *name;
	const char *since;
};

/* Names are stable (scripts and IOLAYER_DISABLE use them); first releases
 * are mainline kernel versions, see docs/kernel-features.md. */
static const struct feature_meta meta[IOL_FEAT__COUNT] = {
    [IOL_FEAT_IO_URING] = {"io_uring", "5.1"},
    [IOL_FEAT_URING_SINGLE_ISSUER] = {"uring_single_issuer", "6.0"},
    [IOL_FEAT_URING_DEFER_TASKRUN] = {"uring_defer_taskrun", "6.1"},
    [IOL_FEAT_URING_COOP_TASKRUN] = {"uring_coop_taskrun", "5.19"},
    [IOL_FEAT_URING_SQPOLL] = {"uring_sqpoll", "5.13"},
    [IOL_FEAT_URING_NO_SQARRAY] = {"uring_no_sqarray", "6.6"},
    [IOL_FEAT_URING_FEAT_NODROP] = {"uring_feat_nodrop", "5.5"},
    [IOL_FEAT_URING_FEAT_FAST_POLL] = {"uring_feat_fast_poll", "5.7"},
    [IOL_FEAT_URING_FEAT_EXT_ARG] = {"uring_feat_ext_arg", "5.11"},
    [IOL_FEAT_URING_FEAT_SUBMIT_STABLE] = {"uring_feat_submit_stable", "5.5"},
    [IOL_FEAT_URING_FEAT_CQE_SKIP] = {"uring_feat_cqe_skip", "5.17"},
    [IOL_FEAT_URING_FEAT_LINKED_FILE] = {"uring_feat_linked_file", "5.17"},
    [IOL_FEAT_URING_FEAT_REG_REG_RING] = {"uring_feat_reg_reg_ring", "6.3"},
    [IOL_FEAT_URING_OP_READ] = {"uring_op_read", "5.6"},
    [IOL_FEAT_URING_OP_WRITE] = {"uring_op_write", "5.6"},
    [IOL_FEAT_URING_OP_READV] = {"uring_op_readv", "5.1"},
    [IOL_FEAT_URING_OP_WRITEV] = {"uring_op_writev", "5.1"},
    [IOL_FEAT_URING_OP_FSYNC] = {"uring_op_fsync", "5.1"},
    [IOL_FEAT_URING_OP_OPENAT] = {"uring_op_openat", "5.6"},
    [IOL_FEAT_URING_OP_CLOSE] = {"uring_op_close", "5.6"},
    [IOL_FEAT_URING_OP_STATX] = {"uring_op_statx", "5.6"},
    [IOL_FEAT_URING_OP_ACCEPT] = {"uring_op_accept", "5.5"},
    [IOL_FEAT_URING_OP_CONNECT] = {"uring_op_connect", "5.5"},
    [IOL_FEAT_URING_OP_RECV] = {"uring_op_recv", "5.6"},
    [IOL_FEAT_URING_OP_SEND] = {"uring_op_send", "5.6"},
    [IOL_FEAT_URING_OP_SHUTDOWN] = {"uring_op_shutdown", "5.11"},
    [IOL_FEAT_URING_OP_TIMEOUT] = {"uring_op_timeout", "5.4"},
    [IOL_FEAT_URING_OP_LINK_TIMEOUT] = {"uring_op_link_timeout", "5.5"},
    [IOL_FEAT_URING_OP_ASYNC_CANCEL] = {"uring_op_async_cancel", "5.5"},
    [IOL_FEAT_URING_OP_POLL_ADD] = {"uring_op_poll_add", "5.1"},
    [IOL_FEAT_URING_OP_MSG_RING] = {"uring_op_msg_ring", "5.18"},
    [IOL_FEAT_URING_OP_SEND_ZC] = {"uring_op_send_zc", "6.0"},
    [IOL_FEAT_URING_OP_FUTEX_WAIT] = {"uring_op_futex_wait", "6.7"},
    [IOL_FEAT_URING_OP_FUTEX_WAKE] = {"uring_op_futex_wake", "6.7"},
    [IOL_FEAT_URING_OP_FUTEX_WAITV] = {"uring_op_futex_waitv", "6.7"},
    [IOL_FEAT_URING_OP_WAITID] = {"uring_op_waitid", "6.7"},
    [IOL_FEAT_URING_MULTISHOT_ACCEPT] = {"uring_multishot_accept", "5.19"},
    [IOL_FEAT_URING_MULTISHOT_RECV] = {"uring_multishot_recv", "6.0"},
    [IOL_FEAT_URING_PBUF_RING] = {"uring_pbuf_ring", "5.19"},
    [IOL_FEAT_URING_REGISTER_RING_FD] = {"uring_register_ring_fd", "5.18"},
    [IOL_FEAT_FUTEX_WAITV] = {"futex_waitv", "5.16"},
    [IOL_FEAT_FUTEX2] = {"futex2", "6.7"},
    [IOL_FEAT_PIDFD_OPEN] = {"pidfd_open", "5.3"},
    [IOL_FEAT_CLONE3_PIDFD] = {"clone3_pidfd", "5.3"},
    [IOL_FEAT_WAITID_PIDFD] = {"waitid_pidfd", "5.4"},
    [IOL_FEAT_PIDFD_SEND_SIGNAL] = {"pidfd_send_signal", "5.1"},
    [IOL_FEAT_PIDFD_GET_INFO] = {"pidfd_get_info", "6.15"},
    [IOL_FEAT_PIDFS] = {"pidfs", "6.9"},
};

struct snapshot {
	struct iol_features f;
	bool retry[IOL_FEAT__COUNT]; /* missing for lack of resources: ask again */
	bool any_retry;
	char backend_reason[192];
	struct snapshot *older; /* kept reachable: callers may still read it */
};

static struct snapshot first;
static _Atomic(struct snapshot *) current;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reprobe_lock = PTHREAD_MUTEX_INITIALIZER;
static bool masked[IOL_FEAT__COUNT]; /* IOLAYER_DISABLE, read once */

const char *ioli_errno_name(int err, char buf[static 16])
{
	const char *n = strerrorname_np(err);

	if (n)
		return n;
	snprintf(buf, 16, "errno %d", err);
	return buf;
}

const char *ioli_missing_why(int err)
{
	switch (err) {
	case ENOSYS:
		return "the kernel lacks it, or a seccomp filter refuses it";
	case EPERM:
	case EACCES:
		return "refused by a seccomp filter, an LSM or a sysctl";
	case EINVAL:
		return "the kernel does not know this argument";
	case EOPNOTSUPP:
		return "not supported here";
	default:
		return "unexpected answer";
	}
}

void ioli_feat_ok(struct iol_features *f, enum iol_feature id)
{
	struct iol_feature_info *fi = &f->feat[id];

	fi->available = true;
	fi->error = 0;
	fi->reason[0] = '\0';
}

void ioli_feat_missing(struct iol_features *f, enum iol_feature id, int err, const char *fmt, ...)
{
	struct iol_feature_info *fi = &f->feat[id];
	va_list ap;

	fi->available = false;
	fi->error = err;
	va_start(ap, fmt);
	vsnprintf(fi->reason, sizeof(fi->reason), fmt, ap);
	va_end(ap);
}

const char *iol_feature_name(enum iol_feature f)
{
	if ((unsigned)f >= IOL_FEAT__COUNT)
		return NULL;
	return meta[f].name;
}

int iol_feature_by_name(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int i = 0; i < IOL_FEAT__COUNT; i++)
		if (strcasecmp(meta[i].name, name) == 0)
			return i;
	return -EINVAL;
}

static bool is_uring_feature(int id)
{
	return id > IOL_FEAT_IO_URING && id <= IOL_FEAT_URING_REGISTER_RING_FD;
}

static void mask_feature(struct iol_features *f, int id, const char *why)
{
	masked[id] = true;
	if (f->feat[id].available)
		ioli_feat_missing(f, id, ENOSYS, "%s", why);
}

/* A probe that failed for want of descriptors says nothing about the
 * kernel: probe again later rather than remember it.  Not ENOMEM or
 * EAGAIN: io_uring_setup's ENOMEM is usually a fixed RLIMIT_MEMLOCK, and
 * a limit that never lifts would have every iol_has() and pool start
 * probe again (a fork, a ring) for the life of the process. */
static bool resource_error(int err)
{
	return err == EMFILE || err == ENFILE;
}

static bool needs_retry(const struct iol_feature_info *fi, int id)
{
	return !fi->available && !masked[id] && resource_error(fi->error);
}

static void mark_retries(struct snapshot *s)
{
	s->any_retry = false;
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		s->retry[i] = needs_retry(&s->f.feat[i], i);
		s->any_retry |= s->retry[i];
	}
}

/* IOLAYER_DISABLE=name[,name...]: mask features as if the kernel lacked
 * them.  Masking io_uring masks every io_uring capability with it, since
 * none of them can be used without a ring. */
static void apply_disable(struct iol_features *f)
{
	const char *env = getenv("IOLAYER_DISABLE");
	char *copy, *tok, *save = NULL;

	if (!env || !*env)
		return;
	f->disabled = strdup(env);
	copy = strdup(env);
	if (!f->disabled || !copy) {
		free(copy);
		fprintf(stderr, "iolayer: IOLAYER_DISABLE ignored: out of memory\n");
		return;
	}
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		int id = iol_feature_by_name(tok);

		if (id < 0) {
			char e[IOLI_ESC_BUFLEN(IOLI_ESC_NAME)];

			fprintf(stderr,
				"iolayer: IOLAYER_DISABLE: unknown feature \"%s\" ignored "
				"(`iolayer probe` lists the names)\n",
				ioli_escape(tok, IOLI_ESC_NAME, e, sizeof(e)));
			continue;
		}
		mask_feature(f, id, "disabled by IOLAYER_DISABLE");
		if (id == IOL_FEAT_IO_URING)
			for (int i = 0; i < IOL_FEAT__COUNT; i++)
				if (is_uring_feature(i))
					mask_feature(f, i,
						     "disabled by IOLAYER_DISABLE (io_uring)");
	}
	free(copy);
}

/* warn: say so on stderr for an unknown IOLAYER_BACKEND (the first time). */
static void choose_backend(struct iol_features *f, char *backend_reason, size_t cap, bool warn)
{
	const struct iol_feature_info *u = &f->feat[IOL_FEAT_IO_URING];
	const char *env = getenv("IOLAYER_BACKEND");

	if (env && (!strcmp(env, "uring") || !strcmp(env, "io_uring"))) {
		f->backend = "io_uring";
		if (u->available)
			snprintf(backend_reason, cap, "forced by IOLAYER_BACKEND=%s", env);
		else
			snprintf(
			    backend_reason, cap,
			    "forced by IOLAYER_BACKEND=%s although io_uring is unavailable (%s)",
			    env, u->reason);
		f->backend_reason = backend_reason;
		return;
	}
	if (env && !strcmp(env, "epoll")) {
		f->backend = "epoll";
		f->backend_reason = "forced by IOLAYER_BACKEND=epoll";
		return;
	}
	if (warn && env && *env && strcmp(env, "auto") != 0) {
		char e[IOLI_ESC_BUFLEN(IOLI_ESC_NAME)];

		fprintf(stderr,
			"iolayer: IOLAYER_BACKEND: unknown value \"%s\" ignored "
			"(use uring, epoll or auto)\n",
			ioli_escape(env, IOLI_ESC_NAME, e, sizeof(e)));
	}
	if (u->available) {
		f->backend = "io_uring";
		f->backend_reason = "io_uring_setup works";
	} else {
		f->backend = "epoll";
		snprintf(backend_reason, cap, "io_uring unavailable: %s", u->reason);
		f->backend_reason = backend_reason;
	}
}

static void probe_all(void)
{
	struct iol_features *f = &first.f;
	int saved_errno = errno; /* the first caller should not see ours */

	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		f->feat[i].name = meta[i].name;
		f->feat[i].since = meta[i].since;
		/* Every probe records each of its features; this marks a bug. */
		ioli_feat_missing(f, i, ENOSYS, "not probed");
	}
	ioli_probe_env(f);
	ioli_probe_uring(f);
	ioli_probe_futex(f);
	ioli_probe_proc(f);
	apply_disable(f);
	choose_backend(f, first.backend_reason, sizeof(first.backend_reason), true);
	mark_retries(&first);
	atomic_store_explicit(&current, &first, memory_order_release);
	errno = saved_errno;
}

static struct snapshot *snap(void)
{
	pthread_once(&once, probe_all);
	return atomic_load_explicit(&current, memory_order_acquire);
}

/* The probe of the family feature id belongs to. */
static void (*family_probe(int id))(struct iol_features *)
{
	if (id <= IOL_FEAT_URING_REGISTER_RING_FD)
		return ioli_probe_uring;
	if (id <= IOL_FEAT_FUTEX2)
		return ioli_probe_futex;
	return ioli_probe_proc;
}

/*
 * Probe again the families of the features in want (true: retry it) that
 * still wait for a retry; publish a new snapshot if that settled any.  The
 * caller's errno is kept.
 */
static void reprobe(const bool want[IOL_FEAT__COUNT])
{
	void (*probes[3])(struct iol_features *) = {ioli_probe_uring, ioli_probe_futex,
						    ioli_probe_proc};
	int saved_errno = errno;
	struct snapshot *cur, *next;
	bool settled = false;

	pthread_mutex_lock(&reprobe_lock);
	cur = atomic_load_explicit(&current, memory_order_acquire);
	next = malloc(sizeof(*next));
	if (!next)
		goto out;
	*next = *cur;
	/* What the environment said may have been cut short too (a sysctl
	 * file that could not be opened): read it again with the rest. */
	ioli_probe_env(&next->f);
	for (int p = 0; p < 3; p++) {
		struct iol_features scratch = cur->f;
		bool run = false;

		for (int i = 0; i < IOL_FEAT__COUNT; i++)
			run |= want[i] && cur->retry[i] && family_probe(i) == probes[p];
		if (!run)
			continue;
		probes[p](&scratch);
		/* Take the new answers of the features waiting for one only:
		 * a settled answer never changes. */
		for (int i = 0; i < IOL_FEAT__COUNT; i++) {
			if (!cur->retry[i] || family_probe(i) != probes[p])
				continue;
			next->f.feat[i] = scratch.feat[i]; /* never masked: see needs_retry */
			settled |= !needs_retry(&next->f.feat[i], i);
		}
	}
	if (!settled) {
		free(next);
		goto out;
	}
	mark_retries(next);
	choose_backend(&next->f, next->backend_reason, sizeof(next->backend_reason), false);
	next->older = cur;
	atomic_store_explicit(&current, next, memory_order_release);
out:
	pthread_mutex_unlock(&reprobe_lock);
	errno = saved_errno;
}

const struct iol_features *iol_features(void)
{
	struct snapshot *s = snap();

	if (s->any_retry) {
		bool all[IOL_FEAT__COUNT];

		for (int i = 0; i < IOL_FEAT__COUNT; i++)
			all[i] = true;
		reprobe(all);
		s = atomic_load_explicit(&current, memory_order_acquire);
	}
	return &s->f;
}

int ioli_feature_need(enum iol_feature f)
{
	struct snapshot *s = snap();

	if (s->retry[f]) {
		bool want[IOL_FEAT__COUNT] = {false};

		want[f] = true;
		reprobe(want);
		s = atomic_load_explicit(&current, memory_order_acquire);
	}
	if (s->f.feat[f].available)
		return 0;
	return s->retry[f] ? -s->f.feat[f].error : -ENOSYS;
}

bool iol_has(enum iol_feature f)
{
	if ((unsigned)f >= IOL_FEAT__COUNT)
		return false;
	return ioli_feature_need(f) == 0;
}
