/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of conf (sendas.conf parsing) and route (route selection).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "unit.h"
#include "conf.h"
#include "route.h"

static struct conf *parse(const char *text, char *err)
{
    return conf_parse("t.conf", text, strlen(text), err, CONF_ERRLEN);
}

/* Each bad configuration must be refused with the file, line and a hint. */
static const struct {
    const char *name, *text, *want, *nowant;
} bad_cases[] = {
    {"unknown directive", "mailbox a@b.c\nroute * a@b.c\nfrobnicate yes\n", "t.conf:3: unknown directive \"frobnicate\""},
    {"route to undeclared mailbox", "mailbox a@b.c\nroute * x@b.c\n", "t.conf:2: route *: x@b.c is not a declared mailbox"},
    {"no mailbox", "route * reject\n", "t.conf: no mailbox declared", ":0:"},
    {"no route", "mailbox a@b.c\n", "t.conf: no route declared", ":0:"},
    {"mailbox without address", "mailbox\n", "t.conf:1: mailbox: an address is required"},
    {"mailbox domain only", "mailbox @b.c\n", "t.conf:1: mailbox \"@b.c\": a whole address is needed"},
    {"sendas keyword missing", "mailbox a@b.c x@b.c y@b.c\n", "expected \"sendas\""},
    /* a mailbox's own limits (issue 10): the global settings' bounds, FILE:LINE of the word */
    {"mailbox limit unknown", "mailbox a@b.c limit_mesages_per_minute 5\nroute * a@b.c\n",
     "t.conf:1: mailbox a@b.c: unknown limit \"limit_mesages_per_minute\" (did you mean \"limit_messages_per_minute\"?)"},
    {"mailbox limit not per mailbox", "mailbox a@b.c limit_bogus 5\nroute * a@b.c\n",
     "t.conf:1: mailbox a@b.c: unknown limit \"limit_bogus\" (a mailbox may set"},
    {"mailbox limit without value", "mailbox a@b.c sendas @x.y limit_headroom\nroute * a@b.c\n",
     "t.conf:1: mailbox a@b.c: limit_headroom needs a value"},
    {"mailbox limit out of bounds", "mailbox a@b.c\n  limit_headroom 0\nroute * a@b.c\n",
     "t.conf:2: limit_headroom \"0\": expected 1 to 100 (percent)"},
    {"mailbox limit not a number", "mailbox a@b.c limit_messages_per_minute ten\nroute * a@b.c\n",
     "t.conf:1: limit_messages_per_minute \"ten\": expected 0 to 1000000"},
    {"mailbox limit twice", "mailbox a@b.c limit_headroom 50 sendas @x.y\n  limit_headroom 60\nroute * a@b.c\n",
     "t.conf:2: mailbox a@b.c: limit_headroom is set twice"},
    {"mailbox limit twice via limits", "mailbox a@b.c limit_headroom 50\nroute * a@b.c\nlimits a@b.c limit_headroom 60\n",
     "t.conf:3: mailbox a@b.c: limit_headroom is set twice"},
    {"mailbox sendas without patterns before a limit", "mailbox a@b.c sendas limit_headroom 50\nroute * a@b.c\n",
     "t.conf:1: mailbox a@b.c: expected \"sendas\" followed by addresses"},
    {"limits unknown mailbox", "mailbox relay@b.c\nroute * relay@b.c\nlimits rely@b.c limit_headroom 5\n",
     "t.conf:3: limits rely@b.c: not a declared mailbox (did you mean relay@b.c?)"},
    {"limits before its mailbox", "limits a@b.c limit_headroom 5\nmailbox a@b.c\nroute * a@b.c\n",
     "t.conf:1: limits a@b.c: not a declared mailbox (declare it"},
    {"limits odd words", "mailbox a@b.c\nroute * a@b.c\nlimits a@b.c limit_headroom\n",
     "t.conf:3: limits: expected \"limits MAILBOX limit_NAME VALUE ...\""},
    {"limits not a limit", "mailbox a@b.c\nroute * a@b.c\nlimits a@b.c sendas @x.y\n",
     "t.conf:3: limits a@b.c: expected limit_NAME VALUE pairs, not \"sendas\""},
    {"pacing not a boolean", "mailbox a@b.c\nroute * a@b.c\npacing maybe\n", "t.conf:3: pacing: \"maybe\" is not yes or no"},
    {"intake_rate_limit word", "mailbox a@b.c\nroute * a@b.c\nintake_rate_limit sometimes\n",
     "t.conf:3: intake_rate_limit \"sometimes\": expected auto, yes or no"},
    {"relays bounds", "mailbox a@b.c\nroute * a@b.c\nrelays 65\n", "t.conf:3: relays \"65\": expected a number from 1 to 64"},
    {"bad sendas pattern", "mailbox a@b.c sendas nodomain\n", "t.conf:1: sendas \"nodomain\": expected user@domain or @domain"},
    {"bad domain", "mailbox a@b..c\n", "invalid domain"},
    {"duplicate mailbox", "mailbox a@b.c\nmailbox A@B.C\n", "t.conf:2: mailbox A@B.C is declared twice"},
    {"bad selector", "mailbox a@b.c\nroute helo:x a@b.c\n", "t.conf:2: route: unknown selector \"helo:x\""},
    {"bad cidr", "mailbox a@b.c\nroute client:10.0.0.0/33 a@b.c\n", "prefix length must be 0..32"},
    {"bad ip", "mailbox a@b.c\nroute client:10.0.0/8 a@b.c\n", "is not an IPv4 or IPv6 address"},
    {"route arity", "mailbox a@b.c\nroute * \n", "t.conf:2: route: expected"},
    {"bad yesno", "mailbox a@b.c\nroute * a@b.c\nadd_reply_to maybe\n", "t.conf:3: add_reply_to: \"maybe\" is not yes or no"},
    {"world socket", "mailbox a@b.c\nroute * a@b.c\nsocket_mode 0666\n", "refusing a socket that everybody may use"},
    {"bad socket", "mailbox a@b.c\nroute * a@b.c\nmilter_socket tcp:25\n", "expected unix:PATH or inet:PORT@HOST"},
    {"trace header is From", "mailbox a@b.c\nroute * a@b.c\ntrace_header from\n", "must not be a header the rewrite changes"},
    {"continuation first", "  mailbox a@b.c\n", "t.conf:1: continuation line with nothing to continue"},
    {"NUL byte", "mailbox a@b.c\nroute * a@b.c\n#\0x\n", "NUL byte"},
    /* an error about one word names the physical line of that word */
    {"error line after continuation", "mailbox a@b.c sendas\n  x@b.c\n  bad\nroute * a@b.c\n", "t.conf:3: sendas \"bad\""},
    {"value on a continuation line", "mailbox a@b.c\nroute * a@b.c\nadd_reply_to\n  maybe\n", "t.conf:4: add_reply_to: \"maybe\""},
    {"selector on a continuation line", "mailbox a@b.c\nroute\n  client:10.0.0.0/33 a@b.c\n", "t.conf:3: route client:10.0.0.0/33"},
    {"route target on a continuation line", "mailbox a@b.c\nroute *\n\n  x@b.c\n", "t.conf:4: route *: x@b.c is not a declared mailbox"},
    {"mailbox on a continuation line", "mailbox\n  a@@b.c\nroute * a@b.c\n", "t.conf:2: mailbox \"a@@b.c\""},
    /* a directive that looks like a known one is unknown, with the nearest known one */
    {"typo of route", "mailbox a@b.c\nroute * a@b.c\nrout * a@b.c\n", "t.conf:3: unknown directive \"rout\" (did you mean \"route\"?)"},
    {"typo of a setting", "mailbox a@b.c\nroute * a@b.c\nkeep_display_nam yes\n", "t.conf:3: unknown directive \"keep_display_nam\" (did you mean \"keep_display_name\"?)"},
    {"transposed letters", "mailbox a@b.c\nroute * a@b.c\nmialbox x@b.c\n", "(did you mean \"mailbox\"?)"},
    {"typo of an oauth setting", "mailbox a@b.c\nroute * a@b.c\noauth_client_idd x\n", "(did you mean \"oauth_client_id\"?)"},
    {"typo of a token setting", "mailbox a@b.c\nroute * a@b.c\ntoken_retry_mn 5\n", "(did you mean \"token_retry_min\"?)"},
    {"typo of a limit", "mailbox a@b.c\nroute * a@b.c\nlimit_headrom 80\n", "(did you mean \"limit_headroom\"?)"},
    {"keyword in upper case", "Mailbox a@b.c\n", "t.conf:1: unknown directive \"Mailbox\" (did you mean \"mailbox\"?)"},
    {"unknown, nothing near", "mailbox a@b.c\nroute * a@b.c\nfrobnicate yes\n", "t.conf:3: unknown directive \"frobnicate\"", "did you mean"},
    {"BOM in the middle", "mailbox a@b.c\n\xef\xbb\xbfroute * a@b.c\n", "t.conf:2: unknown directive \"???route\" (a UTF-8 byte-order mark?)"},
    {"control characters never reach the message", "mailbox a@b.c\nroute * a@b.c\n\x1b[31mx yes\n", "t.conf:3: unknown directive \"?[31mx\"", "\x1b"},
    /* a typo'd mailbox in a route: the declared mailbox it is nearest to */
    {"route target typo", "mailbox relay@contoso.com\nmailbox scanner@contoso.com\nroute * relay@contoso.co\n", "t.conf:3: route *: relay@contoso.co is not a declared mailbox (did you mean relay@contoso.com?)"},
    {"route target typo in the local part", "mailbox relay@contoso.com\nroute sasl:x rely@contoso.com\nroute * relay@contoso.com\n", "(did you mean relay@contoso.com?)"},
    {"route target far from any mailbox", "mailbox a@b.c\nroute * x@y.example\n", "(add \"mailbox x@y.example\")", "did you mean"},
    /* text pasted from a document or a web page (review of issue 12.14) */
    {"typographic quotes around a route target", "mailbox relay@contoso.com\nroute * \xe2\x80\x9crelay@contoso.com\xe2\x80\x9d\n",
     "t.conf:2: route target \"\xe2\x80\x9crelay@contoso.com\xe2\x80\x9d\": typographic quotes", "add \"mailbox"},
    {"typographic quotes in a sendas list", "mailbox a@b.c sendas \xe2\x80\x98x@b.c\xe2\x80\x99\nroute * a@b.c\n",
     "t.conf:1: sendas \"\xe2\x80\x98x@b.c\xe2\x80\x99\": typographic quotes"},
    {"guillemets around a mailbox", "mailbox \xc2\xab" "a@b.c\xc2\xbb\nroute * reject\n", "typographic quotes"},
    {"non-breaking space after a directive", "mailbox a@b.c\nroute\xc2\xa0* a@b.c\n",
     "t.conf:2: unknown directive \"route??*\" (a non-breaking space? separate words with spaces or tabs)"},
    {"endpoint without a host", "mailbox a@b.c\nroute * a@b.c\noauth_token_endpoint https://\n",
     "t.conf:3: oauth_token_endpoint \"https://\": expected an https:// URL"},
    {"endpoint with an empty host", "mailbox a@b.c\nroute * a@b.c\noauth_token_endpoint https:///t/token\n",
     "expected an https:// URL"},
    {"tenant with a path in it", "mailbox a@b.c\nroute * a@b.c\noauth_tenant contoso.onmicrosoft.com/oauth2\n",
     "t.conf:3: oauth_tenant \"contoso.onmicrosoft.com/oauth2\": expected the directory (tenant) id"},
    {"tenant with a query in it", "mailbox a@b.c\nroute * a@b.c\noauth_tenant contoso?x=1\n",
     "expected the directory (tenant) id"},
    {"directive=value", "mailbox a@b.c\nroute * a@b.c\nadd_reply_to=yes\n",
     "t.conf:3: unknown directive \"add_reply_to=yes\" (write \"add_reply_to VALUE\": a space, not =)"},
    {"route=selector", "mailbox a@b.c\nroute=* a@b.c\n", "(write \"route VALUE\": a space, not =)"},
};

START_TEST(test_bad_configs)
{
    char err[CONF_ERRLEN];
    size_t len = strlen(bad_cases[_i].text);
    struct conf *c;

    if (strcmp(bad_cases[_i].name, "NUL byte") == 0)
        len = 30;
    c = conf_parse("t.conf", bad_cases[_i].text, len, err, sizeof(err));
    ck_assert_msg(c == NULL, "%s: accepted", bad_cases[_i].name);
    ck_assert_msg(strstr(err, bad_cases[_i].want) != NULL, "%s: got \"%s\", want \"%s\"",
                  bad_cases[_i].name, err, bad_cases[_i].want);
    ck_assert_msg(bad_cases[_i].nowant == NULL || strstr(err, bad_cases[_i].nowant) == NULL,
                  "%s: got \"%s\", which has \"%s\"", bad_cases[_i].name, err,
                  bad_cases[_i].nowant);
}
END_TEST

START_TEST(test_defaults_and_settings)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse("# comment\n"
                           "mailbox relay@Contoso.COM sendas alerts@contoso.com\n"
                           "    @shared.contoso.com   # grants continue here\n"
                           "\n"
                           "route * relay@contoso.com\n",
                           err);

    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->nmailboxes, 1);
    ck_assert_str_eq(c->mailboxes[0].address, "relay@contoso.com");
    ck_assert_uint_eq(c->mailboxes[0].nsendas, 2);
    ck_assert_int_eq(c->keep_display_name, 1);
    ck_assert_int_eq(c->add_reply_to, 1);
    ck_assert_int_eq(c->rewrite_envelope, 1);
    ck_assert_str_eq(c->trace_header, "X-Original-From");
    ck_assert_int_eq(c->sender_header, SENDER_REMOVE);
    ck_assert_int_eq(c->no_route, NOROUTE_REJECT);
    ck_assert_uint_eq(c->socket_mode, 0660);
    ck_assert_str_eq(c->socket_group, "postfix");
    conf_free(c);

    c = parse("mailbox a@b.c\nroute * a@b.c\ntrace_header none\nadd_reply_to no\n"
              "sender_header rewrite\nno_route accept\nqualify_domain Corp.Local\n"
              "milter_socket inet:8891@127.0.0.1\nsocket_mode 0600\n",
              err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_ptr_null(c->trace_header);
    ck_assert_int_eq(c->add_reply_to, 0);
    ck_assert_int_eq(c->sender_header, SENDER_REWRITE);
    ck_assert_int_eq(c->no_route, NOROUTE_ACCEPT);
    ck_assert_str_eq(c->qualify_domain, "corp.local");
    ck_assert_str_eq(c->milter_socket, "inet:8891@127.0.0.1");
    ck_assert_uint_eq(c->socket_mode, 0600);
    conf_free(c);
}
END_TEST

/* A mailbox's own limits, in its line (among the sendas patterns) or a limits directive,
 * over the global ones; conf_mailbox_limits says which apply. */
START_TEST(test_mailbox_limits)
{
    char err[CONF_ERRLEN];
    struct conf_limits l;
    struct conf *c = parse("limit_messages_per_minute 20\n"
                           "mailbox scanner@b.c limit_messages_per_minute 10 sendas @scan.corp\n"
                           "    limit_recipients_per_day 2000 x@y.z\n"
                           "mailbox relay@b.c\n"
                           "mailbox bulk@b.c sendas @bulk.corp\n"
                           "limits bulk@b.c limit_messages_per_minute 0 limit_headroom 100\n"
                           "  limit_message_size 1000 limit_recipients_per_message 7\n"
                           "route * relay@b.c\n",
                           err);

    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->mailboxes[0].nsendas, 2); /* @scan.corp and x@y.z */
    ck_assert_uint_eq(c->mailboxes[0].limits_set, CONF_LIM_MPM | CONF_LIM_RPD);
    conf_mailbox_limits(c, &c->mailboxes[0], &l);
    ck_assert_uint_eq(l.messages_per_minute, 10);
    ck_assert_uint_eq(l.recipients_per_day, 2000);
    ck_assert_uint_eq(l.recipients_per_message, 500); /* the global default */
    ck_assert_uint_eq(l.headroom, 90);
    conf_mailbox_limits(c, &c->mailboxes[1], &l); /* none of its own: the global ones */
    ck_assert_uint_eq(c->mailboxes[1].limits_set, 0);
    ck_assert_uint_eq(l.messages_per_minute, 20);
    ck_assert_uint_eq(l.recipients_per_day, 10000);
    conf_mailbox_limits(c, &c->mailboxes[2], &l); /* its own 0: no per-minute limit */
    ck_assert_uint_eq(l.messages_per_minute, 0);
    ck_assert_uint_eq(l.headroom, 100);
    ck_assert_uint_eq(l.message_size, 1000);
    ck_assert_uint_eq(l.recipients_per_message, 7);
    ck_assert_uint_eq(c->mailboxes[2].nsendas, 1);
    ck_assert_int_eq(c->pacing, 0); /* the defaults of the pacing settings */
    ck_assert_int_eq(c->intake_rate_limit, INTAKE_AUTO);
    ck_assert_uint_eq(c->relays, 1);
    conf_free(c);

    /* an address may begin with limit_ too: it has an '@', so it is a sendas address */
    c = parse("mailbox a@b.c sendas limit_alerts@b.c limit_headroom 50 @limit_x.b.c\n"
              "route * a@b.c\n", err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->mailboxes[0].nsendas, 2);
    ck_assert_int_ne(conf_mailbox_permits(&c->mailboxes[0], "limit_alerts", "b.c"), 0);
    ck_assert_uint_eq(c->mailboxes[0].limits.headroom, 50);
    conf_free(c);

    c = parse("mailbox a@b.c\nroute * a@b.c\npacing yes\nintake_rate_limit no\nrelays 2\n", err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(c->pacing, 1);
    ck_assert_int_eq(c->intake_rate_limit, INTAKE_NO);
    ck_assert_uint_eq(c->relays, 2);
    conf_free(c);
}
END_TEST

/* idle_timeout: the daemons' bound on a silent connection, 1..86400 seconds */
START_TEST(test_idle_timeout)
{
    static const char *const bad[] = {"0", "86401", "-5", "10s", ""};
    char err[CONF_ERRLEN], text[128];
    struct conf *c = parse("mailbox a@b.c\nroute * a@b.c\n", err);
    size_t i;

    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->idle_timeout, 360); /* above Postfix's smtpd_timeout */
    conf_free(c);
    c = parse("mailbox a@b.c\nroute * a@b.c\nidle_timeout 86400\n", err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->idle_timeout, 86400);
    conf_free(c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "mailbox a@b.c\nroute * a@b.c\nidle_timeout %s\n", bad[i]);
        c = parse(text, err);
        ck_assert_msg(c == NULL, "idle_timeout \"%s\" accepted", bad[i]);
        ck_assert_msg(strstr(err, "t.conf:3: idle_timeout") != NULL, "%s", err);
    }
}
END_TEST

/* store, redis_* and relays (issue 10): defaults, values, and refusals naming FILE:LINE */
START_TEST(test_store_directives)
{
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"store memcached", "t.conf:3: store"},
        {"redis_address localhost", "t.conf:3: redis_address \"localhost\": expected"},
        {"redis_address ::1:6379", "t.conf:3: redis_address"},
        {"redis_address [::1]6379", "t.conf:3: redis_address"},
        {"redis_address 127.0.0.1:0", "t.conf:3: redis_address"},
        {"redis_address 127.0.0.1:65536", "t.conf:3: redis_address"},
        {"redis_address unix:relative.sock", "t.conf:3: redis_address"},
        {"redis_database -1", "t.conf:3: redis_database"},
        {"redis_timeout 5", "t.conf:3: redis_timeout"},
        {"redis_password_file secret.txt", "t.conf:3: redis_password_file \"secret.txt\": expected an absolute path"},
        {"relays 0", "t.conf:3: relays"},
        {"relays 65", "t.conf:3: relays"},
    };
    char err[CONF_ERRLEN], text[256];
    struct conf *c = parse("mailbox a@b.c\nroute * a@b.c\n", err);
    size_t i;

    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(c->store, STORE_SQLITE);
    ck_assert_str_eq(c->redis_address, "127.0.0.1:6379");
    ck_assert_uint_eq(c->redis_database, 0);
    ck_assert_ptr_null(c->redis_password_file);
    ck_assert_uint_eq(c->redis_timeout, 200);
    ck_assert_uint_eq(c->relays, 1);
    conf_free(c);
    c = parse("mailbox a@b.c\nroute * a@b.c\nstore redis\nredis_address [::1]:6380\n"
              "redis_database 3\nredis_password_file /etc/sendas/redis.pw\nredis_timeout 50\n"
              "relays 2\n", err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(c->store, STORE_REDIS);
    ck_assert_str_eq(c->redis_address, "[::1]:6380");
    ck_assert_uint_eq(c->redis_database, 3);
    ck_assert_str_eq(c->redis_password_file, "/etc/sendas/redis.pw");
    ck_assert_uint_eq(c->redis_timeout, 50);
    ck_assert_uint_eq(c->relays, 2);
    conf_free(c);
    c = parse("mailbox a@b.c\nroute * a@b.c\nredis_address unix:/run/redis/redis.sock\n", err);
    ck_assert_msg(c != NULL, "%s", err);
    conf_free(c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "mailbox a@b.c\nroute * a@b.c\n%s\n", bad[i].line);
        c = parse(text, err);
        ck_assert_msg(c == NULL, "\"%s\" accepted", bad[i].line);
        ck_assert_msg(strstr(err, bad[i].want) != NULL, "%s: %s", bad[i].line, err);
    }
}
END_TEST

START_TEST(test_permits)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse("mailbox relay@contoso.com sendas alerts@contoso.com @shared.contoso.com\n"
                           "route * relay@contoso.com\n",
                           err);
    const struct conf_mailbox *mb;

    ck_assert_msg(c != NULL, "%s", err);
    mb = &c->mailboxes[0];
    ck_assert(conf_mailbox_permits(mb, "relay", "contoso.com"));
    ck_assert(conf_mailbox_permits(mb, "RELAY", "Contoso.Com"));
    ck_assert(conf_mailbox_permits(mb, "alerts", "contoso.com"));
    ck_assert(conf_mailbox_permits(mb, "anyone", "shared.contoso.com"));
    ck_assert(!conf_mailbox_permits(mb, "other", "contoso.com"));
    ck_assert(!conf_mailbox_permits(mb, "anyone", "sub.shared.contoso.com"));
    ck_assert(!conf_mailbox_permits(mb, "relay", NULL));
    conf_free(c);
}
END_TEST

/* Route selection: first match wins, from: waits for the header. */
static const char route_conf[] = "mailbox a@x.com\nmailbox b@x.com\nmailbox c@x.com\n"
                                 "route sasl:printer01 b@x.com\n"
                                 "route client:10.1.0.0/16 b@x.com\n"
                                 "route client:2001:db8::/32 c@x.com\n"
                                 "route client:::ffff:198.51.100.0/120 c@x.com\n"
                                 "route client:::FFFF:203.0.113.9 a@x.com\n"
                                 "route sender:blocked@legacy.local reject\n"
                                 "route sender:@mon01.corp.local c@x.com\n"
                                 "route from:@printers.local b@x.com\n"
                                 "route * a@x.com\n";

static const struct {
    const char *name, *sasl, *client, *env_l, *env_d, *from_l, *from_d;
    int have_from;
    enum route_status want;
    const char *want_route;
} route_cases[] = {
    {"sasl login wins", "printer01", "192.0.2.1", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "sasl:printer01"},
    {"sasl login case-insensitive", "PRINTER01", NULL, "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "sasl:printer01"},
    {"ipv4 cidr", NULL, "10.1.200.3", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "client:10.1.0.0/16"},
    {"ipv4 outside cidr", NULL, "10.2.0.1", "x", "mon01.corp.local", NULL, NULL, 0, ROUTE_MATCH, "sender:@mon01.corp.local"},
    {"ipv4-mapped ipv6", NULL, "::ffff:10.1.0.9", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "client:10.1.0.0/16"},
    {"ipv6 cidr", NULL, "2001:db8:1::5", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "client:2001:db8::/32"},
    {"mapped network, ipv4 client", NULL, "198.51.100.7", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "client:::ffff:198.51.100.0/120"},
    {"mapped network, mapped client", NULL, "::ffff:198.51.100.200", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "client:::ffff:198.51.100.0/120"},
    {"mapped host, ipv4 client", NULL, "203.0.113.9", "x", "y.com", NULL, NULL, 0, ROUTE_MATCH, "client:::FFFF:203.0.113.9"},
    {"outside the mapped network", NULL, "198.51.101.7", "x", "mon01.corp.local", NULL, NULL, 0, ROUTE_MATCH, "sender:@mon01.corp.local"},
    {"ipv6 client is not the mapped one", NULL, "::198.51.100.7", "x", "mon01.corp.local", NULL, NULL, 0, ROUTE_MATCH, "sender:@mon01.corp.local"},
    {"reject route", NULL, "192.0.2.1", "blocked", "legacy.local", NULL, NULL, 0, ROUTE_MATCH, "sender:blocked@legacy.local"},
    {"from route needs header", NULL, "192.0.2.1", "x", "y.com", NULL, NULL, 0, ROUTE_NEED_FROM, NULL},
    {"from route matches", NULL, "192.0.2.1", "x", "y.com", "scan", "printers.local", 1, ROUTE_MATCH, "from:@printers.local"},
    {"falls through to star", NULL, "192.0.2.1", "x", "y.com", "x", "y.com", 1, ROUTE_MATCH, "*"},
    {"null sender falls through", NULL, NULL, NULL, NULL, NULL, NULL, 1, ROUTE_MATCH, "*"},
};

START_TEST(test_routes)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse(route_conf, err);
    struct route_input in;
    const struct conf_route *r;
    enum route_status st;

    ck_assert_msg(c != NULL, "%s", err);
    memset(&in, 0, sizeof(in));
    in.sasl_login = route_cases[_i].sasl;
    route_set_client(&in, route_cases[_i].client);
    in.env_local = route_cases[_i].env_l;
    in.env_domain = route_cases[_i].env_d;
    in.have_from = route_cases[_i].have_from;
    in.from_local = route_cases[_i].from_l;
    in.from_domain = route_cases[_i].from_d;
    st = route_select(c, &in, &r);
    ck_assert_msg(st == route_cases[_i].want, "%s: status %d", route_cases[_i].name, st);
    if (route_cases[_i].want_route)
        ck_assert_str_eq(r->text, route_cases[_i].want_route);
    conf_free(c);
}
END_TEST

START_TEST(test_no_match)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse("mailbox a@x.com\nroute sender:@y.com a@x.com\n", err);
    struct route_input in;
    const struct conf_route *r;

    ck_assert_msg(c != NULL, "%s", err);
    memset(&in, 0, sizeof(in));
    in.env_local = "u";
    in.env_domain = "z.com";
    ck_assert_int_eq(route_select(c, &in, &r), ROUTE_NOMATCH);
    ck_assert_ptr_null(r);
    conf_free(c);
}
END_TEST

START_TEST(test_caps)
{
    char err[CONF_ERRLEN];
    size_t n = CONF_MAX_LINE + 100, i;
    char *big = malloc(n + 64);
    struct conf *c;

    /* a logical line longer than CONF_MAX_LINE through continuations */
    memcpy(big, "mailbox a@b.c sendas", 20);
    for (i = 20; i < n; i++)
        big[i] = (i % 40 == 0) ? '\n' : (i % 40 == 1 ? ' ' : 'x');
    memcpy(big + n, "@y.com\n", 8);
    c = conf_parse("t.conf", big, strlen(big), err, sizeof(err));
    ck_assert_ptr_null(c);
    /* the directive starts at line 1; the cap is reached on a continuation line */
    ck_assert_msg(strstr(err, "t.conf:1: line too long (more than 8192 bytes, reached at line 205)") != NULL, "%s", err);
    free(big);

    /* more words than CONF_MAX_ARGS: the first line, where it was reached, the sendas cap */
    big = malloc(20000);
    n = (size_t)snprintf(big, 20000, "mailbox a@b.c sendas\n");
    for (i = 0; i < CONF_MAX_ARGS; i++)
        n += (size_t)snprintf(big + n, 20000 - n, "  u%zu@y.com\n", i);
    c = conf_parse("t.conf", big, n, err, sizeof(err));
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "t.conf:1: too many words in one directive (at most 256, reached at line 255; "
                              "a mailbox takes at most 253 sendas entries)") != NULL, "%s", err);
    /* exactly the cap of sendas entries is accepted */
    n = (size_t)snprintf(big, 20000, "route * a@b.c\nmailbox a@b.c sendas\n");
    for (i = 0; i < CONF_MAX_ARGS - 3; i++)
        n += (size_t)snprintf(big + n, 20000 - n, "  u%zu@y.com\n", i);
    c = conf_parse("t.conf", big, n, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->mailboxes[0].nsendas, CONF_MAX_ARGS - 3);
    conf_free(c);
    free(big);

    /* a file over CONF_MAX_FILE */
    big = calloc(1, (size_t)CONF_MAX_FILE + 2);
    memset(big, '#', (size_t)CONF_MAX_FILE + 1);
    c = conf_parse("t.conf", big, (size_t)CONF_MAX_FILE + 1, err, sizeof(err));
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "file too large") != NULL, "%s", err);
    free(big);
}
END_TEST

/* Accepted, but surely a mistake: each gives one warning naming the line (or none). */
static const struct {
    const char *name, *text, *want;
} warn_cases[] = {
    {"clean", "mailbox a@b.c\nroute client:10.0.0.0/8 a@b.c\nroute client:2001:db8::/32 a@b.c\nroute * a@b.c\n", NULL},
    {"ipv4 host bits", "mailbox a@b.c\nroute client:10.1.2.3/8 a@b.c\n",
     "t.conf:2: route client:10.1.2.3/8: host bits are set: this is the network 10.0.0.0/8 (for one host write 10.1.2.3)"},
    {"ipv6 host bits", "mailbox a@b.c\nroute client:2001:db8::1/32 a@b.c\n",
     "t.conf:2: route client:2001:db8::1/32: host bits are set: this is the network 2001:db8::/32"},
    {"mapped host bits", "mailbox a@b.c\nroute client:::ffff:192.0.2.7/120 a@b.c\n",
     "t.conf:2: route client:::ffff:192.0.2.7/120: host bits are set: this is the network ::ffff:192.0.2.0/120"},
    {"route after star", "mailbox a@b.c\nroute * a@b.c\nroute sender:@x.y reject\n",
     "t.conf:3: route sender:@x.y can never match: route * (line 2) matches everything it would"},
    {"star after star", "mailbox a@b.c\nroute * a@b.c\n\nroute * reject\n",
     "t.conf:4: route * can never match: route * (line 2)"},
    {"same sasl login", "mailbox a@b.c\nroute sasl:p1 a@b.c\nroute sasl:P1 reject\n",
     "t.conf:3: route sasl:P1 can never match: route sasl:p1 (line 2)"},
    {"narrower network after wider", "mailbox a@b.c\nroute client:10.0.0.0/8 a@b.c\nroute client:10.1.0.0/16 reject\n",
     "t.conf:3: route client:10.1.0.0/16 can never match: route client:10.0.0.0/8 (line 2)"},
    {"wider network after narrower", "mailbox a@b.c\nroute client:10.1.0.0/16 a@b.c\nroute client:10.0.0.0/8 reject\n", NULL},
    {"mapped host after ipv4 network", "mailbox a@b.c\nroute client:192.0.2.0/24 a@b.c\nroute client:::ffff:192.0.2.7 reject\n",
     "t.conf:3: route client:::ffff:192.0.2.7 can never match: route client:192.0.2.0/24 (line 2)"},
    {"ipv4 after ipv6 network", "mailbox a@b.c\nroute client:2001:db8::/32 a@b.c\nroute client:192.0.2.7 reject\n", NULL},
    {"address after its domain", "mailbox a@b.c\nroute sender:@x.y a@b.c\nroute sender:U@X.Y reject\n",
     "t.conf:3: route sender:U@X.Y can never match: route sender:@x.y (line 2)"},
    {"domain after an address", "mailbox a@b.c\nroute sender:u@x.y a@b.c\nroute sender:@x.y reject\n", NULL},
    {"from after sender", "mailbox a@b.c\nroute sender:@x.y a@b.c\nroute from:@x.y reject\n", NULL},
    {"star as a wildcard in a sendas list", "mailbox a@b.c sendas *@x.y\nroute * a@b.c\n",
     "t.conf:1: sendas \"*@x.y\": '*' is no wildcard: this is the one address *@x.y (every address of x.y: @x.y)"},
    {"star as a wildcard in a route", "mailbox a@b.c\nroute sender:rep*@x.y a@b.c\nroute * a@b.c\n",
     "t.conf:2: route sender: \"rep*@x.y\": '*' is no wildcard"},
    {"oauth mailbox not declared", "mailbox relay@contoso.com\nroute * relay@contoso.com\noauth_mailboxes relay@contoso.com rleay@contoso.com\n",
     "t.conf:3: oauth_mailboxes: rleay@contoso.com is not a declared mailbox, no route sends through it (did you mean relay@contoso.com?)"},
};

START_TEST(test_warnings)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse(warn_cases[_i].text, err);

    ck_assert_msg(c != NULL, "%s: refused: %s", warn_cases[_i].name, err);
    if (warn_cases[_i].want == NULL) {
        ck_assert_msg(c->nwarnings == 0, "%s: unexpected warning \"%s\"", warn_cases[_i].name,
                      c->warnings[0]);
    } else {
        ck_assert_msg(c->nwarnings == 1, "%s: %zu warnings", warn_cases[_i].name, c->nwarnings);
        ck_assert_msg(strstr(c->warnings[0], warn_cases[_i].want) != NULL,
                      "%s: got \"%s\", want \"%s\"", warn_cases[_i].name, c->warnings[0],
                      warn_cases[_i].want);
    }
    conf_free(c);
}
END_TEST

/* Warnings are capped: the last one says how many more there were. */
START_TEST(test_warnings_cap)
{
    char err[CONF_ERRLEN], *text = malloc(100000);
    size_t n, i;
    struct conf *c;

    n = (size_t)snprintf(text, 100000, "mailbox a@b.c\nroute * a@b.c\n");
    for (i = 0; i < CONF_MAX_WARNINGS + 10; i++)
        n += (size_t)snprintf(text + n, 100000 - n, "route sasl:u%zu a@b.c\n", i);
    c = conf_parse("t.conf", text, n, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->nwarnings, CONF_MAX_WARNINGS);
    ck_assert_msg(strstr(c->warnings[CONF_MAX_WARNINGS - 1], "and 11 more warnings") != NULL, "%s",
                  c->warnings[CONF_MAX_WARNINGS - 1]);
    conf_free(c);
    free(text);
}
END_TEST

/* A comment ends with its physical line: the next continuation line goes on. */
START_TEST(test_comment_inside_directive)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse("mailbox a@b.c sendas x@b.c # the alias\n"
                           "    y@b.c # the shared mailbox\n"
                           "    # nothing here\n"
                           "    @z.b.c\n"
                           "route * a@b.c\n",
                           err);

    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(c->mailboxes[0].nsendas, 3);
    ck_assert_str_eq(c->mailboxes[0].sendas[2].domain, "z.b.c");
    conf_free(c);
}
END_TEST

/* A UTF-8 byte-order mark at the start of the file (Notepad) is skipped. */
START_TEST(test_bom)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse("\xef\xbb\xbfmailbox a@b.c\r\nroute * a@b.c\r\n", err);

    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(c->mailboxes[0].address, "a@b.c");
    ck_assert_int_eq(c->routes[0].line, 2);
    conf_free(c);
}
END_TEST

/* Every keyword the suggestions offer is one the parser knows. */
START_TEST(test_keywords_known)
{
    char err[CONF_ERRLEN], text[256];
    size_t i;
    struct conf *c;

    for (i = 0; conf_keyword(i); i++) {
        snprintf(text, sizeof(text), "mailbox a@b.c\nroute * a@b.c\n%s %s\n", conf_keyword(i),
                 strcmp(conf_keyword(i), "mailbox") == 0 ? "x@b.c" : "@@bogus@@");
        c = parse(text, err);
        ck_assert_msg(c != NULL || strstr(err, "unknown directive") == NULL, "%s: %s",
                      conf_keyword(i), err);
        conf_free(c);
    }
    ck_assert_uint_ge(i, 30);
}
END_TEST

/* conf_ref/conf_unref: the snapshot lives until the last reference goes (ASan sees a
 * use after free or a leak otherwise), and conf_unref(NULL) is harmless. */
START_TEST(test_refcount)
{
    char err[CONF_ERRLEN];
    struct conf *c = parse("mailbox a@b.c\nroute * a@b.c\n", err), *r;

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(atomic_load(&c->refs), 1);
    r = conf_ref(c);
    ck_assert_ptr_eq(r, c);
    ck_assert_int_eq(atomic_load(&c->refs), 2);
    conf_unref(c);
    ck_assert_int_eq(atomic_load(&r->refs), 1);
    ck_assert_str_eq(r->mailboxes[0].address, "a@b.c");
    conf_unref(r);
    conf_unref(NULL);
}
END_TEST

START_TEST(test_load_missing_file)
{
    char err[CONF_ERRLEN];

    ck_assert_ptr_null(conf_load("/nonexistent/sendas.conf", err, sizeof(err)));
    ck_assert_msg(strstr(err, "/nonexistent/sendas.conf: cannot open") != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");

    tcase_add_loop_test(tc, test_bad_configs, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_test(tc, test_defaults_and_settings);
    tcase_add_test(tc, test_refcount);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_mailbox_limits);
    tcase_add_test(tc, test_store_directives);
    tcase_add_test(tc, test_permits);
    tcase_add_loop_test(tc, test_routes, 0, sizeof(route_cases) / sizeof(route_cases[0]));
    tcase_add_test(tc, test_no_match);
    tcase_add_test(tc, test_caps);
    tcase_add_test(tc, test_load_missing_file);
    tcase_add_loop_test(tc, test_warnings, 0, sizeof(warn_cases) / sizeof(warn_cases[0]));
    tcase_add_test(tc, test_warnings_cap);
    tcase_add_test(tc, test_bom);
    tcase_add_test(tc, test_comment_inside_directive);
    tcase_add_test(tc, test_keywords_known);
    suite_add_tcase(s, tc);
    return unit_run(s, CK_FORK_GETENV);
}
