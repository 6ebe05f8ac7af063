/* jwks_route.c — GET /.well-known/jwks.json?zone_id=Z (spec sts.md §3.4). */
#include "roles/sts/exchange.h"
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

void sts_jwks_route_register(void)
{
	server_route(ROLE_STS, "GET", "/.well-known/jwks.json", route_jwks);
}
