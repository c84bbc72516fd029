/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of audit (the audit log's JSON lines): a record round trip,
 * the line cap under the worst input, invalid UTF-8 and control characters,
 * and the RFC 3339 time forms.
 */
#include <check.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "audit.h"
#include "buf.h"

/* valid_line - one line, newline-terminated, valid JSON object, within the cap */
static int valid_line(const struct buf *b)
{
    struct json_object *o;
    int ok;

    if (b->len == 0 || b->len > AUDIT_MAX_LINE || b->data[b->len - 1] != '\n' ||
        memchr(b->data, '\n', b->len - 1) != NULL)
        return 0;
    o = json_tokener_parse(b->data);
    ok = o && json_object_is_type(o, json_type_object);
    json_object_put(o);
    return ok;
}

START_TEST(test_round_trip)
{
    struct audit_rec r;
    struct audit_in in;
    struct audit_reader *rd = audit_reader_new();
    struct buf b;

    audit_rec_init(&r);
    r.time_us = 1795842721123456LL;
    r.component = "sendas-milter";
    r.queue_id = "3CFD4A744D0";
    r.client_addr = "192.0.2.10";
    r.client_name = "app1.corp.local";
    r.env_from = "nagios@mon01.corp.local";
    r.header_from = "nagios@mon01.corp.local";
    r.mailbox = "relay@contoso.com";
    r.action = "rewritten";
    r.rule = "*";
    r.reason = "From \"x\" not permitted\n";
    r.message_id = "<1@mon01>";
    r.rcpt_count = 3;
    r.size = 1234;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(audit_format(&r, &b), 0);
    ck_assert(valid_line(&b));
    ck_assert_ptr_nonnull(strstr(b.data, "\"time\":\"2026-11-28T05:12:01.123456Z\""));
    ck_assert_int_eq(audit_parse(rd, b.data, b.len, &in), 0);
    ck_assert_int_eq(in.time_us, r.time_us);
    ck_assert_str_eq(in.component, "sendas-milter");
    ck_assert_str_eq(in.queue_id, "3CFD4A744D0");
    ck_assert_str_eq(in.env_from, "nagios@mon01.corp.local");
    ck_assert_str_eq(in.mailbox, "relay@contoso.com");
    ck_assert_str_eq(in.action, "rewritten");
    ck_assert_str_eq(in.reason, "From \"x\" not permitted\n");
    ck_assert_int_eq(in.rcpt_count, 3);
    ck_assert_int_eq(in.size, 1234);
    buf_free(&b);
    audit_reader_free(rd);
}
END_TEST

/* every string at its worst: long, all control characters (6 bytes escaped each) */
START_TEST(test_cap_worst_case)
{
    static char big[100000];
    struct audit_rec r;
    struct buf b;

    memset(big, 0x01, sizeof(big) - 1);
    audit_rec_init(&r);
    r.component = r.queue_id = r.client_addr = r.client_name = r.sasl_login = r.env_from =
        r.header_from = r.mailbox = r.action = r.rule = r.reason = r.message_id = r.stage = big;
    r.rcpt_count = 0x7fffffff;
    r.size = 0x7fffffffffffffffLL;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(audit_format(&r, &b), 0);
    ck_assert(valid_line(&b));
    buf_reset(&b);
    memset(big, 'a', sizeof(big) - 1); /* long but plain: cut to AUDIT_FIELD_MIN */
    ck_assert_int_eq(audit_format(&r, &b), 0);
    ck_assert(valid_line(&b));
    buf_free(&b);
}
END_TEST

/* bytes that are not UTF-8 become '?'; a cut never splits a character */
START_TEST(test_utf8)
{
    struct audit_rec r;
    struct audit_in in;
    struct audit_reader *rd = audit_reader_new();
    struct buf b;
    char name[AUDIT_FIELD_MAX + 8];
    size_t i;

    audit_rec_init(&r);
    r.time_us = 1;
    r.env_from = "caf\xc3\xa9\xff\xc0\x80@x";
    for (i = 0; i + 2 < sizeof(name); i += 2)
        memcpy(name + i, "\xc3\xa9", 2); /* é repeated past the cap */
    name[i] = '\0';
    r.reason = name;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(audit_format(&r, &b), 0);
    ck_assert(valid_line(&b));
    ck_assert_int_eq(audit_parse(rd, b.data, b.len, &in), 0);
    ck_assert_str_eq(in.env_from, "caf\xc3\xa9???@x");
    ck_assert_uint_eq(strlen(in.reason) % 2, 0);
    buf_free(&b);
    audit_reader_free(rd);
}
END_TEST

static const struct {
    const char *text;
    int rc;
    long long us;
} times[] = {
    {"2026-11-28T05:12:01Z", 0, 1795842721000000LL},
    {"2026-11-28T05:12:01.5Z", 0, 1795842721500000LL},
    {"2026-11-28T06:12:01+01:00", 0, 1795842721000000LL},
    /* journalctl -o short-iso / short-iso-precise (issue 9.6): offset without a colon */
    {"2026-11-28T05:12:01+0000", 0, 1795842721000000LL},
    {"2026-11-28T06:42:01.250000+0130", 0, 1795842721250000LL},
    {"2026-11-28T05:12:01+00", -1, 0},
    {"2026-11-28T05:12:01+0", -1, 0},
    {"2026-11-28T05:12:01+24:00", -1, 0},
    {"2026-11-28T05:12:01+01:60", -1, 0},
    {"2026-11-28 05:12", 0, 1795842720000000LL},
    {"2026-11-28", 0, 1795824000000000LL},
    {"2026-13-28", -1, 0},
    {"2026-11-28T5:12", -1, 0},
    {"yesterday", -1, 0},
    {"", -1, 0},
};

START_TEST(test_times)
{
    int64_t t = 0;

    ck_assert_int_eq(audit_time_parse(times[_i].text, strlen(times[_i].text), &t), times[_i].rc);
    if (times[_i].rc == 0)
        ck_assert_int_eq(t, times[_i].us);
}
END_TEST

START_TEST(test_not_records)
{
    static const char *bad[] = {"", "\n", "[1,2]", "{\"a\":", "not json", "{\"a\":1} trailing",
                                "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}"};
    struct audit_reader *rd = audit_reader_new();
    struct audit_in in;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(audit_parse(rd, bad[i], strlen(bad[i]), &in) == -1, "%s", bad[i]);
    ck_assert_int_eq(audit_parse(rd, "{\"action\":\"kept\"}", 17, &in), 0);
    ck_assert_int_eq(in.time_us, 0);
    audit_reader_free(rd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("audit");

    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_cap_worst_case);
    tcase_add_test(tc, test_utf8);
    tcase_add_loop_test(tc, test_times, 0, sizeof(times) / sizeof(times[0]));
    tcase_add_test(tc, test_not_records);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
