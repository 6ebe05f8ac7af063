# The installed plugin SDK: the only headers Caracal installs.
caracalincludedir = $(includedir)/caracal
caracalinclude_HEADERS = \
	include/caracal/audit.h \
	include/caracal/common.h \
	include/caracal/host.h \
	include/caracal/plugin.h \
	include/caracal/policy.h \
	include/caracal/signer.h \
	include/caracal/storage.h \
	include/caracal/stream.h
