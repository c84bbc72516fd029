/* SPDX-License-Identifier: MIT */
/*
 * sendas-policyd - the Postfix policy service of sendas.
 *
 * Answers Postfix's policy delegation protocol (check_policy_service) with
 * the engine's decisions: refuse a sender that no route covers while the
 * client is still connected, and keep each Exchange Online mailbox inside
 * its limits (quota.h).  One process, one epoll loop, non-blocking sockets,
 * persistent connections; every request is parsed by polreq with its caps,
 * and a malformed one is logged and its connection closed, as the protocol
 * asks.  Connections are bounded below the descriptor limit (RLIMIT_NOFILE):
 * at the bound the longest-silent idle connection makes room, or the new one
 * is closed at once; a connection silent for idle_timeout is closed (Postfix
 * reconnects), so idle clients cannot starve the service.  The counters
 * live in the store (store.h): flushed at most once a second, and on
 * SIGTERM.  SIGHUP reloads sendas.conf (a broken file keeps the running
 * configuration).
 *
 * Owns: the listening socket, the connections, the signals, the flush
 * timer.  Decides nothing itself.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "auditfile.h"
#include "buf.h"
#include "clock.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "polreq.h"
#include "quota.h"
#include "secfile.h"
#include "sockspec.h"
#include "store.h"

#define MAX_CONNS 4096         /* clients at once; Postfix opens one per smtpd process */
#define RESERVED_FDS 32        /* descriptors kept for the store, the audit log, syslog */
#define OUT_MAX (64 * 1024)    /* unsent replies per connection before it stops being read */
#define FLUSH_EVERY_MS 1000    /* the most kill -9 may lose */
#define MAX_EVENTS 256

/* One client connection (an smtpd process). */
struct conn {
    int fd;
    struct buf in;       /* bytes received, not yet parsed; capped */
    size_t scanned;      /* how far in has been searched for the end of a request */
    struct buf out;      /* replies not yet written */
    uint32_t armed;      /* the epoll events asked for */
    char instance[128];  /* the message the recipients below belong to */
    unsigned long rcpts; /* recipients accepted so far in that message */
    int64_t last_ms;     /* monotonic time of the last byte in or out */
    int pending;         /* a request of it waits in the batch for the store */
    int failed;          /* its answer could not be queued: to close */
    struct conn *prev, *next; /* every connection, most recently active first */
};

static const char *conf_path = SENDAS_CONF;
static struct conf *conf_live;
static struct store *store;
static int epfd = -1, listen_fd = -1, sig_fd = -1;
static int nconns, max_conns = MAX_CONNS;
static struct conn *conns, *conns_tail; /* most recently active first */
static char *unix_path; /* to remove at exit: a copy, a reload frees the configuration */
static int listen_paused; /* accept stopped until the next tick (out of descriptors) */
static struct log_limit lim_accept, lim_full, lim_flush;
/* a client breaking the protocol: one line per 10 s, so that a flood of them is no log flood */
static struct log_limit lim_peer;
#define PEER_LOG_INTERVAL 10
/* Postfix's recipient cap above sendas's: a configuration to fix, said once an hour */
static struct log_limit lim_rcpt;
#define RCPT_LOG_INTERVAL 3600

/*
 * The batch: requests that need the store, one per client at most, gathered
 * over one round of the event loop and answered together (one round trip to
 * a shared store for all of them).
 */
#define BATCH_MAX 64
struct pending {
    struct conn *c;
    struct polreq r;
    struct quota_decision d;
    unsigned long rcpt_index;
};
static struct pending batch[BATCH_MAX];
static struct quota_ask batch_asks[BATCH_MAX];
static const char *batch_mailboxes[BATCH_MAX];
static struct conn *done_conns[BATCH_MAX];
static size_t nbatch;
static void batch_run(void);
struct conn;
static int conn_write(struct conn *c);

/* now_ms - wall clock in ms (the counters must survive a restart) */
static int64_t now_ms(void)
{
    return clock_now_ms();
}

/* mono_ms - monotonic clock in ms, for the flush timer */
static int64_t mono_ms(void)
{
    return clock_mono_ms();
}

/*
 * flush_store - write dirty counters (the store also checks that its file is
 * still there); failures are retried at the next tick and logged once a minute
 */
static void flush_store(void)
{
    char err[512];

    if (store && store_flush(store, err, sizeof(err)) < 0)
        log_err_limited(&lim_flush, 60, "counters not saved (will retry): %s", err);
}

/* conf_reload - SIGHUP: a broken file keeps the running configuration */
static void conf_reload(void)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_load(conf_path, err, sizeof(err));

    if (c == NULL) {
        log_err("reload refused, keeping the running configuration: %s", err);
        return;
    }
    if (strcmp(c->policy_socket, conf_live->policy_socket) != 0 ||
        strcmp(c->state_dir, conf_live->state_dir) != 0)
        log_warn("policy_socket and state_dir take effect at the next restart");
    if (c->store != conf_live->store || strcmp(c->redis_address, conf_live->redis_address) != 0 ||
        c->redis_database != conf_live->redis_database || c->relays != conf_live->relays ||
        c->redis_timeout != conf_live->redis_timeout)
        log_warn("store, redis_* and relays take effect at the next restart");
    conf_free(conf_live);
    conf_live = c;
    log_set_debug(c->log_level > 0);
    log_info("configuration reloaded from %s: %zu mailboxes, %zu routes", conf_path,
             c->nmailboxes, c->nroutes);
    daemon_log_conf_warnings(c);
}

/* conn_unlink - take c out of the list */
static void conn_unlink(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        conns_tail = c->prev;
    c->prev = c->next = NULL;
}

/* conn_touch - c did something: it goes to the head of the list */
static void conn_touch(struct conn *c)
{
    c->last_ms = mono_ms();
    if (conns == c)
        return;
    if (c->prev || c->next || conns_tail == c)
        conn_unlink(c);
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    if (conns_tail == NULL)
        conns_tail = c;
}

/* conn_close - forget a connection */
static void conn_close(struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_unlink(c);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
    nconns--;
}

/*
 * conn_arm - read while no reply waits, else wait until the client takes
 * its replies (it is not read meanwhile: no unbounded queue of answers)
 */
static int conn_arm(struct conn *c)
{
    uint32_t want = c->out.len ? EPOLLOUT : EPOLLIN;
    struct epoll_event ev;

    if (want == c->armed)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.events = want;
    ev.data.ptr = c;
    c->armed = want;
    return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/*
 * audit - an audit record: every refusal, and every message that passed at
 * END-OF-MESSAGE as "counted" (the only place that knows the recipient count
 * and the size; sendasctl audit adds them to the sender's figures)
 */
static void audit(const struct polreq *r, const struct quota_decision *d)
{
    static const char *const actions[] = {"counted", "rejected", "deferred", "tempfailed"};
    struct audit_rec a;

    if (d->verdict == QUOTA_DUNNO && r->stage != POLREQ_EOM)
        return;
    audit_rec_init(&a);
    a.time_us = auditfile_now_us();
    a.component = "sendas-policyd";
    a.queue_id = r->queue_id[0] ? r->queue_id : "NOQUEUE";
    a.client_addr = r->client_address[0] ? r->client_address : NULL;
    a.client_name = r->client_name[0] ? r->client_name : NULL;
    a.sasl_login = r->sasl_username[0] ? r->sasl_username : NULL;
    a.env_from = r->sender;
    a.mailbox = d->mailbox ? d->mailbox->address : NULL;
    a.action = actions[d->verdict];
    a.rule = d->route ? d->route->text : NULL;
    a.reason = d->reason[0] ? d->reason : NULL;
    a.stage = polreq_stage_name(r->stage);
    if (r->stage == POLREQ_EOM || r->stage == POLREQ_DATA)
        a.rcpt_count = (long)r->recipient_count;
    if (r->stage == POLREQ_EOM)
        a.size = (long long)r->size;
    auditfile_write(&a);
}

/* warn_rcpt_limit - Postfix passed a recipient over the mailbox's per-message limit */
static void warn_rcpt_limit(const struct conf_mailbox *mb, unsigned long rcpt_index)
{
    struct conf_limits lim;

    conf_mailbox_limits(conf_live, mb, &lim);
    if (lim.recipients_per_message == 0 || rcpt_index <= lim.recipients_per_message)
        return;
    log_warn_limited(&lim_rcpt, RCPT_LOG_INTERVAL,
                     "Postfix passed recipient %lu of a message, over "
                     "limit_recipients_per_message %lu: each 452 from here counts as an "
                     "smtpd error, and at the 21st Postfix ends the session with nothing "
                     "queued; set smtpd_recipient_limit = %lu in main.cf (sendasctl "
                     "postfix-config main.cf prints it)",
                     rcpt_index, lim.recipients_per_message, lim.recipients_per_message);
}

/*
 * decide_begin - the answer as far as it needs no counters; 1 when the store
 * must answer ask first (decide_end follows then), else 0 (decided)
 */
static int decide_begin(struct conn *c, const struct polreq *r, struct quota_decision *d,
                        struct quota_ask *ask, unsigned long *rcpt_index)
{
    quota_route(conf_live, r, d);
    *rcpt_index = 0;
    if (r->stage == POLREQ_RCPT) {
        int same = r->instance[0] && strcmp(r->instance, c->instance) == 0;

        *rcpt_index = (same ? c->rcpts : 0) + 1;
    }
    if (d->mailbox && d->verdict == QUOTA_DUNNO &&
        quota_prepare(conf_live, r, *rcpt_index, d, ask)) {
        ask->now = now_ms();
        return 1;
    }
    return 0;
}

/* decide_end - the decision made: remember the recipient, log it when it is not DUNNO */
static void decide_end(struct conn *c, const struct polreq *r, struct quota_decision *d,
                       unsigned long rcpt_index)
{
    if (r->stage == POLREQ_RCPT && d->verdict == QUOTA_DEFER && d->mailbox)
        warn_rcpt_limit(d->mailbox, rcpt_index);
    if (r->stage == POLREQ_RCPT && d->verdict == QUOTA_DUNNO) {
        snprintf(c->instance, sizeof(c->instance), "%s", r->instance);
        c->rcpts = rcpt_index;
    }
    if (d->verdict != QUOTA_DUNNO)
        log_info("%s: client=%s[%s]%s%s sender=<%s> rcpt=<%s> mailbox=%s stage=%s action=%s "
                 "reason=\"%s\"",
                 r->queue_id[0] ? r->queue_id : "NOQUEUE", r->client_name[0] ? r->client_name : "unknown",
                 r->client_address, r->sasl_username[0] ? " sasl=" : "", r->sasl_username,
                 r->sender, r->recipient, d->mailbox ? d->mailbox->address : "-",
                 polreq_stage_name(r->stage), quota_verdict_name(d->verdict), d->reason);
    else if (d->need_from || d->fallback || d->reason[0])
        log_debug("%s: sender=<%s> stage=%s mailbox=%s%s: %s",
                  r->queue_id[0] ? r->queue_id : "NOQUEUE", r->sender, polreq_stage_name(r->stage),
                  d->mailbox ? d->mailbox->address : "-",
                  d->fallback ? " (first route that is not from:)" : "", d->reason);
    audit(r, d);
}

/* reply - queue the answer to the client; -1 when it does not read its replies */
static int reply(struct conn *c, const struct quota_decision *d)
{
    if (buf_puts(&c->out, "action=") != BUF_OK || buf_puts(&c->out, d->action) != BUF_OK ||
        buf_puts(&c->out, "\n\n") != BUF_OK) {
        log_err("closing the connection: the client does not read its replies");
        return -1;
    }
    return 0;
}

/* find_end - offset just past the empty line that ends the first request, or 0 */
static size_t find_end(const char *p, size_t len, size_t from)
{
    size_t i;

    if (len && p[0] == '\n')
        return 1;
    for (i = from ? from - 1 : 0; i + 1 < len; i++) {
        const char *nl = memchr(p + i, '\n', len - i - 1);

        if (nl == NULL)
            break;
        i = (size_t)(nl - p);
        if (p[i + 1] == '\n')
            return i + 2;
    }
    return 0;
}

/*
 * conn_process - answer the complete requests in the input, up to the first
 * that needs the store: that one joins the batch (batch_run answers it and
 * comes back here).  -1 to close.
 */
static int conn_process(struct conn *c)
{
    struct pending *p;
    char err[256];
    size_t end, used;

    while (!c->pending) {
        end = find_end(c->in.data, c->in.len, c->scanned);
        if (end == 0) {
            c->scanned = c->in.len;
            return 0;
        }
        if (nbatch == BATCH_MAX)
            batch_run(); /* answers every client in the batch: c is not among them */
        p = &batch[nbatch];
        if (polreq_parse(&p->r, c->in.data, end, &used, err, sizeof(err)) != POLREQ_OK) {
            log_warn_limited(&lim_peer, PEER_LOG_INTERVAL, "closing the connection: %s", err);
            return -1;
        }
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
        c->in.data[c->in.len] = '\0';
        c->scanned = 0;
        if (decide_begin(c, &p->r, &p->d, &batch_asks[nbatch], &p->rcpt_index)) {
            p->c = c;
            c->pending = 1;
            batch_mailboxes[nbatch++] = p->d.mailbox->address;
            return 0;
        }
        decide_end(c, &p->r, &p->d, p->rcpt_index);
        if (reply(c, &p->d) < 0)
            return -1;
    }
    return 0;
}

/* conn_drop - close c, or when it waits in the batch, mark it for batch_run to close */
static void conn_drop(struct conn *c)
{
    if (c->pending)
        c->failed = 1;
    else
        conn_close(c);
}

/* conn_done - after c was processed: write what is pending, arm it; closes it on failure */
static void conn_done(struct conn *c, int failed)
{
    if (failed || (c->out.len && conn_write(c) < 0) || conn_arm(c) < 0)
        conn_close(c);
}

/*
 * batch_run - the store answers every request in the batch in one go (one
 * round trip to a shared store), then each client gets its answer and its
 * further requests are processed (which may fill the batch again)
 */
static void batch_run(void)
{
    struct quota_answer ans[BATCH_MAX];
    char err[300];
    size_t i, n;

    while ((n = nbatch) > 0) {
        if (store_charge_many(store, n, batch_mailboxes, batch_asks, ans, err, sizeof(err)) < 0)
            log_err_limited(&lim_flush, 60, "counting: %s", err);
        nbatch = 0;
        for (i = 0; i < n; i++) {
            struct pending *p = &batch[i];

            if (ans[i].limit < 0)
                quota_tempfail(&p->d, err);
            else
                quota_answer(conf_live, &batch_asks[i], &ans[i], &p->d);
            decide_end(p->c, &p->r, &p->d, p->rcpt_index);
            p->c->pending = 0;
            if (!p->c->failed && reply(p->c, &p->d) < 0)
                p->c->failed = 1;
        }
        /* moved aside first: processing a client may start the next batch */
        for (i = 0; i < n; i++)
            done_conns[i] = batch[i].c;
        for (i = 0; i < n; i++) {
            struct conn *c = done_conns[i];

            conn_done(c, c->failed || conn_process(c) < 0);
        }
    }
}

/* conn_write - send what is pending; -1 to close */
static int conn_write(struct conn *c)
{
    size_t off = 0;

    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);

        if (n > 0) {
            off += (size_t)n;
            conn_touch(c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    memmove(c->out.data, c->out.data + off, c->out.len - off);
    c->out.len -= off;
    return 0;
}

/* conn_event - readable and/or writable */
static void conn_event(struct conn *c, uint32_t events)
{
    char chunk[16384];
    ssize_t n;

    if (events & EPOLLIN) {
        for (;;) {
            n = recv(c->fd, chunk, sizeof(chunk), 0);
            if (n > 0) {
                conn_touch(c);
                if (buf_append(&c->in, chunk, (size_t)n) != BUF_OK) {
                    log_warn_limited(&lim_peer, PEER_LOG_INTERVAL,
                                     "closing the connection: malformed policy request: "
                                     "request too large");
                    conn_drop(c);
                    return;
                }
                if ((size_t)n < sizeof(chunk))
                    break;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n < 0)
                log_debug("connection error: %s", strerror(errno));
            if (c->in.len)
                log_warn_limited(&lim_peer, PEER_LOG_INTERVAL,
                                 "connection closed in the middle of a request (%zu bytes)",
                                 c->in.len);
            conn_drop(c); /* the client went away */
            return;
        }
        if (conn_process(c) < 0) {
            conn_drop(c);
            return;
        }
    } else if (events & (EPOLLHUP | EPOLLERR)) {
        conn_drop(c);
        return;
    }
    if ((c->out.len && conn_write(c) < 0) || conn_arm(c) < 0)
        conn_drop(c);
}

/* evict_idle - close the longest-silent connection that is between requests; 0 if none */
static int evict_idle(void)
{
    struct conn *c;

    for (c = conns_tail; c; c = c->prev)
        if (c->in.len == 0 && c->out.len == 0) {
            log_debug("closing a connection silent for %llds to make room",
                      (long long)(mono_ms() - c->last_ms) / 1000);
            conn_close(c);
            return 1;
        }
    return 0;
}

/* listen_pause - stop accepting until the next tick (the listening socket stays readable) */
static void listen_pause(void)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.data.ptr = &listen_fd;
    if (!listen_paused && epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == 0)
        listen_paused = 1;
}

/* listen_resume - accept again */
static void listen_resume(void)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &listen_fd;
    if (listen_paused && epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == 0)
        listen_paused = 0;
}

/* accept_all - take every pending connection */
static void accept_all(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), e;
        struct epoll_event ev;
        struct conn *c;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* out of descriptors (EMFILE, ENFILE) or memory: the socket stays readable,
             * so make room or stop asking until the next tick instead of spinning */
            e = errno;
            log_err_limited(&lim_accept, 10, "accept: %s (%d clients)", strerror(e), nconns);
            if ((e == EMFILE || e == ENFILE) && evict_idle())
                continue;
            listen_pause();
            return;
        }
        if (nconns >= max_conns && !evict_idle()) {
            log_err_limited(&lim_full, 10, "refusing a connection: %d clients already, all busy",
                            nconns);
            close(fd);
            continue;
        }
        if ((c = calloc(1, sizeof(*c))) == NULL) {
            log_err_limited(&lim_full, 10, "refusing a connection: out of memory");
            close(fd);
            continue;
        }
        c->fd = fd;
        buf_init(&c->in, POLREQ_MAX_REQUEST + sizeof(((struct conn *)0)->instance));
        buf_init(&c->out, OUT_MAX);
        c->armed = EPOLLIN;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            log_err("epoll_ctl: %s", strerror(errno));
            close(fd);
            free(c);
            continue;
        }
        nconns++;
        conn_touch(c);
    }
}

/* close_idle - close connections silent for idle_timeout (oldest last in the list) */
static void close_idle(void)
{
    int64_t limit = mono_ms() - (int64_t)conf_live->idle_timeout * 1000;

    while (conns_tail && conns_tail->last_ms < limit) {
        log_debug("closing a connection silent for %lus%s", conf_live->idle_timeout,
                  conns_tail->in.len ? " in the middle of a request" : "");
        conn_close(conns_tail);
    }
}

/*
 * fd_budget - raise the soft descriptor limit to the hard one and keep the
 * connection cap below it, so that accept() never meets EMFILE in normal use
 */
static void fd_budget(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)MAX_CONNS + RESERVED_FDS * 2)
        max_conns = rl.rlim_cur > RESERVED_FDS * 2 ? (int)(rl.rlim_cur - RESERVED_FDS)
                                                   : (int)(rl.rlim_cur / 2);
    if (max_conns < 1)
        max_conns = 1;
}

/* listen_on - open the socket of spec (unix:PATH, inet:PORT@HOST, inet6:PORT@HOST) */
static int listen_on(const char *spec, char *err, size_t errlen)
{
    const char *path = daemon_socket_path(spec);
    int fd, one = 1;

    if (path) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sun.sun_path)) {
            snprintf(err, errlen, "%s: socket path too long", spec);
            return -1;
        }
        memcpy(sun.sun_path, path, strlen(path) + 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
            goto syserr;
        unlink(path); /* a stale socket of an earlier run */
        free(unix_path);
        if ((unix_path = strdup(path)) == NULL) {
            close(fd);
            snprintf(err, errlen, "%s: out of memory", spec);
            return -1;
        }
        umask(0177);
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0) {
            close(fd);
            goto syserr;
        }
        umask(0077);
        return fd;
    } else {
        struct addrinfo hints, *res = NULL;
        struct sockspec ss;
        char port[16];
        int rc;

        if (sockspec_parse(spec, &ss) < 0 || ss.kind == SOCKSPEC_UNIX) {
            snprintf(err, errlen, "%s: expected unix:PATH or inet:PORT@HOST", spec);
            return -1;
        }
        snprintf(port, sizeof(port), "%u", ss.port);
        /* without @HOST only this host may connect: a policy service is not for the world */
        if (ss.host[0] == '\0')
            snprintf(ss.host, sizeof(ss.host), "%s", ss.kind == SOCKSPEC_INET6 ? "::1" : "127.0.0.1");
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = ss.kind == SOCKSPEC_INET6 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        if ((rc = getaddrinfo(ss.host, port, &hints, &res)) != 0) {
            snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
            return -1;
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            if (fd >= 0)
                close(fd);
            freeaddrinfo(res);
            goto syserr;
        }
        freeaddrinfo(res);
        return fd;
    }
syserr:
    snprintf(err, errlen, "%s: %s", spec, strerror(errno));
    return -1;
}

/* prepare_state_dir - create state_dir for the user the daemon becomes */
static int prepare_state_dir(const char *dir, const char *user, char *err, size_t errlen)
{
    struct passwd *pw;

    if (mkdir(dir, 0750) != 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, errlen, "state_dir %s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    if (user && *user && (pw = getpwnam(user)) != NULL && chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
        snprintf(err, errlen, "state_dir %s: chown %s: %s", dir, user, strerror(errno));
        return -1;
    }
    return 0;
}

/* usage - the synopsis */
static void usage(FILE *f)
{
    fprintf(f, "usage: sendas-policyd [-f] [-n] [-d] [-c FILE] [-u USER] [-p SOCKET]\n"
               "  -c FILE    configuration file (default %s)\n"
               "  -f         stay in the foreground, log to stderr as well\n"
               "  -n         check the configuration and exit\n"
               "  -d         debug logging\n"
               "  -u USER    run as USER after opening the socket\n"
               "  -p SOCKET  listen here instead of policy_socket\n"
               "  -V         print the version\n",
               SENDAS_CONF);
}

/* run - the event loop; returns when a stop signal arrived */
static void run(void)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t next_flush = mono_ms() + FLUSH_EVERY_MS;

    for (;;) {
        int64_t wait = next_flush - mono_ms();
        int n, i, pending_accept = 0, hup = 0;

        n = epoll_wait(epfd, evs, MAX_EVENTS, wait < 0 ? 0 : (int)wait);
        if (n < 0 && errno != EINTR) {
            log_err("epoll_wait: %s", strerror(errno));
            return;
        }
        for (i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;

            if (p == &listen_fd) {
                pending_accept = 1; /* after this batch: making room closes connections */
            } else if (p == &sig_fd) {
                struct signalfd_siginfo si;

                while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if (si.ssi_signo == SIGHUP) {
                        hup = 1;
                        continue;
                    }
                    log_info("stopping on signal %u", si.ssi_signo);
                    return;
                }
            } else {
                conn_event(p, evs[i].events);
            }
        }
        batch_run(); /* before anything may close a client waiting in it */
        /* only now: the batch's requests point into the configuration they were decided with */
        if (hup) {
            conf_reload();
            auditfile_open(conf_live->audit_log); /* logrotate's postrotate */
        }
        if (pending_accept)
            accept_all();
        if (mono_ms() >= next_flush) {
            flush_store();
            close_idle();
            listen_resume();
            next_flush = mono_ms() + FLUSH_EVERY_MS;
        }
    }
}

/*
 * read_redis_password - redis_password_file, read while still root: private
 * (0600/0400), owned by root or by the user the daemon becomes; 0, or -1
 */
static int read_redis_password(const struct conf *c, const char *user, char **out, char *err,
                               size_t errlen)
{
    struct passwd *pw = user && *user ? getpwnam(user) : NULL;

    *out = NULL;
    if (c->store != STORE_REDIS || c->redis_password_file == NULL)
        return 0;
    *out = secfile_read_line("redis_password_file", c->redis_password_file,
                             pw ? pw->pw_uid : SECFILE_NO_USER, 1024, err, errlen);
    return *out ? 0 : -1;
}

/*
 * open_store - the counters: SQLite under state_dir, or Redis shared by the
 * relays (its password read before privileges are dropped; a status file in
 * state_dir tells sendasctl quota how this relay counts)
 */
static struct store *open_store(const struct conf *c, const char *password, char *err,
                                size_t errlen)
{
    struct store_redis_opts o;
    char status[4200], host[256], name[600];
    struct store *s;

    if (c->store != STORE_REDIS)
        return store_sqlite_open(c->state_dir, 0, err, errlen);
    memset(&o, 0, sizeof(o));
    o.address = c->redis_address;
    o.database = (unsigned)c->redis_database;
    o.relays = (unsigned)c->relays;
    o.timeout_ms = (unsigned)c->redis_timeout;
    snprintf(status, sizeof(status), "%s/" STORE_STATUS_FILE, c->state_dir);
    o.status_path = status;
    /* host and socket: two relays on one host (tests) are still two */
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(name, sizeof(name), "%s %s", host, c->policy_socket);
    o.relay_name = name;
    o.password = password;
    s = store_redis_open(&o, 0, NULL, err, errlen);
    return s;
}

/* start_serving - the socket with its mode and group, the state directory, privileges
 * dropped, the counters opened, the audit log opened; 0, or -1 (logged) */
static int start_serving(const char *sock, const char *user)
{
    char err[CONF_ERRLEN], *password = NULL;

    umask(0077); /* the counters are nobody else's business */
    if ((listen_fd = listen_on(sock, err, sizeof(err))) < 0) {
        log_err("cannot listen: %s", err);
        return -1;
    }
    if (daemon_socket_own(sock, conf_live->socket_mode, conf_live->socket_group, err,
                          sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    if (read_redis_password(conf_live, user, &password, err, sizeof(err)) < 0 ||
        prepare_state_dir(conf_live->state_dir, user, err, sizeof(err)) < 0 ||
        daemon_drop_privileges(user, err, sizeof(err)) < 0) {
        secret_free(password);
        log_err("%s", err);
        return -1;
    }
    store = open_store(conf_live, password, err, sizeof(err));
    secret_free(password); /* the store keeps its own copy */
    if (store == NULL) {
        log_err("cannot open the counters: %s", err);
        return -1;
    }
    auditfile_open(conf_live->audit_log); /* as the user a SIGHUP reopens it as */
    return 0;
}

/* loop_setup - the signalfd for sigs and the epoll set with it and the listening socket;
 * 0, or -1 (logged) */
static int loop_setup(const sigset_t *sigs)
{
    struct epoll_event ev;

    if ((sig_fd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
        (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        goto fail;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &listen_fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
        goto fail;
    ev.data.ptr = &sig_fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &ev) < 0)
        goto fail;
    return 0;
fail:
    log_err("cannot set up the event loop: %s", strerror(errno));
    return -1;
}

/* shut_down - close every connection, save the counters, remove the unix socket */
static void shut_down(void)
{
    while (conns)
        conn_close(conns);
    flush_store();
    if (store_dirty(store))
        log_err("stopping with %zu mailboxes' counters not saved", store_dirty(store));
    store_close(store);
    close(listen_fd);
    if (unix_path)
        unlink(unix_path);
    free(unix_path);
}

/* main - start, serve until a stop signal, save the counters */
int main(int argc, char **argv)
{
    struct daemon_args args = {"sendas-policyd", SENDAS_CONF, NULL, NULL, 0, 0};
    const char *sock;
    char mode[600];
    int ch;
    sigset_t sigs;

    if ((conf_live = daemon_start(&args, argc, argv, usage, &ch)) == NULL)
        return ch;
    conf_path = args.conf_path;
    sock = args.sock ? args.sock : conf_live->policy_socket;
    signal(SIGPIPE, SIG_IGN);
    /* a file size limit (ulimit -f) must fail the write (EFBIG, logged), not kill the service */
    signal(SIGXFSZ, SIG_IGN);
    fd_budget();
    /* blocked before the socket exists: a SIGHUP (logrotate) during start-up must not kill */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0) {
        log_err("sigprocmask: %s", strerror(errno));
        return 1;
    }
    if (start_serving(sock, args.user) < 0 || loop_setup(&sigs) < 0)
        return 1;
    store_mode(store, mode, sizeof(mode));
    log_info("starting on %s: %zu mailboxes, %zu routes, counters: %s, at most %d clients "
             "(sendas %s)",
             sock, conf_live->nmailboxes, conf_live->nroutes,
             conf_live->store == STORE_REDIS ? mode : conf_live->state_dir, max_conns,
             PACKAGE_VERSION);
    if (daemon_socket_path(sock) == NULL)
        log_warn("listening on %s, a network socket: any local user (or host) that can reach it "
                 "can query the service; the safe default is a unix socket of group postfix "
                 "(policy_socket unix:/run/sendas/policy.sock)",
                 sock);
    run();
    shut_down();
    auditfile_close();
    conf_free(conf_live);
    log_info("stopped");
    return 0;
}
