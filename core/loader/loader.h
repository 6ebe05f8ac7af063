/*
 * loader.h — loading plugins through the stable C ABI (PLUGIN-ABI.md §Loading).
 *
 * plugin_registry_load() runs every check of §Loading, in order, before any
 * plugin function is called:
 *
 *   1. the file: owned by root or the daemon's user, not group/world-writable,
 *      in a directory that is not group/world-writable either, and (unless the
 *      config allows otherwise) under the plugin directory once every symlink
 *      is resolved;
 *   2. dlopen(RTLD_NOW | RTLD_LOCAL) — never RTLD_GLOBAL (one plugin's symbols
 *      would satisfy another's) and never RTLD_DEEPBIND (breaks ASan's and
 *      UBSan's interposition of malloc and friends);
 *   3. dlsym("caracal_plugin_<name>"): magic, major == host major, the host's
 *      minor >= min_host_minor, descriptor size, descriptor name;
 *   4. no second plugin of the same name;
 *   5. (the caller) the config block against d->config_schema;
 *   6. every vtable: present exactly for the kinds declared, its size covers
 *      the mandatory prefix, and no mandatory op is NULL.
 *
 * Every failure returns CARACAL_E_INVAL (CARACAL_E_NOTFOUND for a missing
 * file) with a message naming the file, the plugin's ABI ("built for ABI 1.0,
 * needs host minor >= N", when the descriptor could be read), the host's ABI
 * ("this caracald speaks ABI 1.0") and the fix.
 *
 * The registry returns host-owned copies of descriptors and vtables: members a
 * plugin built against an older minor does not have (beyond its size) read as
 * NULL, so callers never compare sizes themselves.
 *
 * dlopen() runs the plugin's ELF constructors before its descriptor can be
 * read: that is why step 1 is strict, and why a rejected plugin stays mapped
 * too. Sizes a plugin declares for its vtables are trusted (they are static
 * objects the loader cannot measure); the descriptor's size is checked
 * against its symbol's size where the C library can tell (glibc).
 *
 * Not thread-safe: plugins are loaded on the main thread before workers start.
 */
#ifndef CARACAL_CORE_LOADER_H
#define CARACAL_CORE_LOADER_H

#include <sys/types.h>

#include <caracal/plugin.h>

typedef struct loader_policy {
	const char *plugin_dir; /* absolute; NULL: CARACAL_PLUGINDIR */
	int allow_outside_dir;  /* config may allow paths outside plugin_dir */
	uid_t trusted_uid;      /* file owner allowed besides root (the daemon's euid) */
} loader_policy;

/* The longest plugin name; names are [a-z0-9_], starting with a letter. */
#define LOADER_NAME_MAX 64

typedef struct plugin_registry plugin_registry;

/* A registry with a copy of policy (NULL: CARACAL_PLUGINDIR, no outside paths,
 * trusted_uid = geteuid()). NULL on allocation failure. */
plugin_registry *plugin_registry_new(const loader_policy *policy);

/*
 * Load plugin name from path (NULL: <plugin_dir>/<name>.so) and run checks 1-4
 * and 6. Returns the descriptor (owned by the registry, valid for the life of
 * the process: code is never unloaded), or NULL with err filled. init() is not
 * called here: the caller validates the config (5) and initialises.
 */
const caracal_plugin *plugin_registry_load(plugin_registry *reg, const char *name, const char *path,
                                           caracal_error *err);

/* The loaded plugin named name, or NULL. */
const caracal_plugin *plugin_registry_find(const plugin_registry *reg, const char *name);

/* Number of loaded plugins, and the i-th in load order (NULL past the end). */
size_t plugin_registry_count(const plugin_registry *reg);
const caracal_plugin *plugin_registry_at(const plugin_registry *reg, size_t i);

/* The resolved path a loaded plugin came from, or NULL. */
const char *plugin_registry_path(const plugin_registry *reg, const char *name);

/*
 * Pure checks, usable without dlopen. file is only used in messages.
 * Each returns CARACAL_OK or a CARACAL_E_* code with err filled.
 */

/* Step 3: magic, major, minor range, size, name (expected_name NULL: skip). */
int loader_check_descriptor(const caracal_plugin *d, const char *expected_name, const char *file,
                            caracal_error *err);

/* Step 6, and the mandatory entry points: instance_create, instance_destroy,
 * instance_stop with CARACAL_PLUGIN_F_THREADS. d must have passed
 * loader_check_descriptor(). */
int loader_check_vtables(const caracal_plugin *d, const char *file, caracal_error *err);

/* Step 1. path must be absolute. */
int loader_check_file(const char *path, const loader_policy *policy, caracal_error *err);

/* Step "name": [a-z0-9_]{1,LOADER_NAME_MAX}, starting with a letter (it becomes
 * part of a symbol and of a file name, so no '/' or '.' ever reaches a path). */
int loader_check_name(const char *name, caracal_error *err);

/*
 * Free the registry. The plugins' code stays mapped: dlclose() is only called
 * when CARACAL_LOADER_DLCLOSE=1 is in the environment (the tests, so that
 * LeakSanitizer sees a clean process). In production a plugin may have left
 * threads, timers, atexit handlers, OpenSSL callbacks or thread-local
 * destructors pointing into its code, and unmapping it under them is the
 * classic use-after-unmap crash; reload replaces instances, never code.
 */
void plugin_registry_free(plugin_registry *reg);

#endif
