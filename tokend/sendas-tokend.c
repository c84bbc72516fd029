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
 * Tokens are refreshed token_refresh_margin seconds before they expire; a
 * failed request is retried with exponential backoff and jitter while the
 * current token stays in place.  Failures are logged once per change of
 * state, with Microsoft's AADSTS code; secrets and tokens never are.
 *
 * Signals: SIGTERM/SIGINT stop, SIGHUP re-reads sendas.conf and the secret
 * and fetches a new token, SIGUSR1 fetches a new token now.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
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
#include "xoauth2.h"

#define MAX_SECRET 4096

/* The running configuration: what start-up and SIGHUP derive from sendas.conf. */
struct setup {
    struct conf *conf;
    char *secret; /* the client secret, or NULL with a signer */
    struct jwt_signer *signer;
    char *endpoint;
    const char **mailboxes; /* NULL-terminated, pointing into conf */
    size_t nmailboxes;
    gid_t gid;
};

/* The token all mailboxes share and how getting it went. */
struct token_state {
    char *token; /* never logged */
    time_t expires, last_refresh, last_attempt, next_attempt;
    unsigned failures;
    char last_error[400]; /* "" after success */
    char logged_error[400]; /* what was last logged, for once-per-change logging */
};

static const char *conf_path;
static struct token_state ts;

/* usage - the command line */
static void usage(FILE *f)
{
    fprintf(f, "usage: sendas-tokend [-fndVh] [-c sendas.conf] [-u user] [--fetch]\n"
               "  --fetch  get one token, report success or Microsoft's error, write nothing\n");
}

/* setup_free - release a setup; wipes the secret */
static void setup_free(struct setup *s)
{
    if (s->secret) {
        memset(s->secret, 0, strlen(s->secret));
        free(s->secret);
    }
    jwt_signer_free(s->signer);
    free(s->endpoint);
    free(s->mailboxes);
    conf_free(s->conf);
    memset(s, 0, sizeof(*s));
}

/* read_secret - the client secret from its private file (trailing white space dropped) */
static char *read_secret(const char *path, char *err, size_t errlen)
{
    char buf[MAX_SECRET + 1], *s;
    ssize_t r;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        snprintf(err, errlen, "oauth_client_secret_file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (secret_file_check(path, fd, err, errlen) < 0) {
        close(fd);
        return NULL;
    }
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        n += (size_t)r;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= MAX_SECRET || memchr(buf, '\0', n) || memchr(buf, '\n', n)) {
        snprintf(err, errlen, "%s: expected the client secret on one line", path);
        memset(buf, 0, sizeof(buf));
        return NULL;
    }
    buf[n] = '\0';
    s = strdup(buf);
    memset(buf, 0, sizeof(buf));
    if (!s)
        snprintf(err, errlen, "out of memory");
    return s;
}

/* setup_load - sendas.conf, the secret or key, the endpoint and the mailboxes */
static int setup_load(struct setup *s, struct conf *c, char *err, size_t errlen)
{
    struct group *gr;
    size_t i, n;
    int len;

    memset(s, 0, sizeof(*s));
    s->conf = c;
    if (!c->oauth_client_id) {
        snprintf(err, errlen, "%s: oauth_client_id is not set", conf_path);
        return -1;
    }
    if (!c->oauth_token_endpoint && !c->oauth_tenant) {
        snprintf(err, errlen, "%s: set oauth_tenant (or oauth_token_endpoint)", conf_path);
        return -1;
    }
    if (!!c->oauth_client_secret_file == !!(c->oauth_certificate || c->oauth_private_key) ||
        (!c->oauth_client_secret_file && !(c->oauth_certificate && c->oauth_private_key))) {
        snprintf(err, errlen,
                 "%s: set either oauth_client_secret_file, or oauth_certificate and "
                 "oauth_private_key",
                 conf_path);
        return -1;
    }
    if (c->token_retry_min > c->token_retry_max) {
        snprintf(err, errlen, "%s: token_retry_min is above token_retry_max", conf_path);
        return -1;
    }
    if (c->oauth_client_secret_file) {
        if ((s->secret = read_secret(c->oauth_client_secret_file, err, errlen)) == NULL)
            return -1;
    } else if ((s->signer = jwt_signer_load(c->oauth_certificate, c->oauth_private_key, err,
                                            errlen)) == NULL) {
        return -1;
    }
    if (c->oauth_token_endpoint) {
        s->endpoint = strdup(c->oauth_token_endpoint);
    } else {
        len = snprintf(NULL, 0, "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
                       c->oauth_tenant);
        if (len > 0 && (s->endpoint = malloc((size_t)len + 1)) != NULL)
            snprintf(s->endpoint, (size_t)len + 1,
                     "https://login.microsoftonline.com/%s/oauth2/v2.0/token", c->oauth_tenant);
    }
    n = 0;
    if (c->oauth_mailboxes)
        while (c->oauth_mailboxes[n])
            n++;
    else
        n = c->nmailboxes;
    if (!s->endpoint || (s->mailboxes = calloc(n + 1, sizeof(char *))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < n; i++) {
        s->mailboxes[i] = c->oauth_mailboxes ? c->oauth_mailboxes[i] : c->mailboxes[i].address;
        if (!xoauth2_valid_mailbox(s->mailboxes[i])) {
            snprintf(err, errlen, "%s: \"%s\" cannot name a token file", conf_path,
                     s->mailboxes[i]);
            return -1;
        }
    }
    s->nmailboxes = n;
    if (n == 0) {
        snprintf(err, errlen, "%s: no mailboxes (declare mailbox lines or oauth_mailboxes)",
                 conf_path);
        return -1;
    }
    if ((gr = getgrnam(c->token_group)) == NULL) {
        snprintf(err, errlen, "token_group \"%s\": no such group", c->token_group);
        return -1;
    }
    s->gid = gr->gr_gid;
    return 0;
}

/* prepare_token_dir - token_dir exists, group token_group, 0750 */
static int prepare_token_dir(const struct setup *s, char *err, size_t errlen)
{
    const char *d = s->conf->token_dir;
    struct stat st;

    if (mkdir(d, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", d, strerror(errno));
        return -1;
    }
    if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "token_dir %s: not a directory", d);
        return -1;
    }
    if (st.st_gid != s->gid && chown(d, (uid_t)-1, s->gid) < 0) {
        snprintf(err, errlen, "chgrp %s %s: %s", s->conf->token_group, d, strerror(errno));
        return -1;
    }
    if ((st.st_mode & 07777) != 0750 && chmod(d, 0750) < 0) {
        snprintf(err, errlen, "chmod 750 %s: %s", d, strerror(errno));
        return -1;
    }
    return 0;
}

/* write_atomic - dir/name with data, mode 0640 and the token group, via rename */
static int write_atomic(const struct setup *s, const char *name, const char *data, size_t len)
{
    char tmp[4096], dst[4096];
    struct stat st;
    size_t off = 0;
    ssize_t w;
    int fd, n1, n2;

    n1 = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", s->conf->token_dir, name);
    n2 = snprintf(dst, sizeof(dst), "%s/%s", s->conf->token_dir, name);
    if (n1 < 0 || (size_t)n1 >= sizeof(tmp) || n2 < 0 || (size_t)n2 >= sizeof(dst))
        return -1;
    unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        log_err("cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* no chown when the group is already right (systemd Group=postfix): a unit's system
     * call filter may forbid it */
    if ((fstat(fd, &st) < 0 || st.st_gid != s->gid) && fchown(fd, (uid_t)-1, s->gid) < 0) {
        log_err("cannot give %s to group %s: %s", tmp, s->conf->token_group, strerror(errno));
        goto fail;
    }
    if (fchmod(fd, 0640) < 0) {
        log_err("cannot give %s to group %s: %s", tmp, s->conf->token_group, strerror(errno));
        goto fail;
    }
    while (off < len) {
        if ((w = write(fd, data + off, len - off)) < 0) {
            if (errno == EINTR)
                continue;
            log_err("cannot write %s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        log_err("cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, dst) < 0) {
        log_err("cannot rename %s to %s: %s", tmp, dst, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* write_files - the token (when there is one) and the state of every mailbox */
static void write_files(const struct setup *s, int with_token)
{
    char file[XOAUTH2_MAX_FILE + 1], state[1024], name[XOAUTH2_MAX_USER + 16];
    size_t i, len = 0;
    int n;

    if (with_token && ts.token &&
        (len = xoauth2_token_format(ts.expires, ts.token, strlen(ts.token), file,
                                    sizeof(file))) == 0) {
        log_err("the token endpoint's token is not printable ASCII or too long; not written");
        with_token = 0;
    }
    for (i = 0; i < s->nmailboxes; i++) {
        if (with_token && len)
            write_atomic(s, s->mailboxes[i], file, len);
        n = snprintf(state, sizeof(state),
                     "mailbox=%s\nexpires=%lld\nlast_refresh=%lld\nlast_attempt=%lld\n"
                     "failures=%u\nlast_error=%s\n",
                     s->mailboxes[i], (long long)ts.expires, (long long)ts.last_refresh,
                     (long long)ts.last_attempt, ts.failures, ts.last_error);
        snprintf(name, sizeof(name), "%s.state", s->mailboxes[i]);
        if (n > 0 && (size_t)n < sizeof(state))
            write_atomic(s, name, state, (size_t)n);
    }
    memset(file, 0, sizeof(file));
}

/* adopt_existing - keep a still valid token a previous run left (no request at restart) */
static void adopt_existing(const struct setup *s, time_t now)
{
    char path[4096], buf[XOAUTH2_MAX_FILE + 1];
    const char *tok;
    size_t tlen;
    time_t exp;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", s->conf->token_dir, s->mailboxes[0]);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0 && xoauth2_token_parse(buf, (size_t)n, &exp, &tok, &tlen) == 0 &&
        exp > now + (time_t)s->conf->token_refresh_margin && (ts.token = strndup(tok, tlen))) {
        ts.expires = exp;
        log_info("keeping the token from the previous run (expires in %lld s)",
                 (long long)(exp - now));
    }
    memset(buf, 0, sizeof(buf));
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

/* fetch - one token request; updates ts, the files and the log */
static int fetch(const struct setup *s, time_t now)
{
    struct oauth_client cl = {s->endpoint,   s->conf->oauth_client_id, s->conf->oauth_scope,
                              s->secret,     s->signer,                s->conf->oauth_ca_file,
                              30};
    struct oauth_result r;
    int rc;

    ts.last_attempt = now;
    rc = oauth_request(&cl, now, &r);
    if (rc == 0) {
        if (ts.token) {
            memset(ts.token, 0, strlen(ts.token));
            free(ts.token);
        }
        ts.token = r.access_token;
        r.access_token = NULL;
        ts.expires = now + r.expires_in;
        ts.last_refresh = now;
        ts.next_attempt = 0;
        if (ts.failures || ts.logged_error[0])
            log_info("token endpoint works again after %u failed attempts", ts.failures);
        ts.failures = 0;
        ts.last_error[0] = ts.logged_error[0] = '\0';
        log_info("new token for %zu mailboxes, expires in %ld s", s->nmailboxes, r.expires_in);
        write_files(s, 1);
    } else {
        ts.failures++;
        snprintf(ts.last_error, sizeof(ts.last_error), "%s%s%s: %s (HTTP %ld)", r.error,
                 r.aadsts[0] ? " " : "", r.aadsts, r.description, r.http_status);
        ts.next_attempt = now + backoff(s->conf, ts.failures);
        if (strcmp(ts.last_error, ts.logged_error) != 0) {
            log_err("token request to %s failed: %s; retrying with backoff, %s", s->endpoint,
                    ts.last_error,
                    ts.token && ts.expires > now ? "the current token stays in use"
                                                 : "no valid token: mail will be deferred");
            snprintf(ts.logged_error, sizeof(ts.logged_error), "%s", ts.last_error);
        }
        write_files(s, 0);
    }
    oauth_result_clear(&r);
    return rc;
}

/* fetch_once - --fetch: one request, the outcome on stdout/stderr, nothing written */
static int fetch_once(const struct setup *s)
{
    struct oauth_client cl = {s->endpoint,   s->conf->oauth_client_id, s->conf->oauth_scope,
                              s->secret,     s->signer,                s->conf->oauth_ca_file,
                              30};
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

/* run - refresh before expiry, retry after failures, until SIGTERM */
static int run(struct setup *s, const sigset_t *sigs)
{
    char err[CONF_ERRLEN];
    struct timespec wait;
    struct conf *c;
    struct setup fresh;
    time_t now, due;
    int sig, force = 0;

    for (;;) {
        now = time(NULL);
        if (force || !ts.token || ts.expires - (time_t)s->conf->token_refresh_margin <= now) {
            if (force || now >= ts.next_attempt) {
                force = 0;
                fetch(s, now);
                now = time(NULL);
            }
        }
        if (ts.next_attempt > now)
            due = ts.next_attempt;
        else if (ts.token)
            due = ts.expires - (time_t)s->conf->token_refresh_margin;
        else
            due = now + 1;
        wait.tv_sec = due > now ? due - now : 0;
        wait.tv_nsec = due > now ? 0 : 200000000;
        sig = sigtimedwait(sigs, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT)
            return 0;
        if (sig == SIGUSR1) {
            log_info("SIGUSR1: fetching a new token");
            force = 1;
        } else if (sig == SIGHUP) {
            if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
                log_err("reload failed, keeping the old configuration: %s", err);
            } else if (setup_load(&fresh, c, err, sizeof(err)) < 0 ||
                       prepare_token_dir(&fresh, err, sizeof(err)) < 0) {
                log_err("reload failed, keeping the old configuration: %s", err);
                setup_free(&fresh);
            } else {
                setup_free(s);
                *s = fresh;
                log_info("reloaded %s: %zu mailboxes", conf_path, s->nmailboxes);
                force = 1;
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct daemon_args args = {"sendas-tokend", SENDAS_CONF, NULL, NULL, 0, 0};
    char err[CONF_ERRLEN];
    struct setup s;
    struct conf *c;
    sigset_t sigs;
    int i, j, once = 0, rc;

    /* --fetch is ours; daemon_start knows the options every daemon shares */
    for (i = j = 0; i < argc; i++) {
        if (strcmp(argv[i], "--fetch") == 0)
            once = 1;
        else
            argv[j++] = argv[i];
    }
    argv[j] = NULL;
    argc = j;
    if (once) {
        int k;

        for (k = 1; k < argc; k++)
            if (strcmp(argv[k], "-f") == 0)
                break;
        if (k == argc && argc < 64) { /* never detach for a one-off request */
            static char *nargv[66];

            memcpy(nargv, argv, (size_t)argc * sizeof(char *));
            nargv[argc++] = (char *)"-f";
            nargv[argc] = NULL;
            argv = nargv;
        }
    }
    if ((c = daemon_start(&args, argc, argv, usage, &rc)) == NULL)
        return rc;
    conf_path = args.conf_path;
    umask(0077);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    if (oauth_global_init() < 0) {
        log_err("cannot initialise libcurl");
        return 1;
    }
    if (setup_load(&s, c, err, sizeof(err)) < 0) {
        log_err("%s", err);
        if (once)
            fprintf(stderr, "sendas-tokend: %s\n", err);
        setup_free(&s);
        return 1;
    }
    if (once) {
        rc = fetch_once(&s);
        setup_free(&s);
        curl_global_cleanup();
        return rc;
    }
    if (prepare_token_dir(&s, err, sizeof(err)) < 0 ||
        daemon_drop_privileges(args.user, err, sizeof(err)) < 0) {
        log_err("%s", err);
        setup_free(&s);
        return 1;
    }
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
             s.nmailboxes, s.conf->token_dir, s.conf->token_refresh_margin, s.endpoint,
             s.secret ? "client secret" : "certificate", PACKAGE_VERSION);
    if (s.signer)
        log_info("certificate thumbprint (x5t) %s", jwt_signer_x5t(s.signer));
    adopt_existing(&s, time(NULL));
    rc = run(&s, &sigs);
    if (ts.token) {
        memset(ts.token, 0, strlen(ts.token));
        free(ts.token);
    }
    setup_free(&s);
    curl_global_cleanup();
    log_info("stopped");
    return rc;
}
