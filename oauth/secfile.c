/* SPDX-License-Identifier: MIT */
/*
 * secfile - safe opening of credential files; see secfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

/* secfile_read_line - one line of a private credential file */
char *secfile_read_line(const char *what, const char *path, uid_t service_uid, size_t max,
                        char *err, size_t errlen)
{
    char *buf, *out = NULL;
    ssize_t r;
    size_t n = 0;
    int fd;

    if (max < 2 || (buf = malloc(max + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((fd = secfile_open(what, path, 1, service_uid, err, errlen)) < 0) {
        free(buf);
        return NULL;
    }
    /* one byte past max tells a file that is too long from one that just fits */
    while (n < max && (r = read(fd, buf + n, max - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
            goto done;
        }
        n += (size_t)r;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= max || memchr(buf, '\0', n) || memchr(buf, '\n', n)) {
        snprintf(err, errlen, "%s %s: expected the client secret on one line", what, path);
        goto done;
    }
    buf[n] = '\0';
    if ((out = strdup(buf)) == NULL)
        snprintf(err, errlen, "out of memory");
done:
    close(fd);
    secret_wipe(buf, max + 1);
    free(buf);
    return out;
}

/* secret_wipe - zero memory that held a secret; explicit_bzero is never optimised away */
void secret_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        explicit_bzero(p, n);
}

/* secret_free - wipe and free a secret string */
void secret_free(char *s)
{
    if (s != NULL) {
        secret_wipe(s, strlen(s));
        free(s);
    }
}
