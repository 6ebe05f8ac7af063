/* libFuzzer target: the token endpoint's form parser. Invariants: it never
 * crashes, a success has a grant_type equal to the token-exchange URN, and
 * resources are trimmed, non-empty, unique and sorted. */
#include "roles/sts/form.h"
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	caracal_arena *arena = arena_new();
	if (arena == NULL)
		return 0;
	sts_form f;
	sts_form_error fe;
	int rc = sts_form_parse((const char *)data, size, arena, &f, &fe);
	if (rc == 0) {
		if (strcmp(f.grant_type, STS_GRANT_TOKEN_EXCHANGE) != 0)
			abort();
		for (size_t i = 0; i < f.resource_count; i++) {
			if (f.resources[i][0] == '\0' || f.resources[i][0] == ' ')
				abort();
			if (i > 0 && strcmp(f.resources[i - 1], f.resources[i]) >= 0)
				abort();
		}
	} else if (rc == -1) {
		if (fe.status != 400 && fe.status != 413)
			abort();
	}
	arena_free(arena);
	return 0;
}
