/*
 * module.c — the policy_rules .so: only the exported descriptor. Everything
 * else lives in libpolicy_rules_impl.la (policy_rules.c, rules.c).
 */
#include "policy_rules.h"

CARACAL_PLUGIN(policy_rules, "1.0.0", .kinds = CARACAL_KIND_POLICY,
               .config_schema = pr_config_schema, .instance_create = pr_instance_create,
               .instance_destroy = pr_instance_destroy, .policy = &pr_policy_ops);
