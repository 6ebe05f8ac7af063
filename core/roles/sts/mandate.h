/*
 * mandate.h — assembling a mandate: the JOSE header and claims are built
 * here, the signature comes from the zone's signer plugin (private keys never
 * leave it).
 */
#ifndef CARACAL_STS_MANDATE_H
#define CARACAL_STS_MANDATE_H

#include "roles/deps.h"
#include "util/jsonw.h"

#include <stddef.h>
#include <stdint.h>

/* One hop of a delegation chain claim; agent_session_id and
 * delegation_edge_id may be NULL (omitted). */
typedef struct mandate_hop {
	const char *application_id;
	const char *agent_session_id;
	const char *delegation_edge_id;
} mandate_hop;

/* The claim set of spec sts.md §3.2, in its order. aud is always an array. */
typedef struct mandate_claims {
	const char *iss;
	const char *sub;
	const char *const *aud;
	size_t aud_count;
	int64_t exp;
	int64_t iat;
	const char *jti;
	const char *zone_id;
	const char *client_id;
	const char *scope; /* NULL or empty: no scope claim */
	const char *sid;
	const char *root_sid;
	const char *use;           /* session | gateway | resource */
	const char *sub_type;      /* application | user */
	const char *const *target; /* NULL: no target claim */
	size_t target_count;
	const char *agent_session_id; /* the governed session; NULL: none */
	/* The delegation proof, only when an edge was used (edge_id NULL: none). */
	const char *delegation_edge_id;
	const char *source_session_id;
	const char *target_session_id;
	const char *const *delegation_path; /* edge ids, root first */
	size_t delegation_path_len;
	const mandate_hop *delegation_chain;
	size_t delegation_chain_len;
	int64_t graph_epoch; /* omitted when 0 */
} mandate_claims;

/* Write the claims as a JSON object into w (jsonw_text tells whether it
 * was written). */
void mandate_claims_write(const mandate_claims *c, jsonw *w);

/* Sign the claims with zone_id's current key and return the compact JWS
 * (header.payload.signature) in the arena. When the signer reports the key
 * rotated between current_key and sign, the current key is fetched once more. */
int mandate_sign(const role_deps *deps, const char *zone_id, const mandate_claims *claims,
                 caracal_arena *arena, const char **jws, caracal_error *err);

#endif
