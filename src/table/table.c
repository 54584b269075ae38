/* SPDX-License-Identifier: MIT */
/*
 * Tables: creating, attaching, detaching, unlinking.
 *
 * Creation is race-free without a lock file: the creator builds a whole
 * table in an unnamed file (O_TMPFILE, or a unique temporary name) and
 * links it into place with link(2), which fails if the name exists.  A
 * process that opens the name therefore sees either nothing or a complete
 * table; the loser of a creation race simply opens the winner's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "futex/futex.h"
#include "iolayer/probe.h"
#include "src/table/table.h"
#include "src/process/watcher.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static iol_table *registry;
static _Atomic uint64_t next_table_id = 1;
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

/* ---- the process's registry of tables: fork() and exit() ------------ */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
	ioli_handles_atfork_prepare();
}

static void atfork_parent(void)
{
	ioli_handles_atfork_parent();
	pthread_mutex_unlock(&reg_lock);
}

/* The child holds no handles and no tables: everything it inherited is
 * marked so, and shared memory is left exactly as the parent has it. */
static void atfork_child(void)
{
	pthread_mutex_unlock(&reg_lock);
	for (iol_table *t = registry; t; t = t->reg_next) {
		atomic_store(&t->forked, true);
		ioli_sentinel_after_fork(t);
	}
	ioli_handles_after_fork();
	ioli_threc_after_fork();
	ioli_watcher_after_fork();
	ioli_file_after_fork();
}

static void detach(iol_table *t);

/* Under T: is our process record still ours? */
static bool same_self(iol_table *t)
{
	struct ioli_proc *pr = &t->procs[t->self];

	return atomic_load_explicit(&pr->state, memory_order_relaxed) == IOLI_PROC_LIVE &&
	       atomic_load_explicit(&pr->gen, memory_order_relaxed) == t->self_gen;
}

/*
 * At exit() give back this process's references, so a normal exit frees
 * objects at once.  The mapping stays: other threads may still be running.
 * Deaths that skip this (signals, _exit) are reclaimed by survivors.
 */
static void at_exit(void)
{
	/* One short wait for T in all, over every table: a lock held by a
	 * stopped process must not hold up the exit (survivors reclaim what
	 * this handler could not give back). */
	int64_t prev = ioli_lock_limit_begin((int64_t)IOLI_EXIT_PATIENCE_MS * 1000000);

	ioli_watcher_at_exit();
	pthread_mutex_lock(&reg_lock);
	for (iol_table *t = registry; t; t = t->reg_next) {
		if (atomic_load(&t->forked) || atomic_exchange(&t->closed, true))
			continue;
		ioli_handles_close_table(t);
		ioli_threc_release_self(t);
		detach(t);
	}
	pthread_mutex_unlock(&reg_lock);
	ioli_lock_limit_end(prev);
}

static void proc_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atexit(at_exit);
}

static void reg_add(iol_table *t)
{
	pthread_mutex_lock(&reg_lock);
	t->reg_next = registry;
	registry = t;
	pthread_mutex_unlock(&reg_lock);
}

static void reg_del(iol_table *t)
{
	pthread_mutex_lock(&reg_lock);
	for (iol_table **p = &registry; *p; p = &(*p)->reg_next) {
		if (*p == t) {
			*p = t->reg_next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

/* ---- lifetime of the local view ------------------------------------- */

bool ioli_table_usable(iol_table *t)
{
	return t && !atomic_load_explicit(&t->closed, memory_order_relaxed) &&
	       !atomic_load_explicit(&t->forked, memory_order_relaxed);
}

void ioli_table_ref(iol_table *t)
{
	/* acq_rel, not relaxed: free on x86, and it keeps the release sequence
	 * that orders every user before the last unref visible to TSan. */
	atomic_fetch_add_explicit(&t->localrefs, 1, memory_order_acq_rel);
}

static void table_free(iol_table *t)
{
	if (!atomic_load(&t->forked))
		ioli_sentinel_stop(t);
	if (t->base)
		munmap(t->base, t->size);
	free(t);
}

void ioli_table_unref(iol_table *t)
{
	if (atomic_fetch_sub_explicit(&t->localrefs, 1, memory_order_acq_rel) != 1)
		return;
	if (!atomic_load(&t->forked))
		detach(t);
	table_free(t);
}

/* ---- names and paths ------------------------------------------------ */

static int check_table_name(const char *name)
{
	size_t n = 0;

	for (const char *p = name; *p; p++, n++) {
		char c = *p;

		if (n >= 64)
			return -EINVAL;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return n ? 0 : -EINVAL;
}

static const char *shm_dir(void)
{
	const char *d = getenv("IOLAYER_SHM_DIR");

	return d && *d ? d : "/dev/shm";
}

/*
 * The table directory must be one other users cannot rearrange: owned by
 * root or by us, and if group- or other-writable then sticky (as /dev/shm,
 * root 1777, is).  Otherwise another user could rename, replace or remove
 * our tables there.  Only the directory itself is checked, not its parents.
 */
static int check_shm_dir(void)
{
	struct stat st;

	if (stat(shm_dir(), &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return -EACCES;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return -EACCES;
	return 0;
}

static int table_path(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/iolayer-%u-%s", shm_dir(), (unsigned)geteuid(), name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- creating ------------------------------------------------------- */

/* A new table's token salt: random, with its low 16 bits (the part a
 * token carries) non-zero, so a token of one table, shared or private,
 * does not name an object of another. */
static uint32_t new_salt(const void *seed)
{
	uint32_t salt = 0;

	if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt))
		salt = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)seed;
	if ((salt & 0xffffu) == 0)
		salt |= 1;
	return salt;
}

static int init_file(int fd, uint32_t nslots, mode_t mode)
{
	struct ioli_layout l;
	struct ioli_hdr *h;
	size_t hsz = (sizeof(struct ioli_hdr) + IOLI_PAGE - 1) & ~(size_t)(IOLI_PAGE - 1);
	uint32_t salt;

	ioli_layout_compute(nslots, IOL_TABLE_MAX_PROCS, &l);
	if (fchmod(fd, mode) < 0 || ftruncate(fd, (off_t)l.total_size) < 0)
		return -errno;
	h = mmap(NULL, hsz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	salt = new_salt(h);
	/* The locks are zero words: free.  ftruncate() zeroed them. */
	ioli_header_init(h, &l, salt);
	munmap(h, hsz);
	return 0;
}

/* Build a table in an unnamed file and link it at path.  Returns 0,
 * -EEXIST when someone else's table got there first, or an error. */
static int create_file(const char *path, uint32_t nslots, mode_t mode)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64], proc[64];
	const char *slash = strrchr(path, '/');
	int fd, err;

	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		err = init_file(fd, nslots, mode);
		if (!err) {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
				err = -errno;
		}
		close(fd);
		if (err != -ENOENT) /* ENOENT: no /proc; fall back below */
			return err;
	}
	for (int tries = 0; tries < 16; tries++) {
		uint32_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)tries;
		snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%08x", path, (int)getpid(), rnd);
		fd = open(tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	err = init_file(fd, nslots, mode);
	if (!err && link(tmp, path) < 0)
		err = -errno;
	unlink(tmp);
	close(fd);
	return err;
}

/* ---- opening -------------------------------------------------------- */

static void view_init(iol_table *t, const struct ioli_layout *l)
{
	t->hdr = (struct ioli_hdr *)t->base;
	t->procs = (struct ioli_proc *)(t->base + l->off_procs);
	t->threcs = (struct ioli_threc *)(t->base + l->off_threcs);
	t->buckets = (_Atomic uint32_t *)(t->base + l->off_buckets);
	t->slots = (struct ioli_slot *)(t->base + l->off_slots);
	t->rows = (_Atomic uint32_t *)(t->base + l->off_rows);
	t->nslots = l->nslots;
	t->nbuckets = l->nbuckets;
	t->max_procs = l->max_procs;
	t->max_threcs = l->max_threcs;
	t->salt = t->hdr->salt;
}

/* Map an opened table file after checking it is ours and well-formed. */
static int map_file(iol_table *t, int fd, bool writable)
{
	struct ioli_layout l;
	struct stat st;
	void *hp;
	size_t hsz = (sizeof(struct ioli_hdr) + IOLI_PAGE - 1) & ~(size_t)(IOLI_PAGE - 1);
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EPROTO;
	if (st.st_uid != geteuid())
		return -EACCES;
	if ((uint64_t)st.st_size < hsz)
		return -EPROTO;
	hp = mmap(NULL, hsz, PROT_READ, MAP_SHARED, fd, 0);
	if (hp == MAP_FAILED)
		return -errno;
	err = ioli_header_check(hp, (uint64_t)st.st_size, &l);
	munmap(hp, hsz);
	if (err)
		return err;
	t->size = l.total_size;
	t->base = mmap(NULL, t->size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
		       MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (t->base == MAP_FAILED) {
		t->base = NULL;
		return -errno;
	}
	view_init(t, &l);
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	return 0;
}

static int open_shared(iol_table *t, const char *name, uint32_t nslots, mode_t mode)
{
	char path[PATH_MAX];
	int err = table_path(name, path, sizeof(path));

	if (!err)
		err = check_shm_dir();
	if (err)
		return err;
	/* open, or create and link, or open the winner's: a few rounds at
	 * most even when others create and unlink the name meanwhile */
	for (int round = 0; round < 8; round++) {
		int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

		if (fd >= 0) {
			err = map_file(t, fd, true);
			close(fd);
			return err;
		}
		if (errno != ENOENT)
			return -errno; /* ELOOP for a symlink, EACCES, ... */
		err = create_file(path, nslots, mode);
		if (err && err != -EEXIST)
			return err;
	}
	return -EAGAIN;
}

static int open_private(iol_table *t, uint32_t nslots)
{
	struct ioli_layout l;

	/* One process: one process record and one row are enough. */
	ioli_layout_compute(nslots, 1, &l);
	t->size = l.total_size;
	t->base = mmap(NULL, t->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->base == MAP_FAILED) {
		t->base = NULL;
		return -errno;
	}
	ioli_header_init((struct ioli_hdr *)t->base, &l, new_salt(t->base));
	view_init(t, &l);
	t->private_ = true;
	t->futex_private = true;
	return 0;
}

/* Take a process record. */
static int attach(iol_table *t)
{
	uint32_t kind = 0;
	uint64_t ident = 0;
	int err, stid;

	err = ioli_proc_identity(getpid(), &kind, &ident);
	if (err)
		return err;
	stid = ioli_sentinel_tid(t);
	if (stid < 0)
		return stid;
	err = ioli_tlock(t);
	if (err)
		return err;
	for (uint32_t p = 0; p < t->max_procs; p++) {
		struct ioli_proc *pr = &t->procs[p];

		if (atomic_load_explicit(&pr->state, memory_order_relaxed) != IOLI_PROC_FREE)
			continue;
		/* Not visible until LIVE: identity fields need no undo. */
		atomic_store_explicit(&pr->pid, (uint32_t)getpid(), memory_order_relaxed);
		atomic_store_explicit(&pr->ident_kind, kind, memory_order_relaxed);
		atomic_store_explicit(&pr->ident, ident, memory_order_relaxed);
		/* Listed before it holds our tid: the kernel reports our
		 * death through it from the moment the record is LIVE. */
		err = ioli_sentinel_track(t, &pr->live);
		if (err) {
			ioli_tunlock(t);
			return err;
		}
		atomic_store_explicit(&pr->stid, (uint32_t)stid, memory_order_relaxed);
		atomic_store_explicit(&pr->live, (uint32_t)stid, memory_order_release);
		ioli_tset(t, &pr->gen, atomic_load_explicit(&pr->gen, memory_order_relaxed) + 1);
		if (p >= ioli_proc_hwm(t))
			ioli_tset(t, &t->hdr->proc_hwm, p + 1);
		ioli_tset(t, &pr->state, IOLI_PROC_LIVE);
		t->self = p;
		t->self_gen = atomic_load_explicit(&pr->gen, memory_order_relaxed);
		ioli_tunlock(t);
		ioli_sentinel_joined(t, p);
		return 0;
	}
	ioli_tunlock(t);
	return -EUSERS;
}

/*
 * Give back every reference still counted in our row, free our record.
 * One short critical section per slot our row counts: a count is given
 * back in one go and only on a live slot (a scribbled count must neither
 * loop for ever nor free a slot twice); a count on a slot that is not
 * live is dropped.  Bounded by the table's capacity.  If T cannot be had,
 * the rest is left for the survivors to reclaim once we are gone.
 */
static void detach(iol_table *t)
{
	struct ioli_proc *pr = &t->procs[t->self];
	_Atomic uint32_t *row = ioli_row(t, t->self);
	bool freed = false;

	if (atomic_exchange(&t->detached, true))
		return;
	ioli_sentinel_attached(t, UINT32_MAX); /* we watch nobody any more */

	for (uint32_t page = 0; page * 1024u < t->nslots; page++) {
		if (!(atomic_load(&pr->row_pages[page / 64]) & (1ull << (page % 64))))
			continue;
		for (uint32_t s = page * 1024u; s < t->nslots && s < (page + 1) * 1024u; s++) {
			if (!atomic_load_explicit(&row[s], memory_order_relaxed))
				continue;
			if (ioli_tlock(t))
				return;
			if (!same_self(t)) {
				ioli_tunlock(t);
				return;
			}
			/* The whole count in one go; on a slot that is not live it
			 * is only dropped (ioli_ref_put_n checks). */
			ioli_ref_put_n(t, t->self, s,
				       atomic_load_explicit(&row[s], memory_order_relaxed));
			ioli_tunlock(t);
		}
	}
	if (ioli_tlock(t))
		return;
	if (same_self(t)) {
		for (unsigned i = 0; i < sizeof(pr->row_pages) / sizeof(pr->row_pages[0]); i++)
			atomic_store(&pr->row_pages[i], 0);
		ioli_tset(t, &pr->state, IOLI_PROC_FREE);
		freed = true;
	}
	ioli_tunlock(t);
	if (freed) {
		/* Wakes whoever watches us, to move on to our successor. */
		ioli_sentinel_release(t, &pr->live);
	}
}

int iol_table_open(const char *name, const struct iol_table_opts *opts, iol_table **out)
{
	struct iol_table_opts o = {0};
	iol_table *t;
	int err;

	if (!out)
		return -EINVAL;
	if (opts)
		o = *opts;
	if (o.flags & ~IOL_TABLE_PRIVATE)
		return -EINVAL;
	if (o.slots == 0)
		o.slots = IOL_TABLE_DEFAULT_SLOTS;
	if (o.slots < 16 || o.slots > IOL_TABLE_MAX_SLOTS)
		return -EINVAL;
	if (o.mode == 0)
		o.mode = 0600;
	/* Group and other bits would be pointless: another user's process
	 * is refused a table whatever its mode (map_file). */
	if (o.mode & ~(mode_t)07700)
		return -EINVAL;
	if (!name)
		name = "default";
	err = check_table_name(name);
	if (err)
		return err;
	if (!iol_has(IOL_FEAT_FUTEX_WAITV))
		return -ENOSYS;
	pthread_once(&proc_once, proc_init);

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->id = atomic_fetch_add(&next_table_id, 1);
	snprintf(t->name, sizeof(t->name), "%s", name);
	/* Not attached until attach() says so: a dead lock holder found
	 * meanwhile queues no background reclaim (which would take a local
	 * reference on a table that may yet be freed here); the reclaim
	 * below, once attached, does that job. */
	t->self = UINT32_MAX;
	atomic_store(&t->localrefs, 1);
	err = (o.flags & IOL_TABLE_PRIVATE) ? open_private(t, o.slots)
					    : open_shared(t, name, o.slots, o.mode);
	if (!err) {
		err = attach(t);
		/* Every record taken: some may belong to dead processes. */
		if (err == -EUSERS && ioli_reclaim_dead(t) > 0)
			err = attach(t);
	}
	if (err) {
		table_free(t);
		return err;
	}
	reg_add(t);
	/* Opening is when a process notices deaths nobody else did. */
	if (!t->private_)
		ioli_reclaim_dead(t);
	*out = t;
	return 0;
}

int iol_table_close(iol_table *t)
{
	if (!t)
		return -EINVAL;
	if (atomic_load(&t->forked)) {
		/* A fork()ed child's copy: nothing in shared memory is ours. */
		reg_del(t);
		table_free(t);
		return 0;
	}
	if (atomic_exchange(&t->closed, true))
		return -EBADF;
	reg_del(t);
	/* One patience period for T in all: once a handle's reference could
	 * not be given back, the rest are only tried (see ioli_lock_limit_begin). */
	int64_t prev = ioli_lock_limit_begin((int64_t)IOLI_LOCK_PATIENCE_S * 1000000000);
	ioli_handles_close_table(t);
	ioli_threc_release_self(t);
	/* Now, not when the last local reference goes (a process watch may
	 * hold one past exit()): after close the process holds nothing. */
	detach(t);
	ioli_table_unref(t);
	ioli_lock_limit_end(prev);
	return 0;
}

int iol_table_unlink(const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	int err;

	if (!name)
		name = "default";
	err = check_table_name(name);
	if (err)
		return err;
	err = table_path(name, path, sizeof(path));
	if (err)
		return err;
	if (lstat(path, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid())
		return -EACCES;
	return unlink(path) < 0 ? -errno : 0;
}

/* ---- inspection without attaching (iolayer ls, fsck) ---------------- */

int ioli_table_inspect_fd(int fd, bool writable, iol_table **out)
{
	iol_table *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	err = map_file(t, fd, writable);
	if (err) {
		table_free(t);
		return err;
	}
	t->id = atomic_fetch_add(&next_table_id, 1);
	t->self = UINT32_MAX; /* not attached: owns nothing */
	atomic_store(&t->localrefs, 1);
	*out = t;
	return 0;
}

int ioli_table_inspect(const char *name, bool writable, iol_table **out)
{
	char path[PATH_MAX];
	int fd, err;

	if (!name)
		name = "default";
	err = check_table_name(name);
	if (!err)
		err = table_path(name, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	err = ioli_table_inspect_fd(fd, writable, out);
	close(fd);
	if (!err)
		snprintf((*out)->name, sizeof((*out)->name), "%s", name);
	return err;
}

void ioli_table_inspect_close(iol_table *t)
{
	if (t)
		table_free(t);
}

int ioli_table_path(const char *name, char *buf, size_t len)
{
	int err;

	if (!name)
		name = "default";
	err = check_table_name(name);
	return err ? err : table_path(name, buf, len);
}
