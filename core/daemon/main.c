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
#include "daemon/prepare.h"
#include "daemon/server.h"
#include "host.h"
#include "loader/loader.h"
#include "roles/admin/admin.h"
#include "roles/deps.h"
#include "roles/sts/sts.h"
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

/* Read the file and apply the --set overrides. */
static config_tree *read_config(const struct daemon *d, config_report_fn report)
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
	return tree;
}

/* Slots: workers 0..n-1, the workers' committer n (workers.h), the audit
 * writer n+1, the main thread n+2. */
static size_t main_slot(const struct daemon *d)
{
	return d->slots - 1;
}

static generation *build(struct daemon *d, config_tree *tree, int check_only,
                         config_report_fn report)
{
	caracal_error err = {0};
	generation *gen =
	    generation_build(tree, d->registry, check_only, d->slots, report, NULL, &err);
	if (gen != NULL && !check_only && generation_prepare(gen, main_slot(d), &err) != 0) {
		report(NULL, err.message);
		generation_unref(gen);
		return NULL;
	}
	return gen;
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

/* Emitters read d->audit under this lock; shutdown takes it for writing
 * before the writer goes away, so no emitter can use a freed writer. */
static pthread_rwlock_t audit_lock = PTHREAD_RWLOCK_INITIALIZER;

/* Takes the reference to fields. */
static int emit_locked(const char *zone_id, const char *event_type, json_t *fields,
                       caracal_error *err)
{
	pthread_rwlock_rdlock(&audit_lock);
	int rc;
	if (the_daemon->audit != NULL) {
		rc = audit_writer_emit_take(the_daemon->audit, zone_id, event_type, fields, err);
	} else {
		json_decref(fields);
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "caracald is stopping");
	}
	pthread_rwlock_unlock(&audit_lock);
	return rc;
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

/* Role code (STS, admin) emits through the same writer (taking fields). */
static int role_audit_emit(const char *zone_id, const char *event_type, json_t *fields,
                           caracal_error *err)
{
	return emit_locked(zone_id, event_type, fields, err);
}

static int role_audit_emit_members(const char *zone_id, const char *event_type,
                                   const jsonw_member *fields, size_t n, caracal_error *err)
{
	pthread_rwlock_rdlock(&audit_lock);
	int rc =
	    the_daemon->audit != NULL
	        ? audit_writer_emit_members(the_daemon->audit, zone_id, event_type, fields, n, err)
	        : caracal_error_set(err, CARACAL_E_UNAVAIL, "caracald is stopping");
	pthread_rwlock_unlock(&audit_lock);
	return rc;
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
	if (scope != NULL) {
		json_object_set_new(ev, "plugin", json_string(host_scope_plugin(scope)));
		json_object_set_new(ev, "plugin_instance", json_string(host_scope_instance(scope)));
	}
	/* zone and type point into ev: the writer copies them before it changes
	 * or frees ev (emit_locked takes it). */
	return emit_locked(zone, type, ev, err);
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
	config_tree *tree = read_config(d, report_log);
	generation *next = NULL;
	if (tree != NULL) {
		/* mode and data_dir are fixed for the life of the process: the
		 * host services and every plugin instance depend on them. */
		settings pre;
		settings_load(config_tree_root(tree), &pre, NULL, NULL, NULL);
		const settings *cur = &d->gen->settings;
		if (pre.production != cur->production || strcmp(pre.data_dir, cur->data_dir) != 0) {
			log_error("daemon", "mode and data_dir take effect only after a restart");
			config_tree_free(tree);
		} else {
			if (!same_listeners(cur, &pre))
				log_warn("daemon", "listener and thread settings take effect only "
				                   "after a restart");
			next = build(d, tree, 0, report_log);
		}
	}
	if (next == NULL) {
		log_error("daemon",
		          "reload rejected: the new configuration is invalid; the running "
		          "one keeps serving");
		audit_lifecycle(d, "config.reload_rejected", d->opt.config_path);
		return;
	}
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
	int rc = 1;
	caracal_error err = {0};
	const settings *st = &d->gen->settings;
	struct event *evs[3] = {NULL, NULL, NULL};
	int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	sigset_t sigs_taken;
	sigemptyset(&sigs_taken);
	for (int i = 0; i < 3; i++)
		sigaddset(&sigs_taken, sigs[i]);

	if (!st->production)
		log_warn("daemon", "development mode: generated secrets, loopback only; not for "
		                   "production");
	sts_routes_register();
	admin_routes_register();
	d->srv = server_new(st, current_generation, d, &err);
	if (d->srv == NULL) {
		log_error("daemon", "cannot start: %s", err.message);
		return 1;
	}
	/* The audit writer's slot follows the workers' (see main_slot). */
	d->audit = audit_writer_start(d->slots - 2, current_generation, d, st->data_dir, &err);
	if (d->audit == NULL) {
		log_error("daemon", "cannot start: %s", err.message);
		return 1;
	}
	host_set_audit_emitter(plugin_audit_emit);
	roles_set_audit(role_audit_emit, role_audit_emit_members);
	if (server_start(d->srv, &err) != CARACAL_OK) {
		log_error("daemon", "cannot start: %s", err.message);
		goto stop;
	}
	d->base = event_base_new();
	if (d->base == NULL)
		goto stop;
	/* Every other thread keeps the signals blocked (they inherited the
	 * mask from main); only this loop takes them. */
	for (int i = 0; i < 3; i++) {
		evs[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		if (evs[i] == NULL || event_add(evs[i], NULL) != 0)
			goto stop;
	}
	pthread_sigmask(SIG_UNBLOCK, &sigs_taken, NULL);
	log_info("daemon", "caracald %s started (pid %d)", PACKAGE_VERSION, (int)getpid());
	audit_lifecycle(d, "daemon.start", PACKAGE_VERSION);

	event_base_dispatch(d->base);
	/* A second signal during teardown must not kill the process halfway. */
	pthread_sigmask(SIG_BLOCK, &sigs_taken, NULL);
	rc = 0;

stop:
	server_stop(d->srv, DRAIN_MS);
	audit_lifecycle(d, rc == 0 ? "daemon.stop" : "daemon.start_failed", "");
	host_set_audit_emitter(NULL);
	roles_set_audit(NULL, NULL);
	pthread_rwlock_wrlock(&audit_lock);
	audit_writer *w = d->audit;
	d->audit = NULL;
	pthread_rwlock_unlock(&audit_lock);
	audit_writer_stop(w, DRAIN_MS);
	for (int i = 0; i < 3; i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (d->base != NULL)
		event_base_free(d->base);
	log_info("daemon", "stopped");
	return rc;
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

	/* The file is read once; a first look at the core settings gives what
	 * must be known before plugins load (their directory, the thread
	 * count), and the full validation comes with the generation. */
	config_tree *tree = read_config(&d, d.opt.check_only ? report_stderr : report_log);
	if (tree == NULL)
		return 1;
	settings pre;
	settings_load(config_tree_root(tree), &pre, NULL, NULL, NULL);
	loader_policy policy = {.plugin_dir = pre.plugin_dir,
	                        .allow_outside_dir = pre.plugins_allow_outside_dir,
	                        .trusted_uid = geteuid()};
	d.registry = plugin_registry_new(&policy);
	if (d.registry == NULL) {
		config_tree_free(tree);
		return 1;
	}

	int rc;
	if (d.opt.check_only) {
		d.slots = 1;
		generation *g = build(&d, tree, 1, report_stderr);
		rc = g != NULL ? 0 : 1;
		if (g != NULL)
			printf("caracald: configuration %s is valid\n", d.opt.config_path);
		generation_unref(g);
	} else {
		/* One slot per worker, one for their committer, one for the audit
		 * writer, one for main. */
		d.slots = (size_t)pre.workers + 3;
		log_set_level((caracal_log_level)pre.log_level);
		d.gen = build(&d, tree, 0, report_log);
		if (d.gen == NULL) {
			plugin_registry_free(d.registry);
			return 1;
		}
		generation_fix_host_settings();
		rc = run(&d);
		server_free(d.srv);
		generation_unref(d.gen);
	}
	plugin_registry_free(d.registry);
	log_clear_secrets();
	pthread_mutex_destroy(&d.gen_lock);
	return rc;
}
