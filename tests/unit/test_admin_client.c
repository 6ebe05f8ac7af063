/* Unit tests of caracalctl's HTTP/1.1 client (core/ctl/client.c): the
 * response parser, and real calls against a tiny in-test socket server that
 * answers with canned bytes (Content-Length, close-delimited, interim 100,
 * oversized, malformed, silent). */
#include "ctl/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse(const char *text, int eof, ctl_response *r, char *why)
{
	return ctl_http_parse_response(text, strlen(text), eof, 1024, r, why, 256);
}

static void test_parse_response(void **state)
{
	(void)state;
	ctl_response r;
	char why[256];
	const char *full = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
	                   "Content-Length: 8\r\n\r\n{\"a\":12}";
	assert_int_equal(parse(full, 0, &r, why), 1);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(r.body_len, 8);
	assert_string_equal(r.body, "{\"a\":12}");
	ctl_response_free(&r);

	/* Every prefix of it needs more (or fails on eof). */
	for (size_t n = 0; n < strlen(full); n++) {
		assert_int_equal(ctl_http_parse_response(full, n, 0, 1024, &r, why, 256), 0);
		assert_int_equal(ctl_http_parse_response(full, n, 1, 1024, &r, why, 256), -1);
	}
	/* Close-delimited. */
	const char *closed = "HTTP/1.0 200 OK\r\n\r\nhello";
	assert_int_equal(parse(closed, 0, &r, why), 0);
	assert_int_equal(parse(closed, 1, &r, why), 1);
	assert_string_equal(r.body, "hello");
	ctl_response_free(&r);
	/* Interim response skipped. */
	assert_int_equal(
	    parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 0, &r, why), 1);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body_len, 0);
	ctl_response_free(&r);
	/* Header whitespace, case. */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\ncontent-length:   2  \r\n\r\nok", 0, &r, why),
	                 1);
	assert_string_equal(r.body, "ok");
	ctl_response_free(&r);

	static const char *const bad[] = {
	    "HTTP/2 200 OK\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 600 Nope\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", /* over max */
	    "garbage\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse(bad[i], 0, &r, why) != -1)
			fail_msg("accepted %s", bad[i]);
	}
	/* Same Content-Length twice is fine. */
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 0, &r, why),
	    1);
	ctl_response_free(&r);
	/* Close-delimited beyond max. */
	char big[2100];
	int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\n\r\n");
	memset(big + n, 'x', 1500);
	big[n + 1500] = '\0';
	assert_int_equal(parse(big, 1, &r, why), -1);
	/* Endless header section. */
	char *head = malloc(CTL_MAX_RESPONSE_HEAD + 100);
	memset(head, 'a', CTL_MAX_RESPONSE_HEAD + 99);
	head[CTL_MAX_RESPONSE_HEAD + 99] = '\0';
	assert_int_equal(parse(head, 0, &r, why), -1);
	free(head);
}

static void test_endpoint(void **state)
{
	(void)state;
	ctl_endpoint ep;
	char why[256];
	assert_int_equal(ctl_endpoint_parse("127.0.0.1:8090", &ep, why, sizeof why), 0);
	assert_string_equal(ep.host, "127.0.0.1:8090");
	assert_int_equal(ctl_endpoint_parse("0.0.0.0:8090", &ep, why, sizeof why), 0);
	assert_string_equal(ep.host, "127.0.0.1:8090");
	assert_int_equal(ctl_endpoint_parse("[::]:8090", &ep, why, sizeof why), 0);
	assert_string_equal(ep.host, "[::1]:8090");
	assert_int_equal(ctl_endpoint_parse("127.0.0.1:0", &ep, why, sizeof why), -1);
	assert_non_null(strstr(why, "port 0"));
	assert_int_equal(ctl_endpoint_parse("localhost:8090", &ep, why, sizeof why), -1);
}

/* ---- a one-shot server ------------------------------------------------------- */

struct server {
	int lfd;
	int port;
	const char *reply; /* sent after the request head; NULL: say nothing */
	size_t reply_len;
	int hold_ms; /* keep the connection open this long before closing */
	char request[8192];
	size_t request_len;
	pthread_t tid;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	/* Read until the head and Content-Length bytes of body are in. */
	for (;;) {
		ssize_t r = recv(fd, s->request + s->request_len,
		                 sizeof s->request - 1 - s->request_len, 0);
		if (r <= 0)
			break;
		s->request_len += (size_t)r;
		s->request[s->request_len] = '\0';
		char *end = strstr(s->request, "\r\n\r\n");
		if (end != NULL) {
			const char *cl = strstr(s->request, "Content-Length: ");
			size_t want = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
			if (s->request_len >= (size_t)(end + 4 - s->request) + want)
				break;
		}
	}
	if (s->reply != NULL) {
		/* In pieces, to exercise partial reads. */
		for (size_t off = 0; off < s->reply_len; off += 7) {
			size_t n = s->reply_len - off < 7 ? s->reply_len - off : 7;
			if (send(fd, s->reply + off, n, MSG_NOSIGNAL) < 0)
				break;
			usleep(200);
		}
	}
	if (s->hold_ms > 0)
		usleep((useconds_t)s->hold_ms * 1000);
	close(fd);
	return NULL;
}

static void start(struct server *s, const char *reply, size_t reply_len, int hold_ms)
{
	memset(s, 0, sizeof *s);
	s->reply = reply;
	s->reply_len = reply_len;
	s->hold_ms = hold_ms;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	socklen_t l = sizeof a;
	getsockname(s->lfd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->tid, NULL, serve, s), 0);
}

static void stop(struct server *s)
{
	pthread_join(s->tid, NULL);
	close(s->lfd);
}

static void endpoint_of(const struct server *s, ctl_endpoint *ep)
{
	char text[64], why[256];
	snprintf(text, sizeof text, "127.0.0.1:%d", s->port);
	assert_int_equal(ctl_endpoint_parse(text, ep, why, sizeof why), 0);
}

static void test_call_content_length(void **state)
{
	(void)state;
	static const char reply[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
	                            "Content-Length: 11\r\n\r\n{\"id\":\"z\"}\n";
	struct server s;
	start(&s, reply, sizeof reply - 1, 1000); /* held open: framing by length */
	ctl_endpoint ep;
	endpoint_of(&s, &ep);
	ctl_http_req rq = {.method = "POST",
	                   .path = "/admin/zones",
	                   .token = "tok-123",
	                   .token_len = 7,
	                   .content_type = "application/json",
	                   .body = "{\"name\":\"z\"}",
	                   .body_len = 12};
	ctl_response r;
	char why[256];
	assert_int_equal(ctl_http_call(&ep, &rq, 5000, 1 << 20, &r, why, sizeof why), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"id\":\"z\"}\n");
	ctl_response_free(&r);
	stop(&s);
	assert_non_null(strstr(s.request, "POST /admin/zones HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nAuthorization: Bearer tok-123\r\n"));
	assert_non_null(strstr(s.request, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(s.request, "\r\nContent-Length: 12\r\n"));
	assert_non_null(strstr(s.request, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(s.request, "\r\n\r\n{\"name\":\"z\"}"));
}

static void test_call_close_delimited_and_get(void **state)
{
	(void)state;
	static const char reply[] = "HTTP/1.1 200 OK\r\n\r\n{\"zones\":[]}";
	struct server s;
	start(&s, reply, sizeof reply - 1, 0);
	ctl_endpoint ep;
	endpoint_of(&s, &ep);
	ctl_http_req rq = {.method = "GET", .path = "/admin/zones"};
	ctl_response r;
	char why[256];
	assert_int_equal(ctl_http_call(&ep, &rq, 5000, 1 << 20, &r, why, sizeof why), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"zones\":[]}");
	ctl_response_free(&r);
	stop(&s);
	assert_null(strstr(s.request, "Authorization"));
	assert_non_null(strstr(s.request, "Content-Length: 0\r\n"));
}

static void test_call_failures(void **state)
{
	(void)state;
	ctl_response r;
	char why[256];
	ctl_http_req rq = {.method = "GET", .path = "/admin/zones"};
	ctl_endpoint ep;

	/* Silent server: the deadline holds. */
	struct server s;
	start(&s, NULL, 0, 1500);
	endpoint_of(&s, &ep);
	assert_int_equal(ctl_http_call(&ep, &rq, 300, 1 << 20, &r, why, sizeof why), -1);
	assert_non_null(strstr(why, "timed out"));
	stop(&s);

	/* Too large. */
	char *big = malloc(70000);
	int n = snprintf(big, 70000, "HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n");
	memset(big + n, 'x', 60000);
	start(&s, big, (size_t)n + 60000, 0);
	endpoint_of(&s, &ep);
	assert_int_equal(ctl_http_call(&ep, &rq, 5000, 1000, &r, why, sizeof why), -1);
	assert_non_null(strstr(why, "larger"));
	stop(&s);
	free(big);

	/* Truncated body. */
	static const char trunc[] = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort";
	start(&s, trunc, sizeof trunc - 1, 0);
	endpoint_of(&s, &ep);
	assert_int_equal(ctl_http_call(&ep, &rq, 5000, 1 << 20, &r, why, sizeof why), -1);
	assert_non_null(strstr(why, "closed"));
	stop(&s);

	/* Nobody listening. */
	start(&s, "x", 1, 0);
	endpoint_of(&s, &ep);
	int port = s.port;
	/* Use the server once so the thread ends, then close the port. */
	ctl_http_call(&ep, &rq, 2000, 1 << 20, &r, why, sizeof why);
	ctl_response_free(&r);
	stop(&s);
	char text[64];
	snprintf(text, sizeof text, "127.0.0.1:%d", port);
	assert_int_equal(ctl_endpoint_parse(text, &ep, why, sizeof why), 0);
	assert_int_equal(ctl_http_call(&ep, &rq, 2000, 1 << 20, &r, why, sizeof why), -1);
	assert_non_null(strstr(why, "connect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_response),
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_call_content_length),
	    cmocka_unit_test(test_call_close_delimited_and_get),
	    cmocka_unit_test(test_call_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
