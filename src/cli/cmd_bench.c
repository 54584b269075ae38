/* SPDX-License-Identifier: MIT */
/*
 * iolayer bench: run every benchmark of bench/ and end with one table.
 *
 * The programs are found next to the command: BUILD/bench/ beside
 * BUILD/iolayer in a build tree, or PREFIX/libexec/iolayer/bench/ beside
 * PREFIX/bin/iolayer once installed (IOLAYER_BENCH_DIR or --dir
 * overrides).  Each runs in its own process group with its standard output
 * read through a pipe: every line goes to its log, and the "@result"
 * lines (bench/report.h) are collected.  Progress goes to standard error;
 * standard output gets the header, then the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "src/cli/bench.h"
#include "src/cli/cli.h"
#include "src/cli/machine.h"

/*
 * The benchmarks, in the order they run.  A new one is one line here: its
 * program (a shell script is run with sh, its smoke size given through the
 * environment), what it measures, and about how long it takes on a 2-CPU
 * machine, full and --quick (for the progress line and the time limit).
 */
struct step {
	const char *prog;
	const char *what;
	int full_s, quick_s;
	const char *env_full;  /* scripts: "NAME=value ..." */
	const char *env_quick; /* scripts, for --quick */
};

static const struct step steps[] = {
    {.prog = "sync_bench",
     .what = "mutex, round trips, wait_many vs pthread, futex, eventfd, pipe, sem_open, epoll",
     .full_s = 25,
     .quick_s = 3},
    {.prog = "process_bench",
     .what = "process exit-to-wake and spawn+wait vs SIGCHLD, waitpid, pidfd",
     .full_s = 18,
     .quick_s = 3},
    {.prog = "reclaim_bench",
     .what = "a SIGKILLed process reclaimed by the survivors vs waitpid + iol_table_reclaim",
     .full_s = 15,
     .quick_s = 3},
    {.prog = "daemon_baseline",
     .what = "the table vs a mono_handle_d-style handle daemon",
     .full_s = 8,
     .quick_s = 2},
    {.prog = "scaling_bench",
     .what = "1 to 8 threads and processes; 10, 1,000 and 60,000 live objects",
     .full_s = 100,
     .quick_s = 20},
    /* The IO pool (issue 4): echo, httpd and file reads, io_uring vs epoll. */
    {.prog = "pool_bench.sh",
     .what = "IO pool: echo and httpd on io_uring vs epoll, file reads vs pread",
     .full_s = 260,
     .quick_s = 45,
     /* QUIET_WAIT bounds its wait for idle CPUs before each measurement
      * (a measurement that cannot wait longer is reported as noisy). */
     .env_full = "RUNS=5 DURATION=3 WARMUP=1 QUIET_WAIT=15",
     .env_quick = "RUNS=1 DURATION=1 WARMUP=0 QUIET_WAIT=2"},
};

#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

static const char help[] =
    "usage: iolayer bench [--quick] [--only NAME[,NAME...]] [--json FILE] [--svg FILE]\n"
    "                     [--no-chart] [--logs DIR] [--dir DIR] [--verbose] [--list]\n"
    "\n"
    "Run every benchmark program of iolayer (each compares iolayer with its\n"
    "baselines in the same run), then print one table: scenario, iolayer's\n"
    "figure, the baseline's, their ratio, the goal and whether it is met.\n"
    "Figures are medians over repeated runs, with the min and max.\n"
    "\n"
    "  --quick        a smoke run of about a minute (also BENCH_QUICK=1)\n"
    "  --only LIST    run only these programs (see --list)\n"
    "  --json FILE    where to write every result and the machine\n"
    "                 (default iolayer-bench.json)\n"
    "  --svg FILE     the chart, drawn with gnuplot (default iolayer-bench.svg)\n"
    "  --no-chart     do not draw it\n"
    "  --logs DIR     each program's full output (default: FILE's directory/logs)\n"
    "  --dir DIR      where the programs are (default: next to this command, in\n"
    "                 bench/ or ../libexec/iolayer/bench/; or IOLAYER_BENCH_DIR)\n"
    "  --verbose      also print each program's own tables\n"
    "  --list         list the programs and where they are found, and exit\n"
    "\n"
    "A full run takes 5 to 10 minutes on a 2-CPU machine; progress goes to\n"
    "standard error.  Exit status: 0 when every program ran (goals missed or\n"
    "not), 1 when one failed or could not be found, 2 usage.\n";

/* ---- finding the programs ------------------------------------------------------ */

static bool is_script(const char *prog)
{
	size_t n = strlen(prog);

	return n > 3 && strcmp(prog + n - 3, ".sh") == 0;
}

/* Whether prog can be run from dir (a script is run with sh). */
static bool is_exec(const char *dir, const char *prog)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s", dir, prog) >= (int)sizeof(p))
		return false;
	return access(p, is_script(prog) ? R_OK : X_OK) == 0;
}

/* The first candidate directory holding the first required program, into
 * out; when there is none, the places looked at into looked. */
static int find_dir(const char *given, char *out, size_t len, char *looked, size_t llen)
{
	char exe[PATH_MAX], cand[3][PATH_MAX];
	int nc = 0;
	ssize_t n;

	if (!given)
		given = getenv("IOLAYER_BENCH_DIR");
	if (given && *given) {
		snprintf(looked, llen, "%s", given);
		if (snprintf(out, len, "%s", given) >= (int)len)
			return -ENAMETOOLONG;
		return is_exec(out, steps[0].prog) ? 0 : -ENOENT;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		if (snprintf(cand[nc], PATH_MAX, "%s/bench", exe) < PATH_MAX)
			nc++;
		if (snprintf(cand[nc], PATH_MAX, "%s/../libexec/iolayer/bench", exe) < PATH_MAX)
			nc++;
	}
#ifdef IOLI_BENCH_LIBEXEC
	snprintf(cand[nc++], PATH_MAX, "%s/bench", IOLI_BENCH_LIBEXEC);
#endif
	for (int i = 0; i < nc; i++) {
		if (is_exec(cand[i], steps[0].prog)) {
			if (!realpath(cand[i], out) &&
			    snprintf(out, len, "%s", cand[i]) >= (int)len)
				return -ENAMETOOLONG;
			return 0;
		}
	}
	/* Say where we looked. */
	looked[0] = '\0';
	for (int i = 0; i < nc; i++)
		snprintf(looked + strlen(looked), llen - strlen(looked), "%s%s", i ? ", " : "",
			 cand[i]);
	return -ENOENT;
}

/* ---- running one program ------------------------------------------------------------ */

static volatile sig_atomic_t child_pgid;

static void forward_signal(int sig)
{
	if (child_pgid > 0)
		kill(-child_pgid, SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct collect {
	struct ioli_cli_bench_run *run;
	struct ioli_cli_bench_step_run *sr;
	FILE *log;
	bool verbose;
	char line[16384];
	size_t len;
};

static void take_line(struct collect *c)
{
	static const char tag[] = "@result ";

	c->line[c->len] = '\0';
	if (c->log)
		fprintf(c->log, "%s\n", c->line);
	if (strncmp(c->line, tag, sizeof(tag) - 1) == 0) {
		struct ioli_cli_bench_rec rec, *grown;

		if (ioli_cli_bench_parse_result(c->line + sizeof(tag) - 1,
						c->len - (sizeof(tag) - 1), &rec) != 0) {
			fprintf(stderr, "iolayer bench: %s: a malformed @result line: %.200s\n",
				c->sr->name, c->line);
		} else if (!(grown = realloc(c->run->recs,
					     (c->run->nrecs + 1) * sizeof(*c->run->recs)))) {
			ioli_cli_bench_rec_free(&rec);
		} else {
			c->run->recs = grown;
			c->run->recs[c->run->nrecs++] = rec;
			c->sr->results++;
		}
	} else if (c->verbose) {
		printf("%s\n", c->line);
	}
	c->len = 0;
}

static void take_bytes(struct collect *c, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			take_line(c);
			continue;
		}
		if (c->len < sizeof(c->line) - 1)
			c->line[c->len++] = buf[i];
	}
}

static int run_step(const struct step *s, const char *dir, bool quick, struct collect *c)
{
	int expected = quick ? s->quick_s : s->full_s;
	double t0 = now_s(), limit = 10.0 * expected + 60, next_note = 30;
	char path[PATH_MAX], root[PATH_MAX], *slash;
	int pfd[2], st = 0;
	bool timed_out = false;
	pid_t pid;

	if (snprintf(path, sizeof(path), "%s/%s", dir, s->prog) >= (int)sizeof(path) ||
	    snprintf(root, sizeof(root), "%s", dir) >= (int)sizeof(root))
		return -ENAMETOOLONG;
	slash = strrchr(root, '/');
	if (slash)
		*slash = '\0';
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		const char *env = quick ? s->env_quick : s->env_full;
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		if (is_script(s->prog)) {
			/* BUILD: the tree the script finds its programs in */
			char buf[512];

			setenv("BUILD", root, 1);
			snprintf(buf, sizeof(buf), "%s", env ? env : "");
			for (char *save, *tok = strtok_r(buf, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				char *eq = strchr(tok, '=');

				if (eq) {
					*eq = '\0';
					setenv(tok, eq + 1, 1);
				}
			}
			execl("/bin/sh", "sh", path, (char *)NULL);
		} else if (quick) {
			execl(path, s->prog, "--quick", (char *)NULL);
		} else {
			execl(path, s->prog, (char *)NULL);
		}
		int e = errno;

		fprintf(stderr, "iolayer bench: cannot run %s: %s\n", ioli_cli_path(path),
			strerror(e));
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with a signal before the child's */
	child_pgid = pid;
	close(pfd[1]);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		char buf[4096];
		double el = now_s() - t0;
		int r = poll(&p, 1, 1000);
		ssize_t n;

		if (r < 0 && errno != EINTR)
			break;
		el = now_s() - t0;
		if (el >= next_note) {
			fprintf(stderr, "  ... %s: %.0f s so far (about %d s)\n", s->prog, el,
				expected);
			next_note += 30;
		}
		if (el > limit && !timed_out) {
			fprintf(stderr, "iolayer bench: %s: still running after %.0f s: stopped\n",
				s->prog, el);
			kill(-pid, SIGKILL);
			timed_out = true;
		}
		if (r <= 0)
			continue;
		n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		take_bytes(c, buf, (size_t)n);
	}
	if (c->len)
		take_line(c);
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL); /* whatever it left behind */
	child_pgid = 0;
	c->sr->seconds = now_s() - t0;
	if (timed_out)
		c->sr->status = -2;
	else
		c->sr->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

/* ---- the command --------------------------------------------------------------------- */

static bool selected(const char *only, const char *prog)
{
	size_t n = strlen(prog);

	if (!only)
		return true;
	for (const char *p = only; *p;) {
		size_t k = strcspn(p, ",");

		if ((k == n && strncmp(p, prog, n) == 0) ||
		    (n > 3 && k == n - 3 && strncmp(p, prog, k) == 0 && !strcmp(prog + k, ".sh")))
			return true;
		p += k;
		if (*p == ',')
			p++;
	}
	return false;
}

static void header(const struct ioli_cli_bench_run *run, const char *dir, int nsel, int expect_s)
{
	printf("# iolayer bench: iolayer %s, %s run of %d benchmark program%s (about %d min)\n",
	       IOL_VERSION_STRING, run->quick ? "quick" : "full", nsel, nsel == 1 ? "" : "s",
	       (expect_s + 59) / 60);
	printf("machine:  %s, %ld CPUs online\n", run->m.cpu, run->m.cpus);
	printf("kernel:   %s\n", run->m.kernel);
	printf("liburing: %s (built against)\n", run->m.liburing);
	printf("load:     %s (1/5/15 min) at start\n", run->m.load_start);
	if (atof(run->m.load_start) > 0.5 * (double)run->m.cpus)
		printf("          (a busy machine: expect a wider spread; run again when "
		       "it is idle)\n");
	printf("date:     %s\n", run->m.date);
	printf("programs: %s\n\n", ioli_cli_path(dir));
	fflush(stdout);
}

int ioli_cli_bench(int argc, char **argv)
{
	const char *only = NULL, *json = "iolayer-bench.json", *svg = "iolayer-bench.svg";
	const char *logs = NULL, *given_dir = NULL;
	const char *q = getenv("BENCH_QUICK");
	bool quick = q && *q && strcmp(q, "0") != 0, list = false, verbose = false, chart = true;
	struct ioli_cli_bench_run run = {0};
	struct ioli_cli_bench_step_run sr[N_STEPS];
	char dir[PATH_MAX], looked[PATH_MAX * 3 + 8], logdir[PATH_MAX];
	int failed = 0, nsel = 0, expect = 0, err;
	double t0;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **val = !strcmp(a, "--only")	  ? &only
				   : !strcmp(a, "--json") ? &json
				   : !strcmp(a, "--svg")  ? &svg
				   : !strcmp(a, "--logs") ? &logs
				   : !strcmp(a, "--dir")  ? &given_dir
							  : NULL;

		if (val) {
			if (i + 1 >= argc || !*argv[i + 1])
				return ioli_cli_usage_error("bench", "%s needs a value", a);
			*val = argv[++i];
		} else if (!strcmp(a, "--quick")) {
			quick = true;
		} else if (!strcmp(a, "--list")) {
			list = true;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			verbose = true;
		} else if (!strcmp(a, "--no-chart")) {
			chart = false;
		} else {
			return ioli_cli_usage_error("bench", "unknown argument '%s'",
						    ioli_cli_name(a));
		}
	}
	for (size_t i = 0; i < N_STEPS; i++)
		if (selected(only, steps[i].prog))
			nsel++;
	if (nsel == 0)
		return ioli_cli_usage_error("bench", "--only %s names no benchmark (see --list)",
					    ioli_cli_name(only));

	err = find_dir(given_dir, dir, sizeof(dir), looked, sizeof(looked));
	if (err) {
		fprintf(stderr,
			"iolayer bench: the benchmark programs are missing (looked for %s in %s).\n"
			"In a source tree, build them with 'make benches' (they go to "
			"build/bench/); an installed iolayer has them in "
			"PREFIX/libexec/iolayer/bench/ ('make install').\n",
			steps[0].prog, ioli_cli_path(looked));
		return CLI_FAIL;
	}
	if (list) {
		for (size_t i = 0; i < N_STEPS; i++)
			printf("%-16s %-8s %s\n", steps[i].prog,
			       is_exec(dir, steps[i].prog) ? "found" : "MISSING", steps[i].what);
		printf("in %s\n", ioli_cli_path(dir));
		return ioli_cli_finish(CLI_OK);
	}

	if (!logs) {
		const char *slash = strrchr(json, '/');

		snprintf(logdir, sizeof(logdir), "%.*slogs", slash ? (int)(slash - json + 1) : 0,
			 json);
		logs = logdir;
	}
	run.quick = quick;
	run.steps = sr;
	ioli_cli_bench_machine(&run.m);
	for (size_t i = 0; i < N_STEPS; i++)
		if (selected(only, steps[i].prog))
			expect += quick ? steps[i].quick_s : steps[i].full_s;
	header(&run, dir, nsel, expect);
	signal(SIGINT, forward_signal);
	signal(SIGTERM, forward_signal);
	signal(SIGPIPE, SIG_IGN);

	t0 = now_s();
	for (size_t i = 0; i < N_STEPS; i++) {
		const struct step *s = &steps[i];
		struct collect c = {.run = &run, .verbose = verbose};
		struct ioli_cli_bench_step_run *r = &sr[run.nsteps];

		if (!selected(only, s->prog))
			continue;
		*r = (struct ioli_cli_bench_step_run){.name = s->prog, .status = -1};
		run.nsteps++;
		c.sr = r;
		if (!is_exec(dir, s->prog)) {
			fprintf(stderr, "iolayer bench: %s/%s is missing\n", ioli_cli_path(dir),
				s->prog);
			failed++;
			continue;
		}
		snprintf(r->log, sizeof(r->log), "%s/%.*s.txt", logs,
			 (int)(strlen(s->prog) - (is_script(s->prog) ? 3 : 0)), s->prog);
		if (ioli_cli_bench_mkdirs_for(r->log) == 0)
			c.log = ioli_cli_replace(r->log);
		if (!c.log)
			r->log[0] = '\0';
		fprintf(stderr, "[%zu/%d] %s: %s (about %d s)\n", run.nsteps, nsel, s->prog,
			s->what, quick ? s->quick_s : s->full_s);
		err = run_step(s, dir, quick, &c);
		if (c.log)
			fclose(c.log);
		if (err) {
			fprintf(stderr, "iolayer bench: %s: %s\n", s->prog, strerror(-err));
			failed++;
			continue;
		}
		if (r->status != 0) {
			fprintf(stderr, "iolayer bench: %s %s (see %s)\n", s->prog,
				r->status == -2 ? "timed out" : "failed", ioli_cli_path(r->log));
			failed++;
		} else if (r->results == 0) {
			fprintf(stderr, "iolayer bench: %s printed no @result line\n", s->prog);
		}
		fprintf(stderr, "[%zu/%d] %s: %zu results in %.0f s\n", run.nsteps, nsel, s->prog,
			r->results, r->seconds);
	}
	run.seconds = now_s() - t0;
	ioli_loadavg(run.m.load_end, sizeof(run.m.load_end));

	printf("\n");
	ioli_cli_bench_table(stdout, &run);
	printf("\nload:     %s (1/5/15 min) at end\n", run.m.load_end);
	printf("total:    %.0f min %.0f s\n", (double)((long)run.seconds / 60),
	       run.seconds - 60.0 * (double)((long)run.seconds / 60));
	err = ioli_cli_bench_write_json(json, &run);
	if (err) {
		fprintf(stderr, "iolayer bench: writing %s: %s\n", ioli_cli_path(json),
			strerror(-err));
		failed++;
	} else {
		printf("results:  %s (logs in %s/)\n", ioli_cli_path(json), ioli_cli_path(logs));
	}
	if (chart) {
		err = ioli_cli_bench_chart(svg, &run);
		if (err == -ENOENT)
			fprintf(stderr,
				"iolayer bench: no chart: gnuplot is not installed (Debian: "
				"gnuplot-nox; 'sh mk/deps.sh bench')\n");
		else if (err)
			fprintf(stderr, "iolayer bench: the chart %s: %s\n", ioli_cli_path(svg),
				strerror(-err));
		else
			printf("chart:    %s\n", ioli_cli_path(svg));
	}
	for (size_t i = 0; i < run.nrecs; i++)
		ioli_cli_bench_rec_free(&run.recs[i]);
	free(run.recs);
	return ioli_cli_finish(failed ? CLI_FAIL : CLI_OK);
}
