/* SPDX-License-Identifier: MIT */
/*
 * cmd_quota - `sendasctl quota`: reads sendas-policyd's counters (state_dir)
 * and prints each mailbox's usage against its limits and when each window
 * frees up.  With store redis it reads the shared counters from Redis (at
 * the server's clock) and says how this relay's sendas-policyd counts now:
 * shared, or locally since an outage (state_dir/store.status).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "clock.h"
#include "ctl.h"
#include "pacing.h"
#include "quota.h"
#include "secfile.h"
#include "store.h"

/* What cmd_quota prints, per mailbox. */
struct quota_show {
    const struct conf *c;
    const char *only; /* one mailbox, or NULL */
    int64_t now;
    int shown;
};

/* show_window - one limit: "used/limit", when one more fits, when it is empty */
static void show_window(const char *what, struct window *w, unsigned long long limit,
                        unsigned headroom, int own, int64_t now)
{
    unsigned long long eff = quota_effective(limit, headroom);
    uint64_t used = window_total(w, now);
    char next[40], empty[40];
    int64_t at;

    if (eff == 0) {
        printf("  %-18s %llu (no limit%s)\n", what, (unsigned long long)used, own ? ", own" : "");
        return;
    }
    at = window_free_at(w, now, eff, 1);
    if (at == now)
        snprintf(next, sizeof(next), "now");
    else
        quota_format_time(at, next, sizeof(next));
    if (used == 0)
        snprintf(empty, sizeof(empty), "-");
    else
        quota_format_time(window_empty_at(w, now), empty, sizeof(empty));
    printf("  %-18s %llu/%llu (%u%% of %llu%s)  next free: %s  empty: %s%s\n", what,
           (unsigned long long)used, eff, headroom, limit, own ? ", own" : "", next, empty,
           used >= eff ? "  FULL" : "");
}

/* show_mailbox - the block of one mailbox */
static void show_mailbox(struct quota_show *q, const char *mailbox, struct quota_counters *qc)
{
    const struct conf *c = q->c;
    const struct conf_mailbox *mb = NULL;
    struct conf_limits lim;
    size_t i;

    /* the store's spelling may differ from the file's: Redis keys are lower case */
    for (i = 0; i < c->nmailboxes; i++)
        if (strcasecmp(c->mailboxes[i].address, mailbox) == 0)
            mb = &c->mailboxes[i];
    conf_mailbox_limits(c, mb, &lim);
    printf("%s%s\n", mailbox, mb ? "" : "  (no longer declared in the configuration)");
    /* "own": the mailbox's own limit or headroom (sendas.conf), not the global one */
    show_window("messages/minute", &qc->msgs, lim.messages_per_minute, lim.headroom,
                mb && mb->limits_set & (CONF_LIM_MPM | CONF_LIM_HEADROOM), q->now);
    show_window("recipients/24h", &qc->rcpts, lim.recipients_per_day, lim.headroom,
                mb && mb->limits_set & (CONF_LIM_RPD | CONF_LIM_HEADROOM), q->now);
    if (!pacing_intake_rate_limit(c) && lim.messages_per_minute)
        printf("  %-18s paced by Postfix (pacing yes): not refused at intake\n", "");
    q->shown++;
}

/* quota_each - store_each callback */
static int quota_each(void *arg, const char *mailbox, struct quota_counters *qc)
{
    struct quota_show *q = arg;

    if (q->only == NULL || strcasecmp(q->only, mailbox) == 0)
        show_mailbox(q, mailbox, qc);
    return 0;
}

/* show_status - the first line: which store, and how this relay's sendas-policyd counts */
static void show_status(const struct conf *c)
{
    char path[4200], line[700];

    if (c->store != STORE_REDIS) {
        printf("store: sqlite %s/counters.db\n", c->state_dir);
        return;
    }
    printf("store: redis %s db %lu, shared by %lu relays\n", c->redis_address, c->redis_database,
           (unsigned long)c->relays);
    if (ctl_store_status(c, line, sizeof(line), path, sizeof(path)) < 0)
        printf("this relay's sendas-policyd: no status (%s: not running here?)\n", path);
    else
        printf("this relay's sendas-policyd: %s\n", line);
}

/* ctl_store_status - see ctl.h */
int ctl_store_status(const struct conf *c, char *line, size_t linelen, char *path, size_t pathlen)
{
    FILE *f;
    int ok;

    snprintf(path, pathlen, "%s/" STORE_STATUS_FILE, c->state_dir);
    line[0] = '\0';
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    ok = fgets(line, (int)linelen, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    line[strcspn(line, "\n")] = '\0';
    return 0;
}

/* show_relays - the relays that report to Redis (each one every second while it reaches it) */
static void show_relays(const struct conf *c, struct store *st)
{
    char text[8192], *line, *save = NULL;
    unsigned long n = 0;

    if (c->store != STORE_REDIS)
        return;
    store_redis_relays(st, text, sizeof(text));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        printf("relay %s\n", line);
        n++;
    }
    printf("relays reporting to redis: %lu of %lu (a relay that cannot reach redis counts "
           "alone and does not report)\n", n, (unsigned long)c->relays);
}

/* ctl_open_counters - see ctl.h */
struct store *ctl_open_counters(const struct conf *c, int64_t *now, char *err, size_t errlen)
{
    struct store_redis_opts o;
    struct store *st;
    char *password = NULL;

    *now = clock_now_ms();
    if (c->store != STORE_REDIS)
        return store_sqlite_open(c->state_dir, STORE_RDONLY, err, errlen);
    if (c->redis_password_file &&
        (password = secfile_read_line("redis_password_file", c->redis_password_file,
                                      SECFILE_NO_USER, 1024, err, errlen)) == NULL)
        return NULL;
    memset(&o, 0, sizeof(o));
    o.address = c->redis_address;
    o.database = (unsigned)c->redis_database;
    o.password = password;
    o.relays = (unsigned)c->relays;
    o.timeout_ms = (unsigned)c->redis_timeout;
    st = store_redis_open(&o, STORE_RDONLY, now, err, errlen);
    secret_free(password);
    return st;
}

/* cmd_quota - usage of every mailbox (declared ones without usage too) */
int cmd_quota(const char *conf_path, int argc, char **argv)
{
    char err[CONF_ERRLEN];
    struct quota_show q;
    struct store *st;
    struct conf *c;
    size_t i;

    if (argc > 2) {
        fprintf(stderr, "usage: sendasctl [-c FILE] quota [MAILBOX]\n");
        return 2;
    }
    if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    memset(&q, 0, sizeof(q));
    show_status(c);
    if ((st = ctl_open_counters(c, &q.now, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        conf_free(c);
        return 1;
    }
    show_relays(c, st);
    q.c = c;
    q.only = argc == 2 ? argv[1] : NULL;
    store_each(st, quota_each, &q);
    /* declared mailboxes with nothing counted yet */
    for (i = 0; i < c->nmailboxes; i++) {
        struct quota_counters empty;
        const char *a = c->mailboxes[i].address;

        if (store_get(st, a, 0) || (q.only && strcasecmp(q.only, a) != 0))
            continue;
        if (quota_counters_init(&empty) < 0)
            break;
        show_mailbox(&q, a, &empty);
        quota_counters_free(&empty);
    }
    if (q.only && q.shown == 0)
        fprintf(stderr, "sendasctl: %s: no such mailbox in %s or %s\n", q.only, conf_path,
                c->state_dir);
    store_close(st);
    conf_free(c);
    return q.only && q.shown == 0 ? 1 : 0;
}
