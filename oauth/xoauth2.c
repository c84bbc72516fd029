/* SPDX-License-Identifier: MIT */
/*
 * xoauth2 - XOAUTH2 initial response, base64 and token files; see xoauth2.h.
 * Pure C, no I/O: the SASL plugin and sendas-tokend do the reading and writing.
 */
#include <stdio.h>
#include <string.h>

#include "xoauth2.h"

/* printable - non-zero when every byte is visible ASCII (addresses) */
static int printable(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return n > 0;
}

/* xoauth2_response - the client's initial response */
size_t xoauth2_response(const char *user, size_t ulen, const char *token, size_t tlen, char *out,
                        size_t outlen)
{
    static const char a[] = "user=", b[] = "\001auth=Bearer ", c[] = "\001\001";
    size_t need = sizeof(a) - 1 + ulen + sizeof(b) - 1 + tlen + sizeof(c) - 1, n = 0;

    if (!printable(user, ulen) || !xoauth2_valid_token(token, tlen) || ulen > XOAUTH2_MAX_USER ||
        need > outlen)
        return 0;
    memcpy(out + n, a, sizeof(a) - 1), n += sizeof(a) - 1;
    memcpy(out + n, user, ulen), n += ulen;
    memcpy(out + n, b, sizeof(b) - 1), n += sizeof(b) - 1;
    memcpy(out + n, token, tlen), n += tlen;
    memcpy(out + n, c, sizeof(c) - 1), n += sizeof(c) - 1;
    return n;
}

/* xoauth2_base64 - base64 or base64url of in */
size_t xoauth2_base64(const unsigned char *in, size_t len, int url, char *out, size_t outlen)
{
    const char *alpha = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                            : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, n = 0, need = (len + 2) / 3 * 4;

    if (need + 1 > outlen || len > ((size_t)-1) / 2)
        return 0;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

        out[n++] = alpha[v >> 18 & 63];
        out[n++] = alpha[v >> 12 & 63];
        out[n++] = alpha[v >> 6 & 63];
        out[n++] = alpha[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);

        out[n++] = alpha[v >> 18 & 63];
        out[n++] = alpha[v >> 12 & 63];
        if (i + 1 < len)
            out[n++] = alpha[v >> 6 & 63];
        else if (!url)
            out[n++] = '=';
        if (!url)
            out[n++] = '=';
    }
    out[n] = '\0';
    return n;
}

/* b64token_char - one of RFC 6750's b64token characters before the '=' padding */
static int b64token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* xoauth2_valid_token - RFC 6750 b64token, bounded */
int xoauth2_valid_token(const char *token, size_t len)
{
    size_t i = 0;

    if (len == 0 || len > XOAUTH2_MAX_TOKEN)
        return 0;
    while (i < len && b64token_char(token[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < len && token[i] == '=')
        i++;
    return i == len;
}

/* xoauth2_token_check - "expires EPOCH\ntoken TOKEN\n", or why not */
const char *xoauth2_token_check(const char *buf, size_t len, time_t *expires,
                                const char **token, size_t *tlen)
{
    static const char e[] = "expires ", t[] = "token ";
    long long v = 0;
    size_t i = sizeof(e) - 1, start;

    if (len > XOAUTH2_MAX_FILE)
        return "larger than any token file";
    if (len < sizeof(e) || memcmp(buf, e, sizeof(e) - 1) != 0)
        return "does not start with \"expires \"";
    if (i >= len || buf[i] < '0' || buf[i] > '9')
        return "no expiry time";
    for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (v > 1000000000000LL)
            return "expiry time out of range";
        v = v * 10 + (buf[i] - '0');
    }
    if (i >= len || buf[i++] != '\n')
        return "expiry time not followed by a newline";
    if (len - i < sizeof(t) - 1 || memcmp(buf + i, t, sizeof(t) - 1) != 0)
        return "no \"token \" line";
    start = i += sizeof(t) - 1;
    while (i < len && buf[i] != '\n')
        i++;
    if (i >= len)
        return "no final newline (cut short?)";
    if (!xoauth2_valid_token(buf + start, i - start))
        return "the token is empty, too long or has characters a bearer token cannot have";
    *expires = (time_t)v;
    *token = buf + start;
    *tlen = i - start;
    return NULL;
}

/* xoauth2_token_parse - xoauth2_token_check, 0 or -1 */
int xoauth2_token_parse(const char *buf, size_t len, time_t *expires, const char **token,
                        size_t *tlen)
{
    return xoauth2_token_check(buf, len, expires, token, tlen) ? -1 : 0;
}

/* xoauth2_token_format - a token file's contents */
size_t xoauth2_token_format(time_t expires, const char *token, size_t tlen, char *out,
                            size_t outlen)
{
    int n;

    if (!xoauth2_valid_token(token, tlen))
        return 0;
    n = snprintf(out, outlen, "expires %lld\ntoken %.*s\n", (long long)expires, (int)tlen, token);
    if (n < 0 || (size_t)n >= outlen)
        return 0;
    return (size_t)n;
}

/* xoauth2_valid_mailbox - a mailbox name that is safe as a file name */
int xoauth2_valid_mailbox(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');

    if (n == 0 || n > XOAUTH2_MAX_USER || !printable(s, n) || !at || at == s || !at[1] ||
        strchr(s, '/') || s[0] == '.')
        return 0;
    return 1;
}
