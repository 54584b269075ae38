#include <iolayer.h>
#include <stdio.h>

int main(void)
{
	iol_table *t;
	if (iol_table_open("example", NULL, &t) < 0) /* attach, creating it if needed */
		return 1;
	int ready = iol_event_open(t, "ready", IOL_CREATE, true, false);
	char *argv[] = {"sh", "-c", "sleep 0.1; exit 3", NULL};
	int child = iol_process_spawn(t, "sh", argv, NULL);

	int handles[] = {ready, child}; /* an event and a process, one wait */
	int r = iol_wait_many(handles, 2, 0, 5 * 1000000000LL);
	struct iol_exit_status st;
	if (r == 1 && iol_process_exit_status(child, &st) == 0)
		printf("child exited with %d\n", st.code);

	iol_table_close(t); /* closes every handle of this process */
	return 0;
}
