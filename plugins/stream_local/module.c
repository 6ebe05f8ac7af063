/*
 * module.c — the stream_local .so: only the exported descriptor. The logic
 * lives in libstream_local_impl.la (stream_local.c).
 *
 * No F_THREADS: the plugin starts no thread of its own. instance_stop wakes
 * consumers blocked in consume() so they return UNAVAIL.
 */
#include "stream_local.h"

CARACAL_PLUGIN(stream_local, "1.0.0", .kinds = CARACAL_KIND_STREAM,
               .config_schema = sl_config_schema, .instance_create = sl_instance_create,
               .instance_stop = sl_instance_stop, .instance_destroy = sl_instance_destroy,
               .stream = &sl_stream_ops);
