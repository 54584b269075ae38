/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous futex waits in the IO pool (internal, for the handle table).
 *
 * A futex wait is one more kind of pool operation: it completes through the
 * same callbacks, ids, cancellation and deadlines as socket IO.  On io_uring
 * it is IORING_OP_FUTEX_WAIT (one word) or IORING_OP_FUTEX_WAITV (several)
 * where the probe finds them; elsewhere (the epoll backend, older kernels,
 * IOLAYER_DISABLE) helper threads of the pool block in futex_waitv(2) over
 * up to 127 pending words plus a control word and post completions to the
 * operation's pool thread (uring/futex_wait.c).
 *
 * Semantics are those of a futex wait, so callers must re-check their state:
 *   - The callback gets res >= 0, the index of a word that was woken by a
 *     FUTEX_WAKE or seen different from its expected value.  Spurious
 *     completions are allowed (a wake with no change, a change and change
 *     back); a value that differs when the wait is armed completes it at
 *     once.
 *   - -ECANCELED after iol_pool_cancel() or pool destruction, -ETIMEDOUT
 *     after opts->deadline_ns, -EFAULT for an unmapped word.
 *   - The words must stay mapped until the callback.  shared selects
 *     process-shared futexes (MAP_SHARED memory, woken from other
 *     processes); otherwise FUTEX_PRIVATE_FLAG.
 *   - A wake consumed by a wait that is then cancelled, or whose callback
 *     loses a race, is not passed on: a caller waking one waiter per unit
 *     of state must wake again (or re-arm) when a woken wait does not take
 *     that state.
 */
#ifndef IOLI_POOL_FUTEX_H
#define IOLI_POOL_FUTEX_H

#include <stdbool.h>
#include <stdint.h>

#include "iolayer/pool.h"

#define IOLI_FUTEX_MAX_WORDS 64

struct ioli_futex_word {
	uint32_t *word;
	uint32_t expected;
};

/* Wait on n (1 to IOLI_FUTEX_MAX_WORDS) words; words[] is copied.
 * Errors as every pool submission, plus -EINVAL for n out of range or a
 * NULL or misaligned word. */
int ioli_pool_futex_waitv(iol_pool *pool, const struct ioli_futex_word *words, unsigned n,
			  bool shared, iol_cb cb, void *arg, const struct iol_op_opts *opts,
			  uint64_t *id);

/*
 * The hook that makes a futex wait an object wait.  Called on the
 * operation's pool thread each time the wait would complete with index i (a
 * word woken or seen different; never for cancellation, a deadline or a
 * fault):
 *   - return a result >= 0 to end the wait with it (after acquiring the
 *     object the word belongs to, say);
 *   - return -EAGAIN to wait again (the race was lost), after updating
 *     words[].expected if the state moved on: words is the operation's own
 *     copy.  The operation keeps its id, so iol_pool_cancel() and the
 *     deadline (absolute, from the first submission) cover the whole wait;
 *     a cancel requested meanwhile ends it with -ECANCELED instead;
 *   - return any other negative errno to end the wait with it.
 * It runs where callbacks run and under the same rules.  It is called even
 * when a cancel raced with the wake, so that a wake (and the object) is not
 * lost: a callback may see success after asking for a cancel.
 */
typedef int (*ioli_futex_try_fn)(void *arg, unsigned index, struct ioli_futex_word *words,
				 unsigned n);

/* ioli_pool_futex_waitv() with a try hook (try NULL: plain). */
int ioli_pool_futex_waitv_try(iol_pool *pool, const struct ioli_futex_word *words, unsigned n,
			      bool shared, ioli_futex_try_fn try, iol_cb cb, void *arg,
			      const struct iol_op_opts *opts, uint64_t *id);

/* One word: completes with res 0. */
int ioli_pool_futex_wait(iol_pool *pool, uint32_t *word, uint32_t expected, bool shared, iol_cb cb,
			 void *arg, const struct iol_op_opts *opts, uint64_t *id);

#endif /* IOLI_POOL_FUTEX_H */
