/* SPDX-License-Identifier: MIT */
/*
 * conf_route - the route directive of sendas.conf: selectors (SASL login, client network,
 * envelope sender, From), targets bound to declared mailboxes once the whole file is read,
 * and the warning for a route an earlier one hides.  Split from conf.c, whose parse state
 * and error helpers (conf_int.h) it shares.
 */
#include "conf_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* conf_net_match - do the first prefix bits of addr equal those of net? */
int conf_net_match(const unsigned char *net, unsigned prefix, const unsigned char *addr)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    unsigned char mask;

    if (memcmp(addr, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    mask = (unsigned char)(0xff << (8 - rest));
    return (addr[full] & mask) == (net[full] & mask);
}

/* parse_cidr - "10.0.0.0/8", "2001:db8::/32" or a single address */
static int parse_cidr(struct parse *p, const char *s, struct conf_route *r)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char addr[INET6_ADDRSTRLEN + 1], shown[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned maxbits, i, hostbits = 0;
    char *end;
    long bits;

    if (n == 0 || n >= sizeof(addr))
        return conf_perr(p, "route client:%s: invalid address", s);
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, r->net) == 1) {
        r->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, addr, r->net) == 1) {
        r->family = AF_INET6;
        maxbits = 128;
    } else {
        return conf_perr(p, "route client:%s: \"%s\" is not an IPv4 or IPv6 address", s, addr);
    }
    if (slash) {
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno || bits < 0 || bits > (long)maxbits)
            return conf_perr(p, "route client:%s: prefix length must be 0..%u", s, maxbits);
        r->prefix = (unsigned)bits;
    } else {
        r->prefix = maxbits;
    }
    /* clear host bits so matching can compare whole bytes; set ones are surely a mistake
     * (10.1.2.3/8 is all of 10/8, not the one host) */
    for (i = 0; i < maxbits / 8; i++) {
        unsigned keep = r->prefix > i * 8 ? r->prefix - i * 8 : 0;
        unsigned char mask = keep >= 8 ? 0xff : (unsigned char)(0xff << (8 - keep));

        hostbits |= r->net[i] & (unsigned char)~mask;
        r->net[i] &= mask;
    }
    if (hostbits && inet_ntop(r->family, r->net, shown, sizeof(shown)))
        conf_pwarn(p,
                   "route client:%s: host bits are set: this is the network %s/%u (for one host "
                   "write %s)",
                   s, shown, r->prefix, addr);
    /* ::ffff:a.b.c.d is how an IPv6 socket shows IPv4 client a.b.c.d: such a network is
     * the IPv4 one, and matches IPv4 clients (route_select maps clients the same way) */
    if (r->family == AF_INET6 && r->prefix >= 96 && memcmp(r->net, v4mapped, 12) == 0) {
        memmove(r->net, r->net + 12, 4);
        memset(r->net + 4, 0, 12);
        r->family = AF_INET;
        r->prefix -= 96;
    }
    return 0;
}

/* conf_d_route - route SELECTOR MAILBOX|reject|tempfail */
int conf_d_route(struct parse *p, char **av, int ac)
{
    struct conf *c = p->c;
    struct conf_route *r, *nv;
    char **nt;
    int *nl;
    const char *sel;

    if (ac != 3)
        return conf_perr(p, "route: expected \"route SELECTOR MAILBOX|reject|tempfail\"");
    if (c->nroutes >= CONF_MAX_ROUTES)
        return conf_perr(p, "too many routes (at most %d)", CONF_MAX_ROUTES);
    nv = realloc(c->routes, (c->nroutes + 1) * sizeof(*nv));
    if (nv == NULL)
        return conf_perr(p, "out of memory");
    c->routes = nv;
    nt = realloc(p->route_targets, (c->nroutes + 1) * sizeof(*nt));
    if (nt == NULL)
        return conf_perr(p, "out of memory");
    p->route_targets = nt;
    p->route_targets[c->nroutes] = NULL;
    if ((nl = realloc(p->route_target_lines, (c->nroutes + 1) * sizeof(*nl))) == NULL)
        return conf_perr(p, "out of memory");
    p->route_target_lines = nl;
    p->route_target_lines[c->nroutes] = p->av_line ? p->av_line[2] : p->line;
    r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof(*r));
    r->line = p->line;
    if ((r->text = strdup(av[1])) == NULL)
        return conf_perr(p, "out of memory");
    sel = av[1];
    conf_at_word(p, 1);
    if (strcmp(sel, "*") == 0) {
        r->kind = ROUTE_ANY;
    } else if (strncmp(sel, "sasl:", 5) == 0) {
        r->kind = ROUTE_SASL;
        if (sel[5] == '\0')
            return conf_perr(p, "route %s: the SASL login is missing", sel);
        if ((r->sasl = strdup(sel + 5)) == NULL)
            return conf_perr(p, "out of memory");
    } else if (strncmp(sel, "client:", 7) == 0) {
        r->kind = ROUTE_CLIENT;
        if (parse_cidr(p, sel + 7, r) < 0)
            return -1;
    } else if (strncmp(sel, "sender:", 7) == 0) {
        r->kind = ROUTE_SENDER;
        if (conf_parse_pattern(p, sel + 7, 1, &r->pat, "route sender:") < 0)
            return -1;
    } else if (strncmp(sel, "from:", 5) == 0) {
        r->kind = ROUTE_FROM;
        if (conf_parse_pattern(p, sel + 5, 1, &r->pat, "route from:") < 0)
            return -1;
    } else {
        return conf_perr(p,
                         "route: unknown selector \"%s\" (use sasl:LOGIN, client:CIDR, "
                         "sender:ADDRESS|@DOMAIN, from:ADDRESS|@DOMAIN or *)",
                         sel);
    }
    conf_at_word(p, 2);
    if (strcmp(av[2], "reject") == 0) {
        r->target = TARGET_REJECT;
    } else if (strcmp(av[2], "tempfail") == 0) {
        r->target = TARGET_TEMPFAIL;
    } else {
        r->target = TARGET_MAILBOX;
        if ((p->route_targets[c->nroutes - 1] = strdup(av[2])) == NULL)
            return conf_perr(p, "out of memory");
    }
    return 0;
}

/* action_at - nearest's view of the targets that are not mailboxes */
static const char *action_at(size_t i, const void *arg __attribute__((unused)))
{
    static const char *const actions[] = {"reject", "tempfail", NULL};

    return actions[i];
}

/* conf_resolve_routes - bind route targets to declared mailboxes, check completeness */
int conf_resolve_routes(struct parse *p)
{
    struct conf *c = p->c;
    struct conf_pattern pat;
    const char *near;
    size_t i;

    for (i = 0; i < c->nroutes; i++) {
        struct conf_route *r = &c->routes[i];
        const char *t = p->route_targets[i];

        if (r->target != TARGET_MAILBOX)
            continue;
        p->line = p->route_target_lines[i];
        if (conf_parse_pattern(p, t, 0, &pat, "route target") < 0) {
            if (conf_typographic_quote(t)) /* parse_pattern said why */
                return -1;
            if ((near = conf_nearest(t, action_at, NULL)) != NULL)
                return conf_perr(
                    p,
                    "route %s: the target \"%s\" must be a declared mailbox, reject or "
                    "tempfail (did you mean %s?)",
                    r->text, t, near);
            return conf_perr(
                p, "route %s: the target \"%s\" must be a declared mailbox, reject or tempfail",
                r->text, t);
        }
        r->mailbox = conf_find_mailbox(c, pat.local, pat.domain);
        free(pat.local);
        free(pat.domain);
        if (r->mailbox == NULL && (near = conf_nearest(t, conf_mailbox_at, c)) != NULL)
            return conf_perr(p, "route %s: %s is not a declared mailbox (did you mean %s?)",
                             r->text, t, near);
        if (r->mailbox == NULL)
            return conf_perr(p, "route %s: %s is not a declared mailbox (add \"mailbox %s\")",
                             r->text, t, t);
    }
    return 0;
}

/* route_covers - does route a match every message route b matches? */
static int route_covers(const struct conf_route *a, const struct conf_route *b)
{
    if (a->kind == ROUTE_ANY)
        return 1;
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case ROUTE_SASL:
        return strcasecmp(a->sasl, b->sasl) == 0;
    case ROUTE_CLIENT:
        return a->family == b->family && a->prefix <= b->prefix &&
               conf_net_match(a->net, a->prefix, b->net);
    case ROUTE_SENDER:
    case ROUTE_FROM:
        return strcmp(a->pat.domain, b->pat.domain) == 0 &&
               (a->pat.local == NULL ||
                (b->pat.local && strcasecmp(a->pat.local, b->pat.local) == 0));
    default:
        return 0;
    }
}

/*
 * warn_shadowed - a route after one that matches everything it would can never
 * match.  Routes after "route *" are always found; other pairs are compared while
 * the file has at most SHADOW_PAIRS_MAX routes, which keeps a huge file's load
 * linear.
 */
#define SHADOW_PAIRS_MAX 4096
void conf_warn_shadowed(struct parse *p)
{
    const struct conf *c = p->c;
    const struct conf_route *any = NULL;
    size_t i, j;

    for (j = 0; j < c->nroutes; j++) {
        const struct conf_route *b = &c->routes[j], *by = any;

        for (i = 0; by == NULL && c->nroutes <= SHADOW_PAIRS_MAX && i < j; i++)
            if (route_covers(&c->routes[i], b))
                by = &c->routes[i];
        if (by) {
            p->line = b->line;
            conf_pwarn(p,
                       "route %s can never match: route %s (line %d) matches everything it would",
                       b->text, by->text, by->line);
        }
        if (any == NULL && b->kind == ROUTE_ANY)
            any = b;
    }
}
