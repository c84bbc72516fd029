/* SPDX-License-Identifier: MIT */
/*
 * sendasctl - the administrator's command: dry runs and reports.
 *
 *   sendasctl test [-c FILE] --from ADDR [--header-from VALUE | --no-from]
 *                  [--header 'Name: value' ...] [--client IP] [--sasl LOGIN]
 *                  [--non-smtp] [--smtputf8]
 *
 *   sendasctl quota [-c FILE] [MAILBOX]
 *
 *   sendasctl postfix-config [-c FILE] [--snippets DIR] [main.cf|master.cf|sasl_passwd]
 *
 *   sendasctl doctor [--remote] [--dns] [--format table|json] [--postfix-dir DIR] ...
 *
 *   sendasctl audit [--since TIME] [--until TIME] [--log FILE ...] [--maillog FILE ...]
 *                   [--format table|json|csv|html]
 *
 * This file only dispatches: each command lives in its own file, listed in
 * ctl/ctl.h.  `test` (ctl/cmd_test.c) runs the engine code sendas-milter runs;
 * `quota` (ctl/cmd_quota.c) reads sendas-policyd's counters; `postfix-config`
 * (ctl/cmd_postfix_config.c) prints the Postfix lines for this configuration;
 * `check` (ctl/cmd_check.c) checks the configuration file; `token`
 * (ctl/cmd_token.c) shows sendas-tokend's state; `audit` (ctl/audit.c, with
 * ctl/auditin.c, ctl/auditrep.c and ctl/auditout.c) reports per sender.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* usage - the synopsis of every subcommand */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: sendasctl [-c FILE] COMMAND [ARGS]\n"
            "  test --from ADDR [--header-from VALUE | --no-from] [--header 'Name: value' ...]\n"
            "       [--client IP] [--sasl LOGIN] [--non-smtp] [--smtputf8]\n"
            "       show the route, mailbox and exact changes sendas-milter would make\n"
            "       (exit 0: accepted, 3: refused, 1: error)\n"
            "  quota [MAILBOX]\n"
            "       sendas-policyd's counters: messages in the last minute and recipients in\n"
            "       the last 24 hours of each mailbox, its limits, and when each frees up\n"
            "  check  check the configuration file: errors exit 1; warnings (accepted, but\n"
            "         surely mistakes) are printed and exit 0\n"
            "  postfix-config [--snippets DIR] [main.cf | master.cf | sasl_passwd]\n"
            "       the Postfix lines for this configuration: the shipped snippets with its\n"
            "       sockets, and a sasl_passwd entry per mailbox (default: all three)\n"
            "  audit [--since TIME] [--until TIME] [--log FILE ...] [--maillog FILE ...]\n"
            "        [--journal | --no-maillog] [--format table|json|csv|html]\n"
            "       per sender: what sendas decided (audit log) and what Exchange Online\n"
            "       answered (Postfix's mail log, rotated and .gz files too, or the journal),\n"
            "       with advice\n"
            "  doctor [--remote] [--dns] [--format table|json] [--postfix-dir DIR]\n"
            "       [--relayhost HOST[:PORT]] [--ca-file FILE] [--dns-server IP[:PORT]]\n"
            "       check the whole chain (configuration, daemons, Postfix, tokens; with\n"
            "       --remote Exchange Online's TLS and AUTH, with --dns SPF and MX), a fix per\n"
            "       problem; changes nothing, sends no mail (exit 0 OK, 1 warnings, 2 failures)\n"
            "  token [--fetch] [MAILBOX]\n"
            "       each mailbox's OAuth token (sendas-tokend): expires in, last refresh, last\n"
            "       error; --fetch asks for one token and shows Microsoft's answer\n"
            "default configuration: %s\n",
            SENDAS_CONF);
}

/* The commands, by name (each in ctl/cmd_NAME.c or, for audit, ctl/audit.c). */
static const struct {
    const char *name;
    int (*run)(const char *conf_path, int argc, char **argv);
} commands[] = {
    {"test", cmd_test},
    {"quota", cmd_quota},
    {"token", cmd_token},
    {"audit", cmd_audit},
    {"postfix-config", cmd_postfix_config},
    {"check", cmd_check},
    {"doctor", cmd_doctor},
};

/* main - [-c FILE] COMMAND [ARGS]: hand the command its arguments (argv[0] is its name) */
int main(int argc, char **argv)
{
    const char *conf_path = SENDAS_CONF;
    int i = 1;

    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        conf_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            return commands[k].run(conf_path, argc - i, argv + i);
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sendasctl: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
