/* SPDX-License-Identifier: MIT */
/*
 * File sharing modes (issue 5, include/iolayer/file.h): Windows'
 * share-access rule over every combination of access (O_RDONLY, O_WRONLY,
 * O_RDWR) and share (0..7) for two opens, within one process and between
 * two, and for three opens (the counts, not the first opener's modes,
 * decide); hard links are one file; closing the last handle of an open
 * releases it (also across processes); the death of the holder (issue 6);
 * unlink and rename need every open to share delete; O_TRUNC does not
 * truncate on a sharing violation; iol_file_fd; iol_query; errors.
 *
 * The expected result is computed here from the rule as the issue states
 * it, never from the implementation: a new open fails if it asks for an
 * access that some existing open does not share, or if it refuses to share
 * an access that some existing open holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
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
#include "tests/proc_helpers.h"

static struct ph_tab tab;
static char dir[64], path_a[128], path_b[128], path_c[128];

static int setup(void **state)
{
	(void)state;
	ph_tab_new(&tab, "file");
	ph_tmpdir(dir, sizeof(dir));
	snprintf(path_a, sizeof(path_a), "%s/a", dir);
	snprintf(path_b, sizeof(path_b), "%s/b", dir);
	snprintf(path_c, sizeof(path_c), "%s/c", dir);
	ph_write_file(path_a, "hello world", 0644);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ph_tab_del(&tab);
	ph_rmtree(dir);
	return 0;
}

/* ---- the rule, from the issue text ------------------------------------ */

#define R IOL_SHARE_READ
#define W IOL_SHARE_WRITE
#define D IOL_SHARE_DELETE

static const int acc_flags[3] = {O_RDONLY, O_WRONLY, O_RDWR};
static const unsigned acc_bits[3] = {R, W, R | W}; /* access as R/W bits */
static const char *const acc_name[3] = {"O_RDONLY", "O_WRONLY", "O_RDWR"};

struct open_desc {
	unsigned access; /* R/W (D for a delete) */
	unsigned share;
};

/* Does a new open (access, share) conflict with one existing open? */
static bool conflicts(struct open_desc existing, struct open_desc n)
{
	if ((n.access & R) && !(existing.share & R))
		return true;
	if ((n.access & W) && !(existing.share & W))
		return true;
	if ((n.access & D) && !(existing.share & D))
		return true;
	if ((existing.access & R) && !(n.share & R))
		return true;
	if ((existing.access & W) && !(n.share & W))
		return true;
	if ((existing.access & D) && !(n.share & D))
		return true;
	return false;
}

static int fopen_as(const char *path, int ai, unsigned share)
{
	return iol_file_open(tab.t, path, acc_flags[ai], 0, share);
}

/* ---- two opens, one process ----------------------------------------- */

static void test_pairs_one_process(void **state)
{
	int checked = 0;

	(void)state;
	for (int a1 = 0; a1 < 3; a1++)
		for (unsigned s1 = 0; s1 < 8; s1++)
			for (int a2 = 0; a2 < 3; a2++)
				for (unsigned s2 = 0; s2 < 8; s2++) {
					struct open_desc e = {acc_bits[a1], s1};
					struct open_desc n = {acc_bits[a2], s2};
					bool busy = conflicts(e, n);
					int h1 = fopen_as(path_a, a1, s1), h2;

					assert_true(h1 > 0); /* the first open always */
					h2 = fopen_as(path_a, a2, s2);
					if ((busy && h2 != -EBUSY) || (!busy && h2 <= 0)) {
						fprintf(stderr,
							"first %s share %u, second %s share %u: "
							"got %d, want %s\n",
							acc_name[a1], s1, acc_name[a2], s2, h2,
							busy ? "-EBUSY" : "a handle");
						fail();
					}
					if (h2 > 0)
						assert_int_equal(iol_close(h2), 0);
					assert_int_equal(iol_close(h1), 0);
					checked++;
				}
	assert_int_equal(checked, 576);
}

/* Three opens: every combination, the third checked against both. */
static void test_triples_one_process(void **state)
{
	long busy_seen = 0, admitted = 0;

	(void)state;
	for (int i = 0; i < 24 * 24 * 24; i++) {
		/* i = x0 * 576 + x1 * 24 + x2; each x is (access x % 3, share x / 3) */
		int x[3] = {i / 576, (i / 24) % 24, i % 24};
		int a[3] = {x[0] % 3, x[1] % 3, x[2] % 3};
		unsigned s[3] = {(unsigned)x[0] / 3, (unsigned)x[1] / 3, (unsigned)x[2] / 3};
		struct open_desc o[3];
		int h[3];
		int nopen = 0;

		for (int k = 0; k < 3; k++) {
			struct open_desc n = {acc_bits[a[k]], s[k]};
			bool busy = false;
			int r;

			for (int j = 0; j < nopen; j++)
				busy |= conflicts(o[j], n);
			r = fopen_as(path_a, a[k], s[k]);
			if ((busy && r != -EBUSY) || (!busy && r <= 0)) {
				fprintf(stderr,
					"open %d (%s share %u) after %d opens: got %d, want %s\n",
					k, acc_name[a[k]], s[k], nopen, r,
					busy ? "-EBUSY" : "a handle");
				for (int j = 0; j < nopen; j++)
					fprintf(stderr, "  open: access %u share %u\n", o[j].access,
						o[j].share);
				fail();
			}
			if (r > 0) {
				o[nopen] = n;
				h[nopen++] = r;
				admitted++;
			} else {
				busy_seen++;
			}
		}
		for (int j = 0; j < nopen; j++)
			assert_int_equal(iol_close(h[j]), 0);
	}
	assert_true(busy_seen > 0 && admitted > 0);
}

/* The case Mono's first-opener shortcut got wrong, with the counts. */
static void test_counts_not_first_opener(void **state)
{
	struct iol_info info;
	int h1, h2, h3;

	(void)state;
	h1 = iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W);
	assert_true(h1 > 0);
	h2 = iol_file_open(tab.t, path_a, O_RDONLY, 0, R);
	assert_true(h2 > 0);
	assert_int_equal(iol_query(h2, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_FILE);
	assert_int_equal(info.u.file.opens, 2);
	assert_int_equal(info.u.file.readers, 2);
	assert_int_equal(info.u.file.writers, 0);
	assert_int_equal(info.u.file.deleters, 0);
	assert_int_equal(info.u.file.share_read, 2);
	assert_int_equal(info.u.file.share_write, 1);
	assert_int_equal(info.u.file.share_delete, 0);
	assert_int_equal(info.u.file.access, R);
	assert_int_equal(info.u.file.share, R);
	/* The first opener shares write; the second does not: no writer. */
	assert_int_equal(iol_file_open(tab.t, path_a, O_WRONLY, 0, R | W | D), -EBUSY);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDWR, 0, R | W | D), -EBUSY);
	/* Refused opens changed nothing. */
	assert_int_equal(iol_query(h1, &info), 0);
	assert_int_equal(info.u.file.opens, 2);
	assert_int_equal(info.u.file.share_write, 1);
	assert_int_equal(iol_close(h2), 0);
	h3 = iol_file_open(tab.t, path_a, O_WRONLY, 0, R | W);
	assert_true(h3 > 0);
	assert_int_equal(iol_query(h3, &info), 0);
	assert_int_equal(info.u.file.opens, 2);
	assert_int_equal(info.u.file.readers, 1);
	assert_int_equal(info.u.file.writers, 1);
	assert_int_equal(info.u.file.share_read, 2);
	assert_int_equal(info.u.file.share_write, 2);
	assert_int_equal(info.u.file.access, W);
	/* Now a reader refusing to share write is refused: a writer holds it. */
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R), -EBUSY);
	iol_close(h1);
	iol_close(h3);
}

/* ---- two opens, two processes ------------------------------------------ */

/* A child that opens and closes on command.  Command: op << 16 | slot <<
 * 8 | access << 4 | share; reply: the result. */
#define OP_OPEN	 1
#define OP_CLOSE 2
#define OP_QUIT	 3

struct server {
	const char *table, *path;
	int cmd_r, reply_w, cmd_w, reply_r;
};

static int server_main(void *arg)
{
	struct server *s = arg;
	int handles[8] = {0};
	iol_table *t;
	long long c;

	close(s->cmd_w);
	close(s->reply_r);
	PH_CHECK_EQ(iol_table_open(s->table, NULL, &t), 0);
	while (ph_recv_int(s->cmd_r, &c, 60000) == 0) {
		int op = (int)(c >> 16), slot = (int)(c >> 8) & 7, ai = (int)(c >> 4) & 3;
		unsigned share = (unsigned)c & 15;
		long long r = 0;

		if (op == OP_OPEN) {
			r = iol_file_open(t, s->path, acc_flags[ai], 0, share);
			if (r > 0)
				handles[slot] = (int)r;
		} else if (op == OP_CLOSE) {
			r = iol_close(handles[slot]);
			handles[slot] = 0;
		} else {
			break;
		}
		PH_CHECK_EQ(ph_send_int(s->reply_w, r), 0);
	}
	iol_table_close(t);
	return 0;
}

struct remote {
	pid_t pid;
	int cmd_w, reply_r;
};

static void remote_start(struct remote *rm, const char *path)
{
	int cmd[2], reply[2];
	struct server s;

	ph_pipe(cmd);
	ph_pipe(reply);
	s = (struct server){.table = tab.name,
			    .path = path,
			    .cmd_r = cmd[0],
			    .reply_w = reply[1],
			    .cmd_w = cmd[1],
			    .reply_r = reply[0]};
	rm->pid = ph_fork(server_main, &s);
	close(cmd[0]);
	close(reply[1]);
	rm->cmd_w = cmd[1];
	rm->reply_r = reply[0];
}

static long long remote(struct remote *rm, int op, int slot, int ai, unsigned share)
{
	long long r;

	assert_int_equal(ph_send_int(rm->cmd_w, (long long)op << 16 | slot << 8 | ai << 4 | share),
			 0);
	assert_int_equal(ph_recv_int(rm->reply_r, &r, PH_LONG_MS), 0);
	return r;
}

static void remote_stop(struct remote *rm)
{
	assert_int_equal(ph_send_int(rm->cmd_w, (long long)OP_QUIT << 16), 0);
	assert_int_equal(ph_reap(rm->pid, PH_LONG_MS), 0);
	close(rm->cmd_w);
	close(rm->reply_r);
}

static void test_pairs_two_processes(void **state)
{
	struct remote rm;
	int checked = 0;

	(void)state;
	remote_start(&rm, path_a);
	for (int a1 = 0; a1 < 3; a1++)
		for (unsigned s1 = 0; s1 < 8; s1++)
			for (int a2 = 0; a2 < 3; a2++)
				for (unsigned s2 = 0; s2 < 8; s2++) {
					struct open_desc e = {acc_bits[a1], s1};
					struct open_desc n = {acc_bits[a2], s2};
					bool busy = conflicts(e, n);
					long long r;
					int h;

					/* The child first, then us. */
					assert_true(remote(&rm, OP_OPEN, 0, a1, s1) > 0);
					h = fopen_as(path_a, a2, s2);
					if ((busy && h != -EBUSY) || (!busy && h <= 0)) {
						fprintf(stderr,
							"other process %s share %u, here %s share "
							"%u: got %d\n",
							acc_name[a1], s1, acc_name[a2], s2, h);
						fail();
					}
					if (h > 0)
						assert_int_equal(iol_close(h), 0);
					assert_int_equal(remote(&rm, OP_CLOSE, 0, 0, 0), 0);

					/* Us first, then the child. */
					h = fopen_as(path_a, a1, s1);
					assert_true(h > 0);
					r = remote(&rm, OP_OPEN, 1, a2, s2);
					if ((busy && r != -EBUSY) || (!busy && r <= 0)) {
						fprintf(stderr,
							"here %s share %u, other process %s share "
							"%u: got %lld\n",
							acc_name[a1], s1, acc_name[a2], s2, r);
						fail();
					}
					if (r > 0)
						assert_int_equal(remote(&rm, OP_CLOSE, 1, 0, 0), 0);
					assert_int_equal(iol_close(h), 0);
					checked++;
				}
	remote_stop(&rm);
	assert_int_equal(checked, 576);
}

/*
 * The check and the record are one step: processes released at once by
 * one event, each opening with share 0, never both get in.
 */
struct racer {
	const char *table, *path;
	uint64_t go_token;
	int up_w, down_r;
};

static int racer_main(void *arg)
{
	struct racer *r = arg;
	iol_table *t;
	long long v;
	int go, h;

	PH_CHECK_EQ(iol_table_open(r->table, NULL, &t), 0);
	go = iol_import(t, r->go_token);
	PH_CHECK(go > 0);
	PH_CHECK_EQ(ph_send_int(r->up_w, 0), 0); /* ready */
	PH_CHECK_EQ(iol_wait(go, PH_LONG_NS), 0);
	h = iol_file_open(t, r->path, O_RDWR, 0, 0);
	PH_CHECK(h > 0 || h == -EBUSY);
	PH_CHECK_EQ(ph_send_int(r->up_w, h > 0), 0);
	PH_CHECK_EQ(ph_recv_int(r->down_r, &v, PH_LONG_MS), 0); /* hold until told */
	if (h > 0)
		iol_close(h);
	iol_table_close(t);
	return 0;
}

static void test_concurrent_opens_one_wins(void **state)
{
	enum { N = 4, ROUNDS = 30 };

	(void)state;
	for (int round = 0; round < ROUNDS; round++) {
		struct racer r = {.table = tab.name, .path = path_a};
		int up[2], down[2], go, winners = 0;
		pid_t kids[N];
		long long v;

		go = iol_event_open(tab.t, NULL, 0, true, false);
		assert_true(go > 0);
		assert_int_equal(iol_export(go, &r.go_token), 0);
		ph_pipe(up);
		ph_pipe(down);
		r.up_w = up[1];
		r.down_r = down[0];
		for (int k = 0; k < N; k++)
			kids[k] = ph_fork(racer_main, &r);
		for (int k = 0; k < N; k++)
			assert_int_equal(ph_recv_int(up[0], &v, PH_LONG_MS), 0);
		for (int k = 0; k < N; k++)
			assert_true(ph_wait_futex(kids[k], kids[k], PH_LONG_MS));
		assert_int_equal(iol_event_set(go), 0);
		for (int k = 0; k < N; k++) {
			assert_int_equal(ph_recv_int(up[0], &v, PH_LONG_MS), 0);
			winners += (int)v;
		}
		assert_int_equal(winners, 1);
		for (int k = 0; k < N; k++)
			assert_int_equal(ph_send_int(down[1], 1), 0);
		for (int k = 0; k < N; k++)
			assert_int_equal(ph_reap(kids[k], PH_LONG_MS), 0);
		close(up[0]);
		close(up[1]);
		close(down[0]);
		close(down[1]);
		iol_close(go);
	}
}

/* ---- one file, many names ------------------------------------------------- */

static void test_hard_links_are_one_file(void **state)
{
	char sym[160];
	struct stat st;
	struct iol_info info;
	int h, h2;

	(void)state;
	assert_int_equal(link(path_a, path_b), 0);
	snprintf(sym, sizeof(sym), "%s/sym", dir);
	assert_int_equal(symlink(path_a, sym), 0);
	ph_write_file(path_c, "other", 0644);
	h = iol_file_open(tab.t, path_a, O_RDONLY, 0, 0);
	assert_true(h > 0);
	assert_int_equal(iol_file_open(tab.t, path_b, O_RDONLY, 0, R | W | D), -EBUSY);
	assert_int_equal(iol_file_open(tab.t, sym, O_RDONLY, 0, R | W | D), -EBUSY);
	/* Another file is another file. */
	h2 = iol_file_open(tab.t, path_c, O_RDWR, 0, 0);
	assert_true(h2 > 0);
	/* The record's identity is the inode. */
	assert_int_equal(stat(path_b, &st), 0);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.u.file.dev, (uint64_t)st.st_dev);
	assert_int_equal(info.u.file.ino, (uint64_t)st.st_ino);
	assert_int_equal(iol_close(h), 0);
	h = iol_file_open(tab.t, path_b, O_RDONLY, 0, 0);
	assert_true(h > 0);
	assert_int_equal(iol_file_open(tab.t, path_a, O_WRONLY, 0, R | W | D), -EBUSY);
	iol_close(h);
	iol_close(h2);
}

/* ---- release -------------------------------------------------------------- */

static void test_close_releases(void **state)
{
	int h, d, h2, fd;

	(void)state;
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(h > 0);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
	/* An open lives while any of its handles does. */
	d = iol_dup(h);
	assert_true(d > 0);
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
	assert_int_equal(iol_close(d), 0);
	h2 = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(h2 > 0);
	assert_int_equal(iol_close(h2), 0);
	/* Closing the table closes its opens too. */
	{
		struct ph_tab t2;
		int x;

		ph_tab_new(&t2, "file-close");
		x = iol_file_open(t2.t, path_a, O_RDWR, 0, 0);
		assert_true(x > 0);
		fd = iol_file_fd(x);
		assert_true(fd >= 0);
		assert_int_equal(iol_file_open(t2.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
		assert_int_equal(iol_table_close(t2.t), 0);
		/* ... and with them their descriptors. */
		assert_int_equal(fcntl(fd, F_GETFD), -1);
		assert_int_equal(iol_table_open(t2.name, NULL, &t2.t), 0);
		x = iol_file_open(t2.t, path_a, O_RDWR, 0, 0);
		assert_true(x > 0);
		ph_tab_del(&t2);
	}
}

/* After fork() the child holds no handles: the inherited one is -EBADF
 * there, and the child's exit does not release the parent's open. */
struct forked {
	int h;
};

static int forked_child(void *arg)
{
	struct forked *f = arg;

	PH_CHECK_EQ(iol_file_fd(f->h), -EBADF);
	PH_CHECK_EQ(iol_close(f->h), -EBADF);
	return 0;
}

static void test_fork_child_holds_no_open(void **state)
{
	struct forked f;
	pid_t kid;

	(void)state;
	f.h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(f.h > 0);
	kid = ph_fork(forked_child, &f);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 0);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
	assert_true(iol_file_fd(f.h) >= 0);
	iol_close(f.h);
}

/* An open imported by another process stays until that one closes too. */
struct importer {
	const char *table;
	uint64_t token;
	int up_w, down_r;
};

static int importer_main(void *arg)
{
	struct importer *im = arg;
	struct iol_info info;
	iol_table *t;
	long long go;
	int h;

	PH_CHECK_EQ(iol_table_open(im->table, NULL, &t), 0);
	h = iol_import(t, im->token);
	PH_CHECK(h > 0);
	PH_CHECK_EQ(iol_query(h, &info), 0);
	PH_CHECK_EQ(info.type, IOL_TYPE_FILE);
	PH_CHECK_EQ(info.u.file.opens, 1);
	/* The descriptor belongs to the opener. */
	PH_CHECK_EQ(iol_file_fd(h), -EXDEV);
	PH_CHECK_EQ(ph_send_int(im->up_w, 1), 0);
	PH_CHECK_EQ(ph_recv_int(im->down_r, &go, PH_LONG_MS), 0);
	PH_CHECK_EQ(iol_close(h), 0);
	PH_CHECK_EQ(ph_send_int(im->up_w, 2), 0);
	iol_table_close(t);
	return 0;
}

static void test_imported_open_holds_share_state(void **state)
{
	struct importer im = {.table = tab.name};
	int up[2], down[2], h;
	long long v;
	pid_t kid;

	(void)state;
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(h > 0);
	assert_int_equal(iol_export(h, &im.token), 0);
	ph_pipe(up);
	ph_pipe(down);
	im.up_w = up[1];
	im.down_r = down[0];
	kid = ph_fork(importer_main, &im);
	close(up[1]);
	close(down[0]);
	assert_int_equal(ph_recv_int(up[0], &v, PH_LONG_MS), 0);
	assert_int_equal(iol_close(h), 0);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
	assert_int_equal(ph_send_int(down[1], 1), 0);
	assert_int_equal(ph_recv_int(up[0], &v, PH_LONG_MS), 0);
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(h > 0);
	iol_close(h);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 0);
	close(up[0]);
	close(down[1]);
}

/*
 * The death of the process holding an open releases it ("with the
 * crash-safety issue", 6): once a survivor notices the death.  An open
 * that would fail is such a moment in this implementation, a table open
 * is one by issue 6's text; both are tried, in that order.
 */
static int open_close_table(void *arg)
{
	iol_table *t;

	PH_CHECK_EQ(iol_table_open(arg, NULL, &t), 0);
	PH_CHECK_EQ(iol_table_close(t), 0);
	return 0;
}

struct holder {
	const char *table, *path;
	int up_w;
};

static int holder_main(void *arg)
{
	struct holder *ho = arg;
	iol_table *t;

	PH_CHECK_EQ(iol_table_open(ho->table, NULL, &t), 0);
	PH_CHECK(iol_file_open(t, ho->path, O_RDWR, 0, 0) > 0);
	PH_CHECK_EQ(ph_send_int(ho->up_w, 1), 0);
	for (;;)
		pause();
}

static void test_holder_death_releases(void **state)
{
	struct holder ho = {.table = tab.name, .path = path_a};
	long long v;
	int up[2], h;
	pid_t kid;

	(void)state;
	ph_pipe(up);
	ho.up_w = up[1];
	kid = ph_fork(holder_main, &ho);
	close(up[1]);
	assert_int_equal(ph_recv_int(up[0], &v, PH_LONG_MS), 0);
	close(up[0]);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
	assert_int_equal(kill(kid, SIGKILL), 0);
	assert_int_equal(ph_reap(kid, PH_LONG_MS), 128 + SIGKILL);
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	if (h == -EBUSY) {
		printf("      (not reclaimed by the refused open; trying a table open)\n");
		kid = ph_fork(open_close_table, (void *)tab.name);
		assert_int_equal(ph_reap(kid, PH_LONG_MS), 0);
		h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	}
	assert_true(h > 0);
	iol_close(h);
}

/* ---- unlink and rename ----------------------------------------------------- */

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static void test_unlink(void **state)
{
	char buf[16];
	int h, h2, fd;

	(void)state;
	/* No open: like unlink(2). */
	ph_write_file(path_c, "x", 0644);
	assert_int_equal(iol_file_unlink(tab.t, path_c), 0);
	assert_false(exists(path_c));
	assert_int_equal(iol_file_unlink(tab.t, path_c), -ENOENT);

	/* Every share but delete, each access: -EBUSY, the file stays. */
	for (int ai = 0; ai < 3; ai++) {
		h = fopen_as(path_a, ai, R | W);
		assert_true(h > 0);
		assert_int_equal(iol_file_unlink(tab.t, path_a), -EBUSY);
		assert_true(exists(path_a));
		iol_close(h);
	}
	/* Through another name of the inode: the same. */
	assert_int_equal(link(path_a, path_b), 0);
	h = iol_file_open(tab.t, path_a, O_RDONLY, 0, R);
	assert_int_equal(iol_file_unlink(tab.t, path_b), -EBUSY);
	assert_true(exists(path_b));
	iol_close(h);
	assert_int_equal(iol_file_unlink(tab.t, path_b), 0);
	assert_false(exists(path_b));
	/* One open shares delete, another does not: -EBUSY. */
	h = iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D);
	h2 = iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W);
	assert_true(h > 0 && h2 > 0);
	assert_int_equal(iol_file_unlink(tab.t, path_a), -EBUSY);
	assert_true(exists(path_a));
	iol_close(h2);
	/* Every open shares delete: the file is really gone, the open goes on. */
	assert_int_equal(iol_file_unlink(tab.t, path_a), 0);
	assert_false(exists(path_a));
	fd = iol_file_fd(h);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, 5, 0), 5);
	assert_memory_equal(buf, "hello", 5);
	/* A new file at the name is another inode: no conflict with h. */
	h2 = iol_file_open(tab.t, path_a, O_RDWR | O_CREAT, 0600, 0);
	assert_true(h2 > 0);
	iol_close(h2);
	iol_close(h);
}

/* Another process's open that refuses delete blocks our unlink. */
static void test_unlink_two_processes(void **state)
{
	struct remote rm;

	(void)state;
	remote_start(&rm, path_a);
	assert_true(remote(&rm, OP_OPEN, 0, 0, R | W) > 0);
	assert_int_equal(iol_file_unlink(tab.t, path_a), -EBUSY);
	assert_int_equal(iol_file_rename(tab.t, path_a, path_b), -EBUSY);
	assert_true(exists(path_a));
	assert_false(exists(path_b));
	assert_int_equal(remote(&rm, OP_CLOSE, 0, 0, 0), 0);
	assert_true(remote(&rm, OP_OPEN, 0, 2, R | W | D) > 0);
	assert_int_equal(iol_file_rename(tab.t, path_a, path_b), 0);
	assert_int_equal(iol_file_unlink(tab.t, path_b), 0);
	assert_false(exists(path_a));
	assert_false(exists(path_b));
	assert_int_equal(remote(&rm, OP_CLOSE, 0, 0, 0), 0);
	remote_stop(&rm);
}

static void test_rename(void **state)
{
	char buf[32];
	int h, ht, fd;

	(void)state;
	/* `from` open without delete share: -EBUSY, nothing moves. */
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, R | W);
	assert_true(h > 0);
	assert_int_equal(iol_file_rename(tab.t, path_a, path_b), -EBUSY);
	assert_true(exists(path_a));
	assert_false(exists(path_b));
	iol_close(h);
	/* Shared delete: renamed, and `to` is the file. */
	h = iol_file_open(tab.t, path_a, O_RDONLY, 0, D);
	assert_true(h > 0);
	assert_int_equal(iol_file_rename(tab.t, path_a, path_b), 0);
	assert_false(exists(path_a));
	fd = open(path_b, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 11);
	close(fd);
	assert_memory_equal(buf, "hello world", 11);
	/* The open follows the inode: still blocks what it refuses. */
	assert_int_equal(iol_file_open(tab.t, path_b, O_WRONLY, 0, R | W | D), -EBUSY);
	iol_close(h);
	/* `to` exists and is open refusing delete: not checked (the rule is
	 * the one for `from`), it is replaced. */
	ph_write_file(path_c, "new", 0644);
	ht = iol_file_open(tab.t, path_b, O_RDONLY, 0, 0);
	assert_true(ht > 0);
	assert_int_equal(iol_file_rename(tab.t, path_c, path_b), 0);
	assert_false(exists(path_c));
	fd = open(path_b, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	iol_close(ht);
	assert_int_equal(iol_file_rename(tab.t, path_c, path_a), -ENOENT);
}

/* ---- O_TRUNC and descriptors ------------------------------------------------- */

static off_t size_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static void test_trunc_not_on_violation(void **state)
{
	int h, h2;

	(void)state;
	h = iol_file_open(tab.t, path_a, O_RDONLY, 0, R);
	assert_true(h > 0);
	assert_int_equal(iol_file_open(tab.t, path_a, O_WRONLY | O_TRUNC, 0, R | W | D), -EBUSY);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDWR | O_TRUNC | O_CREAT, 0644, R | W | D),
			 -EBUSY);
	assert_int_equal(size_of(path_a), 11);
	iol_close(h);
	/* Admitted: truncated. */
	h2 = iol_file_open(tab.t, path_a, O_WRONLY | O_TRUNC, 0, 0);
	assert_true(h2 > 0);
	assert_int_equal(size_of(path_a), 0);
	iol_close(h2);
}

/* A refused open leaves no descriptor behind. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_violation_leaks_nothing(void **state)
{
	struct iol_info info;
	int h, before;

	(void)state;
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(h > 0);
	before = count_fds();
	for (int i = 0; i < 100; i++)
		assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, R | W | D), -EBUSY);
	assert_int_equal(count_fds(), before);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.u.file.opens, 1);
	iol_close(h);
}

static void test_fd(void **state)
{
	char buf[16];
	int h, h2, d, fd, fd2;

	(void)state;
	h = iol_file_open(tab.t, path_b, O_RDWR | O_CREAT | O_EXCL, 0600, R | W);
	assert_true(h > 0);
	fd = iol_file_fd(h);
	assert_true(fd >= 0);
	assert_int_equal(iol_file_fd(h), fd);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(pread(fd, buf, 3, 0), 3);
	assert_memory_equal(buf, "abc", 3);
	/* Another open of the file sees it through its own descriptor. */
	h2 = iol_file_open(tab.t, path_b, O_RDONLY, 0, R | W);
	assert_true(h2 > 0);
	fd2 = iol_file_fd(h2);
	assert_true(fd2 >= 0 && fd2 != fd);
	assert_int_equal(pread(fd2, buf, 3, 0), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(fcntl(fd2, F_GETFL) & O_ACCMODE, O_RDONLY);
	/* The descriptor stays open until the last handle of it is closed. */
	d = iol_dup(h);
	assert_int_equal(iol_file_fd(d), fd);
	assert_int_equal(iol_close(h), 0);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	assert_int_equal(pwrite(fd, "Z", 1, 0), 1);
	assert_int_equal(iol_close(d), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	iol_close(h2);
}

/* ---- query, invisibility, errors ------------------------------------------- */

static void test_query(void **state)
{
	struct iol_info info;
	struct stat st;
	int h;

	(void)state;
	assert_int_equal(stat(path_a, &st), 0);
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, W | D);
	assert_true(h > 0);
	assert_int_equal(iol_query(h, &info), 0);
	assert_int_equal(info.type, IOL_TYPE_FILE);
	assert_string_equal(iol_type_name(info.type), "file");
	assert_int_equal(info.refs, 1);
	assert_int_equal(info.u.file.dev, (uint64_t)st.st_dev);
	assert_int_equal(info.u.file.ino, (uint64_t)st.st_ino);
	assert_int_equal(info.u.file.access, R | W);
	assert_int_equal(info.u.file.share, W | D);
	assert_int_equal(info.u.file.opens, 1);
	assert_int_equal(info.u.file.readers, 1);
	assert_int_equal(info.u.file.writers, 1);
	assert_int_equal(info.u.file.deleters, 0);
	assert_int_equal(info.u.file.share_read, 0);
	assert_int_equal(info.u.file.share_write, 1);
	assert_int_equal(info.u.file.share_delete, 1);
	iol_close(h);
}

/* Opens made without iolayer are invisible to the check (documented). */
static void test_plain_opens_invisible(void **state)
{
	int fd, h;

	(void)state;
	fd = open(path_a, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	h = iol_file_open(tab.t, path_a, O_RDWR, 0, 0);
	assert_true(h > 0);
	iol_close(h);
	close(fd);
}

static void test_errors(void **state)
{
	struct iol_exit_status es;
	void *out;
	int h, ev, closed;

	(void)state;
	assert_int_equal(iol_file_open(NULL, path_a, O_RDONLY, 0, 0), -EINVAL);
	assert_int_equal(iol_file_open(tab.t, NULL, O_RDONLY, 0, 0), -EINVAL);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, 8), -EINVAL);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY, 0, 0x100 | R), -EINVAL);
	/* errno of open(2) */
	assert_int_equal(iol_file_open(tab.t, path_c, O_RDONLY, 0, 0), -ENOENT);
	assert_int_equal(iol_file_open(tab.t, dir, O_WRONLY, 0, 0), -EISDIR);
	assert_int_equal(iol_file_open(tab.t, path_a, O_RDONLY | O_CREAT | O_EXCL, 0600, 0),
			 -EEXIST);
	assert_false(exists(path_c)); /* nothing created by the failures */

	assert_int_equal(iol_file_unlink(NULL, path_a), -EINVAL);
	assert_int_equal(iol_file_unlink(tab.t, NULL), -EINVAL);
	assert_int_equal(iol_file_rename(NULL, path_a, path_b), -EINVAL);
	assert_int_equal(iol_file_rename(tab.t, NULL, path_b), -EINVAL);
	assert_int_equal(iol_file_rename(tab.t, path_a, NULL), -EINVAL);
	assert_true(exists(path_a));

	ev = iol_event_open(tab.t, NULL, 0, true, false);
	assert_int_equal(iol_file_fd(ev), -EINVAL);
	h = iol_file_open(tab.t, path_a, O_RDONLY, 0, R);
	assert_true(h > 0);
	assert_int_equal(iol_process_pid(h), -EINVAL);
	assert_int_equal(iol_process_exit_status(h, &es), -EINVAL);
	assert_int_equal(iol_thread_result(h, &out), -EINVAL);
	closed = h;
	iol_close(h);
	assert_int_equal(iol_file_fd(closed), -EBADF);
	assert_int_equal(iol_file_fd(0), -EBADF);
	iol_close(ev);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_pairs_one_process),
	    T(test_triples_one_process),
	    T(test_counts_not_first_opener),
	    T(test_pairs_two_processes),
	    T(test_concurrent_opens_one_wins),
	    T(test_hard_links_are_one_file),
	    T(test_close_releases),
	    T(test_fork_child_holds_no_open),
	    T(test_imported_open_holds_share_state),
	    T(test_holder_death_releases),
	    T(test_unlink),
	    T(test_unlink_two_processes),
	    T(test_rename),
	    T(test_trunc_not_on_violation),
	    T(test_violation_leaks_nothing),
	    T(test_fd),
	    T(test_query),
	    T(test_plain_opens_invisible),
	    T(test_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
