/* SPDX-License-Identifier: MIT */
/* Guide, step 2: two processes, one named semaphore, one object passed by
 * token, and a mutex abandoned by a process that dies holding it. */
#include <iolayer.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	iol_table *t;
	uint64_t token;
	int pipefd[2];

	if (iol_table_open("guide", NULL, &t) < 0 || pipe(pipefd) < 0)
		return 1;
	int done = iol_semaphore_open(t, "guide.done", IOL_CREATE, 0, 10);
	int lock = iol_mutex_open(t, NULL, 0, false); /* anonymous */
	iol_export(lock, &token);

	pid_t pid = fork();
	if (pid == 0) {
		/* The child holds none of its parent's handles: it attaches
		 * itself and finds the objects by name or by token. */
		iol_table *ct;
		if (iol_table_open("guide", NULL, &ct) < 0)
			_exit(1);
		int d = iol_semaphore_open(ct, "guide.done", 0, 0, 0);
		int l = iol_import(ct, token);
		iol_wait(l, IOL_INFINITE);   /* take the mutex ... */
		iol_semaphore_release(d, 1); /* ... tell the parent ... */
		pause();		     /* ... and die holding it */
	}
	iol_wait(done, IOL_INFINITE);
	kill(pid, SIGKILL); /* the owner dies */
	int r = iol_wait(lock, 5 * 1000000000LL);
	printf("after the owner died: %s\n", r == IOL_ABANDONED ? "IOL_ABANDONED" : "?");
	iol_mutex_release(lock);
	waitpid(pid, NULL, 0);

	iol_table_close(t);
	iol_table_unlink("guide");
	return r == IOL_ABANDONED ? 0 : 1;
}
