/* policy_input.c — see policy_input.h. */
#include "roles/sts/policy_input.h"

#include "util/jsonw.h"

char *sts_policy_input_text(const sts_policy_input *in, size_t *len)
{
	const caracal_application *app = in->app;
	const caracal_resource *res = in->resource;
	jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "schema_version", "2026-05-20");
	jsonw_kstr(&w, "zone_id", in->zone_id);

	jsonw_key(&w, "principal");
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "type", "Application");
	jsonw_kstr(&w, "id", app->id);
	jsonw_kstr(&w, "zone_id", in->zone_id);
	jsonw_kstr(&w, "name", app->name != NULL ? app->name : "");
	jsonw_kstr(&w, "registration_method",
	           app->registration_method != NULL ? app->registration_method : "managed");
	jsonw_key(&w, "traits");
	jsonw_str_array(&w, app->traits.items, app->traits.count);
	jsonw_object_end(&w);

	jsonw_key(&w, "subject");
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "kind", in->subject_kind);
	jsonw_kstr(&w, "id", in->subject_id);
	jsonw_object_end(&w);

	jsonw_key(&w, "resource");
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "type", "Resource");
	jsonw_kstr(&w, "id", res->id);
	jsonw_kstr(&w, "identifier", res->identifier);
	jsonw_key(&w, "scopes");
	jsonw_str_array(&w, res->scopes.items, res->scopes.count);
	jsonw_object_end(&w);

	jsonw_key(&w, "action");
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "id", "TokenExchange");
	jsonw_kstr(&w, "use", "session");
	jsonw_object_end(&w);

	jsonw_key(&w, "grants");
	jsonw_object_begin(&w);
	jsonw_key(&w, "scopes");
	jsonw_str_array(&w, in->grant_scopes, in->grant_scope_count);
	jsonw_object_end(&w);

	jsonw_key(&w, "delegation");
	jsonw_object_begin(&w);
	jsonw_kint(&w, "depth", 0);
	jsonw_object_end(&w);

	jsonw_key(&w, "context");
	jsonw_object_begin(&w);
	jsonw_key(&w, "requested_scopes");
	jsonw_str_array(&w, in->requested_scopes, in->requested_scope_count);
	jsonw_kint(&w, "requested_ttl_seconds", in->requested_ttl_s);
	jsonw_kstr(&w, "trace_id", in->trace_id);
	jsonw_kint(&w, "time", in->now_s);
	jsonw_key(&w, "challenge_resolved");
	jsonw_bool(&w, in->challenge_resolved);
	if (in->subject_claims_json != NULL) {
		jsonw_key(&w, "subject_claims");
		jsonw_raw(&w, in->subject_claims_json, in->subject_claims_len);
	}
	jsonw_object_end(&w);

	if (in->session_id != NULL) {
		jsonw_key(&w, "session");
		jsonw_object_begin(&w);
		jsonw_kstr(&w, "id", in->session_id);
		jsonw_object_end(&w);
	}
	jsonw_object_end(&w);
	return jsonw_finish(&w, len);
}
