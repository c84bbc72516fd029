/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of polreq (the Postfix policy request parser): good requests,
 * incomplete ones, malformed ones, and every cap.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "buf.h"
#include "polreq.h"

#define RCPT_REQ                                                                                   \
    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"                   \
    "client_address=192.0.2.10\nclient_name=app1.corp.local\nreverse_client_name=app1\n"         \
    "helo_name=app1\nsender=nagios@mon01.corp.local\nrecipient=ops@contoso.com\n"                \
    "recipient_count=0\nqueue_id=\ninstance=1a2b.5f3e4d.7c.0\nsize=1234\netrn_domain=\n"         \
    "stress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\nccert_issuer=\n"       \
    "ccert_fingerprint=\nencryption_protocol=\nencryption_cipher=\nencryption_keysize=0\n"       \
    "policy_context=\nserver_address=127.0.0.1\nserver_port=25\n\n"

static struct polreq req;

static const struct {
    const char *name, *text;
    int want_rc;
    const char *want; /* POLREQ_OK: "field=value" checked below; POLREQ_BAD: error substring */
} cases[] = {
    {"postfix rcpt request", RCPT_REQ, POLREQ_OK, "sender=nagios@mon01.corp.local"},
    {"end of message with counts",
     "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nsender=a@b.c\nrecipient=\n"
     "recipient_count=7\nsize=36700161\nqueue_id=4XyZ1\n\n",
     POLREQ_OK, "recipient_count=7"},
    {"lower-case state", "request=smtpd_access_policy\nprotocol_state=rcpt\n\n", POLREQ_OK,
     "stage=RCPT"},
    {"unknown state", "request=smtpd_access_policy\nprotocol_state=BDAT\n\n", POLREQ_OK,
     "stage=OTHER"},
    {"null sender", "request=smtpd_access_policy\nprotocol_state=MAIL\nsender=\n\n", POLREQ_OK,
     "sender="},
    {"value with = signs", "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a=b@c.d\n\n",
     POLREQ_OK, "sender=a=b@c.d"},
    {"control characters made harmless",
     "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a\rb@c.d\n\n", POLREQ_OK,
     "sender=a?b@c.d"},
    {"unknown attributes skipped",
     "request=smtpd_access_policy\nfuture_thing=x\nprotocol_state=RCPT\n\n", POLREQ_OK,
     "stage=RCPT"},
    {"nothing yet", "", POLREQ_MORE, NULL},
    {"half a line", "request=smtpd_acc", POLREQ_MORE, NULL},
    {"no empty line yet", "request=smtpd_access_policy\nprotocol_state=RCPT\n", POLREQ_MORE, NULL},
    {"empty request", "\n", POLREQ_BAD, "empty request"},
    {"line without =", "request=smtpd_access_policy\nbogus\n\n", POLREQ_BAD, "without '='"},
    {"empty name", "request=smtpd_access_policy\n=x\n\n", POLREQ_BAD, "invalid attribute name"},
    {"space in name", "request=smtpd_access_policy\nbad name=x\n\n", POLREQ_BAD,
     "invalid attribute name"},
    {"no request attribute", "protocol_state=RCPT\n\n", POLREQ_BAD, "no request attribute"},
    {"other request type", "request=junk\nprotocol_state=RCPT\n\n", POLREQ_BAD,
     "not smtpd_access_policy"},
    {"no protocol state", "request=smtpd_access_policy\n\n", POLREQ_BAD, "no protocol_state"},
    {"attribute twice",
     "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b\nsender=c@d\n\n", POLREQ_BAD,
     "given twice"},
    {"count not a number",
     "request=smtpd_access_policy\nprotocol_state=DATA\nrecipient_count=7x\n\n", POLREQ_BAD,
     "recipient_count is not a number"},
    {"size too big a number",
     "request=smtpd_access_policy\nprotocol_state=DATA\nsize=99999999999999999999\n\n",
     POLREQ_BAD, "size is not a number"},
};

/* field - the value of a named member of req, formatted */
static void field(const char *name, struct buf *out)
{
    if (strcmp(name, "sender") == 0)
        buf_puts(out, req.sender);
    else if (strcmp(name, "recipient_count") == 0)
        buf_printf(out, "%llu", req.recipient_count);
    else if (strcmp(name, "stage") == 0)
        buf_puts(out, polreq_stage_name(req.stage));
}

START_TEST(test_cases)
{
    char err[256] = "";
    size_t used = 99, len = strlen(cases[_i].text);
    int rc = polreq_parse(&req, cases[_i].text, len, &used, err, sizeof(err));

    ck_assert_msg(rc == cases[_i].want_rc, "%s: rc %d, want %d (%s)", cases[_i].name, rc,
                  cases[_i].want_rc, err);
    if (rc == POLREQ_OK) {
        const char *eq = strchr(cases[_i].want, '=');
        char name[64];
        struct buf v;

        ck_assert_uint_eq(used, len);
        memcpy(name, cases[_i].want, (size_t)(eq - cases[_i].want));
        name[eq - cases[_i].want] = '\0';
        buf_init(&v, 4096);
        field(name, &v);
        ck_assert_msg(strcmp(buf_cstr(&v), eq + 1) == 0, "%s: %s is \"%s\"", cases[_i].name, name,
                      buf_cstr(&v));
        buf_free(&v);
    } else if (rc == POLREQ_BAD) {
        ck_assert_msg(strstr(err, cases[_i].want) != NULL, "%s: error \"%s\", want \"%s\"",
                      cases[_i].name, err, cases[_i].want);
    } else {
        ck_assert_uint_eq(used, 0);
    }
}
END_TEST

START_TEST(test_postfix_fields)
{
    char err[256];
    size_t used;

    ck_assert_int_eq(polreq_parse(&req, RCPT_REQ, strlen(RCPT_REQ), &used, err, sizeof(err)),
                     POLREQ_OK);
    ck_assert_int_eq(req.stage, POLREQ_RCPT);
    ck_assert_str_eq(req.client_address, "192.0.2.10");
    ck_assert_str_eq(req.client_name, "app1.corp.local");
    ck_assert_str_eq(req.recipient, "ops@contoso.com");
    ck_assert_str_eq(req.instance, "1a2b.5f3e4d.7c.0");
    ck_assert_str_eq(req.queue_id, "");
    ck_assert_str_eq(req.sasl_username, "");
    ck_assert_uint_eq(req.size, 1234);
    ck_assert_uint_eq(req.nattrs, 27);
}
END_TEST

/* Every kept attribute, each with its own value, lands in its own field (in an order
 * unlike the parser's table, so a mapping that follows the order would show). */
START_TEST(test_each_attribute_its_field)
{
    static const char q[] = "size=77\ninstance=I\nsasl_username=U\nclient_name=N\n"
                            "client_address=192.0.2.9\nrecipient=R@x.y\nsender=S@x.y\n"
                            "queue_id=Q\nprotocol_state=END-OF-MESSAGE\nrecipient_count=3\n"
                            "request=smtpd_access_policy\n\n";
    char err[256];
    size_t used;

    ck_assert_int_eq(polreq_parse(&req, q, strlen(q), &used, err, sizeof(err)), POLREQ_OK);
    ck_assert_uint_eq(used, strlen(q));
    ck_assert_int_eq(req.stage, POLREQ_EOM);
    ck_assert_str_eq(req.protocol_state, "END-OF-MESSAGE");
    ck_assert_str_eq(req.queue_id, "Q");
    ck_assert_str_eq(req.sender, "S@x.y");
    ck_assert_str_eq(req.recipient, "R@x.y");
    ck_assert_str_eq(req.client_address, "192.0.2.9");
    ck_assert_str_eq(req.client_name, "N");
    ck_assert_str_eq(req.sasl_username, "U");
    ck_assert_str_eq(req.instance, "I");
    ck_assert_uint_eq(req.recipient_count, 3);
    ck_assert_uint_eq(req.size, 77);
    ck_assert_uint_eq(req.nattrs, 11);
}
END_TEST

/* Two requests back to back (a pipelining client): one at a time, each consumed exactly. */
START_TEST(test_two_requests)
{
    const char two[] = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b.c\n\n"
                       "request=smtpd_access_policy\nprotocol_state=DATA\nsender=d@e.f\n\n";
    char err[256];
    size_t used, first;

    ck_assert_int_eq(polreq_parse(&req, two, sizeof(two) - 1, &used, err, sizeof(err)), POLREQ_OK);
    ck_assert_str_eq(req.sender, "a@b.c");
    first = used;
    ck_assert_int_eq(polreq_parse(&req, two + first, sizeof(two) - 1 - first, &used, err,
                                  sizeof(err)),
                     POLREQ_OK);
    ck_assert_str_eq(req.sender, "d@e.f");
    ck_assert_int_eq(req.stage, POLREQ_DATA);
    ck_assert_uint_eq(first + used, sizeof(two) - 1);
}
END_TEST

/* A NUL byte inside a line: the input is not trusted to be a C string. */
START_TEST(test_nul_byte)
{
    const char t[] = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a\0b@c\n\n";
    char err[256];
    size_t used;

    ck_assert_int_eq(polreq_parse(&req, t, sizeof(t) - 1, &used, err, sizeof(err)), POLREQ_BAD);
    ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
}
END_TEST

START_TEST(test_caps)
{
    char err[256];
    size_t used, i;
    struct buf b;

    /* a line one byte over the cap, complete or still arriving */
    buf_init(&b, 2 * POLREQ_MAX_REQUEST);
    buf_puts(&b, "request=smtpd_access_policy\nsender=");
    for (i = 7; i < POLREQ_MAX_LINE + 1; i++)
        buf_putc(&b, 'x');
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_BAD);
    ck_assert_ptr_nonnull(strstr(err, "line too long"));
    buf_puts(&b, "\n\n");
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_BAD);
    ck_assert_ptr_nonnull(strstr(err, "line too long"));

    /* a line exactly at the cap is fine */
    buf_reset(&b);
    buf_puts(&b, "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=");
    for (i = 7; i < POLREQ_MAX_LINE; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\n\n");
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_OK);
    ck_assert_uint_eq(strlen(req.sender), POLREQ_MAX_LINE - 7);

    /* too many attributes */
    buf_reset(&b);
    buf_puts(&b, "request=smtpd_access_policy\nprotocol_state=RCPT\n");
    for (i = 2; i <= POLREQ_MAX_ATTRS; i++)
        buf_printf(&b, "x%zu=y\n", i);
    buf_puts(&b, "\n");
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_BAD);
    ck_assert_ptr_nonnull(strstr(err, "too many attributes"));

    /* exactly the cap of attributes is fine */
    buf_reset(&b);
    buf_puts(&b, "request=smtpd_access_policy\nprotocol_state=RCPT\n");
    for (i = 3; i <= POLREQ_MAX_ATTRS; i++)
        buf_printf(&b, "x%zu=y\n", i);
    buf_puts(&b, "\n");
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_OK);

    /* a request over the size cap, made of long (but legal) lines */
    buf_reset(&b);
    buf_puts(&b, "request=smtpd_access_policy\nprotocol_state=RCPT\n");
    for (i = 0; i < 10; i++) {
        size_t j;

        buf_printf(&b, "long%zu=", i);
        for (j = 0; j < POLREQ_MAX_LINE - 10; j++)
            buf_putc(&b, 'v');
        buf_putc(&b, '\n');
    }
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_BAD);
    ck_assert_ptr_nonnull(strstr(err, "request too large"));
    buf_puts(&b, "\n");
    ck_assert_int_eq(polreq_parse(&req, b.data, b.len, &used, err, sizeof(err)), POLREQ_BAD);
    ck_assert_ptr_nonnull(strstr(err, "request too large"));
    buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("polreq");
    TCase *tc = tcase_create("polreq");

    tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_postfix_fields);
    tcase_add_test(tc, test_each_attribute_its_field);
    tcase_add_test(tc, test_two_requests);
    tcase_add_test(tc, test_nul_byte);
    tcase_add_test(tc, test_caps);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
