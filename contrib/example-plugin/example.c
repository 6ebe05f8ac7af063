/*
 * example.c — a complete Caracal plugin, built out of tree against the
 * installed SDK only (see Makefile: pkg-config --cflags caracal-plugin).
 *
 * "example" is a policy engine that denies everything unless its config block
 * says otherwise:
 *
 *   plugins:
 *     - plugin: example
 *       name: open-door        # the instance
 *       allow: true            # default false: deny everything
 *       reason: lab_only       # optional reason reported with every decision
 *
 * It shows the three levels of a plugin (PLUGIN-ABI.md §Calls):
 *   the plugin    — init() once per process, checks the host services table;
 *   an instance   — one per config block (instance_create/instance_destroy);
 *   a thread ctx  — one per worker thread (thread_create/thread_destroy),
 *                   so evaluate() needs no lock on its hot path.
 *
 * Rules it follows: only the descriptor is exported (-fvisibility=hidden);
 * nothing is linked from the daemon (-z defs); results are static strings or
 * live in the caller's arena; errors go into the caller's caracal_error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <caracal/plugin.h>

/* The config block this plugin accepts. The host rejects unknown keys,
 * missing required keys and values of the wrong type, naming file:line, before
 * instance_create() is called: the plugin never parses YAML. */
static const caracal_cfg_key schema[] = {
    {"allow", CARACAL_CFG_BOOL, 0, "allow every request (default: deny everything)"},
    {"reason", CARACAL_CFG_STRING, 0, "the reason reported with every decision"},
    {NULL, 0, 0, NULL},
};

struct instance {
	const caracal_host *host;   /* the services table, valid for the process */
	const caracal_scope *scope; /* names this instance in logs and metrics */
	int allow;
	char reasons[160]; /* the JSON array reported with each decision */
};

/* Per worker thread: no lock is needed to count on the hot path. */
struct thread_ctx {
	struct instance *inst;
	uint64_t evaluations;
};

/* Once per process. The host table only grows at the end: a plugin checks
 * that the members it needs exist (CARACAL_HOST_HAS) before using them, so a
 * 1.N plugin built with CARACAL_PLUGIN_COMPAT can also run on older hosts. */
static int example_init(const caracal_host *h, caracal_error *err)
{
	if (!CARACAL_HOST_HAS(h, arena_strndup) || !CARACAL_HOST_HAS(h, metric_count))
		return caracal_error_set(err, CARACAL_E_UNSUPPORTED,
		                         "example: host services table too old (%u bytes)",
		                         (unsigned)h->size);
	return CARACAL_OK;
}

/* A reason may only hold [A-Za-z0-9_.-]: it is copied into JSON unescaped. */
static int reason_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int example_instance_create(const caracal_host *h, const caracal_scope *scope,
                                   const caracal_cfg *cfg, void **out, caracal_error *err)
{
	struct instance *inst;
	const char *reason = NULL;
	int rc;

	inst = calloc(1, sizeof *inst);
	if (inst == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	inst->host = h;
	inst->scope = scope;

	rc = h->cfg_bool(cfg, "allow", &inst->allow, err);
	if (rc == CARACAL_E_NOTFOUND)
		inst->allow = 0; /* absent: deny everything */
	else if (rc != CARACAL_OK)
		goto fail;

	rc = h->cfg_string(cfg, "reason", &reason, err);
	if (rc == CARACAL_E_NOTFOUND)
		reason = inst->allow ? "example_allows_all" : "example_denies_all";
	else if (rc != CARACAL_OK)
		goto fail;
	if (!reason_ok(reason)) {
		rc = caracal_error_set(err, CARACAL_E_INVAL,
		                       "%s: reason must be 1-64 of [A-Za-z0-9_.-]",
		                       h->cfg_where(h->cfg_child(cfg, "reason")));
		goto fail;
	}
	snprintf(inst->reasons, sizeof inst->reasons, "[\"%s\"]", reason);

	h->log(scope, CARACAL_LOG_INFO, "example policy: %s everything",
	       inst->allow ? "allowing" : "denying");
	*out = inst;
	return CARACAL_OK;
fail:
	free(inst);
	return rc;
}

static void example_instance_destroy(void *instance)
{
	free(instance);
}

/* Called on the worker thread that will use the context. */
static int example_thread_create(void *instance, void **tctx, caracal_error *err)
{
	struct thread_ctx *t = calloc(1, sizeof *t);

	if (t == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	t->inst = instance;
	*tctx = t;
	return CARACAL_OK;
}

/* Called on that same thread: publish what it counted, and free it. */
static void example_thread_destroy(void *instance, void *tctx)
{
	struct thread_ctx *t = tctx;

	(void)instance;
	t->inst->host->metric_count(t->inst->scope, "evaluations", NULL, t->evaluations);
	free(t);
}

static int example_evaluate(void *tctx, const char *zone_id, const char *input_json,
                            size_t input_len, caracal_arena *arena, caracal_policy_decision *out,
                            caracal_error *err)
{
	struct thread_ctx *t = tctx;
	struct instance *inst = t->inst;

	(void)zone_id, (void)input_json, (void)input_len, (void)err;
	t->evaluations++;

	out->effect = inst->allow ? CARACAL_EFFECT_ALLOW : CARACAL_EFFECT_DENY;
	/* Results outlive the call: copy them into the caller's arena. */
	out->reasons.ptr = inst->host->arena_strndup(arena, inst->reasons, strlen(inst->reasons));
	if (out->reasons.ptr == NULL) {
		out->effect = CARACAL_EFFECT_DENY;
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	out->reasons.len = strlen(inst->reasons);
	out->obligations.ptr = NULL; /* none */
	out->obligations.len = 0;
	out->determining_policies.ptr = "[{\"policy\":\"example\"}]"; /* static: lives forever */
	out->determining_policies.len = strlen(out->determining_policies.ptr);
	out->policy_version_id = "builtin";
	return CARACAL_OK;
}

/* This engine has no policy language: any source is accepted and ignored. */
static int example_validate(void *tctx, const char *source, size_t source_len, caracal_arena *arena,
                            caracal_str *diagnostics, caracal_error *err)
{
	(void)tctx, (void)source, (void)source_len, (void)arena, (void)err;
	diagnostics->ptr = "[]";
	diagnostics->len = 2;
	return CARACAL_OK;
}

static int example_activate(void *tctx, const char *zone_id, const char *version_id,
                            const char *source, size_t source_len, caracal_error *err)
{
	(void)tctx, (void)zone_id, (void)version_id, (void)source, (void)source_len, (void)err;
	return CARACAL_OK;
}

static const caracal_policy_ops policy_ops = {
    .size = sizeof(caracal_policy_ops), /* as compiled: the host reads no further */
    .evaluate = example_evaluate,
    .validate = example_validate,
    .activate = example_activate,
};

/* The one exported symbol, caracal_plugin_example; the loader finds it in
 * <plugindir>/example.so. */
CARACAL_PLUGIN(example, "1.0.0", .kinds = CARACAL_KIND_POLICY, .config_schema = schema,
               .init = example_init, .instance_create = example_instance_create,
               .instance_destroy = example_instance_destroy, .thread_create = example_thread_create,
               .thread_destroy = example_thread_destroy, .policy = &policy_ops);
