/* SPDX-License-Identifier: MIT */
/*
 * bench-milter.h - what null-milter and min-rewrite-milter share: the
 * events sendas-milter asks the MTA for (connect, MAIL FROM, headers without
 * a reply per header, end of message), doing nothing in any of them, and a
 * main that listens on -p SOCKET.  Each milter brings only its end of
 * message and the actions it needs, so the two differ in the edits alone.
 * Header-only: bench/milter-intake.py compiles each bench/X.c on its own.
 */
#ifndef SENDAS_BENCH_MILTER_H
#define SENDAS_BENCH_MILTER_H

#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Postfix offers the same protocol on every connection: one flag is enough. */
static volatile int nr_hdr;
/* The actions the milter needs (SMFIF_*): the MTA must offer them all. */
static unsigned long bench_actions;

/* mlfi_connect - nothing to do */
static sfsistat mlfi_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    return SMFIS_CONTINUE;
}

/* mlfi_envfrom - nothing to do */
static sfsistat mlfi_envfrom(SMFICTX *ctx, char **argv)
{
    return SMFIS_CONTINUE;
}

/* mlfi_header - nothing to do; no reply when the MTA agreed to that */
static sfsistat mlfi_header(SMFICTX *ctx, char *name, char *value)
{
    return nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* mlfi_negotiate - the same event skips as sendas-milter, and bench_actions */
static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                               unsigned long f2, unsigned long f3, unsigned long *pf0,
                               unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    unsigned long skip = SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOUNKNOWN |
                         SMFIP_NODATA | SMFIP_NOEOH;

    if ((f0 & bench_actions) != bench_actions)
        return SMFIS_REJECT;
    *pf0 = bench_actions;
    *pf1 = f1 & (skip | SMFIP_NR_HDR);
    nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

/*
 * bench_milter_main - main of a bench milter called name: parse -p SOCKET,
 * register the shared callbacks with eom and actions, and run libmilter.
 * Returns the exit status: 0 when smfi_main ends cleanly, 1 when it fails
 * or the socket cannot be opened, 2 on a usage error.
 */
static int bench_milter_main(int argc, char **argv, const char *name, unsigned long actions,
                             sfsistat (*eom)(SMFICTX *))
{
    /* a callback not named is NULL: libmilter answers that event by itself */
    struct smfiDesc filter = {
        .xxfi_name = (char *)name,
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = actions,
        .xxfi_connect = mlfi_connect,
        .xxfi_envfrom = mlfi_envfrom,
        .xxfi_header = mlfi_header,
        .xxfi_eom = eom,
        .xxfi_negotiate = mlfi_negotiate,
    };
    const char *sock = NULL;
    int ch;

    bench_actions = actions;
    while ((ch = getopt(argc, argv, "p:")) != -1) {
        if (ch != 'p')
            break;
        sock = optarg;
    }
    if (ch != -1 || sock == NULL || optind != argc) {
        fprintf(stderr, "usage: %s -p SOCKET\n", name);
        return 2;
    }
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(filter) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "%s: cannot listen on %s\n", name, sock);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}

#endif
