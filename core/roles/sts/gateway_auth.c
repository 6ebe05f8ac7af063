/* gateway_auth.c — see gateway_auth.h. */
#include "roles/sts/gateway_auth.h"

#include "util/hex.h"
#include "util/sha256.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_LEN 32
#define MAC_HEX_LEN (2 * MAC_LEN)

struct sts_gateway_key {
	/* Keyed once (util/sha256: a template each MAC duplicates). It is the
	 * only copy of the key; OpenSSL cleanses it on free. */
	sha256_hmac_key *mac;
};

/* ------------------------------------------------------------ helpers */

static int refuse(char *why, size_t cap, const char *reason)
{
	if (why != NULL && cap > 0)
		snprintf(why, cap, "%s", reason);
	return -1;
}

static sts_gateway_key *refuse_key(char *why, size_t cap, const char *reason)
{
	refuse(why, cap, reason);
	return NULL;
}

/* n hex digits (n even) into n / 2 bytes; -1 at the first non-hex digit. */
static int hex_decode(const char *hex, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit((unsigned char)hex[i]);
		int lo = hex_digit((unsigned char)hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* ------------------------------------------------------------ the key */

sts_gateway_key *sts_gateway_key_from_hex(const char *hex, size_t len, char *why, size_t cap)
{
	if (hex == NULL)
		return refuse_key(why, cap, "no gateway key text");
	while (len > 0 && is_space(hex[len - 1])) /* a secret file's newline */
		len--;
	if (len == 0)
		return refuse_key(why, cap, "gateway key is empty");
	if (len % 2 != 0)
		return refuse_key(why, cap, "gateway key has an odd number of hex digits");
	if (len / 2 > STS_GATEWAY_KEY_MAX)
		return refuse_key(why, cap, "gateway key is longer than 256 bytes");
	unsigned char raw[STS_GATEWAY_KEY_MAX];
	if (hex_decode(hex, len, raw) != 0) {
		OPENSSL_cleanse(raw, sizeof raw);
		return refuse_key(why, cap, "gateway key is not hex");
	}
	if (len / 2 < STS_GATEWAY_KEY_MIN) {
		OPENSSL_cleanse(raw, sizeof raw);
		return refuse_key(why, cap, "gateway key is shorter than 32 bytes");
	}
	sts_gateway_key *k = calloc(1, sizeof *k);
	if (k != NULL)
		k->mac = sha256_hmac_key_new(raw, len / 2);
	OPENSSL_cleanse(raw, sizeof raw);
	if (k == NULL || k->mac == NULL) {
		free(k);
		return refuse_key(why, cap, "cannot key HMAC-SHA256");
	}
	return k;
}

void sts_gateway_key_free(sts_gateway_key *k)
{
	if (k == NULL)
		return;
	sha256_hmac_key_free(k->mac);
	free(k);
}

/* ------------------------------------------------------------ fields */

/* 1..19 digits, no sign, at most INT64_MAX (see the header for why). */
static int parse_timestamp(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > STS_GATEWAY_TS_DIGITS_MAX)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in uint64 */
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* |now - ts| <= skew for any int64s: the true difference is below 2^64, so
 * the unsigned subtraction of the smaller from the larger is exact. */
static int within_skew(int64_t ts, int64_t now)
{
	uint64_t diff = ts >= now ? (uint64_t)ts - (uint64_t)now : (uint64_t)now - (uint64_t)ts;
	return diff <= STS_GATEWAY_SKEW_S;
}

int sts_gateway_nonce_ok(const char *nonce)
{
	if (nonce == NULL)
		return 0;
	size_t n = strnlen(nonce, STS_GATEWAY_NONCE_MAX + 1);
	if (n == 0 || n > STS_GATEWAY_NONCE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)nonce[i] <= 0x20 || (unsigned char)nonce[i] >= 0x7f)
			return 0;
	return 1;
}

/* Method and path are single fields of the signing input. */
static int field_ok(const char *s, int may_be_empty)
{
	return s != NULL && (may_be_empty || s[0] != '\0') && strchr(s, '\n') == NULL;
}

static char *append(char *p, const char *s, size_t n, char sep)
{
	memcpy(p, s, n);
	p[n] = sep;
	return p + n + 1;
}

char *sts_gateway_signing_input(const char *ts, const char *nonce, const char *method,
                                const char *escaped_path, const void *body, size_t body_len,
                                size_t *len)
{
	int64_t ts_value;
	char body_hex[MAC_HEX_LEN + 1];
	if (ts == NULL || parse_timestamp(ts, &ts_value) != 0 || !sts_gateway_nonce_ok(nonce) ||
	    !field_ok(method, 0) || !field_ok(escaped_path, 1) || (body == NULL && body_len > 0) ||
	    sha256_hex(body, body_len, body_hex) != 0)
		return NULL;
	size_t tl = strlen(ts), nl = strlen(nonce), ml = strlen(method), pl = strlen(escaped_path);
	size_t total = tl + 1 + nl + 1 + ml + 1 + pl + 1 + MAC_HEX_LEN;
	char *buf = malloc(total + 1);
	if (buf == NULL)
		return NULL;
	char *p = append(buf, ts, tl, '\n');
	p = append(p, nonce, nl, '\n');
	char *upper = p;
	p = append(p, method, ml, '\n');
	for (size_t i = 0; i < ml; i++) /* ASCII only: HTTP methods are tokens */
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	p = append(p, escaped_path, pl, '\n');
	p = append(p, body_hex, MAC_HEX_LEN, '\0');
	*len = total;
	return buf;
}

/* ------------------------------------------------------------ the MAC */

static int hmac(const sts_gateway_key *k, const char *ts, const char *nonce, const char *method,
                const char *escaped_path, const void *body, size_t body_len,
                unsigned char out[MAC_LEN])
{
	size_t len;
	char *input =
	    sts_gateway_signing_input(ts, nonce, method, escaped_path, body, body_len, &len);
	if (input == NULL)
		return -1;
	int rc = sha256_hmac(k->mac, input, len, out);
	free(input);
	return rc;
}

int sts_gateway_sign(const sts_gateway_key *k, const char *ts, const char *nonce,
                     const char *method, const char *escaped_path, const void *body,
                     size_t body_len, char out[65])
{
	unsigned char mac[MAC_LEN];
	out[0] = '\0';
	if (k == NULL || hmac(k, ts, nonce, method, escaped_path, body, body_len, mac) != 0)
		return -1;
	hex_encode(mac, MAC_LEN, out);
	return 0;
}

/* The presented hex against our MAC; only the comparison of the decoded
 * bytes depends on the key, and it is constant-time. */
static int signature_matches(const sts_gateway_key *k, const sts_gateway_request *r, char *why,
                             size_t cap)
{
	unsigned char presented[MAC_LEN], expected[MAC_LEN];
	if (strnlen(r->signature, MAC_HEX_LEN + 1) != MAC_HEX_LEN ||
	    hex_decode(r->signature, MAC_HEX_LEN, presented) != 0)
		return refuse(why, cap, "gateway signature is not 64 hex digits");
	if (hmac(k, r->timestamp, r->nonce, r->method, r->escaped_path, r->body, r->body_len,
	         expected) != 0)
		return refuse(why, cap, "cannot compute gateway signature (method, path or body)");
	int equal = CRYPTO_memcmp(presented, expected, MAC_LEN) == 0;
	OPENSSL_cleanse(expected, sizeof expected);
	return equal ? 0 : refuse(why, cap, "gateway signature mismatch");
}

/* ------------------------------------------------------------ checks */

int sts_gateway_headers_present(const sts_gateway_request *r)
{
	return r != NULL && (r->timestamp != NULL || r->nonce != NULL || r->signature != NULL);
}

int sts_gateway_verify_signed(const sts_gateway_key *k, const sts_gateway_request *r, char *why,
                              size_t cap)
{
	if (k == NULL)
		return refuse(why, cap, "no gateway key configured");
	if (!is_nonempty(r->timestamp) || !is_nonempty(r->nonce) || !is_nonempty(r->signature))
		return refuse(why, cap, "a gateway header is missing or empty");
	int64_t ts;
	if (parse_timestamp(r->timestamp, &ts) != 0)
		return refuse(why, cap, "gateway timestamp is not decimal unix seconds");
	if (!within_skew(ts, r->now_s))
		return refuse(why, cap, "gateway timestamp outside the 60 s skew");
	if (!sts_gateway_nonce_ok(r->nonce))
		return refuse(why, cap, "gateway nonce malformed");
	return signature_matches(k, r, why, cap);
}

/* Not secret (both sides are visible to the caller), so a plain compare. */
static int request_id_bound(const sts_gateway_request *r)
{
	return is_nonempty(r->gateway_request_id) && r->request_id != NULL &&
	       strcmp(r->gateway_request_id, r->request_id) == 0;
}

int sts_gateway_verify(const sts_gateway_key *k, const sts_gateway_request *r, char *why,
                       size_t cap)
{
	if (!request_id_bound(r))
		return refuse(why, cap, "gateway_request_id does not match X-Request-Id");
	return sts_gateway_verify_signed(k, r, why, cap);
}

int sts_gateway_nonce_key(const char *nonce, char *out, size_t cap)
{
	if (out == NULL || cap == 0)
		return -1;
	out[0] = '\0';
	if (!sts_gateway_nonce_ok(nonce))
		return -1;
	int n = snprintf(out, cap, STS_GATEWAY_NONCE_KEY_PREFIX "%s", nonce);
	if (n < 0 || (size_t)n >= cap) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
