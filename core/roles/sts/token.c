/*
 * token.c — POST /oauth/2/token.
 *
 * The loop thread checks the transport rules and parses the form (cheap and
 * bounded); everything that touches a plugin runs on a decision-pool worker,
 * in the order of spec sts.md §2.4. Every step that cannot be completed
 * denies: a storage, policy, signing or audit failure never yields a token.
 *
 * Exchange classes (§2.3): a client-authenticated mint without a subject
 * token (use=session; with agent_session_id + delegation_edge_id a
 * delegated mint, use=gateway), a gateway-authenticated re-exchange of a
 * use=gateway mandate (use=resource, aud = the granted resources), and
 * federation of an id_token (federation_exchange, use=session sub_type=user).
 * A control key (control_exchange) mints for the control audience without a
 * policy. The run endpoints (§2.16) are not offered.
 */
#include "roles/sts/approvals.h"
#include "roles/sts/client_auth.h"
#include "roles/sts/config_cache.h"
#include "roles/sts/control_key.h"
#include "roles/sts/delegation.h"
#include "roles/sts/exchange.h"
#include "roles/sts/federation.h"
#include "roles/sts/form.h"
#include "roles/sts/gateway_auth.h"
#include "roles/sts/jwt.h"
#include "roles/sts/mandate.h"
#include "roles/sts/mint_persist.h"
#include "roles/sts/policy_input.h"
#include "roles/sts/rate_lease.h"
#include "roles/sts/sts.h"

#include "daemon/server.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/json_canon.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/uuid.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void token_job_free(deferred_work *dw)
{
	struct token_job *job = (struct token_job *)dw;
	sts_config_view_close(&job->config);
	arena_free(job->arena);
	free(job);
}

/* ---- responses (worker side) ---------------------------------------------- */

/* ---- request id ----------------------------------------------------------- */

static void pick_request_id(const http_request *req, char out[REQUEST_ID_MAX + 1])
{
	const http_header *h = http_request_header(req, "X-Request-Id", NULL);
	if (h != NULL && h->value_len > 0 && h->value_len <= REQUEST_ID_MAX) {
		int ok = 1;
		for (size_t i = 0; i < h->value_len && ok; i++) {
			char c = h->value[i];
			ok = isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' ||
			     c == ':';
		}
		if (ok) {
			memcpy(out, h->value, h->value_len);
			out[h->value_len] = '\0';
			return;
		}
	}
	if (uuid_v7(out) != 0)
		snprintf(out, REQUEST_ID_MAX + 1, "unavailable");
}

/* ---- audit ---------------------------------------------------------------- */

/* ---- scopes ---------------------------------------------------------------- */

static int in_list(const char *s, const caracal_strlist *list)
{
	for (size_t i = 0; i < list->count; i++)
		if (strcmp(list->items[i], s) == 0)
			return 1;
	return 0;
}

/* ---- the pipeline (worker) ------------------------------------------------ */

/* §2.4 step 9d: (UPPER(trim(method)), trim(path)) must be one of the
 * resource's declared operations, and the presented mandate's scope must
 * hold that operation's scope. Anything unreadable refuses. */
static int operation_permitted(const caracal_resource *res, const char *method, const char *path,
                               const char *mandate_scope)
{
	if (method == NULL || path == NULL || res->operations_json.ptr == NULL)
		return 0;
	char m[16], p[1025];
	size_t ml = 0, pl = 0;
	while (*method == ' ' || *method == '\t')
		method++;
	size_t mlen = strlen(method);
	while (mlen > 0 && (method[mlen - 1] == ' ' || method[mlen - 1] == '\t'))
		mlen--;
	for (; ml < mlen; ml++) {
		/* Whitespace inside is not a method: nothing matches it. */
		if (ml + 1 >= sizeof m || method[ml] == ' ' || method[ml] == '\t')
			return 0;
		m[ml] = (char)toupper((unsigned char)method[ml]);
	}
	m[ml] = '\0';
	while (*path == ' ' || *path == '\t')
		path++;
	pl = strlen(path);
	while (pl > 0 && (path[pl - 1] == ' ' || path[pl - 1] == '\t'))
		pl--;
	if (pl >= sizeof p)
		return 0;
	memcpy(p, path, pl);
	p[pl] = '\0';
	json_error_t je;
	json_t *ops = json_loadb(res->operations_json.ptr, res->operations_json.len, 0, &je);
	int ok = 0;
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
	{
		const char *om = json_string_value(json_object_get(op, "method"));
		const char *opath = json_string_value(json_object_get(op, "path"));
		const char *oscope = json_string_value(json_object_get(op, "scope"));
		if (om == NULL || opath == NULL || oscope == NULL || strcmp(om, m) != 0 ||
		    strcmp(opath, p) != 0)
			continue;
		/* The mandate's scope is space-delimited. */
		size_t n = strlen(oscope);
		for (const char *q = mandate_scope; q != NULL && *q != '\0' && !ok;) {
			while (*q == ' ')
				q++;
			size_t len = strcspn(q, " ");
			ok = len == n && n > 0 && strncmp(q, oscope, n) == 0;
			q += len;
		}
		break;
	}
	json_decref(ops);
	return ok;
}

/* ---- §2.6: the presented subject token ----------------------------------- */

/* What a verified subject token (a mandate of ours) brings to the exchange,
 * copied into the job's arena. */
struct presented {
	const char *subject_id, *subject_kind;
	const char *sid;
	const char *claims_json; /* for the policy input */
	const char *use, *scope, *root_sid, *agent_session, *edge;
};

/* Parse and verify f->subject_token into *subject and *out: one of ours, for
 * this zone, of the expected use, bound to a live authority record of this
 * client. -1 with the answer set (and *subject freed) when it is not. */
static int read_subject_token(struct token_job *job, const role_deps *deps, const char *zone,
                              const caracal_application *app, int64_t now_us, jwt *subject,
                              struct presented *out)
{
	const sts_form *f = &job->form;
	caracal_arena *arena = job->arena;
	caracal_error err = {0};
	const int gw = job->gateway;
	char why[128] = "no signing keys for the zone";
	caracal_str jwks = {0};
	int64_t max_age;
	if (jwt_parse(f->subject_token, strlen(f->subject_token), subject, why, sizeof why) != 0) {
		sts_set_error(job, 401, "invalid_token", "invalid subject_token");
		return -1;
	}
	int rc = deps->signer->jwks(deps->signer_tctx, zone, arena, &jwks, &max_age, &err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		jwt_free(subject);
		sts_set_error(job, 503, "sts_unavailable", "signing keys are unavailable");
		return -1;
	}
	if (rc != CARACAL_OK ||
	    jwt_verify_signature(subject, f->subject_token, jwks.ptr, jwks.len, why, sizeof why) !=
	        0 ||
	    jwt_check_claims(subject, deps->settings->issuer, zone, gw ? "gateway" : "session",
	                     now_us / 1000000, why, sizeof why) != 0) {
		log_info("sts", "request %s: subject token refused: %s", job->request_id, why);
		jwt_free(subject);
		sts_set_error(job, 401, "invalid_token", "invalid subject_token");
		return -1;
	}
	const json_t *c = subject->claims;
	const char *token_sid = json_string_value(json_object_get(c, "sid"));
	const char *tsub = json_string_value(json_object_get(c, "sub"));
	const char *tclient = json_string_value(json_object_get(c, "client_id"));
	const char *tkind = json_string_value(json_object_get(c, "sub_type"));
	const char *problem = NULL;
	int status = 403;
	const char *code = "access_denied";
	caracal_authority_record ar = {.size = sizeof ar};
	if (token_sid == NULL) {
		problem = "subject_token has no sid";
		code = "invalid_token";
	} else if (f->session_id != NULL && f->session_id[0] != '\0' &&
	           strcmp(f->session_id, token_sid) != 0) {
		problem = "session mismatch";
	} else if ((rc = deps->storage->authority_record_get(deps->storage_tctx, zone, token_sid,
	                                                     arena, &ar, &err)) != CARACAL_OK) {
		if (rc == CARACAL_E_NOTFOUND) {
			problem = "authority record inactive or expired";
		} else {
			problem = "the token service is unavailable";
			status = 503;
			code = "sts_unavailable";
		}
	} else if (ar.status == NULL || strcmp(ar.status, "active") != 0 ||
	           ar.expires_at_us <= now_us) {
		problem = "authority record inactive or expired";
	} else if (tsub == NULL || ar.subject_id == NULL || strcmp(ar.subject_id, tsub) != 0) {
		problem = "authority record subject mismatch";
	} else if (tclient == NULL || strcmp(tclient, app->id) != 0) {
		problem = "authority record client mismatch";
	}
	if (problem != NULL) {
		jwt_free(subject);
		sts_set_error(job, status, code, problem);
		return -1;
	}
	out->subject_id = arena_strndup(arena, tsub, strlen(tsub));
	out->subject_kind = tkind != NULL && strcmp(tkind, "user") == 0 ? "user" : "application";
	out->sid = arena_strndup(arena, token_sid, strlen(token_sid));
	char *claims_text = json_dumps(c, JSON_COMPACT);
	if (claims_text != NULL)
		out->claims_json = arena_strndup(arena, claims_text, strlen(claims_text));
	free(claims_text);
	if (out->subject_id == NULL || out->sid == NULL || out->claims_json == NULL) {
		jwt_free(subject);
		sts_set_error(job, 503, "sts_unavailable", "out of memory");
		return -1;
	}
	out->use = gw ? "gateway" : "session";
	out->scope = sts_claim_copy(arena, c, "scope");
	out->root_sid = sts_claim_copy(arena, c, "root_sid");
	out->agent_session = sts_claim_copy(arena, c, "agent_session_id");
	out->edge = sts_claim_copy(arena, c, "delegation_edge_id");
	return 0;
}

/* ---- §2.4 step 9: one resource ---------------------------------------------- */

/* What evaluating one resource reads of its exchange and collects for it. */
struct evaluation {
	struct token_job *job;
	const role_deps *deps;
	const char *zone;
	const caracal_application *app;
	const char *const *scopes;
	size_t nscopes;
	int gw;                       /* gateway-authenticated */
	const json_t *subject_claims; /* of the presented mandate (gw) */
	const char *token_scope;      /* its scope claim (arena) */
	const sts_delegation *deleg;
	int64_t now_us;
	int count_rate;                /* count the mint rate window (the first evaluation) */
	sts_policy_input policy_input; /* all but the resource and its grants */

	struct approval_decl decls[STS_FORM_MAX_RESOURCES];
	size_t ndecls;
	struct granted granted[STS_FORM_MAX_RESOURCES];
	size_t ngranted;
	const char *seen_ids[STS_FORM_MAX_RESOURCES];
	size_t nseen;
	char deny_reason[128]; /* the first denial's, for the answer */
	caracal_error err;     /* of a failed audit */
};

enum step {
	STEP_NEXT,        /* go on with the next resource */
	STEP_STOP,        /* the exchange is answered */
	STEP_AUDIT_FAILED /* evidence could not be recorded: ev->err says why */
};

static void remember_denial(struct evaluation *ev, const char *why)
{
	if (ev->deny_reason[0] == '\0')
		snprintf(ev->deny_reason, sizeof ev->deny_reason, "%s", why);
}

/* A resource skipped for why: audited, remembered. */
static enum step skip(struct evaluation *ev, const char *ident, const char *why)
{
	remember_denial(ev, why);
	if (sts_audit_exchange(ev->job, "deny", why, ident, NULL, NULL, 0, &ev->err) != CARACAL_OK)
		return STEP_AUDIT_FAILED;
	return STEP_NEXT;
}

/* An engine failure (or an answer the core cannot read) stops the whole
 * exchange: 503, audited. */
static enum step policy_failed(struct evaluation *ev, const char *ident)
{
	if (sts_audit_exchange(ev->job, "deny", "policy_eval_failed", ident, NULL, NULL, 0,
	                       &ev->err) != CARACAL_OK)
		return STEP_AUDIT_FAILED;
	sts_set_error(ev->job, 503, "policy_eval_failed", "policy evaluation failed");
	return STEP_STOP;
}

/* The engine's decision on one resource: granted, or a remembered denial
 * (an approval declaration collected); audited either way. */
static enum step apply_decision(struct evaluation *ev, const char *ident,
                                const caracal_resource *res, const caracal_policy_decision *dec)
{
	json_error_t je;
	/* The reasons matter to a denial only (its status is the first). */
	json_t *reasons = dec->effect != CARACAL_EFFECT_ALLOW && dec->reasons.ptr != NULL
	                      ? json_loadb(dec->reasons.ptr, dec->reasons.len, 0, &je)
	                      : NULL;
	const char *first_reason = NULL;
	if (json_is_array(reasons) && json_array_size(reasons) > 0) {
		json_t *r0 = json_array_get(reasons, 0);
		first_reason = json_is_string(r0)
		                   ? json_string_value(r0)
		                   : json_string_value(json_object_get(r0, "reason"));
	}
	/* An obligation the core cannot read is not an obligation it may drop:
	 * an allow whose obligations do not parse, or whose max_ttl_seconds is
	 * not a positive integer, is a policy failure. */
	int64_t max_ttl = 0;
	int obligations_ok = 1;
	if (dec->effect == CARACAL_EFFECT_ALLOW && dec->obligations.ptr != NULL &&
	    dec->obligations.len > 0) {
		json_t *obl = json_loadb(dec->obligations.ptr, dec->obligations.len, 0, &je);
		json_t *mt = json_object_get(obl, "max_ttl_seconds");
		if (!json_is_object(obl))
			obligations_ok = 0;
		else if (mt != NULL && (!json_is_integer(mt) || json_integer_value(mt) <= 0))
			obligations_ok = 0;
		else if (mt != NULL)
			max_ttl = (int64_t)json_integer_value(mt);
		json_decref(obl);
	}
	if (!obligations_ok) {
		json_decref(reasons);
		log_error("sts", "request %s: unreadable policy obligations", ev->job->request_id);
		return policy_failed(ev, ident);
	}
	/* The determining policies go into the evidence as the engine gave them
	 * when that is canonical JSON already (policy_rules' is), else
	 * canonicalised; evidence the core cannot read is a policy failure. */
	char *determining = NULL;
	if (dec->determining_policies.ptr != NULL && dec->determining_policies.len > 0) {
		size_t len;
		/* One level less: the event holds them. */
		determining =
		    json_canonical_text(dec->determining_policies.ptr,
		                        dec->determining_policies.len, JSONW_MAX_DEPTH - 1, &len);
		if (determining == NULL || determining[0] != '[') {
			free(determining);
			json_decref(reasons);
			log_error("sts", "request %s: unreadable determining policies",
			          ev->job->request_id);
			return policy_failed(ev, ident);
		}
	}
	const char *decision = "allow", *status = "complete";
	if (dec->effect == CARACAL_EFFECT_ALLOW) {
		ev->granted[ev->ngranted++] =
		    (struct granted){res->identifier, res->id, res->upstream_url, max_ttl};
	} else {
		if (dec->effect == CARACAL_EFFECT_APPROVAL_REQUIRED &&
		    !ev->policy_input.challenge_resolved &&
		    sts_collect_approval(ev->job->arena, dec, &ev->decls[ev->ndecls]) == 0)
			ev->ndecls++;
		/* APPROVAL_REQUIRED grants nothing by itself (the gate asks for the
		 * approval); a malformed approval block denies. */
		decision = "deny";
		status = dec->effect == CARACAL_EFFECT_APPROVAL_REQUIRED
		             ? "approval_required"
		             : (first_reason != NULL ? first_reason : "denied");
		remember_denial(ev, status);
	}
	/* Kept, not emitted: written before the exchange's next event (so an
	 * allow that mints is written on the committer with the mint). */
	const jsonw_member version = JSONW_MSTR("policy_version_id", dec->policy_version_id);
	int rc = sts_audit_exchange_later(ev->job, decision, status, ident, determining, &version,
	                                  1, &ev->err);
	free(determining);
	json_decref(reasons); /* after the audit: status may point into it */
	return rc == CARACAL_OK ? STEP_NEXT : STEP_AUDIT_FAILED;
}

/* §2.4 step 9 a–h for one named resource. */
static enum step evaluate_resource(struct evaluation *ev, const char *ident)
{
	struct token_job *job = ev->job;
	const sts_form *f = &job->form;
	const role_deps *deps = ev->deps;
	caracal_error err = {0};
	caracal_resource res = {.size = sizeof res};
	int rc = sts_config_resource(&job->config, ev->zone, ident, &res, &err);
	if (rc == CARACAL_E_NOTFOUND) {
		if (sts_audit_exchange(job, "deny", "resource_not_found", ident, NULL, NULL, 0,
		                       &ev->err) != CARACAL_OK)
			return STEP_AUDIT_FAILED;
		return STEP_NEXT;
	}
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: storage: %s", job->request_id, err.message);
		sts_set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return STEP_STOP;
	}
	/* §2.4 step 9f, after the lookup: a stored resource that is the control
	 * audience (named by id, say) is still a control key's alone — the whole
	 * exchange is refused. */
	if (res.identifier != NULL &&
	    strcmp(res.identifier, deps->settings->control_audience) == 0) {
		if (sts_audit_exchange(job, "deny", "control_resource_requires_control_key", ident,
		                       NULL, NULL, 0, &ev->err) != CARACAL_OK)
			return STEP_AUDIT_FAILED;
		sts_set_error(job, 403, "access_denied",
		              "the control audience requires a control key");
		return STEP_STOP;
	}
	/* The same resource named by id and by identifier is one resource:
	 * evaluated, rate-counted and listed once. */
	for (size_t g = 0; g < ev->nseen; g++)
		if (strcmp(ev->seen_ids[g], res.id) == 0)
			return STEP_NEXT;
	ev->seen_ids[ev->nseen++] = res.id;

	/* Mintable scopes: the declared ones, plus agent:lifecycle for a
	 * resource with an upstream (§1.8). */
	for (size_t s = 0; s < ev->nscopes; s++)
		if (!in_list(ev->scopes[s], &res.scopes) &&
		    !(strcmp(ev->scopes[s], "agent:lifecycle") == 0 && res.upstream_url != NULL &&
		      res.upstream_url[0] != '\0'))
			return skip(ev, ident, "scope_mismatch");

	/* A gateway mandate reaches only the resources it was minted for (its
	 * target): the reference leaves this to a policy rule
	 * (mandate_target_mismatch); here it is a hard rule, whatever the policy
	 * says. */
	if (ev->gw && !sts_claim_lists(ev->subject_claims, "target", res.identifier))
		return skip(ev, ident, "mandate_target_mismatch");
	/* §2.4 step 9c: a delegation reaches only its own resource. */
	if (ev->deleg->has_edge &&
	    !sts_delegation_allows_resource(ev->deleg, res.id, res.identifier))
		return skip(ev, ident, "resource_outside_delegation");
	/* §2.4 step 9d: the operation floor of an enforced resource. */
	if (ev->gw && res.operation_enforcement != NULL &&
	    strcmp(res.operation_enforcement, "enforced") == 0 &&
	    !operation_permitted(&res, f->request_method, f->request_path, ev->token_scope)) {
		const jsonw_member op[] = {JSONW_MSTR("method", f->request_method),
		                           JSONW_MSTR("path", f->request_path)};
		if (sts_audit_exchange(job, "deny", "operation_not_permitted", ident, NULL, op, 2,
		                       &ev->err) != CARACAL_OK)
			return STEP_AUDIT_FAILED;
		sts_set_error(job, 403, "operation_not_permitted",
		              "the operation is not declared for this resource or not in scope");
		return STEP_STOP;
	}

	/* §2.12: fixed 60 s window per (zone, resource, application). */
	if (ev->count_rate) {
		char key[512];
		snprintf(key, sizeof key, "mint:%s:%s:%s", ev->zone, res.id, ev->app->id);
		const int64_t window = 60 * 1000000LL;
		if (rate_lease_hit(deps->gen->number, deps->storage, deps->storage_tctx, key,
		                   ev->now_us - ev->now_us % window, window,
		                   (uint64_t)deps->settings->mint_rate_limit_per_min,
		                   &err) != CARACAL_OK)
			return skip(ev, ident, "rate_limited");
	}

	sts_policy_input pin = ev->policy_input;
	pin.resource = &res;
	rc = sts_config_grant_scopes(&job->config, ev->zone, ev->app->id, res.id, &pin.grant_scopes,
	                             &pin.grant_scope_count, &err);
	if (rc != CARACAL_OK) {
		sts_set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return STEP_STOP;
	}
	/* About 1 KB, plus the subject's claims: on the stack unless larger. */
	char buf[4096];
	jsonw w;
	jsonw_init_in(&w, buf, sizeof buf);
	sts_policy_input_write(&pin, &w);
	size_t input_len = 0;
	const char *input_text = jsonw_text(&w, &input_len);
	if (input_text == NULL) {
		jsonw_discard(&w);
		sts_set_error(job, 500, "internal_error", "cannot build the policy input");
		return STEP_STOP;
	}
	caracal_policy_decision dec = {.size = sizeof dec};
	rc = deps->policy->evaluate(deps->policy_tctx, ev->zone, input_text, input_len, job->arena,
	                            &dec, &err);
	jsonw_discard(&w);
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: policy: %s", job->request_id, err.message);
		return policy_failed(ev, ident);
	}
	return apply_decision(ev, ident, &res, &dec);
}

static void exchange_run(deferred_work *dw, worker_ctx *wc)
{
	struct token_job *job = (struct token_job *)dw;
	const sts_form *f = &job->form;
	caracal_arena *arena = job->arena;
	caracal_error err = {0};
	role_deps deps;

	if (role_deps_get(wc, ROLE_NEEDS_STORAGE | ROLE_NEEDS_SIGNER | ROLE_NEEDS_POLICY, &deps,
	                  &err) != CARACAL_OK) {
		log_error("sts", "request %s: %s", job->request_id, err.message);
		sts_set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return;
	}
	const settings *st = deps.settings;
	client_auth_init((int)st->secret_verify_concurrency);
	int64_t now_us = clock_now_us();
	/* A job run again (after an approval wait) reads afresh. */
	sts_config_view_close(&job->config);
	sts_config_view_open(&job->config, deps.storage, deps.storage_tctx, deps.gen->number,
	                     arena);

	/* §2.5: client authentication. application_id and zone_id are trimmed. */
	const char *app_id = sts_trim(arena, f->application_id);
	const char *zone = sts_trim(arena, f->zone_id);
	if (app_id == NULL || zone == NULL) {
		sts_set_error(job, 503, "sts_unavailable", "out of memory");
		return;
	}
	/* §2.5: a control key may leave zone_id out of a pure control request;
	 * the zone is then its own. */
	if (zone[0] == '\0' && app_id[0] != '\0' &&
	    sts_pure_control_request(job, st->control_audience))
		if (sts_control_key_zone(&deps, app_id, arena, &zone) != CARACAL_OK) {
			sts_set_error(job, 503, "sts_unavailable",
			              "the token service is unavailable");
			return;
		}
	caracal_application app = {.size = sizeof app};
	int rc = CARACAL_E_NOTFOUND;
	if (app_id[0] != '\0' && zone[0] != '\0')
		rc = sts_config_application(&job->config, zone, app_id, &app, &err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		/* A storage fault is not a failed login: never counted, never 401. */
		log_error("sts", "request %s: storage: %s", job->request_id, err.message);
		sts_set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return;
	}
	int app_live = rc == CARACAL_OK && app.archived_at_us == 0 &&
	               (app.expires_at_us == 0 || app.expires_at_us > now_us);
	int has_subject = f->subject_token != NULL && f->subject_token[0] != '\0';
	const int gw = job->gateway;
	if (gw) {
		/* §2.5: the gateway vouches for the caller; no secret, no limiter,
		 * but a subject token (its mandate) is required. */
		if (sts_gateway_authenticate(job, &deps, zone, now_us) != 0)
			return;
		if (job->form_failed) {
			const sts_form_error *fe = &job->form_error;
			sts_set_error(job, fe->status, fe->error, fe->description);
			return;
		}
		if (!app_live || !has_subject) {
			sts_set_error(job, 401, "access_denied", "invalid client credentials");
			return;
		}
	} else if (sts_client_authenticate(job, &deps, zone, app_id, &app, app_live,
	                                   rc == CARACAL_E_NOTFOUND, now_us) != 0) {
		return;
	}
	job->zone = zone;

	/* §2.11: an id_token is exchanged for a user session, nothing else. */
	if (!gw && has_subject && strcmp(f->subject_token_type, STS_TOKEN_TYPE_ID) == 0) {
		sts_federation_exchange(job, &deps, &app, now_us);
		return;
	}
	/* §2.6: a subject token must be one of ours, for this zone, of the
	 * expected use, bound to a live authority record of this client. */
	struct presented tok = {.subject_id = app.id, .subject_kind = "application"};
	jwt subject = {0};
	if (has_subject && read_subject_token(job, &deps, zone, &app, now_us, &subject, &tok) != 0)
		return; /* answered; subject freed */
	const char *subject_id = tok.subject_id, *subject_kind = tok.subject_kind;
	const char *token_sid = tok.sid, *subject_claims_json = tok.claims_json;
	const char *token_use = tok.use, *token_scope = tok.scope, *token_root_sid = tok.root_sid;
	const char *token_agent_session = tok.agent_session, *token_edge = tok.edge;

	/* §2.4 step 5: the governed session of a subject token is the token's;
	 * a request naming another is refused, never silently overridden. */
	const char *session_id = sts_present(f->session_id) ? f->session_id : token_sid;
	const char *agent_session = f->agent_session_id;
	const char *edge_id = f->delegation_edge_id;
	if (sts_present(token_agent_session)) {
		if (sts_present(agent_session) && strcmp(agent_session, token_agent_session) != 0) {
			jwt_free(&subject);
			sts_set_error(job, 403, "access_denied", "Session mismatch");
			return;
		}
		agent_session = token_agent_session;
	}
	if (sts_present(token_edge)) {
		if (sts_present(edge_id) && strcmp(edge_id, token_edge) != 0) {
			jwt_free(&subject);
			sts_set_error(job, 403, "access_denied", "delegation edge mismatch");
			return;
		}
		edge_id = token_edge;
	}

	if (f->resource_count == 0) {
		jwt_free(&subject);
		sts_set_error(job, 400, "invalid_token", "at least one resource is required");
		return;
	}

	const char *scopes[MAX_SCOPES];
	int overflow;
	/* A gateway re-exchange that names no scope asks for (and mints) the
	 * presented mandate's: evaluated as requested, so a policy sees what the
	 * resource mandate will carry. */
	const char *scope_text = gw && !sts_present(f->scope) ? token_scope : f->scope;
	size_t nscopes = sts_split_scopes(arena, scope_text, scopes, MAX_SCOPES, &overflow);
	if (overflow != 0) {
		jwt_free(&subject);
		if (overflow < 0)
			sts_set_error(job, 503, "sts_unavailable", "out of memory");
		else
			sts_set_error(job, 400, "invalid_token", "too many scopes");
		return;
	}

	/* §2.7: the sessions and delegation named, re-read and re-checked. */
	sts_delegation deleg = {0};
	if (sts_present(session_id) || sts_present(agent_session) || sts_present(edge_id)) {
		const sts_delegation_input din = {
		    .zone_id = zone,
		    .application_id = app.id,
		    .session_id = session_id,
		    .agent_session_id = agent_session,
		    .delegation_edge_id = edge_id,
		    .has_subject_token = has_subject,
		    .subject_token_use = token_use,
		    .scopes = scopes,
		    .scope_count = nscopes,
		    .requested_ttl_s = f->has_ttl ? f->ttl_seconds : 0,
		    .now_us = now_us,
		};
		sts_delegation_error derr = {0};
		if (sts_delegation_validate(deps.storage, deps.storage_tctx, &din, arena, &deleg,
		                            &derr) != 0) {
			if (derr.cause.message[0] != '\0')
				log_error("sts", "request %s: delegation: %s", job->request_id,
				          derr.cause.message);
			jwt_free(&subject);
			sts_set_error(job, derr.status, derr.error, derr.description);
			return;
		}
	}
	/* §2.3 / §2.4 step 9f: the control audience is reached only by a
	 * control key, never through a policy. */
	if (sts_control_names_audience(f->resources, f->resource_count, st->control_audience)) {
		sts_control_exchange(job, &deps, &app, scopes, nscopes,
		                     !has_subject && !sts_present(session_id) &&
		                         !sts_present(agent_session) && !sts_present(edge_id),
		                     now_us);
		goto out;
	}

	/* §2.4 step 14: the mandate this exchange mints. */
	const char *use = gw ? "resource" : deleg.has_edge ? "gateway" : "session";

	/* §2.9: the binding of this exchange, computed only when an approval is
	 * in play (it reads the zone's active policy version: not a cost every
	 * mint should pay). */
	char binding[65] = "";
	approval_binding_input bi = {
	    .resources = f->resources,
	    .resource_count = f->resource_count,
	    .scopes = scopes,
	    .scope_count = nscopes,
	    .principal = subject_id,
	    .authority_record = sts_present(session_id) ? session_id : "",
	    .session = deleg.has_session ? deleg.target.id : "",
	    .delegation = deleg.has_edge ? deleg.edge.id : "",
	    .application = app.id,
	    .policy_version = "",
	};
	const char *approval_id =
	    f->approval_id != NULL && f->approval_id[0] != '\0' ? f->approval_id : NULL;
	int challenge_resolved = 0;
	caracal_authority_record reissue = {.size = sizeof reissue}; /* id set: re-issue */
	if (approval_id != NULL) {
		if (sts_exchange_binding(job, &deps, arena, &bi, binding) != 0) {
			jwt_free(&subject);
			return;
		}
		caracal_approval held = {.size = sizeof held};
		rc = deps.storage->approval_get(deps.storage_tctx, zone, approval_id, arena, &held,
		                                &err);
		if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
			jwt_free(&subject);
			sts_set_error(job, 503, "sts_unavailable",
			              "the token service is unavailable");
			return;
		}
		/* One answer for every mismatch: the id alone reveals nothing. */
		if (rc == CARACAL_E_NOTFOUND || held.principal_id == NULL ||
		    strcmp(held.principal_id, subject_id) != 0 || held.session_id == NULL ||
		    strcmp(held.session_id, bi.authority_record) != 0 || held.binding_hex == NULL ||
		    strcmp(held.binding_hex, binding) != 0) {
			jwt_free(&subject);
			caracal_error ae = {0};
			const jsonw_member challenge = JSONW_MSTR("challenge_id", approval_id);
			if (sts_audit_exchange(job, "deny", "approval_invalid", NULL, NULL,
			                       &challenge, 1, &ae) != CARACAL_OK) {
				sts_audit_lost(job, &ae);
				return;
			}
			sts_set_error(job, 401, "access_denied",
			              "approval not found or bindings do not match");
			return;
		}
		const char *state = approval_state(&held, now_us);
		if (strcmp(state, "approved") == 0) {
			challenge_resolved = 1;
		} else if (strcmp(state, "consumed") == 0 &&
		           sts_reissuable(&deps, &held, now_us, arena, &reissue) == 0) {
			/* §2.9: within 120 s of its consumption the same exchange gets
			 * another bearer for the record the approval created. */
			challenge_resolved = 1;
		} else {
			jwt_free(&subject);
			if (strcmp(state, "pending") == 0) {
				sts_interaction_required(job, approval_id, "pending", held.tier,
				                         binding, held.expires_at_us);
			} else if (strcmp(state, "consumed") == 0) {
				sts_set_error(job, 409, "approval_consumed",
				              "approval already consumed");
			} else if (strcmp(state, "rejected") == 0) {
				sts_set_error(job, 403, "access_denied", "approval rejected");
			} else {
				sts_set_error(job, 401, "access_denied", "approval expired");
			}
			return;
		}
	}
	/* §2.4 step 9: every named resource, in order. */
	struct evaluation ev = {
	    .job = job,
	    .deps = &deps,
	    .zone = zone,
	    .app = &app,
	    .scopes = scopes,
	    .nscopes = nscopes,
	    .gw = gw,
	    .subject_claims = subject.claims,
	    .token_scope = token_scope,
	    .deleg = &deleg,
	    .now_us = now_us,
	    .policy_input =
	        {
	            .zone_id = zone,
	            .app = &app,
	            .subject_kind = subject_kind,
	            .subject_id = subject_id,
	            .requested_scopes = scopes,
	            .requested_scope_count = nscopes,
	            .requested_ttl_s = f->has_ttl ? f->ttl_seconds : 0,
	            .trace_id = job->request_id,
	            .now_s = now_us / 1000000,
	            .subject_claims_json = subject_claims_json,
	            .subject_claims_len =
	                subject_claims_json != NULL ? strlen(subject_claims_json) : 0,
	            .session_id = sts_present(session_id) ? session_id : NULL,
	            .use = use,
	            .method = gw ? f->request_method : NULL,
	            .path = gw ? f->request_path : NULL,
	            .agent_session = deleg.has_session ? &deleg.target : NULL,
	            .edge = deleg.has_edge ? &deleg.edge : NULL,
	            .edge_path = deleg.path,
	            .edge_path_len = deleg.path_len,
	            .graph_epoch = deleg.graph_epoch,
	        },
	};
	int evaluations = 0;
evaluate:
	evaluations++;
	/* Counted once per exchange: not again when an approved hold makes the
	 * resources be evaluated a second time. */
	ev.count_rate = evaluations == 1;
	ev.policy_input.challenge_resolved = challenge_resolved;
	ev.ndecls = ev.ngranted = ev.nseen = 0;
	ev.deny_reason[0] = '\0';
	for (size_t r = 0; r < f->resource_count; r++) {
		enum step next = evaluate_resource(&ev, f->resources[r]);
		if (next == STEP_STOP)
			goto out;
		if (next == STEP_AUDIT_FAILED) {
			err = ev.err;
			goto audit_failed;
		}
	}
	struct granted *granted = ev.granted;
	const size_t ngranted = ev.ngranted;
	const char *deny_reason = ev.deny_reason;

	/* §2.9 gate: an approval is required and was not presented. An approved
	 * hold for exactly this exchange resolves it without its id (and is
	 * consumed by it): the resources are evaluated again, resolved. */
	if (ev.ndecls > 0) {
		char approved[37];
		const char *anchor = NULL;
		sts_hold_anchor(subject_kind, subject_id, &deleg, &anchor);
		if ((binding[0] != '\0' ||
		     sts_exchange_binding(job, &deps, arena, &bi, binding) == 0) &&
		    sts_approval_gate(job, &deps, &bi, binding, anchor, ev.decls, ev.ndecls, now_us,
		                      approved) == 1 &&
		    evaluations == 1) {
			approval_id = arena_strndup(arena, approved, strlen(approved));
			if (approval_id == NULL) {
				sts_set_error(job, 503, "sts_unavailable", "out of memory");
				goto out;
			}
			challenge_resolved = 1;
			goto evaluate;
		}
		if (job->dw.body == NULL)
			sts_set_error(job, 500, "internal_error",
			              "approval hold could not be created");
		goto out;
	}

	if (ngranted == 0) {
		size_t requested_len = 0;
		const char *requested =
		    sts_str_array_text(arena, f->resources, f->resource_count, &requested_len);
		const jsonw_member req = JSONW_MRAW("requested", requested, requested_len);
		if (requested == NULL) {
			caracal_error_set(&err, CARACAL_E_NOMEM, "cannot build audit event");
			goto audit_failed;
		}
		if (sts_audit_exchange(job, "deny", "exchange_denied", NULL, NULL, &req, 1, &err) !=
		    CARACAL_OK)
			goto audit_failed;
		char desc[192];
		if (deny_reason[0] != '\0')
			snprintf(desc, sizeof desc, "policy denied (%s)", deny_reason);
		else
			snprintf(desc, sizeof desc, "policy denied");
		sts_set_error(job, 403, "access_denied", desc);
		goto out;
	}

	/* §2.4 step 12: a subject token is only ever exchanged through the
	 * gateway (even when a permissive policy allowed it). */
	if (has_subject && !gw) {
		sts_set_error(job, 403, "access_denied", "resource exchanges must use the Gateway");
		goto out;
	}

	/* §2.13: TTL errors surface only now, after policy and audit; a
	 * delegation and the policy's obligations only ever shorten it. */
	int64_t ttl;
	if (sts_requested_ttl(job, has_subject ? TTL_CAP_SUBJECT_S : TTL_CAP_NO_SUBJECT_S, &ttl) !=
	    0)
		goto out;
	if (deleg.has_edge && sts_delegation_narrow_ttl(&deleg, now_us, &ttl) != 0) {
		sts_set_error(job, 403, "access_denied", "delegation expired");
		goto out;
	}
	for (size_t g = 0; g < ngranted; g++)
		if (granted[g].max_ttl_s > 0 && granted[g].max_ttl_s < ttl)
			ttl = granted[g].max_ttl_s;

	const char *target[STS_FORM_MAX_RESOURCES];
	for (size_t g = 0; g < ngranted; g++)
		target[g] = granted[g].identifier;
	/* root_sid: a session mandate roots its own lineage; anything minted
	 * from a presented mandate keeps that mandate's root. */
	const char *root_sid = strcmp(use, "session") == 0   ? NULL
	                       : sts_present(token_root_sid) ? token_root_sid
	                                                     : token_sid;
	const struct issuance is = {
	    .zone = zone,
	    .app_id = app.id,
	    .subject = subject_id,
	    .sub_type = subject_kind,
	    .use = use,
	    .scope = scope_text,
	    .target = target,
	    .target_count = ngranted,
	    .ttl_s = ttl,
	    .now_us = now_us,
	    .approval_id = challenge_resolved && reissue.id == NULL ? approval_id : NULL,
	    .record_claims_json = "{}",
	    .reissue = reissue.id != NULL ? &reissue : NULL,
	    .reissued_approval_id = reissue.id != NULL ? approval_id : NULL,
	    .root_sid = root_sid,
	    .parent_id = gw ? token_sid : NULL,
	    .agent_session_id = deleg.has_session ? deleg.target.id : NULL,
	    .delegation = deleg.has_edge ? &deleg : NULL,
	    .upstreams = gw ? granted : NULL,
	    .upstream_count = gw ? ngranted : 0,
	    .audit_extra = {JSONW_MSTR("agent_session_id", deleg.target.id),
	                    JSONW_MSTR("delegation_edge_id", deleg.edge.id),
	                    JSONW_MINT("delegation_hop_count", (int64_t)deleg.path_len)},
	    .audit_extra_count = deleg.has_edge ? 3 : 0,
	};
	sts_issue(job, &deps, &is);
	goto out;

audit_failed:
	sts_audit_lost(job, &err); /* evidence that cannot be recorded: no token (§2.4) */
out:
	jwt_free(&subject);
}

/* Every failure of an authenticated exchange is evidence too: a storage,
 * key or engine fault that answered 5xx without a denial event gets one
 * (its evaluation_status the error code). Unauthenticated requests write
 * nothing into a zone's chain; a failed audit is not retried into itself. */
void sts_exchange_settled(struct token_job *job)
{
	caracal_error err = {0};
	/* Decisions still kept: written now, or the answer becomes the 500 of
	 * evidence that cannot be recorded (as when they were written at once).
	 * A mint never gets here with any: its writes flushed them. */
	if (sts_audit_flush_later(job, &err) != CARACAL_OK) {
		sts_audit_lost(job, &err);
		return;
	}
	if (job->dw.status < 500 || job->zone == NULL || job->denial_audited || job->audit_lost ||
	    job->error_code == NULL)
		return;
	err = (caracal_error){0};
	if (sts_audit_exchange(job, "deny", job->error_code, NULL, NULL, NULL, 0, &err) !=
	    CARACAL_OK)
		log_error("sts", "request %s: the failure could not be audited: %s",
		          job->request_id, err.message);
}

static void token_run(deferred_work *dw, worker_ctx *wc)
{
	exchange_run(dw, wc);
	if (!dw->parked) /* else the mint batch settles it */
		sts_exchange_settled((struct token_job *)dw);
}

/* ---- the route (loop thread) --------------------------------------------- */

static void respond_now(request_ctx *rc, const char *request_id, int status, const char *error,
                        const char *description)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "error", error, "error_description",
	                         description, "requestId", request_id);
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	http_header h = {"X-Request-Id", 12, request_id, strlen(request_id)};
	if (text == NULL) {
		server_respond_ex(rc, 500, "application/json", &h, 1, "{}", 2);
		return;
	}
	server_respond_ex(rc, status, "application/json", &h, 1, text, strlen(text));
	free(text);
}

/* Media type check: application/x-www-form-urlencoded, parameters allowed. */
static int is_form(const http_request *req)
{
	size_t count = 0;
	const http_header *h = http_request_header(req, "Content-Type", &count);
	if (h == NULL || count != 1) /* two media types: neither is trusted */
		return 0;
	static const char want[] = "application/x-www-form-urlencoded";
	size_t n = sizeof want - 1;
	if (h->value_len < n || strncasecmp(h->value, want, n) != 0)
		return 0;
	size_t i = n;
	while (i < h->value_len && (h->value[i] == ' ' || h->value[i] == '\t'))
		i++;
	return i == h->value_len || h->value[i] == ';';
}

/* One header's value copied into the arena (NULL when absent; a repeated
 * header is ambiguous and reads as empty, which fails verification). */
static const char *header_copy(const http_request *req, const char *name, caracal_arena *arena,
                               int *present, int *oom)
{
	size_t count = 0;
	const http_header *h = http_request_header(req, name, &count);
	if (h == NULL)
		return NULL;
	*present = 1;
	const char *v =
	    arena_strndup(arena, count == 1 ? h->value : "", count == 1 ? h->value_len : 0);
	if (v == NULL)
		*oom = 1;
	return v;
}

static int capture_gateway(const http_request *req, struct token_job *job)
{
	struct gateway_material *g = &job->gw;
	int present = 0, oom = 0;
	g->timestamp = header_copy(req, "X-Caracal-Gateway-Timestamp", job->arena, &present, &oom);
	g->nonce = header_copy(req, "X-Caracal-Gateway-Request", job->arena, &present, &oom);
	g->signature = header_copy(req, "X-Caracal-Gateway-Signature", job->arena, &present, &oom);
	job->gateway = present;
	if (!present)
		return oom ? -1 : 0;
	int ignored = 0;
	g->request_id = header_copy(req, "X-Request-Id", job->arena, &ignored, &oom);
	g->method = arena_strndup(job->arena, req->method, strlen(req->method));
	g->path = arena_strndup(job->arena, req->path, strlen(req->path));
	unsigned char *body = arena_alloc(job->arena, req->body_len + 1);
	if (body != NULL && req->body_len > 0)
		memcpy(body, req->body, req->body_len);
	g->body = body;
	g->body_len = req->body_len;
	return oom || g->method == NULL || g->path == NULL || body == NULL ? -1 : 0;
}

static void route_token(request_ctx *rc)
{
	http_request *req = rc->req;
	char request_id[REQUEST_ID_MAX + 1];
	pick_request_id(req, request_id);
	if (req->query[0] != '\0') {
		respond_now(rc, request_id, 400, "invalid_token",
		            "query parameters are not allowed");
		return;
	}
	if (!is_form(req)) {
		respond_now(rc, request_id, 415, "invalid_token",
		            "Content-Type must be application/x-www-form-urlencoded");
		return;
	}
	struct token_job *job = calloc(1, sizeof *job);
	caracal_arena *arena = arena_new();
	if (job == NULL || arena == NULL) {
		free(job);
		arena_free(arena);
		respond_now(rc, request_id, 503, "sts_unavailable", "out of memory");
		return;
	}
	job->arena = arena;
	memcpy(job->request_id, request_id, sizeof request_id);
	sts_form_error fe = {0};
	int pr = sts_form_parse((const char *)req->body, req->body_len, arena, &job->form, &fe);
	/* §2.10: any of the gateway headers makes this a gateway-authenticated
	 * exchange (checked on the worker, where the key is), never a plain
	 * client exchange. */
	int captured = pr != -2 ? capture_gateway(req, job) : -1;
	if (pr == -1 && fe.after_gateway_rule && captured == 0 && job->gateway) {
		/* §2.1: rules 9 to 11 come after the gateway's signature (rule 8):
		 * answered on the worker once it is checked. */
		job->form_failed = 1;
		job->form_error = fe;
	} else if (pr != 0 || captured != 0) {
		if (pr == -1)
			respond_now(rc, request_id, fe.status, fe.error, fe.description);
		else
			respond_now(rc, request_id, 503, "sts_unavailable", "out of memory");
		arena_free(arena);
		free(job);
		return;
	}
	job->dw.run = token_run;
	job->dw.free_fn = token_job_free;
	/* The response echoes the request id; the value lives in the job. */
	job->dw.headers[0] =
	    (http_header){"X-Request-Id", 12, job->request_id, strlen(job->request_id)};
	job->dw.header_count = 1;
	server_defer(rc, &job->dw);
}

void sts_routes_register(void)
{
	server_route(ROLE_STS, "POST", "/oauth/2/token", route_token);
	sts_jwks_route_register();
	approvals_routes_register();
}
