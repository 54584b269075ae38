/* SPDX-License-Identifier: MIT */
/*
 * File sharing modes: Windows' share-access check over every open of a
 * file made through any process attached to the table.
 *
 * Two kinds of slot:
 *   - a file record (internal type FILEREC) per file, keyed in the name
 *     index by (device, inode), holding the counts Windows keeps: opens,
 *     readers, writers, deleters, and how many opens share read, write
 *     and delete;
 *   - an open (IOL_TYPE_FILE) per iol_file_open(), holding its access and
 *     share bits and a reference on its record.
 * An open's slot is freed when its last handle, in any process, is closed
 * or reclaimed after its process died; its release hook (under T, in the
 * same critical section) takes its counts back off the record.  So the
 * share state of a dead process goes away with its references, with no
 * extra bookkeeping.
 *
 * The descriptor itself is process-local: a small map from the open's slot
 * to the fd and the number of this process's handles to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iolayer/file.h"
#include "src/table/table.h"

#define KEY_LEN 18

/* ---- the process-local descriptors --------------------------------- */

struct local_fd {
	iol_table *t;
	uint32_t slot, gen;
	int fd;
	uint32_t nhandles;
	struct local_fd *next;
};

static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct local_fd *fds;

static struct local_fd *fd_find(iol_table *t, uint32_t slot, uint32_t gen)
{
	for (struct local_fd *l = fds; l; l = l->next)
		if (l->t == t && l->slot == slot && l->gen == gen)
			return l;
	return NULL;
}

static int fd_add(iol_table *t, uint32_t slot, uint32_t gen, int fd)
{
	struct local_fd *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	*l = (struct local_fd){.t = t, .slot = slot, .gen = gen, .fd = fd};
	pthread_mutex_lock(&fd_lock);
	l->next = fds;
	fds = l;
	pthread_mutex_unlock(&fd_lock);
	return 0;
}

void ioli_file_local_get(iol_table *t, uint32_t slot, uint32_t gen)
{
	pthread_mutex_lock(&fd_lock);
	struct local_fd *l = fd_find(t, slot, gen);
	if (l)
		l->nhandles++;
	pthread_mutex_unlock(&fd_lock);
}

void ioli_file_local_put(iol_table *t, uint32_t slot, uint32_t gen)
{
	struct local_fd *gone = NULL;

	pthread_mutex_lock(&fd_lock);
	for (struct local_fd **p = &fds; *p; p = &(*p)->next) {
		struct local_fd *l = *p;

		if (l->t == t && l->slot == slot && l->gen == gen) {
			if (l->nhandles > 0 && --l->nhandles == 0) {
				*p = l->next;
				gone = l;
			}
			break;
		}
	}
	pthread_mutex_unlock(&fd_lock);
	if (gone) {
		close(gone->fd);
		free(gone);
	}
}

/* After fork(): the child holds no handles; its copies of the fds are
 * its own business (they are ordinary inherited descriptors). */
void ioli_file_after_fork(void)
{
	pthread_mutex_init(&fd_lock, NULL);
	while (fds) {
		struct local_fd *n = fds->next;

		free(fds);
		fds = n;
	}
}

int iol_file_fd(int h)
{
	struct ioli_href r;
	int fd = -EXDEV, err = ioli_handle_get_typed(h, IOL_TYPE_FILE, &r);

	if (err)
		return err;
	pthread_mutex_lock(&fd_lock);
	struct local_fd *l = fd_find(r.t, r.slot, r.sgen);
	if (l)
		fd = l->fd;
	pthread_mutex_unlock(&fd_lock);
	return fd;
}

/* ---- the share check, under T --------------------------------------- */

static void make_key(uint8_t key[KEY_LEN], uint64_t dev, uint64_t ino)
{
	key[0] = 0;
	key[1] = IOLI_KEY_FILE;
	for (int i = 0; i < 8; i++) {
		key[2 + i] = (uint8_t)(dev >> (8 * i));
		key[10 + i] = (uint8_t)(ino >> (8 * i));
	}
}

static void tadd(iol_table *t, _Atomic uint32_t *f, int d)
{
	ioli_tset(t, f, atomic_load_explicit(f, memory_order_relaxed) + (uint32_t)d);
}

/* Windows' IoCheckShareAccess: does (access, share) conflict with the
 * opens the record counts? */
static bool conflicts(struct ioli_slot *rec, uint32_t access, uint32_t share)
{
	uint32_t opens = atomic_load(&rec->u.frec.opens);

	if ((access & IOLI_ACC_READ) && atomic_load(&rec->u.frec.sh_read) < opens)
		return true;
	if ((access & IOLI_ACC_WRITE) && atomic_load(&rec->u.frec.sh_write) < opens)
		return true;
	if ((access & IOLI_ACC_DELETE) && atomic_load(&rec->u.frec.sh_delete) < opens)
		return true;
	if (atomic_load(&rec->u.frec.readers) && !(share & IOL_SHARE_READ))
		return true;
	if (atomic_load(&rec->u.frec.writers) && !(share & IOL_SHARE_WRITE))
		return true;
	if (atomic_load(&rec->u.frec.deleters) && !(share & IOL_SHARE_DELETE))
		return true;
	return false;
}

static void account(iol_table *t, struct ioli_slot *rec, uint32_t access, uint32_t share, int d)
{
	tadd(t, &rec->u.frec.opens, d);
	if (access & IOLI_ACC_READ)
		tadd(t, &rec->u.frec.readers, d);
	if (access & IOLI_ACC_WRITE)
		tadd(t, &rec->u.frec.writers, d);
	if (access & IOLI_ACC_DELETE)
		tadd(t, &rec->u.frec.deleters, d);
	if (share & IOL_SHARE_READ)
		tadd(t, &rec->u.frec.sh_read, d);
	if (share & IOL_SHARE_WRITE)
		tadd(t, &rec->u.frec.sh_write, d);
	if (share & IOL_SHARE_DELETE)
		tadd(t, &rec->u.frec.sh_delete, d);
}

/* Under T: the open in `slot` is being freed: take it off its record. */
void ioli_file_released(iol_table *t, uint32_t slot)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	uint32_t r = atomic_load(&s->u.fopen.rec);
	struct ioli_slot *rec;
	uint32_t refs;

	if (!ioli_slot_live(t, r, atomic_load(&s->u.fopen.rec_gen)))
		return;
	rec = ioli_slot(t, r);
	if (IOLI_SLOT_TYPE(atomic_load(&rec->state)) != IOLI_TYPE_FILEREC)
		return;
	account(t, rec, atomic_load(&s->u.fopen.access), atomic_load(&s->u.fopen.share), -1);
	refs = atomic_load(&rec->refs);
	if (refs > 1) {
		ioli_tset(t, &rec->refs, refs - 1);
	} else {
		ioli_tset(t, &rec->refs, 0);
		ioli_slot_free(t, r);
	}
}

/*
 * Under T: record an open of (dev, ino) with access and share in a new
 * open slot, after the share check.  Returns the slot or -EBUSY/-ENOSPC.
 */
static int admit(iol_table *t, uint64_t dev, uint64_t ino, uint32_t access, uint32_t share)
{
	uint8_t key[KEY_LEN];
	uint32_t r, hash;
	struct ioli_slot *rec, *s;
	bool new_rec = false;
	int idx;

	make_key(key, dev, ino);
	hash = ioli_name_hash((const char *)key, sizeof(key));
	r = ioli_name_find(t, (const char *)key, sizeof(key), hash);
	if (r != UINT32_MAX &&
	    IOLI_SLOT_TYPE(atomic_load(&ioli_slot(t, r)->state)) != IOLI_TYPE_FILEREC)
		return -EPROTO; /* a key collision can only come from scribbling */
	if (r == UINT32_MAX) {
		idx = ioli_slot_alloc(t, IOLI_TYPE_FILEREC, IOLI_OBJ_KEYED, (const char *)key,
				      sizeof(key), hash);
		if (idx < 0)
			return idx;
		r = (uint32_t)idx;
		rec = ioli_slot(t, r);
		atomic_store(&rec->u.frec.dev_lo, (uint32_t)dev);
		atomic_store(&rec->u.frec.dev_hi, (uint32_t)(dev >> 32));
		atomic_store(&rec->u.frec.ino_lo, (uint32_t)ino);
		atomic_store(&rec->u.frec.ino_hi, (uint32_t)(ino >> 32));
		new_rec = true;
	}
	rec = ioli_slot(t, r);
	if (conflicts(rec, access, share)) {
		if (new_rec)
			ioli_slot_free(t, r);
		return -EBUSY;
	}
	idx = ioli_slot_alloc(t, IOL_TYPE_FILE, 0, "", 0, 0);
	if (idx < 0) {
		if (new_rec)
			ioli_slot_free(t, r);
		return idx;
	}
	s = ioli_slot(t, (uint32_t)idx);
	atomic_store(&s->u.fopen.rec, r);
	atomic_store(&s->u.fopen.rec_gen, atomic_load(&rec->gen));
	atomic_store(&s->u.fopen.access, access);
	atomic_store(&s->u.fopen.share, share);
	account(t, rec, access, share, +1);
	tadd(t, &rec->refs, +1);
	return idx;
}

static uint32_t access_of(int oflags)
{
	switch (oflags & O_ACCMODE) {
	case O_RDONLY:
		return IOLI_ACC_READ;
	case O_WRONLY:
		return IOLI_ACC_WRITE;
	case O_RDWR:
		return IOLI_ACC_READ | IOLI_ACC_WRITE;
	default:
		return 0;
	}
}

int iol_file_open(iol_table *t, const char *path, int oflags, mode_t mode, unsigned share)
{
	struct stat st;
	uint32_t gen;
	int fd, h, idx, err;

	if (!t || !path || (share & ~(IOL_SHARE_READ | IOL_SHARE_WRITE | IOL_SHARE_DELETE)))
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	/* Truncation is a side effect: only once the open is admitted. */
	fd = open(path, oflags & ~O_TRUNC, mode);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_fd;
	}
	h = ioli_handle_reserve();
	if (h < 0) {
		err = h;
		goto out_fd;
	}
	for (int round = 0;; round++) {
		err = ioli_tlock(t);
		if (err)
			goto out_cancel;
		idx = admit(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino, access_of(oflags), share);
		if (idx >= 0)
			break;
		ioli_tunlock(t);
		/* A violation or a full table caused by dead processes is not
		 * one: reclaim them and check again, once. */
		if (round > 0 || (idx != -EBUSY && idx != -ENOSPC) || ioli_reclaim_dead(t) == 0) {
			err = idx;
			goto out_cancel;
		}
	}
	err = ioli_ref_get(t, t->self, (uint32_t)idx);
	if (err) {
		ioli_slot_free(t, (uint32_t)idx);
		ioli_tunlock(t);
		goto out_cancel;
	}
	gen = atomic_load(&ioli_slot(t, (uint32_t)idx)->gen);
	ioli_tunlock(t);
	err = fd_add(t, (uint32_t)idx, gen, fd);
	ioli_handle_publish(h, t, (uint32_t)idx, gen, IOL_TYPE_FILE);
	if (err) {
		iol_close(h);
		close(fd);
		return err;
	}
	ioli_file_local_get(t, (uint32_t)idx, gen);
	if ((oflags & O_TRUNC) && (oflags & O_ACCMODE) != O_RDONLY && ftruncate(fd, 0) < 0) {
		err = -errno;
		iol_close(h);
		return err;
	}
	return h;

out_cancel:
	ioli_handle_cancel(h);
out_fd:
	close(fd);
	return err;
}

/*
 * Delete access for the moment of an unlink or rename: an open of path's
 * inode (not following a final symlink, which is what unlink removes) with
 * access DELETE that shares everything, held across the system call so no
 * open refusing delete can slip in between the check and the deletion.
 */
static int with_delete_access(iol_table *t, const char *path, int (*op)(const char *, const char *),
			      const char *arg)
{
	struct stat st;
	uint32_t gen;
	int idx, err;

	if (!t || !path)
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	if (lstat(path, &st) < 0)
		return -errno;
	for (int round = 0;; round++) {
		err = ioli_tlock(t);
		if (err)
			return err;
		idx = admit(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino, IOLI_ACC_DELETE,
			    IOL_SHARE_READ | IOL_SHARE_WRITE | IOL_SHARE_DELETE);
		if (idx >= 0)
			break;
		ioli_tunlock(t);
		if (round > 0 || (idx != -EBUSY && idx != -ENOSPC) || ioli_reclaim_dead(t) == 0)
			return idx;
	}
	err = ioli_ref_get(t, t->self, (uint32_t)idx);
	gen = atomic_load(&ioli_slot(t, (uint32_t)idx)->gen);
	if (err) {
		ioli_slot_free(t, (uint32_t)idx);
		ioli_tunlock(t);
		return err;
	}
	ioli_tunlock(t);
	err = op(path, arg) < 0 ? -errno : 0;
	if (ioli_tlock(t) == 0) {
		if (ioli_slot_live(t, (uint32_t)idx, gen))
			ioli_ref_put(t, t->self, (uint32_t)idx);
		ioli_tunlock(t);
	}
	return err;
}

static int do_unlink(const char *path, const char *unused)
{
	(void)unused;
	return unlink(path);
}

int iol_file_unlink(iol_table *t, const char *path)
{
	return with_delete_access(t, path, do_unlink, NULL);
}

int iol_file_rename(iol_table *t, const char *from, const char *to)
{
	if (!to)
		return -EINVAL;
	return with_delete_access(t, from, rename, to);
}
