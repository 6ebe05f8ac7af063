/*
 * mint_batch.c — group commit of mints on a decision worker.
 *
 * A mint's writes (authority record, jti, approval) were one SQLite
 * transaction per exchange, and the commit — WAL frames, locks, now and
 * then a checkpoint — was the largest single cost of a mint. A worker now
 * leaves each signed mandate's writes in its batch and parks the exchange;
 * when the worker has no further job queued (or WORKER_BATCH_MAX are held,
 * or it changes generation, or it stops) the batch is written in one
 * transaction (storage ABI 1.2 mint_write_batch), and only then is each
 * exchange audited and answered. No answer leaves before its writes are
 * committed; under load many mints share a commit, and a lone request is
 * flushed as soon as it is parked (the queue is empty), so it waits for
 * nothing.
 *
 * When the batch transaction itself fails, every mint is written again on
 * its own (mint_write), so one mint's fault is never another's refusal.
 */
#include "roles/sts/exchange.h"

#include "roles/sts/mint_persist.h"
#include "roles/sts/sts.h"

#include "daemon/workers.h"
#include "util/clock.h"
#include "util/log.h"

struct mint_batch {
	worker_batch base; /* must stay first */
	role_deps deps;    /* of the generation the batch began with */
	struct pending_mint *items[WORKER_BATCH_MAX];
};

/* One batch per worker thread; the worker flushes it before it runs
 * anything of another generation. */
static _Thread_local struct mint_batch batch;

/* /metrics: caracal_plugin_sts_mint_commits_total{label="batch"} counts
 * batch transactions and ..._sts_mints_committed_total{label="batched"} the
 * mints they carried (their ratio is the batch size); label "single" counts
 * mints written one by one after their batch failed. */
static void flush(worker_batch *b, worker_ctx *wc)
{
	(void)wc;
	struct mint_batch *mb = (struct mint_batch *)b;
	size_t n = b->held;
	b->held = 0;
	const caracal_mint_write *in[WORKER_BATCH_MAX] = {0};
	int rcs[WORKER_BATCH_MAX], conflicts[WORKER_BATCH_MAX];
	caracal_error errs[WORKER_BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		in[i] = &mb->items[i]->mw;
		rcs[i] = CARACAL_E_INTERNAL;
		conflicts[i] = 0;
		errs[i] = (caracal_error){0};
	}
	const role_deps *deps = &mb->deps;
	caracal_error err = {0};
	int rc =
	    deps->storage->mint_write_batch(deps->storage_tctx, in, n, rcs, conflicts, errs, &err);
	if (rc == CARACAL_OK) {
		sts_metric_count("sts_mint_commits", "batch", 1);
		sts_metric_count("sts_mints_committed", "batched", n);
	} else {
		log_error("sts", "a batch of %zu mints failed (%s); writing them one by one", n,
		          err.message);
		sts_metric_count("sts_mint_commits", "single", n);
		for (size_t i = 0; i < n; i++) {
			errs[i] = (caracal_error){0};
			rcs[i] = mint_persist(deps->storage, deps->storage_tctx, in[i],
			                      &conflicts[i], &errs[i]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct pending_mint *p = mb->items[i];
		mb->items[i] = NULL;
		sts_mint_finish(p, deps, rcs[i], conflicts[i], &errs[i]);
		sts_exchange_settled(p->job);
		if (p->complete != NULL)
			p->complete(&p->job->dw);
		else
			server_complete(&p->job->dw);
	}
}

int sts_mint_batch_add(const role_deps *deps, struct pending_mint *p)
{
	if (deps->wc == NULL || deps->storage->mint_write_batch == NULL)
		return 0;
	struct mint_batch *mb = &batch;
	if (mb->base.held > 0 && (mb->deps.gen != deps->gen || mb->deps.wc != deps->wc))
		return 0; /* never mix generations (the worker flushes before it changes) */
	if (mb->base.held >= WORKER_BATCH_MAX) /* the worker flushes sooner; in case */
		worker_flush_batch(deps->wc);
	if (mb->base.held == 0) {
		mb->base.flush = flush;
		mb->base.opened_us = clock_monotonic_us();
		mb->deps = *deps;
	}
	mb->items[mb->base.held++] = p;
	server_park(&p->job->dw);
	worker_hold_batch(deps->wc, &mb->base);
	return 1;
}
