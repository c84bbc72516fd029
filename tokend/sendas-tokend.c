/* SPDX-License-Identifier: MIT */
/*
 * sendas-tokend - keeps an OAuth access token for every mailbox that signs in
 * to Exchange Online with XOAUTH2.
 *
 * One application (sendas.conf oauth_*) asks the Microsoft identity platform
 * for app-only tokens with the client credentials grant (a client secret, or
 * a certificate and an RS256 client assertion).  The same token serves every
 * mailbox the application may use: it is written, atomically, to
 * token_dir/MAILBOX (group token_group, mode 0640, never world-readable),
 * where the XOAUTH2 SASL plugin in Postfix's smtp processes reads it, and a
 * state file MAILBOX.state (no token) tells sendasctl how things stand.
 * Tokens are refreshed token_refresh_margin seconds before they expire (at
 * most half their lifetime before); a failed request -- no answer, an error,
 * an answer that holds no valid bearer token, a token file that cannot be
 * written -- is retried with exponential backoff and jitter while the current
 * token stays in place, and so are tokens that live too short for the margin.
 * Failures are logged once per change of state, with Microsoft's AADSTS code,
 * and so is the moment the kept token expires; secrets and tokens never are,
 * and the endpoint's texts only as one line of printable ASCII.
 *
 * Start: sendas.conf's settings are checked (oauthsetup), token_dir is made
 * the run user's (-u) while still root, privileges are dropped, then the
 * credentials are read, as they are again on SIGHUP.
 *
 * Signals: SIGTERM/SIGINT stop, SIGHUP re-reads sendas.conf and the secret
 * and fetches a new token, SIGUSR1 fetches a new token now.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "conf.h"
#include "daemon.h"
#include "jwt.h"
#include "log.h"
#include "oauth.h"
#include "oauthsetup.h"
#include "secfile.h"
#include "xoauth2.h"

#define MAX_LIFETIME 86400 /* seconds an access token is believed to live */

/* The token all mailboxes share and how getting it went. */
struct token_state {
    char *token; /* never logged */
    time_t expires, refresh_at, last_refresh, last_attempt, next_attempt;
    unsigned failures;
    unsigned short_streak; /* tokens in a row that lived no longer than the margin */
    int expiry_logged;     /* the kept token's expiry was logged */
    char last_error[400];  /* "" after success; printable ASCII only */
    char logged_error[400]; /* what was last logged, for once-per-change logging */
    char state_error[300]; /* the last state file write failure logged */
};

static const char *conf_path;
static struct token_state ts;

/* usage - the command line */
static void usage(FILE *f)
{
    fprintf(f, "usage: sendas-tokend [-fndVh] [-c sendas.conf] [-u user] [--fetch]\n"
               "  --fetch  get one token, report success or Microsoft's error, write nothing\n");
}

/* write_atomic - dir/name with data, mode 0640 and the token group, via fsync and rename;
 * 0, or -1 with the reason in err */
static int write_atomic(const struct oauth_setup *s, const char *name, const char *data,
                        size_t len, char *err, size_t errlen)
{
    char tmp[4096], dst[4096];
    struct stat st;
    size_t off = 0;
    ssize_t w;
    int fd, n1, n2;

    n1 = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", s->conf->token_dir, name);
    n2 = snprintf(dst, sizeof(dst), "%s/%s", s->conf->token_dir, name);
    if (n1 < 0 || (size_t)n1 >= sizeof(tmp) || n2 < 0 || (size_t)n2 >= sizeof(dst)) {
        snprintf(err, errlen, "%s/%s: path too long", s->conf->token_dir, name);
        return -1;
    }
    unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* no chown when the group is already right (systemd Group=postfix): a unit's system
     * call filter may forbid it */
    if ((fstat(fd, &st) < 0 || st.st_gid != s->gid) && fchown(fd, (uid_t)-1, s->gid) < 0) {
        snprintf(err, errlen, "cannot give %s to group %s: %s", tmp, s->conf->token_group,
                 strerror(errno));
        goto fail;
    }
    if (fchmod(fd, 0640) < 0) {
        snprintf(err, errlen, "cannot chmod 640 %s: %s", tmp, strerror(errno));
        goto fail;
    }
    while (off < len) {
        if ((w = write(fd, data + off, len - off)) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, dst) < 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, dst, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* write_tokens - token (expiring at expires) into every mailbox's token file; 0, or -1 with
 * the first failure in err (a mailbox without its token is a failure, retried) */
static int write_tokens(const struct oauth_setup *s, const char *token, time_t expires,
                        char *err, size_t errlen)
{
    char file[XOAUTH2_MAX_FILE + 1], more[256];
    size_t i, len;
    int rc = 0;

    if ((len = xoauth2_token_format(expires, token, strlen(token), file, sizeof(file))) == 0) {
        snprintf(err, errlen, "the token is not a valid bearer token; not written");
        return -1;
    }
    for (i = 0; i < s->nmailboxes; i++)
        if (write_atomic(s, s->mailboxes[i], file, len, rc ? more : err,
                         rc ? sizeof(more) : errlen) < 0)
            rc = -1; /* the first reason is the one reported */
    secret_wipe(file, sizeof(file));
    return rc;
}

/* write_states - every mailbox's state file (no token in it); a failure is logged once */
static void write_states(const struct oauth_setup *s)
{
    char state[1024], name[XOAUTH2_MAX_USER + 16], err[300] = "", more[300];
    size_t i;
    int n;

    for (i = 0; i < s->nmailboxes; i++) {
        n = snprintf(state, sizeof(state),
                     "mailbox=%s\nexpires=%lld\nlast_refresh=%lld\nlast_attempt=%lld\n"
                     "failures=%u\nlast_error=%s\n",
                     s->mailboxes[i], (long long)ts.expires, (long long)ts.last_refresh,
                     (long long)ts.last_attempt, ts.failures, ts.last_error);
        snprintf(name, sizeof(name), "%s.state", s->mailboxes[i]);
        if (n > 0 && (size_t)n < sizeof(state))
            write_atomic(s, name, state, (size_t)n, err[0] ? more : err, sizeof(err));
    }
    if (err[0] && strcmp(err, ts.state_error) != 0)
        log_err("state file: %s (sendasctl token shows old news)", err);
    snprintf(ts.state_error, sizeof(ts.state_error), "%s", err);
}

/* adopt_existing - keep a still valid token a previous run left (no request at restart),
 * written again for every mailbox: one added while tokend was stopped has no file yet */
static void adopt_existing(const struct oauth_setup *s, time_t now)
{
    char path[4096], buf[XOAUTH2_MAX_FILE + 1], err[300];
    const char *tok;
    struct stat st;
    size_t tlen;
    time_t exp;
    ssize_t n = -1;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", s->conf->token_dir, s->mailboxes[0]);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)) < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0 && xoauth2_token_parse(buf, (size_t)n, &exp, &tok, &tlen) == 0 &&
        exp > now + (time_t)s->conf->token_refresh_margin && (ts.token = strndup(tok, tlen))) {
        ts.expires = exp;
        ts.refresh_at = exp - (time_t)s->conf->token_refresh_margin;
        ts.last_refresh = st.st_mtime; /* when that run wrote it */
        if (write_tokens(s, ts.token, exp, err, sizeof(err)) < 0) {
            /* not every mailbox can have it: ask for a new one now, as after a failure */
            log_warn("not keeping the token from the previous run: %s", err);
            secret_free(ts.token);
            ts.token = NULL;
            ts.expires = ts.refresh_at = ts.last_refresh = 0;
        } else {
            write_states(s);
            log_info("keeping the token from the previous run (expires in %lld s)",
                     (long long)(exp - now));
        }
    }
    secret_wipe(buf, sizeof(buf));
}

/* backoff - the next retry delay: exponential, capped, with jitter in [d/2, d] */
static time_t backoff(const struct conf *c, unsigned failures)
{
    unsigned long d = c->token_retry_min;
    unsigned i;

    for (i = 1; i < failures && d < c->token_retry_max; i++)
        d *= 2;
    if (d > c->token_retry_max)
        d = c->token_retry_max;
    return (time_t)(d / 2 + (unsigned long)random() % (d - d / 2 + 1));
}

/* refresh_delay - when to ask again after a token that lives `lifetime` s: margin s before
 * it expires, but never earlier than half its life; a token that does not outlive the
 * margin (a short token-lifetime policy) makes tokend back off as after failures, so that
 * it never asks faster than its retry schedule */
static time_t refresh_delay(const struct conf *c, long lifetime)
{
    long margin = (long)c->token_refresh_margin, wait;

    if (margin > lifetime / 2)
        margin = lifetime / 2;
    wait = lifetime - margin;
    if (lifetime > (long)c->token_refresh_margin) {
        ts.short_streak = 0;
        return (time_t)wait;
    }
    if (ts.short_streak++ == 0)
        log_warn("the token endpoint's tokens live %ld s, no longer than token_refresh_margin "
                 "(%lu s): asking again after half their life, slowing down to every %lu s "
                 "while they stay this short",
                 lifetime, c->token_refresh_margin, c->token_retry_max);
    return (time_t)wait > backoff(c, ts.short_streak) ? (time_t)wait
                                                         : backoff(c, ts.short_streak);
}

/* failed - count a failure, retry with backoff (or after the endpoint's Retry-After, when
 * later), log it once per change of error */
static void failed(const struct oauth_setup *s, time_t now, long retry_after)
{
    time_t d;

    ts.failures++;
    d = backoff(s->conf, ts.failures);
    ts.next_attempt = now + (retry_after > d ? (time_t)retry_after : d);
    if (strcmp(ts.last_error, ts.logged_error) != 0) {
        log_err("token request to %s failed: %s; retrying with backoff, %s", s->endpoint,
                ts.last_error,
                ts.token && ts.expires > now ? "the current token stays in use"
                                             : "no valid token: mail will be deferred");
        snprintf(ts.logged_error, sizeof(ts.logged_error), "%s", ts.last_error);
    }
}

/* fetch - one token request; updates ts, the files and the log */
static int fetch(const struct oauth_setup *s, time_t now)
{
    struct oauth_client cl = {.endpoint = s->endpoint, .client_id = s->conf->oauth_client_id,
                              .scope = s->conf->oauth_scope, .secret = s->secret,
                              .signer = s->signer, .ca_pem = s->ca_pem, .ca_len = s->ca_len,
                              .timeout = 30};
    struct oauth_result r;
    char err[300];
    int rc;

    ts.last_attempt = now;
    rc = oauth_request(&cl, now, &r);
    /* Entra's access tokens live at most a day (token lifetime policies): a longer
     * lifetime is not believed, so that a wrong one delays the refresh by a day at most */
    if (rc == 0 && r.expires_in > MAX_LIFETIME) {
        log_warn("the token endpoint says its token lives %ld s, longer than an Entra token "
                 "can (%d s): refreshing as if it lived %d s",
                 r.expires_in, MAX_LIFETIME, MAX_LIFETIME);
        r.expires_in = MAX_LIFETIME;
    }
    if (rc == 0 && write_tokens(s, r.access_token, now + r.expires_in, err, sizeof(err)) < 0) {
        /* a token Postfix cannot read is no token: the old one (if any) stays */
        snprintf(ts.last_error, sizeof(ts.last_error), "token file: %s", err);
        rc = -1;
    } else if (rc == 0) {
        secret_free(ts.token);
        ts.token = r.access_token;
        r.access_token = NULL;
        ts.expires = now + r.expires_in;
        ts.refresh_at = now + refresh_delay(s->conf, r.expires_in);
        ts.last_refresh = now;
        ts.next_attempt = 0;
        ts.expiry_logged = 0;
        if (ts.failures || ts.logged_error[0])
            log_info("token endpoint works again after %u failed attempts", ts.failures);
        ts.failures = 0;
        ts.last_error[0] = ts.logged_error[0] = '\0';
        log_info("new token for %zu mailboxes, expires in %ld s", s->nmailboxes, r.expires_in);
    } else {
        snprintf(ts.last_error, sizeof(ts.last_error), "%s%s%s: %s (HTTP %ld)", r.error,
                 r.aadsts[0] ? " " : "", r.aadsts, r.description, r.http_status);
    }
    if (rc != 0)
        failed(s, now, r.retry_after);
    write_states(s);
    oauth_result_clear(&r);
    return rc;
}

/* fetch_once - --fetch: one request, the outcome on stdout/stderr, nothing written */
static int fetch_once(const struct oauth_setup *s)
{
    struct oauth_client cl = {.endpoint = s->endpoint, .client_id = s->conf->oauth_client_id,
                              .scope = s->conf->oauth_scope, .secret = s->secret,
                              .signer = s->signer, .ca_pem = s->ca_pem, .ca_len = s->ca_len,
                              .timeout = 30};
    struct oauth_result r;
    int rc = oauth_request(&cl, time(NULL), &r);

    if (rc == 0)
        printf("ok: token for %s obtained (%zu characters), expires in %ld s\n", s->endpoint,
               strlen(r.access_token), r.expires_in);
    else
        printf("failed: %s%s%s: %s (HTTP %ld)\n", r.error, r.aadsts[0] ? " " : "", r.aadsts,
               r.description, r.http_status);
    oauth_result_clear(&r);
    return rc == 0 ? 0 : 1;
}

/* expiry_check - say once when the kept token runs out while requests keep failing */
static void expiry_check(time_t now)
{
    if (!ts.token || ts.expiry_logged || ts.expires > now || !ts.failures)
        return;
    log_err("the token expired %lld s ago and the token endpoint still fails (%s): mail to "
            "Exchange Online is deferred until a new token arrives",
            (long long)(now - ts.expires), ts.last_error);
    ts.expiry_logged = 1;
}

/* reload - SIGHUP: the new sendas.conf and credentials, or the old ones on any error */
static int reload(struct oauth_setup *s, struct conf **cp, const char *user)
{
    char err[CONF_ERRLEN];
    struct oauth_setup fresh;
    struct conf *c;

    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        log_err("reload failed, keeping the old configuration: %s", err);
        return -1;
    }
    if (oauthsetup_config(&fresh, c, conf_path, user, err, sizeof(err)) < 0 ||
        oauthsetup_token_dir(&fresh, 1, err, sizeof(err)) < 0 ||
        oauthsetup_credentials(&fresh, err, sizeof(err)) < 0) {
        log_err("reload failed, keeping the old configuration: %s", err);
        oauthsetup_free(&fresh);
        conf_free(c);
        return -1;
    }
    oauthsetup_free(s);
    conf_free(*cp);
    *s = fresh;
    *cp = c;
    log_info("reloaded %s: %zu mailboxes", conf_path, s->nmailboxes);
    daemon_log_conf_warnings(c); /* as at start (daemon_start) and in the other daemons */
    return 0;
}

/* run - refresh before expiry, retry after failures, until SIGTERM */
static int run(struct oauth_setup *s, struct conf **cp, const char *user, const sigset_t *sigs)
{
    struct timespec wait;
    time_t now, due;
    int sig, force = 0;

    for (;;) {
        now = time(NULL);
        if ((force || !ts.token || ts.refresh_at <= now) && (force || now >= ts.next_attempt)) {
            force = 0;
            fetch(s, now);
            now = time(NULL);
        }
        expiry_check(now);
        if (ts.next_attempt > now)
            due = ts.next_attempt;
        else if (ts.token)
            due = ts.refresh_at;
        else
            due = now + 1;
        if (ts.token && ts.failures && !ts.expiry_logged && ts.expires < due)
            due = ts.expires;
        wait.tv_sec = due > now ? due - now : 0;
        wait.tv_nsec = due > now ? 0 : 200000000;
        sig = sigtimedwait(sigs, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT)
            return 0;
        if (sig == SIGUSR1) {
            log_info("SIGUSR1: fetching a new token");
            force = 1;
        } else if (sig == SIGHUP && reload(s, cp, user) == 0) {
            force = 1;
        }
    }
}

/* tokend_check - -n: everything the start checks (oauthsetup_check), as start would */
static int tokend_check(const struct conf *c, const char *path, const char *user, char *err,
                        size_t errlen)
{
    return oauthsetup_check(c, path, user, err, errlen);
}

/* own_argv - a copy of argv without --fetch (ours; daemon_start knows the options every
 * daemon shares), with -f added for --fetch (a one-off request never detaches); NULL when
 * out of memory.  The caller's argv is left as it is. */
static char **own_argv(int argc, char **argv, int *nargc, int *once)
{
    char **nargv = calloc((size_t)argc + 2, sizeof(*nargv));
    int i, n = 0, foreground = 0;

    if (nargv == NULL)
        return NULL;
    *once = 0;
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--fetch") == 0) {
            *once = 1;
            continue;
        }
        if (i > 0 && strcmp(argv[i], "-f") == 0)
            foreground = 1;
        nargv[n++] = argv[i];
    }
    if (*once && !foreground)
        nargv[n++] = (char *)"-f";
    nargv[n] = NULL;
    *nargc = n;
    return nargv;
}

/* setup - settings; token_dir made the run user's while root; then, as that user, the
 * credentials (read again as that user on SIGHUP); 0, or -1 (logged, and said on stderr
 * for --fetch) */
static int setup(struct oauth_setup *s, const struct conf *c, const char *user, int once)
{
    char err[CONF_ERRLEN];

    if (oauthsetup_config(s, c, conf_path, user, err, sizeof(err)) < 0 ||
        (!once && oauthsetup_token_dir(s, 1, err, sizeof(err)) < 0) ||
        (!once && daemon_drop_privileges(user, err, sizeof(err)) < 0) ||
        oauthsetup_credentials(s, err, sizeof(err)) < 0) {
        log_err("%s", err);
        if (once)
            fprintf(stderr, "sendas-tokend: %s\n", err);
        return -1;
    }
    return 0;
}

/* serve - the service: signals blocked for run()'s signalfd, tokens adopted, refreshed
 * until stopped; the exit status */
static int serve(struct oauth_setup *s, struct conf **c, const char *user)
{
    sigset_t sigs;
    int rc;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0) {
        log_err("sigprocmask: %s", strerror(errno));
        return 1;
    }
    log_info("starting: %zu mailboxes, tokens in %s, refresh %lu s before expiry, endpoint %s "
             "(%s; sendas %s)",
             s->nmailboxes, s->conf->token_dir, s->conf->token_refresh_margin, s->endpoint,
             s->secret ? "client secret" : "certificate", PACKAGE_VERSION);
    if (s->signer)
        log_info("certificate thumbprint (x5t) %s", jwt_signer_x5t(s->signer));
    adopt_existing(s, time(NULL));
    rc = run(s, c, user, &sigs);
    secret_free(ts.token);
    ts.token = NULL;
    return rc;
}

/* tokend - start (argv as daemon_start reads it), then one request or the service */
static int tokend(int argc, char **argv, int once)
{
    struct daemon_args args = {"sendas-tokend", SENDAS_CONF, NULL, NULL, 0, 0, tokend_check};
    struct oauth_setup s;
    struct conf *c;
    int rc;

    if ((c = daemon_start(&args, argc, argv, usage, &rc)) == NULL)
        return rc;
    conf_path = args.conf_path;
    umask(0077);
    signal(SIGPIPE, SIG_IGN);
    /* a file size limit makes a token write fail (EFBIG, retried), not kill tokend */
    signal(SIGXFSZ, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    if (oauth_global_init() < 0) {
        log_err("cannot initialise libcurl");
        return 1;
    }
    if (setup(&s, c, args.user, once) < 0) {
        oauthsetup_free(&s);
        conf_free(c);
        return 1;
    }
    if (once) {
        rc = fetch_once(&s);
    } else {
        rc = serve(&s, &c, args.user);
        log_info("stopped");
    }
    oauthsetup_free(&s);
    conf_free(c);
    curl_global_cleanup();
    return rc;
}

/* main - its own copy of the command line, then tokend() */
int main(int argc, char **argv)
{
    char **nargv;
    int nargc, once, rc;

    if ((nargv = own_argv(argc, argv, &nargc, &once)) == NULL) {
        fputs("sendas-tokend: out of memory\n", stderr);
        return 1;
    }
    rc = tokend(nargc, nargv, once);
    free(nargv);
    return rc;
}
