/*
 * delegation.c — see delegation.h.
 *
 * The fuzz target builds this file with core/util/arena.c and jansson only,
 * so it depends on nothing else of the core (no logging, no clock).
 */
#include "roles/sts/delegation.h"

#include "util/rfc3339.h"

#include "util/arena.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define USEC_PER_SEC 1000000

static int present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
say(char *buf, size_t cap, const char *fmt, ...)
{
	if (buf == NULL || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(buf, cap, fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
}

/* ====================================================== constraints (§1.7) */

/* The fields as written, before max_depth and max_hops are reconciled. */
typedef struct raw_constraints {
	sts_delegation_constraints c;
	int64_t max_depth;
	int64_t max_hops;
} raw_constraints;

typedef int (*field_decoder)(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                             char *why, size_t cap);

/* JSON null leaves a field at its default, as Go's decoder does. */
static int non_negative_int(const json_t *value, const char *name, int64_t *out, char *why,
                            size_t cap)
{
	if (json_is_null(value))
		return 0;
	if (!json_is_integer(value)) {
		say(why, cap, "%s must be an integer", name);
		return -1;
	}
	if (json_integer_value(value) < 0) {
		say(why, cap, "%s must not be negative", name);
		return -1;
	}
	*out = (int64_t)json_integer_value(value);
	return 0;
}

/* A string copied into the arena; "" and null are "none" (NULL). */
static int optional_string(const json_t *value, const char *name, caracal_arena *arena,
                           const char **out, char *why, size_t cap)
{
	if (json_is_null(value))
		return 0;
	if (!json_is_string(value)) {
		say(why, cap, "%s must be a string", name);
		return -1;
	}
	if (json_string_length(value) == 0)
		return 0;
	*out = arena_strndup(arena, json_string_value(value), json_string_length(value));
	if (*out == NULL) {
		say(why, cap, "out of memory");
		return -1;
	}
	return 0;
}

static int decode_resources(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                            char *why, size_t cap)
{
	if (json_is_null(value))
		return 0;
	if (!json_is_array(value)) {
		say(why, cap, "resources must be an array of strings");
		return -1;
	}
	const size_t n = json_array_size(value);
	if (n == 0)
		return 0;
	const char **items = arena_alloc(arena, n * sizeof *items);
	if (items == NULL) {
		say(why, cap, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *item = json_array_get(value, i);
		if (!json_is_string(item)) {
			say(why, cap, "resources must be an array of strings");
			return -1;
		}
		items[i] = arena_strndup(arena, json_string_value(item), json_string_length(item));
		if (items[i] == NULL) {
			say(why, cap, "out of memory");
			return -1;
		}
	}
	raw->c.resources = items;
	raw->c.resource_count = n;
	return 0;
}

static int decode_ttl_seconds(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                              char *why, size_t cap)
{
	(void)arena;
	return non_negative_int(value, "ttl_seconds", &raw->c.ttl_seconds, why, cap);
}

static int decode_max_depth(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                            char *why, size_t cap)
{
	(void)arena;
	return non_negative_int(value, "max_depth", &raw->max_depth, why, cap);
}

static int decode_max_hops(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                           char *why, size_t cap)
{
	(void)arena;
	return non_negative_int(value, "max_hops", &raw->max_hops, why, cap);
}

static int decode_policy_approved(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                                  char *why, size_t cap)
{
	(void)arena;
	if (json_is_null(value))
		return 0;
	if (!json_is_boolean(value)) {
		say(why, cap, "policy_approved must be a boolean");
		return -1;
	}
	raw->c.policy_approved = json_is_true(value);
	return 0;
}

static int decode_expires_at(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                             char *why, size_t cap)
{
	if (optional_string(value, "expires_at", arena, &raw->c.expires_at, why, cap) != 0)
		return -1;
	if (raw->c.expires_at == NULL)
		return 0;
	int64_t us;
	if (rfc3339_parse(raw->c.expires_at, &us) != 0) {
		say(why, cap, "expires_at must be an RFC 3339 time");
		return -1;
	}
	/* 0 means "none": an expiry at or before the epoch must stay "passed". */
	raw->c.expires_at_us = us > 0 ? us : -1;
	return 0;
}

static int decode_broad_reason(const json_t *value, caracal_arena *arena, raw_constraints *raw,
                               char *why, size_t cap)
{
	return optional_string(value, "broad_reason", arena, &raw->c.broad_reason, why, cap);
}

/* Every key the STS knows; anything else (notably the Coordinator's
 * "budget", which the STS does not enforce) makes the edge invalid. */
static const struct constraint_field {
	const char *name;
	field_decoder decode;
} constraint_fields[] = {
    {"resources", decode_resources},
    {"ttl_seconds", decode_ttl_seconds},
    {"max_depth", decode_max_depth},
    {"max_hops", decode_max_hops},
    {"policy_approved", decode_policy_approved},
    {"expires_at", decode_expires_at},
    {"broad_reason", decode_broad_reason},
};

static field_decoder find_decoder(const char *key)
{
	for (size_t i = 0; i < sizeof constraint_fields / sizeof constraint_fields[0]; i++)
		if (strcmp(constraint_fields[i].name, key) == 0)
			return constraint_fields[i].decode;
	return NULL;
}

static int decode_fields(const json_t *root, caracal_arena *arena, raw_constraints *raw, char *why,
                         size_t cap)
{
	if (json_is_null(root))
		return STS_CONSTRAINTS_OK;
	if (!json_is_object(root)) {
		say(why, cap, "constraints must be a JSON object");
		return STS_CONSTRAINTS_INVALID;
	}
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)root, key, value)
	{
		const field_decoder decode = find_decoder(key);
		if (decode == NULL) {
			say(why, cap, "unknown constraint \"%.40s\"", key);
			return STS_CONSTRAINTS_INVALID;
		}
		if (decode(value, arena, raw, why, cap) != 0)
			return STS_CONSTRAINTS_INVALID;
	}
	return STS_CONSTRAINTS_OK;
}

/* max_depth is the older name of max_hops: both may be given only when equal. */
static int reconcile_hops(raw_constraints *raw, char *why, size_t cap)
{
	if (raw->max_depth > 0 && raw->max_hops > 0 && raw->max_depth != raw->max_hops) {
		say(why, cap, "max_depth and max_hops differ");
		return STS_CONSTRAINTS_INVALID;
	}
	const int64_t hops = raw->max_hops > 0 ? raw->max_hops : raw->max_depth;
	raw->c.max_hops = hops > 0 ? hops : 1;
	if (raw->c.max_hops > STS_DELEGATION_MAX_HOPS) {
		say(why, cap, "max_hops exceeds the platform maximum of %d",
		    STS_DELEGATION_MAX_HOPS);
		return STS_CONSTRAINTS_TOO_MANY_HOPS;
	}
	return STS_CONSTRAINTS_OK;
}

int sts_delegation_constraints_parse(const char *json, size_t len, caracal_arena *arena,
                                     sts_delegation_constraints *out, char *why, size_t cap)
{
	raw_constraints raw = {.c = {.max_hops = 1}};
	say(why, cap, "%s", "");
	if (out == NULL || arena == NULL) {
		say(why, cap, "no output or arena");
		return STS_CONSTRAINTS_INVALID;
	}
	*out = raw.c;
	/* A NULL column: no constraints beyond the defaults. */
	if (json == NULL || len == 0)
		return STS_CONSTRAINTS_OK;
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		say(why, cap, "not JSON: %.80s", jerr.text);
		return STS_CONSTRAINTS_INVALID;
	}
	int rc = decode_fields(root, arena, &raw, why, cap);
	json_decref(root);
	if (rc == STS_CONSTRAINTS_OK)
		rc = reconcile_hops(&raw, why, cap);
	if (rc == STS_CONSTRAINTS_OK)
		*out = raw.c;
	return rc;
}

/* ====================================================== validation (§2.7) */

/* One validation: what every step reads, and where refusals go. */
typedef struct validation {
	const caracal_storage_ops *ops;
	void *tctx;
	const sts_delegation_input *in;
	caracal_arena *arena;
	sts_delegation_error *err;
} validation;

/* How a read turned out. On LOOKUP_FAULT err is already filled. */
typedef enum lookup {
	LOOKUP_OK,
	LOOKUP_REFUSED, /* absent or not usable: the caller names the binding failure */
	LOOKUP_FAULT,
} lookup;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
refuse(sts_delegation_error *err, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err->status = status;
	err->error = code;
	if (vsnprintf(err->description, sizeof err->description, fmt, ap) < 0)
		err->description[0] = '\0';
	va_end(ap);
	return -1;
}

static int deny(const validation *v, const char *why)
{
	return refuse(v->err, 403, "access_denied", "%s", why);
}

/* The graph behind the delegation could not be read: §4 answers 403 here. */
static int graph_unavailable(const validation *v, const char *why, const caracal_error *cause)
{
	v->err->cause = *cause;
	return refuse(v->err, 403, "sts_unavailable", "%s", why);
}

static int out_of_memory(const validation *v)
{
	return refuse(v->err, 503, "sts_unavailable", "out of memory");
}

/* NOTFOUND is a binding failure (the record is not in this zone); any other
 * failure is the backend's, and the exchange fails closed with 503. */
static lookup classify_read(const validation *v, int rc, const caracal_error *cause)
{
	if (rc == CARACAL_OK)
		return LOOKUP_OK;
	if (rc == CARACAL_E_NOTFOUND)
		return LOOKUP_REFUSED;
	v->err->cause = *cause;
	refuse(v->err, 503, "sts_unavailable", "the token service is unavailable");
	return LOOKUP_FAULT;
}

static int authority_record_active(const caracal_authority_record *r, const char *zone_id,
                                   int64_t now_us)
{
	return same(r->zone_id, zone_id) && same(r->status, "active") && r->expires_at_us > now_us;
}

static int edge_active(const caracal_delegation *e, const char *zone_id, int64_t now_us)
{
	return same(e->zone_id, zone_id) && same(e->status, "active") && e->revoked_at_us == 0 &&
	       e->expires_at_us > now_us;
}

/* started_at + ttl > now, computed as ttl > elapsed seconds so that no ttl
 * overflows; a start before the epoch is a corrupt row, not a live one. */
static int task_alive(const caracal_session *s, int64_t now_us)
{
	if (s->ttl_seconds <= 0 || s->started_at_us < 0)
		return 0;
	if (s->started_at_us > now_us)
		return 1;
	return s->ttl_seconds > (now_us - s->started_at_us) / USEC_PER_SEC;
}

/* §1.6 on a session already read; subject is its subject authority record. */
static int session_active(const caracal_session *s, const caracal_authority_record *subject,
                          const char *zone_id, int64_t now_us)
{
	if (!same(s->zone_id, zone_id) || !same(s->status, "active"))
		return 0;
	if (same(subject->session_type, "user") &&
	    !authority_record_active(subject, zone_id, now_us))
		return 0;
	if (same(s->lifecycle, "service"))
		return s->heartbeat_deadline_at_us > now_us;
	if (same(s->lifecycle, "task"))
		return task_alive(s, now_us);
	return 0; /* a lifecycle this STS does not know is not active */
}

static lookup read_authority_record(const validation *v, const char *id,
                                    caracal_authority_record *out)
{
	caracal_error cause = {0};
	*out = (caracal_authority_record){.size = sizeof *out};
	const int rc =
	    v->ops->authority_record_get(v->tctx, v->in->zone_id, id, v->arena, out, &cause);
	return classify_read(v, rc, &cause);
}

static lookup read_session(const validation *v, const char *id, caracal_session *out)
{
	caracal_error cause = {0};
	*out = (caracal_session){.size = sizeof *out};
	const int rc = v->ops->session_get(v->tctx, v->in->zone_id, id, v->arena, out, &cause);
	return classify_read(v, rc, &cause);
}

static lookup read_edge(const validation *v, const char *id, caracal_delegation *out)
{
	caracal_error cause = {0};
	*out = (caracal_delegation){.size = sizeof *out};
	const int rc = v->ops->delegation_get(v->tctx, v->in->zone_id, id, v->arena, out, &cause);
	return classify_read(v, rc, &cause);
}

/* A session that is active as §1.6 defines it (it is read joined with its
 * subject authority record: without one it does not exist). */
static lookup read_active_session(const validation *v, const char *id, caracal_session *out,
                                  caracal_authority_record *subject)
{
	lookup l = read_session(v, id, out);
	if (l != LOOKUP_OK)
		return l;
	if (!present(out->subject_authority_record_id))
		return LOOKUP_REFUSED;
	if ((l = read_authority_record(v, out->subject_authority_record_id, subject)) != LOOKUP_OK)
		return l;
	return session_active(out, subject, v->in->zone_id, v->in->now_us) ? LOOKUP_OK
	                                                                   : LOOKUP_REFUSED;
}

/* §2.7: under a session mandate, the governed session must be the one
 * started under the mandate's authority record. */
static int subject_binding_holds(const sts_delegation_input *in, const caracal_session *s)
{
	if (!in->has_subject_token || !same(in->subject_token_use, "session") ||
	    !present(in->session_id))
		return 1;
	return same(s->subject_authority_record_id, in->session_id);
}

/* §2.7 session_id: an active record of the zone; without a subject token,
 * one the caller itself holds as an application. */
static int check_authority_record(const validation *v)
{
	const sts_delegation_input *in = v->in;
	if (!present(in->session_id))
		return 0;
	caracal_authority_record r;
	const lookup l = read_authority_record(v, in->session_id, &r);
	if (l == LOOKUP_FAULT)
		return -1;
	if (l == LOOKUP_REFUSED || !authority_record_active(&r, in->zone_id, in->now_us))
		return deny(v, "authority record inactive or expired");
	if (!in->has_subject_token &&
	    (!same(r.session_type, "application") || !same(r.subject_id, in->application_id)))
		return deny(v, "authority record not owned by caller");
	return 0;
}

/* §2.7 agent_session_id without a delegation: the caller's own session. */
static int check_own_session(const validation *v, sts_delegation *out)
{
	const lookup l =
	    read_active_session(v, v->in->agent_session_id, &out->target, &out->target_subject);
	if (l == LOOKUP_FAULT)
		return -1;
	if (l == LOOKUP_REFUSED)
		return deny(v, "session inactive or expired");
	if (!same(out->target.application_id, v->in->application_id))
		return deny(v, "session not owned by caller");
	if (!subject_binding_holds(v->in, &out->target))
		return deny(v, "session authority record binding mismatch");
	out->has_session = 1;
	return 0;
}

static int scopes_within(const sts_delegation_input *in, const caracal_strlist *allowed)
{
	for (size_t i = 0; i < in->scope_count; i++) {
		int found = 0;
		for (size_t j = 0; j < allowed->count && !found; j++)
			found = same(in->scopes[i], allowed->items[j]);
		if (!found)
			return 0;
	}
	return 1;
}

/* §2.7: the edge itself — live, in the zone, delegating to the named session. */
static int check_edge(const validation *v, sts_delegation *out)
{
	const sts_delegation_input *in = v->in;
	const lookup l = read_edge(v, in->delegation_edge_id, &out->edge);
	if (l == LOOKUP_FAULT)
		return -1;
	if (l == LOOKUP_REFUSED || !edge_active(&out->edge, in->zone_id, in->now_us))
		return deny(v, "delegation edge inactive or expired");
	if (!same(out->edge.target_session_id, in->agent_session_id))
		return deny(v, "delegation edge target mismatch");
	return 0;
}

/* §2.7: both ends live; the target the caller's, each the application the
 * edge names. */
static int check_edge_sessions(const validation *v, sts_delegation *out)
{
	const sts_delegation_input *in = v->in;
	caracal_authority_record source_subject;
	lookup l =
	    read_active_session(v, out->edge.source_session_id, &out->source, &source_subject);
	if (l == LOOKUP_FAULT)
		return -1;
	if (l == LOOKUP_REFUSED)
		return deny(v, "delegation source inactive or expired");
	l = read_active_session(v, out->edge.target_session_id, &out->target, &out->target_subject);
	if (l == LOOKUP_FAULT)
		return -1;
	if (l == LOOKUP_REFUSED || !same(out->target.application_id, in->application_id))
		return deny(v, "delegation target inactive or unauthorized");
	if (!subject_binding_holds(in, &out->target))
		return deny(v, "session authority record binding mismatch");
	if (!same(out->source.application_id, out->edge.issuer_application_id) ||
	    !same(out->target.application_id, out->edge.receiver_application_id))
		return deny(v, "delegation application mismatch");
	return 0;
}

/* §2.7: what the edge lets the request ask for. */
static int check_edge_limits(const validation *v, sts_delegation *out)
{
	const sts_delegation_input *in = v->in;
	char why[128];
	const int rc = sts_delegation_constraints_parse(out->edge.constraints_json.ptr,
	                                                out->edge.constraints_json.len, v->arena,
	                                                &out->constraints, why, sizeof why);
	if (rc == STS_CONSTRAINTS_TOO_MANY_HOPS)
		return deny(v, "delegation max_hops exceeds platform maximum");
	if (rc != STS_CONSTRAINTS_OK)
		return deny(v, "delegation constraints invalid");
	if (!scopes_within(in, &out->edge.scopes))
		return deny(v, "requested scopes exceed delegation scopes");
	if (out->constraints.ttl_seconds > 0 && in->requested_ttl_s > out->constraints.ttl_seconds)
		return deny(v, "requested ttl exceeds delegation ttl");
	return 0;
}

static int already_walked(const caracal_delegation *const *walked, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (same(walked[i]->id, id))
			return 1;
	return 0;
}

/* One step up the lineage: the parent of child, which must be live in the
 * zone. A parent that is not there breaks the path; one that cannot be read
 * leaves the lineage unknown (403 sts_unavailable, §4). */
static int read_parent(const validation *v, const caracal_delegation *child,
                       const caracal_delegation **parent)
{
	caracal_delegation *p = arena_alloc(v->arena, sizeof *p);
	if (p == NULL)
		return out_of_memory(v);
	p->size = sizeof *p;
	caracal_error cause = {0};
	const int rc = v->ops->delegation_get(v->tctx, v->in->zone_id, child->parent_edge_id,
	                                      v->arena, p, &cause);
	if (rc == CARACAL_E_NOTFOUND)
		return deny(v, "delegation path invalid");
	if (rc != CARACAL_OK)
		return graph_unavailable(v, "delegation lineage unavailable", &cause);
	if (!edge_active(p, v->in->zone_id, v->in->now_us))
		return deny(v, "delegation path edge inactive or revoked");
	*parent = p;
	return 0;
}

/*
 * The lineage: parent_edge_id from the edge up to a root. The walk stops
 * before the read that would pass max_hops, or when it meets an edge twice,
 * so a cyclic or endless graph costs at most STS_DELEGATION_MAX_HOPS reads.
 * Fills out->path root first and hands the edges back in the same order.
 */
static int walk_lineage(const validation *v, sts_delegation *out, const caracal_delegation ***edges)
{
	const caracal_delegation *walked[STS_DELEGATION_MAX_HOPS];
	size_t n = 0;
	const caracal_delegation *edge = &out->edge;
	for (;;) {
		walked[n++] = edge;
		if (!present(edge->parent_edge_id))
			break;
		if ((int64_t)n >= out->constraints.max_hops || n >= STS_DELEGATION_MAX_HOPS ||
		    already_walked(walked, n, edge->parent_edge_id))
			return deny(v, "delegation path invalid");
		if (read_parent(v, edge, &edge) != 0)
			return -1;
	}

	const caracal_delegation **ordered = arena_alloc(v->arena, n * sizeof *ordered);
	out->path = arena_alloc(v->arena, n * sizeof *out->path);
	if (ordered == NULL || out->path == NULL)
		return out_of_memory(v);
	for (size_t i = 0; i < n; i++) {
		ordered[i] = walked[n - 1 - i];
		out->path[i] = ordered[i]->id;
	}
	out->path_len = n;
	*edges = ordered;
	return 0;
}

/* The zone's graph epoch; a zone whose graph never changed has none: 0. */
static int read_graph_epoch(const validation *v, sts_delegation *out)
{
	caracal_error cause = {0};
	const int rc = v->ops->delegation_epoch(v->tctx, v->in->zone_id, &out->graph_epoch, &cause);
	if (rc == CARACAL_E_NOTFOUND) {
		out->graph_epoch = 0;
		return 0;
	}
	if (rc != CARACAL_OK)
		return graph_unavailable(v, "delegation graph epoch unavailable", &cause);
	return 0;
}

/*
 * The chain: one hop per path edge (its issuer and source session) and a
 * final hop for the receiver's target session. Each edge must have been
 * issued by the application its parent delegated to; the first hop must be
 * the application of the ROOT edge's source session and the last the
 * target's.
 *
 * C-FIX: the reference compares the first hop with the presented edge's
 * source session, which refuses every continuous lineage through a second
 * application (A -> C -> B): the root edge's source is what the first hop
 * names, so that is what it is compared with (one more read for a path of
 * two or more edges).
 */
static int build_chain(const validation *v, sts_delegation *out,
                       const caracal_delegation *const *edges)
{
	const size_t n = out->path_len;
	out->chain = arena_alloc(v->arena, (n + 1) * sizeof *out->chain);
	if (out->chain == NULL)
		return out_of_memory(v);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 &&
		    !same(edges[i]->issuer_application_id, edges[i - 1]->receiver_application_id))
			return deny(v, "delegation chain discontinuous");
		out->chain[i] = (sts_delegation_hop){
		    .application_id = edges[i]->issuer_application_id,
		    .agent_session_id = edges[i]->source_session_id,
		    .delegation_edge_id = edges[i]->id,
		};
	}
	out->chain[n] = (sts_delegation_hop){
	    .application_id = out->edge.receiver_application_id,
	    .agent_session_id = out->target.id,
	};
	out->chain_len = n + 1;
	const char *root_app = out->source.application_id;
	if (n > 1) {
		caracal_session root = {.size = sizeof root};
		caracal_error cause = {0};
		int rc = v->ops->session_get(v->tctx, v->in->zone_id, edges[0]->source_session_id,
		                             v->arena, &root, &cause);
		if (rc == CARACAL_E_NOTFOUND)
			return deny(v, "delegation chain endpoints mismatch");
		if (rc != CARACAL_OK)
			return graph_unavailable(v, "delegation lineage unavailable", &cause);
		root_app = root.application_id;
	}
	if (!same(out->chain[0].application_id, root_app) ||
	    !same(out->chain[n].application_id, out->target.application_id))
		return deny(v, "delegation chain endpoints mismatch");
	return 0;
}

static int check_delegation(const validation *v, sts_delegation *out)
{
	const caracal_delegation **edges = NULL;
	if (check_edge(v, out) != 0 || check_edge_sessions(v, out) != 0 ||
	    check_edge_limits(v, out) != 0 || walk_lineage(v, out, &edges) != 0 ||
	    read_graph_epoch(v, out) != 0 || build_chain(v, out, edges) != 0)
		return -1;
	out->has_session = 1;
	out->has_edge = 1;
	return 0;
}

static int validate_references(const validation *v, sts_delegation *out)
{
	const sts_delegation_input *in = v->in;
	if (check_authority_record(v) != 0)
		return -1;
	if (!present(in->delegation_edge_id))
		return present(in->agent_session_id) ? check_own_session(v, out) : 0;
	if (!present(in->agent_session_id))
		return deny(v, "delegation requires a target Session");
	return check_delegation(v, out);
}

int sts_delegation_validate(const caracal_storage_ops *ops, void *tctx,
                            const sts_delegation_input *in, caracal_arena *arena,
                            sts_delegation *out, sts_delegation_error *err)
{
	if (err == NULL)
		return -1;
	*err = (sts_delegation_error){0};
	if (out != NULL)
		*out = (sts_delegation){0};
	if (ops == NULL || in == NULL || arena == NULL || out == NULL || !present(in->zone_id) ||
	    !present(in->application_id) || (in->scope_count > 0 && in->scopes == NULL))
		return refuse(err, 500, "internal_error", "delegation validation misused");
	const validation v = {ops, tctx, in, arena, err};
	if (in->now_us <= 0)
		return refuse(err, 403, "sts_unavailable", "trusted time unavailable");
	if (validate_references(&v, out) != 0) {
		/* A refusal hands back nothing half-validated. */
		*out = (sts_delegation){0};
		return -1;
	}
	return 0;
}

/* ====================================================== after validation */

/* Whole seconds from now until at_us; <= 0 once it has passed. */
static int64_t seconds_left(int64_t at_us, int64_t now_us)
{
	return at_us > now_us ? (at_us - now_us) / USEC_PER_SEC : 0;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int sts_delegation_narrow_ttl(const sts_delegation *d, int64_t now_us, int64_t *ttl_s)
{
	if (d == NULL || ttl_s == NULL)
		return -1;
	if (!d->has_edge)
		return 0;
	if (now_us <= 0)
		return -1;
	const sts_delegation_constraints *c = &d->constraints;
	int64_t ttl = min64(*ttl_s, seconds_left(d->edge.expires_at_us, now_us));
	if (c->ttl_seconds > 0)
		ttl = min64(ttl, c->ttl_seconds);
	if (c->expires_at_us != 0)
		ttl = min64(ttl, seconds_left(c->expires_at_us, now_us));
	if (ttl <= 0)
		return -1;
	*ttl_s = ttl;
	return 0;
}

int sts_delegation_allows_resource(const sts_delegation *d, const char *resource_id,
                                   const char *identifier)
{
	if (d == NULL || !d->has_edge)
		return 1;
	if (d->edge.resource_id != NULL && !same(d->edge.resource_id, resource_id))
		return 0;
	if (d->constraints.resource_count == 0)
		return 1;
	for (size_t i = 0; i < d->constraints.resource_count; i++)
		if (same(d->constraints.resources[i], identifier))
			return 1;
	return 0;
}
