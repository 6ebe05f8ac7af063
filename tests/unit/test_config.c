/* test_config.c — unit tests of core/config: loading, bounds, validation,
 * --set, typed parsers and secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "util/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static config_tree *load(const char *yaml, caracal_error *err)
{
	memset(err, 0, sizeof *err);
	return config_tree_load_buffer("test.yaml", yaml, strlen(yaml), err);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

static void assert_not_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) != NULL)
		fail_msg("did not expect \"%s\" in \"%s\"", needle, haystack);
}

/* Expect loading to fail with INVAL and a message containing want. */
static void load_fails(const char *yaml, const char *want)
{
	caracal_error err;
	config_tree *t = load(yaml, &err);
	if (t != NULL) {
		config_tree_free(t);
		fail_msg("loading succeeded; expected an error with \"%s\"", want);
	}
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, want);
}

/* Write len bytes to a new temp file with the given mode; returns a malloc'd
 * path (the caller unlinks and frees it). */
static char *temp_file(const void *data, size_t len, mode_t mode)
{
	const char *dir = getenv("TMPDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	size_t n = strlen(dir) + 32;
	char *path = malloc(n);
	assert_non_null(path);
	snprintf(path, n, "%s/test_config.XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const unsigned char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void remove_temp(char *path)
{
	unlink(path);
	free(path);
}

/* Collects what config_validate reports. */
struct reports {
	int count;
	char all[4096];
};

static void collect(void *ud, const char *message)
{
	struct reports *r = ud;
	r->count++;
	size_t used = strlen(r->all);
	snprintf(r->all + used, sizeof r->all - used, "%s\n", message);
}

static const caracal_cfg_key schema[] = {
    {"mode", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED, "development or production"},
    {"data_dir", CARACAL_CFG_STRING, 0, "state directory"},
    {"threads.loops", CARACAL_CFG_INT, 0, "event-loop threads"},
    {"threads.workers", CARACAL_CFG_INT, 0, "decision pool size"},
    {"sts.listen", CARACAL_CFG_STRING, 0, "host:port"},
    {"sts.issuer", CARACAL_CFG_STRING, 0, "issuer URL"},
    {"sts.token_ttl", CARACAL_CFG_DURATION, 0, "token lifetime"},
    {"sts.max_body", CARACAL_CFG_SIZE, 0, "request body limit"},
    {"sts.hmac_key", CARACAL_CFG_SECRET, 0, "HMAC key"},
    {"sts.allowed_hosts", CARACAL_CFG_LIST, 0, "host names"},
    {"sts.debug", CARACAL_CFG_BOOL, 0, "debug"},
    {"sts.extra", CARACAL_CFG_MAP, 0, "free-form"},
    {NULL, 0, 0, NULL},
};

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

static void test_good_config(void **state)
{
	(void)state;
	caracal_error err;
	config_tree *t = load("mode: production\n"
	                      "threads:\n"
	                      "  loops: 4\n"
	                      "  workers: -2\n"
	                      "sts:\n"
	                      "  listen: '127.0.0.1:8080'\n"
	                      "  hosts: [a, b, \"c d\"]\n"
	                      "  block:\n"
	                      "    - x\n"
	                      "    - y\n"
	                      "  empty:\n"
	                      "  tilde: ~\n"
	                      "  quoted_null: 'null'\n"
	                      "  flag: yes\n"
	                      "  ttl: 250ms\n"
	                      "  body: 64KiB\n"
	                      "  text: |\n"
	                      "    line one\n"
	                      "    line two\n",
	                      &err);
	assert_non_null(t);
	const config_node *root = config_tree_root(t);
	assert_non_null(root);
	assert_int_equal(root->kind, CONFIG_MAP);
	assert_int_equal(root->count, 3);
	assert_string_equal(root->keys[0], "mode");
	assert_string_equal(root->keys[2], "sts");

	const char *s;
	int64_t i;
	int b;
	uint64_t sz;
	assert_int_equal(config_get_string(root, "mode", &s, &err), CARACAL_OK);
	assert_string_equal(s, "production");
	assert_int_equal(config_get_int(root, "threads.loops", &i, &err), CARACAL_OK);
	assert_int_equal(i, 4);
	assert_int_equal(config_get_int(root, "threads.workers", &i, &err), CARACAL_OK);
	assert_int_equal(i, -2);
	assert_int_equal(config_get_string(root, "sts.listen", &s, &err), CARACAL_OK);
	assert_string_equal(s, "127.0.0.1:8080");
	assert_int_equal(config_get_bool(root, "sts.flag", &b, &err), CARACAL_OK);
	assert_int_equal(b, 1);
	assert_int_equal(config_get_duration_ms(root, "sts.ttl", &i, &err), CARACAL_OK);
	assert_int_equal(i, 250);
	assert_int_equal(config_get_size(root, "sts.body", &sz, &err), CARACAL_OK);
	assert_int_equal(sz, 65536);
	assert_int_equal(config_get_string(root, "sts.text", &s, &err), CARACAL_OK);
	assert_string_equal(s, "line one\nline two\n");

	/* YAML null becomes "", a quoted "null" stays text. */
	assert_int_equal(config_get_string(root, "sts.empty", &s, &err), CARACAL_OK);
	assert_string_equal(s, "");
	assert_int_equal(config_get_string(root, "sts.tilde", &s, &err), CARACAL_OK);
	assert_string_equal(s, "");
	assert_int_equal(config_get_string(root, "sts.quoted_null", &s, &err), CARACAL_OK);
	assert_string_equal(s, "null");

	const config_node *hosts = config_get(root, "sts.hosts");
	assert_non_null(hosts);
	assert_int_equal(hosts->kind, CONFIG_SEQ);
	assert_int_equal(hosts->count, 3);
	assert_string_equal(hosts->children[2]->value, "c d");
	assert_int_equal(hosts->children[2]->value_len, 3);
	assert_null(hosts->keys);
	const config_node *block = config_get(config_get(root, "sts"), "block");
	assert_non_null(block);
	assert_int_equal(block->count, 2);
	assert_string_equal(block->children[1]->where, "test.yaml:10");

	/* where: a mapping value carries its key's line. */
	assert_string_equal(config_get(root, "mode")->where, "test.yaml:1");
	assert_string_equal(config_get(root, "threads")->where, "test.yaml:2");
	assert_string_equal(config_get(root, "threads.workers")->where, "test.yaml:4");
	assert_string_equal(config_get(root, "sts.ttl")->where, "test.yaml:15");

	/* Lookups that find nothing. */
	assert_null(config_get(root, "nope"));
	assert_null(config_get(root, "threads.nope"));
	assert_null(config_get(root, "mode.x"));
	assert_null(config_get(root, "threads..loops"));
	assert_null(config_get(root, ".mode"));
	assert_null(config_get(NULL, "mode"));
	assert_null(config_get(hosts, "a"));
	config_tree_free(t);
}

static void test_good_file_validates(void **state)
{
	(void)state;
	const char *src = getenv("CARACAL_SRCDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/data/config/good.yaml", src != NULL ? src : ".");
	caracal_error err = {0};
	config_tree *t = config_tree_load_file(path, &err);
	if (t == NULL)
		fail_msg("%s", err.message);
	struct reports r = {0};
	int rc = config_validate(config_tree_root(t), schema, NULL, collect, &r, &err);
	if (rc != CARACAL_OK)
		fail_msg("%s", r.all);
	assert_int_equal(r.count, 0);
	uint64_t sz;
	assert_int_equal(config_get_size(config_tree_root(t), "sts.max_body", &sz, &err),
	                 CARACAL_OK);
	assert_int_equal(sz, 64 * 1024);
	config_tree_free(t);

	snprintf(path, sizeof path, "%s/tests/data/config/unknown-key.yaml",
	         src != NULL ? src : ".");
	t = config_tree_load_file(path, &err);
	assert_non_null(t);
	rc = config_validate(config_tree_root(t), schema, NULL, NULL, NULL, &err);
	assert_int_equal(rc, CARACAL_E_INVAL);
	/* The path as given, then the line. */
	char want[4200];
	snprintf(want, sizeof want, "%s:4: unknown key 'threads.wrokers'", path);
	assert_contains(err.message, want);
	assert_contains(err.message, "did you mean 'threads.workers'?");
	config_tree_free(t);
}

static void test_load_file_errors(void **state)
{
	(void)state;
	caracal_error err;
	assert_null(config_tree_load_file("/nonexistent/caracal.yaml", &err));
	assert_int_equal(err.code, CARACAL_E_NOTFOUND);
	assert_contains(err.message, "/nonexistent/caracal.yaml");
	assert_null(config_tree_load_file("/", &err));
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "not a regular file");
	assert_null(config_tree_load_file(NULL, &err));

	/* One byte over the limit. */
	size_t n = CONFIG_MAX_FILE_BYTES + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, '#', n);
	char *path = temp_file(big, n, 0600);
	assert_null(config_tree_load_file(path, &err));
	assert_int_equal(err.code, CARACAL_E_TOOBIG);
	assert_contains(err.message, path);
	remove_temp(path);
	/* The same in memory. */
	assert_null(config_tree_load_buffer("big.yaml", big, n, &err));
	assert_int_equal(err.code, CARACAL_E_TOOBIG);
	assert_contains(err.message, "big.yaml");
	/* Exactly at the limit is fine (a comment then a key). */
	memcpy(big + CONFIG_MAX_FILE_BYTES - 6, "\na: 1\n", 6);
	config_tree *t = config_tree_load_buffer("edge.yaml", big, CONFIG_MAX_FILE_BYTES, &err);
	if (t == NULL)
		fail_msg("%s", err.message);
	config_tree_free(t);
	free(big);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	load_fails("a: 1\nb: [1, 2\n", "test.yaml:");
	load_fails("a: 1\n b: 2\n", "test.yaml:2:");
	load_fails("a: \"unterminated\n", "test.yaml:");
	load_fails("\t- x\n", "test.yaml:1:");
}

static void test_top_level(void **state)
{
	(void)state;
	load_fails("", "test.yaml:1: empty configuration");
	load_fails("# only a comment\n", "empty configuration");
	load_fails("just a scalar\n", "test.yaml:1: the top level must be a mapping");
	load_fails("- a\n- b\n", "test.yaml:1: the top level must be a mapping");
	load_fails("a: 1\n---\nb: 2\n", "test.yaml:2: only one YAML document");
	caracal_error err;
	config_tree *t = load("---\n{}\n...\n", &err);
	assert_non_null(t);
	assert_int_equal(config_tree_root(t)->count, 0);
	config_tree_free(t);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	load_fails("a: 1\nb: 2\na: 3\n", "test.yaml:3: duplicate key 'a' (first at line 1)");
	load_fails("x:\n  k: 1\n  j: 2\n  k: 3\n",
	           "test.yaml:4: duplicate key 'k' (first at line 2)");
	load_fails("{a: 1, a: 2}\n", "duplicate key 'a'");
	/* The first repeat in document order is named. */
	load_fails("b: 1\na: 1\nb: 2\na: 2\n", "test.yaml:3: duplicate key 'b' (first at line 1)");
	/* The same key in different mappings is fine. */
	caracal_error err;
	config_tree *t = load("x: {k: 1}\ny: {k: 1}\n", &err);
	assert_non_null(t);
	config_tree_free(t);
}

static void test_aliases_anchors_tags(void **state)
{
	(void)state;
	load_fails("a: &x 1\nb: *x\n", "test.yaml:1: anchor '&x' is not allowed");
	load_fails("b: *x\n", "test.yaml:1:");
	load_fails("base: &b {k: 1}\nderived:\n  <<: *b\n", "anchor");
	/* A classic YAML bomb. */
	load_fails("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "not allowed");
	load_fails("a: !!binary aGVsbG8=\n",
	           "test.yaml:1: tag 'tag:yaml.org,2002:binary' is not allowed");
	load_fails("a: !custom 1\n", "tag '!custom' is not allowed");
	load_fails("a: !!map {}\nb: !!str [1]\n", "test.yaml:2: tag");
	load_fails("%TAG !! tag:example.com,2000:\n---\na: !!str x\n", "is not allowed");
	load_fails("a: !<tag:example.com,2000:x> 1\n", "is not allowed");
	caracal_error err;
	config_tree *t = load("a: !!str 1\nb: !!int 2\nc: ! 3\nd: !!map {e: !!seq [f]}\n", &err);
	if (t == NULL)
		fail_msg("%s", err.message);
	const char *s;
	assert_int_equal(config_get_string(config_tree_root(t), "a", &s, &err), CARACAL_OK);
	assert_string_equal(s, "1");
	config_tree_free(t);
}

static void test_keys(void **state)
{
	(void)state;
	load_fails("? [a, b]\n: c\n",
	           "test.yaml:1: a mapping key must be a scalar, not a sequence");
	load_fails("{{a: 1}: 2}\n", "a mapping key must be a scalar, not a mapping");
	load_fails("a: 1\n\"\": 2\n", "test.yaml:2: empty mapping key");
	load_fails("~: 1\n", "empty mapping key");
	load_fails("a: \"x\\0y\"\n", "test.yaml:1: scalar contains a NUL byte");
	load_fails("\"k\\0\": 1\n", "NUL byte");
	/* A hostile key is escaped and shortened in messages. */
	char yaml[512];
	snprintf(yaml, sizeof yaml, "\"a\\x01%0200d\": 1\n\"a\\x01%0200d\": 2\n", 0, 0);
	caracal_error err;
	config_tree *t = load(yaml, &err);
	assert_null(t);
	assert_contains(err.message, "duplicate key 'a\\x01000");
	assert_contains(err.message, "...'");
	assert_true(strlen(err.message) < 200);
}

static void test_too_deep(void **state)
{
	(void)state;
	char yaml[256];
	char *p = yaml;
	/* {a: [[[...]]]} with CONFIG_MAX_DEPTH levels in total nests fine ... */
	p += sprintf(p, "{a: ");
	for (int i = 1; i < CONFIG_MAX_DEPTH; i++)
		*p++ = '[';
	for (int i = 1; i < CONFIG_MAX_DEPTH; i++)
		*p++ = ']';
	p += sprintf(p, "}\n");
	caracal_error err;
	config_tree *t = load(yaml, &err);
	if (t == NULL)
		fail_msg("%s", err.message);
	config_tree_free(t);
	/* ... one more does not. */
	p = yaml;
	p += sprintf(p, "{a: ");
	for (int i = 0; i < CONFIG_MAX_DEPTH; i++)
		*p++ = '[';
	for (int i = 0; i < CONFIG_MAX_DEPTH; i++)
		*p++ = ']';
	p += sprintf(p, "}\n");
	load_fails(yaml, "test.yaml:1: nested too deeply");
	/* Block style too. */
	char block[4096];
	p = block;
	for (int i = 0; i <= CONFIG_MAX_DEPTH; i++)
		p += sprintf(p, "%*sk%d:\n", 2 * i, "", i);
	p += sprintf(p, "%*sleaf: 1\n", 2 * (CONFIG_MAX_DEPTH + 1), "");
	load_fails(block, "nested too deeply");
}

static void test_oversize(void **state)
{
	(void)state;
	caracal_error err;
	/* A scalar one byte over the limit. */
	size_t n = CONFIG_MAX_SCALAR_BYTES + 1;
	char *yaml = malloc(n + 16);
	assert_non_null(yaml);
	memcpy(yaml, "a: ", 3);
	memset(yaml + 3, 'x', n);
	memcpy(yaml + 3 + n, "\n", 2);
	assert_null(load(yaml, &err));
	assert_int_equal(err.code, CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:1: scalar of 65537 bytes is too long");
	/* At the limit it loads. */
	memcpy(yaml + 3 + n - 1, "\n", 2);
	config_tree *t = load(yaml, &err);
	assert_non_null(t);
	assert_int_equal(config_get(config_tree_root(t), "a")->value_len, CONFIG_MAX_SCALAR_BYTES);
	config_tree_free(t);
	free(yaml);

	/* Too many nodes: a flow sequence of CONFIG_MAX_NODES items. */
	size_t cap = 16 + 2 * (size_t)CONFIG_MAX_NODES;
	yaml = malloc(cap);
	assert_non_null(yaml);
	char *p = yaml;
	p += sprintf(p, "a: [");
	for (size_t i = 0; i < CONFIG_MAX_NODES; i++)
		p += sprintf(p, "1,");
	p += sprintf(p, "]\n");
	assert_null(load(yaml, &err));
	assert_contains(err.message, "too many nodes");
	free(yaml);
}

static void test_long_name(void **state)
{
	(void)state;
	char name[600];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	caracal_error err;
	assert_null(config_tree_load_buffer(name, "a: [", 4, &err));
	assert_contains(err.message, "...nnn");
	assert_true(strlen(err.message) < sizeof err.message);
	/* NULL name and NULL input. */
	assert_null(config_tree_load_buffer(NULL, NULL, 0, &err));
	assert_contains(err.message, "(config):1: empty configuration");
	assert_null(config_tree_load_buffer("x", NULL, 3, &err));
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */
/* ------------------------------------------------------------------------ */

static int validate_text(const char *yaml, struct reports *r, caracal_error *err)
{
	config_tree *t = load(yaml, err);
	if (t == NULL)
		fail_msg("load: %s", err->message);
	memset(r, 0, sizeof *r);
	int rc = config_validate(config_tree_root(t), schema, NULL, collect, r, err);
	config_tree_free(t);
	return rc;
}

static void test_unknown_key(void **state)
{
	(void)state;
	struct reports r;
	caracal_error err;
	assert_int_equal(validate_text("mode: development\n"
	                               "treads:\n"
	                               "  loops: 2\n",
	                               &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:2: unknown key 'treads' (did you mean 'threads'?)");
	assert_int_equal(r.count, 1);

	assert_int_equal(validate_text("mode: development\n"
	                               "threads:\n"
	                               "  loops: 2\n"
	                               "  lops: 2\n"
	                               "  zzzzzzzz: 1\n",
	                               &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:4: unknown key 'threads.lops' (did you mean "
	                             "'threads.loops'?)");
	assert_contains(r.all, "test.yaml:5: unknown key 'threads.zzzzzzzz'\n");
	assert_int_equal(r.count, 2);

	/* Secret forms are suggested too. */
	assert_int_equal(validate_text("mode: x\nsts:\n  hmac_key_fil: /k\n", &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "did you mean 'sts.hmac_key_file'?");

	/* A key with a dot in it is not a path. */
	assert_int_equal(validate_text("mode: x\nthreads.loops: 2\n", &r, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:2: unknown key 'threads.loops' (a dot in a key");

	/* A MAP accepts anything below it. */
	assert_int_equal(validate_text("mode: x\nsts:\n  extra: {a: {b: [c]}}\n", &r, &err),
	                 CARACAL_OK);

	/* Ignored keys. */
	caracal_error e2;
	config_tree *t = load("mode: x\nplugin: storage_pg\n", &e2);
	assert_non_null(t);
	static const char *const ignore[] = {"plugin", NULL};
	assert_int_equal(config_validate(config_tree_root(t), schema, ignore, NULL, NULL, &e2),
	                 CARACAL_OK);
	assert_int_equal(config_validate(config_tree_root(t), schema, NULL, NULL, NULL, &e2),
	                 CARACAL_E_INVAL);
	assert_contains(e2.message, "test.yaml:2: unknown key 'plugin'");
	/* A NULL schema accepts nothing. */
	assert_int_equal(config_validate(config_tree_root(t), NULL, NULL, NULL, NULL, &e2),
	                 CARACAL_E_INVAL);
	assert_int_equal(config_validate(NULL, schema, NULL, NULL, NULL, &e2), CARACAL_E_INVAL);
	config_tree_free(t);
}

static void test_bad_types(void **state)
{
	(void)state;
	struct reports r;
	caracal_error err;
	assert_int_equal(validate_text("mode: [a]\n"
	                               "threads:\n"
	                               "  loops: many\n"
	                               "  workers: 99999999999999999999\n"
	                               "sts:\n"
	                               "  token_ttl: -5s\n"
	                               "  max_body: 1.5k\n"
	                               "  debug: maybe\n"
	                               "  allowed_hosts: localhost\n"
	                               "  extra: 1\n"
	                               "  hmac_key: {a: 1}\n",
	                               &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:1: key 'mode': expected a string, not a sequence");
	assert_contains(r.all, "test.yaml:3: key 'threads.loops': expected an integer\n");
	assert_contains(r.all, "test.yaml:4: key 'threads.workers': expected an integer\n");
	assert_contains(r.all, "test.yaml:6: key 'sts.token_ttl': expected a duration");
	assert_contains(r.all, "test.yaml:7: key 'sts.max_body': expected a size");
	assert_contains(r.all, "test.yaml:8: key 'sts.debug': expected a boolean");
	assert_contains(r.all, "test.yaml:9: key 'sts.allowed_hosts': expected a list, not a "
	                       "scalar");
	assert_contains(r.all, "test.yaml:10: key 'sts.extra': expected a mapping, not a scalar");
	assert_contains(r.all, "test.yaml:11: key 'sts.hmac_key': expected a string, not a "
	                       "mapping");
	assert_int_equal(r.count, 9);
	/* Values are never quoted back. */
	assert_not_contains(r.all, "many");
	assert_not_contains(r.all, "maybe");

	/* A mapping where the schema has nested keys; list items that are not scalars. */
	assert_int_equal(validate_text("mode: x\n"
	                               "threads: 4\n"
	                               "sts:\n"
	                               "  allowed_hosts:\n"
	                               "    - ok\n"
	                               "    - {a: 1}\n",
	                               &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message,
	                "test.yaml:2: key 'threads': expected a mapping, not a scalar");
	assert_contains(r.all, "test.yaml:6: key 'sts.allowed_hosts': item 2 of the list must be a "
	                       "scalar, not a mapping");
	assert_int_equal(r.count, 2);
}

static void test_missing_required(void **state)
{
	(void)state;
	static const caracal_cfg_key req[] = {
	    {"name", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED, NULL},
	    {"db.dsn", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED, NULL},
	    {"db.password", CARACAL_CFG_SECRET, CARACAL_CFG_REQUIRED, NULL},
	    {"db.pool", CARACAL_CFG_INT, 0, NULL},
	    {NULL, 0, 0, NULL},
	};
	caracal_error err;
	struct reports r = {0};
	config_tree *t = load("\n\nother: 1\n", &err);
	assert_non_null(t);
	assert_int_equal(config_validate(config_tree_root(t), req, NULL, collect, &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:3: unknown key 'other'");
	assert_contains(r.all, "test.yaml:3: key 'name': missing (required)");
	assert_contains(r.all, "test.yaml:3: key 'db.dsn': missing (required)");
	assert_contains(r.all, "key 'db.password': missing (required; give 'db.password_file' or "
	                       "'db.password_env')");
	assert_int_equal(r.count, 4);
	config_tree_free(t);

	/* The missing key's mapping is named. */
	memset(&r, 0, sizeof r);
	t = load("name: n\ndb:\n  pool: 2\n  password_env: PGPASS\n", &err);
	assert_non_null(t);
	assert_int_equal(config_validate(config_tree_root(t), req, NULL, collect, &r, &err),
	                 CARACAL_E_INVAL);
	assert_string_equal(err.message, "test.yaml:2: key 'db.dsn': missing (required)");
	assert_int_equal(r.count, 1);
	config_tree_free(t);

	/* Everything present. */
	t = load("name: n\ndb:\n  dsn: x\n  password_file: /run/secrets/pg\n", &err);
	assert_non_null(t);
	assert_int_equal(config_validate(config_tree_root(t), req, NULL, NULL, NULL, &err),
	                 CARACAL_OK);
	config_tree_free(t);

	/* Two forms of one secret, an empty file name. */
	memset(&r, 0, sizeof r);
	t = load("name: n\ndb:\n  dsn: x\n  password_file: /a\n  password_env: B\n"
	         "other:\n  x: 1\n",
	         &err);
	assert_non_null(t);
	assert_int_equal(config_validate(config_tree_root(t), req, NULL, collect, &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(r.all, "test.yaml:4: key 'db.password': give exactly one of");
	config_tree_free(t);
	memset(&r, 0, sizeof r);
	t = load("name: n\ndb:\n  dsn: x\n  password_file: ''\n", &err);
	assert_non_null(t);
	assert_int_equal(config_validate(config_tree_root(t), req, NULL, collect, &r, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:4: key 'db.password_file': must not be empty");
	config_tree_free(t);
}

/* ------------------------------------------------------------------------ */
/* --set                                                                    */
/* ------------------------------------------------------------------------ */

static void test_set(void **state)
{
	(void)state;
	caracal_error err;
	config_tree *t = load("mode: development\nsts:\n  listen: 127.0.0.1:8080\n"
	                      "list: [a]\n",
	                      &err);
	assert_non_null(t);
	const config_node *root = config_tree_root(t);
	const char *s;

	/* Override a scalar. */
	assert_int_equal(config_tree_set(t, "sts.listen=0.0.0.0:9000", &err), CARACAL_OK);
	assert_int_equal(config_get_string(root, "sts.listen", &s, &err), CARACAL_OK);
	assert_string_equal(s, "0.0.0.0:9000");
	assert_string_equal(config_get(root, "sts.listen")->where, "--set sts.listen=0.0.0.0:9000");
	assert_int_equal(config_get(root, "sts")->count, 1);

	/* Create a new key and new intermediate mappings. */
	assert_int_equal(config_tree_set(t, "gateway.tls.cert=/etc/c=d.pem", &err), CARACAL_OK);
	assert_int_equal(config_get_string(root, "gateway.tls.cert", &s, &err), CARACAL_OK);
	assert_string_equal(s, "/etc/c=d.pem");
	assert_int_equal(config_get(root, "gateway")->kind, CONFIG_MAP);
	assert_int_equal(config_tree_set(t, "gateway.tls.key=k", &err), CARACAL_OK);
	assert_int_equal(config_get(root, "gateway.tls")->count, 2);
	assert_int_equal(config_tree_set(t, "top=", &err), CARACAL_OK);
	assert_int_equal(config_get_string(root, "top", &s, &err), CARACAL_OK);
	assert_string_equal(s, "");

	/* Rejections, which leave the tree as it was. */
	assert_int_equal(config_tree_set(t, "sts.listen", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "--set sts.listen: expected KEY=VALUE");
	assert_int_equal(config_tree_set(t, "=v", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "empty key");
	assert_int_equal(config_tree_set(t, "a..b=v", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "--set a..b: empty segment");
	assert_int_equal(config_tree_set(t, ".a=v", &err), CARACAL_E_INVAL);
	assert_int_equal(config_tree_set(t, "a.=v", &err), CARACAL_E_INVAL);
	assert_int_equal(config_tree_set(t, "sts=v", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "--set sts: cannot replace a mapping (at test.yaml:2)");
	assert_int_equal(config_tree_set(t, "list=secretvalue", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "cannot replace a sequence");
	assert_not_contains(err.message, "secretvalue");
	assert_int_equal(config_tree_set(t, "mode.x=1", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "--set mode.x: 'mode' is a scalar (at test.yaml:1), not a "
	                             "mapping");
	assert_int_equal(config_tree_set(t, "list.x.y=1", &err), CARACAL_E_INVAL);
	assert_contains(err.message, "'list' is a sequence");
	assert_null(config_get(root, "a"));
	assert_int_equal(config_tree_set(NULL, "a=b", &err), CARACAL_E_INVAL);
	assert_int_equal(config_tree_set(t, NULL, &err), CARACAL_E_INVAL);

	/* Too deep a path, too long a value. */
	char deep[256] = "";
	for (int i = 0; i <= CONFIG_MAX_DEPTH; i++)
		strcat(deep, "k.");
	strcat(deep, "k=1");
	assert_int_equal(config_tree_set(t, deep, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "nested too deeply");
	char *big = malloc(CONFIG_MAX_SCALAR_BYTES + 8);
	assert_non_null(big);
	memcpy(big, "k=", 2);
	memset(big + 2, 'v', CONFIG_MAX_SCALAR_BYTES + 1);
	big[CONFIG_MAX_SCALAR_BYTES + 3] = '\0';
	assert_int_equal(config_tree_set(t, big, &err), CARACAL_E_TOOBIG);
	free(big);

	/* A validation error names the --set argument. */
	static const caracal_cfg_key sch[] = {
	    {"n", CARACAL_CFG_INT, 0, NULL},
	    {NULL, 0, 0, NULL},
	};
	config_tree *t2 = load("n: 1\n", &err);
	assert_non_null(t2);
	assert_int_equal(config_tree_set(t2, "n=lots", &err), CARACAL_OK);
	assert_int_equal(config_validate(config_tree_root(t2), sch, NULL, NULL, NULL, &err),
	                 CARACAL_E_INVAL);
	assert_string_equal(err.message, "--set n=lots: key 'n': expected an integer");
	config_tree_free(t2);
	config_tree_free(t);
}

/* ------------------------------------------------------------------------ */
/* Typed parsers and getters                                                */
/* ------------------------------------------------------------------------ */

static void test_parse_int(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(config_parse_int("0", &v), CARACAL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_int("-0", &v), CARACAL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_int("007", &v), CARACAL_OK);
	assert_int_equal(v, 7);
	assert_int_equal(config_parse_int("9223372036854775807", &v), CARACAL_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(config_parse_int("-9223372036854775808", &v), CARACAL_OK);
	assert_true(v == INT64_MIN);
	static const char *const bad[] = {
	    "9223372036854775808",
	    "-9223372036854775809",
	    "99999999999999999999999",
	    "",
	    "-",
	    "+1",
	    " 1",
	    "1 ",
	    "1.0",
	    "0x10",
	    "1e3",
	    "--1",
	    "1-",
	    "abc",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (config_parse_int(bad[i], &v) != CARACAL_E_INVAL)
			fail_msg("'%s' parsed as an int", bad[i]);
	}
	assert_int_equal(config_parse_int(NULL, &v), CARACAL_E_INVAL);
}

static void test_parse_bool(void **state)
{
	(void)state;
	static const char *const t[] = {"true", "yes", "on", "True", "YES", "On"};
	static const char *const f[] = {"false", "no", "off", "False", "NO", "OFF"};
	static const char *const bad[] = {"", "1", "0", "y", "n", "maybe", "truee", " true"};
	int v;
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(config_parse_bool(t[i], &v), CARACAL_OK);
		assert_int_equal(v, 1);
		assert_int_equal(config_parse_bool(f[i], &v), CARACAL_OK);
		assert_int_equal(v, 0);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (config_parse_bool(bad[i], &v) != CARACAL_E_INVAL)
			fail_msg("'%s' parsed as a bool", bad[i]);
	}
}

static void test_parse_duration(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
	    {"250ms", 250},
	    {"5s", 5000},
	    {"2m", 120000},
	    {"1h", 3600000},
	    {"1d", 86400000},
	    {"30", 30000}, /* plain number: seconds */
	    {"0", 0},
	    {"0ms", 0},
	    {"9223372036854775807ms", INT64_MAX},
	    {"9223372036854775s", 9223372036854775000},
	};
	int64_t v;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (config_parse_duration_ms(good[i].text, &v) != CARACAL_OK)
			fail_msg("'%s' did not parse", good[i].text);
		assert_true(v == good[i].ms);
	}
	static const char *const bad[] = {
	    "-5s",
	    "-1",
	    "",
	    "ms",
	    "5 s",
	    "5S",
	    "5sec",
	    "1.5s",
	    "5us",
	    "1m30s",
	    "9223372036854775808ms",
	    "9223372036854776s",
	    "106751991167301d",
	    "+5s",
	    "s5",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (config_parse_duration_ms(bad[i], &v) != CARACAL_E_INVAL)
			fail_msg("'%s' parsed as a duration", bad[i]);
	}
}

static void test_parse_size(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
	    {"512", 512},
	    {"0", 0},
	    {"64k", 65536},
	    {"64K", 65536},
	    {"64KiB", 65536},
	    {"1m", 1048576},
	    {"1M", 1048576},
	    {"1MiB", 1048576},
	    {"1g", 1073741824},
	    {"1GiB", 1073741824},
	    {"2t", 2199023255552},
	    {"16777215T", 18446742974197923840u},
	    {"18446744073709551615", UINT64_MAX},
	};
	uint64_t v;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (config_parse_size(good[i].text, &v) != CARACAL_OK)
			fail_msg("'%s' did not parse", good[i].text);
		assert_true(v == good[i].bytes);
	}
	static const char *const bad[] = {
	    "18446744073709551616",
	    "16777216T",
	    "17179869184G",
	    "-1",
	    "",
	    "k",
	    "1kb",
	    "1KB",
	    "1.5k",
	    "1 k",
	    "1kib",
	    "1Ki",
	    "+1",
	    "1e3",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (config_parse_size(bad[i], &v) != CARACAL_E_INVAL)
			fail_msg("'%s' parsed as a size", bad[i]);
	}
}

static void test_getters(void **state)
{
	(void)state;
	caracal_error err;
	config_tree *t = load("a: x\nm: {k: v}\ns: [1]\nn: 12\n", &err);
	assert_non_null(t);
	const config_node *root = config_tree_root(t);
	int64_t i;
	int b;
	uint64_t sz;
	const char *s;
	assert_int_equal(config_get_int(root, "missing", &i, &err), CARACAL_E_NOTFOUND);
	assert_int_equal(config_get_int(root, "a", &i, &err), CARACAL_E_INVAL);
	assert_string_equal(err.message, "test.yaml:1: key 'a': expected an integer");
	assert_int_equal(config_get_string(root, "m", &s, &err), CARACAL_E_INVAL);
	assert_string_equal(err.message, "test.yaml:2: key 'm': expected a string, not a mapping");
	assert_int_equal(config_get_bool(root, "s", &b, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:3: key 's': expected a boolean");
	assert_int_equal(config_get_duration_ms(root, "a", &i, &err), CARACAL_E_INVAL);
	assert_int_equal(config_get_size(root, "m.k", &sz, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:2: key 'm.k': expected a size");
	assert_int_equal(config_get_duration_ms(root, "n", &i, &err), CARACAL_OK);
	assert_int_equal(i, 12000);
	assert_int_equal(config_get_size(root, "n", &sz, &err), CARACAL_OK);
	assert_int_equal(sz, 12);
	assert_int_equal(config_get_string(config_get(root, "m"), "k", &s, &err), CARACAL_OK);
	assert_string_equal(s, "v");
	config_tree_free(t);
}

/* ------------------------------------------------------------------------ */
/* Secrets                                                                  */
/* ------------------------------------------------------------------------ */

/* Load "secret_file: PATH" etc. and resolve key "secret". */
static int secret_from(const char *yaml, int production, unsigned char *buf, size_t cap,
                       size_t *len, caracal_error *err)
{
	config_tree *t = load(yaml, err);
	if (t == NULL)
		fail_msg("load: %s", err->message);
	int rc =
	    config_get_secret(config_tree_root(t), "secret", production, NULL, buf, cap, len, err);
	config_tree_free(t);
	return rc;
}

static int secret_file(const char *content, size_t n, mode_t mode, int production,
                       unsigned char *buf, size_t cap, size_t *len, caracal_error *err)
{
	char *path = temp_file(content, n, mode);
	char yaml[4200];
	snprintf(yaml, sizeof yaml, "secret_file: '%s'\n", path);
	int rc = secret_from(yaml, production, buf, cap, len, err);
	remove_temp(path);
	return rc;
}

static void test_secret_file(void **state)
{
	(void)state;
	unsigned char buf[128];
	size_t len = 0;
	caracal_error err;
	assert_int_equal(secret_file("s3cr3t-value\n", 13, 0600, 1, buf, sizeof buf, &len, &err),
	                 CARACAL_OK);
	assert_int_equal(len, 12);
	assert_memory_equal(buf, "s3cr3t-value", 12);
	/* Exactly one trailing newline (or CRLF) is stripped. */
	assert_int_equal(secret_file("abc\n\n", 5, 0400, 1, buf, sizeof buf, &len, &err),
	                 CARACAL_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "abc\n", 4);
	assert_int_equal(secret_file("abc\r\n", 5, 0600, 1, buf, sizeof buf, &len, &err),
	                 CARACAL_OK);
	assert_int_equal(len, 3);
	assert_int_equal(secret_file("abc", 3, 0600, 1, buf, sizeof buf, &len, &err), CARACAL_OK);
	assert_int_equal(len, 3);
	/* Binary content is kept. */
	assert_int_equal(secret_file("a\0b", 3, 0600, 1, buf, sizeof buf, &len, &err), CARACAL_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "a\0b", 3);

	/* Empty, or only the newline. */
	assert_int_equal(secret_file("", 0, 0600, 0, buf, sizeof buf, &len, &err), CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:1: key 'secret_file': the secret is empty");
	assert_int_equal(secret_file("\n", 1, 0600, 0, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "the secret is empty");

	/* Too small a buffer. */
	assert_int_equal(secret_file("0123456789", 10, 0600, 1, buf, 4, &len, &err),
	                 CARACAL_E_TOOBIG);
	assert_not_contains(err.message, "0123");

	/* Group/other access: rejected in production, accepted (with a warning) otherwise. */
	assert_int_equal(secret_file("topsecret\n", 10, 0640, 1, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "accessible by group or others (mode 0640)");
	assert_contains(err.message, "production");
	assert_not_contains(err.message, "topsecret");
	assert_int_equal(secret_file("topsecret\n", 10, 0604, 1, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_int_equal(secret_file("topsecret\n", 10, 0644, 0, buf, sizeof buf, &len, &err),
	                 CARACAL_OK);
	assert_int_equal(len, 9);

	/* Missing file, a directory, an empty file name. */
	assert_int_equal(
	    secret_from("secret_file: /nonexistent/secret\n", 0, buf, sizeof buf, &len, &err),
	    CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:1: key 'secret_file': cannot open");
	assert_int_equal(secret_from("secret_file: /\n", 0, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "not a regular file");
	assert_int_equal(secret_from("secret_file: ''\n", 0, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "empty file name");
	assert_int_equal(secret_from("secret_file: [a]\n", 0, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "expected a file name, not a sequence");
}

static void test_secret_file_size(void **state)
{
	(void)state;
	size_t max = 64 * 1024;
	char *content = malloc(max + 2);
	unsigned char *buf = malloc(max + 2);
	assert_non_null(content);
	assert_non_null(buf);
	memset(content, 'k', max + 1);
	content[max] = '\n';
	size_t len;
	caracal_error err;
	/* 64 KiB plus a newline: fine. */
	assert_int_equal(secret_file(content, max + 1, 0600, 1, buf, max, &len, &err), CARACAL_OK);
	assert_int_equal(len, max);
	/* 64 KiB plus one byte: too large. */
	content[max] = 'k';
	assert_int_equal(secret_file(content, max + 1, 0600, 1, buf, max + 2, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "larger than 65536 bytes");
	free(content);
	free(buf);
}

static void test_secret_env(void **state)
{
	(void)state;
	unsigned char buf[64];
	size_t len = 0;
	caracal_error err;
	setenv("CARACAL_TEST_SECRET", "from-the-env", 1);
	assert_int_equal(
	    secret_from("secret_env: CARACAL_TEST_SECRET\n", 1, buf, sizeof buf, &len, &err),
	    CARACAL_OK);
	assert_int_equal(len, 12);
	assert_memory_equal(buf, "from-the-env", 12);
	assert_int_equal(secret_from("secret_env: CARACAL_TEST_SECRET\n", 1, buf, 4, &len, &err),
	                 CARACAL_E_TOOBIG);
	assert_not_contains(err.message, "from-the");
	setenv("CARACAL_TEST_SECRET", "", 1);
	assert_int_equal(
	    secret_from("secret_env: CARACAL_TEST_SECRET\n", 1, buf, sizeof buf, &len, &err),
	    CARACAL_E_INVAL);
	assert_contains(err.message, "the secret is empty");
	unsetenv("CARACAL_TEST_SECRET");
	assert_int_equal(
	    secret_from("secret_env: CARACAL_TEST_SECRET\n", 1, buf, sizeof buf, &len, &err),
	    CARACAL_E_INVAL);
	assert_string_equal(err.message, "test.yaml:1: key 'secret_env': environment variable "
	                                 "'CARACAL_TEST_SECRET' is not set");
	assert_int_equal(secret_from("secret_env: ''\n", 1, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "empty variable name");
}

static void test_secret_inline_and_forms(void **state)
{
	(void)state;
	unsigned char buf[64];
	size_t len = 0;
	caracal_error err;

	/* Capture the log to check the warning and that the value is absent. */
	char *logpath = temp_file("", 0, 0600);
	int fd = open(logpath, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	log_set_fd(fd);
	assert_int_equal(secret_from("secret: inline-value\n", 0, buf, sizeof buf, &len, &err),
	                 CARACAL_OK);
	assert_int_equal(len, 12);
	assert_memory_equal(buf, "inline-value", 12);
	log_set_fd(2);
	close(fd);
	char logged[2048] = "";
	FILE *f = fopen(logpath, "r");
	assert_non_null(f);
	size_t got = fread(logged, 1, sizeof logged - 1, f);
	logged[got] = '\0';
	fclose(f);
	remove_temp(logpath);
	assert_contains(logged, "inline secret");
	assert_contains(logged, "test.yaml:1");
	assert_not_contains(logged, "inline-value");

	assert_int_equal(secret_from("secret: inline-value\n", 1, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
	assert_contains(err.message, "test.yaml:1: key 'secret': inline secrets are not allowed in "
	                             "production");
	assert_not_contains(err.message, "inline-value");

	/* None, or more than one form. */
	assert_int_equal(secret_from("other: 1\n", 1, buf, sizeof buf, &len, &err),
	                 CARACAL_E_NOTFOUND);
	assert_int_equal(
	    secret_from("secret_file: /a\nsecret_env: B\n", 0, buf, sizeof buf, &len, &err),
	    CARACAL_E_INVAL);
	assert_contains(err.message, "give exactly one of");
	/* Nested keys work, and a --set origin never shows the value. */
	config_tree *t = load("db: {x: 1}\n", &err);
	assert_non_null(t);
	assert_int_equal(config_tree_set(t, "db.pw=hunter22", &err), CARACAL_OK);
	assert_int_equal(
	    config_get_secret(config_tree_root(t), "db.pw", 1, NULL, buf, sizeof buf, &len, &err),
	    CARACAL_E_INVAL);
	assert_contains(err.message, "--set db.pw: key 'db.pw': inline secrets");
	assert_not_contains(err.message, "hunter22");
	config_tree_free(t);
	assert_int_equal(config_get_secret(NULL, NULL, 0, NULL, buf, sizeof buf, &len, &err),
	                 CARACAL_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_config),
	    cmocka_unit_test(test_good_file_validates),
	    cmocka_unit_test(test_load_file_errors),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_top_level),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_aliases_anchors_tags),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_too_deep),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_long_name),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_bad_types),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_set),
	    cmocka_unit_test(test_parse_int),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_getters),
	    cmocka_unit_test(test_secret_file),
	    cmocka_unit_test(test_secret_file_size),
	    cmocka_unit_test(test_secret_env),
	    cmocka_unit_test(test_secret_inline_and_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
