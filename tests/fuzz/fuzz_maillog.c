/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the mail log reader of `sendasctl audit`: the input is
 * one line, in a buffer of exactly its size (no NUL), for the line parser
 * (maillog); and a whole log, split into lines by the bounded line splitter
 * (lines) at the real cap (AU_LINE_MAX, 65536) and at a small one, so that
 * every edge of the cap is reached by short inputs too.  Every field must come
 * back NUL-terminated within its size, a STATUS line must have a queue id and
 * a status, the advice for whatever dsn was found must fit its buffer, and the
 * splitter must hand out every byte of the input at most once, never a line
 * over its cap.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Iaudit \
 *       tests/fuzz/fuzz_maillog.c audit/maillog.c audit/audit.c lib/buf.c lib/lines.c \
 *       -ljson-c -o fuzz_maillog
 *   mkdir -p /tmp/maillog-corpus
 *   ./fuzz_maillog -max_total_time=60 /tmp/maillog-corpus tests/fuzz/corpus/maillog
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_feed.h"
#include "maillog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_line - parse one line, abort on a broken result */
static void check_line(const char *line, size_t len)
{
    struct maillog_ent e;
    char *copy = malloc(len ? len : 1), adv[512];
    enum maillog_kind k;

    if (copy == NULL)
        return;
    memcpy(copy, line, len); /* exactly len bytes: ASan sees any read past the end */
    k = maillog_parse(copy, len, 2026, &e);
    if (k != e.kind || strnlen(e.queue_id, sizeof(e.queue_id)) == sizeof(e.queue_id) ||
        strnlen(e.to, sizeof(e.to)) == sizeof(e.to) ||
        strnlen(e.reply, sizeof(e.reply)) == sizeof(e.reply) ||
        strnlen(e.dsn, sizeof(e.dsn)) == sizeof(e.dsn) ||
        strnlen(e.status, sizeof(e.status)) == sizeof(e.status) ||
        strnlen(e.code, sizeof(e.code)) == sizeof(e.code) ||
        strnlen(e.service, sizeof(e.service)) == sizeof(e.service))
        abort();
    if (k == MAILLOG_STATUS && (!e.queue_id[0] || !e.status[0]))
        abort();
    if (maillog_advice(e.dsn, e.reply, e.to, e.relay, e.service, adv, sizeof(adv)) &&
        strlen(adv) >= sizeof(adv))
        abort();
    free(copy);
}

/* each_line - a line of the split input, whole or cut, through the parser */
static void each_line(const char *line, size_t len, int overlong, void *ctx)
{
    (void)overlong;
    (void)ctx;
    check_line(line, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_line((const char *)data, size);
    feed_split(data, size, 65536, each_line, NULL);
    feed_split(data, size, 64, each_line, NULL);
    return 0;
}
