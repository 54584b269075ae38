/* SPDX-License-Identifier: MIT */
/*
 * Mutexes: owned by a thread, recursive, -EPERM for non-owners, handed to
 * one waiter at count 0, and abandoned when the owner thread exits or the
 * owner process dies (SIGKILL, _exit, exit, abort), between threads and
 * between processes.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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
#include "tests/crash_helpers.h"
#include "tests/helpers.h"

static struct iol_info q(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	return info;
}

static void expect_owned_by(int h, pid_t tid, uint32_t rec)
{
	struct iol_info i = q(h);

	assert_int_equal(i.type, IOL_TYPE_MUTEX);
	assert_int_equal(i.u.mutex.owner_tid, tid);
	assert_int_equal(i.u.mutex.recursion, rec);
	assert_false(i.u.mutex.abandoned);
}

static void expect_free(int h)
{
	struct iol_info i = q(h);

	assert_int_equal(i.u.mutex.owner_tid, 0);
	assert_false(i.u.mutex.abandoned);
}

static void expect_abandoned(int h)
{
	struct iol_info i = q(h);

	assert_true(i.u.mutex.abandoned);
	assert_int_equal(i.u.mutex.owner_tid, 0);
}

/* The next acquisition reports IOL_ABANDONED, owns it with count 1, and
 * the flag is then clear. */
static void take_abandoned(int h)
{
	assert_int_equal(iol_wait(h, 0), IOL_ABANDONED);
	expect_owned_by(h, th_gettid(), 1);
	assert_int_equal(iol_mutex_release(h), 1);
	expect_free(h);
	assert_int_equal(iol_wait(h, 0), 0);
	expect_owned_by(h, th_gettid(), 1);
	assert_int_equal(iol_mutex_release(h), 1);
}

/* ---- ownership and recursion ----------------------------------------- */

static void test_recursion(void **state)
{
	struct th_tab tt;
	pid_t me = th_gettid();
	int m;

	(void)state;
	th_tab_new(&tt, "recursion", 0);
	m = iol_mutex_open(tt.t, "m", IOL_CREATE, false);
	expect_free(m);
	assert_int_equal(iol_mutex_release(m), -EPERM); /* free: nobody owns it */
	assert_int_equal(iol_wait(m, 0), 0);
	expect_owned_by(m, me, 1);
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_wait(m, IOL_INFINITE), 0);
	assert_int_equal(iol_wait(m, 1000), 0);
	expect_owned_by(m, me, 4);
	assert_int_equal(iol_mutex_release(m), 4);
	expect_owned_by(m, me, 3);
	assert_int_equal(iol_mutex_release(m), 3);
	assert_int_equal(iol_mutex_release(m), 2);
	expect_owned_by(m, me, 1);
	assert_int_equal(iol_mutex_release(m), 1);
	expect_free(m);
	assert_int_equal(iol_mutex_release(m), -EPERM);
	expect_free(m);
	/* Recursion through several handles to the same mutex. */
	{
		int d = iol_dup(m), n = iol_mutex_open(tt.t, "m", 0, false);

		assert_int_equal(iol_wait(m, 0), 0);
		assert_int_equal(iol_wait(d, 0), 0);
		assert_int_equal(iol_wait(n, 0), 0);
		expect_owned_by(m, me, 3);
		assert_int_equal(iol_mutex_release(n), 3);
		assert_int_equal(iol_mutex_release(m), 2);
		assert_int_equal(iol_mutex_release(d), 1);
		expect_free(m);
	}
	th_tab_del(&tt);
}

static void test_initial_owner(void **state)
{
	struct th_tab tt;
	int m, a;

	(void)state;
	th_tab_new(&tt, "initial", 0);
	m = iol_mutex_open(tt.t, "owned", IOL_CREATE, true);
	expect_owned_by(m, th_gettid(), 1);
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_mutex_release(m), 2);
	assert_int_equal(iol_mutex_release(m), 1);
	expect_free(m);
	a = iol_mutex_open(tt.t, NULL, 0, true);
	expect_owned_by(a, th_gettid(), 1);
	assert_int_equal(iol_mutex_release(a), 1);
	a = iol_mutex_open(tt.t, NULL, 0, false);
	expect_free(a);
	th_tab_del(&tt);
}

static int release_it(struct th_waiter *w)
{
	return iol_mutex_release(w->h);
}

/* A non-owner's release gives -EPERM and changes nothing. */
struct nonowner {
	int m;
	int rel, poll, wait;
};

static void *nonowner_thread(void *arg)
{
	struct nonowner *n = arg;

	n->rel = iol_mutex_release(n->m);
	n->poll = iol_wait(n->m, 0);
	n->wait = iol_wait(n->m, 20 * 1000000LL);
	return NULL;
}

static void test_non_owner_thread(void **state)
{
	struct nonowner n;
	struct th_tab tt;
	pthread_t th;

	(void)state;
	th_tab_new(&tt, "nonowner", 0);
	n.m = iol_mutex_open(tt.t, "m", IOL_CREATE, true);
	assert_int_equal(iol_wait(n.m, 0), 0); /* count 2 */
	assert_int_equal(pthread_create(&th, NULL, nonowner_thread, &n), 0);
	assert_true(th_join(th, NULL, TH_LONG_MS));
	assert_int_equal(n.rel, -EPERM);
	assert_int_equal(n.poll, -ETIMEDOUT);
	assert_int_equal(n.wait, -ETIMEDOUT);
	expect_owned_by(n.m, th_gettid(), 2);
	assert_int_equal(iol_mutex_release(n.m), 2);
	assert_int_equal(iol_mutex_release(n.m), 1);
	th_tab_del(&tt);
}

static int child_non_owner(void *arg)
{
	const char *table = arg;
	struct iol_info info;
	iol_table *t;
	int m;

	TH_CHECK_EQ(iol_table_open(table, NULL, &t), 0);
	m = iol_mutex_open(t, "m", 0, false);
	TH_CHECK(m > 0);
	TH_CHECK_EQ(iol_mutex_release(m), -EPERM);
	TH_CHECK_EQ(iol_wait(m, 0), -ETIMEDOUT);
	TH_CHECK_EQ(iol_query(m, &info), 0);
	TH_CHECK_EQ(info.u.mutex.owner_tid, getppid()); /* the parent's main thread */
	TH_CHECK_EQ(info.u.mutex.recursion, 3);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_non_owner_process(void **state)
{
	struct th_tab tt;
	int m;

	(void)state;
	assert_int_equal(getpid(), th_gettid()); /* the test runs on the main thread */
	th_tab_new(&tt, "nonowner-proc", 0);
	m = iol_mutex_open(tt.t, "m", IOL_CREATE, true);
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(th_run(child_non_owner, tt.name), 0);
	expect_owned_by(m, th_gettid(), 3);
	th_tab_del(&tt);
}

/* At count 0 the mutex is free and exactly one waiter gets it. */
#define NWAIT 3

struct holder {
	int m, gate;
	_Atomic int *inside, *max_inside, *acquired;
};

static int hold_then_release(struct th_waiter *w)
{
	struct holder *hd = w->arg;
	int in = atomic_fetch_add(hd->inside, 1) + 1;

	if (in > atomic_load(hd->max_inside))
		atomic_store(hd->max_inside, in);
	atomic_fetch_add(hd->acquired, 1);
	/* hold it until the test opens this thread's gate */
	if (iol_wait(hd->gate, TH_LONG_NS) != 0)
		return -1;
	atomic_fetch_sub(hd->inside, 1);
	return iol_mutex_release(w->h);
}

static void test_one_waiter_at_zero(void **state)
{
	struct th_waiter w[NWAIT];
	struct holder hd[NWAIT];
	_Atomic int inside = 0, max_inside = 0, acquired = 0;
	bool finished[NWAIT] = {false};
	struct th_tab tt;
	int m;

	(void)state;
	th_tab_new(&tt, "handoff", 0);
	m = iol_mutex_open(tt.t, "m", IOL_CREATE, true);
	assert_int_equal(iol_wait(m, 0), 0); /* count 2 */
	for (int i = 0; i < NWAIT; i++) {
		hd[i] = (struct holder){.m = m,
					.gate = iol_event_open(tt.t, NULL, 0, false, false),
					.inside = &inside,
					.max_inside = &max_inside,
					.acquired = &acquired};
		w[i] = (struct th_waiter){.mode = TH_WAIT,
					  .h = m,
					  .timeout_ns = TH_LONG_NS,
					  .then = hold_then_release,
					  .arg = &hd[i]};
		th_waiter_start(&w[i]);
	}
	for (int i = 0; i < NWAIT; i++)
		assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
	/* Count 2 -> 1: still ours, nobody wakes. */
	assert_int_equal(iol_mutex_release(m), 2);
	expect_owned_by(m, th_gettid(), 1);
	for (int i = 0; i < NWAIT; i++)
		assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
	assert_int_equal(atomic_load(&acquired), 0);
	/* Count 1 -> 0: one waiter gets it, then the next, one at a time. */
	assert_int_equal(iol_mutex_release(m), 1);
	for (int round = 1; round <= NWAIT; round++) {
		int owner = -1;

		assert_true(th_wait_count(&acquired, round, TH_LONG_MS));
		for (int i = 0; i < NWAIT; i++) {
			if (finished[i] || atomic_load(&w[i].tid) == 0)
				continue;
			if (q(m).u.mutex.owner_tid == atomic_load(&w[i].tid))
				owner = i;
		}
		assert_true(owner >= 0);
		assert_int_equal(w[owner].result, 0);
		expect_owned_by(m, atomic_load(&w[owner].tid), 1);
		/* everyone else is still asleep, and nobody else got in */
		for (int i = 0; i < NWAIT; i++)
			if (i != owner && !finished[i])
				assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
		assert_int_equal(atomic_load(&acquired), round);
		assert_int_equal(atomic_load(&inside), 1);
		/* The new owner took the mutex with SLEEPERS set, since others
		 * still wait (src/objects/mutex.c): its release will wake one. */
		assert_true(atomic_load(&crash_slot(m)->word) & IOLI_MX_SLEEPERS);
		assert_int_equal(iol_event_set(hd[owner].gate), 0);
		th_waiter_join(&w[owner]);
		assert_int_equal(w[owner].then_result, 1);
		finished[owner] = true;
	}
	assert_int_equal(atomic_load(&max_inside), 1);
	expect_free(m);
	th_tab_del(&tt);
}

/*
 * A woken waiter that leaves without the mutex passes the wake on when
 * the sleepers rely on it: the mutex is owned without SLEEPERS (the
 * release that woke it cleared the mark, and its owner took it straight
 * back).  Staged: B sleeps on the mutex; A sleeps on the mutex or an
 * event; the mark is cleared, as that release would have; the event wakes
 * A, which takes the event.  B must wake, find the mutex owned and mark it
 * again, or the owner's release would wake nobody.
 */
struct any_waiter {
	int h[2];
	unsigned n;
	_Atomic pid_t tid;
	_Atomic int result;
};

static void *any_waiter_main(void *arg)
{
	struct any_waiter *a = arg;
	int r;

	atomic_store(&a->tid, th_gettid());
	r = a->n == 1 ? iol_wait(a->h[0], TH_LONG_NS) : iol_wait_many(a->h, a->n, 0, TH_LONG_NS);
	atomic_store(&a->result, r);
	if (r == 0 && a->n == 1)
		iol_mutex_release(a->h[0]);
	return NULL;
}

static void test_woken_leaver_passes_mark(void **state)
{
	struct th_tab tt;
	pthread_t ta, tb;

	(void)state;
	th_tab_new(&tt, "passmark", 0);
	int m = iol_mutex_open(tt.t, NULL, 0, true);
	int e = iol_event_open(tt.t, NULL, 0, false, false);
	assert_true(m > 0 && e > 0);
	_Atomic uint32_t *word = &crash_slot(m)->word;
	uint32_t owned = atomic_load(word);
	struct any_waiter b = {.h = {m}, .n = 1, .result = INT_MIN};
	struct any_waiter a = {.h = {m, e}, .n = 2, .result = INT_MIN};

	assert_int_equal(pthread_create(&tb, NULL, any_waiter_main, &b), 0);
	while (atomic_load(&b.tid) == 0)
		sched_yield();
	assert_true(th_wait_blocked(b.tid, TH_LONG_MS));
	assert_int_equal(pthread_create(&ta, NULL, any_waiter_main, &a), 0);
	while (atomic_load(&a.tid) == 0)
		sched_yield();
	assert_true(th_wait_blocked(a.tid, TH_LONG_MS));
	assert_int_equal(atomic_load(word), owned | IOLI_MX_SLEEPERS);

	uint32_t v = owned | IOLI_MX_SLEEPERS;
	assert_true(atomic_compare_exchange_strong(word, &v, owned));
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(atomic_load(&a.result), 1); /* it took the event */
	/* B was passed the wake, and marked the word again before sleeping. */
	int64_t end = th_now_ns() + TH_LONG_NS;
	while (atomic_load(word) != (owned | IOLI_MX_SLEEPERS)) {
		if (th_now_ns() > end)
			fail_msg("the sleeper was not passed the wake: word %#x",
				 atomic_load(word));
		sched_yield();
	}
	assert_int_equal(atomic_load(&b.result), INT_MIN);
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(atomic_load(&b.result), 0);
	expect_free(m);
	iol_close(m);
	iol_close(e);
	th_tab_del(&tt);
}

/* ---- abandonment by thread exit --------------------------------------- */

struct owner_arg {
	int m, m2;
	int exit_gate; /* 0: exit at once; else wait for it first */
	bool use_pthread_exit;
	int r;
};

static void *owner_thread(void *arg)
{
	struct owner_arg *o = arg;

	o->r = iol_wait(o->m, 0);
	if (o->r == 0)
		o->r = iol_wait(o->m, 0);
	if (o->r == 0)
		o->r = iol_wait(o->m, 0); /* count 3 */
	if (o->r == 0 && o->m2 > 0)
		o->r = iol_wait(o->m2, 0);
	if (o->r == 0 && o->exit_gate > 0)
		o->r = iol_wait(o->exit_gate, TH_LONG_NS);
	if (o->use_pthread_exit)
		pthread_exit(NULL);
	return NULL; /* still owning */
}

static void test_abandoned_by_thread_exit(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "abandon-thread", 0);
	for (int variant = 0; variant < 2; variant++) {
		struct owner_arg o = {.use_pthread_exit = variant == 1};
		pthread_t th;
		int m2;

		o.m = iol_mutex_open(tt.t, NULL, 0, false);
		o.m2 = iol_mutex_open(tt.t, NULL, 0, false);
		m2 = o.m2;
		assert_int_equal(pthread_create(&th, NULL, owner_thread, &o), 0);
		assert_true(th_join(th, NULL, TH_LONG_MS));
		assert_int_equal(o.r, 0);
		expect_abandoned(o.m);
		expect_abandoned(m2);
		take_abandoned(o.m);
		take_abandoned(m2);
	}
	th_tab_del(&tt);
}

/*
 * The bookkeeping beside the word when releases are not the common case
 * (the last mutex taken, in the table whose record the thread used last):
 * out of order, and alternating between two tables.  Each release gives
 * back exactly its own mutex, and the thread's list of owned mutexes keeps
 * the one it still holds: its exit abandons that one at once, waking a
 * waiter of the same process (which watches no liveness word and would
 * otherwise learn of it only at its deadline), and no other.
 */
struct two_tables {
	int a, b, c; /* a, b in one table, c in another */
	int r[12];
	pid_t tid;
	pthread_barrier_t holding, go;
};

static void *release_orders(void *arg)
{
	struct two_tables *x = arg;
	int *r = x->r;

	r[0] = iol_wait(x->a, 0);
	r[1] = iol_wait(x->b, 0);
	r[2] = iol_wait(x->c, 0);
	r[3] = iol_mutex_release(x->a); /* not the last taken */
	r[4] = iol_mutex_release(x->c);
	r[5] = iol_mutex_release(x->b); /* its record not the last used */
	r[6] = iol_wait(x->a, 0);
	r[7] = iol_wait(x->b, 0);
	r[8] = iol_mutex_release(x->a); /* its record the last used, a not last */
	r[9] = iol_wait(x->c, 0);
	r[10] = iol_mutex_release(x->c);
	r[11] = iol_wait(x->c, 0) == 0 ? iol_mutex_release(x->c) : -1;
	x->tid = th_gettid();
	pthread_barrier_wait(&x->holding);
	pthread_barrier_wait(&x->go);
	return NULL; /* exits owning b */
}

static void test_release_out_of_order_across_tables(void **state)
{
	static const int want[12] = {0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1};
	struct th_tab t1, t2;
	struct two_tables x;
	struct th_waiter w;
	pthread_t th;

	(void)state;
	pthread_barrier_init(&x.holding, NULL, 2);
	pthread_barrier_init(&x.go, NULL, 2);
	th_tab_new(&t1, "release-order-1", 0);
	th_tab_new(&t2, "release-order-2", 0);
	x.a = iol_mutex_open(t1.t, NULL, 0, false);
	x.b = iol_mutex_open(t1.t, NULL, 0, false);
	x.c = iol_mutex_open(t2.t, NULL, 0, false);
	assert_true(x.a > 0 && x.b > 0 && x.c > 0);
	assert_int_equal(pthread_create(&th, NULL, release_orders, &x), 0);
	pthread_barrier_wait(&x.holding);
	for (int i = 0; i < 12; i++)
		assert_int_equal(x.r[i], want[i]);
	expect_free(x.a);
	expect_owned_by(x.b, x.tid, 1);
	expect_free(x.c);
	w = (struct th_waiter){
	    .mode = TH_WAIT, .h = x.b, .timeout_ns = TH_LONG_NS, .then = release_it};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	pthread_barrier_wait(&x.go);
	assert_true(th_join(th, NULL, TH_LONG_MS));
	assert_int_equal(th_waiter_join(&w), IOL_ABANDONED);
	assert_true(w.elapsed_ns < TH_LONG_NS / 2); /* woken, not at its deadline */
	assert_int_equal(w.then_result, 1);
	expect_free(x.a);
	expect_free(x.c);
	assert_int_equal(iol_close(x.a), 0);
	assert_int_equal(iol_close(x.b), 0);
	assert_int_equal(iol_close(x.c), 0);
	th_tab_del(&t2);
	th_tab_del(&t1);
	pthread_barrier_destroy(&x.holding);
	pthread_barrier_destroy(&x.go);
}

/* A thread blocked on the mutex is woken by the owner's exit. */
static void test_abandon_wakes_waiter(void **state)
{
	struct owner_arg o = {0};
	struct th_waiter w;
	struct th_tab tt;
	pthread_t th;

	(void)state;
	th_tab_new(&tt, "abandon-wake", 0);
	o.m = iol_mutex_open(tt.t, NULL, 0, false);
	o.exit_gate = iol_event_open(tt.t, NULL, 0, false, false);
	assert_int_equal(pthread_create(&th, NULL, owner_thread, &o), 0);
	w = (struct th_waiter){
	    .mode = TH_WAIT, .h = o.m, .timeout_ns = TH_LONG_NS, .then = release_it};
	/* The owner is waiting at its gate once the mutex shows it as owner. */
	for (int64_t end = th_now_ns() + TH_LONG_NS; q(o.m).u.mutex.owner_tid == 0;)
		assert_true(th_now_ns() < end);
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_int_equal(iol_event_set(o.exit_gate), 0);
	assert_true(th_join(th, NULL, TH_LONG_MS));
	assert_int_equal(o.r, 0);
	assert_int_equal(th_waiter_join(&w), IOL_ABANDONED);
	assert_int_equal(w.then_result, 1); /* it owned it with count 1 */
	expect_free(o.m);
	assert_int_equal(iol_wait(o.m, 0), 0);
	assert_int_equal(iol_mutex_release(o.m), 1);
	th_tab_del(&tt);
}

/* In wait_many the flag is OR'ed with the index; WAIT_ALL gives 0 | flag. */
static void test_abandoned_in_wait_many(void **state)
{
	struct owner_arg o = {0};
	struct th_tab tt;
	pthread_t th;
	int hs[4], e1, e2, s;

	(void)state;
	th_tab_new(&tt, "abandon-many", 0);
	e1 = iol_event_open(tt.t, NULL, 0, true, false);
	e2 = iol_event_open(tt.t, NULL, 0, true, false);
	s = iol_semaphore_open(tt.t, NULL, 0, 1, 1);

	o.m = iol_mutex_open(tt.t, NULL, 0, false);
	assert_int_equal(pthread_create(&th, NULL, owner_thread, &o), 0);
	assert_true(th_join(th, NULL, TH_LONG_MS));
	hs[0] = e1, hs[1] = e2, hs[2] = o.m, hs[3] = e1;
	assert_int_equal(iol_wait_many(hs, 4, 0, 0), 2 | IOL_ABANDONED);
	expect_owned_by(o.m, th_gettid(), 1);
	assert_int_equal(iol_mutex_release(o.m), 1);

	/* Blocked in wait_many when the owner exits. */
	{
		struct th_waiter w = {
		    .mode = TH_WAIT_MANY, .hs = {e1, o.m}, .n = 2, .timeout_ns = TH_LONG_NS};
		struct owner_arg o2 = {.m = o.m,
				       .exit_gate = iol_event_open(tt.t, NULL, 0, false, false)};

		assert_int_equal(pthread_create(&th, NULL, owner_thread, &o2), 0);
		for (int64_t end = th_now_ns() + TH_LONG_NS; q(o.m).u.mutex.owner_tid == 0;)
			assert_true(th_now_ns() < end);
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(iol_event_set(o2.exit_gate), 0);
		assert_true(th_join(th, NULL, TH_LONG_MS));
		assert_int_equal(th_waiter_join(&w), 1 | IOL_ABANDONED);
		/* the waiter thread exited owning it: abandoned again */
		expect_abandoned(o.m);
	}

	/* WAIT_ALL with an abandoned mutex among the objects. */
	hs[0] = s, hs[1] = o.m;
	assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, 0), IOL_ABANDONED);
	expect_owned_by(o.m, th_gettid(), 1);
	assert_int_equal(q(s).u.semaphore.count, 0);
	assert_int_equal(iol_mutex_release(o.m), 1);
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, 0), 0);
	assert_int_equal(iol_mutex_release(o.m), 1);
	th_tab_del(&tt);
}

/* ---- abandonment by process death ---------------------------------------- */

enum death { DIE_SIGKILL, DIE_EXIT_NOW, DIE_EXIT, DIE_ABORT, DIE_SIGKILL_THREAD, NDEATHS };

static const char *const death_name[NDEATHS] = {"SIGKILL", "_exit", "exit", "abort",
						"SIGKILL (owner a second thread)"};

struct death_arg {
	const char *table;
	enum death how;
	struct th_chan c;
};

static void *child_owner_thread(void *arg)
{
	struct death_arg *a = arg;
	iol_table *t;
	int m;

	if (iol_table_open(a->table, NULL, &t) != 0)
		return NULL;
	m = iol_mutex_open(t, "m", 0, false);
	if (m > 0 && iol_wait(m, 0) == 0 && iol_wait(m, 0) == 0)
		th_say(TH_TO_PARENT(&a->c), 'o');
	for (;;)
		pause();
	return NULL;
}

static int child_dies_owning(void *arg)
{
	struct death_arg *a = arg;
	iol_table *t;
	pthread_t th;
	int m;

	if (a->how == DIE_SIGKILL_THREAD) {
		if (pthread_create(&th, NULL, child_owner_thread, a) != 0)
			return 1;
		for (;;)
			pause();
	}
	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	m = iol_mutex_open(t, "m", 0, false);
	TH_CHECK(m > 0);
	TH_CHECK_EQ(iol_wait(m, 0), 0);
	TH_CHECK_EQ(iol_wait(m, 0), 0); /* count 2 */
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'o'), 0);
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(&a->c), TH_LONG_MS), 'd');
	switch (a->how) {
	case DIE_EXIT_NOW:
		_exit(0);
	case DIE_EXIT:
		exit(0);
	case DIE_ABORT:
		signal(SIGABRT, SIG_DFL);
		abort();
	default:
		for (;;)
			pause();
	}
}

static void die(pid_t pid, struct death_arg *a)
{
	int st;

	if (a->how == DIE_SIGKILL || a->how == DIE_SIGKILL_THREAD) {
		assert_int_equal(kill(pid, SIGKILL), 0);
		st = th_reap(pid, TH_LONG_MS);
		assert_int_equal(st, 128 + SIGKILL);
		return;
	}
	assert_int_equal(th_say(TH_TO_CHILD(&a->c), 'd'), 0);
	st = th_reap(pid, TH_LONG_MS);
	assert_int_equal(st, a->how == DIE_ABORT ? 128 + SIGABRT : 0);
}

static void test_abandoned_by_process_death(void **state)
{
	(void)state;
	for (int how = 0; how < NDEATHS; how++) {
		struct death_arg a = {.how = (enum death)how};
		struct th_tab tt;
		struct iol_info i;
		pid_t pid;
		int m;

		print_message("owner process dies by %s\n", death_name[how]);
		th_tab_new(&tt, "abandon-proc", 0);
		a.table = tt.name;
		th_chan_open(&a.c);
		m = iol_mutex_open(tt.t, "m", IOL_CREATE, false);
		pid = th_spawn(child_dies_owning, &a);
		assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'o');
		i = q(m);
		assert_true(i.u.mutex.owner_tid > 0);
		if (how != DIE_SIGKILL_THREAD)
			assert_int_equal(i.u.mutex.owner_tid, pid);
		assert_int_equal(i.u.mutex.recursion, 2);
		assert_int_equal(iol_wait(m, 0), -ETIMEDOUT);
		die(pid, &a);
		expect_abandoned(m);
		take_abandoned(m);
		th_chan_close(&a.c);
		th_tab_del(&tt);
	}
}

/* A waiter blocked in another process is woken by the owner's death. */
static void test_process_death_wakes_waiter(void **state)
{
	(void)state;
	for (int how = 0; how < NDEATHS; how++) {
		struct death_arg a = {.how = (enum death)how};
		struct th_waiter w;
		struct th_tab tt;
		pid_t pid;
		int m;

		print_message("owner process dies by %s\n", death_name[how]);
		th_tab_new(&tt, "abandon-wake-proc", 0);
		a.table = tt.name;
		th_chan_open(&a.c);
		m = iol_mutex_open(tt.t, "m", IOL_CREATE, false);
		pid = th_spawn(child_dies_owning, &a);
		assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'o');
		w = (struct th_waiter){
		    .mode = TH_WAIT, .h = m, .timeout_ns = TH_LONG_NS, .then = release_it};
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		die(pid, &a);
		assert_int_equal(th_waiter_join(&w), IOL_ABANDONED);
		assert_int_equal(w.then_result, 1);
		expect_free(m);
		th_chan_close(&a.c);
		th_tab_del(&tt);
	}
}

/* ---- between processes ----------------------------------------------- */

struct xproc {
	const char *table;
	struct th_chan c;
};

static int child_xproc(void *arg)
{
	struct xproc *a = arg;
	iol_table *t;
	int m;

	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	m = iol_mutex_open(t, "m", 0, false);
	TH_CHECK(m > 0);
	/* 1: own it (count 2) while the parent tries, then hand it over */
	TH_CHECK_EQ(iol_wait(m, 0), 0);
	TH_CHECK_EQ(iol_wait(m, 0), 0);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'o'), 0);
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(&a->c), TH_LONG_MS), 'r');
	TH_CHECK_EQ(iol_mutex_release(m), 2);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), '1'), 0);
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(&a->c), TH_LONG_MS), 'r');
	TH_CHECK_EQ(iol_mutex_release(m), 1);
	/* 2: block until the parent releases it to us */
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(&a->c), TH_LONG_MS), 'w');
	TH_CHECK_EQ(iol_wait(m, TH_LONG_NS), 0);
	TH_CHECK_EQ(iol_mutex_release(m), 1);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_between_processes(void **state)
{
	struct th_waiter w;
	struct th_tab tt;
	struct xproc a;
	pid_t pid;
	int m;

	(void)state;
	th_tab_new(&tt, "xproc", 0);
	a.table = tt.name;
	th_chan_open(&a.c);
	m = iol_mutex_open(tt.t, "m", IOL_CREATE, false);
	pid = th_spawn(child_xproc, &a);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'o');
	expect_owned_by(m, pid, 2);
	assert_int_equal(iol_wait(m, 0), -ETIMEDOUT);
	assert_int_equal(iol_mutex_release(m), -EPERM);
	w = (struct th_waiter){
	    .mode = TH_WAIT, .h = m, .timeout_ns = TH_LONG_NS, .then = release_it};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_int_equal(th_say(TH_TO_CHILD(&a.c), 'r'), 0);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), '1');
	/* count 1 left: our waiter still sleeps */
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	expect_owned_by(m, pid, 1);
	assert_int_equal(th_say(TH_TO_CHILD(&a.c), 'r'), 0);
	assert_int_equal(th_waiter_join(&w), 0);
	assert_int_equal(w.then_result, 1);

	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(th_say(TH_TO_CHILD(&a.c), 'w'), 0);
	assert_true(th_wait_blocked(pid, TH_LONG_MS));
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
	expect_free(m);
	th_chan_close(&a.c);
	th_tab_del(&tt);
}

/* A wait with a timeout on a mutex another thread holds times out on time
 * and leaves the owner's state alone. */
static void test_timeout_on_owned_mutex(void **state)
{
	struct th_waiter w;
	struct th_tab tt;
	int m;

	(void)state;
	th_tab_new(&tt, "mx-timeout", 0);
	m = iol_mutex_open(tt.t, NULL, 0, true);
	w = (struct th_waiter){.mode = TH_WAIT, .h = m, .timeout_ns = 30 * 1000000LL};
	th_waiter_start(&w);
	assert_int_equal(th_waiter_join(&w), -ETIMEDOUT);
	assert_true(w.elapsed_ns >= 30 * 1000000LL);
	expect_owned_by(m, th_gettid(), 1);
	assert_int_equal(iol_mutex_release(m), 1);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_recursion, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_initial_owner, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_non_owner_thread, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_non_owner_process, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_one_waiter_at_zero, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_abandoned_by_thread_exit, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_abandon_wakes_waiter, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_abandoned_in_wait_many, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_abandoned_by_process_death, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_process_death_wakes_waiter, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_between_processes, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_timeout_on_owned_mutex, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_woken_leaver_passes_mark, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_release_out_of_order_across_tables,
				      th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
