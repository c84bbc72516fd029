/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lines (the bounded line splitter of `sendasctl audit`):
 * every edge of the cap, NUL bytes, CR, empty lines, no final newline, a
 * failing read; each case is fed in reads of 1, 2, 5, 4096 bytes and all at
 * once, and must split the same way every time.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "lines.h"

struct feed {
    const char *data;
    size_t len, pos, step;
    int fail_at_end;
};

/* feed_read - hand out at most step bytes a call */
static ssize_t feed_read(void *ctx, char *buf, size_t n)
{
    struct feed *f = ctx;
    size_t k = f->len - f->pos;

    if (k == 0 && f->fail_at_end)
        return -1;
    if (k > f->step)
        k = f->step;
    if (k > n)
        k = n;
    memcpy(buf, f->data + f->pos, k);
    f->pos += k;
    return (ssize_t)k;
}

struct want {
    const char *s;
    size_t n;
    int over;
};

#define L(str) {str, sizeof(str) - 1, 0}
#define CUT(str) {str, sizeof(str) - 1, 1}
#define IN(str) str, sizeof(str) - 1

static const struct {
    const char *name;
    const char *in;
    size_t inlen;
    struct want out[4];
    size_t nout;
} cases[] = { /* cap 8 */
    {"empty stream", IN(""), {{0}}, 0},
    {"one empty line", IN("\n"), {L("")}, 1},
    {"no final newline", IN("abc"), {L("abc")}, 1},
    {"newline", IN("abc\n"), {L("abc")}, 1},
    {"CRLF", IN("abc\r\n"), {L("abc")}, 1},
    {"CR inside kept", IN("a\rb\n"), {L("a\rb")}, 1},
    {"CR at the end without newline", IN("abc\r"), {L("abc")}, 1},
    {"empty CRLF lines", IN("\r\n\r\n"), {L(""), L("")}, 2},
    {"NUL inside kept", IN("a\0b\n"), {L("a\0b")}, 1},
    {"NUL line", IN("\0\n\0"), {L("\0"), L("\0")}, 2},
    {"exactly the cap", IN("12345678\n"), {L("12345678")}, 1},
    {"exactly the cap, CRLF", IN("12345678\r\nx"), {L("12345678"), L("x")}, 2},
    {"exactly the cap, no newline", IN("12345678"), {L("12345678")}, 1},
    {"exactly the cap, CR at the end", IN("12345678\r"), {L("12345678")}, 1},
    {"one over the cap", IN("123456789\nnext\n"), {CUT("12345678"), L("next")}, 2},
    {"cap then a CR that is not a line end", IN("12345678\rX\nok"), {CUT("12345678"), L("ok")},
     2},
    {"far over the cap, no newline", IN("1234567890123456789012345678901234567890"),
     {CUT("12345678")}, 1},
    {"over the cap with NUL", IN("1234567\0\09\n\nz"), {CUT("1234567\0"), L(""), L("z")}, 3},
};

static const size_t steps[] = {1, 2, 5, 4096, (size_t)-1};

START_TEST(test_cases)
{
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        struct feed f = {cases[_i].in, cases[_i].inlen, 0, steps[k], 0};
        struct lines l;
        const char *line;
        size_t len, got = 0;
        int flags, rc;

        ck_assert_int_eq(lines_init(&l, 8, feed_read, &f), 0);
        while ((rc = lines_next(&l, &line, &len, &flags)) == 1) {
            ck_assert_msg(got < cases[_i].nout, "%s (step %zu): extra line", cases[_i].name,
                          steps[k]);
            ck_assert_msg(len == cases[_i].out[got].n &&
                              memcmp(line, cases[_i].out[got].s, len) == 0,
                          "%s (step %zu): line %zu has %zu bytes", cases[_i].name, steps[k], got,
                          len);
            ck_assert_msg(!!(flags & LINES_OVERLONG) == cases[_i].out[got].over,
                          "%s (step %zu): line %zu overlong flag", cases[_i].name, steps[k], got);
            got++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_msg(got == cases[_i].nout, "%s (step %zu): %zu lines", cases[_i].name,
                      steps[k], got);
        ck_assert_int_eq(lines_next(&l, &line, &len, &flags), 0); /* stays at the end */
        lines_free(&l);
    }
}
END_TEST

/* issue 12.10: a 65,535-byte line followed by NUL, at the real cap of sendasctl audit */
START_TEST(test_65535_then_nul)
{
    size_t n = 65535 + 1 + 5;
    char *in = malloc(n + 65536 + 1);
    struct feed f;
    struct lines l;
    const char *line;
    size_t len;
    int flags;

    ck_assert_ptr_nonnull(in);
    memset(in, 'A', 65535);
    memcpy(in + 65535, "\0rest\n", 6);
    f = (struct feed){in, n, 0, (size_t)-1, 0};
    ck_assert_int_eq(lines_init(&l, 65536, feed_read, &f), 0);
    ck_assert_int_eq(lines_next(&l, &line, &len, &flags), 1);
    ck_assert_uint_eq(len, 65536); /* cut at the cap, the NUL kept */
    ck_assert_int_eq(flags, LINES_OVERLONG);
    ck_assert_int_eq(line[65535], '\0');
    ck_assert_int_eq(lines_next(&l, &line, &len, &flags), 0);
    lines_free(&l);

    /* the same 65,535 bytes ended by a newline are a whole line, and so are 65,536 */
    for (size_t m = 65535; m <= 65537; m++) {
        memset(in, 'A', m);
        in[m] = '\n';
        f = (struct feed){in, m + 1, 0, 4096, 0};
        ck_assert_int_eq(lines_init(&l, 65536, feed_read, &f), 0);
        ck_assert_int_eq(lines_next(&l, &line, &len, &flags), 1);
        ck_assert_uint_eq(len, m > 65536 ? 65536 : m);
        ck_assert_int_eq(flags, m > 65536 ? LINES_OVERLONG : 0);
        ck_assert_int_eq(lines_next(&l, &line, &len, &flags), 0);
        ck_assert_uint_eq(l.overlong, m > 65536);
        lines_free(&l);
    }
    free(in);
}
END_TEST

/* a read error ends the stream with -1, after the lines already read */
START_TEST(test_read_error)
{
    struct feed f = {"one\ntwo", 7, 0, 4096, 1};
    struct lines l;
    const char *line;
    size_t len;
    int flags;

    ck_assert_int_eq(lines_init(&l, 8, feed_read, &f), 0);
    ck_assert_int_eq(lines_next(&l, &line, &len, &flags), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(lines_next(&l, &line, &len, &flags), -1);
    ck_assert_int_eq(l.error, 1);
    ck_assert_int_eq(lines_next(&l, &line, &len, &flags), -1);
    lines_free(&l);
    lines_free(NULL);
    ck_assert_int_eq(lines_init(&l, 0, feed_read, &f), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lines");
    TCase *tc = tcase_create("lines");

    tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_65535_then_nul);
    tcase_add_test(tc, test_read_error);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
