/* sandbox.h - --sandbox: each command in a bubblewrap cage.
 *
 * A server a class can reach runs any command any student sends. With
 * --sandbox, run.c starts each command as
 *
 *   [setpriv --reuid=65534 --regid=65534 --clear-groups --]   (server is root)
 *   bwrap --unshare-user --disable-userns --unshare-pid --unshare-net
 *         --unshare-ipc --unshare-uts --unshare-cgroup-try
 *         --die-with-parent --new-session
 *         --ro-bind /usr /usr --ro-bind /etc /etc  (/bin, /sbin, /lib*: as
 *         on the host, a symlink into /usr or a read-only bind)
 *         --proc /proc --dev /dev
 *         --perms 1777 --size 64M --tmpfs /tmp
 *         --perms 1777 --size 1M --tmpfs /dev/shm --remount-ro /dev
 *         [--bind ROOT ROOT | --ro-bind ROOT ROOT]    (stages 5, 6)
 *         --remount-ro /    (bwrap's own root is a tmpfs with no size limit)
 *         --chdir ROOT|/tmp --clearenv --setenv HOME ROOT|/tmp --setenv PATH ...
 *   -- prlimit --nproc=64 --as=1G --fsize=64M --nofile=256 --core=0 --cpu=T+1
 *   -- /bin/sh -c CMD
 *
 * Bubblewrap makes the namespaces (a tool built for it, never a hand-made
 * set); prlimit, run inside the new user namespace, sets the limits there.
 * RLIMIT_NPROC counts the processes of one user in one user namespace
 * (Linux 5.14 on): inside the sandbox it counts only that command's own,
 * so 64 stops a fork bomb without touching the teacher's other processes.
 * The kernel never applies it to root, so a server started as root drops
 * to nobody (setpriv) before bwrap: its commands then write only where
 * nobody may.
 *
 * Killing the command's process group kills bwrap; --die-with-parent kills
 * the namespace's first process, and with it every process in the PID
 * namespace, whatever session or group they made for themselves.
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_SANDBOX_H
#define NIANBAO_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "cli.h"

struct fsroot;

/* The limits each command gets (and the size of its /tmp). */
#define SANDBOX_NPROC 64                    /* processes at once            */
#define SANDBOX_AS (1UL << 30)              /* bytes of address space each  */
#define SANDBOX_FSIZE (64UL << 20)          /* bytes in one file written    */
#define SANDBOX_NOFILE 256                  /* open descriptors each        */
#define SANDBOX_TMP_SIZE (64UL << 20)       /* the private /tmp             */
#define SANDBOX_SHM_SIZE (1UL << 20)        /* the private /dev/shm         */
#define SANDBOX_UID 65534                   /* nobody, for a server run as root */

struct sandbox_config {
    int enabled;                  /* --sandbox                               */
    int unsafe;                   /* --unsafe-no-sandbox: a reachable address
                                     runs commands as this user anyway       */
    const struct fsroot *root;    /* stages 5, 6: the served root, bound at
                                     its own path (read-only with its
                                     read_only), where commands run; NULL:
                                     they run in the sandbox's empty /tmp   */
};

/* The options, for a server's table (cli.h): --sandbox, --unsafe-no-sandbox. */
#define SANDBOX_OPTIONS(cfg) \
    { "sandbox", 0, CLI_FLAG, &(cfg)->enabled, NULL, \
      "run each command in a bubblewrap sandbox: no network, no files but the system's" \
      " (and the served root), limits on processes, memory, CPU and file size", 0, 0 }, \
    { "unsafe-no-sandbox", 0, CLI_FLAG, &(cfg)->unsafe, NULL, \
      "listen on an address other hosts reach without --sandbox: whoever connects runs" \
      " commands as you", 0, 0 }

struct sandbox;

/* Finds bwrap (NIANBAO_BWRAP, else PATH), prlimit and, for root, setpriv,
 * and builds the command line above for CFG. It does not run it: see
 * run_sandbox_start (run.h), which tries it once. Returns the sandbox, or
 * NULL with ERR filled (a tool missing, the root's path unknown, memory). */
struct sandbox *sandbox_new(const struct sandbox_config *cfg, char *err, size_t errlen);

/* The program to execute for one command (absolute path), and its ARGV:
 * the prefix above, then the limits (RLIMIT_CPU: TIMEOUT_MS in whole
 * seconds, rounded up, plus 1), then /bin/sh -c CMD. CPU_ARG is room for
 * the --cpu argument (32 bytes). Returns 0, or -1 when CAP is too small. */
int sandbox_argv(const struct sandbox *sb, const char *cmd, unsigned long timeout_ms,
                 char **argv, size_t cap, char *cpu_arg, size_t cpu_len);

/* Entries sandbox_argv needs, the final NULL included. */
#define SANDBOX_ARGV_MAX 96

/* A command that has used SANDBOX_DEMOTE_CPU_MS of CPU (its processes
 * together) is demoted to nice SANDBOX_DEMOTE_NICE: a fork bomb, `yes`,
 * `find /` then yield the CPU to everyone's short commands, which keep
 * nice 0 however long they wait. CPU, not wall-clock time: on a loaded
 * machine a short command that waited its turn for a second must not be
 * demoted for it. run.c looks (sandbox_demote_hog) from the wait it does
 * anyway, at most every SANDBOX_DEMOTE_LOOK_MS, and only while a command
 * runs: no timer of its own. */
#define SANDBOX_DEMOTE_CPU_MS 100
#define SANDBOX_DEMOTE_LOOK_MS 25
#define SANDBOX_DEMOTE_NICE 19

/* Looks at one running command: the CPU time of every process below
 * BWRAP_PID (what sandbox_argv starts) outside the caller's session (the
 * command's own session, made by bwrap --new-session, and any it made
 * since; their reaped children included) into *CPU_MS. When that is
 * SANDBOX_DEMOTE_CPU_MS or more, demotes them to SANDBOX_DEMOTE_NICE: by
 * process group (setpriority: what a child forked later inherits), and
 * each session's autogroup (/proc/PID/autogroup: where the kernel shares
 * the CPU between sessions first, a process's nice only counts within its
 * session). The processes are found through /proc/PID/task/TID/children
 * (CONFIG_PROC_CHILDREN, as Debian builds it). Returns 0 (not a hog yet),
 * 1 (demoted), 2 (demoted, but the kernel refused an autogroup for now:
 * without CAP_SYS_ADMIN it takes one such change every 100 ms,
 * machine-wide; call again later), or -1 (out of memory). A session made
 * after the demotion keeps its autogroup's nice (0), but its processes
 * are at 19. */
int sandbox_demote_hog(pid_t bwrap_pid, long long *cpu_ms);

void sandbox_free(struct sandbox *sb);

#endif
