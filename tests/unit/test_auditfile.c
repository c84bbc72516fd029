/* SPDX-License-Identifier: MIT */
/*
 * Concurrent writers of the audit log: 4 processes of 5 threads each write
 * 10,000 records of nearly AUDIT_MAX_LINE bytes through common/auditfile.c
 * into one file; every line must be whole, valid JSON, and each record must
 * be there exactly once.  Then: a reopen after rename (logrotate) moves the
 * writes to the new file, and a full disk (/dev/full) or an unwritable path
 * neither blocks nor fails the writer.
 */
#include "config.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "auditfile.h"
#include "log.h"

#define PROCS 4
#define THREADS 5
#define PER_THREAD 500 /* 4 * 5 * 500 = 10,000 records */

static char reason[AUDIT_FIELD_MAX + 1];

struct job {
    int proc, thread;
};

/* writer - one thread's records */
static void *writer(void *arg)
{
    struct job *j = arg;
    char qid[64], from[AUDIT_FIELD_MAX + 1];
    struct audit_rec r;
    int i;

    for (i = 0; i < PER_THREAD; i++) {
        audit_rec_init(&r);
        r.time_us = auditfile_now_us();
        r.component = "test";
        snprintf(qid, sizeof(qid), "%d-%d-%d", j->proc, j->thread, i);
        r.queue_id = qid;
        memset(from, 'a' + (j->thread + i) % 26, sizeof(from) - 1);
        from[sizeof(from) - 1] = '\0';
        r.env_from = from; /* long fields: lines near the cap, so interleaving would show */
        r.header_from = from;
        r.mailbox = from;
        r.rule = from;
        r.reason = reason;
        r.action = "kept";
        auditfile_write(&r);
    }
    return NULL;
}

/* run_process - THREADS writers in this process */
static void run_process(int proc)
{
    pthread_t t[THREADS];
    struct job j[THREADS];
    int i;

    for (i = 0; i < THREADS; i++) {
        j[i].proc = proc;
        j[i].thread = i;
        if (pthread_create(&t[i], NULL, writer, &j[i]) != 0)
            _exit(2);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

/* check_file - every line whole valid JSON; returns the number of records, -1 if one is bad */
static long check_file(const char *path, unsigned char *seen)
{
    FILE *f = fopen(path, "r");
    static char line[1 << 16];
    long n = 0;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        struct json_object *o, *q;
        int p, t, i;

        if (len == 0 || line[len - 1] != '\n' || len > AUDIT_MAX_LINE) {
            fprintf(stderr, "line %ld: not whole (%zu bytes)\n", n + 1, len);
            fclose(f);
            return -1;
        }
        o = json_tokener_parse(line);
        if (o == NULL || !json_object_object_get_ex(o, "queue_id", &q) ||
            sscanf(json_object_get_string(q), "%d-%d-%d", &p, &t, &i) != 3 || p < 0 ||
            p >= PROCS || t < 0 || t >= THREADS || i < 0 || i >= PER_THREAD) {
            fprintf(stderr, "line %ld: not a valid record: %.80s\n", n + 1, line);
            json_object_put(o);
            fclose(f);
            return -1;
        }
        json_object_put(o);
        if (seen) {
            size_t k = ((size_t)p * THREADS + (size_t)t) * PER_THREAD + (size_t)i;

            if (seen[k]++) {
                fprintf(stderr, "record %d-%d-%d twice\n", p, t, i);
                fclose(f);
                return -1;
            }
        }
        n++;
    }
    fclose(f);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/test_auditfile.XXXXXX", path[256], rotated[256];
    static unsigned char seen[PROCS * THREADS * PER_THREAD];
    struct audit_rec r;
    struct timespec t0, t1;
    pid_t pids[PROCS];
    long n;
    int i, st, failed = 0;

    log_init("test_auditfile", 1);
    memset(reason, 'r', sizeof(reason) - 1);
    if (mkdtemp(dir) == NULL)
        return 99;
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/audit.log.1", dir);
    if (auditfile_open(path) < 0)
        return 99;
    for (i = 0; i < PROCS; i++) {
        if ((pids[i] = fork()) == 0) {
            run_process(i);
            _exit(0);
        }
    }
    for (i = 0; i < PROCS; i++)
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    n = check_file(path, seen);
    printf("concurrent writers: %d processes x %d threads: %ld records, all whole JSON lines: %s\n",
           PROCS, THREADS, n, n == PROCS * THREADS * PER_THREAD ? "yes" : "NO");
    if (n != PROCS * THREADS * PER_THREAD)
        failed = 1;

    /* logrotate: rename, SIGHUP -> reopen; new records go to the new file */
    if (rename(path, rotated) != 0)
        failed = 1;
    auditfile_open(path);
    audit_rec_init(&r);
    r.queue_id = "0-0-0";
    auditfile_write(&r);
    if (check_file(path, NULL) != 1 || check_file(rotated, NULL) != n) {
        printf("reopen after rotation: FAILED\n");
        failed = 1;
    } else {
        printf("reopen after rotation: the new file has the new record\n");
    }

    /* a full disk and an unwritable path: the writer carries on at once */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    auditfile_open("/dev/full");
    for (i = 0; i < 1000; i++)
        auditfile_write(&r);
    auditfile_open("/nonexistent-dir/audit.log");
    for (i = 0; i < 1000; i++)
        auditfile_write(&r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("full disk and unwritable file: 2000 writes in %.1f ms, none failed the caller\n",
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    auditfile_close();
    unlink(path);
    unlink(rotated);
    rmdir(dir);
    return failed;
}
