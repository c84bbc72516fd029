/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of clock: the RFC 3339 formatter against fixed dates and
 * against gmtime over a sweep of times, days_from_civil, the clocks' units.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "unit.h"

/* Fixed dates: the epoch, a leap day, before 1970, microseconds. */
START_TEST(test_fixed)
{
    static const struct {
        int64_t us;
        int micro;
        const char *want;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00Z"},
        {0, 1, "1970-01-01T00:00:00.000000Z"},
        {951782400LL * 1000000, 0, "2000-02-29T00:00:00Z"},
        {1795842000LL * 1000000 + 123456, 1, "2026-11-28T05:00:00.123456Z"},
        {1795842000LL * 1000000 + 999999, 0, "2026-11-28T05:00:00Z"},
        {-1, 1, "1969-12-31T23:59:59.999999Z"},
        {-1, 0, "1969-12-31T23:59:59Z"},
        {4102444799LL * 1000000, 0, "2099-12-31T23:59:59Z"},
    };
    char out[CLOCK_RFC3339_MAX];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        clock_format_rfc3339(cases[i].us, cases[i].micro, out, sizeof(out));
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

/* Every 86413 s (a day and 13 s, so every time of day comes round) from 1900 to 2200 formats as gmtime says. */
START_TEST(test_sweep_gmtime)
{
    char out[CLOCK_RFC3339_MAX], want[64];
    struct tm tm;
    time_t t;

    for (t = -2208988800LL; t < 7258118400LL; t += 86413) {
        ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
        strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
        clock_format_rfc3339((int64_t)t * 1000000, 0, out, sizeof(out));
        ck_assert_str_eq(out, want);
        ck_assert_int_eq(clock_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday),
                         (t >= 0 ? t : t - 86399) / 86400);
    }
}
END_TEST

/* A buffer too small gets "", never a cut time that reads as another one. */
START_TEST(test_small_buffer)
{
    char out[20];

    memset(out, 'x', sizeof(out));
    clock_format_rfc3339(0, 0, out, sizeof(out));
    ck_assert_str_eq(out, "");
    clock_format_rfc3339(0, 0, out, 0);
    ck_assert_int_eq(out[0], '\0');
}
END_TEST

/* The clocks count in the units they say. */
START_TEST(test_clocks)
{
    int64_t us = clock_now_us(), ms = clock_now_ms();

    ck_assert_int_ge(ms, us / 1000);
    ck_assert_int_le(ms - us / 1000, 1000);
    ck_assert_int_ge(us, 1700000000LL * 1000000);
    ck_assert_int_ge(clock_mono_ms(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_fixed);
    tcase_add_test(tc, test_sweep_gmtime);
    tcase_add_test(tc, test_small_buffer);
    tcase_add_test(tc, test_clocks);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
