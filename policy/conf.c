/* SPDX-License-Identifier: MIT */
/*
 * conf - sendas.conf parser and validator (see conf.h and sendas.conf(5)).
 *
 * The parser works on (buffer, length), joins continuation lines, splits
 * words on white space and checks every directive completely before the
 * snapshot is handed out, so a running daemon never sees half a config.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf_int.h"
#include "sockspec.h"

/* Each physical line adds a space and at least one word to the logical line. */
#define MAX_SEGMENTS (CONF_MAX_LINE / 2 + 1)
#define EDIT_MAX 320 /* longest string edit_distance compares: an address is at most 318 */

/* Programs that read a setting (conf_setting's progs), for the manual and the checks. */
#define P_MILTER CONF_FOR_MILTER
#define P_POLICYD CONF_FOR_POLICYD
#define P_TOKEND CONF_FOR_TOKEND
#define P_DAEMONS (P_MILTER | P_POLICYD | P_TOKEND)

/* How a setting's value is parsed; each type's parse, default and free live in set_value,
 * defaults and conf_free, all driven by the table below. */
enum set_type {
    T_DIRECTIVE, /* structured: its own parser gets the whole directive */
    T_BOOL,      /* int: yes/no */
    T_STRING,    /* char *, after the entry's check */
    T_NONE_STR,  /* char *, "none" (any case) makes it NULL */
    T_DOMAIN,    /* char *, a valid domain, lower-cased */
    T_NUMBER,    /* unsigned of the field's size, decimal, min..max */
    T_OCTAL,     /* unsigned, octal, at most max */
    T_CHOICE,    /* int or enum: the index of the word in choices */
};

/* How a number out of range is explained. */
enum num_hint { H_NUMBER, H_SECONDS, H_LIMIT };

struct parse;
struct setting {
    const char *name;
    enum set_type type;
    size_t off, size;     /* the field in struct conf */
    const char *def_str;  /* T_STRING, T_NONE_STR: strdup'd before the file is read */
    unsigned long long def, min, max; /* numbers, flags and choices */
    int (*check)(struct parse *p, const char *k, const char *v); /* < 0: refused */
    int (*directive)(struct parse *p, char **av, int ac);        /* T_DIRECTIVE */
    const char *const *choices; /* T_CHOICE, NULL-terminated */
    enum num_hint hint;
    const char *unit;     /* H_LIMIT: what is counted */
    unsigned progs;       /* CONF_FOR_* */
};

static int d_mailbox(struct parse *p, char **av, int ac);
static int d_limits(struct parse *p, char **av, int ac);
static int is_limit_word(const char *w);
static int mailbox_limit_pair(struct parse *p, struct conf_mailbox *mb, char **av, int ac, int i);
static int d_oauth_mailboxes(struct parse *p, char **av, int ac);
static int check_socket(struct parse *p, const char *k, const char *v);
static int check_socket_mode(struct parse *p, const char *k, const char *v);
static int check_trace_header(struct parse *p, const char *k, const char *v);
static int check_word(struct parse *p, const char *k, const char *v);
static int check_path(struct parse *p, const char *k, const char *v);
static int check_endpoint(struct parse *p, const char *k, const char *v);
static int check_tenant(struct parse *p, const char *k, const char *v);
static int check_redis_address(struct parse *p, const char *k, const char *v);

#define FIELD(f) offsetof(struct conf, f), sizeof(((struct conf *)0)->f)
#define DIRECTIVE(n, fn, pr) {.name = n, .type = T_DIRECTIVE, .directive = fn, .progs = pr}
#define BOOL(f, d, pr) {.name = #f, .type = T_BOOL, FIELD(f), .def = d, .progs = pr}
#define STRING(f, d, chk, pr) {.name = #f, .type = T_STRING, FIELD(f), .def_str = d, .check = chk, .progs = pr}
#define NUMBER(f, d, lo, hi, h, u, pr)                                                            \
    {.name = #f, .type = T_NUMBER, FIELD(f), .def = d, .min = lo, .max = hi, .hint = h,            \
     .unit = u, .progs = pr}
#define CHOICE(f, words, pr) {.name = #f, .type = T_CHOICE, FIELD(f), .choices = words, .progs = pr}

static const char *const sender_header_words[] = {"remove", "rewrite", NULL}; /* enum sender_mode */
static const char *const no_route_words[] = {"reject", "tempfail", "accept", NULL}; /* enum noroute_action */
static const char *const log_level_words[] = {"info", "debug", NULL};
static const char *const intake_words[] = {"auto", "yes", "no", NULL}; /* enum conf_intake */
static const char *const store_words[] = {"sqlite", "redis", NULL}; /* enum conf_store */
/* T_BOOL and T_CHOICE store an int */
_Static_assert(sizeof(enum sender_mode) == sizeof(int) && sizeof(enum noroute_action) == sizeof(int) &&
                   sizeof(enum conf_intake) == sizeof(int),
               "choices are stored as int");

/* Every directive: the one place a setting is named, parsed, defaulted and freed (the
 * manual's list, test_sendasctl_conf.py, reads the names from here). */
static const struct setting settings[] = {
    DIRECTIVE("mailbox", d_mailbox, P_DAEMONS),
    DIRECTIVE("route", conf_d_route, P_MILTER | P_POLICYD),
    CHOICE(no_route, no_route_words, P_MILTER | P_POLICYD),
    BOOL(keep_display_name, 1, P_MILTER),
    BOOL(add_reply_to, 1, P_MILTER),
    {.name = "trace_header", .type = T_NONE_STR, FIELD(trace_header), .def_str = "X-Original-From",
     .check = check_trace_header, .progs = P_MILTER},
    BOOL(rewrite_envelope, 1, P_MILTER),
    CHOICE(sender_header, sender_header_words, P_MILTER),
    /* its default is the host's name: see defaults */
    {.name = "qualify_domain", .type = T_DOMAIN, FIELD(qualify_domain), .progs = P_MILTER},
    BOOL(remove_dkim_from, 0, P_MILTER),
    NUMBER(max_header_bytes, 64 * 1024, 1024, 1024 * 1024, H_NUMBER, NULL, P_MILTER),
    STRING(milter_socket, "unix:/run/sendas/milter.sock", check_socket, P_MILTER),
    STRING(policy_socket, "unix:/run/sendas/policy.sock", check_socket, P_POLICYD),
    {.name = "socket_mode", .type = T_OCTAL, FIELD(socket_mode), .def = 0660, .max = 0777,
     .check = check_socket_mode, .progs = P_MILTER | P_POLICYD},
    STRING(socket_group, "postfix", NULL, P_MILTER | P_POLICYD),
    STRING(user, NULL, NULL, P_DAEMONS),
    CHOICE(log_level, log_level_words, P_DAEMONS),
    STRING(audit_log, NULL, NULL, P_MILTER | P_POLICYD),
    STRING(state_dir, "/var/lib/sendas", NULL, P_POLICYD),
    NUMBER(limit_messages_per_minute, 30, 0, 1000000, H_LIMIT, "messages per minute per mailbox",
           P_POLICYD),
    NUMBER(limit_recipients_per_day, 10000, 0, 100000000, H_LIMIT,
           "recipients per 24 hours per mailbox", P_POLICYD),
    NUMBER(limit_recipients_per_message, 500, 0, 1000000, H_LIMIT, "recipients of one message",
           P_POLICYD),
    NUMBER(limit_message_size, 35ULL * 1024 * 1024, 0, 1ULL << 40, H_LIMIT, "bytes", P_POLICYD),
    NUMBER(limit_headroom, 90, 1, 100, H_LIMIT, "percent", P_POLICYD),
    /* per-mailbox limits and pacing (issue 10): read by sendasctl postfix-config too */
    DIRECTIVE("limits", d_limits, P_POLICYD),
    BOOL(pacing, 0, P_POLICYD),
    CHOICE(intake_rate_limit, intake_words, P_POLICYD),
    NUMBER(relays, 1, 1, 64, H_NUMBER, NULL, P_POLICYD),
    STRING(oauth_tenant, NULL, check_tenant, P_TOKEND),
    STRING(oauth_client_id, NULL, check_word, P_TOKEND),
    STRING(oauth_client_secret_file, NULL, check_path, P_TOKEND),
    STRING(oauth_certificate, NULL, check_path, P_TOKEND),
    STRING(oauth_private_key, NULL, check_path, P_TOKEND),
    STRING(oauth_token_endpoint, NULL, check_endpoint, P_TOKEND),
    STRING(oauth_scope, "https://outlook.office365.com/.default", check_word, P_TOKEND),
    STRING(oauth_ca_file, NULL, check_path, P_TOKEND),
    DIRECTIVE("oauth_mailboxes", d_oauth_mailboxes, P_TOKEND),
    STRING(token_dir, "/var/spool/postfix/sendas/tokens", check_path, P_TOKEND),
    STRING(token_group, "postfix", check_word, P_TOKEND),
    NUMBER(token_refresh_margin, 900, 1, 86400, H_SECONDS, NULL, P_TOKEND),
    NUMBER(token_retry_min, 5, 1, 3600, H_SECONDS, NULL, P_TOKEND),
    NUMBER(token_retry_max, 300, 1, 86400, H_SECONDS, NULL, P_TOKEND),
    /* above Postfix's smtpd_timeout (300 s), the longest a healthy session is silent */
    NUMBER(idle_timeout, 360, 1, 86400, H_SECONDS, NULL, P_MILTER | P_POLICYD),
    /* the counters' store (issue 10: several relays, one Redis) */
    CHOICE(store, store_words, P_POLICYD),
    STRING(redis_address, "127.0.0.1:6379", check_redis_address, P_POLICYD),
    NUMBER(redis_database, 0, 0, 100000, H_NUMBER, NULL, P_POLICYD),
    STRING(redis_password_file, NULL, check_path, P_POLICYD),
    NUMBER(redis_timeout, 200, 10, 10000, H_NUMBER, NULL, P_POLICYD),
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* conf_keyword - the name of directive i, NULL past the last */
const char *conf_keyword(size_t i)
{
    return i < NSETTINGS ? settings[i].name : NULL;
}

/* conf_keyword_progs - which programs read directive k (CONF_FOR_*), 0 when none is called k */
unsigned conf_keyword_progs(const char *k)
{
    size_t i;

    for (i = 0; i < NSETTINGS; i++)
        if (strcmp(k, settings[i].name) == 0)
            return settings[i].progs;
    return 0;
}

/* vplace - "FILE:LINE: message" (or "FILE: message" about the whole file) into out; a
 * control character from the file becomes '?', so no message can drive a terminal */
__attribute__((format(printf, 4, 0))) static void vplace(const struct parse *p, char *out,
                                                          size_t outlen, const char *fmt,
                                                          va_list ap)
{
    char msg[CONF_ERRLEN];
    char *q;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    for (q = msg; *q; q++)
        if ((unsigned char)*q < ' ' || *q == 0x7f)
            *q = '?';
    if (p->line > 0)
        snprintf(out, outlen, "%s:%d: %s", p->name, p->line, msg);
    else
        snprintf(out, outlen, "%s: %s", p->name, msg);
}

/* conf_perr - format an error naming file and line; returns -1 for convenience */
int conf_perr(struct parse *p, const char *fmt, ...)
{
    va_list ap;

    if (p->err && p->errlen) {
        va_start(ap, fmt);
        vplace(p, p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* conf_pwarn - keep a warning naming file and line; past CONF_MAX_WARNINGS only count it */
void conf_pwarn(struct parse *p, const char *fmt, ...)
{
    struct conf *c = p->c;
    char msg[CONF_ERRLEN], **nv;
    va_list ap;

    if (c->nwarnings >= CONF_MAX_WARNINGS) {
        p->warnings_dropped++;
        return;
    }
    va_start(ap, fmt);
    vplace(p, msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* a warning lost to a memory shortage costs nothing but the warning */
    if ((nv = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*nv))) == NULL)
        return;
    c->warnings = nv;
    if ((c->warnings[c->nwarnings] = strdup(msg)) != NULL)
        c->nwarnings++;
}

/* edit_distance - optimal string alignment distance (a swap of neighbours counts
 * one), ignoring ASCII case; max + 1 for anything further than max */
static size_t edit_distance(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a), lb = strlen(b), i, j, best, prevbest = 0, r2 = 0, r1 = 1, r0 = 2, t;
    unsigned short rows[3][EDIT_MAX + 1], v;

    if (la > EDIT_MAX || lb > EDIT_MAX || la > lb + max || lb > la + max)
        return max + 1;
    for (j = 0; j <= lb; j++)
        rows[r1][j] = (unsigned short)j;
    for (i = 1; i <= la; i++) {
        int ai = tolower((unsigned char)a[i - 1]);

        rows[r0][0] = (unsigned short)i;
        best = i;
        for (j = 1; j <= lb; j++) {
            int bj = tolower((unsigned char)b[j - 1]);

            v = (unsigned short)(rows[r1][j - 1] + (ai != bj));
            if (rows[r1][j] + 1 < v)
                v = (unsigned short)(rows[r1][j] + 1);
            if (rows[r0][j - 1] + 1 < v)
                v = (unsigned short)(rows[r0][j - 1] + 1);
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == bj && rows[r2][j - 2] + 1 < v)
                v = (unsigned short)(rows[r2][j - 2] + 1);
            rows[r0][j] = v;
            if (v < best)
                best = v;
        }
        /* a later cell is one more than a cell of this row, or (a swap) of the one before */
        if (best > max && prevbest >= max)
            return max + 1;
        prevbest = best;
        t = r2; /* rows: r2 two back, r1 the previous, r0 the one to fill */
        r2 = r1;
        r1 = r0;
        r0 = t;
    }
    return rows[r1][lb] > max ? max + 1 : rows[r1][lb];
}

/* near_enough - how many edits still make a likely typo of a word this long */
static size_t near_enough(const char *word)
{
    size_t n = strlen(word) / 4;

    return n < 1 ? 1 : n > 3 ? 3 : n;
}

/* conf_nearest - the candidate closest to word within near_enough (the first of equals), or
 * NULL; cand(i, arg) gives the i-th candidate, NULL after the last */
const char *conf_nearest(const char *word, const char *(*cand)(size_t, const void *),
                         const void *arg)
{
    size_t max = near_enough(word), i, d, bestd = 0;
    const char *best = NULL, *s;

    for (i = 0; (s = cand(i, arg)) != NULL; i++) {
        d = edit_distance(word, s, max);
        if (d <= max && (best == NULL || d < bestd)) {
            best = s;
            bestd = d;
        }
    }
    return best;
}

/* keyword_at - nearest's view of the settings table */
static const char *keyword_at(size_t i, const void *arg __attribute__((unused)))
{
    return conf_keyword(i);
}

/* conf_mailbox_at - nearest's view of the declared mailboxes */
const char *conf_mailbox_at(size_t i, const void *arg)
{
    const struct conf *c = arg;

    return i < c->nmailboxes ? c->mailboxes[i].address : NULL;
}

/* known_keyword - is k a directive? */
static int known_keyword(const char *k)
{
    return conf_keyword_progs(k) != 0;
}

/* unknown_directive - the error for k, with the nearest known directive */
static int unknown_directive(struct parse *p, const char *k)
{
    char shown[68], key[64];
    const char *best, *eq;
    size_t i;

    /* bytes a terminal would not show plainly are shown as '?' */
    for (i = 0; k[i] && i < 60; i++)
        shown[i] = (unsigned char)k[i] > ' ' && (unsigned char)k[i] < 0x7f ? k[i] : '?';
    snprintf(shown + i, sizeof(shown) - i, "%s", k[i] ? "..." : "");
    if (strncmp(k, "\xef\xbb\xbf", 3) == 0)
        return conf_perr(p, "unknown directive \"%s\" (a UTF-8 byte-order mark?)", shown);
    /* pasted from a web page or a document: U+00A0 looks like a space and is none */
    if (strstr(k, "\xc2\xa0"))
        return conf_perr(p,
                         "unknown directive \"%s\" (a non-breaking space? separate words with "
                         "spaces or tabs)",
                         shown);
    /* key=value habit (main.cf): the word before '=' is a directive */
    if ((eq = strchr(k, '=')) != NULL && (size_t)(eq - k) < sizeof(key)) {
        snprintf(key, sizeof(key), "%.*s", (int)(eq - k), k);
        if (known_keyword(key))
            return conf_perr(p, "unknown directive \"%s\" (write \"%s VALUE\": a space, not =)",
                             shown, key);
    }
    if ((best = conf_nearest(k, keyword_at, NULL)) != NULL)
        return conf_perr(p, "unknown directive \"%s\" (did you mean \"%s\"?)", shown, best);
    return conf_perr(p, "unknown directive \"%s\"", shown);
}

/* conf_at_word - errors from here on are about word i of the directive */
void conf_at_word(struct parse *p, int i)
{
    if (p->av_line)
        p->line = p->av_line[i];
}

/* xstrdup_lower - duplicate s, lower-casing ASCII */
static char *xstrdup_lower(const char *s)
{
    char *d = strdup(s), *q;

    if (d)
        for (q = d; *q; q++)
            *q = (char)tolower((unsigned char)*q);
    return d;
}

/* conf_yesno - parse a boolean word */
int conf_yesno(const char *s)
{
    static const char *yes[] = {"yes", "true", "on", "1"};
    static const char *no[] = {"no", "false", "off", "0"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* valid_domain - a plausible DNS name: letters, digits, '-', '.', no empty labels */
static int valid_domain(const char *d)
{
    size_t label = 0;

    if (*d == '\0' || strlen(d) > 253)
        return 0;
    for (; *d; d++) {
        unsigned char ch = (unsigned char)*d;

        if (ch == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/* valid_local - a plausible local part: no white space, quotes or angle brackets */
static int valid_local(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 64)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch <= ' ' || ch == 0x7f || strchr("\"<>()[]\\,;:@", ch))
            return 0;
    }
    return 1;
}

/* conf_typographic_quote - word holds a quote a word processor makes (U+2018-U+201F, U+00AB,
 * U+00BB): an address pasted from a document, quotes and all */
int conf_typographic_quote(const char *word)
{
    const unsigned char *u = (const unsigned char *)word;

    for (; *u; u++)
        if ((u[0] == 0xe2 && u[1] == 0x80 && u[2] >= 0x98 && u[2] <= 0x9f) ||
            (u[0] == 0xc2 && (u[1] == 0xab || u[1] == 0xbb)))
            return 1;
    return 0;
}

/* conf_parse_pattern - "user@domain" or "@domain"; allow_domain permits the latter */
int conf_parse_pattern(struct parse *p, const char *word, int allow_domain,
                       struct conf_pattern *out, const char *what)
{
    const char *at = strrchr(word, '@');

    out->local = out->domain = NULL;
    /* UTF-8 local parts are allowed (SMTPUTF8), so these would pass as one, never matching */
    if (conf_typographic_quote(word))
        return conf_perr(p,
                         "%s \"%s\": typographic quotes (pasted from a document?): write the "
                         "address without quotes",
                         what, word);
    if (at == NULL)
        return conf_perr(p, "%s \"%s\": expected user@domain%s", what, word,
                         allow_domain ? " or @domain" : "");
    if (at == word && !allow_domain)
        return conf_perr(p, "%s \"%s\": a whole address is needed here, not a domain", what, word);
    if (at != word && !valid_local(word, (size_t)(at - word)))
        return conf_perr(p, "%s \"%s\": invalid local part", what, word);
    if (!valid_domain(at + 1))
        return conf_perr(p, "%s \"%s\": invalid domain", what, word);
    if ((out->domain = xstrdup_lower(at + 1)) == NULL)
        return conf_perr(p, "out of memory");
    if (at != word && (out->local = strndup(word, (size_t)(at - word))) == NULL) {
        free(out->domain);
        out->domain = NULL;
        return conf_perr(p, "out of memory");
    }
    /* a legal local part, but meant as a glob: it matches that one address only */
    if (at != word && memchr(word, '*', (size_t)(at - word)))
        conf_pwarn(p,
                   "%s \"%s\": '*' is no wildcard: this is the one address %s (every address of "
                   "%s: @%s)",
                   what, word, word, out->domain, out->domain);
    return 0;
}

/* conf_pattern_match - non-zero when local@domain matches the pattern */
int conf_pattern_match(const struct conf_pattern *pat, const char *local, const char *domain)
{
    if (domain == NULL || pat->domain == NULL || strcasecmp(pat->domain, domain) != 0)
        return 0;
    return pat->local == NULL || (local && strcasecmp(pat->local, local) == 0);
}

/* conf_mailbox_permits - may mailbox mb send as local@domain? */
int conf_mailbox_permits(const struct conf_mailbox *mb, const char *local, const char *domain)
{
    size_t i;

    if (domain == NULL || local == NULL)
        return 0;
    if (strcasecmp(mb->local, local) == 0 && strcasecmp(mb->domain, domain) == 0)
        return 1;
    for (i = 0; i < mb->nsendas; i++)
        if (conf_pattern_match(&mb->sendas[i], local, domain))
            return 1;
    return 0;
}

/* conf_find_mailbox - the declared mailbox with this address */
const struct conf_mailbox *conf_find_mailbox(const struct conf *c, const char *local,
                                             const char *domain)
{
    size_t i;

    if (local == NULL || domain == NULL)
        return NULL;
    for (i = 0; i < c->nmailboxes; i++)
        if (strcasecmp(c->mailboxes[i].local, local) == 0 &&
            strcasecmp(c->mailboxes[i].domain, domain) == 0)
            return &c->mailboxes[i];
    return NULL;
}

/* conf_mailbox_limits - the mailbox's own limits over the global ones */
void conf_mailbox_limits(const struct conf *c, const struct conf_mailbox *mb,
                         struct conf_limits *out)
{
    unsigned set = mb ? mb->limits_set : 0;

    out->messages_per_minute = set & CONF_LIM_MPM ? mb->limits.messages_per_minute
                                                  : c->limit_messages_per_minute;
    out->recipients_per_day = set & CONF_LIM_RPD ? mb->limits.recipients_per_day
                                                 : c->limit_recipients_per_day;
    out->recipients_per_message = set & CONF_LIM_RPM ? mb->limits.recipients_per_message
                                                     : c->limit_recipients_per_message;
    out->message_size = set & CONF_LIM_SIZE ? mb->limits.message_size : c->limit_message_size;
    out->headroom = set & CONF_LIM_HEADROOM ? mb->limits.headroom : c->limit_headroom;
}

/* d_mailbox - mailbox ADDRESS [sendas PATTERN ...] [limit_NAME VALUE ...]: limit_ words
 * have no '@', so they can stand among the patterns; "sendas" comes at most once */
static int d_mailbox(struct parse *p, char **av, int ac)
{
    struct conf *c = p->c;
    struct conf_mailbox *mb, *nv;
    struct conf_pattern self;
    int i, line, in_sendas = 0;

    if (ac < 2)
        return conf_perr(
            p, "mailbox: an address is required (mailbox ADDRESS [sendas ADDRESS|@DOMAIN ...])");
    if (c->nmailboxes >= CONF_MAX_MAILBOXES)
        return conf_perr(p, "too many mailboxes (at most %d)", CONF_MAX_MAILBOXES);
    line = p->line;
    conf_at_word(p, 1);
    if (conf_parse_pattern(p, av[1], 0, &self, "mailbox") < 0)
        return -1;
    if (conf_find_mailbox(c, self.local, self.domain)) {
        free(self.local);
        free(self.domain);
        return conf_perr(
            p,
            "mailbox %s is declared twice (continue a long line with leading white space instead)",
            av[1]);
    }
    nv = realloc(c->mailboxes, (c->nmailboxes + 1) * sizeof(*nv));
    if (nv == NULL) {
        free(self.local);
        free(self.domain);
        return conf_perr(p, "out of memory");
    }
    c->mailboxes = nv;
    mb = &c->mailboxes[c->nmailboxes++];
    memset(mb, 0, sizeof(*mb));
    mb->local = self.local;
    mb->domain = self.domain;
    mb->line = line;
    if ((mb->address = malloc(strlen(self.local) + strlen(self.domain) + 2)) == NULL)
        return conf_perr(p, "out of memory");
    snprintf(mb->address, strlen(self.local) + strlen(self.domain) + 2, "%s@%s", self.local,
             self.domain);
    if (ac > 2 && (mb->sendas = calloc((size_t)(ac - 2), sizeof(*mb->sendas))) == NULL)
        return conf_perr(p, "out of memory");
    for (i = 2; i < ac; i++) {
        conf_at_word(p, i);
        if (is_limit_word(av[i])) {
            if (mailbox_limit_pair(p, mb, av, ac, i++) < 0)
                return -1;
        } else if (!in_sendas && strcmp(av[i], "sendas") == 0) {
            in_sendas = i;
        } else if (!in_sendas) {
            return conf_perr(p,
                             "mailbox %s: expected \"sendas\" followed by addresses or @domains, "
                             "or limit_NAME VALUE, after the address",
                             av[1]);
        } else {
            if (conf_parse_pattern(p, av[i], 1, &mb->sendas[mb->nsendas], "sendas") < 0)
                return -1;
            mb->nsendas++;
        }
    }
    if (in_sendas && mb->nsendas == 0) {
        conf_at_word(p, in_sendas);
        return conf_perr(p, "mailbox %s: expected \"sendas\" followed by addresses or @domains",
                         av[1]);
    }
    return 0;
}

/* set_string - replace a string setting */
static int set_string(struct parse *p, char **slot, const char *v)
{
    char *d = strdup(v);

    if (d == NULL)
        return conf_perr(p, "out of memory");
    free(*slot);
    *slot = d;
    return 0;
}

/* d_oauth_mailboxes - "oauth_mailboxes ADDRESS..." (which mailboxes sign in with OAuth) */
static int d_oauth_mailboxes(struct parse *p, char **av, int ac)
{
    struct conf *c = p->c;
    int i;

    if (ac < 2)
        return conf_perr(p, "oauth_mailboxes: expected one or more mailbox addresses");
    if (c->oauth_mailboxes)
        return conf_perr(p, "oauth_mailboxes given twice");
    if ((c->oauth_mailboxes = calloc((size_t)ac, sizeof(char *))) == NULL ||
        (p->oauth_lines = calloc((size_t)ac, sizeof(int))) == NULL)
        return conf_perr(p, "out of memory");
    for (i = 1; i < ac; i++) {
        conf_at_word(p, i);
        p->oauth_lines[i - 1] = p->line;
        if (!strchr(av[i], '@') || strchr(av[i], '/') || av[i][0] == '@')
            return conf_perr(p, "oauth_mailboxes: \"%s\" is not a mailbox address", av[i]);
        if ((c->oauth_mailboxes[i - 1] = strdup(av[i])) == NULL)
            return conf_perr(p, "out of memory");
    }
    return 0;
}

/* check_socket - milter_socket, policy_socket: the libmilter syntax (lib/sockspec) */
static int check_socket(struct parse *p, const char *k, const char *v)
{
    struct sockspec ss;

    if (sockspec_parse(v, &ss) < 0)
        return conf_perr(p, "%s \"%s\": expected unix:PATH or inet:PORT@HOST", k, v);
    return 0;
}

/* check_redis_address - unix:/PATH, HOST:PORT or [V6]:PORT (lib/sockspec) */
static int check_redis_address(struct parse *p, const char *k, const char *v)
{
    struct sockspec ss;

    if (sockspec_parse_hostport(v, &ss) < 0)
        return conf_perr(p, "%s \"%s\": expected unix:/PATH, HOST:PORT or [IPV6]:PORT", k, v);
    return 0;
}

/* check_socket_mode - a socket everybody may use lets anybody rewrite or count mail */
static int check_socket_mode(struct parse *p, const char *k __attribute__((unused)), const char *v)
{
    if (strtoul(v, NULL, 8) & 0007)
        return conf_perr(
            p,
            "socket_mode %s: refusing a socket that everybody may use (use 0660 and socket_group)",
            v);
    return 0;
}

/* check_trace_header - a header name, and not one the rewrite changes */
static int check_trace_header(struct parse *p, const char *k __attribute__((unused)), const char *v)
{
    const char *q;

    for (q = v; *q; q++)
        if (*q <= ' ' || *q >= 0x7f || *q == ':')
            return conf_perr(p, "trace_header \"%s\": not a valid header name", v);
    if (strcasecmp(v, "From") == 0 || strcasecmp(v, "Sender") == 0 ||
        strcasecmp(v, "Reply-To") == 0)
        return conf_perr(p, "trace_header %s: must not be a header the rewrite changes", v);
    return 0;
}

/* check_word - the token service's strings: no spaces, quotes or control characters */
static int check_word(struct parse *p, const char *k, const char *v)
{
    const char *q;

    for (q = v; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '"' || *q == '\\')
            return conf_perr(p, "%s: no spaces, quotes or control characters allowed", k);
    return 0;
}

/* check_path - a word and an absolute path */
static int check_path(struct parse *p, const char *k, const char *v)
{
    if (check_word(p, k, v) < 0)
        return -1;
    if (v[0] != '/')
        return conf_perr(p, "%s \"%s\": expected an absolute path", k, v);
    return 0;
}

/* check_endpoint - a word and an https:// URL with a host */
static int check_endpoint(struct parse *p, const char *k, const char *v)
{
    if (check_word(p, k, v) < 0)
        return -1;
    if (strncmp(v, "https://", 8) != 0 || v[8] == '\0' || v[8] == '/')
        return conf_perr(p, "%s \"%s\": expected an https:// URL", k, v);
    return 0;
}

/* check_tenant - it becomes a path segment of the endpoint's URL: a '/', '?' or '#' would
 * change which URL gets the secret */
static int check_tenant(struct parse *p, const char *k, const char *v)
{
    if (check_word(p, k, v) < 0)
        return -1;
    if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(v))
        return conf_perr(p,
                         "%s \"%s\": expected the directory (tenant) id or a domain such as "
                         "contoso.onmicrosoft.com",
                         k, v);
    return 0;
}

/* slot - where setting s lives in c */
static void *slot(struct conf *c, const struct setting *s)
{
    return (char *)c + s->off;
}

/* store_uint - n into an unsigned field of size bytes (unsigned, unsigned long, size_t...) */
static void store_uint(void *dst, size_t size, unsigned long long n)
{
    if (size == sizeof(unsigned)) {
        unsigned u = (unsigned)n;

        memcpy(dst, &u, sizeof(u));
    } else if (size == sizeof(unsigned long)) {
        unsigned long ul = (unsigned long)n;

        memcpy(dst, &ul, sizeof(ul));
    } else {
        memcpy(dst, &n, sizeof(n));
    }
}

/* store_number - n into setting s's numeric field */
static void store_number(struct conf *c, const struct setting *s, unsigned long long n)
{
    store_uint(slot(c, s), s->size, n);
}

/* number_error - the explanation of a number out of range, in the setting's terms */
static int number_error(struct parse *p, const struct setting *s, const char *v)
{
    if (s->hint == H_LIMIT)
        return conf_perr(p, "%s \"%s\": expected %llu to %llu (%s%s)", s->name, v, s->min, s->max,
                         s->unit, s->min == 0 ? "; 0: no limit" : "");
    if (s->hint == H_SECONDS)
        return conf_perr(p, "%s \"%s\": expected seconds from %llu to %llu", s->name, v, s->min,
                         s->max);
    return conf_perr(p, "%s \"%s\": expected a number from %llu to %llu", s->name, v, s->min,
                     s->max);
}

/* parse_number - v as a decimal number within setting s's bounds */
static int parse_number(struct parse *p, const struct setting *s, const char *v,
                        unsigned long long *out)
{
    char *end;

    errno = 0;
    *out = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno || *out < s->min || *out > s->max)
        return number_error(p, s, v);
    return 0;
}

/* choice_error - "expected a, b or c" from the setting's words */
static int choice_error(struct parse *p, const struct setting *s, const char *v)
{
    char list[128];
    size_t i, n, len = 0;

    for (n = 0; s->choices[n]; n++)
        ;
    list[0] = '\0';
    for (i = 0; i < n && len < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                i == 0 ? "" : i + 1 == n ? " or " : ", ", s->choices[i]);
    return conf_perr(p, "%s \"%s\": expected %s", s->name, v, list);
}

/* set_value - parse v for setting s into the configuration */
static int set_value(struct parse *p, const struct setting *s, const char *v)
{
    unsigned long long n;
    char *end;
    int yn;
    size_t i;

    if (s->check && s->type != T_OCTAL && !(s->type == T_NONE_STR && strcasecmp(v, "none") == 0) &&
        s->check(p, s->name, v) < 0)
        return -1;
    switch (s->type) {
    case T_BOOL:
        if ((yn = conf_yesno(v)) < 0)
            return conf_perr(p, "%s: \"%s\" is not yes or no", s->name, v);
        memcpy(slot(p->c, s), &yn, sizeof(yn));
        return 0;
    case T_NONE_STR:
        if (strcasecmp(v, "none") == 0) {
            free(*(char **)slot(p->c, s));
            *(char **)slot(p->c, s) = NULL;
            return 0;
        }
        return set_string(p, slot(p->c, s), v);
    case T_STRING:
        return set_string(p, slot(p->c, s), v);
    case T_DOMAIN:
        if (!valid_domain(v))
            return conf_perr(p, "%s \"%s\": not a valid domain", s->name, v);
        if (set_string(p, slot(p->c, s), v) < 0)
            return -1;
        for (end = *(char **)slot(p->c, s); *end; end++)
            *end = (char)tolower((unsigned char)*end);
        return 0;
    case T_NUMBER:
        if (parse_number(p, s, v, &n) < 0)
            return -1;
        store_number(p->c, s, n);
        return 0;
    case T_OCTAL:
        errno = 0;
        n = strtoull(v, &end, 8);
        if (*v < '0' || *v > '9' || *end != '\0' || errno || n > s->max)
            return conf_perr(p, "%s \"%s\": expected an octal mode such as 0660", s->name, v);
        if (s->check && s->check(p, s->name, v) < 0)
            return -1;
        store_number(p->c, s, n);
        return 0;
    case T_CHOICE:
        for (i = 0; s->choices[i]; i++)
            if (strcmp(v, s->choices[i]) == 0) {
                yn = (int)i;
                memcpy(slot(p->c, s), &yn, sizeof(yn));
                return 0;
            }
        return choice_error(p, s, v);
    case T_DIRECTIVE:
        break;
    }
    return conf_perr(p, "%s: internal error (unknown setting type)", s->name);
}

/*
 * The limits a mailbox may set for itself (issue 10): the global setting of the same name
 * gives the bounds and the error message (settings[]), bit marks it set, off/size place it
 * in struct conf_limits.
 */
static const struct mailbox_limit {
    const char *name;
    unsigned bit;
    size_t off, size;
} mailbox_limits[] = {
#define MBLIMIT(f, b)                                                                            \
    {"limit_" #f, b, offsetof(struct conf_limits, f), sizeof(((struct conf_limits *)0)->f)}
    MBLIMIT(messages_per_minute, CONF_LIM_MPM),
    MBLIMIT(recipients_per_day, CONF_LIM_RPD),
    MBLIMIT(recipients_per_message, CONF_LIM_RPM),
    MBLIMIT(message_size, CONF_LIM_SIZE),
    MBLIMIT(headroom, CONF_LIM_HEADROOM),
#undef MBLIMIT
};
#define NMAILBOX_LIMITS (sizeof(mailbox_limits) / sizeof(mailbox_limits[0]))

/* mailbox_limit_at - nearest's view of the limits a mailbox may set */
static const char *mailbox_limit_at(size_t i, const void *arg __attribute__((unused)))
{
    return i < NMAILBOX_LIMITS ? mailbox_limits[i].name : NULL;
}

/* is_limit_word - does w name a limit?  A word with an '@' is an address, even one that
 * begins with limit_ (sendas limit_alerts@example.com) */
static int is_limit_word(const char *w)
{
    return strncmp(w, "limit_", 6) == 0 && strchr(w, '@') == NULL;
}

/*
 * mailbox_limit_pair - set mailbox mb's own limit av[i] to av[i + 1] (i < ac); errors
 * name the word at fault: an unknown limit, a missing or bad value, a second value.
 */
static int mailbox_limit_pair(struct parse *p, struct conf_mailbox *mb, char **av, int ac, int i)
{
    const struct mailbox_limit *ml = NULL;
    const struct setting *s;
    unsigned long long n;
    const char *near;
    size_t k;

    conf_at_word(p, i);
    for (k = 0; k < NMAILBOX_LIMITS && ml == NULL; k++)
        if (strcmp(av[i], mailbox_limits[k].name) == 0)
            ml = &mailbox_limits[k];
    if (ml == NULL && (near = conf_nearest(av[i], mailbox_limit_at, NULL)) != NULL)
        return conf_perr(p, "mailbox %s: unknown limit \"%s\" (did you mean \"%s\"?)", mb->address,
                         av[i], near);
    if (ml == NULL)
        return conf_perr(p,
                         "mailbox %s: unknown limit \"%s\" (a mailbox may set "
                         "limit_messages_per_minute, limit_recipients_per_day, "
                         "limit_recipients_per_message, limit_message_size, limit_headroom)",
                         mb->address, av[i]);
    if (i + 1 >= ac)
        return conf_perr(p, "mailbox %s: %s needs a value", mb->address, av[i]);
    if (mb->limits_set & ml->bit)
        return conf_perr(p, "mailbox %s: %s is set twice", mb->address, av[i]);
    for (s = settings; s < settings + NSETTINGS && strcmp(s->name, ml->name) != 0; s++)
        ; /* every mailbox limit is a global setting too (test_conf sets each one) */
    if (s == settings + NSETTINGS)
        return conf_perr(p, "%s: internal error (no global setting of that name)", av[i]);
    conf_at_word(p, i + 1);
    if (parse_number(p, s, av[i + 1], &n) < 0)
        return -1;
    store_uint((char *)&mb->limits + ml->off, ml->size, n);
    mb->limits_set |= ml->bit;
    return 0;
}

/* d_limits - limits MAILBOX limit_NAME VALUE ... (a declared mailbox's own limits) */
static int d_limits(struct parse *p, char **av, int ac)
{
    struct conf_pattern pat;
    struct conf_mailbox *mb;
    const char *near;
    int i;

    if (ac < 4 || ac % 2 != 0)
        return conf_perr(p, "limits: expected \"limits MAILBOX limit_NAME VALUE ...\"");
    conf_at_word(p, 1);
    if (conf_parse_pattern(p, av[1], 0, &pat, "limits") < 0)
        return -1;
    mb = (struct conf_mailbox *)conf_find_mailbox(p->c, pat.local, pat.domain);
    free(pat.local);
    free(pat.domain);
    if (mb == NULL && (near = conf_nearest(av[1], conf_mailbox_at, p->c)) != NULL)
        return conf_perr(p, "limits %s: not a declared mailbox (did you mean %s?)", av[1], near);
    if (mb == NULL)
        return conf_perr(p,
                         "limits %s: not a declared mailbox (declare it with \"mailbox %s\" "
                         "before this line)",
                         av[1], av[1]);
    for (i = 2; i < ac; i += 2) {
        if (!is_limit_word(av[i])) {
            conf_at_word(p, i);
            return conf_perr(p, "limits %s: expected limit_NAME VALUE pairs, not \"%s\"", av[1],
                             av[i]);
        }
        if (mailbox_limit_pair(p, mb, av, ac, i) < 0)
            return -1;
    }
    return 0;
}

/* directive - dispatch one logical line split into words, through the settings table */
static int directive(struct parse *p, char **av, int ac)
{
    const struct setting *s = NULL;
    size_t i;

    for (i = 0; i < NSETTINGS && s == NULL; i++)
        if (strcmp(av[0], settings[i].name) == 0)
            s = &settings[i];
    if (s == NULL)
        return unknown_directive(p, av[0]);
    if (s->type == T_DIRECTIVE)
        return s->directive(p, av, ac);
    if (ac != 2)
        return conf_perr(p, "%s: expected exactly one value", s->name);
    conf_at_word(p, 1);
    return set_value(p, s, av[1]);
}

/*
 * split_words - split a logical line in place, noting each word's physical line.
 * A '#' that starts a word comments out the rest of its physical line only: the
 * next continuation line goes on with the directive.
 */
static int split_words(struct parse *p, char *line, char **av, int *av_line)
{
    size_t seg = 0;
    int ac = 0;
    char *s = line;

    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0')
            break;
        while (seg + 1 < p->nseg && (size_t)(s - line) >= p->seg_off[seg + 1])
            seg++;
        if (*s == '#') {
            if (seg + 1 >= p->nseg)
                break;
            s = line + p->seg_off[seg + 1];
            continue;
        }
        if (ac >= CONF_MAX_ARGS && strcmp(av[0], "mailbox") == 0)
            return conf_perr(p,
                             "too many words in one directive (at most %d, reached at line %d; "
                             "a mailbox takes at most %d sendas entries)",
                             CONF_MAX_ARGS, p->seg_line[seg], CONF_MAX_ARGS - 3);
        if (ac >= CONF_MAX_ARGS)
            return conf_perr(p, "too many words in one directive (at most %d, reached at line %d)",
                             CONF_MAX_ARGS, p->seg_line[seg]);
        av_line[ac] = p->seg_line[seg];
        av[ac++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
    return ac;
}

/* flush_line - process the accumulated logical line, if any */
static int flush_line(struct parse *p, struct buf *logical, int start_line)
{
    char *av[CONF_MAX_ARGS];
    int av_line[CONF_MAX_ARGS];
    int ac, saved = p->line, rc;

    if (logical->len == 0)
        return 0;
    p->line = start_line;
    ac = split_words(p, logical->data, av, av_line);
    p->av_line = av_line;
    rc = ac < 0 ? -1 : ac == 0 ? 0 : directive(p, av, ac);
    p->av_line = NULL;
    p->line = saved;
    p->nseg = 0;
    buf_reset(logical);
    return rc;
}

/* defaults - settings before the file is read, from the settings table */
static int defaults(struct conf *c)
{
    const struct setting *s;
    char host[256];
    int n;

    for (s = settings; s < settings + NSETTINGS; s++) {
        switch (s->type) {
        case T_STRING:
        case T_NONE_STR:
            if (s->def_str && (*(char **)slot(c, s) = strdup(s->def_str)) == NULL)
                return -1;
            break;
        case T_BOOL:
        case T_CHOICE:
            n = (int)s->def;
            memcpy(slot(c, s), &n, sizeof(n));
            break;
        case T_NUMBER:
        case T_OCTAL:
            store_number(c, s, s->def);
            break;
        case T_DOMAIN:
        case T_DIRECTIVE:
            break;
        }
    }
    /* unqualified addresses ("root") get the host's name, as Postfix's myorigin does */
    if (gethostname(host, sizeof(host)) == 0 && memchr(host, '\0', sizeof(host)) && valid_domain(host))
        c->qualify_domain = xstrdup_lower(host);
    else
        c->qualify_domain = strdup("localhost.localdomain");
    return c->qualify_domain ? 0 : -1;
}

/* warn_oauth_mailboxes - a token for a mailbox no route uses is surely a typo */
static void warn_oauth_mailboxes(struct parse *p)
{
    const struct conf *c = p->c;
    const char *at, *near;
    char local[65];
    size_t i;

    for (i = 0; c->oauth_mailboxes && c->oauth_mailboxes[i]; i++) {
        const char *m = c->oauth_mailboxes[i];

        at = strrchr(m, '@');
        if ((size_t)(at - m) < sizeof(local)) {
            memcpy(local, m, (size_t)(at - m));
            local[at - m] = '\0';
            if (conf_find_mailbox(c, local, at + 1))
                continue;
        }
        p->line = p->oauth_lines[i];
        if ((near = conf_nearest(m, conf_mailbox_at, c)) != NULL)
            conf_pwarn(p,
                       "oauth_mailboxes: %s is not a declared mailbox, no route sends through it "
                       "(did you mean %s?)",
                       m, near);
        else
            conf_pwarn(
                p, "oauth_mailboxes: %s is not a declared mailbox, no route sends through it", m);
    }
}

/* conf_parse - parse configuration text */
struct conf *conf_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    struct parse p = {.name = name, .err = err, .errlen = errlen};
    struct buf logical;
    size_t pos = 0, i;
    int start_line = 0, rc = 0;

    if (err && errlen)
        err[0] = '\0';
    if ((p.c = calloc(1, sizeof(*p.c))) == NULL || defaults(p.c) < 0 ||
        (p.c->path = strdup(name)) == NULL ||
        (p.seg_off = calloc(MAX_SEGMENTS, sizeof(*p.seg_off))) == NULL ||
        (p.seg_line = calloc(MAX_SEGMENTS, sizeof(*p.seg_line))) == NULL) {
        conf_perr(&p, "out of memory");
        conf_free(p.c);
        free(p.seg_off);
        return NULL;
    }
    atomic_init(&p.c->refs, 1);
    buf_init(&logical, CONF_MAX_LINE);
    if (len > CONF_MAX_FILE) {
        rc = conf_perr(&p, "file too large (more than %d bytes)", CONF_MAX_FILE);
        goto done;
    }
    /* a UTF-8 byte-order mark, as some Windows editors write, is not a directive */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *l = text + pos;
        int cont;

        p.line++;
        pos += n + (nl ? 1 : 0);
        if (n && l[n - 1] == '\r')
            n--;
        if (memchr(l, '\0', n)) {
            rc = conf_perr(&p, "NUL byte in the file");
            break;
        }
        /* a blank or comment-only line never continues anything */
        for (i = 0; i < n && (l[i] == ' ' || l[i] == '\t'); i++)
            ;
        if (i == n || l[i] == '#')
            continue;
        cont = (l[0] == ' ' || l[0] == '\t');
        if (cont && logical.len == 0) {
            rc = conf_perr(&p, "continuation line with nothing to continue");
            break;
        }
        if (!cont) {
            if ((rc = flush_line(&p, &logical, start_line)) < 0)
                break;
            start_line = p.line;
        }
        if (p.nseg < MAX_SEGMENTS) {
            p.seg_off[p.nseg] = logical.len;
            p.seg_line[p.nseg++] = p.line;
        }
        if (buf_putc(&logical, ' ') != BUF_OK || buf_append(&logical, l, n) != BUF_OK) {
            int at = p.line;

            p.line = start_line;
            rc = conf_perr(&p, "line too long (more than %d bytes, reached at line %d)",
                           CONF_MAX_LINE, at);
            break;
        }
    }
    if (rc == 0)
        rc = flush_line(&p, &logical, start_line);
    if (rc == 0)
        rc = conf_resolve_routes(&p);
    if (rc == 0 && p.c->nmailboxes == 0) {
        p.line = 0;
        rc = conf_perr(&p, "no mailbox declared (add at least one \"mailbox ADDRESS\" line)");
    }
    if (rc == 0 && p.c->nroutes == 0) {
        p.line = 0;
        rc =
            conf_perr(&p, "no route declared (add e.g. \"route * %s\")", p.c->mailboxes[0].address);
    }
    if (rc == 0 && p.c->pacing && !p.c->rewrite_envelope) {
        p.line = 0;
        conf_pwarn(&p, "pacing yes with rewrite_envelope no: Postfix picks each mailbox's "
                       "transport by the envelope sender, which then stays the client's, so "
                       "nothing is paced (the per-minute limit stays at intake)");
    }
    if (rc == 0) {
        conf_warn_shadowed(&p);
        warn_oauth_mailboxes(&p);
        if (p.warnings_dropped) {
            p.line = 0;
            free(p.c->warnings[--p.c->nwarnings]);
            conf_pwarn(&p, "and %zu more warnings", p.warnings_dropped + 1);
        }
    }
done:
    buf_free(&logical);
    if (p.route_targets) {
        for (i = 0; i < p.c->nroutes; i++)
            free(p.route_targets[i]);
        free(p.route_targets);
    }
    free(p.route_target_lines);
    free(p.seg_off);
    free(p.seg_line);
    free(p.oauth_lines);
    if (rc != 0) {
        conf_free(p.c);
        return NULL;
    }
    return p.c;
}

/* conf_load - read and parse a file */
struct conf *conf_load(const char *path, char *err, size_t errlen)
{
    struct buf text;
    char chunk[8192];
    struct conf *c;
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf_init(&text, CONF_MAX_FILE);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (buf_append(&text, chunk, (size_t)n) != BUF_OK) {
            snprintf(err, errlen, "%s: file too large (more than %d bytes)", path, CONF_MAX_FILE);
            close(fd);
            buf_free(&text);
            return NULL;
        }
    }
    if (n < 0) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        close(fd);
        buf_free(&text);
        return NULL;
    }
    close(fd);
    c = conf_parse(path, buf_cstr(&text), text.len, err, errlen);
    buf_free(&text);
    return c;
}

/* conf_ref - one more reference */
struct conf *conf_ref(struct conf *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

/* conf_unref - drop a reference; the thread that drops the last frees, after every other
 * thread's use of the snapshot (acq_rel orders their reads before the free) */
void conf_unref(struct conf *c)
{
    if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        conf_free(c);
}

/* conf_free - release a snapshot */
void conf_free(struct conf *c)
{
    const struct setting *s;
    size_t i, j;

    if (c == NULL)
        return;
    for (i = 0; i < c->nmailboxes; i++) {
        struct conf_mailbox *mb = &c->mailboxes[i];

        free(mb->address);
        free(mb->local);
        free(mb->domain);
        for (j = 0; j < mb->nsendas; j++) {
            free(mb->sendas[j].local);
            free(mb->sendas[j].domain);
        }
        free(mb->sendas);
    }
    free(c->mailboxes);
    for (i = 0; i < c->nroutes; i++) {
        free(c->routes[i].text);
        free(c->routes[i].sasl);
        free(c->routes[i].pat.local);
        free(c->routes[i].pat.domain);
    }
    free(c->routes);
    free(c->path);
    for (s = settings; s < settings + NSETTINGS; s++)
        if (s->type == T_STRING || s->type == T_NONE_STR || s->type == T_DOMAIN)
            free(*(char **)slot(c, s));
    if (c->oauth_mailboxes)
        for (i = 0; c->oauth_mailboxes[i]; i++)
            free(c->oauth_mailboxes[i]);
    free(c->oauth_mailboxes);
    for (i = 0; i < c->nwarnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    free(c);
}
