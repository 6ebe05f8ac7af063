/*
 * test_signer_unit.c — signer_file internals, linked without dlopen: the
 * RFC 7638 thumbprint vector, DER → JOSE conversion of ECDSA signatures
 * (leading zeros, high bits, malformed encodings), base64url, KEK rules and
 * the CSS1 envelope.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "signer_file.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7638 §3.1. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_"
    "RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbI"
    "SD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
    "csFCur-kEgU8awapJzKnqDKgw";

static void test_rfc7638_vector(void **state)
{
	(void)state;
	unsigned char n[512], e[8];
	long nl = sf_b64url_decode(rfc7638_n, strlen(rfc7638_n), n, sizeof n);
	long el = sf_b64url_decode("AQAB", 4, e, sizeof e);
	assert_int_equal(nl, 256);
	assert_int_equal(el, 3);
	BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	assert_int_equal(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	char kid[SF_KID_MAX];
	char *jwk = NULL;
	caracal_error err = {0};
	assert_int_equal(sf_key_describe(NULL, pk, SF_ALG_RS256, kid, &jwk, &err), CARACAL_OK);
	assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_non_null(strstr(jwk, "\"kid\":\"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs\""));
	assert_non_null(strstr(jwk, "\"alg\":\"RS256\",\"use\":\"sig\"}"));
	const char *prefix = "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7";
	assert_int_equal(strncmp(jwk, prefix, strlen(prefix)), 0);
	free(jwk);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
}

/* ------------------------------------------------------------ DER → JOSE */

/* Encode r, s (big-endian magnitudes) with OpenSSL and convert back. */
static void roundtrip_rs(const unsigned char *r, size_t rl, const unsigned char *s, size_t sl)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(r, (int)rl, NULL), BN_bin2bn(s, (int)sl, NULL));
	unsigned char der[80], *p = der;
	int dl = i2d_ECDSA_SIG(sig, &p);
	assert_true(dl > 0);
	unsigned char out[64], want[64];
	assert_int_equal(sf_ecdsa_der_to_jose(der, (size_t)dl, 32, out), 0);
	const BIGNUM *br, *bs;
	ECDSA_SIG_get0(sig, &br, &bs);
	BN_bn2binpad(br, want, 32);
	BN_bn2binpad(bs, want + 32, 32);
	assert_memory_equal(out, want, 64);
	ECDSA_SIG_free(sig);
}

static void test_jose_edges(void **state)
{
	(void)state;
	unsigned char r[32], s[32];
	/* Every count of leading zero bytes in r and s, with and without the
	 * high bit set on the first non-zero byte. */
	for (int zr = 0; zr < 32; zr++) {
		for (int hi = 0; hi < 2; hi++) {
			RAND_bytes(r, sizeof r);
			RAND_bytes(s, sizeof s);
			memset(r, 0, (size_t)zr);
			r[zr] = hi ? (r[zr] | 0x80) : (unsigned char)((r[zr] & 0x7f) | 1);
			s[0] = hi ? 0xff : 0x01;
			roundtrip_rs(r, 32, s, 32);
			roundtrip_rs(s, 32, r, 32);
			roundtrip_rs(r, 32, r, 32);
		}
	}
	/* Smallest values. */
	unsigned char one = 1;
	roundtrip_rs(&one, 1, &one, 1);
	memset(r, 0xff, 32);
	roundtrip_rs(r, 32, r, 32); /* 33-byte INTEGERs with a 0x00 prefix */
	/* Random ones. */
	for (int i = 0; i < 2000; i++) {
		RAND_bytes(r, sizeof r);
		RAND_bytes(s, sizeof s);
		r[0] >>= i % 9;
		s[0] >>= (i / 9) % 9;
		roundtrip_rs(r, 32, s, 32);
	}

	/* Hand-made encodings. */
	unsigned char out[64];
	const unsigned char ok_small[] = {0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07};
	assert_int_equal(sf_ecdsa_der_to_jose(ok_small, sizeof ok_small, 32, out), 0);
	assert_int_equal(out[31], 5);
	assert_int_equal(out[63], 7);
	for (int i = 0; i < 31; i++)
		assert_int_equal(out[i] | out[32 + i], 0);
	struct {
		unsigned char der[80];
		size_t len;
	} bad[] = {
	    {{0x31, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07}, 8},       /* not a SEQUENCE */
	    {{0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07}, 8},       /* length too long */
	    {{0x30, 0x05, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07}, 8},       /* length too short */
	    {{0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07}, 8},       /* negative r */
	    {{0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x07}, 9}, /* non-minimal r */
	    {{0x30, 0x06, 0x03, 0x01, 0x05, 0x02, 0x01, 0x07}, 8},       /* BIT STRING */
	    {{0x30, 0x06, 0x02, 0x00, 0x02, 0x02, 0x01, 0x07}, 8},       /* empty INTEGER */
	    {{0x30, 0x08, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0x00, 0x00}, 10}, /* trailing */
	    {{0x30, 0x81, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07}, 9}, /* non-minimal length */
	    {{0x30, 0x06, 0x02, 0x01, 0x05}, 5},                         /* truncated */
	    {{0x30, 0x06, 0x02, 0x81, 0x01, 0x05, 0x02, 0x01}, 8},       /* long-form INTEGER */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sf_ecdsa_der_to_jose(bad[i].der, bad[i].len, 32, out), -1);
	/* r of 33 significant bytes does not fit. */
	unsigned char big[80] = {0x30, 0x26, 0x02, 0x21};
	memset(big + 4, 0x11, 33);
	big[37] = 0x02;
	big[38] = 0x01;
	big[39] = 0x01;
	assert_int_equal(sf_ecdsa_der_to_jose(big, 40, 32, out), -1);
	/* 33 bytes with a 0x00 prefix and the high bit set does. */
	big[4] = 0x00;
	big[5] = 0x91;
	assert_int_equal(sf_ecdsa_der_to_jose(big, 40, 32, out), 0);
	assert_int_equal(out[0], 0x91);
	/* ...but not 0x00 before a byte without the high bit. */
	big[5] = 0x11;
	assert_int_equal(sf_ecdsa_der_to_jose(big, 40, 32, out), -1);
}

static void test_b64url(void **state)
{
	(void)state;
	unsigned char in[64], back[64];
	char enc[100];
	for (size_t n = 0; n < 40; n++) {
		RAND_bytes(in, n);
		size_t l = sf_b64url_encode(in, n, enc);
		assert_int_equal(l, strlen(enc));
		assert_null(strchr(enc, '='));
		assert_int_equal(sf_b64url_decode(enc, l, back, sizeof back), (long)n);
		assert_memory_equal(in, back, n);
	}
	assert_int_equal(sf_b64url_decode("A", 1, back, sizeof back), -1);
	assert_int_equal(sf_b64url_decode("AB+/", 4, back, sizeof back), -1);
	assert_int_equal(sf_b64url_decode("AB==", 4, back, sizeof back), -1);
	assert_int_equal(sf_b64url_decode("AB", 2, back, sizeof back), -1); /* non-canonical */
	assert_int_equal(sf_b64url_decode("AAAA", 4, back, 2), -1);         /* overflow */
}

static void test_zone_ids(void **state)
{
	(void)state;
	assert_true(sf_zone_id_valid("a"));
	assert_true(sf_zone_id_valid("Zone-1_x.y:z@w"));
	assert_true(sf_zone_id_valid("a.."));
	assert_false(sf_zone_id_valid(""));
	assert_false(sf_zone_id_valid(NULL));
	assert_false(sf_zone_id_valid(".a"));
	assert_false(sf_zone_id_valid("a/b"));
	assert_false(sf_zone_id_valid("a\\b"));
	assert_false(sf_zone_id_valid("a b"));
	char z[200];
	memset(z, 'z', sizeof z);
	z[128] = '\0';
	assert_true(sf_zone_id_valid(z));
	z[128] = 'z';
	z[129] = '\0';
	assert_false(sf_zone_id_valid(z));
}

#define KEK_A "6f1c2a9e4b7d30c58e2f91a4d6b8c0e37a5f29d1c4e6b8a0f3d5c7e9b1a2c4d6"
#define KEK_B "a83e5c1f7d9b2e4a6c8f0d1b3e5a7c9f2d4b6e8a0c1f3d5b7e9a2c4f6d8b0e1a"

static void test_envelope(void **state)
{
	(void)state;
	sf_kek a, b;
	caracal_error err = {0};
	assert_int_equal(sf_kek_parse(NULL, "kek", (const unsigned char *)KEK_A, 64, &a, &err),
	                 CARACAL_OK);
	assert_int_equal(sf_kek_parse(NULL, "kek", (const unsigned char *)KEK_B, 64, &b, &err),
	                 CARACAL_OK);
	/* Upper-case hex is the same key. */
	char up[65];
	for (int i = 0; i < 64; i++)
		up[i] = (char)(KEK_A[i] >= 'a' ? KEK_A[i] - 32 : KEK_A[i]);
	sf_kek a2;
	assert_int_equal(sf_kek_parse(NULL, "kek", (const unsigned char *)up, 64, &a2, &err),
	                 CARACAL_OK);
	assert_memory_equal(a.key, a2.key, 32);

	EVP_CIPHER *aead = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	assert_non_null(aead);
	const unsigned char msg[] = "private key bytes";
	unsigned char *env = NULL, *pt = NULL;
	size_t el = 0, pl = 0;
	assert_int_equal(sf_seal(NULL, aead, &a, (const unsigned char *)"aad", 3, msg, sizeof msg,
	                         &env, &el, &err),
	                 CARACAL_OK);
	assert_int_equal(el, SF_CSS1_OVERHEAD + sizeof msg);
	assert_memory_equal(env, "CSS1", 4);
	assert_memory_equal(env + 4, a.id, 8);
	sf_kek ring[2] = {b, a};
	assert_int_equal(
	    sf_open(aead, ring, 2, (const unsigned char *)"aad", 3, env, el, &pt, &pl, &err),
	    CARACAL_OK);
	assert_int_equal(pl, sizeof msg);
	assert_memory_equal(pt, msg, pl);
	OPENSSL_clear_free(pt, pl);
	/* Wrong AAD, wrong KEK, tampering, truncation. */
	assert_int_equal(
	    sf_open(aead, ring, 2, (const unsigned char *)"aaD", 3, env, el, &pt, &pl, &err),
	    CARACAL_E_INTEGRITY);
	assert_int_equal(
	    sf_open(aead, &b, 1, (const unsigned char *)"aad", 3, env, el, &pt, &pl, &err),
	    CARACAL_E_UNAVAIL);
	for (size_t i = 12; i < el; i += 7) {
		env[i] ^= 1;
		assert_int_equal(sf_open(aead, ring, 2, (const unsigned char *)"aad", 3, env, el,
		                         &pt, &pl, &err),
		                 CARACAL_E_INTEGRITY);
		env[i] ^= 1;
	}
	assert_int_equal(
	    sf_open(aead, ring, 2, (const unsigned char *)"aad", 3, env, 99, &pt, &pl, &err),
	    CARACAL_E_INTEGRITY);
	OPENSSL_free(env);
	EVP_CIPHER_free(aead);
}

static void test_kek_rules(void **state)
{
	(void)state;
	sf_kek k;
	caracal_error err = {0};
	const char *bad[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	    "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0",
	    "a55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55a",
	    "6f1c2a9e4b7d30c58e2f91a4d6b8c0e37a5f29d1c4e6b8a0f3d5c7e9b1a2c4dg",
	    "6f1c2a9e4b7d30c58e2f91a4d6b8c0e37a5f29d1c4e6b8a0f3d5c7e9b1a2c4d",
	    "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(sf_kek_parse(NULL, "kek", (const unsigned char *)bad[i],
		                              strlen(bad[i]), &k, &err),
		                 CARACAL_E_INVAL);
		assert_false(k.set);
	}
}

static void test_keys_der_roundtrip(void **state)
{
	(void)state;
	caracal_error err = {0};
	for (int a = 0; a < 4; a++) {
		EVP_PKEY *pk = NULL, *back = NULL;
		if (a >= 2)
			pk = EVP_RSA_gen(2048); /* faster than 3072, same code path */
		else
			assert_int_equal(sf_key_generate(NULL, (sf_alg)a, &pk, &err), CARACAL_OK);
		assert_int_equal(sf_key_check(pk, (sf_alg)a, &err), CARACAL_OK);
		unsigned char *der = NULL;
		size_t dl = 0;
		assert_int_equal(sf_key_to_der(pk, &der, &dl, &err), CARACAL_OK);
		assert_int_equal(sf_key_from_der(NULL, der, dl, &back, &err), CARACAL_OK);
		assert_int_equal(EVP_PKEY_eq(pk, back), 1);
		char k1[SF_KID_MAX], k2[SF_KID_MAX];
		assert_int_equal(sf_key_describe(NULL, pk, (sf_alg)a, k1, NULL, &err), CARACAL_OK);
		assert_int_equal(sf_key_describe(NULL, back, (sf_alg)a, k2, NULL, &err),
		                 CARACAL_OK);
		assert_string_equal(k1, k2);
		/* A key of the wrong type for another algorithm is refused. */
		assert_int_not_equal(sf_key_check(pk, (sf_alg)((a + 1) % 3), &err), CARACAL_OK);
		/* Trailing bytes after the DER are refused. */
		EVP_PKEY_free(back);
		back = NULL;
		unsigned char *der2 = OPENSSL_malloc(dl + 1);
		memcpy(der2, der, dl);
		der2[dl] = 0;
		assert_int_not_equal(sf_key_from_der(NULL, der2, dl + 1, &back, &err), CARACAL_OK);
		OPENSSL_free(der2);
		OPENSSL_clear_free(der, dl);
		EVP_PKEY_free(pk);
	}
	EVP_PKEY *small = EVP_RSA_gen(1024);
	assert_int_equal(sf_key_check(small, SF_ALG_RS256, &err), CARACAL_E_INVAL);
	EVP_PKEY_free(small);
	EVP_PKEY *p384 = EVP_EC_gen("P-384");
	assert_int_equal(sf_key_check(p384, SF_ALG_ES256, &err), CARACAL_E_INVAL);
	EVP_PKEY_free(p384);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7638_vector),
	    cmocka_unit_test(test_jose_edges),
	    cmocka_unit_test(test_b64url),
	    cmocka_unit_test(test_zone_ids),
	    cmocka_unit_test(test_envelope),
	    cmocka_unit_test(test_kek_rules),
	    cmocka_unit_test(test_keys_der_roundtrip),
	};
	return cmocka_run_group_tests_name("signer_file unit", tests, NULL, NULL);
}
