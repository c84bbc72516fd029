/* SPDX-License-Identifier: MIT */
/*
 * doctor_run - the programs doctor asks: postconf and postmap (of the
 * instance given with --postfix-dir), run without a shell, their output
 * bounded and their run time capped.
 */
#include "config.h"

#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* child - stdout to the pipe, stdin and stderr to /dev/null, then exec */
static void child(int wfd, char *const argv[])
{
    int null = open("/dev/null", O_RDWR);

    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 2);
    }
    dup2(wfd, 1);
    execvp(argv[0], argv);
    _exit(127);
}

/* doc_wait_fd - see doctor.h */
int doc_wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - clock_mono_ms();
        int n;

        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if ((n = poll(&p, 1, (int)left)) > 0)
            return 0;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* collect - read fd into out until EOF or the deadline; what does not fit is read and dropped */
static int collect(int fd, char *out, size_t outlen, int64_t deadline)
{
    size_t n = 0;
    char sink[4096];

    for (;;) {
        ssize_t got;

        if (doc_wait_fd(fd, POLLIN, deadline) < 0)
            return -1;
        if (n + 1 < outlen)
            got = read(fd, out + n, outlen - 1 - n);
        else
            got = read(fd, sink, sizeof(sink));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (n + 1 < outlen)
            n += (size_t)got;
    }
    out[n] = '\0';
    return 0;
}

/* doc_run - see doctor.h */
int doc_run(char *const argv[], char *out, size_t outlen, unsigned timeout)
{
    int fds[2], st = 0, timed_out;
    pid_t pid;

    if (outlen == 0 || pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0)
        child(fds[1], argv);
    close(fds[1]);
    timed_out = collect(fds[0], out, outlen, clock_mono_ms() + (int64_t)timeout * 1000) < 0;
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        out[0] = '\0';
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* chomp - drop trailing newlines */
static void chomp(char *s)
{
    size_t n = strlen(s);

    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* run_pf - PROG [-c DIR] A1 [A2 [A3]] (Postfix's postconf or postmap, of the instance
 * --postfix-dir names) into out without trailing newlines; its exit status, or -1 */
static int run_pf(const struct doc_opts *o, const char *prog, const char *a1, const char *a2,
                  const char *a3, char *out, size_t outlen)
{
    char *argv[7];
    int i = 0, rc;

    argv[i++] = (char *)prog;
    if (o->postfix_dir) {
        argv[i++] = "-c";
        argv[i++] = (char *)o->postfix_dir;
    }
    argv[i++] = (char *)a1;
    if (a2)
        argv[i++] = (char *)a2;
    if (a2 && a3)
        argv[i++] = (char *)a3;
    argv[i] = NULL;
    rc = doc_run(argv, out, outlen, o->timeout);
    chomp(out);
    return rc;
}

/* doc_postconf_args - see doctor.h */
int doc_postconf_args(const struct doc_opts *o, const char *a1, const char *a2, char *out,
                      size_t outlen)
{
    return run_pf(o, "postconf", a1, a2, NULL, out, outlen) == 0 ? 0 : -1;
}

/* doc_postconf - see doctor.h */
int doc_postconf(const struct doc_opts *o, const char *param, char *out, size_t outlen)
{
    /* -x: main.cf's "$config_directory/sasl_passwd" as Postfix's programs see it */
    return doc_postconf_args(o, "-xh", param, out, outlen);
}

/* doc_postmap_query - see doctor.h */
int doc_postmap_query(const struct doc_opts *o, const char *map, const char *key, char *out,
                      size_t outlen)
{
    int rc = run_pf(o, "postmap", "-q", key, map, out, outlen);

    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}
