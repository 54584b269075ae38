/* SPDX-License-Identifier: MIT */
/*
 * reclaim_bench: prompt reclaim of a SIGKILLed process (issue 12).
 *
 * For N other attached processes (1, 10, 100), an observer process (this
 * program forked, attached to a private table) and N children, each of
 * which holds REFS references to a shared semaphore, a named semaphore
 * only it holds, an exclusive file open (share mode 0) and a mutex it owns:
 *
 *  1. Idle cost: once every thread of every attached process sleeps, the
 *     context switches of all of the children's threads and of the
 *     observer's threads other than its main one over IDLE seconds (must
 *     be 0: no daemon, no heartbeat, no polling), and the descriptors each
 *     child has open (/proc/PID/fd) against what it had before
 *     iol_table_open.
 *  2. Reclaim after SIGKILL: a random child is killed; the clock runs from
 *     just before kill() to the moment the observer sees all of it back:
 *     the semaphore's reference count down by REFS, the named semaphore
 *     gone (open without IOL_CREATE gives -ENOENT), the mutex no longer
 *     owned (iol_query), and the dead process's record freed (the last
 *     step of a reclaim, which gives the file's share state back; a file
 *     open cannot be the probe, since a refused one reclaims by itself).
 *     The observer looks every POLL_US microseconds and makes no call
 *     that reclaims.  Afterwards it checks that the mutex is taken
 *     abandoned and the file opens, and forks a replacement child.
 *     Whether the victim was the one the observer's own sentinel watches
 *     is recorded (the ring is in record order, so it varies).
 *  3. The baseline, same run: the same kills with IOLAYER_WATCH=0 in every
 *     process (nobody watches), and the observer calling
 *     iol_table_reclaim() as soon as waitpid() returns: the best an
 *     application could do before the sentinels.
 *
 * Usage: reclaim_bench [--quick] [--seed S]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "bench/report.h"
#include "src/table/table.h" /* the process records: whose death is whose to see */

#define BENCH	   "reclaim_bench"
#define REFS	   10	      /* references each child holds on the shared semaphore */
#define POLL_US	   200	      /* the observer's look interval */
#define GIVE_UP_NS 5000000000 /* a kill not reclaimed by then is a miss */
#define MAX_N	   100
#define MAX_KILLS  64

struct ready {
	int status; /* 0, or the negative errno of the step that failed */
	int step;
	int fd_before, fd_opened; /* descriptors before and after iol_table_open */
};

/* What one observer (one N, one mode) hands back, in shared memory. */
struct phase {
	bool prompt;
	int n, kills;
	double lat_ms[MAX_KILLS];
	bool own_target[MAX_KILLS]; /* the observer's sentinel watched the victim */
	int misses;		    /* not reclaimed within GIVE_UP_NS */
	int anomalies;		    /* mutex not abandoned, file still refused */
	/* idle (prompt mode only) */
	bool settled;
	int idle_threads;
	long idle_vol, idle_invol;
	double idle_s;
	double fd_before[MAX_N], fd_idle[MAX_N]; /* per child */
	int fd_opened_max;			 /* what iol_table_open added, at most */
	int obs_fd_before, obs_fd_opened;
	int ok;
	char err[256];
};

struct opts {
	bool quick;
	unsigned seed;
	double idle_s;
	const char *table;
	char dir[64];
};

static struct opts o;

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", BENCH, what, strerror(err));
	exit(1);
}

static void sleep_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- /proc ----------------------------------------------------------------- */

/* Entries of /proc/PID/fd (pid 0: this process, not counting the one
 * opendir uses). */
static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return pid ? n : n - 1;
}

static bool read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return false;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	return true;
}

struct tstat {
	int threads, awake;
	long vol, invol;
};

/* Add pid's threads (but skip_tid) to *s: how many, how many not asleep,
 * and their context switches. */
static void task_stats(pid_t pid, pid_t skip_tid, struct tstat *s)
{
	char path[96], buf[4096], *p;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		long tid = strtol(e->d_name, NULL, 10);
		long v;

		if (e->d_name[0] == '.' || tid == skip_tid)
			continue;
		s->threads++;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/stat", (int)pid, tid);
		if (read_small(path, buf, sizeof(buf)) && (p = strrchr(buf, ')')) && p[1] &&
		    p[2] != 'S')
			s->awake++;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", (int)pid, tid);
		if (!read_small(path, buf, sizeof(buf)))
			continue;
		if ((p = strstr(buf, "\nvoluntary_ctxt_switches:")) &&
		    sscanf(p, "\nvoluntary_ctxt_switches: %ld", &v) == 1)
			s->vol += v;
		if ((p = strstr(buf, "\nnonvoluntary_ctxt_switches:")) &&
		    sscanf(p, "\nnonvoluntary_ctxt_switches: %ld", &v) == 1)
			s->invol += v;
	}
	closedir(d);
}

/* ---- the children ----------------------------------------------------------- */

struct kid {
	pid_t pid;
	int to, from; /* our ends: closing `to` tells it to exit */
};

static struct kid kids[MAX_N];

static void name_of(char *buf, size_t len, const char *what, int i)
{
	snprintf(buf, len, "%s-%d", what, i);
}

static void file_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "%s/file-%d", o.dir, i);
}

static void child_main(int i, int rd, int wr)
{
	struct ready r = {0};
	char name[64], path[128], c;
	iol_table *t = NULL;
	int h;

	r.fd_before = count_fds(0);
	r.status = iol_table_open(o.table, NULL, &t);
	r.step = 1;
	if (r.status)
		goto out;
	r.fd_opened = count_fds(0);
	for (int k = 0; k < REFS; k++) {
		h = iol_semaphore_open(t, "shared", 0, 0, 1);
		r.step = 2;
		if (h < 0) {
			r.status = h;
			goto out;
		}
	}
	name_of(name, sizeof(name), "only", i);
	h = iol_semaphore_open(t, name, IOL_CREATE | IOL_EXCL, 0, 1);
	r.step = 3;
	if (h < 0) {
		r.status = h;
		goto out;
	}
	file_of(path, sizeof(path), i);
	h = iol_file_open(t, path, O_RDONLY, 0, 0); /* shares nothing */
	r.step = 4;
	if (h < 0) {
		r.status = h;
		goto out;
	}
	name_of(name, sizeof(name), "m", i);
	h = iol_mutex_open(t, name, 0, false);
	r.step = 5;
	if (h < 0 || (h = iol_wait(h, 0)) != 0) {
		r.status = h < 0 ? h : -EBUSY;
		goto out;
	}
out:
	if (write(wr, &r, sizeof(r)) != (ssize_t)sizeof(r) || r.status)
		_exit(1);
	/* Until told (EOF), or killed. */
	while (read(rd, &c, 1) < 0 && errno == EINTR)
		;
	iol_table_close(t);
	_exit(0);
}

/* Fork child i and wait until it holds everything. */
static int spawn(int i, struct ready *r)
{
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Only our own pipe ends: the others' would count as ours. */
		for (int k = 0; k < MAX_N; k++) {
			if (kids[k].pid > 0 && k != i) {
				close(kids[k].to);
				close(kids[k].from);
			}
		}
		close(to[1]);
		close(from[0]);
		child_main(i, to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	kids[i] = (struct kid){pid, to[1], from[0]};
	if (read(from[0], r, sizeof(*r)) != (ssize_t)sizeof(*r))
		return -EPIPE;
	if (r->status) {
		fprintf(stderr, "%s: child step %d: %s\n", BENCH, r->step, strerror(-r->status));
		return r->status;
	}
	return 0;
}

/* ---- the observer ------------------------------------------------------------- */

/* Every thread of every child and the observer's own threads but the main
 * one: sum their figures. */
static struct tstat all_stats(int n)
{
	struct tstat s = {0};

	for (int i = 0; i < n; i++)
		task_stats(kids[i].pid, 0, &s);
	task_stats(getpid(), getpid(), &s);
	return s;
}

/* Wait (up to 2 s) until every thread counted above sleeps. */
static bool settle(int n)
{
	int64_t end = bench_now_ns() + 2000000000;

	for (;;) {
		if (all_stats(n).awake == 0)
			return true;
		if (bench_now_ns() > end)
			return false;
		sleep_ns(1000000);
	}
}

/* The record of the attached process pid, or UINT32_MAX. */
static uint32_t record_of(iol_table *t, pid_t pid)
{
	for (uint32_t p = 0; p < ioli_proc_hwm(t); p++)
		if (atomic_load(&t->procs[p].state) == IOLI_PROC_LIVE &&
		    atomic_load(&t->procs[p].pid) == (uint32_t)pid)
			return p;
	return UINT32_MAX;
}

struct victim {
	int sem, mutex;
	uint32_t refs; /* the semaphore's count once the victim's are gone */
	const char *only;
	uint32_t rec, gen;
};

/* Is all of it back?  Makes no call that would reclaim by itself. */
static bool all_back(iol_table *t, const struct victim *v)
{
	struct iol_info in;
	int h;

	if (iol_query(v->sem, &in) || in.refs != v->refs)
		return false;
	h = iol_semaphore_open(t, v->only, 0, 0, 1);
	if (h > 0) {
		iol_close(h);
		return false;
	}
	if (h != -ENOENT)
		return false;
	if (iol_query(v->mutex, &in) || in.u.mutex.owner_tid != 0)
		return false;
	return atomic_load(&t->procs[v->rec].state) != IOLI_PROC_LIVE ||
	       atomic_load(&t->procs[v->rec].gen) != v->gen;
}

/* Say what failed, for the parent to print; returns err. */
static int fail(struct phase *ph, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ph->err, sizeof(ph->err), fmt, ap);
	va_end(ap);
	return err;
}

static int observe(struct phase *ph)
{
	int n = ph->n, mx[MAX_N], sem;
	struct ready r;
	iol_table *t;
	int err;

	if (!ph->prompt)
		setenv("IOLAYER_WATCH", "0", 1);
	srand(o.seed + (unsigned)n); /* the same victims in both modes */
	ph->obs_fd_before = count_fds(0);
	err = iol_table_open(o.table, NULL, &t);
	if (err)
		return fail(ph, err, "iol_table_open: %s", strerror(-err));
	ph->obs_fd_opened = count_fds(0);
	sem = iol_semaphore_open(t, "shared", IOL_CREATE, 0, 1);
	if (sem < 0)
		return fail(ph, sem, "semaphore: %s", strerror(-sem));
	for (int i = 0; i < n; i++) {
		char name[64];

		name_of(name, sizeof(name), "m", i);
		mx[i] = iol_mutex_open(t, name, IOL_CREATE, false);
		if (mx[i] < 0)
			return fail(ph, mx[i], "mutex: %s", strerror(-mx[i]));
		err = spawn(i, &r);
		if (err)
			return fail(ph, err, "child %d: %s", i, strerror(-err));
		ph->fd_before[i] = r.fd_before;
		if (r.fd_opened - r.fd_before > ph->fd_opened_max)
			ph->fd_opened_max = r.fd_opened - r.fd_before;
	}

	if (ph->prompt) {
		struct tstat a, b;
		int64_t t0;

		ph->settled = settle(n);
		a = all_stats(n);
		t0 = bench_now_ns();
		sleep_ns((long)(o.idle_s * 1e9));
		b = all_stats(n);
		ph->idle_s = (double)(bench_now_ns() - t0) / 1e9;
		ph->idle_threads = b.threads;
		ph->idle_vol = b.vol - a.vol;
		ph->idle_invol = b.invol - a.invol;
		for (int i = 0; i < n; i++)
			ph->fd_idle[i] = count_fds(kids[i].pid);
	}

	for (int k = 0; k < ph->kills; k++) {
		int i = rand() % n, st;
		char only[64], path[128];
		struct victim v = {
		    .sem = sem, .mutex = mx[i], .refs = 1 + (uint32_t)(n - 1) * REFS, .only = only};
		int64_t t0, dt;

		name_of(only, sizeof(only), "only", i);
		settle(n);
		v.rec = record_of(t, kids[i].pid);
		if (v.rec == UINT32_MAX)
			return fail(ph, -ESRCH, "child %d has no record", i);
		v.gen = atomic_load(&t->procs[v.rec].gen);
		ph->own_target[k] = ioli_sentinel_target(t, t->self) == v.rec;
		t0 = bench_now_ns();
		kill(kids[i].pid, SIGKILL);
		if (!ph->prompt) {
			if (waitpid(kids[i].pid, &st, 0) != kids[i].pid)
				return fail(ph, -errno, "waitpid: %s", strerror(errno));
			iol_table_reclaim(t);
		}
		for (;;) {
			dt = bench_now_ns() - t0;
			if (all_back(t, &v))
				break;
			if (dt > GIVE_UP_NS) {
				ph->misses++;
				iol_table_reclaim(t);
				break;
			}
			sleep_ns(POLL_US * 1000L);
		}
		ph->lat_ms[k] = (double)dt / 1e6;
		if (ph->prompt)
			waitpid(kids[i].pid, &st, 0);
		close(kids[i].to);
		close(kids[i].from);
		kids[i].pid = 0;
		/* What an application would do next works. */
		err = iol_wait(mx[i], 0);
		if (err == IOL_ABANDONED)
			iol_mutex_release(mx[i]);
		else
			ph->anomalies++;
		file_of(path, sizeof(path), i);
		int h = iol_file_open(t, path, O_RDONLY, 0, IOL_SHARE_READ);
		if (h > 0)
			iol_close(h);
		else
			ph->anomalies++;
		err = spawn(i, &r);
		if (err)
			return fail(ph, err, "respawn %d: %s", i, strerror(-err));
	}
	for (int i = 0; i < n; i++) {
		int st;

		close(kids[i].to);
		waitpid(kids[i].pid, &st, 0);
		close(kids[i].from);
	}
	for (int i = 0; i < n; i++)
		iol_close(mx[i]);
	iol_close(sem);
	iol_table_close(t);
	ph->ok = 1;
	return 0;
}

/* Run one phase in a fresh observer process (IOLAYER_WATCH is read once per
 * process) on a fresh table. */
static void run_phase(struct phase *ph)
{
	pid_t pid;
	int st;

	iol_table_unlink(o.table);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		/* A failure leaves children behind: they are in our group. */
		_exit(observe(ph) ? 1 : 0);
	}
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid", errno);
	if (!ph->ok) {
		fprintf(stderr, "%s: N=%d %s: %s\n", BENCH, ph->n,
			ph->prompt ? "sentinels" : "baseline", ph->err[0] ? ph->err : "failed");
		iol_table_unlink(o.table);
		exit(1);
	}
	iol_table_unlink(o.table);
}

/* ---- the report ----------------------------------------------------------------- */

static double pct(const double *sorted, int n, double p)
{
	return sorted[(int)(p * (n - 1) + 0.5)];
}

static void sorted_copy(const struct phase *ph, double *out)
{
	memcpy(out, ph->lat_ms, sizeof(double) * (size_t)ph->kills);
	qsort(out, (size_t)ph->kills, sizeof(double), bench_cmp_double);
}

/* The prompt figures split by who reclaimed: the observer's own sentinel
 * (the victim was its target) or another child's. */
static void print_split(const struct phase *p)
{
	for (int own = 1; own >= 0; own--) {
		double v[MAX_KILLS];
		int m = 0;

		for (int k = 0; k < p->kills; k++)
			if (p->own_target[k] == own)
				v[m++] = p->lat_ms[k];
		struct bench_fig f = bench_fig_of(v, m);
		printf("       %-40s %5d %8.2f %8s %8.2f %8.2f\n",
		       own ? "of which: watched by the observer"
			   : "of which: watched by another child",
		       m, f.median, "", f.max, f.min);
	}
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f, "usage: %s [--quick] [--seed S]\n", argv0);
}

static void parse(int argc, char **argv)
{
	o.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--quick") || !strcmp(argv[i], "-q")) {
			o.quick = true;
		} else if (!strcmp(argv[i], "--seed")) {
			if (i + 1 == argc) {
				fprintf(stderr, "%s: --seed needs a value\n", argv[0]);
				usage(stderr, argv[0]);
				exit(2);
			}
			errno = 0;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || v > UINT32_MAX) {
				fprintf(stderr, "%s: bad seed '%s'\n", argv[0], argv[i]);
				usage(stderr, argv[0]);
				exit(2);
			}
			o.seed = (unsigned)v;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout, argv[0]);
			exit(0);
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
			usage(stderr, argv[0]);
			exit(2);
		}
	}
}

static struct bench_fig fig_one(double v)
{
	return (struct bench_fig){v, v, v, 1};
}

int main(int argc, char **argv)
{
	static const int full_n[] = {1, 10, 100}, full_k[] = {50, 50, 30};
	static const int quick_n[] = {1, 10}, quick_k[] = {10, 10};
	char table[64], scen[160];
	struct phase *ph;
	int rounds;

	parse(argc, argv);
	const int *ns = o.quick ? quick_n : full_n, *ks = o.quick ? quick_k : full_k;
	rounds = o.quick ? 2 : 3;
	o.idle_s = o.quick ? 0.2 : 1.0;
	snprintf(table, sizeof(table), "reclaim-bench-%d", (int)getpid());
	o.table = table;
	snprintf(o.dir, sizeof(o.dir), "/tmp/reclaim-bench.XXXXXX");
	if (!mkdtemp(o.dir))
		die("mkdtemp", errno);
	for (int i = 0; i < MAX_N; i++) {
		char path[128];
		int fd;

		file_of(path, sizeof(path), i);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			die(path, errno);
		close(fd);
	}
	ph = mmap(NULL, sizeof(*ph) * 2 * (size_t)rounds, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ph == MAP_FAILED)
		die("mmap", errno);

	bench_header(BENCH);
	printf(
	    "each attached child holds %d references to a shared semaphore, a named semaphore "
	    "only it holds,\nan exclusive file open and an owned mutex; the observer looks every "
	    "%d us; seed %u\n",
	    REFS, POLL_US, o.seed);
	fflush(stdout);
	for (int r = 0; r < rounds; r++) {
		for (int m = 0; m < 2; m++) {
			struct phase *p = &ph[2 * r + m];

			p->n = ns[r];
			p->kills = ks[r];
			p->prompt = m == 0;
			bench_progress("%s: N=%d, %s, %d kills", BENCH, p->n,
				       p->prompt ? "sentinels" : "baseline", p->kills);
			run_phase(p);
		}
	}

	printf(
	    "\nReclaim after SIGKILL, from kill() to the observer seeing everything back (ms)\n");
	printf("  %-4s %-40s %5s %8s %8s %8s %8s %8s  %s\n", "N", "how", "kills", "p50", "p95",
	       "max", "min", "mean", "victim = observer's target");
	for (int i = 0; i < 2 * rounds; i++) {
		const struct phase *p = &ph[i];
		double s[MAX_KILLS], sum = 0;
		int own = 0;

		sorted_copy(p, s);
		for (int k = 0; k < p->kills; k++) {
			sum += s[k];
			own += p->own_target[k];
		}
		printf("  %-4d %-40s %5d %8.2f %8.2f %8.2f %8.2f %8.2f  %d of %d%s\n", p->n,
		       p->prompt ? "sentinels (no call)" : "baseline: waitpid + iol_table_reclaim",
		       p->kills, pct(s, p->kills, 0.5), pct(s, p->kills, 0.95), s[p->kills - 1],
		       s[0], sum / p->kills, own, p->kills, p->prompt ? "" : " (nobody watches)");
		if (p->prompt && own > 0 && own < p->kills)
			print_split(p);
		if (p->misses || p->anomalies)
			printf("       ! %d not reclaimed within %.0f s, %d anomalies\n", p->misses,
			       GIVE_UP_NS / 1e9, p->anomalies);
	}
	for (int r = 0; r < rounds; r++) {
		double s[MAX_KILLS], sb[MAX_KILLS];
		const struct phase *p = &ph[2 * r], *b = &ph[2 * r + 1];

		sorted_copy(p, s);
		sorted_copy(b, sb);
		printf("  N=%-3d sentinels/baseline: p50 %.2fx, p95 %.2fx, max %.2fx\n", p->n,
		       pct(s, p->kills, 0.5) / pct(sb, b->kills, 0.5),
		       pct(s, p->kills, 0.95) / pct(sb, b->kills, 0.95),
		       s[p->kills - 1] / sb[b->kills - 1]);
	}
	printf("  goal (issue 12): p95 <= 50 ms, max <= 250 ms\n");

	printf("\nIdle: every thread asleep, then %.1f s with nobody dying\n", o.idle_s);
	printf("  %-4s %8s %14s %14s %10s %14s %14s\n", "N", "threads", "voluntary cs",
	       "involuntary", "settled", "fds before", "fds +open/idle");
	for (int r = 0; r < rounds; r++) {
		const struct phase *p = &ph[2 * r];

		struct bench_fig fb = bench_fig_of(p->fd_before, p->n),
				 fi = bench_fig_of(p->fd_idle, p->n);

		printf("  %-4d %8d %14ld %14ld %10s %8.0f..%-5.0f +%d / %.0f..%.0f\n", p->n,
		       p->idle_threads, p->idle_vol, p->idle_invol, p->settled ? "yes" : "NO",
		       fb.min, fb.max, p->fd_opened_max, fi.min, fi.max);
	}
	printf("  threads: of the N children and the observer's threads but its main one;\n"
	       "  fds: a child's /proc/PID/fd before iol_table_open, what the open added, and at\n"
	       "  idle (holding its objects: the exclusive file's descriptor is one); observer: "
	       "%d before, %d after iol_table_open\n\n",
	       ph[0].obs_fd_before, ph[0].obs_fd_opened);

	for (int r = 0; r < rounds; r++) {
		const struct phase *p = &ph[2 * r], *b = &ph[2 * r + 1];
		double s[MAX_KILLS], sb[MAX_KILLS];
		struct bench_result res;

		sorted_copy(p, s);
		sorted_copy(b, sb);
		/* Each kill is a run: median, min and max over the kills. */
		snprintf(scen, sizeof(scen), "reclaim after SIGKILL, %d other attached", p->n);
		res = (struct bench_result){
		    .scenario = scen,
		    .unit = "ms",
		    .better = BENCH_LOWER_IS_BETTER,
		    .iol = bench_fig_of(p->lat_ms, p->kills),
		    .baseline = "waitpid + iol_table_reclaim",
		    .base = bench_fig_of(b->lat_ms, b->kills),
		    .ratio_is = BENCH_RATIO_IOL_OVER_BASE,
		};
		bench_emit(BENCH, &res);
		snprintf(scen, sizeof(scen), "reclaim after SIGKILL p95, %d other attached", p->n);
		res.scenario = scen;
		res.iol = fig_one(pct(s, p->kills, 0.95));
		res.base = fig_one(pct(sb, b->kills, 0.95));
		bench_emit(BENCH, &res);
		snprintf(scen, sizeof(scen), "idle context switches in %.1f s, %d attached",
			 o.idle_s, p->n);
		res = (struct bench_result){.scenario = scen,
					    .unit = "switches",
					    .better = BENCH_LOWER_IS_BETTER,
					    .iol = fig_one((double)p->idle_vol)};
		bench_emit(BENCH, &res);
		snprintf(scen, sizeof(scen), "descriptors per process, %d attached", p->n);
		res = (struct bench_result){
		    .scenario = scen,
		    .unit = "fds",
		    .better = BENCH_LOWER_IS_BETTER,
		    .iol = bench_fig_of(p->fd_idle, p->n),
		    .baseline = "before iol_table_open",
		    .base = bench_fig_of(p->fd_before, p->n),
		    .ratio_is = BENCH_RATIO_IOL_OVER_BASE,
		};
		bench_emit(BENCH, &res);
	}

	for (int i = 0; i < MAX_N; i++) {
		char path[128];

		file_of(path, sizeof(path), i);
		unlink(path);
	}
	rmdir(o.dir);
	return 0;
}
