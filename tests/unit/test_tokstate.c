/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of tokstate_parse: the state files sendas-tokend writes are read
 * back exactly; any other file -- a forged line (issue 12 finding 3), a key
 * twice or missing, a NUL, a control character, a number that is not one, a
 * file over the cap -- is malformed and nothing of it is believed.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tokstate.h"

#define MB "relay@contoso.com"
#define GOOD                                                                                     \
    "mailbox=" MB "\nexpires=1767225600\nlast_refresh=1767222000\nlast_attempt=1767222001\n"  \
    "failures=2\nlast_error=invalid_client AADSTS7000215: Invalid client secret (HTTP 401)\n"

START_TEST(what_tokend_writes_is_read_back)
{
    struct tokstate t;

    ck_assert_int_eq(tokstate_parse(GOOD, strlen(GOOD), MB, &t), 0);
    ck_assert_int_eq(t.expires, 1767225600LL);
    ck_assert_int_eq(t.last_refresh, 1767222000LL);
    ck_assert_int_eq(t.last_attempt, 1767222001LL);
    ck_assert_uint_eq(t.failures, 2);
    ck_assert_str_eq(t.last_error, "invalid_client AADSTS7000215: Invalid client secret (HTTP 401)");
}
END_TEST

START_TEST(other_files_are_malformed)
{
    static const struct {
        const char *desc, *text;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"forged second expires",
         GOOD "expires=99999999999\n", 0},
        {"forged line in last_error (an older tokend)",
         "mailbox=" MB "\nexpires=0\nlast_refresh=0\nlast_attempt=0\nfailures=3\n"
         "last_error=invalid_client\nexpires=99999999999\n", 0},
        {"a key missing", "mailbox=" MB "\nexpires=1\nlast_refresh=1\nlast_attempt=1\nfailures=0\n", 0},
        {"an unknown key", GOOD "token=eyJ0\n", 0},
        {"a line without =", GOOD "x\n", 0},
        {"an empty line", GOOD "\n", 0},
        {"no newline at the end", "mailbox=" MB "\nexpires=1\nlast_refresh=1\nlast_attempt=1\n"
                                  "failures=0\nlast_error=", 0},
        {"NUL inside", "mailbox=" MB "\nexpires=1\0\nlast_refresh=1\nlast_attempt=1\nfailures=0\n"
                       "last_error=\n", 79},
        {"CR in a value", "mailbox=" MB "\nexpires=1\nlast_refresh=1\nlast_attempt=1\nfailures=0\n"
                          "last_error=x\r\n", 0},
        {"escape code in last_error", "mailbox=" MB "\nexpires=1\nlast_refresh=1\nlast_attempt=1\n"
                                      "failures=0\nlast_error=\033[31m\n", 0},
        {"another mailbox", "mailbox=scanner@contoso.com\nexpires=1\nlast_refresh=1\nlast_attempt=1\n"
                            "failures=0\nlast_error=\n", 0},
        {"a mailbox that only starts the same", "mailbox=" MB "x\nexpires=1\nlast_refresh=1\n"
                                                "last_attempt=1\nfailures=0\nlast_error=\n", 0},
        {"a negative number", "mailbox=" MB "\nexpires=-1\nlast_refresh=1\nlast_attempt=1\n"
                              "failures=0\nlast_error=\n", 0},
        {"19 digits", "mailbox=" MB "\nexpires=1234567890123456789\nlast_refresh=1\nlast_attempt=1\n"
                      "failures=0\nlast_error=\n", 0},
        {"an empty number", "mailbox=" MB "\nexpires=\nlast_refresh=1\nlast_attempt=1\n"
                            "failures=0\nlast_error=\n", 0},
        {"a number with a space", "mailbox=" MB "\nexpires=1 \nlast_refresh=1\nlast_attempt=1\n"
                                  "failures=0\nlast_error=\n", 0},
        {"empty", "", 0},
    };
    struct tokstate t;
    size_t i, len;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        ck_assert_msg(tokstate_parse(cases[i].text, len, MB, &t) == -1, "accepted: %s",
                      cases[i].desc);
        ck_assert_msg(t.expires == 0 && t.failures == 0 && t.last_error[0] == '\0',
                      "half believed: %s", cases[i].desc);
    }
}
END_TEST

START_TEST(the_cap_is_the_whole_file_and_last_error_is_bounded)
{
    size_t pre = strlen("mailbox=" MB "\nexpires=1\nlast_refresh=1\nlast_attempt=1\nfailures=0\n"
                        "last_error="),
           n = TOKSTATE_MAX_FILE - pre - 1;
    char *buf = malloc(TOKSTATE_MAX_FILE + 1);
    struct tokstate t;

    memcpy(buf, "mailbox=" MB "\nexpires=1\nlast_refresh=1\nlast_attempt=1\nfailures=0\nlast_error=",
           pre);
    memset(buf + pre, 'e', n);
    buf[pre + n] = '\n'; /* exactly TOKSTATE_MAX_FILE bytes: read, last_error cut to its cap */
    ck_assert_int_eq(tokstate_parse(buf, TOKSTATE_MAX_FILE, MB, &t), 0);
    ck_assert_uint_eq(strlen(t.last_error), TOKSTATE_MAX_ERROR);
    buf[pre + n] = 'e'; /* one more byte: malformed, not cut short to something that parses */
    buf[pre + n + 1] = '\n';
    ck_assert_int_eq(tokstate_parse(buf, TOKSTATE_MAX_FILE + 1, MB, &t), -1);
    free(buf);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tokstate");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, what_tokend_writes_is_read_back);
    tcase_add_test(tc, other_files_are_malformed);
    tcase_add_test(tc, the_cap_is_the_whole_file_and_last_error_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
