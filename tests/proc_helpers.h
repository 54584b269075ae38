/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the process, thread and file test programs: unique tables,
 * pipes with time limits, forked children, and what /proc says about a
 * process (its state, its parent, its children, whether one of its
 * threads is asleep in a given system call).  Every wait here has a
 * deadline and checks a condition; none is a guessed sleep.
 *
 * cmocka's assertions work only in the test's own process and thread.
 * Code that runs in a forked child or a helper thread reports with
 * PH_CHECK*, which print where and what failed and return non-zero; the
 * test then asserts on that status.
 */
#ifndef IOLAYER_TESTS_PROC_HELPERS_H
#define IOLAYER_TESTS_PROC_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "iolayer.h"
#include "check.h"

/* A deadline for what should happen at once, generous so a loaded CI
 * machine never trips it; only a lost wakeup or a hang reaches it. */
#define PH_LONG_MS	  10000
#define PH_LONG_NS	  (PH_LONG_MS * 1000000LL)

#define PH_CHECK(cond)	  T_CHECK(cond)
#define PH_CHECK_EQ(a, b) T_CHECK_EQ(a, b)

int64_t ph_now_ns(void); /* CLOCK_MONOTONIC */
pid_t ph_gettid(void);

/* ---- tables -------------------------------------------------------- */

struct ph_tab {
	iol_table *t;
	char name[65];
};
/* A new shared table with a name no other test uses ("<tag>-<pid>-<n>"). */
void ph_tab_new(struct ph_tab *tt, const char *tag);
/* Close it (if still open) and remove its file. */
void ph_tab_del(struct ph_tab *tt);

/* ---- descriptors ----------------------------------------------------- */

void ph_pipe(int fds[2]); /* O_CLOEXEC; asserts */
/* A plain fork()ed child (no iolayer in it) that exits with `code` once
 * every holder of the write end *in_w has closed it; asserts. */
pid_t ph_fork_reader(int code, int *in_w);
void ph_close(int *fd); /* close if >= 0, then -1 */
/* Write all of buf; 0 or -1. */
int ph_write(int fd, const void *buf, size_t len);
/* Read exactly len bytes within timeout_ms: 0, or -1 (timeout, EOF, error). */
int ph_read(int fd, void *buf, size_t len, int timeout_ms);
/* Read until EOF within timeout_ms; NUL-terminates; the length or -1. */
ssize_t ph_read_all(int fd, char *buf, size_t cap, int timeout_ms);
/* One int over a pipe. */
int ph_send_int(int fd, long long v);
int ph_recv_int(int fd, long long *v, int timeout_ms);

/* ---- processes ------------------------------------------------------- */

/* fork(); the child runs fn(arg) and _exit()s with its value. */
pid_t ph_fork(int (*fn)(void *), void *arg);
/* Reap our child: its exit code, 128 + signal when killed, or -1 when it
 * did not end within timeout_ms (it is then SIGKILLed and reaped). */
int ph_reap(pid_t pid, int timeout_ms);

/* /proc/<pid>/stat: state letter, or 0 when there is no such process. */
char ph_proc_state(pid_t pid);
/* Start time (field 22), or 0 when there is no such process. */
unsigned long long ph_proc_starttime(pid_t pid);
/* Parent pid from /proc/<pid>/stat, or -1. */
pid_t ph_proc_ppid(pid_t pid);
/* Until the process (pid, with that start time) no longer exists at all
 * (reaped, not a zombie), within timeout_ms. */
bool ph_wait_reaped(pid_t pid, unsigned long long starttime, int timeout_ms);
/* The children of this process (any thread's), at most max, with their
 * state letters in states[] (may be NULL).  Returns how many. */
int ph_children(pid_t *pids, char *states, int max);
/* Is thread tid of process pid asleep (state S) inside system call nr?
 * pid 0 means this process. */
bool ph_in_syscall(pid_t pid, pid_t tid, long nr);
/* Until it is asleep in one of the futex calls (futex, futex_waitv). */
bool ph_wait_futex(pid_t pid, pid_t tid, int timeout_ms);
/* Until it is asleep in system call nr. */
bool ph_wait_syscall(pid_t pid, pid_t tid, long nr, int timeout_ms);

/* ---- a thread blocked in a wait ---------------------------------------- */

/* A thread running iol_wait_many(handles, n, flags, PH_LONG_NS). */
struct ph_waiter {
	int handles[IOL_MAX_WAIT];
	unsigned n, flags;
	_Atomic pid_t tid;
	int result;
	pthread_t th;
};
/* Start it and return once it is asleep in the wait (a futex call), so
 * that what the test does next is a wakeup, not something the wait polls.
 * Asserts. */
void ph_waiter_start(struct ph_waiter *w);
/* Join it (asserting it ends within PH_LONG_MS) and return its result. */
int ph_waiter_join(struct ph_waiter *w);

/* ---- files ------------------------------------------------------------- */

/* A fresh directory under /tmp; path into buf. */
void ph_tmpdir(char *buf, size_t len);
/* Remove a directory tree (best effort). */
void ph_rmtree(const char *dir);
/* Create or replace path with content and mode. */
void ph_write_file(const char *path, const char *content, mode_t mode);

#endif /* IOLAYER_TESTS_PROC_HELPERS_H */
