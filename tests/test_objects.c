/* SPDX-License-Identifier: MIT */
/*
 * Named objects and handles: names (hash lookup, lengths, anonymous),
 * types and open flags, creation arguments of existing objects, lifetime
 * and reference counts across processes, stale handles and tokens,
 * export/import, dup, query, and handles across fork().
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "tests/helpers.h"

enum { MUTEX, EVENT, SEM, NKINDS };

static const char *const kind_name[NKINDS] = {"mutex", "event", "semaphore"};

static int open_as(iol_table *t, int kind, const char *name, unsigned flags)
{
	switch (kind) {
	case MUTEX:
		return iol_mutex_open(t, name, flags, false);
	case EVENT:
		return iol_event_open(t, name, flags, false, false);
	default:
		return iol_semaphore_open(t, name, flags, 0, 10);
	}
}

static const int kind_type[NKINDS] = {IOL_TYPE_MUTEX, IOL_TYPE_EVENT, IOL_TYPE_SEMAPHORE};

static uint32_t refs_of(int h)
{
	struct iol_info info;

	assert_int_equal(iol_query(h, &info), 0);
	return info.refs;
}

/* ---- names ---------------------------------------------------------- */

static void test_name_lengths(void **state)
{
	char n255[256], n256[257], big[5000];
	struct iol_info info;
	struct th_tab tt;

	(void)state;
	memset(n255, 'n', 255);
	n255[255] = '\0';
	memset(n256, 'n', 256);
	n256[256] = '\0';
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	th_tab_new(&tt, "namelen", 0);
	for (int k = 0; k < NKINDS; k++) {
		char one[2] = {(char)('a' + k), '\0'};
		int h;

		h = open_as(tt.t, k, one, IOL_CREATE);
		assert_true(h > 0);
		assert_int_equal(iol_query(h, &info), 0);
		assert_string_equal(info.name, one);
		assert_int_equal(info.type, kind_type[k]);

		n255[0] = (char)('A' + k);
		h = open_as(tt.t, k, n255, IOL_CREATE | IOL_EXCL);
		assert_true(h > 0);
		assert_int_equal(iol_query(h, &info), 0);
		assert_string_equal(info.name, n255);
		assert_true(open_as(tt.t, k, n255, 0) > 0);

		for (unsigned f = 0; f <= IOL_CREATE; f++) {
			assert_int_equal(open_as(tt.t, k, n256, f), -ENAMETOOLONG);
			assert_int_equal(open_as(tt.t, k, big, f), -ENAMETOOLONG);
			assert_int_equal(open_as(tt.t, k, "", f), -EINVAL);
		}
	}
	/* A 256-byte name whose first 255 bytes name an object is still too
	 * long, not that object. */
	memcpy(n256, n255, 255);
	assert_int_equal(open_as(tt.t, SEM, n256, 0), -ENAMETOOLONG);
	th_tab_del(&tt);
}

/* Names are bytes: anything but NUL. */
static void test_name_bytes(void **state)
{
	const char *names[] = {"a/b", "with space", "\xff\xfe\x01", "\xc3\xbc", "../..",
			       "x\n", "%s%n",	    "name",	    "Name",	"name "};
	int h[sizeof(names) / sizeof(names[0])];
	struct iol_info info;
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "namebytes", 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		h[i] = iol_semaphore_open(tt.t, names[i], IOL_CREATE | IOL_EXCL, (uint32_t)i, 100);
		if (h[i] <= 0)
			fail_msg("name %zu: %d", i, h[i]);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int o = iol_semaphore_open(tt.t, names[i], 0, 0, 1);

		assert_true(o > 0);
		assert_int_equal(iol_query(o, &info), 0);
		assert_string_equal(info.name, names[i]);
		assert_int_equal(info.u.semaphore.count, i);
	}
	th_tab_del(&tt);
}

/* Many names: every one found, each the right object, and lookups of
 * absent names answered; a lookup must not cost a scan of the table. */
#define MANY 30000

static int64_t lookup_cost(iol_table *t, int n, int rounds)
{
	int64_t best = INT64_MAX;
	char nm[32];

	for (int r = 0; r < 5; r++) {
		int64_t t0 = th_now_ns();

		for (int i = 0; i < rounds; i++) {
			snprintf(nm, sizeof(nm), "absent-%d", i);
			assert_int_equal(iol_event_open(t, nm, 0, false, false), -ENOENT);
		}
		int64_t dt = th_now_ns() - t0;

		if (dt < best)
			best = dt;
	}
	(void)n;
	return best / rounds;
}

static void test_many_names(void **state)
{
	struct th_tab tt, small;
	struct iol_info info;
	int64_t few, many;
	char nm[32];

	(void)state;
	th_tab_new(&tt, "many", 32768);
	for (int i = 0; i < MANY; i++) {
		int h;

		snprintf(nm, sizeof(nm), "name-%d", i);
		h = iol_semaphore_open(tt.t, nm, IOL_CREATE | IOL_EXCL, (uint32_t)(i % 97), 100);
		if (h <= 0)
			fail_msg("creating %s: %d", nm, h);
		assert_int_equal(iol_close(h), 0);
	}
	/* Closing the handles freed them: create again and keep them. */
	for (int i = 0; i < MANY; i++) {
		snprintf(nm, sizeof(nm), "name-%d", i);
		assert_true(iol_semaphore_open(tt.t, nm, IOL_CREATE | IOL_EXCL, (uint32_t)(i % 97),
					       100) > 0);
	}
	for (int i = MANY - 1; i >= 0; i--) {
		int h;

		snprintf(nm, sizeof(nm), "name-%d", i);
		h = iol_semaphore_open(tt.t, nm, 0, 0, 1);
		assert_true(h > 0);
		assert_int_equal(iol_query(h, &info), 0);
		assert_string_equal(info.name, nm);
		assert_int_equal(info.u.semaphore.count, i % 97);
		assert_int_equal(iol_close(h), 0);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(nm, sizeof(nm), "name-%d ", i); /* a near miss */
		assert_int_equal(iol_semaphore_open(tt.t, nm, 0, 0, 1), -ENOENT);
	}

	/* The cost of a miss with 30000 names against one with a handful.
	 * A linear scan would be thousands of times slower; allow 20x. */
	th_tab_new(&small, "few", 32768);
	for (int i = 0; i < 8; i++) {
		snprintf(nm, sizeof(nm), "name-%d", i);
		assert_true(iol_semaphore_open(small.t, nm, IOL_CREATE, 0, 1) > 0);
	}
	few = lookup_cost(small.t, 8, 2000);
	many = lookup_cost(tt.t, MANY, 2000);
	print_message("lookup miss: %lld ns with 8 names, %lld ns with %d names\n", (long long)few,
		      (long long)many, MANY);
	assert_true(many <= 20 * few + 2000);
	th_tab_del(&small);
	th_tab_del(&tt);
}

static void test_anonymous_objects(void **state)
{
	struct iol_info info;
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "anon", 0);
	for (int k = 0; k < NKINDS; k++) {
		/* No IOL_CREATE needed; any valid flags are fine. */
		for (unsigned f = 0; f <= (IOL_CREATE | IOL_EXCL); f++) {
			int h;

			if (f == IOL_EXCL)
				continue;
			h = open_as(tt.t, k, NULL, f);
			assert_true(h > 0);
			assert_int_equal(iol_query(h, &info), 0);
			assert_string_equal(info.name, "");
			assert_int_equal(info.type, kind_type[k]);
			assert_int_equal(info.refs, 1);
		}
	}
	/* Two anonymous objects are two objects. */
	{
		int a = iol_event_open(tt.t, NULL, 0, true, false);
		int b = iol_event_open(tt.t, NULL, 0, true, false);

		assert_true(a > 0 && b > 0 && a != b);
		assert_int_equal(iol_event_set(a), 0);
		assert_int_equal(iol_wait(b, 0), -ETIMEDOUT);
		assert_int_equal(iol_wait(a, 0), 0);
	}
	th_tab_del(&tt);
}

/* ---- types and flags -------------------------------------------------- */

static void test_name_of_another_type(void **state)
{
	static const unsigned flags[] = {0, IOL_CREATE, IOL_CREATE | IOL_EXCL};
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "types", 0);
	for (int have = 0; have < NKINDS; have++) {
		char nm[16];
		int h;

		snprintf(nm, sizeof(nm), "as-%s", kind_name[have]);
		h = open_as(tt.t, have, nm, IOL_CREATE | IOL_EXCL);
		assert_true(h > 0);
		for (int want = 0; want < NKINDS; want++) {
			for (size_t f = 0; f < 3; f++) {
				int r = open_as(tt.t, want, nm, flags[f]);

				if (want != have || flags[f] == (IOL_CREATE | IOL_EXCL)) {
					if (r != -EEXIST)
						fail_msg("%s \"%s\" opened as %s, flags %u: %d",
							 kind_name[have], nm, kind_name[want],
							 flags[f], r);
				} else {
					assert_true(r > 0);
					assert_int_equal(iol_close(r), 0);
				}
			}
		}
		/* Nothing changed: still one handle on it. */
		assert_int_equal(refs_of(h), 1);
	}
	th_tab_del(&tt);
}

static void test_missing_name_and_flags(void **state)
{
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "flags", 0);
	for (int k = 0; k < NKINDS; k++) {
		assert_int_equal(open_as(tt.t, k, "missing", 0), -ENOENT);
		assert_int_equal(open_as(tt.t, k, "missing", 0), -ENOENT); /* still */
		assert_int_equal(open_as(tt.t, k, "missing", IOL_EXCL), -EINVAL);
		assert_int_equal(open_as(tt.t, k, NULL, IOL_EXCL), -EINVAL);
		assert_int_equal(open_as(tt.t, k, "missing", 0x4), -EINVAL);
		assert_int_equal(open_as(tt.t, k, "missing", IOL_CREATE | 0x80000000u), -EINVAL);
		assert_int_equal(open_as(tt.t, k, NULL, 0x4), -EINVAL);
		assert_int_equal(open_as(NULL, k, "missing", IOL_CREATE), -EINVAL);
		assert_int_equal(open_as(NULL, k, NULL, 0), -EINVAL);
		/* none of these created it */
		assert_int_equal(open_as(tt.t, k, "missing", 0), -ENOENT);
	}
	th_tab_del(&tt);
}

/* Opening an existing object ignores the creation arguments. */
static void test_existing_ignores_creation_args(void **state)
{
	struct iol_info info;
	struct th_tab tt;
	int m, m2, e, e2, s, s2;

	(void)state;
	th_tab_new(&tt, "existing", 0);
	m = iol_mutex_open(tt.t, "m", IOL_CREATE, false);
	m2 = iol_mutex_open(tt.t, "m", IOL_CREATE, true);
	assert_true(m > 0 && m2 > 0);
	assert_int_equal(iol_query(m2, &info), 0);
	assert_int_equal(info.u.mutex.owner_tid, 0); /* not owned by the opener */
	assert_int_equal(iol_mutex_release(m2), -EPERM);
	/* and the other way round: created owned, opened "not owned" */
	m = iol_mutex_open(tt.t, "m-owned", IOL_CREATE, true);
	m2 = iol_mutex_open(tt.t, "m-owned", 0, false);
	assert_int_equal(iol_query(m2, &info), 0);
	assert_int_equal(info.u.mutex.owner_tid, th_gettid());
	assert_int_equal(info.u.mutex.recursion, 1);
	assert_int_equal(iol_mutex_release(m2), 1);

	e = iol_event_open(tt.t, "e", IOL_CREATE, true, false);
	e2 = iol_event_open(tt.t, "e", IOL_CREATE, false, true);
	assert_int_equal(iol_query(e2, &info), 0);
	assert_true(info.u.event.manual_reset);
	assert_false(info.u.event.signaled);
	e2 = iol_event_open(tt.t, "e", 0, false, true);
	assert_int_equal(iol_query(e2, &info), 0);
	assert_true(info.u.event.manual_reset);
	assert_false(info.u.event.signaled);
	(void)e;

	s = iol_semaphore_open(tt.t, "s", IOL_CREATE, 2, 7);
	s2 = iol_semaphore_open(tt.t, "s", IOL_CREATE, 5, 9);
	assert_int_equal(iol_query(s2, &info), 0);
	assert_int_equal(info.u.semaphore.count, 2);
	assert_int_equal(info.u.semaphore.max, 7);
	/* Without IOL_CREATE the arguments are not even looked at... */
	s2 = iol_semaphore_open(tt.t, "s", 0, 9, 0);
	assert_true(s2 > 0);
	s2 = iol_semaphore_open(tt.t, "s", 0, UINT32_MAX, UINT32_MAX);
	assert_true(s2 > 0);
	assert_int_equal(iol_query(s2, &info), 0);
	assert_int_equal(info.u.semaphore.count, 2);
	assert_int_equal(info.u.semaphore.max, 7);
	/* ...with it they are validated (header: "validated only when flags
	 * include IOL_CREATE"). */
	assert_int_equal(iol_semaphore_open(tt.t, "s", IOL_CREATE, 0, 0), -EINVAL);
	assert_int_equal(iol_semaphore_open(tt.t, "s", IOL_CREATE, 3, 2), -EINVAL);
	assert_int_equal(refs_of(s), 4);
	th_tab_del(&tt);
}

/* ---- lifetime ---------------------------------------------------------- */

static void test_last_close_frees(void **state)
{
	struct iol_info info;
	struct th_tab tt;
	int e, d, m;

	(void)state;
	th_tab_new(&tt, "lifetime", 0);
	e = iol_event_open(tt.t, "x", IOL_CREATE, true, false);
	assert_int_equal(iol_event_set(e), 0);
	d = iol_dup(e);
	assert_true(d > 0);
	assert_int_equal(iol_close(e), 0);
	/* alive through the dup, name and state intact */
	assert_int_equal(iol_query(d, &info), 0);
	assert_true(info.u.event.signaled);
	assert_int_equal(info.refs, 1);
	e = iol_event_open(tt.t, "x", 0, false, false);
	assert_true(e > 0);
	assert_int_equal(iol_close(e), 0);
	assert_int_equal(iol_close(d), 0);
	/* gone: the name is free, even for another type */
	assert_int_equal(iol_event_open(tt.t, "x", 0, false, false), -ENOENT);
	m = iol_mutex_open(tt.t, "x", IOL_CREATE | IOL_EXCL, false);
	assert_true(m > 0);
	assert_int_equal(iol_query(m, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_MUTEX);
	assert_int_equal(info.refs, 1);
	/* a fresh event by that name starts unsignaled */
	assert_int_equal(iol_close(m), 0);
	e = iol_event_open(tt.t, "x", IOL_CREATE, true, false);
	assert_int_equal(iol_wait(e, 0), -ETIMEDOUT);
	th_tab_del(&tt);
}

/* References are counted over every process. */
struct refs_arg {
	const char *table;
	struct th_chan c;
};

static int child_refs(void *arg)
{
	struct refs_arg *a = arg;
	iol_table *t;
	int h1, h2;

	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	h1 = iol_event_open(t, "shared", 0, false, false);
	TH_CHECK(h1 > 0);
	h2 = iol_dup(h1);
	TH_CHECK(h2 > 0);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), '2'), 0); /* holding two */
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(&a->c), TH_LONG_MS), 'c');
	TH_CHECK_EQ(iol_close(h1), 0);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), '1'), 0); /* holding one */
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(&a->c), TH_LONG_MS), 'x');
	/* The parent closed all of its handles: ours keeps it alive. */
	TH_CHECK_EQ(iol_event_set(h2), 0);
	TH_CHECK(iol_event_open(t, "shared", 0, false, false) > 0);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_refs_across_processes(void **state)
{
	struct refs_arg a;
	struct th_tab tt;
	uint64_t tok;
	int h, d, n, i;
	pid_t pid;

	(void)state;
	th_tab_new(&tt, "refs", 0);
	a.table = tt.name;
	th_chan_open(&a.c);
	h = iol_event_open(tt.t, "shared", IOL_CREATE, true, false);
	assert_int_equal(refs_of(h), 1);
	d = iol_dup(h);
	assert_int_equal(refs_of(h), 2);
	n = iol_event_open(tt.t, "shared", 0, false, false);
	assert_int_equal(refs_of(h), 3);
	assert_int_equal(iol_export(h, &tok), 0);
	i = iol_import(tt.t, tok);
	assert_true(i > 0);
	assert_int_equal(refs_of(h), 4);

	pid = th_spawn(child_refs, &a);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), '2');
	assert_int_equal(refs_of(h), 6);
	assert_int_equal(th_say(TH_TO_CHILD(&a.c), 'c'), 0);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), '1');
	assert_int_equal(refs_of(h), 5);
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_close(d), 0);
	assert_int_equal(iol_close(n), 0);
	assert_int_equal(refs_of(i), 2);
	assert_int_equal(iol_close(i), 0);
	assert_int_equal(th_say(TH_TO_CHILD(&a.c), 'x'), 0);
	assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
	/* The child closed its table: the object is gone. */
	assert_int_equal(iol_event_open(tt.t, "shared", 0, false, false), -ENOENT);
	th_chan_close(&a.c);
	th_tab_del(&tt);
}

/* A process that exits normally without closing anything gives its
 * references back too (so the object dies with the last holder). */
static int child_exit_holding(void *arg)
{
	const char *table = arg;
	iol_table *t;

	TH_CHECK_EQ(iol_table_open(table, NULL, &t), 0);
	TH_CHECK(iol_semaphore_open(t, "held", 0, 0, 1) > 0);
	TH_CHECK(iol_semaphore_open(t, "held", 0, 0, 1) > 0);
	exit(0); /* no iol_table_close */
}

static void test_normal_exit_gives_refs_back(void **state)
{
	struct th_tab tt;
	int h;

	(void)state;
	th_tab_new(&tt, "exitrefs", 0);
	h = iol_semaphore_open(tt.t, "held", IOL_CREATE, 0, 1);
	assert_int_equal(th_run(child_exit_holding, tt.name), 0);
	assert_int_equal(refs_of(h), 1);
	th_tab_del(&tt);
}

/* ---- stale handles and tokens ----------------------------------------- */

static void expect_all_ebadf(int h)
{
	struct iol_info info;
	uint64_t tok;
	int hs[2] = {h, h};

	assert_int_equal(iol_query(h, &info), -EBADF);
	assert_int_equal(iol_wait(h, 0), -EBADF);
	assert_int_equal(iol_wait(h, IOL_INFINITE), -EBADF);
	assert_int_equal(iol_wait_many(hs, 1, 0, 0), -EBADF);
	assert_int_equal(iol_wait_many(hs, 1, IOL_WAIT_ALL, 0), -EBADF);
	assert_int_equal(iol_dup(h), -EBADF);
	assert_int_equal(iol_export(h, &tok), -EBADF);
	assert_int_equal(iol_event_set(h), -EBADF);
	assert_int_equal(iol_event_reset(h), -EBADF);
	assert_int_equal(iol_event_pulse(h), -EBADF);
	assert_int_equal(iol_mutex_release(h), -EBADF);
	assert_int_equal(iol_semaphore_release(h, 1), -EBADF);
	assert_int_equal(iol_close(h), -EBADF);
}

static void test_stale_handles(void **state)
{
	int old[16], fresh[16], nold = 0;
	struct th_tab tt;

	(void)state;
	th_tab_new(&tt, "stale", 16);
	for (int k = 0; k < NKINDS; k++) {
		int h = open_as(tt.t, k, "obj", IOL_CREATE);

		assert_int_equal(iol_close(h), 0);
		expect_all_ebadf(h);
		old[nold++] = h;
	}
	/* Fill every slot of the table, so each old object's slot is reused
	 * by a new object of each kind. */
	for (int i = 0; i < 16; i++) {
		fresh[i] = open_as(tt.t, i % NKINDS, NULL, 0);
		assert_true(fresh[i] > 0);
	}
	for (int i = 0; i < nold; i++) {
		bool reissued = false;

		/* Handle values may be reused like descriptors; an old value
		 * that names a new handle is not stale. */
		for (int j = 0; j < 16; j++)
			reissued |= fresh[j] == old[i];
		if (!reissued)
			expect_all_ebadf(old[i]);
	}
	for (int i = 0; i < 16; i++)
		assert_int_equal(refs_of(fresh[i]), 1);
	th_tab_del(&tt);
}

static void test_stale_tokens(void **state)
{
	uint64_t tok[NKINDS];
	struct th_tab tt;
	int held[16];

	(void)state;
	th_tab_new(&tt, "staletok", 16);
	for (int k = 0; k < NKINDS; k++) {
		int h = open_as(tt.t, k, NULL, 0), i;

		assert_int_equal(iol_export(h, &tok[k]), 0);
		i = iol_import(tt.t, tok[k]);
		assert_true(i > 0);
		assert_int_equal(iol_close(h), 0);
		assert_int_equal(iol_close(i), 0);
		assert_int_equal(iol_import(tt.t, tok[k]), -ENOENT);
	}
	/* Every slot reused, by every kind of object. */
	for (int i = 0; i < 16; i++) {
		held[i] = open_as(tt.t, i % NKINDS, NULL, 0);
		assert_true(held[i] > 0);
	}
	for (int k = 0; k < NKINDS; k++)
		assert_int_equal(iol_import(tt.t, tok[k]), -ENOENT);
	for (int i = 0; i < 16; i++)
		assert_int_equal(refs_of(held[i]), 1);
	/* And after a second round of reuse. */
	for (int i = 0; i < 16; i++)
		assert_int_equal(iol_close(held[i]), 0);
	for (int i = 0; i < 16; i++)
		held[i] = open_as(tt.t, (i + 1) % NKINDS, NULL, 0);
	for (int k = 0; k < NKINDS; k++)
		assert_int_equal(iol_import(tt.t, tok[k]), -ENOENT);
	th_tab_del(&tt);
}

/* ---- export / import ---------------------------------------------------- */

struct tok_arg {
	const char *table;
	uint64_t tok;
};

static int child_import(void *arg)
{
	struct tok_arg *a = arg;
	struct iol_info info;
	iol_table *t;
	int h;

	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	h = iol_import(t, a->tok);
	TH_CHECK(h > 0);
	TH_CHECK_EQ(iol_query(h, &info), 0);
	TH_CHECK_EQ(info.type, IOL_TYPE_EVENT);
	TH_CHECK_EQ(info.refs, 2);
	TH_CHECK_EQ(iol_event_set(h), 0);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_tokens(void **state)
{
	struct th_tab tt, other;
	struct tok_arg a;
	uint64_t tok, tok2;
	int h, s, i;

	(void)state;
	th_tab_new(&tt, "tokens", 0);
	th_tab_new(&other, "tokens-other", 0);
	h = iol_event_open(tt.t, NULL, 0, false, false); /* anonymous */
	assert_int_equal(iol_export(h, &tok), 0);
	assert_int_equal(iol_export(h, &tok2), 0);
	assert_true(tok == tok2); /* names the object, not the handle */
	i = iol_dup(h);
	assert_int_equal(iol_export(i, &tok2), 0);
	assert_true(tok == tok2);
	assert_int_equal(iol_close(i), 0);
	assert_int_equal(iol_export(h, NULL), -EINVAL);

	/* Another process imports and signals it. */
	a = (struct tok_arg){.table = tt.name, .tok = tok};
	assert_int_equal(th_run(child_import, &a), 0);
	assert_int_equal(iol_wait(h, 0), 0);

	/* Not in another table, even at the same slot. */
	s = iol_event_open(other.t, NULL, 0, false, false);
	assert_true(s > 0);
	assert_int_equal(iol_import(other.t, tok), -ENOENT);
	assert_int_equal(iol_import(NULL, tok), -EINVAL);
	/* Garbage tokens are refused, never followed. */
	{
		const uint64_t junk[] = {0,
					 1,
					 UINT64_MAX,
					 tok ^ 1,
					 tok ^ (1ull << 63),
					 tok + (1ull << 24),
					 0x8000000000000000ull,
					 0x00000000ffffffffull};

		for (size_t k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
			int r = iol_import(tt.t, junk[k]);

			if (r != -ENOENT)
				fail_msg("token %#llx: %d", (unsigned long long)junk[k], r);
		}
	}
	th_tab_del(&other);
	th_tab_del(&tt);
}

static void test_dup(void **state)
{
	struct iol_info info;
	struct th_tab tt;
	int h, d, d2;

	(void)state;
	th_tab_new(&tt, "dup", 0);
	h = iol_semaphore_open(tt.t, "s", IOL_CREATE, 0, 5);
	d = iol_dup(h);
	assert_true(d > 0 && d != h);
	assert_int_equal(iol_semaphore_release(d, 2), 0);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.u.semaphore.count, 2);
	assert_int_equal(info.refs, 2);
	assert_int_equal(iol_close(h), 0);
	d2 = iol_dup(d);
	assert_true(d2 > 0 && d2 != d);
	assert_int_equal(iol_wait(d2, 0), 0);
	assert_int_equal(iol_query(d, &info), 0);
	assert_int_equal(info.u.semaphore.count, 1);
	assert_int_equal(info.refs, 2);
	th_tab_del(&tt);
}

static void test_query(void **state)
{
	struct iol_info info;
	struct th_tab tt;
	int m, e, s;

	(void)state;
	th_tab_new(&tt, "query", 0);
	m = iol_mutex_open(tt.t, "qm", IOL_CREATE, true);
	e = iol_event_open(tt.t, "qe", IOL_CREATE, true, true);
	s = iol_semaphore_open(tt.t, NULL, 0, 3, 9);
	memset(&info, 0x5a, sizeof(info));
	assert_int_equal(iol_query(m, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_MUTEX);
	assert_string_equal(info.name, "qm");
	assert_int_equal(info.refs, 1);
	assert_int_equal(info.u.mutex.owner_tid, th_gettid());
	assert_int_equal(info.u.mutex.recursion, 1);
	assert_false(info.u.mutex.abandoned);
	memset(&info, 0x5a, sizeof(info));
	assert_int_equal(iol_query(e, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_EVENT);
	assert_string_equal(info.name, "qe");
	assert_true(info.u.event.manual_reset);
	assert_true(info.u.event.signaled);
	memset(&info, 0x5a, sizeof(info));
	assert_int_equal(iol_query(s, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_SEMAPHORE);
	assert_string_equal(info.name, "");
	assert_int_equal(info.u.semaphore.count, 3);
	assert_int_equal(info.u.semaphore.max, 9);
	assert_int_equal(iol_query(s, NULL), -EINVAL);
	assert_int_equal(iol_mutex_release(m), 1);
	assert_int_equal(iol_query(m, &info), 0);
	assert_int_equal(info.u.mutex.owner_tid, 0);
	assert_int_equal(info.u.mutex.recursion, 0);

	assert_string_equal(iol_type_name(IOL_TYPE_MUTEX), "mutex");
	assert_string_equal(iol_type_name(IOL_TYPE_EVENT), "event");
	assert_string_equal(iol_type_name(IOL_TYPE_SEMAPHORE), "semaphore");
	assert_string_equal(iol_type_name(0), "unknown");
	assert_string_equal(iol_type_name(-1), "unknown");
	assert_string_equal(iol_type_name(1000), "unknown");
	th_tab_del(&tt);
}

/* ---- fork() ------------------------------------------------------------- */

struct fork_arg {
	iol_table *t;
	const char *table;
	int ev, mx, sem;
	uint64_t tok;
	bool normal_exit;
};

static int child_after_fork(void *arg)
{
	struct fork_arg *a = arg;
	const int hs[] = {a->ev, a->mx, a->sem};
	struct iol_info info;
	iol_table *t;
	uint64_t tok;
	int h;

	for (size_t i = 0; i < 3; i++) {
		int hh[1] = {hs[i]};

		TH_CHECK_EQ(iol_query(hs[i], &info), -EBADF);
		TH_CHECK_EQ(iol_wait(hs[i], 0), -EBADF);
		TH_CHECK_EQ(iol_wait_many(hh, 1, 0, 0), -EBADF);
		TH_CHECK_EQ(iol_dup(hs[i]), -EBADF);
		TH_CHECK_EQ(iol_export(hs[i], &tok), -EBADF);
		TH_CHECK_EQ(iol_signal_and_wait(hs[i], hs[i], 0), -EBADF);
	}
	TH_CHECK_EQ(iol_event_set(a->ev), -EBADF);
	TH_CHECK_EQ(iol_mutex_release(a->mx), -EBADF);
	TH_CHECK_EQ(iol_semaphore_release(a->sem, 1), -EBADF);
	for (size_t i = 0; i < 3; i++)
		TH_CHECK_EQ(iol_close(hs[i]), -EBADF);
	/* The inherited table is not ours either. */
	TH_CHECK_EQ(iol_event_open(a->t, "ev", 0, false, false), -EBADF);
	TH_CHECK_EQ(iol_mutex_open(a->t, NULL, 0, false), -EBADF);
	TH_CHECK_EQ(iol_semaphore_open(a->t, "sem", 0, 0, 1), -EBADF);
	TH_CHECK_EQ(iol_import(a->t, a->tok), -EBADF);

	/* Open the table again: the objects are there, and handles made now
	 * work (whatever their values). */
	TH_CHECK_EQ(iol_table_open(a->table, NULL, &t), 0);
	h = iol_event_open(t, "ev", 0, false, false);
	TH_CHECK(h > 0);
	TH_CHECK_EQ(iol_query(h, &info), 0);
	TH_CHECK_EQ(info.refs, 3); /* the parent's two and this one */
	TH_CHECK_EQ(iol_close(h), 0);
	h = iol_import(t, a->tok);
	TH_CHECK(h > 0);
	TH_CHECK_EQ(iol_query(h, &info), 0);
	TH_CHECK_EQ(info.type, IOL_TYPE_SEMAPHORE);
	/* the mutex is the parent thread's, not ours */
	h = iol_mutex_open(t, "mx", 0, false);
	TH_CHECK(h > 0);
	TH_CHECK_EQ(iol_mutex_release(h), -EPERM);
	TH_CHECK_EQ(iol_wait(h, 0), -ETIMEDOUT);
	if (a->normal_exit)
		exit(0); /* atexit handlers run, the table is not closed */
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_fork_child_has_no_handles(void **state)
{
	struct iol_info info;
	struct fork_arg a;
	struct th_tab tt;
	int ev2;

	(void)state;
	th_tab_new(&tt, "fork", 0);
	a.t = tt.t;
	a.table = tt.name;
	a.ev = iol_event_open(tt.t, "ev", IOL_CREATE, true, false);
	ev2 = iol_dup(a.ev);
	a.mx = iol_mutex_open(tt.t, "mx", IOL_CREATE, true);
	a.sem = iol_semaphore_open(tt.t, "sem", IOL_CREATE, 1, 4);
	assert_int_equal(iol_export(a.sem, &a.tok), 0);
	for (int round = 0; round < 2; round++) {
		a.normal_exit = round == 1;
		assert_int_equal(th_run(child_after_fork, &a), 0);
		/* The parent's references and state are untouched. */
		assert_int_equal(refs_of(a.ev), 2);
		assert_int_equal(refs_of(a.mx), 1);
		assert_int_equal(refs_of(a.sem), 1);
		assert_int_equal(iol_query(a.mx, &info), 0);
		assert_int_equal(info.u.mutex.owner_tid, th_gettid());
		assert_int_equal(info.u.mutex.recursion, 1);
		assert_false(info.u.mutex.abandoned);
		assert_int_equal(iol_query(a.sem, &info), 0);
		assert_int_equal(info.u.semaphore.count, 1);
	}
	/* Everything still works here. */
	assert_int_equal(iol_event_set(ev2), 0);
	assert_int_equal(iol_wait(a.ev, 0), 0);
	assert_int_equal(iol_mutex_release(a.mx), 1);
	assert_int_equal(iol_wait(a.sem, 0), 0);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_name_lengths, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_name_bytes, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_many_names, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_anonymous_objects, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_name_of_another_type, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_missing_name_and_flags, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_existing_ignores_creation_args, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_last_close_frees, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_refs_across_processes, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_normal_exit_gives_refs_back, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_stale_handles, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_stale_tokens, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_tokens, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_dup, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_query, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_fork_child_has_no_handles, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
