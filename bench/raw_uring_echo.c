/* SPDX-License-Identifier: MIT */
/*
 * raw_uring_echo: the smallest correct multishot io_uring echo server,
 * without the pool, to measure what the pool's abstraction costs.
 *
 *   raw_uring_echo --port P [--cpu N]
 *
 * One thread, one ring with the flags the pool uses where it can
 * (SINGLE_ISSUER | DEFER_TASKRUN): a multishot accept, a multishot recv per
 * connection into a provided buffer ring, each chunk sent back from its
 * buffer and the buffer returned when the send completes.  Sends on a
 * connection are kept in order (one in flight, the rest queued) and a recv
 * that runs out of buffers (-ENOBUFS) is armed again once one comes back:
 * the same duties as examples/echo_server.c, so the comparison is fair.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BGID	  0
#define NBUFS	  4096
#define BUFSZ	  2048
#define QUEUE_MAX 64
#define MAX_FD	  65536

enum { ACCEPT = 1, RECV, SEND };

struct conn {
	bool open, recv_armed, sending, waiting;
	unsigned qh, qt;
	uint16_t qbid[QUEUE_MAX];
	int qlen[QUEUE_MAX];
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct conn *conns; /* by fd */
static int waiting[MAX_FD], nwaiting;

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&ring)))
		io_uring_submit(&ring);
	return sqe;
}

static void put_buf(unsigned bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
			      io_uring_buf_ring_mask(NBUFS), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)fd << 8 | RECV);
	conns[fd].recv_armed = true;
}

static void pump(int fd)
{
	struct conn *c = &conns[fd];
	unsigned i = c->qh % QUEUE_MAX;
	struct io_uring_sqe *sqe;

	if (c->sending || c->qh == c->qt)
		return;
	sqe = sqe_get();
	io_uring_prep_send(sqe, fd, bufs + (size_t)c->qbid[i] * BUFSZ, (size_t)c->qlen[i],
			   MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, (uint64_t)fd << 8 | SEND);
	c->sending = true;
}

static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];

	if (!c->open && !c->sending && !c->recv_armed && !c->waiting) {
		while (c->qh != c->qt)
			put_buf(c->qbid[c->qh++ % QUEUE_MAX]);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	struct io_uring_buf_reg reg = {0};
	struct io_uring_params p;
	int port = 0, cpu = -1, one = 1, lfd, r;
	struct io_uring_sqe *sqe;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--cpu"))
			cpu = atoi(argv[i + 1]);
	}
	if (!port) {
		fprintf(stderr, "usage: %s --port P [--cpu N]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	conns = calloc(MAX_FD, sizeof(*conns));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_port = htons((uint16_t)port);
	if (!conns || lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096)) {
		perror("listen");
		return 1;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = 4 * 256;
	r = io_uring_queue_init_params(256, &ring, &p);
	if (r < 0) {
		memset(&p, 0, sizeof(p));
		r = io_uring_queue_init_params(256, &ring, &p);
	}
	if (r < 0 || posix_memalign((void **)&br, 4096, NBUFS * sizeof(struct io_uring_buf)) ||
	    posix_memalign((void **)&bufs, 4096, (size_t)NBUFS * BUFSZ)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	io_uring_register_ring_fd(&ring);
	io_uring_buf_ring_init(br);
	reg.ring_addr = (uint64_t)(uintptr_t)br;
	reg.ring_entries = NBUFS;
	reg.bgid = BGID;
	if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) {
		fprintf(stderr, "register_buf_ring failed\n");
		return 1;
	}
	for (unsigned i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
				      io_uring_buf_ring_mask(NBUFS), (int)i);
	io_uring_buf_ring_advance(br, NBUFS);

	sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ACCEPT);
	printf("raw_uring_echo: port %d\n", port);
	fflush(stdout);

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		io_uring_submit_and_wait(&ring, 1);
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			int fd = (int)(cqe->user_data >> 8), res = cqe->res;
			struct conn *c = &conns[fd];

			seen++;
			switch (cqe->user_data & 0xff) {
			case ACCEPT:
				if (res >= 0 && res < MAX_FD) {
					setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one,
						   sizeof(one));
					memset(&conns[res], 0, sizeof(conns[res]));
					conns[res].open = true;
					arm_recv(res);
				} else if (res >= 0) {
					close(res);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE)) {
					sqe = sqe_get();
					io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL,
								       SOCK_CLOEXEC);
					io_uring_sqe_set_data64(sqe, ACCEPT);
				}
				break;
			case RECV:
				if (cqe->flags & IORING_CQE_F_BUFFER) {
					unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

					if (res > 0 && c->open && c->qt - c->qh < QUEUE_MAX) {
						c->qbid[c->qt % QUEUE_MAX] = (uint16_t)bid;
						c->qlen[c->qt++ % QUEUE_MAX] = res;
						pump(fd);
					} else {
						put_buf(bid);
					}
				}
				if (cqe->flags & IORING_CQE_F_MORE)
					break;
				c->recv_armed = false;
				if (res == -ENOBUFS && c->open) {
					c->waiting = true;
					waiting[nwaiting++] = fd;
				} else if (res > 0 && c->open) {
					arm_recv(fd); /* ended with data (CQ overflow) */
				} else {
					c->open = false;
					maybe_close(fd);
				}
				break;
			case SEND:
				put_buf(c->qbid[c->qh++ % QUEUE_MAX]);
				c->sending = false;
				if (res < 0)
					c->open = false;
				while (nwaiting) {
					int w = waiting[--nwaiting];

					conns[w].waiting = false;
					if (conns[w].open)
						arm_recv(w);
					else
						maybe_close(w);
				}
				if (c->open)
					pump(fd);
				maybe_close(fd);
				break;
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}
