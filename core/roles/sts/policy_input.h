/* policy_input.h — the policy input document of one (exchange, resource)
 * pair, as text (include/caracal/policy.h documents its fields).
 *
 * Written with the streaming writer: it is built once per resource of every
 * mint, on the hot path. Lists of strings are copied verbatim in order; a
 * string that is not valid UTF-8 fails the document (the exchange then
 * denies) rather than reaching the policy changed. */
#ifndef CARACAL_STS_POLICY_INPUT_H
#define CARACAL_STS_POLICY_INPUT_H

#include "util/jsonw.h"
#include <caracal/storage.h>

#include <stddef.h>
#include <stdint.h>

typedef struct sts_policy_input {
	const char *zone_id;
	const caracal_application *app;
	const char *subject_kind; /* "application" | "user" */
	const char *subject_id;
	const caracal_resource *resource;
	const char *const *grant_scopes; /* union of the app's grants on the resource */
	size_t grant_scope_count;
	const char *const *requested_scopes;
	size_t requested_scope_count;
	int64_t requested_ttl_s; /* 0: none asked */
	const char *trace_id;
	int64_t now_s;
	int challenge_resolved;
	/* The verified claims of a presented subject token (a JSON object), or
	 * NULL with no subject token; session_id then NULL too. */
	const char *subject_claims_json;
	size_t subject_claims_len;
	const char *session_id;
	/* The mandate this exchange would mint: "session" | "gateway" |
	 * "resource"; NULL means "session". method/path: gateway exchanges. */
	const char *use;
	const char *method;
	const char *path;
	/* The governed (target) session, NULL when none. */
	const caracal_session *agent_session;
	/* The delegation edge in play (NULL when none), its path root-first and
	 * the zone's delegation graph epoch. */
	const caracal_delegation *edge;
	const char *const *edge_path;
	size_t edge_path_len;
	int64_t graph_epoch;
} sts_policy_input;

/* Write the document into w (the caller's writer; jsonw_text tells whether
 * it was written). */
void sts_policy_input_write(const sts_policy_input *in, jsonw *w);

#endif
