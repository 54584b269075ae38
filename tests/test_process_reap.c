/* SPDX-License-Identifier: MIT */
/*
 * Who reaps whom (issue 5, "No zombies"): a child spawned through iolayer
 * is reaped once it has ended even when every handle to it was closed
 * while it ran (checked in /proc), and only children iolayer spawned are
 * ever reaped: the application's own children stay waitable by its own
 * waitpid.  iolayer installs no SIGCHLD handler; an application that reaps
 * with waitpid(-1) may reap an exec'ed iolayer child first (the kernel
 * makes every exec'ed child an ordinary SIGCHLD child), and iolayer still
 * reports its end (process.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
	pid = ph_fork_reader(42, &in_w);
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
 * The application blocks in waitpid(-1) while an iolayer child ends.  Once
 * it has exec'ed, an iolayer child is an ordinary child (the kernel gives
 * every exec'ed process the exit signal SIGCHLD), so either may reap it:
 * iolayer must still report the end, with the right status when iolayer
 * reaped it or the kernel kept it (PIDFD_GET_INFO), -ENODATA otherwise
 * (process.h).  The application's own child stays the application's.
 */
static void test_app_waitpid_any_races_iolayer(void **state)
{
	struct iol_exit_status es;
	struct app_waiter w = {0};
	struct timespec ts;
	int in_app, in_iol, h, r;
	pid_t app, iolpid;

	(void)state;
	app = ph_fork_reader(21, &in_app);
	h = start_reader(tab.t, "read x; exit 5", &in_iol);
	iolpid = iol_process_pid(h);
	assert_int_equal(pthread_create(&w.th, NULL, app_waiter_main, &w), 0);
	while (!w.tid)
		sched_yield();
	assert_true(ph_wait_syscall(0, w.tid, SYS_wait4, PH_LONG_MS));
	close(in_iol);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	r = iol_process_exit_status(h, &es);
	if (r == 0) {
		assert_true(es.exited);
		assert_int_equal(es.code, 5);
	} else {
		/* Only when the application won and the kernel kept nothing. */
		assert_int_equal(r, -ENODATA);
		assert_false(iol_has(IOL_FEAT_PIDFD_GET_INFO));
	}
	close(in_app);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += PH_LONG_MS / 1000;
	assert_int_equal(pthread_timedjoin_np(w.th, NULL, &ts), 0);
	if (w.got == iolpid) {
		/* The application reaped iolayer's child; its own is still
		 * there for it. */
		assert_true(WIFEXITED(w.status));
		assert_int_equal(WEXITSTATUS(w.status), 5);
		assert_int_equal(ph_reap(app, PH_LONG_MS), 21);
	} else {
		assert_int_equal(w.got, app);
		assert_true(WIFEXITED(w.status));
		assert_int_equal(WEXITSTATUS(w.status), 21);
	}
	/* And nothing else is there for the application to reap. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	iol_close(h);
}

/* iolayer installs no SIGCHLD handler and does not touch the caller's
 * signal mask: spawning and waiting leave both as they were. */
static void test_no_sigchld_handler_installed(void **state)
{
	char *argv[] = {"true", NULL};
	struct sigaction before, after;
	sigset_t mask_before, mask_after;
	int h;

	(void)state;
	assert_int_equal(sigaction(SIGCHLD, NULL, &before), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mask_before), 0);
	for (int i = 0; i < 3; i++) {
		h = iol_process_spawn(tab.t, "/bin/true", argv, NULL);
		assert_true(h > 0);
		assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
		iol_close(h);
	}
	assert_int_equal(sigaction(SIGCHLD, NULL, &after), 0);
	assert_ptr_equal((void *)after.sa_handler, (void *)before.sa_handler);
	assert_int_equal(after.sa_flags, before.sa_flags);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mask_after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		assert_int_equal(sigismember(&mask_after, sig), sigismember(&mask_before, sig));
}

static _Atomic int handler_calls;
static _Atomic pid_t own_child;
static _Atomic int own_status = -1;

/* The documented way for an application with a SIGCHLD handler: reap its
 * own children by pid, never waitpid(-1). */
static void on_sigchld(int sig)
{
	int st;
	pid_t p = own_child;

	(void)sig;
	handler_calls++;
	if (p > 0 && waitpid(p, &st, WNOHANG) == p)
		own_status = st;
}

/* An application SIGCHLD handler that reaps by pid keeps every iolayer
 * status, and still reaps its own child. */
static void test_sigchld_handler_reaping_by_pid(void **state)
{
	struct sigaction sa = {0}, old;
	char *argv[] = {"sh", "-c", "exit 3", NULL};
	struct iol_exit_status es;
	int h, in_w;

	(void)state;
#ifdef __SANITIZE_THREAD__
	/* ThreadSanitizer runs an asynchronous handler only when the thread
	 * that received the signal next enters an intercepted call, which a
	 * thread parked in a raw futex system call never does. */
	fprintf(stderr, "skip: ThreadSanitizer defers signal handlers\n");
	skip();
#endif
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	handler_calls = 0;
	own_child = 0;
	for (int i = 0; i < 5; i++) {
		h = iol_process_spawn(tab.t, "/bin/sh", argv, NULL);
		assert_true(h > 0);
		assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
		assert_int_equal(iol_process_exit_status(h, &es), 0);
		assert_true(es.exited);
		assert_int_equal(es.code, 3);
		iol_close(h);
	}
	own_child = ph_fork_reader(4, &in_w);
	close(in_w);
	int64_t deadline = ph_now_ns() + PH_LONG_NS;
	sigset_t none;
	sigemptyset(&none);
	while (own_status == -1 && ph_now_ns() < deadline) {
		/* Sleep until a signal arrives (ppoll returns EINTR once the
		 * handler ran); the timeout only bounds the test. */
		struct timespec slice = {0, 100 * 1000 * 1000};

		ppoll(NULL, 0, &slice, &none);
	}
	assert_true(WIFEXITED(own_status));
	assert_int_equal(WEXITSTATUS(own_status), 4);
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
	    cmocka_unit_test_setup_teardown(test_app_waitpid_any_races_iolayer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_sigchld_handler_installed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigchld_handler_reaping_by_pid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigchld_ignored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
