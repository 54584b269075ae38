/* SPDX-License-Identifier: MIT */
/*
 * iolayer probe [--json]: the kernel features iolayer uses, as an aligned
 * table or as JSON, then the environment and a one-line verdict.  Missing
 * features are findings, not failures: the exit status is 0 unless the
 * command line is wrong or the output cannot be written.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "iolayer/probe.h"
#include "src/cli/cli.h"

static const char help[] =
    "usage: iolayer probe [--json]\n"
    "\n"
    "Ask the running kernel what iolayer can use and print, for every feature,\n"
    "whether it is available, the first kernel release that has it, and why it\n"
    "is missing; then the environment (io_uring sysctls, RLIMIT_MEMLOCK,\n"
    "liburing) and a one-line verdict with the IO backend iolayer picks.\n"
    "\n"
    "  --json   print one JSON object instead (for scripts)\n"
    "\n"
    "IOLAYER_DISABLE=feature[,feature...] masks features; IOLAYER_BACKEND=\n"
    "uring|epoll forces the backend.  Exit status 0 even when features are\n"
    "missing; 2 on a usage error.\n";

#define GREEN "\033[32m"
#define RED   "\033[31m"
#define BOLD  "\033[1m"
#define RESET "\033[0m"

static const char *errno_name(int err)
{
	const char *n = err ? strerrorname_np(err) : NULL;

	return n ? n : "";
}

static void print_limit(uint64_t v)
{
	if (v == UINT64_MAX)
		fputs("unlimited", stdout);
	else if (v >= 1024 * 1024 && v % (1024 * 1024) == 0)
		printf("%llu MiB", (unsigned long long)(v / (1024 * 1024)));
	else if (v >= 1024 && v % 1024 == 0)
		printf("%llu KiB", (unsigned long long)(v / 1024));
	else
		printf("%llu bytes", (unsigned long long)v);
}

static void verdict(const struct iol_features *f, bool colour, FILE *out)
{
	const struct iol_feature_info *u = &f->feat[IOL_FEAT_IO_URING];
	const struct iol_feature_info *w = &f->feat[IOL_FEAT_FUTEX_WAITV];

	if (u->available)
		fprintf(out, "io_uring: yes (%s)", f->kernel_release);
	else
		fprintf(out, "io_uring: no (%s, %s)", errno_name(u->error), f->kernel_release);
	if (w->available)
		fputs(", futex_waitv: yes", out);
	else
		fprintf(out, ", futex_waitv: no (%s: handle tables cannot open)",
			errno_name(w->error));
	fprintf(out, ", IO backend: %s%s%s\n", colour ? BOLD : "", f->backend, colour ? RESET : "");
}

static void print_table(const struct iol_features *f)
{
	bool colour = ioli_cli_colour();
	int wname = (int)strlen("FEATURE"), wsince = (int)strlen("SINCE");
	const int wavail = (int)strlen("AVAILABLE");

	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		int n = (int)strlen(f->feat[i].name), s = (int)strlen(f->feat[i].since);

		wname = n > wname ? n : wname;
		wsince = s > wsince ? s : wsince;
	}
	printf("%-*s  %-*s  %-*s  %s\n", wname, "FEATURE", wavail, "AVAILABLE", wsince, "SINCE",
	       "REASON");
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		const struct iol_feature_info *fi = &f->feat[i];
		const char *word = fi->available ? "yes" : "no";

		/* Pad by the visible width so colour codes do not skew columns;
		 * no trailing blanks on rows without a reason. */
		printf("%-*s  %s%s%s%*s  ", wname, fi->name,
		       colour ? (fi->available ? GREEN : RED) : "", word, colour ? RESET : "",
		       wavail - (int)strlen(word), "");
		if (fi->available)
			printf("%s\n", fi->since);
		else
			printf("%-*s  %s\n", wsince, fi->since, fi->reason);
	}

	printf("\nkernel %s, liburing ", f->kernel_release);
	if (f->liburing_major >= 0)
		printf("%d.%d", f->liburing_major, f->liburing_minor);
	else
		printf("unknown");
	printf(" (built against)\n");
	printf("kernel.io_uring_disabled ");
	if (f->io_uring_disabled >= 0)
		printf("%d", f->io_uring_disabled);
	else
		printf("unknown (before 6.6)");
	printf(", kernel.io_uring_group %ld\n", f->io_uring_group);
	printf("RLIMIT_MEMLOCK ");
	print_limit(f->memlock_cur);
	printf(" (hard ");
	print_limit(f->memlock_max);
	printf(")\n");
	if (f->disabled)
		printf("IOLAYER_DISABLE=%s\n", ioli_cli_path(f->disabled));
	printf("IO backend %s: %s\n\n", f->backend, f->backend_reason);
	verdict(f, colour, stdout);
}

static void json_u64(uint64_t v)
{
	if (v == UINT64_MAX)
		fputs("null", stdout); /* unlimited */
	else
		printf("%llu", (unsigned long long)v);
}

static void print_json(const struct iol_features *f)
{
	char line[256];
	FILE *mem;

	printf("{\n  \"kernel_release\": ");
	ioli_cli_json_str(stdout, f->kernel_release);
	printf(",\n  \"liburing_version\": ");
	if (f->liburing_major >= 0)
		printf("\"%d.%d\"", f->liburing_major, f->liburing_minor);
	else
		printf("null");
	printf(",\n  \"io_uring_disabled\": %d", f->io_uring_disabled);
	printf(",\n  \"io_uring_group\": %ld", f->io_uring_group);
	printf(",\n  \"memlock_cur\": ");
	json_u64(f->memlock_cur);
	printf(",\n  \"memlock_max\": ");
	json_u64(f->memlock_max);
	printf(",\n  \"disabled\": ");
	ioli_cli_json_str(stdout, f->disabled);
	printf(",\n  \"backend\": ");
	ioli_cli_json_str(stdout, f->backend);
	printf(",\n  \"backend_reason\": ");
	ioli_cli_json_str(stdout, f->backend_reason);

	/* The same verdict line the table ends with, and its parts. */
	mem = fmemopen(line, sizeof(line), "w");
	if (mem) {
		verdict(f, false, mem);
		fclose(mem);
		line[strcspn(line, "\n")] = '\0';
	} else {
		line[0] = '\0';
	}
	printf(",\n  \"verdict\": {\n    \"io_uring\": %s,\n    \"futex_waitv\": %s,\n"
	       "    \"backend\": ",
	       f->feat[IOL_FEAT_IO_URING].available ? "true" : "false",
	       f->feat[IOL_FEAT_FUTEX_WAITV].available ? "true" : "false");
	ioli_cli_json_str(stdout, f->backend);
	printf(",\n    \"line\": ");
	ioli_cli_json_str(stdout, line);
	printf("\n  },\n  \"features\": [\n");
	for (int i = 0; i < IOL_FEAT__COUNT; i++) {
		const struct iol_feature_info *fi = &f->feat[i];

		printf("    {\"name\": ");
		ioli_cli_json_str(stdout, fi->name);
		printf(", \"available\": %s, \"since\": ", fi->available ? "true" : "false");
		ioli_cli_json_str(stdout, fi->since);
		printf(", \"errno\": %d, \"error\": ", fi->error);
		ioli_cli_json_str(stdout, fi->error ? errno_name(fi->error) : NULL);
		printf(", \"reason\": ");
		ioli_cli_json_str(stdout, fi->available ? NULL : fi->reason);
		printf("}%s\n", i + 1 < IOL_FEAT__COUNT ? "," : "");
	}
	printf("  ]\n}\n");
}

int ioli_cli_probe(int argc, char **argv)
{
	bool json = false;

	if (ioli_cli_wants_help(argc, argv)) {
		fputs(help, stdout);
		return ioli_cli_finish(CLI_OK);
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return ioli_cli_usage_error("probe", "unexpected argument '%s'",
						    ioli_cli_name(argv[i]));
	}
	if (json)
		print_json(iol_features());
	else
		print_table(iol_features());
	return ioli_cli_finish(CLI_OK);
}
