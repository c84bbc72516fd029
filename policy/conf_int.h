/* SPDX-License-Identifier: MIT */
/*
 * conf_int - what the parts of the sendas.conf parser share (conf.c: the file, the
 * settings table, mailboxes and limits; conf_route.c: routes).  Private to policy/conf*.c:
 * nothing outside the parser includes it.
 */
#ifndef SENDAS_CONF_INT_H
#define SENDAS_CONF_INT_H

#include <stddef.h>

#include "conf.h"

/* Parser state: what is needed to name the place of an error. */
struct parse {
    const char *name;
    int line; /* 0: the error or warning is about the whole file */
    char *err;
    size_t errlen;
    struct conf *c;
    /* routes name mailboxes that may be declared later: resolved at the end */
    char **route_targets;
    int *route_target_lines;
    /* where the logical line came from: physical line seg_line[i] starts at seg_off[i] */
    size_t *seg_off;
    int *seg_line;
    size_t nseg;
    const int *av_line; /* the physical line of each word of the directive at hand */
    int *oauth_lines;   /* the line of each oauth_mailboxes entry */
    size_t warnings_dropped;
};

/* conf_perr - format an error naming file and line; returns -1 for convenience */
int conf_perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* conf_pwarn - keep a warning naming file and line */
void conf_pwarn(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* conf_at_word - errors from here on are about word i of the directive */
void conf_at_word(struct parse *p, int i);
/* conf_nearest - the candidate closest to word, a likely typo of it, or NULL */
const char *conf_nearest(const char *word, const char *(*cand)(size_t, const void *),
                         const void *arg);
/* conf_mailbox_at - conf_nearest's view of the declared mailboxes (arg: the struct conf) */
const char *conf_mailbox_at(size_t i, const void *arg);
/* conf_typographic_quote - does word hold a quote a word processor makes? */
int conf_typographic_quote(const char *word);
/* conf_parse_pattern - "user@domain" or "@domain" (allow_domain) into out; -1 and an error */
int conf_parse_pattern(struct parse *p, const char *word, int allow_domain,
                       struct conf_pattern *out, const char *what);

/* conf_route.c */
/* conf_d_route - the route directive */
int conf_d_route(struct parse *p, char **av, int ac);
/* conf_resolve_routes - bind route targets to declared mailboxes (after the whole file) */
int conf_resolve_routes(struct parse *p);
/* conf_warn_shadowed - warn of routes an earlier route hides */
void conf_warn_shadowed(struct parse *p);

#endif
