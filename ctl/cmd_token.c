/* SPDX-License-Identifier: MIT */
/*
 * cmd_token - sendasctl token: reads the MAILBOX.state files sendas-tokend writes
 * beside the token files (they hold no token) and shows, per mailbox, when the
 * token expires (from the token file itself when it can be read), when it was
 * last refreshed and the last error.  A state file that is not exactly what
 * sendas-tokend writes is reported malformed, never half believed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "tokstate.h"
#include "xoauth2.h"

#ifndef SENDAS_SBINDIR
#define SENDAS_SBINDIR "/usr/sbin"
#endif

/* state_read - MAILBOX.state, with the expiry from the token file itself when it can be
 * read (the state file may be stale: a full disk fails both); 0, -1 when there is no
 * state file, -2 when it is malformed, -3 when this user may not read it (errno set) */
static int state_read(const char *dir, const char *mailbox, struct tokstate *t)
{
    char path[4096], buf[XOAUTH2_MAX_FILE + 1];
    const char *tok;
    size_t tlen;
    time_t exp;
    ssize_t n;

    memset(t, 0, sizeof(*t));
    if (snprintf(path, sizeof(path), "%s/%s.state", dir, mailbox) >= (int)sizeof(path))
        return -1;
    /* one byte more than a state file may have: a longer one is malformed, not cut short */
    if ((n = tokstate_read_file(path, buf, TOKSTATE_MAX_FILE + 2)) < 0 &&
        (errno == EACCES || errno == EPERM))
        return -3;
    if (n <= 0)
        return -1;
    if (tokstate_parse(buf, (size_t)n, mailbox, t) < 0)
        return -2;
    snprintf(path, sizeof(path), "%s/%s", dir, mailbox);
    if ((n = tokstate_read_file(path, buf, sizeof(buf))) < 0 && errno != EACCES)
        t->expires = 0; /* no token file: no token, whatever the state says */
    else if (n >= 0)
        t->expires = xoauth2_token_parse(buf, (size_t)n, &exp, &tok, &tlen) == 0 ? exp : 0;
    memset(buf, 0, sizeof(buf));
    return 0;
}

/* ago - "12 s ago", "3 min ago" or "never" */
static const char *ago(long long when, long long now, char *buf, size_t len)
{
    long long d = now - when;

    if (when <= 0)
        return "never";
    if (d < 120)
        snprintf(buf, len, "%lld s ago", d);
    else if (d < 7200)
        snprintf(buf, len, "%lld min ago", d / 60);
    else
        snprintf(buf, len, "%lld h ago", d / 3600);
    return buf;
}

/* run_fetch - `token --fetch`: the token service's own code does the request (one client,
 * one set of checks); returns only when sendas-tokend cannot be run */
static int run_fetch(const char *conf_path)
{
    char *args[] = {NULL, (char *)"-c", (char *)conf_path, (char *)"--fetch", NULL};
    const char *tokend;

    tokend = getenv("SENDAS_TOKEND") ? getenv("SENDAS_TOKEND") : SENDAS_SBINDIR "/sendas-tokend";
    args[0] = (char *)tokend;
    fflush(stdout);
    execv(tokend, args);
    fprintf(stderr, "sendasctl: cannot run %s: %s\n", tokend, strerror(errno));
    return 1;
}

/* show_mailbox - one mailbox's line; 0 when its token is usable, 3 when it is not (missing,
 * expired, malformed state, last refresh failed), 1 when its state cannot be read */
static int show_mailbox(const struct conf *c, const char *mb, long long now)
{
    char b1[64], b2[64];
    struct tokstate t;
    int st, rc = 0;

    if ((st = state_read(c->token_dir, mb, &t)) == -3) {
        /* not "is tokend running?": the state is there, this user may not see it */
        printf("%-32s %-12s %-14s %-8s cannot read its state file: %s (root and "
               "token_group %s may)\n",
               mb, "?", "?", "-", strerror(errno), c->token_group);
        return 1;
    }
    if (st < 0) {
        printf("%-32s %-12s %-14s %-8s %s\n", mb, "no token", "never", "-",
               st == -2 ? "malformed state file in token_dir"
                        : "no state file in token_dir (is sendas-tokend running?)");
        return 3;
    }
    if (t.expires > now)
        snprintf(b1, sizeof(b1), "%lld min", (t.expires - now) / 60);
    else {
        snprintf(b1, sizeof(b1), "%s", t.expires ? "EXPIRED" : "no token");
        rc = 3;
    }
    if (t.failures)
        rc = 3; /* the last attempt failed: a token that runs out will not be replaced */
    printf("%-32s %-12s %-14s %-8lu %s\n", mb, b1, ago(t.last_refresh, now, b2, sizeof(b2)),
           t.failures, t.last_error[0] ? t.last_error : "-");
    return rc;
}

/* cmd_token - show the token states, or run one request */
int cmd_token(const char *conf_path, int argc, char **argv)
{
    const char *only = NULL;
    char err[CONF_ERRLEN];
    struct conf *c;
    long long now = (long long)time(NULL);
    size_t i, n, shown = 0;
    int fetch = 0, rc = 0, st;

    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--fetch") == 0)
            fetch = 1;
        else if (argv[i][0] != '-' && !only)
            only = argv[i];
        else {
            fprintf(stderr, "usage: sendasctl [-c FILE] token [--fetch] [MAILBOX]\n");
            return 2;
        }
    }
    if (fetch)
        return run_fetch(conf_path);
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    if (!c->oauth_client_id) {
        fprintf(stderr, "sendasctl: %s: no oauth_client_id: mailboxes sign in with passwords\n",
                conf_path);
        conf_free(c);
        return 1;
    }
    n = 0;
    if (c->oauth_mailboxes)
        while (c->oauth_mailboxes[n])
            n++;
    else
        n = c->nmailboxes;
    printf("%-32s %-12s %-14s %-8s %s\n", "MAILBOX", "EXPIRES IN", "LAST REFRESH", "FAILURES",
           "LAST ERROR");
    for (i = 0; i < n; i++) {
        const char *mb = c->oauth_mailboxes ? c->oauth_mailboxes[i] : c->mailboxes[i].address;

        if (only && strcasecmp(only, mb) != 0)
            continue;
        shown++;
        st = show_mailbox(c, mb, now);
        if (st == 1 || rc == 1)
            rc = 1; /* an error outranks a token state */
        else if (st == 3)
            rc = 3;
    }
    if (only && !shown) {
        fprintf(stderr, "sendasctl: %s: not a mailbox that signs in with OAuth in %s\n", only,
                conf_path);
        rc = 1;
    }
    conf_free(c);
    return rc;
}
