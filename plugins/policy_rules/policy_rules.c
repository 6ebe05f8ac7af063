/*
 * policy_rules.c — the policy_rules plugin: declarative YAML rules per zone
 * (language: README.md; engine: rules.c). This file holds the instance, the
 * zones' active versions and the copying of results into the caller's arena.
 *
 * Versions are immutable compiled objects with an atomic reference count.
 * A zone holds one reference to its active version. evaluate() takes a
 * reference under the instance mutex (a hash lookup and an increment: the
 * critical section is a few dozen nanoseconds), evaluates without any lock
 * and drops its reference; activate() compiles outside the lock, swaps the
 * zone's pointer under it and drops the zone's reference to the old version,
 * which is freed by whoever drops the last reference. A failed compile
 * changes nothing, so the old version keeps serving.
 *
 * Threading: no per-thread state; tctx is the instance. Every operation may
 * run on any thread, concurrently with any other.
 *
 * Fail closed: every problem with the input (malformed JSON, wrong
 * schema_version, a missing or mistyped member, a zone_id that differs from
 * the zone evaluated) is an INVAL error, which the core turns into deny and
 * 503. A zone without an active version denies (no_active_policy_set).
 */
#include "policy_rules.h"
#include "rules.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PR_ID_MAX 256u /* bytes of a zone id or version id */

const caracal_cfg_key pr_config_schema[] = {
    {"max_rules", CARACAL_CFG_INT, 0, "most rules in one policy version (1..10000, default 1000)"},
    {NULL, 0, 0, NULL},
};

typedef struct pr_version {
	atomic_size_t refs;
	pr_policy *policy;
	char *version_id;
} pr_version;

typedef struct pr_zone {
	struct pr_zone *next; /* bucket chain */
	uint64_t hash;
	char *id;
	size_t id_len;
	pr_version *active; /* NULL: none yet; guarded by the instance mutex */
} pr_zone;

typedef struct pr_instance {
	const caracal_host *host;
	const caracal_scope *scope;
	size_t max_rules;
	pthread_mutex_t lock; /* guards buckets and every zone's active pointer */
	pr_zone **buckets;
	size_t nbuckets; /* power of two */
	size_t nzones;
} pr_instance;

static uint64_t zone_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	return h;
}

static void version_unref(pr_version *v)
{
	if (v == NULL)
		return;
	if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
		return;
	pr_policy_free(v->policy);
	free(v->version_id);
	free(v);
}

/* Under the lock. */
static pr_zone *zone_find(pr_instance *in, const char *id, size_t len, uint64_t h)
{
	for (pr_zone *z = in->buckets[h & (in->nbuckets - 1)]; z != NULL; z = z->next)
		if (z->hash == h && z->id_len == len && memcmp(z->id, id, len) == 0)
			return z;
	return NULL;
}

/* Under the lock; NULL on OOM. */
static pr_zone *zone_add(pr_instance *in, const char *id, size_t len, uint64_t h)
{
	if (in->nzones + 1 > in->nbuckets) {
		size_t nb = in->nbuckets * 2;
		pr_zone **b = calloc(nb, sizeof *b);
		if (b != NULL) {
			for (size_t i = 0; i < in->nbuckets; i++) {
				pr_zone *z = in->buckets[i];
				while (z != NULL) {
					pr_zone *next = z->next;
					z->next = b[z->hash & (nb - 1)];
					b[z->hash & (nb - 1)] = z;
					z = next;
				}
			}
			free(in->buckets);
			in->buckets = b;
			in->nbuckets = nb;
		} /* else keep the old table: longer chains, still correct */
	}
	pr_zone *z = calloc(1, sizeof *z);
	if (z == NULL)
		return NULL;
	z->id = malloc(len + 1);
	if (z->id == NULL) {
		free(z);
		return NULL;
	}
	memcpy(z->id, id, len);
	z->id[len] = '\0';
	z->id_len = len;
	z->hash = h;
	z->next = in->buckets[h & (in->nbuckets - 1)];
	in->buckets[h & (in->nbuckets - 1)] = z;
	in->nzones++;
	return z;
}

static int check_id(const char *id, const char *what, caracal_error *err)
{
	if (id == NULL || id[0] == '\0')
		return caracal_error_set(err, CARACAL_E_INVAL, "%s is empty", what);
	if (strnlen(id, PR_ID_MAX + 1) > PR_ID_MAX)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s is longer than %u bytes", what,
		                         PR_ID_MAX);
	return CARACAL_OK;
}

/* ------------------------------------------------------------ instance */

int pr_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err)
{
	int64_t max_rules = PR_RULES_DEFAULT;
	if (cfg != NULL) {
		int rc = host->cfg_int(cfg, "max_rules", &max_rules, err);
		if (rc == CARACAL_E_NOTFOUND)
			max_rules = PR_RULES_DEFAULT;
		else if (rc != CARACAL_OK)
			return rc;
	}
	if (max_rules < 1 || max_rules > (int64_t)PR_RULES_HARD_MAX)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: max_rules must be 1..%u",
		                         host->cfg_where(host->cfg_child(cfg, "max_rules")),
		                         PR_RULES_HARD_MAX);
	pr_instance *in = calloc(1, sizeof *in);
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	in->nbuckets = 16;
	in->buckets = calloc(in->nbuckets, sizeof *in->buckets);
	if (in->buckets == NULL || pthread_mutex_init(&in->lock, NULL) != 0) {
		free(in->buckets);
		free(in);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	in->host = host;
	in->scope = scope;
	in->max_rules = (size_t)max_rules;
	*instance = in;
	return CARACAL_OK;
}

void pr_instance_destroy(void *instance)
{
	pr_instance *in = instance;
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->nbuckets; i++) {
		pr_zone *z = in->buckets[i];
		while (z != NULL) {
			pr_zone *next = z->next;
			version_unref(z->active);
			free(z->id);
			free(z);
			z = next;
		}
	}
	free(in->buckets);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* ------------------------------------------------------------ operations */

/* Members of the decision as ABI 1.0 has them; a smaller struct is refused. */
#define DECISION_MIN_SIZE                                       \
	(offsetof(caracal_policy_decision, policy_version_id) + \
	 sizeof(((caracal_policy_decision *)0)->policy_version_id))

static void decision_clear(caracal_policy_decision *out)
{
	out->effect = CARACAL_EFFECT_DENY;
	out->reasons.ptr = NULL;
	out->reasons.len = 0;
	out->obligations.ptr = NULL;
	out->obligations.len = 0;
	out->determining_policies.ptr = NULL;
	out->determining_policies.len = 0;
	out->policy_version_id = NULL;
}

static int fill_no_active(pr_instance *in, caracal_arena *arena, caracal_policy_decision *out,
                          caracal_error *err)
{
	const char *reasons = PR_NO_ACTIVE_REASONS;
	out->reasons.ptr = in->host->arena_strndup(arena, reasons, strlen(reasons));
	out->determining_policies.ptr = in->host->arena_strndup(arena, "[]", 2);
	out->policy_version_id = in->host->arena_strndup(arena, "", 0);
	if (out->reasons.ptr == NULL || out->determining_policies.ptr == NULL ||
	    out->policy_version_id == NULL) {
		decision_clear(out);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	out->reasons.len = strlen(reasons);
	out->determining_policies.len = 2;
	out->effect = CARACAL_EFFECT_DENY;
	return CARACAL_OK;
}

static int pr_evaluate_op(void *tctx, const char *zone_id, const char *input_json, size_t input_len,
                          caracal_arena *arena, caracal_policy_decision *out, caracal_error *err)
{
	pr_instance *in = tctx;
	if (out == NULL || out->size < DECISION_MIN_SIZE)
		return caracal_error_set(err, CARACAL_E_INVAL, "decision struct too small");
	decision_clear(out);
	if (in == NULL || arena == NULL || input_json == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "missing argument");
	int rc = check_id(zone_id, "zone_id", err);
	if (rc != CARACAL_OK)
		return rc;

	/* The input is read without allocating in most cases: strings borrow
	 * from the text or are unescaped into this scratch; a document that
	 * needs more gets one arena block of the size that always suffices. */
	_Alignas(16) unsigned char scratch[PR_INPUT_SCRATCH_SMALL];
	pr_input input;
	char why[CARACAL_ERROR_MESSAGE_MAX];
	rc =
	    pr_input_parse(input_json, input_len, scratch, sizeof scratch, &input, why, sizeof why);
	if (rc == CARACAL_E_TOOBIG) {
		size_t need = pr_input_scratch_max(input_len);
		void *big = need < SIZE_MAX ? in->host->arena_alloc(arena, need) : NULL;
		if (big == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		rc = pr_input_parse(input_json, input_len, big, need, &input, why, sizeof why);
	}
	/* why names members only, or the position of a JSON error: never the
	 * input's text, which may hold claims. */
	if (rc != CARACAL_OK)
		return caracal_error_set(err, rc, "%s", why);
	size_t zlen = strlen(zone_id);
	if (input.zone_id.len != zlen || memcmp(input.zone_id.ptr, zone_id, zlen) != 0)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "input: zone_id differs from the zone evaluated");

	uint64_t h = zone_hash(zone_id, zlen);
	pr_version *v = NULL;
	pthread_mutex_lock(&in->lock);
	pr_zone *z = zone_find(in, zone_id, zlen, h);
	if (z != NULL && z->active != NULL) {
		v = z->active;
		atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&in->lock);
	if (v == NULL)
		return fill_no_active(in, arena, out, err);

	uint64_t matched[PR_BITMAP_WORDS_MAX];
	pr_outcome o;
	/* The outcome borrows nothing from the input or the scratch. */
	pr_evaluate(v->policy, &input, matched, &o);

	char *rs = in->host->arena_alloc(arena, o.reasons_len + 1);
	char *dp = in->host->arena_alloc(arena, o.determining_len + 1);
	char *ob =
	    o.obligations_len > 0 ? in->host->arena_alloc(arena, o.obligations_len + 1) : NULL;
	char *vid = in->host->arena_strndup(arena, v->version_id, strlen(v->version_id));
	if (rs == NULL || dp == NULL || vid == NULL || (o.obligations_len > 0 && ob == NULL)) {
		version_unref(v);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	pr_render(&o, rs, ob, dp);
	version_unref(v);

	out->reasons.ptr = rs;
	out->reasons.len = o.reasons_len;
	out->obligations.ptr = ob;
	out->obligations.len = o.obligations_len;
	out->determining_policies.ptr = dp;
	out->determining_policies.len = o.determining_len;
	out->policy_version_id = vid;
	out->effect = o.effect;
	return CARACAL_OK;
}

/* err gets "line N: message" of the first problem. */
static int compile_error(const pr_diags *d, int rc, caracal_error *err)
{
	if (rc == CARACAL_E_NOMEM)
		return caracal_error_set(err, rc, "out of memory");
	if (d->n == 0)
		return caracal_error_set(err, rc, "invalid policy");
	if (d->v[0].line > 0)
		return caracal_error_set(err, rc, "line %u: %s", d->v[0].line, d->v[0].message);
	return caracal_error_set(err, rc, "%s", d->v[0].message);
}

static int pr_validate_op(void *tctx, const char *source, size_t source_len, caracal_arena *arena,
                          caracal_str *diagnostics, caracal_error *err)
{
	pr_instance *in = tctx;
	if (in == NULL || arena == NULL || diagnostics == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "missing argument");
	diagnostics->ptr = NULL;
	diagnostics->len = 0;
	pr_diags *d = malloc(sizeof *d);
	if (d == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	pr_policy *p = NULL;
	int rc = pr_compile(source, source_len, in->max_rules, &p, d);
	pr_policy_free(p);
	if (rc == CARACAL_E_NOMEM) {
		free(d);
		return caracal_error_set(err, rc, "out of memory");
	}
	size_t n = pr_diags_json(d, NULL, 0);
	char *buf = in->host->arena_alloc(arena, n + 1);
	if (buf == NULL) {
		free(d);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	pr_diags_json(d, buf, n + 1);
	diagnostics->ptr = buf;
	diagnostics->len = n;
	if (rc != CARACAL_OK)
		compile_error(d, rc, err);
	free(d);
	return rc;
}

static int pr_activate_op(void *tctx, const char *zone_id, const char *version_id,
                          const char *source, size_t source_len, caracal_error *err)
{
	pr_instance *in = tctx;
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "missing argument");
	int rc = check_id(zone_id, "zone_id", err);
	if (rc == CARACAL_OK)
		rc = check_id(version_id, "version_id", err);
	if (rc != CARACAL_OK)
		return rc;

	pr_diags *d = malloc(sizeof *d);
	pr_version *v = calloc(1, sizeof *v);
	if (d == NULL || v == NULL || (v->version_id = strdup(version_id)) == NULL) {
		free(d);
		free(v);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	rc = pr_compile(source, source_len, in->max_rules, &v->policy, d);
	if (rc != CARACAL_OK) {
		compile_error(d, rc, err);
		free(d);
		free(v->version_id);
		free(v);
		return rc;
	}
	free(d);
	atomic_init(&v->refs, 1);
	size_t nrules = pr_policy_rule_count(v->policy);

	size_t zlen = strlen(zone_id);
	uint64_t h = zone_hash(zone_id, zlen);
	pr_version *old = NULL;
	pthread_mutex_lock(&in->lock);
	pr_zone *z = zone_find(in, zone_id, zlen, h);
	if (z == NULL)
		z = zone_add(in, zone_id, zlen, h);
	if (z != NULL) {
		old = z->active;
		z->active = v;
	}
	pthread_mutex_unlock(&in->lock);
	if (z == NULL) {
		version_unref(v);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	version_unref(old);
	in->host->log(in->scope, CARACAL_LOG_INFO, "zone %s: policy version %s active (%zu rules)",
	              zone_id, version_id, nrules);
	in->host->metric_count(in->scope, "activations", NULL, 1);
	return CARACAL_OK;
}

const caracal_policy_ops pr_policy_ops = {
    .size = sizeof(caracal_policy_ops),
    .evaluate = pr_evaluate_op,
    .validate = pr_validate_op,
    .activate = pr_activate_op,
};
