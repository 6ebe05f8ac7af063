/*
 * admin.c — the admin role's routes (see admin.h; the rules of bodies and
 * paths are in body.c).
 *
 * Request flow. On the loop thread: bound the body (64 KiB, else 413) and
 * copy what the worker needs. On a decision-pool worker (server_defer):
 *   1. authenticate: "Authorization: Bearer <admin.token>" (one such field),
 *      compared in constant time; no token configured -> 503, else 401;
 *   2. match the route and method (404/405), check Content-Type (415);
 *   3. take the plugins the route needs (503 when one is missing: fail
 *      closed), resolve {zone} (id or name, 404);
 *   4. decode the body strictly (400) and act.
 * From step 2 on, every request is audited as admin.<resource>.<verb>
 * (fields: actor, request_id, method, path, status, outcome, ids). A
 * mutation first emits the event with outcome "requested" and is not applied
 * when that fails (503 audit_unavailable); once applied, an event with
 * outcome "completed" (or "failed") follows; if only that second emit fails
 * the action stands (it is already in the chain as requested) and the
 * failure is logged. Reads are answered only after their event was accepted.
 */
#include "roles/admin/admin.h"

#include "daemon/server.h"
#include "roles/admin/body.h"
#include "roles/deps.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/secret_hash.h"
#include "util/sha256.h"
#include "util/uuid.h"

#include <caracal/policy.h>
#include <caracal/signer.h>
#include <caracal/storage.h>

#include <openssl/crypto.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SYSTEM_ZONE "caracal.sys"

/* A member of a record the plugin filled: absent when beyond its size. */
#define HAS(type, rec, member) (offsetof(type, member) + sizeof(((type *)0)->member) <= (rec)->size)

typedef struct admin_job {
	deferred_work dw; /* must stay first */
	char method[8];
	char *path;
	char *query;         /* after '?', "" when none */
	char *authorization; /* NULL when absent */
	size_t auth_fields;
	char *content_type; /* NULL when absent */
	char *body;         /* NUL-terminated copy */
	size_t body_len;
} admin_job;

typedef struct call {
	admin_job *job;
	worker_ctx *wc;
	admin_path path;
	role_deps deps;
	caracal_arena *arena;
	char request_id[UUID_TEXT_LEN + 1];
	char event_type[64];
	char zone_id[ADMIN_MAX_SEGMENT + 1]; /* resolved zone; "" until then */
	int64_t now_us;
	int audited_final; /* the final event was emitted (or tried) */
} call;

/* ---- responses ------------------------------------------------------------------ */

static void set_body(call *c, int status, char *body)
{
	deferred_work *dw = &c->job->dw;
	free(dw->body);
	dw->status = status;
	dw->content_type = "application/json";
	dw->body = body;
	dw->body_len = body != NULL ? strlen(body) : 0;
	if (body == NULL) {
		static const char oom[] = "{\"error\":\"server_error\",\"error_description\":\"out "
		                          "of memory\"}";
		dw->status = 500;
		dw->body = strdup(oom);
		dw->body_len = dw->body != NULL ? sizeof oom - 1 : 0;
	}
}

/* Respond with o (stolen). */
static void reply(call *c, int status, json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	set_body(c, status, s);
}

static json_t *error_object(const call *c, const char *error, const char *description)
{
	return json_pack("{s:s, s:s, s:s}", "error", error, "error_description",
	                 description != NULL ? description : "", "request_id", c->request_id);
}

/* ---- audit ------------------------------------------------------------------------ */

/* Emit event_type with outcome; extra (may be NULL) is stolen. */
static int audit(call *c, const char *outcome, int status, json_t *extra, caracal_error *err)
{
	json_t *f =
	    json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "actor", "admin", "request_id",
	              c->request_id, "method", c->job->method, "path", c->job->path, "status",
	              status, "outcome", outcome, "decision", status < 400 ? "allow" : "deny");
	if (f == NULL) {
		json_decref(extra);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	if (extra != NULL) {
		json_object_update(f, extra);
		json_decref(extra);
	}
	int rc =
	    role_audit(c->zone_id[0] != '\0' ? c->zone_id : SYSTEM_ZONE, c->event_type, f, err);
	json_decref(f);
	return rc;
}

/* Fail the request; the failure is audited (once). */
static void fail(call *c, int status, const char *error, const char *description)
{
	if (!c->audited_final) {
		caracal_error e = {0};
		c->audited_final = 1;
		if (audit(c, "failed", status, json_pack("{s:s}", "error", error), &e) !=
		    CARACAL_OK)
			log_error("admin", "request %s: cannot audit a failed %s: %s",
			          c->request_id, c->event_type, e.message);
	}
	reply(c, status, error_object(c, error, description));
}

static void fail_code(call *c, const caracal_error *e, const char *context)
{
	const char *error;
	int status = admin_status_for(e->code, &error);
	char desc[CARACAL_ERROR_MESSAGE_MAX + 128];
	snprintf(desc, sizeof desc, "%s: %s", context, e->message);
	if (status >= 500)
		log_warn("admin", "request %s: %s", c->request_id, desc);
	fail(c, status, error, desc);
}

/* Before applying a mutation. 0, or the request already failed (503). */
static int audit_requested(call *c, json_t *extra)
{
	caracal_error e = {0};
	if (audit(c, "requested", 0, extra, &e) != CARACAL_OK) {
		log_error("admin", "request %s: audit refused %s, not applied: %s", c->request_id,
		          c->event_type, e.message);
		c->audited_final = 1;
		reply(c, 503,
		      error_object(c, "audit_unavailable",
		                   "the audit pipeline refused the event; nothing was changed"));
		return -1;
	}
	return 0;
}

/* After a mutation was applied: respond o (stolen) whatever the audit says. */
static void succeed_applied(call *c, int status, json_t *extra, json_t *o)
{
	caracal_error e = {0};
	c->audited_final = 1;
	if (audit(c, "completed", status, extra, &e) != CARACAL_OK)
		log_error("admin",
		          "request %s: %s was applied but its completion event was "
		          "refused: %s",
		          c->request_id, c->event_type, e.message);
	reply(c, status, o);
}

/* A read: respond o (stolen) only when the event was accepted. */
static void succeed_read(call *c, json_t *extra, json_t *o)
{
	caracal_error e = {0};
	c->audited_final = 1;
	if (audit(c, "completed", 200, extra, &e) != CARACAL_OK) {
		json_decref(o);
		log_error("admin", "request %s: audit refused %s: %s", c->request_id, c->event_type,
		          e.message);
		reply(c, 503,
		      error_object(c, "audit_unavailable", "the audit pipeline refused the event"));
		return;
	}
	reply(c, 200, o);
}

/* ---- helpers ---------------------------------------------------------------------- */

static json_t *strlist_json(const caracal_strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < l->count; i++)
		if (l->items[i] != NULL)
			json_array_append_new(a, json_string(l->items[i]));
	return a;
}

static json_t *time_json(int64_t us)
{
	char t[32];
	if (us == 0)
		return json_null();
	admin_format_time(us, t);
	return json_string(t);
}

static void set_opt_string(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

static int new_id(call *c, char out[UUID_TEXT_LEN + 1])
{
	if (uuid_v7(out) != 0) {
		fail(c, 500, "server_error", "no randomness for an id");
		return -1;
	}
	return 0;
}

/* Decode the JSON body into an object; fails the request otherwise. */
static json_t *body_object(call *c)
{
	char why[256];
	json_t *o = admin_body_object(c->job->body, c->job->body_len, why, sizeof why);
	if (o == NULL)
		fail(c, 400, "invalid_request", why);
	return o;
}

/* ---- zones ------------------------------------------------------------------------ */

static json_t *zone_json(const caracal_zone *z)
{
	json_t *o = json_pack("{s:s, s:s}", "id", z->id != NULL ? z->id : "", "name",
	                      z->name != NULL ? z->name : "");
	if (o != NULL && HAS(caracal_zone, z, created_at_us))
		json_object_set_new(o, "created_at", time_json(z->created_at_us));
	return o;
}

static void zone_create(call *c)
{
	char why[256], id[UUID_TEXT_LEN + 1];
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_zone_in in;
	if (admin_parse_zone(o, &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	if (new_id(c, id) != 0 ||
	    audit_requested(c, json_pack("{s:s, s:s}", "zone", id, "name", in.name)) != 0)
		goto out;
	caracal_zone z = {.size = sizeof z, .id = id, .name = in.name, .created_at_us = c->now_us};
	caracal_error e = {0};
	int rc = c->deps.storage->zone_create(c->deps.storage_tctx, &z, &e);
	if (rc == CARACAL_E_CONFLICT) {
		char d[200];
		snprintf(d, sizeof d, "a zone named '%s' exists", in.name);
		fail(c, 409, "conflict", d);
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot create the zone");
	} else {
		succeed_applied(c, 201, json_pack("{s:s}", "zone", id),
		                json_pack("{s:s, s:s}", "id", id, "name", in.name));
	}
out:
	json_decref(o);
}

static int zone_each(void *ud, const void *record)
{
	json_t *o = zone_json(record);
	if (o == NULL || json_array_append_new(ud, o) != 0)
		return CARACAL_E_NOMEM;
	return CARACAL_OK;
}

static void zone_list(call *c)
{
	json_t *list = json_array();
	caracal_error e = {0};
	int rc = list != NULL
	             ? c->deps.storage->zone_list(c->deps.storage_tctx, zone_each, list, &e)
	             : caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
	if (rc != CARACAL_OK) {
		json_decref(list);
		fail_code(c, &e, "cannot list zones");
		return;
	}
	succeed_read(c, NULL, json_pack("{s:o}", "zones", list));
}

static void zone_show(call *c, const caracal_zone *z)
{
	succeed_read(c, NULL, zone_json(z));
}

/* ---- applications ------------------------------------------------------------------- */

static void app_create(call *c)
{
	char why[256], id[UUID_TEXT_LEN + 1];
	char secret[SECRET_TEXT_LEN + 1], hash[SECRET_HASH_MAX];
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_app_in in;
	if (admin_parse_app(o, c->now_us, &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	if (secret_generate(secret, sizeof secret) != 0 ||
	    secret_hash_create(secret, strlen(secret), hash, sizeof hash) != 0) {
		fail(c, 500, "server_error", "cannot create a client secret");
		goto wipe;
	}
	if (new_id(c, id) != 0 ||
	    audit_requested(c, json_pack("{s:s, s:s}", "application_id", id, "name", in.name)) != 0)
		goto wipe;
	caracal_application a = {.size = sizeof a,
	                         .id = id,
	                         .zone_id = c->zone_id,
	                         .name = in.name,
	                         .registration_method = "managed",
	                         .client_secret_hash = hash,
	                         .traits = {in.traits, in.trait_count},
	                         .expires_at_us = in.expires_at_us,
	                         .created_at_us = c->now_us};
	caracal_error e = {0};
	int rc = c->deps.storage->application_create(c->deps.storage_tctx, &a, &e);
	if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot create the application");
	} else {
		/* The secret is shown here only; storage keeps its Argon2id hash. */
		succeed_applied(c, 201, json_pack("{s:s}", "application_id", id),
		                json_pack("{s:s, s:s, s:s}", "id", id, "name", in.name,
		                          "client_secret", secret));
	}
wipe:
	OPENSSL_cleanse(secret, sizeof secret);
	OPENSSL_cleanse(hash, sizeof hash);
out:
	json_decref(o);
}

static int app_each(void *ud, const void *record)
{
	const caracal_application *a = record;
	json_t *o = json_pack("{s:s, s:s}", "id", a->id != NULL ? a->id : "", "name",
	                      a->name != NULL ? a->name : "");
	if (o == NULL)
		return CARACAL_E_NOMEM;
	if (HAS(caracal_application, a, registration_method))
		set_opt_string(o, "registration_method", a->registration_method);
	if (HAS(caracal_application, a, traits))
		json_object_set_new(o, "traits", strlist_json(&a->traits));
	if (HAS(caracal_application, a, expires_at_us))
		json_object_set_new(o, "expires_at", time_json(a->expires_at_us));
	if (HAS(caracal_application, a, archived_at_us))
		json_object_set_new(o, "archived_at", time_json(a->archived_at_us));
	if (HAS(caracal_application, a, created_at_us))
		json_object_set_new(o, "created_at", time_json(a->created_at_us));
	/* client_secret_hash is never returned. */
	return json_array_append_new(ud, o) == 0 ? CARACAL_OK : CARACAL_E_NOMEM;
}

static void app_list(call *c)
{
	json_t *list = json_array();
	caracal_error e = {0};
	int rc = list != NULL ? c->deps.storage->application_list(c->deps.storage_tctx, c->zone_id,
	                                                          app_each, list, &e)
	                      : caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
	if (rc != CARACAL_OK) {
		json_decref(list);
		fail_code(c, &e, "cannot list applications");
		return;
	}
	succeed_read(c, NULL, json_pack("{s:o}", "applications", list));
}

/* ---- resources ------------------------------------------------------------------------ */

static void resource_create(call *c)
{
	char why[256], id[UUID_TEXT_LEN + 1];
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_resource_in in;
	if (admin_parse_resource(o, &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	if (new_id(c, id) != 0 || audit_requested(c, json_pack("{s:s, s:s}", "resource_id", id,
	                                                       "identifier", in.identifier)) != 0)
		goto out;
	caracal_resource r = {.size = sizeof r,
	                      .id = id,
	                      .zone_id = c->zone_id,
	                      .identifier = in.identifier,
	                      .upstream_url = in.upstream_url,
	                      .scopes = {in.scopes, in.scope_count},
	                      .credential_json = {in.credential_json, in.credential_len},
	                      .operations_json = {in.operations_json, in.operations_len},
	                      .operation_enforcement = in.operation_enforcement,
	                      .created_at_us = c->now_us};
	caracal_error e = {0};
	int rc = c->deps.storage->resource_create(c->deps.storage_tctx, &r, &e);
	if (rc == CARACAL_E_CONFLICT) {
		char d[ADMIN_MAX_IDENTIFIER + 64];
		snprintf(d, sizeof d, "the zone has a resource '%s'", in.identifier);
		fail(c, 409, "conflict", d);
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot create the resource");
	} else {
		succeed_applied(c, 201, json_pack("{s:s}", "resource_id", id),
		                json_pack("{s:s, s:s}", "id", id, "identifier", in.identifier));
	}
out:
	admin_resource_in_clear(&in);
	json_decref(o);
}

static int resource_each(void *ud, const void *record)
{
	const caracal_resource *r = record;
	json_t *o = json_pack("{s:s, s:s}", "id", r->id != NULL ? r->id : "", "identifier",
	                      r->identifier != NULL ? r->identifier : "");
	if (o == NULL)
		return CARACAL_E_NOMEM;
	if (HAS(caracal_resource, r, upstream_url))
		json_object_set_new(o, "upstream_url",
		                    r->upstream_url != NULL ? json_string(r->upstream_url)
		                                            : json_null());
	if (HAS(caracal_resource, r, scopes))
		json_object_set_new(o, "scopes", strlist_json(&r->scopes));
	if (HAS(caracal_resource, r, credential_json) && r->credential_json.ptr != NULL) {
		/* How the gateway injects the credential (a file name, never a secret). */
		json_t *cred = json_loadb(r->credential_json.ptr, r->credential_json.len, 0, NULL);
		if (cred != NULL)
			json_object_set_new(o, "credential", cred);
	}
	if (HAS(caracal_resource, r, operations_json) && r->operations_json.ptr != NULL) {
		json_t *ops = json_loadb(r->operations_json.ptr, r->operations_json.len, 0, NULL);
		if (ops != NULL)
			json_object_set_new(o, "operations", ops);
	}
	if (HAS(caracal_resource, r, operation_enforcement))
		set_opt_string(o, "operation_enforcement", r->operation_enforcement);
	if (HAS(caracal_resource, r, created_at_us))
		json_object_set_new(o, "created_at", time_json(r->created_at_us));
	return json_array_append_new(ud, o) == 0 ? CARACAL_OK : CARACAL_E_NOMEM;
}

static void resource_list(call *c)
{
	json_t *list = json_array();
	caracal_error e = {0};
	int rc = list != NULL ? c->deps.storage->resource_list(c->deps.storage_tctx, c->zone_id,
	                                                       resource_each, list, &e)
	                      : caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
	if (rc != CARACAL_OK) {
		json_decref(list);
		fail_code(c, &e, "cannot list resources");
		return;
	}
	succeed_read(c, NULL, json_pack("{s:o}", "resources", list));
}

/* ---- grants ------------------------------------------------------------------------ */

static void grant_create(call *c)
{
	char why[256], id[UUID_TEXT_LEN + 1];
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_grant_in in;
	caracal_error e = {0};
	if (admin_parse_grant(o, &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	caracal_application app = {.size = sizeof app};
	int rc = c->deps.storage->application_get(c->deps.storage_tctx, c->zone_id,
	                                          in.application_id, c->arena, &app, &e);
	if (rc == CARACAL_E_NOTFOUND) {
		fail(c, 404, "not_found", "no such application in this zone");
		goto out;
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot read the application");
		goto out;
	}
	if (HAS(caracal_application, &app, archived_at_us) && app.archived_at_us != 0) {
		fail(c, 409, "conflict", "the application is archived");
		goto out;
	}
	caracal_resource res = {.size = sizeof res};
	rc = c->deps.storage->resource_get(c->deps.storage_tctx, c->zone_id, in.resource, c->arena,
	                                   &res, &e);
	if (rc == CARACAL_E_NOTFOUND) {
		fail(c, 404, "not_found", "no such resource in this zone");
		goto out;
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot read the resource");
		goto out;
	}
	caracal_strlist rs =
	    HAS(caracal_resource, &res, scopes) ? res.scopes : (caracal_strlist){NULL, 0};
	for (size_t i = 0; i < in.scope_count; i++) {
		if (!admin_scopes_subset(&in.scopes[i], 1, rs.items, rs.count)) {
			char d[200];
			snprintf(d, sizeof d, "'%s' is not a scope of the resource", in.scopes[i]);
			fail(c, 400, "invalid_scope", d);
			goto out;
		}
	}
	if (new_id(c, id) != 0 ||
	    audit_requested(c, json_pack("{s:s, s:s, s:s}", "grant_id", id, "application_id",
	                                 app.id, "resource_id", res.id)) != 0)
		goto out;
	caracal_grant g = {.size = sizeof g,
	                   .id = id,
	                   .zone_id = c->zone_id,
	                   .application_id = app.id,
	                   .resource_id = res.id,
	                   .scopes = {in.scopes, in.scope_count},
	                   .created_at_us = c->now_us};
	rc = c->deps.storage->grant_create(c->deps.storage_tctx, &g, &e);
	if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot create the grant");
	} else {
		json_t *scopes = json_array();
		for (size_t i = 0; i < in.scope_count; i++)
			json_array_append_new(scopes, json_string(in.scopes[i]));
		succeed_applied(c, 201, json_pack("{s:s}", "grant_id", id),
		                json_pack("{s:s, s:s, s:s, s:o}", "id", id, "application_id",
		                          app.id, "resource_id", res.id, "scopes", scopes));
	}
out:
	json_decref(o);
}

static int grant_each(void *ud, const void *record)
{
	const caracal_grant *g = record;
	json_t *o = json_pack("{s:s, s:s, s:s}", "id", g->id != NULL ? g->id : "", "application_id",
	                      g->application_id != NULL ? g->application_id : "", "resource_id",
	                      g->resource_id != NULL ? g->resource_id : "");
	if (o == NULL)
		return CARACAL_E_NOMEM;
	if (HAS(caracal_grant, g, scopes))
		json_object_set_new(o, "scopes", strlist_json(&g->scopes));
	if (HAS(caracal_grant, g, created_at_us))
		json_object_set_new(o, "created_at", time_json(g->created_at_us));
	return json_array_append_new(ud, o) == 0 ? CARACAL_OK : CARACAL_E_NOMEM;
}

static void grant_list(call *c)
{
	json_t *list = json_array();
	caracal_error e = {0};
	int rc = list != NULL ? c->deps.storage->grant_list(c->deps.storage_tctx, c->zone_id, NULL,
	                                                    NULL, grant_each, list, &e)
	                      : caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
	if (rc != CARACAL_OK) {
		json_decref(list);
		fail_code(c, &e, "cannot list grants");
		return;
	}
	succeed_read(c, NULL, json_pack("{s:o}", "grants", list));
}

/* ---- policies ------------------------------------------------------------------------ */

/* Validate the body as a policy. 0 when valid; otherwise the request failed. */
static int policy_check(call *c)
{
	caracal_error e = {0};
	caracal_str diag = {0};
	if (memchr(c->job->body, '\0', c->job->body_len) != NULL) {
		fail(c, 400, "invalid_policy", "the policy text contains a NUL byte");
		return -1;
	}
	if (c->job->body_len == 0) {
		fail(c, 400, "invalid_policy", "the policy text is empty");
		return -1;
	}
	int rc = c->deps.policy->validate(c->deps.policy_tctx, c->job->body, c->job->body_len,
	                                  c->arena, &diag, &e);
	if (rc == CARACAL_OK)
		return 0;
	if (rc != CARACAL_E_INVAL) {
		fail_code(c, &e, "the policy engine cannot validate");
		return -1;
	}
	json_t *d = diag.ptr != NULL ? json_loadb(diag.ptr, diag.len, 0, NULL) : NULL;
	if (!json_is_array(d)) {
		json_decref(d);
		d = json_array();
		json_array_append_new(d, json_pack("{s:s}", "message", e.message));
	}
	if (!c->audited_final) {
		caracal_error ae = {0};
		c->audited_final = 1;
		if (audit(c, "failed", 400, json_pack("{s:s}", "error", "invalid_policy"), &ae) !=
		    CARACAL_OK)
			log_error("admin", "request %s: cannot audit %s: %s", c->request_id,
			          c->event_type, ae.message);
	}
	json_t *o = error_object(c, "invalid_policy",
	                         e.message[0] != '\0' ? e.message : "the policy is invalid");
	json_object_set_new(o, "diagnostics", d);
	reply(c, 400, o);
	return -1;
}

static void policy_validate(call *c)
{
	if (policy_check(c) == 0)
		succeed_read(c, NULL, json_pack("{s:b}", "valid", 1));
}

/* validate -> store the version -> activate in the engine -> mark it
 * active in storage. The engine keeps the previous version until its own
 * activate succeeds; if storage then fails, the previous stored version is
 * activated in the engine again, so engine and storage agree. */
/* Applies are serialised in this process, so two applies racing in one zone
 * cannot leave the engine on one version and storage on the other. (Across
 * processes, each caracald compiles storage's active version at start and
 * reload.) */
static pthread_mutex_t apply_lock = PTHREAD_MUTEX_INITIALIZER;

static void policy_apply_locked(call *c);

static void policy_apply(call *c)
{
	pthread_mutex_lock(&apply_lock);
	policy_apply_locked(c);
	pthread_mutex_unlock(&apply_lock);
}

static void policy_apply_locked(call *c)
{
	char id[UUID_TEXT_LEN + 1], sha[65];
	caracal_error e = {0};
	if (policy_check(c) != 0)
		return;
	if (sha256_hex(c->job->body, c->job->body_len, sha) != 0) {
		fail(c, 500, "internal_error", "cannot hash the policy");
		return;
	}
	if (new_id(c, id) != 0 || audit_requested(c, json_pack("{s:s, s:s}", "policy_version_id",
	                                                       id, "sha256", sha)) != 0)
		return;
	caracal_policy_version prev = {.size = sizeof prev};
	int rc = c->deps.storage->policy_active_get(c->deps.storage_tctx, c->zone_id, c->arena,
	                                            &prev, &e);
	int have_prev = rc == CARACAL_OK;
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		fail_code(c, &e, "cannot read the active policy");
		return;
	}
	caracal_policy_version pv = {.size = sizeof pv,
	                             .id = id,
	                             .zone_id = c->zone_id,
	                             .source = {c->job->body, c->job->body_len},
	                             .sha256 = sha,
	                             .active = 0,
	                             .created_at_us = c->now_us};
	rc = c->deps.storage->policy_version_create(c->deps.storage_tctx, &pv, &e);
	if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot store the policy version");
		return;
	}
	rc = c->deps.policy->activate(c->deps.policy_tctx, c->zone_id, id, c->job->body,
	                              c->job->body_len, &e);
	if (rc != CARACAL_OK) {
		if (rc == CARACAL_E_INVAL)
			fail(c, 400, "invalid_policy", e.message);
		else
			fail_code(c, &e, "the policy engine cannot activate the version");
		return;
	}
	rc = c->deps.storage->policy_activate(c->deps.storage_tctx, c->zone_id, id, &e);
	if (rc != CARACAL_OK) {
		caracal_error re = {0};
		if (have_prev && prev.id != NULL && prev.source.ptr != NULL) {
			if (c->deps.policy->activate(c->deps.policy_tctx, c->zone_id, prev.id,
			                             prev.source.ptr, prev.source.len,
			                             &re) != CARACAL_OK)
				log_error(
				    "admin",
				    "zone %s: the engine runs policy version %s but storage "
				    "could not activate it, and restoring version %s failed: %s",
				    c->zone_id, id, prev.id, re.message);
		} else {
			log_error(
			    "admin",
			    "zone %s: the engine runs policy version %s but storage could not "
			    "activate it and there is no previous version to restore",
			    c->zone_id, id);
		}
		fail_code(c, &e, "cannot mark the policy version active");
		return;
	}
	succeed_applied(
	    c, 201,
	    json_pack("{s:s, s:I}", "policy_version_id", id, "version", (json_int_t)pv.version),
	    json_pack("{s:s, s:I, s:s, s:s}", "id", id, "version", (json_int_t)pv.version, "sha256",
	              sha, "zone_id", c->zone_id));
}

static void policy_active(call *c)
{
	caracal_error e = {0};
	caracal_policy_version pv = {.size = sizeof pv};
	int rc =
	    c->deps.storage->policy_active_get(c->deps.storage_tctx, c->zone_id, c->arena, &pv, &e);
	if (rc == CARACAL_E_NOTFOUND) {
		fail(c, 404, "not_found", "the zone has no active policy");
		return;
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot read the active policy");
		return;
	}
	json_t *o = json_pack("{s:s, s:I, s:s, s:s%}", "id", pv.id != NULL ? pv.id : "", "version",
	                      (json_int_t)pv.version, "sha256", pv.sha256 != NULL ? pv.sha256 : "",
	                      "source", pv.source.ptr != NULL ? pv.source.ptr : "",
	                      pv.source.ptr != NULL ? pv.source.len : 0);
	if (o != NULL)
		json_object_set_new(o, "created_at", time_json(pv.created_at_us));
	succeed_read(c, NULL, o);
}

/* ---- keys ------------------------------------------------------------------------ */

struct key_scan {
	caracal_arena *arena;
	const char *kids[64];
	const char *algs[64];
	size_t count;
};

static int key_each(void *ud, const void *record)
{
	struct key_scan *ks = ud;
	const caracal_key_meta *k = record;
	if (k->status != NULL && strcmp(k->status, "current") == 0 && k->kid != NULL &&
	    ks->count < 64) {
		ks->kids[ks->count] = arena_strndup(ks->arena, k->kid, strlen(k->kid));
		ks->algs[ks->count] = arena_strndup(ks->arena, k->alg != NULL ? k->alg : "",
		                                    k->alg ? strlen(k->alg) : 0);
		if (ks->kids[ks->count] != NULL && ks->algs[ks->count] != NULL)
			ks->count++;
	}
	return CARACAL_OK;
}

static void key_rotate(call *c)
{
	caracal_error e = {0};
	if (audit_requested(c, NULL) != 0)
		return;
	caracal_signing_key key = {.size = sizeof key};
	int rc = c->deps.signer->rotate(c->deps.signer_tctx, c->zone_id, c->arena, &key, &e);
	if (rc != CARACAL_OK || key.kid == NULL) {
		if (rc == CARACAL_OK)
			caracal_error_set(&e, CARACAL_E_INTERNAL, "the signer returned no key id");
		fail_code(c, &e, "cannot rotate the signing key");
		return;
	}
	/* Public key metadata: the new key is current, the previous ones enter
	 * their grace period (the signer owns its length and the JWKS). */
	struct key_scan ks = {.arena = c->arena};
	int meta_ok = c->deps.storage->key_meta_list(c->deps.storage_tctx, c->zone_id, key_each,
	                                             &ks, &e) == CARACAL_OK;
	for (size_t i = 0; meta_ok && i < ks.count; i++) {
		if (strcmp(ks.kids[i], key.kid) == 0)
			continue;
		caracal_key_meta old = {.size = sizeof old,
		                        .zone_id = c->zone_id,
		                        .kid = ks.kids[i],
		                        .alg = ks.algs[i],
		                        .status = "grace",
		                        .created_at_us = c->now_us};
		meta_ok =
		    c->deps.storage->key_meta_put(c->deps.storage_tctx, &old, &e) == CARACAL_OK;
	}
	caracal_key_meta km = {.size = sizeof km,
	                       .zone_id = c->zone_id,
	                       .kid = key.kid,
	                       .alg = key.alg != NULL ? key.alg : "",
	                       .status = "current",
	                       .created_at_us = c->now_us};
	if (meta_ok)
		meta_ok =
		    c->deps.storage->key_meta_put(c->deps.storage_tctx, &km, &e) == CARACAL_OK;
	if (!meta_ok)
		log_error("admin", "zone %s: rotated to key %s but cannot record its metadata: %s",
		          c->zone_id, key.kid, e.message);
	succeed_applied(
	    c, 200, json_pack("{s:s, s:b}", "kid", key.kid, "key_meta_recorded", meta_ok),
	    json_pack("{s:s, s:s}", "kid", key.kid, "alg", key.alg != NULL ? key.alg : ""));
}

/* ---- approvals ------------------------------------------------------------------------ */

static int approval_each(void *ud, const void *record)
{
	const caracal_approval *a = record;
	json_t *o = json_pack("{s:s}", "id", a->id != NULL ? a->id : "");
	if (o == NULL)
		return CARACAL_E_NOMEM;
	set_opt_string(o, "session_id", a->session_id);
	set_opt_string(o, "principal_id", a->principal_id);
	set_opt_string(o, "application_id", a->application_id);
	set_opt_string(o, "tier", a->tier);
	set_opt_string(o, "approver_class", a->approver_class);
	set_opt_string(o, "privacy_mode", a->privacy_mode);
	set_opt_string(o, "subject_anchor", a->subject_anchor);
	json_object_set_new(o, "expires_at", time_json(a->expires_at_us));
	if (HAS(caracal_approval, a, metadata_json) && a->metadata_json.ptr != NULL &&
	    a->metadata_json.len > 0) {
		json_t *m = json_loadb(a->metadata_json.ptr, a->metadata_json.len, 0, NULL);
		if (m != NULL)
			json_object_set_new(o, "metadata", m);
	}
	if (HAS(caracal_approval, a, created_at_us))
		json_object_set_new(o, "created_at", time_json(a->created_at_us));
	return json_array_append_new(ud, o) == 0 ? CARACAL_OK : CARACAL_E_NOMEM;
}

static void approval_list(call *c)
{
	json_t *list = json_array();
	caracal_error e = {0};
	int rc = list != NULL
	             ? c->deps.storage->approval_list_pending(c->deps.storage_tctx, c->zone_id,
	                                                      c->now_us, approval_each, list, &e)
	             : caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
	if (rc != CARACAL_OK) {
		json_decref(list);
		fail_code(c, &e, "cannot list approvals");
		return;
	}
	succeed_read(c, NULL, json_pack("{s:o}", "approvals", list));
}

static void approval_decide(call *c)
{
	char why[256];
	caracal_error e = {0};
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_decision_in in;
	if (admin_parse_decision(o, &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	caracal_approval a = {.size = sizeof a};
	int rc = c->deps.storage->approval_get(c->deps.storage_tctx, c->zone_id, c->path.id,
	                                       c->arena, &a, &e);
	if (rc == CARACAL_E_NOTFOUND) {
		fail(c, 404, "not_found", "no such approval in this zone");
		goto out;
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot read the approval");
		goto out;
	}
	/* The operator may always refuse; approving a hold meant for its
	 * subject is the subject's call. */
	if (in.approve && a.approver_class != NULL && strcmp(a.approver_class, "subject") == 0) {
		fail(c, 403, "forbidden", "this approval is for its subject to grant");
		goto out;
	}
	if (audit_requested(
	        c, json_pack("{s:s, s:b}", "approval_id", c->path.id, "approve", in.approve)) != 0)
		goto out;
	rc = c->deps.storage->approval_decide(c->deps.storage_tctx, c->zone_id, c->path.id,
	                                      in.approve, "admin", in.reason, c->now_us, &e);
	const char *state = in.approve ? "approved" : "rejected";
	if (rc == CARACAL_E_CONFLICT) {
		fail(c, 409, "conflict", "the approval was already decided, consumed or expired");
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot decide the approval");
	} else {
		succeed_applied(c, 200,
		                json_pack("{s:s, s:s}", "approval_id", c->path.id, "state", state),
		                json_pack("{s:s, s:s}", "id", c->path.id, "state", state));
	}
out:
	json_decref(o);
}

/* ---- revocations ------------------------------------------------------------------------ */

static void revocation_create(call *c)
{
	char why[256];
	caracal_error e = {0};
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_revoke_in in;
	if (admin_parse_revoke(o, &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	if (audit_requested(c, json_pack("{s:s, s:s}", "kind", in.kind_name, "target_id", in.id)) !=
	    0)
		goto out;
	caracal_revocation r = {.size = sizeof r,
	                        .zone_id = c->zone_id,
	                        .kind = (caracal_revocation_kind)in.kind,
	                        .target_id = in.id,
	                        .reason = in.reason != NULL ? in.reason : "",
	                        .revoked_at_us = c->now_us};
	uint64_t count = 0;
	int rc = c->deps.storage->revoke(c->deps.storage_tctx, &r, &count, &e);
	if (rc == CARACAL_E_NOTFOUND) {
		char d[200];
		snprintf(d, sizeof d, "no such %s in this zone", in.kind_name);
		fail(c, 404, "not_found", d);
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot revoke");
	} else {
		succeed_applied(
		    c, 200,
		    json_pack("{s:s, s:s, s:I, s:I}", "kind", in.kind_name, "target_id", in.id,
		              "count", (json_int_t)count, "seq", (json_int_t)r.seq),
		    json_pack("{s:{s:s, s:s}, s:I, s:I}", "revoked", "kind", in.kind_name, "id",
		              in.id, "count", (json_int_t)count, "seq", (json_int_t)r.seq));
	}
out:
	json_decref(o);
}

/* ---- federated identity issuers ----------------------------------------------------- */

static json_t *issuer_json(const caracal_subject_issuer *i)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "id", i->id != NULL ? i->id : "", "issuer",
	                 i->issuer != NULL ? i->issuer : "", "jwks_url",
	                 i->jwks_url != NULL ? i->jwks_url : "", "audience",
	                 i->audience != NULL ? i->audience : "");
}

/* An http:// issuer only while the daemon runs in development mode: in
 * production a zone must not trust identities asserted over plain HTTP. */
static int issuer_http_allowed(const call *c)
{
	return c->deps.settings != NULL && !c->deps.settings->production;
}

static void issuer_create(call *c)
{
	char why[256], id[UUID_TEXT_LEN + 1];
	json_t *o = body_object(c);
	if (o == NULL)
		return;
	admin_issuer_in in;
	if (admin_parse_issuer(o, issuer_http_allowed(c), &in, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		goto out;
	}
	/* The whole trust anchor goes into the evidence: which keys, for
	 * which audience, this zone now accepts identities from. */
	if (new_id(c, id) != 0 ||
	    audit_requested(c,
	                    json_pack("{s:s, s:s, s:s, s:s}", "issuer_id", id, "issuer", in.issuer,
	                              "jwks_url", in.jwks_url, "audience", in.audience)) != 0)
		goto out;
	caracal_subject_issuer si = {.size = sizeof si,
	                             .id = id,
	                             .zone_id = c->zone_id,
	                             .issuer = in.issuer,
	                             .jwks_url = in.jwks_url,
	                             .audience = in.audience};
	caracal_error e = {0};
	int rc = c->deps.storage->subject_issuer_create(c->deps.storage_tctx, &si, &e);
	if (rc == CARACAL_E_CONFLICT) {
		char d[ADMIN_MAX_ISSUER + 64];
		snprintf(d, sizeof d, "the zone already has the issuer '%s'", in.issuer);
		fail(c, 409, "conflict", d);
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot register the issuer");
	} else {
		succeed_applied(c, 201, json_pack("{s:s}", "issuer_id", id), issuer_json(&si));
	}
out:
	json_decref(o);
}

static void issuer_get(call *c)
{
	char issuer[ADMIN_MAX_ISSUER + 1], why[256];
	if (admin_query_issuer(c->job->query, issuer, sizeof issuer, why, sizeof why) != 0) {
		fail(c, 400, "invalid_request", why);
		return;
	}
	caracal_subject_issuer si = {.size = sizeof si};
	caracal_error e = {0};
	int rc = c->deps.storage->subject_issuer_get(c->deps.storage_tctx, c->zone_id, issuer,
	                                             c->arena, &si, &e);
	if (rc == CARACAL_E_NOTFOUND) {
		fail(c, 404, "not_found", "no such issuer in this zone");
		return;
	} else if (rc != CARACAL_OK) {
		fail_code(c, &e, "cannot read the issuer");
		return;
	}
	succeed_read(c, json_pack("{s:s}", "issuer_id", si.id != NULL ? si.id : ""),
	             issuer_json(&si));
}

/* ---- dispatch ------------------------------------------------------------------------ */

static unsigned route_needs(admin_route_id r)
{
	switch (r) {
	case ADMIN_R_POLICY_VALIDATE:
		return ROLE_NEEDS_POLICY;
	case ADMIN_R_POLICIES:
		return ROLE_NEEDS_STORAGE | ROLE_NEEDS_POLICY;
	case ADMIN_R_KEYS_ROTATE:
		return ROLE_NEEDS_STORAGE | ROLE_NEEDS_SIGNER;
	default:
		return ROLE_NEEDS_STORAGE;
	}
}

static int text_media_type(const char *ct)
{
	return admin_media_type_is(ct, "text/plain") ||
	       admin_media_type_is(ct, "application/yaml") ||
	       admin_media_type_is(ct, "application/x-yaml") ||
	       admin_media_type_is(ct, "text/yaml");
}

/* Steps 2..4 of the flow (after authentication). */
static void route(call *c)
{
	admin_job *j = c->job;
	int is_get = strcmp(j->method, "GET") == 0 || strcmp(j->method, "HEAD") == 0;
	if (!admin_path_parse(j->path, &c->path)) {
		snprintf(c->event_type, sizeof c->event_type, "admin.unknown");
		fail(c, 404, "not_found", "no such route");
		return;
	}
	snprintf(c->event_type, sizeof c->event_type, "admin.%s",
	         admin_route_action(c->path.route, j->method));
	if (!admin_method_allowed(c->path.route, j->method)) {
		fail(c, 405, "method_not_allowed", "this route does not take that method");
		return;
	}
	const char *kind = admin_route_body(c->path.route, j->method);
	if (kind != NULL && strcmp(kind, "json") == 0 &&
	    !admin_media_type_is(j->content_type, "application/json")) {
		fail(c, 415, "unsupported_media_type", "the body must be application/json");
		return;
	}
	if (kind != NULL && strcmp(kind, "text") == 0 && !text_media_type(j->content_type)) {
		fail(c, 415, "unsupported_media_type",
		     "the policy must be sent as text/plain or application/yaml");
		return;
	}
	if (kind == NULL && j->body_len > 0) {
		/* Routes without a body accept only an empty JSON object. */
		char why[256];
		json_t *o = admin_media_type_is(j->content_type, "application/json")
		                ? admin_body_object(j->body, j->body_len, why, sizeof why)
		                : NULL;
		int empty = o != NULL && json_object_size(o) == 0;
		json_decref(o);
		if (!empty) {
			fail(c, 400, "invalid_request", "this route takes no body");
			return;
		}
	}
	caracal_error e = {0};
	if (role_deps_get(c->wc, route_needs(c->path.route), &c->deps, &e) != CARACAL_OK) {
		fail(c, 503, "temporarily_unavailable", e.message);
		return;
	}
	c->arena = arena_new();
	if (c->arena == NULL) {
		fail(c, 500, "server_error", "out of memory");
		return;
	}
	caracal_zone zone = {.size = sizeof zone};
	if (c->path.zone[0] != '\0') {
		int rc = c->deps.storage->zone_get(c->deps.storage_tctx, c->path.zone, c->arena,
		                                   &zone, &e);
		if (rc == CARACAL_E_NOTFOUND || (rc == CARACAL_OK && zone.id == NULL)) {
			fail(c, 404, "not_found", "no such zone");
			return;
		} else if (rc != CARACAL_OK) {
			fail_code(c, &e, "cannot read the zone");
			return;
		}
		snprintf(c->zone_id, sizeof c->zone_id, "%s", zone.id);
	}
	switch (c->path.route) {
	case ADMIN_R_ZONES:
		is_get ? zone_list(c) : zone_create(c);
		break;
	case ADMIN_R_ZONE:
		zone_show(c, &zone);
		break;
	case ADMIN_R_APPLICATIONS:
		is_get ? app_list(c) : app_create(c);
		break;
	case ADMIN_R_RESOURCES:
		is_get ? resource_list(c) : resource_create(c);
		break;
	case ADMIN_R_GRANTS:
		is_get ? grant_list(c) : grant_create(c);
		break;
	case ADMIN_R_POLICIES:
		is_get ? policy_active(c) : policy_apply(c);
		break;
	case ADMIN_R_POLICY_VALIDATE:
		policy_validate(c);
		break;
	case ADMIN_R_KEYS_ROTATE:
		key_rotate(c);
		break;
	case ADMIN_R_APPROVALS:
		approval_list(c);
		break;
	case ADMIN_R_APPROVAL_DECISION:
		approval_decide(c);
		break;
	case ADMIN_R_REVOCATIONS:
		revocation_create(c);
		break;
	case ADMIN_R_ISSUERS:
		is_get ? issuer_get(c) : issuer_create(c);
		break;
	case ADMIN_R_NONE:
	default:
		fail(c, 404, "not_found", "no such route");
		break;
	}
}

static void admin_run(deferred_work *dw, worker_ctx *wc)
{
	admin_job *j = (admin_job *)dw;
	call c = {.job = j, .wc = wc, .now_us = clock_now_us()};
	if (uuid_v7(c.request_id) != 0)
		snprintf(c.request_id, sizeof c.request_id, "unknown");
	const generation *gen = wc->gen;
	if (gen == NULL || gen->admin_token_len == 0) {
		/* Nothing to authenticate against: fail closed. */
		c.audited_final = 1;
		reply(&c, 503,
		      error_object(&c, "temporarily_unavailable",
		                   "the admin API is disabled: no admin.token is configured"));
		return;
	}
	const char *tok;
	size_t tok_len;
	int ok = j->auth_fields == 1 && admin_bearer_token(j->authorization, &tok, &tok_len);
	/* Always run the comparison, so that timing does not tell a malformed
	 * header from a wrong token. */
	if (!ok) {
		tok = "";
		tok_len = 0;
	}
	int match = admin_token_matches(gen->admin_token, gen->admin_token_len, tok, tok_len);
	if (!ok || !match) {
		c.audited_final = 1; /* unauthenticated requests are not audited */
		reply(&c, 401,
		      error_object(&c, "unauthorized", "a valid admin bearer token is required"));
		return;
	}
	route(&c);
	arena_free(c.arena);
}

static void admin_job_free(deferred_work *dw)
{
	admin_job *j = (admin_job *)dw;
	if (j->authorization != NULL) {
		OPENSSL_cleanse(j->authorization, strlen(j->authorization));
		free(j->authorization);
	}
	free(j->path);
	free(j->query);
	free(j->content_type);
	free(j->body);
	free(j);
}

static char *dup_header(const http_header *h)
{
	return h != NULL ? strndup(h->value, h->value_len) : NULL;
}

/* Loop thread: bound, copy, hand over. */
static void admin_entry(request_ctx *rc)
{
	http_request *req = rc->req;
	if (req->body_len > ADMIN_MAX_BODY) {
		server_respond_error(rc, 413, "too_large", "the body is larger than 64 KiB");
		return;
	}
	admin_job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		server_respond_error(rc, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	snprintf(j->method, sizeof j->method, "%s", req->method);
	j->path = strdup(req->path);
	j->query = strdup(req->query != NULL ? req->query : "");
	const http_header *auth = http_request_header(req, "Authorization", &j->auth_fields);
	j->authorization = dup_header(auth);
	j->content_type = dup_header(http_request_header(req, "Content-Type", NULL));
	j->body = malloc(req->body_len + 1);
	if (j->path == NULL || j->query == NULL || j->body == NULL ||
	    (auth != NULL && j->authorization == NULL)) {
		admin_job_free(&j->dw);
		server_respond_error(rc, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	if (req->body_len > 0)
		memcpy(j->body, req->body, req->body_len);
	j->body[req->body_len] = '\0';
	j->body_len = req->body_len;
	j->dw.run = admin_run;
	j->dw.free_fn = admin_job_free;
	server_defer(rc, &j->dw);
}

void admin_routes_register(void)
{
	static const char *const exact[][2] = {{"GET", "/admin/zones"},
	                                       {"POST", "/admin/zones"},
	                                       {"POST", "/admin/policies/validate"},
	                                       /* Zone-scoped routes: one prefix route per
	                                        * method; admin_path_parse does the rest. */
	                                       {"GET", "/admin/zones/*"},
	                                       {"POST", "/admin/zones/*"}};
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (server_route(ROLE_ADMIN, exact[i][0], exact[i][1], admin_entry) != 0)
			log_error("admin", "cannot register %s %s: route table full", exact[i][0],
			          exact[i][1]);
}
