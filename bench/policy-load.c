/* SPDX-License-Identifier: MIT */
/*
 * policy-load - a load generator for Postfix policy services.
 *
 *   policy-load [-c CONNS] [-t SECONDS] [-w WARMUP] [-l LABEL] HOST:PORT
 *
 * Opens CONNS persistent connections (default 8) and keeps one RCPT-stage
 * request in flight on each, as CONNS smtpd processes would: the next
 * request goes out when the reply to the previous one has arrived.  The
 * requests carry every attribute Postfix 3.7 sends, with a new recipient
 * and instance each time; senders rotate over routed, unrouted and rejected
 * addresses (90/5/5), so that a service cannot answer from a cache.  After
 * WARMUP seconds (default 1) it measures for SECONDS (default 10): every
 * request's latency from the write to the end of the reply.
 *
 * Prints one line: LABEL requests/s, p50/p99/max latency in microseconds,
 * the number of failed requests (replies that are not "action=...",
 * timeouts of 5 s, a request whose connection was lost twice), the number
 * of reconnections (a lost connection is re-dialled and the request sent
 * again, as Postfix does), and the count of each reply kind.
 *
 * Single-threaded (epoll), so that the generator itself takes one CPU.
 * Build: cc -O2 -Wall -o policy-load bench/policy-load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define REQ_MAX 2048
#define REPLY_MAX 4096
#define TIMEOUT_NS 5000000000LL

struct conn {
    int fd;
    char out[REQ_MAX];
    size_t outlen, outoff;
    char in[REPLY_MAX];
    size_t inlen;
    int64_t sent_at; /* ns; 0 when idle */
    int retried;     /* this request was sent again after the connection was lost */
};

static int64_t *lat;          /* measured latencies, ns */
static size_t nlat, caplat;
static unsigned long failures, reconnects, seq;
static unsigned long kinds[4]; /* DUNNO, 5xx/REJECT, 4xx/DEFER, other */

/* now_ns - monotonic clock */
static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* build - the next request, as Postfix's smtpd sends it at RCPT */
static void build(struct conn *c)
{
    unsigned long n = seq++;
    const char *sender;
    char sbuf[128];
    int len;

    if (n % 20 == 7)
        snprintf(sbuf, sizeof(sbuf), "someone%lu@elsewhere.example", n % 1000);
    else if (n % 20 == 13)
        snprintf(sbuf, sizeof(sbuf), "blocked@legacy.local");
    else
        snprintf(sbuf, sizeof(sbuf), "app%lu@corp.local", n % 1000);
    sender = sbuf;
    len = snprintf(c->out, sizeof(c->out),
                   "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                   "client_address=192.0.2.%lu\nclient_name=app%lu.corp.local\n"
                   "client_port=%lu\nreverse_client_name=app%lu.corp.local\n"
                   "server_address=127.0.0.1\nserver_port=25\nhelo_name=app%lu.corp.local\n"
                   "sender=%s\nrecipient=user%lu@example.net\nrecipient_count=0\nqueue_id=\n"
                   "instance=%lx.%lx.0\nsize=%lu\netrn_domain=\nstress=\nsasl_method=\n"
                   "sasl_username=\nsasl_sender=\nccert_subject=\nccert_issuer=\n"
                   "ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\n"
                   "encryption_cipher=\nencryption_keysize=0\npolicy_context=\n"
                   "compatibility_level=3.6\nmail_version=3.7.11\n\n",
                   n % 250 + 1, n % 250 + 1, 30000 + n % 30000, n % 250 + 1, n % 250 + 1, sender,
                   n, n, (unsigned long)getpid(), 1000 + n % 50000);
    c->outlen = (size_t)len;
    c->outoff = 0;
    c->inlen = 0;
    c->retried = 0;
}

/* classify - count the kind of reply */
static void classify(const char *reply)
{
    const char *a = reply + 7; /* after "action=" */

    if (strncasecmp(a, "DUNNO", 5) == 0 || strncasecmp(a, "OK", 2) == 0)
        kinds[0]++;
    else if (a[0] == '5' || strncasecmp(a, "REJECT", 6) == 0)
        kinds[1]++;
    else if (a[0] == '4' || strncasecmp(a, "DEFER", 5) == 0)
        kinds[2]++;
    else
        kinds[3]++;
}

/* send_some - write what is pending; -1 on error */
static int send_some(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

        if (n > 0) {
            c->outoff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    return 0;
}

/* dial - connect to host:port */
static int dial(const char *host, int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* cmp64 - qsort order */
static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* num_arg - a whole-string number in [0, 1e9] (an int cast stays defined), else -1 */
static double num_arg(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    return end == s || *end != '\0' || errno != 0 || !(v >= 0 && v <= 1e9) ? -1 : v;
}

int main(int argc, char **argv)
{
    int nconns = 8, ch, port, ep, i;
    double secs = 10, warm = 1;
    const char *label = "service";
    char host[64], *colon;
    struct conn *conns;
    struct epoll_event ev, evs[MAX_CONNS];
    int64_t start, measure_from, end;

    while ((ch = getopt(argc, argv, "c:t:w:l:")) != -1) {
        switch (ch) {
        case 'c':
            nconns = (int)num_arg(optarg);
            break;
        case 't':
            secs = num_arg(optarg);
            break;
        case 'w':
            warm = num_arg(optarg);
            break;
        case 'l':
            label = optarg;
            break;
        default:
            fprintf(stderr, "usage: policy-load [-c CONNS] [-t SECONDS] [-w WARMUP] [-l LABEL] HOST:PORT\n");
            return 2;
        }
    }
    if (optind + 1 != argc || (colon = strrchr(argv[optind], ':')) == NULL ||
        (size_t)(colon - argv[optind]) >= sizeof(host) || nconns < 1 || nconns > MAX_CONNS ||
        secs <= 0 || warm < 0 || (port = (int)num_arg(colon + 1)) < 1 || port > 65535) {
        fprintf(stderr, "usage: policy-load [-c CONNS] [-t SECONDS] [-w WARMUP] [-l LABEL] HOST:PORT\n");
        return 2;
    }
    memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
    host[colon - argv[optind]] = '\0';
    caplat = 1 << 20;
    if ((lat = malloc(caplat * sizeof(*lat))) == NULL || (conns = calloc((size_t)nconns, sizeof(*conns))) == NULL ||
        (ep = epoll_create1(0)) < 0) {
        perror("policy-load");
        return 1;
    }
    for (i = 0; i < nconns; i++) {
        if ((conns[i].fd = dial(host, port)) < 0) {
            fprintf(stderr, "policy-load: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
            return 1;
        }
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = &conns[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    start = now_ns();
    measure_from = start + (int64_t)(warm * 1e9);
    end = measure_from + (int64_t)(secs * 1e9);
    for (i = 0; i < nconns; i++) {
        build(&conns[i]);
        conns[i].sent_at = now_ns();
        if (send_some(&conns[i]) < 0)
            failures++;
    }
    for (;;) {
        int64_t t = now_ns();
        int n;

        if (t >= end)
            break;
        n = epoll_wait(ep, evs, MAX_CONNS, 100);
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen, 0);
            char *endp;

            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                /*
                 * The server closed the connection (a pre-forked server's child
                 * retires after so many requests).  Postfix's policy client then
                 * reconnects and sends the request again (smtpd_policy_service_try_limit
                 * = 2): so does this, and the request's latency includes the
                 * reconnection.  A second loss in a row is a failure.
                 */
                reconnects++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (c->retried || (c->fd = dial(host, port)) < 0) {
                    fprintf(stderr, "policy-load: %s: connection lost twice or cannot reconnect\n",
                            label);
                    failures++;
                    if ((c->fd = dial(host, port)) < 0)
                        return 1;
                    build(c);
                    c->sent_at = now_ns();
                } else {
                    c->retried = 1;
                    c->outoff = 0;
                    c->inlen = 0;
                }
                memset(&ev, 0, sizeof(ev));
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                if (send_some(c) < 0)
                    failures++;
                continue;
            }
            c->inlen += (size_t)r;
            c->in[c->inlen] = '\0';
            if ((endp = strstr(c->in, "\n\n")) == NULL) {
                if (c->inlen >= sizeof(c->in) - 1) {
                    failures++;
                    c->inlen = 0;
                }
                continue;
            }
            t = now_ns();
            if (strncmp(c->in, "action=", 7) != 0) {
                failures++;
            } else if (c->sent_at >= measure_from && t < end) {
                if (nlat == caplat) {
                    int64_t *nl = realloc(lat, 2 * caplat * sizeof(*lat));

                    if (nl == NULL) {
                        perror("policy-load");
                        return 1;
                    }
                    lat = nl;
                    caplat *= 2;
                }
                lat[nlat++] = t - c->sent_at;
                classify(c->in);
            }
            build(c);
            c->sent_at = now_ns();
            if (send_some(c) < 0)
                failures++;
        }
        /* a request unanswered for 5 s is a failure */
        t = now_ns();
        for (i = 0; i < nconns; i++)
            if (conns[i].sent_at && t - conns[i].sent_at > TIMEOUT_NS) {
                fprintf(stderr, "policy-load: %s: timeout\n", label);
                failures++;
                conns[i].sent_at = t;
            }
    }
    qsort(lat, nlat, sizeof(*lat), cmp64);
    if (nlat == 0) {
        printf("%s: no request completed; failures=%lu\n", label, failures);
        return 1;
    }
    printf("%-14s conns=%d seconds=%.1f requests=%zu req/s=%.0f p50_us=%.0f p99_us=%.0f "
           "max_us=%.0f failures=%lu reconnects=%lu replies: dunno=%lu reject=%lu defer=%lu other=%lu\n",
           label, nconns, secs, nlat, (double)nlat / secs, lat[nlat / 2] / 1e3,
           lat[(size_t)((double)nlat * 0.99)] / 1e3, lat[nlat - 1] / 1e3, failures, reconnects, kinds[0],
           kinds[1], kinds[2], kinds[3]);
    for (i = 0; i < nconns; i++)
        close(conns[i].fd);
    free(conns);
    free(lat);
    return failures ? 3 : 0;
}
