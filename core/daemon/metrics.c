/* metrics.c — see metrics.h. */
#include "daemon/metrics.h"

#include "host.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statuses get a column each; anything else is counted by class. */
static const int tracked_status[] = {200, 201, 204, 301, 302, 304, 400, 401, 403,
                                     404, 405, 408, 409, 413, 414, 415, 422, 429,
                                     431, 500, 501, 502, 503, 504, 505};
#define NSTATUS ((int)(sizeof tracked_status / sizeof tracked_status[0]))
#define NCOLUMNS (NSTATUS + 5) /* + 1xx..5xx "other" classes */

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bucket_le_us[METRICS_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};

struct route_def {
	char role[16];
	char route[64];
};
static struct route_def routes[METRICS_MAX_ROUTES];
static int route_count;

struct metrics_shard {
	_Atomic uint64_t requests[METRICS_MAX_ROUTES][NCOLUMNS];
	_Atomic uint64_t buckets[METRICS_MAX_ROUTES][METRICS_BUCKETS];
	_Atomic uint64_t sum_us[METRICS_MAX_ROUTES];
};

static _Atomic uint64_t plugin_errors;

int metrics_route(const char *role, const char *route)
{
	for (int i = 0; i < route_count; i++)
		if (strcmp(routes[i].role, role) == 0 && strcmp(routes[i].route, route) == 0)
			return i;
	if (route_count == METRICS_MAX_ROUTES)
		return METRICS_MAX_ROUTES - 1;
	snprintf(routes[route_count].role, sizeof routes[route_count].role, "%s", role);
	snprintf(routes[route_count].route, sizeof routes[route_count].route, "%s", route);
	return route_count++;
}

metrics_shard *metrics_shard_new(void)
{
	return calloc(1, sizeof(metrics_shard));
}

void metrics_shard_free(metrics_shard *shard)
{
	free(shard);
}

static int status_column(int status)
{
	for (int i = 0; i < NSTATUS; i++)
		if (tracked_status[i] == status)
			return i;
	int cls = status / 100;
	if (cls < 1 || cls > 5)
		cls = 5;
	return NSTATUS + cls - 1;
}

/* Single writer per shard: a relaxed load and store is enough and is not a
 * locked read-modify-write. */
static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
	                      memory_order_relaxed);
}

void metrics_observe(metrics_shard *shard, int route, int status, int64_t elapsed_us)
{
	if (route < 0 || route >= METRICS_MAX_ROUTES)
		return;
	if (elapsed_us < 0)
		elapsed_us = 0;
	bump(&shard->requests[route][status_column(status)], 1);
	int b = 0;
	while (b < METRICS_BUCKETS - 1 && elapsed_us > bucket_le_us[b])
		b++;
	bump(&shard->buckets[route][b], 1);
	bump(&shard->sum_us[route], (uint64_t)elapsed_us);
}

void metrics_plugin_error(void)
{
	atomic_fetch_add_explicit(&plugin_errors, 1, memory_order_relaxed);
}

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
outf(struct out *o, const char *fmt, ...)
{
	if (o->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *nb = realloc(o->buf, cap);
		if (nb == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
}

static uint64_t sum_over(metrics_shard *const *shards, size_t count, size_t offset)
{
	uint64_t total = 0;
	for (size_t s = 0; s < count; s++) {
		const _Atomic uint64_t *c =
		    (const _Atomic uint64_t *)((const char *)shards[s] + offset);
		total += atomic_load_explicit(c, memory_order_relaxed);
	}
	return total;
}

static void status_label(int column, char *out, size_t cap)
{
	if (column < NSTATUS)
		snprintf(out, cap, "%d", tracked_status[column]);
	else
		snprintf(out, cap, "%dxx", column - NSTATUS + 1);
}

/* Label values are escaped as the text format requires; a metric name a
 * plugin chose must be a valid Prometheus name or the series is skipped. */
static void out_label(struct out *o, const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '\\')
			outf(o, "\\\\");
		else if (*p == '"')
			outf(o, "\\\"");
		else if (*p == '\n')
			outf(o, "\\n");
		else
			outf(o, "%c", *p);
	}
}

static int valid_metric_name(const char *name)
{
	if (name[0] == '\0' || strlen(name) > 64)
		return 0;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		      (*p >= '0' && *p <= '9' && p != name)))
			return 0;
	return 1;
}

static void render_plugin_metric(void *ud, const char *plugin, const char *instance,
                                 const char *name, const char *label, uint64_t value)
{
	struct out *o = ud;
	if (!valid_metric_name(name))
		return;
	outf(o, "caracal_plugin_%s_total{plugin=\"", name);
	out_label(o, plugin);
	outf(o, "\",instance=\"");
	out_label(o, instance);
	outf(o, "\"");
	if (label != NULL) {
		outf(o, ",label=\"");
		out_label(o, label);
		outf(o, "\"");
	}
	outf(o, "} %llu\n", (unsigned long long)value);
}

char *metrics_render(metrics_shard *const *shards, size_t count, size_t *len)
{
	struct out o = {.buf = malloc(8192), .cap = 8192};
	if (o.buf == NULL)
		return NULL;

	outf(&o, "# HELP caracal_http_requests_total HTTP requests by role, route and status.\n"
	         "# TYPE caracal_http_requests_total counter\n");
	for (int r = 0; r < route_count; r++) {
		for (int c = 0; c < NCOLUMNS; c++) {
			uint64_t v =
			    sum_over(shards, count, offsetof(metrics_shard, requests[r][c]));
			if (v == 0)
				continue;
			char st[8];
			status_label(c, st, sizeof st);
			outf(&o,
			     "caracal_http_requests_total{role=\"%s\",route=\"%s\",status=\"%s\"} "
			     "%llu\n",
			     routes[r].role, routes[r].route, st, (unsigned long long)v);
		}
	}

	outf(&o, "# HELP caracal_http_request_duration_seconds Time from the first byte of a "
	         "request to its response.\n"
	         "# TYPE caracal_http_request_duration_seconds histogram\n");
	for (int r = 0; r < route_count; r++) {
		uint64_t cumulative = 0;
		for (int b = 0; b < METRICS_BUCKETS; b++) {
			cumulative +=
			    sum_over(shards, count, offsetof(metrics_shard, buckets[r][b]));
			if (b < METRICS_BUCKETS - 1)
				outf(&o,
				     "caracal_http_request_duration_seconds_bucket{role=\"%s\","
				     "route=\"%s\",le=\"%g\"} %llu\n",
				     routes[r].role, routes[r].route, (double)bucket_le_us[b] / 1e6,
				     (unsigned long long)cumulative);
			else
				outf(&o,
				     "caracal_http_request_duration_seconds_bucket{role=\"%s\","
				     "route=\"%s\",le=\"+Inf\"} %llu\n",
				     routes[r].role, routes[r].route,
				     (unsigned long long)cumulative);
		}
		uint64_t sum = sum_over(shards, count, offsetof(metrics_shard, sum_us[r]));
		outf(&o,
		     "caracal_http_request_duration_seconds_sum{role=\"%s\",route=\"%s\"} %.6f\n"
		     "caracal_http_request_duration_seconds_count{role=\"%s\",route=\"%s\"} %llu\n",
		     routes[r].role, routes[r].route, (double)sum / 1e6, routes[r].role,
		     routes[r].route, (unsigned long long)cumulative);
	}

	outf(&o,
	     "# HELP caracal_plugin_errors_total Plugin calls that returned an error.\n"
	     "# TYPE caracal_plugin_errors_total counter\n"
	     "caracal_plugin_errors_total %llu\n",
	     (unsigned long long)atomic_load(&plugin_errors));
	host_metrics_each(render_plugin_metric, &o);

	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
