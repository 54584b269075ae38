/* SPDX-License-Identifier: MIT */
/*
 * Process features: pidfd_open, clone3 with CLONE_PIDFD, waitid(P_PIDFD),
 * pidfd_send_signal, PIDFD_GET_INFO with exit information, and pidfs.
 *
 * The probe spawns one child that exits at once with a known status and
 * reaps it through its pidfd.  The child is created with exit_signal 0: no
 * SIGCHLD reaches the application, and a waitpid(-1) reaper in the
 * application (which does not pass __WALL) cannot steal it.  The child
 * makes no library call; it only exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "src/compat.h"
#include "src/probe/probe_internal.h"

#define CHILD_STATUS	     7
#define CLONE_ARGS_SIZE_VER0 64 /* flags..tls: all the probe uses (5.3) */

struct child {
	pid_t pid;
	int pidfd;
	int nofd_err; /* pidfd < 0: why (ENOSYS: no call gives one) */
};

/* Record id missing because the child came without a pidfd.  When that was
 * for lack of descriptors (EMFILE...), the error says so, and the probe is
 * tried again later (probe.c) rather than the feature taken as missing. */
static void no_pidfd(struct iol_features *f, enum iol_feature id, const struct child *c,
		     const char *what)
{
	char eb[16];

	if (c->nofd_err == ENOSYS)
		ioli_feat_missing(f, id, ENOSYS,
				  "no pidfd to %s (clone3 and pidfd_open are missing)", what);
	else
		ioli_feat_missing(f, id, c->nofd_err, "no pidfd to %s: pidfd_open: %s", what,
				  ioli_errno_name(c->nofd_err, eb));
}

static void child_exit(void)
{
	syscall(SYS_exit_group, CHILD_STATUS);
	for (;;)
		;
}

/* clone3(CLONE_PIDFD); records IOL_FEAT_CLONE3_PIDFD.  0 or -errno. */
static int spawn_clone3(struct iol_features *f, struct child *c)
{
	struct clone_args args;
	int pidfd = -1;
	char eb[16];
	long r;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&pidfd;
	args.exit_signal = 0;
	r = syscall(SYS_clone3, &args, (size_t)CLONE_ARGS_SIZE_VER0);
	if (r == 0)
		child_exit();
	if (r < 0) {
		int err = errno;

		ioli_feat_missing(f, IOL_FEAT_CLONE3_PIDFD, err, "clone3: %s (%s)",
				  ioli_errno_name(err, eb), ioli_missing_why(err));
		return -err;
	}
	c->pid = (pid_t)r;
	c->pidfd = pidfd;
	if (pidfd < 0) {
		ioli_feat_missing(f, IOL_FEAT_CLONE3_PIDFD, EPROTO,
				  "clone3 created a child but returned no pidfd");
		return 0;
	}
	ioli_feat_ok(f, IOL_FEAT_CLONE3_PIDFD);
	return 0;
}

/* Without clone3: a fork-like clone with no exit signal and no atfork
 * handlers, then pidfd_open on it (a zombie keeps its pid until reaped). */
static int spawn_clone_pidfd_open(struct child *c)
{
	long r = syscall(SYS_clone, 0UL, NULL, NULL, NULL, 0UL);

	if (r == 0)
		child_exit();
	if (r < 0)
		return -errno;
	c->pid = (pid_t)r;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0)
		c->nofd_err = errno;
	return 0;
}

/* waitid(P_PIDFD) on the child; records IOL_FEAT_WAITID_PIDFD.  The child
 * is reaped whatever happens. */
static void reap_child(struct iol_features *f, struct child *c)
{
	siginfo_t si;
	char eb[16];
	long r = -1;
	int err = EBADF;

	memset(&si, 0, sizeof(si));
	if (c->pidfd >= 0) {
		r = syscall(SYS_waitid, IOLI_P_PIDFD, c->pidfd, &si, WEXITED | __WALL, NULL);
		err = r < 0 ? errno : 0;
	}
	if (r == 0 && si.si_pid == c->pid && si.si_code == CLD_EXITED &&
	    si.si_status == CHILD_STATUS) {
		ioli_feat_ok(f, IOL_FEAT_WAITID_PIDFD);
		return;
	}
	if (c->pidfd < 0)
		no_pidfd(f, IOL_FEAT_WAITID_PIDFD, c, "wait on");
	else if (r == 0)
		ioli_feat_missing(f, IOL_FEAT_WAITID_PIDFD, EPROTO,
				  "waitid(P_PIDFD) reported the wrong child or status");
	else
		ioli_feat_missing(f, IOL_FEAT_WAITID_PIDFD, err, "waitid(P_PIDFD): %s (%s)",
				  ioli_errno_name(err, eb), ioli_missing_why(err));
	if (r != 0)
		while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
}

/* PIDFD_GET_INFO asking for the exit status of the reaped child. */
static void probe_get_info(struct iol_features *f, const struct child *c)
{
	struct pidfd_info info;
	char eb[16];
	int err;

	if (c->pidfd < 0) {
		no_pidfd(f, IOL_FEAT_PIDFD_GET_INFO, c, "ask");
		return;
	}
	memset(&info, 0, sizeof(info));
	info.mask = PIDFD_INFO_EXIT;
	if (ioctl(c->pidfd, PIDFD_GET_INFO, &info) < 0) {
		err = errno;
		if (err == ESRCH)
			ioli_feat_missing(f, IOL_FEAT_PIDFD_GET_INFO, err,
					  "PIDFD_GET_INFO: ESRCH for a reaped child: the ioctl "
					  "exists (6.13) but gives no exit information");
		else
			ioli_feat_missing(
			    f, IOL_FEAT_PIDFD_GET_INFO, err,
			    "PIDFD_GET_INFO: %s (the kernel lacks the ioctl, or it is "
			    "refused)",
			    ioli_errno_name(err, eb));
		return;
	}
	if (!(info.mask & PIDFD_INFO_EXIT)) {
		ioli_feat_missing(f, IOL_FEAT_PIDFD_GET_INFO, EOPNOTSUPP,
				  "PIDFD_GET_INFO answered without PIDFD_INFO_EXIT");
		return;
	}
	if (!WIFEXITED(info.exit_code) || WEXITSTATUS(info.exit_code) != CHILD_STATUS) {
		ioli_feat_missing(f, IOL_FEAT_PIDFD_GET_INFO, EPROTO,
				  "PIDFD_GET_INFO reported exit code %#x, expected status %d",
				  (unsigned)info.exit_code, CHILD_STATUS);
		return;
	}
	ioli_feat_ok(f, IOL_FEAT_PIDFD_GET_INFO);
}

/* pidfs: pidfds live on their own filesystem with one inode per process
 * (before 6.9 every pidfd shared one anonymous inode). */
static void probe_pidfs(struct iol_features *f, const struct child *c, int selffd)
{
	struct statfs sfs;
	struct stat a, b;
	char eb[16];

	if (c->pidfd < 0) {
		no_pidfd(f, IOL_FEAT_PIDFS, c, "inspect");
		return;
	}
	if (fstatfs(c->pidfd, &sfs) < 0 || fstat(c->pidfd, &a) < 0) {
		int err = errno;

		ioli_feat_missing(f, IOL_FEAT_PIDFS, err, "fstat of a pidfd: %s",
				  ioli_errno_name(err, eb));
		return;
	}
	if ((unsigned long)sfs.f_type != PID_FS_MAGIC) {
		ioli_feat_missing(f, IOL_FEAT_PIDFS, EOPNOTSUPP,
				  "pidfds are anonymous inodes (statfs type %#lx), not pidfs",
				  (unsigned long)sfs.f_type);
		return;
	}
	if (selffd >= 0 && fstat(selffd, &b) == 0 && a.st_ino == b.st_ino) {
		ioli_feat_missing(f, IOL_FEAT_PIDFS, EOPNOTSUPP,
				  "two processes' pidfds share inode %llu",
				  (unsigned long long)a.st_ino);
		return;
	}
	ioli_feat_ok(f, IOL_FEAT_PIDFS);
}

static void probe_send_signal(struct iol_features *f, int fd, int open_err)
{
	char eb[16];

	if (fd < 0) {
		ioli_feat_missing(f, IOL_FEAT_PIDFD_SEND_SIGNAL, open_err,
				  "no pidfd to signal (pidfd_open is missing)");
		return;
	}
	/* Signal 0: permission and existence check, nothing is delivered. */
	if (syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) == 0) {
		ioli_feat_ok(f, IOL_FEAT_PIDFD_SEND_SIGNAL);
		return;
	}
	int err = errno;
	ioli_feat_missing(f, IOL_FEAT_PIDFD_SEND_SIGNAL, err, "pidfd_send_signal: %s (%s)",
			  ioli_errno_name(err, eb), ioli_missing_why(err));
}

void ioli_probe_proc(struct iol_features *f)
{
	struct child c = {.pid = -1, .pidfd = -1, .nofd_err = ENOSYS};
	int open_err = 0;
	char eb[16];
	int selffd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (selffd >= 0) {
		ioli_feat_ok(f, IOL_FEAT_PIDFD_OPEN);
	} else {
		open_err = errno;
		ioli_feat_missing(f, IOL_FEAT_PIDFD_OPEN, open_err, "pidfd_open: %s (%s)",
				  ioli_errno_name(open_err, eb), ioli_missing_why(open_err));
	}
	probe_send_signal(f, selffd, open_err);

	if (spawn_clone3(f, &c) < 0 && spawn_clone_pidfd_open(&c) < 0) {
		int err = errno;

		ioli_feat_missing(f, IOL_FEAT_WAITID_PIDFD, err, "could not create a test child");
		ioli_feat_missing(f, IOL_FEAT_PIDFD_GET_INFO, err, "could not create a test child");
		ioli_feat_missing(f, IOL_FEAT_PIDFS, err, "could not create a test child");
	} else {
		probe_pidfs(f, &c, selffd);
		reap_child(f, &c);
		probe_get_info(f, &c);
		if (c.pidfd >= 0)
			close(c.pidfd);
	}
	if (selffd >= 0)
		close(selffd);
}
