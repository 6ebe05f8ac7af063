/* Unit tests of the core utilities: arenas, log redaction and escaping,
 * listen-address parsing, UUIDv7, metrics rendering, the worker pool. */
#include "daemon/metrics.h"
#include "daemon/settings.h"
#include "daemon/workers.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/siphash.h"
#include "util/uuid.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_arena_alignment_and_growth(void **state)
{
	(void)state;
	caracal_arena *a = arena_new();
	assert_non_null(a);
	for (int i = 1; i < 2000; i++) {
		unsigned char *p = arena_alloc(a, (size_t)i);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		for (int j = 0; j < i; j++)
			assert_int_equal(p[j], 0); /* zeroed */
		memset(p, 0xab, (size_t)i);
	}
	void *big = arena_alloc(a, 1u << 20); /* larger than any block so far */
	assert_non_null(big);
	assert_null(arena_alloc(a, SIZE_MAX)); /* overflow refused */
	char *s = arena_strndup(a, "hello world", 5);
	assert_string_equal(s, "hello");
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	assert_non_null(arena_alloc(a, 10));
	arena_free(a);
}

static void test_log_redacts_registered_secrets(void **state)
{
	(void)state;
	char text[256];
	assert_int_equal(log_register_secret("s3cr3t-value", 12), 0);
	assert_int_equal(log_register_secret("abc", 3), 0); /* too short: ignored */
	snprintf(text, sizeof text, "token=s3cr3t-value and again s3cr3t-value; abc stays");
	log_redact(text, sizeof text);
	assert_string_equal(text, "token=[REDACTED] and again [REDACTED]; abc stays");

	/* A secret near the end of a small buffer: never overflows. */
	char small[20];
	snprintf(small, sizeof small, "xxxxxxxs3cr3t-value");
	log_redact(small, sizeof small);
	assert_null(strstr(small, "s3cr3t"));
	assert_true(strlen(small) < sizeof small);
	log_clear_secrets();
	snprintf(text, sizeof text, "s3cr3t-value");
	log_redact(text, sizeof text);
	assert_string_equal(text, "s3cr3t-value");
}

/* A secret that straddles the point where a long message is cut must not
 * leak its first part: redaction runs on the whole message first. */
static void test_log_redacts_before_cutting(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	assert_int_equal(log_register_secret("TOPSECRETVALUE", 14), 0);
	char pad[2100];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (int shift = 2030; shift < 2050; shift += 3) {
		log_msg(CARACAL_LOG_ERROR, "t", "%.*sTOPSECRETVALUE", shift, pad);
		char line[8192];
		ssize_t n = read(fds[0], line, sizeof line - 1);
		assert_true(n > 0);
		line[n] = '\0';
		assert_null(strstr(line, "TOPSEC"));
		assert_null(strstr(line, "TOPSECRETVALUE"));
	}
	log_set_fd(-1);
	close(fds[0]);
	close(fds[1]);
	log_clear_secrets();
}

static void test_log_json_escape(void **state)
{
	(void)state;
	char out[64];
	log_json_escape(out, sizeof out, "a\"b\\c\nd\x01\x7f", 9);
	assert_string_equal(out, "a\\\"b\\\\c\\nd\\u0001\\u007f");
	/* Invalid UTF-8 becomes U+FFFD; valid multibyte text is kept whole. */
	log_json_escape(out, sizeof out, "a\xc3\xa9\xff\xe2\x82", 6);
	assert_string_equal(out, "a\xc3\xa9\\ufffd\\ufffd\\ufffd");
	/* Truncation never splits an escape and always terminates. */
	char tiny[4];
	log_json_escape(tiny, sizeof tiny, "ab\"", 3);
	assert_string_equal(tiny, "ab");
}

static void test_listen_parse(void **state)
{
	(void)state;
	listen_addr la;
	caracal_error err = {0};
	assert_int_equal(settings_parse_listen("127.0.0.1:8080", &la, &err), CARACAL_OK);
	assert_true(la.loopback);
	assert_int_equal(settings_parse_listen("[::1]:443", &la, &err), CARACAL_OK);
	assert_true(la.loopback);
	assert_int_equal(settings_parse_listen("0.0.0.0:80", &la, &err), CARACAL_OK);
	assert_false(la.loopback);
	assert_int_equal(settings_parse_listen("localhost:80", &la, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "never resolves"));
	assert_int_equal(settings_parse_listen("127.0.0.1:65536", &la, &err), CARACAL_E_INVAL);
	assert_int_equal(settings_parse_listen("127.0.0.1:", &la, &err), CARACAL_E_INVAL);
	assert_int_equal(settings_parse_listen("127.0.0.1", &la, &err), CARACAL_E_INVAL);
	assert_int_equal(settings_parse_listen("[::1:80", &la, &err), CARACAL_E_INVAL);
	assert_int_equal(settings_parse_listen("127.0.0.1:8x", &la, &err), CARACAL_E_INVAL);
}

static void test_uuid_v7(void **state)
{
	(void)state;
	char a[UUID_TEXT_LEN + 1], b[UUID_TEXT_LEN + 1];
	assert_int_equal(uuid_v7(a), 0);
	assert_int_equal(uuid_v7(b), 0);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '7'); /* version */
	assert_true(strchr("89ab", a[19]) != NULL);
	assert_string_not_equal(a, b);
	assert_true(uuid_is_text(a));
	assert_true(uuid_is_text("00000000-0000-4000-8000-00000000ABCD"));
	assert_false(uuid_is_text("00000000-0000-4000-8000-00000000abc"));   /* short */
	assert_false(uuid_is_text("00000000-0000-4000-8000-00000000abcde")); /* long */
	assert_false(uuid_is_text("00000000_0000-4000-8000-00000000abcd"));  /* dash */
	assert_false(uuid_is_text("0000000g-0000-4000-8000-00000000abcd"));  /* hex */
	assert_false(uuid_is_text(""));
}

static void test_metrics_render(void **state)
{
	(void)state;
	int r = metrics_route("sts", "/t");
	metrics_shard *s1 = metrics_shard_new(), *s2 = metrics_shard_new();
	metrics_observe(s1, r, 200, 50);
	metrics_observe(s2, r, 200, 3000);
	metrics_observe(s2, r, 418, 10);
	metrics_shard *shards[] = {s1, s2};
	size_t len;
	char *text = metrics_render(shards, 2, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(
	    text, "caracal_http_requests_total{role=\"sts\",route=\"/t\",status=\"200\"} 2"));
	assert_non_null(strstr(
	    text, "caracal_http_requests_total{role=\"sts\",route=\"/t\",status=\"4xx\"} 1"));
	assert_non_null(strstr(text, "caracal_http_request_duration_seconds_bucket{role=\"sts\","
	                             "route=\"/t\",le=\"0.0001\"} 2"));
	assert_non_null(strstr(text, "caracal_http_request_duration_seconds_bucket{role=\"sts\","
	                             "route=\"/t\",le=\"+Inf\"} 3"));
	assert_non_null(strstr(text, "caracal_http_request_duration_seconds_count{role=\"sts\","
	                             "route=\"/t\"} 3"));
	free(text);
	metrics_shard_free(s1);
	metrics_shard_free(s2);
}

/* ---- settings ---- */

static int load_settings(const char *yaml, settings *st, caracal_error *err)
{
	config_tree *tree = config_tree_load_buffer("s.yaml", yaml, strlen(yaml), err);
	assert_non_null(tree);
	int rc = settings_load(config_tree_root(tree), st, NULL, NULL, err);
	config_tree_free(tree);
	return rc;
}

static void test_settings_defaults_and_values(void **state)
{
	(void)state;
	settings st;
	caracal_error err = {0};
	assert_int_equal(load_settings("mode: development\n"
	                               "threads: {loops: 3, workers: 5}\n"
	                               "sts: {listen: '127.0.0.1:9000'}\n"
	                               "http: {max_body_bytes: 2k, read_timeout: 250ms}\n",
	                               &st, &err),
	                 CARACAL_OK);
	assert_int_equal(st.loops, 3);
	assert_int_equal(st.workers, 5);
	assert_true(st.listen[ROLE_STS].enabled);
	assert_int_equal(load_settings("sts: {listen: '0.0.0.0:80'}\n", &st, &err),
	                 CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "loopback"));
	assert_int_equal(load_settings("mode: development\nthreads: {loops: 3, workers: 5}\n"
	                               "sts: {listen: '127.0.0.1:9000'}\n"
	                               "http: {max_body_bytes: 2k, read_timeout: 250ms}\n",
	                               &st, &err),
	                 CARACAL_OK);
	assert_false(st.listen[ROLE_ADMIN].enabled);
	assert_int_equal(st.http.max_body_bytes, 2048);
	assert_int_equal(st.http.read_timeout_ms, 250);
	assert_string_equal(st.issuer, "http://127.0.0.1:8080");
	assert_int_equal(st.data_dir[0], '/'); /* made absolute */
}

static void test_settings_rejections(void **state)
{
	(void)state;
	settings st;
	caracal_error err = {0};
	assert_int_equal(load_settings("mode: staging\n", &st, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "s.yaml:1"));
	assert_int_equal(load_settings("mode: production\nsts: {listen: '0.0.0.0:80'}\n"
	                               "audit: {sinks: []}\n",
	                               &st, &err),
	                 CARACAL_E_INVAL);
	assert_int_equal(load_settings("mode: production\n", &st, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "audit sink"));
	assert_int_equal(load_settings("http: {read_timeout: 0s}\n", &st, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "http.read_timeout"));
	assert_int_equal(load_settings("http: {max_headers: 0}\n", &st, &err), CARACAL_E_INVAL);
	assert_int_equal(load_settings("threads: {loops: -1}\n", &st, &err), CARACAL_E_INVAL);
	assert_int_equal(load_settings("sts: {listen: 'example.com:80'}\n", &st, &err),
	                 CARACAL_E_INVAL);
	assert_int_equal(load_settings("plugin_dir: relative/dir\n", &st, &err), CARACAL_E_INVAL);
	assert_int_equal(load_settings("unknown_top: 1\n", &st, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "unknown_top"));
}

/* ---- worker pool ---- */

struct counting_job {
	worker_job job;
	pthread_mutex_t *lock;
	int *count;
	size_t *max_slot;
};

static void counting_run(worker_job *job, worker_ctx *wc)
{
	struct counting_job *cj = (struct counting_job *)job;
	pthread_mutex_lock(cj->lock);
	(*cj->count)++;
	if (wc->slot > *cj->max_slot)
		*cj->max_slot = wc->slot;
	pthread_mutex_unlock(cj->lock);
}

static generation *fake_gen(void *ud)
{
	generation *g = ud;
	generation_ref(g);
	return g;
}

static void test_worker_pool_runs_every_job(void **state)
{
	(void)state;
	/* A generation with no plugins is enough to exercise adoption. */
	caracal_error err = {0};
	config_tree *tree = config_tree_load_buffer("t.yaml", "mode: development\n", 18, &err);
	assert_non_null(tree);
	generation *gen = generation_build(tree, NULL, 1, 3, NULL, NULL, &err);
	assert_non_null(gen);

	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int count = 0;
	size_t max_slot = 0;
	worker_pool *pool = worker_pool_new(3, 1000, fake_gen, gen);
	assert_non_null(pool);
	struct counting_job jobs[500];
	for (int i = 0; i < 500; i++) {
		jobs[i] =
		    (struct counting_job){.lock = &lock, .count = &count, .max_slot = &max_slot};
		jobs[i].job.run = counting_run;
		assert_int_equal(worker_pool_submit(pool, &jobs[i].job), 0);
	}
	worker_pool_kick(pool);
	worker_pool_free(pool); /* runs what is queued, then joins */
	assert_int_equal(count, 500);
	assert_true(max_slot < 3);
	assert_int_equal(atomic_load(&gen->refs), 1); /* every worker let go */
	generation_unref(gen);
}

static void test_worker_pool_bounded_queue(void **state)
{
	(void)state;
	caracal_error err = {0};
	config_tree *tree = config_tree_load_buffer("t.yaml", "mode: development\n", 18, &err);
	generation *gen = generation_build(tree, NULL, 1, 1, NULL, NULL, &err);
	assert_non_null(gen);
	worker_pool *pool = worker_pool_new(0, 2, fake_gen, gen); /* no workers: nothing drains */
	assert_non_null(pool);
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int count = 0;
	size_t max_slot = 0;
	struct counting_job jobs[3];
	for (int i = 0; i < 3; i++) {
		jobs[i] =
		    (struct counting_job){.lock = &lock, .count = &count, .max_slot = &max_slot};
		jobs[i].job.run = counting_run;
	}
	assert_int_equal(worker_pool_submit(pool, &jobs[0].job), 0);
	assert_int_equal(worker_pool_submit(pool, &jobs[1].job), 0);
	assert_int_equal(worker_pool_submit(pool, &jobs[2].job), -1); /* full */
	worker_pool_free(pool);
	generation_unref(gen);
}

/* A job that leaves itself in its worker's batch (group commit): the
 * worker flushes when nothing else is queued, when WORKER_BATCH_MAX are
 * held, and before it stops; no job is left unflushed. */
struct batching {
	worker_batch base; /* first */
	int flushes, flushed, largest;
};
static _Thread_local struct batching tls_batching;
static pthread_mutex_t batching_lock = PTHREAD_MUTEX_INITIALIZER;
static int total_flushed, total_flushes, largest_batch;

static void batching_flush(worker_batch *b, worker_ctx *wc)
{
	(void)wc;
	pthread_mutex_lock(&batching_lock);
	total_flushes++;
	total_flushed += (int)b->held;
	if ((int)b->held > largest_batch)
		largest_batch = (int)b->held;
	pthread_mutex_unlock(&batching_lock);
	b->held = 0;
}

struct held_job {
	worker_job job; /* first */
	pthread_mutex_t *gate;
	int sleep_us; /* a slow job */
};

static void held_run(worker_job *job, worker_ctx *wc)
{
	struct held_job *hj = (struct held_job *)job;
	if (hj->gate != NULL) { /* the first job waits until the queue is full */
		pthread_mutex_lock(hj->gate);
		pthread_mutex_unlock(hj->gate);
	}
	if (tls_batching.base.held == 0)
		tls_batching.base.opened_us = clock_monotonic_us();
	tls_batching.base.flush = batching_flush;
	tls_batching.base.held++;
	if (hj->sleep_us > 0)
		usleep((useconds_t)hj->sleep_us);
	worker_hold_batch(wc, &tls_batching.base);
}

static void test_worker_batches_flush(void **state)
{
	(void)state;
	caracal_error err = {0};
	config_tree *tree = config_tree_load_buffer("t.yaml", "mode: development\n", 18, &err);
	generation *gen = generation_build(tree, NULL, 1, 1, NULL, NULL, &err);
	assert_non_null(gen);
	total_flushed = total_flushes = largest_batch = 0;
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&gate);
	worker_pool *pool = worker_pool_new(1, 1000, fake_gen, gen);
	assert_non_null(pool);
	enum { N = 200 };
	static struct held_job jobs[N];
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct held_job){.gate = i == 0 ? &gate : NULL};
		jobs[i].job.run = held_run;
		assert_int_equal(worker_pool_submit(pool, &jobs[i].job), 0);
	}
	pthread_mutex_unlock(&gate); /* 200 queued: batches fill up */
	worker_pool_free(pool);
	assert_int_equal(total_flushed, N);
	/* Batches formed, never past the bound (a preempted worker may close
	 * one early by age: the exact sizes are not promised). */
	assert_true(largest_batch >= 2 && largest_batch <= WORKER_BATCH_MAX);
	assert_true(total_flushes >= N / WORKER_BATCH_MAX && total_flushes < N);

	/* Slow jobs (3 ms each) do not hold earlier ones back: the batch is
	 * flushed once its first job has waited WORKER_BATCH_MAX_WAIT_US. */
	total_flushed = total_flushes = largest_batch = 0;
	pthread_mutex_lock(&gate);
	pool = worker_pool_new(1, 1000, fake_gen, gen);
	for (int i = 0; i < 20; i++) {
		jobs[i] = (struct held_job){.gate = i == 0 ? &gate : NULL, .sleep_us = 3000};
		jobs[i].job.run = held_run;
		assert_int_equal(worker_pool_submit(pool, &jobs[i].job), 0);
	}
	pthread_mutex_unlock(&gate);
	worker_pool_free(pool);
	assert_int_equal(total_flushed, 20);
	assert_int_equal(largest_batch, 1); /* each job waited past the bound alone */

	/* A lone job is flushed at once: the queue is empty after it. */
	total_flushed = total_flushes = 0;
	pool = worker_pool_new(1, 10, fake_gen, gen);
	struct held_job lone = {.gate = NULL};
	lone.job.run = held_run;
	assert_int_equal(worker_pool_submit(pool, &lone.job), 0);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&batching_lock);
		int done = total_flushed;
		pthread_mutex_unlock(&batching_lock);
		if (done == 1)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&batching_lock);
	assert_int_equal(total_flushed, 1); /* without the pool stopping */
	pthread_mutex_unlock(&batching_lock);
	worker_pool_free(pool);
	generation_unref(gen);
}

/* util/sha256: known answers (FIPS 180-2 "abc", RFC 4231 test case 2). */
/* The reference implementation's vectors: key 00..0f, message 00..(n-1),
 * the 64-bit result as its little-endian bytes. */
static void test_siphash_vectors(void **state)
{
	(void)state;
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {{0, "310e0edd47db6f72"},
	         {1, "fd67dc93c539f874"},
	         {7, "37d1018bf50002ab"},
	         {8, "6224939a79f5f593"},
	         {15, "e545be4961ca29a1"}};
	unsigned char key[16], msg[16];
	for (int i = 0; i < 16; i++)
		key[i] = msg[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint64_t h = siphash24(key, msg, v[i].n);
		char hex[17];
		for (int j = 0; j < 8; j++)
			snprintf(hex + 2 * j, 3, "%02x", (unsigned)(h >> (8 * j)) & 0xff);
		assert_string_equal(hex, v[i].hex);
	}
}

/* Hand-offs to the committer: run on its own thread and slot, in order,
 * with the generation they were handed over with; every one has run when
 * the pool is freed, and the generation references are all dropped. */
struct handoff_item {
	worker_handoff base;
	int id;
};
static pthread_mutex_t ho_lock = PTHREAD_MUTEX_INITIALIZER;
static int ho_done, ho_runs, ho_wrong, ho_refused, ho_last_id;
static pthread_t ho_committer, ho_worker;
static generation *ho_gen;

static void handoff_run(worker_handoff *list, worker_ctx *cc)
{
	pthread_mutex_lock(&ho_lock);
	ho_runs++;
	if (cc->slot != 1 || cc->gen != ho_gen || pthread_equal(pthread_self(), ho_worker))
		ho_wrong++;
	if (ho_runs == 1)
		ho_committer = pthread_self();
	else if (!pthread_equal(ho_committer, pthread_self()))
		ho_wrong++;
	while (list != NULL) {
		struct handoff_item *it = (struct handoff_item *)list;
		list = list->next;
		if (it->base.gen != ho_gen || it->id != ho_last_id + 1)
			ho_wrong++;
		ho_last_id = it->id;
		ho_done++;
		free(it);
	}
	pthread_mutex_unlock(&ho_lock);
}

static generation *_Atomic switch_to;
static generation *switchable_gen(void *ud)
{
	(void)ud;
	generation *g = atomic_load(&switch_to);
	generation_ref(g);
	return g;
}

struct handing_job {
	worker_job job;
	int id;
};

static void handing_run(worker_job *job, worker_ctx *wc)
{
	struct handing_job *j = (struct handing_job *)job;
	struct handoff_item *it = calloc(1, sizeof *it);
	assert_non_null(it);
	it->id = j->id;
	it->base.run = handoff_run;
	pthread_mutex_lock(&ho_lock);
	ho_worker = pthread_self();
	pthread_mutex_unlock(&ho_lock);
	if (worker_hand_off(wc, &it->base) != 0) {
		free(it);
		pthread_mutex_lock(&ho_lock);
		ho_refused++;
		pthread_mutex_unlock(&ho_lock);
	}
}

static void test_worker_hand_off(void **state)
{
	(void)state;
	caracal_error err = {0};
	config_tree *tree = config_tree_load_buffer("t.yaml", "mode: development\n", 18, &err);
	ho_gen = generation_build(tree, NULL, 1, 2, NULL, NULL, &err);
	assert_non_null(ho_gen);
	ho_done = ho_runs = ho_wrong = ho_refused = 0;
	ho_last_id = -1;
	worker_pool *pool = worker_pool_new(1, 1000, fake_gen, ho_gen);
	assert_non_null(pool);
	enum { N = 300 };
	static struct handing_job jobs[N];
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct handing_job){.id = i};
		jobs[i].job.run = handing_run;
		assert_int_equal(worker_pool_submit(pool, &jobs[i].job), 0);
	}
	worker_pool_free(pool); /* the committer runs everything handed over first */
	assert_int_equal(ho_refused, 0);
	assert_int_equal(ho_done, N);
	assert_int_equal(ho_wrong, 0);
	assert_true(ho_runs >= 1 && ho_runs <= N);
	assert_int_equal(atomic_load(&ho_gen->refs), 1);
	generation_unref(ho_gen);

	/* After a reload the committer lets go of the old generation at once
	 * (its thread contexts and its reference), not at its next work. */
	generation *g1 =
	    generation_build(config_tree_load_buffer("t.yaml", "mode: development\n", 18, &err),
	                     NULL, 1, 2, NULL, NULL, &err);
	generation *g2 =
	    generation_build(config_tree_load_buffer("t.yaml", "mode: development\n", 18, &err),
	                     NULL, 1, 2, NULL, NULL, &err);
	assert_non_null(g1);
	assert_non_null(g2);
	switch_to = g1;
	ho_gen = g1;
	ho_done = ho_runs = ho_wrong = ho_refused = 0;
	ho_last_id = -1;
	/* The waits below allow 10 s each: a loaded CI machine under ASan. */
	pool = worker_pool_new(1, 10, switchable_gen, NULL);
	jobs[0] = (struct handing_job){.id = 0};
	jobs[0].job.run = handing_run;
	assert_int_equal(worker_pool_submit(pool, &jobs[0].job), 0);
	int done = 0;
	for (int i = 0; i < 5000 && !done; i++) {
		pthread_mutex_lock(&ho_lock);
		done = ho_done;
		pthread_mutex_unlock(&ho_lock);
		if (!done)
			usleep(2000);
	}
	assert_int_equal(done, 1);
	/* This test's, the worker's and the committer's (still current) once the
	 * hand-off's own reference is dropped. */
	int refs = 0;
	for (int i = 0; i < 5000 && (refs = atomic_load(&g1->refs)) != 3; i++)
		usleep(2000);
	assert_int_equal(refs, 3);
	switch_to = g2;
	worker_pool_kick(pool);
	for (int i = 0; i < 5000; i++) {
		refs = atomic_load(&g1->refs);
		if (refs == 1)
			break;
		usleep(2000);
	}
	assert_int_equal(refs, 1); /* only this test's */
	worker_pool_free(pool);
	assert_int_equal(ho_wrong, 0);
	assert_int_equal(atomic_load(&g2->refs), 1);
	generation_unref(g1);
	generation_unref(g2);

	/* Outside a pool there is no committer: the caller does the work. */
	worker_ctx lone = {.slot = 0};
	struct handoff_item it = {.base.run = handoff_run};
	assert_int_equal(worker_hand_off(&lone, &it.base), -1);
}

static void test_sha256_known_answers(void **state)
{
	(void)state;
	unsigned char out[SHA256_LEN];
	static const unsigned char abc[SHA256_LEN] = {
	    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	assert_int_equal(sha256_digest("abc", 3, out), 0);
	assert_memory_equal(out, abc, SHA256_LEN);
	char hex[2 * SHA256_LEN + 1];
	assert_int_equal(sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	static const unsigned char hmac2[SHA256_LEN] = {
	    0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
	    0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
	    0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
	sha256_hmac_key *k = sha256_hmac_key_new("Jefe", 4);
	assert_non_null(k);
	for (int i = 0; i < 2; i++) { /* the template is reusable */
		assert_int_equal(sha256_hmac(k, "what do ya want for nothing?", 28, out), 0);
		assert_memory_equal(out, hmac2, SHA256_LEN);
	}
	sha256_hmac_key_free(k);
	sha256_hmac_key_free(NULL);
	static const unsigned char empty[4] = {0xe3, 0xb0, 0xc4, 0x42};
	assert_int_equal(sha256_digest(NULL, 0, out), 0);
	assert_memory_equal(out, empty, 4);
}

int main(void)
{
	log_set_fd(-1); /* keep test output clean */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arena_alignment_and_growth),
	    cmocka_unit_test(test_log_redacts_registered_secrets),
	    cmocka_unit_test(test_log_json_escape),
	    cmocka_unit_test(test_log_redacts_before_cutting),
	    cmocka_unit_test(test_listen_parse),
	    cmocka_unit_test(test_uuid_v7),
	    cmocka_unit_test(test_metrics_render),
	    cmocka_unit_test(test_settings_defaults_and_values),
	    cmocka_unit_test(test_settings_rejections),
	    cmocka_unit_test(test_worker_pool_runs_every_job),
	    cmocka_unit_test(test_worker_pool_bounded_queue),
	    cmocka_unit_test(test_worker_batches_flush),
	    cmocka_unit_test(test_sha256_known_answers),
	    cmocka_unit_test(test_siphash_vectors),
	    cmocka_unit_test(test_worker_hand_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
