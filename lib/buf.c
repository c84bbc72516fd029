/* SPDX-License-Identifier: MIT */
/*
 * buf - growable byte buffer with a hard cap (see buf.h).
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* buf_init - prepare an empty buffer that may hold at most max bytes */
void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->max = max;
}

/* buf_free - release the storage */
void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->size = 0;
}

/* buf_reset - forget the contents but keep the storage */
void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* buf_grow - make room for n more bytes plus the NUL */
static int buf_grow(struct buf *b, size_t n)
{
    size_t need, nsize;
    char *p;

    if (n > b->max || b->len > b->max - n)
        return BUF_ECAP;
    need = b->len + n + 1;
    if (need <= b->size)
        return BUF_OK;
    nsize = b->size ? b->size : 64;
    while (nsize < need)
        nsize = nsize > (size_t)-1 / 2 ? need : nsize * 2;
    if ((p = realloc(b->data, nsize)) == NULL)
        return BUF_ENOMEM;
    b->data = p;
    b->size = nsize;
    return BUF_OK;
}

/* buf_append - append n bytes */
int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc;

    if ((rc = buf_grow(b, n)) != BUF_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BUF_OK;
}

/* buf_puts - append a NUL-terminated string */
int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* buf_putc - append one byte */
int buf_putc(struct buf *b, int c)
{
    char ch = (char)c;

    return buf_append(b, &ch, 1);
}

/* buf_printf - append formatted text */
int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BUF_ENOMEM;
    if ((rc = buf_grow(b, (size_t)n)) != BUF_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return BUF_OK;
}

/* buf_cstr - the contents as a C string */
const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

/* buf_steal - hand the storage to the caller and reset */
char *buf_steal(struct buf *b)
{
    char *p = b->data;

    if (p == NULL)
        p = strdup("");
    b->data = NULL;
    b->len = b->size = 0;
    return p;
}
