/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the address parser, RFC 2047 decoding and header
 * folding.  Whatever the input:
 *  - addr_parse_list either fails with a code and leaves nothing, or gives
 *    mailboxes within the caps whose names are clean UTF-8;
 *  - every mailbox, formatted (ASCII and UTF-8 forms), has no CR, LF or NUL
 *    and parses back into the same mailbox; folded, it only gains "\n"
 *    before white space;
 *  - addr_parse_path and rfc2047_decode never yield control characters.
 * Any violation aborts, which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "hdr.h"
#include "rfc2047.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check - abort, naming the line, when a property does not hold */
#define check(ok) ((ok) ? (void)0 : fail(__LINE__))

/* fail - report the harness line of a broken property and crash */
static void fail(int line)
{
    fprintf(stderr, "fuzz_addr.c:%d: property does not hold\n", line);
    abort();
}

/* clean_line - s/n has no CR, LF or NUL */
static int clean_line(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    return 1;
}

/* clean_text - s is sanitized text: no control character, no space at the ends or twice */
static int clean_text(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
        if (s[i] == ' ' && s[i + 1] == ' ')
            return 0;
    }
    return 1;
}

/* same - two possibly NULL strings are equal */
static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* check_fold - folding value only inserted "\n" before white space */
static void check_fold(const char *value)
{
    struct buf f;
    size_t i, k = 0;

    buf_init(&f, 4 * strlen(value) + 64);
    check(hdr_fold(&f, "From", value) == BUF_OK);
    for (i = 0; i < f.len; i++) {
        if (f.data[i] == '\n') {
            check(f.data[i + 1] == ' ' || f.data[i + 1] == '\t');
            continue;
        }
        check(f.data[i] == value[k++]);
    }
    check(value[k] == '\0');
    buf_free(&f);
}

/* check_mailbox - format m both ways, check the output and parse it back */
static void check_mailbox(const struct addr_mailbox *m)
{
    struct addr_list r;
    struct buf b;
    int utf8;

    check(m->local != NULL && strlen(m->local) <= ADDR_MAX_LOCAL);
    check(m->domain == NULL || strlen(m->domain) <= ADDR_MAX_DOMAIN);
    check(m->name == NULL || (strlen(m->name) <= ADDR_MAX_NAME && clean_text(m->name)));
    check((m->domain == NULL) == !!(m->defects & ADDR_D_UNQUALIFIED));
    for (utf8 = 0; utf8 <= 1; utf8++) {
        buf_init(&b, 64 * 1024);
        check(addr_format_mailbox(&b, m->name, m->local, m->domain, utf8) == BUF_OK);
        check(clean_line(b.data, b.len));
        check_fold(b.data);
        if (!addr_spec_clean(m->local, m->domain, utf8)) {
            /*
             * Raw bytes that are not UTF-8 (or any 8-bit without utf8) are
             * never written by sendas (rewrite.c checks addr_spec_clean), and
             * need not read back the same: with them the text may pass for
             * Shift_JIS.
             */
            buf_reset(&b);
            check(addr_format_spec(&b, m->local, m->domain) == BUF_OK);
            check(clean_line(buf_cstr(&b), b.len));
            buf_free(&b);
            continue;
        }
        check(addr_parse_list(b.data, b.len, &r) == ADDR_OK);
        check(r.n == 1);
        check(same(r.mb[0].name, m->name));
        check(strcmp(r.mb[0].local, m->local) == 0 && same(r.mb[0].domain, m->domain));
        check(!(r.defects & (ADDR_D_SYNTAX | ADDR_D_BAD_ENCWORD)));
        check(!(r.defects & ADDR_D_NAME_ADDR) == !(m->defects & ADDR_D_NAME_ADDR));
        addr_list_free(&r);
        buf_reset(&b);
        check(addr_format_spec(&b, m->local, m->domain) == BUF_OK);
        check(clean_line(buf_cstr(&b), b.len));
        buf_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct addr_list l;
    struct addr_mailbox m;
    struct buf b;
    unsigned d = 0;
    size_t i;
    int null, rc;

    rc = addr_parse_list(s, size, &l);
    if (rc == ADDR_OK) {
        check(l.n <= ADDR_MAX_MAILBOXES);
        check((l.n == 0) == !!(l.defects & ADDR_D_EMPTY));
        check((l.n > 1) == !!(l.defects & ADDR_D_MULTIPLE));
        for (i = 0; i < l.n; i++) {
            check((l.mb[i].defects & ~l.defects) == 0);
            check_mailbox(&l.mb[i]);
        }
    } else {
        check((rc == ADDR_ECAP || rc == ADDR_ENOMEM) && l.n == 0 && l.mb == NULL);
    }
    addr_list_free(&l);

    rc = addr_parse_path(s, size, &m, &null);
    if (rc == ADDR_OK) {
        check(m.local != NULL && m.name == NULL);
        check(!null || (m.local[0] == '\0' && m.domain == NULL));
        buf_init(&b, 64 * 1024);
        check(addr_format_spec(&b, m.local, m.domain) == BUF_OK);
        check(clean_line(buf_cstr(&b), b.len));
        buf_free(&b);
    }
    addr_mailbox_free(&m);

    buf_init(&b, 8 * size + 64);
    check(rfc2047_decode(s, size, &b, &d) == BUF_OK);
    check(b.len == 0 || clean_text(b.data));
    buf_free(&b);
    return 0;
}
