/* rfc3339.h — RFC 3339 date-times as the reference system (Go's
 * time.RFC3339) reads them: "2006-01-02T15:04:05[.frac](Z|±hh:mm)",
 * upper-case T and Z, no leap second; digits past microseconds are dropped
 * (rounding down: an expiry never moves later). No libc time functions, so
 * no TZ or range surprises. */
#ifndef CARACAL_CORE_RFC3339_H
#define CARACAL_CORE_RFC3339_H

#include <stdint.h>

/* Microseconds since the Unix epoch (negative before it). 0, or -1. */
int rfc3339_parse(const char *s, int64_t *us);

#endif
