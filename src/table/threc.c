/* SPDX-License-Identifier: MIT */
/*
 * Thread records: who owns a mutex, and how everyone learns it died.
 *
 * A thread that owns or waits on an object of a table gets a record in
 * it and locks the record's robust process-shared mutex for as long as the
 * record is its own.  Its owner id (record index + 1, with 15 bits of the
 * record's generation) is what a mutex word holds.
 *
 * Death, by any route, is reported by the kernel: when a thread exits, is
 * killed, or its process exec()s, the kernel walks the thread's robust
 * list, sets FUTEX_OWNER_DIED in the liveness word and wakes one waiter on
 * it.  So a thread waiting for a mutex sleeps on the mutex word *and* on
 * its owner's liveness word (one futex_waitv), and is woken by the kernel
 * itself when the owner dies.  No polling, no heartbeats, no daemon.
 *
 * A thread that exits normally abandons the mutexes it still owns from a
 * thread-specific-data destructor, then unlocks and frees its record.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "futex/futex.h"
#include "src/fault.h"
#include "src/table/table.h"
#include "src/wait/waiter.h"

#define tls_rec ioli_me

/* initial-exec: a plain %fs-relative access, also in the shared library,
 * where the default model would call __tls_get_addr on every lookup. */
_Thread_local struct ioli_tls ioli_tls __attribute__((tls_model("initial-exec")));
#define tls ioli_tls
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg);

static void tls_key_init(void)
{
	pthread_key_create(&tls_key, thread_exit);
}

pid_t ioli_gettid(void)
{
	if (!tls.tid)
		tls.tid = (pid_t)syscall(SYS_gettid);
	return tls.tid;
}

/* getpid() is a system call (glibc caches nothing since 2.25), and the
 * table lock notes its holder's pid on every acquisition.  Reset in a
 * fork()ed child with the tid (ioli_threc_after_fork). */
static _Atomic pid_t self_pid;

pid_t ioli_getpid(void)
{
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);

	if (!p) {
		p = getpid();
		atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	}
	return p;
}

static _Atomic uint32_t *live_word(struct ioli_threc *r)
{
	return &r->live;
}

static struct tls_rec *tls_find(iol_table *t)
{
	if (tls.last < tls.n && tls.recs[tls.last].table_id == t->id)
		return &tls.recs[tls.last];
	for (unsigned i = 0; i < tls.n; i++) {
		if (tls.recs[i].table_id == t->id) {
			tls.last = i;
			return &tls.recs[i];
		}
	}
	return NULL;
}

struct ioli_me *ioli_me_find_slow(iol_table *t)
{
	return tls_find(t);
}

uint32_t ioli_self_owner_peek(iol_table *t)
{
	struct tls_rec *r = tls_find(t);

	return r ? r->owner : 0;
}

static bool threc_dead(struct ioli_threc *r)
{
	uint32_t lw = atomic_load_explicit(live_word(r), memory_order_acquire);

	return ioli_live_word_dead(lw, atomic_load_explicit(&r->stid, memory_order_relaxed));
}

/* Under T: put a record on the free list, its generation bumped so owner
 * ids that named it stop matching. */
static void threc_free(iol_table *t, uint32_t idx)
{
	struct ioli_threc *r = &t->threcs[idx];

	ioli_tset(t, &r->state, IOLI_THREC_FREE);
	ioli_tset(t, &r->gen, atomic_load_explicit(&r->gen, memory_order_relaxed) + 1);
	ioli_tset(t, &r->tid, 0);
	ioli_tset(t, &r->next, atomic_load_explicit(&t->hdr->threc_free, memory_order_relaxed));
	ioli_tset(t, &t->hdr->threc_free, idx + 1);
}

uint32_t ioli_threc_reap_dead(iol_table *t)
{
	uint32_t hwm = atomic_load_explicit(&t->hdr->threc_hwm, memory_order_relaxed);
	uint32_t n = 0;

	if (hwm > t->max_threcs)
		hwm = t->max_threcs;
	for (uint32_t i = 0; i < hwm; i++) {
		struct ioli_threc *r = &t->threcs[i];

		if (atomic_load_explicit(&r->state, memory_order_relaxed) != IOLI_THREC_LIVE ||
		    !threc_dead(r))
			continue;
		ioli_waiter_return_dead(t, r);
		threc_free(t, i);
		n++;
	}
	return n;
}

static bool threc_is_free(iol_table *t, uint32_t idx)
{
	return idx < t->max_threcs &&
	       atomic_load_explicit(&t->threcs[idx].state, memory_order_relaxed) == IOLI_THREC_FREE;
}

/*
 * Under T: take a free record, or -EAGAIN.  The free list and the
 * high-water mark are shared memory: a record is taken only if it is FREE,
 * whichever says so, or a scribbled link or mark would hand a live record
 * (and the liveness mutex its thread holds) to a second thread.
 */
static int threc_take(iol_table *t)
{
	struct ioli_hdr *h = t->hdr;
	uint32_t head = atomic_load_explicit(&h->threc_free, memory_order_relaxed);
	uint32_t hwm, i;

	if (head && threc_is_free(t, head - 1)) {
		ioli_tset(t, &h->threc_free,
			  atomic_load_explicit(&t->threcs[head - 1].next, memory_order_relaxed));
		return (int)(head - 1);
	}
	if (head)
		ioli_tset(t, &h->threc_free, 0); /* scribbled list: forget it */
	hwm = atomic_load_explicit(&h->threc_hwm, memory_order_relaxed);
	/* Above the mark every record is free, unless the mark was scribbled
	 * lower: skip the live ones (fsck puts the mark right). */
	for (i = hwm; i < t->max_threcs && !threc_is_free(t, i); i++)
		;
	if (i >= t->max_threcs) {
		if (hwm < t->max_threcs)
			ioli_tset(t, &h->threc_hwm, t->max_threcs);
		return -EAGAIN;
	}
	ioli_tset(t, &h->threc_hwm, i + 1);
	return (int)i;
}

static int tls_grow(void)
{
	if (tls.n < tls.cap)
		return 0;
	unsigned cap = tls.cap ? tls.cap * 2 : 4;
	struct tls_rec *n = realloc(tls.recs, cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	tls.recs = n;
	tls.cap = cap;
	return 0;
}

/* After a failed allocation: a thread that holds no record keeps no array
 * (the destructor that would free it is registered with its first record). */
static void tls_drop_if_empty(void)
{
	if (tls.n)
		return;
	free(tls.recs);
	tls.recs = NULL;
	tls.cap = 0;
	tls.last = 0;
}

int ioli_self_owner(iol_table *t, uint32_t *owner)
{
	return ioli_self_owner_until(t, NULL, owner);
}

int ioli_self_owner_until(iol_table *t, const struct ioli_deadline *dl, uint32_t *owner)
{
	struct ioli_me *me;
	int err = ioli_me_get_until(t, dl, &me);

	if (!err)
		*owner = me->owner;
	return err;
}

static int me_alloc(iol_table *t, const struct ioli_deadline *dl, struct ioli_me **out);

int ioli_me_try_slow(iol_table *t, struct ioli_me **out)
{
	struct tls_rec *tr = tls_find(t);
	struct ioli_deadline dl;

	if (tr) {
		*out = tr;
		return 0;
	}
	/* A moment for T, not the patience: a stopped holder must not hold a
	 * wait's first attempt, but a healthy one, held for microseconds, may
	 * be preempted inside T for a few scheduler ticks. */
	ioli_deadline_set(&dl, 10000000);
	return ioli_me_get_until(t, &dl, out);
}

int ioli_me_get_until(iol_table *t, const struct ioli_deadline *dl, struct ioli_me **out)
{
	struct tls_rec *tr = tls_find(t);

	/* The allocation apart, so that this, on every mutex acquisition,
	 * saves no registers (issue 11). */
	if (tr) {
		*out = tr;
		return 0;
	}
	return me_alloc(t, dl, out);
}

static __attribute__((noinline)) int me_alloc(iol_table *t, const struct ioli_deadline *dl,
					      struct ioli_me **out)
{
	struct tls_rec *tr;
	struct ioli_threc *r;
	pid_t tid;
	int idx, err, stid;
	uint32_t gen;

	tid = ioli_gettid();
	stid = ioli_sentinel_tid(t);
	if (stid < 0)
		return stid;
	pthread_once(&tls_once, tls_key_init);
	err = tls_grow();
	if (err)
		return err;
	/* A wait allocating its record gives up on T at its own deadline. */
	err = ioli_tlock_until(t, dl && !ioli_deadline_infinite(dl) ? &dl->ts : NULL);
	if (err) {
		tls_drop_if_empty();
		return err;
	}
	idx = threc_take(t);
	if (idx == -EAGAIN && ioli_threc_reap_dead(t) > 0)
		idx = threc_take(t);
	if (idx < 0) {
		ioli_tunlock(t);
		tls_drop_if_empty();
		return idx;
	}
	r = &t->threcs[idx];
	/* The record is not LIVE yet, so nobody else looks at its word.  It
	 * goes on our sentinel's robust list before it holds our tid. */
	err = ioli_sentinel_track(t, live_word(r));
	if (!err) {
		atomic_store_explicit(&r->stid, (uint32_t)stid, memory_order_relaxed);
		atomic_store_explicit(live_word(r), (uint32_t)stid, memory_order_release);
	}
	IOLI_FAULT("threc.alloc");
	if (err) {
		threc_free(t, (uint32_t)idx);
		ioli_tunlock(t);
		tls_drop_if_empty();
		return err;
	}
	atomic_store_explicit(&r->wait_n, 0, memory_order_relaxed);
	atomic_store_explicit(&r->wait_reg, 0, memory_order_relaxed);
	ioli_tset(t, &r->tid, (uint32_t)tid);
	ioli_tset(t, &r->proc, t->self);
	ioli_tset(t, &r->next, 0);
	ioli_tset(t, &r->state, IOLI_THREC_LIVE);
	gen = atomic_load_explicit(&r->gen, memory_order_relaxed);
	ioli_tunlock(t);

	ioli_table_ref(t);
	tr = &tls.recs[tls.n];
	*tr = (struct tls_rec){
	    .t = t,
	    .table_id = t->id,
	    .rec = (uint32_t)idx,
	    .owner = ((uint32_t)idx + 1) | ((gen & IOLI_OWNER_GEN_MASK) << IOLI_OWNER_IDX_BITS),
	};
	tls.last = tls.n++;
	pthread_setspecific(tls_key, &tls);
	*out = tr;
	return 0;
}

static struct ioli_threc *owner_rec(iol_table *t, uint32_t owner)
{
	uint32_t idx = (owner & IOLI_OWNER_IDX_MASK);
	struct ioli_threc *r;

	if (idx == 0 || idx - 1 >= t->max_threcs)
		return NULL;
	r = &t->threcs[idx - 1];
	if (atomic_load_explicit(&r->state, memory_order_acquire) != IOLI_THREC_LIVE ||
	    (atomic_load_explicit(&r->gen, memory_order_relaxed) & IOLI_OWNER_GEN_MASK) !=
		(owner >> IOLI_OWNER_IDX_BITS))
		return NULL;
	return r;
}

bool ioli_owner_alive(iol_table *t, uint32_t owner, pid_t *tid)
{
	struct ioli_threc *r = owner_rec(t, owner);

	if (!r || threc_dead(r))
		return false;
	if (tid)
		*tid = (pid_t)atomic_load_explicit(&r->tid, memory_order_relaxed);
	return true;
}

int ioli_owner_live_word(iol_table *t, uint32_t owner, _Atomic uint32_t **word, uint32_t *val)
{
	struct ioli_threc *r = owner_rec(t, owner);
	uint32_t v;

	if (!r)
		return -ESRCH;
	if (atomic_load_explicit(&r->proc, memory_order_relaxed) == t->self)
		return 0;
	*word = live_word(r);
	if (!ioli_live_word_watch(*word, atomic_load_explicit(&r->stid, memory_order_relaxed), &v))
		return -ESRCH;
	*val = v;
	return 1;
}

void ioli_owned_push(iol_table *t, uint32_t slot)
{
	struct tls_rec *tr = tls_find(t);

	if (tr)
		ioli_me_push(tr, slot);
}

void ioli_me_push(struct ioli_me *tr, uint32_t slot)
{
	iol_table *t = tr->t;

	if (tr->nowned == tr->cap) {
		uint32_t cap = tr->cap ? tr->cap * 2 : 8;
		struct ioli_owned *n = realloc(tr->owned, cap * sizeof(*n));

		if (!n)
			return; /* only costs prompt abandonment at thread exit */
		tr->owned = n;
		tr->cap = cap;
	}
	tr->owned[tr->nowned].slot = slot;
	tr->owned[tr->nowned].gen =
	    atomic_load_explicit(&ioli_slot(t, slot)->gen, memory_order_relaxed);
	tr->nowned++;
}

void ioli_me_pop(struct ioli_me *tr, uint32_t slot)
{
	for (uint32_t i = tr->nowned; i-- > 0;) {
		if (tr->owned[i].slot == slot) {
			tr->owned[i] = tr->owned[--tr->nowned];
			return;
		}
	}
}

/* Abandon what the record's thread owns, unlock its liveness mutex and
 * free the record.  Called by the thread itself. */
static void tls_rec_release(struct tls_rec *tr)
{
	iol_table *t = tr->t;
	struct ioli_threc *r = &t->threcs[tr->rec];

	if (!atomic_load_explicit(&t->forked, memory_order_relaxed)) {
		for (uint32_t i = 0; i < tr->nowned; i++) {
			if (ioli_slot_live(t, tr->owned[i].slot, tr->owned[i].gen))
				ioli_mutex_abandon_owned(t, tr->owned[i].slot, tr->owner);
		}
		atomic_store(&r->wait_n, 0);
		/* Clear before freeing, and wake whoever sleeps on it: this
		 * thread is gone as far as its mutexes' waiters care. */
		ioli_sentinel_release(t, live_word(r));
		if (ioli_tlock(t) == 0) {
			if (atomic_load_explicit(&r->state, memory_order_relaxed) ==
				IOLI_THREC_LIVE &&
			    atomic_load_explicit(&r->tid, memory_order_relaxed) ==
				(uint32_t)ioli_gettid())
				threc_free(t, tr->rec);
			ioli_tunlock(t);
		}
	}
	free(tr->owned);
	ioli_table_unref(t);
}

void ioli_threc_release_self(iol_table *t)
{
	for (unsigned i = 0; i < tls.n; i++) {
		if (tls.recs[i].table_id == t->id) {
			struct tls_rec tr = tls.recs[i];

			tls.recs[i] = tls.recs[--tls.n];
			tls.last = 0;
			tls_rec_release(&tr);
			return;
		}
	}
}

static void thread_exit(void *arg)
{
	struct ioli_tls *st = arg;

	while (st->n > 0) {
		struct tls_rec tr = st->recs[--st->n];

		tls_rec_release(&tr);
	}
	free(st->recs);
	st->recs = NULL;
	st->cap = 0;
	st->last = 0;
}

/* In a fork()ed child: the records belong to the parent's thread. */
void ioli_threc_after_fork(void)
{
	for (unsigned i = 0; i < tls.n; i++)
		free(tls.recs[i].owned);
	tls.n = 0;
	tls.last = 0;
	tls.tid = 0;
	atomic_store_explicit(&self_pid, 0, memory_order_relaxed);
}

struct ioli_threc *ioli_self_threc(iol_table *t)
{
	struct tls_rec *tr = tls_find(t);

	return tr ? &t->threcs[tr->rec] : NULL;
}
