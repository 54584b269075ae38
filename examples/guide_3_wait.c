/* SPDX-License-Identifier: MIT */
/* Guide, step 3: one wait over an event, a semaphore and a child process;
 * WAIT_ALL; timeouts. */
#include <iolayer.h>
#include <errno.h>
#include <stdio.h>

#define SECOND 1000000000LL

int main(void)
{
	iol_table *t;

	if (iol_table_open("guide", NULL, &t) < 0)
		return 1;
	int quit = iol_event_open(t, NULL, 0, true, false);
	int work = iol_semaphore_open(t, NULL, 0, 2, 8);
	char *argv[] = {"sh", "-c", "exit 7", NULL};
	int child = iol_process_spawn(t, "sh", argv, NULL);
	int all[] = {quit, work, child};
	int served = 0, exited = 0;

	/* Lowest index first: the two work items, then the child's end. */
	while (!exited) {
		int r = iol_wait_many(all, 3, 0, 10 * SECOND);

		if (r == 1)
			served++;
		else if (r == 2)
			exited = 1;
		else
			return 1; /* quit was never set; -ETIMEDOUT would be a bug */
	}
	struct iol_exit_status st;
	iol_process_exit_status(child, &st);

	/* All or nothing: the semaphore is not taken while quit is unset. */
	iol_semaphore_release(work, 1);
	int r = iol_wait_many((int[]){work, quit}, 2, IOL_WAIT_ALL, 0);
	printf("served %d, child exit %d, wait-all with quit unset: %s\n", served, st.code,
	       r == -ETIMEDOUT ? "-ETIMEDOUT" : "?");

	iol_table_close(t);
	iol_table_unlink("guide");
	return served == 2 && st.code == 7 && r == -ETIMEDOUT ? 0 : 1;
}
