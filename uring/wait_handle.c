/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous waits on table handles: iol_pool_wait_handle().
 *
 * An event, semaphore, process or thread of the handle table is waited for
 * as one more pool operation, completing in the same callback stream as
 * socket and file IO.  Underneath it is a futex wait on the object's word
 * (IORING_OP_FUTEX_WAIT where the probe finds it, the pool's futex_waitv
 * helper threads elsewhere), with a try hook that acquires the object on
 * the pool thread exactly as iol_wait(h, 0) would, and re-arms on the value
 * it saw when another waiter got there first.  One operation, one id, one
 * deadline, however many times it re-arms.
 *
 * The wait counts as a multi-object waiter of the slot from submission to
 * its callback: every state change then wakes all waiters, so a wake taken
 * by an async wait that is cancelled, or loses its race, is never one that
 * another waiter needed.  (It is not journaled in a thread record: if the
 * process dies with async waits pending, the slot's counts stay too high,
 * which costs spurious wakes, never lost ones.)
 *
 * Process objects are waited on through their word too (set by the
 * process watcher once the child is reaped and its status posted), rather
 * than by IORING_OP_WAITID: there is one reaper per child, and a callback
 * that runs after the end can always read the exit status.
 */
#include <errno.h>
#include <stdlib.h>

#include "src/wait/waiter.h"
#include "uring/pool_futex.h"
#include "uring/pool_internal.h"

struct hwait {
	struct ioli_waitobj o;
	iol_cb cb;
	void *arg;
	bool have_result; /* acquired at submission: complete with result */
	int result;
	uint32_t dummy;
};

static int hw_try(void *arg, unsigned index, struct ioli_futex_word *words, unsigned n)
{
	struct hwait *w = arg;
	int r;

	(void)index;
	(void)n;
	if (w->have_result)
		return 0;
	r = ioli_obj_try(&w->o);
	if (r == IOLI_TRY_BUSY) {
		words[0].expected = w->o.seen;
		return -EAGAIN;
	}
	return r;
}

static void hw_done(void *arg, int res, unsigned flags)
{
	struct hwait *w = arg;

	(void)flags;
	if (w->have_result && res >= 0)
		res = w->result;
	ioli_waiter_unreg(&w->o, 0, true, false);
	ioli_handle_unpin(w->o.r.h);
	w->cb(w->arg, res, 0);
	free(w);
}

int iol_pool_wait_handle(iol_pool *pool, int h, iol_cb cb, void *arg,
			 const struct iol_op_opts *opts, uint64_t *id)
{
	struct ioli_futex_word word;
	struct hwait *w;
	int r;

	if (!pool || !cb)
		return -EINVAL;
	if (ioli_pool_forked(pool))
		return -EBADF;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	r = ioli_handle_pin(h, &w->o.r);
	if (r)
		goto out_free;
	/* Mutexes are owned by threads, and no pool thread is the caller;
	 * file handles are not waitable. */
	w->o.ops = ioli_obj_ops(w->o.r.type);
	if (!w->o.ops || w->o.ops->thread_owned) {
		r = -EINVAL;
		goto out_unpin;
	}
	/* Registered before the first look: a change after it wakes us. */
	ioli_waiter_reg(&w->o, 0, true, false);
	r = ioli_obj_try(&w->o);
	if (r == IOLI_TRY_BUSY) {
		word = (struct ioli_futex_word){.word = (uint32_t *)&w->o.r.s->word,
						.expected = w->o.seen};
		r = ioli_pool_futex_waitv_try(pool, &word, 1, !w->o.r.t->futex_private, hw_try,
					      hw_done, w, opts, id);
	} else if (r >= 0) {
		/* Acquired already: complete through the pool all the same
		 * (callbacks never run inside the submitting call), with a
		 * private word that differs from what it is expected to be. */
		w->have_result = true;
		w->result = r;
		w->dummy = 0;
		word = (struct ioli_futex_word){.word = &w->dummy, .expected = 1};
		r = ioli_pool_futex_waitv_try(pool, &word, 1, false, hw_try, hw_done, w, opts, id);
		/* Not submitted: give back what was taken, it cannot be delivered. */
		if (r < 0 && w->o.ops->signal)
			w->o.ops->signal(h);
	}
	if (r < 0) {
		ioli_waiter_unreg(&w->o, 0, true, false);
		goto out_unpin;
	}
	return 0;

out_unpin:
	ioli_handle_unpin(h);
out_free:
	free(w);
	return r;
}
