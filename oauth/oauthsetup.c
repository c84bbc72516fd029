/* SPDX-License-Identifier: MIT */
/*
 * oauthsetup - sendas-tokend's settings, credentials and token directory,
 * checked the same way at start-up, by `sendas-tokend -n` and by `sendasctl
 * check`; see oauthsetup.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "jwt.h"
#include "oauthsetup.h"
#include "secfile.h"
#include "xoauth2.h"

#define MAX_SECRET 4096
#define SENDAS_SERVICE_USER "sendas" /* deploy/systemd/sendas.sysusers */

/* oauthsetup_wanted - any oauth_ setting */
int oauthsetup_wanted(const struct conf *c)
{
    return c->oauth_client_id || c->oauth_tenant || c->oauth_client_secret_file ||
           c->oauth_certificate || c->oauth_private_key || c->oauth_token_endpoint ||
           c->oauth_mailboxes;
}

/* read_secret - the client secret from its private file (trailing white space dropped) */
static char *read_secret(const struct oauth_setup *s, char *err, size_t errlen)
{
    return secfile_read_line("oauth_client_secret_file", s->conf->oauth_client_secret_file,
                             s->uid, MAX_SECRET, err, errlen);
}

/* endpoint_url - oauth_token_endpoint, or the public cloud's URL for the tenant */
static char *endpoint_url(const struct conf *c)
{
    static const char fmt[] = "https://login.microsoftonline.com/%s/oauth2/v2.0/token";
    char *url;
    int len;

    if (c->oauth_token_endpoint)
        return strdup(c->oauth_token_endpoint);
    len = snprintf(NULL, 0, fmt, c->oauth_tenant);
    if (len <= 0 || (url = malloc((size_t)len + 1)) == NULL)
        return NULL;
    snprintf(url, (size_t)len + 1, fmt, c->oauth_tenant);
    return url;
}

/* oauthsetup_config - settings only */
int oauthsetup_config(struct oauth_setup *s, const struct conf *c, const char *conf_path,
                      const char *user, char *err, size_t errlen)
{
    struct passwd *pw;
    struct group *gr;
    size_t i, n = 0;

    memset(s, 0, sizeof(*s));
    s->conf = c;
    s->conf_path = conf_path;
    s->uid = geteuid();
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
        snprintf(err, errlen, "%s: token_retry_min (%lu s) is above token_retry_max (%lu s)",
                 conf_path, c->token_retry_min, c->token_retry_max);
        return -1;
    }
    if (c->token_refresh_margin > OAUTHSETUP_MAX_MARGIN) {
        snprintf(err, errlen,
                 "%s: token_refresh_margin %lu s is more than half of the 3599 s an Entra token "
                 "usually lives (at most %d; the default 900 suits Exchange Online)",
                 conf_path, c->token_refresh_margin, OAUTHSETUP_MAX_MARGIN);
        return -1;
    }
    if (c->oauth_mailboxes)
        while (c->oauth_mailboxes[n])
            n++;
    else
        n = c->nmailboxes;
    if (n == 0) {
        snprintf(err, errlen, "%s: no mailboxes (declare mailbox lines or oauth_mailboxes)",
                 conf_path);
        return -1;
    }
    if ((s->endpoint = endpoint_url(c)) == NULL ||
        (s->mailboxes = calloc(n + 1, sizeof(char *))) == NULL) {
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
    if ((gr = getgrnam(c->token_group)) == NULL) {
        snprintf(err, errlen, "token_group \"%s\": no such group", c->token_group);
        return -1;
    }
    s->gid = gr->gr_gid;
    if (user && *user) {
        if ((pw = getpwnam(user)) == NULL) {
            snprintf(err, errlen, "user \"%s\": no such user", user);
            return -1;
        }
        s->uid = pw->pw_uid;
    }
    return 0;
}

/* read_ca - oauth_ca_file into s->ca_pem: a regular file (never a FIFO, which would hang
 * OpenSSL at the first request), bounded, with a certificate in it */
static int read_ca(struct oauth_setup *s, char *err, size_t errlen)
{
    const char *path = s->conf->oauth_ca_file;
    size_t n = 0;
    ssize_t r;
    int fd = secfile_open("oauth_ca_file", path, 0, s->uid, err, errlen);

    if (fd < 0)
        return -1;
    if ((s->ca_pem = malloc(OAUTHSETUP_MAX_CA + 1)) == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (n <= OAUTHSETUP_MAX_CA && (r = read(fd, s->ca_pem + n, OAUTHSETUP_MAX_CA + 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "oauth_ca_file %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        n += (size_t)r;
    }
    close(fd);
    if (n > OAUTHSETUP_MAX_CA) {
        snprintf(err, errlen, "oauth_ca_file %s: larger than %d bytes", path, OAUTHSETUP_MAX_CA);
        return -1;
    }
    s->ca_pem[n] = '\0';
    s->ca_len = n;
    if (memchr(s->ca_pem, '\0', n) || !strstr(s->ca_pem, "-----BEGIN CERTIFICATE-----")) {
        snprintf(err, errlen, "oauth_ca_file %s: no PEM certificate in it", path);
        return -1;
    }
    return 0;
}

/* oauthsetup_credentials - the secret, or the certificate and key; the CA file */
int oauthsetup_credentials(struct oauth_setup *s, char *err, size_t errlen)
{
    const struct conf *c = s->conf;

    if (c->oauth_ca_file && read_ca(s, err, errlen) < 0)
        return -1;
    if (c->oauth_client_secret_file)
        return (s->secret = read_secret(s, err, errlen)) != NULL ? 0 : -1;
    s->signer = jwt_signer_load(c->oauth_certificate, c->oauth_private_key, s->uid, err, errlen);
    return s->signer ? 0 : -1;
}

/* only_token_files - non-zero when directory d holds nothing but what tokend writes there
 * (MAILBOX, MAILBOX.state, .MAILBOX.tmp: names with an '@') */
static int only_token_files(const char *d)
{
    DIR *dir = opendir(d);
    struct dirent *e;
    int ok = 1;

    if (!dir)
        return 0;
    while (ok && (e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            !strchr(e->d_name, '@'))
            ok = 0;
    closedir(dir);
    return ok;
}

/* parent_exists - the directory token_dir would be created in exists */
static int parent_exists(const char *d, char *err, size_t errlen)
{
    char parent[4096];
    const char *slash = strrchr(d, '/');
    struct stat st;

    if (!slash || slash == d)
        return 0;
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - d), d);
    if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "token_dir %s cannot be created: %s is not a directory", d, parent);
        return -1;
    }
    return 0;
}

/* oauthsetup_token_dir - a directory of our own, or a refusal */
int oauthsetup_token_dir(const struct oauth_setup *s, int create, char *err, size_t errlen)
{
    const char *d = s->conf->token_dir;
    struct stat st;
    unsigned mode;

    /* ours: the run user owns it (it writes there after dropping root), token_group reads.
     * Made for another user (root with -u), it is set-group-ID too, so that files get
     * token_group without a chown that user (often not in the group) could not make; a
     * unit with Group= needs no such bit (and RestrictSUIDSGID= would forbid it). */
    mode = s->uid != geteuid() ? 02750 : 0750;
    if (d[0] != '/') {
        snprintf(err, errlen, "token_dir %s: not an absolute path", d);
        return -1;
    }
    if (stat(d, &st) < 0) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "token_dir %s: %s", d, strerror(errno));
            return -1;
        }
        if (!create)
            return parent_exists(d, err, errlen);
        if (mkdir(d, 0750) < 0 || stat(d, &st) < 0) {
            snprintf(err, errlen, "mkdir %s: %s", d, strerror(errno));
            return -1;
        }
    } else {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "token_dir %s: not a directory", d);
            return -1;
        }
        /* a directory others may write to is not ours to change: refuse, leave it be */
        if (st.st_mode & (S_IWGRP | S_IWOTH | S_ISVTX)) {
            snprintf(err, errlen,
                     "token_dir %s is shared (mode %04o): give sendas-tokend a directory of its "
                     "own (it would change this one's owner and mode)",
                     d, (unsigned)(st.st_mode & 07777));
            return -1;
        }
        /* root's directory goes to the run user only when it is one tokend made (or made
         * like it: nothing for others, nothing but token files) */
        if (st.st_uid != s->uid &&
            !(st.st_uid == 0 && !(st.st_mode & S_IRWXO) && only_token_files(d))) {
            snprintf(err, errlen,
                     "token_dir %s is owned by uid %lu, not by the user sendas-tokend runs as "
                     "(uid %lu): give it a directory of its own (or remove this one: "
                     "sendas-tokend creates it)",
                     d, (unsigned long)st.st_uid, (unsigned long)s->uid);
            return -1;
        }
        /* one it would change (owner, group, mode) must hold nothing but token files:
         * token_dir /etc/sendas or /var/spool/postfix is a mistake, not a directory to chmod */
        if ((((st.st_mode & 07777) != mode && (st.st_mode & 07777) != 02750) ||
             st.st_uid != s->uid || st.st_gid != s->gid) &&
            !only_token_files(d)) {
            snprintf(err, errlen,
                     "token_dir %s holds other files (mode %04o): sendas-tokend would change "
                     "its owner or mode; give it a directory of its own",
                     d, (unsigned)(st.st_mode & 07777));
            return -1;
        }
        if (!create)
            return 0;
    }
    if ((st.st_uid != s->uid || st.st_gid != s->gid) && chown(d, s->uid, s->gid) < 0) {
        snprintf(err, errlen, "chown %lu:%s %s: %s", (unsigned long)s->uid,
                 s->conf->token_group, d, strerror(errno));
        return -1;
    }
    if ((st.st_mode & 07777) != mode && (st.st_mode & 07777) != 02750 && chmod(d, mode) < 0) {
        snprintf(err, errlen, "chmod %o %s: %s", mode, d, strerror(errno));
        return -1;
    }
    return 0;
}

/* oauthsetup_free - wipe the secret, free the rest */
void oauthsetup_free(struct oauth_setup *s)
{
    secret_free(s->secret);
    jwt_signer_free(s->signer);
    free(s->ca_pem);
    free(s->endpoint);
    free(s->mailboxes);
    memset(s, 0, sizeof(*s));
}

/* oauthsetup_service_user - sendas.conf's user, or the package's */
const char *oauthsetup_service_user(const struct conf *c)
{
    if (c->user)
        return c->user;
    return geteuid() == 0 && getpwnam(SENDAS_SERVICE_USER) ? SENDAS_SERVICE_USER : NULL;
}

/* oauthsetup_check - settings, token directory, credentials; nothing changed */
int oauthsetup_check(const struct conf *c, const char *conf_path, const char *user, char *err,
                     size_t errlen)
{
    struct oauth_setup s;
    int rc = oauthsetup_config(&s, c, conf_path, user, err, errlen);

    if (rc == 0)
        rc = oauthsetup_token_dir(&s, 0, err, errlen);
    if (rc == 0)
        rc = oauthsetup_credentials(&s, err, errlen);
    oauthsetup_free(&s);
    return rc;
}
