/* exchange.c — answers, audit events and small helpers of an exchange. */
#include "roles/sts/exchange.h"

#include "roles/sts/client_auth.h"
#include "roles/sts/control_key.h"
#include "roles/sts/federation.h"
#include "roles/sts/gateway_auth.h"
#include "roles/sts/jwt.h"
#include "roles/sts/mandate.h"
#include "roles/sts/mint_persist.h"
#include "roles/sts/sts.h"

#include "host.h"
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

void sts_set_json(struct token_job *job, int status, json_t *body)
{
	json_object_set_new(body, "requestId", json_string(job->request_id));
	job->dw.status = status;
	job->dw.content_type = "application/json";
	free(job->dw.body); /* a later answer replaces an earlier one */
	job->dw.body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	job->dw.body_len = job->dw.body != NULL ? strlen(job->dw.body) : 0;
	if (job->dw.body == NULL)
		job->dw.status = 500;
	json_decref(body);
}

void sts_set_error(struct token_job *job, int status, const char *error, const char *description)
{
	job->error_code = error;
	sts_set_json(job, status,
	             json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

/* Evidence that cannot be recorded means no token (§2.4); the failure is
 * logged, not audited again (the audit path is what failed). */
void sts_audit_lost(struct token_job *job, const caracal_error *cause)
{
	log_error("sts", "request %s: audit: %s", job->request_id,
	          cause != NULL && cause->message[0] != '\0' ? cause->message : "unavailable");
	sts_set_error(job, 500, "internal_error", "audit evidence could not be recorded");
	job->audit_lost = 1;
}

struct later_event {
	struct later_event *next;
	const char *decision, *status, *resource, *determining;
	jsonw_member extra[STS_AUDIT_EXTRA_MAX];
	size_t n_extra;
};

static int audit_exchange_now(struct token_job *job, const char *decision, const char *status,
                              const char *resource, const char *determining,
                              const jsonw_member *extra, size_t n_extra, caracal_error *err);

int sts_audit_flush_later(struct token_job *job, caracal_error *err)
{
	while (job->later_head != NULL) {
		const struct later_event *e = job->later_head;
		int rc = audit_exchange_now(job, e->decision, e->status, e->resource,
		                            e->determining, e->extra, e->n_extra, err);
		if (rc != CARACAL_OK)
			return rc;
		job->later_head = e->next;
	}
	job->later_tail = NULL;
	return CARACAL_OK;
}

int sts_audit_exchange(struct token_job *job, const char *decision, const char *status,
                       const char *resource, const char *determining, const jsonw_member *extra,
                       size_t n_extra, caracal_error *err)
{
	int rc = sts_audit_flush_later(job, err);
	if (rc != CARACAL_OK)
		return rc;
	return audit_exchange_now(job, decision, status, resource, determining, extra, n_extra,
	                          err);
}

/* A copy of s in the job's arena; *failed set when out of memory. */
static const char *keep(struct token_job *job, const char *s, size_t len, int *failed)
{
	if (s == NULL)
		return NULL;
	const char *copy = arena_strndup(job->arena, s, len);
	if (copy == NULL)
		*failed = 1;
	return copy;
}

int sts_members_copy(caracal_arena *arena, jsonw_member *dst, const jsonw_member *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jsonw_member m = src[i]; /* keys are static strings */
		if (m.kind != JSONW_INT && m.s != NULL) {
			m.s = arena_strndup(arena, m.s, m.kind == JSONW_RAW ? m.len : strlen(m.s));
			if (m.s == NULL)
				return -1;
		}
		dst[i] = m;
	}
	return 0;
}

int sts_audit_exchange_later(struct token_job *job, const char *decision, const char *status,
                             const char *resource, const char *determining,
                             const jsonw_member *extra, size_t n_extra, caracal_error *err)
{
	if (n_extra > STS_AUDIT_EXTRA_MAX)
		return caracal_error_set(err, CARACAL_E_INVAL, "too many audit metadata members");
	struct later_event *e = arena_alloc(job->arena, sizeof *e);
	if (e == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot keep audit event");
	int failed = 0;
	*e = (struct later_event){
	    .decision = decision, /* static strings */
	    .status = keep(job, status, status != NULL ? strlen(status) : 0, &failed),
	    .resource = keep(job, resource, resource != NULL ? strlen(resource) : 0, &failed),
	    .determining =
	        keep(job, determining, determining != NULL ? strlen(determining) : 0, &failed),
	    .n_extra = n_extra,
	};
	if (sts_members_copy(job->arena, e->extra, extra, n_extra) != 0)
		failed = 1;
	if (failed)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot keep audit event");
	/* denial_audited only once it is queued (audit_exchange_now). */
	if (job->later_tail != NULL)
		job->later_tail->next = e;
	else
		job->later_head = e;
	job->later_tail = e;
	return CARACAL_OK;
}

static int audit_exchange_now(struct token_job *job, const char *decision, const char *status,
                              const char *resource, const char *determining,
                              const jsonw_member *extra, size_t n_extra, caracal_error *err)
{
	const sts_form *f = &job->form;
	if (strcmp(decision, "deny") == 0)
		job->denial_audited = 1;
	if (n_extra > STS_AUDIT_EXTRA_MAX)
		return caracal_error_set(err, CARACAL_E_INVAL, "too many audit metadata members");
	jsonw_member meta[STS_AUDIT_EXTRA_MAX + 3];
	size_t n = 0;
	meta[n++] = JSONW_MSTR("application_id", f->application_id ? f->application_id : "");
	meta[n++] = JSONW_MSTR("requested_scopes", f->scope ? f->scope : "");
	meta[n++] = JSONW_MSTR("resource", resource);
	for (size_t i = 0; i < n_extra; i++)
		meta[n++] = extra[i];
	jsonw w;
	jsonw_init_cap(&w, 384 + (f->scope != NULL ? strlen(f->scope) : 0));
	jsonw_object_sorted(&w, meta, n);
	size_t meta_len;
	char *meta_text = jsonw_finish(&w, &meta_len);
	if (meta_text == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "cannot build audit event: a metadata member given "
		                         "twice or not UTF-8");
	if (determining == NULL)
		determining = "[]";
	const jsonw_member fields[] = {
	    JSONW_MSTR("request_id", job->request_id),
	    JSONW_MSTR("decision", decision),
	    JSONW_MSTR("evaluation_status", status),
	    JSONW_MRAW("determining_policies", determining, strlen(determining)),
	    JSONW_MRAW("metadata", meta_text, meta_len),
	};
	int rc = role_audit_members(job->zone, "token_exchange", fields,
	                            sizeof fields / sizeof fields[0], err);
	free(meta_text);
	return rc;
}

const char *sts_str_array_text(caracal_arena *arena, const char *const *items, size_t n,
                               size_t *len)
{
	jsonw w;
	jsonw_init(&w);
	jsonw_str_array(&w, items, n);
	size_t l;
	char *text = jsonw_finish(&w, &l);
	const char *copy = text != NULL ? arena_strndup(arena, text, l) : NULL;
	free(text);
	if (copy != NULL && len != NULL)
		*len = l;
	return copy;
}

size_t sts_split_scopes(caracal_arena *arena, const char *scope, const char **out, size_t max,
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

/* NULL on any failure, so a json_pack taking it fails as a whole: a list
 * with an element missing must never reach the policy or a mandate. */
json_t *sts_array_of(const char *const *items, size_t n)
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

int sts_present(const char *v)
{
	return v != NULL && v[0] != '\0';
}

/* Whether the array claim name of a verified token holds value. */
int sts_claim_lists(const json_t *claims, const char *name, const char *value)
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
const char *sts_claim_copy(caracal_arena *arena, const json_t *claims, const char *name)
{
	const json_t *v = json_object_get(claims, name);
	return json_is_string(v) ? arena_strndup(arena, json_string_value(v), json_string_length(v))
	                         : NULL;
}

/* §2.13: 0 or absent → 900 s; negative or over the cap (3600 s without a
 * subject token, 900 s with one) is refused, never clamped. 0, or -1 with
 * the error set. */
int sts_requested_ttl(struct token_job *job, int64_t cap, int64_t *ttl)
{
	const sts_form *f = &job->form;
	*ttl = DEFAULT_TTL_S;
	if (!f->has_ttl)
		return 0;
	if (f->ttl_seconds < 0) {
		sts_set_error(job, 400, "invalid_token", "ttl_seconds must be positive");
		return -1;
	}
	if (f->ttl_seconds > cap) {
		sts_set_error(job, 400, "invalid_token", "ttl_seconds exceeds token TTL cap");
		return -1;
	}
	if (f->ttl_seconds > 0)
		*ttl = f->ttl_seconds;
	return 0;
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static caracal_scope *metrics_scope; /* "core/sts" */

static void metrics_init(void)
{
	metrics_scope = host_scope_new("core", "sts");
}

void sts_metric_count(const char *name, const char *label, uint64_t n)
{
	pthread_once(&metrics_once, metrics_init);
	if (metrics_scope != NULL)
		host_services()->metric_count(metrics_scope, name, label, n);
}
