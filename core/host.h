/*
 * host.h — the daemon's side of the plugin ABI: the one caracal_host table
 * every plugin receives, and the scopes that tag a plugin instance in logs
 * and metrics.
 */
#ifndef CARACAL_CORE_HOST_H
#define CARACAL_CORE_HOST_H

#include <caracal/plugin.h>

/* The process-wide services table (static storage, never freed). */
const caracal_host *host_services(void);

/* Settings the services report; set before plugins are initialised. */
void host_set_data_dir(const char *absolute_path);
void host_set_production(int production);

/* Where audit_emit() sends events; until set, audit_emit fails UNAVAIL
 * (fail closed: a plugin's audit record is never silently dropped). */
typedef int (*host_audit_emit_fn)(const caracal_scope *scope, const char *json, size_t len,
                                  caracal_error *err);
void host_set_audit_emitter(host_audit_emit_fn fn);

/* A scope names one plugin instance; it owns copies of both names. */
caracal_scope *host_scope_new(const char *plugin_name, const char *instance_name);
void host_scope_free(caracal_scope *scope);
const char *host_scope_plugin(const caracal_scope *scope);
const char *host_scope_instance(const caracal_scope *scope);

/* Sum of every metric_count() call for (plugin, name), all instances; for
 * /metrics. each is called once per (plugin, instance, name, label). */
typedef void (*host_metric_fn)(void *ud, const char *plugin, const char *instance, const char *name,
                               const char *label, uint64_t value);
void host_metrics_each(host_metric_fn each, void *ud);

#endif
