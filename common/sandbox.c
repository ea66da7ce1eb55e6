/* sandbox.c - the bubblewrap command line of --sandbox (see sandbox.h). */
#define _GNU_SOURCE
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "fsroot.h"

#define SANDBOX_PREFIX_MAX (SANDBOX_ARGV_MAX - 16)   /* room for the limits and sh */
#define SANDBOX_PATH "/usr/local/bin:/usr/bin:/bin"

struct sandbox {
    char *argv[SANDBOX_PREFIX_MAX + 1];   /* the fixed part, up to "--" */
    size_t argc;
    char *strings;                        /* every string argv points into */
    size_t used, size;
    char limits[5][48];                   /* --nproc= ... --core=         */
};

/* Copies TEXT into the sandbox's string block and appends it to argv. */
static int add(struct sandbox *sb, const char *text)
{
    size_t len = strlen(text) + 1;
    if (sb->argc >= SANDBOX_PREFIX_MAX || sb->used + len > sb->size)
        return -1;
    memcpy(sb->strings + sb->used, text, len);
    sb->argv[sb->argc++] = sb->strings + sb->used;
    sb->used += len;
    return 0;
}

/* The executable NAME in $PATH (or NAME itself when it has a '/'), into
 * OUT. Returns 0, or -1 when there is none. */
static int find_program(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return access(out, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = SANDBOX_PATH;
    while (*path) {
        size_t dir_len = strcspn(path, ":");
        if (dir_len > 0 &&
            snprintf(out, outlen, "%.*s/%s", (int)dir_len, path, name) < (int)outlen &&
            access(out, X_OK) == 0)
            return 0;
        path += dir_len;
        if (*path == ':')
            path++;
    }
    return -1;
}

/* /bin, /sbin and the /lib directories as the host has them: a symlink
 * into /usr (merged /usr) stays a symlink, a directory is bound read-only. */
static int add_system_dirs(struct sandbox *sb)
{
    static const char *const dirs[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };
    char target[PATH_MAX];
    struct stat st;

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (lstat(dirs[i], &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(dirs[i], target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (add(sb, "--symlink") < 0 || add(sb, target) < 0 || add(sb, dirs[i]) < 0)
                return -1;
        } else if (S_ISDIR(st.st_mode)) {
            if (add(sb, "--ro-bind") < 0 || add(sb, dirs[i]) < 0 || add(sb, dirs[i]) < 0)
                return -1;
        }
    }
    return 0;
}

struct sandbox *sandbox_new(const struct sandbox_config *cfg, char *err, size_t errlen)
{
    char bwrap[PATH_MAX], setpriv[PATH_MAX], prlimit[PATH_MAX], root[PATH_MAX], fd_link[64];
    char size_arg[32];
    root[0] = '\0';
    const char *bwrap_name = getenv("NIANBAO_BWRAP");
    struct sandbox *sb = calloc(1, sizeof *sb);

    if (!sb || !(sb->strings = malloc(sb->size = 16384))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* A test hook: NIANBAO_BWRAP=/nonexistent proves the refusal. */
    if (!bwrap_name || !*bwrap_name)
        bwrap_name = "bwrap";
    if (find_program(bwrap_name, bwrap, sizeof bwrap) < 0) {
        snprintf(err, errlen, "--sandbox needs bubblewrap, and there is no %s%s: install it "
                 "(Debian: apt install bubblewrap) or leave --sandbox out on loopback",
                 bwrap_name, strchr(bwrap_name, '/') ? "" : " in PATH");
        goto fail;
    }
    /* prlimit runs inside, where only the system's directories are. */
    if (find_program("/usr/bin/prlimit", prlimit, sizeof prlimit) < 0) {
        snprintf(err, errlen, "--sandbox needs /usr/bin/prlimit (util-linux), and it is not "
                 "there");
        goto fail;
    }
    if (geteuid() == 0) {
        if (find_program("setpriv", setpriv, sizeof setpriv) < 0) {
            snprintf(err, errlen, "--sandbox as root runs commands as nobody and needs "
                     "setpriv (util-linux), which is not in PATH");
            goto fail;
        }
        char ids[2][32];
        snprintf(ids[0], sizeof ids[0], "--reuid=%d", SANDBOX_UID);
        snprintf(ids[1], sizeof ids[1], "--regid=%d", SANDBOX_UID);
        if (add(sb, setpriv) < 0 || add(sb, ids[0]) < 0 || add(sb, ids[1]) < 0 ||
            add(sb, "--clear-groups") < 0 || add(sb, "--") < 0)
            goto too_long;
    }
    static const char *const namespaces[] = {
        "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-net",
        "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
    };
    if (add(sb, bwrap) < 0)
        goto too_long;
    for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
        if (add(sb, namespaces[i]) < 0)
            goto too_long;
    if (add_system_dirs(sb) < 0 ||
        add(sb, "--proc") < 0 || add(sb, "/proc") < 0 ||
        add(sb, "--dev") < 0 || add(sb, "/dev") < 0)
        goto too_long;
    snprintf(size_arg, sizeof size_arg, "%lu", SANDBOX_TMP_SIZE);
    if (add(sb, "--perms") < 0 || add(sb, "1777") < 0 || add(sb, "--size") < 0 ||
        add(sb, size_arg) < 0 || add(sb, "--tmpfs") < 0 || add(sb, "/tmp") < 0)
        goto too_long;
    snprintf(size_arg, sizeof size_arg, "%lu", SANDBOX_SHM_SIZE);
    if (add(sb, "--perms") < 0 || add(sb, "1777") < 0 || add(sb, "--size") < 0 ||
        add(sb, size_arg) < 0 || add(sb, "--tmpfs") < 0 || add(sb, "/dev/shm") < 0 ||
        add(sb, "--remount-ro") < 0 || add(sb, "/dev") < 0)
        goto too_long;
    const char *home = "/tmp";
    if (cfg->root) {
        /* The root as the kernel knows it: the path it was opened by may be
         * relative, and the server has since entered it. */
        snprintf(fd_link, sizeof fd_link, "/proc/self/fd/%d", cfg->root->dirfd);
        ssize_t n = readlink(fd_link, root, sizeof root - 1);
        if (n <= 0 || root[0] != '/') {
            snprintf(err, errlen, "cannot find the root's path for the sandbox: %s",
                     n < 0 ? strerror(errno) : "not a path");
            goto fail;
        }
        root[n] = '\0';
        if (add(sb, cfg->root->read_only ? "--ro-bind" : "--bind") < 0 || add(sb, root) < 0 ||
            add(sb, root) < 0)
            goto too_long;
        home = root;
    }
    /* Last: bwrap's own root, where the mount points were made, is a tmpfs
     * with no size limit. */
    if (add(sb, "--remount-ro") < 0 || add(sb, "/") < 0 ||
        add(sb, "--chdir") < 0 || add(sb, home) < 0 ||
        add(sb, "--clearenv") < 0 ||
        add(sb, "--setenv") < 0 || add(sb, "HOME") < 0 || add(sb, home) < 0 ||
        add(sb, "--setenv") < 0 || add(sb, "PATH") < 0 || add(sb, SANDBOX_PATH) < 0 ||
        add(sb, "--setenv") < 0 || add(sb, "TMPDIR") < 0 || add(sb, "/tmp") < 0 ||
        add(sb, "--") < 0 || add(sb, prlimit) < 0)
        goto too_long;
    snprintf(sb->limits[0], sizeof sb->limits[0], "--nproc=%d", SANDBOX_NPROC);
    snprintf(sb->limits[1], sizeof sb->limits[1], "--as=%lu", SANDBOX_AS);
    snprintf(sb->limits[2], sizeof sb->limits[2], "--fsize=%lu", SANDBOX_FSIZE);
    snprintf(sb->limits[3], sizeof sb->limits[3], "--nofile=%d", SANDBOX_NOFILE);
    snprintf(sb->limits[4], sizeof sb->limits[4], "--core=0");
    for (size_t i = 0; i < sizeof sb->limits / sizeof sb->limits[0]; i++)
        if (add(sb, sb->limits[i]) < 0)
            goto too_long;
    return sb;
too_long:
    snprintf(err, errlen, "the sandbox's command line is too long (a root path of %zu bytes?)",
             strlen(root));
fail:
    sandbox_free(sb);
    return NULL;
}

int sandbox_argv(const struct sandbox *sb, const char *cmd, unsigned long timeout_ms,
                 char **argv, size_t cap, char *cpu_arg, size_t cpu_len)
{
    /* A CPU second more than the wall-clock timeout: the timeout is what
     * ends a command; this only stops a process that somehow outlived it. */
    unsigned long cpu_secs = (timeout_ms + 999) / 1000 + 1;
    size_t n = 0;

    if (sb->argc + 6 > cap)    /* the limits' --cpu, "--", sh -c CMD, NULL */
        return -1;
    for (size_t i = 0; i < sb->argc; i++)
        argv[n++] = sb->argv[i];
    snprintf(cpu_arg, cpu_len, "--cpu=%lu", cpu_secs);
    argv[n++] = cpu_arg;
    argv[n++] = "--";
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = (char *)cmd;
    argv[n] = NULL;
    return 0;
}

/* ---- demotion ----------------------------------------------------------- */

#define DEMOTE_MAX_PROCS 512      /* a command has at most SANDBOX_NPROC      */
#define DEMOTE_MAX_SETS 16        /* process groups, sessions: one, usually   */

/* Adds the children of every thread of PID to the queue. */
static void queue_children(pid_t pid, pid_t *queue, size_t *count)
{
    char path[64], list[4096];
    struct dirent *task;

    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *tasks = opendir(path);
    if (!tasks)
        return;     /* gone already */
    while ((task = readdir(tasks)) != NULL && *count < DEMOTE_MAX_PROCS) {
        if (task->d_name[0] < '0' || task->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", (int)pid, task->d_name);
        if (fileio_read_text(path, list, sizeof list) < 0)
            continue;
        for (char *at = list, *end; *count < DEMOTE_MAX_PROCS; at = end) {
            long child = strtol(at, &end, 10);
            if (end == at || child <= 0)
                break;
            queue[(*count)++] = (pid_t)child;
        }
    }
    closedir(tasks);
}

/* One process of a command, from /proc/PID/stat. */
struct proc_info {
    pid_t pid, pgrp, session;
    unsigned long long cpu_ticks;   /* its own and its reaped children's */
};

/* Fills INFO for PID from /proc/PID/stat (the fields after the command's
 * name, which may hold anything: from its last ')'). Returns 0, or -1
 * (gone). */
static int proc_info(pid_t pid, struct proc_info *info)
{
    char path[64], stat[1024];
    int ppid, group, sid;
    unsigned long long utime, stime, cutime, cstime;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (fileio_read_text(path, stat, sizeof stat) < 0)
        return -1;
    char *after_name = strrchr(stat, ')');
    if (!after_name ||
        sscanf(after_name + 1, " %*c %d %d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
               &ppid, &group, &sid, &utime, &stime, &cutime, &cstime) != 7)
        return -1;
    info->pid = pid;
    info->pgrp = group;
    info->session = sid;
    info->cpu_ticks = utime + stime + cutime + cstime;
    return 0;
}

/* 1 when ID is in SET (of *COUNT); else adds it (when there is room). */
static int seen(pid_t *set, size_t *count, pid_t id)
{
    for (size_t i = 0; i < *count; i++)
        if (set[i] == id)
            return 1;
    if (*count < DEMOTE_MAX_SETS)
        set[(*count)++] = id;
    return 0;
}

/* Sets the nice value of every process in PROCS (N), by session and by
 * process group. Returns 1 when the kernel refused an autogroup for now
 * (EAGAIN), else 0. */
static int demote(const struct proc_info *procs, size_t n)
{
    pid_t groups[DEMOTE_MAX_SETS], sessions[DEMOTE_MAX_SETS];
    size_t n_groups = 0, n_sessions = 0;
    char nice_text[8], path[64];
    int retry = 0;

    snprintf(nice_text, sizeof nice_text, "%d", SANDBOX_DEMOTE_NICE);
    for (size_t i = 0; i < n; i++) {
        /* Under autogroup the scheduler shares the CPU between sessions
         * first, and a process's nice counts only within its session: the
         * session's own nice is what weighs against the other commands. */
        if (!seen(sessions, &n_sessions, procs[i].session)) {
            snprintf(path, sizeof path, "/proc/%d/autogroup", (int)procs[i].pid);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                if (write(fd, nice_text, strlen(nice_text)) < 0 && errno == EAGAIN)
                    retry = 1;
                close(fd);
            }
        }
        /* The nice value every process of the group has from now on, and
         * what its children inherit (after the autogroup: a process that
         * sees its nice at 19 finds its session's there already). */
        if (!seen(groups, &n_groups, procs[i].pgrp))
            setpriority(PRIO_PGRP, (id_t)procs[i].pgrp, SANDBOX_DEMOTE_NICE);
    }
    return retry;
}

int sandbox_demote_hog(pid_t bwrap_pid, long long *cpu_ms)
{
    pid_t own_session = getsid(0);
    size_t count = 0, n_procs = 0;
    unsigned long long ticks = 0;
    long ticks_per_s = sysconf(_SC_CLK_TCK);
    int rc = -1;

    pid_t *queue = malloc(DEMOTE_MAX_PROCS * sizeof *queue);
    struct proc_info *procs = malloc(DEMOTE_MAX_PROCS * sizeof *procs);
    if (!queue || !procs)
        goto end;
    queue_children(bwrap_pid, queue, &count);
    for (size_t i = 0; i < count; i++) {
        queue_children(queue[i], queue, &count);
        /* bwrap's own first process is in the server's session: leave it
         * (and the server's autogroup) alone. */
        if (proc_info(queue[i], &procs[n_procs]) == 0 && procs[n_procs].session != own_session) {
            ticks += procs[n_procs].cpu_ticks;
            n_procs++;
        }
    }
    *cpu_ms = (long long)(ticks * 1000 / (unsigned long long)(ticks_per_s > 0 ? ticks_per_s : 100));
    if (*cpu_ms < SANDBOX_DEMOTE_CPU_MS)
        rc = 0;
    else
        rc = demote(procs, n_procs) ? 2 : 1;
end:
    free(queue);
    free(procs);
    return rc;
}

void sandbox_free(struct sandbox *sb)
{
    if (!sb)
        return;
    free(sb->strings);
    free(sb);
}
