/*
 * generation.h — one generation of configuration: a validated config tree,
 * the core settings read from it, and one instance per plugin block.
 *
 * caracald builds a generation at start and a new one on every SIGHUP; the
 * new one replaces the old only when every part of it was built, so a broken
 * config never takes the old one down. Code is never unloaded: the plugin
 * registry outlives every generation.
 *
 * Thread contexts: each thread that calls plugins (decision-pool workers and
 * the core's background threads) has a slot; its contexts are created on
 * that thread at first use and destroyed on that thread when it lets go of
 * the generation (generation_release_slot). The generation is freed when its
 * last reference is dropped.
 */
#ifndef CARACAL_DAEMON_GENERATION_H
#define CARACAL_DAEMON_GENERATION_H

#include "config/config.h"
#include "daemon/settings.h"
#include "loader/loader.h"

#include <stdatomic.h>

typedef struct plugin_instance {
	char *name; /* the key under "plugins" */
	const caracal_plugin *plugin;
	caracal_scope *scope;
	const config_node *cfg;
	void *instance; /* NULL in check-only generations */
} plugin_instance;

/* The plugin instances roles depend on, by kind. */
enum generation_dep { GEN_DEP_STORAGE = 0, GEN_DEP_SIGNER, GEN_DEP_POLICY, GEN_DEP_COUNT };

typedef struct generation {
	config_tree *tree;
	settings settings;
	size_t count;
	plugin_instance *instances;
	size_t slots; /* thread slots */
	void **tctx;  /* [slot * count + i]; created lazily on the slot's thread */
	_Atomic int refs;
	uint64_t number;
	int dep_index[GEN_DEP_COUNT];   /* instance index per dependency, -1: none */
	unsigned char admin_token[256]; /* admin.token, when configured */
	size_t admin_token_len;
	/* sts.gateway_hmac_key, keyed; NULL when not configured (then every
	 * gateway-authenticated exchange is refused). */
	struct sts_gateway_key *gateway_key;
} generation;

/* Build a generation from tree (ownership passes to the generation, also on
 * failure). check_only validates and loads plugins without creating
 * instances (caracald -t). slots is the number of threads that will call
 * plugins. Problems are reported through report; returns NULL on failure. */
generation *generation_build(config_tree *tree, plugin_registry *registry, int check_only,
                             size_t slots, config_report_fn report, void *ud, caracal_error *err);

void generation_ref(generation *gen);
void generation_unref(generation *gen);

const plugin_instance *generation_find(const generation *gen, const char *name, size_t *index);

/* The thread context of instance i for slot, created on first use (must be
 * called from the slot's own thread). NULL with err set on failure. */
void *generation_tctx(generation *gen, size_t slot, size_t i, caracal_error *err);

/* Destroy slot's thread contexts (on the slot's own thread). */
void generation_release_slot(generation *gen, size_t slot);

/* Ask every instance whether it is ready. Writes a JSON object of
 * {"instance": "ready" | "error message"} into out; returns 1 when all ready. */
int generation_ready(const generation *gen, char *out, size_t cap);

/* From now on, builds leave the host's data_dir and mode as they are (the
 * daemon calls this once its first generation runs). */
void generation_fix_host_settings(void);

/* In development mode, create a missing secret file named by a *_file key
 * when it lies under data_dir (random, 0600), so the embedded default runs
 * with nothing set up. Never in production. */
int generation_dev_secret(const settings *st, const config_node *node, const char *key,
                          caracal_error *err);

#endif
