/* digest.c - MD5 and SHA-256 through libcrypto's EVP interface (see digest.h). */
#include "digest.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

static const EVP_MD *digest_md(enum digest_kind kind)
{
    switch (kind) {
    case DIGEST_MD5: return EVP_md5();
    case DIGEST_SHA256: return EVP_sha256();
    case DIGEST_NONE: break;
    }
    return NULL;
}

int digest_init(struct digest *d, enum digest_kind kind)
{
    const EVP_MD *md = digest_md(kind);

    d->kind = kind;
    d->ctx = NULL;
    if (!md) {
        errno = EINVAL;
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        errno = ENOMEM;
        return -1;
    }
    d->ctx = ctx;
    return 0;
}

void digest_update(struct digest *d, const void *bytes, size_t len)
{
    if (d->ctx && len > 0)
        EVP_DigestUpdate(d->ctx, bytes, len);
}

void digest_final_hex(struct digest *d, char hex[DIGEST_HEX_MAX])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    hex[0] = '\0';
    if (!d->ctx)
        return;
    if (EVP_DigestFinal_ex(d->ctx, raw, &len) == 1 && len * 2 < DIGEST_HEX_MAX) {
        for (unsigned int i = 0; i < len; i++) {
            hex[2 * i] = digits[raw[i] >> 4];
            hex[2 * i + 1] = digits[raw[i] & 15];
        }
        hex[2 * len] = '\0';
    }
    digest_free(d);
}

void digest_free(struct digest *d)
{
    EVP_MD_CTX_free(d->ctx);
    d->ctx = NULL;
}

size_t digest_hex_len(enum digest_kind kind)
{
    switch (kind) {
    case DIGEST_MD5: return 32;
    case DIGEST_SHA256: return 64;
    case DIGEST_NONE: break;
    }
    return 0;
}

int digest_is_hex(enum digest_kind kind, const char *text)
{
    size_t want = digest_hex_len(kind);
    return want > 0 && strlen(text) == want &&
           strspn(text, "0123456789abcdefABCDEF") == want;
}
