/* SPDX-License-Identifier: MIT */
/*
 * doctor - `sendasctl doctor`: the command line, the configuration check,
 * and the report every check writes to (see doctor.h).
 */
#include "config.h"

#include "doctor.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define DOC_COLS 100 /* table lines never wider */

/* utf8_seq - the length of the well-formed UTF-8 character at s (1 for ASCII), or 0 when the
 * byte starts none (Latin-1 text, a stray continuation byte, an overlong form, a surrogate) */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n = s[0] < 0x80                    ? 1
               : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                              : 0;

    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] > 0x9f) ||
        (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* clean_copy - copy s into out as well-formed UTF-8: control characters (C0, DEL, and C1,
 * which some terminals obey) and bytes of no character as '?' (JSON must be UTF-8); cut
 * with "..." when too long, between characters */
static void clean_copy(char *out, size_t outlen, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p) {
        size_t k = utf8_seq(p);

        if (n + (k ? k : 1) >= outlen)
            break;
        if (k == 0 || p[0] < 0x20 || p[0] == 0x7f || (p[0] == 0xc2 && p[1] < 0xa0)) {
            out[n++] = '?';
            p += k ? k : 1;
            continue;
        }
        memcpy(out + n, p, k);
        n += k, p += k;
    }
    if (*p && outlen > 4) {
        while (n > outlen - 4 || (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80))
            n--;
        memcpy(out + n, "...", 4);
        return;
    }
    out[n] = '\0';
}

/* doc_add - record one check (past DOC_MAX_CHECKS, only counted) */
void doc_add(struct doc_report *r, enum doc_status st, const char *area, const char *name,
             const char *fix, const char *found_fmt, ...)
{
    struct doc_check *k;
    char found[DOC_MAX_TEXT * 2]; /* longer than kept: clean_copy marks the cut */
    va_list ap;

    if (r->n >= DOC_MAX_CHECKS) {
        r->dropped++;
        return;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct doc_check *nk = realloc(r->checks, cap * sizeof(*nk));

        if (nk == NULL) {
            r->dropped++;
            return;
        }
        r->checks = nk;
        r->cap = cap;
    }
    k = &r->checks[r->n++];
    memset(k, 0, sizeof(*k));
    k->status = st;
    clean_copy(k->area, sizeof(k->area), area);
    clean_copy(k->name, sizeof(k->name), name);
    va_start(ap, found_fmt);
    vsnprintf(found, sizeof(found), found_fmt, ap);
    va_end(ap);
    clean_copy(k->found, sizeof(k->found), found);
    clean_copy(k->fix, sizeof(k->fix), fix ? fix : "");
}

/* doc_exit_status - the worst status: 0, 1 or 2 */
int doc_exit_status(const struct doc_report *r)
{
    int worst = 0;

    for (size_t i = 0; i < r->n; i++)
        if (r->checks[i].status == DOC_FAIL)
            worst = 2;
        else if (r->checks[i].status == DOC_WARN && worst < 1)
            worst = 1;
    return worst;
}

static const char *status_name(enum doc_status s)
{
    return s == DOC_OK ? "OK" : s == DOC_WARN ? "WARN" : "FAIL";
}

/* wrap - print text after a prefix of indent columns (first line: lead), at most DOC_COLS wide */
static void wrap(FILE *out, const char *lead, size_t indent, const char *text)
{
    size_t width = DOC_COLS - indent, len = strlen(text);
    const char *p = text;
    int first = 1;

    do {
        size_t take = len < width ? len : width;

        if (take < len) { /* break at the last space that fits, if any */
            size_t sp = take;
            while (sp > width / 2 && p[sp] != ' ')
                sp--;
            if (p[sp] == ' ')
                take = sp;
            else /* else between two characters, not inside one */
                while (take > 1 && ((unsigned char)p[take] & 0xc0) == 0x80)
                    take--;
        }
        fprintf(out, "%-*s%.*s\n", (int)indent, first ? lead : "", (int)take, p);
        first = 0;
        p += take;
        len -= take;
        while (*p == ' ') {
            p++;
            len--;
        }
    } while (len > 0);
}

/* doc_print_table - "STATUS area: name" then the finding and the fix, indented */
void doc_print_table(const struct doc_report *r, FILE *out)
{
    size_t count[3] = {0, 0, 0};
    char head[DOC_COLS + 1];

    for (size_t i = 0; i < r->n; i++) {
        const struct doc_check *k = &r->checks[i];

        count[k->status]++;
        snprintf(head, sizeof(head), "%-4s  %s: %s", status_name(k->status), k->area, k->name);
        wrap(out, head, 0, "");
        wrap(out, "", 6, k->found);
        if (k->status != DOC_OK && k->fix[0])
            wrap(out, "  fix:", 8, k->fix);
    }
    if (r->dropped)
        fprintf(out, "(%zu more checks not shown)\n", r->dropped);
    fprintf(out, "%zu OK, %zu WARN, %zu FAIL\n", count[DOC_OK], count[DOC_WARN], count[DOC_FAIL]);
}

/* doc_print_json - the same as one JSON object (json-c does the escaping) */
void doc_print_json(const struct doc_report *r, FILE *out)
{
    json_object *root = json_object_new_object(), *arr = json_object_new_array();
    json_object *sum = json_object_new_object();
    int count[3] = {0, 0, 0};

    for (size_t i = 0; i < r->n; i++) {
        const struct doc_check *k = &r->checks[i];
        json_object *o = json_object_new_object();

        count[k->status]++;
        json_object_object_add(o, "status", json_object_new_string(status_name(k->status)));
        json_object_object_add(o, "area", json_object_new_string(k->area));
        json_object_object_add(o, "check", json_object_new_string(k->name));
        json_object_object_add(o, "found", json_object_new_string(k->found));
        json_object_object_add(o, "fix", k->fix[0] ? json_object_new_string(k->fix) : NULL);
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "checks", arr);
    json_object_object_add(sum, "ok", json_object_new_int(count[DOC_OK]));
    json_object_object_add(sum, "warn", json_object_new_int(count[DOC_WARN]));
    json_object_object_add(sum, "fail", json_object_new_int(count[DOC_FAIL]));
    json_object_object_add(sum, "not_shown", json_object_new_int64((int64_t)r->dropped));
    json_object_object_add(root, "summary", sum);
    json_object_object_add(root, "exit", json_object_new_int(doc_exit_status(r)));
    fprintf(out, "%s\n",
            json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

/* doc_report_free - release the checks */
void doc_report_free(struct doc_report *r)
{
    free(r->checks);
    memset(r, 0, sizeof(*r));
}

/* check_config - sendas.conf as `sendasctl check` sees it; the loaded snapshot or NULL */
static struct conf *check_config(struct doc_report *r, const char *path)
{
    char err[CONF_ERRLEN], fix[CONF_ERRLEN + 64];
    struct conf *c;

    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
        snprintf(fix, sizeof(fix), "correct %s, then run `sendasctl -c %s check`", path, path);
        doc_add(r, DOC_FAIL, "config", "sendas.conf", fix, "%s", err);
        return NULL;
    }
    doc_add(r, DOC_OK, "config", "sendas.conf", NULL, "%s: %zu mailboxes, %zu routes", path,
            c->nmailboxes, c->nroutes);
    for (size_t w = 0; w < c->nwarnings; w++)
        doc_add(r, DOC_WARN, "config", "sendas.conf warning",
                "correct the line named, then run `sendasctl check`", "%s", c->warnings[w]);
    return c;
}

/* parse_seconds - 1..300; 0, or -1 when v is not such a number */
static int parse_seconds(const char *v, unsigned *out)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > 300 || v[0] == '-')
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* parse_args - the options of doctor; 0, or -1 with a message on stderr */
static int parse_args(int argc, char **argv, struct doc_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;

        if (strcmp(a, "--remote") == 0)
            o->remote = 1, takes = 0;
        else if (strcmp(a, "--dns") == 0)
            o->dns = 1, takes = 0;
        else if (v == NULL)
            takes = -1;
        else if (strcmp(a, "--format") == 0 && strcmp(v, "table") == 0)
            o->format = DOC_TABLE;
        else if (strcmp(a, "--format") == 0 && strcmp(v, "json") == 0)
            o->format = DOC_JSON;
        else if (strcmp(a, "--postfix-dir") == 0)
            o->postfix_dir = v;
        else if (strcmp(a, "--dns-server") == 0)
            o->dns_server = v;
        else if (strcmp(a, "--relayhost") == 0)
            o->relayhost = v;
        else if (strcmp(a, "--ca-file") == 0)
            o->ca_file = v;
        else if (strcmp(a, "--timeout") == 0 && parse_seconds(v, &o->timeout) == 0)
            ;
        else
            takes = -1;
        if (takes < 0) {
            fprintf(stderr, "sendasctl doctor: bad or incomplete option \"%s\"\n", a);
            return -1;
        }
        i += takes;
    }
    return 0;
}

#define DOCTOR_USAGE                                                                       \
    "usage: sendasctl doctor [--remote] [--dns] [--format table|json]\n"                     \
    "       [--postfix-dir DIR] [--relayhost HOST[:PORT]] [--ca-file FILE]\n"                \
    "       [--dns-server IP[:PORT]] [--timeout SECONDS]\n"                                  \
    "exit 0 all OK, 1 warnings, 2 failures, 3 usage; see sendasctl(8)\n"

/* cmd_doctor - run the checks asked for; exit 0 all OK, 1 warnings, 2 failures (3: usage) */
int cmd_doctor(const char *conf_path, int argc, char **argv)
{
    struct doc_opts o = {.conf_path = conf_path, .timeout = 10, .format = DOC_TABLE};
    struct doc_report r = {0};
    struct conf *c;
    int status;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(DOCTOR_USAGE, stdout);
        return 0;
    }
    if (parse_args(argc, argv, &o) < 0) {
        fputs(DOCTOR_USAGE, stderr);
        return 3;
    }
    c = check_config(&r, conf_path);
    doctor_local(&r, c, &o);
    if (o.remote)
        doctor_remote(&r, c, &o);
    if (o.dns)
        doctor_dns(&r, c, &o);
    if (o.format == DOC_JSON)
        doc_print_json(&r, stdout);
    else
        doc_print_table(&r, stdout);
    status = doc_exit_status(&r);
    doc_report_free(&r);
    conf_unref(c);
    return status;
}
