/* SPDX-License-Identifier: MIT */
/*
 * oauth - the client credentials grant over libcurl; see oauth.h.  The secret
 * and the assertion only go into the request body, the token only into the
 * result: none of them is ever logged.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "jwt.h"
#include "oauth.h"
#include "secfile.h"
#include "xoauth2.h"

/* oauth_global_init - libcurl's one-time set-up */
int oauth_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* oauth_result_clear - forget a result, wiping the token */
void oauth_result_clear(struct oauth_result *r)
{
    secret_free(r->access_token);
    memset(r, 0, sizeof(*r));
}

/* clean_line - the first line of (s, n) as printable ASCII: the endpoint's text goes
 * into logs, the state file and terminals, where a newline would forge a line and an
 * escape code would act on the terminal.  Other bytes become '?'; bounded by outlen. */
static void clean_line(const char *s, size_t n, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; i < n && i < outlen - 1 && s[i] != '\r' && s[i] != '\n'; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

/* find_aadsts - the first "AADSTSnnnn" code in s, into out */
static void find_aadsts(const char *s, char *out, size_t outlen)
{
    const char *p = strstr(s, "AADSTS");
    size_t n = 6;

    out[0] = '\0';
    if (!p)
        return;
    while (p[n] >= '0' && p[n] <= '9' && n < outlen - 1)
        n++;
    if (n > 6)
        snprintf(out, outlen, "%.*s", (int)n, p);
}

/* set_error - r's error and description from the endpoint's (untrusted) texts; the
 * AADSTS code is kept apart, and dropped from the description's start, so that it is
 * shown once */
static void set_error(struct oauth_result *r, const char *error, size_t elen, const char *desc,
                      size_t dlen)
{
    char line[sizeof(r->description)];
    size_t n;

    clean_line(error, elen, r->error, sizeof(r->error));
    if (!r->error[0]) /* "\n..." has an empty first line: still an error, say so */
        snprintf(r->error, sizeof(r->error), "unreadable_error");
    clean_line(desc, dlen, line, sizeof(line));
    find_aadsts(line, r->aadsts, sizeof(r->aadsts));
    n = strlen(r->aadsts);
    if (n && strncmp(line, r->aadsts, n) == 0 && line[n] == ':')
        snprintf(r->description, sizeof(r->description), "%s", line + n + 1 + (line[n + 1] == ' '));
    else
        snprintf(r->description, sizeof(r->description), "%s", line);
}

/* bad_answer - a "bad_response" error with what was wrong */
static void bad_answer(struct oauth_result *r, const char *what)
{
    snprintf(r->error, sizeof(r->error), "bad_response");
    snprintf(r->description, sizeof(r->description), "%s", what);
}

/* take_token - the access_token member, if it can be a bearer token; else why not */
static const char *take_token(struct json_object *v, struct oauth_result *r)
{
    const char *s;
    size_t n;

    if (!json_object_is_type(v, json_type_string))
        return "access_token is not a string";
    s = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    if (n > XOAUTH2_MAX_TOKEN)
        return "access_token is longer than " XOAUTH2_MAX_TOKEN_TEXT " characters";
    if (!xoauth2_valid_token(s, n))
        return "access_token is empty or has characters a bearer token cannot have "
               "(RFC 6750 b64token)";
    if ((r->access_token = strndup(s, n)) == NULL)
        return "out of memory";
    return NULL;
}

/* lifetime - expires_in as RFC 6749 5.1 has it: a whole number, or (the v1 endpoint) a
 * string of digits; json-c's own conversion would take true for 1 and "3599abc" for 3599.
 * The seconds, or 0 when it is none of these or outside 1 s .. 7 days. */
static long lifetime(struct json_object *v)
{
    const char *s;
    size_t i, n;
    long long x = 0;

    if (json_object_is_type(v, json_type_int)) {
        x = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_string)) {
        s = json_object_get_string(v);
        n = (size_t)json_object_get_string_len(v);
        if (n == 0 || n > 9)
            return 0;
        for (i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            x = x * 10 + (s[i] - '0');
        }
    }
    return x > 0 && x <= 86400 * 7 ? (long)x : 0;
}

/* bearer_type - token_type, when given, is Bearer (case-insensitive, RFC 6749 7.1): the
 * plugin sends the token as "auth=Bearer"; a pop or N_A token would only be refused there */
static int bearer_type(struct json_object *root)
{
    struct json_object *v;

    if (!json_object_object_get_ex(root, "token_type", &v))
        return 1;
    return json_object_is_type(v, json_type_string) &&
           strcasecmp(json_object_get_string(v), "Bearer") == 0;
}

/* only_space - nothing but JSON white space in (s, n) */
static int only_space(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* oauth_parse_response - token or error from the JSON answer */
int oauth_parse_response(const char *buf, size_t len, long http_status, struct oauth_result *r)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = NULL, *v, *d;
    const char *why;
    int rc = -1;

    r->http_status = http_status;
    if (!tok || len > OAUTH_MAX_RESPONSE || len > 0x7fffffff)
        goto bad;
    root = json_tokener_parse_ex(tok, buf, (int)len);
    if (!root || !json_object_is_type(root, json_type_object))
        goto bad;
    /* an answer and then more (a second object, a proxy's page) is not one answer */
    if (!only_space(buf + json_tokener_get_parse_end(tok), len - json_tokener_get_parse_end(tok))) {
        bad_answer(r, "bytes after the JSON answer");
        goto done;
    }
    if (json_object_object_get_ex(root, "error", &v)) {
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
            bad_answer(r, "\"error\" is not a non-empty string");
            goto done;
        }
        if (!json_object_object_get_ex(root, "error_description", &d) ||
            !json_object_is_type(d, json_type_string))
            d = NULL;
        set_error(r, json_object_get_string(v), (size_t)json_object_get_string_len(v),
                  d ? json_object_get_string(d) : "(no error_description)",
                  d ? (size_t)json_object_get_string_len(d) : 22);
        goto done;
    }
    if (http_status != 200 || !json_object_object_get_ex(root, "access_token", &v))
        goto bad;
    if (!bearer_type(root)) {
        bad_answer(r, "token_type is not Bearer: XOAUTH2 sends bearer tokens only");
        goto done;
    }
    if ((why = take_token(v, r)) != NULL) {
        bad_answer(r, why);
        goto done;
    }
    r->expires_in = json_object_object_get_ex(root, "expires_in", &v) ? lifetime(v) : 0;
    if (r->expires_in == 0) {
        oauth_result_clear(r);
        r->http_status = http_status;
        bad_answer(r, "expires_in missing, not a whole number of seconds, or out of range");
        goto done;
    }
    rc = 0;
    goto done;
bad:
    snprintf(r->error, sizeof(r->error), "bad_response");
    snprintf(r->description, sizeof(r->description),
             "HTTP %ld with no token and no OAuth error in the answer", http_status);
done:
    json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    return rc;
}

/* The answer as it arrives; too_big says why libcurl was stopped. */
struct answer {
    struct buf b;
    int too_big;
};

/* on_body - collect the answer, capped */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;

    if (n && size > ((size_t)-1) / n)
        return 0;
    if (buf_append(&a->b, p, size * n) == BUF_OK)
        return size * n;
    a->too_big = 1;
    return 0;
}

/* add_field - "&name=urlencoded(value)" */
static int add_field(CURL *h, struct buf *body, const char *name, const char *value)
{
    char *esc = curl_easy_escape(h, value, 0);
    int rc;

    if (!esc)
        return -1;
    rc = buf_printf(body, "%s%s=%s", body->len ? "&" : "", name, esc);
    secret_wipe(esc, strlen(esc));
    curl_free(esc);
    return rc == BUF_OK ? 0 : -1;
}

/* oauth_request - POST the grant and read the answer */
int oauth_request(const struct oauth_client *c, time_t now, struct oauth_result *r)
{
    struct buf body;
    struct answer answer = {0};
    char errbuf[CURL_ERROR_SIZE] = "", *assertion = NULL, err[256];
    CURL *h = curl_easy_init();
    CURLcode cc;
    curl_off_t retry = 0;
    long status = 0;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    buf_init(&body, 32 * 1024);
    buf_init(&answer.b, OAUTH_MAX_RESPONSE);
    if (!h) {
        snprintf(r->error, sizeof(r->error), "internal");
        snprintf(r->description, sizeof(r->description), "curl_easy_init failed");
        goto done;
    }
    if (!c->secret) {
        if ((assertion = jwt_assertion(c->signer, c->client_id, c->endpoint, now, err,
                                       sizeof(err))) == NULL) {
            snprintf(r->error, sizeof(r->error), "assertion");
            snprintf(r->description, sizeof(r->description), "%s", err);
            goto done;
        }
    }
    if (add_field(h, &body, "grant_type", "client_credentials") < 0 ||
        add_field(h, &body, "client_id", c->client_id) < 0 ||
        add_field(h, &body, "scope", c->scope) < 0 ||
        (c->secret ? add_field(h, &body, "client_secret", c->secret)
                   : (add_field(h, &body, "client_assertion_type",
                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") ||
                      add_field(h, &body, "client_assertion", assertion))) < 0) {
        snprintf(r->error, sizeof(r->error), "internal");
        snprintf(r->description, sizeof(r->description), "request body too large");
        goto done;
    }
    curl_easy_setopt(h, CURLOPT_URL, c->endpoint);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    /* a redirect is no token, and the secret must not be posted wherever it points; an
     * encoded answer is not decoded (no gzip bomb): both read as "no token" */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout > 0 ? c->timeout : 30L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sendas-tokend/" PACKAGE_VERSION);
    if (c->ca_pem) { /* read at start-up and reload: nothing is opened here */
        struct curl_blob ca = {(void *)c->ca_pem, c->ca_len, CURL_BLOB_COPY};

        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (answer.too_big) {
        r->http_status = status;
        bad_answer(r, "answer larger than " OAUTH_MAX_RESPONSE_TEXT " bytes: not a token endpoint's");
        goto done;
    }
    if (cc != CURLE_OK) {
        snprintf(r->error, sizeof(r->error), "network");
        snprintf(err, sizeof(err), "%.100s: %.140s", curl_easy_strerror(cc),
                 errbuf[0] ? errbuf : "-");
        clean_line(err, strlen(err), r->description, sizeof(r->description));
        goto done;
    }
    rc = oauth_parse_response(answer.b.data ? answer.b.data : "", answer.b.len, status, r);
    /* Entra's throttling (429, 503) says when to come back: asking sooner prolongs it */
    if (rc != 0 && curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
        r->retry_after = retry > OAUTH_MAX_RETRY_AFTER ? OAUTH_MAX_RETRY_AFTER : (long)retry;
done:
    secret_wipe(body.data, body.len);
    secret_wipe(answer.b.data, answer.b.len);
    buf_free(&body);
    buf_free(&answer.b);
    secret_free(assertion);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}
