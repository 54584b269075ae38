/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the crash-safety, fsck, fault-injection and
 * bad-argument tests: child processes driven over pipes, a look inside a
 * table (white-box: tests may include src/table/table.h), table snapshots, and
 * running fsck in-process.
 *
 * Child processes must not use cmocka assertions (a failure would unwind
 * into the parent's copy of cmocka's state): they use CHILD_CHECK, which
 * exits with a status naming the failed line, and the parent asserts the
 * status.
 */
#ifndef IOLAYER_TESTS_CRASH_HELPERS_H
#define IOLAYER_TESTS_CRASH_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iolayer.h"
#include "src/check/fsck.h"
#include "src/table/table.h"

/* In a child: exit with 100 + (line % 100) when cond is false, after
 * saying where on stderr. */
#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			crash_child_fail(__FILE__, __LINE__, #cond);                               \
	} while (0)
_Noreturn void crash_child_fail(const char *file, int line, const char *what);

/* A child process with a command pipe (parent -> child) and a reply pipe. */
struct crash_child {
	pid_t pid;
	int to;	  /* parent writes commands here */
	int from; /* parent reads replies here */
};

/* Fork a child running fn(rd, wr, arg), which must not return (exit or
 * _exit).  rd reads the parent's commands, wr writes replies. */
void crash_fork(struct crash_child *c, void (*fn)(int rd, int wr, void *arg), void *arg);
/* Exact-size pipe I/O; false at EOF or on error. */
bool crash_write(int fd, const void *buf, size_t n);
bool crash_read(int fd, void *buf, size_t n);
/* Parent side: send/receive with a cmocka assertion. */
void crash_send(struct crash_child *c, const void *buf, size_t n);
void crash_recv(struct crash_child *c, void *buf, size_t n);
/* SIGKILL the child and reap it (asserting it died of SIGKILL). */
void crash_kill(struct crash_child *c);
/* Reap the child; its exit status (or 128 + signal). */
int crash_reap(struct crash_child *c);

/* Run this test program again (/proc/self/exe) with args (argv[1] on,
 * NULL-terminated) and IOLAYER_FAULT=fault (NULL: unset); its exit status,
 * or 128 + signal.  Fault-injection tests use it: the fault point is read
 * from the environment by a fresh process, at its first point. */
int crash_run_self(const char *fault, const char *const *args);
#define CRASH_FAULT_EXIT 86 /* IOLI_FAULT_EXIT */

uint64_t crash_now_ns(void);

/* The slot behind a handle of this process. */
struct ioli_slot *crash_slot(int h);
iol_table *crash_table_of(int h);
/* Its index in the table. */
uint32_t crash_slot_index(int h);

/* Thread tid of process pid: its scheduler state ('R', 'S', ...), its
 * current system call (-1 running, or the number) and arguments, and its
 * context-switch counts.  false if it cannot be read. */
bool crash_task_state(pid_t pid, pid_t tid, char *state);
bool crash_task_syscall(pid_t pid, pid_t tid, long *nr, unsigned long args[6]);
bool crash_task_switches(pid_t pid, pid_t tid, unsigned long *vol, unsigned long *invol);
/* Wait (bounded: timeout_ms) until pid's thread tid sleeps in the system
 * call nr.  A condition check, not a guessed delay. */
bool crash_until_in_syscall(pid_t pid, pid_t tid, long nr, int timeout_ms);

/* The path of table `name` and a writable mapping of the whole file, to
 * damage it the way a stray write would.  crash_unmap() undoes it. */
struct crash_map {
	uint8_t *base;
	size_t size;
	struct ioli_hdr *hdr;
	struct ioli_proc *procs;
	struct ioli_threc *threcs;
	_Atomic uint32_t *buckets;
	struct ioli_slot *slots;
	_Atomic uint32_t *rows;
	uint32_t nslots, nbuckets;
};
void crash_table_path(const char *name, char *buf, size_t len);
void crash_map(const char *name, struct crash_map *m);
void crash_unmap(struct crash_map *m);

/* fsck in this process, through the library (check or repair).  Returns
 * the number of findings; when ids is non-NULL, the check ids found are
 * appended to it, space-separated (cap bytes). */
int crash_fsck(const char *name, bool repair, char *ids, size_t cap);
/* Fails the test unless fsck finds the table clean, printing what it found. */
void crash_assert_clean(const char *name);

/* A snapshot of what matters about a table's objects: for each live slot,
 * its type, name, references and futex word (bit 31 aside). */
struct crash_obj {
	uint32_t slot, type, refs, word, name_len;
	char name[IOL_NAME_MAX + 1];
};
struct crash_snap {
	uint32_t n, live;
	struct crash_obj *obj;
};
void crash_snapshot(const char *name, struct crash_snap *s);
/* Fails the test with the first difference. */
void crash_snap_equal(const struct crash_snap *a, const struct crash_snap *b);
void crash_snap_free(struct crash_snap *s);

/* The number of handles `iolayer ls --json` reports for pid (-1 when the
 * pid is not listed).  Needs cli_locate() first. */
long crash_ls_handles(const char *table, pid_t pid);

#endif
