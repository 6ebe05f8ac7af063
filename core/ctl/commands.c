/* commands.c — see commands.h. */
#include "ctl/commands.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

__attribute__((format(printf, 3, 4))) static int why_set(char *why, size_t cap, const char *fmt,
                                                         ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}
#define WHY(...) why_set(why, cap, __VA_ARGS__)

const char ctl_commands_usage[] =
    "  zone create NAME\n"
    "  zone list\n"
    "  app create --zone Z NAME [--trait T ...] [--expires-at TIME]\n"
    "  app list --zone Z\n"
    "  resource create --zone Z --identifier resource://NAME [--upstream URL]\n"
    "                  --scopes \"A B\" [--credential-type bearer|none]\n"
    "                  [--credential-secret-file FILE]\n"
    "                  [--operation \"METHOD PATH SCOPE\"]... [--enforce-operations]\n"
    "  resource list --zone Z\n"
    "  grant create --zone Z --app APP_ID --resource IDENT_OR_ID --scopes \"A B\"\n"
    "  grant list --zone Z\n"
    "  policy apply --zone Z FILE      validate, store a new version and activate it\n"
    "  policy validate FILE            check FILE with the daemon's policy engine\n"
    "  key rotate --zone Z\n"
    "  approval list --zone Z\n"
    "  approval decide ID --zone Z --approve|--reject [--reason TEXT]\n"
    "  revoke --zone Z (--authority-record ID | --session ID | --delegation ID)\n"
    "         [--reason TEXT]\n"
    "  issuer create --zone Z --issuer URL --jwks-url URL --audience AUD\n"
    "                                  register a federated identity (id_token) issuer\n"
    "  issuer show --zone Z --issuer URL\n";

enum {
	O_ZONE,
	O_IDENTIFIER,
	O_UPSTREAM,
	O_SCOPES,
	O_CRED_TYPE,
	O_CRED_FILE,
	O_APP,
	O_RESOURCE,
	O_TRAIT,
	O_EXPIRES,
	O_APPROVE,
	O_REJECT,
	O_REASON,
	O_AUTHORITY_RECORD,
	O_SESSION,
	O_DELEGATION,
	O_ISSUER,
	O_JWKS_URL,
	O_AUDIENCE,
	O_OPERATION,
	O_ENFORCE_OPS,
	O_COUNT
};

static const struct {
	const char *name;
	int flag; /* takes no value */
} opt_table[O_COUNT] = {
    [O_ZONE] = {"--zone", 0},
    [O_IDENTIFIER] = {"--identifier", 0},
    [O_UPSTREAM] = {"--upstream", 0},
    [O_SCOPES] = {"--scopes", 0},
    [O_CRED_TYPE] = {"--credential-type", 0},
    [O_CRED_FILE] = {"--credential-secret-file", 0},
    [O_APP] = {"--app", 0},
    [O_RESOURCE] = {"--resource", 0},
    [O_TRAIT] = {"--trait", 0},
    [O_EXPIRES] = {"--expires-at", 0},
    [O_APPROVE] = {"--approve", 1},
    [O_REJECT] = {"--reject", 1},
    [O_REASON] = {"--reason", 0},
    [O_AUTHORITY_RECORD] = {"--authority-record", 0},
    [O_SESSION] = {"--session", 0},
    [O_DELEGATION] = {"--delegation", 0},
    [O_ISSUER] = {"--issuer", 0},
    [O_JWKS_URL] = {"--jwks-url", 0},
    [O_AUDIENCE] = {"--audience", 0},
    [O_OPERATION] = {"--operation", 0},
    [O_ENFORCE_OPS] = {"--enforce-operations", 1},
};

#define BIT(o) (1u << (o))
#define MAX_TRAITS 64

struct args {
	const char *val[O_COUNT];
	const char *traits[MAX_TRAITS];
	size_t ntraits;
	const char *ops[MAX_TRAITS]; /* --operation, repeatable */
	size_t nops;
	const char *pos[4];
	size_t npos;
};

static int parse_args(int argc, char **argv, unsigned allowed, size_t npos, struct args *a,
                      char *why, size_t cap)
{
	memset(a, 0, sizeof *a);
	int only_pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (!only_pos && strcmp(w, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (only_pos || w[0] != '-' || w[1] == '\0') {
			if (a->npos == npos || a->npos == sizeof a->pos / sizeof a->pos[0])
				return WHY("unexpected argument '%s'", w);
			a->pos[a->npos++] = w;
			continue;
		}
		const char *eq = strchr(w, '=');
		size_t nlen = eq != NULL ? (size_t)(eq - w) : strlen(w);
		int o = -1;
		for (int k = 0; k < O_COUNT; k++)
			if (strlen(opt_table[k].name) == nlen &&
			    strncmp(opt_table[k].name, w, nlen) == 0)
				o = k;
		if (o < 0 || !(allowed & BIT(o)))
			return WHY("unknown option '%.*s' for this command", (int)nlen, w);
		const char *v;
		if (opt_table[o].flag) {
			if (eq != NULL)
				return WHY("%s takes no value", opt_table[o].name);
			v = "1";
		} else if (eq != NULL) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			return WHY("%s needs a value", opt_table[o].name);
		}
		if (o == O_TRAIT) {
			if (a->ntraits == MAX_TRAITS)
				return WHY("too many --trait options");
			a->traits[a->ntraits++] = v;
			continue;
		}
		if (o == O_OPERATION) {
			if (a->nops == MAX_TRAITS)
				return WHY("too many --operation options");
			a->ops[a->nops++] = v;
			continue;
		}
		if (a->val[o] != NULL)
			return WHY("%s given twice", opt_table[o].name);
		a->val[o] = v;
	}
	if (a->npos < npos)
		return WHY("missing argument");
	return 0;
}

static int need(const struct args *a, int o, char *why, size_t cap)
{
	if (a->val[o] == NULL || a->val[o][0] == '\0')
		return WHY("%s is required", opt_table[o].name);
	return 0;
}

int ctl_path_segment(char *out, size_t cap, const char *segment)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)segment; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)*p;
		} else {
			if (n + 3 >= cap)
				return -1;
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (n >= cap)
		return -1;
	out[n] = '\0';
	return 0;
}

/* out->path = "/admin/zones/{zone}{suffix}" */
static int zone_path(ctl_request *out, const char *zone, const char *suffix, char *why, size_t cap)
{
	char seg[400];
	if (ctl_path_segment(seg, sizeof seg, zone) != 0)
		return WHY("the zone name is too long");
	if ((size_t)snprintf(out->path, sizeof out->path, "/admin/zones/%s%s", seg, suffix) >=
	    sizeof out->path)
		return WHY("the path is too long");
	return 0;
}

json_t *ctl_split_scopes(const char *text)
{
	json_t *a = json_array();
	const char *p = text;
	while (a != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, " \t,");
		if (n > 0 && json_array_append_new(a, json_stringn(p, n)) != 0) {
			json_decref(a);
			return NULL;
		}
		p += n;
	}
	if (a != NULL && json_array_size(a) == 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* Set out's JSON body from o (stolen). */
static int json_body(ctl_request *out, json_t *o, char *why, size_t cap)
{
	out->body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (out->body == NULL)
		return WHY("cannot encode the request (invalid UTF-8 in an argument?)");
	out->body_len = strlen(out->body);
	out->content_type = "application/json";
	return 0;
}

static int read_file(ctl_request *out, const char *path, char *why, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return WHY("%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return WHY("%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > CTL_MAX_POLICY_FILE) {
		fclose(f);
		return WHY("%s: larger than %u bytes", path, CTL_MAX_POLICY_FILE);
	}
	out->body = malloc(CTL_MAX_POLICY_FILE + 1);
	if (out->body == NULL) {
		fclose(f);
		return WHY("out of memory");
	}
	size_t n = fread(out->body, 1, CTL_MAX_POLICY_FILE + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return WHY("%s: read error", path);
	if (n > CTL_MAX_POLICY_FILE)
		return WHY("%s: larger than %u bytes", path, CTL_MAX_POLICY_FILE);
	out->body[n] = '\0';
	out->body_len = n;
	out->content_type = "application/yaml";
	out->file = path;
	return 0;
}

static int is_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* --operation "METHOD PATH SCOPE" (repeatable) and --enforce-operations into
 * the body's operations and operation_enforcement. */
static int add_operations(json_t *body, const struct args *a, char *why, size_t cap)
{
	json_t *ops = json_array();
	for (size_t i = 0; ops != NULL && i < a->nops; i++) {
		char m[32], p[1100], sc[200];
		char extra;
		if (sscanf(a->ops[i], "%31s %1099s %199s %c", m, p, sc, &extra) != 3) {
			json_decref(ops);
			return WHY("--operation takes \"METHOD PATH SCOPE\", not '%s'", a->ops[i]);
		}
		json_array_append_new(
		    ops, json_pack("{s:s, s:s, s:s}", "method", m, "path", p, "scope", sc));
	}
	if (ops == NULL)
		return WHY("out of memory");
	json_object_set_new(body, "operations", ops);
	if (a->val[O_ENFORCE_OPS] != NULL)
		json_object_set_new(body, "operation_enforcement", json_string("enforced"));
	return 0;
}

static int build(const char *noun, const char *verb, int argc, char **argv, ctl_request *out,
                 char *why, size_t cap)
{
	struct args a;
	const unsigned Z = BIT(O_ZONE);
#define PARSE(allowed, npos)                                                      \
	do {                                                                      \
		if (parse_args(argc, argv, (allowed), (npos), &a, why, cap) != 0) \
			return -1;                                                \
	} while (0)

	if (strcmp(noun, "zone") == 0 && strcmp(verb, "create") == 0) {
		PARSE(0, 1);
		out->kind = CTL_ZONE_CREATE;
		out->method = "POST";
		snprintf(out->path, sizeof out->path, "/admin/zones");
		return json_body(out, json_pack("{s:s}", "name", a.pos[0]), why, cap);
	}
	if (strcmp(noun, "zone") == 0 && strcmp(verb, "list") == 0) {
		PARSE(0, 0);
		out->kind = CTL_ZONE_LIST;
		out->method = "GET";
		snprintf(out->path, sizeof out->path, "/admin/zones");
		return 0;
	}
	if (strcmp(noun, "app") == 0 && strcmp(verb, "create") == 0) {
		PARSE(Z | BIT(O_TRAIT) | BIT(O_EXPIRES), 1);
		if (need(&a, O_ZONE, why, cap) != 0)
			return -1;
		out->kind = CTL_APP_CREATE;
		out->method = "POST";
		if (zone_path(out, a.val[O_ZONE], "/applications", why, cap) != 0)
			return -1;
		json_t *o = json_pack("{s:s}", "name", a.pos[0]);
		if (o != NULL && a.ntraits > 0) {
			json_t *t = json_array();
			for (size_t i = 0; i < a.ntraits; i++)
				json_array_append_new(t, json_string(a.traits[i]));
			json_object_set_new(o, "traits", t);
		}
		if (o != NULL && a.val[O_EXPIRES] != NULL)
			json_object_set_new(o, "expires_at",
			                    is_digits(a.val[O_EXPIRES])
			                        ? json_integer(strtoll(a.val[O_EXPIRES], NULL, 10))
			                        : json_string(a.val[O_EXPIRES]));
		return json_body(out, o, why, cap);
	}
	if (strcmp(verb, "list") == 0 &&
	    (strcmp(noun, "app") == 0 || strcmp(noun, "resource") == 0 ||
	     strcmp(noun, "grant") == 0 || strcmp(noun, "approval") == 0)) {
		PARSE(Z, 0);
		if (need(&a, O_ZONE, why, cap) != 0)
			return -1;
		out->method = "GET";
		const char *suffix;
		if (strcmp(noun, "app") == 0) {
			out->kind = CTL_APP_LIST;
			suffix = "/applications";
		} else if (strcmp(noun, "resource") == 0) {
			out->kind = CTL_RESOURCE_LIST;
			suffix = "/resources";
		} else if (strcmp(noun, "grant") == 0) {
			out->kind = CTL_GRANT_LIST;
			suffix = "/grants";
		} else {
			out->kind = CTL_APPROVAL_LIST;
			suffix = "/approvals";
		}
		return zone_path(out, a.val[O_ZONE], suffix, why, cap);
	}
	if (strcmp(noun, "resource") == 0 && strcmp(verb, "create") == 0) {
		PARSE(Z | BIT(O_IDENTIFIER) | BIT(O_UPSTREAM) | BIT(O_SCOPES) | BIT(O_CRED_TYPE) |
		          BIT(O_CRED_FILE) | BIT(O_OPERATION) | BIT(O_ENFORCE_OPS),
		      0);
		if (need(&a, O_ZONE, why, cap) != 0 || need(&a, O_IDENTIFIER, why, cap) != 0 ||
		    need(&a, O_SCOPES, why, cap) != 0)
			return -1;
		const char *ctype = a.val[O_CRED_TYPE];
		if (ctype == NULL && a.val[O_CRED_FILE] != NULL)
			ctype = "bearer";
		if (ctype != NULL && strcmp(ctype, "bearer") != 0 && strcmp(ctype, "none") != 0)
			return WHY("--credential-type must be bearer or none");
		if (ctype != NULL && strcmp(ctype, "bearer") == 0 && a.val[O_CRED_FILE] == NULL)
			return WHY("--credential-type bearer needs --credential-secret-file");
		if (ctype != NULL && strcmp(ctype, "none") == 0 && a.val[O_CRED_FILE] != NULL)
			return WHY("--credential-secret-file needs --credential-type bearer");
		json_t *scopes = ctl_split_scopes(a.val[O_SCOPES]);
		if (scopes == NULL)
			return WHY("--scopes names no scope");
		out->kind = CTL_RESOURCE_CREATE;
		out->method = "POST";
		if (zone_path(out, a.val[O_ZONE], "/resources", why, cap) != 0) {
			json_decref(scopes);
			return -1;
		}
		json_t *o =
		    json_pack("{s:s, s:o}", "identifier", a.val[O_IDENTIFIER], "scopes", scopes);
		if (o != NULL && a.val[O_UPSTREAM] != NULL)
			json_object_set_new(o, "upstream_url", json_string(a.val[O_UPSTREAM]));
		if (o != NULL && ctype != NULL)
			json_object_set_new(o, "credential",
			                    strcmp(ctype, "bearer") == 0
			                        ? json_pack("{s:s, s:s}", "type", "bearer",
			                                    "secret_file", a.val[O_CRED_FILE])
			                        : json_pack("{s:s}", "type", "none"));
		if (o != NULL && (a.nops > 0 || a.val[O_ENFORCE_OPS] != NULL) &&
		    add_operations(o, &a, why, cap) != 0) {
			json_decref(o);
			return -1;
		}
		return json_body(out, o, why, cap);
	}
	if (strcmp(noun, "grant") == 0 && strcmp(verb, "create") == 0) {
		PARSE(Z | BIT(O_APP) | BIT(O_RESOURCE) | BIT(O_SCOPES), 0);
		if (need(&a, O_ZONE, why, cap) != 0 || need(&a, O_APP, why, cap) != 0 ||
		    need(&a, O_RESOURCE, why, cap) != 0 || need(&a, O_SCOPES, why, cap) != 0)
			return -1;
		json_t *scopes = ctl_split_scopes(a.val[O_SCOPES]);
		if (scopes == NULL)
			return WHY("--scopes names no scope");
		out->kind = CTL_GRANT_CREATE;
		out->method = "POST";
		if (zone_path(out, a.val[O_ZONE], "/grants", why, cap) != 0) {
			json_decref(scopes);
			return -1;
		}
		return json_body(out,
		                 json_pack("{s:s, s:s, s:o}", "application_id", a.val[O_APP],
		                           "resource", a.val[O_RESOURCE], "scopes", scopes),
		                 why, cap);
	}
	if (strcmp(noun, "policy") == 0 && strcmp(verb, "apply") == 0) {
		PARSE(Z, 1);
		if (need(&a, O_ZONE, why, cap) != 0)
			return -1;
		out->kind = CTL_POLICY_APPLY;
		out->method = "POST";
		if (zone_path(out, a.val[O_ZONE], "/policies", why, cap) != 0)
			return -1;
		return read_file(out, a.pos[0], why, cap);
	}
	if (strcmp(noun, "policy") == 0 && strcmp(verb, "validate") == 0) {
		PARSE(0, 1);
		out->kind = CTL_POLICY_VALIDATE;
		out->method = "POST";
		snprintf(out->path, sizeof out->path, "/admin/policies/validate");
		return read_file(out, a.pos[0], why, cap);
	}
	if (strcmp(noun, "key") == 0 && strcmp(verb, "rotate") == 0) {
		PARSE(Z, 0);
		if (need(&a, O_ZONE, why, cap) != 0)
			return -1;
		out->kind = CTL_KEY_ROTATE;
		out->method = "POST";
		return zone_path(out, a.val[O_ZONE], "/keys/rotate", why, cap);
	}
	if (strcmp(noun, "approval") == 0 && strcmp(verb, "decide") == 0) {
		PARSE(Z | BIT(O_APPROVE) | BIT(O_REJECT) | BIT(O_REASON), 1);
		if (need(&a, O_ZONE, why, cap) != 0)
			return -1;
		if ((a.val[O_APPROVE] != NULL) == (a.val[O_REJECT] != NULL))
			return WHY("give exactly one of --approve and --reject");
		char seg[400], suffix[480];
		if (ctl_path_segment(seg, sizeof seg, a.pos[0]) != 0)
			return WHY("the approval id is too long");
		snprintf(suffix, sizeof suffix, "/approvals/%s/decision", seg);
		out->kind = CTL_APPROVAL_DECIDE;
		out->method = "POST";
		if (zone_path(out, a.val[O_ZONE], suffix, why, cap) != 0)
			return -1;
		json_t *o = json_pack("{s:b}", "approve", a.val[O_APPROVE] != NULL);
		if (o != NULL && a.val[O_REASON] != NULL)
			json_object_set_new(o, "reason", json_string(a.val[O_REASON]));
		return json_body(out, o, why, cap);
	}
	if (strcmp(noun, "issuer") == 0 && strcmp(verb, "create") == 0) {
		PARSE(Z | BIT(O_ISSUER) | BIT(O_JWKS_URL) | BIT(O_AUDIENCE), 0);
		if (need(&a, O_ZONE, why, cap) != 0 || need(&a, O_ISSUER, why, cap) != 0 ||
		    need(&a, O_JWKS_URL, why, cap) != 0 || need(&a, O_AUDIENCE, why, cap) != 0)
			return -1;
		out->kind = CTL_ISSUER_CREATE;
		out->method = "POST";
		if (zone_path(out, a.val[O_ZONE], "/issuers", why, cap) != 0)
			return -1;
		return json_body(out,
		                 json_pack("{s:s, s:s, s:s}", "issuer", a.val[O_ISSUER], "jwks_url",
		                           a.val[O_JWKS_URL], "audience", a.val[O_AUDIENCE]),
		                 why, cap);
	}
	if (strcmp(noun, "issuer") == 0 && strcmp(verb, "show") == 0) {
		PARSE(Z | BIT(O_ISSUER), 0);
		if (need(&a, O_ZONE, why, cap) != 0 || need(&a, O_ISSUER, why, cap) != 0)
			return -1;
		/* The issuer is a URL: it travels percent-encoded in the query. */
		char enc[1600], suffix[1700];
		if (ctl_path_segment(enc, sizeof enc, a.val[O_ISSUER]) != 0)
			return WHY("--issuer is longer than the API accepts");
		snprintf(suffix, sizeof suffix, "/issuers?issuer=%s", enc);
		out->kind = CTL_ISSUER_SHOW;
		out->method = "GET";
		return zone_path(out, a.val[O_ZONE], suffix, why, cap);
	}
#undef PARSE
	return 1;
}

static int build_revoke(int argc, char **argv, ctl_request *out, char *why, size_t cap)
{
	struct args a;
	if (parse_args(argc, argv,
	               BIT(O_ZONE) | BIT(O_AUTHORITY_RECORD) | BIT(O_SESSION) | BIT(O_DELEGATION) |
	                   BIT(O_REASON),
	               0, &a, why, cap) != 0 ||
	    need(&a, O_ZONE, why, cap) != 0)
		return -1;
	static const struct {
		int opt;
		const char *member;
	} kinds[] = {{O_AUTHORITY_RECORD, "authority_record"},
	             {O_SESSION, "session"},
	             {O_DELEGATION, "delegation"}};
	int which = -1;
	for (int i = 0; i < 3; i++) {
		if (a.val[kinds[i].opt] == NULL)
			continue;
		if (which >= 0)
			return WHY("give exactly one of --authority-record, --session, "
			           "--delegation");
		which = i;
	}
	if (which < 0)
		return WHY("give exactly one of --authority-record, --session, --delegation");
	out->kind = CTL_REVOKE;
	out->method = "POST";
	if (zone_path(out, a.val[O_ZONE], "/revocations", why, cap) != 0)
		return -1;
	json_t *o = json_pack("{s:s}", kinds[which].member, a.val[kinds[which].opt]);
	if (o != NULL && a.val[O_REASON] != NULL)
		json_object_set_new(o, "reason", json_string(a.val[O_REASON]));
	return json_body(out, o, why, cap);
}

int ctl_parse_command(int argc, char **argv, ctl_request *out, char *why, size_t cap)
{
	memset(out, 0, sizeof *out);
	if (argc < 1)
		return 1;
	int rc;
	if (strcmp(argv[0], "revoke") == 0) {
		rc = build_revoke(argc - 1, argv + 1, out, why, cap);
	} else {
		static const char *const nouns[] = {"zone",   "app", "resource", "grant",
		                                    "policy", "key", "approval", "issuer"};
		int known = 0;
		for (size_t i = 0; i < sizeof nouns / sizeof nouns[0]; i++)
			known |= strcmp(argv[0], nouns[i]) == 0;
		if (!known)
			return 1;
		if (argc < 2) {
			WHY("'%s' needs a subcommand (see caracalctl --help)", argv[0]);
			return -1;
		}
		rc = build(argv[0], argv[1], argc - 2, argv + 2, out, why, cap);
		if (rc == 1) {
			WHY("unknown command '%s %s' (see caracalctl --help)", argv[0], argv[1]);
			rc = -1;
		}
	}
	if (rc != 0)
		ctl_request_free(out);
	return rc;
}

void ctl_request_free(ctl_request *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* ---- output ------------------------------------------------------------------- */

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "?";
}

static void print_list(FILE *out, const json_t *arr, const char *const *cols)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		for (size_t k = 0; cols[k] != NULL; k++) {
			json_t *v = json_object_get(e, cols[k]);
			if (k > 0)
				fputs("  ", out);
			if (json_is_array(v)) {
				size_t j;
				json_t *s;
				json_array_foreach(v, j, s)
				    fprintf(out, "%s%s", j ? " " : "",
				            json_string_value(s) ? json_string_value(s) : "?");
			} else {
				fputs(json_is_string(v) ? json_string_value(v) : "-", out);
			}
		}
		fputc('\n', out);
	}
}

void ctl_print_human(FILE *out, const ctl_request *rq, const json_t *r)
{
	switch (rq->kind) {
	case CTL_ZONE_CREATE:
		fprintf(out, "zone %s created (id %s)\n", str(r, "name"), str(r, "id"));
		break;
	case CTL_ZONE_LIST: {
		static const char *const cols[] = {"id", "name", NULL};
		json_t *l = json_object_get(r, "zones");
		if (json_array_size(l) == 0)
			fprintf(out, "no zones\n");
		print_list(out, l, cols);
		break;
	}
	case CTL_APP_CREATE:
		fprintf(out,
		        "application %s created (id %s)\nclient_secret: %s\n"
		        "(the secret is shown only now; store it safely)\n",
		        str(r, "name"), str(r, "id"), str(r, "client_secret"));
		break;
	case CTL_APP_LIST: {
		static const char *const cols[] = {"id", "name", "traits", NULL};
		json_t *l = json_object_get(r, "applications");
		if (json_array_size(l) == 0)
			fprintf(out, "no applications\n");
		print_list(out, l, cols);
		break;
	}
	case CTL_RESOURCE_CREATE:
		fprintf(out, "resource %s created (id %s)\n", str(r, "identifier"), str(r, "id"));
		break;
	case CTL_RESOURCE_LIST: {
		static const char *const cols[] = {"id", "identifier", "upstream_url", "scopes",
		                                   NULL};
		json_t *l = json_object_get(r, "resources");
		if (json_array_size(l) == 0)
			fprintf(out, "no resources\n");
		print_list(out, l, cols);
		break;
	}
	case CTL_GRANT_CREATE:
		fprintf(out, "grant %s created\n", str(r, "id"));
		break;
	case CTL_GRANT_LIST: {
		static const char *const cols[] = {"id", "application_id", "resource_id", "scopes",
		                                   NULL};
		json_t *l = json_object_get(r, "grants");
		if (json_array_size(l) == 0)
			fprintf(out, "no grants\n");
		print_list(out, l, cols);
		break;
	}
	case CTL_POLICY_APPLY:
		fprintf(out, "policy version %lld (id %s) is active\n",
		        (long long)json_integer_value(json_object_get(r, "version")), str(r, "id"));
		break;
	case CTL_POLICY_VALIDATE:
		fprintf(out, "%s: valid\n", rq->file != NULL ? rq->file : "policy");
		break;
	case CTL_KEY_ROTATE:
		fprintf(out, "new signing key %s (%s)\n", str(r, "kid"), str(r, "alg"));
		break;
	case CTL_APPROVAL_LIST: {
		static const char *const cols[] = {
		    "id", "tier", "approver_class", "application_id", "expires_at", NULL};
		json_t *l = json_object_get(r, "approvals");
		if (json_array_size(l) == 0)
			fprintf(out, "no pending approvals\n");
		print_list(out, l, cols);
		break;
	}
	case CTL_APPROVAL_DECIDE:
		fprintf(out, "approval %s: %s\n", str(r, "id"), str(r, "state"));
		break;
	case CTL_REVOKE: {
		const json_t *rv = json_object_get(r, "revoked");
		fprintf(out, "revoked %s %s (%lld records changed)\n", str(rv, "kind"),
		        str(rv, "id"), (long long)json_integer_value(json_object_get(r, "count")));
		break;
	}
	case CTL_ISSUER_CREATE:
		fprintf(out, "issuer %s registered (id %s)\n", str(r, "issuer"), str(r, "id"));
		break;
	case CTL_ISSUER_SHOW:
		fprintf(out, "id: %s\nissuer: %s\njwks_url: %s\naudience: %s\n", str(r, "id"),
		        str(r, "issuer"), str(r, "jwks_url"), str(r, "audience"));
		break;
	default:
		break;
	}
}

void ctl_print_error_human(FILE *err, const ctl_request *rq, int status, const json_t *resp)
{
	const char *error = json_string_value(json_object_get(resp, "error"));
	const char *desc = json_string_value(json_object_get(resp, "error_description"));
	json_t *diags = json_object_get(resp, "diagnostics");
	if (json_is_array(diags) && json_array_size(diags) > 0) {
		size_t i;
		json_t *d;
		json_array_foreach(diags, i, d)
		{
			json_t *line = json_object_get(d, "line");
			const char *msg = json_string_value(json_object_get(d, "message"));
			if (json_is_integer(line))
				fprintf(err, "%s:%lld: %s\n", rq->file ? rq->file : "policy",
				        (long long)json_integer_value(line), msg ? msg : "invalid");
			else
				fprintf(err, "%s: %s\n", rq->file ? rq->file : "policy",
				        msg ? msg : "invalid");
		}
		return;
	}
	fprintf(err, "caracalctl: %s (%s, HTTP %d)\n", desc ? desc : "request failed",
	        error ? error : "error", status);
}
