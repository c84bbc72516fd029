/* SPDX-License-Identifier: MIT */
/*
 * tokstate - the MAILBOX.state file sendas-tokend writes beside each token file
 * (no token in it), as sendasctl token reads it:
 *
 *   mailbox=relay@contoso.com
 *   expires=1767225600
 *   last_refresh=1767222000
 *   last_attempt=1767222000
 *   failures=0
 *   last_error=
 *
 * Each key exactly once, in any order, every line ending in '\n', values of
 * printable ASCII, numbers of 1 to 18 digits.  Anything else -- a forged line
 * from an endpoint's text with a newline (an older tokend wrote those), a NUL,
 * a key twice -- makes the whole file malformed: it is never half believed.
 */
#ifndef SENDAS_CTL_TOKSTATE_H
#define SENDAS_CTL_TOKSTATE_H

#include <stddef.h>
#include <sys/types.h>

#define TOKSTATE_MAX_FILE 4096 /* bytes sendasctl reads of a state file */
#define TOKSTATE_MAX_ERROR 511 /* characters of last_error kept */

struct tokstate {
    long long expires, last_refresh, last_attempt;
    unsigned long failures;
    char last_error[TOKSTATE_MAX_ERROR + 1];
};

/*
 * tokstate_parse - the state file (buf, len; no NUL needed, none allowed) of
 * mailbox into t.  Returns 0, or -1 when it is malformed (t is then zeroed).
 */
int tokstate_parse(const char *buf, size_t len, const char *mailbox, struct tokstate *t);

/*
 * tokstate_read_file - up to cap-1 bytes of a regular file (a state or token
 * file; no symlink followed, a FIFO refused at once with ENODEV),
 * NUL-terminated.  Returns the length, or -1 with errno.
 */
ssize_t tokstate_read_file(const char *path, char *buf, size_t cap);

#endif
