/* SPDX-License-Identifier: MIT */
/*
 * Death while holding the table lock T (fault-injection build).
 *
 * A child process runs a table operation (attach, create, close, import,
 * a file open, detach, reclaiming a dead process) with IOLAYER_FAULT set
 * to die at the n-th pass of a fault point inside T: after each logged
 * write ("tset"), just before the commit ("tunlock"), after allocating a
 * thread record ("threc.alloc"), at a close ("close"), between a
 * reclaimer's puts ("reclaim.put") and before it frees the dead's record
 * ("reclaim.record").  For n = 1, 2, ... until the operation completes,
 * every death is followed by:
 *
 *   - T is marked owner-died and (for "tset") its undo log is non-empty:
 *     the death really left a half-done critical section;
 *   - the next locker recovers: after the rollback the table is
 *     consistent (fsck finds nothing but the dead process itself, its
 *     thread records and mutexes), so the half-done operation was undone
 *     as a whole;
 *   - after reclaiming the dead, fsck is clean and the table is exactly
 *     what it was before the child started (objects, names, references,
 *     states, live count).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/crash_helpers.h"

#define TABLE "fault-tlock"

static char file_path[PATH_MAX];
static char token_arg[32];

/* ---- the child: one operation, exit 0 when it completed ---------------- */

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #c);             \
			exit(3);                                                                   \
		}                                                                                  \
	} while (0)

static int child(const char *op, const char *arg)
{
	iol_table *t;
	int h, a;

	CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	if (!strcmp(op, "attach")) {
		/* attaching is the operation */
	} else if (!strcmp(op, "create")) {
		CHECK(iol_mutex_open(t, "new-mutex", IOL_CREATE | IOL_EXCL, true) > 0);
		CHECK(iol_event_open(t, "new-event", IOL_CREATE | IOL_EXCL, true, false) > 0);
		CHECK(iol_semaphore_open(t, NULL, 0, 1, 4) > 0);
	} else if (!strcmp(op, "close")) {
		h = iol_semaphore_open(t, "obj", 0, 0, 1);
		a = iol_event_open(t, NULL, 0, false, false);
		CHECK(h > 0 && a > 0);
		CHECK(iol_close(a) == 0);
		CHECK(iol_close(h) == 0);
	} else if (!strcmp(op, "import")) {
		h = iol_import(t, strtoull(arg, NULL, 16));
		CHECK(h > 0);
		CHECK(iol_dup(h) > 0);
		CHECK(iol_close(h) == 0);
	} else if (!strcmp(op, "file")) {
		h = iol_file_open(t, arg, O_RDONLY, 0, IOL_SHARE_READ | IOL_SHARE_WRITE);
		CHECK(h > 0);
		CHECK(iol_dup(h) > 0);
		CHECK(iol_close(h) == 0);
	} else if (!strcmp(op, "detach")) {
		CHECK(iol_semaphore_open(t, "obj", 0, 0, 1) > 0);
		CHECK(iol_event_open(t, "detach-event", IOL_CREATE, true, false) > 0);
		CHECK(iol_mutex_open(t, NULL, 0, true) > 0);
		CHECK(iol_table_close(t) == 0);
	} else if (!strcmp(op, "reclaim")) {
		/* Opening reclaimed the dead victim already (or died doing it). */
		CHECK(iol_table_reclaim(t) >= 0);
	} else {
		return 4;
	}
	/* exit() detaches: its critical sections are part of the run. */
	exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

static iol_table *pt;
static struct crash_snap s0;

static int setup(void **state)
{
	struct iol_table_opts opts = {.slots = 64};
	const char *dir = getenv("IOLAYER_SHM_DIR");
	uint64_t tok;

	(void)state;
	iol_table_unlink(TABLE);
	snprintf(file_path, sizeof(file_path), "%s/fault-file", dir ? dir : "/tmp");
	close(open(file_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	if (iol_table_open(TABLE, &opts, &pt) != 0)
		return -1;
	int obj = iol_semaphore_open(pt, "obj", IOL_CREATE, 1, 3);
	int ev = iol_event_open(pt, "pe", IOL_CREATE, true, true);
	int f = iol_file_open(pt, file_path, O_RDONLY, 0, IOL_SHARE_READ | IOL_SHARE_WRITE);
	if (obj <= 0 || ev <= 0 || f <= 0 || iol_export(obj, &tok) != 0)
		return -1;
	snprintf(token_arg, sizeof(token_arg), "%" PRIx64, tok);
	crash_snapshot(TABLE, &s0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	crash_snap_free(&s0);
	iol_table_close(pt);
	iol_table_unlink(TABLE);
	unlink(file_path);
	return 0;
}

/* Findings a rollback may leave: the dead process itself. */
static void only_the_dead(const char *ids, const char *what)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", ids);
	for (char *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
		if (strcmp(id, "proc-dead") && strcmp(id, "threc-dead") &&
		    strcmp(id, "mutex-dead-owner"))
			fail_msg("%s: after the rollback fsck finds more than the dead process: %s",
				 what, ids);
	}
}

static void after_death(const char *point, int n, const char *op)
{
	struct crash_map m;
	struct crash_snap s1;
	char ids[1024], what[96];
	iol_table *v;
	uint32_t lw, undo;

	snprintf(what, sizeof(what), "%s, death at %s:%d", op, point, n);
	crash_map(TABLE, &m);
	lw = atomic_load(&m.hdr->lock.word);
	undo = atomic_load(&m.hdr->undo_n);
	crash_unmap(&m);
	if (!(lw & FUTEX_OWNER_DIED))
		fail_msg("%s: the table lock is not marked owner-died (%#x)", what, lw);
	if (!strcmp(point, "tset") && undo == 0)
		fail_msg("%s: nothing in the undo log", what);

	/* The next locker rolls back.  For odd n that is a locker that only
	 * looks (then fsck checks what the rollback left); for even n it is
	 * the reclaim below itself, which must not be misled by a table
	 * still waiting for its rollback. */
	if (n % 2) {
		assert_int_equal(ioli_table_inspect(TABLE, true, &v), 0);
		assert_int_equal(ioli_tlock(v), 0);
		assert_int_equal(atomic_load(&v->hdr->undo_n), 0);
		ioli_tunlock(v);
		ioli_table_inspect_close(v);
		crash_fsck(TABLE, false, ids, sizeof(ids));
		only_the_dead(ids, what);
	}

	/* Reclaimed, the table is what it was. */
	assert_true(iol_table_reclaim(pt) >= 0);
	crash_assert_clean(TABLE);
	crash_snapshot(TABLE, &s1);
	crash_snap_equal(&s0, &s1);
	crash_snap_free(&s1);
}

static int run_op(const char *op, const char *point, void (*before)(void))
{
	const char *arg = !strcmp(op, "import") ? token_arg : file_path;
	char fault[64];
	int n;

	for (n = 1; n < 1000; n++) {
		if (before)
			before();
		snprintf(fault, sizeof(fault), "%s:%d", point, n);
		int st = crash_run_self(fault, (const char *[]){"child", op, arg, NULL});
		if (st == 0)
			break;
		if (st != CRASH_FAULT_EXIT)
			fail_msg("%s with IOLAYER_FAULT=%s: exit %d", op, fault, st);
		after_death(point, n, op);
	}
	/* Completed: with exit()'s detach, nothing of it is left. */
	if (before)
		assert_true(iol_table_reclaim(pt) >= 0);
	crash_assert_clean(TABLE);
	struct crash_snap s1;
	crash_snapshot(TABLE, &s1);
	crash_snap_equal(&s0, &s1);
	crash_snap_free(&s1);
	return n - 1;
}

static const char *const ops[] = {"attach", "create", "close", "import", "file", "detach"};
static const char *const points[] = {"tset", "tunlock", "threc.alloc", "close"};

static void test_death_in_table_lock(void **state)
{
	int total = 0;

	(void)state;
	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
			int deaths = run_op(ops[o], points[p], NULL);

			printf("  %-7s %-12s %3d deaths recovered\n", ops[o], points[p], deaths);
			total += deaths;
		}
	}
	/* Every operation passes through T: tset and tunlock must fire. */
	assert_true(total > 50);
}

/* ---- a reclaimer dies ----------------------------------------------------- */

static void victim(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	int h = iol_semaphore_open(t, "obj", 0, 0, 1);
	CHILD_CHECK(h > 0);
	for (int i = 0; i < 5; i++)
		CHILD_CHECK(iol_dup(h) > 0);
	CHILD_CHECK(iol_event_open(t, "victim-event", IOL_CREATE, true, false) > 0);
	for (int i = 0; i < 3; i++)
		CHILD_CHECK(iol_semaphore_open(t, NULL, 0, 0, 1) > 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1);
	_exit(1);
}

static void new_victim(void)
{
	struct crash_child v;
	char c;

	crash_fork(&v, victim, NULL);
	crash_recv(&v, &c, 1);
	crash_kill(&v);
}

static void test_reclaimer_dies(void **state)
{
	static const char *const rpoints[] = {"reclaim.put", "reclaim.record", "tset"};

	(void)state;
	for (size_t p = 0; p < sizeof(rpoints) / sizeof(rpoints[0]); p++) {
		int deaths = run_op("reclaim", rpoints[p], new_victim);

		printf("  reclaim %-14s %3d deaths recovered\n", rpoints[p], deaths);
		assert_true(deaths > 0);
	}
}

int main(int argc, char **argv)
{
	/* These tests look at what a dead process leaves and at the triggers
	 * other than the sentinels' watch (tests/test_reclaim_prompt.c tests
	 * that): no sentinel of ours, or of our children, reclaims behind
	 * their back. */
	setenv("IOLAYER_WATCH", "0", 1);
	if (argc >= 3 && !strcmp(argv[1], "child"))
		return child(argv[2], argc > 3 ? argv[3] : "");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_death_in_table_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reclaimer_dies, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
