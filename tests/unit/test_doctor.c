/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of doctor's report (ctl/doctor.c): table lines never wider than
 * 100 columns and nothing of a long word lost in the wrapping, control
 * characters replaced so an answer cannot forge a line, JSON that parses with
 * every character escaped, the exit status, and the cap on checks.
 */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "unit.h"

/* the checks themselves are not under test here */
void doctor_local(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    (void)r, (void)c, (void)o;
}
void doctor_remote(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    (void)r, (void)c, (void)o;
}
void doctor_dns(struct doc_report *r, const struct conf *c, const struct doc_opts *o)
{
    (void)r, (void)c, (void)o;
}

/* table - the report as a table, in a malloc'd string */
static char *table(const struct doc_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    doc_print_table(r, f);
    fclose(f);
    return buf;
}

/* json - the report as JSON, parsed */
static json_object *json(const struct doc_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_object *o;

    ck_assert_ptr_nonnull(f);
    doc_print_json(r, f);
    fclose(f);
    o = json_tokener_parse(buf);
    free(buf);
    ck_assert_ptr_nonnull(o);
    return o;
}

START_TEST(long_words_and_texts_wrap_within_100_columns_losing_nothing)
{
    struct doc_report r = {0};
    char word[301], text[900], *t, *line, *save = NULL, joined[4096] = "", want[4096];
    size_t n = 0;
    int in_fix = 0;

    memset(word, 'a', 300);
    word[300] = '\0';
    snprintf(text, sizeof(text), "x = %s then some more words after it, and %s", word, word);
    doc_add(&r, DOC_FAIL, "postfix", "smtpd_milters", text, "%s", text);
    t = table(&r);
    for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(strlen(line) <= 100, "line of %zu columns: %s", strlen(line), line);
        in_fix |= strncmp(line, "  fix:", 6) == 0; /* the fix's lines come last */
        if (line[0] == ' ' && !in_fix)
            for (const char *p = line; *p; p++)
                if (*p != ' ' && n + 1 < sizeof(joined))
                    joined[n++] = *p;
    }
    joined[n] = '\0';
    n = 0;
    for (const char *p = text; *p; p++)
        if (*p != ' ')
            want[n++] = *p;
    want[n] = '\0';
    ck_assert_str_eq(joined, want);
    free(t);
    doc_report_free(&r);
}
END_TEST

START_TEST(control_characters_cannot_forge_a_line)
{
    struct doc_report r = {0};
    json_object *o, *c, *v;
    char *t;

    doc_add(&r, DOC_OK, "daemons", "x\ny", NULL, "answered\nFAIL  postfix: forged\r\n");
    t = table(&r);
    ck_assert_ptr_null(strstr(t, "\nFAIL  postfix: forged"));
    ck_assert_ptr_nonnull(strstr(t, "answered?FAIL  postfix: forged??"));
    ck_assert_ptr_nonnull(strstr(t, "OK    daemons: x?y\n"));
    free(t);
    o = json(&r);
    c = json_object_array_get_idx(json_object_object_get(o, "checks"), 0);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "found")),
                     "answered?FAIL  postfix: forged??");
    ck_assert(json_object_object_get_ex(c, "fix", &v) && v == NULL); /* null for OK */
    json_object_put(o);
    doc_report_free(&r);
}
END_TEST

START_TEST(json_escapes_quotes_backslashes_and_keeps_utf8)
{
    struct doc_report r = {0};
    json_object *o, *c;

    doc_add(&r, DOC_WARN, "postfix", "a \"quoted\" name", "postconf -e 'x = \"y\\z\"'",
            "caf\xc3\xa9 \\ \"%d\"", 7);
    o = json(&r);
    c = json_object_array_get_idx(json_object_object_get(o, "checks"), 0);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "status")), "WARN");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "check")),
                     "a \"quoted\" name");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "found")),
                     "caf\xc3\xa9 \\ \"7\"");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "fix")),
                     "postconf -e 'x = \"y\\z\"'");
    ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "exit")), 1);
    json_object_put(o);
    doc_report_free(&r);
}
END_TEST

/* valid_utf8 - is s well-formed UTF-8 (no overlong forms, no surrogates)? */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ? 3
                               : *p >= 0xf0 && *p <= 0xf4   ? 4
                                                            : 0;
        if (n == 0)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        if ((n == 3 && *p == 0xe0 && p[1] < 0xa0) || (n == 3 && *p == 0xed && p[1] > 0x9f) ||
            (n == 4 && *p == 0xf0 && p[1] < 0x90) || (n == 4 && *p == 0xf4 && p[1] > 0x8f))
            return 0;
        p += n;
    }
    return 1;
}

START_TEST(invalid_utf8_and_c1_controls_become_question_marks_and_cuts_keep_characters)
{
    struct doc_report r = {0};
    char long_text[1400] = "", *t, *line, *save = NULL;
    json_object *o, *c;

    /* a Latin-1 byte, a stray continuation, an overlong '/', a C1 CSI (ESC [ to some
     * terminals) and a truncated sequence: each '?'; real UTF-8 kept */
    doc_add(&r, DOC_OK, "remote", "connect", NULL,
            "caf\xe9 \x80 \xc0\xaf \xc3\xa9t\xc3\xa9 \xc2\x9b[2J end\xe2\x82");
    for (size_t i = 0; i < 650; i++) /* 1300 bytes: cut at 1024, not inside a character */
        memcpy(long_text + 2 * i, "\xc3\xa9", 3);
    doc_add(&r, DOC_FAIL, "dns", "spf", long_text, "%s", long_text);
    ck_assert_str_eq(r.checks[0].found, "caf? ? ?? \xc3\xa9t\xc3\xa9 ?[2J end??");
    ck_assert(valid_utf8(r.checks[1].found) && valid_utf8(r.checks[1].fix));
    ck_assert_ptr_nonnull(strstr(r.checks[1].found, "\xc3\xa9..."));
    o = json(&r);
    c = json_object_array_get_idx(json_object_object_get(o, "checks"), 1);
    ck_assert(valid_utf8(json_object_get_string(json_object_object_get(c, "found"))));
    json_object_put(o);
    t = table(&r);
    for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        ck_assert_msg(valid_utf8(line) && strlen(line) <= 100, "line: %s", line);
    free(t);
    doc_report_free(&r);
}
END_TEST

START_TEST(exit_status_is_the_worst_finding)
{
    struct doc_report r = {0};

    ck_assert_int_eq(doc_exit_status(&r), 0);
    doc_add(&r, DOC_OK, "a", "b", NULL, "ok");
    ck_assert_int_eq(doc_exit_status(&r), 0);
    doc_add(&r, DOC_WARN, "a", "b", "fix", "warn");
    ck_assert_int_eq(doc_exit_status(&r), 1);
    doc_add(&r, DOC_FAIL, "a", "b", "fix", "fail");
    doc_add(&r, DOC_WARN, "a", "b", "fix", "warn");
    ck_assert_int_eq(doc_exit_status(&r), 2);
    doc_report_free(&r);
}
END_TEST

START_TEST(checks_past_the_cap_are_counted_not_kept)
{
    struct doc_report r = {0};
    json_object *o;
    char *t;

    for (int i = 0; i < DOC_MAX_CHECKS + 5; i++)
        doc_add(&r, DOC_OK, "a", "b", NULL, "%d", i);
    ck_assert_uint_eq(r.n, DOC_MAX_CHECKS);
    ck_assert_uint_eq(r.dropped, 5);
    t = table(&r);
    ck_assert_ptr_nonnull(strstr(t, "(5 more checks not shown)\n"));
    free(t);
    o = json(&r);
    ck_assert_int_eq(json_object_get_int(
                         json_object_object_get(json_object_object_get(o, "summary"), "not_shown")),
                     5);
    json_object_put(o);
    doc_report_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("doctor");
    TCase *tc = tcase_create("report");

    tcase_add_test(tc, long_words_and_texts_wrap_within_100_columns_losing_nothing);
    tcase_add_test(tc, control_characters_cannot_forge_a_line);
    tcase_add_test(tc, json_escapes_quotes_backslashes_and_keeps_utf8);
    tcase_add_test(tc, invalid_utf8_and_c1_controls_become_question_marks_and_cuts_keep_characters);
    tcase_add_test(tc, exit_status_is_the_worst_finding);
    tcase_add_test(tc, checks_past_the_cap_are_counted_not_kept);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
