/* SPDX-License-Identifier: MIT */
/*
 * A binary min-heap of operations ordered by op->deadline: the epoll
 * backend's timers and deadlines.  op->b.ep.heap_idx is the operation's
 * position plus one (0: not in the heap), so removal is O(log n).
 */
#include <errno.h>
#include <stdlib.h>

#include "uring/pool_internal.h"

static void place(struct ioli_thread *t, unsigned i, struct ioli_op *op)
{
	t->heap[i] = op;
	op->b.ep.heap_idx = i + 1;
}

static void sift_up(struct ioli_thread *t, unsigned i)
{
	struct ioli_op *op = t->heap[i];

	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (t->heap[parent]->deadline <= op->deadline)
			break;
		place(t, i, t->heap[parent]);
		i = parent;
	}
	place(t, i, op);
}

static void sift_down(struct ioli_thread *t, unsigned i)
{
	struct ioli_op *op = t->heap[i];

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= t->heap_len)
			break;
		if (c + 1 < t->heap_len && t->heap[c + 1]->deadline < t->heap[c]->deadline)
			c++;
		if (op->deadline <= t->heap[c]->deadline)
			break;
		place(t, i, t->heap[c]);
		i = c;
	}
	place(t, i, op);
}

int ioli_heap_push(struct ioli_thread *t, struct ioli_op *op)
{
	if (t->heap_len == t->heap_cap) {
		unsigned cap = t->heap_cap ? 2 * t->heap_cap : 64;
		struct ioli_op **h = realloc(t->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		t->heap = h;
		t->heap_cap = cap;
	}
	t->heap[t->heap_len++] = op;
	sift_up(t, t->heap_len - 1);
	return 0;
}

void ioli_heap_remove(struct ioli_thread *t, struct ioli_op *op)
{
	unsigned i = op->b.ep.heap_idx;

	if (!i)
		return;
	i--;
	op->b.ep.heap_idx = 0;
	t->heap_len--;
	if (i == t->heap_len)
		return;
	place(t, i, t->heap[t->heap_len]);
	if (i > 0 && t->heap[(i - 1) / 2]->deadline > t->heap[i]->deadline)
		sift_up(t, i);
	else
		sift_down(t, i);
}

struct ioli_op *ioli_heap_top(struct ioli_thread *t)
{
	return t->heap_len ? t->heap[0] : NULL;
}

void ioli_heap_free(struct ioli_thread *t)
{
	free(t->heap);
	t->heap = NULL;
	t->heap_len = t->heap_cap = 0;
}
