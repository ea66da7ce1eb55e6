/* ft.c - the stage 5 protocol's messages (see ft.h). */
#define _GNU_SOURCE
#include "ft.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fsroot.h"

/* ---- the table --------------------------------------------------------- */

enum field_id {
    F_NONE = 0, F_NAME, F_OFFSET, F_PREFIX, F_FILE_SIZE, F_OVERWRITE, F_SHA256, F_STREAM,
    F_EXIT_CODE, F_SIGNAL, F_TIMED_OUT, F_TRUNCATED, F_STDOUT_SIZE, F_STDERR_SIZE, F_EXISTS,
    F_PARTIAL_SIZE, F_COUNT, F_SKIPPED, F_CODE, F_MESSAGE, F_LAST
};

enum field_kind { K_NAME, K_UINT, K_BOOL, K_SHA256, K_STREAM, K_EXIT_CODE, K_SIGNAL, K_CODE, K_TEXT };

static const struct {
    const char *key;
    enum field_kind kind;
} fields[F_LAST] = {
    [F_NAME] = { "name", K_NAME },             [F_OFFSET] = { "offset", K_UINT },
    [F_PREFIX] = { "prefix_sha256", K_SHA256 }, [F_FILE_SIZE] = { "file_size", K_UINT },
    [F_OVERWRITE] = { "overwrite", K_BOOL },   [F_SHA256] = { "sha256", K_SHA256 },
    [F_STREAM] = { "stream", K_STREAM },       [F_EXIT_CODE] = { "exit_code", K_EXIT_CODE },
    [F_SIGNAL] = { "signal", K_SIGNAL },       [F_TIMED_OUT] = { "timed_out", K_BOOL },
    [F_TRUNCATED] = { "truncated", K_BOOL },   [F_STDOUT_SIZE] = { "stdout_size", K_UINT },
    [F_STDERR_SIZE] = { "stderr_size", K_UINT }, [F_EXISTS] = { "exists", K_BOOL },
    [F_PARTIAL_SIZE] = { "partial_size", K_UINT }, [F_COUNT] = { "count", K_UINT },
    [F_SKIPPED] = { "skipped", K_UINT },       [F_CODE] = { "code", K_CODE },
    [F_MESSAGE] = { "message", K_TEXT },
};

enum body_rule {
    B_NONE,                   /* size must be 0                            */
    B_SOME,                   /* size 1 or more                            */
    B_ANY,                    /* any size                                  */
    B_FILE,                   /* size == file_size - offset                */
};

#define FIELDS_MAX 8
#define REQ(id) { id, 1 }
#define OPT(id) { id, 0 }

/* Every message of the protocol. An op not here does not exist. */
static const struct message {
    enum ft_op op;
    const char *name;
    enum ft_direction dir;
    enum body_rule body;
    struct { enum field_id id; int required; } fields[FIELDS_MAX];
} messages[] = {
    { FT_EXEC, "exec", FT_REQUEST, B_SOME, { { F_NONE, 0 } } },
    { FT_GET,  "get",  FT_REQUEST, B_NONE, { REQ(F_NAME), OPT(F_OFFSET), OPT(F_PREFIX) } },
    { FT_PUT,  "put",  FT_REQUEST, B_NONE, { REQ(F_NAME), REQ(F_FILE_SIZE), OPT(F_OFFSET),
                                             OPT(F_PREFIX), OPT(F_OVERWRITE) } },
    { FT_STAT, "stat", FT_REQUEST, B_NONE, { REQ(F_NAME) } },
    { FT_LIST, "list", FT_REQUEST, B_NONE, { OPT(F_NAME) } },
    { FT_DATA, "data", FT_UPLOAD,  B_ANY,  { { F_NONE, 0 } } },
    { FT_END,  "end",  FT_UPLOAD,  B_NONE, { REQ(F_SHA256) } },
    { FT_OUTPUT, "output", FT_REPLY, B_SOME, { REQ(F_STREAM) } },
    { FT_EXIT, "exit", FT_REPLY, B_NONE, { REQ(F_EXIT_CODE), REQ(F_SIGNAL), REQ(F_TIMED_OUT),
                                           REQ(F_TRUNCATED), REQ(F_STDOUT_SIZE),
                                           REQ(F_STDERR_SIZE), REQ(F_SHA256) } },
    { FT_FILE, "file", FT_REPLY, B_FILE, { REQ(F_NAME), REQ(F_FILE_SIZE), REQ(F_OFFSET) } },
    { FT_END,  "end",  FT_REPLY, B_NONE, { REQ(F_SHA256) } },
    { FT_READY, "ready", FT_REPLY, B_NONE, { REQ(F_OFFSET) } },
    { FT_DONE, "done", FT_REPLY, B_NONE, { REQ(F_NAME), REQ(F_FILE_SIZE), REQ(F_SHA256) } },
    { FT_STAT_REPLY, "stat", FT_REPLY, B_NONE, { REQ(F_NAME), REQ(F_EXISTS), OPT(F_FILE_SIZE),
                                                 REQ(F_PARTIAL_SIZE) } },
    { FT_LIST_REPLY, "list", FT_REPLY, B_ANY, { REQ(F_COUNT), REQ(F_SKIPPED), REQ(F_TRUNCATED) } },
    { FT_ERROR, "error", FT_REPLY, B_NONE, { REQ(F_CODE), REQ(F_MESSAGE) } },
};

#define MESSAGE_COUNT (sizeof messages / sizeof messages[0])

static const char *const direction_words[] = {
    [FT_REQUEST] = "a request", [FT_UPLOAD] = "a frame of a put (after \"ready\")",
    [FT_REPLY] = "a reply",
};

struct frame_format ft_request_format(uint32_t max_header, uint64_t max_upload,
                                      uint64_t max_command)
{
    struct frame_format format = frame_stage5;

    format.max_header = max_header;
    format.max_body = max_upload > max_command ? max_upload : max_command;
    return format;
}

const char *ft_op_name(enum ft_op op)
{
    for (size_t i = 0; i < MESSAGE_COUNT; i++)
        if (messages[i].op == op)
            return messages[i].name;
    return "?";
}

int ft_fail(struct ft_error *e, const char *code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- checking ---------------------------------------------------------- */

/* cJSON decodes "\u0000" into a NUL and the string ends there: "a\u0000b"
 * would be read as "a". A name or an op holding a NUL is refused, so the
 * raw text is searched for the escape. */
static int has_escaped_nul(const char *json, size_t len)
{
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        if (json[i] == '"') {
            in_string = !in_string;
        } else if (in_string && json[i] == '\\' && i + 1 < len) {
            if (json[i + 1] == 'u' && i + 5 < len && memcmp(json + i + 2, "0000", 4) == 0)
                return 1;
            i++;                /* the escaped character cannot end the string */
        }
    }
    return 0;
}

static void list_ops(enum ft_direction dir, char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < MESSAGE_COUNT && used < outlen; i++) {
        if (messages[i].dir != dir)
            continue;
        int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", messages[i].name);
        if (n > 0)
            used += (size_t)n;
    }
}

static void list_fields(const struct message *m, char *out, size_t outlen)
{
    size_t used = 0;

    snprintf(out, outlen, "none");
    for (int i = 0; i < FIELDS_MAX && m->fields[i].id != F_NONE && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
                         fields[m->fields[i].id].key);
        if (n > 0)
            used += (size_t)n;
    }
}

/* JSON keeps integers exact up to 2^53 - 1. */
#define EXACT_MAX ((double)FT_MAX_INTEGER)

/* ITEM as a whole number in 0..MAX. Returns 0 or -1. */
static int item_uint(const cJSON *item, double max, uint64_t *value)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double d = item->valuedouble;
    /* In range first: converting a double beyond 2^64 is undefined. */
    if (!(d >= 0 && d <= max) || d != (double)(uint64_t)d)
        return -1;
    *value = (uint64_t)d;
    return 0;
}

/* Every number of this protocol is an integer, and cJSON reads -0, 0.0
 * and 0e5 as 0: the raw text of KEY's value (in JSON, LEN bytes) tells.
 * Returns 0, or -1 with E filled. */
static int written_whole(const struct message *m, const char *key, const char *json,
                         size_t len, struct ft_error *e)
{
    const char *raw;
    size_t raw_len;

    if (frame_raw_value(json, len, key, &raw, &raw_len) == 0 &&
        !frame_plain_integer(raw, raw_len))
        return ft_fail(e, FT_E_BAD_FIELD, "%s: %s %.*s is not written as a whole number (digits "
                       "only: no sign, point or exponent)", m->name, key,
                       raw_len > 40 ? 40 : (int)raw_len, raw);
    return 0;
}

/* Checks ITEM as field ID of message M (its header's raw text JSON, LEN
 * bytes) and stores it in MSG. */
static int take_field(const struct message *m, enum field_id id, const cJSON *item,
                      const char *json, size_t len, struct ft_msg *msg, struct ft_error *e)
{
    const char *key = fields[id].key;
    char why[160], shown[300];
    uint64_t number = 0;

    switch (fields[id].kind) {
    case K_NAME:
        if (!cJSON_IsString(item))
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not a string", m->name, key);
        if (fsroot_check_name(item->valuestring, strlen(item->valuestring), why, sizeof why) < 0) {
            fsroot_show_name(item->valuestring, strlen(item->valuestring), shown, sizeof shown);
            return ft_fail(e, FT_E_BAD_NAME, "name \"%s\" is refused: it %s", shown, why);
        }
        msg->name = item->valuestring;
        return 0;
    case K_UINT:
        if (item_uint(item, EXACT_MAX, &number) < 0)
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not a whole number from 0 to 2^53-1",
                           m->name, key);
        if (written_whole(m, key, json, len, e) < 0)
            return -1;
        switch (id) {
        case F_OFFSET: msg->offset = number; break;
        case F_FILE_SIZE: msg->file_size = number; msg->has_file_size = 1; break;
        case F_STDOUT_SIZE: msg->stdout_size = number; break;
        case F_STDERR_SIZE: msg->stderr_size = number; break;
        case F_PARTIAL_SIZE: msg->partial_size = number; break;
        case F_COUNT: msg->count = number; break;
        case F_SKIPPED: msg->skipped = number; break;
        default: break;
        }
        return 0;
    case K_SIGNAL:
        if (item_uint(item, 127, &number) < 0)
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not a signal number (0..127)",
                           m->name, key);
        if (written_whole(m, key, json, len, e) < 0)
            return -1;
        msg->signal = (int)number;
        return 0;
    case K_EXIT_CODE:
        if (cJSON_IsNull(item)) {
            msg->exit_code = -1;
            return 0;
        }
        if (item_uint(item, 255, &number) < 0)
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not null or a number from 0 to 255",
                           m->name, key);
        if (written_whole(m, key, json, len, e) < 0)
            return -1;
        msg->exit_code = (int)number;
        return 0;
    case K_BOOL:
        if (!cJSON_IsBool(item))
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not true or false", m->name, key);
        switch (id) {
        case F_OVERWRITE: msg->overwrite = cJSON_IsTrue(item); break;
        case F_TIMED_OUT: msg->timed_out = cJSON_IsTrue(item); break;
        case F_TRUNCATED: msg->truncated = cJSON_IsTrue(item); break;
        case F_EXISTS: msg->exists = cJSON_IsTrue(item); break;
        default: break;
        }
        return 0;
    case K_SHA256:
        if (!cJSON_IsString(item) || !digest_is_hex(DIGEST_SHA256, item->valuestring))
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not a SHA-256 (64 hex digits)",
                           m->name, key);
        if (id == F_PREFIX)
            msg->prefix_sha256 = item->valuestring;
        else
            msg->sha256 = item->valuestring;
        return 0;
    case K_STREAM:
        if (!cJSON_IsString(item) || (strcmp(item->valuestring, "stdout") != 0 &&
                                      strcmp(item->valuestring, "stderr") != 0))
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not \"stdout\" or \"stderr\"",
                           m->name, key);
        msg->stream = strcmp(item->valuestring, "stdout") == 0 ? 1 : 2;
        return 0;
    case K_CODE:
        if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
            strlen(item->valuestring) > 32 ||
            strspn(item->valuestring, "abcdefghijklmnopqrstuvwxyz_") != strlen(item->valuestring))
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not an error code (a-z and _)",
                           m->name, key);
        msg->code = item->valuestring;
        return 0;
    case K_TEXT:
        if (!cJSON_IsString(item))
            return ft_fail(e, FT_E_BAD_FIELD, "%s: %s is not a string", m->name, key);
        msg->message = item->valuestring;
        return 0;
    }
    return 0;
}

/* What no table can say: fields that depend on each other. */
static int check_together(const struct message *m, const struct ft_msg *msg, struct ft_error *e)
{
    switch (m->op) {
    case FT_GET:
    case FT_PUT:
        if (msg->offset > 0 && !msg->prefix_sha256)
            return ft_fail(e, FT_E_BAD_FIELD, "%s: offset %" PRIu64 " needs prefix_sha256 (the "
                           "SHA-256 of the first %" PRIu64 " bytes, to prove they are the same)",
                           m->name, msg->offset, msg->offset);
        if (msg->offset == 0 && msg->prefix_sha256)
            return ft_fail(e, FT_E_BAD_FIELD, "%s: prefix_sha256 goes with an offset above 0",
                           m->name);
        if (m->op == FT_PUT && msg->offset > msg->file_size)
            return ft_fail(e, FT_E_BAD_FIELD, "put: offset %" PRIu64 " is past file_size %" PRIu64,
                           msg->offset, msg->file_size);
        break;
    case FT_FILE:
        if (msg->offset > msg->file_size || msg->size != msg->file_size - msg->offset)
            return ft_fail(e, FT_E_BAD_FIELD, "file: size %" PRIu64 " is not file_size %" PRIu64
                           " minus offset %" PRIu64, msg->size, msg->file_size, msg->offset);
        break;
    case FT_OUTPUT:
        if (msg->size > FT_OUTPUT_MAX)
            return ft_fail(e, FT_E_BAD_FIELD, "output: a body of %" PRIu64 " bytes is over %u",
                           msg->size, FT_OUTPUT_MAX);
        break;
    case FT_STAT_REPLY:
        if (msg->exists != msg->has_file_size)
            return ft_fail(e, FT_E_BAD_FIELD, "stat: file_size goes with exists, and only then");
        break;
    default:
        break;
    }
    return 0;
}

int ft_parse(enum ft_direction dir, const cJSON *header, const char *json, size_t len,
             uint64_t body_size, struct ft_msg *msg, struct ft_error *e)
{
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(header, "op");
    const struct message *m = NULL, *elsewhere = NULL;
    char shown[160], names[200];

    memset(msg, 0, sizeof *msg);
    msg->size = body_size;
    if (has_escaped_nul(json, len))
        return ft_fail(e, FT_E_BAD_FIELD, "a string in the header holds \\u0000 (NUL), which "
                       "no field of this protocol may hold");
    if (!op)
        return ft_fail(e, FT_E_BAD_FIELD, "the header has no \"op\"");
    if (!cJSON_IsString(op))
        return ft_fail(e, FT_E_BAD_FIELD, "\"op\" is not a string");
    for (size_t i = 0; i < MESSAGE_COUNT; i++) {
        if (strcmp(messages[i].name, op->valuestring) != 0)
            continue;
        if (messages[i].dir == dir)
            m = &messages[i];
        else if (!elsewhere)
            elsewhere = &messages[i];
    }
    fsroot_show_name(op->valuestring, strlen(op->valuestring), shown, sizeof shown);
    if (!m && elsewhere)
        return ft_fail(e, FT_E_OUT_OF_ORDER, "\"%s\" is not %s: it is %s", shown,
                       direction_words[dir], direction_words[elsewhere->dir]);
    if (!m) {
        list_ops(dir, names, sizeof names);
        return ft_fail(e, FT_E_UNKNOWN_OP, "unknown op \"%s\" (%s: %s)", shown,
                       dir == FT_REPLY ? "replies" : "ops", names);
    }
    msg->op = m->op;
    msg->op_name = m->name;

    /* Every field must be one the op defines. */
    for (const cJSON *item = header->child; item; item = item->next) {
        if (strcmp(item->string, "op") == 0 || strcmp(item->string, "size") == 0)
            continue;
        enum field_id id = F_NONE;
        for (int i = 0; i < FIELDS_MAX && m->fields[i].id != F_NONE; i++)
            if (strcmp(fields[m->fields[i].id].key, item->string) == 0)
                id = m->fields[i].id;
        if (id == F_NONE) {
            fsroot_show_name(item->string, strlen(item->string), shown, sizeof shown);
            list_fields(m, names, sizeof names);
            return ft_fail(e, FT_E_UNKNOWN_FIELD, "%s has no field \"%s\" (its fields: %s)",
                           m->name, shown, names);
        }
        if (take_field(m, id, item, json, len, msg, e) < 0)
            return -1;
    }
    for (int i = 0; i < FIELDS_MAX && m->fields[i].id != F_NONE; i++)
        if (m->fields[i].required &&
            !cJSON_GetObjectItemCaseSensitive(header, fields[m->fields[i].id].key))
            return ft_fail(e, FT_E_BAD_FIELD, "%s needs the field \"%s\"", m->name,
                           fields[m->fields[i].id].key);

    switch (m->body) {
    case B_NONE:
        if (body_size != 0)
            return ft_fail(e, FT_E_BAD_FIELD, "%s has no body (its size must be 0, not %" PRIu64 ")",
                           m->name, body_size);
        break;
    case B_SOME:
        if (body_size == 0)
            return ft_fail(e, FT_E_BAD_FIELD, "%s needs a body (size 0 says it is empty)",
                           m->name);
        break;
    case B_ANY:
    case B_FILE:
        break;
    }
    return check_together(m, msg, e);
}

/* ---- writing ----------------------------------------------------------- */

cJSON *ft_header(enum ft_op op)
{
    cJSON *header = cJSON_CreateObject();

    if (header && !cJSON_AddStringToObject(header, "op", ft_op_name(op))) {
        cJSON_Delete(header);
        return NULL;
    }
    return header;
}

int ft_send(int fd, cJSON *header, const void *body, uint64_t body_len, int more,
            char *err, size_t errlen)
{
    if (!header) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = frame_send(fd, &frame_stage5, header, body, body_len, more, err, errlen);
    cJSON_Delete(header);
    return rc;
}

int ft_send_error(int fd, const struct ft_error *e, char *err, size_t errlen)
{
    cJSON *header = ft_header(FT_ERROR);

    if (header && (!cJSON_AddStringToObject(header, "code", e->code) ||
                   !cJSON_AddStringToObject(header, "message", e->message))) {
        cJSON_Delete(header);
        header = NULL;
    }
    return ft_send(fd, header, NULL, 0, 0, err, errlen);
}
