/* SPDX-License-Identifier: MIT */
/*
 * Thread handles (issue 5 "Threads", include/iolayer/process.h):
 * iol_thread_create returns a waitable handle signaled when the thread
 * returns or calls pthread_exit; iol_thread_result gives the value, -EBUSY
 * while it runs; thread handles mix with other handles in waits; a thread
 * ending while it owns mutexes abandons them; another process waits on an
 * imported thread handle and reads the result; the documented errors.
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
#include "tests/proc_helpers.h"

static struct ph_tab tab;

static int setup(void **state)
{
	(void)state;
	ph_tab_new(&tab, "thread");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ph_tab_del(&tab);
	return 0;
}

/* What a test thread does: note its tid, optionally take a mutex (times
 * times), wait for `go` (an event handle, 0 = don't), then end by return
 * or by pthread_exit from a nested call. */
struct job {
	int go;
	int mutex, times;
	bool use_exit;
	void *value;
	_Atomic pid_t tid;
	_Atomic int err;
};

static void __attribute__((noreturn)) leave(void *v)
{
	pthread_exit(v);
}

static void *job_main(void *p)
{
	struct job *j = p;

	for (int i = 0; i < j->times; i++)
		if (iol_wait(j->mutex, PH_LONG_NS) != 0)
			j->err = 1;
	j->tid = ph_gettid();
	if (j->go && iol_wait(j->go, PH_LONG_NS) != 0)
		j->err = 2;
	if (j->use_exit)
		leave(j->value);
	return j->value;
}

static void wait_started(struct job *j)
{
	int64_t deadline = ph_now_ns() + PH_LONG_NS;

	while (!j->tid) {
		assert_true(ph_now_ns() < deadline);
		sched_yield();
	}
}

/* ---- results ----------------------------------------------------------- */

static void check_result(bool use_exit)
{
	struct job j = {.use_exit = use_exit, .value = (void *)(uintptr_t)0xfeed1234u};
	struct iol_info info;
	void *out = NULL;
	int h;

	j.go = iol_event_open(tab.t, NULL, 0, true, false);
	assert_true(j.go > 0);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	wait_started(&j);
	/* Running: -EBUSY, polls time out, query says so. */
	assert_int_equal(iol_thread_result(h, &out), -EBUSY);
	assert_int_equal(iol_wait(h, 0), -ETIMEDOUT);
	assert_int_equal(iol_wait(h, 10 * 1000000LL), -ETIMEDOUT);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_THREAD);
	assert_string_equal(iol_type_name(info.type), "thread");
	assert_int_equal(info.u.thread.tid, j.tid);
	assert_false(info.u.thread.ended);
	/* Ends once told to. */
	assert_int_equal(iol_event_set(j.go), 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(iol_thread_result(h, &out), 0);
	assert_ptr_equal(out, j.value);
	assert_int_equal(iol_query(h, &info), 0);
	assert_true(info.u.thread.ended);
	assert_int_equal(info.u.thread.tid, j.tid);
	/* Ended is a state: waiting again returns at once. */
	assert_int_equal(iol_wait(h, 0), 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(j.err, 0);
	/* The thread is gone from the process once its handle is signaled. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)j.tid);
		assert_int_equal(access(path, F_OK), -1);
	}
	iol_close(h);
	iol_close(j.go);
}

static void test_result_by_return(void **state)
{
	(void)state;
	check_result(false);
}

static void test_result_by_pthread_exit(void **state)
{
	(void)state;
	check_result(true);
}

static void *ret_null(void *p)
{
	(void)p;
	return NULL;
}

static void test_null_result_and_quick_thread(void **state)
{
	void *out = (void *)1;
	int h;

	(void)state;
	h = iol_thread_create(tab.t, ret_null, NULL);
	assert_true(h > 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(iol_thread_result(h, &out), 0);
	assert_null(out);
	iol_close(h);
}

/* ---- waits ------------------------------------------------------------- */

static void test_wait_many_thread_and_event(void **state)
{
	struct job j = {.value = (void *)7};
	struct ph_waiter w;
	int h, ev;

	(void)state;
	ev = iol_event_open(tab.t, NULL, 0, false, false);
	j.go = iol_event_open(tab.t, NULL, 0, true, false);
	assert_true(ev > 0 && j.go > 0);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	wait_started(&j);
	/* The event wakes a waiter while the thread runs. */
	w = (struct ph_waiter){.handles = {h, ev}, .n = 2};
	ph_waiter_start(&w);
	assert_int_equal(iol_event_set(ev), 0);
	assert_int_equal(ph_waiter_join(&w), 1);
	/* The thread's end wakes another. */
	w = (struct ph_waiter){.handles = {ev, h}, .n = 2};
	ph_waiter_start(&w);
	assert_int_equal(iol_event_set(j.go), 0);
	assert_int_equal(ph_waiter_join(&w), 1);
	/* Wait-all: thread ended + event set -> 0, event consumed. */
	{
		int hs[2] = {h, ev};

		assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, 0), -ETIMEDOUT);
		assert_int_equal(iol_event_set(ev), 0);
		assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, PH_LONG_NS), 0);
		assert_int_equal(iol_wait_many(hs, 2, IOL_WAIT_ALL, 0), -ETIMEDOUT);
	}
	iol_close(h);
	iol_close(ev);
	iol_close(j.go);
}

static void test_wait_all_thread_and_event_blocked(void **state)
{
	struct job j = {0};
	struct ph_waiter w;
	struct iol_info info;
	int h, ev;

	(void)state;
	ev = iol_event_open(tab.t, NULL, 0, false, true); /* auto-reset, set */
	j.go = iol_event_open(tab.t, NULL, 0, true, false);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	wait_started(&j);
	w = (struct ph_waiter){.handles = {ev, h}, .n = 2, .flags = IOL_WAIT_ALL};
	ph_waiter_start(&w);
	/* Nothing consumed while the thread runs. */
	assert_int_equal(iol_query(ev, &info), 0);
	assert_true(info.u.event.signaled);
	assert_int_equal(iol_event_set(j.go), 0);
	assert_int_equal(ph_waiter_join(&w), 0);
	assert_int_equal(iol_query(ev, &info), 0);
	assert_false(info.u.event.signaled);
	iol_close(h);
	iol_close(ev);
	iol_close(j.go);
}

/* ---- abandoned mutexes --------------------------------------------------- */

static void abandon(bool use_exit, int times)
{
	struct job j = {.times = times, .use_exit = use_exit};
	struct iol_info info;
	int h;

	j.mutex = iol_mutex_open(tab.t, NULL, 0, false);
	assert_true(j.mutex > 0);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(j.err, 0);
	/* Signaled means ended, abandonment included. */
	assert_int_equal(iol_query(j.mutex, &info), 0);
	assert_true(info.u.mutex.abandoned);
	assert_int_equal(info.u.mutex.owner_tid, 0);
	assert_int_equal(iol_wait(j.mutex, PH_LONG_NS), IOL_ABANDONED);
	assert_int_equal(iol_query(j.mutex, &info), 0);
	assert_false(info.u.mutex.abandoned);
	assert_int_equal(info.u.mutex.owner_tid, ph_gettid());
	assert_int_equal(info.u.mutex.recursion, 1);
	assert_int_equal(iol_mutex_release(j.mutex), 1);
	/* The flag is cleared: the next acquisition is plain. */
	assert_int_equal(iol_wait(j.mutex, 0), 0);
	assert_int_equal(iol_mutex_release(j.mutex), 1);
	iol_close(h);
	iol_close(j.mutex);
}

static void test_abandon_on_return(void **state)
{
	(void)state;
	abandon(false, 1);
}

static void test_abandon_on_pthread_exit_recursive(void **state)
{
	(void)state;
	abandon(true, 3);
}

/* A thread waiting for the mutex is woken by the owner's end and gets
 * IOL_ABANDONED. */
static void test_abandon_wakes_waiter(void **state)
{
	struct job j = {.times = 1};
	struct ph_waiter w;
	int h;

	(void)state;
	j.mutex = iol_mutex_open(tab.t, NULL, 0, false);
	j.go = iol_event_open(tab.t, NULL, 0, true, false);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	wait_started(&j); /* it owns the mutex now */
	w = (struct ph_waiter){.handles = {j.mutex, h}, .n = 2};
	ph_waiter_start(&w);
	assert_int_equal(iol_event_set(j.go), 0);
	assert_int_equal(ph_waiter_join(&w), 0 | IOL_ABANDONED);
	/* The waiter thread owned it and ended too: abandoned again. */
	assert_int_equal(iol_wait(j.mutex, PH_LONG_NS), IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(j.mutex), 1);
	iol_close(h);
	iol_close(j.mutex);
	iol_close(j.go);
}

/* ---- another process ------------------------------------------------------ */

struct xproc {
	const char *table;
	uint64_t token;
	void *expect;
	int up_w;
};

static int xproc_main(void *arg)
{
	struct xproc *x = arg;
	struct iol_info info;
	void *out = NULL;
	iol_table *t;
	int h;

	PH_CHECK_EQ(iol_table_open(x->table, NULL, &t), 0);
	h = iol_import(t, x->token);
	PH_CHECK(h > 0);
	PH_CHECK_EQ(iol_query(h, &info), 0);
	PH_CHECK_EQ(info.type, IOL_TYPE_THREAD);
	PH_CHECK(!info.u.thread.ended);
	PH_CHECK_EQ(iol_thread_result(h, &out), -EBUSY);
	PH_CHECK_EQ(ph_send_int(x->up_w, 1), 0);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	PH_CHECK_EQ(iol_thread_result(h, &out), 0);
	PH_CHECK(out == x->expect);
	PH_CHECK_EQ(iol_query(h, &info), 0);
	PH_CHECK(info.u.thread.ended);
	iol_close(h);
	iol_table_close(t);
	return 0;
}

static void test_thread_waited_by_other_process(void **state)
{
	struct job j = {.value = (void *)(uintptr_t)0xabcdef};
	struct xproc x = {.table = tab.name, .expect = j.value};
	long long ready;
	int h, up[2];
	pid_t kid;

	(void)state;
	j.go = iol_event_open(tab.t, NULL, 0, true, false);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	wait_started(&j);
	assert_int_equal(iol_export(h, &x.token), 0);
	ph_pipe(up);
	x.up_w = up[1];
	kid = ph_fork(xproc_main, &x);
	close(up[1]);
	assert_int_equal(ph_recv_int(up[0], &ready, PH_LONG_MS), 0);
	assert_true(ph_wait_futex(kid, kid, PH_LONG_MS)); /* asleep in its wait */
	assert_int_equal(iol_event_set(j.go), 0);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 0);
	close(up[0]);
	iol_close(h);
	iol_close(j.go);
}

/*
 * "If the creating process died, the thread ended with it: 0 and NULL."
 * A child creates a thread that never ends, exports it, and is SIGKILLed.
 * The object is settled when a survivor reclaims the dead process (issue
 * 6: "when any attached process notices the death, when a table open
 * ..."): here another process opening the table.
 */
struct creator {
	const char *table;
	int up_w;
};

static int open_close_table(void *arg)
{
	iol_table *t;

	PH_CHECK_EQ(iol_table_open(arg, NULL, &t), 0);
	PH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void *forever(void *p)
{
	(void)p;
	for (;;)
		pause();
	return NULL;
}

static int creator_main(void *arg)
{
	struct creator *c = arg;
	uint64_t token;
	iol_table *t;
	int h;

	PH_CHECK_EQ(iol_table_open(c->table, NULL, &t), 0);
	h = iol_thread_create(t, forever, NULL);
	PH_CHECK(h > 0);
	PH_CHECK_EQ(iol_export(h, &token), 0);
	PH_CHECK_EQ(ph_send_int(c->up_w, (long long)token), 0);
	for (;;)
		pause();
}

static void test_creator_death_ends_thread(void **state)
{
	struct creator c = {.table = tab.name};
	long long token;
	void *out = (void *)1;
	int up[2], h, r;
	pid_t kid;

	(void)state;
	ph_pipe(up);
	c.up_w = up[1];
	kid = ph_fork(creator_main, &c);
	close(up[1]);
	assert_int_equal(ph_recv_int(up[0], &token, PH_LONG_MS), 0);
	close(up[0]);
	h = iol_import(tab.t, (uint64_t)token);
	assert_true(h > 0);
	assert_int_equal(iol_thread_result(h, &out), -EBUSY);
	assert_int_equal(kill(kid, SIGKILL), 0);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 128 + SIGKILL);
	/* A table open notices the death. */
	kid = ph_fork(open_close_table, (void *)tab.name);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 0);
	r = iol_wait(h, PH_LONG_NS);
	assert_int_equal(r, 0);
	assert_int_equal(iol_thread_result(h, &out), 0);
	assert_null(out);
	iol_close(h);
}

/* iolayer.h: refs is "open handles to the object, over every process":
 * a running thread with one handle has refs 1. */
static void test_query_refs(void **state)
{
	struct job j = {0};
	struct iol_info info;
	int h, d;

	(void)state;
	j.go = iol_event_open(tab.t, NULL, 0, true, false);
	h = iol_thread_create(tab.t, job_main, &j);
	assert_true(h > 0);
	wait_started(&j);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.refs, 1);
	d = iol_dup(h);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.refs, 2);
	iol_close(d);
	assert_int_equal(iol_event_set(j.go), 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	iol_close(h);
	iol_close(j.go);
}

/* ---- lifetime and errors ----------------------------------------------------- */

/* A thread whose handle was closed while it ran still runs to its end,
 * and its slot comes back: a 16-slot table survives many of them. */
static void *set_and_return(void *p)
{
	iol_event_set(*(int *)p);
	return NULL;
}

static void test_closed_handles_free_slots(void **state)
{
	struct iol_table_opts small = {.slots = 16};
	char name[65];
	iol_table *t;
	int ev;

	(void)state;
	snprintf(name, sizeof(name), "thread-small-%d", (int)getpid());
	assert_int_equal(iol_table_open(name, &small, &t), 0);
	ev = iol_event_open(t, NULL, 0, false, false);
	assert_true(ev > 0);
	for (int i = 0; i < 200; i++) {
		int64_t deadline = ph_now_ns() + PH_LONG_NS;
		int h;

		/* Room comes back once the previous threads were joined. */
		while ((h = iol_thread_create(t, set_and_return, &ev)) == -ENOSPC)
			assert_true(ph_now_ns() < deadline);
		assert_true(h > 0);
		assert_int_equal(iol_close(h), 0);
		assert_int_equal(iol_wait(ev, PH_LONG_NS), 0); /* it ran */
	}
	iol_close(ev);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);
}

static void test_errors(void **state)
{
	struct iol_exit_status es;
	void *out;
	int ev, h, closed;

	(void)state;
	assert_int_equal(iol_thread_create(NULL, ret_null, NULL), -EINVAL);
	assert_int_equal(iol_thread_create(tab.t, NULL, NULL), -EINVAL);
	h = iol_thread_create(tab.t, ret_null, NULL);
	assert_true(h > 0);
	assert_int_equal(iol_thread_result(h, NULL), -EINVAL);
	/* A thread handle is not a process handle. */
	assert_int_equal(iol_process_pid(h), -EINVAL);
	assert_int_equal(iol_process_exit_status(h, &es), -EINVAL);
	assert_int_equal(iol_process_kill(h, 0), -EINVAL);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	closed = h;
	iol_close(h);
	assert_int_equal(iol_thread_result(closed, &out), -EBADF);
	assert_int_equal(iol_thread_result(0, &out), -EBADF);
	ev = iol_event_open(tab.t, NULL, 0, true, false);
	assert_int_equal(iol_thread_result(ev, &out), -EINVAL);
	iol_close(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_result_by_return, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_result_by_pthread_exit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_result_and_quick_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_many_thread_and_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_all_thread_and_event_blocked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_abandon_on_return, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abandon_on_pthread_exit_recursive, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_abandon_wakes_waiter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thread_waited_by_other_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_creator_death_ends_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_refs, setup, teardown),
	    cmocka_unit_test(test_closed_handles_free_slots),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
