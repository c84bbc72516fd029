/* SPDX-License-Identifier: MIT */
/*
 * tokstate - reads sendas-tokend's state files; see tokstate.h.  The parser
 * takes (buf, len), reads nothing outside it and changes nothing in it;
 * tokstate_read_file is the one bounded reader of state and token files
 * (sendasctl token and doctor).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokstate.h"

/* tokstate_read_file - see tokstate.h */
ssize_t tokstate_read_file(const char *path, char *buf, size_t cap)
{
    struct stat st;
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)) < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = ENODEV;
        return -1;
    }
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static const char *const keys[] = {"mailbox", "expires", "last_refresh", "last_attempt",
                                   "failures", "last_error"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* number - (v, n) as 1 to 18 digits; 0, or -1 */
static int number(const char *v, size_t n, long long *out)
{
    long long x = 0;
    size_t i;

    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* key_of - the index of the key (k, n), or NKEYS */
static size_t key_of(const char *k, size_t n)
{
    size_t i;

    for (i = 0; i < NKEYS; i++)
        if (strlen(keys[i]) == n && memcmp(k, keys[i], n) == 0)
            break;
    return i;
}

/* line - one "key=value" line (p, n; no '\n') into t, seen marks its key; 0, or -1 */
static int line(const char *p, size_t n, const char *mailbox, unsigned *seen, struct tokstate *t)
{
    const char *eq = memchr(p, '=', n), *v;
    size_t k, vn, i;
    long long num = 0;

    if (!eq)
        return -1;
    k = key_of(p, (size_t)(eq - p));
    if (k == NKEYS || (*seen & (1u << k)))
        return -1;
    *seen |= 1u << k;
    v = eq + 1;
    vn = n - (size_t)(v - p);
    for (i = 0; i < vn; i++) /* no control character, no NUL, nothing beyond ASCII */
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
            return -1;
    if (k == 0)
        return strlen(mailbox) == vn && memcmp(v, mailbox, vn) == 0 ? 0 : -1;
    if (k == 5) {
        if (vn > TOKSTATE_MAX_ERROR)
            vn = TOKSTATE_MAX_ERROR;
        memcpy(t->last_error, v, vn);
        t->last_error[vn] = '\0';
        return 0;
    }
    if (number(v, vn, &num) < 0)
        return -1;
    if (k == 1)
        t->expires = num;
    else if (k == 2)
        t->last_refresh = num;
    else if (k == 3)
        t->last_attempt = num;
    else
        t->failures = (unsigned long)num;
    return 0;
}

/* tokstate_parse - each key once, nothing else; see tokstate.h */
int tokstate_parse(const char *buf, size_t len, const char *mailbox, struct tokstate *t)
{
    const char *p = buf, *end = buf + len, *nl;
    unsigned seen = 0;

    memset(t, 0, sizeof(*t));
    if (len == 0 || len > TOKSTATE_MAX_FILE || buf[len - 1] != '\n')
        goto bad;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p)); /* found: the last byte is '\n' */
        if (line(p, (size_t)(nl - p), mailbox, &seen, t) < 0)
            goto bad;
        p = nl + 1;
    }
    if (seen == (1u << NKEYS) - 1)
        return 0;
bad:
    memset(t, 0, sizeof(*t));
    return -1;
}

