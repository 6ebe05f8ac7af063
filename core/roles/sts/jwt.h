/*
 * jwt.h — parsing and verifying compact JWS mandates (our own issuance) for
 * the subject-token path of the token endpoint (spec sts.md §2.6).
 *
 * Parsing is bounded (16 KiB token, JSON without duplicate keys) and pure;
 * verification takes the zone's JWKS document as the signer publishes it and
 * accepts only the algorithms Caracal signs with (ES256, EdDSA, RS256,
 * PS256) — never "none", never HMAC, and the algorithm must match the key.
 */
#ifndef CARACAL_STS_JWT_H
#define CARACAL_STS_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_TOKEN 16384
#define JWT_LEEWAY_S 60

typedef struct jwt {
	json_t *header;  /* owned */
	json_t *claims;  /* owned */
	const char *alg; /* into header */
	const char *kid; /* into header, NULL when absent */
	unsigned char *signature;
	size_t signature_len;
	size_t signing_input_len; /* bytes of token before the second '.' */
} jwt;

/* Parse token (not verified). 0, or -1 with a reason in why. */
int jwt_parse(const char *token, size_t len, jwt *out, char *why, size_t why_cap);
void jwt_free(jwt *j);

/* Verify the signature over token's signing input with the key of jwks
 * ({"keys":[...]}) whose kid matches. 0, or -1 with a reason. */
int jwt_verify_signature(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                         char *why, size_t why_cap);

/* The same for a federated id_token (spec sts.md §2.11): RS256/384/512 or
 * ES256/384/512 only, the key's kty and curve matching the algorithm, a key
 * with "use" other than "sig" refused, RSA exponents in [3, 2^31 - 1], EC
 * points on their curve. */
int jwt_verify_federated(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                         char *why, size_t why_cap);

/* The time claims: exp required and not passed, iat (when present) an
 * integer not in the future, nbf (when present) honoured; leeway 60 s. */
int jwt_check_times(const jwt *j, int64_t now_s, char *why, size_t why_cap);

/* The claim checks of §2.6: iss equals issuer, aud (string or array)
 * contains issuer, exp present and not passed, iat not in the future, nbf
 * honoured, zone_id equals zone, use equals expected_use; leeway 60 s. */
int jwt_check_claims(const jwt *j, const char *issuer, const char *zone, const char *expected_use,
                     int64_t now_s, char *why, size_t why_cap);

#endif
