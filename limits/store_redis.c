/* SPDX-License-Identifier: MIT */
/*
 * store_redis - the counters shared by several relays on one Redis (see store.h).
 *
 * A mailbox has one hash, sendas:{MAILBOX}, with both windows: messages (60 s
 * in 1 s buckets, fields m<k>) and recipients (24 h in 1 min buckets, fields
 * r<k>), k the bucket index (time / granularity) and the value its count;
 * mh/rh hold each window's newest bucket and mt/rt its sum.  Every question is one Lua script (SCRIPT LOAD
 * once, EVALSHA after, loaded again on NOSCRIPT) that advances both windows,
 * says whether the request fits and when it would, and charges it: atomic on
 * the server, so two relays can never both admit the last message that fits.
 * The clock is the server's TIME, so relays with skewed clocks agree.  The
 * semantics are window.c's (a bucket counts in full until all of it has
 * left the window: never under-counts), and every write sets the key's
 * expiry to when its newest bucket leaves its window (at most 24 h and a
 * minute), so nothing outlives its windows.
 *
 * Redis unreachable, slow (redis_timeout) or failing: nothing is refused
 * because of it.  The relay counts in memory with 1/N of what was left of
 * each limit when it last heard from Redis about the mailbox (N = relays; see
 * local_share), says so once in the log and in the status file, tries again after
 * 1 s, doubling to 30 s (at a request or at the daemon's once-a-second
 * flush, never more often), and when Redis answers again adds what it counted
 * meanwhile to the shared counters (at the time of the return: later than it
 * happened, so more is counted, never less) and counts shared again.
 */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sockspec.h"

#define KEY_PREFIX "sendas:"
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define MAX_KEY 600 /* prefix, an address (at most 320 bytes), braces, suffix */
#define SCAN_MAX_KEYS 200000 /* a snapshot reads at most this many keys */
#define MAX_BATCH 64 /* questions pipelined in one round trip */

/* The script: KEYS[1] the mailbox's hash; ARGV message limit, recipient
 * limit, messages, recipients, charge (0 check, 1 check and charge, 2 charge
 * without check), test clock ("" = TIME).  Returns {limit refused (0 none,
 * 1 messages, 2 recipients), free at, now, messages in the minute, recipients
 * in the 24 hours} (the sums after the charge: what the local fallback starts
 * from should the next answer not come).  Both windows live in one hash
 * (fields mh/mt and rh/rt: newest bucket and sum; m<k> and r<k>: bucket k),
 * so that a check is TIME and one HMGET, and a charge one HSET and one
 * PEXPIRE: each redis.call costs about as much as the rest of the script. */
static const char script[] =
    "local key = KEYS[1]\n"
    "local now\n"
    "if ARGV[6] ~= '' then now = tonumber(ARGV[6]) else\n"
    "  local t = redis.call('TIME')\n"
    "  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    "local v = redis.call('HMGET', key, 'mh', 'mt', 'rh', 'rt')\n"
    "local del, all = {}, nil\n"
    "local function fields()\n"
    "  if not all then all = redis.call('HGETALL', key) end\n"
    "  return all\n"
    "end\n"
    /* drop the buckets that left the window; the newest bucket never goes back */
    "local function advance(p, h, t, span, gran)\n"
    "  local nb = span / gran\n"
    "  local kt = math.floor(now / gran)\n"
    "  h, t = tonumber(h), tonumber(t) or 0\n"
    "  if not h then return kt, 0, false end\n"
    "  if kt <= h then return h, t, false end\n"
    "  if kt - h > nb then\n"
    "    for k = 1, #fields(), 2 do\n"
    "      if string.sub(all[k], 1, 1) == p and tonumber(string.sub(all[k], 2)) then del[#del + 1] = all[k] end\n"
    "    end\n"
    "    return kt, 0, true\n"
    "  end\n"
    "  if kt - h > 64 then\n"
    "    for i = 1, #fields(), 2 do\n"
    "      local k = string.sub(all[i], 1, 1) == p and tonumber(string.sub(all[i], 2))\n"
    "      if k and k < kt - nb then t = t - tonumber(all[i + 1]) del[#del + 1] = all[i] end\n"
    "    end\n"
    "  else\n"
    "    local old = {}\n"
    "    for k = h - nb, kt - nb - 1 do old[#old + 1] = p .. k end\n"
    "    local c = redis.call('HMGET', key, unpack(old))\n"
    "    for i = 1, #old do\n"
    "      if c[i] then t = t - tonumber(c[i]) del[#del + 1] = old[i] end\n"
    "    end\n"
    "  end\n"
    "  return kt, t, true\n"
    "end\n"
    /* when need more fit under limit: window_free_at */
    "local function free_at(p, span, gran, h, t, limit, need)\n"
    "  if need > limit then return -1 end\n"
    "  if t + need <= limit then return now end\n"
    "  local excess, freed, ks, cnt, gone = t + need - limit, 0, {}, {}, {}\n"
    "  for _, f in ipairs(del) do gone[f] = true end\n"
    "  for i = 1, #fields(), 2 do\n"
    "    local k = string.sub(all[i], 1, 1) == p and tonumber(string.sub(all[i], 2))\n"
    "    if k and k >= h - span / gran and not gone[all[i]] then ks[#ks + 1] = k cnt[k] = tonumber(all[i + 1]) end\n"
    "  end\n"
    "  table.sort(ks)\n"
    "  for _, k in ipairs(ks) do\n"
    "    freed = freed + cnt[k]\n"
    "    if freed >= excess then return (k + 1) * gran + span end\n"
    "  end\n"
    "  return (h + 1) * gran + span\n"
    "end\n"
    "local mlim, rlim = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local nm, nr, charge = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local mh, mt, mmoved = advance('m', v[1], v[2], 60000, 1000)\n"
    "local rh, rt, rmoved = advance('r', v[3], v[4], 86400000, 60000)\n"
    "local which, at = 0, now\n"
    "if charge ~= 2 then\n"
    "  if mlim > 0 then at = free_at('m', 60000, 1000, mh, mt, mlim, nm) if at ~= now then which = 1 end end\n"
    "  if which == 0 and rlim > 0 then\n"
    "    at = free_at('r', 86400000, 60000, rh, rt, rlim, nr)\n"
    "    if at ~= now then which = 2 end\n"
    "  end\n"
    "end\n"
    "local add = which == 0 and charge ~= 0\n"
    "if add and nm > 0 then\n"
    "  redis.call('HINCRBY', key, 'm' .. mh, nm)\n"
    "  mt = mt + nm mmoved = true\n"
    "end\n"
    "if add and nr > 0 then\n"
    "  redis.call('HINCRBY', key, 'r' .. rh, nr)\n"
    "  rt = rt + nr rmoved = true\n"
    "end\n"
    "if #del > 0 then redis.call('HDEL', key, unpack(del)) end\n"
    "if mmoved or rmoved then\n"
    "  redis.call('HSET', key, 'mh', mh, 'mt', mt, 'rh', rh, 'rt', rt)\n"
    /* the key lives until its newest bucket has left its window */
    "  local ttl = (mh + 1) * 1000 + 60000 - now\n"
    "  if rt > 0 then ttl = (rh + 1) * 60000 + 86400000 - now end\n"
    "  if ttl < 1000 then ttl = 1000 end\n"
    "  if ttl > 86460000 then ttl = 86460000 end\n"
    "  redis.call('PEXPIRE', key, ttl)\n"
    "end\n"
    "return {which, at, now, mt, rt}\n";

_Static_assert(QUOTA_MINUTE_SPAN == 60000 && QUOTA_MINUTE_GRAN == 1000 &&
                   QUOTA_DAY_SPAN == 86400000 && QUOTA_DAY_GRAN == 60000,
               "the script's window geometry is quota.h's");

struct rs {
    struct store base;
    redisContext *ctx;        /* NULL while Redis is unreachable */
    struct sockspec addr;
    char *address;            /* as configured, for messages */
    unsigned db, relays, timeout_ms;
    char *password;           /* wiped on close; never logged */
    char *status_path;
    char *relay_key;          /* KEY_PREFIX "relay:" NAME, where this relay reports its mode */
    int64_t reported;         /* monotonic ms of the last report */
    char *relays_seen;        /* read-only: the relays' reports */
    char sha[64];             /* the script's SHA1 once loaded */
    struct store *local;      /* counters while Redis is unreachable; the snapshot (rdonly) */
    struct store *unsent;     /* what local admitted that Redis has not been given yet */
    struct store *seen;       /* per mailbox, the shared sums of the last answer, each as one
                               * event at the relay's clock then (see remember) */
    int rdonly;
    int down;                 /* counting locally */
    int64_t down_since;       /* wall clock, ms */
    int64_t retry_at;         /* monotonic, ms */
    int64_t backoff;          /* ms until the next try after a failure */
    char why[256];            /* why Redis is unusable (no password in it) */
    int64_t test_clock;       /* tests: ms instead of TIME; 0 = TIME */
};

/* drop - forget the connection */
static void drop(struct rs *s)
{
    if (s->ctx)
        redisFree(s->ctx);
    s->ctx = NULL;
}

/*
 * command - run argv; the reply, or NULL with err set.  An I/O error or a
 * timeout drops the connection (hiredis cannot use it again); an error reply
 * is returned as it is.
 */
static redisReply *command(struct rs *s, int argc, const char **argv, const size_t *lens,
                           char *err, size_t errlen)
{
    redisReply *r;

    if (s->ctx == NULL) {
        snprintf(err, errlen, "not connected");
        return NULL;
    }
    r = redisCommandArgv(s->ctx, argc, argv, lens);
    if (r == NULL) {
        snprintf(err, errlen, "%s", s->ctx->err ? s->ctx->errstr : "no reply");
        if (s->ctx->err == REDIS_ERR_IO && errno == EAGAIN)
            snprintf(err, errlen, "no answer within redis_timeout (%u ms)", s->timeout_ms);
        drop(s);
    }
    return r;
}

/* simple - a command whose reply must not be an error; 0, or -1 with err set */
static int simple(struct rs *s, const char *what, int argc, const char **argv, char *err,
                  size_t errlen)
{
    redisReply *r = command(s, argc, argv, NULL, err, errlen);
    int rc = 0;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %.200s", what, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* load_script - SCRIPT LOAD; 0 with s->sha set, or -1 */
static int load_script(struct rs *s, char *err, size_t errlen)
{
    const char *argv[] = {"SCRIPT", "LOAD", script};
    redisReply *r = command(s, 3, argv, NULL, err, errlen);
    int rc = -1;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING && r->len < sizeof(s->sha)) {
        memcpy(s->sha, r->str, r->len);
        s->sha[r->len] = '\0';
        rc = 0;
    } else {
        snprintf(err, errlen, "SCRIPT LOAD: %.200s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

/* connect_redis - connect with timeouts, AUTH, SELECT, load the script; 0, or -1 with err */
static int connect_redis(struct rs *s, char *err, size_t errlen)
{
    struct timeval tv = {(time_t)(s->timeout_ms / 1000), (suseconds_t)(s->timeout_ms % 1000) * 1000};
    char db[24];
    const char *auth[] = {"AUTH", s->password};
    const char *sel[] = {"SELECT", db};

    drop(s);
    s->ctx = s->addr.kind == SOCKSPEC_UNIX ? redisConnectUnixWithTimeout(s->addr.path, tv)
                                          : redisConnectWithTimeout(s->addr.host, (int)s->addr.port, tv);
    if (s->ctx == NULL || s->ctx->err) {
        snprintf(err, errlen, "connecting: %s", s->ctx ? s->ctx->errstr : "out of memory");
        drop(s);
        return -1;
    }
    if (redisSetTimeout(s->ctx, tv) != REDIS_OK) {
        snprintf(err, errlen, "setting the timeout: %s", s->ctx->errstr);
        drop(s);
        return -1;
    }
    snprintf(db, sizeof(db), "%u", s->db);
    if ((s->password && simple(s, "AUTH (redis_password_file)", 2, auth, err, errlen) < 0) ||
        (s->db && simple(s, "SELECT (redis_database)", 2, sel, err, errlen) < 0) ||
        load_script(s, err, errlen) < 0) {
        drop(s);
        return -1;
    }
    return 0;
}

/* key - KEY_PREFIX{mailbox}, ASCII lower-cased: a mailbox is case-insensitive, so relays
 * whose sendas.conf spell it differently share its one hash; 0, or -1 when too long */
static int key(char *out, size_t outlen, const char *mailbox)
{
    size_t n = (size_t)snprintf(out, outlen, KEY_PREFIX "{%s}", mailbox), i;

    if (n >= outlen)
        return -1;
    for (i = strlen(KEY_PREFIX); i < n; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    return 0;
}

/* The arguments of one EVALSHA (hiredis copies them when it appends the command). */
#define EVAL_ARGC 10
struct evalargs {
    char key[MAX_KEY], a[6][24];
    const char *argv[EVAL_ARGC];
};

/* eval_args - the EVALSHA command for mailbox and ask; 0, or -1 with err (address too long) */
static int eval_args(struct rs *s, struct evalargs *e, const char *mailbox,
                     const struct quota_ask *ask, int charge, char *err, size_t errlen)
{
    int i;

    if (key(e->key, sizeof(e->key), mailbox) < 0) {
        snprintf(err, errlen, "mailbox address too long for a key");
        return -1;
    }
    snprintf(e->a[0], sizeof(e->a[0]), "%llu", (unsigned long long)ask->msg_limit);
    snprintf(e->a[1], sizeof(e->a[1]), "%llu", (unsigned long long)ask->rcpt_limit);
    snprintf(e->a[2], sizeof(e->a[2]), "%u", ask->msgs);
    snprintf(e->a[3], sizeof(e->a[3]), "%u", ask->rcpts);
    snprintf(e->a[4], sizeof(e->a[4]), "%d", charge);
    e->a[5][0] = '\0';
    if (s->test_clock)
        snprintf(e->a[5], sizeof(e->a[5]), "%lld", (long long)s->test_clock);
    e->argv[0] = "EVALSHA";
    e->argv[1] = s->sha;
    e->argv[2] = "1";
    e->argv[3] = e->key;
    for (i = 0; i < 6; i++)
        e->argv[4 + i] = e->a[i];
    return 0;
}

/*
 * remember - the shared sums mt and rt Redis gave for mailbox at the relay's
 * time now, for the fallback (local_share).  Each is kept as one event at
 * now: it counts in full until at least a whole window after this answer,
 * when every event it stands for has surely left the window (never
 * under-counts; it may count a sum up to one bucket longer than Redis).  Out
 * of memory only loses the memory: the fallback then has the plain 1/N.
 */
static void remember(struct rs *s, const char *mailbox, int64_t now, long long mt, long long rt)
{
    struct quota_counters *q = store_get(s->seen, mailbox, 1);

    if (q == NULL)
        return;
    window_clear(&q->msgs);
    window_clear(&q->rcpts);
    window_add(&q->msgs, now, mt <= 0 ? 0 : mt > UINT32_MAX ? UINT32_MAX : (uint32_t)mt);
    window_add(&q->rcpts, now, rt <= 0 ? 0 : rt > UINT32_MAX ? UINT32_MAX : (uint32_t)rt);
}

/* parse_answer - the script's reply into ans, its sums into mt and rt; 0, 1 for NOSCRIPT,
 * or -1 with err set */
static int parse_answer(const redisReply *r, struct quota_answer *ans, long long *mt,
                        long long *rt, char *err, size_t errlen)
{
    size_t i;

    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
        return 1;
    for (i = 0; r->type == REDIS_REPLY_ARRAY && r->elements == 5 && i < 5; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            break;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 || i < 5) {
        snprintf(err, errlen, "the counting script: %.200s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return -1;
    }
    memset(ans, 0, sizeof(*ans));
    ans->limit = (int)r->element[0]->integer;
    ans->free_at = r->element[1]->integer;
    ans->now = r->element[2]->integer;
    *mt = r->element[3]->integer;
    *rt = r->element[4]->integer;
    return 0;
}

/* eval - EVALSHA the script (loading it again after NOSCRIPT); 0, or -1 with err set */
static int eval(struct rs *s, const char *mailbox, const struct quota_ask *ask, int charge,
                struct quota_answer *ans, char *err, size_t errlen)
{
    struct evalargs e;
    redisReply *r;
    long long mt, rt;
    int tries, rc = -1;

    if (eval_args(s, &e, mailbox, ask, charge, err, errlen) < 0)
        return -1;
    for (tries = 0; tries < 2; tries++) {
        if ((r = command(s, EVAL_ARGC, e.argv, NULL, err, errlen)) == NULL)
            return -1;
        rc = parse_answer(r, ans, &mt, &rt, err, errlen);
        freeReplyObject(r);
        if (rc == 0)
            remember(s, mailbox, ask->now, mt, rt);
        if (rc != 1)
            return rc;
        /* SCRIPT FLUSH, a restart without persistence, a failover */
        if (load_script(s, err, errlen) < 0)
            return -1;
    }
    snprintf(err, errlen, "the counting script is not loaded (NOSCRIPT twice)");
    return -1;
}

/*
 * read_fits - the reply to HMGET KEY mt rt: 1 when ask surely fits.  The
 * sums still hold buckets the script has not pruned yet, so they count at
 * least what is in the windows: what fits under them fits under the script
 * too.  0 when unsure (the script answers then, with when it frees up).
 */
static int read_fits(struct rs *s, const char *mailbox, const redisReply *r,
                     const struct quota_ask *ask)
{
    unsigned long long mt, rt;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return 0;
    mt = r->element[0]->type == REDIS_REPLY_STRING ? strtoull(r->element[0]->str, NULL, 10) : 0;
    rt = r->element[1]->type == REDIS_REPLY_STRING ? strtoull(r->element[1]->str, NULL, 10) : 0;
    /* at least what is in the windows: safe for the fallback to start from */
    remember(s, mailbox, ask->now, mt > LLONG_MAX ? LLONG_MAX : (long long)mt,
             rt > LLONG_MAX ? LLONG_MAX : (long long)rt);
    return (ask->msg_limit == 0 || mt + ask->msgs <= ask->msg_limit) &&
           (ask->rcpt_limit == 0 || rt + ask->rcpts <= ask->rcpt_limit);
}

/*
 * plain_read - question i is a check that no later question of the batch
 * charges to the same mailbox: one the script answers later (read_fits
 * unsure) then finds the mailbox as it was at i's place in the batch
 */
static int plain_read(size_t n, const char *const *mbs, const struct quota_ask *asks, size_t i)
{
    size_t j;

    if (asks[i].charge)
        return 0;
    for (j = i + 1; j < n; j++)
        if (asks[j].charge && strcasecmp(mbs[j], mbs[i]) == 0)
            return 0;
    return 1;
}

/* append - queue a question: a plain read of the sums (read), or the script */
static int append(struct rs *s, const char *mailbox, const struct quota_ask *ask, int read,
                  char *err, size_t errlen)
{
    struct evalargs e;
    const char *rd[] = {"HMGET", e.key, "mt", "rt"};

    if (eval_args(s, &e, mailbox, ask, ask->charge, err, errlen) < 0)
        return -1;
    if (redisAppendCommandArgv(s->ctx, read ? 4 : EVAL_ARGC, read ? rd : e.argv, NULL) !=
        REDIS_OK) {
        snprintf(err, errlen, "out of memory");
        return -2;
    }
    return 0;
}

/*
 * eval_many - n questions in one round trip (pipelined); done[i] set for each
 * one answered.  A check that surely fits costs Redis one HMGET, not a
 * script run.  0, or -1 with err set when any was not answered.
 */
static int eval_many(struct rs *s, size_t n, const char *const *mbs, const struct quota_ask *asks,
                     struct quota_answer *ans, unsigned char *done, char *err, size_t errlen)
{
    unsigned char sent[MAX_BATCH], again[MAX_BATCH], read[MAX_BATCH];
    size_t i;
    int failed = 0, rc;

    memset(sent, 0, sizeof(sent));
    memset(again, 0, sizeof(again));
    for (i = 0; i < n; i++) {
        read[i] = (unsigned char)plain_read(n, mbs, asks, i);
        if ((rc = append(s, mbs[i], &asks[i], read[i], err, errlen)) == -2) {
            drop(s);
            return -1;
        }
        sent[i] = rc == 0;
        failed |= rc < 0;
    }
    for (i = 0; i < n; i++) {
        redisReply *r = NULL;

        if (!sent[i])
            continue;
        if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || r == NULL) {
            snprintf(err, errlen, "%s", s->ctx->errstr[0] ? s->ctx->errstr : "no reply");
            if (s->ctx->err == REDIS_ERR_IO && errno == EAGAIN)
                snprintf(err, errlen, "no answer within redis_timeout (%u ms)", s->timeout_ms);
            drop(s);
            return -1;
        }
        if (read[i]) {
            rc = read_fits(s, mbs[i], r, &asks[i]) ? 0 : 1;
            memset(&ans[i], 0, sizeof(ans[i]));
            ans[i].free_at = ans[i].now = s->test_clock ? s->test_clock : asks[i].now;
        } else {
            long long mt, rt;

            if ((rc = parse_answer(r, &ans[i], &mt, &rt, err, errlen)) == 0)
                remember(s, mbs[i], asks[i].now, mt, rt);
        }
        freeReplyObject(r);
        if (rc == 0)
            done[i] = 1;
        else if (rc == 1) /* NOSCRIPT, or a check near the limit */
            again[i] = 1;
        else
            failed = 1;
    }
    for (i = 0; i < n && s->ctx; i++)
        if (again[i] && eval(s, mbs[i], &asks[i], asks[i].charge, &ans[i], err, errlen) == 0)
            done[i] = 1;
        else if (again[i])
            failed = 1;
    return failed ? -1 : 0;
}

/* write_status - the mode for sendasctl quota: STATUS written anew, then renamed over */
static void write_status(struct rs *s)
{
    char tmp[4200], line[600];
    FILE *f;

    if (s->status_path == NULL)
        return;
    store_mode(&s->base, line, sizeof(line));
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", s->status_path) >= sizeof(tmp) ||
        (f = fopen(tmp, "w")) == NULL)
        return;
    fprintf(f, "%s\n", line);
    if (fclose(f) != 0 || rename(tmp, s->status_path) != 0)
        unlink(tmp);
}

/* go_down - Redis failed: count locally, said once until it returns */
static void go_down(struct rs *s, const char *why)
{
    int64_t mono = clock_mono_ms();

    drop(s);
    snprintf(s->why, sizeof(s->why), "%s", why);
    s->retry_at = mono + s->backoff;
    s->backoff = s->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff * 2;
    if (s->down)
        return;
    s->down = 1;
    s->down_since = clock_now_ms();
    log_err("redis %s: %s: counting on this relay alone with 1/%u of what was left of each "
            "limit until it answers again (trying every %d to %d s)",
            s->address, why, s->relays, BACKOFF_MIN_MS / 1000, BACKOFF_MAX_MS / 1000);
    write_status(s);
}

/* push_one - add what mailbox's fallback counted to the shared counters, then forget it
 * there, so that a hand-over failing at a later mailbox does not give it twice */
static int push_one(void *arg, const char *mailbox, struct quota_counters *q)
{
    struct rs *s = arg;
    struct quota_answer ans;
    struct quota_ask ask;
    char err[300];
    int64_t now = clock_now_ms();

    memset(&ask, 0, sizeof(ask));
    ask.now = now; /* the time remember files the answer's sums at */
    ask.msgs = (uint32_t)window_total(&q->msgs, now);
    ask.rcpts = (uint32_t)window_total(&q->rcpts, now);
    if (ask.msgs == 0 && ask.rcpts == 0)
        return 0;
    if (eval(s, mailbox, &ask, 2, &ans, err, sizeof(err)) < 0) {
        log_err("redis %s: adding the counts of %s made during the outage: %s", s->address,
                mailbox, err);
        return -1;
    }
    window_clear(&q->msgs);
    window_clear(&q->rcpts);
    return 0;
}

/* come_back - Redis answers again: hand over the local counts, count shared */
static void come_back(struct rs *s)
{
    struct store *fresh;

    if (!s->down)
        return;
    if (store_each(s->unsent, push_one, s) < 0 || s->ctx == NULL) {
        go_down(s, "failed again while taking over the local counts");
        return;
    }
    if ((fresh = store_mem_open()) != NULL) {
        store_close(s->local);
        s->local = fresh;
    }
    if ((fresh = store_mem_open()) != NULL) {
        store_close(s->unsent);
        s->unsent = fresh;
    }
    log_info("redis %s answers again after %llds: counting shared with the other relays",
             s->address, (long long)((clock_now_ms() - s->down_since) / 1000));
    s->down = 0;
    s->backoff = BACKOFF_MIN_MS;
    write_status(s);
}

/* try_connect - reconnect when the backoff has passed */
static void try_connect(struct rs *s)
{
    char err[300];

    if (s->ctx || clock_mono_ms() < s->retry_at)
        return;
    if (connect_redis(s, err, sizeof(err)) < 0) {
        go_down(s, err);
        return;
    }
    come_back(s);
}

/* share - (limit - used) / relays, rounded down: N relays together never pass the limit,
 * so a limit below N (or a remainder below N) gives each relay 0 */
static uint64_t share(uint64_t limit, uint64_t used, unsigned relays)
{
    return limit > used ? (limit - used) / (relays ? relays : 1) : 0;
}

/*
 * local_share - answer ask from this relay's own counters with its share:
 * 1/N of what was left of each limit at the last answer from Redis about the
 * mailbox (remember), the last sums counting until a whole window after it.
 * Those sums held everything the relays had counted in the window; during the
 * outage each relay adds at most its 1/N of the rest: the total stays inside
 * the limit.  A mailbox without an answer since this relay started has the
 * plain 1/N.  A share of 0 refuses (with when a share frees up, or -1 when
 * not during the outage) instead of meaning "no limit" as a limit of 0 does.
 */
static int local_share(struct rs *s, const char *mailbox, const struct quota_ask *ask,
                       struct quota_answer *ans, char *err, size_t errlen)
{
    struct quota_ask mine = *ask;
    struct quota_counters *q, *last = store_get(s->seen, mailbox, 0);
    uint64_t um = last ? window_total(&last->msgs, ask->now) : 0;
    uint64_t ur = last ? window_total(&last->rcpts, ask->now) : 0;

    mine.msg_limit = share(ask->msg_limit, um, s->relays);
    mine.rcpt_limit = share(ask->rcpt_limit, ur, s->relays);
    if ((ask->msg_limit && !mine.msg_limit && ask->msgs) ||
        (ask->rcpt_limit && !mine.rcpt_limit && ask->rcpts)) {
        int msgs = ask->msg_limit && !mine.msg_limit && ask->msgs;
        struct window *w = last == NULL ? NULL : msgs ? &last->msgs : &last->rcpts;
        uint64_t limit = msgs ? ask->msg_limit : ask->rcpt_limit;

        memset(ans, 0, sizeof(*ans));
        ans->limit = msgs ? QUOTA_LIMIT_MSGS : QUOTA_LIMIT_RCPTS;
        ans->now = ask->now;
        /* the last sums leave the window: the plain 1/N then, if that is not 0 too */
        ans->free_at = w && (msgs ? um : ur) && share(limit, 0, s->relays)
                           ? window_empty_at(w, ask->now)
                           : -1;
        ans->local = 1;
        return 0;
    }
    /* a share of 0 left here is of a window this question asks nothing of: unchecked */
    if (store_charge(s->local, mailbox, &mine, ans, err, errlen) < 0)
        return -1;
    ans->local = 1;
    /* local keeps counting the share while Redis is away, unsent what to hand over */
    if (ask->charge && ans->limit == QUOTA_LIMIT_NONE && (ask->msgs || ask->rcpts)) {
        if ((q = store_get(s->unsent, mailbox, 1)) == NULL) {
            snprintf(err, errlen, "out of memory for the counts to hand over");
            return -1;
        }
        window_add(&q->msgs, ask->now, ask->msgs);
        window_add(&q->rcpts, ask->now, ask->rcpts);
    }
    return 0;
}

/* rs_charge - store_ops.charge: shared when Redis answers (MAX_BATCH a round trip), else
 * the local share */
static int rs_charge(struct store *st, size_t n, const char *const *mbs,
                     const struct quota_ask *asks, struct quota_answer *ans, char *err,
                     size_t errlen)
{
    struct rs *s = (struct rs *)st;
    unsigned char done[MAX_BATCH];
    char why[300];
    size_t i, k, m;
    int rc = 0;

    if (s->rdonly) {
        snprintf(err, errlen, "the store is read-only");
        return -1;
    }
    try_connect(s);
    for (k = 0; k < n; k += m) {
        m = n - k < MAX_BATCH ? n - k : MAX_BATCH;
        memset(done, 0, sizeof(done));
        if (s->ctx && eval_many(s, m, mbs + k, asks + k, ans + k, done, why, sizeof(why)) < 0)
            go_down(s, why);
        for (i = 0; i < m; i++)
            if (!done[i] && local_share(s, mbs[k + i], &asks[k + i], &ans[k + i], err, errlen) < 0) {
                memset(&ans[k + i], 0, sizeof(ans[k + i]));
                ans[k + i].limit = -1;
                rc = -1;
            }
    }
    return rc;
}

/* rs_mode - store_ops.mode */
static void rs_mode(struct store *st, char *out, size_t outlen)
{
    struct rs *s = (struct rs *)st;
    char since[40];

    if (!s->down) {
        snprintf(out, outlen, "redis %s db %u: shared by %u relays", s->address, s->db, s->relays);
        return;
    }
    clock_format_rfc3339(s->down_since * 1000, 0, since, sizeof(since));
    snprintf(out, outlen,
             "redis %s db %u: local fallback since %s (1/%u of what was left of each limit): %s",
             s->address, s->db, since, s->relays, s->why);
}

/* the rest goes to the counters in memory: the fallback's, or the snapshot */
static struct quota_counters *rs_get(struct store *st, const char *mailbox, int create)
{
    return store_get(((struct rs *)st)->local, mailbox, create);
}

static void rs_changed(struct store *st, struct quota_counters *q)
{
    store_changed(((struct rs *)st)->local, q);
}

/* report - once a second: this relay's mode in Redis, for sendasctl quota on any relay */
static void report(struct rs *s)
{
    char mode[600], px[24], why[300];
    const char *argv[] = {"SET", s->relay_key, mode, "PX", px};
    int64_t mono = clock_mono_ms();

    if (s->relay_key == NULL || s->ctx == NULL || mono - s->reported < 1000)
        return;
    s->reported = mono;
    store_mode(&s->base, mode, sizeof(mode));
    snprintf(px, sizeof(px), "%d", RELAY_REPORT_TTL_MS);
    if (simple(s, "reporting this relay", 5, argv, why, sizeof(why)) < 0)
        go_down(s, why);
}

/* rs_flush - the daemon's tick (once a second): also the time to try Redis again, so that
 * shared counting resumes without waiting for mail */
static int rs_flush(struct store *st, char *err, size_t errlen)
{
    struct rs *s = (struct rs *)st;

    if (!s->rdonly && s->down)
        try_connect(s);
    if (!s->rdonly && !s->down)
        report(s);
    return store_flush(s->local, err, errlen);
}

static size_t rs_dirty(struct store *st)
{
    return store_dirty(((struct rs *)st)->local);
}

static int rs_each(struct store *st, int (*fn)(void *, const char *, struct quota_counters *),
                   void *arg)
{
    return store_each(((struct rs *)st)->local, fn, arg);
}

/* rs_close - store_ops.close */
static void rs_close(struct store *st)
{
    struct rs *s = (struct rs *)st;

    drop(s);
    store_close(s->local);
    store_close(s->unsent);
    store_close(s->seen);
    if (s->password) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
    }
    free(s->address);
    free(s->status_path);
    free(s->relay_key);
    free(s->relays_seen);
    free(s);
}

static const struct store_ops rs_ops = {rs_get,   rs_changed, rs_flush,  rs_dirty,
                                        rs_each,  rs_close,   rs_charge, rs_mode};

/* by_bucket - qsort order of (bucket, count) pairs */
static int by_bucket(const void *a, const void *b)
{
    long long x = ((const long long *)a)[0], y = ((const long long *)b)[0];

    return x < y ? -1 : x > y;
}

/* add_buckets - the (bucket, count) pairs v[0..n) into w, oldest first */
static void add_buckets(struct window *w, long long *v, size_t n)
{
    size_t i;

    qsort(v, n / 2, 2 * sizeof(*v), by_bucket);
    for (i = 0; i < n; i += 2)
        if (v[i + 1] > 0)
            window_add(w, v[i] * w->gran, v[i + 1] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[i + 1]);
}

/* read_mailbox - HGETALL one mailbox's hash into q; 0, or -1 with err */
static int read_mailbox(struct rs *s, const char *k, struct quota_counters *q, char *err,
                        size_t errlen)
{
    const char *argv[] = {"HGETALL", k};
    redisReply *r = command(s, 2, argv, NULL, err, errlen);
    long long *vm, *vr;
    size_t i, nm = 0, nr = 0;

    if (r == NULL)
        return -1;
    vm = calloc(r->elements + 1, sizeof(*vm));
    vr = calloc(r->elements + 1, sizeof(*vr));
    if (r->type != REDIS_REPLY_ARRAY || vm == NULL || vr == NULL) {
        snprintf(err, errlen, "HGETALL %s: unexpected reply", k);
        free(vm);
        free(vr);
        freeReplyObject(r);
        return -1;
    }
    for (i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str ? r->element[i]->str : "";
        char *end;
        long long b = strtoll(f[0] ? f + 1 : f, &end, 10);
        long long *v = f[0] == 'm' ? vm : vr;
        size_t *n = f[0] == 'm' ? &nm : &nr;

        if ((f[0] != 'm' && f[0] != 'r') || end == f + 1 || *end || b < 0)
            continue; /* mh, mt, rh, rt */
        v[(*n)++] = b;
        v[(*n)++] = strtoll(r->element[i + 1]->str ? r->element[i + 1]->str : "0", NULL, 10);
    }
    add_buckets(&q->msgs, vm, nm);
    add_buckets(&q->rcpts, vr, nr);
    free(vm);
    free(vr);
    freeReplyObject(r);
    return 0;
}

/* snapshot_key - one key of SCAN: the mailbox's windows into the snapshot */
static int snapshot_key(struct rs *s, const char *k, char *err, size_t errlen)
{
    size_t pl = strlen(KEY_PREFIX "{"), len = strlen(k);
    char mb[MAX_KEY];
    struct quota_counters *q;

    if (len < pl + 2 || strncmp(k, KEY_PREFIX "{", pl) != 0 || k[len - 1] != '}' ||
        len - pl - 1 >= sizeof(mb))
        return 0; /* not ours */
    memcpy(mb, k + pl, len - pl - 1);
    mb[len - pl - 1] = '\0';
    if ((q = store_get(s->local, mb, 1)) == NULL) {
        snprintf(err, errlen, "out of memory reading the counters");
        return -1;
    }
    return read_mailbox(s, k, q, err, errlen);
}

/* snapshot - every mailbox's counters into s->local, and the server's clock; 0, or -1 */
static int snapshot(struct rs *s, int64_t *server_now, char *err, size_t errlen)
{
    const char *time_argv[] = {"TIME"};
    char cursor[32] = "0";
    size_t seen = 0, i;
    redisReply *r;

    if ((r = command(s, 1, time_argv, NULL, err, errlen)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        snprintf(err, errlen, "TIME: unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    *server_now = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                  strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", KEY_PREFIX "{*}", "COUNT", "1000"};

        if ((r = command(s, 6, argv, NULL, err, errlen)) == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "SCAN: unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (i = 0; i < r->element[1]->elements && seen < SCAN_MAX_KEYS; i++, seen++)
            if (r->element[1]->element[i]->type == REDIS_REPLY_STRING &&
                snapshot_key(s, r->element[1]->element[i]->str, err, errlen) < 0) {
                freeReplyObject(r);
                return -1;
            }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && seen < SCAN_MAX_KEYS);
    return 0;
}

/* read_relays - the relays' reports into s->relays_seen; 0, or -1 with err set */
static int read_relays(struct rs *s, char *err, size_t errlen)
{
    const char *argv[] = {"SCAN", "0", "MATCH", KEY_PREFIX "relay:*", "COUNT", "1000"};
    redisReply *r = command(s, 6, argv, NULL, err, errlen), *v;
    size_t i, len = 0, cap = 8192;
    char *out;

    if (r == NULL)
        return -1;
    if ((out = calloc(1, cap)) == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        free(out);
        freeReplyObject(r);
        snprintf(err, errlen, "SCAN: unexpected reply");
        return -1;
    }
    /* one SCAN call: a handful of relays, far below COUNT */
    for (i = 0; i < r->element[1]->elements && s->ctx; i++) {
        const char *k = r->element[1]->element[i]->str, *get[] = {"GET", k};

        if (k == NULL || (v = command(s, 2, get, NULL, err, errlen)) == NULL)
            continue;
        if (v->type == REDIS_REPLY_STRING && len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s: %s\n",
                                    k + strlen(KEY_PREFIX "relay:"), v->str);
        freeReplyObject(v);
    }
    freeReplyObject(r);
    s->relays_seen = out;
    return s->ctx ? 0 : -1;
}

/* store_redis_relays - the relays that reported (read-only store) */
void store_redis_relays(struct store *st, char *out, size_t outlen)
{
    struct rs *s = (struct rs *)st;

    snprintf(out, outlen, "%s", s->relays_seen ? s->relays_seen : "");
}

/* store_redis_open - the shared store (see store.h) */
struct store *store_redis_open(const struct store_redis_opts *o, int flags, int64_t *server_now,
                               char *err, size_t errlen)
{
    struct rs *s = calloc(1, sizeof(*s));
    char why[300];

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &rs_ops;
    s->db = o->database;
    s->relays = o->relays ? o->relays : 1;
    s->timeout_ms = o->timeout_ms ? o->timeout_ms : 200;
    s->backoff = BACKOFF_MIN_MS;
    s->rdonly = flags & STORE_RDONLY;
    if ((s->address = strdup(o->address)) == NULL || (s->local = store_mem_open()) == NULL ||
        (s->unsent = store_mem_open()) == NULL || (s->seen = store_mem_open()) == NULL ||
        (o->password && (s->password = strdup(o->password)) == NULL) ||
        (o->status_path && (s->status_path = strdup(o->status_path)) == NULL) ||
        (o->relay_name && (s->relay_key = malloc(strlen(o->relay_name) + 16)) == NULL)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (s->relay_key)
        snprintf(s->relay_key, strlen(o->relay_name) + 16, KEY_PREFIX "relay:%s", o->relay_name);
    if (sockspec_parse_hostport(s->address, &s->addr) < 0) {
        snprintf(err, errlen, "redis_address %s: expected unix:/PATH, HOST:PORT or [IPV6]:PORT",
                 s->address);
        goto fail;
    }
    if (s->rdonly) {
        if (connect_redis(s, why, sizeof(why)) < 0 ||
            snapshot(s, server_now, why, sizeof(why)) < 0 || read_relays(s, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "redis %s: %s", s->address, why);
            goto fail;
        }
        drop(s);
        return &s->base;
    }
    if (connect_redis(s, why, sizeof(why)) < 0)
        go_down(s, why);
    else
        write_status(s);
    return &s->base;
fail:
    rs_close(&s->base);
    return NULL;
}

/* store_redis_test_clock - tests: a fixed clock instead of the server's TIME */
void store_redis_test_clock(struct store *st, int64_t ms)
{
    ((struct rs *)st)->test_clock = ms;
}
