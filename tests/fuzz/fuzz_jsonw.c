/* libFuzzer target: the JSON writer. Invariants: a string the writer
 * accepts reads back through jansson byte-for-byte, and a string it refuses
 * is not valid UTF-8 (jansson refuses it too); when the input parses as
 * JSON, its canonical text is byte-identical to jansson's sorted compact
 * dump (the audit chain's historical format). */
#include "util/json_canon.h"
#include "util/jsonw.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_real(const json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;
	if (json_is_real(v))
		return 1;
	json_array_foreach(v, i, x) if (has_real(x)) return 1;
	json_object_foreach((json_t *)v, k, x) if (has_real(x)) return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jsonw w;
	jsonw_init(&w);
	jsonw_array_begin(&w);
	jsonw_strn(&w, (const char *)data, size);
	jsonw_array_end(&w);
	size_t len = 0;
	char *doc = jsonw_finish(&w, &len);
	/* jansson's own UTF-8 check is the reference for validity. */
	json_t *ref = json_stringn((const char *)data, size);
	if (doc == NULL) {
		if (ref != NULL)
			abort();
		return 0;
	}
	if (ref == NULL)
		abort();
	json_error_t je;
	json_t *back = json_loadb(doc, len, JSON_ALLOW_NUL, &je);
	json_t *s = json_array_get(back, 0);
	if (!json_is_string(s) || json_string_length(s) != size ||
	    (size > 0 && memcmp(json_string_value(s), data, size) != 0))
		abort();
	json_decref(back);
	json_decref(ref);
	free(doc);

	json_t *parsed = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
	/* json_canon_check says yes only to what json_canonical writes back
	 * unchanged (and jansson reads without JSON_ALLOW_NUL). */
	int canonical = json_canon_check((const char *)data, size);
	if (canonical && parsed == NULL)
		abort();
	if (parsed != NULL) {
		size_t clen = 0;
		char *canon = json_canonical(parsed, &clen);
		char *expect = json_dumps(parsed, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		/* The writer nests at most JSONW_MAX_DEPTH deep; deeper input may fail. */
		if (canon != NULL &&
		    (expect == NULL || strcmp(canon, expect) != 0 || clen != strlen(expect)))
			abort();
		if (canonical && (canon == NULL || clen != size || memcmp(canon, data, size) != 0))
			abort();
		/* The converse where the check claims to know: text that is its own
		 * canonical form, without escapes (in keys) or real numbers. */
		if (!canonical && canon != NULL && clen == size && memcmp(canon, data, size) == 0 &&
		    memchr(data, '\\', size) == NULL && !has_real(parsed))
			abort();
		free(canon);
		free(expect);
		json_decref(parsed);
	}
	return 0;
}
