/* json_canon.c — see json_canon.h. */
#include "util/json_canon.h"

#include "util/jsonw.h"

#include <stdlib.h>
#include <string.h>

struct key_ref {
	const char *key;
	size_t len;
	json_t *value;
};

/* Byte order, a prefix first: what jansson's JSON_SORT_KEYS does. */
static int key_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void write_value(jsonw *w, const json_t *v);

static void write_object(jsonw *w, const json_t *obj)
{
	size_t n = json_object_size(obj);
	struct key_ref small[16];
	struct key_ref *keys = n <= 16 ? small : malloc(n * sizeof *keys);
	if (keys == NULL) {
		w->failed = 1;
		return;
	}
	size_t i = 0;
	const char *key;
	size_t key_len;
	json_t *value;
	void *tmp;
	json_object_keylen_foreach_safe((json_t *)obj, tmp, key, key_len, value)
	{
		keys[i++] = (struct key_ref){key, key_len, value};
	}
	qsort(keys, i, sizeof *keys, key_cmp);
	jsonw_object_begin(w);
	for (size_t k = 0; k < i; k++) {
		/* jsonw_key takes a C string; a key with a NUL cannot be one. */
		if (memchr(keys[k].key, 0, keys[k].len) != NULL) {
			w->failed = 1;
			break;
		}
		jsonw_key(w, keys[k].key);
		write_value(w, keys[k].value);
	}
	jsonw_object_end(w);
	if (keys != small)
		free(keys);
}

static void write_value(jsonw *w, const json_t *v)
{
	if (w->failed)
		return;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		write_object(w, v);
		break;
	case JSON_ARRAY:
		jsonw_array_begin(w);
		for (size_t i = 0; i < json_array_size(v); i++)
			write_value(w, json_array_get(v, i));
		jsonw_array_end(w);
		break;
	case JSON_STRING:
		jsonw_strn(w, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jsonw_int(w, (int64_t)json_integer_value(v));
		break;
	case JSON_TRUE:
		jsonw_bool(w, 1);
		break;
	case JSON_FALSE:
		jsonw_bool(w, 0);
		break;
	case JSON_NULL:
		jsonw_null(w);
		break;
	case JSON_REAL: {
		/* Rare in events: jansson's own number formatting, verbatim. */
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (text == NULL)
			w->failed = 1;
		else
			jsonw_raw(w, text, strlen(text));
		free(text);
		break;
	}
	default:
		w->failed = 1;
	}
}

char *json_canonical(const json_t *v, size_t *len)
{
	if (v == NULL)
		return NULL;
	jsonw w;
	jsonw_init_cap(&w, 2048); /* an audit event; the writer grows past it */
	write_value(&w, v);
	return jsonw_finish(&w, len);
}
