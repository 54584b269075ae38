/* SPDX-License-Identifier: MIT */
/*
 * Thread objects: iol_thread_create() runs fn(arg) in a new thread and
 * returns a handle that is signaled when the thread has ended, by return
 * or pthread_exit().  The thread is joined by the process watcher (the
 * only way to learn a pthread_exit() value), which then posts the result
 * and wakes the waiters; so when a thread handle is signaled the thread
 * has finished, including its thread-specific-data destructors (which
 * abandon the mutexes it still owned).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "iolayer/process.h"
#include "src/objects/objops.h"
#include "src/table/table.h"
#include "src/process/watcher.h"

struct start {
	iol_table *t;
	uint32_t slot, gen;
	void *(*fn)(void *);
	void *arg;
	pthread_t self;
};

static pthread_key_t start_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Runs as the thread ends, by return or pthread_exit: hand it to the
 * watcher to be joined. */
static void thread_ending(void *p)
{
	struct start *st = p;

	if (ioli_watch_thread(st->self, st->t, st->slot, st->gen) != 0) {
		/* No watcher: post without the result rather than never. */
		ioli_thread_ended(st->t, st->slot, st->gen, NULL);
		ioli_table_unref(st->t);
	}
	free(st);
}

static void key_init(void)
{
	pthread_key_create(&start_key, thread_ending);
}

static void *trampoline(void *p)
{
	struct start *st = p;

	st->self = pthread_self();
	atomic_store(&ioli_slot(st->t, st->slot)->u.thread.tid, (uint32_t)ioli_gettid());
	pthread_setspecific(start_key, st);
	return st->fn(st->arg);
}

void ioli_thread_ended(iol_table *t, uint32_t slot, uint32_t gen, void *result)
{
	struct ioli_slot *s = ioli_slot(t, slot);

	if (atomic_load(&t->forked))
		return;
	/* The result first, then signaled and the thread's own reference
	 * given back (ioli_post_end), all under T. */
	if (ioli_tlock(t) == 0) {
		if (ioli_slot_live(t, slot, gen))
			atomic_store(&s->u.thread.result, (uint64_t)(uintptr_t)result);
		ioli_tunlock(t);
	}
	if (ioli_post_end(t, slot, gen, 0, true))
		ioli_wake(t, s, INT_MAX);
}

int iol_thread_create(iol_table *t, void *(*fn)(void *), void *arg)
{
	struct start *st;
	uint32_t gen;
	int h, idx, err;

	if (!t || !fn)
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	pthread_once(&key_once, key_init);
	err = ioli_watcher_start();
	if (err)
		return err;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	h = ioli_handle_reserve();
	if (h < 0) {
		free(st);
		return h;
	}
	for (int round = 0;; round++) {
		err = ioli_tlock(t);
		if (err)
			goto out_cancel;
		idx = ioli_slot_alloc(t, IOL_TYPE_THREAD, 0, "", 0, 0);
		if (idx >= 0)
			break;
		ioli_tunlock(t);
		if (round > 0 || idx != -ENOSPC || ioli_reclaim_dead(t) == 0) {
			err = idx;
			goto out_cancel;
		}
	}
	struct ioli_slot *s = ioli_slot(t, (uint32_t)idx);
	atomic_store_explicit(&s->word, 0, memory_order_relaxed);
	atomic_store_explicit(&s->u.thread.creator, t->self + 1, memory_order_relaxed);
	atomic_store_explicit(&s->u.thread.creator_gen, t->self_gen, memory_order_relaxed);
	/* One reference for the handle, one for the thread itself. */
	err = ioli_ref_get(t, t->self, (uint32_t)idx);
	if (!err)
		err = ioli_ref_get(t, t->self, (uint32_t)idx);
	if (!err)
		ioli_tset(t, &s->internal, 1);
	gen = atomic_load_explicit(&s->gen, memory_order_relaxed);
	if (err) {
		while (ioli_slot_live(t, (uint32_t)idx, gen) &&
		       atomic_load(&ioli_row(t, t->self)[idx]) > 0)
			ioli_ref_put(t, t->self, (uint32_t)idx);
		if (ioli_slot_live(t, (uint32_t)idx, gen))
			ioli_slot_free(t, (uint32_t)idx);
		ioli_tunlock(t);
		goto out_cancel;
	}
	ioli_tunlock(t);
	ioli_handle_publish(h, t, (uint32_t)idx, gen, IOL_TYPE_THREAD);
	*st = (struct start){.t = t, .slot = (uint32_t)idx, .gen = gen, .fn = fn, .arg = arg};
	ioli_table_ref(t); /* held by the thread until it is joined */
	pthread_t th;
	err = -pthread_create(&th, NULL, trampoline, st);
	if (err) {
		ioli_table_unref(t);
		if (ioli_tlock(t) == 0) {
			if (ioli_slot_live(t, (uint32_t)idx, gen))
				ioli_ref_put(t, t->self, (uint32_t)idx);
			ioli_tunlock(t);
		}
		iol_close(h);
		free(st);
		return err;
	}
	return h;

out_cancel:
	ioli_handle_cancel(h);
	free(st);
	return err;
}

int iol_thread_result(int h, void **out)
{
	struct ioli_href r;
	int err;

	if (!out)
		return -EINVAL;
	err = ioli_handle_get_typed(h, IOL_TYPE_THREAD, &r);
	if (err)
		return err;
	if (!(atomic_load_explicit(&r.s->word, memory_order_acquire) & IOLI_SIG_SIGNALED))
		return -EBUSY;
	*out = (void *)(uintptr_t)atomic_load(&r.s->u.thread.result);
	return 0;
}

/* A thread object is signaled once, when the thread ends, like a process. */
const struct ioli_obj_ops ioli_thread_ops = {
    .try_acquire = ioli_ended_try,
    .claim = ioli_ended_claim,
};
