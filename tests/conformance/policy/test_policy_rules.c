/*
 * test_policy_rules.c — the policy battery, through dlopen, against the
 * policy_rules plugin.
 *
 * Loads $CARACAL_BUILDDIR/plugins/policy_rules/.libs/policy_rules.so
 * (override with CARACAL_POLICY_PLUGIN=path) with the core's real host
 * services and config tree, and checks: conf/policies/allow-granted.yaml,
 * deny overrides, approval_required and challenge_resolved, every condition,
 * the merging of obligations, a zone without a policy, atomic activation
 * (also under 4 evaluating threads), validation diagnostics with their
 * lines, fail-closed input handling, and that every file under
 * conf/policies validates.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "util/arena.h"

#include <dirent.h>
#include <dlfcn.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void *dl;
static const caracal_plugin *P;
static const caracal_policy_ops *OPS;
static const caracal_host *H;
static caracal_scope *S;

/* 2026-05-20 (a Wednesday) 12:00:00 UTC. */
#define NOON_WED INT64_C(1779278400)

/* ------------------------------------------------------------ plumbing */

static int group_setup(void **state)
{
	(void)state;
	char path[4096];
	const char *override = getenv("CARACAL_POLICY_PLUGIN");
	const char *build = getenv("CARACAL_BUILDDIR");
	if (override != NULL)
		snprintf(path, sizeof path, "%s", override);
	else
		snprintf(path, sizeof path, "%s/plugins/policy_rules/.libs/policy_rules.so",
		         build != NULL ? build : ".");
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	P = dlsym(dl, "caracal_plugin_policy_rules");
	if (P == NULL) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return -1;
	}
	OPS = P->policy;
	H = host_services();
	S = host_scope_new("policy_rules", "test");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	host_scope_free(S);
	if (dl != NULL)
		dlclose(dl);
	return 0;
}

/* An instance from a config block (YAML text), validated like the loader. */
static int instance_from(const char *yaml, void **inst, caracal_error *err)
{
	config_tree *t = config_tree_load_buffer("policy.yaml", yaml, strlen(yaml), err);
	if (t == NULL)
		return err->code;
	const caracal_cfg *root = config_tree_root(t);
	int rc = config_validate(root, P->config_schema, NULL, NULL, NULL, err);
	if (rc == CARACAL_OK)
		rc = P->instance_create(H, S, root, inst, err);
	config_tree_free(t);
	return rc;
}

static int setup(void **state)
{
	caracal_error err = {0};
	void *inst = NULL;
	assert_int_equal(instance_from("{}\n", &inst, &err), CARACAL_OK);
	*state = inst;
	return 0;
}

static int teardown(void **state)
{
	P->instance_destroy(*state);
	return 0;
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *conf_file(const char *rel, size_t *len)
{
	char path[4096];
	const char *src = getenv("CARACAL_SRCDIR");
	snprintf(path, sizeof path, "%s/conf/policies/%s", src != NULL ? src : "..", rel);
	char *t = read_text(path, len);
	if (t == NULL)
		fail_msg("cannot read %s", path);
	return t;
}

static int activate(void *inst, const char *zone, const char *version, const char *src,
                    caracal_error *err)
{
	return OPS->activate(inst, zone, version, src, strlen(src), err);
}

static void activate_ok(void *inst, const char *zone, const char *version, const char *src)
{
	caracal_error err = {0};
	int rc = activate(inst, zone, version, src, &err);
	if (rc != CARACAL_OK)
		fail_msg("activate: %d %s", rc, err.message);
}

typedef struct res {
	int rc;
	caracal_effect effect;
	char reasons[512];
	char obligations[512];
	char det[1024];
	char version[64];
	char err[CARACAL_ERROR_MESSAGE_MAX];
} res;

static void copy_str(char *dst, size_t cap, caracal_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (s.ptr != NULL)
		memcpy(dst, s.ptr, n);
	else
		n = 0;
	dst[n] = '\0';
	if (s.ptr != NULL)
		assert_int_equal(strlen(s.ptr), s.len); /* NUL-terminated too */
}

static res eval_text(void *inst, const char *zone, const char *text, size_t len)
{
	res r;
	memset(&r, 0, sizeof r);
	caracal_arena *a = arena_new();
	assert_non_null(a);
	caracal_policy_decision d;
	memset(&d, 0xa5, sizeof d);
	d.size = sizeof d;
	caracal_error err = {0};
	r.rc = OPS->evaluate(inst, zone, text, len, a, &d, &err);
	r.effect = d.effect;
	if (r.rc == CARACAL_OK) {
		copy_str(r.reasons, sizeof r.reasons, d.reasons);
		copy_str(r.obligations, sizeof r.obligations, d.obligations);
		copy_str(r.det, sizeof r.det, d.determining_policies);
		assert_non_null(d.policy_version_id);
		snprintf(r.version, sizeof r.version, "%s", d.policy_version_id);
	} else {
		/* Fail closed: an error never carries an allow. */
		assert_int_equal(d.effect, CARACAL_EFFECT_DENY);
		snprintf(r.err, sizeof r.err, "%s", err.message);
	}
	arena_free(a);
	return r;
}

static res eval(void *inst, const char *zone, json_t *in)
{
	char *text = json_dumps(in, JSON_COMPACT);
	assert_non_null(text);
	res r = eval_text(inst, zone, text, strlen(text));
	free(text);
	return r;
}

/* The input document of policy.h, with every member set. */
static json_t *base_input(void)
{
	static const char text[] =
	    "{\"schema_version\":\"2026-05-20\",\"zone_id\":\"z1\","
	    "\"principal\":{\"type\":\"Application\",\"id\":\"app-1\",\"zone_id\":\"z1\","
	    "\"name\":\"billing\",\"registration_method\":\"dcr\",\"traits\":[],"
	    "\"lifecycle\":\"active\",\"labels\":[\"ops\",\"team:billing\"]},"
	    "\"subject\":{\"kind\":\"user\",\"id\":\"u-1\"},"
	    "\"resource\":{\"type\":\"Resource\",\"id\":\"r-1\","
	    "\"identifier\":\"resource://orders/"
	    "eu\",\"scopes\":[\"orders:read\",\"orders:write\"]},"
	    "\"action\":{\"id\":\"TokenExchange\",\"use\":\"session\"},"
	    "\"grants\":{\"scopes\":[\"orders:read\",\"orders:write\"]},"
	    "\"session\":{\"id\":\"s-1\"},"
	    "\"delegation\":{\"depth\":0},"
	    "\"context\":{\"requested_scopes\":[\"orders:read\"],\"requested_ttl_seconds\":600,"
	    "\"trace_id\":\"t-1\",\"time\":1779278400,\"challenge_resolved\":false}}";
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (j == NULL)
		fail_msg("base input: %s", je.text);
	return j;
}

static json_t *member(json_t *root, const char *obj)
{
	json_t *o = json_object_get(root, obj);
	assert_non_null(o);
	return o;
}

static void set_str(json_t *root, const char *obj, const char *key, const char *value)
{
	json_t *o = obj != NULL ? member(root, obj) : root;
	if (value == NULL)
		json_object_del(o, key);
	else
		json_object_set_new(o, key, json_string(value));
}

/* A list of strings from "a,b,c" ("" is the empty list). */
static void set_list(json_t *root, const char *obj, const char *key, const char *csv)
{
	json_t *arr = json_array();
	char buf[512];
	snprintf(buf, sizeof buf, "%s", csv);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(t));
	json_object_set_new(member(root, obj), key, arr);
}

static void set_int(json_t *root, const char *obj, const char *key, json_int_t v)
{
	json_object_set_new(member(root, obj), key, json_integer(v));
}

#define assert_allow(r)                                             \
	do {                                                        \
		assert_int_equal((r).rc, CARACAL_OK);               \
		assert_int_equal((r).effect, CARACAL_EFFECT_ALLOW); \
	} while (0)
#define assert_deny(r, reasons_json)                               \
	do {                                                       \
		assert_int_equal((r).rc, CARACAL_OK);              \
		assert_int_equal((r).effect, CARACAL_EFFECT_DENY); \
		assert_string_equal((r).reasons, reasons_json);    \
	} while (0)

/* ------------------------------------------------------------ tests */

static void test_descriptor(void **state)
{
	(void)state;
	assert_int_equal(P->magic, CARACAL_PLUGIN_MAGIC);
	assert_string_equal(P->name, "policy_rules");
	assert_int_equal(P->kinds, CARACAL_KIND_POLICY);
	assert_non_null(OPS);
	assert_true(OPS->size >= CARACAL_POLICY_OPS_MIN_SIZE);
	assert_non_null(OPS->evaluate);
	assert_non_null(OPS->validate);
	assert_non_null(OPS->activate);
	assert_non_null(P->config_schema);
	assert_string_equal(P->config_schema[0].name, "max_rules");
	assert_int_equal(P->config_schema[0].type, CARACAL_CFG_INT);
	assert_null(P->config_schema[1].name);
}

static void test_allow_granted(void **state)
{
	void *inst = *state;
	size_t len;
	char *src = conf_file("allow-granted.yaml", &len);
	activate_ok(inst, "z1", "v1", src);
	free(src);

	json_t *in = base_input();
	res r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.reasons, "[\"granted\"]");
	assert_string_equal(r.det, "[{\"policy\":\"allow-granted\"}]");
	assert_string_equal(r.obligations, "");
	assert_string_equal(r.version, "v1");

	set_list(in, "context", "requested_scopes", "orders:read,orders:write"); /* equal set */
	assert_allow(eval(inst, "z1", in));

	set_list(in, "context", "requested_scopes", "orders:read,orders:delete"); /* superset */
	r = eval(inst, "z1", in);
	assert_deny(r, "[\"resource_not_granted\"]");
	assert_string_equal(r.det, "[{\"policy\":\"deny-beyond-grants\"}]");

	set_list(in, "context", "requested_scopes", ""); /* nothing requested */
	assert_deny(eval(inst, "z1", in), "[\"resource_not_granted\"]");

	set_list(in, "context", "requested_scopes", "orders:read");
	set_list(in, "grants", "scopes", ""); /* no grants */
	assert_deny(eval(inst, "z1", in), "[\"resource_not_granted\"]");

	set_list(in, "grants", "scopes", "orders:reader"); /* no prefix matching on grants */
	assert_deny(eval(inst, "z1", in), "[\"resource_not_granted\"]");
	json_decref(in);
}

static void test_no_active_policy(void **state)
{
	void *inst = *state;
	json_t *in = base_input();
	res r = eval(inst, "z1", in);
	assert_deny(r, "[\"no_active_policy_set\"]");
	assert_string_equal(r.det, "[]");

	/* Another zone's policy does not apply. */
	activate_ok(inst, "z2", "v1", "version: 1\nrules: [{name: all, effect: allow}]\n");
	assert_deny(eval(inst, "z1", in), "[\"no_active_policy_set\"]");
	set_str(in, NULL, "zone_id", "z2");
	assert_allow(eval(inst, "z2", in));
	json_decref(in);
}

static void test_default_deny_and_empty_rules(void **state)
{
	void *inst = *state;
	json_t *in = base_input();
	activate_ok(inst, "z1", "v1", "version: 1\nrules: []\n");
	res r = eval(inst, "z1", in);
	assert_deny(r, "[\"no_rule_matched\"]");
	assert_string_equal(r.det, "[]");
	activate_ok(inst, "z1", "v2",
	            "version: 1\nrules:\n  - name: users\n    effect: allow\n"
	            "    when: {subject.kind: application}\n");
	assert_deny(eval(inst, "z1", in), "[\"no_rule_matched\"]");
	json_decref(in);
}

static void test_deny_overrides(void **state)
{
	void *inst = *state;
	activate_ok(inst, "z1", "v1",
	            "version: 1\n"
	            "rules:\n"
	            "  - {name: a1, effect: allow, obligations: {max_ttl_seconds: 60}}\n"
	            "  - {name: d1, effect: deny, reason: restriction_active,\n"
	            "     when: {labels_any: [ops]}}\n"
	            "  - {name: ap, effect: approval_required,\n"
	            "     approval: {tier: high, approver: operator}}\n"
	            "  - {name: d2, effect: deny, when: {principal.type: Application}}\n"
	            "  - {name: d3, effect: deny, reason: restriction_active}\n");
	json_t *in = base_input();
	res r = eval(inst, "z1", in);
	assert_deny(r, "[\"restriction_active\",\"d2\"]"); /* deduplicated, in rule order */
	assert_string_equal(r.det, "[{\"policy\":\"d1\"},{\"policy\":\"d2\"},{\"policy\":\"d3\"}]");
	assert_string_equal(r.obligations, "");
	json_object_set_new(member(in, "context"), "challenge_resolved", json_true());
	assert_deny(eval(inst, "z1", in), "[\"restriction_active\",\"d2\"]");
	json_decref(in);
}

static void test_approval_required(void **state)
{
	void *inst = *state;
	size_t len;
	char *src = conf_file("examples/approval-for-admin-scopes.yaml", &len);
	activate_ok(inst, "z1", "v7", src);
	free(src);
	json_t *in = base_input();
	set_list(in, "grants", "scopes", "orders:read,admin:users");

	res r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.obligations, "{\"max_ttl_seconds\":3600}");

	set_list(in, "context", "requested_scopes", "orders:read,admin:users");
	r = eval(inst, "z1", in);
	assert_int_equal(r.rc, CARACAL_OK);
	assert_int_equal(r.effect, CARACAL_EFFECT_APPROVAL_REQUIRED);
	assert_string_equal(r.reasons, "[\"admin_scope\"]");
	assert_string_equal(r.det, "[{\"policy\":\"admin-needs-approval\"}]");
	assert_string_equal(r.obligations,
	                    "{\"max_ttl_seconds\":300,\"approval\":{\"tier\":\"high\","
	                    "\"approver\":\"operator\",\"ttl_seconds\":1800}}");
	assert_string_equal(r.version, "v7");

	/* Once the challenge is resolved, the approval rule counts as an allow. */
	json_object_set_new(member(in, "context"), "challenge_resolved", json_true());
	r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.reasons, "[\"admin_scope\"]");
	assert_string_equal(r.det, "[{\"policy\":\"admin-needs-approval\"}]");
	assert_string_equal(r.obligations, "{\"max_ttl_seconds\":300}");

	/* Admin scope not granted: nothing matches. */
	set_list(in, "grants", "scopes", "orders:read");
	assert_deny(eval(inst, "z1", in), "[\"no_rule_matched\"]");

	/* Too deep a delegation is denied whatever else holds. */
	set_list(in, "grants", "scopes", "orders:read,admin:users");
	set_int(in, "delegation", "depth", 3);
	assert_deny(eval(inst, "z1", in), "[\"delegation_scope_exceeded\"]");
	set_int(in, "delegation", "depth", 2);
	assert_allow(eval(inst, "z1", in));
	json_decref(in);
}

static void test_obligations_merge(void **state)
{
	void *inst = *state;
	activate_ok(
	    inst, "z1", "v1",
	    "version: 1\n"
	    "rules:\n"
	    "  - {name: a, effect: allow, obligations: {max_ttl_seconds: 600}}\n"
	    "  - {name: b, effect: allow, obligations: {max_ttl_seconds: 300}}\n"
	    "  - {name: c, effect: allow}\n"
	    "  - {name: d, effect: allow, obligations: {max_ttl_seconds: 900},\n"
	    "     when: {subject.kind: application}}\n"
	    "  - {name: e, effect: approval_required, obligations: {max_ttl_seconds: 120},\n"
	    "     when: {labels_any: [needs-approval]},\n"
	    "     approval: {tier: t1, approver: subject, privacy: redact}}\n"
	    "  - {name: f, effect: approval_required, when: {labels_any: [needs-approval]},\n"
	    "     approval: {tier: t2, approver: any}}\n");
	json_t *in = base_input();
	res r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.obligations, "{\"max_ttl_seconds\":300}");
	assert_string_equal(r.det, "[{\"policy\":\"a\"},{\"policy\":\"b\"},{\"policy\":\"c\"}]");
	assert_string_equal(r.reasons, "[\"a\",\"b\",\"c\"]");

	set_list(in, "principal", "labels", "needs-approval");
	r = eval(inst, "z1", in);
	assert_int_equal(r.effect, CARACAL_EFFECT_APPROVAL_REQUIRED);
	/* The first matching approval rule gives the approval. */
	assert_string_equal(r.obligations, "{\"max_ttl_seconds\":120,\"approval\":{\"tier\":\"t1\","
	                                   "\"approver\":\"subject\",\"privacy\":\"redact\"}}");
	assert_string_equal(r.det, "[{\"policy\":\"e\"},{\"policy\":\"f\"}]");

	json_object_set_new(member(in, "context"), "challenge_resolved", json_true());
	r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.obligations, "{\"max_ttl_seconds\":120}");
	assert_string_equal(r.det, "[{\"policy\":\"a\"},{\"policy\":\"b\"},{\"policy\":\"c\"},"
	                           "{\"policy\":\"e\"},{\"policy\":\"f\"}]");
	json_decref(in);
}

/* Activate a one-rule allow policy with the given when: block (flow YAML). */
static void when_policy(void *inst, const char *when)
{
	char src[1024];
	snprintf(src, sizeof src,
	         "version: 1\nrules:\n  - name: r\n    effect: allow\n    when: %s\n", when);
	activate_ok(inst, "z1", "v", src);
}

static bool allowed(void *inst, json_t *in)
{
	res r = eval(inst, "z1", in);
	assert_int_equal(r.rc, CARACAL_OK);
	return r.effect == CARACAL_EFFECT_ALLOW;
}

static void test_string_conditions(void **state)
{
	void *inst = *state;
	json_t *in = base_input();

	when_policy(inst, "{principal.type: [Workload, Application]}");
	assert_true(allowed(inst, in));
	set_str(in, "principal", "type", "Workload");
	assert_true(allowed(inst, in));
	set_str(in, "principal", "type", "Applications");
	assert_false(allowed(inst, in));
	set_str(in, "principal", "type", "Application");

	when_policy(inst, "{principal.id: \"app-*\"}");
	assert_true(allowed(inst, in));
	set_str(in, "principal", "id", "ap");
	assert_false(allowed(inst, in));
	set_str(in, "principal", "id", "app-1");

	when_policy(inst, "{subject.kind: [application]}");
	assert_false(allowed(inst, in));
	set_str(in, "subject", "kind", "application");
	assert_true(allowed(inst, in));

	when_policy(inst, "{subject.id: u-1}");
	assert_true(allowed(inst, in));
	when_policy(inst, "{subject.id: u-2}");
	assert_false(allowed(inst, in));

	when_policy(inst, "{zone_id: [z0, \"z*\"]}");
	assert_true(allowed(inst, in));
	when_policy(inst, "{zone_id: z}");
	assert_false(allowed(inst, in));

	when_policy(inst, "{resource.identifier: [\"resource://orders*\"]}");
	assert_true(allowed(inst, in));
	set_str(in, "resource", "identifier", "resource://order");
	assert_false(allowed(inst, in));
	when_policy(inst, "{resource.identifier: \"*\"}");
	assert_true(allowed(inst, in));
	when_policy(inst, "{resource.id: r-1}");
	assert_true(allowed(inst, in));

	when_policy(inst, "{action.use: [session, gateway]}");
	assert_true(allowed(inst, in));
	set_str(in, "action", "use", "resource");
	assert_false(allowed(inst, in));
	when_policy(inst, "{action.id: TokenExchange}");
	assert_true(allowed(inst, in));

	/* Optional members: absent never matches. */
	when_policy(inst, "{action.method: [GET]}");
	assert_false(allowed(inst, in));
	set_str(in, "action", "method", "GET");
	assert_true(allowed(inst, in));
	when_policy(inst, "{action.path: \"/api/*\"}");
	assert_false(allowed(inst, in));
	set_str(in, "action", "path", "/api/v1");
	assert_true(allowed(inst, in));
	when_policy(inst, "{principal.registration_method: dcr, principal.lifecycle: active}");
	assert_true(allowed(inst, in));
	set_str(in, "principal", "lifecycle", NULL);
	assert_false(allowed(inst, in));
	json_decref(in);
}

static void test_scope_and_label_conditions(void **state)
{
	void *inst = *state;
	json_t *in = base_input();

	when_policy(inst, "{scopes_any: [\"orders:write\", \"admin:*\"]}");
	assert_false(allowed(inst, in));
	set_list(in, "context", "requested_scopes", "orders:read,admin:x");
	assert_true(allowed(inst, in));

	when_policy(inst, "{scopes_all_in: [\"orders:*\", admin:x]}");
	assert_true(allowed(inst, in));
	set_list(in, "context", "requested_scopes", "orders:read,admin:y");
	assert_false(allowed(inst, in));
	set_list(in, "context", "requested_scopes", "");
	assert_false(allowed(inst, in)); /* empty: never "all in" */

	set_list(in, "context", "requested_scopes", "orders:read");
	when_policy(inst, "{scopes_within_grants: true}");
	assert_true(allowed(inst, in));
	when_policy(inst, "{scopes_within_grants: false}");
	assert_false(allowed(inst, in));

	when_policy(inst, "{labels_any: [\"team:*\"]}");
	assert_true(allowed(inst, in));
	set_list(in, "principal", "labels", "ops");
	assert_false(allowed(inst, in));
	json_object_del(member(in, "principal"), "labels");
	assert_false(allowed(inst, in));

	when_policy(inst, "{delegation_depth_max: 1}");
	assert_true(allowed(inst, in));
	set_int(in, "delegation", "depth", 1);
	assert_true(allowed(inst, in));
	set_int(in, "delegation", "depth", 2);
	assert_false(allowed(inst, in));
	json_decref(in);
}

static void test_time_condition(void **state)
{
	void *inst = *state;
	json_t *in = base_input(); /* Wednesday 12:00 UTC */

	when_policy(inst, "{time_utc: {after: \"08:00\", before: \"18:00\", "
	                  "weekdays: [mon, tue, wed, thu, fri]}}");
	assert_true(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED + 6 * 3600 - 1); /* 17:59:59 */
	assert_true(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED + 6 * 3600); /* 18:00 */
	assert_false(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED - 4 * 3600); /* 08:00 */
	assert_true(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED - 4 * 3600 - 1);
	assert_false(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED + 3 * 86400); /* Saturday noon */
	assert_false(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED + 5 * 86400); /* Monday noon */
	assert_true(allowed(inst, in));

	/* Across midnight. */
	when_policy(inst, "{time_utc: {after: \"22:00\", before: \"06:00\"}}");
	set_int(in, "context", "time", NOON_WED);
	assert_false(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED + 11 * 3600); /* 23:00 */
	assert_true(allowed(inst, in));
	set_int(in, "context", "time", NOON_WED + 17 * 3600); /* 05:00 */
	assert_true(allowed(inst, in));

	when_policy(inst, "{time_utc: {weekdays: [sun]}}");
	set_int(in, "context", "time", NOON_WED + 4 * 86400);
	assert_true(allowed(inst, in));
	set_int(in, "context", "time", -86400 * 3); /* 1969-12-29, a Monday */
	assert_false(allowed(inst, in));
	when_policy(inst, "{time_utc: {weekdays: [mon]}}");
	assert_true(allowed(inst, in));
	json_decref(in);
}

static void test_unless(void **state)
{
	void *inst = *state;
	json_t *in = base_input();
	activate_ok(inst, "z1", "v1",
	            "version: 1\nrules:\n"
	            "  - name: r\n    effect: allow\n    when: {scopes_within_grants: true}\n"
	            "    unless: {labels_any: [blocked], subject.kind: user}\n");
	assert_true(allowed(inst, in));
	set_list(in, "principal", "labels", "blocked");
	assert_false(allowed(inst, in)); /* both unless conditions hold */
	set_str(in, "subject", "kind", "application");
	assert_true(allowed(inst, in)); /* only one holds */
	json_decref(in);
}

static void test_examples_behave(void **state)
{
	void *inst = *state;
	size_t len;
	char *src = conf_file("examples/business-hours.yaml", &len);
	activate_ok(inst, "z1", "bh", src);
	free(src);
	json_t *in = base_input();
	res r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.obligations, "{\"max_ttl_seconds\":900}");
	set_int(in, "context", "time", NOON_WED + 8 * 3600); /* 20:00 */
	assert_deny(eval(inst, "z1", in), "[\"no_rule_matched\"]");
	set_int(in, "context", "time", NOON_WED);
	set_list(in, "context", "requested_scopes", "orders:write");
	assert_allow(eval(inst, "z1", in)); /* labelled ops */
	set_list(in, "principal", "labels", "dev");
	assert_deny(eval(inst, "z1", in), "[\"role_scope_mismatch\"]");

	src = conf_file("examples/deny-overrides.yaml", &len);
	activate_ok(inst, "z1", "do", src);
	free(src);
	assert_allow(eval(inst, "z1", in));
	set_list(in, "principal", "labels", "quarantine:x");
	assert_deny(eval(inst, "z1", in), "[\"restriction_active\"]");
	set_list(in, "principal", "labels", "");
	set_str(in, NULL, "zone_id", "prod-eu");
	activate_ok(inst, "prod-eu", "do", "version: 1\nrules: []\n");
	src = conf_file("examples/deny-overrides.yaml", &len);
	activate_ok(inst, "prod-eu", "do", src);
	free(src);
	assert_allow(eval(inst, "prod-eu", in));
	set_str(in, "action", "use", "gateway");
	assert_deny(eval(inst, "prod-eu", in), "[\"confinement_violation\"]");
	set_str(in, "action", "path", "/api/orders");
	assert_allow(eval(inst, "prod-eu", in));
	json_decref(in);
}

static void test_activation_keeps_old_on_error(void **state)
{
	void *inst = *state;
	caracal_error err = {0};
	json_t *in = base_input();
	activate_ok(inst, "z1", "good", "version: 1\nrules: [{name: all, effect: allow}]\n");
	int rc =
	    activate(inst, "z1", "bad", "version: 1\nrules: [{name: all, effect: alow}]\n", &err);
	assert_int_equal(rc, CARACAL_E_INVAL);
	assert_string_equal(err.message,
	                    "line 2: rule 'all': unknown effect 'alow' (allow, deny or "
	                    "approval_required)");
	res r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.version, "good");
	/* A zone that never had a valid version still has none. */
	assert_int_equal(activate(inst, "z9", "bad", "rules: 3\n", &err), CARACAL_E_INVAL);
	set_str(in, NULL, "zone_id", "z9");
	assert_deny(eval(inst, "z9", in), "[\"no_active_policy_set\"]");
	/* Bad ids. */
	assert_int_equal(activate(inst, "", "v", "version: 1\nrules: []\n", &err), CARACAL_E_INVAL);
	assert_int_equal(activate(inst, "z1", "", "version: 1\nrules: []\n", &err),
	                 CARACAL_E_INVAL);
	r = eval(inst, "z1", (set_str(in, NULL, "zone_id", "z1"), in));
	assert_string_equal(r.version, "good");
	json_decref(in);
}

/* ---- concurrency: evaluate from 4 threads during 1000 activations */

typedef struct race {
	void *inst;
	atomic_int stop;
	atomic_long evaluations;
	atomic_int bad;
	char input[2048];
} race;

static void *race_thread(void *arg)
{
	race *rc = arg;
	caracal_arena *a = arena_new();
	while (!atomic_load(&rc->stop)) {
		caracal_policy_decision d = {.size = sizeof d};
		caracal_error err = {0};
		int st = OPS->evaluate(rc->inst, "z1", rc->input, strlen(rc->input), a, &d, &err);
		bool ok = st == CARACAL_OK;
		if (ok && d.effect == CARACAL_EFFECT_ALLOW)
			ok = strcmp(d.policy_version_id, "A") == 0 &&
			     d.reasons.len == strlen("[\"ra\"]") &&
			     memcmp(d.reasons.ptr, "[\"ra\"]", d.reasons.len) == 0;
		else if (ok && d.effect == CARACAL_EFFECT_DENY)
			ok = strcmp(d.policy_version_id, "B") == 0 &&
			     d.reasons.len == strlen("[\"rb\"]") &&
			     memcmp(d.reasons.ptr, "[\"rb\"]", d.reasons.len) == 0;
		else
			ok = false;
		if (!ok)
			atomic_fetch_add(&rc->bad, 1);
		atomic_fetch_add(&rc->evaluations, 1);
		arena_reset(a);
	}
	arena_free(a);
	return NULL;
}

static void test_concurrent_activation(void **state)
{
	static const char va[] = "version: 1\nrules:\n"
	                         "  - {name: a, effect: allow, reason: ra}\n"
	                         "  - {name: a2, effect: allow, reason: ra, when: {zone_id: z1}}\n";
	static const char vb[] = "version: 1\nrules:\n"
	                         "  - {name: b, effect: deny, reason: rb}\n"
	                         "  - {name: b2, effect: allow, reason: rx}\n";
	race *rc = calloc(1, sizeof *rc);
	assert_non_null(rc);
	rc->inst = *state;
	json_t *in = base_input();
	char *text = json_dumps(in, JSON_COMPACT);
	snprintf(rc->input, sizeof rc->input, "%s", text);
	free(text);
	json_decref(in);
	activate_ok(rc->inst, "z1", "A", va);

	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, rc), 0);
	for (int i = 0; i < 1000; i++) {
		caracal_error err = {0};
		assert_int_equal(activate(rc->inst, "z1", i % 2 ? "A" : "B", i % 2 ? va : vb, &err),
		                 CARACAL_OK);
		/* Every tenth, an invalid version in between: it must change nothing. */
		if (i % 10 == 0)
			assert_int_equal(activate(rc->inst, "z1", "C", "version: 2\n", &err),
			                 CARACAL_E_INVAL);
	}
	atomic_store(&rc->stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "# %ld evaluations during 1000 activations\n",
	        (long)atomic_load(&rc->evaluations));
	assert_int_equal(atomic_load(&rc->bad), 0);
	assert_true(atomic_load(&rc->evaluations) > 0);
	free(rc);
}

/* ---- validation diagnostics */

static void expect_invalid(void *inst, const char *src, unsigned line, const char *needle)
{
	caracal_arena *a = arena_new();
	caracal_str diags = {NULL, 0};
	caracal_error err = {0};
	int rc = OPS->validate(inst, src, strlen(src), a, &diags, &err);
	if (rc != CARACAL_E_INVAL)
		fail_msg("validate returned %d for:\n%s", rc, src);
	char prefix[32];
	snprintf(prefix, sizeof prefix, "line %u: ", line);
	if (strncmp(err.message, prefix, strlen(prefix)) != 0 ||
	    strstr(err.message, needle) == NULL)
		fail_msg("want '%s...%s', got '%s'", prefix, needle, err.message);
	/* The diagnostics are a JSON array whose first entry is the same problem. */
	json_error_t je;
	json_t *j = json_loadb(diags.ptr, diags.len, 0, &je);
	if (j == NULL)
		fail_msg("diagnostics not JSON: %.*s", (int)diags.len, diags.ptr);
	assert_true(json_is_array(j));
	assert_true(json_array_size(j) >= 1);
	json_t *first = json_array_get(j, 0);
	assert_int_equal(json_integer_value(json_object_get(first, "line")), line);
	assert_non_null(strstr(json_string_value(json_object_get(first, "message")), needle));
	json_decref(j);
	/* activate refuses it the same way. */
	caracal_error err2 = {0};
	assert_int_equal(activate(inst, "zv", "v", src, &err2), CARACAL_E_INVAL);
	assert_string_equal(err2.message, err.message);
	arena_free(a);
}

static void test_validate_errors(void **state)
{
	void *inst = *state;
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n    colour: red\n", 5,
	               "unknown key 'colour'");
	expect_invalid(inst, "version: 1\nrulez: []\n", 2, "unknown key 'rulez'");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when:\n      scopes_within_grant: true\n",
	               6, "unknown key 'scopes_within_grant'");
	expect_invalid(inst, "version: 1\nrules:\n  - name: a\n    effect: permit\n", 4,
	               "unknown effect 'permit'");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when:\n      delegation_depth_max: two\n",
	               6, "must be an integer");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    obligations: {max_ttl_seconds: \"300\"}\n",
	               5, "must be an integer");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when: {scopes_within_grants: yes}\n",
	               5, "must be true or false");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when: {principal.type: {a: b}}\n",
	               5, "must be a string or a non-empty list");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: dup\n    effect: allow\n"
	               "  - name: other\n    effect: deny\n  - name: dup\n    effect: deny\n",
	               7, "duplicate rule name 'dup' (first at line 3)");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when: &w {zone_id: z}\n  - name: b\n    effect: allow\n    when: *w\n",
	               5, "anchors and aliases are not allowed");
	expect_invalid(inst, "version: 1\nrules:\n  - *nothing\n", 3, "");
	expect_invalid(inst, "version: 1\nrules:\n  - name: a\n    effect: !!str allow\n", 4,
	               "tags are not allowed");
	expect_invalid(inst, "version: 1\nversion: 1\nrules: []\n", 2, "duplicate key 'version'");
	expect_invalid(inst, "version: 2\nrules: []\n", 1, "not supported");
	expect_invalid(inst, "rules: []\n", 1, "missing 'version: 1'");
	expect_invalid(inst, "version: 1\nrules:\n  - name: a\n    effect: [allow\n", 5,
	               "YAML syntax");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: deny\n"
	               "    obligations: {max_ttl_seconds: 5}\n",
	               5, "a deny rule has no obligations");
	expect_invalid(inst, "version: 1\nrules:\n  - name: a\n    effect: approval_required\n", 3,
	               "needs an approval block");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    approval: {tier: x, approver: any}\n",
	               5, "only for effect approval_required");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: approval_required\n"
	               "    approval: {tier: x, approver: boss}\n",
	               5, "operator, subject or any");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when: {time_utc: {after: \"25:00\"}}\n",
	               5, "HH:MM");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when: {time_utc: {weekdays: [mon, funday]}}\n",
	               5, "unknown day 'funday'");
	expect_invalid(inst,
	               "version: 1\nrules:\n  - name: a\n    effect: allow\n"
	               "    when: {scopes_any: [\"a*b\"]}\n",
	               5, "only allowed at the end");
	expect_invalid(inst, "version: 1\nrules:\n  - name: \"a b\"\n    effect: allow\n", 3,
	               "may only contain");
	expect_invalid(inst, "version: 1\nrules:\n  - effect: allow\n", 3, "has no name");
	expect_invalid(inst, "version: 1\nrules:\n  - name: a\n    effect: allow\n    unless: {}\n",
	               5, "unless needs at least one condition");
	expect_invalid(inst, "", 1, "empty policy");
	expect_invalid(inst, "version: 1\nrules: []\n---\nversion: 1\n", 3, "one YAML document");
	expect_invalid(inst, "[1, 2]\n", 1, "must be a mapping");

	/* Every problem is reported, in order. */
	caracal_arena *a = arena_new();
	caracal_str diags;
	caracal_error err = {0};
	const char *src = "version: 1\nrules:\n  - name: a\n    effect: maybe\n"
	                  "  - name: b\n    effect: allow\n    extra: 1\n";
	assert_int_equal(OPS->validate(inst, src, strlen(src), a, &diags, &err), CARACAL_E_INVAL);
	json_t *j = json_loadb(diags.ptr, diags.len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "line")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 1), "line")), 7);
	json_decref(j);

	/* A valid source: OK and []. */
	src = "version: 1\nrules: []\n";
	assert_int_equal(OPS->validate(inst, src, strlen(src), a, &diags, &err), CARACAL_OK);
	assert_int_equal(diags.len, 2);
	assert_memory_equal(diags.ptr, "[]", 2);
	arena_free(a);
}

static void test_bounds(void **state)
{
	void *inst = *state;
	caracal_error err = {0};
	caracal_arena *a = arena_new();
	caracal_str diags;
	size_t big = (1u << 20) + 1;
	char *src = malloc(big + 1);
	memset(src, '#', big);
	memcpy(src, "version: 1\nrules: []\n", 21);
	src[21] = '#';
	src[big] = '\0';
	assert_int_equal(OPS->validate(inst, src, big, a, &diags, &err), CARACAL_E_TOOBIG);
	assert_int_equal(OPS->activate(inst, "z1", "v", src, big, &err), CARACAL_E_TOOBIG);
	free(src);

	/* max_rules from the config. */
	void *small = NULL;
	assert_int_equal(instance_from("max_rules: 2\n", &small, &err), CARACAL_OK);
	const char *three = "version: 1\nrules:\n  - {name: a, effect: allow}\n"
	                    "  - {name: b, effect: allow}\n  - {name: c, effect: allow}\n";
	assert_int_equal(activate(small, "z1", "v", three, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "more than max_rules (2)"));
	assert_int_equal(activate(inst, "z1", "v", three, &err), CARACAL_OK);
	P->instance_destroy(small);
	assert_int_not_equal(instance_from("max_rules: 0\n", &small, &err), CARACAL_OK);
	assert_int_not_equal(instance_from("max_rules: many\n", &small, &err), CARACAL_OK);
	assert_int_not_equal(instance_from("max_ruls: 3\n", &small, &err), CARACAL_OK);

	/* Nesting and a 1000-rule policy. */
	assert_int_equal(
	    activate(inst, "z1", "v", "version: 1\nrules: [[[[[[[[[[1]]]]]]]]]]\n", &err),
	    CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "nested too deeply"));
	size_t cap = 64 * 1024, n = 0;
	char *many = malloc(cap);
	n += (size_t)snprintf(many + n, cap - n, "version: 1\nrules:\n");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(many + n, cap - n,
		                      "  - {name: r%d, effect: allow, when: {zone_id: z%d}}\n", i,
		                      i);
	assert_int_equal(OPS->activate(inst, "z1", "many", many, n, &err), CARACAL_OK);
	json_t *in = base_input();
	res r = eval(inst, "z1", in);
	assert_allow(r);
	assert_string_equal(r.det, "[{\"policy\":\"r1\"}]");
	json_decref(in);
	free(many);
	arena_free(a);
}

static void expect_error(void *inst, const char *text, const char *needle)
{
	res r = eval_text(inst, "z1", text, strlen(text));
	if (r.rc != CARACAL_E_INVAL)
		fail_msg("want INVAL for %s, got %d (effect %d)", text, r.rc, (int)r.effect);
	if (strstr(r.err, needle) == NULL)
		fail_msg("want '%s' in '%s'", needle, r.err);
}

static void expect_member_error(void *inst, json_t *in, const char *needle)
{
	char *text = json_dumps(in, JSON_COMPACT);
	expect_error(inst, text, needle);
	free(text);
	json_decref(in);
}

static void test_malformed_input(void **state)
{
	void *inst = *state;
	activate_ok(inst, "z1", "v1", "version: 1\nrules: [{name: all, effect: allow}]\n");
	expect_error(inst, "", "not valid JSON");
	expect_error(inst, "{\"schema_version\":", "not valid JSON");
	expect_error(inst, "[1]", "not a JSON object");
	expect_error(inst, "{}", "schema_version is missing");
	expect_error(inst, "{\"schema_version\":\"2026-05-20\",\"schema_version\":\"x\"}",
	             "not valid JSON");

	json_t *in = base_input();
	set_str(in, NULL, "schema_version", "2025-01-01");
	expect_member_error(inst, in, "schema_version is not 2026-05-20");
	in = base_input();
	json_object_set_new(in, "schema_version", json_integer(1));
	expect_member_error(inst, in, "schema_version is missing");
	in = base_input();
	json_object_set_new(member(in, "context"), "requested_scopes", json_string("orders:read"));
	expect_member_error(inst, in, "context.requested_scopes must be an array of strings");
	in = base_input();
	json_array_append_new(json_object_get(member(in, "grants"), "scopes"), json_integer(3));
	expect_member_error(inst, in, "grants.scopes must be an array of strings");
	in = base_input();
	json_object_set_new(member(in, "context"), "challenge_resolved", json_string("true"));
	expect_member_error(inst, in, "challenge_resolved must be a boolean");
	in = base_input();
	json_object_del(member(in, "context"), "time");
	expect_member_error(inst, in, "context.time is missing");
	in = base_input();
	json_object_set_new(member(in, "context"), "time", json_real(1.5));
	expect_member_error(inst, in, "context.time must be an integer");
	in = base_input();
	set_int(in, "delegation", "depth", -1);
	expect_member_error(inst, in, "must not be negative");
	in = base_input();
	json_object_set_new(in, "principal", json_string("app"));
	expect_member_error(inst, in, "principal must be an object");
	in = base_input();
	json_object_del(in, "subject");
	expect_member_error(inst, in, "subject must be an object");
	in = base_input();
	json_object_set_new(member(in, "principal"), "type", json_null());
	expect_member_error(inst, in, "principal.type must be a string");
	in = base_input();
	json_object_set_new(member(in, "principal"), "labels", json_string("ops"));
	expect_member_error(inst, in, "principal.labels must be an array");
	in = base_input();
	json_object_set_new(member(in, "action"), "method", json_integer(1));
	expect_member_error(inst, in, "action.method must be a string");
	in = base_input();
	set_str(in, NULL, "zone_id", "z2");
	expect_member_error(inst, in, "zone_id differs");

	/* The plain input still allows: the errors above were the input's. */
	in = base_input();
	assert_allow(eval(inst, "z1", in));
	/* Optional members may be null. */
	json_object_set_new(member(in, "principal"), "labels", json_null());
	assert_allow(eval(inst, "z1", in));
	json_decref(in);

	/* A decision struct smaller than ABI 1.0's is refused. */
	caracal_arena *a = arena_new();
	caracal_policy_decision d = {.size = 8};
	caracal_error err = {0};
	assert_int_equal(OPS->evaluate(inst, "z1", "{}", 2, a, &d, &err), CARACAL_E_INVAL);
	arena_free(a);
}

/* ------------------------------------------------------------ input reader */

/* The base input as compact text (context is its last member). */
static char *base_text(void)
{
	json_t *in = base_input();
	char *text = json_dumps(in, JSON_COMPACT);
	json_decref(in);
	assert_non_null(text);
	return text;
}

/* text with its first occurrence of from replaced by to (malloc'd). */
static char *replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	if (at == NULL)
		fail_msg("'%s' not in the input", from);
	size_t n = strlen(text), nf = strlen(from), nt = strlen(to), pre = (size_t)(at - text);
	char *out = malloc(n - nf + nt + 1);
	assert_non_null(out);
	memcpy(out, text, pre);
	memcpy(out + pre, to, nt);
	memcpy(out + pre + nt, at + nf, n - pre - nf + 1);
	return out;
}

/* The base input with its first occurrence of from replaced by to. */
static char *base_with(const char *from, const char *to)
{
	char *text = base_text();
	char *out = replaced(text, from, to);
	free(text);
	return out;
}

/* The base input with one more member, "name":value, in context. */
static char *with_member(const char *member)
{
	char *text = base_text();
	size_t n = strlen(text), m = strlen(member);
	assert_true(n > 2 && strcmp(text + n - 2, "}}") == 0);
	char *out = malloc(n + m + 2);
	assert_non_null(out);
	memcpy(out, text, n - 2);
	out[n - 2] = ',';
	memcpy(out + n - 1, member, m);
	memcpy(out + n - 1 + m, "}}", 3);
	free(text);
	return out;
}

static res eval_owned(void *inst, char *text)
{
	res r = eval_text(inst, "z1", text, strlen(text));
	free(text);
	return r;
}

static void expect_allow_text(void *inst, char *text)
{
	res r = eval_text(inst, "z1", text, strlen(text));
	if (r.rc != CARACAL_OK || r.effect != CARACAL_EFFECT_ALLOW)
		fail_msg("want allow for %.300s, got %d (%s)", text, r.rc, r.err);
	free(text);
}

static void expect_error_text(void *inst, char *text, const char *needle)
{
	expect_error(inst, text, needle);
	free(text);
}

/* "[[...]]": n arrays, the innermost holding inner. */
static char *nested(size_t n, const char *inner)
{
	size_t m = strlen(inner);
	char *s = malloc(2 * n + m + 1);
	assert_non_null(s);
	memset(s, '[', n);
	memcpy(s + n, inner, m);
	memset(s + n + m, ']', n);
	s[2 * n + m] = '\0';
	return s;
}

static char *member_of(const char *name, char *value)
{
	size_t n = strlen(name) + strlen(value) + 4;
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, "\"%s\":%s", name, value);
	free(value);
	char *out = with_member(s);
	free(s);
	return out;
}

/* An object of n keys "k0".."k<n-1>" (and "k<dup>" again when dup < n). */
static char *wide_object(size_t n, size_t dup)
{
	size_t cap = 32 * (n + 2), len = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	s[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s\"k%zu\":[%zu]", i > 0 ? "," : "", i,
		                        i);
	if (dup < n)
		len += (size_t)snprintf(s + len, cap - len, ",\"k%zu\":null", dup);
	snprintf(s + len, cap - len, "}");
	return s;
}

/* The reader validates the whole document as strictly as jansson with
 * JSON_REJECT_DUPLICATES did, members nobody reads included. */
static void test_input_strict(void **state)
{
	void *inst = *state;
	activate_ok(inst, "z1", "v1", "version: 1\nrules: [{name: all, effect: allow}]\n");
	expect_allow_text(inst, base_text());
	expect_allow_text(inst, with_member("\"x\":{\"a\":[1,-0,2.5e3,true,null,\"s\"]}"));

	/* Duplicate keys, anywhere. */
	expect_error_text(
	    inst, with_member("\"subject_claims\":{\"a\":{\"b\":[{\"c\":{\"d\":1,\"d\":2}}]}}"),
	    "not valid JSON");
	expect_error_text(inst, with_member("\"x\":{\"k\":1,\"\\u006b\":2}"), "not valid JSON");
	expect_error_text(inst,
	                  base_with("\"zone_id\":\"z1\"", "\"zone_id\":\"z1\",\"zone_id\":\"z1\""),
	                  "not valid JSON");
	expect_allow_text(inst, member_of("wide", wide_object(40, 40)));
	expect_error_text(inst, member_of("wide", wide_object(40, 0)), "not valid JSON");
	expect_error_text(inst, member_of("wide", wide_object(40, 39)), "not valid JSON");
	/* Big enough to need more than the reader's stack scratch. */
	expect_allow_text(inst, member_of("wide", wide_object(3000, 3000)));
	expect_error_text(inst, member_of("wide", wide_object(3000, 1234)), "not valid JSON");

	/* Strings. */
	expect_error_text(inst, with_member("\"x\":\"a\\u0000b\""), "not valid JSON");
	expect_error_text(inst, with_member("\"a\\u0000\":1"), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\ud800\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\udc00\\ud800\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\ud800\\u0041\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\ud800x\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\uD83D\\n\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\u12\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"\\x41\""), "not valid JSON");
	expect_error_text(inst, with_member("\"x\":\"tab\there\""), "not valid JSON");
	expect_allow_text(inst,
	                  with_member("\"x\":\"\\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\""));
	static const char *const bad_utf8[] = {
	    "\xff",     "\xc0\x80",         "\xc1\xbf",
	    "\x80",     "\xed\xa0\x80",     "\xf4\x90\x80\x80",
	    "\xe2\x82", "\xf5\x80\x80\x80", "\xe0\x9f\xbf",
	};
	for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
		char m[64];
		snprintf(m, sizeof m, "\"x\":\"a%sb\"", bad_utf8[i]);
		expect_error_text(inst, with_member(m), "not valid JSON");
	}
	expect_allow_text(inst,
	                  with_member("\"x\":\"\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf "
	                              "\xed\x9f\xbf \xee\x80\x80 \x7f\""));

	/* Trailing bytes: whitespace only. */
	char *t = base_text();
	size_t n = strlen(t);
	static const char *const tails[] = {"x", "{}", "]", ",", "\"\"", "0"};
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		char *u = malloc(n + 8);
		snprintf(u, n + 8, "%s %s", t, tails[i]);
		expect_error_text(inst, u, "not valid JSON");
	}
	char *u = malloc(n + 8);
	snprintf(u, n + 8, " \t%s \r\n\t ", t);
	expect_allow_text(inst, u);
	u = malloc(n + 2);
	memcpy(u, t, n);
	u[n] = '\0';
	res r = eval_text(inst, "z1", u, n + 1); /* a NUL byte after the document */
	assert_int_equal(r.rc, CARACAL_E_INVAL);
	assert_non_null(strstr(r.err, "not valid JSON"));
	free(u);
	free(t);
	/* jansson skipped a raw NUL right after a number; it is never valid. */
	t = base_with("\"depth\":0", "\"depth\":0\x01");
	*strchr(t, '\x01') = '\0';
	n = strlen(t);
	n += strlen(t + n + 1) + 1;
	r = eval_text(inst, "z1", t, n);
	assert_int_equal(r.rc, CARACAL_E_INVAL);
	assert_non_null(strstr(r.err, "not valid JSON"));
	free(t);

	/* Numbers. */
	expect_error_text(inst, with_member("\"n\":01"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":-01"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":00"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":+1"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":1."), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":.5"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":1e"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":-"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":0x10"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":9223372036854775808"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":-9223372036854775809"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":100000000000000000000"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":1e309"), "not valid JSON");
	expect_error_text(inst, with_member("\"n\":-1.7976931348623159e308"), "not valid JSON");
	expect_error_text(inst, base_with("\"depth\":0", "\"depth\":9223372036854775808"),
	                  "not valid JSON");
	expect_allow_text(inst, with_member("\"n\":[9223372036854775807,-9223372036854775808,0,-0,"
	                                    "0.0,1e-400,1.7976931348623157e308,1E+2,2e-0]"));
	expect_allow_text(inst, base_with("\"depth\":0", "\"depth\":-0"));
	expect_error_text(inst, base_with("\"depth\":0", "\"depth\":1.0"),
	                  "delegation.depth must be an integer");
	expect_error_text(inst, base_with("\"depth\":0", "\"depth\":1e0"),
	                  "delegation.depth must be an integer");
	expect_error_text(inst, base_with("\"time\":1779278400", "\"time\":1779278400.0"),
	                  "context.time must be an integer");
	expect_error_text(inst, base_with("\"time\":1779278400", "\"time\":17792784E2"),
	                  "context.time must be an integer");

	/* Nesting: jansson's 2048 levels, scalars counted. The root is level 1,
	 * context 2, so the member's arrays start at level 3. */
	expect_allow_text(inst, member_of("d", nested(2046, "")));
	expect_error_text(inst, member_of("d", nested(2047, "")), "not valid JSON");
	expect_allow_text(inst, member_of("d", nested(2045, "1")));
	expect_error_text(inst, member_of("d", nested(2046, "1")), "not valid JSON");
	expect_error_text(inst, member_of("d", nested(100000, "")), "not valid JSON");

	/* Not JSON at all, or not an object at the top. */
	expect_error(inst, "\"a\"", "not valid JSON");
	expect_error(inst, "1", "not valid JSON");
	expect_error(inst, "  ", "not valid JSON");
	expect_error(inst, "\xef\xbb\xbf{}", "not valid JSON");
	expect_error(inst, "{\"a\" 1}", "not valid JSON");
	expect_error(inst, "{\"a\":1,}", "not valid JSON");
	expect_error(inst, "[1,]", "not valid JSON");
	expect_error(inst, "[tru]", "not valid JSON");
	expect_error(inst, "{'a':1}", "not valid JSON");
	expect_error(inst, "[] ", "not a JSON object");

	/* Arrays of strings: at most 1024 elements. */
	size_t cap = 8 * 1100;
	char *list = malloc(cap);
	assert_non_null(list);
	const char *grants = "\"grants\":{\"scopes\":[\"orders:read\",\"orders:write\"]";
	size_t len = (size_t)snprintf(list, cap, "\"grants\":{\"scopes\":[\"orders:read\"");
	for (int i = 1; i < 1024; i++)
		len += (size_t)snprintf(list + len, cap - len, ",\"s%d\"", i);
	snprintf(list + len, cap - len, "]");
	expect_allow_text(inst, base_with(grants, list));
	list[len] = '\0';
	snprintf(list + len, cap - len, ",\"s1024\"]");
	expect_error_text(inst, base_with(grants, list),
	                  "grants.scopes has more than 1024 elements");
	free(list);
}

/* Escapes stand for their bytes: the engine compares unescaped strings. */
static void test_input_escapes(void **state)
{
	void *inst = *state;
	when_policy(inst, "{resource.identifier: [\"resource://orders/eu\"]}");
	const char *id = "\"identifier\":\"resource://orders/eu\"";
	expect_allow_text(inst,
	                  base_with(id, "\"identifier\":\"resource:\\/\\/orders\\/\\u0065u\""));
	expect_allow_text(
	    inst, base_with(id, "\"identi\\u0066ier\":\"\\u0072esource://orders/e\\u0075\""));
	res r = eval_owned(inst, base_with(id, "\"identifier\":\"resource://orders/\\u0045U\""));
	assert_deny(r, "[\"no_rule_matched\"]");

	/* A surrogate pair is one 4-byte character, as the policy writes it. */
	when_policy(inst, "{principal.id: \"app-\xf0\x9f\x98\x80\"}");
	expect_allow_text(inst, base_with("\"app-1\"", "\"app-\\ud83d\\ude00\""));
	expect_allow_text(inst, base_with("\"app-1\"", "\"app-\\uD83D\\uDE00\""));
	expect_allow_text(inst, base_with("\"app-1\"", "\"app-\xf0\x9f\x98\x80\""));
	r = eval_owned(inst, base_with("\"app-1\"", "\"app-\\ud83d\\ude01\""));
	assert_deny(r, "[\"no_rule_matched\"]");

	/* \u00e9 is the two bytes of é. */
	when_policy(inst, "{subject.id: \"r\xc3\xa9mi\"}");
	expect_allow_text(inst, base_with("\"u-1\"", "\"r\\u00e9mi\""));
	expect_allow_text(inst, base_with("\"u-1\"", "\"r\\u00E9mi\""));

	/* Lists: labels, requested and granted scopes. */
	when_policy(inst, "{labels_any: [\"team:billing\"], scopes_all_in: [\"orders:read\"]}");
	expect_allow_text(inst, base_with("\"team:billing\"", "\"\\u0074eam:billing\""));
	r = eval_owned(inst, base_with("\"team:billing\"", "\"team:billin\""));
	assert_deny(r, "[\"no_rule_matched\"]");
	when_policy(inst, "{scopes_within_grants: true}");
	expect_allow_text(inst, base_with("\"requested_scopes\":[\"orders:read\"]",
	                                  "\"requested_scopes\":[\"orders\\u003aread\"]"));
	r = eval_owned(inst, base_with("\"requested_scopes\":[\"orders:read\"]",
	                               "\"requested_scopes\":[\"orders:read\\u0000\"]"));
	assert_int_equal(r.rc, CARACAL_E_INVAL);

	/* Keys are unescaped before they are matched: an escaped name is the
	 * member, and the member twice is a duplicate. */
	expect_allow_text(inst, base_with("\"zone_id\":\"z1\"", "\"zone\\u005fid\":\"z1\""));
	expect_error_text(inst,
	                  base_with("\"delegation\":{\"depth\":0}",
	                            "\"delegation\":{\"depth\":0,\"dept\\u0068\":0}"),
	                  "not valid JSON");
}

/* Not a pass/fail bound (sanitizer builds are slow): prints the cost of one
 * evaluation of allow-granted, input parsing and arena copies included. */
static void test_speed(void **state)
{
	void *inst = *state;
	size_t len;
	char *src = conf_file("allow-granted.yaml", &len);
	activate_ok(inst, "z1", "v1", src);
	free(src);
	json_t *in = base_input();
	char *text = json_dumps(in, JSON_COMPACT);
	json_decref(in);
	caracal_arena *a = arena_new();
	const int n = 20000;
	/* CPU time of this thread: the build host may be loaded. */
	struct timespec c0, c1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	for (int i = 0; i < n; i++) {
		caracal_policy_decision d = {.size = sizeof d};
		caracal_error err = {0};
		assert_int_equal(OPS->evaluate(inst, "z1", text, strlen(text), a, &d, &err),
		                 CARACAL_OK);
		assert_int_equal(d.effect, CARACAL_EFFECT_ALLOW);
		arena_reset(a);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	double us = (double)(c1.tv_sec - c0.tv_sec) * 1e6 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e3;
	fprintf(stderr, "# evaluate: %.2f us CPU per call (%zu-byte input)\n", us / n,
	        strlen(text));
	arena_free(a);
	free(text);
}

static int validate_tree(void *inst, const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot open %s", dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			validate_tree(inst, path, count);
			continue;
		}
		size_t len;
		char *src = read_text(path, &len);
		assert_non_null(src);
		caracal_arena *a = arena_new();
		caracal_str diags;
		caracal_error err = {0};
		int rc = OPS->validate(inst, src, len, a, &diags, &err);
		if (rc != CARACAL_OK)
			fail_msg("%s: %s", path, err.message);
		assert_int_equal(activate(inst, "z1", e->d_name, src, &err), CARACAL_OK);
		arena_free(a);
		free(src);
		(*count)++;
	}
	closedir(d);
	return 0;
}

static void test_conf_policies_validate(void **state)
{
	char dir[4096];
	const char *src = getenv("CARACAL_SRCDIR");
	unsigned count = 0;
	snprintf(dir, sizeof dir, "%s/conf/policies", src != NULL ? src : "..");
	validate_tree(*state, dir, &count);
	assert_true(count >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),
	    cmocka_unit_test_setup_teardown(test_allow_granted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_active_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_deny_and_empty_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deny_overrides, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_approval_required, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_obligations_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_string_conditions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scope_and_label_conditions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_condition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unless, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_examples_behave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activation_keeps_old_on_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_activation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_strict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_escapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conf_policies_validate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_speed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
