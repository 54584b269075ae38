/* SPDX-License-Identifier: MIT */
/*
 * A holder of the table lock T that is alive but not running (stopped
 * with SIGSTOP, as under a debugger) must not hang the other processes:
 * their calls that need T give up with -EDEADLK after the lock patience
 * (IOLI_LOCK_PATIENCE_S, 2 s in the fault-injection build this test is
 * built with), calls that do not need T go on working, and once the
 * holder dies the next locker recovers T and everything works again.
 *
 * Closing a table and exit() wait for T once in all, not once per handle
 * (the references they could not give back are reclaimed once the process
 * is gone), and a thread's first wait, which allocates its thread record
 * under T, keeps to its own timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "tests/helpers.h"

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

/* Start a holder of T and block until the kernel reports it stopped. */
static void stop_holder(struct crash_child *c)
{
	char ch;
	int st;

	crash_fork(c, holder, NULL);
	crash_recv(c, &ch, 1);
	assert_int_equal(waitpid(c->pid, &st, WUNTRACED), c->pid);
	assert_true(WIFSTOPPED(st));
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
	/* The lock notes its holder's pid, which the recovery waits to see
	 * gone: the child's own, although its parent had taken T (and cached
	 * its pid, ioli_getpid) before the fork. */
	assert_int_equal(atomic_load(&t->hdr->lock.pid), (uint32_t)c.pid);
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

/* ---- closing and exiting while T is held ------------------------------- */

#define NHANDLES 5

/* Attach, hold NHANDLES objects, say so; then on command close the table
 * ('c', replying with how long the close took) or exit ('x'). */
static void closer(int rd, int wr, void *arg)
{
	iol_table *t;
	uint64_t t0, took;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	for (int i = 0; i < NHANDLES; i++)
		CHILD_CHECK(iol_semaphore_open(t, NULL, 0, 0, 1) > 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	CHILD_CHECK(crash_read(rd, &c, 1));
	if (c == 'x')
		exit(0);
	t0 = crash_now_ns();
	CHILD_CHECK(iol_table_close(t) == 0);
	took = crash_now_ns() - t0;
	CHILD_CHECK(crash_write(wr, &took, sizeof(took)));
	exit(0);
}

static void closing_bounded(char how)
{
	struct crash_child holder_c, closer_c;
	const uint64_t patience = (uint64_t)IOLI_LOCK_PATIENCE_S * 1000000000u;
	uint64_t t0, took;
	iol_table *t;
	char ch;

	iol_table_unlink(TABLE);
	assert_int_equal(iol_table_open(TABLE, &(struct iol_table_opts){.slots = 64}, &t), 0);
	crash_fork(&closer_c, closer, NULL);
	crash_recv(&closer_c, &ch, 1);
	stop_holder(&holder_c);

	t0 = crash_now_ns();
	crash_send(&closer_c, &how, 1);
	if (how == 'c') {
		/* Once for T in all, not once per handle (then the thread
		 * record and the detach): (NHANDLES + 1) x patience before. */
		crash_recv(&closer_c, &took, sizeof(took));
		assert_true(took < patience + 500000000u);
	}
	assert_int_equal(crash_reap(&closer_c), 0);
	took = crash_now_ns() - t0;
	if (how == 'x')
		assert_true(took < (uint64_t)IOLI_EXIT_PATIENCE_MS * 1000000u + 500000000u);
	else
		assert_true(took < patience + 1000000000u);

	/* What the closer could not give back is reclaimed: it is gone, and
	 * so is the holder. */
	crash_kill(&holder_c);
	assert_int_equal(iol_table_reclaim(t), 2);
	crash_assert_clean(TABLE);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(TABLE), 0);
}

static void test_close_bounded(void **state)
{
	(void)state;
	closing_bounded('c');
}

static void test_exit_bounded(void **state)
{
	(void)state;
	closing_bounded('x');
}

/* ---- a thread's first wait while T is held ----------------------------- */

struct first_wait {
	int h;
	int64_t timeout;
	int r;
	uint64_t took;
};

static void *first_wait(void *arg)
{
	struct first_wait *w = arg;
	uint64_t t0 = crash_now_ns();

	w->r = iol_wait(w->h, w->timeout);
	w->took = crash_now_ns() - t0;
	return NULL;
}

/* Wait in a new thread (which has no thread record yet). */
static struct first_wait wait_in_new_thread(int h, int64_t timeout)
{
	struct first_wait w = {.h = h, .timeout = timeout};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, first_wait, &w), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	return w;
}

/*
 * A new thread's first wait allocates its thread record, under T.  With T
 * held by a stopped process it used to give up with -EDEADLK after the
 * lock patience whatever its timeout; it now times out at its own
 * deadline, and only a timeout longer than the patience ends in -EDEADLK.
 */
static void test_first_wait_keeps_timeout(void **state)
{
	const uint64_t ms = 1000000u;
	struct crash_child c;
	struct first_wait w;
	iol_table *t;
	int e, m;

	(void)state;
	iol_table_unlink(TABLE);
	assert_int_equal(iol_table_open(TABLE, &(struct iol_table_opts){.slots = 64}, &t), 0);
	e = iol_event_open(t, NULL, 0, false, false);
	m = iol_mutex_open(t, NULL, 0, false);
	assert_true(e > 0 && m > 0);
	stop_holder(&c);

	w = wait_in_new_thread(e, 50 * (int64_t)ms);
	assert_int_equal(w.r, -ETIMEDOUT);
	assert_true(w.took >= 50 * ms && w.took < 1000 * ms);
	/* A free mutex: no owner id without a record, so not acquired. */
	w = wait_in_new_thread(m, 50 * (int64_t)ms);
	assert_int_equal(w.r, -ETIMEDOUT);
	assert_true(w.took >= 50 * ms && w.took < 1000 * ms);
	w = wait_in_new_thread(m, 0);
	assert_int_equal(w.r, -ETIMEDOUT);
	assert_true(w.took < 1000 * ms);
	w = wait_in_new_thread(e, (int64_t)(IOLI_LOCK_PATIENCE_S + 60) * 1000 * (int64_t)ms);
	assert_int_equal(w.r, -EDEADLK);
	assert_true(w.took < (uint64_t)(IOLI_LOCK_PATIENCE_S * 1000 + 1000) * ms);

	crash_kill(&c);
	w = wait_in_new_thread(m, 50 * (int64_t)ms);
	assert_int_equal(w.r, 0);
	assert_int_equal(iol_event_set(e), 0);
	w = wait_in_new_thread(e, 50 * (int64_t)ms);
	assert_int_equal(w.r, 0);
	assert_int_equal(iol_close(e), 0);
	assert_int_equal(iol_close(m), 0);
	assert_true(iol_table_reclaim(t) >= 0);
	crash_assert_clean(TABLE);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(TABLE), 0);
}

/*
 * A first wait that found a free mutex while T was busy saw no owner (it
 * had no owner id yet): once T is free it must try again, not sleep on the
 * free word it saw (src/wait/wait.c, wait_one: only a try that saw a live
 * owner lets the waiter sleep first).  Sleeping would end only at its
 * deadline.
 */
struct first_wait_tid {
	struct first_wait w;
	_Atomic pid_t tid;
	uint64_t started;
};

static void *first_wait_tid(void *arg)
{
	struct first_wait_tid *f = arg;

	f->started = crash_now_ns();
	atomic_store(&f->tid, (pid_t)gettid());
	return first_wait(&f->w);
}

static void test_first_wait_takes_free_mutex_after_t(void **state)
{
	const uint64_t ms = 1000000u;
	struct first_wait_tid f = {.w = {.timeout = 1500 * (int64_t)ms}};
	struct crash_child c;
	iol_table *t;
	pthread_t th;
	pid_t tid;

	(void)state;
	iol_table_unlink(TABLE);
	assert_int_equal(iol_table_open(TABLE, &(struct iol_table_opts){.slots = 64}, &t), 0);
	f.w.h = iol_mutex_open(t, NULL, 0, false);
	assert_true(f.w.h > 0);
	stop_holder(&c);
	assert_int_equal(pthread_create(&th, NULL, first_wait_tid, &f), 0);
	while ((tid = atomic_load(&f.tid)) == 0)
		sched_yield();
	/* Past the try, which gives T 10 ms (src/table/threc.c, ioli_me_try),
	 * and asleep on T again: in the wait's own allocation of its record. */
	while (crash_now_ns() - f.started < 20 * ms || !th_in_futex_wait(tid))
		assert_true(th_wait_blocked(tid, 1000));
	crash_kill(&c);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(f.w.r, 0);
	/* Promptly: not at its deadline (1.5 s). */
	assert_true(f.w.took < 1000 * ms);
	assert_int_equal(iol_mutex_release(f.w.h), -EPERM); /* its thread took it */
	assert_int_equal(iol_close(f.w.h), 0);
	assert_true(iol_table_reclaim(t) >= 0);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(TABLE), 0);
}

int main(void)
{
	/* Counts of what iol_table_reclaim() finds: no sentinel of ours
	 * reclaims the dead behind the test's back. */
	setenv("IOLAYER_WATCH", "0", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stopped_holder),
	    cmocka_unit_test(test_close_bounded),
	    cmocka_unit_test(test_exit_bounded),
	    cmocka_unit_test(test_first_wait_keeps_timeout),
	    cmocka_unit_test(test_first_wait_takes_free_mutex_after_t),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
