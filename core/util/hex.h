/* hex.h — one hexadecimal digit, either case. Header-only (static inline) so
 * that every parser and its fuzz target use the same definition. */
#ifndef CARACAL_CORE_HEX_H
#define CARACAL_CORE_HEX_H

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

#endif
