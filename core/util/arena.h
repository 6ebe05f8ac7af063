/*
 * arena.h — the caracal_arena of the plugin ABI: a bump allocator for the
 * results of one operation. Whoever creates an arena frees it, with every
 * allocation in it, in one call; nothing in it is freed one by one.
 * An arena is used by one thread at a time.
 */
#ifndef CARACAL_CORE_ARENA_H
#define CARACAL_CORE_ARENA_H

#include <caracal/common.h>
#include <stddef.h>

caracal_arena *arena_new(void);
void arena_free(caracal_arena *arena);
/* Drop every allocation but keep the first block, for reuse on a hot path. */
void arena_reset(caracal_arena *arena);
/* Zeroed, 16-byte aligned; NULL on OOM or when n overflows. */
void *arena_alloc(caracal_arena *arena, size_t n);
/* Copy n bytes of s and a NUL; NULL on OOM. */
char *arena_strndup(caracal_arena *arena, const char *s, size_t n);
/* Bytes handed out since the last reset (for bounds and tests). */
size_t arena_used(const caracal_arena *arena);

#endif
