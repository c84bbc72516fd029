/* SPDX-License-Identifier: MIT */
/*
 * rewrite - the rewrite planner (see rewrite.h).
 *
 * Principle: change as little as possible.  A From whose addresses the
 * mailbox may all send as stays byte for byte.  Otherwise From becomes one
 * permitted address with the original display name, and the original sender
 * is kept in Reply-To (when there was none) and in a trace header.  Broken
 * input is repaired rather than passed on, because Exchange Online refuses
 * it at the end of DATA, when the client can no longer be told why.
 */
#include "rewrite.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "buf.h"
#include "hdr.h"

#define OUT_MAX (256 * 1024) /* cap on a header value we generate */
#define ORIG_MAX (16 * 1024) /* originals listed in Reply-To / the trace header, at most */

/* From defects that make sendas repair a From it would otherwise keep byte for byte */
#define FROM_DIRTY ((ADDR_D_BROKEN & ~ADDR_D_MULTIPLE) | ADDR_D_COMMENT)

/* Everything parsed from the message, released by parsed_free. */
struct parsed {
    struct addr_mailbox env;
    int env_null;
    int env_bad; /* the envelope sender could not be parsed */
    int env_ok;  /* the envelope sender is an address that may be recorded as the original */
    struct addr_list from[RW_MAX_HEADERS];
    size_t nfrom;
    unsigned from_defects;
    int from_oversize;
    int from_odd_name;
    const struct addr_mailbox *first; /* first From mailbox, qualified or not */
    const struct addr_mailbox *first_q; /* first qualified From mailbox */
};

/* rw_msg_init - an empty message */
void rw_msg_init(struct rw_msg *m)
{
    memset(m, 0, sizeof(*m));
}

/* headers_reset - free the values of one collection */
static void headers_reset(struct rw_headers *h)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        free(h->v[i].value);
    memset(h, 0, sizeof(*h));
}

/* rw_msg_reset - free collected headers */
void rw_msg_reset(struct rw_msg *m)
{
    headers_reset(&m->from);
    headers_reset(&m->sender);
    headers_reset(&m->reply_to);
    headers_reset(&m->dkim);
    headers_reset(&m->trace);
    rw_msg_init(m);
}

/*
 * content_charset - the charset parameter of a Content-Type value into cs
 * (RW_CHARSET_MAX bytes at most, quotes removed), or leave cs empty
 */
static void content_charset(const char *v, size_t len, char *cs)
{
    size_t i, n = 0;

    for (i = 0; i + 8 <= len; i++) {
        if (strncasecmp(v + i, "charset=", 8) != 0 || (i > 0 && !strchr("; \t\r\n", v[i - 1])))
            continue;
        i += 8;
        if (i < len && v[i] == '"')
            i++;
        while (i < len && n < RW_CHARSET_MAX &&
               (isalnum((unsigned char)v[i]) || (v[i] && strchr("-_.:", v[i]))))
            cs[n++] = v[i++];
        break;
    }
    cs[n] = '\0';
}

/* msg_charset - the charset the message declares, or NULL */
static const char *msg_charset(const struct rw_msg *m)
{
    return m->charset[0] ? m->charset : NULL;
}

/* rw_msg_add_header - keep a header the planner needs */
int rw_msg_add_header(struct rw_msg *m, const char *name, const char *value, size_t len,
                      size_t max)
{
    const char *canon[] = {"From", "Sender", "Reply-To", "DKIM-Signature", m->trace_name};
    struct rw_headers *sets[] = {&m->from, &m->sender, &m->reply_to, &m->dkim, &m->trace};
    struct rw_headers *h = NULL;
    struct rw_header *e;
    size_t i;

    if (strcasecmp(name, "Content-Type") == 0 && !m->ct_seen) {
        /* the top-level one: it says what raw 8-bit header text was written in */
        m->ct_seen = 1;
        content_charset(value, len, m->charset);
        return 0;
    }
    for (i = 0; i < 5; i++)
        if (canon[i] && strcasecmp(name, canon[i]) == 0) {
            h = sets[i];
            break;
        }
    if (h == NULL)
        return 0;
    h->seen++;
    if (h->n >= RW_MAX_HEADERS)
        return 0; /* counted in seen; the planner treats seen > n as a cap hit */
    e = &h->v[h->n];
    memset(e, 0, sizeof(*e));
    e->odd_name = strcmp(name, canon[i]) != 0;
    if (len > max) {
        e->oversize = 1;
    } else {
        if ((e->value = malloc(len + 1)) == NULL)
            return -1;
        memcpy(e->value, value, len);
        e->value[len] = '\0';
        e->len = len;
    }
    h->n++;
    return 0;
}

/* rw_action_name - the word logs and audit records use */
const char *rw_action_name(enum rw_action a)
{
    switch (a) {
    case RW_KEEP:
        return "kept";
    case RW_REWRITE:
        return "rewritten";
    case RW_REJECT:
        return "rejected";
    case RW_TEMPFAIL:
        return "tempfailed";
    }
    return "?";
}

/* rw_plan_outcome - "kept" unless headers change or the message is refused */
const char *rw_plan_outcome(const struct rw_plan *p)
{
    if (p->action == RW_REWRITE && p->nops == 0)
        return rw_action_name(RW_KEEP);
    return rw_action_name(p->action);
}

/* rw_plan_free - release a plan */
void rw_plan_free(struct rw_plan *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->nops; i++)
        free(p->ops[i].value);
    free(p->ops);
    free(p->new_env_sender);
    free(p->orig_from);
    free(p->orig_env);
    memset(p, 0, sizeof(*p));
}

/* parsed_free - release what parse_message built */
static void parsed_free(struct parsed *pm)
{
    size_t i;

    addr_mailbox_free(&pm->env);
    for (i = 0; i < pm->nfrom; i++)
        addr_list_free(&pm->from[i]);
    memset(pm, 0, sizeof(*pm));
}

/* parse_message - parse envelope and From headers; -1 only when out of memory */
static int parse_message(const struct rw_msg *m, struct parsed *pm)
{
    const char *env = m->env_sender ? m->env_sender : "";
    size_t i, j;
    int rc;

    memset(pm, 0, sizeof(*pm));
    rc = addr_parse_path(env, strlen(env), &pm->env, &pm->env_null);
    if (rc == ADDR_ENOMEM)
        return -1;
    if (rc != ADDR_OK) {
        memset(&pm->env, 0, sizeof(pm->env));
        pm->env_bad = 1;
        pm->env_null = 0;
    }
    /* unqualified is fine (qualify_domain completes it); syntax errors and raw 8-bit are not */
    pm->env_ok = !pm->env_bad && !pm->env_null && pm->env.local && pm->env.local[0] &&
                 !(pm->env.defects & ADDR_D_SYNTAX) &&
                 addr_spec_clean(pm->env.local, pm->env.domain, m->smtputf8);
    for (i = 0; i < m->from.n; i++) {
        const struct rw_header *h = &m->from.v[i];

        pm->from_odd_name |= h->odd_name;
        if (h->oversize) {
            pm->from_oversize = 1;
            continue;
        }
        rc = addr_parse_list_cs(h->value, h->len, msg_charset(m), &pm->from[pm->nfrom]);
        if (rc == ADDR_ENOMEM)
            return -1;
        if (rc != ADDR_OK) {
            pm->from_oversize = 1;
            continue;
        }
        pm->from_defects |= pm->from[pm->nfrom].defects;
        pm->nfrom++;
    }
    if (m->from.seen > m->from.n)
        pm->from_oversize = 1;
    for (i = 0; i < pm->nfrom; i++)
        for (j = 0; j < pm->from[i].n; j++) {
            const struct addr_mailbox *mb = &pm->from[i].mb[j];

            if (pm->first == NULL)
                pm->first = mb;
            if (pm->first_q == NULL && mb->domain)
                pm->first_q = mb;
        }
    return 0;
}

/* add_op - append a header operation; takes ownership of value */
static int add_op(struct rw_plan *p, enum rw_op_kind kind, const char *name, int index, char *value)
{
    struct rw_op *n;
    size_t na;

    if (p->nops == p->aops) {
        if (p->aops >= RW_MAX_OPS) {
            p->over_cap = 1;
            free(value);
            return -1;
        }
        na = p->aops ? p->aops * 2 : 16;
        if (na > RW_MAX_OPS)
            na = RW_MAX_OPS;
        if ((n = realloc(p->ops, na * sizeof(*n))) == NULL) {
            free(value);
            return -1;
        }
        p->ops = n;
        p->aops = na;
    }
    p->ops[p->nops].kind = kind;
    p->ops[p->nops].name = name;
    p->ops[p->nops].index = index;
    p->ops[p->nops].value = value;
    p->nops++;
    return 0;
}

/* reason_add - append "; what" to the plan's reason, cutting what does not fit */
static void reason_add(struct rw_plan *p, const char *what)
{
    size_t n = strlen(p->reason), room, w;

    if (n + 3 >= sizeof(p->reason))
        return;
    if (n) {
        memcpy(p->reason + n, "; ", 2);
        n += 2;
    }
    room = sizeof(p->reason) - n - 1;
    w = strlen(what);
    if (w > room)
        w = room;
    memcpy(p->reason + n, what, w);
    p->reason[n + w] = '\0';
}

/* readable_name - make a display name from an address: "nagios at mon01.corp.local" */
static int readable_name(struct buf *b, const struct addr_mailbox *mb, const char *qualify)
{
    return buf_printf(b, "%s at %s", mb->local, mb->domain ? mb->domain : qualify);
}

/* clean_name - a display name without addresses in it: '@' becomes " at " */
static int clean_name(struct buf *b, const char *name)
{
    int rc = BUF_OK;

    for (; *name && rc == BUF_OK; name++)
        rc = *name == '@' ? buf_puts(b, " at ") : buf_putc(b, *name);
    return rc;
}

/* fold_value - fold a formatted value for header name into a fresh string */
static char *fold_value(const char *name, const struct buf *value)
{
    struct buf out;

    buf_init(&out, OUT_MAX);
    if (hdr_fold(&out, name, buf_cstr(value)) != BUF_OK) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out);
}

/* format_one - "Name <local@domain>" folded for header name */
static char *format_one(const char *hname, const char *dname, const char *local, const char *domain,
                        int utf8)
{
    struct buf v;
    char *r = NULL;

    buf_init(&v, OUT_MAX);
    if (addr_format_mailbox(&v, dname, local, domain, utf8) == BUF_OK)
        r = fold_value(hname, &v);
    buf_free(&v);
    return r;
}

/* mb_recordable - may this From mailbox be written as the original sender? */
static int mb_recordable(const struct addr_mailbox *mb, const struct parsed *pm, int utf8)
{
    /* raw 8-bit (without SMTPUTF8) can never be written; a syntax error's guess only without a better source */
    if (!addr_spec_clean(mb->local, mb->domain, utf8))
        return 0;
    return !(mb->defects & ADDR_D_SYNTAX) || !pm->env_ok;
}

/* put_original - append one mailbox to the list v unless that would pass ORIG_MAX; 1 if appended */
static int put_original(struct buf *v, const char *name, const char *local, const char *domain,
                        int utf8, int *rc)
{
    struct buf one;

    buf_init(&one, OUT_MAX);
    *rc = addr_format_mailbox(&one, name, local, domain, utf8);
    if (*rc == BUF_OK && v->len + one.len + 2 > ORIG_MAX && v->len > 0) {
        buf_free(&one);
        return 0; /* what does not fit is left out: the first ones are the ones that matter */
    }
    if (*rc == BUF_OK && v->len)
        *rc = buf_puts(v, ", ");
    if (*rc == BUF_OK)
        *rc = buf_append(v, one.data, one.len);
    buf_free(&one);
    return *rc == BUF_OK;
}

/*
 * format_originals - the original From mailboxes as an address list, all
 * clean for a header.  A mailbox that cannot be recorded (see
 * mb_recordable) gives way to the envelope sender; no From mailbox at all
 * gives the envelope sender too.
 */
static int format_originals(struct buf *v, const struct parsed *pm, const char *qualify, int utf8,
                            int with_names)
{
    size_t i, j;
    int rc = BUF_OK, skipped = 0, env_listed = 0, full = 0;

    for (i = 0; i < pm->nfrom && !full; i++)
        for (j = 0; j < pm->from[i].n && rc == BUF_OK && !full; j++) {
            const struct addr_mailbox *mb = &pm->from[i].mb[j];
            const char *dom = mb->domain ? mb->domain : qualify;
            struct buf name;

            if (!mb_recordable(mb, pm, utf8)) {
                skipped = 1;
                continue;
            }
            buf_init(&name, ADDR_MAX_NAME * 4);
            if (with_names && mb->name)
                rc = clean_name(&name, mb->name);
            if (rc == BUF_OK)
                full = !put_original(v, name.len ? buf_cstr(&name) : NULL, mb->local, dom, utf8, &rc);
            if (rc == BUF_OK && pm->env_ok &&
                addr_equal(mb->local, dom, pm->env.local, pm->env.domain ? pm->env.domain : qualify))
                env_listed = 1;
            buf_free(&name);
        }
    if (rc == BUF_OK && pm->env_ok && !env_listed && (skipped || v->len == 0) && !full)
        (void)put_original(v, NULL, pm->env.local, pm->env.domain ? pm->env.domain : qualify, utf8,
                           &rc);
    return rc;
}

/* all_permitted - may the mailbox send as every From address? */
static int all_permitted(const struct conf_mailbox *mb, const struct parsed *pm)
{
    size_t i, j, n = 0;

    for (i = 0; i < pm->nfrom; i++)
        for (j = 0; j < pm->from[i].n; j++, n++)
            if (!conf_mailbox_permits(mb, pm->from[i].mb[j].local, pm->from[i].mb[j].domain))
                return 0;
    return n > 0;
}

/* sender_ok - is Sender header i a single clean permitted address? */
static int sender_ok(const struct rw_msg *m, size_t i, const struct conf_mailbox *mb, int *oom)
{
    const struct rw_header *h = &m->sender.v[i];
    struct addr_list l;
    int ok;

    if (h->oversize || h->odd_name)
        return 0;
    if (addr_parse_list_cs(h->value, h->len, msg_charset(m), &l) != ADDR_OK) {
        *oom = 1; /* caps are far above a sane Sender: treat like an internal error */
        return 0;
    }
    ok = l.n == 1 && !(l.defects & ADDR_D_BROKEN) &&
         conf_mailbox_permits(mb, l.mb[0].local, l.mb[0].domain);
    addr_list_free(&l);
    return ok;
}

/* dkim_signs_from - does this DKIM-Signature's h= tag list From? */
static int dkim_signs_from(const char *v)
{
    const char *p = v;

    while ((p = strchr(p, 'h')) != NULL) {
        const char *q = p + 1;

        /* a tag starts the value or follows ';' (possibly with folding white space) */
        const char *b = p;
        while (b > v && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r' || b[-1] == '\n'))
            b--;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
            q++;
        if ((b == v || b[-1] == ';') && *q == '=') {
            const char *end = strchr(q, ';');
            size_t n = end ? (size_t)(end - q) : strlen(q);
            const char *t = q + 1;

            while (t < q + n) {
                const char *colon = memchr(t, ':', (size_t)(q + n - t));
                const char *e = colon ? colon : q + n;
                const char *s = t;

                while (s < e && strchr(" \t\r\n", *s))
                    s++;
                while (e > s && strchr(" \t\r\n", e[-1]))
                    e--;
                if (e - s == 4 && strncasecmp(s, "from", 4) == 0)
                    return 1;
                t = colon ? colon + 1 : q + n;
            }
            return 0;
        }
        p++;
    }
    return 0;
}

/* refuse - fill a REJECT/TEMPFAIL plan, or pass non-SMTP mail and say so */
static void refuse(struct rw_plan *p, const struct rw_msg *m, int temp, const char *why)
{
    const char *who = p->orig_env && *p->orig_env ? p->orig_env : "<>";

    if (m->non_smtp) {
        p->action = RW_KEEP;
        snprintf(p->reason, sizeof(p->reason), "%s; non-SMTP mail is never refused: passed unchanged",
                 why);
        return;
    }
    p->action = temp ? RW_TEMPFAIL : RW_REJECT;
    p->rcode = temp ? "451" : "550";
    p->xcode = temp ? "4.7.1" : "5.7.1";
    snprintf(p->reason, sizeof(p->reason), "%s", why);
    snprintf(p->text, sizeof(p->text), "Sender %s %s: %s", who,
             temp ? "temporarily refused" : "refused", why);
}

/* route_for - run the route table; fills p->route/p->mailbox, returns the status */
static enum route_status route_for(const struct conf *c, const struct rw_msg *m,
                                   const struct parsed *pm, int have_from, struct rw_plan *p)
{
    struct route_input in;
    enum route_status st;

    memset(&in, 0, sizeof(in));
    in.sasl_login = m->sasl_login && *m->sasl_login ? m->sasl_login : NULL;
    route_set_client(&in, m->client_addr);
    if (!pm->env_null && !pm->env_bad) {
        in.env_local = pm->env.local;
        in.env_domain = pm->env.domain;
    }
    in.have_from = have_from;
    if (have_from && pm->first) {
        in.from_local = pm->first->local;
        in.from_domain = pm->first->domain;
    }
    st = route_select(c, &in, &p->route);
    if (st == ROUTE_MATCH && p->route->target == TARGET_MAILBOX)
        p->mailbox = p->route->mailbox;
    return st;
}

/* route_decision - turn the route result into a refusal when it is one; 1 if refused */
static int route_decision(const struct conf *c, const struct rw_msg *m, enum route_status st,
                          struct rw_plan *p)
{
    char why[300];
    enum route_verdict v = route_decide(c, st, p->route, why, sizeof(why));

    if (v == ROUTE_PASS) {
        p->action = RW_KEEP;
        snprintf(p->reason, sizeof(p->reason), "no route matches; passed unchanged (no_route accept)");
        return 1;
    }
    if (v == ROUTE_REJECT || v == ROUTE_TEMPFAIL) {
        refuse(p, m, v == ROUTE_TEMPFAIL, why);
        return 1;
    }
    return 0;
}

/* env_string - "local@domain" of the envelope sender, "" for <> */
static char *env_string(const struct parsed *pm, const struct rw_msg *m)
{
    struct buf b;

    buf_init(&b, OUT_MAX);
    if (pm->env_bad)
        buf_puts(&b, m->env_sender ? m->env_sender : "");
    else if (!pm->env_null)
        addr_format_spec(&b, pm->env.local, pm->env.domain);
    return buf_steal(&b);
}

/* rw_plan_envelope - early decision at MAIL FROM */
int rw_plan_envelope(const struct conf *c, const struct rw_msg *m, struct rw_plan *p)
{
    struct parsed pm;
    enum route_status st;

    memset(p, 0, sizeof(*p));
    if (parse_message(m, &pm) < 0 || (p->orig_env = env_string(&pm, m)) == NULL) {
        parsed_free(&pm);
        return -1;
    }
    st = route_for(c, m, &pm, 0, p);
    if (st != ROUTE_NEED_FROM && route_decision(c, m, st, p)) {
        parsed_free(&pm);
        return 0;
    }
    p->action = RW_KEEP;
    parsed_free(&pm);
    return 0;
}

/* plan_from - decide the From header; sets *changed and *dropped (an original address is gone) */
static int plan_from(const struct conf *c, const struct rw_msg *m, const struct parsed *pm,
                     struct rw_plan *p, int *changed, int *dropped, int *need_sender)
{
    const struct conf_mailbox *mb = p->mailbox;
    const struct addr_mailbox *src, *keep = NULL;
    struct buf name;
    char *value, why[600];
    size_t i, nmb = 0;
    int k;

    for (i = 0; i < pm->nfrom; i++)
        nmb += pm->from[i].n;
    *changed = *dropped = *need_sender = 0;
    if (m->from.seen == 1 && !pm->from_oversize && !pm->from_odd_name &&
        !(pm->from_defects & FROM_DIRTY) && all_permitted(mb, pm)) {
        *need_sender = nmb > 1; /* RFC 5322: several authors need a Sender */
        return 0;
    }

    /* say why, for the log line and sendasctl test */
    if (m->from.seen == 0)
        reason_add(p, "no From header");
    else if (m->from.seen > 1)
        snprintf(why, sizeof(why), "%zu From headers", m->from.seen), reason_add(p, why);
    if (pm->from_oversize)
        reason_add(p, "From header over max_header_bytes");
    if (pm->from_odd_name)
        reason_add(p, "From header name not spelled \"From\"");
    if (pm->from_defects & ADDR_D_GROUP)
        reason_add(p, "group syntax");
    if (pm->from_defects & ADDR_D_EMPTY)
        reason_add(p, "no address in From");
    if (pm->from_defects & ADDR_D_UNQUALIFIED)
        reason_add(p, "unqualified address");
    if (pm->from_defects & ADDR_D_ROUTE)
        reason_add(p, "obsolete route syntax");
    if (pm->from_defects & ADDR_D_8BIT)
        reason_add(p, "8-bit text");
    if (pm->from_defects & ADDR_D_BAD_ENCWORD)
        reason_add(p, "malformed encoded word");
    if (pm->from_defects & ADDR_D_NAME_ADDR)
        reason_add(p, "display name contains an address");
    if (pm->from_defects & ADDR_D_NAME_SYNTAX)
        reason_add(p, "specials in the display name");
    if (pm->from_defects & ADDR_D_SYNTAX)
        reason_add(p, "syntax error");
    if (pm->from_defects & ADDR_D_LEGACY)
        reason_add(p, "raw ISO-2022 or double-byte CJK text");
    if (pm->from_defects & ADDR_D_EMPTY_ITEM)
        reason_add(p, "empty list element");
    if (pm->from_defects & ADDR_D_COMMENT)
        reason_add(p, "comment in From");
    if (pm->from_defects & ADDR_D_CAP)
        reason_add(p, "address over sendas's size caps left out");
    if (nmb > 1)
        snprintf(why, sizeof(why), "%zu addresses in From", nmb), reason_add(p, why);

    /* the first From address survives when the mailbox may use it: a repair, not a rewrite */
    if (pm->first_q && pm->first == pm->first_q &&
        conf_mailbox_permits(mb, pm->first_q->local, pm->first_q->domain))
        keep = pm->first_q;
    else if (pm->first || nmb == 0) {
        snprintf(why, sizeof(why), "From %s%s%s not permitted for %s",
                 pm->first ? pm->first->local : "(none)", pm->first && pm->first->domain ? "@" : "",
                 pm->first && pm->first->domain ? pm->first->domain : "", mb->address);
        if (pm->first)
            reason_add(p, why);
    }
    *dropped = keep == NULL ? (nmb > 0 || !pm->env_null) : nmb > 1;

    /*
     * display name: the original one, else one made from the original
     * address -- the envelope sender's when the From address is no more than
     * a guess from a syntax error or cannot be written
     */
    src = pm->first ? pm->first : (!pm->env_null && !pm->env_bad ? &pm->env : NULL);
    if (src == pm->first && src && !(src->name && src->name[0]) && pm->env_ok &&
        !mb_recordable(src, pm, m->smtputf8))
        src = &pm->env;
    buf_init(&name, ADDR_MAX_NAME * 4);
    if (src && c->keep_display_name && src->name && src->name[0])
        k = clean_name(&name, src->name);
    else if (src && keep == NULL && src->local && src->local[0])
        k = readable_name(&name, src, c->qualify_domain);
    else
        k = BUF_OK;
    value = k == BUF_OK ? format_one("From", name.len ? buf_cstr(&name) : NULL,
                                     keep ? keep->local : mb->local, keep ? keep->domain : mb->domain,
                                     m->smtputf8)
                        : NULL;
    buf_free(&name);
    if (value == NULL)
        return -1;
    /* delete surplus From headers from the last one back, so indexes stay valid */
    for (i = m->from.seen; i > 1; i--)
        if (add_op(p, RW_OP_DELETE, "From", (int)i, NULL) < 0) {
            free(value);
            return -1;
        }
    if (add_op(p, m->from.seen ? RW_OP_CHANGE : RW_OP_ADD, "From", 1, value) < 0)
        return -1;
    *changed = 1;
    return 0;
}

/* plan_sender - remove or rewrite Sender headers that are not permitted */
static int plan_sender(const struct conf *c, const struct rw_msg *m, struct rw_plan *p, int need)
{
    const struct conf_mailbox *mb = p->mailbox;
    int oom = 0, good;
    size_t i;
    char *value;

    if (m->sender.seen == 0 && !need)
        return 0;
    good = m->sender.seen == 1 && m->sender.n == 1 && sender_ok(m, 0, mb, &oom);
    if (oom)
        return -1;
    if (good)
        return 0;
    for (i = m->sender.seen; i > 1; i--)
        if (add_op(p, RW_OP_DELETE, "Sender", (int)i, NULL) < 0)
            return -1;
    if (need || c->sender_header == SENDER_REWRITE) {
        if ((value = format_one("Sender", NULL, mb->local, mb->domain, m->smtputf8)) == NULL)
            return -1;
        if (add_op(p, m->sender.seen ? RW_OP_CHANGE : RW_OP_ADD, "Sender", 1, value) < 0)
            return -1;
        reason_add(p, m->sender.seen ? "Sender rewritten" : "Sender added");
    } else if (m->sender.seen) {
        if (add_op(p, RW_OP_DELETE, "Sender", 1, NULL) < 0)
            return -1;
        reason_add(p, "Sender not permitted: removed");
    }
    return 0;
}

/*
 * reply_to_usable - does Reply-To field i name an address replies can reach?
 * An empty one, white space, a group, garbage: no, and sendas replaces or
 * drops it.  A field it could not read whole (over a cap, or past the count
 * cap) counts as usable.  -1 when out of memory.
 */
static int reply_to_usable(const struct rw_msg *m, size_t i)
{
    const struct rw_header *h = &m->reply_to.v[i];
    struct addr_list l;
    size_t j;
    int rc, ok = 0;

    if (i >= m->reply_to.n || h->oversize)
        return 1;
    if ((rc = addr_parse_list_cs(h->value, h->len, msg_charset(m), &l)) == ADDR_ENOMEM)
        return -1;
    if (rc != ADDR_OK)
        return 1;
    for (j = 0; j < l.n; j++)
        if (l.mb[j].domain && !(l.mb[j].defects & ADDR_D_SYNTAX))
            ok = 1;
    addr_list_free(&l);
    return ok;
}

/* printable_line - s/n is 7-bit printable text on one line (copied into a new field as is) */
static int printable_line(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((s[i] < 0x20 || s[i] > 0x7e) && s[i] != '\t')
            return 0;
    return 1;
}

/*
 * plan_reply_to_merge - several Reply-To fields, some naming addresses:
 * one field leaves (RFC 5322 allows one, and a reader that takes the empty
 * one sends replies nowhere).  Fields without an address are deleted; more
 * than one with addresses become one list in the first, when all of them
 * were read whole and are printable 7-bit on one line.  ok[i]: field i is
 * usable.
 */
static int plan_reply_to_merge(const struct rw_msg *m, struct rw_plan *p, const int *ok)
{
    struct buf v;
    char *value = NULL;
    size_t i, keep = 0, nok = 0, dropped = 0;
    int merge, rc = -1;

    for (i = m->reply_to.seen; i > 0; i--)
        if (ok[i - 1]) {
            keep = i - 1;
            nok++;
        }
    merge = nok > 1 && m->reply_to.seen == m->reply_to.n;
    for (i = 0; merge && i < m->reply_to.n; i++)
        if (m->reply_to.v[i].oversize)
            merge = 0;
    buf_init(&v, OUT_MAX);
    if (merge) {
        for (i = keep; i < m->reply_to.n; i++) {
            const struct rw_header *h = &m->reply_to.v[i];
            size_t a = 0, b = h->len;

            if (!ok[i])
                continue;
            while (a < b && h->value[a] && strchr(" \t\r\n,", h->value[a]))
                a++;
            while (b > a && h->value[b - 1] && strchr(" \t\r\n,", h->value[b - 1]))
                b--;
            if (!printable_line(h->value + a, b - a)) {
                merge = 0; /* folded or 8-bit: not copied into a field sendas writes */
                break;
            }
            if ((v.len && buf_append(&v, ", ", 2) != BUF_OK) ||
                buf_append(&v, h->value + a, b - a) != BUF_OK) {
                merge = 0; /* too long for one field: the extra ones stay */
                break;
            }
        }
    }
    /* from the last down, so that the numbers of those still to go hold */
    for (i = m->reply_to.seen; i > 0; i--) {
        if (i - 1 == keep || (ok[i - 1] && !merge))
            continue;
        if (add_op(p, RW_OP_DELETE, "Reply-To", (int)i, NULL) < 0)
            goto done;
        dropped++;
    }
    if (merge) {
        /* every field before keep had no address and is gone: keep is now the first */
        if ((value = fold_value("Reply-To", &v)) == NULL ||
            add_op(p, RW_OP_CHANGE, "Reply-To", 1, value) < 0)
            goto done;
        reason_add(p, "Reply-To fields merged into one");
    } else if (dropped) {
        reason_add(p, "Reply-To without an address removed");
    }
    rc = 0;
done:
    buf_free(&v);
    return rc;
}

/* plan_trace - Reply-To and the trace header keep the original sender recoverable */
static int plan_trace(const struct conf *c, const struct rw_msg *m, const struct parsed *pm,
                      struct rw_plan *p, int dropped)
{
    struct buf v;
    char *value, why[160];
    size_t i;
    int usable, ok[RW_MAX_HEADERS];

    buf_init(&v, OUT_MAX);
    if (format_originals(&v, pm, c->qualify_domain, m->smtputf8, 1) != BUF_OK)
        goto fail;
    if (c->trace_header) {
        /*
         * Exactly one trace header leaves, and it is sendas's: any already
         * there came from the client, who can write anything.
         */
        for (i = m->trace.seen; i > 0; i--)
            if (add_op(p, RW_OP_DELETE, c->trace_header, (int)i, NULL) < 0)
                goto fail;
        if (m->trace.seen) {
            snprintf(why, sizeof(why), "%zu %s from the client removed", m->trace.seen,
                     c->trace_header);
            reason_add(p, why);
        }
    }
    if (v.len == 0) {
        buf_free(&v);
        return 0;
    }
    if (dropped && c->add_reply_to) {
        usable = 0;
        for (i = 0; i < m->reply_to.seen && i < RW_MAX_HEADERS; i++) {
            if ((ok[i] = reply_to_usable(m, i)) < 0)
                goto fail;
            usable |= ok[i];
        }
        if (m->reply_to.seen > m->reply_to.n)
            usable = 1; /* the ones past the count cap were never read: maybe usable */
        if (usable && m->reply_to.seen > 1 && m->reply_to.seen <= RW_MAX_HEADERS) {
            if (plan_reply_to_merge(m, p, ok) < 0)
                goto fail;
        } else if (!usable) {
            if ((value = fold_value("Reply-To", &v)) == NULL)
                goto fail;
            for (i = m->reply_to.seen; i > 1; i--)
                if (add_op(p, RW_OP_DELETE, "Reply-To", (int)i, NULL) < 0) {
                    free(value);
                    goto fail;
                }
            if (add_op(p, m->reply_to.seen ? RW_OP_CHANGE : RW_OP_ADD, "Reply-To",
                       m->reply_to.seen ? 1 : 0, value) < 0)
                goto fail;
            reason_add(p, m->reply_to.seen ? "Reply-To without an address replaced" : "Reply-To added");
        }
    }
    if (c->trace_header) {
        if ((value = fold_value(c->trace_header, &v)) == NULL ||
            add_op(p, RW_OP_ADD, c->trace_header, 0, value) < 0)
            goto fail;
    }
    buf_free(&v);
    return 0;
fail:
    buf_free(&v);
    return -1;
}

/* plan_dkim - drop signatures that a changed From has broken anyway */
static int plan_dkim(const struct conf *c, const struct rw_msg *m, struct rw_plan *p)
{
    size_t i;
    int removed = 0;

    if (!c->remove_dkim_from)
        return 0;
    for (i = m->dkim.seen; i > 0; i--) {
        const struct rw_header *h = i <= m->dkim.n ? &m->dkim.v[i - 1] : NULL;

        /* one past the kept ones was never read: a changed From has broken it as likely as not */
        if (h == NULL || h->oversize || dkim_signs_from(h->value)) {
            if (add_op(p, RW_OP_DELETE, "DKIM-Signature", (int)i, NULL) < 0)
                return -1;
            removed++;
        }
    }
    if (removed)
        reason_add(p, "DKIM-Signature covering From removed");
    return 0;
}

/* free_ops - forget the plan's header operations and envelope change */
static void free_ops(struct rw_plan *p)
{
    size_t i;

    for (i = 0; i < p->nops; i++)
        free(p->ops[i].value);
    p->nops = 0;
    free(p->new_env_sender);
    p->new_env_sender = NULL;
}

/* refuse_perm - a permanent refusal (SMTP mail only) for input sendas cannot repair */
static void refuse_perm(struct rw_plan *p, const char *why)
{
    const char *who = p->orig_env && *p->orig_env ? p->orig_env : "<>";

    p->action = RW_REJECT;
    p->rcode = "550";
    p->xcode = "5.6.0";
    if (why != p->reason)
        snprintf(p->reason, sizeof(p->reason), "%s", why);
    snprintf(p->text, sizeof(p->text), "Message from %s refused: %s", who, why);
}

/*
 * plan_clean - everything the plan writes is clean header text: no CR, no
 * NUL, LF only as a fold (followed by white space), no other control
 * character, and 7-bit unless the message is SMTPUTF8.
 */
static int plan_clean(const struct rw_plan *p, int utf8)
{
    const unsigned char *q;
    size_t i;

    for (i = 0; i < p->nops; i++) {
        if (p->ops[i].value == NULL)
            continue;
        for (q = (const unsigned char *)p->ops[i].value; *q; q++) {
            if (*q == '\n' && (q[1] == ' ' || q[1] == '\t'))
                continue;
            if (*q < 0x20 ? *q != '\t' : *q == 0x7f || (*q >= 0x80 && !utf8))
                return 0;
        }
    }
    return 1;
}

/* internal_error - the plan after a failure: tempfail SMTP mail, pass non-SMTP mail */
static int internal_error(struct rw_plan *p, const struct rw_msg *m, const char *what)
{
    free_ops(p);
    if (m->non_smtp) {
        p->action = RW_KEEP;
        snprintf(p->reason, sizeof(p->reason), "internal error (%s); non-SMTP mail passed unchanged", what);
    } else {
        p->action = RW_TEMPFAIL;
        p->rcode = "451";
        p->xcode = "4.3.0";
        snprintf(p->reason, sizeof(p->reason), "internal error: %s", what);
        snprintf(p->text, sizeof(p->text), "Temporary sendas failure (%s), try again later", what);
    }
    return -1;
}

/* rw_plan_message - the decision at end of message */
int rw_plan_message(const struct conf *c, const struct rw_msg *m, struct rw_plan *p)
{
    struct parsed pm;
    struct buf v;
    enum route_status st;
    int changed = 0, dropped = 0, need_sender = 0;

    memset(p, 0, sizeof(*p));
    if (parse_message(m, &pm) < 0 || (p->orig_env = env_string(&pm, m)) == NULL) {
        parsed_free(&pm);
        return internal_error(p, m, "out of memory");
    }
    buf_init(&v, OUT_MAX);
    if (format_originals(&v, &pm, c->qualify_domain, 1, 0) != BUF_OK) {
        buf_free(&v);
        parsed_free(&pm);
        return internal_error(p, m, "out of memory");
    }
    p->orig_from = buf_steal(&v);
    if (p->orig_from == NULL) {
        parsed_free(&pm);
        return internal_error(p, m, "out of memory");
    }
    st = route_for(c, m, &pm, 1, p);
    if (route_decision(c, m, st, p)) {
        parsed_free(&pm);
        return 0;
    }
    /*
     * A From over max_header_bytes is replaced (its address is unknown, so
     * it cannot be permitted), with the envelope sender as the original.
     * Without a usable envelope sender the original would be lost: refuse
     * it permanently while the client can still be told.  Never 4xx: the
     * header will be just as long on every retry.
     */
    if (pm.from_oversize && !m->non_smtp && !pm.env_ok && p->orig_from[0] == '\0') {
        snprintf(p->reason, sizeof(p->reason),
                 "From header over max_header_bytes (%zu) and no envelope sender to keep as the "
                 "original sender", c->max_header_bytes);
        refuse_perm(p, p->reason);
        parsed_free(&pm);
        return 0;
    }
    if (plan_from(c, m, &pm, p, &changed, &dropped, &need_sender) < 0 ||
        plan_sender(c, m, p, need_sender) < 0 ||
        (changed && plan_trace(c, m, &pm, p, dropped) < 0) ||
        (changed && plan_dkim(c, m, p) < 0)) {
        parsed_free(&pm);
        if (p->over_cap) {
            char why[200];

            snprintf(why, sizeof(why), "too many headers to repair (%zu From, %zu Sender, %zu %s)",
                     m->from.seen, m->sender.seen, m->trace.seen,
                     c->trace_header ? c->trace_header : "trace");
            free_ops(p);
            p->reason[0] = '\0';
            refuse(p, m, 0, why); /* non-SMTP: passed, and the log says why */
            if (p->action == RW_REJECT)
                refuse_perm(p, why);
            return 0;
        }
        return internal_error(p, m, "out of memory or too many header changes");
    }
    if (!plan_clean(p, m->smtputf8)) {
        parsed_free(&pm);
        return internal_error(p, m, "a generated header is not clean");
    }
    /*
     * The envelope sender becomes the mailbox even when the mailbox may send
     * as it: Postfix picks SASL credentials by envelope sender, so anything
     * else would sign in as the wrong mailbox (or none).  The null sender too,
     * when an SMTP client sent it.  Not on non-SMTP mail: that is where
     * Postfix's own notices arrive (internal_mail_filter_classes), and a
     * notice must keep <> so that one Exchange Online refuses is dropped
     * rather than bounced to the mailbox again, and again (RFC 5321 4.5.5).
     * Postfix signs such mail in with the next hop's sasl_passwd entry.
     */
    if (c->rewrite_envelope && !(pm.env_null && m->non_smtp) &&
        (pm.env_null || pm.env_bad || !pm.env.domain ||
         strcasecmp(pm.env.local, p->mailbox->local) != 0 ||
         strcasecmp(pm.env.domain, p->mailbox->domain) != 0)) {
        size_t n = strlen(p->mailbox->address) + 3;

        if ((p->new_env_sender = malloc(n)) == NULL) {
            parsed_free(&pm);
            return internal_error(p, m, "out of memory");
        }
        snprintf(p->new_env_sender, n, "<%s>", p->mailbox->address);
        reason_add(p, pm.env_null ? "null envelope sender set to the mailbox"
                                  : "envelope sender set to the mailbox");
    }
    p->action = p->nops || p->new_env_sender ? RW_REWRITE : RW_KEEP;
    if (p->action == RW_KEEP)
        reason_add(p, "From permitted for the mailbox");
    parsed_free(&pm);
    return 0;
}
