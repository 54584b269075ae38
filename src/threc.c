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
#include "src/table.h"

#define tls_rec ioli_me

struct tls_state {
	pid_t tid;
	unsigned n, cap, last;
	struct tls_rec *recs;
};

/* initial-exec: a plain %fs-relative access, also in the shared library,
 * where the default model would call __tls_get_addr on every lookup. */
static _Thread_local struct tls_state tls __attribute__((tls_model("initial-exec")));
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

static _Atomic uint32_t *live_word(struct ioli_threc *r)
{
	/* The first int of a glibc mutex is the kernel's robust futex word. */
	return (_Atomic uint32_t *)&r->live.__data.__lock;
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

struct ioli_me *ioli_me_find(iol_table *t)
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
	uint32_t tid = atomic_load_explicit(&r->tid, memory_order_relaxed);

	return (lw & FUTEX_OWNER_DIED) || (lw & FUTEX_TID_MASK) != tid || tid == 0;
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

/*
 * Give back the waiter counts a dead thread was holding.  Each journal bit
 * is cleared before its count is returned, so two survivors doing this at
 * once, or one dying half-way, can leave a count too high (a spurious
 * wake later) but never too low (a lost one).
 */
static void threc_return_waits(iol_table *t, struct ioli_threc *r)
{
	uint32_t n = atomic_load_explicit(&r->wait_n, memory_order_acquire);
	bool multi = atomic_load_explicit(&r->wait_multi, memory_order_relaxed);

	if (n > IOL_MAX_WAIT)
		n = IOL_MAX_WAIT;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t bit = 1ull << i;
		uint32_t slot = atomic_load_explicit(&r->wait_slot[i], memory_order_relaxed);
		uint32_t gen = atomic_load_explicit(&r->wait_gen[i], memory_order_relaxed);
		struct ioli_slot *s;

		if (!(atomic_fetch_and(&r->wait_reg, ~bit) & bit))
			continue;
		if (!ioli_slot_live(t, slot, gen))
			continue;
		s = ioli_slot(t, slot);
		if (atomic_load(&s->waiters) > 0)
			atomic_fetch_sub(&s->waiters, 1);
		if (multi && atomic_load(&s->multi) > 0)
			atomic_fetch_sub(&s->multi, 1);
	}
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
		threc_return_waits(t, r);
		threc_free(t, i);
		n++;
	}
	return n;
}

/* Under T: take a free record, or -EAGAIN. */
static int threc_take(iol_table *t)
{
	struct ioli_hdr *h = t->hdr;
	uint32_t head = atomic_load_explicit(&h->threc_free, memory_order_relaxed);

	if (head && head - 1 < t->max_threcs &&
	    atomic_load_explicit(&t->threcs[head - 1].state, memory_order_relaxed) ==
		IOLI_THREC_FREE) {
		ioli_tset(t, &h->threc_free,
			  atomic_load_explicit(&t->threcs[head - 1].next, memory_order_relaxed));
		return (int)(head - 1);
	}
	if (head)
		ioli_tset(t, &h->threc_free, 0); /* scribbled list: forget it */
	uint32_t hwm = atomic_load_explicit(&h->threc_hwm, memory_order_relaxed);
	if (hwm >= t->max_threcs)
		return -EAGAIN;
	ioli_tset(t, &h->threc_hwm, hwm + 1);
	return (int)hwm;
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

int ioli_self_owner(iol_table *t, uint32_t *owner)
{
	struct ioli_me *me;
	int err = ioli_me_get(t, &me);

	if (!err)
		*owner = me->owner;
	return err;
}

static int me_alloc(iol_table *t, struct ioli_me **out);

int ioli_me_get(iol_table *t, struct ioli_me **out)
{
	struct tls_rec *tr = tls_find(t);

	/* The allocation apart, so that this, on every mutex acquisition,
	 * saves no registers (issue 11). */
	if (tr) {
		*out = tr;
		return 0;
	}
	return me_alloc(t, out);
}

static __attribute__((noinline)) int me_alloc(iol_table *t, struct ioli_me **out)
{
	struct tls_rec *tr;
	struct ioli_threc *r;
	pid_t tid;
	int idx, err;
	uint32_t gen;

	tid = ioli_gettid();
	pthread_once(&tls_once, tls_key_init);
	err = tls_grow();
	if (err)
		return err;
	err = ioli_tlock(t);
	if (err)
		return err;
	idx = threc_take(t);
	if (idx == -EAGAIN && ioli_threc_reap_dead(t) > 0)
		idx = threc_take(t);
	if (idx < 0) {
		ioli_tunlock(t);
		return idx;
	}
	r = &t->threcs[idx];
	/* The record is not LIVE yet, so nobody else looks at its mutex.
	 * Locking a fresh robust mutex is one CAS: no system call under T. */
	err = ioli_robust_mutex_init(&r->live);
	if (!err)
		err = -pthread_mutex_lock(&r->live);
	IOLI_FAULT("threc.alloc");
	if (err) {
		threc_free(t, (uint32_t)idx);
		ioli_tunlock(t);
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

_Atomic uint32_t *ioli_owner_live_word(iol_table *t, uint32_t owner, uint32_t *val)
{
	struct ioli_threc *r = owner_rec(t, owner);
	_Atomic uint32_t *lw;
	uint32_t v;

	if (!r)
		return NULL;
	lw = live_word(r);
	v = atomic_load_explicit(lw, memory_order_acquire);
	/* Set FUTEX_WAITERS as a glibc waiter would: the kernel wakes a
	 * waiter at the owner's death only when the bit is set. */
	for (;;) {
		uint32_t tid = atomic_load_explicit(&r->tid, memory_order_relaxed);

		if ((v & FUTEX_OWNER_DIED) || (v & FUTEX_TID_MASK) != tid || tid == 0)
			return NULL;
		if (v & FUTEX_WAITERS)
			break;
		if (atomic_compare_exchange_weak(lw, &v, v | FUTEX_WAITERS)) {
			v |= FUTEX_WAITERS;
			break;
		}
	}
	*val = v;
	return lw;
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

void ioli_owned_pop(iol_table *t, uint32_t slot)
{
	struct tls_rec *tr = tls_find(t);

	if (tr)
		ioli_me_pop(tr, slot);
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
		/* Unlock before freeing: a record is never reinitialised while
		 * still on a live thread's robust list. */
		pthread_mutex_unlock(&r->live);
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
	struct tls_state *st = arg;

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
}

struct ioli_threc *ioli_self_threc(iol_table *t)
{
	struct tls_rec *tr = tls_find(t);

	return tr ? &t->threcs[tr->rec] : NULL;
}
