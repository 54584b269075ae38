/* SPDX-License-Identifier: MIT */
/*
 * Process identity that survives pid reuse.
 *
 * Where pidfs gives every process its own inode (Linux 6.9), the identity
 * is the inode of a pidfd for it; otherwise the process's start time in
 * clock ticks since boot, field 22 of /proc/PID/stat.  Either way a pid
 * that was reused by a new process gets a different identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iolayer/probe.h"
#include "src/table/table.h"

static int starttime(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields count from the last
	 * ')'.  p starts at the space before field 3 and each step moves it
	 * to the space before the next field, ending before field 22. */
	p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	p++;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EPROTO;
	}
	*out = strtoull(p + 1, NULL, 10);
	return 0;
}

int ioli_proc_identity(pid_t pid, uint32_t *kind, uint64_t *ident)
{
	if (iol_has(IOL_FEAT_PIDFS)) {
		struct stat st;
		int fd = (int)syscall(SYS_pidfd_open, pid, 0);

		if (fd >= 0) {
			int r = fstat(fd, &st);

			close(fd);
			if (r == 0) {
				*kind = IOLI_IDENT_PIDFS;
				*ident = st.st_ino;
				return 0;
			}
		} else if (errno == ESRCH) {
			return -ESRCH;
		}
	}
	*kind = IOLI_IDENT_STARTTIME;
	return starttime(pid, ident);
}

int ioli_pidfd_identity(int pidfd, pid_t pid, uint32_t *kind, uint64_t *ident)
{
	struct stat st;
	int err;

	if (iol_has(IOL_FEAT_PIDFS) && fstat(pidfd, &st) == 0) {
		*kind = IOLI_IDENT_PIDFS;
		*ident = st.st_ino;
		return 0;
	}
	*kind = IOLI_IDENT_STARTTIME;
	err = starttime(pid, ident);
	if (err)
		return err;
	/* The pidfd's process still exists (alive or a zombie), so the pid
	 * was not reused while we read its start time. */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == ESRCH)
		return -ESRCH;
	return 0;
}

bool ioli_proc_alive(iol_table *t, uint32_t p, uint32_t gen)
{
	struct ioli_proc *pr;
	struct pollfd pf;
	uint32_t kind;
	uint64_t ident;
	pid_t pid;
	bool alive;
	int fd;

	if (p >= t->max_procs)
		return false;
	pr = &t->procs[p];
	if (atomic_load(&pr->state) != IOLI_PROC_LIVE || atomic_load(&pr->gen) != gen)
		return false;
	if (p == t->self && gen == t->self_gen)
		return true;
	/* The kernel's word first: marked when the process died or exec()ed
	 * (its sentinel thread is gone), before the pid itself is gone.  Wait
	 * for its last threads to leave before anyone reclaims. */
	if (ioli_live_word_dead(atomic_load(&pr->live), atomic_load(&pr->stid))) {
		ioli_wait_gone((pid_t)atomic_load(&pr->pid), 100);
		return false;
	}
	pid = (pid_t)atomic_load(&pr->pid);
	if (pid <= 0)
		return false;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno != ESRCH; /* EPERM etc.: assume alive, never reclaim wrongly */
	alive = ioli_pidfd_identity(fd, pid, &kind, &ident) == 0 &&
		kind == atomic_load(&pr->ident_kind) && ident == atomic_load(&pr->ident);
	pf = (struct pollfd){.fd = fd, .events = POLLIN};
	if (alive && poll(&pf, 1, 0) == 1)
		alive = false; /* exited, not yet reaped */
	close(fd);
	return alive;
}
