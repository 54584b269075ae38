/* SPDX-License-Identifier: MIT */
/* Fault injection points (see src/fault.h); empty in normal builds. */
#include "src/fault.h"

#ifdef IOLI_FAULT_INJECTION
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char point[64];
static long remaining;
static atomic_int state; /* 0 unread, 1 armed, 2 off */

static void arm(void)
{
	const char *env = getenv("IOLAYER_FAULT");
	const char *colon;
	size_t n;

	if (!env || !*env) {
		atomic_store(&state, 2);
		return;
	}
	colon = strchr(env, ':');
	n = colon ? (size_t)(colon - env) : strlen(env);
	if (n >= sizeof(point))
		n = sizeof(point) - 1;
	memcpy(point, env, n);
	point[n] = '\0';
	remaining = colon ? strtol(colon + 1, NULL, 10) : 1;
	if (remaining < 1)
		remaining = 1;
	atomic_store(&state, 1);
}

void ioli_fault_point(const char *name)
{
	int s = atomic_load_explicit(&state, memory_order_relaxed);

	if (s == 0) {
		arm();
		s = atomic_load(&state);
	}
	if (s != 1 || (strcmp(point, "any") != 0 && strcmp(point, name) != 0))
		return;
	if (__atomic_sub_fetch(&remaining, 1, __ATOMIC_RELAXED) == 0)
		_exit(IOLI_FAULT_EXIT);
}
#else
typedef int ioli_fault_unused; /* a translation unit may not be empty */
#endif
