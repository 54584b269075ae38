/* SPDX-License-Identifier: MIT */
/*
 * iol_process_open (issue 5, include/iolayer/process.h): any process of
 * this user, not only children (a grandchild, a sibling, our own plain
 * child), one object per process in the table, -ESRCH for a reaped pid,
 * -EPERM for another user's process, exit status of a non-child (from
 * PIDFD_GET_INFO, else -ENODATA), and pid reuse: a pid that ended and was
 * reused by a new process gives -ESRCH or the new process, never the old
 * one's state.
 *
 * Pid reuse is forced, not hoped for: in a new PID namespace (as root)
 * the test sets /proc/sys/kernel/ns_last_pid so the next fork gets the
 * old pid; without that it tries the same in the current namespace a
 * bounded number of times.  Both identity schemes are exercised: pidfs
 * inodes, and (re-executing this program with IOLAYER_DISABLE=pidfs) the
 * start-time fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/proc_helpers.h"

static struct ph_tab tab;

static int setup(void **state)
{
	(void)state;
	ph_tab_new(&tab, "popen");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ph_tab_del(&tab);
	return 0;
}

/* The exit status of a non-child, once its parent reaped it. */
static void expect_nonchild_status(int h, int code)
{
	struct iol_exit_status es;

	if (iol_has(IOL_FEAT_PIDFD_GET_INFO)) {
		memset(&es, 0xa5, sizeof(es));
		assert_int_equal(iol_process_exit_status(h, &es), 0);
		assert_true(es.exited);
		assert_int_equal(es.code, code);
		assert_int_equal(es.signal, 0);
	} else {
		assert_int_equal(iol_process_exit_status(h, &es), -ENODATA);
	}
}

/* ---- non-children ---------------------------------------------------- */

struct grand {
	int in_r, in_w; /* the grandchild reads in_r */
	int up_w;	/* to the test: the grandchild's pid, then "reaped" */
};

static int grand_parent(void *arg)
{
	struct grand *g = arg;
	pid_t gc;
	int st;

	close(g->in_w);
	gc = fork();
	if (gc < 0)
		return 1;
	if (gc == 0) {
		char c;

		while (read(g->in_r, &c, 1) > 0)
			;
		_exit(5);
	}
	close(g->in_r);
	PH_CHECK_EQ(ph_send_int(g->up_w, gc), 0);
	PH_CHECK_EQ(waitpid(gc, &st, 0), gc);
	PH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5);
	PH_CHECK_EQ(ph_send_int(g->up_w, 0), 0);
	return 0;
}

static void test_open_grandchild(void **state)
{
	struct ph_waiter w = {.n = 1};
	struct iol_exit_status es;
	struct iol_info info;
	struct grand g;
	int in[2], up[2], h;
	long long gc, reaped;
	pid_t kid;

	(void)state;
	ph_pipe(in);
	ph_pipe(up);
	g = (struct grand){.in_r = in[0], .in_w = in[1], .up_w = up[1]};
	kid = ph_fork(grand_parent, &g);
	close(in[0]);
	close(up[1]);
	assert_int_equal(ph_recv_int(up[0], &gc, PH_LONG_MS), 0);
	assert_int_equal(ph_proc_ppid((pid_t)gc), kid); /* not ours */

	h = iol_process_open(tab.t, (pid_t)gc);
	assert_true(h > 0);
	assert_int_equal(iol_process_pid(h), gc);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_PROCESS);
	assert_int_equal(info.u.process.pid, gc);
	assert_false(info.u.process.ended);
	assert_int_equal(iol_process_exit_status(h, &es), -EBUSY);
	assert_int_equal(iol_process_kill(h, 0), 0);
	assert_int_equal(iol_wait(h, 0), -ETIMEDOUT);
	/* A sleeping waiter is woken by the grandchild's end. */
	w.handles[0] = h;
	ph_waiter_start(&w);
	close(in[1]);
	assert_int_equal(ph_waiter_join(&w), 0);
	assert_int_equal(iol_wait(h, 0), 0);
	assert_int_equal(ph_recv_int(up[0], &reaped, PH_LONG_MS), 0);
	expect_nonchild_status(h, 5);
	assert_int_equal(iol_process_kill(h, 0), -ESRCH);
	close(up[0]);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 0);
	iol_close(h);
}

/* A sibling: another child of the test opens it by pid and waits. */
struct sib {
	const char *table;
	pid_t target;
	int up_w, down_r, in_w;
};

static int sibling_main(void *arg)
{
	struct sib *s = arg;
	struct iol_exit_status es;
	long long go;
	iol_table *t;
	int h;

	close(s->in_w);
	PH_CHECK_EQ(iol_table_open(s->table, NULL, &t), 0);
	h = iol_process_open(t, s->target);
	PH_CHECK(h > 0);
	PH_CHECK_EQ(iol_process_pid(h), s->target);
	PH_CHECK_EQ(iol_process_exit_status(h, &es), -EBUSY);
	PH_CHECK_EQ(ph_send_int(s->up_w, 1), 0);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	PH_CHECK_EQ(ph_recv_int(s->down_r, &go, PH_LONG_MS), 0); /* it was reaped */
	if (iol_has(IOL_FEAT_PIDFD_GET_INFO)) {
		PH_CHECK_EQ(iol_process_exit_status(h, &es), 0);
		PH_CHECK(es.exited);
		PH_CHECK_EQ(es.code, 11);
	} else {
		PH_CHECK_EQ(iol_process_exit_status(h, &es), -ENODATA);
	}
	iol_close(h);
	iol_table_close(t);
	return 0;
}

static void test_open_sibling(void **state)
{
	struct sib s = {.table = tab.name};
	int up[2], down[2], st;
	long long ready;
	pid_t a, b;

	(void)state;
	a = ph_fork_reader(11, &s.in_w);
	s.target = a;
	ph_pipe(up);
	ph_pipe(down);
	s.up_w = up[1];
	s.down_r = down[0];
	b = ph_fork(sibling_main, &s);
	close(up[1]);
	close(down[0]);
	assert_int_equal(ph_recv_int(up[0], &ready, PH_LONG_MS), 0);
	assert_true(ph_wait_futex(b, b, PH_LONG_MS));
	close(s.in_w);
	/* We are a's parent and reap it; iolayer in b must not need to. */
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_int_equal(WEXITSTATUS(st), 11);
	assert_int_equal(ph_send_int(down[1], 1), 0);
	assert_int_equal(ph_reap(b, PH_LONG_MS), 0);
	close(up[0]);
	close(down[1]);
}

/* Opening a child iolayer spawned gives a handle to the same object, which
 * has the status iolayer reaped. */
static void test_open_spawned_same_object(void **state)
{
	char *argv[] = {"sh", "-c", "read x; exit 12", NULL};
	struct iol_spawn_opts o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	struct iol_exit_status es;
	struct iol_info a, b;
	int p[2], hs, ho;

	(void)state;
	ph_pipe(p);
	o.stdin_fd = p[0];
	hs = iol_process_spawn(tab.t, "/bin/sh", argv, &o);
	close(p[0]);
	assert_true(hs > 0);
	assert_int_equal(iol_query(hs, &a), 0);
	ho = iol_process_open(tab.t, iol_process_pid(hs));
	assert_true(ho > 0);
	assert_int_equal(iol_query(ho, &b), 0);
	assert_int_equal(b.refs, a.refs + 1);
	assert_int_equal(b.u.process.pid, a.u.process.pid);
	/* Closing the spawn handle leaves the opened one working. */
	assert_int_equal(iol_close(hs), 0);
	assert_int_equal(iol_process_exit_status(ho, &es), -EBUSY);
	close(p[1]);
	assert_int_equal(iol_wait(ho, PH_LONG_NS), 0);
	assert_int_equal(iol_process_exit_status(ho, &es), 0);
	assert_true(es.exited);
	assert_int_equal(es.code, 12);
	iol_close(ho);
}

/* Our own plain child is "a process of this user" too; opening it does
 * not make iolayer reap it. */
static void test_open_own_plain_child(void **state)
{
	int in_w, h, st;
	pid_t pid;

	(void)state;
	pid = ph_fork_reader(13, &in_w);
	h = iol_process_open(tab.t, pid);
	assert_true(h > 0);
	assert_int_equal(iol_process_pid(h), pid);
	close(in_w);
	assert_int_equal(iol_wait(h, PH_LONG_NS), 0);
	assert_int_equal(ph_proc_state(pid), 'Z'); /* not reaped behind our back */
	/* "-ESRCH once the process ended", a zombie included (kill(2) would
	 * still succeed on it). */
	assert_int_equal(kill(pid, 0), 0);
	assert_int_equal(iol_process_kill(h, 0), -ESRCH);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 13);
	expect_nonchild_status(h, 13);
	iol_close(h);
}

static void test_open_reaped_is_esrch(void **state)
{
	int in_w;
	pid_t pid;

	(void)state;
	pid = ph_fork_reader(0, &in_w);
	close(in_w);
	assert_int_equal(ph_reap(pid, PH_LONG_MS), 0);
	assert_int_equal(iol_process_open(tab.t, pid), -ESRCH);
	/* And our own pid, our parent's: fine (alive, ours). */
	{
		int h = iol_process_open(tab.t, getpid());

		assert_true(h > 0);
		assert_int_equal(iol_process_pid(h), getpid());
		assert_int_equal(iol_wait(h, 0), -ETIMEDOUT);
		iol_close(h);
	}
}

/*
 * "If the table already has an object for that very process (spawned or
 * opened by anyone), the handle names it": two opens of one process, even
 * when the process changed in between (here: its address space grew),
 * name one object.  Run here and, re-executed with IOLAYER_DISABLE=pidfs,
 * with the start-time identity.
 */
static int same_object_scenario(void)
{
	struct iol_table_opts priv = {.flags = IOL_TABLE_PRIVATE};
	int cmd[2], ack[2], h1, h2;
	struct iol_info i1, i2;
	uint64_t t1, t2;
	iol_table *t;
	long long v;
	pid_t x;

	PH_CHECK_EQ(iol_table_open(NULL, &priv, &t), 0);
	PH_CHECK_EQ(pipe2(cmd, O_CLOEXEC), 0);
	PH_CHECK_EQ(pipe2(ack, O_CLOEXEC), 0);
	x = fork();
	PH_CHECK(x >= 0);
	if (x == 0) {
		long long c;

		close(cmd[1]);
		close(ack[0]);
		/* On command: grow the address space by 256 MiB, say so, and
		 * run until the pipe closes. */
		if (ph_recv_int(cmd[0], &c, PH_LONG_MS) ||
		    mmap(NULL, 256 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
			MAP_FAILED ||
		    ph_send_int(ack[1], 1))
			_exit(1);
		while (ph_recv_int(cmd[0], &c, PH_LONG_MS) == 0)
			;
		_exit(0);
	}
	close(cmd[0]);
	close(ack[1]);
	h1 = iol_process_open(t, x);
	PH_CHECK(h1 > 0);
	PH_CHECK_EQ(ph_send_int(cmd[1], 1), 0);
	PH_CHECK_EQ(ph_recv_int(ack[0], &v, PH_LONG_MS), 0);
	h2 = iol_process_open(t, x);
	PH_CHECK(h2 > 0);
	PH_CHECK_EQ(iol_export(h1, &t1), 0);
	PH_CHECK_EQ(iol_export(h2, &t2), 0);
	PH_CHECK_EQ(iol_query(h1, &i1), 0);
	PH_CHECK_EQ(iol_query(h2, &i2), 0);
	PH_CHECK_EQ(i2.refs, 2);
	PH_CHECK_EQ(t1, t2);
	/* Both see the end. */
	close(cmd[1]);
	PH_CHECK_EQ(iol_wait(h1, PH_LONG_NS), 0);
	PH_CHECK_EQ(iol_wait(h2, 0), 0);
	PH_CHECK_EQ(waitpid(x, NULL, 0), x);
	close(ack[0]);
	iol_close(h1);
	iol_close(h2);
	iol_table_close(t);
	return 0;
}

static void test_open_twice_same_object(void **state)
{
	(void)state;
	assert_int_equal(same_object_scenario(), 0);
}

/* Run this program again as "--child mode" with IOLAYER_DISABLE=disable;
 * its exit code. */
static int reexec(const char *mode, const char *disable)
{
	pid_t kid;
	int st;

	fflush(NULL);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		setenv("IOLAYER_DISABLE", disable, 1);
		execl("/proc/self/exe", "test_process_open", "--child", mode, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_open_twice_same_object_starttime_identity(void **state)
{
	(void)state;
	assert_int_equal(reexec("same", "pidfs"), 0);
}

/* ---- another user's process ------------------------------------------ */

struct asuser {
	uid_t uid;
	pid_t target;
	int expect; /* 0: a handle; else the error */
};

static int drop_to(uid_t uid)
{
	gid_t g = (gid_t)uid;

	if (setgroups(0, NULL) || setresgid(g, g, g) || setresuid(uid, uid, uid))
		return -errno;
	return 0;
}

static int open_as_user(void *arg)
{
	struct iol_table_opts priv = {.flags = IOL_TABLE_PRIVATE};
	struct asuser *a = arg;
	iol_table *t;
	int h;

	PH_CHECK_EQ(drop_to(a->uid), 0);
	PH_CHECK_EQ(getuid(), a->uid);
	PH_CHECK_EQ(iol_table_open(NULL, &priv, &t), 0);
	h = iol_process_open(t, a->target);
	if (a->expect) {
		PH_CHECK_EQ(h, a->expect);
	} else {
		PH_CHECK(h > 0);
		PH_CHECK_EQ(iol_process_pid(h), a->target);
		PH_CHECK_EQ(iol_process_kill(h, 0), 0);
		PH_CHECK_EQ(iol_wait(h, 0), -ETIMEDOUT);
		iol_close(h);
	}
	iol_table_close(t);
	return 0;
}

static int nobody_reader(void *arg)
{
	int *fds = arg; /* [0] read end, [1] write end, [2] ready pipe write end */
	char c;

	close(fds[1]);
	if (drop_to(65534))
		return 2;
	if (ph_send_int(fds[2], 1))
		return 3;
	while (read(fds[0], &c, 1) > 0)
		;
	return 0;
}

static void test_open_other_user_eperm(void **state)
{
	struct asuser a;
	int in[2], up[2], fds[3];
	long long ready;
	pid_t x, y;

	(void)state;
	if (geteuid() != 0) {
		printf("      skip: needs root to run processes as other users\n");
		skip();
	}
	ph_pipe(in);
	ph_pipe(up);
	fds[0] = in[0];
	fds[1] = in[1];
	fds[2] = up[1];
	x = ph_fork(nobody_reader, fds);
	close(in[0]);
	close(up[1]);
	if (ph_recv_int(up[0], &ready, PH_LONG_MS) != 0) {
		close(in[1]);
		close(up[0]);
		assert_int_equal(ph_reap(x, PH_LONG_MS), 2);
		printf("      skip: cannot setuid to 65534 here\n");
		skip();
	}
	/* Another user (65533) may not open it. */
	a = (struct asuser){.uid = 65533, .target = x, .expect = -EPERM};
	y = ph_fork(open_as_user, &a);
	assert_int_equal(ph_reap(y, PH_LONG_MS), 0);
	/* Its own user may. */
	a = (struct asuser){.uid = 65534, .target = x, .expect = 0};
	y = ph_fork(open_as_user, &a);
	assert_int_equal(ph_reap(y, PH_LONG_MS), 0);
	/* And a user may not open root's processes (ours). */
	a = (struct asuser){.uid = 65534, .target = getpid(), .expect = -EPERM};
	y = ph_fork(open_as_user, &a);
	assert_int_equal(ph_reap(y, PH_LONG_MS), 0);
	close(in[1]);
	close(up[0]);
	assert_int_equal(ph_reap(x, PH_LONG_MS), 0);
}

/* ---- pid reuse ----------------------------------------------------------- */

#define SKIP_CODE 77

static int write_last_pid(pid_t last)
{
	char buf[32];
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", (int)last);
	int r;

	if (fd < 0)
		return -errno;
	r = write(fd, buf, (size_t)n) == n ? 0 : -errno;
	close(fd);
	return r;
}

/* A plain child with pid `want` that runs until *in_w is closed, made by
 * steering ns_last_pid; -1 if that did not work within `tries`. */
static pid_t fork_with_pid(pid_t want, int code, int *in_w, int tries)
{
	for (int i = 0; i < tries; i++) {
		int p[2];
		pid_t pid;

		if (pipe2(p, O_CLOEXEC))
			return -1;
		if (write_last_pid(want - 1))
			return -1;
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			char c;

			close(p[1]);
			while (read(p[0], &c, 1) > 0)
				;
			_exit(code);
		}
		close(p[0]);
		if (pid == want) {
			*in_w = p[1];
			return pid;
		}
		close(p[1]);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

/*
 * The old process's object says: ended (with its status), pid as it was,
 * kill -ESRCH, and it never signals the new process.  A fresh open of
 * the pid gives -ESRCH or a handle to the new process (running).
 * Returns 0, 1 (failed, printed) or SKIP_CODE.
 */
static int check_reused(iol_table *t, int h_old, pid_t pid, int old_code, bool old_is_child,
			int tries)
{
	struct iol_exit_status es;
	struct iol_info info;
	int in_w = -1, h_new, st;
	pid_t b;

	b = fork_with_pid(pid, 0, &in_w, tries);
	if (b < 0) {
		fprintf(stderr, "could not make a process with pid %d\n", (int)pid);
		return SKIP_CODE;
	}
	/* The old handle: still the old process. */
	PH_CHECK_EQ(iol_wait(h_old, 0), 0);
	PH_CHECK_EQ(iol_process_pid(h_old), pid);
	st = iol_process_exit_status(h_old, &es);
	if (old_is_child || iol_has(IOL_FEAT_PIDFD_GET_INFO)) {
		PH_CHECK_EQ(st, 0);
		PH_CHECK(es.exited);
		PH_CHECK_EQ(es.code, old_code);
	} else {
		PH_CHECK_EQ(st, -ENODATA);
	}
	PH_CHECK_EQ(iol_query(h_old, &info), 0);
	PH_CHECK(info.u.process.ended);
	PH_CHECK_EQ(iol_process_kill(h_old, 0), -ESRCH);
	PH_CHECK_EQ(iol_process_kill(h_old, SIGKILL), -ESRCH);
	PH_CHECK(ph_proc_state(b) != 0 && ph_proc_state(b) != 'Z'); /* not killed */
	PH_CHECK_EQ(waitpid(b, &st, WNOHANG), 0);

	/* A new open of the pid: -ESRCH or the new process, never the old. */
	h_new = iol_process_open(t, pid);
	if (h_new == -ESRCH) {
		fprintf(stderr, "(open of the reused pid: -ESRCH)\n");
	} else {
		PH_CHECK(h_new > 0);
		PH_CHECK_EQ(iol_query(h_new, &info), 0);
		PH_CHECK(!info.u.process.ended);
		PH_CHECK_EQ(iol_wait(h_new, 0), -ETIMEDOUT);
		PH_CHECK_EQ(iol_process_exit_status(h_new, &es), -EBUSY);
		PH_CHECK_EQ(iol_process_kill(h_new, 0), 0);
		PH_CHECK_EQ(iol_process_kill(h_new, SIGTERM), 0);
		PH_CHECK_EQ(iol_wait(h_new, PH_LONG_NS), 0);
		PH_CHECK_EQ(waitpid(b, &st, 0), b);
		PH_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
		if (iol_has(IOL_FEAT_PIDFD_GET_INFO)) {
			PH_CHECK_EQ(iol_process_exit_status(h_new, &es), 0);
			PH_CHECK(!es.exited);
			PH_CHECK_EQ(es.signal, SIGTERM);
		}
		iol_close(h_new);
		b = 0;
	}
	/* The old one unchanged by all this. */
	PH_CHECK_EQ(iol_query(h_old, &info), 0);
	PH_CHECK(info.u.process.ended);
	if (old_is_child) {
		PH_CHECK_EQ(iol_process_exit_status(h_old, &es), 0);
		PH_CHECK_EQ(es.code, old_code);
	}
	close(in_w);
	if (b > 0)
		PH_CHECK_EQ(waitpid(b, &st, 0), b);
	return 0;
}

/* The scenario, in whatever process runs it (pid 1 of a new namespace, or
 * a child in the current one). */
static int reuse_scenario(int tries)
{
	struct iol_table_opts priv = {.flags = IOL_TABLE_PRIVATE};
	char *argv[] = {"sh", "-c", "read x; exit 6", NULL};
	struct iol_spawn_opts o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	iol_table *t;
	int in_w, h, st, r, p[2];
	pid_t a;

	PH_CHECK_EQ(iol_table_open(NULL, &priv, &t), 0);

	/*
	 * 1: a process opened by pid (our plain child), ended and reaped.
	 * Repeated a few times: the harshest case for a start-time identity
	 * is a new process started in the same clock tick as the old one,
	 * which happens only when the machine is fast enough.
	 */
	for (int round = 0; round < 8; round++) {
		unsigned long long start_a;

		if (pipe2(p, O_CLOEXEC))
			return 1;
		a = fork();
		if (a == 0) {
			char c;

			close(p[1]);
			while (read(p[0], &c, 1) > 0)
				;
			_exit(9);
		}
		close(p[0]);
		in_w = p[1];
		h = iol_process_open(t, a);
		PH_CHECK(h > 0);
		start_a = ph_proc_starttime(a);
		close(in_w);
		PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
		PH_CHECK_EQ(waitpid(a, &st, 0), a);
		r = check_reused(t, h, a, 9, false, tries);
		if (r) {
			if (r == 1)
				fprintf(stderr,
					"(round %d; the old process started at tick %llu)\n", round,
					start_a);
			return r;
		}
		iol_close(h);
	}

	/* 2: a child iolayer spawned, ended and reaped by iolayer. */
	if (pipe2(p, O_CLOEXEC))
		return 1;
	o.stdin_fd = p[0];
	h = iol_process_spawn(t, "/bin/sh", argv, &o);
	close(p[0]);
	PH_CHECK(h > 0);
	a = iol_process_pid(h);
	close(p[1]);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	{
		unsigned long long start = ph_proc_starttime(a);

		if (start)
			PH_CHECK(ph_wait_reaped(a, start, PH_LONG_MS));
	}
	r = check_reused(t, h, a, 6, true, tries);
	if (r)
		return r;
	iol_close(h);
	iol_table_close(t);
	return 0;
}

/* pid 1 of a new PID namespace, with its own /proc. */
static int ns_init(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		fprintf(stderr, "mount /proc in the new namespace: %s\n", strerror(errno));
		return SKIP_CODE;
	}
	/* Alone in the namespace: steering ns_last_pid works first time. */
	return reuse_scenario(3);
}

static int in_new_pidns(void *arg)
{
	pid_t init;
	int st;

	(void)arg;
	if (unshare(CLONE_NEWPID | CLONE_NEWNS)) {
		fprintf(stderr, "unshare(CLONE_NEWPID|CLONE_NEWNS): %s\n", strerror(errno));
		return SKIP_CODE;
	}
	init = fork();
	if (init < 0)
		return 1;
	if (init == 0)
		_exit(ns_init());
	if (waitpid(init, &st, 0) != init)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int in_this_pidns(void *arg)
{
	(void)arg;
	/* Other processes of the machine may take the pid first: try a few
	 * times, then give up (skip). */
	return reuse_scenario(50);
}

static void run_reuse(void)
{
	pid_t kid;
	int r;

	kid = ph_fork(in_new_pidns, NULL);
	r = ph_reap(kid, 60000);
	if (r == SKIP_CODE) {
		printf("      (no new PID namespace here; steering ns_last_pid in this one)\n");
		kid = ph_fork(in_this_pidns, NULL);
		r = ph_reap(kid, 60000);
	}
	if (r == SKIP_CODE) {
		printf("      skip: cannot force a pid to be reused (ns_last_pid not writable or "
		       "always taken)\n");
		skip();
	}
	assert_int_equal(r, 0);
}

static void test_pid_reuse(void **state)
{
	(void)state;
	if (!iol_has(IOL_FEAT_PIDFS))
		printf("      (pidfs missing: this run checks the start-time identity)\n");
	run_reuse();
}

/* The same with the start-time identity, in a fresh process whose probe
 * sees IOLAYER_DISABLE=pidfs. */
static void test_pid_reuse_starttime_identity(void **state)
{
	int r;

	(void)state;
	r = reexec("reuse", "pidfs");
	if (r == SKIP_CODE) {
		printf("      skip: cannot force a pid to be reused here\n");
		skip();
	}
	assert_int_equal(r, 0);
}

/*
 * Without PIDFD_GET_INFO, a process that is not the parent learns a
 * spawned child's status because the parent, attached to the table,
 * posts it: here a forked process opens our spawned child by pid.
 */
static int nodata_opener(void *arg)
{
	const char *name = arg;
	struct iol_exit_status es;
	long long pid;
	iol_table *t;
	int h;

	PH_CHECK_EQ(iol_table_open(name, NULL, &t), 0);
	PH_CHECK_EQ(ph_recv_int(0, &pid, PH_LONG_MS), 0);
	h = iol_process_open(t, (pid_t)pid);
	PH_CHECK(h > 0);
	PH_CHECK_EQ(ph_send_int(1, 1), 0);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	PH_CHECK_EQ(iol_process_exit_status(h, &es), 0);
	PH_CHECK(es.exited);
	PH_CHECK_EQ(es.code, 8);
	iol_close(h);
	iol_table_close(t);
	return 0;
}

static int nodata_posted_by_parent(void)
{
	char *argv[] = {"sh", "-c", "read x; exit 8", NULL};
	struct iol_spawn_opts o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	int in[2], down[2], up[2], h, st;
	char name[65];
	long long v;
	iol_table *t;
	pid_t k;

	snprintf(name, sizeof(name), "popen-nodata-%d", (int)getpid());
	PH_CHECK_EQ(iol_table_open(name, NULL, &t), 0);
	PH_CHECK_EQ(pipe2(in, O_CLOEXEC), 0);
	PH_CHECK_EQ(pipe2(down, O_CLOEXEC), 0);
	PH_CHECK_EQ(pipe2(up, O_CLOEXEC), 0);
	o.stdin_fd = in[0];
	h = iol_process_spawn(t, "/bin/sh", argv, &o);
	close(in[0]);
	PH_CHECK(h > 0);
	fflush(NULL);
	k = fork();
	PH_CHECK(k >= 0);
	if (k == 0) {
		close(in[1]);
		if (dup2(down[0], 0) != 0 || dup2(up[1], 1) != 1)
			_exit(1);
		_exit(nodata_opener(name));
	}
	close(down[0]);
	close(up[1]);
	PH_CHECK_EQ(ph_send_int(down[1], iol_process_pid(h)), 0);
	PH_CHECK_EQ(ph_recv_int(up[0], &v, PH_LONG_MS), 0);
	close(in[1]);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	PH_CHECK_EQ(waitpid(k, &st, 0), k);
	PH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(down[1]);
	close(up[0]);
	iol_close(h);
	iol_table_close(t);
	PH_CHECK_EQ(iol_table_unlink(name), 0);
	return 0;
}

/* -ENODATA, documented for a non-child whose end nobody attached could
 * learn (no PIDFD_GET_INFO): in a fresh process with it disabled. */
static int child_nodata(void)
{
	struct iol_table_opts priv = {.flags = IOL_TABLE_PRIVATE};
	char *argv[] = {"sh", "-c", "exit 4", NULL};
	struct iol_exit_status es;
	iol_table *t;
	int p[2], h, st;
	pid_t a;

	PH_CHECK(!iol_has(IOL_FEAT_PIDFD_GET_INFO));
	PH_CHECK_EQ(iol_table_open(NULL, &priv, &t), 0);
	PH_CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	a = fork();
	if (a == 0) {
		char c;

		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(3);
	}
	close(p[0]);
	h = iol_process_open(t, a);
	PH_CHECK(h > 0);
	close(p[1]);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	PH_CHECK_EQ(waitpid(a, &st, 0), a);
	PH_CHECK_EQ(iol_process_exit_status(h, &es), -ENODATA);
	iol_close(h);
	/* A spawned child's status still comes from waitid. */
	h = iol_process_spawn(t, "/bin/sh", argv, NULL);
	PH_CHECK(h > 0);
	PH_CHECK_EQ(iol_wait(h, PH_LONG_NS), 0);
	PH_CHECK_EQ(iol_process_exit_status(h, &es), 0);
	PH_CHECK(es.exited);
	PH_CHECK_EQ(es.code, 4);
	iol_close(h);
	iol_table_close(t);
	return nodata_posted_by_parent();
}

static void test_nonchild_status_enodata(void **state)
{
	(void)state;
	assert_int_equal(reexec("nodata", "pidfd_get_info"), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_grandchild, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_sibling, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_spawned_same_object, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_own_plain_child, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_reaped_is_esrch, setup, teardown),
	    cmocka_unit_test(test_open_twice_same_object),
	    cmocka_unit_test(test_open_twice_same_object_starttime_identity),
	    cmocka_unit_test(test_open_other_user_eperm),
	    cmocka_unit_test(test_pid_reuse),
	    cmocka_unit_test(test_pid_reuse_starttime_identity),
	    cmocka_unit_test(test_nonchild_status_enodata),
	};

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		if (strcmp(argv[2], "reuse") == 0) {
			pid_t kid = fork();
			int st;

			if (kid == 0)
				_exit(in_new_pidns(NULL));
			waitpid(kid, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_CODE) {
				kid = fork();
				if (kid == 0)
					_exit(in_this_pidns(NULL));
				waitpid(kid, &st, 0);
			}
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
		}
		if (strcmp(argv[2], "nodata") == 0)
			return child_nodata();
		if (strcmp(argv[2], "same") == 0)
			return iol_has(IOL_FEAT_PIDFS) ? 3 : same_object_scenario();
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
