/* SPDX-License-Identifier: MIT */
/*
 * `iolayer bench`, the runner, on stand-in programs: small shell scripts
 * named like the real benchmarks that print known @result lines (the real
 * ones take minutes and their figures are not deterministic).  What is
 * checked: the programs are found (and a clear failure when they are
 * not), --quick reaches them, scripts get BUILD and their environment,
 * the table carries every figure, ratio, goal and verdict, latest.json
 * holds them all, a failing or silent program is reported, and usage
 * errors are usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/cli_run.h"

static char tmp[128];  /* a private directory */
static char bdir[256]; /* tmp/build/bench: the stand-in programs */
static char srcdir[1024];

static void has(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("expected to find\n  %s\nin\n%s", needle, haystack);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *read_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *s;

	if (fd < 0)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	s = slurp(fd);
	close(fd);
	return s;
}

/* A stand-in: records its arguments, prints a human line, then body. */
static void program(const char *name, const char *body)
{
	char path[PATH_MAX + 64], text[8192];

	snprintf(path, sizeof(path), "%s/%s", bdir, name);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "echo \"$*\" > '%s/%s.args'\n"
		 "echo '| a human table line of %s |'\n"
		 "echo '%s: progress' >&2\n"
		 "%s",
		 tmp, name, name, name, body);
	write_file(path, text, 0755);
}

#define RESULT(bench, scen, rest)                                                                  \
	"echo '@result {\"v\":1,\"bench\":\"" bench "\",\"scenario\":\"" scen "\"," rest "}'\n"

static void standard_programs(void)
{
	program("sync_bench",
		RESULT("sync_bench", "mutex uncontended",
		       "\"unit\":\"ns\",\"better\":\"lower\",\"iolayer\":{\"median\":42.4,\"min\":"
		       "39.2,\"max\":43.8,\"runs\":5},\"baseline\":\"robust pthread\","
		       "\"baseline_value\":{\"median\":27.7,\"min\":27.2,\"max\":30.5,\"runs\":5},"
		       "\"ratio\":1.53,\"ratio_is\":\"iolayer/baseline\",\"goal\":\"<= 1.50x\","
		       "\"goal_met\":false") "echo '@result {not json'\n");
	program("process_bench",
		RESULT("process_bench", "exit to wake",
		       "\"unit\":\"us\",\"better\":\"lower\",\"iolayer\":{\"median\":41.9,\"min\":"
		       "40.9,\"max\":42.1,\"runs\":5},\"baseline\":null,\"baseline_value\":null,"
		       "\"ratio\":null,\"ratio_is\":null,\"goal\":null,\"goal_met\":null"));
	program("reclaim_bench",
		RESULT("reclaim_bench", "reclaim after SIGKILL, 10 other attached",
		       "\"unit\":\"ms\",\"better\":\"lower\",\"iolayer\":{\"median\":1.4,\"min\":"
		       "0.9,\"max\":3.4,\"runs\":50},\"baseline\":\"waitpid + iol_table_reclaim\","
		       "\"baseline_value\":{\"median\":1.6,\"min\":1.1,\"max\":6.1,\"runs\":50},"
		       "\"ratio\":0.86,\"ratio_is\":\"iolayer/baseline\",\"goal\":null,"
		       "\"goal_met\":null"));
	program(
	    "daemon_baseline",
	    RESULT("daemon_baseline", "create+close",
		   "\"unit\":\"ns\",\"better\":\"lower\",\"iolayer\":{\"median\":100,\"min\":90,"
		   "\"max\":110,\"runs\":5},\"baseline\":\"daemon\",\"baseline_value\":{"
		   "\"median\":6000,\"min\":5900,\"max\":6100,\"runs\":5},\"ratio\":60,"
		   "\"ratio_is\":\"baseline/iolayer\",\"goal\":\">= 50x\",\"goal_met\":true"));
	program("scaling_bench",
		RESULT("scaling_bench", "mutex contended, 2 threads",
		       "\"unit\":\"Mops/s\",\"better\":\"higher\",\"iolayer\":{\"median\":30,"
		       "\"min\":28,\"max\":31,\"runs\":5},\"baseline\":\"pthread\",\"baseline_value"
		       "\":{\"median\":40,\"min\":39,\"max\":41,\"runs\":5},\"ratio\":0.75,"
		       "\"ratio_is\":\"iolayer/baseline\",\"goal\":null,\"goal_met\":null"));
	/* The pool's step, a script on bench/report.sh: it must get BUILD (the
	 * tree above the programs) and its environment. */
	{
		char path[PATH_MAX + 64], text[8192];

		snprintf(path, sizeof(path), "%s/pool_bench.sh", bdir);
		snprintf(
		    text, sizeof(text),
		    ". '%s/bench/report.sh'\n"
		    "echo \"BUILD=$BUILD RUNS=$RUNS DURATION=$DURATION QUIET_WAIT=$QUIET_WAIT\" "
		    "> '%s/pool.env'\n"
		    "bench_result pool_bench 'echo, 256 connections' req/s higher "
		    "'100 120 110' 'epoll backend' '90 95 91' iolayer/baseline '>= 1.2'\n",
		    srcdir, tmp);
		write_file(path, text, 0644); /* run with sh: no need to be executable */
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state)
{
	char p[256];

	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/iolayer-bench-test.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(p, sizeof(p), "%s/build", tmp);
	mkdir(p, 0755);
	snprintf(bdir, sizeof(bdir), "%s/build/bench", tmp);
	mkdir(bdir, 0755);
	standard_programs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void test_bench_runs_every_program_into_one_table(void **state)
{
	char json[512], log[512], args[512], env[512];
	char *s;

	(void)state;
	snprintf(env, sizeof(env), "BUILD=%s/build RUNS=1 DURATION=1 QUIET_WAIT=2\n", tmp);
	snprintf(json, sizeof(json), "%s/out/latest.json", tmp);
	struct run r = run_cli(
	    (const char *[]){"bench", "--quick", "--dir", bdir, "--json", json, "--no-chart", NULL},
	    NULL, false);
	if (r.status != 0)
		fail_msg("status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	/* the header */
	has(r.out, "quick run of 6 benchmark programs");
	has(r.out, "kernel:");
	has(r.out, "liburing:");
	has(r.out, "load:");
	/* one table, every figure in it */
	has(r.out,
	    "| bench | scenario | iolayer | baseline | baseline figure | ratio | goal | met |");
	has(r.out, "| sync_bench | mutex uncontended | 42.4 ns [39.2, 43.8] | robust pthread | "
		   "27.7 ns [27.2, 30.5] | 1.53x | <= 1.50x | **NO** |");
	has(r.out, "| process_bench | exit to wake | 41.9 us [40.9, 42.1] | - |  |  |  |  |");
	has(r.out, "| reclaim_bench | reclaim after SIGKILL, 10 other attached | 1.40 ms [0.90, "
		   "3.40] | waitpid + iol_table_reclaim | 1.60 ms [1.10, 6.10] | 0.86x |  |  |");
	has(r.out, "| daemon_baseline | create+close | 100 ns [90.0, 110] | daemon | 6000 ns "
		   "[5900, 6100] | 60.0x (b/i) | >= 50x | yes |");
	has(r.out, "| scaling_bench | mutex contended, 2 threads | 30.0 Mops/s [28.0, 31.0] | "
		   "pthread | 40.0 Mops/s [39.0, 41.0] | 0.75x |  |  |");
	has(r.out, "| pool_bench | echo, 256 connections | 110 req/s [100, 120] | epoll backend | "
		   "91.0 req/s [90.0, 95.0] | 1.21x | >= 1.20x | yes |");
	assert_null(strstr(r.out, "a human table line")); /* those go to the logs */
	/* progress and problems on stderr */
	has(r.err, "sync_bench: progress");
	has(r.err, "malformed @result");
	/* --quick reached the programs, the environment the script */
	snprintf(args, sizeof(args), "%s/sync_bench.args", tmp);
	s = read_file(args);
	assert_string_equal(s, "--quick\n");
	free(s);
	snprintf(args, sizeof(args), "%s/pool.env", tmp);
	s = read_file(args);
	assert_string_equal(s, env);
	free(s);
	/* latest.json: valid, with the machine and every result */
	s = read_file(json);
	assert_json(s);
	has(s, "\"mode\": \"quick\"");
	has(s, "\"machine\": {\"cpu\": ");
	has(s, "\"liburing\": ");
	has(s, "\"scenario\":\"mutex uncontended\"");
	has(s, "\"scenario\":\"echo, 256 connections\"");
	has(s, "\"name\": \"pool_bench.sh\", \"status\": 0");
	free(s);
	/* the logs: each program's own output */
	snprintf(log, sizeof(log), "%s/out/logs/sync_bench.txt", tmp);
	s = read_file(log);
	has(s, "| a human table line of sync_bench |");
	has(s, "@result {\"v\":1,\"bench\":\"sync_bench\"");
	free(s);
	run_free(&r);

	/* --verbose shows the programs' own tables too; BENCH_QUICK=1 is
	 * --quick; --only runs a subset */
	r = run_cli((const char *[]){"bench", "--verbose", "--only", "daemon_baseline", "--dir",
				     bdir, "--json", json, "--no-chart", NULL},
		    (const char *[]){"BENCH_QUICK=1", NULL}, false);
	assert_int_equal(r.status, 0);
	has(r.out, "| a human table line of daemon_baseline |");
	has(r.out, "quick run of 1 benchmark program ");
	assert_null(strstr(r.out, "sync_bench"));
	run_free(&r);
	snprintf(args, sizeof(args), "%s/daemon_baseline.args", tmp);
	s = read_file(args);
	assert_string_equal(s, "--quick\n");
	free(s);
}

static void test_bench_reports_a_failing_program(void **state)
{
	char json[PATH_MAX + 32];

	(void)state;
	char gone[PATH_MAX + 64];

	program("process_bench", "echo 'nothing measured' >&2\nexit 3\n");
	program("scaling_bench", "echo 'no results'\n");
	snprintf(gone, sizeof(gone), "%s/daemon_baseline", bdir);
	assert_int_equal(unlink(gone), 0);
	snprintf(json, sizeof(json), "%s/fail.json", tmp);
	struct run r =
	    run_cli((const char *[]){"bench", "--dir", bdir, "--json", json, "--no-chart", NULL},
		    NULL, false);
	assert_int_equal(r.status, 1);
	has(r.err, "process_bench failed");
	has(r.err, "scaling_bench printed no @result line");
	has(r.err, "daemon_baseline is missing");
	/* the others still ran and are in the table */
	has(r.out, "| sync_bench | mutex uncontended |");
	has(r.out, "| pool_bench | echo, 256 connections |");
	assert_null(strstr(r.out, "| daemon_baseline |"));
	has(r.out, "full run of 6 benchmark programs");
	run_free(&r);
	char *s = read_file(json);

	assert_json(s);
	has(s, "\"name\": \"process_bench\", \"status\": 3");
	has(s, "\"name\": \"daemon_baseline\", \"status\": \"missing\"");
	free(s);
	standard_programs();
}

/* The files bench writes are never written through a name planted in
 * their directory (a symbolic link at the JSON file's old temporary name,
 * or at a log's name): the link's target is untouched and the real file
 * takes the name. */
static void test_bench_does_not_follow_planted_links(void **state)
{
	char out[256], logs[300], json[320], link_tmp[340], link_log[340], victim[300];
	const char precious[] = "precious, not to be written\n";
	struct stat st;
	char *s;

	(void)state;
	snprintf(out, sizeof(out), "%s/planted", tmp);
	assert_int_equal(mkdir(out, 0755), 0);
	snprintf(logs, sizeof(logs), "%s/logs", out);
	assert_int_equal(mkdir(logs, 0755), 0);
	snprintf(victim, sizeof(victim), "%s/victim", tmp);
	write_file(victim, precious, 0644);
	snprintf(json, sizeof(json), "%s/latest.json", out);
	snprintf(link_tmp, sizeof(link_tmp), "%s.tmp", json);
	snprintf(link_log, sizeof(link_log), "%s/sync_bench.txt", logs);
	assert_int_equal(symlink(victim, link_tmp), 0);
	assert_int_equal(symlink(victim, link_log), 0);

	struct run r = run_cli((const char *[]){"bench", "--quick", "--only", "sync_bench", "--dir",
						bdir, "--json", json, "--no-chart", NULL},
			       NULL, false);
	if (r.status != 0)
		fail_msg("status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	run_free(&r);
	s = read_file(victim);
	assert_string_equal(s, precious);
	free(s);
	/* the results and the log are real files of their own */
	assert_int_equal(lstat(json, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	s = read_file(json);
	assert_json(s);
	has(s, "\"name\": \"sync_bench\", \"status\": 0");
	free(s);
	assert_int_equal(lstat(link_log, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	s = read_file(link_log);
	has(s, "a human table line of sync_bench");
	free(s);
	/* the planted link is left as it was */
	assert_int_equal(lstat(link_tmp, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void test_bench_missing_programs(void **state)
{
	char empty[256], lone[512], saved[sizeof(cli)];
	struct run r;

	(void)state;
	snprintf(empty, sizeof(empty), "%s/empty", tmp);
	mkdir(empty, 0755);
	r = run_cli((const char *[]){"bench", "--dir", empty, NULL}, NULL, false);
	assert_int_equal(r.status, 1);
	has(r.err, "the benchmark programs are missing");
	has(r.err, empty);
	has(r.err, "make benches");
	run_free(&r);

	/* The command alone, away from any build: it says where it looked. */
	snprintf(lone, sizeof(lone), "%s/iolayer", empty);
	{
		char cmd[3 * PATH_MAX];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", cli, lone);
		assert_int_equal(system(cmd), 0);
	}
	memcpy(saved, cli, sizeof(cli));
	snprintf(cli, sizeof(cli), "%s", lone);
	r = run_cli((const char *[]){"bench", NULL}, (const char *[]){"IOLAYER_BENCH_DIR", NULL},
		    false);
	memcpy(cli, saved, sizeof(cli));
	assert_int_equal(r.status, 1);
	has(r.err, "the benchmark programs are missing");
	{
		char want[PATH_MAX + 64];

		snprintf(want, sizeof(want), "%s/bench", empty);
		has(r.err, want);
		snprintf(want, sizeof(want), "%s/../libexec/iolayer/bench", empty);
		has(r.err, want);
	}
	has(r.err, "PREFIX/libexec/iolayer/bench/");
	run_free(&r);
	unlink(lone);

	/* IOLAYER_BENCH_DIR names the directory too */
	{
		char env[PATH_MAX + 32];

		snprintf(env, sizeof(env), "IOLAYER_BENCH_DIR=%s", bdir);
		r = run_cli((const char *[]){"bench", "--list", NULL}, (const char *[]){env, NULL},
			    false);
	}
	assert_int_equal(r.status, 0);
	has(r.out, "sync_bench       found");
	has(r.out, "pool_bench.sh    found");
	has(r.out, bdir);
	run_free(&r);
}

static void test_bench_usage_errors(void **state)
{
	static const char *const bad[][4] = {
	    {"bench", "--only", "nosuch", NULL},
	    {"bench", "--frobnicate", NULL},
	    {"bench", "--json", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run r = run_cli(bad[i], NULL, false);

		assert_int_equal(r.status, 2);
		has(r.err, "Try 'iolayer bench --help'");
		run_free(&r);
	}
	struct run r = run_cli((const char *[]){"bench", "--help", NULL}, NULL, false);

	assert_int_equal(r.status, 0);
	has(r.out, "usage: iolayer bench");
	run_free(&r);
	r = run_cli((const char *[]){"--help", NULL}, NULL, false);
	has(r.out, "bench ");
	run_free(&r);
}

static void test_bench_chart(void **state)
{
	char json[PATH_MAX + 32], svg[PATH_MAX + 32];

	(void)state;
	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		print_message(
		    "  skip: gnuplot is not installed (sh mk/deps.sh bench installs it)\n");
		skip();
	}
	snprintf(json, sizeof(json), "%s/chart.json", tmp);
	snprintf(svg, sizeof(svg), "%s/img/chart.svg", tmp);
	struct run r = run_cli(
	    (const char *[]){"bench", "--quick", "--dir", bdir, "--json", json, "--svg", svg, NULL},
	    NULL, false);
	assert_int_equal(r.status, 0);
	has(r.out, "chart:");
	run_free(&r);
	char *s = read_file(svg);

	has(s, "<svg");
	has(s, "sync_bench: mutex uncontended, vs robust pthread");
	has(s, "daemon_baseline: create+close, vs daemon");
	free(s);
}

int main(void)
{
	const char *s = getenv("IOLAYER_SRCDIR");

	if (cli_locate("test_cli_bench"))
		return 1;
	snprintf(srcdir, sizeof(srcdir), "%s", s && *s ? s : ".");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bench_runs_every_program_into_one_table),
	    cmocka_unit_test(test_bench_reports_a_failing_program),
	    cmocka_unit_test(test_bench_does_not_follow_planted_links),
	    cmocka_unit_test(test_bench_missing_programs),
	    cmocka_unit_test(test_bench_usage_errors),
	    cmocka_unit_test(test_bench_chart),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
