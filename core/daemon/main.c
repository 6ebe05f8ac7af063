/*
 * caracald — pre-execution authority for AI agents.
 *
 *   caracald -c FILE [--set KEY=VALUE ...]      run in the foreground
 *   caracald -t -c FILE [--set KEY=VALUE ...]   check the config and plugins
 *   caracald --version
 *
 * The main thread owns configuration: it builds generations (config tree +
 * plugin instances), installs them, and handles signals. Loop threads serve
 * HTTP; workers make plugin calls; the audit writer appends evidence.
 */
#include "config.h"

#include "config/config.h"
#include "daemon/audit_writer.h"
#include "daemon/generation.h"
#include "daemon/server.h"
#include "host.h"
#include "loader/loader.h"
#include "roles/admin/admin.h"
#include "util/log.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SETS 256
#define DRAIN_MS 10000
#define SYSTEM_ZONE "caracal.sys"

struct options {
	const char *config_path;
	const char *sets[MAX_SETS];
	size_t set_count;
	int check_only;
};

struct daemon {
	struct options opt;
	plugin_registry *registry;
	pthread_mutex_t gen_lock;
	generation *gen;
	server *srv;
	audit_writer *audit;
	struct event_base *base;
	size_t slots;
};

static struct daemon *the_daemon; /* for the host's audit_emit hook */

static void usage(FILE *out)
{
	fprintf(out, "usage: caracald -c FILE [--set KEY=VALUE ...]\n"
	             "       caracald -t -c FILE [--set KEY=VALUE ...]\n"
	             "       caracald --version\n\n"
	             "  -c, --config FILE   the YAML configuration (conf/caracal.yaml)\n"
	             "  -t, --test          check the config and the plugins it names, then exit\n"
	             "  --set KEY=VALUE     override a scalar by its dotted path (repeatable)\n"
	             "  --version           print version, build info and plugin ABI version\n");
}

static void print_version(void)
{
	printf("caracald %s\nplugin ABI %d.%d\nbuilt with %s\nlibevent %s, %s\n", PACKAGE_VERSION,
	       CARACAL_ABI_MAJOR, CARACAL_ABI_MINOR, CARACAL_BUILD_INFO, event_get_version(),
	       OpenSSL_version(OPENSSL_VERSION));
}

/* Returns -1 to exit 1, 1 to exit 0, 0 to continue. */
static int parse_args(int argc, char **argv, struct options *opt)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			print_version();
			return 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0) {
			opt->check_only = 1;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i == argc) {
				fprintf(stderr, "caracald: %s needs a file\n", a);
				return -1;
			}
			opt->config_path = argv[i];
		} else if (strcmp(a, "--set") == 0 || strncmp(a, "--set=", 6) == 0) {
			const char *kv = a[5] == '=' ? a + 6 : (++i < argc ? argv[i] : NULL);
			if (kv == NULL) {
				fprintf(stderr, "caracald: --set needs KEY=VALUE\n");
				return -1;
			}
			if (opt->set_count == MAX_SETS) {
				fprintf(stderr, "caracald: too many --set options\n");
				return -1;
			}
			opt->sets[opt->set_count++] = kv;
		} else {
			fprintf(stderr, "caracald: unknown argument '%s'\n", a);
			usage(stderr);
			return -1;
		}
	}
	if (opt->config_path == NULL) {
		fprintf(stderr, "caracald: no configuration given (-c FILE)\n");
		return -1;
	}
	return 0;
}

static void report_stderr(void *ud, const char *message)
{
	(void)ud;
	fprintf(stderr, "caracald: %s\n", message);
}

static void report_log(void *ud, const char *message)
{
	(void)ud;
	log_error("config", "%s", message);
}

/* Read the file, apply --set, validate and build a generation. */
static generation *load_generation(struct daemon *d, int check_only, config_report_fn report)
{
	caracal_error err = {0};
	config_tree *tree = config_tree_load_file(d->opt.config_path, &err);
	if (tree == NULL) {
		report(NULL, err.message);
		return NULL;
	}
	for (size_t i = 0; i < d->opt.set_count; i++) {
		if (config_tree_set(tree, d->opt.sets[i], &err) != CARACAL_OK) {
			report(NULL, err.message);
			config_tree_free(tree);
			return NULL;
		}
	}
	return generation_build(tree, d->registry, check_only, d->slots, report, NULL, &err);
}

static generation *current_generation(void *ud)
{
	struct daemon *d = ud;
	pthread_mutex_lock(&d->gen_lock);
	generation *g = d->gen;
	generation_ref(g);
	pthread_mutex_unlock(&d->gen_lock);
	return g;
}

static void audit_lifecycle(struct daemon *d, const char *event_type, const char *detail)
{
	json_t *fields = json_pack("{s:s, s:s, s:i}", "decision", "allow", "detail", detail, "pid",
	                           (int)getpid());
	caracal_error e = {0};
	if (audit_writer_emit(d->audit, SYSTEM_ZONE, event_type, fields, &e) != CARACAL_OK)
		log_error("audit", "cannot record %s: %s", event_type, e.message);
	json_decref(fields);
}

/* host->audit_emit: events from plugins join the same writer. */
static int plugin_audit_emit(const caracal_scope *scope, const char *json, size_t len,
                             caracal_error *err)
{
	json_error_t je;
	json_t *ev = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (ev == NULL || !json_is_object(ev)) {
		json_decref(ev);
		return caracal_error_set(err, CARACAL_E_INVAL, "audit event is not a JSON object");
	}
	const char *zone = json_string_value(json_object_get(ev, "zone_id"));
	const char *type = json_string_value(json_object_get(ev, "event_type"));
	if (zone == NULL || type == NULL) {
		json_decref(ev);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "audit event needs zone_id and "
		                         "event_type");
	}
	json_object_set_new(ev, "plugin", json_string(host_scope_plugin(scope)));
	json_object_set_new(ev, "plugin_instance", json_string(host_scope_instance(scope)));
	char *z = strdup(zone), *t = strdup(type);
	int rc = z != NULL && t != NULL ? audit_writer_emit(the_daemon->audit, z, t, ev, err)
	                                : caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	free(z);
	free(t);
	json_decref(ev);
	return rc;
}

static int same_listeners(const settings *a, const settings *b)
{
	for (int r = 0; r < ROLE_COUNT; r++)
		if (a->listen[r].enabled != b->listen[r].enabled ||
		    strcmp(a->listen[r].text, b->listen[r].text) != 0)
			return 0;
	return a->loops == b->loops && a->workers == b->workers;
}

static void reload(struct daemon *d)
{
	log_info("daemon", "SIGHUP: reloading %s", d->opt.config_path);
	generation *next = load_generation(d, 0, report_log);
	if (next == NULL) {
		log_error("daemon",
		          "reload rejected: the new configuration is invalid; the running "
		          "one keeps serving");
		audit_lifecycle(d, "config.reload_rejected", d->opt.config_path);
		return;
	}
	if (!same_listeners(&d->gen->settings, &next->settings))
		log_warn("daemon", "listener and thread settings take effect only after a restart");
	pthread_mutex_lock(&d->gen_lock);
	generation *old = d->gen;
	d->gen = next;
	pthread_mutex_unlock(&d->gen_lock);
	log_set_level((caracal_log_level)next->settings.log_level);
	server_kick_workers(d->srv);
	generation_unref(old);
	log_info("daemon", "reloaded (generation %llu)", (unsigned long long)next->number);
	audit_lifecycle(d, "config.reload", d->opt.config_path);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	log_info("daemon", "signal %d: draining", (int)sig);
	event_base_loopbreak(d->base);
}

static int run(struct daemon *d)
{
	caracal_error err = {0};
	const settings *st = &d->gen->settings;
	if (!st->production)
		log_warn("daemon", "development mode: generated secrets, loopback only; not for "
		                   "production");
	admin_routes_register();
	d->srv = server_new(st, current_generation, d, &err);
	if (d->srv == NULL) {
		log_error("daemon", "cannot start: %s", err.message);
		return 1;
	}
	d->audit =
	    audit_writer_start((size_t)st->workers, current_generation, d, st->data_dir, &err);
	if (d->audit == NULL) {
		log_error("daemon", "cannot start: %s", err.message);
		return 1;
	}
	host_set_audit_emitter(plugin_audit_emit);
	if (server_start(d->srv, &err) != CARACAL_OK) {
		log_error("daemon", "cannot start: %s", err.message);
		return 1;
	}

	d->base = event_base_new();
	if (d->base == NULL)
		return 1;
	/* Every other thread keeps the signals blocked (they inherited the
	 * mask from main); only this loop takes them. */
	sigset_t sigs_taken;
	sigemptyset(&sigs_taken);
	sigaddset(&sigs_taken, SIGTERM);
	sigaddset(&sigs_taken, SIGINT);
	sigaddset(&sigs_taken, SIGHUP);
	int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	struct event *evs[3];
	for (int i = 0; i < 3; i++) {
		evs[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		event_add(evs[i], NULL);
	}
	pthread_sigmask(SIG_UNBLOCK, &sigs_taken, NULL);
	log_info("daemon", "caracald %s started (pid %d)", PACKAGE_VERSION, (int)getpid());
	audit_lifecycle(d, "daemon.start", PACKAGE_VERSION);

	event_base_dispatch(d->base);

	server_stop(d->srv, DRAIN_MS);
	audit_lifecycle(d, "daemon.stop", "signal");
	host_set_audit_emitter(NULL);
	audit_writer_stop(d->audit, DRAIN_MS);
	d->audit = NULL;
	for (int i = 0; i < 3; i++)
		event_free(evs[i]);
	event_base_free(d->base);
	log_info("daemon", "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon d = {0};
	int pr = parse_args(argc, argv, &d.opt);
	if (pr != 0)
		return pr < 0 ? 1 : 0;
	signal(SIGPIPE, SIG_IGN);
	/* Signals are taken by the main thread's event loop only. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	pthread_mutex_init(&d.gen_lock, NULL);
	the_daemon = &d;

	loader_policy policy = {.plugin_dir = CARACAL_PLUGINDIR, .trusted_uid = geteuid()};
	/* The plugin directory comes from the config; a first pass reads it. */
	caracal_error err = {0};
	config_tree *probe = config_tree_load_file(d.opt.config_path, &err);
	const char *dir = NULL;
	if (probe == NULL) {
		fprintf(stderr, "caracald: %s\n", err.message);
		return 1;
	}
	for (size_t i = 0; i < d.opt.set_count; i++)
		config_tree_set(probe, d.opt.sets[i], NULL);
	char plugin_dir[4096];
	if (config_get_string(config_tree_root(probe), "plugin_dir", &dir, NULL) == CARACAL_OK)
		snprintf(plugin_dir, sizeof plugin_dir, "%s", dir);
	else
		snprintf(plugin_dir, sizeof plugin_dir, "%s", CARACAL_PLUGINDIR);
	int outside = 0;
	config_get_bool(config_tree_root(probe), "plugins_allow_outside_dir", &outside, NULL);
	config_tree_free(probe);
	policy.plugin_dir = plugin_dir;
	policy.allow_outside_dir = outside;
	d.registry = plugin_registry_new(&policy);
	if (d.registry == NULL)
		return 1;

	int rc;
	if (d.opt.check_only) {
		d.slots = 1;
		generation *g = load_generation(&d, 1, report_stderr);
		rc = g != NULL ? 0 : 1;
		if (g != NULL)
			printf("caracald: configuration %s is valid\n", d.opt.config_path);
		generation_unref(g);
	} else {
		d.slots = 0;
		/* Workers, then the audit writer; read the worker count first. */
		generation *g = load_generation(&d, 1, report_log);
		if (g == NULL) {
			plugin_registry_free(d.registry);
			return 1;
		}
		d.slots = (size_t)g->settings.workers + 1;
		log_set_level((caracal_log_level)g->settings.log_level);
		generation_unref(g);
		d.gen = load_generation(&d, 0, report_log);
		if (d.gen == NULL) {
			plugin_registry_free(d.registry);
			return 1;
		}
		rc = run(&d);
		server_free(d.srv);
		generation_unref(d.gen);
	}
	plugin_registry_free(d.registry);
	log_clear_secrets();
	pthread_mutex_destroy(&d.gen_lock);
	return rc;
}
