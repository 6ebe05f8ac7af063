/*
 * storage_sqlite.h — the entry points of the storage_sqlite plugin, shared by
 * the thin .so wrapper (module.c, which holds the exported descriptor) and
 * anything that links libstorage_sqlite_impl.la directly.
 */
#ifndef STORAGE_SQLITE_STORAGE_SQLITE_H
#define STORAGE_SQLITE_STORAGE_SQLITE_H

#include <caracal/plugin.h>

extern const caracal_cfg_key ss_config_schema[];
extern const caracal_storage_ops ss_storage_ops;

int ss_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err);
int ss_instance_ready(void *instance, caracal_error *err);
void ss_instance_destroy(void *instance);
int ss_thread_create(void *instance, void **tctx, caracal_error *err);
void ss_thread_destroy(void *instance, void *tctx);

/* migrate, but only up to schema version upto (tests of a migration). */
int ss_migrate_upto(void *tctx, int64_t upto, int64_t *version, caracal_error *err);

#endif
