/* SPDX-License-Identifier: MIT */
/*
 * aadsts - the identity platform's codes worded as fixes (see aadsts.h).
 */
#include "config.h"

#include <string.h>

#include "aadsts.h"

/*
 * What each code means for a daemon signing in with the client credentials
 * grant (Microsoft's AADSTS error list), worded as the fix.
 */
static const struct {
    const char *code, *advice;
} advice_table[] = {
    {"AADSTS7000215", "the client secret is wrong: put the secret's value (not its ID) from the "
                      "app registration into oauth_client_secret_file"},
    {"AADSTS7000222", "the client secret has expired: create a new one under Certificates & "
                      "secrets of the app registration, put it into oauth_client_secret_file"},
    {"AADSTS700027", "the certificate is not registered on the app: upload oauth_certificate "
                     "under Certificates & secrets of the app registration"},
    {"AADSTS700024", "the client assertion is outside its time range: set this host's clock "
                     "(NTP)"},
    {"AADSTS700016", "no application with oauth_client_id in the tenant: check oauth_client_id "
                     "and oauth_tenant, and that an admin consented in this tenant"},
    {"AADSTS90002", "the tenant is not found: oauth_tenant must be the directory (tenant) ID "
                    "or a verified domain of the tenant"},
    {"AADSTS70011", "the scope is refused: oauth_scope must be "
                    "https://outlook.office365.com/.default"},
    {"AADSTS65001", "no admin consent: grant admin consent for SMTP.SendAsApp under API "
                    "permissions of the app registration"},
    {"AADSTS7000112", "the application is disabled in the tenant: enable it under Enterprise "
                      "applications"},
    {"AADSTS500011", "Exchange Online is not found in the tenant: check oauth_tenant and that "
                     "the tenant has Exchange Online"},
    {"AADSTS700082", "the refresh token expired (delegated sign-in): use the app-only client "
                     "credentials grant of sendas-tokend, which needs none"},
    {"AADSTS50196", "the token endpoint is throttling repeated requests: fix the error before "
                    "it; sendas-tokend backs off meanwhile"},
};

/* aadsts_advice - see aadsts.h */
const char *aadsts_advice(const char *text)
{
    const char *p = text ? strstr(text, "AADSTS") : NULL;
    size_t n = 6;

    if (p == NULL)
        return NULL;
    while (p[n] >= '0' && p[n] <= '9' && n < 20)
        n++;
    for (size_t i = 0; i < sizeof(advice_table) / sizeof(advice_table[0]); i++)
        if (strlen(advice_table[i].code) == n && memcmp(p, advice_table[i].code, n) == 0)
            return advice_table[i].advice;
    return NULL;
}
