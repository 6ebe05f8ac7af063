/* audit_writer.c — see audit_writer.h. */
#include "daemon/audit_writer.h"

#include "daemon/metrics.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/uuid.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_QUEUE_MAX 65536
#define AUDIT_SPOOL_NAME "audit-spool.jsonl"
#define AUDIT_SPOOL_MAX_LINE (1u << 20)

struct audit_item {
	struct audit_item *next;
	char id[UUID_TEXT_LEN + 1];
	char *zone_id;
	char *event_type;
	int64_t occurred_at_us;
	char *json; /* canonical */
	size_t json_len;
};

struct audit_writer {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct audit_item *head, *tail;
	size_t queued;
	int stopping;
	int64_t stop_deadline_us;
	size_t slot;
	worker_gen_fn current;
	void *ud;
	char spool_path[4200];
};

char *audit_canonical_json(const json_t *event, size_t *len)
{
	char *s = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS);
	if (s != NULL)
		*len = strlen(s);
	return s;
}

static void item_free(struct audit_item *it)
{
	if (it == NULL)
		return;
	free(it->zone_id);
	free(it->event_type);
	free(it->json);
	free(it);
}

static void format_time(int64_t us, char *out, size_t cap)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%06dZ", (int)(us % 1000000));
}

/* Build an item from a complete event object (fields already set). */
static struct audit_item *item_from_event(json_t *event, caracal_error *err)
{
	const char *id = json_string_value(json_object_get(event, "id"));
	const char *zone = json_string_value(json_object_get(event, "zone_id"));
	const char *type = json_string_value(json_object_get(event, "event_type"));
	json_t *at = json_object_get(event, "occurred_at_us");
	if (id == NULL || zone == NULL || type == NULL || !json_is_integer(at) ||
	    strlen(id) != UUID_TEXT_LEN || zone[0] == '\0' || type[0] == '\0') {
		caracal_error_set(err, CARACAL_E_INVAL,
		                  "audit event lacks id, zone_id or event_type");
		return NULL;
	}
	struct audit_item *it = calloc(1, sizeof *it);
	if (it == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(it->id, id, UUID_TEXT_LEN + 1);
	it->zone_id = strdup(zone);
	it->event_type = strdup(type);
	it->occurred_at_us = (int64_t)json_integer_value(at);
	it->json = audit_canonical_json(event, &it->json_len);
	if (it->zone_id == NULL || it->event_type == NULL || it->json == NULL) {
		item_free(it);
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	return it;
}

static void enqueue_locked(audit_writer *w, struct audit_item *it)
{
	it->next = NULL;
	if (w->tail != NULL)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->queued++;
}

int audit_writer_emit(audit_writer *w, const char *zone_id, const char *event_type, json_t *fields,
                      caracal_error *err)
{
	if (w == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "the audit writer is not running");
	json_t *event = fields != NULL ? json_deep_copy(fields) : json_object();
	char id[UUID_TEXT_LEN + 1];
	char when[40];
	int64_t now = clock_now_us();
	if (event == NULL || !json_is_object(event) || uuid_v7(id) != 0) {
		json_decref(event);
		return caracal_error_set(err, CARACAL_E_NOMEM, "cannot build audit event");
	}
	format_time(now, when, sizeof when);
	json_object_set_new(event, "id", json_string(id));
	json_object_set_new(event, "zone_id", json_string(zone_id));
	json_object_set_new(event, "event_type", json_string(event_type));
	json_object_set_new(event, "occurred_at", json_string(when));
	json_object_set_new(event, "occurred_at_us", json_integer(now));
	struct audit_item *it = item_from_event(event, err);
	json_decref(event);
	if (it == NULL)
		return err != NULL ? err->code : CARACAL_E_INVAL;

	int rc = CARACAL_OK;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->queued >= AUDIT_QUEUE_MAX) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "the audit queue is %s",
		                       w->stopping ? "closed" : "full");
	} else {
		enqueue_locked(w, it);
		it = NULL;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	item_free(it);
	return rc;
}

/* Append one item to every sink of gen; OK only when all took it. */
static int append_to_sinks(audit_writer *w, generation *gen, const struct audit_item *it,
                           caracal_error *err)
{
	for (size_t s = 0; s < gen->settings.sink_count; s++) {
		size_t idx;
		const plugin_instance *pi = generation_find(gen, gen->settings.sinks[s], &idx);
		if (pi == NULL || pi->instance == NULL)
			return caracal_error_set(err, CARACAL_E_UNAVAIL, "sink %s not running",
			                         gen->settings.sinks[s]);
		void *tctx = generation_tctx(gen, w->slot, idx, err);
		if (tctx == NULL)
			return CARACAL_E_UNAVAIL;
		caracal_audit_event ev = {
		    .size = sizeof ev,
		    .id = it->id,
		    .zone_id = it->zone_id,
		    .event_type = it->event_type,
		    .occurred_at_us = it->occurred_at_us,
		    .canonical_json = {it->json, it->json_len},
		};
		caracal_audit_receipt rec = {.size = sizeof rec};
		int rc = pi->plugin->audit->append(tctx, &ev, &rec, err);
		if (rc != CARACAL_OK) {
			metrics_plugin_error();
			return rc;
		}
	}
	return CARACAL_OK;
}

static void flush_sinks(audit_writer *w, generation *gen)
{
	for (size_t s = 0; s < gen->settings.sink_count; s++) {
		size_t idx;
		const plugin_instance *pi = generation_find(gen, gen->settings.sinks[s], &idx);
		caracal_error e = {0};
		void *tctx = pi != NULL ? generation_tctx(gen, w->slot, idx, &e) : NULL;
		if (tctx != NULL && pi->plugin->audit->flush(tctx, &e) != CARACAL_OK)
			log_error("audit", "sink %s: flush failed: %s", pi->name, e.message);
	}
}

/* Write what is left to the spool file: one canonical event per line. */
static void spool_rest(audit_writer *w)
{
	if (w->head == NULL)
		return;
	int fd = open(w->spool_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("audit", "cannot open spool %s: %s; %zu events lost", w->spool_path,
		          strerror(errno), w->queued);
		return;
	}
	size_t spooled = 0;
	for (struct audit_item *it = w->head; it != NULL; it = it->next) {
		if (write(fd, it->json, it->json_len) != (ssize_t)it->json_len ||
		    write(fd, "\n", 1) != 1) {
			log_error("audit", "spool write failed: %s", strerror(errno));
			break;
		}
		spooled++;
	}
	fsync(fd);
	close(fd);
	log_warn("audit", "%zu events spooled to %s; they are replayed at the next start", spooled,
	         w->spool_path);
}

/* Queue the spool of an earlier run ahead of everything else. */
static void replay_spool(audit_writer *w)
{
	FILE *f = fopen(w->spool_path, "re");
	if (f == NULL)
		return;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t count = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		if ((size_t)n > AUDIT_SPOOL_MAX_LINE)
			continue;
		json_error_t je;
		json_t *event = json_loadb(line, (size_t)n, 0, &je);
		caracal_error e = {0};
		struct audit_item *it = event != NULL ? item_from_event(event, &e) : NULL;
		json_decref(event);
		if (it == NULL) {
			log_error("audit", "spool %s: unreadable line skipped", w->spool_path);
			continue;
		}
		enqueue_locked(w, it);
		count++;
	}
	free(line);
	fclose(f);
	/* The events are queued; once appended, sinks hold them. A crash before
	 * then replays them again, which sinks absorb as duplicates. */
	if (unlink(w->spool_path) != 0)
		log_error("audit", "cannot remove spool %s: %s", w->spool_path, strerror(errno));
	log_info("audit", "replaying %zu spooled events", count);
}

static void *writer_main(void *arg)
{
	audit_writer *w = arg;
	generation *gen = w->current(w->ud);
	int64_t backoff_ms = 0;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->wake, &w->lock);
		struct audit_item *it = w->head;
		int stopping = w->stopping;
		int past_deadline = stopping && clock_monotonic_us() >= w->stop_deadline_us;
		pthread_mutex_unlock(&w->lock);
		if (it == NULL || past_deadline)
			break;

		generation *now = w->current(w->ud);
		if (now != gen) {
			generation_release_slot(gen, w->slot);
			generation_unref(gen);
			gen = now;
		} else {
			generation_unref(now);
		}

		caracal_error e = {0};
		if (append_to_sinks(w, gen, it, &e) != CARACAL_OK) {
			backoff_ms =
			    backoff_ms == 0 ? 50 : (backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2);
			log_error("audit", "append of event %s failed (%s); retrying in %lld ms",
			          it->id, e.message, (long long)backoff_ms);
			struct timespec ts = {.tv_sec = backoff_ms / 1000,
			                      .tv_nsec = (backoff_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		backoff_ms = 0;
		pthread_mutex_lock(&w->lock);
		w->head = it->next;
		if (w->head == NULL)
			w->tail = NULL;
		w->queued--;
		int idle = w->head == NULL;
		pthread_mutex_unlock(&w->lock);
		item_free(it);
		if (idle)
			flush_sinks(w, gen);
	}
	flush_sinks(w, gen);
	pthread_mutex_lock(&w->lock);
	spool_rest(w);
	pthread_mutex_unlock(&w->lock);
	generation_release_slot(gen, w->slot);
	generation_unref(gen);
	return NULL;
}

audit_writer *audit_writer_start(size_t slot, worker_gen_fn current, void *ud, const char *data_dir,
                                 caracal_error *err)
{
	audit_writer *w = calloc(1, sizeof *w);
	if (w == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->slot = slot;
	w->current = current;
	w->ud = ud;
	snprintf(w->spool_path, sizeof w->spool_path, "%s/%s", data_dir, AUDIT_SPOOL_NAME);
	replay_spool(w);
	if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
		caracal_error_set(err, CARACAL_E_INTERNAL, "cannot start the audit writer");
		free(w);
		return NULL;
	}
	return w;
}

void audit_writer_stop(audit_writer *w, int64_t drain_ms)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	w->stop_deadline_us = clock_monotonic_us() + drain_ms * 1000;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->tid, NULL);
	struct audit_item *it = w->head;
	while (it != NULL) {
		struct audit_item *next = it->next;
		item_free(it);
		it = next;
	}
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
