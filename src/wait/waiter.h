/* SPDX-License-Identifier: MIT */
/*
 * Registering as a waiter of an object: the one protocol used by the
 * synchronous waits (src/wait/wait.c) and the pool's asynchronous ones
 * (uring/wait_handle.c).
 *
 * A waiter counts itself in the slot's `waiters` (and `multi`, when a wake
 * may go to an object it does not end up taking) before it looks at the
 * word; a waker changes the word, then reads the counts.  Both sides are
 * seq_cst, so either the waker sees the waiter or the waiter sees the new
 * word (docs/design.md, "Waiting without losing wakeups").
 *
 * A journaled registration is also written to the calling thread's record
 * (wait_slot, wait_gen, wait_reg, wait_n), so that the counts of a thread
 * that dies while waiting are given back (ioli_waiter_return_dead).  The
 * pool's waits are not journaled: they count as multi-object waiters, so
 * counts left too high by a dead process cost spurious wakes, never lost
 * ones.
 */
#ifndef IOLAYER_SRC_WAIT_WAITER_H
#define IOLAYER_SRC_WAIT_WAITER_H

#include "src/objects/objops.h"

/* Register o, entry k of its wait, as a waiter (runs the type's
 * wait_begin first). */
void ioli_waiter_reg(struct ioli_waitobj *o, unsigned k, bool multi, bool journal);
/* Give the registration back, if o is registered (runs wait_end after). */
void ioli_waiter_unreg(struct ioli_waitobj *o, unsigned k, bool multi, bool journal);
/* A journaled wait of n objects is over: empty the journal. */
void ioli_waiter_journal_end(struct ioli_waitobj *o, unsigned n);
/* Give back the counts journaled in the record of a thread that died. */
void ioli_waiter_return_dead(iol_table *t, struct ioli_threc *r);

#endif /* IOLAYER_SRC_WAIT_WAITER_H */
