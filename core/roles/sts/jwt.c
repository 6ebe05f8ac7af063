/* jwt.c — see jwt.h. */
#include "roles/sts/jwt.h"

#include "util/why.h"

#include "util/b64.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *decode_json_part(const char *p, size_t n)
{
	unsigned char buf[JWT_MAX_TOKEN];
	long len = b64url_decode(p, n, buf, sizeof buf);
	if (len <= 0)
		return NULL;
	json_error_t je;
	json_t *v = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &je);
	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

void jwt_free(jwt *j)
{
	json_decref(j->header);
	json_decref(j->claims);
	free(j->signature);
	memset(j, 0, sizeof *j);
}

int jwt_parse(const char *token, size_t len, jwt *out, char *why, size_t why_cap)
{
	memset(out, 0, sizeof *out);
	if (len == 0 || len > JWT_MAX_TOKEN)
		return why_fail(why, why_cap, "token length out of bounds");
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		return why_fail(why, why_cap, "not a compact JWS");
	out->header = decode_json_part(token, (size_t)(d1 - token));
	out->claims = decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1));
	if (out->header == NULL || out->claims == NULL) {
		jwt_free(out);
		return why_fail(why, why_cap, "malformed header or claims");
	}
	out->alg = json_string_value(json_object_get(out->header, "alg"));
	out->kid = json_string_value(json_object_get(out->header, "kid"));
	if (out->alg == NULL) {
		jwt_free(out);
		return why_fail(why, why_cap, "no alg");
	}
	if (json_object_get(out->header, "crit") != NULL) {
		jwt_free(out);
		return why_fail(why, why_cap, "unsupported crit header");
	}
	size_t slen = len - (size_t)(d2 + 1 - token);
	out->signature = malloc(slen + 1);
	long n =
	    out->signature != NULL ? b64url_decode(d2 + 1, slen, out->signature, slen + 1) : -1;
	if (n <= 0) {
		jwt_free(out);
		return why_fail(why, why_cap, "malformed signature");
	}
	out->signature_len = (size_t)n;
	out->signing_input_len = (size_t)(d2 - token);
	return 0;
}

/* ---- keys ----------------------------------------------------------------- */

static long b64_field(const json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(jwk, name));
	if (v == NULL)
		return -1;
	return b64url_decode(v, strlen(v), out, cap);
}

/* An EC coordinate as exactly half bytes. RFC 7518 wants the full width,
 * but some encoders drop leading zero bytes (for P-521 half the time): a
 * shorter value is left-padded, a longer one refused; the point is checked
 * to be on its curve afterwards either way. */
static int coordinate(const json_t *jwk, const char *name, unsigned char *out, size_t half)
{
	unsigned char buf[80];
	long n = b64_field(jwk, name, buf, sizeof buf);
	if (n <= 0 || (size_t)n > half)
		return -1;
	memset(out, 0, half - (size_t)n);
	memcpy(out + half - (size_t)n, buf, (size_t)n);
	return 0;
}

static EVP_PKEY *key_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *jwk_to_key(const json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL)
		return NULL;
	if (strcmp(kty, "EC") == 0) {
		const char *crv = json_string_value(json_object_get(jwk, "crv"));
		size_t half = crv == NULL                 ? 0
		              : strcmp(crv, "P-256") == 0 ? 32
		              : strcmp(crv, "P-384") == 0 ? 48
		              : strcmp(crv, "P-521") == 0 ? 66
		                                          : 0;
		unsigned char pub[1 + 2 * 66];
		if (half == 0)
			return NULL;
		pub[0] = 0x04; /* uncompressed point */
		if (coordinate(jwk, "x", pub + 1, half) != 0 ||
		    coordinate(jwk, "y", pub + 1 + half, half) != 0)
			return NULL;
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		EVP_PKEY *k = NULL;
		if (bld != NULL &&
		    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
		                                     1 + 2 * half))
			k = key_from_params("EC", bld);
		OSSL_PARAM_BLD_free(bld);
		/* Import decodes the point; the explicit check makes "on the curve"
		 * a stated property rather than an import detail. */
		EVP_PKEY_CTX *chk = k != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL) : NULL;
		if (k != NULL && (chk == NULL || EVP_PKEY_public_check(chk) != 1)) {
			EVP_PKEY_free(k);
			k = NULL;
		}
		EVP_PKEY_CTX_free(chk);
		return k;
	}
	if (strcmp(kty, "OKP") == 0) {
		const char *crv = json_string_value(json_object_get(jwk, "crv"));
		unsigned char x[32];
		if (crv == NULL || strcmp(crv, "Ed25519") != 0 || b64_field(jwk, "x", x, 32) != 32)
			return NULL;
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof x);
	}
	if (strcmp(kty, "RSA") == 0) {
		unsigned char n[1024], e[16];
		long nl = b64_field(jwk, "n", n, sizeof n), el = b64_field(jwk, "e", e, sizeof e);
		if (nl < 256 || el <= 0 || el > 4) /* at least 2048-bit moduli */
			return NULL;
		/* e in [3, 2^31 - 1] (spec sts.md §2.11): an even or tiny exponent
		 * is a broken or hostile key. */
		uint64_t ev = 0;
		for (long i = 0; i < el; i++)
			ev = ev << 8 | e[i];
		if (ev < 3 || ev > 0x7fffffffu || (ev & 1) == 0)
			return NULL;
		BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		EVP_PKEY *k = NULL;
		if (bn != NULL && be != NULL && bld != NULL &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
			k = key_from_params("RSA", bld);
		OSSL_PARAM_BLD_free(bld);
		BN_free(bn);
		BN_free(be);
		return k;
	}
	return NULL;
}

/* JOSE ECDSA r||s (each half bytes) -> DER for EVP. */
static unsigned char *ecdsa_der(const unsigned char *sig, size_t len, size_t half, size_t *der_len)
{
	if (len != 2 * half)
		return NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
	unsigned char *der = NULL;
	if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL; /* owned by es now */
		int n = i2d_ECDSA_SIG(es, &der);
		*der_len = n > 0 ? (size_t)n : 0;
		if (n <= 0)
			der = NULL;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return der;
}

/* What an algorithm name commits the verifier to. */
typedef struct jose_alg {
	const char *name;
	const char *kty;
	const char *crv;    /* EC/OKP: the only curve allowed; NULL for RSA */
	const char *digest; /* NULL: EdDSA (no pre-hash) */
	size_t ec_half;     /* ECDSA: bytes of r (and of s) */
	int pss;
} jose_alg;

/* Caracal's own mandates: what signer plugins issue. */
static const jose_alg mandate_algs[] = {
    {"ES256", "EC", "P-256", "SHA256", 32, 0},
    {"EdDSA", "OKP", "Ed25519", NULL, 0, 0},
    {"RS256", "RSA", NULL, "SHA256", 0, 0},
    {"PS256", "RSA", NULL, "SHA256", 0, 1},
    {NULL, NULL, NULL, NULL, 0, 0},
};

/* Federated id_tokens (spec sts.md §2.11). */
static const jose_alg federation_algs[] = {
    {"RS256", "RSA", NULL, "SHA256", 0, 0},
    {"RS384", "RSA", NULL, "SHA384", 0, 0},
    {"RS512", "RSA", NULL, "SHA512", 0, 0},
    {"ES256", "EC", "P-256", "SHA256", 32, 0},
    {"ES384", "EC", "P-384", "SHA384", 48, 0},
    {"ES512", "EC", "P-521", "SHA512", 66, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static int verify_with(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                       const jose_alg *algs, int foreign, char *why, size_t why_cap)
{
	if (j->kid == NULL)
		return why_fail(why, why_cap, "no kid");
	const jose_alg *a = algs;
	while (a->name != NULL && strcmp(a->name, j->alg) != 0)
		a++;
	if (a->name == NULL)
		return why_fail(why, why_cap, "algorithm %.16s not accepted", j->alg);

	json_error_t je;
	json_t *set = json_loadb(jwks, jwks_len, 0, &je);
	json_t *keys = json_object_get(set, "keys");
	json_t *jwk = NULL;
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k)
	{
		const char *kid = json_string_value(json_object_get(k, "kid"));
		if (kid != NULL && strcmp(kid, j->kid) == 0) {
			jwk = k;
			break;
		}
	}
	if (jwk == NULL) {
		json_decref(set);
		return why_fail(why, why_cap, "unknown kid");
	}
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *kalg = json_string_value(json_object_get(jwk, "alg"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	const json_t *use = json_object_get(jwk, "use");
	if (kty == NULL || strcmp(kty, a->kty) != 0 ||
	    (kalg != NULL && strcmp(kalg, j->alg) != 0) ||
	    (a->crv != NULL && (crv == NULL || strcmp(crv, a->crv) != 0))) {
		json_decref(set);
		return why_fail(why, why_cap, "algorithm does not match the key");
	}
	/* A foreign key marked for encryption is not a signing key. */
	if (foreign && use != NULL &&
	    (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
		json_decref(set);
		return why_fail(why, why_cap, "key is not for signatures");
	}
	EVP_PKEY *pkey = jwk_to_key(jwk);
	json_decref(set);
	if (pkey == NULL)
		return why_fail(why, why_cap, "unusable key");

	int ok = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const unsigned char *sig = j->signature;
	size_t sig_len = j->signature_len;
	unsigned char *der = NULL;
	if (a->ec_half > 0) {
		der = ecdsa_der(j->signature, j->signature_len, a->ec_half, &sig_len);
		sig = der;
	}
	if (md != NULL && sig != NULL &&
	    EVP_DigestVerifyInit_ex(md, &pctx, a->digest, NULL, NULL, pkey, NULL) == 1) {
		if (a->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
			goto done;
		ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)token,
		                      j->signing_input_len) == 1;
	}
done:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return ok ? 0 : why_fail(why, why_cap, "bad signature");
}

int jwt_verify_signature(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                         char *why, size_t why_cap)
{
	return verify_with(j, token, jwks, jwks_len, mandate_algs, 0, why, why_cap);
}

int jwt_verify_federated(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                         char *why, size_t why_cap)
{
	return verify_with(j, token, jwks, jwks_len, federation_algs, 1, why, why_cap);
}

int jwt_check_times(const jwt *j, int64_t now_s, char *why, size_t why_cap)
{
	const json_t *c = j->claims;
	const json_t *exp = json_object_get(c, "exp");
	if (!json_is_integer(exp))
		return why_fail(why, why_cap, "no exp");
	if (json_integer_value(exp) + JWT_LEEWAY_S <= now_s)
		return why_fail(why, why_cap, "expired");
	const json_t *iat = json_object_get(c, "iat");
	if (iat != NULL &&
	    (!json_is_integer(iat) || json_integer_value(iat) > now_s + JWT_LEEWAY_S))
		return why_fail(why, why_cap, "issued in the future");
	const json_t *nbf = json_object_get(c, "nbf");
	if (nbf != NULL &&
	    (!json_is_integer(nbf) || json_integer_value(nbf) > now_s + JWT_LEEWAY_S))
		return why_fail(why, why_cap, "not yet valid");
	return 0;
}

int jwt_check_claims(const jwt *j, const char *issuer, const char *zone, const char *expected_use,
                     int64_t now_s, char *why, size_t why_cap)
{
	const json_t *c = j->claims;
	const char *iss = json_string_value(json_object_get(c, "iss"));
	if (iss == NULL || strcmp(iss, issuer) != 0)
		return why_fail(why, why_cap, "wrong issuer");
	const json_t *aud = json_object_get(c, "aud");
	int aud_ok = json_is_string(aud) && strcmp(json_string_value(aud), issuer) == 0;
	if (json_is_array(aud)) {
		size_t i;
		json_t *a;
		json_array_foreach(aud, i, a) if (json_is_string(a) &&
		                                  strcmp(json_string_value(a), issuer) == 0)
		    aud_ok = 1;
	}
	if (!aud_ok)
		return why_fail(why, why_cap, "wrong audience");
	if (jwt_check_times(j, now_s, why, why_cap) != 0)
		return -1;
	const char *z = json_string_value(json_object_get(c, "zone_id"));
	if (z == NULL || strcmp(z, zone) != 0)
		return why_fail(why, why_cap, "wrong zone");
	const char *use = json_string_value(json_object_get(c, "use"));
	if (use == NULL || strcmp(use, expected_use) != 0)
		return why_fail(why, why_cap, "wrong use");
	return 0;
}
