/*
 * Common definitions of the pvemu benchmark suite (guests/bench, README.md).
 *
 * Every program defines `u32 workload(u32 rounds)`: R rounds of its kernel
 * folded into one 32-bit checksum.  Only 32-bit unsigned arithmetic is used in
 * anything that reaches the checksum (no pointer values, no 64-bit division,
 * no floating point), so the i386 image, the x86-64 image and the native
 * program compute the same value.  Guest images are linked with the
 * reference workload's entry stub (guests/workload/entry.S) and rt.c.
 */
#ifndef PVEMU_BENCH_H
#define PVEMU_BENCH_H

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long usize;

#define NOINLINE __attribute__((noinline))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

u32 workload(u32 rounds);

static inline u32 rotl32(u32 x, u32 r)
{
    return (x << r) | (x >> ((32 - r) & 31));
}

static inline u32 rotr32(u32 x, u32 r)
{
    return (x >> r) | (x << ((32 - r) & 31));
}

/* Fold one value into a hash (a murmur3-style step). */
static inline u32 mix(u32 h, u32 v)
{
    v *= 0xCC9E2D51u;
    v = rotl32(v, 15);
    v *= 0x1B873593u;
    h ^= v;
    h = rotl32(h, 13);
    return h * 5u + 0xE6546B64u;
}

static inline u32 xorshift32(u32 *state)
{
    u32 x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* A nonzero xorshift seed for round r of a run whose hash so far is h. */
static inline u32 round_seed(u32 h, u32 r)
{
    u32 s = h ^ (r * 0x9E3779B9u);
    return s ? s : 0x6A09E667u;
}

#endif
