/* SPDX-License-Identifier: MIT */
/*
 * The sentinel: one thread per mapped table that makes the kernel report
 * this process's death, and watches one other attached process for its.
 *
 * Death reporting.  The kernel walks a dying thread's robust list and sets
 * FUTEX_OWNER_DIED in every listed futex word that still holds the
 * thread's tid, waking a waiter.  glibc's robust mutexes keep that list's
 * links inside the mutexes, which for a table would put pointers that
 * glibc follows on unlock in shared memory: one scribble, and an unlock
 * writes anywhere in the process.  So the table has no glibc mutex.  The
 * sentinel registers a robust list of its own whose nodes live in a
 * private mirror of the table's first pages (the node for the word at
 * offset o of the table is at offset o of the mirror; futex_offset is the
 * distance between the two mappings).  Every word this process holds in
 * the table - the locks T and L while held, its process record's liveness
 * word, the liveness words of its threads' records - holds the sentinel's
 * tid.  When the process dies, is killed or exec()s, the sentinel dies
 * with it and the kernel marks exactly those words.  Nothing in shared
 * memory is ever followed as a pointer; the kernel only reads the private
 * nodes.
 *
 * Watching.  The attached processes form a ring in process-record order:
 * each sentinel sleeps on the liveness word of the next live record after
 * its own (and on its own record's poke word).  When that process dies,
 * the kernel wakes the sentinel, which reclaims everything the dead
 * process held (src/reclaim.c) and moves on to the next record.  A process
 * that attaches pokes its predecessor, which then watches it; one that
 * detaches clears its word, which wakes its watcher.  So every attached
 * process is watched by one other; nothing wakes while nobody dies; and
 * each process uses one thread and no descriptor per table.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "futex/futex.h"
#include "src/table/table.h"

/* The kernel stops walking a robust list after this many entries
 * (ROBUST_LIST_LIMIT); T, L and our process word take three. */
#define LIST_LIMIT 2048u
/* Reclaiming is shallow; ThreadSanitizer wants about 1 MiB of it. */
#define STACK_SIZE (2u * 1024u * 1024u)

struct ioli_sentinel {
	struct robust_list_head head; /* registered by the sentinel thread */
	pthread_mutex_t lock;	      /* list edits (process-private) */
	unsigned n;		      /* entries on the list */
	uint8_t *mirror;	      /* private nodes, one per word offset */
	size_t mlen;
	void *stack; /* our own: see ioli_sentinel_after_fork() */
	pthread_t th;
	_Atomic uint32_t tid;  /* 0 until running */
	_Atomic uint32_t stop; /* process-private futex word */
	_Atomic uint32_t kick; /* process-private: attached or detached here */
	_Atomic uint32_t self; /* our process record while attached, else UINT32_MAX */
};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

/* IOLAYER_WATCH=0: this process reports its own death but watches nobody
 * (deaths are then noticed by the other triggers only).  For tests that
 * look at what a dead process left, and for debugging. */
static bool watching(void)
{
	static int on = -1;

	if (on < 0) {
		const char *e = getenv("IOLAYER_WATCH");

		on = !(e && !strcmp(e, "0"));
	}
	return on;
}

static struct robust_list *node_of(iol_table *t, _Atomic uint32_t *word)
{
	struct ioli_sentinel *s = t->sentinel;
	size_t off = (size_t)((uint8_t *)word - t->base);

	if ((uint8_t *)word < t->base || off + sizeof(struct robust_list) > s->mlen)
		return NULL;
	return (struct robust_list *)(s->mirror + off);
}

uint32_t ioli_sentinel_target(iol_table *t, uint32_t p)
{
	uint32_t n = ioli_proc_hwm(t);

	for (uint32_t i = 1; i < n; i++) {
		uint32_t q = (p + i) % n;

		if (atomic_load_explicit(&t->procs[q].state, memory_order_acquire) ==
		    IOLI_PROC_LIVE)
			return q;
	}
	return UINT32_MAX;
}

bool ioli_live_word_watch(_Atomic uint32_t *w, uint32_t stid, uint32_t *val)
{
	uint32_t v = atomic_load_explicit(w, memory_order_acquire);

	for (;;) {
		if (ioli_live_word_dead(v, stid))
			return false;
		if (v & FUTEX_WAITERS)
			break;
		/* The kernel wakes a waiter at the holder's death only when
		 * FUTEX_WAITERS is set. */
		if (atomic_compare_exchange_weak(w, &v, v | FUTEX_WAITERS)) {
			v |= FUTEX_WAITERS;
			break;
		}
	}
	*val = v;
	return true;
}

void ioli_sentinel_release(iol_table *t, _Atomic uint32_t *w)
{
	if (atomic_exchange(w, 0) & FUTEX_WAITERS)
		ioli_futex_wake(w, INT_MAX, false);
	ioli_sentinel_untrack(t, w);
}

/*
 * Sleep until one of: stop, our poke word moves, the watched process's
 * liveness word changes.  Returns true when the watched process died (its
 * word marked by the kernel, or cleared without its record being freed).
 */
static bool watch_once(iol_table *t, struct ioli_sentinel *s)
{
	struct futex_waitv w[4];
	struct ioli_deadline forever;
	unsigned n = 0;
	uint32_t self = atomic_load(&s->self);
	uint32_t poke = 0, target = UINT32_MAX, v = 0, stid = 0;
	struct ioli_proc *pr = NULL;

	ioli_deadline_set(&forever, IOL_INFINITE);
	ioli_waitv_entry(&w[n++], &s->stop, 0, true);
	ioli_waitv_entry(&w[n++], &s->kick, atomic_load(&s->kick), true);
	if (self < t->max_procs && watching()) {
		poke = atomic_load_explicit(&t->procs[self].poke, memory_order_acquire);
		ioli_waitv_entry(&w[n++], &t->procs[self].poke, poke, false);
		target = ioli_sentinel_target(t, self);
	}
	if (target != UINT32_MAX) {
		pr = &t->procs[target];
		stid = atomic_load_explicit(&pr->stid, memory_order_acquire);
		if (!ioli_live_word_watch(&pr->live, stid, &v))
			return true;
		ioli_waitv_entry(&w[n++], &pr->live, v, false);
	}
	if (atomic_load(&s->stop))
		return false;
	int r = ioli_futex_waitv(w, n, &forever);
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		return false; /* cannot happen with futex_waitv probed; do not spin */
	if (pr) {
		uint32_t now = atomic_load_explicit(&pr->live, memory_order_acquire);

		if (ioli_live_word_dead(now, stid)) {
			/* Other sleepers on the word (mutex waiters do not sleep
			 * on it, but a stale watcher may): the kernel woke one. */
			if (now & FUTEX_OWNER_DIED)
				ioli_futex_wake(&pr->live, INT_MAX, false);
			return true;
		}
	}
	return false;
}

static void *sentinel_main(void *arg)
{
	iol_table *t = arg;
	struct ioli_sentinel *s = t->sentinel;

	if (syscall(SYS_set_robust_list, &s->head, sizeof(s->head)) != 0)
		atomic_store(&s->tid, (uint32_t)-errno);
	else
		atomic_store(&s->tid, (uint32_t)ioli_gettid());
	ioli_futex_wake(&s->tid, INT_MAX, true);
	if ((int32_t)atomic_load(&s->tid) < 0)
		return NULL;
	while (!atomic_load(&s->stop)) {
		if (watch_once(t, s) && !atomic_load(&s->stop) &&
		    atomic_load(&s->self) != UINT32_MAX)
			ioli_reclaim_dead(t);
	}
	/* Leaving normally: nothing of ours holds our tid any more. */
	s->head.list.next = &s->head.list;
	return NULL;
}

int ioli_sentinel_tid(iol_table *t)
{
	struct ioli_sentinel *s = atomic_load_explicit(&t->sentinel, memory_order_acquire);
	sigset_t all, old;
	int err;

	if (t->private_)
		return (int)getpid(); /* nobody else sees it die: no thread needed */
	if (s && (int32_t)atomic_load_explicit(&s->tid, memory_order_acquire) > 0)
		return (int)atomic_load_explicit(&s->tid, memory_order_relaxed);
	pthread_mutex_lock(&start_lock);
	s = t->sentinel;
	if (s) {
		pthread_mutex_unlock(&start_lock);
		return (int)(int32_t)atomic_load(&s->tid); /* tid, or -errno */
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pthread_mutex_unlock(&start_lock);
		return -ENOMEM;
	}
	atomic_init(&s->self, UINT32_MAX);
	/* The header, process and thread records: every word we list. */
	s->mlen = (size_t)((uint8_t *)t->buckets - t->base);
	s->mirror = mmap(NULL, s->mlen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->mirror == MAP_FAILED) {
		free(s);
		pthread_mutex_unlock(&start_lock);
		return -ENOMEM;
	}
	watching(); /* read the environment here, not in the thread */
	pthread_mutex_init(&s->lock, NULL);
	s->head.list.next = &s->head.list;
	s->head.futex_offset = (long)(t->base - s->mirror);
	s->head.list_op_pending = NULL;
	atomic_store_explicit(&t->sentinel, s, memory_order_release);
	/* T and L are listed for good: the kernel marks only what holds our
	 * tid when we die. */
	ioli_sentinel_track(t, &t->hdr->lock.word);
	ioli_sentinel_track(t, &t->hdr->walock.word);
	/* No signal for the application is ever delivered to it. */
	pthread_attr_t attr;
	err = pthread_attr_init(&attr);
	if (!err) {
		s->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		err = s->stack == MAP_FAILED ? ENOMEM
					     : pthread_attr_setstack(&attr, s->stack, STACK_SIZE);
		if (s->stack == MAP_FAILED)
			s->stack = NULL;
	}
	if (!err) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = pthread_create(&s->th, &attr, sentinel_main, t);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (err) {
		if (s->stack)
			munmap(s->stack, STACK_SIZE);
		t->sentinel = NULL;
		munmap(s->mirror, s->mlen);
		pthread_mutex_destroy(&s->lock);
		free(s);
		pthread_mutex_unlock(&start_lock);
		return -err;
	}
	struct ioli_deadline forever;

	ioli_deadline_set(&forever, IOL_INFINITE);
	while (atomic_load_explicit(&s->tid, memory_order_acquire) == 0)
		ioli_futex_wait(&s->tid, 0, &forever, true);
	pthread_mutex_unlock(&start_lock);
	err = (int32_t)atomic_load(&s->tid);
	return err;
}

int ioli_sentinel_track(iol_table *t, _Atomic uint32_t *word)
{
	struct ioli_sentinel *s = t->sentinel;
	struct robust_list *node;

	if (t->private_)
		return 0;
	if (!s || !(node = node_of(t, word)))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->n >= LIST_LIMIT) {
		pthread_mutex_unlock(&s->lock);
		return -EAGAIN;
	}
	/* Two stores, each leaving a list the kernel can walk. */
	node->next = s->head.list.next;
	atomic_signal_fence(memory_order_seq_cst);
	s->head.list.next = node;
	s->n++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void ioli_sentinel_untrack(iol_table *t, _Atomic uint32_t *word)
{
	struct ioli_sentinel *s = t->sentinel;
	struct robust_list *node, *p;

	if (!s || !(node = node_of(t, word)))
		return;
	pthread_mutex_lock(&s->lock);
	for (p = &s->head.list; p->next != &s->head.list; p = p->next) {
		if (p->next == node) {
			p->next = node->next;
			s->n--;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Make process record p's sentinel pick the record it watches again. */
static void poke_record(iol_table *t, uint32_t p)
{
	if (p >= t->max_procs)
		return;
	atomic_fetch_add(&t->procs[p].poke, 1);
	ioli_futex_wake(&t->procs[p].poke, INT_MAX, false);
}

void ioli_sentinel_attached(iol_table *t, uint32_t self)
{
	struct ioli_sentinel *s = t->sentinel;

	if (!s)
		return;
	atomic_store(&s->self, self);
	atomic_fetch_add(&s->kick, 1);
	ioli_futex_wake(&s->kick, INT_MAX, true);
}

void ioli_sentinel_joined(iol_table *t, uint32_t p)
{
	uint32_t n = ioli_proc_hwm(t);

	/* Our ring predecessor now watches us (we watch its old target). */
	for (uint32_t i = 1; i < n; i++) {
		uint32_t q = (p + n - i) % n;

		if (atomic_load(&t->procs[q].state) == IOLI_PROC_LIVE) {
			poke_record(t, q);
			break;
		}
	}
	ioli_sentinel_attached(t, p);
}

void ioli_sentinel_stop(iol_table *t)
{
	struct ioli_sentinel *s = t->sentinel;

	if (!s)
		return;
	atomic_store(&s->stop, 1);
	ioli_futex_wake(&s->stop, INT_MAX, true);
	pthread_join(s->th, NULL);
	munmap(s->stack, STACK_SIZE);
	munmap(s->mirror, s->mlen);
	pthread_mutex_destroy(&s->lock);
	free(s);
	/* Only now: a fork() by another thread meanwhile leaves the child a
	 * table that still points to the sentinel's memory (which the child
	 * never uses), not memory nothing points to (a leak to LSan). */
	t->sentinel = NULL;
}

void ioli_wait_gone(pid_t pid, int ms)
{
	struct pollfd pf;
	int fd;

	if (pid <= 0 || pid == getpid())
		return;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return; /* gone (ESRCH), or we cannot tell: do not wait */
	pf = (struct pollfd){.fd = fd, .events = POLLIN};
	/* Readable once every thread has exited.  A process that exec()ed
	 * never becomes readable: its old image is gone all the same. */
	while (poll(&pf, 1, ms) < 0 && errno == EINTR)
		;
	close(fd);
}

void ioli_sentinel_after_fork(iol_table *t)
{
	struct ioli_sentinel *s = t->sentinel;

	pthread_mutex_init(&start_lock, NULL);
	atomic_store(&t->tholder, 0);
	atomic_store(&t->lholder, 0);
	if (!s)
		return;
	/* The parent's thread is not here.  Its stack stays mapped: were it
	 * unmapped, a thread of the child could get a stack at the same
	 * address, and so the parent's thread's id (which confuses
	 * ThreadSanitizer, whose registry still holds that thread). */
	t->sentinel = NULL;
	munmap(s->mirror, s->mlen);
	free(s);
}
