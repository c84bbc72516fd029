/* SPDX-License-Identifier: MIT */
/*
 * doctor_local - the local checks of `sendasctl doctor`: each daemon's socket
 * answers its own protocol (sendas-milter: milter option negotiation;
 * sendas-policyd: one policy request at a stage it always answers DUNNO),
 * sendas-tokend's setup and token files; then Postfix (ctl/doctor_postfix.c).
 * Nothing is sent past negotiation or the one request: no mail, no change.
 */
#include "config.h"

#include "doctor_local.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "oauthsetup.h"
#include "sockspec.h"
#include "store.h"
#include "tokstate.h"
#include "xoauth2.h"

#define MILTER_MAX_REPLY 65536 /* bytes of a negotiation reply we accept */

/* doc_uses_oauth - see doctor_local.h */
int doc_uses_oauth(const struct conf *c)
{
    return c->oauth_client_id != NULL;
}

/* doc_has_token - see doctor_local.h */
int doc_has_token(const struct conf *c, const char *mailbox)
{
    if (c->oauth_mailboxes == NULL)
        return 1; /* tokend's default: every declared mailbox */
    for (size_t i = 0; c->oauth_mailboxes[i]; i++)
        if (strcasecmp(c->oauth_mailboxes[i], mailbox) == 0)
            return 1;
    return 0;
}

/* connect_spec - a non-blocking stream socket connected to a daemon's socket spec before
 * the deadline; the fd, or -1 with errno */
static int connect_spec(const char *spec, int64_t deadline)
{
    struct sockspec ss;
    struct sockaddr_storage sa;
    socklen_t salen;
    int fd, err = 0;
    socklen_t elen = sizeof(err);

    memset(&sa, 0, sizeof(sa));
    if (sockspec_parse(spec, &ss) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (ss.kind == SOCKSPEC_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&sa;

        if (strlen(ss.path) >= sizeof(un->sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, ss.path, strlen(ss.path) + 1);
        salen = sizeof(*un);
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        char port[8];
        const char *host = ss.host[0] ? ss.host : ss.kind == SOCKSPEC_INET6 ? "::1" : "127.0.0.1";

        hints.ai_family = ss.kind == SOCKSPEC_INET6 ? AF_INET6 : AF_INET;
        snprintf(port, sizeof(port), "%u", ss.port);
        if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
            errno = EHOSTUNREACH;
            return -1;
        }
        memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
        salen = ai->ai_addrlen;
        freeaddrinfo(ai);
    }
    if ((fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, salen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EAGAIN)
        goto fail;
    if (doc_wait_fd(fd, POLLOUT, deadline) < 0)
        goto fail;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
        errno = err ? err : EIO;
        goto fail;
    }
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* send_all - write len bytes before the deadline; 0, or -1 */
static int send_all(int fd, const void *buf, size_t len, int64_t deadline)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n;

        if (doc_wait_fd(fd, POLLOUT, deadline) < 0)
            return -1;
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* recv_some - read up to len bytes (at least one) before the deadline; the count, 0 at EOF,
 * -1 on error or time out */
static ssize_t recv_some(int fd, void *buf, size_t len, int64_t deadline)
{
    for (;;) {
        ssize_t n;

        if (doc_wait_fd(fd, POLLIN, deadline) < 0)
            return -1;
        n = recv(fd, buf, len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return n;
    }
}

/* recv_exact - exactly len bytes; 0, or -1 (EOF counts as an error: errno ECONNRESET) */
static int recv_exact(int fd, unsigned char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = recv_some(fd, buf, len, deadline);

        if (n == 0)
            errno = ECONNRESET;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* put32 - big-endian, as the milter protocol frames its packets */
static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * milter_probe - SMFIC_OPTNEG as Postfix sends it (version 6, all actions,
 * every "skip this stage" bit), then SMFIC_QUIT.  0 with the milter's
 * version, actions and protocol in out; -1 with what went wrong in why, -2
 * when this user may not connect.
 */
static int milter_probe(const char *spec, unsigned timeout, uint32_t out[3], char *why,
                        size_t whylen)
{
    unsigned char pkt[17], hdr[4], body[MILTER_MAX_REPLY];
    static const unsigned char quit[5] = {0, 0, 0, 1, 'Q'};
    int64_t deadline = clock_mono_ms() + (int64_t)timeout * 1000;
    uint32_t len;
    int fd, rc = -1;

    if ((fd = connect_spec(spec, deadline)) < 0) {
        int denied = errno == EACCES || errno == EPERM;

        snprintf(why, whylen, "cannot connect: %s", strerror(errno));
        return denied ? -2 : -1;
    }
    put32(pkt, 13);
    pkt[4] = 'O';
    put32(pkt + 5, 6);
    put32(pkt + 9, 0x1ff);
    put32(pkt + 13, 0x3ff);
    if (send_all(fd, pkt, sizeof(pkt), deadline) < 0 || recv_exact(fd, hdr, 4, deadline) < 0) {
        snprintf(why, whylen, "no answer to option negotiation: %s", strerror(errno));
        goto out;
    }
    len = get32(hdr);
    if (len < 13 || len > sizeof(body)) {
        snprintf(why, whylen, "answered a packet of %lu bytes, not option negotiation (13)",
                 (unsigned long)len);
        goto out;
    }
    if (recv_exact(fd, body, len, deadline) < 0) {
        snprintf(why, whylen, "cut its answer short: %s", strerror(errno));
        goto out;
    }
    if (body[0] != 'O') {
        snprintf(why, whylen, "answered command '%c' (0x%02x), not option negotiation ('O')",
                 body[0] >= 0x21 && body[0] < 0x7f ? body[0] : '?', body[0]);
        goto out;
    }
    out[0] = get32(body + 1);
    out[1] = get32(body + 5);
    out[2] = get32(body + 9);
    (void)send_all(fd, quit, sizeof(quit), deadline);
    rc = 0;
out:
    close(fd);
    return rc;
}

/*
 * policy_probe - one request at protocol_state CONNECT, which sendas-policyd
 * answers DUNNO without counting; 0 with its "action=..." in action, -1
 * with what went wrong in why, -2 when this user may not connect.
 */
static int policy_probe(const char *spec, unsigned timeout, char *action, size_t actlen, char *why,
                        size_t whylen)
{
    static const char req[] = "request=smtpd_access_policy\nprotocol_state=CONNECT\n"
                              "protocol_name=SMTP\nclient_address=127.0.0.1\n"
                              "client_name=localhost\ninstance=sendasctl.doctor\n\n";
    int64_t deadline = clock_mono_ms() + (int64_t)timeout * 1000;
    char buf[1024];
    size_t n = 0;
    int fd, rc = -1;
    char *nl;

    if ((fd = connect_spec(spec, deadline)) < 0) {
        int denied = errno == EACCES || errno == EPERM;

        snprintf(why, whylen, "cannot connect: %s", strerror(errno));
        return denied ? -2 : -1;
    }
    if (send_all(fd, req, sizeof(req) - 1, deadline) < 0) {
        snprintf(why, whylen, "cannot send a request: %s", strerror(errno));
        goto out;
    }
    while (n + 1 < sizeof(buf)) {
        ssize_t got = recv_some(fd, buf + n, sizeof(buf) - 1 - n, deadline);

        if (got <= 0)
            break;
        n += (size_t)got;
        buf[n] = '\0';
        if (strstr(buf, "\n\n"))
            break;
    }
    buf[n] = '\0';
    if (strncmp(buf, "action=", 7) != 0 || (nl = strchr(buf, '\n')) == NULL) {
        snprintf(why, whylen, "%s",
                 n ? "answered something that is not a policy reply"
                   : "no answer to a policy request");
        goto out;
    }
    *nl = '\0';
    if (strlen(buf) >= actlen)
        buf[actlen - 1] = '\0';
    memcpy(action, buf, strlen(buf) + 1);
    rc = 0;
out:
    close(fd);
    return rc;
}

/* denied - a socket this user may not connect to: not known to be down, so a warning */
static void denied(struct doc_report *r, const char *daemon, const struct conf *c, const char *spec,
                   const char *why)
{
    char fix[512];

    snprintf(fix, sizeof(fix), "run sendasctl doctor as root (the socket is for group %s)",
             c->socket_group);
    doc_add(r, DOC_WARN, "daemons", daemon, fix, "%s: %s: not checked", spec, why);
}

/* check_milter - sendas-milter answers option negotiation on milter_socket */
static void check_milter(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    char why[256], fix[1024];
    uint32_t v[3];
    int rc;

    if ((rc = milter_probe(c->milter_socket, o->timeout, v, why, sizeof(why))) == 0) {
        doc_add(r, DOC_OK, "daemons", "sendas-milter", NULL,
                "%s answers milter negotiation (version %lu, actions 0x%lx)", c->milter_socket,
                (unsigned long)v[0], (unsigned long)v[1]);
        return;
    }
    if (rc == -2) {
        denied(r, "sendas-milter", c, c->milter_socket, why);
        return;
    }
    snprintf(fix, sizeof(fix),
             "start it: `systemctl start sendas-milter` (`journalctl -u sendas-milter` says why "
             "it stopped); it must listen on milter_socket %s of %s",
             c->milter_socket, o->conf_path);
    doc_add(r, DOC_FAIL, "daemons", "sendas-milter", fix, "%s: %s (Postfix defers all mail)",
            c->milter_socket, why);
}

/* check_policyd - sendas-policyd answers a policy request on policy_socket */
static void check_policyd(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    char why[256], action[256], fix[1024];
    int asked, rc;

    if ((rc = policy_probe(c->policy_socket, o->timeout, action, sizeof(action), why,
                           sizeof(why))) == 0) {
        doc_add(r, DOC_OK, "daemons", "sendas-policyd", NULL, "%s answers a policy request: %s",
                c->policy_socket, action);
        return;
    }
    if (rc == -2) {
        denied(r, "sendas-policyd", c, c->policy_socket, why);
        return;
    }
    if ((asked = doc_pf_asks_policy(o)) == 0) {
        /* a relay without sendas-policyd: the Postfix checks warn that limits are not kept */
        doc_add(r, DOC_OK, "daemons", "sendas-policyd", NULL,
                "%s: %s; Postfix does not ask it (no check_policy_service)", c->policy_socket, why);
        return;
    }
    snprintf(fix, sizeof(fix),
             "start it: `systemctl start sendas-policyd` (`journalctl -u sendas-policyd` says "
             "why it stopped); it must listen on policy_socket %s of %s",
             c->policy_socket, o->conf_path);
    doc_add(r, DOC_FAIL, "daemons", "sendas-policyd", fix, "%s: %s (%s)", c->policy_socket, why,
            asked > 0 ? "Postfix defers mail at RCPT" : "Postfix may ask it");
}

/* count_lines - lines in text (one a relay reporting to Redis) */
static unsigned long count_lines(const char *text)
{
    unsigned long n = 0;

    for (; *text; text++)
        n += *text == '\n' || (text[1] == '\0');
    return n;
}

/*
 * check_counters - where sendas-policyd counts: the SQLite file of this relay,
 * or Redis shared by `relays` relays: Redis answers (with the password and
 * database of sendas.conf), this relay counts shared, every relay reports
 */
static void check_counters(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    char err[CONF_ERRLEN], status[700], path[4200], relays[8192], fix[1200];
    unsigned long n;
    struct store *st;
    int64_t now;

    if (c->store != STORE_REDIS) {
        doc_add(r, DOC_OK, "daemons", "counters", NULL,
                "store sqlite: %s/counters.db, this relay's own (several relays share one "
                "mailbox's limits with store redis)", c->state_dir);
        return;
    }
    if ((st = ctl_open_counters(c, &now, err, sizeof(err))) == NULL) {
        snprintf(fix, sizeof(fix),
                 "start Redis (`systemctl start redis-server`), or correct redis_address, "
                 "redis_database or redis_password_file (Redis's requirepass) in %s and restart "
                 "sendas-policyd; until then each relay counts alone with 1/%u of what was left",
                 o->conf_path, c->relays);
        doc_add(r, DOC_FAIL, "daemons", "counters", fix, "store redis %s db %lu: %s",
                c->redis_address, c->redis_database, err);
        return;
    }
    store_redis_relays(st, relays, sizeof(relays));
    store_close(st);
    n = count_lines(relays);
    if (ctl_store_status(c, status, sizeof(status), path, sizeof(path)) == 0 &&
        strstr(status, "local fallback") != NULL) {
        snprintf(fix, sizeof(fix),
                 "Redis answers this command: sendas-policyd tries again by itself (within 30 "
                 "s); if it stays alone, the address or password it was started with differs "
                 "from %s: `systemctl restart sendas-policyd`", o->conf_path);
        doc_add(r, DOC_WARN, "daemons", "counters", fix, "this relay's sendas-policyd: %s",
                status);
        return;
    }
    if (n < c->relays) {
        snprintf(fix, sizeof(fix),
                 "on each relay run `sendasctl doctor` (a relay that cannot reach Redis counts "
                 "alone and does not report); `relays` in %s must be the number of relays",
                 o->conf_path);
        doc_add(r, DOC_WARN, "daemons", "counters", fix,
                "store redis %s db %lu answers, but %lu of %u relays report counting shared",
                c->redis_address, c->redis_database, n, c->relays);
        return;
    }
    doc_add(r, DOC_OK, "daemons", "counters", NULL,
            "store redis %s db %lu answers; %lu of %u relays report counting shared",
            c->redis_address, c->redis_database, n, c->relays);
}

/* last_error - ", tokend's last error: TEXT" from MAILBOX.state, or "" */
static void last_error(const struct conf *c, const char *mb, char *out, size_t outlen)
{
    char path[4096], buf[TOKSTATE_MAX_FILE + 2];
    struct tokstate t;
    ssize_t n;

    out[0] = '\0';
    if ((size_t)snprintf(path, sizeof(path), "%s/%s.state", c->token_dir, mb) >= sizeof(path) ||
        (n = tokstate_read_file(path, buf, sizeof(buf))) <= 0 ||
        tokstate_parse(buf, (size_t)n, mb, &t) < 0 || t.last_error[0] == '\0')
        return;
    snprintf(out, outlen, "; sendas-tokend's last error: %s", t.last_error);
}

/* check_token - the token file of one mailbox: present, well-formed, not expired */
static void check_token(struct doc_report *r, const struct conf *c, const char *mb)
{
    char path[4096], buf[XOAUTH2_MAX_FILE + 2], name[64], fix[1024], err[600];
    const char *bad, *tok;
    time_t exp, now = time(NULL);
    size_t tlen;
    ssize_t n;

    snprintf(name, sizeof(name), "token %s", mb);
    snprintf(fix, sizeof(fix),
             "`systemctl status sendas-tokend` (it refreshes tokens); `sendasctl token` shows "
             "every token, `sendasctl token --fetch %s` Microsoft's answer",
             mb);
    last_error(c, mb, err, sizeof(err));
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", c->token_dir, mb) >= sizeof(path) ||
        (n = tokstate_read_file(path, buf, sizeof(buf))) < 0) {
        if (errno == EACCES || errno == EPERM) {
            doc_add(r, DOC_WARN, "tokens", name,
                    "run sendasctl doctor as root (token files "
                    "are for sendas-tokend's user and token_group)",
                    "%s: %s: not checked", path, strerror(errno));
            return;
        }
        doc_add(r, DOC_FAIL, "tokens", name, fix, "%s: %s (Postfix defers its mail)%s", path,
                strerror(errno), err);
        return;
    }
    bad = xoauth2_token_check(buf, (size_t)n, &exp, &tok, &tlen);
    memset(buf, 0, sizeof(buf)); /* the token itself is never shown, nor kept */
    if (bad) {
        doc_add(r, DOC_FAIL, "tokens", name, fix, "%s is malformed: %s%s", path, bad, err);
    } else if (exp <= now) {
        doc_add(r, DOC_FAIL, "tokens", name, fix,
                "%s expired %lld min ago (Postfix's sign-in "
                "fails and mail is deferred)%s",
                path, (long long)(now - exp) / 60, err);
    } else if (exp - now < (time_t)c->token_refresh_margin) {
        doc_add(r, DOC_WARN, "tokens", name, fix,
                "%s expires in %lld s, within token_refresh_margin %lu: not refreshed in time%s",
                path, (long long)(exp - now), c->token_refresh_margin, err);
    } else {
        doc_add(r, DOC_OK, "tokens", name, NULL, "%s valid for %lld min", path,
                (long long)(exp - now) / 60);
    }
}

/* check_tokens - sendas-tokend's start-up checks (changing nothing), then each token file */
static void check_tokens(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    char err[512], fix[1024];

    if (!oauthsetup_wanted(c))
        return;
    if (oauthsetup_check(c, o->conf_path, oauthsetup_service_user(c), err, sizeof(err)) < 0) {
        snprintf(fix, sizeof(fix),
                 "correct the oauth_* lines of %s (doc/oauth.md), then "
                 "`systemctl restart sendas-tokend`",
                 o->conf_path);
        doc_add(r, DOC_FAIL, "tokens", "sendas-tokend setup", fix, "%s", err);
    } else {
        doc_add(r, DOC_OK, "tokens", "sendas-tokend setup", NULL,
                "oauth_* settings, credentials and token_dir %s pass its start-up checks",
                c->token_dir);
    }
    if (!doc_uses_oauth(c))
        return;
    for (size_t i = 0; i < c->nmailboxes; i++)
        if (doc_has_token(c, c->mailboxes[i].address))
            check_token(r, c, c->mailboxes[i].address);
}

/* doctor_local - the daemons, the tokens, then Postfix */
void doctor_local(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    if (c) {
        check_milter(r, c, o);
        check_policyd(r, c, o);
        check_counters(r, c, o);
        check_tokens(r, c, o);
    }
    doctor_postfix(r, c, o);
}
