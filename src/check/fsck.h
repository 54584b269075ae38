/* SPDX-License-Identifier: MIT */
/* fsck: checking and repairing a table (src/check/fsck.c). */
#ifndef IOLAYER_SRC_FSCK_H
#define IOLAYER_SRC_FSCK_H

#include "src/table/table.h"

struct ioli_fsck_finding {
	const char *check; /* a short stable id, e.g. "proc-dead" */
	uint32_t index;	   /* the slot or record it is about */
	bool repaired;
	char message[200];
};

struct ioli_fsck_result {
	int found;	/* findings */
	int unrepaired; /* of which left as they were */
};

typedef void (*ioli_fsck_cb)(void *arg, const struct ioli_fsck_finding *f);

/*
 * Check t (mapped read-only unless repair) and, with repair, fix what is
 * wrong.  cb is called once per finding.  Returns 0 and fills *res.
 */
int ioli_fsck(iol_table *t, bool repair, ioli_fsck_cb cb, void *arg, struct ioli_fsck_result *res);

#endif
