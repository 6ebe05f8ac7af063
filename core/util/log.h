/*
 * log.h — JSON log lines on stderr, one write(2) per line so lines of
 * different threads never interleave:
 *
 *   {"ts":"2026-11-25T23:01:02.123456Z","level":"info","component":"http","msg":"..."}
 *
 * Every value registered with log_register_secret() is replaced by
 * "[REDACTED]" wherever it appears in a message, before the line is written.
 */
#ifndef CARACAL_CORE_LOG_H
#define CARACAL_CORE_LOG_H

#include <caracal/host.h>
#include <stdarg.h>
#include <stddef.h>

void log_set_level(caracal_log_level level);
caracal_log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *text);
/* Write lines to fd instead of stderr (tests). */
void log_set_fd(int fd);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void log_msg(caracal_log_level level, const char *component, const char *fmt, ...);
void log_vmsg(caracal_log_level level, const char *component, const char *fmt, va_list ap);

/* Remember a secret for redaction (values shorter than 4 bytes are ignored:
 * redacting them would shred ordinary text). Returns 0 or -1 on OOM. */
int log_register_secret(const void *secret, size_t len);
/* Forget every registered secret (zeroised). */
void log_clear_secrets(void);

/* Redact known secrets in text (in place; the result is never longer than
 * cap - 1). Exposed for tests. */
void log_redact(char *text, size_t cap);

/* Escape s as a JSON string body (without quotes) into out; returns the
 * length written (always NUL-terminated, truncated to fit). */
size_t log_json_escape(char *out, size_t cap, const char *s, size_t len);

#define log_error(component, ...) log_msg(CARACAL_LOG_ERROR, component, __VA_ARGS__)
#define log_warn(component, ...) log_msg(CARACAL_LOG_WARN, component, __VA_ARGS__)
#define log_info(component, ...) log_msg(CARACAL_LOG_INFO, component, __VA_ARGS__)
#define log_debug(component, ...) log_msg(CARACAL_LOG_DEBUG, component, __VA_ARGS__)

#endif
