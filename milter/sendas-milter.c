/* SPDX-License-Identifier: MIT */
/*
 * sendas-milter - the libmilter front end of the sendas engine.
 *
 * Collects what the engine needs (client, SASL login, envelope sender, the
 * From/Sender/Reply-To/DKIM-Signature and trace headers), asks rw_plan_message() at
 * the end of the message and applies the plan with libmilter calls.  Owns:
 * per-connection state (smfi_setpriv), the configuration snapshot each
 * message uses, and the process: signals, socket, privileges.
 *
 * Threads: libmilter runs callbacks on its worker threads.  smfi_main runs
 * in a second thread so that the main thread receives SIGHUP (reload) and
 * SIGTERM (graceful stop) instead of libmilter's own signal thread, which
 * would stop the filter on SIGHUP.  On SIGTERM the main thread waits (up to
 * STOP_GRACE seconds) until no message is between MAIL FROM and its end before
 * it stops libmilter, so messages in progress finish instead of being
 * tempfailed; then it wakes libmilter's accept loop so that an idle milter
 * stops at once.  Sessions: silent for idle_timeout, libmilter ends them
 * (smfi_settimeout); guard.c keeps them below the descriptor limit and reads
 * macros without trusting the peer's packet.  Each message keeps at most
 * MSG_HEADER_BUDGET bytes of headers; the memory goes back at its end.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libmilter/mfapi.h>
#include <malloc.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "auditfile.h"
#include "conf.h"
#include "daemon.h"
#include "guard.h"
#include "log.h"
#include "rewrite.h"

/* The live configuration; each message holds a reference to the snapshot it started with. */
static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf *conf_live;
static const char *conf_path = SENDAS_CONF;

/* Messages between MAIL FROM and their end, so that a stop can wait for them. */
#define STOP_GRACE 30 /* seconds; below systemd's default TimeoutStopSec (90 s) */
static pthread_mutex_t flight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flight_done = PTHREAD_COND_INITIALIZER;
static int in_flight;

/* Per-connection state, reset per message. */
struct ctx {
    char client_addr[INET6_ADDRSTRLEN];
    char client_name[256];
    int non_smtp;      /* Postfix's fake connection for sendmail(1)/pickup mail */
    struct conf *conf; /* snapshot for the current message, or NULL */
    struct rw_msg msg;
    char *env_sender;
    char *sasl_login;
    int failed;        /* an internal error happened: tempfail at end of message */
    int nr_hdr;        /* the MTA agreed that header callbacks get no reply */
    int counted;       /* this message is counted in in_flight */
    char *message_id;  /* the first Message-ID, cut to MSGID_MAX, for the audit log */
    size_t hdr_bytes;  /* header bytes this message keeps (MSG_HEADER_BUDGET) */
    int bad_macros;    /* the peer sent a malformed macro packet: not a conforming MTA */
};

#define MSGID_MAX 256 /* bytes of Message-ID kept for the audit log */
/*
 * Header bytes one message may keep, all headers together: a From header
 * may use all of max_header_bytes, but 64 of each of four names at that size
 * (16 MB) per open session let a few dozen sessions take a gigabyte.  What
 * is over the budget is kept as "over its size cap", as a header over
 * max_header_bytes is.
 */
#define MSG_HEADER_BUDGET(c) (4 * (c)->max_header_bytes)
#define TRIM_AFTER (64 * 1024) /* a message that kept more gives the memory back at its end */

/* conf_acquire - a reference to the live configuration */
static struct conf *conf_acquire(void)
{
    struct conf *c;

    /* the lock keeps a reload from dropping conf_live's last reference between the
     * read and conf_ref */
    pthread_mutex_lock(&conf_lock);
    c = conf_ref(conf_live);
    pthread_mutex_unlock(&conf_lock);
    return c;
}

/*
 * conf_reload - load the file again; a broken file keeps the old configuration.
 * The audit log is reopened either way (main loop), so that logrotate's
 * postrotate SIGHUP (deploy/logrotate/sendas) moves it to a new file.
 */
static void conf_reload(void)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_load(conf_path, err, sizeof(err)), *old;

    if (c == NULL) {
        log_err("reload refused, keeping the running configuration: %s", err);
        return;
    }
    pthread_mutex_lock(&conf_lock);
    old = conf_live;
    conf_live = c;
    pthread_mutex_unlock(&conf_lock);
    conf_unref(old);
    log_set_debug(c->log_level > 0);
    log_info("configuration reloaded from %s: %zu mailboxes, %zu routes", conf_path,
             c->nmailboxes, c->nroutes);
    daemon_log_conf_warnings(c);
}

/* flight_begin - count a message that has started */
static void flight_begin(struct ctx *x)
{
    pthread_mutex_lock(&flight_lock);
    in_flight++;
    x->counted = 1;
    pthread_mutex_unlock(&flight_lock);
}

/* flight_end - the message has ended one way or another */
static void flight_end(struct ctx *x)
{
    if (!x->counted)
        return;
    pthread_mutex_lock(&flight_lock);
    if (--in_flight == 0)
        pthread_cond_broadcast(&flight_done);
    x->counted = 0;
    pthread_mutex_unlock(&flight_lock);
}

/* flight_wait - wait until no message is in progress or seconds pass; returns how many are left */
static int flight_wait(int seconds)
{
    struct timespec until;
    int left;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&flight_lock);
    while (in_flight > 0 && pthread_cond_timedwait(&flight_done, &flight_lock, &until) == 0)
        ;
    left = in_flight;
    pthread_mutex_unlock(&flight_lock);
    return left;
}

/* ctx_message_reset - forget the current message */
static void ctx_message_reset(struct ctx *x)
{
    flight_end(x);
    rw_msg_reset(&x->msg);
    free(x->env_sender);
    free(x->sasl_login);
    free(x->message_id);
    x->env_sender = x->sasl_login = x->message_id = NULL;
    conf_unref(x->conf);
    x->conf = NULL;
    x->failed = 0;
    /* freed blocks stay in this thread's malloc arena otherwise, for the whole process */
    if (x->hdr_bytes > TRIM_AFTER)
        malloc_trim(0);
    x->hdr_bytes = 0;
}

/* macro - a macro of the session, read by guard.c; a malformed packet is remembered */
static const char *macro(SMFICTX *ctx, const char *name)
{
    struct ctx *x = smfi_getpriv(ctx);
    int bad = 0;
    const char *v;

    if (x == NULL)
        return NULL; /* no session state: nothing may be read safely */
    v = guard_getsymval(ctx, x, name, &bad);
    if (bad)
        x->bad_macros = 1;
    return v;
}

/* queue_id - Postfix's queue id macro, or "NOQUEUE" */
static const char *queue_id(SMFICTX *ctx)
{
    const char *q = macro(ctx, "i");

    return q && *q ? q : "NOQUEUE";
}

/* tempfail_reply - answer 451 4.3.0 and say so */
static sfsistat tempfail_reply(SMFICTX *ctx, struct ctx *x, const char *why)
{
    log_err("%s: tempfail: %s", queue_id(ctx), why);
    if (x)
        flight_end(x);
    if (x && x->non_smtp)
        return SMFIS_ACCEPT; /* non-SMTP mail must never be refused: pass it */
    smfi_setreply(ctx, "451", "4.3.0", "Temporary sendas failure, try again later");
    return SMFIS_TEMPFAIL;
}

/* ctx_get - the connection's state, created on first use */
static struct ctx *ctx_get(SMFICTX *ctx)
{
    struct ctx *x = smfi_getpriv(ctx);

    if (x == NULL && (x = calloc(1, sizeof(*x))) != NULL) {
        rw_msg_init(&x->msg);
        smfi_setpriv(ctx, x);
    }
    return x;
}

/* strip_angle - an envelope address without its <> (into out) */
static const char *strip_angle(const char *s, char *out, size_t outlen)
{
    size_t n;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        snprintf(out, outlen, "%.*s", (int)(n - 2), s + 1);
        return out;
    }
    return s;
}

/*
 * audit - one audit record for a decision.  The milter sees no recipients
 * (SMFIP_NORCPT keeps its round trips down) and no body, so recipient count
 * and size are left to sendas-policyd's records.
 */
static void audit(struct ctx *x, const char *qid, const struct rw_plan *p)
{
    struct audit_rec r;
    char env[512];

    audit_rec_init(&r);
    r.time_us = auditfile_now_us();
    r.component = "sendas-milter";
    r.queue_id = qid;
    r.client_addr = x->client_addr[0] ? x->client_addr : NULL;
    r.client_name = x->client_name[0] ? x->client_name : NULL;
    r.sasl_login = x->sasl_login;
    r.env_from = p->orig_env ? p->orig_env : strip_angle(x->env_sender, env, sizeof(env));
    r.header_from = p->orig_from;
    r.mailbox = p->mailbox ? p->mailbox->address : NULL;
    r.action = rw_plan_outcome(p);
    r.rule = p->route ? p->route->text : NULL;
    r.reason = p->reason;
    r.message_id = x->message_id;
    r.stage = x->non_smtp ? "non-smtp" : NULL;
    auditfile_write(&r);
}

/* mlfi_connect - remember the client */
static sfsistat mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    struct ctx *x = ctx_get(ctx);
    int port;

    if (x == NULL)
        return tempfail_reply(ctx, NULL, "out of memory at connect");
    /* Postfix names a client without a name "[addr]" (Sendmail's way); call it "unknown",
     * as Postfix and its policy requests do, so the log says unknown[addr], not [addr][addr]. */
    snprintf(x->client_name, sizeof(x->client_name), "%s",
             hostname && hostname[0] != '[' ? hostname : "unknown");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, x->client_addr,
                  sizeof(x->client_addr));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, x->client_addr,
                  sizeof(x->client_addr));
    /*
     * Postfix gives mail from sendmail(1)/pickup a fake connection from
     * localhost[127.0.0.1] port 0 (every macro looks like SMTP from
     * localhost, but a real TCP client never has port 0).  Such mail must
     * never be refused: there is no client left to tell (non_smtpd_milters).
     */
    port = -1;
    if (sa && sa->sa_family == AF_INET)
        port = ntohs(((struct sockaddr_in *)(void *)sa)->sin_port);
    else if (sa && sa->sa_family == AF_INET6)
        port = ntohs(((struct sockaddr_in6 *)(void *)sa)->sin6_port);
    x->non_smtp = port == 0 && strcmp(x->client_name, "localhost") == 0;
    log_debug("connect: %s[%s] port %d%s", x->client_name, x->client_addr, port,
              x->non_smtp ? " (non-SMTP submission)" : "");
    return SMFIS_CONTINUE;
}

/* mlfi_envfrom - a new message: envelope sender, SASL login, early refusal */
static sfsistat mlfi_envfrom(SMFICTX *ctx, char **argv)
{
    struct ctx *x = smfi_getpriv(ctx);
    const char *login;
    struct rw_plan plan;
    int i;

    if (x == NULL)
        return tempfail_reply(ctx, NULL, "no connection state");
    ctx_message_reset(x);
    flight_begin(x);
    x->conf = conf_acquire();
    x->env_sender = strdup(argv[0] ? argv[0] : "<>");
    login = macro(ctx, "{auth_authen}");
    if (x->bad_macros)
        return tempfail_reply(ctx, x,
                              "malformed macro packet (an odd number of strings): "
                              "not a conforming MTA");
    if (login && *login)
        x->sasl_login = strdup(login);
    if (x->env_sender == NULL || (login && *login && x->sasl_login == NULL))
        return tempfail_reply(ctx, x, "out of memory at MAIL FROM");
    for (i = 1; argv[i]; i++)
        if (strcasecmp(argv[i], "SMTPUTF8") == 0)
            x->msg.smtputf8 = 1;
    x->msg.env_sender = x->env_sender;
    x->msg.sasl_login = x->sasl_login;
    x->msg.client_addr = x->client_addr[0] ? x->client_addr : NULL;
    x->msg.non_smtp = x->non_smtp;
    x->msg.trace_name = x->conf->trace_header; /* forged ones are collected to be replaced */
    if (rw_plan_envelope(x->conf, &x->msg, &plan) < 0)
        return tempfail_reply(ctx, x, "out of memory at MAIL FROM");
    if (plan.action == RW_REJECT || plan.action == RW_TEMPFAIL) {
        log_info("%s: client=%s[%s]%s%s env_from=<%s> action=%s reason=\"%s\"", queue_id(ctx),
                 x->client_name, x->client_addr, x->sasl_login ? " sasl=" : "",
                 x->sasl_login ? x->sasl_login : "", plan.orig_env, rw_action_name(plan.action),
                 plan.reason);
        audit(x, queue_id(ctx), &plan);
        sfsistat rc = plan.action == RW_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;

        smfi_setreply(ctx, (char *)plan.rcode, (char *)plan.xcode, plan.text);
        rw_plan_free(&plan);
        flight_end(x); /* refused at MAIL FROM: nothing more to wait for */
        return rc;
    }
    rw_plan_free(&plan);
    return SMFIS_CONTINUE;
}

/* kept_headers - how many headers the message keeps for the planner */
static size_t kept_headers(const struct rw_msg *m)
{
    return m->from.n + m->sender.n + m->reply_to.n + m->dkim.n;
}

/* mlfi_header - keep the headers the planner needs */
static sfsistat mlfi_header(SMFICTX *ctx, char *name, char *value)
{
    struct ctx *x = smfi_getpriv(ctx);

    if (x == NULL)
        return SMFIS_CONTINUE; /* end of message will tempfail */
    if (x->conf && !x->failed) {
        size_t len = strlen(value), budget = MSG_HEADER_BUDGET(x->conf), max;

        max = x->hdr_bytes >= budget ? 0 : budget - x->hdr_bytes;
        if (max > x->conf->max_header_bytes)
            max = x->conf->max_header_bytes;
        size_t kept = kept_headers(&x->msg);

        if (rw_msg_add_header(&x->msg, name, value, len, max) < 0)
            x->failed = 1;
        else if (kept_headers(&x->msg) > kept && len <= max)
            x->hdr_bytes += len; /* one of the planner's headers, kept whole */
    }
    /* for the audit log only: a missing copy costs nothing but the field */
    if (x->message_id == NULL && strcasecmp(name, "Message-ID") == 0) {
        while (*value == ' ' || *value == '\t')
            value++;
        x->message_id = strndup(value, MSGID_MAX);
    }
    return x->nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* apply_plan - send the plan's changes to the MTA; -1 when one was refused */
static int apply_plan(SMFICTX *ctx, const struct rw_plan *p)
{
    size_t i;

    if (p->new_env_sender && smfi_chgfrom(ctx, p->new_env_sender, NULL) != MI_SUCCESS)
        return -1;
    for (i = 0; i < p->nops; i++) {
        const struct rw_op *op = &p->ops[i];
        int rc = MI_FAILURE;

        switch (op->kind) {
        case RW_OP_CHANGE:
            rc = smfi_chgheader(ctx, (char *)op->name, op->index, op->value);
            break;
        case RW_OP_DELETE:
            rc = smfi_chgheader(ctx, (char *)op->name, op->index, NULL);
            break;
        case RW_OP_ADD:
            rc = smfi_addheader(ctx, (char *)op->name, op->value);
            break;
        }
        if (rc != MI_SUCCESS)
            return -1;
    }
    return 0;
}

/* mlfi_eom - decide, apply, log one line */
static sfsistat mlfi_eom(SMFICTX *ctx)
{
    struct ctx *x = smfi_getpriv(ctx);
    struct rw_plan plan;
    const char *qid = queue_id(ctx);
    sfsistat rc = SMFIS_CONTINUE;

    if (x == NULL || x->conf == NULL)
        return tempfail_reply(ctx, x, "no message state at end of message");
    if (x->bad_macros) {
        rc = tempfail_reply(ctx, x, "malformed macro packet: not a conforming MTA");
        ctx_message_reset(x);
        return rc;
    }
    if (x->failed) {
        rc = tempfail_reply(ctx, x, "out of memory while reading headers");
        ctx_message_reset(x);
        return rc;
    }
    x->msg.queue_id = qid;
    rw_plan_message(x->conf, &x->msg, &plan);
    switch (plan.action) {
    case RW_KEEP:
        break;
    case RW_REWRITE:
        if (apply_plan(ctx, &plan) < 0) {
            snprintf(plan.reason, sizeof(plan.reason), "the MTA refused a change");
            plan.action = RW_TEMPFAIL;
            if (!x->non_smtp)
                smfi_setreply(ctx, "451", "4.3.0", "Temporary sendas failure, try again later");
            rc = x->non_smtp ? SMFIS_ACCEPT : SMFIS_TEMPFAIL;
        }
        break;
    case RW_REJECT:
    case RW_TEMPFAIL:
        if (x->non_smtp) {
            /* the engine never refuses non-SMTP mail; should it ever, there is no client to tell */
            plan.action = RW_KEEP;
            break;
        }
        smfi_setreply(ctx, (char *)plan.rcode, (char *)plan.xcode, plan.text);
        rc = plan.action == RW_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
        break;
    }
    log_info("%s: client=%s[%s]%s%s%s env_from=<%s> from=<%s> mailbox=%s action=%s route=\"%s\" "
             "reason=\"%s\"",
             qid, x->client_name, x->client_addr, x->non_smtp ? " source=local" : "",
             x->sasl_login ? " sasl=" : "", x->sasl_login ? x->sasl_login : "",
             plan.orig_env ? plan.orig_env : "", plan.orig_from ? plan.orig_from : "",
             plan.mailbox ? plan.mailbox->address : "-", rw_plan_outcome(&plan),
             plan.route ? plan.route->text : "-", plan.reason);
    audit(x, qid, &plan);
    rw_plan_free(&plan);
    ctx_message_reset(x);
    return rc;
}

/* mlfi_abort - the message was abandoned */
static sfsistat mlfi_abort(SMFICTX *ctx)
{
    struct ctx *x = smfi_getpriv(ctx);

    if (x)
        ctx_message_reset(x);
    return SMFIS_CONTINUE;
}

/* mlfi_close - the connection is gone */
static sfsistat mlfi_close(SMFICTX *ctx)
{
    struct ctx *x = smfi_getpriv(ctx);

    if (x) {
        ctx_message_reset(x);
        free(x);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

/* mlfi_negotiate - ask only for the events the engine needs */
static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                               unsigned long f2, unsigned long f3, unsigned long *pf0,
                               unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    unsigned long want_actions = SMFIF_CHGFROM | SMFIF_CHGHDRS | SMFIF_ADDHDRS;
    unsigned long skip = SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOUNKNOWN |
                         SMFIP_NODATA | SMFIP_NOEOH;
    struct ctx *x = ctx_get(ctx);

    if (x == NULL)
        return SMFIS_REJECT; /* the MTA applies milter_default_action */
    if ((f0 & want_actions) != want_actions) {
        log_err("the MTA does not offer header and envelope changes (milter_protocol 6 needed)");
        return SMFIS_REJECT;
    }
    *pf0 = want_actions;
    /* fewer round trips: skip unused events, no reply per header */
    *pf1 = f1 & (skip | SMFIP_NR_HDR);
    x->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static struct smfiDesc filter = {
    "sendas-milter",
    SMFI_VERSION,
    SMFIF_CHGFROM | SMFIF_CHGHDRS | SMFIF_ADDHDRS,
    mlfi_connect,
    NULL, /* helo */
    mlfi_envfrom,
    NULL, /* envrcpt */
    mlfi_header,
    NULL, /* eoh */
    NULL, /* body */
    mlfi_eom,
    mlfi_abort,
    mlfi_close,
    NULL, /* unknown */
    NULL, /* data */
    mlfi_negotiate,
};

static int sig_pipe[2] = {-1, -1};

/* on_signal - pass the signal to the main loop through a pipe (no race with a flag check) */
static void on_signal(int sig)
{
    char c = (char)sig;
    int saved = errno;

    (void)!write(sig_pipe[1], &c, 1);
    errno = saved;
}

/* milter_thread - run libmilter's accept loop */
static void *milter_thread(void *arg)
{
    int *rc = arg;
    char c = 0; /* tells the main loop that libmilter has stopped */

    *rc = smfi_main() == MI_SUCCESS ? 0 : 1;
    (void)!write(sig_pipe[1], &c, 1);
    return NULL;
}

/* usage - print the synopsis */
static void usage(FILE *f)
{
    fprintf(f, "usage: sendas-milter [-f] [-n] [-d] [-c FILE] [-u USER] [-p SOCKET]\n"
               "  -c FILE    configuration file (default %s)\n"
               "  -f         stay in the foreground, log to stderr as well\n"
               "  -n         check the configuration and exit\n"
               "  -d         debug logging\n"
               "  -u USER    run as USER after opening the socket\n"
               "  -p SOCKET  listen here instead of milter_socket\n"
               "  -V         print the version\n",
               SENDAS_CONF);
}

/* start_listening - libmilter on sock, the signal pipe, the socket with its mode and group,
 * then the privileges dropped and the audit log opened; 0, or -1 (logged) */
static int start_listening(const char *sock, const char *user)
{
    char err[CONF_ERRLEN];
    struct sigaction sa;

    /* a file size limit (ulimit -f) must fail the audit write (logged), not kill the milter */
    signal(SIGXFSZ, SIG_IGN);
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(filter) != MI_SUCCESS ||
        smfi_settimeout((int)conf_live->idle_timeout) != MI_SUCCESS) {
        log_err("cannot set up libmilter on %s", sock);
        return -1;
    }
    /* before the socket exists: a SIGHUP (logrotate) during start-up must not kill */
    if (pipe2(sig_pipe, O_CLOEXEC) != 0) {
        log_err("pipe: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* a unix socket: remove a stale one, create it with a mode, hand it to the group */
    umask(0177);
    if (smfi_opensocket(1) != MI_SUCCESS) {
        log_err("cannot open milter socket %s", sock);
        return -1;
    }
    if (daemon_socket_own(sock, conf_live->socket_mode, conf_live->socket_group, err,
                          sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    if (daemon_drop_privileges(user, err, sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    umask(0077);
    /* after dropping privileges, so that a reopen on SIGHUP can do what this did */
    auditfile_open(conf_live->audit_log);
    return 0;
}

/* wait_signals - until SIGTERM, SIGINT or libmilter stops by itself; SIGHUP reloads */
static void wait_signals(void)
{
    sigset_t none;

    /* libmilter masks the signals in its own threads; this thread keeps them */
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    for (;;) {
        char c;
        ssize_t n = read(sig_pipe[0], &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n == 1 && c == SIGHUP) {
            conf_reload();
            auditfile_open(conf_live->audit_log); /* only this thread replaces conf_live */
            continue;
        }
        break; /* SIGTERM, SIGINT, or libmilter stopped by itself */
    }
}

/* stop - finish the messages in progress (up to STOP_GRACE), stop libmilter's thread tid,
 * remove the unix socket */
static void stop(const char *sock, pthread_t tid)
{
    const char *path;
    struct stat st;
    int ch;

    pthread_mutex_lock(&flight_lock);
    ch = in_flight;
    pthread_mutex_unlock(&flight_lock);
    log_info("stopping: finishing %d message%s in progress", ch, ch == 1 ? "" : "s");
    if ((ch = flight_wait(STOP_GRACE)) > 0)
        log_warn("stopping with %d message%s still in progress (the MTA defers them)", ch,
                 ch == 1 ? "" : "s");
    guard_stop(sock); /* libmilter looks at the stop flag only every 5 s otherwise */
    pthread_join(tid, NULL);
    /* libmilter leaves its socket behind when it runs as root */
    if ((path = daemon_socket_path(sock)) != NULL && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
}

/* main - start, serve until a stop signal, finish the messages in progress */
int main(int argc, char **argv)
{
    struct daemon_args args = {"sendas-milter", SENDAS_CONF, NULL, NULL, 0, 0};
    const char *sock;
    char *sock_copy;
    int ch, mrc = 1;
    pthread_t tid;

    if ((conf_live = daemon_start(&args, argc, argv, usage, &ch)) == NULL)
        return ch;
    conf_path = args.conf_path;
    /* a copy: a reload frees the configuration the socket came from */
    if ((sock = sock_copy = strdup(args.sock ? args.sock : conf_live->milter_socket)) == NULL) {
        log_err("out of memory");
        return 1;
    }
    if (start_listening(sock, args.user) < 0)
        return 1;
    ch = guard_init((long)conf_live->idle_timeout);
    log_info("starting on %s: %zu mailboxes, %zu routes, sessions silent for %lus end, "
             "descriptors for sessions %d (sendas %s)",
             sock, conf_live->nmailboxes, conf_live->nroutes, conf_live->idle_timeout, ch,
             PACKAGE_VERSION);
    if (daemon_socket_path(sock) == NULL)
        log_warn("listening on %s, a network socket: anything that can reach it can talk to "
                 "libmilter, which trusts its peer (doc/libmilter-macro-bug.md); the safe "
                 "default is a unix socket of group postfix (milter_socket "
                 "unix:/run/sendas/milter.sock)",
                 sock);
    if (pthread_create(&tid, NULL, milter_thread, &mrc) != 0) {
        log_err("cannot start the milter thread");
        return 1;
    }
    wait_signals();
    stop(sock, tid);
    free(sock_copy);
    auditfile_close();
    conf_unref(conf_live);
    log_info("stopped");
    return mrc;
}
