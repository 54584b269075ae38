/* SPDX-License-Identifier: MIT */
/* Futex system calls: the only place iolayer enters the kernel to sleep. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "futex/futex.h"

int64_t ioli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void ioli_pause_ns(int64_t ns)
{
	int64_t until;

	if (ns <= 0)
		return;
	if (ns > 20000)
		ns = 20000;
	until = ioli_now_ns() + ns;
	do {
		for (int i = 0; i < 8; i++)
			cpu_relax();
	} while (ioli_now_ns() < until);
}

void ioli_deadline_set(struct ioli_deadline *d, int64_t timeout_ns)
{
	struct timespec now;

	if (timeout_ns < 0) {
		d->ts.tv_sec = -1;
		d->ts.tv_nsec = 0;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Saturate: a timeout of centuries is as good as forever. */
	if (timeout_ns / 1000000000 > (int64_t)(INT64_MAX / 2) - now.tv_sec) {
		d->ts.tv_sec = -1;
		d->ts.tv_nsec = 0;
		return;
	}
	d->ts.tv_sec = now.tv_sec + (time_t)(timeout_ns / 1000000000);
	d->ts.tv_nsec = now.tv_nsec + (long)(timeout_ns % 1000000000);
	if (d->ts.tv_nsec >= 1000000000) {
		d->ts.tv_sec++;
		d->ts.tv_nsec -= 1000000000;
	}
}

bool ioli_deadline_passed(const struct ioli_deadline *d)
{
	struct timespec now;

	if (ioli_deadline_infinite(d))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->ts.tv_sec ||
	       (now.tv_sec == d->ts.tv_sec && now.tv_nsec >= d->ts.tv_nsec);
}

int ioli_futex_wait(_Atomic uint32_t *word, uint32_t val, const struct ioli_deadline *d,
		    bool private_)
{
	int op = FUTEX_WAIT_BITSET | (private_ ? FUTEX_PRIVATE_FLAG : 0);
	const struct timespec *ts = ioli_deadline_infinite(d) ? NULL : &d->ts;

	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. */
	if (syscall(SYS_futex, word, op, val, ts, NULL, FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	return -errno;
}

int ioli_futex_wake_n(_Atomic uint32_t *word, int n, bool private_)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE | (private_ ? FUTEX_PRIVATE_FLAG : 0), n, NULL,
			 NULL, 0);

	return r > 0 ? (int)r : 0;
}

void ioli_futex_wake(_Atomic uint32_t *word, int n, bool private_)
{
	syscall(SYS_futex, word, FUTEX_WAKE | (private_ ? FUTEX_PRIVATE_FLAG : 0), n, NULL, NULL,
		0);
}

void ioli_waitv_entry(struct futex_waitv *w, _Atomic uint32_t *word, uint32_t val, bool private_)
{
	memset(w, 0, sizeof(*w));
	w->val = val;
	w->uaddr = (uint64_t)(uintptr_t)word;
	w->flags = FUTEX2_SIZE_U32 | (private_ ? FUTEX2_PRIVATE : 0);
}

int ioli_futex_waitv(struct futex_waitv *w, unsigned n, const struct ioli_deadline *d)
{
	const struct timespec *ts = ioli_deadline_infinite(d) ? NULL : &d->ts;
	long r = syscall(SYS_futex_waitv, w, n, 0, ts, CLOCK_MONOTONIC);

	return r >= 0 ? (int)r : -errno;
}
