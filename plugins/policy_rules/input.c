/*
 * input.c — the input document of an evaluation, read in one strict pass.
 *
 * The reader replaces json_loadb(JSON_REJECT_DUPLICATES) + a walk of the
 * tree: it validates the whole text and keeps, on the way, the members the
 * engine reads (pr_input, rules.h); everything else is checked and skipped.
 * It accepts exactly what jansson 2.14 accepts with those flags:
 *
 *   - an object or an array at the top, then only whitespace (space, tab,
 *     LF, CR) to the end;
 *   - strings: no control character below 0x20, escapes \" \\ \/ \b \f \n
 *     \r \t \uXXXX only, a \u high surrogate followed by a \u low one, no
 *     lone surrogate, no \u0000 (jansson refuses NUL without JSON_ALLOW_NUL);
 *     raw bytes are strict UTF-8 (no overlong form, no encoded surrogate,
 *     nothing above U+10FFFF);
 *   - numbers: RFC 8259 syntax (no leading zero, no '+', digits around the
 *     '.'); one without '.', 'e' or 'E' is an integer and must fit int64
 *     (jansson's json_int_t); any other must not overflow a double;
 *   - at most 2048 levels of values, scalars included (jansson's
 *     JSON_PARSER_MAX_DEPTH: "[[1]]" is 3 levels);
 *   - no two equal keys (compared after unescaping) in any object.
 *
 * One deliberate difference: jansson drops a raw NUL byte that directly
 * follows a number or a literal ("[1\0]" loads; an artefact of its stream
 * unget); here a raw NUL byte is never valid, as RFC 8259 says.
 *
 * Memory: nothing is allocated. Strings without escapes are borrowed from
 * the text; the others are unescaped into the caller's scratch, which also
 * holds a stack of records (open containers, the keys of open objects, the
 * strings of a list being read). Records grow up from the start of scratch,
 * unescaped bytes and finished lists grow down from its end. A document
 * that needs more than the caller gave is TOOBIG, to be read again with
 * pr_input_scratch_max() bytes, which no valid document can exhaust.
 *
 * Duplicate keys: an object's keys are compared with each earlier one while
 * it has at most DUP_LINEAR; a larger object's keys are heap-sorted when it
 * closes and neighbours compared, O(n log n) whatever the keys.
 */
#include "rules.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_MAX 2048u /* jansson's JSON_PARSER_MAX_DEPTH */
#define DUP_LINEAR 16u       /* keys of an object checked pairwise as they come */

/* ------------------------------------------------------------ members */

enum jtype {
	JT_ABSENT,
	JT_NULL,
	JT_FALSE,
	JT_TRUE,
	JT_INT,
	JT_REAL,
	JT_STRING,
	JT_ARRAY,
	JT_OBJECT
};

/* The members kept: objects of the root, then their members. */
enum slot_id {
	SL_SCHEMA,
	SL_ZONE,
	SL_PRINCIPAL,
	SL_SUBJECT,
	SL_RESOURCE,
	SL_ACTION,
	SL_GRANTS,
	SL_DELEGATION,
	SL_CONTEXT,
	SL_P_TYPE,
	SL_P_ID,
	SL_P_REGM,
	SL_P_LIFE,
	SL_P_LABELS,
	SL_S_KIND,
	SL_S_ID,
	SL_R_ID,
	SL_R_IDENT,
	SL_A_ID,
	SL_A_USE,
	SL_A_METHOD,
	SL_A_PATH,
	SL_G_SCOPES,
	SL_D_DEPTH,
	SL_C_REQ,
	SL_C_TIME,
	SL_C_CHAL,
	SL_COUNT,
	SL_NONE = SL_COUNT, /* a value nobody reads */
};

/* What an open container is. */
enum ctx {
	CX_NONE, /* skipped */
	CX_ROOT,
	CX_PRINCIPAL,
	CX_SUBJECT,
	CX_RESOURCE,
	CX_ACTION,
	CX_GRANTS,
	CX_DELEGATION,
	CX_CONTEXT,
	CX_LIST, /* an array of strings the engine reads */
};

typedef struct keydef {
	const char *name;
	unsigned char len, slot;
} keydef;

#define K(name, slot)                       \
	{                                   \
		name, sizeof name - 1, slot \
	}
static const keydef keys_root[] = {
    K("schema_version", SL_SCHEMA), K("zone_id", SL_ZONE),          K("principal", SL_PRINCIPAL),
    K("subject", SL_SUBJECT),       K("resource", SL_RESOURCE),     K("action", SL_ACTION),
    K("grants", SL_GRANTS),         K("delegation", SL_DELEGATION), K("context", SL_CONTEXT),
};
static const keydef keys_principal[] = {
    K("type", SL_P_TYPE),      K("id", SL_P_ID),         K("registration_method", SL_P_REGM),
    K("lifecycle", SL_P_LIFE), K("labels", SL_P_LABELS),
};
static const keydef keys_subject[] = {K("kind", SL_S_KIND), K("id", SL_S_ID)};
static const keydef keys_resource[] = {K("id", SL_R_ID), K("identifier", SL_R_IDENT)};
static const keydef keys_action[] = {K("id", SL_A_ID), K("use", SL_A_USE), K("method", SL_A_METHOD),
                                     K("path", SL_A_PATH)};
static const keydef keys_grants[] = {K("scopes", SL_G_SCOPES)};
static const keydef keys_delegation[] = {K("depth", SL_D_DEPTH)};
static const keydef keys_context[] = {K("requested_scopes", SL_C_REQ), K("time", SL_C_TIME),
                                      K("challenge_resolved", SL_C_CHAL)};
#undef K

static const struct {
	const keydef *v;
	size_t n;
} ctx_keys[] = {
    [CX_ROOT] = {keys_root, sizeof keys_root / sizeof keys_root[0]},
    [CX_PRINCIPAL] = {keys_principal, sizeof keys_principal / sizeof keys_principal[0]},
    [CX_SUBJECT] = {keys_subject, sizeof keys_subject / sizeof keys_subject[0]},
    [CX_RESOURCE] = {keys_resource, sizeof keys_resource / sizeof keys_resource[0]},
    [CX_ACTION] = {keys_action, sizeof keys_action / sizeof keys_action[0]},
    [CX_GRANTS] = {keys_grants, sizeof keys_grants / sizeof keys_grants[0]},
    [CX_DELEGATION] = {keys_delegation, sizeof keys_delegation / sizeof keys_delegation[0]},
    [CX_CONTEXT] = {keys_context, sizeof keys_context / sizeof keys_context[0]},
};

/* The member of an object of context cx named key, or SL_NONE. */
static unsigned char key_slot(unsigned char cx, const pr_text *key)
{
	if (cx < CX_ROOT || cx > CX_CONTEXT)
		return SL_NONE;
	for (size_t i = 0; i < ctx_keys[cx].n; i++) {
		const keydef *k = &ctx_keys[cx].v[i];
		if (k->len == key->len && memcmp(k->name, key->ptr, key->len) == 0)
			return k->slot;
	}
	return SL_NONE;
}

/* The context of an object that is the value of member sl. */
static unsigned char object_ctx(unsigned char sl)
{
	return sl >= SL_PRINCIPAL && sl <= SL_CONTEXT
	           ? (unsigned char)(CX_PRINCIPAL + (sl - SL_PRINCIPAL))
	           : CX_NONE;
}

static bool is_list(unsigned char sl)
{
	return sl == SL_P_LABELS || sl == SL_G_SCOPES || sl == SL_C_REQ;
}

typedef struct slot {
	unsigned char type;   /* enum jtype */
	bool all_strings;     /* JT_ARRAY of a list member */
	pr_text str;          /* JT_STRING */
	int64_t num;          /* JT_INT */
	size_t count;         /* JT_ARRAY of a list member: elements */
	const pr_text *elems; /* its strings, when all_strings and count <= the max */
} slot;

/* ------------------------------------------------------------ reader */

/* A record of the scratch stack: an open container, or a string (a key of
 * the open object, or an element of the open list). */
typedef union rec {
	pr_text text;
	struct {
		size_t parent; /* record of the enclosing container; SIZE_MAX: none */
		unsigned char is_obj;
		unsigned char cx;   /* enum ctx */
		unsigned char slot; /* CX_LIST: the member */
	} frame;
} rec;
/* A finished list is its element records, moved as they are. */
_Static_assert(sizeof(rec) == sizeof(pr_text), "a record is a pr_text");

enum { RD_OK, RD_INVALID, RD_SCRATCH };

typedef struct rd {
	const unsigned char *text, *end;
	rec *recs;         /* from the start of scratch */
	size_t nrec;       /* records in use */
	unsigned char *lo; /* unescaped bytes and lists: [lo, scratch end) */
	size_t frame;      /* record of the innermost open container; SIZE_MAX: none */
	size_t depth;      /* open containers */
	int status;
	const unsigned char *err; /* RD_INVALID: where */
	bool root_obj;
	slot sl[SL_COUNT];
} rd;

static bool invalid(rd *r, const unsigned char *at)
{
	if (r->status == RD_OK) {
		r->status = RD_INVALID;
		r->err = at;
	}
	return false;
}

static bool no_scratch(rd *r)
{
	if (r->status == RD_OK)
		r->status = RD_SCRATCH;
	return false;
}

static size_t room(const rd *r)
{
	return (size_t)(r->lo - (unsigned char *)(void *)(r->recs + r->nrec));
}

static rec *push(rd *r)
{
	if (room(r) < sizeof(rec)) {
		no_scratch(r);
		return NULL;
	}
	return &r->recs[r->nrec++];
}

static char *bytes(rd *r, size_t n)
{
	if (room(r) < n) {
		no_scratch(r);
		return NULL;
	}
	r->lo -= n;
	return (char *)r->lo;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* Length of the strict UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07u;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0u) != 0x80u)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return n;
}

static int hexval(unsigned c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}

/* The code unit of the 4 hex digits at p (end - p >= 4), or -1. */
static int32_t hex4(const unsigned char *p)
{
	int32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = (v << 4) | h;
	}
	return v;
}

/* Bit 7 of each byte of the 8 in v (loaded little-endian) that needs a
 * look: '"', '\\', < 0x20 or >= 0x80. Borrows run only upward, from a byte
 * that needs a look: the lowest bit set is exact. */
static uint64_t special8(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
	uint64_t has_q = (q - ones) & ~q, has_b = (b - ones) & ~b;
	uint64_t has_ctl = v - ones * 0x20u; /* borrows into the high bit below 0x20 */
	return (has_q | has_b | has_ctl | v) & highs;
}

/* Index of the first byte special8 marked in m (not 0). */
static size_t first_marked(uint64_t m)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(m) / 8u;
#else
	(void)m;
	return 0; /* the byte loop finds it */
#endif
}

/* Unescape the validated string body [p, end) into out. */
static void unescape(const unsigned char *p, const unsigned char *end, char *out)
{
	while (p < end) {
		if (*p != '\\') {
			*out++ = (char)*p++;
			continue;
		}
		unsigned char e = p[1];
		p += 2;
		switch (e) {
		case 'b':
			*out++ = '\b';
			continue;
		case 'f':
			*out++ = '\f';
			continue;
		case 'n':
			*out++ = '\n';
			continue;
		case 'r':
			*out++ = '\r';
			continue;
		case 't':
			*out++ = '\t';
			continue;
		case 'u':
			break;
		default: /* " \ / */
			*out++ = (char)e;
			continue;
		}
		uint32_t cp = (uint32_t)hex4(p);
		p += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(p + 2) - 0xdc00);
			p += 6;
		}
		if (cp < 0x80) {
			*out++ = (char)cp;
		} else if (cp < 0x800) {
			*out++ = (char)(0xc0 | (cp >> 6));
			*out++ = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			*out++ = (char)(0xe0 | (cp >> 12));
			*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*out++ = (char)(0x80 | (cp & 0x3f));
		} else {
			*out++ = (char)(0xf0 | (cp >> 18));
			*out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
			*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*out++ = (char)(0x80 | (cp & 0x3f));
		}
	}
}

/* The string whose opening quote is at p: checked; when out is not NULL,
 * *out gets its unescaped bytes. Returns the position after the closing
 * quote, or NULL (invalid, or out of scratch). */
static const unsigned char *string(rd *r, const unsigned char *p, pr_text *out)
{
	const unsigned char *end = r->end, *start = p + 1, *q = start;
	size_t saved = 0; /* bytes the escapes take beyond what they stand for */
	for (;;) {
		while (end - q >= 8) {
			uint64_t v, m;
			memcpy(&v, q, 8);
			if ((m = special8(v)) != 0) {
				q += first_marked(m);
				break;
			}
			q += 8;
		}
		if (q == end)
			return invalid(r, q), NULL;
		unsigned c = *q;
		if (c == '"')
			break;
		if (c < 0x20)
			return invalid(r, q), NULL;
		if (c >= 0x80) {
			size_t n = utf8_len(q, end);
			if (n == 0)
				return invalid(r, q), NULL;
			q += n;
			continue;
		}
		if (c != '\\') {
			q++;
			continue;
		}
		if (end - q < 2)
			return invalid(r, end), NULL;
		switch (q[1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			q += 2;
			saved += 1;
			continue;
		case 'u':
			break;
		default:
			return invalid(r, q + 1), NULL;
		}
		int32_t cp = end - q >= 6 ? hex4(q + 2) : -1;
		if (cp < 0)
			return invalid(r, q), NULL;
		if (cp == 0) /* jansson: NUL needs JSON_ALLOW_NUL */
			return invalid(r, q), NULL;
		if (cp >= 0xdc00 && cp <= 0xdfff) /* a lone low surrogate */
			return invalid(r, q), NULL;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			int32_t lo =
			    end - q >= 12 && q[6] == '\\' && q[7] == 'u' ? hex4(q + 8) : -1;
			if (lo < 0xdc00 || lo > 0xdfff)
				return invalid(r, q), NULL;
			q += 12;
			saved += 12 - 4;
			continue;
		}
		q += 6;
		saved += 6 - (cp < 0x80 ? 1u : cp < 0x800 ? 2u : 3u);
	}
	if (out != NULL) {
		size_t raw = (size_t)(q - start);
		if (saved == 0) {
			out->ptr = (const char *)start;
			out->len = raw;
		} else {
			char *buf = bytes(r, raw - saved);
			if (buf == NULL)
				return NULL;
			unescape(start, q, buf);
			out->ptr = buf;
			out->len = raw - saved;
		}
	}
	return q + 1;
}

/* Whether a real with these digits overflows a double (jansson refuses it;
 * underflow is accepted). ip: the integer digits, fp: the fraction digits,
 * e: the exponent, saturated far beyond any finite double. */
static bool real_overflows(const unsigned char *ip, size_t ni, const unsigned char *fp, size_t nf,
                           int64_t e)
{
	int64_t e10; /* the value is in [10^e10, 10^(e10+1)) */
	if (ni > 1 || ip[0] != '0') {
		e10 = (int64_t)ni - 1 + e;
	} else {
		size_t j = 0;
		while (j < nf && fp[j] == '0')
			j++;
		if (j == nf)
			return false; /* zero */
		e10 = e - (int64_t)j - 1;
	}
	if (e10 < 308) /* below 1e308 < DBL_MAX */
		return false;
	if (e10 > 308) /* at least 1e309 */
		return true;
	/* Near DBL_MAX: ask strtod, on the first significant digits and a
	 * sticky 1 for any non-zero digit beyond them, which rounds the same
	 * way (the overflow bound, 2^1024 - 2^970, is an integer of 309 digits:
	 * it never falls between the digits kept and the next step). No '.' in
	 * the text: the locale's decimal point does not matter. */
	char buf[360];
	size_t k = 0;
	bool sticky = false, lead = true;
	for (size_t i = 0; i < ni + nf; i++) {
		unsigned char d = i < ni ? ip[i] : fp[i - ni];
		if (lead && d == '0')
			continue;
		lead = false;
		if (k < 340)
			buf[k++] = (char)d;
		else if (d != '0')
			sticky = true;
	}
	if (sticky)
		buf[k++] = '1';
	snprintf(buf + k, sizeof buf - k, "e%d", (int)(e10 + 1 - (int64_t)k));
	errno = 0;
	double v = strtod(buf, NULL);
	return v == HUGE_VAL && errno == ERANGE;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* The number at p: checked; *type JT_INT (with *num) or JT_REAL. Returns the
 * position after it, or NULL. */
static const unsigned char *number(rd *r, const unsigned char *p, unsigned char *type, int64_t *num)
{
	const unsigned char *end = r->end, *q = p;
	bool neg = false;
	if (*q == '-') {
		neg = true;
		q++;
	}
	const unsigned char *ip = q;
	if (q == end || !is_digit(*q))
		return invalid(r, q), NULL;
	if (*q == '0') {
		q++;
		if (q < end && is_digit(*q))
			return invalid(r, q), NULL; /* leading zero */
	} else {
		while (q < end && is_digit(*q))
			q++;
	}
	size_t ni = (size_t)(q - ip);
	if (q == end || (*q != '.' && *q != 'e' && *q != 'E')) {
		/* An integer: json_int_t is int64. 20 digits are always too many. */
		const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
		uint64_t mag = 0;
		if (ni > 19)
			return invalid(r, q), NULL;
		for (size_t i = 0; i < ni; i++) {
			unsigned d = (unsigned)(ip[i] - '0');
			if (mag > (limit - d) / 10u)
				return invalid(r, q), NULL;
			mag = mag * 10u + d;
		}
		*type = JT_INT;
		*num = neg ? (mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag)
		           : (int64_t)mag;
		return q;
	}
	const unsigned char *fp = q;
	size_t nf = 0;
	if (*q == '.') {
		q++;
		fp = q;
		if (q == end || !is_digit(*q))
			return invalid(r, q), NULL;
		while (q < end && is_digit(*q))
			q++;
		nf = (size_t)(q - fp);
	}
	int64_t ex = 0;
	if (q < end && (*q == 'e' || *q == 'E')) {
		bool eneg = false;
		q++;
		if (q < end && (*q == '+' || *q == '-')) {
			eneg = *q == '-';
			q++;
		}
		if (q == end || !is_digit(*q))
			return invalid(r, q), NULL;
		while (q < end && is_digit(*q)) {
			if (ex < INT64_C(1000000000000000))
				ex = ex * 10 + (*q - '0');
			q++;
		}
		if (eneg)
			ex = -ex;
	}
	if (real_overflows(ip, ni, fp, nf, ex))
		return invalid(r, q), NULL;
	*type = JT_REAL;
	return q;
}

static int key_cmp(const pr_text *a, const pr_text *b)
{
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->ptr, b->ptr, a->len);
}

static void sift_down(rec *v, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && key_cmp(&v[c].text, &v[c + 1].text) < 0)
			c++;
		if (key_cmp(&v[i].text, &v[c].text) >= 0)
			return;
		pr_text t = v[i].text;
		v[i].text = v[c].text;
		v[c].text = t;
		i = c;
	}
}

/* Whether two of the n keys at v are equal (v is reordered). */
static bool dup_keys(rec *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t m = n; m > 1; m--) {
		pr_text t = v[0].text;
		v[0].text = v[m - 1].text;
		v[m - 1].text = t;
		sift_down(v, 0, m - 1);
	}
	for (size_t i = 1; i < n; i++)
		if (key_cmp(&v[i - 1].text, &v[i].text) == 0)
			return true;
	return false;
}

/* Open a container ('{' or '['); a CX_LIST one reads member sl. */
static bool open_container(rd *r, bool is_obj, unsigned char cx, unsigned char sl)
{
	rec *f = push(r);
	if (f == NULL)
		return false;
	f->frame.parent = r->frame;
	f->frame.is_obj = is_obj;
	f->frame.cx = cx;
	f->frame.slot = sl;
	r->frame = r->nrec - 1;
	r->depth++;
	return true;
}

/* Close the innermost container, whose closing bracket is at p. */
static bool close_container(rd *r, const unsigned char *p)
{
	size_t fi = r->frame, first = fi + 1, n = r->nrec - first;
	rec f = r->recs[fi];
	if (f.frame.is_obj && n > DUP_LINEAR && dup_keys(&r->recs[first], n))
		return invalid(r, p);
	if (f.frame.cx == CX_LIST) {
		slot *s = &r->sl[f.frame.slot];
		s->elems = NULL;
		if (s->all_strings && s->count <= PR_INPUT_ARRAY_MAX && n > 0) {
			/* Move the strings below the unescaped bytes. */
			uintptr_t top = (uintptr_t)r->lo, need = n * sizeof(pr_text);
			uintptr_t bottom = (uintptr_t)(void *)(r->recs + fi);
			if (top - bottom < need + (_Alignof(pr_text) - 1))
				return no_scratch(r);
			uintptr_t at = (top - need) & ~(uintptr_t)(_Alignof(pr_text) - 1);
			memmove((void *)at, &r->recs[first], need);
			r->lo = (unsigned char *)at;
			s->elems = (const pr_text *)(void *)r->lo;
		}
	}
	r->nrec = fi;
	r->frame = f.frame.parent;
	r->depth--;
	return true;
}

/* Record a new key of the innermost object; false on a duplicate. */
static bool add_key(rd *r, const unsigned char *at, const pr_text *key)
{
	size_t first = r->frame + 1, n = r->nrec - first;
	if (n < DUP_LINEAR)
		for (size_t i = first; i < r->nrec; i++)
			if (key_cmp(&r->recs[i].text, key) == 0)
				return invalid(r, at);
	rec *k = push(r);
	if (k == NULL)
		return false;
	k->text = *key;
	return true;
}

/* The element of a list (member sl) that is a scalar of type t (s: a
 * string's text, when the list still keeps its strings). */
static bool list_elem(rd *r, unsigned char sl, unsigned char t, const pr_text *s)
{
	slot *l = &r->sl[sl];
	l->count++;
	if (t != JT_STRING) {
		l->all_strings = false;
		return true;
	}
	if (!l->all_strings || l->count > PR_INPUT_ARRAY_MAX)
		return true;
	rec *e = push(r);
	if (e == NULL)
		return false;
	e->text = *s;
	return true;
}

static bool parse(rd *r)
{
	const unsigned char *p = skip_ws(r->text, r->end), *end = r->end;
	if (p == end || (*p != '{' && *p != '['))
		return invalid(r, p < end ? p + 1 : p);
	r->root_obj = *p == '{';
	unsigned char vslot = SL_NONE; /* the member the next value is */
	unsigned char lslot = SL_NONE; /* the list the next value is an element of */
	bool root = true;
	pr_text key;
	const unsigned char *key_at;
	for (;;) {
		/* ---- a value at p */
		if (r->depth >= JSON_DEPTH_MAX) /* this value is one level deeper */
			return invalid(r, p + 1);
		unsigned char t;
		pr_text str = {NULL, 0};
		int64_t num = 0;
		bool want = vslot != SL_NONE;
		if (lslot != SL_NONE && r->sl[lslot].all_strings &&
		    r->sl[lslot].count < PR_INPUT_ARRAY_MAX)
			want = true;
		switch (*p) {
		case '{':
		case '[': {
			bool is_obj = *p == '{';
			unsigned char cx = CX_NONE, sl = SL_NONE;
			if (root)
				cx = is_obj ? CX_ROOT : CX_NONE;
			else if (is_obj)
				cx = object_ctx(vslot);
			else if (is_list(vslot))
				cx = CX_LIST, sl = vslot;
			if (vslot != SL_NONE) {
				slot *s = &r->sl[vslot];
				s->type = is_obj ? JT_OBJECT : JT_ARRAY;
				if (cx == CX_LIST) {
					s->count = 0;
					s->all_strings = true;
					s->elems = NULL;
				}
			}
			if (lslot != SL_NONE) { /* not a string: the list is mistyped */
				r->sl[lslot].count++;
				r->sl[lslot].all_strings = false;
			}
			root = false;
			if (!open_container(r, is_obj, cx, sl))
				return false;
			p = skip_ws(p + 1, end);
			if (p < end && *p == (is_obj ? '}' : ']')) {
				if (!close_container(r, p))
					return false;
				p++;
				break;
			}
			if (!is_obj) {
				vslot = SL_NONE;
				lslot = sl;
				if (p == end)
					return invalid(r, p);
				continue; /* the first element */
			}
			goto key;
		}
		case '"':
			p = string(r, p, want ? &str : NULL);
			if (p == NULL)
				return false;
			t = JT_STRING;
			goto scalar;
		case 't':
			if (end - p < 4 || memcmp(p, "true", 4) != 0)
				return invalid(r, p);
			p += 4;
			t = JT_TRUE;
			goto scalar;
		case 'f':
			if (end - p < 5 || memcmp(p, "false", 5) != 0)
				return invalid(r, p);
			p += 5;
			t = JT_FALSE;
			goto scalar;
		case 'n':
			if (end - p < 4 || memcmp(p, "null", 4) != 0)
				return invalid(r, p);
			p += 4;
			t = JT_NULL;
			goto scalar;
		default:
			if (*p != '-' && !is_digit(*p))
				return invalid(r, p + 1);
			p = number(r, p, &t, &num);
			if (p == NULL)
				return false;
		scalar:
			if (vslot != SL_NONE) {
				slot *s = &r->sl[vslot];
				s->type = t;
				s->str = str;
				s->num = num;
			}
			if (lslot != SL_NONE && !list_elem(r, lslot, t, &str))
				return false;
			break;
		}

		/* ---- after a value: a separator, a closing bracket or the end */
	next:
		if (r->frame == SIZE_MAX) {
			p = skip_ws(p, end);
			return p == end ? true : invalid(r, p + 1);
		}
		p = skip_ws(p, end);
		if (p == end)
			return invalid(r, p);
		{
			const rec *f = &r->recs[r->frame];
			if (*p == (f->frame.is_obj ? '}' : ']')) {
				if (!close_container(r, p))
					return false;
				p++;
				goto next;
			}
			if (*p != ',')
				return invalid(r, p + 1);
			p = skip_ws(p + 1, end);
			if (p == end)
				return invalid(r, p);
			if (!f->frame.is_obj) {
				vslot = SL_NONE;
				lslot = f->frame.cx == CX_LIST ? f->frame.slot : SL_NONE;
				continue;
			}
		}

		/* ---- a key at p, its colon, and the value's first byte */
	key:
		if (p == end || *p != '"')
			return invalid(r, p < end ? p + 1 : p);
		key_at = p;
		p = string(r, p, &key);
		if (p == NULL || !add_key(r, key_at, &key))
			return false;
		vslot = key_slot(r->recs[r->frame].frame.cx, &key);
		lslot = SL_NONE;
		p = skip_ws(p, end);
		if (p == end || *p != ':')
			return invalid(r, p < end ? p + 1 : p);
		p = skip_ws(p + 1, end);
		if (p == end)
			return invalid(r, p);
	}
}

/* ------------------------------------------------------------ type checks */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
why_set(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		if (vsnprintf(why, cap, fmt, ap) < 0)
			why[0] = '\0';
		va_end(ap);
	}
	return CARACAL_E_INVAL;
}

static int want_obj(const slot *s, const char *key, char *why, size_t cap)
{
	if (s->type != JT_OBJECT)
		return why_set(why, cap, "input: %s must be an object", key);
	return CARACAL_OK;
}

static int want_str(const slot *s, const char *objname, const char *key, bool required,
                    pr_text *out, char *why, size_t cap)
{
	out->ptr = NULL;
	out->len = 0;
	if (s->type == JT_ABSENT || (!required && s->type == JT_NULL))
		return required ? why_set(why, cap, "input: %s%s%s is missing", objname,
		                          *objname ? "." : "", key)
		                : CARACAL_OK;
	if (s->type != JT_STRING)
		return why_set(why, cap, "input: %s%s%s must be a string", objname,
		               *objname ? "." : "", key);
	*out = s->str;
	return CARACAL_OK;
}

static int want_list(const slot *s, const char *objname, const char *key, bool required,
                     pr_list *out, char *why, size_t cap)
{
	out->v = NULL;
	out->n = 0;
	if (s->type == JT_ABSENT || (!required && s->type == JT_NULL))
		return required ? why_set(why, cap, "input: %s.%s is missing", objname, key)
		                : CARACAL_OK;
	if (s->type != JT_ARRAY)
		return why_set(why, cap, "input: %s.%s must be an array of strings", objname, key);
	if (s->count > PR_INPUT_ARRAY_MAX)
		return why_set(why, cap, "input: %s.%s has more than %u elements", objname, key,
		               PR_INPUT_ARRAY_MAX);
	if (!s->all_strings)
		return why_set(why, cap, "input: %s.%s must be an array of strings", objname, key);
	out->v = s->count > 0 ? s->elems : NULL;
	out->n = s->count;
	return CARACAL_OK;
}

static int want_int(const slot *s, const char *objname, const char *key, int64_t *out, char *why,
                    size_t cap)
{
	if (s->type == JT_ABSENT)
		return why_set(why, cap, "input: %s.%s is missing", objname, key);
	if (s->type != JT_INT)
		return why_set(why, cap, "input: %s.%s must be an integer", objname, key);
	*out = s->num;
	return CARACAL_OK;
}

/* The checks and messages of the jansson-based reader, in its order. */
static int check(const rd *r, pr_input *in, char *why, size_t cap)
{
	const slot *sl = r->sl;
	int rc;
	if (!r->root_obj)
		return why_set(why, cap, "input: not a JSON object");
	if (sl[SL_SCHEMA].type != JT_STRING)
		return why_set(why, cap, "input: schema_version is missing");
	if (sl[SL_SCHEMA].str.len != strlen(PR_SCHEMA_VERSION) ||
	    memcmp(sl[SL_SCHEMA].str.ptr, PR_SCHEMA_VERSION, sl[SL_SCHEMA].str.len) != 0)
		return why_set(why, cap, "input: schema_version is not %s", PR_SCHEMA_VERSION);
#define TRY(x)                                \
	do {                                  \
		if ((rc = (x)) != CARACAL_OK) \
			return rc;            \
	} while (0)
	TRY(want_str(&sl[SL_ZONE], "", "zone_id", true, &in->zone_id, why, cap));
	TRY(want_obj(&sl[SL_PRINCIPAL], "principal", why, cap));
	TRY(want_obj(&sl[SL_SUBJECT], "subject", why, cap));
	TRY(want_obj(&sl[SL_RESOURCE], "resource", why, cap));
	TRY(want_obj(&sl[SL_ACTION], "action", why, cap));
	TRY(want_obj(&sl[SL_GRANTS], "grants", why, cap));
	TRY(want_obj(&sl[SL_DELEGATION], "delegation", why, cap));
	TRY(want_obj(&sl[SL_CONTEXT], "context", why, cap));
	TRY(want_str(&sl[SL_P_TYPE], "principal", "type", true, &in->principal_type, why, cap));
	TRY(want_str(&sl[SL_P_ID], "principal", "id", true, &in->principal_id, why, cap));
	TRY(want_str(&sl[SL_P_REGM], "principal", "registration_method", false,
	             &in->principal_registration_method, why, cap));
	TRY(want_str(&sl[SL_P_LIFE], "principal", "lifecycle", false, &in->principal_lifecycle, why,
	             cap));
	TRY(want_list(&sl[SL_P_LABELS], "principal", "labels", false, &in->labels, why, cap));
	TRY(want_str(&sl[SL_S_KIND], "subject", "kind", true, &in->subject_kind, why, cap));
	TRY(want_str(&sl[SL_S_ID], "subject", "id", true, &in->subject_id, why, cap));
	TRY(want_str(&sl[SL_R_ID], "resource", "id", true, &in->resource_id, why, cap));
	TRY(want_str(&sl[SL_R_IDENT], "resource", "identifier", true, &in->resource_identifier, why,
	             cap));
	TRY(want_str(&sl[SL_A_ID], "action", "id", true, &in->action_id, why, cap));
	TRY(want_str(&sl[SL_A_USE], "action", "use", true, &in->action_use, why, cap));
	TRY(want_str(&sl[SL_A_METHOD], "action", "method", false, &in->action_method, why, cap));
	TRY(want_str(&sl[SL_A_PATH], "action", "path", false, &in->action_path, why, cap));
	TRY(want_list(&sl[SL_G_SCOPES], "grants", "scopes", true, &in->grants, why, cap));
	TRY(want_int(&sl[SL_D_DEPTH], "delegation", "depth", &in->depth, why, cap));
	if (in->depth < 0)
		return why_set(why, cap, "input: delegation.depth must not be negative");
	TRY(want_list(&sl[SL_C_REQ], "context", "requested_scopes", true, &in->requested, why,
	              cap));
	TRY(want_int(&sl[SL_C_TIME], "context", "time", &in->time, why, cap));
	if (sl[SL_C_CHAL].type != JT_TRUE && sl[SL_C_CHAL].type != JT_FALSE)
		return why_set(why, cap, "input: context.challenge_resolved must be a boolean");
	in->challenge_resolved = sl[SL_C_CHAL].type == JT_TRUE;
#undef TRY
	return CARACAL_OK;
}

/* ------------------------------------------------------------ entry */

size_t pr_input_scratch_max(size_t len)
{
	/* For a valid document, at any moment: unescaped bytes (at most the
	 * text), list strings (each "" and a separator: 3 bytes) with up to 7
	 * bytes of alignment per list (each [] at least 2 bytes), open
	 * containers (2 bytes each, at most 2048) and keys of open objects
	 * ("":0, at least 5 bytes each). */
	if (len > SIZE_MAX / 64)
		return SIZE_MAX;
	size_t frames = len / 2 + 2;
	if (frames > JSON_DEPTH_MAX + 2)
		frames = JSON_DEPTH_MAX + 2;
	return len + (len / 3 + 2) * sizeof(pr_text) + 8 * (len / 2 + 2) +
	       (frames + len / 5 + 2) * sizeof(rec) + 64;
}

int pr_input_parse(const char *text, size_t len, void *scratch, size_t cap, pr_input *in, char *why,
                   size_t why_cap)
{
	rd r;
	rec none; /* where records would start without scratch */
	memset(in, 0, sizeof *in);
	memset(&r, 0, sizeof r);
	r.text = (const unsigned char *)text;
	r.end = r.text + len;
	uintptr_t base =
	    ((uintptr_t)scratch + (_Alignof(rec) - 1)) & ~(uintptr_t)(_Alignof(rec) - 1);
	uintptr_t lim = (uintptr_t)scratch + cap;
	if (scratch == NULL || base > lim)
		base = lim = (uintptr_t)(void *)&none;
	r.recs = (rec *)(void *)base;
	r.lo = (unsigned char *)lim;
	r.frame = SIZE_MAX;
	if (!parse(&r)) {
		if (r.status == RD_SCRATCH) {
			if (cap < pr_input_scratch_max(len))
				return CARACAL_E_TOOBIG;
			/* Impossible for a valid document (see the bound). */
			r.status = RD_INVALID;
			r.err = r.end;
		}
		/* 1-based line; column: characters of the line up to the error. */
		const unsigned char *at = r.err != NULL ? r.err : r.end;
		int line = 1, col = 0;
		for (const unsigned char *c = r.text; c < at; c++) {
			if (*c == '\n') {
				if (line < INT32_MAX)
					line++;
				col = 0;
			} else if ((*c & 0xc0u) != 0x80u && col < INT32_MAX) {
				col++;
			}
		}
		return why_set(why, why_cap, "input is not valid JSON (line %d, column %d)", line,
		               col);
	}
	return check(&r, in, why, why_cap);
}
