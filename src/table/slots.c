/* SPDX-License-Identifier: MIT */
/*
 * Slot allocation and cross-process reference counts, under T.
 *
 * Free slots form a list through slot->next; slots never used yet lie
 * above the high-water mark, so a new table touches no slot page until it
 * is needed.  A slot's references are the sum of one row per process
 * record (rows[proc][slot], the handles that process holds), which is what
 * lets a survivor give back exactly what a dead process held.
 */
#include <errno.h>
#include <string.h>

#include "src/table/table.h"

static void tadd(iol_table *t, _Atomic uint32_t *f, uint32_t d)
{
	ioli_tset(t, f, atomic_load_explicit(f, memory_order_relaxed) + d);
}

int ioli_slot_alloc(iol_table *t, uint32_t type, uint32_t flags, const char *name, size_t len,
		    uint32_t hash)
{
	struct ioli_hdr *h = t->hdr;
	uint32_t head = atomic_load_explicit(&h->free_head, memory_order_relaxed);
	uint32_t idx;
	struct ioli_slot *s;

	if (head != 0 && head - 1 < t->nslots &&
	    !(atomic_load_explicit(&ioli_slot(t, head - 1)->state, memory_order_relaxed) &
	      IOLI_SLOT_LIVE)) {
		idx = head - 1;
		ioli_tset(t, &h->free_head,
			  atomic_load_explicit(&ioli_slot(t, idx)->next, memory_order_relaxed));
	} else {
		uint32_t hwm = atomic_load_explicit(&h->hwm, memory_order_relaxed);

		if (head != 0) /* a scribbled free list: forget it */
			ioli_tset(t, &h->free_head, 0);
		if (hwm >= t->nslots)
			return -ENOSPC;
		idx = hwm;
		ioli_tset(t, &h->hwm, hwm + 1);
	}
	s = ioli_slot(t, idx);
	/* Not reachable by anyone until LIVE is set below and the caller
	 * publishes it, so the name and the futex state need no logging. */
	if (len)
		memcpy(s->name, name, len);
	s->name[len] = '\0';
	atomic_store_explicit(&s->waiters, 0, memory_order_relaxed);
	atomic_store_explicit(&s->multi, 0, memory_order_relaxed);
	memset(&s->u, 0, sizeof(s->u));
	/* Nor do these: if the holder dies before the commit, the rollback
	 * of free_head (or hwm) and of state puts the slot back as it was,
	 * free, and a free slot's fields mean nothing -- except next, its
	 * free-list link, which is logged. */
	atomic_store_explicit(&s->name_len, (uint32_t)len, memory_order_relaxed);
	atomic_store_explicit(&s->hash, hash, memory_order_relaxed);
	ioli_tset(t, &s->next, 0);
	atomic_store_explicit(&s->refs, 0, memory_order_relaxed);
	atomic_store_explicit(&s->internal, 0, memory_order_relaxed);
	ioli_tset(t, &s->state, IOLI_SLOT_LIVE | (type & 0xffu) | ((flags & 0xffu) << 8));
	tadd(t, &h->live, 1);
	if (len)
		ioli_name_insert(t, idx);
	return (int)idx;
}

void ioli_slot_free(iol_table *t, uint32_t slot)
{
	struct ioli_hdr *h = t->hdr;
	struct ioli_slot *s = ioli_slot(t, slot);

	if (IOLI_SLOT_TYPE(atomic_load_explicit(&s->state, memory_order_relaxed)) == IOL_TYPE_FILE)
		ioli_file_released(t, slot);
	if (atomic_load_explicit(&s->name_len, memory_order_relaxed))
		ioli_name_remove(t, slot);
	ioli_tset(t, &s->state, 0);
	tadd(t, &s->gen, 1);
	ioli_tset(t, &s->next, atomic_load_explicit(&h->free_head, memory_order_relaxed));
	ioli_tset(t, &h->free_head, slot + 1);
	if (atomic_load_explicit(&h->live, memory_order_relaxed) > 0)
		tadd(t, &h->live, (uint32_t)-1);
}

int ioli_ref_get(iol_table *t, uint32_t proc, uint32_t slot)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	_Atomic uint32_t *held = &ioli_row(t, proc)[slot];
	uint32_t refs = atomic_load_explicit(&s->refs, memory_order_relaxed);
	uint32_t mine = atomic_load_explicit(held, memory_order_relaxed);

	if (refs == UINT32_MAX || mine == UINT32_MAX)
		return -EMFILE;
	/* Mark the row page before the count appears in it: reclaim scans
	 * only marked pages.  A stale mark costs a scan, never a miss. */
	atomic_fetch_or_explicit(&t->procs[proc].row_pages[slot >> 16], 1ull << ((slot >> 10) & 63),
				 memory_order_relaxed);
	ioli_tset(t, held, mine + 1);
	ioli_tset(t, &s->refs, refs + 1);
	return 0;
}

void ioli_ref_put(iol_table *t, uint32_t proc, uint32_t slot)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	_Atomic uint32_t *held = &ioli_row(t, proc)[slot];
	uint32_t refs = atomic_load_explicit(&s->refs, memory_order_relaxed);
	uint32_t mine = atomic_load_explicit(held, memory_order_relaxed);

	if (mine > 0)
		ioli_tset(t, held, mine - 1);
	if (refs > 1) {
		ioli_tset(t, &s->refs, refs - 1);
		return;
	}
	ioli_tset(t, &s->refs, 0);
	ioli_slot_free(t, slot);
}

void ioli_slot_set_key(iol_table *t, uint32_t slot, const uint8_t *key, size_t len)
{
	struct ioli_slot *s = ioli_slot(t, slot);

	if (len > IOL_NAME_MAX || atomic_load_explicit(&s->name_len, memory_order_relaxed))
		return;
	/* The bytes are not reachable until the index links them (logged). */
	memcpy(s->name, key, len);
	ioli_tset(t, &s->hash, ioli_name_hash((const char *)key, len));
	ioli_tset(t, &s->name_len, (uint32_t)len);
	ioli_name_insert(t, slot);
}

bool ioli_slot_live(iol_table *t, uint32_t slot, uint32_t gen)
{
	struct ioli_slot *s;

	if (slot >= t->nslots)
		return false;
	s = ioli_slot(t, slot);
	return (atomic_load_explicit(&s->state, memory_order_acquire) & IOLI_SLOT_LIVE) &&
	       atomic_load_explicit(&s->gen, memory_order_relaxed) == gen;
}
