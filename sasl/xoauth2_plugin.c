/* SPDX-License-Identifier: MIT */
/*
 * xoauth2_plugin - a Cyrus SASL client plugin offering XOAUTH2, for Postfix's
 * smtp client signing in to Exchange Online with tokens from sendas-tokend.
 *
 * The "password" Postfix hands over (smtp_sasl_password_maps) names the
 * token, never holds it:
 *     token           the file SENDAS_TOKEN_DIR/LOGIN (LOGIN: the user name)
 *     token:PATH      the file PATH (absolute)
 * When the file is not found and its path is under the Postfix queue
 * directory (/var/spool/postfix), the path relative to it is tried too, so
 * one map works for smtp processes in and out of the chroot.
 *
 * The plugin reads a local regular file only (never waits on a FIFO): no
 * network, no CA files.  A missing, malformed or expired token fails the
 * authentication on the client side, with the reason,
 * which Postfix turns into a temporary failure (4.7.0, mail deferred).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "xoauth2.h"

#ifndef SENDAS_TOKEN_DIR
#define SENDAS_TOKEN_DIR "/var/spool/postfix/sendas/tokens"
#endif
#define POSTFIX_QUEUE_DIR "/var/spool/postfix"
#define EXPIRY_SKEW 5 /* seconds: a token this close to expiry is not sent */

int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion, int *out_version,
                          sasl_client_plug_t **pluglist, int *plugcount);

struct xo_ctx {
    int state;      /* 0: initial response next, 1: sent, 2: error challenge answered */
    char *response; /* utils->malloc'd, lives until dispose */
    unsigned rlen;
};

/* xo_new - a context per authentication */
static int xo_new(void *glob __attribute__((unused)), sasl_client_params_t *params, void **conn_context)
{
    struct xo_ctx *c = params->utils->malloc(sizeof(*c));

    if (!c)
        return SASL_NOMEM;
    memset(c, 0, sizeof(*c));
    *conn_context = c;
    return SASL_OK;
}

/* xo_dispose - wipe and free the response (it holds the token) */
static void xo_dispose(void *conn_context, const sasl_utils_t *utils)
{
    struct xo_ctx *c = conn_context;

    if (!c)
        return;
    if (c->response) {
        explicit_bzero(c->response, c->rlen); /* memset before free may be dropped */
        utils->free(c->response);
    }
    utils->free(c);
}

/* get_simple - a user or authname from the application's callback */
static int get_simple(sasl_client_params_t *params, unsigned long id, const char **out)
{
    sasl_getsimple_t *cb = NULL;
    void *ctx = NULL;
    unsigned len = 0;

    *out = NULL;
    if (params->utils->getcallback(params->utils->conn, id, (sasl_callback_ft *)&cb, &ctx) !=
            SASL_OK ||
        !cb)
        return SASL_BADPARAM;
    if (cb(ctx, (int)id, out, &len) != SASL_OK || !*out || !**out)
        return SASL_BADPARAM;
    return SASL_OK;
}

/* get_password - the password field from the application's callback */
static int get_password(sasl_client_params_t *params, sasl_secret_t **out)
{
    sasl_getsecret_t *cb = NULL;
    void *ctx = NULL;

    *out = NULL;
    if (params->utils->getcallback(params->utils->conn, SASL_CB_PASS, (sasl_callback_ft *)&cb,
                                   &ctx) != SASL_OK ||
        !cb)
        return SASL_BADPARAM;
    if (cb(params->utils->conn, ctx, SASL_CB_PASS, out) != SASL_OK || !*out)
        return SASL_BADPARAM;
    return SASL_OK;
}

/* read_file - up to cap bytes of the regular file path into buf; the length, or -1 with
 * errno set (ENODEV: not a regular file; a FIFO is refused without waiting for a writer) */
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
    struct stat st;
    size_t n = 0;
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = ENODEV;
        return -1;
    }
    while (n < cap && (r = read(fd, buf + n, cap - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        n += (size_t)r;
    }
    close(fd);
    return (ssize_t)n;
}

/* token_path - the token file named by the password field (login for the "token" form);
 * 0, -1 for a password field of another form, -2 for a login that cannot name a file */
static int token_path(const char *pw, size_t pwlen, const char *login, char *path, size_t len)
{
    int n;

    if (pwlen == 5 && memcmp(pw, "token", 5) == 0) {
        if (!xoauth2_valid_mailbox(login))
            return -2;
        n = snprintf(path, len, "%s/%s", SENDAS_TOKEN_DIR, login);
    } else if (pwlen > 7 && memcmp(pw, "token:/", 7) == 0 && !memchr(pw, '\0', pwlen)) {
        n = snprintf(path, len, "%.*s", (int)(pwlen - 6), pw + 6);
    } else {
        return -1;
    }
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* shown - s as printable ASCII for a message (a login name from a map may hold anything) */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] && i < len - 1; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

/* fail - set the error text (formatted here: libsasl2's formatter knows only a few
 * conversions) and return code */
static int fail(const sasl_utils_t *u, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const sasl_utils_t *u, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    u->seterror(u->conn, 0, "%s", msg);
    return code;
}

/* load_token - read the token file; SASL_OK, or a failure with the reason set */
static int load_token(sasl_client_params_t *params, const char *path, char *buf, size_t cap,
                      const char **token, size_t *tlen)
{
    static const char q[] = POSTFIX_QUEUE_DIR "/";
    const sasl_utils_t *u = params->utils;
    time_t expires, now = time(NULL);
    ssize_t n = read_file(path, buf, cap);
    const char *why;

    if (n < 0 && errno == ENOENT && strncmp(path, q, sizeof(q) - 1) == 0)
        n = read_file(path + sizeof(q) - 2, buf, cap); /* chrooted: the same file */
    if (n < 0 && errno == ENODEV)
        return fail(u, SASL_FAIL, "XOAUTH2: token file %s is not a regular file", path);
    if (n < 0)
        return fail(u, SASL_TRYAGAIN,
                    "XOAUTH2: cannot read token file %s: %s (is sendas-tokend running?)", path,
                    strerror(errno));
    if ((why = xoauth2_token_check(buf, (size_t)n, &expires, token, tlen)) != NULL)
        return fail(u, SASL_FAIL, "XOAUTH2: token file %s is malformed: %s", path, why);
    if (expires <= now)
        return fail(u, SASL_TRYAGAIN,
                    "XOAUTH2: the token in %s expired %lld seconds ago (is sendas-tokend running?)",
                    path, (long long)(now - expires));
    if (expires <= now + EXPIRY_SKEW)
        return fail(u, SASL_TRYAGAIN,
                    "XOAUTH2: the token in %s expires in %lld seconds, too soon to use it (is "
                    "sendas-tokend running?)",
                    path, (long long)(expires - now));
    return SASL_OK;
}

/* xo_step - initial response; answer an error challenge with an empty response, then fail */
static int xo_step(void *conn_context, sasl_client_params_t *params, const char *serverin,
                   unsigned serverinlen, sasl_interact_t **prompt_need __attribute__((unused)), const char **clientout,
                   unsigned *clientoutlen, sasl_out_params_t *oparams)
{
    struct xo_ctx *c = conn_context;
    const sasl_utils_t *u = params->utils;
    const char *login = NULL, *token;
    sasl_secret_t *pw = NULL;
    char path[4096], file[XOAUTH2_MAX_FILE + 1], said[401];
    size_t tlen, cap;
    int rc;

    *clientout = NULL;
    *clientoutlen = 0;
    if (c->state == 1) {
        /* Exchange Online's error challenge (JSON): an empty reply, the server then says 535 */
        snprintf(said, sizeof(said), "%.*s", (int)(serverinlen > 400 ? 400 : serverinlen),
                 serverin ? serverin : "");
        u->log(u->conn, SASL_LOG_WARN, "XOAUTH2: server refused the token: %s", said);
        c->state = 2;
        *clientout = "";
        return SASL_CONTINUE;
    }
    if (c->state != 0)
        return fail(u, SASL_FAIL, "XOAUTH2: the server refused the token");
    if (get_simple(params, SASL_CB_AUTHNAME, &login) != SASL_OK &&
        get_simple(params, SASL_CB_USER, &login) != SASL_OK)
        return fail(u, SASL_BADPARAM, "XOAUTH2: no user name (smtp_sasl_password_maps)");
    if (get_password(params, &pw) != SASL_OK ||
        (rc = token_path((const char *)pw->data, pw->len, login, path, sizeof(path))) == -1)
        return fail(u, SASL_BADPARAM,
                    "XOAUTH2: the password field for %s must be \"token\" or \"token:/PATH\"",
                    shown(login, said, sizeof(said)));
    if (rc == -2)
        return fail(u, SASL_BADPARAM,
                    "XOAUTH2: the login name \"%s\" is not a mailbox address that names a token "
                    "file (smtp_sasl_password_maps: MAILBOX:token, or token:/PATH)",
                    shown(login, said, sizeof(said)));
    rc = load_token(params, path, file, sizeof(file) - 1, &token, &tlen);
    if (rc != SASL_OK)
        return rc;
    cap = strlen(login) + tlen + 32;
    if ((c->response = u->malloc(cap)) == NULL)
        rc = SASL_NOMEM;
    else if ((c->rlen = (unsigned)xoauth2_response(login, strlen(login), token, tlen,
                                                   c->response, cap)) == 0)
        rc = fail(u, SASL_FAIL, "XOAUTH2: cannot build the response for %s", login);
    else {
        rc = params->canon_user(u->conn, login, 0, SASL_CU_AUTHID | SASL_CU_AUTHZID, oparams);
    }
    explicit_bzero(file, sizeof(file));
    if (rc != SASL_OK)
        return rc;
    *clientout = c->response;
    *clientoutlen = c->rlen;
    c->state = 1;
    /* no doneflag: libsasl2 would refuse the step that answers an error challenge */
    oparams->mech_ssf = 0;
    oparams->maxoutbuf = 0;
    oparams->encode = NULL;
    oparams->decode = NULL;
    oparams->param_version = 0;
    return SASL_CONTINUE;
}

static sasl_client_plug_t xo_plugins[] = {{
    "XOAUTH2",                                    /* mech_name */
    0,                                            /* max_ssf */
    SASL_SEC_NOANONYMOUS | SASL_SEC_PASS_CREDENTIALS, /* security_flags */
    SASL_FEAT_WANT_CLIENT_FIRST | SASL_FEAT_ALLOWS_PROXY, /* features */
    NULL,                                         /* required_prompts */
    NULL,                                         /* glob_context */
    xo_new,                                       /* mech_new */
    xo_step,                                      /* mech_step */
    xo_dispose,                                   /* mech_dispose */
    NULL,                                         /* mech_free */
    NULL,                                         /* idle */
    NULL,                                         /* spare */
    NULL                                          /* spare */
}};

/* sasl_client_plug_init - libsasl2's entry point */
int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion, int *out_version,
                          sasl_client_plug_t **pluglist, int *plugcount)
{
    if (maxversion < SASL_CLIENT_PLUG_VERSION) {
        utils->seterror(utils->conn, 0, "XOAUTH2: libsasl2 is too old");
        return SASL_BADVERS;
    }
    *out_version = SASL_CLIENT_PLUG_VERSION;
    *pluglist = xo_plugins;
    *plugcount = 1;
    return SASL_OK;
}
