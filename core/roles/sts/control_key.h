/*
 * control_key.h — the control-key exchange class (spec sts.md §2.3, §2.5):
 * an application carrying the trait "control:invoke" mints a use=resource
 * mandate for the control audience (sts.control_audience, default
 * "caracal-control") without a policy, for exactly the control:* scopes its
 * "control:scope:<scope>" traits list, for at most "control:max-ttl:<secs>"
 * and not after "control:expires:<RFC 3339>". Pure functions over the
 * request and the application's traits.
 */
#ifndef CARACAL_STS_CONTROL_KEY_H
#define CARACAL_STS_CONTROL_KEY_H

#include <caracal/storage.h>

#include <stddef.h>
#include <stdint.h>

#define STS_CONTROL_AUDIENCE_DEFAULT "caracal-control"

/* Whether the request is a pure control request: at least one resource,
 * every one the control audience; at least one scope, every one
 * "control:"-prefixed. (No subject token, session or delegation: the
 * caller checks those.) */
int sts_control_request(const char *const *resources, size_t resource_count,
                        const char *const *scopes, size_t scope_count, const char *audience);

/* Whether any resource is the control audience. */
int sts_control_names_audience(const char *const *resources, size_t resource_count,
                               const char *audience);

/* Whether the traits make app a control key for these scopes at now_s.
 * *max_ttl_s receives its control:max-ttl (0: none). 0, or -1 with why (a
 * malformed trait refuses: it is never read as "no limit"). */
int sts_control_key_allows(const caracal_strlist *traits, const char *const *scopes,
                           size_t scope_count, int64_t now_s, int64_t *max_ttl_s, char *why,
                           size_t why_cap);

/* Whether the traits include control:invoke (the empty-zone rule of §2.5). */
int sts_control_invoker(const caracal_strlist *traits);

#endif
