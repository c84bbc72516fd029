/* SPDX-License-Identifier: MIT */
/*
 * route - first-match route selection (see route.h).
 */
#include "route.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* cidr_match - is the client address inside the route's network? */
static int cidr_match(const struct conf_route *r, const struct route_input *in)
{
    const unsigned char *a = in->addr;
    unsigned char mapped[4];

    /* an IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) still matches IPv4 routes
     * (and IPv4-mapped networks in the file, which conf keeps as IPv4 ones) */
    if (r->family == AF_INET && in->family == AF_INET6) {
        static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

        if (memcmp(in->addr, prefix, 12) != 0)
            return 0;
        memcpy(mapped, in->addr + 12, 4);
        a = mapped;
    } else if (r->family != in->family) {
        return 0;
    }
    return conf_net_match(r->net, r->prefix, a);
}

/* route_select - first matching route */
enum route_status route_select(const struct conf *c, const struct route_input *in,
                               const struct conf_route **out)
{
    size_t i;

    *out = NULL;
    for (i = 0; i < c->nroutes; i++) {
        const struct conf_route *r = &c->routes[i];
        int m = 0;

        switch (r->kind) {
        case ROUTE_ANY:
            m = 1;
            break;
        case ROUTE_SASL:
            m = in->sasl_login && strcasecmp(in->sasl_login, r->sasl) == 0;
            break;
        case ROUTE_CLIENT:
            m = in->family && cidr_match(r, in);
            break;
        case ROUTE_SENDER:
            m = conf_pattern_match(&r->pat, in->env_local, in->env_domain);
            break;
        case ROUTE_FROM:
            if (!in->have_from)
                return ROUTE_NEED_FROM;
            m = conf_pattern_match(&r->pat, in->from_local, in->from_domain);
            break;
        }
        if (m) {
            *out = r;
            return ROUTE_MATCH;
        }
    }
    return ROUTE_NOMATCH;
}

/* route_set_client - parse a textual client address */
int route_set_client(struct route_input *in, const char *ip)
{
    in->family = 0;
    if (ip == NULL)
        return -1;
    if (inet_pton(AF_INET, ip, in->addr) == 1)
        in->family = AF_INET;
    else if (inet_pton(AF_INET6, ip, in->addr) == 1)
        in->family = AF_INET6;
    return in->family ? 0 : -1;
}

/* route_decide - turn the route table's answer into a verdict and its reason */
enum route_verdict route_decide(const struct conf *c, enum route_status st,
                                const struct conf_route *r, char *why, size_t whylen)
{
    if (whylen)
        why[0] = '\0';
    switch (st) {
    case ROUTE_NEED_FROM:
        return ROUTE_UNDECIDED;
    case ROUTE_NOMATCH:
        if (c->no_route == NOROUTE_ACCEPT)
            return ROUTE_PASS;
        snprintf(why, whylen, "no sendas route covers this sender (no_route %s)",
                 c->no_route == NOROUTE_REJECT ? "reject" : "tempfail");
        return c->no_route == NOROUTE_TEMPFAIL ? ROUTE_TEMPFAIL : ROUTE_REJECT;
    case ROUTE_MATCH:
        break;
    }
    if (r->target == TARGET_MAILBOX)
        return ROUTE_TO_MAILBOX;
    snprintf(why, whylen, "route \"%s\" (%s line %d) says %s", r->text, c->path, r->line,
             r->target == TARGET_REJECT ? "reject" : "tempfail");
    return r->target == TARGET_TEMPFAIL ? ROUTE_TEMPFAIL : ROUTE_REJECT;
}
