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

/* bytes of one access token: Entra's app-only tokens for Exchange Online are JWTs of about
 * 1.5-3 KB; twice the largest seen leaves room for claims, and refuses a runaway answer */
#define XOAUTH2_MAX_TOKEN 8192
#define XOAUTH2_MAX_TOKEN_TEXT "8192"
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
 * xoauth2_valid_token - non-zero when (token, len) can be a bearer token: RFC
 * 6750's b64token (ALPHA DIGIT - . _ ~ + / then any '='; JWTs are three such
 * parts joined by dots), 1 to XOAUTH2_MAX_TOKEN bytes.  Nothing else is ever
 * written to a token file or sent to the server.
 */
int xoauth2_valid_token(const char *token, size_t len);

/*
 * xoauth2_token_check - parse a token file's contents (buf, len).  On success
 * returns NULL, sets *expires and points *token and *tlen into buf; otherwise
 * returns what is wrong ("no final newline", ...), a static string.
 */
const char *xoauth2_token_check(const char *buf, size_t len, time_t *expires,
                                const char **token, size_t *tlen);

/* xoauth2_token_parse - xoauth2_token_check as 0 (good) or -1 (malformed) */
int xoauth2_token_parse(const char *buf, size_t len, time_t *expires, const char **token,
                        size_t *tlen);

/*
 * xoauth2_token_format - the token file's contents into out with a NUL.
 * Returns the length, or 0 when it does not fit or is not a valid token.
 */
size_t xoauth2_token_format(time_t expires, const char *token, size_t tlen, char *out,
                            size_t outlen);

/* xoauth2_valid_mailbox - non-zero when s can name a token file: local@domain, no '/' */
int xoauth2_valid_mailbox(const char *s);

#endif
