/* SPDX-License-Identifier: MIT */
/*
 * audit - the audit log's records: one JSON object per line per decision.
 *
 * Pure: audit_format() turns a struct audit_rec into one line in a struct buf;
 * audit_parse() reads such a line back (for `sendasctl audit`).  Who opens,
 * reopens and writes the file is common/auditfile.c's business.
 *
 * Size guarantee: a formatted line (newline included) is never longer than
 * AUDIT_MAX_LINE, below PIPE_BUF (4096 on Linux), so that a single write(2) on
 * an O_APPEND descriptor puts it in the file whole even with many writers.
 * Each string is first cut to AUDIT_FIELD_MAX bytes; if the escaped line is
 * still too long, the strings are cut to AUDIT_FIELD_MIN and then the reason is
 * dropped: with every string at AUDIT_FIELD_MIN bytes even the worst escaping
 * (\u00XX, 6 bytes per input byte) fits, so the cap always holds.  Bytes that
 * are not valid UTF-8 become '?', so every line is valid JSON.
 */
#ifndef SENDAS_AUDIT_H
#define SENDAS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define AUDIT_MAX_LINE 4000 /* bytes in one line, newline included (< PIPE_BUF) */
#define AUDIT_FIELD_MAX 400 /* bytes kept of each string at first */
#define AUDIT_FIELD_MIN 24  /* bytes kept of each string when the line is still too long */

/* One decision, as a front end saw it.  Strings may be NULL (left out). */
struct audit_rec {
    int64_t time_us;           /* microseconds since the epoch (UTC) */
    const char *component;     /* "sendas-milter", "sendas-policyd" */
    const char *queue_id;      /* Postfix queue id or "NOQUEUE" */
    const char *client_addr;
    const char *client_name;
    const char *sasl_login;
    const char *env_from;      /* original envelope sender, without <> */
    const char *header_from;   /* original From addresses */
    const char *mailbox;       /* mailbox chosen, or NULL */
    const char *action;        /* kept, rewritten, rejected, tempfailed, deferred, counted */
    const char *rule;          /* the route that matched, as written */
    const char *reason;
    const char *message_id;
    const char *stage;         /* policyd: RCPT, END-OF-MESSAGE, ... */
    long rcpt_count;           /* -1: unknown */
    long long size;            /* -1: unknown */
};

/* audit_rec_init - every field unknown, time now given by the caller */
void audit_rec_init(struct audit_rec *r);

/*
 * audit_format - append r as one JSON line (with its newline) to out.
 * Returns 0, or -1 when out of memory.  out->len grows by at most AUDIT_MAX_LINE.
 */
int audit_format(const struct audit_rec *r, struct buf *out);

/* A record read back: the fields the report needs, copied and bounded. */
#define AUDIT_IN_ADDR 256
#define AUDIT_IN_TEXT 400
struct audit_in {
    int64_t time_us;                /* 0 when missing or malformed */
    char component[32];
    char queue_id[32];
    char client_addr[64];
    char env_from[AUDIT_IN_ADDR];
    char header_from[AUDIT_IN_ADDR];
    char mailbox[AUDIT_IN_ADDR];
    char action[16];
    char rule[AUDIT_IN_ADDR];
    char reason[AUDIT_IN_TEXT];
    long rcpt_count;                /* -1: unknown */
    long long size;                 /* -1: unknown */
};

struct audit_reader; /* reusable JSON parser state */

/* audit_reader_new - a parser for audit_parse; NULL when out of memory */
struct audit_reader *audit_reader_new(void);
/* audit_reader_free - NULL-safe */
void audit_reader_free(struct audit_reader *rd);

/*
 * audit_parse - read one line (len bytes, no NUL needed, newline optional).
 * Returns 0 with *out filled, or -1 when the line is not an audit record.
 */
int audit_parse(struct audit_reader *rd, const char *line, size_t len, struct audit_in *out);

/* audit_time_format - RFC 3339 UTC with microseconds: "2026-11-28T05:12:01.123456Z" */
void audit_time_format(int64_t time_us, char *out, size_t outlen);
/*
 * audit_time_parse - RFC 3339 ("2026-11-28T05:12:01Z", fraction and +hh:mm
 * offsets allowed; also +hhmm as journalctl -o short-iso writes it) or
 * "2026-11-28 05:12" / "2026-11-28"; len bytes.  Returns
 * 0 with *time_us, or -1.
 */
int audit_time_parse(const char *s, size_t len, int64_t *time_us);

#endif
