/*
 * deps.h — how a role's code, running on a decision-pool worker, reaches the
 * plugins it depends on: the configured storage, signer and policy
 * instances of the worker's current generation, with the worker's own
 * thread contexts. Roles never see plugin instances any other way.
 */
#ifndef CARACAL_ROLES_DEPS_H
#define CARACAL_ROLES_DEPS_H

#include "daemon/workers.h"
#include "util/jsonw.h"

#include <jansson.h>

typedef struct role_deps {
	const caracal_storage_ops *storage;
	void *storage_tctx;
	const caracal_signer_ops *signer;
	void *signer_tctx;
	const caracal_policy_ops *policy;
	void *policy_tctx;
	const settings *settings;
	const generation *gen;
	worker_ctx *wc; /* the worker running the role's code */
} role_deps;

#define ROLE_NEEDS_STORAGE (1u << GEN_DEP_STORAGE)
#define ROLE_NEEDS_SIGNER (1u << GEN_DEP_SIGNER)
#define ROLE_NEEDS_POLICY (1u << GEN_DEP_POLICY)

/* Fill out with the dependencies in needs. UNAVAIL (message says which)
 * when one is not configured or its thread context cannot be created. */
int role_deps_get(worker_ctx *wc, unsigned needs, role_deps *out, caracal_error *err);

/* Before a step that may block for long (a cold secret verification, an
 * outbound fetch): finish the work this worker holds in a batch first (the
 * answers of mints already signed must not wait behind it). */
void role_before_blocking(const role_deps *deps);

/* Every zone id, copied into arena, collected before the caller uses
 * storage again (storage ops are not re-entrant on one thread context, so
 * nothing may run inside a listing callback). */
int role_zone_ids(const caracal_storage_ops *storage, void *tctx, caracal_arena *arena,
                  const char ***ids, size_t *count, caracal_error *err);

/* The application with this id in any zone: storage's application_find
 * (ABI 1.1) when offered, else application_get zone by zone. NOTFOUND when
 * no zone has it. */
int role_application_find(const caracal_storage_ops *storage, void *tctx, const char *id,
                          caracal_arena *arena, caracal_application *out, caracal_error *err);

/* Audit events from role code: the daemon installs the emitter at start
 * (it takes the reference to fields). Until then, and when the queue
 * refuses, this fails (callers deny). role_audit borrows fields (a copy is
 * queued); role_audit_take takes the reference, whatever the outcome, and
 * spares the copy. */
typedef int (*role_audit_fn)(const char *zone_id, const char *event_type, json_t *fields,
                             caracal_error *err);
/* The same for an event given as members (audit_writer_emit_members): the
 * hot path's events, written as canonical text without a jansson tree. */
typedef int (*role_audit_members_fn)(const char *zone_id, const char *event_type,
                                     const jsonw_member *fields, size_t n, caracal_error *err);
void roles_set_audit(role_audit_fn fn, role_audit_members_fn members);
int role_audit_members(const char *zone_id, const char *event_type, const jsonw_member *fields,
                       size_t n, caracal_error *err);
int role_audit(const char *zone_id, const char *event_type, json_t *fields, caracal_error *err);
int role_audit_take(const char *zone_id, const char *event_type, json_t *fields,
                    caracal_error *err);

#endif
