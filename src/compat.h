/* SPDX-License-Identifier: MIT */
/*
 * The one compatibility header.
 *
 * iolayer builds against Debian 12's liburing 2.3 and linux-libc-dev 6.1
 * and runs on much newer kernels.  Everything those headers lack that the
 * library uses is defined here (the futex2 part in futex/abi.h, which it
 * includes), guarded so that newer headers win.
 * Whether the running kernel has a feature is decided at run time by the
 * probe (src/probe/probe.c), never by what these headers say.
 */
#ifndef IOLAYER_COMPAT_H
#define IOLAYER_COMPAT_H

#include <linux/futex.h>
#include <sys/syscall.h>

/* futex2: kept beside the futex calls, so futex/ needs nothing from src/. */
#include "futex/abi.h"

/* ---- io_uring (liburing 2.3 gaps) ----------------------------------- */

/*
 * liburing >= 2.4 defines IO_URING_VERSION_MAJOR/MINOR (liburing.h includes
 * its io_uring_version.h); 2.3 has no version macros at all.  The opcodes
 * are enum constants, which #ifndef cannot see, so they are defined here
 * only when the liburing we build against predates them (2.5 added the
 * 6.7 opcodes).  Numbers from the kernel's include/uapi/linux/io_uring.h.
 */
#include <liburing.h>

#if defined(IO_URING_VERSION_MAJOR) && defined(IO_URING_VERSION_MINOR)
#define IOLI_LIBURING_AT_LEAST(maj, min)                                                           \
	(IO_URING_VERSION_MAJOR > (maj) ||                                                         \
	 (IO_URING_VERSION_MAJOR == (maj) && IO_URING_VERSION_MINOR >= (min)))
#else
#define IOLI_LIBURING_AT_LEAST(maj, min) 0
#endif

#if !IOLI_LIBURING_AT_LEAST(2, 5)
#define IORING_OP_READ_MULTISHOT 49 /* 6.7 */
#define IORING_OP_WAITID	 50 /* 6.7 */
#define IORING_OP_FUTEX_WAIT	 51 /* 6.7 */
#define IORING_OP_FUTEX_WAKE	 52 /* 6.7 */
#define IORING_OP_FUTEX_WAITV	 53 /* 6.7 */
#endif

#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14) /* 6.5 */
#endif
#ifndef IORING_SETUP_REGISTERED_FD_ONLY
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15) /* 6.5 */
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16) /* 6.6 */
#endif
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13) /* 6.3 */
#endif

/* ---- pidfd, clone3 and pidfs ---------------------------------------- */

/*
 * <linux/pidfd.h> cannot be included next to <fcntl.h> (it redefines
 * struct flock), so newer definitions are looked for in glibc's
 * <sys/pidfd.h> (2.36+), which grows them in later releases.
 */
#if __has_include(<sys/pidfd.h>)
#include <sys/pidfd.h>
#endif
#include <sys/ioctl.h>
#include <linux/types.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424 /* 5.1 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* 5.3 */
#endif
#ifndef SYS_clone3
#define SYS_clone3 435 /* 5.3 */
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000 /* 5.2 */
#endif
/* P_PIDFD (5.4) is an idtype_t enum constant in glibc >= 2.36 and absent
 * before; #ifndef cannot see enums, so the probe uses this number. */
#define IOLI_P_PIDFD 3

#ifndef PID_FS_MAGIC
#define PID_FS_MAGIC 0x50494446 /* "PIDF", statfs f_type of pidfs (6.9) */
#endif

#ifndef PIDFD_GET_INFO
/* The first published layout (PIDFD_INFO_SIZE_VER0, 64 bytes, 6.13); the
 * kernel treats the ioctl as extensible and accepts any size from there. */
struct pidfd_info {
	__u64 mask;
	__u64 cgroupid;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 ruid;
	__u32 rgid;
	__u32 euid;
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__s32 exit_code; /* with PIDFD_INFO_EXIT (6.15): a wait(2) status */
};
#define PIDFS_IOCTL_MAGIC 0xFF
#define PIDFD_GET_INFO	  _IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)
#endif
#ifndef PIDFD_INFO_PID
#define PIDFD_INFO_PID (1UL << 0)
#endif
#ifndef PIDFD_INFO_CREDS
#define PIDFD_INFO_CREDS (1UL << 1)
#endif
#ifndef PIDFD_INFO_CGROUPID
#define PIDFD_INFO_CGROUPID (1UL << 2)
#endif
#ifndef PIDFD_INFO_EXIT
#define PIDFD_INFO_EXIT (1UL << 3) /* 6.15 */
#endif
#ifndef PIDFD_INFO_SIZE_VER0
#define PIDFD_INFO_SIZE_VER0 64
#endif

#endif /* IOLAYER_COMPAT_H */
