/* SPDX-License-Identifier: MIT */
/*
 * fuzz_feed - the fuzz input as a stream for the line splitter (policy/lines),
 * in reads of varying size, so that a line end or the cap falls anywhere in a
 * read; and the splitter's contract checked on it.  Included by the harnesses that read logs; header-only because each
 * harness builds with one clang command.
 */
#ifndef SENDAS_FUZZ_FEED_H
#define SENDAS_FUZZ_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lines.h"

struct feed {
    const uint8_t *data;
    size_t size, pos;
};

/* feed_read - the lines callback: the next bytes, a byte of the input picking how many */
static ssize_t feed_read(void *ctx, char *buf, size_t n)
{
    struct feed *f = ctx;
    size_t k = f->size - f->pos, step = f->size ? 1 + f->data[f->pos % f->size] * 64u : 1;

    if (k > step)
        k = step;
    if (k > n)
        k = n;
    memcpy(buf, f->data + f->pos, k);
    f->pos += k;
    return (ssize_t)k;
}

/*
 * feed_split - split the input into lines of at most cap bytes and abort when
 * the splitter breaks its contract (a line over the cap, with a newline, out
 * of its buffer, more bytes out than in, an error from a reader that has
 * none); each(line, len, overlong, ctx) gets the first 64 lines.
 */
static void feed_split(const uint8_t *data, size_t size, size_t cap,
                       void (*each)(const char *, size_t, int, void *), void *ctx)
{
    struct feed f = {data, size, 0};
    struct lines l;
    const char *line;
    size_t len, total = 0, n = 0;
    int flags;

    if (lines_init(&l, cap, feed_read, &f) < 0)
        abort();
    while (lines_next(&l, &line, &len, &flags) == 1) {
        if (len > cap || memchr(line, '\n', len) != NULL || line < l.buf ||
            line + len > l.buf + l.size)
            abort();
        total += len;
        if (n++ < 64)
            each(line, len, flags & LINES_OVERLONG, ctx);
    }
    if (total > size || l.error)
        abort();
    lines_free(&l);
}

#endif
