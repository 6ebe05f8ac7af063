/*
 * test_http_parser.c — the incremental HTTP/1.1 request parser.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/parser.h"

#define MAXF 8

static hp_limits test_limits(void)
{
	hp_limits l = {
	    .max_target_bytes = 64,
	    .max_header_bytes = 512,
	    .max_headers = MAXF,
	    .max_body_bytes = 100,
	};
	return l;
}

typedef struct parsed {
	int r;
	int status;
	http_parser p;
	hp_field fields[MAXF];
	char buf[8192];
	size_t len;
} parsed;

/* One-shot parse of s. */
static int parse_all(parsed *x, const char *s, size_t n, const hp_limits *lim)
{
	assert_true(n <= sizeof(x->buf));
	memcpy(x->buf, s, n);
	x->len = n;
	http_parser_init(&x->p, lim, x->fields);
	x->r = http_parser_execute(&x->p, x->buf, n);
	x->status = x->p.status;
	return x->r;
}

/* Byte-at-a-time parse of s with compaction, as a server would. */
static int parse_bytes(parsed *x, const char *s, size_t n, const hp_limits *lim)
{
	http_parser_init(&x->p, lim, x->fields);
	x->len = 0;
	x->r = HP_AGAIN;
	for (size_t i = 0; i < n && x->r == HP_AGAIN; i++) {
		x->buf[x->len++] = s[i];
		x->r = http_parser_execute(&x->p, x->buf, x->len);
		if (x->r == HP_AGAIN)
			x->len = http_parser_compact(&x->p, x->buf, x->len);
	}
	x->status = x->p.status;
	return x->r;
}

static int expect_status_n(const char *s, size_t n, const hp_limits *lim)
{
	parsed *a = calloc(1, sizeof(*a));
	parsed *b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	int ra = parse_all(a, s, n, lim);
	int rb = parse_bytes(b, s, n, lim);
	assert_int_equal(ra, rb);
	int st = ra == HP_ERROR ? a->status : (ra == HP_DONE ? 200 : 0);
	if (ra == HP_ERROR) {
		assert_int_equal(a->status, b->status);
		assert_non_null(a->p.error);
	}
	free(a);
	free(b);
	return st;
}

static int status_of(const char *s)
{
	hp_limits l = test_limits();
	return expect_status_n(s, strlen(s), &l);
}

static void field_is(const parsed *x, size_t i, const char *name, const char *value)
{
	const hp_field *f = &x->p.fields[i];
	assert_true(i < x->p.nfields);
	assert_int_equal(f->name_len, strlen(name));
	assert_memory_equal(x->buf + f->name_off, name, f->name_len);
	assert_int_equal(f->value_len, strlen(value));
	assert_memory_equal(x->buf + f->value_off, value, f->value_len);
}

static void test_get(void **state)
{
	(void)state;
	static const char req[] =
	    "GET /health?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  v  v \t\r\n\r\n";
	hp_limits l = test_limits();
	parsed *both[2];
	for (int mode = 0; mode < 2; mode++) {
		parsed *x = calloc(1, sizeof(*x));
		both[mode] = x;
		int r = mode ? parse_bytes(x, req, sizeof(req) - 1, &l)
		             : parse_all(x, req, sizeof(req) - 1, &l);
		assert_int_equal(r, HP_DONE);
		assert_int_equal(x->p.consumed, sizeof(req) - 1);
		assert_int_equal(x->p.method_len, 3);
		assert_memory_equal(x->buf + x->p.method_off, "GET", 3);
		assert_int_equal(x->p.target_len, strlen("/health?x=1"));
		assert_memory_equal(x->buf + x->p.target_off, "/health?x=1", x->p.target_len);
		assert_int_equal(x->p.version_minor, 1);
		assert_int_equal(x->p.nfields, 2);
		field_is(x, 0, "Host", "a");
		field_is(x, 1, "X-Thing", "v  v");
		assert_int_equal(x->p.keep_alive, 1);
		assert_int_equal(x->p.body_len, 0);
		assert_int_equal(x->p.chunked, 0);
		/* Done is sticky. */
		assert_int_equal(http_parser_execute(&x->p, x->buf, x->len), HP_DONE);
	}
	free(both[0]);
	free(both[1]);
}

static void test_post_content_length(void **state)
{
	(void)state;
	static const char req[] =
	    "POST /oauth/2/token HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n\r\nhello=world";
	hp_limits l = test_limits();
	parsed *x = calloc(1, sizeof(*x));
	for (int mode = 0; mode < 2; mode++) {
		int r = mode ? parse_bytes(x, req, sizeof(req) - 1, &l)
		             : parse_all(x, req, sizeof(req) - 1, &l);
		assert_int_equal(r, HP_DONE);
		assert_int_equal(x->p.body_len, 11);
		assert_memory_equal(x->buf + x->p.body_off, "hello=world", 11);
		assert_int_equal(x->p.consumed, sizeof(req) - 1);
		assert_int_equal(x->p.content_length, 11);
	}
	/* Incomplete body: AGAIN. */
	assert_int_equal(parse_all(x, req, sizeof(req) - 3, &l), HP_AGAIN);
	assert_int_equal(x->p.head_done, 1);
	free(x);
}

static void test_chunked(void **state)
{
	(void)state;
	static const char req[] =
	    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n"
	    "1;name=value;x=\"q\"\r\n \r\n"
	    "A \r\n0123456789\r\n"
	    "0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n";
	hp_limits l = test_limits();
	parsed *x = calloc(1, sizeof(*x));
	for (int mode = 0; mode < 2; mode++) {
		int r = mode ? parse_bytes(x, req, sizeof(req) - 1, &l)
		             : parse_all(x, req, sizeof(req) - 1, &l);
		assert_int_equal(r, HP_DONE);
		assert_int_equal(x->p.chunked, 1);
		assert_int_equal(x->p.body_len, 16);
		assert_memory_equal(x->buf + x->p.body_off, "hello 0123456789", 16);
		if (mode == 0)
			assert_int_equal(x->p.consumed, sizeof(req) - 1);
		else
			assert_int_equal(x->p.consumed, x->len);
	}
	free(x);
}

static void test_pipelined_pair(void **state)
{
	(void)state;
	static const char req[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	                          "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
	                          "GET /c HTTP/1.1\r\n";
	hp_limits l = test_limits();
	parsed *x = calloc(1, sizeof(*x));
	assert_int_equal(parse_all(x, req, sizeof(req) - 1, &l), HP_DONE);
	assert_memory_equal(x->buf + x->p.target_off, "/a", 2);
	size_t used = x->p.consumed;
	size_t rest = x->len - used;
	memmove(x->buf, x->buf + used, rest);
	x->len = rest;
	http_parser_reset(&x->p);
	assert_int_equal(http_parser_execute(&x->p, x->buf, x->len), HP_DONE);
	assert_memory_equal(x->buf + x->p.method_off, "POST", 4);
	assert_memory_equal(x->buf + x->p.target_off, "/b", 2);
	assert_memory_equal(x->buf + x->p.body_off, "ok", 2);
	used = x->p.consumed;
	rest = x->len - used;
	memmove(x->buf, x->buf + used, rest);
	x->len = rest;
	http_parser_reset(&x->p);
	assert_int_equal(http_parser_execute(&x->p, x->buf, x->len), HP_AGAIN);
	free(x);
}

static void test_http10(void **state)
{
	(void)state;
	hp_limits l = test_limits();
	parsed *x = calloc(1, sizeof(*x));
	static const char a[] = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(parse_all(x, a, sizeof(a) - 1, &l), HP_DONE);
	assert_int_equal(x->p.version_minor, 0);
	assert_int_equal(x->p.keep_alive, 0);
	static const char b[] = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
	assert_int_equal(parse_all(x, b, sizeof(b) - 1, &l), HP_DONE);
	assert_int_equal(x->p.keep_alive, 1);
	static const char c[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n";
	assert_int_equal(parse_all(x, c, sizeof(c) - 1, &l), HP_DONE);
	assert_int_equal(x->p.keep_alive, 0);
	free(x);
}

static void test_misc_good(void **state)
{
	(void)state;
	/* Leading empty line, OPTIONS *, Expect, identical duplicate CL. */
	assert_int_equal(status_of("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
	assert_int_equal(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
	assert_int_equal(
	    status_of(
	        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
	    200);
	assert_int_equal(
	    status_of("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Obs: \xc3\xa9\r\n\r\n"), 200);
	assert_int_equal(
	    status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,Chunked\r\n\r\n"
	              "0\r\n\r\n"),
	    200);
	hp_limits l = test_limits();
	parsed *x = calloc(1, sizeof(*x));
	static const char e[] =
	    "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
	assert_int_equal(parse_all(x, e, sizeof(e) - 1, &l), HP_AGAIN);
	assert_int_equal(x->p.head_done, 1);
	assert_int_equal(x->p.expect_continue, 1);
	/* Exactly at the limits: 64-byte target, 100-byte body. */
	char big[1024];
	snprintf(big, sizeof(big), "GET /%063d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(status_of(big), 200);
	snprintf(big, sizeof(big),
	         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n%0100d", 0);
	assert_int_equal(status_of(big), 200);
	free(x);
}

static void test_bad_framing(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",           /* two spaces */
	    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",           /* trailing space */
	    "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",            /* method not a token */
	    " GET / HTTP/1.1\r\nHost: a\r\n\r\n",           /* leading space */
	    "GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n",    /* absolute-form */
	    "CONNECT x:443 HTTP/1.1\r\nHost: a\r\n\r\n",    /* authority-form */
	    "GET * HTTP/1.1\r\nHost: a\r\n\r\n",            /* asterisk not OPTIONS */
	    "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",        /* CTL in target */
	    "GET / HTTP/1.1\nHost: a\r\n\r\n",              /* bare LF */
	    "GET / HTTP/1.1\r\nHost: a\n\r\n",              /* bare LF */
	    "GET / HTTP/1.1\r\nHost: a\r\n\n",              /* bare LF */
	    "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",          /* bare LF */
	    "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",      /* bare CR */
	    "GET / HTTP/1.1\r\nHost: a\r\n X: b\r\n\r\n",   /* obs-fold */
	    "GET / HTTP/1.1\r\nHost: a\r\n\tX: b\r\n\r\n",  /* obs-fold */
	    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",           /* space before colon */
	    "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",          /* tab before colon */
	    "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",           /* bad tchar */
	    "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",     /* empty name */
	    "GET / HTTP/1.1\r\nHost a\r\n\r\n",             /* no colon */
	    "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",        /* CTL in value */
	    "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",        /* DEL in value */
	    "GET / HTTP/1.1\r\n\r\n",                       /* no Host */
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
	    "GET / HTTP/1.x\r\nHost: a\r\n\r\n",            /* version */
	    "GET / HTTP/11\r\nHost: a\r\n\r\n",             /* version */
	    "GET / http/1.1\r\nHost: a\r\n\r\n",            /* version */
	    "GET /\r\nHost: a\r\n\r\n",                     /* HTTP/0.9 */
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n",   /* size */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",    /* empty */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",  /* size */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\n", /* junk */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\n", /* ext CTL
	                                                                                   */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nx",    /* bare LF */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy", /* no CRLF */
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\r",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: "
	    "x\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = status_of(bad[i]);
		if (st != 400)
			print_error("case %zu: %d for %s\n", i, st, bad[i]);
		assert_int_equal(st, 400);
	}
	/* NUL in a header value. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	hp_limits l = test_limits();
	assert_int_equal(expect_status_n(nul, sizeof(nul) - 1, &l), 400);
	/* Over-long chunk-size line (extensions). */
	char *big = malloc(HP_CHUNK_LINE_MAX + 200);
	int n = snprintf(big, 200,
	                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	memset(big + n, 'e', HP_CHUNK_LINE_MAX);
	assert_int_equal(expect_status_n(big, (size_t)n + HP_CHUNK_LINE_MAX, &l), 400);
	free(big);
}

static void test_limits_statuses(void **state)
{
	(void)state;
	char buf[4096];
	/* 414: target one byte over, complete or not. */
	snprintf(buf, sizeof(buf), "GET /%064d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(status_of(buf), 414);
	snprintf(buf, sizeof(buf), "GET /%0300d", 0);
	assert_int_equal(status_of(buf), 414);
	/* 431: header section too large, complete or not. */
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %0500d\r\n\r\n", 0);
	assert_int_equal(status_of(buf), 431);
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %0600d", 0);
	assert_int_equal(status_of(buf), 431);
	/* 431: too many fields (8 allowed). */
	strcpy(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 7; i++)
		strcat(buf, "X: y\r\n");
	strcat(buf, "\r\n");
	assert_int_equal(status_of(buf), 200);
	strcpy(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 8; i++)
		strcat(buf, "X: y\r\n");
	strcat(buf, "\r\n");
	assert_int_equal(status_of(buf), 431);
	/* 431: too many / too large trailers. */
	strcpy(buf, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < 9; i++)
		strcat(buf, "X: y\r\n");
	strcat(buf, "\r\n");
	assert_int_equal(status_of(buf), 431);
	snprintf(buf, sizeof(buf),
	         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "
	         "%0600d\r\n\r\n",
	         0);
	assert_int_equal(status_of(buf), 431);
	/* 431: endless empty lines before the request line. */
	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < 300; i++)
		strcat(buf, "\r\n");
	assert_int_equal(status_of(buf), 431);
	/* 413: Content-Length over the limit, decoded chunked body over it. */
	assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"),
	                 413);
	assert_int_equal(
	    status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n"),
	    413);
	snprintf(buf, sizeof(buf),
	         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n%050d\r\n"
	         "33\r\n",
	         0);
	assert_int_equal(status_of(buf), 413);
	assert_int_equal(
	    status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "ffffffffffffffffffffffff\r\n"),
	    413);
	/* 501: unknown transfer coding. */
	assert_int_equal(
	    status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
	    501);
	assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
	                 501);
	assert_int_equal(
	    status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), 501);
	/* 505: versions. */
	assert_int_equal(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	assert_int_equal(status_of("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
	assert_int_equal(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
}

static void test_compact_bounds_buffer(void **state)
{
	(void)state;
	/* 100 one-byte chunks: 600 encoded bytes, but the buffer never holds
	 * more than head + decoded body + a partial line. */
	hp_limits l = test_limits();
	parsed *x = calloc(1, sizeof(*x));
	static const char head[] =
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	char src[2048];
	size_t n = 0;
	memcpy(src, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (int i = 0; i < 100; i++) {
		memcpy(src + n, "1\r\nz\r\n", 6);
		n += 6;
	}
	memcpy(src + n, "0\r\n\r\n", 5);
	n += 5;
	http_parser_init(&x->p, &l, x->fields);
	size_t maxlen = 0;
	int r = HP_AGAIN;
	for (size_t i = 0; i < n && r == HP_AGAIN; i += 7) {
		size_t take = n - i < 7 ? n - i : 7;
		memcpy(x->buf + x->len, src + i, take);
		x->len += take;
		if (x->len > maxlen)
			maxlen = x->len;
		r = http_parser_execute(&x->p, x->buf, x->len);
		if (r == HP_AGAIN)
			x->len = http_parser_compact(&x->p, x->buf, x->len);
	}
	assert_int_equal(r, HP_DONE);
	assert_int_equal(x->p.body_len, 100);
	assert_true(maxlen <= sizeof(head) - 1 + 100 + 16);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(x->buf[x->p.body_off + i], 'z');
	free(x);
}

static void test_name_eq(void **state)
{
	(void)state;
	assert_true(hp_name_eq("Content-Length", 14, "content-length"));
	assert_false(hp_name_eq("Content-Lengt", 13, "content-length"));
	assert_false(hp_name_eq("Content-Lengthx", 15, "content-length"));
	assert_true(hp_is_tchar('!'));
	assert_false(hp_is_tchar(':'));
	assert_false(hp_is_tchar(0x80));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_post_content_length),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_pipelined_pair),
	    cmocka_unit_test(test_http10),
	    cmocka_unit_test(test_misc_good),
	    cmocka_unit_test(test_bad_framing),
	    cmocka_unit_test(test_limits_statuses),
	    cmocka_unit_test(test_compact_bounds_buffer),
	    cmocka_unit_test(test_name_eq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
