/* SPDX-License-Identifier: MIT */
/*
 * cmd_test - `sendasctl test`: the dry run.  It runs the very engine code
 * sendas-milter runs (route selection and rw_plan_message) and prints what the
 * milter would do, so a dry run can be trusted.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ctl.h"
#include "rewrite.h"

/* print_value - show a folded value with visible continuation lines */
static void print_value(const char *v)
{
    for (; *v; v++) {
        if (*v == '\n')
            fputs("\n              ", stdout);
        else
            putchar(*v);
    }
    putchar('\n');
}

/* add_header_arg - "Name: value" from the command line into the message */
static int add_header_arg(struct rw_msg *m, const char *arg, size_t max)
{
    const char *colon = strchr(arg, ':');
    char name[128];
    const char *v;
    size_t n;

    if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(name)) {
        fprintf(stderr, "sendasctl: --header \"%s\": expected \"Name: value\"\n", arg);
        return -1;
    }
    n = (size_t)(colon - arg);
    memcpy(name, arg, n);
    name[n] = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    return rw_msg_add_header(m, name, v, strlen(v), max);
}

/* The command line of `sendasctl test`. */
struct test_args {
    const char *conf_path;
    const char *from, *hfrom, *client, *sasl;
    const char *headers[64];
    size_t nheaders;
    int no_from, non_smtp, utf8;
};

/* parse_args - the options into a; 0, or the exit status of a usage error (said why) */
static int parse_args(struct test_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},   {"header-from", required_argument, NULL, 'F'},
        {"no-from", no_argument, NULL, 'N'},      {"header", required_argument, NULL, 'H'},
        {"client", required_argument, NULL, 'a'}, {"sasl", required_argument, NULL, 's'},
        {"non-smtp", no_argument, NULL, 'l'},     {"smtputf8", no_argument, NULL, 'u'},
        {"config", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            a->conf_path = optarg;
            break;
        case 'f':
            a->from = optarg;
            break;
        case 'F':
            a->hfrom = optarg;
            break;
        case 'N':
            a->no_from = 1;
            break;
        case 'H':
            if (a->nheaders >= sizeof(a->headers) / sizeof(a->headers[0])) {
                fprintf(stderr, "sendasctl: too many --header options\n");
                return 2;
            }
            a->headers[a->nheaders++] = optarg;
            break;
        case 'a':
            a->client = optarg;
            break;
        case 's':
            a->sasl = optarg;
            break;
        case 'l':
            a->non_smtp = 1;
            break;
        case 'u':
            a->utf8 = 1;
            break;
        default:
            return 2;
        }
    }
    if (a->from == NULL) {
        fprintf(stderr, "sendasctl test: --from ADDR is required (use --from '' for the null sender)\n");
        return 2;
    }
    return 0;
}

/* build_msg - the message the milter would see, from the command line (env holds the
 * envelope sender m points to); 0, or -1 when a header is refused (said why) */
static int build_msg(const struct conf *c, const struct test_args *a, struct rw_msg *m,
                     char *env, size_t envlen)
{
    size_t i;
    int rc = 0;

    snprintf(env, envlen, "<%s>", a->from);
    rw_msg_init(m);
    m->env_sender = env;
    m->trace_name = c->trace_header;
    m->client_addr = a->client;
    m->sasl_login = a->sasl;
    m->non_smtp = a->non_smtp;
    m->smtputf8 = a->utf8;
    if (!a->no_from && a->hfrom == NULL && *a->from)
        rc = rw_msg_add_header(m, "From", a->from, strlen(a->from), c->max_header_bytes);
    else if (!a->no_from && a->hfrom)
        rc = rw_msg_add_header(m, "From", a->hfrom, strlen(a->hfrom), c->max_header_bytes);
    for (i = 0; i < a->nheaders && rc == 0; i++)
        rc = add_header_arg(m, a->headers[i], c->max_header_bytes);
    return rc < 0 ? -1 : 0;
}

/* print_plan - what the milter would do: route, mailbox, action, envelope, header changes */
static void print_plan(const struct conf *c, const struct rw_plan *p)
{
    size_t i;

    printf("route:        %s", p->route ? p->route->text : "(none)");
    if (p->route)
        printf(" (%s line %d)", c->path, p->route->line);
    printf("\nmailbox:      %s\n", p->mailbox ? p->mailbox->address : "-");
    printf("action:       %s\n", rw_plan_outcome(p));
    printf("reason:       %s\n", p->reason);
    if (p->action == RW_REJECT || p->action == RW_TEMPFAIL)
        printf("reply:        %s %s %s\n", p->rcode, p->xcode, p->text);
    if (p->new_env_sender)
        printf("envelope:     <%s> -> %s\n", p->orig_env ? p->orig_env : "", p->new_env_sender);
    else
        printf("envelope:     <%s> (unchanged)\n", p->orig_env ? p->orig_env : "");
    for (i = 0; i < p->nops; i++) {
        const struct rw_op *op = &p->ops[i];

        switch (op->kind) {
        case RW_OP_CHANGE:
            printf("change:       %s[%d]: ", op->name, op->index);
            print_value(op->value);
            break;
        case RW_OP_DELETE:
            printf("delete:       %s[%d]\n", op->name, op->index);
            break;
        case RW_OP_ADD:
            printf("add:          %s: ", op->name);
            print_value(op->value);
            break;
        }
    }
}

/* cmd_test - the dry run */
int cmd_test(const char *conf_path, int argc, char **argv)
{
    struct test_args a = {.conf_path = conf_path};
    char err[CONF_ERRLEN], env[1024];
    struct conf *c;
    struct rw_msg m;
    struct rw_plan p;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) != 0)
        return rc;
    if ((c = conf_load(a.conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sendasctl: %s\n", err);
        return 1;
    }
    if (build_msg(c, &a, &m, env, sizeof(env)) < 0) {
        rw_msg_reset(&m);
        conf_free(c);
        return 1;
    }
    rw_plan_message(c, &m, &p);
    print_plan(c, &p);
    rc = p.action == RW_REJECT || p.action == RW_TEMPFAIL ? EXIT_REFUSED : 0;
    rw_plan_free(&p);
    rw_msg_reset(&m);
    conf_free(c);
    return rc;
}
