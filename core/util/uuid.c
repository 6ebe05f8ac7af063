#include "util/uuid.h"

#include "util/clock.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* RAND_bytes costs a DRBG lock and generate call; UUIDs are made several
 * times per request. Each thread draws random bytes in blocks and hands out
 * 10 at a time; a byte is used once and wiped when handed out. */
#define UUID_POOL 320

static _Thread_local unsigned char pool[UUID_POOL];
static _Thread_local size_t pool_left;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A forked child must never hand out its parent's bytes. */
static void forget_pool(void)
{
	memset(pool, 0, sizeof pool);
	pool_left = 0;
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_pool);
}

static int random10(unsigned char out[10])
{
	pthread_once(&atfork_once, register_atfork);
	if (pool_left < 10) {
		if (RAND_bytes(pool, UUID_POOL) != 1) {
			pool_left = 0;
			return -1;
		}
		pool_left = UUID_POOL;
	}
	unsigned char *p = pool + (UUID_POOL - pool_left);
	memcpy(out, p, 10);
	memset(p, 0, 10);
	pool_left -= 10;
	return 0;
}

int uuid_v7(char out[UUID_TEXT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	uint64_t ms = (uint64_t)(clock_now_us() / 1000);
	if (random10(b + 6) != 0)
		return -1;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	return 0;
}

int uuid_is_text(const char *s)
{
	if (strlen(s) != UUID_TEXT_LEN)
		return 0;
	for (int i = 0; i < UUID_TEXT_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}
