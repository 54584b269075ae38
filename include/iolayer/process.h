/* SPDX-License-Identifier: MIT */
/*
 * Processes and threads as waitable objects of a table.
 *
 * A process handle names a process through a pidfd, never through a bare
 * pid: spawning returns the pidfd from clone() itself (CLONE_PIDFD),
 * opening checks that the pidfd's process is the one the object recorded
 * (its pidfs inode, or its start time on kernels without pidfs), and
 * signals go through pidfd_send_signal().  A pid that was reused by a new
 * process is never mistaken for the old one.
 *
 * A process object is signaled when the process ends.  It can be exported,
 * imported and waited on (iol_wait, iol_wait_many, mixed with any other
 * handle) by every process attached to the table, not only its parent.
 *
 * How it works, so you know what runs in your process: the first time a
 * process holds a process or thread handle, iolayer starts one helper
 * thread (all signals blocked) that watches the pidfds of the processes it
 * holds handles to with epoll, reaps the children iolayer spawned (with
 * waitid(P_PIDFD), never waitpid(-1)), posts their exit status into the
 * table and wakes the waiters.  iolayer installs no SIGCHLD handler and
 * never reaps a child it did not spawn.
 *
 * Children are ordinary children of the caller once they exec: the kernel
 * gives every exec'ed process the exit signal SIGCHLD, so an application
 * that reaps with waitpid(-1) or ignores SIGCHLD can reap an iolayer child
 * first.  iolayer then takes the status from PIDFD_GET_INFO where the
 * kernel keeps it (6.15), else reports the process ended with -ENODATA
 * from iol_process_exit_status.  Reap your own children by pid (or pidfd)
 * to keep every status.
 *
 * Requires pidfd_open (Linux 5.3) and CLONE_PIDFD; without them these
 * calls return -ENOSYS.  (A probe of them that ran out of descriptors or
 * memory is not taken as "missing": see iol_process_spawn.)  Errors common to handle-taking calls
 * are as in iolayer.h (-EBADF, -EINVAL for a handle of another type).
 */
#ifndef IOLAYER_PROCESS_H
#define IOLAYER_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "iolayer.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Options of iol_process_spawn.  NULL, and every field left 0, means
 * "inherit": a partly filled struct such as { .cwd = "/" } changes only
 * what it names.
 *
 * stdin_fd, stdout_fd, stderr_fd: the caller's descriptor that becomes the
 * child's 0, 1 or 2.
 *   > 0   that descriptor (dup'ed into place in the child; the caller's
 *         stays open and unchanged)
 *   0     inherit (the child's 0/1/2 is the caller's), unless flags has
 *         the field's IOL_SPAWN_*_FD0: then descriptor 0 of the caller
 *   -1    inherit too (as before 0 became the default)
 *   < -1  -EINVAL
 * flags: IOL_SPAWN_STDIN_FD0, IOL_SPAWN_STDOUT_FD0, IOL_SPAWN_STDERR_FD0,
 * each "this field's 0 means descriptor 0" (the field must then be 0);
 * e.g. { .stdout_fd = 0, .flags = IOL_SPAWN_STDOUT_FD0 } sends the child's
 * stdout to the caller's descriptor 0.  Other bits: -EINVAL.
 */
#define IOL_SPAWN_STDIN_FD0  0x1u
#define IOL_SPAWN_STDOUT_FD0 0x2u
#define IOL_SPAWN_STDERR_FD0 0x4u

struct iol_spawn_opts {
	const char *cwd;		    /* NULL = the caller's */
	char *const *envp;		    /* NULL = the caller's environment */
	int stdin_fd, stdout_fd, stderr_fd; /* 0 or -1 = inherit; see above */
	unsigned flags;			    /* IOL_SPAWN_*_FD0 */
};

struct iol_exit_status {
	bool exited; /* true: exited with `code`; false: killed by `signal` */
	int code;
	int signal;
	bool core_dumped;
};

/*
 * Start `file` with argv (argv[0] first, NULL-terminated).  A file without
 * '/' is searched in $PATH (from the caller's environment) as execvp does.
 * Returns a process handle, or:
 *   -EINVAL  t, file or argv NULL; in o, an fd below -1, unknown flags,
 *            or an IOL_SPAWN_*_FD0 flag whose field is not 0
 *   -ENOENT, -EACCES, -ENOEXEC, -ENOTDIR, -E2BIG, ...
 *            the child's errno when the program could not be started,
 *            or the cwd could not be entered, or a descriptor not dup'ed:
 *            the failed child is reaped, nothing runs
 *   -EBADF   t was closed or inherited across fork()
 *   -ENOSPC, -EMFILE, -ENOMEM, -EAGAIN (fork limits), -ENOSYS
 *            (-EMFILE, -ENFILE also when the first probe of the pidfd
 *            calls ran out of descriptors: that is not remembered, a
 *            later call probes again and may succeed)
 * The child does not inherit iolayer handles (it holds none after exec).
 */
int iol_process_spawn(iol_table *t, const char *file, char *const argv[],
		      const struct iol_spawn_opts *o);

/*
 * A handle to a running (or ended but not yet reaped) process of this
 * user, child or not.  If the table already has an object for that very
 * process (spawned or opened by anyone), the handle names it.
 * Returns a handle, or -ESRCH (no such process; it ended and was reaped;
 * or, on kernels without pidfs, its identity cannot be told from an
 * ended process that had the same pid and start time),
 * -EPERM (another user's), -EINVAL (t NULL, pid <= 0), -EBADF (t closed or
 * inherited across fork()), -ENOSPC, -ENOSYS, -ENOMEM, -EAGAIN, or -EMFILE,
 * -ENFILE (as for iol_process_spawn: retried on the next call).
 */
int iol_process_open(iol_table *t, pid_t pid);

/* The process's pid (as seen when the object was made). */
int iol_process_pid(int h);

/*
 * 0 and *out once the process ended; -EBUSY while it runs.
 * The status comes from waitid(P_PIDFD) for a child iolayer spawned
 * (posted by the parent's helper thread; every process sees it), else from
 * PIDFD_GET_INFO where the kernel has exit information (6.15), else
 * -ENODATA: the process ended but nobody attached to the table could learn
 * how (e.g. an opened non-child on an older kernel).  -EINVAL: out NULL.
 */
int iol_process_exit_status(int h, struct iol_exit_status *out);

/* Send sig (0 probes) through the pidfd.  -ESRCH once the process ended
 * (or its pid belongs to another process now), -EPERM, -EINVAL. */
int iol_process_kill(int h, int sig);

/*
 * Threads: run fn(arg) in a new thread of this process and return a
 * waitable thread handle (IOL_TYPE_THREAD), signaled when the thread
 * returns or calls pthread_exit().  The thread is detached from the
 * caller's point of view (iolayer joins it).  A thread ending while it owns
 * mutexes abandons them.  Returns a handle, or -EINVAL (t or fn NULL),
 * -EBADF (t closed or inherited across fork()), -EAGAIN (pthread_create),
 * -ENOSPC, -ENOMEM.
 */
int iol_thread_create(iol_table *t, void *(*fn)(void *), void *arg);

/*
 * The thread's result (fn's return value or pthread_exit()'s argument):
 * 0 and *out once it ended, -EBUSY while it runs, -EINVAL (out NULL).  In
 * another process the value is the pointer as the creating process knew
 * it.  If the creating process died, the thread ended with it: 0 and NULL.
 */
int iol_thread_result(int h, void **out);

#ifdef __cplusplus
}
#endif

#endif /* IOLAYER_PROCESS_H */
