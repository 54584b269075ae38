/* SPDX-License-Identifier: MIT */
/*
 * No lost wakeups, under load: bounded buffers on semaphores and a mutex
 * (threads, then processes), a mutex-protected counter hammered by
 * threads of several processes, ping-pong and a token ring on auto-reset
 * events across processes, signal_and_wait answered by a pulse across
 * processes, and wait_many consumers of two semaphores.
 *
 * Every wait has a generous time limit: a lost wakeup shows up as
 * -ETIMEDOUT (a failure), never as a hung suite.  Counts must add up.
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

#define CAP 4 /* small: producers and consumers block often */

/* ---- bounded buffer ------------------------------------------------------ */

struct ring {
	uint32_t head, tail;
	uint32_t buf[CAP];
	/* results */
	_Atomic uint64_t consumed_sum;
	_Atomic uint32_t consumed_n;
	_Atomic uint32_t errors;
	uint8_t seen[]; /* one byte per item id */
};

struct bb {
	struct ring *r;
	const char *table; /* processes: open by name; threads: handles below */
	int m, space, items;
	uint32_t first, count; /* producer: ids [first, first + count) */
	bool producer;
};

static int bb_open(struct bb *b, iol_table **t)
{
	if (!b->table)
		return 0;
	if (iol_table_open(b->table, NULL, t) != 0)
		return -1;
	b->m = iol_mutex_open(*t, "m", 0, false);
	b->space = iol_semaphore_open(*t, "space", 0, 0, 1);
	b->items = iol_semaphore_open(*t, "items", 0, 0, 1);
	return b->m > 0 && b->space > 0 && b->items > 0 ? 0 : -1;
}

static int bb_run(struct bb *b)
{
	struct ring *r = b->r;
	iol_table *t = NULL;
	int rc;

	if (bb_open(b, &t) != 0)
		return 1;
	for (uint32_t i = 0; i < b->count; i++) {
		rc = iol_wait(b->producer ? b->space : b->items, TH_LONG_NS);
		if (rc != 0) {
			fprintf(stderr, "%s: wait %u: %d\n", b->producer ? "producer" : "consumer",
				i, rc);
			goto fail;
		}
		if (iol_wait(b->m, TH_LONG_NS) != 0)
			goto fail;
		if (b->producer) {
			r->buf[r->tail++ % CAP] = b->first + i;
		} else {
			uint32_t id = r->buf[r->head++ % CAP];

			r->seen[id]++;
			atomic_fetch_add(&r->consumed_sum, id);
			atomic_fetch_add(&r->consumed_n, 1);
		}
		if (iol_mutex_release(b->m) != 1)
			goto fail;
		if (iol_semaphore_release(b->producer ? b->items : b->space, 1) < 0)
			goto fail;
	}
	if (t)
		iol_table_close(t);
	return 0;
fail:
	atomic_fetch_add(&r->errors, 1);
	if (t)
		iol_table_close(t);
	return 1;
}

static void *bb_thread(void *arg)
{
	bb_run(arg);
	return NULL;
}

static int bb_child(void *arg)
{
	return bb_run(arg);
}

#define PER_PRODUCER_T 20000
#define PER_PRODUCER_P 10000

static void check_ring(struct ring *r, uint32_t total)
{
	uint64_t want = (uint64_t)total * (total - 1) / 2;

	assert_int_equal(atomic_load(&r->errors), 0);
	assert_int_equal(atomic_load(&r->consumed_n), total);
	assert_true(atomic_load(&r->consumed_sum) == want);
	for (uint32_t i = 0; i < total; i++)
		if (r->seen[i] != 1)
			fail_msg("item %u consumed %u times", i, r->seen[i]);
}

static void test_bounded_buffer_threads(void **state)
{
	const uint32_t total = 2 * PER_PRODUCER_T;
	size_t sz = sizeof(struct ring) + total;
	struct ring *r = th_shared(sz);
	struct bb b[4];
	pthread_t th[4];
	struct th_tab tt;
	int m, space, items;

	(void)state;
	th_tab_new(&tt, "bb-threads", 0);
	m = iol_mutex_open(tt.t, NULL, 0, false);
	space = iol_semaphore_open(tt.t, NULL, 0, CAP, CAP);
	items = iol_semaphore_open(tt.t, NULL, 0, 0, CAP);
	for (int i = 0; i < 4; i++) {
		b[i] = (struct bb){.r = r,
				   .m = m,
				   .space = space,
				   .items = items,
				   .producer = i < 2,
				   .first = (uint32_t)(i % 2) * PER_PRODUCER_T,
				   .count = PER_PRODUCER_T};
		assert_int_equal(pthread_create(&th[i], NULL, bb_thread, &b[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_true(th_join(th[i], NULL, 3 * TH_LONG_MS));
	check_ring(r, total);
	th_unshared(r, sz);
	th_tab_del(&tt);
}

static void test_bounded_buffer_processes(void **state)
{
	const uint32_t total = 2 * PER_PRODUCER_P;
	size_t sz = sizeof(struct ring) + total;
	struct ring *r = th_shared(sz);
	struct th_tab tt;
	struct bb b[4];
	pid_t pid[4];

	(void)state;
	th_tab_new(&tt, "bb-procs", 0);
	assert_true(iol_mutex_open(tt.t, "m", IOL_CREATE, false) > 0);
	assert_true(iol_semaphore_open(tt.t, "space", IOL_CREATE, CAP, CAP) > 0);
	assert_true(iol_semaphore_open(tt.t, "items", IOL_CREATE, 0, CAP) > 0);
	for (int i = 0; i < 4; i++) {
		b[i] = (struct bb){.r = r,
				   .table = tt.name,
				   .producer = i < 2,
				   .first = (uint32_t)(i % 2) * PER_PRODUCER_P,
				   .count = PER_PRODUCER_P};
		pid[i] = th_spawn(bb_child, &b[i]);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(th_reap(pid[i], 3 * TH_LONG_MS), 0);
	check_ring(r, total);
	th_unshared(r, sz);
	th_tab_del(&tt);
}

/* ---- a counter under a mutex, threads in several processes --------------- */

#define INCS 20000

struct counter {
	uint64_t value; /* plain: only the mutex protects it */
	_Atomic uint32_t errors;
};

struct cnt_arg {
	struct counter *c;
	const char *table;
	int m;
};

static void *cnt_thread(void *arg)
{
	struct cnt_arg *a = arg;

	for (int i = 0; i < INCS; i++) {
		int r = iol_wait(a->m, TH_LONG_NS);

		if (r != 0) {
			fprintf(stderr, "mutex wait: %d\n", r);
			atomic_fetch_add(&a->c->errors, 1);
			return NULL;
		}
		uint64_t v = a->c->value;

		if ((i & 63) == 0)
			sched_yield(); /* hold it a while now and then */
		a->c->value = v + 1;
		if (iol_mutex_release(a->m) != 1) {
			atomic_fetch_add(&a->c->errors, 1);
			return NULL;
		}
	}
	return NULL;
}

static int cnt_child(void *arg)
{
	struct cnt_arg a = *(struct cnt_arg *)arg;
	pthread_t th[2];
	iol_table *t;

	TH_CHECK_EQ(iol_table_open(a.table, NULL, &t), 0);
	a.m = iol_mutex_open(t, "m", 0, false);
	TH_CHECK(a.m > 0);
	for (int i = 0; i < 2; i++)
		TH_CHECK_EQ(pthread_create(&th[i], NULL, cnt_thread, &a), 0);
	for (int i = 0; i < 2; i++)
		TH_CHECK(th_join(th[i], NULL, 6 * TH_LONG_MS));
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_mutex_counter(void **state)
{
	struct counter *c = th_shared(sizeof(*c));
	struct cnt_arg a;
	struct th_tab tt;
	pthread_t th;
	pid_t pid[2];
	int m;

	(void)state;
	th_tab_new(&tt, "counter", 0);
	m = iol_mutex_open(tt.t, "m", IOL_CREATE, false);
	a = (struct cnt_arg){.c = c, .table = tt.name, .m = m};
	for (int i = 0; i < 2; i++)
		pid[i] = th_spawn(cnt_child, &a);
	assert_int_equal(pthread_create(&th, NULL, cnt_thread, &a), 0);
	assert_true(th_join(th, NULL, 6 * TH_LONG_MS));
	for (int i = 0; i < 2; i++)
		assert_int_equal(th_reap(pid[i], 6 * TH_LONG_MS), 0);
	assert_int_equal(atomic_load(&c->errors), 0);
	assert_int_equal(c->value, 5 * INCS);
	th_unshared(c, sizeof(*c));
	th_tab_del(&tt);
}

/* ---- ping-pong across processes ------------------------------------------ */

#define ROUNDS 5000

struct pp_arg {
	const char *table;
	bool use_saw; /* iol_signal_and_wait, else set + wait */
};

static int pp_child(void *arg)
{
	struct pp_arg *a = arg;
	iol_table *t;
	int ping, pong;

	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	ping = iol_event_open(t, "ping", 0, false, false);
	pong = iol_event_open(t, "pong", 0, false, false);
	TH_CHECK(ping > 0 && pong > 0);
	TH_CHECK_EQ(iol_wait(ping, TH_LONG_NS), 0);
	for (int i = 0; i < ROUNDS - 1; i++) {
		if (a->use_saw) {
			TH_CHECK_EQ(iol_signal_and_wait(pong, ping, TH_LONG_NS), 0);
		} else {
			TH_CHECK_EQ(iol_event_set(pong), 0);
			TH_CHECK_EQ(iol_wait(ping, TH_LONG_NS), 0);
		}
	}
	TH_CHECK_EQ(iol_event_set(pong), 0);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_ping_pong_processes(void **state)
{
	(void)state;
	for (int saw = 0; saw < 2; saw++) {
		struct pp_arg a = {.use_saw = saw};
		struct th_tab tt;
		int ping, pong;
		pid_t pid;

		th_tab_new(&tt, "pingpong", 0);
		a.table = tt.name;
		ping = iol_event_open(tt.t, "ping", IOL_CREATE, false, false);
		pong = iol_event_open(tt.t, "pong", IOL_CREATE, false, false);
		pid = th_spawn(pp_child, &a);
		for (int i = 0; i < ROUNDS; i++) {
			int r;

			if (saw) {
				r = iol_signal_and_wait(ping, pong, TH_LONG_NS);
			} else {
				r = iol_event_set(ping);
				if (r == 0)
					r = iol_wait(pong, TH_LONG_NS);
			}
			if (r != 0)
				fail_msg("round %d: %d", i, r);
		}
		assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
		th_tab_del(&tt);
	}
}

/* signal_and_wait answered by a pulse from another process. */
static int pulse_child(void *arg)
{
	const char *table = arg;
	iol_table *t;
	int x, y;

	TH_CHECK_EQ(iol_table_open(table, NULL, &t), 0);
	x = iol_event_open(t, "x", 0, false, false);
	y = iol_event_open(t, "y", 0, false, false);
	TH_CHECK(x > 0 && y > 0);
	for (int i = 0; i < 2000; i++) {
		TH_CHECK_EQ(iol_wait(x, TH_LONG_NS), 0);
		TH_CHECK(iol_event_pulse(y) >= 0);
	}
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_signal_and_wait_pulse_processes(void **state)
{
	(void)state;
	for (int manual = 0; manual < 2; manual++) {
		struct th_tab tt;
		int x, y;
		pid_t pid;

		th_tab_new(&tt, "saw-pulse-x", 0);
		x = iol_event_open(tt.t, "x", IOL_CREATE, false, false);
		y = iol_event_open(tt.t, "y", IOL_CREATE, manual, false);
		pid = th_spawn(pulse_child, tt.name);
		for (int i = 0; i < 2000; i++) {
			int r = iol_signal_and_wait(x, y, TH_LONG_NS);

			if (r != 0)
				fail_msg("round %d (%s): %d", i, manual ? "manual" : "auto", r);
		}
		assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
		th_tab_del(&tt);
	}
}

/* ---- a token ring: 2 processes x 2 threads on auto-reset events ---------- */

#define RING_N	    4
#define RING_ROUNDS 2000

struct ring_arg {
	const char *table;
	iol_table *t; /* one attachment per process, shared by its threads */
	uint64_t *counter;
	_Atomic uint32_t *errors;
	int me;
};

static void *ring_member(void *arg)
{
	struct ring_arg *a = arg;
	iol_table *t = a->t;
	int ev[RING_N];

	for (int i = 0; i < RING_N; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "ev%d", i);
		ev[i] = iol_event_open(t, nm, 0, false, false);
		if (ev[i] <= 0)
			goto fail;
	}
	for (int r = 0; r < RING_ROUNDS; r++) {
		int rc = iol_wait(ev[a->me], TH_LONG_NS);

		if (rc != 0) {
			fprintf(stderr, "ring member %d round %d: %d\n", a->me, r, rc);
			goto fail;
		}
		/* The token goes round in order: the count says whose turn it
		 * is.  Relaxed atomics only because the ordering comes from the
		 * events, through the other process too, where ThreadSanitizer
		 * cannot follow it. */
		uint64_t v = __atomic_load_n(a->counter, __ATOMIC_RELAXED);

		if (v != (uint64_t)r * RING_N + (uint64_t)a->me) {
			fprintf(stderr, "ring member %d round %d: count %llu\n", a->me, r,
				(unsigned long long)v);
			goto fail;
		}
		__atomic_store_n(a->counter, v + 1, __ATOMIC_RELAXED);
		if (iol_event_set(ev[(a->me + 1) % RING_N]) != 0)
			goto fail;
	}
	return NULL;
fail:
	atomic_fetch_add(a->errors, 1);
	return NULL;
}

static int ring_child(void *arg)
{
	struct ring_arg *base = arg, a[2];
	pthread_t th[2];
	iol_table *t;

	TH_CHECK_EQ(iol_table_open(base->table, NULL, &t), 0);
	for (int i = 0; i < 2; i++) {
		a[i] = *base;
		a[i].t = t;
		a[i].me = base->me + i;
		TH_CHECK_EQ(pthread_create(&th[i], NULL, ring_member, &a[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		TH_CHECK(th_join(th[i], NULL, 3 * TH_LONG_MS));
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_token_ring(void **state)
{
	struct {
		uint64_t counter;
		_Atomic uint32_t errors;
	} *sh = th_shared(4096);
	struct ring_arg a[2];
	struct th_tab tt;
	pid_t pid[2];
	int ev0 = 0;

	(void)state;
	th_tab_new(&tt, "ring", 0);
	for (int i = 0; i < RING_N; i++) {
		char nm[16];
		int h;

		snprintf(nm, sizeof(nm), "ev%d", i);
		h = iol_event_open(tt.t, nm, IOL_CREATE, false, false);
		assert_true(h > 0);
		if (i == 0)
			ev0 = h;
	}
	for (int p = 0; p < 2; p++) {
		a[p] = (struct ring_arg){
		    .table = tt.name, .counter = &sh->counter, .errors = &sh->errors, .me = 2 * p};
		pid[p] = th_spawn(ring_child, &a[p]);
	}
	assert_int_equal(iol_event_set(ev0), 0); /* the token */
	for (int p = 0; p < 2; p++)
		assert_int_equal(th_reap(pid[p], 3 * TH_LONG_MS), 0);
	assert_int_equal(atomic_load(&sh->errors), 0);
	assert_int_equal(sh->counter, RING_N * RING_ROUNDS);
	/* the token came back to the start, unconsumed */
	assert_int_equal(iol_wait(ev0, 0), 0);
	th_unshared(sh, 4096);
	th_tab_del(&tt);
}

/* ---- wait_many consumers of two semaphores ---------------------------------- */

#define WM_ITEMS 20000

struct wm {
	int s[2], done;
	_Atomic uint32_t taken_any, taken_all, errors;
};

struct wm_prod {
	struct wm *w;
	int which, n;
};

static void *wm_producer(void *arg)
{
	struct wm_prod *p = arg;

	for (int i = 0; i < p->n; i++)
		if (iol_semaphore_release(p->w->s[p->which], 1) < 0) {
			atomic_fetch_add(&p->w->errors, 1);
			break;
		}
	return NULL;
}

static void *wm_any(void *arg)
{
	struct wm *w = arg;
	int hs[3] = {w->s[0], w->s[1], w->done};

	for (;;) {
		int r = iol_wait_many(hs, 3, 0, TH_LONG_NS);

		if (r == 2)
			return NULL;
		if (r != 0 && r != 1) {
			fprintf(stderr, "wait_many any: %d\n", r);
			atomic_fetch_add(&w->errors, 1);
			return NULL;
		}
		atomic_fetch_add(&w->taken_any, 1);
	}
}

static void *wm_all(void *arg)
{
	struct wm *w = arg;

	for (;;) {
		int r = iol_wait_many(w->s, 2, IOL_WAIT_ALL, 2000000);

		if (r == 0) {
			atomic_fetch_add(&w->taken_all, 1);
			continue;
		}
		if (r != -ETIMEDOUT) {
			atomic_fetch_add(&w->errors, 1);
			return NULL;
		}
		if (iol_wait(w->done, 0) == 0)
			return NULL;
	}
}

static void test_wait_many_consumers(void **state)
{
	struct th_tab tt;
	struct wm w = {0};
	struct wm_prod p[2];
	pthread_t prod[2], cons[3];
	struct iol_info i0, i1;

	(void)state;
	th_tab_new(&tt, "wm", 0);
	w.s[0] = iol_semaphore_open(tt.t, NULL, 0, 0, INT32_MAX);
	w.s[1] = iol_semaphore_open(tt.t, NULL, 0, 0, INT32_MAX);
	w.done = iol_event_open(tt.t, NULL, 0, true, false);
	/* Phase 1: the wait-all consumer alone against both producers. */
	assert_int_equal(pthread_create(&cons[2], NULL, wm_all, &w), 0);
	for (int i = 0; i < 2; i++) {
		p[i] = (struct wm_prod){.w = &w, .which = i, .n = WM_ITEMS / 4};
		assert_int_equal(pthread_create(&prod[i], NULL, wm_producer, &p[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_true(th_join(prod[i], NULL, 3 * TH_LONG_MS));
	assert_true(th_wait_count((_Atomic int *)&w.taken_all, WM_ITEMS / 4, 3 * TH_LONG_MS));
	/* Phase 2: everyone. */
	assert_int_equal(pthread_create(&cons[0], NULL, wm_any, &w), 0);
	assert_int_equal(pthread_create(&cons[1], NULL, wm_any, &w), 0);
	for (int i = 0; i < 2; i++) {
		p[i] = (struct wm_prod){.w = &w, .which = i, .n = WM_ITEMS - WM_ITEMS / 4};
		assert_int_equal(pthread_create(&prod[i], NULL, wm_producer, &p[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_true(th_join(prod[i], NULL, 3 * TH_LONG_MS));
	/* Let the consumers drain everything, then tell them to stop: the
	 * any-mode ones see `done` (index 2) only once both counts are 0. */
	for (int64_t end = th_now_ns() + 3 * TH_LONG_NS;;) {
		assert_int_equal(iol_query(w.s[0], &i0), 0);
		assert_int_equal(iol_query(w.s[1], &i1), 0);
		if (i0.u.semaphore.count == 0 && i1.u.semaphore.count == 0)
			break;
		assert_true(th_now_ns() < end);
		sched_yield();
	}
	assert_int_equal(iol_event_set(w.done), 0);
	for (int i = 0; i < 3; i++)
		assert_true(th_join(cons[i], NULL, 3 * TH_LONG_MS));
	assert_int_equal(atomic_load(&w.errors), 0);
	print_message("any-mode took %u, wait-all took %u pairs\n", atomic_load(&w.taken_any),
		      atomic_load(&w.taken_all));
	assert_int_equal(atomic_load(&w.taken_any) + 2 * atomic_load(&w.taken_all), 2 * WM_ITEMS);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_bounded_buffer_threads, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_bounded_buffer_processes, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_mutex_counter, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_ping_pong_processes, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_signal_and_wait_pulse_processes, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_token_ring, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_many_consumers, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
