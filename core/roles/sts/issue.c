/* issue.c — signing, persisting and answering one mandate. */
#include "roles/sts/exchange.h"

#include "roles/sts/mandate.h"
#include "roles/sts/mint_persist.h"

#include "util/clock.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default directive of §2.15 for each granted resource: the gateway
 * forwards the resource mandate as a bearer token to the resource's
 * upstream. (Provider credentials are not offered by this STS.) */
static void write_upstreams(jsonw *w, const struct granted *g, size_t n, int64_t expires_at)
{
	jsonw_key(w, "upstreams");
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++) {
		jsonw_object_begin(w);
		jsonw_kstr(w, "resource", g[i].identifier);
		jsonw_kstr(w, "url", g[i].upstream_url);
		jsonw_kstr(w, "auth_mode", "caracal_jwt");
		jsonw_kstr(w, "auth_location", "header");
		jsonw_kstr(w, "auth_header", "Authorization");
		jsonw_kstr(w, "auth_scheme", "Bearer");
		jsonw_key(w, "forward_caracal_identity");
		jsonw_bool(w, 0);
		jsonw_kint(w, "expires_at", expires_at);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
}

/* Once the record is written, a token that cannot leave (its evidence or
 * its answer failed) must not leave the record behind either: it is revoked,
 * so nothing can build on it. */
static void withdraw_record(const struct token_job *job, const role_deps *deps, const char *zone,
                            const char *sid, const char *reason)
{
	caracal_error err = {0};
	uint64_t changed = 0;
	caracal_revocation rv = {.size = sizeof rv,
	                         .zone_id = zone,
	                         .kind = CARACAL_REVOKE_AUTHORITY_RECORD,
	                         .target_id = sid,
	                         .reason = reason,
	                         .revoked_at_us = clock_now_us()};
	if (deps->storage->revoke(deps->storage_tctx, &rv, &changed, &err) != CARACAL_OK)
		log_error("sts", "request %s: could not revoke record %s: %s", job->request_id, sid,
		          err.message);
}

static int pending_fill(struct pending_mint *p, struct token_job *job, const struct issuance *is,
                        const char *sid, const char *jti, int64_t exp, int64_t ttl,
                        const char *jws);

/* Sign, persist (jti, approval, authority record) and answer. Every failure
 * answers an error and leaves no live record. */
void sts_issue(struct token_job *job, const role_deps *deps, const struct issuance *is)
{
	caracal_error err = {0};
	caracal_arena *arena = job->arena;
	const settings *st = deps->settings;
	int64_t iat = is->now_us / 1000000;
	int64_t ttl = is->ttl_s;
	char sid[UUID_TEXT_LEN + 1], jti[UUID_TEXT_LEN + 1];
	if (uuid_v7(sid) != 0 || uuid_v7(jti) != 0) {
		sts_set_error(job, 500, "internal_error", "token issuance failed");
		return;
	}
	if (is->reissue != NULL) {
		int64_t left = (is->reissue->expires_at_us - is->now_us) / 1000000;
		if (left <= 0) {
			sts_set_error(job, 409, "approval_consumed", "approval already consumed");
			return;
		}
		if (left < ttl)
			ttl = left;
		snprintf(sid, sizeof sid, "%s", is->reissue->id);
	}
	int64_t exp = iat + ttl;
	const char *const issuer_aud[] = {st->issuer};
	int resource_use = strcmp(is->use, "resource") == 0;
	const sts_delegation *d = is->delegation;
	mandate_hop chain[STS_DELEGATION_MAX_HOPS + 1];
	size_t chain_len = 0;
	for (size_t i = 0; d != NULL && i < d->chain_len && i < STS_DELEGATION_MAX_HOPS + 1; i++)
		chain[chain_len++] =
		    (mandate_hop){d->chain[i].application_id, d->chain[i].agent_session_id,
		                  d->chain[i].delegation_edge_id};
	const mandate_claims claims = {
	    .iss = st->issuer,
	    .sub = is->subject,
	    .aud = resource_use ? is->target : issuer_aud,
	    .aud_count = resource_use ? is->target_count : 1,
	    .exp = exp,
	    .iat = iat,
	    .jti = jti,
	    .zone_id = is->zone,
	    .client_id = is->app_id,
	    .scope = is->scope,
	    .sid = sid,
	    .root_sid = is->root_sid != NULL ? is->root_sid : sid,
	    .use = is->use,
	    .sub_type = is->sub_type,
	    .target = is->target,
	    .target_count = is->target_count,
	    .agent_session_id = is->agent_session_id,
	    .delegation_edge_id = d != NULL ? d->edge.id : NULL,
	    .source_session_id = d != NULL ? d->edge.source_session_id : NULL,
	    .target_session_id = d != NULL ? d->edge.target_session_id : NULL,
	    .delegation_path = d != NULL ? d->path : NULL,
	    .delegation_path_len = d != NULL ? d->path_len : 0,
	    .delegation_chain = chain,
	    .delegation_chain_len = chain_len,
	    .graph_epoch = d != NULL ? d->graph_epoch : 0,
	};
	const char *jws = NULL;
	int rc = mandate_sign(deps, is->zone, &claims, arena, &jws, &err);
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: signing: %s", job->request_id, err.message);
		/* err now takes the audit's failure, which audit_failed reports. */
		if (sts_audit_exchange(job, "deny", "signing_failed", NULL, NULL, NULL, 0, &err) !=
		    CARACAL_OK)
			goto audit_failed;
		sts_set_error(job, 500, "internal_error", "token issuance failed");
		return;
	}

	/* §2.14, §2.9, §2.4 step 15: the jti registered once, the approval
	 * consumed once, the authority record written — after every step that
	 * can still refuse the token, so no refused exchange leaves a live
	 * record. What follows the writes is prepared now: the writes may be
	 * committed together with other exchanges' (mint_batch.c), after this
	 * function and its caller's stack are gone. */
	struct pending_mint *p = arena_alloc(arena, sizeof *p);
	if (p == NULL || pending_fill(p, job, is, sid, jti, exp, ttl, jws) != 0) {
		sts_set_error(job, 500, "internal_error", "token issuance failed");
		return;
	}

	if (is->reissue == NULL && sts_mint_batch_add(deps, p))
		return; /* parked: finished by the batch */
	int conflict = 0;
	if (is->reissue != NULL) {
		rc = deps->storage->single_use_claim(deps->storage_tctx, is->zone, p->jti_key,
		                                     exp * 1000000, &err);
		if (rc == CARACAL_E_CONFLICT)
			conflict = CARACAL_MINT_CONFLICT_JTI;
	} else {
		rc = mint_persist(deps->storage, deps->storage_tctx, &p->mw, &conflict, &err);
	}
	sts_mint_finish(p, deps, rc, conflict, &err);
	return;

audit_failed:
	sts_audit_lost(job, &err); /* evidence that cannot be recorded: no token (§2.4) */
}

/* The issued event's own metadata and determining policies, copied. */
static int pending_audit_fill(struct pending_mint *p, caracal_arena *a, const struct issuance *is,
                              int64_t exp)
{
	p->nextra = 0;
	p->extra[p->nextra++] = JSONW_MSTR("authority_record_id", p->sid);
	p->extra[p->nextra++] = JSONW_MSTR("jti", p->jti);
	p->extra[p->nextra++] = JSONW_MINT("expires_at", exp);
	if (is->target != NULL) {
		size_t len = 0;
		const char *t = sts_str_array_text(a, is->target, is->target_count, &len);
		if (t == NULL)
			return -1;
		p->extra[p->nextra++] = JSONW_MRAW("target", t, len);
	}
	if (is->audit_extra_count > STS_AUDIT_EXTRA_MAX - p->nextra ||
	    sts_members_copy(a, p->extra + p->nextra, is->audit_extra, is->audit_extra_count) != 0)
		return -1;
	p->nextra += is->audit_extra_count;
	p->determining = is->determining != NULL
	                     ? arena_strndup(a, is->determining, strlen(is->determining))
	                     : NULL;
	return is->determining != NULL && p->determining == NULL ? -1 : 0;
}

/* The writes, the answer and what the audit needs after the writes, copied
 * into the job's arena (is and the strings it points to may live on the
 * caller's stack or in a subject token freed when the caller returns). */
static int pending_fill(struct pending_mint *p, struct token_job *job, const struct issuance *is,
                        const char *sid, const char *jti, int64_t exp, int64_t ttl, const char *jws)
{
	caracal_arena *a = job->arena;
	*p = (struct pending_mint){.job = job, .reissued = is->reissue != NULL};
	memcpy(p->sid, sid, sizeof p->sid);
	memcpy(p->jti, jti, sizeof p->jti);
	snprintf(p->jti_key, sizeof p->jti_key, "jti:%s", jti);
#define COPY(s) ((s) != NULL ? arena_strndup(a, (s), strlen(s)) : NULL)
	const char *consumed = is->approval_id != NULL ? is->approval_id : is->reissued_approval_id;
	p->zone = COPY(is->zone);
	p->app_id = COPY(is->app_id);
	p->consumed_approval = COPY(consumed);
	const char *subject = COPY(is->subject), *parent = COPY(is->parent_id);
	const char *claims = COPY(is->record_claims_json), *approval = COPY(is->approval_id);
#undef COPY
	if (p->zone == NULL || p->app_id == NULL || subject == NULL || claims == NULL ||
	    (consumed != NULL && p->consumed_approval == NULL) ||
	    (is->parent_id != NULL && parent == NULL) ||
	    (is->approval_id != NULL && approval == NULL))
		return -1;
	p->rec = (caracal_authority_record){
	    .size = sizeof p->rec,
	    .id = p->sid,
	    .zone_id = p->zone,
	    .session_type = is->sub_type, /* a static string */
	    .subject_id = subject,
	    .parent_id = parent,
	    .status = "active",
	    .expires_at_us = exp * 1000000,
	    .authenticated_at_us = is->now_us,
	    .claims_json = {claims, strlen(claims)},
	};
	p->mw = (caracal_mint_write){
	    .size = sizeof p->mw,
	    .record = &p->rec,
	    .jti = p->jti_key,
	    .jti_expires_at_us = exp * 1000000,
	    .approval_id = approval,
	    .at_us = is->now_us,
	};

	jsonw w;
	jsonw_init_cap(&w, strlen(jws) + 512); /* the token, the rest is small */
	jsonw_object_begin(&w);
	jsonw_kstr(&w, "access_token", jws);
	jsonw_kstr(&w, "token_type", "Bearer");
	jsonw_kint(&w, "expires_in", ttl);
	if (is->scope != NULL && is->scope[0] != '\0')
		jsonw_kstr(&w, "scope", is->scope);
	jsonw_kstr(&w, "issued_token_type", STS_TOKEN_TYPE_ACCESS);
	if (is->target != NULL) {
		jsonw_key(&w, "target_resources");
		jsonw_str_array(&w, is->target, is->target_count);
	}
	if (is->upstreams != NULL)
		write_upstreams(&w, is->upstreams, is->upstream_count, exp);
	jsonw_object_end(&w);
	p->body = jsonw_finish(&w, &p->body_len);
	if (p->body == NULL)
		return -1;
	if (pending_audit_fill(p, a, is, exp) != 0) {
		free(p->body);
		p->body = NULL;
		return -1;
	}
	return 0;
}

void sts_mint_finish(struct pending_mint *p, const role_deps *deps, int rc, int conflict,
                     const caracal_error *werr)
{
	struct token_job *job = p->job;
	caracal_error err = {0};
	/* The exchange's decisions first: they precede every event below. */
	if (sts_audit_flush_later(job, &err) != CARACAL_OK) {
		if (rc == CARACAL_OK)
			withdraw_record(job, deps, p->zone, p->sid, "audit_unavailable");
		goto audit_failed;
	}
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: mint writes: %s", job->request_id, werr->message);
		if (conflict == CARACAL_MINT_CONFLICT_JTI) {
			caracal_error ae = {0};
			json_t *anomaly = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "request_id",
			                            job->request_id, "decision", "deny",
			                            "evaluation_status", "anomaly", "metadata",
			                            "jti", p->jti, "application_id", p->app_id);
			role_audit(p->zone, "jti_collision", anomaly, &ae);
			json_decref(anomaly);
		}
		if (conflict == CARACAL_MINT_CONFLICT_APPROVAL) {
			sts_set_error(job, 409, "approval_consumed", "approval already consumed");
		} else if (conflict == CARACAL_MINT_CONFLICT_PARENT) {
			/* Revoked while the mint waited for its writes: as if the
			 * presented mandate had been refused (§2.6), and evidence of
			 * it, since the policy's allow is already in the chain. */
			if (sts_audit_exchange(job, "deny", "parent_record_inactive", NULL, NULL,
			                       NULL, 0, &err) != CARACAL_OK)
				goto audit_failed;
			sts_set_error(job, 403, "access_denied",
			              "authority record inactive or expired");
		} else {
			sts_set_error(job, 500, "internal_error", "token issuance failed");
		}
		goto out;
	}
	if (p->consumed_approval != NULL) {
		json_t *consumed = json_pack(
		    "{s:s, s:s, s:s, s:{s:s, s:s, s:b}}", "request_id", job->request_id, "decision",
		    "consumed", "evaluation_status", "step_up_consumed", "metadata", "challenge_id",
		    p->consumed_approval, "authority_record_id", p->sid, "reissued", p->reissued);
		rc = role_audit(p->zone, "step_up_consumed", consumed, &err);
		json_decref(consumed);
		if (rc != CARACAL_OK) {
			withdraw_record(job, deps, p->zone, p->sid, "audit_unavailable");
			goto audit_failed;
		}
	}
	rc = sts_audit_exchange(job, "allow", "issued", NULL, p->determining, p->extra, p->nextra,
	                        &err);
	if (rc != CARACAL_OK) {
		withdraw_record(job, deps, p->zone, p->sid, "audit_unavailable");
		goto audit_failed;
	}
	free(job->dw.body);
	job->dw.body = p->body;
	job->dw.body_len = p->body_len;
	p->body = NULL;
	job->dw.status = 200;
	job->dw.content_type = "application/json";
	goto out;

audit_failed:
	sts_audit_lost(job, &err); /* evidence that cannot be recorded: no token (§2.4) */
out:
	free(p->body);
	p->body = NULL;
}
