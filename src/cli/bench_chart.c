/* SPDX-License-Identifier: MIT */
/*
 * iolayer bench: the chart (docs/img/bench.svg), drawn by gnuplot.
 *
 * One horizontal bar per comparison, on a log scale, normalized so that
 * every bar reads the same way: how many times better iolayer is than the
 * baseline (1 = equal; above 1 iolayer is faster, or has more throughput).
 * The whisker spans the worst and best pairing of the runs' min and max;
 * a triangle marks the goal, which the bar must reach.  Green: goal met,
 * red: missed, blue: no goal.  SVG, or PNG when the file name ends in .png.
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/cli/bench.h"

extern char **environ;

/* (The CLI is not linked with libm.) */
static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

/* The advantage of iolayer over the baseline for a value pair. */
static double advantage(const struct ioli_cli_bench_rec *r, double iol, double base)
{
	return r->higher_better ? iol / base : base / iol;
}

/* The goal as an advantage threshold, or NAN.  The goal text is
 * "<= 1.50x" or ">= 50x" on the ratio as printed. */
static double goal_advantage(const struct ioli_cli_bench_rec *r)
{
	double g;
	char op[3];
	bool ratio_is_adv;

	if (!r->has_goal || sscanf(r->goal, "%2s %lf", op, &g) != 2 || g <= 0)
		return NAN;
	/* The ratio is the advantage itself when it is baseline/iolayer of a
	 * time, or iolayer/baseline of a throughput; its inverse otherwise. */
	ratio_is_adv = r->base_over_iol != r->higher_better;
	return ratio_is_adv ? g : 1 / g;
}

/* s as a gnuplot double-quoted string (where \n is a line break). */
static void gp_dquote(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* s as a gnuplot single-quoted string. */
static void gp_quote(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

static int run_gnuplot(const char *script)
{
	char *argv[] = {"gnuplot", (char *)script, NULL};
	pid_t pid;
	int st, err;

	err = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (err)
		return -err;
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int ioli_cli_bench_chart(const char *svg_path, const struct ioli_cli_bench_run *run)
{
	char dir[] = "/tmp/iolayer-chart.XXXXXX", data[64], script[64];
	double lo_all = 1, hi_all = 1;
	size_t n = 0;
	FILE *d, *g;
	int err;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(script, sizeof(script), "%s/chart.gp", dir);
	d = fopen(data, "w");
	if (!d) {
		err = -errno;
		goto out;
	}
	for (size_t i = 0; i < run->nrecs; i++) {
		const struct ioli_cli_bench_rec *r = &run->recs[i];
		double adv, lo, hi, goal;
		unsigned colour = 0x5b84b1;

		if (!r->baseline || !(r->iol.median > 0) || !(r->base.median > 0) ||
		    !(r->iol.min > 0) || !(r->base.min > 0))
			continue;
		adv = advantage(r, r->iol.median, r->base.median);
		/* the pairings of the extremes that are worst and best for iolayer */
		lo = dmin(advantage(r, r->iol.max, r->base.min),
			  advantage(r, r->iol.min, r->base.max));
		hi = dmax(advantage(r, r->iol.max, r->base.min),
			  advantage(r, r->iol.min, r->base.max));
		goal = goal_advantage(r);
		if (r->has_goal)
			colour = r->goal_met ? 0x2e8b57 : 0xcc3333;
		lo_all = dmin(lo_all, lo);
		hi_all = dmax(hi_all, hi);
		if (isfinite(goal)) {
			lo_all = dmin(lo_all, goal);
			hi_all = dmax(hi_all, goal);
		}
		fprintf(d, "%zu\t%g\t%g\t%g\t", n, adv, lo, hi);
		if (isfinite(goal))
			fprintf(d, "%g", goal);
		else
			fputc('?', d);
		fprintf(d, "\t%u\t%s: %s, vs %s\n", colour, r->bench, r->scenario, r->baseline);
		n++;
	}
	if (fclose(d) != 0 || n == 0) {
		err = n ? -errno : -ENODATA;
		goto out;
	}
	g = fopen(script, "w");
	if (!g) {
		err = -errno;
		goto out;
	}
	if (strlen(svg_path) > 4 && strcmp(svg_path + strlen(svg_path) - 4, ".png") == 0)
		fprintf(g, "set terminal png size 1200,%zu noenhanced font 'DejaVuSans,9'\n",
			160 + 18 * n);
	else
		fprintf(g,
			"set terminal svg size 1200,%zu dynamic noenhanced font 'sans,10' "
			"background '#ffffff'\n",
			160 + 18 * n);
	fputs("set output ", g);
	gp_quote(g, svg_path);
	fputs("\nset termoption noenhanced\nset datafile separator '\\t'\n"
	      "set datafile missing '?'\nset tmargin 5\nunset key\n",
	      g);
	{
		char t[768];

		snprintf(t, sizeof(t), "iolayer bench, %s run of %s: %s, %ld CPUs; %s; liburing %s",
			 run->quick ? "quick" : "full", run->m.date, run->m.cpu, run->m.cpus,
			 run->m.kernel, run->m.liburing);
		fputs("set label 1 ", g);
		gp_dquote(g, t);
		fputs(" at screen 0.01, screen 0.985 left\n", g);
		snprintf(t, sizeof(t),
			 "load %s (1/5/15 min) at start. Bars: green goal met, red goal missed, "
			 "blue no goal; triangle: the goal the bar must reach.",
			 run->m.load_start);
		fputs("set label 2 ", g);
		gp_dquote(g, t);
		fputs(" at screen 0.01, screen 0.985 - 16.0 / ", g);
		fprintf(g, "%zu left\n", 160 + 18 * n);
	}
	fprintf(g, "set logscale x\nset xrange [%g:%g]\n", lo_all / 1.5, hi_all * 1.5);
	/* first row on top */
	fprintf(g, "set yrange [%zu.7:-0.7]\nset lmargin 78\nset grid xtics\n", n - 1);
	fputs("set xlabel 'times better than the baseline (log scale; bar: median, whisker: "
	      "the runs'' extremes; 1 = equal)'\n",
	      g);
	fputs("set arrow from 1, graph 0 to 1, graph 1 nohead lw 1.5 lc rgb '#444444'\n", g);
	fputs("set style fill solid 0.65 noborder\nset ytics nomirror scale 0\n", g);
	fputs("plot ", g);
	gp_quote(g, data);
	fputs(" using 2:1:($2 < 1 ? $2 : 1):($2 < 1 ? 1 : $2):($1 - 0.36):($1 + 0.36):6:ytic(7) "
	      "with boxxyerror lc rgb variable, \\\n"
	      "     '' using 2:1:3:4 with xerrorbars pt 0 lc rgb '#222222', \\\n"
	      "     '' using 5:1 with points pt 11 ps 1.3 lc rgb '#000000'\n",
	      g);
	if (fclose(g) != 0) {
		err = -errno;
		goto out;
	}
	err = ioli_cli_bench_mkdirs_for(svg_path);
	if (!err)
		err = run_gnuplot(script);
out:
	unlink(data);
	unlink(script);
	rmdir(dir);
	return err;
}
