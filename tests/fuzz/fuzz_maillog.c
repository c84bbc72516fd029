/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the mail log line parser (maillog) of `sendasctl
 * audit`: the input is one line, in a buffer of exactly its size (no NUL).
 * Every field must come back NUL-terminated within its size, a STATUS line
 * must have a queue id and a status, and the advice for whatever dsn was
 * found must fit its buffer.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ipolicy \
 *       tests/fuzz/fuzz_maillog.c policy/maillog.c policy/audit.c policy/buf.c \
 *       -ljson-c -o fuzz_maillog
 *   mkdir -p /tmp/maillog-corpus
 *   ./fuzz_maillog -max_total_time=60 /tmp/maillog-corpus tests/fuzz/corpus/maillog
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maillog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct maillog_ent e;
    char *copy = malloc(size ? size : 1), adv[512];
    enum maillog_kind k;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size); /* exactly size bytes: ASan sees any read past the end */
    k = maillog_parse(copy, size, 2026, &e);
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
    if (maillog_advice(e.dsn, e.reply, e.to, e.relay, adv, sizeof(adv)) &&
        strlen(adv) >= sizeof(adv))
        abort();
    free(copy);
    return 0;
}
