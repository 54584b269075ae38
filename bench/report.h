/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark program prints besides its own table: a header
 * describing the machine, and one machine-readable line per figure, the
 * "@result" protocol that `iolayer bench` collects (docs/performance.md,
 * "The result protocol"):
 *
 *   @result {"v":1,"bench":"sync_bench","scenario":"...","unit":"ns",
 *            "better":"lower",
 *            "iolayer":{"median":42.4,"min":39.2,"max":43.8,"runs":5},
 *            "baseline":"robust pshared pthread mutex",
 *            "baseline_value":{"median":27.7,"min":27.2,"max":30.5,"runs":5},
 *            "ratio":1.53,"ratio_is":"iolayer/baseline",
 *            "goal":"<= 1.50x","goal_met":false}
 *
 * on one line, starting at the beginning of the line.  A figure is
 * measured in `runs` independent runs; median, min and max are over the
 * per-run figures.  The ratio is of the medians, oriented so that the
 * goal reads naturally: iolayer/baseline ("no slower than 1.5x": <= 1.50x)
 * or baseline/iolayer ("50x faster than the daemon": >= 50x).  A scenario
 * without a baseline has "baseline" null and no ratio; one without a goal
 * in the issue has "goal" and "goal_met" null.
 *
 * Header-only (static functions) because each bench/NAME.c is built alone
 * into build/bench/NAME.
 */
#ifndef IOLAYER_BENCH_REPORT_H
#define IOLAYER_BENCH_REPORT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "iolayer/probe.h"
#include "src/cli/machine.h" /* the CPU model and load, as `iolayer bench` reports them */

#define BENCH_PROTOCOL_VERSION 1

/* A figure: the median, min and max of its per-run values. */
struct bench_fig {
	double median, min, max;
	int runs;
};

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median (the mean of the middle two for an even count), min and max
 * of v[0..n-1]; v is left untouched. */
static inline struct bench_fig bench_fig_of(const double *v, int n)
{
	struct bench_fig f = {0, 0, 0, n};
	double *s;

	if (n <= 0)
		return f;
	s = malloc(sizeof(double) * (size_t)n);
	if (!s) {
		fputs("bench: out of memory\n", stderr);
		exit(1);
	}
	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), bench_cmp_double);
	f.median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	f.min = s[0];
	f.max = s[n - 1];
	free(s);
	return f;
}

enum bench_better { BENCH_LOWER_IS_BETTER, BENCH_HIGHER_IS_BETTER };
enum bench_ratio { BENCH_RATIO_IOL_OVER_BASE, BENCH_RATIO_BASE_OVER_IOL };
enum bench_goal { BENCH_NO_GOAL, BENCH_GOAL_AT_MOST, BENCH_GOAL_AT_LEAST };

struct bench_result {
	const char *scenario; /* what is measured, without the unit */
	const char *unit;     /* "ns", "us", "Mops/s", ... */
	enum bench_better better;
	struct bench_fig iol;
	const char *baseline; /* NULL: no baseline */
	struct bench_fig base;
	enum bench_ratio ratio_is;
	enum bench_goal goal_kind;
	double goal; /* the ratio's bound */
};

static inline void bench_json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static inline void bench_json_num(FILE *out, double v)
{
	if (isfinite(v))
		fprintf(out, "%.6g", v);
	else
		fputs("null", out);
}

static inline void bench_json_fig(FILE *out, const struct bench_fig *f)
{
	fputs("{\"median\":", out);
	bench_json_num(out, f->median);
	fputs(",\"min\":", out);
	bench_json_num(out, f->min);
	fputs(",\"max\":", out);
	bench_json_num(out, f->max);
	fprintf(out, ",\"runs\":%d}", f->runs);
}

/* The ratio of the medians, oriented as r->ratio_is says; NAN without a
 * baseline. */
static inline double bench_ratio(const struct bench_result *r)
{
	if (!r->baseline)
		return NAN;
	return r->ratio_is == BENCH_RATIO_IOL_OVER_BASE ? r->iol.median / r->base.median
							: r->base.median / r->iol.median;
}

/* "<= 1.50x", ">= 50x", or "" without a goal. */
static inline void bench_goal_text(const struct bench_result *r, char *buf, size_t len)
{
	if (r->goal_kind == BENCH_NO_GOAL) {
		snprintf(buf, len, "%s", "");
		return;
	}
	snprintf(buf, len, "%s %.*fx",
		 r->goal_kind == BENCH_GOAL_AT_MOST ? "<=" : ">=", r->goal >= 10 ? 0 : 2, r->goal);
}

static inline bool bench_goal_met(const struct bench_result *r)
{
	double x = bench_ratio(r);

	return r->goal_kind == BENCH_GOAL_AT_MOST ? x <= r->goal : x >= r->goal;
}

/* One "@result {...}" line on stdout, flushed (the runner reads a pipe). */
static inline void bench_emit(const char *bench, const struct bench_result *r)
{
	char goal[32];

	printf("@result {\"v\":%d,\"bench\":", BENCH_PROTOCOL_VERSION);
	bench_json_str(stdout, bench);
	fputs(",\"scenario\":", stdout);
	bench_json_str(stdout, r->scenario);
	fputs(",\"unit\":", stdout);
	bench_json_str(stdout, r->unit);
	printf(",\"better\":\"%s\",\"iolayer\":",
	       r->better == BENCH_HIGHER_IS_BETTER ? "higher" : "lower");
	bench_json_fig(stdout, &r->iol);
	fputs(",\"baseline\":", stdout);
	bench_json_str(stdout, r->baseline);
	fputs(",\"baseline_value\":", stdout);
	if (r->baseline)
		bench_json_fig(stdout, &r->base);
	else
		fputs("null", stdout);
	fputs(",\"ratio\":", stdout);
	bench_json_num(stdout, bench_ratio(r));
	fputs(",\"ratio_is\":", stdout);
	bench_json_str(stdout, !r->baseline				  ? NULL
			       : r->ratio_is == BENCH_RATIO_IOL_OVER_BASE ? "iolayer/baseline"
									  : "baseline/iolayer");
	fputs(",\"goal\":", stdout);
	if (r->goal_kind == BENCH_NO_GOAL || !r->baseline) {
		fputs("null,\"goal_met\":null}\n", stdout);
	} else {
		bench_goal_text(r, goal, sizeof(goal));
		bench_json_str(stdout, goal);
		printf(",\"goal_met\":%s}\n", bench_goal_met(r) ? "true" : "false");
	}
	fflush(stdout);
}

/* ---- the header ---------------------------------------------------------- */

/* The common header lines: program, machine, kernel, liburing, load. */
static inline void bench_header(const char *bench)
{
	const struct iol_features *f = iol_features();
	char model[256], load[64];
	struct utsname u;

	ioli_cpu_model(model, sizeof(model));
	ioli_loadavg(load, sizeof(load));
	uname(&u);
	printf("# %s: iolayer %s\n", bench, IOL_VERSION_STRING);
	printf("machine:  %s, %ld CPUs online\n", model, sysconf(_SC_NPROCESSORS_ONLN));
	printf("kernel:   %s %s %s\n", u.sysname, u.release, u.machine);
	if (f->liburing_major >= 0)
		printf("liburing: %d.%d (built against)\n", f->liburing_major, f->liburing_minor);
	else
		printf("liburing: unknown\n");
	printf("load:     %s (1/5/15 min) at start\n", load);
}

/* Progress for a human on stderr ("sync_bench: mutex, run 2 of 5"). */
#define bench_progress(...)                                                                        \
	do {                                                                                       \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
	} while (0)

static inline int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* True when argv holds --quick (or -q): the smoke-run size. */
/*
 * For the programs whose only option is --quick: --help prints the usage
 * and exits 0; anything else unknown prints it and exits 2, so a mistyped
 * option never starts a full run.  Returns whether --quick was given.
 */
static inline bool bench_quick_only(int argc, char **argv, const char *usage)
{
	bool quick = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0 || strcmp(argv[i], "-q") == 0) {
			quick = true;
			continue;
		}
		bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
		if (!help)
			fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
		fprintf(help ? stdout : stderr, "usage: %s %s\n", argv[0], usage);
		exit(help ? 0 : 2);
	}
	return quick;
}

#endif /* IOLAYER_BENCH_REPORT_H */
