/* SPDX-License-Identifier: MIT */
/*
 * rfc2047 - encoded words and header text hygiene.
 *
 * Decoding turns a display name or unstructured text into sanitized UTF-8:
 * encoded words are decoded (UTF-8, US-ASCII, ISO-8859-x, Windows-125x and
 * whatever iconv knows), raw 8-bit text that is not valid UTF-8 is read as
 * Windows-1252, and every control character (CR, LF, NUL, TAB, ...) becomes a
 * space, runs of white space collapse to one and the ends are trimmed.  So no
 * decoded text can ever inject a header line.
 *
 * Encoding turns UTF-8 into what a header may carry: "B" encoded words of at
 * most 75 characters, never splitting a UTF-8 sequence, separated by spaces
 * so that hdr_fold can break between them.
 */
#ifndef SENDAS_RFC2047_H
#define SENDAS_RFC2047_H

#include <stddef.h>

#include "buf.h"

#define RFC2047_D_8BIT 0x1    /* raw 8-bit bytes were present */
#define RFC2047_D_ENCWORD 0x2 /* at least one encoded word was decoded */
#define RFC2047_D_BAD 0x4     /* malformed encoded word or unknown charset (kept as text) */
#define RFC2047_D_LEGACY 0x8  /* raw ISO-2022-JP or Shift_JIS text was converted to UTF-8 */

/*
 * rfc2047_decode - decode phrase or unstructured text s/len (already without
 * quotes and comments delimiters) into sanitized UTF-8 appended to out.
 * *defects gets RFC2047_D_* bits or'ed in (defects may be NULL).  Returns
 * BUF_OK or BUF_E*; on error nothing is appended (this holds for
 * rfc2047_encode and rfc2047_sanitize too).
 */
int rfc2047_decode(const char *s, size_t len, struct buf *out, unsigned *defects);

/*
 * rfc2047_encode - append UTF-8 text s/len encoded as one or more
 * "=?UTF-8?B?...?=" words separated by single spaces.
 */
int rfc2047_encode(const char *s, size_t len, struct buf *out);

/* rfc2047_is_ascii - non-zero when s/len is printable US-ASCII and space only */
int rfc2047_is_ascii(const char *s, size_t len);

/* rfc2047_sanitize - append s/len as sanitized UTF-8 (see above), no decoding */
int rfc2047_sanitize(const char *s, size_t len, struct buf *out);

/*
 * rfc2047_legacy - append s/len to out with raw CJK legacy text made
 * UTF-8, everything else byte for byte.  Raw (not encoded-word) Japanese
 * mail still comes in two forms whose bytes a header parser misreads:
 * ISO-2022-JP escape runs ("ESC $ B ... ESC ( B", 7-bit, whose character
 * pairs include '<', '"', '(' and '@') and Shift_JIS (8-bit, trail bytes
 * include '@' and '\\'); Korean and Chinese mail the same way as ISO-2022-KR
 * and -CN ("ESC $ ) C" once, then "SO ... SI" runs).  An escape or SO run is
 * converted wherever it is; Shift_JIS
 * only when the whole text is not UTF-8 and reads as Shift_JIS with some
 * certainty (see the source), so that Latin-1 stays Latin-1.  Sets
 * RFC2047_D_LEGACY in *defects (may be NULL) when it converted something,
 * RFC2047_D_BAD when a run did not convert cleanly (U+FFFD in its place).
 * The output of a conversion never holds ESC, CR, LF or NUL from the run.
 */
int rfc2047_legacy(const char *s, size_t len, struct buf *out, unsigned *defects);
/*
 * rfc2047_legacy_cs - the same, where the message declares charset (its
 * Content-Type's charset parameter, or NULL): raw 8-bit text that is not
 * UTF-8 is read in it first when it is a double-byte CJK charset (EUC-JP,
 * EUC-KR, GB2312/GBK, Big5, Shift_JIS), which bytes alone cannot tell apart,
 * and only when all of it converts.
 */
int rfc2047_legacy_cs(const char *s, size_t len, const char *charset, struct buf *out,
                      unsigned *defects);

/* rfc2047_is_utf8 - non-zero when s/len is valid UTF-8 without control characters */
int rfc2047_is_utf8(const char *s, size_t len);

/*
 * rfc2047_ew_len - length of the well-formed encoded word ("=?cs?e?text?=",
 * no white space inside) that starts s/len, or 0 when s does not start one.
 * Lets a tokenizer keep an encoded word in one piece.
 */
size_t rfc2047_ew_len(const char *s, size_t len);

#endif
