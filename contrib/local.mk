# contrib: pkg-config file for out-of-tree plugin authors, systemd unit, example plugin.
pkgconfig_DATA = contrib/caracal-plugin.pc
EXTRA_DIST += contrib/caracal-plugin.pc.in
# The example plugin is built out of tree by tests/abi/test_install.sh; the
# systemd files are examples for packagers, not installed.
EXTRA_DIST += \
	contrib/example-plugin/Makefile \
	contrib/example-plugin/example.c \
	contrib/systemd/caracald.service \
	contrib/systemd/caracal.sysusers
