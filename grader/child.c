/* child.c - the program under test (see child.h). */
#define _GNU_SOURCE
#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "spawn_child.h"

#define ERR_LIMIT 65536
#define STOP_ALL_MS 5000      /* killing and reaping every descendant: a
                                 bound, not a wait (SIGKILL is quick)      */

volatile pid_t child_current_group;

int child_reaper_setup(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* ---- every descendant, found and killed ------------------------------------
 *
 * As a subreaper the grader is the parent of whatever the program leaves
 * when its parent ends (a daemon: setsid, then fork): every process that
 * came of the program descends from the grader, and the grader starts no
 * other. The scan below uses only system calls and fixed buffers, no
 * malloc and no stdio: the signal handler calls it too, with a buffer of
 * its own. */

#define SCAN_MAX 16384

struct scan {
    pid_t pid[SCAN_MAX], ppid[SCAN_MAX];
    char state[SCAN_MAX];
    size_t n;
};

static struct scan stop_scan, signal_scan;

/* PID's parent and state from /proc/PID/stat. Returns 0, or -1. */
static int stat_of(const char *pid_text, pid_t *ppid, char *state)
{
    char path[64] = "/proc/", buf[512];
    size_t at = 6;
    for (const char *p = pid_text; *p && at < sizeof path - 6; p++)
        path[at++] = *p;
    memcpy(path + at, "/stat", 6);
    if (fileio_read_text(path, buf, sizeof buf) < 0)
        return -1;
    char *paren = NULL;            /* the last ')': the name may hold one */
    for (char *p = buf; *p; p++)
        if (*p == ')')
            paren = p;
    if (paren == NULL || paren[1] != ' ' || paren[2] == '\0' || paren[3] != ' ')
        return -1;
    *state = paren[2];
    long value = 0;
    for (const char *p = paren + 4; *p >= '0' && *p <= '9'; p++)
        value = value * 10 + (*p - '0');
    *ppid = (pid_t)value;
    return 0;
}

/* Fills S with every process of /proc. Returns 0, or -1. */
static int scan_all(struct scan *s)
{
    char buf[8192];
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    s->n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof reclen);
            const char *name = buf + off + 19;
            off += reclen;
            if (name[0] < '1' || name[0] > '9' || s->n == SCAN_MAX)
                continue;
            long pid = 0;
            for (const char *p = name; *p >= '0' && *p <= '9'; p++)
                pid = pid * 10 + (*p - '0');
            if (stat_of(name, &s->ppid[s->n], &s->state[s->n]) == 0)
                s->pid[s->n++] = (pid_t)pid;
        }
    }
    close(dir);
    return 0;
}

/* Sends SIGKILL to every descendant of this process. Returns how many of
 * them were alive (zombies are not), or -1 when /proc cannot be read. */
static int kill_descendants(struct scan *s)
{
    pid_t self = getpid();
    if (scan_all(s) < 0)
        return -1;
    /* Children of ours, then theirs, until nothing is added: each found
     * one has its parent replaced by SELF, so one test finds the next. */
    int alive = 0, added = 1;
    while (added) {
        added = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->ppid[i] != self || s->pid[i] == self)
                continue;
            pid_t found = s->pid[i];
            s->pid[i] = self;          /* done: never found again */
            if (s->state[i] != 'Z') {
                kill(found, SIGKILL);
                alive++;
            }
            for (size_t j = 0; j < s->n; j++)
                if (s->ppid[j] == found) {
                    s->ppid[j] = self;
                    added = 1;
                }
        }
    }
    return alive;
}

void child_kill_all_from_signal(void)
{
    pid_t group = child_current_group;
    if (group > 0)
        kill(-group, SIGKILL);
    /* A process that forks as it is found may leave a child: look again. */
    for (int round = 0; round < 20 && kill_descendants(&signal_scan) > 0; round++)
        ;
}

static void output_add(struct child_output *o, const unsigned char *bytes, size_t len)
{
    o->total += len;
    if (o->len >= o->limit)
        return;
    if (len > o->limit - o->len)
        len = o->limit - o->len;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len)
            cap *= 2;
        if (cap > o->limit)
            cap = o->limit;
        unsigned char *grown = realloc(o->bytes, cap);
        if (grown == NULL) {
            o->limit = o->len;     /* keep what we have; count the rest */
            return;
        }
        o->bytes = grown;
        o->cap = cap;
    }
    memcpy(o->bytes + o->len, bytes, len);
    o->len += len;
}

/* Reads stdout and stderr until both end or the stop pipe is written. */
static void *drain_run(void *arg)
{
    struct child *c = arg;
    unsigned char buf[65536];

    for (;;) {
        struct pollfd fds[3] = {
            { c->out_eof ? -1 : c->out_fd, POLLIN, 0 },
            { c->err_eof ? -1 : c->err_fd, POLLIN, 0 },
            { c->stop_pipe[0], POLLIN, 0 },
        };
        if (c->out_eof && c->err_eof)
            break;
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].revents)
            break;
        for (int i = 0; i < 2; i++) {
            if (!fds[i].revents)
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            pthread_mutex_lock(&c->lock);
            if (n <= 0) {
                if (i == 0)
                    c->out_eof = 1;
                else
                    c->err_eof = 1;
            } else {
                output_add(i == 0 ? &c->out : &c->err, buf, (size_t)n);
            }
            pthread_cond_broadcast(&c->changed);
            pthread_mutex_unlock(&c->lock);
        }
    }
    pthread_mutex_lock(&c->lock);
    c->out_eof = c->err_eof = 1;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int child_start(struct child *c, char *const argv[], const void *input, size_t input_len,
                size_t out_limit, const char *env_host, const char *env_port,
                char *err, size_t errlen)
{
    struct spawn_child spawned;
    char port_entry[64], host_entry[300];
    char *env[3] = { NULL, NULL, NULL };
    size_t n_env = 0;
    /* Gone with the grader, whatever ends it. */
    struct spawn_opts opts = { .fd = { input ? SPAWN_PIPE : SPAWN_NULL, SPAWN_PIPE, SPAWN_PIPE },
                               .new_group = 1, .parent_death_signal = SIGKILL,
                               .search_path = 1, .env = env };

    memset(c, 0, sizeof *c);
    c->out_fd = c->err_fd = -1;
    c->stop_pipe[0] = c->stop_pipe[1] = -1;
    c->out.limit = out_limit;
    c->err.limit = ERR_LIMIT;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);

    if (pipe2(c->stop_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    if (env_port) {
        snprintf(port_entry, sizeof port_entry, "NIANBAO_PORT=%s", env_port);
        env[n_env++] = port_entry;
    }
    if (env_host) {
        snprintf(host_entry, sizeof host_entry, "NIANBAO_HOST=%s", env_host);
        env[n_env++] = host_entry;
    }
    if (spawn_start(&spawned, argv[0], argv, &opts, err, errlen) < 0)
        goto fail;
    c->pid = spawned.pid;
    child_current_group = spawned.pid;
    c->out_fd = spawned.fd[STDOUT_FILENO];
    c->err_fd = spawned.fd[STDERR_FILENO];
    if (input) {
        /* The commands are small (well below a pipe's 64 KiB): they are all
         * written now, then end of file, as a file redirected to stdin. */
        const unsigned char *p = input;
        size_t left = input_len;
        while (left > 0) {
            ssize_t n = write(spawned.fd[STDIN_FILENO], p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;      /* it closed its stdin: what it reads is its business */
            p += n;
            left -= (size_t)n;
        }
        close(spawned.fd[STDIN_FILENO]);
    }
    int rc = pthread_create(&c->drain, NULL, drain_run, c);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
        child_stop(c, 0);
        return -1;
    }
    c->drain_started = 1;
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (c->stop_pipe[i] >= 0) close(c->stop_pipe[i]);
        c->stop_pipe[i] = -1;
    }
    return -1;
}

int child_poll_exit(struct child *c)
{
    if (c->exited || c->pid == 0)
        return 1;
    int status;
    struct rusage usage;
    pid_t got = wait4(c->pid, &status, WNOHANG, &usage);
    if (got == c->pid) {
        c->exited = 1;
        c->status = status;
        c->cpu_at_exit = (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                         (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
        return 1;
    }
    return 0;
}

void child_wait_change(struct child *c, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&c->lock);
    uint64_t before = c->out.total + c->err.total;
    int eof_before = c->out_eof + c->err_eof;
    while (c->out.total + c->err.total == before && c->out_eof + c->err_eof == eof_before)
        if (pthread_cond_timedwait(&c->changed, &c->lock, &until) != 0)
            break;
    pthread_mutex_unlock(&c->lock);
}

uint64_t child_stdout_total(struct child *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t total = c->out.total;
    pthread_mutex_unlock(&c->lock);
    return total;
}

size_t child_unread_output(struct child *c)
{
    int queued = 0, total = 0;
    if (c->out_fd >= 0 && ioctl(c->out_fd, FIONREAD, &queued) == 0)
        total += queued;
    queued = 0;
    if (c->err_fd >= 0 && ioctl(c->err_fd, FIONREAD, &queued) == 0)
        total += queued;
    return (size_t)total;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

void child_stop(struct child *c, int grace_ms)
{
    if (c->pid > 0 && !child_poll_exit(c)) {
        kill(-c->pid, SIGTERM);
        for (int waited = 0; waited < grace_ms && !child_poll_exit(c); waited += 10)
            sleep_ms(10);
        if (!child_poll_exit(c)) {
            kill(-c->pid, SIGKILL);
            while (!child_poll_exit(c))
                sleep_ms(5);
        }
    }
    /* Whatever else it left goes too: in its group, and every descendant
     * (a daemon in a session of its own is ours, as the subreaper). Each
     * is reaped, until none is left. */
    if (c->pid > 0)
        kill(-c->pid, SIGKILL);
    for (int waited = 0; waited < STOP_ALL_MS; waited += 5) {
        int alive = kill_descendants(&stop_scan);
        int reaped = 0;
        while (waitpid(-1, NULL, WNOHANG) > 0)
            reaped++;
        if (alive <= 0 && reaped == 0)
            break;
        sleep_ms(5);
    }
    child_current_group = 0;
    if (c->drain_started) {
        /* Give the drain thread a moment for output still in the pipes,
         * then stop it even if a descendant outside the group holds them. */
        for (int waited = 0; waited < 500; waited += 10) {
            pthread_mutex_lock(&c->lock);
            int done = c->out_eof && c->err_eof;
            pthread_mutex_unlock(&c->lock);
            if (done)
                break;
            sleep_ms(10);
        }
        ssize_t ignored = write(c->stop_pipe[1], "x", 1);
        (void)ignored;
        pthread_join(c->drain, NULL);
        c->drain_started = 0;
    }
    for (int i = 0; i < 2; i++)
        if (c->stop_pipe[i] >= 0) {
            close(c->stop_pipe[i]);
            c->stop_pipe[i] = -1;
        }
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->err_fd >= 0)
        close(c->err_fd);
    c->out_fd = c->err_fd = -1;
}

void child_free(struct child *c)
{
    free(c->out.bytes);
    free(c->err.bytes);
    c->out.bytes = c->err.bytes = NULL;
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->changed);
}

/* Adds the context switches of one task (thread) from its status file. */
static int task_switches(const char *status_path, uint64_t *switches)
{
    char line[256];
    FILE *f = fopen(status_path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long n;
        if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &n) == 1)
            *switches += n;
    }
    fclose(f);
    return 0;
}

/* Reads state, parent, process group and CPU ticks from a stat file. */
static int read_stat(const char *path, char *state, long *ppid, long *pgrp,
                     unsigned long long *ticks, unsigned long long *child_faults)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *close_paren = strrchr(buf, ')');   /* the name may hold spaces */
    if (close_paren == NULL)
        return -1;
    unsigned long long utime, stime, cminflt;
    long long cutime, cstime;
    if (sscanf(close_paren + 2, "%c %ld %ld %*d %*d %*d %*u %*u %llu %*u %*u %llu %llu %lld %lld",
               state, ppid, pgrp, &cminflt, &utime, &stime, &cutime, &cstime) != 8)
        return -1;
    *child_faults = cminflt;
    *ticks = utime + stime + (unsigned long long)(cutime > 0 ? cutime : 0) +
             (unsigned long long)(cstime > 0 ? cstime : 0);
    return 0;
}

struct proc_entry {
    long pid, ppid, pgrp;
    char state;
    unsigned long long ticks, child_faults;
    int in_tree;
};

/* 1 when thread TID of PID sleeps in a system call (accept, recv, poll,
 * a futex, nanosleep...): a wait the program chose. A thread asleep
 * outside any system call (a page fault while a loaded machine starts it)
 * waits for the kernel, not for bytes; /proc says "-1" for it. 1 too when
 * /proc cannot tell. */
static int in_system_call(long pid, const char *tid)
{
    char path[320], buf[32] = "";
    snprintf(path, sizeof path, "/proc/%ld/task/%s/syscall", pid, tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    return !(buf[0] == '-' && buf[1] == '1');
}

/* Adds the threads of process PID to S. */
static void sample_tasks(long pid, struct group_sample *s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *tasks = opendir(path);
    if (tasks == NULL)
        return;
    struct dirent *te;
    while ((te = readdir(tasks)) != NULL) {
        if (te->d_name[0] < '1' || te->d_name[0] > '9')
            continue;
        char tpath[600], tstate;
        long tppid, tpgrp;
        unsigned long long tticks, tfaults;
        snprintf(tpath, sizeof tpath, "/proc/%ld/task/%s/stat", pid, te->d_name);
        if (read_stat(tpath, &tstate, &tppid, &tpgrp, &tticks, &tfaults) < 0)
            continue;
        s->tasks++;
        if (tstate != 'S' && tstate != 'T' && tstate != 't' && tstate != 'Z' && tstate != 'I')
            s->all_asleep = 0;
        else if (tstate == 'S' && !in_system_call(pid, te->d_name))
            s->all_asleep = 0;    /* asleep in the kernel for itself: not a wait */
        snprintf(tpath, sizeof tpath, "/proc/%ld/task/%s/status", pid, te->d_name);
        task_switches(tpath, &s->switches);
    }
    closedir(tasks);
}

/* Adds PID's rchar (bytes through read-like calls of any kind: pipes,
 * files) to S->io. What it writes is not counted: written to a pipe of its
 * own, it is counted where it is read; written to its stdout or stderr, it
 * is output, which is not progress (a program that floods its stderr does
 * not move on). Nothing when /proc/PID/io cannot be read. */
static void sample_io(long pid, struct group_sample *s)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%ld/io", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long v;
        if (sscanf(line, "rchar: %llu", &v) == 1)
            s->io += v;
    }
    fclose(f);
}

/* Every process of /proc, those of the program marked IN_TREE: its process
 * group and every descendant, wherever it moved (the lab's servers run each
 * command in a group of its own), and the processes re-parented to us (the
 * subreaper: what the program left when their parent ended). Returns the
 * array (to free), *N its length; NULL when /proc cannot be read. */
static struct proc_entry *tree_scan(const struct child *c, size_t *n)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return NULL;
    struct proc_entry *all = NULL;
    size_t n_all = 0, cap_all = 0;
    struct dirent *de;
    while ((de = readdir(proc)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[300];
        struct proc_entry e = { 0 };
        e.pid = atol(de->d_name);
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        if (read_stat(path, &e.state, &e.ppid, &e.pgrp, &e.ticks, &e.child_faults) < 0)
            continue;
        if (n_all == cap_all) {
            size_t cap = cap_all ? cap_all * 2 : 512;
            struct proc_entry *grown = realloc(all, cap * sizeof *grown);
            if (grown == NULL)
                break;
            all = grown;
            cap_all = cap;
        }
        all[n_all++] = e;
    }
    closedir(proc);
    /* Mark the group and the re-parented, then descendants until nothing
     * changes. */
    int changed = 1;
    long self = (long)getpid();
    for (size_t i = 0; i < n_all; i++)
        all[i].in_tree = all[i].pgrp == c->pid || all[i].pid == c->pid || all[i].ppid == self;
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < n_all; i++) {
            if (all[i].in_tree)
                continue;
            for (size_t j = 0; j < n_all; j++)
                if (all[j].in_tree && all[j].pid == all[i].ppid) {
                    all[i].in_tree = changed = 1;
                    break;
                }
        }
    }
    *n = n_all;
    return all;
}

int child_sample(const struct child *c, struct group_sample *s)
{
    memset(s, 0, sizeof *s);
    s->all_asleep = 1;
    if (c->pid <= 0)
        return -1;
    size_t n_all;
    struct proc_entry *all = tree_scan(c, &n_all);
    if (all == NULL)
        return -1;
    long ticks_per_s = sysconf(_SC_CLK_TCK);
    unsigned long long ticks_total = 0;
    int processes = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (!all[i].in_tree)
            continue;
        processes++;
        s->zombies += all[i].state == 'Z';
        s->pids += (uint64_t)all[i].pid * 0x9E3779B97F4A7C15ull;
        s->reaped += all[i].child_faults;
        ticks_total += all[i].ticks;
        sample_tasks(all[i].pid, s);
        sample_io(all[i].pid, s);
    }
    free(all);
    if (processes == 0)
        return -1;
    s->processes = processes;
    s->cpu = ticks_per_s > 0 ? (double)ticks_total / (double)ticks_per_s : 0;
    return 0;
}

/* 1 when process PID has a descriptor on one of the N sockets INODES, 0
 * when not, -1 when its descriptors cannot be read. */
static int has_socket(long pid, const unsigned long *inodes, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *fds = opendir(path);
    if (fds == NULL)
        return -1;
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(fds)) != NULL) {
        char fd_path[600], target[64];
        unsigned long inode;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(fd_path, sizeof fd_path, "%s/%s", path, de->d_name);
        ssize_t len = readlink(fd_path, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &inode) != 1)
            continue;
        for (size_t i = 0; i < n && !found; i++)
            found = inodes[i] == inode;
    }
    closedir(fds);
    return found;
}

int child_has_socket(const struct child *c, const unsigned long *inodes, size_t n)
{
    if (c->pid <= 0)
        return 0;
    size_t n_all;
    struct proc_entry *all = tree_scan(c, &n_all);
    if (all == NULL)
        return -1;
    int found = 0, looked = 0;
    for (size_t i = 0; i < n_all && !found; i++) {
        if (!all[i].in_tree)
            continue;
        int rc = has_socket(all[i].pid, inodes, n);
        looked |= rc >= 0;
        found = rc == 1;
    }
    free(all);
    return found ? 1 : looked ? 0 : -1;
}
