/* jsonw.c — see jsonw.h. */
#include "util/jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int reserve(jsonw *w, size_t more);

void jsonw_init(jsonw *w)
{
	memset(w, 0, sizeof *w);
}

void jsonw_init_cap(jsonw *w, size_t cap)
{
	jsonw_init(w);
	if (cap > 0)
		reserve(w, cap);
}

void jsonw_init_in(jsonw *w, char *buf, size_t cap)
{
	jsonw_init(w);
	w->buf = buf;
	w->cap = cap;
	w->borrowed = 1;
}

void jsonw_discard(jsonw *w)
{
	if (!w->borrowed)
		free(w->buf);
	jsonw_init(w);
}

static int reserve(jsonw *w, size_t more)
{
	if (w->failed)
		return -1;
	if (more <= w->cap - w->len)
		return 0;
	size_t cap = w->cap != 0 ? w->cap : 256;
	while (cap - w->len < more) {
		if (cap > SIZE_MAX / 2) {
			w->failed = 1;
			return -1;
		}
		cap *= 2;
	}
	char *buf = w->borrowed ? malloc(cap) : realloc(w->buf, cap);
	if (buf == NULL) {
		w->failed = 1;
		return -1;
	}
	if (w->borrowed && w->len > 0)
		memcpy(buf, w->buf, w->len);
	w->borrowed = 0;
	w->buf = buf;
	w->cap = cap;
	return 0;
}

static void put(jsonw *w, const char *s, size_t n)
{
	if (reserve(w, n) == 0) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
	}
}

static void putc1(jsonw *w, char c)
{
	if (reserve(w, 1) == 0)
		w->buf[w->len++] = c;
}

/* Before any value: the comma, and the check that a value may go here. */
static void value_prefix(jsonw *w)
{
	if (w->failed)
		return;
	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (w->is_object[w->depth]) { /* a value in an object needs its key */
		w->failed = 1;
		return;
	}
	if (w->depth == 0 && w->has_item[0]) { /* one top-level value only */
		w->failed = 1;
		return;
	}
	if (w->has_item[w->depth])
		putc1(w, ',');
	w->has_item[w->depth] = 1;
}

static void open(jsonw *w, char c, int object)
{
	value_prefix(w);
	if (w->failed)
		return;
	if (w->depth == JSONW_MAX_DEPTH) {
		w->failed = 1;
		return;
	}
	putc1(w, c);
	w->depth++;
	w->has_item[w->depth] = 0;
	w->is_object[w->depth] = (uint8_t)object;
}

static void close_(jsonw *w, char c, int object)
{
	if (w->failed)
		return;
	if (w->depth == 0 || w->is_object[w->depth] != object || w->after_key) {
		w->failed = 1;
		return;
	}
	w->depth--;
	putc1(w, c);
}

void jsonw_object_begin(jsonw *w)
{
	open(w, '{', 1);
}

void jsonw_object_end(jsonw *w)
{
	close_(w, '}', 1);
}

void jsonw_array_begin(jsonw *w)
{
	open(w, '[', 0);
}

void jsonw_array_end(jsonw *w)
{
	close_(w, ']', 0);
}

size_t jsonw_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

/* Whether any of the 8 bytes at p is a control character, '"' or '\\'
 * (or, with high_too, a byte of a multi-byte UTF-8 sequence): the classic
 * "has byte less than" and "has zero byte" word tests, exact as booleans.
 * Lets long plain runs (a JWS, base64, ids) be copied 8 bytes at a time. */
static int special8(const unsigned char *p, int high_too)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);
	uint64_t x;
	memcpy(&x, p, sizeof x);
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	uint64_t m = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
	if (high_too)
		m |= x;
	return (m & highs) != 0;
}

/* The bytes s takes once quoted and escaped (UTF-8 is copied as is). */
static size_t escaped_len(const unsigned char *p, size_t len)
{
	size_t n = len + 2, i = 0;
	while (i < len) {
		if (len - i >= 8 && !special8(p + i, 0)) {
			i += 8;
			continue;
		}
		unsigned char c = p[i++];
		if (c == '"' || c == '\\')
			n += 1;
		else if (c < 0x20)
			n += c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f' ? 1 : 5;
	}
	return n;
}

void jsonw_strn(jsonw *w, const char *s, size_t len)
{
	value_prefix(w);
	if (w->failed)
		return;
	/* Exactly what it needs: reserving for the worst case (every byte a
	 * \u00XX) made long strings grow the buffer, and realloc was the
	 * writer's largest cost. */
	if (len > (SIZE_MAX - 2) / 6 ||
	    reserve(w, escaped_len((const unsigned char *)s, len)) != 0) {
		w->failed = 1;
		return;
	}
	static const char hex[] = "0123456789ABCDEF"; /* as jansson writes it */
	const unsigned char *p = (const unsigned char *)s;
	char *out = w->buf + w->len;
	*out++ = '"';
	size_t i = 0;
	while (i < len) {
		if (len - i >= 8 && !special8(p + i, 1)) {
			memcpy(out, p + i, 8);
			out += 8;
			i += 8;
			continue;
		}
		unsigned char c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			*out++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t n = jsonw_utf8_seq(p + i, len - i);
			if (n == 0) {
				w->failed = 1;
				return;
			}
			memcpy(out, p + i, n);
			out += n;
			i += n;
			continue;
		}
		*out++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*out++ = (char)c;
			break;
		case '\n':
			*out++ = 'n';
			break;
		case '\r':
			*out++ = 'r';
			break;
		case '\t':
			*out++ = 't';
			break;
		case '\b':
			*out++ = 'b';
			break;
		case '\f':
			*out++ = 'f';
			break;
		default:
			*out++ = 'u';
			*out++ = '0';
			*out++ = '0';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 0xF];
		}
		i++;
	}
	*out++ = '"';
	w->len = (size_t)(out - w->buf);
}

void jsonw_str(jsonw *w, const char *s)
{
	if (s == NULL)
		jsonw_null(w);
	else
		jsonw_strn(w, s, strlen(s));
}

void jsonw_key(jsonw *w, const char *key)
{
	if (w->failed)
		return;
	if (!w->is_object[w->depth] || w->depth == 0 || w->after_key || key == NULL) {
		w->failed = 1;
		return;
	}
	/* Written as a string value of the array-like sequence of members. */
	w->is_object[w->depth] = 0;
	jsonw_strn(w, key, strlen(key));
	w->is_object[w->depth] = 1;
	putc1(w, ':');
	w->after_key = 1;
}

void jsonw_int(jsonw *w, int64_t v)
{
	value_prefix(w);
	/* Digits from the end; the magnitude as unsigned, so INT64_MIN too. */
	char num[24];
	char *end = num + sizeof num, *p = end;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(end - p));
}

void jsonw_bool(jsonw *w, int v)
{
	value_prefix(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jsonw_null(jsonw *w)
{
	value_prefix(w);
	put(w, "null", 4);
}

void jsonw_raw(jsonw *w, const char *json, size_t len)
{
	value_prefix(w);
	if (json == NULL || len == 0)
		w->failed = 1;
	else
		put(w, json, len);
}

void jsonw_str_array(jsonw *w, const char *const *items, size_t n)
{
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, items[i]);
	jsonw_array_end(w);
}

void jsonw_kstr(jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_kint(jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void jsonw_object_sorted(jsonw *w, jsonw_member *m, size_t n)
{
	/* Insertion sort: objects here have a dozen members at most, and
	 * strcmp compares as unsigned bytes, a prefix first. */
	for (size_t i = 1; i < n; i++) {
		jsonw_member x = m[i];
		size_t j = i;
		for (; j > 0 && strcmp(m[j - 1].key, x.key) > 0; j--)
			m[j] = m[j - 1];
		m[j] = x;
	}
	jsonw_object_begin(w);
	for (size_t i = 0; i < n && !w->failed; i++) {
		if (i > 0 && strcmp(m[i - 1].key, m[i].key) == 0) {
			w->failed = 1;
			break;
		}
		jsonw_key(w, m[i].key);
		switch (m[i].kind) {
		case JSONW_STR:
			jsonw_str(w, m[i].s);
			break;
		case JSONW_INT:
			jsonw_int(w, m[i].i);
			break;
		case JSONW_RAW:
			jsonw_raw(w, m[i].s, m[i].len);
			break;
		default:
			w->failed = 1;
		}
	}
	jsonw_object_end(w);
}

const char *jsonw_text(jsonw *w, size_t *len)
{
	if (w->failed || w->depth != 0 || !w->has_item[0] || reserve(w, 1) != 0)
		return NULL;
	w->buf[w->len] = '\0';
	if (len != NULL)
		*len = w->len;
	return w->buf;
}

char *jsonw_finish(jsonw *w, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	const char *text = jsonw_text(w, &n);
	if (text != NULL && w->borrowed) { /* the caller's buffer: a copy */
		out = malloc(n + 1);
		if (out != NULL)
			memcpy(out, text, n + 1);
	} else if (text != NULL) {
		out = w->buf;
		w->buf = NULL;
	}
	if (out != NULL && len != NULL)
		*len = n;
	jsonw_discard(w);
	return out;
}
