/* SPDX-License-Identifier: MIT */
/*
 * A lock-free multi-producer, single-consumer message queue.
 *
 * Producers push onto a Treiber stack with one compare-and-swap; the
 * consumer takes the whole stack with one exchange and reverses it, so
 * messages come out in the order they were pushed (per producer) and there
 * is no ABA problem (the consumer never pops single nodes).  Closing swaps
 * in a sentinel that makes later pushes fail.
 */
#ifndef IOLI_MPSC_H
#define IOLI_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ioli_msg {
	struct ioli_msg *next;
	unsigned type; /* enum ioli_msg_type */
};

struct ioli_mpsc {
	_Atomic(struct ioli_msg *) head;
};

#define IOLI_MPSC_CLOSED ((struct ioli_msg *)(uintptr_t)1)

/* Push m.  Returns 1 when the queue was empty (the consumer may need a
 * wakeup), 0 when it was not, -1 when the queue is closed (m not queued). */
static inline int ioli_mpsc_push(struct ioli_mpsc *q, struct ioli_msg *m)
{
	struct ioli_msg *old = atomic_load_explicit(&q->head, memory_order_relaxed);

	do {
		if (old == IOLI_MPSC_CLOSED)
			return -1;
		m->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&q->head, &old, m, memory_order_release,
							memory_order_relaxed));
	return old == NULL;
}

static inline struct ioli_msg *ioli_mpsc_reverse(struct ioli_msg *m)
{
	struct ioli_msg *out = NULL;

	while (m && m != IOLI_MPSC_CLOSED) {
		struct ioli_msg *next = m->next;

		m->next = out;
		out = m;
		m = next;
	}
	return out;
}

/* Take every queued message, oldest first (consumer only). */
static inline struct ioli_msg *ioli_mpsc_take(struct ioli_mpsc *q)
{
	if (!atomic_load_explicit(&q->head, memory_order_relaxed))
		return NULL;
	return ioli_mpsc_reverse(atomic_exchange_explicit(&q->head, NULL, memory_order_acquire));
}

/* Close the queue and take what was in it (consumer only). */
static inline struct ioli_msg *ioli_mpsc_close(struct ioli_mpsc *q)
{
	return ioli_mpsc_reverse(
	    atomic_exchange_explicit(&q->head, IOLI_MPSC_CLOSED, memory_order_acquire));
}

static inline bool ioli_mpsc_empty(struct ioli_mpsc *q)
{
	struct ioli_msg *h = atomic_load_explicit(&q->head, memory_order_relaxed);

	return h == NULL || h == IOLI_MPSC_CLOSED;
}

#endif /* IOLI_MPSC_H */
