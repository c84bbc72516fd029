/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of store_sqlite: counters written, closed and opened again come
 * back exactly; a read-only open sees what was flushed and nothing more; two
 * writers are kept off one directory; damaged rows start from zero; a
 * damaged file is moved aside and a removed directory created again, so
 * that the file never stops the mail.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "store.h"

#define T0 1700000000000LL

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sendas-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* fill - a recognisable pattern of counts for a mailbox */
static void fill(struct store *s, const char *mb, unsigned k)
{
    struct quota_counters *q = store_get(s, mb, 1);
    unsigned i;

    ck_assert_ptr_nonnull(q);
    for (i = 0; i < 20; i++) {
        window_add(&q->msgs, T0 + i * 1500, k + i);
        window_add(&q->rcpts, T0 - (int64_t)i * 3600000, 10 * k + i);
    }
    store_changed(s, q);
}

/* same - two counters agree at every second of the next day */
static void same(struct quota_counters *a, struct quota_counters *b)
{
    int64_t t;

    for (t = T0 + 30000; t < T0 + 86400000 + 120000; t += 997 * 61) {
        ck_assert_uint_eq(window_total(&a->msgs, t), window_total(&b->msgs, t));
        ck_assert_uint_eq(window_total(&a->rcpts, t), window_total(&b->rcpts, t));
    }
}

START_TEST(test_restart_restores_exactly)
{
    char err[512];
    struct store *s = store_sqlite_open(dir, 0, err, sizeof(err)), *r;
    struct quota_counters want_a, want_b, *got;

    ck_assert_msg(s != NULL, "%s", err);
    fill(s, "relay@contoso.com", 1);
    fill(s, "scanner@contoso.com", 7);
    ck_assert_uint_eq(store_dirty(s), 2);
    ck_assert_int_eq(store_flush(s, err, sizeof(err)), 0);
    ck_assert_uint_eq(store_dirty(s), 0);
    ck_assert_int_eq(store_flush(s, err, sizeof(err)), 0); /* nothing to do */
    store_close(s);

    /* the expected state, built the same way in memory */
    ck_assert_int_eq(quota_counters_init(&want_a), 0);
    ck_assert_int_eq(quota_counters_init(&want_b), 0);
    s = store_sqlite_open(dir, 0, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    {
        /* rebuild the pattern into plain counters */
        unsigned i;

        for (i = 0; i < 20; i++) {
            window_add(&want_a.msgs, T0 + i * 1500, 1 + i);
            window_add(&want_a.rcpts, T0 - (int64_t)i * 3600000, 10 + i);
            window_add(&want_b.msgs, T0 + i * 1500, 7 + i);
            window_add(&want_b.rcpts, T0 - (int64_t)i * 3600000, 70 + i);
        }
    }
    got = store_get(s, "relay@contoso.com", 0);
    ck_assert_ptr_nonnull(got);
    same(got, &want_a);
    got = store_get(s, "scanner@contoso.com", 0);
    ck_assert_ptr_nonnull(got);
    same(got, &want_b);
    ck_assert_ptr_null(store_get(s, "nobody@contoso.com", 0));

    /* a second writer is refused; a reader is not, and sees only what was flushed */
    r = store_sqlite_open(dir, 0, err, sizeof(err));
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, "another sendas-policyd") != NULL, "%s", err);
    fill(s, "late@contoso.com", 3); /* not flushed */
    r = store_sqlite_open(dir, STORE_RDONLY, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_ptr_nonnull(store_get(r, "relay@contoso.com", 0));
    ck_assert_ptr_null(store_get(r, "late@contoso.com", 0));
    ck_assert_int_eq(store_flush(r, err, sizeof(err)), 0); /* clean: nothing to write */
    store_close(r);
    store_close(s);
    quota_counters_free(&want_a);
    quota_counters_free(&want_b);
}
END_TEST

/* each - count the mailboxes and check their order */
static int each_cb(void *arg, const char *mailbox, struct quota_counters *q)
{
    char *last = arg;

    ck_assert_msg(strcmp(last, mailbox) < 0, "%s after %s", mailbox, last);
    snprintf(last, 256, "%s", mailbox);
    (void)q;
    return 0;
}

START_TEST(test_each_in_order)
{
    char err[512], last[256] = "";
    struct store *s = store_sqlite_open(dir, 0, err, sizeof(err));

    ck_assert_msg(s != NULL, "%s", err);
    fill(s, "c@x.com", 1);
    fill(s, "a@x.com", 1);
    fill(s, "b@x.com", 1);
    ck_assert_int_eq(store_each(s, each_cb, last), 0);
    ck_assert_str_eq(last, "c@x.com");
    store_close(s);
}
END_TEST

START_TEST(test_readonly_without_database)
{
    char err[512], sub[128];
    struct store *s;

    snprintf(sub, sizeof(sub), "%s/none", dir);
    s = store_sqlite_open(sub, STORE_RDONLY, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_ptr_null(store_get(s, "a@x.com", 0));
    store_close(s);
    store_close(NULL);
}
END_TEST

START_TEST(test_damaged_rows_start_from_zero)
{
    char err[512], cmd[512];
    struct store *s = store_sqlite_open(dir, 0, err, sizeof(err));
    struct quota_counters *q;

    ck_assert_msg(s != NULL, "%s", err);
    fill(s, "relay@contoso.com", 1);
    ck_assert_int_eq(store_flush(s, err, sizeof(err)), 0);
    store_close(s);
    snprintf(cmd, sizeof(cmd),
             "sqlite3 '%s/counters.db' \"UPDATE counters SET data = x'00112233' WHERE window = "
             "'messages'\"",
             dir);
    if (system(cmd) != 0)
        return; /* no sqlite3 shell: nothing to damage with */
    s = store_sqlite_open(dir, 0, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    q = store_get(s, "relay@contoso.com", 0);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(window_total(&q->msgs, T0 + 30000), 0);
    ck_assert_uint_gt(window_total(&q->rcpts, T0), 0);
    store_close(s);
}
END_TEST

/* count_aside - files DIR/counters.db.corrupt-* */
static int count_aside(void)
{
    char cmd[256];
    FILE *f;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '^counters.db.corrupt-'", dir);
    if ((f = popen(cmd, "r")) != NULL) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

START_TEST(test_damaged_file_moved_aside)
{
    char err[512], path[128];
    struct store *s;
    FILE *f;
    int i;

    snprintf(path, sizeof(path), "%s/counters.db", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    for (i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    s = store_sqlite_open(dir, 0, err, sizeof(err));
    ck_assert_msg(s != NULL, "a damaged counters.db must not stop the service: %s", err);
    ck_assert_int_eq(count_aside(), 1);
    fill(s, "relay@contoso.com", 1);
    ck_assert_msg(store_flush(s, err, sizeof(err)) == 0, "%s", err);
    store_close(s);
    s = store_sqlite_open(dir, STORE_RDONLY, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_ptr_nonnull(store_get(s, "relay@contoso.com", 0));
    store_close(s);
}
END_TEST

START_TEST(test_removed_directory_recreated)
{
    char err[512], cmd[256];
    struct store *s = store_sqlite_open(dir, 0, err, sizeof(err)), *r;
    struct quota_counters *q, *back;

    ck_assert_msg(s != NULL, "%s", err);
    fill(s, "relay@contoso.com", 3);
    fill(s, "scanner@contoso.com", 5);
    ck_assert_int_eq(store_flush(s, err, sizeof(err)), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    /* nothing changed since: the flush still notices, and writes everything again */
    ck_assert_msg(store_flush(s, err, sizeof(err)) == 0, "%s", err);
    r = store_sqlite_open(dir, STORE_RDONLY, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    q = store_get(s, "scanner@contoso.com", 0);
    back = store_get(r, "scanner@contoso.com", 0);
    ck_assert_ptr_nonnull(back);
    same(q, back);
    ck_assert_ptr_nonnull(store_get(r, "relay@contoso.com", 0));
    store_close(r);
    store_close(s);
}
END_TEST

START_TEST(test_bad_directory)
{
    char err[512];

    ck_assert_ptr_null(store_sqlite_open("/nonexistent/dir/x", 0, err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot create") != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_restart_restores_exactly);
    tcase_add_test(tc, test_each_in_order);
    tcase_add_test(tc, test_readonly_without_database);
    tcase_add_test(tc, test_damaged_rows_start_from_zero);
    tcase_add_test(tc, test_bad_directory);
    tcase_add_test(tc, test_damaged_file_moved_aside);
    tcase_add_test(tc, test_removed_directory_recreated);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
