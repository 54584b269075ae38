/* SPDX-License-Identifier: MIT */
/*
 * Process objects.
 *
 * A process object is keyed in the name index by its identity (the pidfs
 * inode, or the start time where pidfs is missing), so every process
 * attached to the table that opens or spawns the same process shares one
 * object, and a process that reuses an old pid is a different object.
 * Its futex word is signaled once the process ended; the status lives
 * beside it (see src/process/watcher.c for who posts it).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iolayer/process.h"
#include "src/compat.h"
#include "src/objects/objops.h"
#include "src/probe/probe_internal.h"
#include "src/process/watcher.h"
#include "src/table/table.h"

#define KEY_LEN 11

static void make_key(uint8_t key[KEY_LEN], uint32_t kind, uint64_t ident)
{
	key[0] = 0;
	key[1] = IOLI_KEY_PROCESS;
	key[2] = (uint8_t)kind;
	for (int i = 0; i < 8; i++)
		key[3 + i] = (uint8_t)(ident >> (8 * i));
}

/* 0, -ENOSYS, or the resource error (-EMFILE...) that kept the probe from
 * telling: that one is not remembered, the next call asks again. */
static int need_pidfd(void)
{
	int err = ioli_feature_need(IOL_FEAT_PIDFD_OPEN);

	return err ? err : ioli_feature_need(IOL_FEAT_WAITID_PIDFD);
}

static int get_process(int h, struct ioli_href *r)
{
	return ioli_handle_get_typed(h, IOL_TYPE_PROCESS, r);
}

static void fill_slot(struct ioli_slot *s, pid_t pid, uint32_t kind, uint64_t ident,
		      uint32_t spawner, uint32_t spawner_gen)
{
	atomic_store_explicit(&s->word, 0, memory_order_relaxed);
	atomic_store_explicit(&s->u.proc.pid, (uint32_t)pid, memory_order_relaxed);
	atomic_store_explicit(&s->u.proc.ident_kind, kind, memory_order_relaxed);
	atomic_store_explicit(&s->u.proc.ident, ident, memory_order_relaxed);
	atomic_store_explicit(&s->u.proc.spawner, spawner, memory_order_relaxed);
	atomic_store_explicit(&s->u.proc.spawner_gen, spawner_gen, memory_order_relaxed);
	atomic_store_explicit(&s->u.proc.status, 0, memory_order_relaxed);
}

int iol_process_spawn(iol_table *t, const char *file, char *const argv[],
		      const struct iol_spawn_opts *o)
{
	uint8_t key[KEY_LEN];
	uint32_t kind, gen;
	uint64_t ident;
	int h, idx, pidfd, err;
	pid_t pid;

	if (!t || !file || !argv)
		return -EINVAL;
	if (ioli_spawn_opts_check(o) < 0)
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	err = need_pidfd();
	if (err)
		return err;
	err = ioli_watcher_start();
	if (err)
		return err;
	h = ioli_handle_reserve();
	if (h < 0)
		return h;
	/* Room in the table first: a spawned child is not taken back. */
	for (int round = 0;; round++) {
		err = ioli_tlock(t);
		if (err)
			goto out_cancel;
		idx = ioli_slot_alloc(t, IOL_TYPE_PROCESS, IOLI_OBJ_KEYED, "", 0, 0);
		if (idx >= 0)
			break;
		ioli_tunlock(t);
		if (round > 0 || idx != -ENOSPC || ioli_reclaim_dead(t) == 0) {
			err = idx;
			goto out_cancel;
		}
	}
	fill_slot(ioli_slot(t, (uint32_t)idx), 0, 0, 0, t->self + 1, t->self_gen);
	/* One reference for the handle, one the spawner keeps until it has
	 * reaped the child and posted its status. */
	err = ioli_ref_get(t, t->self, (uint32_t)idx);
	if (!err)
		err = ioli_ref_get(t, t->self, (uint32_t)idx);
	if (!err)
		ioli_tset(t, &ioli_slot(t, (uint32_t)idx)->internal, 1);
	gen = atomic_load_explicit(&ioli_slot(t, (uint32_t)idx)->gen, memory_order_relaxed);
	ioli_tunlock(t);
	if (err)
		goto out_slot;

	err = ioli_spawn(file, argv, o, &pidfd, &pid);
	if (err)
		goto out_slot;
	/* The child is ours and unreaped: its pid cannot be reused yet, so
	 * the identity read from it is the child's. */
	err = ioli_pidfd_identity(pidfd, pid, &kind, &ident);
	if (err) {
		kind = IOLI_IDENT_STARTTIME;
		ident = 0;
	}
	make_key(key, kind, ident);
	if (ioli_tlock(t) == 0) {
		struct ioli_slot *s = ioli_slot(t, (uint32_t)idx);

		atomic_store(&s->u.proc.pid, (uint32_t)pid);
		atomic_store(&s->u.proc.ident_kind, kind);
		atomic_store(&s->u.proc.ident, ident);
		ioli_slot_set_key(t, (uint32_t)idx, key, sizeof(key));
		ioli_tunlock(t);
	}
	ioli_handle_publish(h, t, (uint32_t)idx, gen, IOL_TYPE_PROCESS);
	err = ioli_watch_child(t, (uint32_t)idx, gen, pidfd);
	if (err) {
		/* Cannot watch it: we could never reap it. */
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
		iol_close(h);
		return err;
	}
	return h;

out_slot:
	if (ioli_tlock(t) == 0) {
		while (ioli_slot_live(t, (uint32_t)idx, gen) &&
		       atomic_load(&ioli_row(t, t->self)[idx]) > 0)
			ioli_ref_put(t, t->self, (uint32_t)idx);
		if (ioli_slot_live(t, (uint32_t)idx, gen))
			ioli_slot_free(t, (uint32_t)idx);
		ioli_tunlock(t);
	}
out_cancel:
	ioli_handle_cancel(h);
	return err;
}

static bool pidfd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

int iol_process_open(iol_table *t, pid_t pid)
{
	uint8_t key[KEY_LEN];
	uint32_t kind, gen, idx;
	uint64_t ident;
	int h, pidfd, err;
	bool created = false;

	if (!t || pid <= 0)
		return -EINVAL;
	if (!ioli_table_usable(t))
		return -EBADF;
	err = need_pidfd();
	if (err)
		return err;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* "Any process of this user": the kernel's own permission check. */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == EPERM) {
		close(pidfd);
		return -EPERM;
	}
	err = ioli_pidfd_identity(pidfd, pid, &kind, &ident);
	if (err) {
		close(pidfd);
		return err;
	}
	err = ioli_watcher_start();
	if (err) {
		close(pidfd);
		return err;
	}
	make_key(key, kind, ident);
	h = ioli_handle_reserve();
	if (h < 0) {
		close(pidfd);
		return h;
	}
	bool retried = false;
again:
	err = ioli_tlock(t);
	if (err)
		goto out;
	idx = ioli_name_find(t, (const char *)key, sizeof(key),
			     ioli_name_hash((const char *)key, sizeof(key)));
	if (idx == UINT32_MAX) {
		int r = ioli_slot_alloc(t, IOL_TYPE_PROCESS, IOLI_OBJ_KEYED, "", 0, 0);

		if (r == -ENOSPC && !retried) {
			ioli_tunlock(t);
			retried = true;
			if (ioli_reclaim_dead(t) > 0)
				goto again;
			err = r;
			goto out;
		}
		if (r < 0) {
			err = r;
			goto out_unlock;
		}
		idx = (uint32_t)r;
		fill_slot(ioli_slot(t, idx), pid, kind, ident, 0, 0);
		ioli_slot_set_key(t, idx, key, sizeof(key));
		created = true;
	}
	if (!created && (atomic_load(&ioli_slot(t, idx)->word) & IOLI_SIG_SIGNALED) &&
	    !pidfd_readable(pidfd)) {
		/* The object says ended, the process says alive: a start-time
		 * identity that collided (same pid, same clock tick). */
		err = -ESRCH;
		goto out_unlock;
	}
	err = ioli_ref_get(t, t->self, idx);
	if (err) {
		if (created)
			ioli_slot_free(t, idx);
		goto out_unlock;
	}
	gen = atomic_load_explicit(&ioli_slot(t, idx)->gen, memory_order_relaxed);
	ioli_tunlock(t);
	ioli_handle_publish(h, t, idx, gen, IOL_TYPE_PROCESS);
	err = ioli_watch_get(t, idx, gen, pidfd);
	if (err) {
		iol_close(h);
		return err;
	}
	return h;

out_unlock:
	ioli_tunlock(t);
out:
	close(pidfd);
	ioli_handle_cancel(h);
	return err;
}

/*
 * A pidfd for the object's process, checked to be that very process (not
 * a later one that reused the pid): the caller owns it.  -ESRCH if the
 * process is gone.
 */
int ioli_process_pidfd_checked(iol_table *t, uint32_t slot)
{
	struct ioli_slot *s = ioli_slot(t, slot);
	pid_t pid = (pid_t)atomic_load(&s->u.proc.pid);
	uint32_t kind, want_kind = atomic_load(&s->u.proc.ident_kind);
	uint64_t ident, want = atomic_load(&s->u.proc.ident);
	int fd;

	if (pid <= 0)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -ESRCH;
	if (ioli_pidfd_identity(fd, pid, &kind, &ident) || kind != want_kind || ident != want) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

int iol_process_pid(int h)
{
	struct ioli_href r;
	int err = get_process(h, &r);

	if (err)
		return err;
	return (int)atomic_load(&r.s->u.proc.pid);
}

static void decode(uint32_t st, struct iol_exit_status *out)
{
	memset(out, 0, sizeof(*out));
	out->exited = st & IOLI_PS_EXITED;
	out->core_dumped = st & IOLI_PS_CORE;
	if (out->exited)
		out->code = (int)(st & 0xffu);
	else
		out->signal = (int)((st >> 8) & 0xffu);
}

int iol_process_exit_status(int h, struct iol_exit_status *out)
{
	struct ioli_href r;
	uint32_t st;
	int err;

	if (!out)
		return -EINVAL;
	err = get_process(h, &r);
	if (err)
		return err;
	if (!(atomic_load_explicit(&r.s->word, memory_order_acquire) & IOLI_SIG_SIGNALED))
		return -EBUSY;
	st = atomic_load(&r.s->u.proc.status);
	if (!(st & IOLI_PS_HAVE)) {
		/* Nobody posted one: ask the kernel through our own pidfd. */
		int fd = ioli_watch_pidfd(r.t, r.slot, r.sgen);

		if (fd >= 0) {
			st = ioli_pidfd_exit_status(fd);
			close(fd);
			if (st) {
				uint32_t none = 0;

				atomic_compare_exchange_strong(&r.s->u.proc.status, &none, st);
			}
		}
		if (!(st & IOLI_PS_HAVE))
			return -ENODATA;
	}
	decode(st, out);
	return 0;
}

int iol_process_kill(int h, int sig)
{
	struct ioli_href r;
	int fd, err = get_process(h, &r);

	if (err)
		return err;
	if (sig < 0 || sig >= NSIG)
		return -EINVAL;
	if (atomic_load(&r.s->word) & IOLI_SIG_SIGNALED)
		return -ESRCH;
	fd = ioli_watch_pidfd(r.t, r.slot, r.sgen);
	if (fd < 0)
		return -ESRCH;
	err = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* Processes and threads are signaled once, when they end, and waiting
 * does not consume that. */
int ioli_ended_try(struct ioli_waitobj *o)
{
	uint32_t v = atomic_load(&o->r.s->word); /* seq_cst: see src/wait/wait.c */

	if (v & IOLI_SIG_SIGNALED)
		return 0;
	o->seen = v;
	return IOLI_TRY_BUSY;
}

int ioli_ended_claim(struct ioli_waitobj *o, uint32_t v, uint32_t me, uint32_t *nv, bool *ab)
{
	if (!(v & IOLI_SIG_SIGNALED))
		return 0;
	*nv = v;
	return 1;
}

const struct ioli_obj_ops ioli_process_ops = {
    .try_acquire = ioli_ended_try,
    .claim = ioli_ended_claim,
};
