/* siphash.h — SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit PRF
 * for in-memory tables whose keys an attacker may choose or know. With a
 * random key nobody can aim entries at one slot, at a fraction of the cost
 * of an HMAC. Not a MAC for anything that leaves the process. */
#ifndef CARACAL_CORE_SIPHASH_H
#define CARACAL_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t siphash_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t siphash_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPHASH_ROUND(v0, v1, v2, v3)      \
	do {                               \
		v0 += v1;                  \
		v1 = siphash_rotl(v1, 13); \
		v1 ^= v0;                  \
		v0 = siphash_rotl(v0, 32); \
		v2 += v3;                  \
		v3 = siphash_rotl(v3, 16); \
		v3 ^= v2;                  \
		v0 += v3;                  \
		v3 = siphash_rotl(v3, 21); \
		v3 ^= v0;                  \
		v2 += v1;                  \
		v1 = siphash_rotl(v1, 17); \
		v1 ^= v2;                  \
		v2 = siphash_rotl(v2, 32); \
	} while (0)

/* key: 16 bytes. */
static inline uint64_t siphash24(const unsigned char key[16], const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t k0 = siphash_le64(key), k1 = siphash_le64(key + 8);
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575), v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261), v3 = k1 ^ UINT64_C(0x7465646279746573);
	size_t whole = n - n % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = siphash_le64(p + i);
		v3 ^= m;
		SIPHASH_ROUND(v0, v1, v2, v3);
		SIPHASH_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	uint64_t b = (uint64_t)n << 56;
	for (size_t i = n % 8; i > 0; i--)
		b |= (uint64_t)p[whole + i - 1] << (8 * (i - 1));
	v3 ^= b;
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIPHASH_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif
