/* SPDX-License-Identifier: MIT */
/*
 * store - where the per-mailbox counters live, behind a small interface.
 *
 * The daemon asks for a mailbox's counters, changes them through quota.h,
 * says so with store_changed(), and calls store_flush() at most once a
 * second and when it stops.  A backend keeps what it needs in memory and
 * persists on flush; the one here is SQLite under state_dir (no server to
 * run).  A shared backend (Redis, so that several relay nodes share one
 * mailbox's limits) implements the same operations.
 */
#ifndef SENDAS_STORE_H
#define SENDAS_STORE_H

#include <stddef.h>

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

#define STORE_RDONLY 1 /* open for reading only (sendasctl): no lock, no writes */

/*
 * store_sqlite_open - the SQLite store DIR/counters.db, loaded into memory.
 * A read-write store also holds DIR/policyd.lock so that two daemons never
 * share one state directory.  Returns NULL with err set on failure; a
 * read-only open of a directory without a database gives an empty store.
 */
struct store *store_sqlite_open(const char *dir, int flags, char *err, size_t errlen);

#endif
