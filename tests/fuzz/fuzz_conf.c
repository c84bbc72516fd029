/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the sendas.conf parser: any input either parses into
 * a configuration whose routes all point at declared mailboxes, or is refused
 * with a message naming the file (and a line).  Messages and warnings never
 * carry a control character, warnings stay within their cap, and a client
 * network is never wider than its family.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"

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
    conf_free(c);
    return 0;
}
