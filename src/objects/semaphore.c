/* SPDX-License-Identifier: MIT */
/*
 * Semaphores: the futex word is the count.  A wait takes one; release
 * adds `count` unless that would pass `max`.  Releasing with no waiter
 * registered makes no system call.
 */
#include <errno.h>
#include <limits.h>

#include "src/objects/objops.h"
#include "src/table/table.h"

int iol_semaphore_open(iol_table *t, const char *name, unsigned flags, uint32_t initial,
		       uint32_t max)
{
	struct ioli_create c = {.type = IOL_TYPE_SEMAPHORE, .word = initial, .u32a = max};

	if (!t)
		return -EINVAL;
	/* Creation arguments are checked whenever this call may create. */
	if ((flags & IOL_CREATE) || !name) {
		if (max < 1 || max > INT32_MAX || initial > max)
			return -EINVAL;
	}
	return ioli_object_open(t, name, flags, &c);
}

/* A release that has waiters to wake, out of line: the common case then
 * saves no registers for a call it does not make.  c: the count before. */
static __attribute__((noinline)) int release_wake(iol_table *t, struct ioli_slot *s, uint32_t count,
						  uint32_t c)
{
	ioli_wake(t, s, count > INT_MAX ? INT_MAX : (int)count);
	return (int)c;
}

/* The release past its first CAS (lost, or the word LOCKED by a
 * wait-all); v is the word last seen. */
static __attribute__((noinline)) int release_slow(iol_table *t, struct ioli_slot *s, uint32_t count,
						  uint32_t max, uint32_t v)
{
	uint32_t c;
	int err;

	for (;;) {
		if (v & IOLI_W_LOCKED) {
			err = ioli_walock_pass(t, s);
			if (err)
				return err;
			v = atomic_load(&s->word);
			continue;
		}
		c = v & IOLI_SEM_COUNT_MASK;
		if (c > max || count > max - c)
			return -EOVERFLOW;
		if (atomic_compare_exchange_weak(&s->word, &v, c + count))
			break;
	}
	if (atomic_load(&s->waiters)) /* seq_cst: the other half of the waiter's */
		return release_wake(t, s, count, c);
	return (int)c;
}

int iol_semaphore_release(int h, uint32_t count)
{
	struct ioli_href r;
	uint32_t v, c, max;
	int err = ioli_handle_fast_typed(h, IOL_TYPE_SEMAPHORE, &r);

	if (err)
		return err;
	if (count == 0)
		return -EINVAL;
	max = r.s->u.sem.max;
	if (max > INT32_MAX)
		max = INT32_MAX; /* scribbled: keep the count inside its bits */
	v = atomic_load(&r.s->word);
	if (v & IOLI_W_LOCKED)
		return release_slow(r.t, r.s, count, max, v);
	c = v & IOLI_SEM_COUNT_MASK;
	if (c > max || count > max - c)
		return -EOVERFLOW;
	if (!atomic_compare_exchange_strong(&r.s->word, &v, c + count))
		return release_slow(r.t, r.s, count, max, v);
	if (atomic_load(&r.s->waiters)) /* seq_cst: the other half of the waiter's */
		return release_wake(r.t, r.s, count, c);
	return (int)c;
}

int ioli_sem_try_slow(struct ioli_waitobj *o)
{
	struct ioli_slot *s = o->r.s;
	uint32_t v = atomic_load(&s->word); /* seq_cst: see src/wait/wait.c */

	for (;;) {
		if (v & IOLI_W_LOCKED) {
			int err = ioli_walock_pass(o->r.t, s);

			if (err)
				return err;
			v = atomic_load_explicit(&s->word, memory_order_acquire);
			continue;
		}
		if ((v & IOLI_SEM_COUNT_MASK) == 0) {
			o->seen = v;
			return IOLI_TRY_BUSY;
		}
		if (atomic_compare_exchange_weak_explicit(&s->word, &v, v - 1, memory_order_acquire,
							  memory_order_acquire))
			return 0;
	}
}

/* ---- the semaphore's operations for the waits ----------------------- */

static int sem_claim(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab)
{
	if ((v & IOLI_SEM_COUNT_MASK) == 0)
		return 0;
	*nv = v - 1;
	return 1;
}

static int sem_signal(int h)
{
	return iol_semaphore_release(h, 1);
}

static bool semaphore_available(const struct ioli_waitobj *o, uint32_t v)
{
	(void)o;
	return (v & IOLI_SEM_COUNT_MASK) != 0;
}

const struct ioli_obj_ops ioli_semaphore_ops = {
    .try_acquire = ioli_sem_try,
    .claim = sem_claim,
    .pass_wake = semaphore_available,
    .signal = sem_signal,
};
