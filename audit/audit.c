/* SPDX-License-Identifier: MIT */
/*
 * audit - format and read the audit log's JSON lines (see audit.h).
 * JSON is written and read with json-c; this module only bounds and cleans
 * what goes in and what comes out.
 */
#include "audit.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct audit_reader {
    struct json_tokener *tok;
};

/* audit_rec_init - every field unknown */
void audit_rec_init(struct audit_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->rcpt_count = -1;
    r->size = -1;
}

/* utf8_len - length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t need, i;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        need = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        need = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        need = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (need > n)
        return 0;
    for (i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* clean_copy - at most max bytes of s, invalid UTF-8 as '?', never a cut sequence */
static size_t clean_copy(const char *s, size_t max, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, o = 0, l;

    while (i < n && o < max) {
        l = utf8_len(p + i, n - i);
        if (l == 0) {
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + l > max)
            break;
        memcpy(out + o, p + i, l);
        o += l;
        i += l;
    }
    return o;
}

/* add_str - add key: s (cut to max bytes) when s is given */
static int add_str(struct json_object *o, const char *key, const char *s, size_t max)
{
    char tmp[AUDIT_FIELD_MAX];
    struct json_object *v;
    size_t n;

    if (s == NULL)
        return 0;
    if (max > sizeof(tmp))
        max = sizeof(tmp);
    n = clean_copy(s, max, tmp);
    if ((v = json_object_new_string_len(tmp, (int)n)) == NULL)
        return -1;
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

/* build - the record as a JSON object with strings cut to max; NULL when out of memory */
static struct json_object *build(const struct audit_rec *r, size_t max, int with_reason)
{
    struct json_object *o = json_object_new_object(), *v;
    char ts[40];

    if (o == NULL)
        return NULL;
    audit_time_format(r->time_us, ts, sizeof(ts));
    if (add_str(o, "time", ts, sizeof(ts)) < 0 || add_str(o, "component", r->component, max) < 0 ||
        add_str(o, "queue_id", r->queue_id, max) < 0 ||
        add_str(o, "client_addr", r->client_addr, max) < 0 ||
        add_str(o, "client_name", r->client_name, max) < 0 ||
        add_str(o, "sasl_login", r->sasl_login, max) < 0 ||
        add_str(o, "env_from", r->env_from, max) < 0 ||
        add_str(o, "header_from", r->header_from, max) < 0 ||
        add_str(o, "mailbox", r->mailbox, max) < 0 || add_str(o, "action", r->action, max) < 0 ||
        add_str(o, "rule", r->rule, max) < 0 || add_str(o, "stage", r->stage, max) < 0 ||
        (with_reason && add_str(o, "reason", r->reason, max) < 0) ||
        add_str(o, "message_id", r->message_id, max) < 0)
        goto fail;
    if (r->rcpt_count >= 0) {
        if ((v = json_object_new_int64(r->rcpt_count)) == NULL)
            goto fail;
        json_object_object_add(o, "rcpt_count", v);
    }
    if (r->size >= 0) {
        if ((v = json_object_new_int64(r->size)) == NULL)
            goto fail;
        json_object_object_add(o, "size", v);
    }
    return o;
fail:
    json_object_put(o);
    return NULL;
}

/* audit_format - append r as one JSON line of at most AUDIT_MAX_LINE bytes */
int audit_format(const struct audit_rec *r, struct buf *out)
{
    static const struct { size_t max; int reason; } tries[] = {
        {AUDIT_FIELD_MAX, 1}, {AUDIT_FIELD_MIN, 1}, {AUDIT_FIELD_MIN, 0}};
    size_t i, n;

    for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        struct json_object *o = build(r, tries[i].max, tries[i].reason);
        const char *s;
        int rc;

        if (o == NULL)
            return -1;
        s = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        if (s == NULL) {
            json_object_put(o);
            return -1;
        }
        if (n + 1 <= AUDIT_MAX_LINE) {
            rc = buf_append(out, s, n) == BUF_OK && buf_putc(out, '\n') == BUF_OK ? 0 : -1;
            json_object_put(o);
            return rc;
        }
        json_object_put(o);
    }
    return -1; /* not reached: the last try always fits (see audit.h) */
}

/* audit_time_format - RFC 3339 UTC with microseconds */
void audit_time_format(int64_t time_us, char *out, size_t outlen)
{
    clock_format_rfc3339(time_us, 1, out, outlen);
}

/* digits - n decimal digits at s[*i]; -1 when they are not there */
static long digits(const char *s, size_t len, size_t *i, int n)
{
    long v = 0;

    while (n-- > 0) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    return v;
}

/* audit_time_parse - RFC 3339 (or its "+hhmm" offset) or "YYYY-MM-DD[ HH:MM[:SS]]" */
int audit_time_parse(const char *s, size_t len, int64_t *time_us)
{
    size_t i = 0;
    long y, mo, d, h = 0, mi = 0, sec = 0, us = 0, off = 0;
    int scale = 100000;

    if ((y = digits(s, len, &i, 4)) < 0 || i >= len || s[i++] != '-' ||
        (mo = digits(s, len, &i, 2)) < 1 || mo > 12 || i >= len || s[i++] != '-' ||
        (d = digits(s, len, &i, 2)) < 1 || d > 31)
        return -1;
    if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        if ((h = digits(s, len, &i, 2)) < 0 || h > 23 || i >= len || s[i++] != ':' ||
            (mi = digits(s, len, &i, 2)) < 0 || mi > 59)
            return -1;
        if (i < len && s[i] == ':') {
            i++;
            if ((sec = digits(s, len, &i, 2)) < 0 || sec > 60)
                return -1;
            if (i < len && s[i] == '.') {
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
                    if (scale > 0)
                        us += (s[i] - '0') * scale;
            }
        }
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1;
            long oh, om;

            /* "+01:00" (RFC 3339), also "+0100" (journalctl -o short-iso) */
            if ((oh = digits(s, len, &i, 2)) < 0 || oh > 23 || i >= len ||
                (s[i] == ':' && ++i >= len) || (om = digits(s, len, &i, 2)) < 0 || om > 59)
                return -1;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (i != len)
        return -1;
    *time_us = ((clock_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000000 +
               us;
    return 0;
}

/* audit_reader_new - a parser for audit_parse */
struct audit_reader *audit_reader_new(void)
{
    struct audit_reader *rd = calloc(1, sizeof(*rd));

    if (rd && (rd->tok = json_tokener_new_ex(4)) == NULL) {
        free(rd);
        rd = NULL;
    }
    return rd;
}

/* audit_reader_free - NULL-safe */
void audit_reader_free(struct audit_reader *rd)
{
    if (rd == NULL)
        return;
    json_tokener_free(rd->tok);
    free(rd);
}

/* get_str - copy a string member into out (cut to outlen - 1), "" when absent */
static void get_str(struct json_object *o, const char *key, char *out, size_t outlen)
{
    struct json_object *v;
    size_t n;

    out[0] = '\0';
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return;
    n = (size_t)json_object_get_string_len(v);
    if (n >= outlen) { /* cut, but not inside a UTF-8 sequence */
        const unsigned char *s = (const unsigned char *)json_object_get_string(v);

        n = outlen - 1;
        while (n > 0 && (s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, json_object_get_string(v), n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\0')
            out[i] = '?';
}

/* get_int - an integer member, or -1 */
static long long get_int(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return -1;
    return (long long)json_object_get_int64(v);
}

/* audit_parse - read one JSON line back */
int audit_parse(struct audit_reader *rd, const char *line, size_t len, struct audit_in *out)
{
    struct json_object *o;
    char ts[64];

    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len == 0 || len > 65536 || line[0] != '{')
        return -1;
    json_tokener_reset(rd->tok);
    o = json_tokener_parse_ex(rd->tok, line, (int)len);
    if (o == NULL || json_tokener_get_error(rd->tok) != json_tokener_success ||
        json_tokener_get_parse_end(rd->tok) != len || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    get_str(o, "time", ts, sizeof(ts));
    if (audit_time_parse(ts, strlen(ts), &out->time_us) < 0)
        out->time_us = 0;
    get_str(o, "component", out->component, sizeof(out->component));
    get_str(o, "queue_id", out->queue_id, sizeof(out->queue_id));
    get_str(o, "client_addr", out->client_addr, sizeof(out->client_addr));
    get_str(o, "env_from", out->env_from, sizeof(out->env_from));
    get_str(o, "header_from", out->header_from, sizeof(out->header_from));
    get_str(o, "mailbox", out->mailbox, sizeof(out->mailbox));
    get_str(o, "action", out->action, sizeof(out->action));
    get_str(o, "rule", out->rule, sizeof(out->rule));
    get_str(o, "reason", out->reason, sizeof(out->reason));
    out->rcpt_count = (long)get_int(o, "rcpt_count");
    out->size = get_int(o, "size");
    json_object_put(o);
    return 0;
}
