/* SPDX-License-Identifier: MIT */
/*
 * torture: processes doing random operations on shared objects are killed
 * at random points and restarted, and the table must stay correct.
 *
 *   torture [--kills N] [--workers W] [--check-every K] [--seed S]
 *           [--slots N] [--fault-pct P] [--quiet]
 *
 * The controller creates a table with named mutexes, events and
 * semaphores and starts W worker processes (each with two threads).  The
 * workers do random operations: waits with short timeouts, wait_many,
 * wait-all, signal_and_wait, releases, set/reset/pulse, dup/close,
 * import, creating and closing named and anonymous objects, file opens
 * with random sharing.  Workers die:
 *   - by SIGKILL from the controller, at random moments;
 *   - in the fault-injection build (make FAULT=1), on their own: P% of
 *     incarnations run with IOLAYER_FAULT=any:<random n>, which _exits at
 *     the n-th fault point passed (inside the table lock, a wait-all, a
 *     reclaim...).
 * Each dead worker is restarted at once.  Every K kills, and at the end,
 * the controller kills every worker and checks, once it reclaimed them:
 *   - fsck finds nothing;
 *   - no slot leaked: the live objects are exactly the controller's, with
 *     exactly its references;
 *   - every mutex is free (its owners are all dead and reclaimed);
 *   - every semaphore's count equals the model: its initial count plus
 *     what the workers journaled as done, within the ambiguity of the
 *     operations that were in flight when their thread died (at most one
 *     per thread per death, each within its own bounds, e.g. [-1, 0] for
 *     a wait), accounted exactly.
 * While running, the workers check mutual exclusion (a mutex acquired
 * without IOL_ABANDONED has no recorded owner; one acquired with it has
 * no live owner), and that every call returns a result it may return.
 *
 * The semaphore journal, per worker thread, in shared memory: before an
 * operation that may change counts, the thread records its bounds
 * (pending, sequence done + 1); after it, it writes the new totals into
 * the other of two accumulator copies and bumps `done` (one atomic store:
 * the commit).  A thread that died with pending == done + 1 may or may
 * not have done that operation: the controller adds its bounds to the
 * ambiguity.
 *
 * Exit status: 0 when no violation was seen, 1 otherwise, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "src/check/fsck.h"
#include "src/table/table.h"

#define TABLE	    "torture"
#define MAX_WORKERS 32
#define THREADS	    2
#define NSEM	    4
#define NMUT	    4
#define NEV	    4
#define NFILE	    2
#define SEM_MAX	    40
#define SEM_INIT    10
#define POOL	    48
#define MAX_MSGS    16
#define FAULT_EXIT  86

/* ---- shared memory between the controller and the workers ----------- */

struct journal {
	_Atomic uint64_t done;	  /* committed operations; its parity picks acc */
	int64_t acc[2][NSEM];	  /* net count changes of the committed ones */
	_Atomic uint64_t pending; /* done + 1 while an operation is in flight */
	int32_t dmin[NSEM], dmax[NSEM];
	_Atomic uint64_t ops; /* every operation, for the figures */
};

struct shared {
	uint64_t tok_sem[NSEM], tok_mut[NMUT], tok_ev[NEV];
	char files[NFILE][256];
	_Atomic uint32_t mutex_owner[NMUT]; /* (pid << 1 | thread) + 1 of the owner */
	_Atomic uint64_t violations;
	_Atomic uint32_t nmsg;
	char msg[MAX_MSGS][256];
	struct journal j[MAX_WORKERS * THREADS];
};

static struct shared *sh;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
	uint32_t i = atomic_fetch_add(&sh->nmsg, 1);
	va_list ap;

	atomic_fetch_add(&sh->violations, 1);
	if (i < MAX_MSGS) {
		va_start(ap, fmt);
		vsnprintf(sh->msg[i], sizeof(sh->msg[i]), fmt, ap);
		va_end(ap);
	}
}

/* xorshift64* */
static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rnd_next(s) % n);
}

/* ---- workers ----------------------------------------------------------- */

struct wthread {
	iol_table *t;
	int slot;    /* worker slot */
	int idx;     /* journal index */
	uint32_t me; /* mutex owner field value */
	uint64_t seed;
	struct journal *j;
	int hs[NSEM], hm[NMUT], he[NEV];
	uint32_t held[NMUT]; /* recursion we hold */
	int pool[POOL];	     /* extra handles (dups, imports, temps, files) */
	int npool;
	unsigned tmpname;
};

static void intent(struct wthread *w, const int32_t *dmin, const int32_t *dmax)
{
	struct journal *j = w->j;

	memcpy(j->dmin, dmin, sizeof(j->dmin));
	memcpy(j->dmax, dmax, sizeof(j->dmax));
	atomic_store_explicit(&j->pending, atomic_load(&j->done) + 1, memory_order_release);
}

static void commit(struct wthread *w, const int32_t *d)
{
	struct journal *j = w->j;
	uint64_t done = atomic_load(&j->done);
	int cur = (int)(done & 1), nxt = cur ^ 1;

	for (int k = 0; k < NSEM; k++)
		j->acc[nxt][k] = j->acc[cur][k] + d[k];
	atomic_store_explicit(&j->done, done + 1, memory_order_release); /* the commit */
}

static int64_t timeout(struct wthread *w)
{
	switch (rnd(&w->seed, 4)) {
	case 0:
		return 0;
	case 1:
		return 100 * 1000;
	default:
		return (int64_t)rnd(&w->seed, 2000) * 1000;
	}
}

static void pool_add(struct wthread *w, int h)
{
	if (w->npool == POOL) {
		int victim = (int)rnd(&w->seed, POOL);
		int r = iol_close(w->pool[victim]);

		if (r != 0)
			violation("close of a pool handle: %d", r);
		w->pool[victim] = h;
		return;
	}
	w->pool[w->npool++] = h;
}

static void pool_close_one(struct wthread *w)
{
	if (w->npool == 0)
		return;
	int i = (int)rnd(&w->seed, (uint32_t)w->npool);
	int r = iol_close(w->pool[i]);

	if (r != 0)
		violation("close: %d", r);
	w->pool[i] = w->pool[--w->npool];
}

/* Does process pid end within a second (or has it ended)? */
static bool owner_ends(pid_t pid)
{
	struct pollfd p;
	int fd, r;

	if (pid == getpid())
		return false;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH;
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	do
		r = poll(&p, 1, 1000);
	while (r < 0 && errno == EINTR);
	close(fd);
	return r == 1;
}

/* A mutex was acquired (r is the wait's result bits). */
static void took_mutex(struct wthread *w, int i, int r)
{
	uint32_t f;

	if (w->held[i]++ > 0) {
		if (r & IOL_ABANDONED)
			violation("mutex %d: recursive acquisition reported abandoned", i);
		return;
	}
	f = atomic_exchange(&sh->mutex_owner[i], w->me);
	if (!(r & IOL_ABANDONED)) {
		if (f != 0)
			violation("mutex %d acquired while owner %#x had not released it", i, f);
		return;
	}
	/* Abandoned: its previous owner must be dead, or dying: its process
	 * must end promptly (the kernel marks a thread's robust locks at its
	 * exit, a moment before the process becomes a zombie). */
	if (f != 0 && !owner_ends((pid_t)((f - 1) >> 1)))
		violation("mutex %d abandoned while its owner (pid %u) lives", i, (f - 1) >> 1);
}

static void release_mutex(struct wthread *w, int i)
{
	int r;

	if (w->held[i] == 1)
		atomic_store(&sh->mutex_owner[i], 0);
	r = iol_mutex_release(w->hm[i]);
	if (r != (int)w->held[i])
		violation("mutex %d release returned %d, held %u", i, r, w->held[i]);
	w->held[i]--;
}

static bool wait_ok(int r)
{
	return r == -ETIMEDOUT || r >= 0;
}

static void op_sem_wait(struct wthread *w)
{
	int k = (int)rnd(&w->seed, NSEM);
	int32_t dmin[NSEM] = {0}, dmax[NSEM] = {0}, d[NSEM] = {0};
	int r;

	dmin[k] = -1;
	intent(w, dmin, dmax);
	r = iol_wait(w->hs[k], timeout(w));
	if (r == 0)
		d[k] = -1;
	else if (r != -ETIMEDOUT)
		violation("semaphore wait: %d", r);
	commit(w, d);
}

static void op_sem_release(struct wthread *w)
{
	int k = (int)rnd(&w->seed, NSEM);
	uint32_t n = 1 + rnd(&w->seed, 2);
	int32_t dmin[NSEM] = {0}, dmax[NSEM] = {0}, d[NSEM] = {0};
	int r;

	dmax[k] = (int32_t)n;
	intent(w, dmin, dmax);
	r = iol_semaphore_release(w->hs[k], n);
	if (r >= 0)
		d[k] = (int32_t)n;
	else if (r != -EOVERFLOW)
		violation("semaphore release: %d", r);
	commit(w, d);
}

static void op_mutex(struct wthread *w)
{
	int i = (int)rnd(&w->seed, NMUT);

	if (w->held[i] && rnd(&w->seed, 2)) {
		release_mutex(w, i);
		return;
	}
	int r = iol_wait(w->hm[i], timeout(w));
	if (r == 0 || r == IOL_ABANDONED)
		took_mutex(w, i, r);
	else if (r != -ETIMEDOUT)
		violation("mutex wait: %d", r);
}

static void op_event(struct wthread *w)
{
	int e = (int)rnd(&w->seed, NEV), r;

	switch (rnd(&w->seed, 4)) {
	case 0:
		r = iol_event_set(w->he[e]);
		break;
	case 1:
		r = iol_event_reset(w->he[e]);
		break;
	case 2:
		r = iol_event_pulse(w->he[e]);
		break;
	default:
		r = iol_wait(w->he[e], timeout(w));
		if (r == -ETIMEDOUT)
			r = 0;
	}
	if (r < 0 || r > 1)
		violation("event op: %d", r);
}

static void op_wait_many(struct wthread *w)
{
	int k = (int)rnd(&w->seed, NSEM), e = (int)rnd(&w->seed, NEV), i = (int)rnd(&w->seed, NMUT);
	int h[3] = {w->hs[k], w->he[e], w->hm[i]};
	int32_t dmin[NSEM] = {0}, dmax[NSEM] = {0}, d[NSEM] = {0};
	int r;

	dmin[k] = -1;
	intent(w, dmin, dmax);
	r = iol_wait_many(h, 3, 0, timeout(w));
	if (r >= 0 && (r & ~IOL_ABANDONED) == 0)
		d[k] = -1;
	commit(w, d);
	if (r >= 0 && (r & ~IOL_ABANDONED) == 2)
		took_mutex(w, i, r);
	else if (r >= 0 && ((r & IOL_ABANDONED) || (r & ~IOL_ABANDONED) > 2))
		violation("wait_many: %#x", r);
	else if (!wait_ok(r))
		violation("wait_many: %d", r);
}

static void op_wait_all(struct wthread *w)
{
	int a = (int)rnd(&w->seed, NSEM), b = (a + 1 + (int)rnd(&w->seed, NSEM - 1)) % NSEM;
	int i = (int)rnd(&w->seed, NMUT), e = (int)rnd(&w->seed, NEV);
	int h[4] = {w->hs[a], w->hs[b], w->hm[i], w->he[e]};
	unsigned n = rnd(&w->seed, 2) ? 4 : 3;
	int32_t dmin[NSEM] = {0}, dmax[NSEM] = {0}, d[NSEM] = {0};
	int r;

	dmin[a] = dmin[b] = -1;
	intent(w, dmin, dmax);
	r = iol_wait_many(h, n, IOL_WAIT_ALL, timeout(w));
	if (r == 0 || r == IOL_ABANDONED)
		d[a] = d[b] = -1;
	commit(w, d);
	if (r == 0 || r == IOL_ABANDONED)
		took_mutex(w, i, r);
	else if (r != -ETIMEDOUT)
		violation("wait-all: %d", r);
}

static void op_signal_and_wait(struct wthread *w)
{
	int a = (int)rnd(&w->seed, NSEM), b = (a + 1 + (int)rnd(&w->seed, NSEM - 1)) % NSEM;
	int32_t dmin[NSEM] = {0}, dmax[NSEM] = {0}, d[NSEM] = {0};
	int r;

	dmax[a] = 1;
	dmin[b] = -1;
	intent(w, dmin, dmax);
	r = iol_signal_and_wait(w->hs[a], w->hs[b], timeout(w));
	if (r == 0) {
		d[a] = 1;
		d[b] = -1;
	} else if (r == -ETIMEDOUT) {
		d[a] = 1;
	} else if (r != -EOVERFLOW) {
		violation("signal_and_wait: %d", r);
	}
	commit(w, d);
}

static void op_handles(struct wthread *w)
{
	int h, r;

	switch (rnd(&w->seed, 8)) {
	case 0: /* dup one of ours */
		h = iol_dup(rnd(&w->seed, 2) ? w->hs[rnd(&w->seed, NSEM)]
					     : w->he[rnd(&w->seed, NEV)]);
		if (h > 0)
			pool_add(w, h);
		else
			violation("dup: %d", h);
		break;
	case 1: /* import the controller's */
		h = iol_import(w->t, sh->tok_ev[rnd(&w->seed, NEV)]);
		if (h > 0)
			pool_add(w, h);
		else
			violation("import: %d", h);
		break;
	case 2: { /* a named temporary object */
		char name[64];

		snprintf(name, sizeof(name), "tmp-%d-%u", w->idx, w->tmpname++ % 8);
		h = iol_event_open(w->t, name, IOL_CREATE, false, false);
		if (h > 0)
			pool_add(w, h);
		else if (h != -ENOSPC && h != -EEXIST)
			violation("named create: %d", h);
		break;
	}
	case 3: /* an anonymous one */
		h = rnd(&w->seed, 2) ? iol_semaphore_open(w->t, NULL, 0, 1, 3)
				     : iol_mutex_open(w->t, NULL, 0, rnd(&w->seed, 2));
		if (h > 0)
			pool_add(w, h);
		else if (h != -ENOSPC)
			violation("anonymous create: %d", h);
		break;
	case 4: { /* a file open with random access and sharing */
		static const int acc[] = {O_RDONLY, O_WRONLY, O_RDWR};

		h = iol_file_open(w->t, sh->files[rnd(&w->seed, NFILE)], acc[rnd(&w->seed, 3)], 0,
				  rnd(&w->seed, 8));
		if (h > 0)
			pool_add(w, h);
		else if (h != -EBUSY && h != -ENOSPC)
			violation("file open: %d", h);
		break;
	}
	case 5: { /* a query */
		struct iol_info info;

		r = iol_query(w->hm[rnd(&w->seed, NMUT)], &info);
		if (r != 0)
			violation("query: %d", r);
		break;
	}
	case 6:
		if (rnd(&w->seed, 8) == 0) {
			r = iol_table_reclaim(w->t);
			if (r < 0)
				violation("reclaim: %d", r);
		}
		break;
	default:
		pool_close_one(w);
		break;
	}
}

static void *worker_thread(void *arg)
{
	struct wthread *w = arg;

	for (;;) {
		switch (rnd(&w->seed, 9)) {
		case 0:
			op_sem_wait(w);
			break;
		case 1:
			op_sem_release(w);
			break;
		case 2:
			op_mutex(w);
			break;
		case 3:
			op_event(w);
			break;
		case 4:
			op_wait_many(w);
			break;
		case 5:
			op_wait_all(w);
			break;
		case 6:
			op_signal_and_wait(w);
			break;
		default:
			op_handles(w);
			break;
		}
		atomic_fetch_add_explicit(&w->j->ops, 1, memory_order_relaxed);
	}
	return NULL;
}

static int open_handle(iol_table *t, int type, int k, uint64_t tok, bool by_token)
{
	char name[32];

	if (by_token)
		return iol_import(t, tok);
	switch (type) {
	case IOL_TYPE_SEMAPHORE:
		snprintf(name, sizeof(name), "sem%d", k);
		return iol_semaphore_open(t, name, 0, 0, 1);
	case IOL_TYPE_MUTEX:
		snprintf(name, sizeof(name), "mutex%d", k);
		return iol_mutex_open(t, name, 0, false);
	default:
		snprintf(name, sizeof(name), "event%d", k);
		return iol_event_open(t, name, 0, false, false);
	}
}

static int worker_main(int slot, uint64_t seed)
{
	struct wthread w[THREADS];
	iol_table *t;
	pthread_t th;
	int r;

	r = iol_table_open(TABLE, NULL, &t);
	if (r != 0) {
		if (r != -EUSERS)
			violation("worker %d: table open: %d", slot, r);
		return 3;
	}
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].t = t;
		w[i].slot = slot;
		w[i].idx = slot * THREADS + i;
		w[i].j = &sh->j[w[i].idx];
		w[i].me = (((uint32_t)getpid() << 1) | (uint32_t)i) + 1;
		w[i].seed = seed * 2 + (uint64_t)i + 1;
		for (int k = 0; k < NSEM; k++)
			w[i].hs[k] = open_handle(t, IOL_TYPE_SEMAPHORE, k, sh->tok_sem[k],
						 rnd(&w[i].seed, 2));
		for (int k = 0; k < NMUT; k++)
			w[i].hm[k] =
			    open_handle(t, IOL_TYPE_MUTEX, k, sh->tok_mut[k], rnd(&w[i].seed, 2));
		for (int k = 0; k < NEV; k++)
			w[i].he[k] =
			    open_handle(t, IOL_TYPE_EVENT, k, sh->tok_ev[k], rnd(&w[i].seed, 2));
		for (int k = 0; k < NSEM; k++)
			if (w[i].hs[k] <= 0 || w[i].hm[k] <= 0 || w[i].he[k] <= 0) {
				violation("worker %d: opening the shared objects failed", slot);
				return 3;
			}
	}
	if (pthread_create(&th, NULL, worker_thread, &w[1]) != 0) {
		violation("worker %d: pthread_create", slot);
		return 3;
	}
	worker_thread(&w[0]);
	return 0;
}

/* ---- the controller ------------------------------------------------------ */

struct opts {
	uint64_t kills;
	int workers;
	uint64_t check_every;
	uint64_t seed;
	uint32_t slots;
	int fault_pct;
	bool quiet;
};

struct ctl {
	struct opts o;
	iol_table *t;
	int hs[NSEM], hm[NMUT], he[NEV];
	int64_t base[NSEM]; /* counts at the last checkpoint */
	int64_t amb_min[NSEM], amb_max[NSEM];
	pid_t pid[MAX_WORKERS];
	int shm_fd;
	char self[PATH_MAX];
	uint64_t rng;
	/* figures */
	uint64_t kills, sigkills, fault_deaths, ambiguous, checkpoints, ops, restarts;
	uint64_t amb_total;
};

static void start_worker(struct ctl *c, int slot)
{
	char a_slot[16], a_seed[32], a_fd[16], fault[64];
	char *argv[] = {c->self, "--worker", a_slot, a_seed, a_fd, NULL};
	extern char **environ;
	char *envp[256];
	int n = 0;
	pid_t pid;

	snprintf(a_slot, sizeof(a_slot), "%d", slot);
	snprintf(a_seed, sizeof(a_seed), "%" PRIu64, rnd_next(&c->rng));
	snprintf(a_fd, sizeof(a_fd), "%d", c->shm_fd);
	for (char **e = environ; *e && n < 250; e++)
		if (strncmp(*e, "IOLAYER_FAULT=", 14) != 0)
			envp[n++] = *e;
#ifdef IOLI_FAULT_INJECTION
	if ((int)rnd(&c->rng, 100) < c->o.fault_pct) {
		snprintf(fault, sizeof(fault), "IOLAYER_FAULT=any:%u", 1 + rnd(&c->rng, 600));
		envp[n++] = fault;
	}
#else
	(void)fault;
#endif
	envp[n] = NULL;
	pid = fork();
	if (pid < 0) {
		perror("torture: fork");
		exit(1);
	}
	if (pid == 0) {
		execve(c->self, argv, envp);
		_exit(127);
	}
	c->pid[slot] = pid;
	c->restarts++;
}

/* A worker died: count it and take its in-flight operations into the
 * model's ambiguity. */
static void account_death(struct ctl *c, int slot, int status, bool by_us)
{
	if (by_us && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		c->sigkills++;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == FAULT_EXIT) {
		c->fault_deaths++;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		/* could not attach (all records taken by the not yet reclaimed
		 * dead): not a kill, and said so by the worker if it was worse */
	} else {
		violation("worker %d died unexpectedly: %s %d", slot,
			  WIFSIGNALED(status) ? "signal" : "exit",
			  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == FAULT_EXIT))
		c->kills++;
	for (int i = 0; i < THREADS; i++) {
		struct journal *j = &sh->j[slot * THREADS + i];
		uint64_t done = atomic_load(&j->done);

		if (atomic_load(&j->pending) == done + 1) {
			c->ambiguous++;
			for (int k = 0; k < NSEM; k++) {
				c->amb_min[k] += j->dmin[k];
				c->amb_max[k] += j->dmax[k];
				c->amb_total += (uint64_t)(j->dmax[k] - j->dmin[k]);
			}
		}
		atomic_store(&j->pending, 0);
	}
	c->pid[slot] = 0;
}

static int slot_of(struct ctl *c, pid_t pid)
{
	for (int i = 0; i < c->o.workers; i++)
		if (c->pid[i] == pid)
			return i;
	return -1;
}

/* Reap whatever died on its own (fault injection), restarting it. */
static void reap_deaths(struct ctl *c, bool restart)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		int slot = slot_of(c, pid);

		if (slot < 0)
			continue;
		account_death(c, slot, st, false);
		if (restart)
			start_worker(c, slot);
	}
}

static void kill_worker(struct ctl *c, int slot)
{
	int st;

	if (c->pid[slot] <= 0)
		return;
	kill(c->pid[slot], SIGKILL);
	while (waitpid(c->pid[slot], &st, 0) < 0 && errno == EINTR)
		;
	account_death(c, slot, st, true);
}

static void on_finding(void *arg, const struct ioli_fsck_finding *f)
{
	(void)arg;
	violation("fsck: %s: %s", f->check, f->message);
}

static uint32_t word_of(int h)
{
	struct ioli_href r;

	return ioli_handle_get(h, &r) == 0 ? atomic_load(&r.s->word) : 0xffffffffu;
}

/* Everything dead and reclaimed: check every invariant, then take the
 * observed counts as the model's new base. */
static void checkpoint(struct ctl *c)
{
	struct ioli_fsck_result res;
	iol_table *v;
	int r;

	for (int i = 0; i < c->o.workers; i++)
		kill_worker(c, i);
	reap_deaths(c, false);
	c->checkpoints++;
	r = iol_table_reclaim(c->t);
	if (r < 0)
		violation("checkpoint: reclaim: %d", r);

	/* fsck finds nothing */
	if (ioli_table_inspect(TABLE, false, &v) == 0) {
		ioli_fsck(v, false, on_finding, NULL, &res);
		ioli_table_inspect_close(v);
	} else {
		violation("checkpoint: cannot inspect the table");
	}

	/* no slot leaked: only the controller's objects, with its references */
	struct ioli_hdr *h = c->t->hdr;
	uint32_t hwm = atomic_load(&h->hwm), live = 0;
	for (uint32_t i = 0; i < hwm && i < c->t->nslots; i++) {
		struct ioli_slot *s = ioli_slot(c->t, i);
		uint32_t st = atomic_load(&s->state);

		if (!(st & IOLI_SLOT_LIVE))
			continue;
		live++;
		if (atomic_load(&s->refs) != 1)
			violation("checkpoint: slot %u (type %u) has %u references, expected 1", i,
				  IOLI_SLOT_TYPE(st), atomic_load(&s->refs));
	}
	if (live != NSEM + NMUT + NEV || atomic_load(&h->live) != live)
		violation("checkpoint: %u live slots (header %u), expected %d: leaked", live,
			  atomic_load(&h->live), NSEM + NMUT + NEV);

	/* every mutex free */
	for (int i = 0; i < NMUT; i++) {
		struct iol_info info;

		if (iol_query(c->hm[i], &info) != 0 || info.u.mutex.owner_tid != 0 ||
		    (word_of(c->hm[i]) & (IOLI_MX_OWNER_MASK | IOLI_W_LOCKED)))
			violation("checkpoint: mutex %d still owned (word %#x)", i,
				  word_of(c->hm[i]));
		atomic_store(&sh->mutex_owner[i], 0);
	}

	/* semaphore counts against the model */
	for (int k = 0; k < NSEM; k++) {
		int64_t done = 0, lo, hi, have;
		struct iol_info info;

		for (int j = 0; j < c->o.workers * THREADS; j++) {
			struct journal *jr = &sh->j[j];

			done += jr->acc[atomic_load(&jr->done) & 1][k];
		}
		lo = c->base[k] + done + c->amb_min[k];
		hi = c->base[k] + done + c->amb_max[k];
		if (iol_query(c->hs[k], &info) != 0) {
			violation("checkpoint: query semaphore %d", k);
			continue;
		}
		have = info.u.semaphore.count;
		if (have < lo || have > hi || have > SEM_MAX)
			violation("checkpoint: semaphore %d count %" PRId64
				  ", the model says %" PRId64 "..%" PRId64,
				  k, have, lo, hi);
		c->base[k] = have;
		c->amb_min[k] = c->amb_max[k] = 0;
	}
	for (int j = 0; j < MAX_WORKERS * THREADS; j++) {
		struct journal *jr = &sh->j[j];

		c->ops += atomic_load(&jr->ops);
		memset(jr, 0, sizeof(*jr));
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: torture [--kills N] [--workers W] [--check-every K] [--seed S]\n"
			"               [--slots N] [--fault-pct P] [--quiet]\n");
	return 2;
}

static int controller(struct opts o)
{
	struct iol_table_opts topts = {.slots = o.slots};
	struct ctl *c = calloc(1, sizeof(*c));
	const char *dir = getenv("IOLAYER_SHM_DIR");
	char name[32];
	uint64_t next_check;
	struct timespec t0, t1;
	int r;

	if (!c)
		return 1;
	c->o = o;
	c->rng = o.seed;
	ssize_t n = readlink("/proc/self/exe", c->self, sizeof(c->self) - 1);
	if (n <= 0)
		return 1;
	c->self[n] = '\0';
	c->shm_fd = memfd_create("torture", 0);
	if (c->shm_fd < 0 || ftruncate(c->shm_fd, sizeof(struct shared)) < 0)
		return 1;
	sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED, c->shm_fd, 0);
	if (sh == MAP_FAILED)
		return 1;

	iol_table_unlink(TABLE);
	r = iol_table_open(TABLE, &topts, &c->t);
	if (r != 0) {
		fprintf(stderr, "torture: table open: %s\n", strerror(-r));
		return 1;
	}
	for (int k = 0; k < NSEM; k++) {
		snprintf(name, sizeof(name), "sem%d", k);
		c->hs[k] = iol_semaphore_open(c->t, name, IOL_CREATE | IOL_EXCL, SEM_INIT, SEM_MAX);
		c->base[k] = SEM_INIT;
		snprintf(name, sizeof(name), "mutex%d", k);
		c->hm[k] = iol_mutex_open(c->t, name, IOL_CREATE | IOL_EXCL, false);
		snprintf(name, sizeof(name), "event%d", k);
		c->he[k] = iol_event_open(c->t, name, IOL_CREATE | IOL_EXCL, k & 1, false);
		if (c->hs[k] <= 0 || c->hm[k] <= 0 || c->he[k] <= 0 ||
		    iol_export(c->hs[k], &sh->tok_sem[k]) ||
		    iol_export(c->hm[k], &sh->tok_mut[k]) || iol_export(c->he[k], &sh->tok_ev[k])) {
			fprintf(stderr, "torture: creating the shared objects failed\n");
			return 1;
		}
	}
	for (int f = 0; f < NFILE; f++) {
		snprintf(sh->files[f], sizeof(sh->files[f]), "%s/torture-file-%d-%d",
			 dir && *dir ? dir : "/tmp", (int)getpid(), f);
		close(open(sh->files[f], O_CREAT | O_RDWR | O_CLOEXEC, 0600));
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < o.workers; i++)
		start_worker(c, i);
	next_check = o.check_every;
	while (c->kills < o.kills) {
		/* A random moment: up to 3 ms (a kill point, not a sync). */
		struct timespec d = {0, (long)rnd(&c->rng, 3000) * 1000};

		nanosleep(&d, NULL);
		reap_deaths(c, true);
		int slot = (int)rnd(&c->rng, (uint32_t)o.workers);
		kill_worker(c, slot);
		start_worker(c, slot);
		if (c->kills >= next_check) {
			checkpoint(c);
			next_check = c->kills + o.check_every;
			if (!o.quiet)
				fprintf(stderr,
					"torture: %" PRIu64 " kills (%" PRIu64 " SIGKILL, %" PRIu64
					" fault), %" PRIu64 " checkpoints, %" PRIu64
					" violations\n",
					c->kills, c->sigkills, c->fault_deaths, c->checkpoints,
					(uint64_t)atomic_load(&sh->violations));
			for (int i = 0; i < o.workers; i++)
				start_worker(c, i);
		}
	}
	checkpoint(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	uint64_t viol = atomic_load(&sh->violations);

	printf("torture: %d workers x %d threads, %u slots, seed %" PRIu64 "\n", o.workers, THREADS,
	       o.slots, o.seed);
	printf("torture: %" PRIu64 " kills (%" PRIu64 " SIGKILL, %" PRIu64
	       " fault-injection deaths), %" PRIu64 " restarts, %" PRIu64 " checkpoints\n",
	       c->kills, c->sigkills, c->fault_deaths, c->restarts, c->checkpoints);
	printf("torture: %" PRIu64 " operations, %" PRIu64
	       " deaths with a counting operation in flight (ambiguity %" PRIu64
	       " counts, all accounted)\n",
	       c->ops, c->ambiguous, c->amb_total);
	printf("torture: %.1f s, %" PRIu64 " violations\n", secs, viol);
	for (uint32_t i = 0; i < atomic_load(&sh->nmsg) && i < MAX_MSGS; i++)
		printf("  violation: %s\n", sh->msg[i]);

	iol_table_close(c->t);
	iol_table_unlink(TABLE);
	for (int f = 0; f < NFILE; f++)
		unlink(sh->files[f]);
	munmap(sh, sizeof(struct shared));
	close(c->shm_fd);
	free(c);
	return viol ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .kills = 1000,
	    .workers = 6,
	    .check_every = 500,
	    .slots = 256,
	    .fault_pct = 50,
	};
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	o.seed = (uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 32);
	if (argc == 5 && !strcmp(argv[1], "--worker")) {
		sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED,
			  atoi(argv[4]), 0);
		if (sh == MAP_FAILED)
			return 4;
		return worker_main(atoi(argv[2]), strtoull(argv[3], NULL, 10));
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quiet")) {
			o.quiet = true;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--kills"))
			o.kills = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--workers"))
			o.workers = atoi(v);
		else if (!strcmp(a, "--check-every"))
			o.check_every = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			o.seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--slots"))
			o.slots = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--fault-pct"))
			o.fault_pct = atoi(v);
		else
			return usage();
	}
	if (o.workers < 1 || o.workers > MAX_WORKERS || o.check_every == 0 || o.seed == 0)
		return usage();
	return controller(o);
}
