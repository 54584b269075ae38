/* SPDX-License-Identifier: MIT */
/* One fuzz input through open, ls and fsck (see fuzz_input.h). */
#include <fcntl.h>
#include <stdalign.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "src/check/fsck.h"
#include "src/check/listing.h"
#include "src/table/table.h"
#include "tests/fuzz/fuzz_input.h"

#define RAW_MAX_SIZE (256ull << 20)

_Static_assert(sizeof(struct ioli_hdr) <= FUZZ_HDR_BYTES, "the header fits its page");

static int memfd = -1;
static FILE *devnull;

uint32_t fuzz_nslots(uint8_t control)
{
	static const uint32_t n[8] = {16, 32, 64, 100, 256, 1024, 4096, 17};

	return n[(control >> 1) & 7];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A well-formed robust lock, free or owner-died. */
static void sane_mutex(struct ioli_rlock *m, bool dead)
{
	atomic_store(&m->word, dead ? FUTEX_OWNER_DIED : 0);
}

static void region(const struct ioli_layout *l, enum fuzz_region r, uint64_t *off, uint64_t *len)
{
	uint64_t hdr_mut = offsetof(struct ioli_hdr, lock);

	switch (r) {
	case FR_HDR:
		*off = hdr_mut;
		*len = l->off_procs - hdr_mut;
		break;
	case FR_PROCS:
		*off = l->off_procs;
		*len = l->off_threcs - l->off_procs;
		break;
	case FR_THRECS:
		*off = l->off_threcs;
		*len = l->off_buckets - l->off_threcs;
		break;
	case FR_BUCKETS:
		*off = l->off_buckets;
		*len = l->off_slots - l->off_buckets;
		break;
	case FR_SLOTS:
		*off = l->off_slots;
		*len = l->off_rows - l->off_slots;
		break;
	default:
		*off = l->off_rows;
		*len = l->total_size - l->off_rows;
		break;
	}
}

/* Build the file in the memfd; its size, or 0 if none could be made. */
static uint64_t build(const uint8_t *data, size_t size)
{
	uint8_t ctl = size ? data[0] : 0;
	alignas(64) uint8_t page[FUZZ_HDR_BYTES] = {0};
	struct ioli_layout l;
	struct ioli_hdr *h = (struct ioli_hdr *)page;
	size_t hb = size > 1 ? size - 1 : 0;
	uint64_t fsize;

	if (hb > FUZZ_HDR_BYTES)
		hb = FUZZ_HDR_BYTES;
	memcpy(page, data + 1, hb);
	if (ftruncate(memfd, 0) < 0)
		return 0;
	if (ctl & FUZZ_RAW) {
		fsize = h->total_size;
		if (fsize < FUZZ_HDR_BYTES || fsize > RAW_MAX_SIZE)
			fsize = FUZZ_HDR_BYTES;
		/* Lay out the regions as the header says, if it says anything a
		 * table could: chunks only land inside the file. */
		if (h->nslots >= 16 && h->nslots <= IOL_TABLE_MAX_SLOTS)
			ioli_layout_compute(h->nslots, IOL_TABLE_MAX_PROCS, &l);
		else
			ioli_layout_compute(16, IOL_TABLE_MAX_PROCS, &l);
	} else {
		uint8_t mut[FUZZ_HDR_BYTES];
		size_t moff = offsetof(struct ioli_hdr, lock);

		memcpy(mut, page, sizeof(mut));
		ioli_layout_compute(fuzz_nslots(ctl), IOL_TABLE_MAX_PROCS, &l);
		memset(page, 0, sizeof(page));
		ioli_header_init(h, &l, le32(mut + 8) | 1);
		memcpy(page + moff, mut + moff, sizeof(page) - moff);
		fsize = l.total_size;
	}
	sane_mutex(&h->lock, ctl & FUZZ_T_DEAD);
	sane_mutex(&h->walock, ctl & FUZZ_L_DEAD);
	if (ftruncate(memfd, (off_t)fsize) < 0 || pwrite(memfd, page, sizeof(page), 0) < 0)
		return 0;

	/* The chunks. */
	size_t p = 1 + FUZZ_HDR_BYTES;
	while (p + 7 <= size) {
		enum fuzz_region r = (enum fuzz_region)(data[p] % FR__COUNT);
		uint32_t off = le32(data + p + 1);
		size_t len = (size_t)data[p + 5] | (size_t)data[p + 6] << 8;
		uint64_t roff, rlen;

		p += 7;
		if (len > size - p)
			len = size - p;
		region(&l, r, &roff, &rlen);
		if (rlen == 0)
			break;
		roff += off % rlen;
		if (len > rlen - off % rlen)
			len = (size_t)(rlen - off % rlen);
		if (roff < fsize) {
			size_t n = roff + len > fsize ? (size_t)(fsize - roff) : len;

			if (pwrite(memfd, data + p, n, (off_t)roff) < 0)
				return 0;
		}
		p += len;
	}
	/* A chunk in the header may have scribbled the locks again. */
	if (fsize >= FUZZ_HDR_BYTES) {
		if (pread(memfd, page, sizeof(page), 0) < 0)
			return 0;
		sane_mutex(&h->lock, ctl & FUZZ_T_DEAD);
		sane_mutex(&h->walock, ctl & FUZZ_L_DEAD);
		if (pwrite(memfd, page, sizeof(page), 0) < 0)
			return 0;
	}
	return fsize;
}

static bool verbose;

/* FUZZ_VERBOSE=1 prints every finding (to see what an input does). */
static void count(void *arg, const struct ioli_fsck_finding *f)
{
	(*(int *)arg)++;
	if (verbose)
		fprintf(stderr, "  %-20s %s%s\n", f->check, f->message,
			f->repaired ? "  [repaired]" : "");
}

static void phase(const char *what)
{
	if (verbose)
		fprintf(stderr, "fuzz: %s\n", what);
}

int fuzz_table_input(const uint8_t *data, size_t size)
{
	struct ioli_fsck_result res;
	iol_table *t;
	int found = 0;

	if (memfd < 0) {
		memfd = memfd_create("fuzz-table", MFD_CLOEXEC);
		verbose = getenv("FUZZ_VERBOSE") != NULL;
		devnull = fopen("/dev/null", "w");
		if (memfd < 0 || !devnull)
			abort();
	}
	if (build(data, size) == 0)
		return 0;

	/* Open (the header check), list, check: all on a read-only mapping,
	 * so a write anywhere would fault. */
	if (ioli_table_inspect_fd(memfd, false, &t) != 0)
		return 0;
	ioli_list_text(t, "fuzz", devnull);
	ioli_list_json(t, "fuzz", devnull);
	phase("check");
	ioli_fsck(t, false, count, &found, &res);
	ioli_table_inspect_close(t);

	/* Repair on a writable mapping, then check again. */
	if (!(size && (data[0] & FUZZ_REPAIR)))
		return 0;
	if (ioli_table_inspect_fd(memfd, true, &t) != 0)
		abort(); /* it opened a moment ago */
	phase("repair");
	ioli_fsck(t, true, count, &found, &res);
	ioli_table_inspect_close(t);
	if (ioli_table_inspect_fd(memfd, false, &t) != 0)
		abort();
	ioli_list_json(t, "fuzz", devnull);
	/* A repair that says it repaired everything left nothing to find. */
	bool all_repaired = res.unrepaired == 0;
	phase("check after the repair");
	ioli_fsck(t, false, count, &found, &res);
	if (all_repaired && res.found != 0) {
		fprintf(stderr, "fuzz: fsck --repair repaired everything, then found %d more\n",
			res.found);
		abort();
	}
	ioli_table_inspect_close(t);
	return 0;
}
