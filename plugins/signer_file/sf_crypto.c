/*
 * sf_crypto.c — signer_file's cryptography: the CSS1 envelope, KEK rules,
 * key generation and (de)serialisation, RFC 7638 thumbprints and the
 * DER → JOSE conversion of ECDSA signatures. Everything goes through the
 * host's OSSL_LIB_CTX.
 */
#include "signer_file.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ small helpers */

int sf_zone_id_valid(const char *zone)
{
	size_t n = 0;
	if (zone == NULL || zone[0] == '\0' || zone[0] == '.')
		return 0;
	for (const char *p = zone; *p != '\0'; p++, n++) {
		char c = *p;
		if (n >= SF_ZONE_MAX)
			return 0;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == ':' || c == '@' || c == '-')
			continue;
		return 0;
	}
	return 1;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sf_kek_parse(OSSL_LIB_CTX *libctx, const char *name, const unsigned char *text, size_t len,
                 sf_kek *out, caracal_error *err)
{
	unsigned char k[SF_KEK_LEN];
	memset(out, 0, sizeof *out);
	if (len != 2 * SF_KEK_LEN)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "key '%s': must be exactly 64 hex characters (32 bytes), "
		                         "got %zu characters",
		                         name, len);
	for (size_t i = 0; i < SF_KEK_LEN; i++) {
		int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(k, sizeof k);
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "key '%s': not hexadecimal (64 hex characters "
			                         "expected)",
			                         name);
		}
		k[i] = (unsigned char)(hi << 4 | lo);
	}
	/* Weak patterns (audit-ops §4.1): one repeated byte (all-zero included),
	 * ±1 sequences, 2-byte alternation. */
	int same = 1, inc = 1, dec = 1, alt = 1;
	for (size_t i = 1; i < SF_KEK_LEN; i++) {
		same &= k[i] == k[0];
		inc &= k[i] == (unsigned char)(k[i - 1] + 1);
		dec &= k[i] == (unsigned char)(k[i - 1] - 1);
		alt &= k[i] == k[i & 1];
	}
	if (same || inc || dec || alt) {
		OPENSSL_cleanse(k, sizeof k);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "key '%s': weak key (repeated, sequential or alternating "
		                         "bytes); generate one with: openssl rand -hex 32",
		                         name);
	}
	unsigned char h[32];
	unsigned int hl = 0;
	EVP_MD *sha = EVP_MD_fetch(libctx, "SHA256", NULL);
	int ok = sha != NULL && EVP_Digest(k, sizeof k, h, &hl, sha, NULL) == 1;
	EVP_MD_free(sha);
	if (!ok) {
		OPENSSL_cleanse(k, sizeof k);
		return caracal_error_set(err, CARACAL_E_INTERNAL, "SHA-256 unavailable");
	}
	memcpy(out->key, k, sizeof k);
	memcpy(out->id, h, SF_KEK_ID_LEN);
	out->set = 1;
	OPENSSL_cleanse(k, sizeof k);
	return CARACAL_OK;
}

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t sf_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64u[v >> 18 & 63];
		out[o++] = b64u[v >> 12 & 63];
		out[o++] = b64u[v >> 6 & 63];
		out[o++] = b64u[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64u[v >> 18 & 63];
		out[o++] = b64u[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64u[v >> 18 & 63];
		out[o++] = b64u[v >> 12 & 63];
		out[o++] = b64u[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64u_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long sf_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64u_val(in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* Leftover bits must be zero (canonical encoding). */
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

/* ------------------------------------------------------------ JOSE ECDSA */

/* One DER INTEGER at *p (strict): writes its magnitude left-padded to half
 * bytes into out. */
static int der_int(const unsigned char **p, const unsigned char *end, size_t half,
                   unsigned char *out)
{
	const unsigned char *q = *p;
	if (end - q < 2 || q[0] != 0x02)
		return -1;
	size_t len = q[1];
	if (len >= 0x80 || len == 0 || (size_t)(end - q - 2) < len)
		return -1;
	q += 2;
	if (q[0] & 0x80)
		return -1; /* negative */
	if (len > 1 && q[0] == 0 && !(q[1] & 0x80))
		return -1; /* non-minimal */
	if (q[0] == 0) {
		q++;
		len--;
	}
	if (len > half)
		return -1;
	memset(out, 0, half - len);
	memcpy(out + (half - len), q, len);
	*p = q + len;
	return 0;
}

int sf_ecdsa_der_to_jose(const unsigned char *der, size_t der_len, size_t half, unsigned char *out)
{
	const unsigned char *p = der, *end = der + der_len;
	if (der_len < 8 || p[0] != 0x30)
		return -1;
	size_t seq;
	if (p[1] < 0x80) {
		seq = p[1];
		p += 2;
	} else if (p[1] == 0x81) {
		seq = p[2];
		if (seq < 0x80)
			return -1; /* non-minimal length */
		p += 3;
	} else {
		return -1;
	}
	if ((size_t)(end - p) != seq)
		return -1;
	if (der_int(&p, end, half, out) != 0 || der_int(&p, end, half, out + half) != 0)
		return -1;
	return p == end ? 0 : -1;
}

/* ------------------------------------------------------------ CSS1 envelope */

static const char dek_aad[] = "caracal.css1.dek";

static int aead_seal(EVP_CIPHER *aead, const unsigned char *key, const unsigned char *nonce,
                     const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t n,
                     unsigned char *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl = 0,
	    ok = c != NULL && n <= INT32_MAX && aad_len <= INT32_MAX &&
	         EVP_EncryptInit_ex2(c, aead, key, nonce, NULL) == 1 &&
	         (aad_len == 0 || EVP_EncryptUpdate(c, NULL, &outl, aad, (int)aad_len) == 1) &&
	         (n == 0 || EVP_EncryptUpdate(c, out, &outl, in, (int)n) == 1) &&
	         EVP_EncryptFinal_ex(c, out + n, &outl) == 1 &&
	         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + n) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static int aead_open(EVP_CIPHER *aead, const unsigned char *key, const unsigned char *nonce,
                     const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t n,
                     unsigned char *out)
{
	/* in holds n bytes of ciphertext followed by the 16-byte tag. */
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char tag[16];
	memcpy(tag, in + n, 16);
	int outl = 0,
	    ok = c != NULL && n <= INT32_MAX && aad_len <= INT32_MAX &&
	         EVP_DecryptInit_ex2(c, aead, key, nonce, NULL) == 1 &&
	         (aad_len == 0 || EVP_DecryptUpdate(c, NULL, &outl, aad, (int)aad_len) == 1) &&
	         (n == 0 || EVP_DecryptUpdate(c, out, &outl, in, (int)n) == 1) &&
	         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1 &&
	         EVP_DecryptFinal_ex(c, out + n, &outl) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int sf_seal(OSSL_LIB_CTX *libctx, EVP_CIPHER *aead, const sf_kek *kek, const unsigned char *aad,
            size_t aad_len, const unsigned char *plain, size_t plain_len, unsigned char **out,
            size_t *out_len, caracal_error *err)
{
	unsigned char dek[32];
	size_t n = SF_CSS1_OVERHEAD + plain_len;
	unsigned char *e = OPENSSL_malloc(n);
	if (e == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	unsigned char *p = e;
	memcpy(p, SF_CSS1_MAGIC, 4);
	p += 4;
	memcpy(p, kek->id, SF_KEK_ID_LEN);
	p += SF_KEK_ID_LEN;
	unsigned char *dek_nonce = p, *val_nonce = p + 12 + 48;
	if (RAND_bytes_ex(libctx, dek, sizeof dek, 256) != 1 ||
	    RAND_bytes_ex(libctx, dek_nonce, 12, 0) != 1 ||
	    RAND_bytes_ex(libctx, val_nonce, 12, 0) != 1) {
		OPENSSL_free(e);
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "random generator failed");
	}
	int rc = aead_seal(aead, kek->key, dek_nonce, (const unsigned char *)dek_aad,
	                   sizeof dek_aad - 1, dek, sizeof dek, dek_nonce + 12);
	if (rc == 0)
		rc =
		    aead_seal(aead, dek, val_nonce, aad, aad_len, plain, plain_len, val_nonce + 12);
	OPENSSL_cleanse(dek, sizeof dek);
	if (rc != 0) {
		OPENSSL_clear_free(e, n);
		return caracal_error_set(err, CARACAL_E_INTERNAL, "ChaCha20-Poly1305 seal failed");
	}
	*out = e;
	*out_len = n;
	return CARACAL_OK;
}

int sf_open(EVP_CIPHER *aead, const sf_kek *keks, size_t nkeks, const unsigned char *aad,
            size_t aad_len, const unsigned char *env, size_t env_len, unsigned char **plain,
            size_t *plain_len, caracal_error *err)
{
	if (env_len < SF_CSS1_OVERHEAD || memcmp(env, SF_CSS1_MAGIC, 4) != 0)
		return caracal_error_set(err, CARACAL_E_INTEGRITY, "not a CSS1 envelope");
	const sf_kek *kek = NULL;
	for (size_t i = 0; i < nkeks; i++)
		if (keks[i].set && memcmp(keks[i].id, env + 4, SF_KEK_ID_LEN) == 0)
			kek = &keks[i];
	if (kek == NULL) {
		char hex[2 * SF_KEK_ID_LEN + 1];
		for (size_t i = 0; i < SF_KEK_ID_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", env[4 + i]);
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "sealed under KEK id %s, which is neither 'kek' nor "
		                         "'kek_previous' (wrong KEK?)",
		                         hex);
	}
	const unsigned char *dek_nonce = env + 4 + SF_KEK_ID_LEN;
	const unsigned char *val_nonce = dek_nonce + 12 + 48;
	size_t n = env_len - SF_CSS1_OVERHEAD;
	unsigned char dek[48];
	unsigned char *out = OPENSSL_malloc(n + 16);
	if (out == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	int rc = aead_open(aead, kek->key, dek_nonce, (const unsigned char *)dek_aad,
	                   sizeof dek_aad - 1, dek_nonce + 12, 32, dek);
	if (rc == 0)
		rc = aead_open(aead, dek, val_nonce, aad, aad_len, val_nonce + 12, n, out);
	OPENSSL_cleanse(dek, sizeof dek);
	if (rc != 0) {
		OPENSSL_clear_free(out, n + 16);
		return caracal_error_set(
		    err, CARACAL_E_INTEGRITY,
		    "sealed key failed authentication (tampered, or moved from "
		    "another zone or key id)");
	}
	*plain = out;
	*plain_len = n;
	return CARACAL_OK;
}

/* ------------------------------------------------------------ keys */

static const char *const alg_names[] = {"ES256", "EdDSA", "RS256", "PS256"};

const char *sf_alg_name(sf_alg alg)
{
	return (unsigned)alg < 4 ? alg_names[alg] : "?";
}

int sf_alg_parse(const char *name, sf_alg *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(name, alg_names[i]) == 0) {
			*out = (sf_alg)i;
			return 0;
		}
	return -1;
}

int sf_key_generate(OSSL_LIB_CTX *libctx, sf_alg alg, EVP_PKEY **out, caracal_error *err)
{
	const char *type = alg == SF_ALG_ES256 ? "EC" : alg == SF_ALG_EDDSA ? "ED25519" : "RSA";
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(libctx, type, NULL);
	*out = NULL;
	int ok = c != NULL && EVP_PKEY_keygen_init(c) == 1;
	if (ok && alg == SF_ALG_ES256)
		ok = EVP_PKEY_CTX_set_group_name(c, "P-256") == 1;
	if (ok && (alg == SF_ALG_RS256 || alg == SF_ALG_PS256))
		ok = EVP_PKEY_CTX_set_rsa_keygen_bits(c, 3072) == 1;
	ok = ok && EVP_PKEY_generate(c, out) == 1;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "%s key generation failed",
		                         sf_alg_name(alg));
	return CARACAL_OK;
}

int sf_key_check(EVP_PKEY *pkey, sf_alg alg, caracal_error *err)
{
	char group[64] = "";
	size_t gl = 0;
	switch (alg) {
	case SF_ALG_ES256:
		if (!EVP_PKEY_is_a(pkey, "EC") ||
		    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                   sizeof group, &gl) != 1 ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
			return caracal_error_set(
			    err, CARACAL_E_INVAL, "ES256 needs a P-256 EC key, got %s%s%s",
			    EVP_PKEY_get0_type_name(pkey), gl ? " " : "", group);
		return CARACAL_OK;
	case SF_ALG_EDDSA:
		if (!EVP_PKEY_is_a(pkey, "ED25519"))
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "EdDSA needs an Ed25519 key, got %s",
			                         EVP_PKEY_get0_type_name(pkey));
		return CARACAL_OK;
	case SF_ALG_RS256:
	case SF_ALG_PS256:
		if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < 2048)
			return caracal_error_set(
			    err, CARACAL_E_INVAL,
			    "%s needs an RSA key of at least 2048 bits, got %s "
			    "(%d bits)",
			    sf_alg_name(alg), EVP_PKEY_get0_type_name(pkey),
			    EVP_PKEY_get_bits(pkey));
		return CARACAL_OK;
	}
	return caracal_error_set(err, CARACAL_E_INVAL, "unknown algorithm");
}

int sf_key_to_der(EVP_PKEY *pkey, unsigned char **der, size_t *der_len, caracal_error *err)
{
	OSSL_ENCODER_CTX *e =
	    OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", NULL);
	*der = NULL;
	*der_len = 0;
	int ok = e != NULL && OSSL_ENCODER_CTX_get_num_encoders(e) > 0 &&
	         OSSL_ENCODER_to_data(e, der, der_len) == 1;
	OSSL_ENCODER_CTX_free(e);
	if (!ok)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "cannot encode the private key");
	return CARACAL_OK;
}

static int no_passphrase(char *pass, size_t size, size_t *len, const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)size;
	(void)params;
	(void)arg;
	*len = 0;
	return 0;
}

static int decode(OSSL_LIB_CTX *libctx, const char *input, const char *structure,
                  const unsigned char *data, size_t len, EVP_PKEY **out)
{
	EVP_PKEY *pk = NULL;
	OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&pk, input, structure, NULL,
	                                                    EVP_PKEY_KEYPAIR, libctx, NULL);
	const unsigned char *p = data;
	size_t left = len;
	int ok = d != NULL && OSSL_DECODER_CTX_get_num_decoders(d) > 0 &&
	         OSSL_DECODER_CTX_set_passphrase_cb(d, no_passphrase, NULL) == 1 &&
	         OSSL_DECODER_from_data(d, &p, &left) == 1 && pk != NULL;
	OSSL_DECODER_CTX_free(d);
	if (!ok || (strcmp(input, "DER") == 0 && left != 0)) {
		EVP_PKEY_free(pk);
		return -1;
	}
	*out = pk;
	return 0;
}

int sf_key_from_der(OSSL_LIB_CTX *libctx, const unsigned char *der, size_t der_len, EVP_PKEY **out,
                    caracal_error *err)
{
	*out = NULL;
	if (decode(libctx, "DER", "PrivateKeyInfo", der, der_len, out) != 0)
		return caracal_error_set(err, CARACAL_E_INTEGRITY,
		                         "the sealed value is not a PKCS#8 private key");
	return CARACAL_OK;
}

int sf_key_from_pem(OSSL_LIB_CTX *libctx, const unsigned char *pem, size_t pem_len, EVP_PKEY **out,
                    caracal_error *err)
{
	*out = NULL;
	if (decode(libctx, "PEM", NULL, pem, pem_len, out) != 0)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "not an unencrypted PEM private key (EC, Ed25519 or RSA)");
	return CARACAL_OK;
}

/* base64url of a BIGNUM param, at least pad bytes (left-padded) or minimal. */
static int bn_b64(EVP_PKEY *pkey, const char *param, size_t pad, char *out, size_t cap)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		return -1;
	int n = BN_num_bytes(bn);
	if (n <= 0 || (size_t)n > sizeof buf || pad > sizeof buf) {
		BN_free(bn);
		return -1;
	}
	size_t len = pad > (size_t)n ? pad : (size_t)n;
	if (BN_bn2binpad(bn, buf, (int)len) < 0 || 4 * ((len + 2) / 3) + 1 > cap) {
		BN_free(bn);
		return -1;
	}
	BN_free(bn);
	sf_b64url_encode(buf, len, out);
	return 0;
}

int sf_key_describe(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, sf_alg alg, char kid[SF_KID_MAX],
                    char **jwk, caracal_error *err)
{
	char a[700], b[700], canon[1600];
	int n;
	if (jwk != NULL)
		*jwk = NULL;
	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32, a, sizeof a) != 0 ||
		    bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b, sizeof b) != 0)
			return caracal_error_set(err, CARACAL_E_INTERNAL,
			                         "cannot read the EC point");
		n = snprintf(canon, sizeof canon,
		             "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a, b);
	} else if (EVP_PKEY_is_a(pkey, "ED25519")) {
		unsigned char pub[32];
		size_t pl = 0;
		if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub,
		                                    &pl) != 1 ||
		    pl != 32)
			return caracal_error_set(err, CARACAL_E_INTERNAL,
			                         "cannot read the Ed25519 public key");
		sf_b64url_encode(pub, pl, a);
		n = snprintf(canon, sizeof canon,
		             "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", a);
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (bn_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, a, sizeof a) != 0 ||
		    bn_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, b, sizeof b) != 0)
			return caracal_error_set(
			    err, CARACAL_E_INTERNAL,
			    "cannot read the RSA public key (at most 4096 bits)");
		n = snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b,
		             a);
	} else {
		return caracal_error_set(err, CARACAL_E_INVAL, "unsupported key type %s",
		                         EVP_PKEY_get0_type_name(pkey));
	}
	if (n < 0 || (size_t)n >= sizeof canon)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "JWK too long");
	unsigned char h[32];
	unsigned int hl = 0;
	EVP_MD *sha = EVP_MD_fetch(libctx, "SHA256", NULL);
	int ok = sha != NULL && EVP_Digest(canon, (size_t)n, h, &hl, sha, NULL) == 1;
	EVP_MD_free(sha);
	if (!ok)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "SHA-256 unavailable");
	sf_b64url_encode(h, 32, kid);
	if (jwk == NULL)
		return CARACAL_OK;
	/* The published JWK: the canonical members plus kid, alg, use. */
	size_t cap = (size_t)n + SF_KID_MAX + 64;
	char *j = malloc(cap);
	if (j == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	snprintf(j, cap, "%.*s,\"kid\":\"%s\",\"alg\":\"%s\",\"use\":\"sig\"}", n - 1, canon, kid,
	         sf_alg_name(alg));
	*jwk = j;
	return CARACAL_OK;
}
