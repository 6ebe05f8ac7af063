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
#include "roles/sts/control_key.h"
#include "roles/sts/delegation.h"
#include "roles/sts/federation.h"
#include "roles/sts/form.h"
#include "roles/sts/gateway_auth.h"
#include "roles/sts/jwt.h"
#include "roles/sts/mandate.h"
#include "roles/sts/mint_persist.h"
#include "roles/sts/policy_input.h"
#include "roles/sts/sts.h"

#include "daemon/server.h"
#include "util/arena.h"
#include "util/clock.h"
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

#define DEFAULT_TTL_S 900
#define TTL_CAP_NO_SUBJECT_S 3600
#define TTL_CAP_SUBJECT_S 900
#define COLD_VERIFY_WAIT_MS 5000
#define MAX_SCOPES 64
#define REQUEST_ID_MAX 128

/* What a gateway-authenticated exchange is checked against (§2.10), copied
 * from the request on the loop thread (into the job's arena). */
struct gateway_material {
	const char *timestamp, *nonce, *signature; /* NULL: header absent */
	const char *request_id;                    /* X-Request-Id as received */
	const char *method;
	const char *path;
	const unsigned char *body;
	size_t body_len;
};

struct token_job {
	deferred_work dw; /* must stay first */
	caracal_arena *arena;
	sts_form form;
	const char *zone; /* trimmed zone_id, once authenticated (arena) */
	char request_id[REQUEST_ID_MAX + 1];
	int gateway; /* any gateway header present: gateway-authenticated or refused */
	struct gateway_material gw;
	int denial_audited;     /* a deny event was emitted for this exchange */
	const char *error_code; /* of the last error answer (static string) */
	int audit_lost;         /* the answer is that evidence could not be recorded */
};

static void token_job_free(deferred_work *dw)
{
	struct token_job *job = (struct token_job *)dw;
	arena_free(job->arena);
	free(job);
}

/* ---- responses (worker side) ---------------------------------------------- */

static void set_json(struct token_job *job, int status, json_t *body)
{
	json_object_set_new(body, "requestId", json_string(job->request_id));
	job->dw.status = status;
	job->dw.content_type = "application/json";
	job->dw.body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	job->dw.body_len = job->dw.body != NULL ? strlen(job->dw.body) : 0;
	if (job->dw.body == NULL)
		job->dw.status = 500;
	json_decref(body);
}

static void set_error(struct token_job *job, int status, const char *error, const char *description)
{
	job->error_code = error;
	set_json(job, status,
	         json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

/* Evidence that cannot be recorded means no token (§2.4); the failure is
 * not audited again (the audit path is what failed). */
static void audit_lost(struct token_job *job)
{
	set_error(job, 500, "internal_error", "audit evidence could not be recorded");
	job->audit_lost = 1;
}

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

/* One token_exchange event. Returns OK or the emit failure (the caller then
 * answers 500: evidence that cannot be recorded means no token). */
static int audit_exchange(struct token_job *job, const char *decision, const char *status,
                          const char *resource, json_t *determining, json_t *extra,
                          caracal_error *err)
{
	const sts_form *f = &job->form;
	if (strcmp(decision, "deny") == 0)
		job->denial_audited = 1;
	json_t *meta = json_pack("{s:s, s:s, s:s?}", "application_id",
	                         f->application_id ? f->application_id : "", "requested_scopes",
	                         f->scope ? f->scope : "", "resource", resource);
	if (extra != NULL) {
		json_object_update(meta, extra);
		json_decref(extra);
	}
	json_t *fields =
	    json_pack("{s:s, s:s, s:s, s:o, s:o}", "request_id", job->request_id, "decision",
	              decision, "evaluation_status", status, "determining_policies",
	              determining != NULL ? determining : json_array(), "metadata", meta);
	if (fields == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build audit event");
	int rc = role_audit(job->zone, "token_exchange", fields, err);
	json_decref(fields);
	return rc;
}

/* ---- scopes ---------------------------------------------------------------- */

static size_t split_scopes(caracal_arena *arena, const char *scope, const char **out, size_t max,
                           int *overflow)
{
	size_t n = 0;
	*overflow = 0;
	if (scope == NULL)
		return 0;
	const char *p = scope;
	while (*p != '\0') {
		while (*p != '\0' && isspace((unsigned char)*p))
			p++;
		const char *s = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (p == s)
			break;
		char *tok = arena_strndup(arena, s, (size_t)(p - s));
		if (tok == NULL) {
			*overflow = -1; /* out of memory: the caller refuses */
			return n;
		}
		int dup = 0;
		for (size_t i = 0; i < n && !dup; i++)
			dup = strcmp(out[i], tok) == 0;
		if (dup)
			continue;
		if (n == max) {
			*overflow = 1;
			return n;
		}
		out[n++] = tok;
	}
	return n;
}

static int in_list(const char *s, const caracal_strlist *list)
{
	for (size_t i = 0; i < list->count; i++)
		if (strcmp(list->items[i], s) == 0)
			return 1;
	return 0;
}

/* The distinct scopes of the application's grants on one resource, copied
 * into the request arena (a record lives only for its callback). */
struct grant_union {
	caracal_arena *arena;
	const char **scopes;
	size_t count, cap;
	int failed;
};

static int collect_grant(void *ud, const void *record)
{
	struct grant_union *u = ud;
	const caracal_grant *g = record;
	for (size_t i = 0; i < g->scopes.count && !u->failed; i++) {
		const char *s = g->scopes.items[i];
		int seen = 0;
		for (size_t j = 0; j < u->count && !seen; j++)
			seen = strcmp(u->scopes[j], s) == 0;
		if (seen)
			continue;
		if (u->count == u->cap) {
			size_t cap = u->cap != 0 ? u->cap * 2 : 16;
			const char **grown = arena_alloc(u->arena, cap * sizeof *grown);
			if (grown == NULL) {
				u->failed = 1;
				break;
			}
			if (u->count > 0)
				memcpy(grown, u->scopes, u->count * sizeof *grown);
			u->scopes = grown;
			u->cap = cap;
		}
		const char *copy = arena_strndup(u->arena, s, strlen(s));
		if (copy == NULL)
			u->failed = 1;
		else
			u->scopes[u->count++] = copy;
	}
	return CARACAL_OK;
}

/* NULL on any failure, so a json_pack taking it fails as a whole: a list
 * with an element missing must never reach the policy or a mandate. */
static json_t *array_of(const char *const *items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(items[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* ---- approvals (§2.9) ---------------------------------------------------------- */

struct approval_decl {
	const char *tier;
	const char *approver; /* operator | subject | any */
	int64_t ttl_s;        /* 0: the class default */
	int privacy;          /* PRIVACY_* */
};

/* Privacy modes of a hold's approver, weakest first (§2.9: the strongest
 * declared one wins). */
enum { PRIVACY_IDENTIFIED, PRIVACY_PSEUDONYMOUS, PRIVACY_ANONYMOUS };

static int privacy_of(const char *p)
{
	if (p == NULL || strcmp(p, "identified") == 0)
		return PRIVACY_IDENTIFIED;
	if (strcmp(p, "pseudonymous") == 0)
		return PRIVACY_PSEUDONYMOUS;
	/* anonymous, "redacted", and anything unknown: a mode the core cannot
	 * read is given the strongest protection, never the weakest. */
	return PRIVACY_ANONYMOUS;
}

static const char *privacy_name(int p)
{
	return p == PRIVACY_ANONYMOUS      ? "anonymous"
	       : p == PRIVACY_PSEUDONYMOUS ? "pseudonymous"
	                                   : "identified";
}

/* The approval block of an APPROVAL_REQUIRED decision; -1 when it is absent
 * or malformed (then nothing can be asked for, and the resource is denied). */
static int collect_approval(caracal_arena *arena, const caracal_policy_decision *dec,
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
		out->privacy = privacy_of(json_string_value(json_object_get(ap, "privacy")));
		rc = *tier != NULL && *approver != NULL ? 0 : -1;
	}
	json_decref(obl);
	return rc;
}

/* 401 interaction_required with the hold, as the reference answers it. */
static void interaction_required(struct token_job *job, const char *id, const char *state,
                                 const char *tier, const char *binding, int64_t expires_us)
{
	char expires[40];
	time_t secs = (time_t)(expires_us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
	set_json(job, 401,
	         json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "error",
	                   "interaction_required", "error_description",
	                   "Human approval required for this request", "approval_id", id,
	                   "approval_type", "human_approval", "state", state, "tier", tier,
	                   "binding", binding, "approval_expires_at", expires));
	job->dw.headers[job->dw.header_count++] =
	    (http_header){"WWW-Authenticate", 16, "Bearer error=\"interaction_required\"", 35};
}

struct hold_match {
	const char *principal, *session, *binding;
	char id[37];
	char tier[128];
	int64_t expires_us;
	int found;
};

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
static int approval_gate(struct token_job *job, const role_deps *deps,
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
			set_error(job, 403, "access_denied",
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
			set_error(job, 500, "internal_error", "approval hold could not be created");
			return 0;
		}
		if (m.found) {
			interaction_required(job, m.id, "pending", m.tier, binding, m.expires_us);
			return 0;
		}
	}
	char id[37];
	json_t *meta =
	    json_pack("{s:o, s:o, s:s}", "requested_scopes", array_of(bi->scopes, bi->scope_count),
	              "resources", array_of(bi->resources, bi->resource_count),
	              "policy_set_version_id", bi->policy_version);
	char *meta_text = meta != NULL ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	if (meta_text == NULL || approval_new_id(id) != 0) {
		free(meta_text);
		set_error(job, 500, "internal_error", "approval hold could not be created");
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
	    .privacy_mode = privacy_name(privacy),
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
		set_error(job, 500, "internal_error", "approval hold could not be created");
		return 0;
	}
	if (!created) {
		const char *state = approval_state(&live, now_us);
		if (strcmp(state, "approved") == 0) {
			snprintf(approved, 37, "%s", live.id);
			return 1;
		}
		if (strcmp(state, "rejected") == 0) {
			set_error(job, 403, "access_denied", "approval rejected");
			return 0;
		}
		interaction_required(job, live.id, state, live.tier, binding, live.expires_at_us);
		return 0;
	}
	json_t *fields =
	    json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:I}}", "request_id", job->request_id,
	              "decision", "pending", "evaluation_status", "step_up_issued", "metadata",
	              "challenge_id", id, "tier", label, "approver_class", cls, "binding", binding,
	              "expires_at", (json_int_t)(hold.expires_at_us / 1000000));
	caracal_error ae = {0};
	rc = role_audit(zone, "step_up_issued", fields, &ae);
	json_decref(fields);
	if (rc != CARACAL_OK) {
		audit_lost(job);
		return 0;
	}
	interaction_required(job, id, "pending", label, binding, hold.expires_at_us);
	return 0;
}

/* The binding of the exchange described by bi (its policy_version read from
 * storage now). 0, or -1 with the error response set. */
static int exchange_binding(struct token_job *job, const role_deps *deps, caracal_arena *arena,
                            approval_binding_input *bi, char binding[65])
{
	caracal_error err = {0};
	caracal_policy_version apv = {.size = sizeof apv};
	int rc = deps->storage->policy_active_get(deps->storage_tctx, job->zone, arena, &apv, &err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return -1;
	}
	bi->policy_version = rc == CARACAL_OK && apv.id != NULL ? apv.id : "";
	if (approval_binding_hex(bi, binding) != 0) {
		set_error(job, 503, "sts_unavailable", "out of memory");
		return -1;
	}
	return 0;
}

/* ---- client authentication helpers ------------------------------------------ */

#define AUTH_FAILURE_LIMIT 60
#define AUTH_WINDOW_US (60 * 1000000LL)
#define AUTH_WINDOWS 3

/* The failure lockout of §2.5, counted in storage (shared by every caracald,
 * and no table eviction can reset it): more than 60 failed authentications
 * of one application id within the current and the two previous
 * minute-windows lock it out until those windows have passed. Deliberately
 * stricter than the reference's "61 in 60 s, then 60 s": fixed windows must
 * never under-count a slow burst (each failure is a 64 MiB Argon2id, so a
 * burst of 60 can take a minute on a loaded host), and a client that fails
 * 60 times in three minutes is guessing. count = 0 asks (rate_hit with limit
 * 0 reads a window without counting); count = 1 records one failure.
 * Returns 1 when locked out, 0 when not, -1 when the store cannot tell (the
 * caller refuses: fail closed).
 *
 * A confirmed lockout is also remembered in-process until it ends, so the
 * warm path (a cached, already verified secret) refuses a locked-out
 * application without a storage round trip. Forgetting such an entry early
 * could only let the right secret through: guesses always reach storage. */
#define LOCAL_BLOCKS 1024
static struct {
	unsigned char key[16];
	int64_t until_us;
} local_blocks[LOCAL_BLOCKS];
static pthread_mutex_t local_blocks_lock = PTHREAD_MUTEX_INITIALIZER;

static void lockout_key(const char *app_id, unsigned char digest[32], char *key, size_t cap)
{
	unsigned int dlen = 32;
	EVP_Digest(app_id, strlen(app_id), digest, &dlen, EVP_sha256(), NULL);
	size_t o = (size_t)snprintf(key, cap, "authfail:");
	for (size_t i = 0; i < 16 && o + 2 < cap; i++)
		o += (size_t)snprintf(key + o, cap - o, "%02x", digest[i]);
}

static size_t block_slot(const unsigned char digest[32])
{
	return ((size_t)digest[16] << 8 | digest[17]) % LOCAL_BLOCKS;
}

static int locally_blocked(const char *app_id, int64_t now_us)
{
	unsigned char digest[32];
	char key[80];
	lockout_key(app_id, digest, key, sizeof key);
	size_t slot = block_slot(digest);
	pthread_mutex_lock(&local_blocks_lock);
	int blocked =
	    memcmp(local_blocks[slot].key, digest, 16) == 0 && local_blocks[slot].until_us > now_us;
	pthread_mutex_unlock(&local_blocks_lock);
	return blocked;
}

static int auth_lockout(const role_deps *deps, const char *app_id, int64_t now_us, int count,
                        caracal_error *err)
{
	unsigned char digest[32];
	char key[80];
	lockout_key(app_id, digest, key, sizeof key);
	int64_t cur = now_us - now_us % AUTH_WINDOW_US;
	uint64_t total = 0;
	for (int w = 0; w < AUTH_WINDOWS; w++) {
		uint64_t in_window = 0;
		int rc = deps->storage->rate_hit(deps->storage_tctx, key, cur - w * AUTH_WINDOW_US,
		                                 AUTH_WINDOW_US, count && w == 0 ? UINT64_MAX : 0,
		                                 &in_window, err);
		if (rc != CARACAL_OK && rc != CARACAL_E_DENIED)
			return -1;
		total += in_window;
	}
	if (total <= AUTH_FAILURE_LIMIT)
		return 0;
	size_t slot = block_slot(digest);
	pthread_mutex_lock(&local_blocks_lock);
	memcpy(local_blocks[slot].key, digest, 16);
	local_blocks[slot].until_us = cur + AUTH_WINDOWS * AUTH_WINDOW_US;
	pthread_mutex_unlock(&local_blocks_lock);
	return 1;
}

/* ---- the pipeline (worker) ------------------------------------------------ */

struct granted {
	const char *identifier;
	const char *id;
	const char *upstream_url; /* NULL: none */
	int64_t max_ttl_s;        /* 0: no obligation */
};

/* What one mandate is made of once every check has passed. */
struct issuance {
	const char *zone;
	const char *app_id; /* client_id */
	const char *subject;
	const char *sub_type;      /* application | user */
	const char *use;           /* session | gateway | resource */
	const char *scope;         /* minted verbatim; NULL or "": none */
	const char *const *target; /* NULL: no target claim, no target_resources */
	size_t target_count;
	int64_t ttl_s;
	int64_t now_us;
	const char *approval_id;        /* consumed with the record; NULL: none */
	const char *record_claims_json; /* stored with the authority record */
	json_t *determining;            /* audit: reference taken; NULL: none */
	json_t *audit_extra;            /* audit metadata: reference taken; NULL: none */
	/* use=resource: aud is the target; otherwise [issuer]. */
	const char *root_sid;             /* NULL: the new record's own id */
	const char *parent_id;            /* the presented record (use=resource); NULL: none */
	const char *agent_session_id;     /* the governed session; NULL: none */
	const sts_delegation *delegation; /* the edge in play; NULL: none */
	/* Gateway exchanges: one upstream directive per granted resource. */
	const struct granted *upstreams;
	size_t upstream_count;
	/* §2.9 re-issue: another bearer for this existing record (no new record,
	 * no consumption; the TTL ends with the record). */
	const caracal_authority_record *reissue;
	const char *reissued_approval_id;
};

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

/* Sign, persist (jti, approval, authority record) and answer. Every failure
 * answers an error and leaves no live record. */
static void issue(struct token_job *job, const role_deps *deps, const struct issuance *is)
{
	caracal_error err = {0};
	caracal_arena *arena = job->arena;
	const settings *st = deps->settings;
	json_t *determining = is->determining, *audit_extra = is->audit_extra;
	int64_t iat = is->now_us / 1000000;
	int64_t ttl = is->ttl_s;
	char sid[UUID_TEXT_LEN + 1], jti[UUID_TEXT_LEN + 1];
	if (uuid_v7(sid) != 0 || uuid_v7(jti) != 0) {
		set_error(job, 500, "internal_error", "token issuance failed");
		goto out;
	}
	if (is->reissue != NULL) {
		int64_t left = (is->reissue->expires_at_us - is->now_us) / 1000000;
		if (left <= 0) {
			set_error(job, 409, "approval_consumed", "approval already consumed");
			goto out;
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
		caracal_error ae = {0};
		if (audit_exchange(job, "deny", "signing_failed", NULL, NULL, NULL, &ae) !=
		    CARACAL_OK)
			goto audit_failed;
		set_error(job, 500, "internal_error", "token issuance failed");
		goto out;
	}

	/* §2.14, §2.9, §2.4 step 15: the jti registered once, the approval
	 * consumed once, the authority record written — after every step that
	 * can still refuse the token, so no refused exchange leaves a live
	 * record. */
	char jti_key[64];
	snprintf(jti_key, sizeof jti_key, "jti:%s", jti);
	caracal_authority_record rec = {
	    .size = sizeof rec,
	    .id = sid,
	    .zone_id = is->zone,
	    .session_type = is->sub_type,
	    .subject_id = is->subject,
	    .parent_id = is->parent_id,
	    .status = "active",
	    .expires_at_us = exp * 1000000,
	    .authenticated_at_us = is->now_us,
	    .claims_json = {is->record_claims_json, strlen(is->record_claims_json)},
	};
	const caracal_mint_write mw = {
	    .size = sizeof mw,
	    .record = &rec,
	    .jti = jti_key,
	    .jti_expires_at_us = exp * 1000000,
	    .approval_id = is->approval_id,
	    .at_us = is->now_us,
	};
	int conflict = 0;
	if (is->reissue != NULL) {
		rc = deps->storage->single_use_claim(deps->storage_tctx, is->zone, jti_key,
		                                     exp * 1000000, &err);
		if (rc == CARACAL_E_CONFLICT)
			conflict = CARACAL_MINT_CONFLICT_JTI;
	} else {
		rc = mint_persist(deps->storage, deps->storage_tctx, &mw, &conflict, &err);
	}
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: mint writes: %s", job->request_id, err.message);
		if (conflict == CARACAL_MINT_CONFLICT_JTI) {
			caracal_error ae = {0};
			json_t *anomaly = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "request_id",
			                            job->request_id, "decision", "deny",
			                            "evaluation_status", "anomaly", "metadata",
			                            "jti", jti, "application_id", is->app_id);
			role_audit(is->zone, "jti_collision", anomaly, &ae);
			json_decref(anomaly);
		}
		if (conflict == CARACAL_MINT_CONFLICT_APPROVAL)
			set_error(job, 409, "approval_consumed", "approval already consumed");
		else
			set_error(job, 500, "internal_error", "token issuance failed");
		goto out;
	}
	if (is->approval_id != NULL || is->reissued_approval_id != NULL) {
		caracal_error ae = {0};
		json_t *consumed = json_pack(
		    "{s:s, s:s, s:s, s:{s:s, s:s, s:b}}", "request_id", job->request_id, "decision",
		    "consumed", "evaluation_status", "step_up_consumed", "metadata", "challenge_id",
		    is->approval_id != NULL ? is->approval_id : is->reissued_approval_id,
		    "authority_record_id", sid, "reissued", is->reissue != NULL);
		rc = role_audit(is->zone, "step_up_consumed", consumed, &ae);
		json_decref(consumed);
		if (rc != CARACAL_OK)
			goto audit_failed;
	}

	json_t *extra = json_pack("{s:s, s:s, s:I}", "authority_record_id", sid, "jti", jti,
	                          "expires_at", (json_int_t)exp);
	if (extra != NULL && is->target != NULL)
		json_object_set_new(extra, "target", array_of(is->target, is->target_count));
	if (extra != NULL && audit_extra != NULL)
		json_object_update(extra, audit_extra);
	rc = audit_exchange(job, "allow", "issued", NULL, determining, extra, &err);
	determining = NULL; /* audit_exchange took them */
	if (rc != CARACAL_OK) {
		/* No token leaves without its evidence; the record it would have
		 * anchored is revoked so nothing can build on it. */
		caracal_error re = {0};
		uint64_t changed = 0;
		caracal_revocation rv = {.size = sizeof rv,
		                         .zone_id = is->zone,
		                         .kind = CARACAL_REVOKE_AUTHORITY_RECORD,
		                         .target_id = sid,
		                         .reason = "audit_unavailable",
		                         .revoked_at_us = clock_now_us()};
		if (deps->storage->revoke(deps->storage_tctx, &rv, &changed, &re) != CARACAL_OK)
			log_error("sts", "request %s: could not revoke record %s: %s",
			          job->request_id, sid, re.message);
		goto audit_failed;
	}

	jsonw w;
	jsonw_init(&w);
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
	job->dw.body = jsonw_finish(&w, &job->dw.body_len);
	if (job->dw.body == NULL) {
		set_error(job, 500, "internal_error", "token issuance failed");
		goto out;
	}
	job->dw.status = 200;
	job->dw.content_type = "application/json";
	goto out;

audit_failed:
	/* Evidence that cannot be recorded means no token (§2.4). */
	log_error("sts", "request %s: audit: %s", job->request_id, err.message);
	free(job->dw.body);
	job->dw.body = NULL;
	audit_lost(job);
out:
	json_decref(determining);
	json_decref(audit_extra);
}

static int present(const char *v)
{
	return v != NULL && v[0] != '\0';
}

/* §2.4 step 9d: (UPPER(trim(method)), trim(path)) must be one of the
 * resource's declared operations, and the presented mandate's scope must
 * hold that operation's scope. Anything unreadable refuses. */
static int operation_permitted(const caracal_resource *res, const char *method, const char *path,
                               const char *mandate_scope)
{
	if (method == NULL || path == NULL || res->operations_json.ptr == NULL)
		return 0;
	char m[16], p[1024];
	size_t ml = 0, pl = 0;
	while (*method == ' ' || *method == '\t')
		method++;
	for (; method[ml] != '\0' && method[ml] != ' ' && method[ml] != '\t'; ml++) {
		if (ml + 1 >= sizeof m)
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

/* Whether the array claim name of a verified token holds value. */
static int claim_lists(const json_t *claims, const char *name, const char *value)
{
	size_t i;
	const json_t *v;
	json_array_foreach(json_object_get(claims, name), i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
			return 1;
	}
	return 0;
}

/* A string claim of a verified token, copied into the arena (NULL when
 * absent or not a string). */
static const char *claim_copy(caracal_arena *arena, const json_t *claims, const char *name)
{
	const json_t *v = json_object_get(claims, name);
	return json_is_string(v) ? arena_strndup(arena, json_string_value(v), json_string_length(v))
	                         : NULL;
}

/* §2.13: 0 or absent → 900 s; negative or over the cap (3600 s without a
 * subject token, 900 s with one) is refused, never clamped. 0, or -1 with
 * the error set. */
static int requested_ttl(struct token_job *job, int64_t cap, int64_t *ttl)
{
	const sts_form *f = &job->form;
	*ttl = DEFAULT_TTL_S;
	if (!f->has_ttl)
		return 0;
	if (f->ttl_seconds < 0) {
		set_error(job, 400, "invalid_token", "ttl_seconds must be positive");
		return -1;
	}
	if (f->ttl_seconds > cap) {
		set_error(job, 400, "invalid_token", "ttl_seconds exceeds token TTL cap");
		return -1;
	}
	if (f->ttl_seconds > 0)
		*ttl = f->ttl_seconds;
	return 0;
}

/* §2.11: an id_token from one of the zone's registered issuers becomes a
 * user-typed session mandate (use=session, sub_type=user, no scope, no
 * target) over a new user authority record. No policy runs: the synthetic
 * determining policy is caracal-subject-federation. */
static void federation_exchange(struct token_job *job, const role_deps *deps,
                                const caracal_application *app, int64_t now_us)
{
	const sts_form *f = &job->form;
	caracal_error err = {0};
	if (f->resource_count > 0 || present(f->scope) || present(f->session_id) ||
	    present(f->agent_session_id) || present(f->delegation_edge_id) ||
	    present(f->approval_id)) {
		if (audit_exchange(job, "deny", "subject_federation_invalid", NULL, NULL, NULL,
		                   &err) != CARACAL_OK) {
			audit_lost(job);
			return;
		}
		set_error(job, 400, "invalid_token",
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
		set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return;
	}
	if (fr != STS_FEDERATION_OK) {
		log_info("sts", "request %s: id_token refused: %s", job->request_id, why);
		if (audit_exchange(job, "deny", "subject_federation_rejected", NULL, NULL,
		                   json_pack("{s:s}", "reason", why), &err) != CARACAL_OK) {
			audit_lost(job);
			return;
		}
		char desc[300];
		snprintf(desc, sizeof desc, "invalid subject_token: %s", why);
		set_error(job, 401, "invalid_token", desc);
		return;
	}
	int64_t ttl;
	if (requested_ttl(job, TTL_CAP_NO_SUBJECT_S, &ttl) != 0)
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
		set_error(job, 500, "internal_error", "token issuance failed");
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
	    .determining = json_pack("[{s:s}]", "policy", "caracal-subject-federation"),
	    .audit_extra =
	        json_pack("{s:s, s:s}", "subject_kind", "user", "federated_user_issuer", issuer),
	};
	issue(job, deps, &is);
}

/* §2.5: the client's secret, with the failure lockout. 0 when
 * authenticated, else the answer is set. */
/* §2.5 / §7.3: the application exists in another zone and the secret
 * verifies against it there. Only then may the answer say so (zone_invalid):
 * without the secret, nothing tells an existing id from an unknown one.
 * 1 yes, 0 no, -1 busy (too many cold verifications). */
static int known_in_other_zone(const role_deps *deps, const char *zone, const char *app_id,
                               const char *secret, caracal_arena *arena, int64_t now_us)
{
	caracal_application other = {.size = sizeof other};
	caracal_error err = {0};
	if (role_application_find(deps->storage, deps->storage_tctx, app_id, arena, &other, &err) !=
	        CARACAL_OK ||
	    other.zone_id == NULL || strcmp(other.zone_id, zone) == 0 ||
	    other.archived_at_us != 0 ||
	    (other.expires_at_us != 0 && other.expires_at_us <= now_us) ||
	    other.client_secret_hash == NULL)
		return 0;
	if (client_auth_warm(other.client_secret_hash, secret, strlen(secret)))
		return 1;
	client_auth_result ar =
	    client_auth_cold(other.client_secret_hash, secret, strlen(secret), COLD_VERIFY_WAIT_MS);
	return ar == CLIENT_AUTH_BUSY ? -1 : ar == CLIENT_AUTH_OK;
}

static int client_authenticate(struct token_job *job, const role_deps *deps, const char *zone,
                               const char *app_id, const caracal_application *app, int app_live,
                               int not_in_zone, int64_t now_us)
{
	const sts_form *f = &job->form;
	caracal_error err = {0};
	int usable = app_live && f->client_secret != NULL && app->client_secret_hash != NULL;
	const char *secret = f->client_secret != NULL ? f->client_secret : "";
	if (app_id[0] != '\0' && locally_blocked(app_id, now_us)) {
		set_error(job, 429, "provider_rate_limited", "authentication rate limit exceeded");
		return -1;
	}
	int authenticated =
	    usable && client_auth_warm(app->client_secret_hash, secret, strlen(secret));
	if (!authenticated) {
		/* Only a cold verification can be a guess: the lockout (cluster-wide,
		 * in storage, so no table eviction can reset it) is consulted before
		 * the Argon2id work and counts every failure. */
		int lock = auth_lockout(deps, app_id, now_us, 0, &err);
		if (lock < 0) {
			set_error(job, 429, "provider_rate_limited",
			          "authentication rate limit unavailable");
			return -1;
		}
		if (lock > 0) {
			set_error(job, 429, "provider_rate_limited",
			          "authentication rate limit exceeded");
			return -1;
		}
		if (usable) {
			client_auth_result ar = client_auth_cold(
			    app->client_secret_hash, secret, strlen(secret), COLD_VERIFY_WAIT_MS);
			if (ar == CLIENT_AUTH_BUSY) {
				set_error(job, 503, "sts_unavailable",
				          "too many client verifications in progress; retry");
				return -1;
			}
			authenticated = ar == CLIENT_AUTH_OK;
		} else if (not_in_zone && app_id[0] != '\0' && zone[0] != '\0' &&
		           f->client_secret != NULL) {
			int other =
			    known_in_other_zone(deps, zone, app_id, secret, job->arena, now_us);
			if (other < 0) {
				set_error(job, 503, "sts_unavailable",
				          "too many client verifications in progress; retry");
				return -1;
			}
			if (other > 0) {
				set_error(job, 403, "zone_invalid",
				          "the application does not belong to this zone");
				return -1;
			}
		}
	}
	if (!authenticated) {
		int lock = auth_lockout(deps, app_id, now_us, 1, &err);
		if (lock != 0) {
			set_error(job, 429, "provider_rate_limited",
			          lock < 0 ? "authentication rate limit unavailable"
			                   : "authentication rate limit exceeded");
			return -1;
		}
		set_error(job, 401, "access_denied", "invalid client credentials");
		return -1;
	}
	return 0;
}

/* §2.10: the gateway's signature over this request and its nonce's single
 * use (cluster-wide, through storage). 0, or the 401 is set. */
static int gateway_authenticate(struct token_job *job, const role_deps *deps, const char *zone,
                                int64_t now_us)
{
	const struct gateway_material *g = &job->gw;
	const sts_gateway_request r = {
	    .timestamp = g->timestamp,
	    .nonce = g->nonce,
	    .signature = g->signature,
	    .request_id = g->request_id,
	    .gateway_request_id = job->form.gateway_request_id,
	    .method = g->method,
	    .escaped_path = g->path,
	    .body = g->body,
	    .body_len = g->body_len,
	    .now_s = now_us / 1000000,
	};
	char why[192] = "";
	int ok = sts_gateway_verify(deps->gen->gateway_key, &r, why, sizeof why) == 0;
	if (ok) {
		char key[STS_GATEWAY_NONCE_MAX + 32];
		caracal_error err = {0};
		ok = sts_gateway_nonce_key(g->nonce, key, sizeof key) == 0 && zone[0] != '\0' &&
		     deps->storage->single_use_claim(deps->storage_tctx, zone, key,
		                                     now_us + STS_GATEWAY_NONCE_TTL_S * 1000000LL,
		                                     &err) == CARACAL_OK;
		if (!ok)
			snprintf(why, sizeof why, "nonce replayed or not recorded: %.120s",
			         err.message);
	}
	if (!ok) {
		log_info("sts", "request %s: gateway exchange refused: %s", job->request_id, why);
		set_error(job, 401, "access_denied", "invalid gateway exchange signature");
		return -1;
	}
	return 0;
}

#define REISSUE_WINDOW_US (120LL * 1000000)

/* §2.9: a consumed approval re-issues within 120 s of its consumption while
 * the record it created is live: 0 with that record in *rec, else -1. */
static int reissuable(const role_deps *deps, const caracal_approval *held, int64_t now_us,
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

/* A request that names only the control audience with control:* scopes, and
 * no subject token, session or delegation (§2.5's empty-zone shape). */
static int pure_control_request(struct token_job *job, const char *audience)
{
	const sts_form *f = &job->form;
	if (present(f->subject_token) || present(f->session_id) || present(f->agent_session_id) ||
	    present(f->delegation_edge_id))
		return 0;
	const char *scopes[MAX_SCOPES];
	int overflow = 0;
	size_t n = split_scopes(job->arena, f->scope, scopes, MAX_SCOPES, &overflow);
	return overflow == 0 &&
	       sts_control_request(f->resources, f->resource_count, scopes, n, audience);
}

/* The zone of the control key app_id ("" when no zone has it as one). */
static const char *control_key_zone(const role_deps *deps, const char *app_id, caracal_arena *arena)
{
	caracal_application a = {.size = sizeof a};
	caracal_error err = {0};
	if (role_application_find(deps->storage, deps->storage_tctx, app_id, arena, &a, &err) !=
	        CARACAL_OK ||
	    a.zone_id == NULL || !sts_control_invoker(&a.traits))
		return "";
	return a.zone_id;
}

/* §2.3 control key: a use=resource mandate for the control audience, no
 * policy (synthetic determining policy "control-key"), TTL capped by the
 * key's control:max-ttl. */
static void control_exchange(struct token_job *job, const role_deps *deps,
                             const caracal_application *app, const char *const *scopes,
                             size_t nscopes, int plain, int64_t now_us)
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
		if (audit_exchange(job, "deny", "control_resource_requires_control_key", audience,
		                   NULL, json_pack("{s:s}", "reason", why), &err) != CARACAL_OK) {
			audit_lost(job);
			return;
		}
		set_error(job, 403, "access_denied", "the control audience requires a control key");
		return;
	}
	int64_t ttl;
	if (requested_ttl(job, TTL_CAP_NO_SUBJECT_S, &ttl) != 0)
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
	    .determining = json_pack("[{s:s}]", "policy", "control-key"),
	};
	issue(job, deps, &is);
}

/* §2.9: the subject a hold is anchored to — the presented token's when it
 * is user-typed, else the governed session's subject when that authority
 * record is a user's — so that only that user may decide it. 0 (anchor NULL:
 * none), or -1 with the answer set (a record that cannot be read fails
 * closed). */
static int hold_anchor(struct token_job *job, const role_deps *deps, const char *subject_kind,
                       const char *subject_id, const sts_delegation *deleg, const char **anchor)
{
	*anchor = NULL;
	if (strcmp(subject_kind, "user") == 0) {
		*anchor = subject_id;
		return 0;
	}
	if (!deleg->has_session || !present(deleg->target.subject_authority_record_id))
		return 0;
	caracal_authority_record r = {.size = sizeof r};
	caracal_error err = {0};
	int rc = deps->storage->authority_record_get(deps->storage_tctx, job->zone,
	                                             deleg->target.subject_authority_record_id,
	                                             job->arena, &r, &err);
	if (rc != CARACAL_OK) {
		log_error("sts", "request %s: session subject record: %s", job->request_id,
		          err.message);
		set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return -1;
	}
	if (r.session_type != NULL && strcmp(r.session_type, "user") == 0)
		*anchor = r.subject_id;
	return 0;
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
		set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return;
	}
	const settings *st = deps.settings;
	client_auth_init((int)st->secret_verify_concurrency);
	int64_t now_us = clock_now_us();

	/* §2.5: client authentication. application_id and zone_id are trimmed. */
	const char *app_id = sts_trim(arena, f->application_id);
	const char *zone = sts_trim(arena, f->zone_id);
	if (app_id == NULL || zone == NULL) {
		set_error(job, 503, "sts_unavailable", "out of memory");
		return;
	}
	/* §2.5: a control key may leave zone_id out of a pure control request;
	 * the zone is then its own. */
	if (zone[0] == '\0' && app_id[0] != '\0' && pure_control_request(job, st->control_audience))
		zone = control_key_zone(&deps, app_id, arena);
	caracal_application app = {.size = sizeof app};
	int rc = CARACAL_E_NOTFOUND;
	if (app_id[0] != '\0' && zone[0] != '\0')
		rc = deps.storage->application_get(deps.storage_tctx, zone, app_id, arena, &app,
		                                   &err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		/* A storage fault is not a failed login: never counted, never 401. */
		log_error("sts", "request %s: storage: %s", job->request_id, err.message);
		set_error(job, 503, "sts_unavailable", "the token service is unavailable");
		return;
	}
	int app_live = rc == CARACAL_OK && app.archived_at_us == 0 &&
	               (app.expires_at_us == 0 || app.expires_at_us > now_us);
	int has_subject = f->subject_token != NULL && f->subject_token[0] != '\0';
	const int gw = job->gateway;
	if (gw) {
		/* §2.5: the gateway vouches for the caller; no secret, no limiter,
		 * but a subject token (its mandate) is required. */
		if (gateway_authenticate(job, &deps, zone, now_us) != 0)
			return;
		if (!app_live || !has_subject) {
			set_error(job, 401, "access_denied", "invalid client credentials");
			return;
		}
	} else if (client_authenticate(job, &deps, zone, app_id, &app, app_live,
	                               rc == CARACAL_E_NOTFOUND, now_us) != 0) {
		return;
	}
	job->zone = zone;

	/* §2.11: an id_token is exchanged for a user session, nothing else. */
	if (!gw && has_subject && strcmp(f->subject_token_type, STS_TOKEN_TYPE_ID) == 0) {
		federation_exchange(job, &deps, &app, now_us);
		return;
	}
	/* §2.6: a subject token must be one of ours, for this zone, of the
	 * expected use, bound to a live authority record of this client. */
	const char *subject_id = app.id;
	const char *subject_kind = "application";
	const char *token_sid = NULL;
	const char *subject_claims_json = NULL; /* for the policy input */
	const char *token_use = NULL, *token_scope = NULL, *token_root_sid = NULL;
	const char *token_agent_session = NULL, *token_edge = NULL;
	jwt subject = {0};
	if (has_subject) {
		char why[128] = "no signing keys for the zone";
		caracal_str jwks = {0};
		int64_t max_age;
		if (jwt_parse(f->subject_token, strlen(f->subject_token), &subject, why,
		              sizeof why) != 0) {
			set_error(job, 401, "invalid_token", "invalid subject_token");
			return;
		}
		rc = deps.signer->jwks(deps.signer_tctx, zone, arena, &jwks, &max_age, &err);
		if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
			jwt_free(&subject);
			set_error(job, 503, "sts_unavailable", "signing keys are unavailable");
			return;
		}
		if (rc != CARACAL_OK ||
		    jwt_verify_signature(&subject, f->subject_token, jwks.ptr, jwks.len, why,
		                         sizeof why) != 0 ||
		    jwt_check_claims(&subject, st->issuer, zone, gw ? "gateway" : "session",
		                     now_us / 1000000, why, sizeof why) != 0) {
			log_info("sts", "request %s: subject token refused: %s", job->request_id,
			         why);
			jwt_free(&subject);
			set_error(job, 401, "invalid_token", "invalid subject_token");
			return;
		}
		const json_t *c = subject.claims;
		token_sid = json_string_value(json_object_get(c, "sid"));
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
		} else if ((rc = deps.storage->authority_record_get(deps.storage_tctx, zone,
		                                                    token_sid, arena, &ar, &err)) !=
		           CARACAL_OK) {
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
		} else if (tsub == NULL || ar.subject_id == NULL ||
		           strcmp(ar.subject_id, tsub) != 0) {
			problem = "authority record subject mismatch";
		} else if (tclient == NULL || strcmp(tclient, app.id) != 0) {
			problem = "authority record client mismatch";
		}
		if (problem != NULL) {
			jwt_free(&subject);
			set_error(job, status, code, problem);
			return;
		}
		subject_id = arena_strndup(arena, tsub, strlen(tsub));
		subject_kind = tkind != NULL && strcmp(tkind, "user") == 0 ? "user" : "application";
		token_sid = arena_strndup(arena, token_sid, strlen(token_sid));
		char *claims_text = json_dumps(subject.claims, JSON_COMPACT);
		if (claims_text != NULL)
			subject_claims_json =
			    arena_strndup(arena, claims_text, strlen(claims_text));
		free(claims_text);
		if (subject_id == NULL || token_sid == NULL || subject_claims_json == NULL) {
			jwt_free(&subject);
			set_error(job, 503, "sts_unavailable", "out of memory");
			return;
		}
		token_use = gw ? "gateway" : "session";
		token_scope = claim_copy(arena, c, "scope");
		token_root_sid = claim_copy(arena, c, "root_sid");
		token_agent_session = claim_copy(arena, c, "agent_session_id");
		token_edge = claim_copy(arena, c, "delegation_edge_id");
	}

	/* §2.4 step 5: the governed session of a subject token is the token's;
	 * a request naming another is refused, never silently overridden. */
	const char *session_id = present(f->session_id) ? f->session_id : token_sid;
	const char *agent_session = f->agent_session_id;
	const char *edge_id = f->delegation_edge_id;
	if (present(token_agent_session)) {
		if (present(agent_session) && strcmp(agent_session, token_agent_session) != 0) {
			jwt_free(&subject);
			set_error(job, 403, "access_denied", "Session mismatch");
			return;
		}
		agent_session = token_agent_session;
	}
	if (present(token_edge)) {
		if (present(edge_id) && strcmp(edge_id, token_edge) != 0) {
			jwt_free(&subject);
			set_error(job, 403, "access_denied", "delegation edge mismatch");
			return;
		}
		edge_id = token_edge;
	}

	if (f->resource_count == 0) {
		jwt_free(&subject);
		set_error(job, 400, "invalid_token", "at least one resource is required");
		return;
	}

	const char *scopes[MAX_SCOPES];
	int overflow;
	/* A gateway re-exchange that names no scope asks for (and mints) the
	 * presented mandate's: evaluated as requested, so a policy sees what the
	 * resource mandate will carry. */
	const char *scope_text = gw && !present(f->scope) ? token_scope : f->scope;
	size_t nscopes = split_scopes(arena, scope_text, scopes, MAX_SCOPES, &overflow);
	if (overflow != 0) {
		jwt_free(&subject);
		if (overflow < 0)
			set_error(job, 503, "sts_unavailable", "out of memory");
		else
			set_error(job, 400, "invalid_token", "too many scopes");
		return;
	}

	/* §2.7: the sessions and delegation named, re-read and re-checked. */
	sts_delegation deleg = {0};
	if (present(session_id) || present(agent_session) || present(edge_id)) {
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
			set_error(job, derr.status, derr.error, derr.description);
			return;
		}
	}
	/* §2.3 / §2.4 step 9f: the control audience is reached only by a
	 * control key, never through a policy. */
	if (sts_control_names_audience(f->resources, f->resource_count, st->control_audience)) {
		control_exchange(job, &deps, &app, scopes, nscopes,
		                 !has_subject && !present(session_id) && !present(agent_session) &&
		                     !present(edge_id),
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
	    .authority_record = present(session_id) ? session_id : "",
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
		if (exchange_binding(job, &deps, arena, &bi, binding) != 0) {
			jwt_free(&subject);
			return;
		}
		caracal_approval held = {.size = sizeof held};
		rc = deps.storage->approval_get(deps.storage_tctx, zone, approval_id, arena, &held,
		                                &err);
		if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
			jwt_free(&subject);
			set_error(job, 503, "sts_unavailable", "the token service is unavailable");
			return;
		}
		/* One answer for every mismatch: the id alone reveals nothing. */
		if (rc == CARACAL_E_NOTFOUND || held.principal_id == NULL ||
		    strcmp(held.principal_id, subject_id) != 0 || held.session_id == NULL ||
		    strcmp(held.session_id, bi.authority_record) != 0 || held.binding_hex == NULL ||
		    strcmp(held.binding_hex, binding) != 0) {
			jwt_free(&subject);
			caracal_error ae = {0};
			if (audit_exchange(job, "deny", "approval_invalid", NULL, NULL,
			                   json_pack("{s:s}", "challenge_id", approval_id),
			                   &ae) != CARACAL_OK) {
				audit_lost(job);
				return;
			}
			set_error(job, 401, "access_denied",
			          "approval not found or bindings do not match");
			return;
		}
		const char *state = approval_state(&held, now_us);
		if (strcmp(state, "approved") == 0) {
			challenge_resolved = 1;
		} else if (strcmp(state, "consumed") == 0 &&
		           reissuable(&deps, &held, now_us, arena, &reissue) == 0) {
			/* §2.9: within 120 s of its consumption the same exchange gets
			 * another bearer for the record the approval created. */
			challenge_resolved = 1;
		} else {
			jwt_free(&subject);
			if (strcmp(state, "pending") == 0) {
				interaction_required(job, approval_id, "pending", held.tier,
				                     binding, held.expires_at_us);
			} else if (strcmp(state, "consumed") == 0) {
				set_error(job, 409, "approval_consumed",
				          "approval already consumed");
			} else if (strcmp(state, "rejected") == 0) {
				set_error(job, 403, "access_denied", "approval rejected");
			} else {
				set_error(job, 401, "access_denied", "approval expired");
			}
			return;
		}
	}
	int evaluations = 0;
evaluate:
	evaluations++;
	struct approval_decl decls[STS_FORM_MAX_RESOURCES];
	size_t ndecls = 0;

	struct granted granted[STS_FORM_MAX_RESOURCES];
	size_t ngranted = 0;
	const char *seen_ids[STS_FORM_MAX_RESOURCES];
	size_t nseen = 0;
	char deny_reason[128] = "";

	for (size_t r = 0; r < f->resource_count; r++) {
		const char *ident = f->resources[r];
		caracal_resource res = {.size = sizeof res};
		rc = deps.storage->resource_get(deps.storage_tctx, zone, ident, arena, &res, &err);
		if (rc == CARACAL_E_NOTFOUND) {
			if (audit_exchange(job, "deny", "resource_not_found", ident, NULL, NULL,
			                   &err) != CARACAL_OK)
				goto audit_failed;
			continue;
		}
		if (rc != CARACAL_OK) {
			log_error("sts", "request %s: storage: %s", job->request_id, err.message);
			set_error(job, 503, "sts_unavailable", "the token service is unavailable");
			goto out;
		}
		/* The same resource named by id and by identifier is one resource:
		 * evaluated, rate-counted and listed once. */
		int seen = 0;
		for (size_t g = 0; g < nseen && !seen; g++)
			seen = strcmp(seen_ids[g], res.id) == 0;
		if (seen)
			continue;
		seen_ids[nseen++] = res.id;

		/* Mintable scopes: the declared ones, plus agent:lifecycle for a
		 * resource with an upstream (§1.8). */
		int scopes_ok = 1;
		for (size_t s = 0; s < nscopes && scopes_ok; s++)
			scopes_ok = in_list(scopes[s], &res.scopes) ||
			            (strcmp(scopes[s], "agent:lifecycle") == 0 &&
			             res.upstream_url != NULL && res.upstream_url[0] != '\0');
		if (!scopes_ok) {
			if (deny_reason[0] == '\0')
				snprintf(deny_reason, sizeof deny_reason, "scope_mismatch");
			if (audit_exchange(job, "deny", "scope_mismatch", ident, NULL, NULL,
			                   &err) != CARACAL_OK)
				goto audit_failed;
			continue;
		}

		/* A gateway mandate reaches only the resources it was minted for (its
		 * target): the reference leaves this to a policy rule
		 * (mandate_target_mismatch); here it is a hard rule, whatever the
		 * policy says. */
		if (gw && !claim_lists(subject.claims, "target", res.identifier)) {
			if (deny_reason[0] == '\0')
				snprintf(deny_reason, sizeof deny_reason,
				         "mandate_target_mismatch");
			if (audit_exchange(job, "deny", "mandate_target_mismatch", ident, NULL,
			                   NULL, &err) != CARACAL_OK)
				goto audit_failed;
			continue;
		}
		/* §2.4 step 9c: a delegation reaches only its own resource. */
		if (deleg.has_edge &&
		    !sts_delegation_allows_resource(&deleg, res.id, res.identifier)) {
			if (deny_reason[0] == '\0')
				snprintf(deny_reason, sizeof deny_reason,
				         "resource_outside_delegation");
			if (audit_exchange(job, "deny", "resource_outside_delegation", ident, NULL,
			                   NULL, &err) != CARACAL_OK)
				goto audit_failed;
			continue;
		}
		/* §2.4 step 9d: the operation floor of an enforced resource. */
		if (gw && res.operation_enforcement != NULL &&
		    strcmp(res.operation_enforcement, "enforced") == 0 &&
		    !operation_permitted(&res, f->request_method, f->request_path, token_scope)) {
			if (audit_exchange(job, "deny", "operation_not_permitted", ident, NULL,
			                   json_pack("{s:s?, s:s?}", "method", f->request_method,
			                             "path", f->request_path),
			                   &err) != CARACAL_OK)
				goto audit_failed;
			set_error(
			    job, 403, "operation_not_permitted",
			    "the operation is not declared for this resource or not in scope");
			goto out;
		}

		/* §2.12: fixed 60 s window per (zone, resource, application),
		 * counted once per exchange (not again when an approved hold makes
		 * the resources be evaluated a second time). */
		char key[512];
		snprintf(key, sizeof key, "mint:%s:%s:%s", zone, res.id, app.id);
		int64_t window = 60 * 1000000LL;
		uint64_t count = 0;
		rc = evaluations > 1
		         ? CARACAL_OK
		         : deps.storage->rate_hit(deps.storage_tctx, key, now_us - now_us % window,
		                                  window, (uint64_t)st->mint_rate_limit_per_min,
		                                  &count, &err);
		if (rc != CARACAL_OK) {
			if (deny_reason[0] == '\0')
				snprintf(deny_reason, sizeof deny_reason, "rate_limited");
			if (audit_exchange(job, "deny", "rate_limited", ident, NULL, NULL, &err) !=
			    CARACAL_OK)
				goto audit_failed;
			continue;
		}

		struct grant_union gu = {.arena = arena};
		rc = deps.storage->grant_list(deps.storage_tctx, zone, app.id, res.id,
		                              collect_grant, &gu, &err);
		if (rc != CARACAL_OK || gu.failed) {
			set_error(job, 503, "sts_unavailable", "the token service is unavailable");
			goto out;
		}

		sts_policy_input pin = {
		    .zone_id = zone,
		    .app = &app,
		    .subject_kind = subject_kind,
		    .subject_id = subject_id,
		    .resource = &res,
		    .grant_scopes = gu.scopes,
		    .grant_scope_count = gu.count,
		    .requested_scopes = scopes,
		    .requested_scope_count = nscopes,
		    .requested_ttl_s = f->has_ttl ? f->ttl_seconds : 0,
		    .trace_id = job->request_id,
		    .now_s = now_us / 1000000,
		    .challenge_resolved = challenge_resolved,
		    .subject_claims_json = subject_claims_json,
		    .subject_claims_len =
		        subject_claims_json != NULL ? strlen(subject_claims_json) : 0,
		    .session_id = present(session_id) ? session_id : NULL,
		    .use = use,
		    .method = gw ? f->request_method : NULL,
		    .path = gw ? f->request_path : NULL,
		    .agent_session = deleg.has_session ? &deleg.target : NULL,
		    .edge = deleg.has_edge ? &deleg.edge : NULL,
		    .edge_path = deleg.path,
		    .edge_path_len = deleg.path_len,
		    .graph_epoch = deleg.graph_epoch,
		};
		size_t input_len = 0;
		char *input_text = sts_policy_input_text(&pin, &input_len);
		if (input_text == NULL) {
			set_error(job, 500, "internal_error", "cannot build the policy input");
			goto out;
		}
		caracal_policy_decision dec = {.size = sizeof dec};
		rc = deps.policy->evaluate(deps.policy_tctx, zone, input_text, input_len, arena,
		                           &dec, &err);
		free(input_text);
		if (rc != CARACAL_OK) {
			log_error("sts", "request %s: policy: %s", job->request_id, err.message);
			caracal_error ae = {0};
			if (audit_exchange(job, "deny", "policy_eval_failed", ident, NULL, NULL,
			                   &ae) != CARACAL_OK)
				goto audit_failed;
			set_error(job, 503, "policy_eval_failed", "policy evaluation failed");
			goto out;
		}
		json_error_t je;
		json_t *determining = dec.determining_policies.ptr != NULL
		                          ? json_loadb(dec.determining_policies.ptr,
		                                       dec.determining_policies.len, 0, &je)
		                          : NULL;
		json_t *reasons = dec.reasons.ptr != NULL
		                      ? json_loadb(dec.reasons.ptr, dec.reasons.len, 0, &je)
		                      : NULL;
		const char *first_reason = NULL;
		if (json_is_array(reasons) && json_array_size(reasons) > 0) {
			json_t *r0 = json_array_get(reasons, 0);
			first_reason = json_is_string(r0)
			                   ? json_string_value(r0)
			                   : json_string_value(json_object_get(r0, "reason"));
		}
		/* An obligation the core cannot read is not an obligation it may
		 * drop: an allow whose obligations do not parse, or whose
		 * max_ttl_seconds is not a positive integer, is a policy failure. */
		int64_t max_ttl = 0;
		int obligations_ok = 1;
		if (dec.effect == CARACAL_EFFECT_ALLOW && dec.obligations.ptr != NULL &&
		    dec.obligations.len > 0) {
			json_t *obl = json_loadb(dec.obligations.ptr, dec.obligations.len, 0, &je);
			json_t *mt = json_object_get(obl, "max_ttl_seconds");
			if (!json_is_object(obl))
				obligations_ok = 0;
			else if (mt != NULL &&
			         (!json_is_integer(mt) || json_integer_value(mt) <= 0))
				obligations_ok = 0;
			else if (mt != NULL)
				max_ttl = (int64_t)json_integer_value(mt);
			json_decref(obl);
		}
		if (!obligations_ok) {
			json_decref(determining);
			json_decref(reasons);
			log_error("sts", "request %s: unreadable policy obligations",
			          job->request_id);
			caracal_error ae = {0};
			if (audit_exchange(job, "deny", "policy_eval_failed", ident, NULL, NULL,
			                   &ae) != CARACAL_OK)
				goto audit_failed;
			set_error(job, 503, "policy_eval_failed", "policy evaluation failed");
			goto out;
		}
		if (dec.effect == CARACAL_EFFECT_ALLOW) {
			granted[ngranted++] =
			    (struct granted){res.identifier, res.id, res.upstream_url, max_ttl};
			rc = audit_exchange(
			    job, "allow", "complete", ident, determining,
			    json_pack("{s:s?}", "policy_version_id", dec.policy_version_id), &err);
		} else {
			if (dec.effect == CARACAL_EFFECT_APPROVAL_REQUIRED && !challenge_resolved &&
			    collect_approval(arena, &dec, &decls[ndecls]) == 0)
				ndecls++;
			/* APPROVAL_REQUIRED grants nothing by itself (the gate below asks
			 * for the approval); a malformed approval block denies. */
			const char *why = dec.effect == CARACAL_EFFECT_APPROVAL_REQUIRED
			                      ? "approval_required"
			                      : (first_reason != NULL ? first_reason : "denied");
			if (deny_reason[0] == '\0')
				snprintf(deny_reason, sizeof deny_reason, "%s", why);
			rc = audit_exchange(
			    job, "deny", why, ident, determining,
			    json_pack("{s:s?}", "policy_version_id", dec.policy_version_id), &err);
		}
		json_decref(reasons);
		if (rc != CARACAL_OK)
			goto audit_failed;
	}

	/* §2.9 gate: an approval is required and was not presented. An approved
	 * hold for exactly this exchange resolves it without its id (and is
	 * consumed by it): the resources are evaluated again, resolved. */
	if (ndecls > 0) {
		char approved[37];
		const char *anchor = NULL;
		if (hold_anchor(job, &deps, subject_kind, subject_id, &deleg, &anchor) != 0)
			goto out;
		if ((binding[0] != '\0' ||
		     exchange_binding(job, &deps, arena, &bi, binding) == 0) &&
		    approval_gate(job, &deps, &bi, binding, anchor, decls, ndecls, now_us,
		                  approved) == 1 &&
		    evaluations == 1) {
			approval_id = arena_strndup(arena, approved, strlen(approved));
			if (approval_id == NULL) {
				set_error(job, 503, "sts_unavailable", "out of memory");
				goto out;
			}
			challenge_resolved = 1;
			goto evaluate;
		}
		if (job->dw.body == NULL)
			set_error(job, 500, "internal_error", "approval hold could not be created");
		goto out;
	}

	if (ngranted == 0) {
		json_t *requested = array_of(f->resources, f->resource_count);
		if (audit_exchange(job, "deny", "exchange_denied", NULL, NULL,
		                   json_pack("{s:o}", "requested", requested), &err) != CARACAL_OK)
			goto audit_failed;
		char desc[192];
		if (deny_reason[0] != '\0')
			snprintf(desc, sizeof desc, "policy denied (%s)", deny_reason);
		else
			snprintf(desc, sizeof desc, "policy denied");
		set_error(job, 403, "access_denied", desc);
		goto out;
	}

	/* §2.4 step 12: a subject token is only ever exchanged through the
	 * gateway (even when a permissive policy allowed it). */
	if (has_subject && !gw) {
		set_error(job, 403, "access_denied", "resource exchanges must use the Gateway");
		goto out;
	}

	/* §2.13: TTL errors surface only now, after policy and audit; a
	 * delegation and the policy's obligations only ever shorten it. */
	int64_t ttl;
	if (requested_ttl(job, has_subject ? TTL_CAP_SUBJECT_S : TTL_CAP_NO_SUBJECT_S, &ttl) != 0)
		goto out;
	if (deleg.has_edge && sts_delegation_narrow_ttl(&deleg, now_us, &ttl) != 0) {
		set_error(job, 403, "access_denied", "delegation expired");
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
	const char *root_sid = strcmp(use, "session") == 0 ? NULL
	                       : present(token_root_sid)   ? token_root_sid
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
	    .audit_extra = deleg.has_edge
	                       ? json_pack("{s:s, s:s, s:I}", "agent_session_id", deleg.target.id,
	                                   "delegation_edge_id", deleg.edge.id,
	                                   "delegation_hop_count", (json_int_t)deleg.path_len)
	                       : NULL,
	};
	issue(job, &deps, &is);
	goto out;

audit_failed:
	/* Evidence that cannot be recorded means no token (§2.4). */
	log_error("sts", "request %s: audit: %s", job->request_id, err.message);
	free(job->dw.body);
	job->dw.body = NULL;
	audit_lost(job);
out:
	jwt_free(&subject);
}

/* Every failure of an authenticated exchange is evidence too: a storage,
 * key or engine fault that answered 5xx without a denial event gets one
 * (its evaluation_status the error code). Unauthenticated requests write
 * nothing into a zone's chain; a failed audit is not retried into itself. */
static void token_run(deferred_work *dw, worker_ctx *wc)
{
	struct token_job *job = (struct token_job *)dw;
	exchange_run(dw, wc);
	if (dw->status < 500 || job->zone == NULL || job->denial_audited || job->audit_lost ||
	    job->error_code == NULL)
		return;
	caracal_error err = {0};
	if (audit_exchange(job, "deny", job->error_code, NULL, NULL, NULL, &err) != CARACAL_OK)
		log_error("sts", "request %s: the failure could not be audited: %s",
		          job->request_id, err.message);
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
	if (pr != 0) {
		if (pr == -2)
			respond_now(rc, request_id, 503, "sts_unavailable", "out of memory");
		else
			respond_now(rc, request_id, fe.status, fe.error, fe.description);
		arena_free(arena);
		free(job);
		return;
	}
	/* §2.10: any of the gateway headers makes this a gateway-authenticated
	 * exchange (checked on the worker, where the key is), never a plain
	 * client exchange. */
	if (capture_gateway(req, job) != 0) {
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

/* ---- JWKS ------------------------------------------------------------------- */

struct jwks_job {
	deferred_work dw;
	char zone[256];
	char cache_control[64];
};

static void jwks_run(deferred_work *dw, worker_ctx *wc)
{
	struct jwks_job *job = (struct jwks_job *)dw;
	caracal_error err = {0};
	role_deps deps;
	dw->content_type = "application/json";
	if (role_deps_get(wc, ROLE_NEEDS_SIGNER, &deps, &err) != CARACAL_OK) {
		dw->status = 503;
		dw->body =
		    strdup("{\"error\":\"sts_unavailable\",\"error_description\":\"no signer\"}");
		dw->body_len = dw->body ? strlen(dw->body) : 0;
		return;
	}
	caracal_arena *arena = arena_new();
	caracal_str json = {0};
	int64_t max_age = 300;
	int rc = arena != NULL
	             ? deps.signer->jwks(deps.signer_tctx, job->zone, arena, &json, &max_age, &err)
	             : CARACAL_E_NOMEM;
	if (rc == CARACAL_OK && json.ptr != NULL) {
		dw->status = 200;
		dw->body = malloc(json.len);
		if (dw->body != NULL) {
			memcpy(dw->body, json.ptr, json.len);
			dw->body_len = json.len;
		} else {
			dw->status = 503;
		}
		snprintf(job->cache_control, sizeof job->cache_control,
		         "public, max-age=%lld, must-revalidate", (long long)max_age);
		dw->headers[0] = (http_header){"Cache-Control", 13, job->cache_control,
		                               strlen(job->cache_control)};
		dw->headers[1] = (http_header){"X-Content-Type-Options", 22, "nosniff", 7};
		dw->header_count = 2;
	} else if (rc == CARACAL_E_NOTFOUND) {
		dw->status = 404;
		dw->body = strdup("{\"error\":\"resource_not_found\",\"error_description\":\"no "
		                  "signing keys for this zone\"}");
		dw->body_len = dw->body ? strlen(dw->body) : 0;
	} else {
		log_error("sts", "jwks for zone %s: %s", job->zone, err.message);
		dw->status = 500;
		dw->body = strdup("{\"error\":\"internal_error\",\"error_description\":\"keys "
		                  "unavailable\"}");
		dw->body_len = dw->body ? strlen(dw->body) : 0;
	}
	arena_free(arena);
}

/* Find and percent-decode one query parameter; 0 when found and valid. */
static int query_param(const char *query, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = query;
	while (*p != '\0') {
		const char *end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t o = 0;
			for (const char *q = p + nlen + 1; q < end; q++) {
				if (o + 1 >= cap)
					return -1;
				if (*q == '%' && q + 2 < end + 0 + 1 &&
				    isxdigit((unsigned char)q[1]) &&
				    isxdigit((unsigned char)q[2])) {
					char hex[3] = {q[1], q[2], 0};
					char c = (char)strtol(hex, NULL, 16);
					if (c == '\0')
						return -1;
					out[o++] = c;
					q += 2;
				} else if (*q == '%') {
					return -1;
				} else {
					out[o++] = *q == '+' ? ' ' : *q;
				}
			}
			out[o] = '\0';
			return o > 0 ? 0 : -1;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return -1;
}

static void route_jwks(request_ctx *rc)
{
	struct jwks_job *job = calloc(1, sizeof *job);
	if (job == NULL) {
		server_respond_error(rc, 503, "sts_unavailable", "out of memory");
		return;
	}
	if (query_param(rc->req->query, "zone_id", job->zone, sizeof job->zone) != 0) {
		free(job);
		server_respond_error(rc, 400, "invalid_token", "zone_id is required");
		return;
	}
	job->dw.run = jwks_run;
	server_defer(rc, &job->dw);
}

void sts_routes_register(void)
{
	server_route(ROLE_STS, "POST", "/oauth/2/token", route_token);
	server_route(ROLE_STS, "GET", "/.well-known/jwks.json", route_jwks);
	approvals_routes_register();
}
