/* log.c — see log.h. */
#include "util/log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_MSG_MAX 2048
#define LOG_SECRET_MIN 4
#define LOG_SECRETS_MAX 256
static const char redacted[] = "[REDACTED]";

static _Atomic int log_level = CARACAL_LOG_INFO;
static _Atomic int log_fd = 2;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	unsigned char *bytes;
	size_t len;
} secrets[LOG_SECRETS_MAX];
static size_t secret_count;

void log_set_level(caracal_log_level level)
{
	atomic_store(&log_level, (int)level);
}

caracal_log_level log_get_level(void)
{
	return (caracal_log_level)atomic_load(&log_level);
}

int log_level_parse(const char *text)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcmp(text, names[i]) == 0)
			return i;
	return -1;
}

void log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

int log_register_secret(const void *secret, size_t len)
{
	if (len < LOG_SECRET_MIN)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&secrets_lock);
	for (size_t i = 0; i < secret_count; i++) {
		if (secrets[i].len == len && memcmp(secrets[i].bytes, secret, len) == 0)
			goto out;
	}
	if (secret_count == LOG_SECRETS_MAX) {
		rc = -1;
		goto out;
	}
	secrets[secret_count].bytes = malloc(len);
	if (secrets[secret_count].bytes == NULL) {
		rc = -1;
		goto out;
	}
	memcpy(secrets[secret_count].bytes, secret, len);
	secrets[secret_count].len = len;
	secret_count++;
out:
	pthread_mutex_unlock(&secrets_lock);
	return rc;
}

void log_clear_secrets(void)
{
	pthread_mutex_lock(&secrets_lock);
	for (size_t i = 0; i < secret_count; i++) {
		OPENSSL_cleanse(secrets[i].bytes, secrets[i].len);
		free(secrets[i].bytes);
		secrets[i].bytes = NULL;
	}
	secret_count = 0;
	pthread_mutex_unlock(&secrets_lock);
}

/* Replace each occurrence of one secret; the text may shrink or grow, but
 * never beyond cap - 1 bytes. */
static void redact_one(char *text, size_t cap, const unsigned char *secret, size_t slen)
{
	size_t rlen = sizeof redacted - 1;
	char *p = text;
	for (;;) {
		size_t tlen = strlen(p);
		char *hit = NULL;
		for (size_t i = 0; i + slen <= tlen; i++) {
			if (memcmp(p + i, secret, slen) == 0) {
				hit = p + i;
				break;
			}
		}
		if (hit == NULL)
			return;
		size_t head = (size_t)(hit - text);
		size_t tail = strlen(hit + slen);
		if (head + rlen >= cap) {
			/* No room even for the marker: cut the text at the secret. */
			*hit = '\0';
			return;
		}
		if (head + rlen + tail >= cap)
			tail = cap - 1 - head - rlen;
		memmove(hit + rlen, hit + slen, tail);
		memcpy(hit, redacted, rlen);
		hit[rlen + tail] = '\0';
		p = hit + rlen;
	}
}

void log_redact(char *text, size_t cap)
{
	pthread_mutex_lock(&secrets_lock);
	for (size_t i = 0; i < secret_count; i++)
		redact_one(text, cap, secrets[i].bytes, secrets[i].len);
	pthread_mutex_unlock(&secrets_lock);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
	if (n == 0 || n > len || (c >= 0xf5))
		return 0;
	uint32_t cp = n == 1 ? c : c & (0xff >> (n + 1));
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t log_json_escape(char *out, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		char buf[7];
		size_t n, used = 1;
		if (c == '"' || c == '\\') {
			buf[0] = '\\';
			buf[1] = (char)c;
			n = 2;
		} else if (c == '\n') {
			memcpy(buf, "\\n", 2);
			n = 2;
		} else if (c == '\t') {
			memcpy(buf, "\\t", 2);
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(buf, "\\u00", 4);
			buf[4] = hex[c >> 4];
			buf[5] = hex[c & 15];
			n = 6;
		} else if (c < 0x80) {
			buf[0] = (char)c;
			n = 1;
		} else if ((used = utf8_seq((const unsigned char *)s + i, len - i)) > 0) {
			/* A whole, valid multibyte character, copied as it is. */
			memcpy(buf, s + i, used);
			n = used;
		} else {
			/* Log lines stay valid JSON whatever a message holds. */
			memcpy(buf, "\\ufffd", 6);
			n = 6;
			used = 1;
		}
		if (o + n >= cap)
			break;
		memcpy(out + o, buf, n);
		o += n;
		i += used;
	}
	out[o] = '\0';
	return o;
}

void log_vmsg(caracal_log_level level, const char *component, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	if ((int)level > atomic_load(&log_level) || (int)level < 0)
		return;

	/* Redact the whole message before anything cuts it: a secret that
	 * straddled a cut would otherwise leak its first part. */
	char small[LOG_MSG_MAX];
	char *msg = small;
	size_t cap = sizeof small;
	va_list copy;
	va_copy(copy, ap);
	int need = vsnprintf(small, sizeof small, fmt, copy);
	va_end(copy);
	if (need < 0) {
		small[0] = '\0';
	} else if ((size_t)need + 16 > sizeof small) {
		size_t big = (size_t)need * 2 + 64;
		char *heap = big <= (1u << 20) ? malloc(big) : NULL;
		if (heap != NULL && vsnprintf(heap, big, fmt, ap) >= 0) {
			msg = heap;
			cap = big;
		} else {
			free(heap);
		}
	}
	log_redact(msg, cap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);

	char esc_msg[LOG_MSG_MAX * 2];
	char esc_comp[128];
	log_json_escape(esc_msg, sizeof esc_msg, msg, strlen(msg));
	log_json_escape(esc_comp, sizeof esc_comp, component, strlen(component));

	char line[LOG_LINE_MAX];
	int n = snprintf(
	    line, sizeof line,
	    "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n", when,
	    ts.tv_nsec / 1000, names[level], esc_comp, esc_msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		/* Keep the line valid JSON when the message had to be cut. */
		n = snprintf(line, sizeof line,
		             "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"component\":\"%s\","
		             "\"msg\":\"(message too long, %zu bytes)\"}\n",
		             when, ts.tv_nsec / 1000, names[level], esc_comp, strlen(msg));
		if (n < 0)
			goto out;
	}
	ssize_t w = write(atomic_load(&log_fd), line, (size_t)n);
	(void)w; /* nowhere to report a failure to log */
out:
	if (msg != small)
		free(msg);
}

void log_msg(caracal_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, component, fmt, ap);
	va_end(ap);
}
