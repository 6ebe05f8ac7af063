/*
 * storage_sqlite.c — Caracal's domain records in SQLite (WAL mode).
 *
 * Every operation is one transaction: BEGIN IMMEDIATE for writes (so the
 * write lock is taken up front and waits at most busy_timeout, instead of a
 * deferred transaction failing to upgrade). Every read is one SELECT, so it
 * runs in SQLite's implicit (autocommit) read transaction, which gives it the
 * same snapshot an explicit BEGIN/COMMIT would, without two extra steps. The
 * exactly-once decisions (approvals, single-use ids, rate windows, CAS on
 * session status) are guarded UPDATEs/UPSERTs whose change count decides.
 *
 * Results: gets copy strings into the caller's arena and never write beyond
 * the out struct's size; lists hand each() a stack record whose strings point
 * into SQLite's row buffers, valid for that call only.
 */
#include "storage_sqlite_int.h"

#include "strlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SS_PURGE_EVERY 64
#define SS_PURGE_BATCH 256

const caracal_cfg_key ss_config_schema[] = {
    {"path", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED,
     "database file; relative paths are under data_dir"},
    {"busy_timeout", CARACAL_CFG_DURATION, 0,
     "how long an operation waits for a lock before UNAVAIL (default 5s)"},
    {"synchronous", CARACAL_CFG_STRING, 0, "full | normal (default full)"},
    {NULL, 0, 0, NULL},
};

/* ------------------------------------------------------------ errors */

int ss_db_error(ss_thread *t, int rc, const char *what, caracal_error *err)
{
	int code;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = CARACAL_E_UNAVAIL;
		break;
	case SQLITE_CONSTRAINT:
		switch (rc) {
		case SQLITE_CONSTRAINT_FOREIGNKEY:
			code = CARACAL_E_NOTFOUND; /* a reference to no record of the zone */
			break;
		case SQLITE_CONSTRAINT_CHECK:
		case SQLITE_CONSTRAINT_NOTNULL:
			code = CARACAL_E_INVAL;
			break;
		default: /* UNIQUE, PRIMARYKEY, TRIGGER (append-only) */
			code = CARACAL_E_CONFLICT;
		}
		break;
	case SQLITE_NOMEM:
		code = CARACAL_E_NOMEM;
		break;
	case SQLITE_TOOBIG:
		code = CARACAL_E_TOOBIG;
		break;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
		code = CARACAL_E_UNAVAIL;
		break;
	default:
		code = CARACAL_E_INTERNAL;
	}
	const char *msg = sqlite3_errstr(rc);
	if (t != NULL && t->db != NULL && sqlite3_extended_errcode(t->db) == rc)
		msg = sqlite3_errmsg(t->db);
	if (code == CARACAL_E_UNAVAIL && t != NULL)
		t->inst->host->metric_count(t->inst->scope, "unavailable", what, 1);
	return caracal_error_set(err, code, "storage_sqlite: %s: %s", what, msg);
}

static int inval(caracal_error *err, const char *what, const char *why)
{
	return caracal_error_set(err, CARACAL_E_INVAL, "storage_sqlite: %s: %s", what, why);
}

static int notfound(caracal_error *err, const char *what)
{
	return caracal_error_set(err, CARACAL_E_NOTFOUND, "storage_sqlite: %s: no such record",
	                         what);
}

/* ------------------------------------------------------------ connections */

static int exec_pragma(sqlite3 *db, const char *sql, const char *expect)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && expect != NULL) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (v == NULL || strcasecmp(v, expect) != 0)
			rc = SQLITE_CANTOPEN;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* SQLite's own busy handler sleeps 1, 2, 5, 10 ... ms between tries, so a
 * write that met another connection's commit (a tenth of a millisecond: the
 * committer's, a worker's rate lease) waited a millisecond or more. This one
 * tries again after 20 µs, doubling up to 1 ms, until busy_timeout has
 * passed since the first try. One SQLite call runs at a time on a thread,
 * so the start of its wait is thread-local. */
static int busy_wait(void *ud, int count)
{
	const ss_instance *in = ud;
	static _Thread_local int64_t since_us;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if (count == 0)
		since_us = now;
	if (now - since_us >= in->busy_ms * 1000)
		return 0; /* SQLITE_BUSY to the caller */
	int64_t pause_us = count < 6 ? 20LL << count : 1000;
	struct timespec pause = {0, (long)(pause_us * 1000)};
	nanosleep(&pause, NULL);
	return 1;
}

static int open_db(ss_instance *in, sqlite3 **out, caracal_error *err)
{
	sqlite3 *db = NULL;
	*out = NULL;
	int rc = sqlite3_open_v2(
	    in->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_handler(db, busy_wait, in);
		sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
		if ((rc = exec_pragma(db, "PRAGMA journal_mode=WAL", "wal")) == SQLITE_OK &&
		    (rc = exec_pragma(db, "PRAGMA foreign_keys=ON", NULL)) == SQLITE_OK)
			rc = exec_pragma(db,
			                 in->sync_full ? "PRAGMA synchronous=FULL"
			                               : "PRAGMA synchronous=NORMAL",
			                 NULL);
	}
	if (rc != SQLITE_OK) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "storage_sqlite: cannot open %s: %s",
		                  in->path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return CARACAL_E_UNAVAIL;
	}
	*out = db;
	return CARACAL_OK;
}

static int join_path(const char *dir, const char *rel, char **out)
{
	size_t a = strlen(dir), b = strlen(rel);
	char *p = malloc(a + b + 2);
	if (p == NULL)
		return CARACAL_E_NOMEM;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, rel, b + 1);
	*out = p;
	return CARACAL_OK;
}

void ss_instance_destroy(void *instance)
{
	ss_instance *in = instance;
	if (in == NULL)
		return;
	sqlite3_close(in->ready_db);
	pthread_mutex_destroy(&in->ready_mu);
	free(in->path);
	free(in);
}

int ss_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err)
{
	const char *path = NULL, *sync = "full";
	int64_t busy_ms = 5000;
	int rc;
	*instance = NULL;
	if (sqlite3_threadsafe() == 0)
		return caracal_error_set(err, CARACAL_E_UNSUPPORTED,
		                         "storage_sqlite: libsqlite3 was built without threads");
	if ((rc = host->cfg_string(cfg, "path", &path, err)) != CARACAL_OK) {
		if (rc == CARACAL_E_NOTFOUND)
			return inval(err, "config", "key 'path' is required");
		return rc;
	}
	if (path[0] == '\0')
		return inval(err, "config", "key 'path' is empty");
	rc = host->cfg_duration_ms(cfg, "busy_timeout", &busy_ms, err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return rc;
	if (busy_ms < 0 || busy_ms > 600000)
		return inval(err, "config", "busy_timeout must be between 0 and 10m");
	rc = host->cfg_string(cfg, "synchronous", &sync, err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return rc;
	if (strcasecmp(sync, "full") != 0 && strcasecmp(sync, "normal") != 0)
		return inval(err, "config", "synchronous must be full or normal");

	ss_instance *in = calloc(1, sizeof *in);
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "storage_sqlite: out of memory");
	in->host = host;
	in->scope = scope;
	in->busy_ms = busy_ms;
	in->sync_full = strcasecmp(sync, "full") == 0;
	pthread_mutex_init(&in->ready_mu, NULL);
	if (path[0] == '/') {
		in->path = strdup(path);
		rc = in->path != NULL ? CARACAL_OK : CARACAL_E_NOMEM;
	} else {
		const char *dir = host->data_dir();
		if (dir == NULL || dir[0] == '\0') {
			ss_instance_destroy(in);
			return inval(err, "config", "relative path but no data_dir");
		}
		rc = join_path(dir, path, &in->path);
	}
	if (rc != CARACAL_OK) {
		ss_instance_destroy(in);
		return caracal_error_set(err, rc, "storage_sqlite: out of memory");
	}
	/* The file holds secret hashes: create it private. SQLite gives the
	 * -wal and -shm files the database file's mode. */
	int fd = open(in->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;
		caracal_error_set(err, CARACAL_E_UNAVAIL, "storage_sqlite: cannot open %s: %s",
		                  in->path, strerror(e));
		ss_instance_destroy(in);
		return CARACAL_E_UNAVAIL;
	}
	close(fd);
	if ((rc = open_db(in, &in->ready_db, err)) != CARACAL_OK) {
		ss_instance_destroy(in);
		return rc;
	}
	*instance = in;
	return CARACAL_OK;
}

int ss_instance_ready(void *instance, caracal_error *err)
{
	ss_instance *in = instance;
	int rc = CARACAL_OK;
	pthread_mutex_lock(&in->ready_mu);
	if (in->ready_db == NULL)
		rc = open_db(in, &in->ready_db, err);
	if (rc == CARACAL_OK) {
		sqlite3_stmt *st = NULL;
		int src = sqlite3_prepare_v2(
		    in->ready_db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
		    &st, NULL);
		if (src == SQLITE_OK)
			src = sqlite3_step(st);
		if (src == SQLITE_ROW) {
			if (sqlite3_column_int64(st, 0) < 1)
				rc = caracal_error_set(err, CARACAL_E_UNAVAIL,
				                       "storage_sqlite: schema not migrated yet");
		} else if (src == SQLITE_ERROR) {
			rc = caracal_error_set(err, CARACAL_E_UNAVAIL,
			                       "storage_sqlite: schema not migrated yet");
		} else {
			rc =
			    caracal_error_set(err, CARACAL_E_UNAVAIL,
			                      "storage_sqlite: not ready: %s", sqlite3_errstr(src));
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&in->ready_mu);
	return rc;
}

int ss_thread_create(void *instance, void **tctx, caracal_error *err)
{
	ss_instance *in = instance;
	ss_thread *t = calloc(1, sizeof *t);
	*tctx = NULL;
	if (t == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "storage_sqlite: out of memory");
	t->inst = in;
	int rc = open_db(in, &t->db, err);
	if (rc != CARACAL_OK) {
		free(t);
		return rc;
	}
	*tctx = t;
	return CARACAL_OK;
}

void ss_thread_destroy(void *instance, void *tctx)
{
	(void)instance;
	ss_thread *t = tctx;
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nstmt; i++)
		sqlite3_finalize(t->stmt[i].st);
	sqlite3_close(t->db);
	free(t);
}

/* ------------------------------------------------------------ statements */

/* The cached statement for sql (a static string), reset and unbound. */
static int prep(ss_thread *t, const char *sql, sqlite3_stmt **out, const char *what,
                caracal_error *err)
{
	for (size_t i = 0; i < t->nstmt; i++) {
		if (t->stmt[i].sql == sql) {
			*out = t->stmt[i].st;
			sqlite3_reset(*out);
			sqlite3_clear_bindings(*out);
			return CARACAL_OK;
		}
	}
	if (t->nstmt == SS_STMT_CACHE)
		return caracal_error_set(err, CARACAL_E_INTERNAL,
		                         "storage_sqlite: %s: statement cache full", what);
	int rc = sqlite3_prepare_v3(t->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc != SQLITE_OK)
		return ss_db_error(t, rc, what, err);
	t->stmt[t->nstmt].sql = sql;
	t->stmt[t->nstmt].st = *out;
	t->nstmt++;
	return CARACAL_OK;
}

static void reset_all(ss_thread *t)
{
	for (size_t i = 0; i < t->nstmt; i++)
		if (sqlite3_stmt_busy(t->stmt[i].st))
			sqlite3_reset(t->stmt[i].st);
}

static const char sql_begin_w[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static int run(ss_thread *t, const char *sql, const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	int src = sqlite3_step(st);
	sqlite3_reset(st);
	return src == SQLITE_DONE ? CARACAL_OK : ss_db_error(t, src, what, err);
}

static int tx_begin(ss_thread *t, int write, const char *what, caracal_error *err)
{
	if (t == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "storage_sqlite: %s: no thread context", what);
	if (t->in_op)
		return caracal_error_set(err, CARACAL_E_INTERNAL,
		                         "storage_sqlite: %s: re-entrant call on a thread context",
		                         what);
	if (!write) {
		/* One SELECT: its own implicit read transaction (ended by the
		 * reset in tx_end). Nothing may be open on the connection. */
		if (!sqlite3_get_autocommit(t->db))
			return caracal_error_set(err, CARACAL_E_INTERNAL,
			                         "storage_sqlite: %s: a transaction is open", what);
		t->in_op = 2;
		return CARACAL_OK;
	}
	int rc = run(t, sql_begin_w, what, err);
	if (rc == CARACAL_OK)
		t->in_op = 1;
	return rc;
}

/* Commit when rc is OK, else roll back; returns the final status. */
static int tx_end(ss_thread *t, int rc, const char *what, caracal_error *err)
{
	reset_all(t);
	if (t->in_op == 2) { /* implicit read transaction: the reset ended it */
		t->in_op = 0;
		return rc;
	}
	if (rc == CARACAL_OK)
		rc = run(t, sql_commit, what, err);
	if (rc != CARACAL_OK && !sqlite3_get_autocommit(t->db)) {
		caracal_error ignored;
		run(t, sql_rollback, what, &ignored);
	}
	t->in_op = 0;
	return rc;
}

static int64_t now_or(ss_thread *t, int64_t at_us)
{
	return at_us != 0 ? at_us : t->inst->host->now_us();
}

/* ------------------------------------------------------------ binding */

#define SS_BAD_LIST (-1)

typedef struct bnd {
	sqlite3_stmt *st;
	int rc;
} bnd;

static void b_str(bnd *b, int i, const char *s)
{
	if (b->rc == SQLITE_OK)
		b->rc = s != NULL ? sqlite3_bind_text(b->st, i, s, -1, SQLITE_STATIC)
		                  : sqlite3_bind_null(b->st, i);
}

static void b_json(bnd *b, int i, caracal_str s)
{
	if (b->rc != SQLITE_OK)
		return;
	if (s.ptr == NULL || s.len == 0)
		b->rc = sqlite3_bind_null(b->st, i);
	else
		b->rc = sqlite3_bind_text64(b->st, i, s.ptr, s.len, SQLITE_STATIC, SQLITE_UTF8);
}

static void b_int(bnd *b, int i, int64_t v)
{
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->st, i, v);
}

/* A time: 0 (absent) is NULL. */
static void b_time(bnd *b, int i, int64_t v)
{
	if (b->rc == SQLITE_OK)
		b->rc = v != 0 ? sqlite3_bind_int64(b->st, i, v) : sqlite3_bind_null(b->st, i);
}

static void b_list(bnd *b, int i, caracal_strlist l)
{
	char *json;
	size_t len;
	if (b->rc != SQLITE_OK)
		return;
	int rc = ss_strlist_encode(&l, &json, &len);
	if (rc == CARACAL_E_NOMEM)
		b->rc = SQLITE_NOMEM;
	else if (rc != CARACAL_OK)
		b->rc = SS_BAD_LIST;
	else
		b->rc = sqlite3_bind_text64(b->st, i, json, len, free, SQLITE_UTF8);
}

static int bind_error(ss_thread *t, const bnd *b, const char *what, caracal_error *err)
{
	if (b->rc == SS_BAD_LIST)
		return inval(err, what, "a string list has a NULL item");
	return ss_db_error(t, b->rc, what, err);
}

/* Step a statement that returns no row. */
static int step_done(ss_thread *t, sqlite3_stmt *st, const char *what, caracal_error *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE; /* RETURNING ignored */
	int out = rc == SQLITE_DONE ? CARACAL_OK : ss_db_error(t, rc, what, err);
	sqlite3_reset(st);
	return out;
}

/* ------------------------------------------------------------ reading */

typedef struct rd {
	const caracal_host *h;
	caracal_arena *arena; /* NULL: list mode, strings borrowed from the row */
	void *block;          /* list mode: the strlist allocation of the current row */
	int rc;
} rd;

static const char *r_str(rd *r, sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	if (s == NULL || r->arena == NULL)
		return s;
	char *c = r->h->arena_strndup(r->arena, s, (size_t)sqlite3_column_bytes(st, col));
	if (c == NULL)
		r->rc = CARACAL_E_NOMEM;
	return c;
}

static caracal_str r_json(rd *r, sqlite3_stmt *st, int col)
{
	caracal_str s = {r_str(r, st, col), 0};
	if (s.ptr != NULL)
		s.len = (size_t)sqlite3_column_bytes(st, col);
	return s;
}

static int64_t r_int(sqlite3_stmt *st, int col)
{
	return sqlite3_column_int64(st, col); /* NULL reads as 0 */
}

static void *arena_alloc_fn(void *ctx, size_t n)
{
	rd *r = ctx;
	return r->h->arena_alloc(r->arena, n);
}

static void *malloc_fn(void *ctx, size_t n)
{
	(void)ctx;
	return malloc(n);
}

static caracal_strlist r_list(rd *r, sqlite3_stmt *st, int col)
{
	caracal_strlist l = {NULL, 0};
	const char *s = (const char *)sqlite3_column_text(st, col);
	void *block = NULL;
	int rc = ss_strlist_decode(s, (size_t)sqlite3_column_bytes(st, col),
	                           r->arena != NULL ? arena_alloc_fn : malloc_fn, r, &l, &block);
	if (rc != CARACAL_OK && r->rc == CARACAL_OK)
		r->rc = rc == CARACAL_E_INVAL ? CARACAL_E_INTEGRITY : rc;
	if (r->arena == NULL) {
		free(r->block);
		r->block = block;
	}
	return l;
}

static int rd_error(rd *r, const char *what, caracal_error *err)
{
	if (r->rc == CARACAL_E_NOMEM)
		return caracal_error_set(err, r->rc, "storage_sqlite: %s: out of memory", what);
	return caracal_error_set(err, r->rc, "storage_sqlite: %s: a stored string list is corrupt",
	                         what);
}

/* Copy the caller's record (of whatever size it was built with) into a full
 * local one; members beyond its size read as absent. */
static int in_copy(void *dst, size_t dsize, const void *in, const char *what, caracal_error *err)
{
	memset(dst, 0, dsize);
	if (in == NULL)
		return inval(err, what, "no record");
	uint32_t size;
	memcpy(&size, in, sizeof size);
	if (size < sizeof(uint32_t) + sizeof(void *))
		return inval(err, what, "record size too small");
	memcpy(dst, in, size < dsize ? size : dsize);
	return CARACAL_OK;
}

static int out_check(const void *out, const char *what, caracal_error *err)
{
	uint32_t size;
	if (out == NULL)
		return inval(err, what, "no result record");
	memcpy(&size, out, sizeof size);
	if (size < sizeof(uint32_t))
		return inval(err, what, "result record size too small");
	return CARACAL_OK;
}

/* Write rec into out up to out->size (keeping it), zeroing what lies beyond
 * what this plugin knows. */
static void out_copy(void *out, const void *rec, size_t rsize)
{
	uint32_t size;
	memcpy(&size, out, sizeof size);
	size_t n = size < rsize ? size : rsize;
	memcpy((char *)out + sizeof size, (const char *)rec + sizeof size, n - sizeof size);
	if (size > rsize)
		memset((char *)out + rsize, 0, size - rsize);
}

/* Member m of the struct at p, when p's size covers it. */
#define HAS(p, m) ((p)->size >= offsetof(__typeof__(*(p)), m) + sizeof((p)->m))

/* ------------------------------------------------------------ record readers */

#define ZONE_COLS "id, name, created_at_us"
static void read_zone(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_zone *z = rec;
	z->id = r_str(r, st, 0);
	z->name = r_str(r, st, 1);
	z->created_at_us = r_int(st, 2);
}

#define APP_COLS                                                                              \
	"id, zone_id, name, registration_method, client_secret_hash, traits, expires_at_us, " \
	"archived_at_us, created_at_us"
static void read_app(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_application *a = rec;
	a->id = r_str(r, st, 0);
	a->zone_id = r_str(r, st, 1);
	a->name = r_str(r, st, 2);
	a->registration_method = r_str(r, st, 3);
	a->client_secret_hash = r_str(r, st, 4);
	a->traits = r_list(r, st, 5);
	a->expires_at_us = r_int(st, 6);
	a->archived_at_us = r_int(st, 7);
	a->created_at_us = r_int(st, 8);
}

#define RES_COLS                                                                    \
	"id, zone_id, identifier, upstream_url, scopes, credential_provider_id, "   \
	"credential_json, operations_json, operation_enforcement, archived_at_us, " \
	"created_at_us"
static void read_res(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_resource *x = rec;
	x->id = r_str(r, st, 0);
	x->zone_id = r_str(r, st, 1);
	x->identifier = r_str(r, st, 2);
	x->upstream_url = r_str(r, st, 3);
	x->scopes = r_list(r, st, 4);
	x->credential_provider_id = r_str(r, st, 5);
	x->credential_json = r_json(r, st, 6);
	x->operations_json = r_json(r, st, 7);
	x->operation_enforcement = r_str(r, st, 8);
	x->archived_at_us = r_int(st, 9);
	x->created_at_us = r_int(st, 10);
}

#define GRANT_COLS "id, zone_id, application_id, resource_id, scopes, created_at_us"
static void read_grant(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_grant *g = rec;
	g->id = r_str(r, st, 0);
	g->zone_id = r_str(r, st, 1);
	g->application_id = r_str(r, st, 2);
	g->resource_id = r_str(r, st, 3);
	g->scopes = r_list(r, st, 4);
	g->created_at_us = r_int(st, 5);
}

#define PV_COLS                                                                             \
	"p.id, p.zone_id, p.version, p.source, p.sha256, a.policy_version_id IS NOT NULL, " \
	"p.created_at_us"
static void read_pv(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_policy_version *p = rec;
	p->id = r_str(r, st, 0);
	p->zone_id = r_str(r, st, 1);
	p->version = r_int(st, 2);
	p->source = r_json(r, st, 3);
	p->sha256 = r_str(r, st, 4);
	p->active = (int)r_int(st, 5);
	p->created_at_us = r_int(st, 6);
}

#define AR_COLS                                                                     \
	"id, zone_id, session_type, subject_id, parent_id, status, expires_at_us, " \
	"authenticated_at_us, claims_json, revoked_at_us, revoked_reason"
static void read_ar(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_authority_record *a = rec;
	a->id = r_str(r, st, 0);
	a->zone_id = r_str(r, st, 1);
	a->session_type = r_str(r, st, 2);
	a->subject_id = r_str(r, st, 3);
	a->parent_id = r_str(r, st, 4);
	a->status = r_str(r, st, 5);
	a->expires_at_us = r_int(st, 6);
	a->authenticated_at_us = r_int(st, 7);
	a->claims_json = r_json(r, st, 8);
	a->revoked_at_us = r_int(st, 9);
	a->revoked_reason = r_str(r, st, 10);
}

#define SESS_COLS                                                                          \
	"id, zone_id, application_id, parent_id, subject_authority_record_id, status, "    \
	"lifecycle, depth, labels, started_at_us, ttl_seconds, heartbeat_deadline_at_us, " \
	"ended_at_us"
static void read_sess(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_session *s = rec;
	s->id = r_str(r, st, 0);
	s->zone_id = r_str(r, st, 1);
	s->application_id = r_str(r, st, 2);
	s->parent_id = r_str(r, st, 3);
	s->subject_authority_record_id = r_str(r, st, 4);
	s->status = r_str(r, st, 5);
	s->lifecycle = r_str(r, st, 6);
	s->depth = r_int(st, 7);
	s->labels = r_list(r, st, 8);
	s->started_at_us = r_int(st, 9);
	s->ttl_seconds = r_int(st, 10);
	s->heartbeat_deadline_at_us = r_int(st, 11);
	s->ended_at_us = r_int(st, 12);
}

#define DEL_COLS                                                                           \
	"id, zone_id, source_session_id, target_session_id, issuer_application_id, "       \
	"receiver_application_id, parent_edge_id, resource_id, scopes, constraints_json, " \
	"status, expires_at_us, edge_version, revoked_at_us, created_at_us"
static void read_del(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_delegation *d = rec;
	d->id = r_str(r, st, 0);
	d->zone_id = r_str(r, st, 1);
	d->source_session_id = r_str(r, st, 2);
	d->target_session_id = r_str(r, st, 3);
	d->issuer_application_id = r_str(r, st, 4);
	d->receiver_application_id = r_str(r, st, 5);
	d->parent_edge_id = r_str(r, st, 6);
	d->resource_id = r_str(r, st, 7);
	d->scopes = r_list(r, st, 8);
	d->constraints_json = r_json(r, st, 9);
	d->status = r_str(r, st, 10);
	d->expires_at_us = r_int(st, 11);
	d->edge_version = r_int(st, 12);
	d->revoked_at_us = r_int(st, 13);
	d->created_at_us = r_int(st, 14);
}

#define APPR_COLS                                                                             \
	"id, zone_id, session_id, principal_id, application_id, tier, approver_class, "       \
	"privacy_mode, subject_anchor, binding_hex, expires_at_us, satisfied_at_us, "         \
	"rejected_at_us, consumed_at_us, consumed_authority_record_id, approver_subject_id, " \
	"decision_reason, metadata_json, created_at_us"
static void read_appr(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_approval *a = rec;
	a->id = r_str(r, st, 0);
	a->zone_id = r_str(r, st, 1);
	a->session_id = r_str(r, st, 2);
	a->principal_id = r_str(r, st, 3);
	a->application_id = r_str(r, st, 4);
	a->tier = r_str(r, st, 5);
	a->approver_class = r_str(r, st, 6);
	a->privacy_mode = r_str(r, st, 7);
	a->subject_anchor = r_str(r, st, 8);
	a->binding_hex = r_str(r, st, 9);
	a->expires_at_us = r_int(st, 10);
	a->satisfied_at_us = r_int(st, 11);
	a->rejected_at_us = r_int(st, 12);
	a->consumed_at_us = r_int(st, 13);
	a->consumed_authority_record_id = r_str(r, st, 14);
	a->approver_subject_id = r_str(r, st, 15);
	a->decision_reason = r_str(r, st, 16);
	a->metadata_json = r_json(r, st, 17);
	a->created_at_us = r_int(st, 18);
}

#define REV_COLS "seq, zone_id, kind, target_id, reason, revoked_at_us"
static void read_rev(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_revocation *v = rec;
	v->seq = r_int(st, 0);
	v->zone_id = r_str(r, st, 1);
	v->kind = (caracal_revocation_kind)r_int(st, 2);
	v->target_id = r_str(r, st, 3);
	v->reason = r_str(r, st, 4);
	v->revoked_at_us = r_int(st, 5);
}

#define ISS_COLS "id, zone_id, issuer, jwks_url, audience"
static void read_iss(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_subject_issuer *i = rec;
	i->id = r_str(r, st, 0);
	i->zone_id = r_str(r, st, 1);
	i->issuer = r_str(r, st, 2);
	i->jwks_url = r_str(r, st, 3);
	i->audience = r_str(r, st, 4);
}

#define KEY_COLS "zone_id, kid, alg, status, created_at_us, retire_at_us"
static void read_key(rd *r, sqlite3_stmt *st, void *rec)
{
	caracal_key_meta *k = rec;
	k->zone_id = r_str(r, st, 0);
	k->kid = r_str(r, st, 1);
	k->alg = r_str(r, st, 2);
	k->status = r_str(r, st, 3);
	k->created_at_us = r_int(st, 4);
	k->retire_at_us = r_int(st, 5);
}

/* ------------------------------------------------------------ generic get / list */

typedef void (*reader_fn)(rd *r, sqlite3_stmt *st, void *rec);

/* Run a bound single-row query st inside the open transaction; copy into
 * out (of record type rsize) through the arena. */
static int get_row(ss_thread *t, sqlite3_stmt *st, reader_fn read, void *rec, size_t rsize,
                   caracal_arena *arena, void *out, const char *what, caracal_error *err)
{
	rd r = {t->inst->host, arena, NULL, CARACAL_OK};
	if (arena == NULL)
		return inval(err, what, "no arena");
	int src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		return notfound(err, what);
	if (src != SQLITE_ROW)
		return ss_db_error(t, src, what, err);
	memset(rec, 0, rsize);
	read(&r, st, rec);
	if (r.rc != CARACAL_OK)
		return rd_error(&r, what, err);
	out_copy(out, rec, rsize);
	return CARACAL_OK;
}

static int list_rows(ss_thread *t, sqlite3_stmt *st, reader_fn read, void *rec, size_t rsize,
                     caracal_record_fn each, void *ud, const char *what, caracal_error *err)
{
	rd r = {t->inst->host, NULL, NULL, CARACAL_OK};
	int rc = CARACAL_OK, src;
	if (each == NULL)
		return inval(err, what, "no callback");
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(rec, 0, rsize);
		*(uint32_t *)rec = (uint32_t)rsize;
		read(&r, st, rec);
		if (r.rc != CARACAL_OK) {
			rc = rd_error(&r, what, err);
			break;
		}
		rc = each(ud, rec);
		if (rc != CARACAL_OK) {
			caracal_error_set(err, rc, "storage_sqlite: %s: stopped by the callback",
			                  what);
			break;
		}
	}
	free(r.block);
	if (rc == CARACAL_OK && src != SQLITE_DONE)
		rc = ss_db_error(t, src, what, err);
	return rc;
}

/* ================================================================= ops */

static int op_migrate(void *tctx, int64_t *version, caracal_error *err)
{
	if (tctx == NULL)
		return inval(err, "migrate", "no thread context");
	return ss_migrate(tctx, version, err);
}

/* ------------------------------------------------------------ zones */

static const char sql_zone_ins[] = "INSERT INTO zones(id, name, created_at_us) VALUES (?1, ?2, ?3)";
static const char sql_zone_get[] = "SELECT " ZONE_COLS " FROM zones WHERE id = ?1 OR name = ?1"
                                   " ORDER BY id = ?1 DESC LIMIT 1";
static const char sql_zone_list[] = "SELECT " ZONE_COLS " FROM zones ORDER BY created_at_us, id";

static int op_zone_create(void *tctx, const caracal_zone *in, caracal_error *err)
{
	static const char what[] = "zone_create";
	ss_thread *t = tctx;
	caracal_zone z;
	sqlite3_stmt *st;
	int rc = in_copy(&z, sizeof z, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (z.id == NULL || z.name == NULL)
		return inval(err, what, "id and name are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_zone_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, z.id);
		b_str(&b, 2, z.name);
		b_int(&b, 3, now_or(t, z.created_at_us));
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_zone_get(void *tctx, const char *id_or_name, caracal_arena *arena, caracal_zone *out,
                       caracal_error *err)
{
	static const char what[] = "zone_get";
	ss_thread *t = tctx;
	caracal_zone z;
	sqlite3_stmt *st;
	int rc = out_check(out, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (id_or_name == NULL)
		return inval(err, what, "no id");
	if ((rc = tx_begin(t, 0, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_zone_get, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_STATIC);
		rc = get_row(t, st, read_zone, &z, sizeof z, arena, out, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_zone_list(void *tctx, caracal_record_fn each, void *ud, caracal_error *err)
{
	static const char what[] = "zone_list";
	ss_thread *t = tctx;
	caracal_zone z;
	sqlite3_stmt *st;
	int rc = tx_begin(t, 0, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_zone_list, &st, what, err)) == CARACAL_OK)
		rc = list_rows(t, st, read_zone, &z, sizeof z, each, ud, what, err);
	return tx_end(t, rc, what, err);
}

/* Shared shape of "get by (zone_id, key)" and "list by zone_id". */
static int get_by2(ss_thread *t, const char *sql, const char *zone_id, const char *key,
                   reader_fn read, void *rec, size_t rsize, caracal_arena *arena, void *out,
                   const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = out_check(out, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (zone_id == NULL || key == NULL)
		return inval(err, what, "zone_id and id are required");
	if ((rc = tx_begin(t, 0, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
		rc = get_row(t, st, read, rec, rsize, arena, out, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int list_by_zone(ss_thread *t, const char *sql, const char *zone_id, reader_fn read,
                        void *rec, size_t rsize, caracal_record_fn each, void *ud, const char *what,
                        caracal_error *err)
{
	sqlite3_stmt *st;
	if (zone_id == NULL)
		return inval(err, what, "zone_id is required");
	int rc = tx_begin(t, 0, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		rc = list_rows(t, st, read, rec, rsize, each, ud, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* Archive: set archived_at once. NOTFOUND when absent, CONFLICT when
 * already archived. */
static int archive(ss_thread *t, const char *sql_upd, const char *sql_exists, const char *zone_id,
                   const char *id, int64_t at_us, const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	if (zone_id == NULL || id == NULL)
		return inval(err, what, "zone_id and id are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_upd, &st, what, err)) != CARACAL_OK)
		return tx_end(t, rc, what, err);
	sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_or(t, at_us));
	if ((rc = step_done(t, st, what, err)) == CARACAL_OK && sqlite3_changes(t->db) == 0) {
		if ((rc = prep(t, sql_exists, &st, what, err)) == CARACAL_OK) {
			sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
			int src = sqlite3_step(st);
			if (src == SQLITE_ROW)
				rc =
				    caracal_error_set(err, CARACAL_E_CONFLICT,
				                      "storage_sqlite: %s: already archived", what);
			else if (src == SQLITE_DONE)
				rc = notfound(err, what);
			else
				rc = ss_db_error(t, src, what, err);
		}
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ applications */

static const char sql_app_ins[] =
    "INSERT INTO applications(id, zone_id, name, registration_method, client_secret_hash,"
    " traits, expires_at_us, archived_at_us, created_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_app_get[] =
    "SELECT " APP_COLS " FROM applications WHERE zone_id = ?1 AND id = ?2";
static const char sql_app_list[] =
    "SELECT " APP_COLS " FROM applications WHERE zone_id = ?1 ORDER BY created_at_us, id";
static const char sql_app_archive[] = "UPDATE applications SET archived_at_us = ?3"
                                      " WHERE zone_id = ?1 AND id = ?2 AND archived_at_us IS NULL";
static const char sql_app_exists[] = "SELECT 1 FROM applications WHERE zone_id = ?1 AND id = ?2";

static int op_application_create(void *tctx, const caracal_application *in, caracal_error *err)
{
	static const char what[] = "application_create";
	ss_thread *t = tctx;
	caracal_application a;
	sqlite3_stmt *st;
	int rc = in_copy(&a, sizeof a, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (a.id == NULL || a.zone_id == NULL || a.name == NULL)
		return inval(err, what, "id, zone_id and name are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_app_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, a.id);
		b_str(&b, 2, a.zone_id);
		b_str(&b, 3, a.name);
		b_str(&b, 4, a.registration_method != NULL ? a.registration_method : "managed");
		b_str(&b, 5, a.client_secret_hash);
		b_list(&b, 6, a.traits);
		b_time(&b, 7, a.expires_at_us);
		b_time(&b, 8, a.archived_at_us);
		b_int(&b, 9, now_or(t, a.created_at_us));
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_application_get(void *tctx, const char *zone_id, const char *id, caracal_arena *arena,
                              caracal_application *out, caracal_error *err)
{
	caracal_application a;
	return get_by2(tctx, sql_app_get, zone_id, id, read_app, &a, sizeof a, arena, out,
	               "application_get", err);
}

static const char sql_app_find[] = "SELECT " APP_COLS " FROM applications WHERE id = ?1";

/* Application ids are globally unique (the primary key): one indexed read. */
static int op_application_find(void *tctx, const char *id, caracal_arena *arena,
                               caracal_application *out, caracal_error *err)
{
	static const char what[] = "application_find";
	ss_thread *t = tctx;
	caracal_application a;
	sqlite3_stmt *st;
	int rc = out_check(out, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (id == NULL)
		return inval(err, what, "id is required");
	if ((rc = tx_begin(t, 0, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_app_find, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = get_row(t, st, read_app, &a, sizeof a, arena, out, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_application_list(void *tctx, const char *zone_id, caracal_record_fn each, void *ud,
                               caracal_error *err)
{
	caracal_application a;
	return list_by_zone(tctx, sql_app_list, zone_id, read_app, &a, sizeof a, each, ud,
	                    "application_list", err);
}

static int op_application_archive(void *tctx, const char *zone_id, const char *id, int64_t at_us,
                                  caracal_error *err)
{
	return archive(tctx, sql_app_archive, sql_app_exists, zone_id, id, at_us,
	               "application_archive", err);
}

/* ------------------------------------------------------------ resources */

static const char sql_res_ins[] =
    "INSERT INTO resources(id, zone_id, identifier, upstream_url, scopes,"
    " credential_provider_id, credential_json, operations_json, operation_enforcement,"
    " archived_at_us, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_res_get[] =
    "SELECT " RES_COLS " FROM resources WHERE zone_id = ?1 AND (id = ?2 OR identifier = ?2)"
    " AND archived_at_us IS NULL ORDER BY id = ?2 DESC LIMIT 1";
static const char sql_res_list[] = "SELECT " RES_COLS " FROM resources WHERE zone_id = ?1"
                                   " AND archived_at_us IS NULL ORDER BY created_at_us, id";
static const char sql_res_archive[] = "UPDATE resources SET archived_at_us = ?3"
                                      " WHERE zone_id = ?1 AND id = ?2 AND archived_at_us IS NULL";
static const char sql_res_exists[] = "SELECT 1 FROM resources WHERE zone_id = ?1 AND id = ?2";

static int op_resource_create(void *tctx, const caracal_resource *in, caracal_error *err)
{
	static const char what[] = "resource_create";
	ss_thread *t = tctx;
	caracal_resource x;
	sqlite3_stmt *st;
	int rc = in_copy(&x, sizeof x, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (x.id == NULL || x.zone_id == NULL || x.identifier == NULL)
		return inval(err, what, "id, zone_id and identifier are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_res_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, x.id);
		b_str(&b, 2, x.zone_id);
		b_str(&b, 3, x.identifier);
		b_str(&b, 4, x.upstream_url);
		b_list(&b, 5, x.scopes);
		b_str(&b, 6, x.credential_provider_id);
		b_json(&b, 7, x.credential_json);
		b_json(&b, 8, x.operations_json);
		b_str(&b, 9,
		      x.operation_enforcement != NULL ? x.operation_enforcement
		                                      : "transport_uniform");
		b_time(&b, 10, x.archived_at_us);
		b_int(&b, 11, now_or(t, x.created_at_us));
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_resource_get(void *tctx, const char *zone_id, const char *id_or_identifier,
                           caracal_arena *arena, caracal_resource *out, caracal_error *err)
{
	caracal_resource x;
	return get_by2(tctx, sql_res_get, zone_id, id_or_identifier, read_res, &x, sizeof x, arena,
	               out, "resource_get", err);
}

static int op_resource_list(void *tctx, const char *zone_id, caracal_record_fn each, void *ud,
                            caracal_error *err)
{
	caracal_resource x;
	return list_by_zone(tctx, sql_res_list, zone_id, read_res, &x, sizeof x, each, ud,
	                    "resource_list", err);
}

static int op_resource_archive(void *tctx, const char *zone_id, const char *id, int64_t at_us,
                               caracal_error *err)
{
	return archive(tctx, sql_res_archive, sql_res_exists, zone_id, id, at_us,
	               "resource_archive", err);
}

/* ------------------------------------------------------------ grants */

static const char sql_grant_ins[] =
    "INSERT INTO grants(id, zone_id, application_id, resource_id, scopes, created_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_grant_list[] =
    "SELECT " GRANT_COLS " FROM grants WHERE zone_id = ?1"
    " AND (?2 IS NULL OR application_id = ?2) AND (?3 IS NULL OR resource_id = ?3)"
    " ORDER BY created_at_us, id";
static const char sql_grant_del[] = "DELETE FROM grants WHERE zone_id = ?1 AND id = ?2";

static int op_grant_create(void *tctx, const caracal_grant *in, caracal_error *err)
{
	static const char what[] = "grant_create";
	ss_thread *t = tctx;
	caracal_grant g;
	sqlite3_stmt *st;
	int rc = in_copy(&g, sizeof g, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (g.id == NULL || g.zone_id == NULL || g.application_id == NULL || g.resource_id == NULL)
		return inval(err, what, "id, zone_id, application_id and resource_id are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_grant_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, g.id);
		b_str(&b, 2, g.zone_id);
		b_str(&b, 3, g.application_id);
		b_str(&b, 4, g.resource_id);
		b_list(&b, 5, g.scopes);
		b_int(&b, 6, now_or(t, g.created_at_us));
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_grant_list(void *tctx, const char *zone_id, const char *application_id,
                         const char *resource_id, caracal_record_fn each, void *ud,
                         caracal_error *err)
{
	static const char what[] = "grant_list";
	ss_thread *t = tctx;
	caracal_grant g;
	sqlite3_stmt *st;
	if (zone_id == NULL)
		return inval(err, what, "zone_id is required");
	int rc = tx_begin(t, 0, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_grant_list, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, zone_id);
		b_str(&b, 2, application_id);
		b_str(&b, 3, resource_id);
		rc = b.rc != SQLITE_OK
		         ? bind_error(t, &b, what, err)
		         : list_rows(t, st, read_grant, &g, sizeof g, each, ud, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_grant_delete(void *tctx, const char *zone_id, const char *id, caracal_error *err)
{
	static const char what[] = "grant_delete";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (zone_id == NULL || id == NULL)
		return inval(err, what, "zone_id and id are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_grant_del, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		if ((rc = step_done(t, st, what, err)) == CARACAL_OK && sqlite3_changes(t->db) == 0)
			rc = notfound(err, what);
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ policy versions */

static const char sql_pv_ins[] =
    "INSERT INTO policy_versions(id, zone_id, version, source, sha256, created_at_us)"
    " SELECT ?1, ?2, coalesce(max(version), 0) + 1, ?3, ?4, ?5 FROM policy_versions"
    " WHERE zone_id = ?2 RETURNING version";
static const char sql_pv_get[] =
    "SELECT " PV_COLS " FROM policy_versions p LEFT JOIN policy_active a"
    " ON a.zone_id = p.zone_id AND a.policy_version_id = p.id WHERE p.zone_id = ?1 AND p.id = ?2";
static const char sql_pv_activate[] =
    "INSERT INTO policy_active(zone_id, policy_version_id, activated_at_us)"
    " SELECT zone_id, id, ?3 FROM policy_versions WHERE zone_id = ?1 AND id = ?2"
    " ON CONFLICT(zone_id) DO UPDATE SET policy_version_id = excluded.policy_version_id,"
    " activated_at_us = excluded.activated_at_us";
static const char sql_pv_active[] =
    "SELECT " PV_COLS " FROM policy_active a JOIN policy_versions p"
    " ON p.zone_id = a.zone_id AND p.id = a.policy_version_id WHERE a.zone_id = ?1";

static int op_policy_version_create(void *tctx, caracal_policy_version *in_out, caracal_error *err)
{
	static const char what[] = "policy_version_create";
	ss_thread *t = tctx;
	caracal_policy_version p;
	sqlite3_stmt *st;
	int rc = in_copy(&p, sizeof p, in_out, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (p.id == NULL || p.zone_id == NULL || p.sha256 == NULL || p.source.ptr == NULL)
		return inval(err, what, "id, zone_id, source and sha256 are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_pv_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, p.id);
		b_str(&b, 2, p.zone_id);
		if (b.rc == SQLITE_OK)
			b.rc = sqlite3_bind_text64(st, 3, p.source.ptr, p.source.len, SQLITE_STATIC,
			                           SQLITE_UTF8);
		b_str(&b, 4, p.sha256);
		b_int(&b, 5, now_or(t, p.created_at_us));
		if (b.rc != SQLITE_OK) {
			rc = bind_error(t, &b, what, err);
		} else {
			int src = sqlite3_step(st);
			if (src == SQLITE_ROW) {
				p.version = sqlite3_column_int64(st, 0);
				src = sqlite3_step(st);
			}
			rc = src == SQLITE_DONE ? CARACAL_OK : ss_db_error(t, src, what, err);
			sqlite3_reset(st);
		}
	}
	rc = tx_end(t, rc, what, err);
	if (rc == CARACAL_OK && HAS(in_out, version))
		in_out->version = p.version;
	return rc;
}

static int op_policy_version_get(void *tctx, const char *zone_id, const char *id,
                                 caracal_arena *arena, caracal_policy_version *out,
                                 caracal_error *err)
{
	caracal_policy_version p;
	return get_by2(tctx, sql_pv_get, zone_id, id, read_pv, &p, sizeof p, arena, out,
	               "policy_version_get", err);
}

static int op_policy_activate(void *tctx, const char *zone_id, const char *id, caracal_error *err)
{
	static const char what[] = "policy_activate";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (zone_id == NULL || id == NULL)
		return inval(err, what, "zone_id and id are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_pv_activate, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, t->inst->host->now_us());
		if ((rc = step_done(t, st, what, err)) == CARACAL_OK && sqlite3_changes(t->db) == 0)
			rc = notfound(err, what);
	}
	return tx_end(t, rc, what, err);
}

static int op_policy_active_get(void *tctx, const char *zone_id, caracal_arena *arena,
                                caracal_policy_version *out, caracal_error *err)
{
	static const char what[] = "policy_active_get";
	ss_thread *t = tctx;
	caracal_policy_version p;
	sqlite3_stmt *st;
	int rc = out_check(out, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (zone_id == NULL)
		return inval(err, what, "zone_id is required");
	if ((rc = tx_begin(t, 0, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_pv_active, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		rc = get_row(t, st, read_pv, &p, sizeof p, arena, out, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ authority records */

static const char sql_ar_ins[] =
    "INSERT INTO authority_records(id, zone_id, session_type, subject_id, parent_id, status,"
    " expires_at_us, authenticated_at_us, claims_json, revoked_at_us, revoked_reason)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_ar_parent_live[] =
    "SELECT 1 FROM authority_records WHERE zone_id = ?1 AND id = ?2 AND status = 'active'"
    " AND expires_at_us > ?3";
static const char sql_ar_get[] =
    "SELECT " AR_COLS " FROM authority_records WHERE zone_id = ?1 AND id = ?2";

/* Insert a (copied, checked) record inside an open write transaction. */
static int ar_insert(ss_thread *t, const caracal_authority_record *a, const char *what,
                     caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql_ar_ins, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	bnd b = {st, SQLITE_OK};
	b_str(&b, 1, a->id);
	b_str(&b, 2, a->zone_id);
	b_str(&b, 3, a->session_type);
	b_str(&b, 4, a->subject_id);
	b_str(&b, 5, a->parent_id);
	b_str(&b, 6, a->status != NULL ? a->status : "active");
	b_time(&b, 7, a->expires_at_us);
	b_time(&b, 8, a->authenticated_at_us);
	b_json(&b, 9, a->claims_json);
	b_time(&b, 10, a->revoked_at_us);
	b_str(&b, 11, a->revoked_reason);
	return b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
}

static int ar_copy(caracal_authority_record *a, const caracal_authority_record *in,
                   const char *what, caracal_error *err)
{
	int rc = in_copy(a, sizeof *a, in, what, err);
	if (rc == CARACAL_OK && (a->id == NULL || a->zone_id == NULL || a->session_type == NULL ||
	                         a->subject_id == NULL))
		rc = inval(err, what, "id, zone_id, session_type and subject_id are required");
	return rc;
}

static int op_authority_record_create(void *tctx, const caracal_authority_record *in,
                                      caracal_error *err)
{
	static const char what[] = "authority_record_create";
	ss_thread *t = tctx;
	caracal_authority_record a;
	int rc = ar_copy(&a, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	return tx_end(t, ar_insert(t, &a, what, err), what, err);
}

static int op_authority_record_get(void *tctx, const char *zone_id, const char *id,
                                   caracal_arena *arena, caracal_authority_record *out,
                                   caracal_error *err)
{
	caracal_authority_record a;
	return get_by2(tctx, sql_ar_get, zone_id, id, read_ar, &a, sizeof a, arena, out,
	               "authority_record_get", err);
}

/* ------------------------------------------------------------ sessions */

static const char sql_sess_ins[] =
    "INSERT INTO sessions(id, zone_id, application_id, parent_id, subject_authority_record_id,"
    " status, lifecycle, depth, labels, started_at_us, ttl_seconds, heartbeat_deadline_at_us,"
    " ended_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char sql_sess_get[] =
    "SELECT " SESS_COLS " FROM sessions WHERE zone_id = ?1 AND id = ?2";
static const char sql_sess_cas[] =
    "UPDATE sessions SET status = ?4, ended_at_us = CASE WHEN ?4 IN ('terminated', 'expired')"
    " THEN coalesce(ended_at_us, ?5) ELSE ended_at_us END"
    " WHERE zone_id = ?1 AND id = ?2 AND status = ?3";
static const char sql_sess_hb[] = "UPDATE sessions SET heartbeat_deadline_at_us = ?3"
                                  " WHERE zone_id = ?1 AND id = ?2 AND status = 'active'";
static const char sql_sess_exists[] = "SELECT 1 FROM sessions WHERE zone_id = ?1 AND id = ?2";

static int op_session_create(void *tctx, const caracal_session *in, caracal_error *err)
{
	static const char what[] = "session_create";
	ss_thread *t = tctx;
	caracal_session s;
	sqlite3_stmt *st;
	int rc = in_copy(&s, sizeof s, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (s.id == NULL || s.zone_id == NULL || s.application_id == NULL ||
	    s.subject_authority_record_id == NULL || s.lifecycle == NULL)
		return inval(err, what,
		             "id, zone_id, application_id, subject_authority_record_id and "
		             "lifecycle are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_sess_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, s.id);
		b_str(&b, 2, s.zone_id);
		b_str(&b, 3, s.application_id);
		b_str(&b, 4, s.parent_id);
		b_str(&b, 5, s.subject_authority_record_id);
		b_str(&b, 6, s.status != NULL ? s.status : "active");
		b_str(&b, 7, s.lifecycle);
		b_int(&b, 8, s.depth);
		b_list(&b, 9, s.labels);
		b_int(&b, 10, now_or(t, s.started_at_us));
		b_int(&b, 11, s.ttl_seconds);
		b_time(&b, 12, s.heartbeat_deadline_at_us);
		b_time(&b, 13, s.ended_at_us);
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_session_get(void *tctx, const char *zone_id, const char *id, caracal_arena *arena,
                          caracal_session *out, caracal_error *err)
{
	caracal_session s;
	return get_by2(tctx, sql_sess_get, zone_id, id, read_sess, &s, sizeof s, arena, out,
	               "session_get", err);
}

/* After a guarded UPDATE changed nothing: NOTFOUND or CONFLICT. */
static int absent_or_conflict(ss_thread *t, const char *sql_exists, const char *zone_id,
                              const char *id, const char *why, const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql_exists, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	int src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src == SQLITE_ROW)
		return caracal_error_set(err, CARACAL_E_CONFLICT, "storage_sqlite: %s: %s", what,
		                         why);
	if (src == SQLITE_DONE)
		return notfound(err, what);
	return ss_db_error(t, src, what, err);
}

static int op_session_set_status(void *tctx, const char *zone_id, const char *id, const char *from,
                                 const char *to, int64_t at_us, caracal_error *err)
{
	static const char what[] = "session_set_status";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (zone_id == NULL || id == NULL || from == NULL || to == NULL)
		return inval(err, what, "zone_id, id, from and to are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_sess_cas, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, zone_id);
		b_str(&b, 2, id);
		b_str(&b, 3, from);
		b_str(&b, 4, to);
		b_int(&b, 5, now_or(t, at_us));
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
		if (rc == CARACAL_OK && sqlite3_changes(t->db) == 0)
			rc = absent_or_conflict(t, sql_sess_exists, zone_id, id,
			                        "status is not the expected one", what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_session_heartbeat(void *tctx, const char *zone_id, const char *id,
                                int64_t deadline_us, caracal_error *err)
{
	static const char what[] = "session_heartbeat";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (zone_id == NULL || id == NULL)
		return inval(err, what, "zone_id and id are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_sess_hb, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, deadline_us);
		rc = step_done(t, st, what, err);
		if (rc == CARACAL_OK && sqlite3_changes(t->db) == 0)
			rc = absent_or_conflict(t, sql_sess_exists, zone_id, id,
			                        "the session is not active", what, err);
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ delegations */

static const char sql_del_ins[] =
    "INSERT INTO delegation_edges(id, zone_id, source_session_id, target_session_id,"
    " issuer_application_id, receiver_application_id, parent_edge_id, resource_id, scopes,"
    " constraints_json, status, expires_at_us, edge_version, revoked_at_us, created_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
static const char sql_del_get[] =
    "SELECT " DEL_COLS " FROM delegation_edges WHERE zone_id = ?1 AND id = ?2";
static const char sql_epoch_bump[] =
    "INSERT INTO delegation_graph_epochs(zone_id, epoch) VALUES (?1, 1)"
    " ON CONFLICT(zone_id) DO UPDATE SET epoch = epoch + 1";
static const char sql_epoch_get[] =
    "SELECT coalesce(e.epoch, 0) FROM zones z LEFT JOIN delegation_graph_epochs e"
    " ON e.zone_id = z.id WHERE z.id = ?1";

static int bump_epoch(ss_thread *t, const char *zone_id, const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql_epoch_bump, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
	return step_done(t, st, what, err);
}

static int op_delegation_create(void *tctx, const caracal_delegation *in, caracal_error *err)
{
	static const char what[] = "delegation_create";
	ss_thread *t = tctx;
	caracal_delegation d;
	sqlite3_stmt *st;
	int rc = in_copy(&d, sizeof d, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (d.id == NULL || d.zone_id == NULL || d.source_session_id == NULL ||
	    d.target_session_id == NULL || d.issuer_application_id == NULL ||
	    d.receiver_application_id == NULL)
		return inval(err, what, "id, zone_id, sessions and applications are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_del_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, d.id);
		b_str(&b, 2, d.zone_id);
		b_str(&b, 3, d.source_session_id);
		b_str(&b, 4, d.target_session_id);
		b_str(&b, 5, d.issuer_application_id);
		b_str(&b, 6, d.receiver_application_id);
		b_str(&b, 7, d.parent_edge_id);
		b_str(&b, 8, d.resource_id);
		b_list(&b, 9, d.scopes);
		b_json(&b, 10, d.constraints_json);
		b_str(&b, 11, d.status != NULL ? d.status : "active");
		b_time(&b, 12, d.expires_at_us);
		b_int(&b, 13, d.edge_version != 0 ? d.edge_version : 1);
		b_time(&b, 14, d.revoked_at_us);
		b_int(&b, 15, now_or(t, d.created_at_us));
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	if (rc == CARACAL_OK)
		rc = bump_epoch(t, d.zone_id, what, err);
	return tx_end(t, rc, what, err);
}

static int op_delegation_get(void *tctx, const char *zone_id, const char *id, caracal_arena *arena,
                             caracal_delegation *out, caracal_error *err)
{
	caracal_delegation d;
	return get_by2(tctx, sql_del_get, zone_id, id, read_del, &d, sizeof d, arena, out,
	               "delegation_get", err);
}

static int op_delegation_epoch(void *tctx, const char *zone_id, int64_t *epoch, caracal_error *err)
{
	static const char what[] = "delegation_epoch";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (zone_id == NULL || epoch == NULL)
		return inval(err, what, "zone_id and epoch are required");
	int rc = tx_begin(t, 0, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_epoch_get, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		int src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*epoch = sqlite3_column_int64(st, 0);
		else if (src == SQLITE_DONE)
			rc = notfound(err, what);
		else
			rc = ss_db_error(t, src, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ approvals */

static const char sql_appr_ins[] =
    "INSERT INTO approvals(id, zone_id, session_id, principal_id, application_id, tier,"
    " approver_class, privacy_mode, subject_anchor, binding_hex, expires_at_us,"
    " satisfied_at_us, rejected_at_us, consumed_at_us, consumed_authority_record_id,"
    " approver_subject_id, decision_reason, metadata_json, created_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19)";
static const char sql_appr_get[] =
    "SELECT " APPR_COLS " FROM approvals WHERE zone_id = ?1 AND id = ?2";
static const char sql_appr_pending[] =
    "SELECT " APPR_COLS " FROM approvals WHERE zone_id = ?1 AND satisfied_at_us IS NULL"
    " AND rejected_at_us IS NULL AND consumed_at_us IS NULL AND expires_at_us > ?2"
    " ORDER BY created_at_us, id";
static const char sql_appr_decide[] =
    "UPDATE approvals SET satisfied_at_us = CASE WHEN ?3 THEN ?4 END,"
    " rejected_at_us = CASE WHEN ?3 THEN NULL ELSE ?4 END,"
    " approver_subject_id = ?5, decision_reason = ?6"
    " WHERE zone_id = ?1 AND id = ?2 AND satisfied_at_us IS NULL AND rejected_at_us IS NULL"
    " AND consumed_at_us IS NULL AND expires_at_us > ?4";
static const char sql_appr_consume[] =
    "UPDATE approvals SET consumed_at_us = ?3, consumed_authority_record_id = ?4"
    " WHERE zone_id = ?1 AND id = ?2 AND consumed_at_us IS NULL"
    " AND satisfied_at_us IS NOT NULL AND rejected_at_us IS NULL AND expires_at_us > ?3"
    " AND approver_subject_id IS NOT NULL"
    /* The requester's authority record, when the hold names one, must still
     * be live: a revocation between the check and the consumption wins. */
    " AND (session_id = '' OR EXISTS (SELECT 1 FROM authority_records r"
    "  WHERE r.zone_id = ?1 AND r.id = approvals.session_id AND r.status = 'active'"
    "  AND r.expires_at_us > ?3))";
static const char sql_appr_state[] =
    "SELECT consumed_at_us IS NOT NULL, rejected_at_us IS NOT NULL, satisfied_at_us IS NOT NULL,"
    " expires_at_us <= ?3 FROM approvals WHERE zone_id = ?1 AND id = ?2";

static int appr_copy(caracal_approval *a, const caracal_approval *in, const char *what,
                     caracal_error *err)
{
	int rc = in_copy(a, sizeof *a, in, what, err);
	if (rc == CARACAL_OK &&
	    (a->id == NULL || a->zone_id == NULL || a->principal_id == NULL ||
	     a->application_id == NULL || a->binding_hex == NULL || a->expires_at_us == 0))
		rc = inval(err, what,
		           "id, zone_id, principal_id, application_id, binding_hex and "
		           "expires_at_us are required");
	return rc;
}

/* Insert a checked hold inside an open write transaction. */
static int appr_insert(ss_thread *t, const caracal_approval *a, const char *what,
                       caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql_appr_ins, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	bnd b = {st, SQLITE_OK};
	b_str(&b, 1, a->id);
	b_str(&b, 2, a->zone_id);
	b_str(&b, 3, a->session_id != NULL ? a->session_id : "");
	b_str(&b, 4, a->principal_id);
	b_str(&b, 5, a->application_id);
	b_str(&b, 6, a->tier);
	b_str(&b, 7, a->approver_class != NULL ? a->approver_class : "operator");
	b_str(&b, 8, a->privacy_mode);
	b_str(&b, 9, a->subject_anchor);
	b_str(&b, 10, a->binding_hex);
	b_int(&b, 11, a->expires_at_us);
	b_time(&b, 12, a->satisfied_at_us);
	b_time(&b, 13, a->rejected_at_us);
	b_time(&b, 14, a->consumed_at_us);
	b_str(&b, 15, a->consumed_authority_record_id);
	b_str(&b, 16, a->approver_subject_id);
	b_str(&b, 17, a->decision_reason);
	b_json(&b, 18, a->metadata_json);
	b_int(&b, 19, now_or(t, a->created_at_us));
	return b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
}

static int op_approval_create(void *tctx, const caracal_approval *in, caracal_error *err)
{
	static const char what[] = "approval_create";
	ss_thread *t = tctx;
	caracal_approval a;
	int rc = appr_copy(&a, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	return tx_end(t, appr_insert(t, &a, what, err), what, err);
}

static const char sql_appr_sweep[] =
    "DELETE FROM approvals WHERE max(coalesce(consumed_at_us, 0), coalesce(rejected_at_us, 0),"
    " expires_at_us) < ?1";

static int op_approval_sweep(void *tctx, int64_t before_us, uint64_t *count, caracal_error *err)
{
	static const char what[] = "approval_sweep";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_appr_sweep, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_int64(st, 1, before_us);
		rc = step_done(t, st, what, err);
	}
	uint64_t n = rc == CARACAL_OK ? (uint64_t)sqlite3_changes(t->db) : 0;
	rc = tx_end(t, rc, what, err);
	if (count != NULL)
		*count = rc == CARACAL_OK ? n : 0;
	return rc;
}

static const char sql_appr_drop_expired[] =
    "DELETE FROM approvals WHERE zone_id = ?1 AND principal_id = ?2 AND session_id = ?3"
    " AND binding_hex = ?4 AND consumed_at_us IS NULL AND expires_at_us <= ?5";
static const char sql_appr_live[] =
    "SELECT " APPR_COLS " FROM approvals WHERE zone_id = ?1 AND principal_id = ?2"
    " AND session_id = ?3 AND binding_hex = ?4 AND consumed_at_us IS NULL"
    " ORDER BY created_at_us, id LIMIT 1";

/* The live hold of (zone, principal, session, binding), in an open write
 * transaction: OK with it in out, NOTFOUND when there is none. */
static int appr_live(ss_thread *t, const caracal_approval *key, caracal_arena *arena,
                     caracal_approval *out, const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	caracal_approval rec;
	int rc = prep(t, sql_appr_live, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	sqlite3_bind_text(st, 1, key->zone_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key->principal_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key->session_id != NULL ? key->session_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, key->binding_hex, -1, SQLITE_STATIC);
	return get_row(t, st, read_appr, &rec, sizeof rec, arena, out, what, err);
}

/* Get-or-create in one write transaction (storage.h): SQLite serialises
 * write transactions across connections and processes, so two exchanges
 * asking at once get the same hold. */
static int op_approval_get_or_create(void *tctx, const caracal_approval *in, int64_t now_us,
                                     caracal_arena *arena, caracal_approval *out, int *created,
                                     caracal_error *err)
{
	static const char what[] = "approval_get_or_create";
	ss_thread *t = tctx;
	caracal_approval a;
	sqlite3_stmt *st;
	int dummy;
	if (created == NULL)
		created = &dummy;
	*created = 0;
	int rc = out_check(out, what, err);
	if (rc == CARACAL_OK)
		rc = appr_copy(&a, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (arena == NULL)
		return inval(err, what, "no arena");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	int64_t now = now_or(t, now_us);
	if ((rc = prep(t, sql_appr_drop_expired, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, a.zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, a.principal_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a.session_id != NULL ? a.session_id : "", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a.binding_hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		rc = step_done(t, st, what, err);
	}
	if (rc == CARACAL_OK)
		rc = appr_live(t, &a, arena, out, what, err);
	if (rc == CARACAL_E_NOTFOUND) {
		rc = appr_insert(t, &a, what, err);
		if (rc == CARACAL_OK)
			rc = appr_live(t, &a, arena, out, what, err);
		if (rc == CARACAL_OK)
			*created = 1;
	}
	rc = tx_end(t, rc, what, err);
	if (rc != CARACAL_OK)
		*created = 0;
	return rc;
}

static int op_approval_get(void *tctx, const char *zone_id, const char *id, caracal_arena *arena,
                           caracal_approval *out, caracal_error *err)
{
	caracal_approval a;
	return get_by2(tctx, sql_appr_get, zone_id, id, read_appr, &a, sizeof a, arena, out,
	               "approval_get", err);
}

static int op_approval_list_pending(void *tctx, const char *zone_id, int64_t now_us,
                                    caracal_record_fn each, void *ud, caracal_error *err)
{
	static const char what[] = "approval_list_pending";
	ss_thread *t = tctx;
	caracal_approval a;
	sqlite3_stmt *st;
	if (zone_id == NULL)
		return inval(err, what, "zone_id is required");
	int rc = tx_begin(t, 0, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_appr_pending, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_or(t, now_us));
		rc = list_rows(t, st, read_appr, &a, sizeof a, each, ud, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* Why a guarded approval UPDATE changed nothing. */
static int approval_why(ss_thread *t, const char *zone_id, const char *id, int64_t at,
                        const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql_appr_state, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, at);
	int src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = notfound(err, what);
	else if (src != SQLITE_ROW)
		rc = ss_db_error(t, src, what, err);
	else
		rc = caracal_error_set(err, CARACAL_E_CONFLICT, "storage_sqlite: %s: approval %s",
		                       what,
		                       sqlite3_column_int(st, 0)   ? "already consumed"
		                       : sqlite3_column_int(st, 1) ? "was rejected"
		                       : sqlite3_column_int(st, 3) ? "has expired"
		                       : sqlite3_column_int(st, 2) ? "already decided"
		                                                   : "is not approved");
	sqlite3_reset(st);
	return rc;
}

static int op_approval_decide(void *tctx, const char *zone_id, const char *id, int approve,
                              const char *approver_subject_id, const char *reason, int64_t at_us,
                              caracal_error *err)
{
	static const char what[] = "approval_decide";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (zone_id == NULL || id == NULL)
		return inval(err, what, "zone_id and id are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	int64_t at = now_or(t, at_us);
	if ((rc = prep(t, sql_appr_decide, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, zone_id);
		b_str(&b, 2, id);
		b_int(&b, 3, approve != 0);
		b_int(&b, 4, at);
		b_str(&b, 5, approver_subject_id);
		b_str(&b, 6, reason);
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
		if (rc == CARACAL_OK && sqlite3_changes(t->db) == 0)
			rc = approval_why(t, zone_id, id, at, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* Consume inside an open write transaction: CONFLICT (or NOTFOUND) with the
 * reason when the approval cannot be consumed. */
static int appr_consume(ss_thread *t, const char *zone_id, const char *id,
                        const char *authority_record_id, int64_t at, const char *what,
                        caracal_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(t, sql_appr_consume, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	bnd b = {st, SQLITE_OK};
	b_str(&b, 1, zone_id);
	b_str(&b, 2, id);
	b_int(&b, 3, at);
	b_str(&b, 4, authority_record_id);
	rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	if (rc == CARACAL_OK && sqlite3_changes(t->db) == 0)
		rc = approval_why(t, zone_id, id, at, what, err);
	return rc;
}

static int op_approval_consume(void *tctx, const char *zone_id, const char *id,
                               const char *authority_record_id, int64_t at_us, caracal_error *err)
{
	static const char what[] = "approval_consume";
	ss_thread *t = tctx;
	if (zone_id == NULL || id == NULL)
		return inval(err, what, "zone_id and id are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	rc = appr_consume(t, zone_id, id, authority_record_id, now_or(t, at_us), what, err);
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ revocation */

static const char sql_rev_ar_exists[] =
    "SELECT 1 FROM authority_records WHERE zone_id = ?1 AND id = ?2";
static const char sql_rev_del_exists[] =
    "SELECT 1 FROM delegation_edges WHERE zone_id = ?1 AND id = ?2";
static const char sql_rev_ar[] =
    "WITH RECURSIVE sub(id) AS (SELECT ?2 UNION SELECT a.id FROM authority_records a"
    " JOIN sub ON a.zone_id = ?1 AND a.parent_id = sub.id)"
    " UPDATE authority_records SET status = 'revoked', revoked_at_us = ?3, revoked_reason = ?4"
    " WHERE zone_id = ?1 AND id IN (SELECT id FROM sub) AND status = 'active'";
static const char sql_rev_sess[] =
    "WITH RECURSIVE sub(id) AS (SELECT ?2 UNION SELECT s.id FROM sessions s"
    " JOIN sub ON s.zone_id = ?1 AND s.parent_id = sub.id)"
    " UPDATE sessions SET status = 'terminated', ended_at_us = coalesce(ended_at_us, ?3)"
    " WHERE zone_id = ?1 AND id IN (SELECT id FROM sub) AND status IN ('active', 'suspended')";
static const char sql_rev_del[] =
    "WITH RECURSIVE sub(id) AS (SELECT ?2 UNION SELECT d.id FROM delegation_edges d"
    " JOIN sub ON d.zone_id = ?1 AND d.parent_edge_id = sub.id)"
    " UPDATE delegation_edges SET status = 'revoked', revoked_at_us = ?3,"
    " edge_version = edge_version + 1"
    " WHERE zone_id = ?1 AND id IN (SELECT id FROM sub) AND status = 'active'";
static const char sql_rev_ins[] =
    "INSERT INTO revocations(zone_id, kind, target_id, reason, revoked_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_rev_list[] =
    "SELECT " REV_COLS " FROM revocations WHERE (?1 IS NULL OR zone_id = ?1) AND seq > ?2"
    " ORDER BY seq";

static int op_revoke(void *tctx, caracal_revocation *in_out, uint64_t *count, caracal_error *err)
{
	static const char what[] = "revoke";
	ss_thread *t = tctx;
	caracal_revocation v;
	const char *exists, *update;
	sqlite3_stmt *st;
	int rc = in_copy(&v, sizeof v, in_out, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (v.zone_id == NULL || v.target_id == NULL)
		return inval(err, what, "zone_id and target_id are required");
	switch (v.kind) {
	case CARACAL_REVOKE_AUTHORITY_RECORD:
		exists = sql_rev_ar_exists;
		update = sql_rev_ar;
		break;
	case CARACAL_REVOKE_SESSION:
		exists = sql_sess_exists;
		update = sql_rev_sess;
		break;
	case CARACAL_REVOKE_DELEGATION:
		exists = sql_rev_del_exists;
		update = sql_rev_del;
		break;
	default:
		return inval(err, what, "unknown revocation kind");
	}
	int64_t at = now_or(t, v.revoked_at_us);
	int64_t seq = 0, changed = 0;
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	/* The target must exist in the zone. */
	if ((rc = prep(t, exists, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, v.zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, v.target_id, -1, SQLITE_STATIC);
		int src = sqlite3_step(st);
		if (src == SQLITE_DONE)
			rc = notfound(err, what);
		else if (src != SQLITE_ROW)
			rc = ss_db_error(t, src, what, err);
		sqlite3_reset(st);
	}
	if (rc == CARACAL_OK && (rc = prep(t, update, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, v.zone_id);
		b_str(&b, 2, v.target_id);
		b_int(&b, 3, at);
		if (v.kind == CARACAL_REVOKE_AUTHORITY_RECORD)
			b_str(&b, 4, v.reason != NULL ? v.reason : "session_revoked");
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
		changed = sqlite3_changes(t->db);
	}
	if (rc == CARACAL_OK && v.kind == CARACAL_REVOKE_DELEGATION)
		rc = bump_epoch(t, v.zone_id, what, err);
	if (rc == CARACAL_OK && (rc = prep(t, sql_rev_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, v.zone_id);
		b_int(&b, 2, (int64_t)v.kind);
		b_str(&b, 3, v.target_id);
		b_str(&b, 4, v.reason);
		b_int(&b, 5, at);
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
		seq = sqlite3_last_insert_rowid(t->db);
	}
	rc = tx_end(t, rc, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (HAS(in_out, seq))
		in_out->seq = seq;
	if (HAS(in_out, revoked_at_us) && in_out->revoked_at_us == 0)
		in_out->revoked_at_us = at;
	if (count != NULL)
		*count = (uint64_t)changed;
	return CARACAL_OK;
}

static int op_revocation_list(void *tctx, const char *zone_id, int64_t after_seq,
                              caracal_record_fn each, void *ud, caracal_error *err)
{
	static const char what[] = "revocation_list";
	ss_thread *t = tctx;
	caracal_revocation v;
	sqlite3_stmt *st;
	int rc = tx_begin(t, 0, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_rev_list, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, zone_id);
		b_int(&b, 2, after_seq);
		rc = b.rc != SQLITE_OK
		         ? bind_error(t, &b, what, err)
		         : list_rows(t, st, read_rev, &v, sizeof v, each, ud, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ single use, rates */

static const char sql_su_claim[] =
    "INSERT INTO single_use_ids(zone_id, id, expires_at_us) VALUES (?1, ?2, ?3)"
    " ON CONFLICT(zone_id, id) DO UPDATE SET expires_at_us = excluded.expires_at_us"
    " WHERE single_use_ids.expires_at_us <= ?4";
static const char sql_su_purge[] =
    "DELETE FROM single_use_ids WHERE (zone_id, id) IN (SELECT zone_id, id FROM single_use_ids"
    " WHERE expires_at_us <= ?1 LIMIT 256)";
static const char sql_rate_ins[] =
    "INSERT INTO rate_windows(key, window_start_us, window_end_us, hits) VALUES (?1, ?2, ?3, 0)"
    " ON CONFLICT(key, window_start_us) DO NOTHING";
static const char sql_rate_take[] =
    "UPDATE rate_windows SET hits = hits + min(?4, ?3 - hits) WHERE key = ?1"
    " AND window_start_us = ?2 AND hits < ?3 RETURNING hits";
static const char sql_rate_get[] =
    "SELECT hits FROM rate_windows WHERE key = ?1 AND window_start_us = ?2";
#define SS_RATE_KEEP_US (3600 * 1000000LL)
static const char sql_rate_purge[] =
    "DELETE FROM rate_windows WHERE rowid IN (SELECT rowid FROM rate_windows"
    " WHERE window_end_us <= ?1 LIMIT 256)";

/* Claim inside an open write transaction; CONFLICT when already claimed.
 * Expired ids are purged now and then, in a claim's transaction. */
static int su_claim(ss_thread *t, const char *zone_id, const char *id, int64_t expires_at_us,
                    const char *what, caracal_error *err)
{
	sqlite3_stmt *st;
	int64_t now = t->inst->host->now_us();
	int rc = prep(t, sql_su_claim, &st, what, err);
	if (rc != CARACAL_OK)
		return rc;
	sqlite3_bind_text(st, 1, zone_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, expires_at_us);
	sqlite3_bind_int64(st, 4, now);
	rc = step_done(t, st, what, err);
	if (rc == CARACAL_OK && sqlite3_changes(t->db) == 0)
		rc = caracal_error_set(err, CARACAL_E_CONFLICT,
		                       "storage_sqlite: %s: already claimed", what);
	if (rc == CARACAL_OK && ++t->claims % SS_PURGE_EVERY == 0 &&
	    (rc = prep(t, sql_su_purge, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_int64(st, 1, now);
		rc = step_done(t, st, what, err);
	}
	return rc;
}

static int op_single_use_claim(void *tctx, const char *zone_id, const char *id,
                               int64_t expires_at_us, caracal_error *err)
{
	static const char what[] = "single_use_claim";
	ss_thread *t = tctx;
	if (zone_id == NULL || id == NULL || expires_at_us == 0)
		return inval(err, what, "zone_id, id and expires_at_us are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	return tx_end(t, su_claim(t, zone_id, id, expires_at_us, what, err), what, err);
}

/* A mint's three writes inside an open write transaction (storage.h):
 * record, jti, approval. */
static int mint_one(ss_thread *t, const caracal_mint_write *in, int *conflict, const char *what,
                    caracal_error *err)
{
	caracal_mint_write m;
	caracal_authority_record a;
	*conflict = 0;
	int rc = in_copy(&m, sizeof m, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = ar_copy(&a, m.record, what, err)) != CARACAL_OK)
		return rc;
	if (m.jti == NULL || m.jti_expires_at_us == 0)
		return inval(err, what, "jti and jti_expires_at_us are required");
	/* A child only under a live parent, checked in this transaction: a
	 * revocation that committed while the mint waited for its batch wins. */
	if (a.parent_id != NULL) {
		sqlite3_stmt *st;
		if ((rc = prep(t, sql_ar_parent_live, &st, what, err)) != CARACAL_OK)
			return rc;
		sqlite3_bind_text(st, 1, a.zone_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, a.parent_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now_or(t, m.at_us));
		int src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src == SQLITE_DONE) {
			*conflict = CARACAL_MINT_CONFLICT_PARENT;
			return caracal_error_set(
			    err, CARACAL_E_CONFLICT,
			    "storage_sqlite: %s: the parent record is not active", what);
		}
		if (src != SQLITE_ROW)
			return ss_db_error(t, src, what, err);
	}
	/* The record first: the approval's consumed_authority_record_id refers
	 * to it. */
	rc = ar_insert(t, &a, what, err);
	if (rc == CARACAL_E_CONFLICT)
		*conflict = CARACAL_MINT_CONFLICT_RECORD;
	if (rc == CARACAL_OK) {
		rc = su_claim(t, a.zone_id, m.jti, m.jti_expires_at_us, what, err);
		if (rc == CARACAL_E_CONFLICT)
			*conflict = CARACAL_MINT_CONFLICT_JTI;
	}
	if (rc == CARACAL_OK && m.approval_id != NULL) {
		rc = appr_consume(t, a.zone_id, m.approval_id, a.id, now_or(t, m.at_us), what, err);
		if (rc == CARACAL_E_NOTFOUND) /* swept meanwhile: no longer consumable */
			rc = caracal_error_set(err, CARACAL_E_CONFLICT,
			                       "storage_sqlite: %s: approval no longer exists",
			                       what);
		if (rc == CARACAL_E_CONFLICT)
			*conflict = CARACAL_MINT_CONFLICT_APPROVAL;
	}
	return rc;
}

/* One commit for the three writes of a mint (storage.h). */
static int op_mint_write(void *tctx, const caracal_mint_write *in, int *conflict,
                         caracal_error *err)
{
	static const char what[] = "mint_write";
	ss_thread *t = tctx;
	int dummy;
	if (conflict == NULL)
		conflict = &dummy;
	*conflict = 0;
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	return tx_end(t, mint_one(t, in, conflict, what, err), what, err);
}

static const char sql_mint_savepoint[] = "SAVEPOINT mint";
static const char sql_mint_release[] = "RELEASE mint";
static const char sql_mint_undo[] = "ROLLBACK TO mint";

/* Group commit (storage.h): each mint under a savepoint, one commit. A
 * mint refused for its own reasons (a conflict, a malformed input) is
 * undone alone; any other failure (the database's) undoes everything. */
static int op_mint_write_batch(void *tctx, const caracal_mint_write *const *in, size_t n, int *rcs,
                               int *conflicts, caracal_error *errs, caracal_error *err)
{
	static const char what[] = "mint_write_batch";
	ss_thread *t = tctx;
	if ((n > 0 && in == NULL) || rcs == NULL || conflicts == NULL)
		return inval(err, what, "in, rcs and conflicts are required");
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	for (size_t i = 0; i < n && rc == CARACAL_OK; i++) {
		caracal_error ierr = {0};
		rc = run(t, sql_mint_savepoint, what, err);
		if (rc != CARACAL_OK)
			break;
		rcs[i] = in[i] != NULL ? mint_one(t, in[i], &conflicts[i], what, &ierr)
		                       : inval(&ierr, what, "a mint is required");
		if (errs != NULL)
			errs[i] = ierr;
		if (rcs[i] != CARACAL_OK && rcs[i] != CARACAL_E_CONFLICT &&
		    rcs[i] != CARACAL_E_INVAL) {
			*err = ierr;
			rc = rcs[i];
			break;
		}
		reset_all(t); /* nothing may be left running across the savepoint */
		if (rcs[i] != CARACAL_OK)
			rc = run(t, sql_mint_undo, what, err);
		if (rc == CARACAL_OK)
			rc = run(t, sql_mint_release, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_rate_take(void *tctx, const char *key, int64_t window_start_us, int64_t window_len_us,
                        uint64_t limit, uint64_t want, uint64_t *taken, uint64_t *count,
                        caracal_error *err)
{
	static const char what[] = "rate_take";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	int64_t hits = 0, before = 0;
	int denied = 0;
	if (key == NULL || key[0] == '\0' || window_len_us <= 0 ||
	    window_start_us > INT64_MAX - window_len_us)
		return inval(err, what, "a key and a positive window are required");
	if (want == 0)
		return inval(err, what, "want must be at least 1");
	int64_t lim = limit > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
	int64_t w = want > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)want;
	int rc = tx_begin(t, 1, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_rate_ins, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, window_start_us);
		sqlite3_bind_int64(st, 3, window_start_us + window_len_us);
		rc = step_done(t, st, what, err);
	}
	/* The hits before, to tell how many this call took (the UPDATE returns
	 * only the new value); the write transaction holds them still. */
	if (rc == CARACAL_OK && (rc = prep(t, sql_rate_get, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, window_start_us);
		int src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			before = hits = sqlite3_column_int64(st, 0);
		else
			rc = ss_db_error(t, src == SQLITE_DONE ? SQLITE_INTERNAL : src, what, err);
		sqlite3_reset(st);
	}
	if (rc == CARACAL_OK && before >= lim)
		denied = 1;
	if (rc == CARACAL_OK && !denied &&
	    (rc = prep(t, sql_rate_take, &st, what, err)) == CARACAL_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, window_start_us);
		sqlite3_bind_int64(st, 3, lim);
		sqlite3_bind_int64(st, 4, w);
		int src = sqlite3_step(st);
		if (src == SQLITE_ROW) {
			hits = sqlite3_column_int64(st, 0);
			src = sqlite3_step(st);
		}
		if (src != SQLITE_DONE)
			rc = ss_db_error(t, src, what, err);
		else if (hits <= before)
			rc = ss_db_error(t, SQLITE_INTERNAL, what, err);
		sqlite3_reset(st);
	}
	if (rc == CARACAL_OK && ++t->hits % SS_PURGE_EVERY == 0 &&
	    (rc = prep(t, sql_rate_purge, &st, what, err)) == CARACAL_OK) {
		/* Windows stay readable for an hour after they end (callers sum
		 * recent windows, storage.h); older ones are dead. */
		sqlite3_bind_int64(st, 1,
		                   window_start_us > INT64_MIN + SS_RATE_KEEP_US
		                       ? window_start_us - SS_RATE_KEEP_US
		                       : INT64_MIN);
		rc = step_done(t, st, what, err);
	}
	rc = tx_end(t, rc, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (count != NULL)
		*count = (uint64_t)hits;
	if (taken != NULL)
		*taken = (uint64_t)(hits - before);
	if (denied)
		return caracal_error_set(err, CARACAL_E_DENIED, "storage_sqlite: %s: limit reached",
		                         what);
	return CARACAL_OK;
}

static int op_rate_hit(void *tctx, const char *key, int64_t window_start_us, int64_t window_len_us,
                       uint64_t limit, uint64_t *count, caracal_error *err)
{
	return op_rate_take(tctx, key, window_start_us, window_len_us, limit, 1, NULL, count, err);
}

static const char sql_config_generation[] = "SELECT n FROM config_generation WHERE id = 1";

static int op_config_generation(void *tctx, uint64_t *gen, caracal_error *err)
{
	static const char what[] = "config_generation";
	ss_thread *t = tctx;
	sqlite3_stmt *st;
	if (gen == NULL)
		return inval(err, what, "gen is required");
	int rc = tx_begin(t, 0, what, err);
	if (rc == CARACAL_OK &&
	    (rc = prep(t, sql_config_generation, &st, what, err)) == CARACAL_OK) {
		int src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*gen = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = ss_db_error(t, src == SQLITE_DONE ? SQLITE_INTERNAL : src, what, err);
	}
	return tx_end(t, rc, what, err);
}

/* ------------------------------------------------------------ issuers, keys */

static const char sql_iss_ins[] =
    "INSERT INTO subject_issuers(id, zone_id, issuer, jwks_url, audience)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_iss_get[] =
    "SELECT " ISS_COLS " FROM subject_issuers WHERE zone_id = ?1 AND issuer = ?2";
static const char sql_key_put[] =
    "INSERT INTO key_meta(zone_id, kid, alg, status, created_at_us, retire_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(zone_id, kid) DO UPDATE SET"
    " alg = excluded.alg, status = excluded.status, retire_at_us = excluded.retire_at_us";
static const char sql_key_list[] =
    "SELECT " KEY_COLS " FROM key_meta WHERE zone_id = ?1 ORDER BY created_at_us, kid";

static int op_subject_issuer_create(void *tctx, const caracal_subject_issuer *in,
                                    caracal_error *err)
{
	static const char what[] = "subject_issuer_create";
	ss_thread *t = tctx;
	caracal_subject_issuer i;
	sqlite3_stmt *st;
	int rc = in_copy(&i, sizeof i, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (i.id == NULL || i.zone_id == NULL || i.issuer == NULL)
		return inval(err, what, "id, zone_id and issuer are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_iss_ins, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, i.id);
		b_str(&b, 2, i.zone_id);
		b_str(&b, 3, i.issuer);
		b_str(&b, 4, i.jwks_url);
		b_str(&b, 5, i.audience);
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_subject_issuer_get(void *tctx, const char *zone_id, const char *issuer,
                                 caracal_arena *arena, caracal_subject_issuer *out,
                                 caracal_error *err)
{
	caracal_subject_issuer i;
	return get_by2(tctx, sql_iss_get, zone_id, issuer, read_iss, &i, sizeof i, arena, out,
	               "subject_issuer_get", err);
}

static int op_key_meta_put(void *tctx, const caracal_key_meta *in, caracal_error *err)
{
	static const char what[] = "key_meta_put";
	ss_thread *t = tctx;
	caracal_key_meta k;
	sqlite3_stmt *st;
	int rc = in_copy(&k, sizeof k, in, what, err);
	if (rc != CARACAL_OK)
		return rc;
	if (k.zone_id == NULL || k.kid == NULL || k.alg == NULL || k.status == NULL)
		return inval(err, what, "zone_id, kid, alg and status are required");
	if ((rc = tx_begin(t, 1, what, err)) != CARACAL_OK)
		return rc;
	if ((rc = prep(t, sql_key_put, &st, what, err)) == CARACAL_OK) {
		bnd b = {st, SQLITE_OK};
		b_str(&b, 1, k.zone_id);
		b_str(&b, 2, k.kid);
		b_str(&b, 3, k.alg);
		b_str(&b, 4, k.status);
		b_int(&b, 5, now_or(t, k.created_at_us));
		b_time(&b, 6, k.retire_at_us);
		rc = b.rc != SQLITE_OK ? bind_error(t, &b, what, err) : step_done(t, st, what, err);
	}
	return tx_end(t, rc, what, err);
}

static int op_key_meta_list(void *tctx, const char *zone_id, caracal_record_fn each, void *ud,
                            caracal_error *err)
{
	caracal_key_meta k;
	return list_by_zone(tctx, sql_key_list, zone_id, read_key, &k, sizeof k, each, ud,
	                    "key_meta_list", err);
}

const caracal_storage_ops ss_storage_ops = {
    .size = sizeof(caracal_storage_ops),
    .migrate = op_migrate,
    .zone_create = op_zone_create,
    .zone_get = op_zone_get,
    .zone_list = op_zone_list,
    .application_create = op_application_create,
    .application_get = op_application_get,
    .application_list = op_application_list,
    .application_archive = op_application_archive,
    .resource_create = op_resource_create,
    .resource_get = op_resource_get,
    .resource_list = op_resource_list,
    .resource_archive = op_resource_archive,
    .grant_create = op_grant_create,
    .grant_list = op_grant_list,
    .grant_delete = op_grant_delete,
    .policy_version_create = op_policy_version_create,
    .policy_version_get = op_policy_version_get,
    .policy_activate = op_policy_activate,
    .policy_active_get = op_policy_active_get,
    .authority_record_create = op_authority_record_create,
    .authority_record_get = op_authority_record_get,
    .session_create = op_session_create,
    .session_get = op_session_get,
    .session_set_status = op_session_set_status,
    .session_heartbeat = op_session_heartbeat,
    .delegation_create = op_delegation_create,
    .delegation_get = op_delegation_get,
    .delegation_epoch = op_delegation_epoch,
    .approval_create = op_approval_create,
    .approval_get = op_approval_get,
    .approval_list_pending = op_approval_list_pending,
    .approval_decide = op_approval_decide,
    .approval_consume = op_approval_consume,
    .revoke = op_revoke,
    .revocation_list = op_revocation_list,
    .single_use_claim = op_single_use_claim,
    .rate_hit = op_rate_hit,
    .subject_issuer_create = op_subject_issuer_create,
    .subject_issuer_get = op_subject_issuer_get,
    .key_meta_put = op_key_meta_put,
    .key_meta_list = op_key_meta_list,
    .mint_write = op_mint_write,
    .approval_get_or_create = op_approval_get_or_create,
    .application_find = op_application_find,
    .approval_sweep = op_approval_sweep,
    .rate_take = op_rate_take,
    .config_generation = op_config_generation,
    .mint_write_batch = op_mint_write_batch,
};
