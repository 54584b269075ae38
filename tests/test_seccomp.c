/* SPDX-License-Identifier: MIT */
/*
 * The probe under seccomp filters that answer with errors, as container
 * profiles do: it must not crash, must report each refused feature as
 * missing with the errno the filter gave, and the library must choose its
 * fallbacks from that.  Each scenario runs in a forked child that installs
 * its filter before its first (and only) probe; this process never probes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "iolayer.h"
#include "tests/check.h"
#include "src/compat.h"

#define CHECK(cond) T_CHECK(cond)

struct rule {
	const char *syscall;
	long fallback_nr; /* when this libseccomp does not know the name */
	int err;
};

static int install(const struct rule *rules, size_t n)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		int nr = seccomp_syscall_resolve_name(rules[i].syscall);

		if (nr == __NR_SCMP_ERROR)
			nr = (int)rules[i].fallback_nr;
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rules[i].err), nr, 0);
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

/* Runs fn in a child under the filter; returns the child's exit status. */
static int filtered_child(const struct rule *rules, size_t n, int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		int r = install(rules, n);

		if (r != 0) {
			fprintf(stderr, "seccomp filter not installed: %s\n", strerror(-r));
			_exit(100);
		}
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("the probe died of signal %d under the filter", WTERMSIG(st));
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static bool all_uring_missing_with(const struct iol_features *f, int err)
{
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		bool uring = i == IOL_FEAT_IO_URING || strncmp(f->feat[i].name, "uring_", 6) == 0;

		if (uring && (f->feat[i].available || f->feat[i].error != err))
			return false;
	}
	return true;
}

/* ---- the scenario: io_uring_setup EPERM, futex_waitv ENOSYS ---- */

static int child_eperm_enosys(void)
{
	const struct iol_features *f;

	/* The filter is in force: the direct calls fail as configured. */
	CHECK(syscall(__NR_io_uring_setup, 4, NULL) == -1 && errno == EPERM);
	CHECK(syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0) == -1 && errno == ENOSYS);

	f = iol_features();
	CHECK(!iol_has(IOL_FEAT_IO_URING));
	CHECK(f->feat[IOL_FEAT_IO_URING].error == EPERM);
	CHECK(strstr(f->feat[IOL_FEAT_IO_URING].reason, "EPERM") != NULL);
	CHECK(all_uring_missing_with(f, EPERM));

	CHECK(!iol_has(IOL_FEAT_FUTEX_WAITV));
	CHECK(f->feat[IOL_FEAT_FUTEX_WAITV].error == ENOSYS);
	CHECK(strstr(f->feat[IOL_FEAT_FUTEX_WAITV].reason, "ENOSYS") != NULL);

	CHECK(strcmp(f->backend, "epoll") == 0);
	CHECK(strstr(f->backend_reason, "EPERM") != NULL);

	/* Nothing else was refused: the other families are unaffected. */
	CHECK(iol_has(IOL_FEAT_PIDFD_OPEN) == (syscall(SYS_pidfd_open, getpid(), 0) >= 0));

	/* The core needs futex_waitv: no table without it, for shared and
	 * private tables alike, and nothing is created on the way. */
	iol_table *t = NULL;
	CHECK(iol_table_open("seccomp-core", NULL, &t) == -ENOSYS && t == NULL);
	CHECK(iol_table_open(NULL, &(struct iol_table_opts){.flags = IOL_TABLE_PRIVATE}, &t) ==
	      -ENOSYS);
	CHECK(iol_table_unlink("seccomp-core") == -ENOENT);
	/* (The IO pool coming up on epoll here is checked in the pool's tests.) */
	return 0;
}

static void test_uring_eperm_futex_waitv_enosys(void **state)
{
	static const struct rule rules[] = {
	    {"io_uring_setup", __NR_io_uring_setup, EPERM},
	    {"futex_waitv", SYS_futex_waitv, ENOSYS},
	};

	(void)state;
	assert_int_equal(filtered_child(rules, 2, child_eperm_enosys), 0);
}

/* ---- io_uring ENOSYS, clone3 ENOSYS (Docker's default profile refuses
 * clone3 this way), futex_wake ENOSYS ---------------------------------- */

static int child_enosys(void)
{
	const struct iol_features *f = iol_features();

	CHECK(f->feat[IOL_FEAT_IO_URING].error == ENOSYS);
	CHECK(all_uring_missing_with(f, ENOSYS));
	CHECK(strcmp(f->backend, "epoll") == 0);

	CHECK(!iol_has(IOL_FEAT_CLONE3_PIDFD));
	CHECK(f->feat[IOL_FEAT_CLONE3_PIDFD].error == ENOSYS);
	CHECK(!iol_has(IOL_FEAT_FUTEX2));
	CHECK(f->feat[IOL_FEAT_FUTEX2].error == ENOSYS);

	/* Without clone3 the probe still tests the pidfd features on a child
	 * made with clone() and pidfd_open(): they need no clone3. */
	if (syscall(SYS_pidfd_open, getpid(), 0) >= 0) {
		CHECK(iol_has(IOL_FEAT_PIDFD_OPEN));
		CHECK(iol_has(IOL_FEAT_WAITID_PIDFD));
	}
	return 0;
}

static void test_enosys_everywhere(void **state)
{
	static const struct rule rules[] = {
	    {"io_uring_setup", __NR_io_uring_setup, ENOSYS},
	    {"clone3", SYS_clone3, ENOSYS},
	    {"futex_wake", SYS_futex_wake, ENOSYS},
	};

	(void)state;
	assert_int_equal(filtered_child(rules, 3, child_enosys), 0);
}

/* ---- EINVAL also means missing --------------------------------------- */

static int child_einval(void)
{
	const struct iol_features *f = iol_features();

	CHECK(f->feat[IOL_FEAT_IO_URING].error == EINVAL);
	CHECK(!iol_has(IOL_FEAT_FUTEX_WAITV));
	CHECK(f->feat[IOL_FEAT_FUTEX_WAITV].error == EINVAL);
	CHECK(!iol_has(IOL_FEAT_PIDFD_OPEN));
	CHECK(f->feat[IOL_FEAT_PIDFD_OPEN].error == EINVAL);
	CHECK(!iol_has(IOL_FEAT_PIDFD_SEND_SIGNAL));
	/* pidfd_send_signal needs a pidfd; the reason says it had none. */
	CHECK(strlen(f->feat[IOL_FEAT_PIDFD_SEND_SIGNAL].reason) > 0);
	CHECK(strcmp(f->backend, "epoll") == 0);
	return 0;
}

static void test_einval_is_missing(void **state)
{
	static const struct rule rules[] = {
	    {"io_uring_setup", __NR_io_uring_setup, EINVAL},
	    {"futex_waitv", SYS_futex_waitv, EINVAL},
	    {"pidfd_open", SYS_pidfd_open, EINVAL},
	};

	(void)state;
	assert_int_equal(filtered_child(rules, 3, child_einval), 0);
}

/* ---- io_uring allowed, but registering and the newer setup flags
 * refused: the ring features degrade one by one -------------------------- */

static int child_register_eperm(void)
{
	const struct iol_features *f = iol_features();

	CHECK(iol_has(IOL_FEAT_IO_URING));
	CHECK(strcmp(f->backend, "io_uring") == 0);
	/* IORING_REGISTER_PROBE, PBUF_RING and RING_FDS go through
	 * io_uring_register. */
	CHECK(!iol_has(IOL_FEAT_URING_OP_READ));
	CHECK(f->feat[IOL_FEAT_URING_OP_READ].error == EPERM);
	CHECK(!iol_has(IOL_FEAT_URING_PBUF_RING));
	CHECK(!iol_has(IOL_FEAT_URING_MULTISHOT_RECV));
	CHECK(!iol_has(IOL_FEAT_URING_REGISTER_RING_FD));
	return 0;
}

static void test_register_refused(void **state)
{
	static const struct rule rules[] = {
	    {"io_uring_register", __NR_io_uring_register, EPERM},
	};

	(void)state;
	if (syscall(__NR_io_uring_setup, 0, NULL) == -1 && errno == ENOSYS) {
		print_message("  skip: this kernel has no io_uring\n");
		skip();
	}
	assert_int_equal(filtered_child(rules, 1, child_register_eperm), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uring_eperm_futex_waitv_enosys),
	    cmocka_unit_test(test_enosys_everywhere),
	    cmocka_unit_test(test_einval_is_missing),
	    cmocka_unit_test(test_register_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
