/* SPDX-License-Identifier: MIT */
/*
 * null-milter - benchmark baseline: a libmilter milter that changes nothing.
 *
 * It asks the MTA for exactly the events sendas-milter asks for (connect,
 * MAIL FROM, headers without a reply per header, end of message) and does
 * no work in any of them, so that bench/milter-intake.py can separate the
 * cost of the milter protocol from the cost of edits and of sendas-milter's
 * own work.  Not installed; compiled by bench/milter-intake.py.
 *
 * usage: null-milter -p SOCKET   (inet:PORT@127.0.0.1 or unix:/path)
 */
#include "bench-milter.h"

/* mlfi_eom - accept the message unchanged */
static sfsistat mlfi_eom(SMFICTX *ctx)
{
    return SMFIS_CONTINUE;
}

/* main - no actions: the MTA need offer none */
int main(int argc, char **argv)
{
    return bench_milter_main(argc, argv, "null-milter", 0, mlfi_eom);
}
