/* SPDX-License-Identifier: MIT */
/*
 * addr - lenient RFC 5322 address-list parser and formatter (see addr.h).
 *
 * Parsing happens in three steps.  unfold() copies the value, removing
 * folding and turning other control characters into spaces.  tokenize()
 * cuts the copy into atoms, quoted strings, comments, domain literals and
 * single special characters; a quote, comment or literal that is never
 * closed becomes a single special character, so that one stray '"' cannot
 * swallow the rest of the list.  The parser then walks the tokens: a list
 * is items separated by commas, an item is a group ("name: ...;") or a
 * mailbox.  A mailbox item with angle brackets takes its address from the
 * last "<...>" and everything before it as the display name; one without
 * takes the addr-spec and, when there is no phrase, a comment as the name.
 * Whatever does not fit is skipped and recorded as ADDR_D_SYNTAX.
 *
 * The parser owns nothing once addr_parse_list returns: the list owns its
 * strings, freed with addr_list_free.
 */
#include "addr.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rfc2047.h"

#define ADDR_QCHUNK 60 /* longest quoted-string the formatter writes when it can split */

enum tok_type { T_ATOM, T_QUOTED, T_COMMENT, T_DLIT, T_SPECIAL };

struct tok {
    enum tok_type type;
    size_t start, end; /* raw span in the unfolded copy */
    int ws;            /* white space precedes the token */
    char c;            /* the character of a T_SPECIAL */
};

struct parser {
    char *s; /* unfolded copy of the input */
    size_t len;
    struct tok *t;
    size_t nt;
    size_t at; /* tokens allocated */
    size_t pos;
    struct addr_list *out;
    size_t nalloc;    /* mailbox slots allocated in out */
    unsigned defects; /* list-level defects */
};

/* An addr-spec found by parse_spec. */
struct spec {
    struct buf local;
    struct buf domain;
    int has_local;
    int has_domain;
    size_t next; /* first token after the addr-spec */
    unsigned defects;
};

/* is_special - RFC 5322 specials, plus the characters that open tokens */
static int is_special(int c)
{
    return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == ':' ||
           c == ';' || c == '@' || c == '\\' || c == ',' || c == '.' || c == '"';
}

/* is_atext - may appear in an atom (8-bit bytes included, as RFC 6532 allows) */
static int is_atext(int c)
{
    return c > 0x20 && c != 0x7f && !is_special(c);
}

/* lower - ASCII tolower, independent of the locale */
static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* unfold - copy s/len into p->s without folding; other controls become spaces */
static int unfold(struct parser *p, const char *s, size_t len)
{
    size_t i, j, n = 0;
    unsigned char c;

    if ((p->s = malloc(len + 1)) == NULL)
        return ADDR_ENOMEM;
    for (i = 0; i < len; i++) {
        c = (unsigned char)s[i];
        if (c == '\r' || c == '\n') {
            j = i;
            if (s[j] == '\r')
                j++;
            if (j < len && s[j] == '\n')
                j++;
            /* CRLF or LF before white space is a fold: it vanishes */
            if (!(j < len && (s[j] == ' ' || s[j] == '\t')))
                p->s[n++] = ' ';
            i = j - 1;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            p->s[n++] = ' ';
            p->defects |= ADDR_D_SYNTAX;
        } else {
            if (c >= 0x80)
                p->defects |= ADDR_D_8BIT;
            p->s[n++] = (char)c;
        }
    }
    p->s[n] = '\0';
    p->len = n;
    return ADDR_OK;
}

/* scan_quoted - end (after the closing quote) of the quoted string at i, or 0 if unclosed */
static size_t scan_quoted(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len)
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* scan_comment - end (after the closing paren) of the possibly nested comment at i, or 0 */
static size_t scan_comment(const char *s, size_t len, size_t i)
{
    size_t depth = 0;

    for (; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len)
            i++;
        else if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && --depth == 0)
            return i + 1;
    }
    return 0;
}

/* scan_dlit - end of the domain literal at i, or 0 when it is not one (*stop: where it gave up) */
static size_t scan_dlit(const char *s, size_t len, size_t i, size_t *stop)
{
    unsigned char c;

    for (i++; i < len; i++) {
        c = (unsigned char)s[i];
        if (c == ']')
            return i + 1;
        if (c == '\\' && i + 1 < len)
            i++;
        else if (c == '[' || c == '<' || c == '>' || c == ',' || c == '"' || c == '(' || c == ')' ||
                 c == ';' || c == '@')
            break;
    }
    *stop = i;
    return 0;
}

/*
 * What failed scans showed, so that the next opener is answered at once.
 * Without it, every '(' , '"' or '[' that never closes is scanned to the end:
 * 64 KB of "(" took 5 s.  A scan from an opener at i treats the bytes after
 * i exactly as a scan from any later opener does (a backslash run starts
 * after the opener either way), which is what makes these answers exact:
 *  - a quoted string unclosed from i is unclosed from every later '"';
 *  - a domain literal that gave up at q fails from every '[' before q;
 *  - a comment unclosed from i: with depth(k) its nesting depth at k counted
 *    from i, one opened at j > i closes iff some k > j has depth(k) below
 *    depth(j), i.e. the minimum of depth over (j, end) is below depth(j).
 */
struct scan_memo {
    size_t q_dead;  /* quoted strings opened after this never close; (size_t)-1: unknown */
    size_t d_dead;  /* domain literals opened before this fail */
    size_t c_base;  /* comment arrays count from this opener */
    int *depth;     /* depth[k - c_base]; NULL until a comment failed */
    int *sufmin;    /* sufmin[k - c_base] = min(depth[k - c_base ..]), INT_MAX past the end */
};

/* memo_comment - record the depth profile of the comment unclosed from i; -1 when out of memory */
static int memo_comment(struct scan_memo *m, const char *s, size_t len, size_t i)
{
    size_t n = len - i, k;
    int d = 0;

    if ((m->depth = malloc(n * sizeof(int))) == NULL ||
        (m->sufmin = malloc((n + 1) * sizeof(int))) == NULL)
        return -1;
    m->c_base = i;
    for (k = i; k < len; k++) {
        if (s[k] == '\\' && k + 1 < len) {
            m->depth[k - i] = m->depth[k + 1 - i] = d;
            k++;
            continue;
        }
        d += s[k] == '(' ? 1 : s[k] == ')' ? -1 : 0;
        m->depth[k - i] = d;
    }
    m->sufmin[n] = INT_MAX;
    for (k = n; k > 0; k--)
        m->sufmin[k - 1] = m->depth[k - 1] < m->sufmin[k] ? m->depth[k - 1] : m->sufmin[k];
    return 0;
}

/* memo_free - release what memo_comment allocated */
static void memo_free(struct scan_memo *m)
{
    free(m->depth);
    free(m->sufmin);
}

/* open_end - end of the quoted string, comment or domain literal opened at i, or 0; -1 on ENOMEM */
static long long open_end(struct scan_memo *m, const char *s, size_t len, size_t i)
{
    size_t e = 0, stop;

    switch (s[i]) {
    case '"':
        if (m->q_dead != (size_t)-1 && i > m->q_dead)
            return 0;
        if ((e = scan_quoted(s, len, i)) == 0)
            m->q_dead = i;
        break;
    case '(':
        if (m->depth && i > m->c_base &&
            m->sufmin[i - m->c_base + 1] >= m->depth[i - m->c_base])
            return 0;
        if ((e = scan_comment(s, len, i)) == 0 && m->depth == NULL &&
            memo_comment(m, s, len, i) < 0)
            return -1;
        break;
    case '[':
        if (i < m->d_dead)
            return 0;
        if ((e = scan_dlit(s, len, i, &stop)) == 0)
            m->d_dead = stop;
        break;
    }
    return (long long)e;
}

/*
 * tok_new - a fresh token slot.  At most one token per byte, but the array
 * grows as needed: a megabyte of folded white space needs no 32 MB of slots.
 */
static struct tok *tok_new(struct parser *p)
{
    struct tok *nt;
    size_t na;

    if (p->nt == p->at) {
        na = p->at ? p->at * 2 : 16;
        if (na > p->len + 1)
            na = p->len + 1;
        if ((nt = realloc(p->t, na * sizeof(*nt))) == NULL)
            return NULL;
        p->t = nt;
        p->at = na;
    }
    nt = &p->t[p->nt++];
    memset(nt, 0, sizeof(*nt));
    return nt;
}

/* tokenize - cut p->s into p->t; at most one token per byte */
static int tokenize(struct parser *p)
{
    const char *s = p->s;
    size_t i = 0, e, len = p->len;
    struct scan_memo memo = {(size_t)-1, 0, 0, NULL, NULL};
    struct tok *t;
    long long oe;
    int ws = 0, rc = ADDR_OK;
    char c;

    if ((p->t = malloc(sizeof(*p->t))) == NULL)
        return ADDR_ENOMEM;
    p->at = 1;
    while (i < len) {
        c = s[i];
        if (c == ' ' || c == '\t') {
            ws = 1;
            i++;
            continue;
        }
        if ((t = tok_new(p)) == NULL) {
            rc = ADDR_ENOMEM;
            break;
        }
        t->start = i;
        t->ws = ws;
        ws = 0;
        e = 0;
        if (c == '"' || c == '(' || c == '[') {
            if ((oe = open_end(&memo, s, len, i)) < 0) {
                rc = ADDR_ENOMEM;
                break;
            }
            e = (size_t)oe;
            if (e)
                t->type = c == '"' ? T_QUOTED : c == '(' ? T_COMMENT : T_DLIT;
        } else if (c == '=' && (e = rfc2047_ew_len(s + i, len - i)) != 0) {
            e += i; /* an encoded word stays whole despite the specials it may hold */
            t->type = T_ATOM;
        }
        if (e == 0 && is_special((unsigned char)c)) {
            t->type = T_SPECIAL;
            t->c = c;
            e = i + 1;
        } else if (e == 0) {
            t->type = T_ATOM;
            for (e = i; e < len && is_atext((unsigned char)s[e]); e++)
                ;
        }
        t->end = e;
        i = e;
    }
    memo_free(&memo);
    return rc;
}

/* is_sp - token k is the special character c */
static int is_sp(const struct parser *p, size_t k, char c)
{
    return k < p->nt && p->t[k].type == T_SPECIAL && p->t[k].c == c;
}

/* is_word - token k is an atom or a quoted string */
static int is_word(const struct parser *p, size_t k)
{
    return p->t[k].type == T_ATOM || p->t[k].type == T_QUOTED;
}

/* skip_cfws - first token at or after k (before e) that is not a comment */
static size_t skip_cfws(const struct parser *p, size_t k, size_t e, unsigned *defects)
{
    while (k < e && p->t[k].type == T_COMMENT) {
        *defects |= ADDR_D_COMMENT;
        k++;
    }
    return k;
}

/* put_unescaped - append the content of a quoted string or comment without its delimiters */
static int put_unescaped(struct buf *b, const char *s, size_t n)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        if ((rc = buf_putc(b, s[i])) != BUF_OK)
            return rc;
    }
    return BUF_OK;
}

/*
 * put_word - append the semantic value of an atom, quoted string, comment
 * or domain literal.  White space in a domain literal is folding, not part
 * of the domain: "[ 10.0.0.1 ]" is "[10.0.0.1]".
 */
static int put_word(const struct parser *p, size_t k, struct buf *b)
{
    const struct tok *t = &p->t[k];
    size_t i;
    int rc;

    if (t->type == T_QUOTED || t->type == T_COMMENT)
        return put_unescaped(b, p->s + t->start + 1, t->end - t->start - 2);
    if (t->type != T_DLIT)
        return buf_append(b, p->s + t->start, t->end - t->start);
    for (i = t->start; i < t->end; i++) {
        if (p->s[i] == '\\' && i + 2 < t->end) {
            /* a quoted-pair stays whole, escaped white space included */
            if ((rc = buf_append(b, p->s + i, 2)) != BUF_OK)
                return rc;
            i++;
        } else if (p->s[i] != ' ' && p->s[i] != '\t' && (rc = buf_putc(b, p->s[i])) != BUF_OK) {
            return rc;
        }
    }
    return BUF_OK;
}

/* buf_rc - map a BUF_* code to an ADDR_* code */
static int buf_rc(int rc)
{
    return rc == BUF_ECAP ? ADDR_ECAP : rc == BUF_OK ? ADDR_OK : ADDR_ENOMEM;
}

/*
 * parse_dotted - append words (atoms only when atoms_only) separated by dots,
 * starting at token k, to b.  Dots around comments or white space, and a
 * trailing dot (kept only in a local part) are obsolete syntax.
 * Returns the first token after the run.
 */
static size_t parse_dotted(const struct parser *p, size_t k, size_t e, int atoms_only,
                           struct buf *b, unsigned *defects, int *rc)
{
    size_t d, w;

    for (;;) {
        if (p->t[k].type == T_QUOTED)
            *defects |= ADDR_D_QUOTED_LOCAL;
        if ((*rc = put_word(p, k, b)) != BUF_OK)
            return k;
        k++;
        d = skip_cfws(p, k, e, defects);
        if (!is_sp(p, d, '.') || d >= e)
            return k;
        w = skip_cfws(p, d + 1, e, defects);
        if (w < e && (p->t[w].type == T_ATOM || (!atoms_only && p->t[w].type == T_QUOTED))) {
            if (d != k || w != d + 1 || p->t[d].ws || p->t[w].ws)
                *defects |= ADDR_D_OBSOLETE;
            if ((*rc = buf_putc(b, '.')) != BUF_OK)
                return k;
            k = w;
            continue;
        }
        if (atoms_only)
            return k;
        /* "a.@dom": seen in the wild (Japanese mobile carriers) */
        *defects |= ADDR_D_OBSOLETE;
        *rc = buf_putc(b, '.');
        return d + 1;
    }
}

/* spec_init - an empty addr-spec taken from text of len bytes */
static void spec_init(struct spec *sp, size_t len)
{
    buf_init(&sp->local, len + 16);
    buf_init(&sp->domain, len + 16);
    sp->has_local = sp->has_domain = 0;
    sp->next = 0;
    sp->defects = 0;
}

/* spec_free - release an addr-spec's buffers */
static void spec_free(struct spec *sp)
{
    buf_free(&sp->local);
    buf_free(&sp->domain);
}

/*
 * parse_spec - parse "local[@domain]" from tokens [k, e) into sp.  Quoted
 * and obsolete local parts are accepted; a missing domain leaves
 * has_domain 0.  sp->next is the first token not used.
 */
static int parse_spec(const struct parser *p, size_t k, size_t e, struct spec *sp)
{
    int rc = BUF_OK;
    size_t a, w, i;

    buf_reset(&sp->local);
    buf_reset(&sp->domain);
    sp->has_local = sp->has_domain = 0;
    k = skip_cfws(p, k, e, &sp->defects);
    sp->next = k;
    if (k >= e || !is_word(p, k))
        return ADDR_OK;
    k = parse_dotted(p, k, e, 0, &sp->local, &sp->defects, &rc);
    if (rc != BUF_OK)
        return buf_rc(rc);
    sp->has_local = 1;
    sp->next = k;
    a = skip_cfws(p, k, e, &sp->defects);
    if (a < e && is_sp(p, a, '@')) {
        w = skip_cfws(p, a + 1, e, &sp->defects);
        if (w < e && p->t[w].type == T_DLIT) {
            rc = put_word(p, w, &sp->domain);
            sp->has_domain = 1;
            sp->next = w + 1;
        } else if (w < e && p->t[w].type == T_ATOM) {
            sp->next = parse_dotted(p, w, e, 1, &sp->domain, &sp->defects, &rc);
            sp->has_domain = 1;
        } else {
            /* "user@" with nothing usable after it */
            sp->defects |= ADDR_D_SYNTAX;
            sp->next = a + 1;
        }
        if (rc != BUF_OK)
            return buf_rc(rc);
        if (a != k || w != a + 1 || p->t[a].ws || (w < e && p->t[w].ws))
            sp->defects |= ADDR_D_OBSOLETE;
    }
    for (i = 0; i < sp->local.len; i++)
        if ((unsigned char)sp->local.data[i] >= 0x80)
            sp->defects |= ADDR_D_8BIT;
    for (i = 0; i < sp->domain.len; i++)
        if ((unsigned char)sp->domain.data[i] >= 0x80)
            sp->defects |= ADDR_D_8BIT;
    if (!sp->has_domain)
        sp->defects |= ADDR_D_UNQUALIFIED;
    return ADDR_OK;
}

/*
 * parse_angle - parse the inside of "<...>", tokens [k, e): an optional
 * obsolete route ("@a,@b:"), then an addr-spec; anything else is skipped.
 */
static int parse_angle(const struct parser *p, size_t k, size_t e, struct spec *sp)
{
    size_t r;
    int rc;

    k = skip_cfws(p, k, e, &sp->defects);
    while (k < e && is_sp(p, k, '<')) {
        /* "<<a@b>>" */
        sp->defects |= ADDR_D_SYNTAX;
        k = skip_cfws(p, k + 1, e, &sp->defects);
    }
    if (k < e && is_sp(p, k, '@')) {
        sp->defects |= ADDR_D_ROUTE;
        for (r = k; r < e && !is_sp(p, r, ':'); r++)
            ;
        if (r >= e) {
            sp->defects |= ADDR_D_SYNTAX;
            return ADDR_OK;
        }
        k = r + 1;
    }
    if ((rc = parse_spec(p, k, e, sp)) != ADDR_OK)
        return rc;
    if (skip_cfws(p, sp->next, e, &sp->defects) < e)
        sp->defects |= ADDR_D_SYNTAX;
    return ADDR_OK;
}

/*
 * phrase_text - append the display-name text of tokens [a, b) to txt:
 * atoms raw, quoted strings unquoted, one space where white space or a
 * comment separated tokens.  Specials that have no place in a phrase are
 * kept as text and recorded as ADDR_D_SYNTAX; a dot as ADDR_D_OBSOLETE.
 * '@', '[', '\\' and ']' only as ADDR_D_NAME_SYNTAX: the trail bytes of raw
 * Big5, GBK or Shift_JIS names are those characters, and they say nothing
 * about the <address> that follows (a '<' or '>' does).
 */
static int phrase_text(const struct parser *p, size_t a, size_t b, struct buf *txt,
                       unsigned *defects)
{
    size_t k;
    int sep = 0, rc;

    for (k = a; k < b; k++) {
        const struct tok *t = &p->t[k];

        if (t->type == T_COMMENT) {
            *defects |= ADDR_D_COMMENT;
            sep = 1;
            continue;
        }
        if (txt->len > 0 && (t->ws || sep) && (rc = buf_putc(txt, ' ')) != BUF_OK)
            return rc;
        sep = 0;
        if (t->type == T_SPECIAL && t->c == '.')
            *defects |= ADDR_D_OBSOLETE;
        else if (t->type == T_SPECIAL && t->c && strchr("@[\\]", t->c) != NULL)
            *defects |= ADDR_D_NAME_SYNTAX;
        else if (t->type == T_SPECIAL || t->type == T_DLIT)
            *defects |= ADDR_D_SYNTAX;
        if ((rc = put_word(p, k, txt)) != BUF_OK)
            return rc;
    }
    return BUF_OK;
}

/* has_address - the text contains something shaped like local@domain */
static int has_address(const char *s, size_t n)
{
    size_t i;

    for (i = 1; i + 1 < n; i++)
        if (s[i] == '@' && s[i - 1] != ' ' && s[i + 1] != ' ')
            return 1;
    return 0;
}

/* decode_name - decode raw name text into name (capped), recording defects */
static int decode_name(const struct buf *txt, struct buf *name, unsigned *defects)
{
    unsigned d = 0;
    int rc;

    rc = rfc2047_decode(buf_cstr(txt), txt->len, name, &d);
    if (d & RFC2047_D_8BIT)
        *defects |= ADDR_D_8BIT;
    if (d & RFC2047_D_ENCWORD)
        *defects |= ADDR_D_ENCWORD;
    if (d & RFC2047_D_BAD)
        *defects |= ADDR_D_BAD_ENCWORD;
    return buf_rc(rc);
}

/*
 * cut_name - cut a decoded (sanitized UTF-8) name to ADDR_MAX_NAME bytes,
 * at a character boundary and without a trailing space
 */
static void cut_name(struct buf *name, unsigned *defects)
{
    size_t n = ADDR_MAX_NAME;

    if (name->len <= n)
        return;
    while (n > 0 && ((unsigned char)name->data[n] & 0xC0) == 0x80)
        n--;
    while (n > 0 && name->data[n - 1] == ' ')
        n--;
    name->len = n;
    name->data[n] = '\0';
    *defects |= ADDR_D_LONG_NAME;
}

/*
 * make_name - the display name of a mailbox: the phrase [a, b), or else
 * the first non-empty comment in the item [ia, ie).
 */
static int make_name(const struct parser *p, size_t a, size_t b, size_t ia, size_t ie,
                     struct buf *name, unsigned *defects)
{
    struct buf txt;
    size_t k;
    int rc;

    buf_init(&txt, p->len + 16);
    if ((rc = buf_rc(phrase_text(p, a, b, &txt, defects))) != ADDR_OK)
        goto done;
    if ((rc = decode_name(&txt, name, defects)) != ADDR_OK)
        goto done;
    for (k = ia; k < ie && name->len == 0; k++) {
        if (p->t[k].type != T_COMMENT)
            continue;
        *defects |= ADDR_D_COMMENT;
        buf_reset(&txt);
        if ((rc = buf_rc(put_word(p, k, &txt))) != ADDR_OK ||
            (rc = decode_name(&txt, name, defects)) != ADDR_OK)
            goto done;
    }
    cut_name(name, defects);
    if (has_address(buf_cstr(name), name->len))
        *defects |= ADDR_D_NAME_ADDR;
done:
    buf_free(&txt);
    return rc;
}

/* dup_buf - *out = a malloc'd copy of b, or NULL when b is empty and empty_null is set */
static int dup_buf(const struct buf *b, int empty_null, char **out)
{
    *out = NULL;
    if (b->len == 0 && empty_null)
        return ADDR_OK;
    if ((*out = malloc(b->len + 1)) == NULL)
        return ADDR_ENOMEM;
    if (b->len)
        memcpy(*out, b->data, b->len);
    (*out)[b->len] = '\0';
    return ADDR_OK;
}

/* fill_mailbox - copy a parsed addr-spec and name into m, enforcing the caps */
static int fill_mailbox(struct addr_mailbox *m, const struct spec *sp, const struct buf *name,
                        unsigned defects)
{
    int rc;

    memset(m, 0, sizeof(*m));
    if (sp->local.len > ADDR_MAX_LOCAL || sp->domain.len > ADDR_MAX_DOMAIN ||
        (name && name->len > ADDR_MAX_NAME))
        return ADDR_ECAP;
    if ((rc = dup_buf(&sp->local, 0, &m->local)) != ADDR_OK)
        goto fail;
    if (sp->has_domain && (rc = dup_buf(&sp->domain, 0, &m->domain)) != ADDR_OK)
        goto fail;
    if (name && (rc = dup_buf(name, 1, &m->name)) != ADDR_OK)
        goto fail;
    m->defects = defects;
    return ADDR_OK;
fail:
    addr_mailbox_free(m);
    return rc;
}

/* push_mailbox - append a mailbox to the list */
static int push_mailbox(struct parser *p, const struct spec *sp, const struct buf *name,
                        unsigned defects)
{
    struct addr_list *l = p->out;
    struct addr_mailbox *nm;
    size_t na;
    int rc;

    if (l->n >= ADDR_MAX_MAILBOXES || sp->local.len > ADDR_MAX_LOCAL ||
        sp->domain.len > ADDR_MAX_DOMAIN) {
        /* what cannot be kept is dropped and said so; the list stays usable */
        p->defects |= ADDR_D_CAP;
        return ADDR_OK;
    }
    if (l->n == p->nalloc) {
        na = p->nalloc ? p->nalloc * 2 : 4;
        if ((nm = realloc(l->mb, na * sizeof(*nm))) == NULL)
            return ADDR_ENOMEM;
        l->mb = nm;
        p->nalloc = na;
    }
    if ((rc = fill_mailbox(&l->mb[l->n], sp, name, defects)) != ADDR_OK)
        return rc;
    l->n++;
    return ADDR_OK;
}

/* item_8bit - the raw text of tokens [a, e) has 8-bit bytes */
static int item_8bit(const struct parser *p, size_t a, size_t e)
{
    size_t i;

    if (a >= e)
        return 0;
    for (i = p->t[a].start; i < p->t[e - 1].end; i++)
        if ((unsigned char)p->s[i] >= 0x80)
            return 1;
    return 0;
}

/*
 * item_end - the token that ends the item starting at a: a comma outside
 * angle brackets (or inside them when it does not continue a route), or a
 * semicolon when inside a group.
 */
static size_t item_end(const struct parser *p, size_t a, int in_group)
{
    size_t k, depth = 0;
    unsigned ignore = 0;

    for (k = a; k < p->nt; k++) {
        if (p->t[k].type != T_SPECIAL)
            continue;
        switch (p->t[k].c) {
        case '<':
            depth++;
            break;
        case '>':
            if (depth)
                depth--;
            break;
        case ',':
            if (depth == 0 || !is_sp(p, skip_cfws(p, k + 1, p->nt, &ignore), '@'))
                return k;
            break;
        case ';':
            if (in_group)
                return k;
            break;
        }
    }
    return p->nt;
}

/*
 * parse_mailbox - turn the item [a, e) into at most one mailbox; see the
 * file comment for the rules.  Items of comments only give nothing.
 */
static int parse_mailbox(struct parser *p, size_t a, size_t e, unsigned extra)
{
    struct spec sp;
    struct buf name;
    size_t k, open = e, close = e, depth = 0, at = e, ls, rest, na = a, nb = a;
    unsigned d = extra;
    int rc, angle = 0;

    spec_init(&sp, p->len);
    buf_init(&name, 8 * p->len + 64); /* decoded, then cut to ADDR_MAX_NAME */
    for (k = a; k < e; k++) {
        if (is_sp(p, k, '<')) {
            if (depth++ == 0) {
                open = k;
                close = e;
                angle = 1;
            }
        } else if (is_sp(p, k, '>') && depth > 0 && --depth == 0) {
            close = k;
        } else if (is_sp(p, k, '@')) {
            at = k;
        }
    }
    if (angle) {
        if (close == e)
            d |= ADDR_D_SYNTAX; /* "<" never closed */
        else if (skip_cfws(p, close + 1, e, &d) < e)
            d |= ADDR_D_SYNTAX; /* text after "<...>" */
        if ((rc = parse_angle(p, open + 1, close, &sp)) != ADDR_OK)
            goto done;
        na = a;
        nb = open;
    } else {
        if ((rc = parse_spec(p, a, e, &sp)) != ADDR_OK)
            goto done;
        rest = skip_cfws(p, sp.next, e, &sp.defects);
        if (rest < e && at < e && at >= rest) {
            /* "Cron Daemon root@host", "a@b c@d": the address is the words glued to the last "@" */
            for (ls = at; ls > a && (is_word(p, ls - 1) || is_sp(p, ls - 1, '.')) && !p->t[ls].ws;
                 ls--)
                ;
            if (ls < at) {
                sp.defects = 0;
                if ((rc = parse_spec(p, ls, e, &sp)) != ADDR_OK)
                    goto done;
                nb = ls;
                rest = skip_cfws(p, sp.next, e, &sp.defects);
                d |= ADDR_D_SYNTAX;
            }
        }
        if (rest < e)
            d |= ADDR_D_SYNTAX;
    }
    d |= sp.defects;
    if (!sp.has_local) {
        /* nothing usable: a comment alone is no error, anything else is */
        for (k = a; k < e; k++)
            if (p->t[k].type != T_COMMENT)
                d |= ADDR_D_SYNTAX;
        p->defects |= d & ~ADDR_D_UNQUALIFIED;
        rc = ADDR_OK;
        goto done;
    }
    if ((rc = make_name(p, na, nb, a, e, &name, &d)) != ADDR_OK)
        goto done;
    if (item_8bit(p, a, e))
        d |= ADDR_D_8BIT;
    rc = push_mailbox(p, &sp, &name, d);
done:
    spec_free(&sp);
    buf_free(&name);
    return rc;
}

/*
 * group_colon - when the item at a starts with "phrase:" (a ':' before any
 * '<', '>', '@', ',' or ';'), the index of that ':'; else p->nt.
 */
static size_t group_colon(const struct parser *p, size_t a)
{
    size_t k;

    for (k = a; k < p->nt; k++) {
        if (p->t[k].type != T_SPECIAL)
            continue;
        if (p->t[k].c == ':')
            return k;
        if (strchr("<>@,;", p->t[k].c))
            return p->nt;
    }
    return p->nt;
}

/* parse_group - parse "name: mailbox, ...;" starting at p->pos, colon at c */
static int parse_group(struct parser *p, size_t c)
{
    size_t e;
    unsigned d = 0;
    int rc;

    p->defects |= ADDR_D_GROUP;
    p->pos = c + 1;
    while (p->pos < p->nt) {
        if (is_sp(p, p->pos, ';')) {
            p->pos++;
            break;
        }
        if (is_sp(p, p->pos, ',')) {
            p->pos++;
            continue;
        }
        e = item_end(p, p->pos, 1);
        if ((rc = parse_mailbox(p, p->pos, e, ADDR_D_GROUP)) != ADDR_OK)
            return rc;
        p->pos = e;
    }
    /* after ';' only comments may come before the next comma */
    e = p->pos;
    while (e < p->nt && !is_sp(p, e, ',')) {
        if (p->t[e].type != T_COMMENT)
            d |= ADDR_D_SYNTAX;
        e++;
    }
    p->defects |= d;
    p->pos = e;
    return ADDR_OK;
}

/* parser_free - release the parser's scratch storage */
static void parser_free(struct parser *p)
{
    free(p->s);
    free(p->t);
}

/* addr_parse_list - parse an address-list header value */
int addr_parse_list(const char *s, size_t len, struct addr_list *out)
{
    return addr_parse_list_cs(s, len, NULL, out);
}

/* addr_parse_list_cs - parse an address-list header value of a message declaring charset */
int addr_parse_list_cs(const char *s, size_t len, const char *charset, struct addr_list *out)
{
    struct parser p;
    struct buf leg;
    size_t c, e, i, commas = 0;
    unsigned ld = 0;
    int rc, after_sep = 1;

    memset(out, 0, sizeof(*out));
    if (len > ADDR_MAX_INPUT)
        return ADDR_ECAP;
    memset(&p, 0, sizeof(p));
    p.out = out;
    /*
     * Raw ISO-2022-JP and Shift_JIS become UTF-8 before anything looks for
     * syntax: their bytes hold '<', '"', '(', '@' and '\\' that are text.
     * (A conversion grows the text at most threefold.)
     */
    buf_init(&leg, 4 * len + 16);
    rc = buf_rc(rfc2047_legacy_cs(s, len, charset, &leg, &ld));
    if (rc == ADDR_OK)
        rc = unfold(&p, buf_cstr(&leg), leg.len);
    buf_free(&leg);
    if (ld & RFC2047_D_LEGACY)
        p.defects |= ADDR_D_LEGACY;
    if (ld & RFC2047_D_BAD)
        p.defects |= ADDR_D_BAD_ENCWORD;
    if (rc != ADDR_OK || (rc = tokenize(&p)) != ADDR_OK)
        goto fail;
    while (p.pos < p.nt) {
        if (is_sp(&p, p.pos, ',')) {
            /* ",a@b", "a@b,,c@d": strict readers take the gap for an empty address */
            if (after_sep)
                p.defects |= ADDR_D_EMPTY_ITEM;
            after_sep = 1;
            commas++;
            p.pos++;
            continue;
        }
        after_sep = 0;
        if ((c = group_colon(&p, p.pos)) < p.nt) {
            if ((rc = parse_group(&p, c)) != ADDR_OK)
                goto fail;
            continue;
        }
        e = item_end(&p, p.pos, 0);
        if ((rc = parse_mailbox(&p, p.pos, e, 0)) != ADDR_OK)
            goto fail;
        p.pos = e;
    }
    if (after_sep && commas)
        p.defects |= ADDR_D_EMPTY_ITEM; /* "a@b," */
    out->defects = p.defects;
    for (i = 0; i < out->n; i++)
        out->defects |= out->mb[i].defects;
    if (out->n == 0)
        out->defects |= ADDR_D_EMPTY;
    if (out->n > 1)
        out->defects |= ADDR_D_MULTIPLE;
    parser_free(&p);
    return ADDR_OK;
fail:
    parser_free(&p);
    addr_list_free(out);
    return rc;
}

/* addr_mailbox_free - release the strings of one mailbox; NULL-safe */
void addr_mailbox_free(struct addr_mailbox *m)
{
    if (m == NULL)
        return;
    free(m->name);
    free(m->local);
    free(m->domain);
    m->name = m->local = m->domain = NULL;
    m->defects = 0;
}

/* addr_list_free - release a list filled by addr_parse_list; NULL-safe */
void addr_list_free(struct addr_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++)
        addr_mailbox_free(&l->mb[i]);
    free(l->mb);
    l->mb = NULL;
    l->n = 0;
    l->defects = 0;
}

/* addr_parse_path - parse an envelope address ("<a@b>", "a@b", "<>", "") */
int addr_parse_path(const char *s, size_t len, struct addr_mailbox *out, int *is_null)
{
    struct parser p;
    struct spec sp;
    size_t k, close, depth = 0;
    unsigned d = 0;
    int rc, null = 0;

    memset(out, 0, sizeof(*out));
    if (is_null)
        *is_null = 0;
    if (len > ADDR_MAX_INPUT)
        return ADDR_ECAP;
    memset(&p, 0, sizeof(p));
    spec_init(&sp, len);
    if ((rc = unfold(&p, s, len)) != ADDR_OK || (rc = tokenize(&p)) != ADDR_OK)
        goto done;
    d = p.defects;
    k = skip_cfws(&p, 0, p.nt, &d);
    if (k >= p.nt) {
        null = 1;
    } else if (is_sp(&p, k, '<')) {
        for (close = k; close < p.nt; close++) {
            if (is_sp(&p, close, '<'))
                depth++;
            else if (is_sp(&p, close, '>') && --depth == 0)
                break;
        }
        if (close >= p.nt)
            d |= ADDR_D_SYNTAX;
        else if (skip_cfws(&p, close + 1, p.nt, &d) < p.nt)
            d |= ADDR_D_SYNTAX;
        if (skip_cfws(&p, k + 1, close, &d) >= close)
            null = 1;
        else if ((rc = parse_angle(&p, k + 1, close, &sp)) != ADDR_OK)
            goto done;
    } else {
        if ((rc = parse_spec(&p, k, p.nt, &sp)) != ADDR_OK)
            goto done;
        if (skip_cfws(&p, sp.next, p.nt, &sp.defects) < p.nt)
            d |= ADDR_D_SYNTAX;
    }
    if (null) {
        d &= ~ADDR_D_UNQUALIFIED;
        sp.has_domain = 0;
        buf_reset(&sp.local);
    } else {
        d |= sp.defects;
        if (!sp.has_local)
            d |= ADDR_D_SYNTAX;
    }
    if ((rc = fill_mailbox(out, &sp, NULL, d)) != ADDR_OK)
        goto done;
    if (is_null)
        *is_null = null;
done:
    parser_free(&p);
    spec_free(&sp);
    return rc;
}

/*
 * is_dot_atom - s is atoms joined by single dots, and holds no "=?": a
 * reader could take the text from there to a "?=" in the domain for one
 * encoded word, so such a local part is quoted too.
 */
static int is_dot_atom(const char *s)
{
    int prev_dot = 1;

    if (*s == '\0' || strstr(s, "=?") != NULL)
        return 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (prev_dot)
                return 0;
            prev_dot = 1;
        } else if (is_atext((unsigned char)*s)) {
            prev_dot = 0;
        } else {
            return 0;
        }
    }
    return !prev_dot;
}

/* put_quoted_n - append s/n as a quoted-string; controls (not TAB) become spaces: no line breaks */
static int put_quoted_n(struct buf *b, const char *s, size_t n)
{
    unsigned char c;
    size_t i;
    int rc;

    if ((rc = buf_putc(b, '"')) != BUF_OK)
        return rc;
    for (i = 0; i < n; i++) {
        c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            c = ' '; /* a tab is white space a quoted local part may hold */
        if ((c == '"' || c == '\\') && (rc = buf_putc(b, '\\')) != BUF_OK)
            return rc;
        if ((rc = buf_putc(b, c)) != BUF_OK)
            return rc;
    }
    return buf_putc(b, '"');
}

/* put_quoted - append the C string s as a quoted-string */
static int put_quoted(struct buf *b, const char *s)
{
    return put_quoted_n(b, s, strlen(s));
}

/*
 * put_phrase_quoted - append the display name s/n (sanitized: single spaces)
 * as one quoted-string, or, when it is long, as several separated by spaces.
 * A reader joins the words of a phrase with one space, so the text is the
 * same; hdr_fold never breaks inside a quoted-string, and some parsers
 * (Python's email.utils.getaddresses among them) misread one folded there.
 */
static int put_phrase_quoted(struct buf *b, const char *s, size_t n)
{
    size_t i = 0, j, k;
    int rc;

    while (i < n) {
        j = n - i > ADDR_QCHUNK ? i + ADDR_QCHUNK : n;
        if (j < n && s[j] != ' ') {
            for (k = j; k > i && s[k] != ' '; k--)
                ;
            if (k > i) {
                j = k;
            } else {
                /* one word longer than a chunk: take it whole */
                for (j = i; j < n && s[j] != ' '; j++)
                    ;
            }
        }
        if (i > 0 && (rc = buf_putc(b, ' ')) != BUF_OK)
            return rc;
        if ((rc = put_quoted_n(b, s + i, j - i)) != BUF_OK)
            return rc;
        i = j < n ? j + 1 : j;
    }
    return BUF_OK;
}

/* addr_format_spec - append local@domain, quoting the local part when needed */
int addr_format_spec(struct buf *b, const char *local, const char *domain)
{
    unsigned char c;
    int rc;

    if (local == NULL)
        local = "";
    if (is_dot_atom(local))
        rc = buf_puts(b, local);
    else
        rc = put_quoted(b, local);
    if (rc != BUF_OK || domain == NULL)
        return rc;
    if ((rc = buf_putc(b, '@')) != BUF_OK)
        return rc;
    for (; *domain; domain++) {
        c = (unsigned char)*domain;
        if ((rc = buf_putc(b, (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : c)) != BUF_OK)
            return rc;
    }
    return BUF_OK;
}

/* is_atom_phrase - s/n is atoms separated by single spaces (sanitized text) */
static int is_atom_phrase(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] == ' ') {
            if (s[i - 1] == ' ')
                return 0;
        } else if (!is_atext((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* addr_format_mailbox - append "name <local@domain>" (or the bare spec) for a header */
int addr_format_mailbox(struct buf *b, const char *name, const char *local, const char *domain,
                        int utf8)
{
    struct buf t;
    size_t n = name ? strlen(name) : 0, start = b->len;
    int rc;

    /* sanitizing turns a stray byte into at most 3 bytes of UTF-8 */
    buf_init(&t, n < ((size_t)-1) / 4 ? n * 3 + 16 : ((size_t)-1) / 2);
    if ((rc = rfc2047_sanitize(name ? name : "", n, &t)) != BUF_OK)
        goto done;
    if (t.len == 0) {
        rc = addr_format_spec(b, local, domain);
        goto done;
    }
    if (strstr(t.data, "=?") != NULL) {
        /* literal "=?" would be taken for an encoded word by the reader: encode it */
        rc = rfc2047_encode(t.data, t.len, b);
    } else if (rfc2047_is_ascii(t.data, t.len)) {
        if (is_atom_phrase(t.data, t.len))
            rc = buf_append(b, t.data, t.len);
        else
            rc = put_phrase_quoted(b, t.data, t.len);
    } else if (utf8) {
        rc = put_phrase_quoted(b, t.data, t.len);
    } else {
        rc = rfc2047_encode(t.data, t.len, b);
    }
    if (rc != BUF_OK || (rc = buf_puts(b, " <")) != BUF_OK ||
        (rc = addr_format_spec(b, local, domain)) != BUF_OK)
        goto done;
    rc = buf_putc(b, '>');
done:
    buf_free(&t);
    if (rc != BUF_OK && b->len > start) {
        /* leave no half-written mailbox behind */
        b->len = start;
        b->data[start] = '\0';
    }
    return rc;
}

/* addr_spec_clean - local@domain may be written into a header unchanged */
int addr_spec_clean(const char *local, const char *domain, int utf8)
{
    const char *v[2] = {local, domain};
    int k;

    for (k = 0; k < 2; k++) {
        if (v[k] == NULL || rfc2047_is_ascii(v[k], strlen(v[k])))
            continue;
        if (!utf8 || !rfc2047_is_utf8(v[k], strlen(v[k])))
            return 0;
    }
    return 1;
}

/* addr_equal - case-insensitive comparison of two addr-specs (domain NULL matches only NULL) */
int addr_equal(const char *l1, const char *d1, const char *l2, const char *d2)
{
    const char *a[2] = {l1, d1}, *b[2] = {l2, d2};
    const char *x, *y;
    int i;

    for (i = 0; i < 2; i++) {
        x = a[i];
        y = b[i];
        if (x == NULL || y == NULL) {
            if (x != y)
                return 0;
            continue;
        }
        while (*x && lower((unsigned char)*x) == lower((unsigned char)*y)) {
            x++;
            y++;
        }
        if (*x != *y)
            return 0;
    }
    return 1;
}
