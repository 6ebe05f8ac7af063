/* jsonw.h — a streaming JSON text writer for documents the hot path builds
 * (the policy input, mandate claims, token responses).
 *
 * Why not jansson: building a json_t tree and dumping it cost the mint more
 * than its ECDSA signature (BENCHMARKS.md). The writer appends straight into
 * one growing buffer and inserts the commas itself.
 *
 * Errors are sticky: after the first failure (out of memory, a string that
 * is not valid UTF-8, nesting deeper than JSONW_MAX_DEPTH, a key outside an
 * object) every call is a no-op and jsonw_finish returns NULL, so callers
 * check once at the end. Invalid UTF-8 fails the document rather than being
 * repaired: these documents carry authority, and a changed byte is a changed
 * meaning.
 */
#ifndef CARACAL_CORE_JSONW_H
#define CARACAL_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 32

typedef struct jsonw {
	char *buf; /* owned until jsonw_finish hands it over (unless borrowed) */
	size_t len;
	size_t cap;
	int failed;
	int borrowed; /* buf is the caller's (jsonw_init_in) until it grows */
	int depth;
	/* Per open container: whether a value was written (so the next one
	 * needs a comma), and whether it is an object (keys allowed). */
	uint8_t has_item[JSONW_MAX_DEPTH + 1];
	uint8_t is_object[JSONW_MAX_DEPTH + 1];
	uint8_t after_key; /* a key was written: the next value needs no comma */
} jsonw;

void jsonw_init(jsonw *w);
/* As jsonw_init, with room for cap bytes already (a size the caller expects;
 * the writer still grows past it; a failed allocation fails the writer). */
void jsonw_init_cap(jsonw *w, size_t cap);
/* Writes into buf (cap bytes, the caller's: on the stack, say) and moves to
 * a heap buffer of its own only if the document outgrows it: a document of
 * the expected size costs no allocation. Read it with jsonw_text, then
 * jsonw_discard. */
void jsonw_init_in(jsonw *w, char *buf, size_t cap);
/* The NUL-terminated document, valid until jsonw_discard (the writer keeps
 * the buffer), or NULL when any step failed or containers are still open. */
const char *jsonw_text(jsonw *w, size_t *len);
/* Frees the buffer of a writer that will not be finished (not a borrowed
 * one). */
void jsonw_discard(jsonw *w);

void jsonw_object_begin(jsonw *w);
void jsonw_object_end(jsonw *w);
void jsonw_array_begin(jsonw *w);
void jsonw_array_end(jsonw *w);

void jsonw_key(jsonw *w, const char *key);
/* A string value; NULL writes null. */
void jsonw_str(jsonw *w, const char *s);
void jsonw_strn(jsonw *w, const char *s, size_t len);
void jsonw_int(jsonw *w, int64_t v);
void jsonw_bool(jsonw *w, int v);
void jsonw_null(jsonw *w);
/* An already serialised JSON value, copied verbatim (the caller vouches
 * for it: it comes from a JSON encoder). */
void jsonw_raw(jsonw *w, const char *json, size_t len);
/* An array of strings. */
void jsonw_str_array(jsonw *w, const char *const *items, size_t n);

/* One member of an object written by jsonw_object_sorted. */
typedef enum jsonw_kind { JSONW_STR, JSONW_INT, JSONW_RAW } jsonw_kind;
typedef struct jsonw_member {
	const char *key;
	jsonw_kind kind;
	const char *s; /* STR: the string (NULL writes null); RAW: JSON text */
	size_t len;    /* RAW: the length of s */
	int64_t i;     /* INT */
} jsonw_member;
#define JSONW_MSTR(k, v) ((jsonw_member){.key = (k), .kind = JSONW_STR, .s = (v)})
#define JSONW_MINT(k, v) ((jsonw_member){.key = (k), .kind = JSONW_INT, .i = (v)})
#define JSONW_MRAW(k, v, n) ((jsonw_member){.key = (k), .kind = JSONW_RAW, .s = (v), .len = (n)})

/* An object of n members in canonical order (keys by their bytes, the
 * order json_canonical writes), whatever order m lists them in; m is sorted
 * in place. Two members with one key fail the writer (a canonical object
 * has each key once). With RAW values that are canonical JSON text
 * (json_canon.h), the object is canonical too: how audit events are built
 * without a jansson tree. */
void jsonw_object_sorted(jsonw *w, jsonw_member *m, size_t n);

/* Length of the valid UTF-8 sequence at s (n bytes left, n > 0), or 0:
 * overlong forms, surrogates and code points above U+10FFFF are invalid
 * (what the writer refuses in a string). */
size_t jsonw_utf8_seq(const unsigned char *s, size_t n);

/* Shorthands for "key": value inside an object. */
void jsonw_kstr(jsonw *w, const char *key, const char *s);
void jsonw_kint(jsonw *w, const char *key, int64_t v);

/* The NUL-terminated document (malloc'd, the caller frees it) and its length,
 * or NULL when any step failed or containers are still open. The writer is
 * reset either way. */
char *jsonw_finish(jsonw *w, size_t *len);

#endif
