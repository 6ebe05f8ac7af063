/*
 * client_auth.h — client secret verification for the token endpoint
 * (spec sts.md §2.5), split so the caller can put the failure lockout
 * between the two halves:
 *
 *  - client_auth_warm: the verified-secret cache (stored hash -> SHA-256 of
 *    the secret that verified against it, for an hour, 8192 entries). A hit
 *    proves the presented secret is the right one; it costs one SHA-256 and
 *    a constant-time compare, no Argon2id.
 *  - client_auth_cold: Argon2id, at most `concurrency` at a time (each takes
 *    64 MiB), waited for at most a deadline, so memory stays bounded under a
 *    flood; a success fills the cache.
 *
 * Only cold verifications can be guesses, so the token endpoint consults the
 * (cluster-wide, storage-backed) failure lockout before a cold verification
 * and counts its failures, and never on the warm path.
 */
#ifndef CARACAL_STS_CLIENT_AUTH_H
#define CARACAL_STS_CLIENT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define CLIENT_AUTH_CACHE_TTL_US (3600 * 1000000LL)

/* Set the cold-verification bound (first call wins; later calls no-op). */
void client_auth_init(int concurrency);

typedef enum client_auth_result {
	CLIENT_AUTH_OK = 0,
	CLIENT_AUTH_MISMATCH = 1,
	CLIENT_AUTH_BUSY = 2, /* no cold-verification slot within the deadline */
} client_auth_result;

/* 1 when secret is the one that last verified against stored_hash. */
int client_auth_warm(const char *stored_hash, const char *secret, size_t len);

/* Full Argon2id verification under the concurrency bound. */
client_auth_result client_auth_cold(const char *stored_hash, const char *secret, size_t len,
                                    int64_t wait_ms);

/* Test hooks. */
void client_auth_reset(void);
uint64_t client_auth_cold_verifications(void);

#endif
