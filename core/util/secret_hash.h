/*
 * secret_hash.h — client secrets: generation and Argon2id hashing.
 *
 * Parameters are the reference system's (t=3, m=64 MiB, p=2, 16-byte salt,
 * 32-byte hash), stored in the self-describing PHC string form
 * ($argon2id$v=19$m=65536,t=3,p=2$salt$hash), so they can be raised later
 * without invalidating stored hashes. Verification of a malformed stored
 * hash still performs one full derivation so that timing does not tell a
 * malformed row from a wrong secret.
 */
#ifndef CARACAL_CORE_SECRET_HASH_H
#define CARACAL_CORE_SECRET_HASH_H

#include <stddef.h>

#define SECRET_HASH_MAX 160
#define SECRET_TEXT_LEN 46 /* "cs_" + 43 base64url characters (32 random bytes) */

/* Write a fresh client secret (NUL-terminated) into out[SECRET_TEXT_LEN+1]. */
int secret_generate(char *out, size_t cap);

/* Hash secret into out (PHC string). 0 or -1. */
int secret_hash_create(const char *secret, size_t len, char *out, size_t cap);

/* 1 when secret matches encoded, 0 when not (or encoded is malformed). */
int secret_hash_verify(const char *encoded, const char *secret, size_t len);

#endif
