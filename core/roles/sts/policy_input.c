/* policy_input.c — see policy_input.h. */
#include "roles/sts/policy_input.h"

#include "util/jsonw.h"

void sts_policy_input_write(const sts_policy_input *in, jsonw *w)
{
	const caracal_application *app = in->app;
	const caracal_resource *res = in->resource;
	jsonw_object_begin(w);
	jsonw_kstr(w, "schema_version", "2026-05-20");
	jsonw_kstr(w, "zone_id", in->zone_id);

	jsonw_key(w, "principal");
	jsonw_object_begin(w);
	jsonw_kstr(w, "type", "Application");
	jsonw_kstr(w, "id", app->id);
	jsonw_kstr(w, "zone_id", in->zone_id);
	jsonw_kstr(w, "name", app->name != NULL ? app->name : "");
	jsonw_kstr(w, "registration_method",
	           app->registration_method != NULL ? app->registration_method : "managed");
	jsonw_key(w, "traits");
	jsonw_str_array(w, app->traits.items, app->traits.count);
	const caracal_session *sess = in->agent_session;
	if (sess != NULL) {
		jsonw_kstr(w, "agent_session_id", sess->id);
		jsonw_kstr(w, "lifecycle", sess->lifecycle);
		jsonw_key(w, "labels");
		jsonw_str_array(w, sess->labels.items, sess->labels.count);
	}
	jsonw_object_end(w);

	jsonw_key(w, "subject");
	jsonw_object_begin(w);
	jsonw_kstr(w, "kind", in->subject_kind);
	jsonw_kstr(w, "id", in->subject_id);
	jsonw_object_end(w);

	jsonw_key(w, "resource");
	jsonw_object_begin(w);
	jsonw_kstr(w, "type", "Resource");
	jsonw_kstr(w, "id", res->id);
	jsonw_kstr(w, "identifier", res->identifier);
	jsonw_key(w, "scopes");
	jsonw_str_array(w, res->scopes.items, res->scopes.count);
	jsonw_object_end(w);

	jsonw_key(w, "action");
	jsonw_object_begin(w);
	jsonw_kstr(w, "id", "TokenExchange");
	jsonw_kstr(w, "use", in->use != NULL ? in->use : "session");
	if (in->method != NULL)
		jsonw_kstr(w, "method", in->method);
	if (in->path != NULL)
		jsonw_kstr(w, "path", in->path);
	jsonw_object_end(w);

	jsonw_key(w, "grants");
	jsonw_object_begin(w);
	jsonw_key(w, "scopes");
	jsonw_str_array(w, in->grant_scopes, in->grant_scope_count);
	jsonw_object_end(w);

	const caracal_delegation *e = in->edge;
	if (e != NULL) {
		jsonw_key(w, "delegation_edge");
		jsonw_object_begin(w);
		jsonw_kstr(w, "id", e->id);
		jsonw_kstr(w, "source_session_id", e->source_session_id);
		jsonw_kstr(w, "target_session_id", e->target_session_id);
		jsonw_kstr(w, "issuer_application_id", e->issuer_application_id);
		jsonw_kstr(w, "receiver_application_id", e->receiver_application_id);
		jsonw_kstr(w, "resource_id", e->resource_id);
		jsonw_key(w, "scopes");
		jsonw_str_array(w, e->scopes.items, e->scopes.count);
		jsonw_kint(w, "edge_version", e->edge_version);
		jsonw_key(w, "path");
		jsonw_str_array(w, in->edge_path, in->edge_path_len);
		jsonw_kint(w, "graph_epoch", in->graph_epoch);
		/* Embedded as JSON: the delegation check decoded it strictly
		 * before any policy runs. */
		jsonw_key(w, "constraints_json");
		if (e->constraints_json.ptr != NULL && e->constraints_json.len > 0)
			jsonw_raw(w, e->constraints_json.ptr, e->constraints_json.len);
		else
			jsonw_raw(w, "{}", 2);
		jsonw_object_end(w);
	}

	jsonw_key(w, "delegation");
	jsonw_object_begin(w);
	jsonw_kint(w, "depth", e != NULL ? (int64_t)in->edge_path_len : 0);
	jsonw_object_end(w);

	jsonw_key(w, "context");
	jsonw_object_begin(w);
	jsonw_key(w, "requested_scopes");
	jsonw_str_array(w, in->requested_scopes, in->requested_scope_count);
	jsonw_kint(w, "requested_ttl_seconds", in->requested_ttl_s);
	jsonw_kstr(w, "trace_id", in->trace_id);
	jsonw_kint(w, "time", in->now_s);
	jsonw_key(w, "challenge_resolved");
	jsonw_bool(w, in->challenge_resolved);
	if (in->subject_claims_json != NULL) {
		jsonw_key(w, "subject_claims");
		jsonw_raw(w, in->subject_claims_json, in->subject_claims_len);
	}
	jsonw_object_end(w);

	if (in->session_id != NULL) {
		jsonw_key(w, "session");
		jsonw_object_begin(w);
		jsonw_kstr(w, "id", in->session_id);
		jsonw_object_end(w);
	}
	jsonw_object_end(w);
}
