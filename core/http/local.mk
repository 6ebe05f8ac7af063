# core/http: HTTP/1.1 request parser and server on libevent.
libcaracalcore_la_SOURCES += core/http/http.h
