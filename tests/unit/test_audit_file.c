/*
 * test_audit_file.c — unit tests of audit_file's internals (ledger.c), linked
 * from libaudit_file_impl.la without dlopen: pinned MAC vectors (computed
 * independently in Python from the format in ledger.h), the line codec, and
 * the validators. The behaviour of the whole sink is covered by the
 * conformance battery in tests/conformance/audit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit_file.h"
#include "ledger.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

static EVP_MAC_CTX *keyed_ctx(void)
{
	unsigned char key[32];
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	assert_non_null(ctx);
	assert_int_equal(EVP_MAC_init(ctx, key, sizeof key, params), 1);
	return ctx;
}

#define H1 "533e95f03fb9f2361e2f3452d088d4aa3b41290dc12166a038df137cbd7c3fc4"
#define H2 "a172489ef71e139db923eb351f442de245615d101f2acdd5b3ab6891732962ac"
#define CP2 "6dae092322a6d92ee37d5da7d5e2f7d83a0df849ded652f4a9691cdf4046ff51"

static void test_record_mac_vectors(void **state)
{
	(void)state;
	EVP_MAC_CTX *ctx = keyed_ctx();
	af_record r = {0};
	char out[AF_HEX];
	r.seq = 1;
	r.zone_id = "z1";
	r.id = "e-1";
	r.event_type = "token_exchange";
	r.occurred_at = 1779364800000000;
	r.event = "{\"a\":1}";
	r.event_len = strlen(r.event);
	assert_int_equal(af_record_mac(ctx, &r, out), 0);
	assert_string_equal(out, H1);
	/* The key survives re-initialisation: the same input gives the same MAC. */
	assert_int_equal(af_record_mac(ctx, &r, out), 0);
	assert_string_equal(out, H1);

	r.seq = 2;
	r.id = "e-2";
	r.event_type = "";
	r.occurred_at = -5;
	strcpy(r.prev, H1);
	r.event = "{\"b\":\"x\\\"y\"}";
	r.event_len = strlen(r.event);
	assert_int_equal(af_record_mac(ctx, &r, out), 0);
	assert_string_equal(out, H2);

	af_checkpoint cp = {0};
	strcpy(cp.zone_id, "z1");
	cp.seq = 2;
	strcpy(cp.hash, H2);
	cp.at = 1779364800000123;
	assert_int_equal(af_checkpoint_mac(ctx, &cp, out), 0);
	assert_string_equal(out, CP2);
	EVP_MAC_CTX_free(ctx);
}

/* The 0x1F collision of the reference cannot happen: moving bytes between
 * fields changes the MAC. */
static void test_no_field_boundary_collision(void **state)
{
	(void)state;
	EVP_MAC_CTX *ctx = keyed_ctx();
	af_record a = {0}, b = {0};
	char ha[AF_HEX], hb[AF_HEX];
	a.seq = b.seq = 1;
	a.zone_id = b.zone_id = "z";
	a.id = "ab";
	a.event_type = "c";
	b.id = "a";
	b.event_type = "bc";
	a.event = b.event = "{}";
	a.event_len = b.event_len = 2;
	assert_int_equal(af_record_mac(ctx, &a, ha), 0);
	assert_int_equal(af_record_mac(ctx, &b, hb), 0);
	assert_string_not_equal(ha, hb);
	EVP_MAC_CTX_free(ctx);
}

static void test_record_roundtrip(void **state)
{
	(void)state;
	af_buf b = {0};
	af_record r = {0}, p;
	r.seq = 42;
	r.zone_id = "zone-1";
	r.id = "id \"quoted\" \\ back\x01slash\x1f and \xc3\xa9";
	r.event_type = "admin.zone.create";
	r.occurred_at = -1;
	strcpy(r.prev, H1);
	strcpy(r.hash, H2);
	strcpy(r.kid, "630dcd29");
	r.event = "{\"k\":[1,{\"x\":\"}\"}]}";
	r.event_len = strlen(r.event);
	assert_int_equal(af_record_format(&b, &r), 0);
	assert_true(b.len > 0 && b.p[b.len - 1] == '\n');
	assert_null(memchr(b.p, '\n', b.len - 1));
	assert_int_equal(af_record_parse(b.p, b.len - 1, &p), 0);
	assert_int_equal(p.seq, 42);
	assert_string_equal(p.zone_id, r.zone_id);
	assert_string_equal(p.id, r.id);
	assert_string_equal(p.event_type, r.event_type);
	assert_int_equal(p.occurred_at, -1);
	assert_string_equal(p.prev, H1);
	assert_string_equal(p.hash, H2);
	assert_string_equal(p.kid, "630dcd29");
	assert_int_equal(p.event_len, r.event_len);
	assert_memory_equal(p.event, r.event, r.event_len);
	af_buf_free(&b);
}

static int parses(const char *line)
{
	char *copy = strdup(line);
	af_record r;
	int rc = af_record_parse(copy, strlen(copy), &r);
	free(copy);
	return rc == 0;
}

#define GOOD_TAIL \
	",\"occurred_at\":5,\"prev\":\"\",\"hash\":\"" H1 "\",\"kid\":\"630dcd29\",\"event\":{}}"

static void test_record_parse_strict(void **state)
{
	(void)state;
	assert_true(
	    parses("{\"seq\":1,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\"" GOOD_TAIL));
	/* seq 0, leading zero, sign */
	assert_false(
	    parses("{\"seq\":0,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\"" GOOD_TAIL));
	assert_false(
	    parses("{\"seq\":01,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\"" GOOD_TAIL));
	/* whitespace, reordered keys */
	assert_false(
	    parses("{\"seq\": 1,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\"" GOOD_TAIL));
	assert_false(
	    parses("{\"zone_id\":\"z\",\"seq\":1,\"id\":\"i\",\"event_type\":\"t\"" GOOD_TAIL));
	/* escapes the writer never produces, \u0000 */
	assert_false(
	    parses("{\"seq\":1,\"zone_id\":\"z\",\"id\":\"\\n\",\"event_type\":\"t\"" GOOD_TAIL));
	assert_false(parses(
	    "{\"seq\":1,\"zone_id\":\"z\",\"id\":\"\\u0000\",\"event_type\":\"t\"" GOOD_TAIL));
	/* upper-case hex, short hash, event not an object, trailing garbage */
	assert_false(
	    parses("{\"seq\":1,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\",\"occurred_"
	           "at\":5,\"prev\":\"\",\"hash\":\"ABC\",\"kid\":\"630dcd29\",\"event\":{}}"));
	assert_false(
	    parses("{\"seq\":1,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\",\"occurred_"
	           "at\":5,\"prev\":\"\",\"hash\":\"" H1 "\",\"kid\":\"630dcd29\",\"event\":[]}"));
	assert_false(
	    parses("{\"seq\":1,\"zone_id\":\"z\",\"id\":\"i\",\"event_type\":\"t\"" GOOD_TAIL "x"));
	assert_false(parses(""));
}

static void test_checkpoint_roundtrip(void **state)
{
	(void)state;
	af_buf b = {0};
	af_checkpoint cp = {0}, p;
	strcpy(cp.zone_id, "z1");
	cp.seq = 7;
	strcpy(cp.hash, H1);
	cp.at = 123;
	strcpy(cp.kid, "630dcd29");
	strcpy(cp.mac, CP2);
	assert_int_equal(af_checkpoint_format(&b, &cp), 0);
	assert_int_equal(af_checkpoint_parse(b.p, b.len - 1, &p), 0);
	assert_memory_equal(&p, &cp, sizeof cp);
	b.p[b.len - 2] = ' ';
	assert_int_not_equal(af_checkpoint_parse(b.p, b.len - 1, &p), 0);
	af_buf_free(&b);
}

static void test_zone_valid(void **state)
{
	(void)state;
	char longz[AF_ZONE_MAX + 2];
	assert_true(af_zone_valid("z1"));
	assert_true(af_zone_valid("acme-prod_eu.1:a@b+c=d"));
	assert_false(af_zone_valid(""));
	assert_false(af_zone_valid(NULL));
	assert_false(af_zone_valid("."));
	assert_false(af_zone_valid(".."));
	assert_false(af_zone_valid(".hidden"));
	assert_false(af_zone_valid("a/b"));
	assert_false(af_zone_valid("../etc"));
	assert_false(af_zone_valid("a b"));
	assert_false(af_zone_valid("a\nb"));
	assert_false(af_zone_valid("\xc3\xa9"));
	memset(longz, 'a', sizeof longz);
	longz[AF_ZONE_MAX] = '\0';
	assert_true(af_zone_valid(longz));
	longz[AF_ZONE_MAX] = 'a';
	longz[AF_ZONE_MAX + 1] = '\0';
	assert_false(af_zone_valid(longz));
}

static int shape(const char *s)
{
	return af_json_object_shape(s, strlen(s));
}

static void test_json_shape(void **state)
{
	(void)state;
	assert_true(shape("{}"));
	assert_true(shape("{\"a\":[1,2,{\"b\":\"}]\\\"\"}]}"));
	assert_false(shape("[]"));
	assert_false(shape("{"));
	assert_false(shape("{}{}"));
	assert_false(shape("{\"a\":1}}"));
	assert_false(shape("{\"a\":\"unterminated}"));
	assert_false(shape("{\"a\":\n1}"));
	assert_false(shape("{\"a\":\"\t\"}"));
	assert_false(af_json_object_shape("{\0}", 3));
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(af_utf8_valid("abc\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 12));
	assert_false(af_utf8_valid("\xc3", 1));
	assert_false(af_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(af_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(af_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(af_utf8_valid("a\0b", 3));
}

static void test_siphash_vector(void **state)
{
	(void)state;
	unsigned char key[16], msg[15];
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	/* From the SipHash paper's reference vectors. */
	assert_true(af_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(af_siphash(key, msg, 15) == 0xa129ca6149be45e5ULL);
}

/* The descriptor pieces the module exports. */
static void test_schema(void **state)
{
	(void)state;
	int n = 0, required = 0;
	for (const caracal_cfg_key *k = af_config_schema; k->name != NULL; k++, n++)
		required += (k->flags & CARACAL_CFG_REQUIRED) != 0;
	assert_int_equal(n, 6);
	assert_int_equal(required, 2);
	assert_int_equal(af_audit_ops.size, sizeof(caracal_audit_ops));
	assert_non_null(af_audit_ops.append);
	assert_non_null(af_audit_ops.flush);
	assert_non_null(af_audit_ops.verify);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_mac_vectors),
	    cmocka_unit_test(test_no_field_boundary_collision),
	    cmocka_unit_test(test_record_roundtrip),
	    cmocka_unit_test(test_record_parse_strict),
	    cmocka_unit_test(test_checkpoint_roundtrip),
	    cmocka_unit_test(test_zone_valid),
	    cmocka_unit_test(test_json_shape),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_siphash_vector),
	    cmocka_unit_test(test_schema),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
