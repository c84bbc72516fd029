/* SPDX-License-Identifier: MIT */
/*
 * quota - the decisions of sendas-policyd: route refusals and the
 * per-mailbox limits of Exchange Online.
 *
 * Pure: given the configuration, a parsed request, a mailbox's counters and
 * the time, it returns the policy action.  Who keeps the counters (memory,
 * SQLite, later a shared Redis) is store.h's business.
 *
 * Limits (sendas.conf limit_*; 0 = none):
 *   messages per minute and recipients per rolling 24 hours, of which only
 *   limit_headroom percent is used, so the relay defers before Exchange
 *   Online refuses and blocks the mailbox: DEFER_IF_PERMIT 4.7.0 naming the
 *   mailbox, the limit and when it frees up;
 *   recipients per message and message size: 552 5.5.3 / 552 5.3.4, except
 *   that a recipient past the per-message limit at RCPT gets 452 4.5.3
 *   (RFC 5321 4.5.3.1.10: the client sends the rest in another message).
 * A message is counted once, at END-OF-MESSAGE (1 message, recipient_count
 * recipients); MAIL, RCPT and DATA refuse early when the mailbox is full.
 */
#ifndef SENDAS_QUOTA_H
#define SENDAS_QUOTA_H

#include <stdint.h>

#include "conf.h"
#include "polreq.h"
#include "window.h"

#define QUOTA_MINUTE_SPAN 60000LL   /* ms */
#define QUOTA_MINUTE_GRAN 1000LL    /* one-second buckets */
#define QUOTA_DAY_SPAN 86400000LL   /* ms */
#define QUOTA_DAY_GRAN 60000LL      /* one-minute buckets */

/* The counters of one mailbox. */
struct quota_counters {
    struct window msgs;  /* messages, 60 s window */
    struct window rcpts; /* recipients, 24 h window */
};

enum quota_verdict {
    QUOTA_DUNNO,    /* no objection */
    QUOTA_REJECT,   /* permanent refusal (5xx) */
    QUOTA_DEFER,    /* a limit: DEFER_IF_PERMIT, or 452 for one recipient too many */
    QUOTA_TEMPFAIL, /* a route or no_route says tempfail, or an internal error */
};

struct quota_decision {
    enum quota_verdict verdict;
    const struct conf_route *route;     /* the route that decided, if any */
    const struct conf_mailbox *mailbox; /* the mailbox whose limits apply, if any */
    int need_from;   /* a from: route comes first: the milter decides the route */
    int fallback;    /* mailbox is that of the first route that is not from: */
    uint32_t count_msgs, count_rcpts; /* END-OF-MESSAGE passed: what quota_count adds */
    char action[700]; /* what follows "action=" */
    char reason[400]; /* for the log */
};

/*
 * What a request asks of a mailbox's counters: does it fit under the
 * effective limits, and (END-OF-MESSAGE) charge it if so.  The store answers
 * this as ONE atomic step (store_charge), so that two relays sharing a store
 * cannot both admit the last message that fits.
 */
struct quota_ask {
    uint64_t msg_limit;  /* effective messages per minute; 0 = none */
    uint64_t rcpt_limit; /* effective recipients per 24 hours; 0 = none */
    uint32_t msgs;       /* messages this request needs room for (1) and adds */
    uint32_t rcpts;      /* recipients it needs room for and adds */
    int charge;          /* add msgs and rcpts when both fit */
    int64_t now;         /* the relay's clock, ms (a shared store uses the server's) */
};

#define QUOTA_LIMIT_NONE 0  /* everything fits */
#define QUOTA_LIMIT_MSGS 1  /* messages per minute refused */
#define QUOTA_LIMIT_RCPTS 2 /* recipients per 24 hours refused */

struct quota_answer {
    int limit;       /* QUOTA_LIMIT_*: the first limit that does not fit */
    int64_t free_at; /* when it would fit, ms; -1 never (need > limit) */
    int64_t now;     /* the clock the store used, ms */
    int local;       /* answered by a relay's local share (shared store unreachable) */
};

/* quota_counters_init - empty counters; 0, or -1 when out of memory */
int quota_counters_init(struct quota_counters *q);
/* quota_counters_free - release; NULL-safe */
void quota_counters_free(struct quota_counters *q);

/* quota_effective - the part of limit used with headroom percent (0 = no limit; else >= 1) */
unsigned long long quota_effective(unsigned long long limit, unsigned headroom);

/*
 * quota_route - first half of a decision: run the route table for the
 * request's SASL login, client address and envelope sender.  Sets
 * d->verdict (REJECT/TEMPFAIL for refusing routes and no_route, else
 * DUNNO), d->route, and d->mailbox when the limits of a mailbox apply.  At
 * END-OF-MESSAGE a from: route met first makes the first route that is not
 * from: choose the mailbox (d->fallback); before that the answer is DUNNO.
 */
void quota_route(const struct conf *c, const struct polreq *r, struct quota_decision *d);

/*
 * quota_limits - second half: check d->mailbox's limits for the request.
 * rcpt_index is the position of this recipient in its message (1-based,
 * RCPT only).  q is the mailbox's counters (advanced to now).  Sets the
 * verdict and action; at END-OF-MESSAGE with no objection sets
 * d->count_msgs/d->count_rcpts for quota_count.
 */
void quota_limits(const struct conf *c, const struct polreq *r, unsigned long rcpt_index,
                  struct quota_counters *q, int64_t now, struct quota_decision *d);

/*
 * quota_prepare - the checks that need no counters (size, recipients per
 * message, more recipients than a whole day allows); sets the verdict when
 * one refuses.  Returns 1 when the counters must answer, with ask filled
 * (ask->now left to the caller), else 0.
 */
int quota_prepare(const struct conf *c, const struct polreq *r, unsigned long rcpt_index,
                  struct quota_decision *d, struct quota_ask *ask);

/*
 * quota_answer - the decision from the store's answer to ask: DUNNO (and at
 * END-OF-MESSAGE count_msgs/count_rcpts set to what was charged), or
 * DEFER_IF_PERMIT naming the limit and when it frees up.
 */
void quota_answer(const struct conf *c, const struct quota_ask *ask,
                  const struct quota_answer *ans, struct quota_decision *d);

/*
 * quota_window_charge - answer ask from a mailbox's in-memory windows at
 * ask->now (the SQLite store, and a shared store's local fallback)
 */
void quota_window_charge(struct quota_counters *q, const struct quota_ask *ask,
                         struct quota_answer *ans);

/* quota_count - add an accepted message to the counters */
void quota_count(struct quota_counters *q, int64_t now, const struct quota_decision *d);

/* quota_tempfail - an internal error as a decision: DEFER_IF_PERMIT 4.3.0 */
void quota_tempfail(struct quota_decision *d, const char *why);

/* quota_verdict_name - "dunno", "reject", "defer", "tempfail" */
const char *quota_verdict_name(enum quota_verdict v);

/* quota_format_time - "2026-11-28T10:15:02Z" for a time in ms */
void quota_format_time(int64_t ms, char *out, size_t outlen);

#endif
