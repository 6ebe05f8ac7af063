/*
 * rate_lease.h — the mint rate limit (spec sts.md §2.12) counted in memory,
 * in blocks leased from storage.
 *
 * Every caracald sharing one storage counts a (zone, resource, application)
 * window there. Writing once per mint made the rate window the token path's
 * second write transaction; instead a process takes a block of the window's
 * hits at once (storage ABI 1.2 rate_take) and spends it locally. Storage
 * still never hands out more than the limit, so the processes together
 * never exceed it; the price is that hits a process holds unspent when the
 * window ends are lost to the others (at most block - 1 per process and
 * window), so a cluster may deny slightly before the limit, never after.
 * The block is 1/64 of the limit (1 to 256): with the default limit of
 * 1000 per minute, one write per 15 mints.
 *
 * Without rate_take (a 1.0/1.1 storage plugin) every hit is rate_hit, as
 * before. The table is bounded; an entry pushed out loses its unspent hits,
 * which only errs towards denying.
 */
#ifndef CARACAL_STS_RATE_LEASE_H
#define CARACAL_STS_RATE_LEASE_H

#include <caracal/storage.h>

#include <stdint.h>

#define RATE_LEASE_BLOCK_MAX 256
#define RATE_LEASE_SLOTS 1024 /* entries kept; a power of two */

/* The block leased for a limit. */
uint64_t rate_lease_block(uint64_t limit);

/* Count one hit of key in the window [window_start_us, +window_len_us):
 * OK, DENIED when the window has reached limit (cluster-wide), or the
 * storage error (err set). owner tells storages apart (the generation
 * number): leases of another owner are never spent. Thread-safe. */
int rate_lease_hit(uint64_t owner, const caracal_storage_ops *storage, void *tctx, const char *key,
                   int64_t window_start_us, int64_t window_len_us, uint64_t limit,
                   caracal_error *err);

/* Forget every lease (tests). */
void rate_lease_reset(void);

#endif
