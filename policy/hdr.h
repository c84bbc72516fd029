/* SPDX-License-Identifier: MIT */
/*
 * hdr - header field helpers: folding and name comparison.
 */
#ifndef SENDAS_HDR_H
#define SENDAS_HDR_H

#include <stddef.h>

#include "buf.h"

#define HDR_FOLD_WIDTH 78

/*
 * hdr_fold - append value folded for a header called name, so that no line
 * (the first one counting "Name: ") exceeds HDR_FOLD_WIDTH where a break is
 * possible.  Breaks go at spaces only; the break written is "\n" followed by
 * the space that was there (the MTA turns "\n" into CRLF).  Spaces inside a
 * "quoted-string" are used only when a line would otherwise pass 998
 * characters.  value must not contain CR or LF (any that do are written as
 * spaces).
 */
int hdr_fold(struct buf *out, const char *name, const char *value);

/* hdr_name_is - case-insensitive header name comparison */
int hdr_name_is(const char *name, const char *want);

#endif
