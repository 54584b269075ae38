/* SPDX-License-Identifier: MIT */
/*
 * The environment the probe reports beside the features: the io_uring
 * sysctls, RLIMIT_MEMLOCK, the kernel release and the liburing version the
 * library was built against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "src/compat.h"
#include "src/probe/probe_internal.h"

/* liburing >= 2.4 says its version in IO_URING_VERSION_MAJOR/MINOR; 2.3
 * does not, so the Makefile passes what pkg-config says at build time. */
#if defined(IO_URING_VERSION_MAJOR) && defined(IO_URING_VERSION_MINOR)
#define BUILT_LIBURING_MAJOR IO_URING_VERSION_MAJOR
#define BUILT_LIBURING_MINOR IO_URING_VERSION_MINOR
#elif defined(IOLI_LIBURING_PC_MAJOR) && defined(IOLI_LIBURING_PC_MINOR)
#define BUILT_LIBURING_MAJOR IOLI_LIBURING_PC_MAJOR
#define BUILT_LIBURING_MINOR IOLI_LIBURING_PC_MINOR
#else
#define BUILT_LIBURING_MAJOR (-1)
#define BUILT_LIBURING_MINOR (-1)
#endif

/* A sysctl holding one integer, or -1 when it is missing or unreadable
 * (kernel.io_uring_disabled and io_uring_group appeared in 6.6). */
static long read_sysctl_long(const char *path)
{
	FILE *fp = fopen(path, "re");
	long v;

	if (!fp)
		return -1;
	if (fscanf(fp, "%ld", &v) != 1)
		v = -1;
	fclose(fp);
	return v;
}

static uint64_t rlim_to_u64(rlim_t r)
{
	return r == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r;
}

void ioli_probe_env(struct iol_features *f)
{
	struct utsname u;
	struct rlimit rl;

	if (uname(&u) == 0)
		snprintf(f->kernel_release, sizeof(f->kernel_release), "%s", u.release);
	else
		snprintf(f->kernel_release, sizeof(f->kernel_release), "unknown");

	f->io_uring_disabled = (int)read_sysctl_long("/proc/sys/kernel/io_uring_disabled");
	f->io_uring_group = read_sysctl_long("/proc/sys/kernel/io_uring_group");

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		f->memlock_cur = rlim_to_u64(rl.rlim_cur);
		f->memlock_max = rlim_to_u64(rl.rlim_max);
	}

	f->liburing_major = BUILT_LIBURING_MAJOR;
	f->liburing_minor = BUILT_LIBURING_MINOR;
}
