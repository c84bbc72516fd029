/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the audit log's records: the input is read as an
 * audit line (audit_parse, as `sendasctl audit` reads), as a whole audit log
 * split into lines by the bounded splitter (lines, at the real cap of 65536
 * bytes and at a small one), and also used as the strings of a record that is
 * formatted (audit_format, as the daemons write): the line must be within
 * AUDIT_MAX_LINE, end with its only newline, and parse back.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ipolicy \
 *       tests/fuzz/fuzz_audit.c policy/audit.c policy/buf.c policy/lines.c -ljson-c -o fuzz_audit
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
#include "lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* split - the input as an audit log of lines of at most cap bytes, each parsed */
static void split(struct audit_reader *rd, const uint8_t *data, size_t size, size_t cap)
{
    struct feed f = {data, size, 0};
    struct audit_in in;
    struct lines l;
    const char *line;
    size_t len, total = 0, n = 0;
    int flags;

    if (lines_init(&l, cap, feed_read, &f) < 0)
        abort();
    while (lines_next(&l, &line, &len, &flags) == 1) {
        if (len > cap || memchr(line, '\n', len) != NULL)
            abort();
        total += len;
        if (!(flags & LINES_OVERLONG) && n++ < 64)
            audit_parse(rd, line, len, &in);
    }
    if (total > size || l.error)
        abort();
    lines_free(&l);
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
    split(rd, data, size, 65536);
    split(rd, data, size, 64);
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
