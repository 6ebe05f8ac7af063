/*
 * body.h — the admin API's pure parts: route paths, strict request bodies,
 * value rules, the bearer-token check and the status mapping. Nothing here
 * calls a plugin or does I/O, so every rule is unit-tested directly
 * (tests/unit/test_admin_body.c).
 *
 * Strict decoding: a body is one JSON object (duplicate keys rejected);
 * unknown members, missing required members and members of the wrong type
 * are 400s, with a description naming the member. Strings must not contain
 * NUL. Every list and string is bounded.
 */
#ifndef CARACAL_ROLES_ADMIN_BODY_H
#define CARACAL_ROLES_ADMIN_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_MAX_BODY (64u * 1024u)
#define ADMIN_MAX_LIST 64     /* scopes, traits */
#define ADMIN_MAX_SEGMENT 128 /* a {zone} or {id} path segment */
#define ADMIN_MAX_IDENTIFIER 256
#define ADMIN_MAX_URL 2048
#define ADMIN_MAX_NAME 128
#define ADMIN_MAX_REASON 512
#define ADMIN_MAX_PATH_VALUE 4096 /* credential secret_file */
#define ADMIN_MAX_ISSUER 512      /* a federated issuer (compared byte for byte with iss) */
#define ADMIN_MAX_AUDIENCE 512

typedef enum admin_route_id {
	ADMIN_R_NONE = 0,
	ADMIN_R_ZONES,             /* /admin/zones */
	ADMIN_R_ZONE,              /* /admin/zones/{zone} */
	ADMIN_R_APPLICATIONS,      /* /admin/zones/{zone}/applications */
	ADMIN_R_RESOURCES,         /* /admin/zones/{zone}/resources */
	ADMIN_R_GRANTS,            /* /admin/zones/{zone}/grants */
	ADMIN_R_POLICIES,          /* /admin/zones/{zone}/policies */
	ADMIN_R_POLICY_VALIDATE,   /* /admin/policies/validate */
	ADMIN_R_KEYS_ROTATE,       /* /admin/zones/{zone}/keys/rotate */
	ADMIN_R_APPROVALS,         /* /admin/zones/{zone}/approvals */
	ADMIN_R_APPROVAL_DECISION, /* /admin/zones/{zone}/approvals/{id}/decision */
	ADMIN_R_REVOCATIONS,       /* /admin/zones/{zone}/revocations */
	ADMIN_R_ISSUERS,           /* /admin/zones/{zone}/issuers */
} admin_route_id;

typedef struct admin_path {
	admin_route_id route;
	char zone[ADMIN_MAX_SEGMENT + 1]; /* "" when the route has none */
	char id[ADMIN_MAX_SEGMENT + 1];
} admin_path;

/* Match a request path (not decoded; no query). Segments are 1..128 bytes
 * of [A-Za-z0-9._-]; anything else (percent-escapes, empty segments, a
 * trailing slash) does not match. 1 when matched, else 0 (out->route NONE). */
int admin_path_parse(const char *path, admin_path *out);

/* 1 when route takes method ("HEAD" counts as "GET"). */
int admin_method_allowed(admin_route_id route, const char *method);

/* 1 when route takes a body, and which media type: "json" or "text". */
const char *admin_route_body(admin_route_id route, const char *method);

/* The event_type suffix of an admin action, "zone.create" etc. */
const char *admin_route_action(admin_route_id route, const char *method);

/* --- values ------------------------------------------------------------- */

int admin_valid_zone_name(const char *s);
int admin_valid_app_name(const char *s);
int admin_valid_trait(const char *s);
int admin_valid_scope(const char *s); /* RFC 6749 scope-token, <= 128 bytes */
int admin_valid_identifier(const char *s);
/* http(s) URL with a host, no userinfo, no fragment, printable ASCII. */
int admin_valid_upstream_url(const char *s, char *why, size_t cap);

/* The text of a federated issuer, whatever its scheme: 1..512 bytes of valid
 * UTF-8 without control characters (C0, DEL, C1) or bidirectional
 * overrides/isolates (U+202A..U+202E, U+2066..U+2069), which could make one
 * issuer read as another. */
int admin_valid_issuer_text(const char *s, char *why, size_t cap);
/* A federated issuer to register: the text rules above, then an absolute
 * https:// URL (http:// too when allow_http: development mode only) with a
 * host, no userinfo, no query, no fragment and no spaces — OpenID Connect
 * Core §2 issuer identifiers. */
int admin_valid_issuer(const char *s, int allow_http, char *why, size_t cap);
/* Where an issuer's keys are fetched: an https:// URL (never http://, in any
 * mode: the STS refuses to fetch keys over plain HTTP) with a host, no
 * userinfo, no fragment, printable ASCII, <= ADMIN_MAX_URL bytes. */
int admin_valid_jwks_url(const char *s, char *why, size_t cap);
/* 1..512 bytes of valid UTF-8 without control characters. */
int admin_valid_audience(const char *s, char *why, size_t cap);

/* RFC 3339 ("2026-05-20T10:00:00Z", fractions and offsets accepted) to µs. */
int admin_parse_rfc3339(const char *s, int64_t *us);
/* µs to "2026-05-20T10:00:00Z" (out: 32 bytes). */
void admin_format_time(int64_t us, char out[32]);

/* --- bodies --------------------------------------------------------------- */

/* Parse a body that must be one JSON object; NULL with why set otherwise. */
json_t *admin_body_object(const void *body, size_t len, char *why, size_t cap);

typedef struct admin_zone_in {
	const char *name;
} admin_zone_in;

typedef struct admin_app_in {
	const char *name;
	const char *traits[ADMIN_MAX_LIST];
	size_t trait_count;
	int64_t expires_at_us; /* 0: never */
} admin_app_in;

typedef struct admin_resource_in {
	const char *identifier;
	const char *upstream_url; /* NULL when absent */
	const char *scopes[ADMIN_MAX_LIST];
	size_t scope_count;
	char *credential_json; /* canonical JSON (malloc'd): admin_resource_in_clear */
	size_t credential_len;
	/* Declared operations [{method, path, scope}] (canonical JSON, malloc'd)
	 * and whether the gateway enforces them ("enforced") or not
	 * ("transport_uniform", the default). */
	char *operations_json;
	size_t operations_len;
	const char *operation_enforcement;
} admin_resource_in;

typedef struct admin_grant_in {
	const char *application_id;
	const char *resource; /* identifier or id */
	const char *scopes[ADMIN_MAX_LIST];
	size_t scope_count;
} admin_grant_in;

typedef struct admin_decision_in {
	int approve;
	const char *reason; /* NULL when absent */
} admin_decision_in;

typedef struct admin_issuer_in {
	const char *issuer;
	const char *jwks_url;
	const char *audience;
} admin_issuer_in;

typedef struct admin_revoke_in {
	int kind; /* caracal_revocation_kind */
	const char *kind_name;
	const char *id;
	const char *reason; /* NULL when absent */
} admin_revoke_in;

/* Each decodes o strictly; the strings borrow from o. 0, or -1 with why. */
int admin_parse_zone(const json_t *o, admin_zone_in *out, char *why, size_t cap);
int admin_parse_app(const json_t *o, int64_t now_us, admin_app_in *out, char *why, size_t cap);
int admin_parse_resource(const json_t *o, admin_resource_in *out, char *why, size_t cap);
void admin_resource_in_clear(admin_resource_in *in);
int admin_parse_grant(const json_t *o, admin_grant_in *out, char *why, size_t cap);
int admin_parse_decision(const json_t *o, admin_decision_in *out, char *why, size_t cap);
int admin_parse_revoke(const json_t *o, admin_revoke_in *out, char *why, size_t cap);
/* {"issuer", "jwks_url", "audience"}, all required; allow_http as in
 * admin_valid_issuer. */
int admin_parse_issuer(const json_t *o, int allow_http, admin_issuer_in *out, char *why,
                       size_t cap);

/* The query of GET .../issuers: exactly one parameter, "issuer=<value>",
 * percent-decoded ('+' is a space, as in forms) into out (cap_out bytes) and
 * held to admin_valid_issuer_text — not to the URL rules, so an issuer
 * registered under other rules can still be read. 0, or -1 with why. */
int admin_query_issuer(const char *query, char *out, size_t cap_out, char *why, size_t cap);

/* 1 when every scope of want is in have. */
int admin_scopes_subset(const char *const *want, size_t nwant, const char *const *have,
                        size_t nhave);

/* --- HTTP pieces -------------------------------------------------------- */

/* "Bearer TOKEN" (scheme case-insensitive): 1 with the token and its length set, else 0. */
int admin_bearer_token(const char *value, const char **tok, size_t *len);

/* Constant time in the contents and lengths: both sides are reduced to an
 * HMAC-SHA256 under a per-process random key and the digests compared with
 * CRYPTO_memcmp. 1 when equal (and expected non-empty). */
int admin_token_matches(const unsigned char *expected, size_t expected_len, const char *given,
                        size_t given_len);

/* 1 when the Content-Type value's media type (before ';') is type. */
int admin_media_type_is(const char *value, const char *type);

/* HTTP status and error code for a CARACAL_E_ status code. */
int admin_status_for(int code, const char **error);

#endif
