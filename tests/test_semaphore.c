/* SPDX-License-Identifier: MIT */
/*
 * Semaphores: creation limits (max 1..INT32_MAX, initial <= max), a wait
 * takes one, release results and errors (0 is -EINVAL, past max is
 * -EOVERFLOW and changes nothing), release(n) releases n waiters, and
 * semaphores between processes.
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

static uint32_t count_of(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_SEMAPHORE);
	return info.u.semaphore.count;
}

static void test_creation_limits(void **state)
{
	static const struct {
		uint32_t initial, max;
		int ok;
	} cases[] = {
	    {0, 0, 0},
	    {1, 0, 0},
	    {0, 1, 1},
	    {1, 1, 1},
	    {2, 1, 0},
	    {5, 4, 0},
	    {0, INT32_MAX, 1},
	    {INT32_MAX, INT32_MAX, 1},
	    {(uint32_t)INT32_MAX + 1, INT32_MAX, 0},
	    {0, (uint32_t)INT32_MAX + 1, 0},
	    {0, UINT32_MAX, 0},
	    {UINT32_MAX, UINT32_MAX, 0},
	    {1, 0x80000001u, 0},
	};
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "sem-limits", 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char nm[32];

		snprintf(nm, sizeof(nm), "s%zu", i);
		for (int named = 0; named < 2; named++) {
			int h = iol_semaphore_open(tt.t, named ? nm : NULL, IOL_CREATE,
						   cases[i].initial, cases[i].max);
			struct iol_info info;

			if (!cases[i].ok) {
				if (h != -EINVAL)
					fail_msg("initial %u max %u: %d, want -EINVAL",
						 cases[i].initial, cases[i].max, h);
				/* and nothing was created under the name */
				assert_int_equal(iol_semaphore_open(tt.t, nm, 0, 0, 1), -ENOENT);
				continue;
			}
			assert_true(h > 0);
			assert_int_equal(iol_query(h, &info), 0);
			assert_int_equal(info.u.semaphore.count, cases[i].initial);
			assert_int_equal(info.u.semaphore.max, cases[i].max);
		}
	}
	th_tab_del(&tt);
}

static void test_wait_takes_one(void **state)
{
	struct th_tab tt;
	int s;

	(void)state;
	th_tab_new(&tt, "sem-take", 0);
	s = iol_semaphore_open(tt.t, "s", IOL_CREATE, 3, 10);
	assert_int_equal(iol_wait(s, 0), 0);
	assert_int_equal(count_of(s), 2);
	assert_int_equal(iol_wait(s, IOL_INFINITE), 0);
	assert_int_equal(count_of(s), 1);
	assert_int_equal(iol_wait(s, 1000000), 0);
	assert_int_equal(count_of(s), 0);
	assert_int_equal(iol_wait(s, 0), -ETIMEDOUT);
	assert_int_equal(iol_wait(s, 1000000), -ETIMEDOUT);
	assert_int_equal(count_of(s), 0);
	th_tab_del(&tt);
}

static void test_release(void **state)
{
	struct th_tab tt;
	int s, big;

	(void)state;
	th_tab_new(&tt, "sem-release", 0);
	s = iol_semaphore_open(tt.t, NULL, 0, 0, 5);
	assert_int_equal(iol_semaphore_release(s, 0), -EINVAL);
	assert_int_equal(count_of(s), 0);
	assert_int_equal(iol_semaphore_release(s, 2), 0);
	assert_int_equal(iol_semaphore_release(s, 1), 2);
	assert_int_equal(count_of(s), 3);
	assert_int_equal(iol_semaphore_release(s, 3), -EOVERFLOW);
	assert_int_equal(count_of(s), 3);
	assert_int_equal(iol_semaphore_release(s, UINT32_MAX), -EOVERFLOW);
	assert_int_equal(iol_semaphore_release(s, 0x80000000u), -EOVERFLOW);
	assert_int_equal(count_of(s), 3);
	assert_int_equal(iol_semaphore_release(s, 0), -EINVAL);
	assert_int_equal(iol_semaphore_release(s, 2), 3); /* exactly to max */
	assert_int_equal(count_of(s), 5);
	assert_int_equal(iol_semaphore_release(s, 1), -EOVERFLOW);
	assert_int_equal(count_of(s), 5);

	/* At the top of the range. */
	big = iol_semaphore_open(tt.t, NULL, 0, INT32_MAX - 2, INT32_MAX);
	assert_int_equal(iol_semaphore_release(big, 3), -EOVERFLOW);
	assert_int_equal(count_of(big), INT32_MAX - 2);
	assert_int_equal(iol_semaphore_release(big, 2), INT32_MAX - 2);
	assert_int_equal(count_of(big), INT32_MAX);
	assert_int_equal(iol_semaphore_release(big, 1), -EOVERFLOW);
	assert_int_equal(iol_semaphore_release(big, UINT32_MAX), -EOVERFLOW);
	assert_int_equal(iol_wait(big, 0), 0);
	assert_int_equal(count_of(big), INT32_MAX - 1);
	big = iol_semaphore_open(tt.t, NULL, 0, 0, INT32_MAX);
	assert_int_equal(iol_semaphore_release(big, INT32_MAX), 0);
	assert_int_equal(count_of(big), INT32_MAX);
	th_tab_del(&tt);
}

/* release(n) with more waiters than n: exactly n are released. */
#define NW 5

static void test_release_n_releases_n(void **state)
{
	struct th_waiter w[NW];
	struct th_tab tt;
	int s;

	(void)state;
	th_tab_new(&tt, "sem-wake", 0);
	s = iol_semaphore_open(tt.t, NULL, 0, 0, 100);
	for (int i = 0; i < NW; i++) {
		w[i] = (struct th_waiter){.mode = TH_WAIT, .h = s, .timeout_ns = TH_LONG_NS};
		th_waiter_start(&w[i]);
	}
	for (int i = 0; i < NW; i++)
		assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
	assert_int_equal(iol_semaphore_release(s, 2), 0);
	{
		int64_t end = th_now_ns() + TH_LONG_NS;
		int d;

		do {
			d = 0;
			for (int i = 0; i < NW; i++)
				d += atomic_load(&w[i].done);
			assert_true(th_now_ns() < end);
		} while (d < 2);
		assert_int_equal(count_of(s), 0);
		for (int i = 0; i < NW; i++)
			if (!atomic_load(&w[i].done))
				assert_true(th_waiter_blocked(&w[i], TH_LONG_MS));
		d = 0;
		for (int i = 0; i < NW; i++)
			d += atomic_load(&w[i].done);
		assert_int_equal(d, 2);
	}
	assert_int_equal(iol_semaphore_release(s, 4), 0);
	for (int i = 0; i < NW; i++)
		assert_int_equal(th_waiter_join(&w[i]), 0);
	assert_int_equal(count_of(s), 1);
	th_tab_del(&tt);
}

struct xarg {
	const char *table;
	struct th_chan c;
};

static int child_sem(void *arg)
{
	struct xarg *a = arg;
	iol_table *t;
	int s;

	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	s = iol_semaphore_open(t, "s", 0, 0, 1);
	TH_CHECK(s > 0);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'w'), 0);
	for (int i = 0; i < 3; i++)
		TH_CHECK_EQ(iol_wait(s, TH_LONG_NS), 0);
	TH_CHECK_EQ(iol_wait(s, 0), -ETIMEDOUT);
	TH_CHECK_EQ(iol_semaphore_release(s, 7), 0);
	TH_CHECK_EQ(iol_semaphore_release(s, 1), -EOVERFLOW);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_between_processes(void **state)
{
	struct th_tab tt;
	struct xarg a;
	pid_t pid;
	int s;

	(void)state;
	th_tab_new(&tt, "sem-xproc", 0);
	a.table = tt.name;
	th_chan_open(&a.c);
	s = iol_semaphore_open(tt.t, "s", IOL_CREATE, 0, 7);
	pid = th_spawn(child_sem, &a);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'w');
	assert_true(th_wait_blocked(pid, TH_LONG_MS));
	assert_int_equal(iol_semaphore_release(s, 3), 0);
	assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
	assert_int_equal(count_of(s), 7);
	th_chan_close(&a.c);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_creation_limits, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wait_takes_one, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_release, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_release_n_releases_n, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_between_processes, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
