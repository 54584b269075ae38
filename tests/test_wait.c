/* SPDX-License-Identifier: MIT */
/*
 * Waits: timeouts (0 polls, IOL_INFINITE, other negatives -EINVAL, on
 * time), signals never surfacing as -EINTR, iol_wait_many in both modes
 * (lowest index, limits, duplicates, all-or-none without partial
 * consumption), iol_signal_and_wait (what it signals, its errors, no lost
 * wakeup), and a handle closed while another thread waits on it.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/helpers.h"

#define MS (1000000LL)

static struct iol_info q(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	return info;
}

static uint32_t sem_count(int h)
{
	return q(h).u.semaphore.count;
}

static bool ev_signaled(int h)
{
	return q(h).u.event.signaled;
}

/* A thread that owns a mutex until its gate is set, then releases it. */
struct holder {
	int m, gate;
	pthread_t th;
	_Atomic int owned;
	int r;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	h->r = iol_wait(h->m, 0);
	if (h->r != 0)
		return NULL;
	atomic_store(&h->owned, 1);
	h->r = iol_wait(h->gate, TH_LONG_NS);
	if (h->r == 0)
		h->r = iol_mutex_release(h->m) == 1 ? 0 : -1;
	return NULL;
}

static void holder_start(struct holder *h, iol_table *t, int m)
{
	h->m = m;
	h->gate = iol_event_open(t, NULL, 0, false, false);
	assert_true(h->gate > 0);
	atomic_store(&h->owned, 0);
	assert_int_equal(pthread_create(&h->th, NULL, holder_main, h), 0);
	assert_true(th_wait_count(&h->owned, 1, TH_LONG_MS));
}

static void holder_stop(struct holder *h)
{
	assert_int_equal(iol_event_set(h->gate), 0);
	assert_true(th_join(h->th, NULL, TH_LONG_MS));
	assert_int_equal(h->r, 0);
	assert_int_equal(iol_close(h->gate), 0);
}

/* ---- timeouts ---------------------------------------------------------- */

struct unavailable {
	int ev, sem, mx, ok_sem, sig;
	struct holder hold;
};

static void make_unavailable(struct unavailable *u, iol_table *t)
{
	u->ev = iol_event_open(t, NULL, 0, false, false);
	u->sem = iol_semaphore_open(t, NULL, 0, 0, 1);
	u->mx = iol_mutex_open(t, NULL, 0, false);
	u->ok_sem = iol_semaphore_open(t, NULL, 0, 1, 1);
	u->sig = iol_semaphore_open(t, NULL, 0, 0, INT32_MAX);
	holder_start(&u->hold, t, u->mx);
}

/* Every kind of wait on something unavailable, with timeout tmo. */
static void all_waits_time_out(struct unavailable *u, int64_t tmo)
{
	const int one[] = {u->ev, u->sem, u->mx};
	int r;

	for (size_t i = 0; i < 3; i++) {
		int64_t t0 = th_now_ns();

		r = iol_wait(one[i], tmo);
		int64_t dt = th_now_ns() - t0;

		assert_int_equal(r, -ETIMEDOUT);
		if (dt < tmo)
			fail_msg("object %zu: timed out after %lld ns, before %lld", i,
				 (long long)dt, (long long)tmo);
		assert_true(dt < tmo + 1000 * MS);
	}
	{
		int hs[3] = {u->ev, u->sem, u->mx};
		int all[2] = {u->ok_sem, u->ev};

		for (int mode = 0; mode < 3; mode++) {
			int64_t t0 = th_now_ns();

			if (mode == 0)
				r = iol_wait_many(hs, 3, 0, tmo);
			else if (mode == 1)
				r = iol_wait_many(all, 2, IOL_WAIT_ALL, tmo);
			else
				r = iol_signal_and_wait(u->sig, u->sem, tmo);
			int64_t dt = th_now_ns() - t0;

			if (mode == 2) /* the signal happened */
				assert_int_equal(iol_wait(u->sig, 0), 0);
			assert_int_equal(r, -ETIMEDOUT);
			assert_true(dt >= tmo);
			assert_true(dt < tmo + 1000 * MS);
		}
	}
	assert_int_equal(sem_count(u->ok_sem), 1);
	assert_int_equal(sem_count(u->sem), 0);
	assert_true(q(u->mx).u.mutex.owner_tid != 0);
	assert_true(q(u->mx).u.mutex.owner_tid != th_gettid());
}

static void test_timeouts(void **state)
{
	static const int64_t tmos[] = {0, 1, 1000, 1 * MS, 20 * MS, 100 * MS};
	struct unavailable u;
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "timeouts", 0);
	make_unavailable(&u, tt.t);
	for (size_t i = 0; i < sizeof(tmos) / sizeof(tmos[0]); i++)
		all_waits_time_out(&u, tmos[i]);
	holder_stop(&u.hold);
	th_tab_del(&tt);
}

static void test_negative_timeouts(void **state)
{
	static const int64_t bad[] = {-2, -3, -1000, -1000000000LL, INT64_MIN, INT64_MIN + 1};
	struct th_tab tt;
	int s, e, m, hs[2];

	(void)state;
	th_tab_new(&tt, "negative", 0);
	/* Available objects: an invalid timeout must not acquire them. */
	s = iol_semaphore_open(tt.t, NULL, 0, 1, 2);
	e = iol_event_open(tt.t, NULL, 0, false, true);
	m = iol_mutex_open(tt.t, NULL, 0, false);
	hs[0] = s, hs[1] = e;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(iol_wait(s, bad[i]), -EINVAL);
		assert_int_equal(iol_wait(e, bad[i]), -EINVAL);
		assert_int_equal(iol_wait(m, bad[i]), -EINVAL);
		assert_int_equal(iol_wait_many(hs, 2, 0, bad[i]), -EINVAL);
		assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, bad[i]), -EINVAL);
		assert_int_equal(iol_signal_and_wait(s, e, bad[i]), -EINVAL);
	}
	assert_int_equal(sem_count(s), 1); /* signal_and_wait did not signal */
	assert_true(ev_signaled(e));
	assert_int_equal(q(m).u.mutex.owner_tid, 0);
	th_tab_del(&tt);
}

/* IOL_INFINITE and very large timeouts wait until signaled. */
static void test_infinite_and_huge(void **state)
{
	static const int64_t tmos[] = {IOL_INFINITE, INT64_MAX, INT64_MAX - 1, (int64_t)1 << 62,
				       100LL * 365 * 24 * 3600 * 1000000000LL};
	struct th_tab tt;
	int e;

	(void)state;
	th_tab_new(&tt, "infinite", 0);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	for (size_t i = 0; i < sizeof(tmos) / sizeof(tmos[0]); i++) {
		for (int mode = 0; mode < 3; mode++) {
			int s = iol_semaphore_open(tt.t, NULL, 0, 0, 1);
			struct th_waiter w = {.timeout_ns = tmos[i]};

			if (mode == 0) {
				w.mode = TH_WAIT, w.h = e;
			} else if (mode == 1) {
				w.mode = TH_WAIT_MANY, w.hs[0] = s, w.hs[1] = e, w.n = 2;
			} else {
				w.mode = TH_SIGNAL_AND_WAIT, w.signal_h = s, w.h = e;
			}
			th_waiter_start(&w);
			assert_true(th_waiter_blocked(&w, TH_LONG_MS));
			assert_int_equal(iol_event_set(e), 0);
			assert_int_equal(th_waiter_join(&w), mode == 1 ? 1 : 0);
			assert_int_equal(iol_close(s), 0);
		}
	}
	th_tab_del(&tt);
}

/* ---- signals ------------------------------------------------------------- */

static _Atomic int signals_seen;

static void on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&signals_seen, 1);
}

static void install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = 0; /* no SA_RESTART: a plain syscall would see EINTR */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* Signal w's thread each time it is asleep, until `count` signals were
 * handled or it finished.  Returns the number handled. */
static int bombard(struct th_waiter *w, int count)
{
	int base = atomic_load(&signals_seen);
	int64_t end = th_now_ns() + TH_LONG_NS;

	while (!atomic_load(&w->done) && atomic_load(&signals_seen) - base < count &&
	       th_now_ns() < end) {
		int before = atomic_load(&signals_seen);

		if (!th_in_futex_wait(atomic_load(&w->tid))) {
			sched_yield();
			continue;
		}
		pthread_kill(w->th, SIGUSR1);
		/* wait for the handler to have run before the next one */
		while (atomic_load(&signals_seen) == before && !atomic_load(&w->done) &&
		       th_now_ns() < end)
			sched_yield();
	}
	return atomic_load(&signals_seen) - base;
}

static void setup_waiter(struct th_waiter *w, int mode, struct unavailable *u, int64_t tmo)
{
	*w = (struct th_waiter){.timeout_ns = tmo};
	switch (mode) {
	case 0:
		w->mode = TH_WAIT, w->h = u->ev;
		break;
	case 1:
		w->mode = TH_WAIT, w->h = u->mx; /* owned by another thread */
		break;
	case 2:
		w->mode = TH_WAIT_MANY, w->hs[0] = u->sem, w->hs[1] = u->ev, w->n = 2;
		break;
	case 3:
		w->mode = TH_WAIT_MANY, w->hs[0] = u->ok_sem, w->hs[1] = u->ev, w->n = 2;
		w->flags = IOL_WAIT_ALL;
		break;
	default:
		w->mode = TH_SIGNAL_AND_WAIT, w->signal_h = u->sem, w->h = u->ev;
		break;
	}
}

static const char *const signal_mode[] = {"wait(event)", "wait(owned mutex)", "wait_many",
					  "wait_many(WAIT_ALL)", "signal_and_wait"};

static void test_signals_timed(void **state)
{
	const int64_t tmo = 150 * MS;
	struct unavailable u;
	struct th_tab tt;

	(void)state;
	install_handler();
	th_tab_new(&tt, "signals-timed", 0);
	make_unavailable(&u, tt.t);
	for (int mode = 0; mode < 5; mode++) {
		struct th_waiter w;
		int n;

		setup_waiter(&w, mode, &u, tmo);
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		n = bombard(&w, 1000000);
		assert_int_equal(th_waiter_join(&w), -ETIMEDOUT);
		print_message("%s: %d signals, timed out after %lld ms\n", signal_mode[mode], n,
			      (long long)(w.elapsed_ns / MS));
		assert_true(n >= 5);
		assert_true(w.elapsed_ns >= tmo);
		assert_true(w.elapsed_ns < tmo + 1000 * MS);
		if (mode == 4)
			assert_int_equal(iol_wait(u.sem, 0), 0); /* it did signal */
	}
	assert_int_equal(sem_count(u.ok_sem), 1);
	holder_stop(&u.hold);
	th_tab_del(&tt);
}

static void test_signals_infinite(void **state)
{
	struct unavailable u;
	struct th_tab tt;

	(void)state;
	install_handler();
	th_tab_new(&tt, "signals-inf", 0);
	make_unavailable(&u, tt.t);
	for (int mode = 0; mode < 5; mode++) {
		struct th_waiter w;

		setup_waiter(&w, mode, &u, IOL_INFINITE);
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(bombard(&w, 20), 20);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		if (mode == 1) {
			holder_stop(&u.hold);
		} else {
			assert_int_equal(iol_event_set(u.ev), 0);
		}
		assert_int_equal(th_waiter_join(&w), mode == 2 ? 1 : 0);
		if (mode == 1) {
			assert_int_equal(iol_mutex_release(u.mx), -EPERM); /* the waiter's */
			/* the waiter thread has exited owning it: abandoned */
			assert_int_equal(iol_wait(u.mx, 0), IOL_ABANDONED);
			assert_int_equal(iol_mutex_release(u.mx), 1);
			holder_start(&u.hold, tt.t, u.mx);
		}
		if (mode == 3) {
			assert_int_equal(iol_semaphore_release(u.ok_sem, 1), 0);
		}
		if (mode == 4)
			assert_int_equal(iol_wait(u.sem, 0), 0);
	}
	holder_stop(&u.hold);
	th_tab_del(&tt);
}

/* ---- wait_many without WAIT_ALL ---------------------------------------- */

static void test_wait_many_lowest_index(void **state)
{
	struct th_tab tt;
	int e0, e1, s2, s3, m4, hs[5];

	(void)state;
	th_tab_new(&tt, "lowest", 0);
	e0 = iol_event_open(tt.t, NULL, 0, false, false);
	e1 = iol_event_open(tt.t, NULL, 0, false, false);
	s2 = iol_semaphore_open(tt.t, NULL, 0, 1, 5);
	s3 = iol_semaphore_open(tt.t, NULL, 0, 1, 5);
	m4 = iol_mutex_open(tt.t, NULL, 0, false);
	hs[0] = e0, hs[1] = e1, hs[2] = s2, hs[3] = s3, hs[4] = m4;

	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 2);
	assert_int_equal(sem_count(s2), 0);
	assert_int_equal(sem_count(s3), 1);
	assert_int_equal(q(m4).u.mutex.owner_tid, 0);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 3);
	assert_int_equal(sem_count(s3), 0);
	assert_int_equal(q(m4).u.mutex.owner_tid, 0);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 4);
	assert_int_equal(q(m4).u.mutex.owner_tid, th_gettid());
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 4); /* recursive */
	assert_int_equal(q(m4).u.mutex.recursion, 2);
	assert_int_equal(iol_mutex_release(m4), 2);
	assert_int_equal(iol_mutex_release(m4), 1);
	assert_int_equal(iol_event_set(e1), 0);
	assert_int_equal(iol_semaphore_release(s2, 1), 0);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 1);
	assert_false(ev_signaled(e1));
	assert_int_equal(sem_count(s2), 1);
	assert_int_equal(iol_event_set(e0), 0);
	assert_int_equal(iol_event_set(e1), 0);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 0);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 1);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 2);
	assert_int_equal(iol_wait_many(hs, 5, 0, 0), 4);
	assert_int_equal(iol_mutex_release(m4), 1);
	/* Every index can be the answer (index 1 included). */
	for (int k = 0; k < 5; k++) {
		int s[5];

		for (int i = 0; i < 5; i++)
			s[i] = iol_semaphore_open(tt.t, NULL, 0, i == k, 1);
		assert_int_equal(iol_wait_many(s, 5, 0, 0), k);
		for (int i = 0; i < 5; i++) {
			assert_int_equal(sem_count(s[i]), 0);
			assert_int_equal(iol_close(s[i]), 0);
		}
	}
	th_tab_del(&tt);
}

/* Blocked in wait_many: whichever object becomes signaled is the answer. */
static void test_wait_many_blocking(void **state)
{
	struct th_tab tt;
	int hs[4];

	(void)state;
	th_tab_new(&tt, "many-block", 0);
	hs[0] = iol_event_open(tt.t, NULL, 0, false, false);
	hs[1] = iol_event_open(tt.t, NULL, 0, true, false);
	hs[2] = iol_semaphore_open(tt.t, NULL, 0, 0, 5);
	hs[3] = iol_mutex_open(tt.t, NULL, 0, true);
	for (int k = 0; k < 4; k++) {
		struct th_waiter w = {.mode = TH_WAIT_MANY, .n = 4, .timeout_ns = TH_LONG_NS};

		memcpy(w.hs, hs, sizeof(hs));
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		switch (k) {
		case 0:
			assert_int_equal(iol_event_set(hs[0]), 0);
			break;
		case 1:
			assert_int_equal(iol_event_set(hs[1]), 0);
			break;
		case 2:
			assert_int_equal(iol_semaphore_release(hs[2], 1), 0);
			break;
		default:
			assert_int_equal(iol_mutex_release(hs[3]), 1);
			break;
		}
		assert_int_equal(th_waiter_join(&w), k);
		if (k == 1)
			assert_int_equal(iol_event_reset(hs[1]), 1);
	}
	assert_false(ev_signaled(hs[0]));
	assert_int_equal(sem_count(hs[2]), 0);
	/* the waiter thread exited owning the mutex */
	assert_int_equal(iol_wait(hs[3], 0), IOL_ABANDONED);
	th_tab_del(&tt);
}

/* How many times thread tid of this process went to sleep. */
static long sleeps_of(pid_t tid)
{
	char path[64], line[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * A release of one unit wakes one iol_wait_many waiter, not all (issue
 * 11).  Four threads sleep in iol_wait_many({semaphore, event}); each
 * release of one unit lets one of them return, and the others must not
 * even wake: a woken thread that finds nothing goes back to sleep, one
 * more voluntary context switch, which /proc counts.
 */
static void test_wait_many_release_wakes_one(void **state)
{
	struct th_waiter w[4];
	struct th_tab tt;
	int hs[2];
	bool gone[4] = {false};

	(void)state;
	th_tab_new(&tt, "many-wake1", 0);
	hs[0] = iol_semaphore_open(tt.t, NULL, 0, 0, 10);
	hs[1] = iol_event_open(tt.t, NULL, 0, true, false);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct th_waiter){.mode = TH_WAIT_MANY, .n = 2, .timeout_ns = TH_LONG_NS};
		memcpy(w[i].hs, hs, sizeof(hs));
		th_waiter_start(&w[i]);
	}
	for (int i = 0; i < 4; i++)
		assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
	for (int round = 0; round < 3; round++) {
		long before[4], extra = 0;
		pid_t left[4];
		unsigned nleft = 0;
		int taker = -1;

		for (int i = 0; i < 4; i++)
			before[i] = gone[i] ? 0 : sleeps_of(atomic_load(&w[i].tid));
		int64_t deadline = th_now_ns() + TH_LONG_NS;

		assert_int_equal(iol_semaphore_release(hs[0], 1), 0);
		while (taker < 0) { /* exactly one returns: wait for it */
			for (int i = 0; i < 4 && taker < 0; i++)
				if (!gone[i] && atomic_load(&w[i].done))
					taker = i;
			assert_true(th_now_ns() < deadline);
			sched_yield();
		}
		assert_int_equal(th_waiter_join(&w[taker]), 0);
		gone[taker] = true;
		for (int i = 0; i < 4; i++)
			if (!gone[i])
				left[nleft++] = atomic_load(&w[i].tid);
		/* once every other waiter sleeps again, count its sleeps */
		assert_true(th_wait_all_blocked(left, nleft, TH_LONG_MS));
		for (int i = 0; i < 4; i++)
			if (!gone[i])
				extra += sleeps_of(atomic_load(&w[i].tid)) - before[i];
		assert_int_equal(extra, 0);
	}
	assert_int_equal(iol_event_set(hs[1]), 0); /* the last one goes */
	for (int i = 0; i < 4; i++)
		if (!gone[i])
			assert_int_equal(th_waiter_join(&w[i]), 1);
	th_tab_del(&tt);
}

/*
 * The other half of waking one: an iol_wait_many waiter woken for an object
 * that takes another one passes the first on.  A sleeps in
 * iol_wait_many({X, S}), then B in iol_wait(S): S's futex queue wakes A
 * first.  S is released, then X at once: A, woken by S, finds both and
 * takes X (index 0), so S's unit is B's, and B must wake.  (If A ran
 * between the two releases it took S; then S is released once more.)
 */
static void test_wait_many_passes_on(void **state)
{
	struct th_tab tt;
	int x, sem, passed_on = 0;

	(void)state;
	th_tab_new(&tt, "many-pass", 0);
	x = iol_semaphore_open(tt.t, NULL, 0, 0, 10);
	sem = iol_semaphore_open(tt.t, NULL, 0, 0, 10);
	for (int round = 0; round < 20; round++) {
		struct th_waiter a = {.mode = TH_WAIT_MANY, .n = 2, .timeout_ns = TH_LONG_NS};
		struct th_waiter b = {.mode = TH_WAIT, .h = sem, .timeout_ns = TH_LONG_NS};
		int ra;

		a.hs[0] = x;
		a.hs[1] = sem;
		th_waiter_start(&a);
		assert_true(th_waiter_blocked(&a, TH_LONG_MS));
		th_waiter_start(&b);
		assert_true(th_waiter_blocked(&b, TH_LONG_MS));
		assert_int_equal(iol_semaphore_release(sem, 1), 0);
		assert_int_equal(iol_semaphore_release(x, 1), 0);
		ra = th_waiter_join(&a);
		assert_true(ra == 0 || ra == 1);
		passed_on += ra == 0;
		if (ra == 1) { /* A took S: X's unit stays, B needs another */
			assert_int_equal(iol_wait(x, 0), 0);
			assert_int_equal(iol_semaphore_release(sem, 1), 0);
		}
		assert_int_equal(th_waiter_join(&b), 0);
		assert_int_equal(sem_count(x), 0);
		assert_int_equal(sem_count(sem), 0);
	}
	th_tab_del(&tt);
	/* Only the rounds where A took X needed the pass-on: none, and the
	 * test proved nothing (the scheduler always ran A in between). */
	print_message("  %d of 20 rounds needed the pass-on\n", passed_on);
	if (!passed_on)
		skip();
}

static void test_wait_many_limits(void **state)
{
	int hs[IOL_MAX_WAIT + 1];
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "limits", 0);
	for (int i = 0; i <= IOL_MAX_WAIT; i++)
		hs[i] = iol_event_open(tt.t, NULL, 0, false, i >= IOL_MAX_WAIT - 1);
	for (unsigned f = 0; f <= IOL_WAIT_ALL; f++) {
		assert_int_equal(iol_wait_many(hs, 0, f, 0), -EINVAL);
		assert_int_equal(iol_wait_many(hs, IOL_MAX_WAIT + 1, f, 0), -EINVAL);
		assert_int_equal(iol_wait_many(hs, UINT_MAX, f, 0), -EINVAL);
		assert_int_equal(iol_wait_many(NULL, 1, f, 0), -EINVAL);
		assert_int_equal(iol_wait_many(hs, 0, f, IOL_INFINITE), -EINVAL);
		assert_int_equal(iol_wait_many(hs, IOL_MAX_WAIT + 1, f, IOL_INFINITE), -EINVAL);
	}
	assert_int_equal(iol_wait_many(hs, 2, 0x2, 0), -EINVAL);
	assert_int_equal(iol_wait_many(hs, 2, 0x80000000u | IOL_WAIT_ALL, 0), -EINVAL);
	/* nothing was consumed by the refusals */
	assert_true(ev_signaled(hs[IOL_MAX_WAIT]));
	assert_true(ev_signaled(hs[IOL_MAX_WAIT - 1]));
	/* 64 is fine: the last one signaled */
	assert_int_equal(iol_wait_many(hs, IOL_MAX_WAIT, 0, 0), IOL_MAX_WAIT - 1);
	assert_false(ev_signaled(hs[IOL_MAX_WAIT - 1]));
	assert_int_equal(iol_wait_many(hs, IOL_MAX_WAIT, 0, 0), -ETIMEDOUT);
	/* and blocked on 64, released by the last */
	{
		struct th_waiter w = {
		    .mode = TH_WAIT_MANY, .n = IOL_MAX_WAIT, .timeout_ns = TH_LONG_NS};

		memcpy(w.hs, hs, sizeof(int) * IOL_MAX_WAIT);
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(iol_event_set(hs[IOL_MAX_WAIT - 1]), 0);
		assert_int_equal(th_waiter_join(&w), IOL_MAX_WAIT - 1);
	}
	/* WAIT_ALL over 64 */
	for (int i = 0; i < IOL_MAX_WAIT; i++)
		assert_true(iol_event_set(hs[i]) >= 0);
	assert_int_equal(iol_wait_many(hs, IOL_MAX_WAIT, IOL_WAIT_ALL, 0), 0);
	for (int i = 0; i < IOL_MAX_WAIT; i++)
		assert_false(ev_signaled(hs[i]));
	th_tab_del(&tt);
}

/* The same object twice in any-mode: allowed, acquired once. */
static void test_wait_many_duplicates(void **state)
{
	struct th_tab tt;
	int s, d, n, e, m, hs[IOL_MAX_WAIT];

	(void)state;
	th_tab_new(&tt, "dups", 0);
	s = iol_semaphore_open(tt.t, "s", IOL_CREATE, 1, 10);
	d = iol_dup(s);
	n = iol_semaphore_open(tt.t, "s", 0, 0, 1);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	m = iol_mutex_open(tt.t, NULL, 0, false);

	hs[0] = s, hs[1] = s;
	assert_int_equal(iol_wait_many(hs, 2, 0, 0), 0);
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	hs[0] = d, hs[1] = s, hs[2] = n;
	assert_int_equal(iol_wait_many(hs, 3, 0, 0), 0);
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	hs[0] = e, hs[1] = s, hs[2] = d;
	assert_int_equal(iol_wait_many(hs, 3, 0, 0), 1);
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_semaphore_release(s, 2), 0);
	assert_int_equal(iol_wait_many(hs, 3, 0, 0), 1);
	assert_int_equal(sem_count(s), 1);
	assert_int_equal(iol_wait(s, 0), 0);
	/* A mutex twice: owned once, count 1. */
	hs[0] = m, hs[1] = m;
	assert_int_equal(iol_wait_many(hs, 2, 0, 0), 0);
	assert_int_equal(q(m).u.mutex.recursion, 1);
	assert_int_equal(iol_mutex_release(m), 1);
	/* 64 times the same handle */
	for (int i = 0; i < IOL_MAX_WAIT; i++)
		hs[i] = (i & 1) ? d : s;
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	assert_int_equal(iol_wait_many(hs, IOL_MAX_WAIT, 0, 0), 0);
	assert_int_equal(sem_count(s), 0);
	/* Blocked on duplicates: one release of 2 is taken once. */
	{
		struct th_waiter w = {
		    .mode = TH_WAIT_MANY, .hs = {e, s, d, n}, .n = 4, .timeout_ns = TH_LONG_NS};

		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(iol_semaphore_release(s, 2), 0);
		assert_int_equal(th_waiter_join(&w), 1);
		assert_int_equal(sem_count(s), 1);
	}
	th_tab_del(&tt);
}

/* ---- WAIT_ALL -------------------------------------------------------------- */

static void test_wait_all_basic(void **state)
{
	struct th_tab tt;
	struct holder hold;
	int s, ea, em, m, hs[4];

	(void)state;
	th_tab_new(&tt, "all", 0);
	s = iol_semaphore_open(tt.t, NULL, 0, 2, 5);
	ea = iol_event_open(tt.t, NULL, 0, false, true);
	em = iol_event_open(tt.t, NULL, 0, true, true);
	m = iol_mutex_open(tt.t, NULL, 0, false);
	hs[0] = s, hs[1] = ea, hs[2] = em, hs[3] = m;
	assert_int_equal(iol_wait_many(hs, 4, IOL_WAIT_ALL, 0), 0);
	assert_int_equal(sem_count(s), 1);
	assert_false(ev_signaled(ea));
	assert_true(ev_signaled(em));
	assert_int_equal(q(m).u.mutex.owner_tid, th_gettid());
	assert_int_equal(q(m).u.mutex.recursion, 1);

	/* Not all available: nothing is taken (poll and timed). */
	for (int64_t tmo = 0; tmo <= 10 * MS; tmo += 10 * MS) {
		assert_int_equal(iol_wait_many(hs, 4, IOL_WAIT_ALL, tmo), -ETIMEDOUT);
		assert_int_equal(sem_count(s), 1);
		assert_true(ev_signaled(em));
		assert_int_equal(q(m).u.mutex.recursion, 1);
	}
	/* Our own mutex counts as available: recursion. */
	assert_int_equal(iol_event_set(ea), 0);
	assert_int_equal(iol_wait_many(hs, 4, IOL_WAIT_ALL, 0), 0);
	assert_int_equal(q(m).u.mutex.recursion, 2);
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_mutex_release(m), 2);
	assert_int_equal(iol_mutex_release(m), 1);

	/* A mutex another thread owns: nothing else is taken. */
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	assert_int_equal(iol_event_set(ea), 0);
	holder_start(&hold, tt.t, m);
	assert_int_equal(iol_wait_many(hs, 4, IOL_WAIT_ALL, 0), -ETIMEDOUT);
	assert_int_equal(iol_wait_many(hs, 4, IOL_WAIT_ALL, 5 * MS), -ETIMEDOUT);
	assert_int_equal(sem_count(s), 1);
	assert_true(ev_signaled(ea));
	holder_stop(&hold);
	assert_int_equal(iol_wait_many(hs, 4, IOL_WAIT_ALL, 0), 0);
	assert_int_equal(iol_mutex_release(m), 1);
	/* n = 1 */
	assert_int_equal(iol_wait_many(&em, 1, IOL_WAIT_ALL, 0), 0);
	th_tab_del(&tt);
}

/*
 * A thread waits for all of {semaphore, event}.  While it waits, the
 * semaphore must stay available to others: it holds nothing.  A signaled
 * event it cannot use yet is not consumed either.
 */
static void test_wait_all_no_partial_consumption(void **state)
{
	struct th_tab tt;
	struct th_waiter w;
	int s, e;

	(void)state;
	th_tab_new(&tt, "partial", 0);
	s = iol_semaphore_open(tt.t, NULL, 0, 1, 1);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	w = (struct th_waiter){.mode = TH_WAIT_MANY,
			       .hs = {s, e},
			       .n = 2,
			       .flags = IOL_WAIT_ALL,
			       .timeout_ns = TH_LONG_NS};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	for (int i = 0; i < 50; i++) {
		assert_int_equal(iol_wait(s, 0), 0); /* it was not held */
		assert_int_equal(iol_semaphore_release(s, 1), 0);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(sem_count(s), 1);
	}
	/* Now hold the semaphore and set the event: the waiter wakes, cannot
	 * have both, and must leave the event signaled. */
	assert_int_equal(iol_wait(s, 0), 0);
	assert_int_equal(iol_event_set(e), 0);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_true(ev_signaled(e));
	assert_int_equal(iol_event_reset(e), 1);
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_int_equal(sem_count(s), 1);
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(th_waiter_join(&w), 0);
	assert_int_equal(sem_count(s), 0);
	assert_false(ev_signaled(e));
	th_tab_del(&tt);
}

/* The same with a mutex: the waiter must not own it while it waits. */
static int release_first(struct th_waiter *w)
{
	return iol_mutex_release(w->hs[0]);
}

static void test_wait_all_mutex_not_held_while_waiting(void **state)
{
	struct th_tab tt;
	struct th_waiter w;
	int m, e;

	(void)state;
	th_tab_new(&tt, "partial-mx", 0);
	m = iol_mutex_open(tt.t, NULL, 0, false);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	w = (struct th_waiter){.mode = TH_WAIT_MANY,
			       .hs = {m, e},
			       .n = 2,
			       .flags = IOL_WAIT_ALL,
			       .timeout_ns = TH_LONG_NS,
			       .then = release_first};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	for (int i = 0; i < 20; i++) {
		assert_int_equal(q(m).u.mutex.owner_tid, 0);
		assert_int_equal(iol_wait(m, 0), 0);
		assert_int_equal(iol_mutex_release(m), 1);
	}
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_event_set(e), 0);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_true(ev_signaled(e));
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(th_waiter_join(&w), 0);
	assert_int_equal(w.then_result, 1); /* it owned it, count 1 */
	assert_false(ev_signaled(e));
	th_tab_del(&tt);
}

/* Under contention: a thread keeps taking and returning the semaphore
 * while another waits for all; the all-waiter gets everything exactly
 * once and the counts add up. */
struct churn {
	int s;
	_Atomic int stop;
	long taken;
	int err;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		int r = iol_wait(c->s, 0);

		if (r == 0) {
			c->taken++;
			if (iol_semaphore_release(c->s, 1) < 0)
				c->err = 1;
		} else if (r != -ETIMEDOUT) {
			c->err = 1;
		}
	}
	return NULL;
}

static void test_wait_all_under_churn(void **state)
{
	struct th_tab tt;
	struct churn c = {0};
	pthread_t th;
	int e, s2;

	(void)state;
	th_tab_new(&tt, "churn", 0);
	c.s = iol_semaphore_open(tt.t, NULL, 0, 1, 1);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	s2 = iol_semaphore_open(tt.t, NULL, 0, 0, 1000);
	assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
	for (int round = 0; round < 200; round++) {
		struct th_waiter w = {.mode = TH_WAIT_MANY,
				      .hs = {c.s, e, s2},
				      .n = 3,
				      .flags = IOL_WAIT_ALL,
				      .timeout_ns = TH_LONG_NS};

		th_waiter_start(&w);
		assert_int_equal(iol_semaphore_release(s2, 1), 0);
		assert_int_equal(iol_event_set(e), 0);
		assert_int_equal(th_waiter_join(&w), 0);
		/* it took one of each; give the semaphore back */
		assert_int_equal(sem_count(s2), 0);
		assert_false(ev_signaled(e));
		assert_int_equal(iol_semaphore_release(c.s, 1), 0);
	}
	atomic_store(&c.stop, 1);
	assert_true(th_join(th, NULL, TH_LONG_MS));
	assert_int_equal(c.err, 0);
	assert_int_equal(sem_count(c.s), 1);
	print_message("the churning thread took the semaphore %ld times\n", c.taken);
	th_tab_del(&tt);
}

static void test_wait_all_duplicates_and_tables(void **state)
{
	struct th_tab tt, other;
	int s, d, n, e, e2, x, hs[3];

	(void)state;
	th_tab_new(&tt, "all-dups", 0);
	th_tab_new(&other, "all-other", 0);
	s = iol_semaphore_open(tt.t, "s", IOL_CREATE, 3, 3);
	d = iol_dup(s);
	n = iol_semaphore_open(tt.t, "s", 0, 0, 1);
	e = iol_event_open(tt.t, NULL, 0, true, true);
	e2 = iol_event_open(tt.t, NULL, 0, true, true);
	x = iol_semaphore_open(other.t, NULL, 0, 1, 1);
	const int cases[][3] = {{s, s, -1}, {s, d, -1}, {n, s, -1}, {e, e2, e}, {e2, s, d}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned cnt = cases[i][2] < 0 ? 2 : 3;

		memcpy(hs, cases[i], sizeof(hs));
		assert_int_equal(iol_wait_many(hs, cnt, IOL_WAIT_ALL, 0), -EINVAL);
		assert_int_equal(iol_wait_many(hs, cnt, IOL_WAIT_ALL, IOL_INFINITE), -EINVAL);
		/* any-mode accepts them */
		assert_true(iol_wait_many(hs, cnt, 0, 0) >= 0);
		if (sem_count(s) < 3)
			assert_int_equal(iol_semaphore_release(s, 3 - sem_count(s)), 2);
	}
	assert_int_equal(sem_count(s), 3);
	/* Handles from two tables: -EXDEV, nothing taken. */
	hs[0] = s, hs[1] = x;
	assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, 0), -EXDEV);
	assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, IOL_INFINITE), -EXDEV);
	assert_int_equal(sem_count(s), 3);
	assert_int_equal(sem_count(x), 1);
	/* (any-mode across tables works) */
	hs[0] = e2, hs[1] = x;
	assert_int_equal(iol_event_reset(e2), 1);
	assert_int_equal(iol_wait_many(hs, 2, 0, 0), 1);
	th_tab_del(&other);
	th_tab_del(&tt);
}

/* ---- iol_signal_and_wait ------------------------------------------------ */

static int set_event_arg(struct th_waiter *w)
{
	int r = iol_event_set(*(int *)w->arg);

	if (r < 0)
		return r;
	return iol_mutex_release(w->h);
}

static void test_signal_and_wait_kinds(void **state)
{
	struct th_tab tt;
	struct th_waiter w;
	int m, e, s, e2;

	(void)state;
	th_tab_new(&tt, "saw", 0);
	m = iol_mutex_open(tt.t, NULL, 0, true);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	s = iol_semaphore_open(tt.t, NULL, 0, 0, 2);
	e2 = iol_event_open(tt.t, NULL, 0, true, false);

	/* Mutex: released; the thread waiting for it gets it and sets e. */
	w = (struct th_waiter){
	    .mode = TH_WAIT, .h = m, .timeout_ns = TH_LONG_NS, .then = set_event_arg, .arg = &e};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_int_equal(iol_signal_and_wait(m, e, TH_LONG_NS), 0);
	assert_int_equal(th_waiter_join(&w), 0);
	assert_int_equal(w.then_result, 1);
	assert_false(ev_signaled(e));

	/* Event: set; semaphore: released by exactly 1. */
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	assert_int_equal(iol_signal_and_wait(e2, s, 0), 0);
	assert_true(ev_signaled(e2));
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_signal_and_wait(s, e2, 0), 0);
	assert_int_equal(sem_count(s), 1);
	assert_int_equal(iol_signal_and_wait(s, e, 0), -ETIMEDOUT);
	assert_int_equal(sem_count(s), 2);

	/* The same object both ways. */
	assert_int_equal(iol_wait(s, 0), 0);
	assert_int_equal(iol_wait(s, 0), 0);
	assert_int_equal(iol_signal_and_wait(s, s, 0), 0);
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_signal_and_wait(e, e, 0), 0);
	assert_false(ev_signaled(e));
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_signal_and_wait(m, m, 0), 0);
	assert_int_equal(q(m).u.mutex.owner_tid, th_gettid());
	assert_int_equal(q(m).u.mutex.recursion, 1);

	/* A recursive mutex is released once: still ours afterwards. */
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_signal_and_wait(m, e, 0), -ETIMEDOUT);
	assert_int_equal(q(m).u.mutex.recursion, 1);
	assert_int_equal(iol_mutex_release(m), 1);
	th_tab_del(&tt);
}

static void test_signal_and_wait_errors(void **state)
{
	struct th_tab tt;
	struct holder hold;
	int m, mine, full, s, e;
	int64_t t0;

	(void)state;
	th_tab_new(&tt, "saw-err", 0);
	m = iol_mutex_open(tt.t, NULL, 0, false);
	mine = iol_mutex_open(tt.t, NULL, 0, false);
	full = iol_semaphore_open(tt.t, NULL, 0, 2, 2);
	s = iol_semaphore_open(tt.t, NULL, 0, 1, 1);
	e = iol_event_open(tt.t, NULL, 0, false, false);

	/* A mutex we do not own: -EPERM at once, nothing waited for or taken,
	 * even with an infinite timeout. */
	t0 = th_now_ns();
	assert_int_equal(iol_signal_and_wait(m, s, IOL_INFINITE), -EPERM);
	assert_int_equal(iol_signal_and_wait(m, e, IOL_INFINITE), -EPERM);
	assert_true(th_now_ns() - t0 < 1000 * MS);
	assert_int_equal(sem_count(s), 1);
	holder_start(&hold, tt.t, m); /* owned by another thread */
	assert_int_equal(iol_signal_and_wait(m, s, IOL_INFINITE), -EPERM);
	assert_int_equal(sem_count(s), 1);
	assert_true(q(m).u.mutex.owner_tid != th_gettid());
	holder_stop(&hold);

	/* A semaphore at its max: -EOVERFLOW, nothing taken. */
	assert_int_equal(iol_signal_and_wait(full, s, IOL_INFINITE), -EOVERFLOW);
	assert_int_equal(sem_count(full), 2);
	assert_int_equal(sem_count(s), 1);

	/* Bad handles either way. */
	assert_int_equal(iol_signal_and_wait(0, s, 0), -EBADF);
	assert_int_equal(iol_signal_and_wait(-1, s, IOL_INFINITE), -EBADF);
	assert_int_equal(iol_signal_and_wait(e, 0, 0), -EBADF);
	assert_int_equal(iol_signal_and_wait(e, INT_MAX, IOL_INFINITE), -EBADF);
	{
		int closed = iol_event_open(tt.t, NULL, 0, false, false);

		assert_int_equal(iol_close(closed), 0);
		assert_int_equal(iol_signal_and_wait(closed, s, IOL_INFINITE), -EBADF);
		assert_int_equal(iol_signal_and_wait(e, closed, IOL_INFINITE), -EBADF);
	}
	assert_int_equal(sem_count(s), 1);

	/* And a mutex we own works. */
	assert_int_equal(iol_wait(mine, 0), 0);
	assert_int_equal(iol_signal_and_wait(mine, s, 0), 0);
	assert_int_equal(q(mine).u.mutex.owner_tid, 0);
	th_tab_del(&tt);
}

/*
 * No window for a lost wakeup: the signaled thread answers with a PULSE
 * of the object we wait on.  A pulse only reaches threads already waiting,
 * so this passes only if the signaler counted as a waiter before it
 * signaled.  Thousands of rounds, both reset modes.
 */
struct responder {
	int x, y;
	int rounds;
	int err;
};

static void *responder_main(void *arg)
{
	struct responder *r = arg;

	for (int i = 0; i < r->rounds; i++) {
		int rc = iol_wait(r->x, TH_LONG_NS);

		if (rc != 0) {
			r->err = rc;
			return NULL;
		}
		iol_event_pulse(r->y);
	}
	return NULL;
}

static void test_signal_and_wait_sees_pulse(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "saw-pulse", 0);
	for (int manual = 0; manual < 2; manual++) {
		struct responder r = {.rounds = 3000};
		pthread_t th;

		r.x = iol_event_open(tt.t, NULL, 0, false, false);
		r.y = iol_event_open(tt.t, NULL, 0, manual, false);
		assert_int_equal(pthread_create(&th, NULL, responder_main, &r), 0);
		for (int i = 0; i < r.rounds; i++) {
			int rc = iol_signal_and_wait(r.x, r.y, TH_LONG_NS);

			if (rc != 0)
				fail_msg("round %d (%s): %d", i, manual ? "manual" : "auto", rc);
		}
		assert_true(th_join(th, NULL, TH_LONG_MS));
		assert_int_equal(r.err, 0);
	}
	th_tab_del(&tt);
}

/* Ping-pong between two threads with signal_and_wait only. */
struct pong {
	int a, b, rounds, err;
};

static void *pong_main(void *arg)
{
	struct pong *p = arg;
	int rc = iol_wait(p->b, TH_LONG_NS);

	for (int i = 0; rc == 0 && i < p->rounds - 1; i++)
		rc = iol_signal_and_wait(p->a, p->b, TH_LONG_NS);
	if (rc == 0)
		rc = iol_event_set(p->a) < 0 ? -1 : 0;
	p->err = rc;
	return NULL;
}

static void test_signal_and_wait_ping_pong(void **state)
{
	struct th_tab tt;
	struct pong p = {.rounds = 5000};
	pthread_t th;

	(void)state;
	th_tab_new(&tt, "pingpong", 0);
	p.a = iol_event_open(tt.t, NULL, 0, false, false);
	p.b = iol_event_open(tt.t, NULL, 0, false, false);
	assert_int_equal(pthread_create(&th, NULL, pong_main, &p), 0);
	for (int i = 0; i < p.rounds; i++) {
		int rc = iol_signal_and_wait(p.b, p.a, TH_LONG_NS);

		if (rc != 0)
			fail_msg("round %d: %d", i, rc);
	}
	assert_true(th_join(th, NULL, TH_LONG_MS));
	assert_int_equal(p.err, 0);
	assert_false(ev_signaled(p.a));
	assert_false(ev_signaled(p.b));
	th_tab_del(&tt);
}

/* ---- a handle closed while another thread waits on it -------------------- */

static void test_close_while_waiting(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "close-wait", 0);
	for (int variant = 0; variant < 4; variant++) {
		struct th_waiter w = {.timeout_ns = TH_LONG_NS};
		int h, other = 0, sig;

		h = iol_semaphore_open(tt.t, "closed", IOL_CREATE | IOL_EXCL, 0, 1);
		if (variant == 0)
			other = iol_dup(h);
		if (variant < 3) {
			w.mode = TH_WAIT, w.h = h;
		} else {
			int e = iol_event_open(tt.t, NULL, 0, false, false);

			w.mode = TH_WAIT_MANY, w.hs[0] = e, w.hs[1] = h, w.n = 2;
		}
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(iol_close(h), 0);
		/* the wait goes on */
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(iol_close(h), -EBADF);
		if (variant == 0) {
			sig = other;
		} else {
			/* The wait's reference keeps the object (and its name)
			 * alive: it can be opened again to signal it. */
			sig = iol_semaphore_open(tt.t, "closed", 0, 0, 1);
			assert_true(sig > 0);
			if (variant == 2) {
				/* ...or imported */
				uint64_t tok;
				int imp;

				assert_int_equal(iol_export(sig, &tok), 0);
				assert_int_equal(iol_close(sig), 0);
				assert_true(th_waiter_blocked(&w, TH_LONG_MS));
				imp = iol_import(tt.t, tok);
				assert_true(imp > 0);
				sig = imp;
			}
		}
		/* Our handle, and the wait's reference: whether iol_query's
		 * "open handles" counts the latter is not specified. */
		assert_true(q(sig).refs >= 1 && q(sig).refs <= 2);
		assert_int_equal(iol_semaphore_release(sig, 1), 0);
		assert_int_equal(th_waiter_join(&w), variant < 3 ? 0 : 1);
		assert_int_equal(sem_count(sig), 0);
		/* The wait has given its reference back. */
		assert_int_equal(q(sig).refs, 1);
		assert_int_equal(iol_close(sig), 0);
		assert_int_equal(iol_semaphore_open(tt.t, "closed", 0, 0, 1), -ENOENT);
	}
	th_tab_del(&tt);
}

/* Closed while waiting, and never signaled: the wait times out normally
 * and the object then goes away. */
static void test_close_while_waiting_timeout(void **state)
{
	struct th_tab tt;
	struct th_waiter w;
	int h;

	(void)state;
	th_tab_new(&tt, "close-tmo", 0);
	h = iol_event_open(tt.t, "gone-later", IOL_CREATE, false, false);
	w = (struct th_waiter){.mode = TH_WAIT, .h = h, .timeout_ns = 100 * MS};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(th_waiter_join(&w), -ETIMEDOUT);
	assert_true(w.elapsed_ns >= 100 * MS);
	assert_int_equal(iol_event_open(tt.t, "gone-later", 0, false, false), -ENOENT);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_timeouts, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_negative_timeouts, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_infinite_and_huge, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signals_timed, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signals_infinite, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_lowest_index, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_blocking, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_release_wakes_one, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_passes_on, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_limits, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_duplicates, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_all_basic, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_all_no_partial_consumption, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_all_mutex_not_held_while_waiting,
				      th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_all_under_churn, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_all_duplicates_and_tables, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signal_and_wait_kinds, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signal_and_wait_errors, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signal_and_wait_sees_pulse, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signal_and_wait_ping_pong, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_close_while_waiting, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_close_while_waiting_timeout, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
