/* SPDX-License-Identifier: MIT */
/*
 * Packaging: `make install DESTDIR=<tmp>` on the source tree installs the
 * libraries (a versioned SONAME, only iol_* exported), the headers,
 * iolayer.pc, the command and its man page; a tiny program builds through
 * `pkg-config --cflags --libs iolayer` against that tree and runs on the
 * installed shared library; `make uninstall` leaves no file behind.
 *
 * The build must already be done (make test builds first): the test checks
 * with `make -q` that install has nothing to rebuild.  Under a sanitizer
 * build the installed library would need the sanitizer runtime, so the
 * test skips there.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "iolayer/probe.h"

static char srcdir[PATH_MAX];
static const char *build = "build";
static char dest[64];
static char out_path[128];

/* Runs a shell command line; returns its exit status.  Its output goes to
 * out_path and is shown when the caller fails. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096], full[4300];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "(%s) >%s 2>&1", cmd, out_path);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *output(void)
{
	static char buf[16384];
	FILE *fp = fopen(out_path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return buf;
}

#define SH_OK(...)                                                                                 \
	do {                                                                                       \
		if (sh(__VA_ARGS__) != 0)                                                          \
			fail_msg("command failed:\n%s", output());                                 \
	} while (0)

static void assert_exists(const char *rel, bool link)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", dest, rel);
	if (lstat(p, &st) != 0)
		fail_msg("not installed: %s", rel);
	assert_true(link ? S_ISLNK(st.st_mode) : S_ISREG(st.st_mode));
}

static int leftovers;

static int count_files(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag != FTW_D && flag != FTW_DP) {
		fprintf(stderr, "left behind: %s\n", path);
		leftovers++;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static const char program[] = "#define _GNU_SOURCE\n"
			      "#include <dlfcn.h>\n"
			      "#include <stdio.h>\n"
			      "#include <iolayer.h>\n"
			      "#include <iolayer/probe.h>\n"
			      "int main(void)\n"
			      "{\n"
			      "\tconst struct iol_features *f = iol_features();\n"
			      "\tDl_info di;\n"
			      "\tif (!dladdr((void *)iol_features, &di))\n"
			      "\t\treturn 3;\n"
			      "\tprintf(\"%s\\n%s\\n%s\\n\", di.dli_fname, f->backend,\n"
			      "\t       IOL_VERSION_STRING);\n"
			      "\treturn iol_feature_name(IOL_FEAT_FUTEX_WAITV) ? 0 : 4;\n"
			      "}\n";

static void test_install_build_run_uninstall(void **state)
{
	const char *lib = "/usr/local/lib";
	char pc_env[512], p[PATH_MAX], want[PATH_MAX];
	FILE *fp;
	ssize_t n;

	(void)state;
	if (getenv("SAN") && *getenv("SAN")) {
		print_message("  skip: SAN=%s: an installed sanitizer build needs the sanitizer "
			      "runtime in every program that links it; the plain build tests "
			      "install\n",
			      getenv("SAN"));
		skip();
	}
	/* Nothing to rebuild: install takes the build as it is. */
	if (sh("make -q -C '%s' BUILD='%s' lib cli benches examples", srcdir, build) != 0)
		fail_msg("the build in %s/%s is not up to date; run make first", srcdir, build);
	SH_OK("make -s -C '%s' BUILD='%s' DESTDIR='%s' install", srcdir, build, dest);

	assert_exists("/usr/local/lib/libiolayer.a", false);
	snprintf(p, sizeof(p), "/usr/local/lib/libiolayer.so.%s", IOL_VERSION_STRING);
	assert_exists(p, false);
	assert_exists("/usr/local/lib/libiolayer.so.0", true);
	assert_exists("/usr/local/lib/libiolayer.so", true);
	assert_exists("/usr/local/include/iolayer.h", false);
	assert_exists("/usr/local/include/iolayer/probe.h", false);
	assert_exists("/usr/local/bin/iolayer", false);
	assert_exists("/usr/local/share/man/man1/iolayer.1", false);
	assert_exists("/usr/local/lib/pkgconfig/iolayer.pc", false);
	assert_exists("/usr/local/libexec/iolayer/bench/sync_bench", false);
	assert_exists("/usr/local/libexec/iolayer/bench/daemon_baseline", false);
	assert_exists("/usr/local/libexec/iolayer/bench/pool_bench.sh", false);
	assert_exists("/usr/local/libexec/iolayer/examples/echo_server", false);
	snprintf(p, sizeof(p), "%s%s/libiolayer.so.0", dest, lib);
	n = readlink(p, want, sizeof(want) - 1);
	assert_true(n > 0);
	want[n] = '\0';
	snprintf(p, sizeof(p), "libiolayer.so.%s", IOL_VERSION_STRING);
	assert_string_equal(want, p);

	/* The versioned SONAME, and only iol_ symbols exported. */
	SH_OK("readelf -d '%s%s/libiolayer.so.%s'", dest, lib, IOL_VERSION_STRING);
	assert_non_null(strstr(output(), "Library soname: [libiolayer.so.0]"));
	SH_OK("nm -D --defined-only '%s%s/libiolayer.so.%s'", dest, lib, IOL_VERSION_STRING);
	char *syms = output(), *save = NULL;
	int exported = 0;
	assert_non_null(strstr(syms, " T iol_features@@IOLAYER_0\n"));
	for (char *l = strtok_r(syms, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *name = strrchr(l, ' ');

		assert_non_null(name);
		name++;
		name[strcspn(name, "@")] = '\0';    /* iol_x@@IOLAYER_0 */
		if (strcmp(name, "IOLAYER_0") == 0) /* the version node */
			continue;
		if (strncmp(name, "iol_", 4) != 0)
			fail_msg("libiolayer.so exports %s", name);
		exported++;
	}
	assert_true(exported >= 4);

	/* Tool-only code (fsck, listings, JSON) is not in the library at all,
	 * not even as local symbols: the iolayer command links it from an
	 * internal archive (the library is installed unstripped). */
	SH_OK("nm --defined-only '%s%s/libiolayer.so.%s' | grep -c ' ioli_table_usable$'", dest,
	      lib, IOL_VERSION_STRING);
	for (int i = 0; i < 2; i++) {
		if (sh("nm --defined-only '%s%s/%s' | grep -E ' ioli_(fsck|list_text|json_str)$'",
		       dest, lib, i ? "libiolayer.a" : "libiolayer.so.0") == 0)
			fail_msg("tool-only code installed in the library:\n%s", output());
	}

	/* pkg-config, pointed into the DESTDIR. */
	snprintf(pc_env, sizeof(pc_env),
		 "PKG_CONFIG_PATH='%s%s/pkgconfig' PKG_CONFIG_SYSROOT_DIR='%s'", dest, lib, dest);
	SH_OK("%s pkg-config --modversion iolayer", pc_env);
	snprintf(want, sizeof(want), "%s\n", IOL_VERSION_STRING);
	assert_string_equal(output(), want);
	SH_OK("%s pkg-config --static --libs iolayer", pc_env);
	assert_non_null(strstr(output(), "-luring")); /* liburing: Requires.private */
	SH_OK("%s pkg-config --cflags --libs iolayer", pc_env);
	snprintf(want, sizeof(want), "-I%s/usr/local/include", dest);
	assert_non_null(strstr(output(), want));

	snprintf(p, sizeof(p), "%s/prog.c", dest);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(program, fp);
	fclose(fp);
	SH_OK("cd '%s' && cc -std=c17 -Wall -Werror -o prog prog.c $(%s pkg-config --cflags --libs "
	      "iolayer)",
	      dest, pc_env);
	SH_OK("LD_LIBRARY_PATH='%s%s' '%s/prog'", dest, lib, dest);
	snprintf(want, sizeof(want), "%s%s/libiolayer.so.0\n%s\n%s\n", dest, lib,
		 iol_features()->backend, IOL_VERSION_STRING);
	assert_string_equal(output(), want); /* ran on the installed library */

	snprintf(want, sizeof(want), "iolayer %s\n", IOL_VERSION_STRING);
	SH_OK("'%s/usr/local/bin/iolayer' version", dest);
	assert_non_null(strstr(output(), want));

	/* The installed command finds its benchmark programs beside it. */
	SH_OK("IOLAYER_BENCH_DIR= '%s/usr/local/bin/iolayer' bench --list", dest);
	snprintf(want, sizeof(want), "in %s/usr/local/libexec/iolayer/bench\n", dest);
	assert_non_null(strstr(output(), want));
	assert_non_null(strstr(output(), "scaling_bench    found"));
	assert_non_null(strstr(output(), "pool_bench.sh    found"));

	/* Uninstall leaves no file (directories may stay). */
	SH_OK("make -s -C '%s' BUILD='%s' DESTDIR='%s' uninstall", srcdir, build, dest);
	snprintf(p, sizeof(p), "%s/usr", dest);
	leftovers = 0;
	assert_int_equal(nftw(p, count_files, 16, FTW_PHYS), 0);
	assert_int_equal(leftovers, 0);
	snprintf(p, sizeof(p), "%s/usr/local/include/iolayer", dest);
	assert_int_equal(access(p, F_OK), -1);
}

static int setup(void **state)
{
	const char *s = getenv("IOLAYER_SRCDIR");
	char self[PATH_MAX];
	ssize_t n;

	(void)state;
	if (getenv("BUILD") && *getenv("BUILD"))
		build = getenv("BUILD");
	if (s && *s) {
		snprintf(srcdir, sizeof(srcdir), "%s", s);
	} else {
		/* SRC/BUILD/tests/test_install -> SRC */
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return -1;
		self[n] = '\0';
		for (int i = 0; i < 3; i++) {
			char *slash = strrchr(self, '/');

			if (!slash)
				return -1;
			*slash = '\0';
		}
		snprintf(srcdir, sizeof(srcdir), "%s", self);
	}
	snprintf(dest, sizeof(dest), "/tmp/iolayer-install.XXXXXX");
	if (!mkdtemp(dest))
		return -1;
	snprintf(out_path, sizeof(out_path), "%s.out", dest);
	/* A make run from inside `make test` must not join its jobserver. */
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(dest, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	unlink(out_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install_build_run_uninstall),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
