/* fnv.h — FNV-1a (32-bit), the hash of the process's small in-memory
 * tables. Not for keys an attacker can choose freely: the tables using it
 * hold only signed ids or ids of stored records. */
#ifndef CARACAL_CORE_FNV_H
#define CARACAL_CORE_FNV_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t fnv1a32(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#endif
