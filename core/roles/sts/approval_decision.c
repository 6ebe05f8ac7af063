/*
 * approval_decision.c — POST /approvals/{id}/decision: the federated user
 * plane of approvals (spec sts.md §2.17). A user approves or rejects a hold
 * with a user-typed session mandate of the hold's application; operators
 * decide through the admin API instead.
 *
 * The loop thread checks what is cheap and pure (the id, the bearer, the
 * JSON body); a worker does the rest in the spec's order: the hold, the
 * mandate (signature, claims, authority record), who may decide, the
 * binding, then the guarded decision. The approver is stored as the hold's
 * privacy mode allows: "subject:<sub>", "subject:pseudonym:<16 hex>" or
 * "subject:redacted"; the approver's authority record id goes to the audit
 * event (storage has no column for it — the reference keeps it on the hold).
 */
#include "roles/sts/approvals.h"
#include "roles/sts/jwt.h"

#include "daemon/server.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/uuid.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REASON_MAX 500
#define BODY_MAX 65536
#define LINEAGE_MAX 64 /* authority records walked up from each end */

struct decision_job {
	deferred_work dw; /* must stay first */
	char id[37];
	char *token;
	int approve;
	char *binding;
	char *reason; /* NULL: none given */
};

static void decision_free(deferred_work *dw)
{
	struct decision_job *job = (struct decision_job *)dw;
	free(job->token);
	free(job->binding);
	free(job->reason);
	free(job);
}

/* "subject:..." as the hold's privacy mode allows (into out). */
static void approver_id(const char *privacy, const char *zone, const char *sub, char *out,
                        size_t cap)
{
	if (privacy != NULL && strcmp(privacy, "anonymous") == 0) {
		snprintf(out, cap, "subject:redacted");
		return;
	}
	if (privacy != NULL && strcmp(privacy, "pseudonymous") == 0) {
		unsigned char d[32];
		unsigned int dl = 0;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		         EVP_DigestUpdate(md, zone, strlen(zone)) == 1 &&
		         EVP_DigestUpdate(md, "", 1) == 1 &&
		         EVP_DigestUpdate(md, sub, strlen(sub)) == 1 &&
		         EVP_DigestFinal_ex(md, d, &dl) == 1;
		EVP_MD_CTX_free(md);
		if (!ok) { /* never fall back to the identity */
			snprintf(out, cap, "subject:redacted");
			return;
		}
		int n = snprintf(out, cap, "subject:pseudonym:");
		for (int i = 0; i < 8 && n > 0 && (size_t)n + 2 < cap; i++, n += 2)
			snprintf(out + n, cap - (size_t)n, "%02x", d[i]);
		return;
	}
	snprintf(out, cap, "subject:%s", sub);
}

/* Whether ancestor is descendant or one of its parents. -1 on a storage
 * failure. */
static int in_line_above(const role_deps *deps, const char *zone, const char *descendant,
                         const char *ancestor, caracal_arena *arena)
{
	const char *cur = descendant;
	for (int depth = 0; cur != NULL && cur[0] != '\0' && depth < LINEAGE_MAX; depth++) {
		if (strcmp(cur, ancestor) == 0)
			return 1;
		caracal_authority_record r = {.size = sizeof r};
		caracal_error err = {0};
		int rc = deps->storage->authority_record_get(deps->storage_tctx, zone, cur, arena,
		                                             &r, &err);
		if (rc == CARACAL_E_NOTFOUND)
			return 0;
		if (rc != CARACAL_OK)
			return -1;
		cur = r.parent_id;
	}
	return 0;
}

/* The mandate: ours, for the hold's zone, use=session. 0, or the answer set. */
static int check_mandate(deferred_work *dw, const role_deps *deps, const char *token,
                         const char *zone, caracal_arena *arena, jwt *j)
{
	char why[128] = "no signing keys for the zone";
	caracal_str jwks = {0};
	int64_t max_age = 0;
	caracal_error err = {0};
	if (jwt_parse(token, strlen(token), j, why, sizeof why) != 0) {
		approval_answer_error(dw, 401, "invalid_token", "invalid bearer token");
		return -1;
	}
	int rc = deps->signer->jwks(deps->signer_tctx, zone, arena, &jwks, &max_age, &err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		approval_answer_error(dw, 503, "sts_unavailable", "signing keys are unavailable");
		return -1;
	}
	if (rc != CARACAL_OK ||
	    jwt_verify_signature(j, token, jwks.ptr, jwks.len, why, sizeof why) != 0 ||
	    jwt_check_claims(j, deps->settings->issuer, zone, "session", clock_now_us() / 1000000,
	                     why, sizeof why) != 0) {
		log_info("sts", "approval decision: bearer refused: %s", why);
		approval_answer_error(dw, 401, "invalid_token", "invalid bearer token");
		return -1;
	}
	return 0;
}

/* Who may decide this hold (§2.17). 0, or the answer set. */
static int check_approver(deferred_work *dw, const role_deps *deps, const caracal_approval *hold,
                          const jwt *j, caracal_arena *arena, int64_t now_us)
{
	const json_t *c = j->claims;
	const char *sub = json_string_value(json_object_get(c, "sub"));
	const char *sub_type = json_string_value(json_object_get(c, "sub_type"));
	const char *sid = json_string_value(json_object_get(c, "sid"));
	const char *client = json_string_value(json_object_get(c, "client_id"));
	if (sub_type == NULL || strcmp(sub_type, "user") != 0 || sub == NULL) {
		approval_answer_error(dw, 403, "access_denied", "approver must be a user session");
		return -1;
	}
	if (hold->application_id == NULL || hold->application_id[0] == '\0') {
		approval_answer_error(dw, 403, "access_denied",
		                      "the approval names no application");
		return -1;
	}
	caracal_authority_record rec = {.size = sizeof rec};
	caracal_error err = {0};
	int rc = sid != NULL ? deps->storage->authority_record_get(
	                           deps->storage_tctx, hold->zone_id, sid, arena, &rec, &err)
	                     : CARACAL_E_NOTFOUND;
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		approval_answer_error(dw, 503, "sts_unavailable",
		                      "the token service is unavailable");
		return -1;
	}
	if (rc != CARACAL_OK || rec.status == NULL || strcmp(rec.status, "active") != 0 ||
	    rec.expires_at_us <= now_us || rec.subject_id == NULL ||
	    strcmp(rec.subject_id, sub) != 0) {
		approval_answer_error(dw, 403, "access_denied",
		                      "authority record inactive or expired");
		return -1;
	}
	if (client == NULL || strcmp(client, hold->application_id) != 0) {
		approval_answer_error(dw, 403, "access_denied", "authority record client mismatch");
		return -1;
	}
	if (hold->approver_class == NULL || (strcmp(hold->approver_class, "subject") != 0 &&
	                                     strcmp(hold->approver_class, "any") != 0)) {
		approval_answer_error(dw, 403, "access_denied",
		                      "this approval needs an operator's decision");
		return -1;
	}
	if (hold->subject_anchor != NULL && hold->subject_anchor[0] != '\0' &&
	    strcmp(hold->subject_anchor, sub) != 0) {
		approval_answer_error(dw, 403, "access_denied",
		                      "approver is not the approval's subject");
		return -1;
	}
	/* Nobody approves their own request: the approver's record may be
	 * neither an ancestor nor a descendant of the requester's. */
	if (hold->session_id != NULL && hold->session_id[0] != '\0') {
		int up = in_line_above(deps, hold->zone_id, hold->session_id, sid, arena);
		int down =
		    up == 0 ? in_line_above(deps, hold->zone_id, sid, hold->session_id, arena) : up;
		if (up < 0 || down < 0) {
			approval_answer_error(dw, 503, "sts_unavailable",
			                      "the token service is unavailable");
			return -1;
		}
		if (up || down) {
			approval_answer_error(dw, 403, "access_denied",
			                      "approver shares the requester's authority line");
			return -1;
		}
	}
	return 0;
}

static int audit_decision(const caracal_approval *hold, const char *status, const char *decision,
                          const char *sid, const char *reason, caracal_error *err)
{
	json_t *fields =
	    json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}}", "request_id",
	              hold->id, "decision", decision, "evaluation_status", status, "metadata",
	              "challenge_id", hold->id, "approver_plane", "subject", "approver_session_id",
	              sid, "tier", hold->tier, "approver_class", hold->approver_class,
	              "privacy_mode", hold->privacy_mode, "reason", reason);
	if (fields == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build the audit event");
	int rc = role_audit(hold->zone_id, "step_up_decided", fields, err);
	json_decref(fields);
	return rc;
}

static void decision_run(deferred_work *dw, worker_ctx *wc)
{
	struct decision_job *job = (struct decision_job *)dw;
	caracal_error err = {0};
	role_deps deps;
	if (role_deps_get(wc, ROLE_NEEDS_STORAGE | ROLE_NEEDS_SIGNER, &deps, &err) != CARACAL_OK) {
		approval_answer_error(dw, 503, "sts_unavailable",
		                      "the token service is unavailable");
		return;
	}
	caracal_arena *arena = arena_new();
	if (arena == NULL) {
		approval_answer_error(dw, 503, "sts_unavailable", "out of memory");
		return;
	}
	jwt j = {0};
	caracal_approval hold = {.size = sizeof hold};
	int64_t now_us = clock_now_us();
	int rc = approval_find(&deps, job->id, arena, &hold, &err);
	if (rc == CARACAL_E_NOTFOUND) {
		approval_answer_error(dw, 404, "resource_not_found", "no such approval");
		goto out;
	}
	if (rc != CARACAL_OK) {
		approval_answer_error(dw, 503, "sts_unavailable",
		                      "the token service is unavailable");
		goto out;
	}
	if (check_mandate(dw, &deps, job->token, hold.zone_id, arena, &j) != 0 ||
	    check_approver(dw, &deps, &hold, &j, arena, now_us) != 0)
		goto out;
	if (hold.binding_hex == NULL || strcmp(hold.binding_hex, job->binding) != 0) {
		approval_answer_error(dw, 409, "access_denied", "binding mismatch");
		goto out;
	}
	if (strcmp(approval_state(&hold, now_us), "pending") != 0) {
		approval_answer_error(dw, 409, "access_denied", "approval is not pending");
		goto out;
	}
	const char *sub = json_string_value(json_object_get(j.claims, "sub"));
	const char *sid = json_string_value(json_object_get(j.claims, "sid"));
	const char *decision = job->approve ? "approved" : "rejected";
	/* Evidence first: a decision that cannot be recorded is not taken. */
	if (audit_decision(&hold, "step_up_decision_requested", decision, sid, job->reason, &err) !=
	    CARACAL_OK) {
		log_error("sts", "approval %s: audit: %s", hold.id, err.message);
		approval_answer_error(dw, 500, "internal_error",
		                      "audit evidence could not be recorded");
		goto out;
	}
	char who[64 + 512];
	approver_id(hold.privacy_mode, hold.zone_id, sub, who, sizeof who);
	rc = deps.storage->approval_decide(deps.storage_tctx, hold.zone_id, hold.id, job->approve,
	                                   who, job->reason, now_us, &err);
	if (rc == CARACAL_E_CONFLICT) {
		approval_answer_error(dw, 409, "access_denied", "approval is not pending");
		goto out;
	}
	if (rc != CARACAL_OK) {
		log_error("sts", "approval %s: decide: %s", hold.id, err.message);
		approval_answer_error(dw, 503, "sts_unavailable",
		                      "the token service is unavailable");
		goto out;
	}
	if (audit_decision(&hold, "step_up_decided", decision, sid, job->reason, &err) !=
	    CARACAL_OK)
		log_error("sts", "approval %s: decided, but the audit event was refused: %s",
		          hold.id, err.message);
	approval_answer(dw, 200, json_pack("{s:s, s:s}", "id", hold.id, "state", decision));
out:
	jwt_free(&j);
	arena_free(arena);
}

/* ---- the route (loop thread) ---------------------------------------------------------- */

/* The bearer token of an "Authorization: Bearer <token>" header (exactly one
 * header), copied; NULL when absent or malformed. */
static char *bearer(const http_request *req)
{
	size_t count = 0;
	const http_header *h = http_request_header(req, "Authorization", &count);
	if (h == NULL || count != 1 || h->value_len <= 7 ||
	    strncasecmp(h->value, "Bearer ", 7) != 0)
		return NULL;
	const char *t = h->value + 7;
	size_t n = h->value_len - 7;
	while (n > 0 && *t == ' ') {
		t++;
		n--;
	}
	if (n == 0 || n > JWT_MAX_TOKEN || memchr(t, ' ', n) != NULL)
		return NULL;
	return strndup(t, n);
}

static int is_json(const http_request *req)
{
	size_t count = 0;
	const http_header *h = http_request_header(req, "Content-Type", &count);
	static const char want[] = "application/json";
	size_t n = sizeof want - 1;
	return h != NULL && count == 1 && h->value_len >= n &&
	       strncasecmp(h->value, want, n) == 0 &&
	       (h->value_len == n || h->value[n] == ';' || h->value[n] == ' ');
}

/* {decision, binding, reason?}: 0, or -1 with the 400 description. */
static int parse_body(const http_request *req, struct decision_job *job, const char **problem)
{
	json_error_t je;
	json_t *o = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;
	const char *key;
	json_t *v;
	*problem = "the body must be a JSON object";
	if (!json_is_object(o))
		goto out;
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "decision") != 0 && strcmp(key, "binding") != 0 &&
		    strcmp(key, "reason") != 0) {
			*problem = "unknown field in the body";
			goto out;
		}
	}
	const char *decision = json_string_value(json_object_get(o, "decision"));
	if (decision == NULL ||
	    (strcmp(decision, "approved") != 0 && strcmp(decision, "rejected") != 0)) {
		*problem = "decision must be \"approved\" or \"rejected\"";
		goto out;
	}
	const json_t *binding = json_object_get(o, "binding");
	if (!json_is_string(binding) || json_string_length(binding) == 0 ||
	    json_string_length(binding) > 128) {
		*problem = "binding must be the approval's hex binding";
		goto out;
	}
	const json_t *reason = json_object_get(o, "reason");
	if (reason != NULL && !json_is_null(reason) &&
	    (!json_is_string(reason) || json_string_length(reason) > REASON_MAX ||
	     memchr(json_string_value(reason), 0, json_string_length(reason)) != NULL)) {
		*problem = "reason must be a string of at most 500 bytes";
		goto out;
	}
	job->approve = strcmp(decision, "approved") == 0;
	job->binding = strdup(json_string_value(binding));
	if (json_is_string(reason))
		job->reason = strdup(json_string_value(reason));
	if (job->binding == NULL || (json_is_string(reason) && job->reason == NULL)) {
		*problem = "out of memory";
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static void route_decision(request_ctx *rc)
{
	static const char suffix[] = "/decision";
	const char *rest = rc->req->path + strlen("/approvals/");
	size_t n = strlen(rest);
	char id[37];
	if (n != 36 + sizeof suffix - 1 || strcmp(rest + 36, suffix) != 0) {
		server_respond_error(rc, 404, "resource_not_found", "no such approval");
		return;
	}
	memcpy(id, rest, 36);
	id[36] = '\0';
	if (!uuid_is_text(id)) {
		server_respond_error(rc, 404, "resource_not_found", "no such approval");
		return;
	}
	struct decision_job *job = calloc(1, sizeof *job);
	if (job == NULL) {
		server_respond_error(rc, 503, "sts_unavailable", "out of memory");
		return;
	}
	memcpy(job->id, id, sizeof id);
	job->token = bearer(rc->req);
	const char *problem = NULL;
	if (job->token == NULL) {
		server_respond_error(rc, 401, "invalid_token",
		                     "a Bearer session mandate is required");
	} else if (rc->req->body_len > BODY_MAX) {
		server_respond_error(rc, 413, "payload_too_large", "the body is over 64 KiB");
	} else if (!is_json(rc->req)) {
		server_respond_error(rc, 415, "invalid_token", "the body must be application/json");
	} else if (parse_body(rc->req, job, &problem) != 0) {
		server_respond_error(rc, 400, "invalid_token", problem);
	} else {
		job->dw.run = decision_run;
		job->dw.free_fn = decision_free;
		server_defer(rc, &job->dw);
		return;
	}
	decision_free(&job->dw);
}

void approval_decision_route_register(void)
{
	server_route(ROLE_STS, "POST", "/approvals/*", route_decision);
}
