/* secret_hash.c — see secret_hash.h. */
#include "util/secret_hash.h"

#include "util/b64.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#define ARGON2_T 3
#define ARGON2_M_KIB 65536
#define ARGON2_P 2
#define ARGON2_SALT 16
#define ARGON2_HASH 32

int secret_generate(char *out, size_t cap)
{
	unsigned char raw[32];
	if (cap < SECRET_TEXT_LEN + 1 || RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	memcpy(out, "cs_", 3);
	/* 32 bytes -> 43 base64url characters, unpadded. */
	size_t n = b64url_encode(raw, sizeof raw, out + 3, cap - 3);
	OPENSSL_cleanse(raw, sizeof raw);
	return n == SECRET_TEXT_LEN - 3 ? 0 : -1;
}

int secret_hash_create(const char *secret, size_t len, char *out, size_t cap)
{
	unsigned char salt[ARGON2_SALT];
	if (RAND_bytes(salt, sizeof salt) != 1)
		return -1;
	size_t need = argon2_encodedlen(ARGON2_T, ARGON2_M_KIB, ARGON2_P, ARGON2_SALT, ARGON2_HASH,
	                                Argon2_id);
	if (need > cap)
		return -1;
	int rc = argon2id_hash_encoded(ARGON2_T, ARGON2_M_KIB, ARGON2_P, secret, len, salt,
	                               sizeof salt, ARGON2_HASH, out, cap);
	return rc == ARGON2_OK ? 0 : -1;
}

int secret_hash_verify(const char *encoded, const char *secret, size_t len)
{
	if (encoded != NULL && strncmp(encoded, "$argon2id$", 10) == 0) {
		int rc = argon2id_verify(encoded, secret, len);
		if (rc == ARGON2_OK)
			return 1;
		if (rc == ARGON2_VERIFY_MISMATCH)
			return 0;
	}
	/* Malformed or foreign hash: spend the same work, then refuse. */
	unsigned char salt[ARGON2_SALT] = {0}, hash[ARGON2_HASH];
	argon2id_hash_raw(ARGON2_T, ARGON2_M_KIB, ARGON2_P, secret, len, salt, sizeof salt, hash,
	                  sizeof hash);
	OPENSSL_cleanse(hash, sizeof hash);
	return 0;
}
