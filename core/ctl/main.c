/*
 * caracalctl — Caracal's admin CLI.
 *
 *   caracalctl -c FILE [--set KEY=VALUE ...] [--json] COMMAND ...
 *
 * With --json every command prints one JSON object on stdout; errors go to
 * stderr and the exit status is 1. The admin commands (commands.c) talk to
 * the admin API named by the config's admin.listen, with the token named by
 * admin.token_file (relative to data_dir) or admin.token_env, read exactly as
 * caracald reads it; with --json they print the API's JSON object as
 * received. `audit verify` works offline: it reads the ledgers through the
 * configured audit sink plugins (the same code caracald appends with).
 */
#include "config.h"

#include "config/config.h"
#include "ctl/client.h"
#include "ctl/commands.h"
#include "daemon/generation.h"
#include "host.h"
#include "loader/loader.h"
#include "util/log.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SETS 256

struct ctl {
	const char *config_path;
	const char *sets[MAX_SETS];
	size_t set_count;
	int json;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: caracalctl -c FILE [--set KEY=VALUE ...] [--json] COMMAND ...\n\n"
	    "commands (admin API):\n%s\n"
	    "commands (offline):\n"
	    "  audit verify [--zone Z]   verify every audit chain (exit 1 naming the first bad "
	    "record)\n"
	    "  version                   print the version and plugin ABI\n\n"
	    "options:\n"
	    "  -c, --config FILE   the caracald configuration (default %s/caracal/caracal.yaml)\n"
	    "  --set KEY=VALUE     override a config scalar by its dotted path (repeatable)\n"
	    "  --json              print one JSON object on stdout\n"
	    "  -h, --help          this text\n",
	    ctl_commands_usage, CARACAL_SYSCONFDIR);
}

static void fail_json(const struct ctl *c, const char *error, const char *message)
{
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s}", "error", error, "error_description", message);
		char *s = json_dumps(o, JSON_COMPACT);
		fprintf(stderr, "%s\n", s != NULL ? s : "{}");
		free(s);
		json_decref(o);
	} else {
		fprintf(stderr, "caracalctl: %s\n", message);
	}
}

static void report_stderr(void *ud, const char *message)
{
	const struct ctl *c = ud;
	fail_json(c, "invalid_config", message);
}

static config_tree *load_tree(const struct ctl *c)
{
	caracal_error err = {0};
	config_tree *tree = config_tree_load_file(c->config_path, &err);
	if (tree == NULL) {
		fail_json(c, "invalid_config", err.message);
		return NULL;
	}
	for (size_t i = 0; i < c->set_count; i++) {
		if (config_tree_set(tree, c->sets[i], &err) != CARACAL_OK) {
			fail_json(c, "invalid_config", err.message);
			config_tree_free(tree);
			return NULL;
		}
	}
	return tree;
}

/* A check-only generation: the config validated and the plugins loaded, but
 * no instance created, no directory made and no secret generated — a
 * verification tool must not change what it inspects. */
static generation *open_generation(const struct ctl *c, plugin_registry **reg_out)
{
	caracal_error err = {0};
	config_tree *tree = load_tree(c);
	if (tree == NULL)
		return NULL;
	const char *dir = CARACAL_PLUGINDIR;
	int outside = 0;
	config_get_string(config_tree_root(tree), "plugin_dir", &dir, NULL);
	config_get_bool(config_tree_root(tree), "plugins_allow_outside_dir", &outside, NULL);
	loader_policy policy = {
	    .plugin_dir = dir, .allow_outside_dir = outside, .trusted_uid = geteuid()};
	*reg_out = plugin_registry_new(&policy);
	if (*reg_out == NULL) {
		config_tree_free(tree);
		fail_json(c, "internal", "out of memory");
		return NULL;
	}
	struct ctl *cc = (struct ctl *)c;
	generation *gen = generation_build(tree, *reg_out, 1, 1, report_stderr, cc, &err);
	if (gen != NULL) {
		host_set_data_dir(gen->settings.data_dir);
		host_set_production(gen->settings.production);
	}
	return gen;
}

/* One sink instance, created for the verification alone. */
struct sink_run {
	const plugin_instance *pi;
	caracal_scope *scope;
	void *instance;
	void *tctx;
};

static int sink_open(struct sink_run *r, const plugin_instance *pi, caracal_error *err)
{
	*r = (struct sink_run){.pi = pi};
	r->scope = host_scope_new(pi->plugin->name, pi->name);
	if (r->scope == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	int rc = pi->plugin->instance_create(host_services(), r->scope, pi->cfg, &r->instance, err);
	if (rc != CARACAL_OK) {
		r->instance = NULL;
		return rc;
	}
	r->tctx = r->instance;
	if (pi->plugin->thread_create != NULL) {
		rc = pi->plugin->thread_create(r->instance, &r->tctx, err);
		if (rc != CARACAL_OK)
			r->tctx = NULL;
	}
	return rc;
}

static void sink_close(struct sink_run *r)
{
	const caracal_plugin *p = r->pi->plugin;
	if (r->tctx != NULL && p->thread_destroy != NULL)
		p->thread_destroy(r->instance, r->tctx);
	if (r->instance != NULL) {
		if (p->instance_stop != NULL)
			p->instance_stop(r->instance);
		p->instance_destroy(r->instance);
	}
	host_scope_free(r->scope);
}

struct findings {
	const struct ctl *c;
	const char *sink;
	json_t *list;
	size_t count;
};

static void on_finding(void *ud, const caracal_audit_finding *f)
{
	struct findings *fs = ud;
	fs->count++;
	json_array_append_new(fs->list,
	                      json_pack("{s:s, s:s, s:I, s:s, s:s}", "sink", fs->sink, "zone_id",
	                                f->zone_id ? f->zone_id : "", "seq", (json_int_t)f->seq,
	                                "location", f->location ? f->location : "", "problem",
	                                f->problem ? f->problem : ""));
	if (!fs->c->json)
		fprintf(stderr, "caracalctl: %s: zone %s: record %llu at %s: %s\n", fs->sink,
		        f->zone_id ? f->zone_id : "?", (unsigned long long)f->seq,
		        f->location ? f->location : "?", f->problem ? f->problem : "?");
}

static int cmd_audit_verify(const struct ctl *c, int argc, char **argv)
{
	const char *zone = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--zone") == 0 && i + 1 < argc) {
			zone = argv[++i];
		} else {
			fail_json(c, "invalid_request", "usage: audit verify [--zone Z]");
			return 1;
		}
	}
	plugin_registry *reg = NULL;
	generation *gen = open_generation(c, &reg);
	if (gen == NULL) {
		plugin_registry_free(reg);
		return 1;
	}
	int rc = 0;
	json_t *out = json_object();
	json_t *sinks = json_array();
	struct findings fs = {.c = c, .list = json_array()};
	if (gen->settings.sink_count == 0) {
		fail_json(c, "invalid_config", "no audit sink configured (audit.sinks)");
		rc = 1;
	}
	for (size_t s = 0; s < gen->settings.sink_count && rc == 0; s++) {
		const plugin_instance *pi = generation_find(gen, gen->settings.sinks[s], NULL);
		caracal_error e = {0};
		struct sink_run run;
		if (sink_open(&run, pi, &e) != CARACAL_OK) {
			sink_close(&run);
			fail_json(c, "unavailable", e.message);
			rc = 1;
			break;
		}
		fs.sink = pi->name;
		size_t before = fs.count;
		int vr = pi->plugin->audit->verify(run.tctx, zone, on_finding, &fs, &e);
		sink_close(&run);
		json_array_append_new(
		    sinks, json_pack("{s:s, s:b}", "sink", pi->name, "intact", vr == CARACAL_OK));
		if (vr == CARACAL_E_INTEGRITY || (vr == CARACAL_OK && fs.count > before)) {
			rc = 1;
		} else if (vr != CARACAL_OK) {
			fail_json(c, "unavailable", e.message);
			rc = 1;
		} else if (!c->json) {
			printf("%s: every chain%s%s is intact\n", pi->name, zone ? " of zone " : "",
			       zone ? zone : "");
		}
	}
	json_object_set_new(out, "intact", json_boolean(rc == 0));
	json_object_set_new(out, "sinks", sinks);
	json_object_set_new(out, "findings", fs.list);
	if (c->json) {
		char *s = json_dumps(out, JSON_COMPACT);
		if (rc == 0)
			printf("%s\n", s);
		else
			fprintf(stderr, "%s\n", s);
		free(s);
	}
	json_decref(out);
	generation_unref(gen);
	plugin_registry_free(reg);
	return rc;
}

#define CTL_TIMEOUT_MS 60000

/* Where the admin API listens and its token, from the config. */
static int admin_target(const struct ctl *c, ctl_endpoint *ep, unsigned char *tok, size_t cap,
                        size_t *tok_len)
{
	config_tree *tree = load_tree(c);
	if (tree == NULL)
		return -1;
	const config_node *root = config_tree_root(tree);
	settings st;
	caracal_error err = {0};
	char why[512];
	int rc = -1;
	if (settings_load(root, &st, report_stderr, (void *)c, &err) != CARACAL_OK)
		goto out;
	if (!st.listen[ROLE_ADMIN].enabled) {
		fail_json(c, "invalid_config", "the configuration has no admin.listen");
		goto out;
	}
	if (ctl_endpoint_parse(st.listen[ROLE_ADMIN].text, ep, why, sizeof why) != 0) {
		fail_json(c, "invalid_config", why);
		goto out;
	}
	int sr = config_get_secret(root, "admin.token", st.production, st.data_dir, tok, cap,
	                           tok_len, &err);
	if (sr == CARACAL_E_NOTFOUND) {
		fail_json(c, "invalid_config",
		          "the configuration names no admin token (admin.token_file or "
		          "admin.token_env)");
		goto out;
	} else if (sr != CARACAL_OK) {
		fail_json(c, "invalid_config", err.message);
		goto out;
	}
	rc = 0;
out:
	config_tree_free(tree);
	return rc;
}

/* Returns the exit status, or -1 when argv is not an admin command. */
static int cmd_admin(const struct ctl *c, int argc, char **argv)
{
	ctl_request rq;
	char why[512];
	int p = ctl_parse_command(argc, argv, &rq, why, sizeof why);
	if (p == 1)
		return -1;
	if (p < 0) {
		fail_json(c, "invalid_request", why);
		return 1;
	}
	ctl_endpoint ep;
	unsigned char tok[256];
	size_t tok_len = 0;
	if (admin_target(c, &ep, tok, sizeof tok, &tok_len) != 0) {
		ctl_request_free(&rq);
		return 1;
	}
	ctl_http_req hr = {.method = rq.method,
	                   .path = rq.path,
	                   .token = (const char *)tok,
	                   .token_len = tok_len,
	                   .content_type = rq.content_type,
	                   .body = rq.body,
	                   .body_len = rq.body_len};
	ctl_response resp;
	int cr = ctl_http_call(&ep, &hr, CTL_TIMEOUT_MS, CTL_MAX_RESPONSE, &resp, why, sizeof why);
	OPENSSL_cleanse(tok, sizeof tok);
	if (cr != 0) {
		fail_json(c, "unavailable", why);
		ctl_request_free(&rq);
		return 1;
	}
	json_t *o = json_loadb(resp.body, resp.body_len, JSON_REJECT_DUPLICATES, NULL);
	int ok = resp.status >= 200 && resp.status < 300;
	int rc = ok ? 0 : 1;
	if (!json_is_object(o)) {
		char d[160];
		snprintf(d, sizeof d, "the admin API answered HTTP %d without a JSON object",
		         resp.status);
		fail_json(c, ok ? "invalid_response" : "error", d);
		rc = 1;
	} else if (c->json) {
		/* The API's object, as received, on one line. */
		size_t n = resp.body_len;
		while (n > 0 && (resp.body[n - 1] == '\n' || resp.body[n - 1] == '\r' ||
		                 resp.body[n - 1] == ' '))
			n--;
		fprintf(ok ? stdout : stderr, "%.*s\n", (int)n, resp.body);
	} else if (ok) {
		ctl_print_human(stdout, &rq, o);
	} else {
		ctl_print_error_human(stderr, &rq, resp.status, o);
	}
	json_decref(o);
	ctl_response_free(&resp);
	ctl_request_free(&rq);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl c = {.config_path = CARACAL_SYSCONFDIR "/caracal/caracal.yaml"};
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			c.json = 1;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			c.config_path = argv[++i];
		} else if (strcmp(a, "--set") == 0 && i + 1 < argc && c.set_count < MAX_SETS) {
			c.sets[c.set_count++] = argv[++i];
		} else if (strncmp(a, "--set=", 6) == 0 && c.set_count < MAX_SETS) {
			c.sets[c.set_count++] = a + 6; /* as caracald accepts it */
		} else {
			fprintf(stderr, "caracalctl: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			return 1;
		}
	}
	log_set_level(CARACAL_LOG_WARN);
	if (i == argc) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[i], "version") == 0) {
		if (c.json)
			printf("{\"version\":\"%s\",\"abi\":\"%d.%d\"}\n", PACKAGE_VERSION,
			       CARACAL_ABI_MAJOR, CARACAL_ABI_MINOR);
		else
			printf("caracalctl %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
			       CARACAL_ABI_MAJOR, CARACAL_ABI_MINOR);
		return 0;
	}
	if (strcmp(argv[i], "audit") == 0 && i + 1 < argc && strcmp(argv[i + 1], "verify") == 0)
		return cmd_audit_verify(&c, argc - i - 2, argv + i + 2);
	int rc = cmd_admin(&c, argc - i, argv + i);
	if (rc >= 0)
		return rc;
	fail_json(&c, "invalid_request", "unknown command (see caracalctl --help)");
	return 1;
}
