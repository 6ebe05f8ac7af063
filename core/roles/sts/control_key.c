/* control_key.c — see control_key.h. */
#include "roles/sts/control_key.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PREFIX_SCOPE "control:scope:"
#define PREFIX_MAX_TTL "control:max-ttl:"
#define PREFIX_EXPIRES "control:expires:"

static int fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

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

/* n decimal digits at s. */
static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm), to unix seconds. */
static int parse_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h, m, sec;
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int64_t offset = 0;
	if (*p == 'Z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh, mm;
		if (digits(p + 1, 2, &hh) || digits(p + 4, 2, &mm) || hh > 23 || mm > 59)
			return -1;
		offset = (p[0] == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	struct tm tm = {.tm_year = Y - 1900,
	                .tm_mon = M - 1,
	                .tm_mday = D,
	                .tm_hour = h,
	                .tm_min = m,
	                .tm_sec = sec};
	*out = (int64_t)timegm(&tm) - offset;
	return 0;
}

int sts_control_key_allows(const caracal_strlist *traits, const char *const *scopes,
                           size_t scope_count, int64_t now_s, int64_t *max_ttl_s, char *why,
                           size_t why_cap)
{
	*max_ttl_s = 0;
	if (!sts_control_invoker(traits))
		return fail(why, why_cap, "the application is not a control key");
	for (size_t i = 0; i < traits->count; i++) {
		const char *t = traits->items[i];
		if (has_prefix(t, PREFIX_MAX_TTL)) {
			int64_t v;
			if (parse_seconds(t + strlen(PREFIX_MAX_TTL), &v) != 0)
				return fail(why, why_cap, "malformed trait %.64s", t);
			if (*max_ttl_s == 0 || v < *max_ttl_s)
				*max_ttl_s = v;
		} else if (has_prefix(t, PREFIX_EXPIRES)) {
			int64_t at;
			if (parse_rfc3339(t + strlen(PREFIX_EXPIRES), &at) != 0)
				return fail(why, why_cap, "malformed trait %.64s", t);
			if (at <= now_s)
				return fail(why, why_cap, "the control key has expired");
		}
	}
	if (scope_count == 0)
		return fail(why, why_cap, "a control request needs a control:* scope");
	for (size_t s = 0; s < scope_count; s++) {
		int allowed = 0;
		for (size_t i = 0; i < traits->count && !allowed; i++) {
			const char *t = traits->items[i];
			allowed = has_prefix(t, PREFIX_SCOPE) &&
			          strcmp(t + strlen(PREFIX_SCOPE), scopes[s]) == 0;
		}
		if (!allowed)
			return fail(why, why_cap, "scope %.64s is not one of the key's", scopes[s]);
	}
	return 0;
}
