/* SPDX-License-Identifier: MIT */
/*
 * iolayer bench: the runner of bench/ (cmd_bench.c), the results it
 * collects from the programs' "@result" lines (bench_report.c) and the
 * chart (bench_chart.c).  The protocol itself is described in
 * bench/report.h and docs/performance.md.
 */
#ifndef IOLAYER_CLI_BENCH_H
#define IOLAYER_CLI_BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ioli_cli_bench_fig {
	double median, min, max;
	int runs;
};

/* One @result line. */
struct ioli_cli_bench_rec {
	char *raw; /* its JSON text, as printed */
	char *bench, *scenario, *unit, *baseline, *goal;
	bool higher_better;
	bool base_over_iol;		     /* ratio is baseline/iolayer */
	struct ioli_cli_bench_fig iol, base; /* base: only with a baseline */
	bool has_ratio, has_goal, goal_met;
	double ratio;
};

struct ioli_cli_bench_step_run {
	const char *name;
	int status; /* exit status; -1: not run (missing); -2: timed out */
	double seconds;
	size_t results;
	char log[PATH_MAX];
};

struct ioli_cli_bench_machine {
	char cpu[256];
	long cpus;
	char kernel[192];
	char liburing[32];
	char load_start[64], load_end[64];
	char date[32]; /* UTC, ISO 8601 */
};

struct ioli_cli_bench_run {
	struct ioli_cli_bench_machine m;
	bool quick;
	double seconds;
	struct ioli_cli_bench_rec *recs;
	size_t nrecs;
	struct ioli_cli_bench_step_run *steps;
	size_t nsteps;
};

/* Parses the JSON of one @result line (without the "@result " prefix).
 * Returns 0, or -EINVAL when it is not valid JSON or lacks a required
 * member (v 1, bench, scenario, unit, iolayer); -ENOMEM. */
int ioli_cli_bench_parse_result(const char *json, size_t len, struct ioli_cli_bench_rec *out);
void ioli_cli_bench_rec_free(struct ioli_cli_bench_rec *r);

/* The machine, described as bench/report.h's header does (CPU model, load). */
void ioli_cli_bench_machine(struct ioli_cli_bench_machine *m);

/* The final table, as Markdown, with its legend. */
void ioli_cli_bench_table(FILE *out, const struct ioli_cli_bench_run *run);
/* bench/results/latest.json: the machine, the steps and every @result. */
int ioli_cli_bench_write_json(const char *path, const struct ioli_cli_bench_run *run);
/* The chart, through gnuplot.  Returns 0, or a negative errno (-ENOENT:
 * no gnuplot). */
int ioli_cli_bench_chart(const char *svg_path, const struct ioli_cli_bench_run *run);

/* mkdir -p of the directory part of path. */
int ioli_cli_bench_mkdirs_for(const char *path);

#endif /* IOLAYER_CLI_BENCH_H */
