/* SPDX-License-Identifier: MIT */
/*
 * doctor_local - what the two halves of doctor's local checks share:
 * ctl/doctor_local.c (the daemons' sockets, the token files) and
 * ctl/doctor_postfix.c (main.cf and master.cf through postconf/postmap).
 * Only ctl/doctor_local.c and ctl/doctor_postfix.c include this header.
 */
#ifndef SENDAS_CTL_DOCTOR_LOCAL_H
#define SENDAS_CTL_DOCTOR_LOCAL_H

#include "conf.h"
#include "doctor.h"

/* doc_uses_oauth - does sendas.conf set up sendas-tokend (oauth_client_id, as postfix-config)? */
int doc_uses_oauth(const struct conf *c);

/* doc_has_token - does sendas-tokend keep a token for this mailbox (oauth_mailboxes)? */
int doc_has_token(const struct conf *c, const char *mailbox);

/* doc_pf_asks_policy - 1 when Postfix names a check_policy_service at RCPT or end of DATA,
 * 0 when not, -1 when postconf cannot be run */
int doc_pf_asks_policy(const struct doc_opts *o);

/* doctor_postfix - Postfix's main.cf and master.cf against sendas.conf (c may be NULL) */
void doctor_postfix(struct doc_report *r, const struct conf *c, const struct doc_opts *o);

#endif
