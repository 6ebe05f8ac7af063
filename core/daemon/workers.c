/* workers.c — see workers.h. */
#include "config.h"

#include "daemon/workers.h"

#include "util/clock.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct worker {
	worker_pool *pool;
	pthread_t tid;
	worker_ctx ctx;
	int started;
};

struct committer {
	pthread_t tid;
	int started;
	worker_ctx ctx; /* slot: the pool's worker count; gen: the work's */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	worker_handoff *head, *tail;
	unsigned kicks; /* bumped by worker_pool_kick */
	int stopping;
};

struct worker_pool {
	struct committer committer;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	worker_job *head, *tail;
	size_t queued, queue_max;
	unsigned kicks; /* bumped by worker_pool_kick */
	int stopping;
	worker_gen_fn current;
	void *ud;
	size_t count;
	struct worker *workers;
};

/* Let go of the context's generation: its thread contexts (on this thread,
 * as they must be) and its reference. */
static void ctx_release(worker_ctx *ctx)
{
	if (ctx->gen == NULL)
		return;
	generation_release_slot(ctx->gen, ctx->slot);
	generation_unref(ctx->gen);
	ctx->gen = NULL;
}

static void adopt_current(struct worker *w)
{
	generation *now = w->pool->current(w->pool->ud);
	if (now == w->ctx.gen) {
		generation_unref(now);
		return;
	}
	ctx_release(&w->ctx);
	w->ctx.gen = now;
}

void worker_flush_batch(worker_ctx *wc)
{
	worker_batch *b = wc->batch;
	if (b == NULL)
		return;
	wc->batch = NULL;
	b->flush(b, wc);
}

void worker_hold_batch(worker_ctx *wc, worker_batch *b)
{
	if (wc->batch != NULL && wc->batch != b)
		worker_flush_batch(wc);
	wc->batch = b;
}

int worker_hand_off(worker_ctx *wc, worker_handoff *h)
{
	if (wc->pool == NULL || !wc->pool->committer.started || wc->gen == NULL)
		return -1;
	struct committer *c = &wc->pool->committer;
	h->next = NULL;
	h->gen = wc->gen;
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		rc = -1;
	} else {
		generation_ref(h->gen);
		if (c->tail != NULL)
			c->tail->next = h;
		else
			c->head = h;
		c->tail = h;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Run list: consecutive hand-offs with the same run and generation as one
 * list each, on the committer's context switched to their generation. */
static void committer_run(struct committer *c, worker_handoff *list)
{
	while (list != NULL) {
		worker_handoff *last = list;
		size_t n = 1;
		while (last->next != NULL && last->next->run == list->run &&
		       last->next->gen == list->gen) {
			last = last->next;
			n++;
		}
		worker_handoff *rest = last->next;
		last->next = NULL;
		generation *gen = list->gen;
		if (c->ctx.gen != gen) {
			ctx_release(&c->ctx);
			generation_ref(gen);
			c->ctx.gen = gen;
		}
		list->run(list, &c->ctx); /* frees the list */
		for (size_t i = 0; i < n; i++)
			generation_unref(gen); /* the hand-offs' references */
		list = rest;
	}
}

/* Let go of a generation that is no longer the current one, so that it is
 * destroyed once nothing else uses it — a reloaded instance must not
 * outlive the reload here (audit_file's ledger locks would keep its
 * successor from writing). */
static void committer_let_go(struct committer *c, worker_pool *pool)
{
	if (c->ctx.gen == NULL)
		return;
	generation *now = pool->current(pool->ud);
	if (now != c->ctx.gen)
		ctx_release(&c->ctx);
	generation_unref(now);
}

static void *committer_main(void *arg)
{
	worker_pool *pool = arg;
	struct committer *c = &pool->committer;
	unsigned seen_kicks = 0;
	pthread_setname_np(pthread_self(), "caracal-commit");
	for (;;) {
		pthread_mutex_lock(&c->lock);
		while (c->head == NULL && !c->stopping && c->kicks == seen_kicks)
			pthread_cond_wait(&c->wake, &c->lock);
		worker_handoff *list = c->head; /* everything handed over so far */
		c->head = c->tail = NULL;
		seen_kicks = c->kicks;
		int stop = c->stopping && list == NULL;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			break;
		committer_run(c, list);
		/* After a reload, the last work of the old generation has come
		 * (workers flush before they adopt the new one) or will bring it
		 * back for its own run only. */
		committer_let_go(c, pool);
	}
	ctx_release(&c->ctx);
	return NULL;
}

static void committer_stop(struct committer *c)
{
	if (!c->started)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->tid, NULL);
	c->started = 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	worker_pool *pool = w->pool;
	unsigned seen_kicks = 0;
	char name[16]; /* for top -H, perf and the benchmark's per-thread CPU */
	snprintf(name, sizeof name, "caracal-work%zu", w->ctx.slot);
	pthread_setname_np(pthread_self(), name);
	adopt_current(w);
	for (;;) {
		pthread_mutex_lock(&pool->lock);
		if (w->ctx.batch != NULL &&
		    (w->ctx.batch->held >= WORKER_BATCH_MAX ||
		     (pool->head == NULL && !pool->stopping && pool->kicks == seen_kicks) ||
		     clock_monotonic_us() - w->ctx.batch->opened_us >= WORKER_BATCH_MAX_WAIT_US)) {
			/* Nothing more to add to the batch now (or it is full):
			 * finish it rather than wait with jobs held. */
			pthread_mutex_unlock(&pool->lock);
			worker_flush_batch(&w->ctx);
			continue;
		}
		while (pool->head == NULL && !pool->stopping && pool->kicks == seen_kicks)
			pthread_cond_wait(&pool->wake, &pool->lock);
		worker_job *job = pool->head;
		if (job != NULL) {
			pool->head = job->next;
			if (pool->head == NULL)
				pool->tail = NULL;
			pool->queued--;
		}
		int stop = pool->stopping && job == NULL;
		unsigned kicks = pool->kicks;
		pthread_mutex_unlock(&pool->lock);

		if (stop) {
			worker_flush_batch(&w->ctx);
			break;
		}
		if (kicks != seen_kicks) {
			seen_kicks = kicks;
			worker_flush_batch(&w->ctx); /* with the generation it began with */
			adopt_current(w);
		}
		if (job != NULL) {
			job->next = NULL;
			job->run(job, &w->ctx);
		}
	}
	ctx_release(&w->ctx);
	return NULL;
}

worker_pool *worker_pool_new(size_t workers, size_t queue_max, worker_gen_fn current, void *ud)
{
	worker_pool *pool = calloc(1, sizeof *pool);
	if (pool == NULL)
		return NULL;
	pool->workers = calloc(workers, sizeof *pool->workers);
	if (pool->workers == NULL) {
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pool->queue_max = queue_max;
	pool->current = current;
	pool->ud = ud;
	struct committer *c = &pool->committer;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->ctx.slot = workers;
	c->ctx.pool = pool;
	if (pthread_create(&c->tid, NULL, committer_main, pool) != 0)
		log_warn("workers", "cannot start the committer; workers commit themselves");
	else
		c->started = 1;
	for (size_t i = 0; i < workers; i++) {
		struct worker *w = &pool->workers[i];
		w->pool = pool;
		w->ctx.slot = i;
		w->ctx.pool = pool;
		if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
			log_error("workers", "cannot start worker %zu", i);
			worker_pool_free(pool);
			return NULL;
		}
		w->started = 1;
		pool->count++;
	}
	return pool;
}

int worker_pool_submit(worker_pool *pool, worker_job *job)
{
	int rc = 0;
	job->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->stopping || pool->queued >= pool->queue_max) {
		rc = -1;
	} else {
		if (pool->tail != NULL)
			pool->tail->next = job;
		else
			pool->head = job;
		pool->tail = job;
		pool->queued++;
		pthread_cond_signal(&pool->wake);
	}
	pthread_mutex_unlock(&pool->lock);
	return rc;
}

void worker_pool_kick(worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->kicks++;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	struct committer *c = &pool->committer;
	pthread_mutex_lock(&c->lock);
	c->kicks++;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

void worker_pool_free(worker_pool *pool)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (size_t i = 0; i < pool->count; i++)
		if (pool->workers[i].started)
			pthread_join(pool->workers[i].tid, NULL);
	committer_stop(&pool->committer); /* after the workers' last hand-offs */
	pthread_cond_destroy(&pool->committer.wake);
	pthread_mutex_destroy(&pool->committer.lock);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool->workers);
	free(pool);
}
