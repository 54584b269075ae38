/* SPDX-License-Identifier: MIT */
/*
 * Crash safety with real processes and SIGKILL (issue 6):
 *
 *   - a mutex owner process is killed while another process waits on the
 *     mutex: the waiter returns IOL_ABANDONED, promptly (the latency from
 *     the kill to the waiter's return is measured over many rounds and its
 *     99th percentile must be under 10 ms), and it was sleeping in
 *     futex_waitv without a timeout and without waking up meanwhile (no
 *     polling);
 *   - a process holding thousands of handles (dups, named and anonymous
 *     objects, imported tokens, file opens) is killed; whichever way a
 *     survivor notices (another process opening the table,
 *     iol_table_reclaim(), an allocation that would fail with -ENOSPC, a
 *     sharing check, an IOL_EXCL creation), every reference and file open
 *     of the dead is gone: exact reference counts, `iolayer ls` handle
 *     counts, objects only the dead held freed and their names reusable,
 *     file opens no longer in the way;
 *   - two survivors reclaiming the same dead process at once leave the
 *     table exactly as one reclaim would.
 *
 * Deaths inside table operations (fault injection) are in tests/fault/.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/cli_run.h"
#include "tests/crash_helpers.h"

/* ------------------------------------------------------------------ */
/* Abandonment latency                                                 */
/* ------------------------------------------------------------------ */

#define AB_TABLE  "crash-abandon"
#define AB_ROUNDS 200
/* The goal (issue 6) is a p99 under 10 ms, and that is what the plain
 * build checks.  Sanitizer builds slow every process down several times
 * (p99 of 1 to 5 ms seen under ASan and TSan on an idle machine); they
 * check the same behaviour with room for a loaded CI machine. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AB_P99_LIMIT_NS (50 * 1000000u)
#else
#define AB_P99_LIMIT_NS (10 * 1000000u)
#endif

struct ab_reply {
	int result;
	uint64_t t_return;
};

/* The owner: takes the mutex, says so, and waits to be killed. */
static void ab_owner(int rd, int wr, void *arg)
{
	iol_table *t;
	char ok = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(AB_TABLE, NULL, &t) == 0);
	int m = iol_mutex_open(t, "m", 0, false);
	CHILD_CHECK(m > 0);
	CHILD_CHECK(iol_wait(m, 0) == 0);
	CHILD_CHECK(crash_write(wr, &ok, 1));
	/* Until killed: reading a pipe the parent never writes. */
	crash_read(rd, &ok, 1);
	_exit(1);
}

/* The waiter: on each 'w' waits for the mutex, releases it, and reports
 * the result and the time the wait returned. */
static void ab_waiter(int rd, int wr, void *arg)
{
	iol_table *t;
	char cmd;

	(void)arg;
	CHILD_CHECK(iol_table_open(AB_TABLE, NULL, &t) == 0);
	int m = iol_mutex_open(t, "m", 0, false);
	CHILD_CHECK(m > 0);
	while (crash_read(rd, &cmd, 1) && cmd == 'w') {
		struct ab_reply r;

		r.result = iol_wait(m, IOL_INFINITE);
		r.t_return = crash_now_ns();
		/* Free before replying: the next owner takes it at once. */
		if (r.result >= 0)
			CHILD_CHECK(iol_mutex_release(m) == 1);
		CHILD_CHECK(crash_write(wr, &r, sizeof(r)));
	}
	exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_abandon_latency(void **state)
{
	struct iol_table_opts opts = {.slots = 64};
	struct crash_child waiter, owner;
	uint64_t lat[AB_ROUNDS];
	iol_table *t;
	char c;

	(void)state;
	assert_int_equal(iol_table_open(AB_TABLE, &opts, &t), 0);
	int m = iol_mutex_open(t, "m", IOL_CREATE, false);
	assert_true(m > 0);
	struct ioli_slot *s = crash_slot(m);

	crash_fork(&waiter, ab_waiter, NULL);
	for (int round = 0; round < AB_ROUNDS; round++) {
		struct ab_reply r;

		crash_fork(&owner, ab_owner, NULL);
		crash_recv(&owner, &c, 1);
		c = 'w';
		crash_send(&waiter, &c, 1);
		/* The waiter counts itself as a waiter before it sleeps; then it
		 * must be asleep in futex_waitv (mutex word + owner's liveness
		 * word) with no timeout at all. */
		while (atomic_load(&s->waiters) == 0)
			sched_yield();
		if (!crash_until_in_syscall(waiter.pid, waiter.pid, SYS_futex_waitv, 5000))
			fail_msg("round %d: the waiter is not asleep in futex_waitv", round);
		if (round == 0) {
			unsigned long args[6], v0, i0, v1, i1;
			long nr;

			assert_true(crash_task_syscall(waiter.pid, waiter.pid, &nr, args));
			assert_int_equal(nr, SYS_futex_waitv);
			assert_int_equal(args[1], 2); /* the mutex and its owner's liveness */
			assert_int_equal(args[3], 0); /* no timeout: nothing to poll with */
			/* And it stays asleep: no wakeup in a quarter second. */
			assert_true(crash_task_switches(waiter.pid, waiter.pid, &v0, &i0));
			usleep(250 * 1000); /* an observation window, not a synchronization */
			assert_true(crash_task_switches(waiter.pid, waiter.pid, &v1, &i1));
			assert_int_equal(v0, v1);
			assert_int_equal(i0, i1);
		}
		uint64_t t0 = crash_now_ns();
		crash_kill(&owner);
		crash_recv(&waiter, &r, sizeof(r));
		assert_int_equal(r.result, IOL_ABANDONED);
		lat[round] = r.t_return - t0;
	}
	c = 'q';
	crash_send(&waiter, &c, 1);
	assert_int_equal(crash_reap(&waiter), 0);

	qsort(lat, AB_ROUNDS, sizeof(lat[0]), cmp_u64);
	uint64_t p50 = lat[AB_ROUNDS / 2], p99 = lat[AB_ROUNDS * 99 / 100];
	printf("abandonment latency, SIGKILL to IOL_ABANDONED in another process, %d rounds: "
	       "min %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us\n",
	       AB_ROUNDS, lat[0] / 1e3, p50 / 1e3, p99 / 1e3, lat[AB_ROUNDS - 1] / 1e3);
	assert_true(p99 < AB_P99_LIMIT_NS);

	/* Every owner's record is reclaimed; the mutex is free and ours only. */
	iol_table_reclaim(t);
	struct iol_info info;
	assert_int_equal(iol_query(m, &info), 0);
	assert_int_equal(info.refs, 1);
	assert_int_equal(info.u.mutex.owner_tid, 0);
	crash_assert_clean(AB_TABLE);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(AB_TABLE), 0);
}

/* ------------------------------------------------------------------ */
/* Reclaiming what a killed process held                               */
/* ------------------------------------------------------------------ */

#define RC_TABLE "crash-reclaim"
#define RC_SLOTS 64
#define RC_DUPS	 400

enum notice { BY_OPEN, BY_RECLAIM, BY_ENOSPC, BY_SHARING, BY_EXCL };

struct victim_args {
	uint64_t tok_anon;	    /* the parent's anonymous semaphore */
	char file_shared[PATH_MAX]; /* opened by both, sharing everything */
	char file_excl[PATH_MAX];   /* opened by the victim, sharing nothing */
	bool fill;		    /* fill the table to the last slot */
};

/* Holds thousands of handles, then waits to be killed.  Replies with the
 * number of handles it holds. */
static void victim(int rd, int wr, void *arg)
{
	struct victim_args *a = arg;
	int base[16], nbase = 0;
	long handles = 0;
	iol_table *t;
	char c;

	CHILD_CHECK(iol_table_open(RC_TABLE, NULL, &t) == 0);
	/* Named objects only the victim holds (the mutex owned, too). */
	base[nbase++] = iol_mutex_open(t, "v-mutex", IOL_CREATE | IOL_EXCL, true);
	base[nbase++] = iol_event_open(t, "v-event", IOL_CREATE | IOL_EXCL, true, false);
	base[nbase++] = iol_semaphore_open(t, "v-sem", IOL_CREATE | IOL_EXCL, 0, 10);
	/* Anonymous ones. */
	for (int i = 0; i < 4; i++)
		base[nbase++] = iol_semaphore_open(t, NULL, 0, 1, 1);
	/* Objects the parent holds too: by name, and by token. */
	base[nbase++] = iol_semaphore_open(t, "p-shared", 0, 0, 1);
	base[nbase++] = iol_import(t, a->tok_anon);
	/* File opens: one compatible with the parent's, one exclusive. */
	base[nbase++] = iol_file_open(t, a->file_shared, O_RDONLY, 0,
				      IOL_SHARE_READ | IOL_SHARE_WRITE | IOL_SHARE_DELETE);
	base[nbase++] = iol_file_open(t, a->file_excl, O_RDWR, 0, 0);
	for (int i = 0; i < nbase; i++) {
		CHILD_CHECK(base[i] > 0);
		handles++;
		for (int k = 0; k < RC_DUPS; k++) {
			/* Imported handles are more imports; the rest dups. */
			int h = base[i] == base[nbase - 3] ? iol_import(t, a->tok_anon)
							   : iol_dup(base[i]);
			CHILD_CHECK(h > 0);
			handles++;
		}
	}
	if (a->fill) {
		int h;

		while ((h = iol_event_open(t, NULL, 0, false, false)) > 0)
			handles++;
		CHILD_CHECK(h == -ENOSPC);
	}
	CHILD_CHECK(crash_write(wr, &handles, sizeof(handles)));
	crash_read(rd, &c, 1); /* until killed */
	_exit(1);
}

static void opener(int rd, int wr, void *arg)
{
	iol_table *t;

	(void)rd;
	(void)wr;
	(void)arg;
	CHILD_CHECK(iol_table_open(RC_TABLE, NULL, &t) == 0);
	CHILD_CHECK(iol_table_close(t) == 0);
	exit(0);
}

static void reclaim_after_kill(enum notice how)
{
	struct iol_table_opts opts = {.slots = RC_SLOTS};
	struct victim_args *a = calloc(1, sizeof(*a));
	struct crash_child v, o;
	struct iol_info info;
	struct crash_snap before, after;
	const char *dir = getenv("IOLAYER_SHM_DIR");
	iol_table *t;
	long handles;
	int h;

	assert_non_null(a);
	snprintf(a->file_shared, sizeof(a->file_shared), "%s/rc-shared", dir ? dir : "/tmp");
	snprintf(a->file_excl, sizeof(a->file_excl), "%s/rc-excl", dir ? dir : "/tmp");
	close(open(a->file_shared, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	close(open(a->file_excl, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	a->fill = how == BY_ENOSPC;

	assert_int_equal(iol_table_open(RC_TABLE, &opts, &t), 0);
	int ps = iol_semaphore_open(t, "p-shared", IOL_CREATE, 0, 1);
	int pa = iol_event_open(t, NULL, 0, true, false);
	int pf = iol_file_open(t, a->file_shared, O_RDONLY, 0,
			       IOL_SHARE_READ | IOL_SHARE_WRITE | IOL_SHARE_DELETE);
	assert_true(ps > 0 && pa > 0 && pf > 0);
	assert_int_equal(iol_export(pa, &a->tok_anon), 0);
	crash_snapshot(RC_TABLE, &before);

	crash_fork(&v, victim, a);
	crash_recv(&v, &handles, sizeof(handles));
	assert_true(handles > 4000);
	/* What the victim holds is counted, and a live process is never
	 * reclaimed: its exclusive open is in the way, its names are taken. */
	assert_int_equal(crash_ls_handles(RC_TABLE, v.pid), handles);
	assert_int_equal(crash_ls_handles(RC_TABLE, getpid()), 3);
	assert_int_equal(iol_query(ps, &info), 0);
	assert_int_equal(info.refs, 1 + 1 + RC_DUPS);
	assert_int_equal(iol_query(pa, &info), 0);
	assert_int_equal(info.refs, 1 + 1 + RC_DUPS);
	assert_int_equal(iol_query(pf, &info), 0);
	assert_int_equal(info.u.file.opens, 2);
	assert_int_equal(iol_file_open(t, a->file_excl, O_RDONLY, 0, IOL_SHARE_READ), -EBUSY);
	assert_int_equal(iol_event_open(t, "v-event", IOL_CREATE | IOL_EXCL, false, false),
			 -EEXIST);
	assert_int_equal(iol_table_reclaim(t), 0);
	if (how == BY_ENOSPC)
		assert_int_equal(iol_event_open(t, NULL, 0, false, false), -ENOSPC);

	crash_kill(&v);

	/* A survivor notices. */
	switch (how) {
	case BY_OPEN:
		crash_fork(&o, opener, NULL);
		assert_int_equal(crash_reap(&o), 0);
		break;
	case BY_RECLAIM:
		assert_int_equal(iol_table_reclaim(t), 1);
		break;
	case BY_ENOSPC:
		h = iol_event_open(t, NULL, 0, false, false);
		assert_true(h > 0);
		assert_int_equal(iol_close(h), 0);
		break;
	case BY_SHARING:
		h = iol_file_open(t, a->file_excl, O_RDWR, 0, 0);
		assert_true(h > 0);
		assert_int_equal(iol_close(h), 0);
		break;
	case BY_EXCL:
		h = iol_event_open(t, "v-event", IOL_CREATE | IOL_EXCL, false, false);
		assert_true(h > 0);
		assert_int_equal(iol_close(h), 0);
		break;
	}

	/* Nothing of the dead is left: nothing more to reclaim, the table is
	 * exactly what it was before the victim came, counts are exact. */
	assert_int_equal(iol_table_reclaim(t), 0);
	crash_snapshot(RC_TABLE, &after);
	crash_snap_equal(&before, &after);
	crash_snap_free(&before);
	crash_snap_free(&after);
	assert_int_equal(iol_query(ps, &info), 0);
	assert_int_equal(info.refs, 1);
	assert_int_equal(iol_query(pa, &info), 0);
	assert_int_equal(info.refs, 1);
	assert_int_equal(iol_query(pf, &info), 0);
	assert_int_equal(info.refs, 1);
	assert_int_equal(info.u.file.opens, 1);
	assert_int_equal(info.u.file.readers, 1);
	assert_int_equal(info.u.file.share_read, 1);
	assert_int_equal(crash_ls_handles(RC_TABLE, v.pid), -1);
	assert_int_equal(crash_ls_handles(RC_TABLE, getpid()), 3);
	crash_assert_clean(RC_TABLE);
	/* Names the dead held are free for anyone... */
	assert_int_equal(iol_mutex_open(t, "v-mutex", 0, false), -ENOENT);
	assert_int_equal(iol_semaphore_open(t, "v-sem", 0, 0, 1), -ENOENT);
	h = iol_mutex_open(t, "v-mutex", IOL_CREATE | IOL_EXCL, false);
	assert_true(h > 0);
	assert_int_equal(iol_wait(h, 0), 0); /* a new mutex, not an abandoned one */
	assert_int_equal(iol_mutex_release(h), 1);
	assert_int_equal(iol_close(h), 0);
	/* ... and its exclusive open is no longer in the way. */
	h = iol_file_open(t, a->file_excl, O_RDWR, 0, 0);
	assert_true(h > 0);
	assert_int_equal(iol_close(h), 0);

	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(RC_TABLE), 0);
	unlink(a->file_shared);
	unlink(a->file_excl);
	free(a);
}

static void test_reclaim_by_table_open(void **state)
{
	(void)state;
	reclaim_after_kill(BY_OPEN);
}

static void test_reclaim_by_call(void **state)
{
	(void)state;
	reclaim_after_kill(BY_RECLAIM);
}

static void test_reclaim_by_full_table(void **state)
{
	(void)state;
	reclaim_after_kill(BY_ENOSPC);
}

static void test_reclaim_by_sharing_check(void **state)
{
	(void)state;
	reclaim_after_kill(BY_SHARING);
}

static void test_reclaim_by_excl_create(void **state)
{
	(void)state;
	reclaim_after_kill(BY_EXCL);
}

/* ------------------------------------------------------------------ */
/* Two survivors reclaim the same dead process at once                 */
/* ------------------------------------------------------------------ */

#define RR_TABLE  "crash-race"
#define RR_OBJS	  40
#define RR_DUPS	  20
#define RR_OWN	  10
#define RR_ROUNDS 20

static void rr_open_all(iol_table *t, int *h)
{
	char name[32];

	for (int i = 0; i < RR_OBJS; i++) {
		snprintf(name, sizeof(name), "r-%d", i);
		h[i] = iol_semaphore_open(t, name, 0, 0, 1);
		CHILD_CHECK(h[i] > 0);
	}
}

/* Holds RR_DUPS + 1 handles on each shared object and some of its own. */
static void rr_victim(int rd, int wr, void *arg)
{
	int h[RR_OBJS];
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(RR_TABLE, NULL, &t) == 0);
	rr_open_all(t, h);
	for (int i = 0; i < RR_OBJS; i++)
		for (int k = 0; k < RR_DUPS; k++)
			CHILD_CHECK(iol_dup(h[i]) > 0);
	for (int i = 0; i < RR_OWN; i++)
		CHILD_CHECK(iol_event_open(t, NULL, 0, false, false) > 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1);
	_exit(1);
}

/* Attached before the death; on 'g' reclaims and reports the result. */
static void rr_survivor(int rd, int wr, void *arg)
{
	int h[RR_OBJS];
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(RR_TABLE, NULL, &t) == 0);
	rr_open_all(t, h);
	CHILD_CHECK(crash_write(wr, &c, 1));
	CHILD_CHECK(crash_read(rd, &c, 1) && c == 'g');
	int r = iol_table_reclaim(t);
	CHILD_CHECK(crash_write(wr, &r, sizeof(r)));
	CHILD_CHECK(crash_read(rd, &c, 1) && c == 'q');
	exit(0);
}

static void test_reclaim_race(void **state)
{
	struct iol_table_opts opts = {.slots = 128};
	struct crash_child v, s1, s2;
	int h[RR_OBJS], r1, r2;
	iol_table *t;
	char c, name[32];

	(void)state;
	assert_int_equal(iol_table_open(RR_TABLE, &opts, &t), 0);
	for (int i = 0; i < RR_OBJS; i++) {
		snprintf(name, sizeof(name), "r-%d", i);
		h[i] = iol_semaphore_open(t, name, IOL_CREATE, 0, 1);
		assert_true(h[i] > 0);
	}
	for (int round = 0; round < RR_ROUNDS; round++) {
		struct crash_snap before, after;

		crash_fork(&s1, rr_survivor, NULL);
		crash_fork(&s2, rr_survivor, NULL);
		crash_recv(&s1, &c, 1);
		crash_recv(&s2, &c, 1);
		crash_snapshot(RR_TABLE, &before);
		crash_fork(&v, rr_victim, NULL);
		crash_recv(&v, &c, 1);
		crash_kill(&v);
		c = 'g';
		crash_send(&s1, &c, 1);
		crash_send(&s2, &c, 1);
		crash_recv(&s1, &r1, sizeof(r1));
		crash_recv(&s2, &r2, sizeof(r2));
		/* Exactly one of them finished the dead process's record... */
		assert_true(r1 >= 0 && r2 >= 0);
		assert_int_equal(r1 + r2, 1);
		/* ... and together they gave back exactly what it held. */
		crash_snapshot(RR_TABLE, &after);
		crash_snap_equal(&before, &after);
		crash_snap_free(&before);
		crash_snap_free(&after);
		for (int i = 0; i < RR_OBJS; i++) {
			struct iol_info info;

			assert_int_equal(iol_query(h[i], &info), 0);
			assert_int_equal(info.refs, 3);
		}
		crash_assert_clean(RR_TABLE);
		c = 'q';
		crash_send(&s1, &c, 1);
		crash_send(&s2, &c, 1);
		assert_int_equal(crash_reap(&s1), 0);
		assert_int_equal(crash_reap(&s2), 0);
	}
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(RR_TABLE), 0);
}

/* ------------------------------------------------------------------ */
/* Opening a table whose lock holder died                              */
/* ------------------------------------------------------------------ */

#define LH_TABLE "crash-lockholder"

/* Takes T and waits to be killed holding it. */
static void lock_holder(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(LH_TABLE, NULL, &t) == 0);
	int h = iol_event_open(t, "held", 0, false, false);
	CHILD_CHECK(h > 0);
	CHILD_CHECK(ioli_tlock(t) == 0);
	ioli_tset(t, &crash_slot(h)->refs, 1000); /* half a critical section */
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1);
	_exit(1);
}

/* Opens the table (the first to lock T after the death) and uses it for a
 * while: its table must stay attached and mapped. */
static void opener_user(int rd, int wr, void *arg)
{
	iol_table *t;

	(void)rd;
	(void)wr;
	(void)arg;
	CHILD_CHECK(iol_table_open(LH_TABLE, NULL, &t) == 0);
	uint64_t end = crash_now_ns() + 200 * 1000000u;
	while (crash_now_ns() < end) {
		int h = iol_event_open(t, "held", 0, false, false);
		CHILD_CHECK(h > 0);
		CHILD_CHECK(iol_event_set(h) >= 0);
		CHILD_CHECK(iol_close(h) == 0);
		CHILD_CHECK(atomic_load(&t->procs[t->self].state) == IOLI_PROC_LIVE);
	}
	CHILD_CHECK(iol_table_close(t) == 0);
	exit(0);
}

/*
 * The first process to lock T after its holder died rolls back, and asks
 * for the dead to be reclaimed.  When that was the attach of a table
 * being opened, the request's reference on the table was lost (the open
 * then set its count to 1), and the background reclaim later freed and
 * unmapped the table under its user: SIGSEGV, or a process killed inside
 * T with the lock unmapped, so that the kernel could not mark it
 * owner-died and every other process blocked on it for ever.
 */
static void test_open_after_lock_holder_died(void **state)
{
	struct iol_table_opts opts = {.slots = 64};
	struct crash_child h, o;
	iol_table *t;
	char c;

	(void)state;
	for (int round = 0; round < 5; round++) {
		assert_int_equal(iol_table_open(LH_TABLE, &opts, &t), 0);
		int e = iol_event_open(t, "held", IOL_CREATE, false, false);
		assert_true(e > 0);
		crash_fork(&h, lock_holder, NULL);
		crash_recv(&h, &c, 1);
		crash_kill(&h);
		crash_fork(&o, opener_user, NULL);
		assert_int_equal(crash_reap(&o), 0);
		assert_int_equal(iol_table_reclaim(t), 0); /* the opener did it */
		crash_assert_clean(LH_TABLE);
		struct iol_info info;
		assert_int_equal(iol_query(e, &info), 0);
		assert_int_equal(info.refs, 1);
		assert_int_equal(iol_table_close(t), 0);
		assert_int_equal(iol_table_unlink(LH_TABLE), 0);
	}
}

int main(void)
{
	/* These tests look at what a dead process leaves and at the triggers
	 * other than the sentinels' watch (tests/test_reclaim_prompt.c tests
	 * that): no sentinel of ours, or of our children, reclaims behind
	 * their back. */
	setenv("IOLAYER_WATCH", "0", 1);
	if (cli_locate("test_crash"))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_abandon_latency),
	    cmocka_unit_test(test_reclaim_by_table_open),
	    cmocka_unit_test(test_reclaim_by_call),
	    cmocka_unit_test(test_reclaim_by_full_table),
	    cmocka_unit_test(test_reclaim_by_sharing_check),
	    cmocka_unit_test(test_reclaim_by_excl_create),
	    cmocka_unit_test(test_reclaim_race),
	    cmocka_unit_test(test_open_after_lock_holder_died),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
