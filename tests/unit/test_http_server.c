/*
 * test_http_server.c — the HTTP server over real sockets on 127.0.0.1, its
 * libevent loop in a thread, plain blocking sockets as clients.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "http/http.h"

/* ---- fixture: a server on an ephemeral port, its loop in a thread ---- */

typedef struct fixture {
	struct event_base *base;
	evutil_socket_t lfd;
	int port;
	http_server *srv;
	pthread_t thread;
	http_limits lim;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int drained;         /* the drain callback ran */
	int deferred_closed; /* http_request_is_closed() seen by a deferred response */
	int deferred_done;
} fixture;

static void *loop_main(void *arg)
{
	fixture *f = arg;
	event_base_loop(f->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Runs fn(arg) on the loop thread and waits for it. */
typedef struct loop_call {
	void (*fn)(fixture *, void *);
	fixture *f;
	void *arg;
	int done;
} loop_call;

static void loop_call_cb(evutil_socket_t fd, short what, void *arg)
{
	loop_call *lc = arg;
	(void)fd;
	(void)what;
	lc->fn(lc->f, lc->arg);
	pthread_mutex_lock(&lc->f->mu);
	lc->done = 1;
	pthread_cond_broadcast(&lc->f->cv);
	pthread_mutex_unlock(&lc->f->mu);
}

static void on_loop(fixture *f, void (*fn)(fixture *, void *), void *arg)
{
	loop_call lc = {fn, f, arg, 0};
	struct timeval zero = {0, 0};
	assert_int_equal(event_base_once(f->base, -1, EV_TIMEOUT, loop_call_cb, &lc, &zero), 0);
	pthread_mutex_lock(&f->mu);
	while (!lc.done)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

/* Deferred responses: from a timer, as a decision-pool hand-back would. */
typedef struct deferred {
	fixture *f;
	http_request *req;
	struct event *ev;
} deferred;

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	deferred *d = arg;
	(void)fd;
	(void)what;
	int closed = http_request_is_closed(d->req);
	static const http_header h[] = {{"Content-Type", 12, "text/plain", 10}};
	http_respond(d->req, 200, h, 1, "deferred", 8);
	event_free(d->ev);
	pthread_mutex_lock(&d->f->mu);
	d->f->deferred_closed = closed;
	d->f->deferred_done++;
	pthread_cond_broadcast(&d->f->cv);
	pthread_mutex_unlock(&d->f->mu);
	free(d);
}

static void drained_cb(void *ud)
{
	fixture *f = ud;
	pthread_mutex_lock(&f->mu);
	f->drained = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

#define BIG_LEN (4u * 1024 * 1024)

static unsigned char big[BIG_LEN];

static const unsigned char *big_body(void)
{
	if (big[1] == 0) {
		for (size_t i = 0; i < BIG_LEN; i++)
			big[i] = (unsigned char)(i * 7 % 251);
	}
	return big;
}

static void handler(http_request *req, void *ud)
{
	fixture *f = ud;
	static const http_header text[] = {{"Content-Type", 12, "text/plain", 10}};
	if (strcmp(req->path, "/hello") == 0) {
		http_respond(req, 200, text, 1, "hello", 5);
	} else if (strcmp(req->path, "/echo") == 0) {
		http_respond(req, 200, text, 1, req->body, req->body_len);
	} else if (strcmp(req->path, "/query") == 0) {
		char out[256];
		size_t n = 0;
		const http_header *h = http_request_header(req, "x-test", &n);
		int len = snprintf(out, sizeof(out), "%s|%s|%s|%zu|%s", req->method, req->target,
		                   req->query, n, h ? h->value : "-");
		http_respond(req, 200, text, 1, out, (size_t)len);
	} else if (strcmp(req->path, "/defer") == 0) {
		deferred *d = calloc(1, sizeof(*d));
		assert_non_null(d);
		d->f = f;
		d->req = req;
		d->ev = evtimer_new(http_request_loop(req), deferred_cb, d);
		struct timeval tv = {0, 150 * 1000};
		evtimer_add(d->ev, &tv);
	} else if (strcmp(req->path, "/badheaders") == 0) {
		static const http_header bad[] = {
		    {"X-Ok", 4, "yes", 3},
		    {"X-Split", 7, "a\r\nInjected: 1", 15},
		    {"Content-Length", 14, "99", 2},
		    {"Bad Name", 8, "v", 1},
		};
		http_respond(req, 200, bad, 4, "ok", 2);
	} else if (strcmp(req->path, "/big") == 0) {
		http_respond(req, 200, text, 1, big_body(), BIG_LEN);
	} else if (strcmp(req->path, "/nocontent") == 0) {
		http_respond(req, 204, NULL, 0, "ignored", 7);
	} else {
		http_respond(req, 404, NULL, 0, NULL, 0);
	}
}

static void fixture_start(fixture *f, const http_limits *lim)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 128), 0);
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	f->lim = *lim;
	f->srv = http_server_new(f->base, f->lfd, &f->lim, handler, f);
	assert_non_null(f->srv);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
}

static void stop_on_loop(fixture *f, void *arg)
{
	(void)arg;
	if (f->srv)
		http_server_free(f->srv);
	f->srv = NULL;
	event_base_loopbreak(f->base);
}

static void fixture_stop(fixture *f)
{
	on_loop(f, stop_on_loop, NULL);
	pthread_join(f->thread, NULL);
	event_base_free(f->base);
	close(f->lfd);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
}

static http_limits small_limits(void)
{
	http_limits l;
	http_limits_default(&l);
	l.max_target_bytes = 128;
	l.max_header_bytes = 1024;
	l.max_headers = 8;
	l.max_body_bytes = 64;
	l.read_timeout_ms = 200;
	l.idle_timeout_ms = 400;
	l.write_timeout_ms = 2000;
	l.max_connections = 16;
	return l;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	http_limits l = small_limits();
	fixture_start(f, &l);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	fixture_stop(f);
	free(f);
	return 0;
}

/* ---- client side ---- */

static int client(const fixture *f)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	struct timeval tv = {5, 0}; /* generous: a hang fails, never a slow machine */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

typedef struct response {
	int status;
	char head[4096];
	char body[8192];
	size_t body_len;
	int close; /* Connection: close */
	int has_cl;
} response;

/* Per-connection read-ahead, so pipelined responses split correctly. */
typedef struct rbuf {
	char data[65536];
	size_t len;
} rbuf;

static int rbuf_fill(int fd, rbuf *rb)
{
	if (rb->len == sizeof(rb->data))
		return -1;
	ssize_t r = recv(fd, rb->data + rb->len, sizeof(rb->data) - rb->len, 0);
	if (r <= 0)
		return -1;
	rb->len += (size_t)r;
	return 0;
}

static void rbuf_drop(rbuf *rb, size_t n)
{
	memmove(rb->data, rb->data + n, rb->len - n);
	rb->len -= n;
}

/* Reads one response. Returns 0, or -1 on EOF/timeout before a full one. */
static int read_response_rb(int fd, rbuf *rb, response *res, int head_only)
{
	memset(res, 0, sizeof(*res));
	char *end;
	for (;;) {
		end = memmem(rb->data, rb->len, "\r\n\r\n", 4);
		if (end != NULL)
			break;
		if (rbuf_fill(fd, rb) < 0)
			return -1;
	}
	size_t hl = (size_t)(end - rb->data) + 4;
	assert_true(hl < sizeof(res->head));
	memcpy(res->head, rb->data, hl);
	res->head[hl] = '\0';
	rbuf_drop(rb, hl);
	assert_int_equal(strncmp(res->head, "HTTP/1.1 ", 9), 0);
	res->status = atoi(res->head + 9);
	res->close = strstr(res->head, "\r\nConnection: close\r\n") != NULL;
	const char *cl = strstr(res->head, "\r\nContent-Length: ");
	size_t n = 0;
	if (cl != NULL) {
		res->has_cl = 1;
		n = strtoul(cl + 18, NULL, 10);
	}
	if (head_only)
		n = 0;
	assert_true(n < sizeof(res->body));
	while (rb->len < n) {
		if (rbuf_fill(fd, rb) < 0)
			return -1;
	}
	memcpy(res->body, rb->data, n);
	res->body[n] = '\0';
	res->body_len = n;
	rbuf_drop(rb, n);
	return 0;
}

static int read_response(int fd, response *res)
{
	rbuf *rb = calloc(1, sizeof(*rb));
	int r = read_response_rb(fd, rb, res, 0);
	assert_int_equal(rb->len, 0); /* nothing unexpected after it */
	free(rb);
	return r;
}

/* 1 when the server closed the connection (EOF or reset) within 5 s. */
static int closed_by_server(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, 0);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void assert_error_close(int fd, int status)
{
	response res;
	assert_int_equal(read_response(fd, &res), 0);
	assert_int_equal(res.status, status);
	assert_true(res.close);
	assert_non_null(strstr(res.head, "Content-Type: application/json"));
	assert_non_null(strstr(res.body, "\"error\":\"invalid_request\""));
	assert_non_null(strstr(res.body, "\"error_description\":\""));
	assert_true(closed_by_server(fd));
}

/* ---- tests ---- */

static void test_keep_alive(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	response res;
	for (int i = 0; i < 3; i++) {
		send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
		assert_int_equal(read_response(fd, &res), 0);
		assert_int_equal(res.status, 200);
		assert_string_equal(res.body, "hello");
		assert_false(res.close);
		assert_non_null(strstr(res.head, "Connection: keep-alive"));
		assert_non_null(strstr(res.head, "Content-Type: text/plain"));
	}
	/* HTTP/1.0 with keep-alive too, then Connection: close ends it. */
	send_str(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	assert_false(res.close);
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	assert_int_equal(res.status, 200);
	assert_true(res.close);
	assert_true(closed_by_server(fd));
	close(fd);
}

static void test_pipelined(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	rbuf *rb = calloc(1, sizeof(*rb));
	response res;
	/* Three requests in one write, one of them deferred: answered in order. */
	send_str(fd, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n"
	             "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: x\r\n\r\n"
	             "GET /query?a=b&c HTTP/1.1\r\nHost: t\r\nX-Test: one\r\nx-test: two\r\n\r\n");
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_string_equal(res.body, "deferred");
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_string_equal(res.body, "abcde");
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_string_equal(res.body, "GET|/query?a=b&c|a=b&c|2|one");
	/* HEAD: Content-Length of the body, no body. */
	send_str(
	    fd,
	    "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response_rb(fd, rb, &res, 1), 0);
	assert_int_equal(res.status, 200);
	assert_non_null(strstr(res.head, "Content-Length: 5\r\n"));
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_int_equal(res.status, 204);
	assert_false(res.has_cl);
	assert_int_equal(rb->len, 0);
	free(rb);
	close(fd);
}

static void test_deep_pipeline(void **state)
{
	/* More requests in one write than one callback answers. */
	fixture *f = *state;
	int fd = client(f);
	rbuf *rb = calloc(1, sizeof(*rb));
	response res;
	char *reqs = calloc(1, 100 * 64);
	for (int i = 0; i < 100; i++)
		strcat(reqs, i % 2
		                 ? "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
		                 : "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
	send_str(fd, reqs);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
		assert_int_equal(res.status, 200);
		assert_string_equal(res.body, i % 2 ? "hello" : "hi");
	}
	assert_int_equal(rb->len, 0);
	free(reqs);
	free(rb);
	close(fd);
}

static void test_header_too_large(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	char req[2048];
	snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %01200d\r\n\r\n", 0);
	send_str(fd, req);
	assert_error_close(fd, 431);
	close(fd);
}

static void test_too_many_headers(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	char req[1024] = "GET /hello HTTP/1.1\r\nHost: t\r\n";
	for (int i = 0; i < 10; i++)
		strcat(req, "X-A: b\r\n");
	strcat(req, "\r\n");
	send_str(fd, req);
	assert_error_close(fd, 431);
	close(fd);
}

static void test_target_too_long(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	char req[1024];
	snprintf(req, sizeof(req), "GET /%0200d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
	send_str(fd, req);
	assert_error_close(fd, 414);
	close(fd);
}

static void test_body_too_large(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n");
	assert_error_close(fd, 413);
	close(fd);

	/* Chunked: decoded size counts; the client keeps sending after the
	 * 413: the response still arrives intact (lingering close). */
	fd = client(f);
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"
	             "1\r\nx\r\n");
	send_str(fd, "more bytes the server will not read");
	assert_error_close(fd, 413);
	close(fd);

	/* Exactly at the limit is fine. */
	fd = client(f);
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n"
	             "0123456789012345678901234567890123456789012345678901234567890123");
	response res;
	assert_int_equal(read_response(fd, &res), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.body_len, 64);
	close(fd);
}

static void test_bad_framing(void **state)
{
	fixture *f = *state;
	static const struct {
		const char *req;
		int status;
	} cases[] = {
	    {"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: "
	     "chunked\r\n\r\n",
	     400},
	    {"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400},
	    {"GET /hello HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400},
	    {"GET http://x/hello HTTP/1.1\r\nHost: t\r\n\r\n", 400},
	    {"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505},
	    {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	    {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = client(f);
		send_str(fd, cases[i].req);
		assert_error_close(fd, cases[i].status);
		close(fd);
	}
	/* A good request, then a bad one on the same connection. */
	int fd = client(f);
	rbuf *rb = calloc(1, sizeof(*rb));
	response res;
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nBad\r\n\r\n");
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_int_equal(res.status, 400);
	assert_true(res.close);
	assert_true(closed_by_server(fd));
	free(rb);
	close(fd);
}

static void test_slow_client(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	send_str(fd, "GET /hello HTTP/1.1\r\nHo");
	usleep(100 * 1000);
	send_str(fd, "st: t\r\n"); /* trickling does not extend the deadline */
	assert_error_close(fd, 408);
	close(fd);

	/* A slow body too. */
	fd = client(f);
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
	assert_error_close(fd, 408);
	close(fd);
}

static void test_idle_timeout(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	response res;
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	/* Idle 400 ms: closed silently (no bytes, EOF). */
	char c;
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
	/* A connection that never sends anything either. */
	fd = client(f);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
}

static void wait_deferred(fixture *f, int n)
{
	pthread_mutex_lock(&f->mu);
	while (f->deferred_done < n)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

static void test_deferred(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	response res;
	send_str(fd, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "deferred");
	assert_false(res.close);
	wait_deferred(f, 1);
	assert_int_equal(f->deferred_closed, 0);
	/* The connection still works. */
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	assert_string_equal(res.body, "hello");
	close(fd);

	/* The client leaves before the deferred response: the request stays
	 * valid, is_closed() says so, and responding merely releases it. */
	fd = client(f);
	send_str(fd, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(20 * 1000);
	close(fd);
	wait_deferred(f, 2);
	assert_int_equal(f->deferred_closed, 1);
}

static void test_response_headers_sanitised(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	response res;
	send_str(fd, "GET /badheaders HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "ok");
	assert_non_null(strstr(res.head, "X-Ok: yes\r\n"));
	assert_null(strstr(res.head, "Injected"));
	assert_null(strstr(res.head, "99"));
	assert_null(strstr(res.head, "Bad Name"));
	send_str(fd, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(fd, &res), 0);
	assert_int_equal(res.status, 404);
	assert_non_null(strstr(res.head, "HTTP/1.1 404 Not Found\r\n"));
	close(fd);
}

static void test_expect_continue(void **state)
{
	fixture *f = *state;
	int fd = client(f);
	rbuf *rb = calloc(1, sizeof(*rb));
	response res;
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
	             "Content-Length: 4\r\n\r\n");
	assert_int_equal(read_response_rb(fd, rb, &res, 1), 0);
	assert_int_equal(res.status, 100);
	send_str(fd, "body");
	assert_int_equal(read_response_rb(fd, rb, &res, 0), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "body");
	free(rb);
	close(fd);
}

static void test_big_response(void **state)
{
	/* More than the socket buffers take: the rest is queued and flushed
	 * on EV_WRITE while the client does not read yet. */
	fixture *f = *state;
	(void)big_body(); /* fill it before the loop thread races for it */
	int fd = client(f);
	send_str(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100 * 1000);
	size_t cap = BIG_LEN + 8192, len = 0;
	unsigned char *got = malloc(cap);
	const char *hello = "Content-Length: 5\r\nConnection: keep-alive\r\nContent-Type: "
	                    "text/plain\r\n\r\nhello";
	while (len < cap) {
		ssize_t r = recv(fd, got + len, cap - len, 0);
		assert_true(r > 0);
		len += (size_t)r;
		if (len > BIG_LEN && memmem(got + BIG_LEN, len - BIG_LEN, hello, strlen(hello)))
			break;
	}
	unsigned char *body = memmem(got, 512, "\r\n\r\n", 4);
	assert_non_null(body);
	body += 4;
	assert_non_null(memmem(got, (size_t)(body - got), "Content-Length: 4194304\r\n", 25));
	assert_true(len >= (size_t)(body - got) + BIG_LEN);
	assert_memory_equal(body, big, BIG_LEN);
	free(got);
	close(fd);
}

static void count_on_loop(fixture *f, void *arg)
{
	*(size_t *)arg = http_server_connection_count(f->srv);
}

static void drain_on_loop(fixture *f, void *arg)
{
	(void)arg;
	http_server_drain(f->srv, drained_cb, f);
}

static void test_drain(void **state)
{
	fixture *f = *state;
	int idle = client(f);
	int busy = client(f);
	response res;
	send_str(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(idle, &res), 0);
	send_str(busy, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
	/* Wait until both are known to the server. */
	size_t n = 0;
	for (int i = 0; i < 500 && n < 2; i++) {
		on_loop(f, count_on_loop, &n);
		if (n < 2)
			usleep(10 * 1000);
	}
	assert_int_equal(n, 2);
	usleep(20 * 1000); /* let the deferred request reach its handler */
	on_loop(f, drain_on_loop, NULL);
	/* The idle connection is closed at once, the busy one gets its answer
	 * with Connection: close, and only then does the drain complete. */
	assert_true(closed_by_server(idle));
	assert_int_equal(read_response(busy, &res), 0);
	assert_string_equal(res.body, "deferred");
	assert_true(res.close);
	assert_true(closed_by_server(busy));
	pthread_mutex_lock(&f->mu);
	while (!f->drained)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	on_loop(f, count_on_loop, &n);
	assert_int_equal(n, 0);
	/* No longer accepting: the connection is refused or never served. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
		struct timeval tv = {0, 300 * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
		char c;
		assert_true(recv(fd, &c, 1, 0) < 0); /* timed out: nobody answers */
	}
	close(fd);
	close(idle);
	close(busy);
}

static void test_max_connections(void **state)
{
	(void)state;
	fixture *f = calloc(1, sizeof(*f));
	http_limits l = small_limits();
	l.max_connections = 2;
	l.idle_timeout_ms = 5000;
	fixture_start(f, &l);
	int a = client(f), b = client(f);
	response res;
	send_str(a, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(a, &res), 0);
	send_str(b, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(b, &res), 0);
	int c = client(f);
	assert_true(closed_by_server(c));
	close(c);
	close(a);
	/* A slot frees up once the server notices a left. */
	int ok = 0;
	for (int i = 0; i < 100 && !ok; i++) {
		size_t n;
		on_loop(f, count_on_loop, &n);
		if (n < 2)
			ok = 1;
		else
			usleep(10 * 1000);
	}
	assert_true(ok);
	c = client(f);
	send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(read_response(c, &res), 0);
	assert_int_equal(res.status, 200);
	close(c);
	close(b);
	fixture_stop(f);
	free(f);
}

static void test_write_timeout(void **state)
{
	(void)state;
	/* A client that never reads its response is dropped after
	 * write_timeout. */
	fixture *f = calloc(1, sizeof(*f));
	http_limits l = small_limits();
	l.write_timeout_ms = 300;
	fixture_start(f, &l);
	(void)big_body();
	int fd = client(f);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	send_str(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	size_t n = 1;
	for (int i = 0; i < 500 && n > 0; i++) {
		usleep(10 * 1000);
		on_loop(f, count_on_loop, &n);
	}
	assert_int_equal(n, 0);
	close(fd);
	fixture_stop(f);
	free(f);
}

static void test_free_with_pending(void **state)
{
	(void)state;
	/* Freeing the server while a handler owns a request: the deferred
	 * response later only releases it (runs clean under ASan). */
	fixture *f = calloc(1, sizeof(*f));
	http_limits l = small_limits();
	fixture_start(f, &l);
	int fd = client(f);
	send_str(fd, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
	size_t n = 0;
	for (int i = 0; i < 500 && n < 1; i++) {
		on_loop(f, count_on_loop, &n);
		if (n < 1)
			usleep(10 * 1000);
	}
	usleep(30 * 1000);
	on_loop(f, stop_on_loop, NULL); /* frees the server, breaks the loop */
	pthread_join(f->thread, NULL);
	/* Run the loop again so the deferred timer fires. */
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
	wait_deferred(f, 1);
	assert_int_equal(f->deferred_closed, 1);
	assert_true(closed_by_server(fd));
	close(fd);
	fixture_stop(f);
	free(f);
}

int main(void)
{
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_target_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_framing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_response_headers_sanitised, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_response, setup, teardown),
	    cmocka_unit_test(test_max_connections),
	    cmocka_unit_test(test_write_timeout),
	    cmocka_unit_test(test_free_with_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
