/*
 * test_audit_conformance.c — the audit sink battery, through dlopen.
 *
 * Loads $CARACAL_BUILDDIR/plugins/audit_file/.libs/audit_file.so (override
 * with CARACAL_AUDIT_PLUGIN=path), checks its descriptor and runs: append and
 * verify across zones, dedup and conflicts, recovery on reopen, every tamper
 * case on the files (each must make verify() return CARACAL_E_INTEGRITY and
 * name the right seq and file:line), torn writes, config errors and
 * directory permissions. The record encoding is re-implemented here from
 * the spec, independently of the plugin, to forge and to cross-check lines.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY "0123456789abcdef0123456789abcdef-test-key"
#define T0 INT64_C(1779364800000000)

static void *dl;
static const caracal_plugin *P;
static const caracal_host *H;

typedef struct fx {
	char dir[64];
	char ledger[128];
	char keyfile[128];
	th_cfg *cfg;
	void *inst;
} fx;

typedef struct finding {
	char zone[160];
	uint64_t seq;
	char loc[512];
	char problem[256];
} finding;

typedef struct found {
	size_t n;
	finding f[64];
} found;

/* ------------------------------------------------------------ plumbing */

static int group_setup(void **state)
{
	(void)state;
	char path[4096];
	const char *override = getenv("CARACAL_AUDIT_PLUGIN");
	const char *build = getenv("CARACAL_BUILDDIR");
	if (override != NULL)
		snprintf(path, sizeof path, "%s", override);
	else
		snprintf(path, sizeof path, "%s/plugins/audit_file/.libs/audit_file.so",
		         build != NULL ? build : ".");
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	P = dlsym(dl, "caracal_plugin_audit_file");
	if (P == NULL) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return -1;
	}
	H = th_host();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (dl != NULL)
		dlclose(dl);
	th_fini();
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	strcpy(f->dir, "/tmp/af-conf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ledger, sizeof f->ledger, "%s/ledger", f->dir);
	snprintf(f->keyfile, sizeof f->keyfile, "%s/key", f->dir);
	write_file(f->keyfile, KEY "\n", strlen(KEY) + 1);
	assert_int_equal(chmod(f->keyfile, 0600), 0);
	f->cfg = th_cfg_new();
	th_cfg_set(f->cfg, "path", "ledger");
	th_cfg_set(f->cfg, "hmac_key_file", f->keyfile);
	th_set_data_dir(f->dir);
	th_log_reset();
	*state = f;
	return 0;
}

static void destroy(fx *f)
{
	if (f->inst != NULL)
		P->instance_destroy(f->inst);
	f->inst = NULL;
}

static int teardown(void **state)
{
	fx *f = *state;
	destroy(f);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	th_cfg_free(f->cfg);
	free(f);
	return 0;
}

/* As the loader does: validate the block against the schema, then create.
 * A block the validator refuses is also given to the plugin, which must
 * refuse it too (defence in depth for hosts that validate less). */
static int create(fx *f, caracal_error *err)
{
	destroy(f);
	memset(err, 0, sizeof *err);
	const caracal_cfg *node = th_cfg_node(f->cfg, P->config_schema, err);
	if (node == NULL) {
		caracal_error perr = {0};
		const caracal_cfg *raw = th_cfg_unvalidated(f->cfg);
		if (raw != NULL) {
			int prc = P->instance_create(H, th_scope(), raw, &f->inst, &perr);
			if (prc == CARACAL_OK)
				destroy(f);
			assert_int_not_equal(prc, CARACAL_OK);
			fprintf(stderr, "  validator: %s\n  plugin: %s\n", err->message,
			        perr.message);
		}
		return err->code;
	}
	return P->instance_create(H, th_scope(), node, &f->inst, err);
}

static void create_ok(fx *f)
{
	caracal_error err;
	int rc = create(f, &err);
	if (rc != CARACAL_OK)
		fail_msg("instance_create: %d %s", rc, err.message);
}

static int append_ev(fx *f, const char *zone, const char *id, const char *json,
                     caracal_audit_receipt *r, caracal_error *err)
{
	caracal_audit_event ev = {sizeof ev, id, zone, "token_exchange", T0, {json, strlen(json)}};
	memset(r, 0, sizeof *r);
	r->size = sizeof *r;
	memset(err, 0, sizeof *err);
	return P->audit->append(f->inst, &ev, r, err);
}

/* Append n events id = <zone>-<from..from+n-1>, expecting seqs to follow. */
static void fill(fx *f, const char *zone, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		char id[64], json[128];
		caracal_audit_receipt r;
		caracal_error err;
		snprintf(id, sizeof id, "%s-%d", zone, i);
		snprintf(json, sizeof json, "{\"i\":%d,\"zone_id\":\"%s\"}", i, zone);
		int rc = append_ev(f, zone, id, json, &r, &err);
		if (rc != CARACAL_OK)
			fail_msg("append %s: %d %s", id, rc, err.message);
		assert_int_equal(r.duplicate, 0);
		assert_int_equal(strlen(r.hash_hex), 64);
	}
}

static void on_found(void *ud, const caracal_audit_finding *fd)
{
	found *fo = ud;
	fprintf(stderr, "  finding: zone %s: record seq %" PRIu64 " at %s: %s\n", fd->zone_id,
	        fd->seq, fd->location, fd->problem);
	if (fo->n < 64) {
		finding *x = &fo->f[fo->n++];
		snprintf(x->zone, sizeof x->zone, "%s", fd->zone_id);
		x->seq = fd->seq;
		snprintf(x->loc, sizeof x->loc, "%s", fd->location);
		snprintf(x->problem, sizeof x->problem, "%s", fd->problem);
	}
}

static int verify(fx *f, const char *zone, found *fo)
{
	caracal_error err = {0};
	memset(fo, 0, sizeof *fo);
	int rc = P->audit->verify(f->inst, zone, on_found, fo, &err);
	if (rc != CARACAL_OK)
		fprintf(stderr, "  verify(%s): %d %s\n", zone ? zone : "*", rc, err.message);
	return rc;
}

/* A finding for zone at seq whose location ends with loc_suffix and whose
 * problem contains what. */
static int has(const found *fo, const char *zone, uint64_t seq, const char *loc_suffix,
               const char *what)
{
	for (size_t i = 0; i < fo->n; i++) {
		const finding *x = &fo->f[i];
		size_t ll = strlen(x->loc), sl = strlen(loc_suffix);
		if (strcmp(x->zone, zone) == 0 && x->seq == seq && ll >= sl &&
		    strcmp(x->loc + ll - sl, loc_suffix) == 0 && strstr(x->problem, what) != NULL)
			return 1;
	}
	return 0;
}

static void zpath(const fx *f, const char *zone, const char *suffix, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s%s", f->ledger, zone, suffix);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

/* The lines of a ledger, each with its '\n'. */
typedef struct lines {
	char *buf;
	size_t n;
	char *start[256];
	size_t len[256];
} lines;

static void lines_read(lines *l, const char *path)
{
	size_t total;
	l->buf = slurp(path, &total);
	l->n = 0;
	for (char *p = l->buf; p < l->buf + total && l->n < 256;) {
		char *nl = memchr(p, '\n', (size_t)(l->buf + total - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(l->buf + total - p);
		l->start[l->n] = p;
		l->len[l->n++] = n;
		p += n;
	}
}

static void lines_write(const lines *l, const char *path)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	for (size_t i = 0; i < l->n; i++)
		assert_int_equal(fwrite(l->start[i], 1, l->len[i], fp), l->len[i]);
	fclose(fp);
}

/* The JSON string value of "key" in a line (test lines have no escapes). */
static void field(const char *line, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = strstr(line, pat);
	assert_non_null(p);
	p += strlen(pat);
	const char *e = strchr(p, '"');
	assert_non_null(e);
	snprintf(out, cap, "%.*s", (int)(e - p), p);
}

/* The record encoding, re-implemented from the spec. */
static void lp(unsigned char *buf, size_t *n, const char *s, size_t len)
{
	buf[(*n)++] = (unsigned char)(len >> 24);
	buf[(*n)++] = (unsigned char)(len >> 16);
	buf[(*n)++] = (unsigned char)(len >> 8);
	buf[(*n)++] = (unsigned char)len;
	memcpy(buf + *n, s, len);
	*n += len;
}

static void forge(char *out, size_t cap, const char *key, uint64_t seq, const char *zone,
                  const char *id, const char *type, int64_t at, const char *prev, const char *event)
{
	unsigned char msg[4096], md[32], kd[32];
	unsigned int mdlen = 0;
	size_t n = 0;
	char when[32], hex[65], kid[9];
	memcpy(msg, "caracal-audit-v1", 16);
	n = 16;
	for (int i = 7; i >= 0; i--)
		msg[n++] = (unsigned char)(seq >> (8 * i));
	snprintf(when, sizeof when, "%" PRId64, at);
	lp(msg, &n, zone, strlen(zone));
	lp(msg, &n, id, strlen(id));
	lp(msg, &n, type, strlen(type));
	lp(msg, &n, when, strlen(when));
	lp(msg, &n, prev, strlen(prev));
	lp(msg, &n, event, strlen(event));
	HMAC(EVP_sha256(), key, (int)strlen(key), msg, n, md, &mdlen);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	SHA256((const unsigned char *)key, strlen(key), kd);
	for (int i = 0; i < 4; i++)
		sprintf(kid + 2 * i, "%02x", kd[i]);
	snprintf(out, cap,
	         "{\"seq\":%" PRIu64 ",\"zone_id\":\"%s\",\"id\":\"%s\",\"event_type\":\"%s\","
	         "\"occurred_at\":%" PRId64 ",\"prev\":\"%s\",\"hash\":\"%s\",\"kid\":\"%s\","
	         "\"event\":%s}\n",
	         seq, zone, id, type, at, prev, hex, kid, event);
}

/* Five records in z1 (flushed: checkpoint at 5), instance closed. */
static void five_then_close(fx *f)
{
	create_ok(f);
	fill(f, "z1", 1, 5);
	fill(f, "z2", 1, 2);
	caracal_error err = {0};
	assert_int_equal(P->audit->flush(f->inst, &err), CARACAL_OK);
	destroy(f);
}

/* After tampering with z1: a fresh instance reports it, refuses appends to
 * z1 and still serves z2. */
static void expect_z1_broken(fx *f, found *fo)
{
	caracal_audit_receipt r;
	caracal_error err;
	create_ok(f);
	assert_int_equal(verify(f, NULL, fo), CARACAL_E_INTEGRITY);
	assert_int_equal(append_ev(f, "z1", "z1-new", "{}", &r, &err), CARACAL_E_UNAVAIL);
	assert_non_null(strstr(err.message, "z1"));
	assert_int_equal(P->instance_ready(f->inst, &err), CARACAL_E_UNAVAIL);
	assert_int_equal(append_ev(f, "z2", "z2-new", "{}", &r, &err), CARACAL_OK);
	assert_int_equal(r.seq, 3);
}

/* ------------------------------------------------------------ tests */

static void test_descriptor(void **state)
{
	(void)state;
	assert_int_equal(P->magic, CARACAL_PLUGIN_MAGIC);
	assert_int_equal(P->abi_major, CARACAL_ABI_MAJOR);
	assert_true(P->size >= CARACAL_PLUGIN_MIN_SIZE);
	assert_string_equal(P->name, "audit_file");
	assert_true(P->kinds & CARACAL_KIND_AUDIT);
	assert_non_null(P->instance_create);
	assert_non_null(P->instance_destroy);
	assert_true(!(P->flags & CARACAL_PLUGIN_F_THREADS) || P->instance_stop != NULL);
	assert_non_null(P->audit);
	assert_true(P->audit->size >= CARACAL_AUDIT_OPS_MIN_SIZE);
	assert_non_null(P->audit->append);
	assert_non_null(P->audit->flush);
	assert_non_null(P->audit->verify);
	assert_non_null(P->config_schema);
}

static void test_roundtrip_two_zones(void **state)
{
	fx *f = *state;
	caracal_audit_receipt r, first;
	caracal_error err;
	found fo;
	char path[256];
	struct stat st;
	lines l;

	create_ok(f);
	assert_int_equal(append_ev(f, "z1", "a", "{\"n\":1}", &first, &err), CARACAL_OK);
	assert_int_equal(first.seq, 1);
	assert_int_equal(append_ev(f, "z2", "a", "{\"n\":1}", &r, &err), CARACAL_OK);
	assert_int_equal(r.seq, 1); /* same id in another zone is another event */
	assert_int_equal(append_ev(f, "z1", "b", "{\"n\":2}", &r, &err), CARACAL_OK);
	assert_int_equal(r.seq, 2);
	fill(f, "z2", 2, 3);
	assert_int_equal(append_ev(f, "z2", "z", "{}", &r, &err), CARACAL_OK);
	assert_int_equal(r.seq, 5);
	assert_int_equal(verify(f, NULL, &fo), CARACAL_OK);
	assert_int_equal(fo.n, 0);
	assert_int_equal(verify(f, "z1", &fo), CARACAL_OK);
	assert_int_equal(P->audit->flush(f->inst, &err), CARACAL_OK);
	assert_int_equal(P->instance_ready(f->inst, &err), CARACAL_OK);

	/* The file: one line per record, chained, as the receipts said. */
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	assert_int_equal(l.n, 2);
	char hash[80], prev[80];
	field(l.start[0], "hash", hash, sizeof hash);
	assert_string_equal(hash, first.hash_hex);
	field(l.start[0], "prev", prev, sizeof prev);
	assert_string_equal(prev, "");
	field(l.start[1], "prev", prev, sizeof prev);
	assert_string_equal(prev, first.hash_hex);
	assert_non_null(strstr(l.start[1], "\"event\":{\"n\":2}}\n"));
	free(l.buf);

	/* Permissions: files 0600, directory 0700. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	zpath(f, "z1", ".checkpoint", path, sizeof path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(f->ledger, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(verify(f, "nosuchzone", &fo), CARACAL_E_NOTFOUND);
}

static void test_duplicate_and_conflict(void **state)
{
	fx *f = *state;
	caracal_audit_receipt r1, r2;
	caracal_error err;
	char path[256];
	lines l;

	create_ok(f);
	assert_int_equal(append_ev(f, "z1", "e1", "{\"v\":1}", &r1, &err), CARACAL_OK);
	assert_int_equal(append_ev(f, "z1", "e1", "{\"v\":1}", &r2, &err), CARACAL_OK);
	assert_int_equal(r2.duplicate, 1);
	assert_int_equal(r2.seq, r1.seq);
	assert_string_equal(r2.hash_hex, r1.hash_hex);
	assert_int_equal(append_ev(f, "z1", "e1", "{\"v\":2}", &r2, &err), CARACAL_E_CONFLICT);
	assert_non_null(strstr(err.message, "e1"));
	caracal_audit_event ev = {sizeof ev, "e1", "z1", "other_type", T0, {"{\"v\":1}", 7}};
	assert_int_equal(P->audit->append(f->inst, &ev, &r2, &err), CARACAL_E_CONFLICT);
	ev.event_type = "token_exchange";
	ev.occurred_at_us = T0 + 1;
	assert_int_equal(P->audit->append(f->inst, &ev, &r2, &err), CARACAL_E_CONFLICT);
	assert_int_equal(append_ev(f, "z1", "e2", "{\"v\":1}", &r2, &err), CARACAL_OK);
	assert_int_equal(r2.seq, 2);
	destroy(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	assert_int_equal(l.n, 2); /* nothing written for duplicates or conflicts */
	free(l.buf);

	/* The dedup index is rebuilt when the zone is reopened. */
	create_ok(f);
	assert_int_equal(append_ev(f, "z1", "e1", "{\"v\":1}", &r2, &err), CARACAL_OK);
	assert_int_equal(r2.duplicate, 1);
	assert_int_equal(r2.seq, 1);
	assert_int_equal(append_ev(f, "z1", "e1", "{\"v\":3}", &r2, &err), CARACAL_E_CONFLICT);
}

static void test_reopen_continues(void **state)
{
	fx *f = *state;
	caracal_audit_receipt r3, r4;
	caracal_error err;
	found fo;
	char path[256], prev[80];
	lines l;

	create_ok(f);
	fill(f, "z1", 1, 2);
	assert_int_equal(append_ev(f, "z1", "third", "{}", &r3, &err), CARACAL_OK);
	assert_int_equal(r3.seq, 3);
	destroy(f);
	create_ok(f);
	assert_int_equal(append_ev(f, "z1", "fourth", "{}", &r4, &err), CARACAL_OK);
	assert_int_equal(r4.seq, 4);
	assert_int_equal(verify(f, NULL, &fo), CARACAL_OK);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	assert_int_equal(l.n, 4);
	field(l.start[3], "prev", prev, sizeof prev);
	assert_string_equal(prev, r3.hash_hex);
	free(l.buf);
}

/* A line built by this test from the spec, with the right key, is accepted:
 * the plugin's encoding is exactly the documented one. */
static void test_independent_encoding(void **state)
{
	fx *f = *state;
	caracal_audit_receipt r;
	caracal_error err;
	found fo;
	char path[256], line[1024];

	create_ok(f);
	assert_int_equal(append_ev(f, "z1", "one", "{\"a\":1}", &r, &err), CARACAL_OK);
	forge(line, sizeof line, KEY, 1, "z1", "one", "token_exchange", T0, "", "{\"a\":1}");
	zpath(f, "z1", ".jsonl", path, sizeof path);
	size_t len;
	char *content = slurp(path, &len);
	assert_string_equal(content, line);
	free(content);
	destroy(f);

	forge(line, sizeof line, KEY, 2, "z1", "two", "manual", T0 + 5, r.hash_hex, "{}");
	FILE *fp = fopen(path, "ab");
	assert_non_null(fp);
	fputs(line, fp);
	fclose(fp);
	create_ok(f);
	assert_int_equal(verify(f, "z1", &fo), CARACAL_OK);
	assert_int_equal(append_ev(f, "z1", "three", "{}", &r, &err), CARACAL_OK);
	assert_int_equal(r.seq, 3);
	assert_int_equal(verify(f, "z1", &fo), CARACAL_OK);
}

static void test_tamper_edit_middle(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];
	lines l;

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	char *p = strstr(l.start[2], "token_exchange");
	assert_non_null(p);
	memcpy(p, "token_exchangf", 14); /* same length, one byte */
	lines_write(&l, path);
	free(l.buf);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 3, "z1.jsonl:3", "hash mismatch (record edited)"));
	assert_int_equal(fo.n, 1);
}

static void test_tamper_edit_event(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];
	lines l;

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	char *p = strstr(l.start[1], "{\"i\":2");
	assert_non_null(p);
	p[5] = '7';
	lines_write(&l, path);
	free(l.buf);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 2, "z1.jsonl:2", "hash mismatch"));
}

static void test_tamper_delete_middle(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];
	lines l;

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	memmove(&l.start[2], &l.start[3], 2 * sizeof l.start[0]);
	memmove(&l.len[2], &l.len[3], 2 * sizeof l.len[0]);
	l.n--;
	lines_write(&l, path);
	free(l.buf);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 3, "z1.jsonl:3", "sequence gap"));
	assert_int_equal(fo.n, 1);
}

static void test_tamper_swap(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];
	lines l;

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	char *s = l.start[2];
	size_t n = l.len[2];
	l.start[2] = l.start[3];
	l.len[2] = l.len[3];
	l.start[3] = s;
	l.len[3] = n;
	lines_write(&l, path);
	free(l.buf);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 3, "z1.jsonl:4", "reordered"));
}

static void test_tamper_insert_forged(void **state)
{
	fx *f = *state;
	found fo;
	char path[256], prev[80], forged[1024];
	lines l;

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	field(l.start[1], "hash", prev, sizeof prev);
	/* A well-formed record 3 after record 2, MACed with a guessed key. */
	forge(forged, sizeof forged, "not-the-key-not-the-key-not-the-key!", 3, "z1", "forged",
	      "token_exchange", T0, prev, "{\"evil\":true}");
	memmove(&l.start[3], &l.start[2], 3 * sizeof l.start[0]);
	memmove(&l.len[3], &l.len[2], 3 * sizeof l.len[0]);
	l.start[2] = forged;
	l.len[2] = strlen(forged);
	l.n++;
	lines_write(&l, path);
	free(l.buf);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 3, "z1.jsonl:3", "hash mismatch (record forged"));
	assert_true(has(&fo, "z1", 3, "z1.jsonl:4", "duplicate seq"));
}

static void test_tamper_truncate_tail(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];
	lines l;

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	lines_read(&l, path);
	l.n = 3; /* drop records 4 and 5: the chain itself stays valid */
	lines_write(&l, path);
	free(l.buf);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 4, "z1.jsonl:4", "truncated tail"));
	assert_int_equal(fo.n, 1);
}

static void truncate_file(const char *path, off_t drop)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - drop), 0);
}

/* A crash inside write(2) beyond the checkpoint: the torn line is cut off
 * on reopen with a warning and the chain continues. */
static void test_torn_write_recovered(void **state)
{
	fx *f = *state;
	caracal_audit_receipt r;
	caracal_error err;
	found fo;
	char path[256], cp[256];
	size_t cplen;

	create_ok(f);
	fill(f, "z1", 1, 3);
	assert_int_equal(P->audit->flush(f->inst, &err), CARACAL_OK);
	zpath(f, "z1", ".checkpoint", cp, sizeof cp);
	char *saved = slurp(cp, &cplen); /* checkpoint at seq 3 */
	fill(f, "z1", 4, 2);
	destroy(f);
	write_file(cp, saved, cplen); /* as if the daemon died before closing */
	free(saved);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	truncate_file(path, 10); /* record 5 loses its tail and newline */

	create_ok(f);
	/* Not an integrity failure: the line was never acknowledged durable. */
	assert_int_equal(verify(f, "z1", &fo), CARACAL_OK);
	th_log_reset();
	assert_int_equal(append_ev(f, "z1", "after-crash", "{}", &r, &err), CARACAL_OK);
	assert_int_equal(r.seq, 5);
	assert_true(th_log_count(CARACAL_LOG_WARN) >= 1);
	assert_int_equal(verify(f, "z1", &fo), CARACAL_OK);
	lines l;
	lines_read(&l, path);
	assert_int_equal(l.n, 5);
	assert_non_null(strstr(l.start[4], "after-crash"));
	free(l.buf);
}

/* The same torn line, but the checkpoint covers it: records were lost. */
static void test_torn_write_within_checkpoint(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	truncate_file(path, 10);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 5, "z1.jsonl:5", "truncated tail"));
}

static void test_tamper_checkpoint(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];
	size_t len;

	five_then_close(f);
	zpath(f, "z1", ".checkpoint", path, sizeof path);
	char *cp = slurp(path, &len);
	char *p = strstr(cp, "\"seq\":5");
	assert_non_null(p);
	p[6] = '4'; /* claim less: would hide a truncation */
	write_file(path, cp, len);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 0, "z1.checkpoint", "checkpoint MAC mismatch"));

	destroy(f);
	write_file(path, "garbage\n", 8);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 0, "z1.checkpoint", "checkpoint unparseable"));
	free(cp);
}

static void test_ledger_deleted(void **state)
{
	fx *f = *state;
	found fo;
	char path[256];

	five_then_close(f);
	zpath(f, "z1", ".jsonl", path, sizeof path);
	assert_int_equal(unlink(path), 0);
	expect_z1_broken(f, &fo);
	assert_true(has(&fo, "z1", 1, "z1.checkpoint", "ledger deleted"));
}

/* Periodic checkpoints: every checkpoint_every records without a flush. */
static void test_checkpoint_every(void **state)
{
	fx *f = *state;
	char path[256];
	size_t len;

	th_cfg_set(f->cfg, "checkpoint_every", "3");
	create_ok(f);
	fill(f, "z1", 1, 7);
	zpath(f, "z1", ".checkpoint", path, sizeof path);
	char *cp = slurp(path, &len);
	assert_non_null(strstr(cp, "\"seq\":6,"));
	free(cp);
	destroy(f); /* closing checkpoints the rest */
	cp = slurp(path, &len);
	assert_non_null(strstr(cp, "\"seq\":7,"));
	free(cp);
}

static void test_bad_config(void **state)
{
	fx *f = *state;
	caracal_error err;
	char shortkey[128];

	th_cfg_set(f->cfg, "hmac_key_file", NULL);
	assert_int_equal(create(f, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "hmac_key"));
	assert_null(f->inst);

	snprintf(shortkey, sizeof shortkey, "%s/short", f->dir);
	write_file(shortkey, "0123456789abcdef0123456789abcde\n", 32); /* 31 bytes */
	th_cfg_set(f->cfg, "hmac_key_file", shortkey);
	assert_int_equal(create(f, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "at least 32"));
	assert_null(strstr(err.message, "0123456789")); /* never the secret */

	th_cfg_set(f->cfg, "hmac_key_file", f->keyfile);
	th_cfg_set(f->cfg, "fsync", "sometimes");
	assert_int_equal(create(f, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "fsync"));
	th_cfg_set(f->cfg, "fsync", "batch");
	th_cfg_set(f->cfg, "fsync_max_records", "0");
	assert_int_equal(create(f, &err), CARACAL_E_INVAL);
	th_cfg_set(f->cfg, "fsync_max_records", NULL);
	th_cfg_set(f->cfg, "checkpoint_every", "-1");
	assert_int_equal(create(f, &err), CARACAL_E_INVAL);
	th_cfg_set(f->cfg, "checkpoint_every", NULL);
	th_cfg_set(f->cfg, "path", NULL);
	assert_int_equal(create(f, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "path"));
	th_cfg_set(f->cfg, "path", "ledger");
	create_ok(f);
}

static void test_group_writable_dir(void **state)
{
	fx *f = *state;
	caracal_error err;

	assert_int_equal(mkdir(f->ledger, 0700), 0);
	assert_int_equal(chmod(f->ledger, 0770), 0);
	assert_int_equal(create(f, &err), CARACAL_E_DENIED);
	assert_non_null(strstr(err.message, "writable"));
	assert_null(f->inst);
	assert_int_equal(chmod(f->ledger, 0702), 0);
	assert_int_equal(create(f, &err), CARACAL_E_DENIED);
	assert_int_equal(chmod(f->ledger, 0700), 0);
	create_ok(f);
}

static void test_invalid_events(void **state)
{
	fx *f = *state;
	caracal_audit_receipt r;
	caracal_error err;
	found fo;

	create_ok(f);
	assert_int_equal(append_ev(f, "../etc", "x", "{}", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "a/b", "x", "{}", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "", "x", "{}", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "..", "x", "{}", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "z1", "", "{}", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "z1", "x", "", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "z1", "x", "[1]", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "z1", "x", "{\"a\":\n1}", &r, &err), CARACAL_E_INVAL);
	assert_int_equal(append_ev(f, "z1", "x", "{}{}", &r, &err), CARACAL_E_INVAL);
	caracal_audit_event ev = {sizeof ev, NULL, "z1", "t", T0, {"{}", 2}};
	assert_int_equal(P->audit->append(f->inst, &ev, &r, &err), CARACAL_E_INVAL);
	/* Awkward but legal ids and types are escaped, and verify. */
	assert_int_equal(append_ev(f, "z1", "quote\"back\\slash\x01", "{\"k\":\"v\"}", &r, &err),
	                 CARACAL_OK);
	assert_int_equal(r.seq, 1);
	assert_int_equal(verify(f, NULL, &fo), CARACAL_OK);
	assert_int_equal(verify(f, "../etc", &fo), CARACAL_E_INVAL);
}

static void test_batch_mode(void **state)
{
	fx *f = *state;
	caracal_error err;
	found fo;

	th_cfg_set(f->cfg, "fsync", "batch");
	th_cfg_set(f->cfg, "fsync_interval", "20ms");
	th_cfg_set(f->cfg, "fsync_max_records", "4");
	create_ok(f);
	fill(f, "z1", 1, 10);
	fill(f, "z2", 1, 1);
	usleep(60000); /* the flusher syncs the idle tail */
	assert_int_equal(verify(f, NULL, &fo), CARACAL_OK);
	assert_int_equal(P->audit->flush(f->inst, &err), CARACAL_OK);
	P->instance_stop(f->inst);
	destroy(f);
	create_ok(f);
	fill(f, "z1", 11, 1);
	assert_int_equal(verify(f, NULL, &fo), CARACAL_OK);
}

typedef struct verifier {
	fx *f;
	volatile int stop;
	int runs;
	int failures;
} verifier;

static void *verify_loop(void *arg)
{
	verifier *v = arg;
	found *fo = malloc(sizeof *fo);
	while (!v->stop) {
		caracal_error err = {0};
		memset(fo, 0, sizeof *fo);
		if (P->audit->verify(v->f->inst, NULL, on_found, fo, &err) != CARACAL_OK)
			v->failures++;
		v->runs++;
	}
	free(fo);
	return NULL;
}

/* verify() runs concurrently with appends and never sees a partial state. */
static void test_concurrent_verify(void **state)
{
	fx *f = *state;
	pthread_t t;
	verifier v = {f, 0, 0, 0};

	th_cfg_set(f->cfg, "checkpoint_every", "7");
	create_ok(f);
	fill(f, "z1", 1, 1);
	assert_int_equal(pthread_create(&t, NULL, verify_loop, &v), 0);
	fill(f, "z1", 2, 150);
	fill(f, "z2", 1, 50);
	v.stop = 1;
	pthread_join(t, NULL);
	assert_true(v.runs > 0);
	assert_int_equal(v.failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),
	    cmocka_unit_test_setup_teardown(test_roundtrip_two_zones, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_and_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_continues, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_independent_encoding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_edit_middle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_edit_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_delete_middle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_swap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_insert_forged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_truncate_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_write_recovered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_write_within_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_every, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_writable_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_verify, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
