/* SPDX-License-Identifier: MIT */
/*
 * iolayer: a kernel-assisted handle table for Linux.
 *
 * A shared-memory table (one per user and name, under /dev/shm) that any
 * process of the same user attaches to, holding Win32-style waitable
 * objects (mutexes, events, semaphores, and later processes, threads and
 * file-share records) whose state lives in futex words.  There is no
 * daemon.
 *
 * Conventions for every function declared here:
 *   - Failure is a negative errno value; nothing aborts on bad input, bad
 *     handles or a corrupted table.
 *   - Handles are process-local ints > 0.  They are not file descriptors.
 *     A closed handle gives -EBADF; a handle of the wrong type for the call
 *     gives -EINVAL.
 *   - Every function is thread-safe.  Handles are per process: after fork()
 *     the child holds no handles (inherited ones give -EBADF) and no tables
 *     (it must call iol_table_open() again).
 *
 * The errors each call can return are listed beside it.  Errors common to
 * all handle-taking calls are not repeated:
 *   -EBADF   h is not an open handle of this process (closed, never opened,
 *            inherited across fork(), or its table was closed), or the
 *            object it named was reclaimed behind its back.
 * and one common to the calls that take a table's lock (opening or creating
 * objects, importing, opening a table, IOL_WAIT_ALL, and the process, thread
 * and file calls that create or change records; never the set and release
 * paths of existing objects):
 *   -EDEADLK the lock stayed held for 10 seconds by a process that is alive
 *            but not running (stopped, or under a debugger) or the lock word
 *            was scribbled on; the call changed nothing.  A holder that dies
 *            is not this case: the next caller recovers the lock.
 * Waits take the lock once per thread and table: a thread's first wait on
 * objects of a table allocates the thread's record there.  That wait keeps to
 * its timeout: -ETIMEDOUT when the lock is still held at its deadline (a wait
 * on a mutex, or IOL_WAIT_ALL, gives the lock 10 ms first, even with a
 * shorter timeout), and -EDEADLK only when its timeout is longer than the 10
 * seconds.  Later waits of the thread never take it.
 * iol_close() and iol_table_close() do not fail for this reason: the handle
 * is closed, and a shared reference they could not return then is returned
 * when this process detaches from the table (iol_table_close(), exit()) or,
 * if the lock is still held then, by the survivors (or `iolayer fsck
 * --repair`) once this process has exited.  iol_table_close() and exit() wait
 * for the lock once in all, not once per handle: at most 10 seconds for
 * iol_table_close(), 1 second for the exit handler over all tables; past
 * that they only try.
 */
#ifndef IOLAYER_H
#define IOLAYER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOL_VERSION_MAJOR  0
#define IOL_VERSION_MINOR  1
#define IOL_VERSION_PATCH  0
#define IOL_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Tables                                                             */
/* ------------------------------------------------------------------ */

typedef struct iol_table iol_table;

#define IOL_TABLE_PRIVATE 0x1u

struct iol_table_opts {
	unsigned flags; /* IOL_TABLE_PRIVATE: a process-private table with no file */
	uint32_t slots; /* object capacity when the table is created; 0 = default 65536 */
	mode_t mode;	/* file mode when created; 0 = 0600 */
};

/* Default and maximum object capacity of a table. */
#define IOL_TABLE_DEFAULT_SLOTS 65536u
#define IOL_TABLE_MAX_SLOTS	(1u << 20)
/* Processes that can be attached to one table at once. */
#define IOL_TABLE_MAX_PROCS 1024u

/*
 * Attach to (creating if needed) the table `name` of the calling user.
 *
 * The file is $IOLAYER_SHM_DIR (default /dev/shm) / "iolayer-<uid>-<name>".
 * name NULL means "default".  opts NULL means all defaults.  The capacity
 * and mode in opts apply only when this call creates the table.  The mode
 * has owner bits only: other users are refused a table whatever its mode.
 *
 * Each table this process opens (other than IOL_TABLE_PRIVATE) runs one
 * thread of iolayer's, the sentinel, for as long as it is open: it makes
 * the kernel report this process's death to the others (a robust futex
 * list kept in process-private memory), and it watches one other attached
 * process, reclaiming what that process held within milliseconds of its
 * death, with no call from anyone (iol_table_reclaim() below).  It sleeps
 * while nobody dies, blocks every signal, and uses no file descriptor.
 * IOLAYER_WATCH=0 in the environment makes it watch nobody (for tests and
 * debugging: deaths are then noticed by the other triggers only).
 * A thread that exits (return, pthread_exit, cancellation) gives up the
 * mutexes it owns at once; one that ends with a raw exit system call,
 * skipping thread-specific-data destructors, counts as alive until its
 * process dies.  At most 2045 threads of one process can have a thread
 * record (own or wait on objects) in one table at a time (-EAGAIN beyond:
 * the kernel's robust-list walk stops at 2048 entries).
 *
 * IOLAYER_SHM_DIR must be a directory other users cannot rearrange: owned
 * by root or by the calling user (effective uid), and, if it is group- or
 * other-writable, sticky.  /dev/shm (root, 1777) and a private 0700
 * directory qualify; a directory of another user, or a 0777 (or 0770)
 * directory without the sticky bit, is refused with -EACCES.  Only the
 * directory itself is checked, not its parents: those must not be
 * writable by other users either.  (IOL_TABLE_PRIVATE tables have no file
 * and skip this check.)
 *
 * Returns 0 and sets *out, or:
 *   -EINVAL   name is not 1 to 64 of [A-Za-z0-9._-]; out is NULL; unknown
 *             flags; opts->slots above IOL_TABLE_MAX_SLOTS or below 16;
 *             opts->mode with bits outside 07777, or with any group or
 *             other bit (077)
 *   -EACCES   the file belongs to another user, or the mode refuses us;
 *             or the directory is not owned by root or the caller, or is
 *             group- or other-writable without the sticky bit (above)
 *   -ENOENT, -ENOTDIR  the directory does not exist, or is not one
 *   -ELOOP    the path is a symbolic link
 *   -EPROTO   the file is not an iolayer table of this version and layout
 *             (foreign magic, version, layout or size)
 *   -EUSERS   IOL_TABLE_MAX_PROCS processes are attached already
 *   -EAGAIN   the sentinel thread could not be created (thread limits)
 *   -ENOSYS   the kernel lacks futex_waitv (Linux 5.16), the minimum
 *   -ENOMEM, -ENOSPC, -EMFILE, ...  from the system calls underneath
 */
int iol_table_open(const char *name, const struct iol_table_opts *opts, iol_table **out);

/*
 * Close every handle this process has in t, abandon the mutexes its
 * threads own there, detach from the table and free t.  A wait in progress
 * in another thread keeps the mapping alive until it returns; until then
 * calls given t fail with -EBADF, and after it t is freed: like a pointer
 * given to free(), t must not be used after this call.
 * Returns 0, or -EINVAL when t is NULL, -EBADF when t was closed already
 * (and is still kept alive by such a wait).  With the table's lock held by a
 * stopped process it returns after waiting 10 s once (not once per handle);
 * the references it could not give back stay counted until this process
 * exits, and are then reclaimed by the survivors.
 */
int iol_table_close(iol_table *t);

/*
 * Reclaim what dead processes held in t: their references (objects only
 * they held are freed, and their file opens stop counting), their thread
 * and process objects (signaled), their thread records.  iolayer does
 * this by itself as soon as an attached process dies or exec()s (the
 * sentinels, above: one of the survivors is woken by the kernel), and
 * also when a table is opened, when an allocation would fail with
 * -ENOSPC, when a sharing check or IOL_EXCL creation would fail because
 * of a dead process, and when a waiter finds a mutex owner dead; calling
 * it is never needed, and harmless.
 * Idempotent, and safe when several processes do it at once.
 * Returns how many dead processes were reclaimed, or -EINVAL, -EBADF.
 */
int iol_table_reclaim(iol_table *t);

/*
 * Remove the table's file.  Processes attached keep working on the same
 * memory; the next iol_table_open() of the name creates a new table.
 * Returns 0, or -EINVAL (bad name), -ENOENT, -EACCES (not ours).
 */
int iol_table_unlink(const char *name);

/* ------------------------------------------------------------------ */
/* Named objects                                                      */
/* ------------------------------------------------------------------ */

/* open flags for named objects */
#define IOL_CREATE 0x1u /* create it if the name does not exist */
#define IOL_EXCL   0x2u /* with IOL_CREATE: -EEXIST if it exists */

/* Longest object name, in bytes, not counting the terminating NUL. */
#define IOL_NAME_MAX 255

/*
 * Create or open a mutex, event or semaphore.
 *
 * name NULL creates a new anonymous object (flags then need not include
 * IOL_CREATE).  Otherwise names are 1 to IOL_NAME_MAX bytes, one namespace
 * per table shared by every type.  Opening an existing object ignores the
 * creation arguments (initial owner, reset mode, counts), as Win32 does;
 * they are validated only when flags include IOL_CREATE.
 *
 * Returns a handle > 0, or:
 *   -EINVAL        t NULL; unknown flags; IOL_EXCL without IOL_CREATE;
 *                  empty name; (semaphore, with IOL_CREATE) max outside
 *                  1..INT32_MAX or initial > max
 *   -ENAMETOOLONG  name longer than IOL_NAME_MAX
 *   -ENOENT        the name does not exist and IOL_CREATE is not given
 *   -EEXIST        IOL_CREATE|IOL_EXCL and the name exists, or the name
 *                  exists as an object of another type
 *   -ENOSPC        the table is full
 *   -EMFILE        the process handle space (2^23 handles) is exhausted
 *   -ENOMEM        out of memory for the process-local handle table
 *   -EBADF         t was closed or inherited across fork()
 */
int iol_mutex_open(iol_table *t, const char *name, unsigned flags, bool initial_owner);
int iol_event_open(iol_table *t, const char *name, unsigned flags, bool manual_reset,
		   bool initial_state);
int iol_semaphore_open(iol_table *t, const char *name, unsigned flags, uint32_t initial,
		       uint32_t max);

/*
 * Release a mutex owned by the calling thread: returns the recursion count
 * before the release (1 means it is now free), or -EPERM when the calling
 * thread does not own it (nothing changes).
 *
 * Waiters get the mutex in no particular order, and a thread that releases
 * it and at once waits for it again may take it back before a waiter does
 * (as with glibc's mutexes): under contention the running thread keeps it,
 * which is what makes the contended mutex fast (docs/design.md, Mutex).
 */
int iol_mutex_release(int h);

/* Set, reset or pulse an event: returns the previous state, 0 or 1. */
int iol_event_set(int h);
int iol_event_reset(int h);
/*
 * Wake the threads waiting on the event at this moment (manual-reset: all
 * of them; auto-reset: one) and leave it unsignaled.  With no waiters it
 * only resets.  A thread blocked in IOL_WAIT_ALL is not released by a
 * pulse (see docs/design.md).
 */
int iol_event_pulse(int h);

/*
 * Add count to a semaphore: returns the previous count, or -EINVAL when
 * count is 0, or -EOVERFLOW when the count would exceed max (nothing
 * changes).
 */
int iol_semaphore_release(int h, uint32_t count);

/* ------------------------------------------------------------------ */
/* Waits                                                              */
/* ------------------------------------------------------------------ */

#define IOL_INFINITE  (-1) /* timeout_ns */
#define IOL_WAIT_ALL  0x1u
#define IOL_ABANDONED 0x80 /* OR'ed into a wait's result */
#define IOL_MAX_WAIT  64

/*
 * Wait until h is signaled and acquire it: a mutex is owned (recursively),
 * an auto-reset event is reset, a semaphore loses one count.
 *
 * timeout_ns is relative, on CLOCK_MONOTONIC; 0 polls, IOL_INFINITE waits
 * forever.  Signals never surface as -EINTR: the wait resumes with the
 * time left.  Returns 0, or IOL_ABANDONED when it acquired a mutex whose
 * previous owner died (it is now owned with count 1), or:
 *   -ETIMEDOUT  the timeout expired first
 *   -EINVAL     a negative timeout other than IOL_INFINITE; a handle that
 *               is not waitable
 *   -EOVERFLOW  a recursive mutex acquisition beyond UINT32_MAX
 *   -EAGAIN     the table ran out of thread records, or 2045 threads of this
 *               process have one there already
 *   -EDEADLK    the calling thread's first wait in the table, with a timeout
 *               longer than 10 s (or infinite), could not take the table's
 *               lock to allocate its thread record (see the top of this file);
 *               with a shorter timeout that is -ETIMEDOUT at the deadline
 */
int iol_wait(int h, int64_t timeout_ns);

/*
 * Wait on 1 to IOL_MAX_WAIT handles.
 *
 * Without IOL_WAIT_ALL: acquires only the lowest-index signaled object and
 * returns its index (| IOL_ABANDONED for an abandoned mutex).  The same
 * object may appear more than once; it is acquired once.
 *
 * With IOL_WAIT_ALL: acquires every object atomically or none of them, and
 * returns 0 (| IOL_ABANDONED if any mutex among them was abandoned).
 * The same object twice, even through two handles, is -EINVAL, and so are
 * handles from more than one table (-EXDEV).
 *
 * Errors as iol_wait(), plus -EINVAL for n outside 1..IOL_MAX_WAIT, NULL
 * handles or unknown flags, and -EXDEV as above.
 */
int iol_wait_many(const int *handles, unsigned n, unsigned flags, int64_t timeout_ns);

/*
 * Signal signal_h (release the mutex, set the event, release the semaphore
 * by 1) and wait on wait_h, with no window between the two in which a
 * wakeup of wait_h could be missed: this thread counts as a waiter of
 * wait_h before signal_h is signaled.  If signaling fails its error is
 * returned (-EPERM, -EOVERFLOW, -EINVAL for a type that cannot be
 * signaled) and nothing is waited for.  Otherwise as iol_wait(wait_h).
 */
int iol_signal_and_wait(int signal_h, int wait_h, int64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Handles                                                            */
/* ------------------------------------------------------------------ */

/* Close a handle.  The object lives while any handle to it, in any
 * process, is open.  A wait in progress on h keeps its own reference. */
int iol_close(int h);

/* A new handle to the same object.  -EMFILE, -ENOMEM as for open. */
int iol_dup(int h);

/*
 * A token naming h's object that any process attached to the same table
 * can pass to iol_import().  Tokens carry the slot's generation: a token
 * whose object has been destroyed never reaches a reused slot.
 * Returns 0, or -EINVAL (token NULL).
 */
int iol_export(int h, uint64_t *token);

/*
 * A new handle to the object a token names.  Returns a handle, or -ENOENT
 * when the object no longer exists (or the token belongs to another
 * table), -EINVAL (t NULL), -EBADF (t closed), -EMFILE, -ENOMEM.
 */
int iol_import(iol_table *t, uint64_t token);

enum iol_type {
	IOL_TYPE_MUTEX = 1,
	IOL_TYPE_EVENT,
	IOL_TYPE_SEMAPHORE,
	IOL_TYPE_PROCESS,
	IOL_TYPE_THREAD,
	IOL_TYPE_FILE,
};

struct iol_info {
	int type;
	uint32_t refs;	/* open handles to the object, over every process */
	char name[256]; /* "" for an anonymous object */
	union {
		struct {
			pid_t owner_tid; /* 0 when free or abandoned */
			uint32_t recursion;
			bool abandoned;
		} mutex;
		struct {
			bool manual_reset;
			bool signaled;
		} event;
		struct {
			uint32_t count;
			uint32_t max;
		} semaphore;
		struct {
			pid_t pid;
			bool ended;
			bool status_known; /* the fields below are valid */
			bool exited;	   /* exited with code, else killed by signal */
			bool core_dumped;
			int code;
			int signal;
		} process;
		struct {
			pid_t tid;
			bool ended;
		} thread;
		struct {
			uint64_t dev, ino;
			unsigned access; /* IOL_SHARE_* bits as access: read, write */
			unsigned share;	 /* IOL_SHARE_* this open grants */
			/* the file's record, over every open in every process */
			uint32_t opens, readers, writers, deleters;
			uint32_t share_read, share_write, share_delete;
		} file;
	} u;
};

/* Describe h's object.  Returns 0, or -EINVAL when out is NULL. */
int iol_query(int h, struct iol_info *out);

/* The name of a type ("mutex", ...), or "unknown". */
const char *iol_type_name(int type);

#ifdef __cplusplus
}
#endif

#include "iolayer/file.h"
#include "iolayer/pool.h"
#include "iolayer/probe.h"
#include "iolayer/process.h"

#endif /* IOLAYER_H */
