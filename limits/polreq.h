/* SPDX-License-Identifier: MIT */
/*
 * polreq - parser of Postfix policy delegation requests (SMTPD_POLICY_README).
 *
 * A request is "name=value" lines, each ending in LF, closed by an empty
 * line.  The parser takes (buf, len), never trusts NUL termination, and
 * caps the line length, the number of attributes and the request size.  It
 * keeps copies of the attributes sendas-policyd needs; the others are
 * checked for syntax and skipped.  Control characters in kept values become
 * '?', so that nothing taken from a request can break a reply or a log line.
 */
#ifndef SENDAS_POLREQ_H
#define SENDAS_POLREQ_H

#include <stddef.h>

#define POLREQ_MAX_LINE 4096     /* bytes of one line, without its LF */
#define POLREQ_MAX_ATTRS 128     /* attribute lines in one request (Postfix 3.7 sends ~35) */
#define POLREQ_MAX_REQUEST 32768 /* bytes of one request, through the empty line */
#define POLREQ_MAX_NAME 64       /* bytes of an attribute name */

enum polreq_stage {
    POLREQ_OTHER, /* a state sendas-policyd does not act on */
    POLREQ_CONNECT,
    POLREQ_HELO, /* HELO or EHLO */
    POLREQ_MAIL,
    POLREQ_RCPT,
    POLREQ_DATA,
    POLREQ_EOM, /* END-OF-MESSAGE */
    POLREQ_VRFY,
    POLREQ_ETRN,
};

/* One parsed request.  String members are NUL-terminated, "" when absent. */
struct polreq {
    enum polreq_stage stage;
    const char *protocol_state;
    const char *queue_id;
    const char *sender;   /* envelope sender without <>; "" for the null sender */
    const char *recipient;
    const char *client_address;
    const char *client_name;
    const char *sasl_username;
    const char *instance; /* the same for every request of one message */
    unsigned long long recipient_count; /* non-zero only at DATA and END-OF-MESSAGE */
    unsigned long long size;            /* SIZE= at MAIL/RCPT, the real size at END-OF-MESSAGE */
    size_t nattrs;
    char arena[POLREQ_MAX_REQUEST]; /* storage of the kept values */
    size_t arena_used;
};

#define POLREQ_OK 0    /* a whole request was parsed; *used bytes were consumed */
#define POLREQ_MORE 1  /* no complete request yet, nothing wrong so far */
#define POLREQ_BAD (-1) /* malformed or over a cap: err says why; close the connection */

/*
 * polreq_parse - parse the first request in buf[0..len).  Returns POLREQ_OK
 * with r filled and *used set to the request's length (the empty line
 * included), POLREQ_MORE, or POLREQ_BAD with a message in err.
 */
int polreq_parse(struct polreq *r, const char *buf, size_t len, size_t *used, char *err,
                 size_t errlen);

/* polreq_stage_name - "RCPT", "END-OF-MESSAGE", ... for logs */
const char *polreq_stage_name(enum polreq_stage s);

#endif
