/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes as a table file, through open, ls and
 * fsck (check and repair).  The input format is in fuzz_input.h.
 *
 *   make fuzz                 FUZZ_TIME=60 seconds, seed corpus from real tables
 *   build-fuzz/fuzz_table FILE...   replay inputs
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_table_input(data, size);
}
