/* json_canon_check.c — whether a text is already canonical (json_canon.h),
 * so that JSON a plugin hands over (a policy's determining policies) can be
 * put into an audit event as it is, without a jansson tree and a dump.
 *
 * The grammar accepted is exactly what json_canonical writes: no
 * whitespace; integers without a sign, leading zeros or "-0"; strings in
 * valid UTF-8 with only the escapes jsonw writes (\" \\ \n \r \t \b \f, and
 * \u00XX in upper-case hex for the other control characters but NUL); object keys
 * strictly increasing by their bytes. Anything else (a real number, a key
 * with an escape, nesting deeper than the writer allows) answers "not
 * canonical", and the caller canonicalises through jansson instead: this
 * check may say no to a canonical text, never yes to a non-canonical one. */
#include "util/json_canon.h"
#include "util/jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const unsigned char *p, *end;
	int depth, max_depth;
};

static int value(struct scan *s);

static int literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

/* An int64 the way jsonw_int writes it. */
static int integer(struct scan *s)
{
	int neg = 0;
	if (s->p < s->end && *s->p == '-') {
		neg = 1;
		s->p++;
	}
	if (s->p == s->end || *s->p < '0' || *s->p > '9')
		return 0;
	if (*s->p == '0') {
		s->p++;
		if (neg) /* "-0": jansson reads 0 and writes "0" */
			return 0;
	} else {
		uint64_t v = 0;
		const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
			unsigned d = (unsigned)(*s->p - '0');
			if (v > (limit - d) / 10)
				return 0; /* outside int64: jansson would not read it as one */
			v = v * 10 + d;
			s->p++;
		}
	}
	/* A fraction or an exponent makes a real: not this checker's. */
	return s->p == s->end || (*s->p != '.' && *s->p != 'e' && *s->p != 'E');
}

static int hex_upper(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* A string; *escaped tells whether it held an escape. */
static int string(struct scan *s, int *escaped)
{
	*escaped = 0;
	if (s->p == s->end || *s->p != '"')
		return 0;
	s->p++;
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c == '"') {
			s->p++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c >= 0x80) {
			size_t n = jsonw_utf8_seq(s->p, (size_t)(s->end - s->p));
			if (n == 0)
				return 0;
			s->p += n;
			continue;
		}
		if (c != '\\') {
			s->p++;
			continue;
		}
		*escaped = 1;
		if (s->end - s->p < 2)
			return 0;
		unsigned char e = s->p[1];
		if (e == '"' || e == '\\' || e == 'n' || e == 'r' || e == 't' || e == 'b' ||
		    e == 'f') {
			s->p += 2;
			continue;
		}
		/* \u00XX only for a control character without a short escape. */
		if (e != 'u' || s->end - s->p < 6 || s->p[2] != '0' || s->p[3] != '0' ||
		    (s->p[4] != '0' && s->p[4] != '1') || !hex_upper(s->p[5]))
			return 0;
		unsigned char v =
		    (unsigned char)((s->p[4] - '0') * 16 +
		                    (s->p[5] <= '9' ? s->p[5] - '0' : s->p[5] - 'A' + 10));
		/* NUL: jansson refuses it in a string (the audit verifier reads
		 * events with jansson), so no event may carry one. */
		if (v == 0 || v == '\n' || v == '\r' || v == '\t' || v == '\b' || v == '\f')
			return 0;
		s->p += 6;
	}
	return 0;
}

static int object(struct scan *s)
{
	s->p++; /* '{' */
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 1;
	}
	const unsigned char *prev = NULL;
	size_t prev_len = 0;
	for (;;) {
		const unsigned char *key = s->p + 1;
		int escaped;
		if (!string(s, &escaped) || escaped)
			return 0; /* an escaped key sorts by its decoded bytes: not here */
		size_t key_len = (size_t)(s->p - 1 - key);
		if (prev != NULL) {
			size_t n = prev_len < key_len ? prev_len : key_len;
			int c = memcmp(prev, key, n);
			if (c > 0 || (c == 0 && prev_len >= key_len))
				return 0; /* out of order, or the same key twice */
		}
		prev = key;
		prev_len = key_len;
		if (s->p == s->end || *s->p++ != ':' || !value(s))
			return 0;
		if (s->p == s->end)
			return 0;
		if (*s->p == '}') {
			s->p++;
			return 1;
		}
		if (*s->p++ != ',')
			return 0;
	}
}

static int array(struct scan *s)
{
	s->p++; /* '[' */
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 1;
	}
	for (;;) {
		if (!value(s) || s->p == s->end)
			return 0;
		if (*s->p == ']') {
			s->p++;
			return 1;
		}
		if (*s->p++ != ',')
			return 0;
	}
}

static int value(struct scan *s)
{
	if (s->p == s->end)
		return 0;
	int escaped, ok;
	switch (*s->p) {
	case '{':
	case '[':
		if (s->depth == s->max_depth)
			return 0;
		s->depth++;
		ok = *s->p == '{' ? object(s) : array(s);
		s->depth--;
		return ok;
	case '"':
		return string(s, &escaped);
	case 't':
		return literal(s, "true", 4);
	case 'f':
		return literal(s, "false", 5);
	case 'n':
		return literal(s, "null", 4);
	default:
		return integer(s);
	}
}

static int check(const char *text, size_t len, int max_depth)
{
	if (text == NULL)
		return 0;
	struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len, 0,
	                 max_depth};
	return value(&s) && s.p == s.end;
}

int json_canon_check(const char *text, size_t len)
{
	return check(text, len, JSONW_MAX_DEPTH);
}

/* How deep a JSON text nests (brackets outside strings). */
static int nesting(const char *text, size_t len)
{
	int depth = 0, deepest = 0, in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest)
				deepest = depth;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return deepest;
}

char *json_canonical_text(const char *text, size_t len, int max_depth, size_t *out_len)
{
	if (text == NULL || max_depth < 0 || max_depth > JSONW_MAX_DEPTH)
		return NULL;
	if (check(text, len, max_depth)) {
		char *copy = malloc(len + 1);
		if (copy != NULL) {
			memcpy(copy, text, len);
			copy[len] = '\0';
			*out_len = len;
		}
		return copy;
	}
	json_error_t je;
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	char *canon = json_canonical(v, out_len);
	json_decref(v);
	if (canon != NULL && nesting(canon, *out_len) > max_depth) {
		free(canon);
		return NULL;
	}
	return canon;
}
