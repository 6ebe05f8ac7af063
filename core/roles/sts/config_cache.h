/*
 * config_cache.h — the zone configuration an exchange reads (its
 * application, resources and grants), kept in memory between exchanges.
 *
 * An exchange reads storage's configuration generation (ABI 1.2
 * config_generation, a number every configuration write moves, in the
 * writing transaction) and reads through a view tagged with it. An entry
 * is served only under the generation it was read under; a view with any
 * other number empties the cache (a lower one too: a restored storage
 * counts up again).
 * A worker reuses the generation it read for CONFIG_GENERATION_REUSE_US
 * (under load, one read serves a few exchanges). So a change (an
 * application archived, a grant deleted) takes effect for every exchange
 * that starts more than 2 ms after it commits — as if the records were read
 * at most 2 ms earlier than now; an exchange already under way when a
 * change commits may finish on the old configuration either way — at the
 * cost of one small read every 2 ms instead of three per exchange.
 *
 * Entries are immutable and reference-counted: a view holds the entries it
 * handed out until it is closed, so the values stay valid for the whole
 * exchange even when the cache is emptied meanwhile. Without
 * config_generation (a 1.0/1.1 storage plugin) every lookup reads storage
 * into the view's arena, as before. NOTFOUND is never cached.
 */
#ifndef CARACAL_STS_CONFIG_CACHE_H
#define CARACAL_STS_CONFIG_CACHE_H

#include "util/arena.h"

#include <caracal/storage.h>

#include <stddef.h>
#include <stdint.h>

#define CONFIG_CACHE_MAX_ENTRIES 1024
#define CONFIG_GENERATION_REUSE_US 2000 /* the staleness bound above */

struct config_entry;

typedef struct sts_config_view {
	const caracal_storage_ops *storage;
	void *tctx;
	uint64_t owner;      /* the storage's generation (reload) number */
	uint64_t generation; /* 0: not cached, every lookup reads storage */
	caracal_arena *arena;
	struct config_ref *held; /* entries to release at close (in arena) */
} sts_config_view;

/* Start a view for one exchange. Never fails: when the generation cannot
 * be read the view reads storage directly (and storage's error then
 * surfaces from the lookups). arena must outlive the view. */
void sts_config_view_open(sts_config_view *v, const caracal_storage_ops *storage, void *tctx,
                          uint64_t owner, caracal_arena *arena);
/* Release what the view holds (idempotent; any thread). */
void sts_config_view_close(sts_config_view *v);

/* As storage's application_get and resource_get; *out stays valid until
 * the view is closed. */
int sts_config_application(sts_config_view *v, const char *zone_id, const char *id,
                           caracal_application *out, caracal_error *err);
int sts_config_resource(sts_config_view *v, const char *zone_id, const char *id_or_identifier,
                        caracal_resource *out, caracal_error *err);
/* The union of the scopes of every grant of (application, resource), each
 * once, in the order first seen. */
int sts_config_grant_scopes(sts_config_view *v, const char *zone_id, const char *application_id,
                            const char *resource_id, const char *const **scopes, size_t *count,
                            caracal_error *err);

/* Entries cached now, and empty the cache (tests, metrics). */
size_t sts_config_cache_size(void);
void sts_config_cache_clear(void);

#endif
