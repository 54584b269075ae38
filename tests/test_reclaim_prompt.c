/* SPDX-License-Identifier: MIT */
/*
 * Prompt reclaim: what a SIGKILLed process held comes back to the
 * survivors without any call of theirs, through the sentinels' ring
 * (src/table/sentinel.c); a clean exit leaves nothing for fsck; idle sentinels
 * never wake; a process uses no descriptor per other process.
 *
 * Waiting for a reclaim polls the table's state every millisecond up to
 * the promised bound (250 ms): that is the measurement, not a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "iolayer/file.h"
#include "iolayer/process.h"
#include "src/table/table.h"
#include "tests/cli_run.h"
#include "tests/crash_helpers.h"

#define TABLE	 "prompt"
#define BOUND_NS 250000000ull /* the max after SIGKILL */
#define NREFS	 50

static char file_path[PATH_MAX];

/* ---- a victim holding one of everything ------------------------------- */

static void victim(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	for (int i = 0; i < NREFS; i++)
		CHILD_CHECK(iol_semaphore_open(t, "shared", 0, 0, 1) > 0);
	CHILD_CHECK(iol_semaphore_open(t, "victim-only", IOL_CREATE, 0, 1) > 0);
	CHILD_CHECK(iol_file_open(t, file_path, O_RDONLY, 0, 0) > 0); /* exclusive */
	int m = iol_mutex_open(t, "m", 0, false);
	CHILD_CHECK(m > 0 && iol_wait(m, 0) == 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1);
	_exit(0);
}

/* A bystander: attached, holding a reference, waiting to be told. */
static void bystander(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	CHILD_CHECK(iol_semaphore_open(t, "shared", 0, 0, 1) > 0);
	CHILD_CHECK(crash_write(wr, &c, 1));
	crash_read(rd, &c, 1);
	_exit(0);
}

/* Is process pid's record still attached to t? */
static bool attached(iol_table *t, pid_t pid)
{
	for (uint32_t p = 0; p < ioli_proc_hwm(t); p++)
		if (atomic_load(&t->procs[p].state) == IOLI_PROC_LIVE &&
		    atomic_load(&t->procs[p].pid) == (uint32_t)pid)
			return true;
	return false;
}

/*
 * Everything the victim held is back.  Only read-only looks until its
 * record is gone (reclaim frees it last): a refused file open would start
 * a reclaim of its own, and the test would measure that instead of the
 * sentinels.  The file open at the end confirms the share state.
 */
static bool victim_gone(int sem, uint32_t want_refs, iol_table *t, pid_t pid)
{
	struct iol_info info;
	int h;

	if (attached(t, pid) || iol_query(sem, &info) != 0 || info.refs != want_refs)
		return false;
	h = iol_semaphore_open(t, "victim-only", 0, 0, 1);
	if (h > 0) {
		iol_close(h);
		return false;
	}
	h = iol_file_open(t, file_path, O_RDONLY, 0, IOL_SHARE_READ);
	assert_true(h > 0); /* the record is gone: so must its file open be */
	iol_close(h);
	return true;
}

/* Our table, with the "shared" semaphore the children take references
 * to, and the mutex "m" the victim owns (m NULL: none). */
static iol_table *open_shared(int *sem, int *m)
{
	iol_table *t;

	assert_int_equal(iol_table_open(TABLE, NULL, &t), 0);
	*sem = iol_semaphore_open(t, "shared", IOL_CREATE, 0, 1);
	assert_true(*sem > 0);
	if (m) {
		*m = iol_mutex_open(t, "m", IOL_CREATE, false);
		assert_true(*m > 0);
	}
	return t;
}

/* Poll the semaphore's reference count (every 200 us) until it is want;
 * nanoseconds since t0, failing past the bound. */
static uint64_t until_refs(int sem, uint32_t want, uint64_t t0)
{
	struct iol_info info;

	for (;;) {
		uint64_t dt = crash_now_ns() - t0;

		assert_int_equal(iol_query(sem, &info), 0);
		if (info.refs == want)
			return dt;
		if (dt > BOUND_NS)
			fail_msg("%u references after %llu ms, expected %u", info.refs,
				 (unsigned long long)(dt / 1000000), want);
		nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
	}
}

/* Kill v; nanoseconds until everything it held is back (fails past the
 * bound). */
static uint64_t kill_and_measure(struct crash_child *v, iol_table *t, int sem, uint32_t refs)
{
	uint64_t t0 = crash_now_ns(), dt;

	crash_kill(v);
	for (;;) {
		dt = crash_now_ns() - t0;
		if (victim_gone(sem, refs, t, v->pid))
			return dt;
		if (dt > BOUND_NS)
			fail_msg("the dead process's objects were not reclaimed after %llu ms",
				 (unsigned long long)(dt / 1000000));
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}

static int setup(void **state)
{
	int fd;

	(void)state;
	iol_table_unlink(TABLE);
	snprintf(file_path, sizeof(file_path), "%s/prompt-file", getenv("IOLAYER_SHM_DIR"));
	fd = open(file_path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(file_path);
	crash_assert_clean(TABLE);
	iol_table_unlink(TABLE);
	return 0;
}

/* Everything comes back with no call from the survivor, and the mutex is
 * abandoned at once. */
static void test_sigkill_reclaimed(void **state)
{
	struct crash_child v;
	iol_table *t;
	char c;

	(void)state;
	int sem, m;
	t = open_shared(&sem, &m);
	crash_fork(&v, victim, NULL);
	crash_recv(&v, &c, 1);
	/* While it lives: refused, present, counted. */
	assert_true(iol_file_open(t, file_path, O_RDONLY, 0, IOL_SHARE_READ) < 0);
	struct iol_info info;
	assert_int_equal(iol_query(sem, &info), 0);
	assert_int_equal(info.refs, 1 + NREFS);

	uint64_t dt = kill_and_measure(&v, t, sem, 1);
	print_message("  reclaimed %.2f ms after SIGKILL\n", dt / 1e6);
	assert_int_equal(iol_wait(m, 0), IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(m), 1);
	/* No record of the dead is left for `iolayer ls` to show. */
	assert_int_equal(crash_ls_handles(TABLE, v.pid), -1);
	assert_int_equal(iol_close(m), 0);
	assert_int_equal(iol_close(sem), 0);
	assert_int_equal(iol_table_close(t), 0);
}

/*
 * Records in ring order: us (watching A), A (watching B), B (watching us).
 * Kill A, the one watching B: we reclaim it and take over watching B; then
 * kill B: we reclaim that too.  Then the same with our process the one
 * that is watched by the dead.
 */
static void test_watcher_dies(void **state)
{
	struct crash_child a, b, v;
	iol_table *t;
	struct iol_info info;
	char c;

	(void)state;
	int sem, m;
	t = open_shared(&sem, &m);
	crash_fork(&a, bystander, NULL);
	crash_recv(&a, &c, 1);
	crash_fork(&b, bystander, NULL);
	crash_recv(&b, &c, 1);
	assert_int_equal(iol_query(sem, &info), 0);
	assert_int_equal(info.refs, 3);

	/* A victim's objects come back whoever dies first. */
	crash_fork(&v, victim, NULL);
	crash_recv(&v, &c, 1);
	crash_kill(&a);
	kill_and_measure(&v, t, sem, 2);
	uint64_t t0 = crash_now_ns();
	crash_kill(&b);
	until_refs(sem, 1, t0);
	assert_int_equal(iol_close(sem), 0);
	assert_int_equal(iol_close(m), 0);
	assert_int_equal(iol_table_close(t), 0);
}

/* Many attached processes: kill them one by one in random order, each
 * reclaimed within the bound; report p95 and max. */
#define CROWD 24
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_crowd(void **state)
{
	struct crash_child kids[CROWD];
	uint64_t lat[CROWD];
	iol_table *t;
	char c;

	(void)state;
	int sem;
	t = open_shared(&sem, NULL);
	for (int i = 0; i < CROWD; i++) {
		crash_fork(&kids[i], bystander, NULL);
		crash_recv(&kids[i], &c, 1);
	}
	srand((unsigned)getpid());
	for (int i = CROWD - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		struct crash_child tmp = kids[i];

		kids[i] = kids[j];
		kids[j] = tmp;
	}
	for (int i = 0; i < CROWD; i++) {
		uint64_t t0 = crash_now_ns();

		crash_kill(&kids[i]);
		lat[i] = until_refs(sem, (uint32_t)(CROWD - i), t0);
	}
	qsort(lat, CROWD, sizeof(lat[0]), cmp_u64);
	print_message("  %d kills: p50 %.2f ms, p95 %.2f ms, max %.2f ms\n", CROWD,
		      lat[CROWD / 2] / 1e6, lat[(CROWD * 95) / 100] / 1e6, lat[CROWD - 1] / 1e6);
	assert_true(lat[(CROWD * 95) / 100] <= 50000000ull);
	assert_int_equal(iol_close(sem), 0);
	assert_int_equal(iol_table_close(t), 0);
}

/*
 * A mutex's sleepers rely on the waiter a release woke to carry the
 * SLEEPERS mark on (src/objects/mutex.c).  If that waiter dies first, the
 * reclaim of its process must wake them.  Staged deterministically: a
 * thread of ours and a child sleep on the mutex; we clear the mark, as the
 * release that woke the child would have, and release without a wake (the
 * thread stays asleep on a free mutex: stranded); then the child dies.
 */
struct sleeper {
	int m;
	_Atomic pid_t tid;
	_Atomic int result; /* INT_MIN until the wait returns */
};

static void *sleeper_main(void *arg)
{
	struct sleeper *sl = arg;

	atomic_store(&sl->tid, gettid());
	atomic_store(&sl->result, iol_wait(sl->m, IOL_INFINITE));
	iol_mutex_release(sl->m);
	return NULL;
}

static void mutex_sleeper_child(int rd, int wr, void *arg)
{
	iol_table *t;
	char c = 'k';

	(void)rd;
	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	int m = iol_mutex_open(t, "m", 0, false);
	CHILD_CHECK(m > 0 && crash_write(wr, &c, 1));
	iol_wait(m, IOL_INFINITE); /* killed asleep */
	_exit(1);
}

static void test_dead_carrier_wakes_sleepers(void **state)
{
	struct sleeper sl = {.result = INT_MIN};
	struct crash_child p;
	pthread_t th;
	iol_table *t;
	char c;
	int sem;

	(void)state;
	t = open_shared(&sem, &sl.m);
	assert_int_equal(iol_wait(sl.m, 0), 0);
	_Atomic uint32_t *word = &crash_slot(sl.m)->word;
	uint32_t owned = atomic_load(word);

	assert_int_equal(pthread_create(&th, NULL, sleeper_main, &sl), 0);
	while (atomic_load(&sl.tid) == 0)
		sched_yield();
	assert_true(crash_until_in_syscall(getpid(), sl.tid, SYS_futex, 5000));
	crash_fork(&p, mutex_sleeper_child, NULL);
	crash_recv(&p, &c, 1);
	assert_true(crash_until_in_syscall(p.pid, p.pid, SYS_futex_waitv, 5000));
	assert_int_equal(atomic_load(word), owned | IOLI_MX_SLEEPERS);

	/* The release that "woke the child" cleared the mark. */
	uint32_t v = owned | IOLI_MX_SLEEPERS;
	assert_true(atomic_compare_exchange_strong(word, &v, owned));
	assert_int_equal(iol_mutex_release(sl.m), 1);
	/* The release saw no mark, so it woke nobody: the thread sleeps on,
	 * on a free mutex.  (A precondition, checked as far as it can be
	 * without waiting for something not to happen.) */
	assert_int_equal(atomic_load(word), 0);
	assert_true(crash_until_in_syscall(getpid(), sl.tid, SYS_futex, 5000));
	assert_int_equal(atomic_load(&sl.result), INT_MIN);

	uint64_t t0 = crash_now_ns();
	crash_kill(&p);
	while (atomic_load(&sl.result) == INT_MIN) {
		if (crash_now_ns() - t0 > BOUND_NS)
			fail_msg("the sleeper was not woken when the dead waiter was reclaimed");
		nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
	}
	assert_int_equal(atomic_load(&sl.result), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	iol_close(sl.m);
	iol_close(sem);
	iol_table_close(t);
}

/* A clean exit after iol_process_open / spawn and iol_table_close leaves
 * nothing for fsck, every time. */
static void clean_child(int rd, int wr, void *arg)
{
	iol_table *t;
	char *argv[] = {"true", NULL};
	struct iol_exit_status status;

	(void)rd;
	(void)wr;
	(void)arg;
	CHILD_CHECK(iol_table_open(TABLE, NULL, &t) == 0);
	int p = iol_process_spawn(t, "true", argv, NULL);
	CHILD_CHECK(p > 0);
	CHILD_CHECK(iol_wait(p, IOL_INFINITE) == 0);
	CHILD_CHECK(iol_process_exit_status(p, &status) == 0);
	int q = iol_process_open(t, getppid());
	CHILD_CHECK(q > 0);
	CHILD_CHECK(iol_table_close(t) == 0);
	exit(0);
}

static void test_clean_exit(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++) {
		struct crash_child c;

		crash_fork(&c, clean_child, NULL);
		assert_int_equal(crash_reap(&c), 0);
		crash_assert_clean(TABLE);
	}
}

/* No wakeups while nobody dies; no descriptor per other process. */
static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_idle_and_fds(void **state)
{
	struct crash_child kids[8];
	iol_table *t;
	unsigned long v0, i0, v1, i1;
	char c;

	(void)state;
	unsigned fds = count_fds();
	assert_int_equal(iol_table_open(TABLE, NULL, &t), 0);
	/* The table's mapping takes no descriptor, the sentinel none... */
	assert_int_equal(count_fds(), fds);
	int sem = iol_semaphore_open(t, "shared", IOL_CREATE, 0, 1);
	assert_true(sem > 0);
	fds = count_fds();
	for (int i = 0; i < 8; i++) {
		crash_fork(&kids[i], bystander, NULL);
		crash_recv(&kids[i], &c, 1);
	}
	/* ... and eight other processes attached none either: only the two
	 * pipe ends this test keeps per child. */
	assert_int_equal(count_fds(), fds + 2 * 8);
	pid_t stid = (pid_t)atomic_load(&t->procs[t->self].stid);
	assert_true(crash_task_switches(getpid(), stid, &v0, &i0));
	/* Work by everyone but deaths and attaches: nothing wakes it. */
	for (int k = 0; k < 2000; k++) {
		int h = iol_event_open(t, NULL, IOL_CREATE, true, false);
		assert_true(h > 0);
		assert_int_equal(iol_close(h), 0);
	}
	assert_true(crash_task_switches(getpid(), stid, &v1, &i1));
	assert_int_equal(v1, v0);
	uint64_t t0 = crash_now_ns();
	for (int i = 0; i < 8; i++)
		crash_kill(&kids[i]);
	until_refs(sem, 1, t0);
	assert_int_equal(iol_close(sem), 0);
	assert_int_equal(iol_table_close(t), 0);
}

int main(void)
{
	if (cli_locate("test_reclaim_prompt"))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sigkill_reclaimed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watcher_dies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crowd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_carrier_wakes_sleepers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clean_exit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_and_fds, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
