/*
 * fuzz_delegation_constraints.c — libFuzzer target for the strict decoder of
 * a delegation edge's constraints_json (spec sts.md §1.7).
 *
 * Beyond "never crashes, never leaks": a refusal says why, within its
 * buffer, and leaves only the defaults; an acceptance is within the
 * platform's bounds, and re-encoding what was decoded and decoding it again
 * gives the same constraints (the decoder reads what it accepts one way).
 */
#include "roles/sts/delegation.h"
#include "util/arena.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static int same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_defaults(const sts_delegation_constraints *c)
{
	check(c->max_hops == 1 && c->ttl_seconds == 0 && c->resource_count == 0 &&
	      c->resources == NULL && c->policy_approved == 0 && c->expires_at_us == 0 &&
	      c->expires_at == NULL && c->broad_reason == NULL);
}

static void check_bounds(const sts_delegation_constraints *c)
{
	check(c->max_hops >= 1 && c->max_hops <= STS_DELEGATION_MAX_HOPS);
	check(c->ttl_seconds >= 0);
	check(c->policy_approved == 0 || c->policy_approved == 1);
	check((c->expires_at == NULL) == (c->expires_at_us == 0));
	check(c->expires_at_us == 0 || c->expires_at_us == -1 || c->expires_at_us > 0);
	check((c->resource_count == 0) == (c->resources == NULL));
	for (size_t i = 0; i < c->resource_count; i++)
		check(c->resources[i] != NULL);
	check(c->broad_reason == NULL || c->broad_reason[0] != '\0');
}

/* The constraints as the canonical JSON object that means them. */
static char *encode(const sts_delegation_constraints *c)
{
	json_t *o = json_object();
	json_t *resources = json_array();
	check(o != NULL && resources != NULL);
	for (size_t i = 0; i < c->resource_count; i++)
		json_array_append_new(resources, json_string(c->resources[i]));
	json_object_set_new(o, "resources", resources);
	json_object_set_new(o, "ttl_seconds", json_integer(c->ttl_seconds));
	json_object_set_new(o, "max_hops", json_integer(c->max_hops));
	json_object_set_new(o, "policy_approved", json_boolean(c->policy_approved));
	if (c->expires_at != NULL)
		json_object_set_new(o, "expires_at", json_string(c->expires_at));
	if (c->broad_reason != NULL)
		json_object_set_new(o, "broad_reason", json_string(c->broad_reason));
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	check(text != NULL);
	return text;
}

static void check_round_trip(caracal_arena *arena, const sts_delegation_constraints *c)
{
	char *text = encode(c);
	sts_delegation_constraints again;
	char why[128];
	check(sts_delegation_constraints_parse(text, strlen(text), arena, &again, why,
	                                       sizeof why) == STS_CONSTRAINTS_OK);
	free(text);
	check(again.max_hops == c->max_hops && again.ttl_seconds == c->ttl_seconds &&
	      again.policy_approved == c->policy_approved &&
	      again.expires_at_us == c->expires_at_us &&
	      same_text(again.expires_at, c->expires_at) &&
	      same_text(again.broad_reason, c->broad_reason) &&
	      again.resource_count == c->resource_count);
	for (size_t i = 0; i < c->resource_count; i++)
		check(strcmp(again.resources[i], c->resources[i]) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	caracal_arena *arena = arena_new();
	if (arena == NULL)
		return 0;
	sts_delegation_constraints c;
	char why[48];
	memset(why, 'x', sizeof why);
	const int rc =
	    sts_delegation_constraints_parse((const char *)data, size, arena, &c, why, sizeof why);
	check(memchr(why, '\0', sizeof why) != NULL);
	if (rc == STS_CONSTRAINTS_OK) {
		check(why[0] == '\0');
		check_bounds(&c);
		check_round_trip(arena, &c);
	} else {
		check(rc == STS_CONSTRAINTS_INVALID || rc == STS_CONSTRAINTS_TOO_MANY_HOPS);
		check(why[0] != '\0');
		check_defaults(&c);
	}
	arena_free(arena);
	return 0;
}
