/*
 * test_audit_pipeline.c — the core audit writer over a stream, end to end:
 * a real generation (config tree, loader, stream_local.so and audit_file.so
 * copied into a private plugin dir) and the real audit writer.
 *
 *  - 1000 events from 4 threads land in the audit_file ledger exactly once,
 *    in emit order per zone, and the chain verifies;
 *  - a tampered message published on caracal.audit.events is dead-lettered
 *    (audit-dlq.jsonl and the caracal.audit.dlq topic, with its reason),
 *    acked and counted, and the genuine events around it still land;
 *  - a full stream makes the writer spool at once; when the stream has room
 *    again the spool is replayed while running, and nothing is lost or
 *    duplicated;
 *  - production mode refuses `stream:` without streams.hmac_key; `stream:`
 *    must name a stream instance.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "daemon/audit_writer.h"
#include "daemon/generation.h"
#include "host.h"
#include "loader/loader.h"
#include "stream/envelope.h"
#include "util/clock.h"
#include "util/log.h"

#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS 4
#define PER_THREAD 250
#define TOPIC "caracal.audit.events"
#define DLQ_TOPIC "caracal.audit.dlq"

static plugin_registry *registry;
static char root_dir[128];
static char plugin_dir[256];

typedef struct fx {
	char dir[256];
	generation *gen;
	pthread_mutex_t lock;
	audit_writer *w;
} fx;

static generation *current(void *ud)
{
	fx *f = ud;
	pthread_mutex_lock(&f->lock);
	generation *g = f->gen;
	generation_ref(g);
	pthread_mutex_unlock(&f->lock);
	return g;
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb");
	if (in == NULL)
		fail_msg("cannot open %s", from);
	FILE *out = fopen(to, "wb");
	assert_non_null(out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(to, 0755), 0);
}

static int group_setup(void **state)
{
	(void)state;
	const char *build = getenv("CARACAL_BUILDDIR");
	if (build == NULL)
		build = ".";
	strcpy(root_dir, "/tmp/caracal-pipe-XXXXXX");
	if (mkdtemp(root_dir) == NULL)
		return -1;
	chmod(root_dir, 0755);
	snprintf(plugin_dir, sizeof plugin_dir, "%s/plugins", root_dir);
	mkdir(plugin_dir, 0755);
	const char *names[] = {"stream_local", "audit_file"};
	for (int i = 0; i < 2; i++) {
		char from[4096], to[512];
		snprintf(from, sizeof from, "%s/plugins/%s/.libs/%s.so", build, names[i], names[i]);
		snprintf(to, sizeof to, "%s/%s.so", plugin_dir, names[i]);
		copy_file(from, to);
	}
	loader_policy policy = {.plugin_dir = plugin_dir, .trusted_uid = geteuid()};
	registry = plugin_registry_new(&policy);
	log_set_level(getenv("PIPE_DEBUG") ? CARACAL_LOG_DEBUG : CARACAL_LOG_WARN);
	return registry != NULL ? 0 : -1;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int group_teardown(void **state)
{
	(void)state;
	plugin_registry_free(registry);
	nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void report(void *ud, const char *message)
{
	(void)ud;
	fprintf(stderr, "config: %s\n", message);
}

static generation *build(fx *f, const char *extra_top, const char *stream_block, int check_only,
                         caracal_error *err)
{
	char yaml[4096];
	int n = snprintf(yaml, sizeof yaml,
	                 "mode: development\n"
	                 "data_dir: %s/var\n"
	                 "plugin_dir: %s\n"
	                 "%s"
	                 "audit:\n"
	                 "  sinks: [audit]\n"
	                 "plugins:\n"
	                 "  audit:\n"
	                 "    plugin: audit_file\n"
	                 "    path: audit\n"
	                 "    hmac_key_file: audit.key\n"
	                 "    fsync: batch\n"
	                 "  stream:\n"
	                 "    plugin: stream_local\n"
	                 "%s",
	                 f->dir, plugin_dir, extra_top, stream_block);
	config_tree *tree = config_tree_load_buffer("pipeline.yaml", yaml, (size_t)n, err);
	if (tree == NULL)
		return NULL;
	return generation_build(tree, registry, check_only, 2, report, NULL, err);
}

static int setup(void **state)
{
	static unsigned counter;
	fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "%s/case%u", root_dir, ++counter);
	mkdir(f->dir, 0700);
	pthread_mutex_init(&f->lock, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->gen != NULL) {
		generation_release_slot(f->gen, 0);
		generation_unref(f->gen);
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static const char *streamed = "stream: stream\n"
                              "streams:\n"
                              "  hmac_key_file: streams.key\n"
                              "  window: 5m\n";

static void start(fx *f, const char *stream_block)
{
	caracal_error e = {0};
	f->gen = build(f, streamed, stream_block, 0, &e);
	if (f->gen == NULL)
		fail_msg("generation: %s", e.message);
	char var[512];
	snprintf(var, sizeof var, "%s/var", f->dir);
	f->w = audit_writer_start(1, current, f, var, &e);
	assert_non_null(f->w);
}

/* The stream instance, called from this thread (stream_local: tctx is the
 * instance, thread-safe). */
static void *stream_tctx(fx *f, const caracal_stream_ops **ops)
{
	const plugin_instance *pi = generation_find(f->gen, "stream", NULL);
	assert_non_null(pi);
	*ops = pi->plugin->stream;
	return pi->instance;
}

struct emitter {
	fx *f;
	int which;
	int first, count;
	int refused;
};

static void *emit_thread(void *arg)
{
	struct emitter *em = arg;
	char zone[32];
	snprintf(zone, sizeof zone, "zone-%d", em->which);
	for (int i = em->first; i < em->first + em->count; i++) {
		json_t *fields = json_pack("{s:i, s:s}", "n", i, "decision", "allow");
		caracal_error e = {0};
		if (audit_writer_emit(em->f->w, zone, "test.event", fields, &e) != CARACAL_OK)
			em->refused++;
		json_decref(fields);
	}
	return NULL;
}

static void emit_all(fx *f, int first, int count)
{
	pthread_t t[THREADS];
	struct emitter em[THREADS];
	for (int i = 0; i < THREADS; i++) {
		em[i] = (struct emitter){f, i, first, count, 0};
		pthread_create(&t[i], NULL, emit_thread, &em[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(em[i].refused, 0);
	}
}

/* Every zone's ledger holds exactly n events numbered 0..n-1 in order, each
 * id once, and verify() finds nothing. */
static void check_ledger(fx *f, int n)
{
	for (int z = 0; z < THREADS; z++) {
		char path[512];
		snprintf(path, sizeof path, "%s/var/audit/zone-%d.jsonl", f->dir, z);
		FILE *in = fopen(path, "r");
		if (in == NULL)
			fail_msg("no ledger %s", path);
		char line[8192];
		int next = 0;
		json_t *ids = json_object();
		while (fgets(line, sizeof line, in) != NULL) {
			json_error_t je;
			json_t *rec = json_loads(line, 0, &je);
			assert_non_null(rec);
			json_t *ev = json_object_get(rec, "event");
			const char *id = json_string_value(json_object_get(ev, "id"));
			assert_non_null(id);
			assert_null(json_object_get(ids, id)); /* exactly once */
			json_object_set_new(ids, id, json_true());
			assert_int_equal(json_integer_value(json_object_get(ev, "n")), next);
			next++;
			json_decref(rec);
		}
		fclose(in);
		json_decref(ids);
		assert_int_equal(next, n);
	}
	/* The chain verifies. */
	size_t idx;
	const plugin_instance *pi = generation_find(f->gen, "audit", &idx);
	caracal_error e = {0};
	void *tctx = generation_tctx(f->gen, 0, idx, &e);
	assert_non_null(tctx);
	for (int z = 0; z < THREADS; z++) {
		char zone[32];
		snprintf(zone, sizeof zone, "zone-%d", z);
		assert_int_equal(pi->plugin->audit->verify(tctx, zone, NULL, NULL, &e), CARACAL_OK);
	}
}

static uint64_t metric_total;
static const char *metric_want;

static void metric_sum(void *ud, const char *plugin, const char *instance, const char *name,
                       const char *label, uint64_t value)
{
	(void)ud;
	(void)instance;
	(void)label;
	if (strcmp(plugin, "core") == 0 && strcmp(name, metric_want) == 0)
		metric_total += value;
}

static uint64_t metric(const char *name)
{
	metric_total = 0;
	metric_want = name;
	host_metrics_each(metric_sum, NULL);
	return metric_total;
}

static int file_exists(fx *f, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/var/%s", f->dir, name);
	return access(path, F_OK) == 0;
}

static void test_thousand_events_exactly_once(void **state)
{
	fx *f = *state;
	start(f, "");
	emit_all(f, 0, PER_THREAD);
	audit_writer_stop(f->w, 10000);
	f->w = NULL;
	assert_false(file_exists(f, "audit-spool.jsonl"));
	assert_false(file_exists(f, "audit-dlq.jsonl"));
	check_ledger(f, PER_THREAD);
}

/* An event a sink refuses for good (here: a zone id audit_file cannot
 * name a ledger after) is kept in the dead-letter file, and the events
 * behind it still land: one poison event must not stall the evidence. */
static void test_refused_event_does_not_stall(void **state)
{
	fx *f = *state;
	start(f, "");
	uint64_t before = metric("audit_dlq");
	caracal_error e = {0};
	json_t *fields = json_pack("{s:i, s:s}", "n", -1, "decision", "allow");
	assert_int_equal(audit_writer_emit(f->w, "bad zone/..", "test.event", fields, &e),
	                 CARACAL_OK);
	json_decref(fields);
	emit_all(f, 0, 10);
	audit_writer_stop(f->w, 10000);
	f->w = NULL;
	assert_true(file_exists(f, "audit-dlq.jsonl"));
	assert_int_equal(metric("audit_dlq"), before + 1);
	check_ledger(f, 10);
	char path[512];
	snprintf(path, sizeof path, "%s/var/audit-dlq.jsonl", f->dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	char line[8192];
	assert_non_null(fgets(line, sizeof line, in));
	fclose(in);
	assert_non_null(strstr(line, "sink_rejected"));
	assert_non_null(strstr(line, "bad zone/.."));
}

/* An event handed over whole (audit_writer_emit_take, as the plugins'
 * host->audit_emit does) may name its zone and type with pointers into
 * itself: they are copied before the writer replaces those members. */
static void test_take_with_names_inside_the_event(void **state)
{
	fx *f = *state;
	start(f, "");
	caracal_error e = {0};
	json_t *ev = json_pack("{s:s, s:s, s:s, s:i}", "zone_id", "zone-0", "event_type",
	                       "plugin.event", "decision", "allow", "n", 0);
	const char *zone = json_string_value(json_object_get(ev, "zone_id"));
	const char *type = json_string_value(json_object_get(ev, "event_type"));
	assert_int_equal(audit_writer_emit_take(f->w, zone, type, ev, &e), CARACAL_OK);
	/* Refused events are released too (no leak under ASan). */
	json_t *bad = json_pack("{s:s}", "decision", "allow");
	assert_int_equal(audit_writer_emit_take(f->w, "", "plugin.event", bad, &e),
	                 CARACAL_E_INVAL);
	audit_writer_stop(f->w, 10000);
	f->w = NULL;
	char path[512];
	snprintf(path, sizeof path, "%s/var/audit/zone-0.jsonl", f->dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	char line[8192];
	assert_non_null(fgets(line, sizeof line, in));
	fclose(in);
	assert_non_null(strstr(line, "\"event_type\":\"plugin.event\""));
	assert_non_null(strstr(line, "\"zone_id\":\"zone-0\""));
}

struct collected {
	int n;
	char reason[64];
	char payload[4096];
};

static int collect(void *ud, const caracal_stream_msg *m)
{
	struct collected *c = ud;
	json_error_t je;
	json_t *env = json_loadb(m->payload.ptr, m->payload.len, 0, &je);
	json_t *fields = json_object_get(env, "fields");
	snprintf(c->reason, sizeof c->reason, "%s",
	         json_string_value(json_object_get(fields, "reason")));
	snprintf(c->payload, sizeof c->payload, "%s",
	         json_string_value(json_object_get(fields, "src_payload")));
	json_decref(env);
	c->n++;
	return CARACAL_OK;
}

static void test_tampered_goes_to_dlq(void **state)
{
	fx *f = *state;
	start(f, "");
	uint64_t dlq_before = metric("audit_dlq");
	emit_all(f, 0, 10);

	/* A message signed with another key, and a genuine-looking one whose
	 * data was edited after signing. */
	const caracal_stream_ops *S;
	void *tctx = stream_tctx(f, &S);
	envelope_keyring *other = envelope_keyring_new(300000, 16);
	static const unsigned char k[32] = "not the stream key, 32 bytes ..";
	caracal_error e = {0};
	assert_int_equal(envelope_keyring_add(other, k, sizeof k, 1, &e), CARACAL_OK);
	const char *forged_event = "{\"event_type\":\"forged\",\"id\":\"01900000-0000-7000-8000-"
	                           "000000000000\",\"occurred_at_us\":1,\"zone_id\":\"zone-0\"}";
	envelope_field fld = {"data", 4, forged_event, strlen(forged_event)};
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(
	    envelope_seal(other, TOPIC, clock_now_us(), "forged-1", &fld, 1, &buf, &len, &e),
	    CARACAL_OK);
	assert_int_equal(S->publish(tctx, TOPIC, buf, len, NULL, NULL, &e), CARACAL_OK);
	free(buf);
	envelope_keyring_free(other);
	assert_int_equal(S->publish(tctx, TOPIC, "{\"v\":1}", 7, NULL, NULL, &e), CARACAL_OK);

	emit_all(f, 10, 10);
	audit_writer_stop(f->w, 10000);
	f->w = NULL;
	check_ledger(f, 20); /* the forged event did not land */

	/* The DLQ file holds both, with reasons. */
	char path[512], line[8192];
	snprintf(path, sizeof path, "%s/var/audit-dlq.jsonl", f->dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	int lines = 0, unknown_key = 0, malformed = 0;
	while (fgets(line, sizeof line, in) != NULL) {
		lines++;
		unknown_key += strstr(line, "\"reason\":\"unknown_key\"") != NULL;
		malformed += strstr(line, "\"reason\":\"malformed\"") != NULL;
		assert_non_null(strstr(line, "\"src_id\":\""));
	}
	fclose(in);
	assert_int_equal(lines, 2);
	assert_int_equal(unknown_key, 1);
	assert_int_equal(malformed, 1);
	assert_int_equal(metric("audit_dlq") - dlq_before, 2);

	/* ...and so does the DLQ topic, signed (the group starts at the
	 * oldest entry). */
	assert_int_equal(S->group_create(tctx, DLQ_TOPIC, "observer", &e), CARACAL_OK);
	struct collected c = {0};
	assert_int_equal(S->consume(tctx, DLQ_TOPIC, "observer", "t", 10, 100, collect, &c, &e),
	                 CARACAL_OK);
	assert_int_equal(c.n, 2);
	/* Nothing of the audit topic is left pending. */
	struct collected p = {0};
	assert_int_equal(S->claim_stale(tctx, TOPIC, "audit-writer", "t", 0, 10, collect, &p, &e),
	                 CARACAL_OK);
	assert_int_equal(p.n, 0);
}

struct drain_arg {
	const caracal_stream_ops *S;
	void *tctx;
};

static int ack_blocker(void *ud, const caracal_stream_msg *m)
{
	struct drain_arg *d = ud;
	caracal_error e = {0};
	return d->S->ack(d->tctx, TOPIC, "blocker", m->id, &e);
}

static void test_full_stream_spools_and_replays(void **state)
{
	fx *f = *state;
	start(f, "    max_entries: 16\n");
	const caracal_stream_ops *S;
	void *tctx = stream_tctx(f, &S);
	caracal_error e = {0};
	/* A group that reads nothing holds every entry: the topic fills. */
	assert_int_equal(S->group_create(tctx, TOPIC, "blocker", &e), CARACAL_OK);
	uint64_t spooled_before = metric("audit_spooled");
	emit_all(f, 0, 50);
	for (int i = 0; i < 200 && !file_exists(f, "audit-spool.jsonl"); i++)
		usleep(10 * 1000);
	assert_true(file_exists(f, "audit-spool.jsonl"));
	usleep(200 * 1000);
	assert_true(metric("audit_spooled") > spooled_before);
	/* Let the blocker read: room again; the writer replays the spool while
	 * running, not at the next start. */
	struct drain_arg d = {S, tctx};
	for (int i = 0; i < 1000 && file_exists(f, "audit-spool.jsonl"); i++) {
		S->consume(tctx, TOPIC, "blocker", "b", 100, 10, ack_blocker, &d, &e);
	}
	assert_false(file_exists(f, "audit-spool.jsonl"));
	/* Drain the blocker while the writer finishes. */
	for (int i = 0; i < 50; i++)
		S->consume(tctx, TOPIC, "blocker", "b", 100, 10, ack_blocker, &d, &e);
	emit_all(f, 50, 5);
	for (int i = 0; i < 50; i++)
		S->consume(tctx, TOPIC, "blocker", "b", 100, 10, ack_blocker, &d, &e);
	audit_writer_stop(f->w, 10000);
	f->w = NULL;
	assert_false(file_exists(f, "audit-spool.jsonl"));
	check_ledger(f, 55);
}

/* A reload replaces the process-local stream instance: what the old one
 * still holds goes through the spool into the new one; nothing is lost or
 * duplicated. */
static void test_reload_moves_stream(void **state)
{
	fx *f = *state;
	start(f, "");
	emit_all(f, 0, 100);
	caracal_error e = {0};
	generation *next = build(f, streamed, "", 0, &e);
	if (next == NULL)
		fail_msg("generation: %s", e.message);
	pthread_mutex_lock(&f->lock);
	generation *old = f->gen;
	f->gen = next;
	pthread_mutex_unlock(&f->lock);
	generation_unref(old);
	emit_all(f, 100, 100);
	audit_writer_stop(f->w, 10000);
	f->w = NULL;
	assert_false(file_exists(f, "audit-spool.jsonl"));
	check_ledger(f, 200);
}

static void test_config_rules(void **state)
{
	fx *f = *state;
	caracal_error e = {0};
	/* stream must name a stream instance. */
	generation *g = build(f, "stream: audit\n", "", 1, &e);
	assert_null(g);
	assert_non_null(strstr(e.message, "kind stream"));
	g = build(f, "stream: nothing\n", "", 1, &e);
	assert_null(g);
	/* Production: no stream without its HMAC key. */
	char yaml[2048];
	int n = snprintf(yaml, sizeof yaml,
	                 "mode: production\n"
	                 "data_dir: %s/var\n"
	                 "plugin_dir: %s\n"
	                 "stream: stream\n"
	                 "audit:\n"
	                 "  sinks: [audit]\n"
	                 "plugins:\n"
	                 "  audit:\n"
	                 "    plugin: audit_file\n"
	                 "    path: audit\n"
	                 "    hmac_key_file: audit.key\n"
	                 "  stream:\n"
	                 "    plugin: stream_local\n",
	                 f->dir, plugin_dir);
	config_tree *tree = config_tree_load_buffer("prod.yaml", yaml, (size_t)n, &e);
	assert_non_null(tree);
	g = generation_build(tree, registry, 1, 1, NULL, NULL, &e);
	assert_null(g);
	assert_non_null(strstr(e.message, "streams.hmac_key"));
	/* A zero window is refused. */
	g = build(f, "stream: stream\nstreams:\n  window: 0s\n", "", 1, &e);
	assert_null(g);
	/* The good one. */
	g = build(f, streamed, "", 1, &e);
	assert_non_null(g);
	assert_string_equal(g->settings.stream, "stream");
	assert_int_equal(g->settings.stream_window_ms, 300000);
	generation_unref(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_thousand_events_exactly_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_goes_to_dlq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_event_does_not_stall, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_take_with_names_inside_the_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_stream_spools_and_replays, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_moves_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_rules, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit pipeline", tests, group_setup, group_teardown);
}
