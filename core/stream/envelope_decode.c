/* envelope_decode.c — the strict decoder of the envelope's wire format
 * (envelope.h); sealing, the keyring and opening are in envelope.c. */
#include "stream/envelope.h"
#include "stream/envelope_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int hex_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ------------------------------------------------------------ decode */

/*
 * A strict, single-pass decoder for exactly the wire format. It accepts
 * precisely the texts json_loadb(JSON_REJECT_DUPLICATES) accepted (the
 * decoder it replaces, kept as the reference of tests/fuzz/fuzz_envelope.c,
 * which checks that both agree): RFC 8259 JSON, any whitespace between
 * tokens, members in any order, every string escape; strings UTF-8 (no
 * overlong forms, surrogates or code points above U+10FFFF, raw or as
 * \u escapes that are not a proper surrogate pair), without NUL (\u0000)
 * and without control characters; no duplicate key in any object; integers
 * within int64; reals (1.0, 1e3) that do not overflow a double, never
 * integers; at most JSON_MAX_DEPTH levels of nesting; nothing but whitespace
 * after the object. Members that are not part of the format are validated
 * the same way and then skipped, so the refusal message of a text is the
 * one the reference gives. (One deliberate difference: jansson drops a raw
 * NUL byte that directly follows a number or a literal; that is not JSON
 * and is refused here.)
 *
 * Every decoded string is unescaped into one buffer the message owns,
 * NUL-terminated. An escape is never shorter than what it decodes to, and
 * each string's two quotes pay for its NUL, so len bytes always suffice.
 */

#define JSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define KEYS_INLINE 32      /* the envelope's own 7 + 16 keys fit */

struct span {
	const char *s;
	size_t len;
};

typedef struct {
	const unsigned char *p, *end;
	char *out;   /* the message buffer */
	size_t used; /* bytes of it used */
	/* The keys of the open objects (the duplicate check); an object inside
	 * a skipped value starts with a marker {NULL, outer base}. */
	struct span *keys;
	size_t nkeys, kcap;
	struct span inline_keys[KEYS_INLINE];
} decoder;

/* A member of the top-level object: absent, or the kind of value it has. */
enum { T_NONE, T_STRING, T_INT, T_OBJECT, T_OTHER };
enum { M_V, M_KID, M_TOPIC, M_TS, M_ID, M_FIELDS, M_SIG, M_COUNT };

struct member {
	int type;
	struct span str; /* T_STRING */
	int64_t i;       /* T_INT */
};

static int is_digit(unsigned c)
{
	return c - '0' < 10;
}

static int is_alpha(unsigned c)
{
	return (c | 0x20) - 'a' < 26;
}

static void skip_ws(decoder *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
		d->p++;
}

/* Consume c (after whitespace); -1 when something else comes. */
static int expect(decoder *d, unsigned char c)
{
	skip_ws(d);
	if (d->p == d->end || *d->p != c)
		return -1;
	d->p++;
	skip_ws(d);
	return 0;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The bytes of x that need a look ('"', '\\', a control character, a
 * non-ASCII byte) have their high bit set; none of them is missed. Above
 * the first one a byte may be flagged too (borrows run upwards), never below
 * it. */
static uint64_t special_bytes(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x) | x) & HIGHS;
}

static int32_t hex4(const unsigned char *p)
{
	int32_t v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], n;
		if (is_digit(c))
			n = c - '0';
		else if ((c | 0x20) - 'a' < 6)
			n = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | (int32_t)n;
	}
	return v;
}

/* Bytes of the well-formed UTF-8 sequence of 2..4 bytes at p, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static char *put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

static const unsigned char simple_escape[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

/* The string whose opening quote is at d->p, unescaped into the buffer. */
static int lex_string(decoder *d, struct span *sp)
{
	const unsigned char *p = d->p + 1, *end = d->end;
	char *start = d->out + d->used, *o = start;
	for (;;) {
		/* Plain text 8 bytes at a time. The output is always behind the
		 * input (by the opening quote at least), so 8 bytes fit wherever
		 * 8 remain to be read. */
		while (end - p >= 8) {
			uint64_t x, special;
			memcpy(&x, p, 8);
			memcpy(o, &x, 8);
			special = special_bytes(x);
			if (special == 0) {
				o += 8;
				p += 8;
				continue;
			}
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* The lowest flagged byte is the first to look at. */
			size_t plain = (size_t)__builtin_ctzll(special) / 8;
			o += plain;
			p += plain;
#endif
			break;
		}
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			*o++ = (char)*p++;
		if (p == end)
			return -1;
		unsigned c = *p;
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		if (c >= 0x80) {
			size_t n = utf8_seq(p, end);
			if (n == 0)
				return -1;
			memcpy(o, p, n);
			o += n;
			p += n;
			continue;
		}
		/* An escape. */
		if (end - p < 2)
			return -1;
		if (p[1] != 'u') {
			unsigned char e = simple_escape[p[1]];
			if (e == 0)
				return -1;
			*o++ = (char)e;
			p += 2;
			continue;
		}
		int32_t cp;
		if (end - p < 6 || (cp = hex4(p + 2)) < 0)
			return -1;
		p += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			/* Only with its low surrogate. */
			int32_t low;
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    (low = hex4(p + 2)) < 0xdc00 || low > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			p += 6;
		} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0)
			return -1; /* a lone low surrogate; NUL */
		o = put_utf8(o, (uint32_t)cp);
	}
	*o = '\0';
	sp->s = start;
	sp->len = (size_t)(o - start);
	d->used += sp->len + 1;
	d->p = p + 1;
	return 0;
}

/* 2^1024 - 2^970, the least decimal number strtod rounds to infinity (it
 * lies halfway between DBL_MAX and 2^1024, and rounding to even goes up). */
static const char dbl_overflow[] =
    "1797693134862315807937289714053034150799341327100378269361737789804449682927647509466490"
    "1797758720709633028641669288791094655554785194040263065748867150582068190890200070838367"
    "6273854845817711531764475730270069855571366959622842914819860834936475292719074168444365"
    "510704342711559699508093042880177904174497792";

/* Whether the real with integer digits [ip, ie), fraction digits [fp, fe)
 * and exponent e overflows a double (jansson refuses that; an underflow to
 * zero it takes). */
static int real_overflows(const unsigned char *ip, const unsigned char *ie, const unsigned char *fp,
                          const unsigned char *fe, int64_t e)
{
	/* The value is 0.D x 10^e, D its significant digits. */
	const unsigned char *a = ip, *ae = ie, *b = fp, *be = fe;
	e += ie - ip;
	for (;; a++, e--) {
		if (a == ae) {
			if (b == be)
				return 0; /* zero */
			a = b;
			ae = be;
			b = be;
		}
		if (*a != '0')
			break;
	}
	if (e != (int64_t)sizeof dbl_overflow - 1)
		return e > (int64_t)sizeof dbl_overflow - 1;
	for (size_t k = 0; k < sizeof dbl_overflow - 1; k++, a++) {
		if (a == ae) {
			a = b;
			ae = be;
			b = be;
		}
		if (a == ae)
			return 0; /* a prefix of the bound, whose last digit is not 0 */
		if (*a != (unsigned char)dbl_overflow[k])
			return *a > (unsigned char)dbl_overflow[k];
	}
	return 1;
}

/* The number at d->p: 1 an integer (*iv), 0 a real, -1 not a number or out
 * of range. */
static int lex_number(decoder *d, int64_t *iv)
{
	const unsigned char *p = d->p, *end = d->end;
	int neg = *p == '-';
	if (neg)
		p++;
	const unsigned char *ip = p;
	if (p == end || !is_digit(*p))
		return -1;
	if (*p == '0') {
		if (++p < end && is_digit(*p))
			return -1; /* a leading zero */
	} else {
		while (p < end && is_digit(*p))
			p++;
	}
	const unsigned char *ie = p, *fp = p, *fe = p;
	int real = 0;
	int64_t exp = 0;
	if (p < end && *p == '.') {
		fp = ++p;
		if (p == end || !is_digit(*p))
			return -1;
		while (p < end && is_digit(*p))
			p++;
		fe = p;
		real = 1;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		int eneg = 0;
		if (++p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p == end || !is_digit(*p))
			return -1;
		for (; p < end && is_digit(*p); p++)
			if (exp < INT64_C(1000000000000)) /* far beyond any decision */
				exp = exp * 10 + (*p - '0');
		if (eneg)
			exp = -exp;
		real = 1;
	}
	d->p = p;
	if (real)
		return real_overflows(ip, ie, fp, fe, exp) ? -1 : 0;
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
	for (const unsigned char *q = ip; q < ie; q++) {
		unsigned digit = *q - '0';
		if (v > (limit - digit) / 10)
			return -1;
		v = v * 10 + digit;
	}
	*iv = neg && v > 0 ? -(int64_t)(v - 1) - 1 : (int64_t)v;
	return 1;
}

/* true, false or null (a run of letters, as jansson reads it). */
static int lex_literal(decoder *d)
{
	const unsigned char *s = d->p;
	while (d->p < d->end && is_alpha(*d->p))
		d->p++;
	size_t n = (size_t)(d->p - s);
	return (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) ||
	               (n == 5 && memcmp(s, "false", 5) == 0)
	           ? 0
	           : -1;
}

static int keys_push(decoder *d, const char *s, size_t len)
{
	if (d->nkeys == d->kcap) {
		size_t cap = 2 * d->kcap;
		struct span *k;
		if (d->keys == d->inline_keys) {
			k = malloc(cap * sizeof *k);
			if (k != NULL)
				memcpy(k, d->inline_keys, sizeof d->inline_keys);
		} else
			k = realloc(d->keys, cap * sizeof *k);
		if (k == NULL)
			return -1;
		d->keys = k;
		d->kcap = cap;
	}
	d->keys[d->nkeys].s = s;
	d->keys[d->nkeys].len = len;
	d->nkeys++;
	return 0;
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Whether the keys from base on are all different. */
static int keys_unique(decoder *d, size_t base)
{
	struct span *k = d->keys + base;
	size_t n = d->nkeys - base;
	if (n <= 24) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (k[i].len == k[j].len && memcmp(k[i].s, k[j].s, k[i].len) == 0)
					return 0;
		return 1;
	}
	qsort(k, n, sizeof *k, span_cmp);
	for (size_t i = 1; i < n; i++)
		if (span_cmp(&k[i - 1], &k[i]) == 0)
			return 0;
	return 1;
}

/* A member's key at d->p, then its ':'. */
static int member_key(decoder *d, struct span *key)
{
	if (d->p == d->end || *d->p != '"' || lex_string(d, key) < 0 ||
	    keys_push(d, key->s, key->len) < 0)
		return -1;
	return expect(d, ':');
}

/* Validate the value at d->p (whitespace skipped), nested depth deep (the
 * top-level object is 1), and step over it. */
static int skip_value(decoder *d, size_t depth)
{
	unsigned char is_obj[JSON_MAX_DEPTH / 8 + 1];
	size_t top = 0, base = d->nkeys; /* open containers; keys of the innermost */
	struct span key;
	int64_t iv;
	for (;;) {
		/* A value, at depth + top. */
		int closing = 0;
		if (depth + top > JSON_MAX_DEPTH || d->p == d->end)
			return -1;
		unsigned c = *d->p;
		if (c == '{' || c == '[') {
			int obj = c == '{';
			d->p++;
			skip_ws(d);
			if (obj) {
				is_obj[top / 8] |= (unsigned char)(1u << top % 8);
				if (keys_push(d, NULL, base) < 0)
					return -1;
				base = d->nkeys;
			} else
				is_obj[top / 8] &= (unsigned char)~(1u << top % 8);
			top++;
			if (d->p < d->end && *d->p == (obj ? '}' : ']')) {
				d->p++;
				closing = 1; /* empty */
			} else {
				if (obj && member_key(d, &key) < 0)
					return -1;
				continue;
			}
		} else if (c == '"') {
			if (lex_string(d, &key) < 0)
				return -1;
		} else if (c == '-' || is_digit(c)) {
			if (lex_number(d, &iv) < 0)
				return -1;
		} else if (is_alpha(c)) {
			if (lex_literal(d) < 0)
				return -1;
		} else
			return -1;
		/* After a value: the next member, or the end of containers. */
		for (;; closing = 0) {
			if (!closing) {
				if (top == 0)
					return 0;
				skip_ws(d);
				if (d->p == d->end)
					return -1;
				int obj = is_obj[(top - 1) / 8] >> (top - 1) % 8 & 1;
				c = *d->p++;
				if (c == ',') {
					skip_ws(d);
					if (obj && member_key(d, &key) < 0)
						return -1;
					break;
				}
				if (c != (obj ? '}' : ']'))
					return -1;
			}
			top--;
			if (is_obj[top / 8] >> top % 8 & 1) {
				if (!keys_unique(d, base))
					return -1;
				d->nkeys = base - 1;
				base = d->keys[d->nkeys].len; /* the marker */
			}
		}
	}
}

/* The fields object at d->p: up to ENVELOPE_MAX_FIELDS of them into out,
 * how many there are into *n; *bad when one is not a string or has a bad
 * name. */
static int parse_fields(decoder *d, envelope_msg *out, size_t *n, int *bad)
{
	size_t base = d->nkeys;
	*n = 0;
	*bad = 0;
	d->p++;
	skip_ws(d);
	if (d->p < d->end && *d->p == '}') {
		d->p++;
		return 0;
	}
	for (;;) {
		struct span key, val;
		if (member_key(d, &key) < 0 || d->p == d->end)
			return -1;
		if (*d->p == '"') {
			if (lex_string(d, &val) < 0)
				return -1;
			if (key.len == 0 || key.len > ENVELOPE_KEY_MAX)
				*bad = 1;
			if (*n < ENVELOPE_MAX_FIELDS)
				out->fields[*n] = (envelope_field){key.s, key.len, val.s, val.len};
		} else {
			if (skip_value(d, 3) < 0)
				return -1;
			*bad = 1;
		}
		++*n;
		skip_ws(d);
		if (d->p == d->end)
			return -1;
		unsigned c = *d->p++;
		if (c == '}')
			break;
		if (c != ',')
			return -1;
		skip_ws(d);
	}
	if (!keys_unique(d, base))
		return -1;
	d->nkeys = base;
	return 0;
}

static int member_index(const struct span *k)
{
#define IS(name) (k->len == sizeof name - 1 && memcmp(k->s, name, sizeof name - 1) == 0)
	switch (k->len) {
	case 1:
		return IS("v") ? M_V : -1;
	case 2:
		return IS("ts") ? M_TS : IS("id") ? M_ID : -1;
	case 3:
		return IS("kid") ? M_KID : IS("sig") ? M_SIG : -1;
	case 5:
		return IS("topic") ? M_TOPIC : -1;
	case 6:
		return IS("fields") ? M_FIELDS : -1;
	default:
		return -1;
	}
#undef IS
}

/* The whole text: *nmembers members of the top-level object into m (-1 when
 * it is an array), the fields into out. -1 when it is not JSON. */
static int parse_envelope(decoder *d, struct member *m, long *nmembers, envelope_msg *out,
                          size_t *nfields, int *bad_field)
{
	skip_ws(d);
	if (d->p == d->end || (*d->p != '{' && *d->p != '['))
		return -1;
	if (*d->p == '[') {
		*nmembers = -1;
		if (skip_value(d, 1) < 0)
			return -1;
	} else {
		d->p++;
		skip_ws(d);
		if (d->p < d->end && *d->p == '}')
			d->p++;
		else
			for (;;) {
				struct span key;
				if (member_key(d, &key) < 0 || d->p == d->end)
					return -1;
				int i = member_index(&key);
				unsigned c = *d->p;
				int64_t iv = 0;
				int r;
				if (c == '"' &&
				    (i == M_KID || i == M_TOPIC || i == M_ID || i == M_SIG)) {
					if (lex_string(d, &m[i].str) < 0)
						return -1;
					m[i].type = T_STRING;
				} else if ((c == '-' || is_digit(c)) && (i == M_V || i == M_TS)) {
					if ((r = lex_number(d, &iv)) < 0)
						return -1;
					m[i].type = r == 1 ? T_INT : T_OTHER;
					m[i].i = iv;
				} else if (c == '{' && i == M_FIELDS) {
					if (parse_fields(d, out, nfields, bad_field) < 0)
						return -1;
					m[i].type = T_OBJECT;
				} else {
					if (skip_value(d, 2) < 0)
						return -1;
					if (i >= 0)
						m[i].type = T_OTHER;
				}
				++*nmembers;
				skip_ws(d);
				if (d->p == d->end)
					return -1;
				c = *d->p++;
				if (c == '}')
					break;
				if (c != ',')
					return -1;
				skip_ws(d);
			}
		if (!keys_unique(d, 0))
			return -1;
		d->nkeys = 0;
	}
	skip_ws(d);
	return d->p == d->end ? 0 : -1;
}

void envelope_msg_clear(envelope_msg *m)
{
	if (m == NULL)
		return;
	free(m->buf_);
	memset(m, 0, sizeof *m);
}

static int bad(envelope_msg *m, caracal_error *err, const char *what)
{
	envelope_msg_clear(m);
	return caracal_error_set(err, CARACAL_E_INVAL, "malformed stream envelope: %s", what);
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hex_nibble(s[i]) < 0)
			return 0;
	return 1;
}

int envelope_decode(const void *buf, size_t len, envelope_msg *out, caracal_error *err)
{
	memset(out, 0, sizeof *out);
	if (buf == NULL || len == 0)
		return bad(out, err, "empty");
	if (len > ENVELOPE_MAX_BYTES)
		return bad(out, err, "too big");
	out->buf_ = malloc(len);
	if (out->buf_ == NULL) {
		envelope_msg_clear(out);
		return caracal_error_set(err, CARACAL_E_NOMEM,
		                         "out of memory decoding an envelope");
	}
	decoder d;
	d.p = buf;
	d.end = d.p + len;
	d.out = out->buf_;
	d.used = 0;
	d.keys = d.inline_keys;
	d.nkeys = 0;
	d.kcap = KEYS_INLINE;
	struct member m[M_COUNT];
	memset(m, 0, sizeof m);
	long nmembers = 0;
	size_t n = 0;
	int bad_field = 0;
	int rc = parse_envelope(&d, m, &nmembers, out, &n, &bad_field);
	if (d.keys != d.inline_keys)
		free(d.keys);
	if (rc < 0)
		return bad(out, err, "not JSON");
	if (nmembers != 7)
		return bad(out, err, "not an object of exactly v, kid, topic, ts, id, fields, sig");

	if (m[M_V].type != T_INT || m[M_V].i != ENVELOPE_VERSION)
		return bad(out, err, "unsupported version");
	out->version = ENVELOPE_VERSION;

	const struct member *kid = &m[M_KID];
	if (kid->type != T_STRING || kid->str.len != ENVELOPE_KID_LEN ||
	    !is_hex(kid->str.s, ENVELOPE_KID_LEN))
		return bad(out, err, "bad kid");
	memcpy(out->kid, kid->str.s, ENVELOPE_KID_LEN + 1);

	const struct member *topic = &m[M_TOPIC];
	if (topic->type != T_STRING ||
	    !envelope_is_name(topic->str.s, topic->str.len, ENVELOPE_TOPIC_MAX))
		return bad(out, err, "bad topic");
	out->topic = topic->str.s;

	if (m[M_TS].type != T_INT || m[M_TS].i <= 0)
		return bad(out, err, "bad ts");
	out->ts_us = m[M_TS].i;

	const struct member *id = &m[M_ID];
	if (id->type != T_STRING || !envelope_is_name(id->str.s, id->str.len, ENVELOPE_ID_MAX))
		return bad(out, err, "bad id");
	out->id = id->str.s;

	const struct member *sig = &m[M_SIG];
	if (sig->type != T_STRING || sig->str.len != 64 || !is_hex(sig->str.s, 64))
		return bad(out, err, "bad sig");
	for (size_t i = 0; i < 32; i++)
		out->sig[i] = (unsigned char)(hex_nibble(sig->str.s[2 * i]) << 4 |
		                              hex_nibble(sig->str.s[2 * i + 1]));

	if (m[M_FIELDS].type != T_OBJECT || n == 0 || n > ENVELOPE_MAX_FIELDS)
		return bad(out, err, "fields must be an object of 1..16 strings");
	if (bad_field)
		return bad(out, err, "bad field");
	out->nfields = n;
	for (size_t i = 1; i < n; i++) { /* insertion sort: at most 16, and cheaper than qsort */
		envelope_field f = out->fields[i];
		size_t j = i;
		for (; j > 0 && envelope_field_cmp(&out->fields[j - 1], &f) > 0; j--)
			out->fields[j] = out->fields[j - 1];
		out->fields[j] = f;
	}
	return CARACAL_OK;
}

const envelope_field *envelope_get(const envelope_msg *m, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < m->nfields; i++)
		if (m->fields[i].key_len == kl && memcmp(m->fields[i].key, key, kl) == 0)
			return &m->fields[i];
	return NULL;
}
