/*
 * strlist.h — caracal_strlist <-> JSON array of strings, as storage_sqlite
 * keeps string lists (scopes, traits, labels) in TEXT columns that the schema
 * CHECKs with json_valid() and json_type() = 'array'.
 */
#ifndef STORAGE_SQLITE_STRLIST_H
#define STORAGE_SQLITE_STRLIST_H

#include <caracal/common.h>

/* Encode l as a compact JSON array into a malloc()ed, NUL-terminated buffer.
 * INVAL when an item (or items with count > 0) is NULL; NOMEM. */
int ss_strlist_encode(const caracal_strlist *l, char **out, size_t *len);

/* Allocator for decode: zeroed or not, NULL on failure. */
typedef void *(*ss_alloc_fn)(void *ctx, size_t n);

/* Decode a JSON array of strings (strict: no other value types, no \u0000,
 * valid surrogate pairs, nothing after the closing bracket but whitespace).
 * The item array and the strings are one allocation from alloc; *block
 * receives it (NULL for an empty list). INVAL when malformed; NOMEM. */
int ss_strlist_decode(const char *json, size_t n, ss_alloc_fn alloc, void *ctx,
                      caracal_strlist *out, void **block);

#endif
