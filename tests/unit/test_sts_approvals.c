/* Approval bindings, states and lifetimes (spec sts.md §2.9). */
#include "roles/sts/approvals.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void binding_of(const char *const *r, size_t nr, const char *const *s, size_t ns,
                       const char *principal, char hex[65])
{
	approval_binding_input in = {.resources = r,
	                             .resource_count = nr,
	                             .scopes = s,
	                             .scope_count = ns,
	                             .principal = principal,
	                             .authority_record = "",
	                             .session = "",
	                             .delegation = "",
	                             .application = "app",
	                             .policy_version = "v1"};
	assert_int_equal(approval_binding_hex(&in, hex), 0);
}

static void test_binding_layout(void **state)
{
	(void)state;
	/* Independently: SHA-256 of the reference's byte layout. */
	static const char layout[] =
	    "resources\0r://a\nr://b\0scopes\0x\ny\0principal\0p\0authority_record\0\0session\0\0"
	    "delegation\0\0application\0app\0policy_set_version\0v1\0policy_manifest\0\0"
	    "decision_contract_version\0\0decision_contract_sha\0";
	unsigned char d[32];
	unsigned int dl = sizeof d;
	EVP_Digest(layout, sizeof layout - 1, d, &dl, EVP_sha256(), NULL);
	char want[65];
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", d[i]);

	const char *r[] = {"R://B", " ", "r://a", "r://b"};
	const char *s[] = {"y", "x", "y"};
	char hex[65];
	binding_of(r, 4, s, 3, "p", hex);
	/* Resources lower-cased, de-duplicated and sorted; empty ones dropped
	 * (" " is not empty: the form parser trims before this). */
	const char *r2[] = {"r://a", "r://b"};
	char hex2[65];
	binding_of(r2, 2, s, 3, "p", hex2);
	assert_string_equal(hex2, want);
	assert_string_not_equal(hex, want);
}

static void test_binding_sensitivity(void **state)
{
	(void)state;
	const char *r[] = {"r://a"};
	const char *s1[] = {"x"}, *s2[] = {"X"};
	char a[65], b[65], c[65];
	binding_of(r, 1, s1, 1, "p", a);
	binding_of(r, 1, s2, 1, "p", b); /* scopes keep their case */
	binding_of(r, 1, s1, 1, "q", c);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 64);
}

static void test_states_and_ttl(void **state)
{
	(void)state;
	caracal_approval a = {.size = sizeof a, .expires_at_us = 2000};
	assert_string_equal(approval_state(&a, 1000), "pending");
	a.satisfied_at_us = 1500;
	assert_string_equal(approval_state(&a, 1600), "approved");
	assert_string_equal(approval_state(&a, 3000), "expired");
	a.rejected_at_us = 1700;
	assert_string_equal(approval_state(&a, 1800), "rejected");
	a.consumed_at_us = 1900;
	assert_string_equal(approval_state(&a, 1950), "consumed");

	assert_int_equal(approval_ttl_s("operator", 0), 4 * 3600);
	assert_int_equal(approval_ttl_s("subject", 0), 15 * 60);
	assert_int_equal(approval_ttl_s("any", 10), 60);
	assert_int_equal(approval_ttl_s("operator", 30 * 24 * 3600), 7 * 24 * 3600);
	assert_int_equal(approval_ttl_s("subject", 30 * 3600), 24 * 3600);

	char id[37], id2[37];
	assert_int_equal(approval_new_id(id), 0);
	assert_int_equal(approval_new_id(id2), 0);
	assert_int_equal(strlen(id), 36);
	assert_int_equal(id[14], '4');
	assert_string_not_equal(id, id2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_binding_layout),
	    cmocka_unit_test(test_binding_sensitivity),
	    cmocka_unit_test(test_states_and_ttl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
