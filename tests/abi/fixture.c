/*
 * fixture.c — the plugins of the ABI tests, one shared object per FIXTURE_*
 * macro (tests/abi/local.mk builds each with libtool -module, like a real
 * plugin). fixture_good must load; every other one must be rejected by
 * exactly the check its name says.
 */
#include <caracal/plugin.h>

#define UNUSED __attribute__((unused))

static UNUSED int create(const caracal_host *host, const caracal_scope *scope,
                         const caracal_cfg *cfg, void **instance, caracal_error *err)
{
	static int the_instance;
	(void)host, (void)scope, (void)cfg, (void)err;
	*instance = &the_instance;
	return CARACAL_OK;
}

static UNUSED void destroy(void *instance)
{
	(void)instance;
}

static UNUSED int evaluate(void *tctx, const char *zone_id, const char *input_json,
                           size_t input_len, caracal_arena *arena, caracal_policy_decision *out,
                           caracal_error *err)
{
	(void)tctx, (void)zone_id, (void)input_json, (void)input_len, (void)arena;
	out->effect = CARACAL_EFFECT_DENY;
	return caracal_error_set(err, CARACAL_E_DENIED, "fixture denies");
}

static UNUSED int validate(void *tctx, const char *source, size_t source_len, caracal_arena *arena,
                           caracal_str *diagnostics, caracal_error *err)
{
	(void)tctx, (void)source, (void)source_len, (void)arena, (void)diagnostics;
	return caracal_error_set(err, CARACAL_E_UNSUPPORTED, "fixture");
}

static UNUSED int activate(void *tctx, const char *zone_id, const char *version_id,
                           const char *source, size_t source_len, caracal_error *err)
{
	(void)tctx, (void)zone_id, (void)version_id, (void)source, (void)source_len;
	return caracal_error_set(err, CARACAL_E_UNSUPPORTED, "fixture");
}

static UNUSED const caracal_policy_ops policy_ops = {
    .size = sizeof(caracal_policy_ops),
    .evaluate = evaluate,
    .validate = validate,
    .activate = activate,
};

/* A descriptor written out by hand, for the fixtures that must be wrong in a
 * way CARACAL_PLUGIN() never is; each sets magic, the versions and size. */
#define FIXTURE_DESC(symbol, ...)                                              \
	CARACAL_PLUGIN_EXPORT const caracal_plugin caracal_plugin_##symbol = { \
	    .version = "0.0.1",                                                \
	    .kinds = CARACAL_KIND_POLICY,                                      \
	    .instance_create = create,                                         \
	    .instance_destroy = destroy,                                       \
	    __VA_ARGS__}

#if defined(FIXTURE_GOOD)
CARACAL_PLUGIN(fixture_good, "0.0.1", .kinds = CARACAL_KIND_POLICY, .instance_create = create,
               .instance_destroy = destroy, .policy = &policy_ops);

#elif defined(FIXTURE_BAD_MAGIC)
FIXTURE_DESC(fixture_bad_magic, .magic = 0x4352434d, .size = sizeof(caracal_plugin),
             .abi_major = CARACAL_ABI_MAJOR, .abi_minor = CARACAL_ABI_MINOR,
             .min_host_minor = CARACAL_ABI_MINOR, .name = "fixture_bad_magic",
             .policy = &policy_ops);

#elif defined(FIXTURE_MAJOR)
FIXTURE_DESC(fixture_major, .magic = CARACAL_PLUGIN_MAGIC, .size = sizeof(caracal_plugin),
             .abi_major = CARACAL_ABI_MAJOR + 1, .abi_minor = 0, .min_host_minor = 0,
             .name = "fixture_major", .policy = &policy_ops);

#elif defined(FIXTURE_MINOR)
/* Built against the next minor SDK, and using what it added. */
FIXTURE_DESC(fixture_minor, .magic = CARACAL_PLUGIN_MAGIC, .size = sizeof(caracal_plugin),
             .abi_major = CARACAL_ABI_MAJOR, .abi_minor = CARACAL_ABI_MINOR + 1,
             .min_host_minor = CARACAL_ABI_MINOR + 1, .name = "fixture_minor",
             .policy = &policy_ops);

#elif defined(FIXTURE_SMALL)
FIXTURE_DESC(fixture_small, .magic = CARACAL_PLUGIN_MAGIC, .abi_major = CARACAL_ABI_MAJOR,
             .abi_minor = CARACAL_ABI_MINOR, .min_host_minor = CARACAL_ABI_MINOR,
             .size = CARACAL_PLUGIN_MIN_SIZE - 8, .name = "fixture_small", .policy = &policy_ops);

#elif defined(FIXTURE_SHORT_VTABLE)
static const caracal_policy_ops short_ops = {
    .size = CARACAL_POLICY_OPS_MIN_SIZE - sizeof(void *),
    .evaluate = evaluate,
    .validate = validate,
    .activate = activate,
};
CARACAL_PLUGIN(fixture_short_vtable, "0.0.1", .kinds = CARACAL_KIND_POLICY,
               .instance_create = create, .instance_destroy = destroy, .policy = &short_ops);

#elif defined(FIXTURE_NULL_OP)
static const caracal_policy_ops null_ops = {
    .size = sizeof(caracal_policy_ops),
    .evaluate = evaluate,
    .validate = NULL,
    .activate = activate,
};
CARACAL_PLUGIN(fixture_null_op, "0.0.1", .kinds = CARACAL_KIND_POLICY, .instance_create = create,
               .instance_destroy = destroy, .policy = &null_ops);

#elif defined(FIXTURE_NO_SYMBOL)
/* Exports a descriptor, but not under caracal_plugin_fixture_no_symbol. */
CARACAL_PLUGIN(fixture_elsewhere, "0.0.1", .kinds = CARACAL_KIND_POLICY, .instance_create = create,
               .instance_destroy = destroy, .policy = &policy_ops);

#elif defined(FIXTURE_NAME_MISMATCH)
FIXTURE_DESC(fixture_name_mismatch, .magic = CARACAL_PLUGIN_MAGIC, .size = sizeof(caracal_plugin),
             .abi_major = CARACAL_ABI_MAJOR, .abi_minor = CARACAL_ABI_MINOR,
             .min_host_minor = CARACAL_ABI_MINOR, .name = "fixture_other", .policy = &policy_ops);

#elif defined(FIXTURE_KIND_NO_VTABLE)
CARACAL_PLUGIN(fixture_kind_no_vtable, "0.0.1", .kinds = CARACAL_KIND_POLICY | CARACAL_KIND_AUDIT,
               .instance_create = create, .instance_destroy = destroy, .policy = &policy_ops);

#elif defined(FIXTURE_OVERSIZE)
/* Claims a descriptor longer than the object it exports. */
FIXTURE_DESC(fixture_oversize, .magic = CARACAL_PLUGIN_MAGIC, .abi_major = CARACAL_ABI_MAJOR,
             .abi_minor = CARACAL_ABI_MINOR, .min_host_minor = CARACAL_ABI_MINOR,
             .size = sizeof(caracal_plugin) + 64, .name = "fixture_oversize",
             .policy = &policy_ops);

#else
#error "define one FIXTURE_*"
#endif
