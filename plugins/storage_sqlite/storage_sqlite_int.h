/*
 * storage_sqlite_int.h — state shared by the files of storage_sqlite.
 *
 * One ss_instance per config block: the database path and settings, plus a
 * connection of its own for instance_ready (under a mutex, since /ready may be
 * asked from any thread). One ss_thread per thread context: that thread's
 * connection and its prepared-statement cache; no locks on the hot path.
 */
#ifndef STORAGE_SQLITE_INT_H
#define STORAGE_SQLITE_INT_H

#include "storage_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>

typedef struct ss_instance {
	const caracal_host *host;
	const caracal_scope *scope;
	char *path;
	int64_t busy_ms;
	int sync_full;
	pthread_mutex_t ready_mu;
	sqlite3 *ready_db;
} ss_instance;

#define SS_STMT_CACHE 96

typedef struct ss_stmt {
	const char *sql; /* the static SQL text: the cache key is its address */
	sqlite3_stmt *st;
} ss_stmt;

typedef struct ss_thread {
	ss_instance *inst;
	sqlite3 *db;
	int in_op; /* an operation is running (re-entrancy guard): 1 write, 2 read */
	unsigned claims, hits;
	size_t nstmt;
	ss_stmt stmt[SS_STMT_CACHE];
} ss_thread;

/* Map a SQLite result code to a CARACAL_E_* status and fill err with what
 * and SQLite's message (which never carries bound values). */
int ss_db_error(ss_thread *t, int rc, const char *what, caracal_error *err);

/* schema.c */
int ss_migrate(ss_thread *t, int64_t *version, caracal_error *err);
int64_t ss_schema_latest(void);

#endif
