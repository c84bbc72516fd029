/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of xoauth2: the initial response against Microsoft's published
 * example, base64 and base64url, and the token file parser and its caps.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "xoauth2.h"

/* learn.microsoft.com: authenticate an IMAP, POP or SMTP application by using OAuth */
#define MS_USER "someuser@example.com"
#define MS_TOKEN "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
#define MS_B64                                                                               \
    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQm" \
    "hkSFJoZG1semRHRXVZMjl0Q2cBAQ=="

START_TEST(response_matches_microsofts_example)
{
    char raw[256], b64[512];
    size_t n = xoauth2_response(MS_USER, strlen(MS_USER), MS_TOKEN, strlen(MS_TOKEN), raw,
                                sizeof(raw));

    ck_assert_uint_gt(n, 0);
    ck_assert_mem_eq(raw, "user=" MS_USER "\001auth=Bearer " MS_TOKEN "\001\001", n);
    ck_assert_uint_gt(xoauth2_base64((unsigned char *)raw, n, 0, b64, sizeof(b64)), 0);
    ck_assert_str_eq(b64, MS_B64);
}
END_TEST

START_TEST(response_refuses_what_does_not_fit_or_is_unsafe)
{
    char raw[256];

    ck_assert_uint_eq(xoauth2_response(MS_USER, strlen(MS_USER), MS_TOKEN, strlen(MS_TOKEN),
                                       raw, 40),
                      0);
    ck_assert_uint_eq(xoauth2_response("a@b", 3, "to\001ken", 7, raw, sizeof(raw)), 0);
    ck_assert_uint_eq(xoauth2_response("a b@c", 5, "tok", 3, raw, sizeof(raw)), 0);
    ck_assert_uint_eq(xoauth2_response("", 0, "tok", 3, raw, sizeof(raw)), 0);
}
END_TEST

START_TEST(base64_and_base64url_padding)
{
    static const struct {
        const char *in, *std, *url;
    } cases[] = {{"", "", ""},          {"f", "Zg==", "Zg"},       {"fo", "Zm8=", "Zm8"},
                 {"foo", "Zm9v", "Zm9v"}, {"\xfb\xff", "+/8=", "-_8"}};
    char out[32];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xoauth2_base64((const unsigned char *)cases[i].in, strlen(cases[i].in), 0, out,
                       sizeof(out));
        ck_assert_str_eq(out, cases[i].std);
        xoauth2_base64((const unsigned char *)cases[i].in, strlen(cases[i].in), 1, out,
                       sizeof(out));
        ck_assert_str_eq(out, cases[i].url);
    }
    ck_assert_uint_eq(xoauth2_base64((const unsigned char *)"foo", 3, 0, out, 4), 0);
}
END_TEST

START_TEST(token_file_round_trip)
{
    char file[256];
    const char *tok;
    size_t n = xoauth2_token_format(1700000000, MS_TOKEN, strlen(MS_TOKEN), file, sizeof(file)),
           tlen;
    time_t exp;

    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(xoauth2_token_parse(file, n, &exp, &tok, &tlen), 0);
    ck_assert_int_eq((long long)exp, 1700000000LL);
    ck_assert_uint_eq(tlen, strlen(MS_TOKEN));
    ck_assert_mem_eq(tok, MS_TOKEN, tlen);
}
END_TEST

START_TEST(token_file_malformed_is_refused)
{
    static const char *bad[] = {
        "",
        "expires \ntoken x\n",
        "expires 12\ntoken x",           /* no final newline: maybe cut short */
        "expires 12\ntoken \n",          /* empty token */
        "expires 12\ntoken a b\n",       /* space in the token */
        "expires 12x\ntoken abc\n",
        "expires 99999999999999999999\ntoken abc\n",
        "token abc\nexpires 12\n",
    };
    const char *tok;
    size_t i, tlen;
    time_t exp;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(xoauth2_token_parse(bad[i], strlen(bad[i]), &exp, &tok, &tlen) == -1,
                      "accepted case %zu", i);
}
END_TEST

START_TEST(token_file_cap)
{
    size_t len = XOAUTH2_MAX_TOKEN + 2, n;
    char *tok = malloc(len), *file = malloc(len + 64);
    const char *t;
    size_t tlen;
    time_t exp;

    memset(tok, 'a', len);
    ck_assert_uint_eq(xoauth2_token_format(1, tok, len, file, len + 64), 0);
    n = (size_t)snprintf(file, len + 64, "expires 1\ntoken %.*s\n", (int)len, tok);
    ck_assert_int_eq(xoauth2_token_parse(file, n, &exp, &t, &tlen), -1);
    free(tok);
    free(file);
}
END_TEST

START_TEST(mailbox_names_for_files)
{
    ck_assert(xoauth2_valid_mailbox("relay@contoso.com"));
    ck_assert(!xoauth2_valid_mailbox("../etc@passwd"));
    ck_assert(!xoauth2_valid_mailbox("a/b@c"));
    ck_assert(!xoauth2_valid_mailbox("nodomain"));
    ck_assert(!xoauth2_valid_mailbox("@contoso.com"));
    ck_assert(!xoauth2_valid_mailbox(".hidden@contoso.com"));
}
END_TEST

/* An Entra access token's shape: three base64url parts joined by dots (shortened). */
#define ENTRA_LIKE "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbSJ9.c2ln-_"

START_TEST(tokens_are_rfc6750_b64token)
{
    static const struct {
        const char *name, *tok;
        size_t len; /* 0: strlen */
        int ok;
    } cases[] = {
        {"jwt with dots", ENTRA_LIKE, 0, 1},
        {"opaque with padding", "ya29.vF9dft4+/~_-Q==", 0, 1},
        {"only padding", "==", 0, 0},
        {"padding in the middle", "ab=cd", 0, 0},
        {"empty", "", 0, 0},
        {"space", "eyJ0 eXAi", 0, 0},
        {"escape code", "eyJ0\033[31m", 0, 0},
        {"newline", "eyJ0\nexpires 1", 0, 0},
        {"nul inside", "eyJ0\0forged", 12, 0},
        {"quote", "eyJ0\"x", 0, 0},
        {"non-ascii", "eyJ0\xc3\xa9", 0, 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(xoauth2_valid_token(cases[i].tok, cases[i].len ? cases[i].len
                                                                     : strlen(cases[i].tok)) ==
                          cases[i].ok,
                      "%s", cases[i].name);
}
END_TEST

START_TEST(token_cap_is_8_kb)
{
    char *tok = malloc(XOAUTH2_MAX_TOKEN + 1);

    memset(tok, 'A', XOAUTH2_MAX_TOKEN + 1);
    ck_assert_int_eq(XOAUTH2_MAX_TOKEN, 8192);
    ck_assert(xoauth2_valid_token(tok, XOAUTH2_MAX_TOKEN));
    ck_assert(!xoauth2_valid_token(tok, XOAUTH2_MAX_TOKEN + 1));
    free(tok);
}
END_TEST

START_TEST(token_file_check_says_why)
{
    static const struct {
        const char *file, *why;
    } cases[] = {
        {"expires 12\ntoken abc", "no final newline"},
        {"expires 12\ntoken a b\n", "characters a bearer token cannot have"},
        {"token abc\n", "does not start with"},
        {"expires 12x\ntoken abc\n", "not followed by a newline"},
        {"expires 12\nbearer abc\n", "no \"token \" line"},
    };
    const char *tok, *why;
    size_t i, tlen;
    time_t exp;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = xoauth2_token_check(cases[i].file, strlen(cases[i].file), &exp, &tok, &tlen);
        ck_assert_msg(why && strstr(why, cases[i].why), "case %zu: %s", i, why ? why : "NULL");
    }
    ck_assert_ptr_null(xoauth2_token_check("expires 1\ntoken " ENTRA_LIKE "\n",
                                           strlen("expires 1\ntoken " ENTRA_LIKE "\n"), &exp,
                                           &tok, &tlen));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("xoauth2");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, response_matches_microsofts_example);
    tcase_add_test(tc, response_refuses_what_does_not_fit_or_is_unsafe);
    tcase_add_test(tc, base64_and_base64url_padding);
    tcase_add_test(tc, token_file_round_trip);
    tcase_add_test(tc, token_file_malformed_is_refused);
    tcase_add_test(tc, token_file_cap);
    tcase_add_test(tc, mailbox_names_for_files);
    tcase_add_test(tc, tokens_are_rfc6750_b64token);
    tcase_add_test(tc, token_cap_is_8_kb);
    tcase_add_test(tc, token_file_check_says_why);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(suite(), CK_FORK_GETENV);
}
