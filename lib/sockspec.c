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

/* sockspec_parse_hostport - unix:/PATH, HOST:PORT, [V6]:PORT */
int sockspec_parse_hostport(const char *spec, struct sockspec *out)
{
    const char *host = spec, *colon, *q;
    size_t hl;
    unsigned long port = 0;

    memset(out, 0, sizeof(*out));
    if (strncmp(spec, "unix:", 5) == 0) {
        out->kind = SOCKSPEC_UNIX;
        out->path = spec + 5;
        return out->path[0] == '/' && out->path[1] ? 0 : -1;
    }
    out->kind = SOCKSPEC_INET;
    if (spec[0] == '[') {
        if ((q = strchr(spec, ']')) == NULL || q[1] != ':')
            return -1;
        host = spec + 1;
        hl = (size_t)(q - host);
        colon = q + 1;
    } else {
        if ((colon = strrchr(spec, ':')) == NULL || memchr(spec, ':', (size_t)(colon - spec)))
            return -1; /* a v6 address needs its brackets */
        hl = (size_t)(colon - spec);
    }
    if (hl == 0 || hl > SOCKSPEC_MAX_HOST)
        return -1;
    for (q = host; q < host + hl; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '[' || *q == ']' || *q == '/' ||
            (*q == ':' && spec[0] != '['))
            return -1;
    for (q = colon + 1; *q; q++) {
        if (*q < '0' || *q > '9' || port > 65535)
            return -1;
        port = port * 10 + (unsigned long)(*q - '0');
    }
    if (q == colon + 1 || port == 0 || port > 65535)
        return -1;
    memcpy(out->host, host, hl);
    out->host[hl] = '\0';
    out->port = (unsigned)port;
    return 0;
}
