/* The token endpoint's form rules (spec sts.md §2.1, test vectors of §7). */
#include "roles/sts/form.h"
#include "util/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE                                                                               \
	"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&zone_id=z1&" \
	"application_id=a1&client_secret=s&resource=resource%3A%2F%2Fr&scope=agent%3Alifecycle"

static caracal_arena *arena;

static int setup(void **state)
{
	(void)state;
	arena = arena_new();
	return arena == NULL;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(arena);
	return 0;
}

static int parse(const char *body, sts_form *f, sts_form_error *fe)
{
	memset(fe, 0, sizeof *fe);
	return sts_form_parse(body, strlen(body), arena, f, fe);
}

static void expect_error(const char *body, int status, const char *error, const char *desc)
{
	sts_form f;
	sts_form_error fe;
	int rc = parse(body, &f, &fe);
	if (rc != -1 || fe.status != status || strcmp(fe.error, error) != 0 ||
	    strstr(fe.description, desc) == NULL)
		fail_msg("body '%.80s': rc %d status %d error %s desc '%s' (want %d %s '%s')", body,
		         rc, fe.status, fe.error ? fe.error : "-", fe.description, status, error,
		         desc);
}

static void test_valid_base(void **state)
{
	(void)state;
	sts_form f;
	sts_form_error fe;
	assert_int_equal(parse(BASE, &f, &fe), 0);
	assert_string_equal(f.grant_type, STS_GRANT_TOKEN_EXCHANGE);
	assert_string_equal(f.zone_id, "z1");
	assert_string_equal(f.application_id, "a1");
	assert_string_equal(f.scope, "agent:lifecycle");
	assert_int_equal(f.resource_count, 1);
	assert_string_equal(f.resources[0], "resource://r");
	assert_false(f.has_ttl);
}

static void test_resources_trimmed_deduped_sorted(void **state)
{
	(void)state;
	sts_form f;
	sts_form_error fe;
	assert_int_equal(parse(BASE
	                       "&resource=r%3A%2F%2Fb&resource=r%3A%2F%2Fa&resource=+r%3A%2F%2Fa+",
	                       &f, &fe),
	                 0);
	assert_int_equal(f.resource_count, 3);
	assert_string_equal(f.resources[0], "r://a");
	assert_string_equal(f.resources[1], "r://b");
	assert_string_equal(f.resources[2], "resource://r");
	expect_error(BASE "&resource=%20", 400, "invalid_token", "resource must not be empty");
}

static void test_malformed_bodies(void **state)
{
	(void)state;
	expect_error("%zz", 400, "invalid_token", "malformed request body");
	expect_error("a=1;b=2", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%2", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%00", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%", 400, "invalid_token", "malformed request body");
}

static void test_text_rules(void **state)
{
	(void)state;
	/* Invalid UTF-8, overlong forms, surrogates and control bytes. */
	expect_error(BASE "&x=%FF", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%C0%AF", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%ED%A0%80", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%01", 400, "invalid_token", "malformed request body");
	expect_error(BASE "&x=%7F", 400, "invalid_token", "malformed request body");
	sts_form f;
	sts_form_error fe;
	/* A raw NUL inside the body cannot cut a value short. */
	char body[512];
	int n = snprintf(body, sizeof body, "%s&client_id=a", BASE);
	body[n - 1] = '\0';
	assert_int_equal(sts_form_parse(body, (size_t)n, arena, &f, &fe), -1);
	assert_int_equal(fe.status, 400);
	/* Valid multibyte text and a scope at the bound pass; beyond it, 400. */
	assert_int_equal(parse(BASE "&x=%C3%A9%E2%82%AC%F0%9F%98%80", &f, &fe), 0);
	char *big = malloc(STS_FORM_MAX_SCOPE + 256);
	assert_non_null(big);
	snprintf(big, STS_FORM_MAX_SCOPE + 256, "%s",
	         "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
	         "grant-type%3Atoken-exchange&scope=");
	size_t len = strlen(big);
	memset(big + len, 'a', STS_FORM_MAX_SCOPE + 1);
	big[len + STS_FORM_MAX_SCOPE + 1] = '\0';
	expect_error(big, 400, "invalid_token", "scope exceeds");
	big[len + STS_FORM_MAX_SCOPE] = '\0';
	assert_int_equal(parse(big, &f, &fe), 0);
	free(big);
}

static void test_duplicates(void **state)
{
	(void)state;
	expect_error(BASE "&grant_type=x", 400, "invalid_token",
	             "duplicate form field: grant_type");
	expect_error(BASE "&scope=x", 400, "invalid_token", "duplicate form field: scope");
	expect_error(BASE "&foo=1&foo=2", 400, "invalid_token", "duplicate form field: foo");
	/* Unknown once: ignored. */
	sts_form f;
	sts_form_error fe;
	assert_int_equal(parse(BASE "&audience=x&requested_token_type=y&client_id=z", &f, &fe), 0);
}

static void test_forbidden_fields(void **state)
{
	(void)state;
	expect_error(BASE "&actor_token=", 400, "invalid_token", "actor_token is not supported");
	expect_error(BASE "&client_assertion=x", 400, "invalid_token", "client_assertion");
	expect_error(BASE "&client_assertion_type=", 400, "invalid_token", "client_assertion_type");
}

static void test_ttl(void **state)
{
	(void)state;
	expect_error(BASE "&ttl_seconds=abc", 400, "invalid_token", "invalid ttl_seconds");
	expect_error(BASE "&ttl_seconds=1.5", 400, "invalid_token", "invalid ttl_seconds");
	expect_error(BASE "&ttl_seconds=1e3", 400, "invalid_token", "invalid ttl_seconds");
	expect_error(BASE "&ttl_seconds=99999999999999999999", 400, "invalid_token",
	             "invalid ttl_seconds");
	sts_form f;
	sts_form_error fe;
	assert_int_equal(parse(BASE "&ttl_seconds=-5", &f, &fe), 0);
	assert_true(f.has_ttl);
	assert_int_equal(f.ttl_seconds, -5);
	assert_int_equal(parse(BASE "&ttl_seconds=%2B5", &f, &fe), 0);
	assert_int_equal(f.ttl_seconds, 5);
	assert_int_equal(parse(BASE "&ttl_seconds=", &f, &fe), 0);
	assert_false(f.has_ttl);
}

static void test_grant_and_token_types(void **state)
{
	(void)state;
	expect_error("grant_type=client_credentials", 400, "invalid_token",
	             "unsupported grant_type");
	expect_error("zone_id=z", 400, "invalid_token", "unsupported grant_type");
	expect_error(BASE "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"
	                  "&subject_token=x",
	             400, "invalid_token", "unsupported subject_token_type");
	expect_error(BASE "&subject_token=x", 400, "invalid_token", "together");
	expect_error(BASE "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token",
	             400, "invalid_token", "together");
}

/* Which failures come after §2.1 rule 8 (a gateway exchange answers them
 * only once the gateway's signature is checked): rules 9 to 11. */
static void test_rule_order_around_the_gateway(void **state)
{
	(void)state;
	sts_form f;
	sts_form_error fe;
	static const char *const after[] = {
	    "grant_type=client_credentials",
	    BASE "&resource=%20",
	    BASE "&subject_token=x",
	};
	for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
		assert_int_equal(parse(after[i], &f, &fe), -1);
		assert_int_equal(fe.after_gateway_rule, 1);
	}
	static const char *const before[] = {
	    "%zz",
	    BASE "&actor_token=",
	    BASE "&ttl_seconds=x",
	    BASE "&scope=a&scope=b",
	};
	for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
		assert_int_equal(parse(before[i], &f, &fe), -1);
		assert_int_equal(fe.after_gateway_rule, 0);
	}
	assert_int_equal(parse(BASE, &f, &fe), 0);
	assert_int_equal(fe.after_gateway_rule, 0);
}

static void test_size_bound(void **state)
{
	(void)state;
	size_t n = STS_FORM_MAX_BODY + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	expect_error(big, 413, "payload_too_large", "exceeds");
	free(big);
	/* Too many fields. */
	char many[4096] = BASE;
	for (int i = 0; i < 70; i++) {
		char f[16];
		snprintf(f, sizeof f, "&f%d=1", i);
		strcat(many, f);
	}
	expect_error(many, 400, "invalid_token", "too many form fields");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_base),
	    cmocka_unit_test(test_resources_trimmed_deduped_sorted),
	    cmocka_unit_test(test_malformed_bodies),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_text_rules),
	    cmocka_unit_test(test_forbidden_fields),
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_grant_and_token_types),
	    cmocka_unit_test(test_rule_order_around_the_gateway),
	    cmocka_unit_test(test_size_bound),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
