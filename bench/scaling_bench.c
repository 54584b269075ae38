/* SPDX-License-Identifier: MIT */
/*
 * scaling_bench: how iolayer's costs grow with concurrency and with the
 * number of objects in the table, each against its baseline in one run.
 *
 * 1. Throughput (total operations per second over all workers) of
 *    acquire+release with 1, 2, 4 and 8 workers, as threads of one process
 *    and as separate processes:
 *      - mutex, uncontended (each worker its own) and contended (all on
 *        one, incrementing a shared counter inside), against a robust
 *        process-shared pthread_mutex_t in shared memory (each on its own
 *        cache line);
 *      - semaphore, uncontended (each worker its own, count 1) and
 *        contended (one, count 1, the same counter), against POSIX named
 *        semaphores (sem_open; processes open them by name).
 *    Each figure runs for a fixed time after a start gate; the contended
 *    counter is checked against the operations counted (a lost update would
 *    fail the run).  Threads and processes are not pinned.
 * 2. Table occupancy: with 10, 1,000 and 60,000 live named objects in the
 *    table (held by another process), the cost of
 *      - a name lookup: open of an existing name + close, cycling over 10
 *        names spread over the live ones;
 *      - create + close of a new named object, cycling over 16 names;
 *    goal: 1,000 and 60,000 live objects no slower than 1.5x 10 live.
 *
 * usage: scaling_bench [--quick]
 *        scaling_bench --one mutex|semaphore contended|uncontended \
 *                      threads|processes N iolayer|baseline SECONDS
 *        (one throughput figure alone, for profiling it with perf)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "bench/report.h"

#define RUNS	    5
#define MAX_WORKERS 8
#define BATCH	    16

static const int nworkers[] = {1, 2, 4, 8};
#define NLEVELS 4

static double duration_s = 0.3;
static long n_occ = 200000;

static void die(const char *what, int err)
{
	fprintf(stderr, "scaling_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void *shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	memset(p, 0, len);
	return p;
}

static long sys_futex(_Atomic uint32_t *w, int op, uint32_t v)
{
	return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

/* ---- 1. throughput ------------------------------------------------------------ */

enum prim { P_MUTEX, P_SEM };
enum impl { I_IOL, I_BASE };

struct padded_mutex {
	pthread_mutex_t m;
} __attribute__((aligned(64)));

/* Shared between the parent and its worker threads or processes. */
struct ctl {
	_Atomic uint32_t ready; /* workers set up */
	_Atomic uint32_t go;	/* the start gate (a futex word) */
	_Atomic uint32_t stop;
	_Atomic uint32_t failed;
	uint64_t counter __attribute__((aligned(64))); /* under the contended lock */
	struct {
		_Atomic uint64_t ops;
	} __attribute__((aligned(64))) w[MAX_WORKERS];
	struct padded_mutex pm[MAX_WORKERS]; /* [0] is the contended one */
};

static struct ctl *ctl;
static char table_name[64];
static iol_table *tab; /* the parent's, also used by its threads */
static char sem_base[64];

struct cfg {
	enum prim prim;
	enum impl impl;
	bool contended, processes;
	int n;
};

struct worker {
	const struct cfg *c;
	int idx;
};

static void sem_name(char *buf, size_t len, int k)
{
	snprintf(buf, len, "%s-%d", sem_base, k);
}

/* The object worker idx works on: its own, or #0 when contended. */
static int obj_index(const struct cfg *c, int idx)
{
	return c->contended ? 0 : idx;
}

static void *worker_main(void *arg)
{
	const struct worker *wk = arg;
	const struct cfg *c = wk->c;
	int k = obj_index(c, wk->idx), h = 0;
	iol_table *t = tab;
	pthread_mutex_t *pm = &ctl->pm[k].m;
	sem_t *sem = NULL;
	uint64_t ops = 0;
	char name[96];

	if (c->impl == I_IOL) {
		if (c->processes && iol_table_open(table_name, NULL, &t) != 0)
			die("iol_table_open (worker)", EINVAL);
		snprintf(name, sizeof(name), "%s%d", c->prim == P_MUTEX ? "m" : "s", k);
		h = c->prim == P_MUTEX ? iol_mutex_open(t, name, 0, false)
				       : iol_semaphore_open(t, name, 0, 0, 1);
		if (h <= 0)
			die("iol open (worker)", h);
	} else if (c->prim == P_SEM) {
		sem_name(name, sizeof(name), k);
		sem = sem_open(name, 0);
		if (sem == SEM_FAILED)
			die("sem_open (worker)", errno);
	}
	atomic_fetch_add(&ctl->ready, 1);
	sys_futex(&ctl->ready, FUTEX_WAKE, 1);
	while (atomic_load(&ctl->go) == 0)
		sys_futex(&ctl->go, FUTEX_WAIT, 0);
	while (!atomic_load_explicit(&ctl->stop, memory_order_relaxed)) {
		for (int i = 0; i < BATCH; i++) {
			int r = 0;

			if (c->impl == I_IOL) {
				r = iol_wait(h, IOL_INFINITE);
			} else if (c->prim == P_MUTEX) {
				r = pthread_mutex_lock(pm);
			} else {
				while ((r = sem_wait(sem)) != 0 && errno == EINTR)
					;
			}
			if (r != 0)
				die("acquire", r < 0 ? r : errno);
			if (c->contended)
				ctl->counter++;
			if (c->impl == I_IOL)
				r = c->prim == P_MUTEX ? iol_mutex_release(h) - 1
						       : iol_semaphore_release(h, 1);
			else if (c->prim == P_MUTEX)
				r = pthread_mutex_unlock(pm);
			else
				r = sem_post(sem);
			if (r != 0)
				die("release", r);
		}
		ops += BATCH;
	}
	atomic_store(&ctl->w[wk->idx].ops, ops);
	if (c->impl == I_IOL) {
		iol_close(h);
		if (c->processes)
			iol_table_close(t);
	}
	if (sem)
		sem_close(sem);
	return NULL;
}

/* Sets up the objects, starts c->n workers, lets them run for duration_s
 * and returns the total operations per second, in millions. */
static double run_throughput(const struct cfg *c)
{
	struct worker wk[MAX_WORKERS];
	pthread_t th[MAX_WORKERS];
	pid_t pid[MAX_WORKERS];
	int objs = c->contended ? 1 : c->n, h[MAX_WORKERS] = {0};
	sem_t *sems[MAX_WORKERS] = {0};
	struct timespec d = {(time_t)duration_s,
			     (long)((duration_s - (double)(time_t)duration_s) * 1e9)};
	uint64_t total = 0;
	int64_t t0, t1;

	atomic_store(&ctl->ready, 0);
	atomic_store(&ctl->go, 0);
	atomic_store(&ctl->stop, 0);
	ctl->counter = 0;
	for (int k = 0; k < objs; k++) {
		char name[96];

		if (c->impl == I_IOL) {
			snprintf(name, sizeof(name), "%s%d", c->prim == P_MUTEX ? "m" : "s", k);
			h[k] = c->prim == P_MUTEX ? iol_mutex_open(tab, name, IOL_CREATE, false)
						  : iol_semaphore_open(tab, name, IOL_CREATE, 1, 1);
			if (h[k] <= 0)
				die("iol open", h[k]);
		} else if (c->prim == P_MUTEX) {
			pthread_mutexattr_t a;

			pthread_mutexattr_init(&a);
			pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
			pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
			pthread_mutex_init(&ctl->pm[k].m, &a);
			pthread_mutexattr_destroy(&a);
		} else {
			sem_name(name, sizeof(name), k);
			sems[k] = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
			if (sems[k] == SEM_FAILED)
				die("sem_open", errno);
		}
	}
	fflush(NULL);
	for (int i = 0; i < c->n; i++) {
		wk[i] = (struct worker){c, i};
		if (c->processes) {
			pid[i] = fork();
			if (pid[i] < 0)
				die("fork", errno);
			if (pid[i] == 0) {
				worker_main(&wk[i]);
				_exit(0);
			}
		} else if (pthread_create(&th[i], NULL, worker_main, &wk[i]) != 0) {
			die("pthread_create", EAGAIN);
		}
	}
	for (uint32_t r; (r = atomic_load(&ctl->ready)) < (uint32_t)c->n;)
		sys_futex(&ctl->ready, FUTEX_WAIT, r);
	t0 = bench_now_ns();
	atomic_store(&ctl->go, 1);
	sys_futex(&ctl->go, FUTEX_WAKE, INT32_MAX);
	nanosleep(&d, NULL);
	atomic_store(&ctl->stop, 1);
	t1 = bench_now_ns();
	for (int i = 0; i < c->n; i++) {
		if (c->processes) {
			int st;

			if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) ||
			    WEXITSTATUS(st) != 0)
				die("worker process", ECHILD);
		} else {
			pthread_join(th[i], NULL);
		}
		total += atomic_load(&ctl->w[i].ops);
	}
	if (c->contended && ctl->counter != total) {
		fprintf(stderr, "scaling_bench: lost updates: counter %llu, operations %llu\n",
			(unsigned long long)ctl->counter, (unsigned long long)total);
		exit(1);
	}
	for (int k = 0; k < objs; k++) {
		if (c->impl == I_IOL) {
			iol_close(h[k]);
		} else if (c->prim == P_MUTEX) {
			pthread_mutex_destroy(&ctl->pm[k].m);
		} else {
			char name[96];

			sem_close(sems[k]);
			sem_name(name, sizeof(name), k);
			sem_unlink(name);
		}
	}
	/* operations counted after the stop flag: at most BATCH per worker */
	return (double)total / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* ---- 2. table occupancy ---------------------------------------------------------- */

static const int live_levels[] = {10, 1000, 60000};
#define NOCC 3

/* A process holding `live` named objects in the table until told to go. */
static pid_t start_holder(int live, int *release_fd)
{
	int up[2], down[2];
	char c;
	pid_t pid;

	if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
		die("pipe2", errno);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		iol_table *t;

		close(up[0]);
		close(down[1]); /* so that the parent's close is an end of file */
		if (iol_table_open(table_name, NULL, &t) != 0)
			die("iol_table_open (holder)", EINVAL);
		for (int i = 0; i < live; i++) {
			char name[32];
			int h;

			snprintf(name, sizeof(name), "live-%d", i);
			h = iol_event_open(t, name, IOL_CREATE | IOL_EXCL, true, false);
			if (h <= 0)
				die("holder create", h);
		}
		if (write(up[1], "r", 1) != 1 || read(down[0], &c, 1) < 0)
			_exit(1);
		iol_table_close(t);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) != 1)
		die("holder", ECHILD);
	close(up[0]);
	*release_fd = down[1];
	return pid;
}

static void stop_holder(pid_t pid, int release_fd)
{
	int st;

	close(release_fd);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("holder", ECHILD);
}

static double run_lookup(int live, long n)
{
	char names[10][32];
	int64_t t0;

	for (int i = 0; i < 10; i++) /* spread over the live objects */
		snprintf(names[i], sizeof(names[i]), "live-%d", (int)((long)i * live / 10));
	t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		int h = iol_event_open(tab, names[i % 10], 0, true, false);

		if (h <= 0 || iol_close(h) != 0)
			die("lookup", h);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double run_create(long n)
{
	char names[16][32];
	int64_t t0;

	for (int i = 0; i < 16; i++)
		snprintf(names[i], sizeof(names[i]), "new-%d", i);
	t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		int h = iol_event_open(tab, names[i % 16], IOL_CREATE | IOL_EXCL, true, false);

		if (h <= 0 || iol_close(h) != 0)
			die("create", h);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* ---- main ------------------------------------------------------------------------------ */

static const char *const prim_name[] = {"mutex", "semaphore"};
static const char *const base_name[] = {"robust pshared pthread mutex", "sem_open() semaphore"};

/* --one: one configuration alone, printed, for perf. */
static int run_one(char **a)
{
	struct cfg c = {
	    .prim = strcmp(a[0], "mutex") == 0 ? P_MUTEX : P_SEM,
	    .contended = strcmp(a[1], "contended") == 0,
	    .processes = strcmp(a[2], "processes") == 0,
	    .n = atoi(a[3]),
	    .impl = strcmp(a[4], "iolayer") == 0 ? I_IOL : I_BASE,
	};
	int r;

	duration_s = atof(a[5]);
	if (c.n < 1 || c.n > MAX_WORKERS || duration_s <= 0) {
		fprintf(stderr, "scaling_bench: --one: N is 1 to %d, SECONDS > 0\n", MAX_WORKERS);
		return 2;
	}
	ctl = shared(sizeof(*ctl));
	snprintf(table_name, sizeof(table_name), "scaling-bench-%d", (int)getpid());
	snprintf(sem_base, sizeof(sem_base), "/iolayer-scaling-bench-%d", (int)getpid());
	r = iol_table_open(table_name, NULL, &tab);
	if (r)
		die("iol_table_open", r);
	printf("%s %s %s %d %s: %.2f Mops/s\n", a[0], a[1], a[2], c.n, a[4], run_throughput(&c));
	iol_table_close(tab);
	iol_table_unlink(table_name);
	return 0;
}

int main(int argc, char **argv)
{
	/* [prim][contended][processes][level][impl][run] */
	static double tp[2][2][2][NLEVELS][2][RUNS];
	static double occ[2][NOCC][RUNS]; /* [lookup, create][level][run] */
	static char scen[2][2][2][NLEVELS][96];
	static struct bench_result tpres[2][2][2][NLEVELS];
	int r;

	if (argc == 8 && strcmp(argv[1], "--one") == 0)
		return run_one(argv + 2);
	if (bench_quick_only(
		argc, argv,
		"[--quick|-q]\n       scaling_bench --one mutex|semaphore contended|uncontended "
		"threads|processes N iolayer|baseline SECONDS")) {
		duration_s = 0.04;
		n_occ /= 10;
	}
	bench_header("scaling_bench");
	printf("runs:     %d per figure (median [min, max]); throughput: %.2f s per run, "
	       "not pinned; occupancy: %ld operations per run\n\n",
	       RUNS, duration_s, n_occ);
	fflush(stdout);
	ctl = shared(sizeof(*ctl));
	snprintf(table_name, sizeof(table_name), "scaling-bench-%d", (int)getpid());
	snprintf(sem_base, sizeof(sem_base), "/iolayer-scaling-bench-%d", (int)getpid());
	r = iol_table_open(table_name, NULL, &tab);
	if (r)
		die("iol_table_open", r);

	/* 1. throughput: every configuration once per run, iolayer and its
	 * baseline back to back */
	for (int run = 0; run < RUNS; run++) {
		bench_progress("scaling_bench: throughput, run %d of %d (64 figures of %.2f s)",
			       run + 1, RUNS, duration_s);
		for (int p = 0; p < 2; p++)
			for (int co = 0; co < 2; co++)
				for (int pr = 0; pr < 2; pr++)
					for (int l = 0; l < NLEVELS; l++)
						for (int im = 0; im < 2; im++) {
							/* alternate who goes first */
							int ii = (run + l) % 2 ? 1 - im : im;
							struct cfg c = {(enum prim)p, (enum impl)ii,
									co, pr, nworkers[l]};

							tp[p][co][pr][l][ii][run] =
							    run_throughput(&c);
						}
	}

	/* 2. occupancy */
	for (int run = 0; run < RUNS; run++) {
		bench_progress("scaling_bench: table occupancy, run %d of %d", run + 1, RUNS);
		for (int k = 0; k < NOCC; k++) {
			int l = (k + run) % NOCC, fd;
			pid_t holder = start_holder(live_levels[l], &fd);

			run_lookup(live_levels[l], n_occ / 10); /* warm-up */
			run_create(n_occ / 10);
			occ[0][l][run] = run_lookup(live_levels[l], n_occ);
			occ[1][l][run] = run_create(n_occ);
			stop_holder(holder, fd);
		}
	}

	printf("1. throughput, millions of acquire+release per second over all workers "
	       "(median [min, max]; ratio iolayer/baseline, higher is better for iolayer)\n\n");
	printf("| %-36s | %-26s | %-32s | %-26s | %-6s |\n", "scenario", "iolayer", "baseline",
	       "baseline figure", "ratio");
	printf("|--------------------------------------|----------------------------|"
	       "----------------------------------|----------------------------|--------|\n");
	for (int p = 0; p < 2; p++)
		for (int co = 0; co < 2; co++)
			for (int pr = 0; pr < 2; pr++)
				for (int l = 0; l < NLEVELS; l++) {
					struct bench_result *b = &tpres[p][co][pr][l];

					snprintf(scen[p][co][pr][l], sizeof(scen[0][0][0][0]),
						 "%s %s, %d %s", prim_name[p],
						 co ? "contended" : "uncontended", nworkers[l],
						 pr ? (nworkers[l] > 1 ? "processes" : "process")
						    : (nworkers[l] > 1 ? "threads" : "thread"));
					*b = (struct bench_result){
					    .scenario = scen[p][co][pr][l],
					    .unit = "Mops/s",
					    .better = BENCH_HIGHER_IS_BETTER,
					    .iol = bench_fig_of(tp[p][co][pr][l][I_IOL], RUNS),
					    .baseline = base_name[p],
					    .base = bench_fig_of(tp[p][co][pr][l][I_BASE], RUNS),
					    .ratio_is = BENCH_RATIO_IOL_OVER_BASE,
					    .goal_kind = BENCH_NO_GOAL,
					};
					printf("| %-36s | %6.2f [%6.2f, %6.2f]   | %-32s | %6.2f "
					       "[%6.2f, %6.2f]   | %5.2fx |\n",
					       b->scenario, b->iol.median, b->iol.min, b->iol.max,
					       b->baseline, b->base.median, b->base.min,
					       b->base.max, bench_ratio(b));
				}

	printf("\n2. table occupancy, ns per operation (median [min, max])\n\n");
	printf("| %-34s | %-26s | %-26s | %-26s | %-8s | %-8s |\n", "operation", "10 live",
	       "1,000 live", "60,000 live", "1k/10", "60k/10");
	printf(
	    "|------------------------------------|----------------------------|"
	    "----------------------------|----------------------------|----------|----------|\n");
	for (int o = 0; o < 2; o++) {
		struct bench_fig f[NOCC];

		for (int l = 0; l < NOCC; l++)
			f[l] = bench_fig_of(occ[o][l], RUNS);
		printf("| %-34s | %7.1f [%7.1f, %7.1f] | %7.1f [%7.1f, %7.1f] | %7.1f [%7.1f, "
		       "%7.1f] | %7.2fx | %7.2fx |\n",
		       o ? "create+close a new name" : "name lookup (open existing+close)",
		       f[0].median, f[0].min, f[0].max, f[1].median, f[1].min, f[1].max,
		       f[2].median, f[2].min, f[2].max, f[1].median / f[0].median,
		       f[2].median / f[0].median);
	}
	printf("\n");

	/* Flat over the same order as the table above. */
	for (size_t i = 0; i < sizeof(tpres) / sizeof(tpres[0][0][0][0]); i++)
		bench_emit("scaling_bench", &(&tpres[0][0][0][0])[i]);
	for (int o = 0; o < 2; o++)
		for (int l = 1; l < NOCC; l++) {
			char s[96], base[48];
			struct bench_result b = {
			    .scenario = s,
			    .unit = "ns",
			    .better = BENCH_LOWER_IS_BETTER,
			    .iol = bench_fig_of(occ[o][l], RUNS),
			    .baseline = base,
			    .base = bench_fig_of(occ[o][0], RUNS),
			    .ratio_is = BENCH_RATIO_IOL_OVER_BASE,
			    .goal_kind = BENCH_GOAL_AT_MOST,
			    .goal = 1.5,
			};

			snprintf(s, sizeof(s), "%s, %s live objects",
				 o ? "create+close a new name"
				   : "name lookup (open existing+close)",
				 l == 1 ? "1,000" : "60,000");
			snprintf(base, sizeof(base), "the same, 10 live objects");
			bench_emit("scaling_bench", &b);
		}

	iol_table_close(tab);
	iol_table_unlink(table_name);
	return 0;
}
