/*
 * commands.h — caracalctl's admin-API commands: from the command words to
 * one HTTP request (pure, unit-tested), and from the response to what is
 * printed. The request is sent by main.c with client.h.
 *
 * `policy validate FILE` goes through the API too (POST
 * /admin/policies/validate), so it checks the file with exactly the policy
 * engine and configuration the running daemon uses.
 */
#ifndef CARACAL_CTL_COMMANDS_H
#define CARACAL_CTL_COMMANDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_MAX_POLICY_FILE (64u * 1024u) /* the API's body bound */

typedef enum ctl_kind {
	CTL_ZONE_CREATE = 1,
	CTL_ZONE_LIST,
	CTL_APP_CREATE,
	CTL_APP_LIST,
	CTL_RESOURCE_CREATE,
	CTL_RESOURCE_LIST,
	CTL_GRANT_CREATE,
	CTL_GRANT_LIST,
	CTL_POLICY_APPLY,
	CTL_POLICY_VALIDATE,
	CTL_KEY_ROTATE,
	CTL_APPROVAL_LIST,
	CTL_APPROVAL_DECIDE,
	CTL_REVOKE,
	CTL_ISSUER_CREATE,
	CTL_ISSUER_SHOW,
} ctl_kind;

typedef struct ctl_request {
	ctl_kind kind;
	const char *method;
	char path[2048];          /* with the query: the daemon's default request-target bound */
	const char *content_type; /* NULL: no body */
	char *body;               /* malloc'd */
	size_t body_len;
	const char *file; /* policy file, for messages */
} ctl_request;

/* The command lines, for --help. */
extern const char ctl_commands_usage[];

/* argv holds the command words ("zone", "create", "NAME", ...).
 * 0: out is filled (ctl_request_free it); -1: a usage error (why);
 * 1: not an admin-API command (audit verify, version, ...). */
int ctl_parse_command(int argc, char **argv, ctl_request *out, char *why, size_t cap);
void ctl_request_free(ctl_request *r);

/* Split "A B  C" on spaces (and commas) into a JSON array; NULL when empty
 * or out of memory. */
json_t *ctl_split_scopes(const char *text);

/* Percent-encode a path segment (unreserved characters kept). -1 when it
 * does not fit. */
int ctl_path_segment(char *out, size_t cap, const char *segment);

/* What a successful response prints without --json. */
void ctl_print_human(FILE *out, const ctl_request *rq, const json_t *resp);

/* What an error response prints without --json (on err). */
void ctl_print_error_human(FILE *err, const ctl_request *rq, int status, const json_t *resp);

#endif
