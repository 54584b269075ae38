/* SPDX-License-Identifier: MIT */
/*
 * The errors of include/iolayer.h a caller can hit, table-driven: bad
 * handles (-EBADF) for every handle-taking call, handles of the wrong type
 * (-EINVAL), NULL arguments and unknown flags (-EINVAL), the process
 * handle space (-EMFILE) and memory (-ENOMEM).  Errors tied to one
 * semantic are tested beside it:
 *
 *   -EINVAL table names, opts      test_table   -EINVAL names, sem limits  test_objects,
 *   -EACCES, -ELOOP, -EPROTO,      test_table                              test_semaphore
 *   -EUSERS, -ENOSPC                            -ENAMETOOLONG, -ENOENT,
 *   -EPERM (mutex release)         test_mutex    -EEXIST                   test_objects
 *   -EOVERFLOW (semaphore)         test_semaphore -ETIMEDOUT, -EXDEV,
 *   -ENOSYS (no futex_waitv)       test_seccomp   timeouts, n, duplicates  test_wait
 *
 * Not tested, with the reason: -EOVERFLOW for a mutex recursion past
 * UINT32_MAX (2^32 acquisitions: minutes), -EAGAIN when a table runs out
 * of its 16384 thread records (as many live threads at once).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/helpers.h"

/* Every handle-taking call on h; `good` is a valid, available semaphore
 * (count 1) for the calls that take two handles.  Returns the number of
 * calls that did not give -EBADF (and prints them). */
static int all_calls_ebadf(int h, int good)
{
	struct iol_info info;
	uint64_t tok;
	int bad = 0, hs[2];

#define EXPECT_EBADF(call)                                                                         \
	do {                                                                                       \
		int r_ = (call);                                                                   \
		if (r_ != -EBADF) {                                                                \
			fprintf(stderr, "handle %d: %s = %d, want -EBADF\n", h, #call, r_);        \
			bad++;                                                                     \
		}                                                                                  \
	} while (0)

	EXPECT_EBADF(iol_mutex_release(h));
	EXPECT_EBADF(iol_event_set(h));
	EXPECT_EBADF(iol_event_reset(h));
	EXPECT_EBADF(iol_event_pulse(h));
	EXPECT_EBADF(iol_semaphore_release(h, 1));
	EXPECT_EBADF(iol_wait(h, 0));
	EXPECT_EBADF(iol_wait(h, 1000));
	EXPECT_EBADF(iol_wait(h, IOL_INFINITE));
	hs[0] = h;
	EXPECT_EBADF(iol_wait_many(hs, 1, 0, 0));
	EXPECT_EBADF(iol_wait_many(hs, 1, IOL_WAIT_ALL, IOL_INFINITE));
	/* a bad handle among good ones: an error, and nothing acquired */
	if (good > 0) {
		hs[0] = good, hs[1] = h;
		EXPECT_EBADF(iol_wait_many(hs, 2, 0, IOL_INFINITE));
		EXPECT_EBADF(iol_wait_many(hs, 2, IOL_WAIT_ALL, IOL_INFINITE));
		EXPECT_EBADF(iol_signal_and_wait(h, good, IOL_INFINITE));
		EXPECT_EBADF(iol_signal_and_wait(good, h, IOL_INFINITE));
		if (iol_query(good, &info) != 0 || info.u.semaphore.count != 1) {
			fprintf(stderr, "handle %d: the good semaphore changed\n", h);
			bad++;
		}
	}
	EXPECT_EBADF(iol_signal_and_wait(h, h, 0));
	EXPECT_EBADF(iol_dup(h));
	EXPECT_EBADF(iol_export(h, &tok));
	EXPECT_EBADF(iol_query(h, &info));
	EXPECT_EBADF(iol_close(h));
	EXPECT_EBADF(iol_close(h));
#undef EXPECT_EBADF
	return bad;
}

static const int never_handles[] = {0,	    -1,	      -2,	  INT_MIN, INT_MIN + 1, 1,
				    2,	    255,      256,	  257,	   511,		0x100,
				    0xffff, 0x7fffff, 0x12345678, INT_MAX, INT_MAX - 1};

/* In a fork()ed child no value is a handle: try values of every shape. */
static int child_no_handles(void *arg)
{
	const char *table = arg;
	iol_table *t;
	int good, bad = 0;

	TH_CHECK_EQ(iol_table_open(table, NULL, &t), 0);
	good = iol_semaphore_open(t, NULL, 0, 1, 1);
	TH_CHECK(good > 0);
	for (size_t i = 0; i < sizeof(never_handles) / sizeof(never_handles[0]); i++)
		if (never_handles[i] != good)
			bad += all_calls_ebadf(never_handles[i], good);
	/* Values near the one real handle. */
	for (int d = -600; d <= 600; d++)
		if (d != 0 && good + d != good)
			bad += all_calls_ebadf(good + d, good) ? 1 : 0;
	TH_CHECK_EQ(bad, 0);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_values_that_are_not_handles(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "nothandles", 0);
	assert_int_equal(th_run(child_no_handles, tt.name), 0);
	th_tab_del(&tt);
}

/* Closed handles, and handles of a closed table. */
static void test_closed_handles(void **state)
{
	struct th_tab tt, t2;
	int good, h[3], x;

	(void)state;
	th_tab_new(&tt, "closed", 0);
	th_tab_new(&t2, "closed-table", 0);
	good = iol_semaphore_open(tt.t, NULL, 0, 1, 1);
	h[0] = iol_mutex_open(tt.t, NULL, 0, false);
	h[1] = iol_event_open(tt.t, "e", IOL_CREATE, false, false);
	h[2] = iol_semaphore_open(tt.t, NULL, 0, 0, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(iol_close(h[i]), 0);
		assert_int_equal(all_calls_ebadf(h[i], good), 0);
	}
	x = iol_event_open(t2.t, NULL, 0, false, false);
	assert_true(x > 0);
	assert_int_equal(iol_table_close(t2.t), 0);
	t2.t = NULL;
	assert_int_equal(all_calls_ebadf(x, good), 0);
	th_tab_del(&t2);
	th_tab_del(&tt);
}

/* Wrong type for the call: -EINVAL, and the object is untouched. */
static void test_wrong_types(void **state)
{
	struct iol_info before, after;
	struct th_tab tt;
	int m, e, s;

	(void)state;
	th_tab_new(&tt, "types", 0);
	m = iol_mutex_open(tt.t, NULL, 0, true);
	e = iol_event_open(tt.t, NULL, 0, false, true);
	s = iol_semaphore_open(tt.t, NULL, 0, 1, 5);
	const struct {
		const char *what;
		int h;
		int (*fn)(int);
	} cases[] = {
	    {"mutex_release(event)", e, iol_mutex_release},
	    {"mutex_release(semaphore)", s, iol_mutex_release},
	    {"event_set(mutex)", m, iol_event_set},
	    {"event_set(semaphore)", s, iol_event_set},
	    {"event_reset(mutex)", m, iol_event_reset},
	    {"event_reset(semaphore)", s, iol_event_reset},
	    {"event_pulse(mutex)", m, iol_event_pulse},
	    {"event_pulse(semaphore)", s, iol_event_pulse},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		assert_int_equal(iol_query(cases[i].h, &before), 0);
		r = cases[i].fn(cases[i].h);
		if (r != -EINVAL)
			fail_msg("%s = %d, want -EINVAL", cases[i].what, r);
		assert_int_equal(iol_query(cases[i].h, &after), 0);
		assert_memory_equal(&before, &after, sizeof(before));
	}
	for (int k = 0; k < 2; k++) {
		int h = k ? e : m;

		assert_int_equal(iol_query(h, &before), 0);
		assert_int_equal(iol_semaphore_release(h, 1), -EINVAL);
		assert_int_equal(iol_semaphore_release(h, 0), -EINVAL);
		assert_int_equal(iol_query(h, &after), 0);
		assert_memory_equal(&before, &after, sizeof(before));
	}
	th_tab_del(&tt);
}

static void test_null_arguments(void **state)
{
	struct th_tab tt;
	int h;

	(void)state;
	th_tab_new(&tt, "nulls", 0);
	h = iol_event_open(tt.t, NULL, 0, false, false);
	assert_int_equal(iol_table_open("x", NULL, NULL), -EINVAL);
	assert_int_equal(iol_table_close(NULL), -EINVAL);
	assert_int_equal(iol_mutex_open(NULL, "x", IOL_CREATE, false), -EINVAL);
	assert_int_equal(iol_event_open(NULL, "x", IOL_CREATE, false, false), -EINVAL);
	assert_int_equal(iol_semaphore_open(NULL, "x", IOL_CREATE, 0, 1), -EINVAL);
	assert_int_equal(iol_query(h, NULL), -EINVAL);
	assert_int_equal(iol_export(h, NULL), -EINVAL);
	assert_int_equal(iol_import(NULL, 0), -EINVAL);
	assert_int_equal(iol_wait_many(NULL, 1, 0, 0), -EINVAL);
	assert_int_equal(iol_wait_many(NULL, 1, IOL_WAIT_ALL, IOL_INFINITE), -EINVAL);
	th_tab_del(&tt);
}

static void test_unknown_flags(void **state)
{
	static const unsigned bad[] = {
	    IOL_EXCL, 0x4, 0x8, 0x100, 0x80000000u, IOL_CREATE | 0x4, IOL_CREATE | IOL_EXCL | 0x10};
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "flags", 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int named = 0; named < 2; named++) {
			const char *nm = named ? "obj" : NULL;

			assert_int_equal(iol_mutex_open(tt.t, nm, bad[i], false), -EINVAL);
			assert_int_equal(iol_event_open(tt.t, nm, bad[i], false, false), -EINVAL);
			assert_int_equal(iol_semaphore_open(tt.t, nm, bad[i], 0, 1), -EINVAL);
		}
	}
	assert_int_equal(iol_mutex_open(tt.t, "obj", 0, false), -ENOENT);
	{
		int e = iol_event_open(tt.t, NULL, 0, false, true), hs[1] = {e};

		assert_int_equal(iol_wait_many(hs, 1, 0x2, 0), -EINVAL);
		assert_int_equal(iol_wait_many(hs, 1, 0x80000000u, 0), -EINVAL);
		assert_int_equal(iol_wait(e, 0), 0); /* not consumed by the refusals */
	}
	{
		struct iol_table_opts o = {.flags = 0x2};
		iol_table *t;

		assert_int_equal(iol_table_open("flags-bad", &o, &t), -EINVAL);
	}
	th_tab_del(&tt);
}

/* 2^23 handles per process: the next is -EMFILE; closing one makes room. */
static int child_emfile(void *arg)
{
	const char *table = arg;
	iol_table *t;
	long n = 1;
	int h, r, first, last = 0;

	TH_CHECK_EQ(iol_table_open(table, NULL, &t), 0);
	h = iol_event_open(t, NULL, 0, false, false);
	TH_CHECK(h > 0);
	first = iol_dup(h);
	TH_CHECK(first > 0);
	n++;
	while ((r = iol_dup(h)) > 0) {
		last = r;
		n++;
	}
	fprintf(stderr, "%ld handles, then %d\n", n, r);
	TH_CHECK_EQ(r, -EMFILE);
	TH_CHECK_EQ(n, 1L << 23);
	TH_CHECK_EQ(iol_event_open(t, NULL, 0, false, false), -EMFILE);
	TH_CHECK_EQ(iol_close(first), 0);
	TH_CHECK(iol_dup(h) > 0);
	TH_CHECK_EQ(iol_dup(last), -EMFILE);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_emfile(void **state)
{
	struct th_tab tt;

	(void)state;
#if defined(__SANITIZE_THREAD__)
	print_message("skipped under ThreadSanitizer: 2^23 handles take about a minute there\n");
	skip();
#endif
	th_tab_new(&tt, "emfile", 0);
	assert_int_equal(th_reap(th_spawn(child_emfile, tt.name), 6 * TH_LONG_MS), 0);
	th_tab_del(&tt);
}

/* Out of memory for the process-local handle table: -ENOMEM, no crash.
 * (Address-space limits and sanitizers' shadow memory do not mix.) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static int child_enomem(void *arg)
{
	const char *table = arg;
	struct rlimit rl;
	iol_table *t, *t2;
	char line[256];
	long vm_kb = 0;
	FILE *f;
	int h, r, n = 0;

	TH_CHECK_EQ(iol_table_open(table, NULL, &t), 0);
	h = iol_event_open(t, NULL, 0, false, false);
	TH_CHECK(h > 0);
	f = fopen("/proc/self/status", "r");
	TH_CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &vm_kb) == 1)
			break;
	fclose(f);
	TH_CHECK(vm_kb > 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_kb + 2048) * 1024;
	TH_CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
	while ((r = iol_dup(h)) > 0)
		n++;
	fprintf(stderr, "%d handles, then %d\n", n, r);
	TH_CHECK_EQ(r, -ENOMEM);
	/* A table cannot be mapped either. */
	TH_CHECK_EQ(iol_table_open(table, NULL, &t2), -ENOMEM);
	/* Everything already open still works. */
	TH_CHECK_EQ(iol_event_set(h), 0);
	TH_CHECK_EQ(iol_wait(h, 0), 0);
	return 0;
}

static void test_enomem(void **state)
{
	struct th_tab tt;

	(void)state;
#ifdef UNDER_SANITIZER
	print_message("skipped under a sanitizer: RLIMIT_AS breaks its shadow memory\n");
	skip();
#endif
	th_tab_new(&tt, "enomem", 0);
	assert_int_equal(th_run(child_enomem, tt.name), 0);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_values_that_are_not_handles, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_closed_handles, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_wrong_types, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_null_arguments, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_unknown_flags, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_emfile, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_enomem, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
