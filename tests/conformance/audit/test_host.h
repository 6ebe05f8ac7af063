/*
 * test_host.h — the audit battery's view of the host: the core's real
 * services table (core/host.c) and config tree (core/config), wrapped so a
 * test can edit a plugin's config block key by key. Each block is rendered
 * as YAML, loaded with config_tree_load_buffer and validated against the
 * plugin's schema exactly as the loader does before instance_create.
 */
#ifndef TEST_HOST_H
#define TEST_HOST_H

#include <caracal/plugin.h>

typedef struct th_cfg th_cfg;

const caracal_host *th_host(void);
const caracal_scope *th_scope(void);
void th_fini(void);
void th_set_data_dir(const char *absolute_path);

/* Log lines go to a capture file; th_log_count counts those of a level
 * since the last th_log_reset (and copies them to stderr). */
void th_log_reset(void);
unsigned th_log_count(caracal_log_level level);

th_cfg *th_cfg_new(void);
/* Set (or replace) key; value NULL removes it. */
void th_cfg_set(th_cfg *cfg, const char *key, const char *value);
/* Render, load and validate against schema; the node lives until the next
 * th_cfg_node or th_cfg_free. NULL with err set when invalid. */
const caracal_cfg *th_cfg_node(th_cfg *cfg, const caracal_cfg_key *schema, caracal_error *err);
/* The root of the last loaded block, validated or not (to check that the
 * plugin refuses what the validator would have caught). */
const caracal_cfg *th_cfg_unvalidated(const th_cfg *cfg);
void th_cfg_free(th_cfg *cfg);

#endif
