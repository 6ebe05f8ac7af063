/* control_key.c — see control_key.h. */
#include "roles/sts/control_key.h"

#include "util/rfc3339.h"
#include "util/why.h"

#include <stdio.h>
#include <string.h>

#define PREFIX_SCOPE "control:scope:"
#define PREFIX_MAX_TTL "control:max-ttl:"
#define PREFIX_EXPIRES "control:expires:"

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int sts_control_request(const char *const *resources, size_t resource_count,
                        const char *const *scopes, size_t scope_count, const char *audience)
{
	if (resource_count == 0 || scope_count == 0)
		return 0;
	for (size_t i = 0; i < resource_count; i++)
		if (strcmp(resources[i], audience) != 0)
			return 0;
	for (size_t i = 0; i < scope_count; i++)
		if (!has_prefix(scopes[i], "control:"))
			return 0;
	return 1;
}

int sts_control_names_audience(const char *const *resources, size_t resource_count,
                               const char *audience)
{
	for (size_t i = 0; i < resource_count; i++)
		if (strcmp(resources[i], audience) == 0)
			return 1;
	return 0;
}

int sts_control_invoker(const caracal_strlist *traits)
{
	for (size_t i = 0; i < traits->count; i++)
		if (strcmp(traits->items[i], "control:invoke") == 0)
			return 1;
	return 0;
}

/* A positive decimal number of seconds (no sign, at most 10 digits). */
static int parse_seconds(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 10)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0)
		return -1;
	*out = v;
	return 0;
}

int sts_control_key_allows(const caracal_strlist *traits, const char *const *scopes,
                           size_t scope_count, int64_t now_s, int64_t *max_ttl_s, char *why,
                           size_t why_cap)
{
	*max_ttl_s = 0;
	if (!sts_control_invoker(traits))
		return why_fail(why, why_cap, "the application is not a control key");
	for (size_t i = 0; i < traits->count; i++) {
		const char *t = traits->items[i];
		if (has_prefix(t, PREFIX_MAX_TTL)) {
			int64_t v;
			if (parse_seconds(t + strlen(PREFIX_MAX_TTL), &v) != 0)
				return why_fail(why, why_cap, "malformed trait %.64s", t);
			if (*max_ttl_s == 0 || v < *max_ttl_s)
				*max_ttl_s = v;
		} else if (has_prefix(t, PREFIX_EXPIRES)) {
			int64_t at_us;
			if (rfc3339_parse(t + strlen(PREFIX_EXPIRES), &at_us) != 0)
				return why_fail(why, why_cap, "malformed trait %.64s", t);
			if (at_us <= now_s * 1000000)
				return why_fail(why, why_cap, "the control key has expired");
		}
	}
	if (scope_count == 0)
		return why_fail(why, why_cap, "a control request needs a control:* scope");
	for (size_t s = 0; s < scope_count; s++) {
		int allowed = 0;
		for (size_t i = 0; i < traits->count && !allowed; i++) {
			const char *t = traits->items[i];
			allowed = has_prefix(t, PREFIX_SCOPE) &&
			          strcmp(t + strlen(PREFIX_SCOPE), scopes[s]) == 0;
		}
		if (!allowed)
			return why_fail(why, why_cap, "scope %.64s is not one of the key's",
			                scopes[s]);
	}
	return 0;
}
