/* sqlite_fixture.c — see sqlite_fixture.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "host.h"
#include "sqlite_fixture.h"
#include "storage_sqlite.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void sqlite_fixture_open(sqlite_fixture *f, const char *prefix)
{
	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(f->dir));
	host_set_data_dir(f->dir);
	f->scope = host_scope_new("storage_sqlite", "test");
	static const char yaml[] = "path: caracal.db\nsynchronous: normal\nbusy_timeout: 2s\n";
	caracal_error err = {0};
	f->tree = config_tree_load_buffer("sqlite.yaml", yaml, strlen(yaml), &err);
	assert_non_null(f->tree);
	int64_t version = 0;
	if (ss_instance_create(host_services(), f->scope, config_tree_root(f->tree), &f->inst,
	                       &err) != CARACAL_OK ||
	    ss_thread_create(f->inst, &f->tctx, &err) != CARACAL_OK ||
	    ss_storage_ops.migrate(f->tctx, &version, &err) != CARACAL_OK)
		fail_msg("storage_sqlite: %s", err.message);
}

void sqlite_fixture_close(sqlite_fixture *f)
{
	if (f->tctx != NULL)
		ss_thread_destroy(f->inst, f->tctx);
	if (f->inst != NULL)
		ss_instance_destroy(f->inst);
	config_tree_free(f->tree);
	host_scope_free(f->scope);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	memset(f, 0, sizeof *f);
}
