/* SPDX-License-Identifier: MIT */
/*
 * lines - split a byte stream into lines, bounded, for the log readers of
 * `sendasctl audit` (audit log, Postfix's mail log, journalctl output).
 *
 * The stream comes from a read callback (gzread, read(2) on a pipe), so the
 * module stays pure and fuzzable.  Contract of lines_next():
 *  - a line is handed over as (pointer, length) without its "\n" and without
 *    one "\r" before it; it is valid until the next call;
 *  - NUL bytes are kept inside the line (the parsers take (buf, len));
 *  - empty lines are returned (length 0); the last line needs no "\n";
 *  - a line longer than the cap is returned cut to cap bytes with
 *    LINES_OVERLONG set, and the rest of it, up to its "\n", is skipped;
 *    a line of exactly cap bytes is whole.
 * Memory: one buffer of cap + LINES_CHUNK bytes, allocated at init.
 */
#ifndef SENDAS_LINES_H
#define SENDAS_LINES_H

#include <stddef.h>
#include <sys/types.h>

#define LINES_CHUNK 65536 /* bytes asked of the callback at most per call */

/* lines_readfn - read up to n bytes into buf: the count, 0 at the end, -1 on error */
typedef ssize_t lines_readfn(void *ctx, char *buf, size_t n);

struct lines {
    lines_readfn *read;
    void *ctx;
    char *buf;
    size_t size, cap, start, end;
    int eof, error, skipping;
    unsigned long overlong; /* lines cut so far */
};

enum { LINES_OVERLONG = 1 };

/* lines_init - a reader of lines of at most cap bytes; 0, or -1 when out of memory */
int lines_init(struct lines *l, size_t cap, lines_readfn *read, void *ctx);

/*
 * lines_next - the next line in *line / *len, flags (LINES_OVERLONG) in *flags.
 * Returns 1 for a line, 0 at the end of the stream, -1 when the callback failed
 * (l->error is set; lines already returned stay good).
 */
int lines_next(struct lines *l, const char **line, size_t *len, int *flags);

/* lines_free - release the buffer (NULL-safe, the struct may be reused after lines_init) */
void lines_free(struct lines *l);

#endif
