/* SPDX-License-Identifier: MIT */
/*
 * Provided-buffer groups for multishot recv.
 *
 * A group is declared pool-wide (count buffers of size bytes) and set up
 * per thread on first use, because an io_uring provided-buffer ring belongs
 * to one ring.  On io_uring with buffer rings and multishot recv the kernel
 * picks buffers from the ring; otherwise (epoll, older kernels) the thread
 * keeps a free stack and picks them itself.  Either way a buffer handed to
 * a callback is "borrowed" (one atomic byte per buffer) until returned.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "iolayer/probe.h"
#include "uring/pool_internal.h"
#include "uring/ring.h"

int iol_pool_buffers_create(iol_pool *pool, unsigned count, unsigned size, unsigned *group)
{
	unsigned g;

	if (!pool || !group || count == 0 || count > 32768 || (count & (count - 1)) || size == 0 ||
	    size > (1u << 30) || (uint64_t)count * size > (4ull << 30))
		return -EINVAL;
	if (ioli_pool_forked(pool))
		return -EBADF;
	if (atomic_load(&pool->stopping))
		return -ESHUTDOWN;
	pthread_mutex_lock(&pool->lock);
	g = atomic_load(&pool->ngroups);
	if (g >= IOL_POOL_MAX_GROUPS) {
		pthread_mutex_unlock(&pool->lock);
		return -ENOSPC;
	}
	pool->groups[g].count = count;
	pool->groups[g].size = size;
	atomic_store_explicit(&pool->ngroups, g + 1, memory_order_release);
	pthread_mutex_unlock(&pool->lock);
	*group = g;
	return 0;
}

static void tbufs_destroy(struct ioli_tbufs *b)
{
	if (b->mem)
		munmap(b->mem, (size_t)b->count * b->size);
	if (b->br)
		munmap(b->br, b->br_bytes);
	free((void *)b->borrowed);
	free(b->free);
	free(b);
}

int ioli_tbufs_get(struct ioli_thread *t, unsigned group, struct ioli_tbufs **out)
{
	struct iol_pool *pool = t->pool;
	struct ioli_tbufs *b = NULL;
	const struct ioli_group *g;

	if (group >= atomic_load_explicit(&pool->ngroups, memory_order_acquire))
		return -EINVAL;
	b = atomic_load_explicit(&t->bufs[group], memory_order_acquire);
	if (b) {
		*out = b;
		return 0;
	}
	g = &pool->groups[group];
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->count = g->count;
	b->size = g->size;
	b->group = group;
	b->mem = mmap(NULL, (size_t)b->count * b->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b->borrowed = calloc(b->count, sizeof(*b->borrowed));
	if (b->mem == MAP_FAILED)
		b->mem = NULL;
	if (!b->mem || !b->borrowed) {
		tbufs_destroy(b);
		return -ENOMEM;
	}
	if (pool->be == &ioli_uring_backend && iol_has(IOL_FEAT_URING_PBUF_RING) &&
	    iol_has(IOL_FEAT_URING_MULTISHOT_RECV) && ioli_ring_register_bufs(t, b) == 0) {
		b->kernel = true;
	} else {
		b->free = malloc(b->count * sizeof(*b->free));
		if (!b->free) {
			tbufs_destroy(b);
			return -ENOMEM;
		}
		for (unsigned i = 0; i < b->count; i++)
			b->free[i] = (uint16_t)(b->count - 1 - i);
		b->nfree = b->count;
	}
	atomic_store_explicit(&t->bufs[group], b, memory_order_release);
	*out = b;
	return 0;
}

int ioli_tbufs_take(struct ioli_tbufs *b)
{
	return b->nfree ? b->free[--b->nfree] : -1;
}

void ioli_tbufs_put(struct ioli_thread *t, struct ioli_tbufs *b, unsigned bid)
{
	if (b->kernel) {
		ioli_ring_put_buf(t, b, bid);
		return;
	}
	b->free[b->nfree++] = (uint16_t)bid;
}

unsigned ioli_tbufs_lend(struct ioli_thread *t, struct ioli_tbufs *b, unsigned bid)
{
	atomic_store_explicit(&b->borrowed[bid], 1, memory_order_relaxed);
	return IOLI_BUF_FLAGS(b->group, t->index, bid);
}

void ioli_tbufs_free_all(struct ioli_thread *t)
{
	for (unsigned g = 0; g < IOL_POOL_MAX_GROUPS; g++) {
		struct ioli_tbufs *b = atomic_load(&t->bufs[g]);

		if (b)
			tbufs_destroy(b);
		atomic_store(&t->bufs[g], NULL);
	}
}

/* The buffer flags name, or NULL. */
static struct ioli_tbufs *lookup(iol_pool *pool, unsigned flags, unsigned *bid)
{
	unsigned g = IOLI_BUF_GROUP(flags), ti = IOLI_BUF_THREAD(flags);
	struct ioli_tbufs *b;

	if (!pool || !(flags & IOL_CQE_BUFFER) || ti >= pool->nthreads ||
	    g >= atomic_load_explicit(&pool->ngroups, memory_order_acquire))
		return NULL;
	b = atomic_load_explicit(&pool->threads[ti].bufs[g], memory_order_acquire);
	if (!b || IOLI_BUF_BID(flags) >= b->count)
		return NULL;
	*bid = IOLI_BUF_BID(flags);
	return b;
}

void *iol_pool_buffer(iol_pool *pool, unsigned flags)
{
	unsigned bid;
	struct ioli_tbufs *b;

	if (pool && ioli_pool_forked(pool))
		return NULL;
	b = lookup(pool, flags, &bid);
	return b ? b->mem + (size_t)bid * b->size : NULL;
}

int iol_pool_buffer_return(iol_pool *pool, unsigned flags)
{
	unsigned bid;
	struct ioli_tbufs *b;
	struct ioli_thread *t;
	struct ioli_bufret_msg *m;
	int r;

	if (pool && ioli_pool_forked(pool))
		return -EBADF;
	b = lookup(pool, flags, &bid);
	if (!b)
		return -EINVAL;
	if (!atomic_exchange_explicit(&b->borrowed[bid], 0, memory_order_relaxed))
		return -EALREADY;
	t = &pool->threads[IOLI_BUF_THREAD(flags)];
	if (ioli_self == t) {
		ioli_tbufs_put(t, b, bid);
		return 0;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		atomic_store(&b->borrowed[bid], 1);
		return -ENOMEM;
	}
	m->msg.type = IOLI_MSG_BUFRET;
	m->group = b->group;
	m->bid = bid;
	r = ioli_thread_post(t, &m->msg);
	if (r < 0)
		free(m);
	return r;
}

void ioli_tbufs_return_msg(struct ioli_thread *t, struct ioli_msg *m)
{
	struct ioli_bufret_msg *rm = (struct ioli_bufret_msg *)m;
	struct ioli_tbufs *b = atomic_load(&t->bufs[rm->group]);

	if (b)
		ioli_tbufs_put(t, b, rm->bid);
	free(rm);
}
