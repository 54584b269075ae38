/* SPDX-License-Identifier: MIT */
/*
 * The shared handle table: memory layout and internal interfaces.
 *
 * One file, mapped MAP_SHARED by every attached process, laid out as
 *
 *   header | process records | thread records | name buckets | slots | rows
 *
 * each region page-aligned so that creating a table touches only the
 * header: the rest is a sparse tmpfs file whose pages appear as they are
 * used.  Every offset and count is derived locally from (nslots,
 * max_procs) and compared with the header once at open; afterwards no
 * size or offset is read from shared memory again, and every index that
 * is read from shared memory is bounds-checked before use.
 *
 * See docs/design.md for the slot states, the memory-ordering argument of
 * each operation and the lock hierarchy.
 */
#ifndef IOLAYER_SRC_TABLE_H
#define IOLAYER_SRC_TABLE_H

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "iolayer.h"

#define IOLI_MAGIC	0x31726579616c6f69ULL /* "iolayer1" little-endian */
#define IOLI_VERSION	3u

#define IOLI_MAX_THRECS 16384u /* thread records per table (index+1 fits 15 bits) */
#define IOLI_UNDO_MAX	64u    /* undo entries per table-lock critical section */
#define IOLI_PAGE	4096u

/* ---- slots --------------------------------------------------------- */

/* slot->state: LIVE bit, type in bits 0-7, object flags in bits 8-15 */
#define IOLI_SLOT_LIVE	   0x80000000u
#define IOLI_SLOT_TYPE(s)  ((s)&0xffu)
#define IOLI_SLOT_FLAGS(s) (((s) >> 8) & 0xffu)
#define IOLI_OBJ_MANUAL	   0x01u /* event: manual reset */
#define IOLI_OBJ_KEYED	   0x02u /* named by an internal binary key, not a user name */

/* Internal slot types, never handed out as handles. */
#define IOLI_TYPE_FILEREC 0x40u

/* Keys of internal objects start with a NUL byte, which no user name can. */
#define IOLI_KEY_PROCESS 0x01u
#define IOLI_KEY_FILE	 0x02u

/* process and thread words: [0] SIGNALED (it ended) */
#define IOLI_SIG_SIGNALED 0x1u

/* process status: [31] HAVE [30] EXITED [29] CORE [15:8] signal [7:0] code */
#define IOLI_PS_HAVE   0x80000000u
#define IOLI_PS_EXITED 0x40000000u
#define IOLI_PS_CORE   0x20000000u

/* file access bits held by an open */
#define IOLI_ACC_READ	0x1u
#define IOLI_ACC_WRITE	0x2u
#define IOLI_ACC_DELETE 0x4u

/* Every futex word has this bit: set only by a wait-all holding the
 * table's wait-all lock, for the few instructions of its commit. */
#define IOLI_W_LOCKED 0x80000000u

/* mutex word: [31] LOCKED [30] ABANDONED [29] SLEEPERS [28:0] owner id
 * (0 = free).  SLEEPERS: a waiter may be asleep on the owned word, so its
 * release must wake one (src/objects/mutex.c). */
#define IOLI_MX_ABANDONED  0x40000000u
#define IOLI_MX_SLEEPERS   0x20000000u
#define IOLI_MX_OWNER_MASK 0x1fffffffu
/* owner id = (thread record index + 1) | (record generation << 15) */
#define IOLI_OWNER_IDX_BITS 15u
#define IOLI_OWNER_IDX_MASK 0x7fffu
#define IOLI_OWNER_GEN_MASK 0x3fffu

/* event word: [31] LOCKED [30:1] pulse epoch [0] SIGNALED */
#define IOLI_EV_SIGNALED   0x1u
#define IOLI_EV_EPOCH_ONE  0x2u
#define IOLI_EV_EPOCH_MASK 0x7ffffffeu

/* semaphore word: [31] LOCKED [30:0] count */
#define IOLI_SEM_COUNT_MASK 0x7fffffffu

struct ioli_slot {
	/* First cache line: what an uncontended acquire and release touch
	 * (the word, the LIVE check, a mutex's recursion).  The waiter
	 * counts are on the next line, so that a thread registering as a
	 * waiter does not take the word's line from the owner at work. */
	_Atomic uint32_t word;
	_Atomic uint32_t gen;	   /* bumped when the slot is freed (T) */
	_Atomic uint32_t state;	   /* LIVE | type | flags (T) */
	_Atomic uint32_t refs;	   /* handles over all processes (T) */
	_Atomic uint32_t next;	   /* free list or hash chain, index + 1 (T) */
	_Atomic uint32_t hash;	   /* hash of the name (T) */
	_Atomic uint32_t name_len; /* 0 = anonymous (T) */
	/* Of refs, those iolayer holds itself rather than handles: a spawner's
	 * reference until it has reaped the child, a running thread's on its
	 * own object.  iol_query reports refs - internal. (T) */
	_Atomic uint32_t internal;
	union {
		struct {
			_Atomic uint32_t recursion; /* written by the owner */
		} mutex;
		struct {
			_Atomic uint32_t grants; /* auto-reset pulses not yet consumed */
		} event;
		struct {
			uint32_t max; /* immutable while live */
		} sem;
		struct { /* IOL_TYPE_PROCESS */
			_Atomic uint32_t pid;
			_Atomic uint32_t ident_kind;
			_Atomic uint64_t ident;
			_Atomic uint32_t spawner;     /* process record + 1, 0: none */
			_Atomic uint32_t spawner_gen; /* its generation */
			_Atomic uint32_t status;      /* IOLI_PS_* */
		} proc;
		struct { /* IOL_TYPE_THREAD */
			_Atomic uint32_t tid;
			_Atomic uint32_t creator; /* process record + 1 */
			_Atomic uint32_t creator_gen;
			_Atomic uint64_t result;
		} thread;
		struct {		      /* IOL_TYPE_FILE: one open */
			_Atomic uint32_t rec; /* its file record's slot */
			_Atomic uint32_t rec_gen;
			_Atomic uint32_t access; /* IOLI_ACC_* */
			_Atomic uint32_t share;	 /* IOL_SHARE_* */
		} fopen;
		struct { /* IOLI_TYPE_FILEREC: one file, keyed by device and inode */
			_Atomic uint32_t dev_lo, dev_hi, ino_lo, ino_hi;
			_Atomic uint32_t opens, readers, writers, deleters;
			_Atomic uint32_t sh_read, sh_write, sh_delete;
		} frec;
		uint8_t raw[88];
	} u;
	_Atomic uint32_t waiters; /* threads registered as waiting */
	_Atomic uint32_t multi;	  /* of which woken by every change: wait-all, pool */
	char name[256];
};

/* ---- process and thread records ------------------------------------ */

#define IOLI_PROC_FREE	     0u
#define IOLI_PROC_LIVE	     1u

#define IOLI_IDENT_PIDFS     1u /* ident is the pidfs inode */
#define IOLI_IDENT_STARTTIME 2u /* ident is the start time from /proc */

struct ioli_proc {
	_Atomic uint32_t state; /* (T) */
	_Atomic uint32_t gen;	/* (T) */
	/* Written before the record turns LIVE, constant while it is. */
	_Atomic uint32_t pid;
	_Atomic uint32_t ident_kind;
	_Atomic uint64_t ident;
	/* bit p set: row page p (1024 slots) may hold non-zero counts */
	_Atomic uint64_t row_pages[(1u << 20) / 1024u / 64u];
	/*
	 * The process's liveness word: its sentinel thread's tid while the
	 * record is LIVE (src/table/sentinel.c).  The word is on that thread's
	 * robust list, so when the process dies or exec()s, the kernel sets
	 * FUTEX_OWNER_DIED in it and wakes the survivor watching it.
	 */
	alignas(8) _Atomic uint32_t live;
	_Atomic uint32_t stid; /* the tid live holds while the record is ours */
	_Atomic uint32_t poke; /* bumped to make our sentinel pick its target again */
	uint32_t reserved1;
	uint8_t reserved[88];
};

#define IOLI_THREC_FREE 0u
#define IOLI_THREC_LIVE 1u

struct ioli_threc {
	_Atomic uint32_t state; /* (T) */
	_Atomic uint32_t gen;	/* (T) */
	_Atomic uint32_t tid;	/* (T) */
	_Atomic uint32_t proc;	/* owning process record (T) */
	_Atomic uint32_t next;	/* free list, index + 1 (T) */
	uint32_t reserved0[3];
	/*
	 * The thread's liveness word: the tid of its process's sentinel
	 * thread (src/table/sentinel.c) for as long as the record is its own, 0
	 * once released.  It is on the sentinel's robust list, whose entries
	 * live in process-private memory: when the process dies or exec()s,
	 * the kernel marks the word FUTEX_OWNER_DIED and wakes a waiter; a
	 * thread that exits clears it from its thread-specific destructor.
	 * That is how a waiter in any process learns that a mutex owner
	 * died, with no polling, and no pointer in shared memory is ever
	 * followed.
	 */
	alignas(8) _Atomic uint32_t live;
	_Atomic uint32_t stid; /* the value live holds while the record is LIVE */
	uint8_t reserved1[128 - 32 - 8];
	/*
	 * Waiting journal, written only by the thread: the slots it is
	 * registered on as a waiter, so that the counts of a thread that died
	 * while waiting can be given back.  Bit i of wait_reg is set once the
	 * count of wait_slot[i] was taken (and cleared before it is returned),
	 * so a death between the two never makes a count too small.
	 */
	_Atomic uint32_t wait_n;
	_Atomic uint32_t wait_multi; /* the registration counted in `multi` too */
	_Atomic uint64_t wait_reg;
	_Atomic uint32_t wait_slot[IOL_MAX_WAIT];
	_Atomic uint32_t wait_gen[IOL_MAX_WAIT]; /* the slot's generation then */
	uint8_t reserved2[1024 - 128 - 16 - 8 * IOL_MAX_WAIT];
};

/* ---- header -------------------------------------------------------- */

/*
 * A robust table lock (T, L), our own rather than a glibc robust mutex,
 * whose list pointers would sit in shared memory where one scribble turns
 * an unlock into a write anywhere in the process.  The word holds the
 * locking process's sentinel tid (plus FUTEX_WAITERS / FUTEX_OWNER_DIED, as
 * the kernel's robust-futex protocol wants); it is on the sentinel's
 * robust list, so the kernel marks it FUTEX_OWNER_DIED when that process
 * dies.  pid is the holder's process, written after each acquisition so a
 * taker can wait for a dead holder's last threads to be gone.
 */
struct ioli_rlock {
	_Atomic uint32_t word;
	_Atomic uint32_t pid;
	uint32_t reserved[6];
};

struct ioli_undo {
	uint64_t off; /* byte offset of a 32-bit field from the table base */
	uint32_t old;
	uint32_t reserved;
};

/* Wait-all journal phases */
#define IOLI_WA_IDLE	0u
#define IOLI_WA_LOCKING 1u
#define IOLI_WA_COMMIT	2u

struct ioli_hdr {
	/* identity and layout: written once at creation */
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t slot_size;
	uint32_t proc_size;
	uint32_t threc_size;
	uint32_t lock_size;
	uint32_t nslots;
	uint32_t nbuckets;
	uint32_t max_procs;
	uint32_t max_threcs;
	uint64_t off_procs, off_threcs, off_buckets, off_slots, off_rows;
	uint64_t total_size;
	uint32_t salt; /* random: tokens of another table never match */
	uint32_t reserved0;

	/* T: the table lock.  Allocation, names, references, records. */
	alignas(64) struct ioli_rlock lock;
	_Atomic uint32_t free_head;  /* free slot list, index + 1 */
	_Atomic uint32_t hwm;	     /* slots [0, hwm) have been used */
	_Atomic uint32_t live;	     /* live objects */
	_Atomic uint32_t threc_free; /* free thread records, index + 1 */
	_Atomic uint32_t threc_hwm;
	_Atomic uint32_t proc_hwm; /* process records [0, proc_hwm) have been used */
	_Atomic uint32_t undo_n;
	struct ioli_undo undo[IOLI_UNDO_MAX];

	/* L: the wait-all lock and its journal (roll-forward on death) */
	alignas(64) struct ioli_rlock walock;
	_Atomic uint32_t wa_phase;
	_Atomic uint32_t wa_n;
	struct {
		_Atomic uint32_t slot;
		_Atomic uint32_t old; /* the value before LOCKED was set */
		_Atomic uint32_t new; /* the value the commit stores */
		uint32_t reserved;
	} wa[IOL_MAX_WAIT];
};

/* ---- the process-local view of a table ----------------------------- */

struct iol_table {
	uint8_t *base;
	size_t size;
	struct ioli_hdr *hdr;
	struct ioli_proc *procs;
	struct ioli_threc *threcs;
	_Atomic uint32_t *buckets;
	struct ioli_slot *slots;
	_Atomic uint32_t *rows;
	/* copies of the header's layout, validated once */
	uint32_t nslots, nbuckets, max_procs, max_threcs, salt;
	uint32_t self; /* our process record */
	uint32_t self_gen;
	bool private_;		     /* IOL_TABLE_PRIVATE */
	bool futex_private;	     /* FUTEX_PRIVATE_FLAG for object words */
	_Atomic bool closed;	     /* iol_table_close() was called */
	_Atomic bool forked;	     /* this is a fork()ed child's copy */
	_Atomic bool reclaim_wanted; /* a death was noticed: reclaim soon */
	uint64_t id;		     /* unique in this process, never reused */
	dev_t dev;		     /* file identity (0 for private tables) */
	ino_t ino;
	char name[65];
	struct iol_table *reg_next;		/* the process's registry of tables */
	struct ioli_sentinel *_Atomic sentinel; /* src/table/sentinel.c: NULL until first needed */
	_Atomic pid_t tholder, lholder;		/* the thread of ours holding T / L, or 0 */
	_Atomic bool detached;			/* our process record was given back */
	/* open + pinned handles + thread records + watches.  Last, on a line
	 * of its own: every blocking wait pins (and so writes it), and the
	 * fields above are read by every other thread's fast path. */
	alignas(64) _Atomic uint32_t localrefs;
};

/* Pointer helpers, all bounds-checked by the callers' index checks. */
static inline struct ioli_slot *ioli_slot(iol_table *t, uint32_t i)
{
	return &t->slots[i];
}
static inline _Atomic uint32_t *ioli_row(iol_table *t, uint32_t proc)
{
	return t->rows + (size_t)proc * t->nslots;
}
/* Process records ever used: scans stop there, so a table whose first
 * records are used does not read (and allocate) all 1024. */
static inline uint32_t ioli_proc_hwm(iol_table *t)
{
	uint32_t n = atomic_load_explicit(&t->hdr->proc_hwm, memory_order_relaxed);

	return n < t->max_procs ? n : t->max_procs;
}

/* ---- layout (src/table/layout.c) ----------------------------------------- */

struct ioli_layout {
	uint32_t nslots, nbuckets, max_procs, max_threcs;
	uint64_t off_procs, off_threcs, off_buckets, off_slots, off_rows, total_size;
};
void ioli_layout_compute(uint32_t nslots, uint32_t max_procs, struct ioli_layout *l);
void ioli_header_init(struct ioli_hdr *h, const struct ioli_layout *l, uint32_t salt);
int ioli_header_check(const struct ioli_hdr *h, uint64_t file_size, struct ioli_layout *out);

/* ---- the table lock T with its undo log (src/table/tlock.c) -------------- */

/* How long T or L may stay held before a locker gives up with -EDEADLK
 * (shorter in the fault-injection build, whose tests stop a holder). */
#ifdef IOLI_FAULT_INJECTION
#define IOLI_LOCK_PATIENCE_S 2
#else
#define IOLI_LOCK_PATIENCE_S 10
#endif
/* How long exit() waits for T in all (its handler returns this process's
 * references; survivors reclaim what it could not). */
#ifdef IOLI_FAULT_INJECTION
#define IOLI_EXIT_PATIENCE_MS 500
#else
#define IOLI_EXIT_PATIENCE_MS 1000
#endif
/* Lock a robust table lock (T or L): 0, EOWNERDEAD (the holder died: the
 * lock is now ours), EDEADLK (held past IOLI_LOCK_PATIENCE_S or the
 * thread's limit below, or a relock by this thread), or another positive
 * errno.  _until: also give up at *until (CLOCK_MONOTONIC; NULL: none)
 * when that is sooner, with ETIMEDOUT. */
int ioli_rlock_lock(iol_table *t, struct ioli_rlock *l, _Atomic pid_t *holder);
int ioli_rlock_lock_until(iol_table *t, struct ioli_rlock *l, _Atomic pid_t *holder,
			  const struct timespec *until);
void ioli_rlock_unlock(struct ioli_rlock *l, _Atomic pid_t *holder);
/* Until ioli_lock_limit_end(prev), every T or L acquisition of the calling
 * thread gives up (EDEADLK) once ns from now have passed, and after that
 * only tries: a lock held by a stopped process costs a table close or the
 * exit handler one wait in all, not one per handle.  Nests (the sooner
 * limit holds); returns prev. */
int64_t ioli_lock_limit_begin(int64_t ns);
void ioli_lock_limit_end(int64_t prev);
int ioli_tlock(iol_table *t);
/* ioli_tlock(), also giving up at *until with -ETIMEDOUT (a wait's deadline). */
int ioli_tlock_until(iol_table *t, const struct timespec *until);
/* ioli_tlock(), also saying how long a stale log it emptied was (fsck). */
int ioli_tlock_stale(iol_table *t, uint32_t *stale);
void ioli_tunlock(iol_table *t);
/* Under T: make every write so far permanent (the commit point of
 * ioli_tunlock()) and start an empty undo log, keeping T (fsck). */
void ioli_tcommit(iol_table *t);
/* Under T: log the old value of a 32-bit field, then store v. */
void ioli_tset(iol_table *t, _Atomic uint32_t *field, uint32_t v);

/* ---- the sentinel thread (src/table/sentinel.c) -------------------------- */

/* The tid of t's sentinel thread, started on first use: the value this
 * process writes into lock and liveness words of t.  Or a negative errno. */
int ioli_sentinel_tid(iol_table *t);
/* Put a word of t (header, process or thread records) on the sentinel's
 * robust list, or take it off.  track fails with -EAGAIN past the
 * kernel's robust-list length limit. */
int ioli_sentinel_track(iol_table *t, _Atomic uint32_t *word);
void ioli_sentinel_untrack(iol_table *t, _Atomic uint32_t *word);
/* Tell our own sentinel we attached as record self (UINT32_MAX: detached):
 * it watches the next record only while we are attached. */
void ioli_sentinel_attached(iol_table *t, uint32_t self);
/* The record the sentinel of record p watches: the next attached one in
 * ring (record) order, or UINT32_MAX when p is alone. */
uint32_t ioli_sentinel_target(iol_table *t, uint32_t p);
/* We attached as record p: tell our ring predecessor to watch us, and our
 * own sentinel to start watching. */
void ioli_sentinel_joined(iol_table *t, uint32_t p);
/* Give up a liveness word we hold: clear it, wake whoever watches it, and
 * take it off the robust list. */
void ioli_sentinel_release(iol_table *t, _Atomic uint32_t *w);
/* Watch liveness word w, expected to hold stid: false when its holder is
 * gone; else FUTEX_WAITERS is set in it and *val is the value to sleep on. */
bool ioli_live_word_watch(_Atomic uint32_t *w, uint32_t stid, uint32_t *val);
/* Stop and join t's sentinel (nothing of ours may hold its tid then). */
void ioli_sentinel_stop(iol_table *t);
/* In a fork()ed child: the sentinel is the parent's; forget it. */
void ioli_sentinel_after_fork(iol_table *t);
/* Did the holder of liveness word w (expected to hold stid) go away:
 * marked FUTEX_OWNER_DIED by the kernel, cleared, or naming another tid? */
static inline bool ioli_live_word_dead(uint32_t w, uint32_t stid)
{
	return stid == 0 || (w & 0x40000000u /* FUTEX_OWNER_DIED */) ||
	       (w & 0x3fffffffu /* FUTEX_TID_MASK */) != stid;
}
/* Wait (at most ms milliseconds) until process pid has no thread left
 * running: a holder that the kernel reported dead may still have threads
 * leaving.  Returns at once if pid is gone. */
void ioli_wait_gone(pid_t pid, int ms);

/* ---- process identity (src/table/procid.c) ------------------------------ */

/* An identity for pid that survives pid reuse: its pidfs inode where
 * pidfds have one (the probe's IOL_FEAT_PIDFS), else its start time. */
int ioli_proc_identity(pid_t pid, uint32_t *kind, uint64_t *ident);
/* The identity of the process a pidfd refers to (pid given for the
 * start-time fallback); -ESRCH if it was reaped meanwhile. */
int ioli_pidfd_identity(int pidfd, pid_t pid, uint32_t *kind, uint64_t *ident);
/* Is process record p (of generation gen) attached and its process alive? */
bool ioli_proc_alive(iol_table *t, uint32_t p, uint32_t gen);

/* ---- tables (src/table/table.c) ------------------------------------------- */

bool ioli_table_usable(iol_table *t);
/* Map a table without attaching to it (t->self is UINT32_MAX), to look at
 * it (iolayer ls) or check and repair it (fsck).  Closed with
 * ioli_table_inspect_close(). */
int ioli_table_inspect(const char *name, bool writable, iol_table **out);
int ioli_table_inspect_fd(int fd, bool writable, iol_table **out);
void ioli_table_inspect_close(iol_table *t);
int ioli_table_path(const char *name, char *buf, size_t len);
void ioli_table_ref(iol_table *t);
void ioli_table_unref(iol_table *t);

/* ---- names (src/table/names.c), under T ---------------------------------- */

uint32_t ioli_name_hash(const char *name, size_t len);
/* Returns the slot index or UINT32_MAX. */
uint32_t ioli_name_find(iol_table *t, const char *name, size_t len, uint32_t hash);
void ioli_name_insert(iol_table *t, uint32_t slot);
void ioli_name_remove(iol_table *t, uint32_t slot);

/* ---- slots and references (src/table/slots.c), under T ------------------- */

/* Allocate a slot, LIVE with the given type, flags and name, refs 0.
 * Returns the index or -ENOSPC. */
int ioli_slot_alloc(iol_table *t, uint32_t type, uint32_t flags, const char *name, size_t len,
		    uint32_t hash);
/* One more / one fewer handle held by process record `proc`.  ref_get
 * fails with -EMFILE when a count would overflow; ref_put frees the slot
 * when the count reaches 0. */
int ioli_ref_get(iol_table *t, uint32_t proc, uint32_t slot);
void ioli_ref_put(iol_table *t, uint32_t proc, uint32_t slot);
bool ioli_slot_live(iol_table *t, uint32_t slot, uint32_t gen);
/* Free a slot now (its references are gone), running its type's release. */
void ioli_slot_free(iol_table *t, uint32_t slot);
/* Give a keyed (internal) name to a live anonymous slot. */
void ioli_slot_set_key(iol_table *t, uint32_t slot, const uint8_t *key, size_t len);

/* ---- reclaiming dead processes (src/process/reclaim.c) ---------------------- */

/* Reclaim every attached process that is dead; returns how many. */
int ioli_reclaim_dead(iol_table *t);
/* Reclaim process record p of generation gen (1 done, 0 not needed). */
int ioli_reclaim_proc(iol_table *t, uint32_t p, uint32_t gen);
/* Was the slot's object spawned (process) or created (thread) by process
 * record p of generation gen, so that its internal reference is p's? */
bool ioli_created_by(iol_table *t, uint32_t slot, uint32_t p, uint32_t gen);
/* Under T: give back n of process p's references on a slot. */
void ioli_ref_put_n(iol_table *t, uint32_t p, uint32_t slot, uint32_t n);

/* ---- process-local handles (src/table/handles.c) ------------------------- */

struct ioli_href {
	iol_table *t;
	struct ioli_slot *s;
	uint32_t slot;
	uint32_t sgen;
	uint32_t type;
	int h;
};

/*
 * A handle is (entry index << 8) | generation.  Entries live in chunks that
 * are never freed, so a lookup needs no lock: it reads the entry's control
 * word, the fields, and the control word again.  The control word is
 * [31:24] generation, [23] LIVE, [22] RESERVED, [21:0] pins.
 *
 * Exposed here only so that the lookup can be inlined into the fast paths
 * of the objects (ioli_handle_fast); everything else goes through the
 * functions of src/handles.c.
 */
#define IOLI_H_CHUNK	 1024u
#define IOLI_H_MAXCHUNKS 8192u /* 2^23 entries: every positive int's index */
#define IOLI_H_LIVE	 0x00800000u
#define IOLI_H_RESERVED	 0x00400000u
#define IOLI_H_PINS	 0x003fffffu
#define IOLI_H_GEN(c)	 ((c) >> 24)

/* One cache line each: a wait pins its handle (a write to ctl), which must
 * not slow down the lookups of the other threads' handles. */
struct ioli_hent {
	alignas(64) _Atomic uint32_t ctl;
	_Atomic uint32_t slot;
	_Atomic uint32_t sgen;
	_Atomic uint32_t type;
	_Atomic(iol_table *) t;
	/* &t->slots[slot], computed once when the handle is published (the
	 * slot index was bounds-checked then), so a lookup follows no index
	 * that could be out of range. */
	_Atomic(struct ioli_slot *) s;
	uint32_t next_free; /* index + 1, under the handle lock */
};

/* hidden: addressed directly, not through the GOT, in position-independent
 * code (one load less per lookup in the shared library). */
extern __attribute__((
    visibility("hidden"))) _Atomic(struct ioli_hent *) ioli_hchunks[IOLI_H_MAXCHUNKS];

/*
 * Resolve h without pinning it: 0, or -EBADF for anything but a live
 * handle whose object is still the one it was opened on.  A few loads and
 * three compares: the entry's generation and LIVE bit (one compare, twice,
 * around the copy, since another thread may close and reuse the entry
 * meanwhile), then the slot's LIVE bit and generation, since a slot freed
 * behind the handle's back (a process reclaimed by mistake, fsck, a
 * scribble) may hold someone else's object by now.
 *
 * The table is not checked here: a table is marked closed only by
 * iol_table_close() and at exit, which then close all its handles, and a
 * fork()ed child forgets every handle it inherited; so a LIVE entry always
 * names a mapped table, and calling while another thread closes the table
 * is a race the caller owns either way.
 */
static inline int ioli_handle_fast(int h, struct ioli_href *out)
{
	const uint32_t mask = 0xff000000u | IOLI_H_LIVE;
	uint32_t idx = (uint32_t)h >> 8, want = ((uint32_t)h << 24) | IOLI_H_LIVE;
	struct ioli_hent *c, *e;
	struct ioli_slot *s;

	if (h <= 0) /* and so idx < IOLI_H_CHUNK * IOLI_H_MAXCHUNKS */
		return -EBADF;
	c = atomic_load_explicit(&ioli_hchunks[idx / IOLI_H_CHUNK], memory_order_acquire);
	if (!c)
		return -EBADF;
	e = &c[idx % IOLI_H_CHUNK];
	if ((atomic_load_explicit(&e->ctl, memory_order_acquire) & mask) != want)
		return -EBADF;
	/* acquire, so that the re-check below is not done before the copy
	 * (free on x86; atomic_thread_fence would do, but TSan refuses it) */
	out->t = atomic_load_explicit(&e->t, memory_order_acquire);
	out->s = s = atomic_load_explicit(&e->s, memory_order_acquire);
	out->slot = atomic_load_explicit(&e->slot, memory_order_acquire);
	out->sgen = atomic_load_explicit(&e->sgen, memory_order_acquire);
	out->type = atomic_load_explicit(&e->type, memory_order_acquire);
	out->h = h;
	if ((atomic_load_explicit(&e->ctl, memory_order_relaxed) & mask) != want)
		return -EBADF;
	if (!(atomic_load_explicit(&s->state, memory_order_acquire) & IOLI_SLOT_LIVE) ||
	    atomic_load_explicit(&s->gen, memory_order_relaxed) != out->sgen)
		return -EBADF;
	return 0;
}

/* ioli_handle_fast() for calls that take one type: -EINVAL for another. */
static inline int ioli_handle_fast_typed(int h, uint32_t type, struct ioli_href *out)
{
	int err = ioli_handle_fast(h, out);

	if (err)
		return err;
	return out->type == type ? 0 : -EINVAL;
}

/* The same, out of line. */
int ioli_handle_get(int h, struct ioli_href *out);
int ioli_handle_get_typed(int h, uint32_t type, struct ioli_href *out);
/* Resolve and pin: the object stays alive until ioli_handle_unpin(),
 * even if h is closed meanwhile. */
int ioli_handle_pin(int h, struct ioli_href *out);
void ioli_handle_unpin(int h);
/* The same for a caller that keeps the handle's table mapped itself for
 * as long as the pin lasts: a thread with a record in the table (the
 * record holds a table reference that only its thread gives back).  It
 * saves a write to the process-wide reference count on every wait. */
int ioli_handle_pin_held(int h, struct ioli_href *out);
void ioli_handle_unpin_held(int h);
/* Reserve a handle number; publish it with ioli_handle_publish() once the
 * shared reference exists, or give it back with ioli_handle_cancel().
 * slot must be < t->nslots (callers found or allocated it under T). */
int ioli_handle_reserve(void);
void ioli_handle_publish(int h, iol_table *t, uint32_t slot, uint32_t sgen, uint32_t type);
void ioli_handle_cancel(int h);
/* Close every handle of t (iol_table_close) / forget all (after fork). */
void ioli_handles_close_table(iol_table *t);
void ioli_handles_after_fork(void);
void ioli_handles_atfork_prepare(void);
void ioli_handles_atfork_parent(void);

/* ---- thread records (src/table/threc.c) ----------------------------------- */

struct ioli_owned {
	uint32_t slot;
	uint32_t gen;
};

/* The calling thread's record in a table, as this process keeps it. */
struct ioli_me {
	iol_table *t;
	uint64_t table_id;
	uint32_t rec;
	uint32_t owner;		  /* the owner id mutex words hold */
	struct ioli_owned *owned; /* mutexes it owns, for abandonment at exit */
	uint32_t nowned, cap;
};

/* Find (NULL if none) / find or allocate the calling thread's record.
 * Allocating takes T: -EDEADLK after the lock patience, or with _until
 * -ETIMEDOUT at the deadline dl when that is sooner (NULL: none; a deadline
 * already passed only tries). */
struct ioli_me *ioli_me_find_slow(iol_table *t);

/* The calling thread's records, one per table it has one in
 * (src/table/threc.c); here for the inline lookups below. */
struct ioli_tls {
	pid_t tid;
	unsigned n, cap, last;
	struct ioli_me *recs;
};
extern _Thread_local struct ioli_tls ioli_tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* The record the thread used last, if it is t's: what a mutex's acquire
 * and release look up, without a call. */
static inline struct ioli_me *ioli_me_last(iol_table *t)
{
	struct ioli_tls *s = &ioli_tls;

	if (s->last < s->n && s->recs[s->last].table_id == t->id)
		return &s->recs[s->last];
	return NULL;
}

static inline struct ioli_me *ioli_me_find(iol_table *t)
{
	struct ioli_me *m = ioli_me_last(t);

	return m ? m : ioli_me_find_slow(t);
}
struct ioli_deadline;
int ioli_me_get_until(iol_table *t, const struct ioli_deadline *dl, struct ioli_me **out);
/* For a wait's attempts: ioli_me_get_until() giving T 10 ms at most (-ETIMEDOUT;
 * the wait then allocates with its deadline, ioli_self_owner_until). */
int ioli_me_try_slow(iol_table *t, struct ioli_me **out);
static inline int ioli_me_try(iol_table *t, struct ioli_me **out)
{
	return (*out = ioli_me_last(t)) != NULL ? 0 : ioli_me_try_slow(t, out);
}
/* Track a mutex the thread took / released. */
void ioli_me_push(struct ioli_me *me, uint32_t slot);
void ioli_me_pop(struct ioli_me *me, uint32_t slot);

/* Their inline halves, for the mutex fast path: the common case (room in
 * the array; releasing the mutex taken last) without a call.  gen is the
 * slot's generation (the caller's handle was just checked against it). */
static inline void ioli_me_push_fast(struct ioli_me *me, uint32_t slot, uint32_t gen)
{
	if (me->nowned < me->cap) {
		me->owned[me->nowned].slot = slot;
		me->owned[me->nowned].gen = gen;
		me->nowned++;
		return;
	}
	ioli_me_push(me, slot);
}
static inline void ioli_me_pop_fast(struct ioli_me *me, uint32_t slot)
{
	if (me->nowned > 0 && me->owned[me->nowned - 1].slot == slot) {
		me->nowned--;
		return;
	}
	ioli_me_pop(me, slot);
}

/* The calling thread's owner id in t (allocating its record on first
 * use), or a negative errno. */
int ioli_self_owner(iol_table *t, uint32_t *owner);
int ioli_self_owner_until(iol_table *t, const struct ioli_deadline *dl, uint32_t *owner);
/* The calling thread's owner id if it already has a record, else 0. */
uint32_t ioli_self_owner_peek(iol_table *t);
pid_t ioli_gettid(void);
/* getpid(), without the system call after the first (fork()-safe). */
pid_t ioli_getpid(void);
/* Is the thread behind an owner id alive?  Also gives its tid. */
bool ioli_owner_alive(iol_table *t, uint32_t owner, pid_t *tid);
/*
 * The owner's liveness word, for a waiter to sleep on beside a mutex's:
 * 1 (*word and the value to expect set), -ESRCH if the owner is gone, or
 * 0 if it is a thread of the calling process.  Its word is marked only
 * when the process dies, which ends the caller too, and a thread that
 * exits abandons its mutexes itself (waking their sleepers), so there is
 * nothing to watch: a plain futex wait instead of futex_waitv.
 */
int ioli_owner_live_word(iol_table *t, uint32_t owner, _Atomic uint32_t **word, uint32_t *val);
/* Track mutexes the calling thread owns (for abandonment at its exit). */
void ioli_owned_push(iol_table *t, uint32_t slot);
/* Drop the calling thread's record in t (table close). */
void ioli_threc_release_self(iol_table *t);
void ioli_threc_after_fork(void);
/* The calling thread's record in t, or NULL (its wait journal lives there). */
struct ioli_threc *ioli_self_threc(iol_table *t);
/* Free records of threads that died (under T). */
uint32_t ioli_threc_reap_dead(iol_table *t);

/* ---- objects (src/objects/mutex.c, src/objects/event.c, src/objects/semaphore.c) ----------- */

/* The waits' view of the types is src/objects/objops.h. */
void ioli_mutex_abandon_owned(iol_table *t, uint32_t slot, uint32_t owner);
/* The owner of the mutex whose word was *v died (or is leaving): mark it
 * abandoned and free, and wake one waiter to take it.  The caller decided
 * that the owner is gone; false, with *v reloaded, when the word changed
 * meanwhile.  The one place this is done: acquisition, iol_query,
 * reclaim, fsck and thread exit all come here. */
bool ioli_mutex_mark_abandoned(iol_table *t, struct ioli_slot *s, uint32_t *v);
void ioli_event_unregistered(struct ioli_slot *s);

/* ---- object words (src/table/word.c) ------------------------------------ */

/* Wake the waiters a state change may satisfy: `n` of them, or all when a
 * multi-object waiter is registered. */
void ioli_wake(iol_table *t, struct ioli_slot *s, int n);
/* Take L, the wait-all lock, finishing a dead holder's job from its
 * journal: 0, or a negative errno (-EDEADLK when L stays held). */
int ioli_walock(iol_table *t);

/* Wait until the wait-all lock holder (if any) is done with s's word (NULL:
 * just pass through L, recovering a dead holder).  A word still LOCKED once
 * we hold L belongs to no wait-all (a scribble): the bit is cleared rather
 * than waited on forever.  0, or -EDEADLK when L stays held (see tlock). */
int ioli_walock_pass(iol_table *t, struct ioli_slot *s);

/* Generic object open shared by every type: name lookup or creation. */
struct ioli_create {
	uint32_t type;
	uint32_t flags; /* IOLI_OBJ_* */
	uint32_t word;	/* initial futex word */
	uint32_t u32a;	/* type data: sem max / mutex recursion */
	bool own;	/* mutex: created owned by the caller */
	uint32_t owner;
};
int ioli_object_open(iol_table *t, const char *name, unsigned flags, struct ioli_create *c);

/* Per-process bookkeeping of some types, when this process gains or loses
 * a handle to an object (called outside T). */
void ioli_obj_local_get(iol_table *t, uint32_t slot, uint32_t sgen, uint32_t type);
void ioli_obj_local_put(iol_table *t, uint32_t slot, uint32_t sgen, uint32_t type);
/* Release hooks run under T when a slot of that type is freed. */
void ioli_file_released(iol_table *t, uint32_t slot);
void ioli_file_local_get(iol_table *t, uint32_t slot, uint32_t gen);
void ioli_file_local_put(iol_table *t, uint32_t slot, uint32_t gen);
void ioli_file_after_fork(void);

#endif /* IOLAYER_SRC_TABLE_H */
