/*
 * module.c — the signer_file .so: only the exported descriptor. Everything
 * else lives in libsigner_file_impl.la (signer_file.c, sf_crypto.c), which
 * the unit tests link directly.
 */
#include "signer_file.h"

CARACAL_PLUGIN(signer_file, "1.0.0", .kinds = CARACAL_KIND_SIGNER,
               .config_schema = sf_config_schema, .instance_create = sf_instance_create,
               .instance_ready = sf_instance_ready, .instance_destroy = sf_instance_destroy,
               .thread_create = sf_thread_create, .thread_destroy = sf_thread_destroy,
               .signer = &sf_signer_ops);
