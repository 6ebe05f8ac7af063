# libcaracalcore: everything caracald and caracalctl share, as a convenience
# library the unit tests link too. Components add their sources to it from
# their own local.mk.
noinst_LTLIBRARIES += libcaracalcore.la
libcaracalcore_la_SOURCES = \
	core/host.c core/host.h \
	core/util/arena.c core/util/arena.h \
	core/util/clock.c core/util/clock.h \
	core/util/log.c core/util/log.h \
	core/util/uuid.c core/util/uuid.h \
	core/util/secret_hash.c core/util/secret_hash.h \
	core/roles/deps.c core/roles/deps.h \
	core/roles/sts/approvals.c core/roles/sts/approvals.h \
	core/roles/sts/approval_decision.c \
	core/roles/sts/client_auth.c core/roles/sts/client_auth.h \
	core/roles/sts/form.c core/roles/sts/form.h \
	core/roles/sts/jwt.c core/roles/sts/jwt.h \
	core/roles/sts/idtoken.c core/roles/sts/idtoken.h \
	core/roles/sts/federation.c core/roles/sts/federation.h \
	core/roles/sts/mandate.c core/roles/sts/mandate.h \
	core/roles/sts/control_key.c core/roles/sts/control_key.h \
	core/roles/sts/mint_persist.c core/roles/sts/mint_persist.h \
	core/roles/sts/policy_input.c core/roles/sts/policy_input.h \
	core/roles/sts/sts.h core/roles/sts/token.c \
	core/roles/sts/exchange.c core/roles/sts/exchange.h \
	core/roles/sts/authn.c core/roles/sts/hold.c core/roles/sts/issue.c \
	core/roles/sts/mint_batch.c \
	core/roles/sts/classes.c core/roles/sts/jwks_route.c \
	core/util/b64.c core/util/b64.h \
	core/util/jsonw.c core/util/jsonw.h \
	core/util/why.c core/util/why.h core/util/hex.h \
	core/util/sha256.c core/util/sha256.h core/util/fnv.h core/util/siphash.h \
	core/util/rfc3339.c core/util/rfc3339.h \
	core/util/json_canon.c core/util/json_canon.h core/util/json_canon_check.c \
	core/util/https_get.c core/util/https_get.h \
	core/daemon/audit_writer.c core/daemon/audit_writer.h \
	core/daemon/generation.c core/daemon/generation.h \
	core/daemon/metrics.c core/daemon/metrics.h \
	core/daemon/prepare.c core/daemon/prepare.h \
	core/daemon/server.c core/daemon/server.h \
	core/daemon/settings.c core/daemon/settings.h \
	core/daemon/workers.c core/daemon/workers.h
libcaracalcore_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(YAML_CFLAGS) \
	$(JANSSON_CFLAGS) $(ARGON2_CFLAGS)
libcaracalcore_la_LIBADD = $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(YAML_LIBS) $(JANSSON_LIBS) \
	$(ARGON2_LIBS) \
	$(PTHREAD_LIBS)

sbin_PROGRAMS += caracald
caracald_SOURCES = core/daemon/main.c
caracald_CFLAGS = $(libcaracalcore_la_CFLAGS)
caracald_LDADD = libcaracalcore.la
# Plugins resolve nothing from the daemon; -rdynamic is not needed.

bin_PROGRAMS += caracalctl
caracalctl_SOURCES = core/ctl/main.c
caracalctl_CFLAGS = $(libcaracalcore_la_CFLAGS)
caracalctl_LDADD = libcaracalcore.la
