/*
 * rules.c — the policy_rules engine: YAML policy compiler and evaluator.
 * The language is specified in plugins/policy_rules/README.md.
 *
 * Compiling runs in two passes. libyaml's event parser builds a small tree
 * (our own nodes: no anchors, aliases or tags, bounded depth and size, line
 * numbers kept), then the tree is checked against the language and turned
 * into an immutable pr_policy whose strings are pre-rendered as JSON, so
 * that evaluation only compares bytes and copies pre-escaped text.
 *
 * Everything a compile allocates comes from two pools (the tree's, freed at
 * the end of the compile, and the policy's, freed with it): no individual
 * frees, no leaks on error paths.
 */
#include "rules.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PR_NODES_MAX 200000u   /* YAML nodes per source */
#define PR_NAME_MAX 128u       /* bytes of a rule name */
#define PR_TEXT_MAX 256u       /* bytes of a reason, tier, pattern... */
#define PR_TTL_MAX 31536000    /* a year, in seconds */
#define PR_DEPTH_LIMIT 1000000 /* the largest delegation_depth_max */

/* ------------------------------------------------------------ pool */

typedef struct pr_block {
	struct pr_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
} pr_block;

typedef struct pr_pool {
	pr_block *head;
} pr_pool;

static void *pool_alloc(pr_pool *pool, size_t n)
{
	n = (n + 15u) & ~(size_t)15u;
	if (n == 0)
		n = 16;
	pr_block *b = pool->head;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > 16384u ? n : 16384u;
		b = malloc(sizeof *b + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = pool->head;
		pool->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

static void pool_free(pr_pool *pool)
{
	pr_block *b = pool->head;
	while (b != NULL) {
		pr_block *next = b->next;
		free(b);
		b = next;
	}
	pool->head = NULL;
}

/* ------------------------------------------------------------ diagnostics */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
diag(pr_diags *d, unsigned line, const char *fmt, ...)
{
	if (d->n >= PR_DIAGS_MAX) {
		d->dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(d->v[d->n].message, sizeof d->v[d->n].message, fmt, ap) < 0)
		d->v[d->n].message[0] = '\0';
	va_end(ap);
	d->v[d->n].line = line;
	d->n++;
}

/* JSON string body of s (no quotes) into out (may be NULL); returns its length. */
static size_t json_escape(const char *s, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc = 0;
		switch (c) {
		case '"':
			esc = '"';
			break;
		case '\\':
			esc = '\\';
			break;
		case '\n':
			esc = 'n';
			break;
		case '\r':
			esc = 'r';
			break;
		case '\t':
			esc = 't';
			break;
		default:
			break;
		}
		if (esc != 0) {
			if (out != NULL) {
				out[n] = '\\';
				out[n + 1] = esc;
			}
			n += 2;
		} else if (c < 0x20 || c == 0x7f) {
			if (out != NULL) {
				memcpy(out + n, "\\u00", 4);
				out[n + 4] = hex[c >> 4];
				out[n + 5] = hex[c & 15];
			}
			n += 6;
		} else {
			if (out != NULL)
				out[n] = (char)c;
			n++;
		}
	}
	return n;
}

/* A bounded writer: counts everything, stores what fits. */
typedef struct wbuf {
	char *p;
	size_t cap, len;
} wbuf;

static void w_put(wbuf *w, const char *s, size_t n)
{
	if (w->p != NULL && w->len < w->cap) {
		size_t room = w->cap - w->len;
		memcpy(w->p + w->len, s, n < room ? n : room);
	}
	w->len += n;
}

static void w_str(wbuf *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void w_json_string(wbuf *w, const char *s, size_t len)
{
	size_t n = json_escape(s, len, NULL);
	w_put(w, "\"", 1);
	if (w->p != NULL && w->len + n <= w->cap)
		json_escape(s, len, w->p + w->len);
	w->len += n; /* counted even when it did not fit: callers measure first */
	w_put(w, "\"", 1);
}

size_t pr_diags_json(const pr_diags *d, char *buf, size_t cap)
{
	wbuf w = {buf, cap > 0 ? cap - 1 : 0, 0};
	char num[32];
	w_put(&w, "[", 1);
	for (size_t i = 0; i < d->n; i++) {
		int k = snprintf(num, sizeof num, "%s{\"line\":%u,\"message\":", i > 0 ? "," : "",
		                 d->v[i].line);
		w_put(&w, num, (size_t)k);
		w_json_string(&w, d->v[i].message, strlen(d->v[i].message));
		w_put(&w, "}", 1);
	}
	if (d->dropped > 0) {
		int k =
		    snprintf(num, sizeof num, "%s{\"line\":0,\"message\":", d->n > 0 ? "," : "");
		w_put(&w, num, (size_t)k);
		char msg[64];
		int m = snprintf(msg, sizeof msg, "%zu more problems not shown", d->dropped);
		w_json_string(&w, msg, (size_t)m);
		w_put(&w, "}", 1);
	}
	w_put(&w, "]", 1);
	if (buf != NULL && cap > 0)
		buf[w.len < cap ? w.len : cap - 1] = '\0';
	return w.len;
}

/* ------------------------------------------------------------ YAML tree */

typedef enum nkind { N_SCALAR, N_SEQ, N_MAP } nkind;

typedef struct node {
	nkind kind;
	unsigned line;
	bool plain; /* scalar written without quotes or block style */
	char *text; /* scalar, NUL-terminated */
	size_t len;
	size_t n; /* children; a mapping's alternate key, value */
	struct node *first, *last, *next;
} node;

typedef struct tree {
	pr_pool pool;
	node *root;
	size_t nodes;
} tree;

static unsigned mark_line(yaml_mark_t m)
{
	return m.line >= UINT_MAX - 1 ? UINT_MAX : (unsigned)m.line + 1u;
}

/* Short, printable copy of user text for messages. Messages become JSON
 * diagnostics, so the copy must stay valid UTF-8: a cut never splits a
 * multibyte character (libyaml already refused invalid UTF-8 input). */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
	size_t j = 0, i = 0;
	while (i < len && j + 4 < cap) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (n > len - i || j + n + 4 > cap)
			break;
		if (n == 1)
			buf[j++] = (c < 0x20 || c == 0x7f || c >= 0x80) ? '?' : (char)c;
		else
			memcpy(buf + j, s + i, n), j += n;
		i += n;
	}
	if (i < len)
		memcpy(buf + j, "...", 3), j += 3;
	buf[j] = '\0';
	return buf;
}

/* INVAL with diagnostics, NOMEM, or OK with t->root set (NULL: empty document). */
static int yaml_tree(const char *src, size_t len, tree *t, pr_diags *d)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	node *stack[PR_DEPTH_MAX + 1];
	size_t depth = 0;
	unsigned docs = 0;
	int rc = CARACAL_OK;
	bool done = false;

	if (!yaml_parser_initialize(&ps))
		return CARACAL_E_NOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)src, len);
	yaml_parser_set_encoding(&ps, YAML_UTF8_ENCODING);

	while (!done) {
		if (!yaml_parser_parse(&ps, &ev)) {
			if (ps.error == YAML_MEMORY_ERROR) {
				rc = CARACAL_E_NOMEM;
			} else {
				diag(d, mark_line(ps.problem_mark), "YAML syntax: %s%s%s",
				     ps.problem != NULL ? ps.problem : "error",
				     ps.context != NULL ? " " : "",
				     ps.context != NULL ? ps.context : "");
				rc = CARACAL_E_INVAL;
			}
			break;
		}
		unsigned line = mark_line(ev.start_mark);
		const yaml_char_t *anchor = NULL, *tag = NULL;
		nkind kind = N_SCALAR;
		bool make = false;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				diag(d, line, "only one YAML document is allowed");
				rc = CARACAL_E_INVAL;
				done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			diag(d, line, "aliases are not allowed");
			rc = CARACAL_E_INVAL;
			kind = N_SCALAR; /* a null placeholder keeps the shape */
			make = true;
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			tag = ev.data.scalar.tag;
			make = true;
			kind = N_SCALAR;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			tag = ev.data.sequence_start.tag;
			make = true;
			kind = N_SEQ;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			tag = ev.data.mapping_start.tag;
			make = true;
			kind = N_MAP;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		if (anchor != NULL) {
			diag(d, line, "anchors and aliases are not allowed");
			rc = CARACAL_E_INVAL;
		}
		if (tag != NULL) {
			diag(d, line, "tags are not allowed");
			rc = CARACAL_E_INVAL;
		}
		if (make && !done) {
			if (++t->nodes > PR_NODES_MAX) {
				diag(d, line, "too many YAML nodes (at most %u)", PR_NODES_MAX);
				rc = CARACAL_E_INVAL;
				done = true;
			} else if (kind != N_SCALAR && depth >= PR_DEPTH_MAX) {
				diag(d, line, "nested too deeply (at most %u levels)",
				     PR_DEPTH_MAX);
				rc = CARACAL_E_INVAL;
				done = true;
			} else {
				node *nd = pool_alloc(&t->pool, sizeof *nd);
				if (nd == NULL) {
					rc = CARACAL_E_NOMEM;
					done = true;
				} else {
					nd->kind = kind;
					nd->line = line;
					if (ev.type == YAML_SCALAR_EVENT) {
						nd->len = ev.data.scalar.length;
						nd->text = pool_alloc(&t->pool, nd->len + 1);
						if (nd->text == NULL) {
							rc = CARACAL_E_NOMEM;
							done = true;
						} else {
							memcpy(nd->text, ev.data.scalar.value,
							       nd->len);
							nd->plain = ev.data.scalar.style ==
							            YAML_PLAIN_SCALAR_STYLE;
						}
					} else if (kind == N_SCALAR) { /* alias placeholder */
						nd->text = (char *)"";
						nd->plain = true;
					}
					if (depth == 0) {
						t->root = nd;
					} else {
						node *parent = stack[depth - 1];
						if (parent->last != NULL)
							parent->last->next = nd;
						else
							parent->first = nd;
						parent->last = nd;
						parent->n++;
					}
					if (kind != N_SCALAR)
						stack[depth++] = nd;
				}
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	return rc;
}

/* ------------------------------------------------------------ compiled form */

enum ckind {
	C_WITHIN_GRANTS,
	C_FIELD,
	C_SCOPES_ANY,
	C_SCOPES_ALL_IN,
	C_LABELS_ANY,
	C_DEPTH_MAX,
	C_TIME,
};

typedef struct pr_pat {
	const char *s;
	size_t len;
	bool prefix; /* written with a trailing '*' */
} pr_pat;

typedef struct pr_cond {
	enum ckind kind;
	size_t field;      /* C_FIELD: offsetof(pr_input, <pr_text>) */
	bool flag;         /* C_WITHIN_GRANTS */
	int64_t num;       /* C_DEPTH_MAX */
	int after, before; /* C_TIME: minutes since midnight UTC; -1 absent */
	unsigned weekdays; /* C_TIME: bit 0 = Monday; 0 absent */
	size_t npat;
	const pr_pat *pats;
} pr_cond;

typedef struct pr_condset {
	size_t n;
	const pr_cond *v;
	bool present;
} pr_condset;

typedef struct pr_rule {
	caracal_effect effect;
	const char *name;                                    /* as written */
	const char *name_json, *reason_json, *approval_json; /* rendered, quoted */
	size_t name_json_len, reason_json_len, approval_json_len;
	size_t reason_id; /* index of the first rule with the same reason */
	pr_condset when, unless;
	int64_t max_ttl; /* 0: none */
} pr_rule;

struct pr_policy {
	pr_pool pool;
	size_t nrules;
	pr_rule *rules;
};

size_t pr_policy_rule_count(const pr_policy *p)
{
	return p->nrules;
}

size_t pr_bitmap_words(const pr_policy *p)
{
	return p->nrules / 64u + 1u;
}

void pr_policy_free(pr_policy *p)
{
	if (p == NULL)
		return;
	pr_pool pool = p->pool; /* p lives in its own pool */
	pool_free(&pool);
}

/* ------------------------------------------------------------ compiler */

typedef struct cc {
	pr_policy *p;
	pr_diags *d;
	bool nomem;
} cc;

static char *cc_rendered(cc *c, const char *s, size_t len, size_t *out_len)
{
	size_t n = json_escape(s, len, NULL) + 2;
	char *r = pool_alloc(&c->p->pool, n + 1);
	if (r == NULL) {
		c->nomem = true;
		*out_len = 0;
		return NULL;
	}
	r[0] = '"';
	json_escape(s, len, r + 1);
	r[n - 1] = '"';
	*out_len = n;
	return r;
}

static bool is_null(const node *n)
{
	return n->kind == N_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
	        strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

static const char *kind_name(const node *n)
{
	if (n->kind == N_SEQ)
		return "a list";
	if (n->kind == N_MAP)
		return "a mapping";
	return is_null(n) ? "null" : "a scalar";
}

/* A non-empty string of at most max bytes without control characters. */
static bool get_text(cc *c, const node *n, const char *what, size_t max)
{
	char buf[48];
	if (n->kind != N_SCALAR || is_null(n)) {
		diag(c->d, n->line, "%s must be a string, not %s", what, kind_name(n));
		return false;
	}
	if (n->len == 0 || n->len > max) {
		diag(c->d, n->line, "%s must be 1 to %zu bytes", what, max);
		return false;
	}
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)n->text[i];
		if (ch < 0x20 || ch == 0x7f) {
			diag(c->d, n->line, "%s '%s' contains a control character", what,
			     shown(n->text, n->len, buf, sizeof buf));
			return false;
		}
	}
	return true;
}

static bool get_int(cc *c, const node *n, const char *what, int64_t min, int64_t max, int64_t *out)
{
	char buf[48];
	if (n->kind != N_SCALAR || !n->plain || n->len == 0 || n->len > 18) {
		diag(c->d, n->line, "%s must be an integer", what);
		return false;
	}
	int64_t v = 0;
	for (size_t i = 0; i < n->len; i++) {
		if (n->text[i] < '0' || n->text[i] > '9') {
			diag(c->d, n->line, "%s must be an integer, not '%s'", what,
			     shown(n->text, n->len, buf, sizeof buf));
			return false;
		}
		v = v * 10 + (n->text[i] - '0');
	}
	if (v < min || v > max) {
		diag(c->d, n->line, "%s must be between %" PRId64 " and %" PRId64, what, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool get_bool(cc *c, const node *n, const char *what, bool *out)
{
	if (n->kind == N_SCALAR && n->plain && strcmp(n->text, "true") == 0) {
		*out = true;
		return true;
	}
	if (n->kind == N_SCALAR && n->plain && strcmp(n->text, "false") == 0) {
		*out = false;
		return true;
	}
	diag(c->d, n->line, "%s must be true or false", what);
	return false;
}

/* Keys of a mapping checked against a table: unknown and duplicate keys are
 * reported; *seen gets a bit per known key present. Returns false when n is
 * not a mapping. vals[i] receives the value node of table key i. */
static bool walk_map(cc *c, const node *n, const char *what, const char *const *keys, size_t nkeys,
                     const node **vals)
{
	char buf[48];
	for (size_t i = 0; i < nkeys; i++)
		vals[i] = NULL;
	if (n->kind != N_MAP) {
		diag(c->d, n->line, "%s must be a mapping, not %s", what, kind_name(n));
		return false;
	}
	for (const node *k = n->first; k != NULL && k->next != NULL; k = k->next->next) {
		const node *v = k->next;
		if (k->kind != N_SCALAR) {
			diag(c->d, k->line, "%s: keys must be strings", what);
			continue;
		}
		size_t i = 0;
		while (i < nkeys && strcmp(keys[i], k->text) != 0)
			i++;
		if (i == nkeys || strlen(k->text) != k->len) {
			diag(c->d, k->line, "%s: unknown key '%s'", what,
			     shown(k->text, k->len, buf, sizeof buf));
			continue;
		}
		if (vals[i] != NULL) {
			diag(c->d, k->line, "%s: duplicate key '%s'", what, keys[i]);
			continue;
		}
		vals[i] = v;
	}
	return true;
}

/* A pattern list: one string or a non-empty list of strings. */
static bool get_patterns(cc *c, const node *n, const char *what, const pr_pat **out, size_t *count)
{
	size_t cnt = n->kind == N_SEQ ? n->n : 1;
	if (n->kind == N_MAP || (n->kind == N_SEQ && n->n == 0)) {
		diag(c->d, n->line, "%s must be a string or a non-empty list of strings", what);
		return false;
	}
	pr_pat *v = pool_alloc(&c->p->pool, cnt * sizeof *v);
	if (v == NULL) {
		c->nomem = true;
		return false;
	}
	size_t i = 0;
	bool ok = true;
	for (const node *e = n->kind == N_SEQ ? n->first : n; e != NULL && i < cnt;
	     e = e->next, i++) {
		if (!get_text(c, e, what, PR_TEXT_MAX)) {
			ok = false;
			continue;
		}
		const char *star = memchr(e->text, '*', e->len);
		if (star != NULL && star != e->text + e->len - 1) {
			diag(c->d, e->line, "%s: '*' is only allowed at the end of a pattern",
			     what);
			ok = false;
			continue;
		}
		v[i].s = e->text; /* copied below: the tree is freed after compiling */
		v[i].len = e->len - (star != NULL);
		v[i].prefix = star != NULL;
		char *copy = pool_alloc(&c->p->pool, v[i].len + 1);
		if (copy == NULL) {
			c->nomem = true;
			return false;
		}
		memcpy(copy, e->text, v[i].len);
		v[i].s = copy;
	}
	*out = v;
	*count = cnt;
	return ok;
}

/* "HH:MM", 00:00..24:00, as minutes. */
static bool get_clock(cc *c, const node *n, const char *what, int *out)
{
	if (n->kind == N_SCALAR && n->len == 5 && n->text[2] == ':') {
		const char *s = n->text;
		bool digits = true;
		for (int i = 0; i < 5; i++)
			if (i != 2 && (s[i] < '0' || s[i] > '9'))
				digits = false;
		if (digits) {
			int h = (s[0] - '0') * 10 + (s[1] - '0');
			int m = (s[3] - '0') * 10 + (s[4] - '0');
			if ((h < 24 && m < 60) || (h == 24 && m == 0)) {
				*out = h * 60 + m;
				return true;
			}
		}
	}
	diag(c->d, n->line, "%s must be a time \"HH:MM\" (00:00 to 24:00)", what);
	return false;
}

static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static bool compile_time(cc *c, const node *n, pr_cond *cd)
{
	static const char *const keys[] = {"after", "before", "weekdays"};
	const node *v[3];
	char buf[48];
	if (!walk_map(c, n, "time_utc", keys, 3, v))
		return false;
	bool ok = true;
	cd->after = cd->before = -1;
	if (v[0] == NULL && v[1] == NULL && v[2] == NULL) {
		diag(c->d, n->line, "time_utc needs at least one of after, before, weekdays");
		ok = false;
	}
	if (v[0] != NULL && !get_clock(c, v[0], "time_utc.after", &cd->after))
		ok = false;
	if (v[1] != NULL && !get_clock(c, v[1], "time_utc.before", &cd->before))
		ok = false;
	if (cd->after == 24 * 60) {
		diag(c->d, v[0]->line, "time_utc.after must be before 24:00");
		ok = false;
	}
	if (v[2] != NULL) {
		const node *w = v[2];
		if (w->kind != N_SEQ || w->n == 0) {
			diag(c->d, w->line,
			     "time_utc.weekdays must be a non-empty list of mon..sun");
			return false;
		}
		for (const node *e = w->first; e != NULL; e = e->next) {
			unsigned i = 0;
			while (i < 7 &&
			       !(e->kind == N_SCALAR && strcmp(e->text, day_names[i]) == 0))
				i++;
			if (i == 7 || e->kind != N_SCALAR || strlen(e->text) != e->len) {
				diag(c->d, e->line,
				     "time_utc.weekdays: unknown day '%s' (mon..sun)",
				     e->kind == N_SCALAR ? shown(e->text, e->len, buf, sizeof buf)
				                         : kind_name(e));
				ok = false;
				continue;
			}
			cd->weekdays |= 1u << i;
		}
	}
	return ok;
}

static const struct {
	const char *key;
	enum ckind kind;
	size_t field;
} cond_table[] = {
    {"scopes_within_grants", C_WITHIN_GRANTS, 0},
    {"scopes_any", C_SCOPES_ANY, 0},
    {"scopes_all_in", C_SCOPES_ALL_IN, 0},
    {"labels_any", C_LABELS_ANY, 0},
    {"delegation_depth_max", C_DEPTH_MAX, 0},
    {"time_utc", C_TIME, 0},
    {"zone_id", C_FIELD, offsetof(pr_input, zone_id)},
    {"principal.type", C_FIELD, offsetof(pr_input, principal_type)},
    {"principal.id", C_FIELD, offsetof(pr_input, principal_id)},
    {"principal.registration_method", C_FIELD, offsetof(pr_input, principal_registration_method)},
    {"principal.lifecycle", C_FIELD, offsetof(pr_input, principal_lifecycle)},
    {"subject.kind", C_FIELD, offsetof(pr_input, subject_kind)},
    {"subject.id", C_FIELD, offsetof(pr_input, subject_id)},
    {"resource.id", C_FIELD, offsetof(pr_input, resource_id)},
    {"resource.identifier", C_FIELD, offsetof(pr_input, resource_identifier)},
    {"action.id", C_FIELD, offsetof(pr_input, action_id)},
    {"action.use", C_FIELD, offsetof(pr_input, action_use)},
    {"action.method", C_FIELD, offsetof(pr_input, action_method)},
    {"action.path", C_FIELD, offsetof(pr_input, action_path)},
};
#define NCONDS (sizeof cond_table / sizeof cond_table[0])

static bool compile_conds(cc *c, const node *n, const char *what, pr_condset *out)
{
	const char *keys[NCONDS];
	const node *v[NCONDS];
	for (size_t i = 0; i < NCONDS; i++)
		keys[i] = cond_table[i].key;
	out->present = true;
	if (!walk_map(c, n, what, keys, NCONDS, v))
		return false;
	size_t cnt = 0;
	for (size_t i = 0; i < NCONDS; i++)
		cnt += v[i] != NULL;
	pr_cond *cv = pool_alloc(&c->p->pool, (cnt > 0 ? cnt : 1) * sizeof *cv);
	if (cv == NULL) {
		c->nomem = true;
		return false;
	}
	bool ok = true;
	size_t j = 0;
	char what_key[96];
	for (size_t i = 0; i < NCONDS; i++) {
		if (v[i] == NULL)
			continue;
		pr_cond *cd = &cv[j++];
		cd->kind = cond_table[i].kind;
		cd->field = cond_table[i].field;
		snprintf(what_key, sizeof what_key, "%s.%s", what, keys[i]);
		switch (cd->kind) {
		case C_WITHIN_GRANTS:
			ok &= get_bool(c, v[i], what_key, &cd->flag);
			break;
		case C_DEPTH_MAX:
			ok &= get_int(c, v[i], what_key, 0, PR_DEPTH_LIMIT, &cd->num);
			break;
		case C_TIME:
			ok &= compile_time(c, v[i], cd);
			break;
		default:
			ok &= get_patterns(c, v[i], what_key, &cd->pats, &cd->npat);
			break;
		}
	}
	out->n = cnt;
	out->v = cv;
	return ok;
}

static bool compile_approval(cc *c, const node *n, pr_rule *r)
{
	static const char *const keys[] = {"tier", "approver", "ttl_seconds", "privacy"};
	const node *v[4];
	if (!walk_map(c, n, "approval", keys, 4, v))
		return false;
	bool ok = true;
	int64_t ttl = 0;
	if (v[0] == NULL) {
		diag(c->d, n->line, "approval needs a tier");
		ok = false;
	} else {
		ok &= get_text(c, v[0], "approval.tier", PR_TEXT_MAX);
	}
	if (v[1] == NULL) {
		diag(c->d, n->line, "approval needs an approver (operator, subject or any)");
		ok = false;
	} else if (v[1]->kind != N_SCALAR ||
	           (strcmp(v[1]->text, "operator") != 0 && strcmp(v[1]->text, "subject") != 0 &&
	            strcmp(v[1]->text, "any") != 0)) {
		diag(c->d, v[1]->line, "approval.approver must be operator, subject or any");
		ok = false;
	}
	if (v[2] != NULL)
		ok &= get_int(c, v[2], "approval.ttl_seconds", 1, PR_TTL_MAX, &ttl);
	if (v[3] != NULL)
		ok &= get_text(c, v[3], "approval.privacy", PR_TEXT_MAX);
	if (!ok)
		return false;

	char num[32];
	wbuf w = {NULL, 0, 0};
	for (int pass = 0; pass < 2; pass++) {
		w.len = 0;
		w_str(&w, "{\"tier\":");
		w_json_string(&w, v[0]->text, v[0]->len);
		w_str(&w, ",\"approver\":");
		w_json_string(&w, v[1]->text, v[1]->len);
		if (v[2] != NULL) {
			snprintf(num, sizeof num, ",\"ttl_seconds\":%" PRId64, ttl);
			w_str(&w, num);
		}
		if (v[3] != NULL) {
			w_str(&w, ",\"privacy\":");
			w_json_string(&w, v[3]->text, v[3]->len);
		}
		w_str(&w, "}");
		if (pass == 0) {
			w.cap = w.len;
			w.p = pool_alloc(&c->p->pool, w.cap + 1);
			if (w.p == NULL) {
				c->nomem = true;
				return false;
			}
		}
	}
	r->approval_json = w.p;
	r->approval_json_len = w.len;
	return true;
}

/* Open-addressing set of rule names, for duplicates. */
typedef struct nameset {
	const node **slots;
	size_t cap;
} nameset;

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	return h;
}

/* Returns the earlier node with the same name, or NULL after inserting. */
static const node *nameset_add(nameset *s, const node *name)
{
	size_t i = (size_t)hash_bytes(name->text, name->len) & (s->cap - 1);
	while (s->slots[i] != NULL) {
		if (s->slots[i]->len == name->len &&
		    memcmp(s->slots[i]->text, name->text, name->len) == 0)
			return s->slots[i];
		i = (i + 1) & (s->cap - 1);
	}
	s->slots[i] = name;
	return NULL;
}

static bool compile_name(cc *c, const node *n)
{
	char buf[48];
	if (!get_text(c, n, "name", PR_NAME_MAX))
		return false;
	for (size_t i = 0; i < n->len; i++) {
		char ch = n->text[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr("._:/@+-", ch) != NULL) ||
		    ch == '\0') {
			diag(c->d, n->line,
			     "name '%s' may only contain letters, digits and . _ : / @ + -",
			     shown(n->text, n->len, buf, sizeof buf));
			return false;
		}
	}
	return true;
}

static void compile_rule(cc *c, const node *n, size_t idx, pr_rule *r, nameset *names)
{
	static const char *const keys[] = {"name", "description", "effect",      "reason",
	                                   "when", "unless",      "obligations", "approval"};
	enum { K_NAME, K_DESC, K_EFFECT, K_REASON, K_WHEN, K_UNLESS, K_OBL, K_APPROVAL, K_N };
	const node *v[K_N];
	char what[48];
	snprintf(what, sizeof what, "rule %zu", idx + 1);
	if (!walk_map(c, n, what, keys, K_N, v))
		return;

	const node *name = v[K_NAME];
	if (name == NULL) {
		diag(c->d, n->line, "%s has no name", what);
	} else if (compile_name(c, name)) {
		const node *prev = nameset_add(names, name);
		if (prev != NULL)
			diag(c->d, name->line, "duplicate rule name '%s' (first at line %u)",
			     name->text, prev->line);
		r->name = name->text;
		r->name_json = cc_rendered(c, name->text, name->len, &r->name_json_len);
		snprintf(what, sizeof what, "rule '%s'", name->text);
	}
	if (v[K_DESC] != NULL && v[K_DESC]->kind != N_SCALAR)
		diag(c->d, v[K_DESC]->line, "%s: description must be a string", what);

	bool have_effect = false;
	if (v[K_EFFECT] == NULL) {
		diag(c->d, n->line, "%s has no effect (allow, deny or approval_required)", what);
	} else {
		const node *e = v[K_EFFECT];
		have_effect = true;
		if (e->kind == N_SCALAR && strcmp(e->text, "allow") == 0)
			r->effect = CARACAL_EFFECT_ALLOW;
		else if (e->kind == N_SCALAR && strcmp(e->text, "deny") == 0)
			r->effect = CARACAL_EFFECT_DENY;
		else if (e->kind == N_SCALAR && strcmp(e->text, "approval_required") == 0)
			r->effect = CARACAL_EFFECT_APPROVAL_REQUIRED;
		else {
			char buf[48];
			diag(c->d, e->line,
			     "%s: unknown effect '%s' (allow, deny or approval_required)", what,
			     e->kind == N_SCALAR ? shown(e->text, e->len, buf, sizeof buf)
			                         : kind_name(e));
			have_effect = false;
		}
	}

	const node *reason = v[K_REASON] != NULL ? v[K_REASON] : name;
	if (v[K_REASON] != NULL && !get_text(c, v[K_REASON], "reason", PR_TEXT_MAX))
		reason = NULL;
	if (reason != NULL && reason->kind == N_SCALAR)
		r->reason_json = cc_rendered(c, reason->text, reason->len, &r->reason_json_len);

	if (v[K_WHEN] != NULL) {
		if (is_null(v[K_WHEN]))
			diag(c->d, v[K_WHEN]->line,
			     "%s: when must be a mapping (omit it for always)", what);
		else
			compile_conds(c, v[K_WHEN], "when", &r->when);
	}
	if (v[K_UNLESS] != NULL) {
		if (v[K_UNLESS]->kind == N_MAP && v[K_UNLESS]->n == 0)
			diag(c->d, v[K_UNLESS]->line,
			     "%s: unless needs at least one condition (an empty one never lets the "
			     "rule match)",
			     what);
		else
			compile_conds(c, v[K_UNLESS], "unless", &r->unless);
	}

	if (v[K_OBL] != NULL) {
		static const char *const okeys[] = {"max_ttl_seconds"};
		const node *ov[1];
		if (have_effect && r->effect == CARACAL_EFFECT_DENY)
			diag(c->d, v[K_OBL]->line, "%s: a deny rule has no obligations", what);
		if (walk_map(c, v[K_OBL], "obligations", okeys, 1, ov) && ov[0] != NULL)
			get_int(c, ov[0], "obligations.max_ttl_seconds", 1, PR_TTL_MAX,
			        &r->max_ttl);
	}
	if (v[K_APPROVAL] != NULL) {
		if (have_effect && r->effect != CARACAL_EFFECT_APPROVAL_REQUIRED)
			diag(c->d, v[K_APPROVAL]->line,
			     "%s: approval is only for effect approval_required", what);
		compile_approval(c, v[K_APPROVAL], r);
	} else if (have_effect && r->effect == CARACAL_EFFECT_APPROVAL_REQUIRED) {
		diag(c->d, n->line, "%s: effect approval_required needs an approval block", what);
	}
}

int pr_compile(const char *source, size_t len, size_t max_rules, pr_policy **out, pr_diags *diags)
{
	tree t = {{NULL}, NULL, 0};
	pr_policy *p = NULL;
	int rc;

	*out = NULL;
	diags->n = 0;
	diags->dropped = 0;
	if (max_rules == 0 || max_rules > PR_RULES_HARD_MAX)
		max_rules = PR_RULES_HARD_MAX;
	if (source == NULL) {
		diag(diags, 0, "no policy source");
		return CARACAL_E_INVAL;
	}
	if (len > PR_SOURCE_MAX) {
		diag(diags, 0, "policy source is %zu bytes, more than %u", len, PR_SOURCE_MAX);
		return CARACAL_E_TOOBIG;
	}
	if (memchr(source, '\0', len) != NULL) {
		diag(diags, 0, "policy source contains a NUL byte");
		return CARACAL_E_INVAL;
	}
	rc = yaml_tree(source, len, &t, diags);
	if (rc != CARACAL_OK)
		goto done;

	pr_pool pool = {NULL};
	p = pool_alloc(&pool, sizeof *p);
	if (p == NULL) {
		rc = CARACAL_E_NOMEM;
		goto done;
	}
	p->pool = pool;
	cc c = {p, diags, false};

	static const char *const keys[] = {"version", "description", "rules"};
	const node *v[3];
	if (t.root == NULL) {
		diag(diags, 1, "empty policy: expected version: 1 and rules");
		goto checked;
	}
	if (!walk_map(&c, t.root, "policy", keys, 3, v))
		goto checked;
	int64_t version = 0;
	if (v[0] == NULL)
		diag(diags, t.root->line, "policy: missing 'version: 1'");
	else if (get_int(&c, v[0], "version", 1, INT64_MAX, &version) && version != 1)
		diag(diags, v[0]->line, "version %" PRId64 " is not supported (only 1)", version);
	if (v[1] != NULL && v[1]->kind != N_SCALAR)
		diag(diags, v[1]->line, "description must be a string");
	if (v[2] == NULL) {
		diag(diags, t.root->line, "policy: missing 'rules' (a list; [] denies everything)");
		goto checked;
	}
	const node *rules = v[2];
	if (rules->kind != N_SEQ) {
		diag(diags, rules->line, "rules must be a list, not %s", kind_name(rules));
		goto checked;
	}
	if (rules->n > max_rules) {
		diag(diags, rules->line, "%zu rules, more than max_rules (%zu)", rules->n,
		     max_rules);
		goto checked;
	}
	p->nrules = rules->n;
	p->rules = pool_alloc(&p->pool, (rules->n > 0 ? rules->n : 1) * sizeof *p->rules);
	nameset names = {NULL, 1};
	while (names.cap < rules->n * 2 + 2)
		names.cap <<= 1;
	names.slots = pool_alloc(&t.pool, names.cap * sizeof *names.slots);
	if (p->rules == NULL || names.slots == NULL) {
		rc = CARACAL_E_NOMEM;
		goto done;
	}
	size_t i = 0;
	for (const node *r = rules->first; r != NULL; r = r->next, i++)
		compile_rule(&c, r, i, &p->rules[i], &names);
	/* Reason ids, for dedup when rendering: the same reason text, the same
	 * id (the index of its first rule). */
	if (diags->n == 0 && !c.nomem) {
		size_t *ids = pool_alloc(&t.pool, names.cap * sizeof *ids);
		if (ids == NULL) {
			rc = CARACAL_E_NOMEM;
			goto done;
		}
		for (i = 0; i < p->nrules; i++) {
			pr_rule *r = &p->rules[i];
			size_t h = (size_t)hash_bytes(r->reason_json, r->reason_json_len) &
			           (names.cap - 1);
			while (ids[h] != 0) {
				const pr_rule *o = &p->rules[ids[h] - 1];
				if (o->reason_json_len == r->reason_json_len &&
				    memcmp(o->reason_json, r->reason_json, r->reason_json_len) == 0)
					break;
				h = (h + 1) & (names.cap - 1);
			}
			if (ids[h] == 0)
				ids[h] = i + 1;
			r->reason_id = ids[h] - 1;
		}
	}
	if (c.nomem) {
		rc = CARACAL_E_NOMEM;
		goto done;
	}

checked:
	if (diags->n > 0 || diags->dropped > 0)
		rc = CARACAL_E_INVAL;
done:
	pool_free(&t.pool);
	if (rc != CARACAL_OK) {
		pr_policy_free(p);
		if (rc == CARACAL_E_INVAL && diags->n == 0)
			diag(diags, 0, "invalid policy");
		return rc;
	}
	*out = p;
	return CARACAL_OK;
}

/* ------------------------------------------------------------ evaluation */

static bool pat_match(const pr_pat *p, const char *s, size_t len)
{
	if (p->prefix)
		return len >= p->len && memcmp(s, p->s, p->len) == 0;
	return len == p->len && memcmp(s, p->s, len) == 0;
}

static bool any_pat(const pr_cond *cd, const char *s, size_t len)
{
	for (size_t i = 0; i < cd->npat; i++)
		if (pat_match(&cd->pats[i], s, len))
			return true;
	return false;
}

/* Some element of l matches a pattern. */
static bool arr_any(const pr_cond *cd, const pr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (any_pat(cd, l->v[i].ptr, l->v[i].len))
			return true;
	return false;
}

static bool within_grants(const pr_input *in)
{
	const pr_list *req = &in->requested, *g = &in->grants;
	if (req->n == 0)
		return false;
	for (size_t i = 0; i < req->n; i++) {
		const pr_text *r = &req->v[i];
		bool found = false;
		for (size_t j = 0; j < g->n && !found; j++)
			found = g->v[j].len == r->len && memcmp(g->v[j].ptr, r->ptr, r->len) == 0;
		if (!found)
			return false;
	}
	return true;
}

static bool time_match(const pr_cond *cd, int64_t t)
{
	int64_t days = t / 86400, secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	int minute = (int)(secs / 60);
	/* 1970-01-01 was a Thursday: Monday-based index 3. */
	int64_t wd = (days + 3) % 7;
	if (wd < 0)
		wd += 7;
	if (cd->weekdays != 0 && (cd->weekdays & (1u << wd)) == 0)
		return false;
	if (cd->after >= 0 && cd->before >= 0 && cd->after > cd->before)
		return minute >= cd->after || minute < cd->before; /* across midnight */
	if (cd->after >= 0 && minute < cd->after)
		return false;
	if (cd->before >= 0 && minute >= cd->before)
		return false;
	return true;
}

/* One evaluation: the input, and what is computed once per input. */
typedef struct ectx {
	const pr_input *in;
	int within; /* scopes_within_grants: -1 not yet computed */
} ectx;

static bool cond_holds(const pr_cond *cd, ectx *e)
{
	const pr_input *in = e->in;
	switch (cd->kind) {
	case C_WITHIN_GRANTS:
		if (e->within < 0)
			e->within = within_grants(in); /* O(requested x grants): once */
		return (e->within != 0) == cd->flag;
	case C_FIELD: {
		const pr_text *f = (const pr_text *)(const void *)((const char *)in + cd->field);
		return f->ptr != NULL && any_pat(cd, f->ptr, f->len);
	}
	case C_SCOPES_ANY:
		return arr_any(cd, &in->requested);
	case C_SCOPES_ALL_IN:
		if (in->requested.n == 0)
			return false;
		for (size_t i = 0; i < in->requested.n; i++)
			if (!any_pat(cd, in->requested.v[i].ptr, in->requested.v[i].len))
				return false;
		return true;
	case C_LABELS_ANY:
		return arr_any(cd, &in->labels);
	case C_DEPTH_MAX:
		return in->depth <= cd->num;
	case C_TIME:
		return time_match(cd, in->time);
	}
	return false;
}

static bool all_hold(const pr_condset *s, ectx *e)
{
	for (size_t i = 0; i < s->n; i++)
		if (!cond_holds(&s->v[i], e))
			return false;
	return true;
}

#define BIT(m, i) (((m)[(i) / 64u] >> ((i) % 64u)) & 1u)

/* The three texts, measured (NULL buffers) or written. */
static void render(const pr_outcome *o, wbuf *rs, wbuf *ob, wbuf *dp)
{
	const pr_policy *p = o->policy;
	if (o->no_rule) {
		w_str(rs, "[\"no_rule_matched\"]");
		w_str(dp, "[]");
		return;
	}
	uint64_t seen[PR_BITMAP_WORDS_MAX];
	size_t words = pr_bitmap_words(p);
	memset(seen, 0, words * sizeof seen[0]);
	bool first_r = true, first_d = true;
	w_str(rs, "[");
	w_str(dp, "[");
	for (size_t i = 0; i < p->nrules; i++) {
		const pr_rule *r = &p->rules[i];
		if (!BIT(o->matched, i) || (o->decided_by & (1 << r->effect)) == 0)
			continue;
		w_str(dp, first_d ? "{\"policy\":" : ",{\"policy\":");
		w_put(dp, r->name_json, r->name_json_len);
		w_str(dp, "}");
		first_d = false;
		if (!BIT(seen, r->reason_id)) {
			seen[r->reason_id / 64u] |= UINT64_C(1) << (r->reason_id % 64u);
			if (!first_r)
				w_str(rs, ",");
			w_put(rs, r->reason_json, r->reason_json_len);
			first_r = false;
		}
	}
	w_str(rs, "]");
	w_str(dp, "]");
	if (o->max_ttl > 0 || o->approval_rule >= 0) {
		char num[48];
		w_str(ob, "{");
		if (o->max_ttl > 0) {
			snprintf(num, sizeof num, "\"max_ttl_seconds\":%" PRId64, o->max_ttl);
			w_str(ob, num);
		}
		if (o->approval_rule >= 0) {
			const pr_rule *r = &p->rules[o->approval_rule];
			w_str(ob, o->max_ttl > 0 ? ",\"approval\":" : "\"approval\":");
			w_put(ob, r->approval_json, r->approval_json_len);
		}
		w_str(ob, "}");
	}
}

void pr_evaluate(const pr_policy *p, const pr_input *in, uint64_t *matched, pr_outcome *out)
{
	size_t words = pr_bitmap_words(p);
	size_t count[3] = {0, 0, 0};
	ectx e = {in, -1};
	memset(matched, 0, words * sizeof *matched);
	memset(out, 0, sizeof *out);
	out->policy = p;
	out->matched = matched;
	out->approval_rule = -1;
	for (size_t i = 0; i < p->nrules; i++) {
		const pr_rule *r = &p->rules[i];
		if (!all_hold(&r->when, &e))
			continue;
		if (r->unless.present && all_hold(&r->unless, &e))
			continue;
		matched[i / 64u] |= UINT64_C(1) << (i % 64u);
		count[r->effect]++;
	}
	if (count[CARACAL_EFFECT_DENY] > 0) {
		out->effect = CARACAL_EFFECT_DENY;
		out->decided_by = 1 << CARACAL_EFFECT_DENY;
	} else if (count[CARACAL_EFFECT_APPROVAL_REQUIRED] > 0 && !in->challenge_resolved) {
		out->effect = CARACAL_EFFECT_APPROVAL_REQUIRED;
		out->decided_by = 1 << CARACAL_EFFECT_APPROVAL_REQUIRED;
	} else if (count[CARACAL_EFFECT_ALLOW] > 0 || count[CARACAL_EFFECT_APPROVAL_REQUIRED] > 0) {
		out->effect = CARACAL_EFFECT_ALLOW;
		out->decided_by =
		    (1 << CARACAL_EFFECT_ALLOW) | (1 << CARACAL_EFFECT_APPROVAL_REQUIRED);
	} else {
		out->effect = CARACAL_EFFECT_DENY;
		out->no_rule = true;
	}
	if (out->effect != CARACAL_EFFECT_DENY) {
		/* Obligations: the smallest max_ttl of every matching allow and
		 * approval_required rule; the approval of the first matching
		 * approval_required rule when approval is what is asked. */
		for (size_t i = 0; i < p->nrules; i++) {
			const pr_rule *r = &p->rules[i];
			if (!BIT(matched, i) || r->effect == CARACAL_EFFECT_DENY)
				continue;
			if (r->max_ttl > 0 && (out->max_ttl == 0 || r->max_ttl < out->max_ttl))
				out->max_ttl = r->max_ttl;
			if (out->effect == CARACAL_EFFECT_APPROVAL_REQUIRED &&
			    r->effect == CARACAL_EFFECT_APPROVAL_REQUIRED && out->approval_rule < 0)
				out->approval_rule = (int)i;
		}
	}
	wbuf rs = {NULL, 0, 0}, ob = {NULL, 0, 0}, dp = {NULL, 0, 0};
	render(out, &rs, &ob, &dp);
	out->reasons_len = rs.len;
	out->obligations_len = ob.len;
	out->determining_len = dp.len;
}

void pr_render(const pr_outcome *o, char *reasons, char *obligations, char *determining)
{
	wbuf rs = {reasons, o->reasons_len, 0};
	wbuf ob = {obligations, obligations != NULL ? o->obligations_len : 0, 0};
	wbuf dp = {determining, o->determining_len, 0};
	if (obligations == NULL)
		ob.p = NULL;
	render(o, &rs, &ob, &dp);
	reasons[o->reasons_len] = '\0';
	determining[o->determining_len] = '\0';
	if (obligations != NULL)
		obligations[o->obligations_len] = '\0';
}
