/* mandate.c — see mandate.h. */
#include "roles/sts/mandate.h"

#include "util/arena.h"
#include "util/b64.h"
#include "util/jsonw.h"

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

void mandate_claims_write(const mandate_claims *c, jsonw *w)
{
	jsonw_object_begin(w);
	jsonw_kstr(w, "iss", c->iss);
	jsonw_kstr(w, "sub", c->sub);
	jsonw_key(w, "aud");
	jsonw_str_array(w, c->aud, c->aud_count);
	jsonw_kint(w, "exp", c->exp);
	jsonw_kint(w, "iat", c->iat);
	jsonw_kstr(w, "jti", c->jti);
	jsonw_kstr(w, "zone_id", c->zone_id);
	jsonw_kstr(w, "client_id", c->client_id);
	if (c->scope != NULL && c->scope[0] != '\0')
		jsonw_kstr(w, "scope", c->scope);
	jsonw_kstr(w, "sid", c->sid);
	jsonw_kstr(w, "root_sid", c->root_sid);
	jsonw_kstr(w, "use", c->use);
	jsonw_kstr(w, "sub_type", c->sub_type);
	if (c->target != NULL) {
		jsonw_key(w, "target");
		jsonw_str_array(w, c->target, c->target_count);
	}
	if (c->agent_session_id != NULL)
		jsonw_kstr(w, "agent_session_id", c->agent_session_id);
	if (c->delegation_edge_id != NULL) {
		jsonw_kstr(w, "delegation_edge_id", c->delegation_edge_id);
		jsonw_kstr(w, "source_session_id", c->source_session_id);
		jsonw_kstr(w, "target_session_id", c->target_session_id);
		jsonw_key(w, "delegation_path");
		jsonw_str_array(w, c->delegation_path, c->delegation_path_len);
		jsonw_key(w, "delegation_chain");
		jsonw_array_begin(w);
		for (size_t i = 0; i < c->delegation_chain_len; i++) {
			const mandate_hop *h = &c->delegation_chain[i];
			jsonw_object_begin(w);
			jsonw_kstr(w, "application_id", h->application_id);
			if (h->agent_session_id != NULL)
				jsonw_kstr(w, "agent_session_id", h->agent_session_id);
			if (h->delegation_edge_id != NULL)
				jsonw_kstr(w, "delegation_edge_id", h->delegation_edge_id);
			jsonw_object_end(w);
		}
		jsonw_array_end(w);
		if (c->delegation_path_len > 0)
			jsonw_kint(w, "hop_count", (int64_t)c->delegation_path_len);
		if (c->graph_epoch != 0)
			jsonw_kint(w, "delegation_graph_epoch", c->graph_epoch);
	}
	jsonw_object_end(w);
}

int mandate_sign(const role_deps *deps, const char *zone_id, const mandate_claims *claims,
                 caracal_arena *arena, const char **jws, caracal_error *err)
{
	/* A mandate's claims fit 2 KB most of the time: no allocation then. */
	char buf[2048];
	jsonw cw;
	jsonw_init_in(&cw, buf, sizeof buf);
	mandate_claims_write(claims, &cw);
	size_t payload_len = 0;
	const char *payload_json = jsonw_text(&cw, &payload_len);
	char *payload = payload_json != NULL ? b64_of(arena, payload_json, payload_len) : NULL;
	jsonw_discard(&cw);
	if (payload_json == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot encode claims");
	if (payload == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");

	for (int attempt = 0; attempt < 2; attempt++) {
		caracal_signing_key key = {.size = sizeof key};
		int rc = deps->signer->current_key(deps->signer_tctx, zone_id, arena, &key, err);
		if (rc != CARACAL_OK)
			return rc;
		if (key.alg == NULL || key.kid == NULL)
			return caracal_error_set(err, CARACAL_E_INTERNAL, "signer gave no key id");
		char hbuf[256];
		jsonw hw;
		jsonw_init_in(&hw, hbuf, sizeof hbuf);
		jsonw_object_begin(&hw);
		jsonw_kstr(&hw, "alg", key.alg);
		jsonw_kstr(&hw, "kid", key.kid);
		jsonw_kstr(&hw, "typ", "JWT");
		jsonw_object_end(&hw);
		size_t header_len = 0;
		const char *header_json = jsonw_text(&hw, &header_len);
		char *head = header_json != NULL ? b64_of(arena, header_json, header_len) : NULL;
		jsonw_discard(&hw);
		if (header_json == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "cannot encode header");
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
