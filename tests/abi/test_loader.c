/*
 * test_loader.c — the loader's checks (PLUGIN-ABI.md §Loading), first as pure
 * functions on descriptors built here, then through dlopen on the fixture
 * plugins (tests/abi/fixture.c) copied into a private plugin directory.
 *
 * Every rejection asserts the status code AND that the message names the
 * file, both ABI versions and the fix.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader/loader.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define CUR "1." STR(CARACAL_ABI_MINOR) /* this host's ABI, as messages write it */
#define CUR_NEEDS "needs host minor >= " STR(CARACAL_ABI_MINOR)
#define HOST_ABI_TEXT "this caracald speaks ABI " CUR
/* Minor versions past this host's, as the fixtures declare them. */
#define NEXT "1.3"
#define NEXT_NEEDS "needs host minor >= 3"
#define NEXT3 "1.5"
#define NEXT3_NEEDS "needs host minor >= 5"
_Static_assert(CARACAL_ABI_MINOR == 2, "update NEXT and NEXT3 for the new minor");

static char fixtures[1024]; /* <builddir>/tests/abi/.libs */
static char plugdir[1024];  /* private plugin directory, 0755 */
static char otherdir[1024]; /* a second private directory, outside plugdir */

/* ------------------------------------------------------------------ helpers */

#define assert_contains(haystack, needle)                                                 \
	do {                                                                              \
		if (strstr((haystack), (needle)) == NULL)                                 \
			fail_msg("message \"%s\"\n  lacks \"%s\"", (haystack), (needle)); \
	} while (0)

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[8192];
	size_t n;
	FILE *in = fopen(from, "rb");
	FILE *out;

	if (in == NULL)
		fail_msg("cannot open fixture %s: %s (run via make check)", from, strerror(errno));
	unlink(to);
	out = fopen(to, "wb");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(to, mode), 0);
}

/* Copy fixture `name` into dir as <name>.so and return its path. */
static const char *install_fixture(const char *dir, const char *name, mode_t mode)
{
	static char to[PATH_MAX];
	char from[PATH_MAX];

	snprintf(from, sizeof from, "%s/%s.so", fixtures, name);
	snprintf(to, sizeof to, "%s/%s.so", dir, name);
	copy_file(from, to, mode);
	return to;
}

static plugin_registry *new_registry(void)
{
	loader_policy policy = {plugdir, 0, geteuid()};
	plugin_registry *reg = plugin_registry_new(&policy);
	assert_non_null(reg);
	return reg;
}

/* Load name from plugdir, expect code, and check the message's common parts. */
static void expect_rejected(const char *name, int code, const char *plugin_abi, const char *problem,
                            const char *fix)
{
	plugin_registry *reg = new_registry();
	caracal_error err = {0};
	char file[PATH_MAX];

	snprintf(file, sizeof file, "%s.so", name);
	assert_null(plugin_registry_load(reg, name, NULL, &err));
	assert_int_equal(err.code, code);
	assert_contains(err.message, file);
	assert_contains(err.message, HOST_ABI_TEXT);
	if (plugin_abi != NULL)
		assert_contains(err.message, plugin_abi);
	assert_contains(err.message, problem);
	assert_contains(err.message, "fix: ");
	assert_contains(err.message, fix);
	assert_null(plugin_registry_find(reg, name));
	assert_int_equal(plugin_registry_count(reg), 0);
	plugin_registry_free(reg);
}

static int noop_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err)
{
	(void)host, (void)scope, (void)cfg, (void)err;
	*instance = NULL;
	return CARACAL_OK;
}

static void noop_destroy(void *instance)
{
	(void)instance;
}

static int noop_thread_create(void *instance, void **tctx, caracal_error *err)
{
	(void)err;
	*tctx = instance;
	return CARACAL_OK;
}

static void noop_thread_destroy(void *instance, void *tctx)
{
	(void)instance, (void)tctx;
}

/* Any non-NULL function pointer value, for filling vtables generically. */
static void some_op(void)
{
}

/* Fill every op of a vtable of `size` bytes (after its uint32_t size). */
static void fill_ops(void *vt, size_t size)
{
	void (*fn)(void) = some_op;
	size_t off;

	memset(vt, 0, size);
	for (off = sizeof(void *); off + sizeof fn <= size; off += sizeof fn)
		memcpy((unsigned char *)vt + off, &fn, sizeof fn);
	memcpy(vt, &(uint32_t){(uint32_t)size}, sizeof(uint32_t));
}

static caracal_policy_ops good_policy;
static caracal_storage_ops good_storage;

static caracal_plugin good_desc(void)
{
	caracal_plugin d = {
	    .magic = CARACAL_PLUGIN_MAGIC,
	    .abi_major = CARACAL_ABI_MAJOR,
	    .abi_minor = CARACAL_ABI_MINOR,
	    .min_host_minor = CARACAL_ABI_MINOR,
	    .size = sizeof(caracal_plugin),
	    .name = "unit",
	    .version = "1",
	    .kinds = CARACAL_KIND_POLICY | CARACAL_KIND_STORAGE,
	    .instance_create = noop_create,
	    .instance_destroy = noop_destroy,
	    .policy = &good_policy,
	    .storage = &good_storage,
	};
	fill_ops(&good_policy, sizeof good_policy);
	fill_ops(&good_storage, sizeof good_storage);
	return d;
}

/* ------------------------------------------------------------------ pure checks */

static void check_desc_fails(const caracal_plugin *d, const char *expect1, const char *expect2)
{
	caracal_error err = {0};

	assert_int_equal(loader_check_descriptor(d, "unit", "/x/unit.so", &err), CARACAL_E_INVAL);
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "/x/unit.so");
	assert_contains(err.message, HOST_ABI_TEXT);
	assert_contains(err.message, expect1);
	assert_contains(err.message, expect2);
}

static void test_descriptor_checks(void **state)
{
	caracal_plugin d = good_desc();
	caracal_error err = {0};

	(void)state;
	assert_int_equal(loader_check_descriptor(&d, "unit", "/x/unit.so", &err), CARACAL_OK);
	assert_int_equal(loader_check_vtables(&d, "/x/unit.so", &err), CARACAL_OK);

	d = good_desc();
	d.magic = 0;
	check_desc_fails(&d, "not a Caracal plugin descriptor", "CARACAL_PLUGIN()");

	d = good_desc();
	d.abi_major = CARACAL_ABI_MAJOR + 1;
	d.abi_minor = 0;
	d.min_host_minor = 0;
	check_desc_fails(&d, "plugin built for ABI 2.0, needs host minor >= 0",
	                 "upgrade caracald to one that speaks ABI 2.x");

	d = good_desc();
	d.abi_major = CARACAL_ABI_MAJOR - 1;
	check_desc_fails(&d, "built for ABI 0." STR(CARACAL_ABI_MINOR),
	                 "rebuild the plugin against caracal-plugin >= 1.0");

	d = good_desc();
	d.abi_minor = CARACAL_ABI_MINOR + 3;
	d.min_host_minor = CARACAL_ABI_MINOR + 3;
	check_desc_fails(&d, "built for ABI " NEXT3 ", " NEXT3_NEEDS,
	                 "upgrade caracald to ABI >= " NEXT3 ", or rebuild the plugin against "
	                 "caracal-plugin " CUR);

	/* A newer plugin that asks for nothing new loads. */
	d = good_desc();
	d.abi_minor = CARACAL_ABI_MINOR + 3;
	d.size = sizeof(caracal_plugin) + 64;
	assert_int_equal(loader_check_descriptor(&d, "unit", "/x/unit.so", &err), CARACAL_OK);

	d = good_desc();
	d.size = 16;
	check_desc_fails(&d, "descriptor is 16 bytes", "rebuild the plugin against caracal-plugin");

	d = good_desc();
	d.name = "other";
	check_desc_fails(&d, "named \"other\", not \"unit\"", "CARACAL_PLUGIN(unit, ...)");

	d = good_desc();
	d.name = NULL;
	check_desc_fails(&d, "invalid name", "CARACAL_PLUGIN(name");

	d = good_desc();
	d.version = NULL;
	check_desc_fails(&d, "no version", "version string");

	assert_int_equal(loader_check_descriptor(NULL, "unit", "/x/unit.so", &err),
	                 CARACAL_E_INVAL);
}

static void check_vt_fails(const caracal_plugin *d, const char *expect1, const char *expect2)
{
	caracal_error err = {0};

	assert_int_equal(loader_check_vtables(d, "/x/unit.so", &err), CARACAL_E_INVAL);
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "/x/unit.so");
	assert_contains(err.message, "plugin built for ABI " CUR ", " CUR_NEEDS);
	assert_contains(err.message, HOST_ABI_TEXT);
	assert_contains(err.message, expect1);
	assert_contains(err.message, expect2);
}

static void test_vtable_checks(void **state)
{
	caracal_plugin d;
	caracal_signer_ops signer;
	caracal_audit_ops audit;

	(void)state;

	/* Every storage member up to key_meta_list is mandatory: first and last. */
	d = good_desc();
	good_storage.migrate = NULL;
	check_vt_fails(&d, "mandatory op storage.migrate is NULL", "implement storage.migrate");
	d = good_desc();
	good_storage.key_meta_list = NULL;
	check_vt_fails(&d, "mandatory op storage.key_meta_list is NULL",
	               "implement storage.key_meta_list");
	d = good_desc();
	good_storage.approval_consume = NULL;
	check_vt_fails(&d, "storage.approval_consume", "CARACAL_E_UNSUPPORTED");

	d = good_desc();
	good_storage.size = CARACAL_STORAGE_OPS_MIN_SIZE - 8;
	check_vt_fails(
	    &d, "storage vtable is 328 bytes < 336 (through key_meta_list)",
	    "set .size = sizeof(caracal_storage_ops), rebuild with caracal-plugin >= " CUR);

	/* A longer vtable (a newer minor) is fine. */
	d = good_desc();
	good_storage.size = sizeof good_storage + 32;
	caracal_error err = {0};
	assert_int_equal(loader_check_vtables(&d, "/x/unit.so", &err), CARACAL_OK);

	d = good_desc();
	d.kinds |= CARACAL_KIND_SIGNER;
	check_vt_fails(&d, "declares CARACAL_KIND_SIGNER but its signer vtable is NULL",
	               "set .signer = &ops, or drop CARACAL_KIND_SIGNER");

	d = good_desc();
	fill_ops(&audit, sizeof audit);
	d.audit = &audit;
	check_vt_fails(&d, "has a audit vtable but does not declare CARACAL_KIND_AUDIT",
	               "add CARACAL_KIND_AUDIT to .kinds");

	d = good_desc();
	d.kinds |= CARACAL_KIND_SIGNER;
	fill_ops(&signer, sizeof signer);
	signer.rotate = NULL;
	d.signer = &signer;
	check_vt_fails(&d, "signer.rotate", "implement signer.rotate");

	d = good_desc();
	d.kinds = 0;
	d.policy = NULL;
	d.storage = NULL;
	check_vt_fails(&d, "declares no kind", "CARACAL_KIND_");

	d = good_desc();
	d.kinds |= 0x80;
	check_vt_fails(&d, "unknown kinds", "CARACAL_KIND_");

	d = good_desc();
	d.instance_create = NULL;
	check_vt_fails(&d, "instance_create is NULL", ".instance_create");

	d = good_desc();
	d.instance_destroy = NULL;
	check_vt_fails(&d, "instance_destroy is NULL", ".instance_destroy");

	d = good_desc();
	d.flags = CARACAL_PLUGIN_F_THREADS;
	check_vt_fails(&d, "CARACAL_PLUGIN_F_THREADS but instance_stop is NULL", ".instance_stop");
	d.instance_stop = noop_destroy;
	assert_int_equal(loader_check_vtables(&d, "/x/unit.so", &err), CARACAL_OK);

	d = good_desc();
	d.thread_create = noop_thread_create;
	check_vt_fails(&d, "thread_create and thread_destroy come in pairs", ".thread_destroy");
	d.thread_destroy = noop_thread_destroy;
	assert_int_equal(loader_check_vtables(&d, "/x/unit.so", &err), CARACAL_OK);
}

static void test_long_file_keeps_fix(void **state)
{
	char file[300];
	caracal_plugin d = good_desc();
	caracal_error err = {0};

	(void)state;
	memset(file, 'd', sizeof file);
	file[0] = '/';
	memcpy(file + sizeof file - 16, "/verylong_x.so", 15);
	d.abi_minor = 7;
	d.min_host_minor = 7;
	assert_int_equal(loader_check_descriptor(&d, "unit", file, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "verylong_x.so");
	assert_contains(err.message, "needs host minor >= 7");
	assert_contains(err.message, HOST_ABI_TEXT);
	assert_contains(err.message, "upgrade caracald to ABI >= 1.7");
}

static void test_names(void **state)
{
	plugin_registry *reg = new_registry();
	const char *bad[] = {
	    "",    "../etc",
	    "A",   "1abc",
	    "a/b", "a.b",
	    "a-b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	caracal_error err = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		assert_null(plugin_registry_load(reg, bad[i], NULL, &err));
		assert_int_equal(err.code, CARACAL_E_INVAL);
		assert_contains(err.message, "invalid plugin name");
	}
	assert_null(plugin_registry_load(reg, NULL, NULL, &err));
	assert_int_equal(loader_check_name("storage_pg", &err), CARACAL_OK);
	plugin_registry_free(reg);
}

/* ------------------------------------------------------------------ fixtures */

static void test_good_loads(void **state)
{
	plugin_registry *reg = new_registry();
	caracal_error err = {0};
	const caracal_plugin *d;
	char expect[PATH_MAX];
	void *instance = (void *)&err;

	(void)state;
	d = plugin_registry_load(reg, "fixture_good", NULL, &err);
	if (d == NULL)
		fail_msg("fixture_good rejected: %s", err.message);
	assert_string_equal(d->name, "fixture_good");
	assert_string_equal(d->version, "0.0.1");
	assert_int_equal(d->abi_major, CARACAL_ABI_MAJOR);
	assert_int_equal(d->kinds, CARACAL_KIND_POLICY);
	assert_int_equal(d->size, sizeof(caracal_plugin));
	assert_non_null(d->policy);
	assert_int_equal(d->policy->size, sizeof(caracal_policy_ops));
	assert_null(d->storage);
	assert_ptr_equal(plugin_registry_find(reg, "fixture_good"), d);
	assert_ptr_equal(plugin_registry_at(reg, 0), d);
	assert_null(plugin_registry_at(reg, 1));
	assert_int_equal(plugin_registry_count(reg), 1);
	snprintf(expect, sizeof expect, "%s/fixture_good.so", plugdir);
	assert_string_equal(plugin_registry_path(reg, "fixture_good"), expect);
	assert_null(plugin_registry_find(reg, "fixture_bad_magic"));

	/* The code behind the vtable runs. */
	assert_int_equal(d->instance_create(NULL, NULL, NULL, &instance, &err), CARACAL_OK);
	assert_non_null(instance);
	caracal_policy_decision out = {.size = sizeof out, .effect = CARACAL_EFFECT_ALLOW};
	assert_int_equal(d->policy->evaluate(instance, "z", "{}", 2, NULL, &out, &err),
	                 CARACAL_E_DENIED);
	assert_int_equal(out.effect, CARACAL_EFFECT_DENY);
	d->instance_destroy(instance);

	/* 4. the same name twice */
	memset(&err, 0, sizeof err);
	assert_null(plugin_registry_load(reg, "fixture_good", NULL, &err));
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "already loaded");
	assert_contains(err.message, "plugin built for ABI " CUR ", " CUR_NEEDS);
	assert_contains(err.message, HOST_ABI_TEXT);
	assert_contains(err.message, "name the plugin once in the config");
	assert_int_equal(plugin_registry_count(reg), 1);
	assert_ptr_equal(plugin_registry_find(reg, "fixture_good"), d);
	plugin_registry_free(reg);
}

static void test_bad_magic(void **state)
{
	(void)state;
	expect_rejected("fixture_bad_magic", CARACAL_E_INVAL, "built for ABI " CUR,
	                "not a Caracal plugin descriptor (magic 0x4352434d",
	                "declare the plugin with CARACAL_PLUGIN() from caracal-plugin " CUR);
}

static void test_major(void **state)
{
	(void)state;
	expect_rejected("fixture_major", CARACAL_E_INVAL,
	                "plugin built for ABI 2.0, needs host minor >= 0",
	                "incompatible major ABI version 2",
	                "upgrade caracald to one that speaks ABI 2.x, or rebuild the plugin "
	                "against caracal-plugin " CUR);
}

static void test_minor_too_new(void **state)
{
	(void)state;
	expect_rejected("fixture_minor", CARACAL_E_INVAL,
	                "plugin built for ABI " NEXT ", " NEXT_NEEDS,
	                "plugin needs a newer caracald", "upgrade caracald to ABI >= " NEXT);
}

static void test_descriptor_too_small(void **state)
{
	(void)state;
	expect_rejected("fixture_small", CARACAL_E_INVAL, "built for ABI " CUR,
	                "descriptor is 136 bytes, this host needs at least 144",
	                "rebuild the plugin against caracal-plugin >= " CUR);
}

static void test_short_vtable(void **state)
{
	(void)state;
	expect_rejected("fixture_short_vtable", CARACAL_E_INVAL, "built for ABI " CUR,
	                "policy vtable is 24 bytes < 32 (through activate)",
	                "set .size = sizeof(caracal_policy_ops)");
}

static void test_null_op(void **state)
{
	(void)state;
	expect_rejected("fixture_null_op", CARACAL_E_INVAL, "built for ABI " CUR,
	                "mandatory op policy.validate is NULL", "implement policy.validate");
}

static void test_no_symbol(void **state)
{
	(void)state;
	expect_rejected("fixture_no_symbol", CARACAL_E_INVAL, NULL,
	                "no symbol caracal_plugin_fixture_no_symbol",
	                "declare it with CARACAL_PLUGIN(fixture_no_symbol, ...)");
}

static void test_name_mismatch(void **state)
{
	(void)state;
	expect_rejected("fixture_name_mismatch", CARACAL_E_INVAL, "built for ABI " CUR,
	                "named \"fixture_other\", not \"fixture_name_mismatch\"",
	                "CARACAL_PLUGIN(fixture_name_mismatch, ...)");
}

static void test_kind_without_vtable(void **state)
{
	(void)state;
	expect_rejected("fixture_kind_no_vtable", CARACAL_E_INVAL, "built for ABI " CUR,
	                "declares CARACAL_KIND_AUDIT but its audit vtable is NULL",
	                "set .audit = &ops, or drop CARACAL_KIND_AUDIT from .kinds");
}

static void test_oversize(void **state)
{
	(void)state;
#if defined(__GLIBC__)
	expect_rejected("fixture_oversize", CARACAL_E_INVAL, "built for ABI " CUR,
	                "descriptor says 208 bytes but caracal_plugin_fixture_oversize is 144",
	                "CARACAL_PLUGIN()");
#else
	skip(); /* the symbol's size is only known through glibc's dladdr1 */
#endif
}

static void test_missing_file(void **state)
{
	(void)state;
	expect_rejected("fixture_absent", CARACAL_E_NOTFOUND, "plugin ABI not read yet",
	                "No such file", "install the plugin into");
}

static void test_relative_path(void **state)
{
	plugin_registry *reg = new_registry();
	caracal_error err = {0};

	(void)state;
	assert_null(plugin_registry_load(reg, "fixture_good", "fixture_good.so", &err));
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "not absolute");
	assert_contains(err.message, HOST_ABI_TEXT);
	plugin_registry_free(reg);
}

/* Load the good fixture from `path` (in a directory set up by the caller). */
static void expect_file_rejected(const char *path, const char *problem, const char *fix)
{
	plugin_registry *reg = new_registry();
	caracal_error err = {0};

	assert_null(plugin_registry_load(reg, "fixture_good", path, &err));
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "fixture_good.so");
	assert_contains(err.message, HOST_ABI_TEXT);
	assert_contains(err.message, problem);
	assert_contains(err.message, fix);
	assert_int_equal(plugin_registry_count(reg), 0);
	plugin_registry_free(reg);
}

static void test_writable_file(void **state)
{
	char sub[PATH_MAX], fix[PATH_MAX + 16];
	const char *path;

	(void)state;
	snprintf(sub, sizeof sub, "%s/perm", plugdir);
	mkdir(sub, 0755);
	assert_int_equal(chmod(sub, 0755), 0);

	path = install_fixture(sub, "fixture_good", 0666);
	snprintf(fix, sizeof fix, "chmod go-w %s", path);
	expect_file_rejected(path, "group- or world-writable (mode 0666)", fix);

	path = install_fixture(sub, "fixture_good", 0664);
	expect_file_rejected(path, "group- or world-writable (mode 0664)", fix);

	path = install_fixture(sub, "fixture_good", 0602);
	expect_file_rejected(path, "(mode 0602)", fix);

	/* The directory too: whoever writes it can swap the file. */
	path = install_fixture(sub, "fixture_good", 0644);
	assert_int_equal(chmod(sub, 0775), 0);
	snprintf(fix, sizeof fix, "chmod go-w %s", sub);
	expect_file_rejected(path, "its directory is group- or world-writable (mode 0775)", fix);
	assert_int_equal(chmod(sub, 0757), 0);
	expect_file_rejected(path, "its directory is group- or world-writable (mode 0757)", fix);
	assert_int_equal(chmod(sub, 0755), 0);

	/* And once fixed, it loads. */
	plugin_registry *reg = new_registry();
	caracal_error err = {0};
	if (plugin_registry_load(reg, "fixture_good", path, &err) == NULL)
		fail_msg("%s", err.message);
	plugin_registry_free(reg);
}

static void test_owner(void **state)
{
	char fix[PATH_MAX + 16];
	const char *path = install_fixture(otherdir, "fixture_good", 0644);
	loader_policy policy = {otherdir, 0, geteuid()};
	caracal_error err = {0};

	(void)state;
	if (geteuid() == 0) {
		/* root: give the file to nobody */
		assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
	} else {
		/* not root: the file is ours, and we do not trust ourselves */
		policy.trusted_uid = geteuid() + 1;
	}
	assert_int_equal(loader_check_file(path, &policy, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "not by root or the daemon's user");
	assert_contains(err.message, HOST_ABI_TEXT);
	snprintf(fix, sizeof fix, "chown root %s", path);
	assert_contains(err.message, fix);
	unlink(path);
}

static void test_outside_dir(void **state)
{
	loader_policy policy = {plugdir, 1, geteuid()};
	caracal_error err = {0};
	char link[PATH_MAX];
	const char *path;
	plugin_registry *reg;

	(void)state;
	path = install_fixture(otherdir, "fixture_good", 0644);
	expect_file_rejected(path, "outside the plugin directory", "install it into");

	/* A symlink inside the plugin directory that points out of it. */
	snprintf(link, sizeof link, "%s/fixture_good.so", plugdir);
	unlink(link);
	assert_int_equal(symlink(path, link), 0);
	expect_file_rejected(link, "outside the plugin directory", "allow plugins outside it");
	unlink(link);

	/* ../ escapes are resolved the same way. */
	snprintf(link, sizeof link, "%s/../%s/fixture_good.so", plugdir,
	         strrchr(otherdir, '/') + 1);
	expect_file_rejected(link, "outside the plugin directory", "install it into");

	/* Allowed by the config: loads. */
	reg = plugin_registry_new(&policy);
	assert_non_null(reg);
	if (plugin_registry_load(reg, "fixture_good", path, &err) == NULL)
		fail_msg("%s", err.message);
	plugin_registry_free(reg);

	/* Restore plugdir's own copy for the other tests. */
	install_fixture(plugdir, "fixture_good", 0644);
}

/* ------------------------------------------------------------------ setup */

static const char *const fixture_names[] = {
    "fixture_good",          "fixture_bad_magic",      "fixture_major",   "fixture_minor",
    "fixture_small",         "fixture_short_vtable",   "fixture_null_op", "fixture_no_symbol",
    "fixture_name_mismatch", "fixture_kind_no_vtable", "fixture_oversize"};

static int rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static int setup(void **state)
{
	const char *builddir = getenv("CARACAL_BUILDDIR");
	const char *tmp = getenv("TMPDIR");
	size_t i;

	(void)state;
	if (builddir == NULL) {
		fprintf(stderr, "CARACAL_BUILDDIR is not set: run this test with make check\n");
		return -1;
	}
	snprintf(fixtures, sizeof fixtures, "%s/tests/abi/.libs", builddir);
	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	snprintf(plugdir, sizeof plugdir, "%s/caracal-abi-XXXXXX", tmp);
	snprintf(otherdir, sizeof otherdir, "%s/caracal-abi-XXXXXX", tmp);
	if (mkdtemp(plugdir) == NULL || mkdtemp(otherdir) == NULL)
		return -1;
	/* The umask of the build may make these group-writable. */
	if (chmod(plugdir, 0755) != 0 || chmod(otherdir, 0755) != 0)
		return -1;
	for (i = 0; i < sizeof fixture_names / sizeof fixture_names[0]; i++)
		install_fixture(plugdir, fixture_names[i], 0644);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(plugdir);
	rm_rf(otherdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor_checks),
	    cmocka_unit_test(test_vtable_checks),
	    cmocka_unit_test(test_long_file_keeps_fix),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_good_loads),
	    cmocka_unit_test(test_bad_magic),
	    cmocka_unit_test(test_major),
	    cmocka_unit_test(test_minor_too_new),
	    cmocka_unit_test(test_descriptor_too_small),
	    cmocka_unit_test(test_short_vtable),
	    cmocka_unit_test(test_null_op),
	    cmocka_unit_test(test_no_symbol),
	    cmocka_unit_test(test_name_mismatch),
	    cmocka_unit_test(test_kind_without_vtable),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_relative_path),
	    cmocka_unit_test(test_writable_file),
	    cmocka_unit_test(test_owner),
	    cmocka_unit_test(test_outside_dir),
	};

	/* Unload the fixtures when a registry is freed, so LeakSanitizer sees
	 * a clean process (production never unloads code). */
	setenv("CARACAL_LOADER_DLCLOSE", "1", 1);
	return cmocka_run_group_tests(tests, setup, teardown);
}
