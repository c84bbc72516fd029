/* SPDX-License-Identifier: MIT */
/*
 * quota - route refusals and per-mailbox limits for sendas-policyd (see quota.h).
 */
#include "quota.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "clock.h"
#include "pacing.h"
#include "route.h"

/* quota_counters_init - empty windows of the fixed geometry (the store relies on it) */
int quota_counters_init(struct quota_counters *q)
{
    memset(q, 0, sizeof(*q));
    if (window_init(&q->msgs, QUOTA_MINUTE_SPAN, QUOTA_MINUTE_GRAN) < 0 ||
        window_init(&q->rcpts, QUOTA_DAY_SPAN, QUOTA_DAY_GRAN) < 0) {
        quota_counters_free(q);
        return -1;
    }
    return 0;
}

/* quota_counters_free - release both windows */
void quota_counters_free(struct quota_counters *q)
{
    if (q == NULL)
        return;
    window_free(&q->msgs);
    window_free(&q->rcpts);
}

/* quota_effective - limit * headroom%, rounded down, at least 1 */
unsigned long long quota_effective(unsigned long long limit, unsigned headroom)
{
    unsigned long long e;

    if (limit == 0)
        return 0;
    if (headroom == 0 || headroom > 100)
        headroom = 100;
    e = limit / 100 * headroom + limit % 100 * headroom / 100;
    return e ? e : 1;
}

/* quota_verdict_name - for logs */
const char *quota_verdict_name(enum quota_verdict v)
{
    switch (v) {
    case QUOTA_DUNNO:
        return "dunno";
    case QUOTA_REJECT:
        return "reject";
    case QUOTA_DEFER:
        return "defer";
    case QUOTA_TEMPFAIL:
        return "tempfail";
    }
    return "?";
}

/* quota_format_time - ISO 8601 UTC, seconds rounded up (a reply must not promise too early) */
void quota_format_time(int64_t ms, char *out, size_t outlen)
{
    clock_format_rfc3339((ms + 999) / 1000 * 1000000, 0, out, outlen);
}

/* quota_tempfail - an internal error: defer, never pass or refuse for good */
void quota_tempfail(struct quota_decision *d, const char *why)
{
    d->verdict = QUOTA_TEMPFAIL;
    d->count_msgs = d->count_rcpts = 0;
    snprintf(d->reason, sizeof(d->reason), "internal error: %s", why);
    snprintf(d->action, sizeof(d->action),
             "DEFER_IF_PERMIT 4.3.0 Temporary sendas failure, try again later");
}

/* sender_text - the sender for a reply: "<a@b>" or "<>" */
static const char *sender_text(const struct polreq *r, char *out, size_t outlen)
{
    snprintf(out, outlen, "<%s>", r->sender);
    return out;
}

/* refuse_route - a route or no_route refuses: 550 5.7.1 or 450 4.7.1 naming sender and rule */
static void refuse_route(const struct conf *c, const struct polreq *r, int temp, const char *why,
                         struct quota_decision *d)
{
    char who[600];
    int n;

    d->verdict = temp ? QUOTA_TEMPFAIL : QUOTA_REJECT;
    snprintf(d->reason, sizeof(d->reason), "%s", why);
    /* a long sender and rule may be cut at the end of the reply (Postfix takes what
     * fits); d->reason keeps the rule whole for the log */
    n = snprintf(d->action, sizeof(d->action), "%s Sender %s %s: ",
                 temp ? "450 4.7.1" : "550 5.7.1", sender_text(r, who, sizeof(who)),
                 temp ? "temporarily refused" : "refused");
    if (n > 0 && (size_t)n < sizeof(d->action))
        snprintf(d->action + n, sizeof(d->action) - (size_t)n, "%s", why);
    (void)c;
}

/* quota_route - the route table for the request */
void quota_route(const struct conf *c, const struct polreq *r, struct quota_decision *d)
{
    struct route_input in;
    struct addr_mailbox env;
    enum route_status st;
    enum route_verdict v;
    int is_null = 0, env_ok;
    char why[300];

    memset(d, 0, sizeof(*d));
    snprintf(d->action, sizeof(d->action), "DUNNO");
    if (r->stage != POLREQ_MAIL && r->stage != POLREQ_RCPT && r->stage != POLREQ_DATA &&
        r->stage != POLREQ_EOM)
        return;
    memset(&in, 0, sizeof(in));
    memset(&env, 0, sizeof(env));
    in.sasl_login = r->sasl_username[0] ? r->sasl_username : NULL;
    route_set_client(&in, r->client_address);
    env_ok = addr_parse_path(r->sender, strlen(r->sender), &env, &is_null) == ADDR_OK;
    if (env_ok && !is_null) {
        in.env_local = env.local;
        in.env_domain = env.domain;
    }
    st = route_select(c, &in, &d->route);
    if (st == ROUTE_NEED_FROM) {
        d->need_from = 1;
        if (r->stage != POLREQ_EOM) {
            snprintf(d->reason, sizeof(d->reason),
                     "a from: route comes first: the route is chosen at the end of the message");
            goto done;
        }
        /* The policy service never sees the From header: charge the mailbox of
         * the first route that is not from: (the one the milter picks when no
         * from: route matches), so that such a configuration is not unlimited. */
        in.have_from = 1;
        st = route_select(c, &in, &d->route);
        d->fallback = 1;
        if (st != ROUTE_MATCH || d->route->target != TARGET_MAILBOX) {
            d->route = NULL;
            snprintf(d->reason, sizeof(d->reason),
                     "a from: route comes first and no other route names a mailbox: not counted");
            goto done;
        }
    }
    v = route_decide(c, st, d->route, why, sizeof(why));
    if (v == ROUTE_PASS) {
        snprintf(d->reason, sizeof(d->reason), "no route matches (no_route accept)");
        goto done;
    }
    if (v == ROUTE_REJECT || v == ROUTE_TEMPFAIL) {
        refuse_route(c, r, v == ROUTE_TEMPFAIL, why, d);
        goto done;
    }
    if (v == ROUTE_UNDECIDED) { /* not after the fallback above */
        d->route = NULL;
        goto done;
    }
    d->mailbox = d->route->mailbox;
done:
    addr_mailbox_free(&env);
}

/* frees_text - "in 42s (2026-11-28T10:15:02Z)" */
static void frees_text(int64_t at, int64_t now, char *out, size_t outlen)
{
    char when[40];
    long long secs = (long long)((at - now + 999) / 1000);

    quota_format_time(at, when, sizeof(when));
    snprintf(out, outlen, "in %llds (%s)", secs < 1 ? 1 : secs, when);
}

/* defer_limit - a rate limit is reached: DEFER_IF_PERMIT naming mailbox, limit and time */
static void defer_limit(const struct conf_limits *c, struct quota_decision *d, const char *what,
                        unsigned long long eff, unsigned long long limit, int64_t at,
                        int64_t now)
{
    char frees[80];

    frees_text(at, now, frees, sizeof(frees));
    d->verdict = QUOTA_DEFER;
    snprintf(d->reason, sizeof(d->reason), "mailbox %s reached %llu %s (%u%% of %llu); frees up %s",
             d->mailbox->address, eff, what, c->headroom, limit, frees);
    snprintf(d->action, sizeof(d->action),
             "DEFER_IF_PERMIT 4.7.0 Mailbox %s has reached its limit of %llu %s "
             "(%u%% of Exchange Online's %llu); try again %s",
             d->mailbox->address, eff, what, c->headroom, limit, frees);
}

/* quota_prepare - the checks that need no counters; 1 when the store must answer ask */
int quota_prepare(const struct conf *conf, const struct polreq *r, unsigned long rcpt_index,
                  struct quota_decision *d, struct quota_ask *ask)
{
    struct conf_limits lim, *c = &lim;
    unsigned long long m_eff, r_eff, need_r, rpm;
    int at_end = r->stage == POLREQ_DATA || r->stage == POLREQ_EOM;
    const char *mb;

    memset(ask, 0, sizeof(*ask));
    if (d->mailbox == NULL)
        return 0;
    conf_mailbox_limits(conf, d->mailbox, &lim);
    m_eff = quota_effective(c->messages_per_minute, c->headroom);
    r_eff = quota_effective(c->recipients_per_day, c->headroom);
    if (!pacing_intake_rate_limit(conf)) /* Postfix paces it instead (issue 10) */
        m_eff = 0;
    rpm = c->recipients_per_message;
    mb = d->mailbox->address;
    d->count_msgs = d->count_rcpts = 0;
    if (c->message_size && r->size > c->message_size) {
        d->verdict = QUOTA_REJECT;
        snprintf(d->reason, sizeof(d->reason), "message size %llu exceeds %llu bytes (mailbox %s)",
                 r->size, c->message_size, mb);
        snprintf(d->action, sizeof(d->action),
                 "552 5.3.4 Message size %llu exceeds the limit of %llu bytes of mailbox %s",
                 r->size, c->message_size, mb);
        return 0;
    }
    if (r->stage == POLREQ_RCPT && rpm && rcpt_index > rpm) {
        d->verdict = QUOTA_DEFER;
        snprintf(d->reason, sizeof(d->reason), "recipient %lu of the message, limit %llu (mailbox %s)",
                 rcpt_index, rpm, mb);
        snprintf(d->action, sizeof(d->action),
                 "452 4.5.3 Too many recipients: mailbox %s sends at most %llu per message; "
                 "send the rest in another message", mb, rpm);
        return 0;
    }
    if (at_end && rpm && r->recipient_count > rpm) {
        d->verdict = QUOTA_REJECT;
        snprintf(d->reason, sizeof(d->reason), "%llu recipients, limit %llu per message (mailbox %s)",
                 r->recipient_count, rpm, mb);
        snprintf(d->action, sizeof(d->action),
                 "552 5.5.3 Too many recipients: %llu, mailbox %s sends at most %llu per message",
                 r->recipient_count, mb, rpm);
        return 0;
    }
    /* recipients this request would bring the mailbox to */
    need_r = at_end ? r->recipient_count : r->stage == POLREQ_RCPT && rcpt_index ? rcpt_index : 1;
    if (r_eff && need_r > r_eff) {
        d->verdict = at_end ? QUOTA_REJECT : QUOTA_DEFER;
        snprintf(d->reason, sizeof(d->reason),
                 "%llu recipients, more than mailbox %s may send in 24 hours (%llu)", need_r, mb,
                 r_eff);
        snprintf(d->action, sizeof(d->action), "%s Too many recipients: mailbox %s may send to "
                 "%llu recipients in 24 hours", at_end ? "552 5.5.3" : "452 4.5.3", mb, r_eff);
        return 0;
    }
    ask->msg_limit = m_eff;
    ask->rcpt_limit = r_eff;
    ask->msgs = 1;
    ask->rcpts = need_r > UINT32_MAX ? UINT32_MAX : (uint32_t)need_r;
    ask->charge = r->stage == POLREQ_EOM;
    return 1;
}

/* quota_answer - the verdict from the store's answer */
void quota_answer(const struct conf *conf, const struct quota_ask *ask,
                  const struct quota_answer *ans, struct quota_decision *d)
{
    struct conf_limits lim;
    int msgs = ans->limit == QUOTA_LIMIT_MSGS;

    if (d->mailbox == NULL)
        return;
    d->count_msgs = d->count_rcpts = 0;
    if (ans->limit == QUOTA_LIMIT_NONE) {
        d->verdict = QUOTA_DUNNO;
        snprintf(d->action, sizeof(d->action), "DUNNO");
        if (ask->charge) {
            d->count_msgs = ask->msgs;
            d->count_rcpts = ask->rcpts;
        }
        return;
    }
    conf_mailbox_limits(conf, d->mailbox, &lim);
    if (ans->free_at < 0) { /* more than a relay's local share can ever hold */
        d->verdict = QUOTA_DEFER;
        snprintf(d->reason, sizeof(d->reason),
                 "mailbox %s: more %s than this relay's share while the shared counters are "
                 "unreachable", d->mailbox->address, msgs ? "messages" : "recipients");
        snprintf(d->action, sizeof(d->action),
                 "DEFER_IF_PERMIT 4.7.0 Mailbox %s has reached this relay's share of its limit; "
                 "try again later", d->mailbox->address);
        return;
    }
    if (msgs)
        defer_limit(&lim, d, "messages per minute", ask->msg_limit, lim.messages_per_minute,
                    ans->free_at, ans->now);
    else
        defer_limit(&lim, d, "recipients per 24 hours", ask->rcpt_limit, lim.recipients_per_day,
                    ans->free_at, ans->now);
}

/* quota_window_charge - fits? when free?  and charge, from in-memory windows */
void quota_window_charge(struct quota_counters *q, const struct quota_ask *ask,
                         struct quota_answer *ans)
{
    int64_t at;

    memset(ans, 0, sizeof(*ans));
    ans->now = ask->now;
    ans->free_at = ask->now;
    if (ask->msg_limit &&
        (at = window_free_at(&q->msgs, ask->now, ask->msg_limit, ask->msgs)) != ask->now) {
        ans->limit = QUOTA_LIMIT_MSGS;
        ans->free_at = at;
        return;
    }
    if (ask->rcpt_limit &&
        (at = window_free_at(&q->rcpts, ask->now, ask->rcpt_limit, ask->rcpts)) != ask->now) {
        ans->limit = QUOTA_LIMIT_RCPTS;
        ans->free_at = at;
        return;
    }
    if (ask->charge) {
        if (ask->msgs)
            window_add(&q->msgs, ask->now, ask->msgs);
        if (ask->rcpts)
            window_add(&q->rcpts, ask->now, ask->rcpts);
    }
}

/* quota_limits - check the mailbox's limits against counters in memory (without charging) */
void quota_limits(const struct conf *conf, const struct polreq *r, unsigned long rcpt_index,
                  struct quota_counters *q, int64_t now, struct quota_decision *d)
{
    struct quota_answer ans;
    struct quota_ask ask;

    if (!quota_prepare(conf, r, rcpt_index, d, &ask))
        return;
    ask.now = now;
    ask.charge = 0; /* quota_count charges */
    quota_window_charge(q, &ask, &ans);
    ask.charge = r->stage == POLREQ_EOM;
    quota_answer(conf, &ask, &ans, d);
}

/* quota_count - charge an accepted message */
void quota_count(struct quota_counters *q, int64_t now, const struct quota_decision *d)
{
    if (d->count_msgs)
        window_add(&q->msgs, now, d->count_msgs);
    if (d->count_rcpts)
        window_add(&q->rcpts, now, d->count_rcpts);
}
