/* SPDX-License-Identifier: MIT */
/*
 * Multishot operations on both backends: accept and recv call back once per
 * completion with IOL_CQE_MORE, then once finally; provided buffers are
 * borrowed and returned; a recv that runs out of buffers ends with -ENOBUFS
 * and, re-armed after the buffers come back, receives the data that waited.
 *
 * The program runs itself a second time with the kernel's multishot and
 * buffer-ring features masked (IOLAYER_DISABLE), so that the io_uring
 * backend's emulation is tested too.
 */
#include <errno.h>
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

#include "iolayer/probe.h"
#include "pool_testlib.h"

static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void test_accept_multishot(void **state)
{
	struct tp_env *env = tp_env(state);
	int port, lfd = tp_tcp_listener(&port), c[3];
	struct tp_slot s = {0};
	uint64_t id;

	assert_int_equal(
	    iol_pool_accept(env->pool, lfd, IOL_ACCEPT_MULTISHOT, tp_cb, &s, NULL, &id), 0);
	for (int i = 0; i < 3; i++) {
		c[i] = connect_to(port);
		assert_true(tp_wait_calls(&s, i + 1));
		assert_true(s.res[i] >= 0);
		assert_int_equal(s.flags[i], IOL_CQE_MORE);
	}
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.ncalls, 4);
	assert_int_equal(s.res[3], -ECANCELED);
	assert_int_equal(s.flags[3], 0);
	for (int i = 0; i < 3; i++) {
		close(s.res[i]);
		close(c[i]);
	}
	close(lfd);
}

struct rx {
	iol_pool *pool;
	char data[16][16];
	unsigned bflags[16];
	bool give_back; /* return each buffer from the callback */
};

static void keep_data(struct tp_slot *s, int res, unsigned flags)
{
	struct rx *rx = s->ctx;
	int i = s->ncalls - 1;

	if (!(flags & IOL_CQE_BUFFER) || i >= 16)
		return;
	memcpy(rx->data[i], iol_pool_buffer(rx->pool, flags), res > 15 ? 15 : (size_t)res);
	rx->bflags[i] = flags;
	if (rx->give_back)
		assert_int_equal(iol_pool_buffer_return(rx->pool, flags), 0);
}

static void test_recv_multishot(void **state)
{
	struct tp_env *env = tp_env(state);
	struct rx rx = {.pool = env->pool};
	struct tp_slot s = {.then = keep_data, .ctx = &rx};
	const char *msg[3] = {"one", "two!", "three"};
	unsigned g;
	int sv[2];

	tp_socketpair(sv);
	assert_int_equal(iol_pool_buffers_create(env->pool, 8, 64, &g), 0);
	assert_int_equal(iol_pool_recv_multishot(env->pool, sv[0], g, 0, tp_cb, &s, NULL, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(write(sv[1], msg[i], strlen(msg[i])), (ssize_t)strlen(msg[i]));
		assert_true(tp_wait_calls(&s, i + 1));
		assert_int_equal(s.res[i], (int)strlen(msg[i]));
		assert_int_equal(s.flags[i] & (IOL_CQE_MORE | IOL_CQE_BUFFER),
				 IOL_CQE_MORE | IOL_CQE_BUFFER);
		assert_string_equal(rx.data[i], msg[i]);
	}
	/* Returned from this (foreign) thread; twice is refused. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(iol_pool_buffer_return(env->pool, rx.bflags[i]), 0);
	assert_int_equal(iol_pool_buffer_return(env->pool, rx.bflags[0]), -EALREADY);
	/* End of stream ends it. */
	shutdown(sv[1], SHUT_WR);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.ncalls, 4);
	assert_int_equal(s.res[3], 0);
	assert_int_equal(s.flags[3] & IOL_CQE_MORE, 0);
	close(sv[0]);
	close(sv[1]);
}

/* Two buffers, kept by the program: the third message ends the recv with
 * -ENOBUFS; with the buffers back, a new multishot recv gets it. */
static void test_recv_multishot_enobufs_rearm(void **state)
{
	struct tp_env *env = tp_env(state);
	struct rx rx = {.pool = env->pool};
	struct tp_slot s = {.then = keep_data, .ctx = &rx};
	struct rx rx2 = {.pool = env->pool, .give_back = true};
	struct tp_slot s2 = {.then = keep_data, .ctx = &rx2};
	const char *msg[3] = {"aa", "bbb", "cccc"};
	unsigned g;
	int sv[2];

	tp_socketpair(sv);
	assert_int_equal(iol_pool_buffers_create(env->pool, 2, 32, &g), 0);
	assert_int_equal(iol_pool_recv_multishot(env->pool, sv[0], g, 0, tp_cb, &s, NULL, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(write(sv[1], msg[i], strlen(msg[i])), (ssize_t)strlen(msg[i]));
		assert_true(tp_wait_calls(&s, i + 1));
	}
	assert_int_equal(s.nfinal, 1);
	assert_int_equal(s.res[0], 2);
	assert_int_equal(s.res[1], 3);
	assert_int_equal(s.res[2], -ENOBUFS);
	assert_int_equal(s.flags[2] & IOL_CQE_MORE, 0);
	assert_string_equal(rx.data[0], "aa");
	assert_string_equal(rx.data[1], "bbb");

	assert_int_equal(iol_pool_buffer_return(env->pool, rx.bflags[0]), 0);
	assert_int_equal(iol_pool_buffer_return(env->pool, rx.bflags[1]), 0);
	assert_int_equal(iol_pool_recv_multishot(env->pool, sv[0], g, 0, tp_cb, &s2, NULL, NULL),
			 0);
	assert_true(tp_wait_calls(&s2, 1));
	assert_int_equal(s2.res[0], 4);
	assert_string_equal(rx2.data[0], "cccc");
	/* Returning buffers in the callback keeps it going past two. */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(write(sv[1], "xyz", 3), 3);
		assert_true(tp_wait_calls(&s2, i + 2));
		assert_int_equal(s2.res[i + 1], 3);
	}
	assert_int_equal(tp_finals(&s2), 0);
	close(sv[1]);
	assert_true(tp_wait_final(&s2, 1));
	assert_int_equal(tp_last(&s2), 0);
	close(sv[0]);
}

static void test_recv_multishot_cancel(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	uint64_t id;
	unsigned g;
	int sv[2];

	tp_socketpair(sv);
	assert_int_equal(iol_pool_buffers_create(env->pool, 4, 16, &g), 0);
	assert_int_equal(iol_pool_recv_multishot(env->pool, sv[0], g, 0, tp_cb, &s, NULL, &id), 0);
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s, 1));
	assert_int_equal(s.ncalls, 1);
	assert_int_equal(s.res[0], -ECANCELED);
	close(sv[0]);
	close(sv[1]);
}

static void test_buffer_groups_limit(void **state)
{
	struct tp_env *env = tp_env(state);
	unsigned g;
	int i;

	for (i = 0; i < IOL_POOL_MAX_GROUPS; i++)
		assert_int_equal(iol_pool_buffers_create(env->pool, 1, 8, &g), 0);
	assert_int_equal(g, IOL_POOL_MAX_GROUPS - 1);
	assert_int_equal(iol_pool_buffers_create(env->pool, 1, 8, &g), -ENOSPC);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tp_setup, tp_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    T(test_accept_multishot),
	    T(test_recv_multishot),
	    T(test_recv_multishot_enobufs_rearm),
	    T(test_recv_multishot_cancel),
	    T(test_buffer_groups_limit),
	};
	const char *env[3];
	char mask[256];
	int fails;

	(void)argc;
	if (getenv("TP_EMULATED")) {
		/* The re-run: only io_uring differs. */
		if (iol_has(IOL_FEAT_URING_MULTISHOT_RECV)) {
			fprintf(stderr, "IOLAYER_DISABLE did not mask multishot recv\n");
			return 1;
		}
		tp_backend = IOL_BACKEND_URING;
		printf("[----------] pool_multishot[io_uring, emulated multishot]\n");
		return _cmocka_run_group_tests("pool_multishot_emulated", tests,
					       sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	}
	fails = tp_run("pool_multishot", tests, sizeof(tests) / sizeof(tests[0]));
	snprintf(mask, sizeof(mask), "IOLAYER_DISABLE=%s,%s,%s",
		 iol_feature_name(IOL_FEAT_URING_MULTISHOT_ACCEPT),
		 iol_feature_name(IOL_FEAT_URING_MULTISHOT_RECV),
		 iol_feature_name(IOL_FEAT_URING_PBUF_RING));
	env[0] = mask;
	env[1] = "TP_EMULATED=1";
	env[2] = NULL;
	fflush(stdout);
	if (tp_reexec(argv, env) != 0)
		fails++;
	return fails;
}
