/*
 * test_storage_sqlite.c — what the backend-neutral battery cannot check:
 * storage_sqlite's own schema and settings. Links libstorage_sqlite_impl.la
 * (no dlopen) and opens the database file beside the plugin with libsqlite3.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "storage_sqlite.h"
#include "strlist.h"
#include "util/arena.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct fx {
	char dir[64];
	char db[128];
	config_tree *tree;
	caracal_scope *scope;
	void *inst;
	void *tctx;
} fx;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int create(fx *f, const char *yaml, caracal_error *err)
{
	config_tree_free(f->tree);
	f->tree = config_tree_load_buffer("sqlite.yaml", yaml, strlen(yaml), err);
	assert_non_null(f->tree);
	return ss_instance_create(host_services(), f->scope, config_tree_root(f->tree), &f->inst,
	                          err);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	strcpy(f->dir, "/tmp/ss-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/caracal.db", f->dir);
	host_set_data_dir(f->dir);
	f->scope = host_scope_new("storage_sqlite", "test");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->tctx != NULL)
		ss_thread_destroy(f->inst, f->tctx);
	if (f->inst != NULL)
		ss_instance_destroy(f->inst);
	config_tree_free(f->tree);
	host_scope_free(f->scope);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void open_migrated(fx *f)
{
	caracal_error err = {0};
	int64_t v = 0;
	if (create(f, "path: caracal.db\nsynchronous: normal\nbusy_timeout: 2s\n", &err) !=
	    CARACAL_OK)
		fail_msg("create: %s", err.message);
	assert_int_equal(ss_thread_create(f->inst, &f->tctx, &err), CARACAL_OK);
	assert_int_equal(ss_storage_ops.migrate(f->tctx, &v, &err), CARACAL_OK);
	assert_int_equal(v, 4);
}

static sqlite3 *raw(const fx *f)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

static void test_config_errors(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	assert_int_equal(create(f, "busy_timeout: 1s\n", &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "path"));
	assert_int_equal(create(f, "path: x.db\nsynchronous: extra\n", &err), CARACAL_E_INVAL);
	assert_int_equal(create(f, "path: ''\n", &err), CARACAL_E_INVAL);
	assert_int_equal(create(f, "path: no/such/dir/x.db\n", &err), CARACAL_E_UNAVAIL);
	assert_null(f->inst);
}

static void test_ready_needs_migrate(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	int64_t v = 0;
	assert_int_equal(create(f, "path: caracal.db\n", &err), CARACAL_OK);
	assert_int_equal(ss_instance_ready(f->inst, &err), CARACAL_E_UNAVAIL);
	assert_non_null(strstr(err.message, "migrated"));
	assert_int_equal(ss_thread_create(f->inst, &f->tctx, &err), CARACAL_OK);
	/* An operation before migrate fails, without crashing. */
	caracal_zone z = {sizeof z, "z", "zone", 1};
	assert_int_not_equal(ss_storage_ops.zone_create(f->tctx, &z, &err), CARACAL_OK);
	assert_int_equal(ss_storage_ops.migrate(f->tctx, &v, &err), CARACAL_OK);
	assert_int_equal(ss_instance_ready(f->inst, &err), CARACAL_OK);
	assert_int_equal(ss_storage_ops.zone_create(f->tctx, &z, &err), CARACAL_OK);
}

static void test_file_and_pragmas(void **state)
{
	fx *f = *state;
	open_migrated(f);
	struct stat sb;
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	sqlite3 *db = raw(f);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT version, name FROM schema_migrations ORDER BY version",
	                       -1, &st, NULL),
	    SQLITE_OK);
	for (int64_t v = 1; v <= 4; v++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(st, 0), v);
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	/* Every table of storage.h is there. */
	static const char *tables[] = {"zones",
	                               "applications",
	                               "resources",
	                               "grants",
	                               "policy_versions",
	                               "policy_active",
	                               "authority_records",
	                               "sessions",
	                               "delegation_edges",
	                               "delegation_graph_epochs",
	                               "approvals",
	                               "revocations",
	                               "single_use_ids",
	                               "rate_windows",
	                               "subject_issuers",
	                               "key_meta",
	                               "config_generation"};
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
	                       " AND name = ?1",
	                       -1, &st, NULL),
	    SQLITE_OK);
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, tables[i], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		if (sqlite3_column_int(st, 0) != 1)
			fail_msg("table %s missing", tables[i]);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_revocations_append_only(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	open_migrated(f);
	caracal_zone z = {sizeof z, "z1", "zone-1", 1};
	assert_int_equal(ss_storage_ops.zone_create(f->tctx, &z, &err), CARACAL_OK);
	caracal_authority_record a = {.size = sizeof a,
	                              .id = "ar1",
	                              .zone_id = "z1",
	                              .session_type = "user",
	                              .subject_id = "u",
	                              .expires_at_us = 10};
	assert_int_equal(ss_storage_ops.authority_record_create(f->tctx, &a, &err), CARACAL_OK);
	caracal_revocation r = {sizeof r, "z1", CARACAL_REVOKE_AUTHORITY_RECORD, "ar1", NULL, 5, 0};
	uint64_t n = 0;
	assert_int_equal(ss_storage_ops.revoke(f->tctx, &r, &n, &err), CARACAL_OK);
	assert_int_equal(n, 1);
	sqlite3 *db = raw(f);
	char *msg = NULL;
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE revocations SET reason = 'x'", NULL, NULL, &msg), SQLITE_OK);
	assert_non_null(strstr(msg, "append-only"));
	sqlite3_free(msg);
	msg = NULL;
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM revocations", NULL, NULL, &msg),
	                     SQLITE_OK);
	sqlite3_free(msg);
	/* Foreign keys are enforced on the plugin's connections (per-connection
	 * pragma): a session whose authority record is of another zone fails. */
	sqlite3_close(db);
	caracal_zone z2 = {sizeof z2, "z2", "zone-2", 1};
	assert_int_equal(ss_storage_ops.zone_create(f->tctx, &z2, &err), CARACAL_OK);
	caracal_application app = {.size = sizeof app,
	                           .id = "app2",
	                           .zone_id = "z2",
	                           .name = "a",
	                           .registration_method = "managed"};
	assert_int_equal(ss_storage_ops.application_create(f->tctx, &app, &err), CARACAL_OK);
	caracal_session s = {.size = sizeof s,
	                     .id = "s",
	                     .zone_id = "z2",
	                     .application_id = "app2",
	                     .subject_authority_record_id = "ar1",
	                     .lifecycle = "task"};
	assert_int_equal(ss_storage_ops.session_create(f->tctx, &s, &err), CARACAL_E_NOTFOUND);
}

/* A fresh database migrated to version (and no further). */
static void open_at_version(fx *f, int64_t version)
{
	caracal_error err = {0};
	int64_t v = 0;
	assert_int_equal(create(f, "path: caracal.db\n", &err), CARACAL_OK);
	assert_int_equal(ss_thread_create(f->inst, &f->tctx, &err), CARACAL_OK);
	assert_int_equal(ss_migrate_upto(f->tctx, version, &v, &err), CARACAL_OK);
	assert_int_equal(v, version);
}

/* The one integer a query answers. */
static int count_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Zone z1 with records root and child (child under root, both expiring at
 * expires_at_us, claims {"k":1}), application app1 and session s1 on the
 * record named by session_record: what the rebuilding migrations must keep. */
static void seed_lineage(fx *f, int64_t expires_at_us, const char *session_record)
{
	caracal_error err = {0};
	caracal_zone z = {sizeof z, "z1", "zone-1", 1};
	assert_int_equal(ss_storage_ops.zone_create(f->tctx, &z, &err), CARACAL_OK);
	caracal_authority_record a = {.size = sizeof a,
	                              .id = "root",
	                              .zone_id = "z1",
	                              .session_type = "application",
	                              .subject_id = "app1",
	                              .status = "active",
	                              .expires_at_us = expires_at_us,
	                              .claims_json = {"{\"k\":1}", 7}};
	assert_int_equal(ss_storage_ops.authority_record_create(f->tctx, &a, &err), CARACAL_OK);
	a.id = "child";
	a.parent_id = "root";
	assert_int_equal(ss_storage_ops.authority_record_create(f->tctx, &a, &err), CARACAL_OK);
	caracal_application app = {.size = sizeof app,
	                           .id = "app1",
	                           .zone_id = "z1",
	                           .name = "a",
	                           .registration_method = "managed"};
	assert_int_equal(ss_storage_ops.application_create(f->tctx, &app, &err), CARACAL_OK);
	caracal_session s = {.size = sizeof s,
	                     .id = "s1",
	                     .zone_id = "z1",
	                     .application_id = "app1",
	                     .subject_authority_record_id = session_record,
	                     .status = "active",
	                     .lifecycle = "task"};
	assert_int_equal(ss_storage_ops.session_create(f->tctx, &s, &err), CARACAL_OK);
}

/* seed_lineage's child record, read back whole after a migration. */
static void assert_child_kept(fx *f, int64_t expires_at_us)
{
	caracal_error err = {0};
	caracal_arena *arena = arena_new();
	caracal_authority_record out = {.size = sizeof out};
	assert_int_equal(
	    ss_storage_ops.authority_record_get(f->tctx, "z1", "child", arena, &out, &err),
	    CARACAL_OK);
	assert_string_equal(out.parent_id, "root");
	assert_int_equal(out.claims_json.len, 7);
	assert_int_equal(out.expires_at_us, expires_at_us);
	arena_free(arena);
}

/* Migration 3 rebuilds authority_records (its status CHECK without an IN
 * list): a database at version 2 keeps every record, its lineage and the
 * sessions that refer to it; the rules still hold; foreign keys are on
 * again afterwards. */
static void test_migration_3_keeps_records(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	int64_t v = 0;
	open_at_version(f, 2);
	seed_lineage(f, 10, "root");
	caracal_session s = {.size = sizeof s,
	                     .id = "s2",
	                     .zone_id = "z1",
	                     .application_id = "app1",
	                     .subject_authority_record_id = "root",
	                     .status = "active",
	                     .lifecycle = "task"};

	/* An old violation elsewhere (written with foreign keys off) does not
	 * stop the migration: only the rebuilt table's references are checked. */
	sqlite3 *old = raw(f);
	assert_int_equal(sqlite3_exec(old,
	                              "INSERT INTO grants(id, zone_id, application_id, resource_id,"
	                              " scopes, created_at_us) VALUES ('g', 'z1', 'ghost', 'nope',"
	                              " '[]', 1)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(old);
	assert_int_equal(ss_migrate_upto(f->tctx, 3, &v, &err), CARACAL_OK);
	assert_int_equal(v, 3);
	assert_child_kept(f, 10);
	/* The lineage still cascades; the session still refers to its record. */
	caracal_revocation r = {sizeof r, "z1", CARACAL_REVOKE_AUTHORITY_RECORD, "root", NULL,
	                        5,        0};
	uint64_t n = 0;
	assert_int_equal(ss_storage_ops.revoke(f->tctx, &r, &n, &err), CARACAL_OK);
	assert_int_equal(n, 2);
	s.subject_authority_record_id = "ghost";
	assert_int_equal(ss_storage_ops.session_create(f->tctx, &s, &err), CARACAL_E_NOTFOUND);
	/* The status rule holds without the IN list; nothing dangles. */
	sqlite3 *db = raw(f);
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE authority_records SET status = 'bogus'", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(count_of(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
	                              " 'authority_records' AND sql LIKE '%status IN%'"),
	                 0);
	assert_int_equal(
	    count_of(db, "SELECT count(*) FROM pragma_foreign_key_check('authority_records')"), 0);
	sqlite3_close(db);
	/* Migrating again changes nothing. */
	assert_int_equal(ss_migrate_upto(f->tctx, 3, &v, &err), CARACAL_OK);
	assert_int_equal(v, 3);
}

/* Migration 4 makes authority_records and single_use_ids WITHOUT ROWID
 * tables keyed by (zone_id, id): records, lineage, sessions and claimed ids
 * survive; the rules hold; a record id is unique within its zone. */
static void test_migration_4_keeps_records(void **state)
{
	fx *f = *state;
	caracal_error err = {0};
	int64_t v = 0;
	open_at_version(f, 3);
	const int64_t far = INT64_MAX / 2;
	seed_lineage(f, far, "child");
	caracal_zone z2 = {sizeof z2, "z2", "zone-2", 1};
	assert_int_equal(ss_storage_ops.zone_create(f->tctx, &z2, &err), CARACAL_OK);
	caracal_authority_record a = {.size = sizeof a,
	                              .zone_id = "z1",
	                              .session_type = "application",
	                              .subject_id = "app1",
	                              .status = "active",
	                              .expires_at_us = far};
	assert_int_equal(ss_storage_ops.single_use_claim(f->tctx, "z1", "jti:1", far, &err),
	                 CARACAL_OK);

	assert_int_equal(ss_storage_ops.migrate(f->tctx, &v, &err), CARACAL_OK);
	assert_int_equal(v, 4);
	assert_child_kept(f, far);
	caracal_arena *arena = arena_new();
	caracal_authority_record out = {.size = sizeof out};
	assert_int_equal(
	    ss_storage_ops.authority_record_get(f->tctx, "z2", "child", arena, &out, &err),
	    CARACAL_E_NOTFOUND);
	arena_free(arena);
	/* The claimed id is still claimed; another zone's namespace is its own. */
	assert_int_equal(ss_storage_ops.single_use_claim(f->tctx, "z1", "jti:1", far, &err),
	                 CARACAL_E_CONFLICT);
	assert_int_equal(ss_storage_ops.single_use_claim(f->tctx, "z2", "jti:1", far, &err),
	                 CARACAL_OK);
	/* One record per (zone, id); a parent must be in the record's zone. */
	a.id = "root";
	a.parent_id = NULL;
	assert_int_equal(ss_storage_ops.authority_record_create(f->tctx, &a, &err),
	                 CARACAL_E_CONFLICT);
	a.id = "orphan";
	a.zone_id = "z2";
	a.parent_id = "root";
	assert_int_equal(ss_storage_ops.authority_record_create(f->tctx, &a, &err),
	                 CARACAL_E_NOTFOUND);
	/* The lineage still cascades. */
	caracal_revocation r = {sizeof r, "z1", CARACAL_REVOKE_AUTHORITY_RECORD, "root", NULL,
	                        5,        0};
	uint64_t n = 0;
	assert_int_equal(ss_storage_ops.revoke(f->tctx, &r, &n, &err), CARACAL_OK);
	assert_int_equal(n, 2);

	sqlite3 *db = raw(f);
	assert_int_equal(count_of(db, "SELECT count(*) FROM sqlite_schema WHERE name IN"
	                              " ('authority_records', 'single_use_ids')"
	                              " AND sql LIKE '%WITHOUT ROWID'"),
	                 2);
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE authority_records SET status = 'bogus'", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db,
	                                  "INSERT INTO single_use_ids(zone_id, id, expires_at_us)"
	                                  " VALUES ('z1', '', 1)",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_int_equal(count_of(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	sqlite3_close(db);
	assert_int_equal(ss_storage_ops.migrate(f->tctx, &v, &err), CARACAL_OK);
	assert_int_equal(v, 4);
}

static void *alloc(void *ctx, size_t n)
{
	(void)ctx;
	return malloc(n);
}

static void test_strlist_codec(void **state)
{
	(void)state;
	static const char spaced[] = " [ \"a\" , \"\\u00e9\\ud83d\\ude00\" ] ";
	static const char *items[] = {"", "plain", "q\"b\\s/", "\x01\x1f\n\r\t", "caf\xc3\xa9"};
	caracal_strlist l = {items, 5}, back;
	char *json;
	size_t len;
	void *block;
	assert_int_equal(ss_strlist_encode(&l, &json, &len), CARACAL_OK);
	assert_int_equal(strlen(json), len);
	assert_int_equal(ss_strlist_decode(json, len, alloc, NULL, &back, &block), CARACAL_OK);
	assert_int_equal(back.count, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(back.items[i], items[i]);
	free(block);
	free(json);

	assert_int_equal(ss_strlist_decode(spaced, strlen(spaced), alloc, NULL, &back, &block),
	                 CARACAL_OK);
	assert_int_equal(back.count, 2);
	assert_string_equal(back.items[1], "\xc3\xa9\xf0\x9f\x98\x80");
	free(block);
	assert_int_equal(ss_strlist_decode("[]", 2, alloc, NULL, &back, &block), CARACAL_OK);
	assert_int_equal(back.count, 0);
	assert_null(block);

	static const char *bad[] = {"",
	                            "[",
	                            "[1]",
	                            "[\"a\",]",
	                            "[\"a\"]x",
	                            "{\"a\":1}",
	                            "[\"\\u0000\"]",
	                            "[\"\\ud800\"]",
	                            "[\"\\x\"]",
	                            "[\"a\" \"b\"]"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ss_strlist_decode(bad[i], strlen(bad[i]), alloc, NULL, &back, &block) !=
		    CARACAL_E_INVAL)
			fail_msg("accepted %s", bad[i]);
	static const char *holes[] = {"a", NULL};
	caracal_strlist h = {holes, 2};
	assert_int_equal(ss_strlist_encode(&h, &json, &len), CARACAL_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ready_needs_migrate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_and_pragmas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revocations_append_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration_3_keeps_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration_4_keeps_records, setup, teardown),
	    cmocka_unit_test(test_strlist_codec),
	};
	return cmocka_run_group_tests_name("storage_sqlite", tests, NULL, NULL);
}
