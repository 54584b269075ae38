/* SPDX-License-Identifier: MIT */
/*
 * Events: manual- and auto-reset, set/reset/pulse results, who a set or a
 * pulse releases (all present waiters, or exactly one), pulse with no
 * waiters, late arrivals, and events between processes.
 */
#include <errno.h>
#include <setjmp.h>
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

static bool signaled(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_EVENT);
	return info.u.event.signaled;
}

static void start_waiters(struct th_waiter *w, unsigned n, int h)
{
	for (unsigned i = 0; i < n; i++) {
		w[i] = (struct th_waiter){.mode = TH_WAIT, .h = h, .timeout_ns = TH_LONG_NS};
		th_waiter_start(&w[i]);
	}
	for (unsigned i = 0; i < n; i++)
		assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
}

static unsigned count_done(struct th_waiter *w, unsigned n)
{
	unsigned d = 0;

	for (unsigned i = 0; i < n; i++)
		d += atomic_load(&w[i].done) != 0;
	return d;
}

/* Wait until at least `want` of the waiters are done; return how many. */
static unsigned wait_done(struct th_waiter *w, unsigned n, unsigned want)
{
	int64_t end = th_now_ns() + TH_LONG_NS;
	unsigned d;

	while ((d = count_done(w, n)) < want) {
		if (th_now_ns() > end)
			fail_msg("only %u of %u waiters finished", d, want);
		sched_yield();
	}
	return d;
}

/* ---- state and results ------------------------------------------------ */

static void test_previous_state(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "prev", 0);
	for (int manual = 0; manual < 2; manual++) {
		int e = iol_event_open(tt.t, NULL, 0, manual, false);

		assert_false(signaled(e));
		assert_int_equal(iol_event_set(e), 0);
		assert_true(signaled(e));
		assert_int_equal(iol_event_set(e), 1);
		assert_true(signaled(e));
		assert_int_equal(iol_event_reset(e), 1);
		assert_false(signaled(e));
		assert_int_equal(iol_event_reset(e), 0);
		assert_false(signaled(e));
		assert_int_equal(iol_event_pulse(e), 0);
		assert_false(signaled(e));
		assert_int_equal(iol_event_set(e), 0);
		assert_int_equal(iol_event_pulse(e), 1);
		assert_false(signaled(e));
		assert_int_equal(iol_event_pulse(e), 0);

		e = iol_event_open(tt.t, NULL, 0, manual, true);
		assert_true(signaled(e));
		assert_int_equal(iol_event_set(e), 1);
		assert_int_equal(iol_event_reset(e), 1);
	}
	th_tab_del(&tt);
}

static void test_manual_stays_signaled(void **state)
{
	struct th_tab tt;
	int e, hs[2];

	(void)state;
	th_tab_new(&tt, "manual", 0);
	e = iol_event_open(tt.t, "e", IOL_CREATE, true, false);
	assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
	assert_int_equal(iol_event_set(e), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(iol_wait(e, 0), 0);
	hs[0] = e, hs[1] = e;
	assert_int_equal(iol_wait_many(hs, 2, 0, 0), 0);
	assert_int_equal(iol_wait_many(hs, 1, IOL_WAIT_ALL, 0), 0);
	assert_true(signaled(e));
	assert_int_equal(iol_event_reset(e), 1);
	assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
	th_tab_del(&tt);
}

static void test_auto_consumed_by_one_wait(void **state)
{
	struct th_tab tt;
	int e, hs[2];

	(void)state;
	th_tab_new(&tt, "auto", 0);
	e = iol_event_open(tt.t, "e", IOL_CREATE, false, true);
	assert_int_equal(iol_wait(e, 0), 0);
	assert_false(signaled(e));
	assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(iol_wait(e, IOL_INFINITE), 0);
	assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
	/* the same in wait_many, both modes, duplicates included */
	hs[0] = e, hs[1] = e;
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(iol_wait_many(hs, 2, 0, 0), 0);
	assert_false(signaled(e));
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(iol_wait_many(hs, 1, IOL_WAIT_ALL, 0), 0);
	assert_false(signaled(e));
	th_tab_del(&tt);
}

/* ---- set: who is released -------------------------------------------- */

#define N 4

static void test_manual_set_releases_all(void **state)
{
	struct th_waiter w[N];
	struct th_tab tt;
	int e;

	(void)state;
	th_tab_new(&tt, "manual-all", 0);
	e = iol_event_open(tt.t, NULL, 0, true, false);
	start_waiters(w, N, e);
	assert_int_equal(iol_event_set(e), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(th_waiter_join(&w[i]), 0);
	assert_true(signaled(e));
	th_tab_del(&tt);
}

static void test_auto_set_releases_one(void **state)
{
	struct th_waiter w[N];
	struct th_tab tt;
	int e;

	(void)state;
	th_tab_new(&tt, "auto-one", 0);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	start_waiters(w, N, e);
	for (unsigned round = 1; round <= N; round++) {
		assert_int_equal(iol_event_set(e), 0);
		assert_int_equal(wait_done(w, N, round), round);
		/* the one released took the signal; the others still sleep */
		assert_false(signaled(e));
		for (int i = 0; i < N; i++)
			if (!atomic_load(&w[i].done))
				assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
		assert_int_equal(count_done(w, N), round);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(th_waiter_join(&w[i]), 0);
	th_tab_del(&tt);
}

/* ---- pulse -------------------------------------------------------------- */

static void test_pulse_manual_releases_present(void **state)
{
	struct th_waiter w[N], late;
	struct th_tab tt;
	int e;

	(void)state;
	th_tab_new(&tt, "pulse-manual", 0);
	e = iol_event_open(tt.t, NULL, 0, true, false);
	for (int round = 0; round < 20; round++) {
		start_waiters(w, N, e);
		assert_int_equal(iol_event_pulse(e), 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(th_waiter_join(&w[i]), 0);
		assert_false(signaled(e));
	}
	/* A waiter that arrives after the pulse is not released by it. */
	late = (struct th_waiter){.mode = TH_WAIT, .h = e, .timeout_ns = 50 * MS};
	th_waiter_start(&late);
	assert_int_equal(th_waiter_join(&late), -ETIMEDOUT);
	th_tab_del(&tt);
}

/*
 * Auto-reset: one pulse releases exactly one of N waiters.  After it, each
 * set must release exactly one more and be consumed; if the pulse had
 * released two, one set would find nobody and stay signaled.
 */
static void test_pulse_auto_releases_one(void **state)
{
	struct th_waiter w[N];
	struct th_tab tt;
	int e;

	(void)state;
	th_tab_new(&tt, "pulse-auto", 0);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	for (int round = 0; round < 10; round++) {
		start_waiters(w, N, e);
		assert_int_equal(iol_event_pulse(e), 0);
		assert_int_equal(wait_done(w, N, 1), 1);
		assert_false(signaled(e));
		for (int i = 0; i < N; i++)
			if (!atomic_load(&w[i].done))
				assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
		assert_int_equal(count_done(w, N), 1);
		for (unsigned k = 2; k <= N; k++) {
			assert_int_equal(iol_event_set(e), 0);
			assert_int_equal(wait_done(w, N, k), k);
		}
		for (int i = 0; i < N; i++)
			assert_int_equal(th_waiter_join(&w[i]), 0);
		assert_false(signaled(e));
	}
	th_tab_del(&tt);
}

/* With no waiters a pulse only resets. */
static void test_pulse_without_waiters(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "pulse-none", 0);
	for (int manual = 0; manual < 2; manual++) {
		int e = iol_event_open(tt.t, NULL, 0, manual, true);
		struct th_waiter late;

		assert_int_equal(iol_event_pulse(e), 1);
		assert_false(signaled(e));
		assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
		for (int i = 0; i < 100; i++)
			assert_int_equal(iol_event_pulse(e), 0);
		/* None of those pulses is banked for a later waiter. */
		late = (struct th_waiter){.mode = TH_WAIT, .h = e, .timeout_ns = 30 * MS};
		th_waiter_start(&late);
		assert_int_equal(th_waiter_join(&late), -ETIMEDOUT);
		assert_true(late.elapsed_ns >= 30 * MS);
	}
	th_tab_del(&tt);
}

/* Auto-reset: one pulse, two waiters; a third arrives afterwards.  The
 * pulse's one release is spent: the late one sleeps until a set, and one
 * set releases one of the two left. */
static void test_pulse_auto_late_arrival(void **state)
{
	struct th_waiter w[2], late;
	struct th_tab tt;
	int e;

	(void)state;
	th_tab_new(&tt, "pulse-late", 0);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	for (int round = 0; round < 10; round++) {
		struct th_waiter *all[3] = {&w[0], &w[1], &late};
		unsigned d = 0;

		start_waiters(w, 2, e);
		assert_int_equal(iol_event_pulse(e), 0);
		assert_int_equal(wait_done(w, 2, 1), 1);
		late = (struct th_waiter){.mode = TH_WAIT, .h = e, .timeout_ns = TH_LONG_NS};
		th_waiter_start(&late);
		assert_true(th_waiter_blocked(&late, TH_LONG_MS));
		assert_int_equal(count_done(w, 2), 1);
		assert_int_equal(iol_event_set(e), 0);
		for (int64_t end = th_now_ns() + TH_LONG_NS; d < 3; sched_yield()) {
			d = 0;
			for (int i = 0; i < 3; i++)
				d += atomic_load(&all[i]->done) != 0;
			if (d == 2)
				break;
			assert_true(th_now_ns() < end);
		}
		assert_int_equal(d, 2);
		for (int i = 0; i < 3; i++)
			if (!atomic_load(&all[i]->done))
				assert_true(th_waiter_blocked(all[i], TH_LONG_MS));
		assert_false(signaled(e));
		assert_int_equal(iol_event_set(e), 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(th_waiter_join(all[i]), 0);
		assert_false(signaled(e));
	}
	th_tab_del(&tt);
}

/* A pulse reaches a thread waiting on several objects (any of them). */
static void test_pulse_releases_wait_many(void **state)
{
	struct th_waiter w;
	struct th_tab tt;
	int e1, e2;

	(void)state;
	th_tab_new(&tt, "pulse-many", 0);
	for (int manual = 0; manual < 2; manual++) {
		e1 = iol_event_open(tt.t, NULL, 0, manual, false);
		e2 = iol_event_open(tt.t, NULL, 0, manual, false);
		w = (struct th_waiter){
		    .mode = TH_WAIT_MANY, .hs = {e1, e2}, .n = 2, .timeout_ns = TH_LONG_NS};
		th_waiter_start(&w);
		assert_true(th_waiter_blocked(&w, TH_LONG_MS));
		assert_int_equal(iol_event_pulse(e2), 0);
		assert_int_equal(th_waiter_join(&w), 1);
		assert_false(signaled(e1));
		assert_false(signaled(e2));
	}
	th_tab_del(&tt);
}

/* The header: a thread blocked in IOL_WAIT_ALL is not released by a pulse. */
static void test_pulse_does_not_release_wait_all(void **state)
{
	struct th_waiter w;
	struct th_tab tt;
	int e, s;

	(void)state;
	th_tab_new(&tt, "pulse-all", 0);
	e = iol_event_open(tt.t, NULL, 0, false, false);
	s = iol_semaphore_open(tt.t, NULL, 0, 1, 1);
	w = (struct th_waiter){.mode = TH_WAIT_MANY,
			       .hs = {s, e},
			       .n = 2,
			       .flags = IOL_WAIT_ALL,
			       .timeout_ns = TH_LONG_NS};
	th_waiter_start(&w);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_int_equal(iol_event_pulse(e), 0);
	assert_true(th_waiter_blocked(&w, TH_LONG_MS));
	assert_false(signaled(e));
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(th_waiter_join(&w), 0);
	assert_false(signaled(e));
	th_tab_del(&tt);
}

/* ---- between processes ------------------------------------------------- */

struct xarg {
	const char *table;
	struct th_chan c;
};

static int child_events(void *arg)
{
	struct xarg *a = arg;
	iol_table *t;
	int man, aut, pul;

	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	man = iol_event_open(t, "manual", 0, false, false);
	aut = iol_event_open(t, "auto", 0, true, false); /* args ignored */
	pul = iol_event_open(t, "pulsed", 0, false, false);
	TH_CHECK(man > 0 && aut > 0 && pul > 0);
	/* Before each blocking wait, tell the parent which one it is: once
	 * we are asleep after saying so, we are asleep in that wait. */
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'm'), 0);
	TH_CHECK_EQ(iol_wait(man, TH_LONG_NS), 0); /* blocks: parent sets */
	TH_CHECK_EQ(iol_wait(man, 0), 0);	   /* still signaled */
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'a'), 0);
	TH_CHECK_EQ(iol_wait(aut, TH_LONG_NS), 0); /* blocks: parent sets */
	TH_CHECK_EQ(iol_wait(aut, 0), -ETIMEDOUT); /* consumed */
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'p'), 0);
	TH_CHECK_EQ(iol_wait(pul, TH_LONG_NS), 0); /* blocks: parent pulses */
	TH_CHECK_EQ(iol_wait(pul, 30 * MS), -ETIMEDOUT);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_events_between_processes(void **state)
{
	struct th_tab tt;
	struct xarg a;
	int man, aut, pul;
	pid_t pid;

	(void)state;
	th_tab_new(&tt, "xproc-ev", 0);
	a.table = tt.name;
	th_chan_open(&a.c);
	man = iol_event_open(tt.t, "manual", IOL_CREATE, true, false);
	aut = iol_event_open(tt.t, "auto", IOL_CREATE, false, false);
	pul = iol_event_open(tt.t, "pulsed", IOL_CREATE, false, false);
	pid = th_spawn(child_events, &a);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'm');
	assert_true(th_wait_blocked(pid, TH_LONG_MS));
	assert_int_equal(iol_event_set(man), 0);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'a');
	assert_true(th_wait_blocked(pid, TH_LONG_MS));
	assert_int_equal(iol_event_set(aut), 0);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'p');
	assert_true(th_wait_blocked(pid, TH_LONG_MS));
	assert_int_equal(iol_event_pulse(pul), 0);
	assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
	assert_true(signaled(man));
	assert_false(signaled(aut));
	assert_false(signaled(pul));
	th_chan_close(&a.c);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_previous_state, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_manual_stays_signaled, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_auto_consumed_by_one_wait, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_manual_set_releases_all, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_auto_set_releases_one, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_pulse_manual_releases_present, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_pulse_auto_releases_one, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_pulse_without_waiters, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_pulse_auto_late_arrival, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_pulse_releases_wait_many, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_pulse_does_not_release_wait_all, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_events_between_processes, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
