/* SPDX-License-Identifier: MIT */
/*
 * Mutexes: recursive, owned by a thread, abandoned when it dies.
 *
 * The futex word holds the owner id (0 when free), ABANDONED, set when a
 * dead owner's mutex was taken back and cleared by the next acquisition,
 * which reports IOL_ABANDONED, and SLEEPERS (below).  The recursion count
 * lives beside the word and is written only by the owner.
 *
 * Acquiring a free mutex is one CAS; releasing it is one CAS: no system
 * call unless a waiter marked the word.
 */
#include <errno.h>
#include <limits.h>

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

/*
 * Who wakes whom.  A waiter about to sleep on an owned word first sets
 * SLEEPERS in it (mutex_before_sleep); a release that finds SLEEPERS wakes
 * one sleeper, and the release's store of 0 clears the bit.  A release
 * without it makes no system call and reads nothing else, so the owner
 * that takes the mutex straight back, as a running thread under
 * contention does, pays for a wake once per sleep of a waiter, not once
 * per release (glibc's robust mutex keeps FUTEX_WAITERS the same way).
 *
 * The bit can be gone while others still sleep: the release that cleared
 * it woke one of them, and that one carries the mark on.  It either takes
 * the mutex with SLEEPERS set (acquire_bits), or sets it again before it
 * sleeps, or, leaving without the mutex (a deadline, another object of a
 * wait-any, an error), passes the wake on (mutex_pass_wake; pass_on in
 * src/wait/wait.c).  If it dies in between, the reclaim of its process
 * wakes the objects its wait journal names (ioli_waiter_return_dead).
 */
static uint32_t acquire_bits(const struct ioli_waitobj *o)
{
	/* Whether other sleepers remain is not known here: like glibc's
	 * robust mutex, whose waiters keep FUTEX_WAITERS once they have
	 * slept, a waiter in the slow path assumes they do.  The cost is a
	 * FUTEX_WAKE that finds nobody asleep when others are registered but
	 * none sleeps (none at all when nobody is registered: ioli_wake); the
	 * variants that try to know measured slower (docs/performance.md,
	 * second pass). */
	return o->registered ? IOLI_MX_SLEEPERS : 0;
}

/* ioli_mutex_try past its first CAS (src/objects/objops.h). */
int ioli_mutex_try_slow(struct ioli_waitobj *o, struct ioli_me *m, uint32_t v)
{
	iol_table *t = o->r.t;
	struct ioli_slot *s = o->r.s;
	uint32_t me, owner;
	int err;

	if (!m) {
		err = ioli_me_try(t, &m);
		if (err == -ETIMEDOUT) { /* no record yet and T busy: see prepare() in wait.c */
			o->seen = atomic_load(&s->word);
			return IOLI_TRY_BUSY;
		}
		if (err)
			return err;
		v = 0; /* the loop's CAS from 0 is the inline path's, not done yet */
	}
	me = m->owner;
	if (o->registered)
		v = atomic_load(&s->word);
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
				&s->word, &v, me | acquire_bits(o), memory_order_acquire,
				memory_order_acquire)) {
				ioli_mutex_took(o, m);
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
		/* Its release wakes whoever marks the word SLEEPERS. */
		o->sleep_on_seen = true;
		return IOLI_TRY_BUSY;
	}
}

int ioli_mutex_try(struct ioli_waitobj *o)
{
	return ioli_mutex_try_inline(o);
}

/* The release's CAS lost to a waiter setting SLEEPERS: v is the word now. */
static __attribute__((noinline)) int release_finish(iol_table *t, struct ioli_slot *s, uint32_t me,
						    uint32_t v)
{
	/* A waiter's SLEEPERS CAS and this one are ordered on the word
	 * itself: either its sleep finds the word changed and returns at
	 * once, or we see its bit and wake it. */
	while (!atomic_compare_exchange_weak_explicit(&s->word, &v, 0, memory_order_acq_rel,
						      memory_order_relaxed)) {
		if ((v & (IOLI_MX_OWNER_MASK | IOLI_W_LOCKED)) != me)
			return -EPERM; /* taken back behind our back (scribbled) */
	}
	if (v & IOLI_MX_SLEEPERS)
		ioli_wake(t, s, 1); /* a wait-all among them: everyone */
	return 1;
}

/* Everything but the common case: recursion, sleepers to wake, a record
 * not found last, a release out of order, a caller that is not the owner. */
static __attribute__((noinline)) int release_slow(iol_table *t, struct ioli_slot *s, uint32_t slot,
						  struct ioli_me *m)
{
	uint32_t me, v, rec;

	if (!m)
		m = ioli_me_find(t);
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
	ioli_me_pop_fast(m, slot);
	return release_finish(t, s, me, v);
}

int iol_mutex_release(int h)
{
	struct ioli_href r;
	struct ioli_slot *s;
	struct ioli_me *m;
	uint32_t v;
	int err = ioli_handle_fast_typed(h, IOL_TYPE_MUTEX, &r);

	if (err)
		return err;
	s = r.s;
	m = ioli_me_last(r.t);
	v = atomic_load_explicit(&s->word, memory_order_relaxed);
	/* The common case: the caller's own record was the one used last, it
	 * owns the mutex once, took it last, and nobody marked the word. */
	if (!m || v != m->owner ||
	    atomic_load_explicit(&s->u.mutex.recursion, memory_order_relaxed) != 1 ||
	    m->nowned == 0 || m->owned[m->nowned - 1].slot != r.slot)
		return release_slow(r.t, s, r.slot, m);
	atomic_store_explicit(&s->u.mutex.recursion, 0, memory_order_relaxed);
	m->nowned--;
	if (atomic_compare_exchange_strong_explicit(&s->word, &v, 0, memory_order_acq_rel,
						    memory_order_relaxed))
		return 1; /* v had no SLEEPERS */
	return release_finish(r.t, s, m->owner, v);
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
	*nv = me | acquire_bits(o);
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

/* Held by a thread of another process: also sleep on its liveness word,
 * which the kernel wakes when that process dies. */
static int mutex_extra_word(struct ioli_waitobj *o, _Atomic uint32_t **word, uint32_t *val)
{
	uint32_t owner = o->seen & IOLI_MX_OWNER_MASK;
	int r;

	if (owner == 0 || owner == o->me)
		return 0;
	r = ioli_owner_live_word(o->r.t, owner, word, val);
	return r < 0 ? -EAGAIN : r; /* -EAGAIN: the owner just died */
}

/* About to sleep on a word owned by another thread: mark it, so that its
 * release wakes a sleeper (see acquire_bits). */
static int mutex_before_sleep(struct ioli_waitobj *o)
{
	uint32_t v = o->seen, owner = v & IOLI_MX_OWNER_MASK;

	if (owner == 0 || (v & (IOLI_MX_SLEEPERS | IOLI_W_LOCKED)) || owner == o->me)
		return 0;
	/* seq_cst: after this waiter's registration (see acquire_bits). */
	if (!atomic_compare_exchange_strong(&o->r.s->word, &v, v | IOLI_MX_SLEEPERS))
		return -EAGAIN;
	o->seen = v | IOLI_MX_SLEEPERS;
	return 0;
}

/* A woken waiter leaves without the mutex: the sleepers may depend on it
 * when the mutex is free, or owned without SLEEPERS (the release that woke
 * it cleared the bit, see acquire_bits). */
static bool mutex_pass_wake(const struct ioli_waitobj *o, uint32_t v)
{
	(void)o;
	return (v & IOLI_MX_OWNER_MASK) == 0 || !(v & IOLI_MX_SLEEPERS);
}

const struct ioli_obj_ops ioli_mutex_ops = {
    .try_acquire = ioli_mutex_try,
    .claim = mutex_claim,
    .commit = mutex_commit,
    .before_sleep = mutex_before_sleep,
    .extra_word = mutex_extra_word,
    .pass_wake = mutex_pass_wake,
    .signal = iol_mutex_release,
    .thread_owned = true,
    .backoff = true,
};
