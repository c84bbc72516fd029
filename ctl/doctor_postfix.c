/* SPDX-License-Identifier: MIT */
/*
 * doctor_postfix - Postfix's configuration against sendas.conf, read through
 * `postconf [-c DIR]` (main.cf expanded with -x, master.cf with -F and its
 * -o overrides with -Px) and
 * `postmap -q`: the next hop, the milter and policy lines as the (possibly
 * chrooted) smtpd and cleanup reach the sockets, the sasl_passwd entry of
 * every mailbox and of the null sender, the mechanism filter and its SASL
 * plugins, internal_mail_filter_classes, the concurrency towards Exchange
 * Online, mynetworks and TLS.  Each finding names the value found and the
 * line that fixes it.  Of master.cf's -o overrides, those of the milter and
 * policy lists are weighed per service (a submission service's own
 * smtpd_milters); others (a transport's smtp_* settings) are not.
 */
#include "config.h"

#include "doctor_local.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockspec.h"

#define PF_VAL 4096           /* bytes of one parameter value read */
#define PF_MASTER (128 << 10) /* bytes of `postconf -F` read */
#define PF_MAX_SERVICES 256
#define PF_MAX_WORDS 128
#define EXO_RELAYHOST "[smtp.office365.com]:587"

struct pf_service {
    char name[64], type[16], command[64];
    int chroot;   /* 'y' in the chroot column */
    long maxproc; /* -1: "-" (default_process_limit) */
};

struct pf {
    const struct doc_opts *o;
    char qdir[PF_VAL]; /* queue_directory: the chroot jail */
    char relayhost[PF_VAL];
    struct pf_service sv[PF_MAX_SERVICES];
    size_t nsv;
    char *params; /* `postconf -Px`: master.cf's -o overrides, "name/type/param = value" lines */
};

/* fmt - snprintf for text that may be cut (a value read, a fix shown): the cut is marked
 * "..." rather than silent */
static void fmt(char *out, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t len, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(out, len, f, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= len && len > 4)
        memcpy(out + len - 4, "...", 4);
}

/* pf_get - a main.cf parameter with $names expanded ("" when unknown); 0, or -1 */
static int pf_get(const struct pf *P, const char *param, char *out, size_t outlen)
{
    return doc_postconf(P->o, param, out, outlen);
}

/* cdir - " -c DIR" when doctor reads another instance, for the commands in fixes */
static const char *cdir(const struct pf *P, char *buf, size_t len)
{
    if (P->o->postfix_dir == NULL)
        return "";
    snprintf(buf, len, " -c %s", P->o->postfix_dir);
    return buf;
}

/* fix_pe - the fix "postconf -e 'LINE'; postfix reload" for one main.cf line */
static void fix_pe(const struct pf *P, char *out, size_t outlen, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static void fix_pe(const struct pf *P, char *out, size_t outlen, const char *f, ...)
{
    char line[800], c[600];
    va_list ap;

    va_start(ap, f);
    vsnprintf(line, sizeof(line), f, ap);
    va_end(ap);
    cdir(P, c, sizeof(c));
    fmt(out, outlen, "postconf%s -e '%s'; postfix%s reload", c, line, c);
}

/* words - split s in place at white space, commas and braces (Postfix's list syntax);
 * the count, at most max */
static size_t words(char *s, char **w, size_t max)
{
    size_t n = 0;
    char *save = NULL, *t;

    for (t = strtok_r(s, " \t\r\n,{}", &save); t && n < max;
         t = strtok_r(NULL, " \t\r\n,{}", &save))
        w[n++] = t;
    return n;
}

/* has_word - is w (case-insensitive) one of the words of the list value? */
static int has_word(const char *value, const char *w)
{
    char buf[PF_VAL], *ws[PF_MAX_WORDS];
    size_t n;

    snprintf(buf, sizeof(buf), "%s", value);
    n = words(buf, ws, PF_MAX_WORDS);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(ws[i], w) == 0)
            return 1;
    return 0;
}

/* load_master - the services of master.cf from `postconf -F`; 0, or -1 */
static int load_master(struct pf *P)
{
    char *out = malloc(PF_MASTER), *save = NULL, *line;

    if (out == NULL || doc_postconf_args(P->o, "-F", NULL, out, PF_MASTER) < 0) {
        free(out);
        return -1;
    }
    /* -x: "-o smtpd_milters=$mua_milters" as smtpd sees it; none read is no override */
    if ((P->params = malloc(PF_MASTER)) != NULL &&
        doc_postconf_args(P->o, "-Px", NULL, P->params, PF_MASTER) < 0)
        P->params[0] = '\0';
    P->nsv = 0;
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64], type[16], field[32], value[256];
        struct pf_service *s;

        /* "name/type/field = value": a name of '/' or ' ' is not a service Postfix runs */
        if (sscanf(line, "%63[^/]/%15[^/]/%31s = %255[^\n]", name, type, field, value) != 4)
            continue;
        if (P->nsv == 0 || strcmp(P->sv[P->nsv - 1].name, name) != 0 ||
            strcmp(P->sv[P->nsv - 1].type, type) != 0) {
            if (P->nsv == PF_MAX_SERVICES)
                break;
            s = &P->sv[P->nsv++];
            memset(s, 0, sizeof(*s));
            snprintf(s->name, sizeof(s->name), "%s", name);
            snprintf(s->type, sizeof(s->type), "%s", type);
            s->maxproc = -1;
        }
        s = &P->sv[P->nsv - 1];
        if (strcmp(field, "chroot") == 0)
            s->chroot = value[0] == 'y';
        else if (strcmp(field, "process_limit") == 0 && isdigit((unsigned char)value[0]))
            s->maxproc = strtol(value, NULL, 10);
        else if (strcmp(field, "command") == 0)
            sscanf(value, "%63s", s->command);
    }
    free(out);
    return 0;
}

/* override - master.cf's "-o param=value" of service s into out: 1, or 0 when it has none */
static int override(const struct pf *P, const struct pf_service *s, const char *param, char *out,
                    size_t outlen)
{
    char key[256];
    size_t k;

    if (P->params == NULL)
        return 0;
    k = (size_t)snprintf(key, sizeof(key), "%s/%s/%s =", s->name, s->type, param);
    for (const char *l = P->params; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (k < sizeof(key) && strncmp(l, key, k) == 0 && (l[k] == ' ' || l[k] == '\n' || !l[k])) {
            const char *v = l + k + (l[k] == ' ');

            snprintf(out, outlen, "%.*s", (int)strcspn(v, "\n"), v);
            return 1;
        }
    return 0;
}

/* squash - collapse repeated '/' in place */
static void squash(char *s)
{
    char *w = s;

    for (const char *p = s; *p; p++)
        if (!(p[0] == '/' && w > s && w[-1] == '/'))
            *w++ = *p;
    *w = '\0';
}

/* real_path - where Postfix's unix:P is on the file system for a process in or out of the
 * chroot: absolute names are inside the jail when chrooted, relative ones in the queue
 * directory (Postfix's daemons run there) */
static void real_path(const struct pf *P, int chrooted, const char *p, char *out, size_t len)
{
    if (p[0] == '/')
        snprintf(out, len, "%s%s", chrooted ? P->qdir : "", p);
    else
        fmt(out, len, "%s/%s", P->qdir, p);
    squash(out);
}

/* loopback_name - a host name a socket without @HOST is reached by */
static int loopback_name(const char *h)
{
    return strcmp(h, "127.0.0.1") == 0 || strcasecmp(h, "localhost") == 0 || strcmp(h, "::1") == 0;
}

/* reaches - does the Postfix endpoint e (unix:P, inet:HOST:PORT, inet:[V6]:PORT) reach the
 * daemon listening on ss, from a process chrooted or not? */
static int reaches(const struct pf *P, int chrooted, const char *e, const struct sockspec *ss)
{
    char host[SOCKSPEC_MAX_HOST + 1], path[PF_VAL], want[PF_VAL];
    const char *colon;
    unsigned long port;

    if (ss->kind == SOCKSPEC_UNIX) {
        if (strncmp(e, "unix:", 5) != 0 && strncmp(e, "local:", 6) != 0)
            return 0;
        real_path(P, chrooted, strchr(e, ':') + 1, path, sizeof(path));
        snprintf(want, sizeof(want), "%s", ss->path);
        squash(want);
        return strcmp(path, want) == 0;
    }
    if (strncmp(e, "inet:", 5) != 0 || (colon = strrchr(e + 5, ':')) == NULL)
        return 0;
    port = strtoul(colon + 1, NULL, 10);
    if (e[5] == '[' && colon > e + 6 && colon[-1] == ']')
        snprintf(host, sizeof(host), "%.*s", (int)(colon - e - 7), e + 6);
    else
        snprintf(host, sizeof(host), "%.*s", (int)(colon - e - 5), e + 5);
    if (port != ss->port)
        return 0;
    if (ss->host[0] == '\0')
        return loopback_name(host);
    return strcasecmp(host, ss->host) == 0 ||
           (loopback_name(host) && loopback_name(ss->host) && strchr(host, ':') == NULL &&
            strchr(ss->host, ':') == NULL);
}

/* expected - the endpoint to write in main.cf for the daemon on ss, as a process chrooted
 * or not reaches it; -1 when a chrooted one cannot (a unix socket outside the jail) */
static int expected(const struct pf *P, int chrooted, const struct sockspec *ss, char *out,
                    size_t len)
{
    size_t q = strlen(P->qdir);

    if (ss->kind == SOCKSPEC_UNIX) {
        if (!chrooted)
            return snprintf(out, len, "unix:%s", ss->path), 0;
        if (strncmp(ss->path, P->qdir, q) != 0 || ss->path[q] != '/')
            return -1;
        snprintf(out, len, "unix:%s", ss->path + q);
        return 0;
    }
    snprintf(out, len, ss->kind == SOCKSPEC_INET6 ? "inet:[%s]:%u" : "inet:%s:%u",
             ss->host[0]                  ? ss->host
             : ss->kind == SOCKSPEC_INET6 ? "::1"
                                          : "127.0.0.1",
             ss->port);
    return 0;
}

/* first_service - the first master.cf service running command (NULL: none) */
static const struct pf_service *first_service(const struct pf *P, const char *command, size_t *i)
{
    for (; *i < P->nsv; (*i)++)
        if (strcmp(P->sv[*i].command, command) == 0)
            return &P->sv[(*i)++];
    return NULL;
}

/* list_reaches - does one of the endpoints in value reach ss from s? after (NULL: every word
 * is an endpoint) selects the words following that keyword (check_policy_service) */
static int list_reaches(const struct pf *P, int chrooted, const char *value, const char *after,
                        const struct sockspec *ss, int *named)
{
    char buf[PF_VAL], *w[PF_MAX_WORDS];
    size_t n;

    snprintf(buf, sizeof(buf), "%s", value);
    n = words(buf, w, PF_MAX_WORDS);
    *named = 0;
    for (size_t i = 0; i < n; i++) {
        if (after) {
            if (strcasecmp(w[i], after) != 0 || i + 1 >= n)
                continue;
            i++;
        } else if (strchr(w[i], '=')) {
            continue; /* a milter's { name, option=value } settings */
        }
        (*named)++;
        if (reaches(P, chrooted, w[i], ss))
            return 1;
    }
    return 0;
}

/* What check_endpoint compares: a main.cf list and the daemon it must reach. */
struct endpoint {
    const char *param;      /* "smtpd_milters" */
    const char *after;      /* NULL: every word is an endpoint; else the keyword before one */
    const char *command;    /* the master.cf command that connects: "smtpd", "cleanup" */
    const char *spec;       /* the daemon's socket (sendas.conf) */
    const char *what;       /* "sendas-milter" */
    const char *setting;    /* "milter_socket" */
    const char *sock;       /* file name in the jail: "milter.sock" */
    enum doc_status absent; /* when the list names no endpoint at all */
};

/* looks_like - is the endpoint e meant for the daemon on ss: the same socket file name, or
 * the same port? (a wrong path or host for sendas's socket, not another milter's) */
static int looks_like(const char *e, const struct sockspec *ss)
{
    const char *colon = strrchr(e, ':'), *slash;

    if (ss->kind == SOCKSPEC_UNIX) {
        slash = strrchr(ss->path, '/');
        if ((strncmp(e, "unix:", 5) != 0 && strncmp(e, "local:", 6) != 0) || colon == NULL)
            return 0;
        e = strrchr(e, '/') ? strrchr(e, '/') + 1 : strchr(e, ':') + 1;
        return strcmp(e, slash ? slash + 1 : ss->path) == 0;
    }
    return strncmp(e, "inet:", 5) == 0 && colon && strtoul(colon + 1, NULL, 10) == ss->port;
}

/* endpoint_line - the line "param = value" with the endpoint ep in place: the entry meant
 * for sendas's daemon replaced, else ep added; others' entries kept (another milter, the
 * admin's restrictions).  check_policy_service goes first: a permit before it would let
 * mail pass without sendas-policyd. */
static void endpoint_line(const struct endpoint *e, const char *value, const struct sockspec *ss,
                          const char *ep, char *out, size_t len)
{
    char buf[PF_VAL], mine[PF_VAL], *w[PF_MAX_WORDS];
    const char *at = NULL;
    size_t n;

    fmt(mine, sizeof(mine), "%s%s", e->after ? "check_policy_service " : "", ep);
    snprintf(buf, sizeof(buf), "%s", value);
    n = words(buf, w, PF_MAX_WORDS);
    for (size_t i = 0; i < n && at == NULL; i++) {
        if (e->after && (strcasecmp(w[i], e->after) != 0 || ++i >= n))
            continue;
        if (looks_like(w[i], ss) && (at = strstr(value, w[i])) != NULL)
            fmt(out, len, "%s = %.*s%s%s", e->param, (int)(at - value), value, ep,
                at + strlen(w[i]));
    }
    if (at)
        return;
    if (!value[0])
        fmt(out, len, "%s = %s", e->param, mine);
    else if (e->after)
        fmt(out, len, "%s = %s, %s", e->param, mine, value);
    else
        fmt(out, len, "%s = %s, %s", e->param, value, mine);
}

/* endpoint_fix - the command that writes line: main.cf's, or the service's -o override */
static void endpoint_fix(const struct pf *P, const struct pf_service *s, int overridden,
                         const char *line, char *out, size_t len)
{
    char c[600];

    if (!overridden) {
        fix_pe(P, out, len, "%s", line);
        return;
    }
    cdir(P, c, sizeof(c));
    fmt(out, len, "postconf%s -P '%s/%s/%s'; postfix%s reload", c, s->name, s->type, line, c);
}

/*
 * check_endpoint - e->param reaches the daemon on e->spec from every
 * master.cf service running e->command, chrooted or not, with the value
 * that service sees: its own "-o param=value" in master.cf, else main.cf's.
 */
static void check_endpoint(struct doc_report *r, const struct pf *P, const struct endpoint *e)
{
    char main_value[PF_VAL], value[PF_VAL], want[PF_VAL], fix[DOC_MAX_TEXT], c[600];
    char line[PF_VAL], jail[PF_VAL], where[200];
    const struct pf_service *s, none = {.name = "(none)", .type = "-"};
    struct sockspec ss;
    size_t i = 0;
    int named = 0, seen = 0, ov, any_ov = 0;

    if (sockspec_parse(e->spec, &ss) < 0 || pf_get(P, e->param, main_value, sizeof(main_value)) < 0)
        return; /* conf_load refused such a spec; postconf failing is reported once */
    while ((s = first_service(P, e->command, &i)) != NULL || !seen) {
        if (s == NULL)
            s = &none; /* no such service in master.cf: Postfix's default, not chrooted */
        seen = 1;
        if (!(ov = override(P, s, e->param, value, sizeof(value))))
            snprintf(value, sizeof(value), "%s", main_value);
        any_ov |= ov;
        where[0] = '\0';
        if (ov)
            fmt(where, sizeof(where), " (master.cf %s/%s -o %s)", s->name, s->type, e->param);
        if (list_reaches(P, s->chroot, value, e->after, &ss, &named))
            continue;
        if (expected(P, s->chroot, &ss, want, sizeof(want)) < 0) {
            snprintf(jail, sizeof(jail), "unix:/sendas/%s", e->sock);
            endpoint_line(e, value, &ss, jail, line, sizeof(line));
            fmt(fix, sizeof(fix),
                "put the socket in the jail: %s unix:%s/sendas/%s in %s and %s in %s; "
                "or run %s outside it: postconf%s -F '%s/%s/chroot = n'; postfix%s reload",
                e->setting, P->qdir, e->sock, P->o->conf_path, line,
                ov ? "master.cf's -o" : "main.cf", e->command, cdir(P, c, sizeof(c)), s->name,
                s->type, c);
            doc_add(r, DOC_FAIL, "postfix", e->param, fix,
                    "%s runs chrooted in %s (master.cf %s/%s chroot y): %s's socket %s is "
                    "outside it (%s = %s%s)",
                    e->command, P->qdir, s->name, s->type, e->what, ss.path, e->param, value,
                    where);
            return;
        }
        endpoint_line(e, value, &ss, want, line, sizeof(line));
        endpoint_fix(P, s, ov, line, fix, sizeof(fix));
        if (named == 0)
            doc_add(r, e->absent, "postfix", e->param, fix, "%s = %s%s: %s", e->param,
                    value[0] ? value : "(empty)", where,
                    e->after ? "Postfix does not ask sendas-policyd: no limits are kept"
                             : "mail passes without sendas-milter (Exchange Online refuses it)");
        else
            doc_add(r, DOC_FAIL, "postfix", e->param, fix,
                    "%s = %s%s does not reach %s on %s (%s, chroot %c, reaches it as %s)", e->param,
                    value, where, e->what, e->spec, e->command, s->chroot ? 'y' : 'n', want);
        return;
    }
    doc_add(r, DOC_OK, "postfix", e->param, NULL, "%s = %s reaches %s (%s)%s", e->param, main_value,
            e->what, e->spec, any_ov ? "; so do master.cf's -o overrides" : "");
}

/* check_relayhost - the next hop is Exchange Online's submission endpoint */
static void check_relayhost(struct doc_report *r, struct pf *P)
{
    char fix[DOC_MAX_TEXT];

    fix_pe(P, fix, sizeof(fix), "relayhost = " EXO_RELAYHOST);
    if (pf_get(P, "relayhost", P->relayhost, sizeof(P->relayhost)) < 0 || !P->relayhost[0])
        doc_add(r, DOC_FAIL, "postfix", "relayhost", fix,
                "relayhost is empty: Postfix delivers by MX, without Exchange Online's sign-in");
    else if (strncasecmp(P->relayhost, EXO_RELAYHOST + 1, strlen(EXO_RELAYHOST) - 6) == 0)
        doc_add(r, DOC_WARN, "postfix", "relayhost", fix,
                "relayhost = %s without [brackets]: Postfix asks DNS for MX records of that "
                "name first, and the null sender's sasl_passwd key differs",
                P->relayhost);
    else if (strcasecmp(P->relayhost, EXO_RELAYHOST) != 0 &&
             strcasecmp(P->relayhost, "[smtp.office365.com]:submission") != 0)
        doc_add(r, DOC_WARN, "postfix", "relayhost", fix,
                "relayhost = %s, not Exchange Online's submission endpoint", P->relayhost);
    else
        doc_add(r, DOC_OK, "postfix", "relayhost", NULL, "relayhost = %s", P->relayhost);
}

/* check_no_milters - receive_override_options with no_milters (main.cf's, or an smtpd
 * service's -o) makes mail skip every milter: sendas-milter never sees it */
static void check_no_milters(struct doc_report *r, const struct pf *P)
{
    char main_value[PF_VAL], value[PF_VAL], buf[PF_VAL], keep[PF_VAL], *w[PF_MAX_WORDS];
    char fix[DOC_MAX_TEXT], c[600];
    const struct pf_service *s, none = {.name = "(main.cf)", .type = "-"};
    size_t i = 0, n, used;
    int ov;

    if (pf_get(P, "receive_override_options", main_value, sizeof(main_value)) < 0)
        return;
    for (int first = 1; (s = first ? &none : first_service(P, "smtpd", &i)) != NULL; first = 0) {
        if (!(ov = !first && override(P, s, "receive_override_options", value, sizeof(value))))
            snprintf(value, sizeof(value), "%s", main_value);
        if ((!first && !ov) || !has_word(value, "no_milters"))
            continue;
        snprintf(buf, sizeof(buf), "%s", value);
        n = words(buf, w, PF_MAX_WORDS);
        keep[0] = '\0';
        for (size_t k = 0, wr; k < n; k++) {
            used = strlen(keep);
            if (strcasecmp(w[k], "no_milters") != 0 &&
                (wr = (size_t)snprintf(keep + used, sizeof(keep) - used, "%s%s", used ? ", " : "",
                                       w[k])) >= sizeof(keep) - used)
                keep[used] = '\0';
        }
        if (ov)
            fmt(fix, sizeof(fix),
                "postconf%s -P '%s/%s/receive_override_options = %s'; "
                "postfix%s reload",
                cdir(P, c, sizeof(c)), s->name, s->type, keep, c);
        else
            fix_pe(P, fix, sizeof(fix), "receive_override_options = %s", keep);
        doc_add(r, DOC_FAIL, "postfix", "receive_override_options", fix,
                "receive_override_options = %s%s%s%s: mail %s skips every milter, "
                "sendas-milter too (Exchange Online refuses it)",
                value, ov ? " (master.cf " : "", ov ? s->name : "", ov ? " -o)" : "",
                ov ? "this service receives" : "received by any service");
        return;
    }
}

/* check_milter_action - what Postfix does when sendas-milter does not answer: tempfail keeps
 * the mail queued; accept sends it unchanged (Exchange Online refuses it), reject bounces it */
static void check_milter_action(struct doc_report *r, const struct pf *P)
{
    char v[PF_VAL], fix[DOC_MAX_TEXT];

    if (pf_get(P, "milter_default_action", v, sizeof(v)) < 0)
        return;
    fix_pe(P, fix, sizeof(fix), "milter_default_action = tempfail");
    if (strcasecmp(v, "tempfail") == 0)
        doc_add(r, DOC_OK, "postfix", "milter_default_action", NULL,
                "milter_default_action = %s: mail waits while sendas-milter is down", v);
    else
        doc_add(r, DOC_WARN, "postfix", "milter_default_action", fix,
                "milter_default_action = %s: while sendas-milter is down mail is %s", v,
                strcasecmp(v, "accept") == 0
                    ? "sent unchanged, and Exchange Online refuses it (550 5.7.60)"
                    : "not kept for a retry");
}

/* check_yes - a boolean main.cf parameter that must be yes */
static void check_yes(struct doc_report *r, const struct pf *P, const char *param, const char *why)
{
    char v[PF_VAL], fix[DOC_MAX_TEXT];

    if (pf_get(P, param, v, sizeof(v)) < 0)
        return;
    fix_pe(P, fix, sizeof(fix), "%s = yes", param);
    if (conf_yesno(v) == 1)
        doc_add(r, DOC_OK, "postfix", param, NULL, "%s = %s", param, v);
    else
        doc_add(r, DOC_FAIL, "postfix", param, fix, "%s = %s: %s", param, v[0] ? v : "(empty)",
                why);
}

/* lookup - the first of the maps (a main.cf list) with key; 1 found, 0 none, -1 a map
 * could not be read (its name in bad) */
static int lookup(const struct pf *P, const char *maps, const char *key, char *out, size_t len,
                  char *bad, size_t badlen)
{
    char buf[PF_VAL], *w[PF_MAX_WORDS];
    size_t n;
    int rc = 0;

    snprintf(buf, sizeof(buf), "%s", maps);
    n = words(buf, w, PF_MAX_WORDS);
    for (size_t i = 0; i < n; i++) {
        int q = doc_postmap_query(P->o, w[i], key, out, len);

        if (q == 1)
            return 1;
        if (q < 0) {
            snprintf(bad, badlen, "%s", w[i]);
            rc = -1;
        }
    }
    return rc;
}

/* map_file - the file of a map ("hash:/etc/postfix/sasl_passwd" -> "/etc/postfix/sasl_passwd") */
static const char *map_file(const char *maps, char *buf, size_t len)
{
    char *w[PF_MAX_WORDS], *colon;

    snprintf(buf, len, "%s", maps);
    if (words(buf, w, PF_MAX_WORDS) == 0)
        return "/etc/postfix/sasl_passwd";
    /* "proxy:hash:/etc/postfix/sasl_passwd": the file after the last type */
    while ((colon = strchr(w[0], ':')) != NULL && w[0][0] != '/')
        w[0] = colon + 1;
    return w[0];
}

/* map_db - the file a map of that type builds with postmap beside its source ("" for
 * types read from the source itself: texthash, and tables doctor does not know) */
static const char *map_db(const char *maps)
{
    static const struct {
        const char *type, *suffix;
    } t[] = {{"hash:", ".db"},         {"btree:", ".db"},      {"lmdb:", ".lmdb"},
             {"cdb:", ".cdb"},         {"proxy:hash:", ".db"}, {"proxy:btree:", ".db"},
             {"proxy:lmdb:", ".lmdb"}, {"proxy:cdb:", ".cdb"}};
    size_t skip = strspn(maps, " \t,{");

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strncasecmp(maps + skip, t[i].type, strlen(t[i].type)) == 0)
            return t[i].suffix;
    return "";
}

/* sasl_entry - the sasl_passwd line a mailbox needs (key, login; token or a password) */
static void sasl_entry(const struct conf *c, const char *key, const char *login, char *out,
                       size_t len)
{
    if (doc_uses_oauth(c))
        snprintf(out, len, "%s %s:token:%s/%s", key, login, c->token_dir, login);
    else
        snprintf(out, len, "%s %s:PASSWORD", key, login);
}

/* describe - the login of an entry, and what it signs in with, without its secret
 * ("a password", or the token form with its file); 1 for a token, else 0 */
static int describe(const char *value, char *login, size_t loglen, char *how, size_t howlen)
{
    const char *colon = strchr(value, ':');

    snprintf(login, loglen, "%.*s", colon ? (int)(colon - value) : (int)strlen(value), value);
    if (colon && strncmp(colon + 1, "token", 5) == 0 && (colon[6] == '\0' || colon[6] == ':')) {
        snprintf(how, howlen, "%s", colon + 1);
        return 1;
    }
    snprintf(how, howlen, "%s", colon ? "a password" : "no password (no ':')");
    return 0;
}

/* check_sasl_entry - the map entry for key must sign in as login with what sendas.conf says */
static void check_sasl_entry(struct doc_report *r, const struct pf *P, const struct conf *c,
                             const char *maps, const char *name, const char *key, const char *alt,
                             const char *login, const char *why)
{
    char value[PF_VAL], bad[PF_VAL], fix[DOC_MAX_TEXT], entry[PF_VAL], file[PF_VAL], got[512];
    char what[PF_VAL];
    const char *mf = map_file(maps, file, sizeof(file)), *used = key;
    int rc, token;

    sasl_entry(c, key, login, entry, sizeof(entry));
    fmt(fix, sizeof(fix),
        "put `%s` in %s (one line per key), then `postmap %s` (`sendasctl "
        "postfix-config sasl_passwd` prints every entry)",
        entry, mf, maps);
    bad[0] = '\0';
    rc = lookup(P, maps, key, value, sizeof(value), bad, sizeof(bad));
    if (rc != 1 && alt && (used = alt) != NULL)
        rc = lookup(P, maps, alt, value, sizeof(value), bad, sizeof(bad));
    if (rc < 0 && bad[0]) {
        doc_add(r, DOC_FAIL, "postfix", name, fix,
                "cannot query %s (missing, not built "
                "with postmap, or not readable by this user: run doctor as root)",
                bad);
        return;
    }
    if (rc == 0) {
        doc_add(r, DOC_FAIL, "postfix", name, fix, "no entry for %s in %s: %s", key, maps, why);
        memset(value, 0, sizeof(value));
        return;
    }
    token = describe(value, got, sizeof(got), what, sizeof(what));
    memset(value, 0, sizeof(value)); /* a password is never shown, nor kept */
    if (strcasecmp(got, login) != 0) {
        doc_add(r, DOC_WARN, "postfix", name, fix, "%s signs in as %s, not as %s%s%s%s", key, got,
                login, used != key ? " (through the entry " : "", used != key ? used : "",
                used != key ? ")" : "");
        return;
    }
    if (token != doc_uses_oauth(c)) {
        doc_add(r, DOC_FAIL, "postfix", name, fix,
                "%s signs in as %s with %s, but sendas.conf "
                "%s",
                key, got, what, token ? "sets no oauth_* (passwords)" : "uses XOAUTH2 tokens");
        return;
    }
    doc_add(r, DOC_OK, "postfix", name, NULL, "%s signs in as %s with %s", key, got, what);
}

/* null_mailbox - the mailbox of the "route *" line (where sendas routes null-sender
 * notices), else the first one */
static const char *null_mailbox(const struct conf *c)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (c->routes[i].kind == ROUTE_ANY && c->routes[i].target == TARGET_MAILBOX)
            return c->routes[i].mailbox->address;
    return c->nmailboxes ? c->mailboxes[0].address : NULL;
}

/* check_map_mode - the files of a map holding passwords are not readable by other users
 * (the source, and the .db that hash: and btree: read) */
static void check_map_mode(struct doc_report *r, const char *maps)
{
    char file[PF_VAL], path[PF_VAL + 8], fix[DOC_MAX_TEXT];
    const char *mf = map_file(maps, file, sizeof(file)), *db = map_db(maps);
    struct stat st;

    for (int built = 0; built < 1 + (db[0] != '\0'); built++) {
        fmt(path, sizeof(path), "%s%s", mf, built ? db : "");
        if (stat(path, &st) < 0 || !(st.st_mode & 077))
            continue;
        fmt(fix, sizeof(fix), "chmod 600 %s%s%s%s", mf, db[0] ? " " : "", db[0] ? mf : "", db);
        doc_add(r, DOC_WARN, "postfix", "sasl_passwd mode", fix,
                "%s is mode %04o: other users can read the passwords", path,
                (unsigned)(st.st_mode & 07777));
        return;
    }
}

/* check_sasl - SMTP AUTH on, one entry per mailbox (keyed by the mailbox) and one for the
 * null sender (keyed by the next hop) */
static void check_sasl(struct doc_report *r, const struct pf *P, const struct conf *c)
{
    char maps[PF_VAL], fix[DOC_MAX_TEXT], name[64], host[PF_VAL];
    const char *nm;

    check_yes(r, P, "smtp_sasl_auth_enable", "Postfix never signs in (530 5.7.57)");
    check_yes(r, P, "smtp_sender_dependent_authentication",
              "Postfix signs every message in with the next hop's entry, not its mailbox's");
    if (pf_get(P, "smtp_sasl_password_maps", maps, sizeof(maps)) < 0)
        return;
    if (!maps[0]) {
        fix_pe(P, fix, sizeof(fix), "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd");
        doc_add(r, DOC_FAIL, "postfix", "smtp_sasl_password_maps", fix,
                "smtp_sasl_password_maps is empty: no mailbox can sign in");
        return;
    }
    if (!doc_uses_oauth(c))
        check_map_mode(r, maps);
    for (size_t i = 0; i < c->nmailboxes; i++) {
        const char *mb = c->mailboxes[i].address;

        if (doc_uses_oauth(c) && !doc_has_token(c, mb)) {
            snprintf(fix, sizeof(fix), "add %s to oauth_mailboxes in %s", mb, P->o->conf_path);
            snprintf(name, sizeof(name), "sasl %s", mb);
            doc_add(r, DOC_FAIL, "postfix", name, fix,
                    "%s is not in oauth_mailboxes: with "
                    "XOAUTH2 it cannot sign in",
                    mb);
            continue;
        }
        snprintf(name, sizeof(name), "sasl %s", mb);
        /* Postfix's sender lookup tries the address, then its @domain */
        check_sasl_entry(r, P, c, maps, name, mb, strchr(mb, '@'), mb,
                         "its mail is sent without its login");
    }
    if (!P->relayhost[0] || (nm = null_mailbox(c)) == NULL)
        return;
    /* Postfix looks the next hop up as written in relayhost, then the host name alone */
    snprintf(host, sizeof(host), "%s", P->relayhost[0] == '[' ? P->relayhost + 1 : P->relayhost);
    host[strcspn(host, "]:")] = '\0';
    check_sasl_entry(r, P, c, maps, "sasl null sender", P->relayhost, host, nm,
                     "Postfix's own notices (MAIL FROM:<>) cannot sign in");
}

/* plugin_dirs - where libsasl2 loads plugins from: $SASL_PATH (colon-separated, as libsasl2
 * reads it), else the distribution's directories; in out, colon-separated */
static void plugin_dirs(char *out, size_t len)
{
    static const char *const pats[] = {"/usr/lib/*/sasl2", "/usr/lib/sasl2", "/usr/lib64/sasl2",
                                       "/usr/local/lib/sasl2"};
    const char *env = getenv("SASL_PATH");
    size_t n = 0;

    out[0] = '\0';
    if (env && env[0]) {
        snprintf(out, len, "%s", env);
        return;
    }
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        glob_t g;

        if (glob(pats[i], GLOB_ONLYDIR, NULL, &g) != 0)
            continue;
        for (size_t k = 0; k < g.gl_pathc; k++) {
            int w = snprintf(out + n, len - n, "%s%s", n ? ":" : "", g.gl_pathv[k]);

            if (w < 0 || (size_t)w >= len - n) {
                out[n] = '\0';
                break;
            }
            n += (size_t)w;
        }
        globfree(&g);
    }
}

/* find_plugin - the directory holding lib<mech>.so among dirs, or NULL */
static const char *find_plugin(const char *dirs, const char *mech, char *dir, size_t len)
{
    char buf[PF_VAL], path[PF_VAL + 64], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", dirs);
    for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof(path), "%s/lib%s.so", d, mech);
        if (access(path, R_OK) == 0) {
            snprintf(dir, len, "%s", d);
            return dir;
        }
    }
    return NULL;
}

/* check_mechs - smtp_sasl_mechanism_filter fits password or token, and its plugins exist */
static void check_mechs(struct doc_report *r, const struct pf *P, const struct conf *c)
{
    char filter[PF_VAL], buf[PF_VAL], *w[PF_MAX_WORDS], fix[DOC_MAX_TEXT], dirs[PF_VAL];
    char found[DOC_MAX_TEXT], dir[PF_VAL];
    int oauth = doc_uses_oauth(c), xo = 0, pw = 0, other = 0;
    const char *want = oauth ? "xoauth2" : "login";
    size_t n, used = 0;
    int wr;

    if (pf_get(P, "smtp_sasl_mechanism_filter", filter, sizeof(filter)) < 0)
        return;
    snprintf(buf, sizeof(buf), "%s", filter);
    n = words(buf, w, PF_MAX_WORDS);
    for (size_t i = 0; i < n; i++) {
        if (w[i][0] == '!')
            continue; /* "!gssapi": an exclusion names no mechanism Postfix may use */
        if (strcasecmp(w[i], "xoauth2") == 0)
            xo = 1;
        else if (strcasecmp(w[i], "login") == 0 || strcasecmp(w[i], "plain") == 0)
            pw = 1;
        else
            other = 1;
    }
    fix_pe(P, fix, sizeof(fix), "smtp_sasl_mechanism_filter = %s", want);
    if (n == 0)
        doc_add(r, DOC_WARN, "postfix", "smtp_sasl_mechanism_filter", fix,
                "empty: Postfix picks any installed mechanism the server offers, not the one "
                "%s fits",
                oauth ? "a token" : "a password");
    else if (!oauth && xo)
        doc_add(r, DOC_FAIL, "postfix", "smtp_sasl_mechanism_filter", fix,
                "smtp_sasl_mechanism_filter = %s, but sendas.conf sets no oauth_*: the "
                "passwords go out as XOAUTH2 tokens (535 5.7.3 or \"no worthy mechs\")",
                filter);
    else if (oauth && !xo)
        doc_add(r, DOC_FAIL, "postfix", "smtp_sasl_mechanism_filter", fix,
                "smtp_sasl_mechanism_filter = %s, but sendas.conf uses XOAUTH2 tokens: the "
                "token entries go out as passwords (535 5.7.3)",
                filter);
    else if (other || (oauth && pw))
        doc_add(r, DOC_WARN, "postfix", "smtp_sasl_mechanism_filter", fix,
                "smtp_sasl_mechanism_filter = %s names more than %s", filter, want);
    else
        doc_add(r, DOC_OK, "postfix", "smtp_sasl_mechanism_filter", NULL,
                "smtp_sasl_mechanism_filter = %s fits %s", filter,
                oauth ? "XOAUTH2 tokens" : "passwords");

    plugin_dirs(dirs, sizeof(dirs));
    if (n == 0)
        w[n++] = (char *)want;
    found[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char mech[32];
        size_t k;

        for (k = 0; w[i][k] && k + 1 < sizeof(mech); k++)
            mech[k] = (char)tolower((unsigned char)w[i][k]);
        mech[k] = '\0';
        if (strcmp(mech, "xoauth2") != 0 && strcmp(mech, "login") != 0 &&
            strcmp(mech, "plain") != 0) /* also "!login": excluded, no plugin needed */
            continue;
        if (find_plugin(dirs, mech, dir, sizeof(dir)) == NULL) {
            if (strcmp(mech, "xoauth2") == 0)
                snprintf(fix, sizeof(fix),
                         "install sendas's XOAUTH2 plugin libxoauth2.so where "
                         "libsasl2 looks (the sendas package, or `make install` with "
                         "--prefix=/usr)");
            else
                snprintf(fix, sizeof(fix), "apt-get install libsasl2-modules (lib%s.so)", mech);
            doc_add(r, DOC_FAIL, "postfix", "sasl plugins", fix,
                    "lib%s.so for %s is not in "
                    "%s: Postfix cannot sign in (\"no worthy mechs\")",
                    mech, mech, dirs[0] ? dirs : "any SASL plugin directory");
            return;
        }
        wr = snprintf(found + used, sizeof(found) - used, "%slib%s.so in %s", used ? ", " : "",
                      mech, dir);
        if (wr > 0 && (size_t)wr < sizeof(found) - used)
            used += (size_t)wr;
    }
    if (used)
        doc_add(r, DOC_OK, "postfix", "sasl plugins", NULL, "%s", found);
}

/* check_internal_filter - Postfix's own notices pass the milter */
static void check_internal_filter(struct doc_report *r, const struct pf *P)
{
    char v[PF_VAL], fix[DOC_MAX_TEXT];

    if (pf_get(P, "internal_mail_filter_classes", v, sizeof(v)) < 0)
        return;
    fix_pe(P, fix, sizeof(fix), "internal_mail_filter_classes = bounce, notify");
    if (!has_word(v, "bounce"))
        doc_add(r, DOC_FAIL, "postfix", "internal_mail_filter_classes", fix,
                "internal_mail_filter_classes = %s: Postfix's own notices bypass sendas-milter "
                "and Exchange Online refuses their From: MAILER-DAEMON (550 5.7.60)",
                v[0] ? v : "(empty)");
    else if (!has_word(v, "notify"))
        doc_add(r, DOC_WARN, "postfix", "internal_mail_filter_classes", fix,
                "internal_mail_filter_classes = %s: notices to the postmaster bypass "
                "sendas-milter (550 5.7.60)",
                v);
    else
        doc_add(r, DOC_OK, "postfix", "internal_mail_filter_classes", NULL,
                "internal_mail_filter_classes = %s", v);
}

/* check_transport - at most 3 connections at once through transport t (Exchange Online's
 * limit per mailbox): its destination concurrency limit, or master.cf's maxproc */
static void check_transport(struct doc_report *r, const struct pf *P, const char *t,
                            const struct conf *c)
{
    char param[128], v[PF_VAL], fix[DOC_MAX_TEXT], name[64], cd[600];
    long lim = 0, maxproc = -1;
    int chrooted = 0;
    size_t q = strlen(P->qdir);

    snprintf(param, sizeof(param), "%s_destination_concurrency_limit", t);
    if (pf_get(P, param, v, sizeof(v)) < 0 || !v[0])
        pf_get(P, "default_destination_concurrency_limit", v, sizeof(v));
    lim = strtol(v, NULL, 10);
    for (size_t i = 0; i < P->nsv; i++)
        if (strcmp(P->sv[i].name, t) == 0 && strcmp(P->sv[i].type, "unix") == 0) {
            maxproc = P->sv[i].maxproc;
            chrooted = P->sv[i].chroot;
        }
    if (maxproc < 0 && pf_get(P, "default_process_limit", v, sizeof(v)) == 0)
        maxproc = strtol(v, NULL, 10);
    snprintf(name, sizeof(name), "concurrency %s", t);
    fix_pe(P, fix, sizeof(fix), "%s = 3", param);
    if ((lim > 0 && lim <= 3) || (maxproc > 0 && maxproc <= 3)) {
        long most = lim > 0 && lim <= 3 ? lim : maxproc;

        if (maxproc > 0 && maxproc < most)
            most = maxproc;
        doc_add(r, DOC_OK, "postfix", name, NULL,
                "%s = %ld, master.cf maxproc %ld: at most %ld connection%s at once (Exchange "
                "Online allows 3)",
                param, lim, maxproc, most, most == 1 ? "" : "s");
    }
    else
        doc_add(r, DOC_WARN, "postfix", name, fix,
                "%s = %ld, master.cf maxproc %ld: more than "
                "3 connections per mailbox get 432 4.3.2 (deferred)",
                param, lim, maxproc);
    /* the XOAUTH2 plugin reads the token files from inside smtp's jail */
    if (c && doc_uses_oauth(c) && chrooted &&
        (strncmp(c->token_dir, P->qdir, q) != 0 || c->token_dir[q] != '/')) {
        snprintf(name, sizeof(name), "chroot %s", t);
        fmt(fix, sizeof(fix),
            "run %s outside the jail: postconf%s -F '%s/unix/chroot = n'; postfix%s reload "
            "(or token_dir under %s)",
            t, cdir(P, cd, sizeof(cd)), t, cd, P->qdir);
        doc_add(r, DOC_FAIL, "postfix", name, fix,
                "%s runs chrooted in %s, but token_dir %s is outside it: the XOAUTH2 plugin "
                "cannot read the tokens",
                t, P->qdir, c->token_dir);
    }
}

/* check_concurrency - default_transport, every transport sender_dependent_default_
 * transport_maps gives a mailbox, and master.cf's sendas-* smtp services */
static void check_concurrency(struct doc_report *r, const struct pf *P, const struct conf *c)
{
    char t[PF_MAX_WORDS][64], v[PF_VAL], maps[PF_VAL], bad[PF_VAL];
    size_t nt = 0;

    if (pf_get(P, "default_transport", v, sizeof(v)) == 0 && v[0]) {
        v[strcspn(v, ":")] = '\0';
        fmt(t[nt++], sizeof(t[0]), "%s", v);
    }
    if (c && pf_get(P, "sender_dependent_default_transport_maps", maps, sizeof(maps)) == 0 &&
        maps[0])
        for (size_t i = 0; i < c->nmailboxes && nt < PF_MAX_WORDS; i++) {
            size_t k;

            if (lookup(P, maps, c->mailboxes[i].address, v, sizeof(v), bad, sizeof(bad)) != 1)
                continue;
            v[strcspn(v, ":")] = '\0';
            for (k = 0; k < nt && strcmp(t[k], v) != 0; k++)
                ;
            if (k == nt && v[0])
                fmt(t[nt++], sizeof(t[0]), "%s", v);
        }
    /* pacing transports of sendas's own (sendas-*) even when no map names them yet */
    for (size_t i = 0; i < P->nsv && nt < PF_MAX_WORDS; i++) {
        size_t k;

        if (strncmp(P->sv[i].name, "sendas-", 7) != 0 || strcmp(P->sv[i].command, "smtp") != 0)
            continue;
        for (k = 0; k < nt && strcmp(t[k], P->sv[i].name) != 0; k++)
            ;
        if (k == nt)
            snprintf(t[nt++], sizeof(t[0]), "%s", P->sv[i].name);
    }
    for (size_t i = 0; i < nt; i++)
        check_transport(r, P, t[i], c);
}

/* net_kind - for one mynetworks entry: 0 loopback/private and small, 1 a wide private
 * network, 2 public or not an address (a host name, a table), 3 everything (open relay) */
static int net_kind(const char *e, char *why, size_t whylen)
{
    char a[128];
    unsigned char ip[16];
    const char *slash = strchr(e, '/');
    long prefix;
    int v6;

    if (e[0] == '!') {
        snprintf(why, whylen, "an exclusion");
        return 0;
    }
    snprintf(a, sizeof(a), "%.*s", slash ? (int)(slash - e) : (int)strlen(e), e);
    if (a[0] == '[') {
        memmove(a, a + 1, strlen(a));
        a[strcspn(a, "]")] = '\0';
    }
    v6 = strchr(a, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, a, ip) != 1) {
        snprintf(why, whylen, "not an address: a host name, file or table doctor cannot judge");
        return 2;
    }
    prefix = slash ? strtol(slash + 1, NULL, 10) : v6 ? 128 : 32;
    if (!v6) {
        unsigned long n = (unsigned long)ip[0] << 24 | (unsigned long)ip[1] << 16 |
                          (unsigned long)ip[2] << 8 | ip[3];
        if (prefix >= 8 && ip[0] == 127)
            return 0;
        if (prefix >= 16 && ip[0] == 169 && ip[1] == 254)
            return 0; /* link-local: on this link only, never routed */
        if ((prefix >= 8 && ip[0] == 10) || (prefix >= 12 && (n & 0xfff00000UL) == 0xac100000UL) ||
            (prefix >= 16 && ip[0] == 192 && ip[1] == 168)) {
            if (prefix >= 16)
                return 0;
            snprintf(why, whylen, "%lu private addresses", 1UL << (32 - prefix));
            return 1;
        }
        if (prefix < 8) {
            snprintf(why, whylen, "all or most of the Internet: an open relay");
            return 3;
        }
        snprintf(why, whylen, "public addresses");
        return 2;
    }
    if (prefix == 128 && memcmp(ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0)
        return 0;
    if (prefix >= 104 && memcmp(ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f", 13) == 0)
        return 0; /* ::ffff:127.0.0.0/104, IPv4 loopback mapped */
    if (prefix >= 10 && ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80)
        return 0; /* fe80::/10, link-local: mynetworks_style's "[fe80::]/64" of an interface */
    if (prefix >= 7 && (ip[0] & 0xfe) == 0xfc) {
        if (prefix >= 48)
            return 0;
        snprintf(why, whylen, "a wide unique-local network");
        return 1;
    }
    if (prefix < 16) {
        snprintf(why, whylen, "all or most of the Internet: an open relay");
        return 3;
    }
    snprintf(why, whylen, "public addresses");
    return 2;
}

/* What check_mynetworks gathers: the entries that are fine, and what is wrong with others. */
struct nets {
    char bad[DOC_MAX_TEXT], keep[DOC_MAX_TEXT];
    size_t nb, nk;
    int worst;
};

/* nets_add - text appended to one of the nets' lists (a full list stays as it is) */
static void nets_add(char *list, size_t len, size_t *used, const char *text)
{
    int wr = snprintf(list + *used, len - *used, "%s%s", *used ? " " : "", text);

    if (wr > 0 && (size_t)wr < len - *used)
        *used += (size_t)wr;
}

/* nets_judge - one mynetworks entry (in file, when it came from one) into the lists */
static void nets_judge(struct nets *N, const char *e, const char *file)
{
    char why[128], text[DOC_MAX_TEXT];
    int k = net_kind(e, why, sizeof(why));

    if (k > N->worst)
        N->worst = k;
    if (k == 0) {
        if (file == NULL)
            nets_add(N->keep, sizeof(N->keep), &N->nk, e);
        return;
    }
    fmt(text, sizeof(text), "; %s%s%s is %s", e, file ? " in " : "", file ? file : "", why);
    nets_add(N->bad, sizeof(N->bad), &N->nb, text);
}

/* nets_file - the entries of a mynetworks pattern file ("/etc/postfix/network_table":
 * Postfix reads its words, '#' to the end of a line a comment); 0, or -1 unreadable */
static int nets_file(struct nets *N, const char *path)
{
    char *buf = malloc(PF_VAL * 4), *w[PF_MAX_WORDS], *p, *save = NULL;
    FILE *f = fopen(path, "r");
    size_t n = 0, nw = 0;
    int before = N->worst;

    if (f && buf)
        n = fread(buf, 1, PF_VAL * 4 - 1, f);
    if (f == NULL || buf == NULL || ferror(f)) {
        if (f)
            fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    buf[n] = '\0';
    N->worst = 0;
    for (p = strtok_r(buf, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
        p[strcspn(p, "#")] = '\0';
        nw = words(p, w, PF_MAX_WORDS);
        for (size_t i = 0; i < nw; i++)
            nets_judge(N, w[i], path);
    }
    free(buf);
    if (N->worst == 0) /* all fine: the fix keeps the file */
        nets_add(N->keep, sizeof(N->keep), &N->nk, path);
    N->worst = N->worst > before ? N->worst : before;
    return 0;
}

/* check_mynetworks - who may relay: listed, with what is beyond loopback and private ranges */
static void check_mynetworks(struct doc_report *r, const struct pf *P)
{
    char v[PF_VAL], buf[PF_VAL], set[PF_VAL], style[256], *w[PF_MAX_WORDS];
    char fix[DOC_MAX_TEXT], line[DOC_MAX_TEXT], text[DOC_MAX_TEXT];
    struct nets *N = calloc(1, sizeof(*N));
    char *bad, *keep;
    size_t n, nk;
    int worst;

    if (N == NULL || pf_get(P, "mynetworks", v, sizeof(v)) < 0) {
        free(N);
        return;
    }
    doc_postconf_args(P->o, "-nh", "mynetworks", set, sizeof(set));
    snprintf(buf, sizeof(buf), "%s", v);
    n = words(buf, w, PF_MAX_WORDS);
    for (size_t i = 0; i < n; i++) {
        if (w[i][0] == '/' && nets_file(N, w[i]) == 0)
            continue;
        if (w[i][0] == '/') {
            N->worst = N->worst > 2 ? N->worst : 2;
            fmt(text, sizeof(text), "; %s cannot be read (run doctor as root)", w[i]);
            nets_add(N->bad, sizeof(N->bad), &N->nb, text);
            continue;
        }
        nets_judge(N, w[i], NULL);
    }
    bad = N->bad, keep = N->keep, nk = N->nk, worst = N->worst;
    fix_pe(P, line, sizeof(line), "mynetworks = %s APP-HOST/32", nk ? keep : "127.0.0.0/8");
    fmt(fix, sizeof(fix), "%s (APP-HOST: each application host, one address each)", line);
    if (!set[0]) {
        pf_get(P, "mynetworks_style", style, sizeof(style));
        doc_add(r, worst >= 3 ? DOC_FAIL : DOC_WARN, "postfix", "mynetworks", fix,
                "not set: derived from mynetworks_style = %s: %s%s", style, v[0] ? v : "(empty)",
                bad);
        free(N);
        return;
    }
    doc_add(r,
            worst >= 3 ? DOC_FAIL
            : worst    ? DOC_WARN
                       : DOC_OK,
            "postfix", "mynetworks", worst ? fix : NULL, "mynetworks = %s%s", v[0] ? v : "(empty)",
            bad);
    free(N);
}

/* proto_index - SSLv2 0, SSLv3 1, TLSv1 2, TLSv1.1 3, TLSv1.2 4, TLSv1.3 5; -1 unknown */
static int proto_index(const char *p)
{
    static const char *const names[] = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};

    for (int i = 0; i < 6; i++)
        if (strcasecmp(p, names[i]) == 0)
            return i;
    return -1;
}

/* check_tls - TLS required to the next hop, and no protocol older than TLS 1.2 */
static void check_tls(struct doc_report *r, const struct pf *P)
{
    static const char *const strong[] = {"encrypt", "secure", "verify", "dane-only", "fingerprint"};
    char level[PF_VAL], v[PF_VAL], buf[PF_VAL], fix[DOC_MAX_TEXT], *w[PF_MAX_WORDS];
    char maps[PF_VAL], bad[PF_VAL], via[PF_VAL + 64] = "", c[600];
    int on[6] = {1, 1, 1, 1, 1, 1}, listed = 0, mandatory = 0, old = 0, lo = 0, hi = 5;
    const char *param;
    size_t n;

    if (pf_get(P, "smtp_tls_security_level", level, sizeof(level)) < 0)
        return;
    fix_pe(P, fix, sizeof(fix), "smtp_tls_security_level = encrypt");
    /* an smtp_tls_policy_maps entry for the next hop wins over main.cf's level */
    if (P->relayhost[0] && pf_get(P, "smtp_tls_policy_maps", maps, sizeof(maps)) == 0 && maps[0] &&
        lookup(P, maps, P->relayhost, v, sizeof(v), bad, sizeof(bad)) == 1) {
        snprintf(level, sizeof(level), "%.*s", (int)strcspn(v, " \t"), v);
        fmt(via, sizeof(via), " (smtp_tls_policy_maps %s: %s)", maps, P->relayhost);
        fmt(fix, sizeof(fix), "put `%s encrypt` in %s, then `postmap%s %s`", P->relayhost,
            map_file(maps, buf, sizeof(buf)), cdir(P, c, sizeof(c)), maps);
    }
    for (size_t i = 0; i < sizeof(strong) / sizeof(strong[0]); i++)
        mandatory |= strcasecmp(level, strong[i]) == 0;
    if (mandatory)
        doc_add(r, DOC_OK, "postfix", "smtp_tls_security_level", NULL,
                "smtp_tls_security_level = %s%s: TLS required", level, via);
    else
        doc_add(r, DOC_WARN, "postfix", "smtp_tls_security_level", fix,
                "smtp_tls_security_level = %s%s: TLS is not required (Exchange Online offers "
                "AUTH only after STARTTLS)",
                level[0] ? level : "(empty)", via);

    param = mandatory ? "smtp_tls_mandatory_protocols" : "smtp_tls_protocols";
    if (pf_get(P, param, v, sizeof(v)) < 0)
        return;
    snprintf(buf, sizeof(buf), "%s", v);
    n = words(buf, w, PF_MAX_WORDS);
    for (size_t i = 0; i < n; i++) {
        const char *p = w[i];
        int k;

        if (strncmp(p, ">=", 2) == 0 && (k = proto_index(p + 2)) >= 0)
            lo = k;
        else if (strncmp(p, "<=", 2) == 0 && (k = proto_index(p + 2)) >= 0)
            hi = k;
        else if (p[0] == '!' && (k = proto_index(p + 1)) >= 0)
            on[k] = 0;
        else if ((k = proto_index(p)) >= 0) {
            if (!listed)
                memset(on, 0, sizeof(on));
            listed = 1;
            on[k] = 1;
        }
    }
    for (int k = 0; k < 6; k++)
        if (k < lo || k > hi)
            on[k] = 0;
    old = on[0] || on[1] || on[2] || on[3];
    fix_pe(P, fix, sizeof(fix), "%s = >=TLSv1.2", param);
    if (!on[4] && !on[5])
        doc_add(r, DOC_FAIL, "postfix", param, fix, "%s = %s leaves neither TLSv1.2 nor TLSv1.3",
                param, v[0] ? v : "(empty)");
    else if (old)
        doc_add(r, DOC_WARN, "postfix", param, fix,
                "%s = %s allows protocols older than "
                "TLSv1.2 (Exchange Online refuses them: 421 4.7.66)",
                param, v[0] ? v : "(empty)");
    else
        doc_add(r, DOC_OK, "postfix", param, NULL, "%s = %s", param, v);
}

/* doc_pf_asks_policy - see doctor_local.h */
int doc_pf_asks_policy(const struct doc_opts *o)
{
    static const char *const lists[] = {"smtpd_recipient_restrictions",
                                        "smtpd_end_of_data_restrictions"};
    struct pf P = {.o = o};
    char v[PF_VAL];

    for (size_t i = 0; i < 2; i++) {
        if (pf_get(&P, lists[i], v, sizeof(v)) < 0)
            return -1;
        if (has_word(v, "check_policy_service"))
            return 1;
    }
    return 0;
}

/* doctor_postfix - see doctor_local.h */
void doctor_postfix(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    struct pf *P = calloc(1, sizeof(*P));
    char fix[DOC_MAX_TEXT];

    if (P == NULL) {
        doc_add(r, DOC_FAIL, "postfix", "postconf", "retry with more memory", "out of memory");
        return;
    }
    P->o = o;
    if (pf_get(P, "queue_directory", P->qdir, sizeof(P->qdir)) < 0 || !P->qdir[0] ||
        load_master(P) < 0) {
        snprintf(fix, sizeof(fix), "install Postfix (apt-get install postfix)%s%s%s",
                 o->postfix_dir ? ", or name its configuration directory: --postfix-dir " : "",
                 o->postfix_dir ? "DIR, not " : "", o->postfix_dir ? o->postfix_dir : "");
        doc_add(r, DOC_FAIL, "postfix", "postconf", fix,
                "`postconf%s%s` cannot read Postfix's "
                "configuration",
                o->postfix_dir ? " -c " : "", o->postfix_dir ? o->postfix_dir : "");
        free(P->params);
        free(P);
        return;
    }
    squash(P->qdir);
    check_relayhost(r, P);
    if (c) {
        const struct endpoint eps[] = {
            {"smtpd_milters", NULL, "smtpd", c->milter_socket, "sendas-milter", "milter_socket",
             "milter.sock", DOC_FAIL},
            {"non_smtpd_milters", NULL, "cleanup", c->milter_socket, "sendas-milter",
             "milter_socket", "milter.sock", DOC_FAIL},
            {"smtpd_recipient_restrictions", "check_policy_service", "smtpd", c->policy_socket,
             "sendas-policyd", "policy_socket", "policy.sock", DOC_WARN},
            {"smtpd_end_of_data_restrictions", "check_policy_service", "smtpd", c->policy_socket,
             "sendas-policyd", "policy_socket", "policy.sock", DOC_WARN},
        };

        for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++)
            check_endpoint(r, P, &eps[i]);
        check_milter_action(r, P);
        check_no_milters(r, P);
        check_sasl(r, P, c);
        check_mechs(r, P, c);
    }
    check_internal_filter(r, P);
    check_concurrency(r, P, c);
    check_mynetworks(r, P);
    check_tls(r, P);
    free(P->params);
    free(P);
}
