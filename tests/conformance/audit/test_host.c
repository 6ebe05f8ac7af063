/* test_host.c — see test_host.h. */
#include "test_host.h"

#include "config.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TH_MAX_KEYS 32

struct caracal_cfg {
	size_t n;
	char *keys[TH_MAX_KEYS];
	char *values[TH_MAX_KEYS];
};

struct caracal_scope {
	const char *plugin;
	const char *instance;
};

struct caracal_arena {
	void **blocks;
	size_t n;
};

static const struct caracal_scope scope = {"audit_file", "test"};
static char data_dir[4096] = "/tmp";
static unsigned log_counts[4];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

const caracal_scope *th_scope(void)
{
	return &scope;
}

void th_set_data_dir(const char *path)
{
	snprintf(data_dir, sizeof data_dir, "%s", path);
}

unsigned th_log_count(caracal_log_level level)
{
	pthread_mutex_lock(&log_lock);
	unsigned n = log_counts[level];
	pthread_mutex_unlock(&log_lock);
	return n;
}

void th_log_reset(void)
{
	pthread_mutex_lock(&log_lock);
	memset(log_counts, 0, sizeof log_counts);
	pthread_mutex_unlock(&log_lock);
}

caracal_cfg *th_cfg_new(void)
{
	return calloc(1, sizeof(caracal_cfg));
}

void th_cfg_set(caracal_cfg *cfg, const char *key, const char *value)
{
	for (size_t i = 0; i < cfg->n; i++) {
		if (strcmp(cfg->keys[i], key) != 0)
			continue;
		free(cfg->values[i]);
		if (value != NULL) {
			cfg->values[i] = strdup(value);
			return;
		}
		free(cfg->keys[i]);
		cfg->keys[i] = cfg->keys[cfg->n - 1];
		cfg->values[i] = cfg->values[cfg->n - 1];
		cfg->n--;
		return;
	}
	if (value != NULL && cfg->n < TH_MAX_KEYS) {
		cfg->keys[cfg->n] = strdup(key);
		cfg->values[cfg->n] = strdup(value);
		cfg->n++;
	}
}

void th_cfg_free(caracal_cfg *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->keys[i]);
		free(cfg->values[i]);
	}
	free(cfg);
}

static const char *lookup(const caracal_cfg *cfg, const char *key)
{
	for (size_t i = 0; cfg != NULL && i < cfg->n; i++)
		if (strcmp(cfg->keys[i], key) == 0)
			return cfg->values[i];
	return NULL;
}

static void h_log(const caracal_scope *s, caracal_log_level level, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	if ((unsigned)level < 4)
		log_counts[level]++;
	pthread_mutex_unlock(&log_lock);
	if (level <= CARACAL_LOG_INFO)
		fprintf(stderr, "[%s %s/%s] %s\n", names[level & 3], s ? s->plugin : "?",
		        s ? s->instance : "?", msg);
}

static void h_metric(const caracal_scope *s, const char *name, const char *label, uint64_t d)
{
	(void)s;
	(void)name;
	(void)label;
	(void)d;
}

static const caracal_cfg *h_cfg_child(const caracal_cfg *node, const char *key)
{
	(void)node;
	(void)key;
	return NULL; /* a flat list: no child nodes */
}

static int h_cfg_string(const caracal_cfg *node, const char *key, const char **out,
                        caracal_error *err)
{
	const char *v = lookup(node, key);
	if (v == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "%s: not set", key);
	*out = v;
	return CARACAL_OK;
}

static int h_cfg_int(const caracal_cfg *node, const char *key, int64_t *out, caracal_error *err)
{
	const char *v = lookup(node, key);
	char *end;
	if (v == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "%s: not set", key);
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return caracal_error_set(err, CARACAL_E_INVAL, "test.yaml:1: %s: not an int", key);
	*out = n;
	return CARACAL_OK;
}

static int h_cfg_bool(const caracal_cfg *node, const char *key, int *out, caracal_error *err)
{
	const char *v = lookup(node, key);
	if (v == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "%s: not set", key);
	*out = strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0;
	return CARACAL_OK;
}

static int h_cfg_duration(const caracal_cfg *node, const char *key, int64_t *out,
                          caracal_error *err)
{
	const char *v = lookup(node, key);
	char *end;
	if (v == NULL)
		return caracal_error_set(err, CARACAL_E_NOTFOUND, "%s: not set", key);
	long long n = strtoll(v, &end, 10);
	if (end == v)
		return caracal_error_set(err, CARACAL_E_INVAL, "test.yaml:1: %s: bad duration",
		                         key);
	if (strcmp(end, "ms") == 0)
		*out = n;
	else if (strcmp(end, "s") == 0)
		*out = n * 1000;
	else if (strcmp(end, "m") == 0)
		*out = n * 60000;
	else if (strcmp(end, "h") == 0)
		*out = n * 3600000;
	else
		return caracal_error_set(err, CARACAL_E_INVAL, "test.yaml:1: %s: bad duration",
		                         key);
	return CARACAL_OK;
}

static int h_cfg_size(const caracal_cfg *node, const char *key, uint64_t *out, caracal_error *err)
{
	int64_t v;
	int rc = h_cfg_int(node, key, &v, err);
	if (rc == CARACAL_OK)
		*out = (uint64_t)v;
	return rc;
}

static size_t h_cfg_count(const caracal_cfg *node)
{
	return node != NULL ? node->n : 0;
}

static const caracal_cfg *h_cfg_at(const caracal_cfg *node, size_t i, const char **key)
{
	(void)node;
	(void)i;
	if (key)
		*key = NULL;
	return NULL;
}

static const char *h_cfg_scalar(const caracal_cfg *node)
{
	(void)node;
	return NULL;
}

static const char *h_cfg_where(const caracal_cfg *node)
{
	(void)node;
	return "test.yaml:1";
}

static int h_cfg_secret(const caracal_cfg *node, const char *key, unsigned char *buf, size_t cap,
                        size_t *len, caracal_error *err)
{
	char name[128];
	const char *v;
	unsigned char tmp[4096];
	size_t n = 0;

	snprintf(name, sizeof name, "%s_file", key);
	if ((v = lookup(node, name)) != NULL) {
		FILE *f = fopen(v, "rb");
		if (f == NULL)
			return caracal_error_set(err, CARACAL_E_INVAL, "%s: cannot read %s", name,
			                         v);
		n = fread(tmp, 1, sizeof tmp, f);
		fclose(f);
		if (n > 0 && tmp[n - 1] == '\n')
			n--;
	} else {
		snprintf(name, sizeof name, "%s_env", key);
		if ((v = lookup(node, name)) != NULL) {
			v = getenv(v);
			if (v == NULL)
				return caracal_error_set(err, CARACAL_E_INVAL, "%s: unset", name);
		} else if ((v = lookup(node, key)) == NULL) {
			return caracal_error_set(err, CARACAL_E_NOTFOUND, "%s: not set", key);
		}
		n = strlen(v);
		if (n > sizeof tmp)
			n = sizeof tmp;
		memcpy(tmp, v, n);
	}
	if (n == 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: empty", key);
	if (n > cap) {
		OPENSSL_cleanse(tmp, sizeof tmp);
		return caracal_error_set(err, CARACAL_E_TOOBIG, "%s: too long", key);
	}
	memcpy(buf, tmp, n);
	*len = n;
	OPENSSL_cleanse(tmp, sizeof tmp);
	return CARACAL_OK;
}

static void *h_arena_alloc(caracal_arena *a, size_t n)
{
	void **blocks = realloc(a->blocks, (a->n + 1) * sizeof *blocks);
	if (blocks == NULL)
		return NULL;
	a->blocks = blocks;
	void *p = calloc(1, n ? n : 1);
	if (p != NULL)
		a->blocks[a->n++] = p;
	return p;
}

static char *h_arena_strndup(caracal_arena *a, const char *s, size_t n)
{
	char *p = h_arena_alloc(a, n + 1);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static int h_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? CARACAL_OK : CARACAL_E_UNAVAIL;
}

static void h_secure_zero(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

static int h_const_time_eq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

static int64_t h_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t h_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct ossl_lib_ctx_st *h_libctx(void)
{
	return NULL; /* the default library context */
}

static const char *h_data_dir(void)
{
	return data_dir;
}

static int h_production(void)
{
	return 0;
}

static int h_audit_emit(const caracal_scope *s, const char *json, size_t len, caracal_error *err)
{
	(void)s;
	(void)json;
	(void)len;
	return caracal_error_set(err, CARACAL_E_UNAVAIL, "no audit pipeline in tests");
}

static const caracal_host host = {
    .size = sizeof(caracal_host),
    .abi_major = CARACAL_ABI_MAJOR,
    .abi_minor = CARACAL_ABI_MINOR,
    .log = h_log,
    .metric_count = h_metric,
    .cfg_child = h_cfg_child,
    .cfg_string = h_cfg_string,
    .cfg_int = h_cfg_int,
    .cfg_bool = h_cfg_bool,
    .cfg_duration_ms = h_cfg_duration,
    .cfg_size = h_cfg_size,
    .cfg_count = h_cfg_count,
    .cfg_at = h_cfg_at,
    .cfg_scalar = h_cfg_scalar,
    .cfg_where = h_cfg_where,
    .cfg_secret = h_cfg_secret,
    .arena_alloc = h_arena_alloc,
    .arena_strndup = h_arena_strndup,
    .random_bytes = h_random,
    .secure_zero = h_secure_zero,
    .const_time_eq = h_const_time_eq,
    .now_us = h_now_us,
    .monotonic_us = h_monotonic_us,
    .ossl_libctx = h_libctx,
    .data_dir = h_data_dir,
    .production_mode = h_production,
    .audit_emit = h_audit_emit,
};

const caracal_host *th_host(void)
{
	return &host;
}
