/* The gateway-authenticated exchange's HMAC check (spec sts.md §2.10, §2.1
 * rule 8, §7 vectors 28-29). Expected signatures are computed here with
 * OpenSSL's one-shot HMAC over the spec's string, independently of the
 * module, plus one fixed known answer (from `openssl dgst -mac HMAC`). */
#include "roles/sts/gateway_auth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define OTHER_KEY_HEX "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define NONCE "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define TS "1700000000"
#define NOW 1700000000LL
#define PATH "/oauth/2/token"
#define REQ_ID "req-1"
#define BODY                                                                    \
	"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&" \
	"gateway_request_id=req-1"
#define BODY_SHA256_HEX "9f5a9f49560c6e7c4feeb6b123cf7e49854c685d46e0b381e23581dd9f24a247"
/* printf '1700000000\n<NONCE>\nPOST\n/oauth/2/token\n<BODY_SHA256_HEX>' |
 *   openssl dgst -sha256 -mac HMAC -macopt hexkey:<KEY_HEX> */
#define KNOWN_ANSWER "157b73bc8f844cee38be92314ac8a2fe8f3969cc85f627f208cbaaf094b57163"

static sts_gateway_key *key;

/* ------------------------------------------------------------ reference */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static void raw_key(const char *hex, unsigned char *out, size_t *len)
{
	*len = strlen(hex) / 2;
	for (size_t i = 0; i < *len; i++) {
		unsigned int b;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (unsigned char)b;
	}
}

/* hex(HMAC-SHA256(key, "{ts}\n{nonce}\n{method}\n{path}\n{hex(sha256(body))}")),
 * the method taken verbatim (callers pass it upper-cased when they mean to). */
static void reference_signature(const char *key_hex, const char *ts, const char *nonce,
                                const char *method, const char *path, const char *body,
                                char out[65])
{
	unsigned char digest[SHA256_DIGEST_LENGTH], k[STS_GATEWAY_KEY_MAX], mac[32];
	char body_hex[65], input[4096];
	size_t klen;
	unsigned int maclen = 0;
	SHA256((const unsigned char *)body, strlen(body), digest);
	to_hex(digest, sizeof digest, body_hex);
	int n =
	    snprintf(input, sizeof input, "%s\n%s\n%s\n%s\n%s", ts, nonce, method, path, body_hex);
	assert_true(n > 0 && (size_t)n < sizeof input);
	raw_key(key_hex, k, &klen);
	assert_non_null(HMAC(EVP_sha256(), k, (int)klen, (const unsigned char *)input, (size_t)n,
	                     mac, &maclen));
	assert_int_equal(maclen, 32);
	to_hex(mac, 32, out);
}

/* ------------------------------------------------------------ fixture */

static char valid_signature[65];

static int setup(void **state)
{
	(void)state;
	key = sts_gateway_key_from_hex(KEY_HEX, strlen(KEY_HEX), NULL, 0);
	reference_signature(KEY_HEX, TS, NONCE, "POST", PATH, BODY, valid_signature);
	return key == NULL;
}

static int teardown(void **state)
{
	(void)state;
	sts_gateway_key_free(key);
	key = NULL;
	return 0;
}

static sts_gateway_request valid_request(void)
{
	sts_gateway_request r = {
	    .timestamp = TS,
	    .nonce = NONCE,
	    .signature = valid_signature,
	    .request_id = REQ_ID,
	    .gateway_request_id = REQ_ID,
	    .method = "POST",
	    .escaped_path = PATH,
	    .body = BODY,
	    .body_len = strlen(BODY),
	    .now_s = NOW,
	};
	return r;
}

static void expect_verified(const sts_gateway_key *k, const sts_gateway_request *r)
{
	char why[128] = "";
	int rc = sts_gateway_verify(k, r, why, sizeof why);
	if (rc != 0)
		fail_msg("refused: %s", why);
}

static void expect_refused(const sts_gateway_key *k, const sts_gateway_request *r,
                           const char *reason)
{
	char why[128] = "";
	assert_int_equal(sts_gateway_verify(k, r, why, sizeof why), -1);
	if (strstr(why, reason) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
}

/* ------------------------------------------------------------ signing */

static void test_known_answer(void **state)
{
	(void)state;
	char sig[65];
	assert_int_equal(sts_gateway_sign(key, TS, NONCE, "POST", PATH, BODY, strlen(BODY), sig),
	                 0);
	assert_string_equal(sig, KNOWN_ANSWER);
	assert_string_equal(sig, valid_signature);
}

static void test_signing_input_layout(void **state)
{
	(void)state;
	size_t len = 0;
	char *in = sts_gateway_signing_input(TS, NONCE, "pOsT", PATH, BODY, strlen(BODY), &len);
	assert_non_null(in);
	const char *want = TS "\n" NONCE "\nPOST\n" PATH "\n" BODY_SHA256_HEX;
	assert_int_equal(len, strlen(want));
	assert_memory_equal(in, want, len);
	assert_int_equal(in[len], '\0');
	free(in);

	/* An empty body hashes as the empty string, with or without a pointer. */
	in = sts_gateway_signing_input(TS, NONCE, "GET", "/p", NULL, 0, &len);
	assert_non_null(in);
	assert_string_equal(in,
	                    TS "\n" NONCE "\nGET\n/p\n"
	                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	free(in);
	in = sts_gateway_signing_input(TS, NONCE, "GET", "", "", 0, &len);
	assert_non_null(in);
	assert_string_equal(in,
	                    TS "\n" NONCE "\nGET\n\n"
	                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	free(in);
}

static void test_signing_input_refusals(void **state)
{
	(void)state;
	size_t len = 99;
	const char *b = BODY;
	size_t bl = strlen(BODY);
	assert_null(sts_gateway_signing_input(NULL, NONCE, "POST", PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input("+1", NONCE, "POST", PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NULL, "POST", PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, "a b", "POST", PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NONCE, NULL, PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NONCE, "", PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NONCE, "PO\nST", PATH, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NONCE, "POST", NULL, b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NONCE, "POST", "/a\n/b", b, bl, &len));
	assert_null(sts_gateway_signing_input(TS, NONCE, "POST", PATH, NULL, 1, &len));
	assert_int_equal(len, 99);
}

static void test_sign_refusals(void **state)
{
	(void)state;
	char sig[65] = "x";
	assert_int_equal(sts_gateway_sign(NULL, TS, NONCE, "POST", PATH, "", 0, sig), -1);
	assert_string_equal(sig, "");
	strcpy(sig, "x");
	assert_int_equal(sts_gateway_sign(key, "-5", NONCE, "POST", PATH, "", 0, sig), -1);
	assert_string_equal(sig, "");
	assert_int_equal(sts_gateway_sign(key, TS, "", "POST", PATH, "", 0, sig), -1);
	assert_int_equal(sts_gateway_sign(key, TS, NONCE, "POST\n", PATH, "", 0, sig), -1);
	assert_int_equal(sts_gateway_sign(key, TS, NONCE, "POST", "/\n", "", 0, sig), -1);
}

static void test_sign_verify_round_trip(void **state)
{
	(void)state;
	const char *body = "{\"zone_id\":\"z1\"}";
	char sig[65];
	assert_int_equal(sts_gateway_sign(key, "1700000123", "n-1", "get",
	                                  "/internal/policy/status/z1", body, strlen(body), sig),
	                 0);
	char ref[65];
	reference_signature(KEY_HEX, "1700000123", "n-1", "GET", "/internal/policy/status/z1", body,
	                    ref);
	assert_string_equal(sig, ref);
	sts_gateway_request r = {
	    .timestamp = "1700000123",
	    .nonce = "n-1",
	    .signature = sig,
	    .request_id = "abc",
	    .gateway_request_id = "abc",
	    .method = "GET",
	    .escaped_path = "/internal/policy/status/z1",
	    .body = body,
	    .body_len = strlen(body),
	    .now_s = 1700000100,
	};
	expect_verified(key, &r);
	/* The policy routes carry no form: the check without the request-id binding. */
	r.request_id = r.gateway_request_id = NULL;
	char why[64];
	assert_int_equal(sts_gateway_verify_signed(key, &r, why, sizeof why), 0);
	expect_refused(key, &r, "gateway_request_id");
}

static void test_empty_body_round_trip(void **state)
{
	(void)state;
	char sig[65];
	assert_int_equal(sts_gateway_sign(key, TS, NONCE, "GET", "/x", NULL, 0, sig), 0);
	sts_gateway_request r = valid_request();
	r.method = "GET";
	r.escaped_path = "/x";
	r.body = NULL;
	r.body_len = 0;
	r.signature = sig;
	expect_verified(key, &r);
}

/* ------------------------------------------------------------ verify: accepted */

static void test_verify_valid(void **state)
{
	(void)state;
	sts_gateway_request r = valid_request();
	expect_verified(key, &r);
	/* why may be absent. */
	assert_int_equal(sts_gateway_verify(key, &r, NULL, 0), 0);
}

static void test_verify_uppercase_signature(void **state)
{
	(void)state;
	char upper[65];
	for (size_t i = 0; i < sizeof upper; i++)
		upper[i] = (char)(valid_signature[i] >= 'a' && valid_signature[i] <= 'f'
		                      ? valid_signature[i] - 'a' + 'A'
		                      : valid_signature[i]);
	sts_gateway_request r = valid_request();
	r.signature = upper;
	expect_verified(key, &r);
}

static void test_verify_method_case(void **state)
{
	(void)state;
	/* "post" is signed as "POST": the Gateway's signature still verifies. */
	sts_gateway_request r = valid_request();
	r.method = "post";
	expect_verified(key, &r);
	/* A signature over the lower-case method is not the scheme's. */
	char lower[65];
	reference_signature(KEY_HEX, TS, NONCE, "post", PATH, BODY, lower);
	r.signature = lower;
	expect_refused(key, &r, "mismatch");
	/* Our signer upper-cases too. */
	char sig[65];
	assert_int_equal(sts_gateway_sign(key, TS, NONCE, "post", PATH, BODY, strlen(BODY), sig),
	                 0);
	assert_string_equal(sig, valid_signature);
}

static void test_verify_skew_edges(void **state)
{
	(void)state;
	sts_gateway_request r = valid_request();
	r.now_s = NOW + 60;
	expect_verified(key, &r);
	r.now_s = NOW - 60;
	expect_verified(key, &r);
}

static void test_verify_leading_zeros_signed_as_sent(void **state)
{
	(void)state;
	char sig[65];
	reference_signature(KEY_HEX, "0" TS, NONCE, "POST", PATH, BODY, sig);
	sts_gateway_request r = valid_request();
	r.timestamp = "0" TS;
	r.signature = sig;
	expect_verified(key, &r);
	/* The Gateway's signature over TS does not cover "0" TS. */
	r.signature = valid_signature;
	expect_refused(key, &r, "mismatch");
}

static void test_verify_extreme_clocks(void **state)
{
	(void)state;
	/* INT64_MAX is in the grammar; the skew arithmetic does not overflow. */
	const char *max = "9223372036854775807";
	char sig[65];
	reference_signature(KEY_HEX, max, NONCE, "POST", PATH, BODY, sig);
	sts_gateway_request r = valid_request();
	r.timestamp = max;
	r.signature = sig;
	r.now_s = INT64_MAX - 60;
	expect_verified(key, &r);
	r.now_s = INT64_MIN;
	expect_refused(key, &r, "skew");
	r.now_s = -1;
	expect_refused(key, &r, "skew");
	r.timestamp = "0";
	r.now_s = INT64_MIN;
	expect_refused(key, &r, "skew");
}

static void test_verify_max_nonce(void **state)
{
	(void)state;
	char nonce[STS_GATEWAY_NONCE_MAX + 1], sig[65];
	memset(nonce, '~', STS_GATEWAY_NONCE_MAX);
	nonce[STS_GATEWAY_NONCE_MAX] = '\0';
	assert_int_equal(sts_gateway_sign(key, TS, nonce, "POST", PATH, BODY, strlen(BODY), sig),
	                 0);
	sts_gateway_request r = valid_request();
	r.nonce = nonce;
	r.signature = sig;
	expect_verified(key, &r);
}

/* ------------------------------------------------------------ verify: refused */

static void test_refuse_missing_or_empty_headers(void **state)
{
	(void)state;
	for (int which = 0; which < 3; which++) {
		for (int empty = 0; empty < 2; empty++) {
			sts_gateway_request r = valid_request();
			const char **field = which == 0   ? &r.timestamp
			                     : which == 1 ? &r.nonce
			                                  : &r.signature;
			*field = empty ? "" : NULL;
			assert_true(sts_gateway_headers_present(&r));
			expect_refused(key, &r, "missing or empty");
		}
	}
}

static void test_refuse_request_id(void **state)
{
	(void)state;
	sts_gateway_request r = valid_request();
	r.gateway_request_id = "req-2";
	expect_refused(key, &r, "gateway_request_id");
	r = valid_request();
	r.gateway_request_id = NULL;
	expect_refused(key, &r, "gateway_request_id");
	r = valid_request();
	r.request_id = NULL;
	expect_refused(key, &r, "gateway_request_id");
	r = valid_request();
	r.request_id = r.gateway_request_id = "";
	expect_refused(key, &r, "gateway_request_id");
	r = valid_request();
	r.gateway_request_id = "REQ-1"; /* exact, case-sensitive */
	expect_refused(key, &r, "gateway_request_id");
	/* Checked first, before the key. */
	r.gateway_request_id = "req-2";
	expect_refused(NULL, &r, "gateway_request_id");
}

static void test_refuse_no_key(void **state)
{
	(void)state;
	sts_gateway_request r = valid_request();
	expect_refused(NULL, &r, "no gateway key");
	char why[64];
	assert_int_equal(sts_gateway_verify_signed(NULL, &r, why, sizeof why), -1);
}

static void test_refuse_other_key(void **state)
{
	(void)state;
	sts_gateway_key *other = sts_gateway_key_from_hex(OTHER_KEY_HEX, 64, NULL, 0);
	assert_non_null(other);
	sts_gateway_request r = valid_request();
	expect_refused(other, &r, "mismatch");
	sts_gateway_key_free(other);
}

static void test_refuse_stale_or_future(void **state)
{
	(void)state;
	/* Signed correctly for its ts, so only the skew can refuse it. */
	const char *stale = "1699999939", *future = "1700000061";
	char sig[65];
	sts_gateway_request r = valid_request();
	reference_signature(KEY_HEX, stale, NONCE, "POST", PATH, BODY, sig);
	r.timestamp = stale;
	r.signature = sig;
	expect_refused(key, &r, "skew");
	reference_signature(KEY_HEX, future, NONCE, "POST", PATH, BODY, sig);
	r.timestamp = future;
	expect_refused(key, &r, "skew");
}

static void test_refuse_timestamp_grammar(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "+1700000000",
	    "-5",
	    "+5",
	    " 1700000000",
	    "1700000000 ",
	    "17000000x0",
	    "1.7e9",
	    "0x6553f100",
	    "1700000000\n",
	    "9223372036854775808",  /* INT64_MAX + 1 */
	    "18446744073709551616", /* 2^64 */
	    "99999999999999999999",
	    "00000000001700000000", /* 20 digits, even if small */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		sts_gateway_request r = valid_request();
		r.timestamp = bad[i];
		expect_refused(key, &r, "not decimal");
	}
}

static void test_refuse_signature(void **state)
{
	(void)state;
	char flipped[65];
	memcpy(flipped, valid_signature, sizeof flipped);
	flipped[10] = flipped[10] == '0' ? '1' : '0';
	char nonhex[65];
	memcpy(nonhex, valid_signature, sizeof nonhex);
	nonhex[63] = 'g';
	char longer[66];
	snprintf(longer, sizeof longer, "%s0", valid_signature);
	char shorter[64];
	memcpy(shorter, valid_signature, 63);
	shorter[63] = '\0';

	sts_gateway_request r = valid_request();
	r.signature = flipped;
	expect_refused(key, &r, "mismatch");
	/* Every byte is compared, the last one too. */
	char last_flipped[65];
	memcpy(last_flipped, valid_signature, sizeof last_flipped);
	last_flipped[63] = last_flipped[63] == '0' ? '1' : '0';
	r.signature = last_flipped;
	expect_refused(key, &r, "mismatch");
	r.signature = nonhex;
	expect_refused(key, &r, "64 hex");
	r.signature = longer;
	expect_refused(key, &r, "64 hex");
	r.signature = shorter;
	expect_refused(key, &r, "64 hex");
	r.signature = "zz";
	expect_refused(key, &r, "64 hex");
}

static void test_refuse_tampering(void **state)
{
	(void)state;
	char body[] = BODY;
	body[sizeof body - 2] = '2'; /* gateway_request_id=req-2 */
	sts_gateway_request r = valid_request();
	r.body = body;
	expect_refused(key, &r, "mismatch");
	r = valid_request();
	r.body_len--; /* a truncated body */
	expect_refused(key, &r, "mismatch");
	r = valid_request();
	r.escaped_path = "/oauth/2/token/";
	expect_refused(key, &r, "mismatch");
	r = valid_request();
	r.escaped_path = "/oauth/2/%74oken"; /* escaped differently: signed as sent */
	expect_refused(key, &r, "mismatch");
	r = valid_request();
	r.method = "PUT";
	expect_refused(key, &r, "mismatch");
	r = valid_request();
	r.nonce = "another-nonce";
	expect_refused(key, &r, "mismatch");
	r = valid_request();
	r.timestamp = "1700000001";
	expect_refused(key, &r, "mismatch");
}

static void test_refuse_bad_nonce(void **state)
{
	(void)state;
	char too_long[STS_GATEWAY_NONCE_MAX + 2];
	memset(too_long, 'a', STS_GATEWAY_NONCE_MAX + 1);
	too_long[STS_GATEWAY_NONCE_MAX + 1] = '\0';
	static const char *const bad[] = {"a b",   "a\tb",      "a\nb",
	                                  "a\x7f", "\x80nonce", "caf\xc3\xa9"};
	sts_gateway_request r = valid_request();
	r.nonce = too_long;
	expect_refused(key, &r, "nonce");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		r.nonce = bad[i];
		expect_refused(key, &r, "nonce malformed");
	}
}

static void test_refuse_bad_call(void **state)
{
	(void)state;
	sts_gateway_request r = valid_request();
	r.method = NULL;
	expect_refused(key, &r, "cannot compute");
	r = valid_request();
	r.escaped_path = NULL;
	expect_refused(key, &r, "cannot compute");
	r = valid_request();
	r.body = NULL;
	expect_refused(key, &r, "cannot compute");
	r = valid_request();
	r.escaped_path = "/a\nb";
	expect_refused(key, &r, "cannot compute");
}

static void test_why_truncated(void **state)
{
	(void)state;
	sts_gateway_request r = valid_request();
	char why[8];
	memset(why, 'x', sizeof why);
	assert_int_equal(sts_gateway_verify(NULL, &r, why, 5), -1);
	assert_string_equal(why, "no g");
	assert_int_equal(why[5], 'x');
}

/* ------------------------------------------------------------ headers present */

static void test_headers_present(void **state)
{
	(void)state;
	sts_gateway_request r = {0};
	assert_false(sts_gateway_headers_present(&r));
	assert_false(sts_gateway_headers_present(NULL));
	r.timestamp = "1";
	assert_true(sts_gateway_headers_present(&r));
	r.timestamp = NULL;
	r.nonce = "";
	assert_true(sts_gateway_headers_present(&r));
	r.nonce = NULL;
	r.signature = "x";
	assert_true(sts_gateway_headers_present(&r));
	/* request id fields alone do not make an exchange gateway-authenticated */
	r.signature = NULL;
	r.gateway_request_id = r.request_id = "x";
	assert_false(sts_gateway_headers_present(&r));
}

/* ------------------------------------------------------------ key parsing */

static void expect_key_refused(const char *hex, size_t len, const char *reason)
{
	char why[128] = "";
	sts_gateway_key *k = sts_gateway_key_from_hex(hex, len, why, sizeof why);
	if (k != NULL) {
		sts_gateway_key_free(k);
		fail_msg("key accepted, wanted \"%s\"", reason);
	}
	if (strstr(why, reason) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
}

static void expect_key_signs_like(const char *text, size_t len, const char *key_hex)
{
	sts_gateway_key *k = sts_gateway_key_from_hex(text, len, NULL, 0);
	assert_non_null(k);
	char sig[65], ref[65];
	assert_int_equal(sts_gateway_sign(k, TS, NONCE, "POST", PATH, BODY, strlen(BODY), sig), 0);
	reference_signature(key_hex, TS, NONCE, "POST", PATH, BODY, ref);
	assert_string_equal(sig, ref);
	sts_gateway_key_free(k);
}

static void test_key_parsing_accepts(void **state)
{
	(void)state;
	expect_key_signs_like(KEY_HEX "\n", strlen(KEY_HEX) + 1, KEY_HEX);
	expect_key_signs_like(KEY_HEX " \t\r\n", strlen(KEY_HEX) + 4, KEY_HEX);
	/* Upper case decodes to the same key. */
	expect_key_signs_like("00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
	                      64, KEY_HEX);
	/* len bounds the text: what follows it is not read. */
	expect_key_signs_like(KEY_HEX "zz", strlen(KEY_HEX), KEY_HEX);
	/* 256 bytes, the largest. */
	char big[2 * STS_GATEWAY_KEY_MAX + 1];
	memset(big, 'a', 2 * STS_GATEWAY_KEY_MAX);
	big[2 * STS_GATEWAY_KEY_MAX] = '\0';
	expect_key_signs_like(big, strlen(big), big);
}

static void test_key_parsing_refuses(void **state)
{
	(void)state;
	expect_key_refused(NULL, 0, "no gateway key");
	expect_key_refused("", 0, "empty");
	expect_key_refused(" \n", 2, "empty");
	expect_key_refused(KEY_HEX "0", strlen(KEY_HEX) + 1, "odd");
	expect_key_refused(" " KEY_HEX "0", strlen(KEY_HEX) + 2, "not hex"); /* leading space */
	char nonhex[] = KEY_HEX;
	nonhex[20] = 'g';
	expect_key_refused(nonhex, strlen(nonhex), "not hex");
	char with_nul[] = KEY_HEX;
	with_nul[2] = '\0';
	expect_key_refused(with_nul, sizeof with_nul - 1, "not hex");
	/* 31 bytes. */
	expect_key_refused(KEY_HEX, 62, "shorter than 32");
	expect_key_refused("00", 2, "shorter than 32");
	/* 257 bytes. */
	char huge[2 * STS_GATEWAY_KEY_MAX + 3];
	memset(huge, 'a', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	expect_key_refused(huge, strlen(huge), "longer than 256");
	/* why may be absent. */
	assert_null(sts_gateway_key_from_hex("00", 2, NULL, 0));
	sts_gateway_key_free(NULL);
}

/* ------------------------------------------------------------ nonce key */

static void test_nonce_key(void **state)
{
	(void)state;
	char out[STS_GATEWAY_NONCE_MAX + sizeof STS_GATEWAY_NONCE_KEY_PREFIX];
	assert_int_equal(sts_gateway_nonce_key(NONCE, out, sizeof out), 0);
	assert_string_equal(out, "gw-nonce:" NONCE);
	/* Exactly enough room, then one byte short. */
	char exact[sizeof "gw-nonce:abc"];
	assert_int_equal(sts_gateway_nonce_key("abc", exact, sizeof exact), 0);
	assert_string_equal(exact, "gw-nonce:abc");
	assert_int_equal(sts_gateway_nonce_key("abc", exact, sizeof exact - 1), -1);
	assert_string_equal(exact, "");
	/* The longest nonce fits the documented buffer. */
	char longest[STS_GATEWAY_NONCE_MAX + 1];
	memset(longest, 'n', STS_GATEWAY_NONCE_MAX);
	longest[STS_GATEWAY_NONCE_MAX] = '\0';
	assert_int_equal(sts_gateway_nonce_key(longest, out, sizeof out), 0);
}

static void test_nonce_key_refusals(void **state)
{
	(void)state;
	char out[256] = "x";
	char too_long[STS_GATEWAY_NONCE_MAX + 2];
	memset(too_long, 'n', STS_GATEWAY_NONCE_MAX + 1);
	too_long[STS_GATEWAY_NONCE_MAX + 1] = '\0';
	static const char *const bad[] = {"", "a b", "a:\n", "\x01", "\xff"};
	assert_int_equal(sts_gateway_nonce_key(NULL, out, sizeof out), -1);
	assert_string_equal(out, "");
	assert_int_equal(sts_gateway_nonce_key(too_long, out, sizeof out), -1);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(sts_gateway_nonce_key(bad[i], out, sizeof out), -1);
	assert_int_equal(sts_gateway_nonce_key("abc", NULL, 10), -1);
	assert_int_equal(sts_gateway_nonce_key("abc", out, 0), -1);
	assert_false(sts_gateway_nonce_ok(NULL));
	assert_true(sts_gateway_nonce_ok("!~"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answer),
	    cmocka_unit_test(test_signing_input_layout),
	    cmocka_unit_test(test_signing_input_refusals),
	    cmocka_unit_test(test_sign_refusals),
	    cmocka_unit_test(test_sign_verify_round_trip),
	    cmocka_unit_test(test_empty_body_round_trip),
	    cmocka_unit_test(test_verify_valid),
	    cmocka_unit_test(test_verify_uppercase_signature),
	    cmocka_unit_test(test_verify_method_case),
	    cmocka_unit_test(test_verify_skew_edges),
	    cmocka_unit_test(test_verify_leading_zeros_signed_as_sent),
	    cmocka_unit_test(test_verify_extreme_clocks),
	    cmocka_unit_test(test_verify_max_nonce),
	    cmocka_unit_test(test_refuse_missing_or_empty_headers),
	    cmocka_unit_test(test_refuse_request_id),
	    cmocka_unit_test(test_refuse_no_key),
	    cmocka_unit_test(test_refuse_other_key),
	    cmocka_unit_test(test_refuse_stale_or_future),
	    cmocka_unit_test(test_refuse_timestamp_grammar),
	    cmocka_unit_test(test_refuse_signature),
	    cmocka_unit_test(test_refuse_tampering),
	    cmocka_unit_test(test_refuse_bad_nonce),
	    cmocka_unit_test(test_refuse_bad_call),
	    cmocka_unit_test(test_why_truncated),
	    cmocka_unit_test(test_headers_present),
	    cmocka_unit_test(test_key_parsing_accepts),
	    cmocka_unit_test(test_key_parsing_refuses),
	    cmocka_unit_test(test_nonce_key),
	    cmocka_unit_test(test_nonce_key_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
