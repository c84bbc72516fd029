/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of rfc2047: encoded-word decoding, header text hygiene and
 * encoding.  Table-driven, one name per case.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "rfc2047.h"

#define E_(x) RFC2047_D_##x

struct dec_case {
    const char *desc;
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *want;
    unsigned defects;
};

/* clang-format off */
static const struct dec_case dec_cases[] = {
    {"plain ASCII", "John Smith", 0, "John Smith", 0},
    {"raw ISO-2022-JP run", "\x1b$B4IM}<T\x1b(B", 0, "\xe7\xae\xa1\xe7\x90\x86\xe8\x80\x85",
     E_(LEGACY) | E_(8BIT)},
    {"raw ISO-2022-JP between ASCII", "Mr \x1b$BEDCf\x1b(B san", 0, "Mr \xe7\x94\xb0\xe4\xb8\xad san",
     E_(LEGACY) | E_(8BIT)},
    {"raw JIS X 0201 katakana (ISO-2022-JP-3)", "\x1b(I30\x1b(B", 0, "\xef\xbd\xb3\xef\xbd\xb0",
     E_(LEGACY) | E_(8BIT)},
    {"raw Shift_JIS", "\x83\x5c\x83\x74\x83\x67", 0, "\xe3\x82\xbd\xe3\x83\x95\xe3\x83\x88",
     E_(LEGACY) | E_(8BIT)},
    /* issue 9 review: ISO-2022-KR/-CN designate a set once, then shift with SO/SI */
    {"raw ISO-2022-KR run", "\x1b$)C\x0e" "0|8.@Z\x0f", 0, "\xea\xb4\x80\xeb\xa6\xac\xec\x9e\x90",
     E_(LEGACY) | E_(8BIT)},
    {"raw ISO-2022-CN run between ASCII", "Mr \x1b$)A\x0e" "9\\@mT1\x0f san", 0,
     "Mr \xe7\xae\xa1\xe7\x90\x86\xe5\x91\x98 san", E_(LEGACY) | E_(8BIT)},
    {"unknown escape is a control, never kept", "a\x1b$Zb", 0, "a $Zb", 0},
    {"empty", "", 0, "", 0},
    {"white space collapsed and trimmed", " \t John  \t Smith \r\n", 0, "John Smith", 0},
    {"Q word", "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?=", 0, "J\xc3\xbcrgen M\xc3\xbcller",
     E_(ENCWORD)},
    {"Q word lower-case hex", "=?UTF-8?Q?J=c3=bcrgen?=", 0, "J\xc3\xbcrgen", E_(ENCWORD)},
    {"B word", "=?UTF-8?B?SsO8cmdlbg==?=", 0, "J\xc3\xbcrgen", E_(ENCWORD)},
    {"B word without padding", "=?UTF-8?B?SsO8cmdlbg?=", 0, "J\xc3\xbcrgen", E_(ENCWORD)},
    {"US-ASCII word", "=?us-ascii?q?plain?=", 0, "plain", E_(ENCWORD)},
    {"adjacent words joined", "=?utf-8?q?a?= =?utf-8?q?b?=", 0, "ab", E_(ENCWORD)},
    {"adjacent words joined across a fold", "=?utf-8?q?a?=\r\n\t=?utf-8?q?b?=", 0, "ab",
     E_(ENCWORD)},
    {"adjacent words of different charsets joined", "=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", 0,
     "\xc3\xa9\xc3\xa9", E_(ENCWORD)},
    {"character split across words", "=?utf-8?b?w6Q=?= =?utf-8?b?w7w=?=", 0, "\xc3\xa4\xc3\xbc",
     E_(ENCWORD)},
    {"multi-byte split across words", "=?utf-8?b?SsM=?= =?utf-8?b?vHJnZW4=?=", 0, "J\xc3\xbcrgen",
     E_(ENCWORD)},
    {"space kept between word and text", "=?utf-8?q?Dr.?= Who", 0, "Dr. Who", E_(ENCWORD)},
    {"space kept between text and word", "Mr =?utf-8?q?X?=", 0, "Mr X", E_(ENCWORD)},
    {"encoded space kept", "=?utf-8?q?a_?= =?utf-8?q?b?=", 0, "a b", E_(ENCWORD)},
    {"word glued to text", "abc=?utf-8?q?d?=", 0, "abcd", E_(ENCWORD)},
    {"ISO-8859-1 natively", "=?ISO-8859-1?Q?Fran=E7ois?=", 0, "Fran\xc3\xa7ois", E_(ENCWORD)},
    {"Windows-1252 natively", "=?windows-1252?q?=80_=93x=94?=", 0,
     "\xe2\x82\xac \xe2\x80\x9cx\xe2\x80\x9d", E_(ENCWORD)},
    {"ISO-8859-15 via iconv", "=?iso-8859-15?q?=A4?=", 0, "\xe2\x82\xac", E_(ENCWORD)},
    {"KOI8-R via iconv", "=?koi8-r?b?8NLJ18XU?=", 0,
     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", E_(ENCWORD)},
    {"ISO-2022-JP via iconv", "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", 0,
     "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", E_(ENCWORD)},
    {"Shift_JIS via iconv", "=?shift_jis?b?g2WDWINn?=", 0, "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
     E_(ENCWORD)},
    {"RFC 2231 language suffix", "=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", 0, "Gr\xc3\xbc\xc3\x9f"
     "e", E_(ENCWORD)},
    {"unknown charset kept as text", "=?x-klingon?q?abc?=", 0, "=?x-klingon?q?abc?=", E_(BAD)},
    {"iconv option syntax refused", "=?utf-16//TRANSLIT?q?abc?=", 0, "=?utf-16//TRANSLIT?q?abc?=",
     E_(BAD)},
    {"bad Q escape kept", "=?utf-8?q?a=G1?=", 0, "=?utf-8?q?a=G1?=", E_(BAD)},
    {"truncated Q escape kept", "=?utf-8?q?a=4?=", 0, "=?utf-8?q?a=4?=", E_(BAD)},
    {"bad base64 kept", "=?utf-8?b?S!?=", 0, "=?utf-8?b?S!?=", E_(BAD)},
    {"lone base64 character kept", "=?utf-8?b?SsO8c?=", 0, "=?utf-8?b?SsO8c?=", E_(BAD)},
    {"unknown encoding kept", "=?utf-8?x?abc?=", 0, "=?utf-8?x?abc?=", E_(BAD)},
    {"unterminated word kept", "=?utf-8?q?abc", 0, "=?utf-8?q?abc", E_(BAD)},
    {"bad word next to good one", "=?utf-8?q?=ZZ?= =?utf-8?q?ok?=", 0, "=?utf-8?q?=ZZ?= ok",
     E_(BAD) | E_(ENCWORD)},
    {"invalid byte in iconv input", "=?euc-jp?q?=A4=FF?=", 0, "\xef\xbf\xbd\xef\xbf\xbd",
     E_(BAD) | E_(ENCWORD)},
    {"not an encoded word", "a =? b ?= c", 0, "a =? b ?= c", 0},
    {"space inside Q text tolerated", "=?utf-8?q?John Smith?=", 0, "John Smith", E_(ENCWORD)},
    {"CR LF from Q word become a space", "=?utf-8?q?a=0D=0Ab?=", 0, "a b", E_(ENCWORD)},
    {"NUL from Q word becomes a space", "=?utf-8?q?a=00b?=", 0, "a b", E_(ENCWORD)},
    {"controls from B word become spaces", "=?utf-8?b?YQ0KCQAbYg==?=", 0, "a b", E_(ENCWORD)},
    {"C1 control becomes a space", "=?utf-8?q?a=C2=85b?=", 0, "a b", E_(ENCWORD)},
    {"line separator becomes a space", "=?utf-8?q?a=E2=80=A8b?=", 0, "a b", E_(ENCWORD)},
    {"raw CR LF NUL become spaces", "a\r\n\0b", 5, "a b", 0},
    {"raw DEL becomes a space", "a\x7f"
     "b", 0, "a b", 0},
    {"raw valid UTF-8 kept", "J\xc3\xbcrgen", 0, "J\xc3\xbcrgen", E_(8BIT)},
    {"raw Latin-1 read as Windows-1252", "J\xfcrgen \x80", 0, "J\xc3\xbcrgen \xe2\x82\xac",
     E_(8BIT)},
    {"raw undefined Windows-1252 byte becomes a space", "a\x81"
     "b", 0, "a b", E_(8BIT)},
    {"overlong UTF-8 read as Windows-1252", "\xc0\xaf", 0, "\xc3\x80\xc2\xaf", E_(8BIT)},
    {"UTF-8 surrogate read as Windows-1252", "\xed\xa0\x80", 0, "\xc3\xad\xc2\xa0\xe2\x82\xac",
     E_(8BIT)},
    {"invalid UTF-8 in a UTF-8 word", "=?utf-8?q?Fran=E7ois?=", 0, "Fran\xc3\xa7ois", E_(ENCWORD)},
    {"4-byte UTF-8 kept", "=?utf-8?b?8J+Ygw==?=", 0, "\xf0\x9f\x98\x83", E_(ENCWORD)},
};
/* clang-format on */

START_TEST(test_decode_cases)
{
    const struct dec_case *c = &dec_cases[_i];
    size_t len = c->len ? c->len : strlen(c->in);
    struct buf out;
    unsigned d = 0;
    const char *want = c->want;
    size_t wl = strlen(want);

    buf_init(&out, 4096);
    ck_assert_int_eq(rfc2047_decode(c->in, len, &out, &d), BUF_OK);
    ck_assert_msg(out.len == wl && memcmp(buf_cstr(&out), want, wl) == 0, "%s: [%s], want [%.*s]",
                  c->desc, buf_cstr(&out), (int)wl, want);
    ck_assert_msg(d == c->defects, "%s: defects 0x%x, want 0x%x", c->desc, d, c->defects);
    buf_free(&out);
}
END_TEST

START_TEST(test_decode_appends_and_caps)
{
    struct buf out;
    unsigned d = 0;

    buf_init(&out, 8);
    ck_assert_int_eq(buf_puts(&out, "x:"), BUF_OK);
    ck_assert_int_eq(rfc2047_decode(" ab ", 4, &out, &d), BUF_OK);
    ck_assert_str_eq(buf_cstr(&out), "x:ab");
    ck_assert_int_eq(rfc2047_decode("=?utf-8?q?abcdef?=", 18, &out, &d), BUF_ECAP);
    ck_assert_str_eq(buf_cstr(&out), "x:ab"); /* a failed decode appends nothing */
    ck_assert_int_eq(rfc2047_decode("a", 1, &out, NULL), BUF_OK); /* defects may be NULL */
    ck_assert_str_eq(buf_cstr(&out), "x:aba");
    buf_free(&out);
}
END_TEST

START_TEST(test_decode_is_bounded_by_len)
{
    struct buf out;
    unsigned d = 0;

    /* the text past len must never be read: "=?utf-8?q?a?=" cut short is no word */
    buf_init(&out, 64);
    ck_assert_int_eq(rfc2047_decode("=?utf-8?q?a?=", 12, &out, &d), BUF_OK);
    ck_assert_str_eq(buf_cstr(&out), "=?utf-8?q?a?");
    ck_assert_uint_eq(d, RFC2047_D_BAD);
    buf_free(&out);
}
END_TEST

struct enc_case {
    const char *desc;
    const char *in;
    const char *want;
};

/* Checked with Python 3's email.header.decode_header: each decodes back to the input. */
/* clang-format off */
static const struct enc_case enc_cases[] = {
    {"empty", "", ""},
    {"ASCII", "abc", "=?UTF-8?B?YWJj?="},
    {"umlaut", "J\xc3\xbcrgen", "=?UTF-8?B?SsO8cmdlbg==?="},
    {"controls sanitized first", "a\r\nb", "=?UTF-8?B?YSBi?="},
    {"Windows-1252 input repaired", "\x80", "=?UTF-8?B?4oKs?="},
    {"break after a space",
     "Lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod",
     "=?UTF-8?B?TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIA==?= "
     "=?UTF-8?B?YWRpcGlzY2luZyBlbGl0IHNlZCBkbyBlaXVzbW9k?="},
};
/* clang-format on */

START_TEST(test_encode_cases)
{
    const struct enc_case *c = &enc_cases[_i];
    struct buf out;

    buf_init(&out, 4096);
    ck_assert_int_eq(rfc2047_encode(c->in, strlen(c->in), &out), BUF_OK);
    ck_assert_msg(strcmp(buf_cstr(&out), c->want) == 0, "%s: [%s], want [%s]", c->desc,
                  buf_cstr(&out), c->want);
    buf_free(&out);
}
END_TEST

/* Long texts of 1- to 4-byte characters: words <= 75 chars, whole characters, exact round trip. */
START_TEST(test_encode_round_trip)
{
    static const char *const units[] = {
        "a", "a ", "\xc3\xa4", "\xe2\x82\xac", "\xe2\x82\xac ", "\xf0\x9f\x98\x80"};
    struct buf in, enc, dec;
    const char *p, *q;
    unsigned d;
    size_t i, n;

    for (n = 1; n < 120; n += 7) {
        buf_init(&in, 4096);
        buf_init(&enc, 16384);
        buf_init(&dec, 4096);
        for (i = 0; i < n; i++)
            ck_assert_int_eq(buf_puts(&in, units[(i * 7 + (size_t)_i) % 6]), BUF_OK);
        /* encode the sanitized form: that is what a decoder can give back */
        ck_assert_int_eq(rfc2047_sanitize(in.data, in.len, &dec), BUF_OK);
        buf_reset(&in);
        ck_assert_int_eq(buf_append(&in, dec.data, dec.len), BUF_OK);
        buf_reset(&dec);
        ck_assert_int_eq(rfc2047_encode(in.data, in.len, &enc), BUF_OK);
        for (p = enc.data; p; p = q ? q + 1 : NULL) {
            q = strchr(p, ' ');
            ck_assert_msg((q ? (size_t)(q - p) : strlen(p)) <= 75, "word too long");
            ck_assert(strncmp(p, "=?UTF-8?B?", 10) == 0);
        }
        d = 0;
        ck_assert_int_eq(rfc2047_decode(enc.data, enc.len, &dec, &d), BUF_OK);
        ck_assert_uint_eq(d, RFC2047_D_ENCWORD);
        ck_assert_msg(strcmp(buf_cstr(&dec), buf_cstr(&in)) == 0, "[%s] came back as [%s]",
                      buf_cstr(&in), buf_cstr(&dec));
        buf_free(&in);
        buf_free(&enc);
        buf_free(&dec);
    }
}
END_TEST

START_TEST(test_encode_cap)
{
    struct buf out;

    buf_init(&out, 12);
    ck_assert_int_eq(rfc2047_encode("abc", 3, &out), BUF_ECAP);
    buf_free(&out);
}
END_TEST

START_TEST(test_sanitize)
{
    struct buf out;

    buf_init(&out, 64);
    ck_assert_int_eq(rfc2047_sanitize("  a\r\n\tb\0c  ", 11, &out), BUF_OK);
    ck_assert_str_eq(buf_cstr(&out), "a b c");
    buf_reset(&out);
    /* no decoding: an encoded word stays as written */
    ck_assert_int_eq(rfc2047_sanitize("=?utf-8?q?a?=", 13, &out), BUF_OK);
    ck_assert_str_eq(buf_cstr(&out), "=?utf-8?q?a?=");
    buf_reset(&out);
    ck_assert_int_eq(rfc2047_sanitize("\r\n", 2, &out), BUF_OK);
    ck_assert_uint_eq(out.len, 0);
    buf_free(&out);
}
END_TEST

/* rfc2047_legacy converts only what is Japanese legacy text, and copies the rest */
START_TEST(test_legacy)
{
    static const struct {
        const char *in, *want;
        unsigned defects;
    } cases[] = {
        {"plain <a@b>", "plain <a@b>", 0},
        {"J\xfcrgen", "J\xfcrgen", 0},                          /* Latin-1 stays raw */
        {"J\xc3\xbcrgen", "J\xc3\xbcrgen", 0},                  /* UTF-8 stays */
        {"\xd0\x9f\xd1\x80\xd0\xb8 \xff", "\xd0\x9f\xd1\x80\xd0\xb8 \xff", 0}, /* UTF-8 and a stray byte */
        {"\x1b$B4IM}<T\x1b(B <a@b>", "\xe7\xae\xa1\xe7\x90\x86\xe8\x80\x85 <a@b>", E_(LEGACY)},
        {"\"\x1b$B$\"\x1b(B\"", "\"\xe3\x81\x82\"", E_(LEGACY)},
        {"\x8eR\x93" "c <a@b>", "\xe5\xb1\xb1\xe7\x94\xb0 <a@b>", E_(LEGACY)},
        {"\x1b$B4IM", "\xe7\xae\xa1\xef\xbf\xbd", E_(LEGACY) | E_(BAD)}, /* odd byte: U+FFFD */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        unsigned d = 0;

        buf_init(&b, 1024);
        ck_assert_int_eq(rfc2047_legacy(cases[i].in, strlen(cases[i].in), &b, &d), BUF_OK);
        ck_assert_msg(strcmp(buf_cstr(&b), cases[i].want) == 0, "case %zu: got \"%s\"", i,
                      buf_cstr(&b));
        ck_assert_msg(d == cases[i].defects, "case %zu: defects %#x", i, d);
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_is_ascii)
{
    ck_assert(rfc2047_is_ascii("John Smith ~!", 13));
    ck_assert(rfc2047_is_ascii("", 0));
    ck_assert(!rfc2047_is_ascii("a\tb", 3));
    ck_assert(!rfc2047_is_ascii("a\x7f", 2));
    ck_assert(!rfc2047_is_ascii("J\xc3\xbcrgen", 7));
    ck_assert(!rfc2047_is_ascii("a\0b", 3));
}
END_TEST

START_TEST(test_ew_len)
{
    ck_assert_uint_eq(rfc2047_ew_len("=?utf-8?q?a?= rest", 18), 13);
    ck_assert_uint_eq(rfc2047_ew_len("=?utf-8?q?a b?=", 15), 0);
    ck_assert_uint_eq(rfc2047_ew_len("=?utf-8?q?a?=", 12), 0);
    ck_assert_uint_eq(rfc2047_ew_len("plain", 5), 0);
    ck_assert_uint_eq(rfc2047_ew_len("=", 1), 0);
    ck_assert_uint_eq(rfc2047_ew_len("=?a@b?q?x?=", 11), 0); /* especials in the charset */
}
END_TEST

/* suite - every rfc2047 test case */
static Suite *suite(void)
{
    Suite *s = suite_create("rfc2047");
    TCase *tc;

    tc = tcase_create("decode");
    tcase_add_loop_test(tc, test_decode_cases, 0, sizeof(dec_cases) / sizeof(dec_cases[0]));
    tcase_add_test(tc, test_decode_appends_and_caps);
    tcase_add_test(tc, test_decode_is_bounded_by_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_loop_test(tc, test_encode_cases, 0, sizeof(enc_cases) / sizeof(enc_cases[0]));
    tcase_add_loop_test(tc, test_encode_round_trip, 0, 6);
    tcase_add_test(tc, test_encode_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("hygiene");
    tcase_add_test(tc, test_sanitize);
    tcase_add_test(tc, test_is_ascii);
    tcase_add_test(tc, test_legacy);
    tcase_add_test(tc, test_ew_len);
    suite_add_tcase(s, tc);
    return s;
}

/* main - run the suite; exit status for the automake test driver */
int main(void)
{
    return unit_run(suite(), CK_FORK_GETENV);
}
