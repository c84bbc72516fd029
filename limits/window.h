/* SPDX-License-Identifier: MIT */
/*
 * window - sliding-window counters over fine sub-buckets, with a clock the
 * caller passes in (so tests use a fake one).
 *
 * A window of span W is kept as nb = W/g buckets of width g plus the one
 * being filled: nb + 1 buckets in a ring, bounded memory whatever the
 * traffic.  The count "in the window at time t" is the sum of every bucket
 * that overlaps (t - W, t], so a bucket is counted in full until all of it
 * has left the window.  That over-counts by at most one bucket's worth of
 * old events and never under-counts: if each admission checks
 * window_total(t) + n <= limit, no interval of length W ever holds more
 * than limit events, with no 2x burst at a boundary as fixed buckets allow.
 *
 * Times are milliseconds (wall clock, so that state survives a restart).
 * A clock that goes backwards is treated as standing still.
 */
#ifndef SENDAS_WINDOW_H
#define SENDAS_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define WINDOW_MAX_BUCKETS 100000 /* cap on nb + 1 */

struct window {
    int64_t span;     /* W, ms */
    int64_t gran;     /* g, ms; span is a multiple of it */
    uint32_t nb;      /* span / gran; the ring holds nb + 1 buckets */
    int64_t head;     /* index (t / gran) of the newest bucket; -1 while empty */
    uint64_t total;   /* sum of the ring */
    uint32_t *count;  /* ring: bucket index k lives at count[k % (nb + 1)] */
};

/*
 * window_init - an empty window of span_ms in buckets of gran_ms.  span_ms
 * must be a positive multiple of gran_ms with at most WINDOW_MAX_BUCKETS - 1
 * buckets.  Returns 0, or -1 (bad geometry or out of memory).
 */
int window_init(struct window *w, int64_t span_ms, int64_t gran_ms);

/* window_free - release the ring; NULL-safe, the window may be re-initialised */
void window_free(struct window *w);

/* window_clear - forget every event */
void window_clear(struct window *w);

/* window_advance - move to time now, dropping buckets that left the window */
void window_advance(struct window *w, int64_t now);

/* window_total - events in the window at now (advances the window) */
uint64_t window_total(struct window *w, int64_t now);

/* window_add - count n events at now (advances the window; saturates at UINT32_MAX a bucket) */
void window_add(struct window *w, int64_t now, uint32_t n);

/*
 * window_free_at - the earliest time >= now at which window_total + need
 * <= limit, i.e. when `need` more events would be admitted: now when they
 * already fit, -1 when they never can (need > limit).
 */
int64_t window_free_at(struct window *w, int64_t now, uint64_t limit, uint64_t need);

/* window_empty_at - when the last counted event leaves the window (now if empty) */
int64_t window_empty_at(struct window *w, int64_t now);

/*
 * window_encode - serialise into out (at most outlen bytes, little-endian,
 * independent of the host); returns the length, or 0 if out is too small.
 * window_encoded_size gives the length needed.
 */
size_t window_encoded_size(const struct window *w);
size_t window_encode(const struct window *w, unsigned char *out, size_t outlen);

/*
 * window_decode - restore a window saved by window_encode into w, which
 * must already be initialised.  Returns 0, or -1 when the data is damaged
 * or saved with another geometry (w is then left empty).
 */
int window_decode(struct window *w, const unsigned char *in, size_t len);

#endif
