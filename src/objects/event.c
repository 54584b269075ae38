/* SPDX-License-Identifier: MIT */
/*
 * Events: manual-reset (signaled until reset) and auto-reset (one waiter
 * consumes the signal).
 *
 * Pulse: the word carries a pulse epoch.  A waiter notes the epoch when it
 * starts to wait; a pulse with waiters registered bumps the epoch and wakes
 * them all.  A manual-reset waiter that sees a newer epoch is released; an
 * auto-reset one must also take one of the event's `grants` (one per
 * pulse, never more than there are waiters), so one pulse releases one
 * waiter.  A waiter that arrives after the pulse notes the new epoch and is
 * not released by it.  Setting an event nobody waits on makes no system
 * call.
 */
#include <errno.h>
#include <limits.h>

#include "src/objects/objops.h"
#include "src/table/table.h"

int iol_event_open(iol_table *t, const char *name, unsigned flags, bool manual_reset,
		   bool initial_state)
{
	struct ioli_create c = {
	    .type = IOL_TYPE_EVENT,
	    .flags = manual_reset ? IOLI_OBJ_MANUAL : 0,
	    .word = initial_state ? IOLI_EV_SIGNALED : 0,
	};

	if (!t)
		return -EINVAL;
	return ioli_object_open(t, name, flags, &c);
}

static int get_event(int h, struct ioli_href *r, bool *manual)
{
	int err = ioli_handle_fast_typed(h, IOL_TYPE_EVENT, r);

	if (err)
		return err;
	*manual = IOLI_SLOT_FLAGS(atomic_load_explicit(&r->s->state, memory_order_relaxed)) &
		  IOLI_OBJ_MANUAL;
	return 0;
}

/* The word once no wait-all holds it LOCKED. */
static int load_unlocked(iol_table *t, struct ioli_slot *s, uint32_t *out)
{
	uint32_t v = atomic_load(&s->word);

	while (v & IOLI_W_LOCKED) {
		int err = ioli_walock_pass(t, s);

		if (err)
			return err;
		v = atomic_load(&s->word);
	}
	*out = v;
	return 0;
}

/* Set or clear SIGNALED; returns the previous state (0 or 1), or an error. */
static int change(int h, bool set)
{
	struct ioli_href r;
	bool manual;
	uint32_t v, nv;
	int err = get_event(h, &r, &manual);

	if (err)
		return err;
	err = load_unlocked(r.t, r.s, &v);
	for (;;) {
		if (err)
			return err;
		if (v & IOLI_W_LOCKED) {
			err = load_unlocked(r.t, r.s, &v);
			continue;
		}
		if (!(v & IOLI_EV_SIGNALED) != set)
			return set ? 1 : 0; /* already so: no change, no wake */
		nv = set ? v | IOLI_EV_SIGNALED : v & ~IOLI_EV_SIGNALED;
		if (atomic_compare_exchange_weak(&r.s->word, &v, nv))
			break;
	}
	if (set)
		ioli_wake(r.t, r.s, manual ? INT_MAX : 1);
	return set ? 0 : 1;
}

int iol_event_set(int h)
{
	return change(h, true);
}

int iol_event_reset(int h)
{
	return change(h, false);
}

int iol_event_pulse(int h)
{
	struct ioli_href r;
	bool manual;
	uint32_t v, nv, waiters = 0;
	int err = get_event(h, &r, &manual);

	if (err)
		return err;
	/*
	 * The grant is posted before the epoch moves: a waiter that sees the
	 * new epoch then sees its grant too.  The other way round, a waiter
	 * could see the new epoch, find no grant yet, and go to sleep on a
	 * word that no longer changes (the grant is not in it): a lost wakeup.
	 */
	waiters = atomic_load(&r.s->waiters);
	if (waiters && !manual) {
		_Atomic uint32_t *g = &r.s->u.event.grants;
		uint32_t gv = atomic_load(g);

		while (!atomic_compare_exchange_weak(g, &gv, gv + 1 > waiters ? gv : gv + 1))
			;
	}
	err = load_unlocked(r.t, r.s, &v);
	for (;;) {
		if (err)
			return err;
		if (v & IOLI_W_LOCKED) {
			err = load_unlocked(r.t, r.s, &v);
			continue;
		}
		nv = v & ~IOLI_EV_SIGNALED;
		if (waiters)
			nv = (nv & ~IOLI_EV_EPOCH_MASK) |
			     ((v + IOLI_EV_EPOCH_ONE) & IOLI_EV_EPOCH_MASK);
		if (atomic_compare_exchange_weak(&r.s->word, &v, nv))
			break;
	}
	/* Everyone: each checks its own epoch (and grants). */
	if (waiters)
		ioli_wake(r.t, r.s, INT_MAX);
	return (v & IOLI_EV_SIGNALED) ? 1 : 0;
}

int ioli_event_try(struct ioli_waitobj *o)
{
	struct ioli_slot *s = o->r.s;
	bool manual = IOLI_SLOT_FLAGS(atomic_load_explicit(&s->state, memory_order_relaxed)) &
		      IOLI_OBJ_MANUAL;
	uint32_t v = atomic_load(&s->word); /* seq_cst: see src/wait/wait.c */

	for (;;) {
		if (v & IOLI_W_LOCKED) {
			int err = ioli_walock_pass(o->r.t, s);

			if (err)
				return err;
			v = atomic_load_explicit(&s->word, memory_order_acquire);
			continue;
		}
		if (v & IOLI_EV_SIGNALED) {
			if (manual)
				return 0;
			if (atomic_compare_exchange_weak_explicit(
				&s->word, &v, v & ~IOLI_EV_SIGNALED, memory_order_acquire,
				memory_order_acquire))
				return 0;
			continue;
		}
		if (o->registered && (v & IOLI_EV_EPOCH_MASK) != o->epoch) {
			/* Pulsed since this wait began. */
			_Atomic uint32_t *g = &s->u.event.grants;
			uint32_t gv;

			if (manual)
				return 0;
			gv = atomic_load(g);
			while (gv > 0) {
				if (atomic_compare_exchange_weak(g, &gv, gv - 1))
					return 0;
			}
			/* Another waiter took the pulse (or its grant is not
			 * posted yet: the pulser wakes everyone after posting). */
		}
		o->seen = v;
		return IOLI_TRY_BUSY;
	}
}

/* A waiter leaves: never leave more grants than waiters who could use
 * them, so a stale grant cannot release a later arrival. */
void ioli_event_unregistered(struct ioli_slot *s)
{
	_Atomic uint32_t *g = &s->u.event.grants;
	uint32_t gv = atomic_load(g);
	uint32_t w = atomic_load(&s->waiters);

	while (gv > w && !atomic_compare_exchange_weak(g, &gv, w))
		;
}

/* ---- the event's operations for the waits --------------------------- */

static int event_claim(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab)
{
	if (!(v & IOLI_EV_SIGNALED))
		return 0;
	*nv = (IOLI_SLOT_FLAGS(atomic_load_explicit(&o->r.s->state, memory_order_relaxed)) &
	       IOLI_OBJ_MANUAL)
		  ? v
		  : v & ~IOLI_EV_SIGNALED;
	return 1;
}

/* The pulse epoch this wait starts from, read before the count is taken:
 * a pulse that sees no waiter leaves the epoch alone. */
static void event_wait_begin(struct ioli_waitobj *o)
{
	o->epoch = atomic_load(&o->r.s->word) & IOLI_EV_EPOCH_MASK;
}

static void event_wait_end(struct ioli_waitobj *o)
{
	ioli_event_unregistered(o->r.s);
}

static bool event_available(const struct ioli_waitobj *o, uint32_t v)
{
	(void)o;
	return v & IOLI_EV_SIGNALED;
}

const struct ioli_obj_ops ioli_event_ops = {
    .try_acquire = ioli_event_try,
    .claim = event_claim,
    .wait_begin = event_wait_begin,
    .wait_end = event_wait_end,
    .pass_wake = event_available,
    .signal = iol_event_set,
};
