/* SPDX-License-Identifier: MIT */
/*
 * guard - what sendas-milter puts between libmilter and the outside world.
 *
 * libmilter trusts its peer and its process limits more than a service on a
 * shared host may: smfi_getsymval() walks off a macro array that a malformed
 * SMFIC_MACRO packet left with an odd number of strings
 * (doc/libmilter-macro-bug.md), and its accept loop spins when the process
 * is out of descriptors.  This module reads macros with a walk that stops at
 * the array's end, keeps the sessions below the descriptor limit, and wakes
 * the accept loop when the milter stops.
 */
#ifndef SENDAS_GUARD_H
#define SENDAS_GUARD_H

#include <libmilter/mfapi.h>

/*
 * guard_init - derive the session cap from RLIMIT_NOFILE (raising the soft
 * limit to the hard one first) and keep one spare descriptor; timeout_s is
 * the value given to smfi_settimeout (it identifies libmilter's context
 * layout).  Returns the number of descriptors sessions may use.
 */
int guard_init(long timeout_s);

/*
 * guard_getsymval - the value of macro name (as smfi_getsymval: "i" also
 * finds "{i}" and the reverse), or NULL.  *malformed is set to 1 when one of
 * the session's macro arrays has an odd number of strings: the peer is not a
 * conforming MTA, and nothing it sent can be trusted.  x is the session's
 * smfi_getpriv() pointer (non-NULL), which checks libmilter's layout.
 */
const char *guard_getsymval(SMFICTX *ctx, const void *x, const char *name, int *malformed);

/*
 * guard_stop - smfi_stop(), and connections to the milter's own socket
 * (spec) until it has returned, so that libmilter's accept loop, which holds
 * its lock while it waits up to 5 seconds, stops at once.
 */
void guard_stop(const char *spec);

#endif
