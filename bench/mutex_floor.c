/* SPDX-License-Identifier: MIT */
/*
 * mutex_floor: what the contended mutex benchmark costs without iolayer.
 *
 * Two (or N) processes take and give back one lock in shared memory and
 * increment a counter under it, as scaling_bench's contended mutex does,
 * with the bare protocol of glibc's robust mutex (CAS to take; set a
 * waiters bit and futex_wait to sleep; exchange and wake to release) and
 * nothing around it: no handles, no thread records, no owner ids.  With
 * --pages K each acquisition first reads one byte of K other pages (each
 * at a different offset, so that they do not compete for one cache set),
 * to show what the number of distinct pages an operation touches costs
 * (docs/performance.md, "Second pass: the contended mutex").
 *
 * usage: mutex_floor [--workers N] [--pages K] [--seconds S]
 * Prints one line: Mops/s, wakes, sleeps, and sleeps that found the word
 * changed.  Not part of `make bench`: it has no iolayer figure to compare.
 */
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAITERS	 0x40000000u
#define MAXPAGES 64

struct shared {
	_Atomic uint32_t word;
	char pad0[60];
	uint64_t counter;			/* under the lock */
	_Atomic uint64_t wakes, sleeps, eagain; /* outside the lock */
	char pad1[32];
	_Atomic int stop;
	_Atomic uint64_t ops;
};

static struct shared *sh;
static volatile char *pages;
static int npages;

static long futex(_Atomic uint32_t *w, int op, uint32_t v)
{
	return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

static void lock(uint32_t me)
{
	uint32_t v = 0, extra = 0;

	if (atomic_compare_exchange_strong(&sh->word, &v, me))
		return;
	for (;;) {
		if (v == 0) {
			if (atomic_compare_exchange_strong(&sh->word, &v, me | extra))
				return;
			continue;
		}
		if (!(v & WAITERS)) {
			if (!atomic_compare_exchange_strong(&sh->word, &v, v | WAITERS))
				continue;
			v |= WAITERS;
		}
		extra = WAITERS; /* others may sleep too: keep the bit when taking it */
		atomic_fetch_add_explicit(&sh->sleeps, 1, memory_order_relaxed);
		if (futex(&sh->word, FUTEX_WAIT, v) < 0)
			atomic_fetch_add_explicit(&sh->eagain, 1, memory_order_relaxed);
		v = atomic_load(&sh->word);
	}
}

static void unlock(void)
{
	if (atomic_exchange(&sh->word, 0) & WAITERS) {
		atomic_fetch_add_explicit(&sh->wakes, 1, memory_order_relaxed);
		futex(&sh->word, FUTEX_WAKE, 1);
	}
}

static void worker(uint32_t me)
{
	uint64_t n = 0;

	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++) {
			for (int k = 0; k < npages; k++)
				(void)
				    pages[(size_t)k * 4096 + (size_t)k * 64]; /* a cache set each */
			lock(me);
			sh->counter++;
			unlock();
		}
		n += 64;
	}
	atomic_fetch_add(&sh->ops, n);
}

int main(int argc, char **argv)
{
	int workers = 2;
	double seconds = 1.0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--workers") == 0)
			workers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--pages") == 0)
			npages = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
	}
	if (workers < 1 || workers > 64 || npages < 0 || npages > MAXPAGES || seconds <= 0) {
		fprintf(stderr,
			"usage: mutex_floor [--workers 1..64] [--pages 0..%d] [--seconds S]\n",
			MAXPAGES);
		return 2;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pages = mmap(NULL, (size_t)MAXPAGES * 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || pages == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (int k = 0; k < MAXPAGES; k++)
		pages[(size_t)k * 4096] = 1;
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			worker((uint32_t)getpid());
			_exit(0);
		}
	}
	struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};

	nanosleep(&d, NULL);
	atomic_store(&sh->stop, 1);
	while (wait(NULL) > 0)
		;
	if (sh->counter != atomic_load(&sh->ops)) {
		fprintf(stderr, "mutex_floor: lost updates: %llu of %llu\n",
			(unsigned long long)sh->counter, (unsigned long long)atomic_load(&sh->ops));
		return 1;
	}
	printf("workers %d pages %d: %.2f Mops/s, wakes %llu, sleeps %llu, changed %llu\n", workers,
	       npages, (double)atomic_load(&sh->ops) / seconds / 1e6,
	       (unsigned long long)atomic_load(&sh->wakes),
	       (unsigned long long)atomic_load(&sh->sleeps),
	       (unsigned long long)atomic_load(&sh->eagain));
	return 0;
}
