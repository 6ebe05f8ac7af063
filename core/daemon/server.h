/*
 * server.h — caracald's serving side: the loop threads (each an event_base
 * with its own socket per role listener, shared through SO_REUSEPORT), the
 * route tables of the four roles, and the hand-off of decisions to the
 * worker pool and back.
 */
#ifndef CARACAL_DAEMON_SERVER_H
#define CARACAL_DAEMON_SERVER_H

#include "daemon/settings.h"
#include "daemon/workers.h"
#include "http/http.h"

typedef struct server server;
typedef struct loop_thread loop_thread;

typedef struct request_ctx {
	http_request *req;
	server *srv;
	loop_thread *loop;
	role_id role;
	int route; /* metrics route index */
} request_ctx;

typedef void (*route_fn)(request_ctx *rc);

/* Add a route to a role (before server_start). method "GET" also serves
 * HEAD. Returns 0, or -1 when the table is full. */
int server_route(role_id role, const char *method, const char *path, route_fn fn);

/* Bind every enabled listener once per loop thread and set up the loops and
 * the worker pool; nothing runs yet. */
server *server_new(const settings *st, worker_gen_fn current_gen, void *ud, caracal_error *err);

/* Start the loop threads. */
int server_start(server *srv, caracal_error *err);

/* The port a role listens on (after binding; useful with port 0). */
int server_port(const server *srv, role_id role);

/* Workers adopt the newest generation now. */
void server_kick_workers(server *srv);

/* Stop accepting, let requests in flight finish (at most drain_ms), stop
 * the loops and the workers. */
void server_stop(server *srv, int64_t drain_ms);

void server_free(server *srv);

/* Respond and count the request in the metrics. Loop thread only. */
void server_respond(request_ctx *rc, int status, const char *content_type, const void *body,
                    size_t len);
/* The same with extra response headers (at most 6). A Cache-Control among
 * them replaces the default no-store. */
void server_respond_ex(request_ctx *rc, int status, const char *content_type,
                       const http_header *extra, size_t extra_count, const void *body, size_t len);
/* {"error":..., "error_description":...} */
void server_respond_error(request_ctx *rc, int status, const char *error, const char *description);

/* Work for the decision pool: run() fills status, content_type and body
 * (malloc'd, freed by the server) on a worker; the response is sent from the
 * request's loop thread. Embed deferred_work at the start of your struct;
 * free_fn (may be NULL) frees it, else free(). */
typedef struct deferred_work deferred_work;
struct deferred_work {
	worker_job job; /* must stay first */
	request_ctx rc;
	void (*run)(deferred_work *dw, worker_ctx *wc);
	void (*free_fn)(deferred_work *dw);
	int status;
	const char *content_type;
	char *body;
	size_t body_len;
	http_header headers[4]; /* extra response headers; values owned by the work */
	size_t header_count;
	/* When set, called on the request's loop thread once run() finished,
	 * instead of the response being sent: it owns dw from then on and either
	 * defers it again (server_redefer) or answers with server_finish. */
	void (*then)(deferred_work *dw);
	deferred_work *next_done;
	int parked; /* run() left it in a worker batch: finished by server_complete */
};

/* From run(): the work is not finished when run() returns; whoever holds it
 * (a worker batch, see worker_hold_batch) calls server_complete later, on
 * the same worker. */
void server_park(deferred_work *dw);
/* Hand parked work back to its loop thread (then() or the response). */
void server_complete(deferred_work *dw);

/* Queue dw again (same request) from its then() callback. */
void server_redefer(deferred_work *dw);
/* Send dw's status, headers and body as the response and free dw. */
void server_finish(deferred_work *dw);
/* 1 once the server is draining (long waits should answer now). */
int server_draining(const deferred_work *dw);

/* Queue dw (its rc copied from rc). On a full queue answers 503 at once and
 * frees dw. */
void server_defer(request_ctx *rc, deferred_work *dw);

#endif
