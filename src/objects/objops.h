/* SPDX-License-Identifier: MIT */
/*
 * What the wait engine needs from a waitable object type, in one table.
 *
 * The waits (iol_wait, iol_wait_many, wait-all, iol_signal_and_wait and
 * the pool's iol_pool_wait_handle) know no type: each type (mutex, event,
 * semaphore, process, thread) supplies one const struct ioli_obj_ops
 * beside its code, and ioli_obj_ops() finds it by the slot's type.
 */
#ifndef IOLAYER_SRC_OBJOPS_H
#define IOLAYER_SRC_OBJOPS_H

#include "src/fault.h"
#include "src/table/table.h"

/* The result of trying to acquire an object without blocking: not
 * available, o->seen holds the word observed.  Distinct from every success
 * value (an index 0..63, or IOL_ABANDONED) and every error. */
#define IOLI_TRY_BUSY 0x10000

struct ioli_obj_ops;

/* One object of a wait, from its handle's resolution to the end of the
 * wait. */
struct ioli_waitobj {
	struct ioli_href r;
	const struct ioli_obj_ops *ops;
	uint32_t epoch; /* events: pulse epoch when the wait began */
	uint32_t seen;	/* the word value observed unavailable */
	bool dup;	/* same object as an earlier entry */
	bool registered;
	bool held; /* pinned by ioli_handle_pin_held (src/wait/wait.c, prepare) */
	/* Set by a try that found the object busy in a state whose change
	 * wakes a sleeper that marked the word (before_sleep): registered,
	 * the waiter may sleep on o->seen without trying again first. */
	bool sleep_on_seen;
	uint32_t me; /* the waiting thread's owner id in o->r.t, once registered */
};

struct ioli_obj_ops {
	/* Acquire without blocking: 0, IOL_ABANDONED, IOLI_TRY_BUSY (with
	 * o->seen set) or a negative errno. */
	int (*try_acquire)(struct ioli_waitobj *o);
	/* Wait-all, under the wait-all lock: would acquiring from word value
	 * v succeed?  1 (and *nv: the word afterwards), 0, or a negative
	 * errno.  `me` is the caller's owner id; *ab is set when the
	 * acquisition reports IOL_ABANDONED. */
	int (*claim)(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab);
	/* Wait-all, after the words were committed: the bookkeeping beside
	 * the word (old: the word before).  NULL: none. */
	void (*commit)(struct ioli_waitobj *o, uint32_t old, uint32_t me);
	/* A waiter registers (before its count is taken) and leaves (after
	 * its count was given back).  NULL: nothing to do. */
	void (*wait_begin)(struct ioli_waitobj *o);
	void (*wait_end)(struct ioli_waitobj *o);
	/* About to sleep on the word as seen (o->seen): mark it slept on, if
	 * the type's wakers look for such a mark (a mutex's SLEEPERS), and
	 * update o->seen.  0, or -EAGAIN when the word changed (try again
	 * before sleeping).  NULL: nothing to do. */
	int (*before_sleep)(struct ioli_waitobj *o);
	/* One more futex word to sleep on beside the object's own, for the
	 * state in o->seen: 1 (*word, *val set), 0 (none) or -EAGAIN (the
	 * state just changed: try again before sleeping).  Extra words are
	 * shared futexes, and a wake on one is passed on to all its sleepers.
	 * NULL: none. */
	int (*extra_word)(struct ioli_waitobj *o, _Atomic uint32_t **word, uint32_t *val);
	/* A waiter that was woken leaves without this object, its word being
	 * v (not LOCKED): should it wake another waiter in its place?  Yes
	 * when the object is available (the wake it used was for that), and
	 * for a mutex also when other sleepers rely on this waiter (see
	 * src/objects/mutex.c).  For the types whose change wakes only some
	 * waiters (src/wait/wait.c, pass_on).  NULL: a change wakes everyone. */
	bool (*pass_wake)(const struct ioli_waitobj *o, uint32_t v);
	/* Signal the object through its handle (iol_signal_and_wait; the pool
	 * gives back an acquisition it cannot deliver with it): >= 0 or a
	 * negative errno.  NULL: the type cannot be signaled. */
	int (*signal)(int h);
	/* Once acquired, owned by the acquiring thread (no pool thread can
	 * wait for it on a caller's behalf). */
	bool thread_owned;
	/* Its waiter backs off after a sleep that found the word already
	 * changed, rather than race a running owner for it (src/wait/wait.c,
	 * sleep_once). */
	bool backoff;
};

extern const struct ioli_obj_ops ioli_mutex_ops;
extern const struct ioli_obj_ops ioli_event_ops;
extern const struct ioli_obj_ops ioli_semaphore_ops;
extern const struct ioli_obj_ops ioli_process_ops;
extern const struct ioli_obj_ops ioli_thread_ops;

/* The operations of a slot type, or NULL when it is not waitable
 * (src/wait/objops.c). */
const struct ioli_obj_ops *ioli_obj_ops(uint32_t type);

static inline int ioli_obj_try(struct ioli_waitobj *o)
{
	return o->ops->try_acquire(o);
}

/* Used by the types' operations tables. */
int ioli_mutex_try(struct ioli_waitobj *o);

/* The owner's tid is not stored beside the word: iol_query finds it in
 * the owner's thread record, so taking a mutex writes one field less. */
static inline void ioli_mutex_took(struct ioli_waitobj *o, struct ioli_me *m)
{
	IOLI_FAULT("mutex.acquired"); /* owner dies before any bookkeeping */
	atomic_store_explicit(&o->r.s->u.mutex.recursion, 1, memory_order_relaxed);
	ioli_me_push_fast(m, o->r.slot, o->r.sgen);
}
/* ioli_mutex_try past its first CAS: m is the caller's record if it was
 * found inline, v the word the CAS saw.  Out of line, so that the common
 * case saves no registers for the calls it does not make. */
int ioli_mutex_try_slow(struct ioli_waitobj *o, struct ioli_me *m, uint32_t v);
/* Inline into iol_wait: this is the whole of an uncontended mutex wait. */
static inline int ioli_mutex_try_inline(struct ioli_waitobj *o)
{
	struct ioli_me *m = ioli_me_last(o->r.t);
	uint32_t v = 0;

	/* Free: take it with one CAS, without reading the word first (a read
	 * would fetch the line shared, and the CAS then fetch it again).  A
	 * registered waiter, whose retries under contention mostly fail,
	 * reads first instead (the slow part): a failing CAS takes the line
	 * from the owner. */
	if (m && !o->registered && atomic_compare_exchange_strong(&o->r.s->word, &v, m->owner)) {
		ioli_mutex_took(o, m);
		return 0;
	}
	return ioli_mutex_try_slow(o, m, v);
}
int ioli_event_try(struct ioli_waitobj *o);
/* ioli_sem_try() when the word may be LOCKED by a wait-all (semaphore.c). */
int ioli_sem_try_slow(struct ioli_waitobj *o);
/* One try at taking a unit, without a wait state: false when the count is
 * 0, the word LOCKED or the CAS lost (ioli_sem_try then decides). */
static inline bool ioli_sem_take(struct ioli_slot *s)
{
	uint32_t v = atomic_load(&s->word); /* seq_cst: see src/wait/wait.c */

	return !(v & IOLI_W_LOCKED) && (v & IOLI_SEM_COUNT_MASK) != 0 &&
	       atomic_compare_exchange_weak_explicit(&s->word, &v, v - 1, memory_order_acquire,
						     memory_order_relaxed);
}
/* Inline: this is the whole of an uncontended semaphore wait. */
static inline int ioli_sem_try(struct ioli_waitobj *o)
{
	struct ioli_slot *s = o->r.s;
	uint32_t v = atomic_load(&s->word); /* seq_cst: see src/wait/wait.c */

	while (!(v & IOLI_W_LOCKED)) {
		if ((v & IOLI_SEM_COUNT_MASK) == 0) {
			o->seen = v;
			return IOLI_TRY_BUSY;
		}
		if (atomic_compare_exchange_weak_explicit(&s->word, &v, v - 1, memory_order_acquire,
							  memory_order_acquire))
			return 0;
	}
	return ioli_sem_try_slow(o);
}
/* Processes and threads: signaled once, when they end. */
int ioli_ended_try(struct ioli_waitobj *o);
int ioli_ended_claim(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab);

/* Wait-all: acquire every object or none (src/wait/waitall.c).  Returns 0 or
 * IOL_ABANDONED, IOLI_TRY_BUSY with every o[i].seen filled, or an error. */
int ioli_waitall_attempt(struct ioli_waitobj *o, unsigned n);

#endif /* IOLAYER_SRC_OBJOPS_H */
