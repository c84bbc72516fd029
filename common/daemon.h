/* SPDX-License-Identifier: MIT */
/*
 * daemon - process plumbing shared by the sendas daemons: privileges and
 * socket permissions.  Not part of the engine (it touches the OS).
 */
#ifndef SENDAS_DAEMON_H
#define SENDAS_DAEMON_H

#include <stddef.h>

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

#endif
