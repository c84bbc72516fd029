/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of maillog (Postfix mail log lines for `sendasctl audit`): real
 * lines of Postfix 3.7 in both timestamp forms, table-driven, and the advice
 * for each Exchange Online refusal code.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "maillog.h"

#define T0 1795842721000000LL /* 2026-11-28T05:12:01Z */

static const struct {
    const char *name, *line;
    enum maillog_kind kind;
    long long time_us;
    const char *qid, *service, *to, *dsn, *status, *code, *reply_has;
} cases[] = {
    {"maillog_file bounce 5.7.60",
     "Nov 28 05:12:01 relay01 postfix/smtp[123]: 3CFD4A744D0: to=<ops@contoso.com>, "
     "relay=smtp.office365.com[52.97.1.2]:587, delay=1.2, delays=0.01/0/0.5/0.7, dsn=5.7.60, "
     "status=bounced (host smtp.office365.com[52.97.1.2] said: 550 5.7.60 SMTP; Client does not "
     "have permissions to send as this sender (in reply to end of DATA command))",
     MAILLOG_STATUS, T0, "3CFD4A744D0", "smtp", "ops@contoso.com", "5.7.60", "bounced", "550",
     "550 5.7.60 SMTP; Client does not have permissions"},
    {"rfc 3339 sent through the exo transport",
     "2026-11-28T05:12:01.123456+00:00 relay01 postfix/exo[4711]: 2EF55A744CB: "
     "to=<user@contoso.com>, relay=localhost[127.0.0.1]:40123, delay=0.4, "
     "delays=0.1/0/0.2/0.1, dsn=2.6.0, status=sent (250 2.6.0 Queued mail for delivery)",
     MAILLOG_STATUS, T0 + 123456, "2EF55A744CB", "exo", "user@contoso.com", "2.6.0", "sent",
     "250", "Queued mail for delivery"},
    {"rfc 3339 with an offset",
     "2026-11-28T06:12:01+01:00 relay01 postfix/smtp[1]: ABCDE12345: to=<a@b.c>, "
     "relay=x[1.2.3.4]:587, delay=1, delays=0/0/0/1, dsn=4.3.2, status=deferred (host x[1.2.3.4] "
     "said: 432 4.3.2 Concurrent connections limit exceeded. (in reply to MAIL FROM command))",
     MAILLOG_STATUS, T0, "ABCDE12345", "smtp", "a@b.c", "4.3.2", "deferred", "432",
     "Concurrent connections"},
    {"single-digit day padded",
     "Nov  8 05:12:01 relay01 postfix/smtp[1]: ABCDE12345: to=<a@b.c>, relay=none, delay=0, "
     "delays=0/0/0/0, dsn=4.4.1, status=deferred (connect to x[1.2.3.4]:587: Connection refused)",
     MAILLOG_STATUS, T0 - 20LL * 86400 * 1000000, "ABCDE12345", "smtp", "a@b.c", "4.4.1",
     "deferred", "", "Connection refused"},
    {"long queue id, orig_to, instance name",
     "Nov 28 05:12:01 relay01 postfix-exo/smtp[99]: 4Xk2Qz1Bq8zKJd: to=<ops@contoso.com>, "
     "orig_to=<ops>, relay=smtp.office365.com[52.97.1.2]:587, delay=2, delays=0/0/1/1, "
     "dsn=5.2.252, status=bounced (host smtp.office365.com[52.97.1.2] said: 554 5.2.252 "
     "SendAsDenied; relay@contoso.com not allowed to send as a@b.c (in reply to end of DATA "
     "command))",
     MAILLOG_STATUS, T0, "4Xk2Qz1Bq8zKJd", "smtp", "ops@contoso.com", "5.2.252", "bounced",
     "554", "SendAsDenied"},
    {"auth failure before MAIL",
     "Nov 28 05:12:01 relay01 postfix/smtp[7]: 0A1B2C3D4E: to=<a@b.c>, relay=x[1.1.1.1]:587, "
     "delay=1, delays=0/0/1/0, dsn=5.7.139, status=bounced (SASL authentication failed; server "
     "x[1.1.1.1] said: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
     "disabled for the Tenant.)",
     MAILLOG_STATUS, T0, "0A1B2C3D4E", "smtp", "a@b.c", "5.7.139", "bounced", "535",
     "SmtpClientAuthentication is disabled"},
    {"sign-in failure soft-bounced: the reply keeps its context",
     "Nov 28 05:12:01 relay01 postfix/smtp[7]: 0A1B2C3D4E: to=<a@b.c>, relay=x[1.1.1.1]:587, "
     "delay=1, delays=0/0/1/0, dsn=4.7.3, status=deferred (SASL authentication failed; server "
     "x[1.1.1.1] said: 535 5.7.3 Authentication unsuccessful)",
     MAILLOG_STATUS, T0, "0A1B2C3D4E", "smtp", "a@b.c", "4.7.3", "deferred", "535",
     "SASL authentication failed; server x[1.1.1.1] said: 535 5.7.3 Authentication"},
    {"journalctl -o short-iso", "2026-11-28T05:12:01+0000 relay01 postfix/qmgr[55]: 3CFD4A744D0: "
     "removed", MAILLOG_REMOVED, T0, "3CFD4A744D0", "qmgr", "", "", "", "", NULL},
    {"journalctl -o short-iso-precise",
     "2026-11-28T06:12:01.000250+0100 relay01 postfix/smtp[123]: 3CFD4A744D0: "
     "to=<ops@contoso.com>, "
     "relay=smtp.office365.com[52.97.1.2]:587, delay=1.2, delays=0.01/0/0.5/0.7, dsn=4.3.2, "
     "status=deferred (host smtp.office365.com[52.97.1.2] said: 432 4.3.2 Concurrent connections "
     "limit exceeded. (in reply to MAIL FROM command))",
     MAILLOG_STATUS, T0 + 250, "3CFD4A744D0", "smtp", "ops@contoso.com", "4.3.2", "deferred", "432",
     "432 4.3.2 Concurrent"},
    /* journalctl -o json, as journald 252 wrote it (fields trimmed) */
    {"journalctl -o json removed",
     "{\"SYSLOG_PID\":\"10804\",\"_HOSTNAME\":\"vm\",\"SYSLOG_FACILITY\":\"2\","
     "\"MESSAGE\":\"3CFD4A744D0: removed\",\"_TRANSPORT\":\"syslog\","
     "\"SYSLOG_TIMESTAMP\":\"Nov 28 05:12:01 \",\"SYSLOG_IDENTIFIER\":\"postfix/qmgr\","
     "\"__REALTIME_TIMESTAMP\":\"1795842721000007\",\"PRIORITY\":\"6\"}",
     MAILLOG_REMOVED, T0 + 7, "3CFD4A744D0", "qmgr", "", "", "", "", NULL},
    {"journalctl -o json bounce",
     "{\"__REALTIME_TIMESTAMP\":\"1795842721000000\",\"SYSLOG_IDENTIFIER\":\"postfix/smtp\","
     "\"MESSAGE\":\"3CFD4A744D0: to=<ops@contoso.com>, relay=smtp.office365.com[52.97.1.2]:587, "
     "delay=1.2, delays=0.01/0/0.5/0.7, dsn=5.7.60, status=bounced (host "
     "smtp.office365.com[52.97.1.2] said: 550 5.7.60 SMTP; Client does not have permissions to "
     "send as this sender (in reply to end of DATA command))\"}",
     MAILLOG_STATUS, T0, "3CFD4A744D0", "smtp", "ops@contoso.com", "5.7.60", "bounced", "550",
     "550 5.7.60 SMTP"},
    {"journalctl -o json, not postfix: readable, no use",
     "{\"__REALTIME_TIMESTAMP\":\"1795842721000000\",\"SYSLOG_IDENTIFIER\":\"kernel\","
     "\"MESSAGE\":\"x\"}", MAILLOG_OTHER, T0, "", "", "", "", "", "", NULL},
    {"journalctl -o json, binary MESSAGE",
     "{\"__REALTIME_TIMESTAMP\":\"1795842721000000\",\"SYSLOG_IDENTIFIER\":\"postfix/qmgr\","
     "\"MESSAGE\":[51,67,70]}", MAILLOG_OTHER, T0, "", "", "", "", "", "", NULL},
    {"broken json", "{\"__REALTIME_TIMESTAMP\":\"1795842721000000\"", MAILLOG_OTHER, 0, "", "",
     "", "", "", "", NULL},
    {"json, bad time", "{\"__REALTIME_TIMESTAMP\":\"17958x\"}", MAILLOG_OTHER, 0, "", "", "",
     "", "", "", NULL},
    {"removed", "Nov 28 05:12:01 relay01 postfix/qmgr[55]: 3CFD4A744D0: removed",
     MAILLOG_REMOVED, T0, "3CFD4A744D0", "qmgr", "", "", "", "", NULL},
    {"qmgr from line is not a status",
     "Nov 28 05:12:01 relay01 postfix/qmgr[55]: 3CFD4A744D0: from=<relay@contoso.com>, "
     "size=512, nrcpt=1 (queue active)",
     MAILLOG_OTHER, T0, "3CFD4A744D0", "qmgr", "", "", "", "", NULL},
    {"smtpd connect has no queue id",
     "Nov 28 05:12:01 relay01 postfix/smtpd[1]: connect from localhost[127.0.0.1]",
     MAILLOG_OTHER, T0, "", "smtpd", "", "", "", "", NULL},
    {"not postfix", "Nov 28 05:12:01 relay01 sendas-milter[2917]: 3CFD4A744D0: to=<a@b.c>, "
     "status=sent (x)", MAILLOG_OTHER, T0, "", "", "", "", "", "", NULL},
    {"garbage", "this is not a log line", MAILLOG_OTHER, 0, "", "", "", "", "", "", NULL},
    {"empty", "", MAILLOG_OTHER, 0, "", "", "", "", "", "", NULL},
    {"bad month", "Foo 28 05:12:01 h postfix/smtp[1]: ABCDE: removed", MAILLOG_OTHER, 0, "", "",
     "", "", "", "", NULL},
    {"truncated status line",
     "Nov 28 05:12:01 relay01 postfix/smtp[1]: ABCDE12345: to=<a@b.c>, relay=x, dsn=5.7.60, stat",
     MAILLOG_OTHER, T0, "ABCDE12345", "smtp", "", "", "", "", NULL},
};

START_TEST(test_cases)
{
    struct maillog_ent e;
    const char *line = cases[_i].line;
    enum maillog_kind k = maillog_parse(line, strlen(line), 2026, &e);

    ck_assert_msg(k == cases[_i].kind, "%s: kind %d", cases[_i].name, k);
    ck_assert_msg(e.time_us == cases[_i].time_us, "%s: time %lld", cases[_i].name,
                  (long long)e.time_us);
    ck_assert_str_eq(e.queue_id, cases[_i].qid);
    ck_assert_str_eq(e.service, cases[_i].service);
    ck_assert_str_eq(e.to, cases[_i].to);
    ck_assert_str_eq(e.dsn, cases[_i].dsn);
    ck_assert_str_eq(e.status, cases[_i].status);
    ck_assert_str_eq(e.code, cases[_i].code);
    if (cases[_i].reply_has)
        ck_assert_msg(strstr(e.reply, cases[_i].reply_has) != NULL, "%s: reply \"%s\"",
                      cases[_i].name, e.reply);
}
END_TEST

/* the line need not be NUL-terminated: parse a prefix of a longer buffer */
START_TEST(test_not_nul_terminated)
{
    static const char text[] = "Nov 28 05:12:01 h postfix/qmgr[5]: ABCDE12345: removedXXXX";
    struct maillog_ent e;

    ck_assert_int_eq(maillog_parse(text, sizeof(text) - 1 - 4, 2026, &e), MAILLOG_REMOVED);
    ck_assert_int_eq(maillog_parse(text, sizeof(text) - 1, 2026, &e), MAILLOG_OTHER);
}
END_TEST

/* fields are cut, never overrun */
START_TEST(test_caps)
{
    char line[4096];
    struct maillog_ent e;
    size_t n;

    n = (size_t)snprintf(line, sizeof(line),
                         "Nov 28 05:12:01 h postfix/smtp[1]: ABCDE12345: to=<%0600d@b.c>, "
                         "relay=x, dsn=5.7.600000000000000000, status=bounced (%01000d)",
                         1, 2);
    ck_assert_int_eq(maillog_parse(line, n, 2026, &e), MAILLOG_STATUS);
    ck_assert_uint_eq(strlen(e.to), MAILLOG_ADDR - 1);
    ck_assert_uint_eq(strlen(e.dsn), sizeof(e.dsn) - 1);
    ck_assert_uint_eq(strlen(e.reply), MAILLOG_TEXT - 1);
}
END_TEST

/* the advice per code (issue 12.12): what Exchange Online answers, and Postfix's own
 * deferrals of a failed sign-in (smtp_sasl_auth_soft_bounce = yes: 4.7.x) */
#define THROTTLED "continuous error throttling"
static const struct {
    const char *name, *dsn, *reply, *has, *has2;
} advice[] = {
    {"send-as 5.7.60", "5.7.60",
     "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
     "Add-RecipientPermission -Identity 'a@b.c' -Trustee 'relay@contoso.com' -AccessRights SendAs",
     THROTTLED},
    {"send-as 5.7.60 without an entry names no sendas.conf line", "5.7.60", "",
     "remove the entry that permits a@b.c (the address or its @domain) from the sendas list of "
     "mailbox relay@contoso.com in sendas.conf", NULL},
    {"send-as 5.2.252", "5.2.252", "554 5.2.252 SendAsDenied", "Add-RecipientPermission",
     THROTTLED},
    {"send-as 5.2.0 SendAsDenied", "5.2.0",
     "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException", "SendAs", THROTTLED},
    {"send-as on-premises 5.7.1", "5.7.1", "550 5.7.1 Client does not have permissions to send as",
     "Add-RecipientPermission", NULL},
    {"quota 5.2.0", "5.2.0",
     "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
     "limit_recipients_per_day", "10,000"},
    {"mailbox full 5.2.2", "5.2.2",
     "554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException",
     "is full", "Set-Mailbox -Identity 'relay@contoso.com'"},
    {"throttling 5.2.251 mailbox full", "5.2.251", "550 5.2.251 ...", "is full", THROTTLED},
    {"throttling 5.2.253 licence", "5.2.253", "550 5.2.253 ...", "licence", THROTTLED},
    {"throttling 5.2.254 recipients", "5.2.254", "550 5.2.254 ...", "limit_recipients_per_message",
     THROTTLED},
    {"throttling 5.2.255 invalid recipients", "5.2.255", "550 5.2.255 ...", "invalid", THROTTLED},
    {"SMTP AUTH disabled 5.7.139", "5.7.139",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant.",
     "Set-CASMailbox -Identity 'relay@contoso.com' -SmtpClientAuthenticationDisabled $false",
     "security defaults"},
    {"SMTP AUTH disabled, soft-bounced 4.7.139", "4.7.139",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant.",
     "SmtpClientAuthenticationDisabled $false", NULL},
    {"SMTP AUTH disabled for the mailbox 5.7.139", "5.7.139",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Mailbox.",
     "disabled for the mailbox relay@contoso.com: Set-CASMailbox -Identity 'relay@contoso.com' "
     "-SmtpClientAuthenticationDisabled $false", "OAuth needs"},
    {"SMTP AUTH disabled for the tenant names Set-TransportConfig", "5.7.139",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
     "whole tenant", "Set-TransportConfig -SmtpClientAuthenticationDisabled $false"},
    {"basic auth gone 5.7.139", "5.7.139",
     "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.", "OAuth",
     "sendas-tokend"},
    {"basic not supported 5.7.30", "5.7.30",
     "550 5.7.30 Basic authentication is not supported for Client Submission", "OAuth", NULL},
    {"not authenticated 5.7.57", "5.7.57", "530 5.7.57 Client not authenticated to send mail",
     "smtp_sasl_password_maps", NULL},
    {"connections 4.3.2", "4.3.2", "432 4.3.2 Concurrent connections limit exceeded", "maxproc 3",
     NULL},
    {"connections 4.3.2, old text", "4.3.2",
     "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "maxproc 3", NULL},
    {"bad credentials 5.7.3", "5.7.3", "535 5.7.3 Authentication unsuccessful", "sasl_passwd",
     "sendasctl token"},
    {"bad credentials soft-bounced 4.7.3", "4.7.3", "535 5.7.3 Authentication unsuccessful",
     "sasl_passwd", NULL},
    {"STARTTLS required 451 5.7.3 (dsn 4.7.3)", "4.7.3",
     "451 5.7.3 STARTTLS is required to send mail",
     "smtp_tls_security_level", NULL},
    {"TLS 1.0/1.1 421 4.7.66", "4.7.66",
     "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to "
     "support TLS 1.2.",
     "TLSv1.2", NULL},
    {"plugin: token missing, 4.7.0", "4.7.0",
     "SASL authentication failed; cannot authenticate to server smtp.office365.com[52.97.1.2]: "
     "generic failure", "sendasctl token", "sendas-tokend"},
    {"no mechanism, 4.7.0", "4.7.0",
     "SASL authentication failed; cannot authenticate to server x[1.2.3.4]: no mechanism available",
     "plugin", NULL},
    {"server said 5.7.139 logged as 4.7.0", "4.7.0",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant.",
     "SmtpClientAuthenticationDisabled", NULL},
    {"other soft-bounced sign-in failure 4.7.5", "4.7.5",
     "SASL authentication failed; server x[1.2.3.4] said: 535 4.7.5 ...", "could not sign in",
     NULL},
    {"soft-bounced 5.7.139 as the log keeps it", "4.7.139",
     "SASL authentication failed; server x[1.2.3.4] said: 535 5.7.139 Authentication "
     "unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
     "SmtpClientAuthenticationDisabled $false", NULL},
    {"spam sender 5.1.8", "5.1.8", "550 5.1.8 Bad outbound sender", "Restricted entities", NULL},
    {"TERRL 5.7.233", "5.7.233",
     "550 5.7.233 ... your tenant has exceeded its daily limit for sending email to external "
     "recipients",
     "external recipients", NULL},
    {"HVE envelope 5.7.62", "5.7.62", "550 5.7.62 ...", "empty sendas list", NULL},
    {"HVE From 5.6.241", "5.6.241", "550 5.6.241 ...", "empty sendas list", NULL},
    {"connector relay 5.7.64", "5.7.64", "550 5.7.64 TenantAttribution; Relay Access Denied",
     "smtp.office365.com]:587", NULL},
    {"direct send 5.7.68", "5.7.68", "550 5.7.68 TenantInboundAttribution; Direct Send not allowed",
     "smtp.office365.com]:587", NULL},
    {"token expiring 5.5.127", "5.5.127",
     "501 5.5.127 Invalid XOAUTH2 auth data - Token will expire soon",
     "token_refresh_margin", NULL},
};

START_TEST(test_advice)
{
    char out[1024];

    ck_assert_msg(maillog_advice(advice[_i].dsn, advice[_i].reply, "a@b.c", "relay@contoso.com",
                                 NULL, out, sizeof(out)) == 1,
                  "%s: no advice", advice[_i].name);
    ck_assert_msg(strstr(out, advice[_i].has) != NULL, "%s: %s", advice[_i].name, out);
    ck_assert_msg(advice[_i].has2 == NULL || strstr(out, advice[_i].has2) != NULL, "%s: %s",
                  advice[_i].name, out);
    ck_assert_msg(strstr(out, "%") == NULL, "%s: unexpanded %%: %s", advice[_i].name, out);
}
END_TEST

/* issue 12.11: arguments of PowerShell commands are single-quoted, nothing in them runs */
START_TEST(test_advice_powershell_quoting)
{
    char out[2048];

    ck_assert_int_eq(maillog_advice("5.7.60", "", "x$(Stop-Computer)@contoso.com",
                                    "relay@contoso.com", NULL, out, sizeof(out)),
                     1);
    ck_assert_msg(strstr(out, "-Identity 'x$(Stop-Computer)@contoso.com' -Trustee "
                              "'relay@contoso.com'") != NULL, "%s", out);
    ck_assert_int_eq(maillog_advice("5.7.60", "", "o'brien`$x@contoso.com", "relay@contoso.com",
                                    NULL, out, sizeof(out)),
                     1);
    ck_assert_msg(strstr(out, "-Identity 'o''brien`$x@contoso.com'") != NULL, "%s", out);
    /* PowerShell also ends a '...' string at U+2019: doubled like ' */
    ck_assert_int_eq(maillog_advice("5.7.60", "", "o\xe2\x80\x99x@c.com", "relay@contoso.com", NULL,
                                    out, sizeof(out)),
                     1);
    ck_assert_msg(strstr(out, "'o\xe2\x80\x99\xe2\x80\x99x@c.com'") != NULL, "%s", out);
    /* a control character cannot break the advice line */
    ck_assert_int_eq(maillog_advice("5.7.139", "", "a", "re\nlay\x1b[2J@contoso.com", NULL, out,
                                    sizeof(out)),
                     1);
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_ptr_null(strchr(out, '\x1b'));
}
END_TEST

/* issue 12.11: the entry that permitted From is quoted as given, no invented line */
START_TEST(test_advice_entry)
{
    char out[2048];

    ck_assert_int_eq(maillog_advice("5.7.60", "", "billing@contoso.com", "relay@contoso.com",
                                    "\"@contoso.com\" from the sendas list of mailbox "
                                    "relay@contoso.com (sendas.conf line 3)",
                                    out, sizeof(out)),
                     1);
    ck_assert_msg(strstr(out, "remove \"@contoso.com\" from the sendas list of mailbox "
                              "relay@contoso.com (sendas.conf line 3)") != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, "sendas billing@contoso.com"));
}
END_TEST

START_TEST(test_no_advice)
{
    char out[64];

    ck_assert_int_eq(maillog_advice("2.6.0", "250 2.6.0 Queued", "a", "b", NULL, out, sizeof(out)),
                     0);
    ck_assert_int_eq(maillog_advice("5.2.0", "554 5.2.0 other", "a", "b", NULL, out, sizeof(out)),
                     0);
    ck_assert_int_eq(maillog_advice(NULL, NULL, NULL, NULL, NULL, out, sizeof(out)), 0);
    ck_assert_int_eq(maillog_advice("", "", NULL, NULL, NULL, out, sizeof(out)), 0);
    ck_assert_int_eq(maillog_advice("4.7", "", NULL, NULL, NULL, out, sizeof(out)), 0);
    /* a 4.x deferral of a send-as code is no send-as refusal */
    ck_assert_int_eq(maillog_advice("4.7.60", "", NULL, NULL, NULL, out, sizeof(out)), 0);
    /* a short buffer still gets a terminated (cut) line */
    ck_assert_int_eq(maillog_advice("4.3.2", "", NULL, NULL, NULL, out, 16), 1);
    ck_assert_uint_eq(strlen(out), 15);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("maillog");
    TCase *tc = tcase_create("maillog");

    tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_not_nul_terminated);
    tcase_add_test(tc, test_caps);
    tcase_add_loop_test(tc, test_advice, 0, sizeof(advice) / sizeof(advice[0]));
    tcase_add_test(tc, test_advice_powershell_quoting);
    tcase_add_test(tc, test_advice_entry);
    tcase_add_test(tc, test_no_advice);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
