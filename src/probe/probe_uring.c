/* SPDX-License-Identifier: MIT */
/*
 * io_uring: whether a ring can be set up at all (and why not), each setup
 * flag tried on a small ring, the params.features bits, the opcodes through
 * IORING_REGISTER_PROBE, and the capabilities that only show by use:
 * registered ring fd, provided buffer rings, multishot recv and accept.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "src/compat.h"
#include "src/probe/probe_internal.h"

#define PROBE_ENTRIES 4
#define WAIT_NS	      2000000000LL /* a completion that should come at once */
#define PBUF_BGID     7
#define PBUF_COUNT    8
#define PBUF_SIZE     64

static int uring_setup(unsigned entries, struct io_uring_params *p)
{
	long r = syscall(__NR_io_uring_setup, entries, p);

	return r < 0 ? -errno : (int)r;
}

/* ---- io_uring_setup itself ---------------------------------------- */

static void setup_failed(struct iol_features *f, int err)
{
	char eb[16];
	const char *en = ioli_errno_name(err, eb);
	long grp = f->io_uring_group;

	if (err == EPERM && f->io_uring_disabled == 2)
		ioli_feat_missing(
		    f, IOL_FEAT_IO_URING, err,
		    "io_uring_setup: EPERM: kernel.io_uring_disabled=2 turns io_uring "
		    "off for everyone");
	else if (err == EPERM && f->io_uring_disabled == 1)
		ioli_feat_missing(
		    f, IOL_FEAT_IO_URING, err,
		    "io_uring_setup: EPERM: kernel.io_uring_disabled=1 and the caller "
		    "is neither privileged nor in group %ld",
		    grp);
	else if (err == EPERM)
		ioli_feat_missing(
		    f, IOL_FEAT_IO_URING, err,
		    "io_uring_setup: EPERM (kernel.io_uring_disabled=%d): refused by a "
		    "seccomp filter or an LSM",
		    f->io_uring_disabled);
	else if (err == ENOMEM)
		ioli_feat_missing(f, IOL_FEAT_IO_URING, err,
				  "io_uring_setup: ENOMEM (RLIMIT_MEMLOCK is %llu bytes)",
				  (unsigned long long)f->memlock_cur);
	else
		ioli_feat_missing(f, IOL_FEAT_IO_URING, err, "io_uring_setup: %s (%s)", en,
				  ioli_missing_why(err));
}

/* Every io_uring capability is missing when no ring can be made. */
static void all_missing(struct iol_features *f)
{
	const struct iol_feature_info *u = &f->feat[IOL_FEAT_IO_URING];
	char eb[16];

	for (int i = IOL_FEAT_IO_URING + 1; i <= IOL_FEAT_URING_REGISTER_RING_FD; i++)
		ioli_feat_missing(f, i, u->error, "io_uring is unavailable (io_uring_setup: %s)",
				  ioli_errno_name(u->error, eb));
}

/* ---- setup flags ---------------------------------------------------- */

static void try_flags(struct iol_features *f, enum iol_feature id, unsigned flags, const char *what)
{
	struct io_uring_params p;
	char eb[16];
	int fd;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 10; /* ms; the thread goes with the ring */
	fd = uring_setup(PROBE_ENTRIES, &p);
	if (fd >= 0) {
		close(fd);
		ioli_feat_ok(f, id);
		return;
	}
	if (-fd == EPERM && (flags & IORING_SETUP_SQPOLL))
		ioli_feat_missing(f, id, EPERM,
				  "io_uring_setup(%s): EPERM: SQPOLL needs privilege before 5.13",
				  what);
	else
		ioli_feat_missing(f, id, -fd, "io_uring_setup(%s): %s (%s)", what,
				  ioli_errno_name(-fd, eb), ioli_missing_why(-fd));
}

static void probe_setup_flags(struct iol_features *f)
{
	try_flags(f, IOL_FEAT_URING_SINGLE_ISSUER, IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER");
	if (f->feat[IOL_FEAT_URING_SINGLE_ISSUER].available)
		/* DEFER_TASKRUN is only valid together with SINGLE_ISSUER. */
		try_flags(f, IOL_FEAT_URING_DEFER_TASKRUN,
			  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
			  "SINGLE_ISSUER|DEFER_TASKRUN");
	else
		ioli_feat_missing(f, IOL_FEAT_URING_DEFER_TASKRUN,
				  f->feat[IOL_FEAT_URING_SINGLE_ISSUER].error,
				  "needs IORING_SETUP_SINGLE_ISSUER, which is missing");
	try_flags(f, IOL_FEAT_URING_COOP_TASKRUN, IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN");
	try_flags(f, IOL_FEAT_URING_SQPOLL, IORING_SETUP_SQPOLL, "SQPOLL");
	try_flags(f, IOL_FEAT_URING_NO_SQARRAY, IORING_SETUP_NO_SQARRAY, "NO_SQARRAY");
}

/* ---- params.features ------------------------------------------------ */

static const struct {
	enum iol_feature id;
	unsigned bit;
	const char *name;
} feature_bits[] = {
    {IOL_FEAT_URING_FEAT_NODROP, IORING_FEAT_NODROP, "IORING_FEAT_NODROP"},
    {IOL_FEAT_URING_FEAT_FAST_POLL, IORING_FEAT_FAST_POLL, "IORING_FEAT_FAST_POLL"},
    {IOL_FEAT_URING_FEAT_EXT_ARG, IORING_FEAT_EXT_ARG, "IORING_FEAT_EXT_ARG"},
    {IOL_FEAT_URING_FEAT_SUBMIT_STABLE, IORING_FEAT_SUBMIT_STABLE, "IORING_FEAT_SUBMIT_STABLE"},
    {IOL_FEAT_URING_FEAT_CQE_SKIP, IORING_FEAT_CQE_SKIP, "IORING_FEAT_CQE_SKIP"},
    {IOL_FEAT_URING_FEAT_LINKED_FILE, IORING_FEAT_LINKED_FILE, "IORING_FEAT_LINKED_FILE"},
    {IOL_FEAT_URING_FEAT_REG_REG_RING, IORING_FEAT_REG_REG_RING, "IORING_FEAT_REG_REG_RING"},
};

static void probe_feature_bits(struct iol_features *f, unsigned features)
{
	for (size_t i = 0; i < sizeof(feature_bits) / sizeof(feature_bits[0]); i++) {
		if (features & feature_bits[i].bit)
			ioli_feat_ok(f, feature_bits[i].id);
		else
			ioli_feat_missing(f, feature_bits[i].id, EOPNOTSUPP,
					  "io_uring_setup does not report %s (features %#x)",
					  feature_bits[i].name, features);
	}
}

/* ---- opcodes -------------------------------------------------------- */

static const struct {
	enum iol_feature id;
	unsigned op;
	const char *name;
} opcodes[] = {
    {IOL_FEAT_URING_OP_READ, IORING_OP_READ, "IORING_OP_READ"},
    {IOL_FEAT_URING_OP_WRITE, IORING_OP_WRITE, "IORING_OP_WRITE"},
    {IOL_FEAT_URING_OP_READV, IORING_OP_READV, "IORING_OP_READV"},
    {IOL_FEAT_URING_OP_WRITEV, IORING_OP_WRITEV, "IORING_OP_WRITEV"},
    {IOL_FEAT_URING_OP_FSYNC, IORING_OP_FSYNC, "IORING_OP_FSYNC"},
    {IOL_FEAT_URING_OP_OPENAT, IORING_OP_OPENAT, "IORING_OP_OPENAT"},
    {IOL_FEAT_URING_OP_CLOSE, IORING_OP_CLOSE, "IORING_OP_CLOSE"},
    {IOL_FEAT_URING_OP_STATX, IORING_OP_STATX, "IORING_OP_STATX"},
    {IOL_FEAT_URING_OP_ACCEPT, IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
    {IOL_FEAT_URING_OP_CONNECT, IORING_OP_CONNECT, "IORING_OP_CONNECT"},
    {IOL_FEAT_URING_OP_RECV, IORING_OP_RECV, "IORING_OP_RECV"},
    {IOL_FEAT_URING_OP_SEND, IORING_OP_SEND, "IORING_OP_SEND"},
    {IOL_FEAT_URING_OP_SHUTDOWN, IORING_OP_SHUTDOWN, "IORING_OP_SHUTDOWN"},
    {IOL_FEAT_URING_OP_TIMEOUT, IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
    {IOL_FEAT_URING_OP_LINK_TIMEOUT, IORING_OP_LINK_TIMEOUT, "IORING_OP_LINK_TIMEOUT"},
    {IOL_FEAT_URING_OP_ASYNC_CANCEL, IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
    {IOL_FEAT_URING_OP_POLL_ADD, IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD"},
    {IOL_FEAT_URING_OP_MSG_RING, IORING_OP_MSG_RING, "IORING_OP_MSG_RING"},
    {IOL_FEAT_URING_OP_SEND_ZC, IORING_OP_SEND_ZC, "IORING_OP_SEND_ZC"},
    {IOL_FEAT_URING_OP_FUTEX_WAIT, IORING_OP_FUTEX_WAIT, "IORING_OP_FUTEX_WAIT"},
    {IOL_FEAT_URING_OP_FUTEX_WAKE, IORING_OP_FUTEX_WAKE, "IORING_OP_FUTEX_WAKE"},
    {IOL_FEAT_URING_OP_FUTEX_WAITV, IORING_OP_FUTEX_WAITV, "IORING_OP_FUTEX_WAITV"},
    {IOL_FEAT_URING_OP_WAITID, IORING_OP_WAITID, "IORING_OP_WAITID"},
};

#define N_OPCODES (sizeof(opcodes) / sizeof(opcodes[0]))
#define PROBE_OPS 256

static void probe_opcodes(struct iol_features *f, int ring_fd)
{
	size_t len = sizeof(struct io_uring_probe) + PROBE_OPS * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *pr = calloc(1, len);
	char eb[16];
	long r;

	if (!pr) {
		for (size_t i = 0; i < N_OPCODES; i++)
			ioli_feat_missing(f, opcodes[i].id, ENOMEM, "out of memory while probing");
		return;
	}
	r = syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PROBE, pr, PROBE_OPS);
	if (r < 0) {
		int err = errno;

		for (size_t i = 0; i < N_OPCODES; i++)
			ioli_feat_missing(f, opcodes[i].id, err,
					  "IORING_REGISTER_PROBE: %s (kernel before 5.6?): opcodes "
					  "unknown",
					  ioli_errno_name(err, eb));
		free(pr);
		return;
	}
	for (size_t i = 0; i < N_OPCODES; i++) {
		unsigned op = opcodes[i].op;

		if (op <= pr->last_op && op < pr->ops_len &&
		    (pr->ops[op].flags & IO_URING_OP_SUPPORTED))
			ioli_feat_ok(f, opcodes[i].id);
		else
			ioli_feat_missing(
			    f, opcodes[i].id, EINVAL,
			    "%s (%u) is not supported: the kernel's last opcode is %u",
			    opcodes[i].name, op, pr->last_op);
	}
	free(pr);
}

/* ---- capabilities found by use -------------------------------------- */

/* Wait for the completion tagged tag; returns 0 and copies it, or -errno
 * (-ETIME when nothing came in time). */
static int wait_tagged(struct io_uring *ring, uint64_t tag, struct io_uring_cqe *out)
{
	for (;;) {
		struct __kernel_timespec ts = {.tv_sec = WAIT_NS / 1000000000LL,
					       .tv_nsec = WAIT_NS % 1000000000LL};
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe_timeout(ring, &cqe, &ts);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		bool mine = cqe->user_data == tag;

		if (mine)
			*out = *cqe;
		io_uring_cqe_seen(ring, cqe);
		if (mine)
			return 0;
	}
}

static int submit_one(struct io_uring *ring)
{
	int r;

	do
		r = io_uring_submit(ring);
	while (r == -EINTR);
	return r == 1 ? 0 : (r < 0 ? r : -EIO);
}

static void probe_ring_fd(struct iol_features *f, struct io_uring *ring)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	char eb[16];
	int r = io_uring_register_ring_fd(ring);

	if (r != 1) {
		int err = r < 0 ? -r : EPROTO;

		ioli_feat_missing(f, IOL_FEAT_URING_REGISTER_RING_FD, err,
				  "IORING_REGISTER_RING_FDS: %s (%s)", ioli_errno_name(err, eb),
				  ioli_missing_why(err));
		return;
	}
	/* liburing now enters through the registered index: use it once. */
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_nop(sqe);
	sqe->user_data = 1;
	r = submit_one(ring);
	if (r == 0)
		r = wait_tagged(ring, 1, &cqe);
	if (r == 0 && cqe.res == 0) {
		ioli_feat_ok(f, IOL_FEAT_URING_REGISTER_RING_FD);
		return;
	}
	r = r < 0 ? -r : -cqe.res;
	ioli_feat_missing(f, IOL_FEAT_URING_REGISTER_RING_FD, r,
			  "a NOP through the registered ring fd failed: %s",
			  ioli_errno_name(r, eb));
	io_uring_unregister_ring_fd(ring);
}

/* Registers a provided buffer ring as group PBUF_BGID; *mem gets the
 * memory to unmap after the ring is gone. */
static void probe_pbuf_ring(struct iol_features *f, struct io_uring *ring, void **mem,
			    char (*bufs)[PBUF_SIZE])
{
	size_t sz = (size_t)sysconf(_SC_PAGESIZE);
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	char eb[16];
	int r;

	br = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED) {
		ioli_feat_missing(f, IOL_FEAT_URING_PBUF_RING, errno, "mmap for a buffer ring: %s",
				  ioli_errno_name(errno, eb));
		return;
	}
	*mem = br;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = PBUF_COUNT;
	reg.bgid = PBUF_BGID;
	r = io_uring_register_buf_ring(ring, &reg, 0);
	if (r < 0) {
		ioli_feat_missing(f, IOL_FEAT_URING_PBUF_RING, -r,
				  "IORING_REGISTER_PBUF_RING: %s (%s)", ioli_errno_name(-r, eb),
				  ioli_missing_why(-r));
		return;
	}
	io_uring_buf_ring_init(br);
	for (int i = 0; i < PBUF_COUNT; i++)
		io_uring_buf_ring_add(br, bufs[i], PBUF_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(PBUF_COUNT), i);
	io_uring_buf_ring_advance(br, PBUF_COUNT);
	ioli_feat_ok(f, IOL_FEAT_URING_PBUF_RING);
}

/* A multishot recv that delivers one message from a provided buffer and
 * stays armed (IORING_CQE_F_MORE). */
static void probe_multishot_recv(struct iol_features *f, struct io_uring *ring)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	int sv[2], r;
	char eb[16];

	if (!f->feat[IOL_FEAT_URING_PBUF_RING].available) {
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_RECV,
				  f->feat[IOL_FEAT_URING_PBUF_RING].error,
				  "needs provided buffer rings, which are missing");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_RECV, errno, "socketpair: %s",
				  ioli_errno_name(errno, eb));
		return;
	}
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = PBUF_BGID;
	sqe->user_data = 2;
	r = submit_one(ring);
	if (r == 0 && write(sv[1], "x", 1) != 1)
		r = -errno;
	if (r == 0)
		r = wait_tagged(ring, 2, &cqe);
	if (r == 0 && cqe.res == 1 && (cqe.flags & IORING_CQE_F_MORE) &&
	    (cqe.flags & IORING_CQE_F_BUFFER))
		ioli_feat_ok(f, IOL_FEAT_URING_MULTISHOT_RECV);
	else if (r == 0 && cqe.res < 0)
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_RECV, -cqe.res,
				  "multishot recv completed with %s (%s)",
				  ioli_errno_name(-cqe.res, eb), ioli_missing_why(-cqe.res));
	else if (r == 0)
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_RECV, EPROTO,
				  "multishot recv gave res %d flags %#x, not one buffered byte "
				  "with more to come",
				  cqe.res, cqe.flags);
	else
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_RECV, -r, "multishot recv: %s",
				  ioli_errno_name(-r, eb));
	/* The request stays armed until the ring goes; closing is enough. */
	close(sv[0]);
	close(sv[1]);
}

/* A multishot accept on an abstract unix socket that accepts one client
 * and stays armed. */
static void probe_multishot_accept(struct iol_features *f, struct io_uring *ring)
{
	struct sockaddr_un addr;
	socklen_t alen = sizeof(sa_family_t); /* autobind an abstract name */
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	int lfd, cfd = -1, r;
	char eb[16];

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, alen) < 0 || listen(lfd, 4) < 0 ||
	    (alen = sizeof(addr), getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0)) {
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_ACCEPT, errno,
				  "no listening socket to try it on: %s",
				  ioli_errno_name(errno, eb));
		if (lfd >= 0)
			close(lfd);
		return;
	}
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = 3;
	r = submit_one(ring);
	if (r == 0) {
		cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, alen) < 0)
			r = -errno;
	}
	if (r == 0)
		r = wait_tagged(ring, 3, &cqe);
	if (r == 0 && cqe.res >= 0) {
		close(cqe.res);
		if (cqe.flags & IORING_CQE_F_MORE)
			ioli_feat_ok(f, IOL_FEAT_URING_MULTISHOT_ACCEPT);
		else
			ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_ACCEPT, EPROTO,
					  "accept completed once without IORING_CQE_F_MORE");
	} else if (r == 0) {
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_ACCEPT, -cqe.res,
				  "multishot accept completed with %s (%s)",
				  ioli_errno_name(-cqe.res, eb), ioli_missing_why(-cqe.res));
	} else {
		ioli_feat_missing(f, IOL_FEAT_URING_MULTISHOT_ACCEPT, -r, "multishot accept: %s",
				  ioli_errno_name(-r, eb));
	}
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

static void probe_by_use(struct iol_features *f)
{
	static const enum iol_feature ids[] = {
	    IOL_FEAT_URING_REGISTER_RING_FD, IOL_FEAT_URING_PBUF_RING,
	    IOL_FEAT_URING_MULTISHOT_RECV, IOL_FEAT_URING_MULTISHOT_ACCEPT};
	struct io_uring ring;
	void *pbuf_mem = NULL;
	char(*bufs)[PBUF_SIZE];
	char eb[16];
	int r;

	bufs = calloc(PBUF_COUNT, PBUF_SIZE);
	r = bufs ? io_uring_queue_init(8, &ring, 0) : -ENOMEM;
	if (r < 0) {
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
			ioli_feat_missing(f, ids[i], -r, "io_uring_queue_init: %s",
					  ioli_errno_name(-r, eb));
		free(bufs);
		return;
	}
	probe_ring_fd(f, &ring);
	probe_pbuf_ring(f, &ring, &pbuf_mem, bufs);
	probe_multishot_recv(f, &ring);
	probe_multishot_accept(f, &ring);
	/* Tearing the ring down cancels the armed multishot requests before
	 * the buffers they may use go away. */
	io_uring_queue_exit(&ring);
	if (pbuf_mem)
		munmap(pbuf_mem, (size_t)sysconf(_SC_PAGESIZE));
	free(bufs);
}

void ioli_probe_uring(struct iol_features *f)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = uring_setup(PROBE_ENTRIES, &p);
	if (fd < 0) {
		setup_failed(f, -fd);
		all_missing(f);
		return;
	}
	ioli_feat_ok(f, IOL_FEAT_IO_URING);
	probe_feature_bits(f, p.features);
	probe_opcodes(f, fd);
	close(fd);
	probe_setup_flags(f);
	probe_by_use(f);
}
