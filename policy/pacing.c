/* SPDX-License-Identifier: MIT */
/*
 * pacing - per-mailbox transports and their delivery pace (see pacing.h).
 */
#include "pacing.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>

/* pacing_transport_name - "sendas-" + the address's letters and digits (others '-', at
 * most 32) + "-" + FNV-1a of the lower-cased address: readable in the logs, and two
 * addresses that read alike (a.b@x, a-b@x) still get names of their own */
void pacing_transport_name(const char *address, char *out, size_t outlen)
{
    char shown[33];
    uint32_t h = 2166136261u;
    size_t i, n = 0;

    for (i = 0; address[i]; i++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)address[i]);

        h = (h ^ ch) * 16777619u;
        if (n < sizeof(shown) - 1)
            shown[n++] = (ch < 0x80 && isalnum(ch)) ? (char)ch : '-';
    }
    shown[n] = '\0';
    snprintf(out, outlen, "sendas-%s-%08x", shown, (unsigned)h);
}

/* pacing_plan - the figures of one mailbox */
void pacing_plan(const struct conf *c, const struct conf_mailbox *mb, struct pacing *out)
{
    struct conf_limits lim;
    unsigned long long share; /* per-minute messages * 100 one relay may start */
    unsigned relays = c->relays ? c->relays : 1;

    conf_mailbox_limits(c, mb, &lim);
    pacing_transport_name(mb->address, out->transport, sizeof(out->transport));
    /* with 1, Postfix's destination is the recipient: rate delay and concurrency would
     * hold per recipient and the mailbox go unpaced */
    out->recipient_limit = lim.recipients_per_message > 1 ? lim.recipients_per_message : 0;
    if (lim.messages_per_minute == 0) {
        /* no per-minute limit: only the connections, shared by the relays */
        out->concurrency = relays < PACING_CONNECTIONS ? PACING_CONNECTIONS / relays : 1;
        out->rate_delay = 0;
        return;
    }
    /* D = ceil(60 / (L * h / 100 / N)) = ceil(6000 N / (L h)), in whole numbers */
    share = (unsigned long long)lim.messages_per_minute * (lim.headroom ? lim.headroom : 100);
    out->rate_delay = (unsigned long)((6000ULL * relays + share - 1) / share);
    out->concurrency = 1;
}

/* pacing_intake_rate_limit - does sendas-policyd refuse past the per-minute limit?  auto:
 * not when Postfix paces, which needs the envelope sender set to the mailbox (the map that
 * picks the paced transport is keyed by it: with rewrite_envelope no nothing paces) */
int pacing_intake_rate_limit(const struct conf *c)
{
    if (c->intake_rate_limit == INTAKE_AUTO)
        return !(c->pacing && c->rewrite_envelope);
    return c->intake_rate_limit == INTAKE_YES;
}
