/*
 * test_host.h — a minimal caracal_host for the audit tests, until the core's
 * host_services() and config tree can be linked instead: config is a flat
 * key/value list, secrets come from KEY_file / KEY_env / inline KEY, arenas
 * are malloc lists, log lines go to stderr (and are counted by level).
 */
#ifndef TEST_HOST_H
#define TEST_HOST_H

#include <caracal/plugin.h>

const caracal_host *th_host(void);
const caracal_scope *th_scope(void);
void th_set_data_dir(const char *absolute_path);
/* Number of lines logged at level since the last th_log_reset(). */
unsigned th_log_count(caracal_log_level level);
void th_log_reset(void);

caracal_cfg *th_cfg_new(void);
/* Set (or replace) key; value NULL removes it. */
void th_cfg_set(caracal_cfg *cfg, const char *key, const char *value);
void th_cfg_free(caracal_cfg *cfg);

#endif
