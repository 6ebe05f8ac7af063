/* Unit tests of the guarded HTTPS client: URL rules, the address guard, the
 * response parser, and real TLS exchanges with a local server whose
 * certificate the test mints (trusted through ca_file). */
#include "util/https_get.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- URL ---------------------------------------------------------------------- */

static void test_url_rules(void **state)
{
	(void)state;
	https_url u;
	char why[128];
	assert_int_equal(https_url_parse("https://idp.example.com/keys?x=1", &u, why, sizeof why),
	                 0);
	assert_string_equal(u.host, "idp.example.com");
	assert_string_equal(u.port, "443");
	assert_string_equal(u.target, "/keys?x=1");
	assert_false(u.host_is_ip);
	assert_int_equal(https_url_parse("HTTPS://127.0.0.1:8443", &u, why, sizeof why), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "8443");
	assert_string_equal(u.target, "/");
	assert_true(u.host_is_ip);
	assert_int_equal(https_url_parse("https://[::1]:9/j", &u, why, sizeof why), 0);
	assert_string_equal(u.host, "::1");
	assert_true(u.host_is_ip);
	assert_int_equal(https_url_parse("https://h?q", &u, why, sizeof why), 0);
	assert_string_equal(u.target, "/?q");

	static const char *const bad[] = {
	    "http://idp.example.com/keys",     /* plain HTTP */
	    "https://user:pw@idp.example.com", /* userinfo */
	    "https://idp.example.com/k#frag",  /* fragment */
	    "https://idp.example.com:0/",      /* port 0 */
	    "https://idp.example.com:65536/",  /* port too big */
	    "https://idp.example.com:/",       /* empty port */
	    "https://idp.exa_mple.com/",       /* bad host char */
	    "https:///keys",                   /* no host */
	    "https://[::1/keys",               /* unterminated literal */
	    "https://[nothex]/",               /* not IPv6 */
	    "https://h/a b",                   /* space in the path */
	    "https://h/a\x01",                 /* control in the path */
	    "ftp://h/",
	    "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (https_url_parse(bad[i], &u, why, sizeof why) == 0)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(https_url_parse(NULL, &u, why, sizeof why), -1);
}

/* ---- address guard ------------------------------------------------------------ */

static int public4(const char *text)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
	return https_addr_is_public((struct sockaddr *)&a);
}

static int public6(const char *text)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	return https_addr_is_public((struct sockaddr *)&a);
}

static void test_address_guard(void **state)
{
	(void)state;
	static const char *const blocked4[] = {
	    "127.0.0.1",       "127.255.1.2",     "10.1.2.3",   "172.16.0.1",  "172.31.255.255",
	    "192.168.1.1",     "169.254.169.254", "100.64.0.1", "0.0.0.0",     "224.0.0.1",
	    "255.255.255.255", "198.18.0.1",      "192.0.2.10", "203.0.113.5",
	};
	for (size_t i = 0; i < sizeof blocked4 / sizeof blocked4[0]; i++)
		if (public4(blocked4[i]))
			fail_msg("%s counted as public", blocked4[i]);
	assert_true(public4("8.8.8.8"));
	assert_true(public4("172.32.0.1"));
	assert_true(public4("100.128.0.1"));
	assert_true(public4("169.255.0.1"));

	static const char *const blocked6[] = {
	    "::1",
	    "::",
	    "::ffff:127.0.0.1",
	    "::ffff:169.254.169.254",
	    "fe80::1",
	    "fc00::1",
	    "fd12:3456::1",
	    "ff02::1",
	    "2001:db8::1",
	    "64:ff9b::10.0.0.1",
	    "2002:7f00:1::",
	    "2001::1",
	    "::127.0.0.1",
	};
	for (size_t i = 0; i < sizeof blocked6 / sizeof blocked6[0]; i++)
		if (public6(blocked6[i]))
			fail_msg("%s counted as public", blocked6[i]);
	assert_true(public6("2606:4700::1111"));
	assert_true(public6("::ffff:8.8.8.8"));
	assert_true(public6("2002:0808:0808::1"));

	struct sockaddr other = {.sa_family = AF_UNIX};
	assert_false(https_addr_is_public(&other));
}

/* ---- response parser -------------------------------------------------------------- */

static int parse(const char *resp, int eof, size_t max, char *body_out, size_t cap)
{
	const char *b;
	size_t n;
	char *owned = NULL;
	char why[128];
	int rc =
	    https_response_parse(resp, strlen(resp), eof, max, &b, &n, &owned, why, sizeof why);
	if (rc == 1 && body_out != NULL) {
		assert_true(n < cap);
		memcpy(body_out, b, n);
		body_out[n] = '\0';
	}
	free(owned);
	return rc;
}

static void test_response_parser(void **state)
{
	(void)state;
	char body[256];
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 100, body, sizeof body),
	    1);
	assert_string_equal(body, "hello");
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 0, 100, NULL, 0),
	                 0);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 1, 100, NULL, 0),
	                 -1);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Le", 0, 100, NULL, 0), 0);
	assert_int_equal(parse("HTTP/1.0 200 OK\r\nX: y\r\n\r\nuntil-close", 0, 100, NULL, 0), 0);
	assert_int_equal(
	    parse("HTTP/1.0 200 OK\r\nX: y\r\n\r\nuntil-close", 1, 100, body, sizeof body), 1);
	assert_string_equal(body, "until-close");
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
	                       0, 100, body, sizeof body),
	                 1);
	assert_string_equal(body, "abcde");
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", 0, 100, NULL, 0),
	    0);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0,
	                       100, body, sizeof body),
	                 1);
	assert_string_equal(body, "");

	static const char *const bad[] = {
	    "HTTP/1.1 302 Found\r\nLocation: https://evil/\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/2 200\r\n\r\n",
	    "HTTP/1.1 2x0 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",                    /* over max */
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", /* conflict */
	    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", /* a bare LF */
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",        /* 101 > max */
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n123456789\r\n", /* 9 digits */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parse(bad[i], 0, 100, NULL, 0) != -1)
			fail_msg("accepted response %zu", i);
	/* A body delimited by close that grows past the bound fails early. */
	char big[400];
	snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\n\r\n%0200d", 0);
	assert_int_equal(parse(big, 0, 100, NULL, 0), -1);
	/* Headers that never end are refused once over the bound. */
	size_t hn = 17000;
	char *huge = malloc(hn + 1);
	assert_non_null(huge);
	memcpy(huge, "HTTP/1.1 200 OK\r\n", 17);
	memset(huge + 17, 'a', hn - 17);
	huge[hn] = '\0';
	assert_int_equal(parse(huge, 0, 100, NULL, 0), -1);
	free(huge);
}

/* ---- real TLS exchanges ---------------------------------------------------------------- */

struct cert {
	EVP_PKEY *key;
	X509 *x509;
};

static struct cert make_cert(const char *cn, const char *san)
{
	struct cert c;
	c.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(c.key);
	c.x509 = X509_new();
	assert_non_null(c.x509);
	ASN1_INTEGER_set(X509_get_serialNumber(c.x509), 1);
	X509_gmtime_adj(X509_getm_notBefore(c.x509), -60);
	X509_gmtime_adj(X509_getm_notAfter(c.x509), 3600);
	X509_set_pubkey(c.x509, c.key);
	X509_NAME *name = X509_get_subject_name(c.x509);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c.x509, name);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, c.x509, c.x509, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	assert_non_null(ext);
	X509_add_ext(c.x509, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(c.x509, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(c.x509, c.key, EVP_sha256()) > 0);
	return c;
}

static void free_cert(struct cert *c)
{
	X509_free(c->x509);
	EVP_PKEY_free(c->key);
}

/* One connection served with a canned response (or a stall). */
struct server {
	int lfd;
	int port;
	const struct cert *cert;
	const char *response;
	size_t response_len;
	int stall_ms;
	int trickle_ms; /* > 0: one byte per TLS record, this far apart */
	char request[2048];
	pthread_t th;
};

static void *serve_one(void *p)
{
	struct server *s = p;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(ctx, s->cert->x509);
	SSL_CTX_use_PrivateKey(ctx, s->cert->key);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		size_t n = 0;
		while (n < sizeof s->request - 1 && strstr(s->request, "\r\n\r\n") == NULL) {
			int r = SSL_read(ssl, s->request + n, (int)(sizeof s->request - 1 - n));
			if (r <= 0)
				break;
			n += (size_t)r;
			s->request[n] = '\0';
		}
		if (s->stall_ms > 0)
			usleep((useconds_t)s->stall_ms * 1000);
		if (s->trickle_ms > 0) {
			for (size_t i = 0; i < s->response_len; i++) {
				if (SSL_write(ssl, s->response + i, 1) != 1)
					break;
				usleep((useconds_t)s->trickle_ms * 1000);
			}
		} else {
			SSL_write(ssl, s->response, (int)s->response_len);
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return NULL;
}

static void server_start(struct server *s, const struct cert *cert, const char *response)
{
	memset(s, 0, sizeof *s);
	s->cert = cert;
	s->response = response;
	s->response_len = strlen(response);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	socklen_t len = sizeof a;
	getsockname(s->lfd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, serve_one, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR); /* wakes accept when the client never came */
	pthread_join(s->th, NULL);
	close(s->lfd);
}

static char ca_path[64];
static struct cert good_cert, name_cert;

static int tls_setup(void **state)
{
	(void)state;
	good_cert = make_cert("test-ip", "DNS:localhost,IP:127.0.0.1");
	name_cert = make_cert("test-name", "DNS:localhost");
	strcpy(ca_path, "/tmp/https-get-ca-XXXXXX");
	int fd = mkstemp(ca_path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	PEM_write_X509(f, good_cert.x509);
	PEM_write_X509(f, name_cert.x509);
	fclose(f);
	return 0;
}

static int tls_teardown(void **state)
{
	(void)state;
	unlink(ca_path);
	free_cert(&good_cert);
	free_cert(&name_cert);
	return 0;
}

static int fetch(struct server *s, const char *host, const https_get_options *opt, char **body,
                 size_t *len, char *why, size_t cap)
{
	char url[128];
	snprintf(url, sizeof url, "https://%s:%d/jwks?zone=z", host, s->port);
	return https_get(url, opt, body, len, why, cap);
}

static void test_fetch_ok(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, &good_cert,
	             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	             "Content-Length: 11\r\n\r\n{\"keys\":[]}");
	https_get_options opt = {.allow_private = 1, .ca_file = ca_path, .timeout_ms = 3000};
	char *body = NULL, why[160] = "";
	size_t len = 0;
	int rc = fetch(&s, "127.0.0.1", &opt, &body, &len, why, sizeof why);
	server_stop(&s);
	if (rc != 0)
		fail_msg("fetch: %s", why);
	assert_string_equal(body, "{\"keys\":[]}");
	assert_int_equal(len, 11);
	assert_non_null(strstr(s.request, "GET /jwks?zone=z HTTP/1.1\r\n"));
	char host[64];
	snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", s.port);
	assert_non_null(strstr(s.request, host));
	free(body);
}

static void test_fetch_chunked_by_name(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, &name_cert,
	             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "4\r\n{\"ke\r\n7\r\nys\":[]}\r\n0\r\n\r\n");
	https_get_options opt = {.allow_private = 1, .ca_file = ca_path};
	char *body = NULL, why[160] = "";
	size_t len = 0;
	int rc = fetch(&s, "localhost", &opt, &body, &len, why, sizeof why);
	server_stop(&s);
	if (rc != 0)
		fail_msg("fetch: %s", why);
	assert_string_equal(body, "{\"keys\":[]}");
	free(body);
}

static void expect_refused(const struct cert *cert, const char *host, const char *response,
                           https_get_options opt, int stall_ms, const char *reason)
{
	struct server s;
	server_start(&s, cert, response);
	s.stall_ms = stall_ms;
	char *body = NULL, why[160] = "";
	size_t len = 0;
	int rc = fetch(&s, host, &opt, &body, &len, why, sizeof why);
	server_stop(&s);
	assert_int_equal(rc, -1);
	assert_null(body);
	if (strstr(why, reason) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
}

static void test_fetch_refusals(void **state)
{
	(void)state;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	https_get_options trusting = {.allow_private = 1, .ca_file = ca_path, .timeout_ms = 2000};

	/* Loopback is not public: refused before any connection. */
	https_get_options guarded = trusting;
	guarded.allow_private = 0;
	expect_refused(&good_cert, "127.0.0.1", ok, guarded, 0, "non-public");
	/* Not trusted without the CA file. */
	https_get_options untrusted = trusting;
	untrusted.ca_file = NULL;
	expect_refused(&good_cert, "127.0.0.1", ok, untrusted, 0, "certificate");
	/* The certificate names localhost only: an IP URL does not match it. */
	expect_refused(&name_cert, "127.0.0.1", ok, trusting, 0, "certificate");
	/* No redirects. */
	expect_refused(&good_cert, "127.0.0.1",
	               "HTTP/1.1 301 Moved\r\nLocation: https://169.254.169.254/\r\n"
	               "Content-Length: 0\r\n\r\n",
	               trusting, 0, "301");
	/* Too big. */
	https_get_options small = trusting;
	small.max_body = 8;
	expect_refused(&good_cert, "127.0.0.1",
	               "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789", small, 0, "over");
	/* Too slow. */
	https_get_options hurried = trusting;
	hurried.timeout_ms = 300;
	expect_refused(&good_cert, "127.0.0.1", ok, hurried, 1200, "timed out");
	/* A body cut short by the close. */
	expect_refused(&good_cert, "127.0.0.1", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
	               trusting, 0, "closed inside the body");
}

/* A peer that keeps sending, one byte at a time, is cut off at the deadline
 * (the deadline bounds the exchange, not only the waits between reads). */
static void test_fetch_trickle_deadline(void **state)
{
	(void)state;
	static char response[4096];
	int n = snprintf(response, sizeof response,
	                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	while ((size_t)n + 8 < sizeof response)
		n += snprintf(response + n, sizeof response - (size_t)n, "1\r\nx\r\n");
	struct server s;
	server_start(&s, &good_cert, response);
	s.trickle_ms = 2;
	https_get_options opt = {.allow_private = 1, .ca_file = ca_path, .timeout_ms = 400};
	char *body = NULL, why[160] = "";
	size_t len = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = fetch(&s, "127.0.0.1", &opt, &body, &len, why, sizeof why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	server_stop(&s);
	assert_int_equal(rc, -1);
	assert_null(body);
	assert_non_null(strstr(why, "timed out"));
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms > 2000)
		fail_msg("the exchange took %ld ms past a 400 ms deadline", ms);
}

/* A peer that takes the connection but never answers the handshake: the
 * deadline ends it, and the reason says so (whichever phase it falls in). */
static void test_fetch_silent_peer_times_out(void **state)
{
	(void)state;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 4), 0); /* the kernel completes connects; nobody reads */
	socklen_t alen = sizeof a;
	getsockname(lfd, (struct sockaddr *)&a, &alen);
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%d/", ntohs(a.sin_port));
	https_get_options opt = {.allow_private = 1, .ca_file = ca_path, .timeout_ms = 300};
	char *body = NULL, why[160] = "";
	size_t len = 0;
	assert_int_equal(https_get(url, &opt, &body, &len, why, sizeof why), -1);
	assert_null(body);
	if (strstr(why, "timed out") == NULL)
		fail_msg("reason \"%s\" lacks \"timed out\"", why);
	close(lfd);
}

static void test_fetch_connection_refused(void **state)
{
	(void)state;
	https_get_options opt = {.allow_private = 1, .ca_file = ca_path, .timeout_ms = 1000};
	char *body = NULL, why[160] = "";
	size_t len = 0;
	/* Port 1 on loopback: nothing listens there. */
	assert_int_equal(https_get("https://127.0.0.1:1/", &opt, &body, &len, why, sizeof why), -1);
	assert_non_null(strstr(why, "cannot connect"));
	https_get_options bad_ca = opt;
	bad_ca.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(https_get("https://127.0.0.1:1/", &bad_ca, &body, &len, why, sizeof why),
	                 -1);
	assert_non_null(strstr(why, "trust anchors"));
	assert_int_equal(https_get("http://127.0.0.1:1/", &opt, &body, &len, why, sizeof why), -1);
	assert_non_null(strstr(why, "https"));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a stalled test server writes to a closed peer */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_rules),
	    cmocka_unit_test(test_address_guard),
	    cmocka_unit_test(test_response_parser),
	    cmocka_unit_test(test_fetch_ok),
	    cmocka_unit_test(test_fetch_chunked_by_name),
	    cmocka_unit_test(test_fetch_refusals),
	    cmocka_unit_test(test_fetch_trickle_deadline),
	    cmocka_unit_test(test_fetch_silent_peer_times_out),
	    cmocka_unit_test(test_fetch_connection_refused),
	};
	return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
