/* SPDX-License-Identifier: MIT */
/*
 * Table layout: where each region lives, derived from (nslots, max_procs)
 * alone, and the header check that refuses anything else.
 */
#include <errno.h>
#include <string.h>

#include "src/table/table.h"

_Static_assert(sizeof(struct ioli_slot) == 384, "slot layout");
_Static_assert(sizeof(struct ioli_proc) == 256, "process record layout");
_Static_assert(sizeof(struct ioli_threc) == 1024, "thread record layout");
_Static_assert(offsetof(struct ioli_slot, word) == 0, "futex word first");
_Static_assert(offsetof(struct ioli_slot, waiters) / 64 != offsetof(struct ioli_slot, word) / 64,
	       "waiter counts off the word's cache line");
_Static_assert(IOLI_MAX_THRECS <= IOLI_OWNER_IDX_MASK, "owner ids");
_Static_assert(IOL_TABLE_MAX_SLOTS <= (1u << 24), "tokens carry 24 bits of slot index");

static uint64_t page_up(uint64_t v)
{
	return (v + IOLI_PAGE - 1) & ~(uint64_t)(IOLI_PAGE - 1);
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

void ioli_layout_compute(uint32_t nslots, uint32_t max_procs, struct ioli_layout *l)
{
	uint64_t off = page_up(sizeof(struct ioli_hdr));

	l->nslots = nslots;
	l->nbuckets = pow2_at_least(nslots);
	l->max_procs = max_procs;
	l->max_threcs = IOLI_MAX_THRECS;
	l->off_procs = off;
	off = page_up(off + (uint64_t)max_procs * sizeof(struct ioli_proc));
	l->off_threcs = off;
	off = page_up(off + (uint64_t)l->max_threcs * sizeof(struct ioli_threc));
	l->off_buckets = off;
	off = page_up(off + (uint64_t)l->nbuckets * sizeof(uint32_t));
	l->off_slots = off;
	off = page_up(off + (uint64_t)nslots * sizeof(struct ioli_slot));
	l->off_rows = off;
	off = page_up(off + (uint64_t)max_procs * nslots * sizeof(uint32_t));
	l->total_size = off;
}

void ioli_header_init(struct ioli_hdr *h, const struct ioli_layout *l, uint32_t salt)
{
	h->version = IOLI_VERSION;
	h->hdr_size = sizeof(*h);
	h->slot_size = sizeof(struct ioli_slot);
	h->proc_size = sizeof(struct ioli_proc);
	h->threc_size = sizeof(struct ioli_threc);
	h->lock_size = sizeof(struct ioli_rlock);
	h->nslots = l->nslots;
	h->nbuckets = l->nbuckets;
	h->max_procs = l->max_procs;
	h->max_threcs = l->max_threcs;
	h->off_procs = l->off_procs;
	h->off_threcs = l->off_threcs;
	h->off_buckets = l->off_buckets;
	h->off_slots = l->off_slots;
	h->off_rows = l->off_rows;
	h->total_size = l->total_size;
	h->salt = salt;
	/* The magic goes last: a reader that sees it sees a whole header.
	 * (Tables are linked into place only after this anyway.) */
	__atomic_store_n(&h->magic, IOLI_MAGIC, __ATOMIC_RELEASE);
}

/*
 * Check a header read from a file of file_size bytes.  Each field is read
 * once into a local copy; the layout is recomputed from nslots and must
 * match the header field by field.  Returns 0 or -EPROTO.
 */
int ioli_header_check(const struct ioli_hdr *hp, uint64_t file_size, struct ioli_layout *out)
{
	struct ioli_hdr h;
	struct ioli_layout l;

	if (file_size < sizeof(h))
		return -EPROTO;
	memcpy(&h, hp, offsetof(struct ioli_hdr, lock));
	if (h.magic != IOLI_MAGIC || h.version != IOLI_VERSION)
		return -EPROTO;
	if (h.hdr_size != sizeof(struct ioli_hdr) || h.slot_size != sizeof(struct ioli_slot) ||
	    h.proc_size != sizeof(struct ioli_proc) || h.threc_size != sizeof(struct ioli_threc) ||
	    h.lock_size != sizeof(struct ioli_rlock))
		return -EPROTO;
	if (h.nslots < 16 || h.nslots > IOL_TABLE_MAX_SLOTS || h.max_procs != IOL_TABLE_MAX_PROCS)
		return -EPROTO;
	ioli_layout_compute(h.nslots, h.max_procs, &l);
	if (h.nbuckets != l.nbuckets || h.max_threcs != l.max_threcs ||
	    h.off_procs != l.off_procs || h.off_threcs != l.off_threcs ||
	    h.off_buckets != l.off_buckets || h.off_slots != l.off_slots ||
	    h.off_rows != l.off_rows || h.total_size != l.total_size || file_size != l.total_size)
		return -EPROTO;
	*out = l;
	return 0;
}
