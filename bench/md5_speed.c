/* bench/md5_speed.c - how long MD5 takes over BYTES bytes (zeros, 1 MiB at
 * a time, as a server hashes output while it arrives), with libmd and with
 * OpenSSL's libcrypto, in this run. Prints two lines:
 *   libmd SECONDS          ("libmd -" when built without libmd)
 *   libcrypto SECONDS
 *   sha256 SECONDS         (libcrypto's SHA-256 of the same bytes: stage 5's
 *                          hash, for the arithmetic of its targets)
 * The stage 4 "hash limit" of `make bench` is twice the faster one: the
 * server hashes every byte once and the client once. */
#ifdef HAVE_LIBMD
#include <md5.h>
#endif
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK (1 << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long long bytes = argc == 2 ? strtoull(argv[1], &end, 10) : 0;
    if (argc != 2 || *end != '\0' || bytes == 0) {
        fprintf(stderr, "usage: md5_speed BYTES\n");
        return 2;
    }
    static unsigned char chunk[CHUNK];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    char crypto_hex[2 * EVP_MAX_MD_SIZE + 1] = "";

    /* Neither clock should pay for first touches: the buffer's pages, and
     * libcrypto loading its providers and finding MD5 (tens of ms). */
    memset(chunk, 0, sizeof chunk);
    EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!md5 || !ctx || EVP_DigestInit_ex(ctx, md5, NULL) != 1) {
        fprintf(stderr, "md5_speed: libcrypto has no MD5 here\n");
        return 1;
    }
    double start = now_s();
    for (unsigned long long left = bytes; left > 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        EVP_DigestUpdate(ctx, chunk, n);
        left -= n;
    }
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    double libcrypto_s = now_s() - start;
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md5);
    for (unsigned i = 0; i < digest_len; i++)
        snprintf(crypto_hex + 2 * i, 3, "%02x", digest[i]);

#ifdef HAVE_LIBMD
    char libmd_hex[MD5_DIGEST_STRING_LENGTH];
    start = now_s();
    MD5_CTX md;
    MD5Init(&md);
    for (unsigned long long left = bytes; left > 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        MD5Update(&md, chunk, n);
        left -= n;
    }
    MD5End(&md, libmd_hex);
    double libmd_s = now_s() - start;
    /* The two must agree, or one of the timings is of the wrong work. */
    if (strcmp(libmd_hex, crypto_hex) != 0) {
        fprintf(stderr, "md5_speed: libmd and libcrypto disagree: %s %s\n", libmd_hex, crypto_hex);
        return 1;
    }
    printf("libmd %.6f\n", libmd_s);
#else
    printf("libmd -\n");
#endif
    printf("libcrypto %.6f\n", libcrypto_s);

    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx = EVP_MD_CTX_new();
    if (!sha256 || !ctx || EVP_DigestInit_ex(ctx, sha256, NULL) != 1) {
        fprintf(stderr, "md5_speed: libcrypto has no SHA-256 here\n");
        return 1;
    }
    start = now_s();
    for (unsigned long long left = bytes; left > 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        EVP_DigestUpdate(ctx, chunk, n);
        left -= n;
    }
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    printf("sha256 %.6f\n", now_s() - start);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(sha256);
    return 0;
}
