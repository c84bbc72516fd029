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

#endif
