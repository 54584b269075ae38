/* SPDX-License-Identifier: MIT */
/*
 * A scribbled table gives errors, not hangs or undefined behaviour, in the
 * processes using it (issue 6, "corrupt or hostile table contents").
 *
 * Each test damages a live table through a second mapping of its file,
 * the way a stray write from another process would, and then uses the
 * library on it: every call must return (a wait with a timeout, within
 * it), with a result or a negative errno.  An alarm turns a hang into a
 * failure.  Run under ASan+UBSan (make SAN=asan test) this also shows no
 * call reads or writes out of bounds.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/crash_helpers.h"

#define TABLE "scribble"

static iol_table *t;
static struct crash_map map;

static int setup(void **state)
{
	struct iol_table_opts opts = {.slots = 64};

	(void)state;
	iol_table_unlink(TABLE);
	if (iol_table_open(TABLE, &opts, &t) != 0)
		return -1;
	crash_map(TABLE, &map);
	alarm(20); /* a hang is a failure */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	crash_unmap(&map);
	iol_table_close(t);
	iol_table_unlink(TABLE);
	return 0;
}

static _Atomic uint32_t *word_of(int h)
{
	return &map.slots[crash_slot_index(h)].word;
}

/* A LOCKED bit nobody holds the wait-all lock for: readers used to spin
 * forever waiting for a wait-all that did not exist, and wait-all slept
 * on it until its timeout.  Now whoever meets it under the wait-all lock
 * clears it. */
static void test_stale_locked_bit(void **state)
{
	int s = iol_semaphore_open(t, NULL, 0, 2, 5);
	int e = iol_event_open(t, NULL, 0, true, true);
	int m = iol_mutex_open(t, NULL, 0, false);
	int all[3] = {s, e, m};
	struct iol_info info;

	(void)state;
	assert_true(s > 0 && e > 0 && m > 0);

	atomic_fetch_or(word_of(s), IOLI_W_LOCKED);
	assert_int_equal(iol_wait(s, 0), 0);
	atomic_fetch_or(word_of(s), IOLI_W_LOCKED);
	assert_int_equal(iol_semaphore_release(s, 1), 1);
	atomic_fetch_or(word_of(e), IOLI_W_LOCKED);
	assert_int_equal(iol_event_reset(e), 1);
	atomic_fetch_or(word_of(e), IOLI_W_LOCKED);
	assert_int_equal(iol_event_set(e), 0);
	atomic_fetch_or(word_of(m), IOLI_W_LOCKED);
	assert_int_equal(iol_wait(m, 0), 0);
	assert_int_equal(iol_mutex_release(m), 1);

	for (int i = 0; i < 3; i++)
		atomic_fetch_or(word_of(all[i]), IOLI_W_LOCKED);
	assert_int_equal(iol_wait_many(all, 3, IOL_WAIT_ALL, 1000000000), 0);
	assert_int_equal(iol_query(s, &info), 0);
	assert_int_equal(info.u.semaphore.count, 1);
	assert_int_equal(iol_mutex_release(m), 1);
	for (int i = 0; i < 3; i++) {
		assert_false(atomic_load(word_of(all[i])) & IOLI_W_LOCKED);
		assert_int_equal(iol_close(all[i]), 0);
	}
	crash_assert_clean(TABLE);
}

static struct ioli_slot *S(uint32_t i)
{
	return &map.slots[i];
}

/* A name whose bucket is the same as name's. */
static void same_bucket_name(const char *name, char *out, size_t len)
{
	uint32_t want = ioli_name_hash(name, strlen(name)) & (map.nbuckets - 1);

	for (unsigned i = 0;; i++) {
		snprintf(out, len, "probe-%u", i);
		if ((ioli_name_hash(out, strlen(out)) & (map.nbuckets - 1)) == want &&
		    strcmp(out, name) != 0)
			return;
	}
}

/* A name chain that loops: lookups in that bucket stop (not found),
 * creation still works, nothing is read outside the table. */
static void test_name_chain_loop(void **state)
{
	char other[32];
	int a, b;

	(void)state;
	a = iol_event_open(t, "looped", IOL_CREATE, false, false);
	assert_true(a > 0);
	atomic_store(&S(crash_slot_index(a))->next, crash_slot_index(a) + 1);
	same_bucket_name("looped", other, sizeof(other));
	assert_int_equal(iol_event_open(t, other, 0, false, false), -ENOENT);
	b = iol_event_open(t, other, IOL_CREATE, false, false);
	assert_true(b > 0);
	assert_int_equal(iol_close(b), 0);
	assert_true(crash_fsck(TABLE, true, NULL, 0) > 0);
	crash_assert_clean(TABLE);
	assert_int_equal(iol_close(a), 0);
}

/* A free list that points at a live slot: never handed out twice. */
static void test_free_list_into_live_slot(void **state)
{
	int live = iol_semaphore_open(t, "keep", IOL_CREATE, 3, 7);
	struct iol_info info;
	int h;

	(void)state;
	assert_true(live > 0);
	atomic_store(&map.hdr->free_head, crash_slot_index(live) + 1);
	h = iol_event_open(t, NULL, 0, true, true);
	assert_true(h > 0);
	assert_int_not_equal(crash_slot_index(h), crash_slot_index(live));
	assert_int_equal(iol_query(live, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_SEMAPHORE);
	assert_int_equal(info.u.semaphore.count, 3);
	assert_string_equal(info.name, "keep");
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_close(live), 0);
	crash_fsck(TABLE, true, NULL, 0);
	crash_assert_clean(TABLE);
}

/* A mutex word naming an owner that cannot exist (a record index past the
 * end, or a free record): the owner is dead, the mutex abandoned. */
static void test_mutex_owner_garbage(void **state)
{
	int m = iol_mutex_open(t, NULL, 0, false);
	struct iol_info info;

	(void)state;
	assert_true(m > 0);
	atomic_store(word_of(m), IOLI_OWNER_IDX_MASK); /* index 32766 > max records */
	assert_int_equal(iol_query(m, &info), 0);
	assert_true(info.u.mutex.abandoned);
	assert_int_equal(iol_wait(m, 0), IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(m), 1);
	atomic_store(word_of(m), 5 | (77u << IOLI_OWNER_IDX_BITS)); /* a free record */
	assert_int_equal(iol_wait(m, 1000000), IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(iol_close(m), 0);
}

/* T left owner-died with an undo log holding wild entries: out of the
 * file, inside the header's identity, misaligned.  The rollback skips
 * them and restores the one sound entry. */
static void test_wild_undo_log(void **state)
{
	int e = iol_event_open(t, "undone", IOL_CREATE, false, false);
	struct ioli_hdr *h = map.hdr;
	struct iol_info info;

	(void)state;
	assert_true(e > 0);
	_Atomic uint32_t *refs = &S(crash_slot_index(e))->refs;
	h->undo[0].off = (uint64_t)((uint8_t *)refs - map.base);
	h->undo[0].old = 1; /* sound: what refs was */
	h->undo[1].off = map.size + 4096;
	h->undo[2].off = 0; /* the magic */
	h->undo[3].off = offsetof(struct ioli_hdr, nslots);
	h->undo[4].off = (uint64_t)((uint8_t *)refs - map.base) + 1; /* misaligned */
	h->undo[5].off = UINT64_MAX - 2;
	for (int i = 1; i < 6; i++)
		h->undo[i].old = 0xdeadbeef;
	atomic_store(&h->undo_n, 6);
	atomic_store(refs, 500);
	atomic_store(&h->lock.word, FUTEX_OWNER_DIED);
	/* The next locker rolls back. */
	int d = iol_dup(e);
	assert_true(d > 0);
	assert_int_equal(iol_query(e, &info), 0);
	assert_int_equal(info.refs, 2);
	assert_int_equal(h->nslots, map.nslots);
	assert_int_equal(h->magic, IOLI_MAGIC);
	assert_int_equal(iol_close(d), 0);
	assert_int_equal(iol_close(e), 0);
	crash_assert_clean(TABLE);
}

/* A semaphore whose max was scribbled beyond 31 bits: releases stay
 * within the count's bits. */
static void test_semaphore_max_garbage(void **state)
{
	int s = iol_semaphore_open(t, NULL, 0, 0x7ffffff0u, 0x7ffffff0u);
	struct iol_info info;

	(void)state;
	assert_true(s > 0);
	S(crash_slot_index(s))->u.sem.max = 0xffffffffu;
	assert_int_equal(iol_semaphore_release(s, 15), 0x7ffffff0);
	assert_int_equal(iol_semaphore_release(s, 1), -EOVERFLOW);
	assert_int_equal(iol_query(s, &info), 0);
	assert_int_equal(info.u.semaphore.count, 0x7fffffffu);
	assert_false(atomic_load(word_of(s)) & IOLI_W_LOCKED);
	assert_int_equal(iol_close(s), 0);
}

/* A dead thread record whose wait journal is garbage (count past 64,
 * slots past the end): reaping it returns what it can, nothing else. */
static void test_wait_journal_garbage(void **state)
{
	struct ioli_hdr *h = map.hdr;
	uint32_t i = atomic_load(&h->threc_hwm);
	struct ioli_threc *r = &map.threcs[i];

	(void)state;
	atomic_store(&r->tid, 1);
	atomic_store(&r->live, FUTEX_OWNER_DIED);
	atomic_store(&r->wait_n, 100000);
	atomic_store(&r->wait_reg, ~0ull);
	for (int k = 0; k < IOL_MAX_WAIT; k++) {
		atomic_store(&r->wait_slot[k], 0xfffffff0u + (uint32_t)k);
		atomic_store(&r->wait_gen[k], 3);
	}
	atomic_store(&r->state, IOLI_THREC_LIVE);
	atomic_store(&h->threc_hwm, i + 1);
	assert_true(crash_fsck(TABLE, true, NULL, 0) > 0);
	assert_int_equal(atomic_load(&r->state), IOLI_THREC_FREE);
	crash_assert_clean(TABLE);
}

/* A process record naming pid 1 with another identity: never taken for
 * init, reclaimed as the dead process it is. */
static void test_record_naming_init(void **state)
{
	struct ioli_hdr *h = map.hdr;
	uint32_t p = 1000;
	struct ioli_proc *pr = &map.procs[p];

	(void)state;
	atomic_store(&pr->pid, 1);
	atomic_store(&pr->ident_kind, IOLI_IDENT_PIDFS);
	atomic_store(&pr->ident, 0x123456789ull);
	atomic_store(&pr->gen, 1);
	atomic_store(&pr->state, IOLI_PROC_LIVE);
	if (atomic_load(&h->proc_hwm) <= p)
		atomic_store(&h->proc_hwm, p + 1);
	assert_int_equal(iol_table_reclaim(t), 1);
	assert_int_equal(atomic_load(&pr->state), IOLI_PROC_FREE);
	crash_assert_clean(TABLE);
}

/* ---- thread records handed out from a scribbled mark or list ---------- */

struct taker {
	uint32_t owner;
	int err;
};

/* A new thread's record: allocated by its first need of an owner id. */
static void *take_record(void *arg)
{
	struct taker *k = arg;

	k->err = ioli_self_owner(t, &k->owner);
	return NULL;
}

static uint32_t new_thread_owner(void)
{
	struct taker k = {0};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, take_record, &k), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(k.err, 0);
	return k.owner;
}

/*
 * A thread-record high-water mark scribbled below a live record, and a
 * free list naming a live record: neither hands that record (and the
 * liveness mutex its thread holds) to another thread.  Before the fix the
 * mark's record was taken without a look at its state: two owners of one
 * liveness mutex, and the first thread's mutexes could be taken from it.
 */
static void test_threc_mark_and_list_scribbled(void **state)
{
	uint32_t mine, idx, other;
	struct ioli_threc *r;
	uint32_t tid;

	(void)state;
	assert_int_equal(ioli_self_owner(t, &mine), 0);
	idx = (mine & IOLI_OWNER_IDX_MASK) - 1;
	r = &map.threcs[idx];
	tid = atomic_load(&r->tid);

	atomic_store(&map.hdr->threc_hwm, idx); /* our record is "above" it */
	other = new_thread_owner();
	assert_int_not_equal(other & IOLI_OWNER_IDX_MASK, idx + 1);
	assert_int_equal(atomic_load(&r->state), IOLI_THREC_LIVE);
	assert_int_equal(atomic_load(&r->tid), tid);
	assert_true(ioli_owner_alive(t, mine, NULL));
	assert_true(atomic_load(&map.hdr->threc_hwm) > idx);

	atomic_store(&map.hdr->threc_free, idx + 1);
	other = new_thread_owner();
	assert_int_not_equal(other & IOLI_OWNER_IDX_MASK, idx + 1);
	assert_int_equal(atomic_load(&r->tid), tid);
	assert_true(ioli_owner_alive(t, mine, NULL));

	/* The record the second thread freed was on the list that was
	 * forgotten: fsck puts it back. */
	crash_fsck(TABLE, true, NULL, 0);
	crash_assert_clean(TABLE);
}

/* ---- detach and exit with a scribbled row ----------------------------- */

/* Open the table, hold one object, say which process record and slot,
 * then on command close the table ('c') or just exit ('x'). */
static void detacher(int rd, int wr, void *arg)
{
	iol_table *ct;
	uint32_t msg[2];
	char c;

	(void)arg;
	alarm(5); /* a detach that loops is killed: status 128 + SIGALRM */
	CHILD_CHECK(iol_table_open(TABLE, NULL, &ct) == 0);
	int e = iol_event_open(ct, "held", IOL_CREATE, false, false);
	CHILD_CHECK(e > 0);
	msg[0] = ct->self;
	msg[1] = crash_slot_index(e);
	CHILD_CHECK(crash_write(wr, msg, sizeof(msg)));
	CHILD_CHECK(crash_read(rd, &c, 1));
	if (c == 'c')
		CHILD_CHECK(iol_table_close(ct) == 0);
	exit(0);
}

/*
 * The count a process's row holds for a slot scribbled to UINT32_MAX, on
 * its live object and on a slot that was never used: detaching (closing
 * the table, or the exit handler) used to give the count back one
 * critical section at a time, and to free the unused slot again each time
 * (a free list looping on it).  Now each count is given back in one go,
 * only to a live slot, and the detach is over at once.
 */
static void detach_scribbled(char how)
{
	struct crash_child c;
	uint32_t msg[2], unused = map.nslots - 1;

	crash_fork(&c, detacher, NULL);
	crash_recv(&c, msg, sizeof(msg));
	assert_true(msg[0] < IOL_TABLE_MAX_PROCS && msg[1] < map.nslots && msg[1] != unused);
	atomic_store(&map.rows[(size_t)msg[0] * map.nslots + msg[1]], UINT32_MAX);
	atomic_store(&map.rows[(size_t)msg[0] * map.nslots + unused], UINT32_MAX);
	crash_send(&c, &how, 1);
	assert_int_equal(crash_reap(&c), 0);
	/* Freed once, the unused slot never: the table is sound. */
	assert_int_equal(iol_event_open(t, "held", 0, false, false), -ENOENT);
	assert_int_equal(atomic_load(&map.slots[unused].state), 0);
	assert_int_equal(atomic_load(&map.procs[msg[0]].state), IOLI_PROC_FREE);
	crash_assert_clean(TABLE);
}

static void test_close_scribbled_row(void **state)
{
	(void)state;
	detach_scribbled('c');
}

static void test_exit_scribbled_row(void **state)
{
	(void)state;
	detach_scribbled('x');
}

/*
 * Everything around the lock and liveness words scribbled: the bytes of
 * our own thread record and of T's and L's lock structures that are not
 * the words themselves.  With glibc robust mutexes there, those bytes were
 * the robust-list links glibc follows on unlock: one scribble and closing
 * the table crashed or wrote through a wild pointer.  Now nothing there is
 * ever followed: the child closes its table and exits normally.
 */
static void scribbler(int rd, int wr, void *arg)
{
	iol_table *ct;
	char c = 'k';

	(void)rd;
	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &ct) == 0);
	int m = iol_mutex_open(ct, NULL, 0, false);
	CHILD_CHECK(m > 0 && iol_wait(m, 0) == 0); /* takes a thread record */
	struct ioli_threc *r = ioli_self_threc(ct);
	CHILD_CHECK(r != NULL);
	uint8_t *b = (uint8_t *)r;
	for (size_t i = offsetof(struct ioli_threc, live) + 8; i < 128; i++)
		b[i] = 0x41;
	memset((uint8_t *)&ct->hdr->lock + 4, 0x41, sizeof(ct->hdr->lock) - 4);
	memset((uint8_t *)&ct->hdr->walock + 4, 0x41, sizeof(ct->hdr->walock) - 4);
	/* T taken and released, L too (a wait-all), the record released. */
	CHILD_CHECK(iol_event_open(ct, NULL, 0, true, false) > 0);
	int e = iol_event_open(ct, NULL, 0, true, true);
	CHILD_CHECK(e > 0 && iol_wait_many((int[]){m, e}, 2, IOL_WAIT_ALL, 0) >= 0);
	CHILD_CHECK(iol_table_close(ct) == 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	exit(0);
}

static void test_lock_neighbours_scribbled(void **state)
{
	struct crash_child c;
	char ch;

	(void)state;
	crash_fork(&c, scribbler, NULL);
	crash_recv(&c, &ch, 1);
	assert_int_equal(crash_reap(&c), 0);
}

int main(void)
{
	/* Counts of what iol_table_reclaim() finds: no sentinel of ours
	 * reclaims a scribbled record behind the test's back. */
	setenv("IOLAYER_WATCH", "0", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stale_locked_bit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_chain_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_list_into_live_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mutex_owner_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wild_undo_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_semaphore_max_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_journal_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_naming_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_neighbours_scribbled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threc_mark_and_list_scribbled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_scribbled_row, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_scribbled_row, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
