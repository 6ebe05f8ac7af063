/*
 * audit_file.h — the entry points of the audit_file plugin, shared by the
 * thin .so wrapper (module.c, which holds the exported descriptor) and the
 * unit tests, which link libaudit_file_impl.la without dlopen.
 */
#ifndef AUDIT_FILE_AUDIT_FILE_H
#define AUDIT_FILE_AUDIT_FILE_H

#include <caracal/plugin.h>

extern const caracal_cfg_key af_config_schema[];
extern const caracal_audit_ops af_audit_ops;

int af_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err);
int af_instance_ready(void *instance, caracal_error *err);
void af_instance_stop(void *instance);
void af_instance_destroy(void *instance);

int af_append(void *tctx, const caracal_audit_event *ev, caracal_audit_receipt *out,
              caracal_error *err);
int af_flush(void *tctx, caracal_error *err);
int af_verify(void *tctx, const char *zone_id, caracal_audit_finding_fn found, void *ud,
              caracal_error *err);

#endif
