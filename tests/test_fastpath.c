/* SPDX-License-Identifier: MIT */
/*
 * The uncontended paths make no system call: acquiring a free mutex (and
 * releasing it when nobody waits), setting an event nobody waits on,
 * releasing a semaphore with no waiters, and polls that find an object
 * available.
 *
 * How it is counted: a child process installs, on its measuring thread
 * only, a seccomp filter that sends every system call (but exit and
 * exit_group) to a user-space supervisor (SECCOMP_RET_USER_NOTIF).  The
 * supervisor is a thread of the same child, made before the filter and so
 * not filtered itself; it records which thread made which call during
 * which operation, and lets the call run unchanged
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE).  Any system call counts, futex or
 * not.  Results go to shared memory; the parent asserts.  It also checks
 * that a sleeping wait is one futex call (one object) or one futex_waitv
 * (several), never a polling loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "iolayer.h"
#include "tests/helpers.h"

enum op {
	OP_NONE,
	OP_MUTEX_POLL,	   /* iol_wait(free mutex, 0) + release */
	OP_MUTEX_INFINITE, /* iol_wait(free mutex, IOL_INFINITE) + release */
	OP_MUTEX_TIMED,	   /* iol_wait(free mutex, 1 s) + release */
	OP_MUTEX_RECURSE,  /* twice + release twice */
	OP_EVENT_SET_AUTO, /* set with no waiter */
	OP_EVENT_SET_MANUAL,
	OP_SEM_RELEASE, /* release with no waiter */
	OP_EVENT_POLL,	/* iol_wait(signaled event) */
	OP_SEM_POLL,	/* iol_wait(available semaphore) */
	/* reported, not required by the issue */
	OP_INFO_FIRST,
	OP_WAIT_MANY_ANY = OP_INFO_FIRST,
	OP_WAIT_ALL,
	OP_PULSE_NO_WAITER,
	OP_RESET,
	OP_QUERY,
	OP_NEW_THREAD_MUTEX, /* a new thread's first acquisition in the table */
	OP_CONTENDED,	     /* the sanity check: a wait that must sleep */
	/* sleeping waits (50 ms timeouts): how many calls, and which */
	OP_SLEEP_FIRST,
	OP_SLEEP_EVENT = OP_SLEEP_FIRST,
	OP_SLEEP_SEM,
	OP_SLEEP_MANY,
	OP_SLEEP_ALL,
	OP_SLEEP_MUTEX,
	OP_SLEEP_END,
	/* after those waiters timed out nobody waits: no calls */
	OP_SET_AFTER_TIMEOUT = OP_SLEEP_END,
	OP_RELEASE_AFTER_TIMEOUT,
	NOPS
};

static const char *const op_name[NOPS] = {
    [OP_NONE] = "(not measured)",
    [OP_MUTEX_POLL] = "acquire free mutex (timeout 0) + release",
    [OP_MUTEX_INFINITE] = "acquire free mutex (IOL_INFINITE) + release",
    [OP_MUTEX_TIMED] = "acquire free mutex (1 s) + release",
    [OP_MUTEX_RECURSE] = "recursive acquire x2 + release x2",
    [OP_EVENT_SET_AUTO] = "set auto-reset event, no waiter",
    [OP_EVENT_SET_MANUAL] = "set manual-reset event, no waiter",
    [OP_SEM_RELEASE] = "release semaphore, no waiter",
    [OP_EVENT_POLL] = "wait on a signaled event",
    [OP_SEM_POLL] = "wait on an available semaphore",
    [OP_WAIT_MANY_ANY] = "wait_many any, one available",
    [OP_WAIT_ALL] = "wait_many WAIT_ALL, all available",
    [OP_PULSE_NO_WAITER] = "pulse, no waiter",
    [OP_RESET] = "reset",
    [OP_QUERY] = "iol_query",
    [OP_NEW_THREAD_MUTEX] = "a new thread's first mutex acquisition",
    [OP_CONTENDED] = "1 ms wait on an empty semaphore",
    [OP_SLEEP_EVENT] = "50 ms wait on an event",
    [OP_SLEEP_SEM] = "50 ms wait on a semaphore",
    [OP_SLEEP_MANY] = "50 ms wait_many on 3 objects",
    [OP_SLEEP_ALL] = "50 ms wait_many WAIT_ALL on 2 objects",
    [OP_SLEEP_MUTEX] = "50 ms wait on a mutex another thread owns",
    [OP_SET_AFTER_TIMEOUT] = "set an event whose waiter timed out",
    [OP_RELEASE_AFTER_TIMEOUT] = "release a semaphore whose waiter timed out",
};

#define ITER   1000
#define MAXREC 256

struct results {
	_Atomic int op;		/* what is being measured now */
	_Atomic pid_t measured; /* by which thread */
	_Atomic int notify_fd;	/* -1 until the filter is in place */
	_Atomic uint32_t calls[NOPS];
	_Atomic uint32_t nrec;
	int rec_nr[MAXREC];
	int rec_op[MAXREC];
	int failed_line;
	int ready;
	int new_thread_result;
};

static struct results *res;

#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			atomic_store(&res->op, OP_NONE);                                           \
			res->failed_line = __LINE__;                                               \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

/* ---- the supervisor -------------------------------------------------------- */

static void *supervisor(void *arg)
{
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	int fd;

	(void)arg;
	if (seccomp_notify_alloc(&req, &resp) != 0)
		return NULL;
	/* Spin (no system call) until the measuring thread has its filter. */
	while ((fd = atomic_load(&res->notify_fd)) < 0)
		;
	for (;;) {
		int op = OP_NONE;
		uint32_t n;

		memset(req, 0, sizeof(*req));
		if (seccomp_notify_receive(fd, req) != 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			break;
		}
		if ((pid_t)req->pid == atomic_load(&res->measured))
			op = atomic_load(&res->op);
		atomic_fetch_add(&res->calls[op], 1);
		if (op != OP_NONE) {
			n = atomic_fetch_add(&res->nrec, 1);
			if (n < MAXREC) {
				res->rec_nr[n] = req->data.nr;
				res->rec_op[n] = op;
			}
		}
		memset(resp, 0, sizeof(*resp));
		resp->id = req->id;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		/* ENOENT: the call was interrupted meanwhile; fine */
		(void)seccomp_notify_respond(fd, resp);
	}
	return NULL;
}

/* Filter the calling thread (and threads it makes later) only. */
static int start_counting(void)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_NOTIFY);
	pthread_t sup;
	int r = 0;

	atomic_store(&res->notify_fd, -1);
	if (pthread_create(&sup, NULL, supervisor, NULL) != 0)
		return -1;
	if (!f)
		return -ENOMEM;
	r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0);
	r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(exit), 0);
	if (r == 0)
		r = seccomp_load(f);
	if (r == 0)
		atomic_store(&res->notify_fd, seccomp_notify_fd(f));
	/* Not released: the notification fd must stay open. */
	return r;
}

static void measure(enum op op)
{
	atomic_store(&res->op, op);
}

/* ---- the measured child --------------------------------------------------- */

/* Owns a mutex, made before the filter (so unfiltered), and stays. */
struct holder {
	int m;
	_Atomic int owned;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	if (iol_wait(h->m, 0) == 0)
		atomic_store(&h->owned, 1);
	for (;;)
		pause();
	return NULL;
}

/* A thread made under the filter; its first acquisition is reported. */
struct newthr {
	int m;
	int r;
};

static void *new_thread_acquire(void *arg)
{
	struct newthr *n = arg;

	atomic_store(&res->measured, th_gettid()); /* counted before measuring */
	measure(OP_NEW_THREAD_MUTEX);
	n->r = iol_wait(n->m, 0);
	if (n->r == 0)
		n->r = iol_mutex_release(n->m);
	measure(OP_NONE);
	return NULL;
}

static int child(void *arg)
{
	const char *table = arg;
	struct newthr nt;
	struct iol_info info;
	struct holder hold;
	pthread_t th;
	iol_table *t;
	int m, m2, ea, em, s, s2, hs[3], mh;

	CHILD_CHECK(iol_table_open(table, NULL, &t) == 0);
	m = iol_mutex_open(t, "m", IOL_CREATE, false);
	m2 = iol_mutex_open(t, "m2", IOL_CREATE, false);
	ea = iol_event_open(t, NULL, 0, false, false);
	em = iol_event_open(t, NULL, 0, true, false);
	s = iol_semaphore_open(t, NULL, 0, 0, 1000000);
	s2 = iol_semaphore_open(t, NULL, 0, 1, 1000000);
	CHILD_CHECK(m > 0 && m2 > 0 && ea > 0 && em > 0 && s > 0 && s2 > 0);
	/* This thread's first acquisition in the table: not measured. */
	CHILD_CHECK(iol_wait(m2, 0) == 0 && iol_mutex_release(m2) == 1);
	mh = iol_mutex_open(t, NULL, 0, false);
	CHILD_CHECK(mh > 0);
	hold.m = mh;
	atomic_store(&hold.owned, 0);
	CHILD_CHECK(pthread_create(&th, NULL, holder_main, &hold) == 0);
	while (!atomic_load(&hold.owned))
		;
	atomic_store(&res->measured, th_gettid());
	CHILD_CHECK(start_counting() == 0);

	for (int i = 0; i < ITER; i++) {
		measure(OP_MUTEX_POLL);
		CHILD_CHECK(iol_wait(m, 0) == 0);
		CHILD_CHECK(iol_mutex_release(m) == 1);
		measure(OP_MUTEX_INFINITE);
		CHILD_CHECK(iol_wait(m, IOL_INFINITE) == 0);
		CHILD_CHECK(iol_mutex_release(m) == 1);
		measure(OP_MUTEX_TIMED);
		CHILD_CHECK(iol_wait(m, 1000000000) == 0);
		CHILD_CHECK(iol_mutex_release(m) == 1);
		measure(OP_MUTEX_RECURSE);
		CHILD_CHECK(iol_wait(m, 0) == 0 && iol_wait(m, IOL_INFINITE) == 0);
		CHILD_CHECK(iol_mutex_release(m) == 2 && iol_mutex_release(m) == 1);

		measure(OP_EVENT_SET_AUTO);
		CHILD_CHECK(iol_event_set(ea) == 0);
		CHILD_CHECK(iol_event_set(ea) == 1);
		measure(OP_EVENT_POLL);
		CHILD_CHECK(iol_wait(ea, 0) == 0);
		measure(OP_EVENT_SET_MANUAL);
		CHILD_CHECK(iol_event_set(em) == 0);
		measure(OP_EVENT_POLL);
		CHILD_CHECK(iol_wait(em, 0) == 0);
		CHILD_CHECK(iol_wait(em, IOL_INFINITE) == 0);
		measure(OP_RESET);
		CHILD_CHECK(iol_event_reset(em) == 1);

		measure(OP_SEM_RELEASE);
		CHILD_CHECK(iol_semaphore_release(s, 1) == 0);
		CHILD_CHECK(iol_semaphore_release(s, 2) == 1);
		measure(OP_SEM_POLL);
		CHILD_CHECK(iol_wait(s, 0) == 0);
		CHILD_CHECK(iol_wait(s, IOL_INFINITE) == 0);
		CHILD_CHECK(iol_wait(s, 1000) == 0);

		hs[0] = ea, hs[1] = s2;
		measure(OP_WAIT_MANY_ANY);
		CHILD_CHECK(iol_wait_many(hs, 2, 0, 0) == 1);
		measure(OP_NONE);
		CHILD_CHECK(iol_semaphore_release(s2, 1) == 0);
		CHILD_CHECK(iol_event_set(ea) == 0);
		measure(OP_WAIT_ALL);
		CHILD_CHECK(iol_wait_many(hs, 2, IOL_WAIT_ALL, 0) == 0);
		measure(OP_NONE);
		CHILD_CHECK(iol_semaphore_release(s2, 1) == 0);
		measure(OP_PULSE_NO_WAITER);
		CHILD_CHECK(iol_event_pulse(ea) == 0);
		measure(OP_QUERY);
		CHILD_CHECK(iol_query(m, &info) == 0);
		measure(OP_NONE);
	}

	/* The sanity check: a wait that has to sleep is seen. */
	measure(OP_CONTENDED);
	CHILD_CHECK(iol_wait(s, 1000000) == -ETIMEDOUT);
	measure(OP_NONE);

	/* Sleeps: one futex word for one object, one futex_waitv for
	 * several, and no polling (a handful of calls in 50 ms at most). */
	measure(OP_SLEEP_EVENT);
	CHILD_CHECK(iol_wait(ea, 50000000) == -ETIMEDOUT);
	measure(OP_SLEEP_SEM);
	CHILD_CHECK(iol_wait(s, 50000000) == -ETIMEDOUT);
	hs[0] = ea, hs[1] = em, hs[2] = s;
	measure(OP_SLEEP_MANY);
	CHILD_CHECK(iol_wait_many(hs, 3, 0, 50000000) == -ETIMEDOUT);
	hs[0] = s2, hs[1] = ea;
	measure(OP_SLEEP_ALL);
	CHILD_CHECK(iol_wait_many(hs, 2, IOL_WAIT_ALL, 50000000) == -ETIMEDOUT);
	measure(OP_SLEEP_MUTEX);
	CHILD_CHECK(iol_wait(mh, 50000000) == -ETIMEDOUT);
	measure(OP_SET_AFTER_TIMEOUT);
	CHILD_CHECK(iol_event_set(ea) == 0);
	measure(OP_RELEASE_AFTER_TIMEOUT);
	CHILD_CHECK(iol_semaphore_release(s, 1) == 0);
	measure(OP_NONE);

	nt.m = m;
	CHILD_CHECK(pthread_create(&th, NULL, new_thread_acquire, &nt) == 0);
	CHILD_CHECK(pthread_join(th, NULL) == 0);
	res->new_thread_result = nt.r;
	res->ready = 1;
	_exit(0);
}

static void test_uncontended_paths_make_no_syscall(void **state)
{
	struct th_tab tt;
	int st;

	(void)state;
	res = th_shared(sizeof(*res));
	th_tab_new(&tt, "fastpath", 0);
	st = th_run(child, tt.name);
	if (res->failed_line)
		fail_msg("the measuring child failed at line %d", res->failed_line);
	assert_int_equal(st, 0);
	assert_int_equal(res->ready, 1);
	for (uint32_t i = 0; i < atomic_load(&res->nrec) && i < MAXREC; i++) {
		char *nm = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, res->rec_nr[i]);

		if (res->rec_op[i] != OP_CONTENDED &&
		    (res->rec_op[i] < OP_SLEEP_FIRST || res->rec_op[i] >= OP_SLEEP_END))
			print_message("system call %s (%d) during: %s\n", nm ? nm : "?",
				      res->rec_nr[i], op_name[res->rec_op[i]]);
		free(nm);
	}
	for (int op = 1; op < NOPS; op++)
		print_message("%-45s %5u system calls%s\n", op_name[op],
			      atomic_load(&res->calls[op]),
			      op >= OP_INFO_FIRST && op < OP_SLEEP_FIRST ? " (reported only)" : "");
	print_message("(%d rounds of each; the new thread's acquisition returned %d)\n", ITER,
		      res->new_thread_result);
	/* The counting works: the wait that slept was seen. */
	assert_true(atomic_load(&res->calls[OP_CONTENDED]) >= 1);
	for (int op = 1; op < OP_INFO_FIRST; op++)
		if (atomic_load(&res->calls[op]) != 0)
			fail_msg("%s made %u system calls in %d rounds", op_name[op],
				 atomic_load(&res->calls[op]), ITER);
	for (int op = OP_SET_AFTER_TIMEOUT; op < NOPS; op++)
		if (atomic_load(&res->calls[op]) != 0)
			fail_msg("%s made %u system calls", op_name[op],
				 atomic_load(&res->calls[op]));
	/* Each sleep: at least one call, at most a few (no polling), and of
	 * the right kind: futex for one word, futex_waitv for several (a
	 * mutex wait also watches its owner's liveness word: either). */
	for (int op = OP_SLEEP_FIRST; op < OP_SLEEP_END; op++) {
		uint32_t n = atomic_load(&res->calls[op]);
		char kinds[256] = "";

		for (uint32_t i = 0; i < atomic_load(&res->nrec) && i < MAXREC; i++) {
			char *nm;

			if (res->rec_op[i] != op)
				continue;
			nm = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, res->rec_nr[i]);
			snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), " %s",
				 nm ? nm : "?");
			if (op == OP_SLEEP_EVENT || op == OP_SLEEP_SEM) {
				if (res->rec_nr[i] != SYS_futex)
					fail_msg("%s: %s", op_name[op], nm ? nm : "?");
			} else if (op != OP_SLEEP_MUTEX) {
				if (res->rec_nr[i] != SYS_futex_waitv)
					fail_msg("%s: %s", op_name[op], nm ? nm : "?");
			} else if (res->rec_nr[i] != SYS_futex &&
				   res->rec_nr[i] != SYS_futex_waitv) {
				fail_msg("%s: %s", op_name[op], nm ? nm : "?");
			}
			free(nm);
		}
		print_message("%s:%s\n", op_name[op], kinds);
		if (n < 1 || n > 3)
			fail_msg("%s made %u system calls", op_name[op], n);
	}
	th_unshared(res, sizeof(*res));
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_uncontended_paths_make_no_syscall,
				      th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
