/* SPDX-License-Identifier: MIT */
/*
 * The futex2 system call numbers and flags that Debian 12's
 * linux-libc-dev 6.1 lacks, guarded so that newer headers win (the futex
 * part of the compatibility header src/compat.h, which includes this one).
 */
#ifndef IOLAYER_FUTEX_ABI_H
#define IOLAYER_FUTEX_ABI_H

#include <linux/futex.h>
#include <sys/syscall.h>

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

#endif /* IOLAYER_FUTEX_ABI_H */
