/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite - the counters in memory, persisted to SQLite (see store.h).
 *
 * Every mailbox's counters live in a hash table; a change marks the mailbox
 * dirty and a flush writes the dirty ones in one transaction: a row per
 * mailbox and window holding the window's buckets (window_encode), so a
 * restart restores them exactly.  WAL with synchronous=NORMAL: a commit
 * needs no fsync and survives the process being killed (only a power loss
 * can take back the last commits), and sendasctl reads while the daemon
 * writes.  Flushing once a second bounds what kill -9 loses to one second.
 *
 * The file must never stop the mail: a counters.db SQLite cannot read is
 * moved aside (counters.db.corrupt-TIME) and a new one started, loudly; a
 * state_dir or counters.db removed under the running daemon is noticed at
 * the next flush, recreated, and every counter in memory written again.
 */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define NBUCKETS 4096 /* hash chains; mailboxes are at most CONF_MAX_MAILBOXES, plus old ones */
#define MAX_ENTRIES 65536 /* cap on mailboxes kept (a store full of old names is refused) */

struct ent {
    struct quota_counters q; /* first: store_changed gets a pointer to it */
    char *mailbox;
    int dirty;
    struct ent *next;
};

struct sq {
    struct store base;
    sqlite3 *db;
    sqlite3_stmt *put;
    int lock_fd;
    char *dir, *path, *lock; /* state_dir, its counters.db and policyd.lock */
    dev_t dev;               /* counters.db as opened: a removed file shows as a change */
    ino_t ino;
    int rw;                  /* opened for writing (the daemon) */
    int mem;                 /* no file at all (store_mem_open): flush forgets the marks */
    struct ent *tab[NBUCKETS];
    size_t nents, ndirty;
};

/* hash - FNV-1a of the address, ASCII case folded (a mailbox is case-insensitive: two
 * spellings of it, in two relays' sendas.conf or before and after an edit, are one) */
static size_t hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 16777619u;
    return h % NBUCKETS;
}

/* lookup - the entry of mailbox, created on demand */
static struct ent *lookup(struct sq *s, const char *mailbox, int create)
{
    size_t h = hash(mailbox);
    struct ent *e;

    for (e = s->tab[h]; e; e = e->next)
        if (strcasecmp(e->mailbox, mailbox) == 0)
            return e;
    if (!create || s->nents >= MAX_ENTRIES)
        return NULL;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    if (quota_counters_init(&e->q) < 0 || (e->mailbox = strdup(mailbox)) == NULL) {
        quota_counters_free(&e->q);
        free(e);
        return NULL;
    }
    e->next = s->tab[h];
    s->tab[h] = e;
    s->nents++;
    return e;
}

/* sq_get - store_ops.get */
static struct quota_counters *sq_get(struct store *st, const char *mailbox, int create)
{
    struct ent *e = lookup((struct sq *)st, mailbox, create);

    return e ? &e->q : NULL;
}

/* sq_changed - store_ops.changed */
static void sq_changed(struct store *st, struct quota_counters *q)
{
    struct sq *s = (struct sq *)st;
    struct ent *e = (struct ent *)q;

    if (!e->dirty) {
        e->dirty = 1;
        s->ndirty++;
    }
}

/* sq_dirty - store_ops.dirty */
static size_t sq_dirty(struct store *st)
{
    return ((struct sq *)st)->ndirty;
}

/* put_window - write one window's row */
static int put_window(struct sq *s, const char *mailbox, const char *name,
                      const struct window *w, unsigned char *buf, size_t buflen)
{
    size_t n = window_encode(w, buf, buflen);
    int rc;

    if (n == 0)
        return SQLITE_NOMEM;
    sqlite3_reset(s->put);
    sqlite3_bind_text(s->put, 1, mailbox, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->put, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s->put, 3, buf, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(s->put, 4, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(s->put);
    sqlite3_reset(s->put);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* close_db - finalize and close the database, if open */
static void close_db(struct sq *s)
{
    sqlite3_finalize(s->put);
    s->put = NULL;
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

/* open_db - open (creating) counters.db, its table and statement; SQLite's code, err set */
static int open_db(struct sq *s, char *err, size_t errlen)
{
    struct stat st;
    int rc;

    rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s->db, 2000);
        rc = sqlite3_exec(s->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          "CREATE TABLE IF NOT EXISTS counters (mailbox TEXT NOT NULL,"
                          " window TEXT NOT NULL, data BLOB NOT NULL, updated INTEGER NOT NULL,"
                          " PRIMARY KEY (mailbox, window))",
                          NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT OR REPLACE INTO counters (mailbox, window, data, updated)"
                                " VALUES (?, ?, ?, ?)",
                                -1, &s->put, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        rc = s->db ? sqlite3_errcode(s->db) : rc;
        close_db(s);
        return rc;
    }
    if (stat(s->path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    return SQLITE_OK;
}

/* mark_all_dirty - every counter in memory is written at the next flush */
static void mark_all_dirty(struct sq *s)
{
    struct ent *e;
    size_t i;

    for (i = 0; i < NBUCKETS; i++)
        for (e = s->tab[i]; e; e = e->next)
            if (!e->dirty) {
                e->dirty = 1;
                s->ndirty++;
            }
}

/* mark_clean - nothing waits for a flush */
static void mark_clean(struct sq *s)
{
    struct ent *e;
    size_t i;

    for (i = 0; i < NBUCKETS; i++)
        for (e = s->tab[i]; e; e = e->next)
            e->dirty = 0;
    s->ndirty = 0;
}

/* reset_counters - forget what a failed load read */
static void reset_counters(struct sq *s)
{
    struct ent *e, *next;
    size_t i;

    for (i = 0; i < NBUCKETS; i++) {
        for (e = s->tab[i]; e; e = next) {
            next = e->next;
            quota_counters_free(&e->q);
            free(e->mailbox);
            free(e);
        }
        s->tab[i] = NULL;
    }
    s->nents = s->ndirty = 0;
}

/*
 * check_file - counters.db still the file that was opened?  When state_dir
 * or the file was removed (a cleanup script, an admin), recreate both and
 * write every counter again: otherwise the counts are silently lost at the
 * next restart.  0, or -1 with err set (retried at the next flush).
 */
static int check_file(struct sq *s, char *err, size_t errlen)
{
    struct stat st;
    int rc;

    if (s->db && stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        return 0;
    if (s->db) /* else the last attempt failed and was logged */
        log_err("state_dir %s: %s was removed or replaced under the running daemon: creating it "
                "again and writing every counter in memory",
                s->dir, s->path);
    close_db(s);
    if (mkdir(s->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: cannot create it again: %s", s->dir, strerror(errno));
        return -1;
    }
    /* the lock went with the directory: take it again on the new file */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    if ((s->lock_fd = open(s->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0)
        (void)flock(s->lock_fd, LOCK_EX | LOCK_NB);
    if ((rc = open_db(s, err, errlen)) != SQLITE_OK)
        return -1;
    mark_all_dirty(s);
    return 0;
}

/*
 * move_aside - counters.db (and its -wal, -shm) is not a database SQLite can
 * read: rename it to counters.db.corrupt-TIME for a post-mortem, so that a
 * new one can start.  0, or -1 with err set.
 */
static int move_aside(struct sq *s, char *err, size_t errlen)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char stamp[32], from[4200], to[4200];
    time_t now = time(NULL);
    struct tm tm;
    size_t i;

    if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
        snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
    for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if ((size_t)snprintf(from, sizeof(from), "%s%s", s->path, sfx[i]) >= sizeof(from) ||
            (size_t)snprintf(to, sizeof(to), "%s.corrupt-%s%s", s->path, stamp, sfx[i]) >=
                sizeof(to)) {
            snprintf(err, errlen, "%s: path too long", s->path);
            return -1;
        }
        if (rename(from, to) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "%s is damaged and cannot be moved aside: rename: %s", from,
                     strerror(errno));
            return -1;
        }
    }
    log_err("%s is damaged (not a database SQLite can read): moved aside to %s.corrupt-%s; "
            "starting with empty counters, so each mailbox may send up to its full limits again",
            s->path, s->path, stamp);
    return 0;
}

/* damaged - an SQLite result that means the file itself is unusable */
static int damaged(int rc)
{
    return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* sq_flush - write every dirty mailbox in one transaction */
static int sq_flush(struct store *st, char *err, size_t errlen)
{
    struct sq *s = (struct sq *)st;
    unsigned char *buf;
    size_t buflen, i;
    struct ent *e;
    int rc = SQLITE_OK;

    if (s->mem) {
        mark_clean(s);
        return 0;
    }
    if (!s->rw) {
        if (s->ndirty == 0)
            return 0;
        snprintf(err, errlen, "the store is read-only");
        return -1;
    }
    if (check_file(s, err, errlen) < 0)
        return -1;
    if (s->ndirty == 0)
        return 0;
    /* the larger of the two windows: header plus one uint32 a bucket */
    buflen = 64 + (size_t)(QUOTA_DAY_SPAN / QUOTA_DAY_GRAN + 1) * 4;
    if ((buf = malloc(buflen)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (i = 0; i < NBUCKETS && rc == SQLITE_OK; i++)
        for (e = s->tab[i]; e && rc == SQLITE_OK; e = e->next) {
            if (!e->dirty)
                continue;
            rc = put_window(s, e->mailbox, "messages", &e->q.msgs, buf, buflen);
            if (rc == SQLITE_OK)
                rc = put_window(s, e->mailbox, "recipients", &e->q.rcpts, buf, buflen);
        }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    free(buf);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "writing the counters: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* damaged under the running daemon: a new file, written in full at the next flush */
        if (damaged(sqlite3_errcode(s->db)) || damaged(rc)) {
            close_db(s);
            if (move_aside(s, err, errlen) == 0 && open_db(s, err, errlen) == SQLITE_OK)
                mark_all_dirty(s);
        }
        return -1;
    }
    mark_clean(s);
    return 0;
}

/* by_name - qsort order of entries */
static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct ent *const *)a)->mailbox, (*(struct ent *const *)b)->mailbox);
}

/* sq_each - every mailbox in address order */
static int sq_each(struct store *st, int (*fn)(void *, const char *, struct quota_counters *),
                   void *arg)
{
    struct sq *s = (struct sq *)st;
    struct ent **v, *e;
    size_t i, n = 0;
    int rc = 0;

    if (s->nents == 0)
        return 0;
    if ((v = calloc(s->nents, sizeof(*v))) == NULL)
        return -1;
    for (i = 0; i < NBUCKETS; i++)
        for (e = s->tab[i]; e; e = e->next)
            v[n++] = e;
    qsort(v, n, sizeof(*v), by_name);
    for (i = 0; i < n && rc == 0; i++)
        rc = fn(arg, v[i]->mailbox, &v[i]->q);
    free(v);
    return rc;
}

/* sq_close - free everything */
static void sq_close(struct store *st)
{
    struct sq *s = (struct sq *)st;

    reset_counters(s);
    close_db(s);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->dir);
    free(s->path);
    free(s->lock);
    free(s);
}

/* sq_charge - store_ops.charge: the windows in memory answer; a charge is flushed later */
static int sq_charge(struct store *st, size_t n, const char *const *mailboxes,
                     const struct quota_ask *asks, struct quota_answer *ans, char *err,
                     size_t errlen)
{
    int rc = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        struct ent *e = lookup((struct sq *)st, mailboxes[i], 1);

        if (e == NULL) {
            snprintf(err, errlen, "out of memory (or more than %d mailboxes) for the counters",
                     MAX_ENTRIES);
            memset(&ans[i], 0, sizeof(ans[i]));
            ans[i].limit = -1;
            rc = -1;
            continue;
        }
        quota_window_charge(&e->q, &asks[i], &ans[i]);
        if (asks[i].charge && ans[i].limit == QUOTA_LIMIT_NONE && (asks[i].msgs || asks[i].rcpts))
            sq_changed(st, &e->q);
    }
    return rc;
}

/* sq_mode - store_ops.mode */
static void sq_mode(struct store *st, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", ((struct sq *)st)->mem ? "memory" : "sqlite");
}

static const struct store_ops sq_ops = {sq_get,   sq_changed, sq_flush,  sq_dirty,
                                        sq_each,  sq_close,   sq_charge, sq_mode};

/* store_mem_open - a store without a file */
struct store *store_mem_open(void)
{
    struct sq *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->base.ops = &sq_ops;
    s->lock_fd = -1;
    s->mem = 1;
    return &s->base;
}

/*
 * load - read every row into memory; damaged rows are skipped with a warning.
 * SQLITE_OK, or SQLite's error code with err set.
 */
static int load(struct sq *s, sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *sel = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT mailbox, window, data FROM counters", -1, &sel, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "reading the counters: %s", sqlite3_errmsg(db));
        return sqlite3_errcode(db);
    }
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *mb = (const char *)sqlite3_column_text(sel, 0);
        const char *win = (const char *)sqlite3_column_text(sel, 1);
        const void *data = sqlite3_column_blob(sel, 2);
        int len = sqlite3_column_bytes(sel, 2);
        struct window *w;
        struct ent *e;

        if (mb == NULL || win == NULL || data == NULL || len <= 0)
            continue;
        if ((e = lookup(s, mb, 1)) == NULL) {
            snprintf(err, errlen, "out of memory (or more than %d mailboxes) loading the counters",
                     MAX_ENTRIES);
            sqlite3_finalize(sel);
            return SQLITE_NOMEM;
        }
        w = strcmp(win, "messages") == 0 ? &e->q.msgs : strcmp(win, "recipients") == 0 ? &e->q.rcpts : NULL;
        if (w == NULL || window_decode(w, data, (size_t)len) < 0)
            log_warn("counters of %s (%s): damaged or of another format, starting from zero", mb,
                     win);
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "reading the counters: %s", sqlite3_errmsg(db));
        rc = sqlite3_errcode(db);
        sqlite3_finalize(sel);
        return rc;
    }
    sqlite3_finalize(sel);
    return SQLITE_OK;
}

/* store_sqlite_open - open (and create) DIR/counters.db */
struct store *store_sqlite_open(const char *dir, int flags, char *err, size_t errlen)
{
    char path[4096], lock[4096];
    struct sq *s;
    struct stat st;
    int rdonly = flags & STORE_RDONLY, rc;

    if ((size_t)snprintf(path, sizeof(path), "%s/counters.db", dir) >= sizeof(path) ||
        (size_t)snprintf(lock, sizeof(lock), "%s/policyd.lock", dir) >= sizeof(lock)) {
        snprintf(err, errlen, "state_dir %s: path too long", dir);
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &sq_ops;
    s->lock_fd = -1;
    if ((s->dir = strdup(dir)) == NULL || (s->path = strdup(path)) == NULL ||
        (s->lock = strdup(lock)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (rdonly) {
        if (stat(path, &st) != 0 && errno == ENOENT)
            return &s->base; /* nothing counted yet */
        if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
            goto sqlfail;
        sqlite3_busy_timeout(s->db, 2000);
        if (load(s, s->db, err, errlen) != SQLITE_OK)
            goto fail;
        sqlite3_close(s->db);
        s->db = NULL;
        return &s->base;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: cannot create: %s", dir, strerror(errno));
        goto fail;
    }
    if ((s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "%s: %s", lock, strerror(errno));
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s: %s (is another sendas-policyd using state_dir %s?)", lock,
                 strerror(errno), dir);
        goto fail;
    }
    s->rw = 1;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        rc = SQLITE_NOTADB; /* a directory or a device where the file goes: as unusable */
    else if ((rc = open_db(s, err, errlen)) == SQLITE_OK &&
             (rc = load(s, s->db, err, errlen)) != SQLITE_OK)
        close_db(s);
    if (damaged(rc)) {
        /* a damaged file must not stop the mail (a restart loop, Postfix 451) */
        reset_counters(s);
        if (move_aside(s, err, errlen) < 0)
            goto fail;
        rc = open_db(s, err, errlen);
    }
    if (rc != SQLITE_OK)
        goto fail;
    return &s->base;
sqlfail:
    snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
fail:
    sq_close(&s->base);
    return NULL;
}
