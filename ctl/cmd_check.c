/* SPDX-License-Identifier: MIT */
/*
 * cmd_check - `sendasctl check`: loads the configuration file as the daemons
 * do, prints its warnings, and runs sendas-tokend's start-up checks when the
 * token service is configured, and reads redis_password_file as sendas-policyd
 * would (private, owned by root or the service user) with store redis.
 */
#include "config.h"

#include <pwd.h>
#include <stdio.h>

#include "conf.h"
#include "ctl.h"
#include "oauthsetup.h"
#include "pacing.h"
#include "secfile.h"

/* check_redis_password - the file sendas-policyd reads at start-up; 0, or -1 with err */
static int check_redis_password(const struct conf *c, char *err, size_t errlen)
{
    const char *user = oauthsetup_service_user(c);
    struct passwd *pw = user ? getpwnam(user) : NULL;
    char *pass;
    int ok;

    if (c->store != STORE_REDIS || c->redis_password_file == NULL)
        return 0;
    pass = secfile_read_line("redis_password_file", c->redis_password_file,
                             pw ? pw->pw_uid : SECFILE_NO_USER, 1024, err, errlen);
    ok = pass != NULL;
    secret_free(pass);
    return ok ? 0 : -1;
}

/* print_limit - one figure of a mailbox's limits: "60 messages/minute (own)" */
static void print_limit(const char *sep, unsigned long long v, const char *unit, int own)
{
    if (v)
        printf("%s%llu %s%s", sep, v, unit, own ? " (own)" : "");
    else
        printf("%s%s: no limit%s", sep, unit, own ? " (own)" : "");
}

/* print_mailbox_limits - the effective limits of each mailbox that sets its own (the others
 * have the global ones), and with pacing each mailbox's pace */
static void print_mailbox_limits(const struct conf *c)
{
    struct conf_limits l;
    struct pacing pc;
    size_t i;

    for (i = 0; i < c->nmailboxes; i++) {
        const struct conf_mailbox *mb = &c->mailboxes[i];
        unsigned own = mb->limits_set;

        if (own) {
            conf_mailbox_limits(c, mb, &l);
            printf("%s:", mb->address);
            print_limit(" ", l.messages_per_minute, "messages/minute", own & CONF_LIM_MPM);
            print_limit(", ", l.recipients_per_day, "recipients/24h", own & CONF_LIM_RPD);
            print_limit(", ", l.recipients_per_message, "recipients/message", own & CONF_LIM_RPM);
            print_limit(", ", l.message_size, "bytes/message", own & CONF_LIM_SIZE);
            printf(", headroom %u%%%s\n", l.headroom, own & CONF_LIM_HEADROOM ? " (own)" : "");
        }
        if (c->pacing) {
            pacing_plan(c, mb, &pc);
            if (pc.rate_delay)
                printf("%s: paced by %s: one delivery at a time, %lus apart\n", mb->address,
                       pc.transport, pc.rate_delay);
            else
                printf("%s: paced by %s: %u connection%s, no rate delay\n", mb->address,
                       pc.transport, pc.concurrency, pc.concurrency == 1 ? "" : "s");
        }
    }
}

/* cmd_check - errors exit 1; warnings (accepted, but surely mistakes) are printed and exit 0 */
int cmd_check(const char *conf_path, int argc, char **argv)
{
    char err[CONF_ERRLEN];
    struct conf *c;

    (void)argc;
    (void)argv;
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    /* warnings do not change the exit status: the daemons accept the file (and log them) */
    for (size_t w = 0; w < c->nwarnings; w++)
        fprintf(stderr, "sendasctl: warning: %s\n", c->warnings[w]);
    /* sendas-tokend's own start-up checks, when it is configured */
    if ((oauthsetup_wanted(c) &&
         oauthsetup_check(c, conf_path, oauthsetup_service_user(c), err, sizeof(err)) < 0) ||
        check_redis_password(c, err, sizeof(err)) < 0) {
        fprintf(stderr, "sendasctl: %s\n", err);
        conf_free(c);
        return 1;
    }
    printf("%s: configuration OK: %zu mailboxes, %zu routes", conf_path, c->nmailboxes,
           c->nroutes);
    if (c->nwarnings)
        printf(", %zu warning%s", c->nwarnings, c->nwarnings == 1 ? "" : "s");
    putchar('\n');
    print_mailbox_limits(c);
    conf_free(c);
    return 0;
}
