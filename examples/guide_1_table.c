/* SPDX-License-Identifier: MIT */
/* Guide, step 1: attach a table, make objects, look at them. */
#include <iolayer.h>
#include <stdio.h>

int main(void)
{
	iol_table *t;
	struct iol_info info;
	int err = iol_table_open("guide", NULL, &t);

	if (err < 0) {
		fprintf(stderr, "iol_table_open: %d\n", err);
		return 1;
	}
	/* Named objects are found by any process of this user that opens
	 * the same table; anonymous ones (name NULL) travel by token. */
	int lock = iol_mutex_open(t, "guide.lock", IOL_CREATE, false);
	int jobs = iol_semaphore_open(t, "guide.jobs", IOL_CREATE, 0, 100);
	int stop = iol_event_open(t, NULL, 0, true, false);
	if (lock < 0 || jobs < 0 || stop < 0)
		return 1;

	if (iol_wait(lock, IOL_INFINITE) == 0) { /* uncontended: one atomic */
		iol_semaphore_release(jobs, 3);
		iol_mutex_release(lock);
	}
	iol_query(jobs, &info);
	printf("%s: %s, count %u of %u, %u handle(s)\n", info.name, iol_type_name(info.type),
	       info.u.semaphore.count, info.u.semaphore.max, info.refs);

	iol_table_close(t); /* closes lock, jobs and stop */
	return iol_table_unlink("guide") == 0 ? 0 : 1;
}
