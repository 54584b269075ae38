/* SPDX-License-Identifier: MIT */
/*
 * More handles to an object: iol_dup() in this process, and tokens that
 * carry an object to another process (iol_export/iol_import).
 *
 * A token is [63:48] the table's salt, [47:24] 24 bits of the slot's
 * generation, [23:0] the slot index.  The generation changes whenever the
 * slot is freed, so a token outliving its object names nothing (-ENOENT)
 * rather than whatever the slot holds next.
 */
#include <errno.h>

#include "src/table/table.h"

#define TOK_SALT(tok) ((uint32_t)((tok) >> 48))
#define TOK_GEN(tok)  ((uint32_t)((tok) >> 24) & 0xffffffu)
#define TOK_SLOT(tok) ((uint32_t)(tok)&0xffffffu)

/* A new handle to a slot of t that is live with generation `gen`, where
 * gen_mask says how many bits of the generation the caller knows. */
static int new_handle(iol_table *t, uint32_t slot, uint32_t gen, uint32_t gen_mask, int stale)
{
	struct ioli_slot *s;
	uint32_t st, sgen;
	int h, err;

	h = ioli_handle_reserve();
	if (h < 0)
		return h;
	err = ioli_tlock(t);
	if (err)
		goto out_cancel;
	s = ioli_slot(t, slot);
	st = atomic_load_explicit(&s->state, memory_order_relaxed);
	sgen = atomic_load_explicit(&s->gen, memory_order_relaxed);
	if (!(st & IOLI_SLOT_LIVE) || (sgen & gen_mask) != gen ||
	    IOLI_SLOT_TYPE(st) < IOL_TYPE_MUTEX || IOLI_SLOT_TYPE(st) > IOL_TYPE_FILE ||
	    atomic_load_explicit(&s->refs, memory_order_relaxed) == 0) {
		err = stale;
		goto out_unlock;
	}
	err = ioli_ref_get(t, t->self, slot);
	if (err)
		goto out_unlock;
	ioli_tunlock(t);
	ioli_handle_publish(h, t, slot, sgen, IOLI_SLOT_TYPE(st));
	ioli_obj_local_get(t, slot, sgen, IOLI_SLOT_TYPE(st));
	return h;

out_unlock:
	ioli_tunlock(t);
out_cancel:
	ioli_handle_cancel(h);
	return err;
}

int iol_dup(int h)
{
	struct ioli_href r;
	int err = ioli_handle_get(h, &r);

	if (err)
		return err;
	return new_handle(r.t, r.slot, r.sgen, UINT32_MAX, -EBADF);
}

int iol_export(int h, uint64_t *token)
{
	struct ioli_href r;
	int err;

	if (!token)
		return -EINVAL;
	err = ioli_handle_get(h, &r);
	if (err)
		return err;
	if (!ioli_slot_live(r.t, r.slot, r.sgen))
		return -EBADF;
	*token = ((uint64_t)(r.t->salt & 0xffffu) << 48) | ((uint64_t)(r.sgen & 0xffffffu) << 24) |
		 r.slot;
	return 0;
}

int iol_import(iol_table *t, uint64_t token)
{
	if (!t)
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	if (TOK_SALT(token) != (t->salt & 0xffffu) || TOK_SLOT(token) >= t->nslots)
		return -ENOENT;
	return new_handle(t, TOK_SLOT(token), TOK_GEN(token), 0xffffffu, -ENOENT);
}
