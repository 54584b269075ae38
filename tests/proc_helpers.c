/* SPDX-License-Identifier: MIT */
/* Helpers for the process, thread and file tests: see proc_helpers.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>

#include <cmocka.h>

#include "tests/proc_helpers.h"

int64_t ph_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

pid_t ph_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* A pause between two looks at /proc while waiting for a condition with a
 * deadline (never a guess at how long something takes). */
static void tick(void)
{
	struct timespec ts = {0, 200000};

	nanosleep(&ts, NULL);
}

/* ---- tables -------------------------------------------------------- */

void ph_tab_new(struct ph_tab *tt, const char *tag)
{
	static atomic_uint n;
	int err;

	snprintf(tt->name, sizeof(tt->name), "%s-%d-%u", tag, (int)getpid(),
		 atomic_fetch_add(&n, 1));
	err = iol_table_open(tt->name, NULL, &tt->t);
	if (err)
		fprintf(stderr, "iol_table_open(%s): %s\n", tt->name, strerror(-err));
	assert_int_equal(err, 0);
}

void ph_tab_del(struct ph_tab *tt)
{
	if (tt->t)
		assert_int_equal(iol_table_close(tt->t), 0);
	tt->t = NULL;
	assert_int_equal(iol_table_unlink(tt->name), 0);
}

/* ---- descriptors ----------------------------------------------------- */

void ph_pipe(int fds[2])
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
}

void ph_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int ph_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = (deadline - ph_now_ns()) / 1000000;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r;

		if (left < 0)
			return -1;
		r = poll(&p, 1, (int)left + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int ph_read(int fd, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = ph_now_ns() + (int64_t)timeout_ms * 1000000;
	char *p = buf;

	while (len > 0) {
		ssize_t n;

		if (wait_readable(fd, deadline))
			return -1;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t ph_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = ph_now_ns() + (int64_t)timeout_ms * 1000000;
	size_t got = 0;

	for (;;) {
		ssize_t n;

		if (wait_readable(fd, deadline))
			return -1;
		n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap - 1)
			break;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

int ph_send_int(int fd, long long v)
{
	return ph_write(fd, &v, sizeof(v));
}

int ph_recv_int(int fd, long long *v, int timeout_ms)
{
	return ph_read(fd, v, sizeof(*v), timeout_ms);
}

/* ---- processes ------------------------------------------------------- */

pid_t ph_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int ph_reap(pid_t pid, int timeout_ms)
{
	int64_t deadline = ph_now_ns() + (int64_t)timeout_ms * 1000000;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (ph_now_ns() > deadline) {
			fprintf(stderr, "child %d did not end in %d ms: killed\n", (int)pid,
				timeout_ms);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		tick();
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* The fields of /proc/<pid>[/task/<tid>]/stat after the command name. */
static int read_stat(const char *path, char *buf, size_t len, char **after)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	*after = p + 2; /* field 3, the state */
	return 0;
}

static const char *stat_field(const char *p, int field)
{
	for (int f = 3; f < field && p; f++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p;
}

char ph_proc_state(pid_t pid)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_stat(path, buf, sizeof(buf), &p))
		return 0;
	return p[0];
}

unsigned long long ph_proc_starttime(pid_t pid)
{
	char path[64], buf[1024], *p;
	const char *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_stat(path, buf, sizeof(buf), &p))
		return 0;
	f = stat_field(p, 22);
	return f ? strtoull(f, NULL, 10) : 0;
}

pid_t ph_proc_ppid(pid_t pid)
{
	char path[64], buf[1024], *p;
	const char *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_stat(path, buf, sizeof(buf), &p))
		return -1;
	f = stat_field(p, 4);
	return f ? (pid_t)atoi(f) : -1;
}

bool ph_wait_reaped(pid_t pid, unsigned long long starttime, int timeout_ms)
{
	int64_t deadline = ph_now_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		unsigned long long st = ph_proc_starttime(pid);

		if (st == 0 || st != starttime)
			return true;
		if (ph_now_ns() > deadline)
			return false;
		tick();
	}
}

int ph_children(pid_t *pids, char *states, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024], *p;
		const char *f;
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if (read_stat(path, buf, sizeof(buf), &p))
			continue;
		f = stat_field(p, 4);
		if (!f || (pid_t)atoi(f) != self)
			continue;
		if (n < max) {
			pids[n] = pid;
			if (states)
				states[n] = p[0];
		}
		n++;
	}
	closedir(d);
	return n < max ? n : max;
}

bool ph_in_syscall(pid_t pid, pid_t tid, long nr)
{
	char path[96], buf[256], *p;
	int fd;
	ssize_t n;

	if (pid == 0)
		pid = getpid();
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (read_stat(path, buf, sizeof(buf), &p) || p[0] != 'S')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return false; /* "running" */
	return strtol(buf, NULL, 10) == nr;
}

static bool wait_any_syscall(pid_t pid, pid_t tid, const long *nrs, int n, int timeout_ms)
{
	int64_t deadline = ph_now_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		for (int i = 0; i < n; i++)
			if (ph_in_syscall(pid, tid, nrs[i]))
				return true;
		if (ph_now_ns() > deadline)
			return false;
		tick();
	}
}

bool ph_wait_futex(pid_t pid, pid_t tid, int timeout_ms)
{
	static const long nrs[] = {SYS_futex, SYS_futex_waitv};

	return wait_any_syscall(pid, tid, nrs, 2, timeout_ms);
}

bool ph_wait_syscall(pid_t pid, pid_t tid, long nr, int timeout_ms)
{
	return wait_any_syscall(pid, tid, &nr, 1, timeout_ms);
}

/* ---- a thread blocked in a wait ---------------------------------------- */

static void *waiter_main(void *p)
{
	struct ph_waiter *w = p;

	w->result = -1000;
	atomic_store(&w->tid, ph_gettid());
	w->result = iol_wait_many(w->handles, w->n, w->flags, PH_LONG_NS);
	return NULL;
}

void ph_waiter_start(struct ph_waiter *w)
{
	int64_t deadline = ph_now_ns() + PH_LONG_NS;

	atomic_store(&w->tid, 0);
	assert_int_equal(pthread_create(&w->th, NULL, waiter_main, w), 0);
	while (!atomic_load(&w->tid)) {
		assert_true(ph_now_ns() < deadline);
		sched_yield();
	}
	assert_true(ph_wait_futex(0, atomic_load(&w->tid), PH_LONG_MS));
}

int ph_waiter_join(struct ph_waiter *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += PH_LONG_MS / 1000 + 5;
	assert_int_equal(pthread_timedjoin_np(w->th, NULL, &ts), 0);
	return w->result;
}

/* ---- files ------------------------------------------------------------- */

void ph_tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/iolayer-proctest.XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void ph_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void ph_write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(ph_write(fd, content, strlen(content)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

pid_t ph_fork_reader(int code, int *in_w)
{
	int p[2];
	pid_t pid;

	ph_pipe(p);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(code);
	}
	close(p[0]);
	*in_w = p[1];
	return pid;
}
