/* SPDX-License-Identifier: MIT */
/*
 * Wait-all: acquire every object or none, atomically.
 *
 * Only the holder of L, the table's wait-all lock, may set the LOCKED bit
 * of a futex word.  With L held, a wait-all checks each object and, if it
 * is available, sets LOCKED on its word with a CAS against the value it
 * checked, journaling (slot, value before, value to commit) first.  If
 * every object was available it commits, storing each new value (which
 * clears LOCKED); otherwise it restores the values it locked.  Either way
 * nothing was consumed unless everything was, and no other thread could
 * change any of those words in between: every other operation that meets
 * LOCKED passes through L (lock, unlock) and retries, so it waits for the
 * few instructions of the commit.  A waiting wait-all holds nothing.
 *
 * L is a robust mutex.  If its holder dies, the next locker finishes the
 * job from the journal: during LOCKING it restores the old values, during
 * COMMIT it stores the new ones, as if the dead thread's wait had
 * completed just before it died (its mutexes are then abandoned).  L, its
 * recovery and the pass through it are in src/table/word.c, below the object
 * types that honour LOCKED; this file is the attempt.
 */
#include <errno.h>
#include <limits.h>

#include "futex/futex.h"
#include "src/fault.h"
#include "src/objects/objops.h"

/*
 * Would acquiring o from word value v succeed, and what would the word
 * become?  *ab is set for a mutex taken from a dead or abandoned owner.
 */
static int claim(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab)
{
	if (v & IOLI_W_LOCKED)
		return 0;
	return o->ops->claim(o, v, me, nv, ab);
}

int ioli_waitall_attempt(struct ioli_waitobj *o, unsigned n)
{
	iol_table *t = o[0].r.t;
	struct ioli_hdr *h = t->hdr;
	uint32_t me = 0, nv, old[IOL_MAX_WAIT];
	bool ab = false, busy = false;
	struct ioli_me *m;
	unsigned k;
	int r;

	r = ioli_me_try(t, &m);
	if (r == -ETIMEDOUT) { /* no record yet and T busy: see prepare() in wait.c */
		for (k = 0; k < n; k++)
			o[k].seen = atomic_load(&o[k].r.s->word);
		return IOLI_TRY_BUSY;
	}
	if (r)
		return r;
	me = m->owner;
	/* Without L first: most attempts fail, and a failing one should not
	 * serialize anybody. */
	for (k = 0; k < n; k++) {
		o[k].seen = atomic_load(&o[k].r.s->word);
		r = claim(&o[k], o[k].seen, me, &nv, &ab);
		if (r < 0)
			return r;
		if (r == 0 && !(o[k].seen & IOLI_W_LOCKED))
			busy = true;
	}
	if (busy)
		return IOLI_TRY_BUSY;

	ab = false;
	r = ioli_walock(t);
	if (r)
		return r;
	atomic_store_explicit(&h->wa_phase, IOLI_WA_LOCKING, memory_order_relaxed);
	for (k = 0; k < n; k++) {
		struct ioli_slot *s = o[k].r.s;
		uint32_t v = atomic_load(&s->word);

		for (;;) {
			if (v & IOLI_W_LOCKED) {
				/* We hold L and lock each word once: this bit is
				 * garbage (see ioli_walock_pass()). */
				if (atomic_compare_exchange_strong(&s->word, &v,
								   v & ~IOLI_W_LOCKED)) {
					ioli_futex_wake(&s->word, INT_MAX, t->futex_private);
					v &= ~IOLI_W_LOCKED;
				}
				continue;
			}
			r = claim(&o[k], v, me, &nv, &ab);
			if (r <= 0)
				break;
			atomic_store_explicit(&h->wa[k].slot, o[k].r.slot, memory_order_relaxed);
			atomic_store_explicit(&h->wa[k].old, v, memory_order_relaxed);
			atomic_store_explicit(&h->wa[k].new, nv, memory_order_relaxed);
			atomic_store_explicit(&h->wa_n, k + 1, memory_order_release);
			if (atomic_compare_exchange_strong(&s->word, &v, v | IOLI_W_LOCKED))
				break;
		}
		o[k].seen = v;
		if (r <= 0)
			break;
		old[k] = v;
		IOLI_FAULT("waitall.locking");
	}
	if (k < n) {
		/* Not all available: put back what was locked, untouched. */
		for (unsigned i = 0; i < k; i++)
			atomic_store(&o[i].r.s->word, old[i]);
		atomic_store_explicit(&h->wa_n, 0, memory_order_relaxed);
		atomic_store_explicit(&h->wa_phase, IOLI_WA_IDLE, memory_order_release);
		ioli_rlock_unlock(&h->walock, &t->lholder);
		/* Fill in the rest so the caller can sleep on every word. */
		for (unsigned i = k + 1; i < n; i++)
			o[i].seen = atomic_load(&o[i].r.s->word);
		return r < 0 ? r : IOLI_TRY_BUSY;
	}
	atomic_store_explicit(&h->wa_phase, IOLI_WA_COMMIT, memory_order_release);
	for (k = 0; k < n; k++) {
		atomic_store(&o[k].r.s->word,
			     atomic_load_explicit(&h->wa[k].new, memory_order_relaxed));
		IOLI_FAULT("waitall.commit");
	}
	atomic_store_explicit(&h->wa_n, 0, memory_order_relaxed);
	atomic_store_explicit(&h->wa_phase, IOLI_WA_IDLE, memory_order_release);
	ioli_rlock_unlock(&h->walock, &t->lholder);

	for (k = 0; k < n; k++)
		if (o[k].ops->commit)
			o[k].ops->commit(&o[k], old[k], me);
	return ab ? IOL_ABANDONED : 0;
}
