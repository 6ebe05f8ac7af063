/* prepare.c — see prepare.h. */
#include "daemon/prepare.h"

#include "util/arena.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

struct zone_ids {
	char **ids;
	size_t count, cap;
	int failed;
};

static int collect_zone(void *ud, const void *record)
{
	struct zone_ids *z = ud;
	const caracal_zone *zone = record;
	if (z->count == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 16;
		char **n = realloc(z->ids, cap * sizeof *n);
		if (n == NULL) {
			z->failed = 1;
			return CARACAL_E_NOMEM;
		}
		z->ids = n;
		z->cap = cap;
	}
	z->ids[z->count] = strdup(zone->id);
	if (z->ids[z->count] == NULL) {
		z->failed = 1;
		return CARACAL_E_NOMEM;
	}
	z->count++;
	return CARACAL_OK;
}

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

	struct zone_ids zones = {0};
	int rc = storage->plugin->storage->zone_list(stctx, collect_zone, &zones, err);
	if (rc == CARACAL_OK && zones.failed)
		rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory listing zones");
	size_t loaded = 0;
	for (size_t i = 0; rc == CARACAL_OK && i < zones.count; i++) {
		caracal_arena *arena = arena_new();
		caracal_policy_version pv = {.size = sizeof pv};
		int r = arena != NULL ? storage->plugin->storage->policy_active_get(
		                            stctx, zones.ids[i], arena, &pv, err)
		                      : caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		if (r == CARACAL_OK) {
			r = policy->plugin->policy->activate(ptctx, zones.ids[i], pv.id,
			                                     pv.source.ptr, pv.source.len, err);
			if (r != CARACAL_OK)
				caracal_error_set(err, r,
				                  "zone %s: policy version %s does not compile: %s",
				                  zones.ids[i], pv.id, err->message);
			else
				loaded++;
		} else if (r == CARACAL_E_NOTFOUND) {
			r = CARACAL_OK; /* no active policy: the zone denies everything */
		}
		arena_free(arena);
		rc = r;
	}
	for (size_t i = 0; i < zones.count; i++)
		free(zones.ids[i]);
	free(zones.ids);
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
		caracal_error_set(err, rc, "storage '%s': migration failed: %s", storage->name,
		                  err->message);
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
