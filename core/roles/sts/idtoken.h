/*
 * idtoken.h — the checks a federated id_token must pass (spec sts.md §2.11
 * and §1.4) once its issuer is known to the zone and its JWKS fetched.
 * Pure functions: fetching and caching the JWKS is federation.c's job.
 */
#ifndef CARACAL_STS_IDTOKEN_H
#define CARACAL_STS_IDTOKEN_H

#include "roles/sts/jwt.h"

#include <stddef.h>
#include <stdint.h>

#define STS_SUBJECT_MAX 512

/* Whether sub (len bytes) may become a federated subject (§1.4): non-empty,
 * at most 512 bytes, valid UTF-8 without U+FFFD, no control characters
 * (C0, DEL, C1), no bidirectional embedding/override/isolate controls
 * (U+202A-U+202E, U+2066-U+2069), no leading or trailing white space (it is
 * refused, never trimmed), and not in the reserved "caracal:" namespace.
 * 0, or -1 with the rule broken in why. */
int sts_subject_acceptable(const char *sub, size_t len, char *why, size_t why_cap);

/* Signature (jwt_verify_federated against jwks) and claims: iss exactly
 * issuer; aud (string or array) contains audience; exp required and not
 * passed; iat, when present, an integer not in the future; nbf honoured;
 * leeway 60 s; then sts_subject_acceptable on sub. 0, or -1 with why. */
int sts_idtoken_verify(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                       const char *issuer, const char *audience, int64_t now_s, char *why,
                       size_t why_cap);

#endif
