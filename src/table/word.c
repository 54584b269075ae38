/* SPDX-License-Identifier: MIT */
/*
 * The futex words of objects, as every type and the waits share them:
 * waking the waiters a state change may satisfy, and L, the table's
 * wait-all lock, which alone may set a word's LOCKED bit (the attempt that
 * does is src/wait/waitall.c).
 *
 * L is a robust lock (struct ioli_rlock).  If its holder dies, the next locker finishes the
 * job from the journal: during LOCKING it restores the old values, during
 * COMMIT it stores the new ones.  An operation that meets a LOCKED word
 * passes through L (ioli_walock_pass) and looks again.
 *
 * Below the object types and the waits: it knows words, counts and L, no
 * type.
 */
#include <errno.h>
#include <limits.h>

#include "futex/futex.h"
#include "src/table/table.h"

void ioli_wake(iol_table *t, struct ioli_slot *s, int n)
{
	if (atomic_load(&s->waiters) == 0)
		return;
	/* A wait-all (or asynchronous) waiter may be woken for an object it
	 * does not end up taking, and sleep again; waking everyone then is
	 * what keeps wakeups from being lost, at the price of a thundering
	 * herd only in that case.  Wait-any waiters pass on instead
	 * (pass_on in src/wait/wait.c). */
	if (atomic_load(&s->multi) > 0)
		n = INT_MAX;
	ioli_futex_wake(&s->word, n, t->futex_private);
}

static void wa_recover(iol_table *t)
{
	struct ioli_hdr *h = t->hdr;
	uint32_t phase = atomic_load_explicit(&h->wa_phase, memory_order_acquire);
	uint32_t n = atomic_load_explicit(&h->wa_n, memory_order_acquire);

	if (n > IOL_MAX_WAIT)
		n = IOL_MAX_WAIT;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t slot = atomic_load_explicit(&h->wa[k].slot, memory_order_relaxed);
		uint32_t nv = phase == IOLI_WA_COMMIT
				  ? atomic_load_explicit(&h->wa[k].new, memory_order_relaxed)
				  : atomic_load_explicit(&h->wa[k].old, memory_order_relaxed);
		struct ioli_slot *s;
		uint32_t v;

		if (slot >= t->nslots)
			continue;
		s = ioli_slot(t, slot);
		v = atomic_load(&s->word);
		if ((v & IOLI_W_LOCKED) &&
		    atomic_compare_exchange_strong(&s->word, &v, nv & ~IOLI_W_LOCKED))
			ioli_wake(t, s, INT_MAX);
	}
	atomic_store_explicit(&h->wa_n, 0, memory_order_relaxed);
	atomic_store_explicit(&h->wa_phase, IOLI_WA_IDLE, memory_order_release);
}

int ioli_walock(iol_table *t)
{
	struct ioli_hdr *h = t->hdr;
	int r = ioli_rlock_lock(t, &h->walock, &t->lholder);

	if (r == EOWNERDEAD) {
		wa_recover(t);
		return 0;
	}
	if (r)
		return -r;
	/* A holder that unlocked normally left the journal empty; anything
	 * else is scribbling, which a later death must not replay. */
	if (atomic_load_explicit(&h->wa_n, memory_order_relaxed) != 0) {
		atomic_store_explicit(&h->wa_n, 0, memory_order_relaxed);
		atomic_store_explicit(&h->wa_phase, IOLI_WA_IDLE, memory_order_relaxed);
	}
	return 0;
}

int ioli_walock_pass(iol_table *t, struct ioli_slot *s)
{
	int r = ioli_walock(t);

	if (r)
		return r;
	/* Only the holder of L sets LOCKED, and it clears it before it
	 * unlocks (or the recovery above did): we hold L, so a LOCKED bit
	 * still set is garbage (a scribbled table).  Clear it and wake its
	 * sleepers, rather than have its readers wait for it forever. */
	if (s) {
		uint32_t v = atomic_load(&s->word);

		while ((v & IOLI_W_LOCKED) &&
		       !atomic_compare_exchange_weak(&s->word, &v, v & ~IOLI_W_LOCKED))
			;
		if (v & IOLI_W_LOCKED)
			ioli_futex_wake(&s->word, INT_MAX, t->futex_private);
	}
	ioli_rlock_unlock(&t->hdr->walock, &t->lholder);
	return 0;
}
