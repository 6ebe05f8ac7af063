/*
 * https_get.h — a small, guarded HTTPS GET client for fetching documents from
 * places an operator registered but an attacker may influence (a federated
 * issuer's JWKS today; provider token endpoints later).
 *
 * The guard (spec sts.md §2.11, "SSRF-guarded client"):
 *   - https only; no userinfo, no fragment; the host is a DNS name or an IP
 *     literal, the port explicit or 443;
 *   - every resolved address is checked before connecting, and the socket
 *     connects to that checked address (never re-resolved, so DNS rebinding
 *     between check and connect is not possible): loopback, private,
 *     link-local (cloud metadata), CGNAT, multicast, reserved and
 *     unspecified ranges are refused — IPv4-mapped IPv6 included — unless
 *     the caller allows private networks (development and tests only);
 *   - the certificate must chain to the system trust store (or the given CA
 *     file) and match the host name (or IP literal); TLS 1.2 or newer;
 *   - one request, no redirects (any status but 200 fails), a deadline over
 *     the whole exchange, and a bound on the body.
 *
 * It blocks the calling thread for at most the deadline (name resolution
 * uses the system resolver and is not covered by it: an unreachable DNS
 * server can add its own timeout). Callers cache what they fetch.
 */
#ifndef CARACAL_CORE_HTTPS_GET_H
#define CARACAL_CORE_HTTPS_GET_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct https_get_options {
	int allow_private;   /* permit non-public addresses (never in production) */
	const char *ca_file; /* extra trust anchors (PEM); NULL: system store only */
	int timeout_ms;      /* whole exchange; <= 0: 5000 */
	size_t max_body;     /* 0: 256 KiB */
} https_get_options;

/* Fetch url. 0: *body (malloc'd, NUL-terminated; the caller frees it) and
 * *len; -1: nothing allocated, a reason in why. */
int https_get(const char *url, const https_get_options *opt, char **body, size_t *len, char *why,
              size_t why_cap);

/* ---- exposed for tests and fuzzing ---------------------------------------- */

typedef struct https_url {
	char host[256]; /* without brackets for IPv6 */
	char port[6];
	char target[2048]; /* path and query, starting with '/' */
	int host_is_ip;
} https_url;

/* 0, or -1 with why. */
int https_url_parse(const char *url, https_url *out, char *why, size_t why_cap);

/* Whether a connection to addr is allowed when private networks are not. */
int https_addr_is_public(const struct sockaddr *addr);

/* Parse a complete or partial HTTP/1.x response in buf. Returns 1 when the
 * response is complete (*body, *body_len: the decoded body; *owned is set
 * when the body had to be de-chunked into new memory the caller frees),
 * 0 when more bytes are needed (eof: no more will come, so a body delimited
 * by the connection's close is complete), -1 on a malformed response, a
 * status other than 200, or a body over max_body (why says which). */
int https_response_parse(const char *buf, size_t len, int eof, size_t max_body, const char **body,
                         size_t *body_len, char **owned, char *why, size_t why_cap);

#endif
