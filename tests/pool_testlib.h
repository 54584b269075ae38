/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the IO pool tests (tests/test_pool_*.c).
 *
 * Every pool test runs once per backend: tp_run() runs a cmocka group with
 * tp_backend set to io_uring, then to epoll; tp_setup() makes a fresh pool
 * for each test.  Callbacks record into a struct tp_slot and bump a futex
 * word that the test thread waits on: no sleeps.  A wait that takes longer
 * than TP_LIMIT_NS fails the test (it is a bound, not synchronization).
 */
#ifndef TP_POOL_TESTLIB_H
#define TP_POOL_TESTLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "iolayer/pool.h"

#define TP_LIMIT_NS  (20ll * 1000000000)
#define TP_MAX_CALLS 256
/* How long tp_threads_idle() may wait before a fork. */
#define TP_IDLE_MS 5000

struct tp_slot {
	uint32_t seq; /* futex word: bumped after each callback is recorded */
	int ncalls;   /* callbacks so far */
	int nfinal;   /* callbacks without IOL_CQE_MORE */
	int res[TP_MAX_CALLS];
	unsigned flags[TP_MAX_CALLS];
	pthread_t thread; /* the thread that ran the last callback */
	/* Optional: runs inside the callback after it is recorded. */
	void (*then)(struct tp_slot *s, int res, unsigned flags);
	void *ctx;
};

struct tp_env {
	iol_pool *pool;
	int backend;
	bool skip;
};

extern int tp_backend;

void tp_cb(void *arg, int res, unsigned flags);
/* Wait until s has at least n callbacks / n final callbacks. */
bool tp_wait_calls(struct tp_slot *s, int n);
bool tp_wait_final(struct tp_slot *s, int n);
/* The last recorded result; the number of final callbacks so far. */
int tp_last(struct tp_slot *s);
int tp_finals(struct tp_slot *s);

/* A futex word to count events with (any thread; waits bounded). */
void tp_bump(uint32_t *w);
bool tp_wait_word(uint32_t *w, uint32_t atleast);

/* cmocka setup/teardown: a pool on tp_backend with opts (NULL: 2 threads). */
int tp_setup(void **state);
int tp_teardown(void **state);
struct tp_env *tp_env(void **state); /* skips the test if the backend is missing */
int tp_make_pool(const struct iol_pool_opts *opts, iol_pool **out);

/* Run tests under both backends (group names "name[io_uring]", "name[epoll]"). */
struct CMUnitTest;
int tp_run(const char *name, const struct CMUnitTest *tests, size_t n);

/* Run this program again with extra environment (NAME=VALUE entries, NULL
 * terminated); returns its exit status (or -1). */
int tp_reexec(char **argv, const char *const *env);

int64_t tp_now_ns(void);
/* A connected AF_UNIX stream pair (blocking). */
void tp_socketpair(int sv[2]);
/* A TCP listener on 127.0.0.1, port in *port. */
int tp_tcp_listener(int *port);
/* A path for a temporary file (unlinked at exit by the caller). */
int tp_tmpfile(char *path, size_t len);

/* Wait (up to timeout_ms) until every other thread of this process sleeps
 * in epoll_wait, io_uring_enter, a futex call or a nanosleep, so that none is
 * inside malloc when the caller forks: GCC's AddressSanitizer allocator
 * takes no lock around fork(), and a child forked while a pool thread
 * allocates hangs in its first malloc.  false if they never all were. */
bool tp_threads_idle(int timeout_ms);

#endif
