/* SPDX-License-Identifier: MIT */
/*
 * oauth - one client credentials request to the Microsoft identity platform
 * token endpoint (libcurl), and the parsing of its answer (json-c).
 */
#ifndef SENDAS_OAUTH_H
#define SENDAS_OAUTH_H

#include <stddef.h>
#include <time.h>

#define OAUTH_MAX_RESPONSE (64 * 1024) /* bytes of one token endpoint answer */
#define OAUTH_MAX_RESPONSE_TEXT "65536"
#define OAUTH_MAX_RETRY_AFTER 3600      /* seconds of a Retry-After that are believed */

struct jwt_signer;

struct oauth_client {
    const char *endpoint;  /* https://login.microsoftonline.com/TENANT/oauth2/v2.0/token */
    const char *client_id;
    const char *scope;
    const char *secret;    /* client secret, or NULL with signer */
    const struct jwt_signer *signer;
    const char *ca_pem;    /* PEM certificates to trust (ca_len bytes), NULL: the system's */
    size_t ca_len;
    long timeout;          /* seconds for the whole request */
};

struct oauth_result {
    char *access_token; /* malloc'd on success, NULL otherwise; never log it */
    long expires_in;    /* seconds */
    long http_status;   /* 0 when no HTTP answer */
    long retry_after;   /* the answer's Retry-After in seconds (at most OAUTH_MAX_RETRY_AFTER),
                         * 0 when it has none */
    /* the endpoint's texts, cleaned: printable ASCII, one line, bounded */
    char error[64];     /* "invalid_client", "network", ... ("" on success) */
    char aadsts[24];    /* "AADSTS7000215", or "" */
    char description[256]; /* first line of error_description without the AADSTS code, or
                            * what went wrong */
};

/*
 * oauth_parse_response - read the endpoint's JSON answer (buf, len) with its
 * HTTP status into r.  Returns 0 when it holds a token, -1 otherwise (r->error
 * and r->description say why).
 */
int oauth_parse_response(const char *buf, size_t len, long http_status, struct oauth_result *r);

/* oauth_request - ask for a token; 0 on success, -1 with r->error set */
int oauth_request(const struct oauth_client *c, time_t now, struct oauth_result *r);

/* oauth_result_clear - wipe and free the token, reset r */
void oauth_result_clear(struct oauth_result *r);

/* oauth_global_init - curl_global_init; call once at start-up (0 on success) */
int oauth_global_init(void);

#endif
