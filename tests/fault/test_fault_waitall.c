/* SPDX-License-Identifier: MIT */
/*
 * Death inside a wait-all, and between taking a mutex and recording it
 * (fault-injection build).
 *
 * A child process waits for all of a semaphore (count 2), an auto-reset
 * event (set) and a free mutex, and dies at the n-th "waitall.locking"
 * point (after it set LOCKED on the n-th word, holding L) or the n-th
 * "waitall.commit" point (after it stored the n-th committed value).  The
 * first operation of another process that meets a LOCKED word recovers L
 * from the journal: a death while locking takes nothing (rolled back), a
 * death while committing takes everything (rolled forward, the mutex then
 * abandoned by its dead owner).  Never part of the objects, never a word
 * left LOCKED.
 *
 * "mutex.acquired": the owner dies right after its acquiring CAS, before
 * any bookkeeping: the next waiter gets IOL_ABANDONED.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
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

#define TABLE "fault-waitall"

static int child(const char *op)
{
	iol_table *t;

	if (iol_table_open(TABLE, NULL, &t) != 0)
		return 2;
	int h[3] = {iol_semaphore_open(t, "s", 0, 0, 1), iol_event_open(t, "e", 0, false, false),
		    iol_mutex_open(t, "m", 0, false)};
	if (h[0] <= 0 || h[1] <= 0 || h[2] <= 0)
		return 3;
	if (!strcmp(op, "waitall")) {
		if (iol_wait_many(h, 3, IOL_WAIT_ALL, 0) != 0)
			return 4;
		/* Done: as if the process then died holding the mutex. */
		_exit(0);
	}
	if (!strcmp(op, "mutex")) {
		if (iol_wait(h[2], 0) != 0)
			return 5;
		_exit(0);
	}
	return 6;
}

static iol_table *pt;
static int s, e, m;
static struct crash_snap s0;

static int setup(void **state)
{
	struct iol_table_opts opts = {.slots = 64};

	(void)state;
	iol_table_unlink(TABLE);
	if (iol_table_open(TABLE, &opts, &pt) != 0)
		return -1;
	s = iol_semaphore_open(pt, "s", IOL_CREATE, 2, 10);
	e = iol_event_open(pt, "e", IOL_CREATE, false, true);
	m = iol_mutex_open(pt, "m", IOL_CREATE, false);
	if (s <= 0 || e <= 0 || m <= 0)
		return -1;
	crash_snapshot(TABLE, &s0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	crash_snap_free(&s0);
	iol_table_close(pt);
	iol_table_unlink(TABLE);
	return 0;
}

static uint32_t sem_count(void)
{
	struct iol_info info;

	assert_int_equal(iol_query(s, &info), 0);
	return info.u.semaphore.count;
}

static void no_word_locked(void)
{
	assert_false(atomic_load(&crash_slot(s)->word) & IOLI_W_LOCKED);
	assert_false(atomic_load(&crash_slot(e)->word) & IOLI_W_LOCKED);
	assert_false(atomic_load(&crash_slot(m)->word) & IOLI_W_LOCKED);
}

/*
 * After the child: the parent's own wait-all over the same objects.  If
 * the child took nothing, all three are available to it (it meets the
 * LOCKED words and recovers L from the dead child's journal first); if
 * the child took everything, none are.
 */
static void check_after(const char *what, bool child_took_all)
{
	int all[3] = {s, e, m};
	int r = iol_wait_many(all, 3, IOL_WAIT_ALL, 0);
	struct iol_info info;

	if (!child_took_all) {
		no_word_locked();
		if (r != 0)
			fail_msg("%s: the objects are not all available (%d)", what, r);
		/* Put back what the parent just took. */
		assert_int_equal(iol_mutex_release(m), 1);
		assert_int_equal(iol_semaphore_release(s, 1), 1);
		assert_int_equal(iol_event_set(e), 0);
		return;
	}
	if (r != -ETIMEDOUT)
		fail_msg("%s: the wait-all was not taken as a whole (%d)", what, r);
	if (sem_count() != 1)
		fail_msg("%s: semaphore count %u, expected 1", what, sem_count());
	assert_int_equal(iol_query(e, &info), 0);
	assert_false(info.u.event.signaled);
	/* (The wait-all gave up on the event without taking L: a word the
	 * dead left LOCKED is recovered by the first that meets it.) */
	assert_int_equal(iol_wait(m, 0), IOL_ABANDONED);
	no_word_locked();
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(iol_semaphore_release(s, 1), 1);
	assert_int_equal(iol_event_set(e), 0);
}

static void back_to_start(void)
{
	struct crash_snap s1;

	assert_true(iol_table_reclaim(pt) >= 0);
	crash_assert_clean(TABLE);
	crash_snapshot(TABLE, &s1);
	crash_snap_equal(&s0, &s1);
	crash_snap_free(&s1);
}

static void test_death_in_waitall(void **state)
{
	static const char *const points[] = {"waitall.locking", "waitall.commit"};
	char fault[64];

	(void)state;
	for (size_t p = 0; p < 2; p++) {
		int deaths = 0;

		for (int n = 1; n < 10; n++) {
			snprintf(fault, sizeof(fault), "%s:%d", points[p], n);
			int st = crash_run_self(fault, (const char *[]){"child", "waitall", NULL});
			if (st == 0) {
				check_after("completed", true);
				back_to_start();
				break;
			}
			assert_int_equal(st, CRASH_FAULT_EXIT);
			deaths++;
			/* L is held by the dead. */
			assert_true(atomic_load(&pt->hdr->walock.word) & FUTEX_OWNER_DIED);
			check_after(fault, p == 1);
			back_to_start();
		}
		printf("  %-16s %d deaths recovered\n", points[p], deaths);
		assert_int_equal(deaths, 3);
	}
}

static void test_death_after_mutex_cas(void **state)
{
	struct iol_info info;

	(void)state;
	int st = crash_run_self("mutex.acquired", (const char *[]){"child", "mutex", NULL});
	assert_int_equal(st, CRASH_FAULT_EXIT);
	assert_int_equal(iol_query(m, &info), 0);
	assert_true(info.u.mutex.abandoned);
	assert_int_equal(info.u.mutex.owner_tid, 0);
	assert_int_equal(iol_wait(m, 0), IOL_ABANDONED);
	assert_int_equal(iol_query(m, &info), 0);
	assert_int_equal(info.u.mutex.recursion, 1);
	assert_int_equal(iol_mutex_release(m), 1);
	back_to_start();
}

int main(int argc, char **argv)
{
	/* These tests look at what a dead process leaves and at the triggers
	 * other than the sentinels' watch (tests/test_reclaim_prompt.c tests
	 * that): no sentinel of ours, or of our children, reclaims behind
	 * their back. */
	setenv("IOLAYER_WATCH", "0", 1);
	if (argc >= 3 && !strcmp(argv[1], "child"))
		return child(argv[2]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_death_in_waitall, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_death_after_mutex_cas, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
