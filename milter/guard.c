/* SPDX-License-Identifier: MIT */
/*
 * guard - sendas-milter's defences around libmilter (see guard.h).
 *
 * Owns: the descriptor budget of the sessions, the spare descriptor, the
 * accept(2), read(2), close(2) and sigwait(3) that libmilter calls (the executable's
 * definitions come before libc's), the table of session descriptors with
 * the time each last received a byte, the reaper thread, and the bounded
 * reading of the macro arrays.
 *
 * Why a reaper: smfi_settimeout() alone does not bound a silent session.
 * Debian's libmilter runs sessions on a pool of workers whose controller
 * looks for timed-out sessions only every 10 minutes, and a session that
 * stopped in the middle of a packet holds its worker.  The reaper shuts
 * down (shutdown(2), never close: the descriptor stays libmilter's) a
 * session socket that received nothing for the timeout; libmilter then
 * sees the end of the connection and cleans up as usual.  A descriptor
 * leaves the table (under its lock) before it is closed, so the reaper
 * never touches a number that was closed and reused.
 */
#include "config.h"

#include "guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "clock.h"

#define RESERVED_FDS 32      /* kept for the audit log, syslog, the signal pipe */
#define MAX_SESSION_FD 65536 /* table size when the descriptor limit is higher */

static int fd_cap = -1;   /* an accepted descriptor at or above this is refused */
static int spare_fd = -1; /* given up to take a connection off the queue at EMFILE */
static struct log_limit lim_refuse, lim_emfile, lim_reap;
static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static long long *last_io; /* per descriptor below fd_cap: ms of its last byte in, 0: none */

/* now_ms - monotonic milliseconds, never 0 */
static long long now_ms(void)
{
    return clock_mono_ms() + 1; /* 0 marks a descriptor that is not a session */
}

/*
 * libmilter.h's struct smfi_str up to ctx_privdata, unchanged from sendmail
 * 8.14 to 8.18 (libmilter.h is not installed).  guard_getsymval uses it only
 * when the fields it can check (the private pointer, the timeout) are where
 * this says; otherwise it falls back to smfi_getsymval, with one warning.
 */
#define MI_MACRO_ARRAYS 7 /* MAX_MACROS_ENTRIES */
struct mi_ctx_prefix {
    pthread_t ctx_id;
    int ctx_sd;
    int ctx_dbg;
    time_t ctx_timeout;
    int ctx_state;
    void *ctx_smfi;
    int ctx_prot_vers;
    unsigned long ctx_aflags;
    unsigned long ctx_pflags;
    unsigned long ctx_pflags2mta;
    int ctx_prot_vers2mta;
    char **ctx_mac_ptr[MI_MACRO_ARRAYS];
    char *ctx_mac_buf[MI_MACRO_ARRAYS];
    char *ctx_mac_list[MI_MACRO_ARRAYS];
    char *ctx_reply;
    void *ctx_privdata;
};

static long ctx_timeout = -1;
static pthread_once_t layout_once = PTHREAD_ONCE_INIT;

/* reaper_main - once a second, end the sessions silent for the timeout */
static void *reaper_main(void *arg)
{
    long long idle_ms = (long long)ctx_timeout * 1000;
    sigset_t all;
    int fd, n;

    (void)arg;
    sigfillset(&all); /* signals go to the main thread */
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        long long now;

        sleep(1);
        now = now_ms();
        n = 0;
        pthread_mutex_lock(&track_lock);
        for (fd = 0; fd < fd_cap; fd++) {
            long long t = __atomic_load_n(&last_io[fd], __ATOMIC_RELAXED);

            if (t && now - t > idle_ms) {
                shutdown(fd, SHUT_RDWR);
                /* once: libmilter closes it when it next looks */
                __atomic_store_n(&last_io[fd], now, __ATOMIC_RELAXED);
                n++;
            }
        }
        pthread_mutex_unlock(&track_lock);
        if (n)
            log_err_limited(&lim_reap, 60, "ended %d session%s silent for %lds (idle_timeout)", n,
                            n == 1 ? "" : "s", ctx_timeout);
    }
    return NULL;
}

/* guard_init - the session budget, the table, the spare descriptor, the reaper */
int guard_init(long timeout_s)
{
    struct rlimit rl;
    pthread_t tid;

    ctx_timeout = timeout_s;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)1 << 30)
            fd_cap = rl.rlim_cur > RESERVED_FDS * 2 ? (int)(rl.rlim_cur - RESERVED_FDS)
                                                    : (int)(rl.rlim_cur / 2);
    }
    if (fd_cap < 0 || fd_cap > MAX_SESSION_FD)
        fd_cap = MAX_SESSION_FD;
    if ((last_io = calloc((size_t)fd_cap, sizeof(*last_io))) == NULL ||
        pthread_create(&tid, NULL, reaper_main, NULL) != 0) {
        log_err("cannot watch for silent sessions: they end only at libmilter's timeout");
    } else {
        pthread_detach(tid);
    }
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd_cap;
}

/* real_read - read(2) of libc */
static ssize_t real_read(int fd, void *buf, size_t n)
{
    static ssize_t (*fn)(int, void *, size_t);

    if (fn == NULL)
        *(void **)&fn = dlsym(RTLD_NEXT, "read");
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return fn(fd, buf, n);
}

/* real_close - close(2) of libc */
static int real_close(int fd)
{
    static int (*fn)(int);

    if (fn == NULL)
        *(void **)&fn = dlsym(RTLD_NEXT, "close");
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return fn(fd);
}

/* read - libmilter reads its sessions with this: a byte in marks the session as alive */
ssize_t read(int fd, void *buf, size_t n)
{
    ssize_t r = real_read(fd, buf, n);

    if (r > 0 && last_io && fd >= 0 && fd < fd_cap &&
        __atomic_load_n(&last_io[fd], __ATOMIC_RELAXED))
        __atomic_store_n(&last_io[fd], now_ms(), __ATOMIC_RELAXED);
    return r;
}

/* close - a session descriptor leaves the table before its number can be reused */
int close(int fd)
{
    if (last_io && fd >= 0 && fd < fd_cap && __atomic_load_n(&last_io[fd], __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&track_lock);
        __atomic_store_n(&last_io[fd], 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&track_lock);
    }
    return real_close(fd);
}

/*
 * sigwait - libmilter's signal thread is its only caller here: it waits for
 * SIGHUP, SIGTERM and SIGINT, and stops the filter on any of them.  The
 * kernel hands a process-directed signal to any thread that is not blocking
 * it, and a thread inside sigwait counts as one: a SIGHUP (logrotate)
 * arriving while the main thread was busy went to libmilter and stopped the
 * milter instead of reloading it.  Here that thread waits for ever and takes
 * nothing; the main thread alone handles the signals.
 */
int sigwait(const sigset_t *set, int *sig)
{
    (void)set;
    (void)sig;
    for (;;)
        pause();
}

/* real_accept - the accept(2) this file hides from libmilter */
static int real_accept(int fd, __SOCKADDR_ARG sa, socklen_t *len)
{
    static int (*fn)(int, __SOCKADDR_ARG, socklen_t *);

    if (fn == NULL)
        *(void **)&fn = dlsym(RTLD_NEXT, "accept");
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return fn(fd, sa, len);
}

/*
 * accept - libmilter's listener calls this (the executable's symbol comes
 * first).  A connection that would take one of the last RESERVED_FDS
 * descriptors is closed at once, and at EMFILE the spare descriptor makes
 * room to take the waiting connection off the queue and close it: the MTA
 * sees a closed connection (milter_default_action), the listener sees
 * ECONNABORTED, which it skips silently, and nothing spins.
 */
int accept(int fd, __SOCKADDR_ARG sa, socklen_t *len)
{
    int c = real_accept(fd, sa, len), e;

    if (c >= 0 && fd_cap > 0 && c >= fd_cap) {
        real_close(c);
        log_err_limited(&lim_refuse, 10,
                        "refusing a connection: out of descriptors for sessions (limit %d); the "
                        "MTA applies milter_default_action",
                        fd_cap + RESERVED_FDS);
        errno = ECONNABORTED;
        return -1;
    }
    if (c < 0 && (errno == EMFILE || errno == ENFILE)) {
        e = errno;
        if (spare_fd >= 0) {
            real_close(spare_fd);
            if ((c = real_accept(fd, NULL, NULL)) >= 0)
                real_close(c);
            spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        } else {
            usleep(100000); /* no way to take it off the queue: at least do not spin */
        }
        log_err_limited(&lim_emfile, 10, "refusing a connection: accept: %s", strerror(e));
        errno = ECONNABORTED;
        return -1;
    }
    if (c >= 0 && last_io && c < fd_cap) {
        pthread_mutex_lock(&track_lock);
        __atomic_store_n(&last_io[c], now_ms(), __ATOMIC_RELAXED);
        pthread_mutex_unlock(&track_lock);
    }
    return c;
}

/* layout_warn - once: the context is not laid out as expected */
static void layout_warn(void)
{
    log_warn("libmilter's session context is not laid out as this build expects: macros are "
             "read with smfi_getsymval(), which a malformed macro packet can crash "
             "(doc/libmilter-macro-bug.md); keep the milter socket reachable by the MTA only");
}

/* name_matches - smfi_getsymval's rule: "x" and "{x}" are the same macro */
static int name_matches(const char *have, const char *want)
{
    size_t hl = strlen(have), wl = strlen(want);

    if (strcmp(have, want) == 0)
        return 1;
    if (wl == 1 && hl == 3 && have[0] == '{' && have[1] == want[0] && have[2] == '}')
        return 1;
    if (wl == 3 && hl == 1 && want[0] == '{' && want[1] == have[0] && want[2] == '}')
        return 1;
    return 0;
}

/* guard_getsymval - walk name, value, name, value ... and never past the terminating NULL */
const char *guard_getsymval(SMFICTX *ctx, const void *x, const char *name, int *malformed)
{
    const struct mi_ctx_prefix *m = (const struct mi_ctx_prefix *)(const void *)ctx;
    const char *found = NULL;
    int i;
    size_t k;

    if (ctx == NULL || x == NULL || m->ctx_privdata != x || m->ctx_timeout != (time_t)ctx_timeout ||
        m->ctx_sd < 0) {
        pthread_once(&layout_once, layout_warn);
        return smfi_getsymval(ctx, (char *)name);
    }
    /* the last stage first, as libmilter does; every array is checked whole */
    for (i = MI_MACRO_ARRAYS - 1; i >= 0; i--) {
        char **s = m->ctx_mac_ptr[i];

        if (s == NULL || m->ctx_mac_buf[i] == NULL)
            continue;
        for (k = 0; s[k] != NULL; k += 2) {
            if (s[k + 1] == NULL) { /* a name without a value: the odd string */
                *malformed = 1;
                return NULL;
            }
            if (found == NULL && name_matches(s[k], name))
                found = s[k + 1];
        }
    }
    return found;
}

/* wake - one connection to our own socket; errors do not matter (5 s at worst) */
static void wake(const char *spec)
{
    const char *path = daemon_socket_path(spec);
    int fd;

    if (path) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sun.sun_path))
            return;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
            return;
        (void)connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        close(fd);
        return;
    }
    {
        /* inet:PORT@HOST or inet6:PORT@HOST; a wildcard address is reached on loopback */
        const char *colon = strchr(spec, ':'), *at = strchr(spec, '@');
        int v6 = strncmp(spec, "inet6:", 6) == 0;
        struct addrinfo hints, *res = NULL;
        char port[16], host[256];

        if (colon == NULL || (size_t)((at ? at : spec + strlen(spec)) - colon - 1) >= sizeof(port))
            return;
        snprintf(port, sizeof(port), "%.*s", (int)((at ? at : spec + strlen(spec)) - colon - 1),
                 colon + 1);
        snprintf(host, sizeof(host), "%s", at ? at + 1 : "");
        if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
            strcmp(host, "[::]") == 0)
            snprintf(host, sizeof(host), "%s", v6 ? "::1" : "127.0.0.1");
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = v6 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        if (getaddrinfo(host, port, &hints, &res) != 0)
            return;
        if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) >= 0) {
            (void)connect(fd, res->ai_addr, res->ai_addrlen);
            close(fd);
        }
        freeaddrinfo(res);
    }
}

struct waker {
    const char *spec;
    pthread_mutex_t lock;
    int done;
};

/* waker_main - wake the listener until smfi_stop() has returned */
static void *waker_main(void *arg)
{
    struct waker *w = arg;
    int done = 0;

    while (!done) {
        usleep(20000); /* after smfi_stop() has set the stop flag */
        wake(w->spec);
        pthread_mutex_lock(&w->lock);
        done = w->done;
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/*
 * guard_stop - smfi_stop() without the wait: it sets the stop flag, then
 * needs the listener's mutex, which the listener holds while it polls (5 s);
 * a connection to our own socket ends the poll.  One is not enough when the
 * listener polls again before taking the flag into account: a helper thread
 * connects until smfi_stop() returns.
 */
void guard_stop(const char *spec)
{
    struct waker w = {spec, PTHREAD_MUTEX_INITIALIZER, 0};
    pthread_t tid;
    int have = pthread_create(&tid, NULL, waker_main, &w) == 0;

    smfi_stop();
    if (have) {
        pthread_mutex_lock(&w.lock);
        w.done = 1;
        pthread_mutex_unlock(&w.lock);
        pthread_join(tid, NULL);
    }
}
