/* SPDX-License-Identifier: MIT */
/*
 * log - syslog (LOG_MAIL) and, in the foreground, stderr.
 *
 * Lines are formatted once into a bounded buffer and written with one call,
 * so lines from libmilter's threads never interleave on stderr.
 */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_fg;
static int log_dbg;
static int log_syslog = 1;
static const char *log_ident = "sendas";

/* stderr_is_journal - stderr is systemd's journal stream ($JOURNAL_STREAM = "dev:ino") */
static int stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    return e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* log_init - open syslog */
void log_init(const char *ident, int foreground)
{
    log_ident = ident;
    /* under systemd, syslog already reaches the journal: a copy on stderr would double it */
    log_fg = foreground && !stderr_is_journal();
    /*
     * Without a syslog socket glibc retries the connect on every call, a
     * cost per message for lines that go nowhere; in the foreground the
     * stderr copy is then the log (tests, containers).
     */
    log_syslog = !(log_fg && access("/dev/log", W_OK) != 0);
    if (log_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_set_debug - toggle debug output */
void log_set_debug(int on)
{
    log_dbg = on;
}

/* vlog - format once, send to syslog and maybe stderr */
__attribute__((format(printf, 3, 0))) static void vlog(int prio, const char *tag,
                                                        const char *fmt, va_list ap)
{
    char line[2048];
    int n;

    n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) /* mark truncation instead of failing */
        line[sizeof(line) - 4] = line[sizeof(line) - 3] = line[sizeof(line) - 2] = '.';
    if (log_syslog)
        syslog(prio, "%s%s", tag, line);
    if (log_fg) {
        char out[2200];
        int m = snprintf(out, sizeof(out), "%s[%ld]: %s%s\n", log_ident, (long)getpid(), tag, line);

        if (m > 0)
            (void)!write(STDERR_FILENO, out, (size_t)m < sizeof(out) ? (size_t)m : sizeof(out) - 1);
    }
}

/* log_line - vlog with a format of its own */
static void log_line(int prio, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_line(int prio, const char *tag, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(prio, tag, fmt, ap);
    va_end(ap);
}

#define LOG_FN(fn, prio, tag, cond)                                                                \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        if (!(cond))                                                                               \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(prio, tag, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }

LOG_FN(log_debug, LOG_DEBUG, "debug: ", log_dbg)
LOG_FN(log_info, LOG_INFO, "", 1)
LOG_FN(log_warn, LOG_WARNING, "warning: ", 1)
LOG_FN(log_err, LOG_ERR, "error: ", 1)

/* vlog_limited - vlog at most once per interval with the count of the lines left out */
__attribute__((format(printf, 5, 0))) static void
vlog_limited(struct log_limit *l, int interval_s, int prio, const char *tag, const char *fmt,
             va_list ap)
{
    long long now = clock_mono_ms() + 1; /* never 0: 0 means never logged */
    char line[1800];

    if (l->last_ms && now - l->last_ms < (long long)interval_s * 1000) {
        l->suppressed++;
        return;
    }
    vsnprintf(line, sizeof(line), fmt, ap);
    if (l->suppressed)
        log_line(prio, tag, "%s (and %lu more like it in the last %llds)", line, l->suppressed,
                 (now - l->last_ms) / 1000);
    else
        log_line(prio, tag, "%s", line);
    l->last_ms = now;
    l->suppressed = 0;
}

#define LOG_LIMITED_FN(fn, prio, tag)                                                              \
    void fn(struct log_limit *l, int interval_s, const char *fmt, ...)                             \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog_limited(l, interval_s, prio, tag, fmt, ap);                                           \
        va_end(ap);                                                                                \
    }

LOG_LIMITED_FN(log_warn_limited, LOG_WARNING, "warning: ")
LOG_LIMITED_FN(log_err_limited, LOG_ERR, "error: ")
