/* SPDX-License-Identifier: MIT */
/*
 * cmd_postfix_config - `sendasctl postfix-config`: prints the shipped Postfix
 * snippets ($(pkgdatadir)/postfix) with this configuration's sockets, and the
 * sasl_passwd entries it needs: with oauth_* set, XOAUTH2 and the token file of
 * each mailbox instead of passwords.  With "pacing yes", one SMTP transport per
 * mailbox (master.cf), its concurrency and rate delay (main.cf) and the
 * sender_dependent_default_transport_maps table that picks it (policy/pacing.h).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"
#include "pacing.h"
#include "sockspec.h"
#include "ctl.h"

/* postfix_socket - a libmilter socket spec in Postfix's syntax; a unix socket in Postfix's
 * queue directory becomes chroot-relative, as a chrooted smtpd/cleanup sees it */
static void postfix_socket(const char *spec, char *out, size_t outlen)
{
    static const char spool[] = "/var/spool/postfix/";
    struct sockspec ss;

    if (sockspec_parse(spec, &ss) < 0 || (ss.kind != SOCKSPEC_UNIX && ss.host[0] == '\0')) {
        snprintf(out, outlen, "%s", spec); /* conf_load refuses what sockspec cannot read */
    } else if (ss.kind == SOCKSPEC_UNIX) {
        const char *path = ss.path;

        if (strncmp(path, spool, sizeof(spool) - 1) == 0)
            path += sizeof(spool) - 2;
        snprintf(out, outlen, "unix:%s", path);
    } else {
        snprintf(out, outlen, ss.kind == SOCKSPEC_INET6 ? "inet:[%s]:%u" : "inet:%s:%u", ss.host,
                 ss.port);
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
        /* exo's stays the snippet's at a limit of 1: Postfix would then count exo's
         * connections per recipient (sendas-policyd allows 1 a message at intake) */
        if (rcpt_limit && k < sizeof(rcpt_params) / sizeof(rcpt_params[0]) &&
            (k == 0 || rcpt_limit > 1)) {
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

#define TRANSPORT_MAP "/etc/postfix/sendas_transport"

/* pacing_names_unique - the hash makes a clash of two mailboxes' transports improbable; a
 * clash would merge their pace, so refuse it rather than print it */
static int pacing_names_unique(const struct conf *c)
{
    struct pacing a, b;
    size_t i, j;

    for (i = 0; i < c->nmailboxes; i++) {
        pacing_plan(c, &c->mailboxes[i], &a);
        for (j = i + 1; j < c->nmailboxes; j++) {
            pacing_plan(c, &c->mailboxes[j], &b);
            if (strcmp(a.transport, b.transport) == 0) {
                fprintf(stderr, "sendasctl: %s and %s get the same transport name %s\n",
                        c->mailboxes[i].address, c->mailboxes[j].address, a.transport);
                return -1;
            }
        }
    }
    return 0;
}

/* print_pacing_main - main.cf: the map, and each transport's concurrency and rate delay */
static void print_pacing_main(const struct conf *c)
{
    struct conf_limits lim;
    struct pacing pc;
    size_t i;

    printf("\n# --- Pacing (sendas.conf: pacing yes) ---------------------------------------------\n"
           "# Mail whose envelope sender is a mailbox (sendas-milter set it) leaves through that\n"
           "# mailbox's own transport (master.cf); the rest, such as notices with the null\n"
           "# sender, through exo.  A mailbox with a per-minute limit gets one delivery at a\n"
           "# time, a whole number of seconds apart (Postfix's rate delay, counted from the end\n"
           "# of one delivery to the start of the next): the fastest pace that stays within\n"
           "# limit x headroom / relays (%u relay%s).  Without one it gets Exchange Online's\n"
           "# 3 connections, shared by the relays.  Then: postmap hash:" TRANSPORT_MAP "\n"
           "sender_dependent_default_transport_maps = hash:" TRANSPORT_MAP "\n",
           c->relays, c->relays == 1 ? "" : "s");
    if (c->relays > PACING_CONNECTIONS) /* one connection each is the least Postfix can do */
        fprintf(stderr, "sendasctl: relays %u: a mailbox without a per-minute limit gets 1 "
                        "connection on each relay, %u in all, over Exchange Online's %d\n",
                c->relays, c->relays, PACING_CONNECTIONS);
    for (i = 0; i < c->nmailboxes; i++) {
        const struct conf_mailbox *mb = &c->mailboxes[i];

        conf_mailbox_limits(c, mb, &lim);
        pacing_plan(c, mb, &pc);
        if (pc.rate_delay)
            printf("# %s: %lu messages a minute (%s), headroom %u%%: one at a time, %lus apart\n",
                   mb->address, lim.messages_per_minute,
                   mb->limits_set & CONF_LIM_MPM ? "its own" : "global", lim.headroom,
                   pc.rate_delay);
        else
            printf("# %s: no per-minute limit: %u connection%s\n", mb->address, pc.concurrency,
                   pc.concurrency == 1 ? "" : "s");
        printf("%s_destination_concurrency_limit = %u\n", pc.transport, pc.concurrency);
        if (pc.rate_delay)
            /* Postfix's advice for a rate delay: one failed handshake must not defer it all */
            printf("%s_destination_rate_delay = %lus\n"
                   "%s_destination_concurrency_failed_cohort_limit = 10\n",
                   pc.transport, pc.rate_delay, pc.transport);
        if (pc.recipient_limit)
            printf("%s_destination_recipient_limit = %lu\n", pc.transport, pc.recipient_limit);
        else if (lim.recipients_per_message == 1)
            printf("# (no recipient limit 1 for %s: Postfix would then pace per recipient; "
                   "sendas-policyd allows 1 per message at intake)\n", pc.transport);
    }
}

/* print_pacing_master - master.cf: one SMTP client per mailbox, as the exo service */
static void print_pacing_master(const struct conf *c)
{
    struct pacing pc;
    size_t i;

    printf("\n# Pacing (sendas.conf: pacing yes): one SMTP client transport per mailbox, set up\n"
           "# as exo above; maxproc is the mailbox's concurrency.\n");
    for (i = 0; i < c->nmailboxes; i++) {
        pacing_plan(c, &c->mailboxes[i], &pc);
        printf("# %s\n%s unix - - n - %u smtp\n  -o syslog_name=postfix/%s\n"
               "  -o smtp_connection_cache_on_demand=no\n",
               c->mailboxes[i].address, pc.transport, pc.concurrency, pc.transport);
    }
}

/* print_pacing_map - the sender_dependent_default_transport_maps table */
static void print_pacing_map(const struct conf *c)
{
    struct pacing pc;
    size_t i;

    if (!c->pacing) {
        printf("# pacing is off in sendas.conf: no table (Postfix's default_transport, exo, for all)\n");
        return;
    }
    printf("# Each mailbox's transport, keyed by the envelope sender sendas-milter sets.  Then:\n"
           "#   postmap hash:" TRANSPORT_MAP "\n");
    for (i = 0; i < c->nmailboxes; i++) {
        pacing_plan(c, &c->mailboxes[i], &pc);
        printf("%s %s\n", c->mailboxes[i].address, pc.transport);
    }
}

/* cmd_postfix_config - Postfix's lines for this sendas.conf: main.cf, master.cf, sasl_passwd */
int cmd_postfix_config(const char *conf_path, int argc, char **argv)
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
                          strcmp(what, "sasl_passwd") != 0 && strcmp(what, "sendas_transport") != 0)) {
        fprintf(stderr,
                "sendasctl: postfix-config [main.cf | master.cf | sasl_passwd | sendas_transport]\n");
        return 2;
    }
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    if (c->pacing && pacing_names_unique(c) < 0) {
        conf_free(c);
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
    if ((all || strcmp(what, "main.cf") == 0) && c->pacing)
        print_pacing_main(c);
    if (all)
        printf("\n# ==== add to /etc/postfix/master.cf\n");
    if ((all || strcmp(what, "master.cf") == 0) &&
        print_snippet(dir, "master.cf", milter, policy, uses_oauth(c), 0) < 0)
        rc = 1;
    if ((all || strcmp(what, "master.cf") == 0) && c->pacing)
        print_pacing_master(c);
    if (all)
        printf("\n# ==== /etc/postfix/sasl_passwd\n");
    if (all || strcmp(what, "sasl_passwd") == 0)
        print_sasl_passwd(c, conf_path);
    if (all && c->pacing)
        printf("\n# ==== " TRANSPORT_MAP "\n");
    if ((all && c->pacing) || (what && strcmp(what, "sendas_transport") == 0))
        print_pacing_map(c);
    conf_free(c);
    return rc;
}
