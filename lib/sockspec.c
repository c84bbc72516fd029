/* SPDX-License-Identifier: MIT */
/*
 * sockspec - socket spec parser (see sockspec.h).
 */
#include "sockspec.h"

#include <string.h>

/* sockspec_parse - split a socket spec into its kind, path or port and host */
int sockspec_parse(const char *spec, struct sockspec *out)
{
    const char *s, *at;
    unsigned long port = 0;

    memset(out, 0, sizeof(*out));
    if (spec[0] == '/' || strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
        out->kind = SOCKSPEC_UNIX;
        out->path = spec[0] == '/' ? spec : strchr(spec, ':') + 1;
        return out->path[0] == '/' ? 0 : -1;
    }
    if (strncmp(spec, "inet:", 5) == 0)
        out->kind = SOCKSPEC_INET, s = spec + 5;
    else if (strncmp(spec, "inet6:", 6) == 0)
        out->kind = SOCKSPEC_INET6, s = spec + 6;
    else
        return -1;
    /* at most five digits: no overflow to wrap a port into range */
    for (at = s; *at >= '0' && *at <= '9' && at - s < 6; at++)
        port = port * 10 + (unsigned long)(*at - '0');
    if (at == s || port < 1 || port > 65535 || (*at != '\0' && *at != '@'))
        return -1;
    out->port = (unsigned)port;
    if (*at == '@') {
        if (at[1] == '\0' || strlen(at + 1) > SOCKSPEC_MAX_HOST)
            return -1;
        memcpy(out->host, at + 1, strlen(at + 1) + 1);
    }
    return 0;
}
