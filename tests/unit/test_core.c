/* Unit tests of the core utilities: arenas, log redaction and escaping,
 * listen-address parsing, UUIDv7, metrics rendering, the worker pool. */
#include "daemon/metrics.h"
#include "daemon/settings.h"
#include "daemon/workers.h"
#include "util/arena.h"
#include "util/log.h"
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
