/*
 * rules.h — the policy_rules engine, independent of the host: compile a
 * policy document (YAML, plugins/policy_rules/README.md) into an immutable
 * pr_policy (rules.c), read an input document (input.c), and evaluate the
 * input against a policy (rules.c).
 *
 * Nothing here calls the host: the plugin glue (policy_rules.c) copies the
 * results into the caller's arena, and the fuzz targets link these files
 * alone. A compiled pr_policy is immutable and may be evaluated from any
 * number of threads at once; evaluation allocates nothing.
 */
#ifndef CARACAL_POLICY_RULES_H
#define CARACAL_POLICY_RULES_H

#include <caracal/policy.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PR_SCHEMA_VERSION "2026-05-20"
#define PR_SOURCE_MAX (1024u * 1024u) /* bytes of policy source */
#define PR_RULES_DEFAULT 1000u
#define PR_RULES_HARD_MAX 10000u /* the most max_rules may be set to */
#define PR_DEPTH_MAX 8u          /* YAML nesting; a policy needs 5 */
#define PR_DIAGS_MAX 100u        /* problems reported per source */
#define PR_INPUT_ARRAY_MAX 1024u /* elements of an input scope/label list */

/* ------------------------------------------------------------ diagnostics */

typedef struct pr_diag {
	unsigned line; /* 1-based; 0 when the problem has no position */
	char message[200];
} pr_diag;

typedef struct pr_diags {
	size_t n;       /* recorded (at most PR_DIAGS_MAX) */
	size_t dropped; /* problems beyond PR_DIAGS_MAX */
	pr_diag v[PR_DIAGS_MAX];
} pr_diags;

/* The diagnostics as a JSON array [{"line":N,"message":"..."}] into buf
 * (NUL-terminated when cap > 0). Returns the length the full text needs, so a
 * caller can measure with buf = NULL, cap = 0. */
size_t pr_diags_json(const pr_diags *d, char *buf, size_t cap);

/* ------------------------------------------------------------ compiling */

typedef struct pr_policy pr_policy;

/* Compile source. CARACAL_OK with *out set, or INVAL (problems in *diags,
 * at least one), TOOBIG (source over PR_SOURCE_MAX; also in *diags) or NOMEM.
 * max_rules bounds the number of rules (1..PR_RULES_HARD_MAX). */
int pr_compile(const char *source, size_t len, size_t max_rules, pr_policy **out, pr_diags *diags);
void pr_policy_free(pr_policy *p);
size_t pr_policy_rule_count(const pr_policy *p);

/* ------------------------------------------------------------ evaluating */

/* A string of the input, unescaped: not NUL-terminated, never holds NUL. */
typedef struct pr_text {
	const char *ptr; /* NULL: an optional member that is absent or null */
	size_t len;
} pr_text;

/* An array of strings of the input (at most PR_INPUT_ARRAY_MAX). */
typedef struct pr_list {
	const pr_text *v; /* NULL when n is 0 */
	size_t n;
} pr_list;

/* The members of the input document the engine reads, checked for type. */
typedef struct pr_input {
	pr_text zone_id;
	pr_text principal_type, principal_id, principal_registration_method, principal_lifecycle;
	pr_text subject_kind, subject_id;
	pr_text resource_id, resource_identifier;
	pr_text action_id, action_use, action_method, action_path;
	pr_list labels;          /* principal.labels; empty when absent or null */
	pr_list grants;          /* grants.scopes */
	pr_list requested;       /* context.requested_scopes */
	int64_t depth;           /* delegation.depth, >= 0 */
	int64_t time;            /* context.time, Unix seconds */
	bool challenge_resolved; /* context.challenge_resolved */
} pr_input;

/* Scratch that covers the input reader in most cases (realistic documents
 * need well under 1 KiB of it): callers keep this much on their stack. */
#define PR_INPUT_SCRATCH_SMALL 4096u

/* Scratch that is always enough for a document of len bytes (SIZE_MAX when
 * len is absurdly large). */
size_t pr_input_scratch_max(size_t len);

/* Read and type-check the input document text[0..len) in one pass, without
 * allocating: strings are unescaped into scratch (cap bytes, any alignment),
 * from which and from text the pr_input borrows.
 *
 * The whole text must be JSON as strict as jansson's json_loadb with
 * JSON_REJECT_DUPLICATES (input.c lists the rules); otherwise INVAL with
 * "input is not valid JSON (line L, column C)" in why. INVAL with a message
 * naming the member (no secret: member names only) when schema_version is
 * not PR_SCHEMA_VERSION or a member is missing or of the wrong type.
 * TOOBIG only when cap < pr_input_scratch_max(len) and the document needs
 * more: read it again with that much scratch. why may be NULL. */
int pr_input_parse(const char *text, size_t len, void *scratch, size_t cap, pr_input *in, char *why,
                   size_t why_cap);

/* The decision, rendered as JSON texts that borrow nothing from the input.
 * Each text is written into a buffer of its *_len bytes (plus a NUL) by
 * pr_render; lengths are computed by pr_evaluate. */
typedef struct pr_outcome {
	caracal_effect effect;
	size_t reasons_len;
	size_t obligations_len; /* 0: no obligations */
	size_t determining_len;
	/* private to the engine */
	const pr_policy *policy;
	const uint64_t *matched; /* bitmap of matching rules (caller's storage) */
	int decided_by;          /* bit set of effects whose rules decide */
	int64_t max_ttl;         /* 0: none */
	int approval_rule;       /* index of the rule giving the approval obligation, -1 */
	bool no_rule;            /* deny with no_rule_matched */
} pr_outcome;

/* Words of the bitmap pr_evaluate needs for p (at most PR_RULES_HARD_MAX/64+1). */
size_t pr_bitmap_words(const pr_policy *p);
#define PR_BITMAP_WORDS_MAX (PR_RULES_HARD_MAX / 64u + 1u)

/* Evaluate in against p. matched must have pr_bitmap_words(p) words; it is
 * referenced by out until pr_render. Allocates nothing; cannot fail. */
void pr_evaluate(const pr_policy *p, const pr_input *in, uint64_t *matched, pr_outcome *out);

/* Write the three texts, each NUL-terminated; buffers of *_len + 1 bytes.
 * obligations may be NULL when obligations_len is 0. */
void pr_render(const pr_outcome *o, char *reasons, char *obligations, char *determining);

/* The deny document for a zone without an active policy. */
#define PR_NO_ACTIVE_REASONS "[\"no_active_policy_set\"]"

#endif
