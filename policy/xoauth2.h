/* SPDX-License-Identifier: MIT */
/*
 * xoauth2 - the pieces of SASL XOAUTH2 that need no network: the client's
 * initial response, base64, and the token files sendas-tokend writes and the
 * SASL plugin reads.
 *
 * Token file (one per mailbox, written atomically by sendas-tokend):
 *     "expires EPOCH\ntoken TOKEN\n"
 * State file (MAILBOX.state beside it, no secret in it): key=value lines.
 */
#ifndef SENDAS_XOAUTH2_H
#define SENDAS_XOAUTH2_H

#include <stddef.h>
#include <time.h>

#define XOAUTH2_MAX_TOKEN 16384   /* bytes of one access token */
#define XOAUTH2_MAX_USER 320      /* bytes of one mailbox address */
#define XOAUTH2_MAX_FILE (XOAUTH2_MAX_TOKEN + 128)

/*
 * xoauth2_response - write "user=USER\1auth=Bearer TOKEN\1\1" to out (not
 * NUL-terminated).  Returns its length, or 0 when out is too small or user or
 * token is empty or holds a control character.
 */
size_t xoauth2_response(const char *user, size_t ulen, const char *token, size_t tlen, char *out,
                        size_t outlen);

/*
 * xoauth2_base64 - standard base64 (url=0) or unpadded base64url (url=1) of
 * in into out with a NUL.  Returns the length, or 0 when out is too small.
 */
size_t xoauth2_base64(const unsigned char *in, size_t len, int url, char *out, size_t outlen);

/*
 * xoauth2_token_parse - parse a token file's contents (buf, len).  On success
 * returns 0, sets *expires and points *token and *tlen into buf; -1 when malformed.
 */
int xoauth2_token_parse(const char *buf, size_t len, time_t *expires, const char **token,
                        size_t *tlen);

/*
 * xoauth2_token_format - the token file's contents into out with a NUL.
 * Returns the length, or 0 when it does not fit or the token is not printable.
 */
size_t xoauth2_token_format(time_t expires, const char *token, size_t tlen, char *out,
                            size_t outlen);

/* xoauth2_valid_mailbox - non-zero when s can name a token file: local@domain, no '/' */
int xoauth2_valid_mailbox(const char *s);

#endif
