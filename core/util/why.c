/* why.c — see why.h. */
#include "util/why.h"

#include <stdarg.h>
#include <stdio.h>

int why_fail(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		if (vsnprintf(why, cap, fmt, ap) < 0)
			why[0] = '\0';
		va_end(ap);
	}
	return -1;
}
