/*
 * schema.c — storage_sqlite's versioned migrations.
 *
 * schema_migrations(version, name, applied_at_us) records what was applied.
 * ss_migrate() applies every pending migration in order, each in its own
 * BEGIN IMMEDIATE transaction that first re-checks whether the version is
 * already there: concurrent callers (threads or processes) serialise on the
 * write lock and the loser finds nothing left to do.
 *
 * To add a migration: append {N, "name", SQL} to migrations[]; never edit one
 * that has shipped.
 *
 * Conventions of the schema: times are INTEGER microseconds since the epoch,
 * NULL when absent (the ABI's 0); string lists are JSON arrays of strings in
 * TEXT; JSON documents are TEXT checked with json_valid(). Every zone-scoped
 * table has UNIQUE (zone_id, id) so that references between records are
 * composite foreign keys (zone_id, x_id): a record can never point into
 * another zone.
 */
#include "storage_sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define JSON_LIST(col) "CHECK (json_valid(" col ") AND json_type(" col ") = 'array')"
#define JSON_OPT(col) "CHECK (" col " IS NULL OR json_valid(" col "))"
#define HEX(col) "CHECK (length(" col ") > 0 AND " col " NOT GLOB '*[^0-9a-f]*')"

/* clang-format off */
static const char migration_1[] =
    /* ---------------------------------------------------------------- zones */
    "CREATE TABLE zones ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    " created_at_us INTEGER NOT NULL"
    ");"
    /* --------------------------------------------------------- applications */
    "CREATE TABLE applications ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " name TEXT NOT NULL,"
    " registration_method TEXT NOT NULL CHECK (registration_method IN ('managed', 'dcr')),"
    " client_secret_hash TEXT,"
    " traits TEXT NOT NULL DEFAULT '[]' " JSON_LIST("traits") ","
    " expires_at_us INTEGER,"
    " archived_at_us INTEGER,"
    " created_at_us INTEGER NOT NULL,"
    " UNIQUE (zone_id, id),"
    " CHECK (registration_method <> 'dcr' OR expires_at_us IS NOT NULL)"
    ");"
    "CREATE INDEX applications_zone ON applications(zone_id, created_at_us);"
    /* ------------------------------------------------------------ resources */
    "CREATE TABLE resources ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " identifier TEXT NOT NULL CHECK (identifier <> ''),"
    " upstream_url TEXT,"
    " scopes TEXT NOT NULL DEFAULT '[]' " JSON_LIST("scopes") ","
    " credential_provider_id TEXT,"
    " credential_json TEXT " JSON_OPT("credential_json") ","
    " operations_json TEXT CHECK (operations_json IS NULL OR"
    "  (json_valid(operations_json) AND json_type(operations_json) = 'array')),"
    " operation_enforcement TEXT NOT NULL DEFAULT 'transport_uniform'"
    "  CHECK (operation_enforcement IN ('enforced', 'transport_uniform')),"
    " archived_at_us INTEGER,"
    " created_at_us INTEGER NOT NULL,"
    " UNIQUE (zone_id, id)"
    ");"
    "CREATE UNIQUE INDEX resources_live_identifier ON resources(zone_id, identifier)"
    " WHERE archived_at_us IS NULL;"
    /* --------------------------------------------------------------- grants */
    "CREATE TABLE grants ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " application_id TEXT NOT NULL,"
    " resource_id TEXT NOT NULL,"
    " scopes TEXT NOT NULL DEFAULT '[]' " JSON_LIST("scopes") ","
    " created_at_us INTEGER NOT NULL,"
    " FOREIGN KEY (zone_id, application_id) REFERENCES applications(zone_id, id),"
    " FOREIGN KEY (zone_id, resource_id) REFERENCES resources(zone_id, id)"
    ");"
    "CREATE INDEX grants_application ON grants(zone_id, application_id);"
    "CREATE INDEX grants_resource ON grants(zone_id, resource_id);"
    /* ------------------------------------------------------ policy versions */
    "CREATE TABLE policy_versions ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " source TEXT NOT NULL,"
    " sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
    " created_at_us INTEGER NOT NULL,"
    " UNIQUE (zone_id, version),"
    " UNIQUE (zone_id, id)"
    ");"
    "CREATE TABLE policy_active ("
    " zone_id TEXT PRIMARY KEY NOT NULL REFERENCES zones(id),"
    " policy_version_id TEXT NOT NULL,"
    " activated_at_us INTEGER NOT NULL,"
    " FOREIGN KEY (zone_id, policy_version_id) REFERENCES policy_versions(zone_id, id)"
    ");"
    /* ---------------------------------------------------- authority records */
    "CREATE TABLE authority_records ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " session_type TEXT NOT NULL CHECK (session_type IN ('user', 'application')),"
    " subject_id TEXT NOT NULL,"
    " parent_id TEXT CHECK (parent_id IS NULL OR parent_id <> id),"
    " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'expired')),"
    " expires_at_us INTEGER NOT NULL,"
    " authenticated_at_us INTEGER,"
    " claims_json TEXT " JSON_OPT("claims_json") ","
    " revoked_at_us INTEGER,"
    " revoked_reason TEXT,"
    " UNIQUE (zone_id, id),"
    " FOREIGN KEY (zone_id, parent_id) REFERENCES authority_records(zone_id, id)"
    ");"
    "CREATE INDEX authority_records_parent ON authority_records(zone_id, parent_id)"
    " WHERE parent_id IS NOT NULL;"
    /* ------------------------------------------------------------- sessions */
    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " application_id TEXT NOT NULL,"
    " parent_id TEXT CHECK (parent_id IS NULL OR parent_id <> id),"
    " subject_authority_record_id TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'active'"
    "  CHECK (status IN ('active', 'suspended', 'terminated', 'expired')),"
    " lifecycle TEXT NOT NULL CHECK (lifecycle IN ('task', 'service')),"
    " depth INTEGER NOT NULL DEFAULT 0 CHECK (depth >= 0),"
    " labels TEXT NOT NULL DEFAULT '[]' " JSON_LIST("labels") ","
    " started_at_us INTEGER NOT NULL,"
    " ttl_seconds INTEGER NOT NULL DEFAULT 0 CHECK (ttl_seconds >= 0),"
    " heartbeat_deadline_at_us INTEGER,"
    " ended_at_us INTEGER,"
    " UNIQUE (zone_id, id),"
    " FOREIGN KEY (zone_id, application_id) REFERENCES applications(zone_id, id),"
    " FOREIGN KEY (zone_id, parent_id) REFERENCES sessions(zone_id, id),"
    " FOREIGN KEY (zone_id, subject_authority_record_id)"
    "  REFERENCES authority_records(zone_id, id)"
    ");"
    "CREATE INDEX sessions_parent ON sessions(zone_id, parent_id) WHERE parent_id IS NOT NULL;"
    "CREATE INDEX sessions_subject ON sessions(zone_id, subject_authority_record_id);"
    /* ---------------------------------------------------------- delegations */
    "CREATE TABLE delegation_edges ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " source_session_id TEXT NOT NULL,"
    " target_session_id TEXT NOT NULL CHECK (target_session_id <> source_session_id),"
    " issuer_application_id TEXT NOT NULL,"
    " receiver_application_id TEXT NOT NULL,"
    " parent_edge_id TEXT CHECK (parent_edge_id IS NULL OR parent_edge_id <> id),"
    " resource_id TEXT,"
    " scopes TEXT NOT NULL DEFAULT '[]' " JSON_LIST("scopes") ","
    " constraints_json TEXT " JSON_OPT("constraints_json") ","
    " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'expired')),"
    " expires_at_us INTEGER NOT NULL,"
    " edge_version INTEGER NOT NULL DEFAULT 1 CHECK (edge_version >= 0),"
    " revoked_at_us INTEGER,"
    " created_at_us INTEGER NOT NULL,"
    " UNIQUE (zone_id, id),"
    " FOREIGN KEY (zone_id, source_session_id) REFERENCES sessions(zone_id, id),"
    " FOREIGN KEY (zone_id, target_session_id) REFERENCES sessions(zone_id, id),"
    " FOREIGN KEY (zone_id, issuer_application_id) REFERENCES applications(zone_id, id),"
    " FOREIGN KEY (zone_id, receiver_application_id) REFERENCES applications(zone_id, id),"
    " FOREIGN KEY (zone_id, parent_edge_id) REFERENCES delegation_edges(zone_id, id),"
    " FOREIGN KEY (zone_id, resource_id) REFERENCES resources(zone_id, id)"
    ");"
    "CREATE INDEX delegation_edges_parent ON delegation_edges(zone_id, parent_edge_id)"
    " WHERE parent_edge_id IS NOT NULL;"
    "CREATE INDEX delegation_edges_source ON delegation_edges(zone_id, source_session_id);"
    "CREATE INDEX delegation_edges_target ON delegation_edges(zone_id, target_session_id);"
    "CREATE TABLE delegation_graph_epochs ("
    " zone_id TEXT PRIMARY KEY NOT NULL REFERENCES zones(id),"
    " epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0)"
    ");"
    /* ------------------------------------------------------------ approvals */
    "CREATE TABLE approvals ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " session_id TEXT NOT NULL DEFAULT '',"
    " principal_id TEXT NOT NULL,"
    " application_id TEXT NOT NULL,"
    " tier TEXT,"
    " approver_class TEXT NOT NULL DEFAULT 'operator'"
    "  CHECK (approver_class IN ('operator', 'subject', 'any')),"
    " privacy_mode TEXT,"
    " subject_anchor TEXT,"
    " binding_hex TEXT NOT NULL " HEX("binding_hex") ","
    " expires_at_us INTEGER NOT NULL,"
    " satisfied_at_us INTEGER,"
    " rejected_at_us INTEGER,"
    " consumed_at_us INTEGER,"
    " consumed_authority_record_id TEXT,"
    " approver_subject_id TEXT,"
    " decision_reason TEXT,"
    " metadata_json TEXT " JSON_OPT("metadata_json") ","
    " created_at_us INTEGER NOT NULL,"
    " UNIQUE (zone_id, id),"
    " CHECK (satisfied_at_us IS NULL OR rejected_at_us IS NULL),"
    " CHECK (consumed_at_us IS NULL OR satisfied_at_us IS NOT NULL)"
    ");"
    "CREATE INDEX approvals_pending ON approvals(zone_id, created_at_us)"
    " WHERE satisfied_at_us IS NULL AND rejected_at_us IS NULL AND consumed_at_us IS NULL;"
    /* ---------------------------------------------- revocations (append-only) */
    "CREATE TABLE revocations ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " kind INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),"
    " target_id TEXT NOT NULL CHECK (target_id <> ''),"
    " reason TEXT,"
    " revoked_at_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX revocations_zone ON revocations(zone_id, seq);"
    "CREATE TRIGGER revocations_no_update BEFORE UPDATE ON revocations"
    " BEGIN SELECT RAISE(ABORT, 'revocations are append-only'); END;"
    "CREATE TRIGGER revocations_no_delete BEFORE DELETE ON revocations"
    " BEGIN SELECT RAISE(ABORT, 'revocations are append-only'); END;"
    /* -------------------------------------------------------- single-use ids */
    "CREATE TABLE single_use_ids ("
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " id TEXT NOT NULL CHECK (id <> ''),"
    " expires_at_us INTEGER NOT NULL,"
    " PRIMARY KEY (zone_id, id)"
    ");"
    "CREATE INDEX single_use_ids_expiry ON single_use_ids(expires_at_us);"
    /* ---------------------------------------------------------- rate windows */
    "CREATE TABLE rate_windows ("
    " key TEXT NOT NULL CHECK (key <> ''),"
    " window_start_us INTEGER NOT NULL,"
    " window_end_us INTEGER NOT NULL CHECK (window_end_us > window_start_us),"
    " hits INTEGER NOT NULL DEFAULT 0 CHECK (hits >= 0),"
    " PRIMARY KEY (key, window_start_us)"
    ");"
    "CREATE INDEX rate_windows_end ON rate_windows(window_end_us);"
    /* ------------------------------------------------------ subject issuers */
    "CREATE TABLE subject_issuers ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " issuer TEXT NOT NULL CHECK (issuer <> ''),"
    " jwks_url TEXT,"
    " audience TEXT,"
    " UNIQUE (zone_id, issuer)"
    ");"
    /* ------------------------------------------------------------- key meta */
    "CREATE TABLE key_meta ("
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " kid TEXT NOT NULL CHECK (kid <> ''),"
    " alg TEXT NOT NULL CHECK (alg <> ''),"
    " status TEXT NOT NULL CHECK (status IN ('current', 'grace', 'retired')),"
    " created_at_us INTEGER NOT NULL,"
    " retire_at_us INTEGER,"
    " PRIMARY KEY (zone_id, kid)"
    ");";

/* The configuration generation (storage ABI 1.2 config_generation): one
 * number, moved by triggers in the transaction of every write to the tables
 * a host caches, so no writer can forget it and no reader can see new
 * records under an old number. */
#define BUMP_ON(table, ev)                                                    \
	"CREATE TRIGGER " table "_" ev "_generation AFTER " ev " ON " table \
	" BEGIN UPDATE config_generation SET n = n + 1 WHERE id = 1; END;"
#define BUMP_ALL(table) BUMP_ON(table, "INSERT") BUMP_ON(table, "UPDATE") BUMP_ON(table, "DELETE")
static const char migration_2[] =
    "CREATE TABLE config_generation ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " n INTEGER NOT NULL"
    ");"
    "INSERT INTO config_generation(id, n) VALUES (1, 1);"
    BUMP_ALL("zones") BUMP_ALL("applications") BUMP_ALL("resources") BUMP_ALL("grants")
    BUMP_ALL("subject_issuers");

/* authority_records rebuilt, its status CHECK written as comparisons: SQLite
 * evaluates a constant IN list of three or more as an ephemeral table it
 * builds on every INSERT or UPDATE (a b-tree opened, filled and closed: a
 * third of a mint's record insert). Same columns, same rules, same data; a
 * rebuild because SQLite cannot alter a CHECK (the runner turns foreign keys
 * off around it and checks them before commit, sqlite.org/lang_altertable). */
static const char migration_3[] =
    "CREATE TABLE authority_records_v3 ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " session_type TEXT NOT NULL CHECK (session_type IN ('user', 'application')),"
    " subject_id TEXT NOT NULL,"
    " parent_id TEXT CHECK (parent_id IS NULL OR parent_id <> id),"
    " status TEXT NOT NULL DEFAULT 'active'"
    "  CHECK (status = 'active' OR status = 'revoked' OR status = 'expired'),"
    " expires_at_us INTEGER NOT NULL,"
    " authenticated_at_us INTEGER,"
    " claims_json TEXT " JSON_OPT("claims_json") ","
    " revoked_at_us INTEGER,"
    " revoked_reason TEXT,"
    " UNIQUE (zone_id, id),"
    " FOREIGN KEY (zone_id, parent_id) REFERENCES authority_records(zone_id, id)"
    ");"
    "INSERT INTO authority_records_v3(id, zone_id, session_type, subject_id, parent_id, status,"
    " expires_at_us, authenticated_at_us, claims_json, revoked_at_us, revoked_reason)"
    " SELECT id, zone_id, session_type, subject_id, parent_id, status, expires_at_us,"
    " authenticated_at_us, claims_json, revoked_at_us, revoked_reason FROM authority_records;"
    "DROP TABLE authority_records;"
    "ALTER TABLE authority_records_v3 RENAME TO authority_records;"
    "CREATE INDEX authority_records_parent ON authority_records(zone_id, parent_id)"
    " WHERE parent_id IS NOT NULL;";

/* The two tables every mint writes, each as one b-tree (WITHOUT ROWID):
 * authority_records was a rowid table plus an index on id plus one on
 * (zone_id, id), single_use_ids a rowid table plus its key's index; a group
 * commit wrote a leaf of each, so a mint cost five b-tree inserts and their
 * pages in the WAL. A record is now keyed by (zone_id, id), which is how
 * every query and reference names it (the composite foreign keys need
 * nothing more); its id is a UUIDv7 unique in practice across zones too.
 * Same columns, same rules, same data. */
static const char migration_4[] =
    "CREATE TABLE authority_records_v4 ("
    " id TEXT NOT NULL CHECK (id <> ''),"
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " session_type TEXT NOT NULL CHECK (session_type = 'user' OR session_type = 'application'),"
    " subject_id TEXT NOT NULL,"
    " parent_id TEXT CHECK (parent_id IS NULL OR parent_id <> id),"
    " status TEXT NOT NULL DEFAULT 'active'"
    "  CHECK (status = 'active' OR status = 'revoked' OR status = 'expired'),"
    " expires_at_us INTEGER NOT NULL,"
    " authenticated_at_us INTEGER,"
    " claims_json TEXT " JSON_OPT("claims_json") ","
    " revoked_at_us INTEGER,"
    " revoked_reason TEXT,"
    " PRIMARY KEY (zone_id, id),"
    " FOREIGN KEY (zone_id, parent_id) REFERENCES authority_records(zone_id, id)"
    ") WITHOUT ROWID;"
    "INSERT INTO authority_records_v4(id, zone_id, session_type, subject_id, parent_id, status,"
    " expires_at_us, authenticated_at_us, claims_json, revoked_at_us, revoked_reason)"
    " SELECT id, zone_id, session_type, subject_id, parent_id, status, expires_at_us,"
    " authenticated_at_us, claims_json, revoked_at_us, revoked_reason FROM authority_records;"
    "DROP TABLE authority_records;"
    "ALTER TABLE authority_records_v4 RENAME TO authority_records;"
    "CREATE INDEX authority_records_parent ON authority_records(zone_id, parent_id)"
    " WHERE parent_id IS NOT NULL;"
    "CREATE TABLE single_use_ids_v4 ("
    " zone_id TEXT NOT NULL REFERENCES zones(id),"
    " id TEXT NOT NULL CHECK (id <> ''),"
    " expires_at_us INTEGER NOT NULL,"
    " PRIMARY KEY (zone_id, id)"
    ") WITHOUT ROWID;"
    "INSERT INTO single_use_ids_v4(zone_id, id, expires_at_us)"
    " SELECT zone_id, id, expires_at_us FROM single_use_ids;"
    "DROP TABLE single_use_ids;"
    "ALTER TABLE single_use_ids_v4 RENAME TO single_use_ids;"
    "CREATE INDEX single_use_ids_expiry ON single_use_ids(expires_at_us);";
/* clang-format on */

typedef struct ss_migration {
	int64_t version;
	const char *name;
	const char *sql;
	/* A rebuild of a table others refer to: foreign keys off around it, and
	 * these tables (NULL-terminated) checked before commit. NULL: none. */
	const char *const *rebuilds;
} ss_migration;

static const char *const authority_records_refs[] = {"authority_records", "sessions", NULL};

static const ss_migration migrations[] = {
    {1, "baseline", migration_1, NULL},
    {2, "config_generation", migration_2, NULL},
    {3, "authority_records_status_check", migration_3, authority_records_refs},
    {4, "mint_tables_without_rowid", migration_4, authority_records_refs},
};

#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

static const char sql_create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       " version INTEGER PRIMARY KEY NOT NULL,"
                                       " name TEXT NOT NULL,"
                                       " applied_at_us INTEGER NOT NULL)";

int64_t ss_schema_latest(void)
{
	return migrations[NMIGRATIONS - 1].version;
}

static int applied(sqlite3 *db, int64_t version, int *yes)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE version = ?1", -1,
	                            &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, version);
	rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int record(sqlite3 *db, const ss_migration *m, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
	    db, "INSERT INTO schema_migrations(version, name, applied_at_us) VALUES (?1, ?2, ?3)",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, m->version);
	sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int current(sqlite3 *db, int64_t *version)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Foreign keys from and to the rebuilt table still hold (PRAGMA
 * foreign_key_check finds no row). Only those tables: an unrelated old
 * violation elsewhere must not stop every start. Inside the migration's
 * transaction. */
static int foreign_keys_hold(sqlite3 *db, const char *const *tables)
{
	for (; *tables != NULL; tables++) {
		char sql[96];
		snprintf(sql, sizeof sql, "PRAGMA foreign_key_check(%s)", *tables);
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
		if (rc != SQLITE_OK)
			return rc;
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return rc == SQLITE_ROW ? SQLITE_CONSTRAINT : rc;
	}
	return SQLITE_OK;
}

int ss_migrate(ss_thread *t, int64_t *version, caracal_error *err)
{
	return ss_migrate_upto(t, INT64_MAX, version, err);
}

int ss_migrate_upto(void *tctx, int64_t upto, int64_t *version, caracal_error *err)
{
	ss_thread *t = tctx;
	ss_instance *in = t->inst;
	sqlite3 *db = t->db;
	int rc = CARACAL_OK;
	if (t->in_op)
		return caracal_error_set(
		    err, CARACAL_E_INTERNAL,
		    "storage_sqlite: migrate: re-entrant call on a thread context");
	t->in_op = 1;
	for (size_t i = 0; i < NMIGRATIONS && rc == CARACAL_OK && migrations[i].version <= upto;
	     i++) {
		const ss_migration *m = &migrations[i];
		int yes = 0, src;
		/* A no-op inside a transaction, so before BEGIN; this connection's
		 * only (others keep checking theirs). */
		if (m->rebuilds != NULL && (src = sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL,
		                                               NULL, NULL)) != SQLITE_OK) {
			rc = ss_db_error(t, src, "migrate", err);
			break;
		}
		if ((src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) == SQLITE_OK &&
		    (src = sqlite3_exec(db, sql_create_table, NULL, NULL, NULL)) == SQLITE_OK &&
		    (src = applied(db, m->version, &yes)) == SQLITE_OK && !yes &&
		    (src = sqlite3_exec(db, m->sql, NULL, NULL, NULL)) == SQLITE_OK &&
		    (m->rebuilds == NULL ||
		     (src = foreign_keys_hold(db, m->rebuilds)) == SQLITE_OK))
			src = record(db, m, in->host->now_us());
		if (src == SQLITE_OK)
			src = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (src != SQLITE_OK && !sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		if (m->rebuilds != NULL) {
			int fk = sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
			if (src == SQLITE_OK)
				src = fk;
		}
		if (src != SQLITE_OK) {
			rc = ss_db_error(t, src, "migrate", err);
			break;
		}
		if (!yes)
			in->host->log(in->scope, CARACAL_LOG_INFO,
			              "storage_sqlite: applied schema migration %lld (%s)",
			              (long long)m->version, m->name);
	}
	if (rc == CARACAL_OK) {
		int64_t v = 0;
		int src = current(db, &v);
		if (src != SQLITE_OK) {
			rc = ss_db_error(t, src, "migrate", err);
		} else {
			if (v > ss_schema_latest())
				in->host->log(
				    in->scope, CARACAL_LOG_WARN,
				    "storage_sqlite: the schema is at version %lld, newer "
				    "than this plugin's %lld",
				    (long long)v, (long long)ss_schema_latest());
			if (version != NULL)
				*version = v;
		}
	}
	t->in_op = 0;
	return rc;
}
