/* SPDX-License-Identifier: MIT */
/* Helpers for the IO pool tests: see pool_testlib.h. */
#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool_testlib.h"
#include "tests/proc_helpers.h"

int tp_backend = IOL_BACKEND_URING;

int64_t tp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tp_bump(uint32_t *w)
{
	__atomic_add_fetch(w, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

bool tp_wait_word(uint32_t *w, uint32_t atleast)
{
	int64_t end = tp_now_ns() + TP_LIMIT_NS;

	for (;;) {
		uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
		int64_t left = end - tp_now_ns();
		struct timespec ts;

		if ((int32_t)(v - atleast) >= 0)
			return true;
		if (left <= 0) {
			fprintf(stderr, "tp_wait_word: gave up at %u of %u\n", v, atleast);
			return false;
		}
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
	}
}

/* Slots may be shared by operations on different pool threads. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;

void tp_cb(void *arg, int res, unsigned flags)
{
	struct tp_slot *s = arg;
	int i;

	/* Everything, the hook and the wake included, under the lock the
	 * waiters read the counters under: once a test has seen a callback
	 * counted, that callback no longer touches the slot (which the test
	 * may then free), and what its hook did is visible. */
	pthread_mutex_lock(&cb_lock);
	i = s->ncalls;
	if (i < TP_MAX_CALLS) {
		s->res[i] = res;
		s->flags[i] = flags;
	}
	s->thread = pthread_self();
	if (!(flags & IOL_CQE_MORE))
		__atomic_add_fetch(&s->nfinal, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&s->ncalls, i + 1, __ATOMIC_RELEASE);
	if (s->then)
		s->then(s, res, flags);
	tp_bump(&s->seq);
	pthread_mutex_unlock(&cb_lock);
}

/* Counters are read under the lock the callbacks record under, so what a
 * callback recorded is visible to the test once the wait returns. */
static bool wait_for(struct tp_slot *s, int *counter, int n)
{
	for (;;) {
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		int have;

		pthread_mutex_lock(&cb_lock);
		have = *counter;
		pthread_mutex_unlock(&cb_lock);
		if (have >= n)
			return true;
		if (!tp_wait_word(&s->seq, seq + 1))
			return false;
	}
}

bool tp_wait_calls(struct tp_slot *s, int n)
{
	return wait_for(s, &s->ncalls, n);
}

bool tp_wait_final(struct tp_slot *s, int n)
{
	return wait_for(s, &s->nfinal, n);
}

int tp_finals(struct tp_slot *s)
{
	int n;

	pthread_mutex_lock(&cb_lock);
	n = s->nfinal;
	pthread_mutex_unlock(&cb_lock);
	return n;
}

int tp_last(struct tp_slot *s)
{
	int n;

	pthread_mutex_lock(&cb_lock);
	n = s->ncalls;
	pthread_mutex_unlock(&cb_lock);
	return n > 0 && n <= TP_MAX_CALLS ? s->res[n - 1] : -99999;
}

int tp_make_pool(const struct iol_pool_opts *opts, iol_pool **out)
{
	struct iol_pool_opts o = {.threads = 2};

	if (opts)
		o = *opts;
	o.backend = tp_backend;
	return iol_pool_create(&o, out);
}

int tp_setup(void **state)
{
	struct tp_env *env = calloc(1, sizeof(*env));
	int r;

	if (!env)
		return -1;
	env->backend = tp_backend;
	r = tp_make_pool(NULL, &env->pool);
	if (r < 0) {
		if (tp_backend == IOL_BACKEND_URING && (r == -ENOSYS || r == -EPERM)) {
			env->skip = true; /* said once in tp_env() */
		} else {
			fprintf(stderr, "iol_pool_create: %s\n", strerror(-r));
			free(env);
			return -1;
		}
	}
	*state = env;
	return 0;
}

int tp_teardown(void **state)
{
	struct tp_env *env = *state;
	int r = 0;

	if (env && env->pool)
		r = iol_pool_destroy(env->pool);
	free(env);
	return r;
}

struct tp_env *tp_env(void **state)
{
	struct tp_env *env = *state;

	if (env->skip) {
		printf("io_uring is unavailable here: io_uring tests skipped\n");
		skip();
	}
	return env;
}

int tp_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
	char group[128];
	int fails = 0;

	tp_backend = IOL_BACKEND_URING;
	snprintf(group, sizeof(group), "%s[io_uring]", name);
	printf("[----------] %s\n", group);
	fails += _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	tp_backend = IOL_BACKEND_EPOLL;
	snprintf(group, sizeof(group), "%s[epoll]", name);
	printf("[----------] %s\n", group);
	fails += _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	return fails;
}

int tp_reexec(char **argv, const char *const *env)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		for (; env && *env; env++) {
			char *kv = strdup(*env), *eq = strchr(kv, '=');

			if (!eq)
				_exit(127);
			*eq = 0;
			setenv(kv, eq + 1, 1);
		}
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tp_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		abort();
	}
}

int tp_tcp_listener(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("tcp listener");
		abort();
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int tp_tmpfile(char *path, size_t len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, len, "%s/iol-pool-test.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	return fd;
}

/*
 * Until every other thread of this process sleeps in epoll_wait, io_uring_enter
 * or a futex call (a pool thread or worker with nothing to do), so none is
 * inside malloc when the test forks.  glibc's malloc takes its locks around
 * fork(), but the allocator of GCC's AddressSanitizer does not: a child
 * forked while a pool thread allocates would hang in its first malloc.
 */
bool tp_threads_idle(int timeout_ms)
{
	/* (ThreadSanitizer's own background thread naps in nanosleep.) */
	static const long idle[] = {SYS_epoll_wait,  SYS_epoll_pwait, SYS_io_uring_enter, SYS_futex,
				    SYS_futex_waitv, SYS_nanosleep,   SYS_clock_nanosleep};
	int64_t deadline = ph_now_ns() + (int64_t)timeout_ms * 1000000;
	pid_t self = ph_gettid();

	for (;;) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		bool all = d != NULL;

		while (all && (e = readdir(d))) {
			pid_t tid = (pid_t)atoi(e->d_name);
			bool asleep = false;

			if (tid <= 0 || tid == self)
				continue;
			for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++)
				asleep |= ph_in_syscall(0, tid, idle[i]);
			all = asleep;
		}
		if (d)
			closedir(d);
		if (all)
			return true;
		if (ph_now_ns() > deadline)
			return false;
		sched_yield();
	}
}
