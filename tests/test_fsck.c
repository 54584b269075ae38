/* SPDX-License-Identifier: MIT */
/*
 * `iolayer fsck` on damaged tables.
 *
 * Each row below damages a table the way a stray write or a death would
 * (the test maps the file itself and scribbles on it, or a child dies at
 * a chosen moment), then runs the command:
 *
 *   iolayer fsck T            reports the damage by its check id, exit 4
 *   iolayer fsck T --repair   repairs it, exit 1
 *   iolayer fsck T            clean, exit 0
 *
 * and finally shows the table works: the objects the test holds have
 * their state and exact reference counts, names are found, new objects
 * can be made and waited on, a second repair finds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

#include "iolayer.h"
#include "tests/cli_run.h"
#include "tests/crash_helpers.h"

#define TABLE "fsck-damage"

/* The table every row starts from, and what the test holds in it. */
struct fx {
	iol_table *t;
	int m, e, s, anon, f;
	int extra;			      /* a row's extra handle */
	uint32_t im, ie, is, ianon, ifo, ifr; /* slot indexes (ifr: the file record) */
	char file[PATH_MAX];
	struct crash_map map;
	struct crash_child child;
};

struct row {
	const char *name;
	void (*damage)(struct fx *);
	const char *expect;	     /* check ids that must be reported, space-separated */
	void (*verify)(struct fx *); /* after the repair, row-specific; may be NULL */
};

static struct ioli_slot *S(struct fx *f, uint32_t i)
{
	return &f->map.slots[i];
}

static void fx_setup(struct fx *f)
{
	struct iol_table_opts opts = {.slots = 64};
	const char *dir = getenv("IOLAYER_SHM_DIR");
	int tmp[3];

	memset(f, 0, sizeof(*f));
	f->child.pid = -1;
	snprintf(f->file, sizeof(f->file), "%s/fsck-file", dir ? dir : "/tmp");
	assert_int_equal(iol_table_open(TABLE, &opts, &f->t), 0);
	f->m = iol_mutex_open(f->t, "m", IOL_CREATE, false);
	f->e = iol_event_open(f->t, "e", IOL_CREATE, true, false);
	f->s = iol_semaphore_open(f->t, "s", IOL_CREATE, 2, 5);
	f->anon = iol_event_open(f->t, NULL, 0, false, true);
	f->f = iol_file_open(f->t, f->file, O_RDWR | O_CREAT, 0600, IOL_SHARE_READ);
	assert_true(f->m > 0 && f->e > 0 && f->s > 0 && f->anon > 0 && f->f > 0);
	/* Some slots on the free list. */
	for (int i = 0; i < 3; i++)
		assert_true((tmp[i] = iol_semaphore_open(f->t, NULL, 0, 0, 1)) > 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iol_close(tmp[i]), 0);
	f->im = crash_slot_index(f->m);
	f->ie = crash_slot_index(f->e);
	f->is = crash_slot_index(f->s);
	f->ianon = crash_slot_index(f->anon);
	f->ifo = crash_slot_index(f->f);
	f->ifr = atomic_load(&crash_slot(f->f)->u.fopen.rec);
	crash_map(TABLE, &f->map);
	crash_assert_clean(TABLE);
}

static void fx_teardown(struct fx *f)
{
	if (f->child.pid > 0)
		crash_kill(&f->child);
	if (f->map.base)
		crash_unmap(&f->map);
	iol_table_close(f->t);
	iol_table_unlink(TABLE);
	unlink(f->file);
}

/* ---- what "works" means after a repair -------------------------------- */

static void expect_refs(int h, uint32_t refs)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.refs, refs);
}

static void table_works(struct fx *f)
{
	struct iol_info info;
	int h, r;

	/* What the test holds is intact, its counts exact. */
	expect_refs(f->m, 1);
	expect_refs(f->e, 1);
	expect_refs(f->s, 1);
	expect_refs(f->anon, 1);
	expect_refs(f->f, 1);
	assert_int_equal(iol_query(f->f, &info), 0);
	assert_int_equal(info.u.file.opens, 1);
	assert_int_equal(info.u.file.readers, 1);
	assert_int_equal(info.u.file.writers, 1);
	assert_int_equal(info.u.file.share_read, 1);
	assert_int_equal(info.u.file.share_write, 0);
	/* Names are found, each by its own object. */
	h = iol_event_open(f->t, "e", 0, false, false);
	assert_true(h > 0);
	assert_int_equal(crash_slot_index(h), f->ie);
	expect_refs(f->e, 2);
	assert_int_equal(iol_close(h), 0);
	h = iol_mutex_open(f->t, "m", 0, false);
	assert_true(h > 0);
	assert_int_equal(crash_slot_index(h), f->im);
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_semaphore_open(f->t, "s", IOL_CREATE | IOL_EXCL, 0, 1), -EEXIST);
	/* Waits work. */
	r = iol_wait(f->m, 0);
	assert_true(r == 0 || r == IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(f->m), 1);
	assert_int_equal(iol_event_set(f->e), 0);
	assert_int_equal(iol_wait(f->e, 0), 0);
	assert_int_equal(iol_event_reset(f->e), 1);
	/* New objects fill every free slot without touching a live one. */
	int made[64], n = 0;
	while ((h = iol_semaphore_open(f->t, NULL, 0, 1, 1)) > 0) {
		assert_true(n < 64);
		made[n++] = h;
		assert_int_equal(iol_wait(h, 0), 0);
	}
	assert_int_equal(h, -ENOSPC);
	assert_int_equal(n, 64 - 6); /* all but m e s anon, the open and its record */
	for (int i = 0; i < n; i++) {
		uint32_t idx = crash_slot_index(made[i]);

		assert_true(idx != f->im && idx != f->ie && idx != f->is && idx != f->ianon &&
			    idx != f->ifo && idx != f->ifr);
		assert_int_equal(iol_close(made[i]), 0);
	}
	assert_int_equal(iol_query(f->m, &info), 0);
	assert_string_equal(info.name, "m");
	/* A second sharing-compatible open, and an incompatible one. */
	h = iol_file_open(f->t, f->file, O_RDONLY, 0, IOL_SHARE_READ | IOL_SHARE_WRITE);
	assert_true(h > 0);
	assert_int_equal(iol_file_open(f->t, f->file, O_WRONLY, 0, IOL_SHARE_READ), -EBUSY);
	assert_int_equal(iol_close(h), 0);
	crash_assert_clean(TABLE);
}

/* ---- children that die at a chosen moment ----------------------------- */

enum child_act { HOLD, OWN_MUTEX, DIE_IN_T, DIE_IN_L_LOCKING, DIE_IN_L_COMMIT };

static void child_main(int rd, int wr, void *arg)
{
	enum child_act act = (enum child_act)(intptr_t)arg;
	iol_table *t;
	char c = 'k';

	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	int m = iol_mutex_open(t, "m", 0, false);
	int s = iol_semaphore_open(t, "s", 0, 0, 1);
	CHILD_CHECK(m > 0 && s > 0);
	for (int i = 0; i < 50; i++)
		CHILD_CHECK(iol_dup(s) > 0);
	CHILD_CHECK(iol_event_open(t, NULL, 0, false, false) > 0);
	struct ioli_href r;
	CHILD_CHECK(ioli_handle_get(s, &r) == 0);
	switch (act) {
	case HOLD:
		break;
	case OWN_MUTEX:
		CHILD_CHECK(iol_wait(m, 0) == 0);
		break;
	case DIE_IN_T:
		/* Half of a critical section: two logged writes. */
		CHILD_CHECK(ioli_tlock(t) == 0);
		ioli_tset(t, &r.s->refs, 99);
		ioli_tset(t, &t->hdr->live, 1000);
		break;
	case DIE_IN_L_LOCKING:
	case DIE_IN_L_COMMIT: {
		/* A wait-all on s that locked its word, as waitall.c does. */
		struct ioli_hdr *h = t->hdr;
		uint32_t v = atomic_load(&r.s->word);

		CHILD_CHECK(ioli_rlock_lock(t, &h->walock, &t->lholder) == 0);
		atomic_store(&h->wa_phase, IOLI_WA_LOCKING);
		atomic_store(&h->wa[0].slot, r.slot);
		atomic_store(&h->wa[0].old, v);
		atomic_store(&h->wa[0].new, v - 1);
		atomic_store(&h->wa_n, 1);
		atomic_store(&r.s->word, v | IOLI_W_LOCKED);
		if (act == DIE_IN_L_COMMIT)
			atomic_store(&h->wa_phase, IOLI_WA_COMMIT);
		break;
	}
	}
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1); /* until killed */
	_exit(1);
}

static void child_dies(struct fx *f, enum child_act act)
{
	char c;

	crash_fork(&f->child, child_main, (void *)(intptr_t)act);
	crash_recv(&f->child, &c, 1);
	crash_kill(&f->child);
}

/* ---- the damage -------------------------------------------------------- */

static void dmg_refs_high(struct fx *f)
{
	atomic_fetch_add(&S(f, f->im)->refs, 5);
}

static void dmg_refs_low(struct fx *f)
{
	/* The semaphore counts one reference but this process holds two. */
	f->extra = iol_dup(f->s);
	assert_true(f->extra > 0);
	atomic_fetch_sub(&S(f, f->is)->refs, 1);
}

static void verify_refs_low(struct fx *f)
{
	expect_refs(f->s, 2);
	assert_int_equal(iol_close(f->extra), 0);
	expect_refs(f->s, 1);
}

static void dmg_unreferenced(struct fx *f)
{
	/* A slot taken off the free list and made live, but nobody holds it:
	 * a leak fsck frees. */
	struct ioli_hdr *h = f->map.hdr;
	uint32_t i = atomic_load(&h->free_head) - 1;

	atomic_store(&h->free_head, atomic_load(&S(f, i)->next));
	atomic_store(&S(f, i)->next, 0);
	atomic_store(&S(f, i)->name_len, 0);
	atomic_store(&S(f, i)->refs, 0);
	atomic_store(&S(f, i)->state, IOLI_SLOT_LIVE | IOL_TYPE_EVENT);
	atomic_fetch_add(&h->live, 1);
}

static void dmg_free_list_live(struct fx *f)
{
	atomic_store(&f->map.hdr->free_head, f->im + 1);
}

static void dmg_free_list_loop(struct fx *f)
{
	uint32_t head = atomic_load(&f->map.hdr->free_head);

	assert_true(head != 0);
	atomic_store(&S(f, head - 1)->next, head); /* points at itself */
}

static void dmg_free_list_wild(struct fx *f)
{
	uint32_t head = atomic_load(&f->map.hdr->free_head);

	assert_true(head != 0);
	atomic_store(&S(f, head - 1)->next, 0x7fffffff);
}

static uint32_t bucket_of(struct fx *f, uint32_t slot)
{
	return atomic_load(&S(f, slot)->hash) & (f->map.nbuckets - 1);
}

static void dmg_name_loop(struct fx *f)
{
	uint32_t b = bucket_of(f, f->ie);

	/* e's chain: make its last entry point back to its first. */
	uint32_t i = atomic_load(&f->map.buckets[b]) - 1, steps = 0;
	while (atomic_load(&S(f, i)->next) != 0 && steps++ < 64)
		i = atomic_load(&S(f, i)->next) - 1;
	atomic_store(&S(f, i)->next, atomic_load(&f->map.buckets[b]));
}

static void dmg_name_wrong_bucket(struct fx *f)
{
	uint32_t b = bucket_of(f, f->ie), other = b;

	/* Unlink e from its chain (it may not be first), put it alone in an
	 * empty bucket. */
	_Atomic uint32_t *link = &f->map.buckets[b];
	while (atomic_load(link) != f->ie + 1)
		link = &S(f, atomic_load(link) - 1)->next;
	atomic_store(link, atomic_load(&S(f, f->ie)->next));
	do
		other = (other + 1) & (f->map.nbuckets - 1);
	while (atomic_load(&f->map.buckets[other]) != 0);
	atomic_store(&S(f, f->ie)->next, 0);
	atomic_store(&f->map.buckets[other], f->ie + 1);
	/* The library no longer finds it: the damage is real. */
	assert_int_equal(iol_event_open(f->t, "e", 0, false, false), -ENOENT);
}

static void dmg_name_duplicate(struct fx *f)
{
	uint32_t i, b;
	_Atomic uint32_t *link;

	/* A second live event named "e", out of the index: a named event
	 * unlinked from its chain, then renamed. */
	f->extra = iol_event_open(f->t, "d", IOL_CREATE, true, false);
	assert_true(f->extra > 0);
	i = crash_slot_index(f->extra);
	b = bucket_of(f, i);
	link = &f->map.buckets[b];
	while (atomic_load(link) != i + 1)
		link = &S(f, atomic_load(link) - 1)->next;
	atomic_store(link, atomic_load(&S(f, i)->next));
	atomic_store(&S(f, i)->next, 0);
	S(f, i)->name[0] = 'e';
	atomic_store(&S(f, i)->hash, atomic_load(&S(f, f->ie)->hash));
}

static void verify_duplicate_anonymous(struct fx *f)
{
	struct iol_info a, b;
	int h = iol_event_open(f->t, "e", 0, false, false);

	/* The name still means the object it meant to lookups... */
	assert_true(h > 0);
	assert_int_equal(crash_slot_index(h), f->ie);
	assert_int_equal(iol_close(h), 0);
	/* ...and the other object works on, without a name. */
	assert_int_equal(iol_query(f->extra, &a), 0);
	assert_string_equal(a.name, "");
	assert_int_equal(iol_event_set(f->extra), 0);
	assert_int_equal(iol_wait(f->extra, 0), 0);
	assert_int_equal(iol_query(f->e, &b), 0);
	assert_string_equal(b.name, "e");
	assert_false(b.u.event.signaled);
	assert_int_equal(iol_close(f->extra), 0);
	f->extra = 0;
}

static void dmg_name_wild(struct fx *f)
{
	uint32_t b = bucket_of(f, f->im);

	atomic_store(&f->map.buckets[(b + 1) & (f->map.nbuckets - 1)], 0xfffffff0u);
}

static void dmg_undo_stale(struct fx *f)
{
	struct ioli_hdr *h = f->map.hdr;

	/* A log left behind with the lock free: replaying it would set m's
	 * references to 77; fsck must empty it, not replay it. */
	h->undo[0].off = (uint64_t)((uint8_t *)&S(f, f->im)->refs - f->map.base);
	h->undo[0].old = 77;
	h->undo[1].off = 0xdeadbeefdeadull;
	h->undo[1].old = 1;
	atomic_store(&h->undo_n, 2);
}

static void dmg_word_locked(struct fx *f)
{
	atomic_fetch_or(&S(f, f->is)->word, IOLI_W_LOCKED);
}

static void verify_sem_count(struct fx *f, uint32_t count)
{
	struct iol_info info;

	assert_int_equal(iol_query(f->s, &info), 0);
	assert_int_equal(info.u.semaphore.count, count);
	assert_int_equal(info.u.semaphore.max, 5);
}

static void verify_sem_2(struct fx *f)
{
	verify_sem_count(f, 2);
}

static void verify_sem_1(struct fx *f)
{
	verify_sem_count(f, 1);
}

static void dmg_sem_over_max(struct fx *f)
{
	atomic_store(&S(f, f->is)->word, 9);
	assert_int_equal(iol_semaphore_release(f->s, 1), -EOVERFLOW);
}

static void verify_sem_clamped(struct fx *f)
{
	verify_sem_count(f, 5);
	assert_int_equal(iol_semaphore_release(f->s, 1), -EOVERFLOW);
	for (int i = 0; i < 5; i++)
		assert_int_equal(iol_wait(f->s, 0), 0);
	assert_int_equal(iol_wait(f->s, 0), -ETIMEDOUT);
}

static void dmg_file_counts(struct fx *f)
{
	atomic_fetch_add(&S(f, f->ifr)->u.frec.opens, 2);
	atomic_fetch_add(&S(f, f->ifr)->u.frec.writers, 1);
	atomic_fetch_add(&S(f, f->ifr)->u.frec.sh_delete, 3);
}

static void dmg_file_rec_refs(struct fx *f)
{
	atomic_fetch_add(&S(f, f->ifr)->refs, 4);
}

static void dmg_dead_process(struct fx *f)
{
	child_dies(f, HOLD);
	expect_refs(f->s, 1 + 51);
}

static void dmg_dead_owner(struct fx *f)
{
	child_dies(f, OWN_MUTEX);
}

static void verify_abandoned(struct fx *f)
{
	struct iol_info info;

	assert_int_equal(iol_query(f->m, &info), 0);
	assert_true(info.u.mutex.abandoned);
	assert_int_equal(info.u.mutex.owner_tid, 0);
	assert_int_equal(iol_wait(f->m, 0), IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(f->m), 1);
}

static void dmg_dead_t_holder(struct fx *f)
{
	child_dies(f, DIE_IN_T);
	assert_int_equal(atomic_load(&S(f, f->is)->refs), 99);
}

static void dmg_dead_l_locking(struct fx *f)
{
	child_dies(f, DIE_IN_L_LOCKING);
}

static void dmg_dead_l_commit(struct fx *f)
{
	child_dies(f, DIE_IN_L_COMMIT);
}

static void dmg_wa_journal_stale(struct fx *f)
{
	struct ioli_hdr *h = f->map.hdr;

	atomic_store(&h->wa[0].slot, f->is);
	atomic_store(&h->wa[0].old, 0);
	atomic_store(&h->wa[0].new, 0);
	atomic_store(&h->wa_phase, IOLI_WA_COMMIT);
	atomic_store(&h->wa_n, 1);
}

static void dmg_hwm(struct fx *f)
{
	atomic_store(&f->map.hdr->hwm, 1000000);
}

static void dmg_live_count(struct fx *f)
{
	atomic_fetch_add(&f->map.hdr->live, 3);
}

static void dmg_slot_type(struct fx *f)
{
	/* A freed slot made live again with a type that does not exist. */
	uint32_t head = atomic_load(&f->map.hdr->free_head);

	atomic_store(&S(f, head - 1)->state, IOLI_SLOT_LIVE | 0x33);
}

static void dmg_slot_name(struct fx *f)
{
	uint32_t head = atomic_load(&f->map.hdr->free_head);

	atomic_store(&S(f, head - 1)->name_len, 4000);
	atomic_store(&S(f, head - 1)->state, IOLI_SLOT_LIVE | IOL_TYPE_EVENT);
}

static void dmg_row_dead_slot(struct fx *f)
{
	uint32_t head = atomic_load(&f->map.hdr->free_head);
	uint32_t self = crash_table_of(f->m)->self;

	atomic_store(&f->map.rows[(size_t)self * f->map.nslots + head - 1], 3);
}

static void dmg_threc_dead(struct fx *f)
{
	/* A thread record whose liveness lock says its thread died. */
	struct ioli_hdr *h = f->map.hdr;
	uint32_t i = atomic_load(&h->threc_hwm);
	struct ioli_threc *r = &f->map.threcs[i];

	atomic_store(&r->tid, 12345);
	r->live = FUTEX_OWNER_DIED;
	atomic_store(&r->state, IOLI_THREC_LIVE);
	atomic_store(&h->threc_hwm, i + 1);
}

/* A thread id that no longer exists: a child's, once reaped. */
static uint32_t gone_tid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return (uint32_t)pid;
}

static void dmg_lock_holder_gone(struct fx *f)
{
	/* The kernel could not mark it owner-died (a broken robust list, or
	 * the lock unmapped before the holder died): every locker would wait
	 * for ever.  (So nothing here may lock T before the repair.) */
	f->map.hdr->lock.word = gone_tid();
}

static void dmg_walock_holder_gone(struct fx *f)
{
	f->map.hdr->walock.word = gone_tid();
}

static void dmg_threc_gone(struct fx *f)
{
	/* A thread record that looks alive (its lock word names its tid) for
	 * a thread that no longer exists, owning the mutex m. */
	struct ioli_hdr *h = f->map.hdr;
	uint32_t i = atomic_load(&h->threc_hwm), tid = gone_tid();
	struct ioli_threc *r = &f->map.threcs[i];

	atomic_store(&r->tid, tid);
	atomic_store(&r->stid, tid);
	r->live = tid;
	atomic_store(&r->state, IOLI_THREC_LIVE);
	atomic_store(&h->threc_hwm, i + 1);
	atomic_store(&S(f, f->im)->word, (i + 1) | ((atomic_load(&r->gen) & IOLI_OWNER_GEN_MASK)
						    << IOLI_OWNER_IDX_BITS));
	atomic_store(&S(f, f->im)->u.mutex.recursion, 1);
}

/* This thread's thread record (allocated by owning m once). */
static uint32_t own_record(struct fx *f)
{
	uint32_t owner;

	assert_int_equal(iol_wait(f->m, 0), 0);
	assert_int_equal(iol_mutex_release(f->m), 1);
	assert_int_equal(ioli_self_owner(f->t, &owner), 0);
	return (owner & IOLI_OWNER_IDX_MASK) - 1;
}

static void *use_record(void *arg)
{
	struct fx *f = arg;

	(void)own_record(f);
	return NULL; /* its record is freed as the thread exits */
}

/* A record that was used and freed: the head of the free list. */
static uint32_t freed_record(struct fx *f)
{
	pthread_t th;
	uint32_t head;

	assert_int_equal(pthread_create(&th, NULL, use_record, f), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	head = atomic_load(&f->map.hdr->threc_free);
	assert_true(head != 0);
	assert_int_equal(atomic_load(&f->map.threcs[head - 1].state), IOLI_THREC_FREE);
	return head - 1;
}

static void dmg_threc_hwm_low(struct fx *f)
{
	/* Below our own live record: the next allocation would look at it. */
	atomic_store(&f->map.hdr->threc_hwm, own_record(f));
}

static void dmg_threc_free_live(struct fx *f)
{
	atomic_store(&f->map.hdr->threc_free, own_record(f) + 1);
}

static void dmg_threc_free_loop(struct fx *f)
{
	uint32_t i = freed_record(f);

	atomic_store(&f->map.threcs[i].next, i + 1);
}

static void dmg_threc_free_leak(struct fx *f)
{
	(void)freed_record(f);
	atomic_store(&f->map.hdr->threc_free, 0);
}

/* A process that exists, is not attached and does not map the table
 * (another program: a fork of this one would map it). */
static pid_t stranger(struct fx *f)
{
	char *argv[] = {"sleep", "1000", NULL};
	pid_t pid;

	assert_int_equal(posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ), 0);
	f->child.pid = pid;
	f->child.to = f->child.from = -1;
	return pid;
}

static void dmg_lock_unattached(struct fx *f)
{
	/* Every locker gives up on it with EDEADLK, and fsck said clean. */
	f->map.hdr->lock.word = (uint32_t)stranger(f);
}

static void dmg_walock_unattached(struct fx *f)
{
	f->map.hdr->walock.word = (uint32_t)stranger(f);
}

static const struct row rows[] = {
    {"wrong references (too many)", dmg_refs_high, "slot-refs", NULL},
    {"wrong references (too few)", dmg_refs_low, "slot-refs", verify_refs_low},
    {"a live slot nobody holds", dmg_unreferenced, "slot-unreferenced", NULL},
    {"free list holds a live slot", dmg_free_list_live, "free-list free-leak", NULL},
    {"free list loops", dmg_free_list_loop, "free-list free-leak", NULL},
    {"free list points outside", dmg_free_list_wild, "free-list free-leak", NULL},
    {"a loop in a name chain", dmg_name_loop, "name-index", NULL},
    {"a slot in the wrong bucket", dmg_name_wrong_bucket, "name-index name-missing", NULL},
    {"a bucket pointing outside", dmg_name_wild, "name-index", NULL},
    {"two live objects with one name", dmg_name_duplicate, "name-duplicate",
     verify_duplicate_anonymous},
    {"a stale undo log", dmg_undo_stale, "lock-undo-stale", NULL},
    {"a LOCKED futex word", dmg_word_locked, "word-locked", verify_sem_2},
    {"a semaphore count above max", dmg_sem_over_max, "semaphore-count", verify_sem_clamped},
    {"file record counts off", dmg_file_counts, "file-counts", NULL},
    {"file record references off", dmg_file_rec_refs, "slot-refs", NULL},
    {"a dead process record", dmg_dead_process, "proc-dead", NULL},
    {"a mutex owned by a dead thread", dmg_dead_owner, "proc-dead mutex-dead-owner threc-dead",
     verify_abandoned},
    {"the table lock held by the dead", dmg_dead_t_holder, "lock-dead-holder proc-dead", NULL},
    {"the wait-all lock held by the dead (locking)", dmg_dead_l_locking,
     "walock-dead-holder proc-dead", verify_sem_2},
    {"the wait-all lock held by the dead (commit)", dmg_dead_l_commit,
     "walock-dead-holder proc-dead", verify_sem_1},
    {"a stale wait-all journal", dmg_wa_journal_stale, "walock-journal-stale", verify_sem_2},
    {"high-water mark past the end", dmg_hwm, "hwm", NULL},
    {"live count off", dmg_live_count, "live-count", NULL},
    {"a live slot of unknown type", dmg_slot_type, "slot-type", NULL},
    {"a name longer than the maximum", dmg_slot_name, "slot-name", NULL},
    {"a row counting a free slot", dmg_row_dead_slot, "row-dead-slot", NULL},
    {"a thread record of a dead thread", dmg_threc_dead, "threc-dead", NULL},
    {"the table lock held by a thread that no longer exists", dmg_lock_holder_gone,
     "lock-holder-gone", NULL},
    {"the wait-all lock held by a thread that no longer exists", dmg_walock_holder_gone,
     "walock-holder-gone", NULL},
    {"a thread record of a thread that no longer exists, owning a mutex", dmg_threc_gone,
     "threc-gone", verify_abandoned},
    {"thread record high-water mark below a live record", dmg_threc_hwm_low, "threc-hwm", NULL},
    {"thread record free list holds a live record", dmg_threc_free_live, "threc-free-list", NULL},
    {"thread record free list loops", dmg_threc_free_loop, "threc-free-list", NULL},
    {"a free thread record off the free list", dmg_threc_free_leak, "threc-free-leak", NULL},
    {"the table lock naming a live process that is not attached", dmg_lock_unattached,
     "lock-holder-unattached", NULL},
    {"the wait-all lock naming a live process that is not attached", dmg_walock_unattached,
     "walock-holder-unattached", NULL},
};

static void has_ids(const char *out, const char *expect)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", expect);
	for (char *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
		char key[64];

		snprintf(key, sizeof(key), "\"check\":\"%s\"", id);
		if (!strstr(out, key))
			fail_msg("fsck did not report %s:\n%s", id, out);
	}
}

struct state {
	const struct row *row;
	struct fx f;
};

static int setup(void **state)
{
	struct state *st = calloc(1, sizeof(*st));

	if (!st)
		return -1;
	st->row = *state;
	fx_setup(&st->f);
	*state = st;
	return 0;
}

/* Runs after a failure too, so the next row starts from a fresh table. */
static int teardown(void **state)
{
	struct state *st = *state;

	fx_teardown(&st->f);
	free(st);
	return 0;
}

static void test_damage(void **state)
{
	struct state *st = *state;
	const struct row *row = st->row;
	struct fx *f = &st->f;
	struct run r;

	row->damage(f);

	r = run_cli((const char *[]){"fsck", TABLE, "--json", NULL}, NULL, false);
	assert_json(r.out);
	if (r.status != 4)
		fail_msg("fsck exit %d, expected 4:\n%s%s", r.status, r.out, r.err);
	has_ids(r.out, row->expect);
	assert_non_null(strstr(r.out, "\"repaired\":false"));
	run_free(&r);

	r = run_cli((const char *[]){"fsck", TABLE, "--repair", NULL}, NULL, false);
	if (r.status != 1)
		fail_msg("fsck --repair exit %d, expected 1:\n%s%s", r.status, r.out, r.err);
	printf("  %s:\n%s", row->name, r.out);
	run_free(&r);

	r = run_cli((const char *[]){"fsck", TABLE, NULL}, NULL, false);
	if (r.status != 0)
		fail_msg("fsck after repair exit %d, expected 0:\n%s%s", r.status, r.out, r.err);
	run_free(&r);

	if (row->verify)
		row->verify(f);
	table_works(f);

	/* Nothing left for a second repair. */
	r = run_cli((const char *[]){"fsck", TABLE, "--repair", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	run_free(&r);
}

/* ---- repairing a table in use ----------------------------------------- */

static void churn(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	int s = iol_semaphore_open(t, "s", 0, 0, 1);
	int m = iol_mutex_open(t, "m", 0, false);
	CHILD_CHECK(s > 0 && m > 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	/* Until told to stop (the command pipe is readable): dup and close,
	 * create and destroy anonymous and named objects (slots allocated
	 * and freed, names inserted and removed). */
	CHILD_CHECK(fcntl(rd, F_SETFL, O_NONBLOCK) == 0);
	for (unsigned n = 0; read(rd, &c, 1) < 0; n++) {
		int h[8];
		char name[32];

		for (int i = 0; i < 8; i++)
			CHILD_CHECK((h[i] = iol_dup(i & 1 ? s : m)) > 0);
		for (int i = 0; i < 8; i++)
			CHILD_CHECK(iol_close(h[i]) == 0);
		if (!(arg && (n & 1)))
			continue;
		snprintf(name, sizeof(name), "churn-%u", n % 5);
		h[0] = iol_semaphore_open(t, NULL, 0, 0, 1);
		h[1] = iol_event_open(t, name, IOL_CREATE, false, false);
		h[2] = iol_semaphore_open(t, NULL, 0, 0, 1);
		CHILD_CHECK(h[0] > 0 && h[1] > 0 && h[2] > 0);
		CHILD_CHECK(iol_close(h[1]) == 0);
		CHILD_CHECK(iol_close(h[0]) == 0);
		CHILD_CHECK(iol_close(h[2]) == 0);
	}
	exit(0);
}

/*
 * fsck --repair while another process dups and closes handles and creates
 * and destroys objects as fast as it can: counts, lists and chains read
 * without the table lock are stale a moment later, so a repair holds the
 * lock for its pass, or it would "repair" a correct count to a wrong one,
 * cut a free list that was only changing, or put a live slot on it.
 */
static void test_repair_while_in_use(void **state)
{
	struct state *st = *state;
	struct fx *f = &st->f;
	char c;

	crash_fork(&f->child, churn, (void *)1);
	crash_recv(&f->child, &c, 1);
	for (int i = 0; i < 2000; i++) {
		char ids[256];

		/* Nothing is wrong with this table: nothing may be "repaired". */
		if (crash_fsck(TABLE, true, ids, sizeof(ids)) != 0)
			fail_msg("round %d: fsck --repair changed a sound table: %s", i, ids);
	}
	c = 'q';
	crash_send(&f->child, &c, 1);
	assert_int_equal(crash_reap(&f->child), 0);
	table_works(f);
}

/* ---- locks held by a stopped process ---------------------------------- */

/* Attached: take T and L, say so, stop. */
static void stopped_holder(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)rd;
	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	CHILD_CHECK(ioli_tlock(t) == 0);
	CHILD_CHECK(ioli_rlock_lock(t, &t->hdr->walock, &t->lholder) == 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	raise(SIGSTOP);
	for (;;)
		pause();
}

/*
 * T and L held by an attached process that is stopped: every locker gives
 * up with -EDEADLK, and fsck used to say clean.  It reports both, with the
 * pid, and a repair leaves them (the holder may be half-way through a
 * critical section) without waiting for them: exit 4, at once.  Once the
 * holder is killed, a repair recovers everything.
 */
static void test_locks_held_by_stopped(void **state)
{
	struct state *st = *state;
	struct fx *f = &st->f;
	char c, pid[32];
	struct run r;
	uint64_t t0;
	int wst;

	crash_fork(&f->child, stopped_holder, NULL);
	crash_recv(&f->child, &c, 1);
	assert_int_equal(waitpid(f->child.pid, &wst, WUNTRACED), f->child.pid);
	assert_true(WIFSTOPPED(wst));
	snprintf(pid, sizeof(pid), "process %d ", (int)f->child.pid);

	r = run_cli((const char *[]){"fsck", TABLE, "--json", NULL}, NULL, false);
	assert_json(r.out);
	if (r.status != 4)
		fail_msg("fsck exit %d, expected 4:\n%s%s", r.status, r.out, r.err);
	has_ids(r.out, "lock-holder-stopped");
	assert_non_null(strstr(r.out, "the table lock is held by process"));
	assert_non_null(strstr(r.out, "the wait-all lock is held by process"));
	assert_non_null(strstr(r.out, pid));
	run_free(&r);

	t0 = crash_now_ns();
	r = run_cli((const char *[]){"fsck", TABLE, "--repair", "--json", NULL}, NULL, false);
	if (r.status != 4)
		fail_msg("fsck --repair exit %d, expected 4:\n%s%s", r.status, r.out, r.err);
	has_ids(r.out, "lock-holder-stopped");
	assert_null(strstr(r.out, "\"repaired\":true"));
	run_free(&r);
	/* It waited for neither lock (the patience is 10 s). */
	assert_true(crash_now_ns() - t0 < (uint64_t)IOLI_LOCK_PATIENCE_S * 1000000000u / 2);

	crash_kill(&f->child);
	r = run_cli((const char *[]){"fsck", TABLE, "--repair", NULL}, NULL, false);
	if (r.status != 1)
		fail_msg("fsck --repair exit %d, expected 1:\n%s%s", r.status, r.out, r.err);
	run_free(&r);
	table_works(f);
}

int main(void)
{
	/* These tests look at what a dead process leaves and at the triggers
	 * other than the sentinels' watch (tests/test_reclaim_prompt.c tests
	 * that): no sentinel of ours, or of our children, reclaims behind
	 * their back. */
	setenv("IOLAYER_WATCH", "0", 1);
	size_t n = sizeof(rows) / sizeof(rows[0]);
	struct CMUnitTest *tests = calloc(n + 2, sizeof(*tests));

	if (cli_locate("test_fsck") || !tests)
		return 1;
	for (size_t i = 0; i < n; i++) {
		tests[i].name = rows[i].name;
		tests[i].test_func = test_damage;
		tests[i].initial_state = (void *)&rows[i];
		tests[i].setup_func = setup;
		tests[i].teardown_func = teardown;
	}
	tests[n].name = "repair while in use";
	tests[n].test_func = test_repair_while_in_use;
	tests[n].setup_func = setup;
	tests[n].teardown_func = teardown;
	tests[n + 1].name = "locks held by a stopped process";
	tests[n + 1].test_func = test_locks_held_by_stopped;
	tests[n + 1].setup_func = setup;
	tests[n + 1].teardown_func = teardown;
	return _cmocka_run_group_tests("test_fsck", tests, n + 2, NULL, NULL);
}
