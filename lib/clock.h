/* SPDX-License-Identifier: MIT */
/*
 * clock - the one reader of the clocks and the one RFC 3339 formatter.
 *
 * Times are int64_t counts since 1970-01-01T00:00:00Z (UTC, no leap
 * seconds); dates are proleptic Gregorian, so every int64_t day count has a
 * date and the formatter needs neither gmtime nor the time zone.
 */
#ifndef SENDAS_CLOCK_H
#define SENDAS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* The longest text clock_format_rfc3339 writes: "-292277-01-01T00:00:00.000000Z" and NUL. */
#define CLOCK_RFC3339_MAX 40

/* clock_now_us - the wall clock in microseconds (what records and counters keep) */
int64_t clock_now_us(void);

/* clock_now_ms - the wall clock in milliseconds */
int64_t clock_now_ms(void);

/* clock_mono_ms - the monotonic clock in milliseconds (timers; never jumps with the date) */
int64_t clock_mono_ms(void);

/* clock_days_from_civil - days since 1970-01-01 of year y, month m (1-12), day d (1-31) */
int64_t clock_days_from_civil(long y, long m, long d);

/*
 * clock_format_rfc3339 - time_us as "YYYY-MM-DDTHH:MM:SSZ", or with
 * micro set "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"; the time is cut to the second
 * (callers that must not promise too early round up first).  out gets ""
 * when outlen is too small for the whole text.
 */
void clock_format_rfc3339(int64_t time_us, int micro, char *out, size_t outlen);

#endif
