/* bench/spawn_loop.c - the round-trip baseline of `make bench`: runs
 * /bin/sh -c true N times, one after another (fork, exec, wait), as a
 * server does for each command. What 1000 commands cost with no network
 * and no protocol at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char *end = NULL;
    long count = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || count < 1) {
        fprintf(stderr, "usage: spawn_loop N   (runs /bin/sh -c true N times)\n");
        return 2;
    }
    for (long i = 0; i < count; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "spawn_loop: fork: %s\n", strerror(errno));
            return 1;
        }
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
            _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) {
                fprintf(stderr, "spawn_loop: waitpid: %s\n", strerror(errno));
                return 1;
            }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "spawn_loop: sh -c true failed\n");
            return 1;
        }
    }
    return 0;
}
