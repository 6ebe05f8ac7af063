/* approvals.c — see approvals.h. */
#include "roles/sts/approvals.h"
#include "util/uuid.h"

#include "daemon/server.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"

#include <ctype.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MAX_S 25
#define POLL_EVERY_MS 250

/* ---- binding ----------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, de-duplicated, empty values dropped; lower-cased when asked. */
static size_t normalise(const char *const *in, size_t n, int lower, char **out)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == NULL || in[i][0] == '\0')
			continue;
		char *c = strdup(in[i]);
		if (c == NULL)
			continue;
		if (lower)
			for (char *p = c; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		out[m++] = c;
	}
	qsort(out, m, sizeof out[0], cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		if (k > 0 && strcmp(out[k - 1], out[i]) == 0) {
			free(out[i]);
			continue;
		}
		out[k++] = out[i];
	}
	return k;
}

static void put(EVP_MD_CTX *md, const char *s)
{
	EVP_DigestUpdate(md, s, strlen(s));
}

static void put_nul(EVP_MD_CTX *md)
{
	EVP_DigestUpdate(md, "", 1);
}

int approval_binding_hex(const approval_binding_input *in, char hex[65])
{
	char **r = calloc(in->resource_count + 1, sizeof *r);
	char **s = calloc(in->scope_count + 1, sizeof *s);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = -1;
	if (r == NULL || s == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	size_t nr = normalise(in->resources, in->resource_count, 1, r);
	size_t ns = normalise(in->scopes, in->scope_count, 0, s);
	/* "resources\0" R joined by "\n", then "\0scopes\0" S, then each
	 * "\0name\0" value, exactly as the reference lays it out. */
	put(md, "resources");
	put_nul(md);
	for (size_t i = 0; i < nr; i++) {
		if (i > 0)
			put(md, "\n");
		put(md, r[i]);
	}
	put_nul(md);
	put(md, "scopes");
	put_nul(md);
	for (size_t i = 0; i < ns; i++) {
		if (i > 0)
			put(md, "\n");
		put(md, s[i]);
	}
	const struct {
		const char *name, *value;
	} fields[] = {
	    {"principal", in->principal},     {"authority_record", in->authority_record},
	    {"session", in->session},         {"delegation", in->delegation},
	    {"application", in->application}, {"policy_set_version", in->policy_version},
	    {"policy_manifest", ""},          {"decision_contract_version", ""},
	    {"decision_contract_sha", ""},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		put_nul(md);
		put(md, fields[i].name);
		put_nul(md);
		put(md, fields[i].value != NULL ? fields[i].value : "");
	}
	unsigned char d[32];
	unsigned int dl = sizeof d;
	if (EVP_DigestFinal_ex(md, d, &dl) == 1) {
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		rc = 0;
	}
	for (size_t i = 0; i < nr; i++)
		free(r[i]);
	for (size_t i = 0; i < ns; i++)
		free(s[i]);
out:
	EVP_MD_CTX_free(md);
	free(r);
	free(s);
	return rc;
}

const char *approval_state(const caracal_approval *a, int64_t now_us)
{
	if (a->consumed_at_us != 0)
		return "consumed";
	if (a->rejected_at_us != 0)
		return "rejected";
	if (a->expires_at_us != 0 && a->expires_at_us <= now_us)
		return "expired";
	if (a->satisfied_at_us != 0)
		return "approved";
	return "pending";
}

int64_t approval_ttl_s(const char *approver_class, int64_t declared_s)
{
	int operator_class = approver_class == NULL || strcmp(approver_class, "operator") == 0;
	int64_t def = operator_class ? 4 * 3600 : 15 * 60;
	int64_t max = operator_class ? 7 * 24 * 3600 : 24 * 3600;
	int64_t ttl = declared_s > 0 ? declared_s : def;
	if (ttl < 60)
		ttl = 60;
	if (ttl > max)
		ttl = max;
	return ttl;
}

int approval_new_id(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1)
		return -1;
	b[6] = (unsigned char)(0x40 | (b[6] & 0x0f));
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
	return 0;
}

/* ---- sweeping ------------------------------------------------------------------ */

#define SWEEP_EVERY_US (3600LL * 1000000)
#define SWEEP_RETAIN_US (24LL * 3600 * 1000000)

static _Atomic int64_t last_sweep_us;

void approval_sweep_maybe(const role_deps *deps, int64_t now_us)
{
	int64_t last = atomic_load(&last_sweep_us);
	if (deps->storage->approval_sweep == NULL || now_us - last < SWEEP_EVERY_US ||
	    !atomic_compare_exchange_strong(&last_sweep_us, &last, now_us))
		return; /* not due, or another worker took this round */
	caracal_error err = {0};
	uint64_t n = 0;
	if (deps->storage->approval_sweep(deps->storage_tctx, now_us - SWEEP_RETAIN_US, &n, &err) !=
	    CARACAL_OK)
		log_warn("sts", "approval sweep: %s", err.message);
	else if (n > 0)
		log_info("sts", "approval sweep: %llu holds older than 24 h deleted",
		         (unsigned long long)n);
}

/* ---- GET /approvals/{id}?wait=N ------------------------------------------------- */

struct poll_job {
	deferred_work dw; /* must stay first */
	char id[37];
	int64_t deadline_us; /* monotonic */
	int final;           /* the state is not pending, or no more waiting */
	struct event *timer;
};

int approval_find(const role_deps *deps, const char *id, caracal_arena *arena,
                  caracal_approval *out, caracal_error *err)
{
	const char **zones = NULL;
	size_t nzones = 0;
	int rc = role_zone_ids(deps->storage, deps->storage_tctx, arena, &zones, &nzones, err);
	if (rc != CARACAL_OK)
		return rc;
	for (size_t i = 0; i < nzones; i++) {
		rc = deps->storage->approval_get(deps->storage_tctx, zones[i], id, arena, out, err);
		if (rc != CARACAL_E_NOTFOUND)
			return rc;
	}
	return CARACAL_E_NOTFOUND;
}

void approval_answer(deferred_work *dw, int status, json_t *body)
{
	free(dw->body);
	dw->status = status;
	dw->content_type = "application/json";
	dw->body = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	dw->body_len = dw->body != NULL ? strlen(dw->body) : 0;
	if (dw->body == NULL)
		dw->status = 500;
	json_decref(body);
}

void approval_answer_error(deferred_work *dw, int status, const char *error,
                           const char *description)
{
	approval_answer(dw, status,
	                json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

static void poll_run(deferred_work *dw, worker_ctx *wc)
{
	struct poll_job *job = (struct poll_job *)dw;
	caracal_error err = {0};
	role_deps deps;
	job->final = 1;
	if (role_deps_get(wc, ROLE_NEEDS_STORAGE, &deps, &err) != CARACAL_OK) {
		approval_answer_error(dw, 503, "sts_unavailable",
		                      "the token service is unavailable");
		return;
	}
	caracal_arena *arena = arena_new();
	caracal_approval a = {.size = sizeof a};
	int rc = arena != NULL ? approval_find(&deps, job->id, arena, &a, &err) : CARACAL_E_NOMEM;
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND) {
		approval_answer_error(dw, 503, "sts_unavailable",
		                      "the token service is unavailable");
	} else if (rc == CARACAL_E_NOTFOUND) {
		approval_answer_error(dw, 404, "resource_not_found", "no such approval");
	} else {
		int64_t now = clock_now_us();
		const char *state = approval_state(&a, now);
		char expires[40] = "";
		time_t secs = (time_t)(a.expires_at_us / 1000000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
		approval_answer(dw, 200,
		                json_pack("{s:s, s:s, s:s}", "id", job->id, "state", state,
		                          "expires_at", expires));
		job->final = strcmp(state, "pending") != 0;
	}
	arena_free(arena);
}

static void poll_free(deferred_work *dw)
{
	struct poll_job *job = (struct poll_job *)dw;
	if (job->timer != NULL)
		event_free(job->timer);
	free(job);
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_redefer(arg);
}

/* On the loop thread after each look: answer, or look again shortly. The
 * request holds no worker while it waits, only this timer. */
static void poll_then(deferred_work *dw)
{
	struct poll_job *job = (struct poll_job *)dw;
	if (job->final || server_draining(dw) || clock_monotonic_us() >= job->deadline_us ||
	    http_request_is_closed(dw->rc.req)) {
		server_finish(dw);
		return;
	}
	if (job->timer == NULL)
		job->timer = evtimer_new(http_request_loop(dw->rc.req), poll_tick, dw);
	struct timeval tv = {0, POLL_EVERY_MS * 1000};
	if (job->timer == NULL || evtimer_add(job->timer, &tv) != 0)
		server_finish(dw);
}

static void route_approval(request_ctx *rc)
{
	const char *id = rc->req->path + strlen("/approvals/");
	if (!uuid_is_text(id)) {
		server_respond_error(rc, 404, "resource_not_found", "no such approval");
		return;
	}
	int64_t wait_s = 0;
	const char *q = rc->req->query;
	if (q[0] != '\0') {
		if (strncmp(q, "wait=", 5) != 0 || q[5] == '\0' || strchr(q, '&') != NULL) {
			server_respond_error(rc, 400, "invalid_token",
			                     "the only parameter is wait");
			return;
		}
		char *end;
		long long v = strtoll(q + 5, &end, 10);
		if (*end != '\0' || v < 0 || !isdigit((unsigned char)q[5])) {
			server_respond_error(rc, 400, "invalid_token",
			                     "wait must be a non-negative integer");
			return;
		}
		wait_s = v > WAIT_MAX_S ? WAIT_MAX_S : v;
	}
	struct poll_job *job = calloc(1, sizeof *job);
	if (job == NULL) {
		server_respond_error(rc, 503, "sts_unavailable", "out of memory");
		return;
	}
	memcpy(job->id, id, 36);
	job->deadline_us = clock_monotonic_us() + wait_s * 1000000;
	job->dw.run = poll_run;
	job->dw.then = poll_then;
	job->dw.free_fn = poll_free;
	server_defer(rc, &job->dw);
}

void approvals_routes_register(void)
{
	server_route(ROLE_STS, "GET", "/approvals/*", route_approval);
	approval_decision_route_register();
}
