/* SPDX-License-Identifier: MIT */
/*
 * min-rewrite-milter - benchmark floor: the cheapest milter that makes the
 * edits sendas-milter makes, without parsing anything.
 *
 * At the end of every message: CHGFROM <relay@contoso.com>, CHGHEADER
 * From (index 1) and ADDHEADER Reply-To.  Any milter edit makes Postfix's
 * cleanup rewrite the queue file, so this milter, not null-milter, is what
 * sendas-milter's intake is compared with.  It asks for exactly the events
 * sendas-milter asks for (connect, MAIL FROM, headers without a reply per
 * header, end of message) and does nothing in them, so the comparison
 * measures sendas-milter's work, not protocol chatter.  Not installed;
 * compiled by bench/milter-intake.py.
 *
 * usage: min-rewrite-milter -p SOCKET   (inet:PORT@127.0.0.1 or unix:/path)
 */
#include "bench-milter.h"

/* mlfi_eom - the three edits, unconditionally */
static sfsistat mlfi_eom(SMFICTX *ctx)
{
    if (smfi_chgfrom(ctx, "<relay@contoso.com>", NULL) != MI_SUCCESS ||
        smfi_chgheader(ctx, "From", 1, "relay@contoso.com") != MI_SUCCESS ||
        smfi_addheader(ctx, "Reply-To", "x@y") != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}

/* main - the same actions as sendas-milter */
int main(int argc, char **argv)
{
    return bench_milter_main(argc, argv, "min-rewrite-milter",
                             SMFIF_CHGFROM | SMFIF_CHGHDRS | SMFIF_ADDHDRS, mlfi_eom);
}
