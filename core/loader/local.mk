# core/loader: dlopen of plugins and the ABI checks of PLUGIN-ABI.md §Loading.
libcaracalcore_la_SOURCES += core/loader/loader.c core/loader/loader.h
