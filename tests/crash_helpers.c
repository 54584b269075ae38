/* SPDX-License-Identifier: MIT */
/* Helpers for the crash-safety tests (see crash_helpers.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/cli_run.h"
#include "tests/crash_helpers.h"

_Noreturn void crash_child_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "child %d: %s:%d: check failed: %s\n", (int)getpid(), file, line, what);
	_exit(100 + line % 100);
}

/* ---- child processes ------------------------------------------------- */

bool crash_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

bool crash_read(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

void crash_fork(struct crash_child *c, void (*fn)(int rd, int wr, void *arg), void *arg)
{
	int down[2], up[2];

	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	fflush(NULL);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(down[1]);
		close(up[0]);
		fn(down[0], up[1], arg);
		_exit(99); /* fn must not return */
	}
	close(down[0]);
	close(up[1]);
	c->to = down[1];
	c->from = up[0];
}

void crash_send(struct crash_child *c, const void *buf, size_t n)
{
	assert_true(crash_write(c->to, buf, n));
}

void crash_recv(struct crash_child *c, void *buf, size_t n)
{
	if (!crash_read(c->from, buf, n)) {
		int st = crash_reap(c);

		fail_msg("child %d ended before replying (status %d)", (int)c->pid, st);
	}
}

int crash_reap(struct crash_child *c)
{
	int st;

	if (c->pid <= 0)
		return -1;
	while (waitpid(c->pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	c->pid = -1;
	if (c->to >= 0)
		close(c->to);
	if (c->from >= 0)
		close(c->from);
	c->to = c->from = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void crash_kill(struct crash_child *c)
{
	assert_int_equal(kill(c->pid, SIGKILL), 0);
	assert_int_equal(crash_reap(c), 128 + SIGKILL);
}

int crash_run_self(const char *fault, const char *const *args)
{
	char *argv[32];
	int argc = 0, st;
	pid_t pid;

	argv[argc++] = "self";
	for (; args && *args && argc < 31; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fault)
			setenv("IOLAYER_FAULT", fault, 1);
		else
			unsetenv("IOLAYER_FAULT");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

uint64_t crash_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- looking inside ------------------------------------------------- */

struct ioli_slot *crash_slot(int h)
{
	struct ioli_href r;

	assert_int_equal(ioli_handle_get(h, &r), 0);
	return r.s;
}

uint32_t crash_slot_index(int h)
{
	struct ioli_href r;

	assert_int_equal(ioli_handle_get(h, &r), 0);
	return r.slot;
}

iol_table *crash_table_of(int h)
{
	struct ioli_href r;

	assert_int_equal(ioli_handle_get(h, &r), 0);
	return r.t;
}

static bool read_task_file(pid_t pid, pid_t tid, const char *what, char *buf, size_t cap)
{
	char path[96];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

bool crash_task_state(pid_t pid, pid_t tid, char *state)
{
	char buf[1024], *p;

	if (!read_task_file(pid, tid, "stat", buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return false;
	*state = p[2];
	return true;
}

bool crash_task_syscall(pid_t pid, pid_t tid, long *nr, unsigned long args[6])
{
	char buf[512];

	if (!read_task_file(pid, tid, "syscall", buf, sizeof(buf)))
		return false;
	if (!strncmp(buf, "running", 7)) {
		*nr = -1;
		return true;
	}
	return sscanf(buf, "%ld %lx %lx %lx %lx %lx %lx", nr, &args[0], &args[1], &args[2],
		      &args[3], &args[4], &args[5]) == 7;
}

bool crash_task_switches(pid_t pid, pid_t tid, unsigned long *vol, unsigned long *invol)
{
	char buf[4096], *p;

	if (!read_task_file(pid, tid, "status", buf, sizeof(buf)))
		return false;
	p = strstr(buf, "\nvoluntary_ctxt_switches:");
	if (!p || sscanf(p, "\nvoluntary_ctxt_switches: %lu", vol) != 1)
		return false;
	p = strstr(buf, "\nnonvoluntary_ctxt_switches:");
	return p && sscanf(p, "\nnonvoluntary_ctxt_switches: %lu", invol) == 1;
}

bool crash_until_in_syscall(pid_t pid, pid_t tid, long nr, int timeout_ms)
{
	uint64_t end = crash_now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned long args[6];
	long cur;
	char st;

	do {
		if (crash_task_state(pid, tid, &st) && st == 'S' &&
		    crash_task_syscall(pid, tid, &cur, args) && cur == nr &&
		    crash_task_state(pid, tid, &st) && st == 'S')
			return true;
		sched_yield();
	} while (crash_now_ns() < end);
	return false;
}

/* ---- the table file ------------------------------------------------- */

void crash_table_path(const char *name, char *buf, size_t len)
{
	assert_int_equal(ioli_table_path(name, buf, len), 0);
}

void crash_map(const char *name, struct crash_map *m)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	crash_table_path(name, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	m->size = (size_t)st.st_size;
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	close(fd);
	assert_true(m->base != MAP_FAILED);
	m->hdr = (struct ioli_hdr *)m->base;
	m->procs = (struct ioli_proc *)(m->base + m->hdr->off_procs);
	m->threcs = (struct ioli_threc *)(m->base + m->hdr->off_threcs);
	m->buckets = (_Atomic uint32_t *)(m->base + m->hdr->off_buckets);
	m->slots = (struct ioli_slot *)(m->base + m->hdr->off_slots);
	m->rows = (_Atomic uint32_t *)(m->base + m->hdr->off_rows);
	m->nslots = m->hdr->nslots;
	m->nbuckets = m->hdr->nbuckets;
}

void crash_unmap(struct crash_map *m)
{
	munmap(m->base, m->size);
	m->base = NULL;
}

/* ---- fsck ------------------------------------------------------------- */

struct fsck_out {
	char *ids;
	size_t cap;
	char text[4096];
};

static void on_finding(void *arg, const struct ioli_fsck_finding *f)
{
	struct fsck_out *o = arg;
	size_t n = strlen(o->text);

	snprintf(o->text + n, sizeof(o->text) - n, "  %s%s: %s\n", f->check,
		 f->repaired ? " [repaired]" : "", f->message);
	if (o->ids) {
		n = strlen(o->ids);
		snprintf(o->ids + n, o->cap - n, "%s%s", n ? " " : "", f->check);
	}
}

static int fsck_run(const char *name, bool repair, struct fsck_out *o)
{
	struct ioli_fsck_result res;
	iol_table *t;

	assert_int_equal(ioli_table_inspect(name, repair, &t), 0);
	assert_int_equal(ioli_fsck(t, repair, on_finding, o, &res), 0);
	ioli_table_inspect_close(t);
	return res.found;
}

int crash_fsck(const char *name, bool repair, char *ids, size_t cap)
{
	struct fsck_out o = {.ids = ids, .cap = cap};

	if (ids && cap)
		ids[0] = '\0';
	return fsck_run(name, repair, &o);
}

void crash_assert_clean(const char *name)
{
	struct fsck_out o = {0};

	if (fsck_run(name, false, &o) != 0)
		fail_msg("fsck of table %s is not clean:\n%s", name, o.text);
}

/* ---- snapshots -------------------------------------------------------- */

void crash_snapshot(const char *name, struct crash_snap *s)
{
	iol_table *t;
	uint32_t hwm;

	assert_int_equal(ioli_table_inspect(name, false, &t), 0);
	hwm = atomic_load(&t->hdr->hwm);
	assert_true(hwm <= t->nslots);
	s->n = 0;
	s->live = atomic_load(&t->hdr->live);
	s->obj = calloc(hwm ? hwm : 1, sizeof(*s->obj));
	assert_non_null(s->obj);
	for (uint32_t i = 0; i < hwm; i++) {
		struct ioli_slot *sl = ioli_slot(t, i);
		uint32_t st = atomic_load(&sl->state);
		struct crash_obj *o = &s->obj[s->n];

		if (!(st & IOLI_SLOT_LIVE))
			continue;
		o->slot = i;
		o->type = IOLI_SLOT_TYPE(st);
		o->refs = atomic_load(&sl->refs);
		o->word = atomic_load(&sl->word) & ~IOLI_W_LOCKED;
		o->name_len = atomic_load(&sl->name_len);
		assert_true(o->name_len <= IOL_NAME_MAX);
		memcpy(o->name, sl->name, o->name_len);
		s->n++;
	}
	ioli_table_inspect_close(t);
}

static void obj_str(const struct crash_obj *o, char *buf, size_t len)
{
	if (!o) {
		snprintf(buf, len, "(none)");
		return;
	}
	snprintf(buf, len, "slot %u type %u name \"%.*s\" refs %u word %#x", o->slot, o->type,
		 (int)(o->name_len < 64 ? o->name_len : 64),
		 (o->name_len && o->name[0]) ? o->name : "", o->refs, o->word);
}

void crash_snap_equal(const struct crash_snap *a, const struct crash_snap *b)
{
	uint32_t n = a->n > b->n ? a->n : b->n;
	char x[400], y[400];

	for (uint32_t i = 0; i < n; i++) {
		const struct crash_obj *p = i < a->n ? &a->obj[i] : NULL;
		const struct crash_obj *q = i < b->n ? &b->obj[i] : NULL;

		if (p && q && p->slot == q->slot && p->type == q->type && p->refs == q->refs &&
		    p->word == q->word && p->name_len == q->name_len &&
		    memcmp(p->name, q->name, p->name_len) == 0)
			continue;
		obj_str(p, x, sizeof(x));
		obj_str(q, y, sizeof(y));
		fail_msg("tables differ at object %u:\n  before: %s\n  after:  %s", i, x, y);
	}
	if (a->live != b->live)
		fail_msg("live object count %u, expected %u", b->live, a->live);
}

void crash_snap_free(struct crash_snap *s)
{
	free(s->obj);
	s->obj = NULL;
	s->n = 0;
}

/* ---- iolayer ls ------------------------------------------------------- */

long crash_ls_handles(const char *table, pid_t pid)
{
	char key[64];
	const char *p;
	long n = -1;

	struct run r = run_cli((const char *[]){"ls", table, "--json", NULL}, NULL, false);
	assert_int_equal(r.status, 0);
	assert_json(r.out);
	snprintf(key, sizeof(key), "\"pid\":%d,\"alive\":", (int)pid);
	p = strstr(r.out, key);
	if (p) {
		p = strstr(p, "\"handles\":");
		assert_non_null(p);
		n = strtol(p + strlen("\"handles\":"), NULL, 10);
	}
	run_free(&r);
	return n;
}
