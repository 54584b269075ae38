/* SPDX-License-Identifier: MIT */
/* Shared helpers for the core test programs (see helpers.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/helpers.h"

int64_t th_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

pid_t th_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- tables -------------------------------------------------------- */

void th_uniq(char *buf, size_t len, const char *tag)
{
	static _Atomic unsigned n;

	snprintf(buf, len, "%.40s-%d-%u", tag, (int)getpid(), atomic_fetch_add(&n, 1));
}

void th_tab_new(struct th_tab *tt, const char *tag, uint32_t slots)
{
	struct iol_table_opts o = {.slots = slots};
	int r;

	th_uniq(tt->name, sizeof(tt->name), tag);
	r = iol_table_open(tt->name, &o, &tt->t);
	if (r != 0)
		fail_msg("iol_table_open(%s): %s", tt->name, strerror(-r));
}

void th_tab_del(struct th_tab *tt)
{
	if (tt->t)
		assert_int_equal(iol_table_close(tt->t), 0);
	tt->t = NULL;
	assert_int_equal(iol_table_unlink(tt->name), 0);
}

const char *th_dir(void)
{
	const char *d = getenv("IOLAYER_SHM_DIR");

	return d && *d ? d : "/dev/shm";
}

void th_table_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/iolayer-%u-%s", th_dir(), (unsigned)geteuid(), name);
}

static char private_dir[4096];
static pid_t private_owner;

static void remove_private_dir(void)
{
	/* Only in the process that made it: a child that calls exit() runs
	 * the parent's atexit handlers too. */
	if (private_dir[0] && getpid() == private_owner && rmdir(private_dir) != 0)
		fprintf(stderr, "%s not removed: %s\n", private_dir, strerror(errno));
}

void th_init(void)
{
	const char *base = getenv("IOLAYER_SHM_DIR");

	/* Always a directory of our own, inside the one we were given (or
	 * /dev/shm): the tests look at, and clean, everything in it. */
	if (!base || !*base)
		base = "/dev/shm";
	snprintf(private_dir, sizeof(private_dir), "%s/iolayer-test.XXXXXX", base);
	if (!mkdtemp(private_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	private_owner = getpid();
	setenv("IOLAYER_SHM_DIR", private_dir, 1);
	atexit(remove_private_dir);
}

int th_teardown_dir_empty(void **state)
{
	DIR *d;
	struct dirent *e;
	int left = 0;

	(void)state;
	if (!private_dir[0])
		fail_msg("th_init() was not called: no private table directory");
	d = opendir(private_dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[8192];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		/* Remove it (the directory is this program's own), so the next
		 * test is judged on its own files. */
		snprintf(path, sizeof(path), "%s/%s", private_dir, e->d_name);
		fprintf(stderr, "test left %s behind (removed)\n", path);
		if (unlink(path) != 0)
			rmdir(path);
		left++;
	}
	closedir(d);
	return left ? -1 : 0;
}

/* ---- processes ----------------------------------------------------- */

pid_t th_spawn(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int th_reap(pid_t pid, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;
	int st, pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			if (pfd >= 0)
				close(pfd);
			return -1;
		}
		int64_t left = deadline - th_now_ns();

		if (left <= 0) {
			fprintf(stderr, "child %d did not end within %d ms: killed\n", (int)pid,
				timeout_ms);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			if (pfd >= 0)
				close(pfd);
			return -1;
		}
		if (pfd >= 0) {
			struct pollfd p = {.fd = pfd, .events = POLLIN};

			poll(&p, 1, (int)(left / 1000000) + 1);
		} else {
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		}
	}
	if (pfd >= 0)
		close(pfd);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int th_run(int (*fn)(void *), void *arg)
{
	return th_reap(th_spawn(fn, arg), TH_LONG_MS);
}

void th_chan_open(struct th_chan *c)
{
	assert_int_equal(pipe2(c->up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(c->down, O_CLOEXEC), 0);
}

void th_chan_close(struct th_chan *c)
{
	close(c->up[0]);
	close(c->up[1]);
	close(c->down[0]);
	close(c->down[1]);
}

int th_say(int fd, int byte)
{
	unsigned char b = (unsigned char)byte;
	ssize_t n;

	do
		n = write(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

int th_hear(int fd, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;
	unsigned char b;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - th_now_ns();
		int r;

		if (left < 0)
			return -1;
		r = poll(&p, 1, (int)(left / 1000000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, &b, 1);

		if (n < 0 && errno == EINTR)
			continue;
		return n == 1 ? b : -1;
	}
}

void *th_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

void th_unshared(void *p, size_t len)
{
	munmap(p, len);
}

/* ---- blocked threads ------------------------------------------------ */

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

bool th_in_futex_wait(pid_t tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	if (read_small(path, buf, sizeof(buf)))
		return false;
	/* The state follows the last ')': the command may contain one. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] != 'S')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)tid);
	if (read_small(path, buf, sizeof(buf)))
		return false;
	return strstr(buf, "futex") != NULL;
}

static void short_pause(void)
{
	struct timespec ts = {0, 100000}; /* 0.1 ms between looks */

	nanosleep(&ts, NULL);
}

bool th_wait_blocked(pid_t tid, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;

	while (!th_in_futex_wait(tid)) {
		if (th_now_ns() > deadline)
			return false;
		short_pause();
	}
	return true;
}

bool th_wait_all_blocked(const pid_t *tids, unsigned n, int timeout_ms)
{
	for (unsigned i = 0; i < n; i++)
		if (!th_wait_blocked(tids[i], timeout_ms))
			return false;
	/* Each was blocked when looked at; make sure none has left since. */
	for (unsigned i = 0; i < n; i++)
		if (!th_wait_blocked(tids[i], timeout_ms))
			return false;
	return true;
}

bool th_wait_count(const _Atomic int *v, int atleast, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;

	while (atomic_load(v) < atleast) {
		if (th_now_ns() > deadline)
			return false;
		short_pause();
	}
	return true;
}

bool th_join(pthread_t th, void **ret, int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(th, ret, &ts) == 0;
}

/* ---- a thread that waits ------------------------------------------- */

static void *waiter_main(void *arg)
{
	struct th_waiter *w = arg;
	int64_t t0;

	atomic_store(&w->tid, th_gettid());
	t0 = th_now_ns();
	switch (w->mode) {
	case TH_WAIT:
		w->result = iol_wait(w->h, w->timeout_ns);
		break;
	case TH_WAIT_MANY:
		w->result = iol_wait_many(w->hs, w->n, w->flags, w->timeout_ns);
		break;
	case TH_SIGNAL_AND_WAIT:
		w->result = iol_signal_and_wait(w->signal_h, w->h, w->timeout_ns);
		break;
	}
	w->elapsed_ns = th_now_ns() - t0;
	if (w->then)
		w->then_result = w->then(w);
	atomic_store(&w->done, 1);
	return NULL;
}

void th_waiter_start(struct th_waiter *w)
{
	atomic_store(&w->tid, 0);
	atomic_store(&w->done, 0);
	w->result = INT32_MIN;
	w->then_result = 0;
	assert_int_equal(pthread_create(&w->th, NULL, waiter_main, w), 0);
}

bool th_waiter_blocked(struct th_waiter *w, int timeout_ms)
{
	int64_t deadline = th_now_ns() + (int64_t)timeout_ms * 1000000;

	while (atomic_load(&w->tid) == 0) {
		if (th_now_ns() > deadline)
			return false;
		short_pause();
	}
	return th_wait_blocked(atomic_load(&w->tid), timeout_ms) && !atomic_load(&w->done);
}

int th_waiter_join(struct th_waiter *w)
{
	if (!th_join(w->th, NULL, TH_LONG_MS))
		fail_msg("waiter thread %d did not finish within %d ms", (int)atomic_load(&w->tid),
			 TH_LONG_MS);
	return w->result;
}
