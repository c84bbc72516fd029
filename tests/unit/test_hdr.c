/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hdr: folding and header name comparison.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "hdr.h"

struct fold_case {
    const char *desc;
    const char *name;
    const char *value;
    const char *want;
};

/* clang-format off */
static const struct fold_case fold_cases[] = {
    {"short value unchanged", "From", "John <j@x>", "John <j@x>"},
    {"empty value", "From", "", ""},
    {"exactly 78 with the name", "From",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
    {"one past 78 breaks", "From",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
    {"longer name breaks earlier", "X-Original-From",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
    {"encoded words one per line", "From",
     "=?UTF-8?B?0JTQvtCx0YDRi9C5INC00LXQvdGMLCDRjdGC0L4g0L7Rh9C10L3RjCA=?= "
     "=?UTF-8?B?0LTQu9C40L3QvdC+0LUg0LjQvNGP?= <j@x.example>",
     "=?UTF-8?B?0JTQvtCx0YDRi9C5INC00LXQvdGMLCDRjdGC0L4g0L7Rh9C10L3RjCA=?=\n"
     " =?UTF-8?B?0LTQu9C40L3QvdC+0LUg0LjQvNGP?= <j@x.example>"},
    {"unbreakable word stays whole", "From",
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
    {"long word moves to its own line", "From", "a "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx "
     "b", "a\n "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
     " b"},
    {"tab is a break point too", "From",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\tbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\tbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
    {"trailing spaces never make an empty line", "Subject",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa        ",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa        "},
    {"stray CR LF become spaces", "From", "a\r\nb", "a  b"},
    {"no break inside a quoted-string", "From",
     "\"Enterprise Resource Planning Production System - Automated\" "
     "\"Nightly Batch Scheduler - Finance and Controlling Department\" "
     "\"Notifications (Do Not Reply)\" <relay@contoso.com>",
     "\"Enterprise Resource Planning Production System - Automated\"\n"
     " \"Nightly Batch Scheduler - Finance and Controlling Department\"\n"
     " \"Notifications (Do Not Reply)\" <relay@contoso.com>"},
    {"escaped quote does not end a quoted-string", "From",
     "\"aaaaaaaaaaaaaaaaaaaa \\\" bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\" "
     "<a@b>",
     "\"aaaaaaaaaaaaaaaaaaaa \\\" bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\n "
     "<a@b>"},
};
/* clang-format on */

START_TEST(test_fold_cases)
{
    const struct fold_case *c = &fold_cases[_i];
    struct buf out;

    buf_init(&out, 4096);
    ck_assert_int_eq(hdr_fold(&out, c->name, c->value), BUF_OK);
    ck_assert_msg(strcmp(buf_cstr(&out), c->want) == 0, "%s: [%s], want [%s]", c->desc,
                  buf_cstr(&out), c->want);
    buf_free(&out);
}
END_TEST

/* Folding only inserts "\n" before white space, and lines fit where they can. */
START_TEST(test_fold_properties)
{
    struct buf v, out, un;
    size_t i, col, len;
    const char *p;
    unsigned seed = 12345u + (unsigned)_i;

    buf_init(&v, 4096);
    buf_init(&out, 8192);
    buf_init(&un, 8192);
    for (i = 0; i < 40; i++) {
        seed = seed * 1103515245u + 12345u;
        len = 1 + (seed >> 16) % 30;
        ck_assert_int_eq(buf_putc(&v, ' '), BUF_OK);
        while (len--)
            ck_assert_int_eq(buf_putc(&v, 'a' + (int)(len % 26)), BUF_OK);
    }
    ck_assert_int_eq(hdr_fold(&out, "Reply-To", v.data + 1), BUF_OK);
    for (p = out.data; *p; p++) {
        if (*p == '\n')
            ck_assert(p[1] == ' ');
        else
            ck_assert_int_eq(buf_putc(&un, *p), BUF_OK);
    }
    ck_assert_str_eq(buf_cstr(&un), v.data + 1);
    col = strlen("Reply-To: ");
    for (p = out.data; *p; p++) {
        if (*p == '\n') {
            col = 0;
            continue;
        }
        col++;
        /* words are at most 30 long, so every line can be kept within 78 */
        ck_assert_msg(col <= HDR_FOLD_WIDTH, "line over %d: %s", HDR_FOLD_WIDTH, out.data);
    }
    buf_free(&v);
    buf_free(&out);
    buf_free(&un);
}
END_TEST

/* A quoted-string longer than a line may be is folded inside after all. */
START_TEST(test_fold_hard_limit)
{
    struct buf v, out;
    const char *p, *nl;
    size_t i;

    buf_init(&v, 8192);
    buf_init(&out, 8192);
    ck_assert_int_eq(buf_putc(&v, '"'), BUF_OK);
    for (i = 0; i < 300; i++)
        ck_assert_int_eq(buf_puts(&v, i ? " word" : "word"), BUF_OK);
    ck_assert_int_eq(buf_puts(&v, "\" <a@b>"), BUF_OK);
    ck_assert_int_eq(hdr_fold(&out, "From", v.data), BUF_OK);
    ck_assert_ptr_nonnull(strchr(out.data, '\n'));
    for (p = out.data, i = strlen("From: "); p; p = nl ? nl + 1 : NULL, i = 0) {
        nl = strchr(p, '\n');
        ck_assert_uint_le(i + (nl ? (size_t)(nl - p) : strlen(p)), 998);
    }
    buf_free(&v);
    buf_free(&out);
}
END_TEST

START_TEST(test_fold_cap)
{
    struct buf out;

    buf_init(&out, 4);
    ck_assert_int_eq(hdr_fold(&out, "From", "abcdef"), BUF_ECAP);
    buf_free(&out);
}
END_TEST

START_TEST(test_name_is)
{
    ck_assert(hdr_name_is("From", "from"));
    ck_assert(hdr_name_is("REPLY-TO", "Reply-To"));
    ck_assert(!hdr_name_is("From", "From:"));
    ck_assert(!hdr_name_is("Fro", "From"));
    ck_assert(!hdr_name_is("Sender", "From"));
    ck_assert(!hdr_name_is(NULL, "From"));
    ck_assert(!hdr_name_is("From", NULL));
    ck_assert(hdr_name_is("", ""));
}
END_TEST

/* suite - every hdr test case */
static Suite *suite(void)
{
    Suite *s = suite_create("hdr");
    TCase *tc = tcase_create("hdr");

    tcase_add_loop_test(tc, test_fold_cases, 0, sizeof(fold_cases) / sizeof(fold_cases[0]));
    tcase_add_loop_test(tc, test_fold_properties, 0, 8);
    tcase_add_test(tc, test_fold_hard_limit);
    tcase_add_test(tc, test_fold_cap);
    tcase_add_test(tc, test_name_is);
    suite_add_tcase(s, tc);
    return s;
}

/* main - run the suite; exit status for the automake test driver */
int main(void)
{
    return unit_run(suite(), CK_FORK_GETENV);
}
