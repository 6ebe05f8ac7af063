/* classes.c — the federation and control-key exchange classes (§2.11, §2.3). */
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

/* §2.11: an id_token from one of the zone's registered issuers becomes a
 * user-typed session mandate (use=session, sub_type=user, no scope, no
 * target) over a new user authority record. No policy runs: the synthetic
 * determining policy is caracal-subject-federation. */
void sts_federation_exchange(struct token_job *job, const role_deps *deps,
                             const caracal_application *app, int64_t now_us)
{
	const sts_form *f = &job->form;
	caracal_error err = {0};
	if (f->resource_count > 0 || sts_present(f->scope) || sts_present(f->session_id) ||
	    sts_present(f->agent_session_id) || sts_present(f->delegation_edge_id) ||
	    sts_present(f->approval_id)) {
		if (sts_audit_exchange(job, "deny", "subject_federation_invalid", NULL, NULL, NULL,
		                       0, &err) != CARACAL_OK) {
			sts_audit_lost(job, &err);
			return;
		}
		sts_set_error(
		    job, 400, "invalid_token",
		    "an id_token exchange carries no resource, scope, session, delegation or "
		    "approval");
		return;
	}
	const char *issuer = NULL, *subject = NULL;
	char why[256];
	sts_federation_result fr =
	    sts_federation_verify(deps, job->zone, f->subject_token, job->arena, now_us, &issuer,
	                          &subject, why, sizeof why);
	if (fr == STS_FEDERATION_UNAVAILABLE) {
		sts_set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return;
	}
	if (fr != STS_FEDERATION_OK) {
		log_info("sts", "request %s: id_token refused: %s", job->request_id, why);
		const jsonw_member reason = JSONW_MSTR("reason", why);
		if (sts_audit_exchange(job, "deny", "subject_federation_rejected", NULL, NULL,
		                       &reason, 1, &err) != CARACAL_OK) {
			sts_audit_lost(job, &err);
			return;
		}
		char desc[300];
		snprintf(desc, sizeof desc, "invalid subject_token: %s", why);
		sts_set_error(job, 401, "invalid_token", desc);
		return;
	}
	int64_t ttl;
	if (sts_requested_ttl(job, TTL_CAP_NO_SUBJECT_S, &ttl) != 0)
		return;
	jsonw w;
	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "iss", issuer);
	jsonw_object_end(&w);
	char *record_claims = jsonw_finish(&w, NULL);
	const char *claims_copy =
	    record_claims != NULL ? arena_strndup(job->arena, record_claims, strlen(record_claims))
	                          : NULL;
	free(record_claims);
	if (claims_copy == NULL) {
		sts_set_error(job, 500, "internal_error", "token issuance failed");
		return;
	}
	const struct issuance is = {
	    .zone = job->zone,
	    .app_id = app->id,
	    .subject = subject,
	    .sub_type = "user",
	    .use = "session",
	    .ttl_s = ttl,
	    .now_us = now_us,
	    .record_claims_json = claims_copy,
	    .determining = "[{\"policy\":\"caracal-subject-federation\"}]",
	    .audit_extra = {JSONW_MSTR("subject_kind", "user"),
	                    JSONW_MSTR("federated_user_issuer", issuer)},
	    .audit_extra_count = 2,
	};
	sts_issue(job, deps, &is);
}

/* A request that names only the control audience with control:* scopes, and
 * no subject token, session or delegation (§2.5's empty-zone shape). */
int sts_pure_control_request(struct token_job *job, const char *audience)
{
	const sts_form *f = &job->form;
	if (sts_present(f->subject_token) || sts_present(f->session_id) ||
	    sts_present(f->agent_session_id) || sts_present(f->delegation_edge_id))
		return 0;
	const char *scopes[MAX_SCOPES];
	int overflow = 0;
	size_t n = sts_split_scopes(job->arena, f->scope, scopes, MAX_SCOPES, &overflow);
	return overflow == 0 &&
	       sts_control_request(f->resources, f->resource_count, scopes, n, audience);
}

/* The own zone of the control key app_id (see exchange.h). */
int sts_control_key_zone(const role_deps *deps, const char *app_id, caracal_arena *arena,
                         const char **zone)
{
	caracal_application a = {.size = sizeof a};
	caracal_error err = {0};
	*zone = "";
	int rc = role_application_find(deps->storage, deps->storage_tctx, app_id, arena, &a, &err);
	if (rc == CARACAL_E_NOTFOUND)
		return CARACAL_OK; /* no zone: the exchange fails authentication */
	if (rc != CARACAL_OK) {
		/* A storage fault is not a failed login: never counted, never 401. */
		log_error("sts", "control key lookup: %s", err.message);
		return rc;
	}
	if (a.zone_id != NULL && sts_control_invoker(&a.traits))
		*zone = a.zone_id;
	return CARACAL_OK;
}

/* §2.3 control key: a use=resource mandate for the control audience, no
 * policy (synthetic determining policy "control-key"), TTL capped by the
 * key's control:max-ttl. */
void sts_control_exchange(struct token_job *job, const role_deps *deps,
                          const caracal_application *app, const char *const *scopes, size_t nscopes,
                          int plain, int64_t now_us)
{
	const sts_form *f = &job->form;
	const char *audience = deps->settings->control_audience;
	caracal_error err = {0};
	int64_t max_ttl = 0;
	char why[160] = "not a pure control request";
	if (!plain ||
	    !sts_control_request(f->resources, f->resource_count, scopes, nscopes, audience) ||
	    sts_control_key_allows(&app->traits, scopes, nscopes, now_us / 1000000, &max_ttl, why,
	                           sizeof why) != 0) {
		log_info("sts", "request %s: control audience refused: %s", job->request_id, why);
		const jsonw_member reason = JSONW_MSTR("reason", why);
		if (sts_audit_exchange(job, "deny", "control_resource_requires_control_key",
		                       audience, NULL, &reason, 1, &err) != CARACAL_OK) {
			sts_audit_lost(job, &err);
			return;
		}
		sts_set_error(job, 403, "access_denied",
		              "the control audience requires a control key");
		return;
	}
	int64_t ttl;
	if (sts_requested_ttl(job, TTL_CAP_NO_SUBJECT_S, &ttl) != 0)
		return;
	if (max_ttl > 0 && max_ttl < ttl)
		ttl = max_ttl;
	const char *target[] = {audience};
	const struct issuance is = {
	    .zone = job->zone,
	    .app_id = app->id,
	    .subject = app->id,
	    .sub_type = "application",
	    .use = "resource",
	    .scope = f->scope,
	    .target = target,
	    .target_count = 1,
	    .ttl_s = ttl,
	    .now_us = now_us,
	    .record_claims_json = "{}",
	    .determining = "[{\"policy\":\"control-key\"}]",
	};
	sts_issue(job, deps, &is);
}
