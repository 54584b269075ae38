/* SPDX-License-Identifier: MIT */
/*
 * Files the iolayer command creates, made so that a name planted by
 * another user (a symbolic link, a file) is never written through: new
 * names are created with O_CREAT | O_EXCL | O_NOFOLLOW, and a file that is
 * replaced is written under a new name and renamed over the old one
 * (rename(2) replaces a symbolic link, it does not follow it).
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/cli/cli.h"

int ioli_cli_create_new(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	return fd < 0 ? -errno : fd;
}

int ioli_cli_create_beside(const char *path, char *tmp, size_t len)
{
	for (int tries = 0; tries < 16; tries++) {
		uint32_t rnd = 0;
		int fd;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)tries * 2654435761u;
		if (snprintf(tmp, len, "%s.tmp.%d.%08x", path, (int)getpid(), rnd) >= (int)len)
			return -ENAMETOOLONG;
		fd = ioli_cli_create_new(tmp, O_WRONLY, 0666);
		if (fd != -EEXIST)
			return fd;
	}
	return -EEXIST;
}

FILE *ioli_cli_replace(const char *path)
{
	char tmp[4096];
	int fd = ioli_cli_create_beside(path, tmp, sizeof(tmp));
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	/* fdopen first: once renamed, a failure would leave an empty file at
	 * path that unlink(tmp) no longer removes. */
	f = fdopen(fd, "w");
	if (!f || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		if (f)
			fclose(f);
		else
			close(fd);
		errno = e;
		return NULL;
	}
	return f;
}
