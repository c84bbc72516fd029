/* SPDX-License-Identifier: MIT */
/*
 * audit - `sendasctl audit`: read audit logs and Postfix mail logs, aggregate.
 *
 * Memory stays flat as the logs grow: records are aggregated as they are
 * read into a hash of senders, and the audit logs and mail logs are merged in
 * time order so that a queue id is followed only from its audit record until
 * Postfix logs it "removed" (a hash of queue ids; an entry is freed then, or
 * swept when its end never shows).  Files are read in the order of their first
 * timestamp, so "mail.log mail.log.1 mail.log.2.gz" may be given in any order;
 * zlib reads the compressed ones (and plain files as they are).
 */
#include "config.h"

#include "auditin.h"
#include "auditout.h"
#include "auditrep.h"
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "maillog.h"

#define DEFAULT_MAILLOG "/var/log/mail.log"
#define JOURNALD_SOCKET "/run/systemd/journal/socket" /* there when journald runs */
#define SLACK_US 1000000LL       /* mail log stamps are cut to the second */
#define PENDING_US (600LL * 1000000) /* how long a status line waits for its audit record */

/* One queue id being followed. */
struct qent {
    char qid[MAILLOG_QID];
    struct au_sender *s;          /* NULL: a status line whose audit record has not come (yet) */
    int64_t t;
    unsigned char from, mailbox;  /* indexes in s's lists */
    unsigned char final;          /* sent or bounced was seen */
    struct maillog_ent *pending;  /* s == NULL: the status line waiting */
    struct qent *next;
};

struct qtab {
    struct qent **b;
    size_t size, n, sweep_at;
};

/* A series of inputs read as one stream. */
struct src {
    struct au_input *in;
    size_t n, cur;
    struct au_stream st;
    int stream_open;
    int is_audit;
    int eof;
    int failed;                 /* an input could not be read, or held nothing usable */
    int defaulted;              /* the mail log nobody named: errors say how to choose */
    unsigned long lines, known; /* of the current input: non-empty lines, recognised ones */
    int64_t t;                  /* time of the current record */
    struct audit_in a;
    struct maillog_ent m;
};

static struct audit_reader *reader;
static int this_year;
static long gmtoff;
static int64_t now_us;

/* hash - FNV-1a */
static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* xstrdup - strdup that gives up loudly (a report, not mail: exiting is fine here) */
static char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        fputs("sendasctl: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/* shown - s made safe to print, in place: C0 controls, DEL and C1 controls (UTF-8 C2 80-9F;
 * C2 9B is CSI) become '?'.  The logs keep what clients sent (the audit log JSON-escaped, a
 * mail log from the journal anything); every report format and the advice print it */
static void shown(char *s)
{
    unsigned char *u = (unsigned char *)s;

    for (; *u; u++) {
        if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
            *u++ = '?', *u = '?';
        else if (*u < 0x20 || *u == 0x7f)
            *u = '?';
    }
}

/* shown_audit - the texts of an audit record that reach the report, made safe to print */
static void shown_audit(struct audit_in *a)
{
    shown(a->client_addr);
    shown(a->env_from);
    shown(a->header_from);
    shown(a->mailbox);
    shown(a->action);
    shown(a->reason);
}

/* xcalloc - calloc or exit */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fputs("sendasctl: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/* list_add - count v in l; returns its index, or 255 when it did not fit */
static unsigned char list_add(struct au_list *l, const char *v)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], v) == 0) {
            l->count[i]++;
            return (unsigned char)i;
        }
    if (l->n == AU_MAX_LIST) {
        l->more++;
        return 255;
    }
    l->v[l->n] = xstrdup(v);
    l->count[l->n] = 1;
    return (unsigned char)l->n++;
}

/* sender_get - the sender's entry, created on first sight */
static struct au_sender *sender_get(struct au_report *r, const char *addr)
{
    struct au_sender *s, **nt;
    size_t h, i;

    if (r->tab == NULL) {
        r->tabsize = 1024;
        r->tab = xcalloc(r->tabsize, sizeof(*r->tab));
    }
    h = hash(addr);
    for (s = r->tab[h & (r->tabsize - 1)]; s; s = s->next)
        if (strcmp(s->addr, addr) == 0)
            return s;
    if (r->nsenders >= AU_MAX_SENDERS)
        return strcmp(addr, "(other)") == 0 ? NULL : sender_get(r, "(other)");
    if (r->nsenders >= r->tabsize) { /* grow: rehash the chains */
        nt = xcalloc(r->tabsize * 2, sizeof(*nt));
        for (i = 0; i < r->tabsize; i++)
            while ((s = r->tab[i]) != NULL) {
                r->tab[i] = s->next;
                s->next = nt[hash(s->addr) & (r->tabsize * 2 - 1)];
                nt[hash(s->addr) & (r->tabsize * 2 - 1)] = s;
            }
        free(r->tab);
        r->tab = nt;
        r->tabsize *= 2;
    }
    s = xcalloc(1, sizeof(*s));
    s->addr = xstrdup(addr);
    s->next = r->tab[h & (r->tabsize - 1)];
    r->tab[h & (r->tabsize - 1)] = s;
    r->nsenders++;
    return s;
}

/* outcome_add - count what the next hop answered for one of s's messages */
static void outcome_add(struct au_sender *s, const struct maillog_ent *m, unsigned char from,
                        unsigned char mailbox)
{
    struct au_outcome *o;
    size_t i;

    for (i = 0; i < s->nout; i++) {
        o = &s->out[i];
        if (strcmp(o->status, m->status) == 0 && strcmp(o->dsn, m->dsn) == 0 &&
            o->from == from && o->mailbox == mailbox) {
            o->count++;
            return;
        }
    }
    if (s->nout == AU_MAX_OUTCOMES) {
        s->out_more++;
        return;
    }
    o = &s->out[s->nout++];
    snprintf(o->status, sizeof(o->status), "%s", m->status);
    snprintf(o->dsn, sizeof(o->dsn), "%s", m->dsn);
    snprintf(o->code, sizeof(o->code), "%s", m->code);
    o->from = from;
    o->mailbox = mailbox;
    o->count = 1;
    o->reply = xstrdup(m->reply);
}

/* --- queue ids ------------------------------------------------------------------------ */

/* q_find - the entry of qid, or NULL; *pp is where it hangs */
static struct qent *q_find(struct qtab *q, const char *qid, struct qent ***pp)
{
    struct qent **p;

    if (q->b == NULL)
        return NULL;
    for (p = &q->b[hash(qid) & (q->size - 1)]; *p; p = &(*p)->next)
        if (strcmp((*p)->qid, qid) == 0) {
            if (pp)
                *pp = p;
            return *p;
        }
    return NULL;
}

/* q_unlink - free the entry at *p */
static void q_unlink(struct qtab *q, struct qent **p)
{
    struct qent *e = *p;

    *p = e->next;
    free(e->pending);
    free(e);
    q->n--;
}

/* q_sweep - forget entries whose end will not come: stale waiting status lines, finished ones */
static void q_sweep(struct qtab *q, int64_t t)
{
    size_t i;

    for (i = 0; i < q->size; i++) {
        struct qent **p = &q->b[i];

        while (*p) {
            if (((*p)->s == NULL || (*p)->final) && (*p)->t + PENDING_US < t)
                q_unlink(q, p);
            else
                p = &(*p)->next;
        }
    }
    q->sweep_at = q->n * 2 > 65536 ? q->n * 2 : 65536;
}

/* q_add - a new entry for qid (the caller fills it) */
static struct qent *q_add(struct qtab *q, const char *qid, int64_t t)
{
    struct qent *e, **nb;
    size_t i, h;

    if (q->b == NULL) {
        q->size = 4096;
        q->b = xcalloc(q->size, sizeof(*q->b));
        q->sweep_at = 65536;
    }
    if (q->n >= q->sweep_at)
        q_sweep(q, t);
    if (q->n >= q->size * 2) {
        nb = xcalloc(q->size * 2, sizeof(*nb));
        for (i = 0; i < q->size; i++)
            while ((e = q->b[i]) != NULL) {
                q->b[i] = e->next;
                h = hash(e->qid) & (q->size * 2 - 1);
                e->next = nb[h];
                nb[h] = e;
            }
        free(q->b);
        q->b = nb;
        q->size *= 2;
    }
    e = xcalloc(1, sizeof(*e));
    snprintf(e->qid, sizeof(e->qid), "%s", qid);
    e->t = t;
    h = hash(qid) & (q->size - 1);
    e->next = q->b[h];
    q->b[h] = e;
    q->n++;
    return e;
}

/* --- records -------------------------------------------------------------------------- */

/* hour_add - count a decision in its hour for the chart */
static void hour_add(struct au_report *r, int64_t t, int what)
{
    int64_t h = t / 3600000000LL;
    struct au_hour *hr;

    if (r->hour0 < 0)
        r->hour0 = h;
    if (h < r->hour0) { /* an earlier hour: move the others up */
        size_t shift = (size_t)(r->hour0 - h);
        struct au_hour *nh;

        if (shift + r->nhours > AU_MAX_HOURS)
            return;
        nh = xcalloc(shift + r->nhours, sizeof(*nh));
        if (r->nhours)
            memcpy(nh + shift, r->hours, r->nhours * sizeof(*nh));
        free(r->hours);
        r->hours = nh;
        r->nhours += shift;
        r->hour0 = h;
    }
    if (h - r->hour0 >= AU_MAX_HOURS)
        return;
    if ((size_t)(h - r->hour0) >= r->nhours) {
        size_t nn = (size_t)(h - r->hour0) + 1;

        hr = realloc(r->hours, nn * sizeof(*hr));
        if (hr == NULL)
            return;
        memset(hr + r->nhours, 0, (nn - r->nhours) * sizeof(*hr));
        r->hours = hr;
        r->nhours = nn;
    }
    hr = &r->hours[h - r->hour0];
    if (what == 0)
        hr->kept++;
    else if (what == 1)
        hr->rewritten++;
    else
        hr->refused++;
}

/* on_audit - one audit record */
static void on_audit(struct au_report *r, struct qtab *q, const struct audit_in *a)
{
    struct au_sender *s;
    struct qent *e, **pp;
    char why[AUDIT_IN_TEXT + 32];
    unsigned char fi = 255, mi = 255;
    int policyd = strcmp(a->component, "sendas-policyd") == 0;

    if ((r->since && a->time_us < r->since) || (r->until && a->time_us >= r->until))
        return;
    if ((s = sender_get(r, a->env_from)) == NULL)
        return;
    r->records++;
    if (r->first == 0 || a->time_us < r->first)
        r->first = a->time_us;
    if (a->time_us > r->last)
        r->last = a->time_us;
    if (s->first == 0 || a->time_us < s->first)
        s->first = a->time_us;
    if (a->time_us > s->last)
        s->last = a->time_us;
    if (a->client_addr[0])
        list_add(&s->clients, a->client_addr);
    if (policyd && strcmp(a->action, "counted") == 0) {
        s->counted++;
        if (a->rcpt_count > 0)
            s->rcpts += (unsigned long long)a->rcpt_count;
        if (a->size > 0)
            s->bytes += (unsigned long long)a->size;
        return;
    }
    s->msgs++;
    if (a->header_from[0])
        fi = list_add(&s->froms, a->header_from);
    if (a->mailbox[0])
        mi = list_add(&s->mailboxes, a->mailbox);
    if (strcmp(a->action, "kept") == 0 || strcmp(a->action, "rewritten") == 0) {
        int rw = a->action[0] == 'r';

        if (rw)
            s->rewritten++;
        else
            s->kept++;
        hour_add(r, a->time_us, rw);
        if (strcmp(a->queue_id, "NOQUEUE") == 0 || a->queue_id[0] == '\0')
            return;
        if ((e = q_find(q, a->queue_id, &pp)) != NULL && e->s == NULL) {
            /* its status line came first (clock skew): count it now */
            if (e->pending) {
                outcome_add(s, e->pending, fi, mi);
                r->matched++;
                r->unmatched_status--;
            }
            q_unlink(q, pp);
        }
        if ((e = q_find(q, a->queue_id, NULL)) == NULL)
            e = q_add(q, a->queue_id, a->time_us);
        e->s = s;
        e->from = fi;
        e->mailbox = mi;
        e->t = a->time_us;
        if (q->n > r->peak_qids)
            r->peak_qids = q->n;
        return;
    }
    s->refused++;
    hour_add(r, a->time_us, 2);
    snprintf(why, sizeof(why), "%s%s: %s", policyd ? "policyd " : "", a->action,
             a->reason[0] ? a->reason : "-");
    list_add(&s->refusals, why);
}

/* on_maillog - one mail log line that matters: a delivery status or a queue file's end */
static void on_maillog(struct au_report *r, struct qtab *q, const struct maillog_ent *m)
{
    struct qent *e, **pp;

    e = q_find(q, m->queue_id, &pp);
    if (m->kind == MAILLOG_REMOVED) {
        if (e && e->s)
            q_unlink(q, pp);
        return;
    }
    if (e == NULL || e->s == NULL) {
        /* no audit record (yet): not sendas mail, or the record is a moment late */
        if (e == NULL)
            e = q_add(q, m->queue_id, m->time_us);
        if (e->pending == NULL) {
            e->pending = malloc(sizeof(*e->pending));
            if (e->pending == NULL)
                return;
            r->unmatched_status++;
        }
        *e->pending = *m;
        e->t = m->time_us;
        return;
    }
    outcome_add(e->s, m, e->from, e->mailbox);
    r->matched++;
    if (strcmp(m->status, "sent") == 0 || strcmp(m->status, "bounced") == 0 ||
        strcmp(m->status, "expired") == 0) {
        e->final = 1;
        e->t = m->time_us;
    }
}

/* list_free - the list's strings */
static void list_free(struct au_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
}

/* report_free - everything the report and the queue id table hold */
static void report_free(struct au_report *r, struct qtab *q)
{
    struct au_sender *s;
    struct qent *e;
    size_t i, j;

    for (i = 0; i < r->tabsize; i++)
        while ((s = r->tab[i]) != NULL) {
            r->tab[i] = s->next;
            list_free(&s->clients);
            list_free(&s->froms);
            list_free(&s->mailboxes);
            list_free(&s->refusals);
            for (j = 0; j < s->nout; j++)
                free(s->out[j].reply);
            free(s->addr);
            free(s);
        }
    free(r->tab);
    free(r->sorted);
    free(r->hours);
    for (i = 0; i < q->size; i++)
        while ((e = q->b[i]) != NULL) {
            q->b[i] = e->next;
            free(e->pending);
            free(e);
        }
    free(q->b);
}

/* --- reading -------------------------------------------------------------------------- */

/* parse_maillog - a mail log line with the year and time zone worked out */
static enum maillog_kind parse_maillog(const char *line, size_t len, struct maillog_ent *m)
{
    int traditional = len && ((line[0] >= 'A' && line[0] <= 'Z'));

    maillog_parse(line, len, this_year, m);
    if (traditional && m->time_us) {
        /* "Nov 28 05:12:01" is local time of a year it does not give */
        if (m->time_us > now_us + 86400LL * 1000000)
            maillog_parse(line, len, this_year - 1, m);
        m->time_us -= (int64_t)gmtoff * 1000000;
    }
    return m->kind;
}

/* src_done - the current input is finished: say when it held nothing usable */
static void src_done(struct src *s)
{
    const char *what = s->is_audit ? "audit record" : "Postfix log line";

    if (au_stream_close(&s->st) < 0)
        s->failed = 1;
    if (s->lines > 0 && s->known == 0) {
        fprintf(stderr, "sendasctl audit: %s: none of its %lu lines is %s %s (%s)\n",
                au_input_name(s->st.in), s->lines, s->is_audit ? "an" : "a", what,
                s->is_audit ? "is it the audit_log of sendas.conf?"
                            : "syslog, maillog_file or journalctl -o short-iso/json lines");
        s->failed = 1;
    } else if (s->lines == 0 && !s->failed) {
        fprintf(stderr, "sendasctl audit: warning: %s %s\n", au_input_name(s->st.in),
                s->st.in->kind == AU_IN_JOURNAL ? "has no mail log lines" : "is empty");
    }
    s->stream_open = 0;
    s->cur++;
}

/* src_next - the next useful record of the stream; 0, or -1 at its end */
static int src_next(struct src *s, struct au_report *r)
{
    const char *line;
    size_t n;
    int flags, rc;

    for (;;) {
        if (!s->stream_open) {
            if (s->cur >= s->n) {
                s->eof = 1;
                return -1;
            }
            if (au_stream_open(&s->st, &s->in[s->cur], r->since) < 0) {
                s->failed = 1;
                s->cur++;
                continue;
            }
            s->stream_open = 1;
            s->lines = s->known = 0;
            r->files++;
        }
        if ((rc = au_stream_next(&s->st, &line, &n, &flags)) <= 0) {
            src_done(s);
            continue;
        }
        if (n == 0)
            continue;
        s->lines++;
        if (s->is_audit) {
            if ((flags & LINES_OVERLONG) || audit_parse(reader, line, n, &s->a) < 0 ||
                s->a.time_us == 0) {
                r->bad_records++;
                continue;
            }
            s->known++;
            s->t = s->a.time_us;
            return 0;
        }
        r->maillog_lines++;
        if (flags & LINES_OVERLONG) {
            r->maillog_bad++;
            continue;
        }
        parse_maillog(line, n, &s->m);
        if (s->m.time_us == 0) { /* not a log line at all */
            r->maillog_bad++;
            continue;
        }
        s->known++;
        if (s->m.kind != MAILLOG_OTHER) {
            s->t = s->m.time_us;
            return 0;
        }
    }
}

/* first_time - the time of a file's first readable record (0 if none within 1000 lines) */
static int64_t first_time(const struct au_input *in, int is_audit)
{
    struct au_stream st;
    struct audit_in a;
    struct maillog_ent m;
    const char *line;
    size_t n;
    int64_t t = 0;
    int i, flags;

    if (in->kind != AU_IN_FILE || au_stream_open(&st, in, 0) < 0)
        return 0; /* a pipe cannot be read twice: it keeps its place */
    st.quiet = 1;
    for (i = 0; i < 1000 && t == 0 && au_stream_next(&st, &line, &n, &flags) > 0; i++) {
        if (flags & LINES_OVERLONG)
            continue;
        if (is_audit) {
            if (audit_parse(reader, line, n, &a) == 0)
                t = a.time_us;
        } else {
            parse_maillog(line, n, &m);
            t = m.time_us;
        }
    }
    au_stream_close(&st);
    return t;
}

/* cmp_input - by first timestamp */
static int cmp_input(const void *a, const void *b)
{
    const struct au_input *x = a, *y = b;

    return x->t < y->t ? -1 : x->t > y->t;
}

/* src_order - read the files of s oldest first */
static void src_order(struct src *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        s->in[i].t = first_time(&s->in[i], s->is_audit);
    if (s->n > 1)
        qsort(s->in, s->n, sizeof(*s->in), cmp_input);
}

#define WHEN_FORMATS                                                                               \
    "RFC 3339 (2026-11-28T05:00:00Z), \"2026-11-28 05:00\", 2026-11-28, or an age: 30s, 5m, "      \
    "2h, 1d, 1w"

/* parse_when - --since/--until: RFC 3339, "YYYY-MM-DD[ HH:MM]", or an age ("30s", "5m", ...) */
static int parse_when(const char *s, int64_t *t)
{
    static const struct { char unit; long long secs; } units[] = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    char *end;
    long long v;
    size_t i;

    if (audit_time_parse(s, strlen(s), t) == 0)
        return 0;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || end[0] == '\0' || end[1] != '\0')
        return -1;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (*end == units[i].unit) {
            if (v > 100LL * 366 * 86400 / units[i].secs) /* a century is enough, and no overflow */
                return -1;
            *t = now_us - v * units[i].secs * 1000000;
            return 0;
        }
    return -1;
}

/* audit_usage - the synopsis */
static void audit_usage(FILE *f)
{
    fputs("usage: sendasctl audit [--since TIME] [--until TIME] [--log FILE ...]\n"
          "                       [--maillog FILE ... | --journal | --no-maillog]\n"
          "                       [--format table|json|csv|html]\n"
          "  TIME: " WHEN_FORMATS " (ago)\n"
          "  --log defaults to audit_log of sendas.conf; FILE may be rotated (.1, .gz),\n"
          "  or - (standard input)\n"
          "  without --maillog: /var/log/mail.log, else the journal when journald runs\n"
          "  --journal: Postfix's log from journald (journalctl SYSLOG_FACILITY=2)\n",
          f);
}

/* add_input - append to a list of inputs */
static int add_input(struct src *s, char *path, enum au_in_kind kind)
{
    struct au_input *ni = realloc(s->in, (s->n + 1) * sizeof(*ni));

    if (ni == NULL)
        return -1;
    s->in = ni;
    s->in[s->n].path = path;
    s->in[s->n].kind = path && strcmp(path, "-") == 0 ? AU_IN_STDIN : kind;
    s->in[s->n].t = 0;
    s->n++;
    return 0;
}

/* default_maillog - without --maillog: the classic file, else the journal when journald runs */
static void default_maillog(struct src *ml)
{
    if (access(DEFAULT_MAILLOG, F_OK) == 0 &&
        add_input(ml, (char *)DEFAULT_MAILLOG, AU_IN_FILE) == 0)
        ml->defaulted = 1;
    else if (access(JOURNALD_SOCKET, F_OK) == 0 && add_input(ml, NULL, AU_IN_JOURNAL) == 0)
        ml->defaulted = 1;
    else
        fputs("sendasctl audit: note: no " DEFAULT_MAILLOG " and no journald: Exchange Online's "
              "answers are not reported (give --maillog FILE, or --no-maillog)\n",
              stderr);
}

/* check_inputs - every input can be opened, stdin is read once; 0, or -1 (said why) */
static int check_inputs(const struct src *au, const struct src *ml)
{
    const struct src *both[2] = {au, ml};
    char err[512];
    int stdin_used = 0, rc = 0;
    size_t i, k;

    for (k = 0; k < 2; k++)
        for (i = 0; i < both[k]->n; i++) {
            const struct au_input *in = &both[k]->in[i];

            if (in->kind == AU_IN_STDIN && stdin_used++) {
                fputs("sendasctl audit: standard input (-) can be read only once\n", stderr);
                rc = -1;
            } else if (in->kind == AU_IN_JOURNAL && both[k]->n > 1) {
                /* a stream is not merged by time with files: one source of mail log lines */
                fputs("sendasctl audit: --journal or --maillog, not both\n", stderr);
                rc = -1;
            } else if (au_input_check(in, err, sizeof(err)) < 0) {
                fprintf(stderr, "sendasctl audit: %s%s\n", err,
                        both[k]->defaulted ? " (the default mail log: give --maillog FILE, "
                                             "--journal or --no-maillog)" : "");
                rc = -1;
            }
        }
    return rc;
}

/* clock_init - now, the local offset and the current year (mail log stamps have no year) */
static void clock_init(void)
{
    struct timespec ts;
    struct tm tm;
    time_t now;

    clock_gettime(CLOCK_REALTIME, &ts);
    now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    now = ts.tv_sec;
    localtime_r(&now, &tm);
    gmtoff = tm.tm_gmtoff;
    this_year = tm.tm_year + 1900;
}

/* The command line of `sendasctl audit`. */
struct audit_args {
    struct src *au, *ml;    /* --log, --maillog/--journal */
    const char *format;
    int journal, no_maillog;
};

/* parse_args - the options into a and r's time range; 0 to go on, or -1 with the exit
 * status in *rc (said why, or --help printed) */
static int parse_args(struct audit_args *a, struct au_report *r, int argc, char **argv, int *rc)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'}, {"until", required_argument, NULL, 'u'},
        {"log", required_argument, NULL, 'l'},   {"maillog", required_argument, NULL, 'm'},
        {"journal", no_argument, NULL, 'j'},     {"no-maillog", no_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;

    *rc = 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
        case 'u':
            if (parse_when(optarg, ch == 's' ? &r->since : &r->until) < 0) {
                fprintf(stderr, "sendasctl audit: bad time \"%s\" for --%s: use " WHEN_FORMATS "\n",
                        optarg, ch == 's' ? "since" : "until");
                *rc = 2;
                return -1;
            }
            break;
        case 'l':
        case 'm':
            if (add_input(ch == 'l' ? a->au : a->ml, optarg, AU_IN_FILE) < 0)
                return -1;
            break;
        case 'j':
            if (!a->journal++ && add_input(a->ml, NULL, AU_IN_JOURNAL) < 0)
                return -1;
            break;
        case 'n':
            a->no_maillog = 1;
            break;
        case 'f':
            a->format = optarg;
            if (strcmp(a->format, "table") && strcmp(a->format, "json") &&
                strcmp(a->format, "csv") && strcmp(a->format, "html")) {
                fprintf(stderr, "sendasctl audit: unknown format \"%s\"\n", a->format);
                *rc = 2;
                return -1;
            }
            break;
        case 'h':
            audit_usage(stdout);
            *rc = 0;
            return -1;
        default:
            audit_usage(stderr);
            *rc = 2;
            return -1;
        }
    }
    if (optind < argc || (a->no_maillog && a->ml->n)) {
        audit_usage(stderr);
        *rc = 2;
        return -1;
    }
    return 0;
}

/* merge - read both series in time order into the report */
static void merge(struct src *au, struct src *ml, struct au_report *r, struct qtab *q)
{
    src_order(au);
    src_order(ml);
    src_next(au, r);
    src_next(ml, r);
    while (!au->eof || !ml->eof) {
        /* an audit record is written before Postfix logs the message's delivery */
        if (!au->eof && (ml->eof || au->t <= ml->t + SLACK_US)) {
            shown_audit(&au->a);
            on_audit(r, q, &au->a);
            src_next(au, r);
        } else {
            shown(ml->m.reply);
            on_maillog(r, q, &ml->m);
            src_next(ml, r);
        }
    }
}

/* warn_unread - what was not read or matched nothing, on stderr */
static void warn_unread(const struct au_report *r, const struct src *au)
{
    if (r->bad_records)
        fprintf(stderr, "sendasctl audit: warning: %lu audit log lines unreadable\n",
                r->bad_records);
    if (r->maillog_bad)
        fprintf(stderr, "sendasctl audit: warning: %lu of %lu mail log lines unreadable\n",
                r->maillog_bad, r->maillog_lines);
    if (r->records == 0 && !au->failed)
        fprintf(stderr, "sendasctl audit: warning: no audit record%s\n",
                r->since || r->until ? " in that time" : "");
}

/* cmd_audit - sendasctl audit */
int cmd_audit(const char *conf_path, int argc, char **argv)
{
    struct src au, ml;
    struct audit_args a = {.au = &au, .ml = &ml, .format = "table"};
    struct au_report r;
    struct qtab q;
    struct conf *c = NULL;
    int rc = 1;
    char err[CONF_ERRLEN];

    memset(&r, 0, sizeof(r));
    memset(&q, 0, sizeof(q));
    memset(&au, 0, sizeof(au));
    memset(&ml, 0, sizeof(ml));
    r.hour0 = -1;
    au.is_audit = 1;
    clock_init();
    if (parse_args(&a, &r, argc, argv, &rc) < 0)
        goto out;
    rc = 1;
    /* the configuration names the audit log, and the sendas entries the advice quotes */
    c = conf_load(conf_path, err, sizeof(err));
    if (au.n == 0) {
        if (c == NULL) {
            fprintf(stderr, "sendasctl: %s\n", err);
            goto out;
        }
        if (c->audit_log == NULL) {
            fprintf(stderr, "sendasctl audit: no --log, and %s sets no audit_log\n", conf_path);
            goto out;
        }
        if (add_input(&au, c->audit_log, AU_IN_FILE) < 0)
            goto out;
    }
    r.conf = c;
    if (ml.n == 0 && !a.no_maillog)
        default_maillog(&ml);
    if (check_inputs(&au, &ml) < 0 || (reader = audit_reader_new()) == NULL)
        goto out;
    merge(&au, &ml, &r, &q);
    audit_reader_free(reader);
    warn_unread(&r, &au);
    if (au_sort(&r) < 0)
        rc = 1;
    else
        rc = au_print(&r, a.format) < 0 ? 1 : 0;
    if (fflush(stdout) != 0)
        rc = 1;
    if (au.failed || ml.failed)
        rc = 1;
    report_free(&r, &q);
out:
    free(au.in);
    free(ml.in);
    conf_free(c);
    return rc;
}
