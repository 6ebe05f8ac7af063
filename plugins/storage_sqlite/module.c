/*
 * module.c — the storage_sqlite .so: only the exported descriptor. Everything
 * else lives in libstorage_sqlite_impl.la.
 */
#include "storage_sqlite.h"

/* Built against ABI 1.2 for the optional ops of 1.1 (mint_write, ...) and
 * 1.2 (rate_take, config_generation, mint_write_batch); an older host does
 * not see them and falls back to the 1.0 calls, so 1.0 hosts are accepted. */
CARACAL_PLUGIN_COMPAT(storage_sqlite, "1.2.0", 0, .kinds = CARACAL_KIND_STORAGE,
                      .config_schema = ss_config_schema, .instance_create = ss_instance_create,
                      .instance_ready = ss_instance_ready, .instance_destroy = ss_instance_destroy,
                      .thread_create = ss_thread_create, .thread_destroy = ss_thread_destroy,
                      .storage = &ss_storage_ops);
