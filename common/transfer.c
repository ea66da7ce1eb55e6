/* transfer.c - the stage 5 client's local end of a get or a put (transfer.h). */
#define _GNU_SOURCE                 /* renameat2 */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "fsroot.h"
#include "interrupt.h"
#include "localpath.h"
#include "net.h"
#include "shell.h"
#include "words.h"

/* Where a download of NAME goes (transfer.h). */
static void download_path(const char *name, const char *dest, char *out, size_t outlen)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    struct stat st;

    if (!dest)
        snprintf(out, outlen, "%s", base);
    else if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
        localpath_join(dest, base, out, outlen);
    else
        snprintf(out, outlen, "%s", dest);
}

/* Opens P->part for writing (transfer.h). Returns the descriptor (*ST
 * filled), or -1 with ERR filled. */
static int open_part(const struct download *p, int resume, struct stat *st, char *err,
                     size_t errlen)
{
    const char *path_shown = p->path_shown;
    int fd = open(p->part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);

    if (fd < 0) {
        char dir[4096], dir_shown[FT_SHOWN_MAX];
        if (errno == ENOENT && localpath_missing_dir(p->part, dir, sizeof dir) == 0 && dir[0]) {
            fsroot_show_name(dir, strlen(dir), dir_shown, sizeof dir_shown);
            snprintf(err, errlen, "cannot write %s: the directory %s does not exist",
                     path_shown, dir_shown);
        } else if (errno == ELOOP)
            snprintf(err, errlen, "%s" PARTIAL_SUFFIX " is a symlink: refusing to write through "
                     "it (remove it, or choose another DEST)", path_shown);
        else
            snprintf(err, errlen, "cannot write %s" PARTIAL_SUFFIX ": %s", path_shown,
                     strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        snprintf(err, errlen, "cannot write %s" PARTIAL_SUFFIX ": %s", path_shown,
                 strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s" PARTIAL_SUFFIX " is not a regular file: refusing to write "
                 "it (remove it, or choose another DEST)", path_shown);
    } else if (st->st_nlink != 1) {
        snprintf(err, errlen, "%s" PARTIAL_SUFFIX " has %ju links: refusing to write a file "
                 "that has another name too (remove it, or choose another DEST)", path_shown,
                 (uintmax_t)st->st_nlink);
    } else if (!resume && st->st_size > 0 && ftruncate(fd, 0) < 0) {
        snprintf(err, errlen, "cannot write %s" PARTIAL_SUFFIX ": %s", path_shown,
                 strerror(errno));
    } else {
        if (!resume)
            st->st_size = 0;
        return fd;
    }
    close(fd);
    return -1;
}

int download_open(struct download *d, const char *name, const char *dest, int resume,
                  int overwrite, int out_fd, char *err, size_t errlen)
{
    char hint[2 * FT_SHOWN_MAX + 64];
    struct stat st;

    memset(d, 0, sizeof *d);
    d->sha = (struct digest){ DIGEST_NONE, NULL };
    d->name = name;
    d->dest = dest;
    d->fd = -1;
    fsroot_show_name(name, strlen(name), d->shown, sizeof d->shown);
    download_path(name, dest, d->path, sizeof d->path);
    fsroot_show_name(d->path, strlen(d->path), d->path_shown, sizeof d->path_shown);
    snprintf(d->part, sizeof d->part, "%s" PARTIAL_SUFFIX, d->path);
    d->to_stdout = dest && strcmp(dest, "-") == 0;
    if (d->to_stdout) {
        d->fd = out_fd;
        if (digest_init(&d->sha, DIGEST_SHA256) < 0) {
            snprintf(err, errlen, "out of memory");
            return EXIT_LOCAL;
        }
        return EXIT_OK;
    }
    if (!overwrite && lstat(d->path, &st) == 0) {
        snprintf(err, errlen, "%s exists; --overwrite replaces it", d->path_shown);
        return EXIT_LOCAL;
    }
    /* --resume goes on from what an interrupted download left; a plain get
     * does not throw it away unasked. */
    if (!resume && !overwrite && lstat(d->part, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_nlink == 1 && st.st_size > 0) {
        snprintf(err, errlen, "%s" PARTIAL_SUFFIX " holds %jd bytes of an interrupted download: "
                 "`%s` goes on from there, --overwrite starts again", d->path_shown,
                 (intmax_t)st.st_size, transfer_hint("get", name, dest, hint, sizeof hint));
        return EXIT_LOCAL;
    }
    d->fd = open_part(d, resume, &st, err, errlen);
    if (d->fd < 0)
        return EXIT_LOCAL;
    d->offset = d->at = (uint64_t)st.st_size;
    if (file_hash_start(&d->hash, d->fd, d->offset, 1, err, errlen) < 0) {
        close(d->fd);           /* kept, even empty: nothing was asked yet */
        d->fd = -1;
        return EXIT_LOCAL;
    }
    d->hashing = 1;
    if (d->offset > 0 && file_hash_peek(&d->hash, d->offset, d->prefix, hint, sizeof hint) < 0) {
        snprintf(err, errlen, "%s" PARTIAL_SUFFIX ": %s", d->path_shown, hint);
        return EXIT_LOCAL;
    }
    return EXIT_OK;
}

void download_start(struct download *d, uint64_t file_size, int bar_on, FILE *bar_to)
{
    progress_start(&d->bar, bar_on, file_size, d->offset);
    d->bar_to = bar_to;
}

int download_write(struct download *d, const void *body, size_t len)
{
    if ((d->to_stdout ? fileio_write_all(d->fd, body, len)
                      : fileio_pwrite_all(d->fd, body, len, d->at)) < 0)
        return -1;
    d->at += len;
    if (d->to_stdout)
        digest_update(&d->sha, body, len);
    else
        file_hash_advance(&d->hash, d->at);
    progress_draw(&d->bar, d->at, 0, d->bar_to);
    return 0;
}

const char *download_stopped(struct download *d, int rc, char *out, size_t outlen)
{
    char hint[2 * FT_SHOWN_MAX + 64];
    struct stat st;
    int kept = !d->to_stdout && fstat(d->fd, &st) == 0;

    out[0] = '\0';
    if (rc == EXIT_INTERRUPTED && kept)
        snprintf(out, outlen, "interrupted: kept %jd bytes of %s in %s" PARTIAL_SUFFIX "; `%s` "
                 "continues", (intmax_t)st.st_size, d->shown, d->path_shown,
                 transfer_hint("get", d->name, d->dest, hint, sizeof hint));
    else if (rc == EXIT_INTERRUPTED)
        snprintf(out, outlen, "interrupted");
    else if (rc == EXIT_CONNECTION && kept && st.st_size > 0)
        snprintf(out, outlen, "the bytes received are kept in %s" PARTIAL_SUFFIX ": --resume goes "
                 "on from there", d->path_shown);
    return out;
}

int download_finish(struct download *d, const char *said, int overwrite, char *out,
                    size_t outlen)
{
    char sha_hex[DIGEST_HEX_MAX], err[256], at[64];

    if (d->hashing) {
        d->hashing = 0;
        if (file_hash_finish(&d->hash, sha_hex, err, sizeof err) < 0) {
            snprintf(out, outlen, "%s" PARTIAL_SUFFIX ": %s", d->path_shown, err);
            return EXIT_LOCAL;
        }
    } else {
        digest_final_hex(&d->sha, sha_hex);
    }
    if (strcasecmp(sha_hex, said) != 0) {
        snprintf(out, outlen, "%s: SHA-256 mismatch: the server says %s, the bytes received "
                 "are %s; %s", d->shown, said, sha_hex,
                 d->to_stdout ? "what was written to standard output is wrong"
                              : "the download was deleted");
        if (!d->to_stdout)
            unlink(d->part);
        return EXIT_VERIFY;
    }
    if (d->to_stdout) {
        snprintf(out, outlen, "%s: %" PRIu64 " bytes, SHA-256 verified", d->shown, d->bar.total);
        return EXIT_OK;
    }
    int renamed = overwrite ? rename(d->part, d->path)
                            : renameat2(AT_FDCWD, d->part, AT_FDCWD, d->path, RENAME_NOREPLACE);
    if (renamed < 0) {
        snprintf(out, outlen, "cannot rename %s" PARTIAL_SUFFIX " to %s: %s", d->path_shown,
                 d->path_shown, strerror(errno));
        return EXIT_LOCAL;
    }
    snprintf(out, outlen, "%s: %" PRIu64 " bytes%s, SHA-256 verified, saved as %s", d->shown,
             d->bar.total, transfer_resumed_at(d->offset, at, sizeof at), d->path_shown);
    return EXIT_OK;
}

void download_close(struct download *d, int failed)
{
    struct stat st, named;

    if (d->hashing)
        file_hash_cancel(&d->hash);
    d->hashing = 0;
    digest_free(&d->sha);
    if (d->to_stdout || d->fd < 0)
        return;
    if (failed && fstat(d->fd, &st) == 0 && st.st_size == 0 && lstat(d->part, &named) == 0 &&
        named.st_dev == st.st_dev && named.st_ino == st.st_ino)
        unlink(d->part);
    close(d->fd);
    d->fd = -1;
}

int upload_open(struct upload *u, const char *file, const char **name, int stdin_has_commands,
                int in_fd, char *err, size_t errlen)
{
    int from_stdin = strcmp(file, "-") == 0;
    const char *what = from_stdin ? "standard input" : file;
    struct stat st;

    memset(u, 0, sizeof *u);
    u->fd = -1;
    if (from_stdin && (!*name || stdin_has_commands)) {
        snprintf(err, errlen, "put - reads standard input%s", stdin_has_commands
                 ? ", which holds the commands here: give it on the command line"
                 : ", which has no name: put - NAME");
        return EXIT_USAGE;
    }
    if (!*name)
        *name = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    fsroot_show_name(*name, strlen(*name), u->shown, sizeof u->shown);
    fsroot_show_name(what, strlen(what), u->file_shown, sizeof u->file_shown);
    /* Standard input is kept in a file first: a put says its size first. */
    u->fd = from_stdin ? localpath_spool(in_fd, err, errlen) : open(file, O_RDONLY | O_CLOEXEC);
    if (u->fd < 0 && from_stdin)
        return EXIT_LOCAL;
    if (u->fd < 0 || fstat(u->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read %s: %s", u->file_shown,
                 u->fd < 0 ? strerror(errno) : "not a regular file");
        return EXIT_LOCAL;
    }
    u->size = (uint64_t)st.st_size;
    return EXIT_OK;
}

int upload_resume_at(struct upload *u, uint64_t kept, int resume, int overwrite,
                     const char *file, const char *name, char *err, size_t errlen)
{
    char hint[2 * FT_SHOWN_MAX + 64];

    err[0] = '\0';
    u->offset = resume ? kept : 0;
    if (kept > 0 && !resume && !overwrite) {
        snprintf(err, errlen, "the server keeps %" PRIu64 " bytes of an interrupted upload of "
                 "%s: `%s` goes on from there, --overwrite starts again", kept, u->shown,
                 transfer_hint("put", file, name, hint, sizeof hint));
        return EXIT_REMOTE;
    }
    if (u->offset > u->size) {
        snprintf(err, errlen, "the server kept %" PRIu64 " bytes of %s, more than %s has: "
                 "starting again", u->offset, u->shown, u->file_shown);
        u->offset = 0;
    }
    return EXIT_OK;
}

int upload_hash(struct upload *u, char *err, size_t errlen)
{
    char why[256];

    if (file_hash_start(&u->hash, u->fd, u->offset, 1, err, errlen) < 0)
        return EXIT_LOCAL;
    u->hashing = 1;
    if (u->offset > 0 && file_hash_peek(&u->hash, u->offset, u->prefix, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", u->file_shown, why);
        return EXIT_LOCAL;
    }
    return EXIT_OK;
}

void upload_start(struct upload *u, int bar_on, FILE *bar_to)
{
    /* The hash runs beside the transfer, from the page cache. */
    file_hash_advance(&u->hash, u->size);
    progress_start(&u->bar, bar_on, u->size, u->offset);
    u->bar_to = bar_to;
}

int upload_send(struct upload *u, int sock, const char *file, const char *name, char *err,
                size_t errlen)
{
    char hint[2 * FT_SHOWN_MAX + 64];
    int rc = EXIT_OK;

    interrupt_catch(1);
    for (uint64_t at = u->offset; rc == EXIT_OK && at < u->size;) {
        uint64_t step = u->size - at < (1u << 20) ? u->size - at : (1u << 20);
        if (interrupt_pending()) {
            snprintf(err, errlen, "interrupted after sending %" PRIu64 " of %" PRIu64 " bytes: "
                     "the server keeps what arrived of %s; `%s` continues", at, u->size,
                     u->shown, transfer_hint("put", file, name, hint, sizeof hint));
            rc = EXIT_INTERRUPTED;
        } else if (send_file(sock, u->fd, at, step) < 0) {
            if (errno == EIO)
                snprintf(err, errlen, "%s shrank while being sent", u->file_shown);
            else if (errno == EPIPE || errno == ECONNRESET)
                snprintf(err, errlen, "the server closed the connection after %" PRIu64 " of %"
                         PRIu64 " bytes", at, u->size);
            else
                snprintf(err, errlen, "sending %s: %s", u->file_shown, strerror(errno));
            rc = errno == EIO ? EXIT_LOCAL : EXIT_CONNECTION;
        } else {
            at += step;
            progress_draw(&u->bar, at, 0, u->bar_to);
        }
    }
    interrupt_catch(0);
    return rc;
}

int upload_finish(struct upload *u, char *hex, char *err, size_t errlen)
{
    char why[256];

    u->hashing = 0;
    if (file_hash_finish(&u->hash, hex, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", u->file_shown, why);
        return EXIT_LOCAL;
    }
    progress_draw(&u->bar, u->size, 1, u->bar_to);
    return EXIT_OK;
}

void upload_close(struct upload *u)
{
    if (u->hashing)
        file_hash_cancel(&u->hash);
    u->hashing = 0;
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}

int transfer_print_listing(const char *text, size_t len, FILE *out, char *err, size_t errlen)
{
    char shown[FT_SHOWN_MAX];
    cJSON *array = cJSON_ParseWithLength(text, len);
    int rc = 0;

    if (!cJSON_IsArray(array)) {
        snprintf(err, errlen, "the listing is not a JSON array");
        rc = -1;
    }
    for (const cJSON *item = rc == 0 ? array->child : NULL; item; item = item->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(item, "size");
        if (!cJSON_IsString(name) || !cJSON_IsNumber(bytes) || bytes->valuedouble < 0) {
            snprintf(err, errlen, "a listing entry is not {\"name\": ..., \"size\": ...}");
            rc = -1;
            break;
        }
        fsroot_show_name(name->valuestring, strlen(name->valuestring), shown, sizeof shown);
        fprintf(out, "%12.0f  %s\n", bytes->valuedouble, shown);
    }
    cJSON_Delete(array);
    return rc;
}

void transfer_print_stat(const struct ft_msg *m, const char *name, FILE *out)
{
    char shown[FT_SHOWN_MAX];

    fsroot_show_name(name, strlen(name), shown, sizeof shown);
    if (m->exists)
        fprintf(out, "%s: %" PRIu64 " bytes", shown, m->file_size);
    else
        fprintf(out, "%s: no such file", shown);
    if (m->partial_size)
        fprintf(out, "; an interrupted upload kept %" PRIu64 " bytes (put --resume goes on)",
                m->partial_size);
    fprintf(out, "\n");
    fflush(out);
}

const char *transfer_hint(const char *word, const char *a, const char *b, char *out,
                         size_t outlen)
{
    char shown[FT_SHOWN_MAX], quoted[2][FT_SHOWN_MAX + 8] = { "", "" };
    const char *args[2] = { a, b };

    for (int i = 0; i < 2 && args[i]; i++) {
        fsroot_show_name(args[i], strlen(args[i]), shown, sizeof shown);
        words_quote(shown, quoted[i], sizeof quoted[i]);
    }
    snprintf(out, outlen, "%s --resume %s%s%s", word, quoted[0], b ? " " : "", quoted[1]);
    return out;
}

const char *transfer_resumed_at(uint64_t offset, char *out, size_t outlen)
{
    if (offset == 0)
        return "";
    snprintf(out, outlen, " (resumed at %" PRIu64 " bytes)", offset);
    return out;
}
