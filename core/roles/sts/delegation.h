/*
 * delegation.h — the STS's session and delegation validation (spec sts.md
 * §1.6, §1.7, §2.7, and the delegation part of §2.13).
 *
 * A token exchange may name an authority record (session_id), a governed
 * Session (agent_session_id) and a Delegation edge (delegation_edge_id).
 * sts_delegation_validate() re-reads every one of them from storage, with
 * the trusted time, and either refuses the exchange or returns what the rest
 * of the pipeline needs: the governed (target) Session that becomes the
 * policy principal's session, and for a delegation the edge, its decoded
 * constraints, its lineage (root first), the hop chain and the zone's graph
 * epoch.
 *
 * Storage is reached only through the plugin vtable. Everything returned
 * lives in the caller's arena; nothing here is freed one by one. Nothing
 * here logs: the caller decides what of err reaches its log.
 */
#ifndef CARACAL_STS_DELEGATION_H
#define CARACAL_STS_DELEGATION_H

#include <caracal/storage.h>

#include <stddef.h>
#include <stdint.h>

/* The platform's bound on a lineage (§5): constraints asking for more are refused. */
#define STS_DELEGATION_MAX_HOPS 10

typedef struct sts_delegation_input {
	const char *zone_id;
	const char *application_id;     /* the authenticated caller */
	const char *session_id;         /* authority record id (request session_id or the
	                                   subject token's sid); NULL/"" = none */
	const char *agent_session_id;   /* NULL/"" = none */
	const char *delegation_edge_id; /* NULL/"" = none */
	int has_subject_token;
	const char *subject_token_use; /* "session" | "gateway" | NULL */
	const char *const *scopes;     /* requested scopes (already split) */
	size_t scope_count;
	int64_t requested_ttl_s; /* 0: not asked */
	int64_t now_us;          /* trusted time */
} sts_delegation_input;

/* One step of the delegation chain (§1.7). */
typedef struct sts_delegation_hop {
	const char *application_id;
	const char *agent_session_id;
	const char *delegation_edge_id; /* NULL on the final hop */
} sts_delegation_hop;

/* An edge's constraints_json, decoded strictly (§1.7). */
typedef struct sts_delegation_constraints {
	const char **resources; /* resource identifiers; empty: no restriction */
	size_t resource_count;
	int64_t ttl_seconds; /* 0 = none */
	int64_t max_hops;    /* effective: max_depth aliases it; default 1; 1..10 */
	int policy_approved;
	int64_t expires_at_us;    /* 0 = none; a time at or before the epoch is -1 (passed) */
	const char *expires_at;   /* the RFC 3339 text expires_at_us came from; NULL = none */
	const char *broad_reason; /* NULL = none */
} sts_delegation_constraints;

typedef struct sts_delegation {
	int has_session;        /* agent_session_id given and valid */
	caracal_session target; /* the governed (target) session = policy principal's session */
	caracal_authority_record target_subject; /* its subject authority record */
	int has_edge;
	caracal_delegation edge;
	caracal_session source;
	sts_delegation_constraints constraints;
	const char **path; /* edge ids, root first; the last is edge.id */
	size_t path_len;
	sts_delegation_hop *chain; /* path_len + 1 hops */
	size_t chain_len;
	int64_t graph_epoch;
} sts_delegation;

typedef struct sts_delegation_error {
	int status;        /* HTTP status */
	const char *error; /* "access_denied" | "sts_unavailable" | "internal_error" */
	char description[192];
	caracal_error cause; /* behind a storage fault: the backend's error, for the log */
} sts_delegation_error;

/*
 * §2.7. 0: valid, out filled (all zero when the request names no session and
 * no delegation). -1: refused, err filled:
 *   403 access_denied    every binding failure (inactive, expired, revoked,
 *                        not owned, mismatched, constraints, lineage, chain);
 *   403 sts_unavailable  the trusted time is missing, or the lineage or the
 *                        graph epoch could not be read;
 *   503 sts_unavailable  a storage fault reading the request's own records,
 *                        or the arena is out of memory;
 *   500 internal_error   the caller passed no zone, application or input.
 */
int sts_delegation_validate(const caracal_storage_ops *ops, void *tctx,
                            const sts_delegation_input *in, caracal_arena *arena,
                            sts_delegation *out, sts_delegation_error *err);

/* What sts_delegation_constraints_parse() returns. */
enum {
	STS_CONSTRAINTS_OK = 0,
	STS_CONSTRAINTS_INVALID = -1, /* not the §1.7 shape */
	STS_CONSTRAINTS_TOO_MANY_HOPS =
	    -2, /* well-formed, but max_hops > STS_DELEGATION_MAX_HOPS */
};

/*
 * Strict decoding of constraints_json (§1.7): an object (or null, or no text
 * at all: the defaults) with only the keys resources, ttl_seconds, max_depth,
 * max_hops, policy_approved, expires_at and broad_reason; duplicate keys,
 * wrong types and negative integers are invalid. Strings are copied into
 * arena. On failure why (cap bytes, may be NULL) says what was wrong.
 */
int sts_delegation_constraints_parse(const char *json, size_t len, caracal_arena *arena,
                                     sts_delegation_constraints *out, char *why, size_t cap);

/*
 * §2.13 with a delegation: *ttl_s = min(*ttl_s, edge expiry - now,
 * constraints.ttl_seconds, constraints.expires_at - now), in whole seconds
 * (rounded down: a mandate never outlives its delegation). -1 (→ 403), *ttl_s
 * untouched, when any of them is already passed or the result is <= 0.
 * Without an edge, 0 and *ttl_s untouched.
 */
int sts_delegation_narrow_ttl(const sts_delegation *d, int64_t now_us, int64_t *ttl_s);

/*
 * §2.4 step 9c: 1 when the delegation allows the resource — the edge's
 * resource_id, when set, equals resource_id, and constraints.resources, when
 * non-empty, contains identifier — else 0. Without an edge, 1.
 */
int sts_delegation_allows_resource(const sts_delegation *d, const char *resource_id,
                                   const char *identifier);

#endif
