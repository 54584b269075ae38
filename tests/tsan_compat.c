/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer builds of the tests only (make SAN=tsan test).
 *
 * The library takes its table locks with pthread_mutex_clocklock() on
 * CLOCK_MONOTONIC (src/table/tlock.c).  GCC 12's libtsan (Debian 12) has no
 * interceptor for it, so TSan never sees those locks taken: it reports
 * every unlock as "unlock of an unlocked mutex" and every write made under
 * the lock as a data race.  This definition, in the test programs, takes
 * precedence over glibc's and forwards to pthread_mutex_timedlock(), which
 * libtsan does intercept, with the same deadline moved to CLOCK_REALTIME.
 * TSan then sees every lock and unlock; nothing is suppressed.
 *
 * libtsan's pthread_mutex_timedlock() interceptor records the lock only
 * when it returns 0, not EOWNERDEAD (its pthread_mutex_lock() one does
 * both): a lock taken over from a dead holder, the heart of the
 * crash-safety tests, would then be "unlocked while unlocked".  So an
 * EOWNERDEAD is reported to TSan as a lock taken, with its annotation API.
 *
 * The iolayer command and the torture program link this file too in a
 * TSan build (they take the table locks: fsck, the workers).
 */
#if defined(__SANITIZE_THREAD__)
#include <errno.h>
#include <pthread.h>
#include <sanitizer/tsan_interface.h>
#include <stdint.h>
#include <time.h>

static int timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	int r = pthread_mutex_timedlock(m, abs);

	if (r == EOWNERDEAD) {
		__tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
		__tsan_mutex_post_lock(m, __tsan_mutex_try_lock, 0);
	}
	return r;
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abs)
{
	struct timespec now, rt;
	int64_t left;

	if (clk == CLOCK_REALTIME)
		return timedlock(m, abs);
	if (clock_gettime(clk, &now) != 0)
		return EINVAL;
	left = (int64_t)(abs->tv_sec - now.tv_sec) * 1000000000 + (abs->tv_nsec - now.tv_nsec);
	if (left < 0)
		left = 0;
	clock_gettime(CLOCK_REALTIME, &rt);
	rt.tv_sec += (time_t)(left / 1000000000);
	rt.tv_nsec += (long)(left % 1000000000);
	if (rt.tv_nsec >= 1000000000) {
		rt.tv_sec++;
		rt.tv_nsec -= 1000000000;
	}
	return timedlock(m, &rt);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int iol_tests_tsan_compat_unused;
#endif
