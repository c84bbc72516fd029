/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of quota (sendas-policyd's decisions) and of the limit_*
 * directives of sendas.conf: a table of requests against counters filled
 * at a fake time.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "conf.h"
#include "polreq.h"
#include "quota.h"

#define T0 1700000000000LL /* the fake clock, ms */

static const char conf_text[] =
    "mailbox relay@contoso.com\n"
    "mailbox scanner@contoso.com\n"
    "route sender:blocked@legacy.local reject\n"
    "route sender:@later.local tempfail\n"
    "route sasl:printer01 scanner@contoso.com\n"
    "route client:10.9.0.0/16 scanner@contoso.com\n"
    "route sender:@corp.local relay@contoso.com\n"
    "limit_messages_per_minute 10\n"
    "limit_recipients_per_day 100\n"
    "limit_recipients_per_message 5\n"
    "limit_message_size 10000\n"
    "limit_headroom 50\n";

/* the same with a from: route: what comes after it is known only at the end of the message */
static const char conf_from[] = "mailbox relay@contoso.com\n"
                                "mailbox scanner@contoso.com\n"
                                "route from:@printers.local scanner@contoso.com\n"
                                "route sender:@corp.local relay@contoso.com\n";

static const struct {
    const char *name;
    const char *state, *sender, *client, *sasl;
    unsigned long long rcpt_count, size;
    unsigned long rcpt_index;
    unsigned prior_msgs, prior_rcpts; /* already counted for the mailbox, 10 s before */
    enum quota_verdict want;
    const char *want_mailbox; /* NULL: no mailbox's limits apply */
    const char *want_action;  /* substring of the action */
    unsigned counted;         /* recipients quota_count must add (messages: 1 if non-zero) */
    int with_from;            /* use conf_from */
} cases[] = {
    {"routed sender passes at RCPT", "RCPT", "app@corp.local", "192.0.2.1", "", 0, 0, 1, 0, 0,
     QUOTA_DUNNO, "relay@contoso.com", "DUNNO", 0},
    {"unrouted sender refused at RCPT", "RCPT", "x@elsewhere.example", "192.0.2.1", "", 0, 0, 1,
     0, 0, QUOTA_REJECT, NULL, "550 5.7.1 Sender <x@elsewhere.example> refused: no sendas route", 0},
    {"reject route names the rule", "RCPT", "blocked@legacy.local", "192.0.2.1", "", 0, 0, 1, 0, 0,
     QUOTA_REJECT, NULL, "route \"sender:blocked@legacy.local\" (t.conf line 3) says reject", 0},
    {"tempfail route", "RCPT", "a@later.local", "192.0.2.1", "", 0, 0, 1, 0, 0, QUOTA_TEMPFAIL,
     NULL, "450 4.7.1 Sender <a@later.local> temporarily refused", 0},
    {"from: route first: unknown at RCPT", "RCPT", "app@corp.local", "192.0.2.1", "", 0, 0, 1, 0,
     0, QUOTA_DUNNO, NULL, "DUNNO", 0, 1},
    {"from: route first: unrouted is unknown at RCPT", "RCPT", "x@elsewhere.example",
     "192.0.2.1", "", 0, 0, 1, 0, 0, QUOTA_DUNNO, NULL, "DUNNO", 0, 1},
    {"from: route first: next route's mailbox at end", "END-OF-MESSAGE", "app@corp.local",
     "192.0.2.1", "", 2, 500, 0, 0, 0, QUOTA_DUNNO, "relay@contoso.com", "DUNNO", 2, 1},
    {"from: route first: unrouted not counted at end", "END-OF-MESSAGE", "x@elsewhere.example",
     "192.0.2.1", "", 2, 500, 0, 0, 0, QUOTA_DUNNO, NULL, "DUNNO", 0, 1},
    {"sasl login picks the mailbox", "RCPT", "x@elsewhere.example", "192.0.2.1", "printer01", 0, 0,
     1, 0, 0, QUOTA_DUNNO, "scanner@contoso.com", "DUNNO", 0},
    {"client network picks the mailbox", "RCPT", "", "10.9.1.2", "", 0, 0, 1, 0, 0, QUOTA_DUNNO,
     "scanner@contoso.com", "DUNNO", 0},
    {"other stages are not looked at", "CONNECT", "x@elsewhere.example", "192.0.2.1", "", 0, 0, 0,
     0, 0, QUOTA_DUNNO, NULL, "DUNNO", 0},
    {"end of message counts once", "END-OF-MESSAGE", "app@corp.local", "192.0.2.1", "", 3, 100, 0,
     4, 10, QUOTA_DUNNO, "relay@contoso.com", "DUNNO", 3},
    {"last message of the minute passes", "END-OF-MESSAGE", "app@corp.local", "192.0.2.1", "", 1,
     100, 0, 4, 4, QUOTA_DUNNO, "relay@contoso.com", "DUNNO", 1},
    {"minute full: refused early at RCPT", "RCPT", "app@corp.local", "192.0.2.1", "", 0, 0, 1, 5,
     5, QUOTA_DEFER, "relay@contoso.com",
     "DEFER_IF_PERMIT 4.7.0 Mailbox relay@contoso.com has reached its limit of 5 messages per "
     "minute (50% of Exchange Online's 10); try again in 51s (2023-11-14T22:14:11Z)", 0},
    {"minute full at end of message", "END-OF-MESSAGE", "app@corp.local", "192.0.2.1", "", 1, 100,
     0, 5, 5, QUOTA_DEFER, "relay@contoso.com", "limit of 5 messages per minute", 0},
    {"day full: refused early at RCPT", "RCPT", "app@corp.local", "192.0.2.1", "", 0, 0, 1, 1, 50,
     QUOTA_DEFER, "relay@contoso.com", "limit of 50 recipients per 24 hours (50% of Exchange "
     "Online's 100); try again in 86440s", 0},
    {"day nearly full: the 3rd recipient is one too many", "RCPT", "app@corp.local", "192.0.2.1",
     "", 0, 0, 3, 1, 48, QUOTA_DEFER, "relay@contoso.com", "recipients per 24 hours", 0},
    {"day nearly full: a message that fits", "END-OF-MESSAGE", "app@corp.local", "192.0.2.1", "", 2,
     10, 0, 1, 48, QUOTA_DUNNO, "relay@contoso.com", "DUNNO", 2},
    {"recipient past the per-message limit", "RCPT", "app@corp.local", "192.0.2.1", "", 0, 0, 6, 0,
     0, QUOTA_DEFER, "relay@contoso.com",
     "452 4.5.3 Too many recipients: mailbox relay@contoso.com sends at most 5 per message", 0},
    {"too many recipients at end of message", "END-OF-MESSAGE", "app@corp.local", "192.0.2.1", "",
     6, 100, 0, 0, 0, QUOTA_REJECT, "relay@contoso.com", "552 5.5.3 Too many recipients: 6", 0},
    {"declared size too large at RCPT", "RCPT", "app@corp.local", "192.0.2.1", "", 0, 10001, 1, 0,
     0, QUOTA_REJECT, "relay@contoso.com",
     "552 5.3.4 Message size 10001 exceeds the limit of 10000 bytes of mailbox relay@contoso.com",
     0},
    {"size exactly at the limit", "END-OF-MESSAGE", "app@corp.local", "192.0.2.1", "", 1, 10000, 0,
     0, 0, QUOTA_DUNNO, "relay@contoso.com", "DUNNO", 1},
    {"limits of another mailbox do not matter", "RCPT", "x@y.z", "10.9.0.1", "", 0, 0, 1, 5, 50,
     QUOTA_DUNNO, "scanner@contoso.com", "DUNNO", 0},
};

START_TEST(test_decisions)
{
    char err[CONF_ERRLEN], text[2048], rq[2048];
    const char *ct = cases[_i].with_from ? conf_from : conf_text;
    struct conf *c = conf_parse("t.conf", ct, strlen(ct), err, sizeof(err));
    static struct polreq r;
    struct quota_counters relay;
    struct quota_decision d;
    size_t used;

    ck_assert_msg(c != NULL, "%s", err);
    snprintf(rq, sizeof(rq),
             "request=smtpd_access_policy\nprotocol_state=%s\nsender=%s\nclient_address=%s\n"
             "sasl_username=%s\nrecipient_count=%llu\nsize=%llu\n\n",
             cases[_i].state, cases[_i].sender, cases[_i].client, cases[_i].sasl,
             cases[_i].rcpt_count, cases[_i].size);
    ck_assert_int_eq(polreq_parse(&r, rq, strlen(rq), &used, err, sizeof(err)), POLREQ_OK);
    ck_assert_int_eq(quota_counters_init(&relay), 0);
    if (cases[_i].prior_msgs)
        window_add(&relay.msgs, T0 - 10000, cases[_i].prior_msgs);
    if (cases[_i].prior_rcpts)
        window_add(&relay.rcpts, T0 - 10000, cases[_i].prior_rcpts);

    quota_route(c, &r, &d);
    if (d.mailbox && strcmp(d.mailbox->address, "relay@contoso.com") == 0) {
        quota_limits(c, &r, cases[_i].rcpt_index, &relay, T0, &d);
    } else if (d.mailbox) {
        struct quota_counters empty;

        ck_assert_int_eq(quota_counters_init(&empty), 0);
        quota_limits(c, &r, cases[_i].rcpt_index, &empty, T0, &d);
        quota_counters_free(&empty);
    }
    snprintf(text, sizeof(text), "%s: verdict %s, mailbox %s, action \"%s\"", cases[_i].name,
             quota_verdict_name(d.verdict), d.mailbox ? d.mailbox->address : "-", d.action);
    ck_assert_msg(d.verdict == cases[_i].want, "%s", text);
    if (cases[_i].want_mailbox)
        ck_assert_msg(d.mailbox && strcmp(d.mailbox->address, cases[_i].want_mailbox) == 0, "%s",
                      text);
    else
        ck_assert_msg(d.mailbox == NULL, "%s", text);
    ck_assert_msg(strstr(d.action, cases[_i].want_action) != NULL, "%s; want \"%s\"", text,
                  cases[_i].want_action);
    ck_assert_msg(d.count_rcpts == cases[_i].counted && d.count_msgs == (cases[_i].counted ? 1u : 0u),
                  "%s: counts %u/%u", text, d.count_msgs, d.count_rcpts);
    if (d.count_msgs) {
        quota_count(&relay, T0, &d);
        ck_assert_uint_eq(window_total(&relay.msgs, T0), cases[_i].prior_msgs + 1);
    }
    quota_counters_free(&relay);
    conf_free(c);
}
END_TEST

/* limit_* directives: defaults, settings, refusals. */
START_TEST(test_limit_directives)
{
    static const struct {
        const char *line, *want; /* want NULL: accepted */
    } bad[] = {
        {"limit_messages_per_minute -1", "expected 0 to 1000000"},
        {"limit_messages_per_minute 30x", "expected 0 to 1000000"},
        {"limit_messages_per_minute", "expected exactly one value"},
        {"limit_recipients_per_day 100000001", "expected 0 to 100000000"},
        {"limit_headroom 0", "expected 1 to 100 (percent)"},
        {"limit_headroom 101", "expected 1 to 100"},
        {"limit_message_size 99999999999999999999", "expected 0 to"},
        {"limit_bogus 3", "unknown directive \"limit_bogus\""},
    };
    /* the defaults, then the values conf_text sets */
    static const struct {
        const char *text;
        unsigned long per_minute, per_day, per_message;
        unsigned long long size;
        unsigned headroom;
    } good[] = {
        {"mailbox a@b.c\nroute * a@b.c\n", 30, 10000, 500, 36700160, 90},
        {conf_text, 10, 100, 5, 10000, 50},
    };
    char err[CONF_ERRLEN], text[512];
    struct conf *c;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        c = conf_parse("t.conf", good[i].text, strlen(good[i].text), err, sizeof(err));
        ck_assert_msg(c != NULL, "%s", err);
        ck_assert_uint_eq(c->limit_messages_per_minute, good[i].per_minute);
        ck_assert_uint_eq(c->limit_recipients_per_day, good[i].per_day);
        ck_assert_uint_eq(c->limit_recipients_per_message, good[i].per_message);
        ck_assert_uint_eq(c->limit_message_size, good[i].size);
        ck_assert_uint_eq(c->limit_headroom, good[i].headroom);
        conf_free(c);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "mailbox a@b.c\nroute * a@b.c\n%s\n", bad[i].line);
        c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
        ck_assert_msg(c == NULL, "\"%s\" accepted", bad[i].line);
        ck_assert_msg(strstr(err, "t.conf:3: ") && strstr(err, bad[i].want), "\"%s\": %s",
                      bad[i].line, err);
    }
    snprintf(text, sizeof(text), "mailbox a@b.c\nroute * a@b.c\nlimit_messages_per_minute 0\n");
    c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->limit_messages_per_minute, 0);
    conf_free(c);
}
END_TEST

/* A mailbox with its own lower per-minute limit is deferred while another is not; with
 * pacing on (intake_rate_limit auto) the per-minute limit is left to Postfix, the 24-hour
 * recipient limit still refuses at intake. */
START_TEST(test_mailbox_own_limits)
{
    static const char base[] = "mailbox relay@contoso.com\n"
                               "mailbox scanner@contoso.com limit_messages_per_minute 2\n"
                               "limits scanner@contoso.com limit_headroom 100 limit_recipients_per_day 3\n"
                               "route sender:@scan.local scanner@contoso.com\n"
                               "route * relay@contoso.com\n"
                               "limit_messages_per_minute 10\n"
                               "limit_headroom 100\n";
    static const struct {
        const char *name, *extra, *sender;
        unsigned prior_msgs, prior_rcpts;
        enum quota_verdict want;
        const char *want_action;
    } t[] = {
        {"own limit reached", "", "x@scan.local", 2, 2, QUOTA_DEFER, "its limit of 2 messages per minute (100% of Exchange Online's 2)"},
        {"the other mailbox at the same count passes", "", "x@corp.local", 2, 2, QUOTA_DUNNO, "DUNNO"},
        {"the other mailbox at its global limit", "", "x@corp.local", 10, 10, QUOTA_DEFER, "limit of 10 messages per minute"},
        {"own limit under pacing: left to Postfix", "pacing yes\n", "x@scan.local", 2, 2, QUOTA_DUNNO, "DUNNO"},
        {"own limit, pacing, intake_rate_limit yes", "pacing yes\nintake_rate_limit yes\n", "x@scan.local", 2, 2, QUOTA_DEFER, "messages per minute"},
        {"intake_rate_limit no without pacing", "intake_rate_limit no\n", "x@scan.local", 5, 2, QUOTA_DUNNO, "DUNNO"},
        {"24-hour limit under pacing still refuses", "pacing yes\n", "x@scan.local", 2, 3, QUOTA_DEFER, "limit of 3 recipients per 24 hours"},
    };
    char err[CONF_ERRLEN], text[1024], rq[512];
    static struct polreq r;
    struct quota_counters q;
    struct quota_decision d;
    struct conf *c;
    size_t i, used;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(text, sizeof(text), "%s%s", base, t[i].extra);
        c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
        ck_assert_msg(c != NULL, "%s", err);
        snprintf(rq, sizeof(rq), "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=%s\n"
                 "client_address=192.0.2.1\n\n", t[i].sender);
        ck_assert_int_eq(polreq_parse(&r, rq, strlen(rq), &used, err, sizeof(err)), POLREQ_OK);
        ck_assert_int_eq(quota_counters_init(&q), 0);
        window_add(&q.msgs, T0 - 10000, t[i].prior_msgs);
        window_add(&q.rcpts, T0 - 10000, t[i].prior_rcpts);
        quota_route(c, &r, &d);
        ck_assert_ptr_nonnull(d.mailbox);
        quota_limits(c, &r, 1, &q, T0, &d);
        ck_assert_msg(d.verdict == t[i].want && strstr(d.action, t[i].want_action),
                      "%s: %s, \"%s\"", t[i].name, quota_verdict_name(d.verdict), d.action);
        quota_counters_free(&q);
        conf_free(c);
    }
}
END_TEST

START_TEST(test_effective)
{
    static const struct {
        unsigned long long limit;
        unsigned headroom;
        unsigned long long want;
    } t[] = {
        {30, 90, 27}, {10000, 90, 9000}, {10, 50, 5}, {1, 50, 1}, {3, 10, 1}, {0, 90, 0},
        {30, 100, 30}, {18446744073709551615ULL, 100, 18446744073709551615ULL},
        {18446744073709551615ULL, 50, 9223372036854775807ULL},
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_msg(quota_effective(t[i].limit, t[i].headroom) == t[i].want,
                      "%llu at %u%%: %llu, want %llu", t[i].limit, t[i].headroom,
                      quota_effective(t[i].limit, t[i].headroom), t[i].want);
}
END_TEST

START_TEST(test_tempfail)
{
    struct quota_decision d;

    memset(&d, 0, sizeof(d));
    d.count_msgs = 1;
    quota_tempfail(&d, "out of memory");
    ck_assert_int_eq(d.verdict, QUOTA_TEMPFAIL);
    ck_assert_str_eq(d.action, "DEFER_IF_PERMIT 4.3.0 Temporary sendas failure, try again later");
    ck_assert_uint_eq(d.count_msgs, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quota");
    TCase *tc = tcase_create("quota");

    tcase_add_loop_test(tc, test_decisions, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_limit_directives);
    tcase_add_test(tc, test_effective);
    tcase_add_test(tc, test_mailbox_own_limits);
    tcase_add_test(tc, test_tempfail);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
