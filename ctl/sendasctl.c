/* SPDX-License-Identifier: MIT */
/*
 * sendasctl - the administrator's command: dry runs and reports.
 *
 *   sendasctl test [-c FILE] --from ADDR [--header-from VALUE | --no-from]
 *                  [--header 'Name: value' ...] [--client IP] [--sasl LOGIN]
 *                  [--non-smtp] [--smtputf8]
 *
 *   sendasctl quota [-c FILE] [MAILBOX]
 *
 *   sendasctl postfix-config [-c FILE] [--snippets DIR] [main.cf|master.cf|sasl_passwd]
 *
 *   sendasctl audit [--since TIME] [--until TIME] [--log FILE ...] [--maillog FILE ...]
 *                   [--format table|json|csv|html]
 *
 * `test` runs the very engine code sendas-milter runs (route selection and
 * rw_plan_message) and prints what the milter would do, so a dry run can be
 * trusted.  `quota` reads sendas-policyd's counters (state_dir) and prints
 * each mailbox's usage against its limits and when each window frees up.
 * `postfix-config` prints the shipped Postfix snippets ($(pkgdatadir)/postfix)
 * with this configuration's sockets, and the sasl_passwd entries it needs: with
 * oauth_* set, XOAUTH2 and the token file of each mailbox instead of passwords.
 * `audit` summarises the audit log and Exchange Online's answers in the mail
 * log per sender (ctl/audit.c, ctl/auditout.c).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auditrep.h"
#include "conf.h"
#include "quota.h"
#include "rewrite.h"
#include "store.h"
#include "oauthsetup.h"
#include "token.h"

#define EXIT_REFUSED 3

/* print_value - show a folded value with visible continuation lines */
static void print_value(const char *v)
{
    for (; *v; v++) {
        if (*v == '\n')
            fputs("\n              ", stdout);
        else
            putchar(*v);
    }
    putchar('\n');
}

/* add_header_arg - "Name: value" from the command line into the message */
static int add_header_arg(struct rw_msg *m, const char *arg, size_t max)
{
    const char *colon = strchr(arg, ':');
    char name[128];
    const char *v;
    size_t n;

    if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(name)) {
        fprintf(stderr, "sendasctl: --header \"%s\": expected \"Name: value\"\n", arg);
        return -1;
    }
    n = (size_t)(colon - arg);
    memcpy(name, arg, n);
    name[n] = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    return rw_msg_add_header(m, name, v, strlen(v), max);
}

/* cmd_test - the dry run */
static int cmd_test(const char *conf_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},   {"header-from", required_argument, NULL, 'F'},
        {"no-from", no_argument, NULL, 'N'},      {"header", required_argument, NULL, 'H'},
        {"client", required_argument, NULL, 'a'}, {"sasl", required_argument, NULL, 's'},
        {"non-smtp", no_argument, NULL, 'l'},     {"smtputf8", no_argument, NULL, 'u'},
        {"config", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *hfrom = NULL, *client = NULL, *sasl = NULL;
    const char *headers[64];
    size_t nheaders = 0, i;
    int ch, no_from = 0, non_smtp = 0, utf8 = 0, rc;
    char err[CONF_ERRLEN], env[1024];
    struct conf *c;
    struct rw_msg m;
    struct rw_plan p;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conf_path = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 'F':
            hfrom = optarg;
            break;
        case 'N':
            no_from = 1;
            break;
        case 'H':
            if (nheaders >= sizeof(headers) / sizeof(headers[0])) {
                fprintf(stderr, "sendasctl: too many --header options\n");
                return 2;
            }
            headers[nheaders++] = optarg;
            break;
        case 'a':
            client = optarg;
            break;
        case 's':
            sasl = optarg;
            break;
        case 'l':
            non_smtp = 1;
            break;
        case 'u':
            utf8 = 1;
            break;
        default:
            return 2;
        }
    }
    if (from == NULL) {
        fprintf(stderr, "sendasctl test: --from ADDR is required (use --from '' for the null sender)\n");
        return 2;
    }
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    snprintf(env, sizeof(env), "<%s>", from);
    rw_msg_init(&m);
    m.env_sender = env;
    m.trace_name = c->trace_header;
    m.client_addr = client;
    m.sasl_login = sasl;
    m.non_smtp = non_smtp;
    m.smtputf8 = utf8;
    rc = 0;
    if (!no_from && hfrom == NULL && *from)
        rc = rw_msg_add_header(&m, "From", from, strlen(from), c->max_header_bytes);
    else if (!no_from && hfrom)
        rc = rw_msg_add_header(&m, "From", hfrom, strlen(hfrom), c->max_header_bytes);
    for (i = 0; i < nheaders && rc == 0; i++)
        rc = add_header_arg(&m, headers[i], c->max_header_bytes);
    if (rc < 0) {
        rw_msg_reset(&m);
        conf_free(c);
        return 1;
    }
    rw_plan_message(c, &m, &p);
    printf("route:        %s", p.route ? p.route->text : "(none)");
    if (p.route)
        printf(" (%s line %d)", c->path, p.route->line);
    printf("\nmailbox:      %s\n", p.mailbox ? p.mailbox->address : "-");
    printf("action:       %s\n", rw_plan_outcome(&p));
    printf("reason:       %s\n", p.reason);
    if (p.action == RW_REJECT || p.action == RW_TEMPFAIL)
        printf("reply:        %s %s %s\n", p.rcode, p.xcode, p.text);
    if (p.new_env_sender)
        printf("envelope:     <%s> -> %s\n", p.orig_env ? p.orig_env : "", p.new_env_sender);
    else
        printf("envelope:     <%s> (unchanged)\n", p.orig_env ? p.orig_env : "");
    for (i = 0; i < p.nops; i++) {
        const struct rw_op *op = &p.ops[i];

        switch (op->kind) {
        case RW_OP_CHANGE:
            printf("change:       %s[%d]: ", op->name, op->index);
            print_value(op->value);
            break;
        case RW_OP_DELETE:
            printf("delete:       %s[%d]\n", op->name, op->index);
            break;
        case RW_OP_ADD:
            printf("add:          %s: ", op->name);
            print_value(op->value);
            break;
        }
    }
    rc = p.action == RW_REJECT || p.action == RW_TEMPFAIL ? EXIT_REFUSED : 0;
    rw_plan_free(&p);
    rw_msg_reset(&m);
    conf_free(c);
    return rc;
}

/* What cmd_quota prints, per mailbox. */
struct quota_show {
    const struct conf *c;
    const char *only; /* one mailbox, or NULL */
    int64_t now;
    int shown;
};

/* show_window - one limit: "used/limit", when one more fits, when it is empty */
static void show_window(const char *what, struct window *w, unsigned long long limit,
                        unsigned headroom, int64_t now)
{
    unsigned long long eff = quota_effective(limit, headroom);
    uint64_t used = window_total(w, now);
    char next[40], empty[40];
    int64_t at;

    if (eff == 0) {
        printf("  %-18s %llu (no limit)\n", what, (unsigned long long)used);
        return;
    }
    at = window_free_at(w, now, eff, 1);
    if (at == now)
        snprintf(next, sizeof(next), "now");
    else
        quota_format_time(at, next, sizeof(next));
    if (used == 0)
        snprintf(empty, sizeof(empty), "-");
    else
        quota_format_time(window_empty_at(w, now), empty, sizeof(empty));
    printf("  %-18s %llu/%llu (%u%% of %llu)  next free: %s  empty: %s%s\n", what,
           (unsigned long long)used, eff, headroom, limit, next, empty,
           used >= eff ? "  FULL" : "");
}

/* show_mailbox - the block of one mailbox */
static void show_mailbox(struct quota_show *q, const char *mailbox, struct quota_counters *qc)
{
    const struct conf *c = q->c;
    int declared = 0;
    size_t i;

    for (i = 0; i < c->nmailboxes; i++)
        if (strcmp(c->mailboxes[i].address, mailbox) == 0)
            declared = 1;
    printf("%s%s\n", mailbox, declared ? "" : "  (no longer declared in the configuration)");
    show_window("messages/minute", &qc->msgs, c->limit_messages_per_minute, c->limit_headroom,
                q->now);
    show_window("recipients/24h", &qc->rcpts, c->limit_recipients_per_day, c->limit_headroom,
                q->now);
    q->shown++;
}

/* quota_each - store_each callback */
static int quota_each(void *arg, const char *mailbox, struct quota_counters *qc)
{
    struct quota_show *q = arg;

    if (q->only == NULL || strcasecmp(q->only, mailbox) == 0)
        show_mailbox(q, mailbox, qc);
    return 0;
}

/* cmd_quota - usage of every mailbox (declared ones without usage too) */
static int cmd_quota(const char *conf_path, int argc, char **argv)
{
    char err[CONF_ERRLEN];
    struct quota_show q;
    struct timespec ts;
    struct store *st;
    struct conf *c;
    size_t i;

    if (argc > 2) {
        fprintf(stderr, "usage: sendasctl [-c FILE] quota [MAILBOX]\n");
        return 2;
    }
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    if ((st = store_sqlite_open(c->state_dir, STORE_RDONLY, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        conf_free(c);
        return 1;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    memset(&q, 0, sizeof(q));
    q.c = c;
    q.only = argc == 2 ? argv[1] : NULL;
    q.now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    store_each(st, quota_each, &q);
    /* declared mailboxes with nothing counted yet */
    for (i = 0; i < c->nmailboxes; i++) {
        struct quota_counters empty;
        const char *a = c->mailboxes[i].address;

        if (store_get(st, a, 0) || (q.only && strcasecmp(q.only, a) != 0))
            continue;
        if (quota_counters_init(&empty) < 0)
            break;
        show_mailbox(&q, a, &empty);
        quota_counters_free(&empty);
    }
    if (q.only && q.shown == 0)
        fprintf(stderr, "sendasctl: %s: no such mailbox in %s or %s\n", q.only, conf_path,
                c->state_dir);
    store_close(st);
    conf_free(c);
    return q.only && q.shown == 0 ? 1 : 0;
}

/* postfix_socket - a libmilter socket spec in Postfix's syntax; a unix socket in Postfix's
 * queue directory becomes chroot-relative, as a chrooted smtpd/cleanup sees it */
static void postfix_socket(const char *spec, char *out, size_t outlen)
{
    const char *at, *path = NULL;
    int v6 = strncmp(spec, "inet6:", 6) == 0;

    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0)
        path = strchr(spec, ':') + 1;
    else if (spec[0] == '/')
        path = spec;
    if (path) {
        static const char spool[] = "/var/spool/postfix/";

        if (strncmp(path, spool, sizeof(spool) - 1) == 0)
            path += sizeof(spool) - 2;
        snprintf(out, outlen, "unix:%s", path);
    } else if ((strncmp(spec, "inet:", 5) == 0 || v6) && (at = strchr(spec, '@')) != NULL) {
        const char *port = spec + (v6 ? 6 : 5);

        snprintf(out, outlen, v6 ? "inet:[%s]:%.*s" : "inet:%s:%.*s", at + 1,
                 (int)(at - port), port);
    } else {
        snprintf(out, outlen, "%s", spec);
    }
}

/* print_snippet - a shipped snippet with the socket placeholders replaced, and with oauth
 * the XOAUTH2 mechanism instead of LOGIN; -1 when unreadable */
static int print_snippet(const char *dir, const char *name, const char *milter,
                         const char *policy, int oauth, unsigned long rcpt_limit)
{
    /*
     * Postfix's recipient caps follow limit_recipients_per_message: with a
     * higher smtpd_recipient_limit each extra recipient gets the policy
     * service's 452, counted as an error, and at the 21st the session ends
     * with nothing queued (issue 9, finding 12).
     */
    static const char *const rcpt_params[] = {"smtpd_recipient_limit = ",
                                              "exo_destination_recipient_limit = "};
    size_t k;
    static const char mph[] = "unix:/run/sendas/milter.sock", pph[] = "unix:/run/sendas/policy.sock";
    static const char login[] = "smtp_sasl_mechanism_filter = login\n";
    char path[4096], line[4096];
    int filtered = 0;
    FILE *f;

    if ((size_t)snprintf(path, sizeof(path), "%s/postfix/%s", dir, name) >= sizeof(path) ||
        (f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "sendasctl: cannot read %s/postfix/%s (--snippets DIR)\n", dir, name);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *hit;

        if (oauth && strcmp(line, login) == 0) {
            fputs("# sendas.conf sets oauth_*: XOAUTH2 with sendas-tokend's tokens (libxoauth2.so)\n"
                  "smtp_sasl_mechanism_filter = xoauth2\n",
                  stdout);
            filtered = 1;
            continue;
        }

        for (k = 0; rcpt_limit && k < sizeof(rcpt_params) / sizeof(rcpt_params[0]); k++)
            if (strncmp(line, rcpt_params[k], strlen(rcpt_params[k])) == 0)
                break;
        if (rcpt_limit && k < sizeof(rcpt_params) / sizeof(rcpt_params[0])) {
            printf("%s%lu\n", rcpt_params[k], rcpt_limit);
            continue;
        }

        /* comments keep the placeholders: they explain what is substituted */
        while (line[0] != '#' && (hit = strstr(p, "unix:/run/sendas/")) != NULL) {
            fwrite(p, 1, (size_t)(hit - p), stdout);
            if (strncmp(hit, mph, sizeof(mph) - 1) == 0) {
                fputs(milter, stdout);
                p = hit + sizeof(mph) - 1;
            } else if (strncmp(hit, pph, sizeof(pph) - 1) == 0) {
                fputs(policy, stdout);
                p = hit + sizeof(pph) - 1;
            } else {
                fputs("unix:/run/sendas/", stdout);
                p = hit + 17;
            }
        }
        fputs(p, stdout);
    }
    fclose(f);
    /* a snippet of another origin (--snippets) without the line: the filter still matters */
    if (oauth && !filtered && strcmp(name, "main.cf") == 0)
        fputs("# sendas.conf sets oauth_*: XOAUTH2 with sendas-tokend's tokens (libxoauth2.so)\n"
              "smtp_sasl_mechanism_filter = xoauth2\n",
              stdout);
    return 0;
}

/* uses_oauth - does sendas.conf set up sendas-tokend?  (oauth_client_id, which it
 * requires, as for sendasctl token) */
static int uses_oauth(const struct conf *c)
{
    return c->oauth_client_id != NULL;
}

/* has_token - does sendas-tokend write a token for this mailbox? */
static int has_token(const struct conf *c, const char *mailbox)
{
    size_t i;

    if (c->oauth_mailboxes == NULL)
        return 1; /* tokend's default: every declared mailbox */
    for (i = 0; c->oauth_mailboxes[i]; i++)
        if (strcasecmp(c->oauth_mailboxes[i], mailbox) == 0)
            return 1;
    return 0;
}

#define POSTFIX_QUEUE_DIR "/var/spool/postfix" /* Debian's queue_directory, smtp's chroot */

/* print_sasl_entry - one sasl_passwd line: the token file sendas-tokend writes for the login
 * (the plugin's "token:/PATH" form, which follows token_dir), or a password to fill in */
static void print_sasl_entry(const struct conf *c, const char *key, const char *login, int oauth)
{
    if (oauth)
        printf("%s %s:token:%s/%s\n", key, login, c->token_dir, login);
    else
        printf("%s %s:PASSWORD\n", key, login);
}

/* print_sasl_passwd - the sasl_passwd entries of every mailbox, and of the null sender */
static void print_sasl_passwd(const struct conf *c, const char *conf_path)
{
    const char *fallback = NULL;
    int oauth = uses_oauth(c);
    size_t i;

    printf("# One entry per mailbox of %s, keyed by the mailbox: sendas-milter sets the\n"
           "# envelope sender to the mailbox, and Postfix picks the login by it\n"
           "# (smtp_sender_dependent_authentication).\n",
           conf_path);
    if (oauth)
        printf("# XOAUTH2 (oauth_* in sendas.conf): no secrets here, only the token file\n"
               "# sendas-tokend keeps for each mailbox (token_dir %s).  Then:\n"
               "#   postmap hash:/etc/postfix/sasl_passwd\n",
               c->token_dir);
    /* Debian's master.cf runs smtp chrooted in the queue directory, where the plugin looks */
    if (oauth && strncmp(c->token_dir, POSTFIX_QUEUE_DIR "/", sizeof(POSTFIX_QUEUE_DIR)) != 0) {
        printf("# token_dir %s is outside " POSTFIX_QUEUE_DIR ": only an smtp that is not\n"
               "# chrooted (master.cf chroot column n) can read the token files\n",
               c->token_dir);
        fprintf(stderr,
                "sendasctl: token_dir %s is outside " POSTFIX_QUEUE_DIR ": a chrooted smtp "
                "(master.cf chroot column y, Debian's default) cannot read the tokens\n",
                c->token_dir);
    }
    else
        printf("# Put in each password (Basic authentication; sendas.conf's oauth_* settings\n"
               "# switch to XOAUTH2), then:\n"
               "#   chmod 600 /etc/postfix/sasl_passwd; postmap hash:/etc/postfix/sasl_passwd\n");
    for (i = 0; i < c->nmailboxes; i++) {
        const char *a = c->mailboxes[i].address;

        if (!oauth || has_token(c, a)) {
            print_sasl_entry(c, a, a, oauth);
            if (fallback == NULL)
                fallback = a;
            continue;
        }
        /* the mechanism filter is global: with xoauth2 a password cannot sign in */
        printf("# %s is not in oauth_mailboxes: sendas-tokend keeps no token for it and\n"
               "# smtp_sasl_mechanism_filter = xoauth2 leaves no way to sign in with a password\n"
               "#%s %s:PASSWORD\n",
               a, a, a);
        fprintf(stderr,
                "sendasctl: %s is not in oauth_mailboxes: Postfix cannot sign in as it with "
                "XOAUTH2 (add it to oauth_mailboxes)\n",
                a);
    }
    if (fallback) {
        printf("# mail whose sender has no entry above (bounces: the null sender)\n");
        print_sasl_entry(c, "[smtp.office365.com]:587", fallback, oauth);
    }
}

/* cmd_postfix_config - Postfix's lines for this sendas.conf: main.cf, master.cf, sasl_passwd */
static int cmd_postfix_config(const char *conf_path, int argc, char **argv)
{
    static const struct option opts[] = {
        {"snippets", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = SENDAS_DATADIR, *what = NULL;
    char err[CONF_ERRLEN], milter[1024], policy[1024];
    struct conf *c;
    int ch, rc = 0, all;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:s:", opts, NULL)) != -1) {
        if (ch == 'c')
            conf_path = optarg;
        else if (ch == 's')
            dir = optarg;
        else
            return 2;
    }
    if (optind < argc)
        what = argv[optind++];
    if (optind < argc || (what && strcmp(what, "main.cf") != 0 && strcmp(what, "master.cf") != 0 &&
                          strcmp(what, "sasl_passwd") != 0)) {
        fprintf(stderr, "sendasctl: postfix-config [main.cf | master.cf | sasl_passwd]\n");
        return 2;
    }
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    postfix_socket(c->milter_socket, milter, sizeof(milter));
    postfix_socket(c->policy_socket, policy, sizeof(policy));
    all = what == NULL;
    if (all)
        printf("# ==== add to /etc/postfix/main.cf (from %s/postfix/main.cf and %s)\n", dir,
               conf_path);
    if ((all || strcmp(what, "main.cf") == 0) &&
        print_snippet(dir, "main.cf", milter, policy, uses_oauth(c),
                      c->limit_recipients_per_message) < 0)
        rc = 1;
    if (all)
        printf("\n# ==== add to /etc/postfix/master.cf\n");
    if ((all || strcmp(what, "master.cf") == 0) &&
        print_snippet(dir, "master.cf", milter, policy, uses_oauth(c), 0) < 0)
        rc = 1;
    if (all)
        printf("\n# ==== /etc/postfix/sasl_passwd\n");
    if (all || strcmp(what, "sasl_passwd") == 0)
        print_sasl_passwd(c, conf_path);
    conf_free(c);
    return rc;
}

/* usage - the synopsis of every subcommand */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: sendasctl [-c FILE] COMMAND [ARGS]\n"
            "  test --from ADDR [--header-from VALUE | --no-from] [--header 'Name: value' ...]\n"
            "       [--client IP] [--sasl LOGIN] [--non-smtp] [--smtputf8]\n"
            "       show the route, mailbox and exact changes sendas-milter would make\n"
            "       (exit 0: accepted, 3: refused, 1: error)\n"
            "  quota [MAILBOX]\n"
            "       sendas-policyd's counters: messages in the last minute and recipients in\n"
            "       the last 24 hours of each mailbox, its limits, and when each frees up\n"
            "  check  check the configuration file: errors exit 1; warnings (accepted, but\n"
            "         surely mistakes) are printed and exit 0\n"
            "  postfix-config [--snippets DIR] [main.cf | master.cf | sasl_passwd]\n"
            "       the Postfix lines for this configuration: the shipped snippets with its\n"
            "       sockets, and a sasl_passwd entry per mailbox (default: all three)\n"
            "  audit [--since TIME] [--until TIME] [--log FILE ...] [--maillog FILE ...]\n"
            "        [--journal | --no-maillog] [--format table|json|csv|html]\n"
            "       per sender: what sendas decided (audit log) and what Exchange Online\n"
            "       answered (Postfix's mail log, rotated and .gz files too, or the journal),\n"
            "       with advice\n"
            "  token [--fetch] [MAILBOX]\n"
            "       each mailbox's OAuth token (sendas-tokend): expires in, last refresh, last\n"
            "       error; --fetch asks for one token and shows Microsoft's answer\n"
            "default configuration: %s\n",
            SENDAS_CONF);
}

int main(int argc, char **argv)
{
    const char *conf_path = SENDAS_CONF;
    char err[CONF_ERRLEN];
    struct conf *c;
    int i = 1;

    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        conf_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[i], "test") == 0)
        return cmd_test(conf_path, argc - i, argv + i);
    if (strcmp(argv[i], "quota") == 0)
        return cmd_quota(conf_path, argc - i, argv + i);
    if (strcmp(argv[i], "token") == 0)
        return cmd_token(conf_path, argc - i, argv + i);
    if (strcmp(argv[i], "audit") == 0)
        return cmd_audit(conf_path, argc - i, argv + i);
    if (strcmp(argv[i], "postfix-config") == 0)
        return cmd_postfix_config(conf_path, argc - i, argv + i);
    if (strcmp(argv[i], "check") == 0) {
        if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
            fprintf(stderr, "sendasctl: %s\n", err);
            return 1;
        }
        /* warnings do not change the exit status: the daemons accept the file (and log them) */
        for (size_t w = 0; w < c->nwarnings; w++)
            fprintf(stderr, "sendasctl: warning: %s\n", c->warnings[w]);
        /* sendas-tokend's own start-up checks, when it is configured */
        if (oauthsetup_wanted(c) &&
            oauthsetup_check(c, conf_path, oauthsetup_service_user(c), err, sizeof(err)) < 0) {
            fprintf(stderr, "sendasctl: %s\n", err);
            conf_free(c);
            return 1;
        }
        printf("%s: configuration OK: %zu mailboxes, %zu routes", conf_path, c->nmailboxes,
               c->nroutes);
        if (c->nwarnings)
            printf(", %zu warning%s", c->nwarnings, c->nwarnings == 1 ? "" : "s");
        putchar('\n');
        conf_free(c);
        return 0;
    }
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sendasctl: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
