/* SPDX-License-Identifier: MIT */
/*
 * ctl - what sendasctl's commands share: each command is one function in its
 * own file, called by ctl/sendasctl.c with argv[0] set to the command's name,
 * and returns the process's exit status.  Only ctl/ includes this header.
 */
#ifndef SENDAS_CTL_CTL_H
#define SENDAS_CTL_CTL_H

#include <stddef.h>
#include <stdint.h>

/* exit status of `test` when the milter would refuse, of `token` when a token is not usable */
#define EXIT_REFUSED 3

/* cmd_test - "test --from ADDR ...": the dry run of sendas-milter (ctl/cmd_test.c) */
int cmd_test(const char *conf_path, int argc, char **argv);

/* cmd_quota - "quota [MAILBOX]": sendas-policyd's counters against the limits (ctl/cmd_quota.c) */
int cmd_quota(const char *conf_path, int argc, char **argv);

/* cmd_check - "check": the configuration file as the daemons load it (ctl/cmd_check.c) */
int cmd_check(const char *conf_path, int argc, char **argv);

/* cmd_postfix_config - "postfix-config [...]": the Postfix lines (ctl/cmd_postfix_config.c) */
int cmd_postfix_config(const char *conf_path, int argc, char **argv);

/*
 * cmd_token - "token [--fetch] [MAILBOX]".  Prints each mailbox's token state
 * (exit 0 when every token is valid and its last refresh worked, 3 when one
 * is missing or expired, its state file malformed, or tokend's last attempt
 * failed; 1 on errors); --fetch runs sendas-tokend --fetch (one request,
 * Microsoft's answer).  ctl/cmd_token.c.
 */
int cmd_token(const char *conf_path, int argc, char **argv);

/* cmd_audit - "audit [...]": per sender, what sendas decided and what Exchange Online
 * answered (ctl/audit.c) */
int cmd_audit(const char *conf_path, int argc, char **argv);

struct conf;
struct store;

/*
 * ctl_open_counters - sendas-policyd's counters for reading: the SQLite file
 * under state_dir, or with store redis every mailbox's counters read from
 * Redis (and *now set to Redis's clock; else the local clock).  NULL with
 * err set (Redis unreachable, a bad password file).  ctl/cmd_quota.c.
 */
struct store *ctl_open_counters(const struct conf *c, int64_t *now, char *err, size_t errlen);

/*
 * ctl_store_status - the line sendas-policyd wrote to state_dir/store.status
 * (how it counts now: "... shared by N relays" or "... local fallback since
 * ..."); path gets the file's name.  0, or -1 when there is none.
 */
int ctl_store_status(const struct conf *c, char *line, size_t linelen, char *path, size_t pathlen);

/* cmd_doctor - "doctor [--remote] [--dns] [--format table|json] ...": every part of the relay
 * chain checked, a fix per problem; exit 0 all OK, 1 warnings, 2 failures (ctl/doctor.c) */
int cmd_doctor(const char *conf_path, int argc, char **argv);

#endif
