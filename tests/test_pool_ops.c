/* SPDX-License-Identifier: MIT */
/*
 * Every IO pool operation, on both backends: files (read, write, readv,
 * writev, fsync, fdatasync, openat, close, statx), pipes, sockets (accept,
 * connect, recv, send with and without MSG_WAITALL, zero-copy send,
 * shutdown), timers, and the argument checks.  Each callback must run
 * exactly once with the system call's result.
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
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer/probe.h"
#include "pool_testlib.h"
#include "uring/pool_internal.h"

static const struct iol_op_opts *no_opts;

/* Wait for exactly one (final) callback and return its result. */
static int one_result(struct tp_slot *s)
{
	assert_true(tp_wait_final(s, 1));
	assert_int_equal(s->ncalls, 1);
	assert_int_equal(s->flags[0] & IOL_CQE_MORE, 0);
	return s->res[0];
}

static void test_file_read_write(void **state)
{
	struct tp_env *env = tp_env(state);
	char path[128], buf[16] = {0};
	int fd = tp_tmpfile(path, sizeof(path));
	struct tp_slot w = {0}, r = {0}, w2 = {0}, r2 = {0};
	uint64_t id = 0;

	unlink(path);
	assert_int_equal(
	    iol_pool_write(env->pool, fd, "hello world", 11, 0, tp_cb, &w, no_opts, &id), 0);
	assert_true(id != 0);
	assert_int_equal(one_result(&w), 11);
	assert_int_equal(iol_pool_read(env->pool, fd, buf, 5, 6, tp_cb, &r, no_opts, NULL), 0);
	assert_int_equal(one_result(&r), 5);
	assert_memory_equal(buf, "world", 5);

	/* off -1: the file position */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(iol_pool_read(env->pool, fd, buf, 6, -1, tp_cb, &r2, no_opts, NULL), 0);
	assert_int_equal(one_result(&r2), 6);
	assert_memory_equal(buf, "hello ", 6);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 6);
	assert_int_equal(iol_pool_write(env->pool, fd, "W", 1, -1, tp_cb, &w2, no_opts, NULL), 0);
	assert_int_equal(one_result(&w2), 1);
	assert_int_equal(pread(fd, buf, 11, 0), 11);
	assert_memory_equal(buf, "hello World", 11);
	close(fd);
}

static void test_file_readv_writev(void **state)
{
	struct tp_env *env = tp_env(state);
	char path[128], a[4], b[8];
	int fd = tp_tmpfile(path, sizeof(path));
	struct iovec wv[2] = {{"abc", 3}, {"defghij", 7}};
	struct iovec rv[2] = {{a, 4}, {b, 6}};
	struct tp_slot w = {0}, r = {0};

	unlink(path);
	assert_int_equal(iol_pool_writev(env->pool, fd, wv, 2, 0, tp_cb, &w, no_opts, NULL), 0);
	assert_int_equal(one_result(&w), 10);
	assert_int_equal(iol_pool_readv(env->pool, fd, rv, 2, 0, tp_cb, &r, no_opts, NULL), 0);
	assert_int_equal(one_result(&r), 10);
	assert_memory_equal(a, "abcd", 4);
	assert_memory_equal(b, "efghij", 6);
	close(fd);
}

static void test_fsync_openat_statx_close(void **state)
{
	struct tp_env *env = tp_env(state);
	char path[128], copy[128];
	int fd = tp_tmpfile(path, sizeof(path));
	struct tp_slot s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
	struct statx stx;

	assert_int_equal(write(fd, "12345", 5), 5);
	assert_int_equal(iol_pool_fsync(env->pool, fd, 0, tp_cb, &s1, no_opts, NULL), 0);
	assert_int_equal(one_result(&s1), 0);
	assert_int_equal(
	    iol_pool_fsync(env->pool, fd, IOL_FSYNC_DATASYNC, tp_cb, &s2, no_opts, NULL), 0);
	assert_int_equal(one_result(&s2), 0);

	/* The path is copied: the caller may reuse its buffer at once. */
	strcpy(copy, path);
	assert_int_equal(iol_pool_openat(env->pool, AT_FDCWD, copy, O_RDONLY | O_CLOEXEC, 0, tp_cb,
					 &s3, no_opts, NULL),
			 0);
	memset(copy, 'x', sizeof(copy) - 1);
	assert_true(one_result(&s3) >= 0);
	assert_int_equal(iol_pool_statx(env->pool, s3.res[0], "", AT_EMPTY_PATH, STATX_SIZE, &stx,
					tp_cb, &s4, no_opts, NULL),
			 0);
	assert_int_equal(one_result(&s4), 0);
	assert_int_equal(stx.stx_size, 5);
	assert_int_equal(iol_pool_close(env->pool, s3.res[0], tp_cb, &s5, no_opts, NULL), 0);
	assert_int_equal(one_result(&s5), 0);
	assert_int_equal(fcntl(s3.res[0], F_GETFD), -1);

	/* Errors come back as the system call's. */
	assert_int_equal(iol_pool_openat(env->pool, AT_FDCWD, "/nonexistent/iolayer", O_RDONLY, 0,
					 tp_cb, &s6, no_opts, NULL),
			 0);
	assert_int_equal(one_result(&s6), -ENOENT);
	assert_int_equal(iol_pool_close(env->pool, 1000000, tp_cb, &s7, no_opts, NULL), 0);
	assert_int_equal(one_result(&s7), -EBADF);
	if (env->backend == IOL_BACKEND_EPOLL) {
		struct ioli_stats_snapshot st;

		ioli_pool_stats(env->pool, &st);
		assert_true(st.worker_ops >= 4); /* fsync x2, openat, statx */
	}
	unlink(path);
	close(fd);
}

/* A read on an empty pipe waits for the writer, blocking or not. */
static void pipe_read_waits(struct tp_env *env, int flags)
{
	int p[2];
	char buf[8];
	struct tp_slot r = {0}, w = {0};

	assert_int_equal(pipe2(p, O_CLOEXEC | flags), 0);
	assert_int_equal(
	    iol_pool_read(env->pool, p[0], buf, sizeof(buf), -1, tp_cb, &r, no_opts, NULL), 0);
	assert_int_equal(iol_pool_write(env->pool, p[1], "pipe", 4, -1, tp_cb, &w, no_opts, NULL),
			 0);
	assert_int_equal(one_result(&w), 4);
	assert_int_equal(one_result(&r), 4);
	assert_memory_equal(buf, "pipe", 4);
	close(p[0]);
	close(p[1]);
}

static void test_pipe(void **state)
{
	struct tp_env *env = tp_env(state);

	pipe_read_waits(env, 0);
	pipe_read_waits(env, O_NONBLOCK);
}

static void test_accept_connect(void **state)
{
	struct tp_env *env = tp_env(state);
	int port, lfd = tp_tcp_listener(&port);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct tp_slot acc = {0}, con = {0};

	a.sin_port = htons((uint16_t)port);
	assert_int_equal(iol_pool_accept(env->pool, lfd, 0, tp_cb, &acc, no_opts, NULL), 0);
	assert_int_equal(iol_pool_connect(env->pool, cfd, (struct sockaddr *)&a, sizeof(a), tp_cb,
					  &con, no_opts, NULL),
			 0);
	memset(&a, 0, sizeof(a)); /* copied at submission */
	assert_int_equal(one_result(&con), 0);
	assert_true(one_result(&acc) >= 0);
	/* Accepted sockets are non-blocking and close-on-exec on both backends. */
	assert_true(fcntl(acc.res[0], F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(acc.res[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(cfd, "x", 1), 1);
	close(acc.res[0]);
	close(cfd);
	close(lfd);
}

static void test_connect_refused(void **state)
{
	struct tp_env *env = tp_env(state);
	int port, lfd = tp_tcp_listener(&port);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct tp_slot con = {0};

	close(lfd); /* nobody listens on port now */
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(iol_pool_connect(env->pool, cfd, (struct sockaddr *)&a, sizeof(a), tp_cb,
					  &con, no_opts, NULL),
			 0);
	assert_int_equal(one_result(&con), -ECONNREFUSED);
	close(cfd);
}

static void test_recv_send(void **state)
{
	struct tp_env *env = tp_env(state);
	int sv[2];
	char buf[32] = {0};
	struct tp_slot r = {0}, s = {0};

	tp_socketpair(sv);
	assert_int_equal(
	    iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), 0, tp_cb, &r, no_opts, NULL), 0);
	assert_int_equal(iol_pool_send(env->pool, sv[1], "ping", 4, 0, tp_cb, &s, no_opts, NULL),
			 0);
	assert_int_equal(one_result(&s), 4);
	assert_int_equal(one_result(&r), 4);
	assert_memory_equal(buf, "ping", 4);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_dontwait(void **state)
{
	struct tp_env *env = tp_env(state);
	int sv[2];
	char buf[8];
	struct tp_slot r = {0};

	tp_socketpair(sv);
	assert_int_equal(iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), MSG_DONTWAIT, tp_cb, &r,
				       no_opts, NULL),
			 0);
	assert_int_equal(one_result(&r), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

/* MSG_WAITALL: 10 bytes asked, sent as 4 + 6. */
static void test_recv_waitall(void **state)
{
	struct tp_env *env = tp_env(state);
	int sv[2];
	char buf[10];
	struct tp_slot r = {0};

	tp_socketpair(sv);
	assert_int_equal(iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), MSG_WAITALL, tp_cb, &r,
				       no_opts, NULL),
			 0);
	assert_int_equal(write(sv[1], "0123", 4), 4);
	assert_int_equal(write(sv[1], "456789", 6), 6);
	assert_int_equal(one_result(&r), 10);
	assert_memory_equal(buf, "0123456789", 10);
	/* End of stream before len: the bytes so far. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(iol_pool_recv(env->pool, sv[0], buf, sizeof(buf), MSG_WAITALL, tp_cb, &r,
				       no_opts, NULL),
			 0);
	assert_int_equal(write(sv[1], "ab", 2), 2);
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(one_result(&r), 2);
	close(sv[0]);
	close(sv[1]);
}

struct drain {
	int fd;
	size_t want, got;
	unsigned char sum;
};

static void *drain_main(void *p)
{
	struct drain *d = p;
	char buf[65536];

	while (d->got < d->want) {
		ssize_t n = read(d->fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			d->sum = (unsigned char)(d->sum + (unsigned char)buf[i]);
		d->got += (size_t)n;
	}
	return NULL;
}

/* A send larger than the socket buffer, all of it with MSG_WAITALL; and
 * zero-copy above the threshold (one callback, after the notification). */
static void big_send(struct tp_env *env, iol_pool *pool, int flags)
{
	size_t len = 8u << 20;
	unsigned char *buf = malloc(len), sum = 0;
	int port, lfd = tp_tcp_listener(&port), cfd = socket(AF_INET, SOCK_STREAM, 0), afd;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct drain d = {0};
	struct tp_slot s = {0};
	pthread_t th;

	(void)env;
	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		buf[i] = (unsigned char)(i * 7);
		sum = (unsigned char)(sum + buf[i]);
	}
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	d.fd = afd;
	d.want = len;
	assert_int_equal(pthread_create(&th, NULL, drain_main, &d), 0);
	assert_int_equal(iol_pool_send(pool, cfd, buf, len, flags, tp_cb, &s, no_opts, NULL), 0);
	assert_int_equal(one_result(&s), (int)len);
	pthread_join(th, NULL);
	assert_int_equal(d.got, len);
	assert_int_equal(d.sum, sum);
	free(buf);
	close(afd);
	close(cfd);
	close(lfd);
}

static void test_send_waitall(void **state)
{
	struct tp_env *env = tp_env(state);

	big_send(env, env->pool, MSG_WAITALL);
}

static void test_send_zerocopy(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_pool_opts o = {.threads = 1, .zc_threshold = 4096};
	struct ioli_stats_snapshot st;
	iol_pool *pool;

	assert_int_equal(tp_make_pool(&o, &pool), 0);
	big_send(env, pool, MSG_WAITALL);
	ioli_pool_stats(pool, &st);
	assert_int_equal(iol_pool_destroy(pool), 0);
	/* The zero-copy path ran where it exists, and only there. */
	if (env->backend == IOL_BACKEND_URING && iol_has(IOL_FEAT_URING_OP_SEND_ZC))
		assert_true(st.zc_sends > 0);
	else
		assert_int_equal(st.zc_sends, 0);
}

static void test_shutdown(void **state)
{
	struct tp_env *env = tp_env(state);
	int sv[2];
	char c;
	struct tp_slot s = {0};

	tp_socketpair(sv);
	assert_int_equal(iol_pool_shutdown(env->pool, sv[1], SHUT_WR, tp_cb, &s, no_opts, NULL), 0);
	assert_int_equal(one_result(&s), 0);
	assert_int_equal(read(sv[0], &c, 1), 0); /* end of stream */
	close(sv[0]);
	close(sv[1]);
}

static void test_timer_once(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0}, z = {0};
	int64_t t0 = tp_now_ns();

	assert_int_equal(iol_pool_timer(env->pool, 30000000, 0, tp_cb, &s, no_opts, NULL), 0);
	assert_int_equal(one_result(&s), 0);
	assert_true(tp_now_ns() - t0 >= 30000000);
	assert_int_equal(iol_pool_timer(env->pool, 0, 0, tp_cb, &z, no_opts, NULL), 0);
	assert_int_equal(one_result(&z), 0);
}

static void test_timer_repeat(void **state)
{
	struct tp_env *env = tp_env(state);
	struct tp_slot s = {0};
	int64_t t0 = tp_now_ns();
	uint64_t id;

	assert_int_equal(iol_pool_timer(env->pool, 5000000, 10000000, tp_cb, &s, no_opts, &id), 0);
	assert_true(tp_wait_calls(&s, 3));
	/* The third expiry is 5 + 2 * 10 ms after submission. */
	assert_true(tp_now_ns() - t0 >= 25000000);
	assert_int_equal(iol_pool_cancel(env->pool, id), 0);
	assert_true(tp_wait_final(&s, 1));
	for (int i = 0; i < s.ncalls - 1; i++) {
		assert_int_equal(s.res[i], 0);
		assert_int_equal(s.flags[i], IOL_CQE_MORE);
	}
	assert_int_equal(tp_last(&s), -ECANCELED);
	assert_int_equal(s.flags[s.ncalls - 1], 0);
	assert_int_equal(iol_pool_cancel(env->pool, id), -ENOENT);
}

static void test_invalid_arguments(void **state)
{
	struct tp_env *env = tp_env(state);
	iol_pool *p = env->pool;
	struct tp_slot s = {0};
	struct iol_op_opts bad_thread = {.flags = IOL_OP_ON_THREAD, .thread = 99};
	struct iol_op_opts bad_flags = {.flags = 0x80};
	struct iol_op_opts neg = {.deadline_ns = -1};
	struct iol_op_opts dl = {.deadline_ns = 1000000};
	char buf[4];
	unsigned g;

	assert_int_equal(iol_pool_read(NULL, 0, buf, 4, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_read(p, 0, buf, 4, 0, NULL, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_read(p, -1, buf, 4, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_read(p, 0, buf, 4, -2, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_read(p, 0, buf, 4, 0, tp_cb, &s, &bad_thread, NULL), -EINVAL);
	assert_int_equal(iol_pool_read(p, 0, buf, 4, 0, tp_cb, &s, &bad_flags, NULL), -EINVAL);
	assert_int_equal(iol_pool_read(p, 0, buf, 4, 0, tp_cb, &s, &neg, NULL), -EINVAL);
	assert_int_equal(iol_pool_readv(p, 0, NULL, 1, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_fsync(p, 0, 0x10, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_openat(p, AT_FDCWD, NULL, 0, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_statx(p, AT_FDCWD, "/", 0, 0, NULL, tp_cb, &s, NULL, NULL),
			 -EINVAL);
	assert_int_equal(iol_pool_accept(p, 0, 0x10, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_accept(p, 0, IOL_ACCEPT_MULTISHOT, tp_cb, &s, &dl, NULL),
			 -EINVAL);
	assert_int_equal(iol_pool_connect(p, 0, NULL, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_shutdown(p, 0, 7, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_timer(p, -1, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_timer(p, 1, 0, tp_cb, &s, &dl, NULL), -EINVAL);
	assert_int_equal(iol_pool_recv_multishot(p, 0, 0, 0, tp_cb, &s, NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_buffers_create(p, 3, 64, &g), -EINVAL);
	assert_int_equal(iol_pool_buffers_create(p, 4, 0, &g), -EINVAL);
	assert_int_equal(iol_pool_buffers_create(p, 4, 64, &g), 0);
	assert_int_equal(iol_pool_recv_multishot(p, 0, g, MSG_WAITALL, tp_cb, &s, NULL, NULL),
			 -EINVAL);
	assert_int_equal(iol_pool_recv_multishot(p, 0, g, 0, tp_cb, &s, &dl, NULL), -EINVAL);
	assert_int_equal(iol_pool_cancel(p, 0), -EINVAL);
	assert_int_equal(iol_pool_cancel(NULL, 1), -EINVAL);
	assert_null(iol_pool_buffer(p, 0));
	assert_int_equal(iol_pool_buffer_return(p, 0), -EINVAL);
	assert_int_equal(s.ncalls, 0); /* no callback for a refused submission */
	assert_int_equal(iol_pool_destroy(NULL), -EINVAL);
	assert_null(iol_pool_backend(NULL));
}

static void test_create_options(void **state)
{
	struct tp_env *env = tp_env(state);
	struct iol_pool_opts too_many = {.threads = IOL_POOL_MAX_THREADS + 1};
	struct iol_pool_opts bad_backend = {.backend = 42};
	struct iol_pool_opts big_ring = {.ring_entries = 65536};
	struct iol_pool_opts pinned = {
	    .threads = 3, .pin_cpus = true, .ring_entries = 8, .backend = env->backend};
	iol_pool *p = NULL;

	assert_int_equal(iol_pool_create(&too_many, &p), -EINVAL);
	assert_int_equal(iol_pool_create(&bad_backend, &p), -EINVAL);
	assert_int_equal(iol_pool_create(&big_ring, &p), -EINVAL);
	assert_int_equal(iol_pool_create(NULL, NULL), -EINVAL);
	assert_int_equal(iol_pool_create(&pinned, &p), 0);
	assert_int_equal(iol_pool_threads(p), 3);
	assert_string_equal(iol_pool_backend(p),
			    env->backend == IOL_BACKEND_URING ? "io_uring" : "epoll");
	assert_int_equal(iol_pool_destroy(p), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tp_setup, tp_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_file_read_write),
	    T(test_file_readv_writev),
	    T(test_fsync_openat_statx_close),
	    T(test_pipe),
	    T(test_accept_connect),
	    T(test_connect_refused),
	    T(test_recv_send),
	    T(test_recv_dontwait),
	    T(test_recv_waitall),
	    T(test_send_waitall),
	    T(test_send_zerocopy),
	    T(test_shutdown),
	    T(test_timer_once),
	    T(test_timer_repeat),
	    T(test_invalid_arguments),
	    T(test_create_options),
	};

	return tp_run("pool_ops", tests, sizeof(tests) / sizeof(tests[0]));
}
