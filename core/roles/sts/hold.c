/* hold.c — approval holds in the exchange (§2.9). */
#include "roles/sts/exchange.h"

#include "roles/sts/client_auth.h"
#include "roles/sts/control_key.h"
#include "roles/sts/federation.h"
#include "roles/sts/gateway_auth.h"
#include "roles/sts/jwt.h"
#include "roles/sts/mandate.h"
#include "roles/sts/mint_persist.h"
#include "roles/sts/sts.h"

#include "util/clock.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/uuid.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Privacy modes of a hold's approver, weakest first (§2.9: the strongest
 * declared one wins). */
enum { PRIVACY_IDENTIFIED, PRIVACY_PSEUDONYMOUS, PRIVACY_ANONYMOUS };

struct hold_match {
	const char *principal, *session, *binding;
	char id[37];
	char tier[128];
	int64_t expires_us;
	int found;
};

#define REISSUE_WINDOW_US (120LL * 1000000)

static int sts_privacy_of(const char *p)
{
	if (p == NULL || strcmp(p, "identified") == 0)
		return PRIVACY_IDENTIFIED;
	if (strcmp(p, "pseudonymous") == 0)
		return PRIVACY_PSEUDONYMOUS;
	/* anonymous, "redacted", and anything unknown: a mode the core cannot
	 * read is given the strongest protection, never the weakest. */
	return PRIVACY_ANONYMOUS;
}

static const char *sts_privacy_name(int p)
{
	return p == PRIVACY_ANONYMOUS      ? "anonymous"
	       : p == PRIVACY_PSEUDONYMOUS ? "pseudonymous"
	                                   : "identified";
}

/* The approval block of an APPROVAL_REQUIRED decision; -1 when it is absent
 * or malformed (then nothing can be asked for, and the resource is denied). */
int sts_collect_approval(caracal_arena *arena, const caracal_policy_decision *dec,
                         struct approval_decl *out)
{
	const char **tier = &out->tier, **approver = &out->approver;
	int64_t *ttl_s = &out->ttl_s;
	json_error_t je;
	json_t *obl = dec->obligations.ptr != NULL && dec->obligations.len > 0
	                  ? json_loadb(dec->obligations.ptr, dec->obligations.len, 0, &je)
	                  : NULL;
	json_t *ap = json_object_get(obl, "approval");
	const char *t = json_string_value(json_object_get(ap, "tier"));
	const char *a = json_string_value(json_object_get(ap, "approver"));
	json_t *ttl = json_object_get(ap, "ttl_seconds");
	int rc = -1;
	if (t != NULL && t[0] != '\0' && (ttl == NULL || json_is_integer(ttl))) {
		*tier = arena_strndup(arena, t, strlen(t));
		/* Missing or unknown approver classes mean the operator. */
		const char *cls = a != NULL && (strcmp(a, "subject") == 0 || strcmp(a, "any") == 0)
		                      ? a
		                      : "operator";
		*approver = arena_strndup(arena, cls, strlen(cls));
		*ttl_s = ttl != NULL ? (int64_t)json_integer_value(ttl) : 0;
		out->privacy = sts_privacy_of(json_string_value(json_object_get(ap, "privacy")));
		rc = *tier != NULL && *approver != NULL ? 0 : -1;
	}
	json_decref(obl);
	return rc;
}

/* 401 interaction_required with the hold, as the reference answers it. */
void sts_interaction_required(struct token_job *job, const char *id, const char *state,
                              const char *tier, const char *binding, int64_t expires_us)
{
	char expires[40];
	time_t secs = (time_t)(expires_us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
	sts_set_json(job, 401,
	             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "error",
	                       "interaction_required", "error_description",
	                       "Human approval required for this request", "approval_id", id,
	                       "approval_type", "human_approval", "state", state, "tier", tier,
	                       "binding", binding, "approval_expires_at", expires));
	job->dw.headers[job->dw.header_count++] =
	    (http_header){"WWW-Authenticate", 16, "Bearer error=\"interaction_required\"", 35};
}

static int match_hold(void *ud, const void *record)
{
	struct hold_match *m = ud;
	const caracal_approval *a = record;
	if (a->principal_id != NULL && strcmp(a->principal_id, m->principal) == 0 &&
	    a->session_id != NULL && strcmp(a->session_id, m->session) == 0 &&
	    a->binding_hex != NULL && strcmp(a->binding_hex, m->binding) == 0 && a->id != NULL &&
	    strlen(a->id) < sizeof m->id) {
		snprintf(m->id, sizeof m->id, "%s", a->id);
		snprintf(m->tier, sizeof m->tier, "%s", a->tier != NULL ? a->tier : "");
		m->expires_us = a->expires_at_us;
		m->found = 1;
		return CARACAL_E_CONFLICT; /* stop */
	}
	return CARACAL_OK;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The gate: merge the declarations, find the live hold for this binding or
 * create one, and answer 401 interaction_required. */
/* The hold for this exchange (§2.9): 1 when an approved one exists (its
 * id in approved: the caller consumes it), else 0 with the answer set (401
 * interaction_required, 403 rejected or class conflict, 500). */
int sts_approval_gate(struct token_job *job, const role_deps *deps,
                      const approval_binding_input *bi, const char *binding,
                      const char *subject_anchor, struct approval_decl *decls, size_t n,
                      int64_t now_us, char approved[37])
{
	const char *zone = job->zone;
	const char *cls = NULL;
	int64_t ttl = 0;
	int privacy = PRIVACY_IDENTIFIED;
	const char *tiers[STS_FORM_MAX_RESOURCES];
	for (size_t i = 0; i < n; i++) {
		const char *a = decls[i].approver;
		if (cls == NULL || strcmp(cls, "any") == 0)
			cls = a;
		else if (strcmp(a, "any") != 0 && strcmp(a, cls) != 0) {
			sts_set_error(job, 403, "access_denied",
			              "approval requires separate operator and subject decisions");
			return 0;
		}
		if (decls[i].ttl_s > 0 && (ttl == 0 || decls[i].ttl_s < ttl))
			ttl = decls[i].ttl_s;
		if (decls[i].privacy > privacy)
			privacy = decls[i].privacy;
		tiers[i] = decls[i].tier;
	}
	ttl = approval_ttl_s(cls, ttl);
	qsort(tiers, n, sizeof tiers[0], cmp_cstr);
	char label[256] = "";
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(tiers[i], tiers[i - 1]) == 0)
			continue;
		if (label[0] != '\0')
			strncat(label, ",", sizeof label - strlen(label) - 1);
		strncat(label, tiers[i], sizeof label - strlen(label) - 1);
	}

	caracal_error err = {0};
	int rc;
	if (deps->storage->approval_get_or_create == NULL) {
		/* ABI 1.0 storage: find a pending hold, else create one below. */
		struct hold_match m = {.principal = bi->principal,
		                       .session = bi->authority_record,
		                       .binding = binding};
		rc = deps->storage->approval_list_pending(deps->storage_tctx, zone, now_us,
		                                          match_hold, &m, &err);
		if (rc != CARACAL_OK && rc != CARACAL_E_CONFLICT) {
			sts_set_error(job, 500, "internal_error",
			              "approval hold could not be created");
			return 0;
		}
		if (m.found) {
			sts_interaction_required(job, m.id, "pending", m.tier, binding,
			                         m.expires_us);
			return 0;
		}
	}
	char id[37];
	json_t *meta = json_pack("{s:o, s:o, s:s}", "requested_scopes",
	                         sts_array_of(bi->scopes, bi->scope_count), "resources",
	                         sts_array_of(bi->resources, bi->resource_count),
	                         "policy_set_version_id", bi->policy_version);
	char *meta_text = meta != NULL ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	if (meta_text == NULL || approval_new_id(id) != 0) {
		free(meta_text);
		sts_set_error(job, 500, "internal_error", "approval hold could not be created");
		return 0;
	}
	caracal_approval hold = {
	    .size = sizeof hold,
	    .id = id,
	    .zone_id = zone,
	    .session_id = bi->authority_record,
	    .principal_id = bi->principal,
	    .application_id = bi->application,
	    .tier = label,
	    .approver_class = cls,
	    .privacy_mode = sts_privacy_name(privacy),
	    .subject_anchor = subject_anchor != NULL ? subject_anchor : "",
	    .binding_hex = binding,
	    .expires_at_us = now_us + ttl * 1000000,
	    .metadata_json = {meta_text, strlen(meta_text)},
	    .created_at_us = now_us,
	};
	approval_sweep_maybe(deps, now_us);
	caracal_approval live = {.size = sizeof live};
	int created = 1;
	rc = deps->storage->approval_get_or_create != NULL
	         ? deps->storage->approval_get_or_create(deps->storage_tctx, &hold, now_us,
	                                                 job->arena, &live, &created, &err)
	         : deps->storage->approval_create(deps->storage_tctx, &hold, &err);
	free(meta_text);
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: approval hold: %s", job->request_id, err.message);
		sts_set_error(job, 500, "internal_error", "approval hold could not be created");
		return 0;
	}
	if (!created) {
		const char *state = approval_state(&live, now_us);
		if (strcmp(state, "approved") == 0) {
			snprintf(approved, 37, "%s", live.id);
			return 1;
		}
		if (strcmp(state, "rejected") == 0) {
			sts_set_error(job, 403, "access_denied", "approval rejected");
			return 0;
		}
		sts_interaction_required(job, live.id, state, live.tier, binding,
		                         live.expires_at_us);
		return 0;
	}
	json_t *fields =
	    json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:I}}", "request_id", job->request_id,
	              "decision", "pending", "evaluation_status", "step_up_issued", "metadata",
	              "challenge_id", id, "tier", label, "approver_class", cls, "binding", binding,
	              "expires_at", (json_int_t)(hold.expires_at_us / 1000000));
	caracal_error ae = {0};
	/* After the decision that asked for the approval (kept until now). */
	rc = sts_audit_flush_later(job, &ae);
	if (rc == CARACAL_OK)
		rc = role_audit(zone, "step_up_issued", fields, &ae);
	json_decref(fields);
	if (rc != CARACAL_OK) {
		sts_audit_lost(job, &ae);
		return 0;
	}
	sts_interaction_required(job, id, "pending", label, binding, hold.expires_at_us);
	return 0;
}

/* The binding of the exchange described by bi (its policy_version read from
 * storage now). 0, or -1 with the error response set. */
int sts_exchange_binding(struct token_job *job, const role_deps *deps, caracal_arena *arena,
                         approval_binding_input *bi, char binding[65])
{
	caracal_error err = {0};
	caracal_policy_version apv = {.size = sizeof apv};
	int rc = deps->storage->policy_active_get(deps->storage_tctx, job->zone, arena, &apv, &err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		sts_set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return -1;
	}
	bi->policy_version = rc == CARACAL_OK && apv.id != NULL ? apv.id : "";
	if (approval_binding_hex(bi, binding) != 0) {
		sts_set_error(job, 503, "sts_unavailable", "out of memory");
		return -1;
	}
	return 0;
}

/* §2.9: a consumed approval re-issues within 120 s of its consumption while
 * the record it created is live: 0 with that record in *rec, else -1. */
int sts_reissuable(const role_deps *deps, const caracal_approval *held, int64_t now_us,
                   caracal_arena *arena, caracal_authority_record *rec)
{
	if (held->consumed_at_us <= 0 || held->consumed_at_us + REISSUE_WINDOW_US < now_us ||
	    held->consumed_authority_record_id == NULL)
		return -1;
	caracal_error err = {0};
	caracal_authority_record r = {.size = sizeof r};
	if (deps->storage->authority_record_get(deps->storage_tctx, held->zone_id,
	                                        held->consumed_authority_record_id, arena, &r,
	                                        &err) != CARACAL_OK ||
	    r.status == NULL || strcmp(r.status, "active") != 0 || r.expires_at_us <= now_us)
		return -1;
	*rec = r;
	return 0;
}

/* §2.9: the subject a hold is anchored to — the presented token's when it
 * is user-typed, else the governed session's subject when that authority
 * record (read by the delegation check) is a user's — so that only that
 * user may decide it. NULL: none. */
void sts_hold_anchor(const char *subject_kind, const char *subject_id, const sts_delegation *deleg,
                     const char **anchor)
{
	*anchor = NULL;
	if (strcmp(subject_kind, "user") == 0)
		*anchor = subject_id;
	else if (deleg->has_session && deleg->target_subject.session_type != NULL &&
	         strcmp(deleg->target_subject.session_type, "user") == 0)
		*anchor = deleg->target_subject.subject_id;
}
