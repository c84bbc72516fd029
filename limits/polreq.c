/* SPDX-License-Identifier: MIT */
/*
 * polreq - Postfix policy request parser (see polreq.h).
 */
#include "polreq.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The attributes kept, and where each goes. */
enum key {
    K_REQUEST,
    K_STATE,
    K_QUEUE_ID,
    K_SENDER,
    K_RECIPIENT,
    K_CLIENT_ADDRESS,
    K_CLIENT_NAME,
    K_SASL_USERNAME,
    K_INSTANCE,
    K_RECIPIENT_COUNT,
    K_SIZE,
    K_COUNT,
};

static const char *const key_names[K_COUNT] = {
    "request",        "protocol_state", "queue_id",      "sender",   "recipient",
    "client_address", "client_name",    "sasl_username", "instance", "recipient_count",
    "size",
};

static const struct {
    const char *name;
    enum polreq_stage stage;
} stages[] = {
    {"CONNECT", POLREQ_CONNECT}, {"EHLO", POLREQ_HELO}, {"HELO", POLREQ_HELO},
    {"MAIL", POLREQ_MAIL},       {"RCPT", POLREQ_RCPT}, {"DATA", POLREQ_DATA},
    {"END-OF-MESSAGE", POLREQ_EOM}, {"VRFY", POLREQ_VRFY}, {"ETRN", POLREQ_ETRN},
};

/* fail - format a reason; returns POLREQ_BAD */
static int fail(char *err, size_t errlen, const char *what, size_t line)
{
    if (err && errlen)
        snprintf(err, errlen, "malformed policy request: %s (line %zu)", what, line);
    return POLREQ_BAD;
}

/* valid_name - attribute names are short words of [A-Za-z0-9_-] */
static int valid_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > POLREQ_MAX_NAME)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* find_key - index of a kept attribute name, or K_COUNT */
static enum key find_key(const char *s, size_t n)
{
    int i;

    for (i = 0; i < K_COUNT; i++)
        if (strlen(key_names[i]) == n && memcmp(key_names[i], s, n) == 0)
            return (enum key)i;
    return K_COUNT;
}

/* parse_number - a decimal of at most 19 digits; -1 when not one */
static int parse_number(const char *s, size_t n, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i;

    if (n == 0 || n > 19)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* keep - copy a value into the arena, control characters made '?' */
static const char *keep(struct polreq *r, const char *s, size_t n)
{
    char *d;
    size_t i;

    if (n + 1 > sizeof(r->arena) - r->arena_used)
        return NULL; /* cannot happen: values are smaller than the request cap */
    d = r->arena + r->arena_used;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        d[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    d[n] = '\0';
    r->arena_used += n + 1;
    return d;
}

/* polreq_parse - one request from the start of buf */
int polreq_parse(struct polreq *r, const char *buf, size_t len, size_t *used, char *err,
                 size_t errlen)
{
    const char *vals[K_COUNT] = {NULL};
    size_t vlens[K_COUNT] = {0};
    size_t pos = 0, line = 0, i;
    const char *request_val = NULL;
    size_t request_len = 0;

    *used = 0;
    for (;;) {
        const char *l = buf + pos, *nl, *eq;
        size_t avail = len - pos, n;
        enum key k;

        if (pos >= POLREQ_MAX_REQUEST)
            return fail(err, errlen, "request too large", line + 1);
        nl = memchr(l, '\n', avail);
        if (nl == NULL) {
            if (avail > POLREQ_MAX_LINE)
                return fail(err, errlen, "line too long", line + 1);
            if (len > POLREQ_MAX_REQUEST)
                return fail(err, errlen, "request too large", line + 1);
            return POLREQ_MORE;
        }
        n = (size_t)(nl - l);
        line++;
        if (n > POLREQ_MAX_LINE)
            return fail(err, errlen, "line too long", line);
        if (pos + n + 1 > POLREQ_MAX_REQUEST)
            return fail(err, errlen, "request too large", line);
        pos += n + 1;
        if (n == 0)
            break; /* the empty line ends the request */
        if (line > POLREQ_MAX_ATTRS)
            return fail(err, errlen, "too many attributes", line);
        if (memchr(l, '\0', n))
            return fail(err, errlen, "NUL byte", line);
        if ((eq = memchr(l, '=', n)) == NULL)
            return fail(err, errlen, "line without '='", line);
        if (!valid_name(l, (size_t)(eq - l)))
            return fail(err, errlen, "invalid attribute name", line);
        k = find_key(l, (size_t)(eq - l));
        if (k == K_COUNT)
            continue;
        if (vals[k])
            return fail(err, errlen, "attribute given twice", line);
        vals[k] = eq + 1;
        vlens[k] = n - (size_t)(eq - l) - 1;
        if (k == K_REQUEST) {
            request_val = vals[k];
            request_len = vlens[k];
        }
    }
    if (line - 1 == 0)
        return fail(err, errlen, "empty request", line);
    if (request_val == NULL)
        return fail(err, errlen, "no request attribute", line);
    if (request_len != 19 || memcmp(request_val, "smtpd_access_policy", 19) != 0)
        return fail(err, errlen, "request is not smtpd_access_policy", line);
    if (vals[K_STATE] == NULL)
        return fail(err, errlen, "no protocol_state attribute", line);

    memset(r, 0, offsetof(struct polreq, arena));
    r->arena_used = 0;
    r->nattrs = line - 1;
    r->recipient_count = r->size = 0;
    if (vals[K_RECIPIENT_COUNT] &&
        parse_number(vals[K_RECIPIENT_COUNT], vlens[K_RECIPIENT_COUNT], &r->recipient_count) < 0)
        return fail(err, errlen, "recipient_count is not a number", line);
    if (vals[K_SIZE] && parse_number(vals[K_SIZE], vlens[K_SIZE], &r->size) < 0)
        return fail(err, errlen, "size is not a number", line);
    {
        const char **slots[] = {NULL,
                                &r->protocol_state,
                                &r->queue_id,
                                &r->sender,
                                &r->recipient,
                                &r->client_address,
                                &r->client_name,
                                &r->sasl_username,
                                &r->instance};

        for (i = K_STATE; i <= K_INSTANCE; i++) {
            *slots[i] = keep(r, vals[i] ? vals[i] : "", vals[i] ? vlens[i] : 0);
            if (*slots[i] == NULL)
                return fail(err, errlen, "request too large", line);
        }
    }
    r->stage = POLREQ_OTHER;
    for (i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
        if (strcasecmp(r->protocol_state, stages[i].name) == 0)
            r->stage = stages[i].stage;
    *used = pos;
    return POLREQ_OK;
}

/* polreq_stage_name - the protocol state for logs */
const char *polreq_stage_name(enum polreq_stage s)
{
    switch (s) {
    case POLREQ_CONNECT:
        return "CONNECT";
    case POLREQ_HELO:
        return "HELO";
    case POLREQ_MAIL:
        return "MAIL";
    case POLREQ_RCPT:
        return "RCPT";
    case POLREQ_DATA:
        return "DATA";
    case POLREQ_EOM:
        return "END-OF-MESSAGE";
    case POLREQ_VRFY:
        return "VRFY";
    case POLREQ_ETRN:
        return "ETRN";
    case POLREQ_OTHER:
        break;
    }
    return "OTHER";
}
