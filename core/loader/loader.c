/*
 * loader.c — plugin loading and the ABI checks of PLUGIN-ABI.md §Loading.
 */
#include "config.h"

#include "loader/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <link.h>
#endif

#ifndef CARACAL_PLUGINDIR
#error "CARACAL_PLUGINDIR must be defined (-DCARACAL_PLUGINDIR=...)"
#endif

/* ------------------------------------------------------------------ vtables */

/*
 * Every kind's vtable is `uint32_t size` followed only by function pointers,
 * and every member up to the kind's *_MIN_SIZE is mandatory. So the mandatory
 * prefix is checked generically: it is an array of function pointers that
 * starts at LOADER_FIRST_OP (the size, padded to a function pointer's
 * alignment) and ends at MIN_SIZE. This relies on all function pointer types
 * having one size, alignment and representation (true of every platform
 * with dlsym, and required by POSIX for dlsym's void * to function pointer
 * conversion); the _Static_asserts below pin the layout it assumes, and the
 * name lists double as the count of mandatory ops per kind.
 */
typedef void (*loader_fn)(void);

#define LOADER_FIRST_OP \
	((sizeof(uint32_t) + _Alignof(loader_fn) - 1) / _Alignof(loader_fn) * _Alignof(loader_fn))

#define LOADER_NOPS(min_size) (((min_size)-LOADER_FIRST_OP) / sizeof(loader_fn))

_Static_assert(sizeof(loader_fn) == sizeof(void *), "function pointers are pointer-sized");
_Static_assert(offsetof(caracal_signer_ops, current_key) == LOADER_FIRST_OP,
               "signer ops start right after the size");
_Static_assert(offsetof(caracal_policy_ops, evaluate) == LOADER_FIRST_OP,
               "policy ops start right after the size");
_Static_assert(offsetof(caracal_storage_ops, migrate) == LOADER_FIRST_OP,
               "storage ops start right after the size");
_Static_assert(offsetof(caracal_stream_ops, publish) == LOADER_FIRST_OP,
               "stream ops start right after the size");
_Static_assert(offsetof(caracal_audit_ops, append) == LOADER_FIRST_OP,
               "audit ops start right after the size");

static const char *const signer_ops[] = {"current_key", "sign", "jwks", "rotate"};
static const char *const policy_ops[] = {"evaluate", "validate", "activate"};
static const char *const storage_ops[] = {
    "migrate",
    "zone_create",
    "zone_get",
    "zone_list",
    "application_create",
    "application_get",
    "application_list",
    "application_archive",
    "resource_create",
    "resource_get",
    "resource_list",
    "resource_archive",
    "grant_create",
    "grant_list",
    "grant_delete",
    "policy_version_create",
    "policy_version_get",
    "policy_activate",
    "policy_active_get",
    "authority_record_create",
    "authority_record_get",
    "session_create",
    "session_get",
    "session_set_status",
    "session_heartbeat",
    "delegation_create",
    "delegation_get",
    "delegation_epoch",
    "approval_create",
    "approval_get",
    "approval_list_pending",
    "approval_decide",
    "approval_consume",
    "revoke",
    "revocation_list",
    "single_use_claim",
    "rate_hit",
    "subject_issuer_create",
    "subject_issuer_get",
    "key_meta_put",
    "key_meta_list",
};
static const char *const stream_ops[] = {"publish", "group_create", "consume", "ack",
                                         "claim_stale"};
static const char *const audit_ops[] = {"append", "flush", "verify"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(LOADER_NOPS(CARACAL_SIGNER_OPS_MIN_SIZE) == NELEM(signer_ops), "signer prefix");
_Static_assert(LOADER_NOPS(CARACAL_POLICY_OPS_MIN_SIZE) == NELEM(policy_ops), "policy prefix");
_Static_assert(LOADER_NOPS(CARACAL_STORAGE_OPS_MIN_SIZE) == NELEM(storage_ops),
               "storage prefix: every member up to key_meta_list");
_Static_assert(LOADER_NOPS(CARACAL_STREAM_OPS_MIN_SIZE) == NELEM(stream_ops), "stream prefix");
_Static_assert(LOADER_NOPS(CARACAL_AUDIT_OPS_MIN_SIZE) == NELEM(audit_ops), "audit prefix");
_Static_assert(offsetof(caracal_storage_ops, key_meta_list) ==
                   LOADER_FIRST_OP + (NELEM(storage_ops) - 1) * sizeof(loader_fn),
               "key_meta_list is the last mandatory storage op");

/* A registered plugin: host-size copies of the descriptor and its vtables. */
struct plugin_entry {
	caracal_plugin desc;
	caracal_signer_ops signer;
	caracal_policy_ops policy;
	caracal_storage_ops storage;
	caracal_stream_ops stream;
	caracal_audit_ops audit;
	char *path;
	void *handle;
};

struct kind_info {
	uint32_t bit;
	const char *name;       /* "signer": the descriptor member and the header */
	const char *macro;      /* "CARACAL_KIND_SIGNER" */
	size_t desc_offset;     /* of the vtable pointer in caracal_plugin */
	size_t entry_offset;    /* of the host copy in struct plugin_entry */
	size_t min_size;        /* *_MIN_SIZE */
	size_t host_size;       /* sizeof the vtable as this host knows it */
	const char *const *ops; /* names of the mandatory ops, in order */
	size_t nops;
};

#define KIND(bit, name, type, MIN)                                                      \
	{                                                                               \
		bit, #name, #bit, offsetof(caracal_plugin, name),                       \
		    offsetof(struct plugin_entry, name), MIN, sizeof(type), name##_ops, \
		    NELEM(name##_ops)                                                   \
	}

static const struct kind_info kinds[] = {
    KIND(CARACAL_KIND_SIGNER, signer, caracal_signer_ops, CARACAL_SIGNER_OPS_MIN_SIZE),
    KIND(CARACAL_KIND_POLICY, policy, caracal_policy_ops, CARACAL_POLICY_OPS_MIN_SIZE),
    KIND(CARACAL_KIND_STORAGE, storage, caracal_storage_ops, CARACAL_STORAGE_OPS_MIN_SIZE),
    KIND(CARACAL_KIND_STREAM, stream, caracal_stream_ops, CARACAL_STREAM_OPS_MIN_SIZE),
    KIND(CARACAL_KIND_AUDIT, audit, caracal_audit_ops, CARACAL_AUDIT_OPS_MIN_SIZE),
};

#define KNOWN_KINDS                                                                               \
	(CARACAL_KIND_SIGNER | CARACAL_KIND_POLICY | CARACAL_KIND_STORAGE | CARACAL_KIND_STREAM | \
	 CARACAL_KIND_AUDIT)

/* ------------------------------------------------------------------ messages */

#define HOST_ABI "this caracald speaks ABI " STR(CARACAL_ABI_MAJOR) "." STR(CARACAL_ABI_MINOR)
#define STR(x) STR_(x)
#define STR_(x) #x
#define SDK "caracal-plugin " STR(CARACAL_ABI_MAJOR) "." STR(CARACAL_ABI_MINOR)

static const char *base_name(const char *file)
{
	const char *slash = strrchr(file, '/');
	return slash != NULL && slash[1] != '\0' ? slash + 1 : file;
}

/*
 * "<file>: <problem> (<plugin's ABI>; this caracald speaks ABI M.m); fix: <fix>"
 * When that does not fit in an error message, the file is shortened to its
 * base name so that the versions and the fix survive.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static int
fail(caracal_error *err, int code, const char *file, const caracal_plugin *d, const char *fix,
     const char *fmt, ...)
{
	char problem[CARACAL_ERROR_MESSAGE_MAX];
	char plugin_abi[96];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	if (vsnprintf(problem, sizeof problem, fmt, ap) < 0)
		problem[0] = '\0';
	va_end(ap);
	if (d != NULL)
		snprintf(plugin_abi, sizeof plugin_abi,
		         "plugin built for ABI %u.%u, needs host minor >= %u", d->abi_major,
		         d->abi_minor, d->min_host_minor);
	else
		snprintf(plugin_abi, sizeof plugin_abi, "plugin ABI not read yet");
	if (file == NULL)
		file = "(plugin)";
	caracal_error_set(err, code, "%s: %s (%s; %s); fix: %s", file, problem, plugin_abi,
	                  HOST_ABI, fix);
	if (strlen(err->message) + 1 >= sizeof err->message && base_name(file) != file)
		caracal_error_set(err, code, "%s: %s (%s; %s); fix: %s", base_name(file), problem,
		                  plugin_abi, HOST_ABI, fix);
	return code;
}

/* ------------------------------------------------------------------ pure checks */

int loader_check_name(const char *name, caracal_error *err)
{
	size_t i;

	if (name == NULL || name[0] < 'a' || name[0] > 'z')
		goto bad;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];
		if (i >= LOADER_NAME_MAX)
			goto bad;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			goto bad;
	}
	return CARACAL_OK;
bad:
	return caracal_error_set(err, CARACAL_E_INVAL,
	                         "invalid plugin name \"%.*s\": names are 1 to %d of [a-z0-9_], "
	                         "starting with a letter",
	                         LOADER_NAME_MAX, name != NULL ? name : "(null)", LOADER_NAME_MAX);
}

int loader_check_descriptor(const caracal_plugin *d, const char *expected_name, const char *file,
                            caracal_error *err)
{
	char fix[160];

	if (d == NULL)
		return fail(err, CARACAL_E_INVAL, file, NULL,
		            "declare the plugin with CARACAL_PLUGIN() from " SDK,
		            "no plugin descriptor");
	if (d->magic != CARACAL_PLUGIN_MAGIC)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "declare the plugin with CARACAL_PLUGIN() from " SDK,
		            "not a Caracal plugin descriptor (magic 0x%08x, expected 0x%08x)",
		            (unsigned)d->magic, CARACAL_PLUGIN_MAGIC);
	if (d->abi_major != CARACAL_ABI_MAJOR) {
		if (d->abi_major > CARACAL_ABI_MAJOR)
			snprintf(
			    fix, sizeof fix,
			    "upgrade caracald to one that speaks ABI %u.x, or rebuild the plugin "
			    "against " SDK,
			    d->abi_major);
		else
			snprintf(fix, sizeof fix,
			         "rebuild the plugin against caracal-plugin >= %d.0",
			         CARACAL_ABI_MAJOR);
		return fail(err, CARACAL_E_INVAL, file, d, fix,
		            "incompatible major ABI version %u (majors must be equal)",
		            d->abi_major);
	}
	if (d->min_host_minor > CARACAL_ABI_MINOR) {
		snprintf(fix, sizeof fix,
		         "upgrade caracald to ABI >= %d.%u, or rebuild the plugin against " SDK,
		         CARACAL_ABI_MAJOR, d->min_host_minor);
		return fail(err, CARACAL_E_INVAL, file, d, fix, "plugin needs a newer caracald");
	}
	if (d->min_host_minor > d->abi_minor)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "declare the plugin with CARACAL_PLUGIN() or CARACAL_PLUGIN_COMPAT()",
		            "inconsistent descriptor: min_host_minor is above the minor it was "
		            "built with");
	if (d->size < CARACAL_PLUGIN_MIN_SIZE) {
		snprintf(fix, sizeof fix, "rebuild the plugin against caracal-plugin >= %d.%d",
		         CARACAL_ABI_MAJOR, CARACAL_ABI_MINOR);
		return fail(err, CARACAL_E_INVAL, file, d, fix,
		            "descriptor is %u bytes, this host needs at least %zu",
		            (unsigned)d->size, (size_t)CARACAL_PLUGIN_MIN_SIZE);
	}
	if (loader_check_name(d->name, NULL) != CARACAL_OK)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "declare the plugin with CARACAL_PLUGIN(name, ...), name of [a-z0-9_]",
		            "descriptor has an invalid name");
	if (expected_name != NULL && strcmp(d->name, expected_name) != 0) {
		snprintf(fix, sizeof fix, "declare it with CARACAL_PLUGIN(%.64s, ...)",
		         expected_name);
		return fail(err, CARACAL_E_INVAL, file, d, fix,
		            "descriptor is named \"%.64s\", not \"%.64s\"", d->name, expected_name);
	}
	if (d->version == NULL)
		return fail(err, CARACAL_E_INVAL, file, d, "give CARACAL_PLUGIN() a version string",
		            "descriptor has no version");
	return CARACAL_OK;
}

static const void *vtable_of(const caracal_plugin *d, const struct kind_info *k)
{
	const void *vt;
	memcpy(&vt, (const unsigned char *)d + k->desc_offset, sizeof vt);
	return vt;
}

static int check_vtable(const caracal_plugin *d, const struct kind_info *k, const char *file,
                        caracal_error *err)
{
	const void *vt = vtable_of(d, k);
	char fix[160];
	uint32_t size;
	size_t i;

	if (!(d->kinds & k->bit)) {
		if (vt == NULL)
			return CARACAL_OK;
		snprintf(fix, sizeof fix, "add %s to .kinds, or drop .%s", k->macro, k->name);
		return fail(err, CARACAL_E_INVAL, file, d, fix,
		            "has a %s vtable but does not declare %s", k->name, k->macro);
	}
	if (vt == NULL) {
		snprintf(fix, sizeof fix, "set .%s = &ops, or drop %s from .kinds", k->name,
		         k->macro);
		return fail(err, CARACAL_E_INVAL, file, d, fix,
		            "declares %s but its %s vtable is NULL", k->macro, k->name);
	}
	memcpy(&size, vt, sizeof size);
	if (size < k->min_size) {
		snprintf(fix, sizeof fix,
		         "set .size = sizeof(caracal_%s_ops), rebuild with caracal-plugin >= %d.%d",
		         k->name, CARACAL_ABI_MAJOR, CARACAL_ABI_MINOR);
		return fail(err, CARACAL_E_INVAL, file, d, fix,
		            "%s vtable is %u bytes < %zu (through %s)", k->name, (unsigned)size,
		            k->min_size, k->ops[k->nops - 1]);
	}
	for (i = 0; i < k->nops; i++) {
		loader_fn fn;
		memcpy(&fn, (const unsigned char *)vt + LOADER_FIRST_OP + i * sizeof fn, sizeof fn);
		if (fn == NULL) {
			snprintf(fix, sizeof fix,
			         "implement %s.%s (it may return CARACAL_E_UNSUPPORTED)", k->name,
			         k->ops[i]);
			return fail(err, CARACAL_E_INVAL, file, d, fix,
			            "mandatory op %s.%s is NULL", k->name, k->ops[i]);
		}
	}
	return CARACAL_OK;
}

int loader_check_vtables(const caracal_plugin *d, const char *file, caracal_error *err)
{
	size_t i;
	int rc;

	if (d->kinds == 0 || (d->kinds & ~KNOWN_KINDS) != 0)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "set .kinds to CARACAL_KIND_* bits of " SDK,
		            d->kinds == 0 ? "declares no kind (kinds 0x%x)"
		                          : "declares unknown kinds (kinds 0x%x)",
		            (unsigned)d->kinds);
	if (d->instance_create == NULL)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "set .instance_create in CARACAL_PLUGIN()",
		            "mandatory entry point instance_create is NULL");
	if (d->instance_destroy == NULL)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "set .instance_destroy in CARACAL_PLUGIN()",
		            "mandatory entry point instance_destroy is NULL");
	if ((d->flags & CARACAL_PLUGIN_F_THREADS) && d->instance_stop == NULL)
		return fail(err, CARACAL_E_INVAL, file, d,
		            "set .instance_stop to join the plugin's threads",
		            "declares CARACAL_PLUGIN_F_THREADS but instance_stop is NULL");
	if ((d->thread_create == NULL) != (d->thread_destroy == NULL))
		return fail(err, CARACAL_E_INVAL, file, d,
		            "set both .thread_create and .thread_destroy, or neither",
		            "thread_create and thread_destroy come in pairs");
	for (i = 0; i < NELEM(kinds); i++) {
		rc = check_vtable(d, &kinds[i], file, err);
		if (rc != CARACAL_OK)
			return rc;
	}
	return CARACAL_OK;
}

static int owner_ok(uid_t uid, const loader_policy *policy)
{
	return uid == 0 || uid == policy->trusted_uid;
}

int loader_check_file(const char *path, const loader_policy *policy, caracal_error *err)
{
	char real[PATH_MAX], dir[PATH_MAX], fix[PATH_MAX + 64];
	const char *plugin_dir =
	    policy->plugin_dir != NULL ? policy->plugin_dir : CARACAL_PLUGINDIR;
	struct stat st;
	char *slash;

	if (path == NULL || path[0] != '/')
		return fail(err, CARACAL_E_INVAL, path, NULL,
		            "give an absolute path, or only the name to load <plugindir>/NAME.so",
		            "plugin path is not absolute");
	if (realpath(path, real) == NULL) {
		int e = errno;
		snprintf(fix, sizeof fix, "install the plugin into %s, or fix the path",
		         plugin_dir);
		return fail(err, e == ENOENT || e == ENOTDIR ? CARACAL_E_NOTFOUND : CARACAL_E_INVAL,
		            path, NULL, fix, "%s", strerror(e));
	}
	if (!policy->allow_outside_dir) {
		char rdir[PATH_MAX];
		size_t n;

		if (plugin_dir[0] != '/' || realpath(plugin_dir, rdir) == NULL) {
			int e = plugin_dir[0] != '/' ? EINVAL : errno;
			snprintf(fix, sizeof fix,
			         "create %s or configure an absolute plugin directory", plugin_dir);
			return fail(err, CARACAL_E_INVAL, path, NULL, fix,
			            "plugin directory %s: %s", plugin_dir, strerror(e));
		}
		n = strlen(rdir);
		if (strcmp(rdir, "/") != 0 && (strncmp(real, rdir, n) != 0 || real[n] != '/')) {
			snprintf(fix, sizeof fix,
			         "install it into %s, or allow plugins outside it in the config",
			         plugin_dir);
			return fail(err, CARACAL_E_INVAL, path, NULL, fix,
			            "resolves to %s, outside the plugin directory %s", real, rdir);
		}
	}
	if (stat(real, &st) != 0) {
		int e = errno;
		return fail(err, e == ENOENT ? CARACAL_E_NOTFOUND : CARACAL_E_INVAL, path, NULL,
		            "check the file", "%s", strerror(e));
	}
	if (!S_ISREG(st.st_mode))
		return fail(err, CARACAL_E_INVAL, path, NULL, "point at the plugin's .so file",
		            "not a regular file");
	if (!owner_ok(st.st_uid, policy)) {
		snprintf(fix, sizeof fix, "chown root %s", real);
		return fail(err, CARACAL_E_INVAL, path, NULL, fix,
		            "owned by uid %u, not by root or the daemon's user (uid %u)",
		            (unsigned)st.st_uid, (unsigned)policy->trusted_uid);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(fix, sizeof fix, "chmod go-w %s", real);
		return fail(err, CARACAL_E_INVAL, path, NULL, fix,
		            "is group- or world-writable (mode %04o)",
		            (unsigned)(st.st_mode & 07777));
	}

	/* Whoever can write the directory can replace the file. */
	memcpy(dir, real, strlen(real) + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0) {
		int e = errno;
		return fail(err, CARACAL_E_INVAL, path, NULL, "check the plugin directory",
		            "directory %s: %s", dir, strerror(e));
	}
	if (!owner_ok(st.st_uid, policy)) {
		snprintf(fix, sizeof fix, "chown root %s", dir);
		return fail(err, CARACAL_E_INVAL, path, NULL, fix,
		            "its directory is owned by uid %u, not by root or the daemon's user "
		            "(uid %u)",
		            (unsigned)st.st_uid, (unsigned)policy->trusted_uid);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(fix, sizeof fix, "chmod go-w %s", dir);
		return fail(err, CARACAL_E_INVAL, path, NULL, fix,
		            "its directory is group- or world-writable (mode %04o)",
		            (unsigned)(st.st_mode & 07777));
	}
	return CARACAL_OK;
}

/* ------------------------------------------------------------------ registry */

struct plugin_registry {
	loader_policy policy;
	char *plugin_dir;
	struct plugin_entry **entries;
	size_t count, cap;
	void **rejected; /* handles of plugins that failed a check (never called) */
	size_t nrejected, caprejected;
};

plugin_registry *plugin_registry_new(const loader_policy *policy)
{
	plugin_registry *reg = calloc(1, sizeof *reg);

	if (reg == NULL)
		return NULL;
	if (policy != NULL) {
		reg->policy = *policy;
	} else {
		reg->policy.allow_outside_dir = 0;
		reg->policy.trusted_uid = geteuid();
	}
	reg->plugin_dir =
	    strdup(reg->policy.plugin_dir != NULL ? reg->policy.plugin_dir : CARACAL_PLUGINDIR);
	if (reg->plugin_dir == NULL) {
		free(reg);
		return NULL;
	}
	reg->policy.plugin_dir = reg->plugin_dir;
	return reg;
}

static struct plugin_entry *find_entry(const plugin_registry *reg, const char *name)
{
	size_t i;

	for (i = 0; i < reg->count; i++)
		if (strcmp(reg->entries[i]->desc.name, name) == 0)
			return reg->entries[i];
	return NULL;
}

const caracal_plugin *plugin_registry_find(const plugin_registry *reg, const char *name)
{
	struct plugin_entry *e;

	if (reg == NULL || name == NULL)
		return NULL;
	e = find_entry(reg, name);
	return e != NULL ? &e->desc : NULL;
}

size_t plugin_registry_count(const plugin_registry *reg)
{
	return reg != NULL ? reg->count : 0;
}

const caracal_plugin *plugin_registry_at(const plugin_registry *reg, size_t i)
{
	return reg != NULL && i < reg->count ? &reg->entries[i]->desc : NULL;
}

const char *plugin_registry_path(const plugin_registry *reg, const char *name)
{
	struct plugin_entry *e;

	if (reg == NULL || name == NULL)
		return NULL;
	e = find_entry(reg, name);
	return e != NULL ? e->path : NULL;
}

/* Remember a handle whose plugin was rejected: its code is not unloaded
 * either (its constructors have run), but the tests may dlclose it. */
static void keep_rejected(plugin_registry *reg, void *handle)
{
	if (reg->nrejected == reg->caprejected) {
		size_t cap = reg->caprejected ? reg->caprejected * 2 : 8;
		void **p = realloc(reg->rejected, cap * sizeof *p);
		if (p == NULL)
			return; /* it just stays mapped, as in production */
		reg->rejected = p;
		reg->caprejected = cap;
	}
	reg->rejected[reg->nrejected++] = handle;
}

/* Copy a descriptor or vtable of `size` bytes (as the plugin was built) into a
 * host-size struct: members the plugin does not have read as NULL. */
static void copy_sized(void *dst, size_t host_size, const void *src, uint32_t size)
{
	size_t n = size < host_size ? size : host_size;
	uint32_t stored = (uint32_t)n;

	memset(dst, 0, host_size);
	memcpy(dst, src, n);
	memcpy(dst, &stored, sizeof stored);
}

#if defined(__GLIBC__)
/* The descriptor symbol must be defined by the file itself (not found in one
 * of its dependencies) and be as big as it says it is, so that no check reads
 * past its end. */
static int check_symbol(const void *sym, const char *real, const char *symname, size_t *symsize,
                        caracal_error *err)
{
	Dl_info info;
	const ElfW(Sym) *es = NULL;

	if (dladdr1(sym, &info, (void **)&es, RTLD_DL_SYMENT) == 0 || info.dli_fname == NULL)
		return fail(err, CARACAL_E_INVAL, real, NULL, "export it from the plugin itself",
		            "%s is not in any loaded object", symname);
	if (strcmp(info.dli_fname, real) != 0)
		return fail(err, CARACAL_E_INVAL, real, NULL,
		            "define the descriptor in the plugin, not in a library it links",
		            "%s comes from %s", symname, info.dli_fname);
	if (es != NULL && es->st_size != 0 && es->st_size < CARACAL_PLUGIN_MIN_SIZE)
		return fail(err, CARACAL_E_INVAL, real, NULL,
		            "rebuild the plugin against " SDK " with CARACAL_PLUGIN()",
		            "%s is only %zu bytes", symname, (size_t)es->st_size);
	*symsize = es != NULL ? (size_t)es->st_size : 0;
	return CARACAL_OK;
}
#endif

const caracal_plugin *plugin_registry_load(plugin_registry *reg, const char *name, const char *path,
                                           caracal_error *err)
{
	char defpath[PATH_MAX], real[PATH_MAX];
	char symname[sizeof "caracal_plugin_" + LOADER_NAME_MAX];
	struct plugin_entry *e;
	const caracal_plugin *d;
	void *handle, *sym;
	const char *dlerr;
	size_t i, symsize = 0; /* the symbol's size in the ELF symbol table, 0: unknown */
	int rc;

	if (reg == NULL) {
		caracal_error_set(err, CARACAL_E_INVAL, "plugin_registry_load: no registry");
		return NULL;
	}
	if (loader_check_name(name, err) != CARACAL_OK)
		return NULL;
	if (path == NULL) {
		if ((size_t)snprintf(defpath, sizeof defpath, "%s/%s.so", reg->plugin_dir, name) >=
		    sizeof defpath) {
			fail(err, CARACAL_E_INVAL, name, NULL, "use a shorter plugin directory",
			     "plugin path too long");
			return NULL;
		}
		path = defpath;
	}

	/* 1. the file */
	if (loader_check_file(path, &reg->policy, err) != CARACAL_OK)
		return NULL;
	if (realpath(path, real) == NULL) { /* checked just above; races are errors */
		fail(err, CARACAL_E_NOTFOUND, path, NULL, "check the file", "%s", strerror(errno));
		return NULL;
	}

	/* 2. dlopen the resolved path: it and its directory are writable only by
	 * root or the daemon's user, so nobody else can swap it in between. */
	dlerror();
	handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		size_t n = strlen(real);
		dlerr = dlerror();
		/* glibc says "FILE: problem"; the message names FILE already */
		if (dlerr != NULL && strncmp(dlerr, real, n) == 0 &&
		    strncmp(dlerr + n, ": ", 2) == 0)
			dlerr += n + 2;
		fail(err, CARACAL_E_INVAL, real, NULL,
		     "check its dependencies (ldd) and that it links with -z defs",
		     "dlopen failed: %s", dlerr != NULL ? dlerr : "unknown error");
		return NULL;
	}

	/* 3. the descriptor */
	snprintf(symname, sizeof symname, "caracal_plugin_%s", name);
	dlerror();
	sym = dlsym(handle, symname);
	dlerr = dlerror();
	if (sym == NULL) {
		char fix[160];
		(void)dlerr; /* "FILE: undefined symbol: SYM" says nothing more */
		snprintf(fix, sizeof fix, "declare it with CARACAL_PLUGIN(%s, ...) and export it",
		         name);
		fail(err, CARACAL_E_INVAL, real, NULL, fix, "no symbol %s", symname);
		goto reject;
	}
	d = sym;
#if defined(__GLIBC__)
	if (check_symbol(sym, real, symname, &symsize, err) != CARACAL_OK)
		goto reject;
#endif
	if (loader_check_descriptor(d, name, real, err) != CARACAL_OK)
		goto reject;
	if (symsize != 0 && d->size > symsize) {
		fail(err, CARACAL_E_INVAL, real, d, "declare the plugin with CARACAL_PLUGIN()",
		     "descriptor says %u bytes but %s is %zu", (unsigned)d->size, symname, symsize);
		goto reject;
	}

	/* 4. one plugin per name */
	if (find_entry(reg, name) != NULL) {
		char fix[PATH_MAX + 64];
		snprintf(fix, sizeof fix,
		         "name the plugin once in the config (first loaded from %s)",
		         find_entry(reg, name)->path);
		fail(err, CARACAL_E_INVAL, real, d, fix, "plugin %s is already loaded", name);
		goto reject;
	}

	/* 6. the vtables, checked on a host-size copy of the descriptor */
	e = calloc(1, sizeof *e);
	if (e == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "%s: out of memory", real);
		goto reject;
	}
	copy_sized(&e->desc, sizeof e->desc, d, d->size);
	rc = loader_check_vtables(&e->desc, real, err);
	if (rc != CARACAL_OK) {
		free(e);
		goto reject;
	}
	for (i = 0; i < NELEM(kinds); i++) {
		const struct kind_info *k = &kinds[i];
		const void *vt = vtable_of(&e->desc, k);
		void *copy = (unsigned char *)e + k->entry_offset;
		uint32_t size;

		if (vt == NULL)
			continue;
		memcpy(&size, vt, sizeof size);
		copy_sized(copy, k->host_size, vt, size);
		memcpy((unsigned char *)&e->desc + k->desc_offset, &copy, sizeof copy);
	}
	e->path = strdup(real);
	if (e->path == NULL || reg->count == SIZE_MAX / sizeof *reg->entries)
		goto nomem;
	if (reg->count == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 8;
		struct plugin_entry **p = realloc(reg->entries, cap * sizeof *p);
		if (p == NULL)
			goto nomem;
		reg->entries = p;
		reg->cap = cap;
	}
	e->handle = handle;
	reg->entries[reg->count++] = e;
	return &e->desc;

nomem:
	free(e->path);
	free(e);
	caracal_error_set(err, CARACAL_E_NOMEM, "%s: out of memory", real);
reject:
	keep_rejected(reg, handle);
	return NULL;
}

void plugin_registry_free(plugin_registry *reg)
{
	const char *env = getenv("CARACAL_LOADER_DLCLOSE");
	int unload = env != NULL && strcmp(env, "1") == 0;
	size_t i;

	if (reg == NULL)
		return;
	for (i = 0; i < reg->count; i++) {
		if (unload)
			dlclose(reg->entries[i]->handle);
		free(reg->entries[i]->path);
		free(reg->entries[i]);
	}
	for (i = 0; i < reg->nrejected; i++)
		if (unload)
			dlclose(reg->rejected[i]);
	free(reg->rejected);
	free(reg->entries);
	free(reg->plugin_dir);
	free(reg);
}
