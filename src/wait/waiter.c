/* SPDX-License-Identifier: MIT */
/* Registering as a waiter, and the wait journal (src/wait/waiter.h). */
#include <limits.h>

#include "src/wait/waiter.h"

void ioli_waiter_reg(struct ioli_waitobj *o, unsigned k, bool multi, bool journal)
{
	struct ioli_slot *s = o->r.s;
	struct ioli_threc *r = journal ? ioli_self_threc(o->r.t) : NULL;
	uint64_t bit = 1ull << k;

	if (o->ops->wait_begin)
		o->ops->wait_begin(o);
	if (r) {
		atomic_store_explicit(&r->wait_slot[k], o->r.slot, memory_order_relaxed);
		atomic_store_explicit(&r->wait_gen[k], o->r.sgen, memory_order_relaxed);
		atomic_store_explicit(&r->wait_multi, multi, memory_order_relaxed);
		if (atomic_load_explicit(&r->wait_n, memory_order_relaxed) < k + 1)
			atomic_store_explicit(&r->wait_n, k + 1, memory_order_release);
	}
	if (multi)
		atomic_fetch_add(&s->multi, 1);
	atomic_fetch_add(&s->waiters, 1);
	if (r)
		atomic_fetch_or(&r->wait_reg, bit);
	o->registered = true;
}

void ioli_waiter_unreg(struct ioli_waitobj *o, unsigned k, bool multi, bool journal)
{
	struct ioli_slot *s = o->r.s;
	struct ioli_threc *r = journal ? ioli_self_threc(o->r.t) : NULL;

	if (!o->registered)
		return;
	if (r)
		atomic_fetch_and(&r->wait_reg, ~(1ull << k));
	atomic_fetch_sub(&s->waiters, 1);
	if (multi)
		atomic_fetch_sub(&s->multi, 1);
	if (o->ops->wait_end)
		o->ops->wait_end(o);
	o->registered = false;
}

void ioli_waiter_journal_end(struct ioli_waitobj *o, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct ioli_threc *r = ioli_self_threc(o[i].r.t);

		if (r)
			atomic_store_explicit(&r->wait_n, 0, memory_order_release);
	}
}

/*
 * Give back the waiter counts a dead thread was holding.  Each journal bit
 * is cleared before its count is returned, so two survivors doing this at
 * once, or one dying half-way, can leave a count too high (a spurious
 * wake later) but never too low (a lost one).
 */
void ioli_waiter_return_dead(iol_table *t, struct ioli_threc *r)
{
	uint32_t n = atomic_load_explicit(&r->wait_n, memory_order_acquire);
	bool multi = atomic_load_explicit(&r->wait_multi, memory_order_relaxed);

	if (n > IOL_MAX_WAIT)
		n = IOL_MAX_WAIT;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t bit = 1ull << i;
		uint32_t slot = atomic_load_explicit(&r->wait_slot[i], memory_order_relaxed);
		uint32_t gen = atomic_load_explicit(&r->wait_gen[i], memory_order_relaxed);
		struct ioli_slot *s;

		if (!(atomic_fetch_and(&r->wait_reg, ~bit) & bit))
			continue;
		if (!ioli_slot_live(t, slot, gen))
			continue;
		s = ioli_slot(t, slot);
		if (atomic_load(&s->waiters) > 0)
			atomic_fetch_sub(&s->waiters, 1);
		if (multi && atomic_load(&s->multi) > 0)
			atomic_fetch_sub(&s->multi, 1);
		/* It may have been woken and died before it passed the wake
		 * on or carried a mutex's SLEEPERS mark on (src/wait/wait.c,
		 * pass_on): the others look again.  A wake never blocks, so
		 * it is made even under T (the reap of dead records). */
		ioli_wake(t, s, INT_MAX);
	}
}
