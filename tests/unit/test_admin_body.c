/* Unit tests of the admin API's pure parts (core/roles/admin/body.c): route
 * paths, strict body decoding, value rules, the bearer token check. */
#include "roles/admin/body.h"

#include <caracal/storage.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static json_t *obj(const char *text)
{
	char why[256];
	json_t *o = admin_body_object(text, strlen(text), why, sizeof why);
	assert_non_null(o);
	return o;
}

static void test_paths(void **state)
{
	(void)state;
	admin_path p;
	assert_true(admin_path_parse("/admin/zones", &p));
	assert_int_equal(p.route, ADMIN_R_ZONES);
	assert_true(admin_path_parse("/admin/policies/validate", &p));
	assert_int_equal(p.route, ADMIN_R_POLICY_VALIDATE);
	assert_true(admin_path_parse("/admin/zones/prod", &p));
	assert_int_equal(p.route, ADMIN_R_ZONE);
	assert_string_equal(p.zone, "prod");
	assert_true(admin_path_parse("/admin/zones/prod-1.eu_x/applications", &p));
	assert_int_equal(p.route, ADMIN_R_APPLICATIONS);
	assert_string_equal(p.zone, "prod-1.eu_x");
	assert_true(admin_path_parse("/admin/zones/z/resources", &p));
	assert_int_equal(p.route, ADMIN_R_RESOURCES);
	assert_true(admin_path_parse("/admin/zones/z/grants", &p));
	assert_int_equal(p.route, ADMIN_R_GRANTS);
	assert_true(admin_path_parse("/admin/zones/z/policies", &p));
	assert_int_equal(p.route, ADMIN_R_POLICIES);
	assert_true(admin_path_parse("/admin/zones/z/keys/rotate", &p));
	assert_int_equal(p.route, ADMIN_R_KEYS_ROTATE);
	assert_true(admin_path_parse("/admin/zones/z/approvals", &p));
	assert_int_equal(p.route, ADMIN_R_APPROVALS);
	assert_true(admin_path_parse("/admin/zones/z/revocations", &p));
	assert_int_equal(p.route, ADMIN_R_REVOCATIONS);
	assert_true(admin_path_parse("/admin/zones/z/approvals/0190-ab/decision", &p));
	assert_int_equal(p.route, ADMIN_R_APPROVAL_DECISION);
	assert_string_equal(p.zone, "z");
	assert_string_equal(p.id, "0190-ab");

	static const char *const bad[] = {
	    "/admin/zones/",
	    "/admin/zones//applications",
	    "/admin/zones/z/",
	    "/admin/zones/z/apps",
	    "/admin/zones/a%2Fb/grants",
	    "/admin/zones/z/approvals/x",
	    "/admin/zones/z/approvals/x/decision/",
	    "/admin/zones/../x",
	    "/admin/zone",
	    "/admin/zones/z/keys",
	    "/admin/zones/sp ace",
	    "/admin/zones/z/approvals//decision",
	    "/adminzones",
	    "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (admin_path_parse(bad[i], &p))
			fail_msg("matched '%s'", bad[i]);
		assert_int_equal(p.route, ADMIN_R_NONE);
	}
	/* ".." is made of allowed characters but is no zone name: the zone
	 * lookup answers 404. A segment over 128 bytes never matches. */
	char longp[300];
	snprintf(longp, sizeof longp, "/admin/zones/%0129d", 0);
	assert_false(admin_path_parse(longp, &p));
	snprintf(longp, sizeof longp, "/admin/zones/%0128d", 0);
	assert_true(admin_path_parse(longp, &p));
}

static void test_methods_and_actions(void **state)
{
	(void)state;
	assert_true(admin_method_allowed(ADMIN_R_ZONES, "GET"));
	assert_true(admin_method_allowed(ADMIN_R_ZONES, "HEAD"));
	assert_true(admin_method_allowed(ADMIN_R_ZONES, "POST"));
	assert_false(admin_method_allowed(ADMIN_R_ZONES, "DELETE"));
	assert_false(admin_method_allowed(ADMIN_R_KEYS_ROTATE, "GET"));
	assert_false(admin_method_allowed(ADMIN_R_APPROVALS, "POST"));
	assert_true(admin_method_allowed(ADMIN_R_APPROVAL_DECISION, "POST"));
	assert_false(admin_method_allowed(ADMIN_R_NONE, "GET"));
	assert_string_equal(admin_route_body(ADMIN_R_POLICIES, "POST"), "text");
	assert_string_equal(admin_route_body(ADMIN_R_POLICY_VALIDATE, "POST"), "text");
	assert_string_equal(admin_route_body(ADMIN_R_GRANTS, "POST"), "json");
	assert_null(admin_route_body(ADMIN_R_GRANTS, "GET"));
	assert_null(admin_route_body(ADMIN_R_KEYS_ROTATE, "POST"));
	assert_string_equal(admin_route_action(ADMIN_R_ZONES, "POST"), "zone.create");
	assert_string_equal(admin_route_action(ADMIN_R_APPLICATIONS, "GET"), "application.list");
	assert_string_equal(admin_route_action(ADMIN_R_REVOCATIONS, "POST"), "revocation.create");
	assert_string_equal(admin_route_action(ADMIN_R_APPROVAL_DECISION, "POST"),
	                    "approval.decide");
}

static void test_values(void **state)
{
	(void)state;
	char why[256];
	const size_t cap = sizeof why;
	assert_true(admin_valid_zone_name("prod"));
	assert_true(admin_valid_zone_name("eu-1.prod_x"));
	assert_false(admin_valid_zone_name(""));
	assert_false(admin_valid_zone_name("-x"));
	assert_false(admin_valid_zone_name("a b"));
	assert_false(admin_valid_zone_name("caracal.sys"));
	assert_false(admin_valid_zone_name("CARACAL.x"));
	assert_false(admin_valid_zone_name("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
	char long_name[80];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_false(admin_valid_zone_name(long_name));

	assert_true(admin_valid_scope("read:files"));
	assert_true(admin_valid_scope("a!#[]"));
	assert_false(admin_valid_scope("a b"));
	assert_false(admin_valid_scope("a\"b"));
	assert_false(admin_valid_scope("a\\b"));
	assert_false(admin_valid_scope(""));

	assert_true(admin_valid_identifier("resource://files"));
	assert_true(admin_valid_identifier("resource://api.example/v1:x~y-z_"));
	assert_false(admin_valid_identifier("resource://"));
	assert_false(admin_valid_identifier("https://files"));
	assert_false(admin_valid_identifier("resource://a b"));
	assert_false(admin_valid_identifier("resource://a?b"));
	assert_false(admin_valid_identifier("resource://a\"b"));

	assert_true(admin_valid_upstream_url("http://127.0.0.1:9000/v1?x=1", why, cap));
	assert_true(admin_valid_upstream_url("https://api.example.com", why, cap));
	assert_true(admin_valid_upstream_url("https://[::1]:8443/x", why, cap));
	assert_false(admin_valid_upstream_url("ftp://x", why, cap));
	assert_false(admin_valid_upstream_url("https://user:pw@api.example.com/", why, cap));
	assert_non_null(strstr(why, "userinfo"));
	assert_false(admin_valid_upstream_url("https://api.example.com/#frag", why, cap));
	assert_false(admin_valid_upstream_url("https:///path", why, cap));
	assert_false(admin_valid_upstream_url("https://a b/", why, cap));
	assert_false(admin_valid_upstream_url("https://host:0/", why, cap));
	assert_false(admin_valid_upstream_url("https://host:65536/", why, cap));
	assert_false(admin_valid_upstream_url("https://host:/", why, cap));
	assert_false(admin_valid_upstream_url("https://ho_st/", why, cap));
	assert_false(admin_valid_upstream_url("https://[zz]/", why, cap));
	assert_false(admin_valid_upstream_url("https://host\\evil/", why, cap));

	int64_t us;
	assert_int_equal(admin_parse_rfc3339("2026-05-20T10:00:00Z", &us), 0);
	assert_int_equal(us, INT64_C(1779271200) * 1000000);
	assert_int_equal(admin_parse_rfc3339("2026-05-20T12:00:00.5+02:00", &us), 0);
	assert_int_equal(us, INT64_C(1779271200) * 1000000 + 500000);
	assert_int_equal(admin_parse_rfc3339("2026-02-31T10:00:00Z", &us), -1);
	assert_int_equal(admin_parse_rfc3339("2026-05-20 10:00:00Z", &us), -1);
	assert_int_equal(admin_parse_rfc3339("2026-05-20T10:00:00", &us), -1);
	assert_int_equal(admin_parse_rfc3339("2026-05-20T10:00:00Zjunk", &us), -1);
	char t[32];
	admin_format_time(INT64_C(1779271200) * 1000000 + 999, t);
	assert_string_equal(t, "2026-05-20T10:00:00Z");
}

static void test_body_object(void **state)
{
	(void)state;
	char why[256];
	assert_null(admin_body_object("", 0, why, sizeof why));
	assert_null(admin_body_object("[1]", 3, why, sizeof why));
	assert_non_null(strstr(why, "JSON object"));
	assert_null(admin_body_object("{\"a\":1,\"a\":2}", 13, why, sizeof why));
	assert_null(admin_body_object("{\"a\":", 5, why, sizeof why));
	assert_non_null(strstr(why, "not valid JSON"));
	json_t *o = admin_body_object("{}", 2, why, sizeof why);
	assert_non_null(o);
	json_decref(o);
}

static void test_zone_body(void **state)
{
	(void)state;
	char why[256];
	admin_zone_in z;
	json_t *o = obj("{\"name\":\"prod\"}");
	assert_int_equal(admin_parse_zone(o, &z, why, sizeof why), 0);
	assert_string_equal(z.name, "prod");
	json_decref(o);

	o = obj("{\"name\":\"prod\",\"extra\":1}");
	assert_int_equal(admin_parse_zone(o, &z, why, sizeof why), -1);
	assert_string_equal(why, "unknown member 'extra'");
	json_decref(o);
	o = obj("{\"name\":7}");
	assert_int_equal(admin_parse_zone(o, &z, why, sizeof why), -1);
	assert_string_equal(why, "'name' must be a string");
	json_decref(o);
	o = obj("{}");
	assert_int_equal(admin_parse_zone(o, &z, why, sizeof why), -1);
	assert_string_equal(why, "'name' is required");
	json_decref(o);
	/* An escaped NUL is refused by the decoder itself. */
	const char *nul = "{\"name\":\"a\\u0000b\"}";
	assert_null(admin_body_object(nul, strlen(nul), why, sizeof why));
	assert_non_null(strstr(why, "not valid JSON"));
	o = obj("{\"name\":\"bad name\"}");
	assert_int_equal(admin_parse_zone(o, &z, why, sizeof why), -1);
	json_decref(o);
	/* An unknown member with control characters is not echoed raw. */
	o = obj("{\"x\\n\\\"y\":1}");
	assert_int_equal(admin_parse_zone(o, &z, why, sizeof why), -1);
	assert_null(strchr(why, '\n'));
	json_decref(o);
}

static void test_app_body(void **state)
{
	(void)state;
	char why[256];
	admin_app_in a;
	const int64_t now = INT64_C(1779271200) * 1000000;
	json_t *o = obj("{\"name\":\"agent one\",\"traits\":[\"tier:gold\",\"beta\"],"
	                "\"expires_at\":\"2027-01-01T00:00:00Z\"}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), 0);
	assert_string_equal(a.name, "agent one");
	assert_int_equal(a.trait_count, 2);
	assert_string_equal(a.traits[1], "beta");
	assert_true(a.expires_at_us > now);
	json_decref(o);

	o = obj("{\"name\":\"x\",\"expires_at\":1779271100}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	assert_string_equal(why, "'expires_at' is in the past");
	json_decref(o);
	o = obj("{\"name\":\"x\",\"expires_at\":true}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	json_decref(o);
	o = obj("{\"name\":\"x\",\"traits\":\"gold\"}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	assert_string_equal(why, "'traits' must be an array of strings");
	json_decref(o);
	o = obj("{\"name\":\"x\",\"traits\":[\"a\",\"a\"]}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	assert_non_null(strstr(why, "twice"));
	json_decref(o);
	o = obj("{\"name\":\"x\",\"traits\":[1]}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	json_decref(o);
	o = obj("{\"name\":\"x\",\"client_secret\":\"mine\"}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	assert_string_equal(why, "unknown member 'client_secret'");
	json_decref(o);
	o = obj("{\"name\":\"tab\\there\"}");
	assert_int_equal(admin_parse_app(o, now, &a, why, sizeof why), -1);
	json_decref(o);
	/* Too many traits. */
	json_t *big = json_pack("{s:s}", "name", "x");
	json_t *arr = json_array();
	for (int i = 0; i < ADMIN_MAX_LIST + 1; i++) {
		char t[16];
		snprintf(t, sizeof t, "t%d", i);
		json_array_append_new(arr, json_string(t));
	}
	json_object_set_new(big, "traits", arr);
	assert_int_equal(admin_parse_app(big, now, &a, why, sizeof why), -1);
	json_decref(big);
}

static void test_resource_body(void **state)
{
	(void)state;
	char why[256];
	admin_resource_in r;
	json_t *o = obj("{\"identifier\":\"resource://files\",\"upstream_url\":"
	                "\"http://127.0.0.1:9000\",\"scopes\":[\"read\",\"write\"],"
	                "\"credential\":{\"secret_file\":\"files.token\",\"type\":\"bearer\"}}");
	assert_int_equal(admin_parse_resource(o, &r, why, sizeof why), 0);
	assert_string_equal(r.identifier, "resource://files");
	assert_string_equal(r.upstream_url, "http://127.0.0.1:9000");
	assert_int_equal(r.scope_count, 2);
	assert_string_equal(r.credential_json,
	                    "{\"secret_file\":\"files.token\",\"type\":\"bearer\"}");
	assert_int_equal(r.credential_len, strlen(r.credential_json));
	admin_resource_in_clear(&r);
	json_decref(o);

	o = obj("{\"identifier\":\"resource://files\",\"scopes\":[\"read\"]}");
	assert_int_equal(admin_parse_resource(o, &r, why, sizeof why), 0);
	assert_null(r.upstream_url);
	assert_string_equal(r.credential_json, "{\"type\":\"none\"}");
	admin_resource_in_clear(&r);
	json_decref(o);

	static const char *const bad[] = {
	    "{\"identifier\":\"files\",\"scopes\":[\"read\"]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[]}",
	    "{\"identifier\":\"resource://files\"}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"a b\"]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":\"read\"}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"upstream_url\":"
	    "\"https://u:p@x/\"}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"upstream_url\":5}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"credential\":{\"type\":"
	    "\"bearer\"}}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"credential\":{\"type\":"
	    "\"basic\",\"secret_file\":\"x\"}}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"credential\":{\"type\":"
	    "\"none\",\"secret_file\":\"x\"}}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"credential\":{\"type\":"
	    "\"bearer\",\"secret_file\":\"x\",\"secret\":\"inline\"}}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"credential\":\"none\"}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		o = obj(bad[i]);
		if (admin_parse_resource(o, &r, why, sizeof why) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_null(r.credential_json);
		json_decref(o);
	}
}

static void test_grant_decision_revoke(void **state)
{
	(void)state;
	char why[256];
	admin_grant_in g;
	json_t *o = obj("{\"application_id\":\"a1\",\"resource\":\"resource://files\","
	                "\"scopes\":[\"read\"]}");
	assert_int_equal(admin_parse_grant(o, &g, why, sizeof why), 0);
	assert_string_equal(g.application_id, "a1");
	assert_string_equal(g.resource, "resource://files");
	assert_int_equal(g.scope_count, 1);
	json_decref(o);
	o = obj("{\"application_id\":\"a1\",\"resource\":\"r\",\"scopes\":[\"read\"],\"x\":0}");
	assert_int_equal(admin_parse_grant(o, &g, why, sizeof why), -1);
	json_decref(o);
	o = obj("{\"application_id\":\"\",\"resource\":\"r\",\"scopes\":[\"read\"]}");
	assert_int_equal(admin_parse_grant(o, &g, why, sizeof why), -1);
	json_decref(o);

	const char *have[] = {"read", "write"};
	const char *want1[] = {"read"};
	const char *want2[] = {"read", "admin"};
	assert_true(admin_scopes_subset(want1, 1, have, 2));
	assert_false(admin_scopes_subset(want2, 2, have, 2));
	assert_true(admin_scopes_subset(NULL, 0, have, 2));

	admin_decision_in d;
	o = obj("{\"approve\":true,\"reason\":\"looks fine\"}");
	assert_int_equal(admin_parse_decision(o, &d, why, sizeof why), 0);
	assert_true(d.approve);
	assert_string_equal(d.reason, "looks fine");
	json_decref(o);
	o = obj("{\"approve\":\"yes\"}");
	assert_int_equal(admin_parse_decision(o, &d, why, sizeof why), -1);
	assert_string_equal(why, "'approve' must be true or false");
	json_decref(o);
	o = obj("{\"reason\":\"x\"}");
	assert_int_equal(admin_parse_decision(o, &d, why, sizeof why), -1);
	json_decref(o);

	admin_revoke_in r;
	o = obj("{\"session\":\"s1\",\"reason\":\"compromised\"}");
	assert_int_equal(admin_parse_revoke(o, &r, why, sizeof why), 0);
	assert_int_equal(r.kind, CARACAL_REVOKE_SESSION);
	assert_string_equal(r.kind_name, "session");
	assert_string_equal(r.id, "s1");
	json_decref(o);
	o = obj("{\"authority_record\":\"a\"}");
	assert_int_equal(admin_parse_revoke(o, &r, why, sizeof why), 0);
	assert_int_equal(r.kind, CARACAL_REVOKE_AUTHORITY_RECORD);
	json_decref(o);
	o = obj("{\"delegation\":\"d\"}");
	assert_int_equal(admin_parse_revoke(o, &r, why, sizeof why), 0);
	assert_int_equal(r.kind, CARACAL_REVOKE_DELEGATION);
	json_decref(o);
	o = obj("{\"session\":\"s1\",\"delegation\":\"d\"}");
	assert_int_equal(admin_parse_revoke(o, &r, why, sizeof why), -1);
	json_decref(o);
	o = obj("{\"reason\":\"x\"}");
	assert_int_equal(admin_parse_revoke(o, &r, why, sizeof why), -1);
	json_decref(o);
	o = obj("{\"session\":1}");
	assert_int_equal(admin_parse_revoke(o, &r, why, sizeof why), -1);
	json_decref(o);
}

static void test_auth_pieces(void **state)
{
	(void)state;
	const char *tok;
	size_t len;
	assert_true(admin_bearer_token("Bearer abc.def", &tok, &len));
	assert_int_equal(len, 7);
	assert_memory_equal(tok, "abc.def", 7);
	assert_true(admin_bearer_token("bearer   xyz", &tok, &len));
	assert_string_equal(tok, "xyz");
	assert_false(admin_bearer_token("Basic abc", &tok, &len));
	assert_false(admin_bearer_token("Bearer", &tok, &len));
	assert_false(admin_bearer_token("Bearer ", &tok, &len));
	assert_false(admin_bearer_token("Bearerabc", &tok, &len));
	assert_false(admin_bearer_token("Bearer a b", &tok, &len));
	assert_false(admin_bearer_token(NULL, &tok, &len));

	const unsigned char secret[] = "s3cret-token-value";
	size_t sl = sizeof secret - 1;
	assert_true(admin_token_matches(secret, sl, "s3cret-token-value", sl));
	assert_false(admin_token_matches(secret, sl, "s3cret-token-valuE", sl));
	assert_false(admin_token_matches(secret, sl, "s3cret-token-valu", sl - 1));
	assert_false(admin_token_matches(secret, sl, "s3cret-token-value!", sl + 1));
	assert_false(admin_token_matches(secret, sl, "", 0));
	assert_false(admin_token_matches(secret, 0, "", 0)); /* no token configured */

	assert_true(admin_media_type_is("application/json", "application/json"));
	assert_true(admin_media_type_is("Application/JSON; charset=utf-8", "application/json"));
	assert_true(admin_media_type_is(" application/json ;x", "application/json"));
	assert_false(admin_media_type_is("application/jsonx", "application/json"));
	assert_false(admin_media_type_is("text/plain", "application/json"));
	assert_false(admin_media_type_is(NULL, "application/json"));

	const char *e;
	assert_int_equal(admin_status_for(CARACAL_E_INVAL, &e), 400);
	assert_string_equal(e, "invalid_request");
	assert_int_equal(admin_status_for(CARACAL_E_NOTFOUND, &e), 404);
	assert_int_equal(admin_status_for(CARACAL_E_CONFLICT, &e), 409);
	assert_int_equal(admin_status_for(CARACAL_E_DENIED, &e), 403);
	assert_int_equal(admin_status_for(CARACAL_E_TOOBIG, &e), 413);
	assert_int_equal(admin_status_for(CARACAL_E_UNAVAIL, &e), 503);
	assert_int_equal(admin_status_for(CARACAL_E_TIMEOUT, &e), 503);
	assert_int_equal(admin_status_for(CARACAL_E_UNSUPPORTED, &e), 501);
	assert_int_equal(admin_status_for(CARACAL_E_INTERNAL, &e), 500);
	assert_int_equal(admin_status_for(CARACAL_E_INTEGRITY, &e), 500);
	assert_int_equal(admin_status_for(-99, &e), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths),         cmocka_unit_test(test_methods_and_actions),
	    cmocka_unit_test(test_values),        cmocka_unit_test(test_body_object),
	    cmocka_unit_test(test_zone_body),     cmocka_unit_test(test_app_body),
	    cmocka_unit_test(test_resource_body), cmocka_unit_test(test_grant_decision_revoke),
	    cmocka_unit_test(test_auth_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
