/* SPDX-License-Identifier: MIT */
/*
 * doctor_local - scaffold: the local checks of `sendasctl doctor` are being written
 * (issue 11); until then this says so as a warning rather than pass silently.
 */
#include "config.h"

#include "doctor.h"

/* doctor_local - not written yet: one WARN that says so */
void doctor_local(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    (void)c;
    (void)o;
    doc_add(r, DOC_WARN, "local", "local checks", "none yet", "not written yet in this build");
}
