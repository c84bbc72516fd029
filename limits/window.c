/* SPDX-License-Identifier: MIT */
/*
 * window - sliding-window counters over sub-buckets (see window.h).
 */
#include "window.h"

#include <stdlib.h>
#include <string.h>

#define WIN_MAGIC "SWN1"
#define WIN_HDR (4 + 8 + 8 + 8 + 4) /* magic, span, gran, head, nb */

/* slot - ring position of bucket index k (k may be negative near time 0) */
static size_t slot(const struct window *w, int64_t k)
{
    int64_t m = (int64_t)w->nb + 1, r = k % m;

    return (size_t)(r < 0 ? r + m : r);
}

/* window_init - an empty window */
int window_init(struct window *w, int64_t span_ms, int64_t gran_ms)
{
    memset(w, 0, sizeof(*w));
    w->head = -1;
    if (gran_ms <= 0 || span_ms <= 0 || span_ms % gran_ms != 0 ||
        span_ms / gran_ms >= WINDOW_MAX_BUCKETS)
        return -1;
    w->span = span_ms;
    w->gran = gran_ms;
    w->nb = (uint32_t)(span_ms / gran_ms);
    if ((w->count = calloc((size_t)w->nb + 1, sizeof(*w->count))) == NULL)
        return -1;
    return 0;
}

/* window_free - release the ring */
void window_free(struct window *w)
{
    if (w == NULL)
        return;
    free(w->count);
    w->count = NULL;
    w->total = 0;
    w->head = -1;
}

/* window_clear - forget every event */
void window_clear(struct window *w)
{
    if (w->count)
        memset(w->count, 0, ((size_t)w->nb + 1) * sizeof(*w->count));
    w->total = 0;
    w->head = -1;
}

/* window_advance - drop buckets that no longer overlap (now - span, now] */
void window_advance(struct window *w, int64_t now)
{
    int64_t kt, k;

    if (now < 0)
        now = 0;
    kt = now / w->gran;
    if (w->head < 0) {
        w->head = kt;
        return;
    }
    if (kt <= w->head)
        return; /* same bucket, or the clock went back: stand still */
    if (kt - w->head > (int64_t)w->nb) {
        memset(w->count, 0, ((size_t)w->nb + 1) * sizeof(*w->count));
        w->total = 0;
    } else {
        for (k = w->head + 1; k <= kt; k++) {
            size_t s = slot(w, k);

            w->total -= w->count[s];
            w->count[s] = 0;
        }
    }
    w->head = kt;
}

/* window_total - events in the window */
uint64_t window_total(struct window *w, int64_t now)
{
    window_advance(w, now);
    return w->total;
}

/* window_add - count n events in the newest bucket */
void window_add(struct window *w, int64_t now, uint32_t n)
{
    size_t s;

    window_advance(w, now);
    s = slot(w, w->head);
    if (w->count[s] > UINT32_MAX - n)
        n = UINT32_MAX - w->count[s];
    w->count[s] += n;
    w->total += n;
}

/* expiry - when bucket k stops overlapping the window: (k + 1) * gran + span */
static int64_t expiry(const struct window *w, int64_t k)
{
    return (k + 1) * w->gran + w->span;
}

/* window_free_at - when need more events fit under limit */
int64_t window_free_at(struct window *w, int64_t now, uint64_t limit, uint64_t need)
{
    uint64_t excess, freed = 0;
    int64_t k;

    window_advance(w, now);
    if (need > limit)
        return -1;
    if (w->total + need <= limit)
        return now < 0 ? 0 : now;
    excess = w->total + need - limit;
    for (k = w->head - (int64_t)w->nb; k <= w->head; k++) {
        freed += w->count[slot(w, k)];
        if (freed >= excess)
            return expiry(w, k);
    }
    return expiry(w, w->head); /* not reached: total is the sum of the ring */
}

/* window_empty_at - when the newest counted event leaves the window */
int64_t window_empty_at(struct window *w, int64_t now)
{
    int64_t k;

    window_advance(w, now);
    if (w->total == 0)
        return now < 0 ? 0 : now;
    for (k = w->head; k >= w->head - (int64_t)w->nb; k--)
        if (w->count[slot(w, k)])
            return expiry(w, k);
    return now;
}

/* put64 / put32 / get64 / get32 - little-endian integers */
static void put64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* window_encoded_size - bytes window_encode writes */
size_t window_encoded_size(const struct window *w)
{
    return WIN_HDR + ((size_t)w->nb + 1) * 4;
}

/* window_encode - header, then the buckets oldest first */
size_t window_encode(const struct window *w, unsigned char *out, size_t outlen)
{
    size_t need = window_encoded_size(w), i;

    if (outlen < need || w->count == NULL)
        return 0;
    memcpy(out, WIN_MAGIC, 4);
    put64(out + 4, (uint64_t)w->span);
    put64(out + 12, (uint64_t)w->gran);
    put64(out + 20, (uint64_t)w->head);
    put32(out + 28, w->nb);
    for (i = 0; i <= w->nb; i++)
        put32(out + WIN_HDR + 4 * i,
              w->head < 0 ? 0 : w->count[slot(w, w->head - (int64_t)w->nb + (int64_t)i)]);
    return need;
}

/* window_decode - restore what window_encode wrote */
int window_decode(struct window *w, const unsigned char *in, size_t len)
{
    size_t i;
    int64_t head;

    window_clear(w);
    if (w->count == NULL || len != window_encoded_size(w) || memcmp(in, WIN_MAGIC, 4) != 0 ||
        (int64_t)get64(in + 4) != w->span || (int64_t)get64(in + 12) != w->gran ||
        get32(in + 28) != w->nb)
        return -1;
    head = (int64_t)get64(in + 20);
    /* a head so large that (head + 1) * gran + span overflows is damage */
    if (head < -1 || head > (INT64_MAX - w->span) / w->gran - 2)
        return -1;
    if (head == -1)
        return 0;
    w->head = head;
    for (i = 0; i <= w->nb; i++) {
        uint32_t c = get32(in + WIN_HDR + 4 * i);

        w->count[slot(w, head - (int64_t)w->nb + (int64_t)i)] = c;
        w->total += c;
    }
    return 0;
}
