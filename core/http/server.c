/*
 * server.c — HTTP/1.1 server on libevent. See http.h.
 *
 * Connections use raw events (no bufferevent): one persistent read event,
 * one persistent write event added only while output is pending, and one
 * timer whose meaning depends on the state:
 *
 *   IDLE      waiting for the first byte of a request   idle_timeout (read_timeout on a
 *                                                       new connection): close silently
 *   READING   a request partly received                 read_timeout (from its first
 *                                                       byte, not reset): 408 + close
 *   HANDLING  the handler owns the request              none
 *   WRITING   the response is being flushed             write_timeout (from the start
 *                                                       of the write, not reset): close
 *   LINGER    answered with "Connection: close"; our    HTTP_LINGER_MS: close
 *             side shut down, discarding input until
 *             EOF so that the kernel does not reset the
 *             connection before the client read it
 *
 * The input buffer is contiguous and per connection: the request (line,
 * header fields, decoded body) is parsed in place and handed to the handler
 * without copies; method, target, header names and values are NUL-terminated
 * in place. The buffer is neither moved nor read into beyond its current
 * capacity while the handler owns the request.
 *
 * The response head is built in a per-connection output buffer and sent
 * with the body in one sendmsg() straight from the handler's memory; only
 * what the socket did not take is copied.
 */
#include "config.h"

#include "http/http.h"
#include "http/parser.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HTTP_COMPONENT "http"
#define IBUF_INITIAL 4096
#define IBUF_MIN_READ 1024
#define IBUF_KEEP_MAX (64 * 1024) /* shrink back to IBUF_INITIAL when above, between requests */
#define OBUF_KEEP_MAX (64 * 1024)
#define HTTP_LINGER_MS 2000
#define HTTP_LINGER_MAX_BYTES (1024 * 1024)
#define ACCEPT_BURST 64
#define PIPELINE_BURST 32 /* requests answered per read callback */
#define ACCEPT_PAUSE_MS 100

enum conn_state { C_IDLE, C_READING, C_HANDLING, C_WRITING, C_LINGER };

struct http_conn {
	http_server *srv; /* NULL once the server is freed (orphan awaiting http_respond) */
	struct event_base *base;
	struct http_conn *prev, *next;
	evutil_socket_t fd; /* -1 once closed */
	struct event *rev, *wev, *tev;
	enum conn_state state;
	int rev_added, wev_added;
	int dead;     /* the connection failed or was closed; the object waits for http_respond */
	int peer_eof; /* the client shut down its side */
	int busy;     /* inside conn_process: do not free, set free_pending instead */
	int free_pending;
	int close_after;  /* close once the current response is flushed */
	int linger_after; /* ...after discarding input */
	int continue_sent;

	/* Input: [0, ilen) of ibuf; a request starts at 0. */
	char *ibuf;
	size_t ilen, icap;
	size_t linger_bytes;

	http_parser parser;
	hp_field *fields;
	http_header *headers;
	char *pathbuf;
	size_t pathcap;
	http_request req;

	/* Output: [ooff, olen) of obuf still to send. */
	char *obuf;
	size_t olen, ooff, ocap;
};

struct http_server {
	struct event_base *base;
	evutil_socket_t fd;
	struct event *accept_ev;
	struct event *pause_ev; /* resumes accepting after EMFILE and friends */
	struct event *drain_ev; /* calls the drain callback, deferred */
	int accepting;
	int reserve_fd; /* spare descriptor, given up to accept-and-close on EMFILE */
	http_limits lim;
	hp_limits plim;
	http_handler_fn handler;
	void *ud;
	struct http_conn *conns;
	size_t nconns;
	int draining;
	void (*drain_done)(void *);
	void *drain_ud;
	const struct timeval *idle_tv, *read_tv, *write_tv, *linger_tv;
	struct timeval tv_store[4];
	size_t ibuf_max;
	void (*on_error)(void *ud, int status); /* protocol errors, for metrics */
	void *on_error_ud;
};

static void conn_process(struct http_conn *c);
static void conn_close(struct http_conn *c);
static void conn_on_read(evutil_socket_t fd, short what, void *arg);

void http_limits_default(http_limits *l)
{
	l->max_target_bytes = 2048;
	l->max_header_bytes = 16 * 1024;
	l->max_headers = 64;
	l->max_body_bytes = 1024 * 1024;
	l->read_timeout_ms = 10000;
	l->idle_timeout_ms = 60000;
	l->write_timeout_ms = 10000;
	l->max_connections = 4096;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Content";
	case 428:
		return "Precondition Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

const http_header *http_request_header(const http_request *req, const char *name, size_t *count)
{
	const http_header *first = NULL;
	size_t n = 0, nlen = strlen(name);
	for (size_t i = 0; i < req->header_count; i++) {
		const http_header *h = &req->headers[i];
		if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
			if (first == NULL)
				first = h;
			n++;
		}
	}
	if (count != NULL)
		*count = n;
	return first;
}

struct event_base *http_request_loop(const http_request *req)
{
	return req->conn->base;
}

int http_request_is_closed(const http_request *req)
{
	const struct http_conn *c = req->conn;
	return c->dead || c->peer_eof || c->srv == NULL;
}

/* ---- timers and events ---- */

/* A libevent "common timeout" (O(1) timer queues for the many connections
 * sharing a duration); *fallback holds a plain one if that fails. */
static const struct timeval *common_tv(struct event_base *base, int64_t ms,
                                       struct timeval *fallback)
{
	if (ms <= 0)
		return NULL;
	fallback->tv_sec = (time_t)(ms / 1000);
	fallback->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	const struct timeval *ctv = event_base_init_common_timeout(base, fallback);
	return ctv != NULL ? ctv : fallback;
}

static void timer_set(struct http_conn *c, const struct timeval *tv)
{
	if (tv == NULL)
		event_del(c->tev);
	else
		event_add(c->tev, tv);
}

static void read_on(struct http_conn *c)
{
	if (!c->rev_added && c->fd >= 0) {
		event_add(c->rev, NULL);
		c->rev_added = 1;
	}
}

static void read_off(struct http_conn *c)
{
	if (c->rev_added) {
		event_del(c->rev);
		c->rev_added = 0;
	}
}

static void write_on(struct http_conn *c)
{
	if (!c->wev_added && c->fd >= 0) {
		event_add(c->wev, NULL);
		c->wev_added = 1;
	}
}

static void write_off(struct http_conn *c)
{
	if (c->wev_added) {
		event_del(c->wev);
		c->wev_added = 0;
	}
}

/* ---- connection lifetime ---- */

static void conn_unlink(struct http_conn *c)
{
	http_server *srv = c->srv;
	if (srv == NULL)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	srv->nconns--;
	if (srv->draining && srv->nconns == 0 && srv->drain_ev != NULL)
		event_active(srv->drain_ev, EV_TIMEOUT, 0);
	c->srv = NULL;
}

static void conn_free(struct http_conn *c)
{
	conn_unlink(c);
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->tev)
		event_free(c->tev);
	if (c->fd >= 0)
		evutil_closesocket(c->fd);
	free(c->ibuf);
	free(c->obuf);
	free(c->pathbuf);
	free(c);
}

/* Closes the socket now; frees the object unless the handler still owns
 * its request (then http_respond frees it) or we are inside conn_process
 * (then it frees it on the way out). */
static void conn_close(struct http_conn *c)
{
	if (c->fd >= 0) {
		read_off(c);
		write_off(c);
		event_del(c->tev);
		evutil_closesocket(c->fd);
		c->fd = -1;
	}
	c->dead = 1;
	if (c->state == C_HANDLING)
		return;
	if (c->busy)
		c->free_pending = 1;
	else
		conn_free(c);
}

static void conn_linger(struct http_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0 || c->peer_eof) {
		conn_close(c);
		return;
	}
	c->state = C_LINGER;
	c->linger_bytes = 0;
	write_off(c);
	read_on(c);
	timer_set(c, c->srv ? c->srv->linger_tv : NULL);
}

/* ---- output ---- */

static int obuf_reserve(struct http_conn *c, size_t need)
{
	if (c->ocap >= need)
		return 0;
	size_t cap = c->ocap ? c->ocap : 512;
	while (cap < need)
		cap *= 2;
	char *n = realloc(c->obuf, cap);
	if (n == NULL)
		return -1;
	c->obuf = n;
	c->ocap = cap;
	return 0;
}

static void conn_after_write(struct http_conn *c);

/* Sends [ooff, olen) then body[0, body_len); copies what the socket did not
 * take into obuf. Returns 0 when everything went, 1 when output is pending,
 * -1 on error (the connection is closed). */
static int conn_send(struct http_conn *c, const void *body, size_t body_len)
{
	struct iovec iov[2];
	int n = 0;
	size_t head = c->olen - c->ooff;
	if (head > 0) {
		iov[n].iov_base = c->obuf + c->ooff;
		iov[n].iov_len = head;
		n++;
	}
	if (body_len > 0) {
		iov[n].iov_base = (void *)(uintptr_t)body;
		iov[n].iov_len = body_len;
		n++;
	}
	size_t sent = 0;
	while (n > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		sent += (size_t)w;
		if (sent == head + body_len) {
			c->ooff = c->olen = 0;
			return 0;
		}
		/* Partial: advance the iovecs. */
		size_t adv = (size_t)w;
		while (n > 0 && adv >= iov[0].iov_len) {
			adv -= iov[0].iov_len;
			iov[0] = iov[1];
			n--;
		}
		if (n > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + adv;
			iov[0].iov_len -= adv;
		}
	}
	/* Keep the rest: what is left of the head, then of the body. */
	if (sent < head) {
		c->ooff += sent;
		sent = 0;
	} else {
		sent -= head;
		c->ooff = c->olen; /* head fully sent */
	}
	size_t body_rest = body_len - sent;
	if (body_rest > 0) {
		size_t keep = c->olen - c->ooff;
		if (c->ooff > 0) {
			memmove(c->obuf, c->obuf + c->ooff, keep);
			c->ooff = 0;
			c->olen = keep;
		}
		if (obuf_reserve(c, keep + body_rest) < 0)
			return -1;
		memcpy(c->obuf + keep, (const char *)body + sent, body_rest);
		c->olen = keep + body_rest;
	}
	return c->olen > c->ooff ? 1 : 0;
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;
	int r = conn_send(c, NULL, 0);
	if (r < 0) {
		conn_close(c);
		return;
	}
	if (r > 0)
		return;
	write_off(c);
	conn_after_write(c);
}

/* Appends the head of a response to obuf. Returns -1 on OOM. */
static int build_head(struct http_conn *c, int status, const http_header *headers, size_t nh,
                      size_t content_length, int send_cl, int keep_alive)
{
	size_t need = 128;
	for (size_t i = 0; i < nh; i++)
		need += headers[i].name_len + headers[i].value_len + 4;
	if (obuf_reserve(c, c->olen + need) < 0)
		return -1;
	char *o = c->obuf + c->olen;
	const char *reason = http_status_reason(status);
	size_t rl = strlen(reason);
	memcpy(o, "HTTP/1.1 ", 9);
	o += 9;
	*o++ = (char)('0' + status / 100);
	*o++ = (char)('0' + status / 10 % 10);
	*o++ = (char)('0' + status % 10);
	*o++ = ' ';
	memcpy(o, reason, rl);
	o += rl;
	if (send_cl) {
		static const char cl[] = "\r\nContent-Length: ";
		memcpy(o, cl, sizeof(cl) - 1);
		o += sizeof(cl) - 1;
		char digits[24];
		int nd = 0;
		size_t v = content_length;
		do {
			digits[nd++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		while (nd > 0)
			*o++ = digits[--nd];
	}
	if (keep_alive) {
		static const char ka[] = "\r\nConnection: keep-alive\r\n";
		memcpy(o, ka, sizeof(ka) - 1);
		o += sizeof(ka) - 1;
	} else {
		static const char cs[] = "\r\nConnection: close\r\n";
		memcpy(o, cs, sizeof(cs) - 1);
		o += sizeof(cs) - 1;
	}
	for (size_t i = 0; i < nh; i++) {
		memcpy(o, headers[i].name, headers[i].name_len);
		o += headers[i].name_len;
		*o++ = ':';
		*o++ = ' ';
		memcpy(o, headers[i].value, headers[i].value_len);
		o += headers[i].value_len;
		*o++ = '\r';
		*o++ = '\n';
	}
	*o++ = '\r';
	*o++ = '\n';
	c->olen = (size_t)(o - c->obuf);
	return 0;
}

/* A handler header is sent only when well-formed and not one the server
 * owns: no response splitting through a handler bug. */
static int header_ok(const http_header *h)
{
	if (h->name == NULL || h->name_len == 0 || (h->value == NULL && h->value_len > 0))
		return 0;
	for (size_t i = 0; i < h->name_len; i++) {
		if (!hp_is_tchar((unsigned char)h->name[i]))
			return 0;
	}
	for (size_t i = 0; i < h->value_len; i++) {
		unsigned char ch = (unsigned char)h->value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 0;
	}
	if (hp_name_eq(h->name, h->name_len, "content-length") ||
	    hp_name_eq(h->name, h->name_len, "connection") ||
	    hp_name_eq(h->name, h->name_len, "transfer-encoding") ||
	    hp_name_eq(h->name, h->name_len, "keep-alive"))
		return 0;
	return 1;
}

/* Queues and starts sending a response on c. */
static void conn_send_response(struct http_conn *c, int status, const http_header *headers,
                               size_t nh, const void *body, size_t body_len, int head_only)
{
	http_header stackh[16];
	const http_header *hs = headers;
	http_header *filtered = NULL;
	size_t n = nh;

	for (size_t i = 0; i < nh; i++) {
		if (!header_ok(&headers[i])) {
			/* Rare: copy the good ones. */
			filtered = nh <= 16 ? stackh : malloc(nh * sizeof(*filtered));
			if (filtered == NULL) {
				conn_close(c);
				return;
			}
			n = 0;
			for (size_t j = 0; j < nh; j++) {
				if (header_ok(&headers[j]))
					filtered[n++] = headers[j];
				else
					log_warn(HTTP_COMPONENT,
					         "handler header %zu dropped (invalid or reserved)",
					         j);
			}
			hs = filtered;
			break;
		}
	}

	if (status < 200 || status > 599) {
		log_warn(HTTP_COMPONENT, "handler answered with status %d; sending 500", status);
		status = 500;
		body_len = 0;
	}
	if (body == NULL)
		body_len = 0;
	int no_body = status == 204 || status == 304;
	int keep_alive = !c->close_after;
	c->ooff = c->olen = 0;
	int r = build_head(c, status, hs, n, body_len, status != 204 && status != 304, keep_alive);
	if (filtered != NULL && filtered != stackh)
		free(filtered);
	if (r < 0) {
		conn_close(c);
		return;
	}
	if (no_body || head_only)
		body_len = 0;
	c->state = C_WRITING;
	if (c->fd < 0) {
		conn_after_write(c);
		return;
	}
	r = conn_send(c, body, body_len);
	if (r < 0) {
		conn_close(c);
		return;
	}
	if (r > 0) {
		timer_set(c, c->srv ? c->srv->write_tv : NULL);
		read_off(c);
		write_on(c);
		return;
	}
	conn_after_write(c);
}

static void conn_send_error(struct http_conn *c, int status, const char *description)
{
	char body[256];
	int n =
	    snprintf(body, sizeof(body),
	             "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}", description);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	static const http_header ct[] = {
	    {"Content-Type", 12, "application/json", 16},
	};
	c->close_after = 1;
	c->linger_after = 1;
	if (c->srv != NULL && c->srv->on_error != NULL)
		c->srv->on_error(c->srv->on_error_ud, status);
	conn_send_response(c, status, ct, 1, body, (size_t)n, 0);
}

void http_server_on_error(http_server *srv, void (*fn)(void *ud, int status), void *ud)
{
	srv->on_error = fn;
	srv->on_error_ud = ud;
}

/* ---- input ---- */

static void conn_reset_request(struct http_conn *c)
{
	size_t used = c->parser.consumed;
	if (used > 0 && used < c->ilen)
		memmove(c->ibuf, c->ibuf + used, c->ilen - used);
	c->ilen = used <= c->ilen ? c->ilen - used : 0;
	http_parser_reset(&c->parser);
	c->continue_sent = 0;
	memset(&c->req, 0, sizeof(c->req));
	if (c->icap > IBUF_KEEP_MAX && c->ilen <= IBUF_INITIAL) {
		char *n = realloc(c->ibuf, IBUF_INITIAL);
		if (n != NULL) {
			c->ibuf = n;
			c->icap = IBUF_INITIAL;
		}
	}
	if (c->ocap > OBUF_KEEP_MAX) {
		free(c->obuf);
		c->obuf = NULL;
		c->ocap = 0;
	}
}

/* The response is out: next request, or close. */
static void conn_after_write(struct http_conn *c)
{
	if (c->fd < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after || c->srv == NULL || c->srv->draining) {
		/* Linger when the client may still be sending: after an error, or
		 * when unread bytes are buffered. */
		if (c->linger_after || c->ilen > c->parser.consumed)
			conn_linger(c);
		else
			conn_close(c);
		return;
	}
	conn_reset_request(c);
	if (c->ilen > 0) {
		c->state = C_READING;
		c->req.received_us = clock_monotonic_us();
		timer_set(c, c->srv->read_tv);
		if (c->busy) {
			/* conn_process loops on. */
		} else {
			/* Asynchronous http_respond: do not re-enter the handler from
			 * inside the caller; process the pipelined request from the
			 * loop. */
			read_on(c);
			event_active(c->rev, EV_READ, 0);
		}
	} else {
		c->state = C_IDLE;
		timer_set(c, c->srv->idle_tv);
		read_on(c);
	}
}

/* Sets up c->req from a parsed request. */
static int conn_build_request(struct http_conn *c)
{
	http_parser *p = &c->parser;
	char *b = c->ibuf;
	http_request *r = &c->req;
	b[p->method_off + p->method_len] = '\0';
	b[p->target_off + p->target_len] = '\0';
	r->method = b + p->method_off;
	r->target = b + p->target_off;
	const char *q = memchr(r->target, '?', p->target_len);
	if (q == NULL) {
		r->path = r->target;
		r->query = "";
	} else {
		size_t pl = (size_t)(q - r->target);
		if (c->pathcap < pl + 1) {
			size_t cap = pl + 1 < 64 ? 64 : pl + 1;
			char *n = realloc(c->pathbuf, cap);
			if (n == NULL)
				return -1;
			c->pathbuf = n;
			c->pathcap = cap;
		}
		memcpy(c->pathbuf, r->target, pl);
		c->pathbuf[pl] = '\0';
		r->path = c->pathbuf;
		r->query = q + 1;
	}
	r->version_minor = p->version_minor;
	for (size_t i = 0; i < p->nfields; i++) {
		const hp_field *f = &p->fields[i];
		http_header *h = &c->headers[i];
		/* The byte after the name is ':' and the byte after the trimmed
		 * value is OWS or CR: both can become NUL. */
		b[f->name_off + f->name_len] = '\0';
		b[f->value_off + f->value_len] = '\0';
		h->name = b + f->name_off;
		h->name_len = f->name_len;
		h->value = b + f->value_off;
		h->value_len = f->value_len;
	}
	r->headers = c->headers;
	r->header_count = p->nfields;
	r->body = (const unsigned char *)b + p->body_off;
	r->body_len = p->body_len;
	r->keep_alive = p->keep_alive;
	r->conn = c;
	return 0;
}

/* Makes room to read into ibuf. Returns the free space (0: full). */
static size_t ibuf_room(struct http_conn *c, size_t want)
{
	size_t room = c->icap - c->ilen;
	if (room >= want || c->state == C_HANDLING)
		return room;
	size_t max = c->srv ? c->srv->ibuf_max : c->icap;
	if (c->icap >= max)
		return room;
	size_t cap = c->icap ? c->icap : IBUF_INITIAL;
	while (cap - c->ilen < want && cap < max)
		cap *= 2;
	if (cap > max)
		cap = max;
	char *n = realloc(c->ibuf, cap);
	if (n == NULL)
		return room;
	c->ibuf = n;
	c->icap = cap;
	return cap - c->ilen;
}

/* Reads once. Returns >0 bytes read, 0 nothing (EAGAIN or no room), -1 EOF,
 * -2 error. */
static ssize_t conn_read(struct http_conn *c, size_t want)
{
	size_t room = ibuf_room(c, want);
	if (room == 0)
		return 0;
	for (;;) {
		ssize_t r = recv(c->fd, c->ibuf + c->ilen, room, 0);
		if (r > 0) {
			c->ilen += (size_t)r;
			return r;
		}
		if (r == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -2;
	}
}

static void send_continue(struct http_conn *c)
{
	static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
	c->continue_sent = 1;
	/* Best effort: the socket is idle (the client is waiting for us), so
	 * 25 bytes go at once. If they do not, the client sends the body
	 * after its own timeout; a partial write cannot be recovered. */
	ssize_t w = send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
	if (w > 0 && (size_t)w != sizeof(msg) - 1)
		conn_close(c);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;

	switch (c->state) {
	case C_LINGER: {
		char tmp[4096];
		for (;;) {
			ssize_t r = recv(c->fd, tmp, sizeof(tmp), 0);
			if (r > 0) {
				c->linger_bytes += (size_t)r;
				if (c->linger_bytes > HTTP_LINGER_MAX_BYTES) {
					conn_close(c);
					return;
				}
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			conn_close(c); /* EOF or error */
			return;
		}
	}
	case C_HANDLING: {
		/* Only to notice a client that went away; never grow the buffer
		 * (the request points into it). */
		ssize_t r = conn_read(c, 1);
		if (r == -1) {
			c->peer_eof = 1;
			read_off(c);
		} else if (r == -2) {
			conn_close(c);
		} else if (r == 0 && c->ilen == c->icap) {
			read_off(c); /* full: wait for the response */
		}
		return;
	}
	case C_WRITING:
		read_off(c);
		return;
	case C_IDLE:
	case C_READING:
		break;
	}

	size_t want = IBUF_MIN_READ;
	http_parser *p = &c->parser;
	if (p->head_done && !p->chunked && p->content_length > 0) {
		/* Make room for the whole body in one go. */
		size_t total = p->body_off + (size_t)p->content_length;
		if (total > c->ilen)
			want = total - c->ilen;
	}
	ssize_t r = conn_read(c, want);
	if (r == -2) {
		conn_close(c);
		return;
	}
	if (r == -1) {
		c->peer_eof = 1;
		read_off(c);
		if (c->state == C_IDLE) {
			conn_close(c);
			return;
		}
	}
	if (r > 0 && c->state == C_IDLE) {
		c->state = C_READING;
		c->req.received_us = clock_monotonic_us();
		timer_set(c, c->srv->read_tv);
	}
	conn_process(c);
}

/* Runs the parser on buffered input, dispatches complete requests, and
 * loops while responses complete synchronously (pipelining). */
static void conn_process(struct http_conn *c)
{
	int handled = 0;
	c->busy++;
	while (!c->free_pending && c->fd >= 0 && c->state == C_READING) {
		if (handled == PIPELINE_BURST) {
			/* Fairness: a deep pipeline yields to other connections. */
			event_active(c->rev, EV_READ, 0);
			break;
		}
		http_parser *p = &c->parser;
		int r = http_parser_execute(p, c->ibuf, c->ilen);
		if (r == HP_AGAIN) {
			c->ilen = http_parser_compact(p, c->ibuf, c->ilen);
			if (c->peer_eof) {
				/* The client will not finish this request. */
				conn_close(c);
				break;
			}
			if (p->head_done && p->expect_continue && !c->continue_sent &&
			    c->ilen == p->body_off) {
				send_continue(c);
				if (c->fd < 0)
					break;
			}
			if (ibuf_room(c, IBUF_MIN_READ) == 0) {
				/* Full at its bound (cannot happen within the limits)
				 * or out of memory. */
				conn_send_error(c, 431, "request too large");
				break;
			}
			read_on(c);
			break;
		}
		if (r == HP_ERROR) {
			conn_send_error(c, p->status, p->error);
			break;
		}
		/* HP_DONE */
		if (conn_build_request(c) < 0) {
			c->close_after = 1;
			conn_send_error(c, 500, "out of memory");
			break;
		}
		if (c->srv == NULL || c->srv->draining || !p->keep_alive || c->peer_eof)
			c->close_after = 1;
		c->state = C_HANDLING;
		timer_set(c, NULL);
		/* Keep the read event: it notices a client that goes away while
		 * the handler works (see C_HANDLING in conn_on_read). */
		handled++;
		c->srv->handler(&c->req, c->srv->ud);
		/* If the handler answered synchronously, the state moved on. */
	}
	c->busy--;
	if (c->busy == 0 && c->free_pending)
		conn_free(c);
}

void http_respond(http_request *req, int status, const http_header *headers, size_t header_count,
                  const void *body, size_t body_len)
{
	struct http_conn *c = req->conn;
	if (c == NULL || c->state != C_HANDLING) {
		log_error(HTTP_COMPONENT, "http_respond on a request that is not pending");
		return;
	}
	int head_only = req->method != NULL && strcmp(req->method, "HEAD") == 0;
	if (c->fd < 0 || c->srv == NULL) {
		/* The connection died (or the server is gone) meanwhile: discard. */
		c->state = C_WRITING;
		conn_close(c);
		return;
	}
	if (c->srv->draining || c->peer_eof)
		c->close_after = 1;
	conn_send_response(c, status, headers, header_count, body, body_len, head_only);
}

/* ---- timers ---- */

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;
	switch (c->state) {
	case C_READING:
		c->close_after = 1;
		c->busy++;
		conn_send_error(c, 408, "request not received in time");
		c->busy--;
		if (c->free_pending && c->busy == 0)
			conn_free(c);
		return;
	case C_IDLE:
	case C_WRITING:
	case C_LINGER:
		conn_close(c);
		return;
	case C_HANDLING:
		return;
	}
}

/* ---- accepting ---- */

static void accept_pause(http_server *srv)
{
	if (srv->accepting) {
		event_del(srv->accept_ev);
		srv->accepting = 0;
	}
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
	event_add(srv->pause_ev, &tv);
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	http_server *srv = arg;
	(void)fd;
	(void)what;
	if (!srv->draining && !srv->accepting) {
		event_add(srv->accept_ev, NULL);
		srv->accepting = 1;
	}
	if (srv->reserve_fd < 0)
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void conn_new(http_server *srv, evutil_socket_t fd)
{
	/* One allocation: the connection, then its header arrays. */
	size_t nf = srv->lim.max_headers;
	struct http_conn *c = calloc(1, sizeof(*c) + nf * (sizeof(http_header) + sizeof(hp_field)));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	http_header *headers = (http_header *)(void *)(c + 1);
	hp_field *fields = (hp_field *)(void *)(headers + nf);
	c->srv = srv;
	c->base = srv->base;
	c->fd = fd;
	c->fields = fields;
	c->headers = headers;
	c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->wev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->tev = evtimer_new(srv->base, conn_on_timer, c);
	http_parser_init(&c->parser, &srv->plim, fields);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (c->rev == NULL || c->wev == NULL || c->tev == NULL) {
		conn_close(c);
		return;
	}
	c->state = C_IDLE;
	read_on(c);
	/* A new connection gets read_timeout, not idle_timeout, to send its
	 * first byte: idle connections are cheap to open. */
	timer_set(c, srv->read_tv);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	http_server *srv = arg;
	(void)what;
	for (int i = 0; i < ACCEPT_BURST && srv->accepting; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
				continue;
			case EMFILE:
			case ENFILE:
				/* Out of descriptors: drop the pending connection
				 * with the spare one so that it does not stay in the
				 * backlog (level-triggered: it would spin), then
				 * pause a little. */
				if (srv->reserve_fd >= 0) {
					close(srv->reserve_fd);
					srv->reserve_fd = -1;
					int dfd = accept(lfd, NULL, NULL);
					if (dfd >= 0)
						close(dfd);
				}
				log_warn(HTTP_COMPONENT, "accept: out of file descriptors");
				accept_pause(srv);
				return;
			default:
				log_warn(HTTP_COMPONENT, "accept: %s", strerror(errno));
				accept_pause(srv);
				return;
			}
		}
		if (srv->lim.max_connections > 0 && srv->nconns >= srv->lim.max_connections) {
			close(fd);
			continue;
		}
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_new(srv, fd);
	}
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	http_server *srv = arg;
	(void)fd;
	(void)what;
	if (srv->nconns == 0 && srv->drain_done != NULL) {
		void (*done)(void *) = srv->drain_done;
		srv->drain_done = NULL;
		done(srv->drain_ud); /* may free srv */
	}
}

http_server *http_server_new(struct event_base *base, evutil_socket_t fd, const http_limits *limits,
                             http_handler_fn handler, void *ud)
{
	if (base == NULL || fd < 0 || handler == NULL)
		return NULL;
	http_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return NULL;
	srv->base = base;
	srv->fd = fd;
	srv->handler = handler;
	srv->ud = ud;
	if (limits)
		srv->lim = *limits;
	else
		http_limits_default(&srv->lim);
	if (srv->lim.max_headers == 0)
		srv->lim.max_headers = 1;
	if (srv->lim.max_headers > 65536) /* preallocated per connection */
		srv->lim.max_headers = 65536;
	srv->plim.max_target_bytes = srv->lim.max_target_bytes;
	srv->plim.max_header_bytes = srv->lim.max_header_bytes;
	srv->plim.max_headers = srv->lim.max_headers;
	srv->plim.max_body_bytes = srv->lim.max_body_bytes;
	/* Head + decoded body + a partial chunk line + a read's worth. */
	srv->ibuf_max = srv->lim.max_header_bytes + srv->lim.max_body_bytes + HP_CHUNK_LINE_MAX +
	                IBUF_MIN_READ + 16;
	srv->idle_tv = common_tv(base, srv->lim.idle_timeout_ms, &srv->tv_store[0]);
	srv->read_tv = common_tv(base, srv->lim.read_timeout_ms, &srv->tv_store[1]);
	srv->write_tv = common_tv(base, srv->lim.write_timeout_ms, &srv->tv_store[2]);
	srv->linger_tv = common_tv(base, HTTP_LINGER_MS, &srv->tv_store[3]);
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->accept_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_accept, srv);
	srv->pause_ev = evtimer_new(base, accept_resume, srv);
	srv->drain_ev = event_new(base, -1, 0, on_drain, srv);
	if (srv->accept_ev == NULL || srv->pause_ev == NULL || srv->drain_ev == NULL ||
	    event_add(srv->accept_ev, NULL) < 0) {
		http_server_free(srv);
		return NULL;
	}
	srv->accepting = 1;
	return srv;
}

void http_server_drain(http_server *srv, void (*done)(void *ud), void *ud)
{
	srv->draining = 1;
	srv->drain_done = done;
	srv->drain_ud = ud;
	if (srv->accepting) {
		event_del(srv->accept_ev);
		srv->accepting = 0;
	}
	event_del(srv->pause_ev);
	struct http_conn *c = srv->conns, *next;
	for (; c != NULL; c = next) {
		next = c->next;
		if (c->state == C_IDLE)
			conn_close(c);
		else if (c->state == C_READING || c->state == C_HANDLING)
			c->close_after = 1;
	}
	if (srv->nconns == 0)
		event_active(srv->drain_ev, EV_TIMEOUT, 0);
}

void http_server_free(http_server *srv)
{
	if (srv == NULL)
		return;
	while (srv->conns != NULL) {
		struct http_conn *c = srv->conns;
		/* A connection whose request a handler owns (http_respond frees
		 * it) or inside its own callback (conn_process frees it) survives
		 * conn_close: detach it. Any other is freed and unlinked. */
		int kept = c->state == C_HANDLING || c->busy > 0;
		conn_close(c);
		if (kept)
			conn_unlink(c);
	}
	if (srv->accept_ev)
		event_free(srv->accept_ev);
	if (srv->pause_ev)
		event_free(srv->pause_ev);
	if (srv->drain_ev)
		event_free(srv->drain_ev);
	if (srv->reserve_fd >= 0)
		close(srv->reserve_fd);
	free(srv);
}

size_t http_server_connection_count(const http_server *srv)
{
	return srv->nconns;
}
