/* fuzz/replay.c - runs a harness once on each file given (or on every file
 * of each directory given), without libFuzzer: `make test` replays the
 * committed corpora with any compiler. Prints "NAME: N inputs replayed" and
 * exits 0; a harness that finds a bug aborts, as under libFuzzer. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *prog = "replay";

/* Runs the harness on the bytes of PATH. Returns 0, or -1 after saying why. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *bytes = malloc(cap);
    int rc = -1;
    for (;;) {
        if (bytes == NULL) {
            fprintf(stderr, "%s: %s: out of memory\n", prog, path);
            goto end;
        }
        len += fread(bytes + len, 1, cap - len, f);
        if (len < cap)
            break;
        unsigned char *grown = realloc(bytes, cap * 2);
        if (grown == NULL)
            free(bytes);
        bytes = grown;
        cap *= 2;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
        goto end;
    }
    LLVMFuzzerTestOneInput(bytes, len);
    rc = 0;
end:
    free(bytes);
    fclose(f);
    return rc;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays PATH, or every regular file in it when it is a directory (in
 * name order). Adds to *COUNT. Returns 0, or -1. */
static int replay_path(const char *path, unsigned long *count)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (replay_file(path) < 0)
            return -1;
        (*count)++;
        return 0;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, NULL);
    if (n < 0) {
        fprintf(stderr, "%s: cannot list %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    char **sorted = calloc((size_t)n + 1, sizeof *sorted);
    int rc = sorted == NULL ? -1 : 0, kept = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && names[i]->d_name[0] != '.') {
            size_t size = strlen(path) + strlen(names[i]->d_name) + 2;
            sorted[kept] = malloc(size);
            if (sorted[kept] == NULL)
                rc = -1;
            else
                snprintf(sorted[kept++], size, "%s/%s", path, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    if (rc < 0)
        fprintf(stderr, "%s: out of memory listing %s\n", prog, path);
    else
        qsort(sorted, (size_t)kept, sizeof *sorted, compare_names);
    for (int i = 0; i < kept; i++) {
        struct stat entry;
        if (rc == 0 && stat(sorted[i], &entry) == 0 && S_ISREG(entry.st_mode)) {
            if (replay_file(sorted[i]) < 0)
                rc = -1;
            else
                (*count)++;
        }
        free(sorted[i]);
    }
    free(sorted);
    return rc;
}

int main(int argc, char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    prog = slash ? slash + 1 : argv[0];
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("Usage: %s FILE|DIR...\n"
               "Runs this fuzz harness once on each FILE and on every file in each DIR\n"
               "(the committed corpus is fuzz/corpus/NAME/), without libFuzzer. A bug it\n"
               "finds aborts, as under libFuzzer; otherwise it says how many it ran.\n", prog);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("%s: a nianbao fuzz harness, replay driver (not in the document)\n", prog);
        return 0;
    }
    const char *problem = argc < 2 ? "no input given: name files or folders of inputs" : NULL;
    for (int i = 1; i < argc && problem == NULL; i++)
        if (argv[i][0] == '-')
            problem = "options are --help and --version only";
    if (problem != NULL) {
        fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", prog, problem, prog);
        return 2;
    }
    unsigned long count = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) < 0)
            return 1;
    printf("%s: %lu inputs replayed\n", prog, count);
    return 0;
}
