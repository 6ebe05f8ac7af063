/*
 * test_sts_config_cache.c — the zone configuration cache of the STS
 * (core/roles/sts/config_cache.c) against a real storage_sqlite in a
 * temporary directory, linked without dlopen: a configuration write is seen
 * by the next view, values stay valid while a view holds them, and a
 * storage without config_generation is read every time. A thin wrapper
 * counts the plugin's reads and injects faults.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "roles/sts/config_cache.h"
#include "sqlite_fixture.h"
#include "storage_sqlite.h"
#include "util/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW INT64_C(1800000000000000)
#define OWNER 1

static struct {
	int reads;     /* application_get + resource_get + grant_list calls */
	int fail_code; /* non-zero: the next read fails with it */
} wrap;

static int wrap_application_get(void *tctx, const char *zone_id, const char *id,
                                caracal_arena *arena, caracal_application *out, caracal_error *err)
{
	wrap.reads++;
	if (wrap.fail_code != 0)
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	return ss_storage_ops.application_get(tctx, zone_id, id, arena, out, err);
}

static int wrap_resource_get(void *tctx, const char *zone_id, const char *id, caracal_arena *arena,
                             caracal_resource *out, caracal_error *err)
{
	wrap.reads++;
	if (wrap.fail_code != 0)
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	return ss_storage_ops.resource_get(tctx, zone_id, id, arena, out, err);
}

static int wrap_grant_list(void *tctx, const char *zone_id, const char *app, const char *res,
                           caracal_record_fn each, void *ud, caracal_error *err)
{
	wrap.reads++;
	if (wrap.fail_code != 0)
		return caracal_error_set(err, wrap.fail_code, "injected fault");
	return ss_storage_ops.grant_list(tctx, zone_id, app, res, each, ud, err);
}

typedef struct fx {
	sqlite_fixture db;
	void *tctx; /* db.tctx */
	caracal_storage_ops ops;
	caracal_arena *arena;
} fx;

static void ok(int rc, const caracal_error *err)
{
	if (rc != CARACAL_OK)
		fail_msg("storage: %d %s", rc, err->message);
}

static const char *const read_scope[] = {"orders:read"};
static const char *const both_scopes[] = {"orders:read", "orders:write"};

static void seed(fx *f)
{
	caracal_error err = {0};
	caracal_zone z = {sizeof z, "z1", "zone-one", NOW};
	ok(ss_storage_ops.zone_create(f->tctx, &z, &err), &err);
	caracal_application a = {.size = sizeof a,
	                         .id = "app-1",
	                         .zone_id = "z1",
	                         .name = "agent",
	                         .registration_method = "managed",
	                         .created_at_us = NOW};
	ok(ss_storage_ops.application_create(f->tctx, &a, &err), &err);
	caracal_resource r = {.size = sizeof r,
	                      .id = "res-1",
	                      .zone_id = "z1",
	                      .identifier = "resource://orders",
	                      .scopes = {both_scopes, 2},
	                      .operation_enforcement = "transport_uniform",
	                      .created_at_us = NOW};
	ok(ss_storage_ops.resource_create(f->tctx, &r, &err), &err);
	caracal_grant g = {sizeof g, "grant-1", "z1", "app-1", "res-1", {read_scope, 1}, NOW};
	ok(ss_storage_ops.grant_create(f->tctx, &g, &err), &err);
}

/* A worker reuses the generation it read for CONFIG_GENERATION_REUSE_US:
 * a write is seen by every view opened after that. */
static void after_reuse_window(void)
{
	usleep(CONFIG_GENERATION_REUSE_US + 1000);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	sqlite_fixture_open(&f->db, "/tmp/sts-cfg");
	f->tctx = f->db.tctx;
	f->ops = ss_storage_ops;
	f->ops.application_get = wrap_application_get;
	f->ops.resource_get = wrap_resource_get;
	f->ops.grant_list = wrap_grant_list;
	memset(&wrap, 0, sizeof wrap);
	f->arena = arena_new();
	assert_non_null(f->arena);
	sts_config_cache_clear();
	seed(f);
	after_reuse_window(); /* the seed's writes are seen */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	sts_config_cache_clear();
	arena_free(f->arena);
	sqlite_fixture_close(&f->db);
	free(f);
	return 0;
}

static void open_view(fx *f, sts_config_view *v)
{
	sts_config_view_open(v, &f->ops, f->tctx, OWNER, f->arena);
}

/* Reads all three kinds through one view; returns the grant scope count. */
static size_t read_all(fx *f, sts_config_view *v)
{
	caracal_error err = {0};
	caracal_application app;
	caracal_resource res;
	const char *const *scopes = NULL;
	size_t n = 0;
	ok(sts_config_application(v, "z1", "app-1", &app, &err), &err);
	assert_string_equal(app.id, "app-1");
	ok(sts_config_resource(v, "z1", "resource://orders", &res, &err), &err);
	assert_string_equal(res.id, "res-1");
	ok(sts_config_grant_scopes(v, "z1", "app-1", "res-1", &scopes, &n, &err), &err);
	(void)f;
	return n;
}

/* A second exchange reads nothing but the generation. */
static void test_second_view_reads_nothing(void **state)
{
	fx *f = *state;
	sts_config_view v;
	open_view(f, &v);
	assert_true(v.generation != 0);
	assert_int_equal(read_all(f, &v), 1);
	assert_int_equal(wrap.reads, 3);
	sts_config_view_close(&v);
	assert_int_equal(sts_config_cache_size(), 3);
	open_view(f, &v);
	assert_int_equal(read_all(f, &v), 1);
	assert_int_equal(wrap.reads, 3);
	sts_config_view_close(&v);
}

/* A configuration write is seen by the next view once the reuse window has
 * passed: a new grant, an archived application. A view opened before the
 * write keeps what it read. */
static void test_writes_seen_by_next_view(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	sts_config_view before;
	open_view(f, &before);
	assert_int_equal(read_all(f, &before), 1);

	caracal_grant g = {sizeof g, "grant-2", "z1", "app-1", "res-1", {both_scopes, 2}, NOW};
	ok(ss_storage_ops.grant_create(f->tctx, &g, &err), &err);
	after_reuse_window();
	sts_config_view after;
	open_view(f, &after);
	assert_true(after.generation > before.generation);
	assert_int_equal(read_all(f, &after), 2); /* orders:read once, orders:write */
	sts_config_view_close(&after);

	ok(ss_storage_ops.application_archive(f->tctx, "z1", "app-1", NOW + 1, &err), &err);
	after_reuse_window();
	open_view(f, &after);
	caracal_application app;
	ok(sts_config_application(&after, "z1", "app-1", &app, &err), &err);
	assert_true(app.archived_at_us == NOW + 1);
	sts_config_view_close(&after);

	/* The older view is not served what newer views listed: it reads
	 * storage itself, and what it held stays valid (ASan would see). */
	int reads = wrap.reads;
	const char *const *scopes;
	size_t n;
	ok(sts_config_grant_scopes(&before, "z1", "app-1", "res-1", &scopes, &n, &err), &err);
	assert_int_equal(wrap.reads, reads + 1);
	sts_config_view_close(&before);
}

/* Values a view holds outlive the cache being emptied. */
static void test_held_values_outlive_flush(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	sts_config_view v;
	open_view(f, &v);
	caracal_resource res;
	ok(sts_config_resource(&v, "z1", "res-1", &res, &err), &err);
	sts_config_cache_clear();
	assert_int_equal(sts_config_cache_size(), 0);
	assert_string_equal(res.identifier, "resource://orders");
	assert_int_equal(res.scopes.count, 2);
	assert_string_equal(res.scopes.items[1], "orders:write");
	sts_config_view_close(&v);
	sts_config_view_close(&v); /* idempotent */
}

/* NOTFOUND and faults are never cached; a fault surfaces as it is. */
static void test_misses_and_faults_not_cached(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	sts_config_view v;
	open_view(f, &v);
	caracal_application app;
	for (int i = 0; i < 2; i++)
		assert_int_equal(sts_config_application(&v, "z1", "ghost", &app, &err),
		                 CARACAL_E_NOTFOUND);
	assert_int_equal(wrap.reads, 2);
	wrap.fail_code = CARACAL_E_UNAVAIL;
	assert_int_equal(sts_config_application(&v, "z1", "app-1", &app, &err), CARACAL_E_UNAVAIL);
	assert_string_equal(err.message, "injected fault");
	wrap.fail_code = 0;
	ok(sts_config_application(&v, "z1", "app-1", &app, &err), &err);
	assert_int_equal(wrap.reads, 4);
	assert_int_equal(sts_config_cache_size(), 1);
	sts_config_view_close(&v);
}

/* A generation that goes back (a restored storage, same owner) empties the
 * cache too: nothing listed before comes back when the number climbs again. */
static void test_lower_generation_empties(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	sts_config_view v;
	open_view(f, &v);
	read_all(f, &v);
	uint64_t g = v.generation;
	sts_config_view_close(&v);
	assert_int_equal(sts_config_cache_size(), 3);
	open_view(f, &v);
	v.generation = g - 1; /* as a restored database would answer */
	caracal_application app;
	ok(sts_config_application(&v, "z1", "app-1", &app, &err), &err);
	assert_int_equal(wrap.reads, 4); /* read again, not served */
	assert_int_equal(sts_config_cache_size(), 1);
	sts_config_view_close(&v);
	open_view(f, &v);
	v.generation = g;
	ok(sts_config_application(&v, "z1", "app-1", &app, &err), &err);
	assert_int_equal(wrap.reads, 5);
	sts_config_view_close(&v);
}

/* Without config_generation (a 1.0/1.1 plugin), every lookup reads. */
static void test_without_generation_reads_every_time(void **state)
{
	fx *f = *state;
	f->ops.config_generation = NULL;
	for (int i = 0; i < 2; i++) {
		sts_config_view v;
		open_view(f, &v);
		assert_true(v.generation == 0);
		assert_int_equal(read_all(f, &v), 1);
		sts_config_view_close(&v);
	}
	assert_int_equal(wrap.reads, 6);
	assert_int_equal(sts_config_cache_size(), 0);
}

/* Another storage (a reload's new generation) never sees the old entries;
 * the cache stays bounded. */
static void test_owner_change_and_bound(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	enum { MANY = CONFIG_CACHE_MAX_ENTRIES + 10 };
	char ids[MANY][16], idents[MANY][32];
	for (int i = 0; i < MANY; i++) {
		snprintf(ids[i], sizeof ids[i], "r%d", i);
		snprintf(idents[i], sizeof idents[i], "resource://r%d", i);
		caracal_resource r = {.size = sizeof r,
		                      .id = ids[i],
		                      .zone_id = "z1",
		                      .identifier = idents[i],
		                      .scopes = {read_scope, 1},
		                      .operation_enforcement = "transport_uniform",
		                      .created_at_us = NOW};
		ok(ss_storage_ops.resource_create(f->tctx, &r, &err), &err);
	}
	after_reuse_window();
	sts_config_view v;
	open_view(f, &v);
	read_all(f, &v);
	sts_config_view_close(&v);
	sts_config_view_open(&v, &f->ops, f->tctx, OWNER + 1, f->arena);
	read_all(f, &v);
	assert_int_equal(wrap.reads, 6);
	for (int i = 0; i < MANY; i++) {
		caracal_resource res;
		ok(sts_config_resource(&v, "z1", idents[i], &res, &err), &err);
		assert_string_equal(res.id, ids[i]);
		assert_true(sts_config_cache_size() <= CONFIG_CACHE_MAX_ENTRIES);
	}
	assert_true(sts_config_cache_size() > 0);
	sts_config_view_close(&v);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_second_view_reads_nothing), T(test_writes_seen_by_next_view),
	    T(test_held_values_outlive_flush), T(test_misses_and_faults_not_cached),
	    T(test_lower_generation_empties),  T(test_without_generation_reads_every_time),
	    T(test_owner_change_and_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
