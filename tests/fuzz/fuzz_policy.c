/* fuzz_policy.c — libFuzzer target for the policy_rules compiler and
 * evaluator (plugins/policy_rules/rules.c; input.c reads the inputs).
 *
 * The input is a policy source. It is compiled; the diagnostics of an
 * invalid source must render as a JSON array of {line, message}; a valid
 * policy is evaluated against fixed input documents and every text of the
 * decision must be valid JSON of the right shape. */
#include "rules.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const inputs[] = {
    "{\"schema_version\":\"2026-05-20\",\"zone_id\":\"z1\","
    "\"principal\":{\"type\":\"Application\",\"id\":\"app-1\",\"labels\":[\"ops\"]},"
    "\"subject\":{\"kind\":\"user\",\"id\":\"u-1\"},"
    "\"resource\":{\"type\":\"Resource\",\"id\":\"r-1\",\"identifier\":\"resource://orders\"},"
    "\"action\":{\"id\":\"TokenExchange\",\"use\":\"session\",\"method\":\"GET\",\"path\":\"/\"},"
    "\"grants\":{\"scopes\":[\"orders:read\",\"admin:x\"]},\"delegation\":{\"depth\":1},"
    "\"context\":{\"requested_scopes\":[\"orders:read\"],\"time\":1779278400,"
    "\"challenge_resolved\":false}}",
    "{\"schema_version\":\"2026-05-20\",\"zone_id\":\"z1\","
    "\"principal\":{\"type\":\"Workload\",\"id\":\"w\"},"
    "\"subject\":{\"kind\":\"application\",\"id\":\"a\"},"
    "\"resource\":{\"type\":\"Resource\",\"id\":\"r\",\"identifier\":\"x\"},"
    "\"action\":{\"id\":\"CredentialInjection\",\"use\":\"gateway\"},"
    "\"grants\":{\"scopes\":[]},\"delegation\":{\"depth\":0},"
    "\"context\":{\"requested_scopes\":[\"admin:x\",\"q\"],\"time\":-1,"
    "\"challenge_resolved\":true}}",
};
#define NINPUTS (sizeof inputs / sizeof inputs[0])

static bool ready;
static pr_input parsed[NINPUTS];
static _Alignas(16) unsigned char scratch[NINPUTS][PR_INPUT_SCRATCH_SMALL];

static void check_json(const char *text, size_t len, int want_array)
{
	if (strlen(text) != len)
		abort();
	json_t *j = json_loadb(text, len, 0, NULL);
	if (j == NULL || (want_array ? !json_is_array(j) : !json_is_object(j)))
		abort();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pr_diags diags;
	if (!ready) {
		for (size_t i = 0; i < NINPUTS; i++)
			if (pr_input_parse(inputs[i], strlen(inputs[i]), scratch[i],
			                   sizeof scratch[i], &parsed[i], NULL, 0) != 0)
				abort();
		ready = true;
	}
	pr_policy *p = NULL;
	int rc = pr_compile((const char *)data, size, 50, &p, &diags);
	if (rc != CARACAL_OK) {
		if (p != NULL || diags.n == 0)
			abort();
		size_t n = pr_diags_json(&diags, NULL, 0);
		char *buf = malloc(n + 1);
		if (buf == NULL || pr_diags_json(&diags, buf, n + 1) != n)
			abort();
		check_json(buf, n, 1);
		free(buf);
		return 0;
	}
	if (p == NULL || diags.n != 0)
		abort();
	for (size_t i = 0; i < NINPUTS; i++) {
		uint64_t matched[PR_BITMAP_WORDS_MAX];
		pr_outcome o;
		pr_evaluate(p, &parsed[i], matched, &o);
		if (o.effect != CARACAL_EFFECT_DENY && o.effect != CARACAL_EFFECT_ALLOW &&
		    o.effect != CARACAL_EFFECT_APPROVAL_REQUIRED)
			abort();
		char *rs = malloc(o.reasons_len + 1), *dp = malloc(o.determining_len + 1);
		char *ob = o.obligations_len > 0 ? malloc(o.obligations_len + 1) : NULL;
		if (rs == NULL || dp == NULL || (o.obligations_len > 0 && ob == NULL))
			abort();
		pr_render(&o, rs, ob, dp);
		check_json(rs, o.reasons_len, 1);
		check_json(dp, o.determining_len, 1);
		if (ob != NULL)
			check_json(ob, o.obligations_len, 0);
		free(rs);
		free(dp);
		free(ob);
	}
	pr_policy_free(p);
	return 0;
}
