/*
 * http.h — caracald's HTTP/1.1 server, on libevent.
 *
 * One http_server per listening socket per loop thread (the loop threads
 * share each port with SO_REUSEPORT). Connections belong to the loop thread
 * that accepted them and are only touched on it.
 *
 * Bounds: every request is held to the limits below. A request that breaks
 * one is answered with a clean 4xx (400 bad framing, 408 read timeout, 413
 * body too large, 414 target too long, 431 header section too large or too
 * many header fields, 501 unknown transfer coding, 505 version) and the
 * connection is closed after the response is written.
 *
 * Handlers run on the loop thread and must not block. A handler either
 * responds at once (http_respond) or keeps the request (the response is
 * sent later, from the same loop thread, e.g. after a decision-pool worker
 * finished: see http_request_loop()). The connection reads no further
 * request until the pending one is answered, so pipelined requests are
 * answered in order.
 *
 * A kept request stays valid until http_respond(), even if the client goes
 * away or the server is freed meanwhile: the connection object lives on
 * until then, and http_respond() only releases it (the owner can ask
 * http_request_is_closed() first). Every request must be answered exactly
 * once. While a request is pending, the connection only reads into the
 * space its buffer already has, to notice the client leaving.
 *
 * Expect: 100-continue (HTTP/1.1) is answered with "100 Continue" once the
 * header section is accepted and before any body byte arrived; a request
 * refused on its header section (413 for its Content-Length, ...) gets the
 * final status instead.
 *
 * Timeouts: read_timeout runs from the first byte of a request to its last
 * and is not extended by progress (a slow-drip client gets 408); a new
 * connection must send its first byte within read_timeout; between
 * keep-alive requests idle_timeout applies; write_timeout bounds the
 * flushing of one response. After a response with "Connection: close" that
 * may leave unread input (errors), the server shuts down its sending side
 * and discards input for up to 2 s before closing, so that the client reads
 * the response instead of a reset.
 */
#ifndef CARACAL_CORE_HTTP_H
#define CARACAL_CORE_HTTP_H

#include <event2/event.h>
#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_limits {
	size_t max_target_bytes; /* request-target length (414) */
	size_t max_header_bytes; /* request line + header section (431) */
	size_t max_headers;      /* number of header fields (431) */
	size_t max_body_bytes;   /* decoded body (413) */
	int64_t read_timeout_ms; /* from the first byte of a request to its end (408) */
	int64_t idle_timeout_ms; /* keep-alive idle between requests (close silently) */
	int64_t write_timeout_ms;
	size_t max_connections; /* per server; beyond it, accept then close */
} http_limits;

/* Defaults: 2048 target, 16 KiB headers, 64 fields, 1 MiB body, 10 s read,
 * 60 s idle, 10 s write, 4096 connections. */
void http_limits_default(http_limits *limits);

typedef struct http_header {
	const char *name; /* as received; compare case-insensitively */
	size_t name_len;
	const char *value; /* surrounding whitespace trimmed */
	size_t value_len;
} http_header;

typedef struct http_request {
	const char *method;         /* NUL-terminated, e.g. "GET" */
	const char *target;         /* NUL-terminated request-target as received */
	const char *path;           /* NUL-terminated, target up to '?' (not decoded) */
	const char *query;          /* NUL-terminated, after '?', "" when none */
	int version_minor;          /* HTTP/1.<minor> */
	const http_header *headers; /* names and values are also NUL-terminated */
	size_t header_count;
	const unsigned char *body; /* decoded (de-chunked) body, not NUL-terminated */
	size_t body_len;
	int keep_alive;         /* the client wants the connection kept open */
	int64_t received_us;    /* monotonic time the first byte arrived */
	struct http_conn *conn; /* owning connection (opaque) */
} http_request;

/* Case-insensitive header lookup; NULL when absent. With duplicates, the
 * first; *count (may be NULL) receives how many there are. */
const http_header *http_request_header(const http_request *req, const char *name, size_t *count);

typedef void (*http_handler_fn)(http_request *req, void *ud);

typedef struct http_server http_server;

/* Serve on an already bound and listening non-blocking socket. The server
 * does not take ownership of fd. */
http_server *http_server_new(struct event_base *base, evutil_socket_t fd, const http_limits *limits,
                             http_handler_fn handler, void *ud);

/* Stop accepting; finish requests in flight; close idle connections. done
 * is called (on the loop thread) once no connection is left. */
void http_server_drain(http_server *srv, void (*done)(void *ud), void *ud);

/* Frees the server and closes every connection still open. Must not be
 * called from a handler (but may be from the drain callback). Requests
 * still owned by handlers stay valid until their http_respond, which then
 * only releases them. */
void http_server_free(http_server *srv);

size_t http_server_connection_count(const http_server *srv);

/* Call fn(ud, status) on the loop thread for every error response the server
 * generates itself (malformed or oversized requests, timeouts), so the owner
 * can count them. */
void http_server_on_error(http_server *srv, void (*fn)(void *ud, int status), void *ud);

/* Send the response to req; req is invalid afterwards. headers may be NULL.
 * The body is copied when needed: it need not outlive the call. Header
 * fields that are not well-formed (name not a token, CR/LF/CTL in the value)
 * or that the server owns (Content-Length, Connection, Transfer-Encoding,
 * Keep-Alive) are dropped with a warning; a status outside 200..599 becomes
 * a 500. 204 and 304 get neither body nor Content-Length; HEAD gets the
 * Content-Length of body but no body.
 * Content-Length, Date-less minimal framing and Connection are added by the
 * server; handlers must not set them. Must be called on req's loop thread. */
void http_respond(http_request *req, int status, const http_header *headers, size_t header_count,
                  const void *body, size_t body_len);

/* The event_base of req's loop thread, to post a deferred response back. */
struct event_base *http_request_loop(const http_request *req);

/* Added: 1 when the response to req can no longer reach the client: the
 * connection failed or was reset, the client shut down its sending side
 * while the request was pending, or the server was freed. The owner of a
 * deferred request may poll it to skip expensive work. Either way the owner
 * must still call http_respond(req) exactly once: that is what releases the
 * request (its memory, and the connection's slot, which
 * http_server_drain() waits for). */
int http_request_is_closed(const http_request *req);

/* The canonical reason phrase for status ("Not Found"); "Unknown" otherwise. */
const char *http_status_reason(int status);

#endif /* CARACAL_CORE_HTTP_H */
