/* SPDX-License-Identifier: MIT */
/*
 * File sharing modes across processes, as Windows' CreateFile share modes.
 *
 * Every iol_file_open() of a file (same device and inode, so hard links
 * are one file) by any process attached to the table is recorded in it.
 * A new open fails with -EBUSY (a sharing violation) if it asks for an
 * access that some existing open does not share, or if it refuses to share
 * an access that some existing open holds.  Access comes from oflags:
 * O_RDONLY read, O_WRONLY write, O_RDWR both.  Delete access is asked for
 * by iol_file_unlink() and iol_file_rename() (for `from`), for the moment
 * of the operation: they fail with -EBUSY unless every open shares delete.
 *
 * The table keeps, per file, the counts Windows keeps: opens, readers,
 * writers, deleters, and how many opens share read, write and delete.
 * Closing the last handle of an open releases its share state; so does the
 * death of the process that held it (when a survivor reclaims it).
 *
 * Files opened without iolayer, by this or any other process, are
 * invisible to this check: the modes bind only cooperating processes.
 */
#ifndef IOLAYER_FILE_H
#define IOLAYER_FILE_H

#include <sys/types.h>

#include "iolayer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IOL_SHARE_READ	 0x1u
#define IOL_SHARE_WRITE	 0x2u
#define IOL_SHARE_DELETE 0x4u

/*
 * open(2) path with oflags and mode, then check and record the sharing.
 * With O_TRUNC the file is truncated only once the open is admitted.
 * Returns a file handle (IOL_TYPE_FILE), or:
 *   -EBUSY     sharing violation (the file is not opened, nor created,
 *              nor truncated)
 *   -EINVAL    t or path NULL; unknown share bits
 *   -EBADF     t was closed or inherited across fork()
 *   any errno of open(2) or fstat(2); -ENOSPC when the table is full
 */
int iol_file_open(iol_table *t, const char *path, int oflags, mode_t mode, unsigned share);

/*
 * The descriptor, for plain or pool IO.  It belongs to the process that
 * opened the file and stays open until its last handle there is closed;
 * in a process that imported the handle the call gives -EXDEV.
 */
int iol_file_fd(int h);

/* unlink(2) path, or -EBUSY unless every open of it shares delete.
 * Also -EINVAL (t or path NULL), -EBADF (t closed or inherited across
 * fork()), -ENOSPC (table full), any errno of lstat(2) and unlink(2). */
int iol_file_unlink(iol_table *t, const char *path);

/* rename(2) from to, or -EBUSY unless every open of `from` shares delete.
 * (`to`, if it exists and is replaced, is not checked: the rule is the
 * one for `from`.)  Errors as iol_file_unlink(), -EINVAL also for to NULL,
 * and any errno of rename(2). */
int iol_file_rename(iol_table *t, const char *from, const char *to);

#ifdef __cplusplus
}
#endif

#endif /* IOLAYER_FILE_H */
