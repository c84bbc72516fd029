/* SPDX-License-Identifier: MIT */
/*
 * auditfile - the audit log file of a daemon: open, reopen (SIGHUP, after
 * logrotate) and write whole records.
 *
 * Every record goes out in one write(2) on an O_APPEND descriptor, and
 * audit_format() keeps each line under AUDIT_MAX_LINE (< PIPE_BUF), so lines
 * from many threads and processes never interleave.  A failing file (full
 * disk, no permission, gone) is reported to syslog once until a write works
 * again; the record is dropped and the caller carries on: the audit log never
 * blocks or fails mail.  Thread-safe: a read-write lock guards the descriptor
 * so that a reopen waits for writes in progress and nothing else waits.
 */
#ifndef SENDAS_AUDITFILE_H
#define SENDAS_AUDITFILE_H

#include "audit.h"

/*
 * auditfile_open - start writing to path (NULL or "": no audit log; also
 * closes an open one).  Called again on SIGHUP it reopens, so a rotated file
 * is left behind.  Failure is logged, never fatal; returns 0 or -1.
 */
int auditfile_open(const char *path);

/* auditfile_write - format r and append it as one line; nothing when no file is open */
void auditfile_write(const struct audit_rec *r);

/* auditfile_close - stop writing */
void auditfile_close(void);

/* auditfile_now_us - the wall clock in microseconds, for audit_rec.time_us */
long long auditfile_now_us(void);

#endif
