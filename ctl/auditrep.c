/* SPDX-License-Identifier: MIT */
/*
 * auditrep - `sendasctl audit`'s report data: what the reader (ctl/audit.c)
 * fills and the output formats (ctl/auditout.c) print, and the helpers both
 * use.  It calls neither of them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditrep.h"
#include "clock.h"

/* au_time - RFC 3339 UTC to the second */
void au_time(int64_t us, char *out, size_t outlen)
{
    if (us == 0)
        snprintf(out, outlen, "-");
    else
        clock_format_rfc3339(us, 0, out, outlen);
}

/* cmp_sender - most messages first, then by address */
static int cmp_sender(const void *a, const void *b)
{
    const struct au_sender *x = *(const struct au_sender *const *)a;
    const struct au_sender *y = *(const struct au_sender *const *)b;

    if (x->msgs != y->msgs)
        return x->msgs > y->msgs ? -1 : 1;
    return strcmp(x->addr, y->addr);
}

/* au_sort - r->sorted: senders by messages, most first */
int au_sort(struct au_report *r)
{
    size_t i, n = 0;

    r->sorted = calloc(r->nsenders ? r->nsenders : 1, sizeof(*r->sorted));
    if (r->sorted == NULL)
        return -1;
    for (i = 0; i < r->tabsize; i++)
        for (struct au_sender *s = r->tab[i]; s; s = s->next)
            r->sorted[n++] = s;
    qsort(r->sorted, n, sizeof(*r->sorted), cmp_sender);
    return 0;
}
