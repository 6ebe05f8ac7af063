/*
 * caracalctl — Caracal's admin CLI.
 *
 *   caracalctl -c FILE [--set KEY=VALUE ...] [--json] COMMAND ...
 *
 * With --json every command prints one JSON object on stdout; errors go to
 * stderr and the exit status is 1. Commands that talk to the admin API come
 * with the STS work; this skeleton has the shared plumbing and the offline
 * `audit verify`, which reads the ledgers through the configured audit sink
 * plugins (the same code caracald appends with).
 */
#include "config.h"

#include "config/config.h"
#include "daemon/generation.h"
#include "host.h"
#include "loader/loader.h"
#include "util/log.h"

#include <jansson.h>
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
	    "commands:\n"
	    "  audit verify [--zone Z]   verify every audit chain (exit 1 naming the first bad "
	    "record)\n"
	    "  version                   print the version and plugin ABI\n\n"
	    "options:\n"
	    "  -c, --config FILE   the caracald configuration (default %s/caracal/caracal.yaml)\n"
	    "  --set KEY=VALUE     override a config scalar by its dotted path (repeatable)\n"
	    "  --json              print one JSON object on stdout\n"
	    "  -h, --help          this text\n",
	    CARACAL_SYSCONFDIR);
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

static generation *open_generation(const struct ctl *c, plugin_registry **reg_out)
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
	return generation_build(tree, *reg_out, 0, 1, report_stderr, cc, &err);
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
		size_t idx;
		const plugin_instance *pi = generation_find(gen, gen->settings.sinks[s], &idx);
		caracal_error e = {0};
		void *tctx = generation_tctx(gen, 0, idx, &e);
		if (tctx == NULL) {
			fail_json(c, "unavailable", e.message);
			rc = 1;
			break;
		}
		fs.sink = pi->name;
		size_t before = fs.count;
		int vr = pi->plugin->audit->verify(tctx, zone, on_finding, &fs, &e);
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
	generation_release_slot(gen, 0);
	generation_unref(gen);
	plugin_registry_free(reg);
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
	fail_json(&c, "invalid_request", "unknown command (see caracalctl --help)");
	return 1;
}
