/* SPDX-License-Identifier: MIT */
/*
 * fuzz_seed DIR: write a seed corpus for fuzz_table made from real tables.
 *
 * Each scenario builds a table with the library (objects of every type,
 * dups, owned and abandoned mutexes, file opens, a spawned process, a
 * thread, processes that died holding references, the table lock or the
 * wait-all lock held by the dead, a few kinds of damage) and writes it in
 * the fuzzer's input format (fuzz_input.h): the header page, then one
 * chunk per run of non-zero bytes in each region.  Each table is written
 * twice: with a built header, repaired, and with its raw header.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iolayer.h"
#include "src/table/table.h"
#include "tests/fuzz/fuzz_input.h"

#define TABLE	"seed"
#define GRANULE 256u

static const char *outdir;
static char file_path[PATH_MAX];
static int nseeds;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_seed: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put_chunk(FILE *f, int region, uint64_t off, const uint8_t *p, size_t len)
{
	uint8_t h[7] = {(uint8_t)region,      (uint8_t)off,	    (uint8_t)(off >> 8),
			(uint8_t)(off >> 16), (uint8_t)(off >> 24), (uint8_t)len,
			(uint8_t)(len >> 8)};

	fwrite(h, 1, sizeof(h), f);
	fwrite(p, 1, len, f);
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The table file as one fuzzer input. */
static void write_seed(const char *name, bool raw)
{
	char path[PATH_MAX], out[PATH_MAX];
	struct ioli_layout l;
	struct stat st;
	uint8_t *base;
	int fd;

	if (ioli_table_path(TABLE, path, sizeof(path)) != 0)
		die("table path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		die("mmap");
	struct ioli_hdr *h = (struct ioli_hdr *)base;
	ioli_layout_compute(h->nslots, h->max_procs, &l);

	snprintf(out, sizeof(out), "%s/%02d-%s%s", outdir, nseeds++, name, raw ? "-raw" : "");
	FILE *f = fopen(out, "w");
	if (!f)
		die(out);
	uint8_t ctl = raw ? FUZZ_RAW : FUZZ_REPAIR;
	for (uint8_t c = 0; c < 8; c++)
		if (fuzz_nslots((uint8_t)(c << 1)) == h->nslots)
			ctl |= (uint8_t)(c << 1);
	if (atomic_load(&h->lock.word) & FUTEX_OWNER_DIED)
		ctl |= FUZZ_T_DEAD;
	if (atomic_load(&h->walock.word) & FUTEX_OWNER_DIED)
		ctl |= FUZZ_L_DEAD;
	fputc(ctl, f);
	fwrite(base, 1, FUZZ_HDR_BYTES, f);

	const uint64_t bounds[] = {l.off_procs, l.off_threcs, l.off_buckets,
				   l.off_slots, l.off_rows,   l.total_size};
	for (int r = FR_PROCS; r <= FR_ROWS; r++) {
		uint64_t start = bounds[r - 1], end = bounds[r];

		for (uint64_t o = start; o < end; o += GRANULE) {
			uint64_t run = o;

			while (run < end && run - o < 65536 - GRANULE && !zero(base + run, GRANULE))
				run += GRANULE;
			if (run > o)
				put_chunk(f, r, o - start, base + o, (size_t)(run - o));
			o = run;
		}
	}
	fclose(f);
	munmap(base, (size_t)st.st_size);
}

static void seed(const char *name)
{
	write_seed(name, false);
	write_seed(name, true);
}

/* ---- scenarios ---------------------------------------------------------- */

static iol_table *open_fresh(uint32_t slots)
{
	struct iol_table_opts o = {.slots = slots};
	iol_table *t;

	iol_table_unlink(TABLE);
	if (iol_table_open(TABLE, &o, &t) != 0)
		die("iol_table_open");
	return t;
}

static void *thread_fn(void *arg)
{
	return arg;
}

static void objects(iol_table *t)
{
	char *argv[] = {"true", NULL};
	int h;

	h = iol_mutex_open(t, "mutex", IOL_CREATE, true);
	iol_wait(h, 0);
	iol_event_open(t, "manual", IOL_CREATE, true, true);
	iol_event_open(t, "auto", IOL_CREATE, false, false);
	h = iol_semaphore_open(t, "sem", IOL_CREATE, 3, 9);
	for (int i = 0; i < 5; i++)
		iol_dup(h);
	iol_semaphore_open(t, NULL, 0, 0, 1);
	iol_event_open(t, "n\xff\x01 odd", IOL_CREATE, false, true);
	iol_file_open(t, file_path, O_RDWR | O_CREAT, 0600, IOL_SHARE_READ);
	iol_file_open(t, file_path, O_RDONLY, 0, IOL_SHARE_READ | IOL_SHARE_WRITE);
	h = iol_process_spawn(t, "/bin/true", argv, NULL);
	if (h > 0)
		iol_wait(h, 5 * 1000000000LL);
	h = iol_thread_create(t, thread_fn, NULL);
	if (h > 0)
		iol_wait(h, 5 * 1000000000LL);
}

/* A child attached to the table that does `what` and is killed. */
static void dead_child(int what)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		iol_table *t;
		struct ioli_href r;

		if (iol_table_open(TABLE, NULL, &t) != 0)
			_exit(1);
		int m = iol_mutex_open(t, "mutex", IOL_CREATE, false);
		int s = iol_semaphore_open(t, "sem", IOL_CREATE, 3, 9);
		for (int i = 0; i < 7; i++)
			iol_dup(s);
		iol_event_open(t, "child-only", IOL_CREATE, true, false);
		iol_file_open(t, file_path, O_RDONLY, 0, IOL_SHARE_READ | IOL_SHARE_WRITE);
		iol_wait(m, 0);
		if (ioli_handle_get(s, &r) != 0)
			_exit(1);
		if (what == 1) { /* die holding T, halfway */
			ioli_tlock(t);
			ioli_tset(t, &r.s->refs, 77);
			ioli_tset(t, &t->hdr->live, 1234);
		} else if (what == 2) { /* die holding L, committing */
			struct ioli_hdr *h = t->hdr;
			uint32_t v = atomic_load(&r.s->word);

			ioli_rlock_lock(t, &h->walock, &t->lholder);
			atomic_store(&h->wa_phase, IOLI_WA_LOCKING);
			atomic_store(&h->wa[0].slot, r.slot);
			atomic_store(&h->wa[0].old, v);
			atomic_store(&h->wa[0].new, v - 1);
			atomic_store(&h->wa_n, 1);
			atomic_store(&r.s->word, v | IOLI_W_LOCKED);
			atomic_store(&h->wa_phase, IOLI_WA_COMMIT);
		}
		if (write(p[1], "k", 1) != 1)
			_exit(1);
		pause();
		_exit(1);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		die("child");
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static struct ioli_slot *slot_named(iol_table *t, const char *name)
{
	uint32_t i = ioli_name_find(t, name, strlen(name), ioli_name_hash(name, strlen(name)));

	return i == UINT32_MAX ? NULL : ioli_slot(t, i);
}

int main(int argc, char **argv)
{
	char dir[] = "/dev/shm/iolayer-seed.XXXXXX";
	iol_table *t;
	struct ioli_slot *s;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seed DIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
		die(outdir);
	if (!mkdtemp(dir))
		die("mkdtemp");
	setenv("IOLAYER_SHM_DIR", dir, 1);
	snprintf(file_path, sizeof(file_path), "%s/file", dir);

	t = open_fresh(16);
	seed("empty16");
	iol_table_close(t);

	t = open_fresh(64);
	objects(t);
	seed("objects");
	dead_child(0);
	seed("dead-process");
	iol_table_close(t);

	t = open_fresh(64);
	objects(t);
	dead_child(1);
	seed("dead-t-holder");
	iol_table_close(t);

	t = open_fresh(64);
	objects(t);
	dead_child(2);
	seed("dead-l-holder");
	iol_table_close(t);

	/* Damage on top of a populated table. */
	t = open_fresh(100);
	objects(t);
	s = slot_named(t, "sem");
	atomic_store(&s->refs, 40);
	atomic_store(&s->word, 30);
	s = slot_named(t, "manual");
	atomic_store(&s->next, (uint32_t)(s - t->slots) + 1);
	atomic_fetch_or(&slot_named(t, "auto")->word, IOLI_W_LOCKED);
	t->hdr->undo[0].off = 4096 + 12;
	t->hdr->undo[0].old = 99;
	atomic_store(&t->hdr->undo_n, 1);
	atomic_store(&t->hdr->free_head, 2);
	seed("damaged");
	iol_table_close(t);

	t = open_fresh(256);
	for (int i = 0; i < 200; i++) {
		char name[32];

		snprintf(name, sizeof(name), "many-%d", i);
		iol_event_open(t, name, IOL_CREATE, i & 1, i & 2);
	}
	seed("many");
	iol_table_close(t);

	iol_table_unlink(TABLE);
	unlink(file_path);
	rmdir(dir);
	printf("fuzz_seed: %d inputs in %s\n", nseeds, outdir);
	return 0;
}
