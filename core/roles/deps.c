/* deps.c — see deps.h. */
#include "roles/deps.h"

#include "daemon/metrics.h"
#include "util/arena.h"

#include <string.h>

#include <stdatomic.h>

static _Atomic(role_audit_fn) audit_fn;
static _Atomic(role_audit_members_fn) audit_members_fn;

void roles_set_audit(role_audit_fn fn, role_audit_members_fn members)
{
	atomic_store(&audit_fn, fn);
	atomic_store(&audit_members_fn, members);
}

int role_audit_members(const char *zone_id, const char *event_type, const jsonw_member *fields,
                       size_t n, caracal_error *err)
{
	role_audit_members_fn fn = atomic_load(&audit_members_fn);
	if (fn == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "the audit pipeline is not running");
	return fn(zone_id, event_type, fields, n, err);
}

int role_audit_take(const char *zone_id, const char *event_type, json_t *fields, caracal_error *err)
{
	role_audit_fn fn = atomic_load(&audit_fn);
	if (fn == NULL) {
		json_decref(fields);
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "the audit pipeline is not running");
	}
	return fn(zone_id, event_type, fields, err);
}

int role_audit(const char *zone_id, const char *event_type, json_t *fields, caracal_error *err)
{
	json_t *copy = fields != NULL ? json_deep_copy(fields) : json_object();
	if (copy == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build audit event");
	return role_audit_take(zone_id, event_type, copy, err);
}

static int dep_tctx(worker_ctx *wc, int dep, const char *what, const plugin_instance **pi,
                    void **tctx, caracal_error *err)
{
	generation *gen = wc->gen;
	int idx = gen != NULL ? gen->dep_index[dep] : -1;
	if (idx < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "no %s plugin is configured",
		                         what);
	*pi = &gen->instances[idx];
	caracal_error te = {0};
	*tctx = generation_tctx(gen, wc->slot, (size_t)idx, &te);
	if (*tctx == NULL) {
		metrics_plugin_error();
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "%s plugin '%s' is unavailable: %s", what, (*pi)->name,
		                         te.message);
	}
	return CARACAL_OK;
}

int role_deps_get(worker_ctx *wc, unsigned needs, role_deps *out, caracal_error *err)
{
	*out = (role_deps){0};
	if (wc->gen == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "no configuration loaded");
	out->gen = wc->gen;
	out->wc = wc;
	out->settings = &wc->gen->settings;
	const plugin_instance *pi;
	int rc;
	if (needs & ROLE_NEEDS_STORAGE) {
		rc = dep_tctx(wc, GEN_DEP_STORAGE, "storage", &pi, &out->storage_tctx, err);
		if (rc != CARACAL_OK)
			return rc;
		out->storage = pi->plugin->storage;
	}
	if (needs & ROLE_NEEDS_SIGNER) {
		rc = dep_tctx(wc, GEN_DEP_SIGNER, "signer", &pi, &out->signer_tctx, err);
		if (rc != CARACAL_OK)
			return rc;
		out->signer = pi->plugin->signer;
	}
	if (needs & ROLE_NEEDS_POLICY) {
		rc = dep_tctx(wc, GEN_DEP_POLICY, "policy", &pi, &out->policy_tctx, err);
		if (rc != CARACAL_OK)
			return rc;
		out->policy = pi->plugin->policy;
	}
	return CARACAL_OK;
}

struct zone_ids {
	caracal_arena *arena;
	const char **ids;
	size_t count, cap;
};

static int collect_zone(void *ud, const void *record)
{
	struct zone_ids *z = ud;
	const caracal_zone *zone = record;
	if (z->count == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 32;
		const char **n = arena_alloc(z->arena, cap * sizeof *n);
		if (n == NULL)
			return CARACAL_E_NOMEM;
		if (z->count > 0)
			memcpy(n, z->ids, z->count * sizeof *n);
		z->ids = n;
		z->cap = cap;
	}
	z->ids[z->count] = arena_strndup(z->arena, zone->id, strlen(zone->id));
	if (z->ids[z->count] == NULL)
		return CARACAL_E_NOMEM;
	z->count++;
	return CARACAL_OK;
}

int role_zone_ids(const caracal_storage_ops *storage, void *tctx, caracal_arena *arena,
                  const char ***ids, size_t *count, caracal_error *err)
{
	struct zone_ids z = {.arena = arena};
	int rc = storage->zone_list(tctx, collect_zone, &z, err);
	if (rc != CARACAL_OK)
		return rc == CARACAL_E_NOMEM
		           ? caracal_error_set(err, rc, "out of memory listing zones")
		           : rc;
	*ids = z.ids;
	*count = z.count;
	return CARACAL_OK;
}

int role_application_find(const caracal_storage_ops *storage, void *tctx, const char *id,
                          caracal_arena *arena, caracal_application *out, caracal_error *err)
{
	if (storage->application_find != NULL)
		return storage->application_find(tctx, id, arena, out, err);
	const char **zones = NULL;
	size_t nzones = 0;
	int rc = role_zone_ids(storage, tctx, arena, &zones, &nzones, err);
	for (size_t i = 0; rc == CARACAL_OK && i < nzones; i++) {
		rc = storage->application_get(tctx, zones[i], id, arena, out, err);
		if (rc != CARACAL_E_NOTFOUND)
			return rc;
		rc = CARACAL_OK;
	}
	return rc == CARACAL_OK ? CARACAL_E_NOTFOUND : rc;
}

void role_before_blocking(const role_deps *deps)
{
	if (deps->wc != NULL)
		worker_flush_batch(deps->wc);
}
