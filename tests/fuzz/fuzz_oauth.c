/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for what sendas-tokend takes from outside: the token
 * endpoint's answer (oauth_parse_response, JSON from the network) and a token
 * file (xoauth2_token_check, also read by the SASL plugin).  The input is
 * used as both, in a buffer of exactly its size (no NUL).  It aborts when
 * an accepted answer's token is not an RFC 6750 bearer token of at most
 * XOAUTH2_MAX_TOKEN bytes, when an error text is not one line of printable
 * ASCII, or when a token file is accepted whose token is not a bearer token.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Ioauth -I. \
 *       tests/fuzz/fuzz_oauth.c oauth/oauth.c oauth/jwt.c oauth/secfile.c \
 *       oauth/xoauth2.c lib/buf.c -lcurl -ljson-c -lcrypto -o fuzz_oauth
 *   mkdir -p /tmp/oauth-corpus
 *   ./fuzz_oauth -max_total_time=60 /tmp/oauth-corpus tests/fuzz/corpus/oauth
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"
#include "xoauth2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* clean - one line of printable ASCII, NUL-terminated within n */
static int clean(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n && s[i]; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return 0;
    return i < n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct oauth_result r;
    char *copy = malloc(size ? size : 1);
    const char *tok;
    size_t tlen;
    time_t exp;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size); /* exactly size bytes: ASan sees any read past the end */
    memset(&r, 0, sizeof(r));
    if (oauth_parse_response(copy, size, 200, &r) == 0) {
        if (!r.access_token || !xoauth2_valid_token(r.access_token, strlen(r.access_token)) ||
            r.expires_in <= 0)
            abort();
    } else if (r.access_token || !r.error[0] || !clean(r.error, sizeof(r.error)) ||
               !clean(r.description, sizeof(r.description)) ||
               !clean(r.aadsts, sizeof(r.aadsts))) {
        abort();
    }
    oauth_result_clear(&r);
    if (xoauth2_token_check(copy, size, &exp, &tok, &tlen) == NULL &&
        (tok < copy || tok + tlen > copy + size || !xoauth2_valid_token(tok, tlen)))
        abort();
    free(copy);
    return 0;
}
