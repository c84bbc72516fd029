/* SPDX-License-Identifier: MIT */
/*
 * pacing - how Postfix paces each mailbox's deliveries (issue 10).
 *
 * With "pacing yes", sendasctl postfix-config gives every mailbox an SMTP transport of
 * its own, chosen by sender_dependent_default_transport_maps on the envelope sender
 * (sendas-milter has set it to the mailbox), so the queue manager holds each mailbox to
 * its own limits instead of sendas-policyd refusing the excess at intake.  This module
 * decides the figures; the front end prints them.
 *
 * Postfix's _destination_rate_delay is a whole number of seconds, measured from the end
 * of one delivery to the start of the next, and a non-zero delay means one delivery at a
 * time per destination.  So a mailbox with a per-minute limit L (headroom h %, N relays)
 * gets concurrency 1 and the shortest delay D with 60 / D <= L * h / 100 / N: each relay
 * starts at most 60 / D deliveries a minute, fewer by the time each delivery takes.  A
 * mailbox without one gets Exchange Online's 3 connections, shared by the relays.
 */
#ifndef SENDAS_PACING_H
#define SENDAS_PACING_H

#include "conf.h"

#define PACING_CONNECTIONS 3   /* Exchange Online's concurrent connections per mailbox */
#define PACING_NAME_MAX 48     /* "sendas-" + 32 of the address + "-" + 8 hex digits */

struct pacing {
    char transport[PACING_NAME_MAX + 1]; /* master.cf service name */
    unsigned concurrency;                /* _destination_concurrency_limit and maxproc */
    unsigned long rate_delay;            /* _destination_rate_delay, seconds; 0: none */
    /* _destination_recipient_limit; 0: none.  Never 1: Postfix then paces and counts
     * connections per recipient, not per mailbox (sendas-policyd holds 1 at intake) */
    unsigned long recipient_limit;
};

/* pacing_transport_name - the mailbox's transport: stable (the same address gives the
 * same name), bounded (PACING_NAME_MAX) and unique (a hash of the whole address); out
 * must hold PACING_NAME_MAX + 1 bytes */
void pacing_transport_name(const char *address, char *out, size_t outlen);

/* pacing_plan - the transport, concurrency, rate delay and recipient limit of mailbox mb on
 * one relay */
void pacing_plan(const struct conf *c, const struct conf_mailbox *mb, struct pacing *out);

/* pacing_intake_rate_limit - non-zero when sendas-policyd defers at intake past the
 * per-minute limit (intake_rate_limit yes, or auto without pacing or its rewritten envelope) */
int pacing_intake_rate_limit(const struct conf *c);

#endif
