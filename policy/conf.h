/* SPDX-License-Identifier: MIT */
/*
 * conf - sendas.conf: parsing, validation and a refcounted snapshot.
 *
 * One directive a line, "keyword arguments...", '#' starts a comment, a line
 * that starts with white space continues the previous one.  Every error names
 * the file, the line and what is wrong: the physical line of the word at
 * fault, or the first line of the directive; errors about the whole file name
 * no line.  What is accepted but surely a mistake (a route that can never
 * match, host bits in a network) becomes a warning kept with the snapshot, for
 * sendasctl check and the daemons' logs.  A loaded configuration is immutable
 * and reference counted so that a reload (SIGHUP) can swap it while threads
 * still finish messages on the snapshot they started with.
 */
#ifndef SENDAS_CONF_H
#define SENDAS_CONF_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>

#define CONF_MAX_LINE 8192       /* logical line, after joining continuations */
#define CONF_MAX_FILE (4 << 20)  /* bytes in the whole file */
#define CONF_MAX_ARGS 256        /* words in one directive */
#define CONF_MAX_MAILBOXES 4096
#define CONF_MAX_ROUTES 65536
#define CONF_ERRLEN 512
#define CONF_MAX_WARNINGS 64     /* kept; the last one says how many more there were */

/* An address pattern: a whole address, or "@domain" for every address there. */
struct conf_pattern {
    char *local;  /* NULL for a domain pattern */
    char *domain; /* lower-case; NULL for an unqualified address pattern */
};

/* Exchange Online's per-mailbox limits as sendas applies them; 0 = no limit. */
struct conf_limits {
    unsigned long messages_per_minute;    /* 30 */
    unsigned long recipients_per_day;     /* 10000, rolling 24 hours */
    unsigned long recipients_per_message; /* 500 */
    unsigned long long message_size;      /* 36700160 bytes (35 MiB) */
    unsigned headroom; /* percent of the two rate limits actually used (90) */
};

/* Which of a mailbox's own limits are set (conf_mailbox.limits_set). */
#define CONF_LIM_MPM 1u
#define CONF_LIM_RPD 2u
#define CONF_LIM_RPM 4u
#define CONF_LIM_SIZE 8u
#define CONF_LIM_HEADROOM 16u

struct conf_mailbox {
    char *address; /* as configured (lower-cased domain) */
    char *local;
    char *domain;
    struct conf_pattern *sendas; /* extra permitted addresses and domains */
    size_t nsendas;
    struct conf_limits limits; /* its own values, where limits_set says so */
    unsigned limits_set;       /* CONF_LIM_* */
    int line; /* where it was declared, for messages */
};

enum route_kind {
    ROUTE_ANY,    /* "*" */
    ROUTE_SASL,   /* sasl:LOGIN */
    ROUTE_CLIENT, /* client:CIDR */
    ROUTE_SENDER, /* sender:ADDRESS|@DOMAIN (envelope) */
    ROUTE_FROM,   /* from:ADDRESS|@DOMAIN (first From address) */
};

enum route_target {
    TARGET_MAILBOX,
    TARGET_REJECT,
    TARGET_TEMPFAIL,
};

struct conf_route {
    enum route_kind kind;
    char *text; /* the selector as written, for logs: "sender:@mon01.corp.local" */
    char *sasl; /* ROUTE_SASL */
    struct conf_pattern pat; /* ROUTE_SENDER, ROUTE_FROM */
    int family; /* ROUTE_CLIENT: AF_INET or AF_INET6; an IPv4-mapped network
                 * (::ffff:192.0.2.0/120) is kept as the IPv4 one (192.0.2.0/24) */
    unsigned char net[16]; /* host bits cleared */
    unsigned prefix;
    enum route_target target;
    const struct conf_mailbox *mailbox; /* TARGET_MAILBOX */
    int line;
};

enum sender_mode { SENDER_REMOVE, SENDER_REWRITE };
/* intake_rate_limit: refuse at intake past the per-minute limit (auto: unless pacing) */
enum conf_intake { INTAKE_AUTO, INTAKE_YES, INTAKE_NO };
enum conf_store { STORE_SQLITE, STORE_REDIS };
enum noroute_action { NOROUTE_REJECT, NOROUTE_TEMPFAIL, NOROUTE_ACCEPT };

struct conf {
    atomic_int refs; /* conf_ref/conf_unref; conf_load gives the first */
    char *path;

    struct conf_mailbox *mailboxes;
    size_t nmailboxes;
    struct conf_route *routes;
    size_t nroutes;

    char *milter_socket;    /* libmilter syntax: unix:PATH, inet:PORT@HOST, inet6:... */
    char *policy_socket;    /* same syntax, for sendas-policyd */
    unsigned socket_mode;   /* default 0660 */
    char *socket_group;     /* default "postfix" */
    char *user;             /* drop privileges to this user (default: none) */

    int keep_display_name;  /* yes */
    int add_reply_to;       /* yes */
    char *trace_header;     /* "X-Original-From"; NULL when "none" */
    int rewrite_envelope;   /* yes */
    enum sender_mode sender_header; /* remove */
    char *qualify_domain;   /* domain for unqualified addresses (default: host name) */
    enum noroute_action no_route; /* reject */
    int remove_dkim_from;   /* no: remove DKIM-Signature headers that sign From when From changes */
    size_t max_header_bytes; /* cap on one header's value (default 64 KiB) */
    int log_level;          /* 0 = info, 1 = debug */
    unsigned long idle_timeout; /* seconds a daemon keeps a silent connection (360) */

    char *audit_log;        /* NULL: none */
    char *state_dir;

    /* sendas-policyd: per-mailbox limits, Exchange Online's by default; 0 = no limit */
    unsigned long limit_messages_per_minute;    /* 30 */
    unsigned long limit_recipients_per_day;     /* 10000, rolling 24 hours */
    unsigned long limit_recipients_per_message; /* 500 */
    unsigned long long limit_message_size;      /* 36700160 bytes (35 MiB) */
    unsigned limit_headroom; /* percent of the two rate limits actually used (90) */

    /* pacing: Postfix's queue manager holds each mailbox to its per-minute limit (one
     * transport per mailbox, sendasctl postfix-config); see policy/pacing.h */
    int pacing;             /* no */
    int intake_rate_limit;  /* enum conf_intake: auto */
    unsigned relays;        /* relays that send for the same mailboxes (1): each paces at 1/N
                             * and, while Redis is down, counts with 1/N of each limit */

    /* sendas-policyd: where the counters live (issue 10: several relays share Redis) */
    int store;                   /* enum conf_store: sqlite */
    char *redis_address;         /* unix:/PATH, HOST:PORT or [V6]:PORT (127.0.0.1:6379) */
    unsigned long redis_database; /* SELECT (0) */
    char *redis_password_file;   /* AUTH password, in a 0600/0400 file; NULL: none */
    unsigned long redis_timeout; /* ms for connecting and for each command (200) */

    /* sendas-tokend: one OAuth application (client credentials grant) */
    char *oauth_tenant;             /* directory (tenant) id or domain */
    char *oauth_client_id;          /* application (client) id */
    char *oauth_client_secret_file; /* the secret, in a 0600 file; or ... */
    char *oauth_certificate;        /* ... a certificate (PEM) and */
    char *oauth_private_key;        /* its private key (PEM, 0600) */
    char *oauth_token_endpoint;     /* NULL: https://login.microsoftonline.com/TENANT/oauth2/v2.0/token */
    char *oauth_scope;              /* https://outlook.office365.com/.default */
    char *oauth_ca_file;            /* NULL: the system's CAs (tests: the emulator's cert) */
    char **oauth_mailboxes;         /* NULL-terminated; NULL: every declared mailbox */
    char *token_dir;                /* /var/spool/postfix/sendas/tokens */
    char *token_group;              /* group that may read tokens: "postfix" */
    unsigned long token_refresh_margin; /* seconds before expiry to refresh (900) */
    unsigned long token_retry_min;  /* first retry delay, doubled per failure (5) */
    unsigned long token_retry_max;  /* cap on the retry delay (300) */

    /* accepted, but surely mistakes: "FILE:LINE: what", at most CONF_MAX_WARNINGS */
    char **warnings;
    size_t nwarnings;
};

/* Which programs read a directive (conf_keyword_progs). */
#define CONF_FOR_MILTER 1u
#define CONF_FOR_POLICYD 2u
#define CONF_FOR_TOKEND 4u

/* conf_keyword - directive i of the settings table (every directive the parser knows), NULL
 * past the last */
const char *conf_keyword(size_t i);

/* conf_keyword_progs - the CONF_FOR_* programs that read directive k; 0 when k is none */
unsigned conf_keyword_progs(const char *k);

/*
 * conf_load - read and validate path.  On success returns a snapshot with one
 * reference; on failure returns NULL and writes "FILE:LINE: what" to err.
 */
struct conf *conf_load(const char *path, char *err, size_t errlen);

/* conf_parse - the same from memory (name is used in messages) */
struct conf *conf_parse(const char *name, const char *text, size_t len, char *err, size_t errlen);

/*
 * conf_ref - take one more reference to c (returns c).  The count is atomic;
 * the caller must still make "read the live pointer, take a reference" one
 * step against a reload that drops the live pointer's last reference (the
 * milter holds its conf lock across both).
 */
struct conf *conf_ref(struct conf *c);

/* conf_unref - drop a reference; the last one frees c (NULL is ignored) */
void conf_unref(struct conf *c);

/* conf_free - release a snapshot regardless of references (use conf_unref) */
void conf_free(struct conf *c);

/* conf_find_mailbox - the declared mailbox with this address, or NULL */
const struct conf_mailbox *conf_find_mailbox(const struct conf *c, const char *local,
                                             const char *domain);

/*
 * conf_mailbox_limits - the limits that apply to mailbox mb: its own where
 * it sets them, else the global limit_* values (mb NULL: the global ones).
 */
void conf_mailbox_limits(const struct conf *c, const struct conf_mailbox *mb,
                         struct conf_limits *out);

/*
 * conf_mailbox_permits - non-zero when mailbox mb may send as local@domain
 * (its own address, a listed address, or an address in a listed @domain).
 * An unqualified address (domain NULL) is never permitted.
 */
int conf_mailbox_permits(const struct conf_mailbox *mb, const char *local, const char *domain);

/* conf_pattern_match - non-zero when local@domain matches the pattern */
int conf_pattern_match(const struct conf_pattern *p, const char *local, const char *domain);

/* conf_net_match - non-zero when the first prefix bits of addr are those of net */
int conf_net_match(const unsigned char *net, unsigned prefix, const unsigned char *addr);

/* conf_yesno - parse yes/no/true/false/on/off/1/0; -1 when neither */
int conf_yesno(const char *s);

#endif
