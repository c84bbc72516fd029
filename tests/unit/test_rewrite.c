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

#include "unit.h"
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
    /* issue 9 finding 1: raw ISO-2022-JP and Shift_JIS display names */
    {"raw ISO-2022-JP name: the real address is the original", "<admin@corp.local>",
     {"From: \x1b$B4IM}<T\x1b(B <admin@corp.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?566h55CG6ICF?= <relay@contoso.com>",
      "add Reply-To: =?UTF-8?B?566h55CG6ICF?= <admin@corp.local>",
      "add X-Original-From: =?UTF-8?B?566h55CG6ICF?= <admin@corp.local>"},
     {"<T", "\x1b", "syntax error"}},
    {"raw Shift_JIS name with a backslash trail byte", "<dev@corp.local>",
     {"From: \"\x83\x5c\x83\x74\x83\x67\x8aJ\x94\xad\" <dev@corp.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?44K944OV44OI6ZaL55m6?= <relay@contoso.com>",
      "add Reply-To: =?UTF-8?B?44K944OV44OI6ZaL55m6?= <dev@corp.local>"},
     {"syntax error"}},
    {"raw ISO-2022-JP name on a permitted address repaired in place", "<alerts@contoso.com>",
     {"From: \x1b$B4IM}<T\x1b(B <alerts@contoso.com>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?566h55CG6ICF?= <alerts@contoso.com>"}, {"Reply-To"}},
    {"raw ISO-2022-KR name: the From address, not the envelope, is the original",
     "<bounce@corp.local>", {"From: \x1b$)C\x0e" "0|8.@Z\x0f <admin@corp.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?6rSA66as7J6Q?= <relay@contoso.com>",
      "add Reply-To: =?UTF-8?B?6rSA66as7J6Q?= <admin@corp.local>"},
     {"bounce@", "syntax error", "\x0e"}},
    {"raw ISO-2022-CN name: the From address, not the envelope, is the original",
     "<bounce@corp.local>", {"From: \x1b$)A\x0e" "9\\@mT1\x0f <admin@corp.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?566h55CG5ZGY?= <relay@contoso.com>",
      "add X-Original-From: =?UTF-8?B?566h55CG5ZGY?= <admin@corp.local>"},
     {"bounce@", "syntax error", "\x0e"}},
    /* issue 9 review: several Reply-To fields leave as one that names an address */
    {"empty Reply-To beside an addressed one removed", "<admin@corp.local>",
     {"From: admin@corp.local", "Reply-To: ", "Reply-To: ops@corp.local"}, 0, RW_REWRITE,
     {"delete Reply-To[1]", "add X-Original-From: admin@corp.local"},
     {"Reply-To[2]", "change Reply-To", "add Reply-To"}},
    {"addressed Reply-To then one without an address: the second removed", "<admin@corp.local>",
     {"From: admin@corp.local", "Reply-To: ops@corp.local", "Reply-To: (none)"}, 0, RW_REWRITE,
     {"delete Reply-To[2]"}, {"Reply-To[1]", "add Reply-To"}},
    {"two addressed Reply-To fields merged into one", "<admin@corp.local>",
     {"From: admin@corp.local", "Reply-To: a@corp.local", "Reply-To: B <b@corp.local>"}, 0,
     RW_REWRITE, {"delete Reply-To[2]", "change Reply-To[1]: a@corp.local, B <b@corp.local>"},
     {"add Reply-To"}},
    {"raw Big5 name with an '@' trail byte: the <address> is the original", "<bounce@corp.local>",
     {"From: \xb3\x5c\xa4\x40 <admin@corp.local>"}, 0, RW_REWRITE,
     {"add Reply-To: ", "admin@corp.local>", "add X-Original-From: "}, {"bounce@"}},
    /* raw 8-bit EUC/Big5 names read in the charset the message declares (Latin-1 without one) */
    {"raw EUC-JP name read in the message's charset", "<admin@corp.local>",
     {"From: \xb4\xc9\xcd\xfd\xbc\xd4 <admin@corp.local>", "Content-Type: text/plain; charset=EUC-JP"},
     0, RW_REWRITE, {"change From[1]: =?UTF-8?B?566h55CG6ICF?= <relay@contoso.com>",
                     "add Reply-To: =?UTF-8?B?566h55CG6ICF?= <admin@corp.local>"}},
    {"raw GB2312 name, charset quoted and after From", "<admin@corp.local>",
     {"From: \"\xb9\xdc\xc0\xed\xd4\xb1\" <admin@corp.local>",
      "Content-Type: text/plain;\r\n charset=\"gb2312\""},
     0, RW_REWRITE, {"change From[1]: =?UTF-8?B?566h55CG5ZGY?= <relay@contoso.com>"}},
    {"raw Big5 name read as Big5", "<admin@corp.local>",
     {"From: \xba\xde\xb2\x7a\xad\xfb <admin@corp.local>", "Content-Type: text/html; charset=big5"},
     0, RW_REWRITE, {"change From[1]: =?UTF-8?B?566h55CG5ZOh?= <relay@contoso.com>"}},
    {"raw EUC-KR name read as EUC-KR", "<admin@corp.local>",
     {"From: \xb0\xfc\xb8\xae\xc0\xda <admin@corp.local>", "Content-Type: text/plain; charset=ks_c_5601-1987"},
     0, RW_REWRITE, {"change From[1]: =?UTF-8?B?6rSA66as7J6Q?= <relay@contoso.com>"}},
    {"Latin-1 name under a declared EUC-JP stays Latin-1", "<m@corp.local>",
     {"From: M\xfcller <m@corp.local>", "Content-Type: text/plain; charset=euc-jp"},
     0, RW_REWRITE, {"change From[1]: =?UTF-8?B?TcO8bGxlcg==?= <relay@contoso.com>"}},
    {"a folded or 8-bit Reply-To is never copied into a merged one", "<admin@corp.local>",
     {"From: admin@corp.local", "Reply-To: a@corp.local", "Reply-To: J\xf6rg <b@corp.local>"}, 0,
     RW_REWRITE, {"add X-Original-From: admin@corp.local"}, {"Reply-To"}},
    {"address guessed from a syntax error never recorded when the envelope is valid",
     "<admin@corp.local>", {"From: junk <T junk <admin@corp.local>"}, 0, RW_REWRITE,
     {"add Reply-To: admin@corp.local", "add X-Original-From: admin@corp.local",
      "change From[1]: junk <relay@contoso.com>"},
     {"T@corp.local", "T at"}},
    /* finding 2: a trace header from the client never survives beside sendas's */
    {"forged X-Original-From replaced", "<a@x.local>",
     {"From: a@x.local", "X-Original-From: ceo@contoso.com"}, 0, RW_REWRITE,
     {"delete X-Original-From[1]", "add X-Original-From: a@x.local", "from the client removed"}},
    {"two forged X-Original-From removed last first", "<a@x.local>",
     {"From: a@x.local", "x-original-from: ceo@contoso.com", "X-Original-From: cfo@contoso.com"}, 0,
     RW_REWRITE, {"delete X-Original-From[2]\ndelete X-Original-From[1]\n", "add X-Original-From: a@x.local"}},
    {"forged X-Original-From on a kept message is left alone", "<relay@contoso.com>",
     {"From: relay@contoso.com", "X-Original-From: ceo@contoso.com"}, 0, RW_KEEP, {"action=kept"},
     {"X-Original-From["}},
    /* finding 3: a Reply-To without an address counts as absent */
    {"empty Reply-To replaced", "<a@x.local>", {"From: a@x.local", "Reply-To: "}, 0, RW_REWRITE,
     {"change Reply-To[1]: a@x.local", "Reply-To without an address replaced"}, {"add Reply-To"}},
    {"white space Reply-To replaced", "<a@x.local>", {"From: a@x.local", "Reply-To:   \t "}, 0,
     RW_REWRITE, {"change Reply-To[1]: a@x.local"}},
    {"Reply-To with only a group replaced", "<a@x.local>",
     {"From: a@x.local", "Reply-To: undisclosed-recipients:;"}, 0, RW_REWRITE,
     {"change Reply-To[1]: a@x.local"}},
    {"two empty Reply-To become one", "<a@x.local>", {"From: a@x.local", "Reply-To: ", "Reply-To: ,"},
     0, RW_REWRITE, {"delete Reply-To[2]", "change Reply-To[1]: a@x.local"}},
    {"Reply-To with an address kept", "<a@x.local>", {"From: a@x.local", "Reply-To: , help@x.local"},
     0, RW_REWRITE, {"change From[1]:"}, {"Reply-To["}},
    /* finding 13: a permitted From that is not one clean mailbox is repaired, not kept */
    {"permitted From with a trailing comma repaired", "<alerts@contoso.com>",
     {"From: alerts@contoso.com,"}, 0, RW_REWRITE,
     {"change From[1]: alerts@contoso.com\n", "empty list element"}, {"Reply-To"}},
    {"permitted From with a leading comma repaired", "<alerts@contoso.com>",
     {"From: ,alerts@contoso.com"}, 0, RW_REWRITE, {"change From[1]: alerts@contoso.com\n"},
     {"Reply-To"}},
    {"permitted From with a comma in a comment repaired", "<alerts@contoso.com>",
     {"From: alerts@contoso.com (a, b)"}, 0, RW_REWRITE,
     {"change From[1]: \"a, b\" <alerts@contoso.com>", "comment in From"}, {"Reply-To"}},
    /* finding 17: raw 8-bit addresses are never copied into a header */
    {"Latin-1 address: the envelope sender is the original", "<j@x.local>",
     {"From: J\xfcrgen <j\xfcrgen@x.local>"}, 0, RW_REWRITE,
     {"change From[1]: =?UTF-8?B?SsO8cmdlbg==?= <relay@contoso.com>", "add Reply-To: j@x.local",
      "add X-Original-From: j@x.local"},
     {"j\xfcrgen@x.local>"}},
    {"Latin-1 envelope and From: nothing raw is written", "<j\xfc@x.local>",
     {"From: j\xfc@x.local"}, 0, RW_REWRITE, {"change From[1]: =?UTF-8?B?asO8IGF0IHgubG9jYWw=?="},
     {"Reply-To", "X-Original-From"}},
    {"UTF-8 address without SMTPUTF8: the envelope sender is the original", "<j@x.local>",
     {"From: j\xc3\xbc@x.local"}, 0, RW_REWRITE,
     {"change From[1]: \"j at x.local\" <relay@contoso.com>", "add Reply-To: j@x.local"}},
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
    m.trace_name = c->trace_header;
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
        for (q = v; *q; q++)
            ck_assert_msg((unsigned char)*q < 0x80, "%s: 8-bit byte in %s", tc->name, p.ops[i].name);
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

/* plan_for - plan a message of from_n copies of From value v (SMTP unless non_smtp) */
static void plan_for(const struct conf *c, struct rw_msg *m, struct rw_plan *p, const char *env,
                     const char *v, size_t from_n, int non_smtp)
{
    size_t i;

    rw_msg_init(m);
    m->env_sender = env;
    m->non_smtp = non_smtp;
    m->trace_name = c->trace_header;
    for (i = 0; i < from_n; i++)
        ck_assert_int_eq(rw_msg_add_header(m, "From", v, strlen(v), c->max_header_bytes), 0);
    ck_assert_int_eq(rw_plan_message(c, m, p), 0);
}

/* find_op - the first operation of kind on header name, or NULL */
static const struct rw_op *find_op(const struct rw_plan *p, enum rw_op_kind kind, const char *name)
{
    size_t i;

    for (i = 0; i < p->nops; i++)
        if (p->ops[i].kind == kind && strcmp(p->ops[i].name, name) == 0)
            return &p->ops[i];
    return NULL;
}

/*
 * finding 14: a header over max_header_bytes or a parser cap is repaired
 * with the envelope sender as the original, or refused permanently when
 * there is nothing to keep -- never deferred, never passed as it is
 */
START_TEST(test_oversize_header)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("t.conf", conf_text, strlen(conf_text), err, sizeof(err));
    struct rw_msg m;
    struct rw_plan p;
    const struct rw_op *op;
    char *big = malloc(70000);

    ck_assert_msg(c != NULL, "%s", err);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    /* over max_header_bytes via SMTP: replaced, the envelope sender kept as the original */
    plan_for(c, &m, &p, "<a@x.local>", big, 1, 0);
    ck_assert_int_eq(p.action, RW_REWRITE);
    ck_assert_ptr_nonnull(op = find_op(&p, RW_OP_ADD, "Reply-To"));
    ck_assert_str_eq(op->value, "a@x.local");
    ck_assert_ptr_nonnull(op = find_op(&p, RW_OP_CHANGE, "From"));
    ck_assert_msg(strstr(op->value, "<relay@contoso.com>") != NULL, "%s", op->value);
    ck_assert_msg(strstr(p.reason, "over max_header_bytes") != NULL, "%s", p.reason);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    /* ... and with the null sender there is no original to keep: refused for good */
    plan_for(c, &m, &p, "<>", big, 1, 0);
    ck_assert_int_eq(p.action, RW_REJECT);
    ck_assert_str_eq(p.rcode, "550");
    ck_assert_str_eq(p.xcode, "5.6.0");
    ck_assert_msg(strstr(p.text, "max_header_bytes") != NULL, "%s", p.text);
    ck_assert_uint_eq(p.nops, 0);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    /* the same message without SMTP is never refused: the From is replaced outright */
    plan_for(c, &m, &p, "<>", big, 1, 1);
    ck_assert_int_eq(p.action, RW_REWRITE);
    ck_assert_ptr_nonnull(find_op(&p, RW_OP_CHANGE, "From"));
    rw_plan_free(&p);
    rw_msg_reset(&m);

    /* a 2 KB display name, SMTP and not: cut, the address kept as the original */
    memset(big, 'n', 2048);
    memcpy(big + 2048, " <nagios@mon01.corp.local>", 27);
    for (int non_smtp = 0; non_smtp <= 1; non_smtp++) {
        plan_for(c, &m, &p, "<nagios@mon01.corp.local>", big, 1, non_smtp);
        ck_assert_int_eq(p.action, RW_REWRITE);
        ck_assert_ptr_nonnull(op = find_op(&p, RW_OP_ADD, "Reply-To"));
        ck_assert_msg(strstr(op->value, "<nagios@mon01.corp.local>") != NULL, "%s", op->value);
        ck_assert_msg(strstr(p.reason, "max_header_bytes") == NULL, "%s", p.reason);
        rw_plan_free(&p);
        rw_msg_reset(&m);
    }

    /* a local part over 256 bytes: that address is dropped, the envelope sender recorded */
    memset(big, 'l', 300);
    memcpy(big + 300, "@x.local", 9);
    plan_for(c, &m, &p, "<a@x.local>", big, 1, 0);
    ck_assert_int_eq(p.action, RW_REWRITE);
    ck_assert_ptr_nonnull(op = find_op(&p, RW_OP_ADD, "Reply-To"));
    ck_assert_str_eq(op->value, "a@x.local");
    rw_plan_free(&p);
    rw_msg_reset(&m);
    free(big);
    conf_free(c);
}
END_TEST

/* finding 14: hundreds of From headers or addresses are repaired, not passed on */
START_TEST(test_many_from)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("t.conf", conf_text, strlen(conf_text), err, sizeof(err));
    struct rw_msg m;
    struct rw_plan p;
    const struct rw_op *op;
    struct buf b;
    size_t i, deletes;

    ck_assert_msg(c != NULL, "%s", err);
    for (int non_smtp = 0; non_smtp <= 1; non_smtp++) {
        plan_for(c, &m, &p, "<a@x.local>", "a@x.local", 300, non_smtp);
        ck_assert_int_eq(p.action, RW_REWRITE);
        for (i = deletes = 0; i < p.nops; i++)
            deletes += p.ops[i].kind == RW_OP_DELETE && strcmp(p.ops[i].name, "From") == 0;
        ck_assert_uint_eq(deletes, 299);
        ck_assert_int_eq(p.ops[0].index, 300); /* from the last one back */
        ck_assert_ptr_nonnull(find_op(&p, RW_OP_CHANGE, "From"));
        ck_assert_ptr_nonnull(op = find_op(&p, RW_OP_ADD, "Reply-To"));
        ck_assert_msg(strlen(op->value) <= 16 * 1024 + 64, "Reply-To of %zu bytes", strlen(op->value));
        rw_plan_free(&p);
        rw_msg_reset(&m);
    }
    /* 300 addresses in one From: the first 256 are read, the header is replaced */
    buf_init(&b, 1 << 20);
    for (i = 0; i < 300; i++)
        ck_assert_int_eq(buf_printf(&b, "%su%zu@x.local", i ? ", " : "", i), BUF_OK);
    plan_for(c, &m, &p, "<u0@x.local>", b.data, 1, 0);
    ck_assert_int_eq(p.action, RW_REWRITE);
    ck_assert_ptr_nonnull(op = find_op(&p, RW_OP_ADD, "Reply-To"));
    ck_assert_msg(strncmp(op->value, "u0@x.local, u1@x.local", 22) == 0, "%s", op->value);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    buf_free(&b);
    /* past the plan's operation cap: refused for good via SMTP, passed without */
    plan_for(c, &m, &p, "<a@x.local>", "a@x.local", RW_MAX_OPS + 10, 0);
    ck_assert_int_eq(p.action, RW_REJECT);
    ck_assert_str_eq(p.xcode, "5.6.0");
    ck_assert_msg(strstr(p.text, "too many headers") != NULL, "%s", p.text);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    plan_for(c, &m, &p, "<a@x.local>", "a@x.local", RW_MAX_OPS + 10, 1);
    ck_assert_int_eq(p.action, RW_KEEP);
    rw_plan_free(&p);
    rw_msg_reset(&m);
    conf_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rewrite");
    TCase *tc = tcase_create("rewrite");

    tcase_add_loop_test(tc, test_plan, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_envelope_stage);
    tcase_add_test(tc, test_oversize_header);
    tcase_add_test(tc, test_many_from);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
