/* SPDX-License-Identifier: MIT */
/*
 * iolayer demo: a short run that shows, across real processes, what the
 * library is for.  Each step prints what it shows and whether it behaved
 * as stated; the exit status is non-zero if any step did not.
 *
 * The workers are this same program (`iolayer demo --worker ROLE ...`),
 * spawned with iol_process_spawn, and they coordinate only through the
 * named table the demo creates (and unlinks at the end).  Its two files
 * (the shared counter, the file of the sharing step) are in a directory
 * of its own made with mkdtemp(3) in the table directory, so no name
 * another user planted there (a symbolic link) is ever written through.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "src/cli/cli.h"
#include "src/cli/demo.h"
#include "src/check/fsck.h"

static const char help[] =
    "usage: iolayer demo [--quick]\n"
    "\n"
    "A one-minute tour, across real processes coordinating only through a\n"
    "named table: the kernel verdict; a start gate, a concurrency limit and a\n"
    "mutex-protected counter shared by worker processes, and a child process\n"
    "waited for together with an event; a worker killed while it holds the\n"
    "mutex and the next owner getting it abandoned, then fsck finding the\n"
    "table clean; a sharing violation between two processes; and an echo\n"
    "benchmark of the io_uring and epoll IO backends.\n"
    "\n"
    "  --quick  shorten the echo comparison to 1 second (for tests)\n"
    "\n"
    "Exit status: 0 when every step behaved as stated, 1 otherwise.\n";

#define WORKERS 4
#define ROUNDS	500
#define LIMIT	2

struct demo {
	iol_table *t;
	char table[64];
	char dir[PATH_MAX - 32]; /* room for the file names after it */
	char counter_path[PATH_MAX];
	char data_path[PATH_MAX];
	char self[PATH_MAX];
	bool quick;
	int failures;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void result(struct demo *d, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void result(struct demo *d, bool ok, const char *fmt, ...)
{
	va_list ap;

	fputs("      ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("  %s\n", ok ? "[ok]" : "[FAILED]");
	fflush(stdout);
	d->failures += !ok;
}

static int spawn_worker(struct demo *d, const char *role, const char *arg)
{
	char *argv[] = {"iolayer",
			"demo",
			"--worker",
			(char *)role,
			d->table,
			d->counter_path,
			(char *)(arg ? arg : "-"),
			NULL};

	return iol_process_spawn(d->t, d->self, argv, NULL);
}

static int exit_code(int h)
{
	struct iol_exit_status es;

	if (iol_process_exit_status(h, &es) != 0)
		return -1;
	return es.exited ? es.code : 128 + es.signal;
}

/* ---- step 1 ------------------------------------------------------------- */

static void step_verdict(struct demo *d)
{
	const struct iol_features *f = iol_features();

	printf("[1/5] what this kernel offers (iolayer probe has the whole matrix)\n");
	printf("      kernel %s, io_uring: %s, futex_waitv: %s, pidfd: %s, IO backend: %s\n",
	       f->kernel_release, iol_has(IOL_FEAT_IO_URING) ? "yes" : "no",
	       iol_has(IOL_FEAT_FUTEX_WAITV) ? "yes" : "no",
	       iol_has(IOL_FEAT_PIDFD_OPEN) ? "yes" : "no", f->backend);
	result(d, iol_has(IOL_FEAT_FUTEX_WAITV), "futex_waitv is the one requirement of the core");
}

/* ---- step 2 ------------------------------------------------------------- */

struct counter {
	uint64_t count;
	uint32_t inside, max_inside;
};

/* The counter file exists (made in ioli_cli_demo), and is only opened. */
static int counter_rw(const char *path, struct counter *c, bool write)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, c, sizeof(*c), 0) : pread(fd, c, sizeof(*c), 0);
	close(fd);
	if (!write && n == 0)
		memset(c, 0, sizeof(*c));
	return n < 0 ? -errno : 0;
}

static void step_coordination(struct demo *d)
{
	int gate, slots, lock, stop, workers[WORKERS], child, r;
	struct counter c = {0};
	char *sleep_argv[] = {"sleep", "0.2", NULL};
	double t0;

	printf(
	    "[2/5] %d worker processes: a manual-reset event as start gate, a semaphore letting\n"
	    "      %d in at a time, a mutex around a counter they share\n",
	    WORKERS, LIMIT);
	gate = iol_event_open(d->t, "gate", IOL_CREATE | IOL_EXCL, true, false);
	slots = iol_semaphore_open(d->t, "slots", IOL_CREATE | IOL_EXCL, LIMIT, LIMIT);
	lock = iol_mutex_open(d->t, "counter-lock", IOL_CREATE | IOL_EXCL, false);
	counter_rw(d->counter_path, &c, true);
	for (int i = 0; i < WORKERS; i++)
		workers[i] = spawn_worker(d, "count", NULL);
	bool spawned = gate > 0 && slots > 0 && lock > 0;
	for (int i = 0; i < WORKERS; i++)
		spawned &= workers[i] > 0;
	if (!spawned) {
		result(d, false, "could not set up the objects or spawn the workers");
		return;
	}
	iol_event_set(gate);
	r = iol_wait_many(workers, WORKERS, IOL_WAIT_ALL, 60 * 1000000000LL);
	counter_rw(d->counter_path, &c, false);
	bool codes = r == 0;
	for (int i = 0; i < WORKERS; i++) {
		codes &= exit_code(workers[i]) == 0;
		iol_close(workers[i]);
	}
	result(d, codes && c.count == (uint64_t)WORKERS * ROUNDS && c.max_inside <= LIMIT,
	       "counter %llu = %d x %d, at most %u inside at once (limit %d), all %d exited 0",
	       (unsigned long long)c.count, WORKERS, ROUNDS, c.max_inside, LIMIT, WORKERS);

	/* A child and an event in one wait: whichever comes first. */
	stop = iol_event_open(d->t, NULL, 0, true, false);
	child = iol_process_spawn(d->t, "sleep", sleep_argv, NULL);
	t0 = now_ms();
	int hs[2] = {stop, child};
	r = iol_wait_many(hs, 2, 0, 10 * 1000000000LL);
	double ms = now_ms() - t0;
	result(d, r == 1 && exit_code(child) == 0,
	       "iol_wait_many({event, child `sleep 0.2`}) returned index %d after %.0f ms, exit "
	       "code %d",
	       r, ms, exit_code(child));
	iol_close(stop);
	iol_close(child);
	iol_close(gate);
	iol_close(slots);
	iol_close(lock);
}

/* ---- step 3 ------------------------------------------------------------- */

struct next_owner {
	int lock;
	int result;
	_Atomic pid_t tid;
	double woke_ms;
};

static void *next_owner(void *arg)
{
	struct next_owner *n = arg;

	atomic_store(&n->tid, gettid());
	n->result = iol_wait(n->lock, 30 * 1000000000LL);
	n->woke_ms = now_ms();
	return NULL;
}

/* Is thread tid of this process asleep (state S in /proc)? */
static bool thread_sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' && p[2] == 'S';
}

static void step_abandon(struct demo *d)
{
	struct next_owner n = {0};
	struct ioli_fsck_result res = {0};
	iol_table *view;
	pthread_t th;
	int holding, holder, reclaimed;
	double killed;

	printf("[3/5] a worker is killed (SIGKILL) while it holds the mutex: the thread blocked on "
	       "it\n"
	       "      is woken by the kernel and owns it, marked abandoned; then fsck\n");
	n.lock = iol_mutex_open(d->t, "counter-lock", IOL_CREATE, false);
	holding = iol_event_open(d->t, "holding", IOL_CREATE, true, false);
	holder = spawn_worker(d, "hold", NULL);
	if (n.lock < 0 || holding < 0 || holder < 0 || iol_wait(holding, 10 * 1000000000LL) != 0) {
		result(d, false, "the holder did not take the mutex");
		return;
	}
	pthread_create(&th, NULL, next_owner, &n);
	/* Kill only once the next owner is asleep in the kernel. */
	while (!atomic_load(&n.tid))
		sched_yield();
	while (!thread_sleeping(atomic_load(&n.tid)))
		sched_yield();
	killed = now_ms();
	iol_process_kill(holder, SIGKILL);
	pthread_join(th, NULL);
	iol_wait(holder, 10 * 1000000000LL);
	result(d, n.result == IOL_ABANDONED && exit_code(holder) == 128 + SIGKILL,
	       "holder killed; next owner's wait returned %s %.2f ms later",
	       n.result == IOL_ABANDONED ? "IOL_ABANDONED" : "something else", n.woke_ms - killed);
	iol_mutex_release(n.lock);
	iol_close(n.lock);
	iol_close(holding);
	iol_close(holder);

	reclaimed = iol_table_reclaim(d->t);
	if (ioli_table_inspect(d->table, false, &view) == 0) {
		ioli_fsck(view, false, NULL, NULL, &res);
		ioli_table_inspect_close(view);
	} else {
		res.found = -1;
	}
	result(d, res.found == 0, "references of the dead reclaimed (%s); iolayer fsck %s: %s",
	       reclaimed > 0 ? "now" : "already, in the background", d->table,
	       res.found == 0 ? "clean" : "damage found");
}

/* ---- step 4 ------------------------------------------------------------- */

static void step_sharing(struct demo *d)
{
	int f, w, r;

	printf("[4/5] file sharing modes: this process opens a file read/write sharing only read;\n"
	       "      another process asking to write is refused, one asking to read is let in\n");
	f = iol_file_open(d->t, d->data_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0600, IOL_SHARE_READ);
	w = spawn_worker(d, "open", "write");
	r = spawn_worker(d, "open", "read");
	if (f < 0 || w < 0 || r < 0) {
		result(d, false, "could not open the file or spawn the openers");
		return;
	}
	iol_wait(w, 10 * 1000000000LL);
	iol_wait(r, 10 * 1000000000LL);
	/* The workers exit with the errno of their open (0 = admitted). */
	result(d, exit_code(w) == EBUSY && exit_code(r) == 0, "writer: %s; reader: %s",
	       exit_code(w) == EBUSY ? "-EBUSY (sharing violation)" : "?",
	       exit_code(r) == 0 ? "admitted" : "refused");
	iol_close(w);
	iol_close(r);
	iol_close(f);
}

/* ---- the workers --------------------------------------------------------- */

static int worker(int argc, char **argv)
{
	const char *role, *table, *counter, *arg;
	iol_table *t;
	int err;

	/* demo --worker ROLE TABLE COUNTER ARG */
	if (argc < 6)
		return 2;
	role = argv[2];
	table = argv[3];
	counter = argv[4];
	arg = argv[5];
	err = iol_table_open(table, NULL, &t);
	if (err)
		return 3;
	if (!strcmp(role, "count")) {
		int gate = iol_event_open(t, "gate", 0, false, false);
		int slots = iol_semaphore_open(t, "slots", 0, 0, 0);
		int lock = iol_mutex_open(t, "counter-lock", 0, false);
		struct counter c;

		if (gate < 0 || slots < 0 || lock < 0 || iol_wait(gate, IOL_INFINITE) != 0)
			return 4;
		for (int i = 0; i < ROUNDS; i++) {
			if (iol_wait(slots, IOL_INFINITE) != 0)
				return 5;
			iol_wait(lock, IOL_INFINITE);
			counter_rw(counter, &c, false);
			c.count++;
			c.inside++;
			if (c.inside > c.max_inside)
				c.max_inside = c.inside;
			counter_rw(counter, &c, true);
			iol_mutex_release(lock);
			iol_wait(lock, IOL_INFINITE);
			counter_rw(counter, &c, false);
			c.inside--;
			counter_rw(counter, &c, true);
			iol_mutex_release(lock);
			iol_semaphore_release(slots, 1);
		}
		return 0;
	}
	if (!strcmp(role, "hold")) {
		int lock = iol_mutex_open(t, "counter-lock", 0, false);
		int holding = iol_event_open(t, "holding", 0, false, false);

		if (lock < 0 || holding < 0 || iol_wait(lock, IOL_INFINITE) != 0)
			return 4;
		iol_event_set(holding);
		for (;;)
			pause(); /* until killed */
	}
	if (!strcmp(role, "open")) {
		char path[PATH_MAX];
		bool write = !strcmp(arg, "write");

		snprintf(path, sizeof(path), "%.*s.dat", (int)(strlen(counter) - 8), counter);
		int f =
		    iol_file_open(t, path, (write ? O_WRONLY : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC,
				  0, IOL_SHARE_READ | IOL_SHARE_WRITE);
		return f > 0 ? 0 : -f;
	}
	return 2;
}

static void remove_files(struct demo *d)
{
	unlink(d->counter_path);
	unlink(d->data_path);
	rmdir(d->dir);
}

int ioli_cli_demo(int argc, char **argv)
{
	struct demo d = {0};
	const char *dir = getenv("IOLAYER_SHM_DIR");
	double t0 = now_ms();
	ssize_t n;
	int err;

	if (argc >= 3 && !strcmp(argv[1], "--worker"))
		return worker(argc, argv);
	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			d.quick = true;
		else
			return ioli_cli_usage_error("demo", "unknown argument '%s'",
						    ioli_cli_name(argv[i]));
	}
	n = readlink("/proc/self/exe", d.self, sizeof(d.self) - 1);
	if (n <= 0) {
		perror("iolayer demo: /proc/self/exe");
		return CLI_FAIL;
	}
	d.self[n] = '\0';
	snprintf(d.table, sizeof(d.table), "demo-%d", (int)getpid());
	/* A directory of our own (0700, a name nobody could plant), then the
	 * counter in it, created exclusively all the same. */
	snprintf(d.dir, sizeof(d.dir), "%s/iolayer-demo-%d.XXXXXX", dir && *dir ? dir : "/dev/shm",
		 (int)getpid());
	if (!mkdtemp(d.dir)) {
		fprintf(stderr, "iolayer demo: cannot make a directory in %s: %s\n",
			ioli_cli_path(dir && *dir ? dir : "/dev/shm"), strerror(errno));
		return CLI_FAIL;
	}
	snprintf(d.counter_path, sizeof(d.counter_path), "%s/demo.counter", d.dir);
	snprintf(d.data_path, sizeof(d.data_path), "%s/demo.dat", d.dir);
	err = ioli_cli_create_new(d.counter_path, O_RDWR, 0600);
	if (err < 0) {
		fprintf(stderr, "iolayer demo: %s: %s\n", ioli_cli_path(d.counter_path),
			strerror(-err));
		rmdir(d.dir);
		return CLI_FAIL;
	}
	close(err);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("iolayer demo: Win32-style waitable objects shared by processes, on futexes, pidfd "
	       "and io_uring\n\n");
	step_verdict(&d);
	err = iol_table_open(d.table, NULL, &d.t);
	if (err) {
		fprintf(stderr, "iolayer demo: cannot open a table: %s\n", strerror(-err));
		remove_files(&d);
		return CLI_FAIL;
	}
	step_coordination(&d);
	step_abandon(&d);
	step_sharing(&d);
	ioli_demo_echo(d.quick, &d.failures);
	iol_table_close(d.t);
	iol_table_unlink(d.table);
	remove_files(&d);
	printf("\n%s (%.1f s)\n",
	       d.failures ? "some steps did NOT behave as stated" : "every step behaved as stated",
	       (now_ms() - t0) / 1e3);
	return ioli_cli_finish(d.failures ? CLI_FAIL : CLI_OK);
}
