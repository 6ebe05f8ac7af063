/* why.h — the "0, or -1 with a reason in why" convention of pure checks
 * (parsers, verifiers): one formatter for every such reason. */
#ifndef CARACAL_CORE_WHY_H
#define CARACAL_CORE_WHY_H

#include <stddef.h>

/* Format the reason into why (cap bytes; NULL or 0: discarded) and return
 * -1, so that a failing check reads "return why_fail(why, cap, ...);". */
int why_fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
