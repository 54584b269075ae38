/* SPDX-License-Identifier: MIT */
/*
 * Feeding arbitrary bytes to the library as a table file: the input
 * format shared by the libFuzzer target (fuzz_table.c), the seed corpus
 * generator (seed_corpus.c) and the regression test
 * (tests/test_fuzz_regressions.c).
 *
 * Tables are large sparse files (a 16-slot table is about 17 MB, mostly
 * zeros), so an input does not spell out the file: it describes it.
 *
 *   byte 0          control:
 *                     bit 0     raw header (else a valid one is built)
 *                     bits 1-3  slot count: 16 32 64 100 256 1024 4096 17
 *                     bit 4     the table lock T is left owner-died
 *                     bit 5     the wait-all lock L is left owner-died
 *                     bit 6     the table is also repaired (fsck --repair)
 *   bytes 1..4096   the header page (missing bytes are zeros):
 *                     raw: taken as it is; the file is made as large as
 *                     the header says if that is at most 256 MiB, else
 *                     one page, and the open's header check decides;
 *                     built: the identity and layout fields are those of
 *                     a real table of that slot count, and the rest of
 *                     the page (T and its undo log, the counters, L and
 *                     its journal) is taken from the input
 *   then chunks     region (1 byte: 0 header, 1 process records, 2 thread
 *                   records, 3 name buckets, 4 slots, 5 rows; modulo 6),
 *                   offset (4 bytes, little-endian, modulo the region's
 *                   size), length (2 bytes, cut at the region's end),
 *                   and that many bytes, written there.  Chunks let an
 *                   input put exactly the bytes that matter anywhere in
 *                   a file of tens of megabytes.
 *
 * The two robust mutexes T and L are always left well-formed glibc
 * mutexes (their internals are glibc's, outside anything iolayer can
 * check), free or owner-died as the control byte says; a lock word
 * naming a live thread would only make the harness wait for it.
 *
 * Every input is then opened with ioli_table_inspect_fd() (the header
 * check), listed (ioli_list_text, ioli_list_json), checked by fsck on a
 * read-only mapping, and with bit 6 repaired by fsck on a writable one,
 * then checked again: a repair that reported everything repaired must
 * leave nothing for that check to find (else the harness aborts).
 */
#ifndef IOLAYER_TESTS_FUZZ_INPUT_H
#define IOLAYER_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_HDR_BYTES 4096u
#define FUZZ_RAW       0x01u
#define FUZZ_T_DEAD    0x10u
#define FUZZ_L_DEAD    0x20u
#define FUZZ_REPAIR    0x40u

enum fuzz_region { FR_HDR, FR_PROCS, FR_THRECS, FR_BUCKETS, FR_SLOTS, FR_ROWS, FR__COUNT };

/* Run one input through open, ls and fsck.  Returns 0 (whatever the
 * table held: errors are results); anything wrong crashes or hangs. */
int fuzz_table_input(const uint8_t *data, size_t size);

/* The slot count selected by control bits 1-3. */
uint32_t fuzz_nslots(uint8_t control);

#endif
