/*
 * host.c — the caracal_host services table. Everything a plugin may ask of
 * the daemon goes through here, so this is also where the daemon's rules for
 * plugins are enforced: secrets read through cfg_secret are registered for
 * log redaction, and audit_emit fails closed until the audit pipeline is up.
 */
#include "host.h"

#include "config/config.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct caracal_scope {
	char *plugin;
	char *instance;
	char component[128]; /* "plugin:<plugin>/<instance>" for log lines */
};

static char host_data_dir[4096] = ".";
static _Atomic int host_production;
static _Atomic(host_audit_emit_fn) host_audit_emitter;

void host_set_data_dir(const char *absolute_path)
{
	snprintf(host_data_dir, sizeof host_data_dir, "%s", absolute_path);
}

void host_set_production(int production)
{
	atomic_store(&host_production, production != 0);
}

void host_set_audit_emitter(host_audit_emit_fn fn)
{
	atomic_store(&host_audit_emitter, fn);
}

caracal_scope *host_scope_new(const char *plugin_name, const char *instance_name)
{
	caracal_scope *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->plugin = strdup(plugin_name);
	s->instance = strdup(instance_name);
	if (s->plugin == NULL || s->instance == NULL) {
		host_scope_free(s);
		return NULL;
	}
	snprintf(s->component, sizeof s->component, "plugin:%s/%s", plugin_name, instance_name);
	return s;
}

void host_scope_free(caracal_scope *s)
{
	if (s == NULL)
		return;
	free(s->plugin);
	free(s->instance);
	free(s);
}

const char *host_scope_plugin(const caracal_scope *s)
{
	return s->plugin;
}

const char *host_scope_instance(const caracal_scope *s)
{
	return s->instance;
}

/* ---- logging ---------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
svc_log(const caracal_scope *scope, caracal_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, scope != NULL ? scope->component : "plugin", fmt, ap);
	va_end(ap);
}

/* ---- metrics ------------------------------------------------------------
 * Series are only ever added, never removed, so counting an existing series
 * walks the list without a lock (the head is published with release order,
 * entries are immutable but for their atomic value); only a new series takes
 * the mutex. Workers count on the hot path without contending. */

struct plugin_metric {
	struct plugin_metric *next;
	char *plugin, *instance, *name, *label;
	_Atomic uint64_t value;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct plugin_metric *) metrics_head;
static size_t metrics_count;
#define MAX_PLUGIN_METRICS 1024

static int str_eq_nullable(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static struct plugin_metric *find_metric(struct plugin_metric *m, const caracal_scope *scope,
                                         const char *name, const char *label)
{
	while (m != NULL && !(strcmp(m->plugin, scope->plugin) == 0 &&
	                      strcmp(m->instance, scope->instance) == 0 &&
	                      strcmp(m->name, name) == 0 && str_eq_nullable(m->label, label)))
		m = m->next;
	return m;
}

static struct plugin_metric *new_metric(const caracal_scope *scope, const char *name,
                                        const char *label)
{
	struct plugin_metric *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	m->plugin = strdup(scope->plugin);
	m->instance = strdup(scope->instance);
	m->name = strdup(name);
	m->label = label != NULL ? strdup(label) : NULL;
	if (m->plugin == NULL || m->instance == NULL || m->name == NULL ||
	    (label != NULL && m->label == NULL)) {
		free(m->plugin);
		free(m->instance);
		free(m->name);
		free(m->label);
		free(m);
		return NULL;
	}
	return m;
}

static void svc_metric_count(const caracal_scope *scope, const char *name, const char *label,
                             uint64_t delta)
{
	if (scope == NULL || name == NULL)
		return;
	struct plugin_metric *m = find_metric(
	    atomic_load_explicit(&metrics_head, memory_order_acquire), scope, name, label);
	if (m == NULL) {
		pthread_mutex_lock(&metrics_lock);
		m = find_metric(atomic_load_explicit(&metrics_head, memory_order_relaxed), scope,
		                name, label);
		/* A plugin minting label values without bound must not grow the
		 * daemon's memory or /metrics without bound. */
		if (m == NULL && metrics_count < MAX_PLUGIN_METRICS) {
			m = new_metric(scope, name, label);
			if (m != NULL) {
				m->next = atomic_load_explicit(&metrics_head, memory_order_relaxed);
				atomic_store_explicit(&metrics_head, m, memory_order_release);
				metrics_count++;
			}
		}
		pthread_mutex_unlock(&metrics_lock);
	}
	if (m != NULL)
		atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void host_metrics_each(host_metric_fn each, void *ud)
{
	for (struct plugin_metric *m = atomic_load_explicit(&metrics_head, memory_order_acquire);
	     m != NULL; m = m->next)
		each(ud, m->plugin, m->instance, m->name, m->label, atomic_load(&m->value));
}

/* ---- config ------------------------------------------------------------ */

static const caracal_cfg *svc_cfg_child(const caracal_cfg *node, const char *key)
{
	return node != NULL ? config_get(node, key) : NULL;
}

static int svc_cfg_string(const caracal_cfg *node, const char *key, const char **out,
                          caracal_error *err)
{
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no config block");
	return config_get_string(node, key, out, err);
}

static int svc_cfg_int(const caracal_cfg *node, const char *key, int64_t *out, caracal_error *err)
{
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no config block");
	return config_get_int(node, key, out, err);
}

static int svc_cfg_bool(const caracal_cfg *node, const char *key, int *out, caracal_error *err)
{
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no config block");
	return config_get_bool(node, key, out, err);
}

static int svc_cfg_duration_ms(const caracal_cfg *node, const char *key, int64_t *out,
                               caracal_error *err)
{
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no config block");
	return config_get_duration_ms(node, key, out, err);
}

static int svc_cfg_size(const caracal_cfg *node, const char *key, uint64_t *out, caracal_error *err)
{
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no config block");
	return config_get_size(node, key, out, err);
}

static size_t svc_cfg_count(const caracal_cfg *node)
{
	return node != NULL && node->kind != CONFIG_SCALAR ? node->count : 0;
}

static const caracal_cfg *svc_cfg_at(const caracal_cfg *node, size_t i, const char **key)
{
	if (key != NULL)
		*key = NULL;
	if (node == NULL || node->kind == CONFIG_SCALAR || i >= node->count)
		return NULL;
	if (key != NULL && node->kind == CONFIG_MAP)
		*key = node->keys[i];
	return node->children[i];
}

static const char *svc_cfg_scalar(const caracal_cfg *node)
{
	return node != NULL && node->kind == CONFIG_SCALAR ? node->value : NULL;
}

static const char *svc_cfg_where(const caracal_cfg *node)
{
	return node != NULL && node->where != NULL ? node->where : "(unknown)";
}

static int svc_cfg_secret(const caracal_cfg *node, const char *key, unsigned char *buf, size_t cap,
                          size_t *len, caracal_error *err)
{
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "no config block");
	int rc = config_get_secret(node, key, atomic_load(&host_production), host_data_dir, buf,
	                           cap, len, err);
	if (rc == CARACAL_OK && log_register_secret(buf, *len) != 0)
		log_warn("host", "too many secrets registered for redaction");
	return rc;
}

/* ---- memory, randomness, clocks ----------------------------------------- */

static void *svc_arena_alloc(caracal_arena *arena, size_t n)
{
	return arena_alloc(arena, n);
}

static char *svc_arena_strndup(caracal_arena *arena, const char *s, size_t n)
{
	return arena_strndup(arena, s, n);
}

static int svc_random_bytes(void *buf, size_t n)
{
	if (n > INT32_MAX)
		return CARACAL_E_INVAL;
	return RAND_bytes(buf, (int)n) == 1 ? CARACAL_OK : CARACAL_E_UNAVAIL;
}

static void svc_secure_zero(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

static int svc_const_time_eq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

static struct ossl_lib_ctx_st *svc_ossl_libctx(void)
{
	return OSSL_LIB_CTX_get0_global_default();
}

static const char *svc_data_dir(void)
{
	return host_data_dir;
}

static int svc_production_mode(void)
{
	return atomic_load(&host_production);
}

static int svc_audit_emit(const caracal_scope *scope, const char *json, size_t len,
                          caracal_error *err)
{
	host_audit_emit_fn fn = atomic_load(&host_audit_emitter);
	if (fn == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "the audit pipeline is not running");
	return fn(scope, json, len, err);
}

static const caracal_host host_table = {
    .size = sizeof(caracal_host),
    .abi_major = CARACAL_ABI_MAJOR,
    .abi_minor = CARACAL_ABI_MINOR,
    .log = svc_log,
    .metric_count = svc_metric_count,
    .cfg_child = svc_cfg_child,
    .cfg_string = svc_cfg_string,
    .cfg_int = svc_cfg_int,
    .cfg_bool = svc_cfg_bool,
    .cfg_duration_ms = svc_cfg_duration_ms,
    .cfg_size = svc_cfg_size,
    .cfg_count = svc_cfg_count,
    .cfg_at = svc_cfg_at,
    .cfg_scalar = svc_cfg_scalar,
    .cfg_where = svc_cfg_where,
    .cfg_secret = svc_cfg_secret,
    .arena_alloc = svc_arena_alloc,
    .arena_strndup = svc_arena_strndup,
    .random_bytes = svc_random_bytes,
    .secure_zero = svc_secure_zero,
    .const_time_eq = svc_const_time_eq,
    .now_us = clock_now_us,
    .monotonic_us = clock_monotonic_us,
    .ossl_libctx = svc_ossl_libctx,
    .data_dir = svc_data_dir,
    .production_mode = svc_production_mode,
    .audit_emit = svc_audit_emit,
};

const caracal_host *host_services(void)
{
	return &host_table;
}
