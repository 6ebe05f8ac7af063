/*
 * metrics.h — request counters and latency histograms, exported on /metrics
 * in the Prometheus text format.
 *
 * Each loop thread owns one metrics_shard and is its only writer, so
 * counting is a relaxed load and store, never a locked instruction; /metrics
 * sums the shards. Routes are registered once at start (before the loop
 * threads run) and named by a small integer.
 */
#ifndef CARACAL_DAEMON_METRICS_H
#define CARACAL_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_ROUTES 64
#define METRICS_BUCKETS 14

typedef struct metrics_shard metrics_shard;

/* Register a route label pair; returns its index (or the index of the
 * "other" route when the table is full). Not thread-safe: call at start. */
int metrics_route(const char *role, const char *route);

metrics_shard *metrics_shard_new(void);
void metrics_shard_free(metrics_shard *shard);

/* Record one request (on the shard's own thread). */
void metrics_observe(metrics_shard *shard, int route, int status, int64_t elapsed_us);

/* Count one plugin error (any thread). */
void metrics_plugin_error(void);

/* Render every shard (and the host's plugin counters) as Prometheus text
 * into a malloc'd string the caller frees; *len receives its length. */
char *metrics_render(metrics_shard *const *shards, size_t count, size_t *len);

#endif
