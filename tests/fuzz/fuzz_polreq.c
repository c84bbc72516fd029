/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the policy request parser (polreq), as sendas-policyd
 * uses it: requests are taken from the input one after another until it is
 * used up, incomplete or malformed.  Every parsed request must have been
 * consumed through its empty line, keep no control character, and go
 * through the decision code (routes and limits) without trouble.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Ipolicy -Ilimits \
 *       tests/fuzz/fuzz_polreq.c limits/polreq.c limits/quota.c limits/window.c \
 *       policy/route.c policy/conf.c policy/conf_route.c policy/addr.c policy/rfc2047.c lib/buf.c \
 *       lib/log.c -o fuzz_polreq
 *   mkdir -p /tmp/polreq-corpus
 *   ./fuzz_polreq -max_total_time=300 -print_final_stats=1 /tmp/polreq-corpus \
 *       tests/fuzz/corpus/polreq
 *
 * (libFuzzer writes new inputs into the first directory: keep the seeds second.)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "polreq.h"
#include "quota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] = "mailbox relay@contoso.com\n"
                                "mailbox scanner@contoso.com\n"
                                "route sender:blocked@legacy.local reject\n"
                                "route sasl:printer01 scanner@contoso.com\n"
                                "route client:10.0.0.0/8 scanner@contoso.com\n"
                                "route sender:@corp.local relay@contoso.com\n"
                                "route from:@printers.local scanner@contoso.com\n"
                                "route * relay@contoso.com\n"
                                "limit_messages_per_minute 3\n"
                                "limit_recipients_per_day 5\n";

/* no_controls - a kept value has no byte that could break a reply or a log line */
static void no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct conf *c;
    static struct polreq r;
    struct quota_counters q;
    struct quota_decision d;
    const char *p = (const char *)data;
    char err[256];
    size_t used;
    int64_t now = 1700000000000LL;
    unsigned long idx = 0;

    if (c == NULL && (c = conf_parse("fuzz.conf", conf_text, sizeof(conf_text) - 1, err,
                                     sizeof(err))) == NULL)
        abort();
    if (quota_counters_init(&q) < 0)
        return 0;
    while (size > 0) {
        int rc = polreq_parse(&r, p, size, &used, err, sizeof(err));

        if (rc != POLREQ_OK) {
            if (rc == POLREQ_BAD && strncmp(err, "malformed policy request: ", 26) != 0)
                abort();
            if (rc == POLREQ_MORE && size > POLREQ_MAX_REQUEST)
                abort(); /* a cap was not enforced */
            break;
        }
        if (used == 0 || used > size || used > POLREQ_MAX_REQUEST || p[used - 1] != '\n' ||
            (used >= 2 && p[used - 2] != '\n') || r.arena_used > sizeof(r.arena))
            abort();
        no_controls(r.sender);
        no_controls(r.recipient);
        no_controls(r.client_address);
        no_controls(r.client_name);
        no_controls(r.sasl_username);
        no_controls(r.queue_id);
        no_controls(r.instance);
        quota_route(c, &r, &d);
        if (d.mailbox && d.verdict == QUOTA_DUNNO) {
            quota_limits(c, &r, ++idx, &q, now, &d);
            quota_count(&q, now, &d);
            now += 1500;
        }
        if (strchr(d.action, '\n') || d.action[0] == '\0')
            abort();
        p += used;
        size -= used;
    }
    quota_counters_free(&q);
    return 0;
}
