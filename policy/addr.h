/* SPDX-License-Identifier: MIT */
/*
 * addr - RFC 5322 address-list parsing and formatting, lenient by design.
 *
 * Legacy senders (printers, cron, monitoring) produce From headers that range
 * from clean to badly broken.  The parser never rejects: it recovers every
 * mailbox it can and reports what was wrong as defect bits, which the rewrite
 * planner uses to decide that a header must be repaired.  Decoded display
 * names are UTF-8 and sanitized: they never contain CR, LF, NUL or other
 * control characters, so they can be re-encoded into a header safely.
 *
 * Inputs are (pointer, length); NUL termination is never assumed.  Every
 * input and output is capped (ADDR_MAX_*); exceeding a cap is ADDR_ECAP.
 */
#ifndef SENDAS_ADDR_H
#define SENDAS_ADDR_H

#include <stddef.h>

#include "buf.h"

#define ADDR_OK 0
#define ADDR_ENOMEM (-1)
#define ADDR_ECAP (-2)

/*
 * Caps.  Only ADDR_MAX_INPUT fails a parse (ADDR_ECAP): it is the largest
 * max_header_bytes sendas.conf accepts, so no header the milter keeps can
 * hit it.  The others repair instead of failing, because a valid message
 * must never be refused (or deferred for ever) over a parser limit: a longer
 * display name is cut (ADDR_D_LONG_NAME), a mailbox with a longer local part
 * or domain, and mailboxes past the count, are dropped (ADDR_D_CAP).
 */
#define ADDR_MAX_INPUT (1024 * 1024) /* header value bytes parsed */
#define ADDR_MAX_MAILBOXES 256       /* mailboxes kept from one header */
#define ADDR_MAX_LOCAL 256           /* local part bytes (RFC: 64; be lenient) */
#define ADDR_MAX_DOMAIN 255          /* domain bytes */
#define ADDR_MAX_NAME 1024           /* decoded display name bytes kept */

/* Defect bits: things a strict receiver may refuse or misread. */
#define ADDR_D_SYNTAX 0x0001       /* unparseable text was skipped */
#define ADDR_D_GROUP 0x0002        /* group syntax ("name: a, b;") */
#define ADDR_D_UNQUALIFIED 0x0004  /* address without @domain ("root") */
#define ADDR_D_ROUTE 0x0008        /* obsolete route (<@a,@b:user@dom>) */
#define ADDR_D_COMMENT 0x0010      /* a (comment) was present */
#define ADDR_D_8BIT 0x0020         /* raw 8-bit bytes */
#define ADDR_D_ENCWORD 0x0040      /* RFC 2047 encoded word(s) in the name */
#define ADDR_D_QUOTED_LOCAL 0x0080 /* quoted local part ("a b"@dom) */
#define ADDR_D_NAME_ADDR 0x0100    /* display name contains an address */
#define ADDR_D_EMPTY 0x0200        /* no mailbox at all */
#define ADDR_D_BAD_ENCWORD 0x0400  /* malformed encoded word, or unknown charset */
#define ADDR_D_OBSOLETE 0x0800     /* other obsolete syntax (e.g. unquoted '.' in a name) */
#define ADDR_D_MULTIPLE 0x1000     /* more than one mailbox in the list */
#define ADDR_D_EMPTY_ITEM 0x2000   /* an empty list element (",a@b", "a@b,", "a@b,,c@d") */
#define ADDR_D_CAP 0x4000          /* a mailbox over a cap was dropped (see above) */
#define ADDR_D_LEGACY 0x8000       /* raw ISO-2022-JP/-KR/-CN or Shift_JIS text (converted) */
#define ADDR_D_LONG_NAME 0x10000   /* a display name was cut to ADDR_MAX_NAME */
#define ADDR_D_NAME_SYNTAX 0x20000 /* '@', '[', '\\' or ']' in a display name (double-byte trails) */

/* Defects that make a header unsafe to pass on unchanged. */
#define ADDR_D_BROKEN                                                                             \
    (ADDR_D_SYNTAX | ADDR_D_GROUP | ADDR_D_UNQUALIFIED | ADDR_D_ROUTE | ADDR_D_8BIT |              \
     ADDR_D_NAME_ADDR | ADDR_D_EMPTY | ADDR_D_BAD_ENCWORD | ADDR_D_MULTIPLE | ADDR_D_EMPTY_ITEM |  \
     ADDR_D_CAP | ADDR_D_LEGACY | ADDR_D_NAME_SYNTAX)

struct addr_mailbox {
    char *name;       /* decoded, sanitized UTF-8 display name; NULL if none */
    char *local;      /* local part, unquoted (its semantic value); never NULL */
    char *domain;     /* domain as written; NULL when unqualified */
    unsigned defects; /* ADDR_D_* found in this mailbox */
};

struct addr_list {
    struct addr_mailbox *mb; /* n mailboxes, in header order */
    size_t n;
    unsigned defects; /* union of all defects, plus list-level ones */
};

/*
 * addr_parse_list - parse an address-list header value (From, Sender,
 * Reply-To).  s/len is the raw value after the colon, possibly folded.
 * On ADDR_OK *out holds every mailbox recovered (n may be 0, with
 * ADDR_D_EMPTY set).  On error *out is empty and needs no free.
 */
int addr_parse_list(const char *s, size_t len, struct addr_list *out);
/* addr_parse_list_cs - the same for a message that declares charset (or NULL); see rfc2047_legacy_cs */
int addr_parse_list_cs(const char *s, size_t len, const char *charset, struct addr_list *out);

/* addr_list_free - release a list filled by addr_parse_list; NULL-safe */
void addr_list_free(struct addr_list *l);

/*
 * addr_parse_path - parse an envelope address as an MTA passes it to a
 * milter or policy service: "<user@dom>", "user@dom", "<>", "" (null sender).
 * The null sender gives local "" and domain NULL with *is_null set.
 * ESMTP parameters are not part of s.  Caller frees with addr_mailbox_free.
 */
int addr_parse_path(const char *s, size_t len, struct addr_mailbox *out, int *is_null);

/* addr_mailbox_free - release the strings of one mailbox; NULL-safe */
void addr_mailbox_free(struct addr_mailbox *m);

/*
 * addr_format_spec - append local@domain, quoting the local part when it is
 * not a dot-atom (or holds "=?", which a reader might take for the start of
 * an encoded word); domain NULL appends just the (quoted) local part.
 */
int addr_format_spec(struct buf *b, const char *local, const char *domain);

/*
 * addr_format_mailbox - append a mailbox for a header: the display name as
 * an atom phrase or quoted-string when ASCII, RFC 2047 encoded words
 * otherwise (raw UTF-8 in a quoted-string when utf8 is set), then
 * " <local@domain>".  name NULL or "" gives the bare addr-spec.  Output never
 * contains CR, LF or NUL; it is not folded (see hdr_fold).  Returns BUF_OK
 * or a BUF_E* code.
 */
int addr_format_mailbox(struct buf *b, const char *name, const char *local, const char *domain,
                        int utf8);

/*
 * addr_spec_clean - local@domain can be written into a header as it is:
 * printable US-ASCII, or with utf8 set (SMTPUTF8) valid UTF-8 without
 * control characters.  Raw Latin-1 in an address never is.
 */
int addr_spec_clean(const char *local, const char *domain, int utf8);

/* addr_equal - case-insensitive comparison of two addr-specs (domain NULL matches only NULL) */
int addr_equal(const char *l1, const char *d1, const char *l2, const char *d2);

#endif
