/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the sendas.conf parser: any input either parses into
 * a configuration whose routes all point at declared mailboxes, or is refused
 * with a message naming the file and a line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_parse("fuzz.conf", (const char *)data, size, err, sizeof(err));
    size_t i;

    if (c == NULL) {
        if (strncmp(err, "fuzz.conf:", 10) != 0)
            abort(); /* every error names the file */
        return 0;
    }
    for (i = 0; i < c->nroutes; i++)
        if (c->routes[i].target == TARGET_MAILBOX &&
            (c->routes[i].mailbox == NULL ||
             !conf_mailbox_permits(c->routes[i].mailbox, c->routes[i].mailbox->local,
                                   c->routes[i].mailbox->domain)))
            abort();
    conf_free(c);
    return 0;
}
