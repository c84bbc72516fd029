/* SPDX-License-Identifier: MIT */
/*
 * maillog - parse one line of Postfix's mail log (see maillog.h).
 * Every copy is cut to its field's size; nothing relies on a NUL.
 */
#include "maillog.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"

/* copy - n bytes of s into out (outlen), cut, NUL-terminated */
static void copy(char *out, size_t outlen, const char *s, size_t n)
{
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* find - first occurrence of the NUL-terminated needle in (s, len), or NULL */
static const char *find(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle), i;

    if (n > len)
        return NULL;
    for (i = 0; i + n <= len; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* num - decimal digits at s[*i] (at most max of them); -1 when none */
static long num(const char *s, size_t len, size_t *i, int max)
{
    long v = 0;
    int n = 0;

    while (*i < len && n < max && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[(*i)++] - '0');
        n++;
    }
    return n ? v : -1;
}

/* days_from_civil - days since 1970-01-01 */
static int64_t days_from_civil(long y, long m, long d)
{
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

/* parse_time - the leading timestamp; returns the offset after it and its space, or 0 */
static size_t parse_time(const char *s, size_t len, int year, int64_t *t)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    size_t i = 0, end;
    long mo, d, h, mi, sec;

    if (len >= 4 && s[0] >= '0' && s[0] <= '9') {
        for (end = 0; end < len && s[end] != ' '; end++)
            ;
        if (end == len || audit_time_parse(s, end, t) < 0)
            return 0;
        return end + 1;
    }
    if (len < 16)
        return 0;
    for (mo = 0; mo < 12; mo++)
        if (memcmp(s, months + 3 * mo, 3) == 0)
            break;
    if (mo == 12 || s[3] != ' ')
        return 0;
    i = 4;
    if (s[i] == ' ')
        i++;
    if ((d = num(s, len, &i, 2)) < 1 || d > 31 || i >= len || s[i++] != ' ' ||
        (h = num(s, len, &i, 2)) < 0 || h > 23 || i >= len || s[i++] != ':' ||
        (mi = num(s, len, &i, 2)) < 0 || mi > 59 || i >= len || s[i++] != ':' ||
        (sec = num(s, len, &i, 2)) < 0 || sec > 60)
        return 0;
    if (i < len && s[i] == '.') /* high-precision syslog: "05:12:01.123456" */
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ;
    if (i >= len || s[i] != ' ')
        return 0;
    *t = ((days_from_civil(year, mo + 1, d) * 86400) + h * 3600 + mi * 60 + sec) * 1000000;
    return i + 1;
}

/* is_qid - a Postfix queue id: short (hex) or long (base 52 digits) */
static int is_qid(const char *s, size_t n)
{
    size_t i;

    if (n < 5 || n >= MAILLOG_QID)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

/* attr - the value of "name=" in s up to ", " (or the end); 0 when absent */
static int attr(const char *s, size_t len, const char *name, char *out, size_t outlen)
{
    const char *p = s, *v, *e;
    size_t nl = strlen(name);

    out[0] = '\0';
    for (;;) {
        p = find(p, len - (size_t)(p - s), name);
        if (p == NULL)
            return 0;
        if (p == s || p[-1] == ' ')
            break;
        p += nl;
    }
    v = p + nl;
    e = find(v, len - (size_t)(v - s), ", ");
    if (e == NULL)
        e = s + len;
    if (strcmp(name, "status=") == 0) { /* "status=bounced (explanation)" */
        const char *sp = memchr(v, ' ', (size_t)(e - v));

        if (sp)
            e = sp;
    }
    if ((size_t)(e - v) >= 2 && v[0] == '<' && e[-1] == '>') {
        v++;
        e--;
    }
    copy(out, outlen, v, (size_t)(e - v));
    return 1;
}

/* parse_reply - what the remote server said, from "status=X (explanation)" */
static void parse_reply(const char *s, size_t len, struct maillog_ent *e)
{
    const char *st = find(s, len, " status="), *open, *said, *r;
    size_t n, i;

    if (st == NULL || (open = memchr(st, '(', len - (size_t)(st - s))) == NULL)
        return;
    r = open + 1;
    n = len - (size_t)(r - s);
    if (n && r[n - 1] == ')')
        n--;
    if ((said = find(r, n, " said: ")) != NULL) {
        n -= (size_t)(said + 7 - r);
        r = said + 7;
    }
    copy(e->reply, sizeof(e->reply), r, n);
    if (n >= 4 && r[0] >= '2' && r[0] <= '5' && r[1] >= '0' && r[1] <= '9' && r[2] >= '0' &&
        r[2] <= '9' && (r[3] == ' ' || r[3] == '-')) {
        copy(e->code, sizeof(e->code), r, 3);
        if (!e->dsn[0]) { /* an old log without dsn=: the enhanced code after the reply code */
            for (i = 4; i < n && i < 16 && r[i] != ' '; i++)
                ;
            copy(e->dsn, sizeof(e->dsn), r + 4, i - 4);
        }
    }
}

/* maillog_parse - parse one line */
enum maillog_kind maillog_parse(const char *line, size_t len, int year, struct maillog_ent *e)
{
    size_t i, start, pend, qlen;
    const char *rest, *colon, *slash;
    size_t rlen;

    memset(e, 0, sizeof(*e));
    e->kind = MAILLOG_OTHER;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if ((i = parse_time(line, len, year, &e->time_us)) == 0)
        return e->kind;
    while (i < len && line[i] != ' ') /* host */
        i++;
    if (++i >= len)
        return e->kind;
    start = i; /* program[pid]: */
    while (i < len && line[i] != ' ' && line[i] != '[' && line[i] != ':')
        i++;
    pend = i;
    if (i < len && line[i] == '[')
        while (i < len && line[i] != ']')
            i++;
    if (i < len && line[i] == ']')
        i++;
    if (i + 1 >= len || line[i] != ':' || line[i + 1] != ' ')
        return e->kind;
    slash = NULL;
    for (size_t k = start; k < pend; k++)
        if (line[k] == '/')
            slash = line + k;
    if (slash == NULL)
        return e->kind; /* not a Postfix daemon ("postfix/smtp", "postfix-exo/smtp") */
    copy(e->service, sizeof(e->service), slash + 1, (size_t)(line + pend - slash - 1));
    i += 2;
    rest = line + i;
    rlen = len - i;
    if ((colon = find(rest, rlen, ": ")) == NULL)
        return e->kind;
    qlen = (size_t)(colon - rest);
    if (!is_qid(rest, qlen))
        return e->kind;
    copy(e->queue_id, sizeof(e->queue_id), rest, qlen);
    rest = colon + 2;
    rlen = len - (size_t)(rest - line);
    if (rlen == 7 && memcmp(rest, "removed", 7) == 0)
        return e->kind = MAILLOG_REMOVED;
    if (rlen < 4 || memcmp(rest, "to=<", 4) != 0 ||
        !attr(rest, rlen, "status=", e->status, sizeof(e->status)) || !e->status[0])
        return e->kind;
    attr(rest, rlen, "to=", e->to, sizeof(e->to));
    attr(rest, rlen, "relay=", e->relay, sizeof(e->relay));
    attr(rest, rlen, "dsn=", e->dsn, sizeof(e->dsn));
    parse_reply(rest, rlen, e);
    return e->kind = MAILLOG_STATUS;
}

/* maillog_advice - the fix for a refusal code Exchange Online is known to give */
int maillog_advice(const char *dsn, const char *reply, const char *from, const char *mailbox,
                   char *out, size_t outlen)
{
    const char *f = from && *from ? from : "<from>", *m = mailbox && *mailbox ? mailbox : "<mailbox>";
    int n = -1;

    if (reply == NULL)
        reply = "";
    if (dsn == NULL)
        return 0;
    if (strcmp(dsn, "5.7.60") == 0 || strcmp(dsn, "5.2.252") == 0 ||
        (strcmp(dsn, "5.2.0") == 0 && find(reply, strlen(reply), "SendAs") != NULL) ||
        (strcmp(dsn, "5.7.1") == 0 && find(reply, strlen(reply), "send as") != NULL))
        n = snprintf(out, outlen,
                     "send-as refused: grant it with Add-RecipientPermission -Identity %s "
                     "-Trustee %s -AccessRights SendAs, or take %s off the sendas.conf line "
                     "\"mailbox %s sendas %s\" so that sendas rewrites it",
                     f, m, f, m, f);
    else if (strcmp(dsn, "5.2.0") == 0 && find(reply, strlen(reply), "SubmissionQuota") != NULL)
        n = snprintf(out, outlen,
                     "%s is over 10,000 recipients in 24 hours and blocked from sending: set "
                     "limit_recipients_per_day in sendas.conf (sendas-policyd) or spread the "
                     "senders over more mailboxes",
                     m);
    else if (strcmp(dsn, "5.7.139") == 0)
        n = snprintf(out, outlen,
                     "SMTP AUTH is disabled for %s (or basic authentication is off): "
                     "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false, and "
                     "sign in with OAuth (XOAUTH2) once basic authentication is gone",
                     m, m);
    else if (strcmp(dsn, "5.7.57") == 0)
        n = snprintf(out, outlen,
                     "Postfix sent without signing in: smtp_sasl_auth_enable = yes, an entry for %s "
                     "in smtp_sasl_password_maps, smtp_sender_dependent_authentication = yes",
                     m);
    else if (strcmp(dsn, "4.3.2") == 0)
        n = snprintf(out, outlen,
                     "more than 3 connections for %s: give the exo transport maxproc 3 in "
                     "master.cf (and exo_destination_concurrency_limit = 3)",
                     m);
    else if (strcmp(dsn, "5.7.3") == 0)
        n = snprintf(out, outlen,
                     "authentication failed for %s: fix its password or token in sasl_passwd "
                     "(then postmap), and keep smtp_tls_security_level = secure (STARTTLS is "
                     "required)",
                     m);
    else if (strcmp(dsn, "5.1.8") == 0)
        n = snprintf(out, outlen,
                     "%s is blocked as a spam sender: find what sent the spam, then release it "
                     "under Restricted entities in the Microsoft Defender portal",
                     m);
    return n >= 0;
}
