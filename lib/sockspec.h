/* SPDX-License-Identifier: MIT */
/*
 * sockspec - the one parser of the daemons' socket syntax (libmilter's):
 * unix:PATH, local:PATH, a bare /PATH, inet:PORT[@HOST], inet6:PORT[@HOST].
 * A PATH is absolute, a PORT is 1 to 65535 in decimal, a HOST (name or
 * address) at most SOCKSPEC_MAX_HOST bytes.  Used by sendas.conf's check,
 * common/daemon and sendas-policyd, so what the file accepts is what the
 * daemons can open.
 */
#ifndef SENDAS_SOCKSPEC_H
#define SENDAS_SOCKSPEC_H

#define SOCKSPEC_MAX_HOST 255

enum sockspec_kind { SOCKSPEC_UNIX, SOCKSPEC_INET, SOCKSPEC_INET6 };

struct sockspec {
    enum sockspec_kind kind;
    const char *path;   /* SOCKSPEC_UNIX: points into the spec */
    unsigned port;      /* SOCKSPEC_INET*: 1..65535 */
    char host[SOCKSPEC_MAX_HOST + 1]; /* SOCKSPEC_INET*: "" when no @HOST was given */
};

/* sockspec_parse - 0 and *out filled, or -1 when spec is not of the syntax above */
int sockspec_parse(const char *spec, struct sockspec *out);

/*
 * sockspec_parse_hostport - a client's address in the syntax of Redis's own
 * tools: unix:/PATH, HOST:PORT or [V6ADDR]:PORT (sendas.conf redis_address).
 * On success kind is SOCKSPEC_UNIX (path into spec) or SOCKSPEC_INET (host
 * without brackets, port 1..65535); -1 when spec is not of that syntax.
 */
int sockspec_parse_hostport(const char *spec, struct sockspec *out);

#endif
