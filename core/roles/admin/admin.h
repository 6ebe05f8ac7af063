/*
 * admin.h — the admin role: caracald's management API on the `admin`
 * listener (zones, applications, resources, grants, policies, keys,
 * approvals, revocations), for caracalctl and operators' scripts.
 *
 * Every route is under /admin/ and takes and returns JSON (policy sources
 * are sent as text). The loop thread only bounds the body and copies the
 * request; authentication, decoding, every plugin call and the audit events
 * run on a decision-pool worker (server_defer). README: "Admin API".
 */
#ifndef CARACAL_ROLES_ADMIN_H
#define CARACAL_ROLES_ADMIN_H

/* Register the admin routes (call once, before server_new). */
void admin_routes_register(void);

#endif
