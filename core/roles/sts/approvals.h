/*
 * approvals.h — human approval holds ("step-up", spec sts.md §2.9, §2.17).
 *
 * A policy can answer APPROVAL_REQUIRED; the token endpoint then creates (or
 * finds) a hold bound to exactly what was asked — a SHA-256 over the
 * resources, scopes, principal, authority record, session, delegation,
 * application and policy version — and answers 401 interaction_required
 * with the hold's id. An operator decides it (admin API), the client polls
 * GET /approvals/{id}?wait=N (a long-poll that holds no worker while it
 * waits) and presents approval_id on the retried exchange; the hold is
 * consumed once, cluster-wide (storage approval_consume).
 */
#ifndef CARACAL_STS_APPROVALS_H
#define CARACAL_STS_APPROVALS_H

#include "roles/deps.h"

#include "daemon/server.h"

#include <jansson.h>

#include <stddef.h>

typedef struct approval_binding_input {
	const char *const *resources; /* canonical (trimmed, de-duplicated) */
	size_t resource_count;
	const char *const *scopes;
	size_t scope_count;
	const char *principal;
	const char *authority_record; /* "" when none */
	const char *session;          /* "" when none */
	const char *delegation;       /* "" when none */
	const char *application;
	const char *policy_version; /* "" when the zone has none */
} approval_binding_input;

/* The binding of §2.9 as 64 lowercase hex characters. 0, or -1 on OOM. */
int approval_binding_hex(const approval_binding_input *in, char hex[65]);

/* consumed | rejected | expired | approved | pending, in that priority. */
const char *approval_state(const caracal_approval *a, int64_t now_us);

/* Default and maximum hold lifetime per approver class (§2.9). */
int64_t approval_ttl_s(const char *approver_class, int64_t declared_s);

/* A fresh random (v4) UUID: approval ids are capabilities. */
int approval_new_id(char out[37]);

/* A worker's JSON answer for the approval routes (body: reference taken;
 * 500 when it cannot be encoded), and the {error, error_description} one. */
void approval_answer(deferred_work *dw, int status, json_t *body);
void approval_answer_error(deferred_work *dw, int status, const char *error,
                           const char *description);

/* The approval id is the capability: find its hold in whichever zone
 * (storage has no zone-less lookup). NOTFOUND when no zone holds it. */
int approval_find(const role_deps *deps, const char *id, caracal_arena *arena,
                  caracal_approval *out, caracal_error *err);

/* At most once an hour per process: delete the holds whose last event is
 * older than 24 h (spec sts.md §2.17), through storage's approval_sweep
 * when the plugin has it. */
void approval_sweep_maybe(const role_deps *deps, int64_t now_us);

/* Register GET /approvals/{id} and POST /approvals/{id}/decision. */
void approvals_routes_register(void);

/* Register POST /approvals/{id}/decision (approval_decision.c). */
void approval_decision_route_register(void);

#endif
