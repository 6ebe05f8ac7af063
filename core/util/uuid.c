#include "util/uuid.h"

#include "util/clock.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>

int uuid_v7(char out[UUID_TEXT_LEN + 1])
{
	unsigned char b[16];
	uint64_t ms = (uint64_t)(clock_now_us() / 1000);
	if (RAND_bytes(b + 6, 10) != 1)
		return -1;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
	snprintf(out, UUID_TEXT_LEN + 1,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	         b[15]);
	return 0;
}
