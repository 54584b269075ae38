/* SPDX-License-Identifier: MIT */
/*
 * A scribbled table gives errors, not hangs or undefined behaviour, in the
 * processes using it (issue 6, "corrupt or hostile table contents").
 *
 * Each test damages a live table through a second mapping of its file,
 * the way a stray write from another process would, and then uses the
 * library on it: every call must return (a wait with a timeout, within
 * it), with a result or a negative errno.  An alarm turns a hang into a
 * failure.  Run under ASan+UBSan (make SAN=asan test) this also shows no
 * call reads or writes out of bounds.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/crash_helpers.h"

#define TABLE "scribble"

static iol_table *t;
static struct crash_map map;

static int setup(void **state)
{
	struct iol_table_opts opts = {.slots = 64};

	(void)state;
	iol_table_unlink(TABLE);
	if (iol_table_open(TABLE, &opts, &t) != 0)
		return -1;
	crash_map(TABLE, &map);
	alarm(20); /* a hang is a failure */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	crash_unmap(&map);
	iol_table_close(t);
	iol_table_unlink(TABLE);
	return 0;
}

static _Atomic uint32_t *word_of(int h)
{
	return &map.slots[crash_slot_index(h)].word;
}

/* A LOCKED bit nobody holds the wait-all lock for: readers used to spin
 * forever waiting for a wait-all that did not exist, and wait-all slept
 * on it until its timeout.  Now whoever meets it under the wait-all lock
 * clears it. */
static void test_stale_locked_bit(void **state)
{
	int s = iol_semaphore_open(t, NULL, 0, 2, 5);
	int e = iol_event_open(t, NULL, 0, true, true);
	int m = iol_mutex_open(t, NULL, 0, false);
	int all[3] = {s, e, m};
	struct iol_info info;

	(void)state;
	assert_true(s > 0 && e > 0 && m > 0);

	atomic_fetch_or(word_of(s), IOLI_W_LOCKED);
	assert_int_equal(iol_wait(s, 0), 0);
	atomic_fetch_or(word_of(s), IOLI_W_LOCKED);
	assert_int_equal(iol_semaphore_release(s, 1), 1);
	atomic_fetch_or(word_of(e), IOLI_W_LOCKED);
	assert_int_equal(iol_event_reset(e), 1);
	atomic_fetch_or(word_of(e), IOLI_W_LOCKED);
	assert_int_equal(iol_event_set(e), 0);
	atomic_fetch_or(word_of(m), IOLI_W_LOCKED);
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_mutex_release(m), 1);

	for (int i = 0; i < 3; i++)
		atomic_fetch_or(word_of(all[i]), IOLI_W_LOCKED);
	assert_int_equal(iol_wait_many(all, 3, IOL_WAIT_ALL, 1000000000), 0);
	assert_int_equal(iol_query(s, &info), 0);
	assert_int_equal(info.u.semaphore.count, 1);
	assert_int_equal(iol_mutex_release(m), 1);
	for (int i = 0; i < 3; i++) {
		assert_false(atomic_load(word_of(all[i])) & IOLI_W_LOCKED);
		assert_int_equal(iol_close(all[i]), 0);
	}
	crash_assert_clean(TABLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stale_locked_bit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
