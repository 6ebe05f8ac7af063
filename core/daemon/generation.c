/* generation.c — see generation.h. */
#include "daemon/generation.h"
#include "roles/sts/gateway_auth.h"

#include "host.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keys of a plugin block that belong to the core, not to the plugin. */
static const char *const core_block_keys[] = {"plugin", "so", NULL};

static void report_to(config_report_fn report, void *ud, caracal_error *err, int *failed,
                      const caracal_error *e)
{
	if (report != NULL)
		report(ud, e->message);
	if (!*failed && err != NULL)
		*err = *e;
	*failed = 1;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -1;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int generation_dev_secret(const settings *st, const config_node *node, const char *key,
                          caracal_error *err)
{
	char file_key[128];
	const char *path;
	if (st->production)
		return CARACAL_OK;
	snprintf(file_key, sizeof file_key, "%s_file", key);
	if (config_get_string(node, file_key, &path, NULL) != CARACAL_OK)
		return CARACAL_OK;

	char abs[4096];
	if (path[0] == '/')
		snprintf(abs, sizeof abs, "%s", path);
	else if (snprintf(abs, sizeof abs, "%s/%s", st->data_dir, path) >= (int)sizeof abs)
		return caracal_error_set(err, CARACAL_E_INVAL, "secret path too long");
	size_t dl = strlen(st->data_dir);
	if (strncmp(abs, st->data_dir, dl) != 0 || abs[dl] != '/' || strstr(abs, "/../") != NULL)
		return CARACAL_OK; /* only ever create files inside data_dir */
	if (access(abs, F_OK) == 0)
		return CARACAL_OK;

	char dir[4096];
	snprintf(dir, sizeof dir, "%s", abs);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	if (mkdir_p(dir, 0700) != 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot create %s: %s", dir,
		                         strerror(errno));

	unsigned char raw[32];
	char hex[65];
	if (host_services()->random_bytes(raw, sizeof raw) != CARACAL_OK)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "no randomness for %s", abs);
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	host_services()->secure_zero(raw, sizeof raw);

	int fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot create %s: %s", abs,
		                         strerror(errno));
	ssize_t w = write(fd, hex, 64);
	int ok = w == 64 && fsync(fd) == 0;
	close(fd);
	host_services()->secure_zero(hex, sizeof hex);
	if (!ok) {
		unlink(abs);
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot write %s", abs);
	}
	log_warn("config", "development mode: generated secret %s for key '%s' (%s)", abs, key,
	         node->where);
	return CARACAL_OK;
}

static int dev_secrets_for(const settings *st, const config_node *block,
                           const caracal_cfg_key *schema, caracal_error *err)
{
	for (const caracal_cfg_key *k = schema; k != NULL && k->name != NULL; k++) {
		if (k->type != CARACAL_CFG_SECRET)
			continue;
		/* Dotted names name nested blocks: "admin.token" -> block admin. */
		const config_node *node = block;
		const char *leaf = k->name;
		const char *dot = strrchr(k->name, '.');
		if (dot != NULL) {
			char parent[128];
			size_t n = (size_t)(dot - k->name);
			if (n >= sizeof parent)
				continue;
			memcpy(parent, k->name, n);
			parent[n] = '\0';
			node = config_get(block, parent);
			leaf = dot + 1;
		}
		if (node == NULL || node->kind != CONFIG_MAP)
			continue;
		int rc = generation_dev_secret(st, node, leaf, err);
		if (rc != CARACAL_OK)
			return rc;
	}
	return CARACAL_OK;
}

static void free_instances(generation *gen)
{
	/* Stop every instance before destroying any: a stopping instance may
	 * still call into another one. Destroy in reverse order of creation. */
	for (size_t i = 0; i < gen->count; i++) {
		plugin_instance *pi = &gen->instances[i];
		if (pi->instance != NULL && pi->plugin->instance_stop != NULL)
			pi->plugin->instance_stop(pi->instance);
	}
	for (size_t i = gen->count; i-- > 0;) {
		plugin_instance *pi = &gen->instances[i];
		if (pi->instance != NULL)
			pi->plugin->instance_destroy(pi->instance);
		host_scope_free(pi->scope);
		free(pi->name);
	}
	free(gen->instances);
	free(gen->tctx);
	OPENSSL_cleanse(gen->admin_token, sizeof gen->admin_token);
	sts_gateway_key_free(gen->gateway_key);
}

/* Plugins whose init() succeeded. init runs once per process; a plugin whose
 * init failed stays loaded (code is never unloaded) and is initialised again
 * the next time a config names it. Only the main thread builds generations. */
#define MAX_INITIALISED 64
static const caracal_plugin *initialised[MAX_INITIALISED];
static size_t initialised_count;

static int ensure_initialised(const caracal_plugin *p, caracal_error *err)
{
	for (size_t i = 0; i < initialised_count; i++)
		if (initialised[i] == p)
			return CARACAL_OK;
	if (p->init != NULL) {
		caracal_error ie = {0};
		int rc = p->init(host_services(), &ie);
		if (rc != CARACAL_OK)
			return caracal_error_set(err, rc, "%s: init failed: %s", p->name,
			                         ie.message);
	}
	if (initialised_count == MAX_INITIALISED)
		return caracal_error_set(err, CARACAL_E_TOOBIG, "too many plugins");
	initialised[initialised_count++] = p;
	return CARACAL_OK;
}

/* Once caracald runs, mode and data_dir are fixed (it refuses reloads that
 * change them); tools and tests that build several generations apply each
 * one's settings. */
static int host_settings_fixed;

void generation_fix_host_settings(void)
{
	host_settings_fixed = 1;
}

static uint64_t generation_counter;

generation *generation_build(config_tree *tree, plugin_registry *registry, int check_only,
                             size_t slots, config_report_fn report, void *ud, caracal_error *err)
{
	int failed = 0;
	caracal_error e = {0};
	generation *gen = calloc(1, sizeof *gen);
	if (gen == NULL) {
		config_tree_free(tree);
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	gen->tree = tree;
	atomic_init(&gen->refs, 1);
	gen->slots = slots;

	const config_node *root = config_tree_root(tree);
	if (settings_load(root, &gen->settings, report, ud, err) != CARACAL_OK)
		failed = 1;
	const settings *st = &gen->settings;

	if (!check_only && !failed) {
		if (mkdir_p(st->data_dir, 0700) != 0) {
			caracal_error_set(&e, CARACAL_E_UNAVAIL, "cannot create data_dir %s: %s",
			                  st->data_dir, strerror(errno));
			report_to(report, ud, err, &failed, &e);
		}
		if (!host_settings_fixed) {
			host_set_data_dir(st->data_dir);
			host_set_production(st->production);
		}
		if (!failed && dev_secrets_for(st, root, settings_schema(), &e) != CARACAL_OK)
			report_to(report, ud, err, &failed, &e);
	}

	const config_node *plugins = st->plugins;
	size_t count = plugins != NULL && plugins->kind == CONFIG_MAP ? plugins->count : 0;
	if (plugins != NULL && plugins->kind != CONFIG_MAP) {
		caracal_error_set(&e, CARACAL_E_INVAL, "%s: key 'plugins': must be a mapping",
		                  plugins->where);
		report_to(report, ud, err, &failed, &e);
	}
	gen->instances = calloc(count ? count : 1, sizeof *gen->instances);
	gen->tctx = calloc((count ? count : 1) * (slots ? slots : 1), sizeof *gen->tctx);
	if (gen->instances == NULL || gen->tctx == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		generation_unref(gen);
		return NULL;
	}

	/* Load and validate every block first, so one run reports every
	 * problem; create instances only when the whole config is sound. */
	for (size_t i = 0; i < count; i++) {
		const char *iname = plugins->keys[i];
		const config_node *block = plugins->children[i];
		plugin_instance *pi = &gen->instances[gen->count++];
		pi->name = strdup(iname);
		pi->cfg = block;
		if (pi->name == NULL) {
			caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
			report_to(report, ud, err, &failed, &e);
			continue;
		}
		if (block->kind != CONFIG_MAP) {
			caracal_error_set(&e, CARACAL_E_INVAL,
			                  "%s: plugin instance '%s': must be a mapping",
			                  block->where, iname);
			report_to(report, ud, err, &failed, &e);
			continue;
		}
		const char *pname = iname;
		const char *so = NULL;
		config_get_string(block, "plugin", &pname, NULL);
		config_get_string(block, "so", &so, NULL);
		const caracal_plugin *p = plugin_registry_find(registry, pname);
		if (p == NULL)
			p = plugin_registry_load(registry, pname, so, &e);
		if (p != NULL && ensure_initialised(p, &e) != CARACAL_OK)
			p = NULL;
		if (p == NULL) {
			caracal_error ctx;
			caracal_error_set(&ctx, e.code, "%s: plugin instance '%s': %s",
			                  block->where, iname, e.message);
			report_to(report, ud, err, &failed, &ctx);
			continue;
		}
		pi->plugin = p;
		if (p->config_schema != NULL &&
		    config_validate(block, p->config_schema, core_block_keys, report, ud, &e) !=
		        CARACAL_OK) {
			if (!failed && err != NULL)
				*err = e;
			failed = 1;
		}
	}

	for (size_t s = 0; s < st->sink_count; s++) {
		size_t idx;
		const plugin_instance *pi = generation_find(gen, st->sinks[s], &idx);
		if (pi == NULL || pi->plugin == NULL || !(pi->plugin->kinds & CARACAL_KIND_AUDIT)) {
			caracal_error_set(&e, CARACAL_E_INVAL,
			                  "%s: key 'audit.sinks': '%s' is not a plugin instance of "
			                  "kind audit",
			                  config_get(root, "audit.sinks")->where, st->sinks[s]);
			report_to(report, ud, err, &failed, &e);
		}
	}

	/* The instances the roles reach storage, signing and policy through. */
	static const struct {
		const char *key;
		uint32_t kind;
		const char *kind_name;
	} deps[GEN_DEP_COUNT] = {
	    [GEN_DEP_STORAGE] = {"storage", CARACAL_KIND_STORAGE, "storage"},
	    [GEN_DEP_SIGNER] = {"signer", CARACAL_KIND_SIGNER, "signer"},
	    [GEN_DEP_POLICY] = {"policy", CARACAL_KIND_POLICY, "policy"},
	};
	const char *dep_names[GEN_DEP_COUNT] = {st->storage, st->signer, st->policy};
	for (int k = 0; k < GEN_DEP_COUNT; k++) {
		gen->dep_index[k] = -1;
		if (dep_names[k] == NULL)
			continue;
		size_t idx;
		const plugin_instance *pi = generation_find(gen, dep_names[k], &idx);
		if (pi == NULL || pi->plugin == NULL || !(pi->plugin->kinds & deps[k].kind)) {
			caracal_error_set(&e, CARACAL_E_INVAL,
			                  "%s: key '%s': '%s' is not a plugin instance of kind %s",
			                  config_get(root, deps[k].key)->where, deps[k].key,
			                  dep_names[k], deps[k].kind_name);
			report_to(report, ud, err, &failed, &e);
			continue;
		}
		gen->dep_index[k] = (int)idx;
	}
	/* A role without its plugins answers 503 on its routes (fail closed);
	 * production refuses to start that way. */
	if (st->listen[ROLE_STS].enabled &&
	    (st->storage == NULL || st->signer == NULL || st->policy == NULL)) {
		caracal_error_set(&e, CARACAL_E_INVAL,
		                  "%s: the sts role needs 'storage', 'signer' and 'policy' plugin "
		                  "instances",
		                  root->where);
		if (st->production)
			report_to(report, ud, err, &failed, &e);
		else
			log_warn("config", "%s; its routes will answer 503", e.message);
	}
	if (st->listen[ROLE_ADMIN].enabled && st->storage == NULL) {
		caracal_error_set(&e, CARACAL_E_INVAL,
		                  "%s: the admin role needs a 'storage' plugin instance",
		                  root->where);
		if (st->production)
			report_to(report, ud, err, &failed, &e);
		else
			log_warn("config", "%s; its routes will answer 503", e.message);
	}
	if (!check_only && !failed) {
		int rc = config_get_secret(root, "admin.token", st->production, st->data_dir,
		                           gen->admin_token, sizeof gen->admin_token,
		                           &gen->admin_token_len, &e);
		if (rc == CARACAL_OK)
			log_register_secret(gen->admin_token, gen->admin_token_len);
		else if (rc != CARACAL_E_NOTFOUND)
			report_to(report, ud, err, &failed, &e);
	}
	if (!check_only && !failed) {
		unsigned char hex[2 * STS_GATEWAY_KEY_MAX + 64];
		size_t hex_len = 0;
		int rc = config_get_secret(root, "sts.gateway_hmac_key", st->production,
		                           st->data_dir, hex, sizeof hex, &hex_len, &e);
		if (rc == CARACAL_OK) {
			char why[160];
			gen->gateway_key =
			    sts_gateway_key_from_hex((const char *)hex, hex_len, why, sizeof why);
			if (gen->gateway_key == NULL) {
				caracal_error_set(&e, CARACAL_E_INVAL,
				                  "%s: key 'sts.gateway_hmac_key': %s", root->where,
				                  why);
				report_to(report, ud, err, &failed, &e);
			}
		} else if (rc != CARACAL_E_NOTFOUND) {
			report_to(report, ud, err, &failed, &e);
		}
		OPENSSL_cleanse(hex, sizeof hex);
	}
	if (st->stream != NULL) {
		const plugin_instance *pi = generation_find(gen, st->stream, NULL);
		if (pi == NULL || pi->plugin == NULL ||
		    !(pi->plugin->kinds & CARACAL_KIND_STREAM) || pi->plugin->stream == NULL) {
			caracal_error_set(&e, CARACAL_E_INVAL,
			                  "%s: key 'stream': '%s' is not a plugin instance of kind "
			                  "stream",
			                  config_get(root, "stream")->where, st->stream);
			report_to(report, ud, err, &failed, &e);
		}
		/* Invariant 3: stream messages are HMAC-signed in production. */
		if (st->production && config_get(root, "streams.hmac_key_file") == NULL &&
		    config_get(root, "streams.hmac_key_env") == NULL) {
			caracal_error_set(&e, CARACAL_E_INVAL,
			                  "%s: key 'stream': production mode needs "
			                  "streams.hmac_key_file or streams.hmac_key_env",
			                  config_get(root, "stream")->where);
			report_to(report, ud, err, &failed, &e);
		}
	}

	if (failed || check_only) {
		if (failed) {
			generation_unref(gen);
			return NULL;
		}
		return gen;
	}

	const caracal_host *host = host_services();
	for (size_t i = 0; i < gen->count && !failed; i++) {
		plugin_instance *pi = &gen->instances[i];
		if (dev_secrets_for(st, pi->cfg, pi->plugin->config_schema, &e) != CARACAL_OK) {
			report_to(report, ud, err, &failed, &e);
			break;
		}
		pi->scope = host_scope_new(pi->plugin->name, pi->name);
		if (pi->scope == NULL) {
			caracal_error_set(&e, CARACAL_E_NOMEM, "out of memory");
			report_to(report, ud, err, &failed, &e);
			break;
		}
		caracal_error ie = {0};
		int rc = pi->plugin->instance_create(host, pi->scope, pi->cfg, &pi->instance, &ie);
		if (rc != CARACAL_OK) {
			pi->instance = NULL;
			caracal_error_set(&e, rc,
			                  "%s: plugin instance '%s' (%s) failed to start: %s",
			                  pi->cfg->where, pi->name, pi->plugin->name, ie.message);
			report_to(report, ud, err, &failed, &e);
		}
	}
	if (failed) {
		generation_unref(gen);
		return NULL;
	}
	gen->number = ++generation_counter;
	return gen;
}

void generation_ref(generation *gen)
{
	atomic_fetch_add(&gen->refs, 1);
}

void generation_unref(generation *gen)
{
	if (gen == NULL || atomic_fetch_sub(&gen->refs, 1) != 1)
		return;
	free_instances(gen);
	config_tree_free(gen->tree);
	free(gen);
}

const plugin_instance *generation_find(const generation *gen, const char *name, size_t *index)
{
	for (size_t i = 0; name != NULL && i < gen->count; i++) {
		if (gen->instances[i].name != NULL && strcmp(gen->instances[i].name, name) == 0) {
			if (index != NULL)
				*index = i;
			return &gen->instances[i];
		}
	}
	return NULL;
}

void *generation_tctx(generation *gen, size_t slot, size_t i, caracal_error *err)
{
	if (slot >= gen->slots || i >= gen->count) {
		caracal_error_set(err, CARACAL_E_INTERNAL, "no thread slot %zu/%zu", slot, i);
		return NULL;
	}
	void **cell = &gen->tctx[slot * gen->count + i];
	if (*cell != NULL)
		return *cell;
	plugin_instance *pi = &gen->instances[i];
	if (pi->plugin->thread_create == NULL) {
		*cell = pi->instance;
		return *cell;
	}
	void *t = NULL;
	int rc = pi->plugin->thread_create(pi->instance, &t, err);
	if (rc != CARACAL_OK) {
		if (err != NULL)
			err->code = rc;
		return NULL;
	}
	*cell = t;
	return t;
}

void generation_release_slot(generation *gen, size_t slot)
{
	if (slot >= gen->slots)
		return;
	for (size_t i = 0; i < gen->count; i++) {
		void **cell = &gen->tctx[slot * gen->count + i];
		plugin_instance *pi = &gen->instances[i];
		if (*cell != NULL && pi->plugin->thread_destroy != NULL)
			pi->plugin->thread_destroy(pi->instance, *cell);
		*cell = NULL;
	}
}

/* Append to a fixed buffer, never past its end (snprintf's return value may
 * exceed what fit). */
static void append(char *out, size_t cap, size_t *used, const char *fmt, ...)
{
	if (*used >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *used, cap - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < cap ? *used + (size_t)n : cap;
}

int generation_ready(const generation *gen, char *out, size_t cap)
{
	int all = 1;
	size_t used = 0;
	out[0] = '\0';
	append(out, cap, &used, "{");
	for (size_t i = 0; i < gen->count; i++) {
		const plugin_instance *pi = &gen->instances[i];
		caracal_error e = {0};
		int rc = CARACAL_OK;
		if (pi->instance == NULL)
			rc = caracal_error_set(&e, CARACAL_E_UNAVAIL, "not started");
		else if (pi->plugin->instance_ready != NULL)
			rc = pi->plugin->instance_ready(pi->instance, &e);
		if (rc != CARACAL_OK)
			all = 0;
		char name[128], msg[2 * CARACAL_ERROR_MESSAGE_MAX];
		log_json_escape(name, sizeof name, pi->name, strlen(pi->name));
		log_json_escape(msg, sizeof msg, e.message, strlen(e.message));
		append(out, cap, &used, "%s\"%s\":\"%s\"", i ? "," : "", name,
		       rc == CARACAL_OK ? "ready" : msg);
	}
	append(out, cap, &used, "}");
	return all;
}
