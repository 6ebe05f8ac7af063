/* envelope_int.h — what envelope.c and envelope_decode.c share (internal). */
#ifndef CARACAL_CORE_STREAM_ENVELOPE_INT_H
#define CARACAL_CORE_STREAM_ENVELOPE_INT_H

#include <stddef.h>

/* qsort order of fields: key bytes, then length (the MAC input's order). */
int envelope_field_cmp(const void *a, const void *b);
/* Printable ASCII without spaces, 1..max bytes: topics, ids and kids. */
int envelope_is_name(const char *s, size_t n, size_t max);

#endif
