/* SPDX-License-Identifier: MIT */
/*
 * aadsts - the Microsoft identity platform's error codes ("AADSTS7000215")
 * as the fix a sendas admin applies: for sendasctl (doctor, token) and
 * anything else that shows sendas-tokend's last error.  No network, no
 * libcurl: the table alone.
 */
#ifndef SENDAS_AADSTS_H
#define SENDAS_AADSTS_H

/*
 * aadsts_advice - the fix for the first "AADSTSnnnn" code in text (a state
 * file's last_error, a token endpoint's error_description): one line naming
 * the setting or the Entra step, a static string; NULL when text holds no
 * code this module knows.
 */
const char *aadsts_advice(const char *text);

#endif
