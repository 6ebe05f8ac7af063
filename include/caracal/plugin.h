/*
 * caracal/plugin.h — the Caracal plugin ABI: how a plugin declares itself.
 *
 * Include this one header; it pulls in the rest of the SDK.
 *
 * ABI changelog (newest first). The rules, as Varnish has them for VMODs:
 * a plugin loads when its major equals the host's and the host's minor is at
 * least the plugin's min_host_minor. A minor release only appends members to
 * the end of structs and never changes the meaning of existing ones; anything
 * else is a major release.
 *
 *   1.2  2026-11  storage: optional rate_take (a block of a rate window's
 *                 hits in one write, for hosts that count them locally);
 *                 optional config_generation (a number that moves with
 *                 every configuration write, for hosts that cache it);
 *                 optional mint_write_batch (group commit of mints).
 *   1.1  2026-11  storage: optional mint_write (a mint's writes in one
 *                 transaction) and struct caracal_mint_write; optional
 *                 approval_get_or_create (one live hold per binding);
 *                 optional application_find (by id, whatever the zone);
 *                 optional approval_sweep (old holds deleted).
 *   1.0  2026-11  first stable ABI: descriptor, host services, and the
 *                 signer, policy, storage, stream and audit sink vtables.
 *
 * Lifecycle and threading (after FreeRADIUS v4's plugin / instance /
 * thread-instance split):
 *
 *   init              once per process, before anything else, with the host
 *                     services table. Optional.
 *   instance_create   once per config block naming the plugin (two blocks,
 *                     two instances). Called on the main thread. On reload a
 *                     new instance is created from the new config and the old
 *                     one destroyed once nothing uses it; code is never
 *                     unloaded.
 *   instance_ready    whether the instance can serve now (/ready). Any thread.
 *   thread_create     once per decision-pool worker (and per core background
 *                     thread) that will call the instance; the thread
 *                     context holds that thread's connections and scratch, so
 *                     operations need no locks on the hot path. Called on the
 *                     thread that will use it.
 *   <kind ops>        synchronous, from the thread that owns tctx; each call
 *                     bounds its own time and never blocks indefinitely.
 *   thread_destroy    on that same thread.
 *   instance_stop     stop and join any thread the instance started
 *                     (CARACAL_PLUGIN_F_THREADS); no op is called afterwards.
 *   instance_destroy  frees the instance.
 *
 * Plugins never call process-global setters: no signal handlers, no
 * allocator hooks, no OpenSSL_cleanup(), no setlocale().
 *
 * Building: -fvisibility=hidden, -z defs, and export only the descriptor
 * (libtool: -module -avoid-version -export-symbols-regex '^caracal_plugin_').
 * pkg-config --cflags caracal-plugin gives the include path.
 */
#ifndef CARACAL_PLUGIN_H
#define CARACAL_PLUGIN_H

#include <caracal/audit.h>
#include <caracal/common.h>
#include <caracal/host.h>
#include <caracal/policy.h>
#include <caracal/signer.h>
#include <caracal/storage.h>
#include <caracal/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CARACAL_ABI_MAJOR 1
#define CARACAL_ABI_MINOR 2

/* "CRCL" — the first four bytes of every descriptor. */
#define CARACAL_PLUGIN_MAGIC 0x4352434cu

/* Kinds a plugin provides (a plugin may provide several). */
#define CARACAL_KIND_SIGNER 0x01u
#define CARACAL_KIND_POLICY 0x02u
#define CARACAL_KIND_STORAGE 0x04u
#define CARACAL_KIND_STREAM 0x08u
#define CARACAL_KIND_AUDIT 0x10u

/* Descriptor flags. */
#define CARACAL_PLUGIN_F_THREADS 0x01u /* instances start threads; instance_stop joins them */

/* One key of a plugin's config block. The host validates the block against
 * the schema before instance_create: unknown keys, missing required keys and
 * values of the wrong type are errors naming file:line. A SECRET key K is
 * written in the config as K_file (a path) or K_env (a variable name). */
#define CARACAL_CFG_REQUIRED 0x01u

typedef struct caracal_cfg_key {
	const char *name;
	caracal_cfg_type type;
	uint32_t flags;
	const char *help; /* one line, shown by caracald -t on errors */
} caracal_cfg_key;

typedef struct caracal_plugin {
	/* --- fixed forever: the loader reads these before anything else --- */
	uint32_t magic;          /* CARACAL_PLUGIN_MAGIC */
	uint16_t abi_major;      /* CARACAL_ABI_MAJOR the plugin was built with */
	uint16_t abi_minor;      /* CARACAL_ABI_MINOR the plugin was built with */
	uint16_t min_host_minor; /* the oldest host minor it runs on */
	uint16_t flags;          /* CARACAL_PLUGIN_F_* */
	uint32_t size;           /* sizeof(caracal_plugin) as the plugin was built */

	/* --- ABI 1.0 --- */
	const char *name;    /* must equal the <name> of its caracal_plugin_<name> symbol */
	const char *version; /* the plugin's own version, free-form */
	uint32_t kinds;      /* CARACAL_KIND_* bits */
	const caracal_cfg_key *config_schema; /* terminated by a {NULL} entry; may be NULL */

	int (*init)(const caracal_host *host, caracal_error *err); /* optional */

	/* Mandatory. scope identifies the instance in host->log and metrics; cfg
	 * is the instance's config block (validated). *instance receives the
	 * plugin's state. */
	int (*instance_create)(const caracal_host *host, const caracal_scope *scope,
	                       const caracal_cfg *cfg, void **instance, caracal_error *err);
	int (*instance_ready)(void *instance, caracal_error *err); /* optional: always ready */
	void (*instance_stop)(void *instance);                     /* mandatory with F_THREADS */
	void (*instance_destroy)(void *instance);                  /* mandatory */

	/* Optional (a plugin without per-thread state passes tctx = instance). */
	int (*thread_create)(void *instance, void **tctx, caracal_error *err);
	void (*thread_destroy)(void *instance, void *tctx);

	/* One vtable per kind in kinds; NULL for kinds not provided. */
	const caracal_signer_ops *signer;
	const caracal_policy_ops *policy;
	const caracal_storage_ops *storage;
	const caracal_stream_ops *stream;
	const caracal_audit_ops *audit;
} caracal_plugin;

/* The smallest descriptor a 1.x host accepts: everything through audit. */
#define CARACAL_PLUGIN_MIN_SIZE \
	(offsetof(caracal_plugin, audit) + sizeof(((caracal_plugin *)0)->audit))

#if defined(__GNUC__)
#define CARACAL_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CARACAL_PLUGIN_EXPORT
#endif

/*
 * Declare the plugin in one line:
 *
 *   CARACAL_PLUGIN(audit_file, "1.0.0", .kinds = CARACAL_KIND_AUDIT,
 *                  .config_schema = schema, .instance_create = create,
 *                  .instance_destroy = destroy, .audit = &ops);
 *
 * It defines the exported const symbol caracal_plugin_<name> and fills the
 * fixed fields, with min_host_minor = the minor built against. A plugin that
 * uses nothing newer than minor N declares itself with
 * CARACAL_PLUGIN_COMPAT(name, version, N, ...) so that older hosts load it.
 */
#define CARACAL_PLUGIN(plugin_name, plugin_version, ...) \
	CARACAL_PLUGIN_COMPAT(plugin_name, plugin_version, CARACAL_ABI_MINOR, __VA_ARGS__)

#define CARACAL_PLUGIN_COMPAT(plugin_name, plugin_version, oldest_host_minor, ...)  \
	CARACAL_PLUGIN_EXPORT const caracal_plugin caracal_plugin_##plugin_name = { \
	    .magic = CARACAL_PLUGIN_MAGIC,                                          \
	    .abi_major = CARACAL_ABI_MAJOR,                                         \
	    .abi_minor = CARACAL_ABI_MINOR,                                         \
	    .min_host_minor = (oldest_host_minor),                                  \
	    .size = sizeof(caracal_plugin),                                         \
	    .name = #plugin_name,                                                   \
	    .version = plugin_version,                                              \
	    __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_PLUGIN_H */
