/* SPDX-License-Identifier: MIT */
/*
 * doctor_remote - `sendasctl doctor --remote`: talk to the relayhost as
 * Postfix's smtp would (banner, EHLO, STARTTLS with the certificate
 * verified, EHLO, AUTH per mailbox with what smtp_sasl_password_maps gives)
 * and QUIT without MAIL FROM: nothing is ever sent.  Exchange Online's
 * answers become advice through audit/maillog.c's table (the one `sendasctl
 * audit` uses) and token errors through oauth/aadsts.c.
 *
 * Every step has the --timeout deadline; replies are read through one
 * bounded reader (SMTP_LINE_MAX bytes a line, SMTP_MAX_LINES lines a reply);
 * credentials go only over TLS to a verified server and are wiped after use.
 */
#include "config.h"

#include "doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "aadsts.h"
#include "clock.h"
#include "maillog.h"
#include "tokstate.h"
#include "xoauth2.h"

#define SMTP_LINE_MAX 1000 /* bytes of one reply line (RFC 5321 says 512) */
#define SMTP_MAX_LINES 64  /* lines of one reply (EHLO lists about 10) */
#define SMTP_TEXT 2048     /* bytes kept of one reply's text */
#define SMTP_CMD_MAX 12288 /* AUTH XOAUTH2 with the largest token, base64 */
#define CRED_MAX 1024      /* bytes of a sasl_passwd value */

enum smtp_err { SMTP_OK, SMTP_TIMEOUT, SMTP_EOF, SMTP_IO, SMTP_PROTO };

struct smtp {
    int fd;
    SSL *ssl;
    unsigned timeout;
    enum smtp_err err;
    char why[512]; /* what went wrong, for the report */
    char buf[SMTP_LINE_MAX + 2];
    size_t len;
};

struct reply {
    int code;
    size_t nlines;
    char text[SMTP_TEXT]; /* the lines' texts after the code, joined by '\n' */
};

/* The relayhost as Postfix's smtp reaches it. */
struct target {
    char host[256]; /* without brackets */
    char port[32];  /* a number or a service name */
    char helo[256];
    char ca_file[1024]; /* "" : the system's */
};

/* fail_io - record why the session broke */
static int fail_io(struct smtp *s, enum smtp_err e, const char *what)
{
    s->err = e;
    snprintf(s->why, sizeof(s->why), "%s", what);
    return -1;
}

/* ssl_wait - wait for what SSL asked for; 0 to try again, -1 on error or timeout */
static int ssl_wait(struct smtp *s, int r, int64_t deadline)
{
    int e = SSL_get_error(s->ssl, r);

    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (doc_wait_fd(s->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
            return fail_io(s, SMTP_TIMEOUT, "no answer in time");
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
        return fail_io(s, SMTP_EOF, "the server closed the connection");
    ERR_error_string_n(ERR_get_error(), s->why, sizeof(s->why));
    s->err = SMTP_IO;
    return -1;
}

/* smtp_recv - some bytes into p; their number, or -1 */
static ssize_t smtp_recv(struct smtp *s, char *p, size_t n, int64_t deadline)
{
    for (;;) {
        ssize_t r;

        if (s->ssl) {
            int k = SSL_read(s->ssl, p, (int)n);

            if (k > 0)
                return k;
            if (ssl_wait(s, k, deadline) < 0)
                return -1;
            continue;
        }
        r = read(s->fd, p, n);
        if (r > 0)
            return r;
        if (r == 0)
            return fail_io(s, SMTP_EOF, "the server closed the connection");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return fail_io(s, SMTP_IO, strerror(errno));
        if (doc_wait_fd(s->fd, POLLIN, deadline) < 0)
            return fail_io(s, SMTP_TIMEOUT, "no answer in time");
    }
}

/* smtp_send - all of (p, n); 0, or -1 */
static int smtp_send(struct smtp *s, const char *p, size_t n)
{
    int64_t deadline = clock_mono_ms() + (int64_t)s->timeout * 1000;

    while (n > 0) {
        ssize_t w;

        if (s->ssl) {
            int k = SSL_write(s->ssl, p, (int)n);

            if (k <= 0 && ssl_wait(s, k, deadline) < 0)
                return -1;
            w = k > 0 ? k : 0;
        } else {
            w = send(s->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno != EINTR && errno != EAGAIN)
                return fail_io(s, SMTP_IO, strerror(errno));
            if (w < 0 && errno == EAGAIN && doc_wait_fd(s->fd, POLLOUT, deadline) < 0)
                return fail_io(s, SMTP_TIMEOUT, "could not send in time");
            w = w > 0 ? w : 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* smtp_line - the next line (CRLF or LF removed) into out; 0, or -1 */
static int smtp_line(struct smtp *s, char *out, size_t outlen, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        ssize_t got;

        if (nl) {
            size_t n = (size_t)(nl - s->buf), take = n;

            if (take && s->buf[take - 1] == '\r')
                take--;
            if (take >= outlen)
                take = outlen - 1;
            memcpy(out, s->buf, take);
            out[take] = '\0';
            memmove(s->buf, nl + 1, s->len - n - 1);
            s->len -= n + 1;
            return 0;
        }
        if (s->len >= SMTP_LINE_MAX)
            return fail_io(s, SMTP_PROTO, "a reply line longer than 1000 bytes");
        if ((got = smtp_recv(s, s->buf + s->len, SMTP_LINE_MAX + 1 - s->len, deadline)) < 0)
            return -1;
        s->len += (size_t)got;
    }
}

/* smtp_reply - one whole reply (all its lines, one code); 0, or -1 */
static int smtp_reply(struct smtp *s, struct reply *r)
{
    int64_t deadline = clock_mono_ms() + (int64_t)s->timeout * 1000;
    char line[SMTP_LINE_MAX + 1];
    size_t used = 0;

    memset(r, 0, sizeof(*r));
    for (;;) {
        int code;

        if (smtp_line(s, line, sizeof(line), deadline) < 0)
            return -1;
        if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
            line[1] > '9' || line[2] < '0' || line[2] > '9' ||
            (line[3] && line[3] != ' ' && line[3] != '-'))
            return fail_io(s, SMTP_PROTO, "an answer that is not an SMTP reply");
        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (r->nlines && code != r->code)
            return fail_io(s, SMTP_PROTO, "a reply whose lines have different codes");
        r->code = code;
        if (++r->nlines > SMTP_MAX_LINES)
            return fail_io(s, SMTP_PROTO, "a reply of more than 64 lines");
        if (line[3]) {
            int k = snprintf(r->text + used, sizeof(r->text) - used, "%s%s", used ? "\n" : "",
                             line + 4);

            used = k > 0 && (size_t)k < sizeof(r->text) - used ? used + (size_t)k
                                                               : sizeof(r->text) - 1;
        }
        if (line[3] != '-')
            return 0;
    }
}

/* smtp_cmd - send one command line (CRLF added) and read the reply; 0, or -1 */
static int smtp_cmd(struct smtp *s, const char *cmd, struct reply *r)
{
    char line[SMTP_CMD_MAX + 3];
    size_t n = strlen(cmd);
    int rc;

    if (n > SMTP_CMD_MAX)
        return fail_io(s, SMTP_PROTO, "command too long");
    memcpy(line, cmd, n);
    memcpy(line + n, "\r\n", 2);
    rc = smtp_send(s, line, n + 2) < 0 ? -1 : smtp_reply(s, r);
    explicit_bzero(line, n + 2); /* AUTH lines carry credentials */
    return rc;
}

/* first_line - the reply as "CODE text" of its first line, for the report */
static void first_line(const struct reply *r, char *out, size_t outlen)
{
    size_t n = strcspn(r->text, "\n");

    snprintf(out, outlen, "%d %.*s", r->code, (int)n, r->text);
}

/* enhanced_code - "5.7.139" from the reply's text, or "" */
static void enhanced_code(const struct reply *r, char *out, size_t outlen)
{
    size_t n = strspn(r->text, "0123456789.");

    out[0] = '\0';
    if (n >= 5 && n < outlen && r->text[0] == '0' + r->code / 100 && r->text[1] == '.')
        snprintf(out, outlen, "%.*s", (int)n, r->text);
}

/* advice - what to do about a refusal: the audit table's advice, else a generic line */
static void advice(const struct reply *r, const char *mailbox, char *out, size_t outlen)
{
    char dsn[24], said[SMTP_LINE_MAX + 8];

    enhanced_code(r, dsn, sizeof(dsn));
    first_line(r, said, sizeof(said));
    if (dsn[0] && maillog_advice(dsn, said, NULL, mailbox, NULL, out, outlen))
        return;
    if (r->code == 421)
        snprintf(out, outlen, "the server ended the session (421): Exchange Online is throttling "
                              "this host or busy; run doctor again in a few minutes, and if it "
                              "persists check the service health in the Microsoft 365 admin center");
    else if (r->code / 100 == 4)
        snprintf(out, outlen, "a temporary refusal: run doctor again later; Postfix defers and "
                              "retries meanwhile");
    else
        snprintf(out, outlen, "refused by the server: see its answer; `sendasctl audit` explains "
                              "the codes Exchange Online gives");
}

/* smtp_close - QUIT (when the session still stands), then close */
static void smtp_close(struct smtp *s, int quit)
{
    struct reply r;

    if (s->fd < 0)
        return;
    if (quit && s->err == SMTP_OK)
        smtp_cmd(s, "QUIT", &r);
    if (s->ssl) {
        if (s->err == SMTP_OK)
            SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    close(s->fd);
    s->fd = -1;
}

/* tcp_connect - a connection to host:port within the timeout; 0, or -1 with s->why */
static int tcp_connect(struct smtp *s, const struct target *t, char *addr, size_t addrlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    int64_t deadline = clock_mono_ms() + (int64_t)s->timeout * 1000;
    int rc;

    if ((rc = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
        snprintf(s->why, sizeof(s->why), "cannot resolve %s: %s", t->host, gai_strerror(rc));
        return -1;
    }
    snprintf(s->why, sizeof(s->why), "no address");
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
        socklen_t el = sizeof(e);

        if (fd < 0)
            continue;
        getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, (socklen_t)addrlen, NULL, 0,
                    NI_NUMERICHOST);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && doc_wait_fd(fd, POLLOUT, deadline) == 0 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)) {
            s->fd = fd;
            freeaddrinfo(res);
            return 0;
        }
        if ((errno == EINPROGRESS || errno == ETIMEDOUT) && e == 0)
            snprintf(s->why, sizeof(s->why), "%s port %s: no connection within %u s", addr,
                     t->port, s->timeout);
        else
            snprintf(s->why, sizeof(s->why), "%s port %s: %s", addr, t->port,
                     strerror(e ? e : errno));
        close(fd);
    }
    freeaddrinfo(res);
    return -1;
}

/* ehlo_has - does the EHLO reply offer keyword (case-insensitive)?  Its arguments into
 * args ("" when none): of the last line naming it, as Postfix's smtp keeps the last of
 * "AUTH=LOGIN" (the old syntax) and "AUTH LOGIN XOAUTH2" when a server sends both */
static int ehlo_has(const struct reply *r, const char *keyword, char *args, size_t argslen)
{
    const char *p = r->text;
    size_t k = strlen(keyword);
    int found = 0;

    for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        size_t n = strcspn(p, "\n");

        if (n >= k && strncasecmp(p, keyword, k) == 0 &&
            (n == k || p[k] == ' ' || p[k] == '=')) {
            size_t a = n > k ? n - k - 1 : 0;

            if (args)
                snprintf(args, argslen, "%.*s", (int)a, p + k + (n > k));
            found = 1;
        }
    }
    return found;
}

/* has_word - is word one of the space-separated words of list (case-insensitive)? */
static int has_word(const char *list, const char *word)
{
    size_t k = strlen(word);

    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");

        if (n == k && strncasecmp(p, word, k) == 0)
            return 1;
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

/* verify_fix - the remedy for a certificate that did not verify */
static const char *verify_fix(long v)
{
    switch (v) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "the certificate does not name the relayhost: name the server as its certificate "
               "does, relayhost = [smtp.office365.com]:587 (not an address or another alias); if "
               "it is right, something in between answers instead of Exchange Online";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "check this host's clock (NTP); if it is right, something in between answers "
               "with an old certificate instead of Exchange Online";
    default:
        return "the issuer is not trusted: smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt "
               "(package ca-certificates, kept current); a TLS-inspecting proxy or firewall in "
               "between must let port 587 pass untouched";
    }
}

/* tls_start - STARTTLS, the handshake, the certificate check; 0, or -1 (reported) */
static int tls_start(struct doc_report *rep, struct smtp *s, SSL_CTX *ctx, const struct target *t)
{
    int64_t deadline = clock_mono_ms() + (int64_t)s->timeout * 1000;
    struct in6_addr a6;
    struct reply r;
    char said[SMTP_LINE_MAX + 8];
    long v;
    int k;

    if (smtp_cmd(s, "STARTTLS", &r) < 0 || r.code != 220) {
        if (s->err == SMTP_OK)
            first_line(&r, said, sizeof(said));
        doc_add(rep, DOC_FAIL, "remote", "starttls",
                "the relayhost must be Exchange Online's submission port, [smtp.office365.com]:587",
                "STARTTLS refused: %s", s->err == SMTP_OK ? said : s->why);
        return -1;
    }
    /* what came after 220 was sent before TLS: a command injection attempt */
    if (s->len) {
        doc_add(rep, DOC_FAIL, "remote", "starttls",
                "something between this host and the relayhost tampers with SMTP: find it",
                "the server sent data after its 220 to STARTTLS, before TLS began");
        return -1;
    }
    if ((s->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
        doc_add(rep, DOC_FAIL, "remote", "tls", "run doctor again", "cannot set up TLS");
        return fail_io(s, SMTP_IO, "out of memory");
    }
    if (inet_pton(AF_INET6, t->host, &a6) == 1 || inet_pton(AF_INET, t->host, &a6) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), t->host);
    } else {
        SSL_set_tlsext_host_name(s->ssl, t->host);
        SSL_set1_host(s->ssl, t->host);
    }
    ERR_clear_error();
    while ((k = SSL_connect(s->ssl)) != 1) {
        if (ssl_wait(s, k, deadline) < 0) {
            unsigned long e = ERR_peek_error();
            char es[200];

            ERR_error_string_n(e, es, sizeof(es));
            doc_add(rep, DOC_FAIL, "remote", "tls",
                    "Exchange Online needs TLS 1.2 or newer: smtp_tls_mandatory_protocols = "
                    ">=TLSv1.2 and an OpenSSL that has it; a proxy in between may break TLS",
                    "TLS handshake with %s failed: %s", t->host, e ? es : s->why);
            return -1;
        }
    }
    if ((v = SSL_get_verify_result(s->ssl)) != X509_V_OK) {
        doc_add(rep, DOC_FAIL, "remote", "tls certificate", verify_fix(v),
                "certificate of %s does not verify (%s, CA file %s); no credentials were sent",
                t->host, X509_verify_cert_error_string(v),
                t->ca_file[0] ? t->ca_file : "the system's");
        return -1;
    }
    if (SSL_version(s->ssl) < TLS1_2_VERSION) {
        doc_add(rep, DOC_FAIL, "remote", "tls",
                "Exchange Online refuses TLS below 1.2 (421 4.7.66): smtp_tls_mandatory_protocols "
                "= >=TLSv1.2, smtp_tls_protocols = >=TLSv1.2",
                "%s with %s", SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
        return -1;
    }
    doc_add(rep, DOC_OK, "remote", "tls", NULL, "%s, %s; certificate of %s verified (CA file %s)",
            SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl), t->host,
            t->ca_file[0] ? t->ca_file : "the system's");
    return 0;
}

/* session - connect, banner, EHLO, STARTTLS, EHLO, each step reported; 0 with the AUTH
 * mechanisms in mechs, or -1 */
static int session(struct doc_report *rep, struct smtp *s, SSL_CTX *ctx, const struct target *t,
                   char *mechs, size_t mechslen)
{
    char addr[64] = "", said[SMTP_LINE_MAX + 8], cmd[300], fix[DOC_MAX_TEXT];
    struct reply r;

    if (tcp_connect(s, t, addr, sizeof(addr)) < 0) {
        doc_add(rep, DOC_FAIL, "remote", "connect",
                "let this host reach the relayhost (firewall, outbound port 587; relayhost "
                "= [smtp.office365.com]:587)",
                "%s", s->why);
        return -1;
    }
    if (smtp_reply(s, &r) < 0 || r.code != 220) {
        if (s->err == SMTP_OK) {
            first_line(&r, said, sizeof(said));
            advice(&r, "", fix, sizeof(fix));
            snprintf(s->why, sizeof(s->why), "greeting %.400s", said);
        } else {
            snprintf(fix, sizeof(fix), "the relayhost must be an SMTP server: "
                                       "[smtp.office365.com]:587");
            if (s->err == SMTP_TIMEOUT)
                snprintf(s->why, sizeof(s->why), "no greeting within %u s", s->timeout);
        }
        doc_add(rep, DOC_FAIL, "remote", "greeting", fix, "%s port %s: %s", addr, t->port,
                s->why);
        return -1;
    }
    first_line(&r, said, sizeof(said));
    doc_add(rep, DOC_OK, "remote", "connect", NULL, "%s port %s (%s): %s", t->host, t->port,
            addr, said);
    snprintf(cmd, sizeof(cmd), "EHLO %s", t->helo);
    if (smtp_cmd(s, cmd, &r) < 0 || r.code != 250) {
        doc_add(rep, DOC_FAIL, "remote", "ehlo", "see the server's answer",
                "EHLO refused: %s", s->err == SMTP_OK ? (first_line(&r, said, sizeof(said)),
                                                         said)
                                                      : s->why);
        return -1;
    }
    if (!ehlo_has(&r, "STARTTLS", NULL, 0)) {
        doc_add(rep, DOC_FAIL, "remote", "starttls",
                "Exchange Online offers STARTTLS on port 587: relayhost = "
                "[smtp.office365.com]:587; nothing in between may strip STARTTLS",
                "%s offers no STARTTLS", t->host);
        return -1;
    }
    if (tls_start(rep, s, ctx, t) < 0)
        return -1;
    if (smtp_cmd(s, cmd, &r) < 0 || r.code != 250) {
        doc_add(rep, DOC_FAIL, "remote", "ehlo", "see the server's answer",
                "EHLO after STARTTLS refused: %s",
                s->err == SMTP_OK ? (first_line(&r, said, sizeof(said)), said) : s->why);
        return -1;
    }
    if (!ehlo_has(&r, "AUTH", mechs, mechslen) || mechs[0] == '\0') {
        mechs[0] = '\0';
        doc_add(rep, DOC_FAIL, "remote", "auth mechanisms",
                "SMTP AUTH is off for the tenant: Set-TransportConfig "
                "-SmtpClientAuthenticationDisabled $false (and no security defaults that "
                "block it); check that relayhost is [smtp.office365.com]:587",
                "%s offers no AUTH after STARTTLS", t->host);
        return -1;
    }
    doc_add(rep, DOC_OK, "remote", "auth mechanisms", NULL, "offered after STARTTLS: %s",
            mechs);
    return 0;
}

/* parse_relayhost - "[host]:port", "host:port", "[ipv6:addr]:port" into t; 0, or -1 */
static int parse_relayhost(const char *v, struct target *t)
{
    size_t n = strcspn(v, ", \t"); /* a list (Postfix 3.5): the first is tried first */
    const char *end = v + n, *colon, *h = v;

    if (n == 0 || n >= sizeof(t->host))
        return -1;
    snprintf(t->port, sizeof(t->port), "25");
    if (v[0] == '[') {
        const char *rb = memchr(v, ']', n);

        if (rb == NULL)
            return -1;
        h = v + 1;
        if (strncasecmp(h, "ipv6:", 5) == 0)
            h += 5;
        snprintf(t->host, sizeof(t->host), "%.*s", (int)(rb - h), h);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(v, ':', n);
        snprintf(t->host, sizeof(t->host), "%.*s", (int)((colon ? colon : end) - v), v);
    }
    if (colon && (size_t)(end - colon - 1) < sizeof(t->port))
        snprintf(t->port, sizeof(t->port), "%.*s", (int)(end - colon - 1), colon + 1);
    else if (colon)
        return -1;
    /* a number, or a service name as Postfix allows ("submission") */
    return t->host[0] && t->port[0] &&
                   strspn(t->port, "0123456789abcdefghijklmnopqrstuvwxyz-") == strlen(t->port)
               ? 0
               : -1;
}

/* safe_name - a host name fit for EHLO, else "localhost" */
static void safe_name(const char *v, char *out, size_t outlen)
{
    size_t n = strlen(v);

    if (n == 0 || n >= outlen ||
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n)
        v = "localhost";
    memcpy(out, v, strlen(v) + 1);
}

/* find_target - the relayhost, EHLO name and CA file; 0, or -1 (reported) */
static int find_target(struct doc_report *rep, const struct doc_opts *o, struct target *t)
{
    char v[1024] = "";

    memset(t, 0, sizeof(*t));
    if (o->relayhost)
        snprintf(v, sizeof(v), "%s", o->relayhost);
    else if (doc_postconf(o, "relayhost", v, sizeof(v)) < 0) {
        doc_add(rep, DOC_FAIL, "remote", "relayhost", "install Postfix, or name it: --relayhost",
                "cannot run postconf to read relayhost");
        return -1;
    }
    if (parse_relayhost(v, t) < 0) {
        doc_add(rep, DOC_FAIL, "remote", "relayhost", "relayhost = [smtp.office365.com]:587",
                "relayhost is \"%s\": no server to check", v);
        return -1;
    }
    if (doc_postconf(o, "myhostname", v, sizeof(v)) < 0 || v[0] == '\0')
        gethostname(v, sizeof(v) - 1);
    safe_name(v, t->helo, sizeof(t->helo));
    if (o->ca_file)
        snprintf(t->ca_file, sizeof(t->ca_file), "%s", o->ca_file);
    else if (doc_postconf(o, "smtp_tls_CAfile", v, sizeof(v)) == 0)
        snprintf(t->ca_file, sizeof(t->ca_file), "%s", v);
    return 0;
}

/* tls_context - the client context: CA file or the system's store; NULL (reported) */
static SSL_CTX *tls_context(struct doc_report *rep, const struct target *t)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        doc_add(rep, DOC_FAIL, "remote", "tls", "check the OpenSSL installation",
                "cannot set up TLS");
        return NULL;
    }
    /* verified after the handshake, so that the report can say what is wrong */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (t->ca_file[0] ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1
                      : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        doc_add(rep, DOC_FAIL, "remote", "tls CA file",
                "smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt (or --ca-file FILE)",
                "cannot load the CA certificates from %s", t->ca_file[0] ? t->ca_file : "the system");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* b64 - base64 of (p, n) into out; 0, or -1 when it does not fit */
static int b64(const char *p, size_t n, char *out, size_t outlen)
{
    return n && xoauth2_base64((const unsigned char *)p, n, 0, out, outlen) ? 0 : -1;
}

/* auth_password - AUTH LOGIN (or PLAIN) with user and password; 0 with the final reply in r */
static int auth_password(struct smtp *s, const char *mech, const char *user, const char *pass,
                         struct reply *r)
{
    char cmd[CRED_MAX * 2 + 64], raw[CRED_MAX * 2];
    int rc = -1;

    if (strcasecmp(mech, "PLAIN") == 0) {
        size_t ul = strlen(user), pl = strlen(pass);

        if (ul + pl + 2 > sizeof(raw))
            return fail_io(s, SMTP_PROTO, "credentials too long");
        raw[0] = '\0';
        memcpy(raw + 1, user, ul + 1);
        memcpy(raw + ul + 2, pass, pl);
        memcpy(cmd, "AUTH PLAIN ", 11);
        if (b64(raw, ul + pl + 2, cmd + 11, sizeof(cmd) - 11) == 0)
            rc = smtp_cmd(s, cmd, r);
        goto out;
    }
    if (smtp_cmd(s, "AUTH LOGIN", r) < 0 || r->code != 334) {
        rc = s->err == SMTP_OK ? 0 : -1;
        goto out;
    }
    if (b64(user, strlen(user), cmd, sizeof(cmd)) < 0 || smtp_cmd(s, cmd, r) < 0)
        goto out;
    if (r->code != 334) {
        rc = 0;
        goto out;
    }
    if (b64(pass, strlen(pass), cmd, sizeof(cmd)) == 0)
        rc = smtp_cmd(s, cmd, r);
out:
    explicit_bzero(cmd, sizeof(cmd));
    explicit_bzero(raw, sizeof(raw));
    return rc;
}

/* auth_token - AUTH XOAUTH2 with the token; 0 with the final reply in r */
static int auth_token(struct smtp *s, const char *user, const char *tok, size_t tlen,
                      struct reply *r)
{
    static char raw[XOAUTH2_MAX_TOKEN + XOAUTH2_MAX_USER + 64], cmd[SMTP_CMD_MAX];
    size_t n = xoauth2_response(user, strlen(user), tok, tlen, raw, sizeof(raw));
    int rc = -1;

    memcpy(cmd, "AUTH XOAUTH2 ", 13);
    if (n && b64(raw, n, cmd + 13, sizeof(cmd) - 13) == 0 && smtp_cmd(s, cmd, r) == 0) {
        rc = 0;
        /* a refused token may come as a 334 JSON challenge: answer it empty for the code */
        if (r->code == 334)
            rc = smtp_cmd(s, "", r);
    }
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(cmd, sizeof(cmd));
    return rc;
}

/* token_problem - the state file's last error and its advice into found and fix */
static void token_problem(const char *path, const char *mailbox, char *found, size_t flen,
                          char *fix, size_t fixlen)
{
    char spath[4200], buf[TOKSTATE_MAX_FILE + 2];
    struct tokstate st;
    ssize_t n;
    const char *a;

    snprintf(spath, sizeof(spath), "%s.state", path);
    n = tokstate_read_file(spath, buf, sizeof(buf));
    if (n <= 0 || tokstate_parse(buf, (size_t)n, mailbox, &st) < 0 || !st.last_error[0]) {
        snprintf(fix, fixlen, "start sendas-tokend (systemctl status sendas-tokend), then "
                              "`sendasctl token` shows its state");
        return;
    }
    size_t fl = strlen(found);
    snprintf(found + fl, flen - fl, "; sendas-tokend's last error: %s", st.last_error);
    if ((a = aadsts_advice(st.last_error)) != NULL)
        snprintf(fix, fixlen, "%s; then `sendasctl token --fetch`", a);
    else
        snprintf(fix, fixlen, "see sendas-tokend's log and `sendasctl token --fetch`");
}

/* load_token - the token file of the entry's "token[:/PATH]" password; its token in buf
 * (tok, tlen), or -1 with found and fix set */
static int load_token(const struct conf *c, const char *user, const char *pw, char *buf,
                      size_t cap, const char **tok, size_t *tlen, char *found, size_t flen,
                      char *fix, size_t fixlen)
{
    char path[4096];
    time_t exp;
    const char *why;
    ssize_t n;

    if (strcmp(pw, "token") == 0)
        snprintf(path, sizeof(path), "%s/%s", c ? c->token_dir : "", user);
    else
        snprintf(path, sizeof(path), "%s", pw + 6);
    if ((n = tokstate_read_file(path, buf, cap)) < 0) {
        snprintf(found, flen, "no token in %.300s (%s)", path, strerror(errno));
        token_problem(path, user, found, flen, fix, fixlen);
        return -1;
    }
    if ((why = xoauth2_token_check(buf, (size_t)n, &exp, tok, tlen)) != NULL) {
        snprintf(found, flen, "token file %.300s is malformed: %s", path, why);
        snprintf(fix, fixlen, "let sendas-tokend write it again: systemctl restart sendas-tokend");
        return -1;
    }
    if (exp <= time(NULL) + 5) {
        snprintf(found, flen, "the token in %.300s has expired", path);
        token_problem(path, user, found, flen, fix, fixlen);
        return -1;
    }
    return 0;
}

/* lookup_cred - the mailbox's entry from smtp_sasl_password_maps (the first map that has it)
 * into val; 1 found, 0 not, -1 error */
static int lookup_cred(const struct doc_opts *o, const char *maps, const char *key, char *val,
                       size_t vlen, char *map_used, size_t mlen)
{
    const char *p = maps;
    int rc = 0;

    while (*p) {
        char map[1024];
        size_t n;

        p += strspn(p, ", \t");
        n = strcspn(p, ", \t");
        if (n == 0)
            break;
        snprintf(map, sizeof(map), "%.*s", (int)n, p);
        p += n;
        rc = doc_postmap_query(o, map, key, val, vlen);
        snprintf(map_used, mlen, "%s", map);
        if (rc != 0)
            return rc;
    }
    return rc;
}

/* filter_allows - does smtp_sasl_mechanism_filter let Postfix use mech? (empty: any; a
 * table Postfix would look up: any, as doctor cannot say; "!mech" words exclude) */
static int filter_allows(const char *filter, const char *mech)
{
    char buf[1024], *save = NULL;
    int listed = 0;

    if (strchr(filter, ':'))
        return 1;
    snprintf(buf, sizeof(buf), "%s", filter);
    for (char *w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        if (strcasecmp(w + (w[0] == '!'), mech) == 0)
            return w[0] != '!';
        listed |= w[0] != '!';
    }
    return !listed; /* only exclusions: the rest passes */
}

/* pick_mech - the mechanism Postfix would sign in with: XOAUTH2 for a token, LOGIN (else
 * PLAIN) for a password, offered by the server and let through filter; NULL when none is
 * (reported as the mailbox's check) */
static const char *pick_mech(struct doc_report *rep, const char *name, const char *val, int token,
                             const char *mechs, const char *filter)
{
    const char *mech = token ? "XOAUTH2" : "LOGIN";

    if (!token && (!has_word(mechs, "LOGIN") || !filter_allows(filter, "LOGIN")) &&
        has_word(mechs, "PLAIN"))
        mech = "PLAIN";
    if (has_word(mechs, mech) && !filter_allows(filter, mech)) {
        /* the server would take it, Postfix's filter keeps it from trying */
        doc_add(rep, DOC_FAIL, "remote", name,
                token ? "smtp_sasl_mechanism_filter = xoauth2 (postconf -e; postfix reload)"
                      : "smtp_sasl_mechanism_filter = login, plain (postconf -e; postfix reload)",
                "%s needs %s, but smtp_sasl_mechanism_filter = %s leaves Postfix none of the "
                "offered %s (\"no worthy mechs\")",
                val, token ? mech : "LOGIN or PLAIN", filter, mechs);
        return NULL;
    }
    if (!has_word(mechs, mech)) {
        doc_add(rep, DOC_FAIL, "remote", name,
                token ? "the server does not offer XOAUTH2: relayhost = [smtp.office365.com]:587"
                      : "the server takes no password: sign in with OAuth 2.0 (sendas-tokend, "
                        "doc/oauth.md)",
                "%s needs %s, the server offers %s", val, mech, mechs);
        return NULL;
    }
    return mech;
}

/* check_mailbox - sign in as one mailbox in a session of its own, with the mechanism
 * Postfix would pick: offered by the server and let through filter */
static void check_mailbox(struct doc_report *rep, const struct conf *c, const struct doc_opts *o,
                          SSL_CTX *ctx, const struct target *t, const char *maps, const char *mb,
                          const char *filter)
{
    static char tokbuf[XOAUTH2_MAX_FILE + 2];
    char val[CRED_MAX], map[1024], name[64], found[DOC_MAX_TEXT], fix[DOC_MAX_TEXT];
    char mechs[256], said[SMTP_LINE_MAX + 8], *pw;
    struct smtp s = {.fd = -1, .timeout = o->timeout};
    struct doc_report quiet = {0};
    const char *mech, *tok = NULL;
    size_t tlen = 0;
    struct reply r;
    int rc;

    snprintf(name, sizeof(name), "sign-in %s", mb);
    found[0] = fix[0] = '\0';
    rc = lookup_cred(o, maps, mb, val, sizeof(val), map, sizeof(map));
    if (rc == 0 && strchr(mb, '@')) /* as Postfix's sender lookup: the address, then @domain */
        rc = lookup_cred(o, maps, strchr(mb, '@'), val, sizeof(val), map, sizeof(map));
    if (rc <= 0) {
        doc_add(rep, rc < 0 ? DOC_FAIL : DOC_WARN, "remote", name,
                "add \"MAILBOX MAILBOX:PASSWORD\" (or MAILBOX:token:PATH) to the map, then "
                "postmap it (`sendasctl postfix-config sasl_passwd`)",
                rc < 0 ? "cannot query %s" : "not tried: no entry in %s", map);
        return;
    }
    if ((pw = strchr(val, ':')) == NULL) {
        explicit_bzero(val, sizeof(val));
        doc_add(rep, DOC_FAIL, "remote", name, "the entry's value must be LOGIN:PASSWORD",
                "the entry in %s has no \"login:\"", map);
        return;
    }
    *pw++ = '\0';
    if (strcmp(pw, "token") == 0 || strncmp(pw, "token:/", 7) == 0) {
        mech = "XOAUTH2";
        rc = load_token(c, val, pw, tokbuf, sizeof(tokbuf), &tok, &tlen, found, sizeof(found),
                        fix, sizeof(fix));
        explicit_bzero(pw, strlen(pw));
        if (rc < 0) {
            explicit_bzero(tokbuf, sizeof(tokbuf));
            doc_add(rep, DOC_FAIL, "remote", name, fix, "%s: %s", val, found);
            return;
        }
    } else {
        mech = "LOGIN";
    }
    /* the first session's steps are in the report already: this one's only when it fails */
    if (session(&quiet, &s, ctx, t, mechs, sizeof(mechs)) < 0) {
        const struct doc_check *k = quiet.n ? &quiet.checks[quiet.n - 1] : NULL;

        doc_add(rep, DOC_FAIL, "remote", name, k ? k->fix : "run doctor again",
                "not tried: %s: %s", k ? k->name : "session", k ? k->found : s.why);
        goto done;
    }
    if ((mech = pick_mech(rep, name, val, strcmp(mech, "XOAUTH2") == 0, mechs, filter)) == NULL)
        goto done;
    if (strcmp(mech, "XOAUTH2") == 0)
        rc = auth_token(&s, val, tok, tlen, &r);
    else
        rc = auth_password(&s, mech, val, pw, &r);
    if (rc < 0) {
        doc_add(rep, DOC_FAIL, "remote", name, "run doctor again; see the server's log",
                "AUTH %s as %s: %s", mech, val, s.why);
        goto done;
    }
    first_line(&r, said, sizeof(said));
    if (r.code == 235) {
        doc_add(rep, DOC_OK, "remote", name, NULL, "AUTH %s as %s: %s", mech, val, said);
    } else {
        advice(&r, val, fix, sizeof(fix));
        doc_add(rep, DOC_FAIL, "remote", name, fix, "AUTH %s as %s refused: %s", mech, val, said);
    }
done:
    smtp_close(&s, 1);
    doc_report_free(&quiet);
    explicit_bzero(val, sizeof(val));
    explicit_bzero(tokbuf, sizeof(tokbuf));
}

/* doctor_remote - the relayhost's TLS and AUTH, then each mailbox's sign-in */
void doctor_remote(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    struct smtp s = {.fd = -1, .timeout = o->timeout};
    char maps[2048] = "", mechs[256], filter[1024] = "";
    struct target t;
    SSL_CTX *ctx;

    if (find_target(r, o, &t) < 0 || (ctx = tls_context(r, &t)) == NULL)
        return;
    if (session(r, &s, ctx, &t, mechs, sizeof(mechs)) < 0) {
        smtp_close(&s, 1);
        SSL_CTX_free(ctx);
        return;
    }
    smtp_close(&s, 1);
    if (c == NULL) {
        doc_add(r, DOC_WARN, "remote", "sign-in", "correct sendas.conf (see its check above)",
                "not tried: sendas.conf did not load, so no mailbox is known");
    } else if (doc_postconf(o, "smtp_sasl_password_maps", maps, sizeof(maps)) < 0 || !maps[0]) {
        doc_add(r, DOC_FAIL, "remote", "sign-in",
                "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd with one entry per "
                "mailbox (`sendasctl postfix-config sasl_passwd`)",
                "not tried: Postfix has no smtp_sasl_password_maps");
    } else {
        if (doc_postconf(o, "smtp_sasl_mechanism_filter", filter, sizeof(filter)) < 0)
            filter[0] = '\0';
        for (size_t i = 0; i < c->nmailboxes; i++)
            check_mailbox(r, c, o, ctx, &t, maps, c->mailboxes[i].address, filter);
    }
    SSL_CTX_free(ctx);
}
