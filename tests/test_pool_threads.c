/* SPDX-License-Identifier: MIT */
/*
 * Threads and queues on both backends: submission from threads outside the
 * pool, which thread runs a callback, callbacks submitting to their own
 * thread, a full submission queue and an overflowing completion queue
 * (never an error, never a lost completion), and the AUTO backend falling
 * back to epoll when io_uring_setup is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include <liburing.h>

#include "iolayer/probe.h"
#include "pool_testlib.h"
#include "uring/pool_internal.h"

/* Each operation counts its own callbacks; all of them bump `done`. */
struct counted {
	int calls;
	int res;
	pthread_t thread;
	uint32_t *done;
};

static void counted_cb(void *arg, int res, unsigned flags)
{
	struct counted *c = arg;

	c->res = res;
	c->thread = pthread_self();
	__atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
	tp_bump(c->done);
}

struct submitter {
	iol_pool *pool;
	struct counted *ops;
	int n;
	int failures;
};

static void *submit_main(void *p)
{
	struct submitter *s = p;

	for (int i = 0; i < s->n; i++)
		if (iol_pool_timer(s->pool, 0, 0, counted_cb, &s->ops[i], NULL, NULL) != 0)
			s->failures++;
	return NULL;
}

static void test_foreign_threads(void **state)
{
	struct tp_env *env = tp_env(state);
	enum { THREADS = 4, PER = 1000 };
	struct counted *ops = calloc(THREADS * PER, sizeof(*ops));
	struct submitter sub[THREADS];
	pthread_t th[THREADS];
	uint32_t done = 0;

	assert_non_null(ops);
	for (int i = 0; i < THREADS * PER; i++)
		ops[i].done = &done;
	for (int i = 0; i < THREADS; i++) {
		sub[i] = (struct submitter){env->pool, ops + i * PER, PER, 0};
		assert_int_equal(pthread_create(&th[i], NULL, submit_main, &sub[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(sub[i].failures, 0);
	}
	assert_true(tp_wait_word(&done, THREADS * PER));
	assert_int_equal(iol_pool_destroy(env->pool), 0);
	env->pool = NULL;
	for (int i = 0; i < THREADS * PER; i++) {
		assert_int_equal(ops[i].calls, 1);
		assert_int_equal(ops[i].res, 0);
	}
	free(ops);
}

/* IOL_OP_ON_THREAD and fd affinity decide which thread calls back. */
static void test_callback_threads(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts on[2] = {{.flags = IOL_OP_ON_THREAD, .thread = 0},
				    {.flags = IOL_OP_ON_THREAD, .thread = 1}};
	struct counted c[6] = {{0}};
	uint32_t done = 0;
	int a = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int b = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (b % 2 == a % 2) { /* want descriptors on different threads */
		int x = dup(b);

		close(b);
		b = x;
	}
	assert_true(a % 2 != b % 2);
	for (int i = 0; i < 6; i++)
		c[i].done = &done;
	assert_int_equal(iol_pool_timer(env->pool, 0, 0, counted_cb, &c[0], &on[0], NULL), 0);
	assert_int_equal(iol_pool_timer(env->pool, 0, 0, counted_cb, &c[1], &on[1], NULL), 0);
	assert_int_equal(iol_pool_timer(env->pool, 0, 0, counted_cb, &c[2], &on[0], NULL), 0);
	assert_int_equal(iol_pool_write(env->pool, a, "x", 1, -1, counted_cb, &c[3], NULL, NULL),
			 0);
	assert_int_equal(iol_pool_write(env->pool, a, "y", 1, -1, counted_cb, &c[4], NULL, NULL),
			 0);
	assert_int_equal(iol_pool_write(env->pool, b, "z", 1, -1, counted_cb, &c[5], NULL, NULL),
			 0);
	assert_true(tp_wait_word(&done, 6));
	assert_true(pthread_equal(c[0].thread, c[2].thread));
	assert_false(pthread_equal(c[0].thread, c[1].thread));
	assert_true(pthread_equal(c[3].thread, c[4].thread));
	assert_false(pthread_equal(c[3].thread, c[5].thread));
	assert_false(pthread_equal(c[0].thread, pthread_self()));
	close(a);
	close(b);
}

/* A chain of callbacks, each submitting the next on its own thread. */
struct chain {
	iol_pool *pool;
	int left;
	int errors;
	pthread_t thread;
	bool moved;
	uint32_t done;
};

static void chain_cb(void *arg, int res, unsigned flags)
{
	struct chain *c = arg;

	if (c->thread && !pthread_equal(c->thread, pthread_self()))
		c->moved = true;
	c->thread = pthread_self();
	if (res != 0)
		c->errors++;
	if (--c->left == 0 || iol_pool_timer(c->pool, 0, 0, chain_cb, c, NULL, NULL) != 0)
		tp_bump(&c->done);
}

static void test_callback_chain(void **state)
{
	struct tp_env *env = tp_env(state);
	struct chain c = {.pool = env->pool, .left = 20000};

	assert_int_equal(iol_pool_timer(env->pool, 0, 0, chain_cb, &c, NULL, NULL), 0);
	assert_true(tp_wait_word(&c.done, 1));
	assert_int_equal(c.left, 0);
	assert_int_equal(c.errors, 0);
	assert_false(c.moved); /* no-descriptor operations stay on the calling thread */
}

/* From one callback, far more operations than the SQ (4) and CQ (16)
 * hold: reads of /dev/zero complete at once, so the CQ overflows. */
struct burst {
	iol_pool *pool;
	int fd;
	int n;
	int submit_errors;
	struct counted *ops;
	char (*bufs)[8];
};

static void burst_cb(void *arg, int res, unsigned flags)
{
	struct burst *b = arg;

	for (int i = 0; i < b->n; i++)
		if (iol_pool_read(b->pool, b->fd, b->bufs[i], 8, 0, counted_cb, &b->ops[i], NULL,
				  NULL) != 0)
			b->submit_errors++;
}

static void test_full_queues(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_pool_opts o = {.threads = 1, .ring_entries = 4};
	enum { N = 1000 };
	struct burst b = {.n = N};
	struct ioli_stats_snapshot st;
	uint32_t done = 0;

	b.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	b.ops = calloc(N, sizeof(*b.ops));
	b.bufs = calloc(N, 8);
	assert_non_null(b.ops);
	assert_non_null(b.bufs);
	for (int i = 0; i < N; i++)
		b.ops[i].done = &done;
	assert_int_equal(tp_make_pool(&o, &b.pool), 0);
	assert_int_equal(iol_pool_timer(b.pool, 0, 0, burst_cb, &b, NULL, NULL), 0);
	assert_true(tp_wait_word(&done, N));
	ioli_pool_stats(b.pool, &st);
	assert_int_equal(iol_pool_destroy(b.pool), 0);
	assert_int_equal(b.submit_errors, 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(b.ops[i].calls, 1);
		assert_int_equal(b.ops[i].res, 8);
	}
	if (env->backend == IOL_BACKEND_URING) {
		printf("io_uring: SQ full %llu times, CQ overflow flushed %llu times\n",
		       (unsigned long long)st.sq_full, (unsigned long long)st.cq_overflow);
		assert_true(st.sq_full > 0);	 /* the path was exercised */
		assert_true(st.cq_overflow > 0); /* and so was this one */
	}
	close(b.fd);
	free(b.ops);
	free(b.bufs);
}

/* ------------------------------------------------------------------ */
/* AUTO falls back to epoll when io_uring_setup is refused.            */
/* ------------------------------------------------------------------ */

static int refused_child(int errfd)
{
	struct iol_pool_opts autoo = {.threads = 1},
			     uring = {.threads = 1, .backend = IOL_BACKEND_URING};
	scmp_filter_ctx ctx;
	iol_pool *p;
	int r;

	/* The probe ran before the filter: it found io_uring. */
	if (!iol_has(IOL_FEAT_IO_URING))
		return 10;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup), 0) ||
	    seccomp_load(ctx))
		return 11;
	seccomp_release(ctx);
	dup2(errfd, 2);
	r = iol_pool_create(&uring, &p);
	if (r != -EPERM)
		return 12;
	for (int i = 0; i < 2; i++) {
		if (iol_pool_create(&autoo, &p) != 0)
			return 13;
		if (strcmp(iol_pool_backend(p), "epoll") != 0)
			return 14;
		iol_pool_destroy(p);
	}
	return 0;
}

static void test_auto_fallback(void **state)
{
	char out[1024] = {0}, *nl;
	int pfd[2], st, lines = 0;
	ssize_t n, got = 0;
	pid_t pid;

	if (!iol_has(IOL_FEAT_IO_URING)) {
		printf("io_uring is unavailable here: nothing to fall back from\n");
		skip();
	}
	assert_int_equal(pipe(pfd), 0);
	assert_true(tp_threads_idle(TP_IDLE_MS)); /* none inside malloc: see pool_testlib.h */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		_exit(refused_child(pfd[1]));
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (char *p = out; (nl = strchr(p, '\n')); p = nl + 1)
		lines++;
	printf("child said: %s", out);
	assert_int_equal(lines, 1); /* once, not once per pool */
	assert_non_null(strstr(out, "using the epoll backend"));
	assert_non_null(strstr(out, "io_uring_setup"));
}

/* Ring setup flags follow the probe: SINGLE_ISSUER|DEFER_TASKRUN, else
 * COOP_TASKRUN, else none; SQPOLL only when asked.  The fallbacks are
 * checked in re-runs of this program with those features masked. */
static unsigned expected_flags(bool sqpoll)
{
	if (sqpoll && iol_has(IOL_FEAT_URING_SQPOLL))
		return IORING_SETUP_SQPOLL |
		       (iol_has(IOL_FEAT_URING_SINGLE_ISSUER) ? IORING_SETUP_SINGLE_ISSUER : 0);
	if (iol_has(IOL_FEAT_URING_SINGLE_ISSUER) && iol_has(IOL_FEAT_URING_DEFER_TASKRUN))
		return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (iol_has(IOL_FEAT_URING_COOP_TASKRUN))
		return IORING_SETUP_COOP_TASKRUN;
	return 0;
}

static int ring_flags_child(void)
{
	const unsigned mask = IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER |
			      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
	const char *want = getenv("TP_RING_FLAGS"); /* expected, decimal */
	struct iol_pool_opts o = {.threads = 1, .backend = IOL_BACKEND_URING};
	struct tp_slot s = {0};
	iol_pool *p;
	unsigned got;

	if (iol_pool_create(&o, &p) != 0)
		return 2;
	got = ioli_pool_ring_flags(p) & mask;
	/* The ring works with those flags. */
	if (iol_pool_timer(p, 0, 0, tp_cb, &s, NULL, NULL) != 0 || !tp_wait_final(&s, 1))
		return 3;
	iol_pool_destroy(p);
	if (got != (unsigned)atoi(want)) {
		fprintf(stderr, "ring flags %#x, expected %#x\n", got, (unsigned)atoi(want));
		return 4;
	}
	return 0;
}

static void test_ring_flags(void **state)
{
	const unsigned mask = IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER |
			      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
	struct iol_pool_opts o = {.threads = 1, .backend = IOL_BACKEND_URING};
	char *argv[] = {"test_pool_threads", NULL};
	char want[32], dis[160];
	const char *e[4] = {want, "TP_RING_FLAGS_CHILD=1", dis, NULL};
	iol_pool *p;

	if (!iol_has(IOL_FEAT_IO_URING)) {
		printf("io_uring is unavailable here: no rings to check\n");
		skip();
	}
	assert_int_equal(iol_pool_create(&o, &p), 0);
	assert_int_equal(ioli_pool_ring_flags(p) & mask, expected_flags(false));
	assert_int_equal(iol_pool_destroy(p), 0);
	o.sqpoll = true;
	assert_int_equal(iol_pool_create(&o, &p), 0);
	assert_int_equal(ioli_pool_ring_flags(p) & mask, expected_flags(true));
	{
		/* An SQPOLL ring works: a pipe read completes after a write. */
		struct tp_slot r = {0}, w = {0};
		int pf[2];
		char c;

		assert_int_equal(pipe2(pf, O_CLOEXEC), 0);
		assert_int_equal(iol_pool_read(p, pf[0], &c, 1, -1, tp_cb, &r, NULL, NULL), 0);
		assert_int_equal(iol_pool_write(p, pf[1], "q", 1, -1, tp_cb, &w, NULL, NULL), 0);
		assert_true(tp_wait_final(&r, 1));
		assert_true(tp_wait_final(&w, 1));
		assert_int_equal(r.res[0], 1);
		close(pf[0]);
		close(pf[1]);
	}
	assert_int_equal(iol_pool_destroy(p), 0);

	/* Without DEFER_TASKRUN: COOP_TASKRUN. */
	snprintf(want, sizeof(want), "TP_RING_FLAGS=%u", IORING_SETUP_COOP_TASKRUN);
	snprintf(dis, sizeof(dis), "IOLAYER_DISABLE=%s",
		 iol_feature_name(IOL_FEAT_URING_DEFER_TASKRUN));
	if (iol_has(IOL_FEAT_URING_COOP_TASKRUN))
		assert_int_equal(tp_reexec(argv, e), 0);
	/* Without either: a plain ring. */
	snprintf(want, sizeof(want), "TP_RING_FLAGS=0");
	snprintf(dis, sizeof(dis), "IOLAYER_DISABLE=%s,%s",
		 iol_feature_name(IOL_FEAT_URING_DEFER_TASKRUN),
		 iol_feature_name(IOL_FEAT_URING_COOP_TASKRUN));
	assert_int_equal(tp_reexec(argv, e), 0);
}

/* IOLAYER_BACKEND=epoll makes AUTO choose epoll (in a fresh process, as the
 * probe reads it once). */
static void test_backend_env(void **state)
{
	const char *e[] = {"IOLAYER_BACKEND=epoll", "TP_BACKEND_CHILD=1", NULL};
	char *argv[] = {"test_pool_threads", NULL};

	assert_int_equal(tp_reexec(argv, e), 0);
}

static int backend_child(void)
{
	iol_pool *p;
	int ok;

	if (iol_pool_create(NULL, &p) != 0)
		return 2;
	ok = strcmp(iol_pool_backend(p), "epoll") == 0;
	iol_pool_destroy(p);
	return ok ? 0 : 3;
}

#define T(f) cmocka_unit_test_setup_teardown(f, tp_setup, tp_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_foreign_threads),
	    T(test_callback_threads),
	    T(test_callback_chain),
	    T(test_full_queues),
	};
	/* Backend choice itself: once. */
	const struct CMUnitTest choice[] = {
	    cmocka_unit_test(test_auto_fallback),
	    cmocka_unit_test(test_backend_env),
	    cmocka_unit_test(test_ring_flags),
	};

	if (getenv("TP_BACKEND_CHILD"))
		return backend_child();
	if (getenv("TP_RING_FLAGS_CHILD"))
		return ring_flags_child();
	return tp_run("pool_threads", tests, sizeof(tests) / sizeof(tests[0])) +
	       cmocka_run_group_tests_name("pool_backend_choice", choice, NULL, NULL);
}
