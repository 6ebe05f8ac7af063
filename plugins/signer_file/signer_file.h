/*
 * signer_file.h — internals of the signer_file plugin: per-zone signing keys
 * sealed at rest under a KEK, in a keystore directory of plain files.
 *
 * Only module.c's descriptor is exported from the .so; these declarations
 * exist so the unit tests can link libsigner_file_impl.la directly.
 */
#ifndef SIGNER_FILE_H
#define SIGNER_FILE_H

#include <caracal/plugin.h>

#include <openssl/evp.h>

/* ------------------------------------------------------------ sf_crypto.c */

#define SF_KEK_LEN 32
#define SF_KEK_ID_LEN 8
#define SF_KID_MAX 64   /* a SHA-256 thumbprint is 43 base64url characters */
#define SF_ZONE_MAX 128 /* zone ids: [A-Za-z0-9._:@-]{1,128}, no leading '.' */

/* The CSS1 envelope (audit-ops §4.1):
 * "CSS1" | kekId(8) | dekNonce(12) | AEAD_KEK(DEK, "caracal.css1.dek")(32+16) |
 * valNonce(12) | AEAD_DEK(value, aad)(n+16), AEAD = ChaCha20-Poly1305. */
#define SF_CSS1_MAGIC "CSS1"
#define SF_CSS1_OVERHEAD (4 + SF_KEK_ID_LEN + 12 + 32 + 16 + 12 + 16)

typedef struct sf_kek {
	int set;
	unsigned char key[SF_KEK_LEN];
	unsigned char id[SF_KEK_ID_LEN]; /* SHA-256(key)[0:8] */
} sf_kek;

/* 1 when zone is a valid zone id. */
int sf_zone_id_valid(const char *zone);

/* Parse a KEK given as exactly 64 hex characters; rejects weak keys (one
 * repeated byte, ±1 sequences, 2-byte alternation). name is the config key,
 * for messages (which never contain the value). */
int sf_kek_parse(OSSL_LIB_CTX *libctx, const char *name, const unsigned char *text, size_t len,
                 sf_kek *out, caracal_error *err);

/* base64url without padding. encode: out needs 4*((n+2)/3)+1 bytes and gets a
 * NUL; returns the length. decode: -1 on invalid input or overflow. */
size_t sf_b64url_encode(const unsigned char *in, size_t n, char *out);
long sf_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* DER ECDSA-Sig-Value → JOSE r||s, each left-padded to half bytes. Strict DER
 * (minimal lengths, minimal and positive integers). 0 ok, -1 malformed. */
int sf_ecdsa_der_to_jose(const unsigned char *der, size_t der_len, size_t half, unsigned char *out);

/* Seal/open a value in a CSS1 envelope. seal uses kek; open routes by the kek
 * id among keks[0..nkeks). *out (seal) / *plain (open) are OPENSSL_malloc'ed;
 * the caller frees plaintext with OPENSSL_clear_free. open returns UNAVAIL
 * when no KEK has the envelope's id, INTEGRITY when it fails to verify. */
int sf_seal(OSSL_LIB_CTX *libctx, EVP_CIPHER *aead, const sf_kek *kek, const unsigned char *aad,
            size_t aad_len, const unsigned char *plain, size_t plain_len, unsigned char **out,
            size_t *out_len, caracal_error *err);
int sf_open(EVP_CIPHER *aead, const sf_kek *keks, size_t nkeks, const unsigned char *aad,
            size_t aad_len, const unsigned char *env, size_t env_len, unsigned char **plain,
            size_t *plain_len, caracal_error *err);

/* JOSE algorithms. */
typedef enum sf_alg {
	SF_ALG_ES256 = 0,
	SF_ALG_EDDSA = 1,
	SF_ALG_RS256 = 2,
	SF_ALG_PS256 = 3,
} sf_alg;

const char *sf_alg_name(sf_alg alg);
int sf_alg_parse(const char *name, sf_alg *out);

/* A fresh private key for alg (P-256, Ed25519, RSA 3072). */
int sf_key_generate(OSSL_LIB_CTX *libctx, sf_alg alg, EVP_PKEY **out, caracal_error *err);

/* Whether pkey can sign as alg (P-256 for ES256, Ed25519, RSA ≥ 2048). */
int sf_key_check(EVP_PKEY *pkey, sf_alg alg, caracal_error *err);

/* PKCS#8 DER of the private key (OPENSSL_malloc'ed: OPENSSL_clear_free it),
 * and back. */
int sf_key_to_der(EVP_PKEY *pkey, unsigned char **der, size_t *der_len, caracal_error *err);
int sf_key_from_der(OSSL_LIB_CTX *libctx, const unsigned char *der, size_t der_len, EVP_PKEY **out,
                    caracal_error *err);
/* A PEM private key (SEC1, PKCS#1 or unencrypted PKCS#8). */
int sf_key_from_pem(OSSL_LIB_CTX *libctx, const unsigned char *pem, size_t pem_len, EVP_PKEY **out,
                    caracal_error *err);

/* The RFC 7638 thumbprint of pkey's public key into kid (base64url SHA-256
 * of the canonical JSON of the required members); with jwk != NULL also the
 * public JWK {"kty",...,"kid","alg","use":"sig"} (malloc'ed). */
int sf_key_describe(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, sf_alg alg, char kid[SF_KID_MAX],
                    char **jwk, caracal_error *err);

/* ------------------------------------------------------------ signer_file.c */

extern const caracal_cfg_key sf_config_schema[];
extern const caracal_signer_ops sf_signer_ops;

int sf_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err);
int sf_instance_ready(void *instance, caracal_error *err);
void sf_instance_destroy(void *instance);
int sf_thread_create(void *instance, void **tctx, caracal_error *err);
void sf_thread_destroy(void *instance, void *tctx);

#endif
