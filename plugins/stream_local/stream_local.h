/*
 * stream_local.h — the in-process stream of the embedded default.
 *
 * The same delivery contract as stream_redis (Redis Streams + consumer
 * groups), kept in memory:
 *
 *  - per topic, an append-only log; ids "<ms>-<seq>" strictly increase even
 *    when the wall clock steps back (ms never goes below the last id's);
 *  - consumer groups; a new group starts at the oldest retained entry (like
 *    XGROUP CREATE ... 0), so nothing published before a group existed is
 *    lost to it. Each group has a cursor and a pending-entries list (PEL);
 *  - consume() hands new entries to the consumer one at a time, moving each
 *    to the PEL (deliveries = 1) just before its callback; a callback that
 *    fails stops the batch and its message stays pending; entries not yet
 *    handed over stay new. It waits on a condition variable for at most
 *    timeout_ms (capped at 60 s) for the first entry, then returns TIMEOUT;
 *  - ack() removes the entry from the group's PEL;
 *  - claim_stale() redelivers pending entries idle >= min_idle_ms, oldest
 *    first, to the claiming consumer with deliveries + 1;
 *  - memory per topic is bounded: at most max_entries retained entries
 *    (default 100000), each at most max_payload bytes (default 1m). When the
 *    log is full, publish fails CARACAL_E_UNAVAIL — nothing is ever dropped
 *    or trimmed unread. An entry is trimmed once every group's cursor is
 *    past it and no group holds it pending (entries of a topic without any
 *    group are kept: nobody has read them);
 *  - thread-safe: one mutex per instance; callbacks run without it, so a
 *    callback may publish or ack on the same instance.
 *
 * Process-local: the log lives in this process's memory and does NOT survive
 * a restart or a reload (a reload makes a new instance). That is why the core
 * spools to disk whatever it cannot get through, and drains an instance into
 * the spool before letting go of it.
 */
#ifndef STREAM_LOCAL_STREAM_LOCAL_H
#define STREAM_LOCAL_STREAM_LOCAL_H

#include <caracal/plugin.h>

#define SL_DEFAULT_MAX_ENTRIES 100000
#define SL_DEFAULT_MAX_PAYLOAD (1u << 20)
#define SL_MAX_TOPICS 64
#define SL_MAX_GROUPS 32     /* per topic */
#define SL_NAME_MAX 255      /* topic, group and consumer names */
#define SL_MAX_BATCH 10000   /* messages per consume/claim call */
#define SL_MAX_WAIT_MS 60000 /* the longest consume() waits */

extern const caracal_cfg_key sl_config_schema[];
extern const caracal_stream_ops sl_stream_ops;

int sl_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err);
void sl_instance_stop(void *instance);
void sl_instance_destroy(void *instance);

#endif
