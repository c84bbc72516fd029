/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of window (sliding-window arithmetic) with a fake clock: each
 * case is a script of adds and checks at given times.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "window.h"

enum op { END, ADD, TOTAL, FREE_AT, EMPTY_AT };

struct step {
    enum op op;
    int64_t t;      /* the fake clock */
    uint64_t n;     /* ADD: events; FREE_AT: limit */
    uint64_t need;  /* FREE_AT */
    int64_t want;   /* TOTAL, FREE_AT, EMPTY_AT */
};

#define S 1000LL /* one second in ms */
#define MIN (60 * S)

static const struct {
    const char *name;
    int64_t span, gran;
    struct step steps[12];
} cases[] = {
    {"empty window admits at once", MIN, S,
     {{TOTAL, 0, 0, 0, 0}, {FREE_AT, 0, 30, 1, 0}, {EMPTY_AT, 5 * S, 0, 0, 5 * S}}},
    {"an event counts until its whole bucket left the window", MIN, S,
     {{ADD, 500, 1, 0, 0}, {TOTAL, 59999, 0, 0, 1}, {TOTAL, 60999, 0, 0, 1},
      {TOTAL, 61000, 0, 0, 0}}},
    {"no burst of 2x at a minute boundary", MIN, S,
     {{ADD, 59 * S, 30, 0, 0}, {FREE_AT, 60 * S, 30, 1, 120 * S}, {TOTAL, 119999, 0, 0, 30},
      {FREE_AT, 120 * S, 30, 30, 120 * S}}},
    {"frees up as the oldest buckets leave", MIN, S,
     {{ADD, 0, 10, 0, 0}, {ADD, 10 * S, 10, 0, 0}, {ADD, 20 * S, 10, 0, 0},
      {FREE_AT, 30 * S, 30, 1, 61 * S}, {FREE_AT, 30 * S, 30, 15, 71 * S},
      {FREE_AT, 30 * S, 30, 30, 81 * S}, {FREE_AT, 30 * S, 40, 10, 30 * S}}},
    {"more than the limit never fits", MIN, S, {{FREE_AT, 0, 30, 31, -1}}},
    {"limit exactly reached is still admitted", MIN, S,
     {{ADD, 0, 29, 0, 0}, {FREE_AT, 1 * S, 30, 1, 1 * S}, {ADD, 1 * S, 1, 0, 0},
      {FREE_AT, 2 * S, 30, 1, 61 * S}}},
    {"a clock going back stands still", MIN, S,
     {{ADD, 10 * S, 5, 0, 0}, {ADD, 5 * S, 3, 0, 0}, {TOTAL, 10 * S, 0, 0, 8},
      {TOTAL, 70999, 0, 0, 8}, {TOTAL, 71 * S, 0, 0, 0}}},
    {"a long idle time empties the window", MIN, S,
     {{ADD, 0, 5, 0, 0}, {TOTAL, 1000000000LL, 0, 0, 0}, {ADD, 1000000000LL, 2, 0, 0},
      {TOTAL, 1000000000LL + 59 * S, 0, 0, 2}}},
    {"empty_at follows the newest event", MIN, S,
     {{ADD, 0, 1, 0, 0}, {ADD, 30500, 1, 0, 0}, {EMPTY_AT, 31 * S, 0, 0, 91 * S}}},
    {"rolling 24 hours in minute buckets", 24 * 60 * MIN, MIN,
     {{ADD, 0, 9000, 0, 0}, {FREE_AT, (24 * 60 - 1) * MIN, 9000, 1, (24 * 60 + 1) * MIN},
      {TOTAL, 24 * 60 * MIN, 0, 0, 9000}, {TOTAL, (24 * 60 + 1) * MIN, 0, 0, 0},
      {FREE_AT, (24 * 60 + 1) * MIN, 9000, 9000, (24 * 60 + 1) * MIN}}},
    {"recipients spread over the day", 24 * 60 * MIN, MIN,
     {{ADD, 0, 4000, 0, 0}, {ADD, 12 * 60 * MIN, 5000, 0, 0},
      {FREE_AT, 13 * 60 * MIN, 9000, 500, (24 * 60 + 1) * MIN},
      {FREE_AT, 13 * 60 * MIN, 9000, 4500, (36 * 60 + 1) * MIN},
      {FREE_AT, 13 * 60 * MIN, 9000, 9001, -1}}},
};

START_TEST(test_window_script)
{
    struct window w;
    const struct step *s;

    ck_assert_int_eq(window_init(&w, cases[_i].span, cases[_i].gran), 0);
    for (s = cases[_i].steps; s->op != END; s++) {
        int64_t got = 0;

        switch (s->op) {
        case ADD:
            window_add(&w, s->t, (uint32_t)s->n);
            continue;
        case TOTAL:
            got = (int64_t)window_total(&w, s->t);
            break;
        case FREE_AT:
            got = window_free_at(&w, s->t, s->n, s->need);
            break;
        case EMPTY_AT:
            got = window_empty_at(&w, s->t);
            break;
        case END:
            break;
        }
        ck_assert_msg(got == s->want, "%s: step %d (op %d at t=%lld): got %lld, want %lld",
                      cases[_i].name, (int)(s - cases[_i].steps), s->op, (long long)s->t,
                      (long long)got, (long long)s->want);
    }
    window_free(&w);
}
END_TEST

/* xorshift - a deterministic PRNG for the property test */
static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * Admit random arrivals only when window_free_at says "now", then check by
 * brute force that no interval of one span ever holds more than the limit.
 */
START_TEST(test_never_over_limit)
{
    enum { LIMIT = 30, N = 4000 };
    static int64_t admitted[N];
    struct window w;
    uint64_t seed = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
    size_t n = 0, i, j;
    int64_t t = 0, busy_until = 0;

    ck_assert_int_eq(window_init(&w, MIN, S), 0);
    while (n < N && t < 50 * MIN) {
        t += (int64_t)(xorshift(&seed) % (_i == 0 ? 400 : 3000)); /* bursts and trickles */
        if (window_free_at(&w, t, LIMIT, 1) == t) {
            window_add(&w, t, 1);
            admitted[n++] = t;
        } else {
            busy_until = t;
        }
    }
    ck_assert_msg(busy_until > 0, "the limit was never reached: the test proves nothing");
    for (i = 0, j = 0; i < n; i++) {
        /* events in [admitted[i] - span, admitted[i]], a closed interval of one span */
        while (admitted[j] < admitted[i] - MIN)
            j++;
        ck_assert_msg(i - j + 1 <= LIMIT, "%zu events within one minute ending at %lld", i - j + 1,
                      (long long)admitted[i]);
    }
    window_free(&w);
}
END_TEST

START_TEST(test_encode_decode)
{
    struct window a, b, day;
    unsigned char buf[8192];
    size_t n;

    ck_assert_int_eq(window_init(&a, MIN, S), 0);
    ck_assert_int_eq(window_init(&b, MIN, S), 0);
    ck_assert_int_eq(window_init(&day, 24 * 60 * MIN, MIN), 0);
    window_add(&a, 100 * S, 3);
    window_add(&a, 130 * S, 4);
    window_add(&a, 150 * S, 5);
    n = window_encode(&a, buf, sizeof(buf));
    ck_assert_uint_eq(n, window_encoded_size(&a));
    ck_assert_uint_eq(window_encode(&a, buf, n - 1), 0);
    ck_assert_int_eq(window_decode(&b, buf, n), 0);
    ck_assert_uint_eq(window_total(&b, 155 * S), 12);
    ck_assert_int_eq(window_free_at(&b, 155 * S, 12, 1), window_free_at(&a, 155 * S, 12, 1));
    ck_assert_uint_eq(window_total(&b, 190 * S), 9);
    /* another geometry, a truncated blob, a bad magic, an overflowing head */
    ck_assert_int_eq(window_decode(&day, buf, n), -1);
    ck_assert_int_eq(window_decode(&b, buf, n - 1), -1);
    ck_assert_uint_eq(window_total(&b, 155 * S), 0);
    buf[0] = 'X';
    ck_assert_int_eq(window_decode(&b, buf, n), -1);
    buf[0] = 'S';
    memset(buf + 20, 0x7f, 8);
    ck_assert_int_eq(window_decode(&b, buf, n), -1);
    /* an empty window round-trips as empty */
    window_clear(&a);
    n = window_encode(&a, buf, sizeof(buf));
    ck_assert_int_eq(window_decode(&b, buf, n), 0);
    ck_assert_uint_eq(window_total(&b, 0), 0);
    window_free(&a);
    window_free(&b);
    window_free(&day);
}
END_TEST

START_TEST(test_bad_geometry)
{
    struct window w;

    ck_assert_int_eq(window_init(&w, MIN, 7 * S), -1);
    ck_assert_int_eq(window_init(&w, 0, S), -1);
    ck_assert_int_eq(window_init(&w, MIN, 0), -1);
    ck_assert_int_eq(window_init(&w, (int64_t)WINDOW_MAX_BUCKETS * S, S), -1);
    window_free(&w);
    window_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("window");
    TCase *tc = tcase_create("window");

    tcase_add_loop_test(tc, test_window_script, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_loop_test(tc, test_never_over_limit, 0, 2);
    tcase_add_test(tc, test_encode_decode);
    tcase_add_test(tc, test_bad_geometry);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
