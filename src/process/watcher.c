/* SPDX-License-Identifier: MIT */
/*
 * The process watcher: one helper thread per process, started the first
 * time the process holds a process or thread handle.
 *
 * It watches, with epoll, the pidfd of every process this process holds a
 * handle to (a pidfd becomes readable when its process ends), and:
 *   - for a child iolayer spawned here: reaps it with waitid(P_PIDFD),
 *     posts the exit status into the slot, sets the object signaled, wakes
 *     the waiters and drops the spawner's reference;
 *   - for any other process: sets the object signaled (with the status
 *     from PIDFD_GET_INFO where the kernel has it), unless the process was
 *     spawned by another live process of the table, whose watcher will post
 *     the status it reaps;
 *   - for a thread created by iol_thread_create: joins it and posts its
 *     result.
 * Waiters never poll: they sleep on the object's futex word like on any
 * other object, and this thread turns pidfd readiness into a futex wake.
 *
 * Watches are freed only by this thread, after it has handled a batch of
 * events, so an event returned by epoll_wait never points at freed memory.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "futex/futex.h"
#include "src/compat.h"
#include "src/table/table.h"
#include "src/process/watcher.h"

struct watch {
	iol_table *t;
	uint32_t slot, gen;
	int pidfd;  /* -1: the process was gone before we could watch it */
	bool child; /* spawned here: ours to reap; holds the spawner's reference */
	bool done;  /* its end has been handled */
	bool dead;  /* to be freed by the watcher thread */
	uint32_t nhandles;
	struct watch *next;
};

struct join {
	pthread_t thread;
	iol_table *t;
	uint32_t slot, gen;
	struct join *next;
};

struct reclaim_req {
	iol_table *t;
	struct reclaim_req *next;
};

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
/* Reclaim requests have their own lock: they are made from under T and
 * from the watcher thread itself, which may hold wlock. */
static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static struct watch *watches;
static struct join *joins;
static struct reclaim_req *reclaims;
/* Requests queued or being handled; exit() waits a moment for them
 * (ioli_watcher_at_exit), since the last may free a table, joining its
 * sentinel thread, while the process exits. */
static _Atomic uint32_t reclaims_pending;
static int epfd = -1, evfd = -1;
static _Atomic bool running;

/* ---- posting an end into a slot ------------------------------------ */

static uint32_t encode_siginfo(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return IOLI_PS_HAVE | IOLI_PS_EXITED | ((uint32_t)si->si_status & 0xffu);
	case CLD_DUMPED:
		return IOLI_PS_HAVE | IOLI_PS_CORE | (((uint32_t)si->si_status & 0xffu) << 8);
	default: /* CLD_KILLED */
		return IOLI_PS_HAVE | (((uint32_t)si->si_status & 0xffu) << 8);
	}
}

uint32_t ioli_encode_wait_status(int st)
{
	if (WIFEXITED(st))
		return IOLI_PS_HAVE | IOLI_PS_EXITED | ((uint32_t)WEXITSTATUS(st) & 0xffu);
	if (WIFSIGNALED(st))
		return IOLI_PS_HAVE | (WCOREDUMP(st) ? IOLI_PS_CORE : 0) |
		       (((uint32_t)WTERMSIG(st) & 0xffu) << 8);
	return 0;
}

/* Status from PIDFD_GET_INFO, or 0 when the kernel cannot tell. */
uint32_t ioli_pidfd_exit_status(int pidfd)
{
	struct pidfd_info info;

	if (pidfd < 0 || !iol_has(IOL_FEAT_PIDFD_GET_INFO))
		return 0;
	memset(&info, 0, sizeof(info));
	info.mask = PIDFD_INFO_EXIT;
	if (ioctl(pidfd, PIDFD_GET_INFO, &info) < 0 || !(info.mask & PIDFD_INFO_EXIT))
		return 0;
	return ioli_encode_wait_status(info.exit_code);
}

void ioli_signal_ended(iol_table *t, struct ioli_slot *s)
{
	if (!(atomic_fetch_or(&s->word, IOLI_SIG_SIGNALED) & IOLI_SIG_SIGNALED))
		ioli_wake(t, s, INT_MAX);
}

/*
 * Under T (so the slot cannot be freed and reused in between): post a
 * process object's status (if known and none was posted) and set it
 * signaled; if drop_internal, also give back the reference iolayer held
 * on it.  Returns true when this call signaled it: the caller then wakes
 * its waiters, outside every lock.
 */
bool ioli_post_end(iol_table *t, uint32_t slot, uint32_t gen, uint32_t status, bool drop_internal)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	bool newly = false;

	if (atomic_load(&t->forked) || ioli_tlock(t))
		return false;
	if (ioli_slot_live(t, slot, gen)) {
		uint32_t none = 0;

		if (status)
			atomic_compare_exchange_strong(&s->u.proc.status, &none, status);
		newly = !(atomic_fetch_or(&s->word, IOLI_SIG_SIGNALED) & IOLI_SIG_SIGNALED);
		if (drop_internal && atomic_load(&s->internal) > 0) {
			ioli_tset(t, &s->internal, atomic_load(&s->internal) - 1);
			ioli_ref_put(t, t->self, slot);
		}
	}
	ioli_tunlock(t);
	return newly;
}

void ioli_post_exit(iol_table *t, uint32_t slot, uint32_t gen, uint32_t status)
{
	if (ioli_post_end(t, slot, gen, status, false))
		ioli_wake(t, ioli_slot(t, slot), INT_MAX);
}

/* Is the process that spawned this object another live attached process? */
static bool other_spawner_alive(iol_table *t, struct ioli_slot *s)
{
	uint32_t sp = atomic_load(&s->u.proc.spawner);
	uint32_t gen = atomic_load(&s->u.proc.spawner_gen);

	if (sp == 0 || sp - 1 >= t->max_procs || sp - 1 == t->self)
		return false;
	return ioli_proc_alive(t, sp - 1, gen);
}

/* Queue a reclaim of t's dead processes (deduplicated). */
static void request_reclaim(iol_table *t)
{
	struct reclaim_req *r;

	pthread_mutex_lock(&rlock);
	for (r = reclaims; r; r = r->next)
		if (r->t == t)
			goto out;
	r = malloc(sizeof(*r));
	if (!r)
		goto out; /* the next table open or allocation failure reclaims */
	ioli_table_ref(t);
	r->t = t;
	r->next = reclaims;
	reclaims = r;
	atomic_fetch_add(&reclaims_pending, 1);
out:
	pthread_mutex_unlock(&rlock);
}

/* The batch being handled: reachable from here, not only from the
 * watcher's stack, for a leak checker that runs at exit() meanwhile. */
static struct reclaim_req *_Atomic handling;

static void handle_reclaims(void)
{
	struct reclaim_req *r;

	pthread_mutex_lock(&rlock);
	r = reclaims;
	reclaims = NULL;
	pthread_mutex_unlock(&rlock);
	atomic_store(&handling, r);
	while (r) {
		struct reclaim_req *next = r->next;

		if (!atomic_load(&r->t->forked))
			ioli_reclaim_dead(r->t);
		ioli_table_unref(r->t);
		atomic_store(&handling, next);
		free(r);
		r = next;
		if (atomic_fetch_sub(&reclaims_pending, 1) == 1)
			ioli_futex_wake(&reclaims_pending, INT_MAX, true);
	}
}

/* Was the process behind this watch attached to its table?  Then its
 * death leaves references to reclaim. */
static bool was_attached(struct watch *w)
{
	struct ioli_slot *s = ioli_slot(w->t, w->slot);
	uint32_t pid = atomic_load(&s->u.proc.pid);

	for (uint32_t p = 0; p < ioli_proc_hwm(w->t); p++)
		if (atomic_load(&w->t->procs[p].state) == IOLI_PROC_LIVE &&
		    atomic_load(&w->t->procs[p].pid) == pid)
			return true;
	return false;
}

/* Waiters to wake once the watcher has let go of its lock, so that what
 * they do first (often closing the handle) does not wait for it. */
struct wake {
	iol_table *t;
	uint32_t slot;
};

static void defer_wake(struct wake *wakes, unsigned *n, iol_table *t, uint32_t slot)
{
	ioli_table_ref(t);
	wakes[(*n)++] = (struct wake){.t = t, .slot = slot};
}

static void do_wakes(struct wake *wakes, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ioli_wake(wakes[i].t, ioli_slot(wakes[i].t, wakes[i].slot), INT_MAX);
		ioli_table_unref(wakes[i].t);
	}
}

/* Under wlock: the watched process ended.  Returns true when its object's
 * waiters must be woken. */
static bool handle_end(struct watch *w)
{
	struct ioli_slot *s = ioli_slot(w->t, w->slot);
	bool wake = false;

	if (w->child) {
		siginfo_t si;
		uint32_t status;

		memset(&si, 0, sizeof(si));
		if (waitid((idtype_t)IOLI_P_PIDFD, (id_t)w->pidfd, &si,
			   WEXITED | WNOHANG | __WALL) < 0 ||
		    si.si_pid == 0) {
			if (errno != ECHILD)
				return false; /* not ended after all */
			si.si_pid = 0;
		}
		/* ECHILD: the application reaped it first (waitpid(-1), or
		 * SIGCHLD ignored): the kernel may still know how it ended. */
		status = si.si_pid ? encode_siginfo(&si) : ioli_pidfd_exit_status(w->pidfd);
		/* Post, then drop the reference the spawner held for this. */
		wake = ioli_post_end(w->t, w->slot, w->gen, status, true);
	} else if (ioli_slot_live(w->t, w->slot, w->gen) && !other_spawner_alive(w->t, s)) {
		wake =
		    ioli_post_end(w->t, w->slot, w->gen, ioli_pidfd_exit_status(w->pidfd), false);
	}
	if (ioli_slot_live(w->t, w->slot, w->gen) && was_attached(w))
		request_reclaim(w->t);
	w->done = true;
	epoll_ctl(epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
	return wake;
}

static void handle_joins(void)
{
	struct join *j;
	uint64_t n;

	if (read(evfd, &n, sizeof(n)) < 0) {
		/* nothing pending (EAGAIN): fine */
	}
	pthread_mutex_lock(&wlock);
	j = joins;
	joins = NULL;
	pthread_mutex_unlock(&wlock);
	while (j) {
		struct join *next = j->next;
		void *ret = NULL;

		pthread_join(j->thread, &ret);
		ioli_thread_ended(j->t, j->slot, j->gen, ret);
		ioli_table_unref(j->t);
		free(j);
		j = next;
	}
}

static void sweep(void)
{
	for (struct watch **p = &watches; *p;) {
		struct watch *w = *p;

		if (!w->dead) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		if (w->pidfd >= 0) {
			epoll_ctl(epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
			close(w->pidfd);
		}
		ioli_table_unref(w->t);
		free(w);
	}
}

static void *watcher_main(void *arg)
{
	struct epoll_event ev[64];
	struct wake wakes[64];

	(void)arg;
	for (;;) {
		int n = epoll_wait(epfd, ev, 64, -1);
		unsigned nwakes = 0;

		if (n < 0)
			continue; /* EINTR cannot happen (signals blocked); be safe */
		pthread_mutex_lock(&wlock);
		for (int i = 0; i < n; i++) {
			struct watch *w = ev[i].data.ptr;

			if (w && !w->dead && !w->done && handle_end(w))
				defer_wake(wakes, &nwakes, w->t, w->slot);
		}
		for (struct watch *w = watches; w; w = w->next)
			if (w->done && w->nhandles == 0 && !w->dead)
				w->dead = true;
		sweep();
		pthread_mutex_unlock(&wlock);
		do_wakes(wakes, nwakes);
		for (int i = 0; i < n; i++)
			if (ev[i].data.ptr == NULL)
				handle_joins();
		handle_reclaims();
	}
	return NULL;
}

/* Under wlock: start the thread once. */
static int ensure_running(void)
{
	pthread_attr_t a;
	pthread_t th;
	sigset_t all, old;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int r;

	if (running)
		return 0;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (evfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	/* The helper never runs the application's signal handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&th, &a, watcher_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (r)
		goto fail;
	running = true;
	return 0;
fail:
	if (evfd >= 0)
		close(evfd);
	close(epfd);
	epfd = evfd = -1;
	return r;
}

static struct watch *find(iol_table *t, uint32_t slot, uint32_t gen)
{
	for (struct watch *w = watches; w; w = w->next)
		if (w->t == t && w->slot == slot && w->gen == gen && !w->dead)
			return w;
	return NULL;
}

static int add_locked(iol_table *t, uint32_t slot, uint32_t gen, int pidfd, bool child,
		      uint32_t nhandles)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = {.events = EPOLLIN};
	int err = ensure_running();

	if (!w || err) {
		free(w);
		return err ? err : -ENOMEM;
	}
	*w = (struct watch){
	    .t = t,
	    .slot = slot,
	    .gen = gen,
	    .pidfd = pidfd,
	    .child = child,
	    .nhandles = nhandles,
	    .done = pidfd < 0,
	};
	ioli_table_ref(t);
	w->next = watches;
	watches = w;
	if (pidfd >= 0) {
		ev.data.ptr = w;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
			/* cannot happen for a pidfd; leave it to the next wake */
		}
	}
	return 0;
}

int ioli_watch_child(iol_table *t, uint32_t slot, uint32_t gen, int pidfd)
{
	int err;

	pthread_mutex_lock(&wlock);
	err = add_locked(t, slot, gen, pidfd, true, 1);
	pthread_mutex_unlock(&wlock);
	return err;
}

/*
 * One more local handle to a process object.  If we do not watch it yet,
 * `pidfd` (>= 0, ownership passes) or a pidfd opened here and checked
 * against the object's identity is used.  Returns 0 or an error.
 */
int ioli_watch_get(iol_table *t, uint32_t slot, uint32_t gen, int pidfd)
{
	struct watch *w;
	int err = 0;

	pthread_mutex_lock(&wlock);
	w = find(t, slot, gen);
	if (w) {
		w->nhandles++;
		pthread_mutex_unlock(&wlock);
		if (pidfd >= 0)
			close(pidfd);
		return 0;
	}
	pthread_mutex_unlock(&wlock);
	if (pidfd < 0) {
		pidfd = ioli_process_pidfd_checked(t, slot);
		if (pidfd < 0) {
			/* Gone already: make sure it reads as ended. */
			struct ioli_slot *s = ioli_slot(t, slot);

			if (!other_spawner_alive(t, s))
				ioli_post_exit(t, slot, gen, 0);
			pidfd = -1;
		}
	}
	pthread_mutex_lock(&wlock);
	w = find(t, slot, gen); /* raced with another thread of ours? */
	if (w) {
		w->nhandles++;
		pthread_mutex_unlock(&wlock);
		if (pidfd >= 0)
			close(pidfd);
		return 0;
	}
	err = add_locked(t, slot, gen, pidfd, false, 1);
	pthread_mutex_unlock(&wlock);
	if (err && pidfd >= 0)
		close(pidfd);
	return err;
}

void ioli_watch_put(iol_table *t, uint32_t slot, uint32_t gen)
{
	uint64_t one = 1;

	pthread_mutex_lock(&wlock);
	struct watch *w = find(t, slot, gen);
	if (w && w->nhandles > 0 && --w->nhandles == 0 && w->done) {
		w->dead = true;
		if (write(evfd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice */
		}
	}
	pthread_mutex_unlock(&wlock);
}

/* A duplicate of the pidfd we watch the object with, or -ESRCH. */
int ioli_watch_pidfd(iol_table *t, uint32_t slot, uint32_t gen)
{
	struct watch *w;
	int fd = -ESRCH;

	pthread_mutex_lock(&wlock);
	w = find(t, slot, gen);
	if (w && w->pidfd >= 0) {
		fd = fcntl(w->pidfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
	}
	pthread_mutex_unlock(&wlock);
	return fd;
}

int ioli_watch_thread(pthread_t th, iol_table *t, uint32_t slot, uint32_t gen)
{
	struct join *j = calloc(1, sizeof(*j));
	uint64_t one = 1;
	int err;

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&wlock);
	err = ensure_running();
	if (err) {
		pthread_mutex_unlock(&wlock);
		free(j);
		return err;
	}
	/* The caller's reference on t passes to the join. */
	*j = (struct join){.thread = th, .t = t, .slot = slot, .gen = gen, .next = joins};
	joins = j;
	pthread_mutex_unlock(&wlock);
	if (write(evfd, &one, sizeof(one)) < 0) {
		/* cannot overflow in practice */
	}
	return 0;
}

void ioli_watcher_reclaim(iol_table *t)
{
	uint64_t one = 1;

	if (!atomic_load(&running)) {
		int err;

		pthread_mutex_lock(&wlock);
		err = ensure_running();
		pthread_mutex_unlock(&wlock);
		if (err)
			return;
	}
	request_reclaim(t);
	if (write(evfd, &one, sizeof(one)) < 0) {
		/* cannot overflow in practice */
	}
}

int ioli_watcher_start(void)
{
	int err;

	pthread_mutex_lock(&wlock);
	err = ensure_running();
	pthread_mutex_unlock(&wlock);
	return err;
}

/*
 * At exit(): reap the children spawned here that have already ended, so
 * their status reaches the table before this process (their reaper) goes.
 */
void ioli_watcher_at_exit(void)
{
	struct ioli_deadline dl;
	uint32_t n;

	/* A reclaim in the background (a waiter found an owner dead) may be
	 * freeing a table the program closed: let it finish, briefly, so the
	 * process does not exit half-way through the join of that table's
	 * sentinel thread. */
	ioli_deadline_set(&dl, (int64_t)IOLI_EXIT_PATIENCE_MS * 1000000);
	while (atomic_load(&running) && (n = atomic_load(&reclaims_pending)) != 0) {
		int r = ioli_futex_wait(&reclaims_pending, n, &dl, true);

		if (r != 0 && r != -EAGAIN && r != -EINTR)
			break; /* the deadline, or a futex refused (seccomp) */
	}
	pthread_mutex_lock(&wlock);
	for (struct watch *w = watches; w; w = w->next) {
		struct pollfd p = {.fd = w->pidfd, .events = POLLIN};

		if (w->child && !w->done && !w->dead && poll(&p, 1, 0) == 1 && handle_end(w))
			ioli_wake(w->t, ioli_slot(w->t, w->slot), INT_MAX);
	}
	pthread_mutex_unlock(&wlock);
}

/* In a fork()ed child: the helper thread does not exist there, and the
 * watches are the parent's.  Forget them (closing our copies of the fds). */
void ioli_watcher_after_fork(void)
{
	pthread_mutex_init(&wlock, NULL);
	pthread_mutex_init(&rlock, NULL);
	for (struct watch *w = watches; w;) {
		struct watch *next = w->next;

		if (w->pidfd >= 0)
			close(w->pidfd);
		free(w);
		w = next;
	}
	for (struct join *j = joins; j;) {
		struct join *next = j->next;

		free(j);
		j = next;
	}
	for (struct reclaim_req *r = reclaims; r;) {
		struct reclaim_req *next = r->next;

		free(r);
		r = next;
	}
	watches = NULL;
	joins = NULL;
	reclaims = NULL;
	atomic_store(&reclaims_pending, 0);
	if (epfd >= 0)
		close(epfd);
	if (evfd >= 0)
		close(evfd);
	epfd = evfd = -1;
	running = false;
}
