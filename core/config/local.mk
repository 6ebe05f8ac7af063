# core/config: YAML config tree, schema validation, --set, secrets.
libcaracalcore_la_SOURCES += core/config/config.c core/config/config.h
