/*
 * test_storage_conformance.c — the storage battery, through dlopen.
 *
 * Runs unchanged against any storage plugin: only the plugin and its config
 * differ.
 *
 *   plugin: argv[1], else $CARACAL_STORAGE_PLUGIN, else
 *           $CARACAL_BUILDDIR/plugins/storage_sqlite/.libs/storage_sqlite.so;
 *           the descriptor symbol is caracal_plugin_<basename without .so>
 *           (override with $CARACAL_STORAGE_PLUGIN_NAME).
 *   config: $CARACAL_STORAGE_CONFIG (the instance's YAML block), else
 *           "path: storage.db" with data_dir a fresh mkdtemp directory.
 *
 * Every test works in zones of its own with fresh UUIDv7 ids, so the battery
 * can run against a shared, persistent database (PostgreSQL) repeatedly.
 * The contract checked beyond what storage.h spells out:
 *  - a create referencing a record absent from the zone (an unknown zone, an
 *    application of another zone) is NOTFOUND;
 *  - application_get/list include archived applications (archived_at set);
 *    resource_get/list see only live resources;
 *  - revoke changes only live records (authority records and edges 'active'
 *    -> 'revoked', sessions 'active'/'suspended' -> 'terminated'); revoking
 *    again appends a revocation with count 0;
 *  - approval_consume needs an approved, unexpired, unconsumed approval;
 *  - session_heartbeat needs an active session (CONFLICT otherwise).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "util/arena.h"
#include "util/uuid.h"

#include <caracal/plugin.h>

#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *plugin_arg;
static void *dl;
static const caracal_plugin *P;
static const caracal_storage_ops *S;
static const caracal_host *H;
static caracal_scope *scope;
static config_tree *tree;
static void *inst;
static void *T; /* the main thread's context */
static char tmpdir[64];
static caracal_arena *A;

#define SHA_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_B "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
#define BIND "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
#define BIND_TAIL "7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"

/* ------------------------------------------------------------ plumbing */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int thread_ctx(void **tctx)
{
	caracal_error err = {0};
	if (P->thread_create == NULL) {
		*tctx = inst;
		return CARACAL_OK;
	}
	int rc = P->thread_create(inst, tctx, &err);
	if (rc != CARACAL_OK)
		fprintf(stderr, "thread_create: %d %s\n", rc, err.message);
	return rc;
}

static void thread_ctx_free(void *tctx)
{
	if (P->thread_destroy != NULL && tctx != inst)
		P->thread_destroy(inst, tctx);
}

static int group_setup(void **state)
{
	(void)state;
	char path[4096], sym[4200];
	const char *build = getenv("CARACAL_BUILDDIR");
	const char *env = getenv("CARACAL_STORAGE_PLUGIN");
	if (plugin_arg != NULL)
		snprintf(path, sizeof path, "%s", plugin_arg);
	else if (env != NULL && env[0] != '\0')
		snprintf(path, sizeof path, "%s", env);
	else
		snprintf(path, sizeof path, "%s/plugins/storage_sqlite/.libs/storage_sqlite.so",
		         build != NULL ? build : ".");
	const char *name = getenv("CARACAL_STORAGE_PLUGIN_NAME");
	char base[4096];
	if (name == NULL || name[0] == '\0') {
		const char *slash = strrchr(path, '/');
		snprintf(base, sizeof base, "%s", slash != NULL ? slash + 1 : path);
		char *dot = strchr(base, '.');
		if (dot != NULL)
			*dot = '\0';
		name = base;
	}
	snprintf(sym, sizeof sym, "caracal_plugin_%s", name);

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	P = dlsym(dl, sym);
	if (P == NULL) {
		fprintf(stderr, "dlsym %s: %s\n", sym, dlerror());
		return -1;
	}
	if (P->magic != CARACAL_PLUGIN_MAGIC || P->abi_major != CARACAL_ABI_MAJOR ||
	    P->size < CARACAL_PLUGIN_MIN_SIZE || !(P->kinds & CARACAL_KIND_STORAGE) ||
	    P->storage == NULL || P->storage->size < CARACAL_STORAGE_OPS_MIN_SIZE) {
		fprintf(stderr, "%s: not a storage plugin of ABI %d\n", path, CARACAL_ABI_MAJOR);
		return -1;
	}
	S = P->storage;
	H = host_services();

	strcpy(tmpdir, "/tmp/storage-conf-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	host_set_data_dir(tmpdir);
	scope = host_scope_new(P->name, "conformance");

	const char *yaml = getenv("CARACAL_STORAGE_CONFIG");
	if (yaml == NULL || yaml[0] == '\0')
		yaml = "path: storage.db\n";
	caracal_error err = {0};
	tree = config_tree_load_buffer("storage.yaml", yaml, strlen(yaml), &err);
	if (tree == NULL || config_validate(config_tree_root(tree), P->config_schema, NULL, NULL,
	                                    NULL, &err) != CARACAL_OK) {
		fprintf(stderr, "config: %s\n", err.message);
		return -1;
	}
	if (P->init != NULL && P->init(H, &err) != CARACAL_OK) {
		fprintf(stderr, "init: %s\n", err.message);
		return -1;
	}
	if (P->instance_create(H, scope, config_tree_root(tree), &inst, &err) != CARACAL_OK) {
		fprintf(stderr, "instance_create: %s\n", err.message);
		return -1;
	}
	if (thread_ctx(&T) != CARACAL_OK)
		return -1;
	int64_t version = 0;
	if (S->migrate(T, &version, &err) != CARACAL_OK || version < 1) {
		fprintf(stderr, "migrate: %s\n", err.message);
		return -1;
	}
	A = arena_new();
	return A != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (T != NULL)
		thread_ctx_free(T);
	if (inst != NULL) {
		if (P->instance_stop != NULL)
			P->instance_stop(inst);
		P->instance_destroy(inst);
	}
	config_tree_free(tree);
	host_scope_free(scope);
	arena_free(A);
	if (dl != NULL)
		dlclose(dl);
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A fresh id. */
#define NEWID(var)                                 \
	char var[UUID_TEXT_LEN + 1];               \
	do {                                       \
		assert_int_equal(uuid_v7(var), 0); \
	} while (0)

#define OK(call)                                                         \
	do {                                                             \
		caracal_error err_ = {0};                                \
		int rc_ = (call);                                        \
		if (rc_ != CARACAL_OK)                                   \
			fail_msg("%s: %d %s", #call, rc_, err_.message); \
	} while (0)

/* The call, with its error struct named err_, must return code. */
#define RC(want, call)                                                                            \
	do {                                                                                      \
		caracal_error err_ = {0};                                                         \
		int rc_ = (call);                                                                 \
		if (rc_ != (want))                                                                \
			fail_msg("%s: expected %d, got %d %s", #call, (want), rc_, err_.message); \
		if (rc_ != CARACAL_OK && err_.code != rc_)                                        \
			fail_msg("%s: err.code %d != %d", #call, err_.code, rc_);                 \
	} while (0)

static void str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL) {
		if (a != b)
			fail_msg("'%s' != '%s'", a ? a : "(null)", b ? b : "(null)");
		return;
	}
	assert_string_equal(a, b);
}

static void json_eq(caracal_str got, const char *want)
{
	if (want == NULL) {
		assert_null(got.ptr);
		return;
	}
	assert_non_null(got.ptr);
	assert_int_equal(got.len, strlen(want));
	assert_memory_equal(got.ptr, want, got.len);
}

static void list_eq(caracal_strlist got, caracal_strlist want)
{
	assert_int_equal(got.count, want.count);
	for (size_t i = 0; i < want.count; i++)
		assert_string_equal(got.items[i], want.items[i]);
}

static caracal_str J(const char *s)
{
	caracal_str r = {s, s != NULL ? strlen(s) : 0};
	return r;
}

static const char *scopes3[] = {"read", "write:\"quoted\"", "caf\xc3\xa9 \\ \t tab"};
static const caracal_strlist SCOPES = {scopes3, 3};
static const char *scopes1[] = {"read"};
static const caracal_strlist SCOPE1 = {scopes1, 1};
static const caracal_strlist NOLIST = {NULL, 0};

static int64_t now(void)
{
	return H->now_us();
}

static void mk_zone(char *id)
{
	char name[64];
	assert_int_equal(uuid_v7(id), 0);
	snprintf(name, sizeof name, "zone-%s", id);
	caracal_zone z = {sizeof z, id, name, now()};
	OK(S->zone_create(T, &z, &err_));
}

static void mk_app(const char *zone, char *id)
{
	assert_int_equal(uuid_v7(id), 0);
	caracal_application a = {sizeof a, id,        zone, "app", "managed",
	                         NULL,     {NULL, 0}, 0,    0,     now()};
	OK(S->application_create(T, &a, &err_));
}

static void mk_resource(const char *zone, char *id, const char *identifier)
{
	assert_int_equal(uuid_v7(id), 0);
	caracal_resource r = {.size = sizeof r,
	                      .id = id,
	                      .zone_id = zone,
	                      .identifier = identifier,
	                      .scopes = SCOPE1,
	                      .operation_enforcement = "enforced",
	                      .created_at_us = now()};
	OK(S->resource_create(T, &r, &err_));
}

static void mk_ar(const char *zone, char *id, const char *parent)
{
	assert_int_equal(uuid_v7(id), 0);
	caracal_authority_record a = {.size = sizeof a,
	                              .id = id,
	                              .zone_id = zone,
	                              .session_type = "application",
	                              .subject_id = "subject-1",
	                              .parent_id = parent,
	                              .status = "active",
	                              .expires_at_us = now() + 3600000000LL,
	                              .authenticated_at_us = now()};
	OK(S->authority_record_create(T, &a, &err_));
}

static void mk_session(const char *zone, char *id, const char *app, const char *ar,
                       const char *parent)
{
	assert_int_equal(uuid_v7(id), 0);
	caracal_session s = {.size = sizeof s,
	                     .id = id,
	                     .zone_id = zone,
	                     .application_id = app,
	                     .parent_id = parent,
	                     .subject_authority_record_id = ar,
	                     .status = "active",
	                     .lifecycle = "task",
	                     .depth = parent != NULL ? 1 : 0,
	                     .started_at_us = now(),
	                     .ttl_seconds = 600};
	OK(S->session_create(T, &s, &err_));
}

/* A zone with an application, an authority record and two sessions. */
typedef struct world {
	char zone[37], app[37], app2[37], ar[37], s1[37], s2[37], res[37];
} world;

static void mk_world(world *w)
{
	char ident[80];
	mk_zone(w->zone);
	mk_app(w->zone, w->app);
	mk_app(w->zone, w->app2);
	snprintf(ident, sizeof ident, "resource://r-%s", w->zone);
	mk_resource(w->zone, w->res, ident);
	mk_ar(w->zone, w->ar, NULL);
	mk_session(w->zone, w->s1, w->app, w->ar, NULL);
	mk_session(w->zone, w->s2, w->app2, w->ar, NULL);
}

static void mk_edge(const world *w, char *id, const char *parent)
{
	assert_int_equal(uuid_v7(id), 0);
	caracal_delegation d = {.size = sizeof d,
	                        .id = id,
	                        .zone_id = w->zone,
	                        .source_session_id = w->s1,
	                        .target_session_id = w->s2,
	                        .issuer_application_id = w->app,
	                        .receiver_application_id = w->app2,
	                        .parent_edge_id = parent,
	                        .resource_id = w->res,
	                        .scopes = SCOPE1,
	                        .status = "active",
	                        .expires_at_us = now() + 3600000000LL,
	                        .edge_version = 1,
	                        .created_at_us = now()};
	OK(S->delegation_create(T, &d, &err_));
}

/* Collect list results: ids (or kids / target ids) in order. */
typedef struct ids {
	size_t n;
	char v[64][64];
	int64_t num[64];
	int stop_after; /* return CONFLICT after this many when > 0 */
} ids;

static int collect(ids *c, const char *id, int64_t num)
{
	if (c->n < 64) {
		snprintf(c->v[c->n], sizeof c->v[c->n], "%s", id != NULL ? id : "");
		c->num[c->n] = num;
	}
	c->n++;
	if (c->stop_after > 0 && (int)c->n >= c->stop_after)
		return CARACAL_E_CONFLICT;
	return CARACAL_OK;
}

static int each_zone(void *ud, const void *rec)
{
	const caracal_zone *z = rec;
	assert_true(z->size >= sizeof *z);
	return collect(ud, z->id, z->created_at_us);
}

static int each_app(void *ud, const void *rec)
{
	const caracal_application *a = rec;
	return collect(ud, a->id, a->archived_at_us);
}

static int each_res(void *ud, const void *rec)
{
	const caracal_resource *r = rec;
	list_eq(r->scopes, SCOPE1);
	return collect(ud, r->id, 0);
}

static int each_grant(void *ud, const void *rec)
{
	const caracal_grant *g = rec;
	return collect(ud, g->id, (int64_t)g->scopes.count);
}

static int each_appr(void *ud, const void *rec)
{
	const caracal_approval *a = rec;
	return collect(ud, a->id, a->expires_at_us);
}

static int each_rev(void *ud, const void *rec)
{
	const caracal_revocation *r = rec;
	return collect(ud, r->target_id, r->seq);
}

static int each_key(void *ud, const void *rec)
{
	const caracal_key_meta *k = rec;
	char buf[64];
	snprintf(buf, sizeof buf, "%s:%s", k->kid, k->status);
	return collect(ud, buf, k->retire_at_us);
}

static int has(const ids *c, const char *id)
{
	for (size_t i = 0; i < c->n && i < 64; i++)
		if (strcmp(c->v[i], id) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ tests */

static void test_ready_and_migrate(void **state)
{
	(void)state;
	int64_t v1 = 0, v2 = 0;
	OK(S->migrate(T, &v1, &err_));
	OK(S->migrate(T, &v2, &err_));
	assert_true(v1 >= 1);
	assert_int_equal(v1, v2);
	if (P->instance_ready != NULL)
		OK(P->instance_ready(inst, &err_));
}

typedef struct mig_arg {
	pthread_barrier_t *bar;
	int rc;
	int64_t version;
	char msg[CARACAL_ERROR_MESSAGE_MAX];
} mig_arg;

static void *mig_thread(void *p)
{
	mig_arg *m = p;
	void *tctx = NULL;
	caracal_error err = {0};
	m->rc = thread_ctx(&tctx);
	pthread_barrier_wait(m->bar);
	if (m->rc == CARACAL_OK)
		m->rc = S->migrate(tctx, &m->version, &err);
	snprintf(m->msg, sizeof m->msg, "%s", err.message);
	if (tctx != NULL)
		thread_ctx_free(tctx);
	return NULL;
}

static void test_migrate_concurrent(void **state)
{
	(void)state;
	pthread_barrier_t bar;
	pthread_t th[2];
	mig_arg m[2] = {{&bar, 0, 0, ""}, {&bar, 0, 0, ""}};
	int64_t v = 0;
	OK(S->migrate(T, &v, &err_));
	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mig_thread, &m[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	for (int i = 0; i < 2; i++) {
		if (m[i].rc != CARACAL_OK)
			fail_msg("migrate in thread %d: %d %s", i, m[i].rc, m[i].msg);
		assert_int_equal(m[i].version, v);
	}
}

static void test_zones(void **state)
{
	(void)state;
	NEWID(id);
	NEWID(other);
	char name[64];
	snprintf(name, sizeof name, "zone-%s", id);
	caracal_zone z = {sizeof z, id, name, 1779364800000000LL};
	OK(S->zone_create(T, &z, &err_));

	caracal_zone out = {.size = sizeof out};
	OK(S->zone_get(T, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.name, name);
	assert_int_equal(out.created_at_us, 1779364800000000LL);
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->zone_get(T, name, A, &out, &err_));
	str_eq(out.id, id);

	/* Same name, another id; same id, another name. */
	caracal_zone dup = {sizeof dup, other, name, now()};
	RC(CARACAL_E_CONFLICT, S->zone_create(T, &dup, &err_));
	char name2[64];
	snprintf(name2, sizeof name2, "zone2-%s", id);
	caracal_zone dup2 = {sizeof dup2, id, name2, now()};
	RC(CARACAL_E_CONFLICT, S->zone_create(T, &dup2, &err_));
	RC(CARACAL_E_NOTFOUND, S->zone_get(T, other, A, &out, &err_));
	RC(CARACAL_E_NOTFOUND, S->zone_get(T, name2, A, &out, &err_));

	ids c = {0};
	OK(S->zone_list(T, each_zone, &c, &err_));
	assert_true(has(&c, id));
	assert_false(has(&c, other));

	/* A callback's non-OK stops the list and is returned. */
	mk_zone(other);
	ids stop = {.stop_after = 1};
	RC(CARACAL_E_CONFLICT, S->zone_list(T, each_zone, &stop, &err_));
	assert_int_equal(stop.n, 1);
}

static void test_result_size_respected(void **state)
{
	(void)state;
	char zone[37];
	mk_zone(zone);
	/* A caller built against a smaller struct: only id fits. */
	struct {
		caracal_zone z;
		char guard[32];
	} small;
	memset(&small, 0xa5, sizeof small);
	small.z.size = (uint32_t)(offsetof(caracal_zone, id) + sizeof(const char *));
	OK(S->zone_get(T, zone, A, &small.z, &err_));
	assert_int_equal(small.z.size, offsetof(caracal_zone, id) + sizeof(const char *));
	str_eq(small.z.id, zone);
	const unsigned char *p = (const unsigned char *)&small.z.name;
	for (size_t i = 0; i < sizeof small - offsetof(caracal_zone, name); i++)
		assert_int_equal(p[i], 0xa5);

	/* A caller built against a bigger struct: the unknown tail is zeroed. */
	struct {
		caracal_zone z;
		int64_t future;
	} big;
	memset(&big, 0xa5, sizeof big);
	big.z.size = sizeof big;
	OK(S->zone_get(T, zone, A, &big.z, &err_));
	assert_int_equal(big.z.size, sizeof big);
	assert_int_equal(big.future, 0);

	/* An input built against a smaller struct: the missing members are absent. */
	NEWID(app);
	caracal_application a = {sizeof a,      app,    zone, "small", "managed",
	                         "$argon2id$x", SCOPE1, 0,    0,       42};
	a.size = (uint32_t)offsetof(caracal_application, traits);
	OK(S->application_create(T, &a, &err_));
	caracal_application out = {.size = sizeof out};
	OK(S->application_get(T, zone, app, A, &out, &err_));
	str_eq(out.client_secret_hash, "$argon2id$x");
	assert_int_equal(out.traits.count, 0);
	assert_int_not_equal(out.created_at_us, 42);
}

static void test_applications(void **state)
{
	(void)state;
	char zone[37], zone2[37];
	mk_zone(zone);
	mk_zone(zone2);
	NEWID(id);
	static const char secret[] = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
	caracal_application a = {sizeof a, id,
	                         zone,     "billing-agent",
	                         "dcr",    secret,
	                         SCOPES,   1779364800000000LL + 86400000000LL,
	                         0,        1779364800000000LL};
	OK(S->application_create(T, &a, &err_));

	caracal_application out = {.size = sizeof out};
	OK(S->application_get(T, zone, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, zone);
	str_eq(out.name, "billing-agent");
	str_eq(out.registration_method, "dcr");
	str_eq(out.client_secret_hash, secret);
	list_eq(out.traits, SCOPES);
	assert_int_equal(out.expires_at_us, a.expires_at_us);
	assert_int_equal(out.archived_at_us, 0);
	assert_int_equal(out.created_at_us, a.created_at_us);

	/* Duplicate id: CONFLICT, and the message never echoes the secret hash. */
	caracal_error err = {0};
	assert_int_equal(S->application_create(T, &a, &err), CARACAL_E_CONFLICT);
	assert_int_equal(err.code, CARACAL_E_CONFLICT);
	assert_null(strstr(err.message, "argon2id"));
	/* Another zone's id is not found; an unknown zone is not found. */
	RC(CARACAL_E_NOTFOUND, S->application_get(T, zone2, id, A, &out, &err_));
	NEWID(id2);
	NEWID(nozone);
	caracal_application b = {sizeof b, id2, nozone, "x", "managed", NULL, NOLIST, 0, 0, 0};
	RC(CARACAL_E_NOTFOUND, S->application_create(T, &b, &err_));
	b.zone_id = zone;
	OK(S->application_create(T, &b, &err_));

	ids c = {0};
	OK(S->application_list(T, zone, each_app, &c, &err_));
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], id);
	assert_string_equal(c.v[1], id2);
	ids c2 = {0};
	OK(S->application_list(T, zone2, each_app, &c2, &err_));
	assert_int_equal(c2.n, 0);

	/* Archive once; archived applications stay readable. */
	OK(S->application_archive(T, zone, id2, 1779364900000000LL, &err_));
	RC(CARACAL_E_CONFLICT, S->application_archive(T, zone, id2, now(), &err_));
	RC(CARACAL_E_NOTFOUND, S->application_archive(T, zone2, id2, now(), &err_));
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->application_get(T, zone, id2, A, &out, &err_));
	assert_int_equal(out.archived_at_us, 1779364900000000LL);
	assert_null(out.client_secret_hash);
	assert_int_equal(out.traits.count, 0);
}

/* application_find (ABI 1.1, optional): by id, whatever the zone. */
static void test_application_find(void **state)
{
	(void)state;
	if (!(S->size >=
	          offsetof(caracal_storage_ops, application_find) + sizeof S->application_find &&
	      S->application_find != NULL)) {
		print_message("storage plugin has no application_find: skipped\n");
		return;
	}
	char zone[37], zone2[37], app[37], app2[37];
	mk_zone(zone);
	mk_zone(zone2);
	mk_app(zone, app);
	mk_app(zone2, app2);
	caracal_application out = {.size = sizeof out};
	OK(S->application_find(T, app2, A, &out, &err_));
	str_eq(out.id, app2);
	str_eq(out.zone_id, zone2);
	OK(S->application_find(T, app, A, &out, &err_));
	str_eq(out.zone_id, zone);
	NEWID(ghost);
	RC(CARACAL_E_NOTFOUND, S->application_find(T, ghost, A, &out, &err_));
	RC(CARACAL_E_INVAL, S->application_find(T, NULL, A, &out, &err_));
}

static void test_resources(void **state)
{
	(void)state;
	char zone[37], zone2[37], ident[96];
	mk_zone(zone);
	mk_zone(zone2);
	snprintf(ident, sizeof ident, "resource://crm-%s", zone);
	NEWID(id);
	static const char cred[] = "{\"kind\":\"bearer\",\"header\":\"Authorization\"}";
	static const char ops[] = "[{\"method\":\"GET\",\"path\":\"/v1/*\",\"scope\":\"read\"}]";
	caracal_resource r = {
	    sizeof r, id,     zone,       ident, "https://crm.example/api", SCOPES, "provider-1",
	    J(cred),  J(ops), "enforced", 0,     1779364800000000LL};
	OK(S->resource_create(T, &r, &err_));

	caracal_resource out = {.size = sizeof out};
	OK(S->resource_get(T, zone, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, zone);
	str_eq(out.identifier, ident);
	str_eq(out.upstream_url, "https://crm.example/api");
	list_eq(out.scopes, SCOPES);
	str_eq(out.credential_provider_id, "provider-1");
	json_eq(out.credential_json, cred);
	json_eq(out.operations_json, ops);
	str_eq(out.operation_enforcement, "enforced");
	assert_int_equal(out.archived_at_us, 0);
	assert_int_equal(out.created_at_us, 1779364800000000LL);
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->resource_get(T, zone, ident, A, &out, &err_));
	str_eq(out.id, id);
	RC(CARACAL_E_NOTFOUND, S->resource_get(T, zone2, ident, A, &out, &err_));
	RC(CARACAL_E_NOTFOUND, S->resource_get(T, zone2, id, A, &out, &err_));

	/* The identifier is unique among live rows of a zone only. */
	NEWID(id2);
	caracal_resource dup = {
	    .size = sizeof dup, .id = id2, .zone_id = zone, .identifier = ident};
	RC(CARACAL_E_CONFLICT, S->resource_create(T, &dup, &err_));
	dup.zone_id = zone2;
	OK(S->resource_create(T, &dup, &err_));
	RC(CARACAL_E_CONFLICT, S->resource_create(T, &r, &err_)); /* duplicate id */

	/* Minimal resource: defaults. */
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->resource_get(T, zone2, id2, A, &out, &err_));
	assert_null(out.upstream_url);
	assert_int_equal(out.scopes.count, 0);
	assert_null(out.credential_json.ptr);
	str_eq(out.operation_enforcement, "transport_uniform");

	/* Archive, then the identifier is free again. */
	OK(S->resource_archive(T, zone, id, now(), &err_));
	RC(CARACAL_E_CONFLICT, S->resource_archive(T, zone, id, now(), &err_));
	RC(CARACAL_E_NOTFOUND, S->resource_archive(T, zone, "no-such-resource", now(), &err_));
	RC(CARACAL_E_NOTFOUND, S->resource_get(T, zone, ident, A, &out, &err_));
	RC(CARACAL_E_NOTFOUND, S->resource_get(T, zone, id, A, &out, &err_));
	NEWID(id3);
	caracal_resource again = {.size = sizeof again,
	                          .id = id3,
	                          .zone_id = zone,
	                          .identifier = ident,
	                          .scopes = SCOPE1};
	OK(S->resource_create(T, &again, &err_));
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->resource_get(T, zone, ident, A, &out, &err_));
	str_eq(out.id, id3);

	ids c = {0};
	OK(S->resource_list(T, zone, each_res, &c, &err_));
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], id3);
}

static void test_grants(void **state)
{
	(void)state;
	world w, w2;
	mk_world(&w);
	mk_world(&w2);
	NEWID(g1);
	NEWID(g2);
	caracal_grant g = {sizeof g, g1, w.zone, w.app, w.res, SCOPES, 1779364800000000LL};
	OK(S->grant_create(T, &g, &err_));
	RC(CARACAL_E_CONFLICT, S->grant_create(T, &g, &err_));
	caracal_grant h = {sizeof h, g2, w.zone, w.app2, w.res, SCOPE1, 1779364800000001LL};
	OK(S->grant_create(T, &h, &err_));
	/* References into another zone are not found. */
	NEWID(g3);
	caracal_grant x = {sizeof x, g3, w.zone, w.app, w2.res, SCOPE1, 0};
	RC(CARACAL_E_NOTFOUND, S->grant_create(T, &x, &err_));

	ids all = {0}, by_app = {0}, by_res = {0}, both = {0}, other = {0};
	OK(S->grant_list(T, w.zone, NULL, NULL, each_grant, &all, &err_));
	assert_int_equal(all.n, 2);
	assert_string_equal(all.v[0], g1);
	assert_int_equal(all.num[0], 3);
	assert_string_equal(all.v[1], g2);
	OK(S->grant_list(T, w.zone, w.app2, NULL, each_grant, &by_app, &err_));
	assert_int_equal(by_app.n, 1);
	assert_string_equal(by_app.v[0], g2);
	OK(S->grant_list(T, w.zone, NULL, w.res, each_grant, &by_res, &err_));
	assert_int_equal(by_res.n, 2);
	OK(S->grant_list(T, w.zone, w.app, w.res, each_grant, &both, &err_));
	assert_int_equal(both.n, 1);
	OK(S->grant_list(T, w2.zone, NULL, NULL, each_grant, &other, &err_));
	assert_int_equal(other.n, 0);

	RC(CARACAL_E_NOTFOUND, S->grant_delete(T, w2.zone, g1, &err_));
	OK(S->grant_delete(T, w.zone, g1, &err_));
	RC(CARACAL_E_NOTFOUND, S->grant_delete(T, w.zone, g1, &err_));
	ids after = {0};
	OK(S->grant_list(T, w.zone, NULL, NULL, each_grant, &after, &err_));
	assert_int_equal(after.n, 1);
}

static void test_policy_versions(void **state)
{
	(void)state;
	char zone[37], zone2[37];
	mk_zone(zone);
	mk_zone(zone2);
	NEWID(p1);
	NEWID(p2);
	NEWID(q1);
	static const char src1[] = "package caracal.authz\ngrants := {}\n";
	static const char src2[] = "package caracal.authz\nrestrict := {\"all\"}\n";
	caracal_policy_version v1 = {sizeof v1, p1, zone, 0, J(src1), SHA_A, 0, 1779364800000000LL};
	caracal_policy_version v2 = {sizeof v2, p2, zone, 0, J(src2), SHA_B, 0, 0};
	caracal_policy_version w1 = {sizeof w1, q1, zone2, 0, J(src1), SHA_A, 0, 0};
	OK(S->policy_version_create(T, &v1, &err_));
	OK(S->policy_version_create(T, &v2, &err_));
	OK(S->policy_version_create(T, &w1, &err_));
	assert_int_equal(v1.version, 1);
	assert_int_equal(v2.version, 2);
	assert_int_equal(w1.version, 1);
	RC(CARACAL_E_CONFLICT, S->policy_version_create(T, &v1, &err_));

	caracal_policy_version out = {.size = sizeof out};
	RC(CARACAL_E_NOTFOUND, S->policy_active_get(T, zone, A, &out, &err_));
	OK(S->policy_version_get(T, zone, p1, A, &out, &err_));
	str_eq(out.id, p1);
	str_eq(out.zone_id, zone);
	assert_int_equal(out.version, 1);
	json_eq(out.source, src1);
	str_eq(out.sha256, SHA_A);
	assert_int_equal(out.active, 0);
	assert_int_equal(out.created_at_us, 1779364800000000LL);
	RC(CARACAL_E_NOTFOUND, S->policy_version_get(T, zone2, p1, A, &out, &err_));

	OK(S->policy_activate(T, zone, p1, &err_));
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->policy_active_get(T, zone, A, &out, &err_));
	str_eq(out.id, p1);
	assert_int_equal(out.active, 1);
	OK(S->policy_activate(T, zone, p2, &err_));
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->policy_active_get(T, zone, A, &out, &err_));
	str_eq(out.id, p2);
	assert_int_equal(out.version, 2);
	json_eq(out.source, src2);
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->policy_version_get(T, zone, p1, A, &out, &err_));
	assert_int_equal(out.active, 0);
	/* A version of another zone cannot be activated. */
	RC(CARACAL_E_NOTFOUND, S->policy_activate(T, zone, q1, &err_));
	RC(CARACAL_E_NOTFOUND, S->policy_active_get(T, zone2, A, &out, &err_));
}

static void test_authority_records(void **state)
{
	(void)state;
	char zone[37], zone2[37], parent[37];
	mk_zone(zone);
	mk_zone(zone2);
	mk_ar(zone, parent, NULL);
	NEWID(id);
	static const char claims[] = "{\"iss\":\"https://idp.example\"}";
	caracal_authority_record a = {sizeof a,           id,        zone,     "user",
	                              "user-42",          parent,    "active", 1779368400000000LL,
	                              1779364800000000LL, J(claims), 0,        NULL};
	OK(S->authority_record_create(T, &a, &err_));
	RC(CARACAL_E_CONFLICT, S->authority_record_create(T, &a, &err_));
	caracal_authority_record out = {.size = sizeof out};
	OK(S->authority_record_get(T, zone, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, zone);
	str_eq(out.session_type, "user");
	str_eq(out.subject_id, "user-42");
	str_eq(out.parent_id, parent);
	str_eq(out.status, "active");
	assert_int_equal(out.expires_at_us, 1779368400000000LL);
	assert_int_equal(out.authenticated_at_us, 1779364800000000LL);
	json_eq(out.claims_json, claims);
	assert_int_equal(out.revoked_at_us, 0);
	assert_null(out.revoked_reason);
	RC(CARACAL_E_NOTFOUND, S->authority_record_get(T, zone2, id, A, &out, &err_));
	/* A parent in another zone is not found. */
	NEWID(id2);
	a.id = id2;
	a.zone_id = zone2;
	RC(CARACAL_E_NOTFOUND, S->authority_record_create(T, &a, &err_));
}

static void test_sessions(void **state)
{
	(void)state;
	world w;
	char zone2[37];
	mk_world(&w);
	mk_zone(zone2);
	NEWID(id);
	static const char *labels[] = {"role:reader", "team:billing"};
	caracal_session s = {sizeof s,
	                     id,
	                     w.zone,
	                     w.app,
	                     w.s1,
	                     w.ar,
	                     "active",
	                     "service",
	                     1,
	                     {labels, 2},
	                     1779364800000000LL,
	                     0,
	                     1779364860000000LL,
	                     0};
	OK(S->session_create(T, &s, &err_));
	RC(CARACAL_E_CONFLICT, S->session_create(T, &s, &err_));
	caracal_session out = {.size = sizeof out};
	OK(S->session_get(T, w.zone, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, w.zone);
	str_eq(out.application_id, w.app);
	str_eq(out.parent_id, w.s1);
	str_eq(out.subject_authority_record_id, w.ar);
	str_eq(out.status, "active");
	str_eq(out.lifecycle, "service");
	assert_int_equal(out.depth, 1);
	list_eq(out.labels, (caracal_strlist){labels, 2});
	assert_int_equal(out.started_at_us, 1779364800000000LL);
	assert_int_equal(out.ttl_seconds, 0);
	assert_int_equal(out.heartbeat_deadline_at_us, 1779364860000000LL);
	assert_int_equal(out.ended_at_us, 0);
	RC(CARACAL_E_NOTFOUND, S->session_get(T, zone2, id, A, &out, &err_));

	/* Heartbeat while active. */
	OK(S->session_heartbeat(T, w.zone, id, 1779364920000000LL, &err_));
	RC(CARACAL_E_NOTFOUND, S->session_heartbeat(T, zone2, id, 1, &err_));
	/* Compare-and-set. */
	OK(S->session_set_status(T, w.zone, id, "active", "suspended", now(), &err_));
	RC(CARACAL_E_CONFLICT,
	   S->session_set_status(T, w.zone, id, "active", "terminated", now(), &err_));
	RC(CARACAL_E_CONFLICT, S->session_heartbeat(T, w.zone, id, 1779364980000000LL, &err_));
	RC(CARACAL_E_NOTFOUND,
	   S->session_set_status(T, zone2, id, "suspended", "active", now(), &err_));
	OK(S->session_set_status(T, w.zone, id, "suspended", "terminated", 1779365000000000LL,
	                         &err_));
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->session_get(T, w.zone, id, A, &out, &err_));
	str_eq(out.status, "terminated");
	assert_int_equal(out.heartbeat_deadline_at_us, 1779364920000000LL);
	assert_int_equal(out.ended_at_us, 1779365000000000LL);
}

static void test_delegations(void **state)
{
	(void)state;
	world w;
	char zone2[37];
	mk_world(&w);
	mk_zone(zone2);
	int64_t e0 = -1, e1 = -1, e2 = -1;
	OK(S->delegation_epoch(T, w.zone, &e0, &err_));
	NEWID(id);
	static const char cons[] = "{\"max_hops\":2,\"ttl_seconds\":300}";
	caracal_delegation d = {sizeof d,
	                        id,
	                        w.zone,
	                        w.s1,
	                        w.s2,
	                        w.app,
	                        w.app2,
	                        NULL,
	                        w.res,
	                        SCOPES,
	                        J(cons),
	                        "active",
	                        1779368400000000LL,
	                        3,
	                        0,
	                        1779364800000000LL};
	OK(S->delegation_create(T, &d, &err_));
	OK(S->delegation_epoch(T, w.zone, &e1, &err_));
	assert_true(e1 > e0);
	RC(CARACAL_E_CONFLICT, S->delegation_create(T, &d, &err_));
	OK(S->delegation_epoch(T, w.zone, &e2, &err_));
	assert_int_equal(e2, e1);

	caracal_delegation out = {.size = sizeof out};
	OK(S->delegation_get(T, w.zone, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, w.zone);
	str_eq(out.source_session_id, w.s1);
	str_eq(out.target_session_id, w.s2);
	str_eq(out.issuer_application_id, w.app);
	str_eq(out.receiver_application_id, w.app2);
	assert_null(out.parent_edge_id);
	str_eq(out.resource_id, w.res);
	list_eq(out.scopes, SCOPES);
	json_eq(out.constraints_json, cons);
	str_eq(out.status, "active");
	assert_int_equal(out.expires_at_us, 1779368400000000LL);
	assert_int_equal(out.edge_version, 3);
	assert_int_equal(out.revoked_at_us, 0);
	assert_int_equal(out.created_at_us, 1779364800000000LL);
	RC(CARACAL_E_NOTFOUND, S->delegation_get(T, zone2, id, A, &out, &err_));

	int64_t ez = -1;
	OK(S->delegation_epoch(T, zone2, &ez, &err_));
	assert_int_equal(ez, 0);
	NEWID(nozone);
	RC(CARACAL_E_NOTFOUND, S->delegation_epoch(T, nozone, &ez, &err_));
}

static int64_t last_seq(const char *zone)
{
	ids c = {0};
	OK(S->revocation_list(T, zone, 0, each_rev, &c, &err_));
	return c.n > 0 ? c.num[c.n - 1] : 0;
}

static void test_revoke_authority_chain(void **state)
{
	(void)state;
	char zone[37], zone2[37], a[37], b[37], c[37], d[37];
	mk_zone(zone);
	mk_zone(zone2);
	mk_ar(zone, a, NULL);
	mk_ar(zone, b, a);
	mk_ar(zone, c, b);
	mk_ar(zone, d, NULL);
	int64_t before = last_seq(NULL);

	caracal_revocation r = {
	    sizeof r,           zone, CARACAL_REVOKE_AUTHORITY_RECORD, a, "admin_revoked",
	    1779364800000000LL, 0};
	uint64_t count = 99;
	OK(S->revoke(T, &r, &count, &err_));
	assert_int_equal(count, 3);
	assert_true(r.seq > before);
	const char *chain[] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		caracal_authority_record out = {.size = sizeof out};
		OK(S->authority_record_get(T, zone, chain[i], A, &out, &err_));
		str_eq(out.status, "revoked");
		str_eq(out.revoked_reason, "admin_revoked");
		assert_int_equal(out.revoked_at_us, 1779364800000000LL);
	}
	caracal_authority_record out = {.size = sizeof out};
	OK(S->authority_record_get(T, zone, d, A, &out, &err_));
	str_eq(out.status, "active");

	/* Again: nothing changes, but the revocation is recorded. */
	caracal_revocation again = r;
	again.seq = 0;
	OK(S->revoke(T, &again, &count, &err_));
	assert_int_equal(count, 0);
	assert_true(again.seq > r.seq);

	/* Unknown target, or the target in another zone. */
	caracal_revocation bad = {sizeof bad, zone2, CARACAL_REVOKE_AUTHORITY_RECORD, a, NULL,
	                          0,          0};
	RC(CARACAL_E_NOTFOUND, S->revoke(T, &bad, &count, &err_));
	NEWID(unknown);
	bad.zone_id = zone;
	bad.target_id = unknown;
	RC(CARACAL_E_NOTFOUND, S->revoke(T, &bad, &count, &err_));

	/* Revoking the middle of a fresh chain leaves the root alone. */
	char e[37], f[37], g[37];
	mk_ar(zone, e, NULL);
	mk_ar(zone, f, e);
	mk_ar(zone, g, f);
	caracal_revocation mid = {sizeof mid, zone, CARACAL_REVOKE_AUTHORITY_RECORD, f, NULL, 0, 0};
	OK(S->revoke(T, &mid, &count, &err_));
	assert_int_equal(count, 2);
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->authority_record_get(T, zone, e, A, &out, &err_));
	str_eq(out.status, "active");
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->authority_record_get(T, zone, g, A, &out, &err_));
	str_eq(out.status, "revoked");
	assert_non_null(out.revoked_reason);
	assert_true(out.revoked_at_us > 0);

	/* The zone's revocations, in seq order, resumable after a seq. */
	ids list = {0};
	OK(S->revocation_list(T, zone, 0, each_rev, &list, &err_));
	assert_int_equal(list.n, 3);
	assert_string_equal(list.v[0], a);
	assert_int_equal(list.num[0], r.seq);
	assert_string_equal(list.v[1], a);
	assert_int_equal(list.num[1], again.seq);
	assert_string_equal(list.v[2], f);
	assert_int_equal(list.num[2], mid.seq);
	ids tail = {0};
	OK(S->revocation_list(T, zone, r.seq, each_rev, &tail, &err_));
	assert_int_equal(tail.n, 2);
	assert_int_equal(tail.num[0], again.seq);
	ids none = {0};
	OK(S->revocation_list(T, zone2, 0, each_rev, &none, &err_));
	assert_int_equal(none.n, 0);
}

typedef struct rev_probe {
	const char *zone;
	int64_t seq;
	caracal_revocation_kind kind;
	char reason[64];
	int found;
} rev_probe;

static int find_rev(void *ud, const void *rec)
{
	rev_probe *p = ud;
	const caracal_revocation *r = rec;
	if (r->seq == p->seq) {
		p->found = 1;
		str_eq(r->zone_id, p->zone);
		p->kind = r->kind;
		snprintf(p->reason, sizeof p->reason, "%s", r->reason != NULL ? r->reason : "");
	}
	return CARACAL_OK;
}

static void test_revoke_session_chain(void **state)
{
	(void)state;
	world w;
	char s3[37], s4[37], s5[37];
	mk_world(&w);
	mk_session(w.zone, s3, w.app, w.ar, w.s1);
	mk_session(w.zone, s4, w.app, w.ar, s3);
	mk_session(w.zone, s5, w.app, w.ar, s4);
	OK(S->session_set_status(T, w.zone, s4, "active", "suspended", now(), &err_));
	caracal_revocation r = {sizeof r, w.zone, CARACAL_REVOKE_SESSION, s3, "operator", 0, 0};
	uint64_t count = 0;
	OK(S->revoke(T, &r, &count, &err_));
	assert_int_equal(count, 3);
	const char *chain[] = {s3, s4, s5};
	for (int i = 0; i < 3; i++) {
		caracal_session out = {.size = sizeof out};
		OK(S->session_get(T, w.zone, chain[i], A, &out, &err_));
		str_eq(out.status, "terminated");
		assert_true(out.ended_at_us > 0);
	}
	caracal_session out = {.size = sizeof out};
	OK(S->session_get(T, w.zone, w.s1, A, &out, &err_));
	str_eq(out.status, "active");
	rev_probe p = {w.zone, r.seq, 0, "", 0};
	OK(S->revocation_list(T, NULL, r.seq - 1, find_rev, &p, &err_));
	assert_true(p.found);
	assert_int_equal(p.kind, CARACAL_REVOKE_SESSION);
	assert_string_equal(p.reason, "operator");
	NEWID(unknown);
	caracal_revocation bad = {sizeof bad, w.zone, CARACAL_REVOKE_SESSION, unknown, NULL, 0, 0};
	RC(CARACAL_E_NOTFOUND, S->revoke(T, &bad, &count, &err_));
}

static void test_revoke_delegation_chain(void **state)
{
	(void)state;
	world w;
	char e1[37], e2[37], e3[37], other[37];
	mk_world(&w);
	mk_edge(&w, e1, NULL);
	mk_edge(&w, e2, e1);
	mk_edge(&w, e3, e2);
	mk_edge(&w, other, NULL);
	int64_t epoch0 = 0, epoch1 = 0;
	OK(S->delegation_epoch(T, w.zone, &epoch0, &err_));
	caracal_revocation r = {sizeof r,           w.zone, CARACAL_REVOKE_DELEGATION, e2, NULL,
	                        1779364800000000LL, 0};
	uint64_t count = 0;
	OK(S->revoke(T, &r, &count, &err_));
	assert_int_equal(count, 2);
	OK(S->delegation_epoch(T, w.zone, &epoch1, &err_));
	assert_true(epoch1 > epoch0);
	caracal_delegation out = {.size = sizeof out};
	OK(S->delegation_get(T, w.zone, e1, A, &out, &err_));
	str_eq(out.status, "active");
	assert_int_equal(out.edge_version, 1);
	const char *below[] = {e2, e3};
	for (int i = 0; i < 2; i++) {
		memset(&out, 0, sizeof out);
		out.size = sizeof out;
		OK(S->delegation_get(T, w.zone, below[i], A, &out, &err_));
		str_eq(out.status, "revoked");
		assert_int_equal(out.revoked_at_us, 1779364800000000LL);
		assert_true(out.edge_version > 1);
	}
	/* From the root: the rest of the chain (e1 only is still active). */
	caracal_revocation root = {sizeof root, w.zone, CARACAL_REVOKE_DELEGATION, e1, NULL, 0, 0};
	OK(S->revoke(T, &root, &count, &err_));
	assert_int_equal(count, 1);
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->delegation_get(T, w.zone, other, A, &out, &err_));
	str_eq(out.status, "active");
	assert_true(root.seq > r.seq);
	NEWID(unknown);
	caracal_revocation bad = {sizeof bad, w.zone, CARACAL_REVOKE_DELEGATION, unknown, NULL,
	                          0,          0};
	RC(CARACAL_E_NOTFOUND, S->revoke(T, &bad, &count, &err_));
	caracal_revocation kind = {sizeof kind, w.zone, (caracal_revocation_kind)42, e1, NULL,
	                           0,           0};
	RC(CARACAL_E_INVAL, S->revoke(T, &kind, &count, &err_));
}

static void mk_approval(const char *zone, char *id, const char *app, int64_t expires)
{
	assert_int_equal(uuid_v7(id), 0);
	caracal_approval a = {.size = sizeof a,
	                      .id = id,
	                      .zone_id = zone,
	                      .session_id = "",
	                      .principal_id = app,
	                      .application_id = app,
	                      .tier = "high",
	                      .approver_class = "operator",
	                      .binding_hex = BIND,
	                      .expires_at_us = expires,
	                      .created_at_us = now()};
	OK(S->approval_create(T, &a, &err_));
}

static void test_approvals(void **state)
{
	(void)state;
	world w;
	char zone2[37];
	mk_world(&w);
	mk_zone(zone2);
	int64_t t0 = now();
	NEWID(id);
	static const char meta[] = "{\"resource\":\"crm\",\"scopes\":[\"write\"]}";
	caracal_approval a = {sizeof a,
	                      id,
	                      w.zone,
	                      w.ar,
	                      w.app,
	                      w.app,
	                      "high",
	                      "subject",
	                      "pseudonymous",
	                      "anchor-1",
	                      BIND,
	                      t0 + 600000000LL,
	                      0,
	                      0,
	                      0,
	                      NULL,
	                      NULL,
	                      NULL,
	                      J(meta),
	                      1779364800000000LL};
	OK(S->approval_create(T, &a, &err_));
	RC(CARACAL_E_CONFLICT, S->approval_create(T, &a, &err_));
	caracal_approval out = {.size = sizeof out};
	OK(S->approval_get(T, w.zone, id, A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, w.zone);
	str_eq(out.session_id, w.ar);
	str_eq(out.principal_id, w.app);
	str_eq(out.application_id, w.app);
	str_eq(out.tier, "high");
	str_eq(out.approver_class, "subject");
	str_eq(out.privacy_mode, "pseudonymous");
	str_eq(out.subject_anchor, "anchor-1");
	str_eq(out.binding_hex, BIND);
	assert_int_equal(out.expires_at_us, t0 + 600000000LL);
	assert_int_equal(out.satisfied_at_us, 0);
	assert_int_equal(out.rejected_at_us, 0);
	assert_int_equal(out.consumed_at_us, 0);
	assert_null(out.consumed_authority_record_id);
	assert_null(out.approver_subject_id);
	assert_null(out.decision_reason);
	json_eq(out.metadata_json, meta);
	assert_int_equal(out.created_at_us, 1779364800000000LL);
	RC(CARACAL_E_NOTFOUND, S->approval_get(T, zone2, id, A, &out, &err_));

	/* Pending: this one, one to reject, and an expired one (not listed). */
	char rej[37], old[37];
	mk_approval(w.zone, rej, w.app, t0 + 600000000LL);
	mk_approval(w.zone, old, w.app, t0 - 1000000LL);
	ids pend = {0};
	OK(S->approval_list_pending(T, w.zone, t0, each_appr, &pend, &err_));
	assert_int_equal(pend.n, 2);
	assert_true(has(&pend, id));
	assert_true(has(&pend, rej));

	/* Consuming before approval is refused. */
	RC(CARACAL_E_CONFLICT, S->approval_consume(T, w.zone, id, w.ar, now(), &err_));
	/* Decide once. */
	OK(S->approval_decide(T, w.zone, id, 1, "operator-7", "looks fine", t0 + 1, &err_));
	RC(CARACAL_E_CONFLICT,
	   S->approval_decide(T, w.zone, id, 0, "operator-8", "no", now(), &err_));
	RC(CARACAL_E_NOTFOUND, S->approval_decide(T, zone2, id, 1, "x", NULL, now(), &err_));
	OK(S->approval_decide(T, w.zone, rej, 0, "operator-7", "too broad", now(), &err_));
	RC(CARACAL_E_CONFLICT,
	   S->approval_decide(T, w.zone, rej, 1, "operator-7", NULL, now(), &err_));
	RC(CARACAL_E_CONFLICT,
	   S->approval_decide(T, w.zone, old, 1, "operator-7", NULL, now(), &err_));
	ids pend2 = {0};
	OK(S->approval_list_pending(T, w.zone, now(), each_appr, &pend2, &err_));
	assert_int_equal(pend2.n, 0);

	/* Consume once. */
	OK(S->approval_consume(T, w.zone, id, w.ar, t0 + 2, &err_));
	RC(CARACAL_E_CONFLICT, S->approval_consume(T, w.zone, id, w.ar, now(), &err_));
	RC(CARACAL_E_CONFLICT, S->approval_consume(T, w.zone, rej, w.ar, now(), &err_));
	RC(CARACAL_E_NOTFOUND, S->approval_consume(T, zone2, id, w.ar, now(), &err_));
	RC(CARACAL_E_CONFLICT, S->approval_decide(T, w.zone, id, 1, "again", NULL, now(), &err_));
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->approval_get(T, w.zone, id, A, &out, &err_));
	assert_int_equal(out.satisfied_at_us, t0 + 1);
	assert_int_equal(out.consumed_at_us, t0 + 2);
	str_eq(out.consumed_authority_record_id, w.ar);
	str_eq(out.approver_subject_id, "operator-7");
	str_eq(out.decision_reason, "looks fine");
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->approval_get(T, w.zone, rej, A, &out, &err_));
	assert_true(out.rejected_at_us > 0);
	assert_int_equal(out.satisfied_at_us, 0);
	str_eq(out.decision_reason, "too broad");
}

/* ------------------------------------------------------------ concurrency */

typedef struct race {
	pthread_barrier_t bar;
	const char *zone, *id, *extra;
	int64_t expires;
	int which; /* 0 consume, 1 claim, 2 mint_write consuming id */
	int rc[8];
	char msg[8][CARACAL_ERROR_MESSAGE_MAX];
	int idx;
	pthread_mutex_t mu;
} race;

static int has_mint_write(void)
{
	return S->size >= offsetof(caracal_storage_ops, mint_write) + sizeof S->mint_write &&
	       S->mint_write != NULL;
}

/* A mint of a fresh record and jti that consumes the contested approval. */
static int race_mint(void *tctx, const race *r, caracal_error *err)
{
	char rid[UUID_TEXT_LEN + 1], jti[UUID_TEXT_LEN + 1];
	if (uuid_v7(rid) != 0 || uuid_v7(jti) != 0)
		return CARACAL_E_INTERNAL;
	caracal_authority_record rec = {.size = sizeof rec,
	                                .id = rid,
	                                .zone_id = r->zone,
	                                .session_type = "application",
	                                .subject_id = "subject-1",
	                                .status = "active",
	                                .expires_at_us = now() + 600000000LL,
	                                .authenticated_at_us = now()};
	caracal_mint_write m = {.size = sizeof m,
	                        .record = &rec,
	                        .jti = jti,
	                        .jti_expires_at_us = now() + 600000000LL,
	                        .approval_id = r->id};
	int conflict = 0;
	int rc = S->mint_write(tctx, &m, &conflict, err);
	if (rc == CARACAL_E_CONFLICT && conflict != CARACAL_MINT_CONFLICT_APPROVAL)
		return CARACAL_E_INTERNAL;
	return rc;
}

static void *race_thread(void *p)
{
	race *r = p;
	void *tctx = NULL;
	caracal_error err = {0};
	pthread_mutex_lock(&r->mu);
	int me = r->idx++;
	pthread_mutex_unlock(&r->mu);
	int rc = thread_ctx(&tctx);
	pthread_barrier_wait(&r->bar);
	if (rc == CARACAL_OK) {
		if (r->which == 0)
			rc = S->approval_consume(tctx, r->zone, r->id, r->extra, now(), &err);
		else if (r->which == 1)
			rc = S->single_use_claim(tctx, r->zone, r->id, r->expires, &err);
		else
			rc = race_mint(tctx, r, &err);
	}
	r->rc[me] = rc;
	snprintf(r->msg[me], sizeof r->msg[me], "%s", err.message);
	if (tctx != NULL)
		thread_ctx_free(tctx);
	return NULL;
}

static void run_race(race *r, int n)
{
	pthread_t th[8];
	r->idx = 0;
	pthread_mutex_init(&r->mu, NULL);
	pthread_barrier_init(&r->bar, NULL, (unsigned)n);
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, r), 0);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&r->bar);
	pthread_mutex_destroy(&r->mu);
	int wins = 0;
	for (int i = 0; i < n; i++) {
		if (r->rc[i] == CARACAL_OK)
			wins++;
		else if (r->rc[i] != CARACAL_E_CONFLICT)
			fail_msg("racer %d: %d %s", i, r->rc[i], r->msg[i]);
	}
	assert_int_equal(wins, 1);
}

/* A hold naming an authority record is consumed only while that record is
 * live: a revocation between the check and the consumption wins. */
static void test_approval_consume_needs_live_record(void **state)
{
	(void)state;
	world w;
	mk_world(&w);
	char rec[37];
	mk_ar(w.zone, rec, NULL);
	NEWID(id);
	int64_t t0 = now();
	caracal_approval a = {.size = sizeof a,
	                      .id = id,
	                      .zone_id = w.zone,
	                      .session_id = rec,
	                      .principal_id = w.app,
	                      .application_id = w.app,
	                      .binding_hex = BIND,
	                      .expires_at_us = t0 + 600000000LL,
	                      .created_at_us = t0};
	OK(S->approval_create(T, &a, &err_));
	OK(S->approval_decide(T, w.zone, id, 1, "operator-7", NULL, t0, &err_));
	caracal_revocation rv = {.size = sizeof rv,
	                         .zone_id = w.zone,
	                         .kind = CARACAL_REVOKE_AUTHORITY_RECORD,
	                         .target_id = rec,
	                         .reason = "test",
	                         .revoked_at_us = t0 + 1};
	uint64_t count = 0;
	OK(S->revoke(T, &rv, &count, &err_));
	RC(CARACAL_E_CONFLICT, S->approval_consume(T, w.zone, id, w.ar, t0 + 2, &err_));
	caracal_approval out = {.size = sizeof out};
	OK(S->approval_get(T, w.zone, id, A, &out, &err_));
	assert_int_equal(out.consumed_at_us, 0);
}

static void test_approval_consume_race(void **state)
{
	(void)state;
	world w;
	char id[37];
	mk_world(&w);
	mk_approval(w.zone, id, w.app, now() + 600000000LL);
	OK(S->approval_decide(T, w.zone, id, 1, "operator", NULL, now(), &err_));
	race r = {.zone = w.zone, .id = id, .extra = w.ar, .which = 0};
	run_race(&r, 4);
}

static void test_single_use(void **state)
{
	(void)state;
	char zone[37], zone2[37];
	mk_zone(zone);
	mk_zone(zone2);
	NEWID(jti);
	int64_t t = now();
	OK(S->single_use_claim(T, zone, jti, t + 60000000LL, &err_));
	RC(CARACAL_E_CONFLICT, S->single_use_claim(T, zone, jti, t + 120000000LL, &err_));
	OK(S->single_use_claim(T, zone2, jti, t + 60000000LL, &err_));
	/* An expired claim may be claimed again. */
	NEWID(old);
	OK(S->single_use_claim(T, zone, old, t - 1000000LL, &err_));
	OK(S->single_use_claim(T, zone, old, t + 60000000LL, &err_));
	RC(CARACAL_E_CONFLICT, S->single_use_claim(T, zone, old, t + 60000000LL, &err_));
	/* Many expired claims: purging them never loses a live one. */
	for (int i = 0; i < 150; i++) {
		NEWID(x);
		OK(S->single_use_claim(T, zone, x, t - 1000000LL, &err_));
	}
	RC(CARACAL_E_CONFLICT, S->single_use_claim(T, zone, jti, t + 60000000LL, &err_));
	RC(CARACAL_E_CONFLICT, S->single_use_claim(T, zone, old, t + 60000000LL, &err_));

	NEWID(contested);
	race r = {.zone = zone, .id = contested, .expires = t + 60000000LL, .which = 1};
	run_race(&r, 8);
}

/* mint_write (ABI 1.1, optional): the record, the jti and the approval
 * consumption commit together or not at all. */
static void test_mint_write(void **state)
{
	(void)state;
	if (!has_mint_write()) {
		print_message("storage plugin has no mint_write (ABI 1.0): skipped\n");
		return;
	}
	world w;
	mk_world(&w);
	int64_t t0 = now();
	char appr[37], pending[37];
	mk_approval(w.zone, appr, w.app, t0 + 600000000LL);
	OK(S->approval_decide(T, w.zone, appr, 1, "operator-7", NULL, t0, &err_));
	mk_approval(w.zone, pending, w.app, t0 + 600000000LL);

	NEWID(rid);
	NEWID(jti);
	caracal_authority_record rec = {.size = sizeof rec,
	                                .id = rid,
	                                .zone_id = w.zone,
	                                .session_type = "application",
	                                .subject_id = w.app,
	                                .status = "active",
	                                .expires_at_us = t0 + 900000000LL,
	                                .authenticated_at_us = t0};
	caracal_mint_write m = {.size = sizeof m,
	                        .record = &rec,
	                        .jti = jti,
	                        .jti_expires_at_us = t0 + 900000000LL,
	                        .approval_id = pending,
	                        .at_us = t0 + 1};
	caracal_authority_record out = {.size = sizeof out};
	int conflict = 0;

	/* A pending approval cannot be consumed: nothing is written. */
	RC(CARACAL_E_CONFLICT, S->mint_write(T, &m, &conflict, &err_));
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_APPROVAL);
	RC(CARACAL_E_NOTFOUND, S->authority_record_get(T, w.zone, rid, A, &out, &err_));
	NEWID(probe);
	OK(S->single_use_claim(T, w.zone, probe, t0 + 60000000LL, &err_));

	/* An unknown approval is a conflict too (swept, or never there). */
	NEWID(ghost);
	m.approval_id = ghost;
	RC(CARACAL_E_CONFLICT, S->mint_write(T, &m, &conflict, &err_));
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_APPROVAL);
	RC(CARACAL_E_NOTFOUND, S->authority_record_get(T, w.zone, rid, A, &out, &err_));

	/* A jti already claimed: no record, and the approval stays unconsumed. */
	m.approval_id = appr;
	m.jti = probe;
	RC(CARACAL_E_CONFLICT, S->mint_write(T, &m, &conflict, &err_));
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_JTI);
	RC(CARACAL_E_NOTFOUND, S->authority_record_get(T, w.zone, rid, A, &out, &err_));
	caracal_approval ao = {.size = sizeof ao};
	OK(S->approval_get(T, w.zone, appr, A, &ao, &err_));
	assert_int_equal(ao.consumed_at_us, 0);

	/* All three together. */
	m.jti = jti;
	OK(S->mint_write(T, &m, &conflict, &err_));
	assert_int_equal(conflict, 0);
	OK(S->authority_record_get(T, w.zone, rid, A, &out, &err_));
	str_eq(out.subject_id, w.app);
	str_eq(out.status, "active");
	RC(CARACAL_E_CONFLICT, S->single_use_claim(T, w.zone, jti, t0 + 60000000LL, &err_));
	memset(&ao, 0, sizeof ao);
	ao.size = sizeof ao;
	OK(S->approval_get(T, w.zone, appr, A, &ao, &err_));
	assert_int_equal(ao.consumed_at_us, t0 + 1);
	str_eq(ao.consumed_authority_record_id, rid);

	/* The same record id again (fresh jti, no approval): nothing written. */
	NEWID(jti2);
	m.jti = jti2;
	m.approval_id = NULL;
	RC(CARACAL_E_CONFLICT, S->mint_write(T, &m, &conflict, &err_));
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_RECORD);
	OK(S->single_use_claim(T, w.zone, jti2, t0 + 60000000LL, &err_));

	/* Without an approval, and with a NULL conflict pointer. */
	NEWID(rid3);
	NEWID(jti3);
	rec.id = rid3;
	m.jti = jti3;
	OK(S->mint_write(T, &m, NULL, &err_));
	OK(S->authority_record_get(T, w.zone, rid3, A, &out, &err_));

	/* Missing pieces are refused before anything is written. */
	m.jti = NULL;
	RC(CARACAL_E_INVAL, S->mint_write(T, &m, &conflict, &err_));
	m.jti = jti3;
	m.record = NULL;
	RC(CARACAL_E_INVAL, S->mint_write(T, &m, &conflict, &err_));

	/* Racing mints over one approval: exactly one consumes it. */
	char contested[37];
	mk_approval(w.zone, contested, w.app, t0 + 600000000LL);
	OK(S->approval_decide(T, w.zone, contested, 1, "operator-7", NULL, t0, &err_));
	race r = {.zone = w.zone, .id = contested, .which = 2};
	run_race(&r, 4);
}

/* mint_write (since 1.2): a child record lands only under a parent that is
 * still active at the mint's time — a revocation committed while the mint
 * waited wins, and nothing of the mint is written. */
static void test_mint_write_parent_live(void **state)
{
	(void)state;
	if (!(S->size >=
	          offsetof(caracal_storage_ops, mint_write_batch) + sizeof S->mint_write_batch &&
	      S->mint_write_batch != NULL && has_mint_write())) {
		print_message("storage plugin older than ABI 1.2: skipped\n");
		return;
	}
	world w;
	mk_world(&w);
	int64_t t0 = now();
	char parent[37], old_parent[37];
	mk_ar(w.zone, parent, NULL);
	mk_ar(w.zone, old_parent, NULL);
	NEWID(rid);
	NEWID(jti);
	caracal_authority_record rec = {.size = sizeof rec,
	                                .id = rid,
	                                .zone_id = w.zone,
	                                .session_type = "application",
	                                .subject_id = w.app,
	                                .parent_id = parent,
	                                .status = "active",
	                                .expires_at_us = t0 + 900000000LL,
	                                .authenticated_at_us = t0};
	caracal_mint_write m = {.size = sizeof m,
	                        .record = &rec,
	                        .jti = jti,
	                        .jti_expires_at_us = t0 + 900000000LL,
	                        .at_us = t0};
	caracal_revocation rv = {sizeof rv, w.zone, CARACAL_REVOKE_AUTHORITY_RECORD, parent, NULL,
	                         t0,        0};
	uint64_t n = 0;
	OK(S->revoke(T, &rv, &n, &err_));
	int conflict = 0;
	RC(CARACAL_E_CONFLICT, S->mint_write(T, &m, &conflict, &err_));
	assert_int_equal(conflict, CARACAL_MINT_CONFLICT_PARENT);
	caracal_authority_record out = {.size = sizeof out};
	RC(CARACAL_E_NOTFOUND, S->authority_record_get(T, w.zone, rid, A, &out, &err_));
	OK(S->single_use_claim(T, w.zone, jti, t0 + 60000000LL, &err_)); /* jti not taken */
	/* Expired by the mint's time: refused too; in a batch, alone. */
	NEWID(jti2);
	m.jti = jti2;
	m.at_us = t0 + 7200000000LL; /* mk_ar records live an hour */
	rec.parent_id = old_parent;
	const caracal_mint_write *in[1] = {&m};
	int rcs[1], conflicts[1];
	OK(S->mint_write_batch(T, in, 1, rcs, conflicts, NULL, &err_));
	assert_int_equal(rcs[0], CARACAL_E_CONFLICT);
	assert_int_equal(conflicts[0], CARACAL_MINT_CONFLICT_PARENT);
	/* A live parent: written. */
	m.at_us = t0;
	OK(S->mint_write(T, &m, &conflict, &err_));
	OK(S->authority_record_get(T, w.zone, rid, A, &out, &err_));
	str_eq(out.parent_id, old_parent);
}

/* mint_write_batch (ABI 1.2, optional): group commit — each mint all or
 * nothing, a refused one leaving the others whole, one commit for all. */
static void test_mint_write_batch(void **state)
{
	(void)state;
	if (!(S->size >=
	          offsetof(caracal_storage_ops, mint_write_batch) + sizeof S->mint_write_batch &&
	      S->mint_write_batch != NULL)) {
		print_message("storage plugin has no mint_write_batch: skipped\n");
		return;
	}
	world w;
	mk_world(&w);
	int64_t t0 = now();
	char appr[37], pending[37];
	mk_approval(w.zone, appr, w.app, t0 + 600000000LL);
	OK(S->approval_decide(T, w.zone, appr, 1, "operator-7", NULL, t0, &err_));
	mk_approval(w.zone, pending, w.app, t0 + 600000000LL);
	NEWID(taken_jti);
	OK(S->single_use_claim(T, w.zone, taken_jti, t0 + 60000000LL, &err_));

	enum { N = 5 };
	char rid[N][37], jti[N][37];
	caracal_authority_record rec[N];
	caracal_mint_write m[N];
	const caracal_mint_write *in[N];
	for (int i = 0; i < N; i++) {
		assert_int_equal(uuid_v7(rid[i]), 0);
		assert_int_equal(uuid_v7(jti[i]), 0);
		rec[i] = (caracal_authority_record){.size = sizeof rec[i],
		                                    .id = rid[i],
		                                    .zone_id = w.zone,
		                                    .session_type = "application",
		                                    .subject_id = w.app,
		                                    .status = "active",
		                                    .expires_at_us = t0 + 900000000LL,
		                                    .authenticated_at_us = t0};
		m[i] = (caracal_mint_write){.size = sizeof m[i],
		                            .record = &rec[i],
		                            .jti = jti[i],
		                            .jti_expires_at_us = t0 + 900000000LL,
		                            .at_us = t0 + 1};
		in[i] = &m[i];
	}
	m[1].approval_id = appr;    /* consumed */
	m[2].approval_id = pending; /* not consumable: mint 2 refused alone */
	m[3].jti = taken_jti;       /* jti conflict: mint 3 refused alone */
	m[4].jti = NULL;            /* malformed: refused alone */
	int rcs[N], conflicts[N];
	caracal_error errs[N];
	OK(S->mint_write_batch(T, in, N, rcs, conflicts, errs, &err_));
	assert_int_equal(rcs[0], CARACAL_OK);
	assert_int_equal(rcs[1], CARACAL_OK);
	assert_int_equal(rcs[2], CARACAL_E_CONFLICT);
	assert_int_equal(conflicts[2], CARACAL_MINT_CONFLICT_APPROVAL);
	assert_int_equal(rcs[3], CARACAL_E_CONFLICT);
	assert_int_equal(conflicts[3], CARACAL_MINT_CONFLICT_JTI);
	assert_int_equal(rcs[4], CARACAL_E_INVAL);
	assert_true(errs[4].message[0] != '\0');

	caracal_authority_record out = {.size = sizeof out};
	OK(S->authority_record_get(T, w.zone, rid[0], A, &out, &err_));
	OK(S->authority_record_get(T, w.zone, rid[1], A, &out, &err_));
	for (int i = 2; i < N; i++)
		RC(CARACAL_E_NOTFOUND, S->authority_record_get(T, w.zone, rid[i], A, &out, &err_));
	/* The refused mints' other writes were undone with them. */
	OK(S->single_use_claim(T, w.zone, jti[2], t0 + 60000000LL, &err_));
	RC(CARACAL_E_CONFLICT, S->single_use_claim(T, w.zone, jti[1], t0 + 60000000LL, &err_));
	caracal_approval ao = {.size = sizeof ao};
	OK(S->approval_get(T, w.zone, appr, A, &ao, &err_));
	str_eq(ao.consumed_authority_record_id, rid[1]);
	memset(&ao, 0, sizeof ao);
	ao.size = sizeof ao;
	OK(S->approval_get(T, w.zone, pending, A, &ao, &err_));
	assert_int_equal(ao.consumed_at_us, 0);

	/* The same batch again: every mint now conflicts, nothing new. */
	m[4].jti = jti[4];
	OK(S->mint_write_batch(T, in, 2, rcs, conflicts, NULL, &err_));
	assert_int_equal(rcs[0], CARACAL_E_CONFLICT);
	assert_int_equal(conflicts[0], CARACAL_MINT_CONFLICT_RECORD);
	assert_int_equal(rcs[1], CARACAL_E_CONFLICT);
	/* An empty batch commits nothing; missing outputs are refused. */
	OK(S->mint_write_batch(T, in, 0, rcs, conflicts, NULL, &err_));
	RC(CARACAL_E_INVAL, S->mint_write_batch(T, in, 1, NULL, conflicts, NULL, &err_));
	/* The connection is usable afterwards (no savepoint left open). */
	OK(S->mint_write(T, &m[4], NULL, &err_));
	OK(S->authority_record_get(T, w.zone, rid[4], A, &out, &err_));
}

/* approval_get_or_create (ABI 1.1, optional): one live hold per (zone,
 * principal, session, binding); expired unconsumed holds of the key give way. */
static void test_approval_get_or_create(void **state)
{
	(void)state;
	if (!(S->size >= offsetof(caracal_storage_ops, approval_get_or_create) +
	                     sizeof S->approval_get_or_create &&
	      S->approval_get_or_create != NULL)) {
		print_message("storage plugin has no approval_get_or_create: skipped\n");
		return;
	}
	world w;
	mk_world(&w);
	int64_t t0 = now();
	NEWID(id1);
	NEWID(id2);
	caracal_approval a = {.size = sizeof a,
	                      .id = id1,
	                      .zone_id = w.zone,
	                      .session_id = w.ar,
	                      .principal_id = w.app,
	                      .application_id = w.app,
	                      .tier = "high",
	                      .approver_class = "subject",
	                      .binding_hex = BIND,
	                      .expires_at_us = t0 + 600000000LL,
	                      .created_at_us = t0};
	caracal_approval out = {.size = sizeof out};
	int created = -1;
	OK(S->approval_get_or_create(T, &a, t0, A, &out, &created, &err_));
	assert_int_equal(created, 1);
	str_eq(out.id, id1);
	str_eq(out.approver_class, "subject");
	/* The same key again: the same hold, not created. */
	a.id = id2;
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->approval_get_or_create(T, &a, t0 + 1, A, &out, &created, &err_));
	assert_int_equal(created, 0);
	str_eq(out.id, id1);
	/* Decided holds are still the live one (approved: auto-consumed later). */
	OK(S->approval_decide(T, w.zone, id1, 1, "operator", NULL, t0 + 2, &err_));
	OK(S->approval_get_or_create(T, &a, t0 + 3, A, &out, &created, &err_));
	assert_int_equal(created, 0);
	str_eq(out.id, id1);
	assert_true(out.satisfied_at_us > 0);
	/* Consumed: no longer live, a new hold is created. */
	OK(S->approval_consume(T, w.zone, id1, w.ar, t0 + 4, &err_));
	OK(S->approval_get_or_create(T, &a, t0 + 5, A, &out, &created, &err_));
	assert_int_equal(created, 1);
	str_eq(out.id, id2);
	/* Another session or binding is another key. */
	NEWID(id3);
	a.id = id3;
	a.session_id = "";
	OK(S->approval_get_or_create(T, &a, t0 + 6, A, &out, NULL, &err_));
	str_eq(out.id, id3);
	/* Expired and unconsumed: it gives way to a new hold. */
	NEWID(id4);
	NEWID(id5);
	a.id = id4;
	a.session_id = w.ar;
	a.binding_hex = "ab" BIND_TAIL;
	a.expires_at_us = t0 + 10;
	OK(S->approval_get_or_create(T, &a, t0 + 7, A, &out, &created, &err_));
	assert_int_equal(created, 1);
	a.id = id5;
	a.expires_at_us = t0 + 600000000LL;
	OK(S->approval_get_or_create(T, &a, t0 + 20, A, &out, &created, &err_));
	assert_int_equal(created, 1);
	str_eq(out.id, id5);
	RC(CARACAL_E_NOTFOUND, S->approval_get(T, w.zone, id4, A, &out, &err_));
	/* Bad input writes nothing. */
	a.binding_hex = NULL;
	RC(CARACAL_E_INVAL, S->approval_get_or_create(T, &a, t0, A, &out, &created, &err_));
}

/* approval_sweep (ABI 1.1, optional): holds whose last event is older than
 * the cut-off go; live and recent ones stay. */
static void test_approval_sweep(void **state)
{
	(void)state;
	if (!(S->size >= offsetof(caracal_storage_ops, approval_sweep) + sizeof S->approval_sweep &&
	      S->approval_sweep != NULL)) {
		print_message("storage plugin has no approval_sweep: skipped\n");
		return;
	}
	world w;
	mk_world(&w);
	int64_t t0 = now();
	int64_t day = 86400LL * 1000000;
	char old_expired[37], live[37], old_rejected[37], recent_rejected[37];
	mk_approval(w.zone, old_expired, w.app, t0 - 2 * day);
	mk_approval(w.zone, live, w.app, t0 + day);
	mk_approval(w.zone, old_rejected, w.app, t0 + day);
	mk_approval(w.zone, recent_rejected, w.app, t0 + day);
	OK(S->approval_decide(T, w.zone, old_rejected, 0, "op", NULL, t0 - 2 * day, &err_));
	OK(S->approval_decide(T, w.zone, recent_rejected, 0, "op", NULL, t0, &err_));
	uint64_t n = 0;
	OK(S->approval_sweep(T, t0 - day, &n, &err_));
	caracal_approval out = {.size = sizeof out};
	RC(CARACAL_E_NOTFOUND, S->approval_get(T, w.zone, old_expired, A, &out, &err_));
	OK(S->approval_get(T, w.zone, live, A, &out, &err_));
	OK(S->approval_get(T, w.zone, recent_rejected, A, &out, &err_));
	/* Rejected two days ago but expiring tomorrow: its last event is the
	 * expiry, still ahead; it stays. */
	OK(S->approval_get(T, w.zone, old_rejected, A, &out, &err_));
	assert_true(n >= 1);
	OK(S->approval_sweep(T, t0 - day, NULL, &err_));
}

static void test_rate_hit(void **state)
{
	(void)state;
	NEWID(id);
	char key[80], key2[80];
	snprintf(key, sizeof key, "app:%s", id);
	snprintf(key2, sizeof key2, "ip:%s", id);
	const int64_t w0 = 1779364800000000LL, len = 60000000LL;
	uint64_t count = 0;
	for (uint64_t i = 1; i <= 3; i++) {
		OK(S->rate_hit(T, key, w0, len, 3, &count, &err_));
		assert_int_equal(count, i);
	}
	count = 0;
	RC(CARACAL_E_DENIED, S->rate_hit(T, key, w0, len, 3, &count, &err_));
	assert_int_equal(count, 3);
	RC(CARACAL_E_DENIED, S->rate_hit(T, key, w0, len, 3, &count, &err_));
	assert_int_equal(count, 3);
	/* Limit 0 reads the window without counting (the STS lockout's peek). */
	count = 99;
	RC(CARACAL_E_DENIED, S->rate_hit(T, key, w0, len, 0, &count, &err_));
	assert_int_equal(count, 3);
	/* A higher limit counts from where the window is (denied hits did not count). */
	OK(S->rate_hit(T, key, w0, len, 10, &count, &err_));
	assert_int_equal(count, 4);
	/* The next window starts over; other keys are separate. */
	OK(S->rate_hit(T, key, w0 + len, len, 3, &count, &err_));
	assert_int_equal(count, 1);
	OK(S->rate_hit(T, key2, w0, len, 3, &count, &err_));
	assert_int_equal(count, 1);
	RC(CARACAL_E_DENIED, S->rate_hit(T, key2, w0 + 5 * len, len, 0, &count, &err_));
	assert_int_equal(count, 0);
	RC(CARACAL_E_INVAL, S->rate_hit(T, key, w0, 0, 3, &count, &err_));
	/* Many windows: old ones may be purged, the current one is kept. */
	for (int i = 0; i < 130; i++)
		OK(S->rate_hit(T, key2, w0 + (10 + i) * len, len, 5, &count, &err_));
	OK(S->rate_hit(T, key2, w0 + 139 * len, len, 5, &count, &err_));
	assert_int_equal(count, 2);
	/* Windows of the last hour stay readable (the STS sums recent ones). */
	for (int i = 0; i < 200; i++)
		OK(S->rate_hit(T, key2, w0 + 139 * len, len, 1000, &count, &err_));
	RC(CARACAL_E_DENIED, S->rate_hit(T, key2, w0 + 138 * len, len, 0, &count, &err_));
	assert_int_equal(count, 1);
	RC(CARACAL_E_DENIED, S->rate_hit(T, key2, w0 + 80 * len, len, 0, &count, &err_));
	assert_int_equal(count, 1);
}

/* rate_take (ABI 1.2, optional): a block of a window's hits at once. */
static void test_rate_take(void **state)
{
	(void)state;
	if (!(S->size >= offsetof(caracal_storage_ops, rate_take) + sizeof S->rate_take &&
	      S->rate_take != NULL)) {
		print_message("storage plugin has no rate_take: skipped\n");
		return;
	}
	NEWID(id);
	char key[80];
	snprintf(key, sizeof key, "lease:%s", id);
	const int64_t w0 = 1779364800000000LL, len = 60000000LL;
	uint64_t taken = 0, count = 0;
	OK(S->rate_take(T, key, w0, len, 12, 5, &taken, &count, &err_));
	assert_int_equal(taken, 5);
	assert_int_equal(count, 5);
	/* rate_hit and rate_take count in the same window. */
	OK(S->rate_hit(T, key, w0, len, 12, &count, &err_));
	assert_int_equal(count, 6);
	OK(S->rate_take(T, key, w0, len, 12, 5, &taken, &count, &err_));
	assert_int_equal(taken, 5);
	assert_int_equal(count, 11);
	/* Only what is left under the limit is taken. */
	OK(S->rate_take(T, key, w0, len, 12, 5, &taken, NULL, &err_));
	assert_int_equal(taken, 1);
	taken = 7;
	RC(CARACAL_E_DENIED, S->rate_take(T, key, w0, len, 12, 5, &taken, &count, &err_));
	assert_int_equal(taken, 0);
	assert_int_equal(count, 12);
	RC(CARACAL_E_DENIED, S->rate_hit(T, key, w0, len, 12, &count, &err_));
	assert_int_equal(count, 12);
	/* A limit lowered under the hits already counted takes nothing. */
	RC(CARACAL_E_DENIED, S->rate_take(T, key, w0, len, 3, 1, &taken, &count, &err_));
	assert_int_equal(count, 12);
	/* A huge want is bounded by the limit; the next window is separate. */
	OK(S->rate_take(T, key, w0 + len, len, 1000, UINT64_MAX, &taken, &count, &err_));
	assert_int_equal(taken, 1000);
	assert_int_equal(count, 1000);
	RC(CARACAL_E_INVAL, S->rate_take(T, key, w0, len, 12, 0, &taken, &count, &err_));
	RC(CARACAL_E_INVAL, S->rate_take(T, "", w0, len, 12, 1, &taken, &count, &err_));
	RC(CARACAL_E_INVAL, S->rate_take(T, key, w0, 0, 12, 1, &taken, &count, &err_));
}

/* config_generation (ABI 1.2, optional): moves with every write to what a
 * host caches (zones, applications, resources, grants, subject issuers),
 * and not with the token path's own writes. */
static void test_config_generation(void **state)
{
	(void)state;
	if (!(S->size >=
	          offsetof(caracal_storage_ops, config_generation) + sizeof S->config_generation &&
	      S->config_generation != NULL)) {
		print_message("storage plugin has no config_generation: skipped\n");
		return;
	}
	uint64_t g = 0, prev = 0;
#define MOVED()                                         \
	do {                                            \
		OK(S->config_generation(T, &g, &err_)); \
		assert_true(g != prev);                 \
		prev = g;                               \
	} while (0)
	OK(S->config_generation(T, &prev, &err_));
	char zone[37], app[37], res[37], ar[37];
	mk_zone(zone);
	MOVED();
	mk_app(zone, app);
	MOVED();
	mk_resource(zone, res, "resource://generation");
	MOVED();
	NEWID(gid);
	caracal_grant gr = {sizeof gr, gid, zone, app, res, SCOPE1, now()};
	OK(S->grant_create(T, &gr, &err_));
	MOVED();
	OK(S->grant_delete(T, zone, gid, &err_));
	MOVED();
	NEWID(iss);
	caracal_subject_issuer i = {sizeof i, iss, zone, "https://gen.example", NULL, NULL};
	OK(S->subject_issuer_create(T, &i, &err_));
	MOVED();
	OK(S->resource_archive(T, zone, res, now(), &err_));
	MOVED();
	OK(S->application_archive(T, zone, app, now(), &err_));
	MOVED();
	/* A failed write leaves it where it was. */
	RC(CARACAL_E_CONFLICT, S->application_archive(T, zone, app, now(), &err_));
	OK(S->config_generation(T, &g, &err_));
	assert_true(g == prev);
	/* The token path's writes do not move it (a cache would never hit). */
	mk_ar(zone, ar, NULL);
	uint64_t count;
	OK(S->rate_hit(T, ar, now(), 60000000LL, 5, &count, &err_));
	OK(S->config_generation(T, &g, &err_));
	assert_true(g == prev);
	RC(CARACAL_E_INVAL, S->config_generation(T, NULL, &err_));
#undef MOVED
}

static void test_subject_issuers(void **state)
{
	(void)state;
	char zone[37], zone2[37];
	mk_zone(zone);
	mk_zone(zone2);
	NEWID(id);
	NEWID(id2);
	NEWID(id3);
	caracal_subject_issuer i = {
	    sizeof i, id, zone, "https://idp.example", "https://idp.example/jwks", "caracal"};
	OK(S->subject_issuer_create(T, &i, &err_));
	caracal_subject_issuer dup = {sizeof dup, id2, zone, "https://idp.example", NULL, NULL};
	RC(CARACAL_E_CONFLICT, S->subject_issuer_create(T, &dup, &err_));
	dup.zone_id = zone2;
	OK(S->subject_issuer_create(T, &dup, &err_));
	caracal_subject_issuer same_id = {sizeof same_id,          id,   zone,
	                                  "https://other.example", NULL, NULL};
	RC(CARACAL_E_CONFLICT, S->subject_issuer_create(T, &same_id, &err_));
	(void)id3;

	caracal_subject_issuer out = {.size = sizeof out};
	OK(S->subject_issuer_get(T, zone, "https://idp.example", A, &out, &err_));
	str_eq(out.id, id);
	str_eq(out.zone_id, zone);
	str_eq(out.issuer, "https://idp.example");
	str_eq(out.jwks_url, "https://idp.example/jwks");
	str_eq(out.audience, "caracal");
	memset(&out, 0, sizeof out);
	out.size = sizeof out;
	OK(S->subject_issuer_get(T, zone2, "https://idp.example", A, &out, &err_));
	str_eq(out.id, id2);
	assert_null(out.jwks_url);
	RC(CARACAL_E_NOTFOUND,
	   S->subject_issuer_get(T, zone, "https://nope.example", A, &out, &err_));
}

static void test_key_meta(void **state)
{
	(void)state;
	char zone[37], zone2[37];
	mk_zone(zone);
	mk_zone(zone2);
	caracal_key_meta k1 = {sizeof k1, zone, "k1", "ES256", "current", 1779364800000000LL, 0};
	caracal_key_meta k2 = {sizeof k2, zone, "k2", "EdDSA", "current", 1779364900000000LL, 0};
	OK(S->key_meta_put(T, &k1, &err_));
	OK(S->key_meta_put(T, &k2, &err_));
	k1.status = "grace";
	k1.retire_at_us = 1779365800000000LL;
	OK(S->key_meta_put(T, &k1, &err_));
	caracal_key_meta other = {sizeof other, zone2, "k1", "RS256", "retired", 1, 2};
	OK(S->key_meta_put(T, &other, &err_));

	ids c = {0};
	OK(S->key_meta_list(T, zone, each_key, &c, &err_));
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], "k1:grace");
	assert_int_equal(c.num[0], 1779365800000000LL);
	assert_string_equal(c.v[1], "k2:current");
	assert_int_equal(c.num[1], 0);
	ids c2 = {0};
	OK(S->key_meta_list(T, zone2, each_key, &c2, &err_));
	assert_int_equal(c2.n, 1);
	assert_string_equal(c2.v[0], "k1:retired");
	NEWID(nozone);
	caracal_key_meta bad = {sizeof bad, nozone, "k1", "ES256", "current", 1, 0};
	RC(CARACAL_E_NOTFOUND, S->key_meta_put(T, &bad, &err_));
}

static void test_invalid_arguments(void **state)
{
	(void)state;
	char zone[37];
	mk_zone(zone);
	caracal_zone out = {.size = sizeof out};
	RC(CARACAL_E_INVAL, S->zone_create(T, NULL, &err_));
	caracal_zone noname = {sizeof noname, "x", NULL, 0};
	RC(CARACAL_E_INVAL, S->zone_create(T, &noname, &err_));
	RC(CARACAL_E_INVAL, S->zone_get(T, NULL, A, &out, &err_));
	static const char *holes[] = {"a", NULL};
	NEWID(app);
	caracal_application a = {sizeof a, app, zone, "x", "managed", NULL, {holes, 2}, 0, 0, 0};
	RC(CARACAL_E_INVAL, S->application_create(T, &a, &err_));
	/* Bad enumerations and JSON are refused. */
	a.traits = NOLIST;
	a.registration_method = "magic";
	RC(CARACAL_E_INVAL, S->application_create(T, &a, &err_));
	NEWID(res);
	caracal_resource r = {.size = sizeof r,
	                      .id = res,
	                      .zone_id = zone,
	                      .identifier = "resource://bad-json",
	                      .credential_json = J("{not json")};
	RC(CARACAL_E_INVAL, S->resource_create(T, &r, &err_));
	/* Nothing was written by the refused creates. */
	caracal_application ao = {.size = sizeof ao};
	RC(CARACAL_E_NOTFOUND, S->application_get(T, zone, app, A, &ao, &err_));
	caracal_resource ro = {.size = sizeof ro};
	RC(CARACAL_E_NOTFOUND, S->resource_get(T, zone, res, A, &ro, &err_));
}

int main(int argc, char **argv)
{
	if (argc > 1)
		plugin_arg = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ready_and_migrate),
	    cmocka_unit_test(test_migrate_concurrent),
	    cmocka_unit_test(test_zones),
	    cmocka_unit_test(test_result_size_respected),
	    cmocka_unit_test(test_applications),
	    cmocka_unit_test(test_application_find),
	    cmocka_unit_test(test_rate_take),
	    cmocka_unit_test(test_config_generation),
	    cmocka_unit_test(test_resources),
	    cmocka_unit_test(test_grants),
	    cmocka_unit_test(test_policy_versions),
	    cmocka_unit_test(test_authority_records),
	    cmocka_unit_test(test_sessions),
	    cmocka_unit_test(test_delegations),
	    cmocka_unit_test(test_revoke_authority_chain),
	    cmocka_unit_test(test_revoke_session_chain),
	    cmocka_unit_test(test_revoke_delegation_chain),
	    cmocka_unit_test(test_approvals),
	    cmocka_unit_test(test_approval_consume_race),
	    cmocka_unit_test(test_approval_consume_needs_live_record),
	    cmocka_unit_test(test_single_use),
	    cmocka_unit_test(test_mint_write),
	    cmocka_unit_test(test_mint_write_batch),
	    cmocka_unit_test(test_mint_write_parent_live),
	    cmocka_unit_test(test_approval_get_or_create),
	    cmocka_unit_test(test_approval_sweep),
	    cmocka_unit_test(test_rate_hit),
	    cmocka_unit_test(test_subject_issuers),
	    cmocka_unit_test(test_key_meta),
	    cmocka_unit_test(test_invalid_arguments),
	};
	return cmocka_run_group_tests_name("storage conformance", tests, group_setup,
	                                   group_teardown);
}
