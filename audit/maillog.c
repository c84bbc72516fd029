/* SPDX-License-Identifier: MIT */
/*
 * maillog - parse one line of Postfix's mail log (see maillog.h).
 * Every copy is cut to its field's size; nothing relies on a NUL.
 */
#include "maillog.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "clock.h"

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
    *t = ((clock_days_from_civil(year, mo + 1, d) * 86400) + h * 3600 + mi * 60 + sec) * 1000000;
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
        /* a failed sign-in keeps its context: the server's code alone reads like a refusal */
        if (n >= 26 && memcmp(r, "SASL authentication failed", 26) == 0)
            copy(e->reply, sizeof(e->reply), r, n);
        n -= (size_t)(said + 7 - r);
        r = said + 7;
    }
    if (!e->reply[0])
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

/* parse_msg - "QID: to=<...>, ... status=..." logged by program (prog, plen) */
static enum maillog_kind parse_msg(const char *prog, size_t plen, const char *rest, size_t rlen,
                                   struct maillog_ent *e)
{
    const char *colon, *slash = NULL;
    size_t qlen, k;

    for (k = 0; k < plen; k++)
        if (prog[k] == '/')
            slash = prog + k;
    if (slash == NULL)
        return e->kind; /* not a Postfix daemon ("postfix/smtp", "postfix-exo/smtp") */
    copy(e->service, sizeof(e->service), slash + 1, (size_t)(prog + plen - slash - 1));
    if ((colon = find(rest, rlen, ": ")) == NULL)
        return e->kind;
    qlen = (size_t)(colon - rest);
    if (!is_qid(rest, qlen))
        return e->kind;
    copy(e->queue_id, sizeof(e->queue_id), rest, qlen);
    rlen -= qlen + 2;
    rest = colon + 2;
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

/* json_str - a string member of o as (pointer, length), or NULL */
static const char *json_str(struct json_object *o, const char *key, size_t *len)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

/* parse_json - one entry of `journalctl -o json` */
static enum maillog_kind parse_json(const char *line, size_t len, struct maillog_ent *e)
{
    struct json_tokener *tok;
    struct json_object *o;
    const char *ts, *prog, *msg;
    size_t tlen, plen, mlen, i;
    int64_t us = 0;

    if (len > INT32_MAX || (tok = json_tokener_new_ex(4)) == NULL)
        return e->kind;
    o = json_tokener_parse_ex(tok, line, (int)len);
    if (o != NULL && json_tokener_get_parse_end(tok) == len &&
        json_object_is_type(o, json_type_object) &&
        (ts = json_str(o, "__REALTIME_TIMESTAMP", &tlen)) != NULL && tlen > 0 && tlen <= 18) {
        for (i = 0; i < tlen && ts[i] >= '0' && ts[i] <= '9'; i++)
            us = us * 10 + (ts[i] - '0');
        if (i == tlen && us > 0) {
            e->time_us = us;
            /* MESSAGE may be an array of bytes (not valid UTF-8): nothing Postfix writes */
            if ((prog = json_str(o, "SYSLOG_IDENTIFIER", &plen)) != NULL &&
                (msg = json_str(o, "MESSAGE", &mlen)) != NULL)
                parse_msg(prog, plen, msg, mlen, e);
        }
    }
    json_object_put(o);
    json_tokener_free(tok);
    return e->kind;
}

/* maillog_parse - parse one line */
enum maillog_kind maillog_parse(const char *line, size_t len, int year, struct maillog_ent *e)
{
    size_t i, start, pend;

    memset(e, 0, sizeof(*e));
    e->kind = MAILLOG_OTHER;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len && line[0] == '{')
        return parse_json(line, len, e);
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
    i += 2;
    return parse_msg(line + start, pend - start, line + i, len - i, e);
}

/* --- advice ---------------------------------------------------------------------------- */

#define THROTTLE                                                                                  \
    " Do not let it repeat: Exchange Online stops a mailbox whose submissions keep failing from "  \
    "sending for a while (continuous error throttling), good mail included, and support cannot "  \
    "lift it."

#define SENDAS_ADVICE                                                                              \
    "send-as refused: Exchange Online does not let %m send as %f. Grant it: "                     \
    "Add-RecipientPermission -Identity %F -Trustee %M -AccessRights SendAs (applies within an "    \
    "hour), or make sendas rewrite the sender: remove %e." THROTTLE

#define OAUTH "sign in with OAuth 2.0 instead (sendas-tokend and the XOAUTH2 plugin, doc/oauth.md)"

/*
 * The advice per code.  classes: the DSN classes it applies to (Postfix defers
 * a sign-in failure as 4.x.y by default: smtp_sasl_auth_soft_bounce = yes);
 * code: subject.detail, "7.*" for any detail; has: text the reply must contain
 * (case-insensitive), NULL for any.  First match wins: specific entries first.
 * In the text: %m / %f the mailbox / From as text, %M / %F the same as
 * PowerShell single-quoted arguments, %e the sendas.conf entry that permits %f.
 */
static const struct advice {
    const char *classes, *code, *has, *text;
} advice_table[] = {
    {"5", "7.60", NULL, SENDAS_ADVICE},
    {"5", "2.252", NULL, SENDAS_ADVICE},
    {"5", "2.0", "SendAs", SENDAS_ADVICE},
    {"5", "7.1", "send as", SENDAS_ADVICE},
    {"5", "2.0", "SubmissionQuota",
     "%m is over 10,000 recipients in 24 hours (SubmissionQuotaExceeded) and blocked from "
     "sending until its rolling 24 hours fall below it: set limit_recipients_per_day in "
     "sendas.conf (sendas-policyd holds mail back before the limit), or spread the senders over "
     "more mailboxes"},
    {"5", "2.251", NULL,
     "the mailbox %m is full: free space or raise its quota (Set-Mailbox -Identity %M "
     "-ProhibitSendQuota ...)." THROTTLE},
    {"5", "2.2", NULL,
     "the mailbox %m is full (QuotaExceeded) and cannot send: free space or raise its quota "
     "(Set-Mailbox -Identity %M -ProhibitSendQuota ...)"},
    {"5", "2.253", NULL,
     "%m has no Exchange Online licence (or it lapsed): assign one in the Microsoft 365 admin "
     "center, or choose a licensed mailbox in sendas.conf." THROTTLE},
    {"5", "2.254", NULL,
     "a message to more recipients than Exchange Online takes: set limit_recipients_per_message "
     "in sendas.conf (sendas-policyd) to the tenant's limit (500 on many tenants)." THROTTLE},
    {"5", "2.255", NULL,
     "recipients that Exchange Online refuses as invalid: fix the addresses the application "
     "sends to (look for old or mistyped ones)." THROTTLE},
    {"45", "7.139", "basic authentication is disabled",
     "basic authentication for SMTP AUTH is off for %m's tenant: " OAUTH},
    /* the reply names where SMTP AUTH is off: say that one first (a mailbox's own
     * setting wins over the tenant's, so the tenant advice offers both) */
    {"45", "7.139", "disabled for the Tenant",
     "SMTP AUTH is disabled for the whole tenant of %m, or Entra security defaults block it: "
     "Set-TransportConfig -SmtpClientAuthenticationDisabled $false (with security defaults on, "
     "turn them off or use Conditional Access), or for this mailbox alone: Set-CASMailbox "
     "-Identity %M -SmtpClientAuthenticationDisabled $false. OAuth needs SMTP AUTH enabled too"},
    {"45", "7.139", "disabled for the Mailbox",
     "SMTP AUTH is disabled for the mailbox %m: Set-CASMailbox -Identity %M "
     "-SmtpClientAuthenticationDisabled $false. OAuth needs SMTP AUTH enabled too"},
    {"45", "7.139", NULL,
     "SMTP AUTH is disabled for %m, for the tenant, or by Entra security defaults: "
     "Set-CASMailbox -Identity %M -SmtpClientAuthenticationDisabled $false (the tenant: "
     "Set-TransportConfig -SmtpClientAuthenticationDisabled $false; security defaults block SMTP "
     "AUTH). OAuth needs SMTP AUTH enabled too"},
    {"45", "7.30", NULL, "Exchange Online no longer accepts basic authentication for %m: " OAUTH},
    {"45", "7.57", NULL,
     "Postfix sent without signing in: smtp_sasl_auth_enable = yes, an entry for %m in "
     "smtp_sasl_password_maps, smtp_sender_dependent_authentication = yes"},
    {"45", "7.3", "STARTTLS",
     "Exchange Online requires STARTTLS before AUTH: smtp_tls_security_level = encrypt (or "
     "secure) for the transport to smtp.office365.com:587"},
    {"45", "7.3", NULL,
     "authentication failed for %m: fix its password in sasl_passwd (then postmap), or with "
     "OAuth check its token (sendasctl token) and the app's rights (SMTP.SendAsApp, "
     "Add-MailboxPermission -Identity %M); Postfix defers (4.7.3) or bounces (5.7.3) meanwhile"},
    {"45", "7.66", NULL,
     "Exchange Online refuses TLS 1.0 and 1.1: smtp_tls_mandatory_protocols = >=TLSv1.2 (and "
     "smtp_tls_protocols) and an OpenSSL with TLS 1.2"},
    {"4", "7.*", "mechanism",
     "Postfix's SASL client has no usable mechanism: the XOAUTH2 plugin is not in the Cyrus "
     "SASL plugin directory of the smtp process (chroot too), or smtp_sasl_mechanism_filter "
     "leaves none; mail is deferred meanwhile"},
    {"4", "7.*", "cannot authenticate to server",
     "Postfix could not sign in as %m before Exchange Online answered (mail is deferred): with "
     "OAuth the token is missing, expired or unreadable; run sendasctl token, check that "
     "sendas-tokend runs, and read the plugin's \"XOAUTH2:\" warning in the log"},
    /* TLS failures are deferred whatever the settings: the reason is in Postfix's lines
     * before this one */
    {"4", "7.*", "Cannot start TLS",
     "the TLS handshake with Exchange Online failed (mail is deferred): see Postfix's smtp "
     "lines before this one for why; a certificate that does not verify: smtp_tls_CAfile "
     "(inside the chroot too); a protocol: smtp_tls_mandatory_protocols = >=TLSv1.2"},
    {"4", "7.*", "TLS is required, but was not offered",
     "the server on port 587 offered no STARTTLS (mail is deferred): relayhost must be "
     "[smtp.office365.com]:587, and nothing in between may strip STARTTLS"},
    {"4", "7.*", "SASL authentication failed",
     "Postfix could not sign in as %m (mail is deferred, smtp_sasl_auth_soft_bounce): see the "
     "server's answer; check sasl_passwd or, with OAuth, sendasctl token"},
    {"45", "3.2", NULL,
     "more than 3 connections for %m: give the exo transport maxproc 3 in master.cf (and "
     "exo_destination_concurrency_limit = 3)"},
    {"5", "1.8", NULL,
     "%m is blocked as a spam sender: find what sent the spam, then release it under Restricted "
     "entities in the Microsoft Defender portal"},
    {"5", "7.233", NULL,
     "the tenant has reached its daily limit of mail to external recipients (tenant external "
     "recipient rate limit, set by its licences): it eases over 24 hours; send less to outside "
     "recipients or add licences"},
    {"45", "5.127", NULL, /* at AUTH: deferred as 4.5.127 with smtp_sasl_auth_soft_bounce */
     "the access token had under 10 minutes left: refresh earlier (token_refresh_margin of 900 "
     "seconds or more)"},
    {"5", "7.62", NULL,
     "High Volume Email takes no send-as: the envelope sender must be the HVE account %m (give "
     "it an empty sendas list in sendas.conf, so that every sender is rewritten)"},
    {"5", "6.241", NULL,
     "High Volume Email takes no send-as: From must be the HVE account %m (give it an empty "
     "sendas list in sendas.conf, so that every sender is rewritten)"},
    {"5", "7.64", NULL,
     "Exchange Online took this for connector relay (port 25), not SMTP AUTH: relayhost must be "
     "[smtp.office365.com]:587 with SASL"},
    {"5", "7.68", NULL,
     "Exchange Online took this for direct send (port 25), not SMTP AUTH: relayhost must be "
     "[smtp.office365.com]:587 with SASL"},
};

/* icase_find - s contains needle, ASCII case ignored */
static int icase_find(const char *s, const char *needle)
{
    size_t n = strlen(needle), i, k;

    for (i = 0; s[i]; i++) {
        for (k = 0; k < n && s[i + k]; k++) {
            char a = s[i + k], b = needle[k];

            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z')
                b = (char)(b - 'A' + 'a');
            if (a != b)
                break;
        }
        if (k == n)
            return 1;
    }
    return 0;
}

/* enhanced - the enhanced code of a reply "535 5.7.139 ..." into out, "" when it has none */
static void enhanced(const char *reply, char *out, size_t outlen)
{
    const char *said = strstr(reply, " said: ");
    size_t i = 4;

    out[0] = '\0';
    if (said)
        reply = said + 7;
    if (strlen(reply) < 9 || reply[3] != ' ' || reply[4] != reply[0])
        return;
    while (reply[i] && reply[i] != ' ' && i < 4 + 15)
        i++;
    copy(out, outlen, reply + 4, i - 4);
}

/* code_match - dsn "4.7.139" against classes "45" and code "7.139" (or "7.*") */
static int code_match(const char *dsn, const char *classes, const char *code)
{
    size_t n = strlen(code);

    if (!dsn[0] || dsn[1] != '.' || strchr(classes, dsn[0]) == NULL)
        return 0;
    if (n >= 2 && code[n - 1] == '*') /* "7.*" */
        return strncmp(dsn + 2, code, n - 1) == 0 && dsn[2 + n - 1] != '\0';
    return strcmp(dsn + 2, code) == 0;
}

struct out {
    char *p;
    size_t len, size;
};

/* put - append one byte, cut at the end */
static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->p[o->len++] = c;
}

/* put_text - append s; control characters become '?' (the advice is printed on a terminal) */
static void put_text(struct out *o, const char *s)
{
    for (; *s; s++)
        put(o, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/*
 * put_ps - s as a PowerShell single-quoted string: nothing inside is expanded
 * ($(...), `), a quote is doubled.  PowerShell takes the typographic single
 * quotes U+2018-U+201B for quotes too, so those are doubled as well.
 */
static void put_ps(struct out *o, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    put(o, '\'');
    for (; *u; u++) {
        if (*u == '\'') {
            put(o, '\'');
        } else if (u[0] == 0xe2 && u[1] == 0x80 && u[2] >= 0x98 && u[2] <= 0x9b) {
            put(o, (char)u[0]), put(o, (char)u[1]), put(o, (char)u[2]);
            put(o, (char)u[0]), put(o, (char)u[1]), put(o, (char)u[2]);
            u += 2;
            continue;
        }
        put(o, *u < 0x20 || *u == 0x7f ? '?' : (char)*u);
    }
    put(o, '\'');
}

/* maillog_advice - the fix for a code Exchange Online is known to give */
int maillog_advice(const char *dsn, const char *reply, const char *from, const char *mailbox,
                   const char *entry, char *out, size_t outlen)
{
    const char *f = from && *from ? from : "<from>", *m = mailbox && *mailbox ? mailbox : "<mailbox>";
    const struct advice *a = NULL;
    char said[16];
    struct out o = {out, 0, outlen};
    size_t i;

    if (dsn == NULL || outlen == 0)
        return 0;
    if (reply == NULL)
        reply = "";
    /* "SASL authentication failed; server x said: 535 5.7.139 ..." logged as dsn=4.7.0:
     * the server's own code says more */
    enhanced(reply, said, sizeof(said));
    for (i = 0; i < sizeof(advice_table) / sizeof(advice_table[0]) && a == NULL; i++) {
        const struct advice *t = &advice_table[i];

        if ((code_match(dsn, t->classes, t->code) ||
             (said[0] && dsn[0] && strchr(t->classes, dsn[0]) &&
              code_match(said, "45", t->code))) &&
            (t->has == NULL || icase_find(reply, t->has)))
            a = t;
    }
    if (a == NULL)
        return 0;
    for (const char *t = a->text; *t; t++) {
        if (*t != '%' || t[1] == '\0') {
            put(&o, *t);
            continue;
        }
        switch (*++t) {
        case 'm': put_text(&o, m); break;
        case 'f': put_text(&o, f); break;
        case 'M': put_ps(&o, m); break;
        case 'F': put_ps(&o, f); break;
        case 'e':
            if (entry && *entry) {
                put_text(&o, entry);
            } else {
                /* sendas.conf not read: the entry may be f or its @domain */
                put_text(&o, "the entry that permits ");
                put_text(&o, f);
                put_text(&o, " (the address or its @domain) from the sendas list of mailbox ");
                put_text(&o, m);
                put_text(&o, " in sendas.conf");
            }
            break;
        default: put(&o, *t);
        }
    }
    out[o.len] = '\0';
    return 1;
}
