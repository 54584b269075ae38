/* SPDX-License-Identifier: MIT */
/*
 * sync_bench: the core's synchronization objects against their baselines,
 * measured in one run on this machine.
 *
 *   1. uncontended mutex acquire+release: iol_wait(IOL_INFINITE) +
 *      iol_mutex_release on a named mutex, against pthread_mutex_lock +
 *      unlock of a process-shared robust pthread_mutex_t in shared memory
 *      (goal: no slower than 1.5x);
 *   2. event set-to-wake round trip between two processes: ping-pong on
 *      two auto-reset events, against a raw futex ping-pong on a shared
 *      word (goal: within 1.25x) and an eventfd ping-pong;
 *   3. iol_wait_many over 64 handles with the last one signaled, against
 *      poll() over 64 eventfds with the last one readable: (a) the scan
 *      when it is already signaled (timeout 0), (b) the round trip when a
 *      process sleeps in it and another signals the last one.
 *
 * Each figure is measured RUNS times (iolayer and its baseline alternate,
 * so drift hits both); the table gives the median and [min, max] of the
 * runs, and the ratio of the medians.  Everything runs pinned to CPU 0,
 * both processes of a ping-pong included (see pin_mode for why, and
 * SYNC_BENCH_PIN=split|none for the other placements).
 *
 * usage: sync_bench [-q]   (-q: 1/20 of the iterations, for a smoke run)
 *        SYNC_BENCH_PIN=same|split|none sync_bench
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"

#define RUNS  5
#define NWAIT 64

static long n_mutex = 10000000, n_pingpong = 100000, n_scan = 200000, n_wake = 50000;
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

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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

/* ---- statistics ----------------------------------------------------------- */

struct fig {
	double v[RUNS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double med(const struct fig *f)
{
	double s[RUNS];

	memcpy(s, f->v, sizeof(s));
	qsort(s, RUNS, sizeof(double), cmp_double);
	return s[RUNS / 2];
}

static double lo(const struct fig *f)
{
	double m = f->v[0];

	for (int i = 1; i < RUNS; i++)
		m = f->v[i] < m ? f->v[i] : m;
	return m;
}

static double hi(const struct fig *f)
{
	double m = f->v[0];

	for (int i = 1; i < RUNS; i++)
		m = f->v[i] > m ? f->v[i] : m;
	return m;
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

/* ---- 2. ping-pong between two processes -------------------------------------- */

enum pp_kind { PP_IOL, PP_FUTEX, PP_EVENTFD, PP_IOL_MANY, PP_POLL_MANY };

struct pp {
	enum pp_kind kind;
	long n;
	/* PP_FUTEX */
	_Atomic uint32_t *turn; /* 0: the parent's turn, 1: the child's */
	/* PP_EVENTFD, PP_POLL_MANY */
	int efd_ping, efd_pong;
	int efds[NWAIT];
	/* PP_IOL, PP_IOL_MANY: opened by name in each process */
};

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

static void iol_objects(iol_table **t, int *ping, int *pong, int *many)
{
	if (iol_table_open(table_name, NULL, t) != 0)
		die("iol_table_open (child)", EINVAL);
	*ping = iol_event_open(*t, "ping", 0, false, false);
	*pong = iol_event_open(*t, "pong", 0, false, false);
	for (int i = 0; i < NWAIT; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "many%d", i);
		many[i] = iol_event_open(*t, nm, 0, false, false);
		if (many[i] <= 0)
			die("iol_event_open", many[i]);
	}
	if (*ping <= 0 || *pong <= 0)
		die("iol_event_open", EINVAL);
}

static void child_side(struct pp *p)
{
	int ping = 0, pong = 0, many[NWAIT];
	struct pollfd pfd[NWAIT];
	iol_table *t = NULL;

	pin(1);
	if (p->kind == PP_IOL || p->kind == PP_IOL_MANY)
		iol_objects(&t, &ping, &pong, many);
	for (int i = 0; i < NWAIT; i++)
		pfd[i] = (struct pollfd){.fd = p->efds[i], .events = POLLIN};
	for (long i = 0; i < p->n; i++) {
		switch (p->kind) {
		case PP_IOL:
			if (iol_wait(ping, IOL_INFINITE) != 0 || iol_event_set(pong) != 0)
				die("child ping-pong", EINVAL);
			break;
		case PP_FUTEX:
			futex_await(p->turn, 1);
			futex_hand(p->turn, 0);
			break;
		case PP_EVENTFD:
			efd_read(p->efd_ping);
			efd_write(p->efd_pong);
			break;
		case PP_IOL_MANY:
			if (iol_wait_many(many, NWAIT, 0, IOL_INFINITE) != NWAIT - 1 ||
			    iol_event_set(pong) != 0)
				die("child wait_many", EINVAL);
			break;
		case PP_POLL_MANY:
			if (poll(pfd, NWAIT, -1) != 1 || !(pfd[NWAIT - 1].revents & POLLIN))
				die("child poll", EINVAL);
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
	int ping = 0, pong = 0, many[NWAIT], st;
	long warm = n / 10 + 1;
	int64_t t0 = 0;
	pid_t pid;

	if (!p)
		p = shared(sizeof(*p));
	p->kind = kind;
	p->n = n + warm;
	if (kind == PP_FUTEX) {
		if (!p->turn)
			p->turn = shared(4096);
		atomic_store(p->turn, 0);
	}
	if (kind == PP_EVENTFD || kind == PP_POLL_MANY) {
		p->efd_ping = eventfd(0, EFD_CLOEXEC);
		p->efd_pong = eventfd(0, EFD_CLOEXEC);
		for (int i = 0; i < NWAIT; i++)
			p->efds[i] = eventfd(0, EFD_CLOEXEC);
	}
	if (kind == PP_IOL || kind == PP_IOL_MANY) {
		ping = iol_event_open(tab, "ping", 0, false, false);
		pong = iol_event_open(tab, "pong", 0, false, false);
		for (int i = 0; i < NWAIT; i++) {
			char nm[16];

			snprintf(nm, sizeof(nm), "many%d", i);
			many[i] = iol_event_open(tab, nm, 0, false, false);
		}
	}
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
			if (iol_event_set(ping) != 0 || iol_wait(pong, IOL_INFINITE) != 0)
				die("parent ping-pong", EINVAL);
			break;
		case PP_FUTEX:
			futex_hand(p->turn, 1);
			futex_await(p->turn, 0);
			break;
		case PP_EVENTFD:
			efd_write(p->efd_ping);
			efd_read(p->efd_pong);
			break;
		case PP_IOL_MANY:
			if (iol_event_set(many[NWAIT - 1]) != 0 ||
			    iol_wait(pong, IOL_INFINITE) != 0)
				die("parent wait_many", EINVAL);
			break;
		case PP_POLL_MANY:
			efd_write(p->efds[NWAIT - 1]);
			efd_read(p->efd_pong);
			break;
		}
	}
	double per = (double)(now_ns() - t0) / (double)n;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child", ECHILD);
	if (kind == PP_IOL || kind == PP_IOL_MANY) {
		iol_close(ping);
		iol_close(pong);
		for (int i = 0; i < NWAIT; i++)
			iol_close(many[i]);
	}
	if (kind == PP_EVENTFD || kind == PP_POLL_MANY) {
		close(p->efd_ping);
		close(p->efd_pong);
		for (int i = 0; i < NWAIT; i++)
			close(p->efds[i]);
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

/* ---- the report ------------------------------------------------------------------ */

static void machine(void)
{
	const struct iol_features *f = iol_features();
	char model[256] = "unknown", line[512];
	struct utsname u;
	FILE *fp = popen("lscpu 2>/dev/null", "r");

	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			if (strncmp(line, "Model name:", 11) == 0) {
				char *s = line + 11;

				while (*s == ' ' || *s == '\t')
					s++;
				s[strcspn(s, "\n")] = '\0';
				snprintf(model, sizeof(model), "%.200s", s);
			}
		}
		pclose(fp);
	}
	uname(&u);
	printf("# sync_bench: iolayer %s\n", IOL_VERSION_STRING);
	printf("machine:  %s, %d CPUs online\n", model, ncpu);
	printf("kernel:   %s %s\n", u.sysname, u.release);
	if (f->liburing_major >= 0)
		printf("liburing: %d.%d\n", f->liburing_major, f->liburing_minor);
	else
		printf("liburing: unknown\n");
	printf("runs:     %d per figure (median [min, max])\n", RUNS);
	printf("pinning:  %s\n",
	       strcmp(pin_mode, "none") == 0 ? "none"
	       : strcmp(pin_mode, "same") == 0 || ncpu < 2
		   ? "every process on CPU 0 (ping-pong partners share it)"
		   : "ping-pong parent on CPU 0, child on CPU 1; single-process runs on CPU 0");
	printf("iterations per run: mutex %ld, ping-pong %ld, scan %ld, wake %ld\n\n", n_mutex,
	       n_pingpong, n_scan, n_wake);
}

struct row {
	const char *what, *base, *unit;
	struct fig iol, ref;
	double goal; /* max ratio, 0: none */
};

static void print_row(const struct row *r)
{
	double ratio = med(&r->iol) / med(&r->ref);
	char goal[64] = "-";

	if (r->goal > 0)
		snprintf(goal, sizeof(goal), "<= %.2fx: %s", r->goal,
			 ratio <= r->goal ? "met" : "MISSED");
	printf("| %-38s | %9.1f [%8.1f, %8.1f] | %-22s | %9.1f [%8.1f, %8.1f] | %5.2fx | %-16s |\n",
	       r->what, med(&r->iol), lo(&r->iol), hi(&r->iol), r->base, med(&r->ref), lo(&r->ref),
	       hi(&r->ref), ratio, goal);
}

int main(int argc, char **argv)
{
	struct row rows[6];
	pthread_mutex_t *pm;
	pthread_mutexattr_t a;
	struct pollfd pfd[NWAIT];
	int m, hs[NWAIT], efds[NWAIT], r;

	if (argc > 1 && strcmp(argv[1], "-q") == 0) {
		n_mutex /= 20, n_pingpong /= 20, n_scan /= 20, n_wake /= 20;
	}
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (getenv("SYNC_BENCH_PIN"))
		pin_mode = getenv("SYNC_BENCH_PIN");
	/* across CPUs a round trip is ~100x slower here: keep the run short */
	if (strcmp(pin_mode, "same") != 0)
		n_pingpong /= 20, n_wake /= 20;
	machine();
	snprintf(table_name, sizeof(table_name), "sync-bench-%d", (int)getpid());
	r = iol_table_open(table_name, NULL, &tab);
	if (r)
		die("iol_table_open", r);
	pin(0);

	/* 1. mutex */
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
	rows[0] = (struct row){.what = "mutex acquire+release, uncontended (ns)",
			       .base = "robust pshared pthread",
			       .goal = 1.5};
	for (int i = 0; i < RUNS; i++) {
		rows[0].iol.v[i] = run_iol_mutex(m, n_mutex);
		rows[0].ref.v[i] = run_pthread_mutex(pm, n_mutex);
	}

	/* 2. ping-pong */
	for (int i = 0; i < 2; i++)
		if (iol_event_open(tab, i ? "pong" : "ping", IOL_CREATE, false, false) <= 0)
			die("iol_event_open", EINVAL);
	for (int i = 0; i < NWAIT; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "many%d", i);
		hs[i] = iol_event_open(tab, nm, IOL_CREATE, false, false);
		if (hs[i] <= 0)
			die("iol_event_open", hs[i]);
	}
	rows[1] = (struct row){.what = "event round trip, 2 processes (ns)",
			       .base = "raw futex ping-pong",
			       .goal = 1.25};
	rows[2] =
	    (struct row){.what = "event round trip, 2 processes (ns)", .base = "eventfd ping-pong"};
	for (int i = 0; i < RUNS; i++) {
		rows[1].iol.v[i] = run_pingpong(PP_IOL, n_pingpong);
		rows[1].ref.v[i] = run_pingpong(PP_FUTEX, n_pingpong);
		rows[2].ref.v[i] = run_pingpong(PP_EVENTFD, n_pingpong);
	}
	rows[2].iol = rows[1].iol;

	/* 3a. 64 objects, the last ready: the scan.  Manual-reset so the wait
	 * does not consume it; an eventfd stays readable until read. */
	{
		int man[NWAIT];

		for (int i = 0; i < NWAIT; i++) {
			man[i] = iol_event_open(tab, NULL, 0, true, i == NWAIT - 1);
			efds[i] = eventfd(0, EFD_CLOEXEC);
			pfd[i] = (struct pollfd){.fd = efds[i], .events = POLLIN};
		}
		efd_write(efds[NWAIT - 1]);
		run_iol_scan(man, n_scan / 10);
		run_poll_scan(pfd, n_scan / 10);
		rows[3] = (struct row){.what = "wait_many 64, last ready, timeout 0 (ns)",
				       .base = "poll() 64 eventfds"};
		for (int i = 0; i < RUNS; i++) {
			rows[3].iol.v[i] = run_iol_scan(man, n_scan);
			rows[3].ref.v[i] = run_poll_scan(pfd, n_scan);
		}
		for (int i = 0; i < NWAIT; i++) {
			iol_close(man[i]);
			close(efds[i]);
		}
	}

	/* 3b. a process asleep on 64, another signals the last; reply on one */
	rows[4] =
	    (struct row){.what = "wait_many 64 wake round trip (ns)", .base = "poll() 64 eventfds"};
	for (int i = 0; i < RUNS; i++) {
		rows[4].iol.v[i] = run_pingpong(PP_IOL_MANY, n_wake);
		rows[4].ref.v[i] = run_pingpong(PP_POLL_MANY, n_wake);
	}

	printf("| %-38s | %-31s | %-22s | %-31s | %-6s | %-16s |\n", "benchmark",
	       "iolayer median [min, max]", "baseline", "baseline median [min, max]", "ratio",
	       "goal");
	printf("|%.40s|%.33s|%.24s|%.33s|%.8s|%.18s|\n", "----------------------------------------",
	       "---------------------------------", "------------------------",
	       "---------------------------------", "--------", "------------------");
	for (int i = 0; i < 5; i++)
		print_row(&rows[i]);

	iol_table_close(tab);
	iol_table_unlink(table_name);
	return 0;
}
