/*
 * sts.h — the STS role: POST /oauth/2/token (RFC 8693 token exchange, spec
 * sts.md §2) and GET /.well-known/jwks.json (§3.4).
 */
#ifndef CARACAL_ROLES_STS_H
#define CARACAL_ROLES_STS_H

/* Register the STS routes (call once, before server_new). */
void sts_routes_register(void);

#endif
