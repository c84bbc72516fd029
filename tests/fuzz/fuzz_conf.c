/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the sendas.conf parser: any input either parses into
 * a configuration whose routes all point at declared mailboxes, or is refused
 * with a message naming the file (and a line).  Messages and warnings never
 * carry a control character, warnings stay within their cap, and a client
 * network is never wider than its family.  Each mailbox's own limits stay within the
 * global settings' bounds, and its pacing is a bounded transport name, 1 to 3
 * connections, and a rate delay only with a per-minute limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "pacing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_message - names the file, no control character (they could drive a terminal) */
static void check_message(const char *m)
{
    if (strncmp(m, "fuzz.conf:", 10) != 0)
        abort();
    for (; *m; m++)
        if ((unsigned char)*m < ' ' || *m == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("fuzz.conf", (const char *)data, size, err, sizeof(err));
    size_t i;

    if (c == NULL) {
        check_message(err);
        return 0;
    }
    if (c->nwarnings > CONF_MAX_WARNINGS)
        abort();
    for (i = 0; i < c->nwarnings; i++)
        check_message(c->warnings[i]);
    for (i = 0; i < c->nroutes; i++) {
        const struct conf_route *r = &c->routes[i];

        if (r->target == TARGET_MAILBOX &&
            (r->mailbox == NULL ||
             !conf_mailbox_permits(r->mailbox, r->mailbox->local, r->mailbox->domain)))
            abort();
        if (r->kind == ROUTE_CLIENT && r->prefix > (r->family == AF_INET ? 32u : 128u))
            abort();
    }
    for (i = 0; i < c->nmailboxes; i++) {
        const struct conf_mailbox *mb = &c->mailboxes[i];
        struct conf_limits l;
        struct pacing pc;

        conf_mailbox_limits(c, mb, &l);
        pacing_plan(c, mb, &pc);
        if (l.headroom < 1 || l.headroom > 100 || l.messages_per_minute > 1000000 ||
            strlen(pc.transport) > PACING_NAME_MAX || strncmp(pc.transport, "sendas-", 7) != 0 ||
            pc.concurrency < 1 || pc.concurrency > PACING_CONNECTIONS ||
            (pc.rate_delay != 0) != (l.messages_per_minute != 0) ||
            (pc.rate_delay && pc.concurrency != 1))
            abort();
    }
    conf_free(c);
    return 0;
}
