/* SPDX-License-Identifier: MIT */
/*
 * audit - `sendasctl audit`: what sendas decided and what Exchange Online
 * answered, per original sender.
 *
 * ctl/audit.c reads the audit logs and Postfix's mail logs in time order and
 * aggregates as it reads (memory stays flat as logs grow); ctl/audit_out.c
 * prints the result as a table, JSON, CSV or one HTML page.
 */
#ifndef SENDAS_CTL_AUDIT_H
#define SENDAS_CTL_AUDIT_H

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

struct au_report {
    int64_t since, until;          /* 0: open */
    unsigned long records, bad_records, maillog_lines, matched, unmatched_status;
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

/* cmd_audit - the `sendasctl audit` command (argv[0] is "audit"); returns the exit status */
int cmd_audit(const char *conf_path, int argc, char **argv);

/* au_sort - r->sorted: senders by messages, most first */
int au_sort(struct au_report *r);

/* au_print - print in format "table", "json", "csv" or "html"; 0, or -1 on a write error */
int au_print(struct au_report *r, const char *format);

/* au_time - RFC 3339 UTC to the second ("-" for 0) */
void au_time(int64_t us, char *out, size_t outlen);

#endif
