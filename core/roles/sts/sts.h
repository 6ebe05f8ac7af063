/*
 * sts.h — the STS role: POST /oauth/2/token (RFC 8693 token exchange, spec
 * sts.md §2) and GET /.well-known/jwks.json (§3.4).
 */
#ifndef CARACAL_ROLES_STS_H
#define CARACAL_ROLES_STS_H

#include <stdint.h>

/* Register the STS routes (call once, before server_new). */
void sts_routes_register(void);

/* Add n to the STS counter name{label} in /metrics
 * (caracal_plugin_<name>_total{plugin="core",instance="sts",label=...}). */
void sts_metric_count(const char *name, const char *label, uint64_t n);

#endif
