/* SPDX-License-Identifier: MIT */
/*
 * process_bench: process handles against the kernel's own ways, in one run.
 *
 *  1. Exit-to-wake latency: from a child's last instruction before _exit
 *     to the parent's return from its wait.  The child (this program
 *     re-executed with --exit-child) waits until the parent's waiting
 *     thread is asleep in the expected system call (read from /proc), then
 *     stores CLOCK_MONOTONIC in shared memory (a memfd it inherited) and
 *     calls _exit; the parent reads the clock as soon as its wait returns.
 *     Methods, interleaved round-robin (rotating which goes first) so drift
 *     hits all alike:
 *       iol_wait        iol_process_spawn + iol_wait on the process handle
 *       SIGCHLD+waitpid posix_spawn, sigwaitinfo(SIGCHLD) then waitpid
 *                       (the baseline the issue names)
 *       waitpid         posix_spawn, blocking waitpid (the kernel's minimum)
 *       pidfd poll      posix_spawn + pidfd_open, poll, then waitid
 *  2. Spawn + wait of /bin/true: iol_process_spawn + iol_wait + iol_close
 *     against posix_spawn + waitpid, interleaved.
 *
 * Usage: process_bench [--quick] [iterations [method]]   (default 3000 per
 * method, --quick 300; a method name of part 1, or "spawn" or
 * "posix_spawn", runs only that one, for profiling it with perf)
 *
 * Besides the tables it prints one "@result" line per comparison
 * (bench/report.h): the samples of each method are cut into RUNS
 * consecutive runs, and the figure is the median of the runs' medians,
 * with their min and max.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "bench/report.h"

#define RUNS 5

extern char **environ;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "process_bench: %s: %s\n", what, strerror(err));
	exit(1);
}

/* ---- the child of part 1 ------------------------------------------------ */

/* Is thread tid of pid asleep (S) in one of the system calls nrs? */
static int asleep_in(pid_t pid, pid_t tid, const long *nrs, int n)
{
	char path[96], buf[512], *p;
	ssize_t len;
	long nr;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[2] != 'S')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0 || buf[0] < '0' || buf[0] > '9')
		return 0;
	buf[len] = '\0';
	nr = strtol(buf, NULL, 10);
	for (int i = 0; i < n; i++)
		if (nr == nrs[i])
			return 1;
	return 0;
}

/* --exit-child FD PID TID NR[,NR...] */
static int exit_child(char **argv)
{
	int fd = atoi(argv[0]);
	pid_t pid = atoi(argv[1]), tid = atoi(argv[2]);
	long nrs[5];
	int n = 0;
	int64_t *shm;
	char *s = argv[3];

	while (*s && n < 4) {
		nrs[n++] = strtol(s, &s, 10);
		if (*s == ',')
			s++;
	}
	/* An interrupted sleep resumes as restart_syscall. */
	nrs[n++] = SYS_restart_syscall;
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shm == MAP_FAILED)
		return 2;
	for (int64_t deadline = now_ns() + 5000000000LL;;) {
		int r = asleep_in(pid, tid, nrs, n);

		if (r < 0)
			return 3;
		if (r)
			break;
		if (now_ns() > deadline) {
			/* Never saw it asleep: say so rather than hang. */
			__atomic_store_n(shm, -1, __ATOMIC_RELEASE);
			_exit(4);
		}
		sched_yield();
	}
	__atomic_store_n(shm, now_ns(), __ATOMIC_RELEASE);
	_exit(0);
}

/* ---- statistics ------------------------------------------------------------ */

struct series {
	const char *name;
	int64_t *v;
	int n;
};

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct series *s, double p)
{
	int i = (int)(p * (s->n - 1) + 0.5);

	return (double)s->v[i] / 1000.0;
}

static void summarize(struct series *s)
{
	qsort(s->v, (size_t)s->n, sizeof(int64_t), cmp64);
}

static double mean_us(const struct series *s)
{
	double sum = 0;

	for (int i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	return sum / s->n / 1000.0;
}

static void print_table(const char *title, struct series *s, int count, int base)
{
	printf("\n%s (microseconds, %d samples each)\n", title, s[0].n);
	printf("  %-18s %9s %9s %9s %9s %9s %9s  %s\n", "method", "median", "p10", "p90", "p99",
	       "max", "mean", "median vs baseline");
	for (int i = 0; i < count; i++) {
		printf("  %-18s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f  ", s[i].name, pct(&s[i], 0.5),
		       pct(&s[i], 0.1), pct(&s[i], 0.9), pct(&s[i], 0.99), pct(&s[i], 1.0),
		       mean_us(&s[i]));
		if (i == base)
			printf("(baseline)\n");
		else
			printf("%.2fx\n", pct(&s[i], 0.5) / pct(&s[base], 0.5));
	}
}

/* ---- part 1 ---------------------------------------------------------------- */

enum { M_IOL, M_SIGCHLD, M_WAITPID, M_PIDFD, M__COUNT };

static const char *const method_name[M__COUNT] = {"iol_wait", "SIGCHLD+waitpid", "waitpid",
						  "pidfd poll"};

static char self_exe[4096];
static int shm_fd;
static int64_t *shm;
static sigset_t chld_set;

static void child_argv(char *argv[8], char bufs[4][64], const char *nrs)
{
	snprintf(bufs[0], 64, "%d", shm_fd);
	snprintf(bufs[1], 64, "%d", (int)getpid());
	snprintf(bufs[2], 64, "%d", (int)syscall(SYS_gettid));
	snprintf(bufs[3], 64, "%s", nrs);
	argv[0] = "process_bench";
	argv[1] = "--exit-child";
	argv[2] = bufs[0];
	argv[3] = bufs[1];
	argv[4] = bufs[2];
	argv[5] = bufs[3];
	argv[6] = NULL;
}

static void drain_sigchld(void)
{
	struct timespec zero = {0, 0};

	while (sigtimedwait(&chld_set, NULL, &zero) > 0)
		;
}

static int64_t one_latency(iol_table *t, int m)
{
	char bufs[4][64], nrs[64];
	char *argv[8];
	int64_t woke;
	pid_t pid;
	int st, err;

	__atomic_store_n(shm, 0, __ATOMIC_RELAXED);
	switch (m) {
	case M_IOL: {
		int h;

		snprintf(nrs, sizeof(nrs), "%d,%d", SYS_futex, SYS_futex_waitv);
		child_argv(argv, bufs, nrs);
		h = iol_process_spawn(t, self_exe, argv, NULL);
		if (h < 0)
			die("iol_process_spawn", -h);
		err = iol_wait(h, IOL_INFINITE);
		woke = now_ns();
		if (err)
			die("iol_wait", -err);
		iol_close(h);
		break;
	}
	case M_SIGCHLD: {
		siginfo_t si;

		/* SIGCHLDs of iolayer's children (which raise it) must not
		 * end this wait early. */
		drain_sigchld();
		snprintf(nrs, sizeof(nrs), "%d", SYS_rt_sigtimedwait);
		child_argv(argv, bufs, nrs);
		err = posix_spawn(&pid, self_exe, NULL, NULL, argv, environ);
		if (err)
			die("posix_spawn", err);
		for (;;) {
			if (sigwaitinfo(&chld_set, &si) < 0) {
				if (errno == EINTR) /* a stop/continue of the process */
					continue;
				die("sigwaitinfo", errno);
			}
			if (si.si_pid == pid)
				break;
		}
		if (waitpid(pid, &st, 0) != pid)
			die("waitpid", errno);
		woke = now_ns();
		break;
	}
	case M_WAITPID:
		snprintf(nrs, sizeof(nrs), "%d", SYS_wait4);
		child_argv(argv, bufs, nrs);
		err = posix_spawn(&pid, self_exe, NULL, NULL, argv, environ);
		if (err)
			die("posix_spawn", err);
		if (waitpid(pid, &st, 0) != pid)
			die("waitpid", errno);
		woke = now_ns();
		break;
	default: {
		struct pollfd p;
		siginfo_t si;
		int fd;

		snprintf(nrs, sizeof(nrs), "%d,%d", SYS_poll, SYS_ppoll);
		child_argv(argv, bufs, nrs);
		err = posix_spawn(&pid, self_exe, NULL, NULL, argv, environ);
		if (err)
			die("posix_spawn", err);
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd < 0)
			die("pidfd_open", errno);
		p = (struct pollfd){.fd = fd, .events = POLLIN};
		while (poll(&p, 1, -1) != 1)
			if (errno != EINTR)
				die("poll", errno);
		if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0)
			die("waitid", errno);
		woke = now_ns();
		close(fd);
		break;
	}
	}
	int64_t exited = __atomic_load_n(shm, __ATOMIC_ACQUIRE);

	if (exited <= 0) {
		fprintf(stderr, "process_bench: the child of %s %s\n", method_name[m],
			exited ? "never saw the parent asleep in its wait" : "wrote no timestamp");
		exit(1);
	}
	return woke - exited;
}

/* ---- part 2 ------------------------------------------------------------------ */

static int64_t one_spawn(iol_table *t, int iol)
{
	char *argv[] = {"true", NULL};
	int64_t t0 = now_ns();
	int st, err;

	if (iol) {
		int h = iol_process_spawn(t, "/bin/true", argv, NULL);

		if (h < 0)
			die("iol_process_spawn", -h);
		err = iol_wait(h, IOL_INFINITE);
		if (err)
			die("iol_wait", -err);
		iol_close(h);
	} else {
		pid_t pid;

		err = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
		if (err)
			die("posix_spawn", err);
		if (waitpid(pid, &st, 0) != pid)
			die("waitpid", errno);
	}
	return now_ns() - t0;
}

/* ---- header -------------------------------------------------------------------- */

static void print_header(int iters)
{
	bench_header("process_bench");
	printf("pidfs:    %s, PIDFD_GET_INFO: %s\n", iol_has(IOL_FEAT_PIDFS) ? "yes" : "no",
	       iol_has(IOL_FEAT_PIDFD_GET_INFO) ? "yes" : "no");
	printf("iterations: %d per method, methods interleaved round-robin; @result figures: "
	       "%d runs of %d\n",
	       iters, RUNS, iters / RUNS);
	fflush(stdout);
}

/* The figure of a series in microseconds: the samples cut into RUNS
 * consecutive runs, the median of each run. */
static struct bench_fig fig_of_runs(const struct series *s)
{
	double med[RUNS];

	for (int r = 0; r < RUNS; r++) {
		int a = r * s->n / RUNS, b = (r + 1) * s->n / RUNS;
		double *v = malloc(sizeof(double) * (size_t)(b - a));
		struct bench_fig f;

		if (!v)
			die("malloc", ENOMEM);
		for (int i = a; i < b; i++)
			v[i - a] = (double)s->v[i] / 1000.0;
		f = bench_fig_of(v, b - a);
		med[r] = f.median;
		free(v);
	}
	return bench_fig_of(med, RUNS);
}

/* The comparison of iol against base, figured before the series are sorted
 * and printed after the tables. */
static struct bench_result compare(const char *scenario, const struct series *iol,
				   const struct series *base)
{
	return (struct bench_result){
	    .scenario = scenario,
	    .unit = "us",
	    .better = BENCH_LOWER_IS_BETTER,
	    .iol = fig_of_runs(iol),
	    .baseline = base->name,
	    .base = fig_of_runs(base),
	    .ratio_is = BENCH_RATIO_IOL_OVER_BASE,
	    .goal_kind = BENCH_NO_GOAL,
	};
}

int main(int argc, char **argv)
{
	struct series lat[M__COUNT], sp[2];
	struct bench_result res[M__COUNT + 1];
	int nres = 0;
	iol_table *t;
	ssize_t n;
	int iters = 3000, err;
	const char *only = NULL;
	char name[64];

	if (argc >= 2 && strcmp(argv[1], "--exit-child") == 0) {
		if (argc != 6)
			return 2;
		return exit_child(argv + 2);
	}
	if (argc >= 2 && (strcmp(argv[1], "--quick") == 0 || strcmp(argv[1], "-q") == 0)) {
		iters = 300;
		argc--, argv++;
	}
	if (argc >= 2) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (argc > 3 || *end || end == argv[1] || v <= 0 || v > 10000000) {
			bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

			fprintf(help ? stdout : stderr,
				"usage: process_bench [--quick|-q] [iterations [method]]\n"
				"  method: iol_wait, SIGCHLD+waitpid, waitpid, pidfd poll, spawn, "
				"posix_spawn\n");
			return help ? 0 : 2;
		}
		iters = (int)v;
	}
	if (argc >= 3)
		only = argv[2];
	if (iters < 10 * RUNS)
		iters = 10 * RUNS;
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		die("readlink /proc/self/exe", errno);
	self_exe[n] = '\0';

	shm_fd = memfd_create("process_bench", 0); /* inherited by the children */
	if (shm_fd < 0 || ftruncate(shm_fd, 4096) < 0)
		die("memfd", errno);
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
	if (shm == MAP_FAILED)
		die("mmap", errno);
	sigemptyset(&chld_set);
	sigaddset(&chld_set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld_set, NULL);

	snprintf(name, sizeof(name), "process-bench-%d", (int)getpid());
	err = iol_table_open(name, NULL, &t);
	if (err)
		die("iol_table_open", -err);

	if (only) {
		int64_t sum = 0;

		for (int i = 0; i < iters; i++) {
			if (strcmp(only, "spawn") == 0 || strcmp(only, "posix_spawn") == 0) {
				sum += one_spawn(t, strcmp(only, "spawn") == 0);
				continue;
			}
			for (int m = 0;; m++) {
				if (m == M__COUNT)
					die(only, EINVAL);
				if (strcmp(only, method_name[m]) == 0) {
					sum += one_latency(t, m);
					break;
				}
			}
		}
		printf("%s: mean %.1f us over %d\n", only, (double)sum / iters / 1000.0, iters);
		iol_table_close(t);
		iol_table_unlink(name);
		return 0;
	}
	print_header(iters);
	for (int m = 0; m < M__COUNT; m++) {
		lat[m] =
		    (struct series){method_name[m], calloc((size_t)iters, sizeof(int64_t)), iters};
		if (!lat[m].v)
			die("calloc", ENOMEM);
	}
	for (int i = 0; i < 2; i++) {
		sp[i] = (struct series){i == 0 ? "posix_spawn+waitpid" : "iolayer spawn+wait",
					calloc((size_t)iters, sizeof(int64_t)), iters};
		if (!sp[i].v)
			die("calloc", ENOMEM);
	}
	/* Warm up: page cache, the watcher thread, the dynamic loader. */
	for (int i = 0; i < 20; i++)
		for (int m = 0; m < M__COUNT; m++)
			one_latency(t, m);
	for (int i = 0; i < iters; i++) {
		if (i % (iters / RUNS) == 0)
			bench_progress("process_bench: exit-to-wake, round %d of %d", i + 1, iters);
		for (int k = 0; k < M__COUNT; k++) {
			int m = (i + k) % M__COUNT; /* rotate who goes first */

			lat[m].v[i] = one_latency(t, m);
		}
	}
	for (int i = 0; i < 20; i++) {
		one_spawn(t, 0);
		one_spawn(t, 1);
	}
	bench_progress("process_bench: spawn + wait, %d of each", iters);
	for (int i = 0; i < iters; i++) {
		int first = i & 1;

		sp[first].v[i] = one_spawn(t, first);
		sp[!first].v[i] = one_spawn(t, !first);
	}
	for (int m = 0; m < M__COUNT; m++)
		if (m != M_IOL)
			res[nres++] = compare("child exit to parent awake", &lat[M_IOL], &lat[m]);
	res[nres++] = compare("spawn + wait of /bin/true", &sp[1], &sp[0]);
	for (int m = 0; m < M__COUNT; m++)
		summarize(&lat[m]);
	summarize(&sp[0]);
	summarize(&sp[1]);
	print_table("1. child exit -> parent awake", lat, M__COUNT, M_SIGCHLD);
	print_table("2. spawn + wait of /bin/true", sp, 2, 0);
	printf("\n");
	for (int i = 0; i < nres; i++)
		bench_emit("process_bench", &res[i]);

	iol_table_close(t);
	iol_table_unlink(name);
	return 0;
}
