/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the core test programs: unique table names, child
 * processes with a time limit, a parent/child pipe channel, and a way to
 * know that a thread is asleep in a futex wait (from /proc, never from a
 * guessed sleep).
 *
 * cmocka's assertions work only in the test's own thread and process.
 * Code that runs in a child process or in a helper thread reports with
 * TH_CHECK*, which print where and what failed and return non-zero; the
 * test then asserts on that status.
 */
#ifndef IOLAYER_TESTS_HELPERS_H
#define IOLAYER_TESTS_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "iolayer.h"
#include "check.h"

/* Time limit for anything that should finish "at once" but must not hang
 * the suite if it never does (a lost wakeup): generous on purpose. */
#define TH_LONG_MS	  10000
#define TH_LONG_NS	  (TH_LONG_MS * 1000000LL)

#define TH_CHECK(cond)	  T_CHECK(cond)
#define TH_CHECK_EQ(a, b) T_CHECK_EQ(a, b)

/* ---- time and identity --------------------------------------------- */

int64_t th_now_ns(void); /* CLOCK_MONOTONIC */
pid_t th_gettid(void);

/* ---- tables -------------------------------------------------------- */

/* A table name no other test (or concurrent run) uses: "<tag>-<pid>-<n>". */
void th_uniq(char *buf, size_t len, const char *tag);

/* A fresh shared table with a unique name; slots 0 = default. */
struct th_tab {
	iol_table *t;
	char name[65];
};
void th_tab_new(struct th_tab *tt, const char *tag, uint32_t slots);
/* Close it and remove its file. */
void th_tab_del(struct th_tab *tt);

/* The table directory ($IOLAYER_SHM_DIR or /dev/shm) and a table's path. */
const char *th_dir(void);
void th_table_path(const char *name, char *buf, size_t len);

/* Call first in main(): gives the program a private table directory when
 * it runs outside tests/run.sh (removed at exit), so tests never meet the
 * user's real tables. */
void th_init(void);

/* cmocka teardown: fails the test when it left files in the directory. */
int th_teardown_dir_empty(void **state);

/* ---- processes ----------------------------------------------------- */

/* fork(); the child runs fn(arg) and _exit()s with its value. */
pid_t th_spawn(int (*fn)(void *), void *arg);
/* Reap a child: its exit status (0..255), 128 + signal when killed, or
 * -1 when it did not end within timeout_ms (it is then SIGKILLed). */
int th_reap(pid_t pid, int timeout_ms);
/* th_spawn + th_reap(TH_LONG_MS). */
int th_run(int (*fn)(void *), void *arg);

/* A pipe each way between a parent and one child, made before fork(). */
struct th_chan {
	int up[2];   /* child -> parent */
	int down[2]; /* parent -> child */
};
void th_chan_open(struct th_chan *c);
void th_chan_close(struct th_chan *c);
/* Send one byte / receive one (the byte, or -1 on timeout, EOF or error). */
int th_say(int fd, int byte);
int th_hear(int fd, int timeout_ms);
#define TH_TO_PARENT(c)	  ((c)->up[1])
#define TH_FROM_CHILD(c)  ((c)->up[0])
#define TH_TO_CHILD(c)	  ((c)->down[1])
#define TH_FROM_PARENT(c) ((c)->down[0])

/* Anonymous shared memory that survives fork(): zero-filled. */
void *th_shared(size_t len);
void th_unshared(void *p, size_t len);

/* ---- blocked threads ------------------------------------------------ */

/* Is thread tid (of any process) asleep in a futex wait right now?
 * (State 'S' and a wchan inside the futex code.) */
bool th_in_futex_wait(pid_t tid);
/* Wait until it is, up to timeout_ms; false if it never was. */
bool th_wait_blocked(pid_t tid, int timeout_ms);
/* Until every one of n threads is. */
bool th_wait_all_blocked(const pid_t *tids, unsigned n, int timeout_ms);
/* Wait until *v >= atleast, up to timeout_ms. */
bool th_wait_count(const _Atomic int *v, int atleast, int timeout_ms);

/* ---- a thread that waits ------------------------------------------- */

enum th_wait_mode { TH_WAIT, TH_WAIT_MANY, TH_SIGNAL_AND_WAIT };

struct th_waiter {
	/* in */
	enum th_wait_mode mode;
	int h;	      /* TH_WAIT; the wait handle of TH_SIGNAL_AND_WAIT */
	int signal_h; /* TH_SIGNAL_AND_WAIT */
	int hs[IOL_MAX_WAIT + 1];
	unsigned n, flags; /* TH_WAIT_MANY */
	int64_t timeout_ns;
	/* run in the thread after the wait (e.g. release what it got) */
	int (*then)(struct th_waiter *w);
	void *arg;
	/* out */
	pthread_t th;
	_Atomic pid_t tid;
	_Atomic int done;
	int result;
	int then_result;
	int64_t elapsed_ns;
};

/* Start w's thread: it notes its tid, waits as told, runs then(). */
void th_waiter_start(struct th_waiter *w);
/* Wait until the thread is asleep in a futex wait (false: it never was). */
bool th_waiter_blocked(struct th_waiter *w, int timeout_ms);
/* Join it (failing the test if it does not end within TH_LONG_MS) and
 * return the wait's result. */
int th_waiter_join(struct th_waiter *w);

/* pthread_join with a time limit: false (and the thread left running)
 * when it did not end in time. */
bool th_join(pthread_t th, void **ret, int timeout_ms);

#endif /* IOLAYER_TESTS_HELPERS_H */
