/* SPDX-License-Identifier: MIT */
/*
 * The machine a benchmark runs on, described the same way by the benchmark
 * programs (bench/report.h) and by `iolayer bench` (src/cli/bench_report.c).
 * Header-only, because each bench/NAME.c is built alone.
 */
#ifndef IOLAYER_SRC_CLI_MACHINE_H
#define IOLAYER_SRC_CLI_MACHINE_H

#include <stdio.h>
#include <string.h>

/* The CPU model as lscpu names it ("Model name:"), else /proc/cpuinfo's. */
static inline void ioli_cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *fp = popen("LC_ALL=C lscpu 2>/dev/null", "r");

	snprintf(buf, len, "unknown");
	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			if (strncmp(line, "Model name:", 11) == 0) {
				char *s = line + 11;

				s += strspn(s, " \t");
				s[strcspn(s, "\n")] = '\0';
				snprintf(buf, len, "%.200s", s);
			}
		}
		pclose(fp);
	}
	if (strcmp(buf, "unknown") != 0)
		return;
	fp = fopen("/proc/cpuinfo", "r");
	while (fp && fgets(line, sizeof(line), fp)) {
		char *s = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && s) {
			s += 1 + strspn(s + 1, " \t");
			s[strcspn(s, "\n")] = '\0';
			snprintf(buf, len, "%.200s", s);
			break;
		}
	}
	if (fp)
		fclose(fp);
}

/* The load average over 1, 5 and 15 minutes ("0.52 0.58 0.59"). */
static inline void ioli_loadavg(char *buf, size_t len)
{
	FILE *fp = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;

	if (fp && fscanf(fp, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
	else
		snprintf(buf, len, "unknown");
	if (fp)
		fclose(fp);
}

#endif /* IOLAYER_SRC_CLI_MACHINE_H */
