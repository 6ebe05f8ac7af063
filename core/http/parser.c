/*
 * parser.c — incremental HTTP/1.1 request parser. See parser.h.
 */
#include "config.h"

#include "http/parser.h"

#include <string.h>

enum {
	S_START = 0, /* skipping empty lines before the request line */
	S_REQLINE,
	S_HEADER,
	S_BODY_CL,
	S_CHUNK_SIZE,
	S_CHUNK_DATA,
	S_CHUNK_CRLF,
	S_TRAILER,
	S_DONE,
	S_ERROR,
};

/* Bit 0: tchar. Bit 1: field-value octet (VCHAR, obs-text, SP, HTAB).
 * Bit 2: request-target octet (0x21..0x7e). */
#define C_TCHAR 1
#define C_VALUE 2
#define C_TARGET 4

/* Generated from the definitions above. */
static const unsigned char ctab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

int hp_is_tchar(unsigned char c)
{
	return (ctab[c] & C_TCHAR) != 0;
}

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

int hp_name_eq(const char *s, size_t len, const char *lit)
{
	size_t i;
	for (i = 0; i < len; i++) {
		if (lit[i] == '\0' || lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return 0;
	}
	return lit[i] == '\0';
}

void http_parser_init(http_parser *p, const hp_limits *lim, hp_field *fields)
{
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
	if (p->lim.max_header_bytes > UINT32_MAX)
		p->lim.max_header_bytes = UINT32_MAX;
	p->fields = fields;
	http_parser_reset(p);
}

void http_parser_reset(http_parser *p)
{
	hp_limits lim = p->lim;
	hp_field *fields = p->fields;
	memset(p, 0, sizeof(*p));
	p->lim = lim;
	p->fields = fields;
	p->state = S_START;
}

static int fail(http_parser *p, int status, const char *error)
{
	p->state = S_ERROR;
	p->status = status;
	p->error = error;
	return HP_ERROR;
}

static int done(http_parser *p, size_t consumed)
{
	p->state = S_DONE;
	p->consumed = consumed;
	return HP_DONE;
}

static inline int is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Calls fn on each non-empty, OWS-trimmed element of a comma list. */
static void each_list_element(const char *v, size_t n,
                              void (*fn)(http_parser *, const char *, size_t), http_parser *p)
{
	size_t i = 0;
	while (i < n) {
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (s < e && is_ows((unsigned char)v[s]))
			s++;
		while (e > s && is_ows((unsigned char)v[e - 1]))
			e--;
		if (e > s)
			fn(p, v + s, e - s);
		i++; /* skip ',' */
	}
}

static void te_element(http_parser *p, const char *s, size_t n)
{
	if (hp_name_eq(s, n, "chunked")) {
		p->te_chunked_count++;
		p->te_last_chunked = 1;
	} else {
		p->te_unknown = 1;
		p->te_last_chunked = 0;
	}
}

static void conn_element(http_parser *p, const char *s, size_t n)
{
	if (hp_name_eq(s, n, "close"))
		p->conn_close = 1;
	else if (hp_name_eq(s, n, "keep-alive"))
		p->conn_keep_alive = 1;
}

/*
 * Checks the field line buf[s, e) (without CRLF): name ':' OWS value OWS.
 * Returns 0 and the offsets, or -1 with p failed.
 */
static int parse_field(http_parser *p, const char *buf, size_t s, size_t e, hp_field *f)
{
	size_t i = s;
	unsigned char c = (unsigned char)buf[i];
	if (is_ows(c))
		return fail(p, 400, "obsolete line folding is not accepted");
	while (i < e && (ctab[(unsigned char)buf[i]] & C_TCHAR))
		i++;
	if (i == e)
		return fail(p, 400, "header field without a colon");
	if (buf[i] != ':') {
		if (is_ows((unsigned char)buf[i]))
			return fail(p, 400, "whitespace before the colon of a header field");
		return fail(p, 400, "invalid character in a header field name");
	}
	if (i == s)
		return fail(p, 400, "empty header field name");
	f->name_off = (uint32_t)s;
	f->name_len = (uint32_t)(i - s);
	i++;
	while (i < e && is_ows((unsigned char)buf[i]))
		i++;
	size_t vs = i;
	for (; i < e; i++) {
		if (!(ctab[(unsigned char)buf[i]] & C_VALUE))
			return fail(p, 400, "invalid character in a header field value");
	}
	size_t ve = e;
	while (ve > vs && is_ows((unsigned char)buf[ve - 1]))
		ve--;
	f->value_off = (uint32_t)vs;
	f->value_len = (uint32_t)(ve - vs);
	return 0;
}

static int interpret_field(http_parser *p, const char *buf, const hp_field *f)
{
	const char *name = buf + f->name_off;
	const char *v = buf + f->value_off;
	size_t n = f->value_len;

	switch (f->name_len) {
	case 4:
		if (hp_name_eq(name, 4, "host"))
			p->host_count++;
		break;
	case 6:
		if (hp_name_eq(name, 6, "expect") && hp_name_eq(v, n, "100-continue"))
			p->expect_continue = 1;
		break;
	case 10:
		if (hp_name_eq(name, 10, "connection"))
			each_list_element(v, n, conn_element, p);
		break;
	case 14:
		if (hp_name_eq(name, 14, "content-length")) {
			uint64_t cl = 0;
			if (n == 0)
				return fail(p, 400, "empty Content-Length");
			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)v[i];
				if (c < '0' || c > '9')
					return fail(p, 400, "invalid Content-Length");
				if (cl > (UINT64_MAX / 2 - 9) / 10)
					return fail(p, 400, "Content-Length too large");
				cl = cl * 10 + (uint64_t)(c - '0');
			}
			if (p->has_content_length && p->content_length != cl)
				return fail(p, 400, "conflicting Content-Length fields");
			p->has_content_length = 1;
			p->content_length = cl;
		}
		break;
	case 17:
		if (hp_name_eq(name, 17, "transfer-encoding")) {
			p->te_seen = 1;
			each_list_element(v, n, te_element, p);
		}
		break;
	default:
		break;
	}
	return 0;
}

static int finish_head(http_parser *p, size_t body_off)
{
	p->head_done = 1;
	p->body_off = body_off;
	p->pos = body_off;
	p->line_start = body_off;

	if (p->host_count > 1)
		return fail(p, 400, "more than one Host header field");
	if (p->version_minor == 1 && p->host_count == 0)
		return fail(p, 400, "missing Host header field");
	if (p->te_seen) {
		if (p->version_minor == 0)
			return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (p->has_content_length)
			return fail(p, 400, "both Content-Length and Transfer-Encoding");
		if (p->te_chunked_count > 1)
			return fail(p, 400, "chunked applied more than once");
		if (p->te_chunked_count == 1 && !p->te_last_chunked)
			return fail(p, 400, "chunked is not the final transfer coding");
		if (p->te_unknown)
			return fail(p, 501, "unsupported transfer coding");
		if (p->te_chunked_count == 0)
			return fail(p, 400, "empty Transfer-Encoding");
		p->chunked = 1;
	}
	if (p->version_minor == 1)
		p->keep_alive = !p->conn_close;
	else
		p->keep_alive = p->conn_keep_alive && !p->conn_close;
	if (p->version_minor == 0)
		p->expect_continue = 0;

	if (p->chunked) {
		p->state = S_CHUNK_SIZE;
		return HP_AGAIN;
	}
	if (p->has_content_length) {
		if (p->content_length > p->lim.max_body_bytes)
			return fail(p, 413, "request body too large");
		if (p->content_length > 0) {
			p->state = S_BODY_CL;
			return HP_AGAIN;
		}
	}
	p->expect_continue = 0; /* no body: nothing to continue */
	return done(p, body_off);
}

static int parse_request_line(http_parser *p, char *buf, size_t s, size_t e)
{
	size_t i = s;
	while (i < e && (ctab[(unsigned char)buf[i]] & C_TCHAR))
		i++;
	if (i == s || i == e || buf[i] != ' ')
		return fail(p, 400, "invalid method");
	p->method_off = s;
	p->method_len = i - s;
	size_t ts = ++i;
	while (i < e && (ctab[(unsigned char)buf[i]] & C_TARGET))
		i++;
	if (i - ts > p->lim.max_target_bytes)
		return fail(p, 414, "request target too long");
	if (i == ts || i == e || buf[i] != ' ')
		return fail(p, 400, "invalid request target");
	p->target_off = ts;
	p->target_len = i - ts;
	i++;
	if (e - i != 8 || memcmp(buf + i, "HTTP/", 5) != 0 || buf[i + 5] < '0' ||
	    buf[i + 5] > '9' || buf[i + 6] != '.' || buf[i + 7] < '0' || buf[i + 7] > '9')
		return fail(p, 400, "invalid HTTP version");
	if (buf[i + 5] != '1' || (buf[i + 7] != '0' && buf[i + 7] != '1'))
		return fail(p, 505, "HTTP version not supported");
	p->version_minor = buf[i + 7] - '0';
	if (buf[ts] == '/') {
		/* origin-form */
	} else if (p->target_len == 1 && buf[ts] == '*' && p->method_len == 7 &&
	           memcmp(buf + s, "OPTIONS", 7) == 0) {
		/* asterisk-form */
	} else {
		return fail(p, 400, "request target must be in origin-form");
	}
	return 0;
}

/* Request line still incomplete: catch an over-long target early (414),
 * scanning only bytes not seen before. */
static int partial_request_line(http_parser *p, const char *buf, size_t len)
{
	size_t i = p->pos;
	if (!p->have_sp1) {
		const char *sp = memchr(buf + i, ' ', len - i);
		if (sp == NULL)
			return 0;
		p->sp1 = (size_t)(sp - buf);
		p->have_sp1 = 1;
		i = p->sp1 + 1;
	}
	if (!p->have_sp2 && i < len) {
		const char *sp = memchr(buf + i, ' ', len - i);
		if (sp != NULL) {
			p->sp2 = (size_t)(sp - buf);
			p->have_sp2 = 1;
		}
	}
	size_t tend = p->have_sp2 ? p->sp2 : len;
	if (tend - (p->sp1 + 1) > p->lim.max_target_bytes)
		return fail(p, 414, "request target too long");
	return 0;
}

/* Finds the next LF at or after p->pos. */
static const char *find_lf(http_parser *p, const char *buf, size_t len)
{
	if (p->pos >= len)
		return NULL;
	return memchr(buf + p->pos, '\n', len - p->pos);
}

/* The line [line_start, lf): must end in CR. Returns the end of its content
 * (the CR's offset), or 0 with p failed. line_start < lf is not assumed. */
static int line_end(http_parser *p, const char *buf, size_t lf, size_t *end)
{
	if (lf == p->line_start || buf[lf - 1] != '\r')
		return fail(p, 400, "line not terminated by CRLF");
	*end = lf - 1;
	return 0;
}

size_t http_parser_compact(http_parser *p, char *buf, size_t len)
{
	if (!p->chunked || !p->head_done)
		return len;
	size_t keep;
	switch (p->state) {
	case S_CHUNK_SIZE:
	case S_TRAILER:
		keep = p->line_start;
		break;
	case S_CHUNK_DATA:
	case S_CHUNK_CRLF:
		keep = p->pos;
		break;
	default:
		return len;
	}
	size_t gap = p->body_off + p->body_len;
	if (keep <= gap || keep > len)
		return len;
	size_t delta = keep - gap;
	memmove(buf + gap, buf + keep, len - keep);
	p->pos -= delta;
	p->line_start = p->line_start >= keep ? p->line_start - delta : p->pos;
	return len - delta;
}

int http_parser_execute(http_parser *p, char *buf, size_t len)
{
	const size_t maxh = p->lim.max_header_bytes;

	for (;;) {
		switch (p->state) {
		case S_DONE:
			return HP_DONE;
		case S_ERROR:
			return HP_ERROR;

		case S_START:
			while (p->pos < len) {
				char c = buf[p->pos];
				if (c == '\r') {
					if (p->pos + 1 >= len)
						return HP_AGAIN;
					if (buf[p->pos + 1] != '\n')
						return fail(p, 400, "bare CR");
					p->pos += 2;
					if (p->pos > maxh)
						return fail(p, 431,
						            "request header section too large");
				} else if (c == '\n') {
					return fail(p, 400, "line not terminated by CRLF");
				} else {
					break;
				}
			}
			if (p->pos >= len)
				return HP_AGAIN;
			p->line_start = p->pos;
			p->state = S_REQLINE;
			break;

		case S_REQLINE: {
			const char *lfp = find_lf(p, buf, len);
			if (lfp == NULL) {
				if (partial_request_line(p, buf, len) < 0)
					return HP_ERROR;
				if (len > maxh)
					return fail(p, 431, "request header section too large");
				p->pos = len;
				return HP_AGAIN;
			}
			size_t lf = (size_t)(lfp - buf), end;
			if (line_end(p, buf, lf, &end) < 0)
				return HP_ERROR;
			if (parse_request_line(p, buf, p->line_start, end) < 0)
				return HP_ERROR;
			if (lf + 1 > maxh)
				return fail(p, 431, "request header section too large");
			p->pos = p->line_start = lf + 1;
			p->state = S_HEADER;
			break;
		}

		case S_HEADER: {
			const char *lfp = find_lf(p, buf, len);
			if (lfp == NULL) {
				if (len > maxh)
					return fail(p, 431, "request header section too large");
				p->pos = len;
				return HP_AGAIN;
			}
			size_t lf = (size_t)(lfp - buf), end;
			if (lf + 1 > maxh)
				return fail(p, 431, "request header section too large");
			if (line_end(p, buf, lf, &end) < 0)
				return HP_ERROR;
			if (end == p->line_start) {
				int r = finish_head(p, lf + 1);
				if (r != HP_AGAIN)
					return r;
				break;
			}
			if (p->nfields >= p->lim.max_headers)
				return fail(p, 431, "too many header fields");
			hp_field *f = &p->fields[p->nfields];
			if (parse_field(p, buf, p->line_start, end, f) < 0)
				return HP_ERROR;
			p->nfields++;
			if (interpret_field(p, buf, f) < 0)
				return HP_ERROR;
			p->pos = p->line_start = lf + 1;
			break;
		}

		case S_BODY_CL: {
			size_t avail = len - p->body_off;
			if (avail >= p->content_length) {
				p->body_len = (size_t)p->content_length;
				p->pos = p->body_off + p->body_len;
				return done(p, p->pos);
			}
			p->body_len = avail;
			p->pos = len;
			return HP_AGAIN;
		}

		case S_CHUNK_SIZE: {
			const char *lfp = find_lf(p, buf, len);
			if (lfp == NULL) {
				if (len - p->line_start > HP_CHUNK_LINE_MAX)
					return fail(p, 400, "chunk size line too long");
				p->pos = len;
				return HP_AGAIN;
			}
			size_t lf = (size_t)(lfp - buf), end;
			if (lf + 1 - p->line_start > HP_CHUNK_LINE_MAX)
				return fail(p, 400, "chunk size line too long");
			if (line_end(p, buf, lf, &end) < 0)
				return HP_ERROR;
			size_t i = p->line_start;
			uint64_t size = 0;
			int too_big = 0;
			for (; i < end; i++) {
				unsigned char c = (unsigned char)buf[i];
				unsigned d;
				if (c >= '0' && c <= '9')
					d = c - '0';
				else if (c >= 'a' && c <= 'f')
					d = c - 'a' + 10;
				else if (c >= 'A' && c <= 'F')
					d = c - 'A' + 10;
				else
					break;
				if (size > (UINT64_MAX >> 8))
					too_big = 1;
				else
					size = size * 16 + d;
			}
			if (i == p->line_start)
				return fail(p, 400, "invalid chunk size");
			while (i < end && is_ows((unsigned char)buf[i]))
				i++;
			if (i < end) {
				if (buf[i] != ';')
					return fail(p, 400, "invalid chunk size");
				for (; i < end; i++) {
					if (!(ctab[(unsigned char)buf[i]] & C_VALUE))
						return fail(p, 400, "invalid chunk extension");
				}
			}
			if (too_big || size > p->lim.max_body_bytes ||
			    p->body_len + size > p->lim.max_body_bytes)
				return fail(p, 413, "request body too large");
			p->pos = p->line_start = lf + 1;
			if (size == 0) {
				p->state = S_TRAILER;
			} else {
				p->chunk_left = size;
				p->state = S_CHUNK_DATA;
			}
			break;
		}

		case S_CHUNK_DATA: {
			size_t n = len - p->pos;
			if (n > p->chunk_left)
				n = (size_t)p->chunk_left;
			size_t dst = p->body_off + p->body_len;
			if (n > 0 && dst != p->pos)
				memmove(buf + dst, buf + p->pos, n);
			p->body_len += n;
			p->pos += n;
			p->chunk_left -= n;
			if (p->chunk_left > 0)
				return HP_AGAIN;
			p->state = S_CHUNK_CRLF;
			break;
		}

		case S_CHUNK_CRLF:
			if (p->pos < len && buf[p->pos] != '\r')
				return fail(p, 400, "chunk data not followed by CRLF");
			if (len - p->pos < 2)
				return HP_AGAIN;
			if (buf[p->pos + 1] != '\n')
				return fail(p, 400, "chunk data not followed by CRLF");
			p->pos += 2;
			p->line_start = p->pos;
			p->state = S_CHUNK_SIZE;
			break;

		case S_TRAILER: {
			const char *lfp = find_lf(p, buf, len);
			if (lfp == NULL) {
				if (p->trailer_bytes + (len - p->line_start) > maxh)
					return fail(p, 431, "trailer section too large");
				p->pos = len;
				return HP_AGAIN;
			}
			size_t lf = (size_t)(lfp - buf), end;
			p->trailer_bytes += lf + 1 - p->line_start;
			if (p->trailer_bytes > maxh)
				return fail(p, 431, "trailer section too large");
			if (line_end(p, buf, lf, &end) < 0)
				return HP_ERROR;
			if (end == p->line_start)
				return done(p, lf + 1);
			if (++p->trailer_count > p->lim.max_headers)
				return fail(p, 431, "too many trailer fields");
			hp_field f;
			if (parse_field(p, buf, p->line_start, end, &f) < 0)
				return HP_ERROR;
			p->pos = p->line_start = lf + 1;
			break;
		}

		default:
			return fail(p, 400, "internal parser error");
		}
	}
}
