/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of oauth_parse_response: the token endpoint's answers as the
 * Microsoft identity platform gives them (a token; invalid_client with
 * AADSTS7000215; other errors), and answers that are not JSON, lack fields or
 * are cut short.  The parser takes (buf, len) and never trusts a NUL.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "aadsts.h"
#include "oauth.h"

START_TEST(token_answer)
{
    static const char a[] = "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
                            "\"ext_expires_in\":3599,\"access_token\":\"eyJ0eXAi.abc.def\"}";
    struct oauth_result r;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(oauth_parse_response(a, sizeof(a) - 1, 200, &r), 0);
    ck_assert_str_eq(r.access_token, "eyJ0eXAi.abc.def");
    ck_assert_int_eq(r.expires_in, 3599);
    ck_assert_str_eq(r.error, "");
    oauth_result_clear(&r);
}
END_TEST

START_TEST(bad_secret_gives_invalid_client_and_the_aadsts_code)
{
    static const char a[] =
        "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
        "secret provided. Ensure the secret being sent in the request is the client secret "
        "value, not the client secret ID.\\r\\nTrace ID: 1\\r\\nCorrelation ID: 2\","
        "\"error_codes\":[7000215]}";
    struct oauth_result r;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(oauth_parse_response(a, sizeof(a) - 1, 401, &r), -1);
    ck_assert_ptr_null(r.access_token);
    ck_assert_str_eq(r.error, "invalid_client");
    ck_assert_str_eq(r.aadsts, "AADSTS7000215");
    ck_assert_ptr_nonnull(strstr(r.description, "Invalid client secret provided"));
    ck_assert_ptr_null(strstr(r.description, "Trace ID")); /* first line only */
    ck_assert_int_eq(r.http_status, 401);
    oauth_result_clear(&r);
}
END_TEST

/* the identity platform's codes as fixes (doctor --remote shows tokend's last error): a
 * known code anywhere in the text, the whole code only (AADSTS70001 is not AADSTS700016) */
START_TEST(aadsts_codes_give_their_fix)
{
    const char *a = aadsts_advice("invalid_client AADSTS7000215: Invalid client secret (HTTP 401)");

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(strstr(a, "client secret is wrong"));
    ck_assert_ptr_nonnull(strstr(aadsts_advice("AADSTS700016: app not found"), "oauth_client_id"));
    ck_assert_ptr_nonnull(strstr(aadsts_advice("x AADSTS7000222 y"), "expired"));
    ck_assert_ptr_null(aadsts_advice("AADSTS70001: prefix of a known code"));
    ck_assert_ptr_null(aadsts_advice("AADSTS7000215999999999999: longer than any code"));
    ck_assert_ptr_null(aadsts_advice("AADSTS"));
    ck_assert_ptr_null(aadsts_advice("network: timeout"));
    ck_assert_ptr_null(aadsts_advice(NULL));
}
END_TEST

START_TEST(malformed_answers_are_errors)
{
    static const struct {
        const char *desc, *body;
        long status;
    } cases[] = {
        {"not JSON", "<html>502 Bad Gateway</html>", 502},
        {"empty", "", 200},
        {"cut short", "{\"access_token\":\"abc\",\"expires_in\":35", 200},
        {"no expires_in", "{\"access_token\":\"abc\"}", 200},
        {"expires_in zero", "{\"access_token\":\"abc\",\"expires_in\":0}", 200},
        {"empty token", "{\"access_token\":\"\",\"expires_in\":3599}", 200},
        {"token but not 200", "{\"access_token\":\"abc\",\"expires_in\":3599}", 500},
        {"an array", "[1,2,3]", 200},
        {"error not a string", "{\"error\":[7005]}", 400},
        {"error empty", "{\"error\":\"\"}", 400},
        {"error starting with a newline", "{\"error\":\"\\nexpires=9\"}", 400},
    };
    struct oauth_result r;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        ck_assert_msg(oauth_parse_response(cases[i].body, strlen(cases[i].body), cases[i].status,
                                           &r) == -1,
                      "accepted: %s", cases[i].desc);
        ck_assert_ptr_null(r.access_token);
        ck_assert_msg(r.error[0] != '\0', "no error for: %s", cases[i].desc);
        oauth_result_clear(&r);
    }
}
END_TEST

START_TEST(tokens_that_are_not_bearer_tokens_are_errors)
{
    static const struct {
        const char *desc, *body;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"escape code", "{\"access_token\":\"eyJ0\\u001b[31mabc\",\"expires_in\":3599}", 0},
        {"NUL escaped", "{\"access_token\":\"eyJ0\\u0000forged\",\"expires_in\":3599}", 0},
        {"space", "{\"access_token\":\"eyJ0 eXAi\",\"expires_in\":3599}", 0},
        {"newline", "{\"access_token\":\"eyJ0\\nexpires 9\",\"expires_in\":3599}", 0},
        {"number", "{\"access_token\":1234567890,\"expires_in\":3599}", 0},
        {"array", "{\"access_token\":[\"eyJ0\"],\"expires_in\":3599}", 0},
        {"object", "{\"access_token\":{\"a\":1},\"expires_in\":3599}", 0},
        {"non-ascii", "{\"access_token\":\"eyJ0\\u00e9\",\"expires_in\":3599}", 0},
    };
    struct oauth_result r;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        ck_assert_msg(oauth_parse_response(cases[i].body, strlen(cases[i].body), 200, &r) == -1,
                      "accepted: %s", cases[i].desc);
        ck_assert_ptr_null(r.access_token);
        ck_assert_str_eq(r.error, "bad_response");
        ck_assert_msg(strstr(r.description, "access_token"), "%s: %s", cases[i].desc,
                      r.description);
        oauth_result_clear(&r);
    }
}
END_TEST

START_TEST(a_token_over_8_kb_is_an_error)
{
    size_t n = 8193, pre;
    char *a = malloc(n + 64);
    struct oauth_result r;

    memset(&r, 0, sizeof(r));
    pre = (size_t)snprintf(a, 64, "{\"expires_in\":3599,\"access_token\":\"");
    memset(a + pre, 'A', n);
    memcpy(a + pre + n, "\"}", 2);
    ck_assert_int_eq(oauth_parse_response(a, pre + n + 2, 200, &r), -1);
    ck_assert_ptr_nonnull(strstr(r.description, "longer than 8192"));
    oauth_result_clear(&r);
    memset(&r, 0, sizeof(r));
    a[pre + n - 1] = '"', a[pre + n] = '}'; /* 8192: accepted */
    ck_assert_int_eq(oauth_parse_response(a, pre + n + 1, 200, &r), 0);
    ck_assert_uint_eq(strlen(r.access_token), 8192);
    oauth_result_clear(&r);
    free(a);
}
END_TEST

START_TEST(error_texts_are_one_clean_line_with_the_code_once)
{
    static const char a[] =
        "{\"error\":\"invalid_client\\nexpires=9\\u001b[31m\",\"error_description\":"
        "\"AADSTS7000215: forged\\u001b]0;x\\u0007 text\\nexpires=99999999999\\r\\n\"}";
    struct oauth_result r;
    const char *p;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(oauth_parse_response(a, sizeof(a) - 1, 400, &r), -1);
    for (p = r.error; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p < 0x7f, "control character in error");
    for (p = r.description; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p < 0x7f, "control character in description");
    ck_assert_str_eq(r.error, "invalid_client");
    ck_assert_str_eq(r.aadsts, "AADSTS7000215");
    ck_assert_str_eq(r.description, "forged?]0;x? text");
    oauth_result_clear(&r);
}
END_TEST

START_TEST(length_is_authoritative_and_capped)
{
    static const char a[] = "{\"access_token\":\"abc\",\"expires_in\":60}TRAILING";
    struct oauth_result r;
    char *big;

    memset(&r, 0, sizeof(r));
    /* only the object: the bytes after len are not read */
    ck_assert_int_eq(oauth_parse_response(a, strlen(a) - 8, 200, &r), 0);
    oauth_result_clear(&r);
    big = malloc(OAUTH_MAX_RESPONSE + 2);
    memset(big, ' ', OAUTH_MAX_RESPONSE + 2);
    memcpy(big, a, strlen(a) - 8);
    ck_assert_int_eq(oauth_parse_response(big, OAUTH_MAX_RESPONSE + 1, 200, &r), -1);
    oauth_result_clear(&r);
    free(big);
}
END_TEST

START_TEST(answer_fields_of_the_wrong_type_or_kind_are_errors)
{
    /* siblings of a token that is not a token: the rest of a 200 answer that is not what
     * RFC 6749 5.1 says -- a token of another type cannot be sent as "auth=Bearer", and an
     * expires_in json-c would coerce (true is 1, "3599abc" is 3599) is no lifetime */
    static const struct {
        const char *desc, *body, *why;
    } bad[] = {
        {"token_type pop", "{\"token_type\":\"pop\",\"expires_in\":3599,\"access_token\":\"eyJ0\"}",
         "token_type"},
        {"token_type N_A", "{\"token_type\":\"N_A\",\"expires_in\":3599,\"access_token\":\"eyJ0\"}",
         "token_type"},
        {"token_type a number", "{\"token_type\":5,\"expires_in\":3599,\"access_token\":\"eyJ0\"}",
         "token_type"},
        {"token_type Bearer with more", "{\"token_type\":\"Bearerx\",\"expires_in\":3599,"
         "\"access_token\":\"eyJ0\"}", "token_type"},
        {"expires_in true", "{\"expires_in\":true,\"access_token\":\"eyJ0\"}", "expires_in"},
        {"expires_in 3599abc", "{\"expires_in\":\"3599abc\",\"access_token\":\"eyJ0\"}",
         "expires_in"},
        {"expires_in empty string", "{\"expires_in\":\"\",\"access_token\":\"eyJ0\"}", "expires_in"},
        {"expires_in -5 string", "{\"expires_in\":\"-5\",\"access_token\":\"eyJ0\"}", "expires_in"},
        {"expires_in a fraction", "{\"expires_in\":3599.5,\"access_token\":\"eyJ0\"}", "expires_in"},
        {"expires_in 1e30", "{\"expires_in\":1e30,\"access_token\":\"eyJ0\"}", "expires_in"},
        {"expires_in 2^63", "{\"expires_in\":9223372036854775808,\"access_token\":\"eyJ0\"}",
         "expires_in"},
        {"expires_in an array", "{\"expires_in\":[3599],\"access_token\":\"eyJ0\"}", "expires_in"},
        {"garbage after the answer", "{\"expires_in\":3599,\"access_token\":\"eyJ0\"}x\033[31m",
         "after"},
        {"a second object", "{\"expires_in\":3599,\"access_token\":\"eyJ0\"}{}", "after"},
    };
    static const struct {
        const char *desc, *body;
        long expires_in;
    } good[] = {
        {"token_type bearer (case does not matter)",
         "{\"token_type\":\"bearer\",\"expires_in\":3599,\"access_token\":\"eyJ0\"}", 3599},
        {"no token_type", "{\"expires_in\":3599,\"access_token\":\"eyJ0\"}", 3599},
        {"expires_in as a string of digits (v1 endpoint)",
         "{\"token_type\":\"Bearer\",\"expires_in\":\"3599\",\"access_token\":\"eyJ0\"}", 3599},
        {"white space after the answer", "{\"expires_in\":60,\"access_token\":\"eyJ0\"}\r\n \t", 60},
    };
    struct oauth_result r;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0, sizeof(r));
        ck_assert_msg(oauth_parse_response(bad[i].body, strlen(bad[i].body), 200, &r) == -1,
                      "accepted: %s", bad[i].desc);
        ck_assert_ptr_null(r.access_token);
        ck_assert_str_eq(r.error, "bad_response");
        ck_assert_msg(strstr(r.description, bad[i].why), "%s: %s", bad[i].desc, r.description);
        oauth_result_clear(&r);
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&r, 0, sizeof(r));
        ck_assert_msg(oauth_parse_response(good[i].body, strlen(good[i].body), 200, &r) == 0,
                      "refused: %s: %s", good[i].desc, r.description);
        ck_assert_int_eq(r.expires_in, good[i].expires_in);
        oauth_result_clear(&r);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("oauth");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, token_answer);
    tcase_add_test(tc, bad_secret_gives_invalid_client_and_the_aadsts_code);
    tcase_add_test(tc, malformed_answers_are_errors);
    tcase_add_test(tc, aadsts_codes_give_their_fix);
    tcase_add_test(tc, length_is_authoritative_and_capped);
    tcase_add_test(tc, tokens_that_are_not_bearer_tokens_are_errors);
    tcase_add_test(tc, a_token_over_8_kb_is_an_error);
    tcase_add_test(tc, error_texts_are_one_clean_line_with_the_code_once);
    tcase_add_test(tc, answer_fields_of_the_wrong_type_or_kind_are_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(suite(), CK_FORK_GETENV);
}
