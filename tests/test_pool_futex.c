/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous futex waits (uring/pool_futex.h), the mechanism table
 * handles will use: woken from another thread and from another process
 * through a MAP_SHARED word, a word already different, several words,
 * cancel, deadline, and re-arming from the callback with no lost wakeup.
 *
 * Runs on io_uring (IORING_OP_FUTEX_WAIT/WAITV where the kernel has them),
 * on epoll (helper threads), and, in a second run of this program with
 * those opcodes masked by IOLAYER_DISABLE, on io_uring with the helpers.
 * Each run checks that the mechanism it meant to test is the one used.
 */
#include <errno.h>
#include <linux/futex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer/probe.h"
#include "pool_testlib.h"
#include "uring/pool_futex.h"
#include "uring/pool_internal.h"

static bool want_native; /* this run expects io_uring futex operations */

static void wake(uint32_t *w, bool shared)
{
	syscall(SYS_futex, w, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void set_and_wake(uint32_t *w, uint32_t v, bool shared)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
	wake(w, shared);
}

/* The mechanism used must be the one this run is about. */
static void check_path(iol_pool *pool, int backend)
{
	struct ioli_stats_snapshot st;

	ioli_pool_stats(pool, &st);
	if (backend == IOL_BACKEND_URING && want_native)
		assert_int_equal(st.futex_fallback, 0);
	else
		assert_true(st.futex_fallback > 0);
}

struct waker {
	uint32_t *word;
	uint32_t *armed; /* a futex the test bumps once the wait is queued */
};

static void *waker_main(void *p)
{
	struct waker *w = p;

	tp_wait_word(w->armed, 1);
	set_and_wake(w->word, 1, false);
	return NULL;
}

static void test_woken_by_thread(void **state)
{
	struct tp_env *env = tp_env(state);
	uint32_t word = 0, armed = 0;
	struct waker wk = {&word, &armed};
	struct tp_slot s = {0};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, waker_main, &wk), 0);
	assert_int_equal(ioli_pool_futex_wait(env->pool, &word, 0, false, tp_cb, &s, NULL, NULL),
			 0);
	tp_bump(&armed);
	assert_true(tp_wait_final(&s, 1));
	pthread_join(th, NULL);
	assert_int_equal(s.ncalls, 1);
	assert_int_equal(s.res[0], 0);
	check_path(env->pool, env->backend);
}

static void test_already_different(void **state)
{
	struct tp_env *env = tp_env(state);
	uint32_t word = 5;
	struct tp_slot s = {0};

	assert_int_equal(ioli_pool_futex_wait(env->pool, &word, 4, false, tp_cb, &s, NULL, NULL),
			 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 0);
}

/* Another process wakes the word without changing it: only a real
 * cross-process wake can complete the wait.  The child keeps waking until
 * the parent says it got one (a bounded loop of wakes, not a sleep). */
static void test_woken_by_process(void **state)
{
	struct tp_env *env = tp_env(state);
	uint32_t *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct tp_slot s = {0}, s2 = {0};
	pid_t pid;
	int st;

	assert_true(shm != MAP_FAILED);
	shm[0] = 0; /* the word */
	shm[1] = 0; /* parent: "woken" */
	assert_int_equal(ioli_pool_futex_wait(env->pool, &shm[0], 0, true, tp_cb, &s, NULL, NULL),
			 0);
	assert_true(tp_threads_idle(TP_IDLE_MS)); /* none inside malloc: see pool_testlib.h */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int64_t end = tp_now_ns() + TP_LIMIT_NS;

		while (!__atomic_load_n(&shm[1], __ATOMIC_ACQUIRE) && tp_now_ns() < end) {
			wake(&shm[0], true);
			sched_yield();
		}
		/* Then a change of value, woken once. */
		set_and_wake(&shm[0], 7, true);
		_exit(0);
	}
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 0);
	assert_int_equal(__atomic_load_n(&shm[0], __ATOMIC_ACQUIRE) == 0 ||
			     __atomic_load_n(&shm[0], __ATOMIC_ACQUIRE) == 7,
			 1);
	__atomic_store_n(&shm[1], 1, __ATOMIC_RELEASE);
	/* The change to 7 completes a wait expecting 0 (woken, or different). */
	assert_int_equal(ioli_pool_futex_wait(env->pool, &shm[0], 0, true, tp_cb, &s2, NULL, NULL),
			 0);
	assert_true(tp_wait_final(&s2, 1));
	assert_int_equal(s2.res[0], 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(shm[0], 7);
	munmap(shm, 4096);
	check_path(env->pool, env->backend);
}

static void test_waitv(void **state)
{
	struct tp_env *env = tp_env(state);
	uint32_t w[3] = {0, 0, 0};
	struct ioli_futex_word v[3] = {{&w[0], 0}, {&w[1], 0}, {&w[2], 0}};
	struct tp_slot s = {0}, s2 = {0};

	assert_int_equal(ioli_pool_futex_waitv(env->pool, v, 3, false, tp_cb, &s, NULL, NULL), 0);
	set_and_wake(&w[1], 1, false);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 1);
	/* Already different: the index of that word. */
	assert_int_equal(ioli_pool_futex_waitv(env->pool, v, 3, false, tp_cb, &s2, NULL, NULL), 0);
	assert_true(tp_wait_final(&s2, 1));
	assert_int_equal(s2.res[0], 1);
	assert_int_equal(ioli_pool_futex_waitv(env->pool, v, 0, false, tp_cb, &s2, NULL, NULL),
			 -EINVAL);
	assert_int_equal(ioli_pool_futex_waitv(env->pool, v, IOLI_FUTEX_MAX_WORDS + 1, false, tp_cb,
					       &s2, NULL, NULL),
			 -EINVAL);
	assert_int_equal(ioli_pool_futex_wait(env->pool, (uint32_t *)((char *)w + 1), 0, false,
					      tp_cb, &s2, NULL, NULL),
			 -EINVAL);
}

static void test_cancel(void **state)
{
	struct tp_env *env = tp_env(state);
	uint32_t word = 0;
	struct tp_slot s = {0};
	uint64_t id;

	assert_int_equal(ioli_pool_futex_wait(env->pool, &word, 0, false, tp_cb, &s, NULL, &id), 0);
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], -ECANCELED);
	assert_int_equal(iol_pool_cancel(env->pool, id), -ENOENT);
	assert_int_equal(word, 0);
}

static void test_deadline(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts dl = {.deadline_ns = 20000000};
	uint32_t word = 0;
	struct tp_slot s = {0};
	int64_t t0 = tp_now_ns();

	assert_int_equal(ioli_pool_futex_wait(env->pool, &word, 0, false, tp_cb, &s, &dl, NULL), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], -ETIMEDOUT);
	assert_true(tp_now_ns() - t0 >= 20000000);
}

/* A producer raises the word 1..N, each time waiting for the pool's
 * callback to acknowledge that value; the callback re-arms with the value
 * it saw.  Any lost wakeup stalls the chain. */
struct rearm {
	iol_pool *pool;
	uint32_t word, ack;
	int waits, errors;
};

static void rearm_cb(void *arg, int res, unsigned flags)
{
	struct rearm *r = arg;
	uint32_t v = __atomic_load_n(&r->word, __ATOMIC_ACQUIRE);

	r->waits++;
	if (res < 0)
		r->errors++;
	if (v != __atomic_load_n(&r->ack, __ATOMIC_RELAXED)) {
		__atomic_store_n(&r->ack, v, __ATOMIC_RELEASE);
		wake(&r->ack, true); /* tp_wait_word waits shared */
	}
	if (v < 1000 && ioli_pool_futex_wait(r->pool, &r->word, v, false, rearm_cb, r, NULL, NULL))
		r->errors++;
}

static void test_rearm_no_lost_wakeup(void **state)
{
	struct tp_env *env = tp_env(state);
	struct rearm r = {.pool = env->pool};

	assert_int_equal(
	    ioli_pool_futex_wait(env->pool, &r.word, 0, false, rearm_cb, &r, NULL, NULL), 0);
	for (uint32_t i = 1; i <= 1000; i++) {
		set_and_wake(&r.word, i, false);
		assert_true(tp_wait_word(&r.ack, i));
	}
	assert_int_equal(iol_pool_destroy(env->pool), 0); /* no wait left behind */
	env->pool = NULL;
	assert_int_equal(r.errors, 0);
	assert_true(r.waits >= 1000);
}

/* Many waits at once: more than one fallback helper (127 words each). */
static void test_many_waits(void **state)
{
	struct tp_env *env = tp_env(state);
	enum { N = 300 };
	uint32_t *w = calloc(N, sizeof(*w));
	struct tp_slot *s = calloc(N, sizeof(*s));

	assert_non_null(w);
	assert_non_null(s);
	for (int i = 0; i < N; i++)
		assert_int_equal(
		    ioli_pool_futex_wait(env->pool, &w[i], 0, false, tp_cb, &s[i], NULL, NULL), 0);
	for (int i = N; i-- > 0;)
		set_and_wake(&w[i], 1, false);
	for (int i = 0; i < N; i++) {
		assert_true(tp_wait_final(&s[i], 1));
		assert_int_equal(s[i].res[0], 0);
	}
	free(w);
	free(s);
}

/* ------------------------------------------------------------------ */
/* The try hook: one operation through lost races, cancel and success  */
/* ------------------------------------------------------------------ */

struct trier {
	uint32_t word;
	uint32_t tries; /* futex: bumped on each call of the hook */
	int lose;	/* calls that report a lost race */
	int result;	/* then this */
};

static int try_hook(void *arg, unsigned index, struct ioli_futex_word *w, unsigned n)
{
	struct trier *tr = ((struct tp_slot *)arg)->ctx;
	int r = tr->result;

	if (index != 0 || n != 1 || w[0].word != &tr->word)
		r = -EINVAL;
	else if (tr->lose > 0) {
		tr->lose--;
		w[0].expected = __atomic_load_n(&tr->word, __ATOMIC_ACQUIRE); /* re-arm from here */
		r = -EAGAIN;
	}
	tp_bump(&tr->tries);
	return r;
}

static void test_try_rearm_then_success(void **state)
{
	struct tp_env *env = tp_env(state);
	struct trier tr = {.lose = 1, .result = 42};
	struct ioli_futex_word w = {&tr.word, 0};
	struct tp_slot s = {.ctx = &tr};

	assert_int_equal(
	    ioli_pool_futex_waitv_try(env->pool, &w, 1, false, try_hook, tp_cb, &s, NULL, NULL), 0);
	set_and_wake(&tr.word, 1, false);
	assert_true(tp_wait_word(&tr.tries, 1)); /* lost: waits again for a change from 1 */
	assert_int_equal(tp_finals(&s), 0);
	set_and_wake(&tr.word, 2, false);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], 42);
	assert_int_equal(__atomic_load_n(&tr.tries, __ATOMIC_ACQUIRE), 2);
	check_path(env->pool, env->backend);
}

/* After a lost race the operation keeps its id: cancel still reaches it. */
static void test_try_rearm_keeps_id(void **state)
{
	struct tp_env *env = tp_env(state);
	struct trier tr = {.lose = 1000, .result = 0};
	struct ioli_futex_word w = {&tr.word, 0};
	struct tp_slot s = {.ctx = &tr};
	uint64_t id;

	assert_int_equal(
	    ioli_pool_futex_waitv_try(env->pool, &w, 1, false, try_hook, tp_cb, &s, NULL, &id), 0);
	set_and_wake(&tr.word, 1, false);
	assert_true(tp_wait_word(&tr.tries, 1));
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.ncalls, 1);
	assert_int_equal(s.res[0], -ECANCELED);
}

/* A deadline spans the re-arms (it is absolute from submission). */
static void test_try_deadline_spans_rearms(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts dl = {.deadline_ns = 50000000};
	struct trier tr = {.lose = 1000, .result = 0};
	struct ioli_futex_word w = {&tr.word, 0};
	struct tp_slot s = {.ctx = &tr};
	int64_t t0 = tp_now_ns();

	assert_int_equal(
	    ioli_pool_futex_waitv_try(env->pool, &w, 1, false, try_hook, tp_cb, &s, &dl, NULL), 0);
	set_and_wake(&tr.word, 1, false);
	assert_true(tp_wait_word(&tr.tries, 1));
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.res[0], -ETIMEDOUT);
	assert_true(tp_now_ns() - t0 >= 50000000);
}

/* A counting semaphore in a futex word, two asynchronous waiters that
 * acquire in the hook (compare-and-swap) and wait again after each
 * acquisition, a producer releasing 1000 times with one wake each: every
 * unit is acquired exactly once, whatever the races. */
struct sem {
	iol_pool *pool;
	uint32_t count;
	uint32_t acquired; /* futex */
	int errors;
};

static int sem_try(void *arg, unsigned index, struct ioli_futex_word *w, unsigned n)
{
	struct sem *sm = arg;
	uint32_t v = __atomic_load_n(&sm->count, __ATOMIC_ACQUIRE);

	while (v > 0)
		if (__atomic_compare_exchange_n(&sm->count, &v, v - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 0;
	w[0].expected = 0; /* lost: wait while it is 0 */
	return -EAGAIN;
}

static void sem_cb(void *arg, int res, unsigned flags)
{
	struct sem *sm = arg;
	struct ioli_futex_word w = {&sm->count, 0};
	int r;

	if (res == -ECANCELED)
		return;
	if (res != 0) {
		sm->errors++;
		return;
	}
	r = ioli_pool_futex_waitv_try(sm->pool, &w, 1, false, sem_try, sem_cb, sm, NULL, NULL);
	if (r != 0 && r != -ESHUTDOWN) /* the test destroys the pool at the end */
		sm->errors++;
	tp_bump(&sm->acquired);
}

static void test_try_semaphore(void **state)
{
	struct tp_env *env = tp_env(state);
	struct sem sm = {.pool = env->pool};
	struct ioli_futex_word w = {&sm.count, 0};
	struct iol_op_opts on[2] = {{.flags = IOL_OP_ON_THREAD, .thread = 0},
				    {.flags = IOL_OP_ON_THREAD, .thread = 1}};

	for (int i = 0; i < 2; i++)
		assert_int_equal(ioli_pool_futex_waitv_try(env->pool, &w, 1, false, sem_try, sem_cb,
							   &sm, &on[i], NULL),
				 0);
	for (int i = 0; i < 1000; i++) {
		__atomic_add_fetch(&sm.count, 1, __ATOMIC_RELEASE);
		wake(&sm.count, false);
	}
	assert_true(tp_wait_word(&sm.acquired, 1000));
	assert_int_equal(iol_pool_destroy(env->pool), 0); /* cancels the two waiting */
	env->pool = NULL;
	assert_int_equal(sm.acquired, 1000);
	assert_int_equal(sm.count, 0);
	assert_int_equal(sm.errors, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tp_setup, tp_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T(test_woken_by_thread),
	    T(test_already_different),
	    T(test_woken_by_process),
	    T(test_waitv),
	    T(test_cancel),
	    T(test_deadline),
	    T(test_rearm_no_lost_wakeup),
	    T(test_many_waits),
	    T(test_try_rearm_then_success),
	    T(test_try_rearm_keeps_id),
	    T(test_try_deadline_spans_rearms),
	    T(test_try_semaphore),
	};
	size_t n = sizeof(tests) / sizeof(tests[0]);
	const char *env[3];
	char mask[160];
	int fails;

	(void)argc;
	if (getenv("TP_FUTEX_FALLBACK")) {
		want_native = false;
		tp_backend = IOL_BACKEND_URING;
		printf("[----------] pool_futex[io_uring, helper threads]\n");
		return _cmocka_run_group_tests("pool_futex_fallback", tests, n, NULL, NULL);
	}
	want_native =
	    iol_has(IOL_FEAT_URING_OP_FUTEX_WAIT) && iol_has(IOL_FEAT_URING_OP_FUTEX_WAITV);
	if (!want_native)
		printf("io_uring lacks FUTEX_WAIT/WAITV here: the io_uring run uses helpers too\n");
	fails = tp_run("pool_futex", tests, n);
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
