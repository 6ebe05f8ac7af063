/* mint_persist.c — see mint_persist.h. */
#include "roles/sts/mint_persist.h"

#include "util/arena.h"

#include <stddef.h>
#include <string.h>

int mint_persist(const caracal_storage_ops *ops, void *tctx, const caracal_mint_write *mw,
                 int *conflict, caracal_error *err)
{
	*conflict = 0;
	/* The host copy of a vtable is zero past the plugin's size: a 1.0 plugin
	 * reads as NULL here. */
	if (ops->mint_write != NULL)
		return ops->mint_write(tctx, mw, conflict, err);
	const char *zone = mw->record->zone_id;
	int rc = CARACAL_OK;
	if (mw->record->parent_id != NULL) {
		/* Without one transaction this only narrows the race with a
		 * revocation (mint_write closes it). */
		caracal_arena *arena = arena_new();
		caracal_authority_record parent = {.size = sizeof parent};
		rc = arena == NULL ? caracal_error_set(err, CARACAL_E_NOMEM, "out of memory")
		                   : ops->authority_record_get(tctx, zone, mw->record->parent_id,
		                                               arena, &parent, err);
		if (rc == CARACAL_E_NOTFOUND ||
		    (rc == CARACAL_OK &&
		     (parent.status == NULL || strcmp(parent.status, "active") != 0 ||
		      parent.expires_at_us <= mw->at_us))) {
			*conflict = CARACAL_MINT_CONFLICT_PARENT;
			rc = caracal_error_set(err, CARACAL_E_CONFLICT,
			                       "the parent record is not active");
		}
		arena_free(arena);
		if (rc != CARACAL_OK)
			return rc;
	}
	rc = ops->single_use_claim(tctx, zone, mw->jti, mw->jti_expires_at_us, err);
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
