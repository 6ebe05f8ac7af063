/* client.c — see client.h. */
#include "ctl/client.h"

#include "daemon/settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

__attribute__((format(printf, 3, 4))) static int why_set(char *why, size_t cap, const char *fmt,
                                                         ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}
#define WHY(...) why_set(why, cap, __VA_ARGS__)

int ctl_endpoint_parse(const char *listen_text, ctl_endpoint *out, char *why, size_t cap)
{
	listen_addr la;
	caracal_error e = {0};
	memset(out, 0, sizeof *out);
	if (settings_parse_listen(listen_text, &la, &e) != CARACAL_OK)
		return WHY("admin.listen: %s", e.message);
	out->addr = la.addr;
	out->addr_len = la.addr_len;
	char ip[INET6_ADDRSTRLEN] = "";
	int port;
	if (out->addr.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->addr;
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
		port = ntohs(s4->sin_port);
		snprintf(out->host, sizeof out->host, "%s:%d", ip, port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->addr;
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
		port = ntohs(s6->sin6_port);
		snprintf(out->host, sizeof out->host, "[%s]:%d", ip, port);
	}
	if (port == 0)
		return WHY(
		    "admin.listen has port 0; name the real port with --set admin.listen=...");
	return 0;
}

void ctl_response_free(ctl_response *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

static const char *find_crlfcrlf(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n')
			return buf + i;
	return NULL;
}

int ctl_http_parse_response(const char *buf, size_t len, int eof, size_t max, ctl_response *out,
                            char *why, size_t cap)
{
	memset(out, 0, sizeof *out);
	for (;;) {
		const char *end = find_crlfcrlf(buf, len);
		if (end == NULL) {
			if (len > CTL_MAX_RESPONSE_HEAD)
				return WHY("the response header section is too large");
			if (eof)
				return WHY("the connection closed before a complete response");
			return 0;
		}
		size_t head_len = (size_t)(end - buf) + 4;
		if (head_len > CTL_MAX_RESPONSE_HEAD)
			return WHY("the response header section is too large");
		/* Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF */
		if (head_len < 14 || strncmp(buf, "HTTP/1.", 7) != 0 ||
		    !isdigit((unsigned char)buf[7]) || buf[8] != ' ' ||
		    !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
		    !isdigit((unsigned char)buf[11]) || (buf[12] != ' ' && buf[12] != '\r'))
			return WHY("malformed status line");
		int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
		if (status < 100 || status > 599)
			return WHY("malformed status line");
		const char *line = memchr(buf, '\n', head_len);
		long long clen = -1;
		char ctype[128] = "";
		while (line != NULL && line + 1 < end) {
			const char *h = line + 1;
			const char *eol = memchr(h, '\r', (size_t)(end + 2 - h));
			if (eol == NULL || eol[1] != '\n')
				return WHY("malformed header line");
			const char *colon = memchr(h, ':', (size_t)(eol - h));
			if (colon == NULL || colon == h)
				return WHY("malformed header line");
			size_t nlen = (size_t)(colon - h);
			const char *v = colon + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(eol - v);
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (nlen == 14 && strncasecmp(h, "Content-Length", 14) == 0) {
				long long n = 0;
				if (vlen == 0 || vlen > 15)
					return WHY("invalid Content-Length");
				for (size_t i = 0; i < vlen; i++) {
					if (!isdigit((unsigned char)v[i]))
						return WHY("invalid Content-Length");
					n = n * 10 + (v[i] - '0');
				}
				if (clen >= 0 && clen != n)
					return WHY("conflicting Content-Length fields");
				clen = n;
			} else if (nlen == 17 && strncasecmp(h, "Transfer-Encoding", 17) == 0) {
				return WHY("chunked responses are not supported");
			} else if (nlen == 12 && strncasecmp(h, "Content-Type", 12) == 0) {
				snprintf(ctype, sizeof ctype, "%.*s", (int)vlen, v);
			}
			line = eol + 1;
		}
		if (status < 200) { /* interim (100 Continue): skip it */
			buf += head_len;
			len -= head_len;
			continue;
		}
		size_t avail = len - head_len;
		size_t blen;
		if (status == 204 || status == 304) {
			blen = 0;
		} else if (clen >= 0) {
			if ((unsigned long long)clen > max)
				return WHY("the response is larger than %zu bytes", max);
			if (avail < (size_t)clen) {
				if (eof)
					return WHY(
					    "the connection closed before the body was complete");
				return 0;
			}
			blen = (size_t)clen;
		} else {
			if (avail > max)
				return WHY("the response is larger than %zu bytes", max);
			if (!eof)
				return 0;
			blen = avail;
		}
		out->body = malloc(blen + 1);
		if (out->body == NULL)
			return WHY("out of memory");
		memcpy(out->body, buf + head_len, blen);
		out->body[blen] = '\0';
		out->body_len = blen;
		out->status = status;
		snprintf(out->content_type, sizeof out->content_type, "%s", ctype);
		return 1;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n > 0)
			return 1;
	}
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline, char *why, size_t cap)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r == 0)
				return WHY("timed out sending the request");
			if (r < 0)
				return WHY("poll: %s", strerror(errno));
			continue;
		}
		return WHY("send: %s", strerror(errno));
	}
	return 0;
}

int ctl_http_call(const ctl_endpoint *ep, const ctl_http_req *rq, int timeout_ms, size_t max,
                  ctl_response *out, char *why, size_t cap)
{
	memset(out, 0, sizeof *out);
	int64_t deadline = now_ms() + timeout_ms;
	int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return WHY("socket: %s", strerror(errno));
	char *buf = NULL, *head = NULL;
	int rc = -1;
	if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addr_len) != 0) {
		if (errno != EINPROGRESS) {
			WHY("cannot connect to %s: %s", ep->host, strerror(errno));
			goto out;
		}
		int r = wait_fd(fd, POLLOUT, deadline);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (r == 0) {
			WHY("timed out connecting to %s", ep->host);
			goto out;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			WHY("cannot connect to %s: %s", ep->host, strerror(soerr ? soerr : errno));
			goto out;
		}
	}
	/* Head: request line and headers; the token is never logged. */
	size_t hcap = 512 + strlen(rq->path) + rq->token_len + 64;
	head = malloc(hcap);
	if (head == NULL) {
		WHY("out of memory");
		goto out;
	}
	int n = snprintf(head, hcap,
	                 "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	                 "Accept: application/json\r\nUser-Agent: caracalctl\r\n",
	                 rq->method, rq->path, ep->host);
	if (rq->token != NULL)
		n += snprintf(head + n, hcap - (size_t)n, "Authorization: Bearer %.*s\r\n",
		              (int)rq->token_len, rq->token);
	if (rq->content_type != NULL)
		n += snprintf(head + n, hcap - (size_t)n, "Content-Type: %s\r\n", rq->content_type);
	n += snprintf(head + n, hcap - (size_t)n, "Content-Length: %zu\r\n\r\n",
	              rq->content_type != NULL ? rq->body_len : 0);
	if ((size_t)n >= hcap) {
		WHY("request head too large");
		goto out;
	}
	if (send_all(fd, head, (size_t)n, deadline, why, cap) != 0 ||
	    (rq->content_type != NULL && rq->body_len > 0 &&
	     send_all(fd, rq->body, rq->body_len, deadline, why, cap) != 0))
		goto out;
	size_t bcap = 8192, len = 0, limit = max + CTL_MAX_RESPONSE_HEAD;
	buf = malloc(bcap);
	if (buf == NULL) {
		WHY("out of memory");
		goto out;
	}
	for (;;) {
		if (len == bcap) {
			if (bcap >= limit) {
				WHY("the response is larger than %zu bytes", max);
				goto out;
			}
			size_t nc = bcap * 2 > limit ? limit : bcap * 2;
			char *nb = realloc(buf, nc);
			if (nb == NULL) {
				WHY("out of memory");
				goto out;
			}
			buf = nb;
			bcap = nc;
		}
		ssize_t r = recv(fd, buf + len, bcap - len, 0);
		int eof = r == 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int w = wait_fd(fd, POLLIN, deadline);
				if (w == 0) {
					WHY("timed out waiting for the response from %s", ep->host);
					goto out;
				}
				if (w < 0) {
					WHY("poll: %s", strerror(errno));
					goto out;
				}
				continue;
			}
			WHY("recv: %s", strerror(errno));
			goto out;
		}
		len += (size_t)r;
		int p = ctl_http_parse_response(buf, len, eof, max, out, why, cap);
		if (p < 0)
			goto out;
		if (p == 1) {
			rc = 0;
			goto out;
		}
		if (eof) {
			WHY("the connection closed before a complete response");
			goto out;
		}
	}
out:
	if (head != NULL) {
		explicit_bzero(head, hcap);
		free(head);
	}
	free(buf);
	close(fd);
	return rc;
}
