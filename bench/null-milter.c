/* SPDX-License-Identifier: MIT */
/*
 * null-milter - benchmark baseline: a libmilter milter that changes nothing.
 *
 * It asks the MTA for exactly the events sendas-milter asks for (connect,
 * MAIL FROM, headers without a reply per header, end of message) and does
 * no work in any of them, so that bench/milter-intake.py can separate the
 * cost of the milter protocol from the cost of edits and of sendas-milter's
 * own work.  Not installed; built by bench/Makefile.
 *
 * usage: null-milter -p SOCKET   (inet:PORT@127.0.0.1 or unix:/path)
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Postfix offers the same protocol on every connection: one flag is enough. */
static volatile int nr_hdr;

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

/* mlfi_eom - accept the message unchanged */
static sfsistat mlfi_eom(SMFICTX *ctx)
{
    return SMFIS_CONTINUE;
}

/* mlfi_negotiate - the same event skips as sendas-milter, no actions */
static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                               unsigned long f2, unsigned long f3, unsigned long *pf0,
                               unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    unsigned long skip = SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOUNKNOWN |
                         SMFIP_NODATA | SMFIP_NOEOH;

    *pf0 = 0;
    *pf1 = f1 & (skip | SMFIP_NR_HDR);
    nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static struct smfiDesc filter = {
    "null-milter",
    SMFI_VERSION,
    0,
    mlfi_connect,
    NULL, /* helo */
    mlfi_envfrom,
    NULL, /* envrcpt */
    mlfi_header,
    NULL, /* eoh */
    NULL, /* body */
    mlfi_eom,
    NULL, /* abort */
    NULL, /* close */
    NULL, /* unknown */
    NULL, /* data */
    mlfi_negotiate,
};

int main(int argc, char **argv)
{
    const char *sock = NULL;
    int ch;

    while ((ch = getopt(argc, argv, "p:")) != -1) {
        if (ch != 'p') {
            fprintf(stderr, "usage: null-milter -p SOCKET\n");
            return 2;
        }
        sock = optarg;
    }
    if (sock == NULL || optind != argc) {
        fprintf(stderr, "usage: null-milter -p SOCKET\n");
        return 2;
    }
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(filter) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: cannot listen on %s\n", sock);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
