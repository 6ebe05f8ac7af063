/*
 * caracal/host.h — the services the daemon offers to plugins.
 *
 * The host passes one const caracal_host table to the plugin's init() and
 * keeps it alive for the life of the process. Plugins never link against host
 * symbols (they are built with -z defs): everything they need from the daemon
 * is reached through this table, as OpenSSL providers reach libcrypto through
 * their dispatch table.
 *
 * Threading: every function here is thread-safe and may be called from any
 * thread, including threads a plugin starts itself. None of them blocks on the
 * network; log() may block briefly on stderr.
 *
 * The table starts with its size and only grows at the end: a plugin that
 * needs a member added in a later minor version checks
 *   host->size >= offsetof(caracal_host, member) + sizeof host->member
 * (CARACAL_HOST_HAS(host, member)) before calling it.
 */
#ifndef CARACAL_HOST_H
#define CARACAL_HOST_H

#include <caracal/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* OpenSSL's own struct tag for OSSL_LIB_CTX; no OpenSSL header is needed. */
struct ossl_lib_ctx_st;

typedef enum caracal_log_level {
	CARACAL_LOG_ERROR = 0,
	CARACAL_LOG_WARN = 1,
	CARACAL_LOG_INFO = 2,
	CARACAL_LOG_DEBUG = 3,
} caracal_log_level;

/* Config value types a plugin schema can ask for (caracal/plugin.h). */
typedef enum caracal_cfg_type {
	CARACAL_CFG_STRING = 1,
	CARACAL_CFG_INT = 2,      /* int64, decimal */
	CARACAL_CFG_BOOL = 3,     /* true/false/yes/no/on/off */
	CARACAL_CFG_DURATION = 4, /* "250ms", "5s", "2m", "1h"; read as milliseconds */
	CARACAL_CFG_SIZE = 5,     /* "64k", "1m", bytes */
	CARACAL_CFG_SECRET = 6,   /* KEY_file: path or KEY_env: VAR; never inline in production */
	CARACAL_CFG_LIST = 7,     /* a sequence of scalars */
	CARACAL_CFG_MAP = 8,      /* a free-form mapping the plugin validates itself */
} caracal_cfg_type;

#define CARACAL_HOST_HAS(host, member) \
	((host)->size >= offsetof(caracal_host, member) + sizeof((host)->member))

struct caracal_host {
	uint32_t size;
	uint16_t abi_major; /* the host's ABI version */
	uint16_t abi_minor;

	/* --- logging and metrics (plugin-scoped through the caracal_scope) --- */

	/* One JSON log line tagged with the plugin and instance name. Secrets the
	 * host knows of (every value read through cfg_secret) are redacted. */
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	void (*log)(const caracal_scope *scope, caracal_log_level level, const char *fmt, ...);

	/* Add to a counter exported on /metrics as caracal_plugin_<name>_total with
	 * labels plugin="...",instance="..." plus the given label (may be NULL). */
	void (*metric_count)(const caracal_scope *scope, const char *name, const char *label,
	                     uint64_t delta);

	/* --- config: read-only accessors over the host-owned tree. ---
	 * Nodes stay valid while the instance they were given to lives. Getters
	 * return CARACAL_OK, CARACAL_E_NOTFOUND (key absent) or CARACAL_E_INVAL
	 * (present with the wrong type; err names file:line). Values already passed
	 * the schema check, so plugins rarely see INVAL. */
	const caracal_cfg *(*cfg_child)(const caracal_cfg *node, const char *key);
	int (*cfg_string)(const caracal_cfg *node, const char *key, const char **out,
	                  caracal_error *err);
	int (*cfg_int)(const caracal_cfg *node, const char *key, int64_t *out, caracal_error *err);
	int (*cfg_bool)(const caracal_cfg *node, const char *key, int *out, caracal_error *err);
	/* DURATION in milliseconds, SIZE in bytes. */
	int (*cfg_duration_ms)(const caracal_cfg *node, const char *key, int64_t *out,
	                       caracal_error *err);
	int (*cfg_size)(const caracal_cfg *node, const char *key, uint64_t *out,
	                caracal_error *err);
	/* Number of entries of a sequence or mapping node, and the i-th one (key
	 * is set for mappings, NULL for sequences). */
	size_t (*cfg_count)(const caracal_cfg *node);
	const caracal_cfg *(*cfg_at)(const caracal_cfg *node, size_t i, const char **key);
	/* The scalar text of a node, or NULL when it is not a scalar. */
	const char *(*cfg_scalar)(const caracal_cfg *node);
	/* "file:line" of a node, for error messages. */
	const char *(*cfg_where)(const caracal_cfg *node);

	/* A SECRET: resolves KEY_file (read, trailing newline stripped) or KEY_env.
	 * The bytes are copied into buf (cap bytes); *len receives their length.
	 * The value is remembered for log redaction. The plugin zeroises its copy
	 * with secure_zero when done. TOOBIG when cap is too small. */
	int (*cfg_secret)(const caracal_cfg *node, const char *key, unsigned char *buf, size_t cap,
	                  size_t *len, caracal_error *err);

	/* --- memory owned by the caller of an operation --- */
	void *(*arena_alloc)(caracal_arena *arena, size_t n); /* zeroed, 16-aligned, NULL on OOM */
	char *(*arena_strndup)(caracal_arena *arena, const char *s, size_t n);

	/* --- randomness, secrets, clocks --- */
	int (*random_bytes)(void *buf, size_t n); /* CSPRNG; CARACAL_OK or UNAVAIL */
	void (*secure_zero)(void *p, size_t n);
	int (*const_time_eq)(const void *a, const void *b, size_t n); /* 1 when equal */
	int64_t (*now_us)(void);       /* wall clock, µs since epoch (mockable in tests) */
	int64_t (*monotonic_us)(void); /* monotonic clock, µs (mockable in tests) */

	/* The OpenSSL library context. The host alone initialises and cleans up
	 * OpenSSL; plugins fetch algorithms from this context. */
	struct ossl_lib_ctx_st *(*ossl_libctx)(void);

	/* Where embedded state lives (config key data_dir); absolute path. */
	const char *(*data_dir)(void);
	/* 1 when the config says mode: production. */
	int (*production_mode)(void);

	/* Emit an audit event through the core's audit pipeline (signed stream,
	 * spool on failure). json is one JSON object with at least zone_id and
	 * event_type; the core adds id, occurred_at and the plugin's name. */
	int (*audit_emit)(const caracal_scope *scope, const char *json, size_t len,
	                  caracal_error *err);
};

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_HOST_H */
