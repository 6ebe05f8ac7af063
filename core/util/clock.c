#include "util/clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t fixed_now_us;

int64_t clock_now_us(void)
{
	int64_t fixed = atomic_load_explicit(&fixed_now_us, memory_order_relaxed);
	if (fixed != 0)
		return fixed;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_set_fixed_now_us(int64_t fixed_us)
{
	atomic_store_explicit(&fixed_now_us, fixed_us, memory_order_relaxed);
}
