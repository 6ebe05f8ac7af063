/* mandate.c — see mandate.h. */
#include "roles/sts/mandate.h"

#include "util/arena.h"
#include "util/b64.h"

#include <stdlib.h>
#include <string.h>

static char *b64_of(caracal_arena *arena, const void *data, size_t len)
{
	size_t cap = b64url_encoded_len(len) + 1;
	char *out = arena_alloc(arena, cap);
	if (out != NULL)
		b64url_encode(data, len, out, cap);
	return out;
}

int mandate_sign(const role_deps *deps, const char *zone_id, const json_t *claims,
                 caracal_arena *arena, const char **jws, caracal_error *err)
{
	char *payload_json = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (payload_json == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot encode claims");
	char *payload = b64_of(arena, payload_json, strlen(payload_json));
	free(payload_json);
	if (payload == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");

	for (int attempt = 0; attempt < 2; attempt++) {
		caracal_signing_key key = {.size = sizeof key};
		int rc = deps->signer->current_key(deps->signer_tctx, zone_id, arena, &key, err);
		if (rc != CARACAL_OK)
			return rc;
		if (key.alg == NULL || key.kid == NULL)
			return caracal_error_set(err, CARACAL_E_INTERNAL, "signer gave no key id");
		json_t *header =
		    json_pack("{s:s, s:s, s:s}", "alg", key.alg, "kid", key.kid, "typ", "JWT");
		char *header_json =
		    header != NULL ? json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(header);
		if (header_json == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "cannot encode header");
		char *head = b64_of(arena, header_json, strlen(header_json));
		free(header_json);
		if (head == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");

		size_t hlen = strlen(head), plen = strlen(payload);
		char *input = arena_alloc(arena, hlen + 1 + plen + 1);
		if (input == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		memcpy(input, head, hlen);
		input[hlen] = '.';
		memcpy(input + hlen + 1, payload, plen + 1);

		caracal_str sig = {0};
		rc = deps->signer->sign(deps->signer_tctx, zone_id, key.kid,
		                        (const unsigned char *)input, hlen + 1 + plen, arena, &sig,
		                        err);
		if (rc == CARACAL_E_CONFLICT && attempt == 0)
			continue; /* rotated under us: take the new current key */
		if (rc != CARACAL_OK)
			return rc;
		if (sig.ptr == NULL || sig.len == 0)
			return caracal_error_set(err, CARACAL_E_INTERNAL,
			                         "signer gave no signature");
		size_t slen = b64url_encoded_len(sig.len);
		char *out = arena_alloc(arena, hlen + 1 + plen + 1 + slen + 1);
		if (out == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		memcpy(out, input, hlen + 1 + plen);
		out[hlen + 1 + plen] = '.';
		b64url_encode((const unsigned char *)sig.ptr, sig.len, out + hlen + 1 + plen + 1,
		              slen + 1);
		*jws = out;
		return CARACAL_OK;
	}
	return caracal_error_set(err, CARACAL_E_CONFLICT, "signing key kept rotating");
}
