/* SPDX-License-Identifier: MIT */
/*
 * The wait engine: iol_wait, iol_wait_many and iol_signal_and_wait.
 *
 * The Win32 wait semantics, above futex/ (which only sleeps and wakes) and
 * knowing no object type: each type's behaviour comes from its operations
 * table (src/objects/objops.h).
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
#include "src/objects/objops.h"
#include "src/wait/waiter.h"

static bool valid_timeout(int64_t timeout_ns)
{
	return timeout_ns >= 0 || timeout_ns == IOL_INFINITE;
}

/* ---- the loop ------------------------------------------------------ */

struct wait {
	struct ioli_waitobj *o;
	unsigned n;
	bool all;
	bool woken;	  /* a futex wake ended one of its sleeps */
	bool sleep_first; /* the first pass sleeps before it tries (wait_one) */
	bool backoff;	  /* one object, whose type backs off (back_off; prepare) */
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

/*
 * A sleep on one object's word that found it already changed (-EAGAIN):
 * for a mutex, its owner released meanwhile, and a running owner, as in a
 * loop, takes it back within nanoseconds.  A waiter that tries again at
 * once races that owner for the word's cache line and, when it wins, moves
 * the mutex, and the data it guards, to its own CPU and back.  So it stays
 * away as long as the futile sleep took (the system call's cost on this
 * machine; ioli_pause_ns caps it at 20 us) before it tries again, touching
 * no shared memory meanwhile.  Only then: a sleep that was woken tries at
 * once, so a hand-off through a real sleep is not delayed.  Measured in
 * docs/performance.md (third pass).
 */
static void back_off(const struct wait *w, int64_t t0)
{
	if (w->backoff)
		ioli_pause_ns(ioli_now_ns() - t0);
}

static int sleep_once(struct wait *w)
{
	struct futex_waitv wv[FUTEX_WAITV_MAX];
	_Atomic uint32_t *lws[FUTEX_WAITV_MAX];
	unsigned nw = 0, nlw = 0, first_lw;
	int64_t t0;
	int rc;

	for (unsigned i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];

		if (o->dup)
			continue;
		if (o->ops->before_sleep && o->ops->before_sleep(o) < 0)
			return 0; /* the word just changed: try again at once */
		ioli_waitv_entry(&wv[nw++], &o->r.s->word, o->seen, o->r.t->futex_private);
	}
	first_lw = nw;
	for (unsigned i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];
		uint32_t val;
		_Atomic uint32_t *lw;

		if (o->dup || !o->ops->extra_word)
			continue;
		rc = o->ops->extra_word(o, &lw, &val);
		if (rc < 0)
			return 0; /* the state just changed: try again at once */
		if (rc == 0 || lw_seen(lws, nlw, lw))
			continue;
		lws[nlw++] = lw;
		/* Extra words are shared futexes (a mutex owner's liveness
		 * word: the kernel's wake at a thread's death is a shared one). */
		ioli_waitv_entry(&wv[nw++], lw, val, false);
	}
	t0 = w->backoff ? ioli_now_ns() : 0; /* no clock read for waits that never use it */
	if (nw == 1) {
		rc = ioli_futex_wait(&w->o[0].r.s->word, w->o[0].seen, &w->dl,
				     w->o[0].r.t->futex_private);
		w->woken |= rc == 0;
		if (rc == -EAGAIN)
			back_off(w, t0);
		return rc;
	}
	/* A woken futex_waitv returns the index of a woken word even when the
	 * deadline passed meanwhile, so rc >= 0 says a wake was used here. */
	rc = ioli_futex_waitv(wv, nw, &w->dl);
	w->woken |= rc >= 0;
	if (rc == -EAGAIN)
		back_off(w, t0);
	if (rc >= (int)first_lw && rc < (int)nw) {
		/* The kernel wakes one waiter when an owner dies; pass it on to
		 * everyone else waiting on anything that thread owned (and so
		 * for every extra word). */
		ioli_futex_wake(lws[rc - first_lw], INT_MAX, false);
	}
	return rc >= 0 ? 0 : rc;
}

static int wait_loop(struct wait *w)
{
	for (;;) {
		int r = IOLI_TRY_BUSY;

		if (!w->sleep_first)
			r = attempt(w);
		w->sleep_first = false;
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

static void unpin(struct ioli_waitobj *o)
{
	if (o->held)
		ioli_handle_unpin_held(o->r.h);
	else
		ioli_handle_unpin(o->r.h);
}

/* Pin every handle, make sure this thread has a record in every table
 * involved, and register on each distinct object. */
static int prepare(struct wait *w, bool multi)
{
	unsigned i;
	int err = 0;

	for (i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];
		uint32_t me = ioli_self_owner_peek(o->r.t);

		/* A thread with a record in the table keeps it mapped until it
		 * gives the record back itself: no table reference is needed
		 * for the pin then.  (o->r.t is the handle's table: pinning
		 * fails if the handle was closed and reused since.) */
		o->held = me != 0;
		err =
		    o->held ? ioli_handle_pin_held(o->r.h, &o->r) : ioli_handle_pin(o->r.h, &o->r);
		if (err)
			break;
		/* Allocating this thread's record takes T: not past the
		 * wait's own deadline. */
		if (!me && (err = ioli_self_owner_until(o->r.t, &w->dl, &me)) != 0) {
			unpin(o);
			break;
		}
		o->me = me;
	}
	if (err) {
		while (i-- > 0)
			unpin(&w->o[i]);
		return err;
	}
	w->backoff = w->n == 1 && w->o[0].ops->backoff;
	for (i = 0; i < w->n; i++)
		if (!w->o[i].dup)
			ioli_waiter_reg(&w->o[i], i, multi, true);
	return 0;
}

/*
 * A wait not counted in `multi` (any wait but a wait-all over several
 * objects) is woken only as many at a time as a state change can satisfy
 * (issue 11: a release of one unit used to wake every iol_wait_many
 * waiter).  The wake may then have gone to this waiter, which took another
 * object instead, or none (a deadline, an error); and a mutex's sleepers
 * may rely on a woken waiter to carry its SLEEPERS mark on (see
 * src/objects/mutex.c).  So a waiter that was woken passes on what it
 * leaves: for each object it did not take whose type says so (pass_wake)
 * and that still has waiters (it has unregistered: others), one wake.
 * After unregistering, seq_cst like a waker (word, then count): a waiter
 * that registers meanwhile sees the word itself.  A waiter that was never
 * woken swallowed no wake and passes nothing on.
 */
static void pass_on(struct wait *w, int r)
{
	int took = r >= 0 ? r & ~IOL_ABANDONED : -1;

	for (unsigned i = 0; i < w->n; i++) {
		struct ioli_waitobj *o = &w->o[i];
		struct ioli_slot *s = o->r.s;
		uint32_t v;

		if (o->dup || (int)i == took || !o->ops->pass_wake)
			continue;
		v = atomic_load(&s->word);
		/* A LOCKED word is about to change: pass the wake on. */
		if (!(v & IOLI_W_LOCKED) && !o->ops->pass_wake(o, v))
			continue;
		ioli_wake(o->r.t, s, 1);
	}
}

/* Unregister, pass on what a woken waiter leaves (see above), and unpin;
 * r is the wait's result. */
static void finish(struct wait *w, bool multi, int r)
{
	for (unsigned i = 0; i < w->n; i++)
		if (!w->o[i].dup)
			ioli_waiter_unreg(&w->o[i], i, multi, true);
	if (!multi && w->woken)
		pass_on(w, r);
	ioli_waiter_journal_end(w->o, w->n);
	for (unsigned i = 0; i < w->n; i++)
		unpin(&w->o[i]);
}

/* The wait state of an object whose handle was resolved into o->r, but
 * for what a try reads and writes (registered, seen, sleep_on_seen). */
static inline int waitobj_rest(struct ioli_waitobj *o)
{
	o->epoch = 0;
	o->me = 0;
	o->dup = false;
	o->ops = ioli_obj_ops(o->r.type);
	return o->ops ? 0 : -EINVAL;
}

static inline int resolve(int h, struct ioli_waitobj *o)
{
	int err = ioli_handle_fast(h, &o->r);

	o->seen = 0;
	o->registered = o->sleep_on_seen = false;
	return err ? err : waitobj_rest(o);
}

/*
 * iol_wait once the object was found unavailable: out of line, so that
 * the fast path above it sets up nothing it does not use.
 *
 * A mutex's release wakes by the mark in its word, not by the waiter
 * count (src/objects/mutex.c), so a registered waiter may go straight to
 * marking and sleeping on the word its failed try saw (sleep_on_seen):
 * if the word changed since, the mark's CAS or the futex wait fails and
 * it tries at once.  Trying again first, as every other wait must (its
 * waker reads the count), is what made a contended mutex change hands
 * about four times as often as glibc's, whose waiter also goes from the
 * failed CAS to the futex: every hand-off moves the word's and the
 * caller's cache lines across (docs/performance.md, third pass).
 */
static __attribute__((noinline)) int wait_one(struct ioli_waitobj *o, int64_t timeout_ns)
{
	struct wait w = {.o = o, .n = 1, .sleep_first = o->sleep_on_seen};
	int r;

	/* The rest of the wait state: iol_wait set up only what the try
	 * needed. */
	r = waitobj_rest(o);
	if (r)
		return r;
	ioli_deadline_set(&w.dl, timeout_ns);
	r = prepare(&w, false);
	if (r)
		return r;
	r = wait_loop(&w);
	finish(&w, false, r);
	return r;
}

int iol_wait(int h, int64_t timeout_ns)
{
	struct ioli_waitobj o;
	int r;

	if (!valid_timeout(timeout_ns))
		return -EINVAL;
	r = ioli_handle_fast(h, &o.r); /* inline */
	if (r)
		return r;
	/* A semaphore with a unit to take: one CAS, all of an uncontended
	 * wait. */
	if (o.r.type == IOL_TYPE_SEMAPHORE && ioli_sem_take(o.r.s))
		return 0;
	o.registered = o.sleep_on_seen = false; /* what the tries read, and wait_one */
	/* The mutex's attempt is inline too (src/objects/objops.h).  Neither
	 * type's attempt reads more of the wait state than the fields set
	 * here, so the rest is set up only when the wait must sleep. */
	if (o.r.type == IOL_TYPE_SEMAPHORE) {
		r = ioli_sem_try(&o);
	} else if (o.r.type == IOL_TYPE_MUTEX) {
		r = ioli_mutex_try_inline(&o);
	} else {
		r = waitobj_rest(&o);
		if (r)
			return r;
		r = ioli_obj_try(&o);
	}
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
	bool multi = distinct > 1 && w.all;
	r = prepare(&w, multi);
	if (r)
		return r;
	r = wait_loop(&w);
	finish(&w, multi, r);
	return r;
}

static int signal_one(int h)
{
	struct ioli_href r;
	const struct ioli_obj_ops *ops;
	int err = ioli_handle_get(h, &r);

	if (err)
		return err;
	ops = ioli_obj_ops(r.type);
	if (!ops || !ops->signal)
		return -EINVAL;
	err = ops->signal(h);
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
	finish(&w, false, r);
	return r;
}
