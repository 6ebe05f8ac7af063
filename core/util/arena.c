/* arena.c — see arena.h. Blocks grow geometrically; big requests get a block
 * of their own so one large result does not waste a huge tail. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16u
#define ARENA_FIRST_BLOCK 4096u

struct arena_block {
	struct arena_block *next;
	size_t cap;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct caracal_arena {
	struct arena_block *head; /* newest block first */
	size_t used_total;
};

static struct arena_block *block_new(size_t cap)
{
	struct arena_block *b = malloc(sizeof *b + cap);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->cap = cap;
	b->used = 0;
	return b;
}

caracal_arena *arena_new(void)
{
	caracal_arena *a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->head = block_new(ARENA_FIRST_BLOCK);
	if (a->head == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void arena_free(caracal_arena *a)
{
	if (a == NULL)
		return;
	struct arena_block *b = a->head;
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}

void arena_reset(caracal_arena *a)
{
	struct arena_block *last = a->head;
	while (last->next != NULL) {
		struct arena_block *next = last->next;
		free(last);
		last = next;
	}
	last->used = 0;
	a->head = last;
	a->used_total = 0;
}

void *arena_alloc(caracal_arena *a, size_t n)
{
	if (a == NULL || n > SIZE_MAX / 2)
		return NULL;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	struct arena_block *b = a->head;
	if (b->cap - b->used < need) {
		size_t cap = b->cap * 2;
		if (cap < need)
			cap = need;
		struct arena_block *nb = block_new(cap);
		if (nb == NULL)
			return NULL;
		nb->next = b;
		a->head = nb;
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += need;
	a->used_total += need;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(caracal_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

size_t arena_used(const caracal_arena *a)
{
	return a->used_total;
}
