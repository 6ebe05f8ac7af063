/*
 * clock.h — the daemon's clocks, replaceable in tests (the host services
 * hand these to plugins as now_us and monotonic_us).
 */
#ifndef CARACAL_CORE_CLOCK_H
#define CARACAL_CORE_CLOCK_H

#include <stdint.h>

int64_t clock_now_us(void);       /* wall clock, µs since the epoch */
int64_t clock_monotonic_us(void); /* monotonic, µs */

/* Tests: pin the wall clock to fixed_us (0 restores the real clock). */
void clock_set_fixed_now_us(int64_t fixed_us);

#endif
