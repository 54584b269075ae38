/* SPDX-License-Identifier: MIT */
/*
 * file_bench: 4 KiB random reads of a cached file at queue depth 32 through
 * the IO pool, against pread(2) on the same number of threads.
 *
 *   file_bench [--threads T] [--qd 32] [--mib 256] [--duration SEC]
 *              [--backend uring|epoll|both] [--dir DIR]
 *
 * The file is written first (so it is in the page cache) and removed at the
 * end.  The pool keeps qd reads in flight over its T threads; each
 * completion submits the next read from its callback.  The baseline is T
 * threads each calling pread in a loop.  Prints one line per mode:
 *   mode=pread threads=T qd=T iops=N
 *   mode=pool backend=io_uring threads=T qd=32 iops=N
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iolayer/pool.h"

#define BLOCK 4096

static int fd;
static uint64_t nblocks;
static atomic_bool stop;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void sleep_secs(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */

struct preader {
	pthread_t th;
	uint64_t seed, ops;
};

static void *pread_main(void *p)
{
	struct preader *r = p;
	char *buf = aligned_alloc(BLOCK, BLOCK);

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		off_t off = (off_t)(xorshift(&r->seed) % nblocks) * BLOCK;

		if (pread(fd, buf, BLOCK, off) != BLOCK) {
			perror("pread");
			exit(1);
		}
		r->ops++;
	}
	free(buf);
	return NULL;
}

static double run_pread(unsigned threads, double secs)
{
	struct preader *r = calloc(threads, sizeof(*r));
	uint64_t ops = 0;
	int64_t t0;

	atomic_store(&stop, false);
	t0 = now_ns();
	for (unsigned i = 0; i < threads; i++) {
		r[i].seed = 0x9e3779b97f4a7c15ull * (i + 1);
		pthread_create(&r[i].th, NULL, pread_main, &r[i]);
	}
	sleep_secs(secs);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(r[i].th, NULL);
		ops += r[i].ops;
	}
	free(r);
	return (double)ops / ((double)(now_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------------ */

struct slot {
	iol_pool *pool;
	struct iol_op_opts on;
	uint64_t seed, ops;
	char *buf;
	atomic_bool *done;
};

static void issue(struct slot *s);

static void on_read(void *arg, int res, unsigned flags)
{
	struct slot *s = arg;

	if (res != BLOCK) {
		fprintf(stderr, "read: %s\n", res < 0 ? strerror(-res) : "short");
		exit(1);
	}
	s->ops++;
	if (atomic_load_explicit(&stop, memory_order_relaxed))
		atomic_store(s->done, true);
	else
		issue(s);
}

static void issue(struct slot *s)
{
	int64_t off = (int64_t)(xorshift(&s->seed) % nblocks) * BLOCK;
	int r = iol_pool_read(s->pool, fd, s->buf, BLOCK, off, on_read, s, &s->on, NULL);

	if (r < 0) {
		fprintf(stderr, "iol_pool_read: %s\n", strerror(-r));
		exit(1);
	}
}

static double run_pool(int backend, unsigned threads, unsigned qd, double secs, const char **name)
{
	struct iol_pool_opts o = {.threads = threads, .backend = backend, .pin_cpus = true};
	struct slot *s = calloc(qd, sizeof(*s));
	atomic_bool *done = calloc(qd, sizeof(*done));
	iol_pool *pool;
	uint64_t ops = 0;
	int64_t t0;
	int r = iol_pool_create(&o, &pool);

	if (r < 0) {
		fprintf(stderr, "iol_pool_create: %s\n", strerror(-r));
		exit(1);
	}
	*name = iol_pool_backend(pool);
	atomic_store(&stop, false);
	t0 = now_ns();
	for (unsigned i = 0; i < qd; i++) {
		s[i].pool = pool;
		s[i].on.flags = IOL_OP_ON_THREAD;
		s[i].on.thread = i % threads;
		s[i].seed = 0x9e3779b97f4a7c15ull * (i + 1);
		s[i].buf = aligned_alloc(BLOCK, BLOCK);
		s[i].done = &done[i];
		issue(&s[i]);
	}
	sleep_secs(secs);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < qd; i++)
		while (!atomic_load(&done[i]))
			sleep_secs(0.001);
	t0 = now_ns() - t0;
	iol_pool_destroy(pool);
	for (unsigned i = 0; i < qd; i++) {
		ops += s[i].ops;
		free(s[i].buf);
	}
	free(s);
	free(done);
	return (double)ops / ((double)t0 / 1e9);
}

int main(int argc, char **argv)
{
	unsigned threads = 1, qd = 32, mib = 256;
	double secs = 5;
	const char *dir = "/tmp", *which = "both", *name;
	char path[512];
	char *chunk;

	bool bad = argc % 2 == 0; /* every option takes a value */

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			threads = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--qd"))
			qd = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--mib"))
			mib = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--duration"))
			secs = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--backend"))
			which = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else
			bad = true;
	}
	if (bad || !threads || !qd || !mib || secs <= 0) {
		bool help = argc == 2 && !strcmp(argv[1], "--help");

		fprintf(help ? stdout : stderr,
			"usage: %s [--threads T] [--qd N] [--mib M] [--duration S] "
			"[--backend uring|epoll|both] [--dir D]\n",
			argv[0]);
		return help ? 0 : 2;
	}
	snprintf(path, sizeof(path), "%s/iol-file-bench.XXXXXX", dir);
	fd = mkstemp(path);
	chunk = malloc(1 << 20);
	if (fd < 0 || !chunk) {
		perror("mkstemp");
		return 1;
	}
	unlink(path);
	memset(chunk, 'f', 1 << 20);
	for (unsigned i = 0; i < mib; i++)
		if (write(fd, chunk, 1 << 20) != 1 << 20) {
			perror("write");
			return 1;
		}
	nblocks = (uint64_t)mib * (1 << 20) / BLOCK;
	/* Warm: read it all once (it is cached since written, unless evicted). */
	for (uint64_t off = 0; off < (uint64_t)mib << 20; off += 1 << 20)
		if (pread(fd, chunk, 1 << 20, (off_t)off) < 0)
			return 1;

	printf("mode=pread threads=%u qd=%u iops=%.0f\n", threads, threads,
	       run_pread(threads, secs));
	fflush(stdout);
	if (!strcmp(which, "both") || !strcmp(which, "uring")) {
		double iops = run_pool(IOL_BACKEND_URING, threads, qd, secs, &name);

		printf("mode=pool backend=%s threads=%u qd=%u iops=%.0f\n", name, threads, qd,
		       iops);
		fflush(stdout);
	}
	if (!strcmp(which, "both") || !strcmp(which, "epoll")) {
		double iops = run_pool(IOL_BACKEND_EPOLL, threads, qd, secs, &name);

		printf("mode=pool backend=%s threads=%u qd=%u iops=%.0f\n", name, threads, qd,
		       iops);
	}
	free(chunk);
	close(fd);
	return 0;
}
