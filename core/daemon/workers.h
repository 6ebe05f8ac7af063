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

typedef struct worker_ctx {
	size_t slot;     /* this worker's thread slot in every generation */
	generation *gen; /* the generation this worker currently uses (referenced) */
} worker_ctx;

typedef struct worker_job worker_job;
typedef void (*worker_job_fn)(worker_job *job, worker_ctx *wc);

/* Embed this at the start of a job struct; the pool never frees jobs. */
struct worker_job {
	worker_job *next;
	worker_job_fn run;
};

/* Returns the current generation, referenced (the caller unrefs). */
typedef generation *(*worker_gen_fn)(void *ud);

typedef struct worker_pool worker_pool;

worker_pool *worker_pool_new(size_t workers, size_t queue_max, worker_gen_fn current, void *ud);

/* Queue a job; -1 when the queue is full (the caller answers 503) or the
 * pool is stopping. Thread-safe. */
int worker_pool_submit(worker_pool *pool, worker_job *job);

/* Wake every worker so it adopts the current generation now. */
void worker_pool_kick(worker_pool *pool);

/* Run the jobs already queued, then stop and join every worker; each
 * releases its slot and its generation reference. */
void worker_pool_free(worker_pool *pool);

#endif
