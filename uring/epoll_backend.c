/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend: one epoll instance per pool thread, edge-triggered.
 *
 * An operation on a descriptor joins its record's reader or writer queue
 * and is tried at once (from the loop, never inside the submitting call):
 * the system call first, non-blocking (MSG_DONTWAIT, RWF_NOWAIT); only
 * when it would block is the descriptor registered (or its registration
 * widened) and the operation left to wait for the next edge.  Readiness
 * is remembered per record (set by events, cleared by EAGAIN), so queued
 * operations are not tried again before an edge says they may succeed.
 * Registration is kept while the record lives, so a socket with a
 * multishot recv costs one epoll_ctl in its life.
 *
 * Regular files cannot be polled (epoll_ctl says EPERM): their reads and
 * writes that would block, fsync, openat and statx go to the file workers.
 * Timers and deadlines are a heap with one timerfd armed for its top.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "uring/epoll.h"

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

static void rec_reset(struct ioli_fdrec *rec)
{
	rec->reg = 0;
	rec->known = false;
	rec->rd = rec->wr = true; /* unknown: try */
	rec->stream = -1;
}

static struct ioli_fdrec *rec_get(struct ioli_thread *t, int fd)
{
	struct ioli_ep *ep = ioli_ep(t);
	struct ioli_fdrec *rec;

	if ((unsigned)fd >= ep->nrecs) {
		unsigned n = ep->nrecs ? ep->nrecs : 64;
		struct ioli_fdrec **r;

		while (n <= (unsigned)fd)
			n *= 2;
		r = realloc(ep->recs, n * sizeof(*r));
		if (!r)
			return NULL;
		memset(r + ep->nrecs, 0, (n - ep->nrecs) * sizeof(*r));
		ep->recs = r;
		ep->nrecs = n;
	}
	rec = ep->recs[fd];
	if (!rec) {
		rec = calloc(1, sizeof(*rec));
		if (!rec)
			return NULL;
		rec->fd = fd;
		rec_reset(rec);
		ep->recs[fd] = rec;
	}
	return rec;
}

static void schedule(struct ioli_thread *t, struct ioli_fdrec *rec)
{
	struct ioli_ep *ep = ioli_ep(t);

	if (rec->sched)
		return;
	rec->sched = true;
	rec->snext = NULL;
	if (ep->sched_tail)
		ep->sched_tail->snext = rec;
	else
		ep->sched = rec;
	ep->sched_tail = rec;
}

static void enqueue(struct ioli_thread *t, struct ioli_fdrec *rec, struct ioli_op *op)
{
	struct ioli_op **head = ioli_ep_is_reader(op) ? &rec->rq : &rec->wq;
	struct ioli_op **tail = ioli_ep_is_reader(op) ? &rec->rq_tail : &rec->wq_tail;

	op->where = IOLI_W_FDWAIT;
	op->b.ep.rec = rec;
	op->b.ep.wnext = NULL;
	op->b.ep.wprev = *tail;
	if (*tail)
		(*tail)->b.ep.wnext = op;
	else
		*head = op;
	*tail = op;
	rec->nops++;
	if (ioli_ep_is_reader(op) ? rec->rd : rec->wr)
		schedule(t, rec);
}

void ioli_ep_dequeue(struct ioli_thread *t, struct ioli_op *op)
{
	struct ioli_fdrec *rec = op->b.ep.rec;
	struct ioli_op **head = ioli_ep_is_reader(op) ? &rec->rq : &rec->wq;
	struct ioli_op **tail = ioli_ep_is_reader(op) ? &rec->rq_tail : &rec->wq_tail;

	if (op->b.ep.wprev)
		op->b.ep.wprev->b.ep.wnext = op->b.ep.wnext;
	else
		*head = op->b.ep.wnext;
	if (op->b.ep.wnext)
		op->b.ep.wnext->b.ep.wprev = op->b.ep.wprev;
	else
		*tail = op->b.ep.wprev;
	op->b.ep.rec = NULL;
	op->b.ep.wnext = op->b.ep.wprev = NULL;
	if (--rec->nops == 0)
		rec_reset(rec); /* the descriptor may be closed and reused now */
}

void ioli_ep_done(struct ioli_thread *t, struct ioli_op *op, int res, unsigned flags)
{
	ioli_ep_dequeue(t, op);
	ioli_op_deliver(t, op, res, flags);
}

void ioli_ep_to_worker(struct ioli_thread *t, struct ioli_op *op)
{
	if (op->where == IOLI_W_FDWAIT)
		ioli_ep_dequeue(t, op);
	IOLI_STAT_INC(t, worker_ops);
	ioli_workers_queue(t->pool, op);
}

/* Fail (or send to the workers) every operation of a record that cannot
 * be registered. */
static void rec_unpollable(struct ioli_thread *t, struct ioli_fdrec *rec, int err)
{
	struct ioli_op *op;

	while ((op = rec->rq ? rec->rq : rec->wq) != NULL) {
		bool file = op->kind == IOLI_OP_READ || op->kind == IOLI_OP_WRITE ||
			    op->kind == IOLI_OP_READV || op->kind == IOLI_OP_WRITEV;

		if (err == EPERM && file) {
			ioli_ep_to_worker(t, op);
		} else {
			ioli_ep_dequeue(t, op);
			ioli_op_finish(t, op, -err, 0);
		}
	}
}

/* Register what the waiting operations need. */
static void rec_arm(struct ioli_thread *t, struct ioli_fdrec *rec)
{
	struct ioli_ep *ep = ioli_ep(t);
	uint32_t want = 0;
	struct epoll_event ev;
	int r;

	if (rec->rq && !rec->rd)
		want |= EPOLLIN;
	if (rec->wq && !rec->wr)
		want |= EPOLLOUT;
	if (!want || (rec->known && (rec->reg & want) == want))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLET | EPOLLIN | EPOLLRDHUP | ((rec->reg | want) & EPOLLOUT);
	ev.data.fd = rec->fd;
	/* Unknown: a registration may remain from an earlier record. */
	IOLI_STAT_INC(t, epoll_ctl);
	r = epoll_ctl(ep->epfd, EPOLL_CTL_MOD, rec->fd, &ev);
	if (r < 0 && errno == ENOENT) {
		IOLI_STAT_INC(t, epoll_ctl);
		r = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, rec->fd, &ev);
	}
	if (r < 0) {
		rec_unpollable(t, rec, errno);
		return;
	}
	rec->known = true;
	rec->reg = ev.events & (EPOLLIN | EPOLLOUT);
}

/* Try the queued operations of a record while it is ready; a budget of
 * callbacks keeps one busy descriptor from starving the others. */
static void rec_process(struct ioli_thread *t, struct ioli_fdrec *rec)
{
	unsigned budget = 64;

	rec->sched = false;
	while (budget && rec->rd && rec->rq) {
		enum ioli_ep_try r = ioli_ep_try(t, rec, rec->rq, &budget);

		if (r == IOLI_EP_AGAIN)
			rec->rd = false;
		else if (r == IOLI_EP_GONE)
			budget--;
		else
			break;
	}
	while (budget && rec->wr && rec->wq) {
		enum ioli_ep_try r = ioli_ep_try(t, rec, rec->wq, &budget);

		if (r == IOLI_EP_AGAIN)
			rec->wr = false;
		else if (r == IOLI_EP_GONE)
			budget--;
		else
			break;
	}
	if ((rec->rd && rec->rq) || (rec->wr && rec->wq))
		schedule(t, rec); /* out of budget: the next round goes on */
	rec_arm(t, rec);
}

/* One round over the records scheduled so far. */
static bool process_scheduled(struct ioli_thread *t)
{
	struct ioli_ep *ep = ioli_ep(t);
	struct ioli_fdrec *rec = ep->sched;

	ep->sched = ep->sched_tail = NULL;
	if (!rec)
		return false;
	while (rec) {
		struct ioli_fdrec *next = rec->snext;

		rec_process(t, rec);
		rec = next;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */
/* ------------------------------------------------------------------ */

static void run_timers(struct ioli_thread *t)
{
	int64_t now = ioli_now_ns();
	struct ioli_op *op;

	while ((op = ioli_heap_top(t)) && op->deadline <= now) {
		ioli_heap_remove(t, op);
		if (op->kind != IOLI_OP_TIMER || op->where != IOLI_W_TIMER) {
			ioli_op_cancel_local(t, op, -ETIMEDOUT); /* a deadline */
			continue;
		}
		if (op->u.timer.interval <= 0) {
			ioli_op_deliver(t, op, 0, 0);
			continue;
		}
		ioli_op_deliver(t, op, 0, IOL_CQE_MORE);
		if (op->where == IOLI_W_TIMER) { /* not cancelled by its callback */
			op->deadline = ioli_ns_add_sat(op->deadline, op->u.timer.interval);
			if (ioli_heap_push(t, op) < 0)
				ioli_op_finish(t, op, -ENOMEM, 0);
		}
	}
}

static void arm_timerfd(struct ioli_thread *t)
{
	struct ioli_ep *ep = ioli_ep(t);
	struct ioli_op *top = ioli_heap_top(t);
	int64_t when = top ? top->deadline : 0;
	struct itimerspec its;

	if (when == ep->tfd_when)
		return;
	memset(&its, 0, sizeof(its));
	if (when) {
		/* 0 would disarm: an expiry in the past still needs a tick. */
		its.it_value.tv_sec = when / 1000000000;
		its.it_value.tv_nsec = when % 1000000000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(ep->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	ep->tfd_when = when;
}

/* ------------------------------------------------------------------ */
/* The backend                                                         */
/* ------------------------------------------------------------------ */

static int ep_add_internal(struct ioli_ep *ep, int fd)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	return epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void ep_thread_fini(struct ioli_thread *t)
{
	struct ioli_ep *ep = ioli_ep(t);

	if (!ep)
		return;
	for (unsigned i = 0; i < ep->nrecs; i++)
		free(ep->recs[i]);
	free(ep->recs);
	free(ep->evs);
	if (ep->tfd >= 0)
		close(ep->tfd);
	if (ep->epfd >= 0)
		close(ep->epfd);
	free(ep);
	t->be = NULL;
}

static int ep_thread_init(struct ioli_thread *t)
{
	struct ioli_ep *ep = calloc(1, sizeof(*ep));
	int r = 0;

	if (!ep)
		return -ENOMEM;
	t->be = ep;
	ep->maxev = t->pool->opts.ring_entries;
	ep->evs = calloc(ep->maxev, sizeof(*ep->evs));
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	ep->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!ep->evs)
		r = -ENOMEM;
	else if (ep->epfd < 0 || ep->tfd < 0)
		r = -errno;
	if (!r)
		r = ep_add_internal(ep, t->wake_fd);
	if (!r)
		r = ep_add_internal(ep, ep->tfd);
	if (r)
		ep_thread_fini(t);
	return r;
}

static void ep_thread_run(struct ioli_thread *t)
{
	struct ioli_ep *ep = ioli_ep(t);

	for (;;) {
		bool busy;
		int n;

		ioli_thread_loop_begin(t);
		process_scheduled(t);
		run_timers(t);
		ioli_thread_run_ready(t);
		if (t->stopping && ioli_thread_try_close(t))
			break;
		busy = ep->sched || t->ready_head || !ioli_mpsc_empty(&t->inbox);
		arm_timerfd(t);
		n = epoll_wait(ep->epfd, ep->evs, (int)ep->maxev, busy ? 0 : -1);
		for (int i = 0; i < n; i++) {
			struct epoll_event *ev = &ep->evs[i];
			int fd = ev->data.fd;
			struct ioli_fdrec *rec;
			uint64_t v;

			if (fd == t->wake_fd || fd == ep->tfd) {
				if (read(fd, &v, sizeof(v)) < 0 && fd == ep->tfd)
					continue;
				if (fd == ep->tfd)
					ep->tfd_when = 0; /* fired: arm again for the new top */
				continue;
			}
			if ((unsigned)fd >= ep->nrecs || !(rec = ep->recs[fd]) || !rec->nops)
				continue; /* a registration outliving its operations */
			if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				rec->rd = true;
			if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
				rec->wr = true;
			schedule(t, rec);
		}
	}
}

/* The epoll backend needs non-blocking listening and connecting sockets. */
static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int fd_of(const struct ioli_op *op)
{
	switch (op->kind) {
	case IOLI_OP_READV:
	case IOLI_OP_WRITEV:
		return op->u.vec.fd;
	case IOLI_OP_ACCEPT:
		return op->u.accept.fd;
	case IOLI_OP_CONNECT:
		return op->u.conn.fd;
	case IOLI_OP_RECV_MULTI:
		return op->u.rmulti.fd;
	default:
		return op->u.io.fd;
	}
}

static void ep_start(struct ioli_thread *t, struct ioli_op *op)
{
	struct ioli_fdrec *rec = NULL;
	int r = 0;

	switch (op->kind) {
	case IOLI_OP_CLOSE:
		r = close(op->u.io.fd) < 0 ? -errno : 0;
		ioli_op_finish(t, op, r, 0);
		return;
	case IOLI_OP_SHUTDOWN:
		r = shutdown(op->u.shut.fd, op->u.shut.how) < 0 ? -errno : 0;
		ioli_op_finish(t, op, r, 0);
		return;
	case IOLI_OP_FSYNC:
	case IOLI_OP_OPENAT:
	case IOLI_OP_STATX:
		if ((op->flags & IOLI_F_DEADLINE) && ioli_heap_push(t, op) < 0) {
			ioli_op_finish(t, op, -ENOMEM, 0);
			return;
		}
		ioli_ep_to_worker(t, op);
		return;
	case IOLI_OP_TIMER:
		op->deadline = op->u.timer.next;
		op->where = IOLI_W_TIMER;
		if (ioli_heap_push(t, op) < 0)
			ioli_op_finish(t, op, -ENOMEM, 0);
		return;
	case IOLI_OP_FUTEX: /* the helper keeps its deadline */
		IOLI_STAT_INC(t, futex_fallback);
		r = ioli_futex_helpers_add(t->pool, op);
		if (r < 0)
			ioli_op_finish(t, op, r, 0);
		return;
	case IOLI_OP_ACCEPT:
	case IOLI_OP_CONNECT:
		r = set_nonblock(fd_of(op));
		break;
	default:
		break;
	}
	if (r == 0 && fd_of(op) < 0)
		r = -EBADF;
	if (r == 0 && !(rec = rec_get(t, fd_of(op))))
		r = -ENOMEM;
	if (r == 0 && (op->flags & IOLI_F_DEADLINE))
		r = ioli_heap_push(t, op);
	if (r < 0) {
		ioli_op_finish(t, op, r, 0);
		return;
	}
	enqueue(t, rec, op);
	if (!rec->sched)
		rec_arm(t, rec); /* not ready: make sure an edge will come */
}

static void ep_cancel(struct ioli_thread *t, struct ioli_op *op)
{
	switch (op->where) {
	case IOLI_W_FDWAIT:
		/* MSG_WAITALL cut short: the bytes so far, as on io_uring. */
		ioli_ep_dequeue(t, op);
		ioli_op_finish(t, op, op->done ? (int)op->done : op->cancel_res, 0);
		break;
	case IOLI_W_WORKER:
		if (ioli_workers_cancel(t->pool, op))
			ioli_op_finish(t, op, op->cancel_res, 0);
		break;
	case IOLI_W_TIMER:
		ioli_heap_remove(t, op);
		ioli_op_finish(t, op, op->cancel_res, 0);
		break;
	case IOLI_W_FUTEX:
		if (ioli_futex_helpers_cancel(t->pool, op))
			ioli_op_finish(t, op, op->cancel_res, 0);
		break;
	default:
		break;
	}
}

const struct ioli_backend ioli_epoll_backend = {
    .name = "epoll",
    .thread_init = ep_thread_init,
    .thread_run = ep_thread_run,
    .thread_fini = ep_thread_fini,
    .start = ep_start,
    .cancel = ep_cancel,
};
