/*
 * caracal/signer.h — the signer kind: sign with a zone's key, publish its
 * public keys, rotate.
 *
 * Private keys never leave the plugin: the host sees only algorithm names,
 * key ids and signatures. The core assembles the JWS (header and payload);
 * the signer signs the bytes it is given.
 *
 * Every operation is called from a decision-pool worker with that worker's
 * thread context (tctx) and must bound its own time.
 */
#ifndef CARACAL_SIGNER_H
#define CARACAL_SIGNER_H

#include <caracal/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The key the next signature for a zone will use. */
typedef struct caracal_signing_key {
	uint32_t size;
	const char *alg; /* JOSE name: "ES256", "EdDSA", "RS256", "PS256" (static or arena) */
	const char *kid; /* RFC 7638 thumbprint (arena) */
} caracal_signing_key;

typedef struct caracal_signer_ops {
	uint32_t size;

	/* --- mandatory in ABI 1.0 --- */

	/* The zone's current signing key, created on first use when the plugin
	 * is configured to generate keys. NOTFOUND when it has none and may not
	 * create one; UNAVAIL when its key store cannot be read. */
	int (*current_key)(void *tctx, const char *zone_id, caracal_arena *arena,
	                   caracal_signing_key *out, caracal_error *err);

	/* Sign input (the JWS signing input) with the key kid of zone_id. The
	 * signature is in JOSE form (ES256: raw r||s, 64 bytes). CONFLICT when
	 * kid is no longer able to sign (rotated out): the caller asks for the
	 * current key again. */
	int (*sign)(void *tctx, const char *zone_id, const char *kid, const unsigned char *input,
	            size_t input_len, caracal_arena *arena, caracal_str *signature,
	            caracal_error *err);

	/* The zone's JWKS document {"keys":[...]}: every key a verifier should
	 * accept now (the current key and those inside their rotation grace).
	 * *max_age_s receives how long a verifier may cache it. NOTFOUND when the
	 * zone has no key (JWKS never creates keys). */
	int (*jwks)(void *tctx, const char *zone_id, caracal_arena *arena, caracal_str *json,
	            int64_t *max_age_s, caracal_error *err);

	/* Make a new current key for zone_id; the previous one stays in the JWKS
	 * for the configured grace period. */
	int (*rotate)(void *tctx, const char *zone_id, caracal_arena *arena,
	              caracal_signing_key *out, caracal_error *err);
} caracal_signer_ops;

#define CARACAL_SIGNER_OPS_MIN_SIZE \
	(offsetof(caracal_signer_ops, rotate) + sizeof(((caracal_signer_ops *)0)->rotate))

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_SIGNER_H */
