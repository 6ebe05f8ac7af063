/* form.c — see form.h. */
#include "roles/sts/form.h"

#include "util/arena.h"
#include "util/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Singleton fields, in the order of sts_form. */
static const struct {
	const char *name;
	size_t offset;
} singletons[] = {
    {"grant_type", offsetof(sts_form, grant_type)},
    {"subject_token", offsetof(sts_form, subject_token)},
    {"subject_token_type", offsetof(sts_form, subject_token_type)},
    {"scope", offsetof(sts_form, scope)},
    {"zone_id", offsetof(sts_form, zone_id)},
    {"application_id", offsetof(sts_form, application_id)},
    {"client_secret", offsetof(sts_form, client_secret)},
    {"approval_id", offsetof(sts_form, approval_id)},
    {"session_id", offsetof(sts_form, session_id)},
    {"agent_session_id", offsetof(sts_form, agent_session_id)},
    {"delegation_edge_id", offsetof(sts_form, delegation_edge_id)},
    {"request_method", offsetof(sts_form, request_method)},
    {"request_path", offsetof(sts_form, request_path)},
    {"gateway_request_id", offsetof(sts_form, gateway_request_id)},
};

/* Present, even empty, means refusal (rule 6). */
static const char *const forbidden[] = {"actor_token", "client_assertion", "client_assertion_type"};

static int fail(sts_form_error *fe, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(sts_form_error *fe, int status, const char *error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fe->status = status;
	fe->error = error;
	vsnprintf(fe->description, sizeof fe->description, fmt, ap);
	va_end(ap);
	return -1;
}

/* Decoded values must be valid UTF-8 without control characters other than
 * tab, CR and LF: every value ends up in C strings, JSON audit events and
 * policy input, and a raw NUL would silently cut a value short. */
static int text_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		if (len == 0 || c > 0xf4 || i + len > n)
			return 0;
		uint32_t cp = c & (0xff >> (len + 1));
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values beyond U+10FFFF. */
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Decode one component ('+' is a space). NUL bytes are refused: every value
 * ends up in C strings, and a NUL could cut one short. */
static char *decode(caracal_arena *arena, const char *s, size_t n, int *malformed)
{
	char *out = arena_alloc(arena, n + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			out[o++] = ' ';
		} else if (c == '%') {
			int h = i + 1 < n ? hex_digit((unsigned char)s[i + 1]) : -1;
			int l = i + 2 < n ? hex_digit((unsigned char)s[i + 2]) : -1;
			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				*malformed = 1;
				return out;
			}
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	if (!text_ok(out, o))
		*malformed = 1;
	return out;
}

static int parse_ttl(const char *s, int64_t *out)
{
	/* Go's Atoi: optional sign, decimal digits only. */
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (*p == '\0')
		return -1;
	for (const char *q = p; *q != '\0'; q++)
		if (*q < '0' || *q > '9')
			return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

const char *sts_trim(caracal_arena *arena, const char *s)
{
	if (s == NULL)
		return "";
	size_t n = strlen(s);
	size_t b = 0;
	while (b < n && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r' ||
	                 s[b] == '\v' || s[b] == '\f'))
		b++;
	while (n > b && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
	                 s[n - 1] == '\r' || s[n - 1] == '\v' || s[n - 1] == '\f'))
		n--;
	return arena_strndup(arena, s + b, n - b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sts_form_parse(const char *body, size_t len, caracal_arena *arena, sts_form *out,
                   sts_form_error *fe)
{
	memset(out, 0, sizeof *out);
	fe->after_gateway_rule = 0;
	if (len > STS_FORM_MAX_BODY)
		return fail(fe, 413, "payload_too_large", "request body exceeds %d bytes",
		            STS_FORM_MAX_BODY);
	if (memchr(body, ';', len) != NULL)
		return fail(fe, 400, "invalid_token", "malformed request body");

	const char *names[STS_FORM_MAX_FIELDS];
	const char *values[STS_FORM_MAX_FIELDS];
	size_t count = 0;
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end > i) {
			const char *eq = memchr(body + i, '=', end - i);
			size_t klen = eq != NULL ? (size_t)(eq - (body + i)) : end - i;
			const char *v = eq != NULL ? eq + 1 : body + end;
			size_t vlen = eq != NULL ? (size_t)(body + end - v) : 0;
			if (count == STS_FORM_MAX_FIELDS)
				return fail(fe, 400, "invalid_token", "too many form fields");
			int malformed = 0;
			char *k = decode(arena, body + i, klen, &malformed);
			char *val = decode(arena, v, vlen, &malformed);
			if (k == NULL || val == NULL)
				return -2;
			if (malformed)
				return fail(fe, 400, "invalid_token", "malformed request body");
			if (k[0] != '\0') { /* url.ParseQuery skips empty keys */
				names[count] = k;
				values[count] = val;
				count++;
			}
		}
		i = end + 1;
	}

	/* Rule 5: every field but resource at most once (unknown ones too). */
	for (size_t a = 0; a < count; a++) {
		if (strcmp(names[a], "resource") == 0)
			continue;
		for (size_t b = a + 1; b < count; b++)
			if (strcmp(names[a], names[b]) == 0)
				return fail(fe, 400, "invalid_token", "duplicate form field: %s",
				            strlen(names[a]) <= 64 ? names[a] : "(a long name)");
	}
	/* Rule 6. */
	for (size_t a = 0; a < count; a++)
		for (size_t f = 0; f < sizeof forbidden / sizeof forbidden[0]; f++)
			if (strcmp(names[a], forbidden[f]) == 0)
				return fail(fe, 400, "invalid_token",
				            "%s is not supported by this server", forbidden[f]);

	const char *raw_resources[STS_FORM_MAX_FIELDS];
	size_t raw_count = 0;
	for (size_t a = 0; a < count; a++) {
		if (strcmp(names[a], "resource") == 0) {
			raw_resources[raw_count++] = values[a];
			continue;
		}
		if (strcmp(names[a], "ttl_seconds") == 0) {
			if (values[a][0] == '\0')
				continue;
			if (parse_ttl(values[a], &out->ttl_seconds) != 0)
				return fail(fe, 400, "invalid_token", "invalid ttl_seconds");
			out->has_ttl = 1;
			continue;
		}
		for (size_t s = 0; s < sizeof singletons / sizeof singletons[0]; s++) {
			if (strcmp(names[a], singletons[s].name) == 0) {
				*(const char **)((char *)out + singletons[s].offset) = values[a];
				break;
			}
		}
		/* Unknown fields appearing once are ignored (RFC 8693 audience,
		 * requested_token_type, OAuth client_id, ...). */
	}

	/* Rules 9 to 11 come after rule 8 (the gateway's signature). */
	fe->after_gateway_rule = 1;
	/* Rule 9: trim, refuse empty, exact de-duplication, bytewise sort. */
	const char *canon[STS_FORM_MAX_FIELDS];
	size_t ccount = 0;
	for (size_t r = 0; r < raw_count; r++) {
		const char *t = sts_trim(arena, raw_resources[r]);
		if (t == NULL)
			return -2;
		if (t[0] == '\0')
			return fail(fe, 400, "invalid_token", "resource must not be empty");
		canon[ccount++] = t;
	}
	qsort(canon, ccount, sizeof canon[0], cmp_str);
	for (size_t r = 0; r < ccount; r++) {
		if (out->resource_count > 0 &&
		    strcmp(out->resources[out->resource_count - 1], canon[r]) == 0)
			continue;
		if (out->resource_count == STS_FORM_MAX_RESOURCES)
			return fail(fe, 400, "invalid_token", "too many resources (at most %d)",
			            STS_FORM_MAX_RESOURCES);
		out->resources[out->resource_count++] = canon[r];
	}

	/* A bound the reference lacks: the scope string is copied into the
	 * mandate and into audit evidence. */
	if (out->scope != NULL && strlen(out->scope) > STS_FORM_MAX_SCOPE)
		return fail(fe, 400, "invalid_token", "scope exceeds %d bytes", STS_FORM_MAX_SCOPE);

	/* Rule 10. */
	if (out->grant_type == NULL || strcmp(out->grant_type, STS_GRANT_TOKEN_EXCHANGE) != 0)
		return fail(fe, 400, "invalid_token", "unsupported grant_type");
	/* Rule 11. */
	int has_type = out->subject_token_type != NULL && out->subject_token_type[0] != '\0';
	int has_token = out->subject_token != NULL && out->subject_token[0] != '\0';
	if (has_type && strcmp(out->subject_token_type, STS_TOKEN_TYPE_ACCESS) != 0 &&
	    strcmp(out->subject_token_type, STS_TOKEN_TYPE_ID) != 0)
		return fail(fe, 400, "invalid_token", "unsupported subject_token_type");
	if (has_type != has_token)
		return fail(fe, 400, "invalid_token",
		            "subject_token and subject_token_type must be given together");
	fe->after_gateway_rule = 0;
	return 0;
}
