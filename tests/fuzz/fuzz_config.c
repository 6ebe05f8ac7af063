/* fuzz_config.c — libFuzzer target for core/config: the YAML loader, schema
 * validation, --set and the typed getters and parsers.
 *
 * Input: the last byte n says how many bytes before it form a --set
 * argument; everything before those is the YAML document. */
#include "config/config.h"
#include "util/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const caracal_cfg_key schema[] = {
    {"mode", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED, NULL},
    {"data_dir", CARACAL_CFG_STRING, 0, NULL},
    {"threads.loops", CARACAL_CFG_INT, 0, NULL},
    {"threads.workers", CARACAL_CFG_INT, CARACAL_CFG_REQUIRED, NULL},
    {"sts.listen", CARACAL_CFG_STRING, 0, NULL},
    {"sts.token_ttl", CARACAL_CFG_DURATION, 0, NULL},
    {"sts.max_body", CARACAL_CFG_SIZE, 0, NULL},
    {"sts.debug", CARACAL_CFG_BOOL, 0, NULL},
    {"sts.hosts", CARACAL_CFG_LIST, 0, NULL},
    {"sts.hmac_key", CARACAL_CFG_SECRET, CARACAL_CFG_REQUIRED, NULL},
    {"sts.extra", CARACAL_CFG_MAP, 0, NULL},
    {"a.b.c.d", CARACAL_CFG_INT, 0, NULL},
    {NULL, 0, 0, NULL},
};

static const char *const ignore[] = {"plugin", NULL};

static void report(void *ud, const char *message)
{
	size_t *n = ud;
	*n += strlen(message);
}

/* Read every node through the public accessors. */
static void walk(const config_node *n, int depth)
{
	caracal_error err;
	if (n->kind == CONFIG_SCALAR) {
		int64_t i;
		int b;
		uint64_t sz;
		(void)config_parse_int(n->value, &i);
		(void)config_parse_bool(n->value, &b);
		(void)config_parse_duration_ms(n->value, &i);
		(void)config_parse_size(n->value, &sz);
		if (strlen(n->value) != n->value_len)
			abort();
		return;
	}
	for (size_t k = 0; k < n->count; k++) {
		if (n->kind == CONFIG_MAP) {
			const char *s;
			int64_t i;
			/* Every key without a dot can be looked up. */
			if (strchr(n->keys[k], '.') == NULL && config_get(n, n->keys[k]) == NULL)
				abort();
			(void)config_get_string(n, n->keys[k], &s, &err);
			(void)config_get_int(n, n->keys[k], &i, &err);
		}
		if (depth < CONFIG_MAX_DEPTH + 1)
			walk(n->children[k], depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		log_set_level(CARACAL_LOG_ERROR);
		once = 1;
	}
	size_t setlen = 0;
	if (size > 0) {
		setlen = data[size - 1];
		size--;
		if (setlen > size)
			setlen = size;
	}
	size_t ylen = size - setlen;
	char *set = malloc(setlen + 1);
	if (set == NULL)
		return 0;
	memcpy(set, data + ylen, setlen);
	set[setlen] = '\0';

	caracal_error err;
	config_tree *t = config_tree_load_buffer("fuzz.yaml", (const char *)data, ylen, &err);
	if (t != NULL) {
		size_t total = 0;
		const config_node *root = config_tree_root(t);
		(void)config_validate(root, schema, ignore, report, &total, &err);
		walk(root, 0);
		if (config_tree_set(t, set, &err) == CARACAL_OK) {
			/* What was set can be read back. */
			const char *eq = strchr(set, '=');
			*(char *)eq = '\0';
			const char *s;
			if (config_get_string(root, set, &s, &err) != CARACAL_OK &&
			    strchr(set, '.') == NULL)
				abort();
		}
		(void)config_validate(root, schema, NULL, report, &total, &err);
		walk(root, 0);
		config_tree_free(t);
	}
	free(set);
	return 0;
}
