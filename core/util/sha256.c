/* sha256.c — see sha256.h. */
#include "util/sha256.h"

#include "util/hex.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *md;   /* never freed: lives as long as the process */
static EVP_MAC *mac; /* idem */

static void fetch(void)
{
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int sha256_digest(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
	pthread_once(&fetch_once, fetch);
	unsigned int n = SHA256_LEN;
	if (md == NULL || EVP_Digest(len > 0 ? data : "", len, out, &n, md, NULL) != 1 ||
	    n != SHA256_LEN)
		return -1;
	return 0;
}

int sha256_hex(const void *data, size_t len, char out[2 * SHA256_LEN + 1])
{
	unsigned char digest[SHA256_LEN];
	if (sha256_digest(data, len, digest) != 0)
		return -1;
	hex_encode(digest, SHA256_LEN, out);
	return 0;
}

struct sha256_hmac_key {
	EVP_MAC_CTX *tmpl; /* keyed, never updated: duplicated per call */
};

sha256_hmac_key *sha256_hmac_key_new(const void *key, size_t key_len)
{
	pthread_once(&fetch_once, fetch);
	if (mac == NULL)
		return NULL;
	sha256_hmac_key *k = calloc(1, sizeof *k);
	if (k == NULL)
		return NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	k->tmpl = EVP_MAC_CTX_new(mac);
	if (k->tmpl == NULL || EVP_MAC_init(k->tmpl, key, key_len, params) != 1) {
		sha256_hmac_key_free(k);
		return NULL;
	}
	return k;
}

void sha256_hmac_key_free(sha256_hmac_key *k)
{
	if (k == NULL)
		return;
	EVP_MAC_CTX_free(k->tmpl);
	free(k);
}

int sha256_hmac(const sha256_hmac_key *k, const void *data, size_t len,
                unsigned char out[SHA256_LEN])
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->tmpl);
	size_t n = 0;
	int ok = c != NULL && EVP_MAC_update(c, data, len) == 1 &&
	         EVP_MAC_final(c, out, &n, SHA256_LEN) == 1 && n == SHA256_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}
