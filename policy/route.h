/* SPDX-License-Identifier: MIT */
/*
 * route - choose the route (and so the mailbox) for a message.
 *
 * Routes are tried in configuration order, first match wins.  At MAIL FROM
 * the From header is not known yet: a from: selector met before any match
 * makes the answer ROUTE_NEED_FROM, and the caller decides again at the end
 * of the message.  sendas-milter and sendas-policyd call the same code, so
 * they always pick the same mailbox.
 */
#ifndef SENDAS_ROUTE_H
#define SENDAS_ROUTE_H

#include "conf.h"

struct route_input {
    const char *sasl_login;   /* {auth_authen}; NULL when the client did not log in */
    int family;               /* AF_INET, AF_INET6, or 0 when unknown */
    unsigned char addr[16];   /* client address, network order */
    const char *env_local;    /* envelope sender; NULL for the null sender */
    const char *env_domain;
    int have_from;            /* the From header is known (end of message) */
    const char *from_local;   /* first From address; NULL when none */
    const char *from_domain;
};

enum route_status {
    ROUTE_MATCH,     /* *out is the matching route */
    ROUTE_NOMATCH,   /* no route matches: conf->no_route applies */
    ROUTE_NEED_FROM, /* cannot decide before the From header is known */
};

/* route_select - first matching route for in; see enum route_status */
enum route_status route_select(const struct conf *c, const struct route_input *in,
                               const struct conf_route **out);

/* What the route table's answer means for the message: the one decision the milter, the
 * policy service and `sendasctl test` share (so they refuse with the same words). */
enum route_verdict {
    ROUTE_TO_MAILBOX, /* a route names a mailbox: the route's mailbox */
    ROUTE_PASS,       /* no route matches and no_route is accept: leave the message alone */
    ROUTE_REJECT,     /* refused for good (5.7.1): why says by which rule */
    ROUTE_TEMPFAIL,   /* refused for now (4.7.1): why says by which rule */
    ROUTE_UNDECIDED,  /* ROUTE_NEED_FROM: decide again when the From header is known */
};

/*
 * route_decide - the verdict on route_select's answer st (r its route when st is
 * ROUTE_MATCH).  For a refusal, why gets the reason the logs and the SMTP reply
 * give: "no sendas route covers this sender (no_route reject)" or
 * "route \"sender:x@y.z\" (FILE line N) says reject"; otherwise why is "".
 */
enum route_verdict route_decide(const struct conf *c, enum route_status st,
                                const struct conf_route *r, char *why, size_t whylen);

/* route_set_client - fill in family/addr from a textual IP; returns 0, or -1 if not an IP */
int route_set_client(struct route_input *in, const char *ip);

#endif
