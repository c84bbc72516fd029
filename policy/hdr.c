/* SPDX-License-Identifier: MIT */
/*
 * hdr - header field helpers: folding and name comparison (see hdr.h).
 *
 * Folding is greedy: a value is cut into pieces that each start at a run of
 * white space, and a piece that would push the line past HDR_FOLD_WIDTH goes
 * to a new line ("\n" then the white space it started with).  A piece longer
 * than a whole line stays unbroken: there is nowhere to break it.  White
 * space inside a quoted-string is not used unless the line would otherwise
 * pass 998 characters: a fold there is legal, but some parsers misread it.
 */
#include "hdr.h"

#include <string.h>

#define HDR_LINE_MAX 998 /* RFC 5322 2.1.1: the hard limit, CRLF excluded */

/* is_wsp - a place where a header may be folded */
static int is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* put_piece - append value bytes, turning any stray CR or LF into a space */
static int put_piece(struct buf *out, const char *p, size_t n)
{
    size_t i, k;
    int rc;

    for (i = 0; i < n; i = k) {
        for (k = i; k < n && p[k] != '\r' && p[k] != '\n'; k++)
            ;
        if ((rc = buf_append(out, p + i, k - i)) != BUF_OK)
            return rc;
        if (k < n) {
            if ((rc = buf_putc(out, ' ')) != BUF_OK)
                return rc;
            k++;
        }
    }
    return BUF_OK;
}

/* quote_state - whether p/n leaves a quoted-string open, starting from state q */
static int quote_state(const char *p, size_t n, int q)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (q && p[i] == '\\')
            i++;
        else if (p[i] == '"')
            q = !q;
    }
    return q;
}

/* piece_end - end of the piece at i: its white space, then the text up to the next white space */
static size_t piece_end(const char *v, size_t len, size_t i)
{
    while (i < len && is_wsp((unsigned char)v[i]))
        i++;
    while (i < len && !is_wsp((unsigned char)v[i]))
        i++;
    return i;
}

/* text_after - v/len holds something other than white space from i on */
static int text_after(const char *v, size_t len, size_t i)
{
    while (i < len && is_wsp((unsigned char)v[i]))
        i++;
    return i < len;
}

/*
 * hdr_fold - append value folded at spaces for a header called name.
 * The value is cut into segments that end where a fold is allowed (white
 * space outside a quoted-string, followed by text); a segment that does not
 * fit on the current line starts a new one.  Inside a segment the pieces are
 * folded only to keep a line within HDR_LINE_MAX.
 */
int hdr_fold(struct buf *out, const char *name, const char *value)
{
    size_t len, col, i, j, k, p;
    int rc, q = 0, qs;

    if (value == NULL)
        return BUF_OK;
    len = strlen(value);
    col = (name ? strlen(name) : 0) + 2; /* "Name: " */
    for (i = 0; i < len; i = j, q = qs) {
        j = i;
        qs = q;
        do {
            k = piece_end(value, len, j);
            qs = quote_state(value + j, k - j, qs);
            j = k;
        } while (j < len && (qs || !text_after(value, len, j)));
        if (i > 0 && col + (j - i) > HDR_FOLD_WIDTH) {
            if ((rc = buf_putc(out, '\n')) != BUF_OK)
                return rc;
            col = 0;
        }
        for (p = i; p < j; p = k) {
            k = piece_end(value, len, p);
            if (p > i && col + (k - p) > HDR_LINE_MAX && is_wsp((unsigned char)value[p]) &&
                !is_wsp((unsigned char)value[k - 1])) {
                if ((rc = buf_putc(out, '\n')) != BUF_OK)
                    return rc;
                col = 0;
            }
            if ((rc = put_piece(out, value + p, k - p)) != BUF_OK)
                return rc;
            col += k - p;
        }
    }
    return BUF_OK;
}

/* hdr_name_is - case-insensitive (ASCII) header name comparison; NULL never matches */
int hdr_name_is(const char *name, const char *want)
{
    unsigned char a, b;

    if (name == NULL || want == NULL)
        return 0;
    for (;; name++, want++) {
        a = (unsigned char)*name;
        b = (unsigned char)*want;
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + ('a' - 'A'));
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b + ('a' - 'A'));
        if (a != b)
            return 0;
        if (a == '\0')
            return 1;
    }
}
