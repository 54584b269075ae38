/* SPDX-License-Identifier: MIT */
/*
 * echo_bench: a load generator for echo servers.
 *
 *   echo_bench --port P [--host 127.0.0.1] --conns C --size S --depth D
 *              --duration SEC [--warmup SEC] [--cpu N]
 *
 * Opens C connections; on each keeps D messages of S bytes in flight (a new
 * one is sent as soon as one is echoed back) for the duration, after a
 * warm-up that is not counted.  Prints one line:
 *   conns=C size=S depth=D secs=T requests=N rps=R p50_us=A p99_us=B
 * Latency is from queuing a message to receiving its last byte.
 *
 * The client is single-threaded on raw io_uring (multishot recv into a
 * provided buffer ring, one send in flight per connection with the bytes
 * owed batched into it), so that one core of load generation costs as
 * little as possible per message: it must not be what limits the server.
 * --cpu pins it.
 *
 * client_cpu_us is this program's CPU time per request; --server-pid PID
 * adds server_cpu_us: the CPU time the server's threads
 * used per request during the measurement (from the schedstat of each /proc/PID/task entry,
 * which counts the kernel work done in their context, e.g. loopback
 * delivery of what they send).  Unlike requests/s it does not depend on
 * whether the load generator or a neighbour limits the run.
 */
#include <arpa/inet.h>
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#define BGID	  1
#define NBUFS	  4096
#define BUFSZ	  4096
#define HIST_NS	  100			/* histogram resolution */
#define HIST_N	  (100000000 / HIST_NS) /* up to 100 ms */
#define TAG_RECV  1ull
#define TAG_SEND  2ull
#define MAX_DEPTH 4096

struct cconn {
	int fd;
	bool sending;
	size_t unsent;	  /* bytes owed to the server, not yet in a send */
	size_t in_send;	  /* bytes in the send in flight */
	size_t rx;	  /* bytes received towards the next message */
	unsigned head, n; /* queued timestamps (ring of depth) */
	int64_t *ts;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static char *sendbuf;
static size_t sendbuf_len;
static uint32_t *hist;
static uint64_t over; /* beyond the histogram */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time (ns) used so far by every thread of process pid, or -1. */
static int64_t proc_cpu_ns(int pid)
{
	char path[64];
	struct dirent *d;
	int64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		char file[400];
		long long ns;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/schedstat", path, d->d_name);
		f = fopen(file, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lld", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	closedir(dir);
	return sum;
}

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&ring)))
		io_uring_submit(&ring);
	return sqe;
}

static void arm_recv(struct cconn *c, unsigned idx)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)idx << 8 | TAG_RECV);
}

static void send_owed(struct cconn *c, unsigned idx)
{
	struct io_uring_sqe *sqe;
	size_t len;

	if (c->sending || !c->unsent)
		return;
	len = c->unsent < sendbuf_len ? c->unsent : sendbuf_len;
	sqe = sqe_get();
	io_uring_prep_send(sqe, c->fd, sendbuf, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)idx << 8 | TAG_SEND);
	c->sending = true;
	c->in_send = len;
	c->unsent -= len;
}

static void queue_msg(struct cconn *c, unsigned depth, size_t size, int64_t t)
{
	c->ts[(c->head + c->n) % depth] = t;
	c->n++;
	c->unsent += size;
}

static double pct(uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p * (double)total), seen = 0;

	for (uint32_t i = 0; i < HIST_N; i++) {
		seen += hist[i];
		if (seen > want)
			return (double)i * HIST_NS / 1000.0;
	}
	return (double)HIST_N * HIST_NS / 1000.0;
}

static void usage(const char *p)
{
	fprintf(stderr,
		"usage: %s --port P [--host ADDR] --conns C --size S --depth D --duration SEC\n"
		"          [--warmup SEC] [--cpu N] [--server-pid PID]\n",
		p);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, cpu = -1, server_pid = 0;
	int64_t server_cpu0 = 0, client_cpu0 = 0;
	unsigned conns = 1, depth = 1;
	size_t size = 64;
	double duration = 5, warmup = 1;
	struct io_uring_params p;
	struct sockaddr_in a;
	struct cconn *cs;
	uint64_t count = 0;
	int64_t t0, warm_end, end, measured_from = 0;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (i + 1 >= argc)
			usage(argv[0]);
		if (!strcmp(o, "--port"))
			port = atoi(argv[++i]);
		else if (!strcmp(o, "--host"))
			host = argv[++i];
		else if (!strcmp(o, "--conns"))
			conns = (unsigned)atoi(argv[++i]);
		else if (!strcmp(o, "--size"))
			size = (size_t)atol(argv[++i]);
		else if (!strcmp(o, "--depth"))
			depth = (unsigned)atoi(argv[++i]);
		else if (!strcmp(o, "--duration"))
			duration = atof(argv[++i]);
		else if (!strcmp(o, "--warmup"))
			warmup = atof(argv[++i]);
		else if (!strcmp(o, "--cpu"))
			cpu = atoi(argv[++i]);
		else if (!strcmp(o, "--server-pid"))
			server_pid = atoi(argv[++i]);
		else
			usage(argv[0]);
	}
	if (!port || !conns || !size || size > BUFSZ * 64 || !depth || depth > MAX_DEPTH ||
	    duration <= 0)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			perror("sched_setaffinity");
			return 1;
		}
	}
	sendbuf_len = size * depth < 65536 ? 65536 : size * depth;
	sendbuf = malloc(sendbuf_len);
	hist = calloc(HIST_N, sizeof(*hist));
	cs = calloc(conns, sizeof(*cs));
	if (!sendbuf || !hist || !cs)
		return 1;
	memset(sendbuf, 'e', sendbuf_len);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		usage(argv[0]);
	for (unsigned i = 0; i < conns; i++) {
		int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("connect");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cs[i].fd = fd;
		cs[i].ts = calloc(depth, sizeof(int64_t));
		if (!cs[i].ts)
			return 1;
	}

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = 8192;
	if (io_uring_queue_init_params(1024, &ring, &p) < 0) {
		memset(&p, 0, sizeof(p));
		if (io_uring_queue_init_params(1024, &ring, &p) < 0) {
			perror("io_uring_queue_init");
			return 1;
		}
	}
	{
		struct io_uring_buf_reg reg = {0};
		int r;

		if (posix_memalign((void **)&br, 4096, NBUFS * sizeof(struct io_uring_buf)) ||
		    posix_memalign((void **)&bufs, 4096, (size_t)NBUFS * BUFSZ))
			return 1;
		io_uring_buf_ring_init(br);
		reg.ring_addr = (uint64_t)(uintptr_t)br;
		reg.ring_entries = NBUFS;
		reg.bgid = BGID;
		r = io_uring_register_buf_ring(&ring, &reg, 0);
		if (r < 0) {
			fprintf(stderr, "register_buf_ring: %s\n", strerror(-r));
			return 1;
		}
		for (unsigned i = 0; i < NBUFS; i++)
			io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ,
					      (unsigned short)i, io_uring_buf_ring_mask(NBUFS),
					      (int)i);
		io_uring_buf_ring_advance(br, NBUFS);
	}

	t0 = now_ns();
	warm_end = t0 + (int64_t)(warmup * 1e9);
	end = warm_end + (int64_t)(duration * 1e9);
	for (unsigned i = 0; i < conns; i++) {
		arm_recv(&cs[i], i);
		for (unsigned d = 0; d < depth; d++)
			queue_msg(&cs[i], depth, size, t0);
		send_owed(&cs[i], i);
	}
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int64_t t;

		io_uring_submit_and_wait(&ring, 1); /* -EINTR: just look again */
		t = now_ns();
		if (!measured_from && t >= warm_end) {
			measured_from = t;
			client_cpu0 = self_cpu_ns();
			if (server_pid)
				server_cpu0 = proc_cpu_ns(server_pid);
			count = 0;
			memset(hist, 0, HIST_N * sizeof(*hist));
			over = 0;
		}
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			unsigned idx = (unsigned)(cqe->user_data >> 8);
			struct cconn *c = &cs[idx];

			seen++;
			if ((cqe->user_data & 0xff) == TAG_SEND) {
				if (cqe->res < 0) {
					fprintf(stderr, "send: %s\n", strerror(-cqe->res));
					return 1;
				}
				c->sending = false;
				c->unsent += c->in_send - (size_t)cqe->res;
				send_owed(c, idx);
				continue;
			}
			if (cqe->flags & IORING_CQE_F_BUFFER) {
				unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

				io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ,
						      (unsigned short)bid,
						      io_uring_buf_ring_mask(NBUFS), 0);
				io_uring_buf_ring_advance(br, 1);
			}
			if (cqe->res > 0) {
				c->rx += (size_t)cqe->res;
				while (c->rx >= size && c->n) {
					int64_t lat = t - c->ts[c->head];

					c->rx -= size;
					c->head = (c->head + 1) % depth;
					c->n--;
					if (measured_from) {
						count++;
						if (lat / HIST_NS < HIST_N)
							hist[lat / HIST_NS]++;
						else
							over++;
					}
					queue_msg(c, depth, size, t);
				}
				send_owed(c, idx);
			}
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS)) {
					fprintf(stderr, "recv: %s\n",
						cqe->res ? strerror(-cqe->res) : "server closed");
					return 1;
				}
				arm_recv(c, idx);
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (t >= end)
			break;
	}
	{
		double secs = (double)(now_ns() - measured_from) / 1e9;
		uint64_t total = count;

		printf("conns=%u size=%zu depth=%u secs=%.2f requests=%llu rps=%.0f p50_us=%.1f "
		       "p99_us=%.1f",
		       conns, size, depth, secs, (unsigned long long)count, (double)count / secs,
		       pct(total, 0.50), pct(total, 0.99));
		if (count)
			printf(" client_cpu_us=%.2f",
			       (double)(self_cpu_ns() - client_cpu0) / 1000.0 / (double)count);
		if (server_pid && count) {
			int64_t used = proc_cpu_ns(server_pid) - server_cpu0;

			printf(" server_cpu_us=%.2f", (double)used / 1000.0 / (double)count);
		}
		printf("\n");
	}
	return 0;
}
