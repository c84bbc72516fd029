/* SPDX-License-Identifier: MIT */
/*
 * doctor_remote - scaffold: the remote checks of `sendasctl doctor` are being written
 * (issue 11); until then this says so as a warning rather than pass silently.
 */
#include "config.h"

#include "doctor.h"

/* doctor_remote - not written yet: one WARN that says so */
void doctor_remote(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    (void)c;
    (void)o;
    doc_add(r, DOC_WARN, "remote", "remote checks", "none yet", "not written yet in this build");
}
