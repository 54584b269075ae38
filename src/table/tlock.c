/* SPDX-License-Identifier: MIT */
/*
 * T, the table lock, and its undo log.
 *
 * T is a robust lock word in the header (struct ioli_rlock): it holds the
 * locking process's sentinel tid, and if that process dies the kernel marks
 * it FUTEX_OWNER_DIED (src/table/sentinel.c) and the next locker gets EOWNERDEAD.  Every write made
 * under T goes through ioli_tset(), which first appends (offset, old value) to the undo log in the
 * header, so the next locker can roll a dead holder's half-done critical section back, entry by
 * entry in reverse, before marking the lock consistent.  The log is emptied when the holder unlocks
 * normally: that store is the commit.
 */
#include <errno.h>
#include <linux/futex.h>
#include <time.h>
#include <unistd.h>

#include "futex/futex.h"

#include "src/fault.h"
#include "src/table/table.h"
#include "src/process/watcher.h"

static void undo_rollback(iol_table *t)
{
	struct ioli_hdr *h = t->hdr;
	uint32_t n = atomic_load_explicit(&h->undo_n, memory_order_acquire);

	if (n > IOLI_UNDO_MAX)
		n = IOLI_UNDO_MAX; /* scribbled: replay what can be replayed */
	while (n-- > 0) {
		uint64_t off = h->undo[n].off;
		uint32_t old = h->undo[n].old;

		/* Only the T-protected counters of the header and the regions
		 * after it can be logged; anything else, or an unaligned offset,
		 * is garbage: skip it. */
		bool in_hdr = off >= offsetof(struct ioli_hdr, free_head) &&
			      off < offsetof(struct ioli_hdr, undo_n);
		if ((!in_hdr && off < sizeof(struct ioli_hdr)) || off > t->size - 4 || (off & 3))
			continue;
		atomic_store_explicit((_Atomic uint32_t *)(t->base + off), old,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&h->undo_n, 0, memory_order_release);
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* This thread's limit on waiting for T or L (CLOCK_MONOTONIC ns, 0: none),
 * set while it closes a table or runs the exit handler (see
 * ioli_lock_limit_begin()). */
static _Thread_local int64_t limit_ns;

int64_t ioli_lock_limit_begin(int64_t ns)
{
	int64_t prev = limit_ns, until = ioli_now_ns() + ns;

	if (!prev || until < prev)
		limit_ns = until;
	return prev;
}

void ioli_lock_limit_end(int64_t prev)
{
	limit_ns = prev;
}

int ioli_rlock_lock_until(iol_table *t, struct ioli_rlock *l, _Atomic pid_t *holder,
			  const struct timespec *until)
{
	struct ioli_deadline d;
	uint32_t v = 0, want, waiters = 0;
	pid_t me = ioli_gettid();
	int stid = ioli_sentinel_tid(t);
	bool callers = false;

	if (stid < 0)
		return -stid;
	/* Free (the common case): one CAS, no clock read. */
	if (atomic_compare_exchange_strong(&l->word, &v, (uint32_t)stid))
		goto taken;
	/* Nobody holds T or L for more than a few hundred instructions, and
	 * the kernel marks a dead holder's word; a lock still held after this
	 * long is a stopped holder or a scribbled table.  Fail (and let fsck
	 * say which) rather than hang forever.  Sooner when closing or
	 * exiting (limit_ns), or for a caller's own deadline (ETIMEDOUT). */
	ioli_deadline_set(&d, (int64_t)IOLI_LOCK_PATIENCE_S * 1000000000);
	if (limit_ns) {
		struct timespec lt = {.tv_sec = (time_t)(limit_ns / 1000000000),
				      .tv_nsec = (long)(limit_ns % 1000000000)};

		if (ts_before(&lt, &d.ts))
			d.ts = lt;
	}
	if (until && ts_before(until, &d.ts)) {
		d.ts = *until;
		callers = true;
	}
	for (;;) {
		v = atomic_load_explicit(&l->word, memory_order_relaxed);
		if (v == 0) {
			/* Having slept, keep FUTEX_WAITERS: others may sleep too. */
			if (atomic_compare_exchange_weak(&l->word, &v, (uint32_t)stid | waiters))
				goto taken;
			continue;
		}
		if (v & FUTEX_OWNER_DIED) {
			want = (uint32_t)stid | (v & FUTEX_WAITERS);
			if (!atomic_compare_exchange_weak(&l->word, &v, want))
				continue;
			/* The kernel marks the word when the holder's sentinel
			 * exits; its other threads may take a moment longer. */
			ioli_wait_gone((pid_t)atomic_load(&l->pid), 100);
			atomic_store(&l->pid, (uint32_t)ioli_getpid());
			atomic_store_explicit(holder, me, memory_order_relaxed);
			return EOWNERDEAD;
		}
		/* A relock by the holder (exit() from a signal handler that
		 * interrupted a critical section) would wait for itself. */
		if ((v & FUTEX_TID_MASK) == (uint32_t)stid &&
		    atomic_load_explicit(holder, memory_order_relaxed) == me)
			return EDEADLK;
		if (!(v & FUTEX_WAITERS) &&
		    !atomic_compare_exchange_weak(&l->word, &v, v | FUTEX_WAITERS))
			continue;
		waiters = FUTEX_WAITERS;
		int r = ioli_futex_wait(&l->word, v | FUTEX_WAITERS, &d, false);
		if (r == -ETIMEDOUT)
			return callers ? ETIMEDOUT : EDEADLK;
		if (r != 0 && r != -EAGAIN && r != -EINTR)
			return -r;
	}
taken:
	atomic_store_explicit(&l->pid, (uint32_t)ioli_getpid(), memory_order_relaxed);
	atomic_store_explicit(holder, me, memory_order_relaxed);
	return 0;
}

int ioli_rlock_lock(iol_table *t, struct ioli_rlock *l, _Atomic pid_t *holder)
{
	return ioli_rlock_lock_until(t, l, holder, NULL);
}

void ioli_rlock_unlock(struct ioli_rlock *l, _Atomic pid_t *holder)
{
	atomic_store_explicit(holder, 0, memory_order_relaxed);
	if (atomic_exchange_explicit(&l->word, 0, memory_order_release) & FUTEX_WAITERS)
		ioli_futex_wake(&l->word, 1, false);
}

int ioli_tlock(iol_table *t)
{
	uint32_t stale;

	return ioli_tlock_stale(t, &stale);
}

static int tlock(iol_table *t, const struct timespec *until, uint32_t *stale)
{
	int r = ioli_rlock_lock_until(t, &t->hdr->lock, &t->tholder, until);

	*stale = 0;
	if (r == EOWNERDEAD) {
		undo_rollback(t);
		/* Its process is dead, or dying: reclaim it once T is free.
		 * Not from a view that is not attached (fsck, ls): it reclaims
		 * by itself if asked to, and is unmapped as soon as it is done,
		 * which a reclaim queued to the watcher thread would outlive. */
		if (t->self != UINT32_MAX)
			atomic_store(&t->reclaim_wanted, true);
		return 0;
	}
	if (r)
		return -r;
	/* A holder that unlocked normally left the log empty; anything else
	 * is scribbling, and replaying it could do more harm than good. */
	*stale = atomic_load_explicit(&t->hdr->undo_n, memory_order_relaxed);
	if (*stale)
		atomic_store_explicit(&t->hdr->undo_n, 0, memory_order_relaxed);
	return 0;
}

int ioli_tlock_stale(iol_table *t, uint32_t *stale)
{
	return tlock(t, NULL, stale);
}

int ioli_tlock_until(iol_table *t, const struct timespec *until)
{
	uint32_t stale;

	return tlock(t, until, &stale);
}

void ioli_tunlock(iol_table *t)
{
	IOLI_FAULT("tunlock");
	/* Decided under T: after the unlock, t may belong to someone who is
	 * about to free it (the caller's own reference keeps it only until
	 * the caller drops it). */
	bool reclaim = atomic_load_explicit(&t->reclaim_wanted, memory_order_relaxed) &&
		       atomic_exchange(&t->reclaim_wanted, false) &&
		       atomic_load(&t->localrefs) > 0; /* not while being torn down */

	atomic_store_explicit(&t->hdr->undo_n, 0, memory_order_release);
	if (reclaim)
		ioli_table_ref(t);
	ioli_rlock_unlock(&t->hdr->lock, &t->tholder);
	if (reclaim) {
		ioli_watcher_reclaim(t);
		ioli_table_unref(t);
	}
}

void ioli_tcommit(iol_table *t)
{
	atomic_store_explicit(&t->hdr->undo_n, 0, memory_order_release);
}

void ioli_tset(iol_table *t, _Atomic uint32_t *field, uint32_t v)
{
	struct ioli_hdr *h = t->hdr;
	uint32_t old = atomic_load_explicit(field, memory_order_relaxed);
	uint32_t n;

	if (old == v)
		return;
	n = atomic_load_explicit(&h->undo_n, memory_order_relaxed);
	/* Critical sections are bounded well below IOLI_UNDO_MAX by design;
	 * past it a write is still made but could not be rolled back. */
	if (n < IOLI_UNDO_MAX) {
		h->undo[n].off = (uint64_t)((uint8_t *)field - t->base);
		h->undo[n].old = old;
		atomic_store_explicit(&h->undo_n, n + 1, memory_order_release);
	}
	atomic_store_explicit(field, v, memory_order_release);
	IOLI_FAULT("tset"); /* dying here leaves a half-done section to roll back */
}
