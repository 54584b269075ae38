/* SPDX-License-Identifier: MIT */
/*
 * The wait engine: iol_wait, iol_wait_many and iol_signal_and_wait.
 *
 * A wait first tries to acquire without blocking (the fast path: one CAS,
 * no system call, no shared write but the acquisition itself).  Only when
 * that fails does it pin its handles, register as a waiter on each object
 * (the `waiters` count a waker reads after changing the word), and loop:
 *
 *	try every object; if one is acquired, done
 *	sleep on the words exactly as they were seen unavailable
 *	  (plus, for a mutex, its owner's liveness word)
 *
 * The count and the word are both accessed seq_cst on each side (the
 * waiter: count += 1, then load word; the waker: change word, then load
 * count), so either the waker sees the waiter and wakes it, or the waiter
 * sees the new word; and because a waiter sleeps on the value it saw, a
 * change between its look and its sleep makes the sleep return at once.
 * No wakeup is lost, and there is no polling anywhere: every sleep ends
 * only on a futex wake, a value change, a signal or the deadline.
 *
 * One object: one futex word (FUTEX_WAIT_BITSET with an absolute
 * deadline), or two through futex_waitv for a mutex held by another
 * thread.  Several objects: one futex_waitv over all their words.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>

#include "futex/futex.h"
#include "src/table.h"

void ioli_wake(iol_table *t, struct ioli_slot *s, int n)
{
	if (atomic_load(&s->waiters) == 0)
		return;
	/* A wait-all (or asynchronous) waiter may be woken for an object it
	 * does not end up taking, and sleep again; waking everyone then is
	 * what keeps wakeups from being lost, at the price of a thundering
	 * herd only in that case.  Wait-any waiters pass on instead
	 * (pass_on). */
	if (atomic_load(&s->multi) > 0)
		n = INT_MAX;
	ioli_futex_wake(&s->word, n, t->futex_private);
}

int ioli_obj_try(struct ioli_waitobj *o)
{
	switch (o->r.type) {
	case IOL_TYPE_MUTEX:
		return ioli_mutex_try(o);
	case IOL_TYPE_EVENT:
		return ioli_event_try(o);
	case IOL_TYPE_SEMAPHORE:
		return ioli_sem_try(o);
	case IOL_TYPE_PROCESS:
	case IOL_TYPE_THREAD:
		return ioli_ended_try(o);
	default:
		return -EINVAL;
	}
}

static bool waitable(uint32_t type)
{
	return type >= IOL_TYPE_MUTEX && type <= IOL_TYPE_THREAD;
}

static bool valid_timeout(int64_t timeout_ns)
{
	return timeout_ns >= 0 || timeout_ns == IOL_INFINITE;
}

/* ---- registration as a waiter -------------------------------------- */

static void reg(struct ioli_waitobj *o, unsigned k, bool multi)
{
	struct ioli_slot *s = o->r.s;
	struct ioli_threc *r = ioli_self_threc(o->r.t);
	uint64_t bit = 1ull << k;

	/* The pulse epoch this wait starts from, read before the count is
	 * taken: a pulse that sees no waiter leaves the epoch alone. */
	if (o->r.type == IOL_TYPE_EVENT)
		o->epoch = atomic_load(&s->word) & IOLI_EV_EPOCH_MASK;
	if (r) {
		atomic_store_explicit(&r->wait_slot[k], o->r.slot, memory_order_relaxed);
		atomic_store_explicit(&r->wait_gen[k], o->r.sgen, memory_order_relaxed);
		atomic_store_explicit(&r->wait_multi, multi, memory_order_relaxed);
		if (atomic_load_explicit(&r->wait_n, memory_order_relaxed) < k + 1)
			atomic_store_explicit(&r->wait_n, k + 1, memory_order_release);
	}
	if (multi)
		atomic_fetch_add(&s->multi, 1);
	atomic_fetch_add(&s->waiters, 1);
	if (r)
		atomic_fetch_or(&r->wait_reg, bit);
	o->registered = true;
}

static void unreg(struct ioli_waitobj *o, unsigned k, bool multi)
{
	struct ioli_slot *s = o->r.s;
	struct ioli_threc *r = ioli_self_threc(o->r.t);

	if (!o->registered)
		return;
	if (r)
		atomic_fetch_and(&r->wait_reg, ~(1ull << k));
	atomic_fetch_sub(&s->waiters, 1);
	if (multi)
		atomic_fetch_sub(&s->multi, 1);
	if (o->r.type == IOL_TYPE_EVENT)
		ioli_event_unregistered(s);
	/* Leaving after a sleep without the attempt that follows it (an
	 * error): a wake this waiter may have used must not hold others. */
	if (o->woke && atomic_load_explicit(&s->u.mutex.woken, memory_order_relaxed))
		atomic_store(&s->u.mutex.woken, 0);
	o->registered = false;
}

static void journal_clear(struct ioli_waitobj *o, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct ioli_threc *r = ioli_self_threc(o[i].r.t);

		if (r)
			atomic_store_explicit(&r->wait_n, 0, memory_order_release);
	}
}

/* ---- the loop ------------------------------------------------------ */

struct wait {
	struct ioli_waitobj *o;
	unsigned n;
	bool all;
	bool woken; /* a futex wake ended one of its sleeps */
	struct ioli_deadline dl;
};

/* One pass: acquire something.  Returns the result, or IOLI_TRY_BUSY. */
static int attempt(struct wait *w)
{
	if (w->all)
		return ioli_waitall_attempt(w->o, w->n);
	for (unsigned i = 0; i < w->n; i++) {
		int r;

		if (w->o[i].dup)
			continue;
		r = ioli_obj_try(&w->o[i]);
		if (r == IOLI_TRY_BUSY)
			continue;
		return r < 0 ? r : (int)i | r;
	}
	return IOLI_TRY_BUSY;
}

static bool lw_seen(_Atomic uint32_t **lws, unsigned n, _Atomic uint32_t *lw)
{
	for (unsigned i = 0; i < n; i++)
		if (lws[i] == lw)
			return true;
	return false;
}

/* Back from a sleep, for whatever reason: this waiter's next attempt on
 * each mutex may be the retry a release's wake is waiting for (see
 * ioli_mutex_try). */
static void mark_woke(struct wait *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->o[i].r.type == IOL_TYPE_MUTEX)
			w->o[i].woke = true;
}

static int sleep_once(struct wait *w)
{
	struct futex_waitv wv[FUTEX_WAITV_MAX];
	_Atomic uint32_t *lws[FUTEX_WAITV_MAX];
	unsigned nw = 0, nlw = 0, first_lw;
	int rc;

	for (unsigned i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];

		if (o->dup)
			continue;
		ioli_waitv_entry(&wv[nw++], &o->r.s->word, o->seen, o->r.t->futex_private);
	}
	first_lw = nw;
	for (unsigned i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];
		uint32_t owner, val;
		_Atomic uint32_t *lw;

		if (o->dup || o->r.type != IOL_TYPE_MUTEX)
			continue;
		owner = o->seen & IOLI_MX_OWNER_MASK;
		if (owner == 0 || owner == ioli_self_owner_peek(o->r.t))
			continue;
		lw = ioli_owner_live_word(o->r.t, owner, &val);
		if (!lw)
			return 0; /* the owner just died: try again at once */
		if (lw_seen(lws, nlw, lw))
			continue;
		lws[nlw++] = lw;
		/* Liveness words are always shared futexes: the kernel's wake
		 * at a thread's death is a shared one. */
		ioli_waitv_entry(&wv[nw++], lw, val, false);
	}
	if (nw == 1) {
		rc = ioli_futex_wait(&w->o[0].r.s->word, w->o[0].seen, &w->dl,
				     w->o[0].r.t->futex_private);
		mark_woke(w);
		w->woken |= rc == 0;
		return rc;
	}
	/* A woken futex_waitv returns the index of a woken word even when the
	 * deadline passed meanwhile, so rc >= 0 says a wake was used here. */
	rc = ioli_futex_waitv(wv, nw, &w->dl);
	mark_woke(w);
	w->woken |= rc >= 0;
	if (rc >= (int)first_lw && rc < (int)nw) {
		/* The kernel wakes one waiter when an owner dies; pass it on to
		 * everyone else waiting on anything that thread owned. */
		ioli_futex_wake(lws[rc - first_lw], INT_MAX, false);
	}
	return rc >= 0 ? 0 : rc;
}

static int wait_loop(struct wait *w)
{
	for (;;) {
		int r = attempt(w);

		if (r != IOLI_TRY_BUSY)
			return r;
		if (ioli_deadline_passed(&w->dl))
			return -ETIMEDOUT;
		r = sleep_once(w);
		switch (r) {
		case 0:
		case -EAGAIN:
		case -EINTR: /* signals never surface: resume with the time left */
			break;
		case -ETIMEDOUT:
			r = attempt(w);
			return r == IOLI_TRY_BUSY ? -ETIMEDOUT : r;
		default:
			return r;
		}
	}
}

/* Pin every handle, make sure this thread has a record in every table
 * involved, and register on each distinct object. */
static int prepare(struct wait *w, bool multi)
{
	unsigned i;
	int err = 0;

	for (i = 0; i < w->n; i++) {
		uint32_t me;

		err = ioli_handle_pin(w->o[i].r.h, &w->o[i].r);
		if (err)
			break;
		err = ioli_self_owner(w->o[i].r.t, &me);
		if (err) {
			ioli_handle_unpin(w->o[i].r.h);
			break;
		}
	}
	if (err) {
		while (i-- > 0)
			ioli_handle_unpin(w->o[i].r.h);
		return err;
	}
	for (i = 0; i < w->n; i++)
		if (!w->o[i].dup)
			reg(&w->o[i], i, multi);
	return 0;
}

/* Would a waiter on o find it available, its word being v?  (For the
 * objects whose change wakes only some waiters; a LOCKED word is about to
 * change: yes.) */
static bool available(const struct ioli_waitobj *o, uint32_t v)
{
	if (v & IOLI_W_LOCKED)
		return true;
	switch (o->r.type) {
	case IOL_TYPE_MUTEX:
		return (v & IOLI_MX_OWNER_MASK) == 0;
	case IOL_TYPE_EVENT:
		return v & IOLI_EV_SIGNALED;
	case IOL_TYPE_SEMAPHORE:
		return (v & IOLI_SEM_COUNT_MASK) != 0;
	default: /* processes and threads wake everyone when they end */
		return false;
	}
}

/*
 * A wait-any over several objects is not counted in `multi`, so a state
 * change wakes only as many waiters as it can satisfy (issue 11: a release
 * of one unit used to wake every iol_wait_many waiter).  The wake may then
 * have gone to this waiter, which took another object instead, or none (a
 * deadline, an error).  So a waiter that was woken passes on what it
 * leaves: for each object it did not take that is available and still has
 * waiters (it has unregistered: others), one wake.  After unregistering,
 * seq_cst like a waker (word, then count): a waiter that registers
 * meanwhile sees the word itself.  A waiter that was never woken swallowed
 * no wake and passes nothing on.  A mutex's throttle mark (see
 * src/mutex.c) was cleared by unreg() if this waiter slept, so a release
 * it held back is not stranded either: the release either sees the mark
 * cleared and wakes, or came before the word load here, which sees it.
 */
static void pass_on(struct wait *w, int r)
{
	int took = r >= 0 ? r & ~IOL_ABANDONED : -1;

	for (unsigned i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];
		struct ioli_slot *s = o->r.s;

		if (o->dup || (int)i == took || !available(o, atomic_load(&s->word)))
			continue;
		if (atomic_load(&s->waiters) > 0)
			ioli_futex_wake(&s->word, 1, o->r.t->futex_private);
	}
}

/* Unregister, pass on what a woken wait-any leaves (pass, see above), and
 * unpin; r is the wait's result. */
static void finish(struct wait *w, bool multi, bool pass, int r)
{
	for (unsigned i = 0; i < w->n; i++)
		if (!w->o[i].dup)
			unreg(&w->o[i], i, multi);
	if (pass && w->woken)
		pass_on(w, r);
	journal_clear(w->o, w->n);
	for (unsigned i = 0; i < w->n; i++)
		ioli_handle_unpin(w->o[i].r.h);
}

static inline __attribute__((always_inline)) int resolve(int h, struct ioli_waitobj *o)
{
	int err = ioli_handle_fast(h, &o->r); /* inline: iol_wait's fast path */

	o->epoch = o->seen = 0;
	o->dup = o->registered = o->woke = false;
	if (err)
		return err;
	if (!waitable(o->r.type))
		return -EINVAL;
	return 0;
}

/* iol_wait once the object was found unavailable: out of line, so that
 * the fast path above it sets up nothing it does not use. */
static __attribute__((noinline)) int wait_one(struct ioli_waitobj *o, int64_t timeout_ns)
{
	struct wait w = {.o = o, .n = 1};
	int r;

	ioli_deadline_set(&w.dl, timeout_ns);
	r = prepare(&w, false);
	if (r)
		return r;
	r = wait_loop(&w);
	finish(&w, false, false, r);
	return r;
}

int iol_wait(int h, int64_t timeout_ns)
{
	struct ioli_waitobj o;
	int r;

	if (!valid_timeout(timeout_ns))
		return -EINVAL;
	r = resolve(h, &o);
	if (r)
		return r;
	/* The semaphore's attempt is inline (src/table.h): it is all of an
	 * uncontended wait; the mutex's is one direct call. */
	if (o.r.type == IOL_TYPE_SEMAPHORE)
		r = ioli_sem_try(&o);
	else if (o.r.type == IOL_TYPE_MUTEX)
		r = ioli_mutex_try(&o);
	else
		r = ioli_obj_try(&o);
	if (r != IOLI_TRY_BUSY)
		return r;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	return wait_one(&o, timeout_ns);
}

int iol_wait_many(const int *handles, unsigned n, unsigned flags, int64_t timeout_ns)
{
	struct ioli_waitobj o[IOL_MAX_WAIT];
	struct wait w = {.o = o, .n = n, .all = flags & IOL_WAIT_ALL};
	unsigned distinct = 0;
	int r;

	if (!handles || n == 0 || n > IOL_MAX_WAIT || (flags & ~IOL_WAIT_ALL) ||
	    !valid_timeout(timeout_ns))
		return -EINVAL;
	/* Duplicates by an open-addressed set of (table, slot): linear in n. */
	uint8_t seen[2 * IOL_MAX_WAIT] = {0}; /* index + 1 into o[] */
	for (unsigned i = 0; i < n; i++) {
		r = resolve(handles[i], &o[i]);
		if (r)
			return r;
		if (w.all && o[i].r.t != o[0].r.t)
			return -EXDEV;
		uint32_t k =
		    (o[i].r.slot * 2654435761u ^ (uint32_t)o[i].r.t->id) & (2 * IOL_MAX_WAIT - 1);
		for (;; k = (k + 1) & (2 * IOL_MAX_WAIT - 1)) {
			struct ioli_waitobj *p = seen[k] ? &o[seen[k] - 1] : NULL;

			if (!p) {
				seen[k] = (uint8_t)(i + 1);
				break;
			}
			if (p->r.t == o[i].r.t && p->r.slot == o[i].r.slot) {
				o[i].dup = true;
				break;
			}
		}
		if (o[i].dup && w.all)
			return -EINVAL;
		distinct += !o[i].dup;
	}
	r = attempt(&w);
	if (r != IOLI_TRY_BUSY)
		return r;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	ioli_deadline_set(&w.dl, timeout_ns);
	/* Only a wait-all counts in `multi` (every change wakes all): woken,
	 * it may still not take all, and sleeps again with the wake used.  A
	 * wait-any passes on instead (pass_on). */
	bool multi = distinct > 1 && w.all, pass = distinct > 1 && !w.all;
	r = prepare(&w, multi);
	if (r)
		return r;
	r = wait_loop(&w);
	finish(&w, multi, pass, r);
	return r;
}

static int signal_one(int h)
{
	struct ioli_href r;
	int err = ioli_handle_get(h, &r);

	if (err)
		return err;
	switch (r.type) {
	case IOL_TYPE_MUTEX:
		err = iol_mutex_release(h);
		break;
	case IOL_TYPE_EVENT:
		err = iol_event_set(h);
		break;
	case IOL_TYPE_SEMAPHORE:
		err = iol_semaphore_release(h, 1);
		break;
	default:
		return -EINVAL;
	}
	return err < 0 ? err : 0;
}

int iol_signal_and_wait(int signal_h, int wait_h, int64_t timeout_ns)
{
	struct ioli_waitobj o;
	struct wait w = {.o = &o, .n = 1};
	struct ioli_href sr;
	int r;

	if (!valid_timeout(timeout_ns))
		return -EINVAL;
	r = ioli_handle_get(signal_h, &sr);
	if (r)
		return r;
	r = resolve(wait_h, &o);
	if (r)
		return r;
	ioli_deadline_set(&w.dl, timeout_ns);
	/* Count as a waiter of wait_h before signal_h changes: whatever the
	 * signal sets off (even a pulse of wait_h) finds this thread waiting. */
	r = prepare(&w, false);
	if (r)
		return r;
	r = signal_one(signal_h);
	if (r == 0) {
		r = attempt(&w);
		if (r == IOLI_TRY_BUSY)
			r = timeout_ns == 0 ? -ETIMEDOUT : wait_loop(&w);
	}
	finish(&w, false, false, r);
	return r;
}
