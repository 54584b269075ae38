/* SPDX-License-Identifier: MIT */
/*
 * The probe on this kernel: every feature it reports is cross-checked
 * against a direct system call made here, differently from how the probe
 * made it; the IOLAYER_DISABLE and IOLAYER_BACKEND overrides (in forked
 * children, since the probe runs once per process); and the once-only
 * warning for unknown feature names.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/pidfd.h>
#include <linux/sched.h>

#include <cmocka.h>

#include "iolayer.h"
#include "iolayer/probe.h"
#include "src/compat.h"
#include "tests/check.h"

/* ---- helpers -------------------------------------------------------- */

/*
 * The probe runs once per process, and this process has long probed by
 * the time most tests run, so each override test re-executes this program
 * ("--child MODE") with the environment set before its first call.  The
 * parent's verdicts travel in IOLTEST_PARENT_HAS, one '0' or '1' per
 * feature.  Children report failures on stderr and exit non-zero.
 */
static int in_child(const char *mode, const char *disable, const char *backend, int err_fd)
{
	char has[IOL_FEAT__COUNT + 1];
	pid_t pid;
	int st;

	for (int i = 0; i < IOL_FEAT__COUNT; i++)
		has[i] = iol_has(i) ? '1' : '0';
	has[IOL_FEAT__COUNT] = '\0';
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("IOLTEST_PARENT_HAS", has, 1);
		if (disable)
			setenv("IOLAYER_DISABLE", disable, 1);
		else
			unsetenv("IOLAYER_DISABLE");
		if (backend)
			setenv("IOLAYER_BACKEND", backend, 1);
		else
			unsetenv("IOLAYER_BACKEND");
		if (err_fd >= 0 && dup2(err_fd, 2) < 0)
			_exit(126);
		execl("/proc/self/exe", "test_probe", "--child", mode, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* In a child: whether the parent found feature i. */
static bool parent_has(int i)
{
	const char *h = getenv("IOLTEST_PARENT_HAS");

	return h && (int)strlen(h) == IOL_FEAT__COUNT && h[i] == '1';
}

#define CHECK(cond) T_CHECK(cond)

static const struct iol_feature_info *feat(enum iol_feature id)
{
	return &iol_features()->feat[id];
}

/* Asserts that the probe and the direct check agree, saying which way. */
static void agree(enum iol_feature id, bool direct)
{
	const struct iol_feature_info *fi = feat(id);

	if (fi->available != direct)
		fail_msg("%s: probe says %s (%s) but the direct check says %s", fi->name,
			 fi->available ? "available" : "missing", fi->reason,
			 direct ? "available" : "missing");
	if (!fi->available)
		print_message("  note: %s missing here: %s\n", fi->name, fi->reason);
}

static int raw_setup(unsigned flags, struct io_uring_params *out)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 1;
	fd = (int)syscall(__NR_io_uring_setup, 8, &p);
	if (out)
		*out = p;
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : -errno;
}

/* ---- the table of features ------------------------------------------ */

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		const char *n = iol_feature_name(i);

		assert_non_null(n);
		assert_true(strlen(n) > 0);
		assert_int_equal(iol_feature_by_name(n), i);
		assert_string_equal(feat(i)->name, n);
		assert_non_null(feat(i)->since);
		assert_true(strchr(feat(i)->since, '.') != NULL);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(iol_feature_name(j), n);
	}
	assert_null(iol_feature_name(IOL_FEAT__COUNT));
	assert_null(iol_feature_name((enum iol_feature) - 1));
	assert_int_equal(iol_feature_by_name("no_such_feature"), -EINVAL);
	assert_int_equal(iol_feature_by_name(NULL), -EINVAL);
	assert_int_equal(iol_feature_by_name("FUTEX_WAITV"), IOL_FEAT_FUTEX_WAITV);
	assert_false(iol_has(IOL_FEAT__COUNT));
	assert_false(iol_has((enum iol_feature) - 1));
	/* The first releases the issue names. */
	assert_string_equal(feat(IOL_FEAT_FUTEX_WAITV)->since, "5.16");
	assert_string_equal(feat(IOL_FEAT_URING_OP_FUTEX_WAIT)->since, "6.7");
	assert_string_equal(feat(IOL_FEAT_URING_OP_WAITID)->since, "6.7");
	assert_string_equal(feat(IOL_FEAT_URING_NO_SQARRAY)->since, "6.6");
	assert_string_equal(feat(IOL_FEAT_PIDFS)->since, "6.9");
}

static void test_every_feature_recorded(void **state)
{
	(void)state;
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		const struct iol_feature_info *fi = feat(i);

		assert_string_not_equal(fi->reason, "not probed");
		if (fi->available) {
			assert_int_equal(fi->error, 0);
			assert_string_equal(fi->reason, "");
			assert_true(iol_has(i));
		} else {
			assert_true(fi->error > 0);
			assert_true(strlen(fi->reason) > 0);
			assert_false(iol_has(i));
		}
	}
}

static void test_environment(void **state)
{
	const struct iol_features *f = iol_features();
	struct rlimit rl;
	struct utsname u;

	(void)state;
	assert_int_equal(uname(&u), 0);
	assert_string_equal(f->kernel_release, u.release);
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	assert_true(f->memlock_cur ==
		    (rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur));
	assert_true(f->memlock_max ==
		    (rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max));

	FILE *fp = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	if (fp) {
		int v = -2;

		assert_int_equal(fscanf(fp, "%d", &v), 1);
		fclose(fp);
		assert_int_equal(f->io_uring_disabled, v);
	} else {
		assert_int_equal(f->io_uring_disabled, -1);
	}
	assert_true(f->liburing_major >= 2);
	assert_true(f->liburing_minor >= 0);
	assert_null(f->disabled); /* tests/run.sh does not set IOLAYER_DISABLE */
	assert_non_null(f->backend);
	assert_non_null(f->backend_reason);
	if (iol_has(IOL_FEAT_IO_URING))
		assert_string_equal(f->backend, "io_uring");
	else
		assert_string_equal(f->backend, "epoll");
}

static void *first_call(void *arg)
{
	(void)arg;
	return (void *)iol_features();
}

/* Eight threads make the first call at once; all get the one result. */
static int child_concurrent_first_calls(void)
{
	pthread_t t[8];
	void *r[8];

	for (int i = 0; i < 8; i++)
		CHECK(pthread_create(&t[i], NULL, first_call, NULL) == 0);
	for (int i = 0; i < 8; i++)
		CHECK(pthread_join(t[i], &r[i]) == 0);
	for (int i = 1; i < 8; i++)
		CHECK(r[i] == r[0]);
	CHECK(r[0] == iol_features());
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		CHECK(strcmp(iol_features()->feat[i].reason, "not probed") != 0);
		CHECK(iol_has(i) == parent_has(i));
	}
	return 0;
}

static void test_once_and_thread_safe(void **state)
{
	(void)state;
	assert_ptr_equal(iol_features(), iol_features());
	assert_int_equal(in_child("concurrent", NULL, NULL, -1), 0);
}

/* ---- io_uring cross-checks ------------------------------------------ */

static void test_uring_setup(void **state)
{
	struct io_uring_params p;
	int r;

	(void)state;
	r = raw_setup(0, &p);
	agree(IOL_FEAT_IO_URING, r == 0);
	if (r < 0)
		assert_int_equal(feat(IOL_FEAT_IO_URING)->error, -r);
}

static void test_uring_setup_flags(void **state)
{
	(void)state;
	if (!iol_has(IOL_FEAT_IO_URING))
		skip();
	agree(IOL_FEAT_URING_SINGLE_ISSUER, raw_setup(IORING_SETUP_SINGLE_ISSUER, NULL) == 0);
	agree(IOL_FEAT_URING_DEFER_TASKRUN,
	      raw_setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, NULL) == 0);
	agree(IOL_FEAT_URING_COOP_TASKRUN,
	      raw_setup(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, NULL) == 0);
	agree(IOL_FEAT_URING_SQPOLL, raw_setup(IORING_SETUP_SQPOLL, NULL) == 0);
	agree(IOL_FEAT_URING_NO_SQARRAY, raw_setup(IORING_SETUP_NO_SQARRAY, NULL) == 0);
}

static void test_uring_feature_bits(void **state)
{
	struct io_uring ring;
	struct io_uring_params p;

	(void)state;
	if (!iol_has(IOL_FEAT_IO_URING))
		skip();
	/* Through liburing this time, on a bigger ring. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(io_uring_queue_init_params(32, &ring, &p), 0);
	io_uring_queue_exit(&ring);
	agree(IOL_FEAT_URING_FEAT_NODROP, p.features & IORING_FEAT_NODROP);
	agree(IOL_FEAT_URING_FEAT_FAST_POLL, p.features & IORING_FEAT_FAST_POLL);
	agree(IOL_FEAT_URING_FEAT_EXT_ARG, p.features & IORING_FEAT_EXT_ARG);
	agree(IOL_FEAT_URING_FEAT_SUBMIT_STABLE, p.features & IORING_FEAT_SUBMIT_STABLE);
	agree(IOL_FEAT_URING_FEAT_CQE_SKIP, p.features & IORING_FEAT_CQE_SKIP);
	agree(IOL_FEAT_URING_FEAT_LINKED_FILE, p.features & IORING_FEAT_LINKED_FILE);
	agree(IOL_FEAT_URING_FEAT_REG_REG_RING, p.features & IORING_FEAT_REG_REG_RING);
}

static void test_uring_opcodes(void **state)
{
	static const struct {
		enum iol_feature id;
		int op;
	} ops[] = {
	    {IOL_FEAT_URING_OP_READ, IORING_OP_READ},
	    {IOL_FEAT_URING_OP_WRITE, IORING_OP_WRITE},
	    {IOL_FEAT_URING_OP_READV, IORING_OP_READV},
	    {IOL_FEAT_URING_OP_WRITEV, IORING_OP_WRITEV},
	    {IOL_FEAT_URING_OP_FSYNC, IORING_OP_FSYNC},
	    {IOL_FEAT_URING_OP_OPENAT, IORING_OP_OPENAT},
	    {IOL_FEAT_URING_OP_CLOSE, IORING_OP_CLOSE},
	    {IOL_FEAT_URING_OP_STATX, IORING_OP_STATX},
	    {IOL_FEAT_URING_OP_ACCEPT, IORING_OP_ACCEPT},
	    {IOL_FEAT_URING_OP_CONNECT, IORING_OP_CONNECT},
	    {IOL_FEAT_URING_OP_RECV, IORING_OP_RECV},
	    {IOL_FEAT_URING_OP_SEND, IORING_OP_SEND},
	    {IOL_FEAT_URING_OP_SHUTDOWN, IORING_OP_SHUTDOWN},
	    {IOL_FEAT_URING_OP_TIMEOUT, IORING_OP_TIMEOUT},
	    {IOL_FEAT_URING_OP_LINK_TIMEOUT, IORING_OP_LINK_TIMEOUT},
	    {IOL_FEAT_URING_OP_ASYNC_CANCEL, IORING_OP_ASYNC_CANCEL},
	    {IOL_FEAT_URING_OP_POLL_ADD, IORING_OP_POLL_ADD},
	    {IOL_FEAT_URING_OP_MSG_RING, IORING_OP_MSG_RING},
	    {IOL_FEAT_URING_OP_SEND_ZC, IORING_OP_SEND_ZC},
	    {IOL_FEAT_URING_OP_FUTEX_WAIT, IORING_OP_FUTEX_WAIT},
	    {IOL_FEAT_URING_OP_FUTEX_WAKE, IORING_OP_FUTEX_WAKE},
	    {IOL_FEAT_URING_OP_FUTEX_WAITV, IORING_OP_FUTEX_WAITV},
	    {IOL_FEAT_URING_OP_WAITID, IORING_OP_WAITID},
	};
	struct io_uring_probe *p;

	(void)state;
	if (!iol_has(IOL_FEAT_IO_URING))
		skip();
	p = io_uring_get_probe();
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		agree(ops[i].id, io_uring_opcode_supported(p, ops[i].op));
	io_uring_free_probe(p);
	/* The compat numbers are the kernel's: 6.7 added these in order. */
	assert_int_equal(IORING_OP_WAITID, 50);
	assert_int_equal(IORING_OP_FUTEX_WAIT, 51);
	assert_int_equal(IORING_OP_FUTEX_WAKE, 52);
	assert_int_equal(IORING_OP_FUTEX_WAITV, 53);
}

/* A real IORING_OP_FUTEX_WAKE/WAIT round trip when the probe says the
 * opcodes exist: wait on a word, wake it through the ring. */
static void test_uring_futex_ops_work(void **state)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	uint32_t word = 0;
	int got_wait = 0, got_wake = 0;

	(void)state;
	if (!iol_has(IOL_FEAT_URING_OP_FUTEX_WAIT) || !iol_has(IOL_FEAT_URING_OP_FUTEX_WAKE)) {
		print_message("  skip: %s\n", feat(IOL_FEAT_URING_OP_FUTEX_WAIT)->reason);
		skip();
	}
	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	sqe = io_uring_get_sqe(&ring);
	/* FUTEX_WAIT: addr = word, addr2 = expected value, addr3 = mask,
	 * fd = FUTEX2 flags. */
	io_uring_prep_rw(IORING_OP_FUTEX_WAIT, sqe, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, &word, 0, 0);
	sqe->addr2 = 0;
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
	sqe->user_data = 1;
	assert_int_equal(io_uring_submit(&ring), 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_FUTEX_WAKE, sqe, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, &word, 0, 0);
	sqe->addr2 = 1; /* wake one */
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
	sqe->user_data = 2;
	assert_int_equal(io_uring_submit(&ring), 1);
	for (int n = 0; n < 2; n++) {
		assert_int_equal(io_uring_wait_cqe(&ring, &cqe), 0);
		if (cqe->user_data == 1) {
			assert_int_equal(cqe->res, 0);
			got_wait = 1;
		} else {
			assert_int_equal(cqe->res, 1); /* woke the ring's waiter */
			got_wake = 1;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	assert_true(got_wait && got_wake);
	io_uring_queue_exit(&ring);
}

static void wait_cqe_tag(struct io_uring *ring, uint64_t tag, struct io_uring_cqe *out)
{
	struct io_uring_cqe *cqe;

	for (;;) {
		assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
		bool mine = cqe->user_data == tag;
		if (mine)
			*out = *cqe;
		io_uring_cqe_seen(ring, cqe);
		if (mine)
			return;
	}
}

/* Registered ring fd, a provided buffer ring and a multishot recv that
 * delivers two messages into two provided buffers from one request. */
static void test_uring_pbuf_multishot_recv_ring_fd(void **state)
{
	struct io_uring ring;
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	static char bufs[4][32];
	int sv[2], r;

	(void)state;
	if (!iol_has(IOL_FEAT_IO_URING))
		skip();
	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	r = io_uring_register_ring_fd(&ring);
	agree(IOL_FEAT_URING_REGISTER_RING_FD, r == 1);

	br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(br != MAP_FAILED);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = 4;
	reg.bgid = 1;
	r = io_uring_register_buf_ring(&ring, &reg, 0);
	agree(IOL_FEAT_URING_PBUF_RING, r == 0);
	if (r == 0) {
		io_uring_buf_ring_init(br);
		for (int i = 0; i < 4; i++)
			io_uring_buf_ring_add(br, bufs[i], sizeof(bufs[i]), (unsigned short)i,
					      io_uring_buf_ring_mask(4), i);
		io_uring_buf_ring_advance(br, 4);

		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 1;
		sqe->user_data = 9;
		assert_int_equal(io_uring_submit(&ring), 1);
		assert_int_equal(write(sv[1], "hello", 5), 5);
		wait_cqe_tag(&ring, 9, &cqe);
		bool ms = cqe.res == 5 && (cqe.flags & IORING_CQE_F_MORE);
		if (ms) {
			unsigned b1 = cqe.flags >> IORING_CQE_BUFFER_SHIFT;

			assert_memory_equal(bufs[b1], "hello", 5);
			assert_int_equal(write(sv[1], "world!", 6), 6);
			wait_cqe_tag(&ring, 9, &cqe);
			assert_int_equal(cqe.res, 6);
			assert_true(cqe.flags & IORING_CQE_F_MORE);
			unsigned b2 = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
			assert_true(b2 != b1);
			assert_memory_equal(bufs[b2], "world!", 6);
		}
		agree(IOL_FEAT_URING_MULTISHOT_RECV, ms);
		close(sv[0]);
		close(sv[1]);
	}
	io_uring_queue_exit(&ring);
	munmap(br, 4096);
}

/* One multishot accept request accepts two clients. */
static void test_uring_multishot_accept(void **state)
{
	struct sockaddr_un a;
	socklen_t alen = sizeof(sa_family_t);
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	int lfd, c1, c2;

	(void)state;
	if (!iol_has(IOL_FEAT_IO_URING))
		skip();
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, alen), 0);
	assert_int_equal(listen(lfd, 8), 0);
	alen = sizeof(a);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);

	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
	sqe->user_data = 5;
	assert_int_equal(io_uring_submit(&ring), 1);
	c1 = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&a, alen), 0);
	wait_cqe_tag(&ring, 5, &cqe);
	bool ms = cqe.res >= 0 && (cqe.flags & IORING_CQE_F_MORE);
	if (cqe.res >= 0)
		close(cqe.res);
	if (ms) {
		c2 = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(c2, (struct sockaddr *)&a, alen), 0);
		wait_cqe_tag(&ring, 5, &cqe);
		assert_true(cqe.res >= 0);
		close(cqe.res);
		close(c2);
	}
	agree(IOL_FEAT_URING_MULTISHOT_ACCEPT, ms);
	close(c1);
	io_uring_queue_exit(&ring);
	close(lfd);
}

/* ---- futex cross-checks --------------------------------------------- */

static void test_futex_waitv(void **state)
{
	uint32_t word = 5;
	struct futex_waitv w = {
	    .val = 5, .uaddr = (uintptr_t)&word, .flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE};
	struct timespec now;
	long r;

	(void)state;
	/* A matching value and an absolute deadline already past: the real
	 * call queues, then times out. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	r = syscall(SYS_futex_waitv, &w, 1, 0, &now, CLOCK_MONOTONIC);
	agree(IOL_FEAT_FUTEX_WAITV, r == -1 && errno == ETIMEDOUT);
}

static void test_futex2(void **state)
{
	uint32_t word = 5;
	struct timespec now;
	long r;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &now);
	r = syscall(SYS_futex_wait, &word, 5UL, (unsigned long)FUTEX_BITSET_MATCH_ANY,
		    FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, &now, CLOCK_MONOTONIC);
	bool wait_ok = r == -1 && errno == ETIMEDOUT;
	r = syscall(SYS_futex_wake, &word, (unsigned long)FUTEX_BITSET_MATCH_ANY, 8,
		    FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
	agree(IOL_FEAT_FUTEX2, wait_ok && r == 0);
}

/* ---- process cross-checks ------------------------------------------- */

static pid_t fork_exit(int status)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(status);
	return pid;
}

static void test_pidfd_open_and_signal(void **state)
{
	int st, fd;
	pid_t pid;

	(void)state;
	/* A child that blocks until killed through its pidfd. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	fd = pidfd_open(pid, 0);
	agree(IOL_FEAT_PIDFD_OPEN, fd >= 0);
	if (fd >= 0) {
		agree(IOL_FEAT_PIDFD_SEND_SIGNAL, pidfd_send_signal(fd, SIGKILL, NULL, 0) == 0);
		close(fd);
	}
	if (fd < 0 || !iol_has(IOL_FEAT_PIDFD_SEND_SIGNAL))
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void test_clone3_pidfd(void **state)
{
	struct clone_args args;
	int pidfd = -1, st;
	long r;

	(void)state;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	r = syscall(SYS_clone3, &args, sizeof(args));
	if (r == 0)
		syscall(SYS_exit_group, 4);
	agree(IOL_FEAT_CLONE3_PIDFD, r > 0 && pidfd >= 0);
	if (r > 0) {
		assert_int_equal(waitpid((pid_t)r, &st, 0), r);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 4);
	}
	if (pidfd >= 0)
		close(pidfd);
}

static void test_waitid_pidfd(void **state)
{
	siginfo_t si;
	pid_t pid;
	int fd, r;

	(void)state;
	if (!iol_has(IOL_FEAT_PIDFD_OPEN))
		skip();
	pid = fork_exit(6);
	fd = pidfd_open(pid, 0);
	assert_true(fd >= 0);
	memset(&si, 0, sizeof(si));
	r = waitid((idtype_t)IOLI_P_PIDFD, (id_t)fd, &si, WEXITED);
	agree(IOL_FEAT_WAITID_PIDFD, r == 0 && si.si_pid == pid && si.si_status == 6);
	if (r != 0)
		waitpid(pid, NULL, 0);
	close(fd);
}

static void test_pidfd_get_info_exit(void **state)
{
	struct pidfd_info info;
	pid_t pid;
	int fd, r;

	(void)state;
	if (!iol_has(IOL_FEAT_PIDFD_OPEN))
		skip();
	pid = fork_exit(3);
	fd = pidfd_open(pid, 0);
	assert_true(fd >= 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	memset(&info, 0, sizeof(info));
	info.mask = PIDFD_INFO_EXIT;
	r = ioctl(fd, PIDFD_GET_INFO, &info);
	agree(IOL_FEAT_PIDFD_GET_INFO, r == 0 && (info.mask & PIDFD_INFO_EXIT) &&
					   WIFEXITED(info.exit_code) &&
					   WEXITSTATUS(info.exit_code) == 3);
	close(fd);
}

static void test_pidfs(void **state)
{
	struct stat a, b;
	struct statfs sfs;
	pid_t pid;
	int fa, fb;

	(void)state;
	if (!iol_has(IOL_FEAT_PIDFD_OPEN))
		skip();
	pid = fork_exit(0);
	fa = pidfd_open(getpid(), 0);
	fb = pidfd_open(pid, 0);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(fstat(fa, &a), 0);
	assert_int_equal(fstat(fb, &b), 0);
	assert_int_equal(fstatfs(fb, &sfs), 0);
	agree(IOL_FEAT_PIDFS, a.st_ino != b.st_ino && (unsigned long)sfs.f_type == PID_FS_MAGIC);
	waitpid(pid, NULL, 0);
	close(fa);
	close(fb);
}

/* ---- overrides (each in a fresh process) --------------------------- */

static int child_disable_some(void)
{
	const struct iol_features *f = iol_features();

	CHECK(f->disabled && strcmp(f->disabled, "futex_waitv, PIDFS") == 0);
	CHECK(!iol_has(IOL_FEAT_FUTEX_WAITV));
	CHECK(f->feat[IOL_FEAT_FUTEX_WAITV].error == ENOSYS);
	CHECK(strstr(f->feat[IOL_FEAT_FUTEX_WAITV].reason, "IOLAYER_DISABLE") != NULL);
	CHECK(!iol_has(IOL_FEAT_PIDFS));
	CHECK(f->feat[IOL_FEAT_PIDFS].error == ENOSYS);
	CHECK(strstr(f->feat[IOL_FEAT_PIDFS].reason, "IOLAYER_DISABLE") != NULL);
	for (int i = 0; i < IOL_FEAT__COUNT; i++)
		if (i != IOL_FEAT_FUTEX_WAITV && i != IOL_FEAT_PIDFS)
			CHECK(iol_has(i) == parent_has(i));
	return 0;
}

static void test_disable_masks(void **state)
{
	(void)state;
	if (!iol_has(IOL_FEAT_FUTEX_WAITV) || !iol_has(IOL_FEAT_PIDFS)) {
		print_message("  skip: futex_waitv or pidfs is missing here; masking shows "
			      "nothing\n");
		skip();
	}
	assert_int_equal(in_child("disable_some", "futex_waitv, PIDFS", NULL, -1), 0);
}

static int child_disable_uring(void)
{
	const struct iol_features *f = iol_features();

	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		bool uring = strncmp(f->feat[i].name, "uring_", 6) == 0 || i == IOL_FEAT_IO_URING;

		if (uring) {
			CHECK(!f->feat[i].available);
			if (parent_has(i)) {
				CHECK(f->feat[i].error == ENOSYS);
				CHECK(strstr(f->feat[i].reason, "IOLAYER_DISABLE") != NULL);
			}
		} else {
			CHECK(f->feat[i].available == parent_has(i));
		}
	}
	CHECK(strcmp(f->backend, "epoll") == 0);
	CHECK(strstr(f->backend_reason, "IOLAYER_DISABLE") != NULL);
	return 0;
}

static void test_disable_io_uring_masks_all_uring(void **state)
{
	(void)state;
	assert_int_equal(in_child("disable_uring", "io_uring", NULL, -1), 0);
}

static int child_backend_epoll(void)
{
	CHECK(strcmp(iol_features()->backend, "epoll") == 0);
	CHECK(strstr(iol_features()->backend_reason, "IOLAYER_BACKEND=epoll") != NULL);
	/* Forcing the backend masks no feature. */
	for (int i = 0; i < IOL_FEAT__COUNT; i++)
		CHECK(iol_has(i) == parent_has(i));
	return 0;
}

static int child_backend_uring(void)
{
	CHECK(strcmp(iol_features()->backend, "io_uring") == 0);
	CHECK(strstr(iol_features()->backend_reason, "IOLAYER_BACKEND=uring") != NULL);
	return 0;
}

static int child_backend_auto(void)
{
	CHECK(strcmp(iol_features()->backend,
		     parent_has(IOL_FEAT_IO_URING) ? "io_uring" : "epoll") == 0);
	return 0;
}

static void test_backend_override(void **state)
{
	(void)state;
	assert_int_equal(in_child("backend_epoll", NULL, "epoll", -1), 0);
	assert_int_equal(in_child("backend_uring", NULL, "uring", -1), 0);
	assert_int_equal(in_child("backend_auto", NULL, "auto", -1), 0);
}

static int child_unknown_name(void)
{
	for (int i = 0; i < 3; i++)
		(void)iol_features();
	CHECK(!iol_has(IOL_FEAT_FUTEX2));
	CHECK(iol_has(IOL_FEAT_FUTEX_WAITV) == parent_has(IOL_FEAT_FUTEX_WAITV));
	return 0;
}

static void test_unknown_name_warned_once(void **state)
{
	char buf[4096];
	ssize_t n;
	int count = 0, fd;

	(void)state;
	fd = memfd_create("stderr", 0);
	assert_true(fd >= 0);
	assert_int_equal(in_child("unknown_name", "futex2,no_such_thing", NULL, fd), 0);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	for (char *p = buf; (p = strstr(p, "no_such_thing")); p++)
		count++;
	assert_int_equal(count, 1);
	assert_non_null(strstr(buf, "IOLAYER_DISABLE"));
	assert_null(strstr(buf, "futex2")); /* known names are not complained about */
	close(fd);
}

/* An application that ignores SIGCHLD (children autoreaped) or reaps every
 * child from a handler: the probe's child (exit_signal 0) is neither
 * autoreaped nor signalled, so the probe still reaps it itself. */
static int child_sigchld_ignored(void)
{
	CHECK(signal(SIGCHLD, SIG_IGN) != SIG_ERR);
	for (int i = 0; i < IOL_FEAT__COUNT; i++)
		CHECK(iol_has(i) == parent_has(i));
	return 0;
}

static void test_probe_child_invisible_to_application(void **state)
{
	(void)state;
	if (!iol_has(IOL_FEAT_WAITID_PIDFD)) {
		print_message("  skip: %s\n", feat(IOL_FEAT_WAITID_PIDFD)->reason);
		skip();
	}
	assert_int_equal(in_child("sigchld_ignored", NULL, NULL, -1), 0);
}

/*
 * A probe that runs with the descriptor table full learns nothing about the
 * kernel: the process calls must fail with the resource error (not a
 * remembered -ENOSYS) and work once descriptors are free again.  Run in a
 * fresh process, whose first probe happens at the limit.
 */
static int fill_fds(int *fds, int cap)
{
	int n = 0;

	while (n < cap) {
		int fd = dup(2);

		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	return n;
}

static void free_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static int child_emfile(void)
{
	const struct rlimit rl0 = {64, 64};
	char *argv[] = {"true", NULL};
	struct iol_exit_status es;
	char name[64];
	int fds[64], n, h;
	iol_table *t;

	CHECK(setrlimit(RLIMIT_NOFILE, &rl0) == 0);
	n = fill_fds(fds, 64);
	CHECK(errno == EMFILE);
	/* The first probe, at the limit: not available, and why. */
	CHECK(!iol_has(IOL_FEAT_PIDFD_OPEN));
	CHECK(iol_features()->feat[IOL_FEAT_PIDFD_OPEN].error == EMFILE);
	CHECK(iol_features()->feat[IOL_FEAT_WAITID_PIDFD].error == EMFILE);
	free_fds(fds, n);

	snprintf(name, sizeof(name), "probe-emfile-%d", (int)getpid());
	CHECK(iol_table_open(name, NULL, &t) == 0);
	n = fill_fds(fds, 64);
	/* Still at the limit: the resource error, as documented. */
	CHECK(iol_process_spawn(t, "/bin/true", argv, NULL) == -EMFILE);
	CHECK(iol_process_open(t, getpid()) == -EMFILE);
	free_fds(fds, n);

	/* Descriptors free: the probe is asked again and the calls work. */
	h = iol_process_spawn(t, "/bin/true", argv, NULL);
	if (h < 0)
		fprintf(stderr, "iol_process_spawn: %s\n", strerror(-h));
	CHECK(h > 0);
	CHECK(iol_wait(h, 10000000000LL) == 0);
	CHECK(iol_process_exit_status(h, &es) == 0);
	CHECK(es.exited && es.code == 0);
	CHECK(iol_close(h) == 0);
	/* Every feature (io_uring's too, probed at the limit as well) now
	 * reads as in the parent, which probed with descriptors to spare. */
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		if (iol_features()->feat[i].available != parent_has(i))
			fprintf(stderr, "%s: %s\n", iol_feature_name(i),
				iol_features()->feat[i].reason);
		CHECK(iol_features()->feat[i].available == parent_has(i));
		CHECK(iol_has(i) == parent_has(i));
	}
	CHECK(strcmp(iol_features()->backend,
		     parent_has(IOL_FEAT_IO_URING) ? "io_uring" : "epoll") == 0);
	CHECK(iol_table_close(t) == 0);
	CHECK(iol_table_unlink(name) == 0);
	return 0;
}

static void test_resource_errors_not_remembered(void **state)
{
	(void)state;
	if (!iol_has(IOL_FEAT_PIDFD_OPEN) || !iol_has(IOL_FEAT_WAITID_PIDFD)) {
		print_message("  skip: pidfds are missing here\n");
		skip();
	}
	assert_int_equal(in_child("emfile", NULL, NULL, -1), 0);
}

static const struct {
	const char *mode;
	int (*fn)(void);
} child_modes[] = {
    {"sigchld_ignored", child_sigchld_ignored},
    {"concurrent", child_concurrent_first_calls},
    {"disable_some", child_disable_some},
    {"disable_uring", child_disable_uring},
    {"backend_epoll", child_backend_epoll},
    {"backend_uring", child_backend_uring},
    {"backend_auto", child_backend_auto},
    {"unknown_name", child_unknown_name},
    {"emfile", child_emfile},
};

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_every_feature_recorded),
	    cmocka_unit_test(test_environment),
	    cmocka_unit_test(test_once_and_thread_safe),
	    cmocka_unit_test(test_uring_setup),
	    cmocka_unit_test(test_uring_setup_flags),
	    cmocka_unit_test(test_uring_feature_bits),
	    cmocka_unit_test(test_uring_opcodes),
	    cmocka_unit_test(test_uring_futex_ops_work),
	    cmocka_unit_test(test_uring_pbuf_multishot_recv_ring_fd),
	    cmocka_unit_test(test_uring_multishot_accept),
	    cmocka_unit_test(test_futex_waitv),
	    cmocka_unit_test(test_futex2),
	    cmocka_unit_test(test_pidfd_open_and_signal),
	    cmocka_unit_test(test_clone3_pidfd),
	    cmocka_unit_test(test_waitid_pidfd),
	    cmocka_unit_test(test_pidfd_get_info_exit),
	    cmocka_unit_test(test_pidfs),
	    cmocka_unit_test(test_disable_masks),
	    cmocka_unit_test(test_disable_io_uring_masks_all_uring),
	    cmocka_unit_test(test_backend_override),
	    cmocka_unit_test(test_unknown_name_warned_once),
	    cmocka_unit_test(test_probe_child_invisible_to_application),
	    cmocka_unit_test(test_resource_errors_not_remembered),
	};

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		for (size_t i = 0; i < sizeof(child_modes) / sizeof(child_modes[0]); i++)
			if (strcmp(argv[2], child_modes[i].mode) == 0)
				return child_modes[i].fn();
		return 125;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
