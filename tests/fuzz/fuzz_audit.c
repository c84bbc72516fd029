/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the audit log's records: the input is read as an
 * audit line (audit_parse, as `sendasctl audit` reads), as a whole audit log
 * split into lines by the bounded splitter (lines, at the real cap of 65536
 * bytes and at a small one), and also used as the strings of a record that is
 * formatted (audit_format, as the daemons write): the line must be within
 * AUDIT_MAX_LINE, end with its only newline, and parse back.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Iaudit \
 *       tests/fuzz/fuzz_audit.c audit/audit.c lib/buf.c lib/lines.c -ljson-c -o fuzz_audit
 *   mkdir -p /tmp/audit-corpus
 *   ./fuzz_audit -max_total_time=60 /tmp/audit-corpus tests/fuzz/corpus/audit
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "buf.h"
#include "fuzz_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* parse_line - one line of the split input as an audit record (cut lines are never parsed) */
static void parse_line(const char *line, size_t len, int overlong, void *rd)
{
    struct audit_in in;

    if (!overlong)
        audit_parse(rd, line, len, &in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct audit_reader *rd;
    struct audit_in in;
    struct audit_rec r;
    struct buf b;
    char *copy = malloc(size + 1);
    int64_t t;

    if (copy == NULL)
        return 0;
    if (rd == NULL && (rd = audit_reader_new()) == NULL)
        abort();
    memcpy(copy, data, size);
    feed_split(data, size, 65536, parse_line, rd);
    feed_split(data, size, 64, parse_line, rd);
    audit_parse(rd, copy, size, &in);
    audit_time_parse(copy, size, &t);
    copy[size] = '\0';
    audit_rec_init(&r);
    r.time_us = size;
    r.env_from = r.header_from = r.reason = r.message_id = r.client_name = copy;
    r.action = "kept";
    buf_init(&b, 1 << 20);
    if (audit_format(&r, &b) != 0)
        abort();
    if (b.len > AUDIT_MAX_LINE || b.data[b.len - 1] != '\n' ||
        memchr(b.data, '\n', b.len - 1) != NULL || audit_parse(rd, b.data, b.len, &in) != 0 ||
        strcmp(in.action, "kept") != 0)
        abort();
    buf_free(&b);
    free(copy);
    return 0;
}
