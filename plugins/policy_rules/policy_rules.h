/*
 * policy_rules.h — the entry points of the policy_rules plugin, shared by
 * the thin .so wrapper (module.c, which holds the exported descriptor) and
 * tests that link libpolicy_rules_impl.la without dlopen.
 */
#ifndef POLICY_RULES_POLICY_RULES_H
#define POLICY_RULES_POLICY_RULES_H

#include <caracal/plugin.h>

extern const caracal_cfg_key pr_config_schema[];
extern const caracal_policy_ops pr_policy_ops;

int pr_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err);
void pr_instance_destroy(void *instance);

#endif
