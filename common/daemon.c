/* SPDX-License-Identifier: MIT */
/*
 * daemon - privileges and socket permissions (see daemon.h).
 */
#include "daemon.h"

#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "sockspec.h"

/* daemon_drop_privileges - setgroups, setgid, setuid, each checked */
int daemon_drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw;

    if (user == NULL || *user == '\0')
        return 0;
    errno = 0;
    if ((pw = getpwnam(user)) == NULL) {
        snprintf(err, errlen, "user \"%s\" not found%s%s", user, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return -1;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
        return 0;
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "cannot become user \"%s\": %s", user, strerror(errno));
        return -1;
    }
    /* make sure there is no way back */
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "privileges of root could be regained after dropping them");
        return -1;
    }
    return 0;
}

/* daemon_socket_path - path of a unix socket spec */
const char *daemon_socket_path(const char *spec)
{
    struct sockspec ss;

    return sockspec_parse(spec, &ss) == 0 && ss.kind == SOCKSPEC_UNIX ? ss.path : NULL;
}

/* daemon_socket_perms - chmod and chgrp a unix socket */
int daemon_socket_perms(const char *path, unsigned mode, const char *group, char *err,
                        size_t errlen)
{
    struct group *gr;
    struct stat st;

    if (group && *group) {
        if ((gr = getgrnam(group)) == NULL) {
            snprintf(err, errlen, "socket_group \"%s\": no such group", group);
            return -1;
        }
        /* already right when the daemon runs with that group (systemd Group=): no chown,
         * which the units' system call filter does not allow */
        if ((stat(path, &st) != 0 || st.st_gid != gr->gr_gid) &&
            chown(path, (uid_t)-1, gr->gr_gid) != 0) {
            snprintf(err, errlen, "chgrp %s %s: %s", group, path, strerror(errno));
            return -1;
        }
    }
    if (chmod(path, (mode_t)mode) != 0) {
        snprintf(err, errlen, "chmod %o %s: %s", mode, path, strerror(errno));
        return -1;
    }
    return 0;
}

/* daemon_socket_own - the milter's and the policy service's socket set-up, one place */
int daemon_socket_own(const char *spec, unsigned mode, const char *group, char *err,
                      size_t errlen)
{
    const char *path = daemon_socket_path(spec);

    return path ? daemon_socket_perms(path, mode, group, err, errlen) : 0;
}

/* daemon_log_conf_warnings - what the configuration accepts but is surely a mistake */
void daemon_log_conf_warnings(const struct conf *c)
{
    size_t i;

    for (i = 0; i < c->nwarnings; i++)
        log_warn("configuration: %s", c->warnings[i]);
}

/* daemon_start - common options, configuration, logging, detaching */
struct conf *daemon_start(struct daemon_args *a, int argc, char **argv, void (*usage)(FILE *),
                          int *exit_code)
{
    char err[CONF_ERRLEN];
    struct conf *c;
    int ch, check = 0;
    size_t i;

    *exit_code = 1;
    while ((ch = getopt(argc, argv, "c:fndu:p:Vh")) != -1) {
        switch (ch) {
        case 'c':
            a->conf_path = optarg;
            break;
        case 'f':
            a->foreground = 1;
            break;
        case 'n':
            check = 1;
            break;
        case 'd':
            a->debug = 1;
            break;
        case 'u':
            a->user = optarg;
            break;
        case 'p':
            a->sock = optarg;
            break;
        case 'V':
            printf("%s %s\n", a->prog, PACKAGE_VERSION);
            *exit_code = 0;
            return NULL;
        case 'h':
            usage(stdout);
            *exit_code = 0;
            return NULL;
        default:
            usage(stderr);
            *exit_code = 2;
            return NULL;
        }
    }
    if (optind != argc) {
        usage(stderr);
        *exit_code = 2;
        return NULL;
    }
    if ((c = conf_load(a->conf_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s: %s\n", a->prog, err);
        return NULL;
    }
    if (check) {
        if (a->check && a->check(c, a->conf_path, a->user ? a->user : c->user, err,
                                 sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", a->prog, err);
            conf_free(c);
            return NULL;
        }
        for (i = 0; i < c->nwarnings; i++)
            fprintf(stderr, "%s: warning: %s\n", a->prog, c->warnings[i]);
        printf("%s: configuration OK: %zu mailboxes, %zu routes", a->conf_path, c->nmailboxes,
               c->nroutes);
        if (c->nwarnings)
            printf(", %zu warning%s", c->nwarnings, c->nwarnings == 1 ? "" : "s");
        putchar('\n');
        conf_free(c);
        *exit_code = 0;
        return NULL;
    }
    log_init(a->prog, a->foreground);
    log_set_debug(a->debug || c->log_level > 0);
    daemon_log_conf_warnings(c);
    if (!a->foreground && daemon(0, 0) != 0) {
        fprintf(stderr, "%s: daemon: %s\n", a->prog, strerror(errno));
        conf_free(c);
        return NULL;
    }
    if (a->user == NULL)
        a->user = c->user;
    return c;
}
