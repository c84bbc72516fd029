/* SPDX-License-Identifier: MIT */
/*
 * auditout - print `sendasctl audit`'s report: table, JSON, CSV or HTML.
 * The HTML page is self-contained (inline CSS and SVG, no script, no
 * external assets) and reflows on a phone.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "auditout.h"
#include "auditrep.h"
#include "conf.h"
#include "maillog.h"

/* name - a sender for display ("<>" for the null sender) */
static const char *name(const struct au_sender *s)
{
    return s->addr[0] ? s->addr : "<>";
}

/* pick - list value i, or "" */
static const char *pick(const struct au_list *l, unsigned char i)
{
    return i < l->n ? l->v[i] : "";
}

/* joined - the list's values "a, b (+3 more)" into out */
static const char *joined(const struct au_list *l, char *out, size_t outlen)
{
    size_t i, o = 0;
    int n;

    out[0] = '\0';
    for (i = 0; i < l->n && o < outlen; i++) {
        n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", l->v[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (l->more && o < outlen)
        snprintf(out + o, outlen - o, " (+%lu more)", l->more);
    return out;
}

/* is_refusal - an outcome that is not a delivery */
static int is_refusal(const struct au_outcome *o)
{
    return strcmp(o->status, "sent") != 0;
}

/*
 * sendas_entry - the sendas.conf entry that lets mailbox send as from, as a
 * phrase for the advice ("\"@contoso.com\" from the sendas list of mailbox
 * relay@contoso.com (sendas.conf line 12; ...)"); "" when sendas.conf did not
 * load or does not list it (changed since?): the advice then names no line.
 */
static const char *sendas_entry(const struct conf *c, const char *from, const char *mailbox,
                                char *out, size_t outlen)
{
    char fl[AUDIT_IN_ADDR], ml[AUDIT_IN_ADDR];
    const char *fd, *md;
    const struct conf_mailbox *mb;
    size_t i;

    out[0] = '\0';
    if (c == NULL || (fd = strrchr(from, '@')) == NULL || (md = strrchr(mailbox, '@')) == NULL ||
        (size_t)(fd - from) >= sizeof(fl) || (size_t)(md - mailbox) >= sizeof(ml))
        return out;
    memcpy(fl, from, (size_t)(fd - from));
    fl[fd - from] = '\0';
    memcpy(ml, mailbox, (size_t)(md - mailbox));
    ml[md - mailbox] = '\0';
    if ((mb = conf_find_mailbox(c, ml, md + 1)) == NULL)
        return out;
    for (i = 0; i < mb->nsendas; i++) {
        const struct conf_pattern *p = &mb->sendas[i];

        if (!conf_pattern_match(p, fl, fd + 1))
            continue;
        if (p->local == NULL)
            snprintf(out, outlen,
                     "\"@%s\" from the sendas list of mailbox %s (sendas.conf line %d; it "
                     "permits every address @%s: list the ones the mailbox may send as instead)",
                     p->domain, mb->address, mb->line, p->domain);
        else
            snprintf(out, outlen,
                     "\"%s@%s\" from the sendas list of mailbox %s (sendas.conf line %d)",
                     p->local, p->domain, mb->address, mb->line);
        return out;
    }
    return out;
}

/* advice - the fix for an outcome, or NULL */
static const char *advice(const struct au_report *r, const struct au_sender *s,
                          const struct au_outcome *o, char *out, size_t outlen)
{
    const char *from = pick(&s->froms, o->from), *mailbox = pick(&s->mailboxes, o->mailbox);
    char entry[2 * AUDIT_IN_ADDR + 160];

    if (!is_refusal(o))
        return NULL;
    if (!*from)
        from = s->addr;
    /* read, but permitting it nowhere (changed since the mail went?): name no entry */
    if (!*sendas_entry(r->conf, from, mailbox, entry, sizeof(entry)) && r->conf)
        snprintf(entry, sizeof(entry),
                 "the entry that permitted it when the mail was sent (sendas.conf has none now)");
    return maillog_advice(o->dsn, o->reply, from, mailbox, entry, out, outlen) ? out : NULL;
}

/* unreadable - "; 3 audit log lines and 5 mail log lines unreadable" (or "") */
static const char *unreadable(const struct au_report *r, char *out, size_t outlen)
{
    out[0] = '\0';
    if (r->bad_records || r->maillog_bad)
        snprintf(out, outlen, "; %lu audit log lines and %lu mail log lines unreadable",
                 r->bad_records, r->maillog_bad);
    return out;
}

/* --- table ---------------------------------------------------------------------------- */

static void print_table(struct au_report *r)
{
    char a[40], b[40], list[1024], adv[1024], bad[128];
    size_t i, j;

    au_time(r->first, a, sizeof(a));
    au_time(r->last, b, sizeof(b));
    printf("sendas audit: %lu records from %s to %s; %lu mail log lines, %lu delivery lines "
           "matched%s\n\n",
           r->records, a, b, r->maillog_lines, r->matched, unreadable(r, bad, sizeof(bad)));
    printf("%-36s %8s %8s %9s %8s %6s  %-20s  %-20s  %s\n", "sender", "messages", "kept",
           "rewritten", "refused", "rcpts", "first seen", "last seen", "clients");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];

        au_time(s->first, a, sizeof(a));
        au_time(s->last, b, sizeof(b));
        printf("%-36s %8lu %8lu %9lu %8lu %6llu  %-20s  %-20s  %s\n", name(s), s->msgs, s->kept,
               s->rewritten, s->refused, s->rcpts, a, b, joined(&s->clients, list, sizeof(list)));
    }
    printf("\nRefused here\n");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];

        for (j = 0; j < s->refusals.n; j++)
            printf("  %-36s %6lu  %s\n", name(s), s->refusals.count[j], s->refusals.v[j]);
    }
    printf("\nExchange Online's answers (from the mail log)\n");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];

        for (j = 0; j < s->nout; j++) {
            const struct au_outcome *o = &s->out[j];

            printf("  %-36s %6lu  %-8s %-8s from=%s mailbox=%s: %s\n", name(s), o->count,
                   o->status, o->dsn, pick(&s->froms, o->from), pick(&s->mailboxes, o->mailbox),
                   o->reply);
            if (advice(r, s, o, adv, sizeof(adv)))
                printf("  %-36s         advice: %s\n", "", adv);
        }
    }
}

/* --- CSV ------------------------------------------------------------------------------ */

/*
 * csv - one field, quoted when it must be.  A field a spreadsheet would take
 * for a formula (= + - @, tab or CR first: OWASP's CSV injection list) gets a
 * ' in front and quotes: senders are chosen by whoever connects to the relay.
 */
static void csv(const char *v, int last)
{
    int formula = strchr("=+-@\t\r", v[0]) != NULL && v[0] != '\0';

    if (formula || strpbrk(v, ",\"\r\n")) {
        putchar('"');
        if (formula)
            putchar('\'');
        for (; *v; v++) {
            if (*v == '"')
                putchar('"');
            putchar(*v);
        }
        putchar('"');
    } else {
        fputs(v, stdout);
    }
    putchar(last ? '\n' : ',');
}

static void print_csv(struct au_report *r)
{
    char a[40], b[40], list[1024], num[200], adv[1024];
    size_t i, j;

    puts("sender,messages,kept,rewritten,refused_here,recipients,bytes,first_seen,last_seen,"
         "clients,refused_here_why,exo_status,exo_dsn,exo_count,exo_reply,advice");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];
        size_t rows = s->nout ? s->nout : 1;

        au_time(s->first, a, sizeof(a));
        au_time(s->last, b, sizeof(b));
        for (j = 0; j < rows; j++) { /* one row per upstream answer, sender figures repeated */
            const struct au_outcome *o = s->nout ? &s->out[j] : NULL;

            csv(name(s), 0);
            snprintf(num, sizeof(num), "%lu,%lu,%lu,%lu,%llu,%llu", s->msgs, s->kept,
                     s->rewritten, s->refused, s->rcpts, s->bytes);
            fputs(num, stdout);
            putchar(',');
            csv(a, 0);
            csv(b, 0);
            csv(joined(&s->clients, list, sizeof(list)), 0);
            csv(joined(&s->refusals, list, sizeof(list)), 0);
            csv(o ? o->status : "", 0);
            csv(o ? o->dsn : "", 0);
            snprintf(num, sizeof(num), "%lu", o ? o->count : 0);
            csv(o ? num : "", 0);
            csv(o ? o->reply : "", 0);
            csv(o && advice(r, s, o, adv, sizeof(adv)) ? adv : "", 1);
        }
    }
}

/* --- JSON ----------------------------------------------------------------------------- */

/* jlist - a list as a JSON array of {value, count} */
static struct json_object *jlist(const struct au_list *l, const char *key)
{
    struct json_object *arr = json_object_new_array();
    size_t i;

    for (i = 0; i < l->n; i++) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, key, json_object_new_string(l->v[i]));
        json_object_object_add(o, "count", json_object_new_int64((int64_t)l->count[i]));
        json_object_array_add(arr, o);
    }
    return arr;
}

static int print_json(struct au_report *r)
{
    struct json_object *top = json_object_new_object(), *senders = json_object_new_array(),
                       *hours = json_object_new_array();
    char a[40], adv[1024];
    size_t i, j;
    int rc;

    au_time(r->first, a, sizeof(a));
    json_object_object_add(top, "first", json_object_new_string(a));
    au_time(r->last, a, sizeof(a));
    json_object_object_add(top, "last", json_object_new_string(a));
    json_object_object_add(top, "records", json_object_new_int64((int64_t)r->records));
    json_object_object_add(top, "maillog_lines", json_object_new_int64((int64_t)r->maillog_lines));
    json_object_object_add(top, "matched", json_object_new_int64((int64_t)r->matched));
    json_object_object_add(top, "unreadable_audit_lines",
                           json_object_new_int64((int64_t)r->bad_records));
    json_object_object_add(top, "unreadable_maillog_lines",
                           json_object_new_int64((int64_t)r->maillog_bad));
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];
        struct json_object *o = json_object_new_object(), *outs = json_object_new_array();

        json_object_object_add(o, "sender", json_object_new_string(s->addr));
        json_object_object_add(o, "messages", json_object_new_int64((int64_t)s->msgs));
        json_object_object_add(o, "kept", json_object_new_int64((int64_t)s->kept));
        json_object_object_add(o, "rewritten", json_object_new_int64((int64_t)s->rewritten));
        json_object_object_add(o, "refused_here", json_object_new_int64((int64_t)s->refused));
        json_object_object_add(o, "recipients", json_object_new_int64((int64_t)s->rcpts));
        json_object_object_add(o, "bytes", json_object_new_int64((int64_t)s->bytes));
        au_time(s->first, a, sizeof(a));
        json_object_object_add(o, "first_seen", json_object_new_string(a));
        au_time(s->last, a, sizeof(a));
        json_object_object_add(o, "last_seen", json_object_new_string(a));
        json_object_object_add(o, "clients", jlist(&s->clients, "address"));
        json_object_object_add(o, "froms", jlist(&s->froms, "from"));
        json_object_object_add(o, "mailboxes", jlist(&s->mailboxes, "mailbox"));
        json_object_object_add(o, "refusals", jlist(&s->refusals, "reason"));
        for (j = 0; j < s->nout; j++) {
            const struct au_outcome *u = &s->out[j];
            struct json_object *jo = json_object_new_object();

            json_object_object_add(jo, "status", json_object_new_string(u->status));
            json_object_object_add(jo, "dsn", json_object_new_string(u->dsn));
            json_object_object_add(jo, "code", json_object_new_string(u->code));
            json_object_object_add(jo, "from", json_object_new_string(pick(&s->froms, u->from)));
            json_object_object_add(jo, "mailbox",
                                   json_object_new_string(pick(&s->mailboxes, u->mailbox)));
            json_object_object_add(jo, "count", json_object_new_int64((int64_t)u->count));
            json_object_object_add(jo, "reply", json_object_new_string(u->reply));
            if (advice(r, s, u, adv, sizeof(adv)))
                json_object_object_add(jo, "advice", json_object_new_string(adv));
            json_object_array_add(outs, jo);
        }
        json_object_object_add(o, "upstream", outs);
        json_object_array_add(senders, o);
    }
    json_object_object_add(top, "senders", senders);
    for (i = 0; i < r->nhours; i++) {
        struct json_object *h = json_object_new_object();

        au_time((r->hour0 + (int64_t)i) * 3600000000LL, a, sizeof(a));
        json_object_object_add(h, "hour", json_object_new_string(a));
        json_object_object_add(h, "kept", json_object_new_int64((int64_t)r->hours[i].kept));
        json_object_object_add(h, "rewritten",
                               json_object_new_int64((int64_t)r->hours[i].rewritten));
        json_object_object_add(h, "refused", json_object_new_int64((int64_t)r->hours[i].refused));
        json_object_array_add(hours, h);
    }
    json_object_object_add(top, "hours", hours);
    rc = puts(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(top);
    return rc < 0 ? -1 : 0;
}

/* --- HTML ----------------------------------------------------------------------------- */

/* h - HTML-escaped text */
static void h(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '&': fputs("&amp;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*s);
        }
    }
}

/* chart - messages per hour by action as an inline SVG of stacked bars */
static void chart(const struct au_report *r)
{
    unsigned long max = 1;
    size_t i, n = r->nhours;
    double bw, W = 800, H = 300, top = 14, base = 236, left = 70;
    char a[40];

    for (i = 0; i < n; i++) {
        unsigned long t = r->hours[i].kept + r->hours[i].rewritten + r->hours[i].refused;

        if (t > max)
            max = t;
    }
    /* font sizes in viewBox units: the chart is scaled to about half on a phone */
    bw = n ? (W - left - 5) / (double)n : W;
    if (bw > 60)
        bw = 60; /* a few hours: bars, not a block */
    printf("<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"messages per hour\">\n", W, H);
    printf("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#888\"/>\n", left - 5,
           base, W - 5, base);
    printf("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" font-size=\"22\">%lu</text>\n",
           left - 10, top + 16, max);
    printf("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" font-size=\"22\">0</text>\n",
           left - 10, base);
    for (i = 0; i < n; i++) {
        const struct au_hour *hr = &r->hours[i];
        double x = left + (double)i * bw, y = base, w = bw > 2 ? bw - 1 : bw;
        const unsigned long v[3] = {hr->kept, hr->rewritten, hr->refused};
        static const char *const col[3] = {"#2e7d32", "#1565c0", "#c62828"};
        static const char *const what[3] = {"kept", "rewritten", "refused"};

        au_time((r->hour0 + (int64_t)i) * 3600000000LL, a, sizeof(a));
        for (int k = 0; k < 3; k++) {
            double bh = (base - top) * (double)v[k] / (double)max;

            if (v[k] == 0)
                continue;
            y -= bh;
            printf("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
                   "<title>%s %s: %lu</title></rect>\n",
                   x, y, w, bh, col[k], a, what[k], v[k]);
        }
        if (i % (n / 4 + 1) == 0) /* "2026-11-28T05": a few, so that they do not overlap */
            printf("<text x=\"%.2f\" y=\"%.0f\" font-size=\"20\">%.13s</text>\n", x, base + 24, a);
    }
    printf("<rect x=\"70\" y=\"%.0f\" width=\"18\" height=\"18\" fill=\"#2e7d32\"/>"
           "<text x=\"94\" y=\"%.0f\" font-size=\"22\">kept</text>\n"
           "<rect x=\"200\" y=\"%.0f\" width=\"18\" height=\"18\" fill=\"#1565c0\"/>"
           "<text x=\"224\" y=\"%.0f\" font-size=\"22\">rewritten</text>\n"
           "<rect x=\"380\" y=\"%.0f\" width=\"18\" height=\"18\" fill=\"#c62828\"/>"
           "<text x=\"404\" y=\"%.0f\" font-size=\"22\">refused here</text>\n</svg>\n",
           H - 26, H - 10, H - 26, H - 10, H - 26, H - 10);
}

static void print_html(struct au_report *r)
{
    char a[40], b[40], list[1024], adv[1024], bad[128];
    size_t i, j;

    au_time(r->first, a, sizeof(a));
    au_time(r->last, b, sizeof(b));
    puts("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>sendas audit</title>\n<style>\n"
         "body{font-family:system-ui,sans-serif;margin:0.6em;color:#222}\n"
         "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.2em}\n"
         ".scroll{overflow-x:auto}table{border-collapse:collapse;font-size:0.85em}\n"
         "th,td{border:1px solid #ccc;padding:0.25em 0.4em;text-align:left;vertical-align:top}\n"
         "td.n{text-align:right}th{background:#f0f0f0}svg{width:100%;height:auto;max-width:800px}\n"
         ".advice{color:#8a4b00}\n</style></head><body>");
    printf("<h1>sendas audit</h1>\n<p>%lu records from %s to %s; %lu mail log lines, %lu delivery "
           "lines matched%s.</p>\n<h2>Messages per hour</h2>\n",
           r->records, a, b, r->maillog_lines, r->matched, unreadable(r, bad, sizeof(bad)));
    chart(r);
    puts("<h2>Senders</h2>\n<div class=\"scroll\"><table id=\"senders\"><tr><th>sender</th>"
         "<th>messages</th><th>kept</th><th>rewritten</th><th>refused here</th>"
         "<th>recipients</th><th>first seen</th><th>last seen</th><th>clients</th></tr>");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];

        au_time(s->first, a, sizeof(a));
        au_time(s->last, b, sizeof(b));
        printf("<tr class=\"sender\"><td>");
        h(name(s));
        printf("</td><td class=\"n\">%lu</td><td class=\"n\">%lu</td><td class=\"n\">%lu</td>"
               "<td class=\"n\">%lu</td><td class=\"n\">%llu</td><td>%s</td><td>%s</td><td>",
               s->msgs, s->kept, s->rewritten, s->refused, s->rcpts, a, b);
        h(joined(&s->clients, list, sizeof(list)));
        puts("</td></tr>");
    }
    puts("</table></div>\n<h2>Refused here</h2>\n<div class=\"scroll\"><table id=\"refused\">"
         "<tr><th>sender</th><th>count</th><th>why</th></tr>");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];

        for (j = 0; j < s->refusals.n; j++) {
            printf("<tr><td>");
            h(name(s));
            printf("</td><td class=\"n\">%lu</td><td>", s->refusals.count[j]);
            h(s->refusals.v[j]);
            puts("</td></tr>");
        }
    }
    puts("</table></div>\n<h2>Exchange Online's answers</h2>\n<div class=\"scroll\">"
         "<table id=\"upstream\"><tr><th>sender</th><th>From / mailbox</th><th>status</th>"
         "<th>code</th><th>count</th><th>reply and advice</th></tr>");
    for (i = 0; i < r->nsenders; i++) {
        const struct au_sender *s = r->sorted[i];

        for (j = 0; j < s->nout; j++) {
            const struct au_outcome *o = &s->out[j];

            printf("<tr><td>");
            h(name(s));
            printf("</td><td>");
            h(pick(&s->froms, o->from));
            printf("<br>");
            h(pick(&s->mailboxes, o->mailbox));
            printf("</td><td>");
            h(o->status);
            printf("</td><td>");
            h(o->dsn);
            printf("</td><td class=\"n\">%lu</td><td>", o->count);
            h(o->reply);
            if (advice(r, s, o, adv, sizeof(adv))) {
                printf("<div class=\"advice\">");
                h(adv);
                printf("</div>");
            }
            puts("</td></tr>");
        }
    }
    puts("</table></div>\n</body></html>");
}

/* au_print - the report in the chosen format */
int au_print(struct au_report *r, const char *format)
{
    if (strcmp(format, "json") == 0)
        return print_json(r);
    if (strcmp(format, "csv") == 0)
        print_csv(r);
    else if (strcmp(format, "html") == 0)
        print_html(r);
    else
        print_table(r);
    return ferror(stdout) ? -1 : 0;
}
