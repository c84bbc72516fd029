/* SPDX-License-Identifier: MIT */
/*
 * lines - split a byte stream into bounded lines (see lines.h).
 *
 * The buffer holds at most cap + 1 bytes of a line not yet ended (the + 1 is
 * a "\r" that may turn out to end it) plus one chunk, so whether a line is cut
 * never depends on where the callback's reads happen to end.
 */
#include "lines.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* lines_init - allocate the buffer */
int lines_init(struct lines *l, size_t cap, lines_readfn *read, void *ctx)
{
    memset(l, 0, sizeof(*l));
    if (cap == 0 || cap > SIZE_MAX / 2 || read == NULL)
        return -1;
    l->read = read;
    l->ctx = ctx;
    l->cap = cap;
    l->size = cap + 1 + LINES_CHUNK;
    if ((l->buf = malloc(l->size)) == NULL)
        return -1;
    return 0;
}

/* lines_free - NULL-safe */
void lines_free(struct lines *l)
{
    if (l == NULL)
        return;
    free(l->buf);
    l->buf = NULL;
}

/* hand - give out buf[start, start + n) as a line, cut to the cap; consume through skip */
static int hand(struct lines *l, size_t n, size_t consumed, const char **line, size_t *len,
                int *flags)
{
    *line = l->buf + l->start;
    if (n > l->cap) {
        n = l->cap;
        *flags |= LINES_OVERLONG;
        l->overlong++;
    }
    *len = n;
    l->start += consumed;
    return 1;
}

/* lines_next - the next line */
int lines_next(struct lines *l, const char **line, size_t *len, int *flags)
{
    *flags = 0;
    *line = NULL;
    *len = 0;
    if (l->buf == NULL || l->error)
        return -1;
    for (;;) {
        size_t pend = l->end - l->start, n;
        const char *nl = memchr(l->buf + l->start, '\n', pend);
        ssize_t got;

        if (nl != NULL) {
            n = (size_t)(nl - (l->buf + l->start));
            if (l->skipping) { /* the tail of a line already handed out cut */
                l->skipping = 0;
                l->start += n + 1;
                continue;
            }
            return hand(l, n && nl[-1] == '\r' ? n - 1 : n, n + 1, line, len, flags);
        }
        if (l->skipping) {
            l->start = l->end;
        } else if (pend > l->cap + 1 || (pend == l->cap + 1 && l->buf[l->end - 1] != '\r')) {
            /* over the cap whatever comes next: hand out the first cap bytes, skip the rest */
            l->skipping = 1;
            return hand(l, pend, pend, line, len, flags);
        } else if (l->eof) {
            if (pend == 0)
                return 0;
            n = l->buf[l->end - 1] == '\r' ? pend - 1 : pend;
            return hand(l, n, pend, line, len, flags);
        }
        if (l->eof)
            return 0;
        if (l->start > 0) { /* keep the unfinished line at the front */
            memmove(l->buf, l->buf + l->start, l->end - l->start);
            l->end -= l->start;
            l->start = 0;
        }
        n = l->size - l->end;
        if (n > LINES_CHUNK)
            n = LINES_CHUNK;
        got = l->read(l->ctx, l->buf + l->end, n);
        if (got < 0 || (size_t)got > n) {
            l->error = 1;
            return -1;
        }
        if (got == 0)
            l->eof = 1;
        l->end += (size_t)got;
    }
}
