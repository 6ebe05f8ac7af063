/* mint_persist.c — see mint_persist.h. */
#include "roles/sts/mint_persist.h"

#include <stddef.h>

int mint_persist(const caracal_storage_ops *ops, void *tctx, const caracal_mint_write *mw,
                 int *conflict, caracal_error *err)
{
	*conflict = 0;
	/* The host copy of a vtable is zero past the plugin's size: a 1.0 plugin
	 * reads as NULL here. */
	if (ops->mint_write != NULL)
		return ops->mint_write(tctx, mw, conflict, err);
	const char *zone = mw->record->zone_id;
	int rc = ops->single_use_claim(tctx, zone, mw->jti, mw->jti_expires_at_us, err);
	if (rc == CARACAL_E_CONFLICT)
		*conflict = CARACAL_MINT_CONFLICT_JTI;
	if (rc == CARACAL_OK && mw->approval_id != NULL) {
		rc = ops->approval_consume(tctx, zone, mw->approval_id, mw->record->id, mw->at_us,
		                           err);
		if (rc == CARACAL_E_CONFLICT || rc == CARACAL_E_NOTFOUND)
			*conflict = CARACAL_MINT_CONFLICT_APPROVAL;
	}
	if (rc == CARACAL_OK) {
		rc = ops->authority_record_create(tctx, mw->record, err);
		if (rc == CARACAL_E_CONFLICT)
			*conflict = CARACAL_MINT_CONFLICT_RECORD;
	}
	return rc;
}
