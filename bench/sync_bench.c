/* SPDX-License-Identifier: MIT */
/*
 * sync_bench: the core's synchronization objects against their baselines,
 * measured in one run on this machine.
 *
 *   1. uncontended mutex acquire+release: iol_wait(IOL_INFINITE) +
 *      iol_mutex_release on a named mutex, against pthread_mutex_lock +
 *      unlock of a process-shared robust pthread_mutex_t in shared memory
 *      (goal: no slower than 1.3x, issue 11); and uncontended semaphore
 *      wait+release (iol_wait on a semaphore with a count +
 *      iol_semaphore_release) against sem_wait + sem_post on a sem_open()
 *      semaphore (goal: 1.3x);
 *   2. event set-to-wake round trip between two processes: ping-pong on
 *      two auto-reset events, against a raw futex ping-pong on a shared
 *      word (goal: within 1.25x), an eventfd ping-pong and a pipe
 *      ping-pong; and the same round trip on two iolayer semaphores
 *      against two POSIX named semaphores (sem_open);
 *   3. iol_wait_many over 64 handles with the last one signaled, against
 *      poll() and epoll over 64 eventfds with the last one readable: (a)
 *      the scan when it is already signaled (timeout 0), (b) the round trip
 *      when a process sleeps in it and another signals the last one;
 *   4. wakeups per release: 4 processes asleep in iol_wait_many over a
 *      semaphore and an event, the semaphore released one unit at a time,
 *      against the same with iol_wait on the semaphore alone: how many of
 *      the waiters wake per release (each wake that finds nothing sends
 *      its waiter back to sleep, so it is counted as the waiters' voluntary
 *      context switches, getrusage, per release; goal: at most 1.5x the
 *      single-object waiters', who are woken one per unit).
 *
 * Each figure is measured RUNS times (iolayer and its baselines alternate,
 * so drift hits all); the table gives the median and [min, max] of the
 * runs, and the ratio of the medians.  Everything runs pinned to CPU 0,
 * both processes of a ping-pong included (see pin_mode for why, and
 * BENCH_PIN=split|none for the other placements).  Besides the table it
 * prints one "@result" line per figure (bench/report.h).
 *
 * usage: sync_bench [--quick|-q]   (1/20 of the iterations, for a smoke run)
 *        BENCH_PIN=same|split|none sync_bench   (SYNC_BENCH_PIN works too)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "bench/report.h"

#define RUNS  7
#define NWAIT 64

static long n_mutex = 10000000, n_pingpong = 100000, n_scan = 200000, n_wake = 50000,
	    n_release = 2000;
static int ncpu;
/* where the two processes of a ping-pong run: "same" (both on CPU 0, the
 * default), "split" (CPU 0 and CPU 1) or "none" (wherever the scheduler
 * likes).  On a virtual machine whose idle vCPUs halt, a wakeup sent to
 * the other CPU costs the host's vCPU wake-up (tens of microseconds and
 * more), which then dominates every ping-pong alike; sharing one CPU
 * measures the code paths themselves. */
static const char *pin_mode = "same";
static char table_name[64];
static iol_table *tab;

static void die(const char *what, int err)
{
	fprintf(stderr, "sync_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

#define now_ns bench_now_ns

static void pin(int cpu)
{
	cpu_set_t set;

	if (strcmp(pin_mode, "none") == 0)
		return;
	if (strcmp(pin_mode, "same") == 0 || ncpu < 2)
		cpu = 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity", errno);
}

static void *shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	return p;
}

/* ---- 1. uncontended mutex ---------------------------------------------------- */

static double run_iol_mutex(int m, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (iol_wait(m, IOL_INFINITE) != 0 || iol_mutex_release(m) != 1)
			die("iol mutex", EINVAL);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double run_pthread_mutex(pthread_mutex_t *pm, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (pthread_mutex_lock(pm) != 0 || pthread_mutex_unlock(pm) != 0)
			die("pthread mutex", EINVAL);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double run_iol_sem(int sem, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (iol_wait(sem, IOL_INFINITE) != 0 || iol_semaphore_release(sem, 1) != 0)
			die("iol semaphore", EINVAL);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double run_posix_sem(sem_t *sem, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (sem_wait(sem) != 0 || sem_post(sem) != 0)
			die("sem_wait/sem_post", errno);
	}
	return (double)(now_ns() - t0) / (double)n;
}

/* ---- 2. ping-pong between two processes -------------------------------------- */

enum pp_kind {
	PP_IOL,
	PP_IOL_SEM,
	PP_FUTEX,
	PP_EVENTFD,
	PP_PIPE,
	PP_POSIX_SEM,
	PP_IOL_MANY,
	PP_POLL_MANY,
	PP_EPOLL_MANY,
};

struct pp {
	enum pp_kind kind;
	long n;
	/* PP_FUTEX */
	_Atomic uint32_t *turn; /* 0: the parent's turn, 1: the child's */
	/* PP_EVENTFD, PP_POLL_MANY, PP_EPOLL_MANY: efd_pong is the answer */
	int efd_ping, efd_pong;
	int efds[NWAIT];
	int epfd; /* PP_EPOLL_MANY: each process makes its own */
	/* PP_PIPE: [0] parent -> child, [1] child -> parent */
	int pipes[2][2];
	/* PP_POSIX_SEM: sem_open'ed before the fork, the mapping inherited */
	sem_t *sem_ping, *sem_pong;
	/* PP_IOL*: opened by name in each process */
};

static char sem_ping_name[64], sem_pong_name[64];

static long sys_futex(_Atomic uint32_t *w, int op, uint32_t v)
{
	return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

/* The smallest correct futex ping-pong: one shared word says whose turn it
 * is; hand over, wake, and sleep while it is not ours.  Shared futexes, as
 * across processes iolayer must use too. */
static void futex_hand(_Atomic uint32_t *w, uint32_t to)
{
	atomic_store(w, to);
	sys_futex(w, FUTEX_WAKE, 1);
}

static void futex_await(_Atomic uint32_t *w, uint32_t mine)
{
	uint32_t v;

	while ((v = atomic_load(w)) != mine)
		sys_futex(w, FUTEX_WAIT, v);
}

static void efd_write(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, 8) != 8)
		die("eventfd write", errno);
}

static void efd_read(int fd)
{
	uint64_t v;

	if (read(fd, &v, 8) != 8)
		die("eventfd read", errno);
}

static void pipe_write(int fd)
{
	if (write(fd, "x", 1) != 1)
		die("pipe write", errno);
}

static void pipe_read(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		die("pipe read", errno);
}

static void sem_wait_ok(sem_t *s)
{
	while (sem_wait(s) != 0)
		if (errno != EINTR)
			die("sem_wait", errno);
}

/* An epoll instance over the 64 eventfds, level-triggered. */
static int epoll_of(const int *efds)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1", errno);
	for (int i = 0; i < NWAIT; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

		if (epoll_ctl(ep, EPOLL_CTL_ADD, efds[i], &ev) != 0)
			die("epoll_ctl", errno);
	}
	return ep;
}

struct iol_objs {
	int ping, pong, sping, spong, many[NWAIT];
};

/* The objects of a ping-pong, by name: created by the parent (main), opened
 * by both processes. */
static void iol_open_objs(iol_table *t, struct iol_objs *o)
{
	o->ping = iol_event_open(t, "ping", 0, false, false);
	o->pong = iol_event_open(t, "pong", 0, false, false);
	o->sping = iol_semaphore_open(t, "sping", 0, 0, 1);
	o->spong = iol_semaphore_open(t, "spong", 0, 0, 1);
	if (o->ping <= 0 || o->pong <= 0 || o->sping <= 0 || o->spong <= 0)
		die("iol open", EINVAL);
	for (int i = 0; i < NWAIT; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "many%d", i);
		o->many[i] = iol_event_open(t, nm, 0, false, false);
		if (o->many[i] <= 0)
			die("iol_event_open", o->many[i]);
	}
}

static void iol_close_objs(struct iol_objs *o)
{
	iol_close(o->ping);
	iol_close(o->pong);
	iol_close(o->sping);
	iol_close(o->spong);
	for (int i = 0; i < NWAIT; i++)
		iol_close(o->many[i]);
}

static bool is_iol(enum pp_kind k)
{
	return k == PP_IOL || k == PP_IOL_SEM || k == PP_IOL_MANY;
}

static void child_side(struct pp *p)
{
	struct iol_objs o;
	struct pollfd pfd[NWAIT];
	struct epoll_event ev[NWAIT];
	iol_table *t = NULL;
	int ep = -1;

	pin(1);
	if (is_iol(p->kind)) {
		if (iol_table_open(table_name, NULL, &t) != 0)
			die("iol_table_open (child)", EINVAL);
		iol_open_objs(t, &o);
	}
	if (p->kind == PP_EPOLL_MANY)
		ep = epoll_of(p->efds);
	for (int i = 0; i < NWAIT; i++)
		pfd[i] = (struct pollfd){.fd = p->efds[i], .events = POLLIN};
	for (long i = 0; i < p->n; i++) {
		switch (p->kind) {
		case PP_IOL:
			if (iol_wait(o.ping, IOL_INFINITE) != 0 || iol_event_set(o.pong) != 0)
				die("child ping-pong", EINVAL);
			break;
		case PP_IOL_SEM:
			if (iol_wait(o.sping, IOL_INFINITE) != 0 ||
			    iol_semaphore_release(o.spong, 1) != 0)
				die("child semaphore ping-pong", EINVAL);
			break;
		case PP_FUTEX:
			futex_await(p->turn, 1);
			futex_hand(p->turn, 0);
			break;
		case PP_EVENTFD:
			efd_read(p->efd_ping);
			efd_write(p->efd_pong);
			break;
		case PP_PIPE:
			pipe_read(p->pipes[0][0]);
			pipe_write(p->pipes[1][1]);
			break;
		case PP_POSIX_SEM:
			sem_wait_ok(p->sem_ping);
			if (sem_post(p->sem_pong) != 0)
				die("sem_post", errno);
			break;
		case PP_IOL_MANY:
			if (iol_wait_many(o.many, NWAIT, 0, IOL_INFINITE) != NWAIT - 1 ||
			    iol_event_set(o.pong) != 0)
				die("child wait_many", EINVAL);
			break;
		case PP_POLL_MANY:
			if (poll(pfd, NWAIT, -1) != 1 || !(pfd[NWAIT - 1].revents & POLLIN))
				die("child poll", EINVAL);
			efd_read(p->efds[NWAIT - 1]);
			efd_write(p->efd_pong);
			break;
		case PP_EPOLL_MANY:
			if (epoll_wait(ep, ev, NWAIT, -1) != 1 || ev[0].data.u32 != NWAIT - 1)
				die("child epoll_wait", EINVAL);
			efd_read(p->efds[NWAIT - 1]);
			efd_write(p->efd_pong);
			break;
		}
	}
	if (t)
		iol_table_close(t);
	_exit(0);
}

/* One run: the parent times n round trips (after a warm-up of its own). */
static double run_pingpong(enum pp_kind kind, long n)
{
	static struct pp *p;
	struct iol_objs o;
	long warm = n / 10 + 1;
	int64_t t0 = 0;
	pid_t pid;
	int st;

	if (!p)
		p = shared(sizeof(*p));
	p->kind = kind;
	p->n = n + warm;
	if (kind == PP_FUTEX) {
		if (!p->turn)
			p->turn = shared(4096);
		atomic_store(p->turn, 0);
	}
	if (kind == PP_EVENTFD || kind == PP_POLL_MANY || kind == PP_EPOLL_MANY) {
		p->efd_ping = eventfd(0, EFD_CLOEXEC);
		p->efd_pong = eventfd(0, EFD_CLOEXEC);
		for (int i = 0; i < NWAIT; i++)
			p->efds[i] = eventfd(0, EFD_CLOEXEC);
	}
	if (kind == PP_PIPE)
		if (pipe2(p->pipes[0], O_CLOEXEC) != 0 || pipe2(p->pipes[1], O_CLOEXEC) != 0)
			die("pipe2", errno);
	if (kind == PP_POSIX_SEM) {
		p->sem_ping = sem_open(sem_ping_name, O_CREAT | O_EXCL, 0600, 0);
		p->sem_pong = sem_open(sem_pong_name, O_CREAT | O_EXCL, 0600, 0);
		if (p->sem_ping == SEM_FAILED || p->sem_pong == SEM_FAILED)
			die("sem_open", errno);
	}
	if (is_iol(kind))
		iol_open_objs(tab, &o);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0)
		child_side(p);
	pin(0);
	for (long i = 0; i < n + warm; i++) {
		if (i == warm)
			t0 = now_ns();
		switch (kind) {
		case PP_IOL:
			if (iol_event_set(o.ping) != 0 || iol_wait(o.pong, IOL_INFINITE) != 0)
				die("parent ping-pong", EINVAL);
			break;
		case PP_IOL_SEM:
			if (iol_semaphore_release(o.sping, 1) != 0 ||
			    iol_wait(o.spong, IOL_INFINITE) != 0)
				die("parent semaphore ping-pong", EINVAL);
			break;
		case PP_FUTEX:
			futex_hand(p->turn, 1);
			futex_await(p->turn, 0);
			break;
		case PP_EVENTFD:
			efd_write(p->efd_ping);
			efd_read(p->efd_pong);
			break;
		case PP_PIPE:
			pipe_write(p->pipes[0][1]);
			pipe_read(p->pipes[1][0]);
			break;
		case PP_POSIX_SEM:
			if (sem_post(p->sem_ping) != 0)
				die("sem_post", errno);
			sem_wait_ok(p->sem_pong);
			break;
		case PP_IOL_MANY:
			if (iol_event_set(o.many[NWAIT - 1]) != 0 ||
			    iol_wait(o.pong, IOL_INFINITE) != 0)
				die("parent wait_many", EINVAL);
			break;
		case PP_POLL_MANY:
		case PP_EPOLL_MANY:
			efd_write(p->efds[NWAIT - 1]);
			efd_read(p->efd_pong);
			break;
		}
	}
	double per = (double)(now_ns() - t0) / (double)n;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child", ECHILD);
	if (is_iol(kind))
		iol_close_objs(&o);
	if (kind == PP_EVENTFD || kind == PP_POLL_MANY || kind == PP_EPOLL_MANY) {
		close(p->efd_ping);
		close(p->efd_pong);
		for (int i = 0; i < NWAIT; i++)
			close(p->efds[i]);
	}
	if (kind == PP_PIPE)
		for (int i = 0; i < 4; i++)
			close(p->pipes[i / 2][i % 2]);
	if (kind == PP_POSIX_SEM) {
		sem_close(p->sem_ping);
		sem_close(p->sem_pong);
		sem_unlink(sem_ping_name);
		sem_unlink(sem_pong_name);
	}
	return per;
}

/* ---- 3a. 64 objects, the last one ready: the scan ----------------------------- */

static double run_iol_scan(const int *hs, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (iol_wait_many(hs, NWAIT, 0, 0) != NWAIT - 1)
			die("iol_wait_many", EINVAL);
	return (double)(now_ns() - t0) / (double)n;
}

static double run_poll_scan(struct pollfd *pfd, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (poll(pfd, NWAIT, 0) != 1)
			die("poll", EINVAL);
	return (double)(now_ns() - t0) / (double)n;
}

static double run_epoll_scan(int ep, long n)
{
	struct epoll_event ev[NWAIT];
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (epoll_wait(ep, ev, NWAIT, 0) != 1 || ev[0].data.u32 != NWAIT - 1)
			die("epoll_wait", EINVAL);
	return (double)(now_ns() - t0) / (double)n;
}

/* ---- 4. wakeups per release ------------------------------------------------------- */

#define NWAITERS 4

struct wk {
	_Atomic long taken;	       /* units taken by the waiters */
	_Atomic long sleeps[NWAITERS]; /* their voluntary context switches */
};

static long vcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw;
}

/* A waiter process: take units of `sem` until `stop` is set, counting its
 * sleeps from its first wait to its last. */
static void wk_waiter(struct wk *w, int k, bool many)
{
	iol_table *t;
	int hs[2];
	long before;

	if (iol_table_open(table_name, NULL, &t) != 0)
		die("iol_table_open (waiter)", EINVAL);
	hs[0] = iol_semaphore_open(t, "wk-sem", 0, 0, 1);
	hs[1] = iol_event_open(t, "wk-stop", 0, true, false);
	if (hs[0] <= 0 || hs[1] <= 0)
		die("iol open (waiter)", EINVAL);
	before = vcsw();
	for (;;) {
		int r =
		    many ? iol_wait_many(hs, 2, 0, IOL_INFINITE) : iol_wait(hs[0], IOL_INFINITE);

		if (r < 0)
			die("waiter wait", r);
		if (many && r == 1)
			break;
		if (!many && atomic_load(&w->taken) < 0)
			break; /* woken by the final units: stop */
		atomic_fetch_add(&w->taken, 1);
	}
	atomic_store(&w->sleeps[k], vcsw() - before);
	iol_table_close(t);
	_exit(0);
}

/* Wakes per unit released: NWAITERS waiters, n releases of one unit, each
 * once the previous unit was taken and the waiters had time to sleep. */
static double run_wakeups(bool many, long n)
{
	static struct wk *w;
	pid_t pid[NWAITERS];
	long total = 0;
	int sem, stop;

	if (!w)
		w = shared(sizeof(*w));
	memset(w, 0, sizeof(*w));
	sem = iol_semaphore_open(tab, "wk-sem", IOL_CREATE, 0, 1);
	stop = iol_event_open(tab, "wk-stop", IOL_CREATE, true, false);
	if (sem <= 0 || stop <= 0)
		die("iol open (wakeups)", EINVAL);
	fflush(NULL);
	for (int k = 0; k < NWAITERS; k++) {
		pid[k] = fork();
		if (pid[k] < 0)
			die("fork", errno);
		if (pid[k] == 0)
			wk_waiter(w, k, many);
	}
	for (long i = 0; i < n; i++) {
		struct timespec gap = {0, 200000}; /* 0.2 ms: everyone back asleep */

		nanosleep(&gap, NULL);
		if (iol_semaphore_release(sem, 1) != 0)
			die("release", EINVAL);
		while (atomic_load(&w->taken) < i + 1)
			sched_yield();
	}
	/* stop them: the event for iol_wait_many, units for iol_wait */
	atomic_store(&w->taken, -1000000000L);
	iol_event_set(stop);
	for (int k = 0; k < NWAITERS && !many; k++) /* one unit each */
		while (iol_semaphore_release(sem, 1) == -EOVERFLOW)
			sched_yield();
	for (int k = 0; k < NWAITERS; k++) {
		int st;

		if (waitpid(pid[k], &st, 0) != pid[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("waiter", ECHILD);
	}
	for (int k = 0; k < NWAITERS; k++)
		total += atomic_load(&w->sleeps[k]);
	iol_close(sem);
	iol_close(stop);
	/* each waiter's first sleep is not a wake's */
	return (double)(total - NWAITERS) / (double)n;
}

/* ---- the report ------------------------------------------------------------------ */

static void machine(void)
{
	bench_header("sync_bench");
	printf("runs:     %d per figure (median [min, max])\n", RUNS);
	printf("pinning:  %s\n",
	       strcmp(pin_mode, "none") == 0 ? "none"
	       : strcmp(pin_mode, "same") == 0 || ncpu < 2
		   ? "every process on CPU 0 (ping-pong partners share it)"
		   : "ping-pong parent on CPU 0, child on CPU 1; single-process runs on CPU 0");
	printf("iterations per run: mutex and semaphore %ld, ping-pong %ld, scan %ld, wake %ld, "
	       "releases %ld\n\n",
	       n_mutex, n_pingpong, n_scan, n_wake, n_release);
	fflush(stdout);
}

struct row {
	const char *what, *base;
	const char *unit; /* NULL: ns */
	double iol[RUNS], ref[RUNS];
	double goal; /* max ratio iolayer/baseline, 0: none */
};

static struct bench_result result_of(const struct row *r)
{
	return (struct bench_result){
	    .scenario = r->what,
	    .unit = r->unit ? r->unit : "ns",
	    .better = BENCH_LOWER_IS_BETTER,
	    .iol = bench_fig_of(r->iol, RUNS),
	    .baseline = r->base,
	    .base = bench_fig_of(r->ref, RUNS),
	    .ratio_is = BENCH_RATIO_IOL_OVER_BASE,
	    .goal_kind = r->goal > 0 ? BENCH_GOAL_AT_MOST : BENCH_NO_GOAL,
	    .goal = r->goal,
	};
}

static void print_row(const struct row *r)
{
	struct bench_result b = result_of(r);
	char goal[64] = "-", what[64];

	if (r->goal > 0) {
		bench_goal_text(&b, goal, sizeof(goal));
		snprintf(goal + strlen(goal), sizeof(goal) - strlen(goal), ": %s",
			 bench_goal_met(&b) ? "met" : "MISSED");
	}
	snprintf(what, sizeof(what), "%s (%s)", r->what, r->unit ? r->unit : "ns");
	printf("| %-42s | %9.1f [%8.1f, %8.1f] | %-24s | %9.1f [%8.1f, %8.1f] | %5.2fx | %-16s |\n",
	       what, b.iol.median, b.iol.min, b.iol.max, r->base, b.base.median, b.base.min,
	       b.base.max, bench_ratio(&b), goal);
}

enum {
	R_MUTEX,
	R_SEM,
	R_EV_FUTEX,
	R_EV_EVENTFD,
	R_EV_PIPE,
	R_SEM_POSIX,
	R_SCAN_POLL,
	R_SCAN_EPOLL,
	R_WAKE_POLL,
	R_WAKE_EPOLL,
	R_WAKEUPS,
	R__COUNT
};

int main(int argc, char **argv)
{
	static struct row rows[R__COUNT];
	pthread_mutex_t *pm;
	pthread_mutexattr_t a;
	struct pollfd pfd[NWAIT];
	int m, efds[NWAIT], r;

	if (bench_quick_only(argc, argv,
			     "[--quick|-q]   (1/20 of the iterations, for a smoke run)"))
		n_mutex /= 20, n_pingpong /= 20, n_scan /= 20, n_wake /= 20, n_release /= 20;
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (getenv("SYNC_BENCH_PIN"))
		pin_mode = getenv("SYNC_BENCH_PIN");
	if (getenv("BENCH_PIN"))
		pin_mode = getenv("BENCH_PIN");
	if (strcmp(pin_mode, "same") && strcmp(pin_mode, "split") && strcmp(pin_mode, "none")) {
		fprintf(stderr, "sync_bench: BENCH_PIN must be same, split or none\n");
		return 2;
	}
	/* across CPUs a round trip is ~100x slower here: keep the run short */
	if (strcmp(pin_mode, "same") != 0)
		n_pingpong /= 20, n_wake /= 20;
	machine();
	snprintf(table_name, sizeof(table_name), "sync-bench-%d", (int)getpid());
	snprintf(sem_ping_name, sizeof(sem_ping_name), "/iolayer-sync-bench-%d-ping",
		 (int)getpid());
	snprintf(sem_pong_name, sizeof(sem_pong_name), "/iolayer-sync-bench-%d-pong",
		 (int)getpid());
	r = iol_table_open(table_name, NULL, &tab);
	if (r)
		die("iol_table_open", r);
	pin(0);

	/* 1. mutex */
	bench_progress("sync_bench: uncontended mutex, %d runs of %ld", RUNS, n_mutex);
	m = iol_mutex_open(tab, "bench-mutex", IOL_CREATE, false);
	if (m <= 0)
		die("iol_mutex_open", m);
	pm = shared(sizeof(*pm));
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(pm, &a);
	run_iol_mutex(m, n_mutex / 10); /* warm-up */
	run_pthread_mutex(pm, n_mutex / 10);
	rows[R_MUTEX] = (struct row){.what = "mutex acquire+release, uncontended",
				     .base = "robust pshared pthread",
				     .goal = 1.3};
	for (int i = 0; i < RUNS; i++) {
		rows[R_MUTEX].iol[i] = run_iol_mutex(m, n_mutex);
		rows[R_MUTEX].ref[i] = run_pthread_mutex(pm, n_mutex);
	}

	/* 1b. semaphore */
	bench_progress("sync_bench: uncontended semaphore, %d runs of %ld", RUNS, n_mutex);
	{
		int sem = iol_semaphore_open(tab, "bench-sem", IOL_CREATE, 1, 1);
		sem_t *ps;

		ps = sem_open(sem_ping_name, O_CREAT | O_EXCL, 0600, 1);
		if (sem <= 0 || ps == SEM_FAILED)
			die("semaphore open", sem <= 0 ? sem : errno);
		sem_unlink(sem_ping_name);
		run_iol_sem(sem, n_mutex / 10); /* warm-up */
		run_posix_sem(ps, n_mutex / 10);
		rows[R_SEM] = (struct row){.what = "semaphore wait+release, uncontended",
					   .base = "sem_open() sem_wait+post",
					   .goal = 1.3};
		for (int i = 0; i < RUNS; i++) {
			rows[R_SEM].iol[i] = run_iol_sem(sem, n_mutex);
			rows[R_SEM].ref[i] = run_posix_sem(ps, n_mutex);
		}
		sem_close(ps);
		iol_close(sem);
	}

	/* 2. ping-pong */
	for (int i = 0; i < 2; i++)
		if (iol_event_open(tab, i ? "pong" : "ping", IOL_CREATE, false, false) <= 0 ||
		    iol_semaphore_open(tab, i ? "spong" : "sping", IOL_CREATE, 0, 1) <= 0)
			die("iol open", EINVAL);
	for (int i = 0; i < NWAIT; i++) {
		char nm[16];
		int h;

		snprintf(nm, sizeof(nm), "many%d", i);
		h = iol_event_open(tab, nm, IOL_CREATE, false, false);
		if (h <= 0)
			die("iol_event_open", h);
	}
	rows[R_EV_FUTEX] = (struct row){
	    .what = "event round trip, 2 processes", .base = "raw futex ping-pong", .goal = 1.25};
	rows[R_EV_EVENTFD] =
	    (struct row){.what = "event round trip, 2 processes", .base = "eventfd ping-pong"};
	rows[R_EV_PIPE] =
	    (struct row){.what = "event round trip, 2 processes", .base = "pipe ping-pong"};
	rows[R_SEM_POSIX] = (struct row){.what = "semaphore round trip, 2 processes",
					 .base = "sem_open() named sems"};
	for (int i = 0; i < RUNS; i++) {
		bench_progress("sync_bench: round trips, run %d of %d (%ld each)", i + 1, RUNS,
			       n_pingpong);
		rows[R_EV_FUTEX].iol[i] = run_pingpong(PP_IOL, n_pingpong);
		rows[R_EV_FUTEX].ref[i] = run_pingpong(PP_FUTEX, n_pingpong);
		rows[R_EV_EVENTFD].ref[i] = run_pingpong(PP_EVENTFD, n_pingpong);
		rows[R_EV_PIPE].ref[i] = run_pingpong(PP_PIPE, n_pingpong);
		rows[R_SEM_POSIX].iol[i] = run_pingpong(PP_IOL_SEM, n_pingpong);
		rows[R_SEM_POSIX].ref[i] = run_pingpong(PP_POSIX_SEM, n_pingpong);
	}
	memcpy(rows[R_EV_EVENTFD].iol, rows[R_EV_FUTEX].iol, sizeof(rows[0].iol));
	memcpy(rows[R_EV_PIPE].iol, rows[R_EV_FUTEX].iol, sizeof(rows[0].iol));

	/* 3a. 64 objects, the last ready: the scan.  Manual-reset so the wait
	 * does not consume it; an eventfd stays readable until read, and the
	 * epoll instance is level-triggered. */
	bench_progress("sync_bench: wait_many 64 scan, %d runs of %ld", RUNS, n_scan);
	{
		int man[NWAIT], ep;

		for (int i = 0; i < NWAIT; i++) {
			man[i] = iol_event_open(tab, NULL, 0, true, i == NWAIT - 1);
			efds[i] = eventfd(0, EFD_CLOEXEC);
			pfd[i] = (struct pollfd){.fd = efds[i], .events = POLLIN};
		}
		efd_write(efds[NWAIT - 1]);
		ep = epoll_of(efds);
		run_iol_scan(man, n_scan / 10);
		run_poll_scan(pfd, n_scan / 10);
		run_epoll_scan(ep, n_scan / 10);
		rows[R_SCAN_POLL] = (struct row){.what = "wait_many 64, last ready, timeout 0",
						 .base = "poll() 64 eventfds"};
		rows[R_SCAN_EPOLL] = (struct row){.what = "wait_many 64, last ready, timeout 0",
						  .base = "epoll_wait 64 eventfds"};
		for (int i = 0; i < RUNS; i++) {
			rows[R_SCAN_POLL].iol[i] = run_iol_scan(man, n_scan);
			rows[R_SCAN_POLL].ref[i] = run_poll_scan(pfd, n_scan);
			rows[R_SCAN_EPOLL].ref[i] = run_epoll_scan(ep, n_scan);
		}
		memcpy(rows[R_SCAN_EPOLL].iol, rows[R_SCAN_POLL].iol, sizeof(rows[0].iol));
		close(ep);
		for (int i = 0; i < NWAIT; i++) {
			iol_close(man[i]);
			close(efds[i]);
		}
	}

	/* 3b. a process asleep on 64, another signals the last; reply on one */
	rows[R_WAKE_POLL] =
	    (struct row){.what = "wait_many 64 wake round trip", .base = "poll() 64 eventfds"};
	rows[R_WAKE_EPOLL] =
	    (struct row){.what = "wait_many 64 wake round trip", .base = "epoll_wait 64 eventfds"};
	for (int i = 0; i < RUNS; i++) {
		bench_progress("sync_bench: wait_many 64 wake, run %d of %d (%ld each)", i + 1,
			       RUNS, n_wake);
		rows[R_WAKE_POLL].iol[i] = run_pingpong(PP_IOL_MANY, n_wake);
		rows[R_WAKE_POLL].ref[i] = run_pingpong(PP_POLL_MANY, n_wake);
		rows[R_WAKE_EPOLL].ref[i] = run_pingpong(PP_EPOLL_MANY, n_wake);
	}
	memcpy(rows[R_WAKE_EPOLL].iol, rows[R_WAKE_POLL].iol, sizeof(rows[0].iol));

	/* 4. wakeups per release */
	rows[R_WAKEUPS] = (struct row){.what = "wait_many x4: wakes per release",
				       .base = "iol_wait x4 (one object)",
				       .unit = "wakes",
				       .goal = 1.5};
	for (int i = 0; i < RUNS; i++) {
		bench_progress("sync_bench: wakeups per release, run %d of %d (%ld each)", i + 1,
			       RUNS, n_release);
		rows[R_WAKEUPS].iol[i] = run_wakeups(true, n_release);
		rows[R_WAKEUPS].ref[i] = run_wakeups(false, n_release);
	}

	printf("| %-42s | %-31s | %-24s | %-31s | %-6s | %-16s |\n", "benchmark",
	       "iolayer median [min, max]", "baseline", "baseline median [min, max]", "ratio",
	       "goal");
	printf("|%.44s|%.33s|%.26s|%.33s|%.8s|%.18s|\n",
	       "--------------------------------------------", "---------------------------------",
	       "--------------------------", "---------------------------------", "--------",
	       "------------------");
	for (int i = 0; i < R__COUNT; i++)
		print_row(&rows[i]);
	printf("\n");
	for (int i = 0; i < R__COUNT; i++) {
		struct bench_result b = result_of(&rows[i]);

		bench_emit("sync_bench", &b);
	}

	iol_table_close(tab);
	iol_table_unlink(table_name);
	return 0;
}
