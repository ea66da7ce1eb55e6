/* ftserve.c - the stage 5 server's file operations (see ftserve.h). */
#define _GNU_SOURCE
#include "ftserve.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

/* Writeback of an upload starts every this many bytes, so the fsync at
 * the end has little left to do. */
#define FLUSH_EVERY (8u << 20)

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* E for errno ERR_NO from opening a name beneath the root. */
static int open_failed(const struct fsroot *root, int err_no, const char *name,
                       const char *shown, struct ft_error *e)
{
    char what[400], dir[FSROOT_NAME_MAX + 1], dir_shown[FT_SHOWN_MAX];
    int is_there;

    fsroot_describe_error(err_no, shown, root->beneath, what, sizeof what);
    switch (err_no) {
    case ENOENT:
    case ENOTDIR:
        /* Name the directory that is missing: "sub/y" alone does not say
         * whether y or sub is. */
        if (fsroot_missing_dir(root, name, dir, sizeof dir, &is_there) == 0 && dir[0]) {
            fsroot_show_name(dir, strlen(dir), dir_shown, sizeof dir_shown);
            if (is_there)
                return ft_fail(e, FT_E_NOT_FOUND, "\"%s\": \"%s\" is not a directory", shown,
                               dir_shown);
            return ft_fail(e, FT_E_NOT_FOUND, "\"%s\": the directory \"%s\" does not exist",
                           shown, dir_shown);
        }
        return ft_fail(e, FT_E_NOT_FOUND, "%s", what);
    case EXDEV:
    case ELOOP:
        return ft_fail(e, FT_E_BAD_NAME, "%s", what);
    default:
        return ft_fail(e, FT_E_IO, "%s", what);
    }
}

/* ---- get --------------------------------------------------------------- */

/* The memo of digests (ftserve.h): a ring of the last files hashed. The
 * thread model's threads share it. */
struct memo_entry {
    int used;
    struct ft_file_key key;
    char hex[DIGEST_HEX_MAX];
};
static struct memo_entry memo[FT_DIGEST_MEMO];
static unsigned memo_next;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

static void file_key(const struct stat *st, struct ft_file_key *k)
{
    memset(k, 0, sizeof *k);
    k->dev = (uint64_t)st->st_dev;
    k->ino = (uint64_t)st->st_ino;
    k->size = (uint64_t)st->st_size;
    k->mtime_s = (int64_t)st->st_mtim.tv_sec;
    k->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
    k->ctime_s = (int64_t)st->st_ctim.tv_sec;
    k->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

static int same_key(const struct ft_file_key *a, const struct ft_file_key *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
           a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

/* 1 and HEX filled when KEY's digest is remembered. */
static int memo_find(const struct ft_file_key *key, char hex[DIGEST_HEX_MAX])
{
    int found = 0;

    pthread_mutex_lock(&memo_lock);
    for (unsigned i = 0; i < FT_DIGEST_MEMO && !found; i++) {
        if (memo[i].used && same_key(&memo[i].key, key)) {
            memcpy(hex, memo[i].hex, DIGEST_HEX_MAX);
            found = 1;
        }
    }
    pthread_mutex_unlock(&memo_lock);
    return found;
}

/* Remembers HEX for KEY (replacing what an older key of the file said). */
static void memo_keep(const struct ft_file_key *key, const char hex[DIGEST_HEX_MAX])
{
    pthread_mutex_lock(&memo_lock);
    unsigned at = memo_next;
    for (unsigned i = 0; i < FT_DIGEST_MEMO; i++) {
        if (memo[i].used && memo[i].key.dev == key->dev && memo[i].key.ino == key->ino) {
            at = i;
            break;
        }
    }
    if (at == memo_next)
        memo_next = (memo_next + 1) % FT_DIGEST_MEMO;
    memo[at].used = 1;
    memo[at].key = *key;
    memcpy(memo[at].hex, hex, DIGEST_HEX_MAX);
    memo[at].hex[DIGEST_HEX_MAX - 1] = '\0';
    pthread_mutex_unlock(&memo_lock);
}

/* How old a file's last change must be before its digest is kept:
 * process-wide, as the memo is. */
static unsigned long memo_settle_ms = FT_MEMO_SETTLE_MS;

int ft_memo_settle_from_env(char *err, size_t errlen)
{
    const char *env = getenv(FT_MEMO_SETTLE_ENV);
    char why[200];

    if (!env || !*env)
        return 0;
    if (duration_parse(env, FT_MEMO_SETTLE_MIN_MS, DURATION_S(86400), &memo_settle_ms,
                       why, sizeof why) < 0) {
        snprintf(err, errlen, FT_MEMO_SETTLE_ENV ": %s", why);
        return -1;
    }
    return 0;
}

/* CLOCK_REALTIME, the clock of file times, in ns. */
static int64_t realtime_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

int ft_download_start(const struct fsroot *root, const struct ft_msg *req, int threaded,
                      struct ft_download *dl, struct ft_error *e)
{
    struct stat st;
    char err[256];

    memset(dl, 0, sizeof *dl);
    fsroot_show_name(req->name, strlen(req->name), dl->shown, sizeof dl->shown);
    /* O_NONBLOCK: opening a FIFO planted in the root must not hang. */
    dl->fd = fsroot_open_file(root, req->name, O_RDONLY | O_NONBLOCK);
    if (dl->fd < 0)
        return open_failed(root, errno, req->name, dl->shown, e);
    if (fstat(dl->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close_fd(&dl->fd);
        return ft_fail(e, FT_E_NOT_FILE, "\"%s\" is not a regular file", dl->shown);
    }
    dl->opened_ns = realtime_ns();
    file_key(&st, &dl->key);
    dl->file_size = (uint64_t)st.st_size;
    dl->offset = req->offset;
    if (dl->offset > dl->file_size) {
        close_fd(&dl->fd);
        return ft_fail(e, FT_E_CHANGED, "\"%s\" has %" PRIu64 " bytes, fewer than the %" PRIu64
                       " you have: it changed", dl->shown, dl->file_size, dl->offset);
    }
    if (req->prefix_sha256)
        snprintf(dl->prefix_wanted, sizeof dl->prefix_wanted, "%s", req->prefix_sha256);
    dl->remembered = memo_find(&dl->key, dl->hex);
    /* A remembered digest spares the hash of the whole file, not the check
     * of the part a resuming client has. */
    if (dl->remembered && dl->offset == 0) {
        dl->checked = 1;
        return 0;
    }
    /* Hashing stops at the offset until ft_download_check has compared. */
    if (file_hash_start(&dl->hash, dl->fd, dl->offset, threaded, err, sizeof err) < 0) {
        close_fd(&dl->fd);
        return ft_fail(e, FT_E_IO, "%s", err);
    }
    dl->hashing = 1;
    return 0;
}

int ft_download_ready(struct ft_download *dl, int *wake_fd)
{
    if (!dl->hashing)
        return 1;
    return file_hash_ready(&dl->hash, dl->checked ? dl->file_size : dl->offset, wake_fd);
}

int ft_download_check(struct ft_download *dl, struct ft_error *e)
{
    char err[256], prefix[DIGEST_HEX_MAX];

    if (dl->checked)
        return 0;
    dl->checked = 1;
    if (dl->offset > 0) {
        if (file_hash_peek(&dl->hash, dl->offset, prefix, err, sizeof err) < 0) {
            ft_download_close(dl);
            return ft_fail(e, FT_E_IO, "\"%s\": %s", dl->shown, err);
        }
        if (strcasecmp(prefix, dl->prefix_wanted) != 0) {
            ft_download_close(dl);
            return ft_fail(e, FT_E_CHANGED, "the first %" PRIu64 " bytes of \"%s\" are not the "
                           "ones you have (SHA-256 %.12s..., yours %.12s...): it changed; "
                           "download it again from the start", dl->offset, dl->shown,
                           prefix, dl->prefix_wanted);
        }
    }
    if (dl->remembered) {
        file_hash_cancel(&dl->hash);
        dl->hashing = 0;
        return 0;
    }
    file_hash_advance(&dl->hash, dl->file_size);
    return 0;
}

int ft_download_open(const struct fsroot *root, const struct ft_msg *req, int threaded,
                     struct ft_download *dl, struct ft_error *e)
{
    if (ft_download_start(root, req, threaded, dl, e) < 0)
        return -1;
    return ft_download_check(dl, e);
}

/* 1 when the file behind DL's descriptor still has the key it was opened with. */
static int download_unchanged(const struct ft_download *dl)
{
    struct stat st;
    struct ft_file_key now;

    if (fstat(dl->fd, &st) < 0)
        return 0;
    file_key(&st, &now);
    return same_key(&now, &dl->key);
}

int ft_download_finish(struct ft_download *dl, char hex[DIGEST_HEX_MAX], struct ft_error *e)
{
    char err[256];
    int rc = 0, unchanged;

    if (dl->hashing) {
        rc = file_hash_finish(&dl->hash, hex, err, sizeof err);
        dl->hashing = 0;
    } else {
        memcpy(hex, dl->hex, DIGEST_HEX_MAX);
    }
    /* A round's file was checked when it was read (and has no fd). */
    unchanged = rc == 0 && (dl->body || download_unchanged(dl));
    close_fd(&dl->fd);
    free(dl->body_own);
    dl->body = dl->body_own = NULL;
    if (rc < 0)
        return ft_fail(e, FT_E_IO, "\"%s\": %s", dl->shown, err);
    if (dl->remembered && !unchanged)
        return ft_fail(e, FT_E_CHANGED, "\"%s\" changed while it was sent", dl->shown);
    /* Settled and unchanged through the hash: worth remembering. */
    int64_t changed_ns = dl->key.ctime_s * 1000000000 + dl->key.ctime_ns;
    if (!dl->remembered && unchanged &&
        changed_ns + (int64_t)memo_settle_ms * 1000000 < dl->opened_ns)
        memo_keep(&dl->key, hex);
    return 0;
}

void ft_download_close(struct ft_download *dl)
{
    if (dl->hashing)
        file_hash_cancel(&dl->hash);
    dl->hashing = 0;
    close_fd(&dl->fd);
    free(dl->body_own);
    dl->body = dl->body_own = NULL;
}

int ft_download_hash_body(struct ft_download *dl, const void *body, size_t len)
{
    struct digest d;

    if (digest_init(&d, DIGEST_SHA256) < 0)
        return -1;
    digest_update(&d, body, len);
    digest_final_hex(&d, dl->hex);
    digest_free(&d);
    if (dl->hashing)
        file_hash_cancel(&dl->hash);
    dl->hashing = 0;
    return 0;
}

/* ---- a round's files (ftserve.h) ------------------------------------------ */

void ft_round_begin(struct ft_round *r)
{
    r->number++;
}

void ft_round_free(struct ft_round *r)
{
    for (unsigned i = 0; i < FT_ROUND_FILES; i++) {
        free(r->files[i].name);
        free(r->files[i].bytes);
        free(r->files[i].reply);
    }
    memset(r, 0, sizeof *r);
}

/* Reads DL's whole file into DL->body and checks that its key did not
 * move meanwhile (a write in between would make the bytes and the
 * remembered digest disagree), then closes the fd. Returns 0, or -1 with
 * DL as it was (the file is then sent as any other). */
static int read_whole(struct ft_download *dl)
{
    unsigned char *body = malloc((size_t)dl->file_size);

    if (!body)
        return -1;
    if (fileio_pread_all(dl->fd, body, (size_t)dl->file_size, 0) < 0 ||
        !download_unchanged(dl)) {
        free(body);
        return -1;
    }
    dl->body = dl->body_own = body;
    close_fd(&dl->fd);
    return 0;
}

/* Keeps DL's file (its body read) for the rest of round R under NAME,
 * taking over DL's copy: in a free entry (one of an earlier round), else
 * in the next in turn. */
static void round_keep(struct ft_round *r, const char *name, struct ft_download *dl)
{
    struct ft_round_file *f = NULL;
    char *name_copy = strdup(name);

    if (!name_copy)
        return;
    for (unsigned i = 0; i < FT_ROUND_FILES && !f; i++)
        if (r->files[i].round != r->number)
            f = &r->files[i];
    if (!f) {
        f = &r->files[r->next];
        r->next = (r->next + 1) % FT_ROUND_FILES;
    }
    free(f->name);
    free(f->bytes);
    free(f->reply);
    f->reply = NULL;
    f->reply_len = 0;
    f->round = r->number;
    f->name = name_copy;
    f->key = dl->key;
    memcpy(f->hex, dl->hex, DIGEST_HEX_MAX);
    f->size = dl->file_size;
    f->bytes = dl->body_own;
    dl->body_own = NULL;
    dl->round_file = f;
}

void ft_round_keep_reply(struct ft_round_file *f, const void *bytes, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);

    if (!copy)
        return;
    memcpy(copy, bytes, len);
    free(f->reply);
    f->reply = copy;
    f->reply_len = len;
}

int ft_download_start_round(const struct fsroot *root, const struct ft_msg *req,
                            struct ft_round *r, struct ft_download *dl, struct ft_error *e)
{
    for (unsigned i = 0; i < FT_ROUND_FILES && req->offset == 0; i++) {
        struct ft_round_file *f = &r->files[i];
        if (f->round != r->number || !f->name || strcmp(f->name, req->name) != 0)
            continue;
        memset(dl, 0, sizeof *dl);
        dl->body = f->bytes;
        fsroot_show_name(req->name, strlen(req->name), dl->shown, sizeof dl->shown);
        dl->fd = -1;
        dl->file_size = f->size;
        dl->key = f->key;
        memcpy(dl->hex, f->hex, DIGEST_HEX_MAX);
        dl->remembered = 1;
        dl->checked = 1;
        dl->round_file = f;
        return 0;
    }
    if (ft_download_start(root, req, 1, dl, e) < 0)
        return -1;
    if (dl->remembered && dl->offset == 0 && dl->file_size > 0 &&
        dl->file_size <= FT_ROUND_FILE_MAX && read_whole(dl) == 0)
        round_keep(r, req->name, dl);
    return 0;
}

/* ---- put --------------------------------------------------------------- */

static int fail_upload(struct ft_upload *up, struct ft_error *e, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Closes what begin opened (the partial stays as it is) and fills E. */
static int fail_upload(struct ft_upload *up, struct ft_error *e, const char *code,
                       const char *fmt, ...)
{
    va_list ap;

    close_fd(&up->fd);           /* also releases the lock */
    close_fd(&up->dirfd);
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* The test-only knob NIANBAO_TEST_LOCK_DELAY_MS (ftserve.h). */
static void test_lock_delay(void)
{
    const char *text = getenv("NIANBAO_TEST_LOCK_DELAY_MS");
    long ms = text ? atol(text) : 0;

    if (ms > 0) {
        struct timespec pause = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
            ;
    }
}

/* Removes the partial file, if its name still leads to the file UP holds
 * (and locks: no other upload renames or removes it meanwhile). */
static void remove_partial(struct ft_upload *up)
{
    struct stat held, named;

    if (up->fd >= 0 && fstat(up->fd, &held) == 0 &&
        fstatat(up->dirfd, up->partial, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino)
        unlinkat(up->dirfd, up->partial, 0);
}

/* Opens the partial file and locks it, and makes sure it is ours to write:
 * the file its name leads to now, a regular file, with no other name.
 * Returns 0, or -1 with E filled (everything closed). */
static int open_partial(struct ft_upload *up, uint64_t offset, struct ft_error *e)
{
    struct stat held, named;
    int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (offset == 0 ? O_CREAT : 0);

    for (int attempt = 1;; attempt++) {
        up->fd = openat(up->dirfd, up->partial, flags, 0666);
        if (up->fd < 0 && errno == ENOENT)
            return fail_upload(up, e, FT_E_CHANGED, "no interrupted upload of \"%s\" is kept "
                               "here: nothing to resume at %" PRIu64 "; upload it from the start",
                               up->shown, offset);
        if (up->fd < 0)
            return fail_upload(up, e, FT_E_IO, "cannot open the partial file of \"%s\": %s",
                               up->shown, strerror(errno));
        test_lock_delay();
        /* Two uploads of one name at once (stage 6) would write one partial. */
        if (flock(up->fd, LOCK_EX | LOCK_NB) < 0)
            return fail_upload(up, e, FT_E_LOCKED, "\"%s\" is being uploaded by another client "
                               "right now", up->shown);
        if (fstat(up->fd, &held) < 0)
            return fail_upload(up, e, FT_E_IO, "the partial file of \"%s\": %s", up->shown,
                               strerror(errno));
        /* Between the open and the lock, the upload that held the lock may
         * have finished (its partial renamed to the name: writing would
         * change the stored file) or given up (removed it). The name must
         * still lead to the file locked; if not, open it again. */
        if (fstatat(up->dirfd, up->partial, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            named.st_dev == held.st_dev && named.st_ino == held.st_ino)
            break;
        close_fd(&up->fd);
        if (attempt == 3)
            return fail_upload(up, e, FT_E_LOCKED, "\"%s\" is being uploaded by other clients "
                               "right now (its partial file keeps changing)", up->shown);
    }
    if (!S_ISREG(held.st_mode))
        return fail_upload(up, e, FT_E_IO, "the partial file of \"%s\" is not a regular file; "
                           "nothing was written", up->shown);
    /* A hard link planted there would send the upload into a file
     * elsewhere, outside the root even. */
    if (held.st_nlink != 1)
        return fail_upload(up, e, FT_E_IO, "the partial file of \"%s\" has %ju names (a hard "
                           "link): writing it would change another file, so nothing was "
                           "written; remove it", up->shown, (uintmax_t)held.st_nlink);
    if ((uint64_t)held.st_size < offset)
        return fail_upload(up, e, FT_E_CHANGED, "only %" PRIu64 " bytes of \"%s\" are kept "
                           "here, not %" PRIu64 ": resume from %" PRIu64, (uint64_t)held.st_size,
                           up->shown, offset, (uint64_t)held.st_size);
    return 0;
}

int ft_upload_start(const struct fsroot *root, const struct ft_msg *req, uint64_t max_upload,
                    int threaded, struct ft_upload *up, struct ft_error *e)
{
    const char *last;
    struct stat st;
    char err[256];

    memset(up, 0, sizeof *up);
    up->dirfd = up->fd = -1;
    up->file_size = req->file_size;
    up->offset = up->written = up->flushed = req->offset;
    up->overwrite = req->overwrite;
    fsroot_show_name(req->name, strlen(req->name), up->shown, sizeof up->shown);
    if (req->prefix_sha256)
        snprintf(up->prefix_wanted, sizeof up->prefix_wanted, "%s", req->prefix_sha256);
    /* Nothing is created for a refused upload. */
    if (root->read_only)
        return ft_fail(e, FT_E_READ_ONLY, "\"%s\": this server's files are read-only "
                       "(--read-only): put is refused", up->shown);
    if (req->file_size > max_upload)
        return ft_fail(e, FT_E_TOO_LARGE, "\"%s\" is %" PRIu64 " bytes; this server takes at "
                       "most %" PRIu64 " (--max-upload)", up->shown, req->file_size, max_upload);
    up->dirfd = fsroot_open_parent(root, req->name, &last);
    if (up->dirfd < 0)
        return open_failed(root, errno, req->name, up->shown, e);
    snprintf(up->last, sizeof up->last, "%s", last);
    fsroot_partial_name(up->last, up->partial, sizeof up->partial);

    /* The name itself is never followed: a symlink there is replaced by
     * the rename, its target untouched. */
    if (fstatat(up->dirfd, up->last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            return fail_upload(up, e, FT_E_NOT_FILE, "\"%s\" is a directory", up->shown);
        if (!up->overwrite)
            return fail_upload(up, e, FT_E_EXISTS, "\"%s\" exists (%" PRIu64 " bytes); ask "
                               "for overwrite to replace it", up->shown, (uint64_t)st.st_size);
    } else if (errno != ENOENT) {
        return fail_upload(up, e, FT_E_IO, "\"%s\": %s", up->shown, strerror(errno));
    }

    if (open_partial(up, req->offset, e) < 0)
        return -1;
    /* Hashing stops at the offset until ft_upload_check has compared. */
    if (file_hash_start(&up->hash, up->fd, req->offset, threaded, err, sizeof err) < 0) {
        if (req->offset == 0)
            remove_partial(up);
        return fail_upload(up, e, FT_E_IO, "%s", err);
    }
    return 0;
}

int ft_upload_ready(struct ft_upload *up, int *wake_fd)
{
    if (up->fd < 0)
        return 1;
    return file_hash_ready(&up->hash, up->checked ? up->written : up->offset, wake_fd);
}

int ft_upload_check(struct ft_upload *up, struct ft_error *e)
{
    char err[256], prefix[DIGEST_HEX_MAX];

    if (up->checked)
        return 0;
    up->checked = 1;
    if (up->offset > 0) {
        if (file_hash_peek(&up->hash, up->offset, prefix, err, sizeof err) < 0) {
            file_hash_cancel(&up->hash);
            return fail_upload(up, e, FT_E_IO, "\"%s\": %s", up->shown, err);
        }
        if (strcasecmp(prefix, up->prefix_wanted) != 0) {
            file_hash_cancel(&up->hash);
            return fail_upload(up, e, FT_E_CHANGED, "the %" PRIu64 " bytes of \"%s\" kept here "
                               "are not the first %" PRIu64 " of your file (SHA-256 %.12s..., "
                               "yours %.12s...): it changed; upload it from the start",
                               up->offset, up->shown, up->offset, prefix, up->prefix_wanted);
        }
    }
    if (ftruncate(up->fd, (off_t)up->offset) < 0) {
        file_hash_cancel(&up->hash);
        return fail_upload(up, e, FT_E_IO, "cannot cut the partial file of \"%s\": %s",
                           up->shown, strerror(errno));
    }
    return 0;
}

int ft_upload_begin(const struct fsroot *root, const struct ft_msg *req, uint64_t max_upload,
                    int threaded, struct ft_upload *up, struct ft_error *e)
{
    if (ft_upload_start(root, req, max_upload, threaded, up, e) < 0)
        return -1;
    return ft_upload_check(up, e);
}

/* A write failed: the partial file goes (a full disk must not stay full
 * of an upload no client can name), and the rest of the body is dropped. */
static void discard_upload(struct ft_upload *up)
{
    file_hash_cancel(&up->hash);
    remove_partial(up);
    close_fd(&up->fd);
}

int ft_upload_write(struct ft_upload *up, const void *buf, size_t len, struct ft_error *e)
{
    const unsigned char *p = buf;

    if (up->fd < 0)
        return ft_fail(e, FT_E_IO, "\"%s\": the upload was given up", up->shown);
    if (len > up->file_size - up->written)
        return ft_fail(e, FT_E_BAD_FIELD, "more data than the %" PRIu64 " bytes announced",
                       up->file_size);
    while (len > 0) {
        ssize_t n = pwrite(up->fd, p, len, (off_t)up->written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ft_fail(e, FT_E_IO, "writing \"%s\" at byte %" PRIu64 ": %s; nothing was kept",
                    up->shown, up->written, strerror(errno));
            discard_upload(up);
            return -1;
        }
        p += n;
        len -= (size_t)n;
        up->written += (uint64_t)n;
    }
    file_hash_advance(&up->hash, up->written);
    if (up->written - up->flushed >= FLUSH_EVERY) {
        /* Start writing back now; the fsync at the end then waits less. */
        sync_file_range(up->fd, (off_t)up->flushed, (off_t)(up->written - up->flushed),
                        SYNC_FILE_RANGE_WRITE);
        up->flushed = up->written;
    }
    return 0;
}

/* Renames the partial to the name; without overwrite, never over a file
 * that appeared meanwhile. Returns 0 or -1 (errno). */
static int rename_into_place(struct ft_upload *up)
{
    if (up->overwrite)
        return renameat(up->dirfd, up->partial, up->dirfd, up->last);
    if (renameat2(up->dirfd, up->partial, up->dirfd, up->last, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* A file system without RENAME_NOREPLACE: link refuses an existing name. */
    if (linkat(up->dirfd, up->partial, up->dirfd, up->last, 0) < 0)
        return -1;
    unlinkat(up->dirfd, up->partial, 0);
    return 0;
}

int ft_upload_end(struct ft_upload *up, const char *claimed, char hex[DIGEST_HEX_MAX],
                  struct ft_error *e)
{
    char err[256];
    int rc = -1, hashing = up->fd >= 0, keep = 1;   /* keep: the partial stays for a resume */

    hex[0] = '\0';
    if (up->fd < 0) {
        ft_fail(e, FT_E_IO, "\"%s\": the upload was given up", up->shown);
        goto end;
    }
    if (up->written != up->file_size) {
        ft_fail(e, FT_E_BAD_FIELD, "\"end\" after %" PRIu64 " of the %" PRIu64 " bytes announced",
                up->written, up->file_size);
        goto end;
    }
    if (fdatasync(up->fd) < 0) {
        ft_fail(e, FT_E_IO, "cannot flush \"%s\" to disk: %s; nothing was kept", up->shown,
                strerror(errno));
        hashing = 0;
        discard_upload(up);
        goto end;
    }
    hashing = 0;
    if (file_hash_finish(&up->hash, hex, err, sizeof err) < 0) {
        ft_fail(e, FT_E_IO, "\"%s\": %s; nothing was kept", up->shown, err);
        remove_partial(up);
        close_fd(&up->fd);
        goto end;
    }
    if (strcasecmp(hex, claimed) != 0) {
        /* The bytes are not what the client has: keep nothing of them. */
        remove_partial(up);
        keep = 0;
        ft_fail(e, FT_E_DIGEST_MISMATCH, "the %" PRIu64 " bytes received for \"%s\" have SHA-256 "
                "%s, not %s: nothing was kept", up->written, up->shown, hex, claimed);
        goto end;
    }
    if (rename_into_place(up) < 0) {
        if (errno == EEXIST)
            ft_fail(e, FT_E_EXISTS, "\"%s\" appeared during the upload; ask for overwrite to "
                    "replace it (the upload is kept for a resume)", up->shown);
        else
            ft_fail(e, FT_E_IO, "cannot rename the upload to \"%s\": %s", up->shown,
                    strerror(errno));
        goto end;
    }
    /* The rename itself must reach the disk too. */
    keep = 0;
    int dir = openat(up->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    rc = 0;
end:
    if (hashing)
        file_hash_cancel(&up->hash);
    if (keep && up->fd >= 0)
        fdatasync(up->fd);
    close_fd(&up->fd);
    close_fd(&up->dirfd);
    return rc;
}

void ft_upload_abort(struct ft_upload *up)
{
    if (up->fd >= 0) {
        file_hash_cancel(&up->hash);
        /* An empty partial is nothing to resume: it would only pile up. */
        if (up->written == 0)
            remove_partial(up);
        else
            fdatasync(up->fd);
    }
    close_fd(&up->fd);
    close_fd(&up->dirfd);
}

/* ---- stat and list ----------------------------------------------------- */

int ft_stat(const struct fsroot *root, const struct ft_msg *req, struct ft_stat_result *st,
            struct ft_error *e)
{
    char shown[FT_SHOWN_MAX], partial[FSROOT_COMPONENT_MAX + sizeof FSROOT_PARTIAL_PREFIX];
    const char *last;
    struct stat info;

    memset(st, 0, sizeof *st);
    fsroot_show_name(req->name, strlen(req->name), shown, sizeof shown);
    int fd = fsroot_open_file(root, req->name, O_PATH);
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
        return open_failed(root, errno, req->name, shown, e);
    if (fd >= 0) {
        int ok = fstat(fd, &info) == 0;
        close(fd);
        if (!ok || !S_ISREG(info.st_mode))
            return ft_fail(e, FT_E_NOT_FILE, "\"%s\" is not a regular file", shown);
        st->exists = 1;
        st->file_size = (uint64_t)info.st_size;
    }
    int dir = fsroot_open_parent(root, req->name, &last);
    if (dir >= 0) {
        fsroot_partial_name(last, partial, sizeof partial);
        if (fstatat(dir, partial, &info, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(info.st_mode) &&
            info.st_nlink == 1)
            st->partial_size = (uint64_t)info.st_size;
        close(dir);
    }
    return 0;
}

struct list_entry {
    char *name;
    uint64_t size;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct list_entry *)a)->name, ((const struct list_entry *)b)->name);
}

int ft_list(const struct fsroot *root, const struct ft_msg *req, char **body,
            size_t *body_len, uint64_t *count, uint64_t *skipped, int *truncated,
            struct ft_error *e)
{
    struct list_entry *entries = NULL;
    size_t used = 0, cap = 0, name_bytes = 0;
    cJSON *array = NULL;
    char why[160];
    int rc = -1;

    *body = NULL;
    *body_len = 0;
    *count = *skipped = 0;
    *truncated = 0;
    int at = root->dirfd;
    if (req->name) {
        /* A directory beneath the root, opened as get opens a file. */
        char shown[FT_SHOWN_MAX];
        struct stat st;
        fsroot_show_name(req->name, strlen(req->name), shown, sizeof shown);
        at = fsroot_open_file(root, req->name, O_PATH);
        if (at < 0)
            return open_failed(root, errno, req->name, shown, e);
        if (fstat(at, &st) < 0 || !S_ISDIR(st.st_mode)) {
            close(at);
            return ft_fail(e, FT_E_NOT_FILE, "\"%s\" is not a directory: list lists a "
                           "directory's files", shown);
        }
    }
    int fd = openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (at != root->dirfd)
        close(at);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        ft_fail(e, FT_E_IO, "cannot read the %s directory: %s", req->name ? "listed" : "served",
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    for (struct dirent *d; (d = readdir(dir)) != NULL;) {
        struct stat st;
        size_t len = strlen(d->d_name);
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
            strncmp(d->d_name, FSROOT_RESERVED, sizeof FSROOT_RESERVED - 1) == 0)
            continue;
        if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (fsroot_check_name(d->d_name, len, why, sizeof why) < 0) {
            (*skipped)++;       /* a name no request could name */
            continue;
        }
        if (name_bytes + len > FT_LIST_MAX) {
            *truncated = 1;
            break;
        }
        if (used == cap) {
            size_t new_cap = cap ? cap * 2 : 64;
            struct list_entry *grown = realloc(entries, new_cap * sizeof *grown);
            if (!grown)
                goto end;
            entries = grown;
            cap = new_cap;
        }
        entries[used].name = strdup(d->d_name);
        if (!entries[used].name)
            goto end;
        entries[used++].size = (uint64_t)st.st_size;
        name_bytes += len;
    }
    /* An empty root has no array at all: qsort(NULL, 0, ...) is undefined. */
    if (used > 1)
        qsort(entries, used, sizeof *entries, by_name);
    array = cJSON_CreateArray();
    if (!array)
        goto end;
    for (size_t i = 0; i < used; i++) {
        cJSON *item = cJSON_CreateObject();
        if (!item || !cJSON_AddItemToArray(array, item) ||
            !cJSON_AddStringToObject(item, "name", entries[i].name) ||
            !cJSON_AddNumberToObject(item, "size", (double)entries[i].size))
            goto end;
    }
    *body = cJSON_PrintUnformatted(array);
    if (!*body)
        goto end;
    *body_len = strlen(*body);
    *count = used;
    rc = 0;
end:
    /* Past opendir, only memory can fail. */
    if (rc < 0)
        ft_fail(e, FT_E_IO, "out of memory listing the served directory");
    for (size_t i = 0; i < used; i++)
        free(entries[i].name);
    free(entries);
    cJSON_Delete(array);
    closedir(dir);
    return rc;
}
