/*
 * policy_faulty.c — a policy engine that misbehaves on purpose, for the
 * STS's fail-closed tests (tests/integration/test_policy_faults.sh).
 *
 * Built as a test-only loadable module (tests/plugins/local.mk) and declared
 * like any policy plugin: it sees only the SDK headers. Its instance key
 * `mode` selects what evaluate() answers, whatever the zone or the input:
 *
 *   error                     CARACAL_E_INTERNAL with a message
 *   bad_obligations           ALLOW, obligations {"max_ttl_seconds":"x"}
 *   bad_determining           ALLOW, determining_policies `not json`
 *   determining_not_array     ALLOW, determining_policies {"a":1}
 *   allow                     ALLOW, determining [{"policy":"faulty"}]
 *   noncanonical_determining  ALLOW, determining [ {"policy" : "faulty", "a":1} ]
 *
 * validate() and activate() accept any source. No per-thread state: tctx is
 * the instance, which is immutable after instance_create.
 */
#include <caracal/plugin.h>

#include <stdlib.h>
#include <string.h>

typedef enum faulty_mode {
	MODE_ERROR,
	MODE_BAD_OBLIGATIONS,
	MODE_BAD_DETERMINING,
	MODE_DETERMINING_NOT_ARRAY,
	MODE_ALLOW,
	MODE_NONCANONICAL_DETERMINING,
} faulty_mode;

static const struct {
	const char *name;
	faulty_mode mode;
} modes[] = {
    {"error", MODE_ERROR},
    {"bad_obligations", MODE_BAD_OBLIGATIONS},
    {"bad_determining", MODE_BAD_DETERMINING},
    {"determining_not_array", MODE_DETERMINING_NOT_ARRAY},
    {"allow", MODE_ALLOW},
    {"noncanonical_determining", MODE_NONCANONICAL_DETERMINING},
};

typedef struct faulty_instance {
	const caracal_host *host;
	faulty_mode mode;
} faulty_instance;

static const caracal_cfg_key faulty_config_schema[] = {
    {"mode", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED,
     "what evaluate does: error, bad_obligations, bad_determining, determining_not_array, "
     "allow or noncanonical_determining"},
    {NULL, 0, 0, NULL},
};

static int faulty_instance_create(const caracal_host *host, const caracal_scope *scope,
                                  const caracal_cfg *cfg, void **instance, caracal_error *err)
{
	(void)scope;
	const char *name = NULL;
	int rc = host->cfg_string(cfg, "mode", &name, err);
	if (rc == CARACAL_E_NOTFOUND)
		return caracal_error_set(err, CARACAL_E_INVAL, "mode is required");
	if (rc != CARACAL_OK)
		return rc;
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		if (strcmp(name, modes[i].name) != 0)
			continue;
		faulty_instance *in = calloc(1, sizeof *in);
		if (in == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		in->host = host;
		in->mode = modes[i].mode;
		*instance = in;
		return CARACAL_OK;
	}
	return caracal_error_set(err, CARACAL_E_INVAL, "%s: unknown mode '%s'",
	                         host->cfg_where(host->cfg_child(cfg, "mode")), name);
}

static void faulty_instance_destroy(void *instance)
{
	free(instance);
}

/* Copy text into the caller's arena as a caracal_str. */
static int arena_text(const caracal_host *host, caracal_arena *arena, const char *text,
                      caracal_str *out)
{
	size_t len = strlen(text);
	char *copy = host->arena_strndup(arena, text, len);
	if (copy == NULL)
		return CARACAL_E_NOMEM;
	out->ptr = copy;
	out->len = len;
	return CARACAL_OK;
}

static int faulty_evaluate(void *tctx, const char *zone_id, const char *input_json,
                           size_t input_len, caracal_arena *arena, caracal_policy_decision *out,
                           caracal_error *err)
{
	faulty_instance *in = tctx;
	(void)zone_id, (void)input_json, (void)input_len;
	if (in == NULL || arena == NULL || out == NULL || out->size < sizeof *out)
		return caracal_error_set(err, CARACAL_E_INVAL, "missing argument");
	out->effect = CARACAL_EFFECT_DENY;
	out->reasons = (caracal_str){NULL, 0};
	out->obligations = (caracal_str){NULL, 0};
	out->determining_policies = (caracal_str){NULL, 0};
	out->policy_version_id = NULL;

	const char *obligations = NULL, *determining = NULL;
	switch (in->mode) {
	case MODE_ERROR:
		return caracal_error_set(err, CARACAL_E_INTERNAL, "policy_faulty: mode error");
	case MODE_BAD_OBLIGATIONS:
		obligations = "{\"max_ttl_seconds\":\"x\"}";
		determining = "[{\"policy\":\"faulty\"}]";
		break;
	case MODE_BAD_DETERMINING:
		determining = "not json";
		break;
	case MODE_DETERMINING_NOT_ARRAY:
		determining = "{\"a\":1}";
		break;
	case MODE_ALLOW:
		determining = "[{\"policy\":\"faulty\"}]";
		break;
	case MODE_NONCANONICAL_DETERMINING:
		determining = "[ {\"policy\" : \"faulty\", \"a\":1} ]";
		break;
	}

	const caracal_host *host = in->host;
	caracal_str version = {NULL, 0};
	if (arena_text(host, arena, "[]", &out->reasons) != CARACAL_OK ||
	    arena_text(host, arena, determining, &out->determining_policies) != CARACAL_OK ||
	    (obligations != NULL &&
	     arena_text(host, arena, obligations, &out->obligations) != CARACAL_OK) ||
	    arena_text(host, arena, "faulty-1", &version) != CARACAL_OK) {
		out->reasons = (caracal_str){NULL, 0};
		out->obligations = (caracal_str){NULL, 0};
		out->determining_policies = (caracal_str){NULL, 0};
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	out->policy_version_id = version.ptr;
	out->effect = CARACAL_EFFECT_ALLOW;
	return CARACAL_OK;
}

static int faulty_validate(void *tctx, const char *source, size_t source_len, caracal_arena *arena,
                           caracal_str *diagnostics, caracal_error *err)
{
	faulty_instance *in = tctx;
	(void)source, (void)source_len;
	if (in == NULL || arena == NULL || diagnostics == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "missing argument");
	if (arena_text(in->host, arena, "[]", diagnostics) != CARACAL_OK)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	return CARACAL_OK;
}

static int faulty_activate(void *tctx, const char *zone_id, const char *version_id,
                           const char *source, size_t source_len, caracal_error *err)
{
	(void)tctx, (void)zone_id, (void)version_id, (void)source, (void)source_len, (void)err;
	return CARACAL_OK;
}

static const caracal_policy_ops faulty_policy_ops = {
    .size = sizeof(caracal_policy_ops),
    .evaluate = faulty_evaluate,
    .validate = faulty_validate,
    .activate = faulty_activate,
};

CARACAL_PLUGIN(policy_faulty, "0.0.1", .kinds = CARACAL_KIND_POLICY,
               .config_schema = faulty_config_schema, .instance_create = faulty_instance_create,
               .instance_destroy = faulty_instance_destroy, .policy = &faulty_policy_ops);
