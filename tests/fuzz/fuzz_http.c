/*
 * fuzz_http.c — libFuzzer target for the incremental HTTP/1.1 parser.
 *
 * Input: byte 0 picks the limits, byte 1 seeds the split pattern, the rest
 * is a byte stream of (pipelined) requests. The stream is parsed twice:
 * all at once, and in pseudo-random slices (the buffer reallocated to its
 * exact size each time so ASan sees any read past the end, compacted after
 * each HP_AGAIN as the server does). Both runs must find the same requests
 * and end the same way; every result is checked against the limits.
 */
#include "config.h"

#include "http/parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXREQ 64

typedef struct run {
	uint64_t sums[MAXREQ];
	size_t n;
	int final; /* HP_AGAIN or HP_ERROR */
} run;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void check_done(const http_parser *p, const char *buf, size_t len, const hp_limits *lim)
{
	if (p->consumed > len || p->body_off > p->consumed ||
	    p->body_len > p->consumed - p->body_off)
		abort();
	if (p->body_len > lim->max_body_bytes)
		abort();
	if (p->method_len == 0 || p->method_off + p->method_len >= p->target_off)
		abort();
	for (size_t i = 0; i < p->method_len; i++) {
		if (!hp_is_tchar((unsigned char)buf[p->method_off + i]))
			abort();
	}
	if (p->target_len == 0 || p->target_len > lim->max_target_bytes)
		abort();
	if (buf[p->target_off] != '/' && buf[p->target_off] != '*')
		abort();
	if (p->version_minor != 0 && p->version_minor != 1)
		abort();
	if (p->nfields > lim->max_headers || p->body_off > lim->max_header_bytes)
		abort();
	for (size_t i = 0; i < p->nfields; i++) {
		const hp_field *f = &p->fields[i];
		if (f->name_len == 0 || (size_t)f->name_off + f->name_len >= p->body_off ||
		    (size_t)f->value_off + f->value_len >= p->body_off)
			abort();
	}
	if (p->has_content_length && p->chunked)
		abort();
	if (!p->chunked && p->body_len != (p->has_content_length ? p->content_length : 0))
		abort();
}

static uint64_t summary(const http_parser *p, const char *buf)
{
	uint64_t h = 14695981039346656037ULL;
	h = fnv(h, buf + p->method_off, p->method_len);
	h = fnv(h, buf + p->target_off, p->target_len);
	for (size_t i = 0; i < p->nfields; i++) {
		const hp_field *f = &p->fields[i];
		h = fnv(h, buf + f->name_off, f->name_len);
		h = fnv(h, "\0", 1);
		h = fnv(h, buf + f->value_off, f->value_len);
		h = fnv(h, "\n", 1);
	}
	h = fnv(h, buf + p->body_off, p->body_len);
	int flags[] = {p->version_minor, p->keep_alive, p->chunked, p->expect_continue};
	return fnv(h, flags, sizeof(flags));
}

static void check_error(const http_parser *p)
{
	switch (p->status) {
	case 400:
	case 413:
	case 414:
	case 431:
	case 501:
	case 505:
		break;
	default:
		abort();
	}
	if (p->error == NULL)
		abort();
}

/* Handles results after an execute; returns 1 to go on parsing buf. */
static int step(http_parser *p, int r, char *buf, size_t *len, const hp_limits *lim, run *out)
{
	if (r == HP_DONE) {
		check_done(p, buf, *len, lim);
		if (out->n < MAXREQ)
			out->sums[out->n] = summary(p, buf);
		out->n++;
		size_t used = p->consumed;
		memmove(buf, buf + used, *len - used);
		*len -= used;
		http_parser_reset(p);
		return 1;
	}
	if (r == HP_ERROR) {
		check_error(p);
		out->final = HP_ERROR;
		return 0;
	}
	if (r != HP_AGAIN || p->pos > *len)
		abort();
	size_t nl = http_parser_compact(p, buf, *len);
	if (nl > *len)
		abort();
	*len = nl;
	out->final = HP_AGAIN;
	return 0;
}

static void run_once(const uint8_t *data, size_t size, const hp_limits *lim, hp_field *fields,
                     run *out)
{
	http_parser p;
	http_parser_init(&p, lim, fields);
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	size_t len = size;
	out->final = HP_AGAIN;
	while (out->final != HP_ERROR) {
		int r = http_parser_execute(&p, buf, len);
		if (!step(&p, r, buf, &len, lim, out))
			break;
	}
	free(buf);
}

static void run_sliced(const uint8_t *data, size_t size, uint8_t seed, const hp_limits *lim,
                       hp_field *fields, run *out)
{
	http_parser p;
	http_parser_init(&p, lim, fields);
	char *buf = NULL;
	size_t len = 0, off = 0;
	uint32_t rng = seed * 2654435761u + 1;
	out->final = HP_AGAIN;
	while (off < size && out->final != HP_ERROR) {
		rng = rng * 1103515245u + 12345u;
		size_t take = (seed & 1) ? 1 + (rng >> 16) % 7 : 1 + (rng >> 16) % 97;
		if (take > size - off)
			take = size - off;
		char *nb = malloc(len + take);
		if (len)
			memcpy(nb, buf, len);
		memcpy(nb + len, data + off, take);
		free(buf);
		buf = nb;
		len += take;
		off += take;
		for (;;) {
			int r = http_parser_execute(&p, buf, len);
			if (!step(&p, r, buf, &len, lim, out))
				break;
		}
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static const size_t targets[] = {8, 64, 2048, 16};
	static const size_t heads[] = {64, 512, 16384, 200};
	static const size_t nhdr[] = {1, 4, 64, 8};
	static const size_t bodies[] = {0, 16, 1024 * 1024, 100};
	hp_limits lim = {
	    .max_target_bytes = targets[data[0] & 3],
	    .max_header_bytes = heads[(data[0] >> 2) & 3],
	    .max_headers = nhdr[(data[0] >> 4) & 3],
	    .max_body_bytes = bodies[(data[0] >> 6) & 3],
	};
	uint8_t seed = data[1];
	data += 2;
	size -= 2;

	hp_field fields[64];
	run a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	run_once(data, size, &lim, fields, &a);
	run_sliced(data, size, seed, &lim, fields, &b);
	if (a.n != b.n || a.final != b.final)
		abort();
	for (size_t i = 0; i < a.n && i < MAXREQ; i++) {
		if (a.sums[i] != b.sums[i])
			abort();
	}
	return 0;
}
