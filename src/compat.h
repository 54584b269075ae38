/* SPDX-License-Identifier: MIT */
/*
 * The one compatibility header.
 *
 * iolayer builds against Debian 12's liburing 2.3 and linux-libc-dev 6.1
 * and runs on much newer kernels.  Everything those headers lack that the
 * library uses is defined here, guarded so that newer headers win.
 * Whether the running kernel has a feature is decided at run time by the
 * probe (src/probe.c), never by what these headers say.
 */
#ifndef IOLAYER_COMPAT_H
#define IOLAYER_COMPAT_H

#include <linux/futex.h>
#include <sys/syscall.h>

/* ---- futex ---------------------------------------------------------- */

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#endif
#ifndef SYS_futex_wait
#define SYS_futex_wait 455
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE FUTEX_PRIVATE_FLAG
#endif
#ifndef FUTEX_WAITV_MAX
#define FUTEX_WAITV_MAX 128
#endif

#endif /* IOLAYER_COMPAT_H */
