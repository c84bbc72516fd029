/* SPDX-License-Identifier: MIT */
/*
 * maillog - parse one line of Postfix's mail log, bounded, on (buf, len).
 *
 * Understands both timestamp forms Postfix writes: the traditional
 * "Nov 28 05:12:01 host postfix/smtp[123]: ..." (syslog and Postfix 3.7's
 * maillog_file) and RFC 3339 "2026-11-28T05:12:01.123456+00:00 host ...";
 * and journalctl's: -o short and short-precise (the traditional form),
 * short-iso and short-iso-precise ("2026-11-28T05:12:01+0000"), and one
 * entry of -o json a line (__REALTIME_TIMESTAMP, SYSLOG_IDENTIFIER, MESSAGE).
 * Only what `sendasctl audit` needs is picked out: the queue id, delivery
 * status lines (to=, relay=, dsn=, status=, and the reply Exchange Online
 * gave) and the "removed" line that ends a queue file's life.
 */
#ifndef SENDAS_MAILLOG_H
#define SENDAS_MAILLOG_H

#include <stddef.h>
#include <stdint.h>

enum maillog_kind {
    MAILLOG_OTHER,   /* a line this parser has no use for */
    MAILLOG_STATUS,  /* QID: to=<...>, ... status=... */
    MAILLOG_REMOVED, /* QID: removed */
};

#define MAILLOG_QID 32
#define MAILLOG_ADDR 256
#define MAILLOG_TEXT 400

struct maillog_ent {
    enum maillog_kind kind;
    int64_t time_us;            /* UTC; 0 when the line had no readable time */
    char service[32];           /* "smtp", "exo", "qmgr" (after the last '/' of the program) */
    char queue_id[MAILLOG_QID];
    char to[MAILLOG_ADDR];
    char relay[MAILLOG_ADDR];
    char dsn[16];               /* "5.7.60" */
    char status[16];            /* sent, deferred, bounced, expired, ... */
    char reply[MAILLOG_TEXT];   /* what the remote server said, else the whole explanation */
    char code[8];               /* the reply's SMTP code ("550"), "" when none */
};

/*
 * maillog_parse - parse len bytes (no NUL needed, newline optional).  year is
 * used for traditional timestamps, which carry none.  Returns the kind (also
 * in e->kind); e is filled as far as the line allows.
 */
enum maillog_kind maillog_parse(const char *line, size_t len, int year, struct maillog_ent *e);

/*
 * maillog_advice - one line naming the fix for what Exchange Online (or
 * Postfix signing in to it) answered: dsn "5.7.60" or "4.7.3", and the reply
 * text, which tells variants apart (5.2.0 SendAs / SubmissionQuota, 5.7.3
 * STARTTLS).  The message's From and mailbox are filled in (either may be ""
 * or NULL), as PowerShell single-quoted arguments in commands; entry names
 * the sendas.conf entry that permits From (e.g. "@contoso.com of mailbox
 * ..."), NULL when unknown.  Returns 1 with the line in out (cut to outlen),
 * 0 when the code is not one this module knows.
 */
int maillog_advice(const char *dsn, const char *reply, const char *from, const char *mailbox,
                   const char *entry, char *out, size_t outlen);

#endif
