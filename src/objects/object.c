/* SPDX-License-Identifier: MIT */
/*
 * Opening objects: the path every type shares.  Look the name up, or
 * create the slot, take a reference for this process and publish a handle,
 * all in one T critical section so a racing open of the same name sees
 * either nothing or a whole object.
 */
#include <errno.h>
#include <string.h>

#include "src/table/table.h"
#include "src/process/watcher.h"

static int check_name(const char *name, size_t *len)
{
	if (!name) {
		*len = 0;
		return 0;
	}
	*len = strnlen(name, IOL_NAME_MAX + 1);
	if (*len == 0)
		return -EINVAL;
	if (*len > IOL_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int ioli_object_open(iol_table *t, const char *name, unsigned flags, struct ioli_create *c)
{
	size_t len;
	uint32_t hash = 0, idx = UINT32_MAX, gen;
	bool created = false;
	struct ioli_slot *s;
	int h, err;

	if (flags & ~(IOL_CREATE | IOL_EXCL))
		return -EINVAL;
	if ((flags & IOL_EXCL) && !(flags & IOL_CREATE))
		return -EINVAL;
	err = check_name(name, &len);
	if (err)
		return err;
	if (!ioli_table_usable(t))
		return -EBADF;
	if (len)
		hash = ioli_name_hash(name, len);
	h = ioli_handle_reserve();
	if (h < 0)
		return h;
	bool retried = false;
again:
	err = ioli_tlock(t);
	if (err)
		goto out_cancel;
	if (len) {
		idx = ioli_name_find(t, name, len, hash);
		if (idx != UINT32_MAX) {
			uint32_t st =
			    atomic_load_explicit(&ioli_slot(t, idx)->state, memory_order_relaxed);

			if (IOLI_SLOT_TYPE(st) != c->type || (flags & IOL_EXCL)) {
				err = -EEXIST;
				goto out_unlock;
			}
		} else if (!(flags & IOL_CREATE)) {
			err = -ENOENT;
			goto out_unlock;
		}
	}
	if (idx == UINT32_MAX) {
		err = ioli_slot_alloc(t, c->type, c->flags, name, len, hash);
		if (err < 0)
			goto out_unlock;
		idx = (uint32_t)err;
		created = true;
		s = ioli_slot(t, idx);
		atomic_store_explicit(&s->word, c->word, memory_order_relaxed);
		switch (c->type) {
		case IOL_TYPE_MUTEX:
			if (c->own)
				atomic_store_explicit(&s->u.mutex.recursion, 1,
						      memory_order_relaxed);
			break;
		case IOL_TYPE_SEMAPHORE:
			s->u.sem.max = c->u32a;
			break;
		default:
			break;
		}
	}
	err = ioli_ref_get(t, t->self, idx);
	if (err) {
		if (created)
			ioli_ref_put(t, t->self, idx); /* refs 0: frees the new slot */
		goto out_unlock;
	}
	gen = atomic_load_explicit(&ioli_slot(t, idx)->gen, memory_order_relaxed);
	ioli_tunlock(t);
	if (created && c->own)
		ioli_owned_push(t, idx);
	ioli_handle_publish(h, t, idx, gen, c->type);
	return h;

out_unlock:
	ioli_tunlock(t);
	/* A full table, or a name kept only by dead processes: reclaim them
	 * and try once more. */
	if ((err == -ENOSPC || (err == -EEXIST && (flags & IOL_EXCL))) && !retried) {
		retried = true;
		idx = UINT32_MAX;
		if (ioli_reclaim_dead(t) > 0)
			goto again;
	}
out_cancel:
	ioli_handle_cancel(h);
	return err;
}

void ioli_obj_local_get(iol_table *t, uint32_t slot, uint32_t sgen, uint32_t type)
{
	switch (type) {
	case IOL_TYPE_PROCESS:
		ioli_watch_get(t, slot, sgen, -1);
		break;
	case IOL_TYPE_FILE:
		ioli_file_local_get(t, slot, sgen);
		break;
	default:
		break;
	}
}

void ioli_obj_local_put(iol_table *t, uint32_t slot, uint32_t sgen, uint32_t type)
{
	switch (type) {
	case IOL_TYPE_PROCESS:
		ioli_watch_put(t, slot, sgen);
		break;
	case IOL_TYPE_FILE:
		ioli_file_local_put(t, slot, sgen);
		break;
	default:
		break;
	}
}
