/* SPDX-License-Identifier: MIT */
/*
 * The pool's lifecycle: choosing a backend, starting the threads (each sets
 * up its own ring or epoll instance, since an io_uring with SINGLE_ISSUER
 * belongs to the thread that submits to it), and destruction.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iolayer/probe.h"
#include "uring/pool_internal.h"

#define DEFAULT_ENTRIES 256u
#define MAX_ENTRIES	32768u

static atomic_bool fallback_said;

_Atomic unsigned ioli_fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
	atomic_fetch_add_explicit(&ioli_fork_gen, 1, memory_order_relaxed);
}

/* Registered before the first pool exists, so every fork after it counts. */
static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

struct thread_arg {
	struct ioli_thread *t;
	int cpu; /* -1: not pinned */
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct ioli_thread *t = a->t;
	struct iol_pool *pool = t->pool;
	int cpu = a->cpu, go, r;

	ioli_self = t;
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	r = pool->be->thread_init(t);
	pthread_mutex_lock(&pool->lock);
	t->init_err = r;
	pool->started++;
	pthread_cond_broadcast(&pool->cond);
	while (pool->start_go == 0)
		pthread_cond_wait(&pool->cond, &pool->lock);
	go = pool->start_go;
	pthread_mutex_unlock(&pool->lock);
	if (r == 0 && go > 0)
		pool->be->thread_run(t);
	if (r == 0)
		pool->be->thread_fini(t);
	ioli_self = NULL;
	return NULL;
}

/* The CPUs this process may run on, in order. */
static int allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static void threads_free(struct iol_pool *pool)
{
	for (unsigned i = 0; i < pool->nthreads; i++) {
		struct ioli_thread *t = &pool->threads[i];

		ioli_tbufs_free_all(t);
		ioli_heap_free(t);
		ioli_slab_fini(&t->slab);
		if (t->wake_fd >= 0)
			close(t->wake_fd);
	}
	free(pool->threads);
	pool->threads = NULL;
}

/* Start every thread on backend be; all or none. */
static int pool_start(struct iol_pool *pool, const struct ioli_backend *be)
{
	struct thread_arg *args;
	int *cpus = NULL;
	unsigned created = 0;
	int ncpus = 0, err = 0;

	pool->be = be;
	pool->started = 0;
	pool->start_go = 0;
	pool->threads = calloc(pool->nthreads, sizeof(*pool->threads));
	args = calloc(pool->nthreads, sizeof(*args));
	if (!pool->threads || !args) {
		free(args);
		free(pool->threads);
		pool->threads = NULL;
		return -ENOMEM;
	}
	if (pool->opts.pin_cpus) {
		cpus = malloc(CPU_SETSIZE * sizeof(*cpus));
		if (cpus)
			ncpus = allowed_cpus(cpus, CPU_SETSIZE);
	}
	for (unsigned i = 0; i < pool->nthreads; i++) {
		struct ioli_thread *t = &pool->threads[i];

		t->pool = pool;
		t->index = i;
		ioli_slab_init(&t->slab);
		/* Blocking: io_uring on older kernels answers reads of an
		 * O_NONBLOCK file with -EAGAIN instead of waiting. */
		t->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (t->wake_fd < 0 && !err)
			err = -errno;
	}
	if (!err && be == &ioli_epoll_backend)
		err = ioli_workers_start(pool, pool->opts.file_workers);
	for (unsigned i = 0; i < pool->nthreads && !err; i++) {
		args[i].t = &pool->threads[i];
		args[i].cpu = ncpus > 0 ? cpus[i % (unsigned)ncpus] : -1;
		err = -pthread_create(&pool->threads[i].tid, NULL, thread_main, &args[i]);
		if (!err)
			created++;
	}
	pthread_mutex_lock(&pool->lock);
	while (pool->started < created)
		pthread_cond_wait(&pool->cond, &pool->lock);
	for (unsigned i = 0; i < created && !err; i++)
		err = pool->threads[i].init_err;
	pool->start_go = err ? -1 : 1;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	if (err) {
		for (unsigned i = 0; i < created; i++)
			pthread_join(pool->threads[i].tid, NULL);
		if (be == &ioli_epoll_backend)
			ioli_workers_stop(pool);
		threads_free(pool);
	}
	/* Threads read their argument before they report as started. */
	free(args);
	free(cpus);
	return err;
}

/* The io_uring opcodes every pool operation needs (all in Linux 5.11,
 * below the library's 5.16 minimum; masked only by IOLAYER_DISABLE). */
static const enum iol_feature required_ops[] = {
    IOL_FEAT_URING_OP_READ,	    IOL_FEAT_URING_OP_WRITE,	IOL_FEAT_URING_OP_READV,
    IOL_FEAT_URING_OP_WRITEV,	    IOL_FEAT_URING_OP_FSYNC,	IOL_FEAT_URING_OP_OPENAT,
    IOL_FEAT_URING_OP_CLOSE,	    IOL_FEAT_URING_OP_STATX,	IOL_FEAT_URING_OP_ACCEPT,
    IOL_FEAT_URING_OP_CONNECT,	    IOL_FEAT_URING_OP_RECV,	IOL_FEAT_URING_OP_SEND,
    IOL_FEAT_URING_OP_SHUTDOWN,	    IOL_FEAT_URING_OP_TIMEOUT,	IOL_FEAT_URING_OP_LINK_TIMEOUT,
    IOL_FEAT_URING_OP_ASYNC_CANCEL, IOL_FEAT_URING_OP_POLL_ADD,
};

static int uring_missing_op(void)
{
	for (size_t i = 0; i < sizeof(required_ops) / sizeof(required_ops[0]); i++)
		if (!iol_has(required_ops[i]))
			return (int)required_ops[i];
	return -1;
}

static void say_fallback(const char *why)
{
	if (!atomic_exchange(&fallback_said, true))
		fprintf(stderr, "iolayer: IO pool: %s; using the epoll backend\n", why);
}

int iol_pool_create(const struct iol_pool_opts *opts, iol_pool **out)
{
	struct iol_pool_opts o = {0};
	struct iol_pool *pool;
	const struct ioli_backend *be;
	bool automatic;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	if (o.threads > IOL_POOL_MAX_THREADS || o.ring_entries > MAX_ENTRIES)
		return -EINVAL;
	if (o.backend != IOL_BACKEND_AUTO && o.backend != IOL_BACKEND_URING &&
	    o.backend != IOL_BACKEND_EPOLL)
		return -EINVAL;
	if (o.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o.threads = n < 1		       ? 1
			    : n > IOL_POOL_MAX_THREADS ? IOL_POOL_MAX_THREADS
						       : (unsigned)n;
	}
	if (o.ring_entries == 0)
		o.ring_entries = DEFAULT_ENTRIES;
	if (o.file_workers == 0)
		o.file_workers = 4;

	automatic = o.backend == IOL_BACKEND_AUTO;
	if (o.backend == IOL_BACKEND_EPOLL)
		be = &ioli_epoll_backend;
	else if (o.backend == IOL_BACKEND_URING)
		be = &ioli_uring_backend;
	else
		be = strcmp(iol_features()->backend, "io_uring") == 0 ? &ioli_uring_backend
								      : &ioli_epoll_backend;
	if (be == &ioli_uring_backend) {
		int missing = uring_missing_op();

		if (missing >= 0) {
			char why[160];

			if (!automatic)
				return -ENOSYS;
			snprintf(why, sizeof(why), "io_uring lacks %s",
				 iol_feature_name((enum iol_feature)missing));
			say_fallback(why);
			be = &ioli_epoll_backend;
		}
	}

	pthread_once(&atfork_once, atfork_register);
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->fork_gen = atomic_load_explicit(&ioli_fork_gen, memory_order_relaxed);
	pool->opts = o;
	pool->nthreads = o.threads;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->native_futex_wait = iol_has(IOL_FEAT_URING_OP_FUTEX_WAIT);
	pool->native_futex_waitv = iol_has(IOL_FEAT_URING_OP_FUTEX_WAITV);

	r = pool_start(pool, be);
	if (r && automatic && be == &ioli_uring_backend) {
		char why[96];

		snprintf(why, sizeof(why), "io_uring_setup failed (%s)", strerror(-r));
		say_fallback(why);
		r = pool_start(pool, &ioli_epoll_backend);
	}
	if (r) {
		pthread_cond_destroy(&pool->cond);
		pthread_mutex_destroy(&pool->lock);
		free(pool);
		return r;
	}
	*out = pool;
	return 0;
}

int iol_pool_destroy(iol_pool *pool)
{
	if (!pool)
		return -EINVAL;
	/* In a child of fork(): the threads are the parent's and the locks
	 * may have been held at the fork.  Touch nothing; the child's copy of
	 * the memory goes with the process (descriptors are close-on-exec). */
	if (ioli_pool_forked(pool))
		return -EBADF;
	if (ioli_self && ioli_self->pool == pool)
		return -EDEADLK;
	atomic_store_explicit(&pool->stopping, true, memory_order_release);
	for (unsigned i = 0; i < pool->nthreads; i++)
		ioli_thread_wake(&pool->threads[i]);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i].tid, NULL);
	ioli_futex_helpers_stop(pool);
	if (pool->be == &ioli_epoll_backend)
		ioli_workers_stop(pool);
	threads_free(pool);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	return 0;
}

const char *iol_pool_backend(const iol_pool *pool)
{
	return pool && !ioli_pool_forked(pool) ? pool->be->name : NULL;
}

unsigned iol_pool_threads(const iol_pool *pool)
{
	return pool && !ioli_pool_forked(pool) ? pool->nthreads : 0;
}

void ioli_pool_stats(iol_pool *pool, struct ioli_stats_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < pool->nthreads; i++) {
		struct ioli_stats *s = &pool->threads[i].stats;

		out->sq_full += atomic_load_explicit(&s->sq_full, memory_order_relaxed);
		out->cq_overflow += atomic_load_explicit(&s->cq_overflow, memory_order_relaxed);
		out->submit_busy += atomic_load_explicit(&s->submit_busy, memory_order_relaxed);
		out->epoll_ctl += atomic_load_explicit(&s->epoll_ctl, memory_order_relaxed);
		out->worker_ops += atomic_load_explicit(&s->worker_ops, memory_order_relaxed);
		out->futex_fallback +=
		    atomic_load_explicit(&s->futex_fallback, memory_order_relaxed);
		out->zc_sends += atomic_load_explicit(&s->zc_sends, memory_order_relaxed);
	}
}
