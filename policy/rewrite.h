/* SPDX-License-Identifier: MIT */
/*
 * rewrite - plan what to change so that Exchange Online accepts a message.
 *
 * The planner is given the envelope, the client and the few headers that
 * matter (From, Sender, Reply-To, DKIM-Signature, in order) and returns a
 * plan: an action, the new envelope sender if any, and header operations in
 * the order they must be applied.  It changes nothing itself: sendas-milter
 * applies the plan with libmilter calls, `sendasctl test` prints it.  Header
 * indexes are 1-based per header name, counted case-insensitively, as the
 * milter protocol's SMFIR_CHGHEADER expects.
 */
#ifndef SENDAS_REWRITE_H
#define SENDAS_REWRITE_H

#include <stddef.h>

#include "conf.h"
#include "route.h"

#define RW_CHARSET_MAX 40 /* longest charset name kept from Content-Type */
#define RW_MAX_HEADERS 64 /* headers of each interesting name kept per message */

/* One header of interest as received. */
struct rw_header {
    char *value;  /* raw value after the colon, folded as received; NULL if over the cap */
    size_t len;
    int oversize; /* the value exceeded max_header_bytes and was not kept */
    int odd_name; /* the name was not spelled canonically ("from", "FROM") */
};

struct rw_headers {
    struct rw_header v[RW_MAX_HEADERS];
    size_t n;
    size_t seen; /* how many were in the message (may exceed n) */
};

/* A message as the front end saw it. */
struct rw_msg {
    const char *queue_id;   /* for logs; may be NULL */
    const char *env_sender; /* MAIL FROM argument as given ("<a@b>", "<>") */
    int smtputf8;           /* MAIL FROM carried SMTPUTF8 */
    int non_smtp;           /* submitted without SMTP (sendmail(1)/pickup): never refuse */
    const char *sasl_login; /* {auth_authen} */
    const char *client_addr;/* textual IP, or NULL */
    const char *trace_name; /* the configured trace header (conf->trace_header), or NULL */
    struct rw_headers from, sender, reply_to, dkim;
    struct rw_headers trace; /* trace headers already in the message (anyone can write one) */
    char charset[RW_CHARSET_MAX + 1]; /* the first Content-Type's charset parameter, or "" */
    int ct_seen;                      /* a Content-Type was seen (only the first counts) */
};

enum rw_action {
    RW_KEEP,     /* nothing to change */
    RW_REWRITE,  /* apply the plan */
    RW_REJECT,   /* refuse permanently (5.7.1) */
    RW_TEMPFAIL, /* refuse temporarily (4.7.1 / 4.3.0) */
};

enum rw_op_kind {
    RW_OP_CHANGE, /* replace header name[index] with value */
    RW_OP_DELETE, /* delete header name[index] */
    RW_OP_ADD,    /* append a new header */
};

struct rw_op {
    enum rw_op_kind kind;
    const char *name; /* static or conf-owned */
    int index;        /* CHANGE/DELETE: 1-based among headers of that name */
    char *value;      /* CHANGE/ADD: folded value ("\n " breaks), no leading space */
};

/*
 * Header operations a plan may hold.  Deleting surplus headers takes one
 * each, and a message may carry hundreds of From headers: far more than the
 * RW_MAX_HEADERS whose values are kept.  Past this cap the message is
 * refused permanently (SMTP), never deferred.
 */
#define RW_MAX_OPS 65536

struct rw_plan {
    enum rw_action action;
    const struct conf_route *route;     /* NULL when no route matched */
    const struct conf_mailbox *mailbox; /* NULL unless routed to a mailbox */
    char *new_env_sender;               /* "<mailbox>" when the envelope changes, else NULL */
    struct rw_op *ops;                  /* nops operations, in the order to apply them */
    size_t nops;
    size_t aops;                        /* operations allocated */
    int over_cap;                       /* the plan needed more than RW_MAX_OPS operations */
    char *orig_from;    /* the original From addresses (or envelope sender), for logs */
    char *orig_env;     /* the original envelope sender address, for logs */
    char reason[512];   /* why: for logs and `sendasctl test` */
    const char *rcode;  /* REJECT/TEMPFAIL: SMTP reply code, e.g. "550" */
    const char *xcode;  /* enhanced status code, e.g. "5.7.1" */
    char text[512];     /* reply text naming the sender and why */
};

/* rw_msg_init - an empty message */
void rw_msg_init(struct rw_msg *m);
/* rw_msg_reset - free collected headers and empty the message (envelope pointers are not owned) */
void rw_msg_reset(struct rw_msg *m);

/*
 * rw_msg_add_header - keep a copy of a header the planner needs (From,
 * Sender, Reply-To, DKIM-Signature and m->trace_name; others are ignored).  Values longer than
 * max bytes are not kept but remembered as oversize, so that the planner can
 * refuse to guess.  Returns 0, or -1 when out of memory.
 */
int rw_msg_add_header(struct rw_msg *m, const char *name, const char *value, size_t len,
                      size_t max);

/*
 * rw_plan_envelope - decide at MAIL FROM: RW_REJECT/RW_TEMPFAIL when a route
 * already refuses the sender, else RW_KEEP (decided again at end of message).
 * Returns 0, or -1 on internal error (out of memory).
 */
int rw_plan_envelope(const struct conf *c, const struct rw_msg *m, struct rw_plan *p);

/*
 * rw_plan_message - the full decision at end of message.  Returns 0 with
 * *p filled, or -1 on internal error (then *p holds RW_TEMPFAIL, or RW_KEEP
 * for non-SMTP mail, with a reason).  Free with rw_plan_free.
 */
int rw_plan_message(const struct conf *c, const struct rw_msg *m, struct rw_plan *p);

/* rw_plan_free - release a plan's strings; NULL-safe */
void rw_plan_free(struct rw_plan *p);

/* rw_action_name - "kept", "rewritten", "rejected", "tempfailed" */
const char *rw_action_name(enum rw_action a);

/*
 * rw_plan_outcome - what logs and audit records call the plan: "kept" also
 * when only the envelope sender changes (routine: it selects the mailbox's
 * credentials), so that "rewritten" always means the headers changed.
 */
const char *rw_plan_outcome(const struct rw_plan *p);

#endif
