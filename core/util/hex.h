/* hex.h — hexadecimal digits, read (either case) and written (lowercase).
 * Header-only (static inline) so that every parser and its fuzz target use
 * the same definition. */
#ifndef CARACAL_CORE_HEX_H
#define CARACAL_CORE_HEX_H

#include <stddef.h>

/* The value of hex digit c (0..15), or -1. */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The n bytes of in as 2n lowercase hex digits and a NUL (out: 2n + 1). */
static inline void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

#endif
