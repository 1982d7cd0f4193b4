/*
 * pvemu reference integer workload.
 *
 * One "round" does three small integer kernels and folds their results into a
 * running 32-bit hash:
 *
 *   1. sieve of Eratosthenes over an 8 KiB byte array (numbers 0..8191, the
 *      upper limit shortened by 0..63 depending on the round so that no two
 *      consecutive rounds are alike);
 *   2. bitwise (table-less) CRC-32, IEEE polynomial 0xEDB88320, over 4 KiB of
 *      pseudo-random bytes;
 *   3. bubble sort of 256 unsigned 32-bit words of pseudo-random data.
 *
 * The pseudo-random data of a round is seeded from the hash so far, so every
 * round depends on all earlier ones.  Only 32-bit integer arithmetic is used
 * (no 64-bit types, no floating point, no library calls), so the freestanding
 * i386 and x86-64 guest images and the native host program all compute the
 * same checksum.
 *
 * Builds:
 *   - guest image (see Makefile): gcc -m32/-m64 -O2 -ffreestanding ... together
 *     with entry.S (the header + entry stub) and workload.ld, then
 *     objcopy -O binary.  The stub calls workload(rounds) and executes HLT with
 *     the checksum in EAX.
 *   - native host program: gcc -O2 -DNATIVE workload.c -o workload_native.
 */

typedef unsigned int u32;
typedef unsigned char u8;

#define SIEVE_BYTES 8192
#define CRC_BYTES   4096
#define SORT_WORDS  256

static u8  sieve_buf[SIEVE_BYTES];
static u8  crc_buf[CRC_BYTES];
static u32 sort_buf[SORT_WORDS];

static u32 rotl32(u32 x, u32 r)
{
    return (x << r) | (x >> (32 - r));
}

/* Fold one value into the hash (a murmur3-style step). */
static u32 mix(u32 h, u32 v)
{
    v *= 0xCC9E2D51u;
    v = rotl32(v, 15);
    v *= 0x1B873593u;
    h ^= v;
    h = rotl32(h, 13);
    return h * 5u + 0xE6546B64u;
}

static u32 xorshift32(u32 *state)
{
    u32 x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Sieve over [0, limit); returns a digest of the primes found. */
static u32 sieve(u32 limit)
{
    u32 i, j, count = 0, digest = 0;

    for (i = 0; i < limit; i++)
        sieve_buf[i] = 1;
    sieve_buf[0] = 0;
    sieve_buf[1] = 0;
    for (i = 2; i * i < limit; i++) {
        if (sieve_buf[i]) {
            for (j = i * i; j < limit; j += i)
                sieve_buf[j] = 0;
        }
    }
    for (i = 0; i < limit; i++) {
        if (sieve_buf[i]) {
            count++;
            digest = digest * 31u + i;
        }
    }
    return digest ^ (count << 16) ^ count;
}

/* Reflected CRC-32 (as in zlib/PNG/Ethernet), one bit at a time. */
static u32 crc32_bitwise(const u8 *p, u32 n)
{
    u32 crc = 0xFFFFFFFFu;
    u32 i, k;

    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static u32 crc_round(u32 seed)
{
    u32 i, s = seed;

    for (i = 0; i < CRC_BYTES; i += 4) {
        u32 x = xorshift32(&s);
        crc_buf[i]     = (u8)x;
        crc_buf[i + 1] = (u8)(x >> 8);
        crc_buf[i + 2] = (u8)(x >> 16);
        crc_buf[i + 3] = (u8)(x >> 24);
    }
    return crc32_bitwise(crc_buf, CRC_BYTES);
}

static u32 sort_round(u32 seed)
{
    u32 i, n, swapped, s = seed, digest = 0;

    for (i = 0; i < SORT_WORDS; i++)
        sort_buf[i] = xorshift32(&s);
    /* Classic bubble sort with early exit; each pass sinks the largest. */
    for (n = SORT_WORDS; n > 1; n--) {
        swapped = 0;
        for (i = 1; i < n; i++) {
            u32 a = sort_buf[i - 1], b = sort_buf[i];
            if (a > b) {
                sort_buf[i - 1] = b;
                sort_buf[i] = a;
                swapped = 1;
            }
        }
        if (!swapped)
            break;
    }
    for (i = 0; i < SORT_WORDS; i++)
        digest = mix(digest, sort_buf[i] + i);
    return digest;
}

/* The whole workload: `rounds` rounds folded into one 32-bit checksum. */
u32 workload(u32 rounds)
{
    u32 r, h = 0x2545F491u;

    for (r = 0; r < rounds; r++) {
        u32 seed = h ^ (r * 0x9E3779B9u);
        if (seed == 0)
            seed = 0x6A09E667u;         /* xorshift must not start at 0 */
        h = mix(h, sieve(SIEVE_BYTES - (seed & 63u)));
        h = mix(h, crc_round(seed));
        h = mix(h, sort_round(seed ^ 0x5BE0CD19u));
    }
    return mix(h, rounds);
}

#ifdef NATIVE
/*
 * Native host program.
 *
 *   workload_native R [R ...]        print "R 0xCHECKSUM" for each R
 *   workload_native -t REPEAT R      run R rounds REPEAT times and print
 *                                    "R 0xCHECKSUM SECONDS" for each run
 *   workload_native --selftest       check the kernels against known values
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int selftest(void)
{
    static const char msg[] = "123456789";
    u32 i, crc = crc32_bitwise((const u8 *)msg, 9);
    int bad = 0;

    if (crc != 0xCBF43926u) {
        fprintf(stderr, "crc32 check value wrong: %08x\n", crc);
        bad = 1;
    }
    sieve(SIEVE_BYTES);
    {
        u32 count = 0;
        for (i = 0; i < SIEVE_BYTES; i++)
            count += sieve_buf[i];
        if (count != 1028) {    /* pi(8192) = 1028 */
            fprintf(stderr, "sieve count wrong: %u\n", count);
            bad = 1;
        }
    }
    sort_round(12345);
    for (i = 1; i < SORT_WORDS; i++) {
        if (sort_buf[i - 1] > sort_buf[i]) {
            fprintf(stderr, "sort output not sorted at %u\n", i);
            bad = 1;
            break;
        }
    }
    puts(bad ? "selftest FAILED" : "selftest ok");
    return bad;
}

int main(int argc, char **argv)
{
    int i;

    if (argc == 2 && strcmp(argv[1], "--selftest") == 0)
        return selftest();
    if (argc == 4 && strcmp(argv[1], "-t") == 0) {
        int repeat = atoi(argv[2]);
        u32 rounds = (u32)strtoul(argv[3], NULL, 0);
        for (i = 0; i < repeat; i++) {
            double t0 = now();
            u32 sum = workload(rounds);
            double t1 = now();
            printf("%u 0x%08x %.9f\n", rounds, sum, t1 - t0);
        }
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROUNDS [ROUNDS...] | -t REPEAT ROUNDS | --selftest\n",
                argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        u32 rounds = (u32)strtoul(argv[i], NULL, 0);
        printf("%u 0x%08x\n", rounds, workload(rounds));
    }
    return 0;
}
#endif
