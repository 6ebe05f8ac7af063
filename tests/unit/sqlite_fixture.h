/*
 * sqlite_fixture.h — a migrated storage_sqlite in a temporary directory, for
 * unit tests that run core code against real SQLite (linked in, no dlopen).
 */
#ifndef CARACAL_TESTS_SQLITE_FIXTURE_H
#define CARACAL_TESTS_SQLITE_FIXTURE_H

#include "config/config.h"

#include <caracal/plugin.h>

typedef struct sqlite_fixture {
	char dir[64];
	caracal_scope *scope;
	config_tree *tree;
	void *inst;
	void *tctx; /* a thread context of the instance, migrated */
} sqlite_fixture;

/* Fails the running test on any error. prefix: "/tmp/name" (XXXXXX added). */
void sqlite_fixture_open(sqlite_fixture *f, const char *prefix);
/* Destroys the instance and removes the directory. */
void sqlite_fixture_close(sqlite_fixture *f);

#endif
