/* SPDX-License-Identifier: MIT */
/*
 * Process-local handles.
 *
 * A handle is (entry index << 8) | generation, the generation (1..255)
 * changing each time an entry is reused, so a stale handle value is
 * refused rather than reaching whatever the entry holds now.  The entry
 * layout and the lock-free lookup (ioli_handle_fast) are in src/table/table.h.
 *
 * A blocking wait pins its handles; closing a pinned handle
 * clears LIVE and leaves the shared reference to the last unpinner, which
 * is how "a wait holds its own reference" is implemented without touching
 * shared memory on the wait's fast path.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "src/fault.h"
#include "src/table/table.h"

_Atomic(struct ioli_hent *) ioli_hchunks[IOLI_H_MAXCHUNKS];
static pthread_mutex_t hlock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t nentries;	      /* entries ever allocated */
static uint32_t free_head, free_tail; /* FIFO, index + 1, delays reuse */

static struct ioli_hent *entry(uint32_t idx)
{
	struct ioli_hent *c;

	if (idx >= IOLI_H_CHUNK * IOLI_H_MAXCHUNKS)
		return NULL;
	c = atomic_load_explicit(&ioli_hchunks[idx / IOLI_H_CHUNK], memory_order_acquire);
	return c ? &c[idx % IOLI_H_CHUNK] : NULL;
}

static struct ioli_hent *entry_of(int h, uint32_t *gen)
{
	*gen = (uint32_t)h & 0xffu;
	if (h <= 0)
		return NULL;
	return entry((uint32_t)h >> 8);
}

static void free_push(uint32_t idx)
{
	struct ioli_hent *e = entry(idx);

	e->next_free = 0;
	if (free_tail)
		entry(free_tail - 1)->next_free = idx + 1;
	else
		free_head = idx + 1;
	free_tail = idx + 1;
}

int ioli_handle_reserve(void)
{
	uint32_t idx, gen;
	struct ioli_hent *e;

	pthread_mutex_lock(&hlock);
	if (free_head) {
		idx = free_head - 1;
		e = entry(idx);
		free_head = e->next_free;
		if (!free_head)
			free_tail = 0;
	} else {
		if (nentries >= IOLI_H_CHUNK * IOLI_H_MAXCHUNKS) {
			pthread_mutex_unlock(&hlock);
			return -EMFILE;
		}
		idx = nentries;
		if (!atomic_load_explicit(&ioli_hchunks[idx / IOLI_H_CHUNK],
					  memory_order_relaxed)) {
			struct ioli_hent *c =
			    aligned_alloc(alignof(struct ioli_hent), IOLI_H_CHUNK * sizeof(*c));

			if (!c) {
				pthread_mutex_unlock(&hlock);
				return -ENOMEM;
			}
			memset(c, 0, IOLI_H_CHUNK * sizeof(*c));
			atomic_store_explicit(&ioli_hchunks[idx / IOLI_H_CHUNK], c,
					      memory_order_release);
		}
		nentries++;
		e = entry(idx);
	}
	gen = IOLI_H_GEN(atomic_load_explicit(&e->ctl, memory_order_relaxed)) + 1;
	if (gen > 0xff)
		gen = 1;
	atomic_store_explicit(&e->ctl, (gen << 24) | IOLI_H_RESERVED, memory_order_relaxed);
	pthread_mutex_unlock(&hlock);
	return (int)((idx << 8) | gen);
}

void ioli_handle_publish(int h, iol_table *t, uint32_t slot, uint32_t sgen, uint32_t type)
{
	uint32_t gen;
	struct ioli_hent *e = entry_of(h, &gen);

	atomic_store_explicit(&e->slot, slot, memory_order_relaxed);
	atomic_store_explicit(&e->sgen, sgen, memory_order_relaxed);
	atomic_store_explicit(&e->type, type, memory_order_relaxed);
	atomic_store_explicit(&e->t, t, memory_order_relaxed);
	atomic_store_explicit(&e->s, ioli_slot(t, slot), memory_order_relaxed);
	atomic_store_explicit(&e->ctl, (gen << 24) | IOLI_H_LIVE, memory_order_release);
}

static void entry_release(uint32_t idx, struct ioli_hent *e)
{
	pthread_mutex_lock(&hlock);
	atomic_store_explicit(&e->ctl,
			      atomic_load_explicit(&e->ctl, memory_order_relaxed) & 0xff000000u,
			      memory_order_release);
	free_push(idx);
	pthread_mutex_unlock(&hlock);
}

void ioli_handle_cancel(int h)
{
	uint32_t gen;
	struct ioli_hent *e = entry_of(h, &gen);

	if (e)
		entry_release((uint32_t)h >> 8, e);
}

static void fill(struct ioli_hent *e, int h, struct ioli_href *out)
{
	out->t = atomic_load_explicit(&e->t, memory_order_relaxed);
	out->slot = atomic_load_explicit(&e->slot, memory_order_relaxed);
	out->sgen = atomic_load_explicit(&e->sgen, memory_order_relaxed);
	out->type = atomic_load_explicit(&e->type, memory_order_relaxed);
	out->h = h;
}

/* The entry holds a reference on its table, so once the entry is known to
 * be live the table pointer is safe to follow.  The object must still be
 * the one the handle named: a slot freed behind the handle's back (its
 * process reclaimed by mistake, fsck dropping it, a scribble) and maybe
 * reused has another generation, and acting on it would act on someone
 * else's object. */
static int check(struct ioli_href *out)
{
	if (!ioli_table_usable(out->t) || !ioli_slot_live(out->t, out->slot, out->sgen))
		return -EBADF;
	out->s = ioli_slot(out->t, out->slot);
	return 0;
}

int ioli_handle_get(int h, struct ioli_href *out)
{
	return ioli_handle_fast(h, out);
}

int ioli_handle_get_typed(int h, uint32_t type, struct ioli_href *out)
{
	return ioli_handle_fast_typed(h, type, out);
}

int ioli_handle_pin(int h, struct ioli_href *out)
{
	int r = ioli_handle_pin_held(h, out);

	/* A pinned handle keeps its table mapped: iol_table_close() may run
	 * meanwhile and leave the last unpin to finalize the handle. */
	if (r == 0)
		ioli_table_ref(out->t);
	return r;
}

int ioli_handle_pin_held(int h, struct ioli_href *out)
{
	uint32_t gen, c;
	struct ioli_hent *e = entry_of(h, &gen);
	int r;

	if (!e)
		return -EBADF;
	c = atomic_load_explicit(&e->ctl, memory_order_relaxed);
	do {
		if (!(c & IOLI_H_LIVE) || IOLI_H_GEN(c) != gen)
			return -EBADF;
		if ((c & IOLI_H_PINS) == IOLI_H_PINS)
			return -EAGAIN;
	} while (!atomic_compare_exchange_weak_explicit(&e->ctl, &c, c + 1, memory_order_acquire,
							memory_order_relaxed));
	fill(e, h, out);
	r = check(out);
	if (r)
		ioli_handle_unpin_held(h);
	return r;
}

/* The handle is closed and unpinned: give back its shared reference. */
static void finalize(uint32_t idx, struct ioli_hent *e)
{
	iol_table *t = atomic_load_explicit(&e->t, memory_order_relaxed);
	uint32_t slot = atomic_load_explicit(&e->slot, memory_order_relaxed);
	uint32_t sgen = atomic_load_explicit(&e->sgen, memory_order_relaxed);

	if (!atomic_load_explicit(&t->forked, memory_order_relaxed))
		ioli_obj_local_put(t, slot, sgen,
				   atomic_load_explicit(&e->type, memory_order_relaxed));
	if (!atomic_load_explicit(&t->forked, memory_order_relaxed) && ioli_tlock(t) == 0) {
		IOLI_FAULT("close");
		if (ioli_slot_live(t, slot, sgen))
			ioli_ref_put(t, t->self, slot);
		ioli_tunlock(t);
	}
	entry_release(idx, e);
}

void ioli_handle_unpin_held(int h)
{
	uint32_t gen;
	struct ioli_hent *e = entry_of(h, &gen);
	uint32_t old;

	if (!e)
		return;
	old = atomic_fetch_sub_explicit(&e->ctl, 1, memory_order_acq_rel);
	if (!(old & IOLI_H_LIVE) && (old & IOLI_H_PINS) == 1)
		finalize((uint32_t)h >> 8, e);
}

void ioli_handle_unpin(int h)
{
	uint32_t gen;
	struct ioli_hent *e = entry_of(h, &gen);
	iol_table *t;

	if (!e)
		return;
	t = atomic_load_explicit(&e->t, memory_order_relaxed);
	ioli_handle_unpin_held(h);
	ioli_table_unref(t);
}

int iol_close(int h)
{
	uint32_t gen, c;
	struct ioli_hent *e = entry_of(h, &gen);
	struct ioli_href r;

	if (!e)
		return -EBADF;
	c = atomic_load_explicit(&e->ctl, memory_order_relaxed);
	do {
		if (!(c & IOLI_H_LIVE) || IOLI_H_GEN(c) != gen)
			return -EBADF;
	} while (!atomic_compare_exchange_weak_explicit(
	    &e->ctl, &c, c & ~IOLI_H_LIVE, memory_order_acq_rel, memory_order_relaxed));
	if ((c & IOLI_H_PINS) == 0) {
		/* Report a handle whose table went away or whose object was
		 * reclaimed behind its back, after closing it all the same. */
		int ok;

		fill(e, h, &r);
		ok = check(&r);
		if (ok == 0 && !ioli_slot_live(r.t, r.slot, r.sgen))
			ok = -EBADF;
		finalize((uint32_t)h >> 8, e);
		return ok;
	}
	return 0;
}

void ioli_handles_close_table(iol_table *t)
{
	uint32_t n;

	pthread_mutex_lock(&hlock);
	n = nentries;
	pthread_mutex_unlock(&hlock);
	for (uint32_t i = 0; i < n; i++) {
		struct ioli_hent *e = entry(i);
		uint32_t c = atomic_load_explicit(&e->ctl, memory_order_acquire);

		if ((c & IOLI_H_LIVE) && atomic_load_explicit(&e->t, memory_order_relaxed) == t)
			iol_close((int)((i << 8) | IOLI_H_GEN(c)));
	}
}

void ioli_handles_atfork_prepare(void)
{
	pthread_mutex_lock(&hlock);
}

void ioli_handles_atfork_parent(void)
{
	pthread_mutex_unlock(&hlock);
}

/* In a fork()ed child: the parent's handles are not ours.  Forget them all
 * without touching shared memory (the parent still holds those
 * references), keeping generations so old values stay refused. */
void ioli_handles_after_fork(void)
{
	pthread_mutex_unlock(&hlock);
	free_head = free_tail = 0;
	for (uint32_t i = 0; i < nentries; i++) {
		struct ioli_hent *e = entry(i);

		atomic_store_explicit(
		    &e->ctl, atomic_load_explicit(&e->ctl, memory_order_relaxed) & 0xff000000u,
		    memory_order_relaxed);
		free_push(i);
	}
}
