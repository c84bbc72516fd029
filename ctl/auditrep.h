/* SPDX-License-Identifier: MIT */
/*
 * auditrep - `sendasctl audit`'s report: what sendas decided and what Exchange Online
 * answered, per original sender.
 *
 * auditrep.h (with ctl/auditrep.c) is the report's data, which every part
 * uses and which uses none of them: ctl/audit.c reads the audit logs and
 * Postfix's mail logs in time order and aggregates into it as it reads
 * (memory stays flat as logs grow); ctl/auditin.c opens the inputs (files,
 * standard input, the journal, auditin.h); ctl/auditout.c prints the result
 * as a table, JSON, CSV or one HTML page (auditout.h).  The calls go one way:
 * audit.c -> auditin.c, auditout.c, auditrep.c; auditout.c -> auditrep.c.
 */
#ifndef SENDAS_CTL_AUDITREP_H
#define SENDAS_CTL_AUDITREP_H

#include <stddef.h>
#include <stdint.h>

#define AU_MAX_LIST 8      /* distinct clients, Froms, mailboxes, reasons kept per sender */
#define AU_MAX_OUTCOMES 16 /* distinct (status, dsn, From, mailbox) kept per sender */
#define AU_MAX_SENDERS 200000 /* more distinct senders are counted under "(other)" */
#define AU_MAX_HOURS (24 * 400)

/* A small set of distinct strings with counts; more than AU_MAX_LIST are only counted. */
struct au_list {
    char *v[AU_MAX_LIST];
    unsigned long count[AU_MAX_LIST];
    size_t n;
    unsigned long more; /* occurrences of values that did not fit */
};

/* What Exchange Online (or the next hop) answered, grouped. */
struct au_outcome {
    char status[16]; /* sent, deferred, bounced, expired */
    char dsn[16];
    char code[8];
    unsigned char from, mailbox; /* indexes into the sender's froms / mailboxes, 255: unknown */
    unsigned long count;
    char *reply; /* the first reply seen */
};

struct au_sender {
    char *addr; /* original envelope sender ("" for <>) */
    unsigned long msgs, kept, rewritten, refused, counted;
    unsigned long long rcpts, bytes;
    int64_t first, last;
    struct au_list clients, froms, mailboxes, refusals; /* refusals: "action: reason" */
    struct au_outcome out[AU_MAX_OUTCOMES];
    size_t nout;
    unsigned long out_more;
    struct au_sender *next; /* hash chain */
};

struct au_hour {
    unsigned long kept, rewritten, refused;
};

struct conf;

struct au_report {
    int64_t since, until;          /* 0: open */
    unsigned long records, bad_records, maillog_lines, matched, unmatched_status;
    unsigned long maillog_bad;     /* mail log lines that are no log line at all (or too long) */
    const struct conf *conf;       /* sendas.conf when it loads: the advice quotes its entries */
    unsigned long files;
    int64_t first, last;           /* of the records counted */
    struct au_sender **tab;        /* hash of senders */
    size_t tabsize, nsenders;
    struct au_sender **sorted;     /* filled by au_sort */
    struct au_hour *hours;         /* per hour from hour0 */
    int64_t hour0;                 /* first hour (seconds / 3600), -1 before any */
    size_t nhours;
    size_t peak_qids;              /* most queue ids followed at once */
};

/* au_sort - r->sorted: senders by messages, most first */
int au_sort(struct au_report *r);

/* au_time - a report time (microseconds since the epoch) in RFC 3339 UTC to the second ("-" for 0) */
void au_time(int64_t us, char *out, size_t outlen);

#endif
