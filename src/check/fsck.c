/* SPDX-License-Identifier: MIT */
/*
 * fsck: check every invariant of a table, and repair what is wrong.
 *
 * Checked (see docs/design.md, "Invariants"):
 *   - the table lock and the wait-all lock: not held by the dead, by a
 *     stopped process or by a live process that is not attached (reported
 *     and, the first, left; the second broken), no stale undo log or
 *     journal, no futex word left LOCKED;
 *   - header counters: high-water marks within bounds, `live` counts the
 *     live slots;
 *   - processes: every attached process is alive; free records hold no
 *     references; no row counts a reference on a slot that is not live;
 *   - slots: a known type, a sane name, references equal to the sum of the
 *     rows (file records: the number of opens pointing at them), none live
 *     without references, semaphore counts within max, mutex owners alive,
 *     thread and process objects of dead creators signaled, file records'
 *     counts equal to the sums over their opens;
 *   - the free list and the name index agree with the slots: every free
 *     slot below the high-water mark is on the list once, no live one is;
 *     every named live slot is found by its name, and nothing else is in
 *     the index;
 *   - thread records: every live one belongs to a live thread; the
 *     high-water mark covers every record used, and the free list holds
 *     every free record below it once.
 *
 * Without repair the table is mapped read-only and nothing changes (and
 * on a table in use a change in flight may be reported).  With repair,
 * dead processes are reclaimed exactly as survivors do it, then the rest
 * of the pass holds T, so that no count, list or chain changes under it,
 * and commits each fix as it is made (undo-logged like any other), so
 * fsck itself may die at any point and be run again.
 * Every index read from the file is bounds-checked; loops over lists are
 * bounded by the table's size, and cycles are detected with a bitmap.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "futex/futex.h"
#include "src/check/fsck.h"
#include "src/process/watcher.h"

struct ctx {
	iol_table *t;
	bool repair;
	ioli_fsck_cb cb;
	void *arg;
	int found;
	int unrepaired;
	uint32_t hwm;
	bool held;    /* T held for the whole pass (repair) */
	bool t_stuck; /* T held by a stopped process: no repair may wait for it */
};

static void finding(struct ctx *c, const char *check, uint32_t index, bool repaired,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void finding(struct ctx *c, const char *check, uint32_t index, bool repaired,
		    const char *fmt, ...)
{
	struct ioli_fsck_finding f = {.check = check, .index = index, .repaired = repaired};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f.message, sizeof(f.message), fmt, ap);
	va_end(ap);
	c->found++;
	if (!repaired)
		c->unrepaired++;
	if (c->cb)
		c->cb(c->arg, &f);
}

static uint32_t lock_word(struct ioli_rlock *l)
{
	return atomic_load(&l->word);
}

/* A repair's critical section: its own, or a commit inside the pass that
 * holds T throughout (see ioli_fsck()). */
static bool lock(struct ctx *c)
{
	return c->held || (!c->t_stuck && ioli_tlock(c->t) == 0);
}

static void unlock(struct ctx *c)
{
	if (c->held)
		ioli_tcommit(c->t);
	else
		ioli_tunlock(c->t);
}

/* ---- bitmaps --------------------------------------------------------- */

static uint64_t *bitmap(uint32_t n)
{
	return calloc((n + 63) / 64, sizeof(uint64_t));
}

static bool test_and_set(uint64_t *b, uint32_t i)
{
	bool was = b[i / 64] & (1ull << (i % 64));

	b[i / 64] |= 1ull << (i % 64);
	return was;
}

/* ---- locks ------------------------------------------------------------ */

/* Is there no thread tid (in our pid namespace) any more? */
static bool thread_gone(uint32_t tid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%u", tid);
	return access(path, F_OK) != 0 && errno == ENOENT;
}

/*
 * A robust lock word that names a thread which no longer exists, without
 * FUTEX_OWNER_DIED: the kernel could not mark it when that thread died
 * (its robust list was broken, or the lock was no longer mapped by then),
 * and every locker would wait for ever.  Mark it owner-died as the kernel
 * would have, and wake the waiters: the next locker recovers it.
 */
static bool holder_gone(struct ctx *c, _Atomic uint32_t *w, const char *check, const char *what)
{
	uint32_t v = atomic_load(w), tid = v & FUTEX_TID_MASK;
	bool ok = false;

	if ((v & FUTEX_OWNER_DIED) || tid == 0 || !thread_gone(tid))
		return false;
	if (c->repair &&
	    atomic_compare_exchange_strong(w, &v, (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED)) {
		ioli_futex_wake(w, INT_MAX, false);
		ok = true;
	}
	finding(c, check, 0, ok, "%s is held by thread %u, which no longer exists", what, tid);
	return true;
}

/* Thread tid's process (thread group) and whether it is stopped (SIGSTOP,
 * or stopped by a debugger); false if it cannot be read. */
static bool thread_status(uint32_t tid, pid_t *pid, bool *stopped)
{
	char path[48], line[128];
	bool have_pid = false, have_state = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		int v;
		char st;

		if (sscanf(line, "State: %c", &st) == 1) {
			*stopped = st == 'T' || st == 't';
			have_state = true;
		} else if (sscanf(line, "Tgid: %d", &v) == 1) {
			*pid = v;
			have_pid = true;
		}
	}
	fclose(f);
	return have_pid && have_state;
}

/* Does process pid map the table's file?  (true when it cannot be told) */
static bool maps_table(iol_table *t, pid_t pid)
{
	char path[48], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno != ENOENT && errno != ESRCH;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;

		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %lu", &maj, &min, &ino) == 3)
			found = maj == major(t->dev) && min == minor(t->dev) && ino == t->ino;
	}
	fclose(f);
	return found;
}

/* Is pid a live attached process of the table? */
static bool attached(iol_table *t, pid_t pid)
{
	for (uint32_t p = 0; p < t->max_procs; p++) {
		struct ioli_proc *pr = &t->procs[p];

		if (atomic_load(&pr->state) == IOLI_PROC_LIVE &&
		    atomic_load(&pr->pid) == (uint32_t)pid &&
		    ioli_proc_alive(t, p, atomic_load(&pr->gen)))
			return true;
	}
	return false;
}

/*
 * A lock held by a thread that exists.  Attached and running, it is a
 * holder like any other.  Stopped (SIGSTOP, a debugger), every locker
 * gives up on it with -EDEADLK: reported, never broken (the holder may be
 * half-way through a critical section it will finish when continued), and
 * no repair of this pass waits for it.  Held by a process that is not
 * attached and does not even map the table, the word is a scribble (or a
 * holder that unmapped the table): a repair marks it owner-died as the
 * kernel would for a dead holder, and the next locker recovers it.  A
 * process that maps the table without being attached (one attaching, an
 * fsck or `iolayer ls`) holds it for a moment only.  Returns true when the
 * lock is stuck for this pass.
 */
static bool holder_alive(struct ctx *c, _Atomic uint32_t *w, const char *id, const char *what)
{
	uint32_t v = atomic_load(w), tid = v & FUTEX_TID_MASK;
	bool stopped = false, ok = false;
	pid_t pid = 0;

	if ((v & FUTEX_OWNER_DIED) || tid == 0 || !thread_status(tid, &pid, &stopped))
		return false;
	if (!attached(c->t, pid) && !maps_table(c->t, pid)) {
		if (c->repair &&
		    atomic_compare_exchange_strong(w, &v, (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED)) {
			ioli_futex_wake(w, INT_MAX, false);
			ok = true;
		}
		finding(
		    c, id, 0, ok,
		    "%s is held by process %d (thread %u), which is not attached to the table%s",
		    what, (int)pid, tid, stopped ? " (stopped)" : "");
		return !ok;
	}
	if (!stopped)
		return false;
	finding(c, "lock-holder-stopped", 0, false,
		"%s is held by process %d (thread %u), which is stopped: every locker gives up "
		"with EDEADLK until it is continued or killed",
		what, (int)pid, tid);
	return true;
}

static void check_locks(struct ctx *c)
{
	struct ioli_hdr *h = c->t->hdr;

	/* First: a repair would wait for ever on such a lock. */
	holder_gone(c, &h->lock.word, "lock-holder-gone", "the table lock");
	holder_gone(c, &h->walock.word, "walock-holder-gone", "the wait-all lock");
	/* Then a holder that lives but will not let go: the repairs below
	 * must not wait for it. */
	c->t_stuck = holder_alive(c, &h->lock.word, "lock-holder-unattached", "the table lock");
	holder_alive(c, &h->walock.word, "walock-holder-unattached", "the wait-all lock");

	uint32_t lw = lock_word(&h->lock), wl = lock_word(&h->walock);
	uint32_t undo = atomic_load(&h->undo_n), wa = atomic_load(&h->wa_n);

	if (lw & FUTEX_OWNER_DIED) {
		bool ok = c->repair && lock(c);

		if (ok)
			unlock(c);
		finding(c, "lock-dead-holder", 0, ok,
			"the table lock was held by a thread that died (%u undo entries)", undo);
	} else if (!(lw & FUTEX_TID_MASK) && undo != 0) {
		uint32_t stale = undo;
		bool ok = false;

		/* Locking empties a stale log.  Seen without the lock, a log may
		 * also be a holder's that took the lock after we looked at it:
		 * only what is there once we hold the lock is stale. */
		if (c->repair && ioli_tlock_stale(c->t, &stale) == 0) {
			unlock(c);
			ok = true;
		}
		if (stale)
			finding(c, "lock-undo-stale", 0, ok,
				"the table lock is free but its undo log holds %u entries", stale);
	}
	if (wl & FUTEX_OWNER_DIED) {
		bool ok = c->repair && ioli_walock_pass(c->t, NULL) == 0;

		finding(c, "walock-dead-holder", 0, ok,
			"the wait-all lock was held by a thread that died (%u journal entries)",
			wa);
	} else if (!(wl & FUTEX_TID_MASK) && wa != 0) {
		/* Taking L empties a journal its last holder left behind. */
		bool ok = c->repair && ioli_walock_pass(c->t, NULL) == 0;

		finding(c, "walock-journal-stale", 0, ok,
			"the wait-all lock is free but its journal holds %u entries", wa);
	}
}

/* A LOCKED futex word with nobody holding the wait-all lock. */
static void check_locked_word(struct ctx *c, uint32_t i, struct ioli_slot *s)
{
	uint32_t v = atomic_load(&s->word);
	bool ok = false;

	if (!(v & IOLI_W_LOCKED) || (lock_word(&c->t->hdr->walock) & FUTEX_TID_MASK))
		return;
	if (c->repair)
		ok = atomic_compare_exchange_strong(&s->word, &v, v & ~IOLI_W_LOCKED);
	finding(c, "word-locked", i, ok, "slot %u: futex word %#x is LOCKED outside a wait-all", i,
		v);
}

/* ---- processes --------------------------------------------------------- */

static void check_procs(struct ctx *c)
{
	iol_table *t = c->t;
	uint32_t hwm = atomic_load(&t->hdr->proc_hwm), used = 0;

	/* fsck reads every record; everyone else stops at proc_hwm. */
	for (uint32_t p = 0; p < t->max_procs; p++)
		if (atomic_load(&t->procs[p].state) != IOLI_PROC_FREE)
			used = p + 1;
	if (used > hwm || hwm > t->max_procs) {
		bool ok = c->repair && lock(c);

		if (ok) {
			ioli_tset(t, &t->hdr->proc_hwm, used > hwm ? used : t->max_procs);
			ioli_tunlock(t);
		}
		finding(c, "proc-hwm", 0, ok,
			"process record high-water mark %u, but record %u is in use", hwm,
			used ? used - 1 : 0);
	}

	for (uint32_t p = 0; p < t->max_procs; p++) {
		struct ioli_proc *pr = &t->procs[p];
		uint32_t gen = atomic_load(&pr->gen);

		if (atomic_load(&pr->state) != IOLI_PROC_LIVE || p == t->self)
			continue;
		if (ioli_proc_alive(t, p, gen))
			continue;
		uint64_t held = 0;
		_Atomic uint32_t *row = ioli_row(t, p);

		for (uint32_t page = 0; page * 1024u < t->nslots; page++)
			if (atomic_load(&pr->row_pages[page / 64]) & (1ull << (page % 64)))
				for (uint32_t i = page * 1024u;
				     i < t->nslots && i < (page + 1) * 1024u; i++)
					held += atomic_load(&row[i]);
		bool ok = c->repair && !c->t_stuck && ioli_reclaim_proc(t, p, gen) >= 0;
		finding(c, "proc-dead", p, ok,
			"process record %u (pid %u) belongs to a dead process holding %llu handles",
			p, atomic_load(&pr->pid), (unsigned long long)held);
	}
}

/* The sum of the rows for every slot below hwm, and rows that count
 * references they should not (free records, slots not live). */
static uint32_t *sum_rows(struct ctx *c)
{
	iol_table *t = c->t;
	uint32_t *sum = calloc(c->hwm ? c->hwm : 1, sizeof(uint32_t));

	if (!sum)
		return NULL;
	for (uint32_t p = 0; p < t->max_procs; p++) {
		struct ioli_proc *pr = &t->procs[p];
		bool live = atomic_load(&pr->state) == IOLI_PROC_LIVE;
		_Atomic uint32_t *row = ioli_row(t, p);

		for (uint32_t page = 0; page * 1024u < t->nslots; page++) {
			if (!(atomic_load(&pr->row_pages[page / 64]) & (1ull << (page % 64))))
				continue;
			for (uint32_t i = page * 1024u; i < t->nslots && i < (page + 1) * 1024u;
			     i++) {
				uint32_t n = atomic_load(&row[i]);
				bool slot_live =
				    i < c->hwm &&
				    (atomic_load(&ioli_slot(t, i)->state) & IOLI_SLOT_LIVE);

				if (n == 0)
					continue;
				if (live && slot_live) {
					sum[i] = sum[i] + n < sum[i] ? UINT32_MAX : sum[i] + n;
					continue;
				}
				bool ok = c->repair && lock(c);
				if (ok) {
					ioli_tset(t, &row[i], 0);
					unlock(c);
				}
				finding(
				    c, live ? "row-dead-slot" : "proc-free-rows", i, ok,
				    "process record %u counts %u references on slot %u, which %s",
				    p, n, i,
				    live ? "is not a live object" : "it cannot (it is free)");
			}
		}
	}
	return sum;
}

/* ---- slots ------------------------------------------------------------- */

static bool known_type(uint32_t type)
{
	return (type >= IOL_TYPE_MUTEX && type <= IOL_TYPE_FILE) || type == IOLI_TYPE_FILEREC;
}

/* Under no lock: free a live slot that cannot be kept, dropping every row
 * count that still points at it first. */
static bool drop_slot(struct ctx *c, uint32_t i)
{
	iol_table *t = c->t;

	if (!c->repair || !lock(c))
		return false;
	for (uint32_t p = 0, n = 0; p < t->max_procs; p++) {
		_Atomic uint32_t *f = &ioli_row(t, p)[i];

		if (!atomic_load(f))
			continue;
		ioli_tset(t, f, 0);
		/* Stay within the undo log: a death past here leaves rows
		 * cleared and the slot live, which the next fsck frees. */
		if (c->held && ++n % 32 == 0)
			ioli_tcommit(t);
	}
	if (atomic_load(&ioli_slot(t, i)->state) & IOLI_SLOT_LIVE) {
		ioli_tset(t, &ioli_slot(t, i)->refs, 0);
		ioli_slot_free(t, i);
	}
	unlock(c);
	return true;
}

/* Under T: what slot i is held by now (the rows of the attached
 * processes; for a file record, the live opens pointing at it). */
static uint32_t held_now(struct ctx *c, uint32_t i, bool frec)
{
	iol_table *t = c->t;
	uint64_t n = 0;

	if (frec) {
		uint32_t gen = atomic_load(&ioli_slot(t, i)->gen);

		for (uint32_t k = 0; k < c->hwm; k++) {
			struct ioli_slot *o = ioli_slot(t, k);
			uint32_t st = atomic_load(&o->state);

			n += (st & IOLI_SLOT_LIVE) && IOLI_SLOT_TYPE(st) == IOL_TYPE_FILE &&
			     atomic_load(&o->u.fopen.rec) == i &&
			     atomic_load(&o->u.fopen.rec_gen) == gen;
		}
	} else {
		for (uint32_t p = 0; p < t->max_procs; p++)
			if (atomic_load(&t->procs[p].state) == IOLI_PROC_LIVE)
				n += atomic_load(&ioli_row(t, p)[i]);
	}
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/*
 * The references of live slot i should be `want` (found without T).  A
 * repair counts again under T, where nobody can change them, so that a
 * table in use is never "repaired" to a count that was true a moment ago;
 * a live slot held by nobody is freed.
 */
static void set_refs(struct ctx *c, uint32_t i, uint32_t want, bool frec)
{
	iol_table *t = c->t;
	struct ioli_slot *s = ioli_slot(t, i);
	uint32_t have = atomic_load(&s->refs);
	bool ok = false;

	if (have == want && want != 0)
		return;
	if (c->repair && lock(c)) {
		if (!(atomic_load(&s->state) & IOLI_SLOT_LIVE)) {
			unlock(c);
			return; /* freed meanwhile */
		}
		want = held_now(c, i, frec);
		have = atomic_load(&s->refs);
		if (have == want && want != 0) {
			unlock(c);
			return; /* a change in flight, not damage */
		}
		if (want == 0) {
			ioli_tset(t, &s->refs, 0);
			ioli_slot_free(t, i);
		} else {
			ioli_tset(t, &s->refs, want);
		}
		unlock(c);
		ok = true;
	}
	finding(c, want ? "slot-refs" : "slot-unreferenced", i, ok,
		"slot %u: %u references recorded, %u held", i, have, want);
}

struct frec_sum {
	uint32_t opens, readers, writers, deleters, sh_read, sh_write, sh_delete;
};

static void check_mutex(struct ctx *c, uint32_t i, struct ioli_slot *s)
{
	uint32_t v = atomic_load(&s->word);
	uint32_t owner = v & IOLI_MX_OWNER_MASK;
	bool ok = false;

	if (v & IOLI_W_LOCKED || owner == 0 || ioli_owner_alive(c->t, owner, NULL))
		return;
	if (c->repair)
		ok = ioli_mutex_mark_abandoned(c->t, s, &v);
	finding(c, "mutex-dead-owner", i, ok, "slot %u: mutex owned by a dead thread (owner %#x)",
		i, owner);
}

static void check_semaphore(struct ctx *c, uint32_t i, struct ioli_slot *s)
{
	uint32_t v = atomic_load(&s->word), max = s->u.sem.max;
	uint32_t count = v & IOLI_SEM_COUNT_MASK;
	bool ok = false;

	if (v & IOLI_W_LOCKED)
		return;
	if (max >= 1 && max <= INT32_MAX && count <= max)
		return;
	if (c->repair) {
		uint32_t m = (max >= 1 && max <= INT32_MAX) ? max : INT32_MAX;

		if (max != m)
			s->u.sem.max = m;
		if (count > m)
			atomic_compare_exchange_strong(&s->word, &v, m);
		ok = true;
	}
	finding(c, "semaphore-count", i, ok, "slot %u: semaphore count %u, max %u", i, count, max);
}

static bool creator_gone(iol_table *t, uint32_t rec, uint32_t gen)
{
	return rec == 0 || rec - 1 >= t->max_procs || !ioli_proc_alive(t, rec - 1, gen);
}

static void check_ended(struct ctx *c, uint32_t i, struct ioli_slot *s, uint32_t type)
{
	iol_table *t = c->t;
	bool gone;

	if (atomic_load(&s->word) & IOLI_SIG_SIGNALED)
		return;
	if (type == IOL_TYPE_THREAD) {
		gone = creator_gone(t, atomic_load(&s->u.thread.creator),
				    atomic_load(&s->u.thread.creator_gen));
	} else {
		int fd = ioli_process_pidfd_checked(t, i);

		/* Running, or its live spawner will post its end. */
		if (fd >= 0) {
			close(fd);
			return;
		}
		uint32_t sp = atomic_load(&s->u.proc.spawner);
		gone = sp == 0 || creator_gone(t, sp, atomic_load(&s->u.proc.spawner_gen));
		if (!gone)
			return;
	}
	if (!gone)
		return;
	if (c->repair && !c->t_stuck)
		ioli_post_exit(t, i, atomic_load(&s->gen), 0);
	finding(c, type == IOL_TYPE_THREAD ? "thread-unsignaled" : "process-unsignaled", i,
		c->repair && !c->t_stuck, "slot %u: %s ended but its object is not signaled", i,
		type == IOL_TYPE_THREAD ? "the thread" : "the process");
}

/* File records' references and counts are sums over the opens pointing at
 * them; report opens whose record is gone. */
static void sum_opens(struct ctx *c, uint32_t *opens_of, struct frec_sum *fs, bool report)
{
	iol_table *t = c->t;

	memset(opens_of, 0, (c->hwm ? c->hwm : 1) * sizeof(*opens_of));
	memset(fs, 0, (c->hwm ? c->hwm : 1) * sizeof(*fs));
	for (uint32_t i = 0; i < c->hwm; i++) {
		struct ioli_slot *s = ioli_slot(t, i);
		uint32_t st = atomic_load(&s->state), r, acc, sh;

		if (!(st & IOLI_SLOT_LIVE) || IOLI_SLOT_TYPE(st) != IOL_TYPE_FILE)
			continue;
		r = atomic_load(&s->u.fopen.rec);
		if (r >= c->hwm || !ioli_slot_live(t, r, atomic_load(&s->u.fopen.rec_gen)) ||
		    IOLI_SLOT_TYPE(atomic_load(&ioli_slot(t, r)->state)) != IOLI_TYPE_FILEREC) {
			if (report)
				finding(c, "file-link", i, false,
					"slot %u: a file open whose file record (%u) is not live",
					i, r);
			continue;
		}
		acc = atomic_load(&s->u.fopen.access);
		sh = atomic_load(&s->u.fopen.share);
		opens_of[r]++;
		fs[r].opens++;
		fs[r].readers += !!(acc & IOLI_ACC_READ);
		fs[r].writers += !!(acc & IOLI_ACC_WRITE);
		fs[r].deleters += !!(acc & IOLI_ACC_DELETE);
		fs[r].sh_read += !!(sh & IOL_SHARE_READ);
		fs[r].sh_write += !!(sh & IOL_SHARE_WRITE);
		fs[r].sh_delete += !!(sh & IOL_SHARE_DELETE);
	}
}

static void check_file_record(struct ctx *c, uint32_t i, struct ioli_slot *s,
			      const struct frec_sum *w, uint32_t opens)
{
	iol_table *t = c->t;
	_Atomic uint32_t *f[] = {&s->u.frec.opens,    &s->u.frec.readers, &s->u.frec.writers,
				 &s->u.frec.deleters, &s->u.frec.sh_read, &s->u.frec.sh_write,
				 &s->u.frec.sh_delete};
	uint32_t want[] = {w->opens,   w->readers,  w->writers,	 w->deleters,
			   w->sh_read, w->sh_write, w->sh_delete};
	uint32_t had = atomic_load(f[0]);
	bool bad = false;

	for (unsigned k = 0; k < 7; k++)
		bad |= atomic_load(f[k]) != want[k];
	if (bad) {
		bool ok = c->repair && lock(c);

		if (ok) {
			for (unsigned k = 0; k < 7; k++)
				ioli_tset(t, f[k], want[k]);
			unlock(c);
		}
		finding(c, "file-counts", i, ok,
			"slot %u: file record counts %u opens, the opens say %u", i, had, w->opens);
	}
	set_refs(c, i, opens, true);
}

static void check_slots(struct ctx *c, const uint32_t *sum)
{
	iol_table *t = c->t;
	uint32_t live = 0;
	uint32_t *opens_of = calloc(c->hwm ? c->hwm : 1, sizeof(uint32_t));
	struct frec_sum *fs = calloc(c->hwm ? c->hwm : 1, sizeof(*fs));

	if (!opens_of || !fs) {
		free(opens_of);
		free(fs);
		finding(c, "out-of-memory", 0, false, "not enough memory to check the slots");
		return;
	}
	sum_opens(c, opens_of, fs, true);
	for (uint32_t i = 0; i < c->hwm; i++) {
		struct ioli_slot *s = ioli_slot(t, i);
		uint32_t st = atomic_load(&s->state), type = IOLI_SLOT_TYPE(st);

		if (!(st & IOLI_SLOT_LIVE))
			continue;
		live++;
		if (!known_type(type)) {
			bool ok = drop_slot(c, i);

			finding(c, "slot-type", i, ok, "slot %u: live with unknown type %u", i,
				type);
			live--;
			continue;
		}
		uint32_t len = atomic_load(&s->name_len);

		if (len > IOL_NAME_MAX) {
			bool ok = drop_slot(c, i);

			finding(c, "slot-name", i, ok, "slot %u: name length %u", i, len);
			live--;
			continue;
		}
		check_locked_word(c, i, s);
		switch (type) {
		case IOL_TYPE_MUTEX:
			check_mutex(c, i, s);
			break;
		case IOL_TYPE_SEMAPHORE:
			check_semaphore(c, i, s);
			break;
		case IOL_TYPE_PROCESS:
		case IOL_TYPE_THREAD:
			check_ended(c, i, s, type);
			break;
		case IOLI_TYPE_FILEREC:
			continue; /* below, once every open has been settled */
		default:
			break;
		}
		if (atomic_load(&s->state) & IOLI_SLOT_LIVE)
			set_refs(c, i, sum ? sum[i] : atomic_load(&s->refs), false);
	}
	/* File records last, from the opens as they are now: a repair above
	 * may have freed an open (its release hook already took it off its
	 * record), and sums taken before would put it back. */
	if (c->repair)
		sum_opens(c, opens_of, fs, false);
	for (uint32_t i = 0; i < c->hwm; i++) {
		struct ioli_slot *s = ioli_slot(t, i);
		uint32_t st = atomic_load(&s->state);

		if ((st & IOLI_SLOT_LIVE) && IOLI_SLOT_TYPE(st) == IOLI_TYPE_FILEREC &&
		    atomic_load(&s->name_len) <= IOL_NAME_MAX)
			check_file_record(c, i, s, &fs[i], opens_of[i]);
	}
	free(opens_of);
	free(fs);
	/* Count again: repairs may have freed slots. */
	live = 0;
	for (uint32_t i = 0; i < c->hwm; i++)
		live += !!(atomic_load(&ioli_slot(t, i)->state) & IOLI_SLOT_LIVE);
	uint32_t have = atomic_load(&t->hdr->live);
	if (have != live) {
		bool ok = c->repair && lock(c);

		if (ok) {
			ioli_tset(t, &t->hdr->live, live);
			unlock(c);
		}
		finding(c, "live-count", 0, ok, "the header counts %u live objects, the slots %u",
			have, live);
	}
}

/* ---- free lists ------------------------------------------------------ */

/* A free list of slots or thread records, linked through index + 1. */
struct free_list {
	const char *list_id, *leak_id; /* finding ids */
	const char *name, *item;       /* "the free list", "slot" */
	_Atomic uint32_t *head;
	uint32_t hwm; /* entries [0, hwm) have been used */
	bool (*is_free)(iol_table *t, uint32_t i);
	_Atomic uint32_t *(*next)(iol_table *t, uint32_t i);
};

/* The list holds every free entry below the mark once, and nothing else:
 * cut at the first bad link, and every free entry put back. */
static void check_list(struct ctx *c, const struct free_list *l)
{
	iol_table *t = c->t;
	uint64_t *seen = bitmap(l->hwm + 1);
	_Atomic uint32_t *link = l->head;
	uint32_t steps = 0;

	if (!seen)
		return;
	for (;;) {
		uint32_t next = atomic_load(link), i = next - 1;
		const char *why = NULL;

		if (next == 0)
			break;
		if (i >= l->hwm)
			why = "points past the high-water mark";
		else if (!l->is_free(t, i))
			why = "holds a live entry";
		else if (test_and_set(seen, i))
			why = "loops";
		if (why || ++steps > l->hwm) {
			bool ok = c->repair && lock(c);

			if (ok) {
				ioli_tset(t, link, 0); /* cut here; the rest goes back below */
				unlock(c);
			}
			finding(c, l->list_id, i, ok, "%s %s (entry %u)", l->name,
				why ? why : "is too long", i);
			break;
		}
		link = l->next(t, i);
	}
	for (uint32_t i = 0; i < l->hwm; i++) {
		if (!l->is_free(t, i) || (seen[i / 64] & (1ull << (i % 64))))
			continue;
		bool ok = c->repair && lock(c);
		if (ok) {
			ioli_tset(t, l->next(t, i), atomic_load(l->head));
			ioli_tset(t, l->head, i + 1);
			unlock(c);
		}
		finding(c, l->leak_id, i, ok, "%s %u is neither live nor on the free list", l->item,
			i);
	}
	free(seen);
}

static bool slot_free(iol_table *t, uint32_t i)
{
	return !(atomic_load(&ioli_slot(t, i)->state) & IOLI_SLOT_LIVE);
}

static _Atomic uint32_t *slot_next(iol_table *t, uint32_t i)
{
	return &ioli_slot(t, i)->next;
}

static bool threc_free(iol_table *t, uint32_t i)
{
	return atomic_load(&t->threcs[i].state) == IOLI_THREC_FREE;
}

static _Atomic uint32_t *threc_next(iol_table *t, uint32_t i)
{
	return &t->threcs[i].next;
}

static void check_free_list(struct ctx *c)
{
	check_list(c, &(struct free_list){.list_id = "free-list",
					  .leak_id = "free-leak",
					  .name = "the free list",
					  .item = "slot",
					  .head = &c->t->hdr->free_head,
					  .hwm = c->hwm,
					  .is_free = slot_free,
					  .next = slot_next});
}

/* ---- the name index ----------------------------------------------------- */

static void check_names(struct ctx *c)
{
	iol_table *t = c->t;
	uint64_t *seen = bitmap(t->nslots);

	if (!seen)
		return;
	for (uint32_t b = 0; b < t->nbuckets; b++) {
		_Atomic uint32_t *link = &t->buckets[b];
		uint32_t steps = 0, visits = 0;

		for (;;) {
			uint32_t next = atomic_load(link), i = next - 1, len = 0, hash = 0;
			const char *why = NULL;
			struct ioli_slot *s;

			if (next == 0)
				break;
			s = i < t->nslots ? ioli_slot(t, i) : NULL;
			if (s) { /* read once: what is checked is what is used */
				len = atomic_load(&s->name_len);
				hash = atomic_load(&s->hash);
			}
			/* Every entry counts, unlinked ones too: a bad entry whose
			 * link leads back to itself would otherwise be unlinked
			 * for ever. */
			if (++visits > t->nslots + 1u)
				why = "loops";
			else if (!s || i >= c->hwm)
				why = "points outside the used slots";
			else if (!(atomic_load(&s->state) & IOLI_SLOT_LIVE))
				why = "holds a free slot";
			else if (len == 0 || len > IOL_NAME_MAX)
				why = "holds an unnamed slot";
			else if (ioli_name_hash(s->name, len) != hash ||
				 (hash & (t->nbuckets - 1)) != b)
				why = "holds a slot in the wrong bucket";
			else if (test_and_set(seen, i) || ++steps > t->nslots)
				why = "loops";
			if (why) {
				/* A free slot's link is a free-list link, not a
				 * chain's: following it would walk the free list. */
				bool cut =
				    !strcmp(why, "loops") || !strcmp(why, "holds a free slot");
				bool ok = c->repair && lock(c);

				if (ok) {
					/* Unlink the entry (or cut the chain there);
					 * what follows is checked next, and named slots
					 * cut off are put back by the pass below. */
					ioli_tset(t, link, !cut && s ? atomic_load(&s->next) : 0);
					unlock(c);
				}
				finding(c, "name-index", i, ok, "bucket %u %s (slot %u)", b, why,
					i);
				if (!ok || cut)
					break;
				continue;
			}
			link = &s->next;
		}
	}
	for (uint32_t i = 0; i < c->hwm; i++) {
		struct ioli_slot *s = ioli_slot(t, i);
		uint32_t len = atomic_load(&s->name_len);

		if (!(atomic_load(&s->state) & IOLI_SLOT_LIVE) || len == 0 || len > IOL_NAME_MAX ||
		    (seen[i / 64] & (1ull << (i % 64))))
			continue;
		uint32_t other = ioli_name_find(t, s->name, len, ioli_name_hash(s->name, len));
		if (other != UINT32_MAX && other != i) {
			/* Lookups by the name already find `other`; the repair
			 * keeps it that way and makes this object anonymous, so
			 * every handle to either keeps working.  Two records
			 * of one file are left: merging their counts is not a
			 * repair fsck can make without the files' opens. */
			bool keyed = IOLI_SLOT_TYPE(atomic_load(&s->state)) == IOLI_TYPE_FILEREC;
			bool ok = !keyed && c->repair && lock(c);

			if (ok) {
				ioli_tset(t, &s->name_len, 0);
				ioli_tset(t, &s->hash, 0);
				unlock(c);
			}
			finding(c, "name-duplicate", i, ok,
				"slot %u has the same name as slot %u%s", i, other,
				ok ? " (made anonymous)" : "");
			continue;
		}
		bool ok = c->repair && lock(c);
		if (ok) {
			ioli_tset(t, &s->hash, ioli_name_hash(s->name, len));
			ioli_name_insert(t, i);
			unlock(c);
		}
		finding(c, "name-missing", i, ok, "slot %u is named but not in the name index", i);
	}
	free(seen);
}

/* ---- thread records ------------------------------------------------------ */

/* Was record i ever used?  Allocation takes records in order and only a
 * free bumps the generation, so above the true high-water mark every
 * record is as the table was created; below it none is. */
static bool threc_used(struct ioli_threc *r)
{
	return atomic_load(&r->state) != IOLI_THREC_FREE || atomic_load(&r->gen) != 0 ||
	       atomic_load(&r->tid) != 0;
}

/*
 * The high-water mark covers every record ever used (one scribbled lower
 * would let the next allocation look at a live record); returns how many
 * there are.  Above the mark the scan stops at the first record never
 * used: it does not read (and so allocate) the whole region of a table.
 */
static uint32_t check_threc_mark(struct ctx *c, uint32_t hwm)
{
	iol_table *t = c->t;
	uint32_t used = hwm;

	while (used < t->max_threcs && threc_used(&t->threcs[used]))
		used++;
	if (used > hwm) {
		bool ok = c->repair && lock(c);

		if (ok) {
			ioli_tset(t, &t->hdr->threc_hwm, used);
			unlock(c);
		}
		finding(c, "threc-hwm", used - 1, ok,
			"thread record high-water mark %u, but record %u has been used", hwm,
			used - 1);
	}
	return used;
}

/* The thread records' free list, as the slots' (check_list). */
static void check_threc_list(struct ctx *c, uint32_t hwm)
{
	check_list(c, &(struct free_list){.list_id = "threc-free-list",
					  .leak_id = "threc-free-leak",
					  .name = "the thread record free list",
					  .item = "thread record",
					  .head = &c->t->hdr->threc_free,
					  .hwm = hwm,
					  .is_free = threc_free,
					  .next = threc_next});
}

static void check_threcs(struct ctx *c)
{
	iol_table *t = c->t;
	uint32_t hwm = atomic_load(&t->hdr->threc_hwm), used, dead = 0;

	if (hwm > t->max_threcs) {
		bool ok = c->repair && lock(c);

		if (ok) {
			ioli_tset(t, &t->hdr->threc_hwm, t->max_threcs);
			unlock(c);
		}
		finding(c, "threc-hwm", 0, ok, "thread record high-water mark %u > %u", hwm,
			t->max_threcs);
		hwm = t->max_threcs;
	}
	/* Every record ever used, even above a mark scribbled lower (which
	 * a repair raises first: the reaping below goes as far as the mark). */
	used = check_threc_mark(c, hwm);
	for (uint32_t i = 0; i < used; i++) {
		struct ioli_threc *r = &t->threcs[i];
		uint32_t lw = atomic_load(&r->live);

		if (atomic_load(&r->state) != IOLI_THREC_LIVE)
			continue;
		if (ioli_live_word_dead(lw, atomic_load(&r->stid)))
			dead++;
		else if (holder_gone(c, &r->live, "threc-gone", "a thread record's liveness lock"))
			dead += c->repair; /* marked owner-died: now reaped below */
	}
	if (dead) {
		bool ok = c->repair && lock(c);

		if (ok) {
			ioli_threc_reap_dead(t);
			unlock(c);
		}
		finding(c, "threc-dead", 0, ok, "%u thread records belong to dead threads", dead);
	}
	/* The list against the mark as it is now (repaired or not). */
	hwm = atomic_load(&t->hdr->threc_hwm);
	check_threc_list(c, hwm < t->max_threcs ? hwm : t->max_threcs);
}

int ioli_fsck(iol_table *t, bool repair, ioli_fsck_cb cb, void *arg, struct ioli_fsck_result *res)
{
	struct ctx c = {.t = t, .repair = repair, .cb = cb, .arg = arg};
	uint32_t *sum;

	/* Locks first (a repair must not wait on one held by the gone), then
	 * the dead, reclaimed as survivors do it. */
	check_locks(&c);
	check_procs(&c);
	/*
	 * The rest compares counts, lists and chains that any attached
	 * process may change under T.  A check alone (read-only) can only
	 * look without it, and on a table in use may report a change in
	 * flight.  A repair holds T for the whole pass, so that nothing it
	 * counts or walks changes under it, and commits each fix as it goes.
	 */
	if (repair && !c.t_stuck) {
		int err = ioli_tlock(t);

		if (err == 0)
			c.held = true;
		else
			c.t_stuck = true; /* held all along: do not wait again */
		if (err)
			finding(&c, "lock-held", 0, false,
				"the table lock could not be taken: %s (held by thread %u)",
				strerror(-err), lock_word(&t->hdr->lock) & FUTEX_TID_MASK);
	}
	c.hwm = atomic_load(&t->hdr->hwm);
	if (c.hwm > t->nslots) {
		bool ok = repair && lock(&c);

		if (ok) {
			ioli_tset(t, &t->hdr->hwm, t->nslots);
			unlock(&c);
		}
		finding(&c, "hwm", 0, ok, "high-water mark %u > %u slots", c.hwm, t->nslots);
		c.hwm = t->nslots;
	}
	check_threcs(&c);
	sum = sum_rows(&c);
	check_slots(&c, sum);
	free(sum);
	check_free_list(&c);
	check_names(&c);
	if (c.held) {
		c.held = false;
		ioli_tunlock(t);
	}
	res->found = c.found;
	res->unrepaired = c.unrepaired;
	return 0;
}
