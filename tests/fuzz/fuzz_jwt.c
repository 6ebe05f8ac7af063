/* libFuzzer target: the JWT parser and verifiers (our mandates and
 * federated id_tokens) and the federated subject rules. The first byte picks
 * how the input is used: as a token verified against a fixed JWKS, or split
 * into a token and a JWKS document. Nothing may crash or leak, nothing built
 * from fuzz bytes may verify against the fixed keys, and a subject the rules
 * accept is non-empty, at most 512 bytes, free of C0 controls, and never in
 * the caracal: namespace. */
#include "roles/sts/idtoken.h"
#include "roles/sts/jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\",\"alg\":\"ES256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k2\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	size_t n = size - 1;
	const char *token = copy;
	size_t token_len = n;
	const char *jwks = fixed_jwks;
	size_t jwks_len = sizeof fixed_jwks - 1;
	if (data[0] & 1) {
		char *sep = memchr(copy, '\n', n);
		if (sep != NULL) {
			token_len = (size_t)(sep - copy);
			jwks = sep + 1;
			jwks_len = n - token_len - 1;
		}
	}
	jwt j;
	char why[128];
	if (jwt_parse(token, token_len, &j, why, sizeof why) == 0) {
		int ok = jwt_verify_signature(&j, token, jwks, jwks_len, why, sizeof why);
		if (ok == 0 && jwks == fixed_jwks)
			abort(); /* a forged signature verified */
		jwt_check_claims(&j, "http://127.0.0.1:8080", "z1", "session", 1800000000, why,
		                 sizeof why);
		ok = sts_idtoken_verify(&j, token, jwks, jwks_len, "https://idp", "aud", 1800000000,
		                        why, sizeof why);
		if (ok == 0 && jwks == fixed_jwks)
			abort(); /* a forged id_token verified */
		jwt_free(&j);
	}
	if (sts_subject_acceptable(token, token_len, why, sizeof why) == 0) {
		if (token_len == 0 || token_len > STS_SUBJECT_MAX ||
		    (token_len >= 8 && memcmp(token, "caracal:", 8) == 0))
			abort();
		for (size_t i = 0; i < token_len; i++)
			if ((unsigned char)token[i] < 0x20)
				abort();
	}
	free(copy);
	return 0;
}
