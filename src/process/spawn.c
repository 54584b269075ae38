/* SPDX-License-Identifier: MIT */
/*
 * Starting a child: clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) with no
 * exit signal, as posix_spawn starts children, plus the pidfd.
 *
 * CLONE_PIDFD returns the pidfd from the same system call that creates the
 * child, so there is no moment at which the child exists only as a pid
 * that could be reaped and reused.  (Exit signal 0 keeps the application
 * from hearing of a child that failed to start; once a child has exec'ed,
 * the kernel gives it SIGCHLD like any other: see process.h.)
 * CLONE_VFORK suspends the caller until the child has exec'ed or failed,
 * and CLONE_VM lets the child report its errno in our memory, so a failed
 * exec comes back as an error of the spawn, not as a child that exits 127.
 * The child runs on its own small stack and calls only async-signal-safe
 * functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iolayer/process.h"
#include "src/compat.h"
#include "src/process/watcher.h"

#define CHILD_STACK (128 * 1024)

extern char **environ;

struct child {
	const char *file;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	const char *path; /* $PATH, read by the parent */
	int fds[3];
	sigset_t mask; /* the caller's, restored before exec */
	volatile int err;
	int errfd; /* without a shared VM: the write end of the error pipe */
};

/*
 * Sanitizer builds give the child its own copy of memory: a child sharing
 * the VM would run the sanitizer's runtime (instrumented code, interceptors)
 * on the parent thread's state, which ThreadSanitizer then reports as races
 * that never happened.  The child reports its errno through a close-on-exec
 * pipe instead.  Normal builds share the VM, as posix_spawn does: no copy
 * of the page tables, however large the caller.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define IOLI_SPAWN_SHARES_VM 0
#else
#define IOLI_SPAWN_SHARES_VM 1
#endif

static void reset_handlers(void)
{
	struct sigaction dfl, cur;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_IGN &&
		    cur.sa_handler != SIG_DFL)
			sigaction(sig, &dfl, NULL);
	}
}

/* execvp's search, on this stack, without allocating. */
static void exec_path(struct child *c)
{
	char buf[PATH_MAX];
	size_t flen = strlen(c->file);
	const char *p = c->path;
	int seen_eacces = 0;

	if (flen == 0) {
		errno = ENOENT;
		return;
	}
	while (1) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);

		if (dlen + 1 + flen + 1 <= sizeof(buf)) {
			size_t n = 0;

			if (dlen == 0) { /* an empty entry is the current directory */
				buf[n++] = '.';
			} else {
				memcpy(buf, p, dlen);
				n = dlen;
			}
			buf[n++] = '/';
			memcpy(buf + n, c->file, flen + 1);
			execve(buf, c->argv, c->envp);
			switch (errno) {
			case EACCES:
				seen_eacces = 1;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return;
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
	errno = seen_eacces ? EACCES : ENOENT;
}

static int child_main(void *arg)
{
	struct child *c = arg;
	int tmp[3];

	reset_handlers();
	/* Move the sources out of the way first, so that e.g. stdout from
	 * descriptor 0 and stdin from 1 do not clobber each other. */
	for (int i = 0; i < 3; i++) {
		tmp[i] = -1;
		if (c->fds[i] >= 0) {
			tmp[i] = fcntl(c->fds[i], F_DUPFD_CLOEXEC, 3);
			if (tmp[i] < 0)
				goto fail;
		}
	}
	for (int i = 0; i < 3; i++)
		if (tmp[i] >= 0 && dup2(tmp[i], i) < 0)
			goto fail;
	if (c->cwd && chdir(c->cwd) < 0)
		goto fail;
	sigprocmask(SIG_SETMASK, &c->mask, NULL);
	if (strchr(c->file, '/'))
		execve(c->file, c->argv, c->envp);
	else
		exec_path(c);
fail:
	c->err = errno ? errno : ENOEXEC;
#if !IOLI_SPAWN_SHARES_VM
	/* Our memory is a copy: tell the parent through the pipe. */
	if (write(c->errfd, (const void *)&c->err, sizeof(c->err)) < 0)
		_exit(126);
#endif
	_exit(127);
}

int ioli_spawn_opts_check(const struct iol_spawn_opts *o)
{
	const int fds[3] = {o ? o->stdin_fd : 0, o ? o->stdout_fd : 0, o ? o->stderr_fd : 0};
	unsigned flags = o ? o->flags : 0;

	if (flags & ~(IOL_SPAWN_STDIN_FD0 | IOL_SPAWN_STDOUT_FD0 | IOL_SPAWN_STDERR_FD0))
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		if (fds[i] < -1)
			return -EINVAL;
		/* "This field's 0 is descriptor 0" with a field that is not 0
		 * says two things at once. */
		if ((flags & (IOL_SPAWN_STDIN_FD0 << i)) && fds[i] != 0)
			return -EINVAL;
	}
	return 0;
}

/* The descriptor to put at fd i of the child, or -1 to inherit: 0 and -1
 * inherit (0 is what a designated initializer leaves in the fields it does
 * not name), unless the IOL_SPAWN_*_FD0 flag asks for descriptor 0. */
static int source_fd(const struct iol_spawn_opts *o, int i)
{
	const int fd = i == 0 ? o->stdin_fd : i == 1 ? o->stdout_fd : o->stderr_fd;

	if (fd == 0)
		return (o->flags & (IOL_SPAWN_STDIN_FD0 << i)) ? 0 : -1;
	return fd;
}

int ioli_spawn(const char *file, char *const argv[], const struct iol_spawn_opts *o, int *pidfd,
	       pid_t *pid)
{
	struct child c = {
	    .file = file,
	    .argv = argv,
	    .envp = (o && o->envp) ? o->envp : environ,
	    .cwd = o ? o->cwd : NULL,
	    .fds = {o ? source_fd(o, 0) : -1, o ? source_fd(o, 1) : -1, o ? source_fd(o, 2) : -1},
	};
	const char *path = getenv("PATH");
	sigset_t all;
	void *stack;
	int fd = -1;
	pid_t p;

	c.path = path ? path : "/bin:/usr/bin";
	int errp[2] = {-1, -1};
	if (!IOLI_SPAWN_SHARES_VM && pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	c.errfd = errp[1];
	stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		int e = errno;

		if (!IOLI_SPAWN_SHARES_VM) {
			close(errp[0]);
			close(errp[1]);
		}
		return -e;
	}
	/* No handler of ours may run in the child, which shares our memory
	 * until it execs: block everything around the clone. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &c.mask);
	p = clone(child_main, (char *)stack + CHILD_STACK,
		  (IOLI_SPAWN_SHARES_VM ? CLONE_VM : 0) | CLONE_VFORK | CLONE_PIDFD, &c, &fd);
	int cerr = errno;
	pthread_sigmask(SIG_SETMASK, &c.mask, NULL);
	munmap(stack, CHILD_STACK);
	if (!IOLI_SPAWN_SHARES_VM) {
		int e = 0;

		close(errp[1]);
		/* After CLONE_VFORK the child has exec'ed (EOF) or failed. */
		if (p >= 0 && read(errp[0], &e, sizeof(e)) == sizeof(e))
			c.err = e;
		close(errp[0]);
	}
	if (p < 0)
		return -cerr;
	if (c.err) {
		siginfo_t si;

		/* Reap the child that failed to start. */
		waitid((idtype_t)IOLI_P_PIDFD, (id_t)fd, &si, WEXITED | __WALL);
		close(fd);
		return -c.err;
	}
	*pidfd = fd;
	*pid = p;
	return 0;
}
