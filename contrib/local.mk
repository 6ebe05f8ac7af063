# contrib: pkg-config file for out-of-tree plugin authors, systemd unit, example plugin.
pkgconfig_DATA = contrib/caracal-plugin.pc
EXTRA_DIST += contrib/caracal-plugin.pc.in
