/* https_get.c — see https_get.h. */
#include "util/https_get.h"

#include "util/hex.h"
#include "util/why.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MAX_BODY (256u * 1024u)
#define MAX_HEADER_BYTES 16384
/* Chunk framing may add to the body; beyond this much a response is refused
 * whatever its encoding. */
#define MAX_FRAMING_BYTES 65536

/* ---- URL -------------------------------------------------------------------- */

static int is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

static int parse_port(const char *p, size_t n, char out[6])
{
	if (n == 0 || n > 5)
		return -1;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	snprintf(out, 6, "%ld", v);
	return 0;
}

int https_url_parse(const char *url, https_url *out, char *why, size_t why_cap)
{
	memset(out, 0, sizeof *out);
	if (url == NULL || strncasecmp(url, "https://", 8) != 0)
		return why_fail(why, why_cap, "not an https:// URL");
	if (strchr(url, '#') != NULL)
		return why_fail(why, why_cap, "a URL with a fragment");
	const char *auth = url + 8;
	size_t alen = strcspn(auth, "/?");
	if (memchr(auth, '@', alen) != NULL)
		return why_fail(why, why_cap, "a URL with userinfo");
	const char *host = auth, *port = NULL;
	size_t hlen, plen = 0;
	if (alen > 0 && auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (close == NULL)
			return why_fail(why, why_cap, "unterminated IPv6 literal");
		host = auth + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < auth + alen) {
			if (close[1] != ':')
				return why_fail(why, why_cap, "junk after the IPv6 literal");
			port = close + 2;
			plen = (size_t)(auth + alen - port);
		}
		out->host_is_ip = 1;
	} else {
		const char *colon = memchr(auth, ':', alen);
		hlen = colon != NULL ? (size_t)(colon - auth) : alen;
		if (colon != NULL) {
			port = colon + 1;
			plen = (size_t)(auth + alen - port);
		}
		for (size_t i = 0; i < hlen; i++)
			if (!is_host_char(host[i]))
				return why_fail(
				    why, why_cap,
				    "a host name with characters outside [A-Za-z0-9.-]");
	}
	if (hlen == 0 || hlen >= sizeof out->host)
		return why_fail(why, why_cap, "an empty or overlong host");
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	unsigned char probe[sizeof(struct in6_addr)];
	if (out->host_is_ip) {
		if (inet_pton(AF_INET6, out->host, probe) != 1)
			return why_fail(why, why_cap, "not an IPv6 literal");
	} else if (inet_pton(AF_INET, out->host, probe) == 1) {
		out->host_is_ip = 1;
	}
	if (port != NULL) {
		if (parse_port(port, plen, out->port) != 0)
			return why_fail(why, why_cap, "a bad port");
	} else {
		memcpy(out->port, "443", 4);
	}
	const char *rest = auth + alen;
	size_t rlen = strlen(rest);
	size_t need = rlen + (rest[0] == '/' ? 0 : 1);
	if (need >= sizeof out->target)
		return why_fail(why, why_cap, "an overlong path");
	for (size_t i = 0; i < rlen; i++)
		if ((unsigned char)rest[i] <= 0x20 || (unsigned char)rest[i] >= 0x7f)
			return why_fail(why, why_cap, "a path with spaces or control characters");
	size_t off = 0;
	if (rest[0] != '/')
		out->target[off++] = '/';
	memcpy(out->target + off, rest, rlen + 1);
	return 0;
}

/* ---- address guard ------------------------------------------------------------ */

static int v4_is_public(const unsigned char a[4])
{
	static const struct {
		unsigned char net[4];
		int bits;
	} blocked[] = {
	    {{0, 0, 0, 0}, 8},       /* "this" network */
	    {{10, 0, 0, 0}, 8},      /* private */
	    {{100, 64, 0, 0}, 10},   /* carrier-grade NAT */
	    {{127, 0, 0, 0}, 8},     /* loopback */
	    {{169, 254, 0, 0}, 16},  /* link-local: cloud metadata lives here */
	    {{172, 16, 0, 0}, 12},   /* private */
	    {{192, 0, 0, 0}, 24},    /* IETF protocol assignments */
	    {{192, 0, 2, 0}, 24},    /* documentation */
	    {{192, 88, 99, 0}, 24},  /* 6to4 relay anycast */
	    {{192, 168, 0, 0}, 16},  /* private */
	    {{198, 18, 0, 0}, 15},   /* benchmarking */
	    {{198, 51, 100, 0}, 24}, /* documentation */
	    {{203, 0, 113, 0}, 24},  /* documentation */
	    {{224, 0, 0, 0}, 4},     /* multicast */
	    {{240, 0, 0, 0}, 4},     /* reserved, broadcast */
	};
	uint32_t addr = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		const unsigned char *n = blocked[i].net;
		uint32_t net =
		    (uint32_t)n[0] << 24 | (uint32_t)n[1] << 16 | (uint32_t)n[2] << 8 | n[3];
		uint32_t mask = blocked[i].bits == 0 ? 0 : ~(uint32_t)0 << (32 - blocked[i].bits);
		if ((addr & mask) == net)
			return 0;
	}
	return 1;
}

static int prefix_eq(const unsigned char *a, const unsigned char *p, int bits)
{
	int bytes = bits / 8, rem = bits % 8;
	if (memcmp(a, p, (size_t)bytes) != 0)
		return 0;
	if (rem == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rem));
	return (a[bytes] & mask) == (p[bytes] & mask);
}

static int v6_is_public(const unsigned char a[16])
{
	static const unsigned char zero[16] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_is_public(a + 12); /* an IPv4 address in IPv6 clothing */
	if (a[0] == 0x20 && a[1] == 0x02)    /* 6to4 embeds the IPv4 address */
		return v4_is_public(a + 2);
	static const struct {
		unsigned char net[16];
		int bits;
	} blocked[] = {
	    {{0}, 96},                      /* ::/96: unspecified, loopback, IPv4-compatible */
	    {{0x01, 0x00}, 64},             /* discard-only */
	    {{0x20, 0x01, 0x00, 0x00}, 23}, /* IETF protocol assignments (Teredo, ...) */
	    {{0x20, 0x01, 0x0d, 0xb8}, 32}, /* documentation */
	    {{0xfc}, 7},                    /* unique local */
	    {{0xfe, 0x80}, 10},             /* link-local */
	    {{0xfe, 0xc0}, 10},             /* site-local (deprecated) */
	    {{0xff}, 8},                    /* multicast */
	};
	if (memcmp(a, zero, 16) == 0)
		return 0;
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
		if (prefix_eq(a, blocked[i].net, blocked[i].bits))
			return 0;
	return 1;
}

int https_addr_is_public(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
		return v4_is_public((const unsigned char *)&in->sin_addr);
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
		return v6_is_public(in6->sin6_addr.s6_addr);
	}
	return 0;
}

/* ---- response ------------------------------------------------------------------- */

static const char *find_crlf2(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			return buf + i + 1;
	return NULL;
}

static int is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The value of a header line, trimmed of optional whitespace. */
static void header_value(const char *v, const char *end, const char **out, size_t *n)
{
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*out = v;
	*n = (size_t)(end - v);
}

struct framing {
	int chunked;
	int has_length;
	size_t length;
};

/* Status line and headers in [buf, end) (end just past the blank line). */
static int parse_head(const char *buf, const char *end, size_t max_body, struct framing *fr,
                      char *why, size_t cap)
{
	memset(fr, 0, sizeof *fr);
	if (end - buf < 12 ||
	    (memcmp(buf, "HTTP/1.1 ", 9) != 0 && memcmp(buf, "HTTP/1.0 ", 9) != 0))
		return why_fail(why, cap, "not an HTTP/1.x response");
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return why_fail(why, cap, "a malformed status line");
		status = status * 10 + (buf[i] - '0');
	}
	if (status != 200)
		return why_fail(why, cap, "HTTP status %d (only 200 is accepted; no redirects)",
		                status);
	const char *line = memchr(buf, '\n', (size_t)(end - buf));
	for (line = line + 1; line < end - 2;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL || eol == line || eol[-1] != '\r')
			return why_fail(why, cap, "a malformed header line");
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line)
			return why_fail(why, cap, "a malformed header line");
		for (const char *p = line; p < colon; p++)
			if (!is_token_char(*p)) /* includes obs-fold's leading whitespace */
				return why_fail(why, cap, "a malformed header name");
		const char *v;
		size_t vn;
		header_value(colon + 1, eol - 1, &v, &vn);
		size_t nlen = (size_t)(colon - line);
		if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
			if (vn != 7 || strncasecmp(v, "chunked", 7) != 0 || fr->chunked)
				return why_fail(why, cap, "an unsupported transfer encoding");
			fr->chunked = 1;
		} else if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
			size_t n = 0;
			if (vn == 0 || vn > 12)
				return why_fail(why, cap, "a bad Content-Length");
			for (size_t i = 0; i < vn; i++) {
				if (v[i] < '0' || v[i] > '9')
					return why_fail(why, cap, "a bad Content-Length");
				n = n * 10 + (size_t)(v[i] - '0');
			}
			if (fr->has_length && fr->length != n)
				return why_fail(why, cap, "conflicting Content-Length headers");
			fr->has_length = 1;
			fr->length = n;
		}
		line = eol + 1;
	}
	if (fr->chunked && fr->has_length)
		return why_fail(why, cap, "both Content-Length and chunked");
	if (fr->has_length && fr->length > max_body)
		return why_fail(why, cap, "a body over %zu bytes", max_body);
	return 0;
}

/* The size of the chunk-size line [line, eol] (eol at its '\n'): 1..8 hex
 * digits, an optional ";extension", then CRLF. 0, or -1 when malformed. */
static int chunk_size(const char *line, const char *eol, size_t *size)
{
	if (eol == line || eol[-1] != '\r')
		return -1;
	size_t v = 0;
	int digits = 0;
	for (const char *q = line; q < eol - 1 && *q != ';'; q++, digits++) {
		int d = hex_digit((unsigned char)*q);
		if (d < 0 || digits >= 8)
			return -1;
		v = v * 16 + (size_t)d;
	}
	if (digits == 0)
		return -1;
	*size = v;
	return 0;
}

/* De-chunk [p, end). 1 complete (*out owned), 0 incomplete, -1 malformed. */
static int dechunk(const char *p, const char *end, size_t max_body, char **out, size_t *out_len,
                   char *why, size_t cap)
{
	/* The decoded body is never longer than its encoding: one allocation. */
	char *dst = malloc((size_t)(end - p) + 1);
	if (dst == NULL)
		return why_fail(why, cap, "out of memory");
	size_t n = 0;
	for (;;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL) {
			free(dst);
			return (size_t)(end - p) > 64 ? why_fail(why, cap, "a malformed chunk size")
			                              : 0;
		}
		size_t size = 0;
		if (chunk_size(p, eol, &size) != 0) {
			free(dst);
			return why_fail(why, cap, "a malformed chunk size");
		}
		p = eol + 1;
		if (size == 0) {
			/* Trailers (ignored) up to the blank line. */
			for (;;) {
				const char *t = memchr(p, '\n', (size_t)(end - p));
				if (t == NULL) {
					free(dst);
					return 0;
				}
				if (t == p || t[-1] != '\r') {
					free(dst);
					return why_fail(why, cap, "a malformed trailer");
				}
				if (t == p + 1) {
					*out = dst;
					*out_len = n;
					return 1;
				}
				p = t + 1;
			}
		}
		if (size > max_body - n) {
			free(dst);
			return why_fail(why, cap, "a body over %zu bytes", max_body);
		}
		if ((size_t)(end - p) < size + 2) {
			free(dst);
			return 0;
		}
		if (p[size] != '\r' || p[size + 1] != '\n') {
			free(dst);
			return why_fail(why, cap, "a chunk without its CRLF");
		}
		memcpy(dst + n, p, size);
		n += size;
		p += size + 2;
	}
}

int https_response_parse(const char *buf, size_t len, int eof, size_t max_body, const char **body,
                         size_t *body_len, char **owned, char *why, size_t why_cap)
{
	*body = NULL;
	*body_len = 0;
	*owned = NULL;
	const char *head_end = find_crlf2(buf, len < MAX_HEADER_BYTES ? len : MAX_HEADER_BYTES);
	if (head_end == NULL) {
		if (len >= MAX_HEADER_BYTES)
			return why_fail(why, why_cap, "response headers over %d bytes",
			                MAX_HEADER_BYTES);
		return eof ? why_fail(why, why_cap, "the connection closed inside the headers") : 0;
	}
	struct framing fr;
	if (parse_head(buf, head_end, max_body, &fr, why, why_cap) != 0)
		return -1;
	size_t have = len - (size_t)(head_end - buf);
	if (fr.chunked) {
		char *out = NULL;
		size_t n = 0;
		int rc = dechunk(head_end, buf + len, max_body, &out, &n, why, why_cap);
		if (rc == 1) {
			*owned = out;
			*body = out;
			*body_len = n;
			return 1;
		}
		if (rc == 0 && eof)
			return why_fail(why, why_cap, "the connection closed inside the body");
		return rc;
	}
	if (fr.has_length) {
		if (have >= fr.length) {
			*body = head_end;
			*body_len = fr.length;
			return 1;
		}
		return eof ? why_fail(why, why_cap, "the connection closed inside the body") : 0;
	}
	if (have > max_body)
		return why_fail(why, why_cap, "a body over %zu bytes", max_body);
	if (!eof)
		return 0;
	*body = head_end;
	*body_len = have;
	return 1;
}

/* ---- the exchange ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to become readable/writable before the deadline. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = events};
		int rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc == 0 || errno != EINTR)
			return -1;
	}
}

static int connect_checked(const https_url *u, const https_get_options *opt, int64_t deadline,
                           char *why, size_t cap)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	if (u->host_is_ip)
		hints.ai_flags = AI_NUMERICHOST;
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(u->host, u->port, &hints, &res);
	if (gai != 0)
		return why_fail(why, cap, "cannot resolve %s: %s", u->host, gai_strerror(gai));
	int fd = -1, refused = 0, tried = 0;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (!opt->allow_private && !https_addr_is_public(ai->ai_addr)) {
			refused++;
			continue;
		}
		tried++;
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               ai->ai_protocol);
		if (s < 0)
			continue;
		int err = 0;
		socklen_t elen = sizeof err;
		if ((connect(s, ai->ai_addr, ai->ai_addrlen) == 0 ||
		     (errno == EINPROGRESS && wait_fd(s, POLLOUT, deadline) == 0 &&
		      getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)))
			fd = s;
		else
			close(s);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (tried == 0 && refused > 0)
			return why_fail(why, cap, "%s resolves only to non-public addresses",
			                u->host);
		if (now_ms() >= deadline) /* the deadline bounds the whole fetch */
			return why_fail(why, cap, "connecting to %s:%s timed out", u->host,
			                u->port);
		return why_fail(why, cap, "cannot connect to %s:%s", u->host, u->port);
	}
	return fd;
}

/* Drive a non-blocking TLS call until it completes or the deadline passes.
 * Returns the call's result (> 0), 0 on a clean close, -1 on failure. */
static int tls_wait(SSL *ssl, int fd, int rc, int64_t deadline)
{
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return wait_fd(fd, POLLIN, deadline) == 0 ? 1 : -1;
	if (e == SSL_ERROR_WANT_WRITE)
		return wait_fd(fd, POLLOUT, deadline) == 0 ? 1 : -1;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	return -1;
}

static SSL_CTX *client_ctx(const https_get_options *opt, char *why, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		why_fail(why, cap, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1 ||
	    (opt->ca_file != NULL && SSL_CTX_load_verify_locations(ctx, opt->ca_file, NULL) != 1)) {
		SSL_CTX_free(ctx);
		why_fail(why, cap, "cannot load the trust anchors%s%s",
		         opt->ca_file ? " from " : "", opt->ca_file ? opt->ca_file : "");
		return NULL;
	}
	return ctx;
}

static int tls_open(SSL *ssl, const https_url *u, int fd, int64_t deadline, char *why, size_t cap)
{
	if (SSL_set_fd(ssl, fd) != 1)
		return why_fail(why, cap, "cannot attach the socket");
	if (u->host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host) != 1)
			return why_fail(why, cap, "cannot pin the certificate to %s", u->host);
	} else if (SSL_set_tlsext_host_name(ssl, u->host) != 1 ||
	           SSL_set1_host(ssl, u->host) != 1) {
		return why_fail(why, cap, "cannot pin the certificate to %s", u->host);
	}
	for (;;) {
		int rc = SSL_connect(ssl);
		if (rc == 1)
			return 0;
		if (tls_wait(ssl, fd, rc, deadline) != 1) {
			long vr = SSL_get_verify_result(ssl);
			if (vr != X509_V_OK)
				return why_fail(why, cap, "TLS certificate of %s refused: %s",
				                u->host, X509_verify_cert_error_string(vr));
			if (now_ms() >= deadline)
				return why_fail(why, cap, "TLS handshake with %s timed out",
				                u->host);
			return why_fail(why, cap, "TLS handshake with %s failed", u->host);
		}
	}
}

static int tls_send(SSL *ssl, int fd, const char *data, size_t len, int64_t deadline)
{
	while (len > 0) {
		size_t n = 0;
		int rc = SSL_write_ex(ssl, data, len, &n);
		if (rc == 1) {
			data += n;
			len -= n;
		} else if (tls_wait(ssl, fd, rc, deadline) != 1) {
			return -1;
		}
	}
	return 0;
}

/* How far a response has been read: its head once complete, and for a
 * chunked body how far its chunks have been walked — so each byte is looked
 * at a bounded number of times however the peer slices its writes. */
struct progress {
	size_t scanned;  /* bytes searched for the end of the head */
	size_t head_len; /* 0 until the head is complete */
	struct framing fr;
	size_t chunk_pos; /* body offset of the next chunk-size (or trailer) line */
	size_t decoded;   /* chunk data bytes seen */
	int in_trailers;
};

/* Walk the complete chunks of body[0, len) from p->chunk_pos. 1 when the
 * last chunk and trailers are in, 0 for more, -1 malformed or too big. */
static int chunk_walk(struct progress *p, const char *body, size_t len, size_t max_body, char *why,
                      size_t cap)
{
	for (;;) {
		const char *line = body + p->chunk_pos;
		size_t avail = len - p->chunk_pos;
		const char *eol = memchr(line, '\n', avail);
		if (eol == NULL)
			return avail > 64 && !p->in_trailers
			           ? why_fail(why, cap, "a malformed chunk size")
			           : 0;
		if (eol == line || eol[-1] != '\r')
			return why_fail(why, cap, "a malformed chunk line");
		size_t line_len = (size_t)(eol - line) + 1;
		if (p->in_trailers) {
			p->chunk_pos += line_len;
			if (line_len == 2)
				return 1;
			continue;
		}
		size_t size = 0;
		if (chunk_size(line, eol, &size) != 0)
			return why_fail(why, cap, "a malformed chunk size");
		if (size == 0) {
			p->in_trailers = 1;
			p->chunk_pos += line_len;
			continue;
		}
		if (size > max_body - p->decoded)
			return why_fail(why, cap, "a body over %zu bytes", max_body);
		if (avail < line_len + size + 2)
			return 0;
		if (line[line_len + size] != '\r' || line[line_len + size + 1] != '\n')
			return why_fail(why, cap, "a chunk without its CRLF");
		p->chunk_pos += line_len + size + 2;
		p->decoded += size;
	}
}

/* Whether the response in buf is complete (1), needs more (0), or is bad
 * (-1), looking only at what arrived since the last call. */
static int response_complete(struct progress *p, const char *buf, size_t len, int eof,
                             size_t max_body, char *why, size_t cap)
{
	if (p->head_len == 0) {
		size_t from = p->scanned > 3 ? p->scanned - 3 : 0;
		size_t upto = len < MAX_HEADER_BYTES ? len : MAX_HEADER_BYTES;
		const char *end = upto > from ? find_crlf2(buf + from, upto - from) : NULL;
		p->scanned = upto;
		if (end == NULL) {
			if (len >= MAX_HEADER_BYTES)
				return why_fail(why, cap, "response headers over %d bytes",
				                MAX_HEADER_BYTES);
			return 0;
		}
		p->head_len = (size_t)(end - buf);
		if (parse_head(buf, end, max_body, &p->fr, why, cap) != 0)
			return -1;
	}
	size_t body = len - p->head_len;
	if (p->fr.chunked)
		return chunk_walk(p, buf + p->head_len, body, max_body, why, cap);
	if (p->fr.has_length)
		return body >= p->fr.length;
	if (body > max_body)
		return why_fail(why, cap, "a body over %zu bytes", max_body);
	return eof;
}

struct rx {
	char *buf;
	size_t len, cap;
};

static int exchange(SSL *ssl, int fd, const https_url *u, size_t max_body, int64_t deadline,
                    char **body, size_t *body_len, char *why, size_t cap)
{
	char req[2400];
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nAccept: application/json\r\n"
	                 "User-Agent: caracal\r\nConnection: close\r\n\r\n",
	                 u->target, strchr(u->host, ':') ? "[" : "", u->host,
	                 strchr(u->host, ':') ? "]" : "", strcmp(u->port, "443") ? ":" : "",
	                 strcmp(u->port, "443") ? u->port : "");
	if (n < 0 || (size_t)n >= sizeof req || tls_send(ssl, fd, req, (size_t)n, deadline) != 0)
		return why_fail(why, cap, "cannot send the request to %s", u->host);
	struct rx rx = {0};
	struct progress prog = {0};
	size_t limit = MAX_HEADER_BYTES + max_body + MAX_FRAMING_BYTES;
	int done = 0, eof = 0;
	while (!done) {
		/* The deadline bounds the whole exchange, also while data keeps
		 * arriving (a trickling peer must not hold a worker). */
		if (now_ms() >= deadline) {
			free(rx.buf);
			return why_fail(why, cap, "reading from %s timed out", u->host);
		}
		if (rx.cap - rx.len < 4096) {
			size_t ncap = rx.cap ? rx.cap * 2 : 8192;
			if (ncap > limit + 1)
				ncap = limit + 1;
			char *g = ncap > rx.len ? realloc(rx.buf, ncap) : NULL;
			if (g == NULL) {
				free(rx.buf);
				return why_fail(why, cap, "response from %s over %zu bytes",
				                u->host, limit);
			}
			rx.buf = g;
			rx.cap = ncap;
		}
		size_t got = 0;
		int r = SSL_read_ex(ssl, rx.buf + rx.len, rx.cap - rx.len, &got);
		if (r == 1) {
			rx.len += got;
		} else {
			int w = tls_wait(ssl, fd, r, deadline);
			if (w < 0) {
				free(rx.buf);
				return why_fail(why, cap, "reading from %s failed or timed out",
				                u->host);
			}
			eof = w == 0;
		}
		int rc = response_complete(&prog, rx.buf, rx.len, eof, max_body, why, cap);
		if (rc < 0 || (rc == 0 && eof)) {
			if (rc == 0)
				why_fail(why, cap, "the connection closed inside the %s",
				         prog.head_len > 0 ? "body" : "headers");
			free(rx.buf);
			return -1;
		}
		done = rc == 1;
	}
	/* Complete: decode it once. */
	const char *b = NULL;
	size_t blen = 0;
	char *owned = NULL;
	if (https_response_parse(rx.buf, rx.len, eof, max_body, &b, &blen, &owned, why, cap) != 1) {
		free(rx.buf);
		return -1;
	}
	char *out = malloc(blen + 1);
	if (out != NULL) {
		memcpy(out, b, blen);
		out[blen] = '\0';
	}
	free(owned);
	free(rx.buf);
	if (out == NULL)
		return why_fail(why, cap, "out of memory");
	*body = out;
	*body_len = blen;
	return 0;
}

int https_get(const char *url, const https_get_options *opt, char **body, size_t *len, char *why,
              size_t why_cap)
{
	static const https_get_options defaults = {0};
	if (opt == NULL)
		opt = &defaults;
	*body = NULL;
	*len = 0;
	https_url u;
	if (https_url_parse(url, &u, why, why_cap) != 0)
		return -1;
	int timeout = opt->timeout_ms > 0 ? opt->timeout_ms : DEFAULT_TIMEOUT_MS;
	size_t max_body = opt->max_body > 0 ? opt->max_body : DEFAULT_MAX_BODY;
	int64_t deadline = now_ms() + timeout;
	SSL_CTX *ctx = client_ctx(opt, why, why_cap);
	if (ctx == NULL)
		return -1;
	int rc = -1;
	SSL *ssl = SSL_new(ctx);
	int fd = ssl != NULL ? connect_checked(&u, opt, deadline, why, why_cap) : -1;
	if (ssl == NULL)
		why_fail(why, why_cap, "cannot create a TLS session");
	if (fd >= 0 && tls_open(ssl, &u, fd, deadline, why, why_cap) == 0)
		rc = exchange(ssl, fd, &u, max_body, deadline, body, len, why, why_cap);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ERR_clear_error(); /* this thread's queue must not leak into later calls */
	return rc;
}
