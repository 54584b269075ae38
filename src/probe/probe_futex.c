/* SPDX-License-Identifier: MIT */
/*
 * futex_waitv(2) and the futex2 futex_wake(2)/futex_wait(2) calls.
 *
 * Each call is made for real on a private word whose value differs from
 * the expected one, so a working kernel answers EAGAIN at once (and wake
 * answers 0 woken).  Only the real implementation can give those answers:
 * a seccomp filter's EPERM or ENOSYS, or a kernel without the call, cannot
 * be mistaken for support.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "src/compat.h"
#include "src/probe/probe_internal.h"

static void probe_waitv(struct iol_features *f)
{
	uint32_t word = 1;
	struct futex_waitv w = {
	    .val = 0, /* differs from word: EAGAIN, no sleep */
	    .uaddr = (uintptr_t)&word,
	    .flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE,
	};
	char eb[16];
	long r = syscall(SYS_futex_waitv, &w, 1, 0, NULL, 0);
	int err = r < 0 ? errno : 0;

	if (r < 0 && err == EAGAIN) {
		ioli_feat_ok(f, IOL_FEAT_FUTEX_WAITV);
		return;
	}
	if (r >= 0)
		err = EPROTO;
	ioli_feat_missing(f, IOL_FEAT_FUTEX_WAITV, err, "futex_waitv: %s (%s)",
			  ioli_errno_name(err, eb), ioli_missing_why(err));
}

static void probe_futex2(struct iol_features *f)
{
	uint32_t word = 1;
	unsigned int flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
	char eb[16];
	long r;
	int err;

	/* futex_wake(uaddr, mask, nr, flags): nobody waits, 0 woken. */
	r = syscall(SYS_futex_wake, &word, (unsigned long)FUTEX_BITSET_MATCH_ANY, 1, flags);
	if (r != 0) {
		err = r < 0 ? errno : EPROTO;
		ioli_feat_missing(f, IOL_FEAT_FUTEX2, err, "futex_wake: %s (%s)",
				  ioli_errno_name(err, eb), ioli_missing_why(err));
		return;
	}
	/* futex_wait(uaddr, val, mask, flags, timeout, clockid): mismatch. */
	r = syscall(SYS_futex_wait, &word, 0UL, (unsigned long)FUTEX_BITSET_MATCH_ANY, flags, NULL,
		    0);
	err = r < 0 ? errno : EPROTO;
	if (r < 0 && err == EAGAIN) {
		ioli_feat_ok(f, IOL_FEAT_FUTEX2);
		return;
	}
	ioli_feat_missing(f, IOL_FEAT_FUTEX2, err, "futex_wait: %s (%s)", ioli_errno_name(err, eb),
			  ioli_missing_why(err));
}

void ioli_probe_futex(struct iol_features *f)
{
	probe_waitv(f);
	probe_futex2(f);
}
