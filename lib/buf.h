/* SPDX-License-Identifier: MIT */
/*
 * buf - a growable byte buffer with a hard cap.
 *
 * Every buffer that grows in sendas is a struct buf with a maximum size:
 * appending past the cap fails (BUF_ECAP) instead of growing without bound,
 * so the caller can turn oversized input into a temporary failure.  The data
 * is always NUL-terminated for convenience, but lengths are authoritative.
 */
#ifndef SENDAS_BUF_H
#define SENDAS_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_OK 0
#define BUF_ENOMEM (-1) /* allocation failed */
#define BUF_ECAP (-2)   /* the append would exceed the buffer's cap */

struct buf {
    char *data;  /* NUL-terminated; NULL until the first append */
    size_t len;  /* bytes used, excluding the NUL */
    size_t size; /* bytes allocated */
    size_t max;  /* cap on len */
};

/* buf_init - prepare an empty buffer that may hold at most max bytes */
void buf_init(struct buf *b, size_t max);
/* buf_free - release the storage; the buffer may be reused after buf_init */
void buf_free(struct buf *b);
/* buf_reset - forget the contents but keep the storage */
void buf_reset(struct buf *b);
/* buf_append - append n bytes; returns BUF_OK, BUF_ENOMEM or BUF_ECAP */
int buf_append(struct buf *b, const void *p, size_t n);
/* buf_puts - append a NUL-terminated string */
int buf_puts(struct buf *b, const char *s);
/* buf_putc - append one byte */
int buf_putc(struct buf *b, int c);
/* buf_printf - append formatted text */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_cstr - the contents as a C string ("" when empty) */
const char *buf_cstr(const struct buf *b);
/* buf_steal - hand the storage to the caller (malloc'd, NUL-terminated) and reset */
char *buf_steal(struct buf *b);

#endif
