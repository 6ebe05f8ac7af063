/* mint_persist.h — a mint's writes (authority record, jti, approval
 * consumption) through whichever storage ABI the plugin speaks. */
#ifndef CARACAL_STS_MINT_PERSIST_H
#define CARACAL_STS_MINT_PERSIST_H

#include <caracal/storage.h>

/* In one transaction when the plugin offers mint_write (ABI 1.1); else the
 * three ABI 1.0 calls, jti first and the record last so that a refused jti
 * or approval leaves no live record. *conflict receives
 * CARACAL_MINT_CONFLICT_* on a conflict, 0 otherwise. */
int mint_persist(const caracal_storage_ops *ops, void *tctx, const caracal_mint_write *mw,
                 int *conflict, caracal_error *err);

#endif
