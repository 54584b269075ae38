/* SPDX-License-Identifier: MIT */
/*
 * Bad arguments to every public function of include/iolayer.h,
 * include/iolayer/process.h, include/iolayer/file.h and
 * include/iolayer/probe.h give the errno their header documents: one
 * table, one row per (function, bad argument), one test running them all
 * and reporting every row that disagrees.
 *
 * The fixture holds a handle of every type, a closed handle, a handle of
 * a second table, a table closed while another thread still waits in it,
 * a full table, stale and foreign tokens, and a few files.  Rows marked
 * FORK run in a fork()ed child, where everything inherited is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/crash_helpers.h"

#define TABLE	"badargs"
#define TABLE2	"badargs2"
#define TFULL	"badargs-full"
#define TCLOSED "badargs-closed"

struct fx {
	iol_table *t, *t2, *tfull, *tclosed;
	int m, e, s, s_full, p, p_run, th, th_run, f, f_nodel, closed, h_t2, e_dup, e_closed;
	int m_max; /* a mutex held at recursion UINT32_MAX */
	/* handles whose objects were destroyed behind their back (in t2) */
	int e_stale, s_stale, m_stale, c_stale;
	uint64_t tok_stale, tok_t2, tok_far;
	pid_t gone_pid;
	char dir[PATH_MAX], file[PATH_MAX + 32], nodel[PATH_MAX + 32], noexec[PATH_MAX + 32];
	char missing[PATH_MAX + 32], link[PATH_MAX + 32], foreign[PATH_MAX + 32];
	char name256[IOL_NAME_MAX + 2], name65[66];
	int run_pipe[2];
	pthread_t waiter, th_blocker;
	int gate;	 /* event the running thread waits for */
	int pin_gate;	 /* event that keeps a wait pinned in tclosed */
	bool no_foreign; /* not root: no file of another user to try */
};

static struct fx F;

/* ---- the rows -------------------------------------------------------- */

#define NONE 0
#define FORK 1 /* run in a fork()ed child */
#define BOOL 2 /* the result is a bool / pointer-is-non-NULL, compared as 0/1 */

static char *const argv_true[] = {"true", NULL};
static const struct iol_spawn_opts bad_fd = {.stdin_fd = -2, .stdout_fd = -1, .stderr_fd = -1};
static struct iol_spawn_opts bad_cwd = {
    .cwd = "/nonexistent/dir", .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};

static void *thread_fn(void *arg)
{
	return arg;
}

static int open_with(const char *name, unsigned flags, uint32_t slots, mode_t mode)
{
	struct iol_table_opts o = {.flags = flags, .slots = slots, .mode = mode};
	iol_table *t;
	int r = iol_table_open(name, &o, &t);

	if (r == 0)
		iol_table_close(t);
	return r;
}

static int wait_many_of(const int *h, unsigned n, unsigned flags, int64_t timeout)
{
	return iol_wait_many(h, n, flags, timeout);
}

static int query_of(int h)
{
	struct iol_info info;

	return iol_query(h, &info);
}

static int exit_status_of(int h)
{
	struct iol_exit_status st;

	return iol_process_exit_status(h, &st);
}

static int thread_result_of(int h)
{
	void *out;

	return iol_thread_result(h, &out);
}

static int export_of(int h)
{
	uint64_t tok;

	return iol_export(h, &tok);
}

/* iol_file_fd in a process that imported the handle: run in a child. */
static int file_fd_imported(void)
{
	int p[2], r = INT_MIN;
	uint64_t tok;
	pid_t pid;

	if (iol_export(F.f, &tok) != 0 || pipe(p) != 0)
		return INT_MIN;
	pid = fork();
	if (pid == 0) {
		iol_table *t;

		r = iol_table_open(TABLE, NULL, &t);
		if (r == 0) {
			int h = iol_import(t, tok);

			r = h > 0 ? iol_file_fd(h) : h;
		}
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &r, sizeof(r)) != sizeof(r))
		r = INT_MIN;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return r;
}

/* clang-format off */
#define ROWS(X)                                                                                     \
/* iol_table_open */                                                                                \
X("iol_table_open", "out NULL", NONE, -EINVAL, iol_table_open(TABLE, NULL, NULL))                   \
X("iol_table_open", "empty name", NONE, -EINVAL, open_with("", 0, 0, 0))                            \
X("iol_table_open", "name with '/'", NONE, -EINVAL, open_with("a/b", 0, 0, 0))                      \
X("iol_table_open", "name of 65 bytes", NONE, -EINVAL, open_with(F.name65, 0, 0, 0))                \
X("iol_table_open", "unknown flags", NONE, -EINVAL, open_with(TABLE, 0x2, 0, 0))                    \
X("iol_table_open", "15 slots", NONE, -EINVAL, open_with("x15", 0, 15, 0))                          \
X("iol_table_open", "2^20 + 1 slots", NONE, -EINVAL, open_with("xbig", 0, IOL_TABLE_MAX_SLOTS + 1, 0)) \
X("iol_table_open", "mode beyond 07777", NONE, -EINVAL, open_with("xmode", 0, 0, 010000))           \
X("iol_table_open", "mode with group/other bits", NONE, -EINVAL, open_with("xmode", 0, 0, 0640))   \
X("iol_table_open", "a symbolic link", NONE, -ELOOP, open_with("link", 0, 0, 0))                    \
X("iol_table_open", "not a table", NONE, -EPROTO, open_with("notatable", 0, 0, 0))                  \
X("iol_table_open", "another user's file", NONE, -EACCES, open_with("foreign", 0, 0, 0))            \
/* iol_table_close, iol_table_reclaim, iol_table_unlink */                                          \
X("iol_table_close", "t NULL", NONE, -EINVAL, iol_table_close(NULL))                                \
X("iol_table_close", "t closed (a wait still running in it)", NONE, -EBADF, iol_table_close(F.tclosed)) \
X("iol_table_reclaim", "t NULL", NONE, -EINVAL, iol_table_reclaim(NULL))                            \
X("iol_table_reclaim", "t closed", NONE, -EBADF, iol_table_reclaim(F.tclosed))                      \
X("iol_table_reclaim", "t inherited across fork", FORK, -EBADF, iol_table_reclaim(F.t))             \
X("iol_table_unlink", "bad name", NONE, -EINVAL, iol_table_unlink("a b"))                           \
X("iol_table_unlink", "no such table", NONE, -ENOENT, iol_table_unlink("nosuchtable"))              \
X("iol_table_unlink", "another user's file", NONE, -EACCES, iol_table_unlink("foreign"))            \
/* iol_mutex_open */                                                                                \
X("iol_mutex_open", "t NULL", NONE, -EINVAL, iol_mutex_open(NULL, "m", IOL_CREATE, false))          \
X("iol_mutex_open", "t NULL, initial owner", NONE, -EINVAL, iol_mutex_open(NULL, "m", IOL_CREATE, true)) \
X("iol_mutex_open", "unknown flags", NONE, -EINVAL, iol_mutex_open(F.t, "m", 0x4, false))            \
X("iol_mutex_open", "IOL_EXCL without IOL_CREATE", NONE, -EINVAL, iol_mutex_open(F.t, "m", IOL_EXCL, false)) \
X("iol_mutex_open", "empty name", NONE, -EINVAL, iol_mutex_open(F.t, "", IOL_CREATE, false))        \
X("iol_mutex_open", "name of 256 bytes", NONE, -ENAMETOOLONG, iol_mutex_open(F.t, F.name256, IOL_CREATE, false)) \
X("iol_mutex_open", "missing name, no IOL_CREATE", NONE, -ENOENT, iol_mutex_open(F.t, "missing", 0, false)) \
X("iol_mutex_open", "IOL_EXCL, name exists", NONE, -EEXIST, iol_mutex_open(F.t, "m", IOL_CREATE | IOL_EXCL, false)) \
X("iol_mutex_open", "name is an event", NONE, -EEXIST, iol_mutex_open(F.t, "e", 0, false))          \
X("iol_mutex_open", "table full", NONE, -ENOSPC, iol_mutex_open(F.tfull, NULL, 0, false))           \
X("iol_mutex_open", "t closed", NONE, -EBADF, iol_mutex_open(F.tclosed, "m", IOL_CREATE, false))    \
X("iol_mutex_open", "t closed, initial owner", NONE, -EBADF, iol_mutex_open(F.tclosed, NULL, 0, true)) \
X("iol_mutex_open", "t inherited across fork", FORK, -EBADF, iol_mutex_open(F.t, "m", 0, false))    \
/* iol_event_open */                                                                                \
X("iol_event_open", "t NULL", NONE, -EINVAL, iol_event_open(NULL, "e", IOL_CREATE, false, false))   \
X("iol_event_open", "unknown flags", NONE, -EINVAL, iol_event_open(F.t, "e", 0x80, false, false))   \
X("iol_event_open", "IOL_EXCL without IOL_CREATE", NONE, -EINVAL, iol_event_open(F.t, "e", IOL_EXCL, false, false)) \
X("iol_event_open", "empty name", NONE, -EINVAL, iol_event_open(F.t, "", IOL_CREATE, false, false)) \
X("iol_event_open", "name of 256 bytes", NONE, -ENAMETOOLONG, iol_event_open(F.t, F.name256, IOL_CREATE, false, false)) \
X("iol_event_open", "missing name, no IOL_CREATE", NONE, -ENOENT, iol_event_open(F.t, "missing", 0, false, false)) \
X("iol_event_open", "name is a mutex", NONE, -EEXIST, iol_event_open(F.t, "m", IOL_CREATE, false, false)) \
X("iol_event_open", "table full", NONE, -ENOSPC, iol_event_open(F.tfull, "new", IOL_CREATE, false, false)) \
X("iol_event_open", "t closed", NONE, -EBADF, iol_event_open(F.tclosed, NULL, 0, false, false))     \
/* iol_semaphore_open */                                                                            \
X("iol_semaphore_open", "t NULL", NONE, -EINVAL, iol_semaphore_open(NULL, "s", IOL_CREATE, 0, 1))   \
X("iol_semaphore_open", "max 0", NONE, -EINVAL, iol_semaphore_open(F.t, "s2", IOL_CREATE, 0, 0))    \
X("iol_semaphore_open", "max above INT32_MAX", NONE, -EINVAL, iol_semaphore_open(F.t, "s2", IOL_CREATE, 0, 0x80000000u)) \
X("iol_semaphore_open", "initial above max", NONE, -EINVAL, iol_semaphore_open(F.t, "s2", IOL_CREATE, 3, 2)) \
X("iol_semaphore_open", "anonymous, max 0", NONE, -EINVAL, iol_semaphore_open(F.t, NULL, 0, 0, 0))  \
X("iol_semaphore_open", "unknown flags", NONE, -EINVAL, iol_semaphore_open(F.t, "s", 0x10, 0, 1))   \
X("iol_semaphore_open", "name of 256 bytes", NONE, -ENAMETOOLONG, iol_semaphore_open(F.t, F.name256, IOL_CREATE, 0, 1)) \
X("iol_semaphore_open", "missing name, no IOL_CREATE", NONE, -ENOENT, iol_semaphore_open(F.t, "missing", 0, 0, 1)) \
X("iol_semaphore_open", "name is an event", NONE, -EEXIST, iol_semaphore_open(F.t, "e", IOL_CREATE, 0, 1)) \
X("iol_semaphore_open", "table full", NONE, -ENOSPC, iol_semaphore_open(F.tfull, NULL, 0, 0, 1))    \
X("iol_semaphore_open", "t closed", NONE, -EBADF, iol_semaphore_open(F.tclosed, NULL, 0, 0, 1))     \
/* iol_mutex_release */                                                                             \
X("iol_mutex_release", "closed handle", NONE, -EBADF, iol_mutex_release(F.closed))                  \
X("iol_mutex_release", "handle 0", NONE, -EBADF, iol_mutex_release(0))                              \
X("iol_mutex_release", "handle -1", NONE, -EBADF, iol_mutex_release(-1))                            \
X("iol_mutex_release", "handle never opened", NONE, -EBADF, iol_mutex_release(INT_MAX))             \
X("iol_mutex_release", "an event", NONE, -EINVAL, iol_mutex_release(F.e))                           \
X("iol_mutex_release", "not the owner", NONE, -EPERM, iol_mutex_release(F.m))                       \
X("iol_mutex_release", "handle of a closed table", NONE, -EBADF, iol_mutex_release(F.e_closed))     \
X("iol_mutex_release", "inherited across fork", FORK, -EBADF, iol_mutex_release(F.m_max))           \
/* events */                                                                                        \
X("iol_event_set", "closed handle", NONE, -EBADF, iol_event_set(F.closed))                          \
X("iol_event_set", "a mutex", NONE, -EINVAL, iol_event_set(F.m))                                    \
X("iol_event_set", "inherited across fork", FORK, -EBADF, iol_event_set(F.e))                       \
X("iol_event_reset", "closed handle", NONE, -EBADF, iol_event_reset(F.closed))                      \
X("iol_event_reset", "a semaphore", NONE, -EINVAL, iol_event_reset(F.s))                            \
X("iol_event_pulse", "closed handle", NONE, -EBADF, iol_event_pulse(F.closed))                      \
X("iol_event_pulse", "a file", NONE, -EINVAL, iol_event_pulse(F.f))                                 \
/* iol_semaphore_release */                                                                         \
X("iol_semaphore_release", "closed handle", NONE, -EBADF, iol_semaphore_release(F.closed, 1))       \
X("iol_semaphore_release", "an event", NONE, -EINVAL, iol_semaphore_release(F.e, 1))                \
X("iol_semaphore_release", "count 0", NONE, -EINVAL, iol_semaphore_release(F.s, 0))                 \
X("iol_semaphore_release", "past max", NONE, -EOVERFLOW, iol_semaphore_release(F.s_full, 1))        \
X("iol_semaphore_release", "count UINT32_MAX", NONE, -EOVERFLOW, iol_semaphore_release(F.s, UINT32_MAX)) \
/* iol_wait */                                                                                      \
X("iol_wait", "closed handle", NONE, -EBADF, iol_wait(F.closed, 0))                                 \
X("iol_wait", "handle -5", NONE, -EBADF, iol_wait(-5, 0))                                           \
X("iol_wait", "timeout -2", NONE, -EINVAL, iol_wait(F.e, -2))                                       \
X("iol_wait", "timeout INT64_MIN", NONE, -EINVAL, iol_wait(F.e, INT64_MIN))                         \
X("iol_wait", "a file (not waitable)", NONE, -EINVAL, iol_wait(F.f, 0))                             \
X("iol_wait", "recursion past UINT32_MAX", NONE, -EOVERFLOW, iol_wait(F.m_max, 0))                  \
X("iol_wait", "inherited across fork", FORK, -EBADF, iol_wait(F.e, 0))                              \
/* iol_wait_many */                                                                                 \
X("iol_wait_many", "handles NULL", NONE, -EINVAL, iol_wait_many(NULL, 1, 0, 0))                     \
X("iol_wait_many", "n 0", NONE, -EINVAL, wait_many_of((int[]){ F.e }, 0, 0, 0))                     \
X("iol_wait_many", "n 65", NONE, -EINVAL, wait_many_of((int[65]){ 0 }, 65, 0, 0))                   \
X("iol_wait_many", "unknown flags", NONE, -EINVAL, wait_many_of((int[]){ F.e }, 1, 0x2, 0))          \
X("iol_wait_many", "timeout -3", NONE, -EINVAL, wait_many_of((int[]){ F.e }, 1, 0, -3))             \
X("iol_wait_many", "a closed handle", NONE, -EBADF, wait_many_of((int[]){ F.e, F.closed }, 2, 0, 0)) \
X("iol_wait_many", "a file", NONE, -EINVAL, wait_many_of((int[]){ F.e, F.f }, 2, 0, 0))             \
X("iol_wait_many", "IOL_WAIT_ALL, one handle twice", NONE, -EINVAL, wait_many_of((int[]){ F.e, F.e }, 2, IOL_WAIT_ALL, 0)) \
X("iol_wait_many", "IOL_WAIT_ALL, one object twice", NONE, -EINVAL, wait_many_of((int[]){ F.e, F.e_dup }, 2, IOL_WAIT_ALL, 0)) \
X("iol_wait_many", "IOL_WAIT_ALL, two tables", NONE, -EXDEV, wait_many_of((int[]){ F.e, F.h_t2 }, 2, IOL_WAIT_ALL, 0)) \
/* iol_signal_and_wait */                                                                           \
X("iol_signal_and_wait", "timeout -7", NONE, -EINVAL, iol_signal_and_wait(F.e, F.s, -7))            \
X("iol_signal_and_wait", "signal handle closed", NONE, -EBADF, iol_signal_and_wait(F.closed, F.s, 0)) \
X("iol_signal_and_wait", "wait handle closed", NONE, -EBADF, iol_signal_and_wait(F.e, F.closed, 0)) \
X("iol_signal_and_wait", "signal a mutex not owned", NONE, -EPERM, iol_signal_and_wait(F.m, F.s, 0)) \
X("iol_signal_and_wait", "signal a full semaphore", NONE, -EOVERFLOW, iol_signal_and_wait(F.s_full, F.s, 0)) \
X("iol_signal_and_wait", "signal a process", NONE, -EINVAL, iol_signal_and_wait(F.p, F.s, 0))       \
X("iol_signal_and_wait", "wait on a file", NONE, -EINVAL, iol_signal_and_wait(F.e, F.f, 0))         \
/* handles */                                                                                       \
X("iol_close", "closed handle", NONE, -EBADF, iol_close(F.closed))                                  \
X("iol_close", "handle 0", NONE, -EBADF, iol_close(0))                                              \
X("iol_close", "handle INT_MIN", NONE, -EBADF, iol_close(INT_MIN))                                  \
X("iol_close", "inherited across fork", FORK, -EBADF, iol_close(F.e))                               \
X("iol_close", "object destroyed behind its back", NONE, -EBADF, iol_close(F.c_stale))              \
X("iol_event_set", "object destroyed behind its back", NONE, -EBADF, iol_event_set(F.e_stale))      \
X("iol_event_reset", "object destroyed behind its back", NONE, -EBADF, iol_event_reset(F.e_stale))  \
X("iol_event_pulse", "object destroyed behind its back", NONE, -EBADF, iol_event_pulse(F.e_stale))  \
X("iol_wait", "object destroyed behind its back", NONE, -EBADF, iol_wait(F.e_stale, 0))            \
X("iol_wait_many", "object destroyed behind its back", NONE, -EBADF, wait_many_of((int[]){ F.e, F.s_stale }, 2, 0, 0)) \
X("iol_signal_and_wait", "object destroyed behind its back", NONE, -EBADF, iol_signal_and_wait(F.s_stale, F.e, 0)) \
X("iol_semaphore_release", "object destroyed behind its back", NONE, -EBADF, iol_semaphore_release(F.s_stale, 1)) \
X("iol_mutex_release", "object destroyed behind its back", NONE, -EBADF, iol_mutex_release(F.m_stale)) \
X("iol_dup", "object destroyed behind its back", NONE, -EBADF, iol_dup(F.e_stale))                 \
X("iol_export", "object destroyed behind its back", NONE, -EBADF, export_of(F.e_stale))            \
X("iol_query", "object destroyed behind its back", NONE, -EBADF, query_of(F.e_stale))              \
X("iol_dup", "closed handle", NONE, -EBADF, iol_dup(F.closed))                                      \
X("iol_dup", "handle of a closed table", NONE, -EBADF, iol_dup(F.e_closed))                         \
X("iol_export", "token NULL", NONE, -EINVAL, iol_export(F.e, NULL))                                 \
X("iol_export", "closed handle", NONE, -EBADF, export_of(F.closed))                                 \
X("iol_import", "t NULL", NONE, -EINVAL, iol_import(NULL, F.tok_t2))                                \
X("iol_import", "t closed", NONE, -EBADF, iol_import(F.tclosed, F.tok_t2))                          \
X("iol_import", "token of a destroyed object", NONE, -ENOENT, iol_import(F.t, F.tok_stale))          \
X("iol_import", "token of another table", NONE, -ENOENT, iol_import(F.t, F.tok_t2))                 \
X("iol_import", "token past the last slot", NONE, -ENOENT, iol_import(F.t, F.tok_far))              \
X("iol_import", "token 0", NONE, -ENOENT, iol_import(F.t, 0))                                       \
X("iol_query", "out NULL", NONE, -EINVAL, iol_query(F.e, NULL))                                     \
X("iol_query", "closed handle", NONE, -EBADF, query_of(F.closed))                                   \
X("iol_type_name", "type 0", BOOL, 0, strcmp(iol_type_name(0), "unknown") != 0)                     \
X("iol_type_name", "type 99", BOOL, 0, strcmp(iol_type_name(99), "unknown") != 0)                   \
/* processes */                                                                                     \
X("iol_process_spawn", "t NULL", NONE, -EINVAL, iol_process_spawn(NULL, "true", argv_true, NULL))   \
X("iol_process_spawn", "file NULL", NONE, -EINVAL, iol_process_spawn(F.t, NULL, argv_true, NULL))   \
X("iol_process_spawn", "argv NULL", NONE, -EINVAL, iol_process_spawn(F.t, "true", NULL, NULL))      \
X("iol_process_spawn", "stdin_fd -2", NONE, -EINVAL, iol_process_spawn(F.t, "true", argv_true, &bad_fd)) \
X("iol_process_spawn", "no such file", NONE, -ENOENT, iol_process_spawn(F.t, F.missing, argv_true, NULL)) \
X("iol_process_spawn", "not executable", NONE, -EACCES, iol_process_spawn(F.t, F.noexec, argv_true, NULL)) \
X("iol_process_spawn", "no such cwd", NONE, -ENOENT, iol_process_spawn(F.t, "/bin/true", argv_true, &bad_cwd)) \
X("iol_process_spawn", "t closed", NONE, -EBADF, iol_process_spawn(F.tclosed, "/bin/true", argv_true, NULL)) \
X("iol_process_spawn", "table full", NONE, -ENOSPC, iol_process_spawn(F.tfull, "/bin/true", argv_true, NULL)) \
X("iol_process_open", "t NULL", NONE, -EINVAL, iol_process_open(NULL, getpid()))                     \
X("iol_process_open", "pid 0", NONE, -EINVAL, iol_process_open(F.t, 0))                             \
X("iol_process_open", "pid -1", NONE, -EINVAL, iol_process_open(F.t, -1))                           \
X("iol_process_open", "a pid that ended", NONE, -ESRCH, iol_process_open(F.t, F.gone_pid))          \
X("iol_process_open", "t closed", NONE, -EBADF, iol_process_open(F.tclosed, getpid()))              \
X("iol_process_open", "table full", NONE, -ENOSPC, iol_process_open(F.tfull, getpid()))             \
X("iol_process_pid", "closed handle", NONE, -EBADF, iol_process_pid(F.closed))                      \
X("iol_process_pid", "a thread", NONE, -EINVAL, iol_process_pid(F.th))                              \
X("iol_process_exit_status", "out NULL", NONE, -EINVAL, iol_process_exit_status(F.p, NULL))         \
X("iol_process_exit_status", "an event", NONE, -EINVAL, exit_status_of(F.e))                        \
X("iol_process_exit_status", "still running", NONE, -EBUSY, exit_status_of(F.p_run))                \
X("iol_process_exit_status", "closed handle", NONE, -EBADF, exit_status_of(F.closed))               \
X("iol_process_kill", "signal -1", NONE, -EINVAL, iol_process_kill(F.p_run, -1))                    \
X("iol_process_kill", "signal 65", NONE, -EINVAL, iol_process_kill(F.p_run, 65))                    \
X("iol_process_kill", "a mutex", NONE, -EINVAL, iol_process_kill(F.m, 0))                           \
X("iol_process_kill", "process ended", NONE, -ESRCH, iol_process_kill(F.p, 0))                      \
X("iol_process_kill", "closed handle", NONE, -EBADF, iol_process_kill(F.closed, 0))                 \
X("iol_thread_create", "t NULL", NONE, -EINVAL, iol_thread_create(NULL, thread_fn, NULL))           \
X("iol_thread_create", "fn NULL", NONE, -EINVAL, iol_thread_create(F.t, NULL, NULL))                \
X("iol_thread_create", "t closed", NONE, -EBADF, iol_thread_create(F.tclosed, thread_fn, NULL))     \
X("iol_thread_create", "table full", NONE, -ENOSPC, iol_thread_create(F.tfull, thread_fn, NULL))    \
X("iol_thread_result", "out NULL", NONE, -EINVAL, iol_thread_result(F.th, NULL))                    \
X("iol_thread_result", "a process", NONE, -EINVAL, thread_result_of(F.p))                           \
X("iol_thread_result", "still running", NONE, -EBUSY, thread_result_of(F.th_run))                   \
X("iol_thread_result", "closed handle", NONE, -EBADF, thread_result_of(F.closed))                   \
/* files */                                                                                         \
X("iol_file_open", "t NULL", NONE, -EINVAL, iol_file_open(NULL, F.file, O_RDONLY, 0, 0))            \
X("iol_file_open", "path NULL", NONE, -EINVAL, iol_file_open(F.t, NULL, O_RDONLY, 0, 0))            \
X("iol_file_open", "unknown share bits", NONE, -EINVAL, iol_file_open(F.t, F.file, O_RDONLY, 0, 0x8)) \
X("iol_file_open", "no such file", NONE, -ENOENT, iol_file_open(F.t, F.missing, O_RDONLY, 0, 7))    \
X("iol_file_open", "a directory for writing", NONE, -EISDIR, iol_file_open(F.t, F.dir, O_RDWR, 0, 7)) \
X("iol_file_open", "sharing violation", NONE, -EBUSY, iol_file_open(F.t, F.file, O_WRONLY, 0, 7))   \
X("iol_file_open", "table full", NONE, -ENOSPC, iol_file_open(F.tfull, F.file, O_RDONLY, 0, 7))     \
X("iol_file_open", "t closed", NONE, -EBADF, iol_file_open(F.tclosed, F.file, O_RDONLY, 0, 7))      \
X("iol_file_fd", "an event", NONE, -EINVAL, iol_file_fd(F.e))                                       \
X("iol_file_fd", "closed handle", NONE, -EBADF, iol_file_fd(F.closed))                              \
X("iol_file_fd", "in a process that imported it", NONE, -EXDEV, file_fd_imported())                 \
X("iol_file_unlink", "t NULL", NONE, -EINVAL, iol_file_unlink(NULL, F.file))                        \
X("iol_file_unlink", "path NULL", NONE, -EINVAL, iol_file_unlink(F.t, NULL))                        \
X("iol_file_unlink", "no such file", NONE, -ENOENT, iol_file_unlink(F.t, F.missing))                \
X("iol_file_unlink", "an open refuses delete", NONE, -EBUSY, iol_file_unlink(F.t, F.nodel))         \
X("iol_file_unlink", "t closed", NONE, -EBADF, iol_file_unlink(F.tclosed, F.nodel))                 \
X("iol_file_rename", "t NULL", NONE, -EINVAL, iol_file_rename(NULL, F.file, F.missing))             \
X("iol_file_rename", "from NULL", NONE, -EINVAL, iol_file_rename(F.t, NULL, F.missing))             \
X("iol_file_rename", "to NULL", NONE, -EINVAL, iol_file_rename(F.t, F.file, NULL))                  \
X("iol_file_rename", "no such file", NONE, -ENOENT, iol_file_rename(F.t, F.missing, F.file))        \
X("iol_file_rename", "an open refuses delete", NONE, -EBUSY, iol_file_rename(F.t, F.nodel, F.missing)) \
/* probe */                                                                                         \
X("iol_has", "feature -1", BOOL, 0, iol_has((enum iol_feature)-1))                                  \
X("iol_has", "feature IOL_FEAT__COUNT", BOOL, 0, iol_has(IOL_FEAT__COUNT))                          \
X("iol_feature_name", "feature IOL_FEAT__COUNT", BOOL, 0, iol_feature_name(IOL_FEAT__COUNT) != NULL) \
X("iol_feature_name", "feature -1", BOOL, 0, iol_feature_name((enum iol_feature)-1) != NULL)       \
X("iol_feature_by_name", "name NULL", NONE, -EINVAL, iol_feature_by_name(NULL))                     \
X("iol_feature_by_name", "unknown name", NONE, -EINVAL, iol_feature_by_name("no_such_feature"))     \
X("iol_features", "(no arguments: always a result)", BOOL, 1, iol_features() != NULL)
/* clang-format on */

struct row {
	const char *fn, *what;
	int flags;
	long want;
};

#define ROW_ENTRY(fn, what, flags, want, expr) {fn, what, flags, want},
static const struct row rows[] = {ROWS(ROW_ENTRY)};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static long call_row(size_t idx)
{
	size_t i = 0;

#define ROW_CALL(fn, what, flags, want, expr)                                                      \
	if (idx == i++)                                                                            \
		return (long)(expr);
	ROWS(ROW_CALL)
	return LONG_MIN;
}

/* The functions the rows cover, to be sure none was forgotten. */
static const char *const public_functions[] = {
    "iol_table_open",
    "iol_table_close",
    "iol_table_reclaim",
    "iol_table_unlink",
    "iol_mutex_open",
    "iol_event_open",
    "iol_semaphore_open",
    "iol_mutex_release",
    "iol_event_set",
    "iol_event_reset",
    "iol_event_pulse",
    "iol_semaphore_release",
    "iol_wait",
    "iol_wait_many",
    "iol_signal_and_wait",
    "iol_close",
    "iol_dup",
    "iol_export",
    "iol_import",
    "iol_query",
    "iol_type_name",
    "iol_process_spawn",
    "iol_process_open",
    "iol_process_pid",
    "iol_process_exit_status",
    "iol_process_kill",
    "iol_thread_create",
    "iol_thread_result",
    "iol_file_open",
    "iol_file_fd",
    "iol_file_unlink",
    "iol_file_rename",
    "iol_features",
    "iol_has",
    "iol_feature_name",
    "iol_feature_by_name",
};

/* ---- the fixture ------------------------------------------------------ */

/* Set by teardown before it releases the pinned wait.  The release goes
 * through a second mapping of the table, which ThreadSanitizer cannot tie
 * to the waiter's; this flag is the happens-before edge it can see, from
 * the main thread's use of the closed table to the waiter's exit, which
 * drops the last reference and frees it. */
static _Atomic int waiter_released;

static void *blocked_waiter(void *arg)
{
	int r = iol_wait(*(int *)arg, IOL_INFINITE);

	if (!atomic_load_explicit(&waiter_released, memory_order_acquire))
		r = -EINTR; /* released by something else: teardown reports it */
	return (void *)(intptr_t)r;
}

static void *running_thread(void *arg)
{
	iol_wait(F.gate, IOL_INFINITE);
	return arg;
}

static void shm_path(const char *name, char *buf, size_t len)
{
	const char *d = getenv("IOLAYER_SHM_DIR");

	snprintf(buf, len, "%s/iolayer-%u-%s", d && *d ? d : "/dev/shm", (unsigned)geteuid(), name);
}

static int setup(void **state)
{
	struct iol_table_opts small = {.slots = 16};
	char path[PATH_MAX + 64];
	uint64_t tok;
	int h, fd;
	pid_t pid;

	(void)state;
	memset(&F, 0, sizeof(F));
	const char *d = getenv("IOLAYER_SHM_DIR");
	snprintf(F.dir, sizeof(F.dir), "%s", d && *d ? d : "/tmp");
	snprintf(F.file, sizeof(F.file), "%s/ba-file", F.dir);
	snprintf(F.nodel, sizeof(F.nodel), "%s/ba-nodel", F.dir);
	snprintf(F.noexec, sizeof(F.noexec), "%s/ba-noexec", F.dir);
	snprintf(F.missing, sizeof(F.missing), "%s/ba-missing", F.dir);
	memset(F.name256, 'n', IOL_NAME_MAX + 1);
	memset(F.name65, 'a', 65);
	close(open(F.file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	close(open(F.nodel, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	close(open(F.noexec, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));

	/* Files in the table directory that are not our tables. */
	shm_path("link", F.link, sizeof(F.link));
	shm_path("badargs", path, sizeof(path));
	symlink(path, F.link);
	shm_path("notatable", path, sizeof(path));
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a table", 11), 11);
	close(fd);
	shm_path("foreign", F.foreign, sizeof(F.foreign));
	close(open(F.foreign, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	if (chown(F.foreign, 65534, 65534) != 0) { /* nobody; needs root */
		unlink(F.foreign);
		F.no_foreign = true;
	}

	assert_int_equal(iol_table_open(TABLE, NULL, &F.t), 0);
	assert_int_equal(iol_table_open(TABLE2, NULL, &F.t2), 0);
	assert_int_equal(iol_table_open(TFULL, &small, &F.tfull), 0);
	while ((h = iol_event_open(F.tfull, NULL, 0, false, false)) > 0)
		;
	assert_int_equal(h, -ENOSPC);

	F.m = iol_mutex_open(F.t, "m", IOL_CREATE, false);
	F.e = iol_event_open(F.t, "e", IOL_CREATE, false, false);
	F.s = iol_semaphore_open(F.t, "s", IOL_CREATE, 0, 5);
	F.s_full = iol_semaphore_open(F.t, NULL, 0, 1, 1);
	F.f = iol_file_open(F.t, F.file, O_RDONLY, 0, IOL_SHARE_READ);
	F.f_nodel = iol_file_open(F.t, F.nodel, O_RDONLY, 0, IOL_SHARE_READ | IOL_SHARE_WRITE);
	F.p = iol_process_spawn(F.t, "/bin/true", argv_true, NULL);
	F.th = iol_thread_create(F.t, thread_fn, NULL);
	assert_true(F.m > 0 && F.e > 0 && F.s > 0 && F.s_full > 0 && F.f > 0 && F.f_nodel > 0 &&
		    F.p > 0 && F.th > 0);
	assert_int_equal(iol_wait(F.p, 10 * 1000000000LL), 0);
	assert_int_equal(iol_wait(F.th, 10 * 1000000000LL), 0);
	F.e_dup = iol_dup(F.e);
	assert_true(F.e_dup > 0);
	F.h_t2 = iol_event_open(F.t2, "e", IOL_CREATE, false, false);
	assert_true(F.h_t2 > 0);
	assert_int_equal(iol_export(F.h_t2, &F.tok_t2), 0);
	/* t's own salt and a slot index past its last slot. */
	assert_int_equal(iol_export(F.e, &tok), 0);
	F.tok_far = (tok & ~0xffffffull) | 0xfffffeu;
	/* A token whose object is gone. */
	h = iol_event_open(F.t, NULL, 0, false, false);
	assert_true(h > 0);
	assert_int_equal(iol_export(h, &F.tok_stale), 0);
	assert_int_equal(iol_close(h), 0);
	F.closed = iol_event_open(F.t, NULL, 0, false, false);
	assert_int_equal(iol_close(F.closed), 0);

	/* Handles whose objects were destroyed and their slots reused behind
	 * their back (white-box: as if the slot had been freed and taken
	 * again, its generation moves on), in t2 which is thrown away. */
	F.e_stale = iol_event_open(F.t2, NULL, 0, true, false);
	F.s_stale = iol_semaphore_open(F.t2, NULL, 0, 0, 5);
	F.m_stale = iol_mutex_open(F.t2, NULL, 0, true);
	F.c_stale = iol_dup(F.e_stale);
	assert_true(F.e_stale > 0 && F.s_stale > 0 && F.m_stale > 0 && F.c_stale > 0);
	atomic_fetch_add(&crash_slot(F.e_stale)->gen, 1);
	atomic_fetch_add(&crash_slot(F.s_stale)->gen, 1);
	atomic_fetch_add(&crash_slot(F.m_stale)->gen, 1);

	/* A mutex owned at recursion UINT32_MAX (white-box: counting that far
	 * takes too long). */
	F.m_max = iol_mutex_open(F.t, NULL, 0, true);
	assert_true(F.m_max > 0);
	atomic_store(&crash_slot(F.m_max)->u.mutex.recursion, UINT32_MAX);

	/* A running child (blocked on a pipe) and a running thread. */
	assert_int_equal(pipe2(F.run_pipe, O_CLOEXEC), 0);
	struct iol_spawn_opts o = {.stdin_fd = F.run_pipe[0], .stdout_fd = -1, .stderr_fd = -1};
	char *cat[] = {"cat", NULL};
	F.p_run = iol_process_spawn(F.t, "cat", cat, &o);
	assert_true(F.p_run > 0);
	close(F.run_pipe[0]);
	F.gate = iol_event_open(F.t, NULL, 0, true, false);
	F.th_run = iol_thread_create(F.t, running_thread, NULL);
	assert_true(F.gate > 0 && F.th_run > 0);

	/* A pid that ended and was reaped. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	F.gone_pid = pid;

	/* A table closed while another thread still waits in it: the wait
	 * keeps it alive (and its handles refused). */
	assert_int_equal(iol_table_open(TCLOSED, NULL, &F.tclosed), 0);
	F.pin_gate = iol_event_open(F.tclosed, NULL, 0, true, false);
	F.e_closed = iol_event_open(F.tclosed, "x", IOL_CREATE, false, false);
	assert_true(F.pin_gate > 0 && F.e_closed > 0);
	assert_int_equal(pthread_create(&F.waiter, NULL, blocked_waiter, &F.pin_gate), 0);
	while (atomic_load(&crash_slot(F.pin_gate)->waiters) == 0)
		sched_yield();
	struct ioli_slot *pin_slot = crash_slot(F.pin_gate);
	assert_int_equal(iol_table_close(F.tclosed), 0);
	/* (The handles are closed now; the wait holds its own reference.) */
	assert_int_equal(atomic_load(&pin_slot->waiters), 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* Release the pinned wait: set its event through the slot. */
	iol_table *v;
	void *wr = NULL;

	atomic_store_explicit(&waiter_released, 1, memory_order_release);
	if (ioli_table_inspect(TCLOSED, true, &v) == 0) {
		for (uint32_t i = 0; i < atomic_load(&v->hdr->hwm); i++) {
			struct ioli_slot *s = ioli_slot(v, i);

			if (atomic_load(&s->waiters)) {
				atomic_fetch_or(&s->word, IOLI_EV_SIGNALED);
				ioli_wake(v, s, INT_MAX);
			}
		}
		ioli_table_inspect_close(v);
	}
	pthread_join(F.waiter, &wr);
	int bad = (intptr_t)wr != 0;
	if (bad)
		fprintf(stderr, "teardown: the pinned wait ended with %d\n", (int)(intptr_t)wr);
	iol_event_set(F.gate);
	iol_wait(F.th_run, 10 * 1000000000LL);
	close(F.run_pipe[1]);
	iol_wait(F.p_run, 10 * 1000000000LL);
	iol_table_close(F.t);
	iol_table_close(F.t2);
	iol_table_close(F.tfull);
	iol_table_unlink(TABLE);
	iol_table_unlink(TABLE2);
	iol_table_unlink(TFULL);
	iol_table_unlink(TCLOSED);
	unlink(F.file);
	unlink(F.nodel);
	unlink(F.noexec);
	unlink(F.link);
	unlink(F.foreign);
	char path[PATH_MAX + 64];
	shm_path("notatable", path, sizeof(path));
	unlink(path);
	return bad ? -1 : 0;
}

/* ---- the test ----------------------------------------------------------- */

static long run_in_child(size_t i)
{
	int p[2], st;
	long r = LONG_MIN;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		r = call_row(i);
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &r, sizeof(r)) != sizeof(r))
		r = LONG_MIN;
	close(p[0]);
	waitpid(pid, &st, 0);
	return r;
}

static void test_bad_arguments(void **state)
{
	char failures[8192] = "";
	size_t flen = 0;
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];

		if (F.no_foreign && strstr(r->what, "another user's")) {
			printf("  skipped %s(%s): not root, cannot make another user's file\n",
			       r->fn, r->what);
			continue;
		}
		long got = (r->flags & FORK) ? run_in_child(i) : call_row(i);

		if (r->flags & BOOL)
			got = got != 0;
		if (got == r->want)
			continue;
		bad++;
		flen += (size_t)snprintf(failures + flen, sizeof(failures) - flen,
					 "  %s(%s): got %ld (%s), documented %ld (%s)\n", r->fn,
					 r->what, got,
					 got < 0 && got > -4096 ? strerror((int)-got) : "-",
					 r->want, r->want < 0 ? strerror((int)-r->want) : "-");
		if (flen >= sizeof(failures))
			flen = sizeof(failures) - 1;
	}
	/* Every public function has at least one row. */
	for (size_t k = 0; k < sizeof(public_functions) / sizeof(public_functions[0]); k++) {
		bool found = false;

		for (size_t i = 0; i < NROWS && !found; i++)
			found = !strcmp(rows[i].fn, public_functions[k]);
		if (!found) {
			bad++;
			flen += (size_t)snprintf(failures + flen, sizeof(failures) - flen,
						 "  %s: no row\n", public_functions[k]);
		}
	}
	printf("  %zu rows over %zu functions\n", NROWS,
	       sizeof(public_functions) / sizeof(public_functions[0]));
	if (bad)
		fail_msg("%d rows disagree with the headers:\n%s", bad, failures);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
