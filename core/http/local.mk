# core/http: HTTP/1.1 request parser and server on libevent.
libcaracalcore_la_SOURCES += core/http/http.h \
	core/http/parser.c core/http/parser.h \
	core/http/server.c
