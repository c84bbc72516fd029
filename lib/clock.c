/* SPDX-License-Identifier: MIT */
/*
 * clock - clocks and RFC 3339 formatting (see clock.h).
 */
#include "clock.h"

#include <stdio.h>
#include <time.h>

/* read_clock - one clock in microseconds */
static int64_t read_clock(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* clock_now_us - wall clock in microseconds */
int64_t clock_now_us(void)
{
    return read_clock(CLOCK_REALTIME);
}

/* clock_now_ms - wall clock in milliseconds */
int64_t clock_now_ms(void)
{
    return read_clock(CLOCK_REALTIME) / 1000;
}

/* clock_mono_ms - monotonic clock in milliseconds */
int64_t clock_mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC) / 1000;
}

/* clock_days_from_civil - days since 1970-01-01 of a proleptic Gregorian date
 * (Howard Hinnant's algorithm: 400-year eras of 146097 days) */
int64_t clock_days_from_civil(long y, long m, long d)
{
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

/* civil_from_days - the date of day z since 1970-01-01 (the inverse of the above) */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* clock_format_rfc3339 - UTC text of time_us, to the second or the microsecond */
void clock_format_rfc3339(int64_t time_us, int micro, char *out, size_t outlen)
{
    /* floor division: a time before 1970 still counts its fraction forward */
    int64_t s = time_us / 1000000, us = time_us % 1000000, days, sod, y;
    int m, d, n;

    if (us < 0) {
        us += 1000000;
        s--;
    }
    days = s / 86400;
    sod = s % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (micro)
        n = snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ", (long long)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (long long)us);
    else
        n = snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if ((n < 0 || (size_t)n >= outlen) && outlen > 0)
        out[0] = '\0';
}
