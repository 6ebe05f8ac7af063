/* prepare.c — see prepare.h. */
#include "daemon/prepare.h"

#include "roles/deps.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_policies(generation *gen, const plugin_instance *storage, void *stctx, size_t slot,
                         caracal_error *err)
{
	int idx = gen->dep_index[GEN_DEP_POLICY];
	if (idx < 0)
		return CARACAL_OK;
	const plugin_instance *policy = &gen->instances[idx];
	void *ptctx = generation_tctx(gen, slot, (size_t)idx, err);
	if (ptctx == NULL)
		return CARACAL_E_UNAVAIL;

	caracal_arena *zones_arena = arena_new();
	const char **zones = NULL;
	size_t nzones = 0;
	int rc =
	    zones_arena != NULL
	        ? role_zone_ids(storage->plugin->storage, stctx, zones_arena, &zones, &nzones, err)
	        : caracal_error_set(err, CARACAL_E_NOMEM, "out of memory listing zones");
	size_t loaded = 0;
	for (size_t i = 0; rc == CARACAL_OK && i < nzones; i++) {
		caracal_arena *arena = arena_new();
		caracal_policy_version pv = {.size = sizeof pv};
		int r = arena != NULL ? storage->plugin->storage->policy_active_get(stctx, zones[i],
		                                                                    arena, &pv, err)
		                      : caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		if (r == CARACAL_OK) {
			r = policy->plugin->policy->activate(ptctx, zones[i], pv.id, pv.source.ptr,
			                                     pv.source.len, err);
			if (r != CARACAL_OK) {
				char why[CARACAL_ERROR_MESSAGE_MAX];
				snprintf(why, sizeof why, "%s", err->message); /* no self-copy */
				caracal_error_set(err, r,
				                  "zone %s: policy version %s does not compile: %s",
				                  zones[i], pv.id, why);
			} else
				loaded++;
		} else if (r == CARACAL_E_NOTFOUND) {
			r = CARACAL_OK; /* no active policy: the zone denies everything */
		}
		arena_free(arena);
		rc = r;
	}
	arena_free(zones_arena);
	if (rc == CARACAL_OK && loaded > 0)
		log_info("daemon", "active policies of %zu zones compiled", loaded);
	return rc;
}

int generation_prepare(generation *gen, size_t slot, caracal_error *err)
{
	int idx = gen->dep_index[GEN_DEP_STORAGE];
	if (idx < 0)
		return CARACAL_OK;
	const plugin_instance *storage = &gen->instances[idx];
	void *stctx = generation_tctx(gen, slot, (size_t)idx, err);
	if (stctx == NULL)
		return CARACAL_E_UNAVAIL;
	int64_t version = 0;
	int rc = storage->plugin->storage->migrate(stctx, &version, err);
	if (rc != CARACAL_OK) {
		char why[CARACAL_ERROR_MESSAGE_MAX];
		snprintf(why, sizeof why, "%s", err->message); /* no self-copy */
		caracal_error_set(err, rc, "storage '%s': migration failed: %s", storage->name,
		                  why);
	} else {
		log_info("daemon", "storage '%s' at schema version %lld", storage->name,
		         (long long)version);
		rc = load_policies(gen, storage, stctx, slot, err);
	}
	/* The main thread's contexts are not kept: they would idle for the whole
	 * generation. */
	generation_release_slot(gen, slot);
	return rc;
}
