/*
 * mandate.h — assembling a mandate: the JOSE header and claims are built
 * here, the signature comes from the zone's signer plugin (private keys never
 * leave it).
 */
#ifndef CARACAL_STS_MANDATE_H
#define CARACAL_STS_MANDATE_H

#include "roles/deps.h"

#include <jansson.h>

/* Sign claims with zone_id's current key and return the compact JWS
 * (header.payload.signature) in the arena. When the signer reports the key
 * rotated between current_key and sign, the current key is fetched once more. */
int mandate_sign(const role_deps *deps, const char *zone_id, const json_t *claims,
                 caracal_arena *arena, const char **jws, caracal_error *err);

#endif
