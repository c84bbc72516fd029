/* SPDX-License-Identifier: MIT */
/*
 * rfc2047 - encoded words and header text hygiene (see rfc2047.h).
 *
 * Decoding runs in two passes.  The first turns encoded words into bytes and
 * converts them to UTF-8 (UTF-8 and US-ASCII words as they are, ISO-8859-1
 * and Windows-1252 natively, anything else through iconv), copying the text
 * between words unchanged.  Adjacent words in one charset are converted as a
 * whole, because real senders split multi-byte characters across words.
 * The second pass (sanitize) reads the result as UTF-8, takes each byte of
 * an invalid sequence as Windows-1252, turns every control character into a
 * space, collapses white space and trims.  Only the second pass writes to the
 * caller's buffer, so its output is always clean.
 */
#include "rfc2047.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define CHARSET_MAX 64 /* longest charset name accepted */
#define EW_CHUNK 45    /* input bytes per encoded word: 60 base64 chars, 72 in all */
#define EW_PREFIX "=?UTF-8?B?"
#define EW_SUFFIX "?="

/* How a charset's bytes become UTF-8. */
enum cs_kind { CS_UTF8, CS_1252, CS_ICONV };

/* One parsed encoded word: pointers into the input. */
struct ew {
    const char *cs; /* charset, without an RFC 2231 language suffix */
    size_t cslen;
    int enc; /* 'B' or 'Q' */
    const char *text;
    size_t tlen;
    size_t total; /* length of the whole word */
};

/* A run of adjacent encoded words in one charset, decoded, not yet converted. */
struct run {
    int active;
    enum cs_kind kind;
    iconv_t cd;
    char cs[CHARSET_MAX + 1];
    struct buf bytes;
};

/* Windows-1252 code points for 0x80-0x9F; 0 marks the five undefined bytes. */
static const uint16_t cp1252_hi[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* lower - ASCII tolower, independent of the locale */
static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* is_wsp - white space between words, folding included */
static int is_wsp(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_cschar - may appear in a charset name (iconv option syntax "//" excluded later) */
static int is_cschar(int c)
{
    return c > 0x20 && c < 0x7f && c != '?';
}

/* scratch_cap - cap for an intermediate buffer derived from n input bytes */
static size_t scratch_cap(size_t n)
{
    if (n > (SIZE_MAX - 64) / 8)
        return SIZE_MAX / 2;
    return n * 6 + 64;
}

/* put_utf8 - append code point cp as UTF-8 */
static int put_utf8(struct buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* cp1252 - the code point of one Windows-1252 byte; control characters for undefined ones */
static uint32_t cp1252(unsigned char c)
{
    if (c >= 0x80 && c <= 0x9F)
        return cp1252_hi[c - 0x80] ? cp1252_hi[c - 0x80] : c;
    return c;
}

/*
 * utf8_next - decode one well-formed UTF-8 sequence at s/len into *cp;
 * returns its length, or 0 when the bytes there are not valid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included).
 */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c;
    size_t n, i;

    if (len == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        c = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        c = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10FFFF ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* is_control - code points that must never reach a header (they become a space) */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/* undo - forget what a failed call appended to out, so out is as the caller left it */
static int undo(struct buf *out, size_t len, int rc)
{
    if (rc != BUF_OK && out->len > len) {
        out->len = len;
        out->data[len] = '\0';
    }
    return rc;
}

/* sanitize_into - append s/len as clean UTF-8: see the file comment */
static int sanitize_into(struct buf *out, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n, start = out->len;
    int space = 0, rc;
    uint32_t cp;

    while (i < len) {
        n = utf8_next(u + i, len - i, &cp);
        if (n == 0) {
            cp = cp1252(u[i]);
            n = 1;
        }
        i += n;
        if (is_control(cp) || cp == ' ') {
            space = 1;
            continue;
        }
        if (space && out->len > start && (rc = buf_putc(out, ' ')) != BUF_OK)
            return undo(out, start, rc);
        space = 0;
        if ((rc = put_utf8(out, cp)) != BUF_OK)
            return undo(out, start, rc);
    }
    return BUF_OK;
}

/* rfc2047_sanitize - append s/len as sanitized UTF-8, no decoding */
int rfc2047_sanitize(const char *s, size_t len, struct buf *out)
{
    return sanitize_into(out, s, len);
}

/* rfc2047_is_ascii - non-zero when s/len is printable US-ASCII and space only */
int rfc2047_is_ascii(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return 0;
    return 1;
}

/*
 * ew_parse - recognise "=?charset?e?text?=" at s/len.  Returns 1 and fills
 * *w for a well-formed word, -1 when "=?charset?" starts one that is
 * malformed, 0 when s does not start an encoded word at all.  allow_space
 * accepts spaces inside the text, as sloppy senders write them.
 */
static int ew_parse(const char *s, size_t len, struct ew *w, int allow_space)
{
    size_t i = 2, cs0 = 2, c;

    if (len < 2 || s[0] != '=' || s[1] != '?')
        return 0;
    while (i < len && is_cschar((unsigned char)s[i]) && i - cs0 <= CHARSET_MAX)
        i++;
    if (i == cs0 || i >= len || s[i] != '?' || i - cs0 > CHARSET_MAX)
        return 0;
    w->cs = s + cs0;
    w->cslen = i - cs0;
    /* RFC 2231 language suffix: "=?UTF-8*en?Q?...?=" */
    for (c = 0; c < w->cslen; c++)
        if (w->cs[c] == '*')
            w->cslen = c;
    i++;
    if (i + 1 >= len || s[i + 1] != '?')
        return -1;
    if (s[i] == 'B' || s[i] == 'b')
        w->enc = 'B';
    else if (s[i] == 'Q' || s[i] == 'q')
        w->enc = 'Q';
    else
        return -1;
    i += 2;
    w->text = s + i;
    while (i < len && s[i] != '?') {
        c = (unsigned char)s[i];
        if (!((c > 0x20 && c < 0x7f) || (c == ' ' && allow_space)))
            return -1;
        i++;
    }
    if (i + 1 >= len || s[i + 1] != '=' || w->cslen == 0)
        return -1;
    /* RFC 2047 2: a charset is a token, without especials (a '.' is tolerated) */
    for (c = 0; c < w->cslen; c++)
        if (strchr("()<>@,;:\"/[]=", w->cs[c]) != NULL)
            return -1;
    w->tlen = (size_t)(s + i - w->text);
    w->total = i + 2;
    return 1;
}

/* rfc2047_ew_len - length of a well-formed encoded word (no spaces inside) at s, or 0 */
size_t rfc2047_ew_len(const char *s, size_t len)
{
    struct ew w;

    return ew_parse(s, len, &w, 0) == 1 ? w.total : 0;
}

/* hexval - value of a hex digit, -1 if it is not one */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* b64val - value of a base64 character, -1 if it is not one */
static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * ew_bytes - decode the text of word w into bytes appended to out.  Returns
 * BUF_OK, a BUF_E* code, or 1 when the text is malformed (the caller keeps
 * the word as it was written).  Missing base64 padding is forgiven.
 */
static int ew_bytes(const struct ew *w, struct buf *out)
{
    const char *t = w->text;
    size_t i, n = w->tlen;
    unsigned acc = 0;
    int bits = 0, v, h, l, rc, pad = 0;
    char c;

    if (w->enc == 'Q') {
        for (i = 0; i < n; i++) {
            c = t[i];
            if (c == '_') {
                c = ' ';
            } else if (c == '=') {
                if (i + 2 >= n)
                    return 1;
                h = hexval((unsigned char)t[i + 1]);
                l = hexval((unsigned char)t[i + 2]);
                if (h < 0 || l < 0)
                    return 1;
                c = (char)(h * 16 + l);
                i += 2;
            }
            if ((rc = buf_putc(out, c)) != BUF_OK)
                return rc;
        }
        return BUF_OK;
    }
    for (i = 0; i < n; i++) {
        if (t[i] == '=') {
            pad++;
            continue;
        }
        if (pad || (v = b64val((unsigned char)t[i])) < 0)
            return 1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if ((rc = buf_putc(out, (int)((acc >> bits) & 0xFF))) != BUF_OK)
                return rc;
        }
    }
    /* one leftover character carries only 6 bits: not base64 */
    if (bits == 6)
        return 1;
    return BUF_OK;
}

/* cs_is - case-insensitive comparison of charset name cs with want */
static int cs_is(const char *cs, const char *want)
{
    while (*cs && *want && lower((unsigned char)*cs) == lower((unsigned char)*want)) {
        cs++;
        want++;
    }
    return *cs == '\0' && *want == '\0';
}

/*
 * cs_open - decide how charset cs (NUL-terminated) converts to UTF-8.
 * Returns 0 and sets *kind (and *cd for iconv), or -1 when the charset is
 * unknown.  Names with characters outside [A-Za-z0-9._:+-] never reach
 * iconv, so "//TRANSLIT"-style options and paths are not interpreted.
 */
static int cs_open(const char *cs, enum cs_kind *kind, iconv_t *cd)
{
    static const char *const utf8[] = {"utf-8", "utf8", "us-ascii", "ascii", "us", NULL};
    static const char *const w1252[] = {"iso-8859-1",   "iso8859-1", "iso_8859-1", "latin1", "l1",
                                        "windows-1252", "cp1252",    "x-cp1252",   NULL};
    const char *p;
    int i;

    for (i = 0; utf8[i]; i++)
        if (cs_is(cs, utf8[i])) {
            *kind = CS_UTF8;
            return 0;
        }
    for (i = 0; w1252[i]; i++)
        if (cs_is(cs, w1252[i])) {
            *kind = CS_1252;
            return 0;
        }
    for (p = cs; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.' || *p == ':' || *p == '+'))
            return -1;
    *cd = iconv_open("UTF-8", cs);
    if (*cd == (iconv_t)-1)
        return -1;
    *kind = CS_ICONV;
    return 0;
}

/*
 * iconv_into - convert in/n with cd, appending UTF-8 to out in bounded
 * chunks.  Invalid or truncated input becomes U+FFFD and sets *bad.
 */
static int iconv_into(iconv_t cd, const char *in, size_t n, struct buf *out, int *bad)
{
    char obuf[256], *ip = (char *)(uintptr_t)in, *op;
    size_t il = n, ol, r;
    int rc, err;

    iconv(cd, NULL, NULL, NULL, NULL);
    while (il > 0) {
        op = obuf;
        ol = sizeof(obuf);
        r = iconv(cd, &ip, &il, &op, &ol);
        err = errno;
        if ((rc = buf_append(out, obuf, sizeof(obuf) - ol)) != BUF_OK)
            return rc;
        if (r != (size_t)-1)
            break;
        if (err == E2BIG && ol < sizeof(obuf))
            continue;
        *bad = 1;
        if ((rc = put_utf8(out, 0xFFFD)) != BUF_OK)
            return rc;
        if (err != EILSEQ)
            break; /* truncated sequence at the end, or no progress possible */
        ip++;
        il--;
    }
    /* stateful charsets (ISO-2022-JP) may owe a final shift sequence */
    op = obuf;
    ol = sizeof(obuf);
    iconv(cd, NULL, NULL, &op, &ol);
    return buf_append(out, obuf, sizeof(obuf) - ol);
}

#define ESC 0x1b
#define SO 0x0e /* shift out: into the designated G1 set (ISO-2022-KR/-CN) */
#define SI 0x0f /* shift in: back to ASCII */

/*
 * utf8_valid - s/len is well-formed UTF-8 (control characters allowed).
 * Pure ASCII is UTF-8 too.
 */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0, n;
    uint32_t cp;

    while (i < len) {
        if ((n = utf8_next(s + i, len - i, &cp)) == 0)
            return 0;
        i += n;
    }
    return 1;
}

/*
 * mostly_utf8 - most 8-bit bytes of s/len belong to well-formed UTF-8
 * sequences: UTF-8 text with a stray byte (Cyrillic "\xd0\x9f" would also
 * pass for Shift_JIS), not Shift_JIS, whose lead bytes 0x81-0x9F cannot
 * start a UTF-8 sequence.
 */
static int mostly_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0, hi = 0, ok = 0, n;
    uint32_t cp;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
        } else if ((n = utf8_next(s + i, len - i, &cp)) != 0) {
            hi += n;
            ok += n;
            i += n;
        } else {
            hi++;
            i++;
        }
    }
    return ok * 2 > hi;
}

/* rfc2047_is_utf8 - valid UTF-8 without control characters */
int rfc2047_is_utf8(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t cp;

    while (i < len) {
        if ((n = utf8_next(u + i, len - i, &cp)) == 0 || is_control(cp))
            return 0;
        i += n;
    }
    return 1;
}

/*
 * iso2022_esc - length of an ISO-2022-JP family escape sequence at s/len,
 * or 0.  Known: ESC $ @, ESC $ B, ESC $ A, ESC $ ( C|D|O|P|Q, ESC ( B|J|I.
 * *ascii is set for ESC ( B and ESC ( J (back to ASCII or JIS Roman, which
 * ends a run); *jp3 for the sets that only ISO-2022-JP-3 knows.
 */
static size_t iso2022_esc(const unsigned char *s, size_t len, int *ascii, int *jp3)
{
    *ascii = *jp3 = 0;
    if (len < 3 || s[0] != ESC)
        return 0;
    if (s[1] == '$' && (s[2] == '@' || s[2] == 'B' || s[2] == 'A'))
        return 3;
    if (s[1] == '$' && s[2] == '(' && len >= 4 && s[3] && strchr("CDOPQ", s[3]) != NULL) {
        *jp3 = s[3] == 'O' || s[3] == 'P' || s[3] == 'Q';
        return 4;
    }
    if (s[1] == '(' && (s[2] == 'B' || s[2] == 'J')) {
        *ascii = 1;
        return 3;
    }
    if (s[1] == '(' && s[2] == 'I') {
        *jp3 = 1;
        return 3;
    }
    return 0;
}

/*
 * iso2022_run - end of the escape run that starts at i: escape sequences and
 * the printable 7-bit bytes they shift, up to and including the sequence
 * back to ASCII.  Anything else (white space, a control, 8-bit) ends an
 * unterminated run.
 */
static size_t iso2022_run(const unsigned char *s, size_t len, size_t i, int *jp3)
{
    int ascii, j3;
    size_t n;

    *jp3 = 0;
    while (i < len) {
        if (s[i] == ESC) {
            if ((n = iso2022_esc(s + i, len - i, &ascii, &j3)) == 0)
                break;
            *jp3 |= j3;
            i += n;
            if (ascii)
                break;
            continue;
        }
        if (s[i] < 0x21 || s[i] > 0x7e)
            break;
        i++;
    }
    return i;
}

/*
 * iso2022_g1 - length of an ISO-2022-KR or -CN designation at s/len (ESC $ )
 * C, ESC $ ) A, ESC $ ) G, ESC $ * H), or 0; *cs names the iconv charset.
 * These designate a double-byte set once; SO and SI then shift into it and
 * back, so the text between holds '@', '\\' and '.' as character halves.
 */
static size_t iso2022_g1(const unsigned char *s, size_t len, const char **cs)
{
    if (len < 4 || s[0] != ESC || s[1] != '$')
        return 0;
    if (s[2] == ')' && s[3] == 'C') {
        *cs = "ISO-2022-KR";
        return 4;
    }
    if ((s[2] == ')' && (s[3] == 'A' || s[3] == 'G')) || (s[2] == '*' && s[3] == 'H')) {
        *cs = "ISO-2022-CN-EXT";
        return 4;
    }
    return 0;
}

/*
 * so_run - end of the shifted run that starts at the SO at i: up to and
 * including the SI that ends it; without one (a truncated header), up to
 * the first byte that is no character half, so that a following
 * "<address>" stays ASCII.
 */
static size_t so_run(const unsigned char *s, size_t len, size_t i)
{
    size_t k;

    for (k = i + 1; k < len && s[k] >= 0x20 && s[k] <= 0x7e; k++)
        ;
    if (k < len && s[k] == SI)
        return k + 1;
    for (k = i + 1; k < len && s[k] > 0x20 && s[k] <= 0x7e; k++)
        ;
    return k;
}

/*
 * sjis_likely - s/len reads as Shift_JIS: every 8-bit byte belongs to a
 * character (lead 0x81-0x9F or 0xE0-0xFC with a trail byte, or half-width
 * katakana 0xA1-0xDF), and there is evidence Latin-1 text does not give:
 * two double-byte characters in a row, or one of two 8-bit bytes with a lead
 * in 0x81-0x9F (C1 controls in Latin-1).  "M\xfcller" or "O\x92Brien" stay
 * Windows-1252.
 */
static int sjis_likely(const unsigned char *s, size_t len)
{
    size_t i = 0;
    int prev = 0, evidence = 0;
    unsigned char c, t;

    while (i < len) {
        c = s[i];
        if (c < 0x80 || (c >= 0xA1 && c <= 0xDF)) {
            prev = 0;
            i++;
            continue;
        }
        if (!((c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC)) || i + 1 >= len)
            return 0;
        t = s[i + 1];
        if (!((t >= 0x40 && t <= 0x7E) || (t >= 0x80 && t <= 0xFC)))
            return 0;
        if (prev || (c <= 0x9F && t >= 0x80))
            evidence = 1;
        prev = 1;
        i += 2;
    }
    return evidence;
}

/* convert_cs - append s/n converted from charset cs to UTF-8; *bad on any failure */
static int convert_cs(const char *cs, const char *s, size_t n, struct buf *out, int *bad)
{
    iconv_t cd = iconv_open("UTF-8", cs);
    int rc;

    *bad = 0;
    if (cd == (iconv_t)-1) {
        *bad = 1;
        return put_utf8(out, 0xFFFD);
    }
    rc = iconv_into(cd, s, n, out, bad);
    iconv_close(cd);
    return rc;
}

/*
 * convert_g1 - append the SO run s/n, converted from ISO-2022-KR or -CN to
 * UTF-8 after the designation desig that preceded it; *bad on any failure.
 */
static int convert_g1(const char *cs, const char *desig, const char *s, size_t n, struct buf *out,
                      int *bad)
{
    struct buf tmp;
    int rc;

    buf_init(&tmp, n + 4);
    if ((rc = buf_append(&tmp, desig, 4)) == BUF_OK && (rc = buf_append(&tmp, s, n)) == BUF_OK)
        rc = convert_cs(cs, tmp.data, tmp.len, out, bad);
    buf_free(&tmp);
    return rc;
}

/*
 * cjk_charset - the iconv name of a declared charset whose raw 8-bit text is
 * double-byte CJK (EUC, GBK, Big5, Shift_JIS), or NULL.  Only names from
 * this table ever reach iconv_open.
 */
static const char *cjk_charset(const char *declared)
{
    static const char *const names[][2] = {
        {"euc-jp", "EUC-JP"},   {"x-euc-jp", "EUC-JP"},      {"euc-kr", "CP949"},
        {"ks_c_5601-1987", "CP949"}, {"cp949", "CP949"},     {"gb2312", "GBK"},
        {"euc-cn", "GBK"},      {"gbk", "GBK"},              {"cp936", "GBK"},
        {"gb18030", "GB18030"}, {"big5", "CP950"},           {"cp950", "CP950"},
        {"big5-hkscs", "BIG5-HKSCS"}, {"shift_jis", "CP932"}, {"shift-jis", "CP932"},
        {"windows-31j", "CP932"}, {"cp932", "CP932"},        {"x-sjis", "CP932"},
    };
    size_t i;

    for (i = 0; declared && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(declared, names[i][0]) == 0)
            return names[i][1];
    return NULL;
}

/* rfc2047_legacy - rfc2047_legacy_cs without a declared charset */
int rfc2047_legacy(const char *s, size_t len, struct buf *out, unsigned *defects)
{
    return rfc2047_legacy_cs(s, len, NULL, out, defects);
}

/*
 * rfc2047_legacy_cs - raw ISO-2022-JP/-KR/-CN runs and Shift_JIS text to
 * UTF-8, the rest as it is; raw 8-bit text in the message's declared CJK
 * charset first, when all of it converts
 */
int rfc2047_legacy_cs(const char *s, size_t len, const char *charset, struct buf *out,
                      unsigned *defects)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, j, n, start = out->len;
    int rc = BUF_OK, bad = 0, ascii, jp3;
    unsigned d = 0;
    const char *g1 = NULL, *g1cs = NULL, *cs;

    if ((cs = cjk_charset(charset)) != NULL && !utf8_valid(u, len) && !mostly_utf8(u, len)) {
        /* EUC, GBK and Big5 look alike byte for byte: only a declaration tells them apart */
        rc = convert_cs(cs, s, len, out, &bad);
        if (rc == BUF_OK && !bad) {
            d |= RFC2047_D_LEGACY;
            goto done;
        }
        if (out->len > start) {
            out->len = start; /* not in that charset after all (Latin-1 mislabelled) */
            out->data[start] = '\0';
        }
        if (rc != BUF_OK)
            return rc;
        bad = 0;
    }
    if (!utf8_valid(u, len) && !mostly_utf8(u, len) && sjis_likely(u, len)) {
        /* CP932: Microsoft's Shift_JIS, which keeps 0x5C and 0x7E as ASCII */
        rc = convert_cs("CP932", s, len, out, &bad);
        if (rc == BUF_OK && !bad) {
            d |= RFC2047_D_LEGACY;
            goto done;
        }
        if (out->len > start) {
            /* not Shift_JIS after all: forget the attempt */
            out->len = start;
            out->data[start] = '\0';
        }
        if (rc != BUF_OK)
            return rc;
    }
    while (i < len && rc == BUF_OK) {
        if (u[i] == ESC && (n = iso2022_g1(u + i, len - i, &g1cs)) != 0) {
            /* remembered for the SO runs that follow; iconv wants it before each */
            g1 = s + i;
            i += n;
            continue;
        }
        if (u[i] == SO && g1 != NULL) {
            j = so_run(u, len, i);
            rc = convert_g1(g1cs, g1, s + i, j - i, out, &bad);
            d |= RFC2047_D_LEGACY | (bad ? RFC2047_D_BAD : 0);
            i = j;
            continue;
        }
        if (u[i] == ESC && iso2022_esc(u + i, len - i, &ascii, &jp3) != 0) {
            j = iso2022_run(u, len, i, &jp3);
            rc = convert_cs(jp3 ? "ISO-2022-JP-3" : "ISO-2022-JP-2", s + i, j - i, out, &bad);
            d |= RFC2047_D_LEGACY | (bad ? RFC2047_D_BAD : 0);
            i = j;
            continue;
        }
        for (j = i + 1; j < len && u[j] != ESC && !(u[j] == SO && g1 != NULL); j++)
            ;
        rc = buf_append(out, s + i, j - i);
        i = j;
    }
done:
    if (rc == BUF_OK && defects)
        *defects |= d;
    return undo(out, start, rc);
}

/* run_flush - convert a pending run of encoded words to UTF-8 appended to out */
static int run_flush(struct run *r, struct buf *out, unsigned *defects)
{
    size_t i;
    int rc = BUF_OK, bad = 0;

    if (!r->active)
        return BUF_OK;
    switch (r->kind) {
    case CS_UTF8:
        /* invalid UTF-8 is handled (as Windows-1252) by the sanitizer */
        rc = buf_append(out, r->bytes.data, r->bytes.len);
        break;
    case CS_1252:
        for (i = 0; i < r->bytes.len && rc == BUF_OK; i++)
            rc = put_utf8(out, cp1252((unsigned char)r->bytes.data[i]));
        break;
    case CS_ICONV:
        rc = iconv_into(r->cd, r->bytes.data, r->bytes.len, out, &bad);
        iconv_close(r->cd);
        break;
    }
    if (bad)
        *defects |= RFC2047_D_BAD;
    r->active = 0;
    buf_reset(&r->bytes);
    return rc;
}

/*
 * run_add - add the bytes of one decoded word in charset cs to the run,
 * flushing a run of another charset first.  Returns BUF_*, or 1 when the
 * charset is unknown (nothing added).
 */
static int run_add(struct run *r, const struct ew *w, const struct buf *bytes, struct buf *tmp,
                   unsigned *defects)
{
    char cs[CHARSET_MAX + 1];
    enum cs_kind kind;
    iconv_t cd = (iconv_t)-1;
    int rc;

    memcpy(cs, w->cs, w->cslen);
    cs[w->cslen] = '\0';
    if (!r->active || !cs_is(cs, r->cs)) {
        if (cs_open(cs, &kind, &cd) != 0)
            return 1;
        if ((rc = run_flush(r, tmp, defects)) != BUF_OK) {
            if (kind == CS_ICONV)
                iconv_close(cd);
            return rc;
        }
        r->active = 1;
        r->kind = kind;
        r->cd = cd;
        memcpy(r->cs, cs, w->cslen + 1);
    }
    return buf_append(&r->bytes, bytes->data, bytes->len);
}

/* rfc2047_decode - decode phrase or unstructured text into sanitized UTF-8 */
int rfc2047_decode(const char *s, size_t len, struct buf *out, unsigned *defects)
{
    struct buf tmp, word, leg;
    struct run r;
    struct ew w;
    size_t i = 0, j, k;
    int rc = BUF_OK, last_ew = 0, ws = 0, e;
    unsigned d = 0;

    /* raw Japanese text first: its bytes are no encoded words and no white space */
    buf_init(&leg, scratch_cap(len));
    if ((rc = rfc2047_legacy(s, len, &leg, &d)) != BUF_OK) {
        buf_free(&leg);
        return rc;
    }
    s = buf_cstr(&leg);
    len = leg.len;
    buf_init(&tmp, scratch_cap(len));
    buf_init(&word, len + 1);
    memset(&r, 0, sizeof(r));
    buf_init(&r.bytes, len + 1);
    while (i < len) {
        if (is_wsp((unsigned char)s[i])) {
            while (i < len && is_wsp((unsigned char)s[i]))
                i++;
            ws = 1;
            continue;
        }
        if (s[i] == '=' && (e = ew_parse(s + i, len - i, &w, 1)) != 0) {
            if (e == 1) {
                buf_reset(&word);
                rc = ew_bytes(&w, &word);
                if (rc == BUF_OK) {
                    if (!last_ew) {
                        /* literal text came before: the run is already flushed */
                        if (ws && (rc = buf_putc(&tmp, ' ')) != BUF_OK)
                            goto done;
                    }
                    rc = run_add(&r, &w, &word, &tmp, &d);
                    if (rc == BUF_OK) {
                        d |= RFC2047_D_ENCWORD;
                        last_ew = 1;
                        ws = 0;
                        i += w.total;
                        continue;
                    }
                }
                if (rc < 0)
                    goto done;
                /* malformed text or unknown charset: the word stays as written */
                d |= RFC2047_D_BAD;
                j = i + w.total;
            } else {
                d |= RFC2047_D_BAD;
                j = i + 1;
            }
        } else {
            /* literal text up to white space or a possible encoded word */
            j = i + 1;
            while (j < len && !is_wsp((unsigned char)s[j]) &&
                   !(s[j] == '=' && j + 1 < len && s[j + 1] == '?'))
                j++;
        }
        if ((rc = run_flush(&r, &tmp, &d)) != BUF_OK)
            goto done;
        if (ws && (rc = buf_putc(&tmp, ' ')) != BUF_OK)
            goto done;
        for (k = i; k < j; k++)
            if ((unsigned char)s[k] >= 0x80)
                d |= RFC2047_D_8BIT;
        if ((rc = buf_append(&tmp, s + i, j - i)) != BUF_OK)
            goto done;
        ws = 0;
        last_ew = 0;
        i = j;
        continue;
    }
    if ((rc = run_flush(&r, &tmp, &d)) != BUF_OK)
        goto done;
    rc = sanitize_into(out, tmp.data ? tmp.data : "", tmp.len);
done:
    if (r.active && r.kind == CS_ICONV)
        iconv_close(r.cd);
    buf_free(&r.bytes);
    buf_free(&word);
    buf_free(&tmp);
    buf_free(&leg);
    if (defects)
        *defects |= d;
    return rc;
}

/* b64_put - append the base64 form of n bytes (n <= EW_CHUNK) */
static int b64_put(struct buf *out, const unsigned char *p, size_t n)
{
    char q[4 * ((EW_CHUNK + 2) / 3)];
    size_t i, k = 0;
    unsigned v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        q[k++] = b64chars[(v >> 18) & 63];
        q[k++] = b64chars[(v >> 12) & 63];
        q[k++] = b64chars[(v >> 6) & 63];
        q[k++] = b64chars[v & 63];
    }
    if (n - i == 1) {
        v = (unsigned)p[i] << 16;
        q[k++] = b64chars[(v >> 18) & 63];
        q[k++] = b64chars[(v >> 12) & 63];
        q[k++] = '=';
        q[k++] = '=';
    } else if (n - i == 2) {
        v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        q[k++] = b64chars[(v >> 18) & 63];
        q[k++] = b64chars[(v >> 12) & 63];
        q[k++] = b64chars[(v >> 6) & 63];
        q[k++] = '=';
    }
    return buf_append(out, q, k);
}

/* rfc2047_encode - append UTF-8 text as "=?UTF-8?B?...?=" words separated by spaces */
int rfc2047_encode(const char *s, size_t len, struct buf *out)
{
    struct buf t;
    const unsigned char *u;
    size_t i = 0, j, k, start = out->len;
    int rc;

    /* sanitizing first guarantees valid UTF-8 without control characters */
    buf_init(&t, scratch_cap(len));
    if ((rc = sanitize_into(&t, s, len)) != BUF_OK)
        goto done;
    u = (const unsigned char *)t.data;
    while (i < t.len) {
        j = t.len - i > EW_CHUNK ? i + EW_CHUNK : t.len;
        if (j < t.len) {
            /*
             * Prefer to end a word just after a space: some readers
             * (Thunderbird, Apple Mail, Python's email.policy.default) show
             * a space between adjacent encoded words, and a break inside a
             * word would show as one.  Else never split a UTF-8 sequence.
             */
            for (k = j; k > i && u[k - 1] != ' '; k--)
                ;
            if (k > i + 1)
                j = k;
            else
                while (j > i && (u[j] & 0xC0) == 0x80)
                    j--;
        }
        if (i > 0 && (rc = buf_putc(out, ' ')) != BUF_OK)
            goto done;
        if ((rc = buf_puts(out, EW_PREFIX)) != BUF_OK ||
            (rc = b64_put(out, u + i, j - i)) != BUF_OK ||
            (rc = buf_puts(out, EW_SUFFIX)) != BUF_OK)
            goto done;
        i = j;
    }
done:
    buf_free(&t);
    return undo(out, start, rc);
}
