/*
 * config.c — see config.h. YAML (libyaml event API) into an arena-owned tree,
 * typed scalar parsers, --set overrides, schema validation and secrets.
 *
 * Decisions worth knowing (also in config.h):
 *  - A mapping's value node carries the line of its key in `where`, so an
 *    error about key 'x' names the line where 'x' is written.
 *  - YAML null (plain "", "~", "null", "Null", "NULL") becomes "".
 *  - Scalars may not contain NUL bytes (they would silently truncate).
 *  - Keys must be non-empty scalars; duplicates are errors naming both lines.
 *  - Messages never quote scalar values (only keys, escaped and shortened),
 *    so a secret put in the wrong place does not end up in a log.
 */
#include "config/config.h"

#include "util/arena.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_SECRET_MAX_BYTES (64u * 1024u)
/* The name shown in `where` strings is cut (keeping its end) beyond this. */
#define CONFIG_NAME_SHOWN_MAX 200u
/* Keys quoted in messages are cut beyond this many bytes. */
#define CONFIG_KEY_SHOWN_MAX 64u
#define CONFIG_MSG_MAX 512u
/* "did you mean" hints are computed for the first this many errors. */
#define CONFIG_HINTS_MAX 64

#if defined(__GNUC__)
#define CONFIG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CONFIG_PRINTF(a, b)
#endif

struct config_tree {
	caracal_arena *arena;
	config_node *root;
	size_t nodes; /* nodes and keys, bounded by CONFIG_MAX_NODES */
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* Quote s (n bytes) for a message: control bytes, quote and backslash are
 * escaped, the result is cut to CONFIG_KEY_SHOWN_MAX with "...". */
static void show_n(char *out, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[4];
		size_t k;
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			k = 4;
		} else {
			tmp[0] = (char)c;
			k = 1;
		}
		if (o + k >= CONFIG_KEY_SHOWN_MAX || o + k + 4 > cap) {
			if (o + 4 <= cap) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, tmp, k);
		o += k;
	}
	out[o] = '\0';
}

static void show(char *out, size_t cap, const char *s)
{
	show_n(out, cap, s, strlen(s));
}

/* `where` of a node for messages about secrets: a "--set KEY=VALUE" origin is
 * cut before the value. */
static void safe_where(char *out, size_t cap, const char *where)
{
	if (strncmp(where, "--set ", 6) == 0) {
		const char *eq = strchr(where, '=');
		size_t n = eq != NULL ? (size_t)(eq - where) : strlen(where);
		if (n >= cap)
			n = cap - 1;
		memcpy(out, where, n);
		out[n] = '\0';
		return;
	}
	snprintf(out, cap, "%s", where);
}

static const char *kind_name(const config_node *n)
{
	switch (n->kind) {
	case CONFIG_SCALAR:
		return "a scalar";
	case CONFIG_MAP:
		return "a mapping";
	case CONFIG_SEQ:
		return "a sequence";
	}
	return "an unknown node";
}

static void secure_free(void *p, size_t n)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

/* ------------------------------------------------------------------------ */
/* Typed scalar parsers                                                     */
/* ------------------------------------------------------------------------ */

/* Digits only, at least one, no sign; value <= max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	if (n == 0)
		return CARACAL_E_INVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CARACAL_E_INVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return CARACAL_E_INVAL;
		v = v * 10 + d;
	}
	*out = v;
	return CARACAL_OK;
}

static size_t digits_len(const char *s)
{
	size_t n = 0;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

int config_parse_int(const char *text, int64_t *out)
{
	if (text == NULL || out == NULL)
		return CARACAL_E_INVAL;
	int neg = text[0] == '-';
	const char *d = text + neg;
	size_t n = strlen(d);
	uint64_t max = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
	uint64_t v;
	if (parse_u64(d, n, max, &v) != CARACAL_OK)
		return CARACAL_E_INVAL;
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return CARACAL_OK;
}

int config_parse_bool(const char *text, int *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	if (text == NULL || out == NULL)
		return CARACAL_E_INVAL;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = 1;
			return CARACAL_OK;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = 0;
			return CARACAL_OK;
		}
	}
	return CARACAL_E_INVAL;
}

int config_parse_duration_ms(const char *text, int64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
	    {"", 1000}, /* a plain number is seconds */
	    {"ms", 1},  {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	};
	if (text == NULL || out == NULL)
		return CARACAL_E_INVAL;
	size_t n = digits_len(text);
	uint64_t v;
	if (parse_u64(text, n, (uint64_t)INT64_MAX, &v) != CARACAL_OK)
		return CARACAL_E_INVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(text + n, units[i].unit) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].ms)
			return CARACAL_E_INVAL;
		*out = (int64_t)(v * units[i].ms);
		return CARACAL_OK;
	}
	return CARACAL_E_INVAL;
}

int config_parse_size(const char *text, uint64_t *out)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} units[] = {
	    {"", 0},   {"k", 10}, {"K", 10},   {"KiB", 10}, {"m", 20}, {"M", 20},   {"MiB", 20},
	    {"g", 30}, {"G", 30}, {"GiB", 30}, {"t", 40},   {"T", 40}, {"TiB", 40},
	};
	if (text == NULL || out == NULL)
		return CARACAL_E_INVAL;
	size_t n = digits_len(text);
	uint64_t v;
	if (parse_u64(text, n, UINT64_MAX, &v) != CARACAL_OK)
		return CARACAL_E_INVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(text + n, units[i].unit) != 0)
			continue;
		if (v > (UINT64_MAX >> units[i].shift))
			return CARACAL_E_INVAL;
		*out = v << units[i].shift;
		return CARACAL_OK;
	}
	return CARACAL_E_INVAL;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

struct frame {
	config_node *node;
	size_t count, cap;
	const char **keys;
	config_node **children;
	size_t *lines;       /* MAP: the line of each key */
	const char *pending; /* MAP: a key read, its value not yet */
	size_t pending_line;
};

struct loader {
	config_tree *tree;
	caracal_error *err;
	const char *name; /* as shown in messages (maybe shortened) */
	struct frame stack[CONFIG_MAX_DEPTH];
	size_t depth;
	size_t last_line;
	const char *last_where;
	int documents;
	int failed;
};

CONFIG_PRINTF(3, 4)
static void load_error(struct loader *ld, size_t line, const char *fmt, ...)
{
	if (ld->failed)
		return;
	ld->failed = 1;
	char msg[CONFIG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	caracal_error_set(ld->err, CARACAL_E_INVAL, "%s:%zu: %s", ld->name, line, msg);
}

static void load_nomem(struct loader *ld)
{
	if (ld->failed)
		return;
	ld->failed = 1;
	caracal_error_set(ld->err, CARACAL_E_NOMEM, "%s: out of memory", ld->name);
}

static const char *where_for(struct loader *ld, size_t line)
{
	if (ld->last_where != NULL && ld->last_line == line)
		return ld->last_where;
	char buf[CONFIG_NAME_SHOWN_MAX + 32];
	int n = snprintf(buf, sizeof buf, "%s:%zu", ld->name, line);
	if (n < 0)
		return NULL;
	char *w = arena_strndup(ld->tree->arena, buf, (size_t)n);
	if (w == NULL)
		return NULL;
	ld->last_line = line;
	ld->last_where = w;
	return w;
}

static int count_node(struct loader *ld, size_t line)
{
	if (++ld->tree->nodes > CONFIG_MAX_NODES) {
		load_error(ld, line, "too many nodes (the limit is %u)",
		           (unsigned)CONFIG_MAX_NODES);
		return -1;
	}
	return 0;
}

/* Tags of the YAML core schema only, and only on nodes of the right kind. */
static int tag_ok(const yaml_char_t *tag, config_kind kind)
{
	static const char prefix[] = "tag:yaml.org,2002:";
	if (tag == NULL || strcmp((const char *)tag, "!") == 0)
		return 1;
	const char *t = (const char *)tag;
	if (strncmp(t, prefix, sizeof prefix - 1) != 0)
		return 0;
	t += sizeof prefix - 1;
	switch (kind) {
	case CONFIG_SCALAR:
		return strcmp(t, "str") == 0 || strcmp(t, "int") == 0 || strcmp(t, "bool") == 0 ||
		       strcmp(t, "null") == 0 || strcmp(t, "float") == 0;
	case CONFIG_MAP:
		return strcmp(t, "map") == 0;
	case CONFIG_SEQ:
		return strcmp(t, "seq") == 0;
	}
	return 0;
}

/* Checks every node event shares: anchors, tags. */
static int check_node_event(struct loader *ld, const yaml_char_t *anchor, const yaml_char_t *tag,
                            config_kind kind, size_t line)
{
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	if (anchor != NULL) {
		show(shown, sizeof shown, (const char *)anchor);
		load_error(ld, line, "anchor '&%s' is not allowed (no anchors or aliases)", shown);
		return -1;
	}
	if (!tag_ok(tag, kind)) {
		show(shown, sizeof shown, (const char *)tag);
		load_error(ld, line, "tag '%s' is not allowed (only the YAML core schema)", shown);
		return -1;
	}
	return 0;
}

static int frame_push_child(struct loader *ld, struct frame *f, const char *key, size_t key_line,
                            config_node *child)
{
	if (f->count == f->cap) {
		size_t cap = f->cap == 0 ? 8 : f->cap * 2;
		const char **keys = realloc(f->keys, cap * sizeof *keys);
		if (keys == NULL)
			goto nomem;
		f->keys = keys;
		config_node **children = realloc(f->children, cap * sizeof *children);
		if (children == NULL)
			goto nomem;
		f->children = children;
		size_t *lines = realloc(f->lines, cap * sizeof *lines);
		if (lines == NULL)
			goto nomem;
		f->lines = lines;
		f->cap = cap;
	}
	f->keys[f->count] = key;
	f->children[f->count] = child;
	f->lines[f->count] = key_line;
	f->count++;
	return 0;
nomem:
	load_nomem(ld);
	return -1;
}

/* Attach a finished node to the frame on top (or make it the root). */
static int attach(struct loader *ld, config_node *node, size_t line)
{
	if (ld->depth == 0) {
		if (node->kind != CONFIG_MAP) {
			load_error(ld, line, "the top level must be a mapping, not %s",
			           kind_name(node));
			return -1;
		}
		ld->tree->root = node;
		return 0;
	}
	struct frame *f = &ld->stack[ld->depth - 1];
	if (f->node->kind == CONFIG_MAP) {
		const char *key = f->pending;
		size_t kl = f->pending_line;
		f->pending = NULL;
		return frame_push_child(ld, f, key, kl, node);
	}
	return frame_push_child(ld, f, NULL, line, node);
}

/* The line a new node is reported at: a mapping value takes its key's line. */
static size_t node_line(struct loader *ld, size_t line)
{
	if (ld->depth > 0) {
		struct frame *f = &ld->stack[ld->depth - 1];
		if (f->node->kind == CONFIG_MAP && f->pending != NULL)
			return f->pending_line;
	}
	return line;
}

/* Inside a mapping with no pending key, a node event is a key. */
static int expecting_key(struct loader *ld)
{
	if (ld->depth == 0)
		return 0;
	struct frame *f = &ld->stack[ld->depth - 1];
	return f->node->kind == CONFIG_MAP && f->pending == NULL;
}

static int is_null_text(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '~') ||
	       (n == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
	                   memcmp(s, "NULL", 4) == 0));
}

static int on_scalar(struct loader *ld, const yaml_event_t *ev, size_t line)
{
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	if (check_node_event(ld, ev->data.scalar.anchor, ev->data.scalar.tag, CONFIG_SCALAR,
	                     line) != 0)
		return -1;
	if (len > CONFIG_MAX_SCALAR_BYTES) {
		load_error(ld, line, "scalar of %zu bytes is too long (the limit is %u)", len,
		           (unsigned)CONFIG_MAX_SCALAR_BYTES);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		load_error(ld, line, "scalar contains a NUL byte");
		return -1;
	}
	if (count_node(ld, line) != 0)
		return -1;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(text, len))
		len = 0;
	char *copy = arena_strndup(ld->tree->arena, text, len);
	if (copy == NULL) {
		load_nomem(ld);
		return -1;
	}
	if (expecting_key(ld)) {
		if (len == 0) {
			load_error(ld, line, "empty mapping key");
			return -1;
		}
		struct frame *f = &ld->stack[ld->depth - 1];
		f->pending = copy;
		f->pending_line = line;
		return 0;
	}
	config_node *n = arena_alloc(ld->tree->arena, sizeof *n);
	const char *w = where_for(ld, node_line(ld, line));
	if (n == NULL || w == NULL) {
		load_nomem(ld);
		return -1;
	}
	n->kind = CONFIG_SCALAR;
	n->value = copy;
	n->value_len = len;
	n->where = w;
	return attach(ld, n, line);
}

static int on_start(struct loader *ld, const yaml_event_t *ev, config_kind kind, size_t line)
{
	const yaml_char_t *anchor, *tag;
	if (kind == CONFIG_MAP) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	if (check_node_event(ld, anchor, tag, kind, line) != 0)
		return -1;
	if (expecting_key(ld)) {
		load_error(ld, line, "a mapping key must be a scalar, not %s",
		           kind == CONFIG_MAP ? "a mapping" : "a sequence");
		return -1;
	}
	if (ld->depth == 0 && kind != CONFIG_MAP) {
		load_error(ld, line, "the top level must be a mapping, not a sequence");
		return -1;
	}
	if (ld->depth >= CONFIG_MAX_DEPTH) {
		load_error(ld, line, "nested too deeply (the limit is %u levels)",
		           (unsigned)CONFIG_MAX_DEPTH);
		return -1;
	}
	if (count_node(ld, line) != 0)
		return -1;
	config_node *n = arena_alloc(ld->tree->arena, sizeof *n);
	const char *w = where_for(ld, node_line(ld, line));
	if (n == NULL || w == NULL) {
		load_nomem(ld);
		return -1;
	}
	n->kind = kind;
	n->where = w;
	struct frame *f = &ld->stack[ld->depth++];
	memset(f, 0, sizeof *f);
	f->node = n;
	return 0;
}

struct keyref {
	const char *key;
	size_t pos;
};

static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Duplicate keys: sort (key, position); in each run of equal keys the first
 * two entries are the first occurrence and the first repeat. The repeat that
 * comes first in the document is reported. O(n log n) for hostile maps. */
static int check_duplicates(struct loader *ld, const struct frame *f)
{
	if (f->count < 2)
		return 0;
	struct keyref *refs = malloc(f->count * sizeof *refs);
	if (refs == NULL) {
		load_nomem(ld);
		return -1;
	}
	for (size_t i = 0; i < f->count; i++) {
		refs[i].key = f->keys[i];
		refs[i].pos = i;
	}
	qsort(refs, f->count, sizeof *refs, cmp_keyref);
	size_t first = 0, second = SIZE_MAX, run = 0;
	for (size_t i = 1; i < f->count; i++) {
		if (strcmp(refs[i].key, refs[run].key) != 0) {
			run = i;
			continue;
		}
		if (i == run + 1 && refs[i].pos < second) {
			second = refs[i].pos;
			first = refs[run].pos;
		}
	}
	free(refs);
	if (second == SIZE_MAX)
		return 0;
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	show(shown, sizeof shown, f->keys[second]);
	load_error(ld, f->lines[second], "duplicate key '%s' (first at line %zu)", shown,
	           f->lines[first]);
	return -1;
}

static int on_end(struct loader *ld, size_t line)
{
	struct frame *f = &ld->stack[ld->depth - 1];
	config_node *n = f->node;
	int rc = -1;
	if (n->kind == CONFIG_MAP && check_duplicates(ld, f) != 0)
		goto out;
	n->count = f->count;
	if (f->count > 0) {
		n->children = arena_alloc(ld->tree->arena, f->count * sizeof *n->children);
		if (n->children == NULL) {
			load_nomem(ld);
			goto out;
		}
		memcpy(n->children, f->children, f->count * sizeof *n->children);
		if (n->kind == CONFIG_MAP) {
			n->keys = arena_alloc(ld->tree->arena, f->count * sizeof *n->keys);
			if (n->keys == NULL) {
				load_nomem(ld);
				goto out;
			}
			memcpy(n->keys, f->keys, f->count * sizeof *n->keys);
		}
	}
	rc = 0;
out:
	free(f->keys);
	free(f->children);
	free(f->lines);
	memset(f, 0, sizeof *f);
	ld->depth--;
	if (rc != 0)
		return rc;
	return attach(ld, n, line);
}

static int on_event(struct loader *ld, const yaml_event_t *ev)
{
	size_t line = ev->start_mark.line + 1;
	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++ld->documents > 1) {
			load_error(ld, line, "only one YAML document is allowed");
			return -1;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		load_error(ld, line, "aliases are not allowed (no anchors or aliases)");
		return -1;
	case YAML_SCALAR_EVENT:
		return on_scalar(ld, ev, line);
	case YAML_MAPPING_START_EVENT:
		return on_start(ld, ev, CONFIG_MAP, line);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(ld, ev, CONFIG_SEQ, line);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (ld->depth == 0) {
			load_error(ld, line, "unbalanced YAML events");
			return -1;
		}
		return on_end(ld, line);
	}
	load_error(ld, line, "unexpected YAML event");
	return -1;
}

/* Shorten a long name to its last CONFIG_NAME_SHOWN_MAX bytes. */
static const char *shown_name(const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);
	if (n <= CONFIG_NAME_SHOWN_MAX)
		return name;
	snprintf(buf, cap, "...%s", name + n - (CONFIG_NAME_SHOWN_MAX - 3));
	return buf;
}

config_tree *config_tree_load_buffer(const char *name, const char *yaml, size_t len,
                                     caracal_error *err)
{
	char namebuf[CONFIG_NAME_SHOWN_MAX + 1];
	if (name == NULL)
		name = "(config)";
	name = shown_name(name, namebuf, sizeof namebuf);
	if (yaml == NULL && len > 0) {
		caracal_error_set(err, CARACAL_E_INVAL, "%s: no input", name);
		return NULL;
	}
	if (len > CONFIG_MAX_FILE_BYTES) {
		caracal_error_set(err, CARACAL_E_TOOBIG,
		                  "%s: %zu bytes is too large (the limit is %u)", name, len,
		                  (unsigned)CONFIG_MAX_FILE_BYTES);
		return NULL;
	}
	config_tree *tree = calloc(1, sizeof *tree);
	if (tree == NULL || (tree->arena = arena_new()) == NULL) {
		free(tree);
		caracal_error_set(err, CARACAL_E_NOMEM, "%s: out of memory", name);
		return NULL;
	}
	/* The loader holds a 32-frame stack: keep it off small thread stacks. */
	struct loader *ld = calloc(1, sizeof *ld);
	yaml_parser_t parser;
	int parser_ok = 0;
	if (ld == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "%s: out of memory", name);
		goto fail;
	}
	ld->tree = tree;
	ld->err = err;
	ld->name = name;
	if (!yaml_parser_initialize(&parser)) {
		load_nomem(ld);
		goto fail;
	}
	parser_ok = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml != NULL ? yaml : ""),
	                             len);
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				load_nomem(ld);
			} else {
				const char *problem =
				    parser.problem ? parser.problem : "invalid YAML";
				size_t pl = parser.problem_mark.line + 1;
				if (parser.context != NULL)
					load_error(ld, pl, "%s %s (line %zu)", problem,
					           parser.context, parser.context_mark.line + 1);
				else
					load_error(ld, pl, "%s", problem);
			}
			goto fail;
		}
		int rc = on_event(ld, &ev);
		int done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (rc != 0)
			goto fail;
		if (done)
			break;
	}
	if (tree->root == NULL) {
		load_error(ld, 1, "empty configuration (the top level must be a mapping)");
		goto fail;
	}
	yaml_parser_delete(&parser);
	free(ld);
	return tree;
fail:
	if (ld != NULL) {
		for (size_t i = 0; i < ld->depth; i++) {
			free(ld->stack[i].keys);
			free(ld->stack[i].children);
			free(ld->stack[i].lines);
		}
		free(ld);
	}
	if (parser_ok)
		yaml_parser_delete(&parser);
	config_tree_free(tree);
	return NULL;
}

config_tree *config_tree_load_file(const char *path, caracal_error *err)
{
	char namebuf[CONFIG_NAME_SHOWN_MAX + 1];
	if (path == NULL) {
		caracal_error_set(err, CARACAL_E_INVAL, "no config file given");
		return NULL;
	}
	const char *name = shown_name(path, namebuf, sizeof namebuf);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		caracal_error_set(err, errno == ENOENT ? CARACAL_E_NOTFOUND : CARACAL_E_INVAL,
		                  "%s: cannot open: %s", name, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		caracal_error_set(err, CARACAL_E_INVAL, "%s: not a regular file", name);
		close(fd);
		return NULL;
	}
	if ((uintmax_t)st.st_size > CONFIG_MAX_FILE_BYTES) {
		caracal_error_set(err, CARACAL_E_TOOBIG,
		                  "%s: %jd bytes is too large (the limit is %u)", name,
		                  (intmax_t)st.st_size, (unsigned)CONFIG_MAX_FILE_BYTES);
		close(fd);
		return NULL;
	}
	/* Read at most one byte past the limit: the file may grow meanwhile. */
	size_t cap = CONFIG_MAX_FILE_BYTES + 1, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "%s: out of memory", name);
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			caracal_error_set(err, CARACAL_E_INVAL, "%s: read failed: %s", name,
			                  strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0 || (len += (size_t)r) == cap)
			break;
	}
	close(fd);
	config_tree *tree;
	if (len > CONFIG_MAX_FILE_BYTES) {
		caracal_error_set(err, CARACAL_E_TOOBIG, "%s: too large (the limit is %u bytes)",
		                  name, (unsigned)CONFIG_MAX_FILE_BYTES);
		tree = NULL;
	} else {
		/* The path as given (load_buffer shortens it the same way). */
		tree = config_tree_load_buffer(path, buf, len, err);
	}
	free(buf);
	return tree;
}

void config_tree_free(config_tree *tree)
{
	if (tree == NULL)
		return;
	arena_free(tree->arena);
	free(tree);
}

const config_node *config_tree_root(const config_tree *tree)
{
	return tree != NULL ? tree->root : NULL;
}

/* ------------------------------------------------------------------------ */
/* Lookup                                                                   */
/* ------------------------------------------------------------------------ */

static config_node *child_n(const config_node *node, const char *key, size_t n)
{
	if (node == NULL || node->kind != CONFIG_MAP)
		return NULL;
	for (size_t i = 0; i < node->count; i++) {
		if (strncmp(node->keys[i], key, n) == 0 && node->keys[i][n] == '\0')
			return node->children[i];
	}
	return NULL;
}

const config_node *config_get(const config_node *node, const char *key)
{
	if (node == NULL || key == NULL)
		return NULL;
	/* A dotted key always walks nested mappings (as --set does); a key
	 * with a dot in its text is reachable only by iterating children. */
	const char *p = key;
	const config_node *c = node;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0)
			return NULL;
		c = child_n(c, p, n);
		if (c == NULL || dot == NULL)
			return c;
		p = dot + 1;
	}
}

/* Look up key; NOTFOUND / INVAL when absent / not a scalar. */
static int get_scalar(const config_node *node, const char *key, const config_node **out,
                      const char *want, caracal_error *err)
{
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	show(shown, sizeof shown, key != NULL ? key : "(null)");
	const config_node *c = config_get(node, key);
	if (c == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "key '%s' not found", shown);
	if (c->kind != CONFIG_SCALAR)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: key '%s': expected %s, not %s",
		                         c->where, shown, want, kind_name(c));
	*out = c;
	return CARACAL_OK;
}

int config_get_string(const config_node *node, const char *key, const char **out,
                      caracal_error *err)
{
	const config_node *c;
	int rc = get_scalar(node, key, &c, "a string", err);
	if (rc == CARACAL_OK)
		*out = c->value;
	return rc;
}

#define TYPED_GETTER(fn, type, parse, want)                                                    \
	int fn(const config_node *node, const char *key, type *out, caracal_error *err)        \
	{                                                                                      \
		const config_node *c;                                                          \
		int rc = get_scalar(node, key, &c, want, err);                                 \
		if (rc != CARACAL_OK)                                                          \
			return rc;                                                             \
		type v;                                                                        \
		if (parse(c->value, &v) != CARACAL_OK) {                                       \
			char shown[CONFIG_KEY_SHOWN_MAX + 8];                                  \
			show(shown, sizeof shown, key);                                        \
			return caracal_error_set(err, CARACAL_E_INVAL,                         \
			                         "%s: key '%s': expected %s", c->where, shown, \
			                         want);                                        \
		}                                                                              \
		*out = v;                                                                      \
		return CARACAL_OK;                                                             \
	}

TYPED_GETTER(config_get_int, int64_t, config_parse_int, "an integer")
TYPED_GETTER(config_get_bool, int, config_parse_bool, "a boolean (true/false/yes/no/on/off)")
TYPED_GETTER(config_get_duration_ms, int64_t, config_parse_duration_ms,
             "a duration (e.g. 250ms, 5s, 2m, 1h, 1d; a plain number is seconds)")
TYPED_GETTER(config_get_size, uint64_t, config_parse_size, "a size (e.g. 512, 64k, 1m, 1g)")

/* ------------------------------------------------------------------------ */
/* --set                                                                    */
/* ------------------------------------------------------------------------ */

/* Append key -> child to a mapping (arrays are copied into the arena). */
static int map_append(config_tree *tree, config_node *map, const char *key, config_node *child)
{
	size_t n = map->count + 1;
	const char **keys = arena_alloc(tree->arena, n * sizeof *keys);
	config_node **children = arena_alloc(tree->arena, n * sizeof *children);
	if (keys == NULL || children == NULL)
		return CARACAL_E_NOMEM;
	if (map->count > 0) {
		memcpy(keys, map->keys, map->count * sizeof *keys);
		memcpy(children, map->children, map->count * sizeof *children);
	}
	keys[map->count] = key;
	children[map->count] = child;
	map->keys = keys;
	map->children = children;
	map->count = n;
	return CARACAL_OK;
}

int config_tree_set(config_tree *tree, const char *assignment, caracal_error *err)
{
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	if (tree == NULL || tree->root == NULL || assignment == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "--set: no config or no argument");
	const char *eq = strchr(assignment, '=');
	size_t keylen = eq != NULL ? (size_t)(eq - assignment) : strlen(assignment);
	show_n(shown, sizeof shown, assignment, keylen);
	if (eq == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "--set %s: expected KEY=VALUE",
		                         shown);
	if (keylen == 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "--set =...: empty key");
	const char *value = eq + 1;
	size_t vlen = strlen(value);
	if (vlen > CONFIG_MAX_SCALAR_BYTES)
		return caracal_error_set(err, CARACAL_E_TOOBIG,
		                         "--set %s: value too long (the limit is %u bytes)", shown,
		                         (unsigned)CONFIG_MAX_SCALAR_BYTES);
	/* Check the whole path before changing anything. */
	size_t segs = 1;
	for (size_t i = 0; i < keylen; i++) {
		if (assignment[i] == '.') {
			if (i == 0 || assignment[i - 1] == '.' || i + 1 == keylen)
				return caracal_error_set(err, CARACAL_E_INVAL,
				                         "--set %s: empty segment in key", shown);
			segs++;
		}
	}
	if (segs > CONFIG_MAX_DEPTH)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "--set %s: nested too deeply (the limit is %u levels)",
		                         shown, (unsigned)CONFIG_MAX_DEPTH);
	/* First pass: check the path against the tree, change nothing. */
	config_node *cur = tree->root;
	const char *p = assignment;
	for (;;) {
		const char *dot = memchr(p, '.', keylen - (size_t)(p - assignment));
		size_t n = dot != NULL ? (size_t)(dot - p) : keylen - (size_t)(p - assignment);
		config_node *c = child_n(cur, p, n);
		if (dot == NULL) {
			if (c != NULL && c->kind != CONFIG_SCALAR)
				return caracal_error_set(
				    err, CARACAL_E_INVAL,
				    "--set %s: cannot replace %s (at %s) with a "
				    "scalar",
				    shown, kind_name(c), c->where);
			break;
		}
		if (c == NULL)
			break; /* the rest of the path will be created */
		if (c->kind != CONFIG_MAP) {
			char seg[CONFIG_KEY_SHOWN_MAX + 8];
			show_n(seg, sizeof seg, assignment, (size_t)(dot - assignment));
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "--set %s: '%s' is %s (at %s), not a mapping",
			                         shown, seg, kind_name(c), c->where);
		}
		cur = c;
		p = dot + 1;
	}
	if (tree->nodes + 2 * segs > CONFIG_MAX_NODES)
		return caracal_error_set(err, CARACAL_E_TOOBIG, "--set %s: too many nodes", shown);

	/* Second pass: create what is missing, then the scalar. */
	size_t alen = strlen(assignment);
	char *where = arena_alloc(tree->arena, alen + 7);
	if (where == NULL)
		goto nomem;
	memcpy(where, "--set ", 6);
	memcpy(where + 6, assignment, alen + 1);
	cur = tree->root;
	p = assignment;
	for (;;) {
		const char *dot = memchr(p, '.', keylen - (size_t)(p - assignment));
		size_t n = dot != NULL ? (size_t)(dot - p) : keylen - (size_t)(p - assignment);
		config_node *c = child_n(cur, p, n);
		if (dot == NULL) {
			config_node *s = arena_alloc(tree->arena, sizeof *s);
			char *v = arena_strndup(tree->arena, value, vlen);
			if (s == NULL || v == NULL)
				goto nomem;
			s->kind = CONFIG_SCALAR;
			s->value = v;
			s->value_len = vlen;
			s->where = where;
			if (c != NULL) {
				for (size_t i = 0; i < cur->count; i++) {
					if (cur->children[i] == c)
						cur->children[i] = s;
				}
				return CARACAL_OK;
			}
			const char *k = arena_strndup(tree->arena, p, n);
			if (k == NULL || map_append(tree, cur, k, s) != CARACAL_OK)
				goto nomem;
			tree->nodes += 2;
			return CARACAL_OK;
		}
		if (c == NULL) {
			c = arena_alloc(tree->arena, sizeof *c);
			const char *k = arena_strndup(tree->arena, p, n);
			if (c == NULL || k == NULL)
				goto nomem;
			c->kind = CONFIG_MAP;
			c->where = where;
			if (map_append(tree, cur, k, c) != CARACAL_OK)
				goto nomem;
			tree->nodes += 2;
		}
		cur = c;
		p = dot + 1;
	}
nomem:
	/* Anything already linked in is a valid (if partial) tree. */
	return caracal_error_set(err, CARACAL_E_NOMEM, "--set %s: out of memory", shown);
}

/* ------------------------------------------------------------------------ */
/* Secrets                                                                  */
/* ------------------------------------------------------------------------ */

/* Read a secret file into a fresh buffer (cleansed by the caller). */
static int read_secret_file(const char *path, int production, const char *where, const char *key,
                            unsigned char **out, size_t *out_len, caracal_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: key '%s_file': cannot open: %s",
		                         where, key, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: key '%s_file': not a regular file", where, key);
	}
	if ((st.st_mode & 077) != 0) {
		if (production) {
			close(fd);
			return caracal_error_set(
			    err, CARACAL_E_INVAL,
			    "%s: key '%s_file': the file is accessible by group or others (mode "
			    "%04o); in production it must be 0600 or 0400 (chmod go= FILE)",
			    where, key, (unsigned)(st.st_mode & 07777));
		}
		log_warn(
		    "config",
		    "%s: key '%s_file': the file is accessible by group or others (mode %04o); "
		    "production mode rejects this",
		    where, key, (unsigned)(st.st_mode & 07777));
	}
	if ((uintmax_t)st.st_size > CONFIG_SECRET_MAX_BYTES + 2u) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: key '%s_file': the file is larger than %u bytes",
		                         where, key, (unsigned)CONFIG_SECRET_MAX_BYTES);
	}
	/* Room for the limit, a "\r\n" and one more byte to detect growth. */
	size_t cap = CONFIG_SECRET_MAX_BYTES + 3u, len = 0;
	unsigned char *buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_NOMEM, "%s: key '%s_file': out of memory",
		                         where, key);
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			secure_free(buf, cap);
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "%s: key '%s_file': read failed: %s", where, key,
			                         strerror(e));
		}
		if (r == 0 || (len += (size_t)r) == cap)
			break;
	}
	close(fd);
	if (len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && buf[len - 1] == '\n')
		len -= 1;
	if (len > CONFIG_SECRET_MAX_BYTES) {
		secure_free(buf, cap);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: key '%s_file': the file is larger than %u bytes",
		                         where, key, (unsigned)CONFIG_SECRET_MAX_BYTES);
	}
	*out = buf;
	*out_len = len;
	return CARACAL_OK;
}

int config_get_secret(const config_node *node, const char *key, int production,
                      const char *base_dir, unsigned char *buf, size_t cap, size_t *len,
                      caracal_error *err)
{
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	char where[CONFIG_NAME_SHOWN_MAX + CONFIG_KEY_SHOWN_MAX + 32];
	if (key == NULL || len == NULL || (buf == NULL && cap > 0))
		return caracal_error_set(err, CARACAL_E_INVAL, "config_get_secret: bad arguments");
	show(shown, sizeof shown, key);
	size_t klen = strlen(key);
	char *kf = malloc(klen + 6), *ke = malloc(klen + 5);
	if (kf == NULL || ke == NULL) {
		free(kf);
		free(ke);
		return caracal_error_set(err, CARACAL_E_NOMEM, "key '%s': out of memory", shown);
	}
	memcpy(kf, key, klen);
	memcpy(kf + klen, "_file", 6);
	memcpy(ke, key, klen);
	memcpy(ke + klen, "_env", 5);
	const config_node *nf = config_get(node, kf);
	const config_node *ne = config_get(node, ke);
	const config_node *ni = config_get(node, key);
	free(kf);
	free(ke);

	int present = (nf != NULL) + (ne != NULL) + (ni != NULL);
	if (present == 0)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "key '%s' not found", shown);
	const config_node *n = nf != NULL ? nf : ne != NULL ? ne : ni;
	safe_where(where, sizeof where, n->where);
	if (present > 1)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: key '%s': give exactly one of '%s_file', '%s_env' or "
		                         "'%s'",
		                         where, shown, shown, shown, shown);
	const char *suffix = n == nf ? "_file" : n == ne ? "_env" : "";
	if (n->kind != CONFIG_SCALAR)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: key '%s%s': expected %s, not %s", where, shown,
		                         suffix,
		                         n == nf   ? "a file name"
		                         : n == ne ? "an environment variable name"
		                                   : "a string",
		                         kind_name(n));

	const unsigned char *src = NULL;
	size_t srclen = 0;
	unsigned char *owned = NULL;
	size_t owned_cap = CONFIG_SECRET_MAX_BYTES + 3u;
	if (n == nf) {
		if (n->value_len == 0)
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "%s: key '%s_file': empty file name", where,
			                         shown);
		char joined[4096];
		const char *path = n->value;
		if (path[0] != '/' && base_dir != NULL) {
			if (snprintf(joined, sizeof joined, "%s/%s", base_dir, path) >=
			    (int)sizeof joined)
				return caracal_error_set(err, CARACAL_E_INVAL,
				                         "%s: key '%s_file': path too long", where,
				                         shown);
			path = joined;
		}
		int rc = read_secret_file(path, production, where, shown, &owned, &srclen, err);
		if (rc != CARACAL_OK)
			return rc;
		src = owned;
	} else if (n == ne) {
		char var[CONFIG_KEY_SHOWN_MAX + 8];
		show(var, sizeof var, n->value);
		if (n->value_len == 0)
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "%s: key '%s_env': empty variable name", where,
			                         shown);
		const char *v = getenv(n->value);
		if (v == NULL)
			return caracal_error_set(
			    err, CARACAL_E_INVAL,
			    "%s: key '%s_env': environment variable '%s' is not "
			    "set",
			    where, shown, var);
		src = (const unsigned char *)v;
		srclen = strlen(v);
	} else {
		if (production)
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "%s: key '%s': inline secrets are not allowed in "
			                         "production; use '%s_file' or '%s_env'",
			                         where, shown, shown, shown);
		log_warn(
		    "config",
		    "%s: key '%s': inline secret (allowed in development only; use '%s_file' or "
		    "'%s_env')",
		    where, shown, shown, shown);
		src = (const unsigned char *)n->value;
		srclen = n->value_len;
	}
	int rc = CARACAL_OK;
	if (srclen == 0) {
		rc = caracal_error_set(err, CARACAL_E_INVAL, "%s: key '%s%s': the secret is empty",
		                       where, shown, suffix);
	} else if (srclen > cap) {
		rc = caracal_error_set(err, CARACAL_E_TOOBIG,
		                       "%s: key '%s%s': the secret (%zu bytes) does not fit in %zu "
		                       "bytes",
		                       where, shown, suffix, srclen, cap);
	} else {
		memcpy(buf, src, srclen);
		*len = srclen;
	}
	secure_free(owned, owned_cap);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */
/* ------------------------------------------------------------------------ */

struct vctx {
	const caracal_cfg_key *schema;
	const char *const *ignore;
	config_report_fn report;
	void *ud;
	caracal_error *err;
	int errors;
};

CONFIG_PRINTF(2, 3)
static void verr(struct vctx *v, const char *fmt, ...)
{
	char msg[CONFIG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	if (v->errors++ == 0)
		caracal_error_set(v->err, CARACAL_E_INVAL, "%s", msg);
	if (v->report != NULL)
		v->report(v->ud, msg);
}

static int has_prefix_path(const char *name, const char *path, size_t plen)
{
	return strncmp(name, path, plen) == 0 && name[plen] == '.';
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The closest schema key (full dotted name) to unknown path within edit
 * distance 2 of the same level, written to out; 0 when none. */
static int suggest(const struct vctx *v, const char *path, const char *prefix, size_t prelen,
                   char *out, size_t cap)
{
	size_t best = 3;
	const char *seg = path + (prelen > 0 ? prelen + 1 : 0);
	size_t segl = strlen(seg);
	if (segl > 64 || v->errors > CONFIG_HINTS_MAX)
		return 0; /* bound the work a hostile config can cause */
	for (const caracal_cfg_key *k = v->schema; k->name != NULL; k++) {
		const char *rest;
		if (prelen == 0)
			rest = k->name;
		else if (has_prefix_path(k->name, prefix, prelen))
			rest = k->name + prelen + 1;
		else
			continue;
		char cand[80];
		const char *dot = strchr(rest, '.');
		size_t cn = dot != NULL ? (size_t)(dot - rest) : strlen(rest);
		if (cn >= 64)
			continue;
		static const char *const sfx[] = {"", "_file", "_env"};
		size_t forms = (dot == NULL && k->type == CARACAL_CFG_SECRET) ? 3 : 1;
		for (size_t f = 0; f < forms; f++) {
			int cl = snprintf(cand, sizeof cand, "%.*s%s", (int)cn, rest, sfx[f]);
			if (cl < 0 || (size_t)cl + 2 < segl || segl + 2 < (size_t)cl)
				continue; /* the lengths alone differ by more than 2 */
			size_t d = edit_distance(seg, cand);
			if (d < best) {
				best = d;
				if (prelen > 0)
					snprintf(out, cap, "%.*s.%s", (int)prelen, prefix, cand);
				else
					snprintf(out, cap, "%s", cand);
			}
		}
	}
	return best <= 2;
}

static const caracal_cfg_key *schema_find(const struct vctx *v, const char *name)
{
	for (const caracal_cfg_key *k = v->schema; k->name != NULL; k++) {
		if (strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

static int schema_has_below(const struct vctx *v, const char *path, size_t plen)
{
	for (const caracal_cfg_key *k = v->schema; k->name != NULL; k++) {
		if (has_prefix_path(k->name, path, plen))
			return 1;
	}
	return 0;
}

static int ignored(const struct vctx *v, const char *path)
{
	if (v->ignore == NULL)
		return 0;
	for (const char *const *i = v->ignore; *i != NULL; i++) {
		if (strcmp(*i, path) == 0)
			return 1;
	}
	return 0;
}

/* The SECRET entry that path names as K_file / K_env, or NULL. */
static const caracal_cfg_key *secret_form(const struct vctx *v, const char *path,
                                          const char **suffix)
{
	static const char *const sfx[] = {"_file", "_env"};
	size_t n = strlen(path);
	for (size_t i = 0; i < 2; i++) {
		size_t sl = strlen(sfx[i]);
		if (n <= sl || strcmp(path + n - sl, sfx[i]) != 0)
			continue;
		for (const caracal_cfg_key *k = v->schema; k->name != NULL; k++) {
			if (k->type == CARACAL_CFG_SECRET && strlen(k->name) == n - sl &&
			    strncmp(k->name, path, n - sl) == 0) {
				*suffix = sfx[i];
				return k;
			}
		}
	}
	return NULL;
}

static void check_type(struct vctx *v, const caracal_cfg_key *k, const config_node *c,
                       const char *shown)
{
	const char *want = NULL;
	switch (k->type) {
	case CARACAL_CFG_STRING:
		if (c->kind != CONFIG_SCALAR)
			want = "a string";
		break;
	case CARACAL_CFG_SECRET:
		if (c->kind != CONFIG_SCALAR)
			want = "a string";
		else if (c->value_len == 0)
			want = "a non-empty secret";
		break;
	case CARACAL_CFG_INT: {
		int64_t x;
		if (c->kind != CONFIG_SCALAR || config_parse_int(c->value, &x) != CARACAL_OK)
			want = "an integer";
		break;
	}
	case CARACAL_CFG_BOOL: {
		int x;
		if (c->kind != CONFIG_SCALAR || config_parse_bool(c->value, &x) != CARACAL_OK)
			want = "a boolean (true/false/yes/no/on/off)";
		break;
	}
	case CARACAL_CFG_DURATION: {
		int64_t x;
		if (c->kind != CONFIG_SCALAR ||
		    config_parse_duration_ms(c->value, &x) != CARACAL_OK)
			want = "a duration (e.g. 250ms, 5s, 2m, 1h, 1d; a plain number is seconds)";
		break;
	}
	case CARACAL_CFG_SIZE: {
		uint64_t x;
		if (c->kind != CONFIG_SCALAR || config_parse_size(c->value, &x) != CARACAL_OK)
			want = "a size (e.g. 512, 64k, 1m, 1g)";
		break;
	}
	case CARACAL_CFG_LIST:
		if (c->kind != CONFIG_SEQ) {
			want = "a list";
			break;
		}
		for (size_t i = 0; i < c->count; i++) {
			if (c->children[i]->kind != CONFIG_SCALAR)
				verr(v,
				     "%s: key '%s': item %zu of the list must be a scalar, not %s",
				     c->children[i]->where, shown, i + 1,
				     kind_name(c->children[i]));
		}
		break;
	case CARACAL_CFG_MAP:
		if (c->kind != CONFIG_MAP)
			want = "a mapping";
		break;
	default:
		verr(v, "%s: key '%s': the schema gives it an unknown type %d", c->where, shown,
		     (int)k->type);
		return;
	}
	if (want != NULL) {
		/* A type error on a secret's node must not name a --set value. */
		char where[CONFIG_NAME_SHOWN_MAX + CONFIG_KEY_SHOWN_MAX + 32];
		if (k->type == CARACAL_CFG_SECRET)
			safe_where(where, sizeof where, c->where);
		else
			snprintf(where, sizeof where, "%s", c->where);
		if (c->kind == CONFIG_SCALAR && k->type != CARACAL_CFG_LIST &&
		    k->type != CARACAL_CFG_MAP)
			verr(v, "%s: key '%s': expected %s", where, shown, want);
		else
			verr(v, "%s: key '%s': expected %s, not %s", where, shown, want,
			     kind_name(c));
	}
}

/* Validate mapping m whose dotted path (relative to the validated node) is
 * prefix (prelen bytes; empty at the top). */
static void validate_map(struct vctx *v, const config_node *m, const char *prefix, size_t prelen,
                         int depth)
{
	char path[1024];
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	for (size_t i = 0; i < m->count; i++) {
		const config_node *c = m->children[i];
		int pn = prelen > 0 ? snprintf(path, sizeof path, "%.*s.%s", (int)prelen, prefix,
		                               m->keys[i])
		                    : snprintf(path, sizeof path, "%s", m->keys[i]);
		show(shown, sizeof shown, path);
		if (pn < 0 || (size_t)pn >= sizeof path) {
			verr(v, "%s: unknown key '%s'", c->where, shown);
			continue;
		}
		if (ignored(v, path))
			continue;
		if (strchr(m->keys[i], '.') != NULL) {
			verr(v,
			     "%s: unknown key '%s' (a dot in a key is not a path: write nested "
			     "mappings)",
			     c->where, shown);
			continue;
		}
		const caracal_cfg_key *k = schema_find(v, path);
		if (k != NULL) {
			check_type(v, k, c, shown);
			continue;
		}
		const char *suffix = NULL;
		k = secret_form(v, path, &suffix);
		if (k != NULL) {
			char where[CONFIG_NAME_SHOWN_MAX + CONFIG_KEY_SHOWN_MAX + 32];
			safe_where(where, sizeof where, c->where);
			if (c->kind != CONFIG_SCALAR)
				verr(v, "%s: key '%s': expected %s, not %s", where, shown,
				     strcmp(suffix, "_file") == 0 ? "a file name"
				                                  : "an environment variable name",
				     kind_name(c));
			else if (c->value_len == 0)
				verr(v, "%s: key '%s': must not be empty", where, shown);
			continue;
		}
		if (schema_has_below(v, path, (size_t)pn)) {
			if (c->kind != CONFIG_MAP)
				verr(v, "%s: key '%s': expected a mapping, not %s", c->where, shown,
				     kind_name(c));
			else if (depth < CONFIG_MAX_DEPTH)
				validate_map(v, c, path, (size_t)pn, depth + 1);
			continue;
		}
		char hint[160];
		char hshown[CONFIG_KEY_SHOWN_MAX + 8];
		if (suggest(v, path, prefix, prelen, hint, sizeof hint)) {
			show(hshown, sizeof hshown, hint);
			verr(v, "%s: unknown key '%s' (did you mean '%s'?)", c->where, shown,
			     hshown);
		} else {
			verr(v, "%s: unknown key '%s'", c->where, shown);
		}
	}
}

/* Find the node at a dotted schema path; *deepest receives the deepest
 * mapping reached (for the where of a "missing" error). Returns NULL when a
 * component is absent, and sets *blocked when one is not a mapping. */
static const config_node *walk(const config_node *root, const char *name,
                               const config_node **deepest, int *blocked)
{
	const config_node *cur = root;
	const char *p = name;
	*deepest = root;
	*blocked = 0;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		const config_node *c = child_n(cur, p, n);
		if (c == NULL || dot == NULL)
			return c;
		if (c->kind != CONFIG_MAP) {
			*blocked = 1;
			return NULL;
		}
		cur = c;
		*deepest = c;
		p = dot + 1;
	}
}

static void validate_secrets_and_required(struct vctx *v, const config_node *root)
{
	char shown[CONFIG_KEY_SHOWN_MAX + 8];
	for (const caracal_cfg_key *k = v->schema; k->name != NULL; k++) {
		const config_node *deepest = root;
		int blocked = 0;
		int present;
		show(shown, sizeof shown, k->name);
		if (k->type == CARACAL_CFG_SECRET) {
			size_t n = strlen(k->name);
			char *name = malloc(n + 6);
			if (name == NULL) {
				verr(v, "%s: key '%s': out of memory", root->where, shown);
				continue;
			}
			const config_node *d2;
			int b2;
			const config_node *ni = walk(root, k->name, &deepest, &blocked);
			memcpy(name, k->name, n);
			memcpy(name + n, "_file", 6);
			const config_node *nf = walk(root, name, &d2, &b2);
			memcpy(name + n, "_env", 5);
			const config_node *ne = walk(root, name, &d2, &b2);
			free(name);
			present = (ni != NULL) + (nf != NULL) + (ne != NULL);
			if (present > 1) {
				const config_node *w = nf != NULL ? nf : ne;
				char where[CONFIG_NAME_SHOWN_MAX + CONFIG_KEY_SHOWN_MAX + 32];
				safe_where(where, sizeof where, w->where);
				verr(
				    v,
				    "%s: key '%s': give exactly one of '%s_file', '%s_env' or '%s'",
				    where, shown, shown, shown, shown);
			}
		} else {
			present = walk(root, k->name, &deepest, &blocked) != NULL;
		}
		if (present == 0 && !blocked && (k->flags & CARACAL_CFG_REQUIRED) != 0) {
			if (k->type == CARACAL_CFG_SECRET)
				verr(v,
				     "%s: key '%s': missing (required; give '%s_file' or '%s_env')",
				     deepest->where, shown, shown, shown);
			else
				verr(v, "%s: key '%s': missing (required)", deepest->where, shown);
		}
	}
}

int config_validate(const config_node *node, const caracal_cfg_key *schema,
                    const char *const *ignore, config_report_fn report, void *ud,
                    caracal_error *err)
{
	static const caracal_cfg_key empty[] = {{NULL, 0, 0, NULL}};
	struct vctx v = {schema != NULL ? schema : empty, ignore, report, ud, err, 0};
	if (node == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "no config to validate");
	if (node->kind != CONFIG_MAP) {
		verr(&v, "%s: expected a mapping, not %s", node->where, kind_name(node));
		return CARACAL_E_INVAL;
	}
	validate_map(&v, node, "", 0, 1);
	validate_secrets_and_required(&v, node);
	return v.errors == 0 ? CARACAL_OK : CARACAL_E_INVAL;
}
