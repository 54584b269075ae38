/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous waits on table handles (iol_pool_wait_handle): events,
 * semaphores, processes and threads, woken from another thread and from
 * another process, with deadlines, cancel and handles closed meanwhile;
 * mutexes refused.  Every test runs on both backends, and once more with
 * io_uring's futex operations masked (the pool's helper threads).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/pool_testlib.h"

static iol_table *tab;
static char tname[64];

static int table_setup(void **state)
{
	snprintf(tname, sizeof(tname), "pool-handles-%d", (int)getpid());
	if (iol_table_open(tname, NULL, &tab))
		return -1;
	return tp_setup(state);
}

static int table_teardown(void **state)
{
	int r = tp_teardown(state);

	iol_table_close(tab);
	iol_table_unlink(tname);
	return r;
}

static struct iol_op_opts deadline(int64_t ns)
{
	return (struct iol_op_opts){.deadline_ns = ns};
}

static void *set_later(void *p)
{
	struct {
		int h;
		uint32_t *armed;
	} *a = p;

	tp_wait_word(a->armed, 1);
	iol_event_set(a->h);
	return NULL;
}

static void test_event_from_thread(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	uint32_t armed = 0;
	int e = iol_event_open(tab, NULL, 0, false, false); /* auto-reset */
	struct {
		int h;
		uint32_t *armed;
	} a = {e, &armed};
	struct iol_info info;
	pthread_t th;

	assert_true(e > 0);
	assert_int_equal(pthread_create(&th, NULL, set_later, &a), 0);
	assert_int_equal(iol_pool_wait_handle(env->pool, e, tp_cb, &s, NULL, NULL), 0);
	tp_bump(&armed);
	assert_true(tp_wait_final(&s, 1));
	pthread_join(th, NULL);
	assert_int_equal(s.ncalls, 1);
	assert_int_equal(s.res[0], 0);
	/* acquired as iol_wait would: the auto-reset event was consumed */
	assert_int_equal(iol_query(e, &info), 0);
	assert_false(info.u.event.signaled);
	iol_close(e);
}

static void test_already_signaled(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	int sem = iol_semaphore_open(tab, NULL, 0, 1, 5);
	struct iol_info info;

	assert_int_equal(iol_pool_wait_handle(env->pool, sem, tp_cb, &s, NULL, NULL), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 0);
	assert_int_equal(iol_query(sem, &info), 0);
	assert_int_equal(info.u.semaphore.count, 0);
	iol_close(sem);
}

static uint32_t completions;

static void then_count(struct tp_slot *s, int res, unsigned flags)
{
	(void)s;
	(void)res;
	(void)flags;
	tp_bump(&completions);
}

/* release(3) with five waiting: exactly three acquire, then the others. */
static void test_semaphore_counts(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s[5] = {0};
	int sem = iol_semaphore_open(tab, NULL, 0, 0, 10), done = 0;
	struct iol_info info;

	completions = 0;
	for (int i = 0; i < 5; i++) {
		s[i].then = then_count;
		assert_int_equal(iol_pool_wait_handle(env->pool, sem, tp_cb, &s[i], NULL, NULL), 0);
	}
	assert_int_equal(iol_semaphore_release(sem, 3), 0);
	assert_true(tp_wait_word(&completions, 3));
	/* Three units, three acquisitions: the count is 0, so the other two
	 * cannot complete now (if one did, the next check shows it). */
	assert_int_equal(iol_query(sem, &info), 0);
	assert_int_equal(info.u.semaphore.count, 0);
	for (int i = 0; i < 5; i++)
		done += __atomic_load_n(&s[i].ncalls, __ATOMIC_ACQUIRE);
	assert_int_equal(done, 3);
	assert_int_equal(iol_semaphore_release(sem, 2), 0);
	for (int i = 0; i < 5; i++)
		assert_true(tp_wait_final(&s[i], 1));
	for (int i = 0; i < 5; i++) {
		assert_int_equal(s[i].ncalls, 1);
		assert_int_equal(s[i].res[0], 0);
	}
	assert_int_equal(iol_query(sem, &info), 0);
	assert_int_equal(info.u.semaphore.count, 0);
	iol_close(sem);
}

/* Another process signals: the wake crosses processes. */
static void test_event_from_process(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	int e = iol_event_open(tab, "from-process", IOL_CREATE | IOL_EXCL, true, false);
	int go = iol_event_open(tab, "go", IOL_CREATE | IOL_EXCL, true, false);
	pid_t pid;
	int st;

	assert_true(e > 0 && go > 0);
	assert_int_equal(iol_pool_wait_handle(env->pool, e, tp_cb, &s, NULL, NULL), 0);
	assert_true(tp_threads_idle(TP_IDLE_MS)); /* none inside malloc: see pool_testlib.h */
	pid = fork();
	if (pid == 0) {
		iol_table *t2;
		int e2, go2;

		if (iol_table_open(tname, NULL, &t2))
			_exit(1);
		e2 = iol_event_open(t2, "from-process", 0, false, false);
		go2 = iol_event_open(t2, "go", 0, false, false);
		if (e2 < 0 || go2 < 0 || iol_wait(go2, 20 * 1000000000LL) != 0)
			_exit(2);
		_exit(iol_event_set(e2) == 0 ? 0 : 3);
	}
	assert_true(pid > 0);
	iol_event_set(go);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	iol_close(e);
	iol_close(go);
}

struct proc_cb {
	struct tp_slot s;
	int h;
	struct iol_exit_status es;
	int status_res;
};

static void then_status(struct tp_slot *s, int res, unsigned flags)
{
	struct proc_cb *p = s->ctx;

	(void)res;
	(void)flags;
	p->status_res = iol_process_exit_status(p->h, &p->es);
}

/* A child process: the callback can read its exit status at once. */
static void test_process_handle(void **state)
{
	struct tp_env *env = tp_env(state);
	char *argv[] = {"sh", "-c", "read x; exit 4", NULL};
	struct proc_cb p = {.s.then = then_status};
	struct iol_spawn_opts o = {.stdout_fd = -1, .stderr_fd = -1};
	int in[2];

	p.s.ctx = &p;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	o.stdin_fd = in[0];
	p.h = iol_process_spawn(tab, "/bin/sh", argv, &o);
	assert_true(p.h > 0);
	close(in[0]);
	assert_int_equal(iol_pool_wait_handle(env->pool, p.h, tp_cb, &p.s, NULL, NULL), 0);
	close(in[1]); /* the child's read ends: it exits */
	assert_true(tp_wait_final(&p.s, 1));
	assert_int_equal(p.s.res[0], 0);
	assert_int_equal(p.status_res, 0);
	assert_true(p.es.exited);
	assert_int_equal(p.es.code, 4);
	iol_close(p.h);
}

static void *thread_fn(void *arg)
{
	tp_wait_word(arg, 1);
	return (void *)0x1234;
}

static void test_thread_handle(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	uint32_t go = 0;
	void *res = NULL;
	int th = iol_thread_create(tab, thread_fn, &go);

	assert_true(th > 0);
	assert_int_equal(iol_pool_wait_handle(env->pool, th, tp_cb, &s, NULL, NULL), 0);
	tp_bump(&go);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 0);
	assert_int_equal(iol_thread_result(th, &res), 0);
	assert_ptr_equal(res, (void *)0x1234);
	iol_close(th);
}

static void test_refused(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	int m = iol_mutex_open(tab, NULL, 0, false);

	assert_int_equal(iol_pool_wait_handle(env->pool, m, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_wait_handle(env->pool, 0, tp_cb, &s, NULL, NULL), -EBADF);
	assert_int_equal(iol_close(m), 0);
	assert_int_equal(iol_pool_wait_handle(env->pool, m, tp_cb, &s, NULL, NULL), -EBADF);
	assert_int_equal(iol_pool_wait_handle(NULL, m, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_wait_handle(env->pool, m, NULL, &s, NULL, NULL), -EINVAL);
	assert_int_equal(s.ncalls, 0);
}

/* A deadline or a cancel ends the wait without taking the object. */
static void test_deadline_and_cancel(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s1 = {0}, s2 = {0};
	struct iol_op_opts d = deadline(20 * 1000000);
	int sem = iol_semaphore_open(tab, NULL, 0, 0, 5);
	uint64_t id = 0;
	int64_t t0 = tp_now_ns();
	struct iol_info info;

	assert_int_equal(iol_pool_wait_handle(env->pool, sem, tp_cb, &s1, &d, NULL), 0);
	assert_true(tp_wait_final(&s1, 1));
	assert_int_equal(s1.res[0], -ETIMEDOUT);
	assert_true(tp_now_ns() - t0 >= 20 * 1000000);
	assert_int_equal(iol_pool_wait_handle(env->pool, sem, tp_cb, &s2, NULL, &id), 0);
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s2, 1));
	assert_int_equal(s2.res[0], -ECANCELED);
	/* Neither took anything, and the waiter counts are back. */
	assert_int_equal(iol_semaphore_release(sem, 1), 0);
	assert_int_equal(iol_query(sem, &info), 0);
	assert_int_equal(info.u.semaphore.count, 1);
	assert_int_equal(iol_wait(sem, 0), 0);
	iol_close(sem);
}

/* The wait holds its own reference: closing the handle does not end it. */
static void test_handle_closed_meanwhile(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	int e = iol_event_open(tab, "closed-meanwhile", IOL_CREATE | IOL_EXCL, true, false);
	int e2;

	assert_int_equal(iol_pool_wait_handle(env->pool, e, tp_cb, &s, NULL, NULL), 0);
	assert_int_equal(iol_close(e), 0);
	e2 = iol_event_open(tab, "closed-meanwhile", 0, false, false); /* still there */
	assert_true(e2 > 0);
	assert_int_equal(iol_event_set(e2), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 0);
	iol_close(e2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, table_setup, table_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T(test_event_from_thread),
	    T(test_already_signaled),
	    T(test_semaphore_counts),
	    T(test_event_from_process),
	    T(test_process_handle),
	    T(test_thread_handle),
	    T(test_refused),
	    T(test_deadline_and_cancel),
	    T(test_handle_closed_meanwhile),
	};
	size_t n = sizeof(tests) / sizeof(tests[0]);
	const char *env[3];
	char mask[160];
	int fails;

	(void)argc;
	if (getenv("TP_FUTEX_FALLBACK")) {
		tp_backend = IOL_BACKEND_URING;
		printf("[----------] pool_handles[io_uring, helper threads]\n");
		return _cmocka_run_group_tests("pool_handles_fallback", tests, n, NULL, NULL);
	}
	fails = tp_run("pool_handles", tests, n);
	snprintf(mask, sizeof(mask), "IOLAYER_DISABLE=%s,%s",
		 iol_feature_name(IOL_FEAT_URING_OP_FUTEX_WAIT),
		 iol_feature_name(IOL_FEAT_URING_OP_FUTEX_WAITV));
	env[0] = mask;
	env[1] = "TP_FUTEX_FALLBACK=1";
	env[2] = NULL;
	fflush(stdout);
	if (tp_reexec(argv, env) != 0)
		fails++;
	return fails;
}
