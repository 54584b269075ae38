/* SPDX-License-Identifier: MIT */
/*
 * Cancellation, deadlines and destruction on both backends: a cancelled
 * operation calls back once with -ECANCELED; an expired deadline with
 * -ETIMEDOUT; destroying a pool with work in flight runs every callback
 * once and leaks nothing (the suite also runs under ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool_testlib.h"
#include "uring/pool_futex.h"

static void test_cancel_pending_recv(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	char buf[8];
	uint64_t id = 0;
	int sv[2];

	tp_socketpair(sv);
	assert_int_equal(iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), 0, tp_cb, &s, NULL, &id),
			 0);
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.ncalls, 1);
	assert_int_equal(s.res[0], -ECANCELED);
	/* Gone now, and ids of other threads or slots are not confused. */
	assert_int_equal(iol_pool_cancel(env->pool, id), -ENOENT);
	assert_int_equal(iol_pool_cancel(env->pool, id + (1ull << 40)), -ENOENT);
	assert_int_equal(iol_pool_cancel(env->pool, (uint64_t)1 << 40 | 77ull << 32), -ENOENT);
	close(sv[0]);
	close(sv[1]);
}

/* Submit and cancel at once, many times: the cancel may find the operation
 * still in its thread's inbox or already started; either way -ECANCELED. */
static void test_cancel_races_start(void **state)
{
	struct tp_env *env = tp_env(state);
	enum { N = 200 };
	struct tp_slot *s = calloc(N, sizeof(*s));
	char buf[4];
	int sv[2];

	assert_non_null(s);
	tp_socketpair(sv);
	for (int i = 0; i < N; i++) {
		uint64_t id;

		assert_int_equal(
		    iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), 0, tp_cb, &s[i], NULL, &id),
		    0);
		assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_true(tp_wait_final(&s[i], 1));
		assert_int_equal(s[i].res[0], -ECANCELED);
	}
	assert_int_equal(iol_pool_destroy(env->pool), 0);
	env->pool = NULL;
	for (int i = 0; i < N; i++)
		assert_int_equal(s[i].ncalls, 1);
	free(s);
	close(sv[0]);
	close(sv[1]);
}

/* A callback cancels another operation of its own thread (the lock-free
 * path) and its own id afterwards (-ENOENT: it is dead before its callback). */
struct canceller {
	iol_pool *pool;
	uint64_t victim, self;
	int victim_cancel, self_cancel;
};

static void cancel_from_cb(struct tp_slot *s, int res, unsigned flags)
{
	struct canceller *c = s->ctx;

	c->victim_cancel = iol_pool_cancel(c->pool, c->victim);
	c->self_cancel = iol_pool_cancel(c->pool, c->self);
}

static void test_cancel_from_callback(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts on0 = {.flags = IOL_OP_ON_THREAD, .thread = 0};
	struct canceller c = {.pool = env->pool};
	struct tp_slot victim = {0}, timer = {.then = cancel_from_cb, .ctx = &c};
	char buf[4];
	int sv[2];

	tp_socketpair(sv);
	assert_int_equal(
	    iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), 0, tp_cb, &victim, &on0, &c.victim),
	    0);
	assert_int_equal(iol_pool_timer(env->pool, 1000000, 0, tp_cb, &timer, &on0, &c.self), 0);
	assert_true(tp_wait_final(&timer, 1));
	assert_true(tp_wait_final(&victim, 1));
	assert_int_equal(c.victim_cancel, 0);
	assert_int_equal(c.self_cancel, -ENOENT);
	assert_int_equal(victim.res[0], -ECANCELED);
	assert_true(victim.thread == timer.thread);
	close(sv[0]);
	close(sv[1]);
}

static void test_deadline_expires(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts dl = {.deadline_ns = 30000000};
	struct tp_slot r = {0}, a = {0}, p = {0};
	int sv[2], port, lfd = tp_tcp_listener(&port), pf[2];
	char buf[8];
	int64_t t0 = tp_now_ns();

	tp_socketpair(sv);
	assert_int_equal(pipe2(pf, O_CLOEXEC), 0);
	assert_int_equal(iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), 0, tp_cb, &r, &dl, NULL),
			 0);
	assert_int_equal(iol_pool_accept(env->pool, lfd, 0, tp_cb, &a, &dl, NULL), 0);
	assert_int_equal(
	    iol_pool_read(env->pool, pf[0], buf, sizeof(buf), -1, tp_cb, &p, &dl, NULL), 0);
	assert_true(tp_wait_final(&r, 1));
	assert_true(tp_wait_final(&a, 1));
	assert_true(tp_wait_final(&p, 1));
	assert_true(tp_now_ns() - t0 >= 30000000);
	assert_int_equal(r.res[0], -ETIMEDOUT);
	assert_int_equal(a.res[0], -ETIMEDOUT);
	assert_int_equal(p.res[0], -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	close(pf[0]);
	close(pf[1]);
	close(lfd);
}

/* A deadline that is not reached changes nothing; MSG_WAITALL cut short by
 * its deadline returns the bytes so far. */
static void test_deadline_not_reached_and_partial(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts far = {.deadline_ns = 10ll * 1000000000};
	struct iol_op_opts near = {.deadline_ns = 40000000};
	struct tp_slot r = {0}, w = {0};
	char buf[16];
	int sv[2];

	tp_socketpair(sv);
	assert_int_equal(iol_pool_recv(env->pool, sv[0], buf, 4, 0, tp_cb, &r, &far, NULL), 0);
	assert_int_equal(write(sv[1], "data", 4), 4);
	assert_true(tp_wait_final(&r, 1));
	assert_int_equal(r.res[0], 4);
	assert_int_equal(
	    iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), MSG_WAITALL, tp_cb, &w, &near, NULL),
	    0);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	assert_true(tp_wait_final(&w, 1));
	assert_int_equal(w.res[0], 3);
	assert_memory_equal(buf, "abc", 3);
	/* After destroy no callback can come: each ran exactly once. */
	assert_int_equal(iol_pool_destroy(env->pool), 0);
	env->pool = NULL;
	assert_int_equal(r.ncalls, 1);
	assert_int_equal(w.ncalls, 1);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Deadlines and timers of INT64_MAX ns mean "never" (as huge iol_wait
 * timeouts do), on both backends: now + INT64_MAX used to overflow into
 * the past (-ETIMEDOUT or -EINVAL at once, a repeating timer firing without
 * end; UBSan reports it).  Everything runs on thread 0, so a marker timer of
 * 30 ms calls back after whatever would have completed at once; then each
 * operation is still there to cancel.
 */
static void test_huge_deadline_and_timer_mean_never(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_op_opts on0 = {.flags = IOL_OP_ON_THREAD, .thread = 0};
	struct iol_op_opts never = {
	    .deadline_ns = INT64_MAX, .flags = IOL_OP_ON_THREAD, .thread = 0};
	struct iol_op_opts almost = never;
	struct tp_slot r = {0}, p = {0}, f = {0}, t = {0}, rep = {0}, mark = {0};
	uint64_t id[5];
	uint32_t word = 0;
	char buf[8], pbuf[8];
	int sv[2], pf[2];

	almost.deadline_ns = INT64_MAX - 1000000000ll;
	tp_socketpair(sv);
	assert_int_equal(pipe2(pf, O_CLOEXEC), 0);
	assert_int_equal(
	    iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), 0, tp_cb, &r, &never, &id[0]), 0);
	assert_int_equal(
	    iol_pool_read(env->pool, pf[0], pbuf, sizeof(pbuf), -1, tp_cb, &p, &almost, &id[1]), 0);
	assert_int_equal(
	    ioli_pool_futex_wait(env->pool, &word, 0, false, tp_cb, &f, &never, &id[2]), 0);
	assert_int_equal(iol_pool_timer(env->pool, INT64_MAX, 0, tp_cb, &t, &on0, &id[3]), 0);
	/* Fires once after 1 ms; its next expiry is past the end of time. */
	assert_int_equal(iol_pool_timer(env->pool, 1000000, INT64_MAX, tp_cb, &rep, &on0, &id[4]),
			 0);
	assert_int_equal(iol_pool_timer(env->pool, 30000000, 0, tp_cb, &mark, &on0, NULL), 0);
	assert_true(tp_wait_final(&mark, 1));
	assert_true(tp_wait_calls(&rep, 1));
	assert_int_equal(__atomic_load_n(&rep.ncalls, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(rep.res[0], 0);
	assert_int_equal(rep.flags[0], IOL_CQE_MORE);
	assert_int_equal(tp_last(&r), -99999); /* no callback yet */
	assert_int_equal(tp_last(&p), -99999);
	assert_int_equal(tp_last(&f), -99999);
	assert_int_equal(tp_last(&t), -99999);
	for (int i = 0; i < 5; i++)
		assert_int_equal(iol_pool_cancel(env->pool, id[i]), 0);
	assert_true(tp_wait_final(&r, 1));
	assert_true(tp_wait_final(&p, 1));
	assert_true(tp_wait_final(&f, 1));
	assert_true(tp_wait_final(&t, 1));
	assert_true(tp_wait_final(&rep, 1));
	assert_int_equal(tp_last(&r), -ECANCELED);
	assert_int_equal(tp_last(&p), -ECANCELED);
	assert_int_equal(tp_last(&f), -ECANCELED);
	assert_int_equal(tp_last(&t), -ECANCELED);
	assert_int_equal(tp_last(&rep), -ECANCELED);
	assert_int_equal(__atomic_load_n(&rep.ncalls, __ATOMIC_ACQUIRE), 2);
	close(sv[0]);
	close(sv[1]);
	close(pf[0]);
	close(pf[1]);
}

struct resubmit {
	iol_pool *pool;
	int sv;
	int results[4];
};

/* Called while the pool is being destroyed: submissions are refused. */
static void submit_during_destroy(struct tp_slot *s, int res, unsigned flags)
{
	struct resubmit *rs = s->ctx;
	static char buf[4];
	static struct tp_slot never;

	if (flags & IOL_CQE_MORE)
		return;
	rs->results[0] = iol_pool_recv(rs->pool, rs->sv, buf, 4, 0, tp_cb, &never, NULL, NULL);
	rs->results[1] = iol_pool_destroy(rs->pool);
}

static void test_destroy_with_work_in_flight(void **state)
{
	struct tp_env *env = tp_env(state);
	enum { NSOCK = 40, NTIMER = 10 };
	struct tp_slot *recv_s = calloc(NSOCK, sizeof(*recv_s));
	struct tp_slot timers[NTIMER] = {{0}}, multi = {0}, acc = {0}, futex = {0};
	struct resubmit rs = {.pool = env->pool};
	struct tp_slot last = {.then = submit_during_destroy, .ctx = &rs};
	int(*sv)[2] = calloc(NSOCK, sizeof(*sv));
	int port, lfd = tp_tcp_listener(&port);
	char(*bufs)[8] = calloc(NSOCK, 8);
	unsigned g;
	uint32_t word = 0;

	assert_non_null(recv_s);
	assert_non_null(sv);
	assert_non_null(bufs);
	for (int i = 0; i < NSOCK; i++) {
		tp_socketpair(sv[i]);
		assert_int_equal(iol_pool_recv(env->pool, sv[i][0], bufs[i], 8, 0, tp_cb,
					       &recv_s[i], NULL, NULL),
				 0);
	}
	for (int i = 0; i < NTIMER; i++)
		assert_int_equal(iol_pool_timer(env->pool, 3600ll * 1000000000,
						i % 2 ? 1000000000 : 0, tp_cb, &timers[i], NULL,
						NULL),
				 0);
	assert_int_equal(iol_pool_buffers_create(env->pool, 4, 64, &g), 0);
	assert_int_equal(
	    iol_pool_recv_multishot(env->pool, sv[0][1], g, 0, tp_cb, &multi, NULL, NULL), 0);
	assert_int_equal(
	    iol_pool_accept(env->pool, lfd, IOL_ACCEPT_MULTISHOT, tp_cb, &acc, NULL, NULL), 0);
	assert_int_equal(
	    ioli_pool_futex_wait(env->pool, &word, 0, false, tp_cb, &futex, NULL, NULL), 0);
	rs.sv = sv[1][1];
	assert_int_equal(
	    iol_pool_recv(env->pool, sv[1][1], bufs[1], 8, 0, tp_cb, &last, NULL, NULL), 0);

	assert_int_equal(iol_pool_destroy(env->pool), 0);
	env->pool = NULL;
	for (int i = 0; i < NSOCK; i++) {
		assert_int_equal(recv_s[i].ncalls, 1);
		assert_int_equal(recv_s[i].res[0], -ECANCELED);
	}
	for (int i = 0; i < NTIMER; i++) {
		assert_int_equal(timers[i].ncalls, 1);
		assert_int_equal(timers[i].res[0], -ECANCELED);
	}
	assert_int_equal(multi.ncalls, 1);
	assert_int_equal(multi.res[0], -ECANCELED);
	assert_int_equal(acc.ncalls, 1);
	assert_int_equal(acc.res[0], -ECANCELED);
	assert_int_equal(futex.ncalls, 1);
	assert_int_equal(futex.res[0], -ECANCELED);
	assert_int_equal(last.ncalls, 1);
	assert_int_equal(rs.results[0], -ESHUTDOWN);
	assert_int_equal(rs.results[1], -EDEADLK);
	for (int i = 0; i < NSOCK; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	close(lfd);
	free(recv_s);
	free(sv);
	free(bufs);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tp_setup, tp_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_cancel_pending_recv),
	    T(test_cancel_races_start),
	    T(test_cancel_from_callback),
	    T(test_deadline_expires),
	    T(test_deadline_not_reached_and_partial),
	    T(test_huge_deadline_and_timer_mean_never),
	    T(test_destroy_with_work_in_flight),
	};

	return tp_run("pool_cancel", tests, sizeof(tests) / sizeof(tests[0]));
}
