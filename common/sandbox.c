/* sandbox.c - the bubblewrap command line of --sandbox (see sandbox.h). */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void sandbox_free(struct sandbox *sb)
{
    if (!sb)
        return;
    free(sb->strings);
    free(sb);
}
