/* SPDX-License-Identifier: MIT */
/*
 * Tables: names, where the file lives, races between creators, symlinks,
 * other users' files, foreign files, capacity, sparseness, private tables,
 * unlink while attached, and iol_table_close().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "iolayer.h"
#include "src/table/table.h" /* only for the header layout, to forge foreign files */
#include "tests/helpers.h"

/* A uid that is not ours and not root (tests that need root give it files). */
#define OTHER_UID 4242

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- table names ---------------------------------------------------- */

static void test_valid_names(void **state)
{
	char n64[65];
	const char *names[] = {"a", "Z", "0", ".", "..", "-", "_", "A.b-C_9", "...", n64};

	(void)state;
	memset(n64, 'x', 64);
	n64[64] = '\0';
	n64[0] = 'v';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[PATH_MAX];
		iol_table *t = NULL;
		int r = iol_table_open(names[i], NULL, &t);

		if (r != 0)
			fail_msg("iol_table_open(\"%s\") = %d, want 0", names[i], r);
		assert_non_null(t);
		th_table_path(names[i], path, sizeof(path));
		if (!path_exists(path))
			fail_msg("no file %s for table \"%s\"", path, names[i]);
		assert_int_equal(iol_table_close(t), 0);
		assert_int_equal(iol_table_unlink(names[i]), 0);
		assert_false(path_exists(path));
	}
}

static void test_invalid_names(void **state)
{
	char n65[66];
	const char *names[] = {"",   "a/b", "/",    "a b",  " ",  "a\n", "tab\t", "\xc3\xa9",
			       "a*", "a:b", "a\\b", "x/..", "a%", "a~",	 "a+b",	  n65};

	(void)state;
	memset(n65, 'y', 65);
	n65[65] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		iol_table *t = (iol_table *)0x1;
		int r = iol_table_open(names[i], NULL, &t);

		if (r != -EINVAL)
			fail_msg("iol_table_open(\"%s\") = %d, want -EINVAL", names[i], r);
		/* Unlink validates the same way. */
		r = iol_table_unlink(names[i]);
		if (r != -EINVAL)
			fail_msg("iol_table_unlink(\"%s\") = %d, want -EINVAL", names[i], r);
	}
	/* Nothing was created by any of them (the teardown also checks). */
	assert_int_equal(th_teardown_dir_empty(NULL), 0);
}

/* NULL is "default": the same table as the name "default". */
static void test_null_is_default(void **state)
{
	iol_table *t1, *t2;
	char path[PATH_MAX];
	int h1, h2;

	(void)state;
	assert_int_equal(iol_table_open(NULL, NULL, &t1), 0);
	th_table_path("default", path, sizeof(path));
	assert_true(path_exists(path));
	assert_int_equal(iol_table_open("default", NULL, &t2), 0);
	h1 = iol_event_open(t1, "in-default", IOL_CREATE, true, false);
	assert_true(h1 > 0);
	h2 = iol_event_open(t2, "in-default", 0, false, false);
	assert_true(h2 > 0);
	assert_int_equal(iol_event_set(h1), 0);
	assert_int_equal(iol_wait(h2, 0), 0);
	assert_int_equal(iol_table_close(t2), 0);
	assert_int_equal(iol_table_close(t1), 0);
	assert_int_equal(iol_table_unlink(NULL), 0);
	assert_false(path_exists(path));
	assert_int_equal(iol_table_unlink(NULL), -ENOENT);
}

static void test_open_argument_errors(void **state)
{
	struct iol_table_opts o = {0};
	iol_table *t;
	char name[65];

	(void)state;
	th_uniq(name, sizeof(name), "args");
	assert_int_equal(iol_table_open(name, NULL, NULL), -EINVAL);
	o.flags = 0x2;
	assert_int_equal(iol_table_open(name, &o, &t), -EINVAL);
	o.flags = ~IOL_TABLE_PRIVATE;
	assert_int_equal(iol_table_open(name, &o, &t), -EINVAL);
	o = (struct iol_table_opts){.slots = 15};
	assert_int_equal(iol_table_open(name, &o, &t), -EINVAL);
	o.slots = IOL_TABLE_MAX_SLOTS + 1;
	assert_int_equal(iol_table_open(name, &o, &t), -EINVAL);
	o.slots = UINT32_MAX;
	assert_int_equal(iol_table_open(name, &o, &t), -EINVAL);
	assert_int_equal(th_teardown_dir_empty(NULL), 0);
	/* The bounds themselves are fine. */
	o.slots = 16;
	assert_int_equal(iol_table_open(name, &o, &t), 0);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);
	assert_int_equal(iol_table_close(NULL), -EINVAL);
}

/* Group and other bits in the mode are refused: other users could not
 * use the table anyway.  Nothing is created. */
static void test_mode_other_bits_refused(void **state)
{
	static const mode_t bad[] = {0640, 0604, 0660, 0666, 0602, 0620, 0610, 0601, 0677, 07777};
	struct iol_table_opts o = {0};
	char name[65], path[PATH_MAX];
	iol_table *t;

	(void)state;
	th_uniq(name, sizeof(name), "modebits");
	th_table_path(name, path, sizeof(path));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.mode = bad[i];
		if (iol_table_open(name, &o, &t) != -EINVAL)
			fail_msg("mode %04o: want -EINVAL", (unsigned)bad[i]);
		assert_false(path_exists(path));
	}
	/* Owner bits alone are fine, and so is IOL_TABLE_PRIVATE's check. */
	o.mode = 0600;
	assert_int_equal(iol_table_open(name, &o, &t), 0);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);
	o = (struct iol_table_opts){.flags = IOL_TABLE_PRIVATE, .mode = 0644};
	assert_int_equal(iol_table_open(name, &o, &t), -EINVAL);
}

/* ---- the table directory's permissions ------------------------------ */

/* Opens (and removes) a table in dir, in a child so that this process's
 * IOLAYER_SHM_DIR never changes; the child exits with -(the result). */
static int child_open_in(void *arg)
{
	const char *dir = arg;
	char name[65];
	iol_table *t;
	int r;

	setenv("IOLAYER_SHM_DIR", dir, 1);
	th_uniq(name, sizeof(name), "dirperm");
	r = iol_table_open(name, NULL, &t);
	if (r == 0) {
		TH_CHECK_EQ(iol_table_close(t), 0);
		TH_CHECK_EQ(iol_table_unlink(name), 0);
	}
	return -r;
}

static bool dir_is_empty(const char *dir)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
	return system(cmd) == 0;
}

static void test_shm_dir_permissions(void **state)
{
	char dir[PATH_MAX];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/perm.XXXXXX", th_dir());
	assert_non_null(mkdtemp(dir));

	/* A private directory of ours (mkdtemp: 0700) works. */
	assert_int_equal(th_run(child_open_in, dir), 0);
	/* Sticky and world-writable, as /dev/shm is: works. */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(th_run(child_open_in, dir), 0);
	/* Writable by others, not sticky: refused, nothing created. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(th_run(child_open_in, dir), EACCES);
	assert_true(dir_is_empty(dir));
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(th_run(child_open_in, dir), EACCES);
	assert_int_equal(chmod(dir, 0730), 0);
	assert_int_equal(th_run(child_open_in, dir), EACCES);
	assert_true(dir_is_empty(dir));
	/* Read-only for the others is fine. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(th_run(child_open_in, dir), 0);

	/* Owned by another user (not root): refused, even 0700 or sticky. */
	if (geteuid() == 0) {
		assert_int_equal(chown(dir, OTHER_UID, OTHER_UID), 0);
		assert_int_equal(chmod(dir, 0700), 0);
		assert_int_equal(th_run(child_open_in, dir), EACCES);
		assert_int_equal(chmod(dir, 01777), 0);
		assert_int_equal(th_run(child_open_in, dir), EACCES);
		assert_true(dir_is_empty(dir));
		assert_int_equal(chown(dir, 0, 0), 0);
	} else {
		print_message("not root: cannot give a directory to another user\n");
	}
	assert_int_equal(rmdir(dir), 0);

	/* A missing directory, and a file that is not one. */
	snprintf(dir, sizeof(dir), "%s/perm-missing", th_dir());
	assert_int_equal(th_run(child_open_in, dir), ENOENT);
	assert_int_equal(th_run(child_open_in, "/dev/null"), ENOTDIR);
}

/* ---- where the file is ---------------------------------------------- */

static void test_file_name_mode_owner(void **state)
{
	struct iol_table_opts o = {.mode = 0700};
	char name[65], path[PATH_MAX], want[PATH_MAX];
	struct stat st;
	iol_table *t;

	(void)state;
	/* $IOLAYER_SHM_DIR/iolayer-<uid>-<name>, spelled out here. */
	th_uniq(name, sizeof(name), "where");
	snprintf(want, sizeof(want), "%s/iolayer-%u-%s", getenv("IOLAYER_SHM_DIR"),
		 (unsigned)getuid(), name);
	assert_int_equal(iol_table_open(name, NULL, &t), 0);
	assert_int_equal(lstat(want, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode & 07777, 0600); /* mode 0 = 0600 */
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);

	th_uniq(name, sizeof(name), "mode");
	th_table_path(name, path, sizeof(path));
	assert_int_equal(iol_table_open(name, &o, &t), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* The mode applies only when this call creates the table. */
	{
		struct iol_table_opts o2 = {.mode = 0400};
		iol_table *t2;

		assert_int_equal(iol_table_open(name, &o2, &t2), 0);
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0700);
		assert_int_equal(iol_table_close(t2), 0);
	}
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);
}

static int child_default_dir(void *arg)
{
	char name[65], path[PATH_MAX];
	iol_table *t;

	(void)arg;
	unsetenv("IOLAYER_SHM_DIR");
	th_uniq(name, sizeof(name), "devshm");
	snprintf(path, sizeof(path), "/dev/shm/iolayer-%u-%s", (unsigned)geteuid(), name);
	TH_CHECK_EQ(iol_table_open(name, NULL, &t), 0);
	TH_CHECK(path_exists(path));
	TH_CHECK_EQ(iol_table_close(t), 0);
	TH_CHECK_EQ(iol_table_unlink(name), 0);
	TH_CHECK(!path_exists(path));
	return 0;
}

static void test_default_dir_is_dev_shm(void **state)
{
	(void)state;
	assert_int_equal(th_run(child_default_dir, NULL), 0);
}

/* ---- many processes create the same table at once -------------------- */

#define RACERS 12

struct racer {
	const char *name;
	int idx;
	int gun; /* read end: EOF is the start signal */
	struct th_chan *c;
};

static int child_racer(void *arg)
{
	struct racer *a = arg;
	char ev[32], buf[1];
	iol_table *t;
	int h, s, r;

	/* Everyone starts at the same moment: when the parent closes the
	 * last write end of the gun pipe. */
	while ((r = (int)read(a->gun, buf, 1)) < 0 && errno == EINTR)
		;
	TH_CHECK_EQ(r, 0);
	TH_CHECK_EQ(iol_table_open(a->name, NULL, &t), 0);
	snprintf(ev, sizeof(ev), "racer-%d", a->idx);
	h = iol_event_open(t, ev, IOL_CREATE | IOL_EXCL, true, true);
	TH_CHECK(h > 0);
	s = iol_semaphore_open(t, "common", IOL_CREATE, 0, 1000);
	TH_CHECK(s > 0);
	TH_CHECK(iol_semaphore_release(s, 1) >= 0);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(a->c), 'r'), 0);
	TH_CHECK_EQ(th_hear(TH_FROM_PARENT(a->c), TH_LONG_MS), 'q');
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void race_round(void)
{
	struct th_chan c[RACERS];
	struct racer a[RACERS];
	pid_t pid[RACERS];
	struct iol_info info;
	char name[65];
	int gun[2], s;
	iol_table *t;

	th_uniq(name, sizeof(name), "race");
	assert_int_equal(pipe(gun), 0);
	for (int i = 0; i < RACERS; i++) {
		th_chan_open(&c[i]);
		a[i] = (struct racer){.name = name, .idx = i, .gun = gun[0], .c = &c[i]};
	}
	for (int i = 0; i < RACERS; i++) {
		fflush(NULL);
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			close(gun[1]);
			_exit(child_racer(&a[i]));
		}
	}
	close(gun[1]); /* go */
	for (int i = 0; i < RACERS; i++)
		if (th_hear(TH_FROM_CHILD(&c[i]), TH_LONG_MS) != 'r')
			fail_msg("racer %d did not attach and create its object", i);
	/* One table: everything each racer created is visible here. */
	assert_int_equal(iol_table_open(name, NULL, &t), 0);
	for (int i = 0; i < RACERS; i++) {
		char ev[32];
		int h;

		snprintf(ev, sizeof(ev), "racer-%d", i);
		h = iol_event_open(t, ev, 0, false, false);
		if (h <= 0)
			fail_msg("racer %d's event is not in the table (%d)", i, h);
		assert_int_equal(iol_wait(h, 0), 0);
	}
	s = iol_semaphore_open(t, "common", 0, 0, 1);
	assert_true(s > 0);
	assert_int_equal(iol_query(s, &info), 0);
	assert_int_equal(info.u.semaphore.count, RACERS);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(th_say(TH_TO_CHILD(&c[i]), 'q'), 0);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(th_reap(pid[i], TH_LONG_MS), 0);
		th_chan_close(&c[i]);
	}
	close(gun[0]);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);
}

static void test_concurrent_creation(void **state)
{
	(void)state;
	for (int round = 0; round < 5; round++)
		race_round();
}

/* ---- symlinks --------------------------------------------------------- */

static void test_symlink_refused(void **state)
{
	char name[65], path[PATH_MAX], target[PATH_MAX], buf[64];
	const char content[] = "precious data, not a table";
	struct stat before, after;
	iol_table *t;
	int fd, r;

	(void)state;
	th_uniq(name, sizeof(name), "link");
	th_table_path(name, path, sizeof(path));
	snprintf(target, sizeof(target), "%s/target-%s", th_dir(), name);
	fd = open(target, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, sizeof(content)), (ssize_t)sizeof(content));
	close(fd);
	assert_int_equal(stat(target, &before), 0);
	assert_int_equal(symlink(target, path), 0);

	r = iol_table_open(name, NULL, &t);
	assert_int_equal(r, -ELOOP);
	assert_int_equal(stat(target, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mode, before.st_mode);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	fd = open(target, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(content));
	close(fd);
	assert_memory_equal(buf, content, sizeof(content));
	/* The link itself is still a link. */
	assert_int_equal(lstat(path, &after), 0);
	assert_true(S_ISLNK(after.st_mode));
	assert_int_equal(unlink(path), 0);

	/* A dangling link: refused, and its target is not created. */
	assert_int_equal(unlink(target), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(iol_table_open(name, NULL, &t), -ELOOP);
	assert_false(path_exists(target));
	assert_int_equal(unlink(path), 0);
}

/* ---- other users ------------------------------------------------------ */

static void test_other_users_file(void **state)
{
	char name[65], path[PATH_MAX];
	iol_table *t;
	int h;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: cannot give a file to another user\n");
		skip();
	}
	th_uniq(name, sizeof(name), "theirs");
	th_table_path(name, path, sizeof(path));
	assert_int_equal(iol_table_open(name, NULL, &t), 0);
	h = iol_mutex_open(t, "m", IOL_CREATE, false);
	assert_true(h > 0);
	assert_int_equal(iol_table_close(t), 0);

	assert_int_equal(chown(path, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(iol_table_open(name, NULL, &t), -EACCES);
	assert_int_equal(iol_table_unlink(name), -EACCES);
	assert_true(path_exists(path));
	/* Even when the file is group- and world-writable. */
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(iol_table_open(name, NULL, &t), -EACCES);
	assert_int_equal(unlink(path), 0);
}

/* Each user has their own namespace: the same table name opened by another
 * uid is another table.  The child drops to OTHER_UID in a sticky
 * world-writable directory, as /dev/shm is. */
struct ns_arg {
	const char *dir;
	const char *name;
};

static int child_other_user(void *arg)
{
	struct ns_arg *a = arg;
	char path[PATH_MAX];
	iol_table *t;
	int h;

	TH_CHECK_EQ(setgid(OTHER_UID), 0);
	TH_CHECK_EQ(setuid(OTHER_UID), 0);
	setenv("IOLAYER_SHM_DIR", a->dir, 1);
	TH_CHECK_EQ(iol_table_open(a->name, NULL, &t), 0);
	snprintf(path, sizeof(path), "%s/iolayer-%d-%s", a->dir, OTHER_UID, a->name);
	TH_CHECK(path_exists(path));
	/* root's object is not in this user's table */
	TH_CHECK_EQ(iol_mutex_open(t, "root-only", 0, false), -ENOENT);
	h = iol_mutex_open(t, "mine", IOL_CREATE, false);
	TH_CHECK(h > 0);
	TH_CHECK_EQ(iol_table_close(t), 0);

	/* The mode refuses us: our own file, mode 0000, and we are not root. */
	TH_CHECK_EQ(chmod(path, 0), 0);
	TH_CHECK_EQ(iol_table_open(a->name, NULL, &t), -EACCES);
	TH_CHECK_EQ(chmod(path, 0600), 0);
	TH_CHECK_EQ(iol_table_unlink(a->name), 0);
	return 0;
}

/* root's side runs in a child too, so this process's environment (the
 * table directory) never changes, whatever fails. */
static int child_root_side(void *arg)
{
	struct ns_arg *a = arg;
	char rootpath[PATH_MAX];
	iol_table *t;
	int h;

	setenv("IOLAYER_SHM_DIR", a->dir, 1);
	TH_CHECK_EQ(iol_table_open(a->name, NULL, &t), 0);
	h = iol_mutex_open(t, "root-only", IOL_CREATE, false);
	TH_CHECK(h > 0);
	TH_CHECK_EQ(th_run(child_other_user, a), 0);
	/* root's table is untouched and still has its object */
	TH_CHECK_EQ(iol_mutex_open(t, "mine", 0, false), -ENOENT);
	TH_CHECK(iol_mutex_open(t, "root-only", 0, false) > 0);
	TH_CHECK_EQ(iol_table_close(t), 0);
	snprintf(rootpath, sizeof(rootpath), "%s/iolayer-%u-%s", a->dir, (unsigned)geteuid(),
		 a->name);
	TH_CHECK(path_exists(rootpath));
	TH_CHECK_EQ(iol_table_unlink(a->name), 0);
	return 0;
}

static void test_per_user_namespace(void **state)
{
	char dir[PATH_MAX], name[65];
	struct ns_arg a;
	int r;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: cannot act as another user\n");
		skip();
	}
	/* Not under our private directory: the other user could not enter. */
	snprintf(dir, sizeof(dir), "/dev/shm/iolayer-users.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 01777), 0);
	th_uniq(name, sizeof(name), "ns");
	a = (struct ns_arg){.dir = dir, .name = name};
	r = th_run(child_root_side, &a);
	if (r != 0) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			print_message("could not remove %s\n", dir);
	}
	assert_int_equal(r, 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- foreign files ---------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len, off_t size)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW, 0600);

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	if (size >= 0)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void expect_eproto(const char *name, const char *what)
{
	iol_table *t = NULL;
	int r = iol_table_open(name, NULL, &t);

	if (r != -EPROTO) {
		if (r == 0)
			iol_table_close(t);
		fail_msg("%s: iol_table_open = %d, want -EPROTO", what, r);
	}
}

/* Make a real table file and return its size. */
static off_t make_table(const char *name, uint32_t slots)
{
	struct iol_table_opts o = {.slots = slots};
	char path[PATH_MAX];
	struct stat st;
	iol_table *t;

	assert_int_equal(iol_table_open(name, &o, &t), 0);
	assert_int_equal(iol_table_close(t), 0);
	th_table_path(name, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void patch(const char *path, size_t off, const void *val, size_t len)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, val, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_foreign_files(void **state)
{
	char name[65], path[PATH_MAX];
	unsigned char junk[65536];
	off_t size;

	(void)state;
	th_uniq(name, sizeof(name), "foreign");
	th_table_path(name, path, sizeof(path));

	write_file(path, NULL, 0, -1);
	expect_eproto(name, "empty file");
	write_file(path, "x", 1, -1);
	expect_eproto(name, "one byte");
	write_file(path, NULL, 0, 4096);
	expect_eproto(name, "a page of zeros");
	write_file(path, NULL, 0, 64 << 20);
	expect_eproto(name, "64 MiB of zeros");
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 2654435761u >> 13);
	write_file(path, junk, sizeof(junk), -1);
	expect_eproto(name, "junk");
	/* Our magic but nothing after it. */
	{
		uint64_t magic = IOLI_MAGIC;

		write_file(path, &magic, sizeof(magic), 4096);
		expect_eproto(name, "magic alone");
	}
	assert_int_equal(unlink(path), 0);

	/* A real table, truncated or extended. */
	size = make_table(name, 64);
	assert_int_equal(truncate(path, 4096), 0);
	expect_eproto(name, "table truncated to a page");
	assert_int_equal(unlink(path), 0);
	size = make_table(name, 64);
	assert_int_equal(truncate(path, size - 4096), 0);
	expect_eproto(name, "table missing its last page");
	assert_int_equal(unlink(path), 0);
	size = make_table(name, 64);
	assert_int_equal(truncate(path, size + 4096), 0);
	expect_eproto(name, "table with a page too many");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(th_teardown_dir_empty(NULL), 0);
}

/* The header's identity fields, each made foreign in turn. */
static void test_foreign_header_fields(void **state)
{
	static const struct {
		const char *what;
		size_t off, len;
	} fields[] = {
	    {"magic", offsetof(struct ioli_hdr, magic), 8},
	    {"version", offsetof(struct ioli_hdr, version), 4},
	    {"hdr_size", offsetof(struct ioli_hdr, hdr_size), 4},
	    {"slot_size", offsetof(struct ioli_hdr, slot_size), 4},
	    {"proc_size", offsetof(struct ioli_hdr, proc_size), 4},
	    {"threc_size", offsetof(struct ioli_hdr, threc_size), 4},
	    {"lock_size", offsetof(struct ioli_hdr, lock_size), 4},
	    {"nslots", offsetof(struct ioli_hdr, nslots), 4},
	    {"nbuckets", offsetof(struct ioli_hdr, nbuckets), 4},
	    {"max_procs", offsetof(struct ioli_hdr, max_procs), 4},
	    {"max_threcs", offsetof(struct ioli_hdr, max_threcs), 4},
	    {"off_procs", offsetof(struct ioli_hdr, off_procs), 8},
	    {"off_threcs", offsetof(struct ioli_hdr, off_threcs), 8},
	    {"off_buckets", offsetof(struct ioli_hdr, off_buckets), 8},
	    {"off_slots", offsetof(struct ioli_hdr, off_slots), 8},
	    {"off_rows", offsetof(struct ioli_hdr, off_rows), 8},
	    {"total_size", offsetof(struct ioli_hdr, total_size), 8},
	};
	static const uint64_t values[] = {0,	      1,	   2,	       16,	  1u << 20,
					  0x7fffffff, 0xffffffffu, UINT64_MAX, 1ull << 40};
	char name[65], path[PATH_MAX];

	(void)state;
	th_uniq(name, sizeof(name), "hdr");
	th_table_path(name, path, sizeof(path));
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			unsigned char orig[8], val[8];
			char what[96];
			int fd;

			make_table(name, 64);
			fd = open(path, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(pread(fd, orig, fields[f].len, (off_t)fields[f].off),
					 (ssize_t)fields[f].len);
			close(fd);
			memcpy(val, &values[v], fields[f].len); /* little-endian */
			if (memcmp(val, orig, fields[f].len) == 0) {
				assert_int_equal(unlink(path), 0);
				continue; /* not foreign */
			}
			patch(path, fields[f].off, val, fields[f].len);
			snprintf(what, sizeof(what), "%s = %#llx", fields[f].what,
				 (unsigned long long)values[v]);
			expect_eproto(name, what);
			assert_int_equal(unlink(path), 0);
		}
	}
	/* And a foreign version one above ours. */
	{
		uint32_t v = IOLI_VERSION + 1;

		make_table(name, 64);
		patch(path, offsetof(struct ioli_hdr, version), &v, 4);
		expect_eproto(name, "the next version");
		assert_int_equal(unlink(path), 0);
	}
}

/* Every byte of the header's identity part flipped: never a crash, and
 * never anything but success or -EPROTO.  A table that opens must work. */
static void test_header_byte_flips(void **state)
{
	char name[65], path[PATH_MAX];
	size_t n = offsetof(struct ioli_hdr, lock);

	(void)state;
	th_uniq(name, sizeof(name), "flip");
	th_table_path(name, path, sizeof(path));
	for (size_t off = 0; off < n; off++) {
		unsigned char b;
		iol_table *t;
		int fd, r;

		make_table(name, 64);
		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
		b ^= 0xff;
		assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
		close(fd);
		r = iol_table_open(name, NULL, &t);
		if (r == 0) {
			int h = iol_event_open(t, "works", IOL_CREATE, false, true);

			assert_true(h > 0);
			assert_int_equal(iol_wait(h, 0), 0);
			assert_int_equal(iol_table_close(t), 0);
		} else if (r != -EPROTO) {
			fail_msg("byte %zu flipped: iol_table_open = %d", off, r);
		}
		assert_int_equal(unlink(path), 0);
	}
}

/* Something other than a regular file at the path: an error, not a hang. */
static void test_not_a_regular_file(void **state)
{
	char name[65], path[PATH_MAX];
	iol_table *t;
	int r;

	(void)state;
	th_uniq(name, sizeof(name), "odd");
	th_table_path(name, path, sizeof(path));
	assert_int_equal(mkfifo(path, 0600), 0);
	r = iol_table_open(name, NULL, &t);
	assert_true(r < 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	r = iol_table_open(name, NULL, &t);
	assert_true(r < 0);
	assert_int_equal(rmdir(path), 0);
}

/* ---- capacity ------------------------------------------------------- */

static int open_kind(iol_table *t, int kind, const char *name)
{
	unsigned f = name ? IOL_CREATE : 0;

	switch (kind % 3) {
	case 0:
		return iol_mutex_open(t, name, f, false);
	case 1:
		return iol_event_open(t, name, f, false, false);
	default:
		return iol_semaphore_open(t, name, f, 0, 1);
	}
}

static void test_capacity_full_and_reuse(void **state)
{
	struct iol_table_opts big = {.slots = 4096};
	int h[16], extra;
	struct th_tab tt;
	iol_table *t2;
	char nm[32];

	(void)state;
	th_tab_new(&tt, "full", 16);
	for (int i = 0; i < 16; i++) {
		snprintf(nm, sizeof(nm), "obj-%d", i);
		h[i] = open_kind(tt.t, i, (i & 1) ? nm : NULL);
		assert_true(h[i] > 0);
	}
	for (int k = 0; k < 3; k++) {
		assert_int_equal(open_kind(tt.t, k, NULL), -ENOSPC);
		assert_int_equal(open_kind(tt.t, k, "one-too-many"), -ENOSPC);
	}
	/* A failed named creation leaves no name behind. */
	assert_int_equal(iol_event_open(tt.t, "one-too-many", 0, false, false), -ENOENT);
	/* Opening what exists still works in a full table. */
	assert_true(iol_semaphore_open(tt.t, "obj-5", 0, 0, 1) > 0);
	/* dup and import take no slot */
	assert_true(iol_dup(h[0]) > 0);

	/* The capacity is the creator's: a later open asking for more gets
	 * the same full table. */
	assert_int_equal(iol_table_open(tt.name, &big, &t2), 0);
	assert_int_equal(iol_mutex_open(t2, NULL, 0, false), -ENOSPC);

	/* Closing an object (its last handle) makes room, for every type. */
	assert_int_equal(iol_close(h[3]), 0);
	extra = iol_event_open(t2, "late", IOL_CREATE, false, false);
	assert_true(extra > 0);
	assert_int_equal(iol_mutex_open(tt.t, NULL, 0, false), -ENOSPC);
	assert_int_equal(iol_close(extra), 0);
	extra = iol_semaphore_open(tt.t, NULL, 0, 1, 1);
	assert_true(extra > 0);
	assert_int_equal(iol_table_close(t2), 0);
	th_tab_del(&tt);
}

static long allocated(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	th_table_path(name, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_blocks * 512;
}

/* Creating a table touches only the pages it uses. */
static void test_creation_is_sparse(void **state)
{
	struct iol_table_opts o = {.slots = IOL_TABLE_MAX_SLOTS};
	char path[PATH_MAX];
	struct th_tab tt;
	struct stat st;
	iol_table *t;
	long used;
	int h;

	(void)state;
	th_tab_new(&tt, "sparse", 0); /* default: 65536 slots */
	th_table_path(tt.name, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	used = allocated(tt.name);
	print_message("default table: %lld bytes long, %ld allocated\n", (long long)st.st_size,
		      used);
	/* 65536 slots of a few hundred bytes each are ~25 MiB, the issue's
	 * "8 MiB memset" is what must not happen: allow 1 MiB for the header
	 * and the records an attach looks at (the slots, rows and name
	 * buckets must stay holes). */
	assert_true(st.st_size >= 65536LL * 256);
	assert_true(used <= 1024 * 1024);
	/* A few objects add a few pages, not the table. */
	for (int i = 0; i < 10; i++) {
		h = iol_event_open(tt.t, NULL, 0, false, false);
		assert_true(h > 0);
		assert_int_equal(iol_event_set(h), 0);
	}
	assert_true(allocated(tt.name) <= 1024 * 1024 + 64 * 1024);
	th_tab_del(&tt);

	th_uniq(tt.name, sizeof(tt.name), "sparse-max");
	assert_int_equal(iol_table_open(tt.name, &o, &t), 0);
	used = allocated(tt.name);
	print_message("%u-slot table: %ld allocated\n", IOL_TABLE_MAX_SLOTS, used);
	assert_true(used <= 1024 * 1024);
	h = iol_mutex_open(t, "m", IOL_CREATE, true);
	assert_true(h > 0);
	assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(tt.name), 0);
}

/* IOL_TABLE_MAX_PROCS processes attached: the next gets -EUSERS, and a
 * detach makes room.  Children detach with iol_table_close(). */
struct attacher {
	const char *name;
	int release;   /* read end: one byte lets one child go, EOF all */
	int release_w; /* its write end, closed in the child */
	int ready;     /* write end: 0 when attached, else -errno */
};

static int child_attacher(void *arg)
{
	struct attacher *a = arg;
	iol_table *t;
	char b;
	int r = iol_table_open(a->name, NULL, &t);
	signed char rb = (signed char)r;

	close(a->release_w);
	TH_CHECK(write(a->ready, &rb, 1) == 1);
	if (r != 0)
		return 1;
	while (read(a->release, &b, 1) < 0 && errno == EINTR)
		;
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_eusers(void **state)
{
	int rel[2], rdy[2], n = (int)IOL_TABLE_MAX_PROCS, spawned = 0, bad = 0;
	int r_full = 0, r_after = -1, one_reaped = 0, failed_children = 0;
	pid_t *pids = calloc((size_t)n, sizeof(pid_t));
	struct attacher a;
	iol_table *t = NULL;
	char name[65];

	(void)state;
	assert_non_null(pids);
	th_uniq(name, sizeof(name), "users");
	assert_int_equal(pipe2(rel, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rdy, O_CLOEXEC), 0);
	a = (struct attacher){
	    .name = name, .release = rel[0], .release_w = rel[1], .ready = rdy[1]};
	/* No assertion until every child is gone: a failure must not leave
	 * a thousand processes behind. */
	for (; spawned < n; spawned++) {
		int b;

		pids[spawned] = th_spawn(child_attacher, &a);
		b = th_hear(rdy[0], TH_LONG_MS);
		if (b != 0) {
			print_message("attacher %d: %d\n", spawned, (signed char)b);
			bad = 1;
			spawned++;
			break;
		}
	}
	if (!bad) {
		r_full = iol_table_open(name, NULL, &t);
		if (r_full == 0)
			iol_table_close(t);
		/* One detaches; then there is room again. */
		if (write(rel[1], "x", 1) == 1) {
			int st;
			pid_t p;

			while ((p = waitpid(-1, &st, 0)) < 0 && errno == EINTR)
				;
			for (int i = 0; i < spawned; i++)
				if (pids[i] == p)
					pids[i] = 0;
			one_reaped = p > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		r_after = iol_table_open(name, NULL, &t);
	}
	close(rel[1]);
	/* A thousand processes detach at once, on two CPUs (and under
	 * ThreadSanitizer, each with its sentinel thread instrumented): one
	 * time limit for them all, not one per child counted from now. */
	int64_t until = th_now_ns() + 6 * (int64_t)TH_LONG_MS * 1000000;
	for (int i = 0; i < spawned; i++) {
		int64_t left_ms = (until - th_now_ns()) / 1000000;

		if (pids[i] > 0 && th_reap(pids[i], left_ms > 1 ? (int)left_ms : 1) != 0)
			failed_children++;
	}
	close(rel[0]);
	close(rdy[0]);
	close(rdy[1]);
	free(pids);
	if (r_after == 0)
		assert_int_equal(iol_table_close(t), 0);
	assert_int_equal(iol_table_unlink(name), 0);

	assert_int_equal(bad, 0);
	assert_int_equal(r_full, -EUSERS);
	assert_true(one_reaped);
	assert_int_equal(r_after, 0);
	assert_int_equal(failed_children, 0);
}

/* ---- private tables --------------------------------------------------- */

struct waiter {
	int h;
	int64_t timeout;
	_Atomic pid_t tid;
	int result;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	atomic_store(&w->tid, th_gettid());
	w->result = iol_wait(w->h, w->timeout);
	return NULL;
}

static void test_private_tables(void **state)
{
	struct iol_table_opts po = {.flags = IOL_TABLE_PRIVATE},
			      small = {.flags = IOL_TABLE_PRIVATE, .slots = 16};
	iol_table *p1, *p2, *sh, *p3;
	struct waiter w = {.timeout = TH_LONG_NS};
	pthread_t th;
	uint64_t tok;
	char name[65];
	int h1, h2, h;

	(void)state;
	th_uniq(name, sizeof(name), "priv");
	assert_int_equal(iol_table_open(name, &po, &p1), 0);
	assert_int_equal(th_teardown_dir_empty(NULL), 0); /* no file */
	assert_int_equal(iol_table_open(name, &po, &p2), 0);
	assert_int_equal(iol_table_open(NULL, &po, &p3), 0); /* "default", privately */
	assert_int_equal(th_teardown_dir_empty(NULL), 0);
	/* Names still have to be valid. */
	assert_int_equal(iol_table_open("no/slash", &po, &sh), -EINVAL);

	/* Two private tables of the same name are two tables. */
	h1 = iol_event_open(p1, "e", IOL_CREATE, true, false);
	assert_true(h1 > 0);
	assert_int_equal(iol_event_open(p2, "e", 0, true, false), -ENOENT);
	h2 = iol_event_open(p2, "e", IOL_CREATE, true, true);
	assert_true(h2 > 0);
	assert_int_equal(iol_wait(h1, 0), -ETIMEDOUT);
	assert_int_equal(iol_wait(h2, 0), 0);
	/* A shared table of that name does not see them either. */
	assert_int_equal(iol_table_open(name, NULL, &sh), 0);
	assert_int_equal(iol_event_open(sh, "e", 0, true, false), -ENOENT);
	assert_int_equal(iol_table_close(sh), 0);
	assert_int_equal(iol_table_unlink(name), 0);

	/* Waits between threads work in a private table. */
	w.h = h1;
	assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
	assert_true(th_wait_count((_Atomic int *)&w.tid, 1, TH_LONG_MS));
	assert_true(th_wait_blocked(atomic_load(&w.tid), TH_LONG_MS));
	assert_int_equal(iol_event_set(h1), 0);
	assert_true(th_join(th, NULL, TH_LONG_MS));
	assert_int_equal(w.result, 0);

	/* Tokens work inside it and nowhere else. */
	assert_int_equal(iol_export(h1, &tok), 0);
	h = iol_import(p1, tok);
	assert_true(h > 0);
	assert_int_equal(iol_import(p2, tok), -ENOENT);

	/* Capacity applies. */
	assert_int_equal(iol_table_open(name, &small, &sh), 0);
	for (int i = 0; i < 16; i++)
		assert_true(iol_semaphore_open(sh, NULL, 0, 0, 1) > 0);
	assert_int_equal(iol_semaphore_open(sh, NULL, 0, 0, 1), -ENOSPC);
	assert_int_equal(iol_table_close(sh), 0);

	assert_int_equal(iol_table_close(p1), 0);
	assert_int_equal(iol_table_close(p2), 0);
	assert_int_equal(iol_table_close(p3), 0);
	assert_int_equal(iol_query(h, &(struct iol_info){0}), -EBADF);
	/* Nothing to unlink. */
	assert_int_equal(iol_table_unlink(name), -ENOENT);
}

/* ---- unlink while attached ------------------------------------------- */

struct unlink_arg {
	const char *name;
	struct th_chan c;
};

static int child_attached_before_unlink(void *arg)
{
	struct unlink_arg *a = arg;
	iol_table *t;
	int e, done;

	TH_CHECK_EQ(iol_table_open(a->name, NULL, &t), 0);
	e = iol_event_open(t, "go", 0, false, false);
	TH_CHECK(e > 0);
	done = iol_event_open(t, "done", 0, false, false);
	TH_CHECK(done > 0);
	TH_CHECK_EQ(th_say(TH_TO_PARENT(&a->c), 'a'), 0);
	/* The parent unlinks the file, then sets "go". */
	TH_CHECK_EQ(iol_wait(e, TH_LONG_NS), 0);
	TH_CHECK_EQ(iol_event_set(done), 0);
	TH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

static void test_unlink_while_attached(void **state)
{
	struct unlink_arg a;
	char name[65], path[PATH_MAX];
	iol_table *t, *t2;
	int go, done, h;
	pid_t pid;

	(void)state;
	th_uniq(name, sizeof(name), "unlink");
	th_table_path(name, path, sizeof(path));
	a.name = name;
	th_chan_open(&a.c);
	assert_int_equal(iol_table_open(name, NULL, &t), 0);
	go = iol_event_open(t, "go", IOL_CREATE, false, false);
	done = iol_event_open(t, "done", IOL_CREATE, false, false);
	h = iol_semaphore_open(t, "kept", IOL_CREATE, 1, 5);
	assert_true(go > 0 && done > 0 && h > 0);
	pid = th_spawn(child_attached_before_unlink, &a);
	assert_int_equal(th_hear(TH_FROM_CHILD(&a.c), TH_LONG_MS), 'a');

	assert_int_equal(iol_table_unlink(name), 0);
	assert_false(path_exists(path));
	assert_int_equal(iol_table_unlink(name), -ENOENT);

	/* Both attached processes keep working on the same memory. */
	assert_int_equal(iol_event_set(go), 0);
	assert_int_equal(iol_wait(done, TH_LONG_NS), 0);
	assert_int_equal(th_reap(pid, TH_LONG_MS), 0);
	assert_int_equal(iol_semaphore_release(h, 1), 1);
	assert_true(iol_mutex_open(t, "new-after-unlink", IOL_CREATE, false) > 0);
	assert_true(iol_semaphore_open(t, "kept", 0, 0, 1) > 0);

	/* The next open of the name creates a new, empty table. */
	assert_int_equal(iol_table_open(name, NULL, &t2), 0);
	assert_true(path_exists(path));
	assert_int_equal(iol_semaphore_open(t2, "kept", 0, 0, 1), -ENOENT);
	assert_int_equal(iol_mutex_open(t2, "new-after-unlink", 0, false), -ENOENT);
	assert_int_equal(iol_table_close(t2), 0);
	assert_int_equal(iol_table_unlink(name), 0);
	assert_int_equal(iol_table_close(t), 0);
	th_chan_close(&a.c);
}

/* ---- iol_table_close closes every handle ------------------------------ */

static void test_table_close_closes_handles(void **state)
{
	struct iol_info info;
	struct th_tab tt;
	iol_table *t2;
	int ev, ev_dup, ev_name, ev_imp, sem, mx, mx2, anon, other;
	uint64_t tok;

	(void)state;
	th_tab_new(&tt, "close", 0);
	/* A second attachment of the same table holds references too. */
	assert_int_equal(iol_table_open(tt.name, NULL, &t2), 0);
	other = iol_event_open(t2, "ev", IOL_CREATE, true, false);
	assert_true(other > 0);

	ev = iol_event_open(tt.t, "ev", 0, true, false);
	ev_dup = iol_dup(ev);
	ev_name = iol_event_open(tt.t, "ev", 0, true, false);
	assert_int_equal(iol_export(ev, &tok), 0);
	ev_imp = iol_import(tt.t, tok);
	sem = iol_semaphore_open(tt.t, "sem", IOL_CREATE, 0, 3);
	mx = iol_mutex_open(tt.t, "mx", IOL_CREATE, true); /* owned by this thread */
	anon = iol_event_open(tt.t, NULL, 0, false, false);
	assert_true(ev > 0 && ev_dup > 0 && ev_name > 0 && ev_imp > 0 && sem > 0 && mx > 0 &&
		    anon > 0);
	mx2 = iol_mutex_open(t2, "mx", 0, false);
	assert_true(mx2 > 0);
	assert_int_equal(iol_query(other, &info), 0);
	assert_int_equal(info.refs, 5);

	assert_int_equal(iol_table_close(tt.t), 0);
	tt.t = NULL;
	{
		const int hs[] = {ev, ev_dup, ev_name, ev_imp, sem, mx, anon};

		for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
			assert_int_equal(iol_query(hs[i], &info), -EBADF);
			assert_int_equal(iol_wait(hs[i], 0), -EBADF);
			assert_int_equal(iol_dup(hs[i]), -EBADF);
			assert_int_equal(iol_close(hs[i]), -EBADF);
		}
		assert_int_equal(iol_event_set(ev), -EBADF);
		assert_int_equal(iol_semaphore_release(sem, 1), -EBADF);
		assert_int_equal(iol_mutex_release(mx), -EBADF);
		assert_int_equal(iol_export(ev, &tok), -EBADF);
	}
	/* Its references are given back... */
	assert_int_equal(iol_query(other, &info), 0);
	assert_int_equal(info.refs, 1);
	assert_int_equal(iol_semaphore_open(t2, "sem", 0, 0, 1), -ENOENT);
	/* ...and the mutex its thread owned there is abandoned. */
	assert_int_equal(iol_query(mx2, &info), 0);
	assert_true(info.u.mutex.abandoned);
	assert_int_equal(info.u.mutex.owner_tid, 0);
	assert_int_equal(iol_wait(mx2, 0), IOL_ABANDONED);
	assert_int_equal(iol_mutex_release(mx2), 1);
	/* The other attachment is unaffected. */
	assert_int_equal(iol_event_set(other), 0);
	assert_int_equal(iol_wait(other, 0), 0);
	assert_int_equal(iol_table_close(t2), 0);
	th_tab_del(&tt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_valid_names, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_invalid_names, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_null_is_default, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_open_argument_errors, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_file_name_mode_owner, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_mode_other_bits_refused, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_shm_dir_permissions, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_default_dir_is_dev_shm, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_concurrent_creation, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_symlink_refused, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_other_users_file, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_per_user_namespace, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_foreign_files, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_foreign_header_fields, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_header_byte_flips, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_not_a_regular_file, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_capacity_full_and_reuse, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_creation_is_sparse, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_eusers, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_private_tables, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_unlink_while_attached, th_teardown_dir_empty),
	    cmocka_unit_test_teardown(test_table_close_closes_handles, th_teardown_dir_empty),
	};

	th_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
