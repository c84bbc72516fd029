/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of route_decide: every verdict with its reason, and the milter's
 * planner (rewrite.c) and the policy service (quota.c) refusing with the very
 * reason route_decide gives, for each kind of refusal.
 */
#include <check.h>
#include <string.h>

#include "conf.h"
#include "polreq.h"
#include "quota.h"
#include "rewrite.h"
#include "route.h"
#include "unit.h"

static const char conf_text[] = "mailbox relay@contoso.com\n"
                                "route sender:blocked@legacy.local reject\n"
                                "route sender:@later.local tempfail\n"
                                "route sender:@corp.local relay@contoso.com\n"
                                "no_route %s\n";

/* load - the configuration with no_route nr */
static struct conf *load(const char *nr)
{
    char text[512], err[CONF_ERRLEN];
    struct conf *c;

    snprintf(text, sizeof(text), conf_text, nr);
    c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static const struct {
    const char *no_route, *sender;
    enum route_verdict want;
    const char *why;
} cases[] = {
    {"reject", "app@corp.local", ROUTE_TO_MAILBOX, ""},
    {"reject", "blocked@legacy.local", ROUTE_REJECT,
     "route \"sender:blocked@legacy.local\" (t.conf line 2) says reject"},
    {"reject", "a@later.local", ROUTE_TEMPFAIL,
     "route \"sender:@later.local\" (t.conf line 3) says tempfail"},
    {"reject", "x@elsewhere.example", ROUTE_REJECT,
     "no sendas route covers this sender (no_route reject)"},
    {"tempfail", "x@elsewhere.example", ROUTE_TEMPFAIL,
     "no sendas route covers this sender (no_route tempfail)"},
    {"accept", "x@elsewhere.example", ROUTE_PASS, ""},
};

/* Each verdict and reason; the milter and the policy service say the same. */
START_TEST(test_decide_and_callers_agree)
{
    struct conf *c = load(cases[_i].no_route);
    struct route_input in;
    const struct conf_route *r = NULL;
    char why[300], sender[128], local[64];
    const char *at = strchr(cases[_i].sender, '@');
    enum route_status st;
    enum route_verdict v;
    struct polreq pr;
    struct quota_decision d;
    struct rw_msg m;
    struct rw_plan p;

    memset(&in, 0, sizeof(in));
    snprintf(local, sizeof(local), "%.*s", (int)(at - cases[_i].sender), cases[_i].sender);
    in.env_local = local;
    in.env_domain = at + 1;
    st = route_select(c, &in, &r);
    v = route_decide(c, st, r, why, sizeof(why));
    ck_assert_int_eq(v, cases[_i].want);
    ck_assert_str_eq(why, cases[_i].why);

    /* the policy service: its reason is route_decide's */
    memset(&pr, 0, sizeof(pr));
    pr.stage = POLREQ_RCPT;
    pr.sender = cases[_i].sender;
    pr.client_address = "192.0.2.1";
    pr.sasl_username = "";
    quota_route(c, &pr, &d);
    if (v == ROUTE_REJECT || v == ROUTE_TEMPFAIL) {
        ck_assert_int_eq(d.verdict, v == ROUTE_REJECT ? QUOTA_REJECT : QUOTA_TEMPFAIL);
        ck_assert_str_eq(d.reason, why);
        ck_assert_msg(strstr(d.action, why) != NULL, "%s", d.action);
    } else {
        ck_assert_int_eq(d.verdict, QUOTA_DUNNO);
    }

    /* the milter's planner at MAIL FROM: its reply carries the same reason */
    snprintf(sender, sizeof(sender), "<%s>", cases[_i].sender);
    rw_msg_init(&m);
    m.env_sender = sender;
    ck_assert_int_eq(rw_plan_envelope(c, &m, &p), 0);
    if (v == ROUTE_REJECT || v == ROUTE_TEMPFAIL) {
        ck_assert_int_eq(p.action, v == ROUTE_REJECT ? RW_REJECT : RW_TEMPFAIL);
        ck_assert_msg(strstr(p.text, why) != NULL, "%s", p.text);
    } else {
        ck_assert_int_eq(p.action, RW_KEEP);
    }
    rw_plan_free(&p);
    conf_free(c);
}
END_TEST

/* Before the From header is known, a from: route leaves it undecided, with no reason. */
START_TEST(test_undecided)
{
    static const char t[] = "mailbox a@b.c\nroute from:@x.y a@b.c\nroute * a@b.c\n";
    char err[CONF_ERRLEN], why[64] = "stale";
    struct conf *c = conf_parse("t.conf", t, strlen(t), err, sizeof(err));
    struct route_input in;
    const struct conf_route *r = NULL;
    enum route_status st;

    ck_assert_msg(c != NULL, "%s", err);
    memset(&in, 0, sizeof(in));
    st = route_select(c, &in, &r);
    ck_assert_int_eq(route_decide(c, st, r, why, sizeof(why)), ROUTE_UNDECIDED);
    ck_assert_str_eq(why, "");
    conf_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_decide_and_callers_agree, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_undecided);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
