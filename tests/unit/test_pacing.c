/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of pacing: the per-mailbox transport names and the concurrency and
 * rate delay derived from a mailbox's per-minute limit, headroom and relays.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "conf.h"
#include "pacing.h"

/* Each mailbox's figures on one relay. */
static const struct {
    const char *name, *conf; /* the mailbox is a@b.c */
    unsigned concurrency;
    unsigned long delay;
} plans[] = {
    {"Exchange Online's 30/min at the default 90%: 27 a minute, so 3 s (20 a minute)",
     "mailbox a@b.c\n", 1, 3},
    {"30/min at 100%: 2 s", "mailbox a@b.c limit_headroom 100\n", 1, 2},
    {"60/min at 100%: 1 s", "mailbox a@b.c limit_messages_per_minute 60 limit_headroom 100\n", 1, 1},
    {"60/min at 90%: 54 a minute, so 2 s", "mailbox a@b.c limit_messages_per_minute 60\n", 1, 2},
    {"60/min at 100% on 2 relays: 30 each, 2 s",
     "mailbox a@b.c limit_messages_per_minute 60 limit_headroom 100\nrelays 2\n", 1, 2},
    {"30/min at 100% on 2 relays: 15 each, 4 s", "mailbox a@b.c limit_headroom 100\nrelays 2\n", 1, 4},
    {"30/min at 90% on 3 relays: 9 each, 7 s", "mailbox a@b.c\nrelays 3\n", 1, 7},
    {"1/min at 1% on 64 relays: 384000 s", "mailbox a@b.c limit_messages_per_minute 1 limit_headroom 1\nrelays 64\n", 1, 384000},
    {"the global limit applies", "limit_messages_per_minute 10\nlimit_headroom 100\nmailbox a@b.c\n", 1, 6},
    {"no per-minute limit: Exchange Online's 3 connections", "mailbox a@b.c limit_messages_per_minute 0\n", 3, 0},
    {"no per-minute limit on 2 relays: 1 connection each", "mailbox a@b.c limit_messages_per_minute 0\nrelays 2\n", 1, 0},
    {"no per-minute limit on 4 relays: still 1 each", "limit_messages_per_minute 0\nmailbox a@b.c\nrelays 4\n", 1, 0},
};

START_TEST(test_plan)
{
    char err[CONF_ERRLEN], text[512];
    struct pacing pc;
    struct conf *c;

    snprintf(text, sizeof(text), "%sroute * a@b.c\n", plans[_i].conf);
    c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
    ck_assert_msg(c != NULL, "%s: %s", plans[_i].name, err);
    pacing_plan(c, &c->mailboxes[0], &pc);
    ck_assert_msg(pc.concurrency == plans[_i].concurrency && pc.rate_delay == plans[_i].delay,
                  "%s: concurrency %u, delay %lus", plans[_i].name, pc.concurrency, pc.rate_delay);
    /* the pace never exceeds the mailbox's share: 60 / delay * relays <= limit * headroom */
    if (pc.rate_delay)
        ck_assert_msg(6000ULL * c->relays <=
                          (unsigned long long)pc.rate_delay *
                              (c->mailboxes[0].limits_set & CONF_LIM_MPM
                                   ? c->mailboxes[0].limits.messages_per_minute
                                   : c->limit_messages_per_minute) *
                              (c->mailboxes[0].limits_set & CONF_LIM_HEADROOM
                                   ? c->mailboxes[0].limits.headroom
                                   : c->limit_headroom),
                      "%s: too fast", plans[_i].name);
    conf_free(c);
}
END_TEST

/* Names: the readable part, the hash; stable, bounded, unique for look-alikes. */
START_TEST(test_names)
{
    static const char *const look_alike[] = {"a.b@c.d", "a-b@c.d", "a_b@c.d", "A.B@c.d", "ab@c.d"};
    char n[5][PACING_NAME_MAX + 1], again[PACING_NAME_MAX + 1], longest[400];
    size_t i, j;

    pacing_transport_name("relay@contoso.com", n[0], sizeof(n[0]));
    ck_assert_msg(strncmp(n[0], "sendas-relay-contoso-com-", 25) == 0 && strlen(n[0]) == 33, "%s",
                  n[0]);
    for (i = 0; i < 5; i++)
        pacing_transport_name(look_alike[i], n[i], sizeof(n[i]));
    for (i = 0; i < 5; i++)
        for (j = i + 1; j < 5; j++)
            ck_assert_msg(strcmp(n[i], n[j]) != 0 || (i == 0 && j == 3), "%s and %s: %s",
                          look_alike[i], look_alike[j], n[i]);
    /* case does not matter in an address's domain, and Exchange Online ignores it in the
     * local part too: one mailbox, one transport */
    ck_assert_str_eq(n[0], n[3]);
    pacing_transport_name("a.b@c.d", again, sizeof(again));
    ck_assert_str_eq(n[0], again);
    memset(longest, 'x', sizeof(longest) - 1);
    longest[64] = '@';
    longest[sizeof(longest) - 1] = '\0';
    pacing_transport_name(longest, again, sizeof(again));
    ck_assert_uint_eq(strlen(again), PACING_NAME_MAX);
    for (i = 0; again[i]; i++)
        ck_assert_msg(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", again[i]) != NULL, "%s",
                      again);
    pacing_transport_name("jörg@b.c", again, sizeof(again)); /* UTF-8 bytes become '-' */
    ck_assert_msg(strncmp(again, "sendas-j--rg-b-c-", 17) == 0, "%s", again);
}
END_TEST

/* intake_rate_limit: auto follows pacing (when the envelope is rewritten); yes and no are
 * what they say. */
START_TEST(test_intake)
{
    static const struct {
        const char *lines;
        int want;
    } t[] = {
        {"", 1}, {"pacing yes\n", 0}, {"pacing no\n", 1}, {"pacing yes\nintake_rate_limit yes\n", 1},
        {"intake_rate_limit no\n", 0}, {"pacing yes\nintake_rate_limit auto\n", 0},
        /* Postfix picks the paced transport by envelope sender: left as the client sent it,
         * no mailbox's transport matches and nothing paces it, so the intake limit stays */
        {"pacing yes\nrewrite_envelope no\n", 1},
        {"pacing yes\nrewrite_envelope no\nintake_rate_limit no\n", 0},
    };
    char err[CONF_ERRLEN], text[256];
    struct conf *c;
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(text, sizeof(text), "mailbox a@b.c\nroute * a@b.c\n%s", t[i].lines);
        c = conf_parse("t.conf", text, strlen(text), err, sizeof(err));
        ck_assert_msg(c != NULL, "%s", err);
        ck_assert_msg(pacing_intake_rate_limit(c) == t[i].want, "\"%s\"", t[i].lines);
        /* and the file says so */
        ck_assert_int_eq(c->pacing && !c->rewrite_envelope,
                         c->nwarnings == 1 && strstr(c->warnings[0], "rewrite_envelope no") != NULL);
        conf_free(c);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pacing");
    TCase *tc = tcase_create("pacing");

    tcase_add_loop_test(tc, test_plan, 0, sizeof(plans) / sizeof(plans[0]));
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_intake);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
