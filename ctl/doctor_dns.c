/* SPDX-License-Identifier: MIT */
/*
 * doctor_dns - scaffold: the dns checks of `sendasctl doctor` are being written
 * (issue 11); until then this says so as a warning rather than pass silently.
 */
#include "config.h"

#include "doctor.h"

/* doctor_dns - not written yet: one WARN that says so */
void doctor_dns(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    (void)c;
    (void)o;
    doc_add(r, DOC_WARN, "dns", "dns checks", "none yet", "not written yet in this build");
}
