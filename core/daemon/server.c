/* server.c — see server.h. */
#include "config.h"

#include "daemon/server.h"

#include "daemon/metrics.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ROUTES_PER_ROLE 32
#define WORKER_QUEUE_MAX 65536

struct route {
	char method[8];
	char path[128];
	route_fn fn;
	int metric;
};

static struct route routes[ROLE_COUNT][MAX_ROUTES_PER_ROLE];
static size_t route_count[ROLE_COUNT];
static int route_not_found[ROLE_COUNT]; /* metric index for unmatched paths */
static int route_protocol[ROLE_COUNT];  /* errors the HTTP layer answers itself */

struct role_binding {
	server *srv;
	loop_thread *loop;
	role_id role;
};

struct loop_thread {
	server *srv;
	int index;
	pthread_t tid;
	int started;
	struct event_base *base;
	evutil_socket_t fds[ROLE_COUNT];
	http_server *http[ROLE_COUNT];
	struct role_binding bindings[ROLE_COUNT];
	metrics_shard *metrics;
	struct event *done_ev; /* worker results are ready */
	struct event *stop_ev; /* drain requested */
	struct event *deadline_ev;
	pthread_mutex_t done_lock;
	deferred_work *done_head, *done_tail;
	int draining_servers;
};

struct server {
	settings st; /* copy; strings point into the first generation's tree */
	int ports[ROLE_COUNT];
	size_t loop_count;
	loop_thread *loops;
	metrics_shard **shards;
	worker_pool *pool;
	_Atomic int draining;
	int64_t drain_ms;
};

int server_route(role_id role, const char *method, const char *path, route_fn fn)
{
	if (role >= ROLE_COUNT || route_count[role] == MAX_ROUTES_PER_ROLE)
		return -1;
	struct route *r = &routes[role][route_count[role]++];
	snprintf(r->method, sizeof r->method, "%s", method);
	snprintf(r->path, sizeof r->path, "%s", path);
	r->fn = fn;
	r->metric = metrics_route(role_name(role), path);
	return 0;
}

/* ---- responses ----------------------------------------------------------- */

void server_respond_ex(request_ctx *rc, int status, const char *content_type,
                       const http_header *extra, size_t extra_count, const void *body, size_t len)
{
	http_header hdrs[8];
	size_t n = 0;
	int cache_control = 0;
	if (content_type != NULL)
		hdrs[n++] = (http_header){"Content-Type", 12, content_type, strlen(content_type)};
	for (size_t i = 0; i < extra_count && n < 7; i++) {
		if (extra[i].name_len == 13 && strncasecmp(extra[i].name, "Cache-Control", 13) == 0)
			cache_control = 1;
		hdrs[n++] = extra[i];
	}
	/* Responses carry authority (tokens, keys, records): never cached unless
	 * the route says otherwise. */
	if (!cache_control)
		hdrs[n++] = (http_header){"Cache-Control", 13, "no-store", 8};
	metrics_observe(rc->loop->metrics, rc->route, status,
	                clock_monotonic_us() - rc->req->received_us);
	http_respond(rc->req, status, hdrs, n, body, len);
}

void server_respond(request_ctx *rc, int status, const char *content_type, const void *body,
                    size_t len)
{
	server_respond_ex(rc, status, content_type, NULL, 0, body, len);
}

void server_respond_error(request_ctx *rc, int status, const char *error, const char *description)
{
	char esc[512], body[768];
	log_json_escape(esc, sizeof esc, description, strlen(description));
	int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"%s\"}",
	                 error, esc);
	server_respond(rc, status, "application/json", body, (size_t)n);
}

/* ---- deferred work --------------------------------------------------------- */

static void free_deferred(deferred_work *dw)
{
	free(dw->body);
	if (dw->free_fn != NULL)
		dw->free_fn(dw);
	else
		free(dw);
}

void server_park(deferred_work *dw)
{
	dw->parked = 1;
}

static void deferred_run(worker_job *job, worker_ctx *wc)
{
	deferred_work *dw = (deferred_work *)job;
	dw->parked = 0;
	dw->run(dw, wc);
	if (!dw->parked)
		server_complete(dw);
}

void server_complete(deferred_work *dw)
{
	loop_thread *loop = dw->rc.loop;
	pthread_mutex_lock(&loop->done_lock);
	dw->next_done = NULL;
	if (loop->done_tail != NULL)
		loop->done_tail->next_done = dw;
	else
		loop->done_head = dw;
	loop->done_tail = dw;
	pthread_mutex_unlock(&loop->done_lock);
	event_active(loop->done_ev, EV_READ, 0);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loop_thread *loop = arg;
	pthread_mutex_lock(&loop->done_lock);
	deferred_work *dw = loop->done_head;
	loop->done_head = loop->done_tail = NULL;
	pthread_mutex_unlock(&loop->done_lock);
	while (dw != NULL) {
		deferred_work *next = dw->next_done;
		if (dw->then != NULL)
			dw->then(dw);
		else
			server_finish(dw);
		dw = next;
	}
}

void server_finish(deferred_work *dw)
{
	server_respond_ex(&dw->rc, dw->status, dw->content_type, dw->headers, dw->header_count,
	                  dw->body, dw->body_len);
	free_deferred(dw);
}

int server_draining(const deferred_work *dw)
{
	return atomic_load(&dw->rc.srv->draining);
}

void server_redefer(deferred_work *dw)
{
	free(dw->body);
	dw->body = NULL;
	dw->body_len = 0;
	dw->job.run = deferred_run;
	if (worker_pool_submit(dw->rc.srv->pool, &dw->job) != 0) {
		request_ctx rc = dw->rc;
		free_deferred(dw);
		server_respond_error(&rc, 503, "temporarily_unavailable",
		                     "the decision pool is saturated; retry");
	}
}

void server_defer(request_ctx *rc, deferred_work *dw)
{
	dw->rc = *rc;
	dw->job.run = deferred_run;
	if (worker_pool_submit(rc->srv->pool, &dw->job) != 0) {
		free_deferred(dw);
		server_respond_error(rc, 503, "temporarily_unavailable",
		                     "the decision pool is saturated; retry");
	}
}

/* ---- built-in routes --------------------------------------------------------- */

static void route_health(request_ctx *rc)
{
	static const char body[] = "{\"status\":\"ok\"}";
	server_respond(rc, 200, "application/json", body, sizeof body - 1);
}

static void ready_run(deferred_work *dw, worker_ctx *wc)
{
	char detail[4096];
	int ready = wc->gen != NULL && generation_ready(wc->gen, detail, sizeof detail);
	if (wc->gen == NULL)
		snprintf(detail, sizeof detail, "{}");
	if (atomic_load(&dw->rc.srv->draining))
		ready = 0;
	size_t cap = strlen(detail) + 64;
	dw->body = malloc(cap);
	dw->content_type = "application/json";
	dw->status = ready ? 200 : 503;
	if (dw->body == NULL) {
		dw->status = 503;
		return;
	}
	dw->body_len = (size_t)snprintf(dw->body, cap, "{\"status\":\"%s\",\"plugins\":%s}",
	                                ready ? "ready" : "not_ready", detail);
}

static void route_ready(request_ctx *rc)
{
	deferred_work *dw = calloc(1, sizeof *dw);
	if (dw == NULL) {
		server_respond_error(rc, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	dw->run = ready_run;
	server_defer(rc, dw);
}

static void route_metrics(request_ctx *rc)
{
	size_t len = 0;
	char *text = metrics_render(rc->srv->shards, rc->srv->loop_count, &len);
	if (text == NULL) {
		server_respond_error(rc, 500, "server_error", "cannot render metrics");
		return;
	}
	server_respond(rc, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

static void register_builtin_routes(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	for (int r = 0; r < ROLE_COUNT; r++) {
		server_route((role_id)r, "GET", "/health", route_health);
		server_route((role_id)r, "GET", "/ready", route_ready);
		server_route((role_id)r, "GET", "/metrics", route_metrics);
		route_not_found[r] = metrics_route(role_name((role_id)r), "(unmatched)");
		route_protocol[r] = metrics_route(role_name((role_id)r), "(protocol error)");
	}
}

static void on_protocol_error(void *ud, int status)
{
	struct role_binding *b = ud;
	metrics_observe(b->loop->metrics, route_protocol[b->role], status, 0);
}

static void dispatch(http_request *req, void *ud)
{
	struct role_binding *b = ud;
	request_ctx rc = {.req = req, .srv = b->srv, .loop = b->loop, .role = b->role};
	int path_matched = 0;
	for (size_t i = 0; i < route_count[b->role]; i++) {
		const struct route *r = &routes[b->role][i];
		/* A route ending in a slash and an asterisk takes every path below
		 * it: "/admin/zones/" followed by anything non-empty. */
		size_t rl = strlen(r->path);
		int prefix = rl >= 2 && r->path[rl - 1] == '*' && r->path[rl - 2] == '/';
		if (prefix ? (strncmp(r->path, req->path, rl - 1) != 0 || req->path[rl - 1] == '\0')
		           : strcmp(r->path, req->path) != 0)
			continue;
		path_matched = 1;
		if (strcmp(r->method, req->method) == 0 ||
		    (strcmp(r->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
			rc.route = r->metric;
			r->fn(&rc);
			return;
		}
	}
	rc.route = route_not_found[b->role];
	if (path_matched)
		server_respond_error(&rc, 405, "method_not_allowed",
		                     "this route does not take that method");
	else
		server_respond_error(&rc, 404, "not_found", "no such route");
}

/* ---- listeners ------------------------------------------------------------- */

static evutil_socket_t open_listener(const listen_addr *la, int port, int reuseport,
                                     caracal_error *err)
{
	struct sockaddr_storage addr = la->addr;
	if (addr.ss_family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "SO_REUSEPORT: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&addr, la->addr_len) != 0) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot listen on %s: %s", la->text,
		                  strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 1024) != 0) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "listen on %s: %s", la->text,
		                  strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* SO_REUSEPORT would also let a second caracald (same user) silently share
 * the port. Bind once without it first: if anything already holds the port,
 * that fails, and we refuse to start. */
static int probe_port_free(const listen_addr *la, int *port, caracal_error *err)
{
	int want = ntohs(la->addr.ss_family == AF_INET
	                     ? ((const struct sockaddr_in *)&la->addr)->sin_port
	                     : ((const struct sockaddr_in6 *)&la->addr)->sin6_port);
	if (want == 0) {
		*port = 0;
		return 0;
	}
	evutil_socket_t fd = open_listener(la, want, 0, err);
	if (fd < 0)
		return -1;
	close(fd);
	*port = want;
	return 0;
}

/* ---- loop threads ---------------------------------------------------------- */

static void on_server_drained(void *arg)
{
	loop_thread *loop = arg;
	if (--loop->draining_servers == 0)
		event_base_loopexit(loop->base, NULL);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loop_thread *loop = arg;
	log_warn("server", "loop %d: drain deadline reached; closing remaining connections",
	         loop->index);
	event_base_loopexit(loop->base, NULL);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loop_thread *loop = arg;
	loop->draining_servers = 0;
	for (int r = 0; r < ROLE_COUNT; r++)
		if (loop->http[r] != NULL)
			loop->draining_servers++;
	if (loop->draining_servers == 0) {
		event_base_loopexit(loop->base, NULL);
		return;
	}
	struct timeval tv = {.tv_sec = loop->srv->drain_ms / 1000,
	                     .tv_usec = (loop->srv->drain_ms % 1000) * 1000};
	event_add(loop->deadline_ev, &tv);
	for (int r = 0; r < ROLE_COUNT; r++)
		if (loop->http[r] != NULL)
			http_server_drain(loop->http[r], on_server_drained, loop);
}

static void *loop_main(void *arg)
{
	loop_thread *loop = arg;
	char name[16]; /* for top -H, perf and the benchmark's per-thread CPU */
	snprintf(name, sizeof name, "caracal-loop%d", loop->index);
	pthread_setname_np(pthread_self(), name);
	event_base_dispatch(loop->base);
	return NULL;
}

static void loop_free(loop_thread *loop)
{
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (loop->http[r] != NULL)
			http_server_free(loop->http[r]);
		if (loop->fds[r] >= 0)
			close(loop->fds[r]);
	}
	deferred_work *dw = loop->done_head;
	while (dw != NULL) {
		deferred_work *next = dw->next_done;
		free_deferred(dw);
		dw = next;
	}
	if (loop->done_ev != NULL)
		event_free(loop->done_ev);
	if (loop->stop_ev != NULL)
		event_free(loop->stop_ev);
	if (loop->deadline_ev != NULL)
		event_free(loop->deadline_ev);
	if (loop->base != NULL)
		event_base_free(loop->base);
	pthread_mutex_destroy(&loop->done_lock);
	metrics_shard_free(loop->metrics);
}

server *server_new(const settings *st, worker_gen_fn current_gen, void *ud, caracal_error *err)
{
	static int threading;
	if (!threading) {
		if (evthread_use_pthreads() != 0) {
			caracal_error_set(err, CARACAL_E_INTERNAL,
			                  "libevent has no pthreads support");
			return NULL;
		}
		threading = 1;
	}
	register_builtin_routes();

	server *srv = calloc(1, sizeof *srv);
	if (srv == NULL) {
		caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		return NULL;
	}
	srv->st = *st;
	srv->loop_count = (size_t)st->loops;
	srv->loops = calloc(srv->loop_count, sizeof *srv->loops);
	srv->shards = calloc(srv->loop_count, sizeof *srv->shards);
	if (srv->loops == NULL || srv->shards == NULL)
		goto nomem;
	for (size_t i = 0; i < srv->loop_count; i++) {
		loop_thread *loop = &srv->loops[i];
		loop->srv = srv;
		loop->index = (int)i;
		pthread_mutex_init(&loop->done_lock, NULL);
		for (int r = 0; r < ROLE_COUNT; r++)
			loop->fds[r] = -1;
	}

	for (int r = 0; r < ROLE_COUNT; r++) {
		const listen_addr *la = &st->listen[r];
		if (!la->enabled)
			continue;
		int port;
		if (probe_port_free(la, &port, err) != 0)
			goto fail;
		for (size_t i = 0; i < srv->loop_count; i++) {
			evutil_socket_t fd = open_listener(la, port, 1, err);
			if (fd < 0)
				goto fail;
			srv->loops[i].fds[r] = fd;
			if (port == 0)
				port = bound_port(fd);
		}
		srv->ports[r] = port;
	}

	for (size_t i = 0; i < srv->loop_count; i++) {
		loop_thread *loop = &srv->loops[i];
		loop->base = event_base_new();
		loop->metrics = metrics_shard_new();
		if (loop->base == NULL || loop->metrics == NULL)
			goto nomem;
		srv->shards[i] = loop->metrics;
		loop->done_ev = event_new(loop->base, -1, 0, on_done, loop);
		loop->stop_ev = event_new(loop->base, -1, 0, on_stop, loop);
		loop->deadline_ev = evtimer_new(loop->base, on_deadline, loop);
		if (loop->done_ev == NULL || loop->stop_ev == NULL || loop->deadline_ev == NULL)
			goto nomem;
		for (int r = 0; r < ROLE_COUNT; r++) {
			if (loop->fds[r] < 0)
				continue;
			loop->bindings[r] = (struct role_binding){srv, loop, (role_id)r};
			loop->http[r] = http_server_new(loop->base, loop->fds[r], &st->http,
			                                dispatch, &loop->bindings[r]);
			if (loop->http[r] == NULL)
				goto nomem;
			http_server_on_error(loop->http[r], on_protocol_error, &loop->bindings[r]);
		}
	}

	/* Workers use slots 0..workers-1, their committer the next one (see
	 * main.c). */
	srv->pool = worker_pool_new((size_t)st->workers, WORKER_QUEUE_MAX, current_gen, ud);
	if (srv->pool == NULL)
		goto nomem;
	return srv;

nomem:
	caracal_error_set(err, CARACAL_E_NOMEM, "out of memory setting up the server");
fail:
	server_free(srv);
	return NULL;
}

int server_start(server *srv, caracal_error *err)
{
	for (size_t i = 0; i < srv->loop_count; i++) {
		loop_thread *loop = &srv->loops[i];
		if (pthread_create(&loop->tid, NULL, loop_main, loop) != 0)
			return caracal_error_set(err, CARACAL_E_INTERNAL,
			                         "cannot start loop thread");
		loop->started = 1;
	}
	for (int r = 0; r < ROLE_COUNT; r++)
		if (srv->st.listen[r].enabled)
			log_info("server", "%s listening on %s (port %d, %zu loops)",
			         role_name((role_id)r), srv->st.listen[r].text, srv->ports[r],
			         srv->loop_count);
	return CARACAL_OK;
}

int server_port(const server *srv, role_id role)
{
	return role < ROLE_COUNT ? srv->ports[role] : 0;
}

void server_kick_workers(server *srv)
{
	worker_pool_kick(srv->pool);
}

void server_stop(server *srv, int64_t drain_ms)
{
	atomic_store(&srv->draining, 1);
	srv->drain_ms = drain_ms;
	for (size_t i = 0; i < srv->loop_count; i++)
		if (srv->loops[i].started)
			event_active(srv->loops[i].stop_ev, EV_READ, 0);
	for (size_t i = 0; i < srv->loop_count; i++) {
		if (srv->loops[i].started) {
			pthread_join(srv->loops[i].tid, NULL);
			srv->loops[i].started = 0;
		}
	}
	worker_pool_free(srv->pool);
	srv->pool = NULL;
}

void server_free(server *srv)
{
	if (srv == NULL)
		return;
	if (srv->pool != NULL)
		server_stop(srv, 0);
	for (size_t i = 0; srv->loops != NULL && i < srv->loop_count; i++)
		loop_free(&srv->loops[i]);
	free(srv->loops);
	free(srv->shards);
	free(srv);
}
