/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the probe's parts.
 *
 * src/probe/probe.c owns the result (probed once under pthread_once), the
 * feature names and first releases, and the IOLAYER_DISABLE and
 * IOLAYER_BACKEND overrides.  Each probe_*.c file asks the kernel about
 * one family of features and records every one of them, available or not.
 */
#ifndef IOLAYER_PROBE_INTERNAL_H
#define IOLAYER_PROBE_INTERNAL_H

#include "iolayer/probe.h"

/* Record a feature as present. */
void ioli_feat_ok(struct iol_features *f, enum iol_feature id);

/* Record a feature as missing: err is the positive errno the kernel gave
 * (or the one that best says why), fmt a one-sentence reason. */
void ioli_feat_missing(struct iol_features *f, enum iol_feature id, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "EPERM" for EPERM; "errno 1234" for numbers without a name. */
const char *ioli_errno_name(int err, char buf[static 16]);

/* Why a call that answered err is taken as missing, in a few words. */
const char *ioli_missing_why(int err);

/*
 * 0 when feature f is available.  Otherwise -ENOSYS when it is missing, or,
 * when its probe could not run for lack of resources (EMFILE, ENFILE,
 * ENOMEM, EAGAIN), that error as a negative errno after one more try: the
 * feature is probed again on the next call.  Callers that cannot work
 * without f return this.
 */
int ioli_feature_need(enum iol_feature f);

void ioli_probe_env(struct iol_features *f);
void ioli_probe_uring(struct iol_features *f);
void ioli_probe_futex(struct iol_features *f);
void ioli_probe_proc(struct iol_features *f);

#endif /* IOLAYER_PROBE_INTERNAL_H */
