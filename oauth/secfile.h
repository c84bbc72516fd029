/* SPDX-License-Identifier: MIT */
/*
 * secfile - opening the files sendas-tokend reads its credentials from (client
 * secret, private key, certificate) so that a wrong file fails at once with a
 * reason instead of hanging or leaking: never blocks on a FIFO or device, takes
 * regular files only, and a private file must be private and owned by someone
 * trusted with it.  Secrets in memory are wiped with secret_wipe, which the
 * compiler may not drop as a dead store (memset before free it may).
 */
#ifndef SENDAS_SECFILE_H
#define SENDAS_SECFILE_H

#include <stddef.h>
#include <sys/types.h>

#define SECFILE_NO_USER ((uid_t)-1)

/*
 * secfile_open - open path read-only.  It must be a regular file (a FIFO, a
 * device or a directory is refused without blocking).  With private set it
 * must also be neither readable nor writable by group or others and be owned
 * by root, by the calling process's user, or by service_uid (the user
 * sendas-tokend runs as; SECFILE_NO_USER for none).  Returns a descriptor
 * (blocking mode, close-on-exec), or -1 with a message naming what (e.g.
 * "oauth_client_secret_file") and path in err.
 */
int secfile_open(const char *what, const char *path, int private_, uid_t service_uid, char *err,
                 size_t errlen);

/*
 * secfile_read_line - the one line of a private credential file (trailing
 * white space dropped), at most max - 1 bytes, as a new string the caller
 * frees with secret_free.  NULL with a message in err when the file fails
 * secfile_open's private checks, is empty, longer, or holds NUL or a
 * second line.  The read buffer is wiped either way.
 */
char *secfile_read_line(const char *what, const char *path, uid_t service_uid, size_t max,
                        char *err, size_t errlen);

/* secret_wipe - zero n bytes at p so that the stores stay (explicit_bzero) */
void secret_wipe(void *p, size_t n);

/* secret_free - wipe the string s and free it (NULL is ignored) */
void secret_free(char *s);

#endif
