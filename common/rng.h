/* rng.h - the lab's seeded generator: the same seed means the same numbers
 * on every machine and libc.
 *
 * splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to
 * choose piece sizes and test data. It is ours rather than libc's rand(), so
 * a seed printed by one tool replays the same cuts anywhere. tools/slicer and
 * tools/grade draw from it; a tool that needs several independent streams
 * (one per connection and direction, one per scenario) seeds each with
 * rng_seed_stream, so drawing from one never moves another.
 *
 * Nothing here prints or exits, and nothing can fail. */
#ifndef NIANBAO_RNG_H
#define NIANBAO_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
    uint64_t state;
};

/* The next 64 random bits. */
uint64_t rng_next(struct rng *rng);

/* A number in LO..HI (HI - LO < 2^32), without the bias of a plain %. */
unsigned long rng_between(struct rng *rng, unsigned long lo, unsigned long hi);

/* Seeds RNG with stream STREAM of SEED: the seed is mixed once, then
 * combined with the mixed stream number, so streams of one seed are
 * unrelated. tools/slicer numbers its streams (connection << 2) | purpose. */
void rng_seed_stream(struct rng *rng, uint64_t seed, uint64_t stream);

/* A stream number for a name (FNV-1a over its bytes): a scenario's stream
 * stays the same when other scenarios are added, removed or skipped. */
uint64_t rng_stream_of(const char *name);

#endif
