/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend's shared pieces.
 *
 * Each pool thread has its own epoll instance and a record per descriptor
 * it has operations on: the operations waiting to read and to write (FIFO),
 * whether reading or writing may be tried now, and what is registered.
 * Registration is edge-triggered.  A record lives while operations are
 * pending on its descriptor; when the last one ends it forgets everything
 * it knew (readiness, registration), because the program may close the
 * descriptor and get the same number for another file: nothing cached
 * outlives the operations that the rules say keep the descriptor open.
 */
#ifndef IOLI_EPOLL_H
#define IOLI_EPOLL_H

#include <sys/epoll.h>

#include "uring/pool_internal.h"

struct ioli_fdrec {
	int fd;
	uint32_t reg;		      /* EPOLLIN/EPOLLOUT registered by this record */
	bool known;		      /* reg is what the kernel has */
	bool rd, wr;		      /* reading / writing may succeed: try it */
	bool sched;		      /* on the thread's schedule list */
	int8_t stream;		      /* SOCK_STREAM: 1, other: 0, unknown: -1 */
	struct ioli_op *rq, *rq_tail; /* readers */
	struct ioli_op *wq, *wq_tail; /* writers */
	unsigned nops;
	struct ioli_fdrec *snext;
};

struct ioli_ep {
	int epfd;
	int tfd; /* timerfd for the heap's earliest expiry */
	int64_t tfd_when;
	struct ioli_fdrec **recs; /* by descriptor number */
	unsigned nrecs;
	struct ioli_fdrec *sched, *sched_tail;
	struct epoll_event *evs;
	unsigned maxev;
};

static inline struct ioli_ep *ioli_ep(struct ioli_thread *t)
{
	return (struct ioli_ep *)t->be;
}

/* Results of trying an operation on readiness. */
enum ioli_ep_try {
	IOLI_EP_AGAIN, /* would block: wait for the next edge */
	IOLI_EP_GONE,  /* the operation left the queue (done, moved, cancelled) */
	IOLI_EP_YIELD, /* made progress, used its budget: try again later */
};

/* Whether op waits for reading (else writing) readiness. */
bool ioli_ep_is_reader(const struct ioli_op *op);
/* Try op (the head of its record's queue); *budget counts callbacks. */
enum ioli_ep_try ioli_ep_try(struct ioli_thread *t, struct ioli_fdrec *rec, struct ioli_op *op,
			     unsigned *budget);
/* Take op off its record's queue. */
void ioli_ep_dequeue(struct ioli_thread *t, struct ioli_op *op);
/* Hand op to the file workers (regular files cannot be polled). */
void ioli_ep_to_worker(struct ioli_thread *t, struct ioli_op *op);
/* op is done with res: off its queue, callback now. */
void ioli_ep_done(struct ioli_thread *t, struct ioli_op *op, int res, unsigned flags);

#endif /* IOLI_EPOLL_H */
