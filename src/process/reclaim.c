/* SPDX-License-Identifier: MIT */
/*
 * Reclaiming what dead processes held.
 *
 * A process record is dead when its process is gone or ended (a pidfd
 * for its pid is refused, names another process, or is readable: the
 * kernel's own answer, no timestamps).  Reclaiming it:
 *
 *   1. signals the objects that ended with it: thread objects it created,
 *      and process objects it spawned whose process has ended (with the
 *      status the kernel can still give, else none);
 *   2. gives back every reference counted in its row, one slot per T
 *      critical section (rows[p][s] and refs[s] drop together; a slot
 *      whose count reaches 0 is freed, which for a file open also takes
 *      its share state off the file's record);
 *   3. frees the records of its dead threads (returning the waiter counts
 *      they held) and finally its process record.
 *
 * A wait-all lock left owner-died is recovered first (src/wait/waitall.c).
 *
 * Every step re-checks, under T, that the record is still the same dead
 * record (state and generation), so two survivors reclaiming at once, or
 * one dying half-way (its T section is rolled back by the undo log), leave
 * the table exactly as one complete reclaim would.  Mutexes the dead
 * threads owned need nothing here: their owner ids name dead (or freed)
 * thread records, which every acquirer and iol_query treat as abandoned.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <unistd.h>

#include "src/fault.h"
#include "src/table/table.h"
#include "src/process/watcher.h"

static bool same_record(iol_table *t, uint32_t p, uint32_t gen)
{
	struct ioli_proc *pr = &t->procs[p];

	return atomic_load_explicit(&pr->state, memory_order_relaxed) == IOLI_PROC_LIVE &&
	       atomic_load_explicit(&pr->gen, memory_order_relaxed) == gen;
}

/* Was the slot's object spawned or created by record p (so that its
 * internal reference is p's)? */
bool ioli_created_by(iol_table *t, uint32_t slot, uint32_t p, uint32_t gen)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	uint32_t type = IOLI_SLOT_TYPE(atomic_load(&s->state));

	if (type == IOL_TYPE_PROCESS)
		return atomic_load(&s->u.proc.spawner) == p + 1 &&
		       atomic_load(&s->u.proc.spawner_gen) == gen;
	if (type == IOL_TYPE_THREAD)
		return atomic_load(&s->u.thread.creator) == p + 1 &&
		       atomic_load(&s->u.thread.creator_gen) == gen;
	return false;
}

/* Under T: give back n of process p's references on slot s. */
void ioli_ref_put_n(iol_table *t, uint32_t p, uint32_t slot, uint32_t n)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	_Atomic uint32_t *held = &ioli_row(t, p)[slot];
	uint32_t mine = atomic_load_explicit(held, memory_order_relaxed);
	uint32_t refs = atomic_load_explicit(&s->refs, memory_order_relaxed);

	if (n > mine)
		n = mine;
	ioli_tset(t, held, mine - n);
	IOLI_FAULT("reclaim.put");
	if (!(atomic_load_explicit(&s->state, memory_order_relaxed) & IOLI_SLOT_LIVE))
		return;
	if (refs > n) {
		ioli_tset(t, &s->refs, refs - n);
		return;
	}
	ioli_tset(t, &s->refs, 0);
	ioli_slot_free(t, slot);
}

/* Objects that ended with process p: its threads, and the children it
 * spawned that are no longer running. */
static void signal_orphans(iol_table *t, uint32_t p, uint32_t gen)
{
	uint32_t hwm = atomic_load(&t->hdr->hwm);

	if (hwm > t->nslots)
		hwm = t->nslots;
	for (uint32_t i = 0; i < hwm; i++) {
		struct ioli_slot *s = ioli_slot(t, i);
		uint32_t st = atomic_load(&s->state);

		if (!(st & IOLI_SLOT_LIVE))
			continue;
		if (IOLI_SLOT_TYPE(st) == IOL_TYPE_MUTEX) {
			/* Owned by one of its (now dead) threads: mark it
			 * abandoned now rather than when someone next looks. */
			uint32_t v = atomic_load(&s->word);
			uint32_t owner = v & IOLI_MX_OWNER_MASK;

			if (owner && !(v & IOLI_W_LOCKED) && !ioli_owner_alive(t, owner, NULL))
				ioli_mutex_mark_abandoned(t, s, &v);
			continue;
		}
		if (atomic_load(&s->word) & IOLI_SIG_SIGNALED)
			continue;
		if (IOLI_SLOT_TYPE(st) == IOL_TYPE_THREAD &&
		    atomic_load(&s->u.thread.creator) == p + 1 &&
		    atomic_load(&s->u.thread.creator_gen) == gen) {
			ioli_post_exit(t, i, atomic_load(&s->gen), 0);
		} else if (IOLI_SLOT_TYPE(st) == IOL_TYPE_PROCESS &&
			   atomic_load(&s->u.proc.spawner) == p + 1 &&
			   atomic_load(&s->u.proc.spawner_gen) == gen) {
			int fd = ioli_process_pidfd_checked(t, i);
			struct pollfd pf = {.fd = fd, .events = POLLIN};

			if (fd < 0) {
				ioli_post_exit(t, i, atomic_load(&s->gen), 0);
			} else {
				/* Still running: whoever holds a handle posts its
				 * end, now that its spawner is gone. */
				if (poll(&pf, 1, 0) == 1)
					ioli_post_exit(t, i, atomic_load(&s->gen),
						       ioli_pidfd_exit_status(fd));
				close(fd);
			}
		}
	}
}

/* Give back every count in process p's row, one slot per T critical
 * section.  0 when done, 1 when the record was finished by someone else,
 * or an error. */
static int put_row(iol_table *t, uint32_t p, uint32_t gen)
{
	struct ioli_proc *pr = &t->procs[p];
	_Atomic uint32_t *row = ioli_row(t, p);
	int err;

	for (uint32_t page = 0; page * 1024u < t->nslots; page++) {
		if (!(atomic_load(&pr->row_pages[page / 64]) & (1ull << (page % 64))))
			continue;
		for (uint32_t s = page * 1024u; s < t->nslots && s < (page + 1) * 1024u; s++) {
			if (!atomic_load_explicit(&row[s], memory_order_relaxed))
				continue;
			err = ioli_tlock(t);
			if (err)
				return err;
			if (!same_record(t, p, gen)) {
				ioli_tunlock(t);
				return 1; /* another survivor finished it */
			}
			if (ioli_created_by(t, s, p, gen))
				ioli_tset(t, &ioli_slot(t, s)->internal, 0);
			ioli_ref_put_n(t, p, s,
				       atomic_load_explicit(&row[s], memory_order_relaxed));
			ioli_tunlock(t);
		}
	}
	return 0;
}

/* Under T: does process p's row count nothing? */
static bool row_empty(iol_table *t, uint32_t p)
{
	struct ioli_proc *pr = &t->procs[p];
	_Atomic uint32_t *row = ioli_row(t, p);

	for (uint32_t page = 0; page * 1024u < t->nslots; page++) {
		if (!(atomic_load(&pr->row_pages[page / 64]) & (1ull << (page % 64))))
			continue;
		for (uint32_t s = page * 1024u; s < t->nslots && s < (page + 1) * 1024u; s++)
			if (atomic_load_explicit(&row[s], memory_order_relaxed))
				return false;
	}
	return true;
}

int ioli_reclaim_proc(iol_table *t, uint32_t p, uint32_t gen)
{
	struct ioli_proc *pr = &t->procs[p];
	int err;

	if (!same_record(t, p, gen))
		return 0;
	signal_orphans(t, p, gen);
	for (;;) {
		err = put_row(t, p, gen);
		if (err)
			return err < 0 ? err : 0;
		err = ioli_tlock(t);
		if (err)
			return err;
		ioli_threc_reap_dead(t);
		if (!same_record(t, p, gen)) {
			ioli_tunlock(t);
			return 0;
		}
		/* The pass read the row without T.  Another reclaimer of this
		 * record that died in a put had that put rolled back by the
		 * first lock after it, maybe after the pass looked at that
		 * count: only an empty row under T may be freed. */
		if (row_empty(t, p))
			break;
		ioli_tunlock(t);
	}
	IOLI_FAULT("reclaim.record");
	for (unsigned i = 0; i < sizeof(pr->row_pages) / sizeof(pr->row_pages[0]); i++)
		atomic_store(&pr->row_pages[i], 0);
	ioli_tset(t, &pr->state, IOLI_PROC_FREE);
	ioli_tunlock(t);
	return 1;
}

/* The table lock whose holder died: roll its critical section back now,
 * before reading any record or row (which may be part of it), and so
 * that reclaiming the dead leaves no lock owner-died behind. */
static void tlock_recover_if_dead(iol_table *t)
{
	_Atomic uint32_t *w = &t->hdr->lock.word;

	if ((atomic_load_explicit(w, memory_order_relaxed) & FUTEX_OWNER_DIED) &&
	    ioli_tlock(t) == 0) {
		/* We are about to reclaim: no need to ask the watcher to. */
		atomic_store(&t->reclaim_wanted, false);
		ioli_tunlock(t);
	}
}

/* A wait-all lock whose holder died: recover it now.  Otherwise that is
 * done by the next wait-all, or the next operation meeting a word the
 * dead left LOCKED; a holder that died after its last commit store left
 * no such word, and the lock would stay owner-died (harmless, but fsck
 * would rightly report it) until the next wait-all. */
static void walock_recover_if_dead(iol_table *t)
{
	_Atomic uint32_t *w = &t->hdr->walock.word;

	if (atomic_load_explicit(w, memory_order_relaxed) & FUTEX_OWNER_DIED)
		ioli_walock_pass(t, NULL);
}

int ioli_reclaim_dead(iol_table *t)
{
	int n = 0;

	if (!t || atomic_load(&t->forked))
		return 0;
	tlock_recover_if_dead(t);
	walock_recover_if_dead(t);
	for (uint32_t p = 0; p < ioli_proc_hwm(t); p++) {
		struct ioli_proc *pr = &t->procs[p];
		uint32_t gen;

		if (atomic_load(&pr->state) != IOLI_PROC_LIVE || p == t->self)
			continue;
		gen = atomic_load(&pr->gen);
		if (ioli_proc_alive(t, p, gen))
			continue;
		if (ioli_reclaim_proc(t, p, gen) > 0)
			n++;
	}
	return n;
}

int iol_table_reclaim(iol_table *t)
{
	if (!t)
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	return ioli_reclaim_dead(t);
}
