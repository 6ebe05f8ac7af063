/*
 * settings.h — the core's own part of the configuration: its schema and the
 * typed values read from a validated tree. Plugin blocks (under "plugins")
 * are validated against each plugin's schema by instances.c.
 */
#ifndef CARACAL_DAEMON_SETTINGS_H
#define CARACAL_DAEMON_SETTINGS_H

#include "config/config.h"
#include "http/http.h"

#include <netinet/in.h>
#include <sys/socket.h>

/* The roles a caracald can serve; each has its own listener. */
typedef enum role_id {
	ROLE_STS = 0,
	ROLE_GATEWAY,
	ROLE_COORDINATOR,
	ROLE_ADMIN,
	ROLE_COUNT
} role_id;

const char *role_name(role_id role);

typedef struct listen_addr {
	int enabled;
	char text[128]; /* as written: "127.0.0.1:8080" */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int loopback;
} listen_addr;

#define SETTINGS_MAX_SINKS 8

typedef struct settings {
	int production;
	char data_dir[4096]; /* absolute */
	char plugin_dir[4096];
	int plugins_allow_outside_dir;
	int log_level;
	int loops;
	int workers;
	http_limits http;
	listen_addr listen[ROLE_COUNT];
	const char *issuer;
	size_t sink_count;
	const char *sinks[SETTINGS_MAX_SINKS]; /* audit sink instance names */
	const config_node *plugins;            /* the "plugins" mapping, or NULL */
	/* Plugin instances the roles use (NULL: none configured). */
	const char *storage;
	const char *signer;
	const char *policy;
	/* STS tuning. */
	int64_t mint_rate_limit_per_min;
	int64_t secret_verify_concurrency;
	const char *control_audience;   /* the control keys' resource name */
	const char *federation_ca_file; /* NULL: the system trust store only */
	int federation_allow_private;   /* development only */
	const char *stream;             /* stream instance carrying audit events; NULL: direct */
	int64_t stream_window_ms;       /* streams.window: envelope freshness window */
} settings;

/* The core's schema (top-level keys). */
const caracal_cfg_key *settings_schema(void);

/* Validate the core keys of root and read them into out (strings point into
 * the tree, which must outlive out). Every problem is reported through
 * report; the first also lands in err. */
int settings_load(const config_node *root, settings *out, config_report_fn report, void *ud,
                  caracal_error *err);

/* Parse "host:port" / "[v6]:port" (numeric hosts only, never DNS). */
int settings_parse_listen(const char *text, listen_addr *out, caracal_error *err);

#endif
