/* SPDX-License-Identifier: MIT */
/*
 * The futex-wait fallback: helper threads blocked in futex_waitv(2).
 *
 * Where io_uring cannot wait on a futex (the epoll backend, kernels before
 * 6.7, IOLAYER_DISABLE), a futex-wait operation is parked with a helper
 * thread of its pool.  Each helper waits in one futex_waitv() over the words
 * of up to 127 pending operations plus its own control word, which the
 * pool bumps and wakes to add or remove an operation.  When futex_waitv()
 * returns (a wake, a word that differs, a deadline, the control word) the
 * helper fires every operation whose word was woken or differs now, or whose
 * deadline passed, and posts it to its pool thread's inbox, where the
 * callback runs.  A wake that lands while the helper is between two waits
 * is not lost when it changed a word: the next futex_waitv() sees the new
 * value and returns at once.  More helpers start when one is full.
 *
 * Lock: one mutex per pool (hs->lock) guards every helper's list; it is
 * never held across a system call.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/compat.h"
#include "uring/pool_internal.h"

#define HELPER_WORDS (FUTEX_WAITV_MAX - 1) /* one is the control word */

struct helper {
	struct ioli_futex_helpers *hs;
	pthread_t tid;
	uint32_t ctl; /* control futex word, private */
	unsigned nops, nwords;
	struct ioli_op *ops[HELPER_WORDS];
};

struct ioli_futex_helpers {
	pthread_mutex_t lock;
	struct helper **h;
	unsigned nh;
	bool stop;
};

static long futex_waitv(struct futex_waitv *v, unsigned n, const struct timespec *abs)
{
	return syscall(SYS_futex_waitv, v, n, 0, abs, CLOCK_MONOTONIC);
}

static void wake_ctl(struct helper *h)
{
	syscall(SYS_futex, &h->ctl, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static unsigned word_flags(const struct ioli_op *op)
{
	return FUTEX2_SIZE_U32 | (op->u.futex.shared ? 0 : FUTEX2_PRIVATE);
}

int ioli_futex_first_changed(const struct ioli_op *op)
{
	for (unsigned i = 0; i < op->u.futex.n; i++)
		if (__atomic_load_n(op->u.futex.v[i].word, __ATOMIC_ACQUIRE) !=
		    op->u.futex.v[i].expected)
			return (int)i;
	return -1;
}

int ioli_futex_fired(struct ioli_op *op, int i)
{
	int r;

	if (!op->u.futex.try_fn)
		return i;
	r = op->u.futex.try_fn(op->arg, (unsigned)i, op->u.futex.v, op->u.futex.n);
	if (r == -EAGAIN && (op->flags & IOLI_F_CANCELED))
		return op->cancel_res;
	return r;
}

void ioli_futex_done(struct ioli_thread *t, struct ioli_op *op)
{
	int r = op->res;

	if (r >= 0) {
		r = ioli_futex_fired(op, r);
		if (r == -EAGAIN) {
			r = ioli_futex_helpers_add(t->pool, op);
			if (r == 0)
				return; /* waiting again, same id */
		}
	}
	ioli_op_deliver(t, op, r, 0);
}

/* Whether the kernel can read op's words (a futex_waitv that times out at
 * once reads them all first). */
static bool words_readable(const struct ioli_op *op)
{
	struct futex_waitv v[IOLI_FUTEX_MAX_WORDS];
	struct timespec past = {0, 0};
	long r;

	memset(v, 0, sizeof(v));
	for (unsigned i = 0; i < op->u.futex.n; i++) {
		v[i].val = op->u.futex.v[i].expected;
		v[i].uaddr = (uint64_t)(uintptr_t)op->u.futex.v[i].word;
		v[i].flags = word_flags(op);
	}
	r = futex_waitv(v, op->u.futex.n, &past);
	return !(r < 0 && errno == EFAULT);
}

static void remove_at(struct helper *h, unsigned i)
{
	h->nwords -= h->ops[i]->u.futex.n;
	h->ops[i] = h->ops[--h->nops];
}

static void *helper_main(void *p)
{
	struct helper *h = p;
	struct ioli_futex_helpers *hs = h->hs;
	struct futex_waitv v[FUTEX_WAITV_MAX];
	struct ioli_op *owner[FUTEX_WAITV_MAX];
	unsigned wordi[FUTEX_WAITV_MAX];

	pthread_mutex_lock(&hs->lock);
	while (!hs->stop) {
		struct ioli_op *fired = NULL;
		int64_t deadline = 0, now;
		struct timespec ts;
		unsigned n = 0;
		long r;

		memset(v, 0, sizeof(v));
		for (unsigned i = 0; i < h->nops; i++) {
			struct ioli_op *op = h->ops[i];

			for (unsigned j = 0; j < op->u.futex.n; j++, n++) {
				v[n].val = op->u.futex.v[j].expected;
				v[n].uaddr = (uint64_t)(uintptr_t)op->u.futex.v[j].word;
				v[n].flags = word_flags(op);
				owner[n] = op;
				wordi[n] = j;
			}
			/* op->deadline (0: none) is fixed at submission;
			 * op->flags belongs to the owner thread. */
			if (op->deadline && (!deadline || op->deadline < deadline))
				deadline = op->deadline;
		}
		v[n].val = h->ctl;
		v[n].uaddr = (uint64_t)(uintptr_t)&h->ctl;
		v[n].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
		owner[n] = NULL;
		n++;
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		pthread_mutex_unlock(&hs->lock);

		r = futex_waitv(v, n, deadline ? &ts : NULL);
		if (r < 0)
			r = -errno;

		pthread_mutex_lock(&hs->lock);
		now = ioli_now_ns();
		for (unsigned i = 0; i < h->nops;) {
			struct ioli_op *op = h->ops[i];
			int res = -1;

			if (r == -EFAULT && !words_readable(op))
				res = -EFAULT;
			else if (r >= 0 && (unsigned)r < n && owner[r] == op)
				res = (int)wordi[r]; /* woken */
			else
				res = ioli_futex_first_changed(op);
			if (res < 0 && res != -EFAULT && op->deadline && now >= op->deadline)
				res = -ETIMEDOUT;
			if (res == -1) {
				i++;
				continue;
			}
			op->res = res;
			op->dflags = 0;
			remove_at(h, i);
			op->rnext = fired;
			fired = op;
		}
		if (fired) {
			/* Post outside the lock: it may write an eventfd. */
			pthread_mutex_unlock(&hs->lock);
			while (fired) {
				struct ioli_op *next = fired->rnext;

				ioli_op_post_done(fired);
				fired = next;
			}
			pthread_mutex_lock(&hs->lock);
		}
	}
	pthread_mutex_unlock(&hs->lock);
	return NULL;
}

static struct ioli_futex_helpers *helpers(iol_pool *pool)
{
	struct ioli_futex_helpers *hs = atomic_load_explicit(&pool->fhelp, memory_order_acquire);

	if (hs)
		return hs;
	pthread_mutex_lock(&pool->lock);
	hs = atomic_load(&pool->fhelp);
	if (!hs) {
		hs = calloc(1, sizeof(*hs));
		if (hs) {
			pthread_mutex_init(&hs->lock, NULL);
			atomic_store_explicit(&pool->fhelp, hs, memory_order_release);
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return hs;
}

static struct helper *helper_new(struct ioli_futex_helpers *hs)
{
	struct helper **grown = realloc(hs->h, (hs->nh + 1) * sizeof(*grown));
	struct helper *h;

	if (!grown)
		return NULL;
	hs->h = grown;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->hs = hs;
	if (pthread_create(&h->tid, NULL, helper_main, h) != 0) {
		free(h);
		return NULL;
	}
	hs->h[hs->nh++] = h;
	return h;
}

int ioli_futex_helpers_add(iol_pool *pool, struct ioli_op *op)
{
	struct ioli_futex_helpers *hs = helpers(pool);
	struct helper *h = NULL;

	if (!hs)
		return -ENOMEM;
	pthread_mutex_lock(&hs->lock);
	for (unsigned i = 0; i < hs->nh && !h; i++)
		if (hs->h[i]->nwords + op->u.futex.n <= HELPER_WORDS)
			h = hs->h[i];
	if (!h)
		h = helper_new(hs);
	if (!h) {
		pthread_mutex_unlock(&hs->lock);
		return -EAGAIN;
	}
	h->ops[h->nops++] = op;
	h->nwords += op->u.futex.n;
	op->u.futex.helper = h;
	op->where = IOLI_W_FUTEX;
	__atomic_add_fetch(&h->ctl, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&hs->lock);
	wake_ctl(h);
	return 0;
}

bool ioli_futex_helpers_cancel(iol_pool *pool, struct ioli_op *op)
{
	struct ioli_futex_helpers *hs = atomic_load(&pool->fhelp);
	struct helper *h = op->u.futex.helper;
	bool found = false;

	if (!hs || !h)
		return false;
	pthread_mutex_lock(&hs->lock);
	for (unsigned i = 0; i < h->nops; i++) {
		if (h->ops[i] == op) {
			remove_at(h, i);
			found = true;
			break;
		}
	}
	if (found)
		__atomic_add_fetch(&h->ctl, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&hs->lock);
	if (found)
		wake_ctl(h);
	return found;
}

void ioli_futex_helpers_stop(iol_pool *pool)
{
	struct ioli_futex_helpers *hs = atomic_load(&pool->fhelp);

	if (!hs)
		return;
	pthread_mutex_lock(&hs->lock);
	hs->stop = true;
	for (unsigned i = 0; i < hs->nh; i++)
		__atomic_add_fetch(&hs->h[i]->ctl, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&hs->lock);
	for (unsigned i = 0; i < hs->nh; i++) {
		wake_ctl(hs->h[i]);
		pthread_join(hs->h[i]->tid, NULL);
		free(hs->h[i]);
	}
	free(hs->h);
	pthread_mutex_destroy(&hs->lock);
	free(hs);
	atomic_store(&pool->fhelp, NULL);
}
