/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the rewrite planner: given a configuration and a message,
 * the plan (action, envelope, header operations) is rendered as text lines
 * and checked for the lines it must and must not contain.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "rewrite.h"

static const char conf_text[] =
    "mailbox relay@contoso.com sendas alerts@contoso.com @shared.contoso.com\n"
    "mailbox scanner@contoso.com\n"
    "route sender:@printers.corp.local scanner@contoso.com\n"
    "route from:@printers.corp.local scanner@contoso.com\n"
    "route sender:blocked@legacy.local reject\n"
    "route sender:slow@legacy.local tempfail\n"
    "route * relay@contoso.com\n"
    "qualify_domain corp.local\n";

struct rcase {
    const char *name;
    const char *env;
    const char *headers[6]; /* "Name: value" */
    int non_smtp;
    enum rw_action action;
    const char *must[8];  /* substrings of the rendered plan */
    const char *never[4]; /* substrings that must not appear */
};

static const struct rcase cases[] = {
    {"permitted own address kept", "<relay@contoso.com>", {"From: Relay <relay@contoso.com>"}, 0, RW_KEEP,
     {"mailbox=relay@contoso.com"}, {"From[", "Reply-To", "env="}},
    {"permitted by sendas grant: From kept, envelope selects the mailbox", "<alerts@contoso.com>",
     {"From: \"Alerts\" <alerts@contoso.com>"}, 0, RW_REWRITE, {"env=<relay@contoso.com>"}, {"From[", "Reply-To"}},
    {"permitted by domain grant: From kept", "<x@shared.contoso.com>", {"From: x@shared.contoso.com"}, 0,
     RW_REWRITE, {"env=<relay@contoso.com>"}, {"From[", "Reply-To"}},
    {"envelope already the mailbox: nothing to do", "<RELAY@contoso.com>", {"From: alerts@contoso.com"}, 0,
     RW_KEEP, {"action=kept"}, {"From[", "env="}},
    {"permitted From, foreign envelope: only envelope changes", "<bounce@app.local>",
     {"From: alerts@contoso.com"}, 0, RW_REWRITE, {"env=<relay@contoso.com>"}, {"From[", "Reply-To"}},
    {"nagios rewritten with readable name", "<nagios@mon01.corp.local>", {"From: nagios@mon01.corp.local"}, 0,
     RW_REWRITE,
     {"change From[1]: \"nagios at mon01.corp.local\" <relay@contoso.com>",
      "add Reply-To: nagios@mon01.corp.local", "add X-Original-From: nagios@mon01.corp.local",
      "env=<relay@contoso.com>"}},
    {"display name kept", "<scan@printers.corp.local>", {"From: \"Scanner 3rd floor\" <scan@printers.corp.local>"}, 0,
     RW_REWRITE,
     {"mailbox=scanner@contoso.com", "change From[1]: Scanner 3rd floor <scanner@contoso.com>",
      "add Reply-To: Scanner 3rd floor <scan@printers.corp.local>", "env=<scanner@contoso.com>"}},
    {"from route picks mailbox and its credentials", "<>", {"From: Scanner <scan@printers.corp.local>"}, 0,
     RW_REWRITE, {"mailbox=scanner@contoso.com", "change From[1]: Scanner <scanner@contoso.com>",
                  "env=<scanner@contoso.com>"}},
    {"unqualified root qualified in Reply-To", "<root>", {"From: Cron Daemon <root>"}, 0, RW_REWRITE,
     {"change From[1]: Cron Daemon <relay@contoso.com>", "add Reply-To: Cron Daemon <root@corp.local>",
      "env=<relay@contoso.com>"}},
    {"no From header added", "<app@erp.local>", {"Subject: x"}, 0, RW_REWRITE,
     {"add From: \"app at erp.local\" <relay@contoso.com>", "add Reply-To: app@erp.local"}, {"change From"}},
    {"two From headers: extra deleted", "<a@x.local>", {"From: a@x.local", "From: b@y.local"}, 0, RW_REWRITE,
     {"delete From[2]", "change From[1]:", "add Reply-To: a@x.local, b@y.local"}},
    {"several addresses: Reply-To keeps all", "<a@x.local>", {"From: a@x.local, B <b@y.local>"}, 0, RW_REWRITE,
     {"change From[1]: \"a at x.local\" <relay@contoso.com>", "add Reply-To: a@x.local, B <b@y.local>"}},
    {"several permitted addresses kept, Sender added", "<relay@contoso.com>",
     {"From: relay@contoso.com, alerts@contoso.com"}, 0, RW_REWRITE,
     {"add Sender: relay@contoso.com"}, {"From["}},
    {"group syntax repaired", "<app@erp.local>", {"From: undisclosed-recipients:;"}, 0, RW_REWRITE,
     {"change From[1]: \"app at erp.local\" <relay@contoso.com>", "add Reply-To: app@erp.local"}},
    {"lower-case name on permitted address repaired in place", "<alerts@contoso.com>",
     {"from: Alerts <alerts@contoso.com>"}, 0, RW_REWRITE, {"change From[1]: Alerts <alerts@contoso.com>"},
     {"Reply-To"}},
    {"existing Reply-To kept", "<a@x.local>", {"From: a@x.local", "Reply-To: helpdesk@x.local"}, 0, RW_REWRITE,
     {"change From[1]:", "add X-Original-From: a@x.local"}, {"add Reply-To"}},
    {"Sender not permitted removed", "<relay@contoso.com>",
     {"From: relay@contoso.com", "Sender: someone@else.local"}, 0, RW_REWRITE, {"delete Sender[1]"}, {"From["}},
    {"permitted Sender kept", "<relay@contoso.com>", {"From: relay@contoso.com", "Sender: alerts@contoso.com"}, 0,
     RW_KEEP, {"action=kept"}, {"Sender[", "env="}},
    {"display name containing an address", "<nagios@mon01.corp.local>",
     {"From: \"nagios@mon01.corp.local\" <nagios@mon01.corp.local>"}, 0, RW_REWRITE,
     {"change From[1]: \"nagios at mon01.corp.local\" <relay@contoso.com>"}, {"@mon01.corp.local\" <relay"}},
    {"encoded-word name kept encoded", "<j@x.local>", {"From: =?iso-8859-1?q?J=F6rg?= <j@x.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?SsO2cmc=?= <relay@contoso.com>"}},
    {"8-bit name becomes an encoded word", "<j@x.local>", {"From: J\xc3\xb6rg <j@x.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?SsO2cmc=?= <relay@contoso.com>"}, {"\xc3\xb6"}},
    {"CRLF in an encoded word never reaches a header", "<j@x.local>",
     {"From: =?utf-8?q?a=0D=0ABcc:_evil@x?= <j@x.local>"}, 0, RW_REWRITE, {"change From[1]:"}, {"\r", "\nBcc"}},
    {"route reject", "<blocked@legacy.local>", {"From: blocked@legacy.local"}, 0, RW_REJECT,
     {"reply=550 5.7.1", "blocked@legacy.local", "sender:blocked@legacy.local"}},
    {"route tempfail", "<slow@legacy.local>", {"From: slow@legacy.local"}, 0, RW_TEMPFAIL, {"reply=451 4.7.1"}},
    {"non-SMTP mail never refused", "<blocked@legacy.local>", {"From: blocked@legacy.local"}, 1, RW_KEEP,
     {"never refused"}, {"reply="}},
    {"non-SMTP mail still rewritten", "<root>", {"From: root"}, 1, RW_REWRITE,
     {"change From[1]: \"root at corp.local\" <relay@contoso.com>"}},
    {"long display name folded", "<a@x.local>",
     {"From: \"A very long display name of an enterprise resource planning system, production instance 7\" <a@x.local>"},
     0, RW_REWRITE, {"\n "}, {"\n\n"}},
    {"null sender set to the mailbox", "<>", {"From: a@x.local"}, 0, RW_REWRITE,
     {"change From[1]:", "env=<relay@contoso.com>", "null envelope sender"}},
    {"non-SMTP null sender (a Postfix notice) kept, From rewritten", "<>",
     {"From: MAILER-DAEMON@relay.corp.local (Mail Delivery System)"}, 1, RW_REWRITE,
     {"change From[1]: Mail Delivery System <relay@contoso.com>"}, {"env="}},
};

/* render - the plan as text for substring checks */
static void render(const struct rw_plan *p, struct buf *b)
{
    size_t i;

    buf_printf(b, "action=%s\n", rw_action_name(p->action));
    if (p->mailbox)
        buf_printf(b, "mailbox=%s\n", p->mailbox->address);
    if (p->new_env_sender)
        buf_printf(b, "env=%s\n", p->new_env_sender);
    if (p->rcode)
        buf_printf(b, "reply=%s %s %s\n", p->rcode, p->xcode, p->text);
    buf_printf(b, "reason=%s\n", p->reason);
    for (i = 0; i < p->nops; i++) {
        const struct rw_op *op = &p->ops[i];

        if (op->kind == RW_OP_CHANGE)
            buf_printf(b, "change %s[%d]: %s\n", op->name, op->index, op->value);
        else if (op->kind == RW_OP_DELETE)
            buf_printf(b, "delete %s[%d]\n", op->name, op->index);
        else
            buf_printf(b, "add %s: %s\n", op->name, op->value);
    }
}

START_TEST(test_plan)
{
    const struct rcase *tc = &cases[_i];
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("t.conf", conf_text, strlen(conf_text), err, sizeof(err));
    struct rw_msg m;
    struct rw_plan p;
    struct buf out;
    size_t i;

    ck_assert_msg(c != NULL, "%s", err);
    rw_msg_init(&m);
    m.env_sender = tc->env;
    m.non_smtp = tc->non_smtp;
    m.client_addr = "192.0.2.10";
    for (i = 0; i < 6 && tc->headers[i]; i++) {
        const char *colon = strchr(tc->headers[i], ':');
        char name[64];

        snprintf(name, sizeof(name), "%.*s", (int)(colon - tc->headers[i]), tc->headers[i]);
        ck_assert_int_eq(rw_msg_add_header(&m, name, colon + 2, strlen(colon + 2), 65536), 0);
    }
    ck_assert_int_eq(rw_plan_message(c, &m, &p), 0);
    buf_init(&out, 1 << 20);
    render(&p, &out);
    ck_assert_msg(p.action == tc->action, "%s: action %s, want %s\n%s", tc->name, rw_action_name(p.action),
                  rw_action_name(tc->action), buf_cstr(&out));
    for (i = 0; i < 8 && tc->must[i]; i++)
        ck_assert_msg(strstr(buf_cstr(&out), tc->must[i]) != NULL, "%s: missing \"%s\" in\n%s", tc->name,
                      tc->must[i], buf_cstr(&out));
    for (i = 0; i < 4 && tc->never[i]; i++)
        ck_assert_msg(strstr(buf_cstr(&out), tc->never[i]) == NULL, "%s: unexpected \"%s\" in\n%s", tc->name,
                      tc->never[i], buf_cstr(&out));
    /* no generated value may carry CR or NUL, and every LF must start a continuation */
    for (i = 0; i < p.nops; i++) {
        const char *v = p.ops[i].value, *q;

        if (v == NULL)
            continue;
        ck_assert_msg(strchr(v, '\r') == NULL, "%s: CR in %s", tc->name, p.ops[i].name);
        for (q = strchr(v, '\n'); q; q = strchr(q + 1, '\n'))
            ck_assert_msg(q[1] == ' ' || q[1] == '\t', "%s: bare LF in %s", tc->name, p.ops[i].name);
    }
    buf_free(&out);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    conf_free(c);
}
END_TEST

START_TEST(test_envelope_stage)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("t.conf", conf_text, strlen(conf_text), err, sizeof(err));
    struct rw_msg m;
    struct rw_plan p;

    ck_assert_msg(c != NULL, "%s", err);
    rw_msg_init(&m);
    /* a reject route before any from: route refuses at MAIL FROM */
    m.env_sender = "<blocked@legacy.local>";
    ck_assert_int_eq(rw_plan_envelope(c, &m, &p), 0);
    ck_assert_int_eq(p.action, RW_KEEP); /* from: route comes first: undecided until the header */
    rw_plan_free(&p);
    /* a sender route that matches before the from: route decides now */
    m.env_sender = "<scan@printers.corp.local>";
    ck_assert_int_eq(rw_plan_envelope(c, &m, &p), 0);
    ck_assert_int_eq(p.action, RW_KEEP);
    ck_assert_ptr_nonnull(p.mailbox);
    ck_assert_str_eq(p.mailbox->address, "scanner@contoso.com");
    rw_plan_free(&p);
    conf_free(c);

    {
        static const char t2[] = "mailbox a@b.c\nroute sender:x@y.z reject\nroute * a@b.c\n";

        c = conf_parse("t.conf", t2, strlen(t2), err, sizeof(err));
    }
    ck_assert_msg(c != NULL, "%s", err);
    m.env_sender = "<x@y.z>";
    ck_assert_int_eq(rw_plan_envelope(c, &m, &p), 0);
    ck_assert_int_eq(p.action, RW_REJECT);
    ck_assert_str_eq(p.xcode, "5.7.1");
    ck_assert_msg(strstr(p.text, "x@y.z") != NULL, "%s", p.text);
    rw_plan_free(&p);
    conf_free(c);
}
END_TEST

START_TEST(test_oversize_header)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("t.conf", conf_text, strlen(conf_text), err, sizeof(err));
    struct rw_msg m;
    struct rw_plan p;
    char *big = malloc(70000);

    ck_assert_msg(c != NULL, "%s", err);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    rw_msg_init(&m);
    m.env_sender = "<a@x.local>";
    ck_assert_int_eq(rw_msg_add_header(&m, "From", big, strlen(big), c->max_header_bytes), 0);
    ck_assert_int_eq(rw_plan_message(c, &m, &p), -1);
    ck_assert_int_eq(p.action, RW_TEMPFAIL);
    ck_assert_str_eq(p.xcode, "4.3.0");
    ck_assert_uint_eq(p.nops, 0);
    rw_plan_free(&p);
    /* the same message without SMTP is never refused: the From is replaced outright */
    m.non_smtp = 1;
    ck_assert_int_eq(rw_plan_message(c, &m, &p), 0);
    ck_assert_int_eq(p.action, RW_REWRITE);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    free(big);
    conf_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rewrite");
    TCase *tc = tcase_create("rewrite");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_plan, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_envelope_stage);
    tcase_add_test(tc, test_oversize_header);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
