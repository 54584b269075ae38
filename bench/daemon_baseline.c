/* SPDX-License-Identifier: MIT */
/*
 * daemon_baseline: iolayer against the design it replaces, the handle
 * daemon of Mono's io-layer (mono_handle_d, seed 000): one server process
 * owns the objects and every operation is a request over a Unix socket.
 *
 * The daemon here is a fair, reasonably efficient rendition of that
 * design, not a straw man:
 *   - one process, one epoll loop (level-triggered) over the listening
 *     socket and the clients' SOCK_SEQPACKET connections: one recv per
 *     request, one send per response, requests served in arrival order;
 *   - requests New (create or open by name), Open (by name), Close, Signal
 *     and Wait, each answered with one response; a Wait that cannot be
 *     satisfied is queued on the object (FIFO) and answered when a Signal
 *     satisfies it, as mono_handle_d's clients waited on its answers;
 *   - the objects (mutex, event, semaphore with Win32 semantics), a
 *     chained name hash, the per-client reference counts (so a client's
 *     references are dropped when its socket closes, as mono_handle_d
 *     did) and the wait queues are all preallocated arrays: no allocation
 *     per request;
 *   - the client side is a blocking send + recv on its own connection.
 *
 * Scenarios, each the same sequence of operations through iolayer's table
 * and through the daemon, measured RUNS times alternately:
 *   1. create + close of a named event (goal: iolayer >= 50x faster);
 *   2. open of an existing name + close;
 *   3. uncontended mutex acquire + release;
 *   4. event signal/wait round trip between two processes: ping-pong on two
 *      auto-reset events (goal: iolayer >= 2x faster).
 * Ratios are daemon/iolayer (how many times faster iolayer is).
 *
 * Placement: BENCH_PIN=same (default: every process on CPU 0, as
 * sync_bench, so that the figures measure the code paths and not the
 * virtual machine's cross-CPU wake-ups), split (daemon on CPU 1, clients
 * on CPU 0) or none.
 *
 * usage: daemon_baseline [--quick]
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iolayer.h"
#include "bench/report.h"

#define RUNS 7

static void die(const char *what, int err)
{
	fprintf(stderr, "daemon_baseline: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static const char *pin_mode = "same";

/* role: 0 a client, 1 the daemon */
static void pin(int role)
{
	cpu_set_t set;
	int cpu = 0;

	if (strcmp(pin_mode, "none") == 0)
		return;
	if (strcmp(pin_mode, "split") == 0 && sysconf(_SC_NPROCESSORS_ONLN) > 1)
		cpu = role;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity", errno);
}

/* ---- the protocol ------------------------------------------------------------ */

enum d_op { D_NEW = 1, D_OPEN, D_CLOSE, D_SIGNAL, D_WAIT };
enum d_type { D_MUTEX = 1, D_EVENT, D_SEMAPHORE };

#define D_NAME_MAX 63

struct d_req {
	uint8_t op, type;
	uint8_t name_len;
	uint8_t flag; /* New: initial owner / manual reset */
	uint32_t handle;
	uint32_t a, b; /* New: event initial state; semaphore initial, max */
	char name[D_NAME_MAX + 1];
};

struct d_resp {
	int32_t result; /* >= 0, or a negative errno */
	uint32_t handle;
};

#define D_REQ_HDR offsetof(struct d_req, name)

/* ---- the daemon ------------------------------------------------------------------ */

#define D_MAX_OBJ     4096 /* power of two: the handle's index bits */
#define D_MAX_CLIENTS 32
#define D_NBUCKETS    8192
#define D_NONE	      UINT32_MAX

struct d_obj {
	uint8_t type;
	bool live;
	uint8_t name_len;
	bool manual, signaled;	       /* event */
	uint32_t gen;		       /* bumped when the slot is freed */
	uint32_t refs;		       /* over all clients */
	uint32_t next;		       /* hash chain, or the free list */
	uint32_t owner, recursion;     /* mutex: client index or D_NONE */
	uint32_t count, max;	       /* semaphore */
	uint32_t wait_head, wait_tail; /* FIFO of client indices */
	char name[D_NAME_MAX + 1];
};

struct d_client {
	int fd;			  /* -1: free */
	uint32_t wait_obj;	  /* the object it waits on, or D_NONE */
	uint32_t wait_next;	  /* next client in that object's queue */
	uint32_t refs[D_MAX_OBJ]; /* references this client holds, per object */
};

static struct d_obj *objs;
static struct d_client *clients;
static uint32_t buckets[D_NBUCKETS];
static uint32_t free_head;

static uint32_t d_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static uint32_t d_handle(uint32_t i)
{
	return (objs[i].gen << 12) | i;
}

/* The object of a handle the client holds, or D_NONE. */
static uint32_t d_obj_of(uint32_t c, uint32_t h)
{
	uint32_t i = h & (D_MAX_OBJ - 1);

	if (!objs[i].live || objs[i].gen != (h >> 12) || clients[c].refs[i] == 0)
		return D_NONE;
	return i;
}

static uint32_t d_find(const char *name, size_t n)
{
	for (uint32_t i = buckets[d_hash(name, n) % D_NBUCKETS]; i != D_NONE; i = objs[i].next)
		if (objs[i].name_len == n && memcmp(objs[i].name, name, n) == 0)
			return i;
	return D_NONE;
}

static void d_unhash(uint32_t i)
{
	uint32_t *link = &buckets[d_hash(objs[i].name, objs[i].name_len) % D_NBUCKETS];

	while (*link != i)
		link = &objs[*link].next;
	*link = objs[i].next;
}

static void d_respond(uint32_t c, int32_t result, uint32_t handle)
{
	struct d_resp r = {result, handle};

	if (clients[c].fd >= 0 && send(clients[c].fd, &r, sizeof(r), MSG_NOSIGNAL) < 0 &&
	    errno != EPIPE && errno != ECONNRESET)
		die("daemon send", errno);
}

/* Whether client c can acquire object i now; if so, acquire it. */
static bool d_try(uint32_t i, uint32_t c)
{
	struct d_obj *o = &objs[i];

	switch (o->type) {
	case D_MUTEX:
		if (o->owner == D_NONE || o->owner == c) {
			o->owner = c;
			o->recursion++;
			return true;
		}
		return false;
	case D_EVENT:
		if (!o->signaled)
			return false;
		if (!o->manual)
			o->signaled = false;
		return true;
	default:
		if (o->count == 0)
			return false;
		o->count--;
		return true;
	}
}

/* After a state change: answer the queued waits that can now be
 * satisfied, in order. */
static void d_wake(uint32_t i)
{
	struct d_obj *o = &objs[i];

	while (o->wait_head != D_NONE && d_try(i, o->wait_head)) {
		uint32_t c = o->wait_head;

		o->wait_head = clients[c].wait_next;
		if (o->wait_head == D_NONE)
			o->wait_tail = D_NONE;
		clients[c].wait_obj = D_NONE;
		d_respond(c, 0, 0);
	}
}

static void d_unref(uint32_t c, uint32_t i)
{
	struct d_obj *o = &objs[i];

	clients[c].refs[i]--;
	if (--o->refs > 0)
		return;
	if (o->name_len)
		d_unhash(i);
	o->live = false;
	o->gen = (o->gen + 1) & 0xfffff;
	o->next = free_head;
	free_head = i;
}

static int32_t d_new(uint32_t c, const struct d_req *q, uint32_t *handle)
{
	uint32_t i = D_NONE;

	if (q->name_len > D_NAME_MAX || q->type < D_MUTEX || q->type > D_SEMAPHORE)
		return -EINVAL;
	if (q->name_len)
		i = d_find(q->name, q->name_len);
	if (i != D_NONE && objs[i].type != q->type)
		return -EEXIST;
	if (i == D_NONE && q->op == D_OPEN)
		return -ENOENT;
	if (i == D_NONE) {
		struct d_obj *o;

		if (free_head == D_NONE)
			return -ENOSPC;
		i = free_head;
		o = &objs[i];
		free_head = o->next;
		*o = (struct d_obj){.type = q->type,
				    .live = true,
				    .name_len = q->name_len,
				    .gen = o->gen,
				    .next = D_NONE,
				    .owner = D_NONE,
				    .wait_head = D_NONE,
				    .wait_tail = D_NONE};
		memcpy(o->name, q->name, q->name_len);
		if (q->type == D_MUTEX && q->flag)
			o->owner = c, o->recursion = 1;
		if (q->type == D_EVENT)
			o->manual = q->flag, o->signaled = q->a;
		if (q->type == D_SEMAPHORE)
			o->count = q->a, o->max = q->b;
		if (q->name_len) {
			uint32_t *b = &buckets[d_hash(q->name, q->name_len) % D_NBUCKETS];

			o->next = *b;
			*b = i;
		}
	}
	objs[i].refs++;
	clients[c].refs[i]++;
	*handle = d_handle(i);
	return 0;
}

static void d_request(uint32_t c, const struct d_req *q)
{
	uint32_t handle = 0, i;
	int32_t r = 0;

	switch (q->op) {
	case D_NEW:
	case D_OPEN:
		r = d_new(c, q, &handle);
		break;
	case D_CLOSE:
		if ((i = d_obj_of(c, q->handle)) == D_NONE)
			r = -EBADF;
		else
			d_unref(c, i);
		break;
	case D_SIGNAL:
		if ((i = d_obj_of(c, q->handle)) == D_NONE) {
			r = -EBADF;
			break;
		}
		if (objs[i].type == D_MUTEX) {
			if (objs[i].owner != c) {
				r = -EPERM;
				break;
			}
			r = (int32_t)objs[i].recursion;
			if (--objs[i].recursion == 0)
				objs[i].owner = D_NONE;
		} else if (objs[i].type == D_EVENT) {
			r = objs[i].signaled;
			objs[i].signaled = true;
		} else {
			if (objs[i].count == objs[i].max) {
				r = -EOVERFLOW;
				break;
			}
			r = (int32_t)objs[i].count++;
		}
		d_wake(i);
		break;
	case D_WAIT:
		if ((i = d_obj_of(c, q->handle)) == D_NONE) {
			r = -EBADF;
			break;
		}
		if (d_try(i, c))
			break;
		/* Queue it; the answer comes when a Signal satisfies it. */
		clients[c].wait_obj = i;
		clients[c].wait_next = D_NONE;
		if (objs[i].wait_tail == D_NONE)
			objs[i].wait_head = c;
		else
			clients[objs[i].wait_tail].wait_next = c;
		objs[i].wait_tail = c;
		return;
	default:
		r = -EINVAL;
	}
	d_respond(c, r, handle);
}

/* A client's socket closed: drop it from a wait queue, release the mutexes
 * it owns (abandoned) and its references, as mono_handle_d did. */
static void d_disconnect(uint32_t c, int ep)
{
	struct d_client *cl = &clients[c];

	epoll_ctl(ep, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	cl->fd = -1;
	if (cl->wait_obj != D_NONE) {
		struct d_obj *o = &objs[cl->wait_obj];
		uint32_t *link = &o->wait_head, prev = D_NONE;

		while (*link != c)
			prev = *link, link = &clients[*link].wait_next;
		*link = cl->wait_next;
		if (o->wait_tail == c)
			o->wait_tail = prev;
		cl->wait_obj = D_NONE;
	}
	for (uint32_t i = 0; i < D_MAX_OBJ; i++) {
		if (objs[i].live && objs[i].type == D_MUTEX && objs[i].owner == c) {
			objs[i].owner = D_NONE;
			objs[i].recursion = 0;
			d_wake(i);
		}
		while (cl->refs[i])
			d_unref(c, i);
	}
}

static void daemon_main(int lfd)
{
	struct epoll_event ev[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	pin(1);
	objs = calloc(D_MAX_OBJ, sizeof(*objs));
	clients = calloc(D_MAX_CLIENTS, sizeof(*clients));
	if (ep < 0 || !objs || !clients)
		die("daemon setup", errno ? errno : ENOMEM);
	for (uint32_t i = 0; i < D_MAX_OBJ; i++)
		objs[i].next = i + 1 < D_MAX_OBJ ? i + 1 : D_NONE;
	free_head = 0;
	for (uint32_t i = 0; i < D_NBUCKETS; i++)
		buckets[i] = D_NONE;
	for (uint32_t c = 0; c < D_MAX_CLIENTS; c++)
		clients[c].fd = -1;
	ev[0] = (struct epoll_event){.events = EPOLLIN, .data.u32 = D_NONE};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev[0]) != 0)
		die("epoll_ctl", errno);
	for (;;) {
		int n = epoll_wait(ep, ev, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait", errno);
		for (int k = 0; k < n; k++) {
			uint32_t c = ev[k].data.u32;
			struct d_req q;
			ssize_t len;

			if (c == D_NONE) { /* a new client */
				int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				struct epoll_event e = {.events = EPOLLIN};

				if (fd < 0)
					continue;
				for (c = 0; c < D_MAX_CLIENTS && clients[c].fd >= 0; c++)
					;
				if (c == D_MAX_CLIENTS) {
					close(fd);
					continue;
				}
				clients[c].fd = fd;
				clients[c].wait_obj = D_NONE;
				e.data.u32 = c;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0)
					die("epoll_ctl", errno);
				continue;
			}
			if (clients[c].fd < 0)
				continue;
			len = recv(clients[c].fd, &q, sizeof(q), MSG_DONTWAIT);
			if (len < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (len <= 0) {
				d_disconnect(c, ep);
				continue;
			}
			if ((size_t)len < D_REQ_HDR || (size_t)len < D_REQ_HDR + q.name_len) {
				d_respond(c, -EINVAL, 0);
				continue;
			}
			d_request(c, &q);
		}
	}
}

/* ---- the client side ------------------------------------------------------------ */

static struct sockaddr_un daemon_addr;
static socklen_t daemon_addr_len;

static int d_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&daemon_addr, daemon_addr_len) != 0)
		die("connect to the daemon", errno);
	return fd;
}

/* One request, one response. */
static int32_t d_call(int fd, struct d_req *q, uint32_t *handle)
{
	struct d_resp r;

	if (send(fd, q, D_REQ_HDR + q->name_len, 0) < 0)
		die("send", errno);
	if (recv(fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
		die("recv", errno ? errno : EPROTO);
	if (handle)
		*handle = r.handle;
	return r.result;
}

static uint32_t d_open(int fd, enum d_op op, enum d_type type, const char *name, bool flag,
		       uint32_t a, uint32_t b)
{
	struct d_req q = {.op = op, .type = type, .flag = flag, .a = a, .b = b};
	uint32_t h;
	int32_t r;

	q.name_len = (uint8_t)strlen(name);
	memcpy(q.name, name, q.name_len);
	r = d_call(fd, &q, &h);
	if (r < 0)
		die("daemon New/Open", r);
	return h;
}

static int32_t d_simple(int fd, enum d_op op, uint32_t h)
{
	struct d_req q = {.op = op, .handle = h};

	return d_call(fd, &q, NULL);
}

/* ---- the scenarios ---------------------------------------------------------------- */

static char table_name[64];
static iol_table *tab;

#define now_ns bench_now_ns

static double iol_create_close(long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int h = iol_event_open(tab, "created", IOL_CREATE, false, false);

		if (h <= 0 || iol_close(h) != 0)
			die("iol create+close", h);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double d_create_close(int fd, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		uint32_t h = d_open(fd, D_NEW, D_EVENT, "created", false, 0, 0);

		if (d_simple(fd, D_CLOSE, h) != 0)
			die("daemon close", EINVAL);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double iol_open_close(long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int h = iol_event_open(tab, "existing", 0, false, false);

		if (h <= 0 || iol_close(h) != 0)
			die("iol open+close", h);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double d_open_close(int fd, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		uint32_t h = d_open(fd, D_OPEN, D_EVENT, "existing", false, 0, 0);

		if (d_simple(fd, D_CLOSE, h) != 0)
			die("daemon close", EINVAL);
	}
	return (double)(now_ns() - t0) / (double)n;
}

static double iol_mutex(int m, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (iol_wait(m, IOL_INFINITE) != 0 || iol_mutex_release(m) != 1)
			die("iol mutex", EINVAL);
	return (double)(now_ns() - t0) / (double)n;
}

static double d_mutex(int fd, uint32_t m, long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (d_simple(fd, D_WAIT, m) != 0 || d_simple(fd, D_SIGNAL, m) != 1)
			die("daemon mutex", EINVAL);
	return (double)(now_ns() - t0) / (double)n;
}

/* The ping-pong: the parent signals "ping" and waits for "pong", a child
 * process the mirror.  Both sides open the events by name. */
static double pingpong(bool daemon, long n)
{
	long warm = n / 10 + 1;
	int64_t t0 = 0;
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		iol_table *t = NULL;
		int ping = 0, pong = 0, fd = -1;
		uint32_t dping = 0, dpong = 0;

		pin(0);
		if (daemon) {
			fd = d_connect();
			dping = d_open(fd, D_OPEN, D_EVENT, "ping", false, 0, 0);
			dpong = d_open(fd, D_OPEN, D_EVENT, "pong", false, 0, 0);
		} else if (iol_table_open(table_name, NULL, &t) != 0) {
			die("iol_table_open (child)", EINVAL);
		} else {
			ping = iol_event_open(t, "ping", 0, false, false);
			pong = iol_event_open(t, "pong", 0, false, false);
			if (ping <= 0 || pong <= 0)
				die("iol_event_open (child)", EINVAL);
		}
		for (long i = 0; i < n + warm; i++) {
			if (daemon) {
				if (d_simple(fd, D_WAIT, dping) != 0 ||
				    d_simple(fd, D_SIGNAL, dpong) < 0)
					die("daemon child", EINVAL);
			} else if (iol_wait(ping, IOL_INFINITE) != 0 || iol_event_set(pong) < 0) {
				die("iol child", EINVAL);
			}
		}
		if (!daemon)
			iol_table_close(t);
		_exit(0); /* the daemon drops the references of a closed socket */
	}
	{
		int ping = 0, pong = 0, fd = -1;
		uint32_t dping = 0, dpong = 0;

		if (daemon) {
			fd = d_connect();
			dping = d_open(fd, D_OPEN, D_EVENT, "ping", false, 0, 0);
			dpong = d_open(fd, D_OPEN, D_EVENT, "pong", false, 0, 0);
		} else {
			ping = iol_event_open(tab, "ping", 0, false, false);
			pong = iol_event_open(tab, "pong", 0, false, false);
		}
		for (long i = 0; i < n + warm; i++) {
			if (i == warm)
				t0 = now_ns();
			if (daemon) {
				if (d_simple(fd, D_SIGNAL, dping) < 0 ||
				    d_simple(fd, D_WAIT, dpong) != 0)
					die("daemon parent", EINVAL);
			} else if (iol_event_set(ping) < 0 || iol_wait(pong, IOL_INFINITE) != 0) {
				die("iol parent", EINVAL);
			}
		}
		double per = (double)(now_ns() - t0) / (double)n;

		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("ping-pong child", ECHILD);
		if (daemon) {
			d_simple(fd, D_CLOSE, dping);
			d_simple(fd, D_CLOSE, dpong);
			close(fd);
		} else {
			iol_close(ping);
			iol_close(pong);
		}
		return per;
	}
}

/* ---- main ----------------------------------------------------------------------------- */

struct row {
	const char *what;
	double iol[RUNS], dmn[RUNS];
	double goal; /* at least this speed-up, 0: none */
};

static struct bench_result result_of(const struct row *r)
{
	return (struct bench_result){
	    .scenario = r->what,
	    .unit = "ns",
	    .better = BENCH_LOWER_IS_BETTER,
	    .iol = bench_fig_of(r->iol, RUNS),
	    .baseline = "mono_handle_d-style daemon",
	    .base = bench_fig_of(r->dmn, RUNS),
	    .ratio_is = BENCH_RATIO_BASE_OVER_IOL,
	    .goal_kind = r->goal > 0 ? BENCH_GOAL_AT_LEAST : BENCH_NO_GOAL,
	    .goal = r->goal,
	};
}

int main(int argc, char **argv)
{
	long n_create = 200000, n_dcreate = 20000, n_mutex = 2000000, n_dmutex = 20000;
	long n_pp = 50000, n_dpp = 20000;
	struct row rows[4] = {
	    {.what = "create+close a named event", .goal = 50},
	    {.what = "open an existing name+close"},
	    {.what = "mutex acquire+release, uncontended"},
	    {.what = "event signal/wait round trip, 2 processes", .goal = 2},
	};
	int lfd, fd, m, r;
	uint32_t dm, dexisting;
	pid_t dpid;

	if (bench_quick_only(argc, argv,
			     "[--quick|-q]   (1/20 of the iterations, for a smoke run)")) {
		n_create /= 20, n_dcreate /= 20, n_mutex /= 20, n_dmutex /= 20;
		n_pp /= 20, n_dpp /= 20;
	}
	if (getenv("BENCH_PIN"))
		pin_mode = getenv("BENCH_PIN");
	if (strcmp(pin_mode, "same") && strcmp(pin_mode, "split") && strcmp(pin_mode, "none")) {
		fprintf(stderr, "daemon_baseline: BENCH_PIN must be same, split or none\n");
		return 2;
	}
	bench_header("daemon_baseline");
	printf("runs:     %d per figure (median [min, max]), iolayer and daemon alternating\n",
	       RUNS);
	printf("pinning:  %s\n", strcmp(pin_mode, "same") == 0 ? "every process on CPU 0"
				 : strcmp(pin_mode, "split") == 0
				     ? "daemon on CPU 1, clients on CPU 0"
				     : "none");
	printf("iterations per run (iolayer / daemon): create %ld / %ld, mutex %ld / %ld, "
	       "ping-pong %ld / %ld\n\n",
	       n_create, n_dcreate, n_mutex, n_dmutex, n_pp, n_dpp);
	fflush(stdout);

	/* The daemon, on an abstract socket named after this process. */
	memset(&daemon_addr, 0, sizeof(daemon_addr));
	daemon_addr.sun_family = AF_UNIX;
	snprintf(daemon_addr.sun_path + 1, sizeof(daemon_addr.sun_path) - 1,
		 "iolayer-daemon-baseline-%d", (int)getpid());
	daemon_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				      strlen(daemon_addr.sun_path + 1));
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&daemon_addr, daemon_addr_len) != 0 ||
	    listen(lfd, 64) != 0)
		die("daemon socket", errno);
	dpid = fork();
	if (dpid < 0)
		die("fork", errno);
	if (dpid == 0)
		daemon_main(lfd);
	close(lfd);
	pin(0);

	snprintf(table_name, sizeof(table_name), "daemon-baseline-%d", (int)getpid());
	r = iol_table_open(table_name, NULL, &tab);
	if (r)
		die("iol_table_open", r);
	fd = d_connect();
	m = iol_mutex_open(tab, "mutex", IOL_CREATE, false);
	dm = d_open(fd, D_NEW, D_MUTEX, "mutex", false, 0, 0);
	if (m <= 0 || iol_event_open(tab, "existing", IOL_CREATE, false, false) <= 0 ||
	    iol_event_open(tab, "ping", IOL_CREATE, false, false) <= 0 ||
	    iol_event_open(tab, "pong", IOL_CREATE, false, false) <= 0)
		die("iol open", EINVAL);
	dexisting = d_open(fd, D_NEW, D_EVENT, "existing", false, 0, 0);
	d_open(fd, D_NEW, D_EVENT, "ping", false, 0, 0);
	d_open(fd, D_NEW, D_EVENT, "pong", false, 0, 0);
	(void)dexisting;

	/* warm-up */
	iol_create_close(n_create / 10);
	d_create_close(fd, n_dcreate / 10);
	for (int i = 0; i < RUNS; i++) {
		bench_progress("daemon_baseline: run %d of %d", i + 1, RUNS);
		rows[0].iol[i] = iol_create_close(n_create);
		rows[0].dmn[i] = d_create_close(fd, n_dcreate);
		rows[1].iol[i] = iol_open_close(n_create);
		rows[1].dmn[i] = d_open_close(fd, n_dcreate);
		rows[2].iol[i] = iol_mutex(m, n_mutex);
		rows[2].dmn[i] = d_mutex(fd, dm, n_dmutex);
		rows[3].iol[i] = pingpong(false, n_pp);
		rows[3].dmn[i] = pingpong(true, n_dpp);
	}

	printf("| %-42s | %-30s | %-30s | %-8s | %-12s |\n", "benchmark (ns per operation)",
	       "iolayer median [min, max]", "daemon median [min, max]", "speed-up", "goal");
	printf("|--------------------------------------------|--------------------------------|"
	       "--------------------------------|----------|--------------|\n");
	for (int i = 0; i < 4; i++) {
		struct bench_result b = result_of(&rows[i]);
		char goal[48] = "-";

		if (rows[i].goal > 0) {
			bench_goal_text(&b, goal, sizeof(goal));
			snprintf(goal + strlen(goal), sizeof(goal) - strlen(goal), ": %s",
				 bench_goal_met(&b) ? "met" : "MISSED");
		}
		printf("| %-42s | %8.1f [%8.1f, %8.1f] | %8.1f [%8.1f, %8.1f] | %7.1fx | %-12s |\n",
		       rows[i].what, b.iol.median, b.iol.min, b.iol.max, b.base.median, b.base.min,
		       b.base.max, bench_ratio(&b), goal);
	}
	printf("\n");
	for (int i = 0; i < 4; i++) {
		struct bench_result b = result_of(&rows[i]);

		bench_emit("daemon_baseline", &b);
	}

	close(fd);
	kill(dpid, SIGTERM);
	waitpid(dpid, NULL, 0);
	iol_table_close(tab);
	iol_table_unlink(table_name);
	return 0;
}
