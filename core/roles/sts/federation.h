/*
 * federation.h — verifying a federated id_token (spec sts.md §2.11): the
 * zone's registered issuer, its JWKS fetched over the guarded HTTPS client
 * and cached per issuer for ten minutes (never served stale), the token's
 * signature and claims, and the §1.4 rules on its subject.
 */
#ifndef CARACAL_STS_FEDERATION_H
#define CARACAL_STS_FEDERATION_H

#include "roles/deps.h"

#include <stddef.h>
#include <stdint.h>

#define STS_FEDERATION_JWKS_TTL_US (600LL * 1000000)
/* On an unknown kid the issuer may have rotated: its keys are fetched again
 * at most this often (C-FIX: the reference waits out the cache). */
#define STS_FEDERATION_REFETCH_US (30LL * 1000000)

typedef enum sts_federation_result {
	STS_FEDERATION_OK = 0,
	STS_FEDERATION_REJECTED = -1,    /* 401 invalid_token */
	STS_FEDERATION_UNAVAILABLE = -2, /* 503: storage failed, nothing was judged */
} sts_federation_result;

/* Verify id_token for zone. On OK, *issuer and *subject (the token's sub,
 * byte for byte) are in arena. Otherwise why says what failed, in words fit
 * for the audit record (never the token itself). */
sts_federation_result sts_federation_verify(const role_deps *deps, const char *zone,
                                            const char *id_token, caracal_arena *arena,
                                            int64_t now_us, const char **issuer,
                                            const char **subject, char *why, size_t why_cap);

/* Forget every cached key set (tests, and key invalidation). */
void sts_federation_cache_clear(void);

#endif
