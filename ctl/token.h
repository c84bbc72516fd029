/* SPDX-License-Identifier: MIT */
/* token - sendasctl token: the state sendas-tokend keeps for each mailbox's token */
#ifndef SENDAS_CTL_TOKEN_H
#define SENDAS_CTL_TOKEN_H

/*
 * cmd_token - "token [--fetch] [MAILBOX]".  Prints each mailbox's token state
 * (exit 0 when every token is valid and its last refresh worked, 3 when one
 * is missing or expired, its state file malformed, or tokend's last attempt
 * failed; 1 on errors); --fetch runs sendas-tokend --fetch (one request, Microsoft's answer).
 */
int cmd_token(const char *conf_path, int argc, char **argv);

#endif
