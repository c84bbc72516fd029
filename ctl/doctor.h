/* SPDX-License-Identifier: MIT */
/*
 * doctor - `sendasctl doctor`: a list of checks over the whole relay chain,
 * each OK / WARN / FAIL with one line of what was found and, for WARN and
 * FAIL, the exact fix.  It changes nothing and never sends mail.
 *
 * ctl/doctor.c owns the report (collect, print as a table or JSON, exit
 * status) and the command line; the checks live in their own files, one
 * entry point each:
 *   doctor_local  (ctl/doctor_local.c)  sendas.conf, the daemons' sockets, the
 *                                       token files, Postfix through postconf/postmap
 *   doctor_remote (ctl/doctor_remote.c) STARTTLS and AUTH against the relayhost
 *   doctor_dns    (ctl/doctor_dns.c)    SPF and MX of the sender domains
 * Only ctl/ includes this header.
 */
#ifndef SENDAS_CTL_DOCTOR_H
#define SENDAS_CTL_DOCTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

enum doc_status { DOC_OK, DOC_WARN, DOC_FAIL };

enum doc_format { DOC_TABLE, DOC_JSON };

/* What the command line asked for. */
struct doc_opts {
    const char *conf_path;   /* sendas.conf */
    const char *postfix_dir; /* --postfix-dir DIR: postconf -c DIR; NULL: the default instance */
    int remote;              /* --remote */
    int dns;                 /* --dns */
    const char *dns_server;  /* --dns-server IP[:PORT]; NULL: the system's resolvers */
    const char *relayhost;   /* --relayhost HOST[:PORT]; NULL: Postfix's relayhost */
    const char *ca_file;     /* --ca-file FILE; NULL: Postfix's smtp_tls_CAfile, else the system's */
    unsigned timeout;        /* --timeout SECONDS for each network step (default 10) */
    enum doc_format format;  /* --format table|json */
};

#define DOC_MAX_CHECKS 1024
#define DOC_MAX_TEXT 1024 /* bytes of one "found" or "fix" (longer is cut, marked "...") */

struct doc_check {
    enum doc_status status;
    char area[16];  /* "config", "daemons", "postfix", "tokens", "remote", "dns" */
    char name[64];  /* short name of the check: "milter socket", "sasl map relay@contoso.com" */
    char found[DOC_MAX_TEXT];
    char fix[DOC_MAX_TEXT]; /* empty for OK */
};

struct doc_report {
    struct doc_check *checks;
    size_t n, cap;
    size_t dropped; /* past DOC_MAX_CHECKS */
};

/*
 * doc_add - record one check.  fix is the exact remedy (NULL or "" for OK;
 * required for WARN and FAIL); found is printf-formatted.  Control
 * characters in either are replaced, so a hostile answer cannot forge lines.
 */
void doc_add(struct doc_report *r, enum doc_status st, const char *area, const char *name,
             const char *fix, const char *found_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* doc_exit_status - 0 all OK, 1 a warning, 2 a failure */
int doc_exit_status(const struct doc_report *r);

/* doc_print_table - one block a check, lines of at most 100 columns */
void doc_print_table(const struct doc_report *r, FILE *out);

/* doc_print_json - {"checks":[...],"summary":{...},"exit":N} */
void doc_print_json(const struct doc_report *r, FILE *out);

/* doc_report_free - release the checks */
void doc_report_free(struct doc_report *r);

/*
 * doc_run - run argv (no shell; argv[0] looked up in PATH) with stdin and
 * stderr on /dev/null; its stdout into out (cut to outlen - 1, the rest
 * read and dropped), killed after timeout seconds.  Returns the exit
 * status, or -1 (could not run, killed, timed out: out is then empty).
 */
int doc_run(char *const argv[], char *out, size_t outlen, unsigned timeout);

/* doc_wait_fd - poll fd for events until deadline (clock_mono_ms); 0 ready, -1 timed out
 * (errno ETIMEDOUT) or failed (errno) */
int doc_wait_fd(int fd, short events, int64_t deadline);

/* doc_postconf_args - `postconf [-c DIR] A1 [A2]` into out (no trailing newline); 0, or -1 */
int doc_postconf_args(const struct doc_opts *o, const char *a1, const char *a2, char *out,
                      size_t outlen);

/* doc_postconf - `postconf [-c DIR] -xh PARAM` into out: a main.cf value with its
 * $parameters expanded, as Postfix's programs use it ("" when unset); 0, or -1 */
int doc_postconf(const struct doc_opts *o, const char *param, char *out, size_t outlen);

/*
 * doc_postmap_query - `postmap [-c DIR] -q KEY MAP` (MAP as in main.cf,
 * "hash:/etc/postfix/sasl_passwd"): 1 found (value in out), 0 not found,
 * -1 error (map missing or unreadable, postmap absent).
 */
int doc_postmap_query(const struct doc_opts *o, const char *map, const char *key, char *out,
                      size_t outlen);

/* The checks.  c is the loaded configuration, or NULL when it did not load
 * (the config check has then already failed; the others do what they can). */
void doctor_local(struct doc_report *r, const struct conf *c, const struct doc_opts *o);
void doctor_remote(struct doc_report *r, const struct conf *c, const struct doc_opts *o);
void doctor_dns(struct doc_report *r, const struct conf *c, const struct doc_opts *o);

#endif
