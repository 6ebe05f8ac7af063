/*
 * client_auth.h — client secret verification for the token endpoint
 * (spec sts.md §2.5), with the three defences the mint path needs:
 *
 *  - a verified-secret cache: stored hash -> SHA-256 of the secret that
 *    verified against it, for an hour, at most 8192 entries; a warm client
 *    costs one SHA-256 and a constant-time compare, no Argon2id;
 *  - a bound on concurrent cold verifications (each Argon2id takes 64 MiB),
 *    waited for at most a deadline, so memory stays bounded under a flood;
 *  - a failure lockout per application id: more than 60 failures in a minute
 *    block that application for 60 s (per process; see the note in the
 *    issue log about cluster-wide lockout).
 */
#ifndef CARACAL_STS_CLIENT_AUTH_H
#define CARACAL_STS_CLIENT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define CLIENT_AUTH_FAILURE_LIMIT 60
#define CLIENT_AUTH_WINDOW_US (60 * 1000000LL)
#define CLIENT_AUTH_CACHE_TTL_US (3600 * 1000000LL)

/* Set the cold-verification bound (first call wins; later calls no-op). */
void client_auth_init(int concurrency);

typedef enum client_auth_result {
	CLIENT_AUTH_OK = 0,
	CLIENT_AUTH_MISMATCH = 1,
	CLIENT_AUTH_BUSY = 2, /* no cold-verification slot within the deadline */
} client_auth_result;

client_auth_result client_auth_verify(const char *stored_hash, const char *secret, size_t len,
                                      int64_t wait_ms);

/* 1 while app_id is locked out. */
int client_auth_blocked(const char *app_id, int64_t now_us);
/* Count a failure; returns 1 when this failure locked app_id out. */
int client_auth_failed(const char *app_id, int64_t now_us);

/* Test hooks. */
void client_auth_reset(void);
uint64_t client_auth_cold_verifications(void);

#endif
