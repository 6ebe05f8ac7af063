/* Unit tests of the control-key rules (spec sts.md §2.3, §2.5). */
#include "roles/sts/control_key.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#define AUD STS_CONTROL_AUDIENCE_DEFAULT
#define NOW 1800000000 /* 2027-01-15T08:00:00Z */

static int allows(const char *const *traits, size_t nt, const char *const *scopes, size_t ns,
                  int64_t *max_ttl)
{
	caracal_strlist l = {traits, nt};
	char why[128];
	return sts_control_key_allows(&l, scopes, ns, NOW, max_ttl, why, sizeof why);
}

static void test_request_shape(void **state)
{
	(void)state;
	const char *aud[] = {AUD}, *mixed[] = {AUD, "resource://orders"};
	const char *ctl[] = {"control:restart"}, *plain[] = {"control:restart", "orders:read"};
	assert_true(sts_control_request(aud, 1, ctl, 1, AUD));
	assert_false(sts_control_request(mixed, 2, ctl, 1, AUD));
	assert_false(sts_control_request(aud, 1, plain, 2, AUD));
	assert_false(sts_control_request(aud, 1, NULL, 0, AUD));
	assert_false(sts_control_request(NULL, 0, ctl, 1, AUD));
	assert_true(sts_control_names_audience(mixed, 2, AUD));
	assert_false(sts_control_names_audience(mixed + 1, 1, AUD));
}

static void test_allows(void **state)
{
	(void)state;
	const char *traits[] = {"control:invoke",
	                        "control:scope:control:restart",
	                        "control:scope:control:drain",
	                        "control:max-ttl:300",
	                        "control:max-ttl:600",
	                        "control:expires:2027-02-01T00:00:00Z"};
	const char *one[] = {"control:restart"}, *two[] = {"control:restart", "control:drain"};
	const char *other[] = {"control:delete"};
	int64_t max = -1;
	assert_int_equal(allows(traits, 6, one, 1, &max), 0);
	assert_int_equal(max, 300); /* the smallest max-ttl wins */
	assert_int_equal(allows(traits, 6, two, 2, &max), 0);
	assert_int_equal(allows(traits, 6, other, 1, &max), -1);
	assert_int_equal(allows(traits, 6, NULL, 0, &max), -1);
	/* Without control:invoke nothing is a control key. */
	assert_int_equal(allows(traits + 1, 5, one, 1, &max), -1);
	/* No max-ttl: 0. */
	const char *bare[] = {"control:invoke", "control:scope:control:restart"};
	assert_int_equal(allows(bare, 2, one, 1, &max), 0);
	assert_int_equal(max, 0);
	/* A prefix of a scope is not the scope. */
	const char *prefix[] = {"control:invoke", "control:scope:control:re"};
	assert_int_equal(allows(prefix, 2, one, 1, &max), -1);
}

static void test_expiry_and_malformed_traits(void **state)
{
	(void)state;
	const char *one[] = {"control:restart"};
	int64_t max;
	static const char *const expired[] = {
	    "control:expires:2027-01-15T08:00:00Z",      /* exactly now */
	    "control:expires:2027-01-15T09:00:00+02:00", /* 07:00Z */
	    "control:expires:2020-01-01T00:00:00.5Z",
	};
	static const char *const malformed[] = {
	    "control:expires:tomorrow",
	    "control:expires:2027-01-15",
	    "control:expires:2027-01-15T08:00:00",
	    "control:expires:2027-01-15T08:00:00+0200",
	    "control:max-ttl:0",
	    "control:max-ttl:-5",
	    "control:max-ttl:1e3",
	    "control:max-ttl:",
	    "control:max-ttl:99999999999",
	};
	for (size_t i = 0; i < sizeof expired / sizeof expired[0]; i++) {
		const char *t[] = {"control:invoke", "control:scope:control:restart", expired[i]};
		if (allows(t, 3, one, 1, &max) == 0)
			fail_msg("expired key accepted: %s", expired[i]);
	}
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		const char *t[] = {"control:invoke", "control:scope:control:restart", malformed[i]};
		if (allows(t, 3, one, 1, &max) == 0)
			fail_msg("malformed trait accepted: %s", malformed[i]);
	}
	const char *later[] = {"control:invoke", "control:scope:control:restart",
	                       "control:expires:2027-01-15T09:00:01+01:00"};
	assert_int_equal(allows(later, 3, one, 1, &max), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_shape),
	    cmocka_unit_test(test_allows),
	    cmocka_unit_test(test_expiry_and_malformed_traits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
