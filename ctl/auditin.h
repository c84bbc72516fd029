/* SPDX-License-Identifier: MIT */
/*
 * auditin - `sendasctl audit`'s inputs: log files (plain or gzip), standard
 * input and the journal, read line by line with a bound (ctl/auditin.c).
 */
#ifndef SENDAS_CTL_AUDITIN_H
#define SENDAS_CTL_AUDITIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "lines.h"

#define AU_LINE_MAX 65536 /* bytes of one log line; longer ones are cut and counted unreadable */

/* Where a log comes from. */
enum au_in_kind {
    AU_IN_FILE,    /* a file, plain or gzip */
    AU_IN_STDIN,   /* "-" */
    AU_IN_JOURNAL, /* journalctl's output (Postfix logging to journald only) */
};

struct au_input {
    char *path; /* AU_IN_FILE */
    enum au_in_kind kind;
    int64_t t;  /* time of its first record, for the order files are read in */
};

/* One input being read. */
struct au_stream {
    const struct au_input *in;
    gzFile gz;
    pid_t pid; /* journalctl, or -1 */
    struct lines lr;
    int failed;
    int quiet; /* a look ahead (the first timestamp): the real read reports the errors */
};

/* au_input_name - how the input is named in messages */
const char *au_input_name(const struct au_input *in);
/* au_input_check - can it be read (exists, not a directory)?  0, or -1 with err */
int au_input_check(const struct au_input *in, char *err, size_t errlen);
/* au_stream_open - start reading (journalctl: from since_us, 0 for all); 0, or -1 (said why) */
int au_stream_open(struct au_stream *st, const struct au_input *in, int64_t since_us);
/* au_stream_next - the next line (see lines_next); 1, 0 at the end, -1 read error (said why) */
int au_stream_next(struct au_stream *st, const char **line, size_t *len, int *flags);
/* au_stream_close - finish; 0, or -1 when the input failed (read error, journalctl's status) */
int au_stream_close(struct au_stream *st);

#endif
