/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of oauth_parse_response: the token endpoint's answers as the
 * Microsoft identity platform gives them (a token; invalid_client with
 * AADSTS7000215; other errors), and answers that are not JSON, lack fields or
 * are cut short.  The parser takes (buf, len) and never trusts a NUL.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

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

static Suite *suite(void)
{
    Suite *s = suite_create("oauth");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, token_answer);
    tcase_add_test(tc, bad_secret_gives_invalid_client_and_the_aadsts_code);
    tcase_add_test(tc, malformed_answers_are_errors);
    tcase_add_test(tc, length_is_authoritative_and_capped);
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
