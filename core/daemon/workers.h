/*
 * workers.h — the decision pool: threads that make the blocking plugin calls
 * (storage, policy, signing) so loop threads never block.
 *
 * Jobs are taken from one bounded FIFO by whichever worker is free. Each
 * worker holds a reference to the current generation and its own thread
 * contexts in it (its slot); when the daemon installs a new generation,
 * workers adopt it before their next job and release the old one on their
 * own thread, so plugin thread contexts are created and destroyed on the
 * thread that uses them.
 */
#ifndef CARACAL_DAEMON_WORKERS_H
#define CARACAL_DAEMON_WORKERS_H

#include "daemon/generation.h"

#include <stddef.h>
#include <stdint.h>

typedef struct worker_ctx worker_ctx;

/* Work a job left on its worker to finish together with others (group
 * commit): the worker calls flush before it waits for more jobs, after
 * WORKER_BATCH_MAX jobs, before it adopts another generation and before it
 * stops — so a batch is always finished with the generation (and thread
 * contexts) it was started with, and never waits for a job that may not
 * come. It also flushes before taking another job once the first held job
 * has waited WORKER_BATCH_MAX_WAIT_US, so a slow job (a cold verification)
 * never holds answers back for long; jobs that may block call
 * worker_flush_batch first. flush must finish every job it holds and empty
 * the batch. */
#define WORKER_BATCH_MAX 64
#define WORKER_BATCH_MAX_WAIT_US 1000 /* a held job waits no longer for company */
typedef struct worker_batch worker_batch;
struct worker_batch {
	void (*flush)(worker_batch *b, worker_ctx *wc);
	size_t held;       /* jobs held; the owner keeps it current */
	int64_t opened_us; /* monotonic time of the first held job (the owner sets it) */
};

typedef struct worker_pool worker_pool;

struct worker_ctx {
	size_t slot;         /* this worker's thread slot in every generation */
	generation *gen;     /* the generation this worker currently uses (referenced) */
	worker_batch *batch; /* held work to flush (at most one batch at a time) */
	worker_pool *pool;   /* NULL for a context outside a pool */
};

/* Work a decision worker hands over to its pool's committer thread, so that
 * the worker goes on deciding while the committer writes (group commit off
 * the decision workers: one writer per process, as SQLite wants, and
 * batches that grow with the load; the committer's CPU is its own, reported
 * apart by the benchmark). The committer runs what it is handed in order;
 * consecutive hand-offs with the same run and generation come to run as one
 * list (linked by next), on the committer's own context: its slot, with gen
 * set to theirs. run must finish every piece of work and free the list's
 * elements; the committer drops the generation references afterwards. */
typedef struct worker_handoff worker_handoff;
struct worker_handoff {
	worker_handoff *next;
	void (*run)(worker_handoff *list, worker_ctx *committer);
	generation *gen; /* set by worker_hand_off (referenced) */
};
/* 0 when the committer took h (which it frees through run); -1 when there
 * is none or it is stopping: the caller does the work itself. */
int worker_hand_off(worker_ctx *wc, worker_handoff *h);

/* Hold b on this worker until it is flushed (a job calls it when it leaves
 * work in b; b stays registered until its flush). A different batch already
 * held is flushed first. */
void worker_hold_batch(worker_ctx *wc, worker_batch *b);
/* Flush the batch held now, if any. */
void worker_flush_batch(worker_ctx *wc);

typedef struct worker_job worker_job;
typedef void (*worker_job_fn)(worker_job *job, worker_ctx *wc);

/* Embed this at the start of a job struct; the pool never frees jobs. */
struct worker_job {
	worker_job *next;
	worker_job_fn run;
};

/* Returns the current generation, referenced (the caller unrefs). */
typedef generation *(*worker_gen_fn)(void *ud);

/* workers threads with slots 0 to workers - 1, and a committer thread with
 * slot workers (generations must have room for it). */
worker_pool *worker_pool_new(size_t workers, size_t queue_max, worker_gen_fn current, void *ud);

/* Queue a job; -1 when the queue is full (the caller answers 503) or the
 * pool is stopping. Thread-safe. */
int worker_pool_submit(worker_pool *pool, worker_job *job);

/* Wake every worker so it adopts the current generation now. */
void worker_pool_kick(worker_pool *pool);

/* Run the jobs already queued, then stop and join every worker (each
 * releases its slot and its generation reference), then the committer, once
 * it has run everything handed to it. */
void worker_pool_free(worker_pool *pool);

#endif
