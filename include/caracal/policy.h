/*
 * caracal/policy.h — the policy kind: allow, deny or require approval for an
 * input document, with reasons and obligations.
 *
 * The core builds the input document (spec sts.md §2.8: principal, resource,
 * action, session, delegation_edge, context) and owns the order of the
 * pipeline; the engine only answers. Any error return is treated by the core
 * as a deny (fail closed) and audited.
 *
 * The input document (UTF-8 JSON object; members marked ? may be absent):
 *
 *   { "schema_version": "2026-05-20",
 *     "zone_id": "...",
 *     "principal": { "type": "Application", "id", "zone_id", "name",
 *                    "registration_method", "traits": [...],
 *                    "agent_session_id"?, "lifecycle"?, "labels"?: [...] },
 *     "subject":   { "kind": "application" | "user", "id": "..." },
 *     "resource":  { "type": "Resource", "id", "identifier", "scopes": [...] },
 *     "action":    { "id": "TokenExchange", "use": "session" | "gateway" | "resource",
 *                    "method"?, "path"? },
 *     "grants":    { "scopes": [...] },   scopes the zone's grants give the
 *                                         principal on this resource (union)
 *     "session"?:  { "id": "..." },       the authority record in play
 *     "delegation_edge"?: { "id", "source_session_id", "target_session_id",
 *                    "issuer_application_id", "receiver_application_id",
 *                    "resource_id", "scopes", "edge_version", "path",
 *                    "graph_epoch", "constraints_json" },
 *     "delegation": { "depth": N },       hops in the delegation path (0: none)
 *     "context": { "requested_scopes": [...], "requested_ttl_seconds": N,
 *                  "trace_id": "...", "time": <unix seconds>,
 *                  "challenge_resolved": bool, "subject_claims"?: {...} } }
 *
 * Obligations the core understands (others are recorded and ignored):
 *   "max_ttl_seconds": N      the mandate lives at most N seconds
 *   "approval": { "tier", "approver": "operator"|"subject"|"any",
 *                 "ttl_seconds", "privacy" }   with APPROVAL_REQUIRED
 *
 * Policies are per zone and versioned. The core stores versions through the
 * storage kind and hands their source text to validate() and activate(); the
 * engine keeps compiled versions and swaps a zone's active version
 * atomically, so evaluate() never sees a half-applied policy.
 */
#ifndef CARACAL_POLICY_H
#define CARACAL_POLICY_H

#include <caracal/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum caracal_effect {
	CARACAL_EFFECT_DENY = 0, /* the zero value denies */
	CARACAL_EFFECT_ALLOW = 1,
	CARACAL_EFFECT_APPROVAL_REQUIRED = 2,
} caracal_effect;

typedef struct caracal_policy_decision {
	uint32_t size;
	caracal_effect effect;
	/* JSON array of reason strings or objects, e.g. ["resource_not_granted"]. */
	caracal_str reasons;
	/* JSON object of obligations, e.g. {"max_ttl_seconds":300,
	 * "approval":{"tiers":[...]}}; empty when none. */
	caracal_str obligations;
	/* JSON array [{"policy": "..."}] naming the rules that decided. */
	caracal_str determining_policies;
	const char *policy_version_id; /* the version that decided (arena) */
} caracal_policy_decision;

typedef struct caracal_policy_ops {
	uint32_t size;

	/* --- mandatory in ABI 1.0 --- */

	/* Evaluate input (a JSON object) under the zone's active version. A zone
	 * without an active version denies with reason "no_active_policy_set". */
	int (*evaluate)(void *tctx, const char *zone_id, const char *input_json, size_t input_len,
	                caracal_arena *arena, caracal_policy_decision *out, caracal_error *err);

	/* Check a policy source without activating it. INVAL with the first
	 * problem (and its line) in err; *diagnostics receives every problem as a
	 * JSON array [{"line":N,"message":"..."}]. */
	int (*validate)(void *tctx, const char *source, size_t source_len, caracal_arena *arena,
	                caracal_str *diagnostics, caracal_error *err);

	/* Compile and atomically make version_id the zone's active version. On
	 * any error the previous active version keeps serving. */
	int (*activate)(void *tctx, const char *zone_id, const char *version_id, const char *source,
	                size_t source_len, caracal_error *err);
} caracal_policy_ops;

#define CARACAL_POLICY_OPS_MIN_SIZE \
	(offsetof(caracal_policy_ops, activate) + sizeof(((caracal_policy_ops *)0)->activate))

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_POLICY_H */
