/* SPDX-License-Identifier: MIT */
/*
 * Mutexes: recursive, owned by a thread, abandoned when it dies.
 *
 * The futex word holds the owner id (0 when free) and ABANDONED, set when
 * a dead owner's mutex was taken back and cleared by the next acquisition,
 * which reports IOL_ABANDONED.  Recursion and the owner's tid live beside
 * the word and are written only by the owner.
 *
 * Acquiring a free mutex is one CAS; releasing it is one CAS and a load of
 * the waiter count: no system call unless someone waits.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include "futex/futex.h"
#include "src/fault.h"
#include "src/objects/objops.h"
#include "src/table/table.h"
#include "src/process/watcher.h"

int iol_mutex_open(iol_table *t, const char *name, unsigned flags, bool initial_owner)
{
	struct ioli_create c = {.type = IOL_TYPE_MUTEX};
	int err;

	if (!t)
		return -EINVAL;
	if (initial_owner) {
		if (!ioli_table_usable(t))
			return -EBADF;
		err = ioli_self_owner(t, &c.owner);
		if (err)
			return err;
		c.own = true;
		c.word = c.owner;
	}
	return ioli_object_open(t, name, flags, &c);
}

/* The owner's tid is not stored beside the word: iol_query finds it in
 * the owner's thread record, so taking a mutex writes one field less. */
static void took(struct ioli_waitobj *o, struct ioli_me *m)
{
	IOLI_FAULT("mutex.acquired"); /* owner dies before any bookkeeping */
	atomic_store_explicit(&o->r.s->u.mutex.recursion, 1, memory_order_relaxed);
	ioli_me_push_fast(m, o->r.slot, o->r.sgen);
}

/*
 * Wake after a release, at most one sleeper at a time.
 *
 * Every release with a waiter registered would otherwise enter the kernel,
 * even when the releasing thread takes the mutex straight back and the
 * sleeper it woke only finds it taken and sleeps again: under contention
 * that is one futex call per acquisition.  As glibc's mutex does by
 * resetting its contended state on release, a release here skips the wake
 * while a sleeper it woke has not retried yet: that sleeper's retry comes
 * after this release and sees its state, and every waiter back from a
 * sleep clears the mark after its next attempt (the woken one is among
 * them: a futex wake always ends the sleep it wakes).  Nothing is lost
 * while the woken sleeper runs.  If it died before retrying, the mark would hold every later wake
 * back, so it is a coarse timestamp that holds them back for a few
 * milliseconds at most (the wake is then sent again), not a flag.
 */
static int mutex_try(struct ioli_waitobj *o);

static uint32_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000) | 1u;
}

#define WOKEN_PATIENCE_MS 8u

static void mutex_wake(iol_table *t, struct ioli_slot *s)
{
	uint32_t w, now;

	/* The caller saw waiters (seq_cst, after its release CAS). */
	if (atomic_load(&s->multi) > 0) {
		ioli_wake(t, s, INT_MAX); /* wait-all waiters: everyone */
		return;
	}
	now = coarse_now();
	/* seq_cst: after the release's CAS, so that a wait-any waiter that
	 * clears the mark and then finds the word taken (src/wait/wait.c,
	 * pass_on) leaves this release to see the mark cleared. */
	w = atomic_load(&s->u.mutex.woken);
	if (w && now - w < WOKEN_PATIENCE_MS)
		return; /* a woken sleeper will retry after this release */
	if (!atomic_compare_exchange_strong(&s->u.mutex.woken, &w, now))
		return; /* another release just woke one */
	if (ioli_futex_wake_n(&s->word, 1, t->futex_private) == 0)
		atomic_store(&s->u.mutex.woken, 0); /* nobody was asleep */
}

int ioli_mutex_try(struct ioli_waitobj *o)
{
	int r = mutex_try(o);

	/* After the first attempt of a waiter back from a sleep (after, not
	 * before: see mutex_wake), the wake in flight, if it was for this
	 * waiter, has been used.  Waiters that did not sleep leave the mark
	 * alone: when each attempt cleared it, releases under contention
	 * woke again and again while the woken sleeper waited for a CPU. */
	if (o->woke) {
		o->woke = false;
		if (atomic_load_explicit(&o->r.s->u.mutex.woken, memory_order_relaxed))
			atomic_store(&o->r.s->u.mutex.woken, 0);
	}
	return r;
}

static int mutex_try(struct ioli_waitobj *o)
{
	iol_table *t = o->r.t;
	struct ioli_slot *s = o->r.s;
	struct ioli_me *m;
	uint32_t me, v, owner;
	int err = ioli_me_try(t, &m);

	if (err == -ETIMEDOUT) { /* no record yet and T busy: see prepare() in src/wait/wait.c */
		o->seen = atomic_load(&s->word);
		return IOLI_TRY_BUSY;
	}
	if (err)
		return err;
	me = m->owner;
	/* Free: take it with one CAS, without reading the word first (a read
	 * would fetch the line shared, and the CAS then fetch it again). */
	v = 0;
	if (atomic_compare_exchange_strong(&s->word, &v, me)) {
		took(o, m);
		return 0;
	}
	/* v: the word (seq_cst: see src/wait/wait.c) */
	for (;;) {
		if (v & IOLI_W_LOCKED) {
			err = ioli_walock_pass(t, s);
			if (err)
				return err;
			v = atomic_load_explicit(&s->word, memory_order_acquire);
			continue;
		}
		owner = v & IOLI_MX_OWNER_MASK;
		if (owner == 0) {
			if (atomic_compare_exchange_weak_explicit(
				&s->word, &v, me, memory_order_acquire, memory_order_acquire)) {
				took(o, m);
				return (v & IOLI_MX_ABANDONED) ? IOL_ABANDONED : 0;
			}
			continue;
		}
		if (owner == me) {
			uint32_t rec =
			    atomic_load_explicit(&s->u.mutex.recursion, memory_order_relaxed);

			if (rec == UINT32_MAX)
				return -EOVERFLOW;
			atomic_store_explicit(&s->u.mutex.recursion, rec + 1, memory_order_relaxed);
			return 0;
		}
		if (!ioli_owner_alive(t, owner, NULL)) {
			/* The owner died: take the mutex back as abandoned. */
			if (ioli_mutex_mark_abandoned(t, s, &v)) {
				v = IOLI_MX_ABANDONED;
				/* If its whole process died, reclaim it (in the
				 * background: this waiter goes on at once). */
				ioli_watcher_reclaim(t);
			}
			continue;
		}
		o->seen = v;
		return IOLI_TRY_BUSY;
	}
}

int iol_mutex_release(int h)
{
	struct ioli_href r;
	struct ioli_slot *s;
	struct ioli_me *m;
	uint32_t me, v, rec;
	int err = ioli_handle_fast_typed(h, IOL_TYPE_MUTEX, &r);

	if (err)
		return err;
	s = r.s;
	m = ioli_me_find(r.t);
	me = m ? m->owner : 0;
	v = atomic_load_explicit(&s->word, memory_order_relaxed);
	if (me == 0 || (v & (IOLI_MX_OWNER_MASK | IOLI_W_LOCKED)) != me)
		return -EPERM;
	rec = atomic_load_explicit(&s->u.mutex.recursion, memory_order_relaxed);
	if (rec > 1) {
		atomic_store_explicit(&s->u.mutex.recursion, rec - 1, memory_order_relaxed);
		return (int)(rec > INT_MAX ? INT_MAX : rec);
	}
	atomic_store_explicit(&s->u.mutex.recursion, 0, memory_order_relaxed);
	ioli_me_pop_fast(m, r.slot);
	/* seq_cst: the store of "free" and the load of the waiter count in
	 * ioli_wake() pair with a waiter's count increment and word load. */
	while (!atomic_compare_exchange_weak(&s->word, &v, 0)) {
		if ((v & IOLI_MX_OWNER_MASK) != me)
			return -EPERM; /* taken back behind our back (scribbled) */
	}
	if (atomic_load(&s->waiters)) /* seq_cst: see mutex_wake */
		mutex_wake(r.t, s);
	return 1;
}

bool ioli_mutex_mark_abandoned(iol_table *t, struct ioli_slot *s, uint32_t *v)
{
	if (!atomic_compare_exchange_strong(&s->word, v, IOLI_MX_ABANDONED))
		return false;
	ioli_wake(t, s, 1);
	return true;
}

/* The calling thread, which owns the mutex in `slot`, is going away. */
void ioli_mutex_abandon_owned(iol_table *t, uint32_t slot, uint32_t owner)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	uint32_t v = atomic_load_explicit(&s->word, memory_order_relaxed);

	if (IOLI_SLOT_TYPE(atomic_load_explicit(&s->state, memory_order_relaxed)) != IOL_TYPE_MUTEX)
		return;
	while ((v & IOLI_MX_OWNER_MASK) == owner && !(v & IOLI_W_LOCKED)) {
		atomic_store_explicit(&s->u.mutex.recursion, 0, memory_order_relaxed);
		if (ioli_mutex_mark_abandoned(t, s, &v))
			return;
	}
}

/* ---- the mutex's operations for the waits --------------------------- */

static int mutex_claim(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab)
{
	uint32_t owner = v & IOLI_MX_OWNER_MASK;

	if (owner == me) {
		if (atomic_load_explicit(&o->r.s->u.mutex.recursion, memory_order_relaxed) ==
		    UINT32_MAX)
			return -EOVERFLOW;
		*nv = v;
		return 1;
	}
	if (owner != 0 && ioli_owner_alive(o->r.t, owner, NULL))
		return 0;
	*ab = *ab || owner != 0 || (v & IOLI_MX_ABANDONED);
	*nv = me;
	return 1;
}

static void mutex_commit(struct ioli_waitobj *o, uint32_t old, uint32_t me)
{
	struct ioli_slot *s = o->r.s;

	if ((old & IOLI_MX_OWNER_MASK) == me) {
		atomic_fetch_add_explicit(&s->u.mutex.recursion, 1, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&s->u.mutex.recursion, 1, memory_order_relaxed);
	ioli_owned_push(o->r.t, o->r.slot);
}

/* Leaving after a sleep without the attempt that follows it (an error): a
 * wake this waiter may have used must not hold others (see mutex_wake). */
static void mutex_wait_end(struct ioli_waitobj *o)
{
	if (o->woke && atomic_load_explicit(&o->r.s->u.mutex.woken, memory_order_relaxed))
		atomic_store(&o->r.s->u.mutex.woken, 0);
}

/* Held by another thread: also sleep on its liveness word, which the
 * kernel wakes when that thread dies. */
static int mutex_extra_word(struct ioli_waitobj *o, _Atomic uint32_t **word, uint32_t *val)
{
	uint32_t owner = o->seen & IOLI_MX_OWNER_MASK;

	if (owner == 0 || owner == ioli_self_owner_peek(o->r.t))
		return 0;
	*word = ioli_owner_live_word(o->r.t, owner, val);
	return *word ? 1 : -EAGAIN; /* the owner just died */
}

static bool mutex_available(const struct ioli_waitobj *o, uint32_t v)
{
	(void)o;
	return (v & IOLI_MX_OWNER_MASK) == 0;
}

const struct ioli_obj_ops ioli_mutex_ops = {
    .try_acquire = ioli_mutex_try,
    .claim = mutex_claim,
    .commit = mutex_commit,
    .wait_end = mutex_wait_end,
    .extra_word = mutex_extra_word,
    .available = mutex_available,
    .signal = iol_mutex_release,
    .thread_owned = true,
};
