/* idtoken.c — see idtoken.h. */
#include "roles/sts/idtoken.h"

#include "util/why.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decode one UTF-8 sequence at s (n bytes left): the code point, or -1 for
 * an invalid (overlong, surrogate, out of range, truncated) sequence. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *used)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*used = 1;
		return c;
	}
	size_t len;
	int32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return -1;
	}
	if (n < len)
		return -1;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*used = len;
	return cp;
}

/* White space as Go's unicode.IsSpace has it (the reference's rule). */
static int is_space(int32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
	       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int sts_subject_acceptable(const char *sub, size_t len, char *why, size_t why_cap)
{
	if (sub == NULL || len == 0)
		return why_fail(why, why_cap, "sub is empty");
	if (len > STS_SUBJECT_MAX)
		return why_fail(why, why_cap, "sub is longer than %d bytes", STS_SUBJECT_MAX);
	if (len >= 8 && memcmp(sub, "caracal:", 8) == 0)
		return why_fail(why, why_cap, "sub is in the reserved caracal: namespace");
	const unsigned char *p = (const unsigned char *)sub;
	int32_t first = -1, last = -1;
	for (size_t i = 0; i < len;) {
		size_t used = 0;
		int32_t cp = utf8_next(p + i, len - i, &used);
		if (cp < 0)
			return why_fail(why, why_cap, "sub is not valid UTF-8");
		if (cp == 0xFFFD)
			return why_fail(why, why_cap, "sub holds U+FFFD");
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return why_fail(why, why_cap, "sub holds a control character");
		if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
			return why_fail(why, why_cap, "sub holds a bidirectional control");
		if (first < 0)
			first = cp;
		last = cp;
		i += used;
	}
	if (is_space(first) || is_space(last))
		return why_fail(why, why_cap, "sub has leading or trailing white space");
	return 0;
}

static int audience_holds(const json_t *aud, const char *audience)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	size_t i;
	const json_t *a;
	json_array_foreach(aud, i, a) if (json_is_string(a) &&
	                                  strcmp(json_string_value(a), audience) == 0) return 1;
	return 0;
}

int sts_idtoken_verify(const jwt *j, const char *token, const char *jwks, size_t jwks_len,
                       const char *issuer, const char *audience, int64_t now_s, char *why,
                       size_t why_cap)
{
	if (jwt_verify_federated(j, token, jwks, jwks_len, why, why_cap) != 0)
		return -1;
	const json_t *c = j->claims;
	const char *iss = json_string_value(json_object_get(c, "iss"));
	if (iss == NULL || strcmp(iss, issuer) != 0)
		return why_fail(why, why_cap, "wrong issuer");
	if (audience == NULL || audience[0] == '\0' ||
	    !audience_holds(json_object_get(c, "aud"), audience))
		return why_fail(why, why_cap, "wrong audience");
	if (jwt_check_times(j, now_s, why, why_cap) != 0)
		return -1;
	const json_t *sub = json_object_get(c, "sub");
	if (!json_is_string(sub))
		return why_fail(why, why_cap, "no sub");
	return sts_subject_acceptable(json_string_value(sub), json_string_length(sub), why,
	                              why_cap);
}
