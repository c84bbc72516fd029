/* SPDX-License-Identifier: MIT */
/*
 * auditin - the inputs of `sendasctl audit`: files (plain or .gz), standard
 * input ("-"), and Postfix's log in the systemd journal (journalctl run
 * without a shell).  Each is read as a stream of bounded lines (lib/lines).
 *
 * A Debian 12 installed from scratch has no /var/log/mail.log: Postfix logs
 * to journald only.  There the journal is read with
 * `journalctl -q --no-pager -o short-iso-precise SYSLOG_FACILITY=2`, the
 * mail facility, which is what rsyslog would have written to mail.log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auditin.h"

/* gz_read - the lines callback on a zlib stream (plain data passes through) */
static ssize_t gz_read(void *ctx, char *buf, size_t n)
{
    return gzread((gzFile)ctx, buf, (unsigned)n);
}

/* au_input_name - how an input is named in messages */
const char *au_input_name(const struct au_input *in)
{
    if (in->kind == AU_IN_STDIN)
        return "standard input";
    if (in->kind == AU_IN_JOURNAL)
        return "the journal (journalctl)";
    return in->path;
}

/* au_input_check - can the input be read at all?  0, or -1 with the reason in err */
int au_input_check(const struct au_input *in, char *err, size_t errlen)
{
    struct stat st;

    if (in->kind != AU_IN_FILE)
        return 0;
    if (stat(in->path, &st) < 0 || access(in->path, R_OK) < 0) {
        snprintf(err, errlen, "%s: %s", in->path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a log file", in->path);
        return -1;
    }
    return 0;
}

/* journal_spawn - journalctl's output as a pipe; its pid in *pid; the fd, or -1 */
static int journal_spawn(int64_t since_us, pid_t *pid)
{
    char since[48];
    const char *argv[8];
    int fd[2], n = 0;

    argv[n++] = "journalctl";
    argv[n++] = "--quiet";
    argv[n++] = "--no-pager";
    argv[n++] = "--output=short-iso-precise";
    if (since_us > 0) {
        /* a delivery line may precede its audit record by a little clock skew */
        snprintf(since, sizeof(since), "--since=@%lld", (long long)(since_us / 1000000 - 600));
        argv[n++] = since;
    }
    argv[n++] = "SYSLOG_FACILITY=2"; /* mail: what rsyslog writes to /var/log/mail.log */
    argv[n] = NULL;
    if (pipe2(fd, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    if ((*pid = fork()) < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (*pid == 0) {
        int null = open("/dev/null", O_RDONLY);

        if (null >= 0)
            dup2(null, 0);
        dup2(fd[1], 1);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "sendasctl audit: cannot run journalctl: %s\n", strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    return fd[0];
}

/* au_stream_open - start reading in; 0, or -1 (message printed) */
int au_stream_open(struct au_stream *st, const struct au_input *in, int64_t since_us)
{
    int fd = -1;

    errno = 0;
    memset(st, 0, sizeof(*st));
    st->in = in;
    st->pid = -1;
    if (in->kind == AU_IN_FILE) {
        st->gz = gzopen(in->path, "rbe"); /* e: O_CLOEXEC, journalctl inherits nothing */
    } else {
        fd = in->kind == AU_IN_STDIN ? dup(0) : journal_spawn(since_us, &st->pid);
        if (fd >= 0 && (st->gz = gzdopen(fd, "rb")) == NULL)
            close(fd);
    }
    if (st->gz == NULL) {
        fprintf(stderr, "sendasctl audit: %s: %s\n", au_input_name(in),
                errno ? strerror(errno) : "out of memory");
        au_stream_close(st);
        return -1;
    }
    gzbuffer(st->gz, 1 << 17);
    if (lines_init(&st->lr, AU_LINE_MAX, gz_read, st->gz) < 0) {
        fprintf(stderr, "sendasctl audit: out of memory\n");
        au_stream_close(st);
        return -1;
    }
    return 0;
}

/* au_stream_next - the next line; 1, 0 at the end, -1 on a read error (message printed) */
int au_stream_next(struct au_stream *st, const char **line, size_t *len, int *flags)
{
    int rc = lines_next(&st->lr, line, len, flags), zerr;

    if (rc < 0) {
        const char *msg = gzerror(st->gz, &zerr);

        if (!st->quiet)
            fprintf(stderr, "sendasctl audit: %s: read error: %s\n", au_input_name(st->in),
                    zerr == Z_ERRNO ? strerror(errno) : msg);
        st->failed = 1;
    }
    return rc;
}

/* au_stream_close - end it; 0, or -1 when the input turned out broken (message printed) */
int au_stream_close(struct au_stream *st)
{
    int status = 0, rc;

    lines_free(&st->lr);
    if (st->gz) {
        rc = gzclose(st->gz);
        if (rc == Z_BUF_ERROR && !st->failed && !st->quiet) { /* a .gz cut short */
            fprintf(stderr, "sendasctl audit: %s: truncated compressed file\n",
                    au_input_name(st->in));
            st->failed = 1;
        }
        st->gz = NULL;
    }
    if (st->pid > 0) {
        while ((rc = (int)waitpid(st->pid, &status, 0)) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
            fprintf(stderr, "sendasctl audit: journalctl is not installed or cannot run; give "
                            "Postfix's log with --maillog FILE (see sendasctl(8))\n");
            st->failed = 1;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "sendasctl audit: journalctl failed (%s %d)\n",
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            st->failed = 1;
        }
        st->pid = -1;
    }
    return st->failed ? -1 : 0;
}
