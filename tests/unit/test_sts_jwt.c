/* Subject-token parsing and verification (spec sts.md §2.6, vectors 22–23).
 * Tokens are signed here with OpenSSL directly, independent of the signer. */
#include "roles/sts/jwt.h"
#include "util/b64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISS "http://127.0.0.1:8080"
#define NOW 1800000000

static EVP_PKEY *key;
static char jwks[512];

static void b64(const void *in, size_t n, char *out, size_t cap)
{
	assert_true(b64url_encode(in, n, out, cap) > 0 || n == 0);
}

static int setup(void **state)
{
	(void)state;
	key = EVP_EC_gen("P-256");
	if (key == NULL)
		return 1;
	unsigned char pub[65];
	size_t len = 0;
	EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len);
	char x[64], y[64];
	b64url_encode(pub + 1, 32, x, sizeof x);
	b64url_encode(pub + 33, 32, y, sizeof y);
	snprintf(jwks, sizeof jwks,
	         "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"kid\":\"k1\","
	         "\"alg\":\"ES256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
	         x, y);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

/* Sign header.claims with the test key as JOSE ES256. */
static char *make_token(const char *header, const char *claims)
{
	static char token[4096];
	char h[1024], c[2048];
	b64(header, strlen(header), h, sizeof h);
	b64(claims, strlen(claims), c, sizeof c);
	int n = snprintf(token, sizeof token, "%s.%s", h, c);
	unsigned char der[128];
	size_t der_len = sizeof der;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &der_len, (unsigned char *)token, (size_t)n), 1);
	EVP_MD_CTX_free(md);
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	unsigned char raw[64];
	BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
	ECDSA_SIG_free(sig);
	token[n++] = '.';
	b64(raw, sizeof raw, token + n, sizeof token - (size_t)n);
	return token;
}

#define HDR "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}"
#define CLAIMS(extra)                                                                   \
	"{\"iss\":\"" ISS "\",\"sub\":\"a1\",\"aud\":[\"" ISS "\"],\"exp\":1800000900," \
	"\"iat\":1800000000,\"zone_id\":\"z1\",\"use\":\"session\",\"sid\":\"s1\"" extra "}"

static int check(const char *token, const char **stage)
{
	jwt j;
	char why[128];
	*stage = "parse";
	if (jwt_parse(token, strlen(token), &j, why, sizeof why) != 0)
		return -1;
	*stage = "signature";
	int rc = jwt_verify_signature(&j, token, jwks, strlen(jwks), why, sizeof why);
	if (rc == 0) {
		*stage = "claims";
		rc = jwt_check_claims(&j, ISS, "z1", "session", NOW, why, sizeof why);
	}
	jwt_free(&j);
	return rc;
}

static void test_valid_token(void **state)
{
	(void)state;
	const char *stage;
	assert_int_equal(check(make_token(HDR, CLAIMS("")), &stage), 0);
	/* aud as a plain string is accepted too. */
	assert_int_equal(check(make_token(HDR, "{\"iss\":\"" ISS "\",\"aud\":\"" ISS "\","
	                                       "\"exp\":1800000900,\"zone_id\":\"z1\","
	                                       "\"use\":\"session\"}"),
	                       &stage),
	                 0);
}

static void expect_refused(const char *token, const char *at)
{
	const char *stage;
	if (check(token, &stage) == 0 || strcmp(stage, at) != 0)
		fail_msg("token %.60s accepted or refused at %s, want %s", token, stage, at);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("not-a-jwt", "parse");
	expect_refused("a.b", "parse");
	expect_refused("a.b.c.d", "parse");
	/* alg none / HS256 / wrong alg for the key / unknown kid. */
	expect_refused(make_token("{\"alg\":\"none\",\"kid\":\"k1\"}", CLAIMS("")), "signature");
	expect_refused(make_token("{\"alg\":\"HS256\",\"kid\":\"k1\"}", CLAIMS("")), "signature");
	expect_refused(make_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", CLAIMS("")), "signature");
	expect_refused(make_token("{\"alg\":\"ES256\",\"kid\":\"k2\"}", CLAIMS("")), "signature");
	expect_refused(make_token("{\"alg\":\"ES256\"}", CLAIMS("")), "signature");
	expect_refused(
	    make_token("{\"alg\":\"ES256\",\"kid\":\"k1\",\"crit\":[\"x\"]}", CLAIMS("")), "parse");
	/* Duplicate claims are refused outright. */
	expect_refused(make_token(HDR, "{\"sub\":\"a\",\"sub\":\"b\"}"), "parse");

	/* A valid signature moved onto other claims. */
	char first[4096];
	snprintf(first, sizeof first, "%s", make_token(HDR, CLAIMS("")));
	char *second = make_token(HDR, CLAIMS(",\"scope\":\"admin\""));
	char spliced[4096];
	const char *sig = strrchr(first, '.');
	const char *second_sig = strrchr(second, '.');
	snprintf(spliced, sizeof spliced, "%.*s%s", (int)(second_sig - second), second, sig);
	expect_refused(spliced, "signature");
	/* A truncated signature: refused (as non-canonical base64url, or as a
	 * signature of the wrong length). */
	first[strlen(first) - 4] = '\0';
	const char *stage;
	assert_int_not_equal(check(first, &stage), 0);
}

static void test_claim_checks(void **state)
{
	(void)state;
	expect_refused(make_token(HDR,
	                          "{\"iss\":\"http://evil\",\"aud\":[\"" ISS "\"],"
	                          "\"exp\":1800000900,\"zone_id\":\"z1\",\"use\":\"session\"}"),
	               "claims");
	expect_refused(make_token(HDR,
	                          "{\"iss\":\"" ISS "\",\"aud\":[\"resource://r\"],"
	                          "\"exp\":1800000900,\"zone_id\":\"z1\",\"use\":\"session\"}"),
	               "claims");
	expect_refused(make_token(HDR, "{\"iss\":\"" ISS "\",\"aud\":[\"" ISS "\"],"
	                               "\"zone_id\":\"z1\",\"use\":\"session\"}"),
	               "claims");
	expect_refused(make_token(HDR,
	                          "{\"iss\":\"" ISS "\",\"aud\":[\"" ISS "\"],"
	                          "\"exp\":1799999900,\"zone_id\":\"z1\",\"use\":\"session\"}"),
	               "claims");
	expect_refused(make_token(HDR,
	                          "{\"iss\":\"" ISS "\",\"aud\":[\"" ISS "\"],"
	                          "\"exp\":1800000900,\"zone_id\":\"z2\",\"use\":\"session\"}"),
	               "claims");
	expect_refused(make_token(HDR,
	                          "{\"iss\":\"" ISS "\",\"aud\":[\"" ISS "\"],"
	                          "\"exp\":1800000900,\"zone_id\":\"z1\",\"use\":\"gateway\"}"),
	               "claims");
	expect_refused(make_token(HDR, CLAIMS(",\"nbf\":1800000500")), "claims");
	expect_refused(make_token(HDR, "{\"iss\":\"" ISS "\",\"aud\":[\"" ISS "\"],"
	                               "\"exp\":1800000900,\"iat\":1800000500,\"zone_id\":\"z1\","
	                               "\"use\":\"session\"}"),
	               "claims");
	/* Inside the 60 s leeway: still accepted. */
	const char *stage;
	assert_int_equal(check(make_token(HDR, "{\"iss\":\"" ISS "\",\"aud\":[\"" ISS "\"],"
	                                       "\"exp\":1799999950,\"zone_id\":\"z1\","
	                                       "\"use\":\"session\"}"),
	                       &stage),
	                 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_token),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_claim_checks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
