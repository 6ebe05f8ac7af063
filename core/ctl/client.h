/*
 * client.h — caracalctl's small blocking HTTP/1.1 client for the admin API.
 *
 * One request per connection ("Connection: close"), numeric addresses only
 * (the admin.listen of the config; a wildcard bind is reached on loopback),
 * one deadline for connect + send + receive, and a bound on the response.
 * Responses are framed by Content-Length or by the connection closing;
 * chunked responses are refused (caracald never sends them). No TLS: the
 * admin listener is expected on loopback or behind a TLS terminator.
 */
#ifndef CARACAL_CTL_CLIENT_H
#define CARACAL_CTL_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#define CTL_MAX_RESPONSE (4u << 20)   /* 4 MiB */
#define CTL_MAX_RESPONSE_HEAD (16384) /* status line + header section */

typedef struct ctl_endpoint {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[160]; /* for the Host header */
} ctl_endpoint;

typedef struct ctl_http_req {
	const char *method;
	const char *path;
	const char *token; /* bearer token (may be NULL) */
	size_t token_len;
	const char *content_type; /* NULL: no body */
	const char *body;
	size_t body_len;
} ctl_http_req;

typedef struct ctl_response {
	int status;
	char content_type[128];
	char *body; /* NUL-terminated, malloc'd; "" when none */
	size_t body_len;
} ctl_response;

/* "host:port" (numeric, as in admin.listen). 0 or -1 with why. */
int ctl_endpoint_parse(const char *listen_text, ctl_endpoint *out, char *why, size_t cap);

/* Parse what was received so far. 1: complete (out filled, body malloc'd),
 * 0: more is needed, -1: malformed or over max (why). eof: the peer closed. */
int ctl_http_parse_response(const char *buf, size_t len, int eof, size_t max, ctl_response *out,
                            char *why, size_t cap);

/* Send rq and read the response within timeout_ms. 0, or -1 with why. */
int ctl_http_call(const ctl_endpoint *ep, const ctl_http_req *rq, int timeout_ms, size_t max,
                  ctl_response *out, char *why, size_t cap);

void ctl_response_free(ctl_response *r);

#endif
