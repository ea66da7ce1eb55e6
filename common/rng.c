/* rng.c - splitmix64 and its streams (see rng.h). */
#include "rng.h"

uint64_t rng_next(struct rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

unsigned long rng_between(struct rng *rng, unsigned long lo, unsigned long hi)
{
    uint64_t range = (uint64_t)(hi - lo) + 1;
    return lo + (unsigned long)(((rng_next(rng) >> 32) * range) >> 32);
}

void rng_seed_stream(struct rng *rng, uint64_t seed, uint64_t stream)
{
    struct rng mixer = { seed };
    uint64_t from_seed = rng_next(&mixer);
    mixer.state = stream;
    rng->state = from_seed ^ rng_next(&mixer);
}

uint64_t rng_stream_of(const char *name)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}
