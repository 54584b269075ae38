/* SPDX-License-Identifier: MIT */
/*
 * T, the table lock, and its undo log.
 *
 * T is a process-shared robust mutex in the header.  If its holder dies,
 * the kernel marks the lock word FUTEX_OWNER_DIED and the next locker gets
 * EOWNERDEAD.  Every write made under T goes through ioli_tset(), which
 * first appends (offset, old value) to the undo log in the header, so the
 * next locker can roll a dead holder's half-done critical section back,
 * entry by entry in reverse, before marking the lock consistent.  The log
 * is emptied when the holder unlocks normally: that store is the commit.
 */
#include <errno.h>
#include <time.h>

#include "src/fault.h"
#include "src/table.h"
#include "src/watcher.h"

int ioli_robust_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int r;

	r = pthread_mutexattr_init(&a);
	if (r)
		return -r;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	/* Error-checking: a relock by the holder (say, exit() called from a
	 * signal handler that interrupted a critical section, or a scribbled
	 * lock word naming us) fails with EDEADLK instead of hanging. */
	if (!r)
		r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	if (!r)
		r = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -r;
}

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

/* This thread's limit on waiting for T or L (CLOCK_MONOTONIC ns, 0: none),
 * set while it closes a table or runs the exit handler (see
 * ioli_lock_limit_begin()). */
static _Thread_local int64_t limit_ns;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ioli_lock_limit_begin(int64_t ns)
{
	int64_t prev = limit_ns, until = now_ns() + ns;

	if (!prev || until < prev)
		limit_ns = until;
	return prev;
}

void ioli_lock_limit_end(int64_t prev)
{
	limit_ns = prev;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int ioli_robust_lock_until(pthread_mutex_t *m, const struct timespec *until)
{
	struct timespec ts;
	bool callers = false;
	int r = pthread_mutex_trylock(m);

	/* Free (the common case): taken without reading the clock, which
	 * costs as much as the lock itself.  EOWNERDEAD, EDEADLK (a relock by
	 * the holder) and ENOTRECOVERABLE come back from trylock as they would
	 * from the timed lock. */
	if (r != EBUSY)
		return r;
	/* Nobody holds T or L for more than a few hundred instructions, and
	 * the kernel hands a dead holder's lock on; a lock still held after
	 * this long is a stopped holder or a scribbled table.  Fail (and let
	 * fsck say which) rather than hang forever. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += IOLI_LOCK_PATIENCE_S;
	if (limit_ns) {
		struct timespec l = {.tv_sec = (time_t)(limit_ns / 1000000000),
				     .tv_nsec = (long)(limit_ns % 1000000000)};

		if (ts_before(&l, &ts))
			ts = l;
	}
	if (until && ts_before(until, &ts)) {
		ts = *until;
		callers = true;
	}
	/* A time already past makes this a trylock: POSIX never times out a
	 * lock that is free. */
	r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
	if (r == ETIMEDOUT && !callers)
		r = EDEADLK;
	return r;
}

int ioli_robust_lock(pthread_mutex_t *m)
{
	return ioli_robust_lock_until(m, NULL);
}

int ioli_tlock(iol_table *t)
{
	uint32_t stale;

	return ioli_tlock_stale(t, &stale);
}

static int tlock(iol_table *t, const struct timespec *until, uint32_t *stale)
{
	int r = ioli_robust_lock_until(&t->hdr->lock, until);

	*stale = 0;
	if (r == EOWNERDEAD) {
		undo_rollback(t);
		pthread_mutex_consistent(&t->hdr->lock);
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
	pthread_mutex_unlock(&t->hdr->lock);
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
