/* SPDX-License-Identifier: MIT */
/*
 * secfile - safe opening of credential files; see secfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secfile.h"

/* secfile_open - open, then check what was opened (no race between check and use) */
int secfile_open(const char *what, const char *path, int private_, uid_t service_uid, char *err,
                 size_t errlen)
{
    struct stat st;
    int fd, fl;

    /* O_NONBLOCK: open(2) of a FIFO with no writer would wait for ever */
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        goto fail;
    }
    if (private_ && (st.st_mode & 077)) {
        snprintf(err, errlen,
                 "%s %s: mode %04o lets others read it; refusing to use a secret that is not "
                 "private (chmod 600 %s)",
                 what, path, (unsigned)(st.st_mode & 07777), path);
        goto fail;
    }
    /* another user who owns it can read it, or replace the secret with theirs */
    if (private_ && st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != service_uid) {
        snprintf(err, errlen,
                 "%s %s: owned by uid %lu, not by root or the user sendas-tokend runs as; "
                 "refusing a secret another user controls",
                 what, path, (unsigned long)st.st_uid);
        goto fail;
    }
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}
