/* SPDX-License-Identifier: MIT */
/*
 * Guide, step 4: a server whose sockets, child processes and events all
 * complete in one stream of callbacks on the IO pool.
 *
 * It listens on a loopback port, spawns its own client (this program with
 * --client), echoes what the client sends, and stops when the client has
 * exited: the child's end arrives as a completion like any recv.
 */
#include <iolayer.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct server {
	iol_pool *pool;
	int done; /* an event the main thread waits on */
	uint64_t accept_id;
	int child_status;
};

struct conn {
	struct server *srv;
	int fd;
	char buf[256];
};

static void on_recv(void *arg, int res, unsigned flags);

static void on_sent(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	if (res < 0 || iol_pool_recv(c->srv->pool, c->fd, c->buf, sizeof(c->buf), 0, on_recv, c,
				     NULL, NULL) < 0) {
		close(c->fd);
		free(c);
	}
}

static void on_recv(void *arg, int res, unsigned flags)
{
	struct conn *c = arg;

	if (res <= 0 || iol_pool_send(c->srv->pool, c->fd, c->buf, (size_t)res, MSG_WAITALL,
				      on_sent, c, NULL, NULL) < 0) {
		close(c->fd); /* end of stream (or an error) */
		free(c);
	}
}

static void on_accept(void *arg, int res, unsigned flags)
{
	struct server *srv = arg;
	struct conn *c;

	if (res < 0 || !(c = calloc(1, sizeof(*c))))
		return; /* -ECANCELED when we stop */
	c->srv = srv;
	c->fd = res;
	on_sent(c, 0, 0); /* start with a recv */
}

/* The child ended: a completion like the others. */
static void on_child(void *arg, int res, unsigned flags)
{
	struct server *srv = arg;

	srv->child_status = res;
	iol_pool_cancel(srv->pool, srv->accept_id);
	iol_event_set(srv->done);
}

static int client(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char buf[64] = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(fd, "hello, pool", 11) != 11 || read(fd, buf, sizeof(buf) - 1) != 11)
		return 1;
	printf("client got back: %s\n", buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct server srv = {0};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	iol_table *t;
	char port[16];

	if (argc == 3 && !strcmp(argv[1], "--client"))
		return client(atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		return 1;
	if (iol_table_open(NULL, &(struct iol_table_opts){.flags = IOL_TABLE_PRIVATE}, &t) < 0 ||
	    iol_pool_create(&(struct iol_pool_opts){.threads = 1}, &srv.pool) < 0)
		return 1;
	srv.done = iol_event_open(t, NULL, 0, true, false);

	iol_pool_accept(srv.pool, lfd, IOL_ACCEPT_MULTISHOT, on_accept, &srv, NULL, &srv.accept_id);
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	char *cargv[] = {argv[0], "--client", port, NULL};
	int child = iol_process_spawn(t, "/proc/self/exe", cargv, NULL);
	if (child < 0 || iol_pool_wait_handle(srv.pool, child, on_child, &srv, NULL, NULL) < 0)
		return 1;

	iol_wait(srv.done, IOL_INFINITE);
	struct iol_exit_status st;
	iol_process_exit_status(child, &st);
	printf("server (%s backend): client exited with %d\n", iol_pool_backend(srv.pool), st.code);
	iol_pool_destroy(srv.pool);
	iol_table_close(t);
	close(lfd);
	return srv.child_status == 0 && st.exited && st.code == 0 ? 0 : 1;
}
