/* SPDX-License-Identifier: MIT */
/*
 * Futex system calls and absolute deadlines on CLOCK_MONOTONIC.
 *
 * The bottom layer: futex/ knows futex words and deadlines only, no table
 * and no object type, and includes nothing from src/.  The Win32 wait
 * semantics built on it are in src/wait/.
 *
 * Every wait in iolayer takes an absolute deadline, so a wait interrupted
 * by a signal resumes with exactly the time that is left.
 */
#ifndef IOLAYER_FUTEX_FUTEX_H
#define IOLAYER_FUTEX_FUTEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "futex/abi.h"

/* A deadline: tv_sec < 0 means none (wait forever). */
struct ioli_deadline {
	struct timespec ts;
};

/* timeout_ns: IOL_INFINITE, 0 or positive (already validated). */
void ioli_deadline_set(struct ioli_deadline *d, int64_t timeout_ns);
bool ioli_deadline_passed(const struct ioli_deadline *d);
static inline bool ioli_deadline_infinite(const struct ioli_deadline *d)
{
	return d->ts.tv_sec < 0;
}
int64_t ioli_now_ns(void);
/* Spin for about ns nanoseconds (at most 20 us) without touching shared
 * memory and without a system call. */
void ioli_pause_ns(int64_t ns);

/*
 * Sleep while *word == val, until woken or the deadline.  Returns 0 when
 * woken (or spuriously), -EAGAIN when *word != val, -ETIMEDOUT, -EINTR,
 * or another negative errno the kernel gave (e.g. -ENOSYS under a seccomp
 * filter), which callers return rather than retry.
 */
int ioli_futex_wait(_Atomic uint32_t *word, uint32_t val, const struct ioli_deadline *d,
		    bool private_);
/* Wake up to n sleepers on word. */
void ioli_futex_wake(_Atomic uint32_t *word, int n, bool private_);
/* The same, returning how many were woken. */
int ioli_futex_wake_n(_Atomic uint32_t *word, int n, bool private_);

/*
 * futex_waitv(2): sleep until any word differs from its value or is
 * woken.  Returns the index of the woken entry, or -EAGAIN, -ETIMEDOUT,
 * -EINTR, or another negative errno as above.
 */
struct futex_waitv;
int ioli_futex_waitv(struct futex_waitv *w, unsigned n, const struct ioli_deadline *d);
void ioli_waitv_entry(struct futex_waitv *w, _Atomic uint32_t *word, uint32_t val, bool private_);

#endif /* IOLAYER_FUTEX_FUTEX_H */
