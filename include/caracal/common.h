/*
 * caracal/common.h — types shared by every part of the Caracal plugin ABI.
 *
 * This header is part of the installed plugin SDK. A plugin includes only
 * <caracal/...> headers; it never sees the daemon's internals.
 *
 * Rules that hold for every call across the boundary (host -> plugin and
 * plugin -> host):
 *
 *  - Status: every operation returns an int, CARACAL_OK (0) or a negative
 *    CARACAL_E_* code. No errno and no thread-local error state crosses the
 *    boundary.
 *  - Errors: the caller passes a caracal_error it owns; on failure the callee
 *    sets code and a NUL-terminated message (never containing a secret).
 *  - Memory: arguments are borrowed for the duration of the call only.
 *    Variable-length results are allocated in a caracal_arena the caller
 *    passes in, through the host's arena functions; the caller frees the arena.
 *    Nothing allocated on one side is free()d on the other.
 *  - Strings are UTF-8 and NUL-terminated unless a length is given with them;
 *    JSON crosses as UTF-8 text with a length (caracal_str).
 *  - Times are int64 microseconds since the Unix epoch (UTC); 0 means "absent".
 *  - Every struct that may grow starts with a uint32_t size, set by whoever
 *    allocates the struct to sizeof() as it was compiled. A reader never reads
 *    a member that lies beyond size; such members count as absent (NULL/0).
 *    Structs only grow at the end; members never move or change type.
 */
#ifndef CARACAL_COMMON_H
#define CARACAL_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Negative values only; new codes are added at the end. */
enum caracal_status {
	CARACAL_OK = 0,
	CARACAL_E_NOMEM = -1,       /* allocation failed */
	CARACAL_E_INVAL = -2,       /* the arguments or the input are invalid */
	CARACAL_E_NOTFOUND = -3,    /* no such record / key / message */
	CARACAL_E_CONFLICT = -4,    /* already exists, already consumed, version raced */
	CARACAL_E_DENIED = -5,      /* refused by rule (not an error of the plugin) */
	CARACAL_E_UNAVAIL = -6,     /* backend down or not ready: retry later */
	CARACAL_E_TIMEOUT = -7,     /* the call's own time bound expired */
	CARACAL_E_INTERNAL = -8,    /* a bug or an impossible state */
	CARACAL_E_UNSUPPORTED = -9, /* the plugin does not implement this */
	CARACAL_E_TOOBIG = -10,     /* a size bound was exceeded */
	CARACAL_E_INTEGRITY = -11,  /* a signature, MAC or hash chain did not verify */
};

/* Messages are truncated to fit; they must never carry secret material. */
#define CARACAL_ERROR_MESSAGE_MAX 256

typedef struct caracal_error {
	int code;                                /* a CARACAL_E_* status */
	char message[CARACAL_ERROR_MESSAGE_MAX]; /* NUL-terminated */
} caracal_error;

/*
 * Fill an error and return its code, so a plugin can write
 *   return caracal_error_set(err, CARACAL_E_INVAL, "bad key %s", name);
 * Safe with err == NULL. Header-only: plugins link no host symbol.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int
caracal_error_set(caracal_error *err, int code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		if (vsnprintf(err->message, sizeof err->message, fmt, ap) < 0)
			err->message[0] = '\0';
		va_end(ap);
	}
	return code;
}

/* A borrowed or arena-owned byte string with its length (JSON, signatures). */
typedef struct caracal_str {
	const char *ptr;
	size_t len;
} caracal_str;

/* A borrowed or arena-owned list of NUL-terminated strings. */
typedef struct caracal_strlist {
	const char *const *items;
	size_t count;
} caracal_strlist;

/* Opaque host-owned objects. */
typedef struct caracal_arena caracal_arena; /* result memory, freed by its owner */
typedef struct caracal_cfg caracal_cfg;     /* a node of the host's config tree */
typedef struct caracal_scope caracal_scope; /* a plugin instance as the host knows it */

/* The host services table (caracal/host.h). */
typedef struct caracal_host caracal_host;

#ifdef __cplusplus
}
#endif
#endif /* CARACAL_COMMON_H */
