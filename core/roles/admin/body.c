/* body.c — see body.h. */
#include "roles/admin/body.h"
#include "util/rfc3339.h"
#include "util/uuid.h"

#include <caracal/storage.h>

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

__attribute__((format(printf, 3, 4))) static int why_set(char *why, size_t cap, const char *fmt,
                                                         ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}
#define WHY(...) why_set(why, cap, __VA_ARGS__)
/* The same for predicates (1 valid, 0 not): sets why and is 0. */
#define BAD(...) (why_set(why, cap, __VA_ARGS__) + 1)

/* ---- paths ------------------------------------------------------------------ */

static int seg_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-';
}

/* Copy the segment at *p (up to '/' or end) into out; advance *p past it. */
static int take_segment(const char **p, char *out)
{
	const char *s = *p;
	size_t n = 0;
	while (s[n] != '\0' && s[n] != '/') {
		if (!seg_char((unsigned char)s[n]) || n == ADMIN_MAX_SEGMENT)
			return 0;
		n++;
	}
	if (n == 0)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	*p = s + n;
	return 1;
}

int admin_path_parse(const char *path, admin_path *out)
{
	memset(out, 0, sizeof *out);
	if (strcmp(path, "/admin/zones") == 0) {
		out->route = ADMIN_R_ZONES;
		return 1;
	}
	if (strcmp(path, "/admin/policies/validate") == 0) {
		out->route = ADMIN_R_POLICY_VALIDATE;
		return 1;
	}
	static const char prefix[] = "/admin/zones/";
	if (strncmp(path, prefix, sizeof prefix - 1) != 0)
		return 0;
	const char *p = path + sizeof prefix - 1;
	admin_route_id r = ADMIN_R_NONE;
	if (!take_segment(&p, out->zone))
		goto none;
	if (*p == '\0') {
		r = ADMIN_R_ZONE;
	} else if (strcmp(p, "/applications") == 0) {
		r = ADMIN_R_APPLICATIONS;
	} else if (strcmp(p, "/resources") == 0) {
		r = ADMIN_R_RESOURCES;
	} else if (strcmp(p, "/grants") == 0) {
		r = ADMIN_R_GRANTS;
	} else if (strcmp(p, "/policies") == 0) {
		r = ADMIN_R_POLICIES;
	} else if (strcmp(p, "/keys/rotate") == 0) {
		r = ADMIN_R_KEYS_ROTATE;
	} else if (strcmp(p, "/approvals") == 0) {
		r = ADMIN_R_APPROVALS;
	} else if (strcmp(p, "/revocations") == 0) {
		r = ADMIN_R_REVOCATIONS;
	} else if (strcmp(p, "/issuers") == 0) {
		r = ADMIN_R_ISSUERS;
	} else if (strncmp(p, "/approvals/", 11) == 0) {
		p += 11;
		if (take_segment(&p, out->id) && strcmp(p, "/decision") == 0)
			r = ADMIN_R_APPROVAL_DECISION;
	}
	if (r == ADMIN_R_NONE)
		goto none;
	out->route = r;
	return 1;
none:
	memset(out, 0, sizeof *out);
	return 0;
}

static int is_get(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

int admin_method_allowed(admin_route_id route, const char *method)
{
	int get = is_get(method), post = strcmp(method, "POST") == 0;
	switch (route) {
	case ADMIN_R_ZONES:
	case ADMIN_R_APPLICATIONS:
	case ADMIN_R_RESOURCES:
	case ADMIN_R_GRANTS:
	case ADMIN_R_POLICIES:
	case ADMIN_R_ISSUERS:
		return get || post;
	case ADMIN_R_ZONE:
	case ADMIN_R_APPROVALS:
		return get;
	case ADMIN_R_POLICY_VALIDATE:
	case ADMIN_R_KEYS_ROTATE:
	case ADMIN_R_APPROVAL_DECISION:
	case ADMIN_R_REVOCATIONS:
		return post;
	case ADMIN_R_NONE:
	default:
		return 0;
	}
}

const char *admin_route_body(admin_route_id route, const char *method)
{
	if (strcmp(method, "POST") != 0)
		return NULL;
	switch (route) {
	case ADMIN_R_POLICIES:
	case ADMIN_R_POLICY_VALIDATE:
		return "text";
	case ADMIN_R_KEYS_ROTATE:
		return NULL; /* no body (an empty one, or "{}", is accepted) */
	default:
		return "json";
	}
}

const char *admin_route_action(admin_route_id route, const char *method)
{
	int get = is_get(method);
	switch (route) {
	case ADMIN_R_ZONES:
		return get ? "zone.list" : "zone.create";
	case ADMIN_R_ZONE:
		return "zone.get";
	case ADMIN_R_APPLICATIONS:
		return get ? "application.list" : "application.create";
	case ADMIN_R_RESOURCES:
		return get ? "resource.list" : "resource.create";
	case ADMIN_R_GRANTS:
		return get ? "grant.list" : "grant.create";
	case ADMIN_R_POLICIES:
		return get ? "policy.get" : "policy.apply";
	case ADMIN_R_POLICY_VALIDATE:
		return "policy.validate";
	case ADMIN_R_KEYS_ROTATE:
		return "key.rotate";
	case ADMIN_R_APPROVALS:
		return "approval.list";
	case ADMIN_R_APPROVAL_DECISION:
		return "approval.decide";
	case ADMIN_R_REVOCATIONS:
		return "revocation.create";
	case ADMIN_R_ISSUERS:
		return get ? "issuer.get" : "issuer.create";
	case ADMIN_R_NONE:
	default:
		return "unknown";
	}
}

/* ---- values ------------------------------------------------------------------ */

int admin_valid_zone_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!seg_char((unsigned char)s[i]))
			return 0;
	/* A name shaped like an id would shadow that id in zone lookups
	 * (id_or_name); "caracal." names the system's own audit zones. */
	if (uuid_is_text(s) || strncasecmp(s, "caracal.", 8) == 0)
		return 0;
	return 1;
}

int admin_valid_app_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ADMIN_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

int admin_valid_trait(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!seg_char((unsigned char)s[i]) && s[i] != ':')
			return 0;
	return 1;
}

int admin_valid_scope(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		/* scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
		if (!(c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)))
			return 0;
	}
	return 1;
}

int admin_valid_identifier(const char *s)
{
	static const char scheme[] = "resource://";
	size_t n = strlen(s);
	if (n <= sizeof scheme - 1 || n > ADMIN_MAX_IDENTIFIER ||
	    strncmp(s, scheme, sizeof scheme - 1) != 0)
		return 0;
	for (size_t i = sizeof scheme - 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || strchr("._~:/-", c) != NULL))
			return 0;
	}
	return 1;
}

/* The host[:port] of a URL's authority (alen bytes at host; userinfo is
 * refused by the caller): a name or IPv4 address of [A-Za-z0-9.-], or a
 * bracketed IPv6 address; a port is 1..65535. what names the field. */
static int url_host_port_ok(const char *host, size_t alen, const char *what, char *why, size_t cap)
{
	const char *end = host + alen, *port = NULL;
	if (*host == '[') {
		const char *close = memchr(host, ']', alen);
		if (close == NULL || close == host + 1)
			return BAD("%s has a malformed IPv6 host", what);
		for (const char *q = host + 1; q < close; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return BAD("%s has a malformed IPv6 host", what);
		if (close + 1 < end) {
			if (close[1] != ':')
				return BAD("%s has a malformed authority", what);
			port = close + 2;
		}
	} else {
		const char *colon = memchr(host, ':', alen);
		const char *hend = colon != NULL ? colon : end;
		if (hend == host)
			return BAD("%s has no host", what);
		for (const char *q = host; q < hend; q++)
			if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-')
				return BAD("%s has an invalid host", what);
		if (colon != NULL)
			port = colon + 1;
	}
	if (port != NULL) {
		long v = 0;
		if (port == end || end - port > 5)
			return BAD("%s has an invalid port", what);
		for (const char *q = port; q < end; q++) {
			if (!isdigit((unsigned char)*q))
				return BAD("%s has an invalid port", what);
			v = v * 10 + (*q - '0');
		}
		if (v < 1 || v > 65535)
			return BAD("%s has an invalid port", what);
	}
	return 1;
}

/* 1 when every byte is printable ASCII other than space and backslash
 * (which some URL parsers read as '/'). */
static int url_chars_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			return 0;
	}
	return 1;
}

/* What follows scheme ("https://", any case) at the start of s, or NULL. */
static const char *after_scheme(const char *s, const char *scheme)
{
	size_t n = strlen(scheme);
	return strncasecmp(s, scheme, n) == 0 ? s + n : NULL;
}

int admin_valid_upstream_url(const char *s, char *why, size_t cap)
{
	size_t n = strlen(s);
	if (n == 0 || n > ADMIN_MAX_URL)
		return BAD("upstream_url must be 1..%d bytes", ADMIN_MAX_URL);
	if (!url_chars_ok(s))
		return BAD("upstream_url must be printable ASCII without spaces");
	const char *p = after_scheme(s, "http://");
	if (p == NULL)
		p = after_scheme(s, "https://");
	if (p == NULL)
		return BAD("upstream_url must be an http:// or https:// URL");
	if (strchr(s, '#') != NULL)
		return BAD("upstream_url must not have a fragment");
	size_t alen = strcspn(p, "/?");
	if (alen == 0)
		return BAD("upstream_url has no host");
	if (memchr(p, '@', alen) != NULL)
		return BAD("upstream_url must not carry userinfo (credentials go in credential)");
	return url_host_port_ok(p, alen, "upstream_url", why, cap);
}

int admin_valid_jwks_url(const char *s, char *why, size_t cap)
{
	size_t n = strlen(s);
	if (n == 0 || n > ADMIN_MAX_URL)
		return BAD("'jwks_url' must be 1..%d bytes", ADMIN_MAX_URL);
	if (!url_chars_ok(s))
		return BAD("'jwks_url' must be printable ASCII without spaces");
	if (after_scheme(s, "http://") != NULL)
		return BAD("'jwks_url' must be https://: keys are never fetched over plain HTTP");
	const char *p = after_scheme(s, "https://");
	if (p == NULL)
		return BAD("'jwks_url' must be an absolute https:// URL");
	if (strchr(s, '#') != NULL)
		return BAD("'jwks_url' must not have a fragment");
	size_t alen = strcspn(p, "/?");
	if (alen == 0)
		return BAD("'jwks_url' has no host");
	if (memchr(p, '@', alen) != NULL)
		return BAD("'jwks_url' must not carry userinfo");
	return url_host_port_ok(p, alen, "'jwks_url'", why, cap);
}

/* Decode the UTF-8 sequence at s strictly (no overlong forms, surrogates or
 * code points past U+10FFFF): its length with *cp set, or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t v, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, v = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Text compared byte for byte with a token claim: 1..max bytes of valid
 * UTF-8, no control characters (C0, DEL, C1), and no bidirectional
 * overrides or isolates, which can make one value display as another. */
static int claim_text_ok(const char *s, size_t max, const char *what, char *why, size_t cap)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return BAD("%s must be 1..%zu bytes", what, max);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_next((const unsigned char *)s + i, &cp);
		if (len == 0)
			return BAD("%s is not valid UTF-8", what);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return BAD("%s must not contain control characters", what);
		if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			return BAD("%s must not contain bidirectional control characters", what);
		i += len;
	}
	return 1;
}

int admin_valid_issuer_text(const char *s, char *why, size_t cap)
{
	return claim_text_ok(s, ADMIN_MAX_ISSUER, "'issuer'", why, cap);
}

int admin_valid_audience(const char *s, char *why, size_t cap)
{
	return claim_text_ok(s, ADMIN_MAX_AUDIENCE, "'audience'", why, cap);
}

int admin_valid_issuer(const char *s, int allow_http, char *why, size_t cap)
{
	if (!admin_valid_issuer_text(s, why, cap))
		return 0;
	const char *p = after_scheme(s, "https://");
	if (p == NULL && after_scheme(s, "http://") != NULL) {
		if (!allow_http)
			return BAD("'issuer' must be https:// (http:// only in development mode)");
		p = s + strlen("http://");
	}
	if (p == NULL)
		return BAD("'issuer' must be an absolute https:// URL");
	/* OpenID Connect issuer identifiers: scheme, host, port and path only. */
	if (strchr(s, ' ') != NULL)
		return BAD("'issuer' must not contain spaces");
	if (strchr(s, '?') != NULL)
		return BAD("'issuer' must not have a query");
	if (strchr(s, '#') != NULL)
		return BAD("'issuer' must not have a fragment");
	size_t alen = strcspn(p, "/");
	if (alen == 0)
		return BAD("'issuer' has no host");
	if (memchr(p, '@', alen) != NULL)
		return BAD("'issuer' must not carry userinfo");
	return url_host_port_ok(p, alen, "'issuer'", why, cap);
}

int admin_parse_rfc3339(const char *s, int64_t *us)
{
	/* One RFC 3339 reader for the whole daemon (util/rfc3339.c); times
	 * before 1970 are not expiry times anyone means. */
	int64_t v;
	if (rfc3339_parse(s, &v) != 0 || v < 0)
		return -1;
	*us = v;
	return 0;
}

void admin_format_time(int64_t us, char out[32])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

/* ---- bodies ------------------------------------------------------------------ */

json_t *admin_body_object(const void *body, size_t len, char *why, size_t cap)
{
	json_error_t je;
	if (len == 0) {
		WHY("the body must be a JSON object");
		return NULL;
	}
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		WHY("the body is not valid JSON: %s (at offset %d)", je.text, je.position);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		WHY("the body must be a JSON object");
		return NULL;
	}
	return o;
}

static int only_keys(const json_t *o, const char *const *allowed, char *why, size_t cap)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		int ok = 0;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(allowed[i], k) == 0;
		if (!ok) {
			char esc[68];
			size_t n = strlen(k);
			snprintf(esc, sizeof esc, "%.64s%s", k, n > 64 ? "..." : "");
			for (char *c = esc; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
					*c = '?';
			return WHY("unknown member '%s'", esc);
		}
	}
	return 0;
}

/* A string member: -1 with why when of another type or containing NUL;
 * *out NULL when absent (an error when required). */
static int get_string(const json_t *o, const char *key, int required, const char **out, char *why,
                      size_t cap)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (required)
			return WHY("'%s' is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return WHY("'%s' must be a string", key);
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return WHY("'%s' must not contain NUL", key);
	*out = s;
	return 0;
}

/* A list of distinct strings each passing valid(). */
static int get_list(const json_t *o, const char *key, int required, int (*valid)(const char *),
                    const char **items, size_t *count, char *why, size_t cap)
{
	json_t *v = json_object_get(o, key);
	*count = 0;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (required)
			return WHY("'%s' is required", key);
		return 0;
	}
	if (!json_is_array(v))
		return WHY("'%s' must be an array of strings", key);
	if (json_array_size(v) > ADMIN_MAX_LIST)
		return WHY("'%s' has more than %d entries", key, ADMIN_MAX_LIST);
	if (required && json_array_size(v) == 0)
		return WHY("'%s' must not be empty", key);
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return WHY("'%s' must be an array of strings", key);
		const char *s = json_string_value(e);
		if (strlen(s) != json_string_length(e) || !valid(s))
			return WHY("'%s'[%zu] is not a valid value", key, i);
		for (size_t j = 0; j < *count; j++)
			if (strcmp(items[j], s) == 0)
				return WHY("'%s' lists '%s' twice", key, s);
		items[(*count)++] = s;
	}
	return 0;
}

int admin_parse_zone(const json_t *o, admin_zone_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"name", NULL};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0 || get_string(o, "name", 1, &out->name, why, cap))
		return -1;
	if (!admin_valid_zone_name(out->name))
		return WHY("'name' must be 1..64 of [A-Za-z0-9._-], start with a letter or digit, "
		           "not look like an id and not start with 'caracal.'");
	return 0;
}

int admin_parse_app(const json_t *o, int64_t now_us, admin_app_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"name", "traits", "expires_at", NULL};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0 || get_string(o, "name", 1, &out->name, why, cap))
		return -1;
	if (!admin_valid_app_name(out->name))
		return WHY("'name' must be 1..%d bytes without control characters", ADMIN_MAX_NAME);
	if (get_list(o, "traits", 0, admin_valid_trait, out->traits, &out->trait_count, why, cap) !=
	    0)
		return -1;
	json_t *e = json_object_get(o, "expires_at");
	if (e != NULL && !json_is_null(e)) {
		if (json_is_integer(e)) {
			json_int_t s = json_integer_value(e);
			if (s <= 0 || s > INT64_MAX / 1000000)
				return WHY("'expires_at' is out of range");
			out->expires_at_us = (int64_t)s * 1000000;
		} else if (json_is_string(e)) {
			if (admin_parse_rfc3339(json_string_value(e), &out->expires_at_us) != 0)
				return WHY("'expires_at' must be an RFC 3339 time or unix seconds");
		} else {
			return WHY("'expires_at' must be an RFC 3339 time or unix seconds");
		}
		if (out->expires_at_us <= now_us)
			return WHY("'expires_at' is in the past");
	}
	return 0;
}

static int credential_canonical(const json_t *c, admin_resource_in *out, char *why, size_t cap)
{
	if (!json_is_object(c))
		return WHY("'credential' must be an object");
	const char *type;
	if (get_string(c, "type", 1, &type, why, cap) != 0)
		return WHY("'credential.type' is required (\"bearer\" or \"none\")");
	json_t *canon = NULL;
	if (strcmp(type, "none") == 0) {
		static const char *const keys[] = {"type", NULL};
		if (only_keys(c, keys, why, cap) != 0)
			return -1;
		canon = json_pack("{s:s}", "type", "none");
	} else if (strcmp(type, "bearer") == 0) {
		static const char *const keys[] = {"type", "secret_file", NULL};
		const char *file;
		if (only_keys(c, keys, why, cap) != 0)
			return -1;
		if (get_string(c, "secret_file", 1, &file, why, cap) != 0)
			return WHY("'credential.secret_file' (a string) is required for a bearer "
			           "credential");
		size_t n = strlen(file);
		if (n == 0 || n > ADMIN_MAX_PATH_VALUE)
			return WHY("'credential.secret_file' must be 1..%d bytes",
			           ADMIN_MAX_PATH_VALUE);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)file[i] < 0x20 || file[i] == 0x7f)
				return WHY("'credential.secret_file' has control characters");
		canon = json_pack("{s:s, s:s}", "type", "bearer", "secret_file", file);
	} else {
		return WHY("'credential.type' must be \"bearer\" or \"none\"");
	}
	out->credential_json =
	    canon != NULL ? json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(canon);
	if (out->credential_json == NULL)
		return WHY("out of memory");
	out->credential_len = strlen(out->credential_json);
	return 0;
}

/* An HTTP method as the gateway compares it: 1..15 upper-case letters. */
static int valid_method(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > 15)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return 0;
	return 1;
}

/* A request path as the gateway compares it (exactly): '/' then printable
 * ASCII without spaces, at most 1024 bytes. */
static int valid_op_path(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > 1024 || p[0] != '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return 0;
	return 1;
}

/* "operations": [{method, path, scope}] (scopes among the resource's) and
 * "operation_enforcement": "enforced" | "transport_uniform" (§2.4 step 9d). */
static int parse_operations(const json_t *o, admin_resource_in *out, char *why, size_t cap)
{
	out->operation_enforcement = "transport_uniform";
	const char *mode = NULL;
	if (get_string(o, "operation_enforcement", 0, &mode, why, cap) != 0)
		return -1;
	if (mode != NULL) {
		if (strcmp(mode, "enforced") != 0 && strcmp(mode, "transport_uniform") != 0)
			return WHY("'operation_enforcement' must be enforced or transport_uniform");
		out->operation_enforcement = mode;
	}
	const json_t *ops = json_object_get(o, "operations");
	json_t *canon = json_array();
	if (canon == NULL)
		return WHY("out of memory");
	if (ops != NULL && !json_is_null(ops)) {
		if (!json_is_array(ops) || json_array_size(ops) > ADMIN_MAX_LIST) {
			json_decref(canon);
			return WHY("'operations' must be a list of at most %d operations",
			           ADMIN_MAX_LIST);
		}
		size_t i;
		const json_t *op;
		json_array_foreach(ops, i, op)
		{
			static const char *const keys[] = {"method", "path", "scope", NULL};
			const char *m = NULL, *p = NULL, *sc = NULL;
			if (!json_is_object(op) || only_keys(op, keys, why, cap) != 0 ||
			    get_string(op, "method", 1, &m, why, cap) != 0 ||
			    get_string(op, "path", 1, &p, why, cap) != 0 ||
			    get_string(op, "scope", 1, &sc, why, cap) != 0) {
				json_decref(canon);
				return json_is_object(op) ? -1
				                          : WHY("each operation must be an object");
			}
			if (!valid_method(m) || !valid_op_path(p)) {
				json_decref(canon);
				return WHY(
				    "operation %zu: method must be upper-case letters and path "
				    "'/' then printable ASCII without spaces",
				    i);
			}
			if (!admin_scopes_subset(&sc, 1, out->scopes, out->scope_count)) {
				json_decref(canon);
				return WHY("operation %zu: '%.64s' is not a scope of the resource",
				           i, sc);
			}
			json_array_append_new(canon, json_pack("{s:s, s:s, s:s}", "method", m,
			                                       "path", p, "scope", sc));
		}
	}
	out->operations_json = json_dumps(canon, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(canon);
	if (out->operations_json == NULL)
		return WHY("out of memory");
	out->operations_len = strlen(out->operations_json);
	return 0;
}

int admin_parse_resource(const json_t *o, admin_resource_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"identifier", "upstream_url", "scopes",
	                                   "credential", "operations",   "operation_enforcement",
	                                   NULL};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0 ||
	    get_string(o, "identifier", 1, &out->identifier, why, cap) != 0)
		return -1;
	if (!admin_valid_identifier(out->identifier))
		return WHY("'identifier' must be resource:// then 1..%d of [A-Za-z0-9._~:/-]",
		           ADMIN_MAX_IDENTIFIER - 11);
	if (get_string(o, "upstream_url", 0, &out->upstream_url, why, cap) != 0)
		return -1;
	if (out->upstream_url != NULL && !admin_valid_upstream_url(out->upstream_url, why, cap))
		return -1;
	if (get_list(o, "scopes", 1, admin_valid_scope, out->scopes, &out->scope_count, why, cap) !=
	    0)
		return -1;
	json_t *c = json_object_get(o, "credential");
	if (c == NULL || json_is_null(c))
		c = NULL;
	if (c != NULL) {
		if (credential_canonical(c, out, why, cap) != 0) {
			admin_resource_in_clear(out);
			return -1;
		}
	} else {
		out->credential_json = strdup("{\"type\":\"none\"}");
		if (out->credential_json == NULL)
			return WHY("out of memory");
		out->credential_len = strlen(out->credential_json);
	}
	if (parse_operations(o, out, why, cap) != 0) {
		admin_resource_in_clear(out);
		return -1;
	}
	return 0;
}

void admin_resource_in_clear(admin_resource_in *in)
{
	free(in->credential_json);
	in->credential_json = NULL;
	in->credential_len = 0;
	free(in->operations_json);
	in->operations_json = NULL;
	in->operations_len = 0;
}

int admin_parse_grant(const json_t *o, admin_grant_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"application_id", "resource", "scopes", NULL};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0 ||
	    get_string(o, "application_id", 1, &out->application_id, why, cap) != 0 ||
	    get_string(o, "resource", 1, &out->resource, why, cap) != 0)
		return -1;
	if (out->application_id[0] == '\0' || strlen(out->application_id) > ADMIN_MAX_SEGMENT)
		return WHY("'application_id' must be 1..%d bytes", ADMIN_MAX_SEGMENT);
	if (out->resource[0] == '\0' || strlen(out->resource) > ADMIN_MAX_IDENTIFIER)
		return WHY("'resource' must be 1..%d bytes", ADMIN_MAX_IDENTIFIER);
	return get_list(o, "scopes", 1, admin_valid_scope, out->scopes, &out->scope_count, why,
	                cap);
}

static int get_reason(const json_t *o, const char **out, char *why, size_t cap)
{
	if (get_string(o, "reason", 0, out, why, cap) != 0)
		return -1;
	if (*out != NULL && (strlen(*out) > ADMIN_MAX_REASON || !admin_valid_app_name(*out)))
		return WHY("'reason' must be 1..%d bytes without control characters",
		           ADMIN_MAX_REASON);
	return 0;
}

int admin_parse_decision(const json_t *o, admin_decision_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"approve", "reason", NULL};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0)
		return -1;
	json_t *a = json_object_get(o, "approve");
	if (a == NULL)
		return WHY("'approve' is required");
	if (!json_is_boolean(a))
		return WHY("'approve' must be true or false");
	out->approve = json_is_true(a);
	return get_reason(o, &out->reason, why, cap);
}

int admin_parse_revoke(const json_t *o, admin_revoke_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"authority_record", "session", "delegation", "reason",
	                                   NULL};
	static const struct {
		const char *name;
		int kind;
	} kinds[] = {{"authority_record", CARACAL_REVOKE_AUTHORITY_RECORD},
	             {"session", CARACAL_REVOKE_SESSION},
	             {"delegation", CARACAL_REVOKE_DELEGATION}};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0)
		return -1;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		const char *id;
		if (get_string(o, kinds[i].name, 0, &id, why, cap) != 0)
			return -1;
		if (id == NULL)
			continue;
		if (out->id != NULL)
			return WHY("name exactly one of authority_record, session, delegation");
		if (id[0] == '\0' || strlen(id) > ADMIN_MAX_SEGMENT)
			return WHY("'%s' must be 1..%d bytes", kinds[i].name, ADMIN_MAX_SEGMENT);
		out->id = id;
		out->kind = kinds[i].kind;
		out->kind_name = kinds[i].name;
	}
	if (out->id == NULL)
		return WHY("name exactly one of authority_record, session, delegation");
	return get_reason(o, &out->reason, why, cap);
}

int admin_parse_issuer(const json_t *o, int allow_http, admin_issuer_in *out, char *why, size_t cap)
{
	static const char *const keys[] = {"issuer", "jwks_url", "audience", NULL};
	memset(out, 0, sizeof *out);
	if (only_keys(o, keys, why, cap) != 0 ||
	    get_string(o, "issuer", 1, &out->issuer, why, cap) != 0 ||
	    get_string(o, "jwks_url", 1, &out->jwks_url, why, cap) != 0 ||
	    get_string(o, "audience", 1, &out->audience, why, cap) != 0)
		return -1;
	if (!admin_valid_issuer(out->issuer, allow_http, why, cap) ||
	    !admin_valid_jwks_url(out->jwks_url, why, cap) ||
	    !admin_valid_audience(out->audience, why, cap))
		return -1;
	return 0;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int admin_query_issuer(const char *query, char *out, size_t cap_out, char *why, size_t cap)
{
	static const char name[] = "issuer=";
	if (query[0] == '\0')
		return WHY("the 'issuer' query parameter is required (issuers are read one at a "
		           "time)");
	if (strncmp(query, name, sizeof name - 1) != 0 || strchr(query, '&') != NULL)
		return WHY("the only query parameter is 'issuer', given once");
	size_t o = 0;
	for (const char *q = query + sizeof name - 1; *q != '\0'; q++) {
		int c = (unsigned char)*q;
		if (c == '%') {
			int hi = hex_value((unsigned char)q[1]),
			    lo = hi < 0 ? -1 : hex_value((unsigned char)q[2]);
			if (lo < 0)
				return WHY("'issuer' has a malformed percent-escape");
			c = hi * 16 + lo;
			q += 2;
			if (c == 0)
				return WHY("'issuer' must not contain NUL");
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= cap_out)
			return WHY("'issuer' must be 1..%d bytes", ADMIN_MAX_ISSUER);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return admin_valid_issuer_text(out, why, cap) ? 0 : -1;
}

int admin_scopes_subset(const char *const *want, size_t nwant, const char *const *have,
                        size_t nhave)
{
	for (size_t i = 0; i < nwant; i++) {
		int found = 0;
		for (size_t j = 0; j < nhave && !found; j++)
			found = strcmp(want[i], have[j]) == 0;
		if (!found)
			return 0;
	}
	return 1;
}

/* ---- HTTP pieces ----------------------------------------------------------------- */

int admin_bearer_token(const char *value, const char **tok, size_t *len)
{
	if (value == NULL || strncasecmp(value, "Bearer", 6) != 0 || value[6] != ' ')
		return 0;
	const char *t = value + 7;
	while (*t == ' ')
		t++;
	size_t n = strlen(t);
	if (n == 0 || strchr(t, ' ') != NULL)
		return 0;
	*tok = t;
	*len = n;
	return 1;
}

static unsigned char mac_key[32];
static int mac_key_ok;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void mac_key_init(void)
{
	mac_key_ok = RAND_bytes(mac_key, sizeof mac_key) == 1;
}

int admin_token_matches(const unsigned char *expected, size_t expected_len, const char *given,
                        size_t given_len)
{
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int alen = 0, blen = 0;
	pthread_once(&mac_once, mac_key_init);
	if (!mac_key_ok)
		return 0;
	/* Both digests are always computed, so the time does not depend on
	 * where (or whether) the tokens differ, nor on expected_len == 0. */
	if (HMAC(EVP_sha256(), mac_key, sizeof mac_key, expected, expected_len, a, &alen) == NULL ||
	    HMAC(EVP_sha256(), mac_key, sizeof mac_key, (const unsigned char *)given, given_len, b,
	         &blen) == NULL ||
	    alen != 32 || blen != 32)
		return 0;
	int eq = CRYPTO_memcmp(a, b, 32) == 0;
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(b, sizeof b);
	return eq && expected_len > 0;
}

int admin_media_type_is(const char *value, const char *type)
{
	if (value == NULL)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strcspn(value, ";");
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	return n == strlen(type) && strncasecmp(value, type, n) == 0;
}

int admin_status_for(int code, const char **error)
{
	switch (code) {
	case CARACAL_E_INVAL:
		*error = "invalid_request";
		return 400;
	case CARACAL_E_NOTFOUND:
		*error = "not_found";
		return 404;
	case CARACAL_E_CONFLICT:
		*error = "conflict";
		return 409;
	case CARACAL_E_DENIED:
		*error = "forbidden";
		return 403;
	case CARACAL_E_TOOBIG:
		*error = "too_large";
		return 413;
	case CARACAL_E_UNSUPPORTED:
		*error = "not_implemented";
		return 501;
	case CARACAL_E_UNAVAIL:
	case CARACAL_E_TIMEOUT:
		*error = "temporarily_unavailable";
		return 503;
	default: /* NOMEM, INTERNAL, INTEGRITY, unknown */
		*error = "server_error";
		return 500;
	}
}
