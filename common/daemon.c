/* SPDX-License-Identifier: MIT */
/*
 * daemon - privileges and socket permissions (see daemon.h).
 */
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (strncmp(spec, "unix:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
        return spec + 6;
    if (spec[0] == '/')
        return spec;
    return NULL;
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
