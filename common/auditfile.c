/* SPDX-License-Identifier: MIT */
/*
 * auditfile - the daemons' audit log file (see auditfile.h).
 */
#include "config.h"

#include "auditfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static int audit_fd = -1;
static char *audit_path;
/* set once a failure is logged, cleared by the next write that works (atomic: many writers) */
static int complained;

/* complain - log a failure the first time only */
static void complain(const char *what, int err)
{
    if (__atomic_exchange_n(&complained, 1, __ATOMIC_RELAXED) == 0)
        log_err("audit log %s: %s: %s (records are dropped until it works again; mail "
                "is not affected)",
                audit_path ? audit_path : "-", what, strerror(err));
}

/* auditfile_open - start (or restart, after rotation) writing to path */
int auditfile_open(const char *path)
{
    int fd = -1, old, rc = 0;
    char *p = NULL;

    if (path && *path) {
        /* O_NONBLOCK: a FIFO or a stuck device must not hold mail up */
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
        if (fd < 0) {
            log_err("audit log %s: cannot open: %s (mail is not affected)", path,
                    strerror(errno));
            rc = -1;
        }
        p = strdup(path);
    }
    pthread_rwlock_wrlock(&lock);
    old = audit_fd;
    audit_fd = fd;
    free(audit_path);
    audit_path = p;
    if (fd >= 0)
        __atomic_store_n(&complained, 0, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&lock);
    if (old >= 0)
        close(old);
    return rc;
}

/* auditfile_write - one record, one write(2) */
void auditfile_write(const struct audit_rec *r)
{
    char stack[AUDIT_MAX_LINE + 1];
    struct buf b;
    ssize_t n;

    if (__atomic_load_n(&audit_fd, __ATOMIC_RELAXED) < 0)
        return;
    buf_init(&b, AUDIT_MAX_LINE);
    if (audit_format(r, &b) < 0 || b.len > AUDIT_MAX_LINE) {
        buf_free(&b);
        complain("cannot format a record", ENOMEM);
        return;
    }
    memcpy(stack, b.data, b.len);
    n = (ssize_t)b.len;
    buf_free(&b);
    pthread_rwlock_rdlock(&lock);
    if (audit_fd >= 0) {
        ssize_t w;

        do
            w = write(audit_fd, stack, (size_t)n);
        while (w < 0 && errno == EINTR);
        if (w < 0)
            complain("cannot write", errno);
        else if (w != n)
            complain("short write (disk full?)", ENOSPC);
        else
            __atomic_store_n(&complained, 0, __ATOMIC_RELAXED);
    }
    pthread_rwlock_unlock(&lock);
}

/* auditfile_close - stop writing */
void auditfile_close(void)
{
    auditfile_open(NULL);
}

/* auditfile_now_us - the wall clock in microseconds */
long long auditfile_now_us(void)
{
    return (long long)clock_now_us();
}
