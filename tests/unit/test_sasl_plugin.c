/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the XOAUTH2 SASL client plugin, loaded by libsasl2 from the
 * build tree (SASL_PATH) as Postfix's smtp loads it: the initial response
 * from a token file, the answer to a server's error challenge (an empty
 * response, then failure), and a missing, expired or malformed token, which
 * must fail on the client side so that Postfix defers the mail.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>

#include "unit.h"

#ifndef PLUGIN_DIR
#define PLUGIN_DIR "sasl"
#endif

const char *__asan_default_options(void);
/* __asan_default_options - libsasl2 keeps its plugin list until exit */
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

static char dir[64], password[256], user[64] = "relay@contoso.com";

static int get_user(void *ctx, int id, const char **res, unsigned *len)
{
    (void)ctx, (void)id;
    *res = user;
    if (len)
        *len = (unsigned)strlen(*res);
    return SASL_OK;
}

static int get_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **out)
{
    static unsigned char buf[sizeof(sasl_secret_t) + sizeof(password)];
    sasl_secret_t *s = (sasl_secret_t *)buf;

    (void)conn, (void)ctx, (void)id;
    s->len = strlen(password);
    memcpy(s->data, password, s->len + 1);
    *out = s;
    return SASL_OK;
}

static sasl_callback_t callbacks[] = {
    {SASL_CB_USER, (int (*)(void))get_user, NULL},
    {SASL_CB_AUTHNAME, (int (*)(void))get_user, NULL},
    {SASL_CB_PASS, (int (*)(void))get_pass, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* write_token - the token file sendas-tokend would write, expiring at exp */
static void write_token(const char *content)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/relay@contoso.com", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs(content, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_sasl_plugin.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(password, sizeof(password), "token:%s/relay@contoso.com", dir);
    snprintf(user, sizeof(user), "relay@contoso.com");
    setenv("SASL_PATH", PLUGIN_DIR, 1);
    ck_assert_int_eq(sasl_client_init(callbacks), SASL_OK);
}

static void teardown(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/relay@contoso.com", dir);
    unlink(path);
    rmdir(dir);
    sasl_client_done();
}

/* start - sasl_client_start with XOAUTH2; returns its status */
static int start(sasl_conn_t **conn, const char **out, unsigned *outlen)
{
    const char *mech = NULL;

    ck_assert_int_eq(sasl_client_new("smtp", "localhost", NULL, NULL, callbacks, 0, conn),
                     SASL_OK);
    return sasl_client_start(*conn, "XOAUTH2", NULL, out, outlen, &mech);
}

START_TEST(initial_response_from_the_token_file)
{
    char file[256];
    sasl_conn_t *conn;
    const char *out = NULL;
    unsigned outlen = 0;
    static const char want[] = "user=relay@contoso.com\001auth=Bearer tok-123\001\001";

    snprintf(file, sizeof(file), "expires %lld\ntoken tok-123\n", (long long)time(NULL) + 3600);
    write_token(file);
    ck_assert_int_eq(start(&conn, &out, &outlen), SASL_CONTINUE);
    ck_assert_uint_eq(outlen, sizeof(want) - 1);
    ck_assert_mem_eq(out, want, outlen);
    sasl_dispose(&conn);
}
END_TEST

START_TEST(error_challenge_gets_an_empty_response_then_failure)
{
    static const char challenge[] = "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"x\"}";
    char file[256];
    sasl_conn_t *conn;
    const char *out = NULL;
    unsigned outlen = 0;

    snprintf(file, sizeof(file), "expires %lld\ntoken tok-123\n", (long long)time(NULL) + 3600);
    write_token(file);
    ck_assert_int_eq(start(&conn, &out, &outlen), SASL_CONTINUE);
    ck_assert_int_eq(sasl_client_step(conn, challenge, sizeof(challenge) - 1, NULL, &out, &outlen),
                     SASL_CONTINUE);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_int_ne(sasl_client_step(conn, "", 0, NULL, &out, &outlen), SASL_OK);
    ck_assert_int_ne(sasl_client_step(conn, "", 0, NULL, &out, &outlen), SASL_CONTINUE);
    sasl_dispose(&conn);
}
END_TEST

START_TEST(expired_token_fails_on_the_client_side)
{
    char file[256];
    sasl_conn_t *conn;
    const char *out = NULL;
    unsigned outlen = 0;

    snprintf(file, sizeof(file), "expires %lld\ntoken tok-123\n", (long long)time(NULL) - 10);
    write_token(file);
    ck_assert_int_eq(start(&conn, &out, &outlen), SASL_TRYAGAIN);
    ck_assert_ptr_nonnull(strstr(sasl_errdetail(conn), "expired"));
    sasl_dispose(&conn);
}
END_TEST

START_TEST(missing_token_fails_on_the_client_side)
{
    sasl_conn_t *conn;
    const char *out = NULL;
    unsigned outlen = 0;

    ck_assert_int_eq(start(&conn, &out, &outlen), SASL_TRYAGAIN);
    ck_assert_ptr_nonnull(strstr(sasl_errdetail(conn), "sendas-tokend"));
    sasl_dispose(&conn);
}
END_TEST

START_TEST(malformed_token_or_password_field_fails)
{
    sasl_conn_t *conn;
    const char *out = NULL;
    unsigned outlen = 0;

    write_token("expires soon\ntoken x\n");
    ck_assert_int_eq(start(&conn, &out, &outlen), SASL_FAIL);
    sasl_dispose(&conn);
    snprintf(password, sizeof(password), "a-real-password");
    ck_assert_int_ne(start(&conn, &out, &outlen), SASL_CONTINUE);
    ck_assert_ptr_nonnull(strstr(sasl_errdetail(conn), "token:/PATH"));
    sasl_dispose(&conn);
}
END_TEST

/* Failures the plugin must explain: its message names the cause, not a wrong one. */
START_TEST(failures_say_why)
{
    static const struct {
        const char *name;
        long long expires_in; /* token file "expires now+N\ntoken tok-123\n"; 0: file below */
        const char *file;     /* NULL with expires_in 0: a FIFO (would block a plain open) */
        const char *login, *pw; /* NULL: the defaults */
        int rc;
        const char *says, *not_says;
    } cases[] = {
        {"about to expire", 3, NULL, NULL, NULL, SASL_TRYAGAIN, "expires in 3 seconds", " -"},
        {"malformed, with the reason", 0, "expires 99999999999\ntoken tok 123\n", NULL, NULL,
         SASL_FAIL, "malformed: the token is empty, too long or has characters", NULL},
        {"no final newline", 0, "expires 99999999999\ntoken tok", NULL, NULL, SASL_FAIL,
         "malformed: no final newline", NULL},
        {"login that names no file", 60, NULL, "relay-at-contoso.com", "token", SASL_BADPARAM,
         "the login name \"relay-at-contoso.com\"", "password field"},
        {"FIFO as token file", 0, NULL, NULL, NULL, SASL_FAIL, "not a regular file", NULL},
    };
    char path[128], file[256];
    sasl_conn_t *conn;
    const char *out = NULL, *said;
    unsigned outlen = 0;
    size_t i;

    snprintf(path, sizeof(path), "%s/relay@contoso.com", dir);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unlink(path);
        snprintf(user, sizeof(user), "%s", cases[i].login ? cases[i].login : "relay@contoso.com");
        snprintf(password, sizeof(password), "%s", cases[i].pw ? cases[i].pw : "");
        if (!cases[i].pw)
            snprintf(password, sizeof(password), "token:%s", path);
        if (cases[i].expires_in) {
            snprintf(file, sizeof(file), "expires %lld\ntoken tok-123\n",
                     (long long)time(NULL) + cases[i].expires_in);
            write_token(file);
        } else if (cases[i].file) {
            write_token(cases[i].file);
        } else {
            ck_assert_int_eq(mkfifo(path, 0600), 0);
        }
        alarm(5); /* a blocking open(2) of the FIFO would hang Postfix's smtp */
        ck_assert_msg(start(&conn, &out, &outlen) == cases[i].rc, "%s: rc", cases[i].name);
        alarm(0);
        said = sasl_errdetail(conn);
        ck_assert_msg(strstr(said, cases[i].says), "%s: %s", cases[i].name, said);
        ck_assert_msg(!cases[i].not_says || !strstr(said, cases[i].not_says), "%s: %s",
                      cases[i].name, said);
        sasl_dispose(&conn);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sasl_plugin");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, initial_response_from_the_token_file);
    tcase_add_test(tc, error_challenge_gets_an_empty_response_then_failure);
    tcase_add_test(tc, expired_token_fails_on_the_client_side);
    tcase_add_test(tc, missing_token_fails_on_the_client_side);
    tcase_add_test(tc, malformed_token_or_password_field_fails);
    tcase_add_test(tc, failures_say_why);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(suite(), CK_FORK_GETENV);
}
