/* SPDX-License-Identifier: MIT */
/*
 * The name index: a chained hash table in shared memory, protected by T.
 *
 * buckets[hash & (nbuckets - 1)] holds the first slot (index + 1) of a
 * chain linked through slot->next.  Chains are walked at most nslots
 * steps and every index is bounds-checked, so a scribbled table can give a
 * wrong answer but never a wild access or an endless loop.
 */
#include <string.h>

#include "src/table/table.h"

/* FNV-1a with a final avalanche (the murmur3 finalizer). */
uint32_t ioli_name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static _Atomic uint32_t *bucket_of(iol_table *t, uint32_t hash)
{
	return &t->buckets[hash & (t->nbuckets - 1)];
}

uint32_t ioli_name_find(iol_table *t, const char *name, size_t len, uint32_t hash)
{
	uint32_t next = atomic_load_explicit(bucket_of(t, hash), memory_order_relaxed);

	for (uint32_t steps = 0; next != 0 && steps < t->nslots; steps++) {
		uint32_t i = next - 1;
		struct ioli_slot *s;

		if (i >= t->nslots)
			return UINT32_MAX;
		s = ioli_slot(t, i);
		if ((atomic_load_explicit(&s->state, memory_order_relaxed) & IOLI_SLOT_LIVE) &&
		    atomic_load_explicit(&s->hash, memory_order_relaxed) == hash &&
		    atomic_load_explicit(&s->name_len, memory_order_relaxed) == len &&
		    memcmp(s->name, name, len) == 0)
			return i;
		next = atomic_load_explicit(&s->next, memory_order_relaxed);
	}
	return UINT32_MAX;
}

void ioli_name_insert(iol_table *t, uint32_t slot)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	_Atomic uint32_t *b = bucket_of(t, atomic_load_explicit(&s->hash, memory_order_relaxed));

	ioli_tset(t, &s->next, atomic_load_explicit(b, memory_order_relaxed));
	ioli_tset(t, b, slot + 1);
}

void ioli_name_remove(iol_table *t, uint32_t slot)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	_Atomic uint32_t *link = bucket_of(t, atomic_load_explicit(&s->hash, memory_order_relaxed));

	for (uint32_t steps = 0; steps < t->nslots; steps++) {
		uint32_t next = atomic_load_explicit(link, memory_order_relaxed);

		if (next == 0 || next - 1 >= t->nslots)
			return; /* not in the index (or a scribbled chain) */
		if (next - 1 == slot) {
			ioli_tset(t, link, atomic_load_explicit(&s->next, memory_order_relaxed));
			ioli_tset(t, &s->next, 0);
			return;
		}
		link = &ioli_slot(t, next - 1)->next;
	}
}
