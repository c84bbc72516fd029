/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of sockspec (the one parser of the socket syntax of milter_socket
 * and policy_socket): every form, the port's bounds, the host's cap.
 */
#include <check.h>
#include <string.h>

#include "sockspec.h"
#include "unit.h"

/* What the daemons accept, and where the pieces are. */
START_TEST(test_forms)
{
    static const struct {
        const char *spec;
        int rc;
        enum sockspec_kind kind;
        const char *path;
        unsigned port;
        const char *host;
    } cases[] = {
        {"unix:/run/sendas/milter.sock", 0, SOCKSPEC_UNIX, "/run/sendas/milter.sock", 0, ""},
        {"local:/run/x.sock", 0, SOCKSPEC_UNIX, "/run/x.sock", 0, ""},
        {"/run/x.sock", 0, SOCKSPEC_UNIX, "/run/x.sock", 0, ""},
        {"inet:8891@127.0.0.1", 0, SOCKSPEC_INET, NULL, 8891, "127.0.0.1"},
        {"inet:8891", 0, SOCKSPEC_INET, NULL, 8891, ""},
        {"inet6:1@::1", 0, SOCKSPEC_INET6, NULL, 1, "::1"},
        {"inet:65535@localhost", 0, SOCKSPEC_INET, NULL, 65535, "localhost"},
        /* refused */
        {"unix:relative.sock", -1, 0, NULL, 0, ""},
        {"local:", -1, 0, NULL, 0, ""},
        {"relative.sock", -1, 0, NULL, 0, ""},
        {"inet:0@127.0.0.1", -1, 0, NULL, 0, ""},
        {"inet:65536", -1, 0, NULL, 0, ""},
        {"inet:4294967297", -1, 0, NULL, 0, ""},
        {"inet:", -1, 0, NULL, 0, ""},
        {"inet:+25", -1, 0, NULL, 0, ""},
        {"inet:25x", -1, 0, NULL, 0, ""},
        {"inet:25@", -1, 0, NULL, 0, ""},
        {"tcp:25@host", -1, 0, NULL, 0, ""},
        {"", -1, 0, NULL, 0, ""},
    };
    struct sockspec ss;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(sockspec_parse(cases[i].spec, &ss) == cases[i].rc, "%s", cases[i].spec);
        if (cases[i].rc != 0)
            continue;
        ck_assert_int_eq(ss.kind, cases[i].kind);
        if (cases[i].path)
            ck_assert_str_eq(ss.path, cases[i].path);
        ck_assert_uint_eq(ss.port, cases[i].port);
        ck_assert_str_eq(ss.host, cases[i].host);
    }
}
END_TEST

/* A host of SOCKSPEC_MAX_HOST bytes fits, one more is refused (never cut). */
START_TEST(test_host_cap)
{
    char spec[16 + SOCKSPEC_MAX_HOST + 2];
    struct sockspec ss;

    memcpy(spec, "inet:25@", 8);
    memset(spec + 8, 'h', SOCKSPEC_MAX_HOST);
    spec[8 + SOCKSPEC_MAX_HOST] = '\0';
    ck_assert_int_eq(sockspec_parse(spec, &ss), 0);
    ck_assert_uint_eq(strlen(ss.host), SOCKSPEC_MAX_HOST);
    spec[8 + SOCKSPEC_MAX_HOST] = 'h';
    spec[9 + SOCKSPEC_MAX_HOST] = '\0';
    ck_assert_int_eq(sockspec_parse(spec, &ss), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sockspec");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_forms);
    tcase_add_test(tc, test_host_cap);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
