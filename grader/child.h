/* child.h - the program under test: started in its own process group, its
 * standard output and error drained by a thread into bounded buffers, its
 * state watched through /proc.
 *
 * Nothing here prints or exits: functions return -1 with ERR filled. */
#ifndef GRADER_CHILD_H
#define GRADER_CHILD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the program wrote on one descriptor: the first LIMIT bytes kept,
 * TOTAL counts all. */
struct child_output {
    unsigned char *bytes;
    size_t len, cap, limit;
    uint64_t total;
};

struct child {
    pid_t pid;                 /* also the process group; 0: not started  */
    int out_fd, err_fd;        /* our ends of its stdout and stderr        */
    int stop_pipe[2];          /* wakes the drain thread to give up        */
    pthread_t drain;
    int drain_started;
    pthread_mutex_t lock;      /* guards what follows                      */
    pthread_cond_t changed;    /* signalled when output arrives or ends    */
    struct child_output out, err;
    int out_eof, err_eof;
    int exited;                /* reaped: STATUS is its wait status        */
    int status;
    double cpu_at_exit;        /* user + system seconds, from wait4        */
};

/* Starts ARGV (argv[0] looked up in PATH) in a new process group, with
 * INPUT (INPUT_LEN bytes, then end of file) on its stdin, or /dev/null when
 * INPUT is NULL; SIGPIPE back at its default (we ignore it, it must not);
 * ENV_PORT and ENV_HOST in NIANBAO_PORT and NIANBAO_HOST when not NULL.
 * Keeps at most OUT_LIMIT bytes of its stdout, 64 KiB of its stderr.
 * Returns 0, or -1 with ERR filled. */
int child_start(struct child *c, char *const argv[], const void *input, size_t input_len,
                size_t out_limit, const char *env_host, const char *env_port,
                char *err, size_t errlen);

/* Reaps the program if it has ended. Returns 1 when it has (now or
 * before), 0 while it runs. */
int child_poll_exit(struct child *c);

/* Waits up to MS milliseconds for output or exit. */
void child_wait_change(struct child *c, int ms);

/* Bytes of stdout seen so far: a client's, which the scenario checks, is
 * progress; no other output is (watch.c). */
uint64_t child_stdout_total(struct child *c);

/* Bytes the program wrote that the drain thread has not read yet (0 when
 * its pipes are empty): a program blocked writing output is not stuck. */
size_t child_unread_output(struct child *c);

/* Ends the program's whole process group (SIGTERM, then SIGKILL after
 * GRACE_MS), then kills every other descendant (after child_reaper_setup:
 * daemons too), reaps them all and stops the drain thread. Safe to call
 * twice. */
void child_stop(struct child *c, int grace_ms);

/* Frees the buffers (after child_stop). */
void child_free(struct child *c);

/* A sample of the program's process group, from /proc. */
struct group_sample {
    int tasks;                 /* threads of every process in the group    */
    int all_asleep;            /* 1 when every one is sleeping (S, T, Z)   */
    uint64_t switches;         /* sum of their context switches            */
    double cpu;                /* user + system seconds, with reaped children */
    uint64_t io;               /* bytes read by every process (/proc/PID/io
                                  rchar): a program reading a pipe or a
                                  file is not spinning                     */
    int processes;             /* processes in the tree                    */
    int zombies;               /* ... of them ended and not waited for (Z) */
    uint64_t pids;             /* a mix of their pids: a child started or
                                  ended changes it even when the count
                                  stays the same                           */
    uint64_t reaped;           /* page faults of the children they reaped
                                  (cminflt): moves whenever a child ended
                                  between two samples, however short-lived */
};

/* Returns 0 with S filled, -1 when the group has no process left. */
int child_sample(const struct child *c, struct group_sample *s);

/* 1 when a process of the program (as child_sample finds them) holds one
 * of the N sockets INODES (their inodes, peek_listeners), 0 when none
 * does, -1 when their descriptors cannot be read. */
int child_has_socket(const struct child *c, const unsigned long *inodes, size_t n);

/* The process group the signal handler must end, or 0 (see child.c). */
extern volatile pid_t child_current_group;

/* Makes this process the reaper of its orphaned descendants
 * (PR_SET_CHILD_SUBREAPER): what a program leaves when their parent ends
 * (a daemon: setsid, then fork) becomes the grader's child, so that
 * child_sample finds it and child_stop kills it. Call it before the first
 * child_start. Returns 0, or -1 with errno set. */
int child_reaper_setup(void);

/* For a signal handler (async-signal-safe: system calls only): kills the
 * current program's group and every descendant of this process. */
void child_kill_all_from_signal(void);

#endif
