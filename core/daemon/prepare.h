/*
 * prepare.h — what a new generation needs before it serves: the storage
 * schema migrated, and every zone's active policy version compiled into the
 * policy engine. caracald runs it on the main thread, with a thread slot of
 * its own, for the first generation and for every reload; a generation that
 * cannot be prepared is not installed (start fails, reload is rejected).
 */
#ifndef CARACAL_DAEMON_PREPARE_H
#define CARACAL_DAEMON_PREPARE_H

#include "daemon/generation.h"

int generation_prepare(generation *gen, size_t slot, caracal_error *err);

#endif
