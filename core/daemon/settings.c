/* settings.c — see settings.h. */
#include "daemon/settings.h"

#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const role_names[ROLE_COUNT] = {"sts", "gateway", "coordinator", "admin"};

const char *role_name(role_id role)
{
	return role < ROLE_COUNT ? role_names[role] : "?";
}

static const caracal_cfg_key core_schema[] = {
    {"mode", CARACAL_CFG_STRING, 0, "development | production"},
    {"data_dir", CARACAL_CFG_STRING, 0, "where embedded state lives (default ./var)"},
    {"plugin_dir", CARACAL_CFG_STRING, 0, "where plugins are loaded from"},
    {"plugins_allow_outside_dir", CARACAL_CFG_BOOL, 0, "allow plugin paths outside plugin_dir"},
    {"log.level", CARACAL_CFG_STRING, 0, "error | warn | info | debug"},
    {"threads.loops", CARACAL_CFG_INT, 0, "event-loop threads (0: one per core)"},
    {"threads.workers", CARACAL_CFG_INT, 0, "decision-pool threads (0: one per core)"},
    {"http.max_target_bytes", CARACAL_CFG_SIZE, 0, "longest request-target"},
    {"http.max_header_bytes", CARACAL_CFG_SIZE, 0, "largest request line + headers"},
    {"http.max_headers", CARACAL_CFG_INT, 0, "most header fields in a request"},
    {"http.max_body_bytes", CARACAL_CFG_SIZE, 0, "largest request body"},
    {"http.read_timeout", CARACAL_CFG_DURATION, 0, "time to receive a whole request"},
    {"http.idle_timeout", CARACAL_CFG_DURATION, 0, "keep-alive idle time"},
    {"http.write_timeout", CARACAL_CFG_DURATION, 0, "time to send a response"},
    {"http.max_connections", CARACAL_CFG_INT, 0, "open connections per listener and loop"},
    {"sts.listen", CARACAL_CFG_STRING, 0, "host:port of the STS listener"},
    {"sts.issuer", CARACAL_CFG_STRING, 0, "issuer URL put in iss"},
    {"gateway.listen", CARACAL_CFG_STRING, 0, "host:port of the gateway listener"},
    {"coordinator.listen", CARACAL_CFG_STRING, 0, "host:port of the coordinator listener"},
    {"admin.listen", CARACAL_CFG_STRING, 0, "host:port of the admin listener"},
    {"admin.token", CARACAL_CFG_SECRET, 0, "admin API token (token_file or token_env)"},
    {"audit.sinks", CARACAL_CFG_LIST, 0, "plugin instances that receive audit events"},
    {"storage", CARACAL_CFG_STRING, 0, "the storage plugin instance the roles use"},
    {"signer", CARACAL_CFG_STRING, 0, "the signer plugin instance the STS uses"},
    {"policy", CARACAL_CFG_STRING, 0, "the policy plugin instance the STS uses"},
    {"sts.mint_rate_limit_per_min", CARACAL_CFG_INT, 0,
     "mandates per minute per (zone, resource, application)"},
    {"sts.secret_verify_concurrency", CARACAL_CFG_INT, 0,
     "concurrent cold client-secret verifications (Argon2id)"},
    {"sts.gateway_hmac_key", CARACAL_CFG_SECRET, 0,
     "hex key (>= 32 bytes) the gateway signs token exchanges with (gateway_hmac_key_file or "
     "gateway_hmac_key_env)"},
    {"sts.control_audience", CARACAL_CFG_STRING, 0,
     "the resource name control keys mint for (default caracal-control)"},
    {"sts.federation.ca_file", CARACAL_CFG_STRING, 0,
     "extra CA certificates (PEM) trusted for issuers' JWKS endpoints"},
    {"sts.federation.allow_private_networks", CARACAL_CFG_BOOL, 0,
     "fetch issuers' JWKS from loopback/private addresses (development only)"},
    {"plugins", CARACAL_CFG_MAP, 0, "one block per plugin instance"},
    {"stream", CARACAL_CFG_STRING, 0, "stream instance that carries audit events (none: direct)"},
    {"streams.hmac_key", CARACAL_CFG_SECRET, 0,
     "HMAC key signing stream messages (hmac_key_file or hmac_key_env; >= 32 bytes)"},
    {"streams.window", CARACAL_CFG_DURATION, 0, "freshness window of stream messages (5m)"},
    {NULL, 0, 0, NULL},
};

const caracal_cfg_key *settings_schema(void)
{
	return core_schema;
}

int settings_parse_listen(const char *text, listen_addr *out, caracal_error *err)
{
	memset(out, 0, sizeof *out);
	if (strlen(text) >= sizeof out->text)
		return caracal_error_set(err, CARACAL_E_INVAL, "listen address too long");
	snprintf(out->text, sizeof out->text, "%s", text);

	char host[128];
	const char *port_text;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return caracal_error_set(err, CARACAL_E_INVAL, "'%s' is not [ipv6]:port",
			                         text);
		size_t n = (size_t)(close - text - 1);
		memcpy(host, text + 1, n);
		host[n] = '\0';
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || colon == text)
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "'%s' is not host:port (a numeric address)", text);
		size_t n = (size_t)(colon - text);
		memcpy(host, text, n);
		host[n] = '\0';
		port_text = colon + 1;
	}
	char *end;
	errno = 0;
	long port = strtol(port_text, &end, 10);
	if (port_text[0] == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535)
		return caracal_error_set(err, CARACAL_E_INVAL, "'%s': bad port", text);

	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->addr;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		out->addr_len = sizeof *v4;
		out->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		out->addr_len = sizeof *v6;
		out->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
	} else {
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "'%s': the host must be a numeric IPv4 or IPv6 address "
		                         "(caracald never resolves names)",
		                         text);
	}
	out->enabled = 1;
	return CARACAL_OK;
}

static void report_problem(config_report_fn report, void *ud, caracal_error *first, int *failed,
                           int code, const char *fmt, ...)
{
	char msg[CARACAL_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (report != NULL)
		report(ud, msg);
	if (!*failed && first != NULL) {
		first->code = code;
		snprintf(first->message, sizeof first->message, "%s", msg);
	}
	*failed = 1;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 && n < 1024 ? (int)n : 1;
}

int settings_load(const config_node *root, settings *out, config_report_fn report, void *ud,
                  caracal_error *err)
{
	int failed = 0;
	caracal_error e = {0};
	memset(out, 0, sizeof *out);

	if (config_validate(root, core_schema, NULL, report, ud, &e) != CARACAL_OK) {
		if (err != NULL)
			*err = e;
		failed = 1;
	}

	const char *s;
	const config_node *n;

	out->production = 0;
	if (config_get_string(root, "mode", &s, &e) == CARACAL_OK) {
		if (strcmp(s, "production") == 0)
			out->production = 1;
		else if (strcmp(s, "development") != 0)
			report_problem(
			    report, ud, err, &failed, CARACAL_E_INVAL,
			    "%s: key 'mode': must be development or production, not '%s'",
			    config_get(root, "mode")->where, s);
	}

	const char *data_dir = "./var";
	config_get_string(root, "data_dir", &data_dir, &e);
	if (data_dir[0] == '/') {
		snprintf(out->data_dir, sizeof out->data_dir, "%s", data_dir);
	} else {
		char cwd[2048];
		if (getcwd(cwd, sizeof cwd) == NULL)
			report_problem(report, ud, err, &failed, CARACAL_E_INTERNAL,
			               "cannot read the working directory: %s", strerror(errno));
		else
			snprintf(out->data_dir, sizeof out->data_dir, "%s/%s", cwd,
			         strncmp(data_dir, "./", 2) == 0 ? data_dir + 2 : data_dir);
	}

	const char *plugin_dir = CARACAL_PLUGINDIR;
	config_get_string(root, "plugin_dir", &plugin_dir, &e);
	if (plugin_dir[0] != '/')
		report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
		               "%s: key 'plugin_dir': must be an absolute path",
		               config_get(root, "plugin_dir")->where);
	snprintf(out->plugin_dir, sizeof out->plugin_dir, "%s", plugin_dir);
	config_get_bool(root, "plugins_allow_outside_dir", &out->plugins_allow_outside_dir, &e);

	out->log_level = CARACAL_LOG_INFO;
	if (config_get_string(root, "log.level", &s, &e) == CARACAL_OK) {
		int lv = log_level_parse(s);
		if (lv < 0)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'log.level': must be error, warn, info or debug",
			               config_get(root, "log.level")->where);
		else
			out->log_level = lv;
	}

	int64_t v;
	out->loops = online_cpus();
	out->workers = online_cpus();
	if (config_get_int(root, "threads.loops", &v, &e) == CARACAL_OK) {
		if (v < 0 || v > 256)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'threads.loops': must be 0..256",
			               config_get(root, "threads.loops")->where);
		else if (v > 0)
			out->loops = (int)v;
	}
	if (config_get_int(root, "threads.workers", &v, &e) == CARACAL_OK) {
		if (v < 0 || v > 1024)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'threads.workers': must be 0..1024",
			               config_get(root, "threads.workers")->where);
		else if (v > 0)
			out->workers = (int)v;
	}

	http_limits_default(&out->http);
	uint64_t sz;
	if (config_get_size(root, "http.max_target_bytes", &sz, &e) == CARACAL_OK)
		out->http.max_target_bytes = (size_t)sz;
	if (config_get_size(root, "http.max_header_bytes", &sz, &e) == CARACAL_OK)
		out->http.max_header_bytes = (size_t)sz;
	if (config_get_int(root, "http.max_headers", &v, &e) == CARACAL_OK) {
		if (v < 1 || v > 65536)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'http.max_headers': must be 1..65536",
			               config_get(root, "http.max_headers")->where);
		else
			out->http.max_headers = (size_t)v;
	}
	if (config_get_size(root, "http.max_body_bytes", &sz, &e) == CARACAL_OK)
		out->http.max_body_bytes = (size_t)sz;
	if (config_get_duration_ms(root, "http.read_timeout", &v, &e) == CARACAL_OK)
		out->http.read_timeout_ms = v;
	if (config_get_duration_ms(root, "http.idle_timeout", &v, &e) == CARACAL_OK)
		out->http.idle_timeout_ms = v;
	if (config_get_duration_ms(root, "http.write_timeout", &v, &e) == CARACAL_OK)
		out->http.write_timeout_ms = v;
	if (config_get_int(root, "http.max_connections", &v, &e) == CARACAL_OK) {
		if (v < 1)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'http.max_connections': must be at least 1",
			               config_get(root, "http.max_connections")->where);
		else
			out->http.max_connections = (size_t)v;
	}
	/* Zero limits would refuse every request or disable a timeout. */
	const struct {
		const char *key;
		uint64_t value;
	} positive[] = {
	    {"http.max_target_bytes", out->http.max_target_bytes},
	    {"http.max_header_bytes", out->http.max_header_bytes},
	    {"http.read_timeout", (uint64_t)out->http.read_timeout_ms},
	    {"http.idle_timeout", (uint64_t)out->http.idle_timeout_ms},
	    {"http.write_timeout", (uint64_t)out->http.write_timeout_ms},
	};
	for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++) {
		const config_node *pn = config_get(root, positive[i].key);
		if (positive[i].value == 0)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key '%s': must be greater than zero",
			               pn != NULL ? pn->where : root->where, positive[i].key);
	}

	for (int r = 0; r < ROLE_COUNT; r++) {
		char key[64];
		snprintf(key, sizeof key, "%s.listen", role_names[r]);
		if (config_get_string(root, key, &s, &e) != CARACAL_OK)
			continue;
		caracal_error le = {0};
		if (settings_parse_listen(s, &out->listen[r], &le) != CARACAL_OK) {
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key '%s': %s", config_get(root, key)->where, key,
			               le.message);
			continue;
		}
		/* Plain HTTP only ever on loopback, in both modes: development
		 * generates its secrets and must not be reachable from outside;
		 * production goes behind a TLS-terminating proxy. */
		if (!out->listen[r].loopback)
			report_problem(
			    report, ud, err, &failed, CARACAL_E_INVAL,
			    "%s: key '%s': caracald serves plain HTTP on loopback only; put "
			    "a TLS-terminating proxy in front and listen on 127.0.0.1",
			    config_get(root, key)->where, key);
	}

	out->issuer = "http://127.0.0.1:8080";
	config_get_string(root, "sts.issuer", &out->issuer, &e);

	n = config_get(root, "audit.sinks");
	if (n != NULL && n->kind == CONFIG_SEQ) {
		for (size_t i = 0; i < n->count; i++) {
			if (out->sink_count == SETTINGS_MAX_SINKS) {
				report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
				               "%s: key 'audit.sinks': at most %d sinks", n->where,
				               SETTINGS_MAX_SINKS);
				break;
			}
			if (n->children[i]->kind != CONFIG_SCALAR)
				continue; /* the schema check reported it */
			out->sinks[out->sink_count++] = n->children[i]->value;
		}
	}
	out->plugins = config_get(root, "plugins");
	config_get_string(root, "storage", &out->storage, &e);
	config_get_string(root, "signer", &out->signer, &e);
	config_get_string(root, "policy", &out->policy, &e);

	out->mint_rate_limit_per_min = 1000;
	if (config_get_int(root, "sts.mint_rate_limit_per_min", &v, &e) == CARACAL_OK) {
		if (v < 1)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'sts.mint_rate_limit_per_min': must be at least 1",
			               config_get(root, "sts.mint_rate_limit_per_min")->where);
		else
			out->mint_rate_limit_per_min = v;
	}
	out->secret_verify_concurrency = 2;
	if (config_get_int(root, "sts.secret_verify_concurrency", &v, &e) == CARACAL_OK) {
		if (v < 1 || v > 64)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'sts.secret_verify_concurrency': must be 1..64",
			               config_get(root, "sts.secret_verify_concurrency")->where);
		else
			out->secret_verify_concurrency = v;
	}

	out->control_audience = "caracal-control";
	config_get_string(root, "sts.control_audience", &out->control_audience, &e);
	out->federation_ca_file = NULL;
	config_get_string(root, "sts.federation.ca_file", &out->federation_ca_file, &e);
	out->federation_allow_private = 0;
	if (config_get_bool(root, "sts.federation.allow_private_networks",
	                    &out->federation_allow_private, &e) == CARACAL_OK &&
	    out->federation_allow_private && out->production)
		/* The guard against server-side request forgery is not optional
		 * where it matters. */
		report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
		               "%s: key 'sts.federation.allow_private_networks': not allowed in "
		               "production mode",
		               config_get(root, "sts.federation.allow_private_networks")->where);

	out->stream = NULL;
	config_get_string(root, "stream", &out->stream, &e);
	out->stream_window_ms = 300000;
	if (config_get_duration_ms(root, "streams.window", &v, &e) == CARACAL_OK) {
		if (v <= 0)
			report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
			               "%s: key 'streams.window': must be greater than zero",
			               config_get(root, "streams.window")->where);
		else
			out->stream_window_ms = v;
	}

	/* Production refuses what development tolerates: evidence must be
	 * written somewhere, and the admin API must have a real credential. */
	if (out->production && out->sink_count == 0)
		report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
		               "%s: production mode needs at least one audit sink (audit.sinks)",
		               root->where);
	if (out->production && out->listen[ROLE_ADMIN].enabled &&
	    config_get(root, "admin.token_file") == NULL &&
	    config_get(root, "admin.token_env") == NULL)
		report_problem(report, ud, err, &failed, CARACAL_E_INVAL,
		               "%s: production mode with an admin listener needs admin.token_file "
		               "or admin.token_env",
		               config_get(root, "admin")->where);
	return failed ? CARACAL_E_INVAL : CARACAL_OK;
}
