/* json_canon.h — the canonical text of a jansson value: compact, object keys
 * sorted by their bytes, byte-identical to
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) (the audit
 * chain's format since it began), at a fraction of its cost: jansson's
 * dumper goes through a callback per token and sorts through a copy. */
#ifndef CARACAL_CORE_JSON_CANON_H
#define CARACAL_CORE_JSON_CANON_H

#include <jansson.h>
#include <stddef.h>

/* malloc'd, NUL-terminated, *len its length; NULL on failure (out of memory,
 * nesting deeper than the writer allows, a string that is not UTF-8). */
char *json_canonical(const json_t *v, size_t *len);

/* 1 when text (len bytes, no NUL needed) is already what json_canonical
 * writes for the value it holds; 0 otherwise, including for canonical texts
 * outside what the check reads (real numbers, object keys with escapes),
 * which json_canonical_text canonicalises through jansson. */
int json_canon_check(const char *text, size_t len);

/* The canonical text of a JSON text: a copy when it is canonical already,
 * else parsed (duplicate keys refused) and written canonically. malloc'd,
 * NUL-terminated; NULL when text is not JSON, nests deeper than max_depth
 * (at most JSONW_MAX_DEPTH; less when the text goes into a document that
 * must stay within it), or on failure. */
char *json_canonical_text(const char *text, size_t len, int max_depth, size_t *out_len);

#endif
