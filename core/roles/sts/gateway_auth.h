/*
 * gateway_auth.h — the gateway-authenticated exchange's HMAC check (spec
 * sts.md §2.10, §2.1 rule 8, §7 vectors 28-29; gateway-coordinator.md A6.2).
 *
 * Our Gateway signs each token exchange it forwards with the shared
 * GATEWAY_STS_HMAC_KEY:
 *
 *   hex(HMAC-SHA256(key, "{ts}\n{nonce}\n{UPPER(method)}\n{escaped path}\n{hex(sha256(raw
 * body))}"))
 *
 * and sends it in three headers (X-Caracal-Gateway-Timestamp, -Request (the
 * nonce), -Signature). Any one of them present makes the exchange
 * gateway-authenticated, and then every check must pass; the caller answers
 * any failure with 401 access_denied "invalid gateway exchange signature"
 * (the reasons written into `why` are for logs, never for clients).
 *
 * This module knows nothing of the HTTP server: the caller passes strings.
 * It does not claim the nonce; the caller does that in storage, SET NX
 * under sts_gateway_nonce_key() for STS_GATEWAY_NONCE_TTL_S, and fails the
 * exchange when the key exists or storage is down.
 *
 * Decisions the spec leaves open:
 *  - Key: hex text (either case), trailing whitespace allowed (a secret
 *    file's newline), 32..256 bytes decoded. Shorter keys are refused, never
 *    padded: the spec and the Gateway require >= 32 bytes, and a short key
 *    is a misconfiguration to catch at startup, not at the first request.
 *  - Timestamp: 1..19 ASCII digits, no sign, no '+', no spaces, value
 *    <= INT64_MAX. Our Gateway sends plain unix seconds; a sign only gives the
 *    same instant a second spelling (Go's ParseInt would take "+5"/"-5"),
 *    and a negative time is never within the skew of a real clock. 19 digits
 *    is the width of INT64_MAX, so longer text cannot be a valid int64 and
 *    is refused before any arithmetic. Leading zeros are accepted: the
 *    signature covers the text as sent, so they cannot be swapped in.
 *  - Skew: |now - ts| <= 60 s, computed without overflow for any int64s.
 *  - Signature: exactly 64 hex digits, either case; the decoded 32 bytes are
 *    compared in constant time (CRYPTO_memcmp).
 *  - Nonce: 1..128 bytes of printable ASCII without spaces. Our Gateway sends
 *    64 lowercase hex digits; the bound keeps the storage key small, and no
 *    control character can forge a field separator in the signing input.
 *  - Method: upper-cased in ASCII ("post" signs as "POST"); it and the path
 *    must not contain '\n', so the signing input has exactly five fields.
 *  - Request id: `gateway_request_id` must be present, non-empty and equal
 *    to the X-Request-Id received; an absent X-Request-Id never matches (a
 *    freshly generated id cannot be in a body signed before it existed). The
 *    id is bound to the signature through the signed body.
 */
#ifndef CARACAL_STS_GATEWAY_AUTH_H
#define CARACAL_STS_GATEWAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define STS_GATEWAY_KEY_MIN 32
#define STS_GATEWAY_KEY_MAX 256
#define STS_GATEWAY_SKEW_S 60
#define STS_GATEWAY_NONCE_TTL_S 120
#define STS_GATEWAY_NONCE_MAX 128
#define STS_GATEWAY_TS_DIGITS_MAX 19
#define STS_GATEWAY_NONCE_KEY_PREFIX "gw-nonce:"

/* Opaque: a keyed HMAC-SHA256 template (holding the only copy of the key),
 * dup'd per MAC so the algorithm is fetched and keyed once. Read-only after
 * creation, so it may be shared between threads. */
typedef struct sts_gateway_key sts_gateway_key;

/* From the hex text of a secret file (see above). NULL, and why, on failure;
 * why never contains key material. The caller owns the result. */
sts_gateway_key *sts_gateway_key_from_hex(const char *hex, size_t len, char *why, size_t cap);
/* Frees k and cleanses the key; NULL is a no-op. */
void sts_gateway_key_free(sts_gateway_key *k);

typedef struct sts_gateway_request {
	const char *timestamp;          /* X-Caracal-Gateway-Timestamp, NULL if absent */
	const char *nonce;              /* X-Caracal-Gateway-Request */
	const char *signature;          /* X-Caracal-Gateway-Signature (hex) */
	const char *request_id;         /* X-Request-Id as received, NULL if absent */
	const char *gateway_request_id; /* form field gateway_request_id, NULL if absent */
	const char *method;             /* e.g. "POST" */
	const char *escaped_path;       /* the request target's path as sent (no query) */
	const void *body;               /* the raw body bytes; NULL only when body_len is 0 */
	size_t body_len;
	int64_t now_s; /* the caller's clock, unix seconds */
} sts_gateway_request;

/* 1 when any of the three gateway headers is present (even empty): the
 * exchange is then gateway-authenticated or fails. */
int sts_gateway_headers_present(const sts_gateway_request *r);

/* The token exchange's check, in the spec's order: gateway_request_id ==
 * request_id; key configured (k != NULL); all three headers non-empty;
 * timestamp grammar and skew; then the nonce's shape, checked before the
 * MAC (not after, where the spec's nonce claim sits) because it is cheaper
 * and a bad nonce could not be in a valid signing input anyway; then the
 * signature. 0 when verified; -1 with a short internal reason in why. The
 * nonce's single use is the caller's, after this. */
int sts_gateway_verify(const sts_gateway_key *k, const sts_gateway_request *r, char *why,
                       size_t cap);

/* The same without the request-id binding: the check for the other routes
 * signed with this scheme (POST /internal/policy/simulate, GET
 * /internal/policy/status/{zone}), which carry no form field to bind. */
int sts_gateway_verify_signed(const sts_gateway_key *k, const sts_gateway_request *r, char *why,
                              size_t cap);

/* The exact bytes that are MACed:
 * "{ts}\n{nonce}\n{UPPER(method)}\n{escaped_path}\n{hex(sha256(body))}".
 * Malloc'd (the caller frees), length in *len; NULL when a field is NULL,
 * the nonce or timestamp is malformed, the method is empty, method or path
 * holds '\n', or memory runs out. */
char *sts_gateway_signing_input(const char *ts, const char *nonce, const char *method,
                                const char *escaped_path, const void *body, size_t body_len,
                                size_t *len);

/* The lowercase hex signature our Gateway sends for these fields; out holds
 * 65 bytes. 0, or -1 when k is NULL or the input cannot be built. */
int sts_gateway_sign(const sts_gateway_key *k, const char *ts, const char *nonce,
                     const char *method, const char *escaped_path, const void *body,
                     size_t body_len, char out[65]);

/* 1 when nonce is 1..STS_GATEWAY_NONCE_MAX printable non-space ASCII bytes. */
int sts_gateway_nonce_ok(const char *nonce);

/* "gw-nonce:<nonce>" into out: the storage key claimed single-use for
 * STS_GATEWAY_NONCE_TTL_S. 0, or -1 for a bad nonce or a short buffer. */
int sts_gateway_nonce_key(const char *nonce, char *out, size_t cap);

#endif
