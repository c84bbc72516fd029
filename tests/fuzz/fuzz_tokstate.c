/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the state files sendasctl token reads (ctl/tokstate.c):
 * the input is a MAILBOX.state file in a buffer of exactly its size (no NUL).
 * It aborts when a file is accepted that has any line but the six sendas-tokend
 * writes (a forged line is believed), when last_error is not printable ASCII
 * within its cap, when what was read does not read back the same after being
 * written the way sendas-tokend writes it, or when a refused file leaves
 * anything behind in the result.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *       -Ictl tests/fuzz/fuzz_tokstate.c ctl/tokstate.c -o fuzz_tokstate
 *   mkdir -p /tmp/fuzz-tokstate
 *   ./fuzz_tokstate -max_total_time=180 /tmp/fuzz-tokstate tests/fuzz/corpus/tokstate
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokstate.h"

#define MB "relay@contoso.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tokstate t, back;
    char *copy = malloc(size ? size : 1), again[TOKSTATE_MAX_FILE];
    size_t i, lines = 0;
    int n;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size); /* exactly size bytes: ASan sees any read past the end */
    if (tokstate_parse(copy, size, MB, &t) < 0) {
        if (t.expires || t.last_refresh || t.last_attempt || t.failures || t.last_error[0])
            abort(); /* refused, yet half believed */
        free(copy);
        return 0;
    }
    for (i = 0; i < size; i++)
        lines += copy[i] == '\n';
    if (lines != 6 || size > TOKSTATE_MAX_FILE)
        abort(); /* a line beyond the six keys was accepted */
    for (i = 0; t.last_error[i]; i++)
        if ((unsigned char)t.last_error[i] < 0x20 || (unsigned char)t.last_error[i] >= 0x7f)
            abort();
    if (i > TOKSTATE_MAX_ERROR)
        abort();
    /* sendas-tokend's own format (tokend/sendas-tokend.c write_states) must read back */
    n = snprintf(again, sizeof(again),
                 "mailbox=%s\nexpires=%lld\nlast_refresh=%lld\nlast_attempt=%lld\n"
                 "failures=%lu\nlast_error=%s\n",
                 MB, t.expires, t.last_refresh, t.last_attempt, t.failures, t.last_error);
    if (n < 0 || (size_t)n >= sizeof(again))
        abort();
    if (tokstate_parse(again, (size_t)n, MB, &back) < 0 || back.expires != t.expires ||
        back.last_refresh != t.last_refresh || back.last_attempt != t.last_attempt ||
        back.failures != t.failures || strcmp(back.last_error, t.last_error) != 0)
        abort();
    free(copy);
    return 0;
}
