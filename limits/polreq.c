/* SPDX-License-Identifier: MIT */
/*
 * polreq - Postfix policy request parser (see polreq.h).
 */
#include "polreq.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The attributes kept. */
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

enum attr_kind {
    A_CHECKED, /* checked by check_request, not kept */
    A_STRING,  /* a const char * member of struct polreq */
    A_NUMBER,  /* an unsigned long long member */
};

/* Each kept attribute's name and the member it fills, keyed by the enum (designated
 * initialisers: the mapping never depends on the order of the lines above). */
static const struct {
    const char *name;
    enum attr_kind kind;
    size_t off;
} attrs[K_COUNT] = {
    [K_REQUEST] = {"request", A_CHECKED, 0},
    [K_STATE] = {"protocol_state", A_STRING, offsetof(struct polreq, protocol_state)},
    [K_QUEUE_ID] = {"queue_id", A_STRING, offsetof(struct polreq, queue_id)},
    [K_SENDER] = {"sender", A_STRING, offsetof(struct polreq, sender)},
    [K_RECIPIENT] = {"recipient", A_STRING, offsetof(struct polreq, recipient)},
    [K_CLIENT_ADDRESS] = {"client_address", A_STRING, offsetof(struct polreq, client_address)},
    [K_CLIENT_NAME] = {"client_name", A_STRING, offsetof(struct polreq, client_name)},
    [K_SASL_USERNAME] = {"sasl_username", A_STRING, offsetof(struct polreq, sasl_username)},
    [K_INSTANCE] = {"instance", A_STRING, offsetof(struct polreq, instance)},
    [K_RECIPIENT_COUNT] = {"recipient_count", A_NUMBER, offsetof(struct polreq, recipient_count)},
    [K_SIZE] = {"size", A_NUMBER, offsetof(struct polreq, size)},
};

/* The values of the kept attributes in the request's buffer, and where the scan ended. */
struct scan {
    const char *vals[K_COUNT]; /* NULL: absent */
    size_t vlens[K_COUNT];
    size_t pos;  /* bytes through the empty line */
    size_t line; /* lines through the empty line */
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
        if (attrs[i].name && strlen(attrs[i].name) == n && memcmp(attrs[i].name, s, n) == 0)
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

/*
 * scan_request - cut the lines of one request (through the empty line) with the caps,
 * noting the kept attributes' values; POLREQ_OK, POLREQ_MORE or POLREQ_BAD
 */
static int scan_request(struct scan *sc, const char *buf, size_t len, char *err, size_t errlen)
{
    memset(sc, 0, sizeof(*sc));
    for (;;) {
        const char *l = buf + sc->pos, *nl, *eq;
        size_t avail = len - sc->pos, n;
        enum key k;

        if (sc->pos >= POLREQ_MAX_REQUEST)
            return fail(err, errlen, "request too large", sc->line + 1);
        nl = memchr(l, '\n', avail);
        if (nl == NULL) {
            if (avail > POLREQ_MAX_LINE)
                return fail(err, errlen, "line too long", sc->line + 1);
            if (len > POLREQ_MAX_REQUEST)
                return fail(err, errlen, "request too large", sc->line + 1);
            return POLREQ_MORE;
        }
        n = (size_t)(nl - l);
        sc->line++;
        if (n > POLREQ_MAX_LINE)
            return fail(err, errlen, "line too long", sc->line);
        if (sc->pos + n + 1 > POLREQ_MAX_REQUEST)
            return fail(err, errlen, "request too large", sc->line);
        sc->pos += n + 1;
        if (n == 0)
            return POLREQ_OK; /* the empty line ends the request */
        if (sc->line > POLREQ_MAX_ATTRS)
            return fail(err, errlen, "too many attributes", sc->line);
        if (memchr(l, '\0', n))
            return fail(err, errlen, "NUL byte", sc->line);
        if ((eq = memchr(l, '=', n)) == NULL)
            return fail(err, errlen, "line without '='", sc->line);
        if (!valid_name(l, (size_t)(eq - l)))
            return fail(err, errlen, "invalid attribute name", sc->line);
        if ((k = find_key(l, (size_t)(eq - l))) == K_COUNT)
            continue;
        if (sc->vals[k])
            return fail(err, errlen, "attribute given twice", sc->line);
        sc->vals[k] = eq + 1;
        sc->vlens[k] = n - (size_t)(eq - l) - 1;
    }
}

/* check_request - what makes it a policy request at all; POLREQ_OK or POLREQ_BAD */
static int check_request(const struct scan *sc, char *err, size_t errlen)
{
    if (sc->line - 1 == 0)
        return fail(err, errlen, "empty request", sc->line);
    if (sc->vals[K_REQUEST] == NULL)
        return fail(err, errlen, "no request attribute", sc->line);
    if (sc->vlens[K_REQUEST] != 19 || memcmp(sc->vals[K_REQUEST], "smtpd_access_policy", 19) != 0)
        return fail(err, errlen, "request is not smtpd_access_policy", sc->line);
    if (sc->vals[K_STATE] == NULL)
        return fail(err, errlen, "no protocol_state attribute", sc->line);
    return POLREQ_OK;
}

/* fill_request - the kept values into r through the attrs table (numbers first, as their
 * errors are the ones a request can have); POLREQ_OK or POLREQ_BAD */
static int fill_request(struct polreq *r, const struct scan *sc, char *err, size_t errlen)
{
    char what[64];
    size_t i;

    memset(r, 0, offsetof(struct polreq, arena));
    r->arena_used = 0;
    r->nattrs = sc->line - 1;
    for (i = 0; i < K_COUNT; i++) {
        unsigned long long *num = (unsigned long long *)((char *)r + attrs[i].off);

        if (attrs[i].kind == A_NUMBER && sc->vals[i] &&
            parse_number(sc->vals[i], sc->vlens[i], num) < 0) {
            snprintf(what, sizeof(what), "%s is not a number", attrs[i].name);
            return fail(err, errlen, what, sc->line);
        }
    }
    for (i = 0; i < K_COUNT; i++) {
        const char **str = (const char **)((char *)r + attrs[i].off);

        if (attrs[i].kind != A_STRING)
            continue;
        *str = keep(r, sc->vals[i] ? sc->vals[i] : "", sc->vals[i] ? sc->vlens[i] : 0);
        if (*str == NULL)
            return fail(err, errlen, "request too large", sc->line);
    }
    r->stage = POLREQ_OTHER;
    for (i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
        if (strcasecmp(r->protocol_state, stages[i].name) == 0)
            r->stage = stages[i].stage;
    return POLREQ_OK;
}

/* polreq_parse - one request from the start of buf */
int polreq_parse(struct polreq *r, const char *buf, size_t len, size_t *used, char *err,
                 size_t errlen)
{
    struct scan sc;
    int rc;

    *used = 0;
    if ((rc = scan_request(&sc, buf, len, err, errlen)) != POLREQ_OK ||
        (rc = check_request(&sc, err, errlen)) != POLREQ_OK ||
        (rc = fill_request(r, &sc, err, errlen)) != POLREQ_OK)
        return rc;
    *used = sc.pos;
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
