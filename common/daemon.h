/* SPDX-License-Identifier: MIT */
/*
 * daemon - process plumbing shared by the sendas daemons: privileges and
 * socket permissions.  Not part of the engine (it touches the OS).
 */
#ifndef SENDAS_DAEMON_H
#define SENDAS_DAEMON_H

#include <stddef.h>
#include <stdio.h>

struct conf;

/* The command line every sendas daemon takes: -c FILE -f -n -d -u USER -p SOCKET -V -h. */
struct daemon_args {
    const char *prog;      /* "sendas-milter": messages, syslog ident */
    const char *conf_path; /* -c, preset to the default */
    const char *user;      /* -u, or NULL */
    const char *sock;      /* -p, or NULL */
    int foreground;        /* -f */
    int debug;             /* -d */
    /* -n: the daemon's own start-up checks beyond sendas.conf's syntax (NULL: none); user
     * is -u's, else sendas.conf's; 0, or -1 with a message in err */
    int (*check)(const struct conf *c, const char *conf_path, const char *user, char *err,
                 size_t errlen);
};

/*
 * daemon_start - parse the common options, load the configuration, answer
 * -n (check), -V and -h, start logging and, without -f, detach.  Returns the
 * configuration, or NULL when the program should exit with *exit_code
 * (0 after -n/-V/-h, 1 on errors, 2 on usage errors).
 */
struct conf *daemon_start(struct daemon_args *a, int argc, char **argv, void (*usage)(FILE *),
                          int *exit_code);

/*
 * daemon_log_conf_warnings - log each warning of the configuration (a route that
 * can never match...): the file is used all the same, as sendasctl check says.
 */
void daemon_log_conf_warnings(const struct conf *c);

/*
 * daemon_drop_privileges - become user (and its groups) for good.  Does
 * nothing when user is NULL or "".  Returns 0, or -1 with a message in err.
 */
int daemon_drop_privileges(const char *user, char *err, size_t errlen);

/*
 * daemon_socket_path - the file system path of a unix:/local: socket spec,
 * or NULL for inet sockets.
 */
const char *daemon_socket_path(const char *spec);

/*
 * daemon_socket_perms - give a unix socket the configured mode and group
 * (group may be NULL or "" to leave it).  Returns 0, or -1 with err set.
 */
int daemon_socket_perms(const char *path, unsigned mode, const char *group, char *err,
                        size_t errlen);

/*
 * daemon_socket_own - daemon_socket_perms for the socket of spec when it is a
 * unix one; nothing for an inet socket.  Returns 0, or -1 with err set.
 */
int daemon_socket_own(const char *spec, unsigned mode, const char *group, char *err,
                      size_t errlen);

#endif
