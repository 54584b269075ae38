/* SPDX-License-Identifier: MIT */
/* The process watcher (src/process/watcher.c) and what it shares with processes
 * and threads. */
#ifndef IOLAYER_SRC_WATCHER_H
#define IOLAYER_SRC_WATCHER_H

#include <pthread.h>
#include <stdint.h>

#include "src/table/table.h"

int ioli_watcher_start(void);
int ioli_watch_child(iol_table *t, uint32_t slot, uint32_t gen, int pidfd);
int ioli_watch_get(iol_table *t, uint32_t slot, uint32_t gen, int pidfd);
void ioli_watch_put(iol_table *t, uint32_t slot, uint32_t gen);
int ioli_watch_pidfd(iol_table *t, uint32_t slot, uint32_t gen);
int ioli_watch_thread(pthread_t th, iol_table *t, uint32_t slot, uint32_t gen);
void ioli_watcher_at_exit(void);
/* Ask the watcher thread to reclaim t's dead processes soon. */
void ioli_watcher_reclaim(iol_table *t);
void ioli_watcher_after_fork(void);

/* Posting ends into slots */
uint32_t ioli_encode_wait_status(int wstatus);
uint32_t ioli_pidfd_exit_status(int pidfd);
void ioli_signal_ended(iol_table *t, struct ioli_slot *s);
void ioli_post_exit(iol_table *t, uint32_t slot, uint32_t gen, uint32_t status);
bool ioli_post_end(iol_table *t, uint32_t slot, uint32_t gen, uint32_t status, bool drop_internal);

/* src/process/process.c */
int ioli_process_pidfd_checked(iol_table *t, uint32_t slot);
/* src/process/thread.c */
void ioli_thread_ended(iol_table *t, uint32_t slot, uint32_t gen, void *result);

/* src/process/spawn.c: start a child with CLONE_PIDFD; returns 0 and the pidfd and
 * pid, or the child's errno. */
struct iol_spawn_opts;
int ioli_spawn(const char *file, char *const argv[], const struct iol_spawn_opts *o, int *pidfd,
	       pid_t *pid);
/* src/spawn.c: 0 when o (NULL or not) is valid, else -EINVAL. */
int ioli_spawn_opts_check(const struct iol_spawn_opts *o);

#endif /* IOLAYER_SRC_WATCHER_H */
