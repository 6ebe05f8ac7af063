/*
 * form.h — the strict application/x-www-form-urlencoded parser of
 * POST /oauth/2/token (spec sts.md §2.1 rules 4–7 and 9–11).
 *
 * Pure: no I/O, no globals; decoded strings live in the caller's arena. The
 * checks run in the spec's order, and the first failure wins; each failure
 * yields the HTTP status, the error code and the description the reference
 * system answers with.
 */
#ifndef CARACAL_STS_FORM_H
#define CARACAL_STS_FORM_H

#include <caracal/common.h>
#include <stddef.h>
#include <stdint.h>

#define STS_FORM_MAX_BODY 65536
#define STS_FORM_MAX_FIELDS 64
#define STS_FORM_MAX_RESOURCES 32
#define STS_FORM_MAX_SCOPE 4096

#define STS_GRANT_TOKEN_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define STS_TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define STS_TOKEN_TYPE_ID "urn:ietf:params:oauth:token-type:id_token"

typedef struct sts_form {
	const char *grant_type;
	const char *subject_token;
	const char *subject_token_type;
	const char *scope; /* verbatim; split on whitespace for evaluation */
	const char *zone_id;
	const char *application_id;
	const char *client_secret;
	const char *approval_id;
	const char *session_id;
	const char *agent_session_id;
	const char *delegation_edge_id;
	const char *request_method;
	const char *request_path;
	const char *gateway_request_id;
	int has_ttl;
	int64_t ttl_seconds; /* parsed; sign kept (negative is refused later) */
	/* Trimmed, de-duplicated (exact), sorted bytewise. */
	const char *resources[STS_FORM_MAX_RESOURCES];
	size_t resource_count;
} sts_form;

typedef struct sts_form_error {
	int status;        /* 400, 413 */
	const char *error; /* "invalid_token", "payload_too_large" */
	char description[160];
	/* A rule after §2.1 rule 8 (resources, grant and token types): for a
	 * gateway exchange the gateway's signature is checked first. The form's
	 * singletons are then filled. */
	int after_gateway_rule;
} sts_form_error;

/* s without leading and trailing whitespace, copied into arena ("" for
 * NULL; NULL when the arena is exhausted). */
const char *sts_trim(caracal_arena *arena, const char *s);

/* Parse and check body. 0 on success; -1 with *fe filled otherwise; -2 when
 * the arena is exhausted (the caller answers 503). */
int sts_form_parse(const char *body, size_t len, caracal_arena *arena, sts_form *out,
                   sts_form_error *fe);

#endif
