/* strlist.c — see strlist.h. */
#include "strlist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int ss_strlist_encode(const caracal_strlist *l, char **out, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	size_t cap = 3, n = 0;
	*out = NULL;
	*len = 0;
	if (l->count > 0 && l->items == NULL)
		return CARACAL_E_INVAL;
	for (size_t i = 0; i < l->count; i++) {
		if (l->items[i] == NULL)
			return CARACAL_E_INVAL;
		size_t s = strlen(l->items[i]);
		if (s > (SIZE_MAX - cap) / 6 - 3)
			return CARACAL_E_TOOBIG;
		cap += s * 6 + 3; /* worst case: every byte as \u00XX, quotes, comma */
	}
	char *b = malloc(cap);
	if (b == NULL)
		return CARACAL_E_NOMEM;
	b[n++] = '[';
	for (size_t i = 0; i < l->count; i++) {
		if (i > 0)
			b[n++] = ',';
		b[n++] = '"';
		for (const unsigned char *p = (const unsigned char *)l->items[i]; *p; p++) {
			switch (*p) {
			case '"':
			case '\\':
				b[n++] = '\\';
				b[n++] = (char)*p;
				break;
			case '\n':
				b[n++] = '\\';
				b[n++] = 'n';
				break;
			case '\r':
				b[n++] = '\\';
				b[n++] = 'r';
				break;
			case '\t':
				b[n++] = '\\';
				b[n++] = 't';
				break;
			default:
				if (*p < 0x20 || *p == 0x7f) {
					memcpy(b + n, "\\u00", 4);
					n += 4;
					b[n++] = hex[*p >> 4];
					b[n++] = hex[*p & 15];
				} else {
					b[n++] = (char)*p;
				}
			}
		}
		b[n++] = '"';
	}
	b[n++] = ']';
	b[n] = '\0';
	*out = b;
	*len = n;
	return CARACAL_OK;
}

typedef struct parser {
	const char *p, *end;
} parser;

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(parser *ps, uint32_t *v)
{
	*v = 0;
	if (ps->end - ps->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static size_t put_utf8(char *dst, uint32_t cp)
{
	if (cp < 0x80) {
		if (dst)
			dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		if (dst) {
			dst[0] = (char)(0xc0 | (cp >> 6));
			dst[1] = (char)(0x80 | (cp & 0x3f));
		}
		return 2;
	}
	if (cp < 0x10000) {
		if (dst) {
			dst[0] = (char)(0xe0 | (cp >> 12));
			dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			dst[2] = (char)(0x80 | (cp & 0x3f));
		}
		return 3;
	}
	if (dst) {
		dst[0] = (char)(0xf0 | (cp >> 18));
		dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[3] = (char)(0x80 | (cp & 0x3f));
	}
	return 4;
}

/* One string at ps->p (just after the opening quote). With dst NULL only
 * measures; returns the decoded length or -1. */
static long parse_string(parser *ps, char *dst)
{
	size_t n = 0;
	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p++;
		if (c == '"') {
			if (dst)
				dst[n] = '\0';
			return (long)n;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			if (dst)
				dst[n] = (char)c;
			n++;
			continue;
		}
		if (ps->p >= ps->end)
			return -1;
		char e = *ps->p++;
		char lit;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			lit = e;
			break;
		case 'b':
			lit = '\b';
			break;
		case 'f':
			lit = '\f';
			break;
		case 'n':
			lit = '\n';
			break;
		case 'r':
			lit = '\r';
			break;
		case 't':
			lit = '\t';
			break;
		case 'u': {
			uint32_t cp, lo;
			if (hex4(ps, &cp) != 0 || cp == 0)
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
					return -1;
				ps->p += 2;
				if (hex4(ps, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			n += put_utf8(dst ? dst + n : NULL, cp);
			continue;
		}
		default:
			return -1;
		}
		if (dst)
			dst[n] = lit;
		n++;
	}
	return -1;
}

/* Walk the array; with base NULL, count items and bytes. */
static int walk(const char *json, size_t len, size_t *count, size_t *bytes, char **items,
                char *strings)
{
	parser ps = {json, json + len};
	size_t k = 0, b = 0;
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p++ != '[')
		return -1;
	skip_ws(&ps);
	if (ps.p < ps.end && *ps.p == ']') {
		ps.p++;
	} else {
		for (;;) {
			skip_ws(&ps);
			if (ps.p >= ps.end || *ps.p++ != '"')
				return -1;
			long s = parse_string(&ps, strings ? strings + b : NULL);
			if (s < 0)
				return -1;
			if (items)
				items[k] = strings + b;
			k++;
			b += (size_t)s + 1;
			skip_ws(&ps);
			if (ps.p >= ps.end)
				return -1;
			char c = *ps.p++;
			if (c == ']')
				break;
			if (c != ',')
				return -1;
		}
	}
	skip_ws(&ps);
	if (ps.p != ps.end)
		return -1;
	*count = k;
	*bytes = b;
	return 0;
}

int ss_strlist_decode(const char *json, size_t n, ss_alloc_fn alloc, void *ctx,
                      caracal_strlist *out, void **block)
{
	size_t count, bytes;
	out->items = NULL;
	out->count = 0;
	*block = NULL;
	if (json == NULL)
		return CARACAL_OK;
	if (walk(json, n, &count, &bytes, NULL, NULL) != 0)
		return CARACAL_E_INVAL;
	if (count == 0)
		return CARACAL_OK;
	size_t head = count * sizeof(char *);
	char *mem = alloc(ctx, head + bytes);
	if (mem == NULL)
		return CARACAL_E_NOMEM;
	char **items = (char **)(void *)mem;
	if (walk(json, n, &count, &bytes, items, mem + head) != 0)
		return CARACAL_E_INVAL;
	out->items = (const char *const *)items;
	out->count = count;
	*block = mem;
	return CARACAL_OK;
}
