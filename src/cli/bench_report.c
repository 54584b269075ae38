/* SPDX-License-Identifier: MIT */
/*
 * iolayer bench: reading the programs' @result lines, the final table and
 * bench/results/latest.json.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "iolayer.h"
#include "iolayer/probe.h"
#include "src/cli/bench.h"
#include "src/cli/cli.h"
#include "src/cli/machine.h"
#include "src/cli/json_parse.h"

static bool get_fig(const struct ioli_cli_json *obj, const char *key, struct ioli_cli_bench_fig *f)
{
	const struct ioli_cli_json *v = ioli_cli_json_member(obj, key);
	double runs = 0;

	if (!v || v->kind != IOLI_CLI_JSON_OBJECT ||
	    !ioli_cli_json_member_num(v, "median", &f->median))
		return false;
	if (!ioli_cli_json_member_num(v, "min", &f->min))
		f->min = f->median;
	if (!ioli_cli_json_member_num(v, "max", &f->max))
		f->max = f->median;
	ioli_cli_json_member_num(v, "runs", &runs);
	f->runs = (int)runs;
	return true;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int ioli_cli_bench_parse_result(const char *json, size_t len, struct ioli_cli_bench_rec *out)
{
	struct ioli_cli_json root;
	const struct ioli_cli_json *met;
	const char *s;
	double v = 0;
	int err = -EINVAL;

	*out = (struct ioli_cli_bench_rec){0};
	if (ioli_cli_json_parse(json, len, &root) != 0)
		return -EINVAL;
	if (root.kind != IOLI_CLI_JSON_OBJECT || !ioli_cli_json_member_num(&root, "v", &v) ||
	    v != 1 || !ioli_cli_json_member_str(&root, "bench") ||
	    !ioli_cli_json_member_str(&root, "scenario") ||
	    !ioli_cli_json_member_str(&root, "unit") || !get_fig(&root, "iolayer", &out->iol))
		goto out;
	err = -ENOMEM;
	out->raw = strndup(json, len);
	out->bench = strdup(ioli_cli_json_member_str(&root, "bench"));
	out->scenario = strdup(ioli_cli_json_member_str(&root, "scenario"));
	out->unit = strdup(ioli_cli_json_member_str(&root, "unit"));
	out->baseline = dup_or_null(ioli_cli_json_member_str(&root, "baseline"));
	out->goal = dup_or_null(ioli_cli_json_member_str(&root, "goal"));
	if (!out->raw || !out->bench || !out->scenario || !out->unit ||
	    (ioli_cli_json_member_str(&root, "baseline") && !out->baseline) ||
	    (ioli_cli_json_member_str(&root, "goal") && !out->goal))
		goto out;
	s = ioli_cli_json_member_str(&root, "better");
	out->higher_better = s && strcmp(s, "higher") == 0;
	s = ioli_cli_json_member_str(&root, "ratio_is");
	out->base_over_iol = s && strcmp(s, "baseline/iolayer") == 0;
	if (out->baseline && !get_fig(&root, "baseline_value", &out->base)) {
		err = -EINVAL;
		goto out;
	}
	out->has_ratio = ioli_cli_json_member_num(&root, "ratio", &out->ratio);
	met = ioli_cli_json_member(&root, "goal_met");
	out->has_goal = out->goal && met && met->kind == IOLI_CLI_JSON_BOOL;
	out->goal_met = out->has_goal && met->boolean;
	err = 0;
out:
	ioli_cli_json_free(&root);
	if (err)
		ioli_cli_bench_rec_free(out);
	return err;
}

void ioli_cli_bench_rec_free(struct ioli_cli_bench_rec *r)
{
	free(r->raw);
	free(r->bench);
	free(r->scenario);
	free(r->unit);
	free(r->baseline);
	free(r->goal);
	*r = (struct ioli_cli_bench_rec){0};
}

/* ---- the machine ------------------------------------------------------------- */

void ioli_cli_bench_machine(struct ioli_cli_bench_machine *m)
{
	const struct iol_features *f = iol_features();
	struct utsname u;
	time_t now = time(NULL);

	memset(m, 0, sizeof(*m));
	/* The same machine description the benchmark programs print. */
	ioli_cpu_model(m->cpu, sizeof(m->cpu));
	m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%.40s %.100s %.40s", u.sysname, u.release,
			 u.machine);
	if (f->liburing_major >= 0)
		snprintf(m->liburing, sizeof(m->liburing), "%d.%d", f->liburing_major,
			 f->liburing_minor);
	else
		snprintf(m->liburing, sizeof(m->liburing), "unknown");
	ioli_loadavg(m->load_start, sizeof(m->load_start));
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

/* ---- the table ---------------------------------------------------------------- */

static void fmt_num(char *buf, size_t len, double v)
{
	double a = v < 0 ? -v : v;

	if (a >= 100)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.2f", v);
}

/* "42.1 ns [39.2, 43.8]" */
static void fmt_fig(char *buf, size_t len, const struct ioli_cli_bench_fig *f, const char *unit)
{
	char a[24], b[24], c[24];

	fmt_num(a, sizeof(a), f->median);
	fmt_num(b, sizeof(b), f->min);
	fmt_num(c, sizeof(c), f->max);
	snprintf(buf, len, "%s %s [%s, %s]", a, unit, b, c);
}

void ioli_cli_bench_table(FILE *out, const struct ioli_cli_bench_run *run)
{
	fprintf(out, "| bench | scenario | iolayer | baseline | baseline figure | ratio | goal "
		     "| met |\n");
	fprintf(out, "|---|---|---|---|---|---:|---|---|\n");
	for (size_t i = 0; i < run->nrecs; i++) {
		const struct ioli_cli_bench_rec *r = &run->recs[i];
		char iol[128], base[128] = "", ratio[32] = "";

		fmt_fig(iol, sizeof(iol), &r->iol, r->unit);
		if (r->baseline)
			fmt_fig(base, sizeof(base), &r->base, r->unit);
		if (r->has_ratio)
			snprintf(ratio, sizeof(ratio), r->ratio >= 10 ? "%.1fx%s" : "%.2fx%s",
				 r->ratio, r->base_over_iol ? " (b/i)" : "");
		fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r->bench, r->scenario,
			iol, r->baseline ? r->baseline : "-", base, ratio,
			r->has_goal ? r->goal : "",
			!r->has_goal  ? ""
			: r->goal_met ? "yes"
				      : "**NO**");
	}
	fprintf(out,
		"\nFigures: median [min, max] over the runs of each benchmark. ratio: iolayer / "
		"baseline of the medians; (b/i): baseline / iolayer, how many times faster "
		"iolayer is. Times: lower is better; Mops/s and req/s: higher is better.\n");
}

/* ---- latest.json ------------------------------------------------------------------ */

int ioli_cli_bench_mkdirs_for(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int ioli_cli_bench_write_json(const char *path, const struct ioli_cli_bench_run *run)
{
	char tmp[PATH_MAX + 32];
	FILE *out;
	int err, fd;

	err = ioli_cli_bench_mkdirs_for(path);
	if (err)
		return err;
	/* a new name, never one someone planted, renamed over path at the end */
	fd = ioli_cli_create_beside(path, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	out = fdopen(fd, "w");
	if (!out) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	fprintf(out,
		"{\n  \"protocol\": 1,\n  \"iolayer\": \"%s\",\n  \"date\": ", IOL_VERSION_STRING);
	ioli_cli_json_str(out, run->m.date);
	fprintf(out, ",\n  \"mode\": \"%s\",\n  \"duration_s\": %.1f,\n  \"machine\": {\"cpu\": ",
		run->quick ? "quick" : "full", run->seconds);
	ioli_cli_json_str(out, run->m.cpu);
	fprintf(out, ", \"cpus\": %ld, \"kernel\": ", run->m.cpus);
	ioli_cli_json_str(out, run->m.kernel);
	fputs(", \"liburing\": ", out);
	ioli_cli_json_str(out, run->m.liburing);
	fputs(", \"load_start\": ", out);
	ioli_cli_json_str(out, run->m.load_start);
	fputs(", \"load_end\": ", out);
	ioli_cli_json_str(out, run->m.load_end);
	fputs("},\n  \"steps\": [", out);
	for (size_t i = 0; i < run->nsteps; i++) {
		const struct ioli_cli_bench_step_run *s = &run->steps[i];

		fprintf(out, "%s\n    {\"name\": ", i ? "," : "");
		ioli_cli_json_str(out, s->name);
		fprintf(out, ", \"status\": ");
		if (s->status == -1)
			fputs("\"missing\"", out);
		else if (s->status == -2)
			fputs("\"timed out\"", out);
		else
			fprintf(out, "%d", s->status);
		fprintf(out, ", \"seconds\": %.1f, \"results\": %zu, \"log\": ", s->seconds,
			s->results);
		ioli_cli_json_str(out, s->log[0] ? s->log : NULL);
		fputc('}', out);
	}
	fputs("\n  ],\n  \"results\": [", out);
	for (size_t i = 0; i < run->nrecs; i++)
		fprintf(out, "%s\n    %s", i ? "," : "", run->recs[i].raw);
	fputs("\n  ]\n}\n", out);
	if (fclose(out) != 0) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	if (rename(tmp, path) != 0) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}
