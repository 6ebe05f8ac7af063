/* ledger.c — see ledger.h. */
#include "ledger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ buffers */

int af_buf_reserve(af_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int af_buf_add(af_buf *b, const void *p, size_t n)
{
	if (af_buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int af_buf_str(af_buf *b, const char *s)
{
	return af_buf_add(b, s, strlen(s));
}

void af_buf_free(af_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ------------------------------------------------------------ validation */

int af_zone_valid(const char *zone)
{
	size_t n = 0;
	if (zone == NULL || zone[0] == '\0' || zone[0] == '.')
		return 0;
	for (const char *c = zone; *c != '\0'; c++, n++) {
		unsigned char ch = (unsigned char)*c;
		if (n >= AF_ZONE_MAX)
			return 0;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9'))
			continue;
		if (strchr("._:@+=-", ch) == NULL)
			return 0;
	}
	return 1;
}

int af_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		uint32_t cp;
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

int af_json_object_shape(const char *s, size_t n)
{
	size_t depth = 0;
	int in_str = 0;
	if (n < 2 || s[0] != '{' || s[n - 1] != '}')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || c == '\n' || c == '\r')
			return 0;
		if (in_str) {
			if (c < 0x20)
				return 0;
			if (c == '\\') {
				if (++i >= n)
					return 0;
				if ((unsigned char)s[i] < 0x20)
					return 0;
			} else if (c == '"') {
				in_str = 0;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return 0;
			depth--;
			if (depth == 0 && i != n - 1)
				return 0;
			break;
		default:
			break;
		}
	}
	return !in_str && depth == 0;
}

/* ------------------------------------------------------------ hashing */

void af_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static void be64(uint64_t v, unsigned char out[8])
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

typedef int (*update_fn)(void *ctx, const unsigned char *p, size_t n);

static int mac_update(void *ctx, const unsigned char *p, size_t n)
{
	return EVP_MAC_update(ctx, p, n) == 1 ? 0 : -1;
}

static int md_update(void *ctx, const unsigned char *p, size_t n)
{
	return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

/* Length-prefixed field: u32be(n) || bytes. */
static int lp(update_fn up, void *ctx, const char *s, size_t n)
{
	unsigned char len[4];
	if (n > UINT32_MAX)
		return -1;
	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	if (up(ctx, len, 4) != 0)
		return -1;
	return n > 0 ? up(ctx, (const unsigned char *)s, n) : 0;
}

static int lp_str(update_fn up, void *ctx, const char *s)
{
	return lp(up, ctx, s, strlen(s));
}

/* The fields of the record after seq; with_prev = 0 for the content digest. */
static int record_fields(update_fn up, void *ctx, const af_record *r, int with_prev)
{
	char when[32];
	int n = snprintf(when, sizeof when, "%" PRId64, r->occurred_at);
	if (n < 0 || (size_t)n >= sizeof when)
		return -1;
	if (lp_str(up, ctx, r->zone_id) != 0 || lp_str(up, ctx, r->id) != 0 ||
	    lp_str(up, ctx, r->event_type) != 0 || lp(up, ctx, when, (size_t)n) != 0)
		return -1;
	if (with_prev && lp_str(up, ctx, r->prev) != 0)
		return -1;
	return lp(up, ctx, r->event, r->event_len);
}

static int mac_final_hex(EVP_MAC_CTX *ctx, char out[AF_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t len = 0;
	if (EVP_MAC_final(ctx, md, &len, sizeof md) != 1 || len != 32)
		return -1;
	af_hex(md, 32, out);
	return 0;
}

int af_record_mac(EVP_MAC_CTX *ctx, const af_record *r, char out[AF_HEX])
{
	unsigned char seq[8];
	be64(r->seq, seq);
	if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
		return -1;
	if (mac_update(ctx, (const unsigned char *)AF_TAG_RECORD, strlen(AF_TAG_RECORD)) != 0 ||
	    mac_update(ctx, seq, 8) != 0 || record_fields(mac_update, ctx, r, 1) != 0)
		return -1;
	return mac_final_hex(ctx, out);
}

int af_checkpoint_mac(EVP_MAC_CTX *ctx, const af_checkpoint *cp, char out[AF_HEX])
{
	unsigned char seq[8], at[8];
	be64(cp->seq, seq);
	be64((uint64_t)cp->at, at);
	if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
		return -1;
	if (mac_update(ctx, (const unsigned char *)AF_TAG_CHECKPOINT, strlen(AF_TAG_CHECKPOINT)) !=
	        0 ||
	    lp_str(mac_update, ctx, cp->zone_id) != 0 || mac_update(ctx, seq, 8) != 0 ||
	    lp_str(mac_update, ctx, cp->hash) != 0 || mac_update(ctx, at, 8) != 0)
		return -1;
	return mac_final_hex(ctx, out);
}

int af_content_digest(EVP_MD *sha256, const af_record *r, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int rc = -1;
	if (ctx == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, sha256, NULL) == 1 &&
	    md_update(ctx, (const unsigned char *)AF_TAG_CONTENT, strlen(AF_TAG_CONTENT)) == 0 &&
	    record_fields(md_update, ctx, r, 0) == 0 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
	    len == 32)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* ------------------------------------------------------------ formatting */

static int add_json_string(af_buf *b, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	if (af_buf_add(b, "\"", 1) != 0)
		return -1;
	for (const char *c = s; *c != '\0'; c++) {
		unsigned char ch = (unsigned char)*c;
		int rc;
		if (ch == '"')
			rc = af_buf_add(b, "\\\"", 2);
		else if (ch == '\\')
			rc = af_buf_add(b, "\\\\", 2);
		else if (ch < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', digits[ch >> 4], digits[ch & 0x0f]};
			rc = af_buf_add(b, esc, 6);
		} else
			rc = af_buf_add(b, c, 1);
		if (rc != 0)
			return -1;
	}
	return af_buf_add(b, "\"", 1);
}

static int add_fmt(af_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add_fmt(af_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	return af_buf_add(b, tmp, (size_t)n);
}

int af_record_format(af_buf *b, const af_record *r)
{
	size_t start = b->len;
	if (add_fmt(b, "{\"seq\":%" PRIu64 ",\"zone_id\":", r->seq) != 0 ||
	    add_json_string(b, r->zone_id) != 0 || af_buf_str(b, ",\"id\":") != 0 ||
	    add_json_string(b, r->id) != 0 || af_buf_str(b, ",\"event_type\":") != 0 ||
	    add_json_string(b, r->event_type) != 0 ||
	    add_fmt(b,
	            ",\"occurred_at\":%" PRId64 ",\"prev\":\"%s\",\"hash\":\"%s\",\"kid\":\"%s\"",
	            r->occurred_at, r->prev, r->hash, r->kid) != 0 ||
	    af_buf_str(b, ",\"event\":") != 0 || af_buf_add(b, r->event, r->event_len) != 0 ||
	    af_buf_add(b, "}\n", 2) != 0) {
		b->len = start;
		return -1;
	}
	return 0;
}

int af_checkpoint_format(af_buf *b, const af_checkpoint *cp)
{
	size_t start = b->len;
	if (af_buf_str(b, "{\"zone_id\":") != 0 || add_json_string(b, cp->zone_id) != 0 ||
	    add_fmt(b, ",\"seq\":%" PRIu64 ",\"hash\":\"%s\",\"at\":%" PRId64, cp->seq, cp->hash,
	            cp->at) != 0 ||
	    add_fmt(b, ",\"kid\":\"%s\",\"mac\":\"%s\"}\n", cp->kid, cp->mac) != 0) {
		b->len = start;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ parsing */

typedef struct cursor {
	char *p;
	char *end;
} cursor;

static int lit(cursor *c, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static int parse_u64(cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		c->p++;
	}
	if (c->p == start || (*start == '0' && c->p - start > 1))
		return -1;
	*out = v;
	return 0;
}

static int parse_i64(cursor *c, int64_t *out)
{
	int neg = 0;
	uint64_t v;
	if (c->p < c->end && *c->p == '-') {
		neg = 1;
		c->p++;
	}
	if (parse_u64(c, &v) != 0)
		return -1;
	if (neg) {
		if (v == 0 || v > (uint64_t)INT64_MAX + 1)
			return -1;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return -1;
		*out = (int64_t)v;
	}
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* A JSON string as the writer produces it, decoded in place; *out points at
 * the NUL-terminated result. max bounds the decoded length. */
static int parse_string(cursor *c, const char **out, size_t max)
{
	char *dst, *p;
	if (lit(c, "\"") != 0)
		return -1;
	dst = p = c->p;
	*out = dst;
	while (p < c->end && *p != '"') {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20)
			return -1;
		if (ch == '\\') {
			if (c->end - p < 2)
				return -1;
			if (p[1] == '"' || p[1] == '\\') {
				*dst++ = p[1];
				p += 2;
			} else if (p[1] == 'u') {
				int hi, lo;
				if (c->end - p < 6 || p[2] != '0' || p[3] != '0')
					return -1;
				hi = hexval(p[4]);
				lo = hexval(p[5]);
				if (hi < 0 || hi > 1 || lo < 0 || (hi == 0 && lo == 0))
					return -1;
				*dst++ = (char)(hi * 16 + lo);
				p += 6;
			} else {
				return -1;
			}
		} else {
			*dst++ = *p++;
		}
		if ((size_t)(dst - *out) > max)
			return -1;
	}
	if (p >= c->end)
		return -1;
	c->p = p + 1; /* past the closing quote; dst <= p, so the NUL is safe */
	*dst = '\0';
	return 0;
}

/* Exactly n lowercase hex digits in quotes (n = 0 allowed when empty_ok). */
static int parse_hex(cursor *c, char *out, size_t n, int empty_ok)
{
	size_t i = 0;
	if (lit(c, "\"") != 0)
		return -1;
	while (c->p < c->end && i < n && hexval(*c->p) >= 0)
		out[i++] = *c->p++;
	out[i] = '\0';
	if (lit(c, "\"") != 0)
		return -1;
	return i == n || (i == 0 && empty_ok) ? 0 : -1;
}

int af_record_parse(char *line, size_t len, af_record *r)
{
	cursor c = {line, line + len};
	memset(r, 0, sizeof *r);
	if (lit(&c, "{\"seq\":") != 0 || parse_u64(&c, &r->seq) != 0 || r->seq == 0 ||
	    lit(&c, ",\"zone_id\":") != 0 || parse_string(&c, &r->zone_id, AF_ZONE_MAX) != 0 ||
	    lit(&c, ",\"id\":") != 0 || parse_string(&c, &r->id, AF_ID_MAX) != 0 ||
	    lit(&c, ",\"event_type\":") != 0 ||
	    parse_string(&c, &r->event_type, AF_TYPE_MAX) != 0 ||
	    lit(&c, ",\"occurred_at\":") != 0 || parse_i64(&c, &r->occurred_at) != 0 ||
	    lit(&c, ",\"prev\":") != 0 || parse_hex(&c, r->prev, 64, 1) != 0 ||
	    lit(&c, ",\"hash\":") != 0 || parse_hex(&c, r->hash, 64, 0) != 0 ||
	    lit(&c, ",\"kid\":") != 0 || parse_hex(&c, r->kid, 8, 0) != 0 ||
	    lit(&c, ",\"event\":") != 0)
		return -1;
	if (c.end - c.p < 3 || c.end[-1] != '}')
		return -1;
	r->event = c.p;
	r->event_len = (size_t)(c.end - 1 - c.p);
	if (!af_json_object_shape(r->event, r->event_len))
		return -1;
	return 0;
}

int af_checkpoint_parse(char *line, size_t len, af_checkpoint *cp)
{
	cursor c = {line, line + len};
	const char *zone;
	memset(cp, 0, sizeof *cp);
	if (lit(&c, "{\"zone_id\":") != 0 || parse_string(&c, &zone, AF_ZONE_MAX) != 0)
		return -1;
	memcpy(cp->zone_id, zone, strlen(zone) + 1);
	if (lit(&c, ",\"seq\":") != 0 || parse_u64(&c, &cp->seq) != 0 ||
	    lit(&c, ",\"hash\":") != 0 || parse_hex(&c, cp->hash, 64, 0) != 0 ||
	    lit(&c, ",\"at\":") != 0 || parse_i64(&c, &cp->at) != 0 || lit(&c, ",\"kid\":") != 0 ||
	    parse_hex(&c, cp->kid, 8, 0) != 0 || lit(&c, ",\"mac\":") != 0 ||
	    parse_hex(&c, cp->mac, 64, 0) != 0 || lit(&c, "}") != 0 || c.p != c.end)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ SipHash-2-4 */

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

uint64_t af_siphash(const unsigned char key[16], const void *data, size_t len)
{
	const unsigned char *in = data;
	uint64_t k0 = rd64(key), k1 = rd64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = ((uint64_t)len) << 56, m;
	size_t i, left = len & 7;
	for (i = 0; i + 8 <= len; i += 8) {
		m = rd64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= ((uint64_t)in[i + j]) << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
