/*
 * mint_batch.c — group commit of mints.
 *
 * A mint's writes (authority record, jti, approval) were one SQLite
 * transaction per exchange, and the commit — WAL frames, locks, now and
 * then a checkpoint — was the largest single cost of a mint. A worker now
 * leaves each signed mandate's writes in its batch and parks the exchange;
 * when the worker has no further job queued (or WORKER_BATCH_MAX are held,
 * or it changes generation, or it stops) it hands the batch to its pool's
 * committer thread (workers.h) and goes on deciding. The committer writes
 * everything handed to it meanwhile in transactions of up to
 * WORKER_BATCH_MAX mints (storage ABI 1.2 mint_write_batch), and only then
 * audits and answers each exchange. No answer leaves before its writes are
 * committed; under load many mints share a commit (the batches grow while
 * the committer writes), and a lone request is handed over as soon as it is
 * parked, so it waits for nothing. One thread writes: SQLite has one writer
 * at a time, and workers no longer wait for each other's commits.
 *
 * Without a committer (a worker outside a pool, or one stopping) the worker
 * writes the batch itself. When a batch transaction fails, every mint is
 * written again on its own (mint_write), so one mint's fault is never
 * another's refusal.
 */
#include "roles/sts/exchange.h"

#include "roles/sts/mint_persist.h"
#include "roles/sts/sts.h"

#include "daemon/workers.h"
#include "util/clock.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

struct mint_batch {
	worker_batch base; /* must stay first */
	role_deps deps;    /* of the generation the batch began with */
	struct pending_mint *items[WORKER_BATCH_MAX];
};

/* One batch per worker thread; the worker flushes it before it runs
 * anything of another generation. */
static _Thread_local struct mint_batch batch;

/* A batch handed to the pool's committer (workers.h). */
struct mint_handoff {
	worker_handoff base; /* must stay first */
	size_t n;
	struct pending_mint *items[WORKER_BATCH_MAX];
};

/* Audit and answer one mint after its writes (rc, conflict, err their
 * outcome), and hand the exchange back. */
static void finish_one(struct pending_mint *p, const role_deps *deps, int rc, int conflict,
                       const caracal_error *err)
{
	sts_mint_finish(p, deps, rc, conflict, err);
	sts_exchange_settled(p->job);
	if (p->complete != NULL)
		p->complete(&p->job->dw);
	else
		server_complete(&p->job->dw);
}

/* Write n mints in one transaction, then audit and answer each.
 *
 * /metrics: caracal_plugin_sts_mint_commits_total{label="batch"} counts
 * batch transactions and ..._sts_mints_committed_total{label="batched"} the
 * mints they carried (their ratio is the batch size); label "single" counts
 * mints written one by one after their batch failed. */
static void commit_and_finish(const role_deps *deps, struct pending_mint *const *items, size_t n)
{
	const caracal_mint_write *in[WORKER_BATCH_MAX] = {0};
	int rcs[WORKER_BATCH_MAX], conflicts[WORKER_BATCH_MAX];
	caracal_error errs[WORKER_BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		in[i] = &items[i]->mw;
		rcs[i] = CARACAL_E_INTERNAL;
		conflicts[i] = 0;
		errs[i] = (caracal_error){0};
	}
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
	for (size_t i = 0; i < n; i++)
		finish_one(items[i], deps, rcs[i], conflicts[i], &errs[i]);
}

/* Without storage (its thread context failed): every mint refused. */
static void refuse_all(struct pending_mint *const *items, size_t n, const caracal_error *why)
{
	const role_deps none = {0};
	for (size_t i = 0; i < n; i++)
		finish_one(items[i], &none, CARACAL_E_UNAVAIL, 0, why);
}

/* On the committer: the mints of every batch handed over meanwhile (all of
 * one generation), committed WORKER_BATCH_MAX at a time. */
static void committer_flush(worker_handoff *list, worker_ctx *cc)
{
	role_deps deps;
	caracal_error err = {0};
	int ok = role_deps_get(cc, ROLE_NEEDS_STORAGE, &deps, &err) == CARACAL_OK &&
	         deps.storage->mint_write_batch != NULL;
	if (ok)
		deps.wc = NULL; /* no batch of its own to hold */
	else if (err.message[0] == '\0')
		caracal_error_set(&err, CARACAL_E_UNAVAIL, "storage cannot batch mints");
	struct pending_mint *chunk[WORKER_BATCH_MAX];
	size_t held = 0;
	while (list != NULL) {
		struct mint_handoff *h = (struct mint_handoff *)list;
		list = list->next;
		for (size_t i = 0; i < h->n; i++) {
			chunk[held++] = h->items[i];
			if (held < WORKER_BATCH_MAX)
				continue;
			if (ok)
				commit_and_finish(&deps, chunk, held);
			else
				refuse_all(chunk, held, &err);
			held = 0;
		}
		free(h);
	}
	if (held > 0 && ok)
		commit_and_finish(&deps, chunk, held);
	else if (held > 0)
		refuse_all(chunk, held, &err);
}

/* The worker's flush: hand the batch to the committer, or (without one)
 * write it now. */
static void flush(worker_batch *b, worker_ctx *wc)
{
	struct mint_batch *mb = (struct mint_batch *)b;
	size_t n = b->held;
	b->held = 0;
	struct mint_handoff *h = malloc(sizeof *h);
	if (h != NULL) {
		h->base.run = committer_flush;
		h->n = n;
		memcpy(h->items, mb->items, n * sizeof *h->items);
		if (worker_hand_off(wc, &h->base) == 0)
			return;
		free(h);
	}
	commit_and_finish(&mb->deps, mb->items, n);
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
