/*
 * sha256.h — SHA-256 and HMAC-SHA-256 for hot paths.
 *
 * OpenSSL 3 looks the algorithm up by name on every EVP_sha256()-based
 * one-shot call (EVP_Digest, HMAC) and HMAC() also re-keys each time; on
 * the token path that cost more than the hashing. Here the algorithm is
 * fetched once per process, and a keyed MAC keeps its key schedule in a
 * template that every call duplicates.
 */
#ifndef CARACAL_CORE_SHA256_H
#define CARACAL_CORE_SHA256_H

#include <stddef.h>

#define SHA256_LEN 32

/* 0 on success, -1 when OpenSSL fails (out of memory, no provider). */
int sha256_digest(const void *data, size_t len, unsigned char out[SHA256_LEN]);

/* The digest as 64 lowercase hex digits and a NUL; 0 or -1. */
int sha256_hex(const void *data, size_t len, char out[2 * SHA256_LEN + 1]);

typedef struct sha256_hmac_key sha256_hmac_key;
/* NULL on failure. The key bytes are not kept outside OpenSSL. */
sha256_hmac_key *sha256_hmac_key_new(const void *key, size_t key_len);
void sha256_hmac_key_free(sha256_hmac_key *k);
/* HMAC-SHA-256(key, data); 0 or -1. Thread-safe: the template is only read. */
int sha256_hmac(const sha256_hmac_key *k, const void *data, size_t len,
                unsigned char out[SHA256_LEN]);

#endif
