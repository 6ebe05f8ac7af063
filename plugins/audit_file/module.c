/*
 * module.c — the audit_file .so: only the exported descriptor. Everything
 * else lives in libaudit_file_impl.la (audit_file.c, ledger.c), which the
 * unit tests link directly.
 */
#include "audit_file.h"

CARACAL_PLUGIN(audit_file, "1.0.0", .flags = CARACAL_PLUGIN_F_THREADS, .kinds = CARACAL_KIND_AUDIT,
               .config_schema = af_config_schema, .instance_create = af_instance_create,
               .instance_ready = af_instance_ready, .instance_stop = af_instance_stop,
               .instance_destroy = af_instance_destroy, .audit = &af_audit_ops);
