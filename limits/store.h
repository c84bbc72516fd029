/* SPDX-License-Identifier: MIT */
/*
 * store - where the per-mailbox counters live, behind a small interface.
 *
 * The daemon asks one question per request, store_charge(): do this
 * request's messages and recipients fit under the mailbox's effective
 * limits, when would they, and (END-OF-MESSAGE) charge them if they fit.
 * That is one atomic operation of the store, so that relays sharing a store
 * never both admit the last message that fits.  The limits come from
 * quota_prepare (the caller's configuration); the store only counts.
 *
 * Backends: SQLite under state_dir (the default, one relay: windows in
 * memory, persisted by store_flush at most once a second), and Redis
 * (store_redis.c: several relays share one mailbox's counters; while Redis
 * is unreachable each relay counts locally with 1/N of what was left of each
 * limit at Redis's last answer about the mailbox).
 * store_get/store_changed/store_each reach a mailbox's windows in memory:
 * sendasctl quota reads them, and tests.
 */
#ifndef SENDAS_STORE_H
#define SENDAS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "quota.h"

struct store;

struct store_ops {
    struct quota_counters *(*get)(struct store *s, const char *mailbox, int create);
    void (*changed)(struct store *s, struct quota_counters *q);
    int (*flush)(struct store *s, char *err, size_t errlen);
    size_t (*dirty)(struct store *s);
    int (*each)(struct store *s, int (*fn)(void *arg, const char *mailbox,
                                           struct quota_counters *q),
                void *arg);
    void (*close)(struct store *s);
    int (*charge)(struct store *s, size_t n, const char *const *mailboxes,
                  const struct quota_ask *asks, struct quota_answer *ans, char *err,
                  size_t errlen);
    /* "sqlite", "redis shared", "redis local fallback since ..." */
    void (*mode)(struct store *s, char *out, size_t outlen);
};

struct store {
    const struct store_ops *ops;
};

/*
 * store_get - the counters of mailbox; with create, empty counters for a
 * mailbox never seen.  NULL when unknown (create == 0) or out of memory.
 * The pointer stays valid until the store is closed.
 */
static inline struct quota_counters *store_get(struct store *s, const char *mailbox, int create)
{
    return s->ops->get(s, mailbox, create);
}

/* store_changed - q (from store_get) was changed: persist it at the next flush */
static inline void store_changed(struct store *s, struct quota_counters *q)
{
    s->ops->changed(s, q);
}

/* store_flush - persist every change; 0, or -1 with err set (changes are kept for a retry) */
static inline int store_flush(struct store *s, char *err, size_t errlen)
{
    return s->ops->flush(s, err, errlen);
}

/* store_dirty - how many mailboxes wait for a flush */
static inline size_t store_dirty(struct store *s)
{
    return s->ops->dirty(s);
}

/* store_each - call fn for every mailbox, in address order; stops at the first non-zero return */
static inline int store_each(struct store *s,
                             int (*fn)(void *arg, const char *mailbox, struct quota_counters *q),
                             void *arg)
{
    return s->ops->each(s, fn, arg);
}

/* store_close - release everything (does not flush); NULL-safe */
static inline void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

/*
 * store_charge - answer ask for mailbox as one atomic step (see quota.h):
 * ans->limit says which limit does not fit and ans->free_at when it will;
 * with ask->charge and everything fitting, the request is counted.
 * 0, or -1 with err set (an internal error: the caller defers the mail).
 */
static inline int store_charge(struct store *s, const char *mailbox, const struct quota_ask *ask,
                               struct quota_answer *ans, char *err, size_t errlen)
{
    return s->ops->charge(s, 1, &mailbox, ask, ans, err, errlen);
}

/*
 * store_charge_many - n questions at once, answered as if asked one after
 * the other, each one atomic (a shared store sends them in one round trip:
 * the daemon gathers the requests of every client that is ready).  0, or
 * -1 with err set when any failed (its answer's limit is then -1).
 */
static inline int store_charge_many(struct store *s, size_t n, const char *const *mailboxes,
                                    const struct quota_ask *asks, struct quota_answer *ans,
                                    char *err, size_t errlen)
{
    return s->ops->charge(s, n, mailboxes, asks, ans, err, errlen);
}

/* store_mode - one line saying how the store counts now, for logs and sendasctl quota */
static inline void store_mode(struct store *s, char *out, size_t outlen)
{
    s->ops->mode(s, out, outlen);
}

#define STORE_STATUS_FILE "store.status" /* in state_dir: how sendas-policyd counts now */
#define STORE_RDONLY 1 /* open for reading only (sendasctl): no lock, no writes */

/*
 * store_sqlite_open - the SQLite store DIR/counters.db, loaded into memory.
 * A read-write store also holds DIR/policyd.lock so that two daemons never
 * share one state directory.  Returns NULL with err set on failure; a
 * read-only open of a directory without a database gives an empty store.
 */
struct store *store_sqlite_open(const char *dir, int flags, char *err, size_t errlen);

/* store_mem_open - counters in memory only (a shared store's local fallback,
 * a snapshot read from Redis); NULL when out of memory */
struct store *store_mem_open(void);

/* Where and how to reach Redis (sendas.conf store redis). */
struct store_redis_opts {
    const char *address;  /* unix:/PATH, HOST:PORT or [V6]:PORT */
    unsigned database;    /* SELECT */
    const char *password; /* AUTH; NULL for none (never logged) */
    unsigned relays;      /* N: while Redis is down each relay has 1/N of what was left */
    unsigned timeout_ms;  /* connect and each command */
    const char *status_path; /* where the mode is written on each change; NULL for none */
    const char *relay_name;  /* this relay in Redis's list of relays (host and socket); NULL none */
};

/*
 * store_redis_open - the shared store.  Without STORE_RDONLY (sendas-policyd)
 * it never fails because Redis is unreachable: it starts counting locally
 * and connects later.  With STORE_RDONLY (sendasctl quota) it connects now
 * and reads every mailbox's counters into memory (store_each, store_get;
 * store_charge is refused), with the server's clock in *server_now.
 * NULL with err set on failure.
 */
struct store *store_redis_open(const struct store_redis_opts *o, int flags, int64_t *server_now,
                               char *err, size_t errlen);

/*
 * store_redis_relays - a read-only store's list of the relays that reported
 * to Redis in the last RELAY_REPORT_TTL_MS, one "NAME: MODE" line each
 * (sendas-policyd reports every second while it reaches Redis); "" for none
 */
#define RELAY_REPORT_TTL_MS 5000
void store_redis_relays(struct store *s, char *out, size_t outlen);

/* store_redis_test_clock - tests only: use ms instead of the server's TIME (0: TIME again) */
void store_redis_test_clock(struct store *s, int64_t ms);

#endif
