/* SPDX-License-Identifier: MIT */
/*
 * A holder of the table lock T that is alive but not running (stopped
 * with SIGSTOP, as under a debugger) must not hang the other processes:
 * their calls that need T give up with -EDEADLK after the lock patience
 * (IOLI_LOCK_PATIENCE_S, 2 s in the fault-injection build this test is
 * built with), calls that do not need T go on working, and once the
 * holder dies the next locker recovers T and everything works again.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "src/table/table.h"
#include "tests/crash_helpers.h"

#define TABLE "fault-stopped"

/* The child: take T through its own mapping of the table, say so, stop. */
static void holder(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)rd;
	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	CHILD_CHECK(ioli_tlock(t) == 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	raise(SIGSTOP);
	for (;;)
		pause();
}

static void test_stopped_holder(void **state)
{
	struct crash_child c;
	iol_table *t;
	uint64_t t0, waited;
	char ch;
	int e, h;

	(void)state;
	iol_table_unlink(TABLE);
	assert_int_equal(iol_table_open(TABLE, &(struct iol_table_opts){.slots = 64}, &t), 0);
	e = iol_event_open(t, "e", IOL_CREATE, true, false);
	assert_true(e > 0);

	crash_fork(&c, holder, NULL);
	crash_recv(&c, &ch, 1);
	/* Block until the kernel reports it stopped (no polling). */
	int st;
	assert_int_equal(waitpid(c.pid, &st, WUNTRACED), c.pid);
	assert_true(WIFSTOPPED(st));

	/* Creating an object needs T: it fails after the patience, no sooner. */
	t0 = crash_now_ns();
	assert_int_equal(iol_event_open(t, "new", IOL_CREATE, true, false), -EDEADLK);
	waited = crash_now_ns() - t0;
	assert_true(waited >= (uint64_t)IOLI_LOCK_PATIENCE_S * 1000000000u - 5000000u);
	/* The fast paths do not take T: the existing event still works. */
	assert_int_equal(iol_event_set(e), 0);
	assert_int_equal(iol_wait(e, 0), 0);
	assert_int_equal(iol_event_reset(e), 1);

	/* The holder dies (SIGKILL ends a stopped process): T is recovered. */
	crash_kill(&c);
	h = iol_event_open(t, "new", IOL_CREATE, true, false);
	assert_true(h > 0);
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_close(e), 0);
	assert_true(iol_table_reclaim(t) >= 0);
	crash_assert_clean(TABLE);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(TABLE), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stopped_holder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
