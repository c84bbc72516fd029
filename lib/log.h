/* SPDX-License-Identifier: MIT */
/*
 * log - the one logging module: syslog LOG_MAIL, plus stderr in the foreground.
 */
#ifndef SENDAS_LOG_H
#define SENDAS_LOG_H

/* log_init - open syslog as ident; foreground also copies every line to stderr */
void log_init(const char *ident, int foreground);
/* log_set_debug - enable or disable log_debug output */
void log_set_debug(int on);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A repeated complaint (accept failing at the descriptor limit, a disk that
 * stays full) is logged once per interval with the number of repeats left
 * out, so that a condition that lasts cannot fill the disk with its log.
 * One struct log_limit per complaint, zeroed; not thread-safe (one caller).
 */
struct log_limit {
    long long last_ms;        /* when the last line was written (monotonic ms), 0: never */
    unsigned long suppressed; /* repeats since then, not logged */
};

/* log_err_limited - log_err at most once per interval_s seconds, saying how many were left out */
void log_err_limited(struct log_limit *l, int interval_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* log_warn_limited - the same for log_warn (a peer's repeated protocol errors) */
void log_warn_limited(struct log_limit *l, int interval_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
