/* fuzz_policy_input.c — differential libFuzzer target for the policy input
 * reader (plugins/policy_rules/input.c).
 *
 * The input is a candidate input document. It is read by pr_input_parse and
 * by the reader it replaced: json_loadb(JSON_REJECT_DUPLICATES) and the old
 * pr_input_read, kept below as the reference. Both must accept and refuse
 * the same texts, give the same message for a refused member and extract
 * the same values. The new reader must also give the same result with a
 * small scratch (or ask for more: TOOBIG) as with pr_input_scratch_max().
 *
 * The one intended difference: jansson drops a raw NUL byte that directly
 * follows a number or a literal ("[1\0]" loads); the new reader refuses any
 * raw NUL, so a text holding one must be refused as invalid JSON. */
#include "rules.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ reference */

/* pr_input as it was, lists as jansson arrays. */
typedef struct old_input {
	pr_text zone_id;
	pr_text principal_type, principal_id, principal_registration_method, principal_lifecycle;
	pr_text subject_kind, subject_id;
	pr_text resource_id, resource_identifier;
	pr_text action_id, action_use, action_method, action_path;
	const json_t *labels;
	const json_t *grants;
	const json_t *requested;
	int64_t depth;
	int64_t time;
	bool challenge_resolved;
} old_input;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
why_set(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		if (vsnprintf(why, cap, fmt, ap) < 0)
			why[0] = '\0';
		va_end(ap);
	}
	return CARACAL_E_INVAL;
}

static int in_obj(const json_t *parent, const char *key, const json_t **out, char *why, size_t cap)
{
	const json_t *v = json_object_get(parent, key);
	if (!json_is_object(v))
		return why_set(why, cap, "input: %s must be an object", key);
	*out = v;
	return CARACAL_OK;
}

static int in_str(const json_t *obj, const char *objname, const char *key, bool required,
                  pr_text *out, char *why, size_t cap)
{
	const json_t *v = json_object_get(obj, key);
	out->ptr = NULL;
	out->len = 0;
	if (v == NULL || (!required && json_is_null(v)))
		return required ? why_set(why, cap, "input: %s%s%s is missing", objname,
		                          *objname ? "." : "", key)
		                : CARACAL_OK;
	if (!json_is_string(v))
		return why_set(why, cap, "input: %s%s%s must be a string", objname,
		               *objname ? "." : "", key);
	out->ptr = json_string_value(v);
	out->len = json_string_length(v);
	return CARACAL_OK;
}

static int in_strarr(const json_t *obj, const char *objname, const char *key, bool required,
                     const json_t **out, char *why, size_t cap)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (v == NULL || (!required && json_is_null(v)))
		return required ? why_set(why, cap, "input: %s.%s is missing", objname, key)
		                : CARACAL_OK;
	if (!json_is_array(v))
		return why_set(why, cap, "input: %s.%s must be an array of strings", objname, key);
	size_t n = json_array_size(v);
	if (n > PR_INPUT_ARRAY_MAX)
		return why_set(why, cap, "input: %s.%s has more than %u elements", objname, key,
		               PR_INPUT_ARRAY_MAX);
	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_array_get(v, i)))
			return why_set(why, cap, "input: %s.%s must be an array of strings",
			               objname, key);
	*out = v;
	return CARACAL_OK;
}

static int in_int(const json_t *obj, const char *objname, const char *key, int64_t *out, char *why,
                  size_t cap)
{
	const json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return why_set(why, cap, "input: %s.%s is missing", objname, key);
	if (!json_is_integer(v))
		return why_set(why, cap, "input: %s.%s must be an integer", objname, key);
	*out = (int64_t)json_integer_value(v);
	return CARACAL_OK;
}

static int old_input_read(const json_t *root, old_input *in, char *why, size_t cap)
{
	const json_t *principal = NULL, *subject = NULL, *resource = NULL, *action = NULL;
	const json_t *grants = NULL, *delegation = NULL, *context = NULL, *b;
	int rc;
	memset(in, 0, sizeof *in);
	if (!json_is_object(root))
		return why_set(why, cap, "input: not a JSON object");
	const json_t *sv = json_object_get(root, "schema_version");
	if (!json_is_string(sv))
		return why_set(why, cap, "input: schema_version is missing");
	if (strcmp(json_string_value(sv), PR_SCHEMA_VERSION) != 0 ||
	    json_string_length(sv) != strlen(PR_SCHEMA_VERSION))
		return why_set(why, cap, "input: schema_version is not %s", PR_SCHEMA_VERSION);
#define TRY(x)                                \
	do {                                  \
		if ((rc = (x)) != CARACAL_OK) \
			return rc;            \
	} while (0)
	TRY(in_str(root, "", "zone_id", true, &in->zone_id, why, cap));
	TRY(in_obj(root, "principal", &principal, why, cap));
	TRY(in_obj(root, "subject", &subject, why, cap));
	TRY(in_obj(root, "resource", &resource, why, cap));
	TRY(in_obj(root, "action", &action, why, cap));
	TRY(in_obj(root, "grants", &grants, why, cap));
	TRY(in_obj(root, "delegation", &delegation, why, cap));
	TRY(in_obj(root, "context", &context, why, cap));
	TRY(in_str(principal, "principal", "type", true, &in->principal_type, why, cap));
	TRY(in_str(principal, "principal", "id", true, &in->principal_id, why, cap));
	TRY(in_str(principal, "principal", "registration_method", false,
	           &in->principal_registration_method, why, cap));
	TRY(in_str(principal, "principal", "lifecycle", false, &in->principal_lifecycle, why, cap));
	TRY(in_strarr(principal, "principal", "labels", false, &in->labels, why, cap));
	TRY(in_str(subject, "subject", "kind", true, &in->subject_kind, why, cap));
	TRY(in_str(subject, "subject", "id", true, &in->subject_id, why, cap));
	TRY(in_str(resource, "resource", "id", true, &in->resource_id, why, cap));
	TRY(in_str(resource, "resource", "identifier", true, &in->resource_identifier, why, cap));
	TRY(in_str(action, "action", "id", true, &in->action_id, why, cap));
	TRY(in_str(action, "action", "use", true, &in->action_use, why, cap));
	TRY(in_str(action, "action", "method", false, &in->action_method, why, cap));
	TRY(in_str(action, "action", "path", false, &in->action_path, why, cap));
	TRY(in_strarr(grants, "grants", "scopes", true, &in->grants, why, cap));
	TRY(in_int(delegation, "delegation", "depth", &in->depth, why, cap));
	if (in->depth < 0)
		return why_set(why, cap, "input: delegation.depth must not be negative");
	TRY(in_strarr(context, "context", "requested_scopes", true, &in->requested, why, cap));
	TRY(in_int(context, "context", "time", &in->time, why, cap));
	b = json_object_get(context, "challenge_resolved");
	if (!json_is_boolean(b))
		return why_set(why, cap, "input: context.challenge_resolved must be a boolean");
	in->challenge_resolved = json_is_true(b);
#undef TRY
	return CARACAL_OK;
}

/* ------------------------------------------------------------ comparing */

static void same_text(const pr_text *a, const pr_text *b)
{
	if ((a->ptr == NULL) != (b->ptr == NULL) || a->len != b->len ||
	    (a->len > 0 && memcmp(a->ptr, b->ptr, a->len) != 0))
		abort();
}

static void same_list(const pr_list *a, const json_t *b)
{
	size_t n = b != NULL ? json_array_size(b) : 0;
	if (a->n != n || (n > 0 && a->v == NULL) || (n == 0 && a->v != NULL))
		abort();
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(b, i);
		pr_text t = {json_string_value(e), json_string_length(e)};
		same_text(&a->v[i], &t);
	}
}

static void same_lists(const pr_list *a, const pr_list *b)
{
	if (a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++)
		same_text(&a->v[i], &b->v[i]);
}

/* The strings of pr_input and old_input (the same members). */
#define SAME_TEXTS(a, b)                                                         \
	do {                                                                     \
		same_text(&(a)->zone_id, &(b)->zone_id);                         \
		same_text(&(a)->principal_type, &(b)->principal_type);           \
		same_text(&(a)->principal_id, &(b)->principal_id);               \
		same_text(&(a)->principal_registration_method,                   \
		          &(b)->principal_registration_method);                  \
		same_text(&(a)->principal_lifecycle, &(b)->principal_lifecycle); \
		same_text(&(a)->subject_kind, &(b)->subject_kind);               \
		same_text(&(a)->subject_id, &(b)->subject_id);                   \
		same_text(&(a)->resource_id, &(b)->resource_id);                 \
		same_text(&(a)->resource_identifier, &(b)->resource_identifier); \
		same_text(&(a)->action_id, &(b)->action_id);                     \
		same_text(&(a)->action_use, &(b)->action_use);                   \
		same_text(&(a)->action_method, &(b)->action_method);             \
		same_text(&(a)->action_path, &(b)->action_path);                 \
		if ((a)->depth != (b)->depth || (a)->time != (b)->time ||        \
		    (a)->challenge_resolved != (b)->challenge_resolved)          \
			abort();                                                 \
	} while (0)

static void same_as_old(const pr_input *a, const old_input *b)
{
	SAME_TEXTS(a, b);
	same_list(&a->labels, b->labels);
	same_list(&a->grants, b->grants);
	same_list(&a->requested, b->requested);
}

static void same_input(const pr_input *a, const pr_input *b)
{
	SAME_TEXTS(a, b);
	same_lists(&a->labels, &b->labels);
	same_lists(&a->grants, &b->grants);
	same_lists(&a->requested, &b->requested);
}

static bool json_error(const char *why)
{
	static const char prefix[] = "input is not valid JSON (line ";
	return strncmp(why, prefix, sizeof prefix - 1) == 0;
}

/* ------------------------------------------------------------ target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char why[256], why_small[256], why_old[256];
	pr_input in, in_small;

	/* Enough scratch: never TOOBIG. */
	size_t need = pr_input_scratch_max(size);
	void *big = malloc(need);
	if (big == NULL)
		abort();
	int rc = pr_input_parse(text, size, big, need, &in, why, sizeof why);
	if (rc != CARACAL_OK && rc != CARACAL_E_INVAL)
		abort();

	/* Little scratch (varied by the size): the same, or TOOBIG. */
	static _Alignas(16) unsigned char small[512 + 8];
	size_t cap = size % 3 == 0 ? 0 : size % 3 == 1 ? 97 : 512;
	int rc_small = pr_input_parse(text, size, small + size % 7, cap, &in_small, why_small,
	                              sizeof why_small);
	if (rc_small != CARACAL_E_TOOBIG) {
		if (rc_small != rc)
			abort();
		if (rc != CARACAL_OK && strcmp(why, why_small) != 0)
			abort();
		if (rc == CARACAL_OK)
			same_input(&in, &in_small);
	}

	if (memchr(data, 0, size) != NULL) {
		if (rc != CARACAL_E_INVAL || !json_error(why))
			abort();
		free(big);
		return 0;
	}

	json_error_t je;
	json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		if (rc != CARACAL_E_INVAL || !json_error(why)) {
			fprintf(stderr, "jansson refuses (%s), the reader says %d %s\n", je.text,
			        rc, rc != CARACAL_OK ? why : "");
			abort();
		}
		free(big);
		return 0;
	}
	if (rc != CARACAL_OK && json_error(why)) {
		fprintf(stderr, "jansson accepts, the reader says %s\n", why);
		abort();
	}
	old_input old;
	int rc_old = old_input_read(root, &old, why_old, sizeof why_old);
	if (rc_old != rc) {
		fprintf(stderr, "old %d %s, new %d %s\n", rc_old, rc_old != 0 ? why_old : "", rc,
		        rc != 0 ? why : "");
		abort();
	}
	if (rc != CARACAL_OK && strcmp(why, why_old) != 0) {
		fprintf(stderr, "old '%s', new '%s'\n", why_old, why);
		abort();
	}
	if (rc == CARACAL_OK)
		same_as_old(&in, &old);
	json_decref(root);
	free(big);
	return 0;
}
