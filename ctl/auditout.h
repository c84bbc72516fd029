/* SPDX-License-Identifier: MIT */
/*
 * auditout - `sendasctl audit`'s output formats (ctl/auditout.c): they read
 * the report (auditrep.h) and call nothing else of the audit command.
 */
#ifndef SENDAS_CTL_AUDITOUT_H
#define SENDAS_CTL_AUDITOUT_H

#include "auditrep.h"

/* au_print - print in format "table", "json", "csv" or "html"; 0, or -1 on a write error */
int au_print(struct au_report *r, const char *format);

#endif
