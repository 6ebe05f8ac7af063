/* test_host.c — see test_host.h. */
#include "config.h"

#include "test_host.h"

#include "config/config.h"
#include "host.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TH_MAX_KEYS 32

struct th_cfg {
	size_t n;
	char *keys[TH_MAX_KEYS];
	char *values[TH_MAX_KEYS];
	config_tree *tree;
};

static caracal_scope *scope;
static FILE *log_capture;

const caracal_host *th_host(void)
{
	return host_services();
}

const caracal_scope *th_scope(void)
{
	if (scope == NULL)
		scope = host_scope_new("audit_file", "test");
	return scope;
}

void th_fini(void)
{
	host_scope_free(scope);
	scope = NULL;
	if (log_capture != NULL) {
		log_set_fd(2);
		fclose(log_capture);
		log_capture = NULL;
	}
}

void th_set_data_dir(const char *path)
{
	host_set_data_dir(path);
}

void th_log_reset(void)
{
	if (log_capture == NULL) {
		log_capture = tmpfile();
		if (log_capture == NULL)
			return;
		log_set_fd(fileno(log_capture));
	}
	fflush(log_capture);
	if (ftruncate(fileno(log_capture), 0) != 0)
		return;
	rewind(log_capture);
}

unsigned th_log_count(caracal_log_level level)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char pat[32], line[4096];
	unsigned n = 0;
	if (log_capture == NULL)
		return 0;
	snprintf(pat, sizeof pat, "\"level\":\"%s\"", names[level & 3]);
	rewind(log_capture);
	while (fgets(line, sizeof line, log_capture) != NULL) {
		fputs(line, stderr);
		n += strstr(line, pat) != NULL;
	}
	return n;
}

th_cfg *th_cfg_new(void)
{
	return calloc(1, sizeof(th_cfg));
}

void th_cfg_set(th_cfg *cfg, const char *key, const char *value)
{
	for (size_t i = 0; i < cfg->n; i++) {
		if (strcmp(cfg->keys[i], key) != 0)
			continue;
		free(cfg->values[i]);
		if (value != NULL) {
			cfg->values[i] = strdup(value);
			return;
		}
		free(cfg->keys[i]);
		cfg->keys[i] = cfg->keys[cfg->n - 1];
		cfg->values[i] = cfg->values[cfg->n - 1];
		cfg->n--;
		return;
	}
	if (value != NULL && cfg->n < TH_MAX_KEYS) {
		cfg->keys[cfg->n] = strdup(key);
		cfg->values[cfg->n] = strdup(value);
		cfg->n++;
	}
}

const caracal_cfg *th_cfg_node(th_cfg *cfg, const caracal_cfg_key *schema, caracal_error *err)
{
	char yaml[8192];
	size_t len = 0;
	config_tree_free(cfg->tree);
	cfg->tree = NULL;
	/* Values are quoted so "0600"-like strings stay strings; YAML double
	 * quotes: test values contain no '"' or '\\'. An empty block is {}. */
	if (cfg->n == 0)
		len = (size_t)snprintf(yaml, sizeof yaml, "{}\n");
	for (size_t i = 0; i < cfg->n && len < sizeof yaml; i++)
		len += (size_t)snprintf(yaml + len, sizeof yaml - len, "%s: \"%s\"\n", cfg->keys[i],
		                        cfg->values[i]);
	if (len >= sizeof yaml) {
		caracal_error_set(err, CARACAL_E_TOOBIG, "test config too big");
		return NULL;
	}
	cfg->tree = config_tree_load_buffer("audit.yaml", yaml, len, err);
	if (cfg->tree == NULL)
		return NULL;
	const caracal_cfg *root = config_tree_root(cfg->tree);
	if (config_validate(root, schema, NULL, NULL, NULL, err) != CARACAL_OK)
		return NULL;
	return root;
}

const caracal_cfg *th_cfg_unvalidated(const th_cfg *cfg)
{
	return cfg->tree != NULL ? config_tree_root(cfg->tree) : NULL;
}

void th_cfg_free(th_cfg *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->keys[i]);
		free(cfg->values[i]);
	}
	config_tree_free(cfg->tree);
	free(cfg);
}
