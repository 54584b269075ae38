/* SPDX-License-Identifier: MIT */
/*
 * Operations that meet a futex word LOCKED by a wait-all (docs/design.md,
 * section 5): they wait for the wait-all lock L and then act on the value
 * the wait-all left, whether it committed, gave up, or died holding L.
 *
 * The wait-all is played by the test itself, white-box, exactly as
 * src/wait/waitall.c does it (take L, journal, set LOCKED, then commit or
 * restore), so that each interleaving is reached deterministically: the
 * other party is known to be blocked on L (it sleeps in the futex system
 * call) before the holder finishes.  Deaths of L's holder are real
 * processes killed with SIGKILL.  Fault-injection deaths inside the real
 * wait-all are in tests/fault/.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/crash_helpers.h"

#define TABLE "crash-waitall"

static iol_table *t;

static int setup(void **state)
{
	struct iol_table_opts opts = {.slots = 64};

	(void)state;
	iol_table_unlink(TABLE);
	alarm(30);
	return iol_table_open(TABLE, &opts, &t);
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	iol_table_close(t);
	iol_table_unlink(TABLE);
	return 0;
}

/* ---- the wait-all, played by hand ------------------------------------ */

static void wa_lock_word(int h, uint32_t new_value)
{
	struct ioli_href r;
	struct ioli_hdr *hdr;
	uint32_t v;

	assert_int_equal(ioli_handle_get(h, &r), 0);
	hdr = r.t->hdr;
	assert_int_equal(ioli_rlock_lock(r.t, &hdr->walock, &r.t->lholder), 0);
	v = atomic_load(&r.s->word);
	atomic_store(&hdr->wa_phase, IOLI_WA_LOCKING);
	atomic_store(&hdr->wa[0].slot, r.slot);
	atomic_store(&hdr->wa[0].old, v);
	atomic_store(&hdr->wa[0].new, new_value);
	atomic_store(&hdr->wa_n, 1);
	atomic_store(&r.s->word, v | IOLI_W_LOCKED);
}

/* Finish: commit the new value, or give up and restore the old one. */
static void wa_finish(int h, bool commit)
{
	struct ioli_href r;
	struct ioli_hdr *hdr;

	assert_int_equal(ioli_handle_get(h, &r), 0);
	hdr = r.t->hdr;
	if (commit)
		atomic_store(&hdr->wa_phase, IOLI_WA_COMMIT);
	atomic_store(&r.s->word,
		     commit ? atomic_load(&hdr->wa[0].new) : atomic_load(&hdr->wa[0].old));
	atomic_store(&hdr->wa_n, 0);
	atomic_store(&hdr->wa_phase, IOLI_WA_IDLE);
	ioli_rlock_unlock(&hdr->walock, &r.t->lholder);
}

/* ---- another thread's operation, blocked on L ------------------------- */

enum op { SEM_RELEASE, SEM_WAIT, EV_SET, EV_RESET, EV_PULSE, MX_WAIT };

struct call {
	enum op op;
	int h;
	_Atomic pid_t tid;
	int result;
};

static void *call_main(void *arg)
{
	struct call *c = arg;

	atomic_store(&c->tid, (pid_t)syscall(SYS_gettid));
	switch (c->op) {
	case SEM_RELEASE:
		c->result = iol_semaphore_release(c->h, 1);
		break;
	case SEM_WAIT:
	case MX_WAIT:
		c->result = iol_wait(c->h, 5 * 1000000000LL);
		break;
	case EV_SET:
		c->result = iol_event_set(c->h);
		break;
	case EV_RESET:
		c->result = iol_event_reset(c->h);
		break;
	case EV_PULSE:
		c->result = iol_event_pulse(c->h);
		break;
	}
	return NULL;
}

/* Start op on h in a thread and return once it sleeps on L. */
static pthread_t start_blocked(struct call *c)
{
	pthread_t th;

	atomic_store(&c->tid, 0);
	assert_int_equal(pthread_create(&th, NULL, call_main, c), 0);
	while (atomic_load(&c->tid) == 0)
		sched_yield();
	if (!crash_until_in_syscall(getpid(), atomic_load(&c->tid), SYS_futex, 5000))
		fail_msg("the operation did not wait for the wait-all lock");
	return th;
}

static uint32_t sem_count(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	return info.u.semaphore.count;
}

static bool ev_signaled(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	return info.u.event.signaled;
}

/* A release that met the LOCKED word used to retry its CAS with a stale
 * count (a `continue` inside do-while jumps to the CAS): a wait-all that
 * gave up on a semaphore of count 3 turned a release(1) into count 1. */
static void test_sem_release_after_waitall_gave_up(void **state)
{
	int s = iol_semaphore_open(t, NULL, 0, 3, 10);
	struct call c = {.op = SEM_RELEASE, .h = s};

	(void)state;
	wa_lock_word(s, 2);
	pthread_t th = start_blocked(&c);
	wa_finish(s, false);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 3);
	assert_int_equal(sem_count(s), 4);
	assert_int_equal(iol_close(s), 0);
}

static void test_sem_release_after_waitall_took(void **state)
{
	int s = iol_semaphore_open(t, NULL, 0, 3, 10);
	struct call c = {.op = SEM_RELEASE, .h = s};

	(void)state;
	wa_lock_word(s, 2);
	pthread_t th = start_blocked(&c);
	wa_finish(s, true);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 2);
	assert_int_equal(sem_count(s), 3);
	assert_int_equal(iol_close(s), 0);
}

static void test_sem_wait_after_waitall_took_last(void **state)
{
	int s = iol_semaphore_open(t, NULL, 0, 1, 10);
	struct call c = {.op = SEM_WAIT, .h = s};

	(void)state;
	wa_lock_word(s, 0);
	pthread_t th = start_blocked(&c);
	wa_finish(s, true);
	/* The count is gone: the waiter sleeps until a release. */
	assert_int_equal(iol_semaphore_release(s, 1), 0);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 0);
	assert_int_equal(sem_count(s), 0);
	assert_int_equal(iol_close(s), 0);
}

static void test_event_ops_after_waitall(void **state)
{
	int e = iol_event_open(t, NULL, 0, false, true); /* auto-reset, signaled */
	struct call c = {.op = EV_SET, .h = e};
	pthread_t th;

	(void)state;
	/* The wait-all consumes the signal; the set then finds it unset. */
	wa_lock_word(e, 0);
	th = start_blocked(&c);
	wa_finish(e, true);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 0);
	assert_true(ev_signaled(e));

	/* The wait-all gives up; a reset then finds it still set. */
	c.op = EV_RESET;
	wa_lock_word(e, 0);
	th = start_blocked(&c);
	wa_finish(e, false);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 1);
	assert_false(ev_signaled(e));

	/* The wait-all consumes it; a reset then finds it unset. */
	assert_int_equal(iol_event_set(e), 0);
	wa_lock_word(e, 0);
	th = start_blocked(&c);
	wa_finish(e, true);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 0);

	/* A pulse after a wait-all gave up: previous state 1, then unset. */
	assert_int_equal(iol_event_set(e), 0);
	c.op = EV_PULSE;
	wa_lock_word(e, 0);
	th = start_blocked(&c);
	wa_finish(e, false);
	pthread_join(th, NULL);
	assert_int_equal(c.result, 1);
	assert_false(ev_signaled(e));
	assert_int_equal(iol_close(e), 0);
}

/* ---- the holder of L dies ----------------------------------------------- */

struct death {
	bool commit;
};

/* Opens the objects by name, plays a wait-all up to the chosen phase and
 * waits to be killed holding L. */
static void holder(int rd, int wr, void *arg)
{
	struct death *d = arg;
	iol_table *ct;
	struct ioli_href rs, re, rm;
	char c = 'k';

	CHILD_CHECK(iol_table_open(TABLE, NULL, &ct) == 0);
	int s = iol_semaphore_open(ct, "s", 0, 0, 1);
	int e = iol_event_open(ct, "e", 0, false, false);
	int m = iol_mutex_open(ct, "m", 0, false);
	CHILD_CHECK(s > 0 && e > 0 && m > 0);
	uint32_t me;
	CHILD_CHECK(ioli_self_owner(ct, &me) == 0);
	CHILD_CHECK(ioli_handle_get(s, &rs) == 0 && ioli_handle_get(e, &re) == 0 &&
		    ioli_handle_get(m, &rm) == 0);
	struct ioli_hdr *h = ct->hdr;
	struct ioli_href *r[3] = {&rs, &re, &rm};
	CHILD_CHECK(ioli_rlock_lock(ct, &h->walock, &ct->lholder) == 0);
	atomic_store(&h->wa_phase, IOLI_WA_LOCKING);
	for (uint32_t k = 0; k < 3; k++) {
		uint32_t v = atomic_load(&r[k]->s->word);
		uint32_t nv = k == 0 ? v - 1 : k == 1 ? v & ~IOLI_EV_SIGNALED : me;

		atomic_store(&h->wa[k].slot, r[k]->slot);
		atomic_store(&h->wa[k].old, v);
		atomic_store(&h->wa[k].new, nv);
		atomic_store(&h->wa_n, k + 1);
		atomic_store(&r[k]->s->word, v | IOLI_W_LOCKED);
	}
	if (d->commit) {
		atomic_store(&h->wa_phase, IOLI_WA_COMMIT);
		/* Half the commit done. */
		atomic_store(&rs.s->word, atomic_load(&h->wa[0].new));
	}
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1);
	_exit(1);
}

static void holder_dies(bool commit)
{
	int s = iol_semaphore_open(t, "s", IOL_CREATE, 2, 10);
	int e = iol_event_open(t, "e", IOL_CREATE, false, true);
	int m = iol_mutex_open(t, "m", IOL_CREATE, false);
	struct death d = {.commit = commit};
	struct crash_child ch;
	char c;

	assert_true(s > 0 && e > 0 && m > 0);
	crash_fork(&ch, holder, &d);
	crash_recv(&ch, &c, 1);
	crash_kill(&ch);
	/* The first to meet a LOCKED word recovers L and completes or undoes
	 * the dead wait-all as a whole. */
	if (commit) {
		/* Rolled forward: all three taken, the mutex by the dead. */
		assert_int_equal(sem_count(s), 1);
		assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
		assert_false(ev_signaled(e));
		assert_int_equal(iol_wait(m, 0), IOL_ABANDONED);
	} else {
		/* Rolled back: nothing taken. */
		assert_int_equal(iol_wait(e, 0), 0);
		assert_int_equal(sem_count(s), 2);
		assert_int_equal(iol_wait(m, 0), 0);
	}
	assert_int_equal(iol_mutex_release(m), 1);
	/* (A waiter that found the mutex's owner dead may have queued a
	 * reclaim already; either way none is left to do after this.) */
	assert_true(iol_table_reclaim(t) >= 0);
	crash_assert_clean(TABLE);
	assert_int_equal(iol_close(s), 0);
	assert_int_equal(iol_close(e), 0);
	assert_int_equal(iol_close(m), 0);
}

static void test_holder_dies_locking(void **state)
{
	(void)state;
	holder_dies(false);
}

static void test_holder_dies_committing(void **state)
{
	(void)state;
	holder_dies(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sem_release_after_waitall_gave_up, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sem_release_after_waitall_took, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sem_wait_after_waitall_took_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_ops_after_waitall, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_holder_dies_locking, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_holder_dies_committing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
