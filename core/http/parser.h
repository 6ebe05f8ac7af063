/*
 * parser.h — a pure, incremental HTTP/1.1 request parser (RFC 9112).
 *
 * No libevent, no allocation, no global state: fuzzable on its own.
 *
 * The caller keeps the bytes of the request in ONE contiguous buffer that
 * starts with the first byte of the request, appends what it receives, and
 * calls http_parser_execute(buf, len) again with the whole buffer (buf may
 * have moved, e.g. after realloc: the parser keeps offsets, never pointers).
 * Each call only scans bytes it has not scanned yet.
 *
 * The parser writes into buf: a chunked body is decoded in place (the
 * decoded bytes are moved down to body_off, over the chunk framing), so on
 * HP_DONE the decoded body is [body_off, body_off + body_len) whatever the
 * transfer coding. Between calls the caller may call http_parser_compact()
 * to drop the chunk framing already decoded, which bounds the buffer to
 * head + decoded body + one partial chunk line.
 *
 * On HP_DONE, the request occupies [0, consumed); bytes after it belong to
 * the next (pipelined) request. On HP_ERROR, status is the HTTP status to
 * answer with (400, 413, 414, 431, 501, 505) and error a static
 * human-readable description; the connection must then be closed.
 *
 * Policy (strict, to leave no room for request smuggling):
 *  - lines end with CRLF; a bare LF or bare CR is 400; empty lines before
 *    the request line are skipped (they count towards max_header_bytes);
 *  - request-line: token SP request-target SP HTTP-version, single spaces;
 *    the target is origin-form ("/...") or "*" for OPTIONS, absolute- and
 *    authority-form are 400; bytes outside 0x21..0x7e in the target are 400;
 *    a target longer than max_target_bytes is 414; "HTTP/d.d" other than
 *    1.0 and 1.1 is 505;
 *  - field lines: obs-fold, whitespace before the colon, non-tchar names,
 *    control characters (other than HTAB) in values are 400; more than
 *    max_headers fields, or a request line plus header section longer than
 *    max_header_bytes (including the final CRLF), is 431;
 *  - an HTTP/1.1 request needs exactly one Host; more than one is 400;
 *  - Content-Length: 1*DIGIT (no lists), repeated only with an identical
 *    value, else 400; larger than max_body_bytes is 413;
 *  - Transfer-Encoding: only "chunked", once, last; another coding is 501;
 *    chunked not last, twice, or an empty list is 400; with Content-Length
 *    or in an HTTP/1.0 request it is 400;
 *  - chunked: hex sizes (BWS and extensions after the size are ignored,
 *    a chunk-size line is at most HP_CHUNK_LINE_MAX bytes), a decoded body
 *    larger than max_body_bytes is 413; trailer fields are checked for
 *    syntax, bounded like the header section (431) and discarded.
 */
#ifndef CARACAL_CORE_HTTP_PARSER_H
#define CARACAL_CORE_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* Longest chunk-size line (size, extensions and CRLF). */
#define HP_CHUNK_LINE_MAX 4096

typedef struct hp_limits {
	size_t max_target_bytes;
	size_t max_header_bytes; /* clamped to UINT32_MAX */
	size_t max_headers;      /* fields[] must hold this many */
	size_t max_body_bytes;
} hp_limits;

/* A header field as offsets into the caller's buffer. */
typedef struct hp_field {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len; /* OWS trimmed */
} hp_field;

enum { HP_ERROR = -1, HP_AGAIN = 0, HP_DONE = 1 };

typedef struct http_parser {
	/* Configuration (set by http_parser_init). */
	hp_limits lim;
	hp_field *fields;

	/* Private state. */
	int state;
	size_t pos;             /* next byte not scanned yet */
	size_t line_start;      /* start of the line being scanned */
	size_t sp1, sp2;        /* request line: offsets of its first two spaces... */
	int have_sp1, have_sp2; /* ...once seen */
	uint64_t chunk_left;
	size_t trailer_bytes, trailer_count;
	unsigned host_count;
	unsigned te_chunked_count;
	int te_seen, te_unknown, te_last_chunked;
	int conn_close, conn_keep_alive;

	/* Results, valid on HP_DONE (head fields once head_done is set). */
	size_t method_off, method_len; /* method_off: after skipped empty lines */
	size_t target_off, target_len;
	int version_minor;
	size_t nfields;
	int has_content_length;
	uint64_t content_length;
	int chunked;
	int keep_alive;      /* what the client asked for */
	int expect_continue; /* Expect: 100-continue (HTTP/1.1 only) */
	int head_done;       /* the header section is complete and valid */
	size_t body_off;     /* start of the (decoded) body */
	size_t body_len;     /* decoded body bytes so far */
	size_t consumed;     /* on HP_DONE: bytes of this request in buf */

	/* On HP_ERROR. */
	int status;
	const char *error;
} http_parser;

/* fields must have room for lim->max_headers entries. */
void http_parser_init(http_parser *p, const hp_limits *lim, hp_field *fields);

/* Ready for the next request (keeps limits and fields). */
void http_parser_reset(http_parser *p);

/* Parse what is new in buf[0, len). Returns HP_AGAIN (need more bytes),
 * HP_DONE or HP_ERROR. Once HP_DONE or HP_ERROR, further calls return the
 * same result until http_parser_reset(). */
int http_parser_execute(http_parser *p, char *buf, size_t len);

/* While HP_AGAIN in a chunked body: move the unparsed tail of buf down over
 * chunk framing already decoded. Returns the new length of buf (len when
 * there is nothing to drop). Offsets already reported stay valid. */
size_t http_parser_compact(http_parser *p, char *buf, size_t len);

/* Case-insensitive comparison of a length-delimited string with a
 * NUL-terminated lowercase ASCII literal. */
int hp_name_eq(const char *s, size_t len, const char *lower);

/* 1 when c is a tchar (RFC 9110 token character). */
int hp_is_tchar(unsigned char c);

#endif /* CARACAL_CORE_HTTP_PARSER_H */
