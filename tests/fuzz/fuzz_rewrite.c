/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the rewrite planner.  The input is a message head:
 * byte 0 holds flags (bit 0 non-SMTP, bit 1 SMTPUTF8), then lines; the first
 * line is the envelope sender, the others "Name: value" headers (a line
 * starting with white space continues the one before).  The plan is applied
 * to the headers the way the milter protocol does it, and whatever the input:
 *  - non-SMTP mail is never refused, an internal error leaves no operations;
 *  - every value the plan writes is clean: no CR or NUL, LF only before white
 *    space, no control character, 7-bit unless SMTPUTF8;
 *  - operations name headers that exist (1-based index per name);
 *  - after a rewrite of From exactly one From is left; when the plan adds the
 *    trace header it is the only one left (a client's never survives), and
 *    at most one Reply-To is left when the plan wrote one.
 * Any violation aborts, which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HDRS 1024 /* headers of one input simulated */

static const char conf_text[] =
    "mailbox relay@contoso.com sendas alerts@contoso.com @shared.contoso.com\n"
    "mailbox scanner@contoso.com\n"
    "route from:@printers.corp.local scanner@contoso.com\n"
    "route sender:blocked@legacy.local reject\n"
    "route * relay@contoso.com\n"
    "qualify_domain corp.local\n"
    "remove_dkim_from yes\n";

/* check - abort, naming the line, when a property does not hold */
#define check(ok) ((ok) ? (void)0 : fail(__LINE__))

/* fail - report the harness line of a broken property and crash */
static void fail(int line)
{
    fprintf(stderr, "fuzz_rewrite.c:%d: property does not hold\n", line);
    abort();
}

/* One header of the simulated message; name and value point into scratch. */
struct hdr {
    char name[64];
    const char *value;
    int gone;
};

/* nth - the index in h of the n-th (1-based) live header called name, or -1 */
static int nth(struct hdr *h, size_t nh, const char *name, int n)
{
    size_t i;

    for (i = 0; i < nh; i++)
        if (!h[i].gone && strcasecmp(h[i].name, name) == 0 && --n == 0)
            return (int)i;
    return -1;
}

/* count - live headers called name */
static size_t count(const struct hdr *h, size_t nh, const char *name)
{
    size_t i, n = 0;

    for (i = 0; i < nh; i++)
        n += !h[i].gone && strcasecmp(h[i].name, name) == 0;
    return n;
}

/* clean_value - a generated value is clean header text */
static int clean_value(const char *v, int utf8)
{
    const unsigned char *q;

    for (q = (const unsigned char *)v; *q; q++) {
        if (*q == '\n' && (q[1] == ' ' || q[1] == '\t'))
            continue;
        if ((*q < 0x20 && *q != '\t') || *q == 0x7f || (*q >= 0x80 && !utf8))
            return 0;
    }
    return 1;
}

static struct conf *conf;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hdr h[MAX_HDRS];
    char err[CONF_ERRLEN], *text, *line, *next, *env = NULL;
    struct rw_msg m;
    struct rw_plan p;
    size_t nh = 0, i, nlines = 0;
    int rc, from_op = 0, trace_added = 0, rt_written = 0;

    if (conf == NULL && (conf = conf_parse("fuzz.conf", conf_text, strlen(conf_text), err,
                                           sizeof(err))) == NULL) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    if (size < 1)
        return 0;
    if ((text = malloc(size)) == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    rw_msg_init(&m);
    m.non_smtp = data[0] & 1;
    m.smtputf8 = (data[0] >> 1) & 1;
    m.trace_name = conf->trace_header;
    m.client_addr = "192.0.2.10";
    /* split into lines; NUL ends the input early, as a header value cannot hold one */
    for (line = text; line && *line && nh < MAX_HDRS; line = next) {
        char *colon;

        next = strchr(line, '\n');
        if (next && (next[1] == ' ' || next[1] == '\t')) {
            /* a folded value: keep "\n" in it, as the milter receives */
            char *e = next;

            while (e && (e[1] == ' ' || e[1] == '\t'))
                e = strchr(e + 1, '\n');
            next = e;
        }
        if (next)
            *next++ = '\0';
        if (nlines++ == 0) {
            env = line;
            continue;
        }
        if ((colon = strchr(line, ':')) == NULL || colon == line || colon - line >= 64)
            continue;
        memcpy(h[nh].name, line, (size_t)(colon - line));
        h[nh].name[colon - line] = '\0';
        h[nh].value = colon + 1 + (colon[1] == ' ');
        h[nh].gone = 0;
        check(rw_msg_add_header(&m, h[nh].name, h[nh].value, strlen(h[nh].value), 2048) == 0);
        nh++;
    }
    m.env_sender = env ? env : "";

    rc = rw_plan_message(conf, &m, &p);
    check(rc == 0 || rc == -1);
    if (rc < 0)
        check(p.nops == 0 && p.new_env_sender == NULL);
    if (m.non_smtp)
        check(p.action == RW_KEEP || p.action == RW_REWRITE);
    if (p.action == RW_REJECT || p.action == RW_TEMPFAIL)
        check(p.rcode && p.xcode && p.rcode[0] == p.xcode[0] && p.nops == 0);
    if (p.new_env_sender)
        check(clean_value(p.new_env_sender, 0));
    for (i = 0; i < p.nops && p.action == RW_REWRITE; i++) {
        const struct rw_op *op = &p.ops[i];
        int k;

        if (op->value)
            check(clean_value(op->value, m.smtputf8));
        if (strcasecmp(op->name, "From") == 0)
            from_op = 1;
        switch (op->kind) {
        case RW_OP_CHANGE:
        case RW_OP_DELETE:
            k = nth(h, nh, op->name, op->index);
            /* an index past the simulated headers may name one not simulated (MAX_HDRS) */
            check(k >= 0 || nh == MAX_HDRS);
            if (k >= 0 && op->kind == RW_OP_DELETE)
                h[k].gone = 1;
            else if (k >= 0)
                h[k].value = op->value;
            if (op->kind == RW_OP_CHANGE && strcasecmp(op->name, "Reply-To") == 0)
                rt_written = 1;
            break;
        case RW_OP_ADD:
            check(op->value != NULL);
            if (nh < MAX_HDRS) {
                snprintf(h[nh].name, sizeof(h[nh].name), "%s", op->name);
                h[nh].value = op->value;
                h[nh].gone = 0;
                nh++;
            }
            if (conf->trace_header && strcasecmp(op->name, conf->trace_header) == 0)
                trace_added++;
            if (strcasecmp(op->name, "Reply-To") == 0)
                rt_written = 1;
            break;
        }
    }
    if (nh < MAX_HDRS && p.action == RW_REWRITE) {
        if (from_op)
            check(count(h, nh, "From") == 1);
        check(trace_added <= 1);
        if (trace_added)
            check(count(h, nh, conf->trace_header) == 1);
        if (rt_written)
            check(count(h, nh, "Reply-To") == 1);
    }
    rw_plan_free(&p);
    rw_msg_reset(&m);
    free(text);
    return 0;
}
