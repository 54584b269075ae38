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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iolayer/probe.h"
#include "src/table.h"

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
	/* comm may hold spaces and parentheses: fields count from the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	p++;
	for (int field = 2; field < 22; field++) {
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
