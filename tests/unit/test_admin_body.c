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
	assert_true(admin_path_parse("/admin/zones/z/issuers", &p));
	assert_int_equal(p.route, ADMIN_R_ISSUERS);
	assert_string_equal(p.zone, "z");
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
	    "/admin/zones/z/issuers/",
	    "/admin/zones/z/issuers/x",
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
	assert_true(admin_method_allowed(ADMIN_R_ISSUERS, "GET"));
	assert_true(admin_method_allowed(ADMIN_R_ISSUERS, "POST"));
	assert_false(admin_method_allowed(ADMIN_R_ISSUERS, "DELETE"));
	assert_string_equal(admin_route_body(ADMIN_R_ISSUERS, "POST"), "json");
	assert_null(admin_route_body(ADMIN_R_ISSUERS, "GET"));
	assert_string_equal(admin_route_action(ADMIN_R_ISSUERS, "POST"), "issuer.create");
	assert_string_equal(admin_route_action(ADMIN_R_ISSUERS, "GET"), "issuer.get");
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
	/* An empty IPv6 host is refused (it once slipped through as "valid"). */
	assert_false(admin_valid_upstream_url("https://[]/", why, cap));
	assert_string_equal(why, "upstream_url has a malformed IPv6 host");
	assert_false(admin_valid_upstream_url("https://[::1]x/", why, cap));
	assert_string_equal(why, "upstream_url has a malformed authority");

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
	assert_string_equal(r.operations_json, "[]");
	assert_string_equal(r.operation_enforcement, "transport_uniform");
	admin_resource_in_clear(&r);
	json_decref(o);

	o = obj("{\"identifier\":\"resource://files\",\"scopes\":[\"read\"],\"operations\":"
	        "[{\"scope\":\"read\",\"path\":\"/files/1\",\"method\":\"GET\"}],"
	        "\"operation_enforcement\":\"enforced\"}");
	assert_int_equal(admin_parse_resource(o, &r, why, sizeof why), 0);
	assert_string_equal(r.operations_json,
	                    "[{\"method\":\"GET\",\"path\":\"/files/1\",\"scope\":\"read\"}]");
	assert_int_equal(r.operations_len, strlen(r.operations_json));
	assert_string_equal(r.operation_enforcement, "enforced");
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
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":{}}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[1]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[{\"method\":"
	    "\"get\",\"path\":\"/f\",\"scope\":\"r\"}]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[{\"method\":"
	    "\"GET\",\"path\":\"f\",\"scope\":\"r\"}]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[{\"method\":"
	    "\"GET\",\"path\":\"/a b\",\"scope\":\"r\"}]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[{\"method\":"
	    "\"GET\",\"path\":\"/f\",\"scope\":\"w\"}]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[{\"method\":"
	    "\"GET\",\"path\":\"/f\"}]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],\"operations\":[{\"method\":"
	    "\"GET\",\"path\":\"/f\",\"scope\":\"r\",\"x\":1}]}",
	    "{\"identifier\":\"resource://files\",\"scopes\":[\"r\"],"
	    "\"operation_enforcement\":\"strict\"}",
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

/* A refused value and a piece of the description it must get. */
struct refusal {
	const char *value;
	const char *why;
};

static void test_issuer_values(void **state)
{
	(void)state;
	char why[256];
	const size_t cap = sizeof why;
	static const char *const good[] = {
	    "https://idp.example",
	    "https://idp.example/",
	    "https://login.example.com/tenant-1/v2.0",
	    "HTTPS://idp.example",
	    "https://idp.example:8443/realms/x",
	    "https://[2001:db8::1]/",
	    "https://127.0.0.1",
	    "https://idp.example/caf\u00e9", /* UTF-8 in the path */
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!admin_valid_issuer(good[i], 0, why, cap))
			fail_msg("refused %s: %s", good[i], why);
	static const struct refusal bad[] = {
	    {"", "1..512 bytes"},
	    {"http://idp.example", "http:// only in development mode"},
	    {"idp.example", "absolute https:// URL"},
	    {"/issuer", "absolute https:// URL"},
	    {"ftp://idp.example", "absolute https:// URL"},
	    {"https://", "has no host"},
	    {"https:///x", "has no host"},
	    {"https://user@idp.example", "userinfo"},
	    {"https://idp.example?tenant=1", "query"},
	    {"https://idp.example/#x", "fragment"},
	    {"https://idp example", "spaces"},
	    {"https://idp.example/a\tb", "control characters"},
	    {"https://idp.example/\x7f", "control characters"},
	    {"https://idp.example/\xc2\x85", "control characters"}, /* U+0085 (C1) */
	    {"https://idp.example/\xe2\x80\xae", "bidirectional"},  /* U+202E */
	    {"https://idp.example/\xe2\x81\xa6", "bidirectional"},  /* U+2066 */
	    {"https://idp.example/\xff", "not valid UTF-8"},
	    {"https://idp.example/\xc0\xaf", "not valid UTF-8"},         /* overlong '/' */
	    {"https://idp.example/\xed\xa0\x80", "not valid UTF-8"},     /* a surrogate */
	    {"https://idp.example/\xf4\x90\x80\x80", "not valid UTF-8"}, /* > U+10FFFF */
	    {"https://idp.example/\xe2\x82", "not valid UTF-8"},         /* truncated */
	    {"https://idp_x.example", "invalid host"},
	    {"https://idp.example:0", "invalid port"},
	    {"https://idp.example:99999", "invalid port"},
	    {"https://[zz]/", "malformed IPv6"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		if (admin_valid_issuer(bad[i].value, 0, why, cap))
			fail_msg("accepted issuer '%s'", bad[i].value);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("issuer '%s': '%s' does not say '%s'", bad[i].value, why,
			         bad[i].why);
	}
	/* http:// only in development mode; the other rules still hold. */
	assert_true(admin_valid_issuer("http://127.0.0.1:9000/idp", 1, why, cap));
	assert_false(admin_valid_issuer("http://u@127.0.0.1/", 1, why, cap));
	assert_false(admin_valid_issuer("ftp://idp.example", 1, why, cap));
	/* The length bound is 512 bytes. */
	char longi[600];
	int n = snprintf(longi, sizeof longi, "https://idp.example/");
	memset(longi + n, 'a', 512 - (size_t)n);
	longi[512] = '\0';
	assert_true(admin_valid_issuer(longi, 0, why, cap));
	longi[512] = 'a';
	longi[513] = '\0';
	assert_false(admin_valid_issuer(longi, 0, why, cap));
	assert_non_null(strstr(why, "1..512 bytes"));
	/* The text rules alone (for reads) take any scheme. */
	assert_true(admin_valid_issuer_text("http://idp.example", why, cap));
	assert_true(admin_valid_issuer_text("not a url", why, cap));
	assert_false(admin_valid_issuer_text("a\nb", why, cap));

	static const char *const good_jwks[] = {
	    "https://idp.example/.well-known/jwks.json",
	    "https://idp.example:8443/keys?tenant=1",
	    "HTTPS://idp.example/keys",
	    "https://[::1]/keys",
	};
	for (size_t i = 0; i < sizeof good_jwks / sizeof good_jwks[0]; i++)
		if (!admin_valid_jwks_url(good_jwks[i], why, cap))
			fail_msg("refused %s: %s", good_jwks[i], why);
	static const struct refusal bad_jwks[] = {
	    {"", "1..2048 bytes"},
	    {"http://idp.example/keys", "never fetched over plain HTTP"},
	    {"HTTP://idp.example/keys", "never fetched over plain HTTP"},
	    {"idp.example/keys", "absolute https:// URL"},
	    {"file:///etc/passwd", "absolute https:// URL"},
	    {"https:///keys", "has no host"},
	    {"https://?x", "has no host"},
	    {"https://u:p@idp.example/keys", "userinfo"},
	    {"https://idp.example/keys#k", "fragment"},
	    {"https://idp.example/k eys", "printable ASCII"},
	    {"https://idp.example/caf\xc3\xa9", "printable ASCII"},
	    {"https://idp.example\\@evil/", "printable ASCII"},
	    {"https://idp$.example/", "invalid host"},
	    {"https://idp.example:/keys", "invalid port"},
	    {"https://[]/keys", "malformed IPv6"},
	};
	for (size_t i = 0; i < sizeof bad_jwks / sizeof bad_jwks[0]; i++) {
		why[0] = '\0';
		if (admin_valid_jwks_url(bad_jwks[i].value, why, cap))
			fail_msg("accepted jwks_url '%s'", bad_jwks[i].value);
		if (strstr(why, bad_jwks[i].why) == NULL)
			fail_msg("jwks_url '%s': '%s' does not say '%s'", bad_jwks[i].value, why,
			         bad_jwks[i].why);
	}
	char longu[2100];
	n = snprintf(longu, sizeof longu, "https://idp.example/");
	memset(longu + n, 'k', 2048 - (size_t)n);
	longu[2048] = '\0';
	assert_true(admin_valid_jwks_url(longu, why, cap));
	longu[2048] = 'k';
	longu[2049] = '\0';
	assert_false(admin_valid_jwks_url(longu, why, cap));

	assert_true(admin_valid_audience("my-client-id", why, cap));
	assert_true(admin_valid_audience("api://caracal prod", why, cap));
	assert_true(admin_valid_audience("\xc3\xa9quipe", why, cap));
	static const struct refusal bad_aud[] = {
	    {"", "1..512 bytes"},
	    {"a\rb", "control characters"},
	    {"\x1b[31m", "control characters"},
	    {"\xc3", "not valid UTF-8"},
	    {"a\xe2\x80\xae"
	     "b",
	     "bidirectional"},
	};
	for (size_t i = 0; i < sizeof bad_aud / sizeof bad_aud[0]; i++) {
		why[0] = '\0';
		if (admin_valid_audience(bad_aud[i].value, why, cap))
			fail_msg("accepted audience '%s'", bad_aud[i].value);
		if (strstr(why, bad_aud[i].why) == NULL)
			fail_msg("audience: '%s' does not say '%s'", why, bad_aud[i].why);
	}
	char longa[600];
	memset(longa, 'a', 512);
	longa[512] = '\0';
	assert_true(admin_valid_audience(longa, why, cap));
	longa[512] = 'a';
	longa[513] = '\0';
	assert_false(admin_valid_audience(longa, why, cap));
}

static void test_issuer_body(void **state)
{
	(void)state;
	char why[256];
	admin_issuer_in in;
	json_t *o = obj("{\"issuer\":\"https://idp.example\",\"jwks_url\":"
	                "\"https://idp.example/jwks\",\"audience\":\"caracal\"}");
	assert_int_equal(admin_parse_issuer(o, 0, &in, why, sizeof why), 0);
	assert_string_equal(in.issuer, "https://idp.example");
	assert_string_equal(in.jwks_url, "https://idp.example/jwks");
	assert_string_equal(in.audience, "caracal");
	json_decref(o);

	o = obj("{\"issuer\":\"http://127.0.0.1:9/idp\",\"jwks_url\":"
	        "\"https://127.0.0.1:9/jwks\",\"audience\":\"a\"}");
	assert_int_equal(admin_parse_issuer(o, 1, &in, why, sizeof why), 0);
	assert_int_equal(admin_parse_issuer(o, 0, &in, why, sizeof why), -1);
	assert_non_null(strstr(why, "development mode"));
	json_decref(o);

	static const struct refusal bad[] = {
	    {"{\"issuer\":\"https://i\",\"jwks_url\":\"https://i/k\",\"audience\":\"a\","
	     "\"kid\":\"x\"}",
	     "unknown member 'kid'"},
	    {"{\"jwks_url\":\"https://i/k\",\"audience\":\"a\"}", "'issuer' is required"},
	    {"{\"issuer\":\"https://i\",\"audience\":\"a\"}", "'jwks_url' is required"},
	    {"{\"issuer\":\"https://i\",\"jwks_url\":\"https://i/k\"}", "'audience' is required"},
	    {"{\"issuer\":5,\"jwks_url\":\"https://i/k\",\"audience\":\"a\"}",
	     "'issuer' must be a string"},
	    {"{\"issuer\":null,\"jwks_url\":\"https://i/k\",\"audience\":\"a\"}",
	     "'issuer' must be a string"},
	    {"{\"issuer\":\"https://i\",\"jwks_url\":[],\"audience\":\"a\"}",
	     "'jwks_url' must be a string"},
	    {"{\"issuer\":\"https://i\",\"jwks_url\":\"https://i/k\",\"audience\":true}",
	     "'audience' must be a string"},
	    {"{\"issuer\":\"\",\"jwks_url\":\"https://i/k\",\"audience\":\"a\"}",
	     "'issuer' must be 1..512 bytes"},
	    {"{\"issuer\":\"https://i\",\"jwks_url\":\"http://i/k\",\"audience\":\"a\"}",
	     "never fetched over plain HTTP"},
	    {"{\"issuer\":\"https://i\",\"jwks_url\":\"https://i/k\",\"audience\":\"\"}",
	     "'audience' must be 1..512 bytes"},
	    {"{\"issuer\":\"https://i\",\"jwks_url\":\"https://i/k\",\"audience\":"
	     "\"a\\u0007\"}",
	     "control characters"},
	    {"{\"issuer\":\"https://i\\u202e\",\"jwks_url\":\"https://i/k\",\"audience\":"
	     "\"a\"}",
	     "bidirectional"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		o = obj(bad[i].value);
		why[0] = '\0';
		if (admin_parse_issuer(o, 1, &in, why, sizeof why) != -1)
			fail_msg("accepted %s", bad[i].value);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("%s: '%s' does not say '%s'", bad[i].value, why, bad[i].why);
		json_decref(o);
	}
}

static void test_issuer_query(void **state)
{
	(void)state;
	char why[256], out[ADMIN_MAX_ISSUER + 1];
	assert_int_equal(admin_query_issuer("issuer=https%3A%2F%2Fidp.example%2ft", out, sizeof out,
	                                    why, sizeof why),
	                 0);
	assert_string_equal(out, "https://idp.example/t");
	assert_int_equal(
	    admin_query_issuer("issuer=https://idp.example", out, sizeof out, why, sizeof why), 0);
	assert_string_equal(out, "https://idp.example");
	/* Any scheme reads: the URL rules are for registration. */
	assert_int_equal(admin_query_issuer("issuer=a+b", out, sizeof out, why, sizeof why), 0);
	assert_string_equal(out, "a b");

	static const struct refusal bad[] = {
	    {"", "is required"},
	    {"iss=https://i", "the only query parameter is 'issuer'"},
	    {"issuer=https://i&x=1", "the only query parameter is 'issuer'"},
	    {"issuer=a&issuer=b", "given once"},
	    {"issuer=", "1..512 bytes"},
	    {"issuer=a%2", "malformed percent-escape"},
	    {"issuer=a%zz", "malformed percent-escape"},
	    {"issuer=a%", "malformed percent-escape"},
	    {"issuer=a%00b", "NUL"},
	    {"issuer=a%0Ab", "control characters"},
	    {"issuer=%ff", "not valid UTF-8"},
	    {"issuer=%E2%80%AE", "bidirectional"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		if (admin_query_issuer(bad[i].value, out, sizeof out, why, sizeof why) != -1)
			fail_msg("accepted query '%s'", bad[i].value);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("query '%s': '%s' does not say '%s'", bad[i].value, why,
			         bad[i].why);
	}
	/* Longer than the output buffer: refused, never truncated. */
	char q[700];
	int n = snprintf(q, sizeof q, "issuer=");
	memset(q + n, 'a', 513);
	q[n + 513] = '\0';
	assert_int_equal(admin_query_issuer(q, out, sizeof out, why, sizeof why), -1);
	assert_non_null(strstr(why, "1..512 bytes"));
	q[n + 512] = '\0';
	assert_int_equal(admin_query_issuer(q, out, sizeof out, why, sizeof why), 0);
	assert_int_equal(strlen(out), 512);
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
	    cmocka_unit_test(test_auth_pieces),   cmocka_unit_test(test_issuer_values),
	    cmocka_unit_test(test_issuer_body),   cmocka_unit_test(test_issuer_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
