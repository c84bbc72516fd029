/* SPDX-License-Identifier: MIT */
/*
 * doctor_dns - `sendasctl doctor --dns`: the SPF and MX records of every
 * domain sendas sends for (the mailboxes' and their sendas lists'), asked of
 * the system's resolvers or of --dns-server IP[:PORT] through c-ares.
 *
 * SPF (RFC 7208): exactly one "v=spf1" record; Exchange Online's servers
 * covered (include:spf.protection.outlook.com, directly or in a nested
 * include); at most 10 terms that cost a DNS lookup, counted through the
 * includes and redirects (4.6.4); no +all.  MX: Exchange Online's hosts, and
 * not this relay (by name or address): a backup MX on-premises attracts spam
 * and bypasses Exchange Online's filtering (exo-facts.md).
 *
 * Bounded: each query has the --timeout deadline, a server that does not
 * answer is asked nothing more, TXT records are cut at SPF_MAX_RECORD bytes,
 * includes followed SPF_MAX_DEPTH deep and SPF_MAX_QUERIES times per domain.
 */
#include "config.h"

#include "doctor.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ares.h>

#include "clock.h"

#define SPF_MAX_RECORD 2048 /* bytes of one TXT record kept (DNS allows ~64 KB) */
#define SPF_MAX_DEPTH 10    /* includes within includes */
#define SPF_MAX_QUERIES 40  /* TXT queries per domain while counting */
#define SPF_LIMIT 10        /* RFC 7208 4.6.4: DNS-querying terms */
#define DNS_MAX_DOMAINS 64
#define DNS_MAX_MX 10    /* MX hosts looked at per domain */
#define DNS_MAX_ADDRS 64 /* addresses of this relay */
#define EXO_SPF "spf.protection.outlook.com"
#define EXO_RECORD "v=spf1 include:" EXO_SPF " -all"

struct dns {
    ares_channel ch;
    unsigned timeout;
    const char *server; /* for messages */
    int dead;           /* the server did not answer: ask nothing more */
    char why[200];      /* how it failed, in words */
};

struct answer {
    int done, status;
    unsigned char *buf;
    int len;
};

/* What this relay is called and where it listens, to spot it among MX hosts. */
struct self {
    char names[2][256];
    struct {
        int family;
        unsigned char a[16];
    } addr[DNS_MAX_ADDRS];
    size_t naddr;
};

/* on_answer - c-ares's callback: keep a copy of the answer */
static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct answer *a = arg;

    (void)timeouts;
    a->done = 1;
    a->status = status;
    if (status == ARES_SUCCESS && abuf && alen > 0) {
        if ((a->buf = malloc((size_t)alen)) == NULL)
            a->status = ARES_ENOMEM;
        else
            memcpy(a->buf, abuf, (size_t)alen), a->len = alen;
    }
}

/* pump - one round of c-ares's sockets, waiting at most until deadline */
static void pump(struct dns *d, int64_t deadline)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd p[ARES_GETSOCK_MAXNUM];
    struct timeval max, tv, *tvp;
    /* the bits as unsigned: c-ares's ARES_GETSOCK_WRITABLE shifts a signed 1 by up to 31 */
    unsigned bits = (unsigned)ares_getsock(d->ch, socks, ARES_GETSOCK_MAXNUM);
    int n = 0, ms;
    int64_t left = deadline - clock_mono_ms();

    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        short ev = (bits & (1u << i) ? POLLIN : 0) |
                   (bits & (1u << (i + ARES_GETSOCK_MAXNUM)) ? POLLOUT : 0);

        if (ev)
            p[n].fd = socks[i], p[n].events = ev, p[n].revents = 0, n++;
    }
    max.tv_sec = left > 0 ? left / 1000 : 0;
    max.tv_usec = left > 0 ? (left % 1000) * 1000 : 0;
    tvp = ares_timeout(d->ch, &max, &tv);
    ms = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
    if (poll(p, (nfds_t)n, ms) <= 0) {
        ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts, retries */
        return;
    }
    for (int i = 0; i < n; i++)
        if (p[i].revents)
            ares_process_fd(d->ch, p[i].revents & (POLLIN | POLLERR | POLLHUP) ? p[i].fd
                                                                             : ARES_SOCKET_BAD,
                            p[i].revents & POLLOUT ? p[i].fd : ARES_SOCKET_BAD);
}

static const char *dns_error(const struct dns *d, int status, char *buf, size_t len);

/* dns_query - ask name/type and wait for the answer (a->status: ARES_*) at most timeout */
static void dns_query(struct dns *d, const char *name, int type, struct answer *a)
{
    int64_t deadline = clock_mono_ms() + (int64_t)d->timeout * 1000;

    memset(a, 0, sizeof(*a));
    if (d->dead) {
        a->status = ARES_ETIMEOUT;
        return;
    }
    ares_query(d->ch, name, C_IN, type, on_answer, a);
    while (!a->done) {
        if (clock_mono_ms() >= deadline) {
            ares_cancel(d->ch); /* calls on_answer with ARES_ECANCELLED */
            a->status = ARES_ETIMEOUT;
            break;
        }
        pump(d, deadline);
    }
    if (a->status == ARES_ETIMEOUT || a->status == ARES_ECONNREFUSED) {
        dns_error(d, a->status, d->why, sizeof(d->why));
        d->dead = 1;
    }
}

/* answer_free - release a's copy of the answer */
static void answer_free(struct answer *a)
{
    free(a->buf);
    a->buf = NULL;
}

/* dns_error - an ARES_* status in words */
static const char *dns_error(const struct dns *d, int status, char *buf, size_t len)
{
    if (status == ARES_ETIMEOUT)
        snprintf(buf, len, "no answer from %s within %u s", d->server, d->timeout);
    else if (status == ARES_ECONNREFUSED)
        snprintf(buf, len, "%s refused the connection (nothing listens there?)", d->server);
    else if (status == ARES_ENOTFOUND)
        snprintf(buf, len, "the name does not exist (NXDOMAIN)");
    else
        snprintf(buf, len, "%s", ares_strerror(status));
    return buf;
}

/* check_name - "WHAT DOMAIN" as a check's name, the domain cut with "..." when too long */
static void check_name(char *out, size_t outlen, const char *what, const char *dom)
{
    size_t w = strlen(what), n = strlen(dom);

    if (w + 2 > outlen)
        w = outlen - 2;
    memcpy(out, what, w);
    out[w++] = ' ';
    if (w + n >= outlen) {
        n = outlen - w - 4;
        memcpy(out + w + n, "...", 4);
    } else {
        out[w + n] = '\0';
    }
    memcpy(out + w, dom, n);
}

/* is_spf - does the record start with "v=spf1" as a whole term? */
static int is_spf(const char *r, size_t n)
{
    return n >= 6 && strncasecmp(r, "v=spf1", 6) == 0 && (n == 6 || r[6] == ' ');
}

/* keep - the record (cur, cn) when it is the first SPF record: into rec, and whether it
 * was cut at SPF_MAX_RECORD into *cut */
static void keep(const char *cur, size_t cn, int *count, char *rec, size_t reclen, int *cut)
{
    if (!is_spf(cur, cn) || (*count)++ != 0)
        return;
    *cut = cn > SPF_MAX_RECORD;
    snprintf(rec, reclen, "%.*s", (int)(cn > SPF_MAX_RECORD ? SPF_MAX_RECORD : cn), cur);
}

/* spf_fetch - the SPF records of domain: their number (the first in rec; *cut when it was
 * longer than SPF_MAX_RECORD), or -1 with the ARES_* status in *status */
static int spf_fetch(struct dns *d, const char *domain, char *rec, size_t reclen, int *status,
                     int *cut)
{
    struct ares_txt_ext *txt = NULL, *t;
    char cur[SPF_MAX_RECORD + 1];
    size_t cn = 0;
    int count = 0, have = 0;
    struct answer a;

    rec[0] = '\0';
    *cut = 0;
    dns_query(d, domain, T_TXT, &a);
    *status = a.status;
    if (a.status == ARES_ENODATA)
        return 0;
    if (a.status != ARES_SUCCESS || ares_parse_txt_reply_ext(a.buf, a.len, &txt) != ARES_SUCCESS) {
        answer_free(&a);
        return -1;
    }
    answer_free(&a);
    for (t = txt; t; t = t->next) {
        if (t->record_start) {
            if (have)
                keep(cur, cn, &count, rec, reclen, cut);
            cn = 0, have = 1;
        }
        /* one byte past the cap marks the record as cut; the rest is not kept */
        for (size_t i = 0; i < t->length && cn <= SPF_MAX_RECORD; i++)
            cur[cn++] = isprint(t->txt[i]) ? (char)t->txt[i] : '?';
    }
    if (have)
        keep(cur, cn, &count, rec, reclen, cut);
    ares_free_data(txt);
    return count;
}

/* The SPF tree of one domain, walked. */
struct spf_walk {
    struct dns *d;
    int lookups, queries, has_exo;
    char problem[400]; /* the first nested record that breaks evaluation */
    char all;          /* the result's all qualifier (top record, or one it redirects to) */
    char all_at[256];  /* the record that all is in, when reached by redirect= ("": top) */
    int redirect;      /* the top record has redirect= (and no all, so it is followed) */
};

static void spf_terms(struct spf_walk *w, const char *rec, int depth, const char *top);

/* same_host - host names equal, case and a final dot ignored */
static int same_host(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);

    if (an && a[an - 1] == '.')
        an--;
    if (bn && b[bn - 1] == '.')
        bn--;
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* spf_follow - the record of an include or redirect target, walked in turn; redirected
 * says the target stands for the top record (its all is the result's) */
static void spf_follow(struct spf_walk *w, const char *target, size_t n, int depth, int redirected)
{
    char name[256], rec[SPF_MAX_RECORD + 1], why[200];
    int count, status, cut;

    if (same_host(target, n, EXO_SPF))
        w->has_exo = 1;
    if (n == 0 || n >= sizeof(name) || memchr(target, '%', n))
        return; /* a macro names no fixed record: counted, not followed */
    snprintf(name, sizeof(name), "%.*s", (int)n, target);
    if (depth >= SPF_MAX_DEPTH || ++w->queries > SPF_MAX_QUERIES) {
        if (!w->problem[0])
            snprintf(w->problem, sizeof(w->problem), "includes nested too deep or too many "
                                                     "(at %s): a loop?", name);
        return;
    }
    count = spf_fetch(w->d, name, rec, sizeof(rec), &status, &cut);
    if (count == 1 && cut && !w->problem[0])
        snprintf(w->problem, sizeof(w->problem), "%s: its SPF record is longer than %d bytes "
                 "(not read further)", name, SPF_MAX_RECORD);
    if (count == 1) {
        spf_terms(w, rec, depth + 1, redirected ? name : NULL);
        return;
    }
    if (!w->problem[0] && count < 0)
        snprintf(w->problem, sizeof(w->problem), "%s: %s", name,
                 dns_error(w->d, status, why, sizeof(why)));
    else if (!w->problem[0])
        snprintf(w->problem, sizeof(w->problem), "%s has %s SPF record: receivers fail the "
                                                 "check (permerror)", name,
                 count ? "more than one" : "no");
}

/* term_is - is the term (t, n) the mechanism m, alone or with ":" or "/" after it? */
static int term_is(const char *t, size_t n, const char *m)
{
    size_t k = strlen(m);

    return n >= k && strncasecmp(t, m, k) == 0 && (n == k || t[k] == ':' || t[k] == '/');
}

/* spf_terms - count the DNS-querying terms of rec, follow its includes and redirect; top is
 * non-NULL for the record that decides the result (the domain's, "" or a redirect= target's
 * name): its all is the result's, and its redirect= is followed when it has no all
 * (RFC 7208 6.1) */
static void spf_terms(struct spf_walk *w, const char *rec, int depth, const char *top)
{
    const char *p = rec + 6, *redirect = NULL;
    size_t redirect_n = 0;
    int has_all = 0;

    while (*p) {
        size_t n;
        char q = '+';

        p += strspn(p, " ");
        n = strcspn(p, " ");
        if (n == 0)
            break;
        if (strchr("+-~?", *p) && n > 1)
            q = *p++, n--;
        if (term_is(p, n, "include") && n > 8 && p[7] == ':') {
            w->lookups++;
            spf_follow(w, p + 8, n - 8, depth, 0);
        } else if (n > 9 && strncasecmp(p, "redirect=", 9) == 0) {
            redirect = p + 9, redirect_n = n - 9;
        } else if (term_is(p, n, "a") || term_is(p, n, "mx") || term_is(p, n, "ptr") ||
                   term_is(p, n, "exists")) {
            w->lookups++;
        } else if (n == 3 && strncasecmp(p, "all", 3) == 0) {
            has_all = 1;
            if (top) {
                w->all = q;
                snprintf(w->all_at, sizeof(w->all_at), "%s", top);
            }
        }
        p += n;
    }
    if (redirect && !has_all) {
        w->lookups++;
        w->redirect |= depth == 0;
        spf_follow(w, redirect, redirect_n, depth, top != NULL);
    }
}

/* suggest - the record to publish: rec with Exchange Online's include and "-all" */
static void suggest(const char *rec, const struct spf_walk *w, char *out, size_t outlen)
{
    const char *p = rec + 6;
    size_t used = (size_t)snprintf(out, outlen, "v=spf1");
    int added = w->has_exo;

    while (*p && used < outlen) {
        size_t n;
        const char *t;

        p += strspn(p, " ");
        n = strcspn(p, " ");
        if (n == 0)
            break;
        t = strchr("+-~?", *p) ? p + 1 : p;
        if (!added && ((n - (size_t)(t - p) == 3 && strncasecmp(t, "all", 3) == 0) ||
                       strncasecmp(t, "redirect=", 9) == 0)) {
            used += (size_t)snprintf(out + used, outlen - used, " include:" EXO_SPF);
            added = 1;
        }
        if (used < outlen && n - (size_t)(t - p) == 3 && strncasecmp(t, "all", 3) == 0)
            used += (size_t)snprintf(out + used, outlen - used, " %sall",
                                     *p == '~' ? "~" : "-");
        else if (used < outlen)
            used += (size_t)snprintf(out + used, outlen - used, " %.*s", (int)n, p);
        p += n;
    }
    if (used < outlen && !added)
        used += (size_t)snprintf(out + used, outlen - used, " include:" EXO_SPF);
    if (used < outlen && !w->all && !w->redirect)
        snprintf(out + used, outlen - used, " -all");
}

/* report_spf - the checks of one domain's walked record */
static void report_spf(struct doc_report *r, const char *dom, const char *rec,
                       const struct spf_walk *w)
{
    char name[64], fix[2 * DOC_MAX_TEXT], good[DOC_MAX_TEXT];

    suggest(rec, w, good, sizeof(good));
    snprintf(fix, sizeof(fix), "publish one TXT record at %s: \"%s\"", dom, good);
    check_name(name, sizeof(name), "spf exchange online", dom);
    if (w->has_exo)
        doc_add(r, DOC_OK, "dns", name, NULL, "includes " EXO_SPF);
    else
        doc_add(r, DOC_FAIL, "dns", name, fix, "does not include " EXO_SPF ": receivers may "
                "refuse or junk mail Exchange Online sends for %s", dom);
    check_name(name, sizeof(name), "spf lookups", dom);
    if (w->lookups > SPF_LIMIT)
        doc_add(r, DOC_FAIL, "dns", name,
                "fewer lookups: replace include:, a and mx terms of your own hosts by their ip4:/"
                "ip6: ranges; keep include:" EXO_SPF,
                "%d DNS-querying terms (include, a, mx, ptr, exists, redirect, nested counted): "
                "more than 10 is a permerror (RFC 7208 4.6.4)", w->lookups);
    else if (w->problem[0])
        doc_add(r, DOC_FAIL, "dns", name, "fix or remove the include named", "%s", w->problem);
    else
        doc_add(r, DOC_OK, "dns", name, NULL, "%d of at most 10 DNS-querying terms", w->lookups);
    check_name(name, sizeof(name), "spf all", dom);
    if (w->all_at[0] || (w->redirect && !w->all)) /* the all that counts is in another record */
        snprintf(fix, sizeof(fix), "end the record at %s (reached by redirect=) in -all",
                 w->all_at[0] ? w->all_at : "the redirect= target");
    if (w->all == '+')
        doc_add(r, DOC_FAIL, "dns", name, fix,
                "the record %s%s ends in +all (or all): it lets "
                "every server on the Internet send as %s",
                w->all_at[0] ? "redirected to " : "", w->all_at, dom);
    else if (w->all == '?' || !w->all)
        doc_add(r, DOC_WARN, "dns", name, fix,
                "the record%s ends %s: receivers treat any "
                "sender as neutral",
                w->redirect ? " (through redirect=)" : "", w->all ? "in ?all" : "without all");
    else
        doc_add(r, DOC_OK, "dns", name, NULL, "ends in %call%s%s", w->all,
                w->all_at[0] ? " through redirect= to " : "", w->all_at);
}

/* check_spf - one domain's SPF: present, single, then walked */
static void check_spf(struct doc_report *r, struct dns *d, const char *dom)
{
    char rec[SPF_MAX_RECORD + 1], name[64], why[200], fix[2 * DOC_MAX_TEXT];
    struct spf_walk w = {.d = d};
    int count, status, cut;

    check_name(name, sizeof(name), "spf", dom);
    snprintf(fix, sizeof(fix), "publish one TXT record at %s: \"" EXO_RECORD "\" (with ip4: "
             "terms for any other server that sends as %s)", dom, dom);
    count = spf_fetch(d, dom, rec, sizeof(rec), &status, &cut);
    if (count < 0 && status == ARES_ENOTFOUND) {
        doc_add(r, DOC_FAIL, "dns", name, fix, "%s does not exist in DNS (NXDOMAIN)", dom);
        return;
    }
    if (count < 0) {
        doc_add(r, DOC_FAIL, "dns", name, "see the check \"dns server\" below",
                "TXT %s: %s", dom, dns_error(d, status, why, sizeof(why)));
        return;
    }
    if (count == 0) {
        doc_add(r, DOC_FAIL, "dns", name, fix, "no SPF record (TXT \"v=spf1 ...\")");
        return;
    }
    if (count > 1) {
        doc_add(r, DOC_FAIL, "dns", name, fix, "%d SPF records: receivers fail the check "
                "(permerror, RFC 7208 4.5); keep one, merging what they list", count);
        return;
    }
    if (cut) { /* RFC 7208 3.4: under 450 bytes, so that it fits one UDP answer */
        doc_add(r, DOC_FAIL, "dns", name, fix, "the SPF record is longer than %d bytes: "
                "receivers may not get it whole; not evaluated", SPF_MAX_RECORD);
        return;
    }
    doc_add(r, DOC_OK, "dns", name, NULL, "%s", rec);
    spf_terms(&w, rec, 0, "");
    report_spf(r, dom, rec, &w);
}

/* addr_is_self - is the address one of this relay's? */
static int addr_is_self(const struct self *s, int family, const void *a)
{
    size_t len = family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < s->naddr; i++)
        if (s->addr[i].family == family && memcmp(s->addr[i].a, a, len) == 0)
            return 1;
    return 0;
}

/* host_is_self - the MX host is this relay: by name, or an A/AAAA record of it is ours */
static int host_is_self(struct dns *d, const struct self *s, const char *host)
{
    struct ares_addrttl a4[16];
    struct ares_addr6ttl a6[16];
    struct answer a;
    int n, hit = 0;

    for (int i = 0; i < 2; i++)
        if (s->names[i][0] && same_host(host, strlen(host), s->names[i]))
            return 1;
    dns_query(d, host, T_A, &a);
    n = 16;
    if (a.status == ARES_SUCCESS && ares_parse_a_reply(a.buf, a.len, NULL, a4, &n) == ARES_SUCCESS)
        for (int i = 0; i < n && !hit; i++)
            hit = addr_is_self(s, AF_INET, &a4[i].ipaddr);
    answer_free(&a);
    dns_query(d, host, T_AAAA, &a);
    n = 16;
    if (!hit && a.status == ARES_SUCCESS &&
        ares_parse_aaaa_reply(a.buf, a.len, NULL, a6, &n) == ARES_SUCCESS)
        for (int i = 0; i < n && !hit; i++)
            hit = addr_is_self(s, AF_INET6, &a6[i].ip6addr);
    answer_free(&a);
    return hit;
}

/* is_exo_mx - Exchange Online's inbound hosts: *.mail.protection.outlook.com, and the
 * DNSSEC-signed *.mx.microsoft Microsoft moves tenants to */
static int is_exo_mx(const char *h)
{
    static const char *const sfx[] = {".mail.protection.outlook.com", ".mx.microsoft"};
    size_t n = strlen(h);

    if (n && h[n - 1] == '.')
        n--;
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(sfx[i]);

        if (n > k && strncasecmp(h + n - k, sfx[i], k) == 0)
            return 1;
    }
    return 0;
}

/* exo_mx_name - the MX host Exchange Online gives dom: contoso-com.mail.protection.outlook.com */
static void exo_mx_name(const char *dom, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; dom[i] && i + 1 < outlen; i++)
        out[i] = dom[i] == '.' ? '-' : dom[i];
    snprintf(out + i, outlen - i, ".mail.protection.outlook.com");
}

/* report_mx_self - the relay is an MX of dom: primary (FAIL) or backup (WARN) */
static void report_mx_self(struct doc_report *r, const char *dom, const char *host, int pref,
                           int primary)
{
    char name[64], fix[2 * DOC_MAX_TEXT], exo[300];

    exo_mx_name(dom, exo, sizeof(exo));
    check_name(name, sizeof(name), "mx relay", dom);
    snprintf(fix, sizeof(fix), "remove the record \"%s. MX %d %s.\"; keep only Exchange Online's "
             "(%s, as the Microsoft 365 admin center shows it)", dom, pref, host, exo);
    if (primary)
        doc_add(r, DOC_FAIL, "dns", name, fix, "this relay (%s) is the first MX of %s: inbound "
                "mail comes here instead of Exchange Online", host, dom);
    else
        doc_add(r, DOC_WARN, "dns", name, fix, "this relay (%s) is a backup MX of %s (preference "
                "%d): spammers aim at backup MX hosts, Exchange Online's filtering loses the "
                "sender's address, and in an outage inbound mail lands here", host, dom, pref);
}

/* check_mx - one domain's MX hosts: Exchange Online's, and not this relay */
static void check_mx(struct doc_report *r, struct dns *d, const struct self *self, const char *dom)
{
    struct ares_mx_reply *mx = NULL, *m;
    char name[64], list[DOC_MAX_TEXT] = "", why[200], fix[2 * DOC_MAX_TEXT], exo[300];
    int others = 0, best = 65536, k = 0;
    size_t used = 0;
    struct answer a;

    check_name(name, sizeof(name), "mx", dom);
    exo_mx_name(dom, exo, sizeof(exo));
    snprintf(fix, sizeof(fix), "point MX at Exchange Online: \"%s. MX 0 %s.\" (the value the "
             "Microsoft 365 admin center shows for %s)", dom, exo, dom);
    dns_query(d, dom, T_MX, &a);
    if (a.status != ARES_SUCCESS || ares_parse_mx_reply(a.buf, a.len, &mx) != ARES_SUCCESS) {
        int st = a.status;

        answer_free(&a);
        if (st == ARES_SUCCESS || st == ARES_ENODATA || st == ARES_ENOTFOUND)
            doc_add(r, DOC_WARN, "dns", name, fix, "no MX record: %s",
                    st == ARES_ENOTFOUND ? "the name does not exist" : "mail goes to its A record");
        else
            doc_add(r, DOC_FAIL, "dns", name, "see the check \"dns server\" below", "MX %s: %s", dom,
                    dns_error(d, st, why, sizeof(why)));
        return;
    }
    answer_free(&a);
    for (m = mx; m; m = m->next)
        if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) {
            /* RFC 7505: the root as the host says the domain takes no mail; no host to ask */
            ares_free_data(mx);
            doc_add(r, DOC_WARN, "dns", name, fix,
                    "a null MX (\"MX 0 .\", RFC 7505): %s takes "
                    "no mail, so replies to it bounce and receivers may refuse mail sent as it "
                    "(550 5.7.27)",
                    dom);
            return;
        }
    for (m = mx; m; m = m->next)
        best = m->priority < best ? m->priority : best;
    for (m = mx; m && k < DNS_MAX_MX; m = m->next, k++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%d %s", used ? ", " : "",
                         m->priority, m->host);

        used = n > 0 && (size_t)n < sizeof(list) - used ? used + (size_t)n : used;
        others += !is_exo_mx(m->host);
        if (!is_exo_mx(m->host) && host_is_self(d, self, m->host))
            report_mx_self(r, dom, m->host, m->priority, m->priority == best);
    }
    ares_free_data(mx);
    if (others)
        doc_add(r, DOC_WARN, "dns", name, fix, "%s (%d not Exchange Online's)", list, others);
    else
        doc_add(r, DOC_OK, "dns", name, NULL, "%s", list);
}

/* add_addr - one address of this relay (text or binary) */
static void add_addr(struct self *s, int family, const void *bin, const char *text)
{
    unsigned char buf[16];

    if (s->naddr >= DNS_MAX_ADDRS)
        return;
    if (text) {
        family = strchr(text, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, text, buf) != 1)
            return;
        bin = buf;
    }
    s->addr[s->naddr].family = family;
    memcpy(s->addr[s->naddr].a, bin, family == AF_INET ? 4 : 16);
    s->naddr++;
}

/* find_self - this relay's names (host name, Postfix's myhostname) and addresses (its
 * interfaces but loopback, and Postfix's proxy_interfaces: the public address behind NAT) */
static void find_self(const struct doc_opts *o, struct self *s)
{
    struct ifaddrs *ifs = NULL, *i;
    char v[1024];

    memset(s, 0, sizeof(*s));
    gethostname(s->names[0], sizeof(s->names[0]) - 1);
    if (doc_postconf(o, "myhostname", v, sizeof(v)) == 0)
        snprintf(s->names[1], sizeof(s->names[1]), "%.255s", v);
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i; i = i->ifa_next) {
            const struct sockaddr *sa = i->ifa_addr;

            if (sa && sa->sa_family == AF_INET) {
                const struct in_addr *a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;

                if ((ntohl(a->s_addr) >> 24) != 127)
                    add_addr(s, AF_INET, a, NULL);
            } else if (sa && sa->sa_family == AF_INET6) {
                const struct in6_addr *a =
                    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

                if (!IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a))
                    add_addr(s, AF_INET6, a, NULL);
            }
        }
        freeifaddrs(ifs);
    }
    if (doc_postconf(o, "proxy_interfaces", v, sizeof(v)) == 0)
        for (char *save = NULL, *t = strtok_r(v, ", \t", &save); t;
             t = strtok_r(NULL, ", \t", &save))
            add_addr(s, 0, NULL, t);
}

/* add_domain - dom into the list once (case ignored); the list's length */
static size_t add_domain(char (*doms)[256], size_t n, const char *dom)
{
    if (dom == NULL || !dom[0] || strlen(dom) >= 256 || n >= DNS_MAX_DOMAINS)
        return n;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(doms[i], dom) == 0)
            return n;
    snprintf(doms[n], 256, "%s", dom);
    return n + 1;
}

/* dns_open - the channel, with --dns-server when given; 0, or -1 (reported) */
static int dns_open(struct doc_report *r, const struct doc_opts *o, struct dns *d)
{
    struct ares_options opt = {0};
    int rc;

    d->timeout = o->timeout;
    d->server = o->dns_server ? o->dns_server : "the system's resolver";
    /* c-ares doubles the wait per round: a third, then two thirds fill the deadline */
    opt.timeout = (int)(o->timeout * 1000 / 3);
    opt.tries = 2;
    if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS ||
        (rc = ares_init_options(&d->ch, &opt, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES)) !=
            ARES_SUCCESS) {
        doc_add(r, DOC_FAIL, "dns", "resolver", "check /etc/resolv.conf",
                "cannot set up c-ares: %s", ares_strerror(rc));
        return -1;
    }
    if (o->dns_server && (rc = ares_set_servers_ports_csv(d->ch, o->dns_server)) != ARES_SUCCESS) {
        doc_add(r, DOC_FAIL, "dns", "resolver", "--dns-server IP or IP:PORT ([IPv6]:PORT)",
                "bad --dns-server \"%s\": %s", o->dns_server, ares_strerror(rc));
        ares_destroy(d->ch);
        return -1;
    }
    return 0;
}

/* doctor_dns - SPF and MX of every domain sendas sends for */
void doctor_dns(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    static char doms[DNS_MAX_DOMAINS][256];
    struct self self;
    struct dns d = {0};
    size_t n = 0;

    if (c == NULL) {
        doc_add(r, DOC_WARN, "dns", "domains", "correct sendas.conf (see its check above)",
                "not checked: sendas.conf did not load, so no domain is known");
        return;
    }
    for (size_t i = 0; i < c->nmailboxes; i++) {
        n = add_domain(doms, n, c->mailboxes[i].domain);
        for (size_t k = 0; k < c->mailboxes[i].nsendas; k++)
            n = add_domain(doms, n, c->mailboxes[i].sendas[k].domain);
    }
    if (dns_open(r, o, &d) < 0)
        return;
    find_self(o, &self);
    for (size_t i = 0; i < n && !d.dead; i++) {
        char dom[256];

        memcpy(dom, doms[i], sizeof(dom));
        check_spf(r, &d, dom);
        if (!d.dead)
            check_mx(r, &d, &self, dom);
    }
    if (d.dead)
        doc_add(r, DOC_FAIL, "dns", "dns server",
                "name a DNS server that answers (--dns-server, or nameserver in /etc/resolv.conf)",
                "%s; the remaining domains were not checked", d.why);
    ares_destroy(d.ch);
    ares_library_cleanup();
}
