/* b64.h — unpadded base64url (RFC 4648 §5), as JOSE uses it. */
#ifndef CARACAL_CORE_B64_H
#define CARACAL_CORE_B64_H

#include <stddef.h>

/* Encoded length of n bytes (no NUL). */
size_t b64url_encoded_len(size_t n);
/* Encode n bytes into out (cap includes the NUL); returns the length, or 0
 * when out is too small. */
size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap);
/* Decode; padding and non-alphabet characters are refused. Returns the
 * decoded length, or -1. out must hold at least n * 3 / 4 + 1 bytes. */
long b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

#endif
