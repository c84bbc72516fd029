/* SPDX-License-Identifier: MIT */
/*
 * audit - `sendasctl audit`: what sendas decided and what Exchange Online
 * answered, per original sender.
 *
 * ctl/audit.c reads the audit logs and Postfix's mail logs in time order and
 * aggregates as it reads (memory stays flat as logs grow); ctl/auditin.c opens
 * the inputs (files, standard input, the journal); ctl/auditout.c prints the
 * result as a table, JSON, CSV or one HTML page.
 */
#ifndef SENDAS_CTL_AUDIT_H
#define SENDAS_CTL_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "lines.h"

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

#define AU_LINE_MAX 65536 /* bytes of one log line; longer ones are cut and counted unreadable */

/* Where a log comes from. */
enum au_in_kind {
    AU_IN_FILE,    /* a file, plain or gzip */
    AU_IN_STDIN,   /* "-" */
    AU_IN_JOURNAL, /* journalctl's output (Postfix logging to journald only) */
};

struct au_input {
    char *path; /* AU_IN_FILE */
    enum au_in_kind kind;
    int64_t t;  /* time of its first record, for the order files are read in */
};

/* One input being read. */
struct au_stream {
    const struct au_input *in;
    gzFile gz;
    pid_t pid; /* journalctl, or -1 */
    struct lines lr;
    int failed;
    int quiet; /* a look ahead (the first timestamp): the real read reports the errors */
};

/* au_input_name - how the input is named in messages */
const char *au_input_name(const struct au_input *in);
/* au_input_check - can it be read (exists, not a directory)?  0, or -1 with err */
int au_input_check(const struct au_input *in, char *err, size_t errlen);
/* au_stream_open - start reading (journalctl: from since_us, 0 for all); 0, or -1 (said why) */
int au_stream_open(struct au_stream *st, const struct au_input *in, int64_t since_us);
/* au_stream_next - the next line (see lines_next); 1, 0 at the end, -1 read error (said why) */
int au_stream_next(struct au_stream *st, const char **line, size_t *len, int *flags);
/* au_stream_close - finish; 0, or -1 when the input failed (read error, journalctl's status) */
int au_stream_close(struct au_stream *st);

/* cmd_audit - the `sendasctl audit` command (argv[0] is "audit"); returns the exit status */
int cmd_audit(const char *conf_path, int argc, char **argv);

/* au_sort - r->sorted: senders by messages, most first */
int au_sort(struct au_report *r);

/* au_print - print in format "table", "json", "csv" or "html"; 0, or -1 on a write error */
int au_print(struct au_report *r, const char *format);

/* au_time - RFC 3339 UTC to the second ("-" for 0) */
void au_time(int64_t us, char *out, size_t outlen);

#endif
