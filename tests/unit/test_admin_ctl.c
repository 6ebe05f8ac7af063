/* Unit tests of caracalctl's admin commands (core/ctl/commands.c): from the
 * command words to the request, and from a response to the printed text. */
#include "ctl/commands.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(rq, why, ...) \
	ctl_parse_command(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), rq, why, sizeof why)

static json_t *body_of(const ctl_request *rq)
{
	assert_non_null(rq->body);
	assert_string_equal(rq->content_type, "application/json");
	json_t *o = json_loadb(rq->body, rq->body_len, 0, NULL);
	assert_non_null(o);
	return o;
}

static void test_zone_and_app(void **state)
{
	(void)state;
	ctl_request rq;
	char why[256];
	assert_int_equal(PARSE(&rq, why, "zone", "create", "prod"), 0);
	assert_int_equal(rq.kind, CTL_ZONE_CREATE);
	assert_string_equal(rq.method, "POST");
	assert_string_equal(rq.path, "/admin/zones");
	assert_string_equal(rq.body, "{\"name\":\"prod\"}");
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "zone", "list"), 0);
	assert_string_equal(rq.method, "GET");
	assert_null(rq.content_type);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "zone", "create"), -1);
	assert_string_equal(why, "missing argument");
	assert_int_equal(PARSE(&rq, why, "zone", "create", "a", "b"), -1);
	assert_int_equal(PARSE(&rq, why, "zone", "create", "--zone", "x", "a"), -1);
	assert_non_null(strstr(why, "unknown option '--zone'"));
	assert_int_equal(PARSE(&rq, why, "zone", "destroy", "x"), -1);
	assert_int_equal(PARSE(&rq, why, "zone"), -1);

	assert_int_equal(PARSE(&rq, why, "app", "create", "--zone", "prod", "agent-1", "--trait",
	                       "gold", "--trait=beta", "--expires-at", "1900000000"),
	                 0);
	assert_int_equal(rq.kind, CTL_APP_CREATE);
	assert_string_equal(rq.path, "/admin/zones/prod/applications");
	json_t *o = body_of(&rq);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "agent-1");
	assert_int_equal(json_array_size(json_object_get(o, "traits")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "expires_at")), 1900000000);
	json_decref(o);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "app", "create", "--zone=we ird/zone", "--expires-at",
	                       "2030-01-01T00:00:00Z", "x"),
	                 0);
	assert_string_equal(rq.path, "/admin/zones/we%20ird%2Fzone/applications");
	o = body_of(&rq);
	assert_string_equal(json_string_value(json_object_get(o, "expires_at")),
	                    "2030-01-01T00:00:00Z");
	json_decref(o);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "app", "create", "x"), -1);
	assert_string_equal(why, "--zone is required");
	assert_int_equal(PARSE(&rq, why, "app", "create", "--zone", "a", "--zone", "b", "x"), -1);
	assert_non_null(strstr(why, "twice"));
	assert_int_equal(PARSE(&rq, why, "app", "create", "x", "--zone"), -1);
	assert_non_null(strstr(why, "needs a value"));
	assert_int_equal(PARSE(&rq, why, "app", "list", "--zone", "p"), 0);
	assert_string_equal(rq.path, "/admin/zones/p/applications");
	assert_int_equal(rq.kind, CTL_APP_LIST);
	ctl_request_free(&rq);
	/* "--" ends the options: a name may start with a dash. */
	assert_int_equal(PARSE(&rq, why, "app", "create", "--zone", "p", "--", "-odd"), 0);
	o = body_of(&rq);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "-odd");
	json_decref(o);
	ctl_request_free(&rq);
}

static void test_resource_and_grant(void **state)
{
	(void)state;
	ctl_request rq;
	char why[256];
	assert_int_equal(PARSE(&rq, why, "resource", "create", "--zone", "p", "--identifier",
	                       "resource://files", "--upstream", "http://127.0.0.1:9000",
	                       "--scopes", " read  write,admin ", "--credential-secret-file",
	                       "files.token"),
	                 0);
	assert_string_equal(rq.path, "/admin/zones/p/resources");
	json_t *o = body_of(&rq);
	assert_string_equal(json_string_value(json_object_get(o, "identifier")),
	                    "resource://files");
	assert_string_equal(json_string_value(json_object_get(o, "upstream_url")),
	                    "http://127.0.0.1:9000");
	json_t *s = json_object_get(o, "scopes");
	assert_int_equal(json_array_size(s), 3);
	assert_string_equal(json_string_value(json_array_get(s, 2)), "admin");
	json_t *c = json_object_get(o, "credential");
	assert_string_equal(json_string_value(json_object_get(c, "type")), "bearer");
	assert_string_equal(json_string_value(json_object_get(c, "secret_file")), "files.token");
	json_decref(o);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "resource", "create", "--zone", "p", "--identifier",
	                       "resource://x", "--scopes", "r", "--credential-type", "none"),
	                 0);
	o = body_of(&rq);
	assert_null(json_object_get(o, "upstream_url"));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o, "credential"), "type")), "none");
	json_decref(o);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "resource", "create", "--zone", "p", "--identifier",
	                       "resource://x", "--scopes", "  "),
	                 -1);
	assert_int_equal(PARSE(&rq, why, "resource", "create", "--zone", "p", "--identifier",
	                       "resource://x", "--scopes", "r", "--credential-type", "bearer"),
	                 -1);
	assert_int_equal(PARSE(&rq, why, "resource", "create", "--zone", "p", "--identifier",
	                       "resource://x", "--scopes", "r", "--credential-type", "basic"),
	                 -1);
	assert_int_equal(PARSE(&rq, why, "resource", "create", "--zone", "p", "--scopes", "r"), -1);
	assert_string_equal(why, "--identifier is required");

	assert_int_equal(PARSE(&rq, why, "grant", "create", "--zone", "p", "--app", "a1",
	                       "--resource", "resource://files", "--scopes", "read"),
	                 0);
	assert_string_equal(rq.path, "/admin/zones/p/grants");
	o = body_of(&rq);
	assert_string_equal(json_string_value(json_object_get(o, "application_id")), "a1");
	assert_string_equal(json_string_value(json_object_get(o, "resource")), "resource://files");
	assert_int_equal(json_array_size(json_object_get(o, "scopes")), 1);
	json_decref(o);
	ctl_request_free(&rq);
	assert_int_equal(
	    PARSE(&rq, why, "grant", "create", "--zone", "p", "--app", "a1", "--scopes", "read"),
	    -1);
	assert_int_equal(PARSE(&rq, why, "grant", "list", "--zone", "p"), 0);
	assert_int_equal(rq.kind, CTL_GRANT_LIST);
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "resource", "list", "--zone", "p"), 0);
	assert_int_equal(rq.kind, CTL_RESOURCE_LIST);
	ctl_request_free(&rq);
}

static void test_policy_key_approval_revoke(void **state)
{
	(void)state;
	ctl_request rq;
	char why[256];
	char path[] = "/tmp/caracal-ctl-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "rules:\n  - allow: granted\n";
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);

	assert_int_equal(PARSE(&rq, why, "policy", "apply", "--zone", "p", path), 0);
	assert_int_equal(rq.kind, CTL_POLICY_APPLY);
	assert_string_equal(rq.path, "/admin/zones/p/policies");
	assert_string_equal(rq.content_type, "application/yaml");
	assert_int_equal(rq.body_len, sizeof text - 1);
	assert_memory_equal(rq.body, text, sizeof text - 1);
	assert_string_equal(rq.file, path);
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "policy", "validate", path), 0);
	assert_string_equal(rq.path, "/admin/policies/validate");
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "policy", "validate", "/nonexistent/policy.yaml"), -1);
	assert_non_null(strstr(why, "/nonexistent/policy.yaml"));
	assert_int_equal(PARSE(&rq, why, "policy", "validate", "/tmp"), -1);
	assert_non_null(strstr(why, "not a regular file"));
	/* Over the API's 64 KiB bound. */
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 70000; i++)
		fputc('#', f);
	fclose(f);
	assert_int_equal(PARSE(&rq, why, "policy", "validate", path), -1);
	assert_non_null(strstr(why, "larger"));
	unlink(path);

	assert_int_equal(PARSE(&rq, why, "key", "rotate", "--zone", "p"), 0);
	assert_string_equal(rq.path, "/admin/zones/p/keys/rotate");
	assert_string_equal(rq.method, "POST");
	assert_null(rq.content_type);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "approval", "list", "--zone", "p"), 0);
	assert_string_equal(rq.path, "/admin/zones/p/approvals");
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "approval", "decide", "ap-1", "--zone", "p", "--reject",
	                       "--reason", "not now"),
	                 0);
	assert_string_equal(rq.path, "/admin/zones/p/approvals/ap-1/decision");
	json_t *o = body_of(&rq);
	assert_true(json_is_false(json_object_get(o, "approve")));
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "not now");
	json_decref(o);
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "approval", "decide", "ap-1", "--zone", "p", "--approve"),
	                 0);
	o = body_of(&rq);
	assert_true(json_is_true(json_object_get(o, "approve")));
	json_decref(o);
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "approval", "decide", "ap-1", "--zone", "p"), -1);
	assert_int_equal(
	    PARSE(&rq, why, "approval", "decide", "ap-1", "--zone", "p", "--approve", "--reject"),
	    -1);
	assert_int_equal(
	    PARSE(&rq, why, "approval", "decide", "ap-1", "--zone", "p", "--approve=yes"), -1);

	assert_int_equal(PARSE(&rq, why, "revoke", "--zone", "p", "--session", "s-1"), 0);
	assert_int_equal(rq.kind, CTL_REVOKE);
	assert_string_equal(rq.path, "/admin/zones/p/revocations");
	assert_string_equal(rq.body, "{\"session\":\"s-1\"}");
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "revoke", "--zone", "p", "--authority-record", "ar",
	                       "--reason", "leak"),
	                 0);
	o = body_of(&rq);
	assert_string_equal(json_string_value(json_object_get(o, "authority_record")), "ar");
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "leak");
	json_decref(o);
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "revoke", "--zone", "p"), -1);
	assert_int_equal(
	    PARSE(&rq, why, "revoke", "--zone", "p", "--session", "a", "--delegation", "b"), -1);
	assert_int_equal(PARSE(&rq, why, "revoke", "--session", "a"), -1);

	/* Not admin commands. */
	assert_int_equal(PARSE(&rq, why, "audit", "verify"), 1);
	assert_int_equal(PARSE(&rq, why, "version"), 1);
}

static void test_issuer(void **state)
{
	(void)state;
	ctl_request rq;
	char why[256];
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--issuer",
	                       "https://idp.example", "--jwks-url", "https://idp.example/jwks",
	                       "--audience", "caracal"),
	                 0);
	assert_int_equal(rq.kind, CTL_ISSUER_CREATE);
	assert_string_equal(rq.method, "POST");
	assert_string_equal(rq.path, "/admin/zones/p/issuers");
	json_t *o = body_of(&rq);
	assert_int_equal(json_object_size(o), 3);
	assert_string_equal(json_string_value(json_object_get(o, "issuer")), "https://idp.example");
	assert_string_equal(json_string_value(json_object_get(o, "jwks_url")),
	                    "https://idp.example/jwks");
	assert_string_equal(json_string_value(json_object_get(o, "audience")), "caracal");
	json_decref(o);
	ctl_request_free(&rq);

	/* Every option is required; unknown ones are refused. */
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--issuer", "https://i", "--jwks-url",
	                       "https://i/k", "--audience", "a"),
	                 -1);
	assert_string_equal(why, "--zone is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--jwks-url",
	                       "https://i/k", "--audience", "a"),
	                 -1);
	assert_string_equal(why, "--issuer is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--issuer", "https://i",
	                       "--audience", "a"),
	                 -1);
	assert_string_equal(why, "--jwks-url is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--issuer", "https://i",
	                       "--jwks-url", "https://i/k"),
	                 -1);
	assert_string_equal(why, "--audience is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--issuer", "https://i",
	                       "--jwks-url", "https://i/k", "--audience", ""),
	                 -1);
	assert_string_equal(why, "--audience is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--issuer", "https://i",
	                       "--jwks-url", "https://i/k", "--audience", "a", "--scopes", "x"),
	                 -1);
	assert_non_null(strstr(why, "unknown option '--scopes'"));
	assert_int_equal(PARSE(&rq, why, "issuer", "create", "--zone", "p", "--issuer", "https://i",
	                       "--jwks-url", "https://i/k", "--audience", "a", "extra"),
	                 -1);
	assert_non_null(strstr(why, "unexpected argument"));

	/* show: the issuer travels percent-encoded in the query. */
	assert_int_equal(PARSE(&rq, why, "issuer", "show", "--zone", "p", "--issuer",
	                       "https://idp.example/t 1?x"),
	                 0);
	assert_int_equal(rq.kind, CTL_ISSUER_SHOW);
	assert_string_equal(rq.method, "GET");
	assert_null(rq.content_type);
	assert_string_equal(rq.path,
	                    "/admin/zones/p/issuers?issuer=https%3A%2F%2Fidp.example%2Ft%201%3Fx");
	ctl_request_free(&rq);
	assert_int_equal(PARSE(&rq, why, "issuer", "show", "--zone", "p"), -1);
	assert_string_equal(why, "--issuer is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "show", "--issuer", "https://i"), -1);
	assert_string_equal(why, "--zone is required");
	assert_int_equal(PARSE(&rq, why, "issuer", "show", "--zone", "p", "--issuer", "https://i",
	                       "--audience", "a"),
	                 -1);
	assert_non_null(strstr(why, "unknown option '--audience'"));
	/* Longer than any issuer the API takes (512 bytes), even encoded. */
	char longi[700];
	memset(longi, '/', sizeof longi - 1);
	longi[sizeof longi - 1] = '\0';
	assert_int_equal(PARSE(&rq, why, "issuer", "show", "--zone", "p", "--issuer", longi), -1);
	assert_non_null(strstr(why, "longer than the API accepts"));
	/* 512 bytes that all need escaping still fit. */
	longi[512] = '\0';
	assert_int_equal(PARSE(&rq, why, "issuer", "show", "--zone", "p", "--issuer", longi), 0);
	ctl_request_free(&rq);

	assert_int_equal(PARSE(&rq, why, "issuer", "list", "--zone", "p"), -1);
	assert_non_null(strstr(why, "unknown command 'issuer list'"));
	assert_int_equal(PARSE(&rq, why, "issuer"), -1);
}

static void test_helpers(void **state)
{
	(void)state;
	json_t *a = ctl_split_scopes("a b,c\t d");
	assert_int_equal(json_array_size(a), 4);
	json_decref(a);
	assert_null(ctl_split_scopes(""));
	assert_null(ctl_split_scopes(" , "));
	char seg[8];
	assert_int_equal(ctl_path_segment(seg, sizeof seg, "a.b_c"), 0);
	assert_string_equal(seg, "a.b_c");
	assert_int_equal(ctl_path_segment(seg, sizeof seg, "a/b"), 0);
	assert_string_equal(seg, "a%2Fb");
	assert_int_equal(ctl_path_segment(seg, sizeof seg, "abcdefgh"), -1);
}

static char *capture(void (*fn)(FILE *, const ctl_request *, const json_t *), const ctl_request *rq,
                     const char *json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *o = json_loads(json, 0, NULL);
	assert_non_null(o);
	fn(f, rq, o);
	fclose(f);
	json_decref(o);
	return buf;
}

static void error_human(FILE *f, const ctl_request *rq, const json_t *o)
{
	ctl_print_error_human(f, rq, 400, o);
}

static void test_output(void **state)
{
	(void)state;
	ctl_request rq = {.kind = CTL_ZONE_CREATE};
	char *s = capture(ctl_print_human, &rq, "{\"id\":\"z1\",\"name\":\"prod\"}");
	assert_string_equal(s, "zone prod created (id z1)\n");
	free(s);
	rq.kind = CTL_APP_CREATE;
	s = capture(ctl_print_human, &rq,
	            "{\"id\":\"a1\",\"name\":\"bot\",\"client_secret\":\"cs_x\"}");
	assert_non_null(strstr(s, "client_secret: cs_x\n"));
	free(s);
	rq.kind = CTL_ZONE_LIST;
	s = capture(ctl_print_human, &rq,
	            "{\"zones\":[{\"id\":\"z1\",\"name\":\"a\"},{\"id\":\"z2\",\"name\":\"b\"}]}");
	assert_string_equal(s, "z1  a\nz2  b\n");
	free(s);
	rq.kind = CTL_RESOURCE_LIST;
	s = capture(ctl_print_human, &rq,
	            "{\"resources\":[{\"id\":\"r1\",\"identifier\":\"resource://f\","
	            "\"upstream_url\":null,\"scopes\":[\"read\",\"write\"]}]}");
	assert_string_equal(s, "r1  resource://f  -  read write\n");
	free(s);
	rq.kind = CTL_APPROVAL_LIST;
	s = capture(ctl_print_human, &rq, "{\"approvals\":[]}");
	assert_string_equal(s, "no pending approvals\n");
	free(s);
	rq.kind = CTL_POLICY_APPLY;
	s = capture(ctl_print_human, &rq, "{\"id\":\"v1\",\"version\":3}");
	assert_string_equal(s, "policy version 3 (id v1) is active\n");
	free(s);
	rq.kind = CTL_KEY_ROTATE;
	s = capture(ctl_print_human, &rq, "{\"kid\":\"k1\",\"alg\":\"ES256\"}");
	assert_string_equal(s, "new signing key k1 (ES256)\n");
	free(s);
	rq.kind = CTL_APPROVAL_DECIDE;
	s = capture(ctl_print_human, &rq, "{\"id\":\"ap\",\"state\":\"rejected\"}");
	assert_string_equal(s, "approval ap: rejected\n");
	free(s);
	rq.kind = CTL_REVOKE;
	s = capture(ctl_print_human, &rq,
	            "{\"revoked\":{\"kind\":\"session\",\"id\":\"s1\"},\"count\":3,\"seq\":9}");
	assert_string_equal(s, "revoked session s1 (3 records changed)\n");
	free(s);

	rq.kind = CTL_ISSUER_CREATE;
	s = capture(ctl_print_human, &rq,
	            "{\"id\":\"i1\",\"issuer\":\"https://idp\",\"jwks_url\":\"https://idp/k\","
	            "\"audience\":\"aud\"}");
	assert_string_equal(s, "issuer https://idp registered (id i1)\n");
	free(s);
	rq.kind = CTL_ISSUER_SHOW;
	s = capture(ctl_print_human, &rq,
	            "{\"id\":\"i1\",\"issuer\":\"https://idp\",\"jwks_url\":\"https://idp/k\","
	            "\"audience\":\"aud\"}");
	assert_string_equal(
	    s, "id: i1\nissuer: https://idp\njwks_url: https://idp/k\naudience: aud\n");
	free(s);

	rq.kind = CTL_POLICY_VALIDATE;
	rq.file = "p.yaml";
	s = capture(error_human, &rq,
	            "{\"error\":\"invalid_policy\",\"error_description\":\"line 3: bad\","
	            "\"diagnostics\":[{\"line\":3,\"message\":\"bad\"},{\"line\":7,\"message\":"
	            "\"worse\"}]}");
	assert_string_equal(s, "p.yaml:3: bad\np.yaml:7: worse\n");
	free(s);
	rq.kind = CTL_ZONE_CREATE;
	s = capture(error_human, &rq,
	            "{\"error\":\"conflict\",\"error_description\":\"a zone named 'p' exists\"}");
	assert_string_equal(s, "caracalctl: a zone named 'p' exists (conflict, HTTP 400)\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zone_and_app),
	    cmocka_unit_test(test_resource_and_grant),
	    cmocka_unit_test(test_policy_key_approval_revoke),
	    cmocka_unit_test(test_issuer),
	    cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
