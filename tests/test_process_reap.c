/* SPDX-License-Identifier: MIT */
/*
 * Who reaps whom (issue 5, "No zombies"): a child spawned through iolayer
 * is reaped once it has ended even when every handle to it was closed
 * while it ran (checked in /proc), and only children iolayer spawned are
 * ever reaped: the application's own children stay waitable by its own
 * waitpid, its waitpid(-1) never steals (or sees) iolayer's children, and
 * it receives no SIGCHLD for them, even when it ignores SIGCHLD.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/proc_helpers.h"

static struct ph_tab tab;

static int setup(void **state)
{
	(void)state;
	ph_tab_new(&tab, "reap");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (tab.t || tab.name[0])
		ph_tab_del(&tab);
	memset(&tab, 0, sizeof(tab));
	return 0;
}

/* A `sh -c script` child reading a pipe whose write end is *in_w. */
static int start_reader(iol_table *t, const char *script, int *in_w)
{
	struct iol_spawn_opts o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	int p[2], h;

	ph_pipe(p);
	o.stdin_fd = p[0];
	h = iol_process_spawn(t, "/bin/sh", argv, &o);
	close(p[0]);
	assert_true(h > 0);
	*in_w = p[1];
	return h;
}

/* A plain fork()ed child of ours that exits with `code` once *in_w is
 * closed. */
static pid_t fork_reader(int code, int *in_w)
{
	int p[2];
	pid_t pid;

	ph_pipe(p);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(code);
	}
	close(p[0]);
	*in_w = p[1];
	return pid;
}

/* ---- no zombies --------------------------------------------------------- */

static void test_reaped_after_handles_closed(void **state)
{
	unsigned long long start;
	int in_w, h, d;
	pid_t pid;

	(void)state;
	h = start_reader(tab.t, "read x; exit 4", &in_w);
	d = iol_dup(h);
	assert_true(d > 0);
	pid = iol_process_pid(h);
	start = ph_proc_starttime(pid);
	assert_true(start > 0);
	assert_int_equal(ph_proc_ppid(pid), getpid());
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_close(d), 0);
	assert_true(ph_proc_state(pid) != 0); /* still running */
	assert_true(ph_proc_state(pid) != 'Z');
	close(in_w); /* now it ends, with nobody holding a handle */
	if (!ph_wait_reaped(pid, start, PH_LONG_MS)) {
		fprintf(stderr, "child %d still exists in state %c\n", (int)pid,
			ph_proc_state(pid));
		fail();
	}
}

/* The same when the whole table was closed while the child ran. */
static void test_reaped_after_table_closed(void **state)
{
	unsigned long long start;
	int in_w, h;
	pid_t pid;

	(void)state;
	h = start_reader(tab.t, "read x; exit 4", &in_w);
	pid = iol_process_pid(h);
	start = ph_proc_starttime(pid);
	assert_int_equal(iol_table_close(tab.t), 0);
	tab.t = NULL;
	close(in_w);
	assert_true(ph_wait_reaped(pid, start, PH_LONG_MS));
}

/* Many short children, every handle closed at once: none is left, in any
 * state. */
static void test_many_reaped(void **state)
{
	enum { N = 32 };
	char *argv[] = {"true", NULL};
	unsigned long long start[N];
	pid_t pid[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		int h = iol_process_spawn(tab.t, "/bin/true", argv, NULL);

		assert_true(h > 0);
		pid[i] = iol_process_pid(h);
		start[i] = ph_proc_starttime(pid[i]); /* 0 if already reaped */
		assert_int_equal(iol_close(h), 0);
	}
	for (int i = 0; i < N; i++)
		if (start[i])
			assert_true(ph_wait_reaped(pid[i], start[i], PH_LONG_MS));
	for (int i = 0; i < N; i++) {
		pid_t kids[64];
		char st[64];
		int n = ph_children(kids, st, 64);

		for (int k = 0; k < n; k++)
			assert_true(kids[k] != pid[i]);
	}
}

/* ---- iolayer never reaps the application's children ---------------------- */

/* A plain child that has exited (a zombie) is still ours to waitpid after
 * iolayer spawned, waited, opened and watched processes, that one included. */
static void test_foreign_zombie_still_waitable(void **state)
{
	char *argv[] = {"true", NULL};
	struct iol_exit_status es;
	int64_t deadline;
	int st, h, in_w;
	pid_t pid;

	(void)state;
	pid = fork_reader(42, &in_w);
	close(in_w);
	/* Until it is a zombie. */
	deadline = ph_now_ns() + PH_LONG_NS;
	while (ph_proc_state(pid) != 'Z') {
		assert_true(ph_now_ns() < deadline);
		sched_yield();
	}
	/* iolayer activity: spawn and wait, and a handle to the zombie itself. */
	for (int i = 0; i < 3; i++) {
		h = iol_process_spawn(tab.t, "/bin/true", argv, NULL);
		assert_true(h > 0);
		assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
		iol_close(h);
	}
	h = iol_process_open(tab.t, pid);
	assert_true(h > 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0); /* it has ended */
	/* Still a zombie: nobody reaped it. */
	assert_int_equal(ph_proc_state(pid), 'Z');
	assert_int_equal(waitpid(pid, &st, WNOHANG), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
	/* Once its parent (us) reaped it, the kernel has the status for a
	 * non-child observer where PIDFD_GET_INFO exists; else -ENODATA. */
	if (iol_has(IOL_FEAT_PIDFD_GET_INFO)) {
		assert_int_equal(iol_process_exit_status(h, &es), 0);
		assert_true(es.exited);
		assert_int_equal(es.code, 42);
	} else {
		assert_int_equal(iol_process_exit_status(h, &es), -ENODATA);
	}
	iol_close(h);
}

struct app_waiter {
	pthread_t th;
	_Atomic pid_t tid;
	_Atomic bool done;
	pid_t got;
	int status, err;
};

static void *app_waiter_main(void *p)
{
	struct app_waiter *w = p;

	w->tid = ph_gettid();
	w->got = waitpid(-1, &w->status, 0);
	w->err = errno;
	w->done = true;
	return NULL;
}

/*
 * The application blocks in waitpid(-1) while an iolayer child ends: the
 * application must not get it (iolayer must, with its status), and gets
 * its own child when that one ends.
 */
static void test_app_waitpid_any_not_stolen(void **state)
{
	struct iol_exit_status es;
	struct app_waiter w = {0};
	struct timespec ts;
	int in_app, in_iol, h;
	pid_t app;

	(void)state;
	app = fork_reader(21, &in_app);
	h = start_reader(tab.t, "read x; exit 5", &in_iol);
	assert_int_equal(pthread_create(&w.th, NULL, app_waiter_main, &w), 0);
	while (!w.tid)
		sched_yield();
	assert_true(ph_wait_syscall(0, w.tid, SYS_wait4, PH_LONG_MS));
	close(in_iol);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(iol_process_exit_status(h, &es), 0);
	assert_true(es.exited);
	assert_int_equal(es.code, 5);
	/* The application's waitpid(-1) did not return for it: woken by its
	 * exit (before iolayer could reap it), it went back to sleep. */
	{
		int64_t deadline = ph_now_ns() + PH_LONG_NS;

		while (!w.done && !ph_in_syscall(0, w.tid, SYS_wait4) && ph_now_ns() < deadline)
			sched_yield();
		if (w.done)
			fprintf(stderr,
				"the application's waitpid(-1) returned %d (iolayer child %d)\n",
				(int)w.got, iol_process_pid(h));
		assert_false(w.done);
	}
	close(in_app);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += PH_LONG_MS / 1000;
	assert_int_equal(pthread_timedjoin_np(w.th, NULL, &ts), 0);
	assert_int_equal(w.got, app);
	assert_true(WIFEXITED(w.status));
	assert_int_equal(WEXITSTATUS(w.status), 21);
	/* And nothing else is there for the application to reap. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	iol_close(h);
}

/* With only iolayer children alive, the application has no child to wait
 * for: waitpid(-1) says ECHILD, it does not block on them. */
static void test_app_sees_no_iolayer_children(void **state)
{
	int in_w, h;

	(void)state;
	h = start_reader(tab.t, "read x", &in_w);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	close(in_w);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	iol_close(h);
}

/* ---- SIGCHLD ----------------------------------------------------------------- */

static bool sigchld_pending(void)
{
	sigset_t p;

	sigpending(&p);
	return sigismember(&p, SIGCHLD);
}

/*
 * With SIGCHLD blocked (in every thread of ours), a SIGCHLD sent for a
 * child would stay pending.  An iolayer child's exit is generated before
 * its pidfd turns readable, so by the time iol_wait returns a SIGCHLD for
 * it would be pending: none may be.  A plain fork()ed child shows the
 * check can fail.
 */
static void test_no_sigchld(void **state)
{
	char *argv[] = {"true", NULL};
	struct iol_exit_status es;
	sigset_t chld, old;
	struct timespec zero = {0, 0};
	int in_w, h;
	pid_t pid;

	(void)state;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &chld, &old), 0);
	while (sigtimedwait(&chld, NULL, &zero) == SIGCHLD)
		; /* leftovers from earlier tests */
	assert_false(sigchld_pending());

	h = iol_process_spawn(tab.t, "/bin/true", argv, NULL);
	assert_true(h > 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	iol_close(h);
	h = start_reader(tab.t, "read x", &in_w);
	assert_int_equal(iol_process_kill(h, SIGKILL), 0);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(iol_process_exit_status(h, &es), 0);
	assert_int_equal(es.signal, SIGKILL);
	iol_close(h);
	close(in_w);
	assert_false(sigchld_pending());

	/* The control: our own child does raise it. */
	pid = fork_reader(0, &in_w);
	close(in_w);
	assert_int_equal(ph_reap(pid, PH_LONG_MS), 0);
	assert_true(sigchld_pending());
	assert_int_equal(sigtimedwait(&chld, NULL, &zero), SIGCHLD);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

static _Atomic int handler_calls;

static void on_sigchld(int sig)
{
	(void)sig;
	handler_calls++;
}

/* A SIGCHLD handler installed by the application is not called for
 * iolayer children (and is for its own). */
static void test_sigchld_handler_not_called(void **state)
{
	struct sigaction sa = {0}, old;
	char *argv[] = {"sh", "-c", "exit 3", NULL};
	int h, in_w;
	pid_t pid;

	(void)state;
	sa.sa_handler = on_sigchld;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	handler_calls = 0;
	for (int i = 0; i < 5; i++) {
		h = iol_process_spawn(tab.t, "/bin/sh", argv, NULL);
		assert_true(h > 0);
		assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
		iol_close(h);
	}
	assert_int_equal(handler_calls, 0);
	pid = fork_reader(0, &in_w);
	close(in_w);
	assert_int_equal(ph_reap(pid, PH_LONG_MS), 0);
	/* Delivered at the latest on return from the next system call. */
	getppid();
	assert_true(handler_calls >= 1);
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

/*
 * An application that ignores SIGCHLD (so the kernel auto-reaps its
 * children) still gets iolayer children's exit statuses: they are not
 * auto-reaped away from iolayer.
 */
static void test_sigchld_ignored(void **state)
{
	struct sigaction sa = {0}, old;
	char *argv[] = {"sh", "-c", "exit 9", NULL};
	struct iol_exit_status es;
	int h;

	(void)state;
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	for (int i = 0; i < 5; i++) {
		h = iol_process_spawn(tab.t, "/bin/sh", argv, NULL);
		assert_true(h > 0);
		assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
		assert_int_equal(iol_process_exit_status(h, &es), 0);
		assert_true(es.exited);
		assert_int_equal(es.code, 9);
		iol_close(h);
	}
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reaped_after_handles_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reaped_after_table_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_reaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_zombie_still_waitable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_app_waitpid_any_not_stolen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_app_sees_no_iolayer_children, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_sigchld, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigchld_handler_not_called, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigchld_ignored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
